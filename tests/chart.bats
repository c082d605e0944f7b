#!/usr/bin/env bats
# iot-chart against real PostgreSQL, on hand-made telemetry loaded by
# iot-ingest: definitions CRUD (whose charts, devices and measurements),
# bad input with the usage exit code, series through lib/query (raw and
# aggregated with min/max), and SVG that xmllint reads and rsvg-convert
# draws: series and points, gaps, "No data", a gauge, a table.

# shellcheck disable=SC2154 # $output, $lines, $stderr and $status are set by bats' run
load helpers
load chart_lib

# Devices 1 alice/thermo-1, 2 alice/meter-1, 3 bob/thermo-1. thermo-1 of
# alice: temperature every 5 minutes from 06:00 to 07:00 but none from
# 06:30 to 06:45 (9 points), humidity at 06:00 and 06:30; meter-1 power.
DATA=$(
	for m in 00 05 10 15 20 25 50 55; do
		echo "{\"device_id\":1,\"timestamp\":\"2026-11-28T06:$m:00Z\",\"data\":{\"temperature\":2$((10#$m % 7)).5}}"
	done
	echo '{"device_id":1,"timestamp":"2026-11-28T07:00:00Z","data":{"temperature":19,"door":"open"}}'
	echo '{"device_id":1,"timestamp":"2026-11-28T06:00:00Z","data":{"humidity":40}}'
	echo '{"device_id":1,"timestamp":"2026-11-28T06:30:00Z","data":{"humidity":45}}'
	echo '{"device_id":2,"timestamp":"2026-11-28T06:00:00Z","data":{"power":120.5}}'
	echo '{"device_id":2,"timestamp":"2026-11-28T07:00:00Z","data":{"power":130}}'
	echo '{"device_id":3,"timestamp":"2026-11-28T06:15:00Z","data":{"temperature":18}}'
)
RANGE=(--since 2026-11-28T06:00:00Z --until 2026-11-28T07:00:00Z)

setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		iot-user add --no-password alice >/dev/null
		iot-user add --no-password bob >/dev/null
		iot-user add --no-password --admin root >/dev/null
		iot-device add thermo-1 --owner alice >/dev/null
		iot-device add meter-1 --owner alice >/dev/null
		iot-device add thermo-1 --owner bob >/dev/null'
	iot_db_fresh iotflow_data "$IOTFLOW_TEMPLATE_DB"
	iot-ingest -q <<<"$DATA" >/dev/null
	export PGDATABASE=iotflow
}
teardown_file() { stack_teardown_file; }
setup() { iot_db_fresh "t_${BATS_TEST_NUMBER}_$RANDOM" iotflow_data; }

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# A line chart of alice's thermo-1 temperature and humidity.
temp_chart() {
	iot-chart add temps --owner alice --title 'Lab temperature' "$@" >/dev/null
	iot-chart device add alice/temps alice/thermo-1 >/dev/null
	iot-chart measurement add alice/temps temperature --display-name Temperature --color '#d62728' --unit '°C' >/dev/null
	iot-chart measurement add alice/temps humidity --unit % >/dev/null
}

@test "iot-chart: --help, --version, bad options and commands" {
	run iot-chart --help
	assert_success
	assert_line --index 0 'Usage: iot-chart [OPTION]... COMMAND [ARG]...'
	run iot-chart --version
	assert_success
	assert_output --regexp '^iot-chart \(IoTFlow\) [0-9.]+$'
	run --separate-stderr iot-chart --bogus
	assert_failure 2
	assert_equal "$stderr" "iot-chart: unrecognized option '--bogus'
Try 'iot-chart --help' for more information."
	run iot-chart
	assert_failure 2
	run iot-chart frob
	assert_failure 2
	run iot-chart show
	assert_failure 2
	run iot-chart device frob 1 2
	assert_failure 2
	run --separate-stderr iot-chart add x
	assert_failure 2
	assert_equal "$stderr" "iot-chart: add: --owner is required
Try 'iot-chart --help' for more information."
	# An option that does not apply to the command.
	run --separate-stderr iot-chart show 1 --width 300
	assert_failure 2
}

