#!/usr/bin/env bats
# lib/query against real PostgreSQL, through build/tests/query_check, with
# data loaded by iot-ingest: time arguments, ranges, latest and lastpoint,
# aggregates against a brute-force SQL computation of the same buckets (raw
# and hourly sources), deletes that keep the rollups and latest values right
# (also under a concurrent writer), a user's telemetry, limits and caps.

load helpers

setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add querier >/dev/null
		echo "s3cret-passw0rd" | iot-user add other >/dev/null
		iot-device add dev-a --owner querier > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner querier --type meter > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-c --owner other > "$IOTFLOW_TEST_TMP/dev-c.json"'
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json")
	C=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-c.json")
	QC=$IOTFLOW_ROOT/build/tests/query_check
	[[ -x $QC ]] || { echo "build/tests/query_check is not built (make test-progs)" >&2; return 1; }
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
ingest() { iot-ingest -q "$@" > /dev/null; }

# gen DEV T0 N STEP SEED: N records of temp (real) and hum (integer) from
# epoch second T0, STEP/2..1.5xSTEP seconds apart, timestamps in milliseconds.
gen() {
	awk -v d="$1" -v t0="$2" -v n="$3" -v step="$4" -v seed="${5:-1}" 'BEGIN { srand(seed); t = t0 * 1000
		for (i = 0; i < n; i++) {
			t += int((step / 2 + rand() * step) * 1000)
			printf "{\"device_id\":%d,\"data\":{\"temp\":%.3f,\"hum\":%d},\"timestamp\":%.0f}\n", d, 15 + 10 * rand(), int(100 * rand()), t
		} }'
}

# The same buckets computed the simplest way: every raw row, floor division.
brute() { # DEV FIELD FN WINDOW_SECONDS START END
	local agg
	case $3 in
	mean) agg="avg(v)" ;; sum) agg="sum(v)" ;; count) agg="count(*)" ;; min) agg="min(v)" ;;
	max) agg="max(v)" ;; first) agg="(array_agg(v ORDER BY ts))[1]" ;; last) agg="(array_agg(v ORDER BY ts DESC))[1]" ;;
	esac
	q "SELECT b, $agg, count(*) FROM (SELECT ts, numeric_value v,
	     (floor(extract(epoch FROM ts) / $4) * $4)::bigint b FROM telemetry_data
	     WHERE device_id = $1 AND measurement_name = '$2' AND numeric_value IS NOT NULL
	     AND ts >= '$5' AND ts <= '$6') p GROUP BY b ORDER BY b DESC"
}

# Two "bucket|value|count" listings equal: same buckets and counts, values
# within 1e-9 relative (sums added in another order differ in the last bits).
same_buckets() { # FILE1 FILE2
	local n1 n2
	n1=$(wc -l < "$1") n2=$(wc -l < "$2")
	[[ $n1 == "$n2" ]] || { echo "$n1 buckets vs $n2"; diff "$1" "$2" | head; return 1; }
	paste -d'|' "$1" "$2" | awk -F'|' '
		function abs(x) { return x < 0 ? -x : x }
		$1 != $4 || $3 != $6 || abs($2 - $5) > 1e-9 * (abs($5) > 1 ? abs($5) : 1) { print "differs: " $0; bad = 1 }
		END { exit bad }'
}

# Rows of telemetry_hourly that differ from a recomputation over the raw rows.
hourly_wrong() {
	q "WITH r AS (SELECT device_id, measurement_name, date_bin('1 hour', ts, timestamptz 'epoch') AS bucket,
	     count(*) n, sum(numeric_value) s, min(numeric_value) lo, max(numeric_value) hi, min(ts) fts,
	     (array_agg(numeric_value ORDER BY ts))[1] fv, max(ts) lts, (array_agg(numeric_value ORDER BY ts DESC))[1] lv
	     FROM telemetry_data WHERE numeric_value IS NOT NULL GROUP BY 1, 2, 3)
	   SELECT count(*) FROM r FULL JOIN telemetry_hourly h USING (device_id, measurement_name, bucket)
	   WHERE r.n IS NULL OR h.count IS NULL OR h.count <> r.n OR abs(h.sum - r.s) > 1e-9 * greatest(1, abs(r.s))
	     OR h.min <> r.lo OR h.max <> r.hi OR h.first_ts <> r.fts OR h.first_value <> r.fv
	     OR h.last_ts <> r.lts OR h.last_value <> r.lv"
}

# Rows of telemetry_latest that differ from the newest raw row of each series.
latest_wrong() {
	q "WITH r AS (SELECT DISTINCT ON (device_id, measurement_name) * FROM telemetry_data
	     ORDER BY device_id, measurement_name, ts DESC)
	   SELECT count(*) FROM r FULL JOIN telemetry_latest l USING (device_id, measurement_name)
	   WHERE r.ts IS NULL OR l.ts IS NULL OR l.ts <> r.ts
	     OR (l.numeric_value, l.text_value, l.boolean_value, l.json_value::text)
	        IS DISTINCT FROM (r.numeric_value, r.text_value, r.boolean_value, r.json_value::text)"
}

