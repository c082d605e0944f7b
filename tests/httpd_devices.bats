#!/usr/bin/env bats
# iot-httpd's device, registration, status and admin routes against real
# PostgreSQL and Redis, with curl: each route's happy path and documented
# errors, the requests of compat §5 (the simulator's and the ESP32's
# register, the ESP32 credentials call) answered as those clients expect,
# and a device key never reaching another device's data or admin routes.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib

setup_file() {
	stack_setup_file
	migrated_template
	template_people
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner bob > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-off --owner alice --status inactive > "$IOTFLOW_TEST_TMP/dev-off.json"'
}
teardown_file() { stack_teardown_file; }
teardown_extra() {
	if [[ -n ${NGINX_PID:-} ]]; then kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; fi
	return 0
}

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json"); KEY_B=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-b.json")
	OFF=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-off.json"); KEY_OFF=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-off.json")
	ALICE=$(cat "$IOTFLOW_TEST_TMP/alice.token"); BOB=$(cat "$IOTFLOW_TEST_TMP/bob.token")
	ROOT=$(cat "$IOTFLOW_TEST_TMP/root.token")
	HTTPD_PID= NGINX_PID=
	start_httpd
}

@test "GET /api/v1/devices/status: the device, a real telemetry_count, is_online from last_seen" {
	r=$(dev "$KEY_A" GET /api/v1/devices/status)
	has "$r" 200 '.status == "success" and .device.id == '"$A"' and .device.name == "dev-a"
		and .device.telemetry_count == 0 and .device.is_online == false and .device.last_seen == null
		and (.device | has("api_key") | not) and .device.user_id > 0 and .device.device_type == "sensor"'
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		--data-binary '[{"data":{"t":1,"h":2}},{"data":{"s":"x"},"timestamp":"2020-01-01T00:00:00Z"}]' "$U/api/v1/telemetry"
	r=$(dev "$KEY_A" GET /api/v1/devices/status)
	has "$r" 200 '.device.telemetry_count == 3 and .device.is_online == true and .device.last_seen != null'
	# The Flask 5-second window is not copied: the configured window (300 s) says online.
	q "update devices set last_seen = now() - interval '60 seconds' where id = $A"
	redis-cli -u "$IOTFLOW_REDIS_URL" --scan --pattern 'iotflow:*:seen:*' | xargs -r redis-cli -u "$IOTFLOW_REDIS_URL" del >/dev/null
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 200 '.device.is_online == true'
	q "update devices set last_seen = now() - interval '600 seconds' where id = $A"
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 200 '.device.is_online == false'
	# Errors: no key, a bad key, an inactive device (offline is not inactive: above, served).
	has "$(dev "" GET /api/v1/devices/status)" 401 '.error == "API key required"'
	has "$(dev "iotf_nope" GET /api/v1/devices/status)" 401 '.error == "Invalid API key"'
	has "$(dev "$KEY_OFF" GET /api/v1/devices/status)" 403 '.error == "Device inactive" and .message == "Device is currently inactive"'
	has "$(dev "$KEY_A" POST /api/v1/devices/status)" 405
}

@test "POST /api/v1/devices/heartbeat moves last_seen and the online state, never the status" {
	q "update devices set last_seen = now() - interval '1 day' where id = $A"
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 200 '.device.is_online == false'
	r=$(dev "$KEY_A" POST /api/v1/devices/heartbeat '{"status":"alive"}')
	has "$r" 200 '.message == "Heartbeat received" and .device_id == '"$A"' and .status == "online" and (.timestamp | type) == "string"'
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 200 '.device.is_online == true and .device.status == "active"'
	[[ $(q "select last_seen > now() - interval '1 minute' and status = 'active' from devices where id = $A") == t ]]
	# A heartbeat with no body at all (the Flask route never read it).
	has "$(dev "$KEY_A" POST /api/v1/devices/heartbeat)" 200
	has "$(dev "$KEY_OFF" POST /api/v1/devices/heartbeat)" 403 '.error == "Device inactive"'
	[[ $(q "select status from devices where id = $OFF") == inactive ]]
	has "$(dev "" POST /api/v1/devices/heartbeat)" 401
	has "$(dev "$KEY_A" GET /api/v1/devices/heartbeat)" 405
}

