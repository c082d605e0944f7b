#!/usr/bin/env bats
# iot-query against real PostgreSQL, on hand-made data loaded by iot-ingest:
# every command's exact output in every format, the usage errors (which need
# no database), unknown devices and users, and export: a round trip through
# iot-ingest into an empty database that keeps every row and value type
# exactly, CSV that psql reads back as the same rows, and memory that does
# not grow with the range.

# shellcheck disable=SC2154 # $output, $lines, $stderr and $status are set by bats' run
load helpers

# Devices 1 alice/thermo-1, 2 alice/meter-1 (type meter), 3 bob/thermo-1
# (so the bare name thermo-1 is ambiguous), 4 bob/idle (no telemetry).
DATA='{"device_id":1,"timestamp":"2026-11-28T06:00:00Z","data":{"temperature":21.5,"humidity":40},"metadata":{"fw":"1.2"}}
{"device_id":1,"timestamp":"2026-11-28T06:05:00Z","data":{"temperature":22.25,"humidity":41}}
{"device_id":1,"timestamp":"2026-11-28T06:10:00Z","data":{"temperature":22,"door":"open"}}
{"device_id":1,"timestamp":"2026-11-28T06:30:00.250000Z","data":{"temperature":20.75,"humidity":45,"door":"closed"}}
{"device_id":2,"timestamp":"2026-11-28T06:00:00Z","data":{"power":120.5,"on":true,"cfg":{"mode":"eco","limits":[1,2.5]}}}
{"device_id":2,"timestamp":"2026-11-28T07:00:00Z","data":{"power":130,"on":false}}
{"device_id":3,"timestamp":"2026-11-28T06:15:00Z","data":{"temperature":18}}'

setup_file() {
	stack_setup_file
	migrated_template
	# iotflow_tpl: the users and devices; iotflow_data: that and the telemetry.
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		iot-user add --no-password alice >/dev/null
		iot-user add --no-password bob >/dev/null
		iot-device add thermo-1 --owner alice >/dev/null
		iot-device add meter-1 --owner alice --type meter >/dev/null
		iot-device add thermo-1 --owner bob >/dev/null
		iot-device add idle --owner bob >/dev/null'
	iot_db_fresh iotflow_data "$IOTFLOW_TEMPLATE_DB"
	iot-ingest -q -j 1 <<<"$DATA" >/dev/null
	export PGDATABASE=iotflow
}
teardown_file() { stack_teardown_file; }
setup() { iot_db_fresh "t_${BATS_TEST_NUMBER}_$RANDOM" iotflow_data; }

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
DAY=(--since 2026-11-28 --until 2026-11-28T23:59:59Z)

@test "iot-query: --help, --version, bad options and commands" {
	run iot-query --help
	assert_success
	assert_line --index 0 'Usage: iot-query [OPTION]... COMMAND [COMMAND OPTION]...'
	run iot-query --version
	assert_success
	assert_output --regexp '^iot-query \(IoTFlow\) [0-9.]+$'
	run --separate-stderr iot-query --bogus
	assert_failure 2
	assert_equal "$stderr" "iot-query: unrecognized option '--bogus'
Try 'iot-query --help' for more information."
	run iot-query
	assert_failure 2
	assert_output --partial 'missing command'
	run iot-query frob
	assert_failure 2
	run iot-query range --device 1 --since -1h extra
	assert_failure 2
}

