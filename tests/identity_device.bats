#!/usr/bin/env bats
# iot-device against real PostgreSQL and Redis: provisioning (one and bulk),
# typed configuration, online state, and bad input that changes nothing.

load helpers

setup_file() {
	stack_setup_file
	migrated_template
}
teardown_file() { stack_teardown_file; }
setup() {
	fresh_db --migrated
	redis-cli -p "$IOTFLOW_REDIS_PORT" flushall >/dev/null
	iot-user add --no-password alice >/dev/null
	iot-user add --no-password bob >/dev/null
}

man_examples() {
	sed -n '/^\.EX/,/^\.EE/s/^\$ //p' "$1" | sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

# Rows in the identity tables, to show a refused command changed nothing.
snapshot() {
	psql -XAtc "select (select count(*) from devices), (select count(*) from device_auth),
		(select count(*) from device_configurations),
		(select coalesce(max(updated_at)::text, '') from devices)"
}

@test "iot-device: --help, --version, bad option" {
	run iot-device --help
	assert_success
	assert_line --index 0 'Usage: iot-device [OPTION]... COMMAND [ARG]...'
	run iot-device --version
	assert_success
	assert_output --regexp '^iot-device \(IoTFlow\) [0-9.]+$'
	run iot-device --bogus
	assert_failure 2
	assert_output --partial "Try 'iot-device --help'"
	run iot-device
	assert_failure 2
	assert_output --partial 'missing command'
	run iot-device key
	assert_failure 2
	run iot-device key frob 1
	assert_failure 2
	run iot-device show
	assert_failure 2
	run iot-device rm 1 --grace 1h
	assert_failure 2
	assert_output --partial '--grace does not apply'
	run iot-device add x
	assert_failure 2
	assert_output --partial '--owner is required'
	run iot-device list --online --offline
	assert_failure 2
	run iot-device key rotate 1 --grace forever
	assert_failure 2
	run iot-device list --format xml
	assert_failure 2
}

@test "iot-device: every SYNOPSIS line of the man page is in --help" {
	run iot-device --help
	local help
	help=$(tr -s ' \n' '  ' <<<"$output")
	while read -r cmd; do
		[[ $help == *"$cmd"* ]] || fail "not in --help: $cmd"
	done < <(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$IOTFLOW_ROOT/man/iot-device.1" |
		grep '^\[' | sed -e 's/\\f[BIR]//g' -e 's/\\-/-/g' -e 's/^\[OPTION\]\.\.\. //')
}

@test "iot-device: the man page EXAMPLES run" {
	cd "$BATS_TEST_TMPDIR"
	run bash -euo pipefail -c "$(man_examples "$IOTFLOW_ROOT/man/iot-device.1")"
	assert_success
	assert_output --partial '"valid":true'
	assert_output --partial '"devices":3'
	run psql -XAtc "select name, status, coalesce(firmware_version, '') from devices order by name"
	assert_output $'pump-1|maintenance|1.2.0\nthermo-1|active|'
	run psql -XAtc "select count(*) from device_auth a join devices d on d.id = a.device_id
		where d.name = 'thermo-1' and a.expires_at > now() + interval '50 minutes'"
	assert_output 1
}

@test "iot-device: add, show, set, list round trip" {
	run iot-device add probe --owner alice --type probe --description $'two\nlines' \
		--location 'Kühlraum 3' --firmware 1.0 --hardware rev-b
	assert_success
	local id key
	id=$(jq -r .id <<<"$output")
	key=$(jq -r .api_key <<<"$output")
	[[ $key =~ ^iotf_[A-Za-z0-9_-]{43}$ ]]
	assert_equal "$(jq -r .key_prefix <<<"$output")" "${key:0:13}"
	run iot-device show alice/probe
	assert_success
	assert_equal "$(jq -r '[.id, .name, .owner, .type, .status, .location, .description, .online] | @tsv' <<<"$output")" \
		"$id	probe	alice	probe	active	Kühlraum 3	two\\nlines	false"
	assert_equal "$(jq -r '.keys | length' <<<"$output")" 1
	refute_output --partial "$key"
	run iot-device show "$id"
	assert_success
	run iot-device set "$id" --name probe-2 --location '' --status inactive --owner bob
	assert_success
	assert_equal "$(jq -r '[.name, .owner, .status, .location] | @tsv' <<<"$output")" "probe-2	bob	inactive	"
	run iot-device list --owner bob --status inactive --format csv
	assert_success
	assert_line --index 0 'id,name,owner,type,status,online,last_seen,location,key_prefix'
	assert_line --index 1 "$id,probe-2,bob,probe,inactive,false,,,${key:0:13}"
	run iot-device list --owner alice
	assert_output ''
	run iot-device list --type nothing
	assert_success
	assert_output ''
	run iot-device list --owner nobody
	assert_failure 3
}

@test "iot-device: 1000 devices from NDJSON in one call" {
	local in=$BATS_TEST_TMPDIR/devices.ndjson
	for i in $(seq 1 1000); do
		printf '{"name":"node-%04d","type":"node","location":"rack %d"}\n' "$i" $((i % 10))
	done >"$in"
	local t0=$SECONDS
	run bash -c "iot-device add - --owner alice <'$in' >'$BATS_TEST_TMPDIR/out'"
	assert_success
	echo "# 1000 devices in $((SECONDS - t0)) s" >&3
	run wc -l <"$BATS_TEST_TMPDIR/out"
	assert_output 1000
	run jq -r 'select(.api_key | test("^iotf_[A-Za-z0-9_-]{43}$")) | .api_key' "$BATS_TEST_TMPDIR/out"
	assert_equal "$(sort -u <<<"$output" | wc -l)" 1000
	run jq -s 'map(.line) == [range(1; 1001)]' "$BATS_TEST_TMPDIR/out"
	assert_output true
	run psql -XAtc "select count(*), count(distinct a.key_digest) from devices d join device_auth a on a.device_id = d.id where d.device_type = 'node'"
	assert_output '1000|1000'
	# A key from the middle works.
	run bash -c "jq -r 'select(.line == 500) | .api_key' '$BATS_TEST_TMPDIR/out' | iot-device key check"
	assert_success
	assert_output --partial '"valid":true'
}

@test "iot-device: bad NDJSON lines are reported one by one and change nothing" {
	iot-device add taken --owner alice >/dev/null
	local before
	long=$(printf 'n%.0s' {1..101})
	{
		echo '{"name":"ok-1"}'
		echo '{"name":"taken"}'
		echo 'not json'
		echo '{"name":"x","owner":"nobody"}'
		echo '{"name":"x","colour":"red"}'
		echo "{\"name\":\"$long\"}"
		printf '{"name":"bad\xff"}\n'
		echo ''
		echo '{"name":"ok-1"}'
		echo '{"name":42}'
		echo '{"name":"x","status":"broken"}'
		printf '{"name":"%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' a)"
		echo '{"name":"ok-2","owner":"bob"}'
	} >"$BATS_TEST_TMPDIR/in"
	run bash -c "iot-device add - --owner alice <'$BATS_TEST_TMPDIR/in' 2>'$BATS_TEST_TMPDIR/err'"
	assert_failure 1
	assert_equal "${#lines[@]}" 13
	assert_line --index 0 --regexp '^\{"line":1,"id":[0-9]+,"name":"ok-1","owner":"alice"'
	assert_line --index 1 "{\"line\":2,\"error\":\"owner 'alice' already has a device named 'taken'\"}"
	assert_line --index 2 --partial '{"line":3,"error":"invalid JSON'
	assert_line --index 3 "{\"line\":4,\"error\":\"unknown owner 'nobody'\"}"
	assert_line --index 4 "{\"line\":5,\"error\":\"unknown member 'colour'\"}"
	assert_line --index 5 '{"line":6,"error":"name: longer than 100 characters"}'
	assert_line --index 6 --partial '{"line":7,"error":"invalid JSON'
	assert_line --index 7 '{"line":8,"error":"empty line"}'
	assert_line --index 8 "{\"line\":9,\"error\":\"owner 'alice' already has a device named 'ok-1'\"}"
	assert_line --index 9 '{"line":10,"error":"name: expected a string"}'
	assert_line --index 10 '{"line":11,"error":"status: expected active, inactive or maintenance"}'
	assert_line --index 11 '{"line":12,"error":"line longer than 65536 bytes"}'
	assert_line --index 12 --regexp '^\{"line":13,"id":[0-9]+,"name":"ok-2","owner":"bob"'
	run grep -c 'iot-device: warning: stdin:' "$BATS_TEST_TMPDIR/err"
	assert_output 11
	run psql -XAtc "select string_agg(name, ',' order by name) from devices"
	assert_output 'ok-1,ok-2,taken'
	# --strict stops at the first bad line.
	run bash -c "printf '%s\n' '{\"name\":\"s1\"}' 'bad' '{\"name\":\"s2\"}' | iot-device add - --owner alice --strict 2>/dev/null"
	assert_failure 1
	assert_equal "${#lines[@]}" 2
	run psql -XAtc "select count(*) from devices where name in ('s1', 's2')"
	assert_output 1
}

