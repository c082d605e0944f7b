#!/usr/bin/env bats
# iot-httpd against real PostgreSQL, Redis and Mosquitto, with curl: every
# route of this release with its happy path and its documented errors, the
# limits, metrics. Start modes and faults: tests/httpd_faults.bats.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_helpers

@test "request parsing: unit tests (routes, content types, body records, query strings) under ASan+UBSan" {
	make -C "$IOTFLOW_ROOT" --no-print-directory -s build/unit/test_http >&2
	run "$IOTFLOW_ROOT/build/unit/test_http"
	assert_success
	assert_output --regexp '^[0-9]+ passed, 0 failed$'
}

@test "iot-httpd --help, --version, bad options" {
	run iot-httpd --help
	assert_success
	assert_output --partial 'Usage: iot-httpd [OPTION]...'
	run iot-httpd --version
	assert_success
	assert_output --regexp '^iot-httpd \(IoTFlow\) '
	run --separate-stderr iot-httpd --no-such-option
	assert_equal "$status" 2
	[[ $stderr == *"Try 'iot-httpd --help'"* ]]
	run --separate-stderr iot-httpd --listen nowhere:http
	assert_equal "$status" 2
	run --separate-stderr iot-httpd --rate-limit 10/0
	assert_equal "$status" 2
	run --separate-stderr iot-httpd --inetd --listen 5000
	assert_equal "$status" 2
	# A port someone else holds: said, and the usage status.
	start_httpd
	run --separate-stderr iot-httpd --listen "127.0.0.1:$PORT"
	assert_equal "$status" 2
	[[ $stderr == *"unable to listen on 127.0.0.1:$PORT: Address already in use"* ]]
}

@test "PostgreSQL unreachable at start: exit 5 after db_retry_time" {
	IOTFLOW_DB_RETRY_TIME=0 run --separate-stderr iot-httpd --db 'host=127.0.0.1 port=1' --listen 127.0.0.1:0
	assert_equal "$status" 5
	[[ $stderr == *"unable to connect to PostgreSQL"* ]]
}

@test "GET / and GET /health, plain and detailed" {
	start_httpd
	run curl -s "$U/"
	assert_success
	assert_equal "$(jq -r '.name, .version, .endpoints.health' <<<"$output")" "IoTFlow
$(iot-httpd --version | awk '{ print $NF }')
/health"
	run curl -s -w '\n%{http_code}' "$U/health"
	assert_line --index 0 '{"status":"healthy","message":"IoT Connectivity Layer is running","version":"'"$(iot-httpd --version | awk '{ print $NF }')"'"}'
	assert_line --index 1 200
	run curl -s -w '\n%{http_code}' "$U/health?detailed=true"
	assert_line --index 1 200
	assert_equal "$(jq -r '.status, .checks.database.status, .checks.redis.status, .checks.broker.status, (.checks.database.response_time_ms | type)' <<<"${lines[0]}")" "healthy
connected
connected
connected
number"
	# The Flask service's /status: the detailed form.
	run curl -s "$U/status"
	assert_equal "$(jq -r '.status, .checks.database.status' <<<"$output")" "healthy
connected"
	run curl -s -w '\n%{http_code}' "$U/health?detailed=maybe"
	assert_line --index 1 400
	run curl -s -o /dev/null -w '%{http_code}' -I "$U/health"
	assert_output 200
}

@test "GET /health?detailed=true: degraded (200) without Redis and broker, unhealthy (503) without PostgreSQL" {
	IOTFLOW_DB_RETRY_TIME=1 start_httpd
	iot_redis_stop
	iot_mqtt_stop
	run curl -s -w '\n%{http_code}' "$U/health?detailed=True"
	iot_redis_start
	iot_mqtt_start
	assert_line --index 1 200
	assert_equal "$(jq -c '[.status, .checks.redis.healthy, .checks.broker.healthy, .failed_checks]' <<<"${lines[0]}")" \
		'["degraded",false,false,["redis","broker"]]'
	iot_pg_stop
	run curl -s -D "$BATS_TEST_TMPDIR/headers" -w '\n%{http_code}' "$U/health?detailed=1"
	iot_pg_start
	assert_line --index 1 503
	grep -qi '^Retry-After: 5' "$BATS_TEST_TMPDIR/headers"
	assert_equal "$(jq -r '.status, .checks.database.healthy' <<<"${lines[0]}")" "unhealthy
false"
	# Not configured is not a failure.
	kill -TERM "$HTTPD_PID"; wait "$HTTPD_PID"
	IOTFLOW_MQTT_URL= start_httpd --no-cache
	run curl -s "$U/health?detailed=true"
	assert_equal "$(jq -c '[.status, .checks.redis.status, .checks.broker.status]' <<<"$output")" '["healthy","not_configured","not_configured"]'
}