# Each: the arguments, then the one line it must say. None of them gets as
# far as the database: PGPORT points nowhere and the status is still 2.
@test "bad arguments: one line, the hint, exit 2, before connecting" {
	local args want
	while IFS='|' read -r args want; do
		run --separate-stderr env PGPORT=1 IOTFLOW_DB_RETRY_TIME=0 bash -c "iot-query $args"
		[[ $status == 2 ]] || { echo "iot-query $args: status $status: $stderr"; return 1; }
		assert_equal "$output" ''
		assert_equal "$stderr" "iot-query: $want
Try 'iot-query --help' for more information."
	done <<'EOF'
range --since -1h|range: --device is required
range --device 1|range: --since is required
latest|latest: --device is required
aggregate --device 1 --fn avg --window 5m --since -1h|aggregate: --measurement is required
aggregate --device 1 --measurement t --window 5m --since -1h|aggregate: --fn is required
aggregate --device 1 --measurement t --fn avg --since -1h|aggregate: --window is required
export|export: --since is required
range --device 1 --device 2 --since -1h|range: one --device only (2 given)
aggregate --device 1 --measurement a --measurement b --fn avg --window 5m --since -1h|aggregate: one --measurement only (2 given)
aggregate --device 1 --measurement t --fn median --window 5m --since -1h|--fn "median" is not an aggregation: use mean (or avg), sum, count, min, max, first or last
aggregate --device 1 --measurement t --fn avg --window 0 --since -1h|--window "0" is out of bounds: a window is 1s to 366d
aggregate --device 1 --measurement t --fn avg --window 0s --since -1h|--window "0s" is out of bounds: a window is 1s to 366d
aggregate --device 1 --measurement t --fn avg --window 367d --since -1h|--window "367d" is out of bounds: a window is 1s to 366d
aggregate --device 1 --measurement t --fn avg --window 5x --since -1h|--window "5x" is not a window: use N with s, m, h, d or w (5m, 1h, 1d, 7d)
aggregate --device 1 --measurement t --fn avg --window 1s --since -2d|window: 172801 buckets over the range, over the maximum of 100000 (use a wider window or a shorter range)
range --device 1 --since 2026-11-28T07:00:00Z --until 2026-11-28T06:00:00Z|--since (2026-11-28T07:00:00+00:00) is after --until (2026-11-28T06:00:00+00:00)
export --since 2026-11-28T01:00:00Z --until 1795824000|--since (2026-11-28T01:00:00+00:00) is after --until (2026-11-28T00:00:00+00:00)
range --device 1 --since yesterday|--since "yesterday" is not a time: use now, -N with s, m, h, d or w (-24h), ISO 8601 (2026-11-28T06:00:00Z) or epoch seconds/milliseconds
range --device 1 --since ''|--since: must not be empty
export --since -1d --until ''|--until: must not be empty
range --device 1 --since -1h --limit ''|--limit: must not be empty
range --device 1 --since -1h --limit 10001|--limit "10001" is over the maximum of 10000
range --device 1 --since -1h --limit 0|--limit "0" is not a positive integer
range --device 1 --since -1h --limit ten|--limit "ten" is not a positive integer
range --device 1 --since -1h --order up|invalid --order 'up' (asc or desc)
aggregate --device 1 --measurement t --fn avg --window 5m --since -1h --fill zero|invalid --fill 'zero' (none, null or previous)
range --device 1 --since -1h --measurement 'bad name'|invalid --measurement 'bad name' (1 to 64 of A-Z a-z 0-9 _ . : / -, starting with a letter, a digit or _)
--format table export --since -1h|export: --format is ndjson or csv (a table is printed at the end)
--format xml latest --device 1|invalid --format 'xml' (ndjson, table or csv)
latest --device 1 --since -1h|--since does not apply to 'latest'
lastpoint --measurement t|--measurement does not apply to 'lastpoint'
export --since -1h --limit 5|--limit does not apply to 'export'
EOF
}

