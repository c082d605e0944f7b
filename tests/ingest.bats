#!/usr/bin/env bats
# iot-ingest against real PostgreSQL (and Mosquitto for the live pipe):
# every accepted shape, every rejection reason, replays, metrics, rollups.
# The crashes, restarts and signals are in ingest_faults.bats.

load helpers
load ingest_lib

setup_file() { ingest_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { ingest_setup; }

@test "iot-ingest --help, --version, bad option" {
	run --separate-stderr iot-ingest --help
	assert_success
	assert_output --partial "Usage: iot-ingest [OPTION]... [FILE]..."
	run iot-ingest --version
	assert_success
	assert_output --regexp '^iot-ingest \(IoTFlow\) '
	run --separate-stderr iot-ingest --no-such-option
	assert_equal "$status" 2
	[[ $stderr == *"Try 'iot-ingest --help'"* ]]
	run iot-ingest --format yaml
	assert_equal "$status" 2
	run --separate-stderr iot-ingest --input-format table
	assert_equal "$status" 2
	[[ $stderr == *"invalid --input-format 'table' (auto, iotflow, mosquitto, thingsboard)"* ]]
	run iot-ingest --batch-size 0
	assert_equal "$status" 2
}

@test "IoTFlow body with device_id: every value type, metadata and timestamp" {
	run --separate-stderr iot-ingest <<<"{\"device_id\":$A,\"data\":{\"temperature\":23.5,\"count\":7,\"state\":\"ok\",\"door\":true,\"pos\":{\"x\":1,\"y\":[2,3]}},\"metadata\":{\"fw\":\"1.2\"},\"timestamp\":\"2026-11-28T06:00:00.250Z\"}"
	assert_success
	assert_output '{"read":1,"records":1,"points":5,"stored":5,"duplicates":0,"rejected":0}'
	run q "select measurement_name, numeric_value, text_value, boolean_value, json_value, metadata->>'fw', ts = '2026-11-28T06:00:00.250Z' from telemetry_data order by 1"
	assert_output "count|7||||1.2|t
door|||t||1.2|t
pos||||{\"x\": 1, \"y\": [2, 3]}|1.2|t
state||ok|||1.2|t
temperature|23.5||||1.2|t"
	# The latest-value table and last_seen follow the committed batch.
	assert_equal "$(q "select count(*) from telemetry_latest where device_id = $A")" "5"
	assert_equal "$(q "select last_seen = '2026-11-28T06:00:00.250Z' from devices where id = $A")" "t"
}

@test "api_key inside the body (nested and flat MQTT payload) identifies the device" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"api_key":"$KEY_A","data":{"t":1},"timestamp":"$NOW"}
{"api_key":"$KEY_B","humidity":55,"timestamp":1764309600}
{"api_key":"$KEY_B","battery":80,"timestamp":1764309600123}
JSON
	run --separate-stderr iot-ingest --require-key "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(rows "device_id = $A and measurement_name = 't'")" "1"
	assert_equal "$(q "select ts = to_timestamp(1764309600) from telemetry_data where device_id = $B and measurement_name = 'humidity'")" "t"
	assert_equal "$(q "select ts = to_timestamp(1764309600.123) from telemetry_data where measurement_name = 'battery'")" "t"
}

@test "mosquitto_sub -F %J lines: the topic names the device, tst is the default time" {
	cat > "$BATS_TEST_TMPDIR/in" <<JSON
{"tst":"2026-11-28T07:00:00.000000Z+0000","topic":"iotflow/devices/$A/telemetry","qos":1,"retain":0,"payloadlen":20,"payload":{"data":{"t":21.5}}}
{"tst":"2026-11-28T07:00:01.000000Z+0000","topic":"iotflow/devices/$B/telemetry/sensors","qos":0,"retain":0,"payloadlen":9,"payload":{"rpm":900}}
{"tst":"2026-11-28T07:00:02.000000Z+0000","topic":"iotflow/devices/$B/telemetry","qos":0,"retain":0,"payloadlen":7,"payload":"{\"v\":1}"}
JSON
	run --separate-stderr iot-ingest --format mosquitto "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(q "select ts = '2026-11-28T07:00:00Z' from telemetry_data where device_id = $A and measurement_name = 't'")" "t"
	assert_equal "$(rows "device_id = $B")" "2"
}

@test "ThingsBoard objects and arrays with --device" {
	local ms=$(( $(date +%s) * 1000 - 60000 ))
	printf '%s\n' "{\"ts\":$ms,\"values\":{\"a\":1,\"b\":\"x\"}}" "[{\"ts\":$((ms+1)),\"values\":{\"a\":2}},{\"ts\":$((ms+2)),\"values\":{\"a\":3}}]" > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest --device "$A" --format thingsboard "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output --partial '"stored":4'
	assert_equal "$(q "select string_agg(numeric_value::text, ',' order by ts) from telemetry_data where measurement_name = 'a'")" "1,2,3"
}

