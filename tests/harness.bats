#!/usr/bin/env bats
# The test harness itself: the throwaway servers really answer, restart keeps
# port and data, and fresh_db hands out empty, distinct databases; and
# scripts/run.sh (make run) restarts servers that die and stops cleanly.

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

# scripts/run.sh (behind `make run`) in the background on a state dir of its
# own. Started with SIGINT at its default: a background job of a script
# would otherwise ignore it, as a shell's Ctrl-C would never be.
RUN_PID= RUN_STATE= IMPOSTOR=
start_run() { # STATE
	RUN_STATE=$1
	env --default-signal=INT "$IOTFLOW_ROOT/scripts/run.sh" "$RUN_STATE" > "$RUN_STATE.out" 2>&1 < /dev/null 3>&- &
	RUN_PID=$!
	run_said 'IoTFlow is running'
}
run_said() { # TEXT [N]: wait until run.sh said TEXT (N times); fail if it exits first
	local i
	for ((i = 0; i < 600; i++)); do
		(($(grep -cF -- "$1" "$RUN_STATE.out") >= ${2:-1})) && return 0
		kill -0 "$RUN_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "run.sh did not say '$1' (${2:-1} times); it said:"
	cat "$RUN_STATE.out"
	return 1
}
stop_run() { # SIGNAL: run.sh must exit 0 and leave no server of its state dir running
	local rc=0 kind file pid
	kill "-$1" "$RUN_PID"
	wait "$RUN_PID" || rc=$?
	RUN_PID=
	[[ $rc == 0 ]] || { echo "run.sh exited $rc on SIG$1:"; cat "$RUN_STATE.out"; return 1; }
	grep -q '^iotflow: stopped; data kept in ' "$RUN_STATE.out"
	while read -r kind file; do
		pid=$(head -n 1 "$file" 2>/dev/null) || continue
		_iot_pid_gone "$pid" || { echo "$kind (pid $pid) still running"; return 1; }
	done < <(_iot_stack_pidfiles "$RUN_STATE")
	run psql -X -h 127.0.0.1 -p "$(env_of PGPORT)" -U postgres -d iotflow -Atc 'select 1'
	assert_failure
}
env_of() { sed -n "s/^export $1=//p" "$RUN_STATE/env"; }
pid_in() { head -n 1 "$1"; }
teardown() {
	if [[ -n $RUN_STATE && -s $RUN_STATE/run.pid ]]; then kill -TERM "$(cat "$RUN_STATE/run.pid")" 2>/dev/null || true; fi
	if [[ -n $RUN_PID ]]; then kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" || true; fi
	if [[ -n $IMPOSTOR ]]; then kill "$(cat "$IMPOSTOR")" 2>/dev/null || true; fi
	if [[ -n $RUN_STATE ]]; then iot_stack_rm "$RUN_STATE" >/dev/null 2>&1 || true; fi
}

