#!/usr/bin/env bats
# The long responses of iot-httpd (lib/http/http_stream.c, http_export.c)
# with curl against a real server: the Server-Sent Events stream of a
# device's committed points (what iot-query follow prints), its cap,
# keep-alives and teardown; the export download, byte for byte what
# iot-query export writes; who may read them.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load httpd_people

setup() {
	people_setup
	CURL_PIDS=()
}

teardown() {
	local p
	for p in "${CURL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	if [[ -n $HTTPD_PID ]] && kill -0 "$HTTPD_PID" 2>/dev/null; then
		kill -TERM "$HTTPD_PID"
		wait "$HTTPD_PID" 2>/dev/null || true
	fi
	return 0
}

code() { cut -d ' ' -f 1 <<<"$1"; }

@test "stream: a point committed by iot-ingest arrives as an event, nothing of other devices" {
	start_httpd
	local f=$BATS_TEST_TMPDIR/s
	open_stream "$f" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/stream"
	grep -qi '^content-type: text/event-stream' "$f.headers"
	grep -qi '^cache-control: no-store' "$f.headers"
	printf '{"device_id":%s,"timestamp":"2026-12-01T10:00:00Z","data":{"temperature":20.5}}\n' "$B" | iot-ingest -q
	printf '{"device_id":%s,"timestamp":"2026-12-01T10:00:01Z","data":{"temperature":21.5,"door":"open"}}\n' "$A" | iot-ingest -q
	# Well within a second on any machine; the 10 s cap is for loaded CI.
	wait_for "$f" '"door"'
	kill "$CURL_PID"
	run grep '^data: ' "$f"
	assert_equal "${#lines[@]}" 2
	# The events are the lines iot-query follow prints (the export's NDJSON).
	run bash -c "grep '^data: ' '$f' | sed 's/^data: //' | sort"
	assert_equal "$output" "$(printf '%s\n' \
		"{\"device_id\":$A,\"timestamp\":\"2026-12-01T10:00:01+00:00\",\"data\":{\"door\":\"open\"}}" \
		"{\"device_id\":$A,\"timestamp\":\"2026-12-01T10:00:01+00:00\",\"data\":{\"temperature\":21.5}}")"
	run grep -c "\"device_id\":$B" "$f"
	assert_equal "$output" 0
	# Each event ends with a blank line.
	run bash -c "grep -A1 '^data: ' '$f' | grep -c '^$'"
	assert_equal "$output" 2
}

@test "stream: what was stored before it opened is not replayed; measurement= filters" {
	printf '{"device_id":%s,"timestamp":"2026-12-01T09:00:00Z","data":{"temperature":1}}\n' "$A" | iot-ingest -q
	start_httpd
	local f=$BATS_TEST_TMPDIR/s
	open_stream "$f" -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/$A/stream?measurement=humidity"
	printf '{"device_id":%s,"timestamp":"2026-12-01T10:00:00Z","data":{"temperature":2,"humidity":40}}\n' "$A" | iot-ingest -q
	wait_for "$f" humidity
	run grep -c temperature "$f"
	assert_equal "$output" 0
}

@test "stream: who may open it; tokens in the URL are refused" {
	start_httpd
	run req -H "X-API-Key: $KEY_B" "$U/api/v1/telemetry/$A/stream"
	assert_equal "$(code "$output")" 403
	run req -H "Authorization: Bearer $BOB" "$U/api/v1/telemetry/$A/stream"
	assert_equal "$(code "$output")" 404
	run req "$U/api/v1/telemetry/$A/stream"
	assert_equal "$(code "$output")" 401
	run req -H "X-API-Key: iotf_not-a-key" "$U/api/v1/telemetry/$A/stream"
	assert_equal "$(code "$output")" 401
	run req "$U/api/v1/telemetry/$A/stream?token=$ALICE"
	assert_equal "$(code "$output")" 400
	refute_output --partial "$ALICE"
	# An admin may follow anyone's device.
	open_stream "$BATS_TEST_TMPDIR/s" -H "Authorization: Bearer $ROOT" "$U/api/v1/telemetry/$C/stream"
}

