#!/usr/bin/env bats
# The telemetry read routes of iot-httpd (lib/http/http_read.c over
# lib/query) against real PostgreSQL and Redis, with curl: range, latest,
# aggregated, DELETE, status, a user's telemetry; who may read what; the
# Flask journey and the single-telemetry script's reads.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load httpd_people

setup() { people_setup; }

code() { cut -d ' ' -f 1 <<<"$1"; }
# get KEY PATH: GET with a device key.
get() { req -H "X-API-Key: $1" "$U$2"; }
post() {
	curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' -H "X-API-Key: $1" \
		--data-binary "$2" "$U/api/v1/telemetry"
}
del() { req -X DELETE -H 'Content-Type: application/json' -H "X-API-Key: $1" --data-binary "$2" "$U/api/v1/telemetry/$A"; }

@test "the Flask journey: post, range, latest, aggregated, delete, range empty" {
	start_httpd
	local t1 t2
	t1=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ); t2=$(date -u -d '-5 min' +%Y-%m-%dT%H:%M:%SZ)
	assert_equal "$(post "$KEY_A" "{\"data\":{\"temperature\":20.5,\"humidity\":60},\"timestamp\":\"$t1\"}")" 201
	assert_equal "$(post "$KEY_A" "{\"data\":{\"temperature\":22.5,\"humidity\":65},\"timestamp\":\"$t2\"}")" 201
	run get "$KEY_A" "/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.device_id, .device_name, .device_type, .start_time, .count, .postgres_available]')" \
		"[$A,\"dev-a\",\"sensor\",\"-1h\",2,true]"
	# Newest first; grouped and flat at once.
	assert_equal "$(body "$output" | jq -c '[.data[] | [.measurements.temperature, .temperature, .humidity]]')" '[[22.5,22.5,65],[20.5,20.5,60]]'
	# Numbers are sent as reals, as the Flask service sent floats (jq prints 65.0 as 65).
	assert_output --partial '"humidity":65.0'
	assert_equal "$(body "$output" | jq -r '.data[0].timestamp')" "${t2%Z}+00:00"
	run get "$KEY_A" "/api/v1/telemetry/$A/latest"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.device_id, .device_name, .device_type, .latest_data, .postgres_available]')" \
		"[$A,\"dev-a\",\"sensor\",{\"humidity\":65,\"temperature\":22.5},true]"
	run get "$KEY_A" "/api/v1/telemetry/$A/aggregated?field=temperature&aggregation=mean&window=1d"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.field, .aggregation, .window, .start_time, ([.data[].count] | add), ([.data[] | .value * .count] | add)]')" \
		'["temperature","mean","1d","-24h",2,43]'
	run del "$KEY_A" '{"start_time":"-1h","stop_time":"now"}'
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.message, .device_id, .start_time, .stop_time, .deleted]')" \
		"[\"Telemetry data deleted for device dev-a\",$A,\"-1h\",\"now\",4]"
	run get "$KEY_A" "/api/v1/telemetry/$A"
	assert_equal "$(body "$output" | jq -c '[.count, .data]')" '[0,[]]'
	run get "$KEY_A" "/api/v1/telemetry/$A/latest"
	assert_equal "$(code "$output")" 404
	assert_equal "$(body "$output" | jq -c '[.device_id, .device_name, .message, .postgres_available]')" \
		"[$A,\"dev-a\",\"No telemetry data found\",true]"
}

@test "compat: the single-telemetry script reads data[0].timestamp and data[0].temperature" {
	start_httpd
	local ts
	ts=$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)
	assert_equal "$(post "$KEY_A" "{\"data\":{\"temperature\":22.5},\"metadata\":{\"test_type\":\"single_measurement\",\"source\":\"test_single_telemetry.py\"},\"timestamp\":\"$ts\"}")" 201
	run get "$KEY_A" "/api/v1/telemetry/$A?limit=1"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.count, .data[0].temperature, (.data[0].timestamp | length > 0)]')" '[1,22.5,true]'
	# The metadata when asked for.
	run get "$KEY_A" "/api/v1/telemetry/$A?limit=1&metadata=true"
	assert_equal "$(body "$output" | jq -r '.data[0].metadata.source')" test_single_telemetry.py
}

