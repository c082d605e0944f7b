#!/usr/bin/env bats
# iot-migrate import-flask and import-telemetry against a database shaped
# like the Flask original's (migrate_flask_lib.bash), in a second database
# of the same server: what is imported, what is refused and why, that no
# plaintext key or code lands here, that deployed devices, people and
# firmware keep working with what they have, and that a second run
# changes nothing.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load migrate_flask_lib

setup_file() {
	stack_setup_file
	migrated_template
	flask_db flask_src
	export FROM
	FROM=$(flask_conninfo flask_src)
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	# shellcheck disable=SC2034 # httpd_lib's teardown reads it
	HTTPD_PID=
}

# The new database's data, without what differs from one pg_dump to the next.
dump() { pg_dump --no-owner --data-only "$PGDATABASE" | grep -Ev '^(--|SET |SELECT pg_catalog.set_config|\\(un)?restrict )'; }

@test "import-flask: users, devices, configs and commands; each refusal with its reason; exit 1" {
	run --separate-stderr iot-migrate import-flask --from="$FROM"
	assert_failure 1
	# users: alice, bob, carol imported; "dave smith" is not a username here.
	assert_equal "$(jq -sc '[.[] | select(.kind == "user") | [.old_id, .action]]' <<<"$output")" \
		'[[1,"imported"],[2,"imported"],[3,"imported"],[4,"rejected"]]'
	assert_equal "$(jq -sc '[.[] | select(.kind == "device") | [.old_id, .action]]' <<<"$output")" \
		'[[1,"imported"],[2,"imported"],[3,"rejected"],[7,"imported"]]'
	assert_equal "$(jq -sc '[.[] | select(.kind == "config" and .action == "rejected") | .key]' <<<"$output")" '["bad"]'
	assert_equal "$(jq -sc '[.[] | select(.kind == "control") | .action]' <<<"$output")" \
		'["imported","imported","rejected"]'
	[[ $stderr == *"device 3: it has no owner (see --orphans-to)"* ]]
	[[ $stderr == *"config 6: config value: not an integer"* ]]
	[[ $stderr == *"control 3: device 3 was not imported"* ]]
	[[ $stderr == *"users: 3 imported, 0 unchanged, 1 rejected"* ]]
	# Devices keep their ids, owners follow their users, offline is active here.
	assert_equal "$(q "select string_agg(d.id || ':' || d.name || ':' || u.username || ':' || d.status || ':' ||
		coalesce(d.location, '-') || ':' || coalesce(d.firmware_version, '-'), ' ' order by d.id)
		from devices d join users u on u.id = d.user_id")" \
		'1:esp32_5001:alice:active:lab:1.0.0 2:sim-1:bob:active:roof:1.0.0-sim 7:pump:alice:maintenance:cellar:-'
	assert_equal "$(q "select last_seen = '2025-11-20T12:00:00Z' from devices where id = 1")" t
	# Hashes kept as they are until the first login; bcrypt is not supported.
	assert_equal "$(q "select string_agg(username || ':' || coalesce(split_part(password_hash, '\$', 1), '-') || ':' || is_admin, ' ' order by username) from users")" \
		'alice:pbkdf2:sha256:600000:false bob:scrypt:32768:8:1:true carol:-:false'
	assert_equal "$(jq -r 'select(.username == "carol") | .password' <<<"$output")" 'unsupported format: not imported'
	# Python str() values decoded to their type's canonical text.
	assert_equal "$(q "select string_agg(config_key || '=' || data_type || ':' || config_value, ' ' order by config_key) from device_configurations")" \
		'enabled=boolean:true interval=integer:30 mode=string:eco ratio=float:0.25 thresholds=json:{"high":30.5,"on":true,"name":"x \"y\"","off":null}'
	assert_equal "$(q "select string_agg(device_id || ':' || command || ':' || status || ':' || coalesce(parameters::text, '-') || ':' ||
		to_char(created_at at time zone 'UTC', 'HH24:MI'), ' ' order by id) from device_control")" \
		'1:reboot:pending:{"delay": 5}:12:00 2:set:acknowledged:-:08:00'
	# New devices are numbered after the imported ones.
	echo pw-passw0rd-1 | iot-user add eve >/dev/null
	run iot-device add fresh --owner eve
	assert_success
	assert_equal "$(jq .id <<<"$output")" 8
}