@test "run.sh: servers killed with -9 are started again, a moved port is announced; SIGTERM stops all, exit 0" {
	start_run "$BATS_TEST_TMPDIR/run"
	local st=$RUN_STATE pg redis mqtt
	pg=$(env_of PGPORT) redis=$(env_of IOTFLOW_REDIS_PORT) mqtt=$(env_of IOTFLOW_MQTT_PORT)
	kill -9 "$(pid_in "$st/redis/redis.pid")" "$(pid_in "$(_iot_pg_dir "$st")/data/postmaster.pid")" \
		"$(pid_in "$st/mosquitto/mosquitto.pid")"
	run_said ' is back on port ' 3
	run cat "$st.out"
	assert_line "iotflow: warning: PostgreSQL (port $pg) is gone; starting it again"
	assert_line "iotflow: PostgreSQL is back on port $pg"
	assert_line "iotflow: warning: Redis (port $redis) is gone; starting it again"
	assert_line "iotflow: Redis is back on port $redis"
	assert_line "iotflow: warning: Mosquitto (port $mqtt) is gone; starting it again"
	assert_line "iotflow: Mosquitto is back on port $mqtt"
	# Back with their data: the migrated schema, and they answer.
	run psql -X -h 127.0.0.1 -p "$pg" -U postgres -d iotflow -Atc "select to_regclass('devices') is not null"
	assert_output t
	run redis-cli -p "$redis" ping
	assert_output PONG
	# The broker answers, with the auth plugin loaded: anonymous is refused.
	run mosquitto_pub -p "$mqtt" -t iotflow/harness/x -m 1
	assert_failure
	assert_output --partial 'not authorised'

	# Redis dies while run.sh is not looking, and another server takes its port.
	kill -STOP "$RUN_PID"
	kill -9 "$(pid_in "$st/redis/redis.pid")"
	IMPOSTOR=$BATS_TEST_TMPDIR/impostor.pid
	redis-server --port "$redis" --bind 127.0.0.1 --daemonize yes --pidfile "$IMPOSTOR" \
		--dir "$BATS_TEST_TMPDIR" --save '' --logfile "$BATS_TEST_TMPDIR/impostor.log" 3>&-
	local i
	for ((i = 0; i < 100; i++)); do [[ $(redis-cli -p "$redis" ping 2>/dev/null) == PONG ]] && break; sleep 0.1; done
	kill -CONT "$RUN_PID"
	run_said 'iotflow: Redis is back, on a new port: '
	local moved
	moved=$(env_of IOTFLOW_REDIS_PORT)
	assert_not_equal "$moved" "$redis"
	run cat "$st.out"
	assert_line "iotflow: Redis is back, on a new port: $moved (was $redis). New values, also in $st/env:"
	assert_line "  export IOTFLOW_REDIS_PORT=$moved"
	assert_line "  export IOTFLOW_REDIS_URL=redis://127.0.0.1:$moved/0"
	# The new port is our Redis, not the impostor.
	assert_equal "$(redis-cli -p "$moved" info server | tr -d '\r' | sed -n 's/^process_id://p')" \
		"$(pid_in "$st/redis/redis.pid")"

	stop_run TERM
}

@test "run.sh: SIGINT (Ctrl-C) stops everything, exit 0; the next run has the data and the ports" {
	start_run "$BATS_TEST_TMPDIR/run"
	local pg redis mqtt
	pg=$(env_of PGPORT) redis=$(env_of IOTFLOW_REDIS_PORT) mqtt=$(env_of IOTFLOW_MQTT_PORT)
	psql -X -q -h 127.0.0.1 -p "$pg" -U postgres -d iotflow -c 'create table harness_run (x int)'
	stop_run INT
	start_run "$RUN_STATE"
	assert_equal "$(env_of PGPORT) $(env_of IOTFLOW_REDIS_PORT) $(env_of IOTFLOW_MQTT_PORT)" "$pg $redis $mqtt"
	run psql -X -h 127.0.0.1 -p "$pg" -U postgres -d iotflow -Atc "select to_regclass('harness_run') is not null"
	assert_output t
	stop_run INT
}

@test "run.sh under make, from a terminal: Ctrl-C stops it cleanly, make exits 0 and says nothing" {
	# A terminal: script(1) runs make on a pseudo-terminal and passes it what
	# we write, so a ^C byte is the terminal's SIGINT to its foreground group.
	local st=$BATS_TEST_TMPDIR/run fifo=$BATS_TEST_TMPDIR/keys
	RUN_STATE=$st
	mkdir -p "$st"
	printf 'run:\n\t@%s %s\n' "$IOTFLOW_ROOT/scripts/run.sh" "$st" > "$BATS_TEST_TMPDIR/Makefile"
	mkfifo "$fifo"
	env --default-signal=INT script -qefc "make --no-print-directory -f $BATS_TEST_TMPDIR/Makefile run" \
		/dev/null < "$fifo" > "$st.out" 2>&1 3>&- &
	RUN_PID=$!
	exec 4> "$fifo"
	run_said 'IoTFlow is running'
	printf '\003' >&4
	local i rc=0
	for ((i = 0; i < 600; i++)); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.1; done
	exec 4>&-
	if kill -0 "$RUN_PID" 2>/dev/null; then echo "still running after ^C:"; cat "$st.out"; return 1; fi
	wait "$RUN_PID" || rc=$?
	RUN_PID=
	run cat "$st.out"
	assert_equal "$rc" 0
	assert_line --partial 'iotflow: stopped; data kept in '
	refute_output --partial 'make: ***'
	refute_output --partial 'Interrupt'
}
