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

@test "make install names its own PREFIX's paths in the units, the broker's config and Grafana's provider" {
	local prefix stage etc
	for prefix in /usr /opt/iotflow; do
		stage=$BATS_TEST_TMPDIR/stage${prefix//\//-}
		# install-data: the programs built for another PREFIX would replace bin/'s.
		run make -C "$IOTFLOW_ROOT" --no-print-directory -s install-data DESTDIR="$stage" PREFIX="$prefix"
		assert_success
		etc=$prefix/etc
		[[ $prefix == /usr ]] && etc=/etc
		local units=$prefix/lib/systemd/system n=0 exe
		for exe in $(cat "$stage$units"/*.service | sed -n 's#^ExecStart=\([^ ]*\).*#\1#p'); do
			[[ $exe == "$prefix/bin/iot-"* && -x $IOTFLOW_ROOT/bin/${exe##*/} ]] || fail "$prefix: ExecStart=$exe"
			n=$((n + 1))
		done
		((n == 4)) || fail "$prefix: $n ExecStart lines"
		run grep -l /usr/local "$stage$units"/*
		assert_failure
		run grep -h '^# Settings:' "$stage$units/iot-httpd.service"
		assert_output --partial "$etc/iotflow/iotflow.conf"
		local conf=$prefix/share/iotflow/contrib/mosquitto/iotflow.conf plugin
		plugin=$(sed -n 's/^plugin \(.*\)/\1/p' "$stage$conf")
		[[ $plugin == "$prefix/lib/iotflow/${plugin##*/}" && -f $IOTFLOW_ROOT/bin/${plugin##*/} ]] ||
			fail "$prefix: plugin $plugin"
		run sed -n 's/^plugin_opt_config //p' "$stage$conf"
		assert_output "$etc/iotflow/iotflow.conf"
		local dash
		dash=$(sed -n 's/^ *path: //p' "$stage$prefix/share/iotflow/contrib/grafana/provisioning/dashboards/iotflow.yml")
		[[ $dash == "$prefix/share/iotflow/contrib/grafana/dashboards" && -f $stage$dash/iotflow.json ]] ||
			fail "$prefix: dashboards $dash"
	done
}

@test "the daemons are started again after a failure, but not after a usage or configuration error (exit 2)" {
	local unit
	for unit in iot-httpd iot-mqtt-listen; do
		grep -qx 'Restart=on-failure' "$IOTFLOW_ROOT/systemd/$unit.service"
		grep -qx 'RestartPreventExitStatus=2' "$IOTFLOW_ROOT/systemd/$unit.service"
		# The status they give such an error, as their pages say.
		run timeout 10 "$IOTFLOW_ROOT/bin/$unit" --no-such-option
		assert_failure 2
		run timeout 10 env IOTFLOW_CONFIG=/dev/null IOTFLOW_ONLINE_WINDOW=bogus "$IOTFLOW_ROOT/bin/$unit"
		assert_failure 2
	done
}

@test "every service takes its secrets from /etc/iotflow/environment, read by systemd, not from a file its dynamic user reads, and writes no core file" {
	local unit n=0
	for unit in "$IOTFLOW_ROOT"/systemd/*.service; do
		grep -q '^DynamicUser=yes$' "$unit" || fail "$unit: no DynamicUser"
		grep -qx 'EnvironmentFile=-/etc/iotflow/environment' "$unit" || fail "$unit: no EnvironmentFile"
		grep -qx 'LimitCORE=0' "$unit" || fail "$unit: a core file would hold its secrets"
		n=$((n + 1))
	done
	((n == 4))
	# The variables the units' comments suggest are the programs' own.
	local v
	for v in $(grep -ho 'IOTFLOW_[A-Z_]*' "$IOTFLOW_ROOT"/systemd/*.service | sort -u); do
		grep -q "$v" "$IOTFLOW_ROOT/man/iotflow.7" || fail "$v is no setting of iotflow(7)"
	done
}