@test "compat: a timestamp from Python's utcnow().isoformat() (no zone) is UTC, on POST as on the read routes" {
	start_httpd
	local t1 t2
	t1=$(date -u -d '-10 minutes' +%Y-%m-%dT%H:%M:%S.%6N) t2=$(date -u -d '-5 minutes' +%Y-%m-%dT%H:%M:%S)
	assert_equal "$(post "$KEY_A" "{\"data\":{\"temperature\":21.5},\"timestamp\":\"$t1\"}")" 201
	assert_equal "$(post "$KEY_A" "{\"data\":{\"temperature\":22.5},\"timestamp\":\"$t2\"}")" 201
	assert_equal "$(psql -XAtc "SELECT string_agg(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), ' ' ORDER BY ts)
		FROM telemetry_data WHERE device_id = $A")" "$t1 $t2.000000"
	# The same naive time bounds a read the same way.
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=$t2&limit=10"
	assert_equal "$(body "$output" | jq -c '[.count, .data[0].temperature]')" '[1,22.5]'
	# A time that is not one is still refused.
	assert_equal "$(post "$KEY_A" '{"data":{"temperature":1},"timestamp":"2026-13-01T00:00:00"}')" 400
}

@test "range: every value type comes back as stored; end_time, measurement filter, limit" {
	start_httpd
	assert_equal "$(post "$KEY_A" '{"data":{"temperature":23.5,"count":7,"state":"ok","door":true,"pos":{"x":1,"y":[2,3]}},"timestamp":"2026-01-10T06:00:00.250Z"}')" 201
	assert_equal "$(post "$KEY_A" '{"data":{"temperature":24},"timestamp":"2026-01-10T07:00:00Z"}')" 201
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=2026-01-10T00:00:00Z&end_time=2026-01-10T06:30:00Z"
	assert_equal "$(body "$output" | jq -c '[.count, .end_time, .data[0].timestamp, .data[0].measurements]')" \
		'[1,"2026-01-10T06:30:00Z","2026-01-10T06:00:00.250000+00:00",{"count":7,"door":true,"pos":{"x":1,"y":[2,3]},"state":"ok","temperature":23.5}]'
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=2026-01-10T00:00:00Z&end_time=2026-01-11T00:00:00Z&measurement=state,door"
	assert_equal "$(body "$output" | jq -c '[.count, .data[0].measurements]')" '[1,{"door":true,"state":"ok"}]'
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=2026-01-10T00:00:00Z&end_time=2026-01-11T00:00:00Z&limit=1"
	assert_equal "$(body "$output" | jq -c '[.count, .limit, .data[0].temperature]')" '[1,1,24]'
	# Over the cap: clamped, as the Flask service did.
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=2026-01-10T00:00:00Z&end_time=2026-01-11T00:00:00Z&limit=50000"
	assert_equal "$(body "$output" | jq -c '[.count, .limit]')" '[2,10000]'
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=2026-01-10T00:00:00Z&limit=99999999999999999999"
	assert_equal "$(body "$output" | jq -c '.limit')" 10000
	# Reals as Python's json writes them, the shortest that reads back exactly.
	assert_equal "$(post "$KEY_A" '{"data":{"ratio":0.1,"tiny":1e-300,"third":0.3333333333333333},"timestamp":"2026-01-10T08:00:00Z"}')" 201
	run get "$KEY_A" "/api/v1/telemetry/$A/latest"
	assert_output --partial '"ratio":0.1,'
	assert_output --partial '"third":0.3333333333333333'
	assert_output --partial '"tiny":1e-300'
}

@test "range: bad arguments are 400 with the rule, never 500" {
	start_httpd
	local qs
	for qs in 'start_time=yesterday' 'start_time=-30x' 'start_time=-1.5h' 'end_time=soon' \
		'start_time=now&end_time=-1h' 'limit=0' 'limit=-5' 'limit=abc' 'limit=' 'measurement=a%20b' 'metadata=maybe' \
		'limit=5%00' 'measurement=temperature%00x' 'limit%00=5'; do
		run get "$KEY_A" "/api/v1/telemetry/$A?$qs"
		[[ $qs == limit= ]] && { assert_equal "$(code "$output")" 200; continue; }
		assert_equal "$qs $(code "$output")" "$qs 400"
		body "$output" | jq -e '.error and (.message | length > 0)' >/dev/null
	done
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=yesterday"
	assert_output --partial 'start_time \"yesterday\" is not a time'
}

