#!/usr/bin/env bats
# The web dashboard of iot-httpd (web/, lib/http/http_web.c) and the routes
# it reads (lib/http/http_dashboard.c), against real PostgreSQL and Redis:
# with curl, / answers the page to browsers and the JSON index to
# everyone else, the files carry the security headers, nothing outside the
# fixed list is served whatever the path; the routes answer a person
# their own devices only.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load httpd_people

BROWSER_ACCEPT='text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'

# Alice's dev-a has points of the last hour and a chart; bob's dev-c a point.
setup_file() {
	stack_setup_file
	migrated_template
	template_people
	people_devices
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		a=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); c=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-c.json")
		for m in 50 40 30 20 10 5; do
			echo "{\"device_id\":$a,\"timestamp\":\"$(date -u -d "-$m min" +%FT%TZ)\",\"data\":{\"temperature\":2$((m % 10)).5,\"humidity\":4$((m / 10))}}"
		done | iot-ingest -q >/dev/null
		echo "{\"device_id\":$a,\"timestamp\":\"$(date -u -d "-1 min" +%FT%TZ)\",\"data\":{\"temperature\":22.5}}" | iot-ingest -q >/dev/null
		echo "{\"device_id\":$c,\"data\":{\"temperature\":-4}}" | iot-ingest -q >/dev/null
		iot-chart add temps --owner alice --title "Temperature" --range 1h --refresh 0 >/dev/null
		iot-chart device add alice/temps dev-a >/dev/null
		iot-chart measurement add alice/temps temperature --color "#d81b60" --unit C >/dev/null'
}
teardown_file() { stack_teardown_file; }

setup() {
	people_setup
	CURL_PIDS=()
}

