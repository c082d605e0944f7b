#!/usr/bin/env bats
# build.bats — the build's own promises: rooms of lib/ include only the rooms
# below them, programs link only the libraries they use, a missing package is
# named, and a second build does nothing.

load helpers

@test "lib/ rooms include only the rooms below them; a room reaching up is refused" {
	run "$IOTFLOW_ROOT/scripts/check-rooms.sh"
	assert_success
	assert_output ''
	# A copy of lib/ where the database layer reaches up into the CLI and a
	# room-less include: both are named.
	local t=$BATS_TEST_TMPDIR/tree
	mkdir -p "$t"
	cp -R "$IOTFLOW_ROOT/lib" "$t/lib"
	echo '#include "cli/cli.h"' >> "$t/lib/pg/db.c"
	echo '#include "error.h"' >> "$t/lib/cache/cache.c"
	run "$IOTFLOW_ROOT/scripts/check-rooms.sh" "$t"
	assert_failure
	assert_output --partial 'lib/pg/db.c includes "cli/cli.h": pg/ may include only base pg'
	assert_output --partial 'lib/cache/cache.c includes "error.h": name its room'
}

@test "programs link only the libraries they use" {
	# What each program must link beyond the core (libpq, jansson): iot-httpd
	# serves HTTP (libmicrohttpd), takes systemd's sockets (libsystemd) and
	# publishes commands (libmosquitto); iot-device publishes commands and
	# configs (libmosquitto); iot-mqtt-listen is a broker client (libmosquitto)
	# that tells systemd it is ready (libsystemd) and serves its /metrics
	# (libmicrohttpd). Every other pairing is refused.
	local -A must=([iot-httpd]="libmicrohttpd libsystemd libmosquitto" [iot-device]="libmosquitto"
		[iot-mqtt-listen]="libmosquitto libsystemd libmicrohttpd")
	local p needed lib
	for p in iot-migrate iot-user iot-device iot-ingest iot-httpd iot-query iot-mqtt-listen iot-chart; do
		needed=$(readelf -d "$IOTFLOW_ROOT/bin/$p" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
		[[ $needed == *libpq* && $needed == *libjansson* ]] || { echo "$p: $needed"; false; }
		for lib in libmosquitto libmicrohttpd libsystemd; do
			if [[ " ${must[$p]:-} " == *" $lib "* ]]; then
				[[ $needed == *$lib* ]] || { echo "$p does not link $lib: $needed"; false; }
			else
				[[ $needed != *$lib* ]] || { echo "$p links $lib, which it does not use"; false; }
			fi
		done
	done
}

@test "a missing package is named before anything compiles" {
	local fake=$BATS_TEST_TMPDIR/bin
	mkdir -p "$fake"
	# A pkg-config that knows every package but libmicrohttpd.
	cat > "$fake/pkg-config" <<-'SH'
		#!/bin/sh
		for a; do [ "$a" = libmicrohttpd ] && exit 1; done
		exec /usr/bin/pkg-config "$@"
	SH
	chmod +x "$fake/pkg-config"
	run make -C "$IOTFLOW_ROOT" --no-print-directory PKG_CONFIG="$fake/pkg-config" all
	assert_failure
	assert_output --partial 'pkg-config cannot find: libmicrohttpd'
	refute_output --partial 'undefined reference'
}

@test "a second build rebuilds nothing, with or without WERROR (make run after make check)" {
	make -C "$IOTFLOW_ROOT" -s all test-progs WERROR=1
	run make -C "$IOTFLOW_ROOT" --no-print-directory all test-progs
	assert_success
	refute_output --regexp '(^|[[:space:]])(cc|ar) '
	run make -C "$IOTFLOW_ROOT" --no-print-directory all test-progs WERROR=1
	refute_output --regexp '(^|[[:space:]])(cc|ar) '
}

@test "the library exports only iot_ names; what rooms share internally is iot__" {
	local lib syms
	for lib in libiotflow.a libiotflow-cli.a; do
		syms=$(nm -g --defined-only "$IOTFLOW_ROOT/build/rel/$lib" | awk 'NF == 3 { print $3 }')
		[[ -n $syms ]]
		run grep -v '^iot_' <<<"$syms"
		assert_output ''
	done
	# Internal (iot__) declarations live in headers only their own room includes
	# (and benchmarks, which run the library's own SQL in psql as their anchor,
	# and the unit tests under tests/unit, which test a room's insides).
	local h room inc bad=
	for h in $(grep -lE '\biot__[a-z0-9_]+' "$IOTFLOW_ROOT"/lib/*/*.h); do
		room=$(basename "$(dirname "$h")")
		inc="$room/$(basename "$h")"
		for f in $(grep -rlF "#include \"$inc\"" "$IOTFLOW_ROOT/lib" "$IOTFLOW_ROOT/cmd" "$IOTFLOW_ROOT/tests" 2>/dev/null); do
			[[ $f == "$IOTFLOW_ROOT/lib/$room/"* || $f == "$IOTFLOW_ROOT/tests/unit/"* ]] ||
				bad+=" $inc<-${f#"$IOTFLOW_ROOT"/}"
		done
	done
	assert_equal "$bad" ""
}

@test "a build after one of the other flavour relinks the programs (that flavour's archive may be older)" {
	cd "$IOTFLOW_ROOT"
	local stamp=build/.link-flavour ref=$BATS_TEST_TMPDIR/ref
	[[ -f $stamp ]]
	cp -p "$stamp" "$ref"
	# What a SANITIZE=1 build leaves behind, newer than every binary.
	echo san >"$stamp"
	run make bin/iot-user
	assert_success
	assert_output --regexp '-o bin/iot-user '
	assert_equal "$(cat "$stamp")" "$(cat "$ref")"
	run make bin/iot-user
	assert_success
	refute_output --regexp '-o bin/iot-user '
	# As it was, so that the other programs are not relinked for nothing.
	cp -p "$ref" "$stamp"
}