@test "unknown or ambiguous devices and users, a device without telemetry; no database" {
	run --separate-stderr iot-query latest --device 99
	assert_failure 3
	assert_equal "$stderr" "iot-query: fatal: unknown device '99'"
	run --separate-stderr iot-query range --device alice/nope "${DAY[@]}"
	assert_failure 3
	assert_equal "$stderr" "iot-query: fatal: unknown device 'alice/nope'"
	run --separate-stderr iot-query export "${DAY[@]}" --device 1 --device 99
	assert_failure 3
	assert_output ''
	run --separate-stderr iot-query lastpoint --owner carol
	assert_failure 3
	assert_equal "$stderr" "iot-query: fatal: unknown user 'carol'"
	run --separate-stderr iot-query latest --device bob/idle
	assert_failure 3
	assert_equal "$stderr" "iot-query: fatal: no telemetry for device 4"
	# A bare name two devices have: a usage error that names them.
	run --separate-stderr iot-query latest --device thermo-1
	assert_failure 2
	[[ $stderr == "iot-query: device 'thermo-1' is ambiguous"*"(alice/thermo-1, bob/thermo-1)"*"
Try 'iot-query --help' for more information." ]]
	run --separate-stderr env PGPORT=1 IOTFLOW_DB_RETRY_TIME=0 iot-query latest --device 1
	assert_failure 5
	[[ $stderr == "iot-query: fatal: unable to connect to PostgreSQL"* ]]
}

@test "range: records newest first, filters, limit, order, metadata" {
	run --separate-stderr iot-query range --device alice/thermo-1 "${DAY[@]}"
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:30:00.250000+00:00","measurements":{"door":"closed","humidity":45.0,"temperature":20.75},"door":"closed","humidity":45.0,"temperature":20.75}
{"timestamp":"2026-11-28T06:10:00+00:00","measurements":{"door":"open","temperature":22.0},"door":"open","temperature":22.0}
{"timestamp":"2026-11-28T06:05:00+00:00","measurements":{"humidity":41.0,"temperature":22.25},"humidity":41.0,"temperature":22.25}
{"timestamp":"2026-11-28T06:00:00+00:00","measurements":{"humidity":40.0,"temperature":21.5},"humidity":40.0,"temperature":21.5}'
	run iot-query range --device 1 --measurement humidity --since 2026-11-28T06:05:00Z --until 2026-11-28T07:00:00Z
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:30:00.250000+00:00","measurements":{"humidity":45.0},"humidity":45.0}
{"timestamp":"2026-11-28T06:05:00+00:00","measurements":{"humidity":41.0},"humidity":41.0}'
	run iot-query range --device 1 --measurement door --measurement temperature "${DAY[@]}" --limit 2 --order asc --metadata
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:00:00+00:00","measurements":{"temperature":21.5},"temperature":21.5,"metadata":{"fw":"1.2"}}
{"timestamp":"2026-11-28T06:05:00+00:00","measurements":{"temperature":22.25},"temperature":22.25}'
	# Epoch seconds and milliseconds; nothing in the range: no output.
	run iot-query range --device 1 --since 1795845600 --until 1795845600000
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:00:00+00:00","measurements":{"humidity":40.0,"temperature":21.5},"humidity":40.0,"temperature":21.5}'
	run --separate-stderr iot-query range --device 1 --since 2026-11-29
	assert_success
	assert_output ''
}

@test "range: a column per measurement in table and csv" {
	run bash -c 'iot-query --format table range --device 1 "$@" --metadata | sed "s/ *$//"' _ "${DAY[@]}"
	assert_success
	assert_output 'timestamp                         door    humidity  temperature  metadata
2026-11-28T06:30:00.250000+00:00  closed  45.0      20.75
2026-11-28T06:10:00+00:00         open              22.0
2026-11-28T06:05:00+00:00                 41.0      22.25
2026-11-28T06:00:00+00:00                 40.0      21.5         {"fw":"1.2"}'
	# A name given twice is one column.
	run iot-query --format csv range --device meter-1 "${DAY[@]}" --measurement power --measurement cfg --measurement power
	assert_success
	assert_output 'timestamp,power,cfg
2026-11-28T07:00:00+00:00,130.0,
2026-11-28T06:00:00+00:00,120.5,"{""mode"":""eco"",""limits"":[1,2.5]}"'
	# "timestamp" is column measurements.timestamp; a measurement of that
	# very name gets a column of its own, each value in its own column.
	printf '%s\n' '{"device_id":4,"timestamp":"2026-11-28T06:00:00Z","data":{"timestamp":1}}' \
		'{"device_id":4,"timestamp":"2026-11-28T07:00:00Z","data":{"measurements.timestamp":2,"metadata":3}}' |
		iot-ingest -q >/dev/null
	run iot-query --format csv range --device bob/idle "${DAY[@]}" --order asc
	assert_success
	assert_output 'timestamp,measurements.measurements.timestamp,measurements.metadata,measurements.timestamp
2026-11-28T06:00:00+00:00,,,1.0
2026-11-28T07:00:00+00:00,2.0,3.0,'
}

@test "table: a text with a newline, a tab, an escape or a backslash stays on its row, escaped" {
	printf '%s\n' '{"device_id":4,"timestamp":"2026-11-28T06:00:00Z","data":{"note":"two\nlines\tand \u001b[31mred\\ here"}}' | iot-ingest -q >/dev/null
	run iot-query --format table range --device bob/idle --since 2026-11-28 --until 2026-11-29
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "${lines[1]}" '2026-11-28T06:00:00+00:00  two\nlines\tand \x1b[31mred\\ here'
	# NDJSON and CSV keep the text as it is.
	run iot-query --format csv range --device bob/idle --since 2026-11-28 --until 2026-11-29
	[[ $output == *$'"two\nlines\tand \e[31mred\\ here"'* ]]
}

@test "range: relative times (-15m, -24h, -7d, now) count back from now" {
	local t30 t3h t3d
	t30=$(date -u -d '-30 minutes' +%Y-%m-%dT%H:%M:%SZ)
	t3h=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)
	t3d=$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)
	printf '{"device_id":4,"timestamp":"%s","data":{"n":%d}}\n' "$t30" 1 "$t3h" 2 "$t3d" 3 | iot-ingest -q >/dev/null
	n_of() { iot-query range --device bob/idle "$@" | sed 's/.*"n":\([^,}]*\).*/\1/' | paste -sd, -; }
	assert_equal "$(n_of --since -15m)" ''
	assert_equal "$(n_of --since -1h)" '1.0'
	assert_equal "$(n_of --since -24h --until now)" '1.0,2.0'
	assert_equal "$(n_of --since -7d)" '1.0,2.0,3.0'
	assert_equal "$(n_of --since -7d --until -1h)" '2.0,3.0'
	assert_equal "$(n_of --since -1w --until -2d)" '3.0'
}

@test "latest: one object, or a row per measurement" {
	run iot-query latest --device 2
	assert_success
	assert_output '{"timestamp":"2026-11-28T07:00:00+00:00","latest_data":{"on":false,"power":130.0},"measurements":{"cfg":{"value":{"mode":"eco","limits":[1,2.5]},"timestamp":"2026-11-28T06:00:00+00:00"},"on":{"value":false,"timestamp":"2026-11-28T07:00:00+00:00"},"power":{"value":130.0,"timestamp":"2026-11-28T07:00:00+00:00"}},"device_id":2}'
	run iot-query --format table latest --device alice/meter-1
	assert_success
	assert_output 'device_id  measurement  value                            timestamp
2          cfg          {"mode":"eco","limits":[1,2.5]}  2026-11-28T06:00:00+00:00
2          on           false                            2026-11-28T07:00:00+00:00
2          power        130.0                            2026-11-28T07:00:00+00:00'
}

