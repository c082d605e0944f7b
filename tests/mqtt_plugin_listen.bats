#!/usr/bin/env bats
# mqtt_plugin_listen.bats — iot-mqtt-listen behind the broker's auth/ACL
# plugin (iotflow-mosquitto(8)): logged in with a person's API token, it
# stores what devices may publish and nothing else, catches up on what was
# queued while it was away, works with legacy mode, and backs off when its
# login is refused. Real Mosquitto, PostgreSQL and Redis.

# shellcheck disable=SC2154 # $output, $status are set by bats' run
load helpers
load mqtt_plugin_lib

setup_file() { plugin_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { plugin_setup; }
teardown() { plugin_teardown; }

@test "behind the plugin: iot-mqtt-listen with a service token stores a device's own telemetry, and nothing it may not publish" {
	device d1
	local id1=$ID key1=$KEY
	device d2
	local id2=$ID tok log=$IOTFLOW_TEST_TMP/listen.log
	tok=$(token boss listener --admin)
	IOTFLOW_MQTT_URL=mqtt://boss:$tok@127.0.0.1:$IOTFLOW_MQTT_PORT \
		iot-mqtt-listen --trust-broker --client-id "listen-$BATS_TEST_NUMBER" 2>"$log" 3>&- &
	BG_PIDS+=($!)
	wait_for 100 grep -q "connected to" "$log"
	wait_for 50 subscribed "listen-$BATS_TEST_NUMBER-1"
	# Its own topic, no key in the payload (the broker checked it): stored.
	pub -u "$id1" -P "$key1" -q 1 -t "iotflow/devices/$id1/telemetry" -m '{"data":{"t":21.5}}'
	# Another device's topic: the broker drops it (MQTT 3.1.1 says nothing).
	pub -u "$id1" -P "$key1" -q 1 -t "iotflow/devices/$id2/telemetry" -m '{"data":{"t":99}}'
	pub -u "$id1" -P "$key1" -q 1 -t "iotflow/devices/$id1/telemetry" -m '{"data":{"after":1}}'
	wait_for 100 bash -c "[[ \$(psql -XAtc \"select count(*) from telemetry_data where measurement_name = 'after'\") == 1 ]]"
	run psql -XAtc "select device_id || ' ' || measurement_name || ' ' || numeric_value from telemetry_data order by measurement_name"
	assert_output "$id1 after 1
$id1 t 21.5"
	# A command the listener publishes (pending, as the broker being away
	# leaves it) reaches the device, and its answer is applied.
	local out=$BATS_TEST_TMPDIR/cmd.out cid st i
	bgsub "$out" -u "$id1" -P "$key1" -q 1 -t "iotflow/devices/$id1/commands/control" -C 1
	wait_for 50 subscribed "$id1" || true
	cid=$(psql -XAtqc "insert into device_control (device_id, command, expires_at)
	       values ($id1, 'reboot', now() + interval '10 minutes') returning id" | head -n 1)
	wait_for 150 grep -q '"command":"reboot"' "$out"
	pub -u "$id1" -P "$key1" -q 1 -t "iotflow/devices/$id1/commands/ack" -m "{\"command_id\":$cid,\"status\":\"completed\"}"
	for ((i = 0; i < 100; i++)); do
		st=$(psql -XAtc "select status from device_control where id = $cid")
		[[ $st == completed ]] && break
		sleep 0.1
	done
	assert_equal "$st" completed
}

# iot-mqtt-listen, logged in with an admin's token, is stopped (SIGTERM: the
# broker keeps its session) while a device publishes N readings, the broker
# restarted from its persistence file first when asked (the session comes
# back without a login: the plugin has never seen it), then started again:
# all N are stored.
listener_away() { # N [broker-restart]
	device d1
	local n=$1 tok log=$IOTFLOW_TEST_TMP/listen.log cid="listen-$BATS_TEST_NUMBER" i
	tok=$(token boss listener --admin)
	start() {
		IOTFLOW_MQTT_URL=mqtt://boss:$tok@127.0.0.1:$IOTFLOW_MQTT_PORT \
			iot-mqtt-listen --trust-broker --client-id "$cid" 2>>"$log" 3>&- &
		LPID=$!
		BG_PIDS+=($LPID)
	}
	start
	wait_for 50 subscribed "$cid-1"
	kill -TERM "$LPID"
	wait "$LPID" || true
	if [[ -n ${2:-} ]]; then
		iot_mqtt_stop
		iot_mqtt_start
	fi
	for ((i = 1; i <= n; i++)); do
		pub -u "$ID" -P "$KEY" -q 1 -t "iotflow/devices/$ID/telemetry" -m "{\"data\":{\"n\":$i}}"
	done
	start
	wait_for 150 bash -c "[[ \$(psql -XAtc 'select count(*) from telemetry_data') == $n ]]"
	run psql -XAtc "select count(distinct numeric_value) from telemetry_data where device_id = $ID"
	assert_output "$n"
}

@test "behind the plugin: what devices publish while iot-mqtt-listen is stopped is stored once it is back" {
	listener_away 20
}

@test "behind the plugin: what devices publish while the broker restarts with iot-mqtt-listen away is stored once it is back" {
	listener_away 10 broker-restart
}

@test "behind the plugin: a restored session's queue goes only to a login that may read it" {
	device d1
	local key1=$KEY id1=$ID
	device d2
	local f=$IOTFLOW_TEST_TMP/d2.out
	# d1 leaves a persistent session subscribed to its commands.
	sub -u "$id1" -P "$key1" -i "dev-$id1" -c -q 1 -t "iotflow/devices/$id1/commands/#" -W 2 >/dev/null || true
	iot_mqtt_stop
	iot_mqtt_start
	local tok; tok=$(token alice svc)
	pub -u alice -P "$tok" -q 1 -t "iotflow/devices/$id1/commands/control" -m '{"command":"one"}'
	# Device d2 resumes that session under d1's client id: the queued
	# command is not d2's to read.
	sub -u "$ID" -P "$KEY" -i "dev-$id1" -c -q 1 -t "iotflow/devices/$ID/commands/#" -W 2 >"$f" 2>&1 || true
	run cat "$f"
	refute_output --partial one
	# d1 itself gets what is queued for it afterwards.
	pub -u alice -P "$tok" -q 1 -t "iotflow/devices/$id1/commands/control" -m '{"command":"two"}'
	iot_mqtt_stop
	iot_mqtt_start
	pub -u alice -P "$tok" -q 1 -t "iotflow/devices/$id1/commands/control" -m '{"command":"three"}'
	# The first in the queue: 'one' went at d2's login, 'two' was never
	# queued for d2.
	run sub -u "$id1" -P "$key1" -i "dev-$id1" -c -q 1 -t "iotflow/devices/$id1/commands/#" -C 1 -W 5
	assert_output --partial three
}

@test "legacy mode behind the plugin: an anonymous client's payload with its device's key is stored, another device's key is not" {
	export IOT_MOSQUITTO_PLUGIN_OPTS='plugin_opt_legacy_anonymous true'
	broker_restart
	device d1
	local id1=$ID key1=$KEY
	device d2
	local key2=$KEY tok log=$IOTFLOW_TEST_TMP/legacy-listen.log
	tok=$(token boss listener --admin)
	# Without --trust-broker: in legacy mode every payload proves whose it is.
	IOTFLOW_MQTT_URL=mqtt://boss:$tok@127.0.0.1:$IOTFLOW_MQTT_PORT \
		iot-mqtt-listen --client-id "legacy-$BATS_TEST_NUMBER" 2>"$log" 3>&- &
	BG_PIDS+=($!)
	wait_for 100 grep -q "connected to" "$log"
	wait_for 50 subscribed "legacy-$BATS_TEST_NUMBER-1"
	pub -q 1 -t "iotflow/devices/$id1/telemetry/sensors" -m "{\"api_key\":\"$key1\",\"temperature\":21.5}"
	pub -q 1 -t "iotflow/devices/$id1/telemetry/sensors" -m "{\"api_key\":\"$key2\",\"temperature\":99}"
	pub -q 1 -t "iotflow/devices/$id1/telemetry/sensors" -m '{"temperature":98}'
	pub -q 1 -t "iotflow/devices/$id1/telemetry/sensors" -m "{\"api_key\":\"$key1\",\"after\":1}"
	wait_for 100 bash -c "[[ \$(psql -XAtc \"select count(*) from telemetry_data where measurement_name = 'after'\") == 1 ]]"
	run psql -XAtc "select device_id || ' ' || measurement_name || ' ' || numeric_value from telemetry_data order by measurement_name"
	assert_output "$id1 after 1
$id1 temperature 21.5"
	grep -q "refused: api_key does not belong to device $id1\|refused: .*key" "$log"
	grep -q "refused: missing api_key" "$log"
}

@test "iot-mqtt-listen whose login the broker refuses backs off (a handful of attempts, one warning), and connects once it may" {
	local tok log=$IOTFLOW_TEST_TMP/refused-listen.log cid="refused-$BATS_TEST_NUMBER" pid n
	tok=$(token boss listener --admin)
	iot-user disable boss >/dev/null
	IOTFLOW_MQTT_URL=mqtt://boss:$tok@127.0.0.1:$IOTFLOW_MQTT_PORT \
		iot-mqtt-listen --trust-broker --client-id "$cid" 2>"$log" 3>&- &
	pid=$!
	BG_PIDS+=($pid)
	sleep 12
	kill -0 "$pid"
	# The broker's count (it is the only client): 0.25 s doubling to 30 s
	# is about 8 in 12 s (it was tens of thousands: every refused CONNACK
	# reconnected at once).
	n=$(grep -c "disconnected, not authorised" "$IOTFLOW_STATE_DIR/mosquitto/mosquitto.log" || true)
	echo "# $n logins refused in 12 s" >&3
	((n >= 2 && n <= 15))
	run cat "$log"
	assert_line --index 0 --partial "warning: session $cid-1: the broker at 127.0.0.1:$IOTFLOW_MQTT_PORT refused the login: Not authorized; check the user and password of mqtt_url"
	((${#lines[@]} == 1))
	iot-user enable boss >/dev/null
	# The next attempt comes within the longest backoff step (30 s).
	wait_for 400 grep -q "info: session $cid-1 connected to .*after [0-9]* refused logins" "$log"
	wait_for 50 subscribed "$cid-1"
	kill -0 "$pid"
}

@test "behind the plugin: iot-httpd whose broker login is refused says so once, keeps trying, and sends commands once let in" {
	device d1
	local tok port log=$BATS_TEST_TMPDIR/httpd.log out=$BATS_TEST_TMPDIR/cmd.out pid
	tok=$(token boss sender --admin)
	iot-user disable boss >/dev/null
	port=$(_iot_pick_port)
	IOTFLOW_MQTT_URL=mqtt://boss:$tok@127.0.0.1:$IOTFLOW_MQTT_PORT \
		iot-httpd --listen "127.0.0.1:$port" 2>"$log" 3>&- &
	BG_PIDS+=($!)
	wait_for 100 curl -sf -o /dev/null "http://127.0.0.1:$port/health"
	wait_for 50 grep -q "warning: the broker at 127.0.0.1:$IOTFLOW_MQTT_PORT refused the login of mqtt_url: Not authorized" "$log"
	# Tried again with backoff (1 s, 2 s, ...), told once.
	wait_for 50 bash -c "(( \$(grep -c 'disconnected, not authorised' '$IOTFLOW_STATE_DIR/mosquitto/mosquitto.log') >= 2 ))"
	assert_equal "$(grep -c 'refused the login' "$log")" 1
	# Let in again (it was a disabled person, not a wrong token): it connects
	# by itself, within the longest backoff step.
	iot-user enable boss >/dev/null
	wait_for 400 grep -q "info: connected to the broker at 127.0.0.1:$IOTFLOW_MQTT_PORT, after [0-9]* refused logins" "$log"
	bgsub "$out" -u "$ID" -P "$KEY" -i dev -q 1 -t "iotflow/devices/$ID/commands/control" -C 1
	pid=$!
	wait_for 50 subscribed dev
	run curl -s -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $tok" \
		-d '{"command":"reboot"}' "http://127.0.0.1:$port/api/v1/devices/$ID/control"
	assert_equal "$(jq -r .status <<<"$output")" sent
	wait "$pid"
	assert_equal "$(jq -r .command "$out")" reboot
	! grep -qF "$tok" "$log"
}