@test "time arguments: the Flask grammar, epoch numbers and ISO 8601 forms" {
	local now=2026-11-28T12:00:00Z
	while IFS='=' read -r text want; do
		run "$QC" --now "$now" time start_time "$text"
		assert_success
		assert_output "$want"
	done <<'EOF'
=1795867200000000 2026-11-28T12:00:00+00:00
now=1795867200000000 2026-11-28T12:00:00+00:00
NOW=1795867200000000 2026-11-28T12:00:00+00:00
-1h=1795863600000000 2026-11-28T11:00:00+00:00
-24h=1795780800000000 2026-11-27T12:00:00+00:00
-15m=1795866300000000 2026-11-28T11:45:00+00:00
-30s=1795867170000000 2026-11-28T11:59:30+00:00
-7d=1795262400000000 2026-11-21T12:00:00+00:00
-2w=1794657600000000 2026-11-14T12:00:00+00:00
1764309600=1764309600000000 2025-11-28T06:00:00+00:00
1764309600.25=1764309600250000 2025-11-28T06:00:00.250000+00:00
1764309600123=1764309600123000 2025-11-28T06:00:00.123000+00:00
0=0 1970-01-01T00:00:00+00:00
2026-11-28T06:00:00Z=1795845600000000 2026-11-28T06:00:00+00:00
2026-11-28T06:00:00.123456+00:00=1795845600123456 2026-11-28T06:00:00.123456+00:00
2026-11-28T07:00:00+01:00=1795845600000000 2026-11-28T06:00:00+00:00
2026-11-28T01:00:00-0500=1795845600000000 2026-11-28T06:00:00+00:00
2026-11-28T06:00:00=1795845600000000 2026-11-28T06:00:00+00:00
2026-11-28 06:00:00.5=1795845600500000 2026-11-28T06:00:00.500000+00:00
2026-11-28T06:00=1795845600000000 2026-11-28T06:00:00+00:00
2026-11-28T07:00+01:00=1795845600000000 2026-11-28T06:00:00+00:00
2026-11-28=1795824000000000 2026-11-28T00:00:00+00:00
2026-11-28T07:00:00 01:00=1795845600000000 2026-11-28T06:00:00+00:00
9999-12-31T23:59:59.999999Z=253402300799999999 9999-12-31T23:59:59.999999+00:00
EOF
}

@test "time arguments: anything else is an error that says why (never now - 1h)" {
	while IFS='=' read -r text why; do
		run --separate-stderr "$QC" --now 2026-11-28T12:00:00Z time start_time "$text"
		assert_equal "$status" 2
		[[ $stderr == *"start_time \"$text\" is not a time"*"$why"* ]] || { echo "$text: $stderr"; return 1; }
	done <<'EOF'
yesterday=use now, -N with s, m, h, d or w
-30x=a relative time is -N with s, m, h, d or w
-1.5h=a relative time is
-h=a relative time is
-=a relative time is
1h=use now, -N
2026-13-01=has a month out of range
2026-02-30T00:00:00Z=has a day out of range
2026-11-28T25:00:00Z=has an hour out of range
2026-11-28T06:00:00+25:00=has a time zone offset out of range
2026-11-28T06:00:00Zjunk=has trailing characters
99999999999999999=out of range
1.2.3=use now, -N
EOF
	run --separate-stderr "$QC" time start_time 10000-01-01T00:00:00Z
	assert_equal "$status" 2
	# What is quoted back is printable and bounded.
	run --separate-stderr "$QC" time start_time "$(printf 'bad\001"x')"
	assert_equal "$status" 2
	[[ $stderr == *'"bad\x01\x22x" is not a time'* ]]
}

@test "windows, limits and functions: accepted forms and clear refusals" {
	while read -r text want; do
		run "$QC" window "$text"
		assert_output "$want"
	done <<'EOF'
1s 1000000
90 90000000
5m 300000000
1h 3600000000
1d 86400000000
7d 604800000000
1w 604800000000
366d 31622400000000
EOF
	for bad in 0 0s 367d 1.5h 1y h "" -1h; do
		run --separate-stderr "$QC" window "$bad"
		assert_equal "$status" 2
		[[ $stderr == *"window \"$bad\" is"* ]]
	done
	run "$QC" limit "" 1000 10000; assert_output 1000
	run "$QC" limit 10000 1000 10000; assert_output 10000
	run --separate-stderr "$QC" limit 10001 1000 10000
	assert_equal "$status" 2
	[[ $stderr == *'limit "10001" is over the maximum of 10000'* ]]
	for bad in 0 -5 abc 1e3 99999999999999999999; do
		run "$QC" limit "$bad" 1000 10000
		assert_equal "$status" 2
	done
	for fn in mean sum count min max first last; do
		run "$QC" fn "$fn"; assert_output "$fn"
	done
	run "$QC" fn avg; assert_output mean
	run --separate-stderr "$QC" fn median
	assert_equal "$status" 2
	[[ $stderr == *"use mean (or avg), sum, count, min, max, first or last"* ]]
}

