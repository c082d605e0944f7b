#!/usr/bin/env bats
# manpages.bats — the documentation tells the truth: every command in
# iot-ingest(1)'s EXAMPLES runs, verbatim, against real servers and does what
# the page says; every program's page lists exactly the long options of its
# --help; every page renders without warnings; the example config is valid.

# shellcheck disable=SC2154 # $output, $lines, $stderr and $status are set by bats' run
load helpers

setup_file() { stack_setup_file; migrated_template; }
teardown_file() { stack_teardown_file; }
setup() { fresh_db --migrated; }

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# roff escapes used in the pages' code, undone: what a reader copies.
unroff() {
	sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' -e 's/\\f[BIRP]//g' \
		-e 's/\\[&%]//g' -e 's/\\e/\\/g'
}

# The lines of PAGE's section SECTION.
section() { # PAGE SECTION...
	local page=$1
	shift
	awk -v want=" $* " '/^\.SH/ { s = $0; sub(/^\.SH +/, "", s); gsub(/"/, "", s) }
		index(want, " " s " ")' "$page"
}

# The command lines of PAGE's EXAMPLES: every line of its .nf/.fi displays.
examples() { # PAGE
	section "$1" EXAMPLES | awk '/^\.nf/ { nf = 1; next } /^\.fi/ { nf = 0; next } nf' |
		unroff | sed 's/^ *//'
}

INGEST_PAGE=$IOTFLOW_ROOT/man/iot-ingest.1

# Patterns naming each command of iot-ingest(1)'s EXAMPLES; one test each.
EXAMPLE_PATTERNS=(
	'^iot-ingest readings\.ndjson$'
	'^iot-ingest --dry-run readings\.ndjson$'
	'^mosquitto_sub '
	'^PATH='
	'^[0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ '
	'^iot-ingest /var/lib/iotflow/rejects\.ndjson$'
)

# The one EXAMPLES command of PAGE matching REGEX (fails unless there is exactly one).
example_in() { # PAGE REGEX
	local lines n
	lines=$(examples "$1" | grep -E -- "$2") || true
	n=$(grep -c . <<<"$lines")
	if [[ $n != 1 ]]; then
		echo "$(basename "$1") EXAMPLES: expected one command matching '$2', found $n:" >&2
		printf '%s\n' "$lines" >&2
		return 1
	fi
	printf '%s\n' "$lines"
}
example() { example_in "$INGEST_PAGE" "$1"; } # REGEX: in iot-ingest(1)