@test "lastpoint: every device with telemetry, by owner, type, device" {
	run iot-query lastpoint
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "$(jq -c '[.device_id, .device_name, .timestamp]' <<<"$output" | paste -sd' ' -)" \
		'[1,"thermo-1","2026-11-28T06:30:00.250000+00:00"] [2,"meter-1","2026-11-28T07:00:00+00:00"] [3,"thermo-1","2026-11-28T06:15:00+00:00"]'
	run iot-query lastpoint --owner bob
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:15:00+00:00","latest_data":{"temperature":18.0},"measurements":{"temperature":{"value":18.0,"timestamp":"2026-11-28T06:15:00+00:00"}},"device_id":3,"device_name":"thermo-1"}'
	run iot-query --format csv lastpoint --owner alice --type meter
	assert_success
	assert_output 'device_id,device_name,measurement,value,timestamp
2,meter-1,cfg,"{""mode"":""eco"",""limits"":[1,2.5]}",2026-11-28T06:00:00+00:00
2,meter-1,on,false,2026-11-28T07:00:00+00:00
2,meter-1,power,130.0,2026-11-28T07:00:00+00:00'
	run iot-query --format csv lastpoint --device bob/thermo-1 --device 1
	assert_success
	assert_output 'device_id,device_name,measurement,value,timestamp
1,thermo-1,door,closed,2026-11-28T06:30:00.250000+00:00
1,thermo-1,humidity,45.0,2026-11-28T06:30:00.250000+00:00
1,thermo-1,temperature,20.75,2026-11-28T06:30:00.250000+00:00
3,thermo-1,temperature,18.0,2026-11-28T06:15:00+00:00'
	run iot-query lastpoint --type nothing-like-it
	assert_success
	assert_output ''
}

@test "aggregate: every function, fill, order, and the hourly rollups" {
	local a=(--device 1 --measurement temperature --window 10m --since 2026-11-28T06:00:00Z --until 2026-11-28T06:59:59Z)
	run iot-query aggregate "${a[@]}" --fn avg
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:30:00+00:00","value":20.75,"count":1}
{"timestamp":"2026-11-28T06:10:00+00:00","value":22.0,"count":1}
{"timestamp":"2026-11-28T06:00:00+00:00","value":21.875,"count":2}'
	local fn want
	while read -r fn want; do
		assert_equal "$(iot-query aggregate "${a[@]}" --fn "$fn" --order asc | sed 's/.*"value":\([^,]*\),.*/\1/' | paste -sd, -)" "$want"
	done <<'EOF'
mean 21.875,22.0,20.75
min 21.5,22.0,20.75
max 22.25,22.0,20.75
sum 43.75,22.0,20.75
count 2,1,1
first 21.5,22.0,20.75
last 22.25,22.0,20.75
EOF
	run iot-query --format csv aggregate "${a[@]}" --fn max --fill null --order asc
	assert_success
	assert_output 'timestamp,value,count
2026-11-28T06:00:00+00:00,22.25,2
2026-11-28T06:10:00+00:00,22.0,1
2026-11-28T06:20:00+00:00,,0
2026-11-28T06:30:00+00:00,20.75,1
2026-11-28T06:40:00+00:00,,0
2026-11-28T06:50:00+00:00,,0'
	run iot-query --format table aggregate "${a[@]}" --fn last --fill previous
	assert_success
	assert_output 'timestamp                  value  count
2026-11-28T06:50:00+00:00  20.75  0
2026-11-28T06:40:00+00:00  20.75  0
2026-11-28T06:30:00+00:00  20.75  1
2026-11-28T06:20:00+00:00  22.0   0
2026-11-28T06:10:00+00:00  22.0   1
2026-11-28T06:00:00+00:00  22.25  2'
	# Whole hours: the hourly rollups (and the same answer).
	run iot-query aggregate --device alice/meter-1 --measurement power --fn sum --window 1h "${DAY[@]}" --order asc
	assert_success
	assert_output '{"timestamp":"2026-11-28T06:00:00+00:00","value":120.5,"count":1}
{"timestamp":"2026-11-28T07:00:00+00:00","value":130.0,"count":1}'
	run iot-query aggregate --device 1 --measurement temperature --fn avg --window 1d --since -30d
	assert_success
	assert_output '{"timestamp":"2026-11-28T00:00:00+00:00","value":21.625,"count":4}'
	# Text and booleans have no mean: no buckets.
	run iot-query aggregate --device 1 --measurement door --fn count --window 1h "${DAY[@]}"
	assert_success
	assert_output ''
}