@test "unknown paths 404, wrong methods 405 with Allow, OPTIONS, all as JSON" {
	start_httpd
	run curl -s -i "$U/no/such/path"
	assert_line --partial 'HTTP/1.1 404'
	assert_line --partial 'Content-Type: application/json'
	assert_output --partial '{"error":"Not Found","message":"The requested resource was not found"}'
	# No trailing slash, as the Flask rules; an id is a positive integer.
	run curl -s -o /dev/null -w '%{http_code}' -X POST "$U/api/v1/telemetry/"
	assert_output 404
	run curl -s -o /dev/null -w '%{http_code}' "$U/api/v1/telemetry/abc"
	assert_output 404
	run curl -s -o /dev/null -w '%{http_code}' "$U/api/v1/telemetry/0"
	assert_output 404
	run curl -s -i -X DELETE "$U/health"
	assert_line --partial 'HTTP/1.1 405'
	assert_line --partial 'Allow: GET, HEAD, OPTIONS'
	assert_output --partial '{"error":"Method Not Allowed","message":"DELETE is not allowed on /health"}'
	run curl -s -i "$U/api/v1/telemetry"
	assert_line --partial 'HTTP/1.1 405'
	assert_line --partial 'Allow: POST, OPTIONS'
	run curl -s -i -X PUT "$U/api/v1/telemetry/7"
	assert_line --partial 'Allow: GET, HEAD, DELETE, OPTIONS'
	run curl -s -i -X OPTIONS "$U/api/v1/telemetry"
	assert_line --partial 'HTTP/1.1 204'
	assert_line --partial 'Allow: POST, OPTIONS'
	# The read side is served (tests/httpd_read.bats).
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A"
	assert_output --regexp '^200 \{.*"data":\[\]\}$'
}

@test "POST /api/v1/telemetry: every value type and the metadata stored; the Flask 201 shape" {
	start_httpd
	run post "$KEY_A" '{"data":{"temperature":23.5,"count":7,"state":"ok","door":true,"pos":{"x":1,"y":[2,3]}},"metadata":{"fw":"1.2"},"timestamp":"2026-11-28T06:00:00.250Z"}'
	assert_output --regexp '^201 '
	assert_equal "$(body "$output" | jq -c '[.message, .device_id, .device_name, .timestamp, .stored_in_postgres, .points, .stored]')" \
		"[\"Telemetry data stored successfully\",$A,\"dev-a\",\"2026-11-28T06:00:00.250000Z\",true,5,5]"
	run q "select measurement_name, numeric_value, text_value, boolean_value, json_value, metadata->>'fw' from telemetry_data where device_id = $A order by 1"
	assert_output 'count|7||||1.2
door|||t||1.2
pos||||{"x": 1, "y": [2, 3]}|1.2
state||ok|||1.2
temperature|23.5||||1.2'
	# The same record again: already stored, still a success (a client retrying after a lost answer).
	run post "$KEY_A" '{"data":{"temperature":23.5,"count":7,"state":"ok","door":true,"pos":{"x":1,"y":[2,3]}},"metadata":{"fw":"1.2"},"timestamp":"2026-11-28T06:00:00.250Z"}'
	assert_output --regexp '^201 '
	assert_equal "$(body "$output" | jq -c '[.stored, .duplicates]')" '[0,5]'
	assert_equal "$(rows)" 5
	# No timestamp: the arrival time.
	run post "$KEY_A" '{"data":{"rpm":900}}'
	assert_output --regexp '^201 '
	assert_equal "$(q "select abs(extract(epoch from now() - ts)) < 60 from telemetry_data where measurement_name = 'rpm'")" t
}

@test "compat: the single-telemetry script's POST is answered as it expects" {
	start_httpd
	local ts
	ts=$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)
	run curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		-d "{\"data\":{\"temperature\":22.5},\"metadata\":{\"test_type\":\"single_measurement\",\"source\":\"test_single_telemetry.py\"},\"timestamp\":\"$ts\"}" \
		"$U/api/v1/telemetry"
	assert_line --index 1 201
	assert_equal "$(jq -r '.device_id, .device_name, (.timestamp | length > 0)' <<<"${lines[0]}")" "$A
dev-a
true"
	assert_equal "$(q "select numeric_value, metadata->>'source' from telemetry_data")" '22.5|test_single_telemetry.py'
}

@test "a key copied into the metadata (the Flask master scripts) is never stored, served or quoted back" {
	start_httpd
	# send_mqtt_telemetry_once.py's shape over HTTP: the key at the top and inside the metadata.
	run post "$KEY_A" "{\"data\":{\"temperature\":24.5},\"metadata\":{\"source\":\"script\",\"api_key\":\"$KEY_A\",\"note\":{\"other\":\"key $KEY_B\"}},\"api_key\":\"$KEY_A\"}"
	assert_output --regexp '^201 '
	assert_equal "$(q "select metadata::text from telemetry_data where device_id = $A")" \
		'{"note": {"other": "key iotf_(not shown)"}, "source": "script"}'
	assert_equal "$(q "select count(*) from telemetry_data where metadata::text like '%${KEY_A:5:20}%' or metadata::text like '%${KEY_B:5:20}%'")" 0
	run curl -s -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A?metadata=true&start_time=-1h"
	assert_equal "$(jq -c '.data[0].metadata' <<<"$output")" '{"note":{"other":"key iotf_(not shown)"},"source":"script"}'
	[[ $output != *"${KEY_A:5}"* && $output != *"${KEY_B:5}"* ]]
	# A key where a timestamp or a member name belongs: refused, and not quoted in the reason.
	run post "$KEY_A" "{\"data\":{\"a\":1},\"timestamp\":\"$KEY_B\"}"
	assert_output --regexp '^400 '
	assert_output --partial 'iotf_(not shown)'
	[[ $output != *"${KEY_B:5}"* ]]
	run post "$KEY_A" "[{\"data\":{\"a\":1}},{\"data\":{\"a\":2},\"$KEY_B\":1}]"
	assert_output --regexp '^207 '
	assert_output --partial 'unknown member \"iotf_(not shown)\"'
	[[ $output != *"${KEY_B:5}"* ]]
}

