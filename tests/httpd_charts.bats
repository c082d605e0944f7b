#!/usr/bin/env bats
# The chart routes of iot-httpd (lib/http/http_charts.c over lib/chart)
# against real PostgreSQL and Redis, with curl: the IoTFlow dashboard's
# bodies accepted and its shape returned, CRUD that agrees with iot-chart,
# nobody sees or changes another user's charts (404), bad input 400 with
# the rule, data and render.svg drawn from the same series as the shell's.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load chart_lib

setup_file() {
	stack_setup_file
	migrated_template
	template_people
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner alice > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-c --owner bob > "$IOTFLOW_TEST_TMP/dev-c.json"
		for m in 00 10 20 30 40 50; do
			echo "{\"device_id\":1,\"timestamp\":\"2026-11-28T06:$m:00Z\",\"data\":{\"temperature\":2${m:0:1}.5,\"humidity\":5${m:0:1}}}"
		done | iot-ingest -q >/dev/null'
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json"); C=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-c.json")
	ALICE=$(cat "$IOTFLOW_TEST_TMP/alice.token"); BOB=$(cat "$IOTFLOW_TEST_TMP/bob.token")
	ROOT=$(cat "$IOTFLOW_TEST_TMP/root.token")
	HTTPD_PID=
}

code() { cut -d ' ' -f 1 <<<"$1"; }
# as TOKEN METHOD PATH [BODY]: a request with a person's token, "STATUS BODY".
as() {
	local tok=$1 method=$2 path=$3
	shift 3
	req -X "$method" -H "Authorization: Bearer $tok" ${1:+-H 'Content-Type: application/json' --data-binary "$1"} "$U$path"
}

# The dashboard's own example body (its Postman guide), on alice's devices.
dashboard_body() {
	cat <<EOF
{"name":"Temperature Monitoring","title":"Temperature Over Time","description":"Real-time temperature monitoring chart",
 "type":"line","devices":["$A","$B"],"measurements":["temperature","humidity"],"timeRange":"1h","refreshInterval":30,
 "aggregation":"avg","groupBy":"5m","showLegend":true,"showGrid":true,"animations":true,"fillArea":false,"lineWidth":2,
 "aspectRatio":2,"customColors":["#1976d2","#ff5722"],"backgroundColor":"#ffffff","borderColor":"#1976d2",
 "pointStyle":"circle","yAxisMin":null,"yAxisMax":null}
EOF
}