@test "add, show, list, set, rm: the chart round trips" {
	run --separate-stderr iot-chart add temps --owner alice --title 'Lab temperature' --type area \
		--range 6h --refresh 30 --aggregation avg --group-by 15m \
		--appearance '{"showLegend":true,"customColors":["#1976D2","#f52"],"lineWidth":3}'
	assert_success
	id=$(jq -r .id <<<"$output")
	assert_equal "$(jq -c '[.name, .owner, .title, .type, .time_range, .refresh_interval, .aggregation, .group_by, .devices, .measurements]' <<<"$output")" \
		'["temps","alice","Lab temperature","area","6h",30,"avg","15m",[],[]]'
	# Colours are stored as #rrggbb.
	assert_equal "$(jq -c .appearance_config <<<"$output")" '{"lineWidth":3,"showLegend":true,"customColors":["#1976d2","#ff5522"]}'
	run iot-chart show alice/temps
	assert_success
	assert_equal "$(jq -r .id <<<"$output")" "$id"
	run iot-chart show temps
	assert_equal "$(jq -r .id <<<"$output")" "$id"
	run iot-chart show "$id"
	assert_equal "$(jq -r .name <<<"$output")" temps
	# Defaults.
	run iot-chart add plain --owner bob
	assert_success
	assert_equal "$(jq -c '[.type, .time_range, .refresh_interval, .aggregation, .group_by, .title, .appearance_config]' <<<"$output")" \
		'["line","24h",60,"none",null,null,{}]'
	run iot-chart list
	assert_equal "$(jq -sc 'map(.owner + "/" + .name)' <<<"$output")" '["alice/temps","bob/plain"]'
	run iot-chart list --owner bob
	assert_equal "$(jq -sc 'map(.name)' <<<"$output")" '["plain"]'
	run iot-chart list --format table
	assert_success
	assert_line --index 0 --regexp '^id +name +owner +type'
	# set: only what is given; appearance merged, null removes a member.
	run iot-chart set alice/temps --name temps2 --type line --title '' --appearance '{"lineWidth":null,"showGrid":false}'
	assert_success
	assert_equal "$(jq -c '[.name, .type, .title, .time_range, .appearance_config]' <<<"$output")" \
		'["temps2","line",null,"6h",{"showGrid":false,"showLegend":true,"customColors":["#1976d2","#ff5522"]}]'
	# A name the owner already uses: rejected (1).
	run --separate-stderr iot-chart add temps2 --owner alice
	assert_failure 1
	assert_equal "$stderr" "iot-chart: fatal: the owner has a chart named 'temps2' already"
	# Another owner may use it.
	run iot-chart add temps2 --owner bob
	assert_success
	# Now the bare name is ambiguous.
	run --separate-stderr iot-chart show temps2
	assert_failure 2
	[[ $stderr == *'alice/temps2, bob/temps2'* ]]
	run iot-chart rm alice/temps2
	assert_success
	assert_equal "$(jq -c '[.name, .owner, .removed]' <<<"$output")" '["temps2","alice",true]'
	run --separate-stderr iot-chart show "$id"
	assert_failure 3
	assert_equal "$stderr" "iot-chart: fatal: unknown chart '$id'"
	run --separate-stderr iot-chart show nosuch
	assert_failure 3
	run --separate-stderr iot-chart add x --owner nobody
	assert_failure 3
	assert_equal "$stderr" "iot-chart: fatal: unknown user 'nobody'"
}