@test "compat: POST and GET /api/v1/devices/telemetry (locust with LOCUST_DEVICE_ID), in PostgreSQL, by the key only" {
	start_httpd
	local ts body
	ts=$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)
	# locust's request: the Flask message, the same store and decoder as POST /api/v1/telemetry.
	run req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		-d "{\"data\":{\"temperature\":21.5,\"humidity\":40.25,\"battery\":88.5},\"timestamp\":\"$ts\"}" "$U/api/v1/devices/telemetry"
	has "$output" 201 '.message == "Telemetry data received successfully" and .device_id == '"$A"'
		and .device_name == "dev-a" and .stored_in_postgres == true and .stored == 3 and (has("stored_in_iotdb") | not)'
	assert_equal "$(q "select measurement_name || '=' || numeric_value from telemetry_data where device_id = $A order by 1")" 'battery=88.5
humidity=40.25
temperature=21.5'
	# The same decoder's answers: a batch, a refusal, another device's record.
	run req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" -d '[{"data":{"b1":1}},{"data":{}}]' "$U/api/v1/devices/telemetry"
	has "$output" 207 '.records == 2 and .stored == 1'
	has "$(dev "$KEY_A" POST /api/v1/devices/telemetry '{"data":{"t":1},"timestamp":"yesterday"}')" 400 '.error == "Invalid timestamp format. Use ISO 8601 format."'
	has "$(dev "$KEY_A" POST /api/v1/devices/telemetry "{\"device_id\":$B,\"data\":{\"t\":1}}")" 403 '.error == "Forbidden: device mismatch"'
	# The device by its key alone: none 401, inactive 403, a person's token 401.
	has "$(dev "" POST /api/v1/devices/telemetry '{"data":{"t":1}}')" 401 '.error == "API key required"'
	has "$(dev "$KEY_OFF" POST /api/v1/devices/telemetry '{"data":{"t":1}}')" 403 '.error == "Device inactive"'
	has "$(as "$ALICE" POST /api/v1/devices/telemetry '{"data":{"t":1}}')" 401 '.error == "API key required"'
	assert_equal "$(rows)" 4
	# GET: the Flask shape, from PostgreSQL (what POST /api/v1/telemetry stored too).
	post "$KEY_A" '{"data":{"pressure":1013.25}}' >/dev/null
	r=$(dev "$KEY_A" GET /api/v1/devices/telemetry)
	has "$r" 200 '.status == "success" and .device_id == '"$A"' and .count == 3 and .limit == 100
		and .start_time == "-24h" and (.telemetry | length) == 3 and .telemetry[0].pressure == 1013.25
		and .telemetry[0].measurements.pressure == 1013.25 and .telemetry[-1].temperature == 21.5'
	has "$(dev "$KEY_A" GET '/api/v1/devices/telemetry?limit=1&measurement=temperature')" 200 \
		'.count == 1 and .limit == 1 and .telemetry[0].temperature == 21.5'
	has "$(dev "$KEY_A" GET '/api/v1/devices/telemetry?limit=5000')" 200 '.limit == 1000'
	has "$(dev "$KEY_A" GET '/api/v1/devices/telemetry?start_time=-1m&end_time=-30s')" 200 '.count == 0'
	# Bad arguments are 400, never the Flask 500 or its silent empty answer.
	has "$(dev "$KEY_A" GET '/api/v1/devices/telemetry?limit=abc')" 400
	has "$(dev "$KEY_A" GET '/api/v1/devices/telemetry?start_time=yesterday')" 400
	has "$(dev "$KEY_A" GET '/api/v1/devices/telemetry?type=sensor')" 400
	has "$(dev "" GET /api/v1/devices/telemetry)" 401 '.error == "API key required"'
	has "$(dev "$KEY_OFF" GET /api/v1/devices/telemetry)" 403 '.error == "Device inactive"'
	has "$(as "$ALICE" GET /api/v1/devices/telemetry)" 401
	# Only its own: B sees nothing of A's.
	has "$(dev "$KEY_B" GET /api/v1/devices/telemetry)" 200 '.device_id == '"$B"' and .count == 0'
}