@test "the dashboard's create, list, get, update, duplicate and delete, in its shape" {
	start_httpd
	run as "$ALICE" POST /api/v1/charts "$(dashboard_body)"
	assert_equal "$(code "$output")" 201
	local c id
	c=$(body "$output")
	assert_equal "$(jq -c .success <<<"$c")" true
	id=$(jq -r .data.id <<<"$c")
	# What chartService.transformFromBackendFormat reads ...
	assert_equal "$(jq -c '.data | [.name, .title, .description, .type, .devices, .measurements, .time_range, .refresh_interval, .aggregation, .group_by]' <<<"$c")" \
		"[\"Temperature Monitoring\",\"Temperature Over Time\",\"Real-time temperature monitoring chart\",\"line\",[$A,$B],[\"temperature\",\"humidity\"],\"1h\",30,\"avg\",\"5m\"]"
	assert_equal "$(jq -cS '.data.appearance_config' <<<"$c")" \
		'{"animations":true,"aspectRatio":2,"backgroundColor":"#ffffff","borderColor":"#1976d2","customColors":["#1976d2","#ff5722"],"fillArea":false,"lineWidth":2,"pointStyle":"circle","showGrid":true,"showLegend":true}'
	# ... and the members it sends, so what it GETs it can PUT back.
	assert_equal "$(jq -c '.data | [.timeRange, .refreshInterval, .groupBy, .showLegend, .lineWidth, .customColors, .pointStyle, (.createdAt | test("^2"))]' <<<"$c")" \
		'["1h",30,"5m",true,2,["#1976d2","#ff5722"],"circle",true]'
	run as "$ALICE" GET /api/v1/charts
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.success, (.data | length), .data[0].id]')" "[true,1,$id]"
	run as "$ALICE" GET "/api/v1/charts/$id"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c .data)" "$(jq -c .data <<<"$c")"
	# The dashboard's update: the whole object again, changed.
	run as "$ALICE" PUT "/api/v1/charts/$id" "$(dashboard_body | jq -c --arg a "$A" '.name = "Updated" | .devices = [$a] | .measurements = ["temperature","pressure"] | .timeRange = "2h" | .fillArea = true | .lineWidth = 3')"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '.data | [.name, .devices, .measurements, .time_range, .appearance_config.fillArea, .lineWidth]')" \
		"[\"Updated\",[$A],[\"temperature\",\"pressure\"],\"2h\",true,3]"
	# What was GET can be PUT back unchanged.
	local got
	got=$(as "$ALICE" GET "/api/v1/charts/$id" | cut -d ' ' -f 2- | jq -c .data)
	run as "$ALICE" PUT "/api/v1/charts/$id" "$got"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '.data | del(.updated_at, .updatedAt)')" "$(jq -c 'del(.updated_at, .updatedAt)' <<<"$got")"
	# A partial update keeps the rest.
	run as "$ALICE" PUT "/api/v1/charts/$id" '{"title":"Only the title"}'
	assert_equal "$(body "$output" | jq -c '.data | [.title, .name, .time_range]')" '["Only the title","Updated","2h"]'
	run as "$ALICE" POST "/api/v1/charts/$id/duplicate"
	assert_equal "$(code "$output")" 201
	assert_equal "$(body "$output" | jq -c '.data | [.name, .devices, .measurements, .appearance_config.lineWidth]')" \
		"[\"Updated (copy)\",[$A],[\"temperature\",\"pressure\"],3]"
	run as "$ALICE" DELETE "/api/v1/charts/$id"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '[.success, .message]')" '[true,"Chart deleted successfully"]'
	run as "$ALICE" GET "/api/v1/charts/$id"
	assert_equal "$(code "$output")" 404
	assert_equal "$(body "$output" | jq -r .error)" 'Chart not found'
	run as "$ALICE" GET /api/v1/charts
	assert_equal "$(body "$output" | jq -c '[.data[].name]')" '["Updated (copy)"]'
}

@test "iot-chart and the HTTP routes agree on every chart" {
	start_httpd
	iot-chart add shell --owner alice --type bar --range 7d --aggregation max --group-by 1h \
		--appearance '{"showGrid":false}' >/dev/null
	iot-chart device add alice/shell "$A" >/dev/null
	iot-chart measurement add alice/shell temperature --display-name Temp --color '#00AA00' --unit C >/dev/null
	local id
	id=$(iot-chart show alice/shell | jq -r .id)
	run as "$ALICE" GET "/api/v1/charts/$id"
	assert_equal "$(code "$output")" 200
	# The HTTP object is the shell's plus the dashboard's camelCase members.
	assert_equal "$(body "$output" | jq -cS '.data | del(.timeRange, .refreshInterval, .groupBy, .createdAt, .updatedAt, .showGrid)')" \
		"$(iot-chart show "$id" | jq -cS .)"
	run as "$ALICE" POST /api/v1/charts '{"name":"web","type":"scatter","devices":['"$B"'],"measurements":[{"name":"humidity","displayName":"RH","color":"#123","unit":"%"}]}'
	assert_equal "$(code "$output")" 201
	id=$(body "$output" | jq -r .data.id)
	assert_equal "$(iot-chart show alice/web | jq -cS .)" \
		"$(body "$output" | jq -cS '.data | del(.timeRange, .refreshInterval, .groupBy, .createdAt, .updatedAt)')"
	assert_equal "$(iot-chart show alice/web | jq -c .measurement_details)" '[{"name":"humidity","display_name":"RH","color":"#112233","unit":"%"}]'
	# A change from the shell shows on the web, and back.
	iot-chart set alice/web --title 'From the shell' >/dev/null
	run as "$ALICE" GET "/api/v1/charts/$id"
	assert_equal "$(body "$output" | jq -r .data.title)" 'From the shell'
	as "$ALICE" PUT "/api/v1/charts/$id" '{"timeRange":"30d"}' >/dev/null
	assert_equal "$(iot-chart show alice/web | jq -r .time_range)" 30d
	# The same series from both.
	iot-chart set alice/web --type line >/dev/null
	iot-chart device add alice/web "$A" >/dev/null
	run as "$ALICE" GET "/api/v1/charts/$id/data?start_time=2026-11-28T06:00:00Z&end_time=2026-11-28T07:00:00Z"
	assert_equal "$(code "$output")" 200
	assert_equal "$(body "$output" | jq -c '.data.series')" \
		"$(iot-chart data alice/web --since 2026-11-28T06:00:00Z --until 2026-11-28T07:00:00Z | jq -sc .)"
	assert_equal "$(body "$output" | jq -c '.data | [.start_time, .end_time, (.series | map(.points | length))]')" \
		'["2026-11-28T06:00:00+00:00","2026-11-28T07:00:00+00:00",[6,0]]'
}

