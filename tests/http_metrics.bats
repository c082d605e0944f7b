#!/usr/bin/env bats
# http_metrics.bats — iot-httpd's /metrics against what really happened:
# every status the server answers has its own label (never "0"), the
# histograms' buckets, sum and count agree while requests are running, and
# the counters agree with the rows in PostgreSQL after a mixed load of new,
# replayed and refused points. The format and access rules: tests/httpd.bats.

# shellcheck disable=SC2154 # $output, $lines and $status are set by bats' run
load helpers
load httpd_helpers

metrics() { curl -sf "$U/metrics"; }

@test "/metrics: 304, 409 and 410 are counted under their own status, none as status 0" {
	start_httpd
	local etag
	etag=$(curl -s -D - -o /dev/null "$U/ui/app.js" | awk -F': ' 'tolower($1) == "etag" { sub(/\r$/, "", $2); print $2 }')
	[[ -n $etag ]]
	run curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$U/ui/app.js"
	assert_output 304
	has "$(as "$ALICE" POST /api/v1/devices/register '{"name":"dev-a","device_type":"esp32"}')" 409 '.error == "Device name already exists"'
	has "$(as "$ROOT" POST /api/v1/mqtt/subscribe '{}')" 410 '.error == "Not supported"'
	run metrics
	assert_success
	assert_line 'iotflow_http_requests_total{method="GET",route="/ui/*",status="304"} 1'
	assert_line 'iotflow_http_requests_total{method="POST",route="/api/v1/devices/register",status="409"} 1'
	assert_line 'iotflow_http_requests_total{method="POST",route="/api/v1/mqtt/subscribe",status="410"} 1'
	refute_output --partial 'status="0"'
}