@test "POST /api/v1/telemetry errors in the Flask order, with the right statuses and no 500" {
	start_httpd
	run req -X POST -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry"
	assert_output '400 {"error":"No data provided","message":"The request body is empty"}'
	local b
	for b in '{}' '[]' 'null' '  '; do
		run post "$KEY_A" "$b"
		assert_output --regexp '^400 \{"error":"No data provided"'
	done
	# Falsy body before the key, as the original.
	run post '' '{}'
	assert_output --regexp '^400 \{"error":"No data provided"'
	run req -X POST -H "X-API-Key: $KEY_A" -d '{"data":{"t":1}}' "$U/api/v1/telemetry"
	assert_output '415 {"error":"Unsupported Media Type","message":"Content-Type must be application/json or application/x-ndjson"}'
	run post '' '{"data":{"t":1}}'
	assert_output '401 {"error":"API key required","message":"Please provide API key in X-API-Key header"}'
	run post 'iotf_not-a-key' '{"data":{"t":1}}'
	assert_output '401 {"error":"Invalid API key","message":"The provided API key is not valid"}'
	run post "$KEY_A" '{"metadata":{"a":1}}'
	assert_output --regexp '^400 \{"error":"Telemetry data is required"'
	run post "$KEY_A" '{"data":{}}'
	assert_output --regexp '^400 \{"error":"Telemetry data is required"'
	run post "$KEY_A" '{"data":{"t":1},"timestamp":"yesterday"}'
	assert_output --regexp '^400 \{"error":"Invalid timestamp format. Use ISO 8601 format.","message":"timestamp .*"\}$'
	# (Without a zone it is UTC, as for the Flask service: tests/httpd_read.bats.)
	run post "$KEY_A" '{"data":{"t":1},"timestamp":"2026-11-28T06:00:00+25:00"}'
	assert_output --regexp '^400 \{"error":"Invalid timestamp format. Use ISO 8601 format."'
	# Not JSON: Invalid JSON, as the other routes and iot-httpd(8) say;
	# decoded only for a valid key (without one, 401).
	for b in '{"data":{"t":1}' '{"data":{"t":NaN}}' '{bad}' '"text"'; do
		run post "$KEY_A" "$b"
		assert_output --regexp '^400 \{"error":"Invalid JSON","message":"invalid JSON at column [0-9]+: '
		run post '' "$b"
		assert_output --regexp '^401 \{"error":"API key required"'
	done
	for b in '{"data":{"t":1},"data":{"t":2}}' '{"data":{"t":null}}'; do
		run post "$KEY_A" "$b"
		assert_output --regexp '^400 \{"error":"Invalid telemetry data","message":"'
	done
	run post "$KEY_OFF" '{"data":{"t":1}}'
	assert_output '403 {"error":"Device inactive","message":"Device is currently inactive"}'
	# A key in the URL is refused, even a valid one, and it is not echoed.
	run post "$KEY_A" '{"data":{"t":1}}' -G --data-urlencode "api_key=$KEY_A" -X POST
	assert_output --regexp '^400 \{"error":"Credentials in URL"'
	refute_output --partial "$KEY_A"
	# The other names of secrets, and a key's or token's shape under any name.
	local qs
	for qs in "key=$KEY_A" "bearer=$ALICE" "authorization=Bearer%20$ALICE" 'password=s3cret-passw0rd' \
		"q=$KEY_A" "start_time=$ALICE" "$KEY_A=1"; do
		run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A?$qs"
		assert_output --regexp '^400 \{"error":"Credentials in URL","message":"The query parameter [a-z_ A-Z]+ is refused: '
		refute_output --partial "$KEY_A"
		refute_output --partial "$ALICE"
		refute_output --partial 's3cret'
	done
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A?measurement=iotf_short"
	assert_output --regexp '^200 '
	assert_equal "$(rows)" 0
}

@test "credentials: optional whitespace around X-API-Key and Authorization values is not part of them (RFC 9110 5.5)" {
	IOTFLOW_METRICS_TOKEN=m3trics-t0ken start_httpd
	local tab=$'\t'
	run req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A " -d '{"data":{"t":1}}' "$U/api/v1/telemetry"
	assert_output --regexp '^201 '
	run req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A$tab" -d '{"data":{"u":1}}' "$U/api/v1/telemetry"
	assert_output --regexp '^201 '
	has "$(req -H "X-API-Key: $KEY_A $tab " "$U/api/v1/devices/credentials")" 200
	has "$(req -H "Authorization: Bearer $ALICE " "$U/api/v1/telemetry/$A")" 200
	has "$(req -H "Authorization: Bearer  $ALICE$tab" "$U/api/v1/telemetry/$A")" 200
	has "$(req -H "Authorization: admin $ROOT " "$U/api/v1/admin/stats")" 200
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer m3trics-t0ken " "$U/metrics"
	assert_output 200
	# Whitespace inside a value is still part of it; whitespace alone is no key.
	has "$(req -H "X-API-Key: ${KEY_A:0:10} ${KEY_A:10}" "$U/api/v1/devices/status")" 401 '.error == "Invalid API key"'
	has "$(req -H "X-API-Key: $tab " "$U/api/v1/devices/status")" 401 '.error == "API key required"'
	assert_equal "$(rows)" 2
}