@test "GET /api/v1/devices/credentials: the ESP32 client's 200, 401 and 404; topics the server uses" {
	# esp32_examples/src/main_api_key_only.cpp: Content-Type set, no body.
	r=$(req -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" "$U/api/v1/devices/credentials")
	has "$r" 200 '.status == "success" and .device.id == '"$A"' and .device.name == "dev-a"
		and .device.device_type == "sensor" and .device.status == "active"
		and (.device.user_id | type) == "string" and .device.owner.username == "alice"
		and .device.mqtt_topics.telemetry == "iotflow/devices/'"$A"'/telemetry/sensors"
		and .device.mqtt_topics.heartbeat == "iotflow/devices/'"$A"'/status/heartbeat"
		and .device.mqtt_topics.commands == "iotflow/devices/'"$A"'/commands/control"
		and (tostring | contains("iotf_") | not)'
	r=$(req -H 'Content-Type: application/json' "$U/api/v1/devices/credentials")
	has "$r" 401 '.error == "API key required" and .message == "X-API-Key header is required"'
	r=$(req -H 'Content-Type: application/json' -H "X-API-Key: iotf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$U/api/v1/devices/credentials")
	has "$r" 404 '.error == "Invalid API key" and .message == "Device not found"'
	has "$(dev "$KEY_OFF" GET /api/v1/devices/credentials)" 403 '.error == "Device inactive"'
}

@test "GET /api/v1/devices/mqtt-credentials: broker, client id, username, true topics, no key" {
	r=$(dev "$KEY_A" GET /api/v1/devices/mqtt-credentials)
	has "$r" 200 '.status == "success" and (.credentials.mqtt_port | type) == "number"
		and (.credentials.mqtt_host | length) > 0 and .credentials.client_id == "device_'"$A"'_dev-a"
		and .credentials.username == "'"$A"'" and .credentials.anonymous_connection == false
		and .credentials.topics.telemetry_publish == "iotflow/devices/'"$A"'/telemetry"
		and .credentials.topics.status_publish == "iotflow/devices/'"$A"'/status/heartbeat"
		and .credentials.topics.commands_subscribe == "iotflow/devices/'"$A"'/commands/control"
		and (.credentials | has("api_key") | not)'
	[[ $r != *"$KEY_A"* && $r != *"@"* ]]
	# The broker of mqtt_url, as the server's client connects to it (no credentials).
	local host port
	host=$(sed -E 's|^[a-z]+://([^@/]*@)?([^:/]+).*|\2|' <<<"$IOTFLOW_MQTT_URL")
	port=$(sed -E 's|^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*|\2|' <<<"$IOTFLOW_MQTT_URL")
	has "$r" 200 '.credentials.mqtt_host == "'"$host"'" and .credentials.mqtt_port == '"$port"'
		and .credentials.broker_configured == true and .credentials.tls == false'
	has "$(dev "$KEY_OFF" GET /api/v1/devices/mqtt-credentials)" 403
	has "$(dev "" GET /api/v1/devices/mqtt-credentials)" 401
	# No broker configured: no address made up (it was this server's host and 1883), and it says so.
	kill -TERM "$HTTPD_PID"; wait "$HTTPD_PID" || true
	IOTFLOW_MQTT_URL= start_httpd
	r=$(dev "$KEY_A" GET /api/v1/devices/mqtt-credentials)
	has "$r" 200 '.credentials.mqtt_host == null and .credentials.mqtt_port == null
		and .credentials.broker_configured == false and (.credentials.authentication_note | test("No MQTT broker is configured"))
		and .credentials.client_id == "device_'"$A"'_dev-a" and .credentials.topics.telemetry_publish == "iotflow/devices/'"$A"'/telemetry"'
}

@test "GET|POST|PUT /api/v1/devices/config: typed values, no status change by the device" {
	has "$(dev "$KEY_A" GET /api/v1/devices/config)" 200 '.status == "success" and .device_id == '"$A"' and .configuration == {}'
	r=$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"interval","config_value":22.5}')
	has "$r" 200 '.status == "success" and .config_key == "interval" and .config_value == 22.5 and .data_type == "float"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"on","config_value":true}')" 200 '.config_value == true and .data_type == "boolean"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"n","config_value":7}')" 200 '.config_value == 7 and .data_type == "integer"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"obj","config_value":{"a":[1,"x"]}}')" 200 '.config_value == {"a":[1,"x"]} and .data_type == "json"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"k","config_value":"v"}')" 200 '.config_value == "v" and .data_type == "string"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"s","config_value":"22","data_type":"integer"}')" 200 '.config_value == 22'
	# A float stays a float on the wire (jq would print 22.0 as 22: the raw text is read).
	[[ $(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"f","config_value":22.0}') == *'"config_value":22.0,'* ]]
	[[ $(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"g","config_value":"1e3","data_type":"float"}') == *'"config_value":1000.0,'* ]]
	[[ $(dev "$KEY_A" GET /api/v1/devices/config) == *'"f":{"value":22.0,'* ]]
	r=$(dev "$KEY_A" GET /api/v1/devices/config)
	has "$r" 200 '.configuration.interval.value == 22.5 and .configuration.on.value == true
		and .configuration.obj.value.a[1] == "x" and .configuration.k.data_type == "string"
		and (.configuration.n.updated_at | type) == "string"'
	# Errors: missing members, a value not of its type, a bad key, not JSON.
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"x"}')" 400 '.error == "Missing required fields"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"x","config_value":"abc","data_type":"integer"}')" 400
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"bad key","config_value":1}')" 400
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":')" 400 '.error == "Invalid JSON"'
	has "$(req -X POST -H "X-API-Key: $KEY_A" -H 'Content-Type: text/plain' --data-binary x "$U/api/v1/devices/config")" 415
	# PUT: no "status" needed (locust's body works), device fields updated.
	has "$(dev "$KEY_A" PUT /api/v1/devices/config '{"config_key":"sample","config_value":"value"}')" 200 '.message == "Device configuration updated successfully" and .device.id == '"$A"
	r=$(dev "$KEY_A" PUT /api/v1/devices/config '{"location":"lab 2","firmware_version":"1.2.3"}')
	has "$r" 200 '.device.location == "lab 2" and .device.firmware_version == "1.2.3" and .device.status == "active"'
	has "$(dev "$KEY_A" GET /api/v1/devices/config)" 200 '.configuration.sample.value == "value"'
	# B20: the device cannot deactivate itself.
	has "$(dev "$KEY_A" PUT /api/v1/devices/config '{"status":"inactive"}')" 403
	[[ $(q "select status from devices where id = $A") == active ]]
	has "$(dev "$KEY_A" PUT /api/v1/devices/config '{"status":"active","location":"lab 3"}')" 200 '.device.location == "lab 3"'
	has "$(dev "$KEY_A" PUT /api/v1/devices/config '{"nothing":1}')" 400
	has "$(dev "$KEY_OFF" GET /api/v1/devices/config)" 403
	has "$(dev "$KEY_OFF" POST /api/v1/devices/config '{"config_key":"k","config_value":1}')" 403
	[[ $(q "select count(*) from device_configurations where device_id = $OFF") == 0 ]]
}