@test "import-flask: no plaintext key or user_id lands in the new database" {
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	dump >"$BATS_TEST_TMPDIR/dump.sql"
	[[ $(grep -c 'esp32_5001' "$BATS_TEST_TMPDIR/dump.sql") -ge 1 ]]   # the dump has the data
	for secret in "$KEY1" "$KEY2" "$KEY7" "$CODE_ALICE" "$CODE_BOB" "${KEY1:0:12}" "${KEY2:0:12}"; do
		run grep -c -F "$secret" "$BATS_TEST_TMPDIR/dump.sql"
		assert_output 0
	done
	assert_equal "$(q "select string_agg(distinct key_prefix, ',') from device_auth")" legacy
	assert_equal "$(q "select string_agg(distinct api_key, ',') from devices")" legacy
	assert_equal "$(q "select string_agg(code_prefix, ',' order by code_prefix) from user_enrollment")" \
		"${CODE_BOB:0:6},${CODE_ALICE:0:6}"
}

@test "import-flask: a second run, and a dry run, change nothing" {
	run --separate-stderr iot-migrate import-flask --dry-run --from="$FROM"
	assert_failure 1
	assert_equal "$(jq -sc '[.[] | .action] | unique' <<<"$output")" '["rejected","would import"]'
	assert_equal "$(q 'select count(*) from users') $(q 'select count(*) from devices') $(q 'select count(*) from flask_import')" '0 0 0'
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	dump >"$BATS_TEST_TMPDIR/first.sql"
	run --separate-stderr iot-migrate import-flask --from="$FROM"
	assert_failure 1
	assert_equal "$(jq -sc '[.[] | .action] | unique' <<<"$output")" '["rejected","unchanged"]'
	[[ $stderr == *"devices: 0 imported, 3 unchanged, 1 rejected"* ]]
	dump >"$BATS_TEST_TMPDIR/second.sql"
	run diff "$BATS_TEST_TMPDIR/first.sql" "$BATS_TEST_TMPDIR/second.sql"
	assert_success
}

@test "import-flask --orphans-to: a device without owner goes to that user; an unknown user is refused" {
	run iot-migrate -q import-flask --from="$FROM" --orphans-to=nobody
	assert_failure 3
	assert_equal "$(q 'select count(*) from users')" 0
	echo pw-passw0rd-1 | iot-user add ops >/dev/null
	run iot-migrate -q import-flask --from="$FROM" --orphans-to=ops
	assert_failure 1
	assert_equal "$(q "select u.username from devices d join users u on u.id = d.user_id where d.id = 3")" ops
}

@test "import-flask: deployed devices authenticate over HTTP with their old keys" {
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	start_httpd
	run post "$KEY1" '{"data":{"temperature":22.5},"metadata":{"source":"test_single_telemetry.py"}}'
	assert_equal "$(code "$output")" 201
	run post "$KEY2" '{"data":{"temperature":19}}'
	assert_equal "$(code "$output")" 201
	assert_equal "$(q "select string_agg(device_id::text, ',' order by device_id) from telemetry_data")" '1,2'
	run post "${KEY1%?}x" '{"data":{"temperature":1}}'
	assert_equal "$(code "$output")" 401
	# The esp32 credentials call with the old key.
	run req -H "X-API-Key: $KEY1" "$U/api/v1/devices/credentials"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.device.id, .device.name]')" '[1,"esp32_5001"]'
	# The legacy key is revoked like any other.
	iot-device key revoke 1 legacy >/dev/null
	run post "$KEY1" '{"data":{"temperature":1}}'
	assert_equal "$(code "$output")" 401
}