@test "iot-device: bad single adds and sets get the right exit code and change nothing" {
	iot-device add d1 --owner alice >/dev/null
	local before
	before=$(snapshot)
	run iot-device add d2 --owner nobody
	assert_failure 3
	assert_output --partial "unknown owner 'nobody'"
	run iot-device add d1 --owner alice
	assert_failure 1
	assert_output --partial "already has a device named 'd1'"
	# Moved to an owner who has a device of that name: the name is said.
	iot-user add carol --no-password >/dev/null
	iot-device add d1 --owner carol >/dev/null
	run iot-device set alice/d1 --owner carol
	assert_failure 1
	assert_output --partial "owner 'carol' already has a device named 'd1'"
	iot-device rm carol/d1 >/dev/null
	iot-user rm carol >/dev/null
	run iot-device add "$(printf 'n%.0s' {1..101})" --owner alice
	assert_failure 2
	assert_output --partial 'name: longer than 100 characters'
	run iot-device add d3 --owner alice --location "$(printf 'l%.0s' {1..201})"
	assert_failure 2
	run iot-device add $'bad\xff' --owner alice
	assert_failure 2
	assert_output --partial 'invalid UTF-8'
	run iot-device add $'tab\there' --owner alice
	assert_failure 2
	assert_output --partial 'control characters'
	run iot-device add d4 --owner alice --status broken
	assert_failure 2
	run iot-device add d4 --owner alice --type ''
	assert_failure 2
	run iot-device set alice/d1 --name ''
	assert_failure 2
	run iot-device set alice/nope --status inactive
	assert_failure 3
	run iot-device set 999999 --status inactive
	assert_failure 3
	run iot-device set alice/d1 --owner nobody
	assert_failure 3
	run iot-device show not-a-device
	assert_failure 3
	assert_output --partial "unknown device 'not-a-device'"
	run iot-device show /d1
	assert_failure 2
	run iot-device rm alice/nope
	assert_failure 3
	assert_equal "$(snapshot)" "$before"
}