@test "POST /api/v1/devices/config: a device keeps at most 1000 keys and 128 KiB of values; replacing one stays possible" {
	q "INSERT INTO device_configurations (device_id, config_key, config_value, data_type)
		SELECT $A, 'k' || i, 'v', 'string' FROM generate_series(1, 999) i"
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"last","config_value":1}')" 200
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"one_more","config_value":1}')" 400 \
		'.message | test("1000 config keys")'
	has "$(dev "$KEY_A" PUT /api/v1/devices/config '{"config_key":"one_more","config_value":1}')" 400
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"k7","config_value":"new"}')" 200 '.config_value == "new"'
	[[ $(q "SELECT count(*) FROM device_configurations WHERE device_id = $A") == 1000 ]]
	# Bytes: 2 values of 64 KiB fill the 128 KiB; another byte is refused, a smaller value in place is not.
	local big
	big=$(head -c 65536 /dev/zero | tr '\0' x)
	q "DELETE FROM device_configurations WHERE device_id = $A;
		INSERT INTO device_configurations (device_id, config_key, config_value, data_type)
		SELECT $A, 'b' || i, repeat('x', 65536), 'string' FROM generate_series(1, 2) i"
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"tiny","config_value":"x"}')" 400 \
		'.message | test("over 131072 bytes")'
	has "$(dev "$KEY_A" POST /api/v1/devices/config "{\"config_key\":\"b1\",\"config_value\":\"${big:1}\"}")" 200
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"tiny","config_value":"x"}')" 200
	# B's own configuration is not A's to fill.
	has "$(dev "$KEY_B" POST /api/v1/devices/config '{"config_key":"one_more","config_value":1}')" 200
}