@test "a device key posting another device's data is refused and nothing is stored" {
	start_httpd
	run post "$KEY_A" "{\"device_id\":$B,\"data\":{\"t\":1}}"
	assert_output --regexp '^403 \{"error":"Forbidden: device mismatch"'
	run post "$KEY_A" "{\"api_key\":\"$KEY_B\",\"t\":1}"
	assert_output --regexp '^403 \{"error":"Forbidden: device mismatch"'
	refute_output --partial "$KEY_B"
	run post "$KEY_A" "{\"device_id\":\"$B\",\"data\":{\"t\":1}}"
	assert_output --regexp '^403 '
	assert_equal "$(rows)" 0
	# Its own id is fine.
	run post "$KEY_A" "{\"device_id\":$A,\"data\":{\"t\":1}}"
	assert_output --regexp '^201 '
	assert_equal "$(rows "device_id = $A")" 1
}

@test "batches: a JSON array, NDJSON, ThingsBoard; 201 / 207 / 400 with a result per record" {
	start_httpd
	run post "$KEY_A" "[{\"data\":{\"a\":1},\"timestamp\":\"$NOW\"},{\"ts\":$(( $(date +%s) * 1000 )),\"values\":{\"b\":\"x\"}},{\"c\":true}]"
	assert_output --regexp '^201 '
	assert_equal "$(body "$output" | jq -c '[.records, .stored, .rejected, [.results[].status]]')" '[3,3,0,["stored","stored","stored"]]'
	assert_equal "$(rows)" 3
	# Some bad, some good, one another device's: 207, the good ones stored.
	run post "$KEY_A" "[{\"data\":{\"d\":1},\"timestamp\":\"$NOW\"},{\"data\":{\"e\":1},\"timestamp\":\"yesterday\"},{\"device_id\":$B,\"data\":{\"f\":1}},{\"data\":{\"a\":1},\"timestamp\":\"$NOW\"}]"
	assert_output --regexp '^207 '
	assert_equal "$(body "$output" | jq -c '[.stored, .duplicates, .rejected, [.results[] | .status]]')" '[1,1,2,["stored","rejected","rejected","duplicate"]]'
	[[ $(body "$output" | jq -r '.results[1].error') == timestamp* ]]
	assert_equal "$(rows "device_id = $B")" 0
	assert_equal "$(rows)" 4
	# NDJSON: blank lines skipped, results carry line numbers.
	CT=application/x-ndjson run post "$KEY_A" "$(printf '{"data":{"n1":1}}\n\n{"data":{"n2":2}}\n{"data":')"
	assert_output --regexp '^207 '
	assert_equal "$(body "$output" | jq -c '[.results[] | [.line, .status]]')" '[[1,"stored"],[3,"stored"],[4,"rejected"]]'
	# Every record refused: 400, nothing stored.
	run post "$KEY_A" '[{"data":{}},{"x":null}]'
	assert_output --regexp '^400 '
	assert_equal "$(body "$output" | jq -c '[.error, .message, .rejected, .stored_in_postgres]')" '["Invalid telemetry data","No record was stored",2,false]'
	# NDJSON, a broken line and an empty one: the same error shape.
	CT=application/x-ndjson run post "$KEY_A" "$(printf '{bad}\n{"data":{}}\n')"
	assert_output --regexp '^400 \{"error":"Invalid telemetry data","message":"No record was stored",'
	# Some stored: stored_in_postgres says so.
	run post "$KEY_A" '[{"data":{"n":1}},{"data":{}}]'
	assert_output --regexp '^207 '
	assert_equal "$(body "$output" | jq -c '[.stored_in_postgres, .stored, .rejected]')" '[true,1,1]'
	# A ThingsBoard array is a batch of records too.
	run post "$KEY_A" "[{\"ts\":1764583200000,\"values\":{\"tb\":1}},{\"ts\":1764583201000,\"values\":{\"tb\":2}}]"
	assert_output --regexp '^201 '
	assert_equal "$(rows "measurement_name = 'tb'")" 2
	# Broken JSON between records: nothing stored, 400.
	run post "$KEY_A" '[{"data":{"z":1}} {"data":{"z":2}}]'
	assert_output --regexp '^400 \{"error":"Invalid JSON"'
	assert_equal "$(rows "measurement_name = 'z'")" 0
}

