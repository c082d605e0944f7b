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
	run --separate-stderr iot-mqtt-listen --sessions 2
	assert_equal "$status" 2
	[[ $stderr == *"several sessions need a shared-subscription group (--share)"* ]]
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
	start_listen --share "$GROUP" --sessions 4
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
	LPID=
	local at_kill
	at_kill=$(rows)
	echo "# rows at kill -9: $at_kill" >&3
	((at_kill < 20000))
	wait "$pp"
	run cat "$IOTFLOW_TEST_TMP/pub.out"
	assert_output "acked 20000 of 20000"
	# The same sessions again: the broker kept what they had not acknowledged.
	start_listen --share "$GROUP" --sessions 4
	wait_rows 20000 "" 120
	sleep 1
	assert_equal "$(rows)" 20000
	assert_equal "$(q "select count(distinct ts) from telemetry_data")" 20000
}

@test "the Flask simulator's and firmware's payloads (compat 2.8) are stored with their values and times" {
	start_listen
	local t=iotflow/devices/$A/telemetry
	# simulators/mqtt_device_simulator.py: readings as {"value","unit"}, identity beside data.
	pub "$t/sensors" "{\"device_id\":$A,\"device_name\":\"sim-1\",\"device_type\":\"environmental\",\"location\":\"lab\",\"timestamp\":\"2026-11-21T19:59:28.123456Z\",\"data\":{\"temperature\":{\"value\":22.1,\"unit\":\"C\",\"timestamp\":\"x\"},\"humidity\":{\"value\":45,\"unit\":\"%\"}},\"metadata\":{\"firmware_version\":\"1.0.0-sim\",\"battery_level\":88},\"api_key\":\"$KEY_A\"}"
	# esp32_mqtt_client.ino: "<millis/1000>" seconds since boot -> the arrival time (noted, counted).
	pub "$t/sensors" "{\"api_key\":\"$KEY_A\",\"timestamp\":\"123\",\"data\":{\"wifi_rssi\":-61},\"metadata\":{\"device_type\":\"esp32\"}}"
	# main.cpp: flat, "ts", a failed sensor (null) beside sensor_error.
	pub "$t/sensors" "{\"api_key\":\"$KEY_A\",\"ts\":\"2026-11-21T10:00:00Z\",\"temperature\":null,\"sensor_error\":\"DHT_READ_FAILED\",\"free_heap\":20000,\"led_state\":1}"
	# main_api_key_only.cpp: flat with device_id and no timestamp.
	pub "$t/sensors" "{\"api_key\":\"$KEY_A\",\"device_id\":$A,\"cpu_temp\":51.5}"
	# scripts/send_mqtt_telemetry_*.py: the key in the metadata too (never stored).
	pub "$t" "{\"data\":{\"pressure\":1013.25},\"metadata\":{\"source\":\"script\",\"api_key\":\"$KEY_A\"},\"timestamp\":\"2026-11-21T12:00:00+00:00Z\",\"api_key\":\"$KEY_A\"}"
	wait_rows 8
	run q "select measurement_name, coalesce(numeric_value::text, text_value), to_char(ts at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), metadata->>'unit', metadata->>'device_name', metadata->>'battery_level', metadata ? 'api_key' from telemetry_data where measurement_name not in ('wifi_rssi', 'cpu_temp') order by 1"
	assert_output "free_heap|20000|2026-11-21 10:00:00.000000||||
humidity|45|2026-11-21 19:59:28.123456|%|sim-1|88|f
led_state|1|2026-11-21 10:00:00.000000||||
pressure|1013.25|2026-11-21 12:00:00.000000||||f
sensor_error|DHT_READ_FAILED|2026-11-21 10:00:00.000000||||
temperature|22.1|2026-11-21 19:59:28.123456|C|sim-1|88|f"
	# No timestamp, or an unusable one: the arrival time (within the last minute).
	assert_equal "$(rows "measurement_name in ('wifi_rssi', 'cpu_temp') and ts > now() - interval '1 minute'")" 2
	grep -qF "iotflow/devices/$A/telemetry/sensors: timestamp \"123\" is before the earliest or too far in the future: stored with the arrival time" "$LOG"
}