@test "POST /api/v1/devices/register with a Bearer token: 201 with the key once, 409 per owner, user_id rules" {
	r=$(as "$ALICE" POST /api/v1/devices/register '{"name":"t1","device_type":"esp32","location":"lab","firmware_version":"1.0.0","capabilities":["x"],"metadata":{"m":1}}')
	has "$r" 201 '.message == "Device registered successfully" and .device.name == "t1" and .device.device_type == "esp32"
		and .device.status == "active" and .device.last_seen == null and (.device.api_key | startswith("iotf_"))
		and .device.owner.username == "alice" and (.device.id | type) == "number" and .device.location == "lab"'
	id=$(body "$r" | jq .device.id); key=$(body "$r" | jq -r .device.api_key)
	[[ $(q "select u.username from devices d join users u on u.id = d.user_id where d.id = $id") == alice ]]
	# The key works at once; it is never shown again.
	has "$(dev "$key" GET /api/v1/devices/status)" 200 '.device.id == '"$id"' and (.device | has("api_key") | not)'
	# Unique per owner: alice again 409, bob may use the name.
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"t1","device_type":"esp32"}')" 409 '.error == "Device name already exists"'
	has "$(as "$BOB" POST /api/v1/devices/register '{"name":"t1","device_type":"esp32"}')" 201 '.device.owner.username == "bob"'
	# user_id: one's own is fine; another's only for an admin.
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"t2","device_type":"x","user_id":"alice"}')" 201
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"t3","device_type":"x","user_id":"bob"}')" 403
	bob_id=$(q "select id from users where username = 'bob'")
	has "$(as "$ROOT" POST /api/v1/devices/register '{"name":"t3","device_type":"x","user_id":'"$bob_id"'}')" 201 '.device.owner.username == "bob" and .device.user_id == '"$bob_id"
	has "$(as "$ROOT" POST /api/v1/devices/register '{"name":"t4","device_type":"x","user_id":"nobody"}')" 404
	# Errors: missing fields, bad JSON, wrong type, bad token, no content type.
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"t5"}')" 400 '.error == "Missing required fields"'
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":')" 400 '.error == "Invalid JSON"'
	# jansson's "near '...'" would repeat the body, a newline and a broken
	# UTF-8 byte included: the reason is one printable line of its own.
	has "$(as "$ALICE" POST /api/v1/devices/register $'{"name":"a\\u\n\xff"}')" 400 \
		'.message == "Request body must contain valid JSON (invalid JSON at column 0: invalid escape)"'
	has "$(as "$ALICE" POST /api/v1/devices/register "$(printf '[%.0s' {1..40})")" 400 \
		'.message == "Request body must contain valid JSON (nesting deeper than 32 levels)"'
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":5,"device_type":"x"}')" 400
	has "$(as "iotu_nope" POST /api/v1/devices/register '{"name":"t6","device_type":"x"}')" 401
	has "$(req -X POST -H "Authorization: Bearer $ALICE" -H 'Content-Type: text/plain' --data-binary '{"name":"t7","device_type":"x"}' "$U/api/v1/devices/register")" 415
	name=$(printf 'n%.0s' {1..101})
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"'"$name"'","device_type":"x"}')" 400
	has "$(as "$ALICE" GET /api/v1/devices/register)" 405
}

@test "register with an enrollment code: the simulator's and ESP32 main.cpp's requests; off unless created; revoked; rate-limited" {
	# No code exists: the simulator's request (a Flask 32-hex user_id) is refused.
	sim='{"name":"sim-1","device_type":"environmental","description":"Simulated environmental device","location":"lab","user_id":"a78689be04814ac187e0191656ee6fb1","firmware_version":"1.0.0-sim","hardware_version":"SIM-v1"}'
	has "$(dev "" POST /api/v1/devices/register "$sim")" 401 '.error == "Authentication failed"'
	run iot-user enroll create alice
	assert_success
	code=$(jq -r .code <<<"$output"); prefix=$(jq -r .prefix <<<"$output")
	[[ $code =~ ^[0-9a-f]{32}$ && $code == "$prefix"* ]]
	[[ $(q "select count(*) from user_enrollment where code_digest::text like '%$code%'") == 0 ]]
	# The simulator: 201, reads device.id and device.api_key; the device is alice's.
	r=$(dev "" POST /api/v1/devices/register "${sim/a78689be04814ac187e0191656ee6fb1/$code}")
	has "$r" 201 '(.device.id | type) == "number" and (.device.api_key | startswith("iotf_")) and .device.owner.username == "alice"'
	# ESP32 main.cpp: capabilities and metadata members, the code in user_id.
	esp='{"name":"esp32_5001","device_type":"esp32","description":"ESP32 IoT device with DHT11 temperature and humidity sensor","location":"lab","firmware_version":"1.0.0","hardware_version":"ESP32-WROOM-32","capabilities":["temperature","humidity","wifi_monitoring","remote_control"],"metadata":{"mac_address":"aa","chip_model":"ESP32","chip_revision":1,"cpu_freq_mhz":240,"flash_size":4194304},"user_id":"'"$code"'"}'
	has "$(dev "" POST /api/v1/devices/register "$esp")" 201 '.device.name == "esp32_5001" and (.device.api_key | length) > 40'
	has "$(dev "" POST /api/v1/devices/register "$esp")" 409 '.error == "Device name already exists"'
	# The ESP32 .ino sends neither user_id nor a token: 401 saying what to send.
	has "$(dev "" POST /api/v1/devices/register '{"name":"esp32_010","device_type":"esp32"}')" 401 '.error == "Authentication required" and (.message | contains("enrollment code"))'
	run iot-user enroll list alice
	assert_success
	[[ $(jq -r .usage_count <<<"$output") == 3 && $output != *"$code"* ]]
	run iot-user enroll revoke alice "$prefix"
	assert_success
	has "$(dev "" POST /api/v1/devices/register "${sim/a78689be04814ac187e0191656ee6fb1/$code}")" 401
	# Rate limit per address: 10 per 300 s without a token (four used above), then 429.
	for i in 1 2 3 4 5 6; do dev "" POST /api/v1/devices/register "$sim" >/dev/null; done
	r=$(req -D "$BATS_TEST_TMPDIR/h" -X POST -H 'Content-Type: application/json' --data-binary "$sim" "$U/api/v1/devices/register")
	has "$r" 429 '.error == "Rate limit exceeded"'
	grep -qi '^Retry-After: [0-9]' "$BATS_TEST_TMPDIR/h"
	# A person with a token is not held back by it.
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"after","device_type":"x"}')" 201
}

