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

# Run every case "PROGRAM|ARGUMENTS|MESSAGE" on stdin: each must exit 2 with
# nothing on stdout and exactly "PROGRAM: MESSAGE" and the hint on stderr.
# Prints each case that does not (to the TAP stream); fails unless there
# were N cases and none went wrong.
expect_usage_errors() { # N
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
	done
	((n == $1)) || fail "$n cases, expected $1"
	((bad == 0)) || fail "$bad of $n cases went wrong"
}

@test "cli: every program answers a mistaken option with getopt's line, the hint and exit 2" {
	expect_usage_errors 49 < <(mistakes)
}


# PROGRAM | ARGUMENTS | the first line of stderr, after "PROGRAM: "
command_mistakes() {
	cat <<-EOF
		iot-user||missing command (add, list, show, set, disable, enable, passwd, verify, rm, token or enroll)
		iot-user|token|token: missing subcommand (create, list, revoke or check)
		iot-user|token frob|unknown command 'token frob'
		iot-user|frobnicate alice|unknown command 'frobnicate'
		iot-user|list extra|list: expected no arguments
		iot-user|token create alice|token create: expected 2 arguments
		iot-user|list --admin|--admin does not apply to 'list'
		iot-user|token list alice --expires 1d|--expires does not apply to 'token list'
		iot-device||missing command (add, list, show, set, rm, key, config, status or command)
		iot-device|key|key: missing subcommand (rotate, revoke, list or check)
		iot-device|config frob 1|unknown command 'config frob'
		iot-device|key revoke|key revoke: expected 1 to 2 arguments
		iot-device|status a b|status: expected at most 1 argument
		iot-device|config set 1 k|config set: expected 3 arguments
		iot-device|rm 1 --grace 1h|--grace does not apply to 'rm'
		iot-migrate||missing command (up, status, verify, partitions, import-flask, import-telemetry, import-iotdb, compare, retention or rollups)
		iot-migrate|sideways|unknown command 'sideways'
		iot-migrate|up extra|up: expected no arguments
		iot-migrate|--dry-run status|--dry-run does not apply to 'status'
		iot-migrate|--interval day up|--interval does not apply to 'up'
	EOF
}

@test "cli: a mistaken command or operand is said in the same two lines, from the one command table" {
	expect_usage_errors 20 < <(command_mistakes)
}

@test "cli: a key or token in a mistaken argument or option is never echoed in the usage error" {
	local key=iotf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE
	local token=iotu_ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210_-ZyXwV
	local prog args
	while IFS='|' read -r prog args; do
		args=${args//KEY/$key}
		args=${args//TOKEN/$token}
		# shellcheck disable=SC2086 # the arguments split at spaces
		run --separate-stderr "$prog" $args
		assert_equal "$status" 2
		[[ $stderr != *"${key:5}"* && $stderr != *"${token:5}"* ]] || fail "$prog $args: a secret in '$stderr'"
		[[ $stderr == *'(not shown)'* ]] || fail "$prog $args: '$stderr'"
	done <<-EOF
		iot-device|KEY
		iot-device|key KEY
		iot-device|--key=KEY
		iot-device|show --api-key=KEY
		iot-user|token TOKEN
		iot-user|--token=TOKEN
		iot-user|xTOKENx
		iot-ingest|--api-key=KEY
		iot-query|KEY
		iot-chart|TOKEN
		iot-migrate|TOKEN
		iot-httpd|TOKEN
		iot-mqtt-listen|--password=TOKEN
	EOF
}