@test "import-flask: deployed devices log in to the broker (the auth plugin) with their old keys" {
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	# The broker with the plugin, on this test's database; anonymous again after.
	IOT_MOSQUITTO_PLUGIN=$IOTFLOW_ROOT/bin/iotflow_auth.so iot_mqtt_reconfigure
	local ok bad other
	run mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -u 1 -P "$KEY1" -q 1 -t iotflow/devices/1/telemetry -m '{"data":{"t":1}}'
	ok=$status
	run mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -u 1 -P "${KEY1%?}x" -q 1 -t iotflow/devices/1/telemetry -m '{"data":{"t":1}}'
	bad=$status
	run mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -u 2 -P "$KEY1" -q 1 -t iotflow/devices/2/telemetry -m '{"data":{"t":1}}'
	other=$status
	iot_mqtt_reconfigure
	assert_equal "$ok" 0
	[[ $bad != 0 && $other != 0 ]]
}

code() { cut -d ' ' -f 1 <<<"$1"; }

@test "import-flask: people log in with their old passwords, which become Argon2id" {
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	run iot-user verify alice <<<"wrong-password"
	assert_failure 4
	assert_equal "$(q "select password_hash like 'pbkdf2:sha256:600000\$%' from users where username = 'alice'")" t
	run iot-user verify alice <<<"$PW_ALICE"
	assert_success
	assert_equal "$(jq -c '[.ok, .rehashed]' <<<"$output")" '[true,true]'
	assert_equal "$(q "select password_hash like '\$argon2id\$%' from users where username = 'alice'")" t
	run iot-user verify alice <<<"$PW_ALICE"
	assert_success
	assert_equal "$(jq -c '[.ok, .rehashed]' <<<"$output")" '[true,false]'
	run iot-user verify bob <<<"$PW_BOB"
	assert_success
	assert_equal "$(q "select password_hash like '\$argon2id\$%' from users where username = 'bob'")" t
	run iot-user verify carol <<<"anything-at-all"
	assert_failure 4
}

@test "import-flask: firmware registering with its old user_id gets a device of that user" {
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	start_httpd
	run req -X POST -H 'Content-Type: application/json' --data-binary \
		"{\"name\":\"esp32_6001\",\"device_type\":\"esp32\",\"location\":\"lab\",\"user_id\":\"$CODE_ALICE\",\"firmware_version\":\"1.0.0\",\"hardware_version\":\"ESP32-WROOM-32\"}" \
		"$U/api/v1/devices/register"
	assert_equal "$(code "$output")" 201
	key=$(body "$output" | jq -r .device.api_key)
	assert_equal "$(q "select u.username from devices d join users u on u.id = d.user_id where d.name = 'esp32_6001'")" alice
	run post "$key" '{"data":{"temperature":20}}'
	assert_equal "$(code "$output")" 201
	run req -X POST -H 'Content-Type: application/json' --data-binary \
		'{"name":"esp32_6002","device_type":"esp32","user_id":"testuser"}' "$U/api/v1/devices/register"
	[[ $(code "$output") == 40[13] ]]
}