@test "timestamps out as Python isoformat: microseconds only when not zero" {
	run "$QC" fmt 1795845600000000; assert_output 2026-11-28T06:00:00+00:00
	run "$QC" fmt 1795845600000001; assert_output 2026-11-28T06:00:00.000001+00:00
	run "$QC" fmt 1795845600120000; assert_output 2026-11-28T06:00:00.120000+00:00
}

@test "range: grouped and flat members, every value type as stored, metadata, newest first" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"device_id":$A,"data":{"temperature":23.5,"count":7,"state":"ok","door":true,"pos":{"x":1,"y":[2,3]}},"metadata":{"fw":"1.2"},"timestamp":"2026-11-28T06:00:00.250Z"}
{"device_id":$A,"data":{"temperature":24,"door":false},"timestamp":"2026-11-28T06:01:00Z"}
{"device_id":$A,"data":{"temperature":25},"timestamp":"2026-11-28T06:02:00Z"}
{"device_id":$B,"data":{"temperature":99},"timestamp":"2026-11-28T06:01:00Z"}
JSON
	ingest "$BATS_TEST_TMPDIR/in"
	run "$QC" range "$A" 2026-11-28T00:00:00Z 2026-11-28T06:01:00Z --meta
	assert_success
	assert_line --index 0 '{"timestamp":"2026-11-28T06:01:00+00:00","measurements":{"door":false,"temperature":24.0},"door":false,"temperature":24.0}'
	assert_line --index 1 '{"timestamp":"2026-11-28T06:00:00.250000+00:00","measurements":{"count":7.0,"door":true,"pos":{"x":1,"y":[2,3]},"state":"ok","temperature":23.5},"count":7.0,"door":true,"pos":{"x":1,"y":[2,3]},"state":"ok","temperature":23.5,"metadata":{"fw":"1.2"}}'
	assert_equal "${#lines[@]}" 2   # end is honoured: 06:02 is not in
	# Oldest first; without --meta no metadata.
	run "$QC" range "$A" 2026-11-28T00:00:00Z 2026-11-28T07:00:00Z --asc
	assert_line --index 0 --partial '"timestamp":"2026-11-28T06:00:00.250000+00:00"'
	assert_line --index 2 '{"timestamp":"2026-11-28T06:02:00+00:00","measurements":{"temperature":25.0},"temperature":25.0}'
	refute_output --partial metadata
	# A measurement filter; a device with nothing in the range.
	run "$QC" range "$A" 2026-11-28T00:00:00Z 2026-11-28T07:00:00Z -m door -m door
	assert_output '{"timestamp":"2026-11-28T06:01:00+00:00","measurements":{"door":false},"door":false}
{"timestamp":"2026-11-28T06:00:00.250000+00:00","measurements":{"door":true},"door":true}'
	run "$QC" range "$C" 2026-11-28T00:00:00Z 2026-11-28T07:00:00Z
	assert_success
	assert_output ''
	run --separate-stderr "$QC" range "$A" 2026-11-28T00:00:00Z 2026-11-28T07:00:00Z -m 'bad name'
	assert_equal "$status" 2
	[[ $stderr == *"measurement: invalid measurement name"* ]]
}

@test "range: every value type reads back exactly as it was sent" {
	local data='{"f":0.1,"big":1e300,"tiny":-2.5e-300,"int":9007199254740992,"neg":-7,"s":"h\u00e9llo \"q\" \\ \ud83d\ude80 \t","empty":"","t":true,"f0":false,"o":{"a":{"b":[1,"x",null,true,{"c":2.5}]}},"arr":[],"obj":{}}'
	echo "{\"device_id\":$A,\"data\":$data,\"metadata\":{\"k\":\"v\",\"n\":[1,2]},\"timestamp\":\"2026-11-28T06:00:00.000001Z\"}" > "$BATS_TEST_TMPDIR/in"
	ingest "$BATS_TEST_TMPDIR/in"
	run "$QC" range "$A" 2026-11-28T06:00:00Z 2026-11-28T06:00:00.000001Z --meta
	assert_success
	assert_equal "$(jq -cS .measurements <<<"$output")" "$(jq -cS . <<<"$data")"
	assert_equal "$(jq -cS .metadata <<<"$output")" '{"k":"v","n":[1,2]}'
	assert_equal "$(jq -r .timestamp <<<"$output")" 2026-11-28T06:00:00.000001+00:00
	# The same through latest and the user listing.
	run "$QC" latest "$A"
	assert_equal "$(jq -cS '.measurements | map_values(.value)' <<<"$output")" "$(jq -cS . <<<"$data")"
	owner=$(q "SELECT id FROM users WHERE username = 'querier'")
	run "$QC" user "$owner" 2026-11-28T00:00:00Z 2026-11-29T00:00:00Z
	assert_equal "$(grep -v total_count <<<"$output" | jq -cS '{(.measurement_name): .value}' | jq -cSs add)" "$(jq -cS . <<<"$data")"
}