@test "who may read: a device only itself (403, no data), people their own devices (others 404), admins all" {
	start_httpd
	assert_equal "$(post "$KEY_A" '{"data":{"secret":42}}')" 201
	# Another device's key: 403 and never the data, on every read route and DELETE.
	local p
	for p in "/api/v1/telemetry/$A" "/api/v1/telemetry/$A/latest" "/api/v1/telemetry/$A/aggregated?field=secret"; do
		run get "$KEY_B" "$p"
		assert_equal "$output" '403 {"error":"Forbidden: device mismatch","message":"A device key reads and deletes its own device'"'"'s telemetry only"}'
	done
	run del "$KEY_B" '{"start_time":"-1h","stop_time":"now"}'
	assert_equal "$(code "$output")" 403
	assert_equal "$(q "select count(*) from telemetry_data")" 1
	# An inactive device's key is refused; no credentials at all, 401.
	run get "$KEY_OFF" "/api/v1/telemetry/$OFF"
	assert_equal "$(body "$output" | jq -c '[.error, .message]')" '["Device inactive","Device is currently inactive"]'
	assert_equal "$(code "$output")" 403
	run req "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output") $(body "$output" | jq -r .error)" '401 API key required'
	run get "not-a-key" "/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 401
	# People: alice reads her device; bob gets the same 404 as for an unknown id.
	run req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/$A/latest"
	assert_equal "$(code "$output") $(body "$output" | jq -c .latest_data)" '200 {"secret":42}'
	run req -H "Authorization: Bearer $BOB" "$U/api/v1/telemetry/$A/latest"
	local other=$output
	assert_equal "$(code "$other")" 404
	refute_output --partial 42
	run req -H "Authorization: Bearer $BOB" "$U/api/v1/telemetry/999999/latest"
	assert_equal "${output//999999/$A}" "$other"
	run req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/$C"
	assert_equal "${output//$C/$A}" "${other//$C/$A}"
	run req -X DELETE -H 'Content-Type: application/json' -H "Authorization: Bearer $BOB" \
		--data-binary '{"start_time":"-1h","stop_time":"now"}' "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 404
	assert_equal "$(q "select count(*) from telemetry_data")" 1
	# Admins: Bearer or the Flask form; a person's token in the admin form is not an admin's.
	run req -H "Authorization: Bearer $ROOT" "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output") $(body "$output" | jq -c '.data[0].secret')" '200 42'
	run req -H "Authorization: admin $ROOT" "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 200
	run req -H "Authorization: admin $ALICE" "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 403
	run req -H "Authorization: Bearer iotu_nonsense" "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 401
	# Unknown device for an admin: 404.
	run req -H "Authorization: Bearer $ROOT" "$U/api/v1/telemetry/999999"
	assert_equal "$(code "$output") $(body "$output" | jq -r .error)" '404 Device not found'
}

@test "aggregated: every function, windows of any length, first/last right, errors 400" {
	start_httpd
	local d=2026-01-10
	post "$KEY_A" "{\"data\":{\"t\":1},\"timestamp\":\"${d}T06:00:00Z\"}" >/dev/null
	post "$KEY_A" "{\"data\":{\"t\":5},\"timestamp\":\"${d}T06:04:00Z\"}" >/dev/null
	post "$KEY_A" "{\"data\":{\"t\":3},\"timestamp\":\"${d}T06:07:00Z\"}" >/dev/null
	post "$KEY_A" "{\"data\":{\"t\":10},\"timestamp\":\"${d}T08:00:00Z\"}" >/dev/null
	local base="/api/v1/telemetry/$A/aggregated?field=t&start_time=${d}T00:00:00Z&end_time=${d}T23:59:59Z"
	run get "$KEY_A" "$base&aggregation=mean&window=5m"
	assert_equal "$(body "$output" | jq -c '[.count, [.data[] | [.timestamp, .value, .count]]]')" \
		'[3,[["2026-01-10T08:00:00+00:00",10,1],["2026-01-10T06:05:00+00:00",3,1],["2026-01-10T06:00:00+00:00",3,2]]]'
	local fn want
	for fn in mean:4.75 sum:19 count:4 min:1 max:10 first:1 last:10 avg:4.75; do
		run get "$KEY_A" "$base&aggregation=${fn%%:*}&window=1d"
		assert_equal "$fn $(body "$output" | jq -c '.data[0].value')" "$fn ${fn#*:}"
	done
	# Whole hours (served from the hourly rollups) agree with the points.
	run get "$KEY_A" "$base&aggregation=first&window=2h"
	assert_equal "$(body "$output" | jq -c '[.data[] | .value]')" '[10,1]'
	run get "$KEY_A" "$base&aggregation=last&window=1h"
	assert_equal "$(body "$output" | jq -c '[.data[] | .value]')" '[10,3]'
	run get "$KEY_A" "$base&aggregation=median"
	assert_equal "$(code "$output")" 400
	assert_equal "$(body "$output" | jq -c '[.error, .valid_functions]')" \
		'["Invalid aggregation function",["mean","sum","count","min","max","first","last"]]'
	for want in 'window=0s' 'window=abc' 'window=400d'; do
		run get "$KEY_A" "$base&$want"
		assert_equal "$want $(code "$output")" "$want 400"
	done
	run get "$KEY_A" "/api/v1/telemetry/$A/aggregated?field=bad%20name"
	assert_equal "$(code "$output")" 400
	run get "$KEY_A" "/api/v1/telemetry/$A/aggregated?start_time=nope"
	assert_equal "$(code "$output")" 400
	# The Flask defaults: temperature, mean, 1h, the last 24 hours.
	run get "$KEY_A" "/api/v1/telemetry/$A/aggregated"
	assert_equal "$(body "$output" | jq -c '[.field, .aggregation, .window, .start_time, .count]')" '["temperature","mean","1h","-24h",0]'
}