@test "bad input: unknown type, bad colour, bad range and the others, usage exit code, nothing written" {
	run --separate-stderr iot-chart add t --owner alice --type pie
	assert_failure 2
	assert_equal "$stderr" "iot-chart: type: expected line, bar, area, scatter, gauge or table, not 'pie'
Try 'iot-chart --help' for more information."
	run --separate-stderr iot-chart add t --owner alice --range yesterday
	assert_failure 2
	[[ $stderr == "iot-chart: time_range "* ]]
	run --separate-stderr iot-chart add t --owner alice --range 30s
	assert_failure 2
	assert_equal "${stderr%%$'\n'*}" 'iot-chart: time_range: at least 60 seconds'
	run --separate-stderr iot-chart add t --owner alice --range 400d
	assert_failure 2
	run --separate-stderr iot-chart add t --owner alice --aggregation median
	assert_failure 2
	[[ $stderr == *"aggregation: expected none, mean (avg), sum, count, min, max, first or last, not 'median'"* ]]
	run --separate-stderr iot-chart add t --owner alice --group-by fortnightly
	assert_failure 2
	run --separate-stderr iot-chart add t --owner alice --refresh 90000
	assert_failure 2
	run --separate-stderr iot-chart add t --owner alice --appearance '{"customColors":["red"]}'
	assert_failure 2
	[[ $stderr == *"customColors: expected a colour #RRGGBB (or #RGB), not 'red'"* ]]
	run --separate-stderr iot-chart add t --owner alice --appearance '{"wobble":1}'
	assert_failure 2
	[[ $stderr == *"appearance: unknown member 'wobble'"* ]]
	run --separate-stderr iot-chart add t --owner alice --appearance '{"yAxisMin":5,"yAxisMax":1}'
	assert_failure 2
	run --separate-stderr iot-chart add t --owner alice --appearance 'not json'
	assert_failure 2
	run --separate-stderr iot-chart add "$(printf 'x%.0s' {1..101})" --owner alice
	assert_failure 2
	assert_equal "$(q 'select count(*) from charts')" 0
	iot-chart add t --owner alice >/dev/null
	run --separate-stderr iot-chart measurement add alice/t temperature --color '#12345'
	assert_failure 2
	[[ $stderr == *"color: expected a colour #RRGGBB (or #RGB), not '#12345'"* ]]
	run --separate-stderr iot-chart measurement add alice/t "$(printf 'm%.0s' {1..65})"
	assert_failure 2
	run --separate-stderr iot-chart render alice/t --width 10
	assert_failure 2
	# Times and zones are checked before connecting: PGPORT points nowhere.
	# An empty time (an unset variable, a failed $(date ...)) is no "now".
	local args want
	while IFS='|' read -r args want; do
		run --separate-stderr env PGPORT=1 IOTFLOW_DB_RETRY_TIME=0 bash -c "iot-chart $args"
		[[ $status == 2 ]] || { echo "iot-chart $args: status $status: $stderr"; return 1; }
		assert_equal "$stderr" "iot-chart: $want
Try 'iot-chart --help' for more information."
	done <<'EOF'
render alice/t --tz Mars/Olympus|tz: expected UTC, local, +HH:MM or -HH:MM, not 'Mars/Olympus'
data alice/t --since tomorrow|--since "tomorrow" is not a time: use now, -N with s, m, h, d or w (-24h), ISO 8601 (2026-11-28T06:00:00Z) or epoch seconds/milliseconds
data alice/t --since 2026-11-29 --until 2026-11-28|--since (2026-11-29T00:00:00+00:00) is after --until (2026-11-28T00:00:00+00:00)
data alice/t --since ''|--since: must not be empty
render alice/t --since -1d --until ''|--until: must not be empty
EOF
	assert_equal "$(q 'select count(*) from chart_measurements')" 0
	# Too many buckets to draw: refused before anything is read.
	iot-chart set alice/t --aggregation max --group-by 1s >/dev/null
	run --separate-stderr iot-chart data alice/t --since -24h
	assert_failure 2
	assert_equal "$stderr" 'iot-chart: fatal: group_by: more than 10000 buckets over the range; a wider bucket or a shorter range'
}