@test "range: names that clash with record members stay inside measurements only" {
	echo '{"values":{"timestamp":1,"measurements":2,"metadata":3,"device_id":4,"ok":5}}' |
		iot-ingest -q --format thingsboard --device "$A" > /dev/null
	run "$QC" range "$A" -1h now
	assert_success
	assert_output --regexp '^\{"timestamp":"[^"]*","measurements":\{"device_id":4.0,"measurements":2.0,"metadata":3.0,"ok":5.0,"timestamp":1.0\},"ok":5.0\}$'
}

@test "range: limit counts records, not points; default 1000, cap 10000" {
	gen "$A" 1795000000 1500 60 > "$BATS_TEST_TMPDIR/in"
	ingest "$BATS_TEST_TMPDIR/in"
	run "$QC" range "$A" 2026-01-01T00:00:00Z now -l 3
	assert_equal "${#lines[@]}" 3
	# Each record has both measurements: the newest three timestamps.
	assert_equal "$(jq -r '.measurements | length' <<<"$output" | sort -u)" "2"
	local newest; newest=$(jq -r .timestamp <<<"$output" | sed "s/.*/'&'/" | paste -sd,)
	assert_equal "$(q "SELECT count(*) FROM (SELECT DISTINCT ts FROM telemetry_data ORDER BY ts DESC LIMIT 3) t WHERE ts IN ($newest)")" 3
	run "$QC" range "$A" 2026-01-01T00:00:00Z now
	assert_equal "${#lines[@]}" 1000
	run "$QC" range "$A" 2026-01-01T00:00:00Z now -l 10000
	assert_equal "${#lines[@]}" 1500
	# Series that never share a timestamp: still the newest 3 records.
	printf '%s\n' "{\"device_id\":$B,\"data\":{\"x\":1},\"timestamp\":1795000001}" "{\"device_id\":$B,\"data\":{\"y\":2},\"timestamp\":1795000002}" \
		"{\"device_id\":$B,\"data\":{\"x\":3},\"timestamp\":1795000003}" "{\"device_id\":$B,\"data\":{\"y\":4},\"timestamp\":1795000004}" > "$BATS_TEST_TMPDIR/b"
	ingest "$BATS_TEST_TMPDIR/b"
	run "$QC" range "$B" 2026-01-01T00:00:00Z now -l 3
	assert_equal "$(jq -c .measurements <<<"$output" | paste -sd' ')" '{"y":4} {"x":3} {"y":2}'
	run "$QC" range "$B" 2026-01-01T00:00:00Z now -l 3 --asc
	assert_equal "$(jq -c .measurements <<<"$output" | paste -sd' ')" '{"x":1} {"y":2} {"x":3}'
	run --separate-stderr "$QC" range "$A" 2026-01-01T00:00:00Z now -l 10001
	assert_equal "$status" 2
	[[ $stderr == *"limit 10001 is out of bounds (1 to 10000)"* ]]
	run --separate-stderr "$QC" range "$A" now -1h
	assert_equal "$status" 2
	[[ $stderr == *"start ("*") is after end ("* ]]
}

@test "latest: every measurement with its time, latest_data at the newest time, from telemetry_latest only" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"device_id":$A,"data":{"temperature":20,"humidity":50,"mode":"eco"},"timestamp":"2026-11-28T06:00:00Z"}
{"device_id":$A,"data":{"temperature":21,"humidity":51},"timestamp":"2026-11-28T06:05:00.5Z"}
{"device_id":$A,"data":{"temperature":19},"timestamp":"2026-11-28T05:00:00Z"}
JSON
	ingest "$BATS_TEST_TMPDIR/in"
	run "$QC" latest "$A"
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:05:00.500000+00:00","latest_data":{"humidity":51.0,"temperature":21.0},"measurements":{"humidity":{"value":51.0,"timestamp":"2026-11-28T06:05:00.500000+00:00"},"mode":{"value":"eco","timestamp":"2026-11-28T06:00:00+00:00"},"temperature":{"value":21.0,"timestamp":"2026-11-28T06:05:00.500000+00:00"}},"device_id":'"$A"'}'
	# The raw table is not read at all.
	q "TRUNCATE telemetry_data"
	run "$QC" latest "$A"
	assert_output --partial '"latest_data":{"humidity":51.0,"temperature":21.0}'
	run --separate-stderr "$QC" latest "$B"
	assert_equal "$status" 3
	[[ $stderr == *"no telemetry for device $B"* ]]
}

