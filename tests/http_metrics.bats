#!/usr/bin/env bats
# http_metrics.bats — iot-httpd's /metrics against what really happened:
# every status the server answers has its own label (never "0"), the
# histograms' buckets, sum and count agree while requests are running (and
# in a two-thread unit test of lib/base/metrics.c), and
# the counters agree with the rows in PostgreSQL after a mixed load of new,
# replayed and refused points. The format and access rules: tests/httpd.bats.

# shellcheck disable=SC2154 # $output, $lines and $status are set by bats' run
load helpers
load httpd_helpers

metrics() { curl -sf "$U/metrics"; }

@test "histograms: a scrape during observations never shows a bucket above +Inf (unit test under ASan+UBSan, two threads)" {
	make -C "$IOTFLOW_ROOT" --no-print-directory -s build/unit/test_metrics >&2
	run "$IOTFLOW_ROOT/build/unit/test_metrics"
	assert_success
	assert_output --regexp '^[0-9]+ passed, 0 failed$'
}

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

# hist_check: every histogram of the exposition on stdin is consistent:
# buckets cumulative (never falling), none above +Inf, +Inf equal to _count.
hist_check() {
	awk '
		/^#/ { next }
		/_bucket\{/ {
			key = $1; sub(/le="[^"]*"\}?/, "", key); sub(/_bucket/, "", key); sub(/[,{]$/, "", key)
			if (key in last && $2 + 0 < last[key]) { print "falling: " $0; bad = 1 }
			last[key] = $2 + 0
			if ($1 ~ /le="\+Inf"/) inf[key] = $2 + 0
			next
		}
		/_count[ {]/ {
			key = $1; sub(/_count/, "", key); sub(/\{$/, "", key); gsub(/[{}]/, "", key)
			count[key] = $2 + 0
		}
		END {
			for (k in inf) {
				c = k; sub(/\{$/, "", c); gsub(/[{}]/, "", c)
				if (!(c in count)) { print "no _count for " k; bad = 1 }
				else if (count[c] != inf[k]) { print k ": +Inf " inf[k] " but _count " count[c]; bad = 1 }
			}
			exit bad
		}'
}

@test "/metrics under load: histograms consistent at every scrape; points stored, duplicate and refused agree with PostgreSQL" {
	command -v promtool >/dev/null || skip "promtool (Debian package prometheus) is not installed"
	start_httpd
	local n=400 i t0
	t0=$(date -u +%s)
	# Posts of 5 points each, 8 at a time; the second round replays them all; a third of bad ones.
	for i in $(seq "$n"); do
		printf '{"timestamp":"%s","data":{"a":%d,"b":1,"c":2,"d":3,"e":4}}\n' "$(date -u -d "@$((t0 - i))" +%Y-%m-%dT%H:%M:%SZ)" "$i"
	done > "$BATS_TEST_TMPDIR/bodies"
	poster() {
		xargs -d '\n' -P 8 -n 1 curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
			-H "X-API-Key: $KEY_A" "$U/api/v1/telemetry" --data-binary
	}
	{ poster < "$BATS_TEST_TMPDIR/bodies"; poster < "$BATS_TEST_TMPDIR/bodies"
	  yes '{"data":{}}' | head -n 100 | poster; } &
	local load=$! scrapes=0
	while kill -0 "$load" 2>/dev/null; do
		metrics > "$BATS_TEST_TMPDIR/m"
		run hist_check < "$BATS_TEST_TMPDIR/m"
		assert_success
		run promtool check metrics < "$BATS_TEST_TMPDIR/m"
		assert_success
		scrapes=$((scrapes + 1))
	done
	wait "$load"
	echo "scrapes during the load: $scrapes" >&3
	metrics > "$BATS_TEST_TMPDIR/m"
	run hist_check < "$BATS_TEST_TMPDIR/m"
	assert_success
	val() { awk -v k="$1" '$1 == k { print $2 }' "$BATS_TEST_TMPDIR/m"; }
	assert_equal "$(rows)" $((n * 5))
	assert_equal "$(val iotflow_http_points_stored_total)" $((n * 5))
	assert_equal "$(val iotflow_ingest_points_stored_total)" $((n * 5))
	assert_equal "$(val iotflow_http_points_duplicate_total)" $((n * 5))
	assert_equal "$(val iotflow_ingest_points_duplicate_total)" $((n * 5))
	# A batch's points are the new ones and the replayed ones.
	assert_equal "$(val iotflow_ingest_batch_points_sum | cut -d. -f1)" $((n * 10))
	assert_equal "$(val iotflow_ingest_batch_points_count)" "$(val iotflow_ingest_batches_total)"
	assert_equal "$(val iotflow_ingest_commit_seconds_count)" "$(val iotflow_ingest_batches_total)"
	assert_equal "$(val iotflow_ingest_points_rejected_total)" 0
	assert_equal "$(val 'iotflow_http_requests_total{method="POST",route="/api/v1/telemetry",status="201"}')" $((2 * n))
	assert_equal "$(val 'iotflow_http_requests_total{method="POST",route="/api/v1/telemetry",status="400"}')" 100
	assert_equal "$(val 'iotflow_http_request_duration_seconds_count{route="/api/v1/telemetry"}')" $((2 * n + 100))
	assert_equal "$(val iotflow_http_commit_wait_seconds_count)" $((2 * n))
	assert_equal "$(val iotflow_http_requests_waiting_commit)" 0
	assert_equal "$(val iotflow_ingest_queued_points)" 0
}