@test "import-flask: what only this side's constraints refuse is one rejected object with its reason, not the end of the import" {
	# Here already: a user named carol, one with erin's email, a device with id 7.
	iot-user add --no-password carol >/dev/null
	iot-user add --no-password ops --email erin@example.org >/dev/null
	q "SELECT setval(pg_get_serial_sequence('devices', 'id'), 6)" >/dev/null
	assert_equal "$(iot-device add here-7 --owner ops | jq .id)" 7
	# The Flask side allowed what this one does not: a name twice for one
	# owner, a long description, a 100-character command.
	flask_db flask_clash
	psql -XAtq -v ON_ERROR_STOP=1 -d flask_clash <<-'SQL'
		INSERT INTO users (user_id, username, email, password_hash) VALUES ('e1', 'erin', 'erin@example.org', 'x');
		INSERT INTO devices (id, name, api_key, user_id, description) VALUES
		    (8, 'sim-1', 'DupNameKey0123456789abcdefghijkl', 2, NULL),
		    (12, 'chatty', 'LongDescKey0123456789abcdefghijk', 2, repeat('d', 1001));
		INSERT INTO device_control (device_id, command) VALUES (2, repeat('c', 100));
	SQL
	run --separate-stderr iot-migrate import-flask --from="$(flask_conninfo flask_clash)"
	assert_failure 1
	assert_equal "$(jq -c 'select(.action == "rejected") | [.kind, .old_id, .reason]' <<<"$output")" \
'["user",3,"a user of that name exists here already"]
["user",4,"username: letters, digits and _.@- only, starting with a letter or digit"]
["user",5,"its email is another user'"'"'s here"]
["device",3,"it has no owner (see --orphans-to)"]
["device",7,"its id is taken here by another device"]
["device",8,"its owner has another device of that name (names are unique per owner)"]
["device",12,"description: longer than 1000 characters"]
["config",6,"config value: not an integer (64-bit) (stored as integer)"]
["control",3,"device 3 was not imported"]
["control",4,"command: 1 to 64 characters"]'
	[[ $stderr == *"warning: device 8: its owner has another device of that name"* ]]
	[[ $stderr == *"devices: 2 imported, 0 unchanged, 4 rejected"* ]]
	assert_equal "$(q "select string_agg(id || ':' || name, ' ' order by id) from devices")" '1:esp32_5001 2:sim-1 7:here-7'
	# Fixed on the Flask side, a second run brings them over and keeps the rest.
	psql -XAtq -d flask_clash -c "UPDATE devices SET name = 'sim-1b' WHERE id = 8" -c "UPDATE devices SET description = 'short' WHERE id = 12"
	run --separate-stderr iot-migrate import-flask --from="$(flask_conninfo flask_clash)"
	assert_failure 1
	[[ $stderr == *"devices: 2 imported, 2 unchanged, 2 rejected"* ]]
	assert_equal "$(q "select string_agg(id || ':' || name, ' ' order by id) from devices")" '1:esp32_5001 2:sim-1 7:here-7 8:sim-1b 12:chatty'
}

@test "import-flask: old pending commands get command_ttl from their creation and lapse; the device is not offered them" {
	# The Flask service left every command pending; one of a minute ago too.
	flask_db flask_cmds
	psql -XAtq -d flask_cmds -c "INSERT INTO device_control (device_id, command, status, created_at, updated_at)
		VALUES (1, 'blink', 'pending', (now() - interval '1 minute') AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
	IOTFLOW_COMMAND_TTL=2h iot-migrate -q import-flask --from="$(flask_conninfo flask_cmds)" >/dev/null || true
	assert_equal "$(q "select string_agg(command || ':' || (expires_at - created_at), ' ' order by id) from device_control")" \
		'reboot:02:00:00 set:02:00:00 blink:02:00:00'
	start_httpd
	run req -H "X-API-Key: $KEY1" "$U/api/v1/devices/1/control/pending"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.[] | .command]')" '["blink"]'
	run iot-device command list --format csv
	assert_output "id,device_id,command,status,created_at,sent_at,expires_at
$(q "select id || ',1,blink,pending,' || to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ',,' ||
	to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from device_control where command = 'blink'")
2,2,set,acknowledged,2025-11-19T08:00:00Z,,2025-11-19T10:00:00Z
1,1,reboot,expired,2025-11-20T12:00:00Z,,2025-11-20T14:00:00Z"
}

@test "import-flask: objects come over in the order of their old ids, 10 after 9" {
	flask_db flask_many
	psql -XAtq -v ON_ERROR_STOP=1 -d flask_many <<-'SQL'
		INSERT INTO users (id, user_id, username, email, password_hash) VALUES (10, 'u10', 'zed', 'zed@example.org', 'x');
		INSERT INTO device_control (device_id, command) SELECT 1, 'c' || n FROM generate_series(4, 11) n;
	SQL
	run --separate-stderr iot-migrate import-flask --from="$(flask_conninfo flask_many)"
	assert_failure 1
	assert_equal "$(jq -sc '[.[] | select(.kind == "user") | .old_id]' <<<"$output")" '[1,2,3,4,10]'
	assert_equal "$(jq -sc '[.[] | select(.kind == "control") | .old_id]' <<<"$output")" '[1,2,3,4,5,6,7,8,9,10,11]'
	# New ids in the old order: newest first is newest first.
	assert_equal "$(q "select string_agg(username, ' ' order by id) from users")" 'alice bob carol zed'
	assert_equal "$(iot-device command list --device 1 --format csv | cut -d, -f3 | tail -n +2 | tr '\n' ' ')" \
		'c11 c10 c9 c8 c7 c6 c5 c4 reboot '
}

@test "import-telemetry: the old telemetry_data, ids mapped, bad rows refused by id; again: all duplicates" {
	run --separate-stderr iot-migrate import-telemetry --from="$FROM"
	assert_failure 1
	assert_output '{"read":7,"points":0,"stored":0,"duplicates":0,"rejected":7}'
	[[ $stderr == *"telemetry_data id 1: device 1 was not imported"* ]]
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	run --separate-stderr iot-migrate import-telemetry --from="$FROM"
	assert_failure 1
	assert_output '{"read":7,"points":5,"stored":5,"duplicates":0,"rejected":2}'
	assert_equal "$stderr" "iot-migrate: warning: telemetry_data id 6: device 99 was not imported
iot-migrate: warning: telemetry_data id 7: invalid measurement name (1..64 of [A-Za-z0-9_.:/-])"
	assert_equal "$(q "select string_agg(device_id || ' ' || to_char(ts at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') || ' ' ||
		measurement_name || ' ' || numeric_value, ', ' order by device_id, ts, measurement_name) from telemetry_data")" \
		'1 2025-11-20T10:00:00.000 humidity 40, 1 2025-11-20T10:00:00.000 temperature 21.5, 1 2025-11-20T10:01:00.000 temperature 22, 1 2025-11-21T09:00:00.250 temperature -3.25, 2 2025-11-20T10:00:00.000 pressure 1013.25'
	# The rollups and latest values follow, as for any ingest.
	assert_equal "$(q "select sum(count) from telemetry_hourly")" 5
	assert_equal "$(q "select numeric_value from telemetry_latest where device_id = 1 and measurement_name = 'temperature'")" -3.25
	dump >"$BATS_TEST_TMPDIR/first.sql"
	run --separate-stderr iot-migrate import-telemetry --from="$FROM"
	assert_failure 1
	assert_output '{"read":7,"points":5,"stored":0,"duplicates":5,"rejected":2}'
	dump >"$BATS_TEST_TMPDIR/second.sql"
	run diff "$BATS_TEST_TMPDIR/first.sql" "$BATS_TEST_TMPDIR/second.sql"
	assert_success
}

@test "import-telemetry: rows iot-ingest would refuse are refused too (a time before 2000 or ahead, a number over 1e300), the rest stored" {
	# An ESP32 without NTP sent seconds since boot, the Flask service stored
	# them as 1970; a clock far ahead; two huge values in one hour, whose
	# rollup sum overflowed a double and ended the import (exit 6).
	flask_db flask_odd
	psql -XAtq -v ON_ERROR_STOP=1 -d flask_odd <<-'SQL'
		INSERT INTO telemetry_data (id, device_id, "timestamp", measurement_name, numeric_value) VALUES
		    (20, 1, '1970-01-01T00:05:00Z', 'temperature', 5),
		    (21, 1, now() + interval '2 hours', 'temperature', 6),
		    (22, 1, '2025-11-20T11:00:00Z', 'huge', 1e308),
		    (23, 1, '2025-11-20T11:05:00Z', 'huge', -1e308),
		    (24, 1, now() + interval '10 minutes', 'temperature', 7);
	SQL
	iot-migrate -q import-flask --from="$(flask_conninfo flask_odd)" >/dev/null || true
	run --separate-stderr iot-migrate import-telemetry --from="$(flask_conninfo flask_odd)"
	assert_failure 1
	assert_output '{"read":12,"points":6,"stored":6,"duplicates":0,"rejected":6}'
	[[ $stderr == *"telemetry_data id 20: timestamp 1970-01-01T00:05:00.000000Z is before 2000-01-01T00:00:00.000000Z"* ]]
	[[ $stderr == *"telemetry_data id 21: timestamp "*" is after "*" (now + max_future)"* ]]
	[[ $stderr == *"telemetry_data id 22: number 1e+308 is out of range (+-1e300)"* ]]
	[[ $stderr == *"telemetry_data id 23: number -1e+308 is out of range (+-1e300)"* ]]
	[[ $stderr != *"id 24"* && $stderr != *fatal* ]]
	assert_equal "$(q "select count(*) from telemetry_data where ts < '2000-01-01' or ts > now() + interval '1 hour' or measurement_name = 'huge'")" 0
	assert_equal "$(q "select count(*) from pg_class where relname like 'telemetry_data_1970%'")" 0
	# max_future is the setting iot-ingest reads.
	run --separate-stderr env IOTFLOW_MAX_FUTURE=3h iot-migrate import-telemetry --from="$(flask_conninfo flask_odd)"
	assert_output '{"read":12,"points":7,"stored":1,"duplicates":6,"rejected":5}'
}

@test "import-flask, import-telemetry: usage errors" {
	run iot-migrate import-flask
	assert_failure 2
	assert_line --index 0 "iot-migrate: import-flask needs --from=CONNINFO (the Flask service's database)"
	run iot-migrate import-telemetry --dry-run --from=x
	assert_failure 2
	run iot-migrate up --from=x
	assert_failure 2
	run iot-migrate -q import-flask --from="host=$PGHOST port=$PGPORT dbname=no_such_db user=$PGUSER password=hunter2hunter2"
	assert_failure 5
	refute_output --partial hunter2
}

@test "dual write: mosquitto_sub on the old broker piped into iot-ingest --require-key stores what devices publish" {
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	# What iotflow(7) suggests for the dual-write period, against the test
	# broker: a persistent session (-c -i), so what is published while the
	# pipe is down waits for it. -E: subscribe, then leave.
	local sub=(mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -c -i iotflow-dual-write -q 1
		-t 'iotflow/devices/+/telemetry' -t 'iotflow/devices/+/telemetry/#' -F %J)
	"${sub[@]}" -E
	local i
	for i in 1 2; do
		mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -t iotflow/devices/1/telemetry \
			-m "{\"api_key\":\"$KEY1\",\"timestamp\":\"2025-11-20T12:0$i:00Z\",\"data\":{\"temperature\":2$i}}"
	done
	# A publisher without the device's key: refused.
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -t iotflow/devices/1/telemetry/sensors -m '{"temperature":99}'
	"${sub[@]}" -C 3 -W 10 >"$BATS_TEST_TMPDIR/sub.ndjson"
	run --separate-stderr iot-ingest --require-key "$BATS_TEST_TMPDIR/sub.ndjson"
	assert_failure 1
	assert_equal "$(jq -c '[.stored, .rejected]' <<<"$output")" '[2,1]'
	assert_equal "$(q "select string_agg(numeric_value::text, ',' order by ts) from telemetry_data where device_id = 1")" '21,22'
}