@test "lastpoint: the latest of many devices in one query, with owner and type filters" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"device_id":$A,"data":{"t":1,"s":"a"},"timestamp":"2026-11-28T06:00:00Z"}
{"device_id":$B,"data":{"t":2},"timestamp":"2026-11-28T06:01:00Z"}
{"device_id":$C,"data":{"t":3},"timestamp":"2026-11-28T06:02:00Z"}
JSON
	ingest "$BATS_TEST_TMPDIR/in"
	run "$QC" lastpoint
	assert_equal "$(jq -c '[.device_id, .device_name, (.latest_data | keys)]' <<<"$output" | paste -sd' ')" \
		"[$A,\"dev-a\",[\"s\",\"t\"]] [$B,\"dev-b\",[\"t\"]] [$C,\"dev-c\",[\"t\"]]"
	assert_line --index 0 --partial '"latest_data":{"s":"a","t":1.0}'
	assert_line --index 2 --partial '"device_name":"dev-c"'
	assert_line --index 2 --partial '"measurements":{"t":{"value":3.0,"timestamp":"2026-11-28T06:02:00+00:00"}}'
	owner=$(q "SELECT id FROM users WHERE username = 'querier'")
	run "$QC" lastpoint -o "$owner"
	assert_equal "$(jq -r .device_id <<<"$output" | paste -sd' ')" "$A $B"
	run "$QC" lastpoint -t meter
	assert_equal "$(jq -r .device_id <<<"$output" | paste -sd' ')" "$B"
	run "$QC" lastpoint "$C" "$A" 999999 99999999999 -4
	assert_equal "$(jq -r .device_id <<<"$output" | paste -sd' ')" "$A $C"
	run "$QC" lastpoint 99999999999
	assert_success
	assert_output ''
	run "$QC" range 99999999999 -1d now
	assert_success
	assert_output ''
	run "$QC" lastpoint -o "$owner" -t meter "$A"
	assert_output ''
}

