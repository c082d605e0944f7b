#!/usr/bin/env bats
# systemd.bats — the units of systemd/ as `make install` puts them:
# `systemd-analyze verify` finds nothing wrong in any of them (directives,
# dependencies, the programs of ExecStart, the man pages of
# Documentation=), and every service keeps its sandbox: an exposure of at
# most 2.0 by `systemd-analyze security` (1.2 each when this was written).
# The programs themselves under these units: tests/httpd.bats (socket
# activation, inetd mode, --listen) and the daemons' suites.

load helpers

setup_file() {
	command -v systemd-analyze > /dev/null || return 0
	# A staged install; the units point at its programs instead of
	# /usr/local/bin, which is not there on a test machine.
	local stage=$BATS_FILE_TMPDIR/stage units=$BATS_FILE_TMPDIR/units
	make -C "$IOTFLOW_ROOT" --no-print-directory -s install DESTDIR="$stage" > /dev/null
	mkdir -p "$units"
	cp "$stage"/usr/local/lib/systemd/system/* "$units/"
	sed -i "s#/usr/local/bin/#$stage/usr/local/bin/#g" "$units"/*
	export UNITS=$units MANPATH=$stage/usr/local/share/man
}

need_systemd() {
	command -v systemd-analyze > /dev/null || skip "systemd-analyze is not installed (Debian package systemd)"
}

@test "systemd-analyze verify finds nothing wrong in any unit, with the installed programs and man pages" {
	need_systemd
	local units=("$UNITS"/*)
	((${#units[@]} == 7))
	run systemd-analyze verify "${units[@]}"
	assert_success
	assert_output ''
	# It would have said so: a misspelt directive and a missing program.
	cp "$UNITS/iot-httpd.service" "$BATS_TEST_TMPDIR/"
	sed -i -e 's/^ProtectSystem=/ProtectSystm=/' -e 's#^ExecStart=.*#ExecStart=/nonexistent/iot-httpd#' \
		"$BATS_TEST_TMPDIR/iot-httpd.service"
	cp "$UNITS/iot-httpd.socket" "$BATS_TEST_TMPDIR/"
	run systemd-analyze verify "$BATS_TEST_TMPDIR/iot-httpd.service"
	assert_output --partial "Unknown key 'ProtectSystm' in section [Service]"
	assert_output --partial 'Command /nonexistent/iot-httpd is not executable'
}

@test "every service keeps its sandbox: exposure at most 2.0 (systemd-analyze security)" {
	need_systemd
	local unit n=0 level
	for unit in "$UNITS"/*.service; do
		run systemd-analyze security --offline=true --threshold=20 "$unit"
		[[ $status -eq 0 ]] || { echo "$output" | grep -v '^  ✓'; return 1; }
		level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<< "$output")
		[[ -n $level ]] || { echo "$output" | tail -n 3; return 1; }
		awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || { echo "$(basename "$unit"): $level"; return 1; }
		n=$((n + 1))
	done
	((n == 4))
}