@test "DELETE: a range, a measurement, the count; body errors 400/415" {
	start_httpd
	post "$KEY_A" '{"data":{"t":1,"h":2},"timestamp":"2026-01-10T06:00:00Z"}' >/dev/null
	post "$KEY_A" '{"data":{"t":3},"timestamp":"2026-01-11T06:00:00Z"}' >/dev/null
	run del "$KEY_A" '{"start_time":"2026-01-10T00:00:00Z","stop_time":"2026-01-10T23:00:00Z","measurement":"h"}'
	assert_equal "$(code "$output") $(body "$output" | jq -c '[.deleted, .measurement]')" '200 [1,"h"]'
	run del "$KEY_A" '{"start_time":"2026-01-10T00:00:00Z","stop_time":"2026-01-10T23:00:00Z"}'
	assert_equal "$(body "$output" | jq .deleted)" 1
	assert_equal "$(q "select measurement_name, numeric_value from telemetry_data")" 't|3'
	assert_equal "$(q "select measurement_name, numeric_value from telemetry_latest where device_id = $A")" 't|3'
	run del "$KEY_A" ''
	assert_equal "$(body "$output" | jq -r .error)" 'Request body required with start_time and stop_time'
	run del "$KEY_A" '{}'
	assert_equal "$(code "$output")" 400
	run del "$KEY_A" '{"start_time":"-1h"}'
	assert_equal "$(code "$output") $(body "$output" | jq -r .error)" '400 start_time and stop_time are required'
	run del "$KEY_A" '{"start_time":"-1h","stop_time":"whenever"}'
	assert_equal "$(code "$output")" 400
	run del "$KEY_A" '{"start_time":5,"stop_time":"now"}'
	assert_equal "$(code "$output")" 400
	run del "$KEY_A" '{"start_time":'
	assert_equal "$(code "$output") $(body "$output" | jq -r .error)" '400 Invalid JSON'
	run req -X DELETE -H 'Content-Type: text/plain' -H "X-API-Key: $KEY_A" -d 'x' "$U/api/v1/telemetry/$A"
	assert_equal "$(code "$output")" 415
	assert_equal "$(q "select count(*) from telemetry_data")" 1
}

@test "GET /api/v1/telemetry/status: open but harmless; the device count for people and admins" {
	start_httpd
	run req "$U/api/v1/telemetry/status"
	assert_equal "$output" '200 {"postgres_available":true,"backend":"PostgreSQL","status":"healthy"}'
	run req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/status"
	assert_equal "$(body "$output" | jq .total_devices)" 3
	run req -H "Authorization: admin $ROOT" "$U/api/v1/telemetry/status"
	assert_equal "$(body "$output" | jq .total_devices)" "$(q 'select count(*) from devices')"
	run req -H "Authorization: Bearer iotu_nonsense" "$U/api/v1/telemetry/status"
	assert_equal "$(code "$output")" 401
}

