#!/usr/bin/env bats
# iot-mqtt-listen when the servers go away mid-stream: PostgreSQL restarted,
# the broker restarted. Nothing the broker acknowledged to a publisher is lost.

load helpers
load mqtt_listen_lib

setup_file() { listen_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { listen_setup; }
teardown() { listen_teardown; }

@test "PostgreSQL restarted during the flow: the listener holds the messages and loses nothing" {
	start_listen --share "$GROUP" --sessions 3
	lines "$A" "$KEY_A" 10000 >"$IOTFLOW_TEST_TMP/burst"
	mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst" >"$BATS_TEST_TMPDIR/pub.out" 3>&- &
	local pp=$! i
	for ((i = 0; i < 300; i++)); do
		(($(rows) >= 1000)) && break
		sleep 0.05
	done
	iot_pg_stop
	sleep 2
	iot_pg_start
	wait "$pp"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pub.out")" "acked 10000 of 10000"
	wait_rows 10000 "" 60
	kill -0 "$LPID"
	sleep 0.5
	assert_equal "$(rows)" 10000
}

@test "the broker restarted during the flow: the listener reconnects on its own, nothing acknowledged is lost" {
	start_listen
	lines "$A" "$KEY_A" 20000 >"$IOTFLOW_TEST_TMP/burst1"
	lines "$A" "$KEY_A" 5000 20000 >"$IOTFLOW_TEST_TMP/burst2"
	# Every message of the first burst is acknowledged by the broker, then
	# the broker stops while the listener still works through its queue.
	run mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst1"
	assert_output "acked 20000 of 20000"
	iot_mqtt_stop
	echo "# rows when the broker stopped: $(rows)" >&3
	sleep 1
	iot_mqtt_start
	wait_log "lost the broker"
	run mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst2"
	assert_output "acked 5000 of 5000"
	wait_rows 25000 "" 120
	kill -0 "$LPID"
	sleep 0.5
	assert_equal "$(rows)" 25000
	grep -q "the broker kept its session" "$LOG"
}

@test "kill -9 of the default listener (one session, plain subscriptions) mid-stream, then a restart: exactly 10,000 rows" {
	start_listen
	lines "$A" "$KEY_A" 10000 >"$IOTFLOW_TEST_TMP/burst"
	mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst" >"$BATS_TEST_TMPDIR/pub.out" 3>&- &
	local pp=$! i
	for ((i = 0; i < 300; i++)); do
		(($(rows) >= 1000)) && break
		sleep 0.05
	done
	kill -KILL "$LPID"
	wait "$LPID" 2>/dev/null || true
	LPID=
	echo "# rows at kill -9: $(rows)" >&3
	wait "$pp"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pub.out")" "acked 10000 of 10000"
	start_listen
	wait_rows 10000 "" 120
	sleep 0.5
	assert_equal "$(rows)" 10000
}