@test "behind a trusted proxy the enrollment limit and /metrics go by the forwarded client; without the setting X-Forwarded-For is ignored" {
	local bad='{"name":"p","device_type":"x","user_id":"00000000000000000000000000000000"}' i r
	enroll() { req -X POST -H 'Content-Type: application/json' "$@" --data-binary "$bad" "$U/api/v1/devices/register"; }
	# Not trusted: every client the header names shares the peer's limit.
	for i in $(seq 1 10); do enroll -H "X-Forwarded-For: 192.0.2.$i" >/dev/null; done
	has "$(enroll -H 'X-Forwarded-For: 192.0.2.99')" 429
	has "$(req -H 'X-Forwarded-For: 192.0.2.1' "$U/metrics")" 200
	kill "$HTTPD_PID"; wait "$HTTPD_PID" || true
	IOTFLOW_TRUSTED_PROXIES='10.9.0.0/16, 127.0.0.1 ::1' start_httpd
	# The client is the rightmost address that is not a trusted proxy.
	for i in $(seq 1 10); do has "$(enroll -H 'X-Forwarded-For: 198.51.100.7')" 401; done
	has "$(enroll -H 'X-Forwarded-For: 198.51.100.7')" 429
	has "$(enroll -H 'X-Forwarded-For: 198.51.100.8')" 401
	has "$(enroll -H 'X-Forwarded-For: 198.51.100.8, 10.9.3.4')" 401
	has "$(enroll -H 'X-Forwarded-For: 198.51.100.9, 198.51.100.7')" 429
	# What a client wrote on the left does not move it out of its limit.
	has "$(enroll -H 'X-Forwarded-For: 198.51.100.7, 198.51.100.10')" 401
	has "$(enroll -H 'X-Forwarded-For: 198.51.100.10' -H 'X-Forwarded-For: 198.51.100.7')" 429
	# A trusted peer that names no client: one shared limit for all such.
	for i in $(seq 1 10); do enroll >/dev/null; done
	has "$(enroll)" 429
	has "$(enroll -H 'X-Forwarded-For: not-an-address')" 429
	# /metrics: local only when the forwarded client is.
	has "$(req -H 'X-Forwarded-For: 198.51.100.7' "$U/metrics")" 401
	has "$(req "$U/metrics")" 401
	has "$(req -H 'X-Forwarded-For: 127.0.0.1' "$U/metrics")" 200
	has "$(req -H 'X-Forwarded-For: 127.0.0.1, 198.51.100.7' "$U/metrics")" 401
	# A setting that does not parse stops the start, saying why.
	run env IOTFLOW_TRUSTED_PROXIES='10.0.0.0/33' iot-httpd --listen 127.0.0.1:1
	assert_failure 2
	assert_output --partial "trusted_proxies setting: '10.0.0.0/33' is not an address"
}