@test "a user cannot see or change another user's charts: 404, as for a missing one" {
	start_httpd
	local id
	id=$(as "$ALICE" POST /api/v1/charts '{"name":"mine","devices":['"$A"'],"measurements":["temperature"]}' | cut -d ' ' -f 2- | jq -r .data.id)
	local p
	for p in "GET /api/v1/charts/$id" "PUT /api/v1/charts/$id" "DELETE /api/v1/charts/$id" \
		"POST /api/v1/charts/$id/duplicate" "GET /api/v1/charts/$id/data" "GET /api/v1/charts/$id/render.svg"; do
		set -- $p
		if [[ $1 == PUT ]]; then run as "$BOB" PUT "$2" '{"title":"mine now"}'; else run as "$BOB" "$1" "$2"; fi
		assert_equal "$p $(code "$output")" "$p 404"
		# Same answer as an id that does not exist.
		if [[ $1 == PUT ]]; then run as "$BOB" PUT "${2/$id/999999}" '{"title":"x"}'; else run as "$BOB" "$1" "${2/$id/999999}"; fi
		assert_equal "$p $(code "$output")" "$p 404"
	done
	# Charts are personal: an admin's token sees its own only.
	run as "$ROOT" GET "/api/v1/charts/$id"
	assert_equal "$(code "$output")" 404
	run as "$BOB" GET /api/v1/charts
	assert_equal "$(body "$output" | jq -c .data)" '[]'
	# Still alice's, untouched.
	assert_equal "$(iot-chart show "$id" | jq -c '[.owner, .title]')" '["alice",null]'
	# No token: 401; a device key is not a person.
	run req "$U/api/v1/charts"
	assert_equal "$(code "$output")" 401
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/charts/$id"
	assert_equal "$(code "$output")" 401
	run req -H "Authorization: Bearer iotu_not-a-token" "$U/api/v1/charts"
	assert_equal "$(code "$output")" 401
	# bob cannot put alice's device on his chart, nor make a chart of it.
	run as "$BOB" POST /api/v1/charts '{"name":"spy","devices":['"$A"'],"measurements":["temperature"]}'
	assert_equal "$(code "$output")" 400
	assert_equal "$(body "$output" | jq -r .message)" "devices: device $A does not exist or is not the chart owner's"
	assert_equal "$(q "select count(*) from charts where name = 'spy'")" 0
}

