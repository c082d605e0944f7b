#!/usr/bin/env bash
# auth.sh — measure the cost of one device-key check on each path (in-process
# cache, Redis, PostgreSQL) against a throwaway stack. Prints NDJSON; asserts
# nothing; then a fleet's keys (FLEET, default 10,000) checked round after
# round: how many each round found in memory, Redis, PostgreSQL.
# Usage: bench/auth.sh [LOOKUPS]   (run `make all test-progs` first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-200000}
# shellcheck source-path=SCRIPTDIR source=../scripts/stack.sh
source "$root/scripts/stack.sh"
state=$(mktemp -d "$(iot_test_tmpdir)/iotflow-bench.XXXXXX")
trap 'iot_stack_rm "$state"' EXIT
iot_stack_start "$state" --fast >/dev/null
export IOTFLOW_CONFIG=/dev/null IOTFLOW_SQL_DIR=$root/sql
"$root/bin/iot-migrate" up >/dev/null 2>&1
bin=$root/build/tests/auth_bench
[[ -x $bin ]] || { echo "auth.sh: $bin is missing: run 'make test-progs' first" >&2; exit 2; }
echo 'bench-password' | "$root/bin/iot-user" add bench >/dev/null
"$root/bin/iot-device" add bench-1 --owner bench | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' | "$bin" "$n"
# A fleet: FLEET (default 10000) devices' keys, round after round, as a
# server sees them; where each round's checks were answered.
fleet=${FLEET:-10000}
seq "$fleet" | awk '{ printf "{\"name\":\"fleet-%d\"}\n", $1 }' |
	"$root/bin/iot-device" -q add - --owner bench | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' > "$state/fleet.keys"
"$root/build/tests/cache_probe" keys 3 < "$state/fleet.keys" |
	awk -v n="$fleet" '{ printf "{\"path\":\"fleet of %d keys, round %d\",\"memory\":%d,\"redis\":%d,\"database\":%d}\n", n, $2, $4, $6, $8 }'
