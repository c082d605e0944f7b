#!/usr/bin/env bats
# iot-httpd's control routes and /api/v1/mqtt routes against the real
# broker, PostgreSQL and Redis, with curl and a real mosquitto_sub playing
# the device: who may send, answer and list commands (owner, admin, the
# device itself; another user 404, another device 403, nobody 401), the
# documented bodies and errors, config changes over HTTP published
# retained, and a stopped broker losing nothing.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load mqtt_device

setup_file() {
	stack_setup_file
	migrated_template
	template_people
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-a2 --owner alice > "$IOTFLOW_TEST_TMP/dev-a2.json"
		iot-device add dev-b --owner bob > "$IOTFLOW_TEST_TMP/dev-b.json"'
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	A2=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a2.json"); KEY_A2=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a2.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json")
	ALICE=$(cat "$IOTFLOW_TEST_TMP/alice.token"); BOB=$(cat "$IOTFLOW_TEST_TMP/bob.token")
	ROOT=$(cat "$IOTFLOW_TEST_TMP/root.token")
	HTTPD_PID= SUB_PID=
	start_httpd
}

teardown_extra() {
	sub_stop
	iot_mqtt_start >/dev/null 2>&1 || true   # a test that stopped it
}

commands() { q "select count(*) from device_control"; }

@test "POST control: the owner's command reaches the device at QoS 1 and is sent; the Flask members are there" {
	sub_start "$A"
	r=$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"led_on","parameters":{"pin":2}}')
	has "$r" 201 '.message == "Command sent via MQTT" and (.control_id | type) == "number" and .id == .control_id
		and .device_id == '"$A"' and .command == "led_on" and .parameters == {"pin":2} and .status == "sent"
		and (.created_at | type) == "string"'
	local id
	id=$(body "$r" | jq .id)
	sub_wait "commands/control "
	run grep " iotflow/devices/$A/commands/control " "$SUB_OUT"
	assert_output --regexp '^1 0 '
	jq -e --argjson id "$id" '.command_id == $id and .command == "led_on" and .parameters == {"pin":2} and .source == "api"' \
		<<<"$(sub_payload control)"
	[[ $(q "select status || ' ' || source || ' ' || (user_id is not null) from device_control where id = $id") == "sent api true" ]]
}

@test "POST control: admin and the device itself may; another user 404, another device 403, nobody 401 — and nothing is stored" {
	has "$(as "$ROOT" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 201 '.status == "sent"'
	has "$(dev "$KEY_A" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 201 '.status == "sent"'
	[[ $(commands) == 2 ]]
	has "$(as "$BOB" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 404 '.error == "Device not found"'
	has "$(dev "$KEY_A2" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 403 '.error == "Forbidden: device mismatch"'
	has "$(dev "" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 401
	has "$(as "not-a-token" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 401
	# An unknown id looks like someone else's.
	has "$(as "$ALICE" POST "/api/v1/devices/999999/control" '{"command":"reboot"}')" 404 '.error == "Device not found"'
	has "$(as "$ROOT" POST "/api/v1/devices/999999/control" '{"command":"reboot"}')" 404
	[[ $(commands) == 2 ]]
}