@test "every timestamp form devices send: epoch s/ms/float, ISO without zone, space, US and EU forms" {
	start_listen
	local t=iotflow/devices/$A/telemetry f
	local forms=(1763755168 1763755168123 1763755168.5 '"1763755168"' '"2025-11-21T19:59:28"'
		'"2025-11-21 19:59:28"' '"2025-11-21 19:59:28.250"' '"11/21/2025 19:59:28"' '"21/11/2025 19:59:28"')
	local i=0
	for f in "${forms[@]}"; do
		pub "$t" "{\"api_key\":\"$KEY_A\",\"timestamp\":$f,\"data\":{\"m$i\":$i}}"
		i=$((i + 1))
	done
	pub "$t" "{\"api_key\":\"$KEY_A\",\"timestamp\":\"20251121_195928\",\"data\":{\"late\":1}}"
	wait_rows 10
	run q "select measurement_name || ' ' || to_char(ts at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') from telemetry_data where measurement_name <> 'late' order by 1"
	assert_output "m0 2025-11-21 19:59:28.000
m1 2025-11-21 19:59:28.123
m2 2025-11-21 19:59:28.500
m3 2025-11-21 19:59:28.000
m4 2025-11-21 19:59:28.000
m5 2025-11-21 19:59:28.000
m6 2025-11-21 19:59:28.250
m7 2025-11-21 19:59:28.000
m8 2025-11-21 19:59:28.000"
	assert_equal "$(rows "measurement_name = 'late' and ts > now() - interval '1 minute'")" 1
	grep -q 'timestamp "20251121_195928" is not an ISO-8601 date and time' "$LOG"
}

@test "a device that keeps sending what is refused: 20 notices in 10 s, then how many were left out; every one counted" {
	local port
	port=$(_iot_pick_port)
	start_listen --metrics-listen "127.0.0.1:$port"
	local i
	for ((i = 0; i < 100; i++)); do
		echo "iotflow/devices/$A/telemetry {\"api_key\":\"$KEY_A\",\"data\":{}}"
	done >"$BATS_TEST_TMPDIR/bad"
	run mqtt_pub 20 <"$BATS_TEST_TMPDIR/bad"
	assert_output "acked 100 of 100"
	# The broker acknowledged them; the listener may still be at them.
	for ((i = 0; i < 100; i++)); do
		curl -s "http://127.0.0.1:$port/metrics" | grep -qx 'iotflow_mqtt_messages_rejected_total{reason="invalid"} 100' && break
		sleep 0.1
	done
	run curl -s "http://127.0.0.1:$port/metrics"
	assert_line 'iotflow_mqtt_messages_rejected_total{reason="invalid"} 100'
	assert_equal "$(grep -c 'refused: no data' "$LOG")" 20
	# The next window's first notice says what the last one left out.
	sleep 10.2
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{}}"
	for ((i = 0; i < 50; i++)); do
		(($(grep -c 'refused: no data' "$LOG") == 21)) && break
		sleep 0.1
	done
	assert_equal "$(grep -c 'refused: no data' "$LOG")" 21
	grep -q '80 more notices of refused messages or replaced timestamps were left out' "$LOG"
}