# Every EXAMPLES command of PAGE matches exactly one of the patterns after it.
examples_covered() { # PAGE PATTERN...
	local page=$1 line p n
	shift
	run examples "$page"
	assert_success
	(( ${#lines[@]} >= 5 ))
	for line in "${lines[@]}"; do
		n=0
		for p in "$@"; do
			if grep -qE -- "$p" <<<"$line"; then n=$((n + 1)); fi
		done
		[[ $n == 1 ]] || { echo "EXAMPLES command not covered by exactly one test: $line"; false; }
	done
}

# A user and an active device; sets ID and KEY.
provision() {
	echo 'manpage-passw0rd' | iot-user add docs >/dev/null
	local dev
	dev=$(iot-device add thermo-1 --owner docs)
	ID=$(jq -r .id <<<"$dev")
	KEY=$(jq -r .api_key <<<"$dev")
	NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
}

@test "iot-ingest(1) EXAMPLES: every command is one this file runs" {
	examples_covered "$INGEST_PAGE" "${EXAMPLE_PATTERNS[@]}"
}

@test "iot-ingest(1) EXAMPLES: ingest a file, and again (a replay stores nothing twice)" {
	provision
	local cmd
	cmd=$(example '^iot-ingest readings\.ndjson$')
	cd "$BATS_TEST_TMPDIR"
	printf '%s\n' "{\"device_id\":$ID,\"data\":{\"temperature\":21.5,\"humidity\":40},\"timestamp\":\"$NOW\"}" \
		'# a comment' "{\"api_key\":\"$KEY\",\"door\":\"open\",\"timestamp\":\"$NOW\"}" > readings.ndjson
	run --separate-stderr bash -c "$cmd"
	assert_success
	assert_output '{"read":3,"records":2,"points":3,"stored":3,"duplicates":0,"rejected":0}'
	assert_equal "$(q "select count(*) from telemetry_data where device_id = $ID")" 3
	assert_equal "$(q "select text_value from telemetry_latest where measurement_name = 'door'")" open
	run --separate-stderr bash -c "$cmd"
	assert_success
	assert_output '{"read":3,"records":2,"points":3,"stored":0,"duplicates":3,"rejected":0}'
	assert_equal "$(q 'select count(*) from telemetry_data')" 3
}

@test "iot-ingest(1) EXAMPLES: --dry-run checks a file and stores nothing" {
	provision
	local cmd
	cmd=$(example '^iot-ingest --dry-run readings\.ndjson$')
	cd "$BATS_TEST_TMPDIR"
	printf '%s\n' "{\"device_id\":$ID,\"data\":{\"temperature\":21.5}}" "{\"api_key\":\"$KEY\",\"rpm\":900}" > readings.ndjson
	run --separate-stderr bash -c "$cmd"
	assert_success
	assert_output '{"read":2,"records":2,"points":2,"stored":2,"duplicates":0,"rejected":0,"dry_run":true}'
	assert_equal "$(q 'select count(*) from telemetry_data')" 0
	# The page says: exit status 0 means every line would be accepted.
	echo '{"device_id":999999,"data":{"t":1}}' >> readings.ndjson
	run --separate-stderr bash -c "$cmd"
	assert_equal "$status" 1
	[[ $stderr == *"readings.ndjson:3: unknown device 999999"* ]]
	assert_equal "$(q 'select count(*) from telemetry_data')" 0
}

@test "iot-ingest(1) EXAMPLES: mosquitto_sub -F %j | iot-ingest stores what devices publish" {
	provision
	local cmd pipe
	cmd=$(example '^mosquitto_sub ')
	cd "$BATS_TEST_TMPDIR"
	# The command runs verbatim; mosquitto_sub takes the test broker's port,
	# and a timeout that ends the pipe, from its own config file.
	mkdir xdg
	printf -- '-p %s\n-W 6\n' "$IOTFLOW_MQTT_PORT" > xdg/mosquitto_sub
	XDG_CONFIG_HOME=$PWD/xdg bash -c "$cmd" > out 2> err 3>&- &
	pipe=$!
	# Published until stored: the same timestamp each time, so repeats are
	# duplicates and each message leaves exactly one row.
	for _ in $(seq 50); do
		mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$ID/telemetry" \
			-m "{\"data\":{\"temperature\":22.5},\"timestamp\":\"$NOW\"}"
		[[ $(q 'select count(*) from telemetry_data') == 1 ]] && break
		sleep 0.1
	done
	for _ in $(seq 50); do
		mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$ID/telemetry/sensors" \
			-m "{\"api_key\":\"$KEY\",\"rpm\":1200,\"timestamp\":\"$NOW\"}"
		[[ $(q 'select count(*) from telemetry_data') == 2 ]] && break
		sleep 0.1
	done
	local rc=0
	wait "$pipe" || rc=$?
	assert_equal "$rc" 0 # iot-ingest's status: mosquitto_sub's -W timeout ended the pipe
	assert_equal "$(q "select string_agg(measurement_name, ',' order by measurement_name) from telemetry_data where device_id = $ID")" rpm,temperature
	run cat out
	assert_output --regexp '^\{"read":[0-9]+,"records":[0-9]+,"points":[0-9]+,"stored":2,"duplicates":[0-9]+,"rejected":0\}$'
}

@test "iot-ingest(1) EXAMPLES: the crontab stores, keeps rejects and metrics; fixed rejects feed back" {
	provision
	local path_line cron_line cmd feed
	path_line=$(example '^PATH=')
	cron_line=$(example '^[0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ ')
	feed=$(example '^iot-ingest /var/lib/iotflow/rejects\.ndjson$')
	[[ $path_line == PATH=*/usr/local/bin* ]]
	# What cron runs: the line without its schedule, by /bin/sh. The page's
	# /var paths live under a scratch root here; iot-ingest comes from this
	# tree (helpers put bin/ first on PATH), not from /usr/local/bin.
	cmd=$(cut -d ' ' -f 6- <<<"$cron_line")
	local root=$BATS_TEST_TMPDIR/root
	cmd=${cmd//\/var\//$root/var/}
	feed=${feed//\/var\//$root/var/}
	mkdir -p "$root/var/lib/iotflow" "$root/var/lib/prometheus/node-exporter" "$root/var/spool/iotflow"
	local spool=$root/var/spool/iotflow/gateway.ndjson.1
	printf '%s\n' \
		"{\"device_id\":$ID,\"data\":{\"temperature\":20.5},\"timestamp\":\"$NOW\"}" \
		"{\"device_id\":999999,\"data\":{\"pressure\":1013.2},\"timestamp\":\"$NOW\"}" \
		"{\"device_id\":$ID,\"data\":{\"humidity\":NaN},\"timestamp\":\"$NOW\"}" \
		"{\"api_key\":\"$KEY\",\"battery\":97,\"timestamp\":\"$NOW\"}" > "$spool"

	run --separate-stderr sh -c "$cmd"
	assert_equal "$status" 1 # some lines rejected
	assert_output ''         # the summary went to /dev/null
	assert_equal "$stderr" '' # -q: cron mails nothing for rejected lines
	assert_equal "$(q 'select count(*) from telemetry_data')" 2
	run cat "$root/var/lib/iotflow/rejects.ndjson"
	assert_line --index 0 "# $spool:2: unknown device 999999"
	assert_line --index 1 "{\"device_id\":999999,\"data\":{\"pressure\":1013.2},\"timestamp\":\"$NOW\"}"
	assert_line --index 2 --regexp "^# $spool:3: invalid JSON at column [0-9]+: invalid token near 'NaN'\$"
	assert_line --index 3 "{\"device_id\":$ID,\"data\":{\"humidity\":NaN},\"timestamp\":\"$NOW\"}"
	run cat "$root/var/lib/prometheus/node-exporter/iot_ingest.prom"
	assert_line 'iotflow_ingest_points_stored_total 2'
	assert_line 'iotflow_ingest_lines_rejected_total 2'
	assert_line '# TYPE iotflow_ingest_queued_points gauge'

	# Fixed by hand (here: by sed), then fed back as the page says.
	sed -i -e "s/999999/$ID/" -e 's/NaN/55/' "$root/var/lib/iotflow/rejects.ndjson"
	run --separate-stderr bash -c "$feed"
	assert_success
	assert_output '{"read":4,"records":2,"points":2,"stored":2,"duplicates":0,"rejected":0}'
	assert_equal "$(q 'select count(*) from telemetry_data')" 4
}

# run_server CMD: CMD (with the page's port 5000 made a spare one) in the
# background until /health answers; another port when the first was taken
# meanwhile (the server then exits at once). Sets port and pid.
run_server() {
	local try
	for try in 1 2 3 4 5; do
		port=$(_iot_pick_port)
		bash -c "${1//5000/$port}" 2>"$BATS_TEST_TMPDIR/log" 3>&- &
		pid=$!
		for _ in $(seq 250); do
			curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return 0
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && break
		wait "$pid" || true
	done
	echo "the server did not come up:"; cat "$BATS_TEST_TMPDIR/log"
	return 1
}

@test "iot-httpd(8) EXAMPLES: serve, post a reading, follow and export it, ask for health, socket activation" {
	local page=$IOTFLOW_ROOT/man/iot-httpd.8 cmds serve post stream export health activate port pid
	cmds=$(examples "$page")
	(( $(grep -c . <<<"$cmds") == 6 )) || { echo "iot-httpd(8) EXAMPLES changed:"; echo "$cmds"; false; }
	serve=$(grep -E '^iot-httpd --listen ' <<<"$cmds")
	post=$(grep -E '^curl .*/api/v1/telemetry$' <<<"$cmds")
	health=$(grep -E '^curl .*/health' <<<"$cmds")
	activate=$(grep -E '^systemd-socket-activate ' <<<"$cmds")
	provision
	# The page's port 5000 is this test's spare port.
	run_server "$serve"
	run env KEY="$KEY" bash -c "${post//5000/$port}"
	assert_success
	assert_equal "$(jq -r '.message, .device_name' <<<"$output")" "Telemetry data stored successfully
thermo-1"
	assert_equal "$(q 'select numeric_value from telemetry_data')" 22.5
	# The stream shows the next reading; the export downloads both as a CSV file.
	stream=$(grep -E '^curl .*/stream$' <<<"$cmds")
	export=$(grep -E '^curl .*/export' <<<"$cmds")
	stream=${stream//5000/$port}
	export=${export//5000/$port}
	local token
	token=$(iot-user token create docs manpage | jq -r .token)
	TOKEN=$token bash -c "${stream//\/7\//\/$ID\/}" > "$BATS_TEST_TMPDIR/events" 3>&- &
	local spid=$! i
	for i in $(seq 250); do grep -q '^: connected' "$BATS_TEST_TMPDIR/events" && break; sleep 0.02; done
	run env KEY="$KEY" bash -c "${post//5000/$port}"
	for i in $(seq 250); do grep -q '^data: ' "$BATS_TEST_TMPDIR/events" && break; sleep 0.02; done
	kill "$spid"
	run grep -c '"temperature":22.5' "$BATS_TEST_TMPDIR/events"
	assert_equal "$output" 1
	run env TOKEN="$token" bash -c "cd '$BATS_TEST_TMPDIR' && ${export//\/7\//\/$ID\/} && cat telemetry-$ID-*.csv"
	assert_success
	assert_equal "$(grep -c ',temperature,number,22.5,' <<<"$output")" 2
	run bash -c "${health//5000/$port}"
	assert_equal "$(jq -r .status <<<"$output")" healthy
	kill -TERM "$pid"
	wait "$pid"
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
	local envs=() v
	for v in PGHOST PGPORT PGUSER PGDATABASE IOTFLOW_REDIS_URL IOTFLOW_CONFIG; do envs+=(-E "$v"); done
	run_server "${activate/systemd-socket-activate /systemd-socket-activate ${envs[*]} }"
	run bash -c "${health//5000/$port}"
	assert_equal "$(jq -r .status <<<"$output")" healthy
	kill -TERM "$pid"
	wait "$pid"
}

@test "iot-mqtt-listen(8) EXAMPLES: listen, publish a reading with its key, print into iot-ingest" {
	local page=$IOTFLOW_ROOT/man/iot-mqtt-listen.8 cmds listen publish pipe pid log=$BATS_TEST_TMPDIR/log
	cmds=$(examples "$page")
	(( $(grep -c . <<<"$cmds") == 3 )) || { echo "iot-mqtt-listen(8) EXAMPLES changed:"; echo "$cmds"; false; }
	listen=$(grep -E '^IOTFLOW_MQTT_URL=mqtt://127.0.0.1:1883 iot-mqtt-listen$' <<<"$cmds")
	publish=$(grep -E '^mosquitto_pub ' <<<"$cmds")
	pipe=$(grep -E '^iot-mqtt-listen --print \| iot-ingest$' <<<"$cmds")
	provision
	assert_equal "$ID" 1 # the page's device 1
	# The page's port 1883 is this test's broker; its sessions are this test's own.
	# (bash runs a lone simple command in its own process: $pid is the listener.)
	bash -c "${listen//1883/$IOTFLOW_MQTT_PORT} --client-id docs$RANDOM" 2>"$log" 3>&- &
	pid=$!
	for _ in $(seq 100); do grep -q connected "$log" && break; sleep 0.1; done
	run env KEY="$KEY" bash -c "${publish/-h 127.0.0.1/-h 127.0.0.1 -p $IOTFLOW_MQTT_PORT}"
	assert_success
	for _ in $(seq 100); do [[ $(q 'select count(*) from telemetry_data') == 1 ]] && break; sleep 0.1; done
	assert_equal "$(q 'select numeric_value from telemetry_data')" 22.5
	kill -TERM "$pid"
	wait "$pid"
	# --print into iot-ingest: the same reading, stored by iot-ingest.
	fresh_db --migrated
	provision
	: >"$log"
	IOTFLOW_MQTT_URL=mqtt://127.0.0.1:$IOTFLOW_MQTT_PORT bash -c "${pipe/--print/--print --client-id docs$RANDOM}" \
		>"$BATS_TEST_TMPDIR/summary" 2>"$log" 3>&- &
	pid=$!
	for _ in $(seq 100); do grep -q connected "$log" && break; sleep 0.1; done
	run env KEY="$KEY" bash -c "${publish/-h 127.0.0.1/-h 127.0.0.1 -p $IOTFLOW_MQTT_PORT}"
	assert_success
	for _ in $(seq 100); do [[ $(q 'select count(*) from telemetry_data') == 1 ]] && break; sleep 0.1; done
	pkill -TERM -P "$pid" -x iot-mqtt-listen
	wait "$pid"
	assert_equal "$(q 'select numeric_value from telemetry_data')" 22.5
	assert_equal "$(jq -r .stored "$BATS_TEST_TMPDIR/summary")" 1
}

QUERY_PAGE=$IOTFLOW_ROOT/man/iot-query.1
QUERY_PATTERNS=(
	'^iot-query range '
	'^iot-query --format table latest '
	'^iot-query lastpoint '
	'^iot-query aggregate '
	'^iot-query export .*\| iot-ingest '
	'^iot-query follow '
	'^PATH='
	'^[0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ '
)

# alice's thermo-1 (ID) with points 10 and 30 minutes, 3 hours and (at noon
# UTC) a day ago; sets ID.
query_data() {
	echo 'manpage-passw0rd' | iot-user add alice >/dev/null
	ID=$(iot-device add thermo-1 --owner alice | jq -r .id)
	local t now t10
	# One clock reading: the humidity must share the temperature's second
	# (read twice, the clock may pass a second in between).
	now=$(date -u +%s)
	t10=$(date -u -d "@$((now - 600))" +%Y-%m-%dT%H:%M:%SZ)
	for t in "$t10|21.5" "@$((now - 1800))|21" "@$((now - 10800))|19.5" 'yesterday 12:00|18.25'; do
		[[ $t == @* || $t == yesterday* ]] && t="$(date -u -d "${t%|*}" +%Y-%m-%dT%H:%M:%SZ)|${t#*|}"
		printf '{"device_id":%s,"timestamp":"%s","data":{"temperature":%s}}\n' "$ID" "${t%|*}" "${t#*|}"
	done | iot-ingest -q >/dev/null
	printf '{"device_id":%s,"timestamp":"%s","data":{"humidity":40}}\n' "$ID" "$t10" | iot-ingest -q >/dev/null
}

@test "iot-query(1) EXAMPLES: every command is one this file runs" {
	examples_covered "$QUERY_PAGE" "${QUERY_PATTERNS[@]}"
}

@test "iot-query(1) EXAMPLES: the last hour, the latest values, the user's devices" {
	query_data
	run --separate-stderr bash -c "$(example_in "$QUERY_PAGE" '^iot-query range ')"
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -c '[.temperature, .humidity]' <<<"$output" | paste -sd' ' -)" '[21.5,40] [21,null]'
	run --separate-stderr bash -c "$(example_in "$QUERY_PAGE" '^iot-query --format table latest ')"
	assert_success
	assert_line --index 0 --regexp '^device_id +measurement +value +timestamp$'
	assert_line --index 1 --regexp "^$ID +humidity +40.0 +20[0-9-]+T[0-9:]+\+00:00\$"
	assert_line --index 2 --regexp "^$ID +temperature +21.5 +20[0-9-]+T[0-9:]+\+00:00\$"
	run --separate-stderr bash -c "$(example_in "$QUERY_PAGE" '^iot-query lastpoint ')"
	assert_success
	assert_equal "$(jq -c '[.device_id, .device_name, .latest_data]' <<<"$output")" "[$ID,\"thermo-1\",{\"humidity\":40,\"temperature\":21.5}]"
}

@test "iot-query(1) EXAMPLES: hourly means of the last day, empty hours null" {
	query_data
	run --separate-stderr bash -c "$(example_in "$QUERY_PAGE" '^iot-query aggregate ')"
	assert_success
	assert_equal "${#lines[@]}" 25
	# The buckets with points: their counts and means, as the points say.
	local want
	want=$(q "SELECT string_agg(json_build_array(n, m)::text, ' ' ORDER BY b DESC) FROM (
	  SELECT date_bin('1 hour', ts, timestamptz 'epoch') b, count(*) n, avg(numeric_value) m FROM telemetry_data
	  WHERE measurement_name = 'temperature' AND ts >= now() - interval '24 hours' GROUP BY 1) x" | tr -d ' ' | sed 's/\]\[/] [/g')
	assert_equal "$(jq -c 'select(.count > 0) | [.count, .value]' <<<"$output" | paste -sd' ' -)" "$want"
	assert_equal "$(jq -c 'select(.count == 0) | .value' <<<"$output" | sort -u)" null
}

@test "iot-query(1) EXAMPLES: export the last week into another database" {
	query_data
	local src=$PGDATABASE
	# iotflow_copy: the same devices, no telemetry.
	psql -XAtq -d postgres -c 'DROP DATABASE IF EXISTS iotflow_copy' -c "CREATE DATABASE iotflow_copy TEMPLATE $src"
	psql -XAtq -d iotflow_copy -c 'TRUNCATE telemetry_data, telemetry_latest, telemetry_hourly'
	run --separate-stderr bash -c "$(example_in "$QUERY_PAGE" '^iot-query export .*\| iot-ingest ')"
	assert_success
	assert_output '{"read":5,"records":5,"points":5,"stored":5,"duplicates":0,"rejected":0}'
	local cols="device_id, measurement_name, ts, numeric_value"
	assert_equal "$(psql -XAt -d iotflow_copy -c "SELECT $cols FROM telemetry_data ORDER BY 1, 2, 3")" \
		"$(q "SELECT $cols FROM telemetry_data ORDER BY 1, 2, 3")"
}

@test "iot-query(1) EXAMPLES: follow a device's temperature as it arrives" {
	query_data
	local out=$BATS_TEST_TMPDIR/follow.out pid _
	bash -c "exec $(example_in "$QUERY_PAGE" '^iot-query follow ')" > "$out" 3>&- &
	pid=$!
	for _ in $(seq 100); do
		[[ $(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'iot-query' AND state = 'idle' AND query LIKE '%FROM telemetry_latest%'") == 1 ]] && break
		sleep 0.05
	done
	printf '{"device_id":%s,"data":{"temperature":25.5,"humidity":41}}\n' "$ID" | iot-ingest -q >/dev/null
	for _ in $(seq 100); do
		[[ -s $out ]] && break
		sleep 0.02
	done
	kill -INT "$pid"
	wait "$pid"
	run cat "$out"
	assert_output --regexp "^\\{\"device_id\":$ID,\"timestamp\":\"[0-9T:.+-]+\",\"data\":\\{\"temperature\":25.5\\}\\}\$"
}

@test "iot-query(1) EXAMPLES: the crontab writes yesterday's points as CSV" {
	# Not query_data: its "-3 hours" points fall on yesterday between
	# midnight and 03:00 UTC. A point of yesterday and one of now (always today).
	echo 'manpage-passw0rd' | iot-user add alice >/dev/null
	ID=$(iot-device add thermo-1 --owner alice | jq -r .id)
	printf '{"device_id":%s,"timestamp":"%s","data":{"temperature":%s}}\n' \
		"$ID" "$(date -u -d 'yesterday 12:00' +%Y-%m-%dT%H:%M:%SZ)" 18.25 \
		"$ID" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" 21.5 | iot-ingest -q >/dev/null
	local path_line cron_line cmd root=$BATS_TEST_TMPDIR/root day
	path_line=$(example_in "$QUERY_PAGE" '^PATH=')
	cron_line=$(example_in "$QUERY_PAGE" '^[0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ [0-9*]+ ')
	[[ $path_line == PATH=*/usr/local/bin* ]]
	# What cron runs: the line without its schedule, each \% a %, by /bin/sh;
	# /var lives under a scratch root, iot-query comes from this tree.
	cmd=$(cut -d ' ' -f 6- <<<"$cron_line")
	cmd=${cmd//\\%/%}
	cmd=${cmd//\/var\//$root/var/}
	mkdir -p "$root/var/lib/iotflow/export"
	run --separate-stderr sh -c "$cmd"
	assert_success
	assert_equal "$stderr" ''
	day=$(date -u -d yesterday +%F)
	run cat "$root/var/lib/iotflow/export/$day.csv"
	assert_output "device_id,timestamp,measurement,type,value,metadata
$ID,${day}T12:00:00+00:00,temperature,number,18.25,"
}

# The long options a page documents (SYNOPSIS and OPTIONS) against --help.
page_options() { section "$1" SYNOPSIS OPTIONS | unroff | grep -oE -- '--[a-z][a-z-]*' | sort -u; }
help_options() { "$IOTFLOW_ROOT/bin/$1" --help | grep -oE -- '--[a-z][a-z-]*' | sort -u; }

check_page() { # PROGRAM
	local prog=$1 page=$IOTFLOW_ROOT/man/$1.1
	[[ -f $page ]] || page=$IOTFLOW_ROOT/man/$1.8 # daemons
	[[ -f $page ]] || skip "man/$prog.1 does not exist yet"
	[[ -x $IOTFLOW_ROOT/bin/$prog ]] || { echo "man/$prog.1 documents $prog, which is not built"; return 1; }
	run --separate-stderr "$IOTFLOW_ROOT/bin/$prog" --help
	assert_success
	# diff: "<" only on the page, ">" only in --help.
	run diff <(page_options "$page") <(help_options "$prog")
	assert_success
	[[ $(help_options "$prog" | wc -l) -ge 3 ]]
	# The page is about this version.
	local version
	version=$("$IOTFLOW_ROOT/bin/$prog" --version | awk '{ print $NF }')
	head -n 1 "$page" | grep -qF "\"IoTFlow $version\"" ||
		{ echo "man/$prog.1: .TH does not say IoTFlow $version"; return 1; }
}

@test "man/iot-ingest.1 documents exactly iot-ingest --help's options" { check_page iot-ingest; }
@test "man/iot-migrate.1 documents exactly iot-migrate --help's options" { check_page iot-migrate; }
@test "man/iot-user.1 documents exactly iot-user --help's options" { check_page iot-user; }
@test "man/iot-device.1 documents exactly iot-device --help's options" { check_page iot-device; }
@test "man/iot-httpd.8 documents exactly iot-httpd --help's options" { check_page iot-httpd; }
@test "man/iot-query.1 documents exactly iot-query --help's options" { check_page iot-query; }
@test "man/iot-mqtt-listen.8 documents exactly iot-mqtt-listen --help's options" { check_page iot-mqtt-listen; }

@test "every man/iot-*.1 page is a built program's and documents exactly its options" {
	local page checked=0
	for page in "$IOTFLOW_ROOT"/man/iot-*.1; do
		[[ -f $page ]] || continue
		check_page "$(basename "$page" .1)"
		checked=$((checked + 1))
	done
	((checked >= 2))
}

@test "every page renders without warnings" {
	local page out checked=0
	command -v man >/dev/null || command -v groff >/dev/null ||
		skip "neither man (man-db) nor groff is installed"
	for page in "$IOTFLOW_ROOT"/man/*.1 "$IOTFLOW_ROOT"/man/*.7 "$IOTFLOW_ROOT"/man/*.8; do
		[[ -f $page ]] || continue
		if command -v man >/dev/null; then
			out=$(LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat man --warnings -l "$page" 2>&1 >/dev/null)
			[[ -z $out ]] || { echo "man -l ${page#"$IOTFLOW_ROOT"/}:"; echo "$out"; return 1; }
			out=$(LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat man -l "$page" 2>/dev/null)
			[[ $out == *NAME* && $out == *SYNOPSIS* || $page == *.7 ]] ||
				{ echo "${page#"$IOTFLOW_ROOT"/}: no NAME/SYNOPSIS in the rendered page"; return 1; }
		fi
		if command -v groff >/dev/null; then
			out=$(groff -z -ww -man "$page" 2>&1)
			[[ -z $out ]] || { echo "groff -ww ${page#"$IOTFLOW_ROOT"/}:"; echo "$out"; return 1; }
		fi
		checked=$((checked + 1))
	done
	((checked >= 2))
}

@test "iotflow(7) names every setting of lib/base/config.c with its variable" {
	local page=$IOTFLOW_ROOT/man/iotflow.7 key env n=0
	[[ -f $page ]]
	while read -r key env; do
		n=$((n + 1))
		section "$page" CONFIGURATION | unroff | grep -qE "^\.BR $key \" \(\" $env \)" ||
			{ echo "iotflow(7): setting $key ($env) missing"; return 1; }
		grep -qE "^$key = |^#$key = " "$IOTFLOW_ROOT/contrib/iotflow.conf.example" ||
			{ echo "contrib/iotflow.conf.example: setting $key missing"; return 1; }
	done < <(sed -n 's/^\t{ "\([a-z_]*\)", *"\(IOTFLOW_[A-Z_]*\)".*/\1 \2/p' "$IOTFLOW_ROOT/lib/base/config.c")
	# The table was found and read (a moved file must not make this pass vacuously).
	((n >= 10))
}

@test "contrib/iotflow.conf.example is a valid config file, secrets included" {
	local conf=$IOTFLOW_ROOT/contrib/iotflow.conf.example
	run --separate-stderr iot-migrate --config "$conf" status
	assert_success
	# With every commented-out setting switched on, it still parses: the
	# program gets as far as connecting (to the example's database, which is
	# not there: exit 5, not 2).
	sed -E 's/^#(database|redis_url|mqtt_url|key_pepper|sql_dir) = /\1 = /' "$conf" > "$BATS_TEST_TMPDIR/all.conf"
	run --separate-stderr env IOTFLOW_DB_RETRY_TIME=0 iot-migrate --config "$BATS_TEST_TMPDIR/all.conf" status
	assert_equal "$status" 5
	[[ $stderr == *"unable to connect to PostgreSQL"* ]]
}

# The name(N) references to IoTFlow's own pages in FILE (a page, or README.md):
# iot-*(N), iotflow(7) and iotflow-*(N).
own_refs() { # FILE
	unroff < "$1" | sed -E 's/^\.B[IR]? +([^ ]+) +\(([0-9])\).*/\1(\2)/' |
		grep -oE '(^|[^A-Za-z0-9_.-])(iot-[a-z0-9-]+|iotflow(-[a-z0-9-]+)?)\([0-9]\)' | sed -E 's/^[^a-z]//'
}

@test "every iot-*(N) and iotflow(N) that man/ and README.md name is a page in man/" {
	local f ref name sec link n=0 bad=()
	for f in "$IOTFLOW_ROOT"/man/*.[178] "$IOTFLOW_ROOT/README.md"; do
		while read -r ref; do
			n=$((n + 1))
			name=${ref%(*} sec=${ref#*(}
			[[ -f $IOTFLOW_ROOT/man/$name.${sec%)} ]] || bad+=("${f#"$IOTFLOW_ROOT"/}: $ref")
		done < <(own_refs "$f")
	done
	# README's links to the pages too.
	while read -r link; do
		n=$((n + 1))
		[[ -f $IOTFLOW_ROOT/$link ]] || bad+=("README.md: link to $link")
	done < <(grep -oE '\]\(man/[^)]+\)' "$IOTFLOW_ROOT/README.md" | sed -E 's/^\]\((.*)\)$/\1/')
	((${#bad[@]} == 0)) || { echo "no such page:"; printf '  %s\n' "${bad[@]}"; return 1; }
	((n >= 20)) # the references were found (a changed markup must not make this pass vacuously)
}

@test "every program's page says a password in --db shows in ps(1), and names the safe ways" {
	local page text want n=0
	for page in "$IOTFLOW_ROOT"/man/iot-*.[18]; do
		n=$((n + 1))
		# The --db item of OPTIONS, as one line.
		text=$(section "$page" OPTIONS | unroff |
			awk '/--db/ { on = 1; print; next } on && /^\.(TP|PP|SH|SS)/ { exit } on' | tr '\n' ' ')
		for want in 'ps(1)' '~/.pgpass' PGPASSFILE 'database setting' 'mode 0600' IOTFLOW_DATABASE_URL; do
			[[ $text == *"$want"* ]] || { echo "${page##*/}: --db does not mention '$want': $text"; return 1; }
		done
	done
	((n >= 4))
}

# The commands --help lists ("  up   apply ...", "  token create USER NAME"):
# the lower-case words before the first argument or the description.
help_commands() {
	"$IOTFLOW_ROOT/bin/$1" --help | sed -n '/^Commands:/,/^$/p' | grep -E '^  [a-z]' |
		sed -E 's/^  //; s/  .*//' | awk '{ c = ""; for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) c = c (c ? " " : "") $i; print c }' |
		sort -u
}
# The tags of PAGE's COMMANDS section (the line after each .TP), one command
# a line: "list, show USER" gives "list" and "show USER".
page_command_tags() {
	section "$1" COMMANDS | awk 'prev == ".TP" { print } { prev = $0 }' |
		sed -E 's/^\.(B|BI|BR|I|IR) //' | unroff | tr -d '"' | sed 's/, /\n/g'
}

@test "every command of iot-migrate and iot-user --help has its own entry in the page's COMMANDS" {
	local prog cmd tags n=0
	for prog in iot-migrate iot-user; do
		tags=$(page_command_tags "$IOTFLOW_ROOT/man/$prog.1")
		while read -r cmd; do
			# A tag is the command, then its arguments or nothing.
			grep -qE "^$cmd( |\$)" <<<"$tags" ||
				{ echo "man/$prog.1: '$cmd' has no .TP entry in COMMANDS; the tags are:"; echo "$tags"; return 1; }
			n=$((n + 1))
		done < <(help_commands "$prog")
	done
	((n >= 20))
}