@test "no timestamp means the arrival time" {
	run iot-ingest <<<"{\"device_id\":$A,\"data\":{\"t\":1}}"
	assert_success
	assert_equal "$(q "select abs(extract(epoch from now() - ts)) < 60 from telemetry_data")" "t"
}

@test "every rejection reason: clear message with line number, exit 1, good lines still stored" {
	local long; long=$(head -c 70000 /dev/zero | tr '\0' 'x')
	local deep; deep=$(printf '%.0s[' {1..40})
	local many; many=$(seq 1 1001 | sed 's/.*/"m&":1/' | paste -sd, -)
	local nul="{\"device_id\":$A,\"data\":{\"t\":1}}"
	{
		echo "{\"device_id\":$A,\"data\":{\"good\":1},\"timestamp\":\"$NOW\"}"
		echo 'this is not json'
		echo '42'
		echo "{\"device_id\":$A}"
		echo "{\"device_id\":$A,\"data\":{\"t\":NaN}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":Infinity}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":1e400}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":\"a\\u0000b\"}}"
		printf '{"device_id":%s,"data":{"t":"\xff\xfe"}}\n' "$A"
		echo "{\"device_id\":$A,\"data\":{\"bad name!\":1}}"
		echo "{\"device_id\":$A,\"data\":{$many}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":1,\"t\":2}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":$deep}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":\"$long\"}}"
		echo "{\"device_id\":$A,\"data\":{\"t\":1},\"timestamp\":\"1999-12-31T23:59:59Z\"}"
		echo "{\"device_id\":$A,\"data\":{\"t\":1},\"timestamp\":\"2999-01-01T00:00:00Z\"}"
		echo '{"device_id":999999,"data":{"t":1}}'
		echo "{\"device_id\":$OFF,\"data\":{\"t\":1}}"
		echo '{"api_key":"iotf_not_a_real_key_at_all_0000000000000000","data":{"t":1}}'
		echo "{\"api_key\":\"$KEY_A\",\"device_id\":$B,\"data\":{\"t\":1}}"
		printf '%s\0\n' "$nul"
		echo "iotflow/devices/$A/telemetry {\"data\":{\"t\":1}}"
		echo "{\"device_id\":$B,\"data\":{\"also_good\":2},\"timestamp\":\"$NOW\"}"
	} > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	assert_output '{"read":23,"records":22,"points":2,"stored":2,"duplicates":0,"rejected":21}'
	local f="$BATS_TEST_TMPDIR/in"
	expect() { grep -F "iot-ingest: warning: $f:$1: " <<<"$stderr" | grep -qF -- "$2" || { echo "line $1: no '$2' in: $stderr"; return 1; }; }
	expect 2 "invalid JSON"
	expect 3 "must be a JSON object or array"
	expect 4 "no data"
	expect 5 "NaN"
	expect 6 "Infinity"
	expect 7 "number 1e400 at column"
	expect 8 'string contains \u0000'
	expect 9 "invalid UTF-8"
	expect 10 "invalid measurement name"
	expect 11 "1001 points in one record, over the limit of 1000"
	expect 12 "duplicate key"
	expect 13 "nesting deeper than"
	expect 14 "line is 7"
	expect 15 "is before 2000-01-01"
	expect 16 "in the future"
	expect 17 "unknown device 999999"
	expect 18 "device $OFF is inactive"
	expect 19 "invalid API key"
	expect 20 "api_key does not belong to device $B"
	# Bytes are counted from 1, as columns are: the NUL follows the record.
	expect 21 "record contains a NUL byte (at byte $((${#nul} + 1)))"
	# A mosquitto_sub -v line: the way to the form iot-ingest reads.
	expect 22 "a topic before the payload, as mosquitto_sub -v prints it: use mosquitto_sub -F %j"
	assert_equal "$(rows)" "2"
	# No key ever appears in a diagnostic.
	[[ $stderr != *"$KEY_A"* && $stderr != *"iotf_not_a_real_key"* ]]
}

@test "--require-key refuses records without a key; --strict stops at the first rejection" {
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1}}" > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest --require-key "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	[[ $stderr == *"missing api_key"* ]]
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1},\"timestamp\":1764300000}" 'bad' "{\"device_id\":$A,\"data\":{\"t\":2},\"timestamp\":1764300001}" > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest --strict "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	assert_output --partial '"read":2'
	assert_equal "$(rows)" "1"
}

@test "--reject-file keeps every rejected line with its reason, ready to feed back" {
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1}}" '{"device_id":999999,"data":{"t":1}}' '# a comment' '' 'nope' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest -q --reject-file "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	[ -z "$stderr" ]
	run cat "$BATS_TEST_TMPDIR/rej"
	assert_line --index 0 "# $BATS_TEST_TMPDIR/in:2: unknown device 999999"
	assert_line --index 1 '{"device_id":999999,"data":{"t":1}}'
	assert_line --index 2 --partial "# $BATS_TEST_TMPDIR/in:5: invalid JSON"
	assert_line --index 3 'nope'
	# Fed back, the comment lines are skipped and only the bad lines fail again.
	run --separate-stderr iot-ingest -q "$BATS_TEST_TMPDIR/rej"
	assert_equal "$status" 1
	assert_output '{"read":4,"records":2,"points":0,"stored":0,"duplicates":0,"rejected":2}'
}