@test "iot-device: config values are typed and checked against their type" {
	iot-device add cfg --owner alice >/dev/null
	run iot-device config set alice/cfg interval 30 --type integer
	assert_success
	assert_equal "$(jq -c '[.key, .type, .value]' <<<"$output")" '["interval","integer",30]'
	run iot-device config set alice/cfg ratio 0.25 --type float
	assert_equal "$(jq -c .value <<<"$output")" 0.25
	run iot-device config set alice/cfg whole 30 --type float
	assert_output --partial '"value":30.0,'
	run iot-device config set alice/cfg enabled true --type boolean
	assert_equal "$(jq -c .value <<<"$output")" true
	run iot-device config set alice/cfg limits '{ "max": [1, 2.5, "x"] }' --type json
	assert_equal "$(jq -c .value <<<"$output")" '{"max":[1,2.5,"x"]}'
	run iot-device config set alice/cfg label -- '-hello'
	assert_equal "$(jq -c '[.type, .value]' <<<"$output")" '["string","-hello"]'
	# As --help shows it: options may follow the value after --.
	run iot-device --help
	assert_output --partial 'iot-device config set DEVICE KEY -- -5 --type integer'
	run iot-device config set alice/cfg offset -- -5 --type integer
	assert_success
	assert_equal "$(jq -c '[.type, .value]' <<<"$output")" '["integer",-5]'
	run iot-device config set alice/cfg gain -- -0.5 --format csv --type float
	assert_success
	assert_line --index 1 --regexp '^[0-9]+,gain,float,-0.5,'
	run iot-device config set alice/cfg gain -- -0.5 extra --type float
	assert_failure 2
	assert_output --partial 'config set: expected 3 arguments'
	run iot-device config set alice/cfg gain -- -0.5 --grace 1h
	assert_failure 2
	assert_output --partial '--grace does not apply'
	local before
	before=$(psql -XAtc "select string_agg(config_key || '=' || config_value || ':' || data_type, ' ' order by config_key) from device_configurations")
	# The stored type is kept when --type is not given, so a bad value is refused.
	run iot-device config set alice/cfg interval fast
	assert_failure 2
	assert_output --partial 'config value: not an integer'
	for bad in 'integer 1.5' 'integer 99999999999999999999' 'float NaN' 'float inf' 'float 1e999' \
		'boolean yes' 'boolean 1' 'json {"a":' 'json [1,2' 'json NaN'; do
		run iot-device config set alice/cfg k ${bad#* } --type "${bad%% *}"
		assert_failure 2
	done
	run iot-device config set alice/cfg k v --type date
	assert_failure 2
	run iot-device config set alice/cfg 'bad key' v
	assert_failure 2
	run iot-device config set alice/cfg k "$(head -c 65537 /dev/zero | tr '\0' v)"
	assert_failure 2
	run iot-device config set alice/cfg k $'\xc3\x28'
	assert_failure 2
	assert_output --partial 'invalid UTF-8'
	run iot-device config set alice/nope k v
	assert_failure 3
	assert_equal "$(psql -XAtc "select string_agg(config_key || '=' || config_value || ':' || data_type, ' ' order by config_key) from device_configurations")" "$before"
	# A new type replaces the old when given.
	run iot-device config set alice/cfg interval '"30s"' --type json
	assert_success
	run iot-device config get alice/cfg interval
	assert_equal "$(jq -c '[.type, .value]' <<<"$output")" '["json","30s"]'
	run iot-device config get alice/cfg --format csv
	assert_line --index 0 'device_id,key,type,value,updated_at'
	assert_equal "${#lines[@]}" 9
	run iot-device config rm alice/cfg interval
	assert_success
	run iot-device config get alice/cfg interval
	assert_failure 3
	run iot-device config rm alice/cfg interval
	assert_failure 3
}

@test "iot-device: online is derived from last_seen; going quiet never deactivates" {
	iot-device add fresh --owner alice >/dev/null
	iot-device add stale --owner alice >/dev/null
	iot-device add never --owner alice >/dev/null
	iot-device add cached --owner bob >/dev/null
	psql -XAqc "update devices set last_seen = now() - interval '1 minute' where name = 'fresh';
		update devices set last_seen = now() - interval '1 hour' where name = 'stale'"
	local cid
	cid=$(psql -XAtc "select id from devices where name = 'cached'")
	redis-cli -p "$IOTFLOW_REDIS_PORT" set "iotflow:$(psql -XAtc "select iotflow_cache_namespace()"):seen:$cid" "$(($(date +%s) * 1000000))" EX 300 >/dev/null
	run iot-device status
	assert_success
	assert_equal "$(jq -sc 'map({(.name): .online}) | add' <<<"$output")" \
		'{"fresh":true,"stale":false,"never":false,"cached":true}'
	assert_equal "$(jq -sc 'map(.status) | unique' <<<"$output")" '["active"]'
	run iot-device status --summary
	assert_output '{"devices":4,"online":2,"offline":2,"active":4,"inactive":0,"maintenance":0}'
	run iot-device list --offline --format csv
	assert_equal "$(cut -d, -f2 <<<"$output" | tail -n +2 | tr '\n' ' ')" 'stale never '
	run iot-device status --online --owner alice
	assert_equal "$(jq -r .name <<<"$output")" fresh
	run iot-device status --window 2h --online --owner alice
	assert_equal "$(jq -r .name <<<"$output" | tr '\n' ' ')" 'fresh stale '
	run iot-device status alice/stale
	assert_success
	assert_equal "$(jq -c '[.online, .status]' <<<"$output")" '[false,"active"]'
	[[ $(jq -r .last_seen <<<"$output") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$ ]]
	IOTFLOW_ONLINE_WINDOW=2h run iot-device status alice/stale
	assert_equal "$(jq -c .online <<<"$output")" true
}

@test "iot-device: rm removes the device, its keys and config, and its key stops working" {
	key=$(iot-device add gone --owner alice | jq -r .api_key)
	iot-device config set alice/gone a 1 >/dev/null
	run bash -c "echo '$key' | iot-device key check"
	assert_success
	run iot-device rm alice/gone
	assert_success
	assert_output --partial '"removed":true'
	run psql -XAtc "select (select count(*) from devices), (select count(*) from device_auth), (select count(*) from device_configurations)"
	assert_output '0|0|0'
	run bash -c "echo '$key' | iot-device key check"
	assert_failure 4
}

@test "iot-device: no key or digest in any output except the line that hands it over" {
	local log=$BATS_TEST_TMPDIR/all.log
	{
		iot-device add s1 --owner alice
		echo '{"name":"s2"}' | iot-device add - --owner alice
		iot-device list; iot-device list --format table; iot-device show alice/s1
		iot-device key list alice/s1 --format csv; iot-device status alice/s1
		iot-device key rotate alice/s1 --grace 1h
		iot-device key revoke alice/s2
		echo 'iotf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' | iot-device key check || true
		echo 'garbage' | iot-device key check || true
	} >"$log" 2>&1
	local k
	# Each key appears exactly once: in the line that created it.
	for k in $(grep -o 'iotf_[A-Za-z0-9_-]\{43\}' "$log" | sort -u | grep -v AAAAAAAA); do
		run grep -c -F "$k" "$log"
		assert_output 1
	done
	run grep -c '"api_key"' "$log"
	assert_output 3
	for k in $(psql -XAtc "select encode(key_digest, 'hex') from device_auth"); do
		run grep -c -e "$k" -e "${k^^}" "$log"
		assert_output 0
	done
	run grep -c 'garbage' "$log"
	assert_output 0
}

@test "iot-device: key check and add - exit 6 when standard input cannot be read, and say why" {
	run bash -c "iot-device key check </tmp"
	assert_failure 6
	assert_output --partial 'iot-device: fatal: unable to read standard input: Is a directory'
	run bash -c "iot-device add - --owner alice </tmp"
	assert_failure 6
	assert_output 'iot-device: fatal: unable to read standard input: Is a directory'
}

@test "iot-device: add - takes CRLF lines and a last line without a newline, refuses a NUL byte" {
	run bash -o pipefail -c "printf '{\"name\":\"crlf\"}\r\n{\"name\":\"nul\0\"}\n\r\n{\"name\":\"last\"}' |
		iot-device add - --owner alice 2>/dev/null | jq -c '[.line, .name, .error]'"
	assert_failure 1
	assert_output '[1,"crlf",null]
[2,null,"line contains a NUL byte"]
[3,null,"empty line"]
[4,"last",null]'
	run psql -XAtc "select string_agg(name, ',' order by name) from devices"
	assert_output 'crlf,last'
}

@test "iot-device: concurrent key rotations of one device leave exactly one active key" {
	iot-device add busy --owner alice >/dev/null
	local round i live
	for round in 1 2 3 4 5; do
		for i in $(seq 10); do
			iot-device key rotate alice/busy >"$BATS_TEST_TMPDIR/r$i" 2>&1 3>&- &
		done
		wait
		for i in $(seq 10); do
			jq -e '.api_key | test("^iotf_")' "$BATS_TEST_TMPDIR/r$i" >/dev/null || fail "rotate $i: $(cat "$BATS_TEST_TMPDIR/r$i")"
		done
		live=$(psql -XAtc "select count(*) from device_auth where is_active and revoked_at is null
			and (expires_at is null or expires_at > now())")
		assert_equal "round $round: $live" "round $round: 1"
	done
	# The one left is the last one handed out: its key works.
	run iot-device key list alice/busy
	assert_equal "$(jq -sc 'map(select(.state == "active")) | length' <<<"$output")" 1
	# With a grace period the old keys stay valid for it, but only one never ends.
	for i in $(seq 10); do
		iot-device key rotate alice/busy --grace 1h >/dev/null 2>&1 3>&- &
	done
	wait
	run psql -XAtc "select count(*) filter (where expires_at is null), count(*) from device_auth
		where is_active and revoked_at is null and (expires_at is null or expires_at > now())"
	assert_output '1|11'
}

@test "iot-device: key revoke waits for a rotation in progress, and revokes the key it issues too" {
	local id; id=$(iot-device add racing --owner alice | jq -r .id)
	# A rotation as iot-device does it: the device row locked, the new key
	# inserted, committed a moment later. The revoke starts in between.
	psql -XAtq -c "BEGIN; SELECT 1 FROM devices WHERE id = $id FOR UPDATE;
		INSERT INTO device_auth (device_id, key_digest, key_prefix)
		VALUES ($id, decode(md5('a') || md5('b'), 'hex'), 'iotf_rotate');
		SELECT pg_sleep(1.5); COMMIT" >/dev/null 3>&- &
	local rotor=$!
	for i in $(seq 50); do
		[[ $(psql -XAtc "select count(*) from pg_locks l join pg_class c on c.oid = l.relation
			where c.relname = 'devices' and l.mode = 'RowShareLock' and l.granted") -gt 0 ]] && break
		sleep 0.05
	done
	run iot-device key revoke "$id"
	wait "$rotor"
	assert_success
	# Every key of the device is revoked, the rotation's new one included.
	assert_equal "$(psql -XAtc "select count(*) from device_auth where device_id = $id
		and is_active and revoked_at is null")" 0
}

@test "iot-device: a bare NAME names the one device that has it; an ambiguous one lists the choices" {
	local id
	id=$(iot-device add solo --owner alice | jq -r .id)
	iot-device add twin --owner alice >/dev/null
	iot-device add twin --owner bob >/dev/null
	run iot-device show solo
	assert_success
	assert_equal "$(jq -c '[.id, .owner]' <<<"$output")" "[$id,\"alice\"]"
	# Everywhere a DEVICE is taken.
	run iot-device set solo --location lab
	assert_success
	assert_equal "$(jq -r .location <<<"$output")" lab
	run iot-device config set solo interval 30 --type integer
	assert_success
	run iot-device config get solo interval
	assert_equal "$(jq -c .value <<<"$output")" 30
	run iot-device key list solo
	assert_success
	run iot-device status solo
	assert_equal "$(jq -r .name <<<"$output")" solo
	run iot-device key rotate solo
	assert_success
	local before
	before=$(snapshot)
	run iot-device show twin
	assert_failure 2
	assert_output --partial "device 'twin' is ambiguous: 2 devices have that name (alice/twin, bob/twin); name one as OWNER/NAME or by id"
	for cmd in 'rm twin' 'set twin --status inactive' 'key revoke twin' 'key rotate twin' 'config set twin k v'; do
		run iot-device $cmd
		assert_failure 2
		assert_output --partial "device 'twin' is ambiguous"
	done
	assert_equal "$(snapshot)" "$before"
	run iot-device show bob/twin
	assert_success
	run iot-device show nosuch
	assert_failure 3
	assert_output --partial "unknown device 'nosuch'"
	# Digits are always an id, even when a device has them as its name.
	iot-device add 999 --owner alice >/dev/null
	run iot-device show 999
	assert_failure 3
	run iot-device show alice/999
	assert_success
}