@test "contrib/nginx/iotflow.conf in front: each client has its own enrollment limit, a forged X-Forwarded-For moves nobody, /metrics stays inside" {
	local nginx=/usr/sbin/nginx np n i
	[[ -x $nginx ]] || skip "nginx is not installed (scripts/deps.sh installs nginx-light)"
	kill "$HTTPD_PID"; wait "$HTTPD_PID" || true
	IOTFLOW_TRUSTED_PROXIES='127.0.0.1, ::1' start_httpd
	n=$BATS_TEST_TMPDIR/nginx; mkdir -p "$n/tmp"; np=$(_iot_pick_port)
	sed -e "s/127.0.0.1:5000/127.0.0.1:$PORT/" -e "s/listen 80;/listen 127.0.0.1:$np;/" -e '/listen \[::\]:80;/d' \
		"$IOTFLOW_ROOT/contrib/nginx/iotflow.conf" > "$n/site.conf"
	cat > "$n/nginx.conf" <<-EOF
		daemon off; pid $n/nginx.pid; error_log $n/error.log warn;
		events { worker_connections 64; }
		http { access_log off; client_body_temp_path $n/tmp/body; proxy_temp_path $n/tmp/proxy;
		       fastcgi_temp_path $n/tmp/f; uwsgi_temp_path $n/tmp/u; scgi_temp_path $n/tmp/s;
		       include $n/site.conf; }
	EOF
	"$nginx" -t -p "$n" -c "$n/nginx.conf" -e "$n/error.log" 2>"$n/t.log" || { cat "$n/t.log"; return 1; }
	"$nginx" -p "$n" -c "$n/nginx.conf" -e "$n/error.log" 3>&- &
	NGINX_PID=$!
	for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$np/health" && break; sleep 0.1; done
	local bad='{"name":"p","device_type":"x","user_id":"00000000000000000000000000000000"}'
	enroll() { req -X POST -H 'Content-Type: application/json' "$@" --data-binary "$bad" "http://127.0.0.1:$np/api/v1/devices/register"; }
	# The API through nginx, as without it.
	has "$(req -X POST -H "X-API-Key: $KEY_A" -H 'Content-Type: application/json' --data-binary '{"data":{"t":1}}' "http://127.0.0.1:$np/api/v1/telemetry")" 201
	# Clients on 127.0.0.2 and 127.0.0.3 (nginx on 127.0.0.1 is the trusted peer).
	for i in $(seq 1 10); do has "$(enroll --interface 127.0.0.2)" 401; done
	has "$(enroll --interface 127.0.0.2)" 429
	has "$(enroll --interface 127.0.0.3)" 401
	has "$(enroll --interface 127.0.0.2 -H 'X-Forwarded-For: 127.0.0.3')" 429
	has "$(enroll --interface 127.0.0.3 -H 'X-Forwarded-For: 127.0.0.2')" 401
	has "$(req "http://127.0.0.1:$np/metrics")" 404
	kill "$NGINX_PID"; wait "$NGINX_PID" || true; NGINX_PID=
}

@test "GET /api/v1/devices/statuses and /{id}/status: authenticated, own devices, 404 not 500" {
	has "$(as "" GET /api/v1/devices/statuses)" 401
	r=$(as "$ALICE" GET /api/v1/devices/statuses)
	has "$r" 200 '.status == "success" and ([.devices[].name] | sort) == ["dev-a","dev-off"] and .meta.total == 2
		and .meta.limit == 100 and .meta.offset == 0 and (.meta.cache_used | type) == "boolean"
		and (.devices[0] | keys) == ["device_type","id","is_online","name","status"]'
	has "$(as "$ROOT" GET '/api/v1/devices/statuses?limit=1&offset=1')" 200 '.meta.total == 3 and (.devices | length) == 1 and .devices[0].id == '"$B"
	has "$(as "$ALICE" GET '/api/v1/devices/statuses?limit=abc')" 400
	has "$(as "$ALICE" GET '/api/v1/devices/statuses?limit=100000')" 400
	has "$(as "$ALICE" GET '/api/v1/devices/statuses?offset=2147483647')" 200 '.meta.offset == 2147483647 and .devices == []'
	has "$(as "$ALICE" GET '/api/v1/devices/statuses?offset=2147483648')" 400 '.message | test("2147483647")'
	has "$(dev "$KEY_A" GET /api/v1/devices/statuses)" 200 '[.devices[].id] == ['"$A"'] and .meta.total == 1'
	# One device: the owner, an admin, the device itself; nobody else.
	r=$(as "$ALICE" GET "/api/v1/devices/$A/status")
	has "$r" 200 '.device.id == '"$A"' and .device.is_online == false and .device.status_source == "database"
		and .device.last_seen == null and .device.last_seen_source == "database" and .device.status == "active"'
	dev "$KEY_A" POST /api/v1/devices/heartbeat >/dev/null
	has "$(dev "$KEY_A" GET "/api/v1/devices/$A/status")" 200 '.device.is_online == true and .device.last_seen != null'
	has "$(as "$ROOT" GET "/api/v1/devices/$B/status")" 200 '.device.id == '"$B"
	has "$(as "$ALICE" GET "/api/v1/devices/$B/status")" 404
	r=$(dev "$KEY_A" GET "/api/v1/devices/$B/status")
	has "$r" 403
	[[ $r != *dev-b* ]]
	has "$(as "$ALICE" GET /api/v1/devices/999999/status)" 404 '.error == "Device not found"'
	has "$(as "$ROOT" GET /api/v1/devices/999999/status)" 404
	has "$(dev "$KEY_OFF" GET "/api/v1/devices/$OFF/status")" 403 '.error == "Device inactive"'
	# Reading the status changed nothing (the Flask 5 s rule wrote the database).
	[[ $(q "select status from devices where id = $B") == active ]]
}

