#!/usr/bin/env bash
# auth.sh — measure the cost of one device-key check on each path (in-process
# cache, Redis, PostgreSQL) against a throwaway stack. Prints NDJSON; asserts
# nothing. Usage: bench/auth.sh [LOOKUPS]   (run `make all test-progs` first)
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