@test "a batch's answer: compact JSON in the documented order, the same whichever way it is written" {
	start_httpd
	local batch u ukey one two
	batch=$(printf '{"data":{"n":1},"timestamp":"%s"}\n\n{"data":{"n":1},"timestamp":"%s"}\n{"data":{"m":2},"timestamp":"yesterday"}\n{"data":{"p":1,"q":2},"timestamp":"%s"}\n' "$NOW" "$NOW" "$NOW")
	CT=application/x-ndjson run post "$KEY_A" "$batch"
	assert_output --regexp '^207 '
	one=$(body "$output")
	# Nothing but what jq writes of it: compact, keys in the order below.
	assert_equal "$(jq -c . <<<"$one")" "$one"
	assert_equal "$(jq -c 'keys_unsorted' <<<"$one")" \
		'["message","device_id","device_name","stored_in_postgres","records","stored","duplicates","rejected","points_stored","results"]'
	assert_equal "$(jq -c '[.message, .device_id, .device_name, .stored_in_postgres, .records, .stored, .duplicates, .rejected, .points_stored]' <<<"$one")" \
		"[\"Some records were stored\",$A,\"dev-a\",true,4,2,1,1,3]"
	assert_equal "$(jq -c '[.results[] | del(.error)]' <<<"$one")" \
		'[{"index":0,"status":"stored","line":1,"points":1},{"index":1,"status":"duplicate","line":3,"points":1},{"index":2,"status":"rejected","line":4},{"index":3,"status":"stored","line":5,"points":2}]'
	[[ $(jq -r '.results[2].error' <<<"$one") == timestamp* ]]
	# A device whose name is not plain ASCII is answered through jansson:
	# the same answer but for the device.
	u=$(iot-device add 'capteur-été' --owner alice)
	ukey=$(jq -r .api_key <<<"$u")
	CT=application/x-ndjson run post "$ukey" "$batch"
	assert_output --regexp '^207 '
	two=$(body "$output")
	assert_equal "$(jq -r .device_name <<<"$two")" 'capteur-été'
	assert_equal "$(jq -c 'del(.device_id, .device_name)' <<<"$two")" "$(jq -c 'del(.device_id, .device_name)' <<<"$one")"
	assert_equal "$(jq -c . <<<"$two")" "$two"
	# Every record rejected: an error first, then the same members, both ways.
	run post "$KEY_A" '[{"data":{}},{"x":null}]'
	one=$(body "$output")
	run post "$ukey" '[{"data":{}},{"x":null}]'
	two=$(body "$output")
	assert_equal "$(jq -c 'keys_unsorted' <<<"$one")" \
		'["error","message","device_id","device_name","stored_in_postgres","records","stored","duplicates","rejected","points_stored","results"]'
	assert_equal "$(jq -c 'del(.device_id, .device_name)' <<<"$two")" "$(jq -c 'del(.device_id, .device_name)' <<<"$one")"
	assert_equal "$(jq -c . <<<"$two")" "$two"
}

@test "limits: body size (413 before the body is read), points and records per request, JSON depth" {
	start_httpd --max-body 4096 --max-points 5 --max-records 3
	# Over the cap by Content-Length: 413 at once (no 100 Continue: the body is never sent).
	run req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		-H 'Expect: 100-continue' --data-binary @<(head -c 10000 /dev/zero | tr '\0' ' ') "$U/api/v1/telemetry"
	assert_output '413 {"error":"Payload Too Large","message":"The request body is over the limit of 4096 bytes"}'
	# Chunked, with no length to judge by: read, counted, dropped, then 413.
	run req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		-H 'Transfer-Encoding: chunked' --data-binary @<(head -c 10000 /dev/zero | tr '\0' ' ') "$U/api/v1/telemetry"
	assert_output --regexp '^413 \{"error":"Payload Too Large"'
	run post "$KEY_A" '{"data":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}}'
	assert_output --regexp '^413 \{"error":"Too many points"'
	run post "$KEY_A" '[{"data":{"a":1,"b":2,"c":3}},{"data":{"d":4,"e":5,"f":6}}]'
	assert_output '413 {"error":"Too many points","message":"6 points in one request, over the limit of 5"}'
	run post "$KEY_A" '[{"a":1},{"b":1},{"c":1},{"d":1}]'
	assert_output --regexp '^413 \{"error":"Too many records"'
	assert_equal "$(rows)" 0
	local deep
	deep="{\"data\":{\"x\":$(printf '[%.0s' $(seq 40))1$(printf ']%.0s' $(seq 40))}}"
	run post "$KEY_A" "$deep"
	assert_output --regexp '^400 \{"error":"Invalid telemetry data","message":"nesting deeper than 32 levels"'
	run post "$KEY_A" "[$deep]"
	assert_output --regexp '^400 '
	assert_equal "$(rows)" 0
}

@test "limits: a record of more than 1000 points is refused as iot-ingest refuses it, within --max-points" {
	start_httpd
	local big ok
	big=$(jq -cn '{data: ([range(1001)] | map({key: "m\(.)", value: .}) | from_entries)}')
	ok=$(jq -cn '{data: ([range(1000)] | map({key: "m\(.)", value: .}) | from_entries)}')
	run post "$KEY_A" "$big"
	assert_output '413 {"error":"Too many points","message":"1001 points in one record, over the limit of 1000"}'
	# The same words from iot-ingest, for the same record.
	run --separate-stderr iot-ingest --device "$A" <<<"$big"
	assert_equal "$status" 1
	[[ $stderr == *"1001 points in one record, over the limit of 1000"* ]]
	assert_equal "$(rows)" 0
	# In a batch, that record alone is rejected.
	run post "$KEY_A" "[$big,{\"data\":{\"x\":1}}]"
	assert_output --regexp '^207 '
	assert_equal "$(body "$output" | jq -r '.results[0].error')" '1001 points in one record, over the limit of 1000'
	run post "$KEY_A" "$ok"
	assert_output --regexp '^201 '
	assert_equal "$(rows)" 1001
}

