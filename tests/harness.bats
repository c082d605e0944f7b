#!/usr/bin/env bats
# The test harness itself: the throwaway servers really answer, restart keeps
# port and data, and fresh_db hands out empty, distinct databases.

load helpers

setup_file() { stack_setup_file; }
teardown_file() { stack_teardown_file; }

@test "harness: environment points at the throwaway servers" {
	assert_equal "$PGHOST" 127.0.0.1
	assert_equal "$PGUSER" postgres
	assert_equal "$IOTFLOW_REDIS_URL" "redis://127.0.0.1:$IOTFLOW_REDIS_PORT/0"
	assert_equal "$IOTFLOW_MQTT_URL" "mqtt://127.0.0.1:$IOTFLOW_MQTT_PORT"
	assert [ -f "$IOTFLOW_PG_DATA/PG_VERSION" ]
	run bash -c 'source "$IOTFLOW_STATE_DIR/env" && echo "$PGPORT $IOTFLOW_REDIS_PORT $IOTFLOW_MQTT_PORT"'
	assert_success
	assert_output "$PGPORT $IOTFLOW_REDIS_PORT $IOTFLOW_MQTT_PORT"
}

@test "harness: PostgreSQL answers on its port, database iotflow exists" {
	run psql -X -Atc 'select 1'
	assert_success
	assert_output 1
	run psql -X -Atc 'select current_database(), inet_server_port()'
	assert_output "iotflow|$PGPORT"
}

@test "harness: Redis answers PING and keeps a value" {
	run redis-cli -p "$IOTFLOW_REDIS_PORT" ping
	assert_output PONG
	run redis-cli -p "$IOTFLOW_REDIS_PORT" set harness:k v1
	assert_output OK
	run redis-cli -p "$IOTFLOW_REDIS_PORT" get harness:k
	assert_output v1
}

@test "harness: mosquitto delivers a published message to a subscriber" {
	local out=$BATS_TEST_TMPDIR/sub.out
	mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t 'iotflow/harness/#' -v -C 1 -W 5 >"$out" 2>&1 3>&- &
	local sub=$!
	# Publish until the subscriber (which needs a moment to subscribe) got it.
	local i
	for ((i = 0; i < 40; i++)); do
		mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -t iotflow/harness/ping -m "hello $i"
		[[ -s $out ]] && break
		sleep 0.1
	done
	wait "$sub"
	run cat "$out"
	assert_output --regexp '^iotflow/harness/ping hello [0-9]+$'
}

@test "harness: PostgreSQL restart keeps port and data" {
	local port=$PGPORT
	psql -X -q -v ON_ERROR_STOP=1 -c 'create table harness_keep (x int)' -c 'insert into harness_keep values (42)'
	iot_pg_stop
	run psql -X -Atc 'select 1'
	assert_failure
	iot_pg_start
	run psql -X -Atc 'select inet_server_port(), x from harness_keep'
	assert_success
	assert_output "$port|42"
}

@test "harness: Redis and mosquitto restart on the same ports" {
	iot_redis_stop
	run redis-cli -p "$IOTFLOW_REDIS_PORT" ping
	refute_output PONG
	iot_redis_start
	run redis-cli -p "$IOTFLOW_REDIS_PORT" ping
	assert_output PONG

	iot_mqtt_stop
	run mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -t iotflow/harness/x -m 1
	assert_failure
	iot_mqtt_start
	run mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -t iotflow/harness/x -m 1
	assert_success
}

@test "harness: a retained message survives a broker restart" {
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -t iotflow/harness/retained -m kept
	iot_mqtt_stop
	iot_mqtt_start
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t iotflow/harness/retained -C 1 -W 5
	assert_success
	assert_output kept
}

@test "harness: fresh_db gives an empty, distinct database" {
	fresh_db
	local first=$PGDATABASE
	assert_equal "$(psql -X -Atc 'select current_database()')" "$first"
	run psql -X -Atc "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'"
	assert_output 0
	psql -X -q -c 'create table only_in_first (x int)'

	fresh_db
	assert_not_equal "$PGDATABASE" "$first"
	run psql -X -Atc "select to_regclass('only_in_first') is null"
	assert_output t
	run psql -X -d "$first" -Atc "select to_regclass('only_in_first') is not null"
	assert_output t
}

@test "harness: fresh_db TEMPLATE clones a database" {
	iot_db_fresh harness_tpl
	psql -X -q -c 'create table from_tpl (x int)' -c 'insert into from_tpl values (7)'
	export PGDATABASE=iotflow
	fresh_db harness_tpl
	assert_not_equal "$PGDATABASE" harness_tpl
	run psql -X -Atc 'select x from from_tpl'
	assert_output 7
}

@test "harness: migrated_template fails clearly without bin/iot-migrate" {
	IOTFLOW_ROOT=$BATS_TEST_TMPDIR run migrated_template
	assert_failure
	assert_output --partial 'iot-migrate is not built'
}

@test "harness: migrated_template + fresh_db --migrated give a migrated copy" {
	[[ -x $IOTFLOW_ROOT/bin/iot-migrate ]] || skip "bin/iot-migrate not built yet"
	migrated_template
	fresh_db --migrated
	run psql -X -Atc "select count(*) > 0 from pg_tables where schemaname = 'public'"
	assert_output t
}