@test "export: every point as the record iot-ingest reads, in storage order (a batch is written by device, time and measurement); csv with types" {
	run --separate-stderr iot-query export "${DAY[@]}"
	assert_success
	assert_equal "$stderr" ''
	assert_output '{"device_id":1,"timestamp":"2026-11-28T06:00:00+00:00","data":{"humidity":40.0},"metadata":{"fw":"1.2"}}
{"device_id":1,"timestamp":"2026-11-28T06:00:00+00:00","data":{"temperature":21.5},"metadata":{"fw":"1.2"}}
{"device_id":1,"timestamp":"2026-11-28T06:05:00+00:00","data":{"humidity":41.0}}
{"device_id":1,"timestamp":"2026-11-28T06:05:00+00:00","data":{"temperature":22.25}}
{"device_id":1,"timestamp":"2026-11-28T06:10:00+00:00","data":{"door":"open"}}
{"device_id":1,"timestamp":"2026-11-28T06:10:00+00:00","data":{"temperature":22.0}}
{"device_id":1,"timestamp":"2026-11-28T06:30:00.250000+00:00","data":{"door":"closed"}}
{"device_id":1,"timestamp":"2026-11-28T06:30:00.250000+00:00","data":{"humidity":45.0}}
{"device_id":1,"timestamp":"2026-11-28T06:30:00.250000+00:00","data":{"temperature":20.75}}
{"device_id":2,"timestamp":"2026-11-28T06:00:00+00:00","data":{"cfg":{"mode":"eco","limits":[1,2.5]}}}
{"device_id":2,"timestamp":"2026-11-28T06:00:00+00:00","data":{"on":true}}
{"device_id":2,"timestamp":"2026-11-28T06:00:00+00:00","data":{"power":120.5}}
{"device_id":2,"timestamp":"2026-11-28T07:00:00+00:00","data":{"on":false}}
{"device_id":2,"timestamp":"2026-11-28T07:00:00+00:00","data":{"power":130.0}}
{"device_id":3,"timestamp":"2026-11-28T06:15:00+00:00","data":{"temperature":18.0}}'
	# Only some devices (in whichever order the planner reads them: sorted here).
	run bash -c 'iot-query --format csv export --since 2026-11-28T06:00:00Z --until 2026-11-28T07:00:00Z --device alice/meter-1 --device 3 | sort'
	assert_success
	assert_output '2,2026-11-28T06:00:00+00:00,cfg,json,"{""mode"":""eco"",""limits"":[1,2.5]}",
2,2026-11-28T06:00:00+00:00,on,boolean,true,
2,2026-11-28T06:00:00+00:00,power,number,120.5,
2,2026-11-28T07:00:00+00:00,on,boolean,false,
2,2026-11-28T07:00:00+00:00,power,number,130.0,
3,2026-11-28T06:15:00+00:00,temperature,number,18.0,
device_id,timestamp,measurement,type,value,metadata'
	# --until is inclusive; nothing in the range: no lines (csv: the header).
	run iot-query export --since 2026-11-28T06:30:00.250000Z --until 2026-11-28T06:30:00.250000Z --format csv
	assert_success
	assert_output 'device_id,timestamp,measurement,type,value,metadata
1,2026-11-28T06:30:00.250000+00:00,door,text,closed,
1,2026-11-28T06:30:00.250000+00:00,humidity,number,45.0,
1,2026-11-28T06:30:00.250000+00:00,temperature,number,20.75,'
	run --separate-stderr iot-query export --since 2026-11-29
	assert_success
	assert_output ''
	run iot-query export --since 2026-11-29 --format csv
	assert_output 'device_id,timestamp,measurement,type,value,metadata'
}

# Every kind of value the decoder stores, at the edges of what it takes.
ODD='{"device_id":1,"timestamp":"2000-01-02T00:00:00.000001Z","data":{"n1":0.1,"n2":-0.0,"n3":1e300,"n4":-1e300,"n5":1e-300,"n6":1.8014398509481984e16,"n7":9007199254740992,"n8":123456789012.345,"n9":1e-5,"n10":-7}}
{"device_id":1,"timestamp":"2026-11-27T23:59:59.999999Z","data":{"s1":"a,b \"q\"\nline2\ttab\r\u0001 é ☃ 𝄞","s2":"","s3":"42","s4":"true","s5":"{}","s6":"\\back\\slash"},"metadata":{"fw":"1.2","n":0.1,"big":1e300,"deep":{"a":[1,{"b":null}]}}}
{"device_id":2,"timestamp":"2026-11-28T12:00:00Z","data":{"b1":true,"b2":false,"a.b:c/d-e_f":1,"timestamp":2,"metadata":3,"device_id":4,"data":5}}
{"device_id":2,"timestamp":"2026-11-28T12:00:01Z","data":{"j1":{"big":1e300,"b2":1.8014398509481984e16,"tiny":1e-300,"i":9007199254740993,"neg":-9223372036854775808,"f":0.1,"s":"x\"y\\z\n","u":"☃"},"j2":[],"j3":{},"j4":[1,[2,[3]],null,true,"s"],"j5":"not json: a string"}}'

# The rows of a telemetry table, exactly (float8 and jsonb as PostgreSQL writes them).
rows() { # [TABLE]
	q "COPY (SELECT device_id, measurement_name, ts, numeric_value, text_value, boolean_value,
	   json_value, $([[ ${1:-telemetry_data} == telemetry_data ]] && echo metadata || echo 'NULL') FROM ${1:-telemetry_data}
	   ORDER BY device_id, measurement_name COLLATE \"C\", ts) TO STDOUT"
}