@test "bad input: 400 with the rule, 409 for a name in use, nothing written" {
	start_httpd
	local b
	for b in '{"name":"x","type":"pie"}|type: expected line, bar, area, scatter, gauge or table, not '"'pie'" \
		'{"name":"x","timeRange":"forever"}|time_range "forever" is not a window: use N with s, m, h, d or w (5m, 1h, 1d, 7d)' \
		'{"name":"x","customColors":["#zzzzzz"]}|customColors: expected a colour #RRGGBB (or #RGB), not '"'#zzzzzz'" \
		'{"name":"x","measurements":[{"name":"t","color":"red"}]}|measurements[1].color: expected a colour #RRGGBB (or #RGB), not '"'red'" \
		'{"name":"x","measurements":["temperature","a b<"]}|measurements[2].name: invalid measurement name (1 to 64 of A-Z a-z 0-9 _ . : / -, starting with a letter, a digit or _)' \
		'{"name":"x","measurements":[{"name":"-t"}]}|measurements[1].name: invalid measurement name (1 to 64 of A-Z a-z 0-9 _ . : / -, starting with a letter, a digit or _)' \
		'{"name":"x","refreshInterval":-1}|refreshInterval: expected an integer from 0 to 86400' \
		'{"name":"x","aggregation":"median"}|aggregation: expected none, mean (avg), sum, count, min, max, first or last, not '"'median'" \
		'{"name":"x","wobble":1}|unknown member '"'wobble'" \
		'{"name":"x","devices":"all"}|devices: expected an array of up to 50 device ids' \
		'{"name":"x","lineWidth":"thick"}|lineWidth: expected a number from 0 to 20' \
		'{"title":"no name"}|name: missing' \
		'{"name":""}|name: must not be empty'; do
		run as "$ALICE" POST /api/v1/charts "${b%%|*}"
		assert_equal "${b%%|*} $(code "$output")" "${b%%|*} 400"
		assert_equal "$(body "$output" | jq -r .message)" "${b#*|}"
	done
	run as "$ALICE" POST /api/v1/charts 'not json'
	assert_equal "$(code "$output")" 400
	assert_equal "$(q 'select count(*) from charts')" 0
	as "$ALICE" POST /api/v1/charts '{"name":"taken"}' >/dev/null
	run as "$ALICE" POST /api/v1/charts '{"name":"taken"}'
	assert_equal "$(code "$output")" 409
	assert_equal "$(body "$output" | jq -r .message)" "the owner has a chart named 'taken' already"
	# Another user may take it.
	run as "$BOB" POST /api/v1/charts '{"name":"taken"}'
	assert_equal "$(code "$output")" 201
	local id
	id=$(as "$ALICE" GET /api/v1/charts | cut -d ' ' -f 2- | jq -r '.data[0].id')
	run as "$ALICE" GET "/api/v1/charts/$id/data?start_time=yesterday"
	assert_equal "$(code "$output")" 400
	[[ $(body "$output" | jq -r .message) == 'start_time "yesterday" is not a time'* ]]
	run as "$ALICE" GET "/api/v1/charts/$id/render.svg?width=5"
	assert_equal "$(code "$output")" 400
	run as "$ALICE" GET "/api/v1/charts/$id/render.svg?tz=local"
	assert_equal "$(code "$output")" 400
	run as "$ALICE" PATCH "/api/v1/charts/$id"
	assert_equal "$(code "$output")" 405
	# iot-chart checks the name as the route does; one stored before
	# names were checked can still be removed.
	run --separate-stderr iot-chart measurement add alice/taken 'a b<'
	assert_failure 2
	assert_equal "$stderr" 'iot-chart: fatal: measurements[1].name: invalid measurement name (1 to 64 of A-Z a-z 0-9 _ . : / -, starting with a letter, a digit or _)'
	q "insert into chart_measurements (chart_id, measurement_name) values ($id, 'a b<')"
	run iot-chart measurement rm alice/taken 'a b<'
	assert_success
	assert_equal "$(jq -c .measurements <<<"$output")" '[]'
}