@test "devices and measurements: only the owner's devices, display name, colour and unit" {
	iot-chart add t --owner alice >/dev/null
	run iot-chart device add alice/t alice/thermo-1 2
	assert_success
	assert_equal "$(jq -c .devices <<<"$output")" '[1,2]'
	# Again: no change.
	run iot-chart device add alice/t 1
	assert_equal "$(jq -c .devices <<<"$output")" '[1,2]'
	# bob's device on alice's chart: refused.
	run --separate-stderr iot-chart device add alice/t bob/thermo-1
	assert_failure 2
	assert_equal "$stderr" "iot-chart: fatal: devices: device 3 does not exist or is not the chart owner's"
	run --separate-stderr iot-chart device add alice/t 999
	assert_failure 3
	run iot-chart device rm alice/t 2
	assert_equal "$(jq -c .devices <<<"$output")" '[1]'
	run --separate-stderr iot-chart device rm alice/t 2
	assert_failure 3
	# Several at once: all or none. An unknown one, or one that is not
	# the owner's, leaves the chart as it was.
	run --separate-stderr iot-chart device add alice/t 2 999
	assert_failure 3
	run --separate-stderr iot-chart device add alice/t 2 bob/thermo-1
	assert_failure 2
	run iot-chart show alice/t
	assert_equal "$(jq -c .devices <<<"$output")" '[1]'
	# An admin's chart may hold anyone's device.
	iot-chart add fleet --owner root >/dev/null
	run iot-chart device add root/fleet 1 3
	assert_success
	assert_equal "$(jq -c .devices <<<"$output")" '[1,3]'
	run iot-chart measurement add alice/t temperature --display-name Temperature --color '#D62' --unit '°C'
	assert_success
	assert_equal "$(jq -c '.measurement_details' <<<"$output")" '[{"name":"temperature","display_name":"Temperature","color":"#dd6622","unit":"°C"}]'
	# Changing one member keeps the others; "" removes one.
	run iot-chart measurement add alice/t temperature --unit ''
	assert_equal "$(jq -c '.measurement_details' <<<"$output")" '[{"name":"temperature","display_name":"Temperature","color":"#dd6622","unit":null}]'
	run iot-chart measurement add alice/t humidity
	assert_equal "$(jq -c .measurements <<<"$output")" '["temperature","humidity"]'
	run iot-chart measurement rm alice/t temperature
	assert_equal "$(jq -c .measurements <<<"$output")" '["humidity"]'
	run --separate-stderr iot-chart measurement rm alice/t temperature
	assert_failure 3
	# duplicate: everything copied, under a free name.
	iot-chart measurement add alice/t temperature --color '#00ff00' >/dev/null
	run iot-chart duplicate alice/t
	assert_success
	assert_equal "$(jq -c '[.name, .owner, .devices, .measurements, .measurement_details[1].color]' <<<"$output")" \
		'["t (copy)","alice",[1],["humidity","temperature"],"#00ff00"]'
	run iot-chart duplicate alice/t
	assert_equal "$(jq -r .name <<<"$output")" 't (copy 2)'
	run iot-chart duplicate alice/t --name mine
	assert_equal "$(jq -r .name <<<"$output")" mine
	# A device given away since is left out of the data.
	iot-chart device add alice/t 2 >/dev/null
	iot-device set alice/meter-1 --owner bob >/dev/null
	run iot-chart data alice/t "${RANGE[@]}"
	assert_success
	assert_equal "$(jq -sc 'map(.device_id) | unique' <<<"$output")" '[1]'
}

@test "data: raw series through lib/query, one NDJSON line a series, the points iot-query gives" {
	temp_chart
	run --separate-stderr iot-chart data alice/temps "${RANGE[@]}"
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -c '[.device_id, .device_name, .measurement, .label, .color, .unit, .aggregation, .window, (.points | length)]' <<<"${lines[0]}")" \
		'[1,"thermo-1","temperature","Temperature","#d62728","°C","none",null,9]'
	assert_equal "$(jq -c '[.label, .unit, (.points | length)]' <<<"${lines[1]}")" '["thermo-1 humidity","%",2]'
	# Oldest first; the same values iot-query's range gives.
	assert_equal "$(jq -c '.points[0]' <<<"${lines[0]}")" '{"timestamp":"2026-11-28T06:00:00+00:00","value":20.5}'
	assert_equal "$(jq -c '[.points[].value]' <<<"${lines[0]}")" \
		"$(iot-query range --device alice/thermo-1 --measurement temperature "${RANGE[@]}" --order asc | jq -sc 'map(.temperature)')"
	# Without --since: the chart's range back from now (nothing that recent).
	run iot-chart data alice/temps
	assert_equal "$(jq -sc 'map(.points | length)' <<<"$output")" '[0,0]'
	run iot-chart data alice/temps "${RANGE[@]}" --format csv
	assert_success
	assert_line --index 0 'device_id,device_name,measurement,timestamp,value,min,max,count'
	assert_equal "${#lines[@]}" 12
}