@test "export -> iot-ingest into an empty database: every row and value type exactly" {
	run --separate-stderr iot-ingest <<<"$ODD"
	assert_output '{"read":4,"records":4,"points":28,"stored":28,"duplicates":0,"rejected":0}'
	local src=$PGDATABASE n
	n=$(q "SELECT count(*) FROM telemetry_data")
	((n == 43))
	rows > "$BATS_TEST_TMPDIR/src.rows"
	rows telemetry_latest > "$BATS_TEST_TMPDIR/src.latest"
	q "COPY (SELECT * FROM telemetry_hourly ORDER BY device_id, measurement_name COLLATE \"C\", bucket) TO STDOUT" > "$BATS_TEST_TMPDIR/src.hourly"
	iot-query export --since 2000-01-01 > "$BATS_TEST_TMPDIR/all.ndjson"
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/all.ndjson")" "$n"
	# The numbers of the export: shortest forms that read back as the same double.
	run grep -oE '"n[0-9]+":[^}]*' "$BATS_TEST_TMPDIR/all.ndjson"
	assert_output '"n1":0.1
"n10":-7.0
"n2":-0.0
"n3":1e+300
"n4":-1e+300
"n5":1e-300
"n6":1.8014398509481984e+16
"n7":9007199254740992.0
"n8":123456789012.345
"n9":0.00001'
	# Inside JSON values the decoder writes reals as iot_json_real_text does
	# (1.8014398509481984e+16, which jsonb keeps as the integer it is), never
	# "18014398509481984.0", which its own parser refuses on re-import.
	assert_equal "$(q "SELECT json_value->'b2' FROM telemetry_latest WHERE measurement_name = 'j1'")" 18014398509481984
	grep -qF '"data":{"j1":{"f":0.1,"i":9007199254740993,"s":"x\"y\\z\n","u":"☃","b2":18014398509481984,"big":1e+300,"neg":-9223372036854775808,"tiny":1e-300}}}' "$BATS_TEST_TMPDIR/all.ndjson"

	# range and latest read the same JSON values (jsonb writes 1e300 as 301
	# digits, which JSON parsers refuse as an integer beyond 64 bits), and
	# write reals as the export does: shortest, 0.1 and 1e+300.
	run iot-query range --device 2 --measurement j1 --since 2026-11-28T12:00:01Z --until 2026-11-28T12:00:01Z
	assert_success
	assert_output --partial '{"f":0.1,"i":9007199254740993,'
	assert_output --partial '"big":1e+300,"neg":-9223372036854775808,"tiny":1e-300}'
	run iot-query latest --device 2
	assert_success
	assert_output --partial '"b2":18014398509481984,'
	# What latest prints is JSON the decoder takes back as it is (the whole
	# object, verbatim, as one JSON value).
	run bash -c 'printf "{\"device_id\":2,\"timestamp\":\"2026-11-28T12:00:02Z\",\"data\":{\"copy\":%s}}\n" "$(iot-query latest --device 2)" | iot-ingest --dry-run'
	assert_success
	assert_output --partial '"points":1,'

	iot_db_fresh "${src}_copy" "$IOTFLOW_TEMPLATE_DB"
	assert_equal "$(q 'SELECT count(*) FROM telemetry_data')" 0
	run --separate-stderr iot-ingest "$BATS_TEST_TMPDIR/all.ndjson"
	assert_success
	assert_output "{\"read\":$n,\"records\":$n,\"points\":$n,\"stored\":$n,\"duplicates\":0,\"rejected\":0}"
	rows > "$BATS_TEST_TMPDIR/copy.rows"
	rows telemetry_latest > "$BATS_TEST_TMPDIR/copy.latest"
	q "COPY (SELECT * FROM telemetry_hourly ORDER BY device_id, measurement_name COLLATE \"C\", bucket) TO STDOUT" > "$BATS_TEST_TMPDIR/copy.hourly"
	run diff "$BATS_TEST_TMPDIR/src.rows" "$BATS_TEST_TMPDIR/copy.rows"
	assert_success
	run diff "$BATS_TEST_TMPDIR/src.latest" "$BATS_TEST_TMPDIR/copy.latest"
	assert_success
	run diff "$BATS_TEST_TMPDIR/src.hourly" "$BATS_TEST_TMPDIR/copy.hourly"
	assert_success
	# And the export of the copy is the export of the original.
	run bash -c 'iot-query export --since 2000-01-01 | sort | cmp - <(sort "$1")' _ "$BATS_TEST_TMPDIR/all.ndjson"
	assert_success
}

@test "export escapes control characters as every other JSON output does (\b \f, \u001F)" {
	iot-ingest -q <<<'{"device_id":1,"timestamp":"2026-11-28T12:00:00Z","data":{"ctl":"a\bb\fc\u001fd\u0001"}}' >/dev/null
	run iot-query export --since 2026-11-28 --device 1
	assert_success
	assert_output --partial '"ctl":"a\bb\fc\u001Fd\u0001"'
	# The same string from a jansson-written answer: byte for byte alike.
	run iot-query latest --device 1
	assert_success
	assert_output --partial '"a\bb\fc\u001Fd\u0001"'
}

@test "export --format csv: psql reads every row and type back exactly" {
	iot-ingest -q <<<"$ODD" >/dev/null
	run iot-query --format csv export --since 2000-01-01 --device 99
	assert_failure 3
	iot-query --format csv export --since 2000-01-01 > "$BATS_TEST_TMPDIR/all.csv"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/all.csv")" 'device_id,timestamp,measurement,type,value,metadata'
	grep -qxF '2,2026-11-28T12:00:00+00:00,a.b:c/d-e_f,number,1.0,' "$BATS_TEST_TMPDIR/all.csv"
	grep -qxF '1,2026-11-27T23:59:59.999999+00:00,s2,text,"","{""n"":0.1,""fw"":""1.2"",""big"":1e+300,""deep"":{""a"":[1,{""b"":null}]}}"' "$BATS_TEST_TMPDIR/all.csv"
	# Rows as the CSV says, typed by its type column, against the table.
	run psql -XAtq -v ON_ERROR_STOP=1 <<-EOF
		CREATE TEMP TABLE csv (device_id int, ts timestamptz, measurement text, type text, value text, metadata jsonb);
		\\copy csv FROM '$BATS_TEST_TMPDIR/all.csv' WITH (FORMAT csv, HEADER)
		CREATE TEMP VIEW typed AS SELECT device_id, measurement AS measurement_name, ts,
		  CASE type WHEN 'number' THEN value::float8 END AS numeric_value,
		  CASE type WHEN 'text' THEN value END AS text_value,
		  CASE type WHEN 'boolean' THEN value::boolean END AS boolean_value,
		  CASE type WHEN 'json' THEN value::jsonb END AS json_value, metadata FROM csv;
		SELECT count(*) FROM csv;
		SELECT count(*) FROM (SELECT device_id, measurement_name, ts, numeric_value::text, text_value, boolean_value,
		    json_value, metadata FROM typed
		  EXCEPT SELECT device_id, measurement_name, ts, numeric_value::text, text_value, boolean_value,
		    json_value, metadata FROM telemetry_data) d;
		SELECT count(*) FROM (SELECT device_id, measurement_name, ts, numeric_value::text, text_value, boolean_value,
		    json_value, metadata FROM telemetry_data
		  EXCEPT SELECT device_id, measurement_name, ts, numeric_value::text, text_value, boolean_value,
		    json_value, metadata FROM typed) d;
	EOF
	assert_success
	assert_output '43
0
0'
}