@test "replaying the same input stores nothing twice and reports duplicates" {
	seq 1 500 | awk -v a="$A" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, 1764300000 + $1 }' > "$BATS_TEST_TMPDIR/in"
	run iot-ingest "$BATS_TEST_TMPDIR/in"
	assert_output --partial '"stored":500,"duplicates":0'
	# Batch after batch of replayed points: every one took the de-duplicating
	# path, and the counter says so (it counted only the first collision).
	run iot-ingest -b 50 -j 1 --metrics-file "$BATS_TEST_TMPDIR/m.prom" "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output --partial '"stored":0,"duplicates":500'
	run cat "$BATS_TEST_TMPDIR/m.prom"
	assert_line "iotflow_ingest_batches_total 10"
	assert_line "iotflow_ingest_dedup_batches_total 10"
	# Half old, half new: exactly the new half is stored.
	seq 251 750 | awk -v a="$A" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, 1764300000 + $1 }' > "$BATS_TEST_TMPDIR/in2"
	run iot-ingest "$BATS_TEST_TMPDIR/in2"
	assert_output --partial '"stored":250,"duplicates":250'
	assert_equal "$(rows)" "750"
	assert_equal "$(q "select numeric_value from telemetry_latest where device_id = $A")" "750"
}

@test "parallel batches sharing points in opposite orders wait for each other, never deadlock" {
	# Two devices' 2,500 readings twice over, shuffled, written by four
	# connections in batches of 500: batches hold each other's keys, and
	# inserting them unsorted deadlocked dozens of times (each one stalls
	# for deadlock_timeout, and a long enough run of them failed the batch).
	local dl0
	{ seq 1 2500 | awk -v a="$A" -v b="$B" '{ printf "{\"device_id\":%s,\"data\":{\"t\":%d,\"h\":1},\"timestamp\":%d}\n{\"device_id\":%s,\"data\":{\"t\":%d},\"timestamp\":%d}\n", a, $1, 1764300000 + $1, b, $1, 1764300000 + $1 }'; } > "$BATS_TEST_TMPDIR/once"
	cat "$BATS_TEST_TMPDIR/once" "$BATS_TEST_TMPDIR/once" | shuf --random-source=<(yes) > "$BATS_TEST_TMPDIR/in"
	dl0=$(q "select deadlocks from pg_stat_database where datname = current_database()")
	run iot-ingest -j 4 -b 500 "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_output --partial '"points":15000,"stored":7500,"duplicates":7500,"rejected":0'
	assert_equal "$(rows)" "7500"
	assert_equal "$(q "select sum(count) from telemetry_hourly")" "7500"
	assert_equal "$(q "select numeric_value from telemetry_latest where device_id = $B")" "2500"
	# The server counts a deadlock in the database's statistics when the
	# backend that lost it ends (iot-ingest's sessions have ended).
	sleep 0.5
	assert_equal "$(q "select deadlocks from pg_stat_database where datname = current_database()")" "$dl0"
	# Sorting keeps the first of two points with one key: it is the one stored.
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"u\":1},\"timestamp\":1764400009}" \
		"{\"device_id\":$A,\"data\":{\"u\":2},\"timestamp\":1764400001}" \
		"{\"device_id\":$A,\"data\":{\"u\":3},\"timestamp\":1764400009}" > "$BATS_TEST_TMPDIR/dup"
	run iot-ingest -j 1 "$BATS_TEST_TMPDIR/dup"
	assert_output --partial '"stored":2,"duplicates":1'
	assert_equal "$(q "select numeric_value from telemetry_data where device_id = $A and measurement_name = 'u' order by ts")" $'2\n1'
}

@test "--dry-run validates and stores nothing" {
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1}}" 'bad' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest --dry-run "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	assert_output --partial '"stored":1,"duplicates":0,"rejected":1,"dry_run":true'
	assert_equal "$(rows)" "0"
}

@test "a missing input file or a directory exits 3 with a warning; other files are still read" {
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1}}" > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/nope" "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 3
	[[ $stderr == "iot-ingest: warning: unable to open $BATS_TEST_TMPDIR/nope: No such file or directory" ]]
	assert_equal "$(rows)" "1"
	mkdir "$BATS_TEST_TMPDIR/dir"
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":2}}" > "$BATS_TEST_TMPDIR/good.ndjson"
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/dir" "$BATS_TEST_TMPDIR/good.ndjson"
	assert_equal "$status" 3
	[[ $stderr == "iot-ingest: warning: unable to open $BATS_TEST_TMPDIR/dir: is a directory" ]]
	assert_output --partial '"stored":1,'
	assert_equal "$(rows)" "2"
}