@test "lastpoint over 1,500 devices (4,500 series, past one cursor batch; a device's rows split between two): as SQL says" {
	q "INSERT INTO devices (name, user_id) SELECT 'many-' || g, (SELECT id FROM users WHERE username = 'querier')
	     FROM generate_series(1, 1500) g;
	   INSERT INTO telemetry_latest (device_id, measurement_name, ts, numeric_value)
	   SELECT d.id, m, timestamptz '2026-11-28 06:00Z' + CASE WHEN m = 'm3' AND d.id % 2 = 1 THEN interval '1 s' ELSE interval '0' END, d.id
	     FROM devices d, unnest(ARRAY['m1', 'm2', 'm3']) m WHERE d.name LIKE 'many-%'"
	"$QC" lastpoint > "$BATS_TEST_TMPDIR/out"
	jq -c '{id: .device_id, name: .device_name, n: (.measurements | length), at: (.latest_data | keys), ts: .timestamp}' \
		"$BATS_TEST_TMPDIR/out" > "$BATS_TEST_TMPDIR/got"
	q "SELECT json_build_object('id', l.device_id, 'name', d.name, 'n', count(*),
	          'at', array_agg(l.measurement_name ORDER BY l.measurement_name COLLATE \"C\")
	                FILTER (WHERE l.ts = (SELECT max(ts) FROM telemetry_latest x WHERE x.device_id = l.device_id)),
	          'ts', to_char(max(l.ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'))
	   FROM telemetry_latest l JOIN devices d ON d.id = l.device_id GROUP BY l.device_id, d.name ORDER BY l.device_id" |
		jq -c . > "$BATS_TEST_TMPDIR/want"
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/got")" 1500
	run diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	assert_success
	# An odd device's newest is m3 alone; an even one's, all three.
	grep -q '"at":\["m3"\]' "$BATS_TEST_TMPDIR/got"
	grep -q '"at":\["m1","m2","m3"\]' "$BATS_TEST_TMPDIR/got"
}

@test "lastpoint as text (iot-query's NDJSON): byte for byte the objects' text, every value type, escapes, batches" {
	# Devices past one cursor batch (4,000 rows), names that need escaping,
	# every value type, and measurements of one device at different times.
	psql -XAtq -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO devices (name, user_id)
SELECT 'tx-' || g || CASE g % 3 WHEN 0 THEN ' "q" \ é' WHEN 1 THEN E' \t\b\f\x01' ELSE '' END,
       (SELECT id FROM users WHERE username = 'querier') FROM generate_series(1, 1500) g;
INSERT INTO telemetry_latest (device_id, measurement_name, ts, numeric_value, text_value, boolean_value, json_value)
SELECT d.id, m, timestamptz '2026-11-28 06:00Z' + (d.id % 5) * interval '1.5 s' * (m = 'c')::int,
       CASE WHEN m IN ('a', 'b') THEN (ARRAY[0.1, 1e300, -0.0, 7, 123456.789, 2^53 + 2, -5e-324])[d.id % 7 + 1] END,
       CASE WHEN m = 'c' THEN (ARRAY['plain', E'q"b\\s\n\r\t\b\f\x1f', 'üñí ✓', ''])[d.id % 4 + 1] END,
       CASE WHEN m = 'd' THEN d.id % 2 = 0 END,
       CASE WHEN m = 'e' THEN (ARRAY['{"k": [1, 2.50, "x\"y"], "big": 123456789012345678901234}', '[true, null, {}]',
                                    '"s"', '12.0', '{"b": 1, "a": {"z": 1e-7}}'])[d.id % 5 + 1]::jsonb END
  FROM devices d, unnest(ARRAY['a', 'b', 'c', 'd', 'e']) m WHERE d.name LIKE 'tx-%' AND (m <> 'e' OR d.id % 3 <> 0);
SQL
	"$QC" lastpoint > "$BATS_TEST_TMPDIR/objects"
	"$QC" lastpoint --text > "$BATS_TEST_TMPDIR/text"
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/text")" 1500
	run diff "$BATS_TEST_TMPDIR/objects" "$BATS_TEST_TMPDIR/text"
	assert_success
	# What the text holds, read back: each device's values as stored.
	assert_equal "$(jq -s 'map(.measurements | length) | add' "$BATS_TEST_TMPDIR/text")" "$(q "SELECT count(*) FROM telemetry_latest")"
	grep -q '"device_name":"tx-1 \\t\\b\\f\\u0001"' "$BATS_TEST_TMPDIR/text"
	grep -q '"value":"q\\"b\\\\s\\n\\r\\t\\b\\f\\u001F"' "$BATS_TEST_TMPDIR/text"
	grep -q '"value":1e+300,' "$BATS_TEST_TMPDIR/text"
	# A device whose "c" is newer has it alone in latest_data.
	jq -e -s 'map(select((.measurements.c.timestamp) > (.measurements.a.timestamp)) | .latest_data | keys) | unique == [["c"]]' \
		"$BATS_TEST_TMPDIR/text"
	# Filters take the same path; iot-query's NDJSON is this text.
	owner=$(q "SELECT id FROM users WHERE username = 'querier'")
	"$QC" lastpoint -o "$owner" > "$BATS_TEST_TMPDIR/objects"
	iot-query lastpoint --owner querier > "$BATS_TEST_TMPDIR/cli"
	run cmp "$BATS_TEST_TMPDIR/objects" "$BATS_TEST_TMPDIR/cli"
	assert_success
	run "$QC" lastpoint --text 99999999999
	assert_success
	assert_output ''
}

@test "aggregate: first and last by time with out-of-order inserts over many batches" {
	gen "$A" 1795000000 600 50 7 | shuf --random-source=<(yes) > "$BATS_TEST_TMPDIR/in"
	iot-ingest -q -b 37 "$BATS_TEST_TMPDIR/in" > /dev/null
	assert_equal "$(hourly_wrong)" 0
	local lo=2026-11-18T08:00:00Z hi=2026-11-18T17:59:59Z
	for fn in first last; do
		for src in raw hourly; do
			"$QC" aggregate "$A" temp "$fn" 1h "$lo" "$hi" --source "$src" --text > "$BATS_TEST_TMPDIR/ours"
			brute "$A" temp "$fn" 3600 "$lo" "$hi" > "$BATS_TEST_TMPDIR/want"
			[[ -s $BATS_TEST_TMPDIR/want ]]
			same_buckets "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/want"
		done
	done
}

@test "aggregate: windows of 5m, 1h, 90m, 2h, 1d and 7d match a brute-force SQL computation, raw and hourly alike" {
	# About 12 days, points 3 to 9 minutes apart, a late batch into old hours.
	gen "$A" 1794000000 3000 360 3 > "$BATS_TEST_TMPDIR/in"
	gen "$A" 1794100013 200 600 5 > "$BATS_TEST_TMPDIR/late"
	ingest "$BATS_TEST_TMPDIR/in"
	ingest "$BATS_TEST_TMPDIR/late"
	local ranges=("2026-11-11T03:17:09Z 2026-11-20T21:43:51.5Z" "2026-11-12T00:00:00Z 2026-11-12T23:59:59.999999Z"
	              "2026-11-13T10:10:00Z 2026-11-13T10:50:00Z")
	for w in 5m:300 1h:3600 90m:5400 2h:7200 1d:86400 7d:604800; do
		for r in "${ranges[@]}"; do
			read -r lo hi <<<"$r"
			for fn in mean sum count min max first last; do
				[[ $w == 5m:* && $r != *T10:10* && $fn != mean && $fn != last ]] && continue  # keep it quick
				brute "$A" temp "$fn" "${w#*:}" "$lo" "$hi" > "$BATS_TEST_TMPDIR/want"
				local sources=(raw)
				(( ${w#*:} % 3600 == 0 )) && sources+=(hourly)
				for src in "${sources[@]}"; do
					"$QC" aggregate "$A" temp "$fn" "${w%%:*}" "$lo" "$hi" --source "$src" --text > "$BATS_TEST_TMPDIR/ours" ||
						{ echo "$w $r $fn $src failed"; return 1; }
					same_buckets "$BATS_TEST_TMPDIR/ours" "$BATS_TEST_TMPDIR/want" || { echo "$w $r $fn $src"; return 1; }
				done
			done
		done
	done
	# AUTO picks the rollups for whole hours only.
	run --separate-stderr env QUERY_CHECK_SOURCE=1 "$QC" aggregate "$A" temp mean 1d -30d now
	[[ $stderr == "source hourly" ]]
	run --separate-stderr env QUERY_CHECK_SOURCE=1 "$QC" aggregate "$A" temp mean 90m -30d now
	[[ $stderr == "source raw" ]]
}

@test "aggregate: output shape, fill, order and refusals" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"device_id":$A,"data":{"t":1,"s":"text is not aggregated"},"timestamp":"2026-11-28T06:10:00Z"}
{"device_id":$A,"data":{"t":3},"timestamp":"2026-11-28T06:20:00Z"}
{"device_id":$A,"data":{"t":10},"timestamp":"2026-11-28T08:30:00Z"}
JSON
	ingest "$BATS_TEST_TMPDIR/in"
	run "$QC" aggregate "$A" t mean 1h 2026-11-28T06:00:00Z 2026-11-28T09:00:00Z
	assert_output '{"timestamp":"2026-11-28T08:00:00+00:00","value":10.0,"count":1}
{"timestamp":"2026-11-28T06:00:00+00:00","value":2.0,"count":2}'
	run "$QC" aggregate "$A" t count 1h 2026-11-28T06:00:00Z 2026-11-28T08:59:59Z --fill null --asc
	assert_output '{"timestamp":"2026-11-28T06:00:00+00:00","value":2,"count":2}
{"timestamp":"2026-11-28T07:00:00+00:00","value":null,"count":0}
{"timestamp":"2026-11-28T08:00:00+00:00","value":1,"count":1}'
	run "$QC" aggregate "$A" t last 1h 2026-11-28T05:00:00Z 2026-11-28T09:00:00Z --fill previous
	assert_output '{"timestamp":"2026-11-28T09:00:00+00:00","value":10.0,"count":0}
{"timestamp":"2026-11-28T08:00:00+00:00","value":10.0,"count":1}
{"timestamp":"2026-11-28T07:00:00+00:00","value":3.0,"count":0}
{"timestamp":"2026-11-28T06:00:00+00:00","value":3.0,"count":2}
{"timestamp":"2026-11-28T05:00:00+00:00","value":null,"count":0}'
	run "$QC" aggregate "$A" s count 1h 2026-11-28T00:00:00Z 2026-11-29T00:00:00Z
	assert_output ''
	run --separate-stderr "$QC" aggregate "$A" t mean 1s 2026-01-01T00:00:00Z 2026-11-28T00:00:00Z
	assert_equal "$status" 2
	[[ $stderr == *"buckets over the range, over the maximum of 100000"* ]]
	run --separate-stderr "$QC" aggregate "$A" t mean 5m -1h now --source hourly
	assert_equal "$status" 2
	[[ $stderr == *"the hourly rollups serve whole hours only"* ]]
	run --separate-stderr "$QC" aggregate "$A" t mean 1h now -1d
	assert_equal "$status" 2
	run --separate-stderr "$QC" aggregate "$A" 'no such!' mean 1h -1d now
	assert_equal "$status" 2
	[[ $stderr == *"field: invalid measurement name"* ]]
}

@test "delete: returns the count and leaves telemetry_hourly and telemetry_latest as a recomputation" {
	gen "$A" 1795000000 800 120 11 > "$BATS_TEST_TMPDIR/in"
	gen "$B" 1795000000 300 300 12 >> "$BATS_TEST_TMPDIR/in"
	echo "{\"device_id\":$A,\"data\":{\"note\":\"kept\"},\"timestamp\":\"2026-11-18T09:00:00Z\"}" >> "$BATS_TEST_TMPDIR/in"
	ingest "$BATS_TEST_TMPDIR/in"
	assert_equal "$(hourly_wrong)" 0
	assert_equal "$(latest_wrong)" 0
	local lo=2026-11-18T09:17:23.5Z hi=2026-11-18T14:41:07Z
	want=$(q "SELECT count(*) FROM telemetry_data WHERE device_id = $A AND ts >= '$lo' AND ts <= '$hi'")
	run "$QC" delete "$A" "$lo" "$hi"
	assert_output "{\"deleted\":$want}"
	assert_equal "$(hourly_wrong)" 0
	assert_equal "$(latest_wrong)" 0
	assert_equal "$(q "SELECT count(*) FROM telemetry_data WHERE device_id = $A AND ts >= '$lo' AND ts <= '$hi'")" 0
	# One measurement only, through the newest points: latest moves back.
	before=$(q "SELECT ts FROM telemetry_latest WHERE device_id = $A AND measurement_name = 'hum'")
	run "$QC" delete "$A" 2026-11-19T00:00:00Z now hum
	assert_success
	assert_equal "$(hourly_wrong)" 0
	assert_equal "$(latest_wrong)" 0
	[[ $(q "SELECT ts < '$before' FROM telemetry_latest WHERE device_id = $A AND measurement_name = 'hum'") == t ]]
	[[ $(q "SELECT ts = '$before' FROM telemetry_latest WHERE device_id = $A AND measurement_name = 'temp'") == t ]]
	# Everything: no hourly rows, no latest rows; the other device untouched.
	run "$QC" delete "$A" 2000-01-01 now
	assert_success
	assert_equal "$(q "SELECT count(*) FROM telemetry_latest WHERE device_id = $A") $(q "SELECT count(*) FROM telemetry_hourly WHERE device_id = $A")" "0 0"
	assert_equal "$(q "SELECT count(*) FROM telemetry_data WHERE device_id = $B")" 600
	assert_equal "$(hourly_wrong)" 0
	assert_equal "$(latest_wrong)" 0
	run "$QC" delete "$A" 2000-01-01 now
	assert_output '{"deleted":0}'
	run --separate-stderr "$QC" delete "$A" now -1h
	assert_equal "$status" 2
}

@test "delete while a batch writer stores points of the same device: rollups and latest stay right" {
	gen "$A" 1795000000 4000 30 21 > "$BATS_TEST_TMPDIR/in"
	gen "$A" 1795000000 4000 30 22 | shuf --random-source=<(yes) > "$BATS_TEST_TMPDIR/more"
	ingest "$BATS_TEST_TMPDIR/in"
	iot-ingest -q -b 200 -j 2 "$BATS_TEST_TMPDIR/more" > "$BATS_TEST_TMPDIR/sum" 3>&- &
	local writer=$!
	for i in 1 2 3 4 5 6 7 8; do
		"$QC" delete "$A" "$((1795000000 + i * 3000))" "$((1795000000 + i * 3000 + 4000))" > /dev/null
		"$QC" delete "$A" "$((1795100000 - i * 2000))" "$((1795100000 - i * 2000 + 900))" temp > /dev/null
	done
	wait "$writer"
	assert_equal "$(hourly_wrong)" 0
	assert_equal "$(latest_wrong)" 0
}

@test "user telemetry: items of all the user's devices, newest first, total_count, limit cap" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"device_id":$A,"data":{"t":1,"ok":true},"metadata":{"site":"x"},"timestamp":"2026-11-28T06:00:00Z"}
{"device_id":$B,"data":{"t":2},"timestamp":"2026-11-28T06:01:00Z"}
{"device_id":$C,"data":{"t":3},"timestamp":"2026-11-28T06:02:00Z"}
{"device_id":$B,"data":{"t":4},"timestamp":"2026-11-29T06:00:00Z"}
JSON
	ingest "$BATS_TEST_TMPDIR/in"
	owner=$(q "SELECT id FROM users WHERE username = 'querier'")
	run "$QC" user "$owner" 2026-11-28T00:00:00Z 2026-11-28T23:59:59Z
	assert_output "{\"device_id\":$B,\"timestamp\":\"2026-11-28T06:01:00+00:00\",\"measurement_name\":\"t\",\"value\":2.0,\"metadata\":null}
{\"device_id\":$A,\"timestamp\":\"2026-11-28T06:00:00+00:00\",\"measurement_name\":\"ok\",\"value\":true,\"metadata\":{\"site\":\"x\"}}
{\"device_id\":$A,\"timestamp\":\"2026-11-28T06:00:00+00:00\",\"measurement_name\":\"t\",\"value\":1.0,\"metadata\":{\"site\":\"x\"}}
{\"total_count\":3}"
	run "$QC" user "$owner" 2026-11-28T00:00:00Z 2026-11-30T00:00:00Z 2
	assert_equal "$(jq -c '[.value, .total_count]' <<<"$output" | paste -sd' ')" "[4,null] [2,null] [null,4]"
	run --separate-stderr "$QC" user "$owner" -1d now 1001
	assert_equal "$status" 2
	[[ $stderr == *"limit 1001 is out of bounds (1 to 1000)"* ]]
	run "$QC" user 999999 -1d now
	assert_output '{"total_count":0}'
}