teardown_extra() {
	local p
	for p in "${CURL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}

# headers URL [CURL OPTION]...: the status line and headers of a GET, CRs removed.
headers() {
	local url=$1
	shift
	curl -s -o /dev/null -D - "$@" "$url" | tr -d '\r'
}

@test "/: the page to a browser, the JSON index to curl and scripts; Vary: Accept" {
	start_httpd
	run curl -s -D "$BATS_TEST_TMPDIR/h" -H "Accept: $BROWSER_ACCEPT" "$U/"
	assert_output --partial '<script type="module" src="/ui/app.js"></script>'
	run grep -ci '^content-type: text/html; charset=utf-8' "$BATS_TEST_TMPDIR/h"
	assert_output 1
	grep -qi '^vary: accept' "$BATS_TEST_TMPDIR/h"
	# curl's own */*, no Accept, and application/json: the index scripts parse.
	local a
	for a in '*/*' '' 'application/json' 'application/json, text/html;q=0.9'; do
		run curl -s -H "Accept: $a" "$U/"
		assert_equal "$(jq -r .name <<<"$output")" IoTFlow
	done
	run headers "$U/" -H 'Accept: application/json'
	assert_output --partial 'Content-Type: application/json'
	assert_output --partial 'Vary: Accept'
	# The page never inlines a script (the policy would refuse it anyway).
	run bash -c "curl -s -H 'Accept: text/html' '$U/' | grep -c '<script>\|<script [^>]*>[^<]'"
	assert_output 0
}

@test "the dashboard's answers carry the CSP, nosniff, no-referrer; files have an ETag and revalidate (304)" {
	start_httpd
	local url
	for url in "$U/" "$U/ui/app.js" "$U/ui/style.css" "$U/ui/vendor/uPlot.iife.min.js" "$U/ui/no-such.js"; do
		run headers "$url" -H "Accept: $BROWSER_ACCEPT"
		assert_output --partial "Content-Security-Policy: default-src 'self'; script-src 'self'; "
		assert_output --partial "frame-ancestors 'none'"
		refute_output --partial "unsafe-inline"
		assert_output --partial 'X-Content-Type-Options: nosniff'
		assert_output --partial 'Referrer-Policy: no-referrer'
	done
	run headers "$U/ui/app.js"
	assert_line --regexp '^HTTP/1.1 200'
	assert_output --partial 'Content-Type: text/javascript; charset=utf-8'
	assert_output --partial 'Cache-Control: no-cache'
	local etag
	etag=$(sed -n 's/^ETag: //p' <<<"$output")
	[[ $etag =~ ^\"[0-9a-f]{16}\"$ ]]
	run headers "$U/ui/app.js" -H "If-None-Match: $etag"
	assert_line --regexp '^HTTP/1.1 304'
	run headers "$U/ui/vendor/uPlot.min.css"
	assert_output --partial 'Content-Type: text/css; charset=utf-8'
	run headers "$U/ui/favicon.svg"
	assert_output --partial 'Content-Type: image/svg+xml'
	# The bytes are the tree's.
	run bash -c "curl -s '$U/ui/charts.js' | cmp - '$IOTFLOW_ROOT/web/charts.js'"
	assert_success
	run headers "$U/ui/app.js" -I
	assert_line --regexp '^HTTP/1.1 200'
}

@test "only the files of the list: unknown ones 404, no path traversal in any spelling" {
	start_httpd
	local p
	for p in /ui/no-such.js /ui/ /ui/index.html /ui/vendor/ /ui/vendor/uPlot.LICENSE /ui/APP.JS /ui/app.js/ \
		/ui/../../etc/passwd /ui/..%2f..%2fetc%2fpasswd /ui/%2e%2e/%2e%2e/etc/passwd /ui/%252e%252e/etc/passwd \
		/ui//etc/passwd /ui/vendor/../app.js /ui/./app.js /ui/..%5c..%5cetc%5cpasswd \
		/etc/passwd /ui/%2fetc%2fpasswd /web/app.js /index.html; do
		run curl -s --path-as-is -w '\n%{http_code}' "$U$p"
		assert_equal "${lines[-1]}" 404
		refute_output --partial 'root:'
	done
	run curl -s -o /dev/null -w '%{http_code}' -X POST "$U/ui/app.js"
	assert_output 405
	# libmicrohttpd decodes the path before iot-httpd sees it, and a %00
	# ends it there: what is served is app.js itself, as JavaScript.
	run headers "$U/ui/app.js%00.css"
	assert_output --partial 'Content-Type: text/javascript'
}

@test "no web root: the API runs, the log says so once, / is the JSON index even to browsers" {
	start_httpd --web-root "$BATS_TEST_TMPDIR/nowhere"
	run curl -s -H "Accept: $BROWSER_ACCEPT" "$U/"
	assert_equal "$(jq -r .name <<<"$output")" IoTFlow
	run curl -s -o /dev/null -w '%{http_code}' "$U/ui/app.js"
	assert_output 404
	run as "$ALICE" GET /api/v1/dashboard/devices
	has "$output" 200 '.devices | length == 3'
	run grep -c 'web dashboard is off' "$BATS_TEST_TMPDIR/httpd.log"
	assert_output 1
	run grep -c "nowhere/index.html" "$BATS_TEST_TMPDIR/httpd.log"
	assert_output 1
}

@test "GET /api/v1/dashboard/devices: the person's devices with online state, last seen and latest values" {
	start_httpd
	run as "$ALICE" GET /api/v1/dashboard/devices
	has "$output" 200 '.status == "success" and .meta.total == 3 and ([.devices[].name] == ["dev-a","dev-b","dev-off"])'
	has "$output" 200 ".devices[0] | .id == $A and .is_online == true and (.last_seen | test(\"^2\")) and .latest.temperature.value == 22.5 and .latest.humidity.value == 40 and (.latest_at | test(\"^2\"))"
	has "$output" 200 '.devices[1] | .is_online == false and .last_seen == null and .latest == {} and .latest_at == null and .device_type == "sensor"'
	has "$output" 200 '.devices[2] | .status == "inactive" and .is_online == false'
	run body "$output"
	refute_output --partial api_key
	refute_output --partial iotf_
	run as "$BOB" GET /api/v1/dashboard/devices
	has "$output" 200 "[.devices[].id] == [$C] and .devices[0].latest.temperature.value == -4"
	run as "$ROOT" GET '/api/v1/dashboard/devices?limit=2&offset=1'
	has "$output" 200 '.meta == {"total":4,"limit":2,"offset":1} and ([.devices[].name] == ["dev-b","dev-c"])'
	run as "$ALICE" GET '/api/v1/dashboard/devices?limit=0'
	has "$output" 400 '.message | test("limit")'
	run as "" GET /api/v1/dashboard/devices
	has "$output" 401
	run dev "$KEY_A" GET /api/v1/dashboard/devices
	has "$output" 401
	run as iotu_not-a-token GET /api/v1/dashboard/devices
	has "$output" 401 '.error == "Invalid API token"'
}

@test "GET /api/v1/dashboard/devices/{id}: one device with its keys' state, never a key; others' are 404" {
	start_httpd
	iot-device key rotate "$A" --grace 1h >/dev/null
	run as "$ALICE" GET "/api/v1/dashboard/devices/$A"
	has "$output" 200 ".status == \"success\" and .device.id == $A and .device.name == \"dev-a\" and .device.is_online == true and .device.latest.temperature.value == 22.5"
	has "$output" 200 '[.keys[].state] == ["grace","active"] and (.keys[0] | has("key_prefix") and has("last_used") and has("usage_count") and has("expires_at") and (has("device_id") | not))'
	run body "$output"
	refute_output --partial "$KEY_A"
	refute_output --partial digest
	run as "$BOB" GET "/api/v1/dashboard/devices/$A"
	has "$output" 404
	run as "$ALICE" GET /api/v1/dashboard/devices/999
	has "$output" 404
	run as "$ROOT" GET "/api/v1/dashboard/devices/$C"
	has "$output" 200 '.device.name == "dev-c"'
	run dev "$KEY_A" GET "/api/v1/dashboard/devices/$A"
	has "$output" 401
}

@test "GET /api/v1/dashboard/stream: one event stream of all the person's devices, nobody else's" {
	start_httpd
	local f=$BATS_TEST_TMPDIR/s
	open_stream "$f" -H "Authorization: Bearer $ALICE" "$U/api/v1/dashboard/stream"
	grep -qi '^content-type: text/event-stream' "$f.headers"
	run post "$KEY_C" '{"data":{"temperature":1}}'
	assert_output --regexp '^201 '
	run post "$KEY_A" '{"data":{"temperature":30.5}}'
	assert_output --regexp '^201 '
	printf '{"device_id":%s,"data":{"door":"open"}}\n' "$B" | iot-ingest -q
	wait_for "$f" '"door"'
	wait_for "$f" '30.5'
	run grep -c "\"device_id\":$C" "$f"
	assert_output 0
	# A person without devices: keep-alives only; no token: 401.
	iot-user add carol --no-password >/dev/null
	local carol
	carol=$(iot-user token create carol t | jq -r .token)
	open_stream "$BATS_TEST_TMPDIR/s2" -H "Authorization: Bearer $carol" "$U/api/v1/dashboard/stream"
	run req "$U/api/v1/dashboard/stream"
	has "$output" 401
	run req "$U/api/v1/dashboard/stream?token=$ALICE"
	has "$output" 400 '.error == "Credentials in URL"'
}