@test "--metrics-file leaves Prometheus counters for the textfile collector" {
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1,\"u\":2}}" 'bad' > "$BATS_TEST_TMPDIR/in"
	run iot-ingest -q --metrics-file "$BATS_TEST_TMPDIR/ingest.prom" "$BATS_TEST_TMPDIR/in"
	run cat "$BATS_TEST_TMPDIR/ingest.prom"
	assert_line "# TYPE iotflow_ingest_points_stored_total counter"
	assert_line "iotflow_ingest_points_stored_total 2"
	assert_line "iotflow_ingest_lines_rejected_total 1"
	assert_line "iotflow_ingest_batches_total 1"
	# In base units, as the daemons export it, and what promtool's lint accepts.
	assert_line --regexp '^iotflow_ingest_batch_seconds_total [0-9.e-]+$'
	refute_output --partial milliseconds
	if command -v promtool >/dev/null; then
		run promtool check metrics < "$BATS_TEST_TMPDIR/ingest.prom"
		assert_success
	fi
}

@test "live: mosquitto_sub -F %J | iot-ingest stores what mosquitto_pub sends" {
	mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -q 1 -t 'iotflow/devices/+/telemetry/#' -F %J \
		| iot-ingest -q > "$BATS_TEST_TMPDIR/out" 3>&- &
	local pipe=$!
	sleep 0.5
	for i in 1 2 3; do
		mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$A/telemetry" -m "{\"data\":{\"n\":$i}}"
	done
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$B/telemetry/sensors" -m "{\"api_key\":\"$KEY_B\",\"rpm\":1200}"
	local i
	for i in $(seq 50); do [[ $(rows) == 4 ]] && break; sleep 0.1; done
	pkill -f "mosquitto_sub -p $IOTFLOW_MQTT_PORT" || true
	wait "$pipe" || true
	assert_equal "$(rows "device_id = $A and measurement_name = 'n'")" "3"
	assert_equal "$(rows "device_id = $B and measurement_name = 'rpm'")" "1"
}

@test "several producer threads share one writer; bad points never sink good ones" {
	run "$IOTFLOW_ROOT/build/tests/batch_producers" "$A" "$B" "$OFF"
	assert_success
	refute_output --partial "not ok"
}

@test "a progress line goes to stderr when it is a terminal, and only then" {
	seq 1 3000 | awk -v a="$A" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, 1764300000 + $1 }' > "$BATS_TEST_TMPDIR/in"
	# A slow pipe: the line is refreshed by a timer, input or not, and
	# cleared at the end (the summary then starts at the left margin).
	cat > "$BATS_TEST_TMPDIR/slow" <<-EOF
		head -n 1000 '$BATS_TEST_TMPDIR/in'; sleep 1.5; tail -n 2000 '$BATS_TEST_TMPDIR/in'; sleep 1.5
	EOF
	# script(1) gives iot-ingest a terminal.
	run script -qec "bash '$BATS_TEST_TMPDIR/slow' | iot-ingest" /dev/null
	assert_success
	assert_output --partial "iot-ingest: 1000 lines, 1000 stored, 0 duplicates, 0 rejected"
	assert_output --partial "iot-ingest: 3000 lines, 3000 stored, 0 duplicates, 0 rejected"
	assert_output --partial $'\r\033[K{"read":3000,'
	# Sent to the background by a shell with job control, it keeps quiet
	# (it would write into the prompt).
	run script -qec "bash -c 'set -m; bash $BATS_TEST_TMPDIR/slow | iot-ingest > $BATS_TEST_TMPDIR/bg.out & wait'" /dev/null
	assert_success
	refute_output --partial "lines, "
	grep -q '"stored":0,"duplicates":3000' "$BATS_TEST_TMPDIR/bg.out"
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/in"
	[ -z "$stderr" ]
}

@test "hourly rollups match the raw data, across runs and replays" {
	local base=$(( ($(date +%s) / 3600 - 5) * 3600 ))
	# Two hours of a device's readings, delivered out of order in two runs.
	seq 0 299 | awk -v a="$A" -v b="$base" '{ printf "{\"device_id\":%s,\"data\":{\"t\":%d,\"label\":\"x\"},\"timestamp\":%d}\n", a, ($1 * 7) % 101, b + $1 * 20 }' > "$BATS_TEST_TMPDIR/all"
	awk 'NR % 2 == 0' "$BATS_TEST_TMPDIR/all" > "$BATS_TEST_TMPDIR/even"
	awk 'NR % 2 == 1' "$BATS_TEST_TMPDIR/all" | tac > "$BATS_TEST_TMPDIR/odd"
	iot-ingest -q --batch-size 37 "$BATS_TEST_TMPDIR/even" >/dev/null
	iot-ingest -q --batch-size 53 "$BATS_TEST_TMPDIR/odd" >/dev/null
	iot-ingest -q "$BATS_TEST_TMPDIR/all" >/dev/null   # a replay changes nothing
	local expected actual
	expected=$(q "select bucket, count, sum, min, max, first_ts, first_value, last_ts, last_value from (
		select date_trunc('hour', ts) as bucket, count(*), sum(numeric_value), min(numeric_value), max(numeric_value),
		       min(ts) as first_ts, (array_agg(numeric_value order by ts))[1] as first_value,
		       max(ts) as last_ts, (array_agg(numeric_value order by ts desc))[1] as last_value
		from telemetry_data where device_id = $A and measurement_name = 't' group by 1) x order by 1")
	actual=$(q "select bucket, count, sum, min, max, first_ts, first_value, last_ts, last_value
		from telemetry_hourly where device_id = $A and measurement_name = 't' order by 1")
	assert_equal "$(wc -l <<<"$expected")" "2"
	assert_equal "$actual" "$expected"
	# Text values have no rollup.
	assert_equal "$(q "select count(*) from telemetry_hourly where measurement_name = 'label'")" "0"
}

@test "a backfill of old data does not make a device online; fresh data does" {
	redis-cli -p "$IOTFLOW_REDIS_PORT" DEL "iotflow:seen:$B" >/dev/null   # seen by earlier tests
	run iot-ingest -q <<<"{\"device_id\":$B,\"data\":{\"t\":1},\"timestamp\":$(( $(date +%s) - 86400 ))}"
	assert_success
	run iot-device status "$B"
	assert_output --partial '"online":false'
	run iot-ingest -q <<<"{\"device_id\":$B,\"data\":{\"t\":2}}"
	run iot-device status "$B"
	assert_output --partial '"online":true'
}

@test "points PostgreSQL refuses are isolated: the rest of the batch is stored, the line counted once" {
	# A constraint the decoder knows nothing about stands in for any permanent error.
	q "ALTER TABLE telemetry_data ADD CONSTRAINT test_small CHECK (numeric_value < 1000)"
	{
		for i in $(seq 1 40); do echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}"; done
		echo "{\"device_id\":$A,\"data\":{\"v\":5000,\"w\":1},\"metadata\":{\"fw\":\"9\"},\"timestamp\":1764300100}"
		for i in $(seq 41 80); do echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}"; done
	} > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest --reject-file "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	assert_output '{"read":81,"records":81,"points":82,"stored":81,"duplicates":0,"rejected":1}'
	[[ $stderr == *"$BATS_TEST_TMPDIR/in:41: measurement v: "*"test_small"* ]]
	assert_equal "$(rows)" "81"
	assert_equal "$(rows "measurement_name = 'w'")" "1"
	run cat "$BATS_TEST_TMPDIR/rej"
	assert_line --index 1 '{"device_id":'"$A"',"timestamp":"2025-11-28T03:21:40.000000Z","data":{"v":5000.0},"metadata":{"fw":"9"}}'
}