@test "data: aggregated charts have buckets with min and max, empty buckets null" {
	temp_chart --aggregation max --group-by 15m
	run --separate-stderr iot-chart data alice/temps "${RANGE[@]}"
	assert_success
	# 06:00, 06:15, 06:30 (empty), 06:45, 07:00.
	assert_equal "$(jq -c '[.aggregation, .window, [.points[] | [.timestamp[11:16], .value, .min, .max, .count]]]' <<<"${lines[0]}")" \
		'["max","900s",[["06:00",25.5,20.5,25.5,3],["06:15",26.5,21.5,26.5,3],["06:30",null,null,null,0],["06:45",26.5,21.5,26.5,2],["07:00",19,19,19,1]]]'
	# The same buckets iot-query gives.
	assert_equal "$(jq -c '[.points[].value]' <<<"${lines[0]}")" \
		"$(iot-query aggregate --device 1 --measurement temperature --fn max --window 15m "${RANGE[@]}" --fill null --order asc | jq -sc 'map(.value)')"
	# Without group_by a bucket width is chosen from the range.
	iot-chart set alice/temps --group-by '' >/dev/null
	run iot-chart data alice/temps "${RANGE[@]}"
	assert_equal "$(jq -r .window <<<"${lines[0]}")" 30s
}

@test "render: well-formed SVG with the series, their points, colours, legend and ticks; a PNG that is not blank" {
	temp_chart
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr iot-chart render alice/temps "${RANGE[@]}" --tz UTC
	assert_success
	printf '%s\n' "$output" > chart.svg
	xmllint --noout chart.svg
	assert_equal "$(svg_count chart.svg "@class='series'")" 2
	assert_equal "$(svg_attr chart.svg "@class='series'" data-points | paste -sd ' ')" '9 2'
	assert_equal "$(svg_count chart.svg "@class='point'")" 11
	# The gap from 06:25 to 06:50: the temperature line is two pieces.
	assert_equal "$(svg_attr chart.svg "@class='line'" d | head -n 1 | grep -o M | wc -l)" 2
	# The measurement's colour; the legend names both with their units.
	[[ $(svg_attr chart.svg "@class='line'" stroke | head -n 1) == '#d62728' ]]
	assert_equal "$(svg_count chart.svg "@class='swatch'")" 2
	grep -q '>Temperature (°C)</text>' chart.svg
	# Time ticks in UTC at round times; the title.
	grep -q '>06:30</text>' chart.svg
	grep -q '>Lab temperature</text>' chart.svg
	rsvg-convert -f png -o chart.png chart.svg
	(($(png_colours chart.png) >= 5))
	# Another zone moves the labels: 06:30 UTC is 08:00 at +01:30.
	run iot-chart render alice/temps "${RANGE[@]}" --tz +01:30
	[[ $output == *'>08:00</text>'* && $output != *'>06:30</text>'* ]]
	# The TZ variable's zone by default (Asia/Kolkata: +05:30 all year).
	run env TZ=Asia/Kolkata iot-chart render alice/temps "${RANGE[@]}"
	[[ $output == *'>12:00</text>'* ]]
	# Bars, scatter, and the aggregated band.
	iot-chart set alice/temps --type scatter >/dev/null
	iot-chart render alice/temps "${RANGE[@]}" > scatter.svg
	assert_equal "$(svg_count scatter.svg "@class='point'")" 11
	iot-chart set alice/temps --type bar >/dev/null
	iot-chart render alice/temps "${RANGE[@]}" > bar.svg
	xmllint --noout bar.svg
	assert_equal "$(svg_count bar.svg "@class='point' and local-name()='rect'")" 11
	iot-chart set alice/temps --type line --aggregation mean --group-by 15m >/dev/null
	iot-chart render alice/temps "${RANGE[@]}" --width 1200 --height 600 > agg.svg
	xmllint --noout agg.svg
	grep -q 'width="1200" height="600"' agg.svg
	# temperature: two runs of buckets around the empty one; humidity: two buckets apart.
	assert_equal "$(svg_count agg.svg "@class='band'")" 4
	assert_equal "$(svg_attr agg.svg "@class='series'" data-points | paste -sd ' ')" '4 2'
}