@test "GET /api/v1/telemetry/user/{id}: the user's token, an admin's, or a key of the user's device" {
	start_httpd
	post "$KEY_A" '{"data":{"t":1,"s":"x"},"metadata":{"m":1}}' >/dev/null
	post "$KEY_B" '{"data":{"t":2}}' >/dev/null
	run req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/user/$ALICE_ID"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.status, .user_id, .count, .total_count, .limit, .start_time, .end_time]')" \
		"[\"success\",$ALICE_ID,3,3,100,\"-24h\",null]"
	assert_equal "$(body "$output" | jq -c '[.telemetry[] | [.device_id, .measurement_name, .value]] | sort')" \
		"[[$A,\"s\",\"x\"],[$A,\"t\",1],[$B,\"t\",2]]"
	run req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/user/$ALICE_ID?limit=1"
	assert_equal "$(body "$output" | jq -c '[.count, .total_count]')" '[1,3]'
	run get "$KEY_A" "/api/v1/telemetry/user/$ALICE_ID"
	assert_equal "$(code "$output")" 200
	run get "$KEY_A" "/api/v1/telemetry/user/$BOB_ID"
	assert_equal "$(code "$output") $(body "$output" | jq -r .error)" '403 Forbidden: user mismatch'
	run req -H "Authorization: Bearer $BOB" "$U/api/v1/telemetry/user/$ALICE_ID"
	assert_equal "$(code "$output")" 403
	refute_output --partial '"x"'
	run req -H "Authorization: Bearer $ROOT" "$U/api/v1/telemetry/user/$ALICE_ID"
	assert_equal "$(body "$output" | jq .count)" 3
	run req -H "Authorization: Bearer $ROOT" "$U/api/v1/telemetry/user/999999"
	assert_equal "$(code "$output")" 404
	run req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/user/$ALICE_ID?limit=0"
	assert_equal "$(code "$output")" 400
}

@test "reads agree with the database: points loaded by iot-ingest, counted in SQL" {
	start_httpd
	local i
	for i in $(seq 0 299); do
		printf '{"device_id":%s,"timestamp":%s,"data":{"v":%s,"w":"s%s"}}\n' "$A" $((1768000000 + i * 60)) "$i" "$i"
	done | iot-ingest -q
	assert_equal "$(q "select count(*) from telemetry_data where device_id = $A")" 600
	local s=2026-01-09T23:00:00Z e=2026-01-10T06:00:00Z
	run get "$KEY_A" "/api/v1/telemetry/$A?start_time=$s&end_time=$e&limit=10000"
	assert_equal "$(body "$output" | jq '.count')" \
		"$(q "select count(distinct ts) from telemetry_data where device_id = $A and ts between '$s' and '$e'")"
	assert_equal "$(body "$output" | jq '[.data[].v] | add')" \
		"$(q "select sum(numeric_value)::float8 from telemetry_data where device_id = $A and measurement_name = 'v' and ts between '$s' and '$e'")"
	run get "$KEY_A" "/api/v1/telemetry/$A/aggregated?field=v&aggregation=sum&window=1h&start_time=$s&end_time=$e"
	assert_equal "$(body "$output" | jq -c '[.data[] | [.timestamp, .value, .count]]')" \
		"$(q "select json_agg(json_build_array(to_char(date_trunc('hour', ts) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS+00:00'), s, c) order by h desc) from (select date_trunc('hour', ts) as h, min(ts) as ts, sum(numeric_value)::float8 as s, count(*) as c from telemetry_data where device_id = $A and measurement_name = 'v' and ts between '$s' and '$e' group by 1) x" | jq -c 'map([.[0], (.[1] | . * 1.0), .[2]])')"
}

@test "PostgreSQL unavailable: 503 with Retry-After on the read routes, then recovery" {
	IOTFLOW_DB_RETRY_TIME=1 start_httpd
	assert_equal "$(post "$KEY_A" '{"data":{"t":1}}')" 201
	iot_pg_stop
	run curl -s -i -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/$A"
	assert_line --partial 'HTTP/1.1 503'
	assert_line --partial 'Retry-After: 5'
	run curl -s -i "$U/api/v1/telemetry/status"
	assert_line --partial 'HTTP/1.1 503'
	assert_line --partial 'Retry-After'
	iot_pg_start
	local i
	for i in $(seq 50); do
		[[ $(code "$(get "$KEY_A" "/api/v1/telemetry/$A")") == 200 ]] && break
		sleep 0.2
	done
	run get "$KEY_A" "/api/v1/telemetry/$A"
	assert_equal "$(code "$output") $(body "$output" | jq .count)" '200 1'
}