@test "usage errors: a reject file that cannot be opened, a malformed connection string" {
	run --separate-stderr iot-ingest --reject-file /nonexistent/dir/rej /dev/null
	assert_equal "$status" 2
	[[ $stderr == *"unable to open --reject-file /nonexistent/dir/rej"* ]]
	run --separate-stderr iot-ingest --db 'nonsense=1' /dev/null
	assert_equal "$status" 2
	[[ $stderr == *'invalid PostgreSQL connection string (not shown'* ]]
	# A malformed URI is refused at once, without quoting its password.
	run --separate-stderr iot-ingest --db 'postgresql://bob:Sup3rS%ZZecret@127.0.0.1/x' /dev/null
	assert_equal "$status" 2
	[[ $stderr != *Sup3r* ]]
}

@test "--metrics-file is refreshed while a pipe is idle" {
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	iot-ingest -q --metrics-file "$BATS_TEST_TMPDIR/m.prom" < "$fifo" > /dev/null 3>&- &
	local pid=$!
	exec 4> "$fifo"
	echo "{\"device_id\":$A,\"data\":{\"t\":1}}" >&4
	local i
	for i in $(seq 150); do grep -q '^iotflow_ingest_points_stored_total 1$' "$BATS_TEST_TMPDIR/m.prom" 2>/dev/null && break; sleep 0.1; done
	run cat "$BATS_TEST_TMPDIR/m.prom"
	exec 4>&-
	wait "$pid"
	assert_line "iotflow_ingest_points_stored_total 1"
}

@test "--input-format names the input's shape; --format is still accepted for it" {
	echo "{\"ts\":1764300000000,\"values\":{\"t\":1}}" > "$BATS_TEST_TMPDIR/tb"
	run --separate-stderr iot-ingest --input-format thingsboard --device "$A" "$BATS_TEST_TMPDIR/tb"
	assert_success
	run --separate-stderr iot-ingest --input-format mosquitto --device "$A" "$BATS_TEST_TMPDIR/tb"
	assert_equal "$status" 1
	run --separate-stderr iot-ingest --format thingsboard --device "$A" "$BATS_TEST_TMPDIR/tb"
	assert_success
	assert_output --partial '"stored":0,"duplicates":1,'
}