@test "export: memory does not grow with the range; a full disk is an error; progress on a terminal" {
	q "SELECT iotflow_ensure_partition(timestamptz '2026-11-20' + g * interval '1 day') FROM generate_series(0, 3) g" >/dev/null
	q "INSERT INTO telemetry_data (device_id, measurement_name, ts, numeric_value, metadata)
	   SELECT 1 + g % 3, 'm' || g % 4, timestamptz '2026-11-20' + g * interval '1 second', g / 7.0, '{\"k\":1}'
	   FROM generate_series(1, 200000) g"
	local small big
	small=$( { /usr/bin/time -f '%M' iot-query export --since 2026-11-20 --until 2026-11-20T05:33:20Z > "$BATS_TEST_TMPDIR/small"; } 2>&1)
	big=$( { /usr/bin/time -f '%M' iot-query export --since 2026-11-20 --until 2026-11-23 > "$BATS_TEST_TMPDIR/big"; } 2>&1)
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/small")" 20000
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/big")" 200000
	echo "peak RSS: 20,000 points $small KB, 200,000 points $big KB" >&3
	# (AddressSanitizer's quarantine keeps freed memory: no figure to compare.)
	ldd "$IOTFLOW_ROOT/bin/iot-query" | grep -q libasan || ((big < small + 2048))

	run --separate-stderr bash -c 'iot-query export --since 2026-11-20 --until 2026-11-23 > /dev/full'
	assert_failure 6
	assert_equal "$stderr" 'iot-query: fatal: unable to write output: No space left on device'

	# stderr a terminal: the count, at least at the end; with -q nothing.
	script -qec "iot-query export --since 2026-11-28 --until 2026-11-29 > '$BATS_TEST_TMPDIR/out'" "$BATS_TEST_TMPDIR/tty" > /dev/null
	run grep -ac 'iot-query: 15 points' "$BATS_TEST_TMPDIR/tty"
	assert_output 1
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/out")" 15
	script -qec "iot-query -q export --since 2026-11-28 --until 2026-11-29 > /dev/null" "$BATS_TEST_TMPDIR/tty" > /dev/null
	run grep -ac points "$BATS_TEST_TMPDIR/tty"
	assert_output 0
}

@test "numbers in the export and every JSON output: each double's text reads back as itself; the rest as jansson writes it" {
	run "$IOTFLOW_ROOT/build/tests/real_text_check" 100000 "$RANDOM"
	assert_success
	assert_output --regexp '^ok [0-9]+$'
}

