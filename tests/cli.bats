#!/usr/bin/env bats
# cli.bats — what every program shares on its command line: one shape for a
# mistaken option (the line getopt would print, then the hint, exit 2),
# whichever program, and wherever the option stands (after a subcommand too).
# Nothing here reaches a server: a mistake is refused before any connection.

# shellcheck disable=SC2154 # $output, $lines, $stderr and $status are set by bats' run
load helpers

setup() {
	# Were a mistake let through, the program would fail fast here, not hang.
	export PGHOST=$BATS_TEST_TMPDIR/no-server PGCONNECT_TIMEOUT=1 IOTFLOW_REDIS_URL=
}

# PROGRAM | ARGUMENTS | the first line of stderr, after "PROGRAM: "
mistakes() {
	local p
	for p in iot-migrate iot-user iot-device iot-ingest; do
		cat <<-EOF
			$p|--bogus|unrecognized option '--bogus'
			$p|--bogus=1|unrecognized option '--bogus=1'
			$p|-z|invalid option -- 'z'
			$p|-qz|invalid option -- 'z'
			$p|-zq|invalid option -- 'z'
			$p|--db|option '--db' requires an argument
			$p|-d|option requires an argument -- 'd'
			$p|--help=yes|option '--help' doesn't allow an argument
			$p|--he=yes|option '--help' doesn't allow an argument
		EOF
	done
	cat <<-EOF
		iot-migrate|up --dry-run=1|option '--dry-run' doesn't allow an argument
		iot-migrate|up --ahead|option '--ahead' requires an argument
		iot-user|token create alice ci --bogus|unrecognized option '--bogus'
		iot-user|token create alice ci --expires|option '--expires' requires an argument
		iot-user|add alice --admin=1|option '--admin' doesn't allow an argument
		iot-user|add alice --no|option '--no' is ambiguous; possibilities: '--no-admin' '--no-email' '--no-password'
		iot-device|add x --owner alice --bogus|unrecognized option '--bogus'
		iot-device|add x --owner|option '--owner' requires an argument
		iot-device|list --online=yes|option '--online' doesn't allow an argument
		iot-device|key rotate 1 -g 1h|invalid option -- 'g'
		iot-device|list --s|option '--s' is ambiguous; possibilities: '--status' '--strict' '--summary'
		iot-ingest|--device|option '--device' requires an argument
		iot-ingest|-n -k -x file|invalid option -- 'x'
	EOF
}

@test "cli: every program answers a mistaken option with getopt's line, the hint and exit 2" {
	local prog args want n=0 bad=0
	while IFS='|' read -r prog args want; do
		n=$((n + 1))
		# shellcheck disable=SC2086 # the arguments are split on purpose
		run --separate-stderr "$prog" $args </dev/null
		local expect="$prog: $want"$'\n'"Try '$prog --help' for more information."
		if [[ $status != 2 || $stderr != "$expect" || -n $output ]]; then
			echo "# $prog $args: exit $status, stdout '$output', stderr:" >&3
			printf '#   %s\n' "${stderr_lines[@]}" >&3
			bad=$((bad + 1))
		fi
	done < <(mistakes)
	((n == 49))
	((bad == 0))
}