@test "POST control: bad bodies are 400, a wrong content type 415, and store nothing" {
	local bad
	for bad in '' 'not json' '[]' '{}' '{"parameters":{}}' '{"command":5}' '{"command":""}' \
		"{\"command\":\"$(printf 'x%.0s' {1..65})\"}" '{"command":"a","ttl":0}' '{"command":"a","ttl":"1h"}' \
		'{"command":"a","command":"b"}'; do
		r=$(req -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: application/json' --data-binary "$bad" \
			"$U/api/v1/devices/$A/control")
		[[ $(code "$r") == 400 ]] || { echo "not 400 for '$bad': $r"; return 1; }
		body "$r" | jq -e '.error and .message' >/dev/null
	done
	r=$(req -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: text/plain' --data-binary '{"command":"a"}' \
		"$U/api/v1/devices/$A/control")
	has "$r" 415
	[[ $(commands) == 0 ]]
}

@test "POST control/{cid}/status: forward only, from the device, its owner or an admin; others never see it" {
	local id
	id=$(body "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" | jq .id)
	has "$(dev "$KEY_A" POST "/api/v1/devices/$A/control/$id/status" '{"status":"acknowledged"}')" 200 \
		'.message == "Status updated" and .id == '"$id"' and .status == "acknowledged" and .command == "reboot"'
	has "$(as "$BOB" POST "/api/v1/devices/$A/control/$id/status" '{"status":"failed"}')" 404 '.error == "Device not found"'
	has "$(dev "$KEY_A2" POST "/api/v1/devices/$A/control/$id/status" '{"status":"failed"}')" 403
	# The command is not device A2's: not found through A2's own path either.
	has "$(dev "$KEY_A2" POST "/api/v1/devices/$A2/control/$id/status" '{"status":"failed"}')" 404 \
		'.error == "Control command not found"'
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control/$id/status" '{"status":"sideways"}')" 400 '.error == "Invalid status"'
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control/$id/status" '{"result":1}')" 400 '.error == "Invalid status"'
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control/987654/status" '{"status":"failed"}')" 404 \
		'.error == "Control command not found"'
	has "$(as "$ROOT" POST "/api/v1/devices/$A/control/$id/status" '{"status":"completed","result":{"ok":true}}')" 200 \
		'.status == "completed" and .result == {"ok":true}'
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control/$id/status" '{"status":"acknowledged"}')" 409 \
		'.error == "Invalid transition"'
	[[ $(q "select status from device_control where id = $id") == completed ]]
}

@test "GET control/pending: a bare array of that device's unanswered commands, oldest first" {
	local one two other
	one=$(body "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"one"}')" | jq .id)
	two=$(body "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"two","parameters":[1]}')" | jq .id)
	other=$(body "$(as "$ALICE" POST "/api/v1/devices/$A2/control" '{"command":"other"}')" | jq .id)
	r=$(dev "$KEY_A" GET "/api/v1/devices/$A/control/pending")
	has "$r" 200 'type == "array" and length == 2 and map(.command) == ["one","two"] and .[1].parameters == [1]
		and all(.[]; .device_id == '"$A"' and (.status == "sent") and has("created_at") and has("id"))'
	dev "$KEY_A" POST "/api/v1/devices/$A/control/$one/status" '{"status":"acknowledged"}' >/dev/null
	has "$(as "$ALICE" GET "/api/v1/devices/$A/control/pending")" 200 'map(.id) == ['"$two"']'
	has "$(as "$ROOT" GET "/api/v1/devices/$A2/control/pending")" 200 'map(.id) == ['"$other"']'
	has "$(as "$BOB" GET "/api/v1/devices/$A/control/pending")" 404
	has "$(dev "$KEY_A2" GET "/api/v1/devices/$A/control/pending")" 403
	has "$(dev "" GET "/api/v1/devices/$A/control/pending")" 401
	q "update device_control set expires_at = now() - interval '1 second' where id = $two"
	has "$(as "$ALICE" GET "/api/v1/devices/$A/control/pending")" 200 'length == 0'
	[[ $(q "select status from device_control where id = $two") == expired ]]
}

@test "broker stopped: POST control stores the command pending (201, told so); it is delivered once the broker is back" {
	iot_mqtt_stop
	r=$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')
	has "$r" 201 '.status == "pending" and (.message | test("unreachable"))'
	local id
	id=$(body "$r" | jq .id)
	has "$(as "$ALICE" GET /api/v1/mqtt/status)" 200 '.mqtt_status.connected == false'
	iot_mqtt_start
	sub_start "$A"
	run iot-device command retry
	assert_success
	sub_wait "commands/control "
	jq -e --argjson id "$id" '.command_id == $id' <<<"$(sub_payload control)"
	[[ $(q "select status from device_control where id = $id") == sent ]]
	# The server reconnects by itself.
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(body "$(as "$ALICE" GET /api/v1/mqtt/status)" | jq .mqtt_status.connected) == true ]] && break
		sleep 0.1
	done
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"again"}')" 201 '.status == "sent"'
}

@test "config over HTTP (POST and PUT /api/v1/devices/config) is published retained: a later subscriber sees the whole config" {
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"rate","config_value":15}')" 200
	has "$(dev "$KEY_A" PUT /api/v1/devices/config '{"config_key":"mode","config_value":"eco"}')" 200
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$A/commands/config" -F '%q %r %p' -C 1 -W 5
	assert_success
	[[ $output == "1 1 "* ]]
	jq -e --argjson d "$A" '.device_id == $d and .config == {"rate":15,"mode":"eco"}' <<<"${output#1 1 }"
	[[ $(q "select count(*) from config_outbox") == 0 ]]
}

