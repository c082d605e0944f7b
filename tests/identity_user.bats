#!/usr/bin/env bats
# iot-user against real PostgreSQL: accounts, Argon2id passwords, API tokens.

load helpers

setup_file() {
	stack_setup_file
	migrated_template
	# Cheap Argon2id for the suite; one test raises it to check rehashing.
	export IOTFLOW_PASSWORD_MEM_KIB=8192 IOTFLOW_PASSWORD_OPS=1
}
teardown_file() { stack_teardown_file; }
setup() { fresh_db --migrated; }

# The commands of a man page's EXAMPLES section (lines "$ ..." between .EX/.EE).
man_examples() {
	sed -n '/^\.EX/,/^\.EE/s/^\$ //p' "$1" | sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

@test "iot-user: --help, --version, bad option" {
	run iot-user --help
	assert_success
	assert_line --index 0 'Usage: iot-user [OPTION]... COMMAND [ARG]...'
	run iot-user --version
	assert_success
	assert_output --regexp '^iot-user \(IoTFlow\) [0-9.]+$'
	run iot-user --bogus
	assert_failure 2
	assert_output --partial "Try 'iot-user --help'"
	run iot-user frobnicate
	assert_failure 2
	run iot-user list extra
	assert_failure 2
	run iot-user token create alice
	assert_failure 2
	run iot-user list --admin
	assert_failure 2
	assert_output --partial '--admin does not apply'
	run iot-user token create alice ci --expires
	assert_failure 2
	assert_output --partial "option '--expires' requires an argument"
	run iot-user -x list
	assert_failure 2
	assert_output --partial "invalid option -- 'x'"
}

@test "iot-user: every SYNOPSIS line of the man page is in --help" {
	run iot-user --help
	local help
	help=$(tr -s ' \n' '  ' <<<"$output")
	while read -r cmd; do
		[[ $help == *"$cmd"* ]] || fail "not in --help: $cmd"
	done < <(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$IOTFLOW_ROOT/man/iot-user.1" |
		grep '^\[' | sed -e 's/\\f[BIR]//g' -e 's/\\-/-/g' -e 's/^\[OPTION\]\.\.\. //')
}

@test "iot-user: the man page EXAMPLES run" {
	cd "$BATS_TEST_TMPDIR"
	run bash -euo pipefail -c "$(man_examples "$IOTFLOW_ROOT/man/iot-user.1")"
	assert_success
	run psql -XAtc "select username, is_admin, email from users order by 1"
	assert_output 'alice|t|alice@example.org'
	run psql -XAtc "select count(*) from user_tokens where revoked_at is not null"
	assert_output 1
}

@test "iot-user: add, show, list, set round trip" {
	run iot-user add --no-password bob --email bob@example.com
	assert_success
	assert_output --partial '"username":"bob"'
	assert_output --partial '"has_password":false'
	run iot-user show bob
	assert_success
	assert_output --partial '"email":"bob@example.com"'
	run iot-user set bob --admin --inactive --no-email
	assert_success
	assert_output --partial '"is_admin":true'
	assert_output --partial '"is_active":false'
	assert_output --partial '"email":null'
	run iot-user list --format csv
	assert_line --index 0 'id,username,email,is_admin,is_active,devices,tokens,created_at,last_login'
	assert_line --index 1 --regexp '^[0-9]+,bob,,true,false,0,0,'
	run iot-user show nobody
	assert_failure 3
	assert_output --partial "unknown user 'nobody'"
}

@test "iot-user: password from stdin, verify, passwd, wrong password" {
	run bash -c "echo 'first password' | iot-user add carol"
	assert_success
	run bash -c "echo 'first password' | iot-user verify carol"
	assert_success
	assert_output --partial '"ok":true'
	run bash -c "echo 'not the password' | iot-user verify carol"
	assert_failure 4
	assert_output --partial 'invalid username or password'
	run bash -c "echo 'second password' | iot-user passwd carol"
	assert_success
	run bash -c "echo 'first password' | iot-user verify carol"
	assert_failure 4
	run bash -c "echo 'second password' | iot-user verify carol"
	assert_success
	run bash -c "echo 'second password' | iot-user verify nobody"
	assert_failure 4
	iot-user set carol --inactive
	run bash -c "echo 'second password' | iot-user verify carol"
	assert_failure 4
	run psql -XAtc "select password_hash like '\$argon2id\$%' and last_login is not null from users where username = 'carol'"
	assert_output t
}

@test "iot-user: a hash made with other cost settings is replaced at the next verify" {
	echo 'rehash me please' | IOTFLOW_PASSWORD_MEM_KIB=8192 iot-user add dave
	run psql -XAtc "select password_hash like '%m=8192,%' from users where username = 'dave'"
	assert_output t
	run bash -c "echo 'rehash me please' | IOTFLOW_PASSWORD_MEM_KIB=16384 iot-user verify dave"
	assert_success
	assert_output --partial '"rehashed":true'
	run psql -XAtc "select password_hash like '%m=16384,%' from users where username = 'dave'"
	assert_output t
	run bash -c "echo 'rehash me please' | IOTFLOW_PASSWORD_MEM_KIB=16384 iot-user verify dave"
	assert_output --partial '"rehashed":false'
}

@test "iot-user: bad input is refused with a clear error and changes nothing" {
	run bash -c "echo 'good password' | iot-user add 'bad name'"
	assert_failure 2
	assert_output --partial 'username:'
	run bash -c "echo 'good password' | iot-user add $(printf 'u%.0s' {1..65})"
	assert_failure 2
	run bash -c "echo 'good password' | iot-user add eve --email not-an-email"
	assert_failure 2
	assert_output --partial 'email:'
	run bash -c "echo 'good password' | iot-user add eve --email $'a\xff@b.c'"
	assert_failure 2
	assert_output --partial 'invalid UTF-8'
	run bash -c "echo short | iot-user add eve"
	assert_failure 2
	assert_output --partial 'password: shorter than 8'
	run bash -c "iot-user add eve </dev/null"
	assert_failure 2
	assert_output --partial 'no password'
	run psql -XAtc "select count(*) from users"
	assert_output 0
	echo 'good password' | iot-user add eve --email eve@example.com
	run bash -c "echo 'good password' | iot-user add eve"
	assert_failure 1
	assert_output --partial 'already exists'
	run bash -c "echo 'good password' | iot-user add eve2 --email eve@example.com"
	assert_failure 1
	run psql -XAtc "select count(*) from users"
	assert_output 1
}

@test "iot-user: rm refuses a user who owns devices" {
	iot-user add --no-password frank
	iot-device add f1 --owner frank >/dev/null
	run iot-user rm frank
	assert_failure 1
	assert_output --partial 'still owns devices'
	iot-device rm frank/f1
	run iot-user rm frank
	assert_success
	assert_output --partial '"removed":true'
	run iot-user rm frank
	assert_failure 3
}

@test "iot-user: tokens are shown once, checked, counted and revoked" {
	iot-user add --no-password --admin gina
	run iot-user token create gina laptop --expires 1d
	assert_success
	local token
	token=$(jq -r .token <<<"$output")
	[[ $token =~ ^iotu_[A-Za-z0-9_-]{43}$ ]]
	run iot-user token create gina laptop
	assert_failure 1
	assert_output --partial "already has a token named 'laptop'"
	run bash -c "printf '%s\n%s\n' '$token' 'iotu_wrong' | iot-user token check"
	assert_failure 4
	assert_line --index 0 --regexp '^\{"line":1,"valid":true,"user_id":[0-9]+,"is_admin":true\}$'
	assert_line --index 1 '{"line":2,"valid":false,"error":"invalid API token"}'
	run iot-user token list gina
	assert_success
	assert_output --partial '"state":"active"'
	assert_output --partial '"usage_count":1'
	refute_output --partial "$token"
	run iot-user token revoke gina laptop
	assert_success
	assert_output --partial '"state":"revoked"'
	run bash -c "echo '$token' | iot-user token check"
	assert_failure 4
	run iot-user token revoke gina nope
	assert_failure 3
	run iot-user token list nobody
	assert_failure 3
}

@test "iot-user: enroll list and revoke of a user who does not exist exit 3 and say so" {
	iot-user add hana --no-password >/dev/null
	run iot-user enroll list hana
	assert_success
	assert_output ''
	run --separate-stderr iot-user enroll list nobody
	assert_failure 3
	[[ $stderr == *"unknown user 'nobody'"* ]]
	run --separate-stderr iot-user enroll revoke nobody
	assert_failure 3
	[[ $stderr == *"unknown user 'nobody'"* ]]
	run --separate-stderr iot-user enroll revoke hana
	assert_failure 3
	[[ $stderr == *"user 'hana' has no live enrollment code"* ]]
}

@test "iot-user: a disabled user's tokens are refused at once" {
	iot-user add --no-password hank
	token=$(iot-user token create hank t1 | jq -r .token)
	run bash -c "echo '$token' | iot-user token check"
	assert_success
	run iot-user disable hank
	assert_success
	assert_output --partial '"is_active":false'
	run bash -c "echo '$token' | iot-user token check"
	assert_failure 4
	iot-user enable hank
	run bash -c "echo '$token' | iot-user token check"
	assert_success
}

@test "iot-user: no password hash, token or digest in any output" {
	local log=$BATS_TEST_TMPDIR/all.log
	{
		echo 'a secret password' | iot-user add ivy --email ivy@example.com
		iot-user token create ivy one >"$BATS_TEST_TMPDIR/token.json"
		iot-user list; iot-user show ivy; iot-user token list ivy
		iot-user list --format table; iot-user token list ivy --format csv
		echo 'a secret password' | iot-user verify ivy
		echo 'wrong password!' | iot-user verify ivy || true
		jq -r .token "$BATS_TEST_TMPDIR/token.json" | iot-user token check
		iot-user token revoke ivy one
	} >"$log" 2>&1
	local hash digest token
	hash=$(psql -XAtc "select password_hash from users where username = 'ivy'")
	digest=$(psql -XAtc "select encode(token_digest, 'hex') from user_tokens")
	token=$(jq -r .token "$BATS_TEST_TMPDIR/token.json")
	[[ -n $hash && -n $digest && -n $token ]]
	run grep -cF -e "$hash" -e "${hash#*\$*\$*\$}" -e "$digest" -e "$token" -e 'a secret password' "$log"
	assert_output 0
}

@test "iot-user: token check exits 6 when standard input cannot be read" {
	run bash -c "iot-user token check </tmp"
	assert_failure 6
	assert_output --partial 'iot-user: fatal: unable to read standard input: Is a directory'
}

@test "iot-user: --expires is capped at 100 years (exit 2 beyond, nothing created)" {
	iot-user add --no-password kim
	for bad in 999999999999w 5218w 36526d 3155760001; do
		run iot-user token create kim ci --expires "$bad"
		assert_failure 2
		assert_output --partial "invalid --expires '$bad'"
	done
	run psql -XAtc "select count(*) from user_tokens"
	assert_output 0
	run iot-user token create kim ci --expires 36525d
	assert_success
	run psql -XAtc "select expires_at > now() + interval '36524 days' from user_tokens"
	assert_output t
}

@test "iot-user: a revoked token's name can be used again; live names stay unique" {
	iot-user add --no-password lee
	local t1 t2
	t1=$(iot-user token create lee ci | jq -r .token)
	run iot-user token create lee ci
	assert_failure 1
	assert_output --partial "already has a token named 'ci'"
	iot-user token revoke lee ci >/dev/null
	run iot-user token create lee ci
	assert_success
	t2=$(jq -r .token <<<"$output")
	run iot-user token create lee ci
	assert_failure 1
	# revoke names the live one; the old one stays revoked, the new one ends now.
	run bash -c "printf '%s\n%s\n' '$t1' '$t2' | iot-user token check | jq -c .valid"
	assert_output $'false\ntrue'
	run iot-user token revoke lee ci
	assert_success
	assert_equal "$(jq -r .state <<<"$output")" revoked
	run bash -c "echo '$t2' | iot-user token check"
	assert_failure 4
	# Revoking again is no error: it shows the latest revoked token of that name.
	run iot-user token revoke lee ci
	assert_success
	assert_equal "$(jq -r .id <<<"$output")" "$(psql -XAtc "select max(id) from user_tokens")"
	run iot-user token list lee
	assert_equal "$(jq -sc 'map(.state)' <<<"$output")" '["revoked","revoked"]'
}

@test "iot-user: verify does as much work for an unknown or inactive user as for a wrong password" {
	# A real cost, so that the Argon2id work dominates. Measured as the
	# process's own CPU time, which other work on the machine does not
	# stretch the way it stretches wall-clock time.
	export IOTFLOW_PASSWORD_MEM_KIB=131072 IOTFLOW_PASSWORD_OPS=3
	echo 'the right password' | iot-user add mia
	iot-user add --no-password nopw
	echo 'the right password' | iot-user add gone
	iot-user disable gone >/dev/null
	ms() { # USER: CPU milliseconds (user + system) of the cheapest of 3 failed verifies
		local best=999999 i t
		for i in 1 2 3; do
			echo 'a wrong password' | /usr/bin/time -f '%U %S' -o "$BATS_TEST_TMPDIR/cpu" \
				iot-user verify "$1" >/dev/null 2>&1 && return 1
			t=$(awk 'END { printf "%d", ($1 + $2) * 1000 }' "$BATS_TEST_TMPDIR/cpu") # the last line: time notes a failing exit above it
			((t < best)) && best=$t
		done
		echo "$best"
	}
	local known unknown inactive nohash
	known=$(ms mia)
	unknown=$(ms nobody)
	inactive=$(ms gone)
	nohash=$(ms nopw)
	echo "# known $known ms, unknown $unknown, inactive $inactive, no password $nohash" >&3
	# The Argon2id work is most of a verify, whether or not the user exists.
	((known >= 60))
	for t in "$unknown" "$inactive" "$nohash"; do
		((t * 10 >= known * 6 && t * 10 <= known * 15)) || fail "timing differs: $t ms vs $known ms"
	done
}

@test "iot-user: a password line over 1024 bytes or with a NUL byte is refused, not cut short" {
	run bash -c "head -c 1025 /dev/zero | tr '\\0' a | iot-user add ned"
	assert_failure 2
	assert_output --partial 'password: longer than 1024 bytes'
	run bash -c "printf 'good password\\0tail\\n' | iot-user add ned"
	assert_failure 2
	assert_output --partial 'password: contains a NUL byte'
	run bash -c "printf 'good password\\0\\n' | iot-user add ned"
	assert_failure 2
	run bash -c "iot-user add ned </tmp"
	assert_failure 6
	assert_output --partial 'unable to read the password'
	run psql -XAtc "select count(*) from users"
	assert_output 0
	# Exactly 1024 bytes (with CRLF) is fine, and it is the whole password.
	local pw
	pw=$(head -c 1024 /dev/zero | tr '\0' b)
	run bash -c "printf '%s\\r\\n' '$pw' | iot-user add ned"
	assert_success
	run bash -c "echo '$pw' | iot-user verify ned"
	assert_success
	run bash -c "echo '${pw:0:1023}' | iot-user verify ned"
	assert_failure 4
}

# on_tty SIGNAL COMMAND...: run COMMAND on a new terminal, wait for its
# password prompt, send SIGNAL's key (INT: Ctrl-C, QUIT: Ctrl-\) or signal
# (TERM, HUP); print the exit status, whether echo was off at the prompt
# and whether it is on afterwards.
on_tty() {
	python3 - "$@" <<-'PY'
		import fcntl, os, pty, signal, subprocess, sys, termios, time
		sig, cmd = sys.argv[1], sys.argv[2:]
		m, s = pty.openpty()
		def ctty():
		    os.setsid()
		    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
		p = subprocess.Popen(cmd, stdin=s, stdout=s, stderr=s, preexec_fn=ctty)
		out = b""
		end = time.time() + 10
		while b"Password: " not in out and time.time() < end:
		    out += os.read(m, 1024)
		time.sleep(0.2)
		off = not termios.tcgetattr(s)[3] & termios.ECHO
		if sig in ("INT", "QUIT"):
		    os.write(m, b"\x03" if sig == "INT" else b"\x1c")
		else:
		    p.send_signal(getattr(signal, "SIG" + sig))
		rc = p.wait(timeout=10)
		on = bool(termios.tcgetattr(s)[3] & termios.ECHO)
		print(rc, "off" if off else "on", "on" if on else "off")
	PY
}

@test "iot-user: a signal at the password prompt gives the terminal its echo back" {
	iot-user add --no-password alice >/dev/null
	local sig
	for sig in INT QUIT TERM HUP; do
		run on_tty "$sig" iot-user passwd alice
		assert_output "-$(kill -l "$sig") off on"
	done
	run on_tty INT iot-user add bob
	assert_output "-2 off on"
	assert_equal "$(psql -XAtc "select count(*) from users where username = 'bob'")" 0
}

@test "iot-user: output to a full device says why and exits 6, in every format" {
	run iot-user add --no-password dora
	assert_success
	for f in ndjson csv table; do
		run --separate-stderr bash -c "iot-user list --format $f > /dev/full"
		assert_failure 6
		assert_equal "$stderr" 'iot-user: fatal: unable to write output: No space left on device'
	done
	run --separate-stderr bash -c "iot-user show dora > /dev/full"
	assert_failure 6
	assert_equal "$stderr" 'iot-user: fatal: unable to write output: No space left on device'
}

@test "secrets shown once: with stdout closed nothing is issued; with the output lost, what was committed is said" {
	iot-user add --no-password erin >/dev/null
	iot-device add e1 --owner erin >/dev/null
	tokens() { psql -XAtc "select count(*) from user_tokens t join users u on u.id = t.user_id where u.username = 'erin'"; }
	keys() { psql -XAtc "select count(*) || ':' || count(*) filter (where is_active) from device_auth a join devices d on d.id = a.device_id where d.name = '$1'"; }
	# Closed: refused before anything changes, exit 6.
	run --separate-stderr bash -c 'iot-user token create erin t1 >&-'
	assert_failure 6
	assert_equal "$stderr" 'iot-user: fatal: standard output is closed, so the new token would be shown nowhere: nothing was done'
	run --separate-stderr bash -c 'iot-user enroll create erin >&-'
	assert_failure 6
	assert_equal "$(tokens)" 0
	assert_equal "$(psql -XAtc "select count(*) from user_enrollment")" 0
	run --separate-stderr bash -c 'iot-device key rotate erin/e1 >&-'
	assert_failure 6
	assert_equal "$stderr" 'iot-device: fatal: standard output is closed, so the new key would be shown nowhere: nothing was done'
	assert_equal "$(keys e1)" '1:1'
	run --separate-stderr bash -c 'iot-device add e2 --owner erin >&-'
	assert_failure 6
	assert_equal "$(psql -XAtc "select count(*) from devices where name = 'e2'")" 0
	# Lost on the way out (a full disk): committed, and the message says what to do.
	run --separate-stderr bash -c 'iot-device key rotate erin/e1 > /dev/full'
	assert_failure 6
	assert_equal "$stderr" 'iot-device: fatal: unable to write output: No space left on device; the rotation is committed and its new key lost: rotate again'
	assert_equal "$(keys e1)" '2:1'
	run --separate-stderr bash -c 'iot-user token create erin t2 > /dev/full'
	assert_failure 6
	assert_equal "$stderr" 'iot-user: fatal: unable to write output: No space left on device; the token is created and lost: revoke it and create another'
	# Any other output to a closed stdout is lost output too, not a success.
	run --separate-stderr bash -c 'iot-user list >&-'
	assert_failure 6
	assert_equal "$stderr" 'iot-user: fatal: unable to write output: Bad file descriptor'
	run --separate-stderr bash -c 'iot-device --help > /dev/full'
	assert_failure 6
	assert_equal "$stderr" 'iot-device: fatal: unable to write output: No space left on device'
}
