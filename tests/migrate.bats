#!/usr/bin/env bats
# iot-migrate against a real PostgreSQL: apply, re-run, edited files,
# concurrency, the schema it builds, partitions.

load helpers

setup_file() { stack_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { fresh_db; }

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

@test "iot-migrate --help prints usage on stdout and exits 0" {
	run --separate-stderr iot-migrate --help
	assert_success
	assert_output --partial "Usage: iot-migrate [OPTION]... COMMAND"
	[ -z "$stderr" ]
}

@test "iot-migrate --version exits 0" {
	run iot-migrate --version
	assert_success
	assert_output --regexp '^iot-migrate \(IoTFlow\) [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "iot-migrate with a bad option exits 2 with a hint" {
	run --separate-stderr iot-migrate --bogus
	assert_equal "$status" 2
	[[ $stderr == *"Try 'iot-migrate --help'"* ]]
	run iot-migrate
	assert_equal "$status" 2
	run iot-migrate sideways
	assert_equal "$status" 2
	assert_output --partial "unknown command 'sideways'"
	run iot-migrate --ahead 99999 partitions
	assert_equal "$status" 2
	run iot-migrate --dry-run status
	assert_equal "$status" 2
}

@test "up on an empty database applies every migration, then status says applied" {
	run --separate-stderr iot-migrate up
	assert_success
	local n; n=$(ls "$IOTFLOW_ROOT"/sql/[0-9][0-9][0-9]_*.sql | wc -l)
	assert_equal "$(grep -c '"action":"applied"' <<<"$output")" "$n"
	assert_equal "$(q 'select count(*) from schema_migrations')" "$n"
	run iot-migrate status
	assert_success
	assert_equal "$(grep -c '"state":"applied"' <<<"$output")" "$n"
	run iot-migrate verify
	assert_success
	assert_output ""
}

@test "re-running up is a no-op" {
	iot-migrate -q up >/dev/null
	local before; before=$(q "select string_agg(version || ':' || applied_at, ',') from schema_migrations")
	run --separate-stderr iot-migrate up
	assert_success
	assert_output ""
	assert_equal "$(q "select string_agg(version || ':' || applied_at, ',') from schema_migrations")" "$before"
}

@test "an applied migration edited afterwards is refused, and verify says so" {
	local dir="$BATS_TEST_TMPDIR/sql"
	cp -r "$IOTFLOW_ROOT/sql" "$dir"
	iot-migrate -q --sql-dir "$dir" up >/dev/null
	echo "-- an innocent-looking edit" >> "$dir/001_identity.sql"
	printf 'CREATE TABLE later_one (id int);\n' > "$dir/900_later.sql"
	run --separate-stderr iot-migrate --sql-dir "$dir" up
	assert_equal "$status" 1
	[[ $stderr == *"migration 001_identity was edited after it was applied"* ]]
	# Refused before anything else was applied.
	assert_equal "$(q "select to_regclass('later_one') is null")" "t"
	run iot-migrate --sql-dir "$dir" verify
	assert_equal "$status" 1
	assert_output --partial '"version":1,"name":"identity","state":"modified"'
	assert_output --partial '"version":900,"name":"later","state":"pending"'
}

@test "a failing migration is rolled back whole and exits 6" {
	local dir="$BATS_TEST_TMPDIR/sql"
	cp -r "$IOTFLOW_ROOT/sql" "$dir"
	printf 'CREATE TABLE half_done (id int);\nSELECT no_such_function();\n' > "$dir/900_broken.sql"
	run --separate-stderr iot-migrate --sql-dir "$dir" up
	assert_equal "$status" 6
	[[ $stderr == *"migration 900_broken failed"* ]]
	assert_equal "$(q "select to_regclass('half_done') is null")" "t"
	assert_equal "$(q "select count(*) from schema_migrations where version = 900")" "0"
}

@test "two concurrent runs both succeed and each migration is applied once" {
	iot-migrate up >"$BATS_TEST_TMPDIR/a" 2>&1 &
	local a=$!
	iot-migrate up >"$BATS_TEST_TMPDIR/b" 2>&1 &
	local b=$!
	wait "$a"; local sa=$?
	wait "$b"; local sb=$?
	assert_equal "$sa" 0
	assert_equal "$sb" 0
	local n; n=$(ls "$IOTFLOW_ROOT"/sql/[0-9][0-9][0-9]_*.sql | wc -l)
	assert_equal "$(cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" | grep -c '"action":"applied"')" "$n"
	assert_equal "$(q 'select count(*) from schema_migrations')" "$n"
}

@test "--dry-run applies nothing but proves the migrations apply" {
	run --separate-stderr iot-migrate up --dry-run
	assert_success
	assert_output --partial '"action":"would apply"'
	assert_equal "$(q "select to_regclass('devices') is null")" "t"
	assert_equal "$(q "select to_regclass('schema_migrations') is null")" "t"
	run iot-migrate status
	assert_output --partial '"state":"pending"'
	run iot-migrate verify -q
	assert_equal "$status" 1
}