@test "GET /api/v1/mqtt/status: any person or device; without credentials 401; without a broker configured 503" {
	has "$(as "$ALICE" GET /api/v1/mqtt/status)" 200 '.status == "success" and .mqtt_status.connected == true
		and .mqtt_status.port == '"$IOTFLOW_MQTT_PORT"' and .broker_info.connected == true and .broker_info.tls_enabled == false
		and (.mqtt_status.client_id | startswith("iotflow-iot-httpd-"))'
	has "$(dev "$KEY_A" GET /api/v1/mqtt/status)" 200
	has "$(dev "" GET /api/v1/mqtt/status)" 401
	teardown
	IOTFLOW_MQTT_URL= start_httpd
	has "$(as "$ALICE" GET /api/v1/mqtt/status)" 503 '.error == "MQTT service not available"'
	# No broker: a command is stored pending all the same.
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"reboot"}')" 201 '.status == "pending"'
}

@test "POST /api/v1/mqtt/publish: admins only, topics under iotflow/ without wildcards, at QoS 1" {
	sub_start "$A"
	has "$(as "$ROOT" POST /api/v1/mqtt/publish '{"topic":"iotflow/devices/'"$A"'/commands/note","payload":{"hi":1}}')" 200 \
		'.status == "success" and .qos == 1 and .retain == false'
	sub_wait "commands/note "
	[[ $(sub_payload note) == '{"hi":1}' ]]
	has "$(as "$ALICE" POST /api/v1/mqtt/publish '{"topic":"iotflow/x","payload":"a"}')" 403
	# A device key is a device's, authenticated but not an admin: 403, as on the admin routes.
	has "$(dev "$KEY_A" POST /api/v1/mqtt/publish '{"topic":"iotflow/x","payload":"a"}')" 403 '.error == "Forbidden"'
	has "$(dev "$KEY_A" GET /api/v1/mqtt/monitoring/metrics)" 403 '.error == "Forbidden"'
	has "$(dev "$KEY_A" GET /api/v1/admin/stats)" 403 '.error == "Forbidden"'
	has "$(dev "" POST /api/v1/mqtt/publish '{"topic":"iotflow/x","payload":"a"}')" 401
	has "$(as "$ROOT" POST /api/v1/mqtt/publish '{"topic":"devices/1/cmd","payload":"a"}')" 400 '.error == "Invalid topic format"'
	has "$(as "$ROOT" POST /api/v1/mqtt/publish '{"topic":"iotflow/devices/+/x","payload":"a"}')" 400
	has "$(as "$ROOT" POST /api/v1/mqtt/publish '{"topic":"iotflow/x"}')" 400 '.error == "Missing required field: payload"'
}

@test "POST /api/v1/mqtt/device/{id}/command: admins send a tracked control command; config and others are refused" {
	sub_start "$A"
	r=$(as "$ROOT" POST "/api/v1/mqtt/device/$A/command" '{"command_type":"control","command":"set","parameters":{"value":1}}')
	has "$r" 200 '.status == "success" and .device_id == "'"$A"'" and .topic == "iotflow/devices/'"$A"'/commands/control"
		and .command_status == "sent"'
	sub_wait "commands/control "
	jq -e '.command == "set" and .parameters == {"value":1}' <<<"$(sub_payload control)"
	[[ $(q "select command from device_control") == set ]]
	has "$(as "$ALICE" POST "/api/v1/mqtt/device/$A/command" '{"command":"set"}')" 403
	has "$(as "$BOB" POST "/api/v1/mqtt/device/$A/command" '{"command":"set"}')" 404
	has "$(dev "" POST "/api/v1/mqtt/device/$A/command" '{"command":"set"}')" 401
	has "$(as "$ROOT" POST "/api/v1/mqtt/device/$A/command" '{"command_type":"config","command":{"a":1}}')" 400 \
		'.error == "Invalid command type"'
	has "$(as "$ROOT" POST "/api/v1/mqtt/device/$A/command" '{"command_type":"firmware","command":"x"}')" 400
	has "$(as "$ROOT" POST "/api/v1/mqtt/device/999999/command" '{"command":"x"}')" 404
	[[ $(commands) == 1 ]]
}