@test "a file name with a newline cannot inject a record through the reject file" {
	local name=$BATS_TEST_TMPDIR/$'x\n'"{\"device_id\":$A,\"data\":{\"evil\":1}}"
	echo 'not json' > "$name"
	run --separate-stderr iot-ingest -r "$BATS_TEST_TMPDIR/rej" "$name"
	assert_equal "$status" 1
	# One warning line, the newline written as \n.
	assert_equal "$(printf '%s\n' "$stderr" | wc -l)" "1"
	[[ $stderr == *'x\n{"device_id":'* ]]
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/rej"
	assert_equal "$(rows "measurement_name = 'evil'")" "0"
}

@test "standard output that cannot be written exits 6, even with rejected lines" {
	printf '%s\n' "{\"device_id\":$A,\"data\":{\"t\":1}}" 'bad' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr bash -c "iot-ingest '$BATS_TEST_TMPDIR/in' > /dev/full"
	assert_equal "$status" 6
	[[ $stderr == *"fatal: unable to write output"* ]]
}

@test "started with standard output or error closed, nothing is written into the database connection" {
	seq 1 50 | awk -v a="$A" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, 1764300000 + $1 }' > "$BATS_TEST_TMPDIR/in"
	echo bad >> "$BATS_TEST_TMPDIR/in"
	run bash -c "iot-ingest -r '$BATS_TEST_TMPDIR/rej' '$BATS_TEST_TMPDIR/in' >&- 2>&-"
	# What it would have printed is lost: exit 6, as for a full disk.
	assert_equal "$status" 6
	assert_equal "$(rows)" "50"
	# The reject file got its lines, and only them.
	assert_equal "$(grep -c . "$BATS_TEST_TMPDIR/rej")" "2"
}

@test "numbers: what a double cannot hold as written is rejected with a reason, the edges it can hold are stored exactly" {
	{
		echo "{\"device_id\":$A,\"data\":{\"tiny\":1e-400}}"
		echo "{\"device_id\":$A,\"data\":{\"sub\":4.9e-324}}"
		echo "{\"device_id\":$A,\"data\":{\"big\":9007199254740993.0}}"
		echo "{\"device_id\":$A,\"data\":{\"big\":9007199254740993}}"
		echo "{\"device_id\":$A,\"data\":{\"ok\":1},\"metadata\":{\"x\":1e-400}}"
		echo "{\"device_id\":$A,\"data\":{\"huge\":1e400}}"
		echo "{\"device_id\":$A,\"data\":{\"p53\":9007199254740992.0,\"m53\":-9007199254740992,\"dmin\":2.2250738585072014e-308,\"e16\":1e16,\"exp\":9.007199254740993e15,\"zero\":0e-400},\"timestamp\":\"$NOW\"}"
		echo "{\"device_id\":$A,\"data\":{\"j\":[9007199254740993]},\"metadata\":{\"serial\":18014398509481985},\"timestamp\":\"$NOW\"}"
	} > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/in"
	assert_equal "$status" 1
	assert_output '{"read":8,"records":8,"points":7,"stored":7,"duplicates":0,"rejected":6}'
	local f="$BATS_TEST_TMPDIR/in"
	expect() { grep -F "iot-ingest: warning: $f:$1: " <<<"$stderr" | grep -qF -- "$2" || { echo "line $1: no '$2' in: $stderr"; return 1; }; }
	expect 1 "number 1e-400 at column $(( ${#A} + 30 )) is too close to 0 for a double (not 0, but below 2.2250738585072014e-308)"
	expect 2 "number 4.9e-324 at column $(( ${#A} + 29 )) is too close to 0 for a double"
	expect 3 "number 9007199254740993.0 at column $(( ${#A} + 29 )) has an integer part beyond +-2^53, which a double cannot hold exactly"
	expect 4 'measurement "big": integer 9007199254740993 is beyond +-2^53 and would lose precision'
	expect 5 "number 1e-400 at column"
	expect 6 "number 1e400 at column $(( ${#A} + 30 )) is too large for a double"
	assert_equal "$(q "select string_agg(measurement_name || '=' || numeric_value::text, ' ' order by measurement_name) from telemetry_data where numeric_value is not null")" \
		"dmin=2.2250738585072014e-308 e16=1e+16 exp=9.007199254740992e+15 m53=-9.007199254740992e+15 p53=9.007199254740992e+15 zero=0"
	assert_equal "$(q "select json_value::text || ' ' || metadata::text from telemetry_data where measurement_name = 'j'")" \
		'[9007199254740993] {"serial": 18014398509481985}'
}

