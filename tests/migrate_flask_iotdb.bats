#!/usr/bin/env bats
# iot-migrate import-iotdb (the CSV files of IoTDB's export tool, both
# layouts: tests/iotdb/) and compare (the consistency check of the
# dual-write period), after import-flask of the Flask-shaped database of
# migrate_flask_lib.bash.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load migrate_flask_lib

setup_file() {
	stack_setup_file
	migrated_template
	flask_db flask_src
	# The same, without the rows the import refuses (an unknown device, a bad name).
	psql -XAtq -v ON_ERROR_STOP=1 -d flask_src -c "CREATE DATABASE flask_clean TEMPLATE flask_src"
	psql -XAtq -v ON_ERROR_STOP=1 -d flask_clean -c "DELETE FROM telemetry_data WHERE device_id = 99 OR measurement_name = 'bad name!'"
	export FROM CLEAN
	FROM=$(flask_conninfo flask_src)
	CLEAN=$(flask_conninfo flask_clean)
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	iot-migrate -q import-flask --from="$FROM" >/dev/null || true
	D=$IOTFLOW_ROOT/tests/iotdb
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
points() {
	q "select string_agg(device_id || ' ' || to_char(ts at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || ' ' || measurement_name || '=' ||
		coalesce(numeric_value::text, text_value, boolean_value::text, json_value::text), E'\n' order by device_id, ts, measurement_name)
		from telemetry_data"
}
dump() { pg_dump --no-owner --data-only "$PGDATABASE" | grep -Ev '^(--|SET |SELECT pg_catalog.set_config|\\(un)?restrict )'; }

@test "import-iotdb: both layouts to exactly the expected rows; a second run stores nothing new" {
	run --separate-stderr iot-migrate import-iotdb "$D/by-time.csv" "$D/by-device.csv"
	assert_success
	assert_output '{"read":6,"points":16,"stored":16,"duplicates":0,"rejected":0}'
	assert_equal "$(points)" "1 2025-11-20T10:00:00 humidity=40
1 2025-11-20T10:00:00 temperature=21.5
1 2025-11-20T10:01:00 temperature=22
1 2025-11-20T10:02:00 humidity=41.5
1 2025-11-20T10:02:00 temperature=22.5
1 2025-11-21T09:00:00 humidity=55
1 2025-11-21T09:00:00 status=ok
1 2025-11-21T09:00:00 temperature=-3.25
2 2025-11-20T10:01:00 pressure=1013.25
2 2025-11-20T10:02:00 pressure=1013.5
2 2025-11-21T09:00:00 humidity=60
7 2025-11-20T10:00:00 mode=eco, night
7 2025-11-20T10:00:00 running=true
7 2025-11-20T10:02:00 mode=say \"hi\"
7 2025-11-20T10:02:00 running=false
7 2025-11-21T09:00:30 status=on"
	# A typed TEXT column stays text even when it reads as a number; an untyped one is sniffed.
	assert_equal "$(q "select count(*) from telemetry_data where text_value is not null")" 4
	dump >"$BATS_TEST_TMPDIR/first.sql"
	run --separate-stderr iot-migrate import-iotdb "$D/by-time.csv" - <"$D/by-device.csv"
	assert_success
	assert_output '{"read":6,"points":16,"stored":0,"duplicates":16,"rejected":0}'
	dump >"$BATS_TEST_TMPDIR/second.sql"
	run diff "$BATS_TEST_TMPDIR/first.sql" "$BATS_TEST_TMPDIR/second.sql"
	assert_success
}

@test "import-iotdb: bad cells, rows and columns are refused with their line and column; the rest is stored" {
	run --separate-stderr iot-migrate import-iotdb "$D/bad.csv" "$D/bad-device.csv"
	assert_failure 1
	assert_output '{"read":7,"points":4,"stored":4,"duplicates":0,"rejected":8}'
	assert_equal "$stderr" "iot-migrate: warning: $D/bad.csv:1: column 3: 'root.other.sg.d1.s1' is not an IoTFlow series (root.iotflow.users.user_U.devices.device_D.MEASUREMENT)
iot-migrate: warning: $D/bad.csv:2: column 2: not a finite number: 'abc'
iot-migrate: warning: $D/bad.csv:2: column 5: device 99 was not imported
iot-migrate: warning: $D/bad.csv:3: column 1: bad time 'yesterday' (epoch milliseconds or ISO 8601 with an offset)
iot-migrate: warning: $D/bad.csv:4: column 2: not a finite number: 'NaN'
iot-migrate: warning: $D/bad.csv:4: column 4: not a boolean: 'maybe'
iot-migrate: warning: $D/bad.csv:6: 2 fields, the header has 5
iot-migrate: warning: $D/bad-device.csv:3: column 2: 'root.sg.d1' is not an IoTFlow device (root.iotflow.users.user_U.devices.device_D)"
	assert_equal "$(points)" "1 2025-11-22T00:00:00 running=true
1 2025-11-22T00:00:00 temperature=1
1 2025-11-22T00:02:00 running=true
1 2025-11-22T00:02:00 temperature=7.5"
}