@test "every table of the data model is there with its keys and constraints" {
	iot-migrate -q up >/dev/null
	for t in users user_tokens devices device_auth device_configurations device_control \
	         telemetry_data telemetry_latest telemetry_hourly charts chart_devices chart_measurements; do
		assert_equal "$(q "select to_regclass('public.$t') is not null")" "t"
	done
	assert_equal "$(q "select relkind from pg_class where relname = 'telemetry_data'")" "p"
	assert_equal "$(q "select pg_get_partkeydef('telemetry_data'::regclass)")" "RANGE (ts)"
	assert_equal "$(q "select pg_get_constraintdef(oid) from pg_constraint where conname = 'telemetry_data_pkey'")" \
		"PRIMARY KEY (device_id, measurement_name, ts)"
	# Deliberately few indexes on telemetry: the primary key only.
	assert_equal "$(q "select count(*) from pg_index where indrelid = 'telemetry_data'::regclass")" "1"
	# No plaintext key column anywhere: device_auth and user_tokens hold 32-byte digests.
	assert_equal "$(q "select count(*) from information_schema.columns where column_name in ('api_key_plain','token','password')")" "0"
	assert_equal "$(q "select data_type from information_schema.columns where table_name = 'device_auth' and column_name = 'key_digest'")" "bytea"
	# Every timestamp is timestamptz.
	assert_equal "$(q "select count(*) from information_schema.columns where table_schema = 'public' and data_type = 'timestamp without time zone'")" "0"
	# Foreign keys and what deleting the parent does (c cascade, r restrict, n set null).
	fk() { q "select confdeltype from pg_constraint where contype = 'f' and conrelid = '$1'::regclass and confrelid = '$2'::regclass"; }
	assert_equal "$(fk devices users)" "r"
	assert_equal "$(fk device_auth devices)" "c"
	assert_equal "$(fk device_configurations devices)" "c"
	assert_equal "$(fk device_control devices)" "c"
	assert_equal "$(fk device_control users)" "n"
	assert_equal "$(fk user_tokens users)" "c"
	assert_equal "$(fk telemetry_latest devices)" "c"
	assert_equal "$(fk charts users)" "c"
	assert_equal "$(fk chart_devices charts)" "c"
	assert_equal "$(fk chart_measurements charts)" "c"
	# Names unique per owner; device status limited to what an admin sets.
	run q "insert into users (username) values ('u1'); insert into devices (name, user_id) values ('d', 1), ('d', 1)"
	assert_failure
	assert_output --partial "devices_user_id_name_key"
	run q "insert into users (username) values ('u2'); insert into devices (name, user_id, status) values ('x', currval('users_id_seq'), 'offline')"
	assert_failure
	assert_output --partial "devices_status_check"
}

@test "telemetry rows must carry exactly one value and be unique per device, measurement and time" {
	iot-migrate -q up >/dev/null
	q "insert into users (username) values ('u'); insert into devices (name, user_id) values ('d', 1)"
	q "insert into telemetry_data (device_id, measurement_name, ts, numeric_value) values (1, 't', now(), 1.5)"
	run q "insert into telemetry_data (device_id, measurement_name, ts, numeric_value, text_value) values (1, 't2', now(), 1, 'x')"
	assert_failure
	assert_output --partial "telemetry_data_one_value"
	run q "insert into telemetry_data (device_id, measurement_name, ts) values (1, 't3', now())"
	assert_failure
	assert_output --partial "telemetry_data_one_value"
	local ts; ts=$(q "select ts from telemetry_data limit 1")
	run q "insert into telemetry_data (device_id, measurement_name, ts, numeric_value) values (1, 't', '$ts', 2)"
	assert_failure
	assert_output --partial "duplicate key value violates unique constraint"
	assert_equal "$(q 'select count(*) from telemetry_data')" "1"
	# Deleting the device removes its telemetry too.
	q "delete from devices where id = 1"
	assert_equal "$(q 'select count(*) from telemetry_data')" "0"
}