@test "live: mosquitto_sub -F %j | iot-ingest stores JSON payloads as -F %J does, and rejects the ones -F %J loses" {
	# Retained messages, published first: mosquitto_sub gets all five as it
	# subscribes and -C 5 ends the pipe, so nothing waits on a clock.
	local t="iotflow/devices/$A/telemetry/retained-test" bad="$BATS_TEST_TMPDIR/nul"
	printf '{"data":{"x":1}}\0junk' > "$bad"
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -t "$t/1" -m '{"data":{"t":21.5,"s":"a\"b\u00e9"},"metadata":{"fw":"1.0"}}'
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -t "iotflow/devices/$B/telemetry/retained-test/2" -m "{\"api_key\":\"$KEY_B\",\"rpm\":1200,\"p53\":9007199254740992.0}"
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -t "$t/3" -m 'not json'
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -t "$t/4" -f "$bad"
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -t "$t/5" -m '42'
	stored() { q "select string_agg(device_id || ' ' || measurement_name || '=' || coalesce(numeric_value::text, text_value) || ' ' || coalesce(metadata::text, '-'), ', ' order by device_id, measurement_name) from telemetry_data${1:+ where $1}"; }
	local rc=0
	mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -q 1 -t 'iotflow/devices/+/telemetry/#' -C 5 -W 60 -F %j \
		| iot-ingest > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- || rc=$?
	local with_j with_j_but_p53
	with_j=$(stored); with_j_but_p53=$(stored "measurement_name <> 'p53'")
	q "delete from telemetry_data"
	local rc_J=0
	mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -q 1 -t 'iotflow/devices/+/telemetry/#' -C 5 -W 60 -F %J \
		| iot-ingest > "$BATS_TEST_TMPDIR/out_J" 2> "$BATS_TEST_TMPDIR/err_J" 3>&- || rc_J=$?
	local with_J_but_p53; with_J_but_p53=$(stored "measurement_name <> 'p53'")
	for i in 1 3 4 5; do mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -n -t "$t/$i"; done
	mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -r -n -t "iotflow/devices/$B/telemetry/retained-test/2"

	assert_equal "$rc" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out")" '{"read":5,"records":5,"points":4,"stored":4,"duplicates":0,"rejected":3}'
	assert_equal "$(grep -c '^iot-ingest: warning: stdin:[1-5]: ' "$BATS_TEST_TMPDIR/err")" 3
	grep -qF "payload is not JSON (at column 3: invalid token near 'not')" "$BATS_TEST_TMPDIR/err"
	grep -qF "payload: payloadlen is 21 but the payload string holds 16 bytes" "$BATS_TEST_TMPDIR/err"
	grep -qF "payload: expected a JSON object or array" "$BATS_TEST_TMPDIR/err"
	assert_equal "$with_j" "$A s=a\"bé {\"fw\": \"1.0\"}, $A t=21.5 {\"fw\": \"1.0\"}, $B p53=9.007199254740992e+15 -, $B rpm=1200 -"
	# -F %J: the same points from the JSON payloads (but p53: %J prints
	# payloads through its own JSON parser, which keeps 15 digits of
	# 9007199254740992.0); the payloads that are not JSON become empty
	# lines, which iot-ingest cannot tell from blank ones.
	assert_equal "$with_J_but_p53" "$with_j_but_p53"
	assert_equal "$rc_J" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR/out_J")" '{"read":5,"records":3,"points":4,"stored":4,"duplicates":0,"rejected":1}'
}

@test "--metrics-file does not follow a symlink planted at the old temporary name" {
	local fifo=$BATS_TEST_TMPDIR/fifo victim=$BATS_TEST_TMPDIR/victim prom=$BATS_TEST_TMPDIR/m.prom
	mkfifo "$fifo"
	echo 'secret of root' > "$victim"
	chmod 600 "$victim"
	iot-ingest -q --metrics-file "$prom" < "$fifo" > /dev/null 3>&- &
	local pid=$!
	# The name iot-ingest used to write first, PATH.tmp.PID, planted by "another user".
	ln -s "$victim" "$prom.tmp.$pid"
	exec 4> "$fifo"
	echo "{\"device_id\":$A,\"data\":{\"t\":1}}" >&4
	exec 4>&-
	wait "$pid"
	assert_equal "$(cat "$victim")" 'secret of root'
	assert_equal "$(stat -c %a "$victim")" 600
	# The metrics went to a regular file of their own, readable by the collector.
	[ -f "$prom" ] && [ ! -L "$prom" ]
	assert_equal "$(stat -c %a "$prom")" 644
	grep -q '^iotflow_ingest_points_stored_total 1$' "$prom"
	# No temporary file left behind: only the planted link besides the rest.
	run ls "$BATS_TEST_TMPDIR"
	refute_output --regexp 'm\.prom\.tmp\.[^0-9]'
}

