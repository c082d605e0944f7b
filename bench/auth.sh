#!/usr/bin/env bash
# auth.sh — measure the cost of one device-key check on each path (in-process
# cache, Redis, PostgreSQL) against a throwaway stack. Prints NDJSON; asserts
# nothing. Usage: bench/auth.sh [LOOKUPS]   (run `make` first)
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
bin=$state/auth_bench
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/lib" $(pkg-config --cflags libpq hiredis jansson libsodium) \
	-o "$bin" "$root/bench/auth_bench.c" "$root/build/rel/libiotflow.a" \
	$(pkg-config --libs libpq hiredis libmosquitto jansson libsodium libmicrohttpd libsystemd) -lm -pthread
echo 'bench-password' | "$root/bin/iot-user" add bench >/dev/null
"$root/bin/iot-device" add bench-1 --owner bench | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' | "$bin" "$n"
