#!/bin/sh
# build.sh — build the record decoder's unit test with AddressSanitizer and
# UndefinedBehaviorSanitizer, run it over tests/unit/json_malformed, and exit
# non-zero when a test fails or a sanitizer fires.
#   tests/unit/build.sh            sanitized build, run
#   tests/unit/build.sh --bench    optimised build without sanitizers (for ns/record)
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
out=build/unit
mkdir -p "$out"

if [ "${1:-}" = "--bench" ]; then
	flags="-O2 -DNDEBUG"
	bin=$out/test_record_bench
else
	flags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	bin=$out/test_record
fi

if ! jansson=$($PKG_CONFIG --cflags --libs jansson); then
	echo "build.sh: fatal: jansson not found by $PKG_CONFIG (install libjansson-dev)" >&2
	exit 2
fi

# shellcheck disable=SC2086 # flag lists are meant to split
$CC $flags -D_GNU_SOURCE -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wvla -Werror -pthread -Ilib \
	-o "$bin" tests/unit/test_record.c \
	lib/record.c lib/record_mosquitto.c lib/record_text.c lib/timestamp.c lib/json_util.c lib/error.c \
	$jansson -lm

ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	exec "$bin" tests/unit/json_malformed