@test "--metrics-file that is not a regular file is refused at start, exit 2, and left alone" {
	local d=$BATS_TEST_TMPDIR
	echo "{\"device_id\":$A,\"data\":{\"t\":1}}" > "$d/in"
	mkfifo "$d/fifo.prom"
	mkdir "$d/dir.prom"
	echo 'kept' > "$d/target"
	ln -s "$d/target" "$d/link.prom"
	# A character device: a private copy of /dev/full when we may make one.
	local nodes=(fifo.prom dir.prom link.prom)
	if mknod "$d/full" c 1 7 2>/dev/null; then nodes+=(full); fi
	local n
	for n in "${nodes[@]}"; do
		run --separate-stderr iot-ingest --metrics-file "$d/$n" "$d/in"
		assert_equal "$status" 2
		[[ $stderr == *"--metrics-file"*"$d/$n"*"not a regular file"* ]] || { echo "$n: $stderr"; false; }
	done
	[ -p "$d/fifo.prom" ]
	[ -d "$d/dir.prom" ] && [ -z "$(ls -A "$d/dir.prom")" ]
	[ -L "$d/link.prom" ] && assert_equal "$(cat "$d/target")" kept
	if [[ -e $d/full ]]; then [ -c "$d/full" ]; fi
	# A directory that is not there is refused too, before anything is read.
	run --separate-stderr iot-ingest --metrics-file "$d/nowhere/m.prom" "$d/in"
	assert_equal "$status" 2
	[[ $stderr == *"$d/nowhere"* ]]
	# Refused before the input was read: nothing stored, no temporary left.
	assert_equal "$(rows)" 0
	run ls "$d"
	refute_output --partial '.tmp.'
}

@test "an unknown device's lines: one lookup in PostgreSQL, not one per line; an unknown key's likewise" {
	# Index scans of devices, as PostgreSQL counts them once the program is gone.
	scans() { q "select pg_stat_force_next_flush(); select coalesce(idx_scan, 0) from pg_stat_user_tables where relname = 'devices'" | tail -n 1; }
	local before after
	before=$(scans)
	seq 20000 | awk '{ printf "{\"device_id\":999999,\"data\":{\"v\":%d}}\n", $1 }' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest -q "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output --partial '"rejected":20000'
	after=$(scans)
	echo "devices index scans: $before -> $after"
	(( after - before < 100 ))
	# Keys: 5,000 lines with a key that is not anyone's.
	before=$(q "select coalesce(idx_scan, 0) from pg_stat_user_tables where relname = 'device_auth'")
	local bad=iotf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
	seq 5000 | awk -v k="$bad" '{ printf "{\"api_key\":\"%s\",\"data\":{\"v\":%d}}\n", k, $1 }' > "$BATS_TEST_TMPDIR/in"
	run --separate-stderr iot-ingest -q "$BATS_TEST_TMPDIR/in"
	assert_failure 1
	assert_output --partial '"rejected":5000'
	after=$(q "select pg_stat_force_next_flush(); select coalesce(idx_scan, 0) from pg_stat_user_tables where relname = 'device_auth'" | tail -n 1)
	echo "device_auth index scans: $before -> $after"
	(( after - before < 100 ))
}

@test "a device added after its id was looked up and not found is taken at once" {
	# The id the next device gets (nobody else adds devices here).
	local next; next=$(q "select nextval(pg_get_serial_sequence('devices', 'id')) + 1")
	local fifo=$BATS_TEST_TMPDIR/fifo
	mkfifo "$fifo"
	iot-ingest --flush-ms 20 -r "$BATS_TEST_TMPDIR/rej" < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	exec 4> "$fifo"
	echo "{\"device_id\":$next,\"data\":{\"v\":1}}" >&4
	local i
	for i in $(seq 100); do grep -q "unknown device $next" "$BATS_TEST_TMPDIR/rej" 2>/dev/null && break; sleep 0.05; done
	grep -q "unknown device $next" "$BATS_TEST_TMPDIR/rej"
	run --separate-stderr iot-device add late --owner ingester
	assert_success
	echo "$stderr"
	assert_equal "$(jq -r .id <<<"$output")" "$next"
	# Well within the 5 s an unknown id is remembered without Redis.
	sleep 0.3
	echo "{\"device_id\":$next,\"data\":{\"v\":2}}" >&4
	exec 4>&-
	local st=0; wait "$pid" || st=$?
	cat "$BATS_TEST_TMPDIR/out"
	assert_equal "$st" 1
	assert_equal "$(rows "device_id = $next")" 1
}

@test "--device-payloads: piped device payloads as iot-mqtt-listen takes them; the default stays strict" {
	local line="{\"topic\":\"iotflow/devices/$A/telemetry/sensors\",\"payload\":{\"api_key\":\"$KEY_A\",\"timestamp\":\"2026-11-21 19:59:28\",\"data\":{\"t\":{\"value\":22.1,\"unit\":\"C\"}}}}"
	local late="{\"device_id\":$A,\"timestamp\":\"20251121_195928\",\"data\":{\"late\":1}}"
	run --separate-stderr iot-ingest <<<"$line"
	assert_equal "$status" 1
	[[ $stderr == *"has no time zone"* ]]
	run --separate-stderr iot-ingest --device-payloads <<<"$line"$'\n'"$late"
	assert_success
	assert_output '{"read":2,"records":2,"points":2,"stored":2,"duplicates":0,"rejected":0}'
	[[ $stderr == *'stdin:2: timestamp "20251121_195928" is not an ISO-8601 date and time'*'stored with the arrival time'* ]]
	assert_equal "$(q "select numeric_value || ' ' || (metadata->>'unit') || ' ' || (ts = '2026-11-21T19:59:28Z') from telemetry_data where measurement_name = 't'")" "22.1 C true"
}