@test "render: a clear no-data state, a gauge of the latest value, a table" {
	temp_chart
	cd "$BATS_TEST_TMPDIR"
	iot-chart render alice/temps --since 2020-01-01 --until 2020-01-02 > empty.svg
	xmllint --noout empty.svg
	assert_equal "$(svg_count empty.svg "@class='no-data'")" 1
	assert_equal "$(svg_count empty.svg "@class='series'")" 0
	rsvg-convert -f png -o empty.png empty.svg
	(($(png_colours empty.png) >= 3))
	# A chart without devices has no data either.
	iot-chart add bare --owner alice >/dev/null
	iot-chart render alice/bare > bare.svg
	assert_equal "$(svg_count bare.svg "@class='no-data'")" 1
	iot-chart set alice/temps --type gauge --appearance '{"yAxisMin":0,"yAxisMax":40}' >/dev/null
	iot-chart render alice/temps "${RANGE[@]}" > gauge.svg
	xmllint --noout gauge.svg
	assert_equal "$(svg_attr gauge.svg "@class='gauge-value'" data-value)" 19
	grep -q '>19 °C</text>' gauge.svg
	rsvg-convert -f png -o gauge.png gauge.svg
	(($(png_colours gauge.png) >= 5))
	iot-chart render alice/temps --since 2020-01-01 --until 2020-01-02 > gauge-empty.svg
	assert_equal "$(svg_count gauge-empty.svg "@class='no-data'")" 1
	iot-chart set alice/temps --type table >/dev/null
	iot-chart render alice/temps "${RANGE[@]}" > table.svg
	xmllint --noout table.svg
	assert_equal "$(svg_attr table.svg "@class='series'" data-points | paste -sd ' ')" '9 2'
	grep -q '>26.5</text>' table.svg
}

@test "render: time ticks stay readable from minutes to a year" {
	temp_chart
	cd "$BATS_TEST_TMPDIR"
	local r n
	for r in "2026-11-28T06:00:00Z 2026-11-28T06:05:00Z" "2026-11-28T00:00:00Z 2026-11-29T00:00:00Z" \
		"2026-11-01T00:00:00Z 2026-11-29T00:00:00Z" "2025-11-28T00:00:00Z 2026-11-28T00:00:00Z"; do
		set -- $r
		iot-chart render alice/temps --since "$1" --until "$2" --tz UTC > ticks.svg
		xmllint --noout ticks.svg
		n=$(xmllint --xpath "count(//*[@class='axis x']/*[@class='tick'])" ticks.svg)
		((n >= 3 && n <= 12)) || { echo "range $r: $n time ticks"; return 1; }
	done
	# A year is labelled by months.
	grep -q '>Jan 2026</text>' ticks.svg
}

# The command lines of iot-chart(1)'s EXAMPLES, as a reader copies them.
page_examples() {
	awk '/^\.SH/ { on = ($2 == "EXAMPLES") } on && /^\.nf/ { nf = 1; next } on && /^\.fi/ { nf = 0 } on && nf' \
		"$IOTFLOW_ROOT/man/iot-chart.1" | sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\f[BIRP]//g'
}

@test "iot-chart(1) EXAMPLES run verbatim and draw the chart they say" {
	cd "$BATS_TEST_TMPDIR"
	# The last hours of alice's thermo-1, every 10 minutes.
	local i
	for i in $(seq 1 34); do
		echo "{\"device_id\":1,\"timestamp\":\"$(date -u -d "-$((i * 10)) min" +%FT%TZ)\",\"data\":{\"temperature\":$((18 + i % 5)).5}}"
	done | iot-ingest -q >/dev/null
	run page_examples
	assert_success
	assert_equal "${#lines[@]}" 6
	local cmd
	for cmd in "${lines[@]}"; do
		run --separate-stderr bash -c "$cmd"
		assert_equal "$cmd: $status $stderr" "$cmd: 0 "
		if [[ $cmd == 'iot-chart data '* ]]; then
			# 15-minute means of the last 6 hours: one series, about 24 buckets.
			assert_equal "$(jq -c '[.label, .unit, .aggregation, .window]' <<<"$output")" '["Temperature","C","avg","900s"]'
			(($(jq '[.points[] | select(.value != null)] | length' <<<"$output") >= 20))
		fi
	done
	xmllint --noout lab.svg
	assert_equal "$(svg_count lab.svg "@class='series'")" 1
	(($(svg_attr lab.svg "@class='series'" data-points) >= 20))
	grep -q 'width="1000" height="400"' lab.svg
	(($(png_colours lab.png) >= 5))
}

@test "PostgreSQL gone: exit 5 with the reason, and the chart is there once it is back" {
	iot-chart add t --owner alice >/dev/null
	iot_pg_stop
	run --separate-stderr env IOTFLOW_DB_RETRY_TIME=0 iot-chart show alice/t
	iot_pg_start
	assert_failure 5
	[[ $stderr == 'iot-chart: fatal: unable to connect to PostgreSQL'* ]]
	run iot-chart show alice/t
	assert_success
	assert_equal "$(jq -r .name <<<"$output")" t
}
