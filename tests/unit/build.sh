#!/bin/sh
# build.sh — build the record decoder's unit test (the Makefile's
# build/unit/test_record: ASan + UBSan), run it over tests/unit/json_malformed,
# and exit non-zero when a test fails or a sanitizer fires.
#   tests/unit/build.sh            sanitized build, run
#   tests/unit/build.sh --bench    optimised build without sanitizers (for ns/record)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if [ "${1:-}" = "--bench" ]; then
	bin=build/unit/test_record_bench
else
	bin=build/unit/test_record
fi
make --no-print-directory -s "$bin" >&2

ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	exec "$bin" tests/unit/json_malformed