@test "malformed payloads are refused with their reason, counted in /metrics (promtool), and the listener goes on" {
	local port
	port=$(_iot_pick_port)
	start_listen --metrics-listen "127.0.0.1:$port"
	local t=iotflow/devices/$A/telemetry
	pub "$t" 'not json at all'
	pub "$t" "{\"api_key\":\"$KEY_A\",\"data\":{\"x\":NaN}}"
	pub "$t" "{\"api_key\":\"$KEY_A\",\"data\":{}}"
	pub "iotflow/devices/$A/status/connectivity" '{"connected":true}'
	pub "iotflow/devices/$A/commands/ack" "{\"api_key\":\"$KEY_A\",\"command_id\":1,\"status\":\"done\"}"
	# Plain text where JSON is looked for (the key is looked up in it): a
	# refusal each, not a crash, and not redelivered for ever.
	pub "iotflow/devices/$A/status/heartbeat" 'alive'
	pub "iotflow/devices/$A/status/online" 'online'
	pub "iotflow/devices/$A/commands/ack" 'done'
	pub "$t" "{\"api_key\":\"$KEY_A\",\"data\":{\"ok\":1}}"
	wait_rows 1
	kill -0 "$LPID"
	run grep refused "$LOG"
	assert_line --partial "iotflow/devices/$A/telemetry: refused: invalid JSON at column 3: a record must be a JSON object or array"
	assert_line --partial "refused: invalid JSON at column 77: invalid token near 'NaN'"
	assert_line --partial "iotflow/devices/$A/telemetry: refused: no data"
	assert_line --partial "iotflow/devices/$A/status/connectivity: refused: not a status this listener handles"
	assert_line --partial "iotflow/devices/$A/status/heartbeat: refused: missing api_key"
	assert_line --partial "iotflow/devices/$A/status/online: refused: missing api_key"
	assert_line --partial "iotflow/devices/$A/commands/ack: refused: missing api_key"
	run curl -s "http://127.0.0.1:$port/metrics"
	assert_success
	printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/metrics"
	if command -v promtool >/dev/null; then
		run promtool check metrics <"$BATS_TEST_TMPDIR/metrics"
		assert_success
	fi
	run cat "$BATS_TEST_TMPDIR/metrics"
	assert_line 'iotflow_mqtt_messages_rejected_total{reason="invalid"} 3'
	assert_line 'iotflow_mqtt_messages_rejected_total{reason="bad_topic"} 1'
	assert_line 'iotflow_mqtt_messages_rejected_total{reason="unknown_command"} 1'
	assert_line 'iotflow_mqtt_messages_rejected_total{reason="denied"} 3'
	assert_line 'iotflow_mqtt_messages_received_total{kind="telemetry"} 4'
	assert_line 'iotflow_mqtt_messages_received_total{kind="status"} 3'
	assert_line 'iotflow_mqtt_messages_received_total{kind="command_ack"} 2'
	assert_line 'iotflow_mqtt_messages_stored_total 1'
	assert_line 'iotflow_mqtt_sessions_connected 1'
	assert_line --regexp '^iotflow_mqtt_commit_wait_seconds_count [1-9]'
	# Secrets never appear in the log.
	! grep -qF "$KEY_A" "$LOG"
}