@test "stream: keep-alive comments, the cap on streams, and the place freed when the client goes" {
	start_httpd --max-streams 1 --timeout 2
	local f=$BATS_TEST_TMPDIR/s
	open_stream "$f" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/stream"
	# --timeout 2: a keep-alive every second keeps the connection.
	wait_for "$f" '^: keep-alive' 250
	run req -H "X-API-Key: $KEY_A" -D - "$U/api/v1/telemetry/$A/stream"
	assert_equal "$(code "$output")" 503
	assert_output --partial 'Too many streams'
	assert_output --regexp '[Rr]etry-[Aa]fter: 5'
	# An export counts too.
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export"
	assert_equal "$(code "$output")" 503
	# The client goes: the next keep-alive fails, the stream ends, its place is free.
	kill "$CURL_PID"
	wait "$CURL_PID" 2>/dev/null || true
	local i ok=
	for i in $(seq 100); do
		if [[ $(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export") == 200 ]]; then
			ok=1
			break
		fi
		sleep 0.1
	done
	assert_equal "$ok" 1
	open_stream "$BATS_TEST_TMPDIR/s2" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/stream"
}

@test "stream: SIGTERM drains: the stream ends cleanly and iot-httpd exits 0" {
	start_httpd
	local f=$BATS_TEST_TMPDIR/s
	open_stream "$f" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/stream"
	kill -TERM "$HTTPD_PID"
	local rc=0
	wait "$HTTPD_PID" || rc=$?
	assert_equal "$rc" 0
	HTTPD_PID=
	# curl saw the chunked body end properly (exit 0, not 18 "partial file").
	rc=0
	wait "$CURL_PID" || rc=$?
	assert_equal "$rc" 0
}

@test "export: the same bytes as iot-query export for the same device and range, as NDJSON and CSV" {
	{
		for i in $(seq 0 2999); do
			printf '{"device_id":%s,"timestamp":%s,"data":{"temperature":%s.25,"state":"s%s"},"metadata":{"fw":"1.%s"}}\n' \
				"$A" $((1764547200 + i * 7)) $((i % 40)) "$i" $((i % 3))
		done
		printf '{"device_id":%s,"timestamp":1764547300,"data":{"temperature":99}}\n' "$B"
		printf '{"device_id":%s,"timestamp":1764547300,"data":{"big":1.8014398509481984e16,"obj":{"k":[1,2.5]},"ok":true}}\n' "$A"
	} | iot-ingest -q
	start_httpd
	local s=2025-12-01T00:00:00Z e=2025-12-01T06:00:00Z fmt
	for fmt in ndjson csv; do
		curl -sf -D "$BATS_TEST_TMPDIR/h.$fmt" -o "$BATS_TEST_TMPDIR/http.$fmt" -H "Authorization: Bearer $ALICE" \
			"$U/api/v1/telemetry/$A/export?format=$fmt&start_time=$s&end_time=$e"
		iot-query export --device "$A" --since "$s" --until "$e" --format "$fmt" > "$BATS_TEST_TMPDIR/cli.$fmt"
		cmp "$BATS_TEST_TMPDIR/http.$fmt" "$BATS_TEST_TMPDIR/cli.$fmt"
		grep -qi "^content-disposition: attachment; filename=\"telemetry-$A-20251201T000000Z-20251201T060000Z.$fmt\"" "$BATS_TEST_TMPDIR/h.$fmt"
	done
	grep -qi '^content-type: application/x-ndjson' "$BATS_TEST_TMPDIR/h.ndjson"
	grep -qi '^content-type: text/csv' "$BATS_TEST_TMPDIR/h.csv"
	# 3000 points x 2 measurements + 3, none of device B.
	run wc -l < "$BATS_TEST_TMPDIR/http.ndjson"
	assert_equal "$output" 6003
	run grep -c "\"device_id\":$B" "$BATS_TEST_TMPDIR/http.ndjson"
	assert_equal "$output" 0
	# And it reads back to the very same rows.
	local before
	before=$(psql -XAtq -c "select md5(string_agg(t::text, '|' order by device_id, measurement_name, ts)) from telemetry_data t where device_id = $A")
	psql -XAtq -c "delete from telemetry_data where device_id = $A"
	iot-ingest -q < "$BATS_TEST_TMPDIR/http.ndjson"
	assert_equal "$(psql -XAtq -c "select md5(string_agg(t::text, '|' order by device_id, measurement_name, ts)) from telemetry_data t where device_id = $A")" "$before"
}

@test "export: bad arguments are 400, a stranger's device 404, a device key its own only" {
	start_httpd
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export?format=xml"
	assert_equal "$(code "$output")" 400
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export?start_time=yesterday"
	assert_equal "$(code "$output")" 400
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export?start_time=-1h&end_time=-2h"
	assert_equal "$(code "$output")" 400
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$B/export"
	assert_equal "$(code "$output")" 403
	run req -H "Authorization: Bearer $BOB" "$U/api/v1/telemetry/$A/export"
	assert_equal "$(code "$output")" 404
	run req "$U/api/v1/telemetry/$A/export"
	assert_equal "$(code "$output")" 401
	# Empty range: an empty NDJSON body, the CSV header alone.
	run req -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export?format=csv"
	assert_equal "$(code "$output")" 200
	assert_output --partial 'device_id,timestamp,measurement,type,value,metadata'
}

@test "export: memory stays flat for a long export (iot-httpd's RSS)" {
	iot-ingest -q < <(for i in $(seq 0 59999); do
		printf '{"device_id":%s,"timestamp":%s,"data":{"v":%s.5}}\n' "$A" $((1764547200 + i)) "$i"
	done)
	start_httpd
	curl -sf -o /dev/null -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export?start_time=2025-12-01&end_time=2025-12-01T00:00:10Z"
	local small big
	small=$(awk '/^VmHWM/ { print $2 }' "/proc/$HTTPD_PID/status")
	curl -sf -o "$BATS_TEST_TMPDIR/big" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/export?start_time=2025-12-01&end_time=2025-12-02"
	big=$(awk '/^VmHWM/ { print $2 }' "/proc/$HTTPD_PID/status")
	run wc -l < "$BATS_TEST_TMPDIR/big"
	assert_equal "$output" 60000
	# 60,000 points are ~5 MB of text: all of it held would show.
	(( big - small < 3000 )) || { echo "peak RSS grew from $small kB to $big kB" >&2; return 1; }
}