@test "the dashboard's words: avg is kept and means the mean; a custom range takes each request's, else the last day" {
	start_httpd
	local id range='start_time=2026-11-28T06:00:00Z&end_time=2026-11-28T07:00:00Z'
	run as "$ALICE" POST /api/v1/charts '{"name":"hand","devices":['"$A"'],"measurements":["temperature"],"timeRange":"custom","aggregation":"avg","groupBy":"30m"}'
	assert_equal "$(code "$output")" 201
	id=$(body "$output" | jq -r .data.id)
	run as "$ALICE" GET "/api/v1/charts/$id"
	assert_equal "$(body "$output" | jq -c '.data | [.timeRange, .aggregation]')" '["custom","avg"]'
	run as "$ALICE" GET "/api/v1/charts/$id/data?$range"
	assert_equal "$(code "$output")" 200
	# The buckets are the means iot-query computes for the same range.
	assert_equal "$(body "$output" | jq -c '[.data.series[0].points[] | .value]')" \
		"$(iot-query aggregate --device "$A" --measurement temperature --fn mean --window 30m \
			--since 2026-11-28T06:00:00Z --until 2026-11-28T07:00:00Z --fill null --order asc | jq -sc '[.[].value]')"
	run as "$ALICE" GET "/api/v1/charts/$id/data"
	assert_equal "$(code "$output")" 200
	local t
	t=$(body "$output" | jq -r '[.data.start_time, .data.end_time] | join(" ")')
	assert_equal $(($(date -d "${t#* }" +%s) - $(date -d "${t% *}" +%s))) 86400
	iot-chart show alice/hand | jq -e '.time_range == "custom" and .aggregation == "avg"'
}

@test "render.svg: well-formed SVG of the chart's series, a PNG that is not blank, no data, a gauge" {
	start_httpd
	local id
	id=$(as "$ALICE" POST /api/v1/charts '{"name":"web","title":"Lab","devices":['"$A"'],"measurements":["temperature","humidity"],"showLegend":true}' |
		cut -d ' ' -f 2- | jq -r .data.id)
	cd "$BATS_TEST_TMPDIR"
	local range='start_time=2026-11-28T06:00:00Z&end_time=2026-11-28T07:00:00Z'
	run curl -s -o chart.svg -w '%{http_code} %{content_type}' -H "Authorization: Bearer $ALICE" \
		"$U/api/v1/charts/$id/render.svg?$range&width=640&height=360&tz=%2B01:00"
	assert_output '200 image/svg+xml; charset=utf-8'
	# Opened on its own, the drawing may run and load nothing.
	curl -s -D - -o /dev/null -H "Authorization: Bearer $ALICE" "$U/api/v1/charts/$id/render.svg" |
		grep -qi "^content-security-policy: default-src 'none'; style-src 'unsafe-inline'"
	xmllint --noout chart.svg
	grep -q 'width="640" height="360"' chart.svg
	assert_equal "$(svg_count chart.svg "@class='series'")" 2
	assert_equal "$(svg_attr chart.svg "@class='series'" data-points | paste -sd ' ')" '6 6'
	# 06:30 UTC at +01:00.
	grep -q '>07:30</text>' chart.svg
	# The same drawing as the shell's.
	cmp chart.svg <(iot-chart render alice/web --since 2026-11-28T06:00:00Z --until 2026-11-28T07:00:00Z --width 640 --height 360 --tz +01:00)
	rsvg-convert -f png -o chart.png chart.svg
	(($(png_colours chart.png) >= 5))
	curl -sf -o empty.svg -H "Authorization: Bearer $ALICE" "$U/api/v1/charts/$id/render.svg?start_time=2020-01-01&end_time=2020-01-02"
	xmllint --noout empty.svg
	assert_equal "$(svg_count empty.svg "@class='no-data'")" 1
	as "$ALICE" PUT "/api/v1/charts/$id" '{"type":"gauge","measurements":["temperature"],"yAxisMin":0,"yAxisMax":50}' >/dev/null
	curl -sf -o gauge.svg -H "Authorization: Bearer $ALICE" "$U/api/v1/charts/$id/render.svg?$range"
	xmllint --noout gauge.svg
	assert_equal "$(svg_attr gauge.svg "@class='gauge-value'" data-value)" 25.5
	rsvg-convert -f png -o gauge.png gauge.svg
	(($(png_colours gauge.png) >= 5))
}