@test "up creates partitions ahead; partitions adds more and can switch to monthly" {
	IOTFLOW_PARTITION_AHEAD=3 iot-migrate -q up >/dev/null
	parts() { q "select count(*) from pg_inherits where inhparent = 'telemetry_data'::regclass"; }
	assert_equal "$(parts)" "4"
	local today tomorrow
	today=$(date -u +%Y%m%d); tomorrow=$(date -u -d tomorrow +%Y%m%d)
	assert_equal "$(q "select to_regclass('telemetry_data_$today') is not null and to_regclass('telemetry_data_$tomorrow') is not null")" "t"
	run iot-migrate partitions --ahead 10
	assert_success
	assert_output '{"ahead":10,"created":7}'
	assert_equal "$(parts)" "11"
	run iot-migrate partitions --ahead 10
	assert_output '{"ahead":10,"created":0}'
	# A row for tomorrow lands in tomorrow's partition.
	q "insert into users (username) values ('u'); insert into devices (name, user_id) values ('d', 1)"
	q "insert into telemetry_data values (1, 't', now() + interval '1 day', 1, null, null, null, null)"
	assert_equal "$(q "select tableoid::regclass from telemetry_data")" "telemetry_data_$tomorrow"
	run iot-migrate partitions --interval month --ahead 3
	assert_success
	local m3; m3=$(date -u -d "$(date -u +%Y-%m-15) +3 months" +%Y%m)
	assert_equal "$(q "select to_regclass('telemetry_data_$m3') is not null")" "t"
	assert_equal "$(q "select value from iotflow_settings where key = 'partition_interval'")" "month"
}

@test "partitions are made while a query runs on telemetry_data, and hold up no reader or writer meanwhile" {
	IOTFLOW_PARTITION_AHEAD=1 iot-migrate -q up >/dev/null
	q "insert into users (username) values ('u'); insert into devices (name, user_id) values ('d', 1)"
	long_reader_start
	# Each waits at most a second for a lock: a partition made with
	# PARTITION OF would wait for the reader (ACCESS EXCLUSIVE on the parent).
	export PGOPTIONS='-c lock_timeout=1s'
	run iot-migrate partitions --ahead 12
	assert_success
	[[ $(jq .created <<<"$output") -ge 1 ]]
	# A backfilled day: the batch writer makes its partition.
	local day; day=$(date -u -d '-40 days' +%Y-%m-%d)
	run iot-ingest <<<"{\"device_id\":1,\"timestamp\":\"${day}T12:00:00Z\",\"data\":{\"t\":1}}"
	assert_success
	assert_equal "$(jq -c '[.stored, .rejected]' <<<"$output")" '[1,0]'
	q "insert into telemetry_data values (1, 't', now(), 2, null, null, null, null)"
	unset PGOPTIONS
	long_reader_end
	assert_equal "$(q "select count(*) from telemetry_data")" 2
	assert_equal "$(q "select tableoid::regclass from telemetry_data where ts < now() - interval '1 day'")" \
		"telemetry_data_${day//-/}"
	# Made as PARTITION OF would: the primary key and the one-value check.
	assert_equal "$(q "select count(*) from pg_constraint where conrelid = 'telemetry_data_${day//-/}'::regclass
		and conname in ('telemetry_data_${day//-/}_pkey', 'telemetry_data_one_value')")" 2
}

@test "two sessions making the same partition at once: one makes it, the other finds it made" {
	IOTFLOW_PARTITION_AHEAD=1 iot-migrate -q up >/dev/null
	local day i
	day=$(date -u -d '+40 days' +%Y-%m-%d)
	# The first holds its new partition uncommitted while the second tries.
	PGAPPNAME=iotflow-first psql -XAtq -c 'BEGIN' -c "SELECT iotflow_ensure_partition('$day')" \
		-c 'SELECT pg_sleep(2)' -c 'COMMIT' >"$BATS_TEST_TMPDIR/first" 2>&1 3>&- &
	local first=$!
	for ((i = 0; i < 100; i++)); do
		[[ $(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'iotflow-first' AND query LIKE '%pg_sleep%'") == 1 ]] && break
		sleep 0.1
	done
	run q "SELECT iotflow_ensure_partition('$day')"
	assert_success
	assert_output f
	wait "$first"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/first")" t
	assert_equal "$(q "SELECT count(*) FROM iotflow_partitions() WHERE name = 'telemetry_data_${day//-/}'")" 1
}

@test "an unreachable database exits 5, a missing SQL directory 3, a malformed connection string 2" {
	run env PGPORT=1 IOTFLOW_DB_RETRY_TIME=0 iot-migrate status
	assert_equal "$status" 5
	assert_output --partial "unable to connect to PostgreSQL"
	run iot-migrate --sql-dir "$BATS_TEST_TMPDIR/nowhere" status
	assert_equal "$status" 3
	run iot-migrate --db 'nonsense=1' status
	assert_equal "$status" 2
	assert_output --partial 'invalid PostgreSQL connection string (not shown'
	# The Flask database's string likewise (this database is not migrated:
	# import-telemetry and compare would stop at that before --from).
	run iot-migrate --from 'nonsense=1' import-flask
	assert_equal "$status" 2
	assert_output --partial 'invalid PostgreSQL connection string (not shown: it may hold a password) (--from)'
}

@test "the man page's examples run" {
	run iot-migrate up
	assert_success
	run iot-migrate status --format table
	assert_success
	assert_line --regexp '^version +name +state +applied_at$'
	run bash -c 'iot-migrate verify -q || echo "schema needs attention"'
	assert_output ""
	run iot-migrate partitions --ahead 14
	assert_success
}