@test "admin routes 27-31 with an admin's token (Bearer or the Flask 'admin' form); a device key 403; 32-39 410" {
	adm() { req -X "$1" -H "Authorization: admin $ROOT" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "$U$2"; }
	dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"n","config_value":5}' >/dev/null
	r=$(adm GET /api/v1/admin/devices)
	has "$r" 200 '.status == "success" and .total_devices == 3 and (.devices | map(select(.id == '"$A"'))[0]
		| .auth_records_count == 1 and .config_count == 1 and .name == "dev-a") and (tostring | contains("iotf_") | not)'
	has "$(as "$ROOT" GET /api/v1/admin/devices)" 200 '.total_devices == 3'
	r=$(adm GET "/api/v1/admin/devices/$A")
	has "$r" 200 '.device.id == '"$A"' and (.auth_records | length) == 1 and .auth_records[0].is_active == true
		and .auth_records[0].usage_count >= 0 and .configurations.n.value == 5 and .configurations.n.data_type == "integer"'
	has "$(adm GET /api/v1/admin/devices/999999)" 404
	# PUT status: the device is locked out, and back.
	has "$(adm PUT "/api/v1/admin/devices/$A/status" '{"status":"maintenance"}')" 200 '.message == "Device status updated from active to maintenance"
		and .device_id == '"$A"' and .old_status == "active" and .new_status == "maintenance"'
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 403 '.message == "Device is currently maintenance"'
	has "$(adm PUT "/api/v1/admin/devices/$A/status" '{"status":"active"}')" 200
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 200
	has "$(adm PUT "/api/v1/admin/devices/$A/status" '{"x":1}')" 400 '.error == "Missing status"'
	has "$(adm PUT "/api/v1/admin/devices/$A/status" '{"status":"offline"}')" 400 '.error == "Invalid status"'
	has "$(adm PUT /api/v1/admin/devices/999999/status '{"status":"active"}')" 404
	dev "$KEY_A" POST /api/v1/devices/heartbeat >/dev/null
	r=$(adm GET /api/v1/admin/stats)
	has "$r" 200 '.device_stats == {"total":3,"active":2,"inactive":1,"maintenance":0,"online":1,"offline":1}
		and .auth_stats.total_records == 3 and .config_stats.total_configs == 1 and (.timestamp | type) == "string"'
	# Who may not: a person who is not an admin, no token, a device key (even with a token).
	has "$(as "$ALICE" GET /api/v1/admin/devices)" 403
	has "$(req -H "Authorization: admin $ALICE" "$U/api/v1/admin/stats")" 403 '.error == "Invalid admin token"'
	has "$(req -H "Authorization: admin test" "$U/api/v1/admin/stats")" 403
	has "$(req "$U/api/v1/admin/devices")" 401
	for p in /api/v1/admin/devices "/api/v1/admin/devices/$A" /api/v1/admin/stats; do
		r=$(dev "$KEY_A" GET "$p")
		has "$r" 403
		[[ $r != *dev-b* && $r != *total* ]]
	done
	has "$(dev "$KEY_A" DELETE "/api/v1/admin/devices/$B")" 403
	has "$(dev "$KEY_A" PUT "/api/v1/admin/devices/$B/status" '{"status":"inactive"}')" 403
	[[ $(q "select status from devices where id = $B") == active ]]
	# DELETE: the device, its keys and telemetry go; a second time 404.
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_B" --data-binary '{"data":{"t":1}}' "$U/api/v1/telemetry"
	has "$(adm DELETE "/api/v1/admin/devices/$B")" 200 '.status == "success" and .message == "Device dev-b deleted successfully" and .device_id == '"$B"
	[[ $(q "select count(*) from devices where id = $B") == 0 && $(q "select count(*) from telemetry_data where device_id = $B") == 0 ]]
	has "$(dev "$KEY_B" GET /api/v1/devices/status)" 401
	has "$(adm DELETE "/api/v1/admin/devices/$B")" 404
	# The Flask Redis-sync and cache routes: 410 with a reason, for admins only.
	for mp in "DELETE /api/v1/admin/cache/device-status" "GET /api/v1/admin/cache/device-status" "DELETE /api/v1/admin/cache/devices/$A" \
		"GET /api/v1/admin/redis-db-sync/status" "POST /api/v1/admin/redis-db-sync/enable" "POST /api/v1/admin/redis-db-sync/disable" \
		"POST /api/v1/admin/redis-db-sync/force-sync/$A" "POST /api/v1/admin/redis-db-sync/bulk-sync"; do
		has "$(adm ${mp% *} "${mp#* }")" 410 '.error == "Not supported" and (.message | contains("no meaning"))'
	done
	has "$(dev "$KEY_A" POST /api/v1/admin/redis-db-sync/bulk-sync)" 403
}

