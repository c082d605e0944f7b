#!/bin/sh
# check-rooms.sh — lib/ is in rooms, each including only the rooms below it
# (lib/README); cli/ is included only by cmd/, tests and benchmarks.
# Prints every include that breaks the rule and exits 1, else exits 0 quietly.
# Usage: scripts/check-rooms.sh [TREE (default: this one)]
set -eu
cd "${1:-$(dirname "$0")/..}"

# room: the rooms it may include (itself too).
allowed() {
	case $1 in
	base)      echo "base" ;;
	pg)        echo "base pg" ;;
	cache)     echo "base cache" ;;
	auth)      echo "base pg cache auth" ;;
	registry)  echo "base pg cache auth registry" ;;
	telemetry) echo "base pg cache auth registry telemetry" ;;
	query)     echo "base pg cache auth registry telemetry query" ;;
	import)    echo "base pg cache auth registry telemetry import" ;;
	mqtt)      echo "base pg cache auth registry telemetry query mqtt" ;;
	chart)     echo "base pg cache auth registry telemetry query chart" ;;
	http)      echo "base pg cache auth registry telemetry query mqtt chart http" ;;
	cli)       echo "base pg cache auth registry telemetry query import mqtt http chart cli" ;;
	*)         echo "" ;;
	esac
}

bad=0
for dir in lib/*/; do
	room=$(basename "$dir")
	ok=$(allowed "$room")
	if [ -z "$ok" ]; then
		echo "check-rooms: lib/$room/ is not a known room: add it to lib/README and scripts/check-rooms.sh" >&2
		bad=1
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
			case $inc in
			*/*) to=${inc%%/*} ;;
			*) echo "check-rooms: $f includes \"$inc\": name its room (\"room/$inc\")" >&2; bad=1; continue ;;
			esac
			case " $ok " in
			*" $to "*) ;;
			*) echo "check-rooms: $f includes \"$inc\": $room/ may include only $ok" >&2; bad=1 ;;
			esac
		done
	done
done
for f in $(find plugins -name '*.[ch]' 2>/dev/null); do
	if grep -q '#[[:space:]]*include[[:space:]]*"cli/' "$f"; then
		echo "check-rooms: $f includes cli/: the broker plugin links the core library only" >&2
		bad=1
	fi
done
exit "$bad"