@test "without --trust-broker a payload needs the topic's device's key; another device's key stores nothing" {
	start_listen
	local t=iotflow/devices/$A/telemetry
	pub "$t" '{"data":{"nokey":1}}'
	pub "$t" "{\"api_key\":\"$KEY_B\",\"data\":{\"bkey\":1}}"
	pub "$t" "{\"api_key\":\"$KEY_A\",\"device_id\":$B,\"data\":{\"otherid\":1}}"
	pub "$t" '{"api_key":"iotf_not-a-key","data":{"badkey":1}}'
	pub "iotflow/devices/$OFF/telemetry" "{\"api_key\":\"$KEY_OFF\",\"data\":{\"inactive\":1}}"
	# An inactive device's answer moves none of its commands (as over HTTP: 403).
	local cid
	cid=$(q "insert into device_control (device_id, command, status, expires_at)
	         values ($OFF, 'reboot', 'sent', now() + interval '10 minutes') returning id" | head -n 1)
	pub "iotflow/devices/$OFF/commands/ack" "{\"api_key\":\"$KEY_OFF\",\"command_id\":$cid,\"status\":\"completed\"}"
	pub "$t" "{\"api_key\":\"$KEY_A\",\"data\":{\"good\":1}}"
	wait_rows 1
	sleep 0.5
	assert_equal "$(q "select measurement_name from telemetry_data")" good
	assert_equal "$(q "select status from device_control where id = $cid")" sent
	grep -q "iotflow/devices/$OFF/commands/ack: refused: device $OFF is inactive" "$LOG"
	grep -q "refused: missing api_key" "$LOG"
	grep -q "refused: api_key does not belong to device $A" "$LOG"
	grep -q "refused: invalid API key" "$LOG"
	grep -q "refused: device $OFF is inactive" "$LOG"
}

@test "--trust-broker: a payload without a key is the topic's device's; a key given is still checked" {
	start_listen --trust-broker
	local t=iotflow/devices/$A/telemetry
	pub "$t" '{"data":{"nokey":1}}'
	pub "$t" "{\"api_key\":\"$KEY_B\",\"data\":{\"bkey\":1}}"
	pub "$t" "{\"api_key\":\"$KEY_A\",\"data\":{\"akey\":1}}"
	# Answers that are not JSON, nothing at all included: refused, saying why.
	pub "iotflow/devices/$A/commands/ack" 'done'
	mosquitto_pub -h 127.0.0.1 -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$A/commands/ack" -n
	wait_rows 2
	sleep 0.5
	assert_equal "$(q "select string_agg(measurement_name, ',' order by measurement_name) from telemetry_data")" "akey,nokey"
	wait_log "iotflow/devices/$A/commands/ack: refused: ack: empty (a JSON object is expected)"
	grep -qF "iotflow/devices/$A/commands/ack: refused: invalid JSON at column" "$LOG"
}

@test "status: a last will marks the device offline, not inactive; online and heartbeat move last_seen" {
	start_listen
	local s=iotflow/devices/$A/status
	pub "$s/online" "{\"api_key\":\"$KEY_A\",\"status\":\"online\",\"device_id\":$A}"
	for _ in $(seq 50); do [[ $(iot-device show "$A" | jq .online) == true ]] && break; sleep 0.1; done
	assert_equal "$(iot-device show "$A" | jq -r '.online, .status' | paste -sd ' ')" "true active"
	# The ESP32's last will: plain text "offline", sent by the broker when its connection dies.
	mosquitto_sub -h 127.0.0.1 -p "$IOTFLOW_MQTT_PORT" -i "esp32_$A" -t "iotflow/devices/$A/commands/control" \
		--will-topic "$s/offline" --will-payload offline --will-qos 1 --will-retain -k 5 >/dev/null 3>&- &
	local sub=$!
	sleep 0.5
	kill -KILL "$sub"
	wait "$sub" 2>/dev/null || true
	for _ in $(seq 100); do [[ $(iot-device show "$A" | jq .online) == false ]] && break; sleep 0.1; done
	assert_equal "$(iot-device show "$A" | jq -r '.online, .status' | paste -sd ' ')" "false active"
	assert_equal "$(q "select status from devices where id = $A")" active
	# A heartbeat brings it back and moves last_seen.
	q "update devices set last_seen = now() - interval '1 hour' where id = $B"
	pub "iotflow/devices/$B/status/heartbeat" "{\"api_key\":\"$KEY_B\",\"status\":\"alive\",\"uptime\":5}"
	pub "$s/heartbeat" "{\"api_key\":\"$KEY_A\",\"status\":\"alive\",\"uptime\":5}"
	for _ in $(seq 50); do [[ $(iot-device show "$A" | jq .online) == true ]] && break; sleep 0.1; done
	assert_equal "$(iot-device show "$A" | jq -r .online)" true
	assert_equal "$(q "select last_seen > now() - interval '1 minute' from devices where id = $B")" t
	# A heartbeat without the key moves nothing.
	q "update devices set last_seen = now() - interval '1 hour' where id = $B"
	pub "iotflow/devices/$B/status/heartbeat" '{"status":"alive"}'
	wait_log "iotflow/devices/$B/status/heartbeat: refused: missing api_key"
	assert_equal "$(q "select last_seen < now() - interval '50 minutes' from devices where id = $B")" t
}

@test "--print writes NDJSON that iot-ingest stores as the same rows as storing directly" {
	start_listen
	local direct=$PGDATABASE
	iot-mqtt-listen --client-id "p$GROUP" --session-expiry 600 --print >"$BATS_TEST_TMPDIR/out.ndjson" 2>>"$LOG" 3>&- &
	local ppid=$!
	wait_log "session p$GROUP-1 connected" 100
	local t=iotflow/devices/$A/telemetry
	pub "$t" "{\"api_key\":\"$KEY_A\",\"timestamp\":\"2026-11-21T19:59:28.5Z\",\"data\":{\"temperature\":{\"value\":22.1,\"unit\":\"C\"},\"rh\":40,\"s\":\"ok\",\"b\":true,\"j\":{\"x\":[1,2]}},\"metadata\":{\"fw\":\"1\"}}"
	pub "$t" "{\"api_key\":\"$KEY_A\",\"ts\":1763755168,\"volts\":3.3}"
	wait_rows 6
	for _ in $(seq 50); do (($(wc -l <"$BATS_TEST_TMPDIR/out.ndjson") >= 3)) && break; sleep 0.1; done
	kill -TERM "$ppid"
	wait "$ppid"
	! grep -qF "$KEY_A" "$BATS_TEST_TMPDIR/out.ndjson"
	fresh_db --migrated
	run iot-ingest "$BATS_TEST_TMPDIR/out.ndjson"
	assert_success
	local cols="device_id, measurement_name, ts, numeric_value, text_value, boolean_value, json_value, metadata"
	assert_equal "$(q "select $cols from telemetry_data order by 2")" \
		"$(PGDATABASE=$direct q "select $cols from telemetry_data order by 2")"
	assert_equal "$(rows)" 6
}

@test "SIGTERM drains: what was read is committed and acknowledged, exit 0, nothing lost after a restart" {
	start_listen
	lines "$A" "$KEY_A" 5000 >"$IOTFLOW_TEST_TMP/burst"
	mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst" >"$BATS_TEST_TMPDIR/pub.out"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pub.out")" "acked 5000 of 5000"
	kill -TERM "$LPID"
	local rc=0
	wait "$LPID" || rc=$?
	LPID=
	assert_equal "$rc" 0
	local at_stop
	at_stop=$(rows)
	echo "# rows at SIGTERM: $at_stop" >&3
	start_listen
	wait_rows 5000 "" 60
	# Nothing the stopped listener had read came again: its PUBACKs left before it went.
	sleep 1
	assert_equal "$(q "select coalesce(sum(count), 0) from telemetry_hourly")" 5000
}