@test "limits: per-device rate limit, 429 with Retry-After, in Redis and without it" {
	redis-cli -p "$IOTFLOW_REDIS_PORT" --no-auth-warning FLUSHALL >/dev/null
	start_httpd --rate-limit 3/60
	local i
	for i in 1 2 3; do
		run post "$KEY_A" "{\"data\":{\"r$i\":1}}"
		assert_output --regexp '^201 '
	done
	run curl -s -i -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" -d '{"data":{"r4":1}}' "$U/api/v1/telemetry"
	assert_line --partial 'HTTP/1.1 429'
	assert_line --regexp '^Retry-After: [0-9]+'
	assert_output --partial '"error":"Rate limit exceeded","message":"Maximum 3 requests per 60 seconds"'
	# Another device has its own budget.
	run post "$KEY_B" '{"data":{"r1":1}}'
	assert_output --regexp '^201 '
	# Redis down: the limit holds in the process.
	iot_redis_stop
	for i in 1 2 3 4; do run post "$KEY_B" "{\"data\":{\"s$i\":1}}"; done
	iot_redis_start
	assert_output --regexp '^429 '
	# A: r1-r3; B: r1 (in Redis), then s1-s3 counted in the process.
	assert_equal "$(rows "measurement_name like 'r%' or measurement_name like 's%'")" 7
}

@test "limits: slow clients are cut off, connections capped" {
	# One thread: the cap is shared out among the server threads.
	start_httpd --timeout 2 --max-connections 2 --threads 1
	# Half a request line, then nothing: the server closes within the timeout.
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\n' >&5
	local t0=$SECONDS got
	got=$(timeout 5 cat <&5 || true)
	exec 5>&-
	(( SECONDS - t0 <= 4 ))
	[[ $got != *201* ]]
	# Two idle connections fill the cap: a third waits until one goes
	# (here: until the timeout closes them).
	exec 6<>"/dev/tcp/127.0.0.1/$PORT" 7<>"/dev/tcp/127.0.0.1/$PORT"
	sleep 0.2
	run curl -s -m 0.8 -o /dev/null -w '%{http_code}' "$U/health"
	refute_output 200
	exec 6>&- 7>&-
	sleep 0.3
	run curl -s -m 3 -o /dev/null -w '%{http_code}' "$U/health"
	assert_output 200
}

@test "GET /metrics: Prometheus text that promtool accepts, labelled by route template" {
	command -v promtool >/dev/null || skip "promtool (Debian package prometheus) is not installed"
	start_httpd
	post "$KEY_A" '{"data":{"t":1}}' >/dev/null
	post "$KEY_A" '{"data":{}}' >/dev/null
	curl -s -o /dev/null "$U/api/v1/telemetry/$A"
	curl -s -o /dev/null "$U/api/v1/telemetry/12345"
	curl -s -o /dev/null "$U/nowhere/$RANDOM"
	run curl -s -D "$BATS_TEST_TMPDIR/headers" "$U/metrics"
	assert_success
	grep -qi '^Content-Type: text/plain; version=0.0.4' "$BATS_TEST_TMPDIR/headers"
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/metrics"
	run promtool check metrics < "$BATS_TEST_TMPDIR/metrics"
	assert_success
	run cat "$BATS_TEST_TMPDIR/metrics"
	assert_line 'iotflow_http_requests_total{method="POST",route="/api/v1/telemetry",status="201"} 1'
	assert_line 'iotflow_http_requests_total{method="POST",route="/api/v1/telemetry",status="400"} 1'
	assert_line 'iotflow_http_requests_total{method="GET",route="/api/v1/telemetry/{id}",status="401"} 2'
	assert_line 'iotflow_http_requests_total{method="GET",route="unmatched",status="404"} 1'
	refute_output --partial '12345'
	assert_line 'iotflow_http_points_stored_total 1'
	assert_line 'iotflow_ingest_points_stored_total 1'
	assert_line --regexp '^iotflow_http_commit_wait_seconds_count 1$'
	assert_line --regexp '^iotflow_http_open_connections [1-9]'
	assert_line --regexp '^iotflow_http_request_duration_seconds_bucket\{route="/api/v1/telemetry",le="\+Inf"\} 2$'
	assert_line --regexp '^iotflow_ingest_batch_seconds_total '
	# One batch of one point; its time; lookups by where they were answered
	# (each server thread has its own memory: the first of a thread's posts
	# goes further).
	assert_line 'iotflow_ingest_batch_points_bucket{le="1"} 1'
	assert_line 'iotflow_ingest_batch_points_count 1'
	assert_line 'iotflow_ingest_commit_seconds_count 1'
	assert_line --regexp '^iotflow_ingest_commit_seconds_bucket\{le="\+Inf"\} 1$'
	assert_line --regexp '^iotflow_auth_lookups_total\{source="database"\} [1-9]'
	assert_line 'iotflow_auth_lookups_total{source="unknown"} 0'
	# A key nobody has, six times: once per thread from PostgreSQL, then
	# remembered as unknown.
	local i
	for i in 1 2 3 4 5 6; do
		post iotf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA '{"data":{"t":1}}' >/dev/null
	done
	run curl -s "$U/metrics"
	assert_line --regexp '^iotflow_auth_lookups_total\{source="unknown"\} [1-5]$'
}