@test "topics: a device's topics (any id, not only >= 100), the catalogue, validation; all need credentials" {
	has "$(dev "$KEY_A" GET "/api/v1/mqtt/topics/device/$A")" 200 '.status == "success" and .device_id == "'"$A"'"
		and .total_topics == ([.topics[][]] | length) and ([.topics[][].path] | index("iotflow/devices/'"$A"'/commands/control") != null)'
	has "$(as "$BOB" GET "/api/v1/mqtt/topics/device/$A")" 404
	has "$(dev "" GET "/api/v1/mqtt/topics/device/$A")" 401
	has "$(as "$ALICE" GET /api/v1/mqtt/topics/structure)" 200 '.base_topic == "iotflow"
		and .total_structures == (.topic_structures | length) and .topic_structures.device_commands_config.retain == true'
	has "$(dev "" GET /api/v1/mqtt/topics/structure)" 401
	has "$(as "$ALICE" POST /api/v1/mqtt/topics/validate '{"topic":"iotflow/devices/7/telemetry/sensors"}')" 200 \
		'.is_valid == true and .parsed.device_id == "7" and .parsed.topic_type == "telemetry" and .parsed.subtopic == "sensors"'
	has "$(as "$ALICE" POST /api/v1/mqtt/topics/validate '{"topic":"devices/+/telemetry"}')" 200 \
		'.is_valid == false and .parsed == null and (.validation_errors | length) == 1'
	has "$(as "$ALICE" POST /api/v1/mqtt/topics/validate '{}')" 400
}

@test "the /api/v1/mqtt routes that mean nothing here answer 410 with what to use instead (after authentication)" {
	has "$(as "$ALICE" POST /api/v1/mqtt/subscribe '{"topic":"iotflow/#"}')" 410 '.error == "Not supported" and (.message | test("mosquitto_sub"))'
	has "$(as "$ROOT" POST /api/v1/mqtt/fleet/1/command '{"command":"x"}')" 410 '(.message | test("/control"))'
	has "$(dev "$KEY_A" POST "/api/v1/mqtt/telemetry/$A" '{"data":{"t":1}}')" 410 '(.message | test("/api/v1/telemetry"))'
	has "$(dev "" POST /api/v1/mqtt/subscribe '{"topic":"iotflow/#"}')" 401
	has "$(as "$ROOT" GET /api/v1/mqtt/monitoring/metrics)" 200 '.status == "success" and .metrics.connection_status.connected == true'
	has "$(as "$ALICE" GET /api/v1/mqtt/monitoring/metrics)" 403
}

@test "many request threads publish at once over the one connection: every command is sent and arrives once" {
	sub_start "$A"
	seq 1 120 | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST -H "Authorization: Bearer $ALICE" \
		-H 'Content-Type: application/json' --data-binary '{"command":"c{}"}' "$U/api/v1/devices/$A/control" \
		>"$BATS_TEST_TMPDIR/codes"
	[[ $(sort -u "$BATS_TEST_TMPDIR/codes") == 201 ]]
	[[ $(wc -l <"$BATS_TEST_TMPDIR/codes") == 120 ]]
	[[ $(q "select count(*) from device_control where status = 'sent'") == 120 ]]
	local i
	for ((i = 0; i < 200; i++)); do
		[[ $(grep -c "/commands/control " "$SUB_OUT") -ge 120 ]] && break
		sleep 0.05
	done
	[[ $(grep "/commands/control " "$SUB_OUT" | cut -d ' ' -f 4- | jq -r .command_id | sort -u | wc -l) == 120 ]]
	[[ $(grep -c "/commands/control " "$SUB_OUT") == 120 ]]
	has "$(as "$ALICE" GET /api/v1/mqtt/status)" 200 '.mqtt_status.messages_published == 120 and .mqtt_status.publish_failures == 0'
}

@test "a broker that is down when iot-httpd starts: commands wait pending, and the server connects once the broker is up" {
	teardown
	iot_mqtt_stop
	start_httpd
	has "$(as "$ALICE" GET /api/v1/mqtt/status)" 200 '.mqtt_status.connected == false'
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"early"}')" 201 '.status == "pending"'
	iot_mqtt_start
	local i
	for ((i = 0; i < 150; i++)); do
		[[ $(body "$(as "$ALICE" GET /api/v1/mqtt/status)" | jq .mqtt_status.connected) == true ]] && break
		sleep 0.1
	done
	has "$(as "$ALICE" GET /api/v1/mqtt/status)" 200 '.mqtt_status.connected == true'
	has "$(as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"late"}')" 201 '.status == "sent"'
}