@test "commands: one the broker missed is published by the listener; the device's answer on commands/ack moves it" {
	# Pending with no attempt: what a send while the broker was away leaves.
	local cid out=$BATS_TEST_TMPDIR/device.out
	mosquitto_sub -h 127.0.0.1 -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$A/commands/control" -C 1 -W 30 \
		>"$out" 3>&- &
	local sub=$!
	sleep 0.5
	cid=$(q "insert into device_control (device_id, command, parameters, expires_at)
	         values ($A, 'led_on', '{\"level\":3}', now() + interval '10 minutes') returning id" | head -n 1)
	start_listen
	wait "$sub"
	run jq -c '[.command_id, .command, .parameters]' "$out"
	assert_output "[$cid,\"led_on\",{\"level\":3}]"
	local i st
	for ((i = 0; i < 50; i++)); do
		st=$(q "select status from device_control where id = $cid")
		[[ $st == sent ]] && break
		sleep 0.1
	done
	assert_equal "$st" sent
	# The device answers: without its key nothing moves; with it, completed.
	pub "iotflow/devices/$A/commands/ack" "{\"command_id\":$cid,\"status\":\"completed\"}"
	pub "iotflow/devices/$B/commands/ack" "{\"api_key\":\"$KEY_B\",\"command_id\":$cid,\"status\":\"failed\"}"
	pub "iotflow/devices/$A/commands/ack" "{\"api_key\":\"$KEY_A\",\"command_id\":$cid,\"status\":\"completed\",\"result\":{\"led\":\"on\"}}"
	for ((i = 0; i < 50; i++)); do
		st=$(q "select status || ' ' || result::text from device_control where id = $cid")
		[[ $st == completed* ]] && break
		sleep 0.1
	done
	assert_equal "$st" 'completed {"led": "on"}'
	wait_log "refused: missing api_key"
	grep -q "iotflow/devices/$B/commands/ack: refused:" "$LOG"
}