# The device routes' happy paths against whatever server $U is.
device_routes() {
	local r
	has "$(dev "$KEY_A" GET /api/v1/devices/status)" 200 '.device.id == '"$A"' and .device.name == "dev-a"'
	has "$(dev "$KEY_A" POST /api/v1/devices/heartbeat '{"status":"alive"}')" 200 '.message == "Heartbeat received" and .device_id == '"$A"
	has "$(req -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" "$U/api/v1/devices/credentials")" 200 \
		'.device.id == '"$A"' and .device.owner.username == "alice"'
	has "$(dev "$KEY_A" GET /api/v1/devices/mqtt-credentials)" 200 '.credentials.username == "'"$A"'"'
	has "$(dev "$KEY_A" POST /api/v1/devices/config '{"config_key":"mode'"$1"'","config_value":7}')" 200 '.config_value == 7'
	has "$(dev "$KEY_A" GET /api/v1/devices/config)" 200 '.configuration["mode'"$1"'"].value == 7'
	r=$(as "$ALICE" POST /api/v1/devices/register '{"name":"reg-'"$1"'","device_type":"esp32"}')
	has "$r" 201 '.device.name == "reg-'"$1"'" and (.device.api_key | startswith("iotf_"))'
	local key; key=$(body "$r" | jq -r .device.api_key)
	has "$(dev "$key" GET /api/v1/devices/status)" 200 '.device.name == "reg-'"$1"'"'
	has "$(as "$ALICE" GET /api/v1/devices/statuses)" 200 '[.. | objects | select(.name? == "reg-'"$1"'")] | length == 1'
}

@test "the device routes through socket activation (fd 3) and inetd mode (fd 0), not only --listen" {
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
	teardown   # the --listen server of setup
	mapfile -t envs < <(activate_env)
	local mode
	fd3() { systemd-socket-activate "${envs[@]}" -l "127.0.0.1:$PORT" "$IOTFLOW_ROOT/bin/iot-httpd" 2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- & }
	# One iot-httpd per connection, the connection on its standard input.
	inetd() {
		systemd-socket-activate "${envs[@]}" --inetd -a -l "127.0.0.1:$PORT" "$IOTFLOW_ROOT/bin/iot-httpd" --inetd \
			2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
	}
	for mode in fd3 inetd; do
		on_spare_port "$mode"
		device_routes "$mode"
		teardown
		HTTPD_PID=
	done
	[[ $(q "select count(*) from devices where name in ('reg-fd3', 'reg-inetd')") == 2 ]]
}

@test "README: the registration session runs as written against a real server" {
	# The README's block, its server address made ours.
	awk '/^Register a device over HTTP/ { on = 1 } on && /^```$/ { exit } on && code { print } on && /^```sh$/ { code = 1 }' \
		"$IOTFLOW_ROOT/README.md" | sed "s|http://127.0.0.1:5000|$U|g" > "$BATS_TEST_TMPDIR/session.sh"
	grep -q 'devices/register' "$BATS_TEST_TMPDIR/session.sh"
	run bash -e "$BATS_TEST_TMPDIR/session.sh"
	assert_success
	echo "$output"
	# The registration's 201 body, the telemetry's 201, the latest value.
	assert_line --index 0 --regexp '"message":"Device registered successfully"'
	assert_line --index 0 --regexp '"api_key":"iotf_'
	[[ $output == *'"temperature"'*'19'* ]]
	[[ $(q "select count(*) from telemetry_latest l join devices d on d.id = l.device_id where d.name = 'thermo-2'") == 1 ]]
}
