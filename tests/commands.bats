#!/usr/bin/env bats
# Commands to devices and config publication from the shell, against the
# real broker, PostgreSQL and Redis, with a real mosquitto_sub playing the
# device: iot-device command send/list/retry, the lifecycle pending -> sent
# -> acknowledged -> completed | failed and expired, acks through
# iot_command_ack (build/tests/command_ack, as the MQTT listener calls it),
# config set/rm published retained, and a stopped broker losing nothing.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load mqtt_device

ACK=$IOTFLOW_ROOT/build/tests/command_ack

setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add alice >/dev/null
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner alice > "$IOTFLOW_TEST_TMP/dev-b.json"'
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json")
	SUB_PID=
}

teardown() {
	sub_stop
	iot_mqtt_start >/dev/null 2>&1 || true   # a test that stopped it
	# A test that loaded the auth plugin: the anonymous broker again.
	if [[ -n ${PLUGIN_BROKER:-} ]]; then iot_mqtt_reconfigure >/dev/null 2>&1 || true; fi
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

@test "command send: the device gets the documented payload at QoS 1, not retained; the row goes pending -> sent" {
	sub_start "$A"
	run --separate-stderr iot-device command send "$A" reboot --params '{"delay":5,"mode":"soft"}'
	assert_success
	[[ -z $stderr ]]
	local id
	id=$(jq -r .id <<<"$output")
	[[ $(jq -r .status <<<"$output") == sent ]]
	[[ $(jq -r .sent_at <<<"$output") != null ]]
	sub_wait "commands/control "
	# QOS RETAIN TOPIC PAYLOAD: published at QoS 1 (the subscription is QoS 2), not retained.
	run grep " iotflow/devices/$A/commands/control " "$SUB_OUT"
	assert_output --regexp "^1 0 iotflow/devices/$A/commands/control \{"
	local msg
	msg=$(sub_payload control)
	jq -e --argjson id "$id" '.command_id == $id and .command == "reboot" and .parameters == {"delay":5,"mode":"soft"}
		and .source == "cli" and (.timestamp | test("^[0-9-]{10}T[0-9:]{8}Z$")) and (.expires_at | type) == "string"
		and (keys == ["command","command_id","expires_at","parameters","source","timestamp"])' <<<"$msg"
	[[ $(q "select status || ' ' || (sent_at is not null) from device_control where id = $id") == "sent true" ]]
}

@test "command send: parameters default to {}, the TTL to the command_ttl setting (1h), --ttl overrides" {
	run iot-device command send "$A" led_on
	assert_success
	jq -e '.parameters == {}' <<<"$output"
	local id
	id=$(jq -r .id <<<"$output")
	[[ $(q "select extract(epoch from expires_at - created_at)::int from device_control where id = $id") == 3600 ]]
	run iot-device command send "$A" led_off --ttl 90s
	assert_success
	id=$(jq -r .id <<<"$output")
	[[ $(q "select extract(epoch from expires_at - created_at)::int from device_control where id = $id") == 90 ]]
	IOTFLOW_COMMAND_TTL=10m run iot-device command send "$A" led_off
	id=$(jq -r .id <<<"$output")
	[[ $(q "select extract(epoch from expires_at - created_at)::int from device_control where id = $id") == 600 ]]
}

@test "command send: usage errors and unknown devices change nothing" {
	run iot-device command send "$A" reboot --params '{"a":'
	assert_failure 2
	assert_output --partial "invalid --params"
	run iot-device command send "$A" reboot --ttl 0
	assert_failure 2
	run iot-device command send "$A" reboot --ttl 31d
	assert_failure 2
	run iot-device command send "$A" "$(printf 'x%.0s' {1..65})"
	assert_failure 2
	run iot-device command send 999999 reboot
	assert_failure 3
	run iot-device command send "$A"
	assert_failure 2
	run iot-device command list --params '{}'
	assert_failure 2
	[[ $(q "select count(*) from device_control") == 0 ]]
}

@test "ack: acknowledged then completed with a result; the same ack twice is fine, going back is refused" {
	run iot-device command send "$A" reboot
	local id
	id=$(jq -r .id <<<"$output")
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"acknowledged\"}"
	assert_success
	[[ $(q "select status || ' ' || (acknowledged_at is not null) from device_control where id = $id") == "acknowledged true" ]]
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"acknowledged\"}"
	assert_success
	run "$ACK" "$A" "{\"command_id\":\"$id\",\"status\":\"completed\",\"result\":{\"uptime\":3}}"
	assert_success
	[[ $(q "select status || ' ' || result::text || ' ' || (completed_at is not null) from device_control where id = $id") == 'completed {"uptime": 3} true' ]]
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"completed\"}"
	assert_success
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"acknowledged\"}"
	assert_failure 1
	assert_output --partial "completed already"
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"failed\"}"
	assert_failure 1
	[[ $(q "select status from device_control where id = $id") == completed ]]
}

@test "ack: only the command's own device moves it; unknown ids are not found" {
	run iot-device command send "$A" reboot
	local id
	id=$(jq -r .id <<<"$output")
	run "$ACK" "$B" "{\"command_id\":$id,\"status\":\"completed\"}"
	assert_failure 3
	run "$ACK" "$A" '{"command_id":987654,"status":"completed"}'
	assert_failure 3
	[[ $(q "select status from device_control where id = $id") == sent ]]
}

@test "ack: bad payloads are rejected with a reason and change nothing" {
	run iot-device command send "$A" reboot
	local id bad
	id=$(jq -r .id <<<"$output")
	for bad in 'not json' '[1,2]' '{}' "{\"command_id\":$id}" "{\"command_id\":$id,\"status\":\"sideways\"}" \
		"{\"command_id\":-1,\"status\":\"completed\"}" "{\"command_id\":1.5,\"status\":\"completed\"}" \
		"{\"status\":\"completed\"}" "{\"command_id\":$id,\"status\":\"completed\",\"status\":\"failed\"}"; do
		run "$ACK" "$A" "$bad"
		[[ $status == 1 ]] || { echo "accepted: $bad ($output)"; return 1; }
		[[ $output == *"fatal: "* ]]
	done
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"completed\",\"result\":\"$(head -c 70000 /dev/zero | tr '\0' x)\"}"
	assert_failure 1
	[[ $(q "select status from device_control where id = $id") == sent ]]
}

@test "ack: the Flask ESP32 reply (command name, firmware status words, api_key) finds the oldest open command" {
	run iot-device command send "$A" led_on
	local first second
	first=$(jq -r .id <<<"$output")
	run iot-device command send "$A" led_on
	second=$(jq -r .id <<<"$output")
	run "$ACK" "$A" '{"api_key":"iotf_secret","timestamp":"123","command":"led_on","status":"success","device_id":1}'
	assert_success
	[[ $(q "select status || ' ' || result::text from device_control where id = $first") == 'completed {"reported_status": "success"}' ]]
	[[ $(q "select status from device_control where id = $second") == sent ]]
	run "$ACK" "$A" '{"command":"led_on","status":"unknown_command"}'
	assert_success
	[[ $(q "select status from device_control where id = $second") == failed ]]
	[[ $(q "select count(*) from device_control where result::text like '%iotf_secret%'") == 0 ]]
	run "$ACK" "$A" '{"command":"led_on","status":"success"}'
	assert_failure 3
}

@test "expiry: an unanswered command expires past its TTL; a late ack is refused" {
	run iot-device command send "$A" reboot --ttl 1s
	local id
	id=$(jq -r .id <<<"$output")
	sleep 1.2
	run iot-device command list --device "$A"
	assert_success
	[[ $(jq -r .status <<<"$output") == expired ]]
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"completed\"}"
	assert_failure 1
	assert_output --partial "expired"
	# Lapsed but not yet marked: the ack itself finds it expired.
	run iot-device command send "$A" reboot
	id=$(jq -r .id <<<"$output")
	q "update device_control set expires_at = now() - interval '1 second' where id = $id"
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"acknowledged\"}"
	assert_failure 1
	[[ $(q "select status from device_control where id = $id") == expired ]]
	# An acknowledged command is the device's: it does not expire.
	run iot-device command send "$A" reboot
	id=$(jq -r .id <<<"$output")
	"$ACK" "$A" "{\"command_id\":$id,\"status\":\"acknowledged\"}"
	q "update device_control set expires_at = now() - interval '1 second' where id = $id"
	run iot-device command retry
	assert_success
	[[ $(q "select status from device_control where id = $id") == acknowledged ]]
	run "$ACK" "$A" "{\"command_id\":$id,\"status\":\"completed\"}"
	assert_success
}

@test "command list: newest first, filtered by --device, --status, --limit; table and csv" {
	iot-device command send "$A" one >/dev/null
	iot-device command send "$B" two >/dev/null
	iot-device command send "$A" three >/dev/null
	run iot-device command list
	assert_success
	[[ $(jq -r .command <<<"$output" | paste -sd ,) == three,two,one ]]
	run iot-device command list --device dev-b
	[[ $(jq -r .command <<<"$output" | paste -sd ,) == two ]]
	run iot-device command list --limit 1
	[[ $(jq -r .command <<<"$output") == three ]]
	local id
	id=$(q "select id from device_control where command = 'one'")
	"$ACK" "$A" "{\"command_id\":$id,\"status\":\"failed\"}"
	run iot-device command list --status failed
	[[ $(jq -r .command <<<"$output") == one ]]
	run iot-device command list --status bogus
	assert_failure 2
	run iot-device command list --format csv --device "$A"
	assert_success
	assert_line --index 0 "id,device_id,command,status,created_at,sent_at,expires_at"
	[[ ${#lines[@]} == 3 ]]
	run iot-device command list --device nosuch
	assert_failure 3
}

@test "broker stopped: send keeps the command pending with a warning and exit 5; retry delivers it once the broker is back" {
	iot_mqtt_stop
	run --separate-stderr iot-device command send "$A" reboot --params '{"n":1}'
	assert_failure 5
	local id
	id=$(jq -r .id <<<"$output")
	[[ $(jq -r .status <<<"$output") == pending ]]
	[[ $stderr == *"iot-device: warning: unable to connect to the broker at 127.0.0.1:$IOTFLOW_MQTT_PORT"* ]]
	[[ $stderr == *"command $id stays pending"* ]]
	[[ $(q "select status || ' ' || (attempt_at is null) from device_control where id = $id") == "pending true" ]]
	run --separate-stderr iot-device command retry
	assert_failure 5
	[[ $stderr == *"fatal: unable to connect to the broker"* ]]
	iot_mqtt_start
	sub_start "$A"
	run iot-device command retry
	assert_success
	jq -e '.sent == 1 and .left == 0' <<<"$output"
	sub_wait "commands/control "
	jq -e --argjson id "$id" '.command_id == $id and .parameters == {"n":1}' <<<"$(sub_payload control)"
	[[ $(q "select status from device_control where id = $id") == sent ]]
	# Nothing is sent twice.
	run iot-device command retry
	jq -e '.sent == 0' <<<"$output"
}

@test "dispatch: a command some publisher is sending right now is left alone; an abandoned one is sent" {
	run iot-device command send "$A" reboot
	local id
	id=$(jq -r .id <<<"$output")
	q "update device_control set status = 'pending', sent_at = null, attempt_at = now() where id = $id"
	run iot-device command retry
	jq -e '.sent == 0' <<<"$output"
	q "update device_control set attempt_at = now() - interval '1 minute' where id = $id"
	run iot-device command retry
	jq -e '.sent == 1' <<<"$output"
	[[ $(q "select status from device_control where id = $id") == sent ]]
}

@test "config set/rm: the device's whole config is published retained; a later subscriber sees it" {
	iot-device config set "$A" rate 30 --type integer >/dev/null
	run iot-device config set "$A" mode eco
	assert_success
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -q 2 -t "iotflow/devices/$A/commands/config" -F '%q %r %p' -C 1 -W 5
	assert_success
	[[ $output == "1 1 "* ]]
	jq -e --argjson d "$A" '.device_id == $d and .config == {"rate":30,"mode":"eco"} and (.timestamp | type) == "string"' \
		<<<"${output#1 1 }"
	iot-device config rm "$A" rate >/dev/null
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t "iotflow/devices/$A/commands/config" -F '%p' -C 1 -W 5
	jq -e '.config == {"mode":"eco"}' <<<"$output"
	[[ $(q "select count(*) from config_outbox") == 0 ]]
}

@test "rm: a removed device's retained config is taken off the broker by the dispatch; the others stay" {
	iot-device config set "$A" mode eco >/dev/null
	iot-device config set "$B" mode away >/dev/null
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t "iotflow/devices/$A/commands/config" -F '%p' -C 1 -W 5
	jq -e '.config == {"mode":"eco"}' <<<"$output"
	iot-device rm "$A" >/dev/null
	[[ $(q "select count(*) from config_retract where device_id = $A") == 1 ]]
	run iot-device command retry
	assert_success
	jq -e '.retracted == 1' <<<"$output"
	[[ $(q "select count(*) from config_retract") == 0 ]]
	# No retained message is left for a new subscriber; B's is still there.
	run --separate-stderr mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t "iotflow/devices/$A/commands/config" -F '%p' -C 1 -W 2
	assert_equal "$status $stderr" "27 Timed out"
	assert_output ''
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t "iotflow/devices/$B/commands/config" -F '%p' -C 1 -W 5
	jq -e '.config == {"mode":"away"}' <<<"$output"
}

@test "config set with the broker stopped: stored, warning and exit 5; retry publishes it" {
	iot_mqtt_stop
	run --separate-stderr iot-device config set "$B" level 7 --type integer
	assert_failure 5
	jq -e '.value == 7' <<<"$output"
	[[ $stderr == *"warning: the configuration is stored but not published"* ]]
	[[ $(q "select count(*) from config_outbox where device_id = $B") == 1 ]]
	iot_mqtt_start
	run iot-device command retry
	assert_success
	jq -e '.configs >= 1' <<<"$output"
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -t "iotflow/devices/$B/commands/config" -F '%p' -C 1 -W 5
	jq -e '.config == {"level":7}' <<<"$output"
	[[ $(q "select count(*) from config_outbox") == 0 ]]
}

@test "without mqtt_url: config set publishes nothing and succeeds; command send stores the command pending, exit 5" {
	run env -u IOTFLOW_MQTT_URL iot-device config set "$A" k v
	assert_success
	[[ $(q "select count(*) from config_outbox where device_id = $A") == 1 ]]
	run --separate-stderr env -u IOTFLOW_MQTT_URL iot-device command send "$A" reboot
	assert_failure 5
	[[ $stderr == *"mqtt_url is not set"* ]]
	[[ $(jq -r .status <<<"$output") == pending ]]
}

@test "a broker with the auth plugin: without a login, send, config set and retry exit 4 and say what it wants; with the owner's token all is delivered" {
	PLUGIN_BROKER=1
	IOT_MOSQUITTO_PLUGIN=$IOTFLOW_ROOT/bin/iotflow_auth.so iot_mqtt_reconfigure
	local hint="a broker with the IoTFlow plugin takes a person's API token as the password: mqtt_url mqtt://NAME:TOKEN@HOST:PORT"
	run --separate-stderr iot-device command send "$A" reboot
	assert_failure 4
	local id
	id=$(jq -r .id <<<"$output")
	[[ $(jq -r .status <<<"$output") == pending ]]
	[[ $stderr == *"the broker at 127.0.0.1:$IOTFLOW_MQTT_PORT refused the connection: Not authorized"* ]]
	[[ $stderr == *"$hint"* && $stderr == *"command $id stays pending"* ]]
	run --separate-stderr iot-device config set "$A" level 3 --type integer
	assert_failure 4
	jq -e '.value == 3' <<<"$output"
	[[ $stderr == *"the configuration is stored but not published"* && $stderr == *"$hint"* ]]
	[[ $(q "select count(*) from config_outbox where device_id = $A") == 1 ]]
	run --separate-stderr iot-device command retry
	assert_failure 4
	[[ $stderr == *"fatal: the broker at"*"refused the connection"* && $stderr == *"$hint"* ]]
	[[ $(q "select status from device_control where id = $id") == pending ]]
	# alice's token (she owns both devices) as the password: delivered.
	local url
	url=mqtt://cli:$(iot-user token create alice cli | jq -r .token)@127.0.0.1:$IOTFLOW_MQTT_PORT
	run --separate-stderr env IOTFLOW_MQTT_URL="$url" iot-device command retry
	assert_success
	jq -e '.sent == 1 and .configs == 1 and .left == 0' <<<"$output"
	run --separate-stderr env IOTFLOW_MQTT_URL="$url" iot-device command send "$A" reboot
	assert_success
	[[ $(jq -r .status <<<"$output") == sent && -z $stderr ]]
	[[ $(q "select string_agg(status, ' ' order by id) from device_control where device_id = $A") == "sent sent" ]]
	# The device, logged in with its own key, finds its retained config.
	run mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -u "$A" -P "$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")" \
		-t "iotflow/devices/$A/commands/config" -F '%p' -C 1 -W 5
	assert_success
	jq -e '.config == {"level":3}' <<<"$output"
}