@test "import-iotdb: a time before 2000 or ahead, and a number over 1e300, are refused as iot-ingest refuses them" {
	printf '%s\n' 'Time,root.iotflow.users.user_1.devices.device_1.temperature(DOUBLE),root.iotflow.users.user_1.devices.device_1.status(TEXT)' \
		'1999-12-31T23:59:59.000+00:00,1.0,old' '4102444800000,2.0,ahead' '2025-11-22T00:00:00.000+00:00,1e308,ok' \
		'2025-11-22T00:01:00.000+00:00,-2e305,ok' > "$BATS_TEST_TMPDIR/odd.csv"
	run --separate-stderr iot-migrate import-iotdb "$BATS_TEST_TMPDIR/odd.csv"
	assert_failure 1
	assert_output '{"read":4,"points":2,"stored":2,"duplicates":0,"rejected":6}'
	assert_equal "$(grep -c 'timestamp 1999-12-31T23:59:59.000000Z is before 2000-01-01' <<<"$stderr")" 2
	assert_equal "$(grep -c 'timestamp 2100-01-01T00:00:00.000000Z is after' <<<"$stderr")" 2
	[[ $stderr == *"odd.csv:4: column 2: number 1e+308 is out of range (+-1e300)"* ]]
	[[ $stderr == *"odd.csv:5: column 2: number -2e+305 is out of range (+-1e300)"* ]]
	assert_equal "$(points)" "1 2025-11-22T00:00:00 status=ok
1 2025-11-22T00:01:00 status=ok"
}

@test "import-iotdb: a file that is not an IoTDB export, and one that cannot be opened" {
	printf 'a,b\n1,2\n' >"$BATS_TEST_TMPDIR/x.csv"
	run iot-migrate import-iotdb "$BATS_TEST_TMPDIR/x.csv"
	assert_failure 1
	assert_output --partial "x.csv:1: not an IoTDB CSV export"
	run iot-migrate import-iotdb "$BATS_TEST_TMPDIR/none.csv"
	assert_failure 2
	assert_output --partial "unable to open"
	run iot-migrate import-iotdb
	assert_failure 2
}

@test "compare --from: nothing after a full import; a planted difference and nothing else; exit 1" {
	iot-migrate -q import-telemetry --from="$CLEAN" >/dev/null
	run --separate-stderr iot-migrate compare --from="$CLEAN"
	assert_success
	assert_output ''
	q "delete from telemetry_data where device_id = 1 and ts = '2025-11-20T10:01:00Z'"
	run --separate-stderr iot-migrate compare --from="$CLEAN"
	assert_failure 1
	assert_output '{"device_id":1,"day":"2025-11-20","measurement":"temperature","old":{"count":2,"min":21.5,"max":22.0,"sum":43.5},"new":{"count":1,"min":21.5,"max":21.5,"sum":21.5}}'
	[[ $stderr == *"1 difference(s)"* ]]
	# Points the new side has that the old one lacks, on the days compared, count too.
	q "insert into telemetry_data (device_id, measurement_name, ts, numeric_value) values (2, 'extra', '2025-11-20T11:00:00Z', 1)"
	run --separate-stderr iot-migrate compare --from="$CLEAN"
	assert_failure 1
	assert_line --index 1 '{"device_id":2,"day":"2025-11-20","measurement":"extra","old":null,"new":{"count":1,"min":1.0,"max":1.0,"sum":1.0}}'
	assert_equal "${#lines[@]}" 2
}

@test "compare FILE: an IoTDB export against what was imported; a changed value is the one difference" {
	iot-migrate -q import-iotdb "$D/by-time.csv" "$D/by-device.csv" >/dev/null
	run --separate-stderr iot-migrate compare "$D/by-time.csv" "$D/by-device.csv"
	assert_success
	assert_output ''
	q "update telemetry_data set numeric_value = 1013.0 where device_id = 2 and ts = '2025-11-20T10:02:00Z'"
	run --separate-stderr iot-migrate compare "$D/by-device.csv" "$D/by-time.csv"
	assert_failure 1
	assert_output '{"device_id":2,"day":"2025-11-20","measurement":"pressure","old":{"count":2,"min":1013.25,"max":1013.5,"sum":2026.75},"new":{"count":2,"min":1013.0,"max":1013.25,"sum":2026.25}}'
	run iot-migrate compare --from="$CLEAN" "$D/by-time.csv"
	assert_failure 2
	run iot-migrate compare
	assert_failure 2
}