# Until the iot-query follow in the background has read its start and waits.
follow_ready() {
	local _
	for _ in $(seq 100); do
		[[ $(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'iot-query'
		       AND state = 'idle' AND query LIKE '%FROM telemetry_latest%'") == 1 ]] && return 0
		sleep 0.05
	done
	echo "iot-query follow did not start" >&2
	return 1
}

# Until FILE has N lines (at most SECONDS, default 1); fails otherwise.
lines_within() { # FILE N [SECONDS]
	local deadline=$(($(date +%s%N) + ${3:-1} * 1000000000))
	while (($(date +%s%N) < deadline)); do
		(($(wc -l < "$1") >= $2)) && return 0
		sleep 0.01
	done
	echo "$1: $(wc -l < "$1") lines, not $2, within ${3:-1} s" >&2
	return 1
}

@test "follow: a point committed by iot-ingest shows within a second; nothing uncommitted; filters" {
	local out=$BATS_TEST_TMPDIR/follow.out pid
	iot-query follow --device alice/thermo-1 --device 3 --measurement temperature --measurement door > "$out" 2>&1 3>&- &
	pid=$!
	follow_ready
	assert_equal "$(wc -l < "$out")" 0 # what was there before is not shown
	printf '%s\n' '{"device_id":1,"timestamp":"2026-11-28T08:00:00Z","data":{"temperature":23.5,"humidity":50}}' \
		'{"device_id":2,"timestamp":"2026-11-28T08:00:00Z","data":{"power":99}}' | iot-ingest -q >/dev/null
	lines_within "$out" 1
	assert_equal "$(cat "$out")" '{"device_id":1,"timestamp":"2026-11-28T08:00:00+00:00","data":{"temperature":23.5}}'

	# A writer's transaction that has not committed yet: its point (and its
	# notification) stays unseen while others come and go, until it commits.
	local fifo=$BATS_TEST_TMPDIR/psql.in _
	mkfifo "$fifo"
	psql -XAtq -v ON_ERROR_STOP=1 < "$fifo" > /dev/null 3>&- &
	exec 5> "$fifo"
	echo "BEGIN;
		INSERT INTO telemetry_data (device_id, measurement_name, ts, numeric_value) VALUES (3, 'temperature', '2026-11-28T08:01:00Z', 19);
		UPDATE telemetry_latest SET ts = '2026-11-28T08:01:00Z', numeric_value = 19 WHERE device_id = 3 AND measurement_name = 'temperature';
		SELECT pg_notify('iotflow_telemetry', '3');" >&5
	for _ in $(seq 100); do
		[[ $(q "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'") == 1 ]] && break
		sleep 0.05
	done
	printf '%s\n' '{"device_id":1,"timestamp":"2026-11-28T08:02:00Z","data":{"door":"open"}}' \
		'{"device_id":3,"timestamp":"2026-11-28T08:02:30Z","data":{"humidity":1}}' | iot-ingest -q >/dev/null
	lines_within "$out" 2
	sleep 0.3
	assert_equal "$(wc -l < "$out")" 2
	assert_equal "$(tail -n 1 "$out")" '{"device_id":1,"timestamp":"2026-11-28T08:02:00+00:00","data":{"door":"open"}}'
	echo "COMMIT;" >&5
	exec 5>&-
	lines_within "$out" 3
	assert_equal "$(tail -n 1 "$out")" '{"device_id":3,"timestamp":"2026-11-28T08:01:00+00:00","data":{"temperature":19.0}}'

	# A signal ends it, with status 0.
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	assert_equal "$rc" 0
	assert_equal "$(wc -l < "$out")" 3
}

@test "follow: csv, every device; after a PostgreSQL restart it shows what came meanwhile" {
	local out=$BATS_TEST_TMPDIR/follow.csv pid
	IOTFLOW_DB_RETRY_TIME=30 iot-query --format csv follow > "$out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	pid=$!
	follow_ready
	lines_within "$out" 1
	printf '%s\n' '{"device_id":2,"timestamp":"2026-11-28T08:00:00Z","data":{"power":99.5}}' | iot-ingest -q >/dev/null
	lines_within "$out" 2
	iot_pg_stop
	iot_pg_start
	printf '%s\n' '{"device_id":4,"timestamp":"2026-11-28T09:00:00Z","data":{"n":1,"s":"a,b"}}' | iot-ingest -q >/dev/null
	lines_within "$out" 4 10
	kill -INT "$pid"
	wait "$pid"
	assert_equal "$(cat "$out")" 'device_id,timestamp,measurement,type,value,metadata
2,2026-11-28T08:00:00+00:00,power,number,99.5,
4,2026-11-28T09:00:00+00:00,n,number,1.0,
4,2026-11-28T09:00:00+00:00,s,text,"a,b",'
}

@test "follow: batches of 2,000 devices (their notifications list them, or say '*' past 7,900 bytes) still show the followed one" {
	q "INSERT INTO devices (name, user_id) SELECT 'fleet-' || g, 1 FROM generate_series(1, 2000) g" >/dev/null
	local first out=$BATS_TEST_TMPDIR/follow.out pid
	first=$(q "SELECT min(id) FROM devices WHERE name LIKE 'fleet-%'")
	iot-query follow --device alice/fleet-1500 > "$out" 3>&- &
	pid=$!
	follow_ready
	# Big batches (one connection, a long flush time). How big is the
	# writer's affair; a notification lists their devices or, past its
	# room, says "*": the follower must find its device either way.
	# psql shows a notification after its next command: send it once the
	# follower has printed (the commit is done), at most 30 s on.
	( echo 'LISTEN iotflow_telemetry;'
	  for ((i = 0; i < 300; i++)); do [[ -s $out ]] && break; sleep 0.1; done
	  sleep 0.3; echo 'SELECT 1;' ) | psql -XAt > "$BATS_TEST_TMPDIR/listen" 3>&- &
	sleep 0.3
	# From a file: a pipe would have iot-ingest flush at each pause of its input.
	q "SELECT id FROM devices WHERE name LIKE 'fleet-%'" |
		awk '{ printf "{\"device_id\":%d,\"timestamp\":\"2026-11-28T10:00:00Z\",\"data\":{\"v\":%d}}\n", $1, $1 }' \
		> "$BATS_TEST_TMPDIR/fleet.ndjson"
	iot-ingest -q -j 1 --batch-size 5000 --flush-ms 1000 "$BATS_TEST_TMPDIR/fleet.ndjson" >/dev/null
	lines_within "$out" 1
	sleep 0.2
	kill "$pid"
	wait "$pid"
	wait
	grep -qE "notification \"iotflow_telemetry\" with payload \"(\\*|([0-9]+,)*$((first + 1499))(,[0-9]+)*)\"" \
		"$BATS_TEST_TMPDIR/listen"
	assert_equal "$(cat "$out")" "{\"device_id\":$((first + 1499)),\"timestamp\":\"2026-11-28T10:00:00+00:00\",\"data\":{\"v\":$((first + 1499)).0}}"
}
