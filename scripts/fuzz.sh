#!/bin/sh
# fuzz.sh — build the libFuzzer targets (the telemetry record decoder, and
# iot-httpd's request handling: query strings, routes, content types, body
# records) with AddressSanitizer and UndefinedBehaviorSanitizer and run each
# for a bounded time over its seeds (tests/fuzz/corpus, tests/fuzz/corpus_http).
# Exits non-zero when a fuzzer finds a crash, a leak, undefined behaviour or
# a broken invariant; the input that did it is left in build/fuzz/ as
# crash-*, leak-* or timeout-*.
#
#   make fuzz                      60 seconds per target
#   FUZZ_SECONDS=600 make fuzz     longer
#   FUZZ_JOBS=2 make fuzz          parallel workers (default 1)
#
# Inputs the fuzzer finds interesting go to build/fuzz/corpus, not to the
# seed directory; copy one into tests/fuzz/corpus by hand when it is worth
# keeping (for example the reproducer of a fixed bug).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLANG=${CLANG:-clang}
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
out=build/fuzz

case $seconds in
''|*[!0-9]*) echo "fuzz.sh: fatal: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'" >&2; exit 2 ;;
esac
case $jobs in
''|0|*[!0-9]*) echo "fuzz.sh: fatal: FUZZ_JOBS must be a positive whole number, not '$jobs'" >&2; exit 2 ;;
esac
if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "fuzz.sh: fatal: $CLANG not found (libFuzzer needs clang; install clang)" >&2
	exit 2
fi

mkdir -p "$out/corpus" "$out/corpus_http"
# The targets are built by the Makefile, from the one list of decoder sources.
make --no-print-directory -s CLANG="$CLANG" "$out/fuzz_record" "$out/fuzz_http" >&2

parallel=
if [ "$jobs" -gt 1 ]; then
	parallel="-jobs=$jobs -workers=$jobs" # each worker logs to build/fuzz/fuzz-N.log
fi
# run TARGET CORPUS SEEDS [DICT]: one target for $seconds.
run() {
	echo "fuzz.sh: running $1 for ${seconds}s over $3" >&2
	dict=${4:+-dict=$4}
	status=0
	# From build/fuzz, so libFuzzer's own files (fuzz-N.log) stay out of the tree.
	# shellcheck disable=SC2086 # $parallel and $dict are flag lists
	(cd "$out" && UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		./"$1" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
		$dict -print_final_stats=1 $parallel "$2" "$3") || status=$?
	if [ "$status" -ne 0 ]; then
		echo "fuzz.sh: fatal: $1 failed (exit $status); reproducer(s):" >&2
		ls -1 "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null >&2 || true
		exit 1
	fi
}
run fuzz_record corpus "$root/tests/fuzz/corpus" "$root/tests/fuzz/record.dict"
run fuzz_http corpus_http "$root/tests/fuzz/corpus_http" "$root/tests/fuzz/record.dict"
echo "fuzz.sh: no crash in ${seconds}s per target" >&2
