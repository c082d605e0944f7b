#!/usr/bin/env bats
# iot-mqtt-listen against the real broker, PostgreSQL and Redis: what devices
# publish is stored, at least once, and their status moves last_seen.

load helpers
load mqtt_listen_lib

setup_file() { listen_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { listen_setup; }
teardown() { listen_teardown; }

@test "iot-mqtt-listen --help, --version, bad option" {
	run --separate-stderr iot-mqtt-listen --help
	assert_success
	assert_output --partial "Usage: iot-mqtt-listen [OPTION]..."
	run iot-mqtt-listen --version
	assert_success
	assert_output --regexp '^iot-mqtt-listen \(IoTFlow\) '
	run --separate-stderr iot-mqtt-listen --no-such-option
	assert_equal "$status" 2
	[[ $stderr == *"Try 'iot-mqtt-listen --help'"* ]]
	run --separate-stderr iot-mqtt-listen --sessions 0
	assert_equal "$status" 2
	[[ $stderr == *"invalid --sessions '0' (1..64)"* ]]
	run --separate-stderr iot-mqtt-listen --share 'a/b'
	assert_equal "$status" 2
	run --separate-stderr iot-mqtt-listen extra
	assert_equal "$status" 2
}

@test "telemetry published with the device's key is stored" {
	start_listen
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{\"temperature\":22.5,\"state\":\"ok\"},\"timestamp\":\"2026-11-28T06:00:00Z\"}"
	pub "iotflow/devices/$A/telemetry/sensors/room1" "{\"api_key\":\"$KEY_A\",\"humidity\":40,\"timestamp\":\"2026-11-28T06:00:01Z\"}"
	wait_rows 3
	run q "select measurement_name, numeric_value, text_value, ts = '2026-11-28T06:00:00Z' from telemetry_data order by 1"
	assert_output "humidity|40||f
state||ok|t
temperature|22.5||t"
}

@test "kill -9 while 20,000 QoS 1 messages are published, then a restart: exactly 20,000 rows" {
	start_listen
	lines "$A" "$KEY_A" 20000 >"$IOTFLOW_TEST_TMP/burst"
	mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst" >"$IOTFLOW_TEST_TMP/pub.out" 3>&- &
	local pp=$!
	# Kill it mid-stream: once some rows are in, well before all.
	local i
	for ((i = 0; i < 300; i++)); do
		(($(rows) >= 2000)) && break
		sleep 0.05
	done
	kill -KILL "$LPID"
	wait "$LPID" 2>/dev/null || true
	local at_kill
	at_kill=$(rows)
	echo "# rows at kill -9: $at_kill" >&3
	((at_kill < 20000))
	wait "$pp"
	run cat "$IOTFLOW_TEST_TMP/pub.out"
	assert_output "acked 20000 of 20000"
	start_listen
	wait_rows 20000 "" 120
	sleep 1
	assert_equal "$(rows)" 20000
	assert_equal "$(q "select count(distinct ts) from telemetry_data")" 20000
}