@test "GET /metrics without metrics_token: open to this host's loopback only; from the network an admin's token" {
	local ip
	ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.' | grep -v '^127\.' | head -n 1)
	[[ -n $ip ]] || skip "this machine has no IPv4 address but loopback to come from"
	PORT=$(_iot_pick_port)
	iot-httpd --listen "0.0.0.0:$PORT" 2>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
	HTTPD_PID=$!
	wait_up
	run curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/metrics"
	assert_output 200
	run req "http://$ip:$PORT/metrics"
	assert_output --regexp '^401 \{"error":"Authentication required"'
	run req -H "Authorization: Bearer $ALICE" "http://$ip:$PORT/metrics"
	assert_output --regexp '^403 '
	run curl -s -H "Authorization: Bearer $ROOT" "http://$ip:$PORT/metrics"
	assert_line --regexp '^iotflow_http_open_connections [0-9]+$'
	# The rest of the service is the same from anywhere.
	run curl -s -o /dev/null -w '%{http_code}' "http://$ip:$PORT/health"
	assert_output 200
}

@test "GET /metrics with metrics_token: the token or an admin's API token, nothing else" {
	IOTFLOW_METRICS_TOKEN=m3trics-t0ken start_httpd
	run req "$U/metrics"
	assert_output --regexp '^401 \{"error":"Authentication required"'
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer m3trics-t0ken' "$U/metrics"
	assert_output 200
	run curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong' "$U/metrics"
	assert_output 401
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ROOT" "$U/metrics"
	assert_output 200
	# The Flask form: an admin's token only.
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: admin $ROOT" "$U/metrics"
	assert_output 200
	run req -H "Authorization: admin $ALICE" "$U/metrics"
	assert_output --regexp '^403 \{"error":"Invalid admin token"'
	run req -H "Authorization: Bearer $ALICE" "$U/metrics"
	assert_output "403 {\"error\":\"Forbidden\",\"message\":\"This needs an admin's token\"}"
	# No default admin token.
	run req -H "Authorization: admin test" "$U/metrics"
	assert_output --regexp '^403 '
	# A device key is no admin's token.
	run curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY_A" "$U/metrics"
	assert_output 401
	refute_output --partial "$ALICE"
}

@test "CORS is not offered (iot-httpd(8)): no Access-Control header for the Flask dashboard's origin or any other" {
	start_httpd
	local o
	for o in http://localhost:3000 http://127.0.0.1:3000 https://evil.example null; do
		run curl -s -i -H "Origin: $o" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A"
		assert_line --partial 'HTTP/1.1 200'
		refute_output --regexp '(^|'$'\n'')[Aa]ccess-[Cc]ontrol-'
		# A preflight: Allow only, no permission.
		run curl -s -i -X OPTIONS -H "Origin: $o" -H 'Access-Control-Request-Method: POST' \
			-H 'Access-Control-Request-Headers: X-API-Key, Content-Type' "$U/api/v1/telemetry"
		assert_line --partial 'HTTP/1.1 204'
		refute_output --regexp '(^|'$'\n'')[Aa]ccess-[Cc]ontrol-'
	done
	# And the man page says so, and why.
	run bash -c "man -l '$IOTFLOW_ROOT/man/iot-httpd.8' 2>/dev/null | col -b | tr -s ' \n' ' '"
	assert_output --partial 'CORS is not offered'
	assert_output --partial 'same-origin'
}

@test "what libmicrohttpd refuses itself (iot-httpd(8) BUGS): 431 and 400 as its own HTML, the connection closed" {
	start_httpd
	local big; big=$(head -c 20000 /dev/zero | tr '\0' a)
	run curl -s -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' -H "X-Big: $big" "$U/health"
	assert_output 431
	cat "$BATS_TEST_TMPDIR/headers" "$BATS_TEST_TMPDIR/body"; echo
	# No Content-Type at all; the connection closed after it.
	! grep -qi '^Content-Type:' "$BATS_TEST_TMPDIR/headers"
	grep -qi '^Connection: close' "$BATS_TEST_TMPDIR/headers"
	grep -q '^<html><head><title>Request too big</title>' "$BATS_TEST_TMPDIR/body"
	# A Content-Length that is no number: 400.
	local line
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n' >&5
	line=$(timeout 5 head -n 1 <&5)
	exec 5>&-
	echo "bad Content-Length: $line"
	[[ $line == 'HTTP/1.1 400'* ]]
	# The server is fine afterwards, and counted neither as a request.
	run curl -s -o /dev/null -w '%{http_code}' "$U/health"
	assert_output 200
}
