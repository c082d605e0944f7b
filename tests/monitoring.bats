#!/usr/bin/env bats
# monitoring.bats — contrib/prometheus and contrib/grafana against the real
# things: promtool checks and unit-tests the rules; a real Prometheus
# (Debian's, its own instance on a spare port, data under the test's
# directory, never the system service) scrapes a real iot-httpd and
# iot-mqtt-listen through a copy of contrib/prometheus/prometheus.yml that
# differs only in its targets, and sees their metrics and loads the rules,
# and with PostgreSQL stopped holds the database alert pending;
# every SQL query of the Grafana dashboard runs, its macros expanded as
# Grafana does (tests/grafana-sql), against a migrated database with
# telemetry, as the read-only role of contrib/grafana/grafana-reader.sql,
# and returns the rows computed here from the same input; `make run`
# (scripts/run.sh) starts Prometheus and stops it with the rest.

# shellcheck disable=SC2154 # $output, $lines and $status are set by bats' run
# shellcheck disable=SC2034 # HTTPD_PID and PORT belong to httpd_lib.bash
load helpers
load httpd_lib

setup_file() { stack_setup_file; migrated_template; }
teardown_file() { stack_teardown_file; }
setup() {
	fresh_db --migrated
	HTTPD_PID= LPID= PROM_PID= RUN_PID= RUN_STATE= PG_STOPPED=0
}

PROM_DIR=$IOTFLOW_ROOT/contrib/prometheus
GRAFANA_DIR=$IOTFLOW_ROOT/contrib/grafana
DASHBOARD=$GRAFANA_DIR/dashboards/iotflow.json

teardown_extra() {
	local p
	if ((PG_STOPPED)); then iot_pg_start; fi
	for p in "$PROM_PID" "$LPID" "$RUN_PID"; do
		[[ -n $p ]] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	if [[ -n $RUN_STATE ]]; then iot_stack_rm "$RUN_STATE" >/dev/null 2>&1 || true; fi
	return 0
}

need() { command -v "$1" >/dev/null || skip "$1 is not installed (Debian package ${2:-$1})"; }

# YAML FILE as JSON, with the YAML reader that comes with Perl
# (CPAN::Meta::YAML: block style, which the provisioning files keep to).
yaml2json() {
	perl -MCPAN::Meta::YAML -MJSON::PP -e '
		my $y = CPAN::Meta::YAML->read($ARGV[0]) or die CPAN::Meta::YAML->errstr, "\n";
		print JSON::PP->new->canonical->encode($y->[0]), "\n"' "$1"
}

# ---- Prometheus ----

@test "contrib/prometheus: promtool check config and check rules accept prometheus.yml and iotflow-alerts.yml" {
	need promtool prometheus
	run promtool check config "$PROM_DIR/prometheus.yml"
	assert_success
	assert_output --partial 'SUCCESS: 1 rule files found'
	run promtool check rules "$PROM_DIR/iotflow-alerts.yml"
	assert_success
	# Every rule has a severity, a summary and a description.
	local n
	n=$(grep -c '^      - alert: ' "$PROM_DIR/iotflow-alerts.yml")
	assert_output --partial "SUCCESS: $n rules found"
	((n >= 10))
	assert_equal "$(grep -c '^          severity: \(critical\|warning\)$' "$PROM_DIR/iotflow-alerts.yml")" "$n"
	assert_equal "$(grep -c '^          summary: ' "$PROM_DIR/iotflow-alerts.yml")" "$n"
	assert_equal "$(grep -c '^          description: ' "$PROM_DIR/iotflow-alerts.yml")" "$n"
}

@test "contrib/prometheus: promtool test rules: stall, database-down and the other alerts fire on synthetic series, and stay quiet otherwise" {
	need promtool prometheus
	cd "$PROM_DIR"
	run promtool test rules iotflow-alerts.test.yml
	assert_success
	assert_output --partial SUCCESS
	# The test file covers at least these alerts.
	local a
	for a in IotflowIngestStalled IotflowDatabaseUnavailable IotflowTargetDown IotflowCommitLatencyHigh \
		IotflowIngestBacklogStuck IotflowMqttTelemetryNotStored IotflowTelemetryUnavailable; do
		grep -q "alertname: $a\$" iotflow-alerts.test.yml || { echo "no test of $a"; return 1; }
	done
}

@test "contrib/prometheus: the test file fails when an alert that should fire does not (the unit test can fail)" {
	need promtool prometheus
	# The same rules with the database-down alert made unreachable.
	cp "$PROM_DIR/iotflow-alerts.test.yml" "$BATS_TEST_TMPDIR/"
	sed 's/expr: iotflow_http_writer_up == 0$/expr: iotflow_http_writer_up == 2/' \
		"$PROM_DIR/iotflow-alerts.yml" > "$BATS_TEST_TMPDIR/iotflow-alerts.yml"
	run ! cmp -s "$PROM_DIR/iotflow-alerts.yml" "$BATS_TEST_TMPDIR/iotflow-alerts.yml"
	cd "$BATS_TEST_TMPDIR"
	run promtool test rules iotflow-alerts.test.yml
	assert_failure
	assert_output --partial 'alertname: IotflowDatabaseUnavailable'
}

@test "scripts/prometheus-conf.sh: the contrib config with only its targets (and intervals) changed" {
	need promtool prometheus
	local out=$BATS_TEST_TMPDIR/prom
	run "$IOTFLOW_ROOT/scripts/prometheus-conf.sh" "$out" 127.0.0.1:15000 127.0.0.1:19101 1s
	assert_success
	run diff "$PROM_DIR/prometheus.yml" "$out/prometheus.yml"
	assert_failure
	# Changed lines only: the two targets and the two intervals.
	assert_equal "$(grep -c '^[<>]' <<<"$output")" 8
	assert_line ">       - targets: ['127.0.0.1:15000']"
	assert_line ">       - targets: ['127.0.0.1:19101']"
	assert_line ">   scrape_interval: 1s"
	assert_line ">   evaluation_interval: 1s"
	cmp "$PROM_DIR/iotflow-alerts.yml" "$out/iotflow-alerts.yml"
	run promtool check config "$out/prometheus.yml"
	assert_success
	run "$IOTFLOW_ROOT/scripts/prometheus-conf.sh" "$out" 'a b:1' 127.0.0.1:2
	assert_failure 2
}

# start_listener: iot-mqtt-listen on the test broker with its metrics on a
# spare port; sets MPORT and LPID.
start_listener() {
	local try i
	for try in 1 2 3 4 5; do
		MPORT=$(_iot_pick_port)
		iot-mqtt-listen --client-id "mon-$BATS_TEST_NUMBER-$RANDOM" --metrics-listen "127.0.0.1:$MPORT" \
			> /dev/null 2> "$BATS_TEST_TMPDIR/listen.log" 3>&- &
		LPID=$!
		for ((i = 0; i < 200; i++)); do
			curl -sf -m 2 -o /dev/null "http://127.0.0.1:$MPORT/metrics" && return 0
			kill -0 "$LPID" 2>/dev/null || break
			sleep 0.05
		done
		grep -qi 'in use' "$BATS_TEST_TMPDIR/listen.log" || break
	done
	echo "iot-mqtt-listen did not come up:"
	cat "$BATS_TEST_TMPDIR/listen.log"
	return 1
}

# start_prometheus DIR: prometheus with DIR/prometheus.yml on a spare port,
# its data in the test's directory; sets PROM (its URL) and PROM_PID.
start_prometheus() {
	local try i log=$BATS_TEST_TMPDIR/prometheus.log
	for try in 1 2 3 4 5; do
		PROM=http://127.0.0.1:$(_iot_pick_port)
		prometheus --config.file="$1/prometheus.yml" --storage.tsdb.path="$BATS_TEST_TMPDIR/prom-data" \
			--web.listen-address="${PROM#http://}" --log.level=warn > "$log" 2>&1 3>&- &
		PROM_PID=$!
		for ((i = 0; i < 300; i++)); do
			curl -sf -m 2 -o /dev/null "$PROM/-/ready" && return 0
			kill -0 "$PROM_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -q 'address already in use' "$log" || break
		wait "$PROM_PID" || true
	done
	echo "prometheus did not come up:"
	cat "$log"
	return 1
}

# promq QUERY: the result vector of an instant query, one "job value" line
# per series (sorted).
promq() {
	curl -sf -m 5 --data-urlencode "query=$1" "$PROM/api/v1/query" |
		jq -r '.data.result[] | "\(.metric.job // "-") \(.value[1])"' | sort
}

# wait_prom QUERY EXPECTED [SECONDS]: until promq QUERY prints EXPECTED.
wait_prom() {
	local i got
	for ((i = 0; i < ${3:-30} * 5; i++)); do
		got=$(promq "$1") || got=
		[[ $got == "$2" ]] && return 0
		sleep 0.2
	done
	echo "Prometheus: $1 gave"
	echo "$got"
	echo "expected"
	echo "$2"
	curl -s "$PROM/api/v1/targets" | jq -c '.data.activeTargets[] | [.labels.job, .health, .lastError]'
	return 1
}

@test "Prometheus scrapes iot-httpd and iot-mqtt-listen through contrib/prometheus/prometheus.yml: up is 1, stored points are seen, the rules load" {
	need prometheus
	need mosquitto_pub mosquitto-clients
	echo 's3cret-passw0rd' | iot-user add mon > /dev/null
	local dev id key
	dev=$(iot-device add probe --owner mon)
	id=$(jq .id <<<"$dev") key=$(jq -r .api_key <<<"$dev")
	start_httpd
	start_listener
	"$IOTFLOW_ROOT/scripts/prometheus-conf.sh" "$BATS_TEST_TMPDIR/prom" "127.0.0.1:$PORT" "127.0.0.1:$MPORT" 1s
	start_prometheus "$BATS_TEST_TMPDIR/prom"

	wait_prom 'up' "iot-httpd 1
iot-mqtt-listen 1"
	# Points in over HTTP and over MQTT; the daemons' counters, through Prometheus.
	run post "$key" '{"data":{"a":1,"b":2,"c":3}}'
	assert_output --regexp '^201 '
	mosquitto_pub -h 127.0.0.1 -p "$IOTFLOW_MQTT_PORT" -q 1 -t "iotflow/devices/$id/telemetry" \
		-m "{\"api_key\":\"$key\",\"data\":{\"t\":21.5}}"
	wait_prom 'iotflow_http_points_stored_total' 'iot-httpd 3'
	wait_prom 'iotflow_mqtt_points_stored_total' 'iot-mqtt-listen 1'
	wait_prom 'sum by (job) (iotflow_ingest_points_stored_total)' "iot-httpd 3
iot-mqtt-listen 1"
	wait_prom 'iotflow_http_writer_up' 'iot-httpd 1'
	wait_prom 'sum by (job) (iotflow_ingest_commit_seconds_count) > 0' "iot-httpd 1
iot-mqtt-listen 1"

	# The alert rules: all loaded, each evaluated without error, none firing.
	local n i rules
	n=$(grep -c '^      - alert: ' "$PROM_DIR/iotflow-alerts.yml")
	for ((i = 0; i < 100; i++)); do
		rules=$(curl -sf "$PROM/api/v1/rules")
		[[ $(jq '[.data.groups[].rules[] | select(.health == "ok")] | length' <<<"$rules") == "$n" ]] && break
		sleep 0.1
	done
	run jq -r '.data.groups[].rules[] | "\(.type) \(.name) \(.health) \(.lastError // "")"' <<<"$rules"
	assert_equal "${#lines[@]}" "$n"
	refute_line --regexp ' (unknown|err)'
	refute_line --regexp '^recording '
	assert_line 'alerting IotflowIngestStalled ok '
	assert_line 'alerting IotflowDatabaseUnavailable ok '
	run curl -sf "$PROM/api/v1/alerts"
	assert_success
	assert_equal "$(jq '[.data.alerts[] | select(.state == "firing")] | length' <<<"$output")" 0

	# Every metric the rules and the dashboard name is one the daemons
	# export (a histogram or summary by its _count series; a family named
	# as iotflow_ingest_* in a comment is not a name).
	local names used missing=
	names=$(curl -sf "$PROM/api/v1/label/__name__/values" | jq -r '.data[]')
	used=$(grep -ohE 'iotflow_[a-z_]+\*?' "$PROM_DIR/iotflow-alerts.yml" "$PROM_DIR/iotflow-alerts.test.yml" \
		"$DASHBOARD" | grep -v '\*$' | sort -u)
	((${#used} > 0))
	for m in $used; do
		grep -qxE "${m}(_count)?" <<<"$names" || missing+=" $m"
	done
	[[ -z $missing ]] || { echo "not exported:$missing"; return 1; }

	# Every PromQL query of the dashboard, with Grafana's $__rate_interval,
	# is accepted by Prometheus and has data now.
	local expr res
	while IFS= read -r expr; do
		res=$(curl -s --data-urlencode "query=${expr//\$__rate_interval/1m}" "$PROM/api/v1/query")
		[[ $(jq -r .status <<<"$res") == success ]] || { echo "refused: $expr: $res"; return 1; }
	done < <(jq -r '.panels[].targets[]? | select(.datasource.type == "prometheus") | .expr' "$DASHBOARD")
	for expr in 'sum by (job) (rate(iotflow_ingest_points_stored_total[1m]))' \
		'sum by (route, status) (rate(iotflow_http_requests_total[1m]))'; do
		[[ -n $(promq "$expr") ]] || { echo "no data: $expr"; return 1; }
	done
}

# alert_state NAME: the state of alert NAME in Prometheus (pending,
# firing), or nothing.
alert_state() {
	curl -sf "$PROM/api/v1/alerts" | jq -r --arg a "$1" '.data.alerts[] | select(.labels.alertname == $a) | .state'
}

@test "PostgreSQL stopped: iot-httpd's writer goes down, Prometheus sees it and holds IotflowDatabaseUnavailable pending; back, it clears" {
	need prometheus
	echo 's3cret-passw0rd' | iot-user add mon > /dev/null
	local key
	key=$(iot-device add probe --owner mon | jq -r .api_key)
	IOTFLOW_DB_RETRY_TIME=1 start_httpd --commit-timeout 1500
	# No listener on its port: its target is down.
	local nobody
	nobody=$(_iot_pick_port)
	"$IOTFLOW_ROOT/scripts/prometheus-conf.sh" "$BATS_TEST_TMPDIR/prom" "127.0.0.1:$PORT" "127.0.0.1:$nobody" 1s
	start_prometheus "$BATS_TEST_TMPDIR/prom"
	wait_prom 'iotflow_http_writer_up' 'iot-httpd 1'
	wait_prom 'up' "iot-httpd 1
iot-mqtt-listen 0"
	run post "$key" '{"data":{"before":1}}'
	assert_output --regexp '^201 '

	iot_pg_stop
	PG_STOPPED=1
	# Telemetry is answered 503; the writer gives up on a batch it cannot
	# store after db_retry_time (1 s).
	local i
	for ((i = 0; i < 60; i++)); do
		run post "$key" "{\"data\":{\"away$i\":1}}"
		[[ $output == '503 '* ]] || { echo "expected 503: $output"; return 1; }
		[[ $(promq iotflow_http_writer_up) == 'iot-httpd 0' ]] && break
		sleep 0.5
	done
	wait_prom 'iotflow_http_writer_up' 'iot-httpd 0' 5
	for ((i = 0; i < 100; i++)); do
		[[ $(alert_state IotflowDatabaseUnavailable) == pending ]] && break
		sleep 0.1
	done
	assert_equal "$(alert_state IotflowDatabaseUnavailable)" pending
	# The missing listener is held pending too (for: 2m).
	assert_equal "$(alert_state IotflowTargetDown)" pending

	iot_pg_start
	PG_STOPPED=0
	for ((i = 0; i < 50; i++)); do
		post "$key" '{"data":{"after":1}}' | grep -q '^201 ' && break
		sleep 0.2
	done
	wait_prom 'iotflow_http_writer_up' 'iot-httpd 1'
	for ((i = 0; i < 100; i++)); do
		[[ -z $(alert_state IotflowDatabaseUnavailable) ]] && break
		sleep 0.1
	done
	assert_equal "$(alert_state IotflowDatabaseUnavailable)" ''
}

# ---- Grafana ----

@test "contrib/grafana: the dashboard JSON and the provisioning files are well-formed and agree on the data sources" {
	run jq -e '.uid == "iotflow" and (.panels | length) > 10 and (.templating.list | length) >= 2' "$DASHBOARD"
	assert_success
	local ds prov
	ds=$(yaml2json "$GRAFANA_DIR/provisioning/datasources/iotflow.yml")
	prov=$(yaml2json "$GRAFANA_DIR/provisioning/dashboards/iotflow.yml")
	run jq -r '.datasources[] | "\(.uid) \(.type)"' <<<"$ds"
	assert_line 'iotflow-postgres postgres'
	assert_line 'iotflow-prometheus prometheus'
	# No password in the file: Grafana takes it from its environment.
	assert_equal "$(jq -r '.datasources[] | select(.type == "postgres") | .secureJsonData.password' <<<"$ds")" \
		'$IOTFLOW_GRAFANA_PG_PASSWORD'
	# Every data source the dashboard uses is provisioned, with its type.
	local used
	used=$(jq -r '[.. | objects | select(has("datasource")) | .datasource | objects | select(.uid != "-- Grafana --")
		| "\(.uid) \(.type)"] | unique[]' "$DASHBOARD")
	[[ $used == "iotflow-postgres postgres"$'\n'"iotflow-prometheus prometheus" ]] || { echo "$used"; return 1; }
	# The provider loads the dashboards directory where make install puts it.
	run jq -r '.providers[] | "\(.type) \(.options.path)"' <<<"$prov"
	assert_output 'file /usr/local/share/iotflow/contrib/grafana/dashboards'
	# Panels: unique ids, every target of a PostgreSQL panel a raw SQL query.
	assert_equal "$(jq '[.panels[].id] | (length == (unique | length))' "$DASHBOARD")" true
	assert_equal "$(jq '[.panels[].targets[]? | select(.datasource.type == "postgres") | select((.rawSql // "") == "")] | length' "$DASHBOARD")" 0
}

# Telemetry for the dashboard's queries, and what they must return,
# computed here from the same input (not by asking the database).
# Three hours ending at the last full hour: B .. B+3h-1s.
#   alice/a1: temperature 20 + i%10 and humidity 40 + i%5 each minute,
#             door open/closed every 30 minutes; and temperature 99.5 now
#   alice/a2: temperature 15 + j%4 every 2 minutes
#   bob/b1:   temperature i for i = 120..179 (the last hour)
#   alice/a3: temperature 5 now, then announced offline
#   bob/c1:   nothing; bob/d1: inactive, nothing
grafana_data() {
	echo 's3cret-passw0rd' | iot-user add alice > /dev/null
	echo 's3cret-passw0rd' | iot-user add bob > /dev/null
	local d
	for d in alice:a1 alice:a2 alice:a3 bob:b1 bob:c1; do
		iot-device add "${d#*:}" --owner "${d%:*}" | jq -r '"\(.id)"' > "$BATS_TEST_TMPDIR/id.${d#*:}"
	done
	iot-device add d1 --owner bob --status inactive | jq -r .id > "$BATS_TEST_TMPDIR/id.d1"
	A1=$(< "$BATS_TEST_TMPDIR/id.a1") A2=$(< "$BATS_TEST_TMPDIR/id.a2") A3=$(< "$BATS_TEST_TMPDIR/id.a3")
	B1=$(< "$BATS_TEST_TMPDIR/id.b1")
	# Three whole hours that ended an hour ago or more: a2's and b1's last
	# points (2 and 1 minutes before the third ends) are then always past the
	# 300 s online window, whatever the minute this runs at.
	B=$(($(date +%s) / 3600 * 3600 - 14400))
	FROM=$(date -u -d "@$B" +%FT%TZ) TO=$(date -u -d "@$((B + 10799))" +%FT%TZ)
	# The points as "label|measurement|ts|value|device id" (numeric ones
	# only: what telemetry_hourly and the numeric panels hold), and as NDJSON.
	awk -v b="$B" -v a1="$A1" -v a2="$A2" -v b1="$B1" 'BEGIN {
		for (i = 0; i < 180; i++) {
			printf "alice/a1|temperature|%d|%d|%s\n", b + 60 * i, 20 + i % 10, a1
			printf "alice/a1|humidity|%d|%d|%s\n", b + 60 * i, 40 + i % 5, a1
		}
		for (j = 0; j < 90; j++) printf "alice/a2|temperature|%d|%d|%s\n", b + 120 * j, 15 + j % 4, a2
		for (i = 120; i < 180; i++) printf "bob/b1|temperature|%d|%d|%s\n", b + 60 * i, i, b1
	}' > "$BATS_TEST_TMPDIR/points"
	{
		awk -F'|' '{ printf "{\"device_id\":%s,\"timestamp\":%s,\"data\":{\"%s\":%s}}\n", $5, $3, $2, $4 }' \
			"$BATS_TEST_TMPDIR/points"
		for ((i = 0; i < 6; i++)); do
			printf '{"device_id":%s,"timestamp":%d,"data":{"door":"%s"}}\n' "$A1" $((B + 1800 * i)) \
				"$( ((i % 2)) && echo closed || echo open)"
		done
		printf '{"device_id":%s,"data":{"temperature":99.5}}\n{"device_id":%s,"data":{"temperature":5}}\n' "$A1" "$A3"
	} | iot-ingest -q
	q "UPDATE devices SET offline_at = now() WHERE id = $A3"
	psql -XAtq -v ON_ERROR_STOP=1 -f "$GRAFANA_DIR/grafana-reader.sql"
}

# panel_sql TITLE: the rawSql of the dashboard's panel TITLE.
panel_sql() { jq -er --arg t "$1" '.panels[] | select(.title == $t) | .targets[0].rawSql' "$DASHBOARD"; }
panel_interval() { jq -r --arg t "$1" '.panels[] | select(.title == $t) | .interval // "5m"' "$DASHBOARD"; }
var_sql() { jq -er --arg n "$1" '.templating.list[] | select(.name == $n) | .query' "$DASHBOARD"; }

# gq INTERVAL [EXPANDER OPTION]...: the SQL on stdin expanded and run as
# iotflow_grafana; rows as psql -At prints them.
gq() {
	local iv=$1 sql
	shift
	sql=$("$IOTFLOW_ROOT/tests/grafana-sql" --from "$FROM" --to "$TO" --interval "$iv" \
		--const online_window=300 "$@") || return 1
	printf 'SET ROLE iotflow_grafana;\n%s;\n' "$sql" | psql -XAtq -v ON_ERROR_STOP=1 -f -
}
# panel TITLE [EXPANDER OPTION]...: panel TITLE's query, at its interval.
panel() {
	local t=$1
	shift
	panel_sql "$t" | gq "$(panel_interval "$t")" "$@"
}
# num: "time|metric|value" with the numbers in one format, sorted.
num() { awk -F'|' -v OFS='|' '{ $1 = sprintf("%d", $1); $NF = sprintf("%.6f", $NF); print }' | LC_ALL=C sort; }
# expect_means SECONDS [FILTER]: from the points, per bucket and series,
# "bucket|label measurement|mean".
expect_means() {
	awk -F'|' -v s="$1" -v f="${2:-}" 'f == "" || $1 " " $2 == f {
		k = sprintf("%d|%s %s", int($3 / s) * s, $1, $2); n[k]++; sum[k] += $4
	} END { for (k in n) printf "%s|%.6f\n", k, sum[k] / n[k] }' "$BATS_TEST_TMPDIR/points" | LC_ALL=C sort
}

@test "contrib/grafana: every SQL query of the dashboard runs, macros expanded as Grafana does, as the read-only role, and returns the expected rows" {
	grafana_data
	local n_sql
	n_sql=$(jq '[.panels[].targets[]? | select(.datasource.type == "postgres")] | length' "$DASHBOARD")
	((n_sql >= 7))

	# The variables, as Grafana asks for their values.
	run gq 5m < <(var_sql device)
	assert_success
	local all_ids
	all_ids=$(cut -d '|' -f 2 <<<"$output" | paste -sd, -)
	assert_equal "$(cut -d '|' -f 1 <<<"$output" | paste -sd ' ' -)" 'alice/a1 alice/a2 alice/a3 bob/b1 bob/c1 bob/d1'
	assert_equal "$all_ids" "$A1,$A2,$A3,$B1,$(< "$BATS_TEST_TMPDIR/id.c1"),$(< "$BATS_TEST_TMPDIR/id.d1")"
	run gq 5m --var "device=$all_ids" < <(var_sql measurement)
	assert_success
	assert_equal "$(paste -sd ' ' - <<<"$output")" 'door humidity temperature'
	run gq 5m --var "device=$A2" < <(var_sql measurement)
	assert_output temperature
	local all=(--var "device=$all_ids" --var 'measurement=door,humidity,temperature')

	# Every PostgreSQL query of the dashboard, with "All" chosen, succeeds.
	local t
	while IFS= read -r t; do
		run panel "$t" "${all[@]}"
		assert_success
	done < <(jq -r '.panels[] | select(.datasource.type == "postgres") | .title' "$DASHBOARD")

	# Telemetry per device: 5-minute means of each numeric series.
	run panel 'Telemetry per device' "${all[@]}"
	assert_equal "${#lines[@]}" $((36 * 3 + 12))
	diff <(num <<<"$output") <(expect_means 300)
	# One device and one measurement chosen: that series only.
	run panel 'Telemetry per device' --var "device=$A1" --var measurement=temperature
	assert_equal "${#lines[@]}" 36
	diff <(num <<<"$output") <(expect_means 300 'alice/a1 temperature')
	assert_line --index 0 "$B|alice/a1 temperature|22"

	# Hourly means, from the rollups: the same means per hour.
	run panel 'Hourly means' "${all[@]}"
	assert_equal "${#lines[@]}" $((3 * 3 + 1))
	diff <(num <<<"$output") <(expect_means 3600)

	# Numeric points per device and hour; devices reporting per hour.
	run panel 'Numeric points per hour' "${all[@]}"
	diff <(num <<<"$output") <(awk -F'|' '{ n[sprintf("%d|%s", int($3 / 3600) * 3600, $1)]++ }
		END { for (k in n) printf "%s|%.6f\n", k, n[k] }' "$BATS_TEST_TMPDIR/points" | LC_ALL=C sort)
	assert_line "$B|alice/a1|120"
	run panel 'Devices reporting per hour' "${all[@]}"
	assert_output "$B|2
$((B + 3600))|2
$((B + 7200))|3"

	# The fleet: what iot-device list says of online state, counted.
	local listed
	listed=$(iot-device list)
	run panel Fleet
	assert_output "$(jq -rs '"\(map(select(.status == "active" and .online)) | length)|\(map(select(.status == "active" and (.online | not))) | length)|\(map(select(.status != "active")) | length)"' <<<"$listed")"
	assert_output '1|4|1'

	# Latest values: the newest point of each series.
	run panel 'Latest values' "${all[@]}"
	assert_equal "$(cut -d '|' -f 1-3 <<<"$output")" 'alice/a1|door|closed
alice/a1|humidity|44
alice/a1|temperature|99.5
alice/a2|temperature|16
alice/a3|temperature|5
bob/b1|temperature|179'
	run panel 'Latest values' --var "device=$B1" --var measurement=temperature
	assert_equal "$(cut -d '|' -f 1-3 <<<"$output")" 'bob/b1|temperature|179'

	# Devices: each one's state as iot-device list has it.
	run panel Devices "${all[@]}"
	assert_equal "$(cut -d '|' -f 1,4,6 <<<"$output")" "$(jq -rs 'sort_by(.owner + "/" + .name)[]
		| "\(.owner)/\(.name)|\(if .status != "active" then .status elif .online then "online" else "offline" end)|\(
		{"a1": 3, "a2": 1, "a3": 1, "b1": 1}[.name] // 0)"' <<<"$listed")"
	assert_line --partial 'alice/a1|sensor||online|'
	assert_line --partial 'bob/d1|sensor||inactive|'

	# The read-only role reads nothing secret.
	run psql -XAtq -c 'SET ROLE iotflow_grafana' -c 'SELECT key_digest FROM device_auth'
	assert_failure
	assert_output --partial 'permission denied'
	run psql -XAtq -c 'SET ROLE iotflow_grafana' -c 'SELECT password_hash FROM users'
	assert_failure
	assert_output --partial 'permission denied'
}

@test "tests/grafana-sql: Grafana's macros and variables, and an unexpanded one is an error" {
	local g=$IOTFLOW_ROOT/tests/grafana-sql
	run "$g" --from 2026-01-01T00:00:00Z --to 2026-01-01T06:00:00Z --interval 1h \
		--var dev=1,2 --var "m=a,o'b" --const w=300 <<<'SELECT $__timeGroupAlias(ts, $__interval), $__timeGroup(ts, '"'"'5m'"'"') AS b FROM t WHERE $__timeFilter(ts) AND d IN ($dev) AND x IN (${m}) AND y IN (${dev:csv}) AND w < $w AND $__unixEpochFilter(e) AND $__timeFrom() < $__timeTo()'
	assert_success
	assert_output "SELECT floor(extract(epoch from ts)/3600)*3600 AS \"time\", floor(extract(epoch from ts)/300)*300 AS b FROM t WHERE ts BETWEEN '2026-01-01T00:00:00Z' AND '2026-01-01T06:00:00Z' AND d IN ('1','2') AND x IN ('a','o''b') AND y IN (1,2) AND w < 300 AND e >= 1767225600 AND e <= 1767247200 AND '2026-01-01T00:00:00Z' < '2026-01-01T06:00:00Z'"
	# Grafana's compatibility: $__timeGroup followed by a comma gets AS "time".
	run "$g" --from 2026-01-01T00:00:00Z --to 2026-01-01T06:00:00Z <<<'SELECT $__timeGroup(ts,$__interval), v'
	assert_output 'SELECT floor(extract(epoch from ts)/300)*300 AS "time", v'
	run "$g" --from 2026-01-01T00:00:00Z --to 2026-01-01T06:00:00Z --var dev=1 <<<'SELECT $devices, $dev'
	assert_failure
	assert_output --partial 'not expanded: $devices'
	run "$g" --from 2026-01-01T00:00:00Z --to 2026-01-01T06:00:00Z <<<'SELECT $__nosuch(x)'
	assert_failure
	assert_output --partial 'unknown macro $__nosuch'
}

# ---- make run ----

@test "make run (scripts/run.sh) starts Prometheus on the run's ports, prints its URL, and stops it with the rest" {
	need prometheus
	RUN_STATE=$BATS_TEST_TMPDIR/run
	env --default-signal=INT "$IOTFLOW_ROOT/scripts/run.sh" "$RUN_STATE" > "$RUN_STATE.out" 2>&1 < /dev/null 3>&- &
	RUN_PID=$!
	local i
	for ((i = 0; i < 600; i++)); do
		grep -q 'IoTFlow is running' "$RUN_STATE.out" && break
		kill -0 "$RUN_PID" 2>/dev/null || break
		sleep 0.1
	done
	run cat "$RUN_STATE.out"
	assert_output --partial 'IoTFlow is running'
	assert_output --regexp 'Prometheus: http://127\.0\.0\.1:[0-9]+ '
	PROM=$(grep -oE 'Prometheus: http://127\.0\.0\.1:[0-9]+' "$RUN_STATE.out" | cut -d ' ' -f 2)
	# Ready, and its targets discovered.
	for ((i = 0; i < 100; i++)); do
		[[ $(curl -sf "$PROM/api/v1/targets" | jq '.data.activeTargets | length') == 2 ]] && break
		sleep 0.1
	done
	run curl -sf "$PROM/api/v1/targets"
	assert_success
	assert_equal "$(jq -r '[.data.activeTargets[] | "\(.labels.job) \(.scrapeUrl)"] | sort[]' <<<"$output")" \
		'iot-httpd http://127.0.0.1:5000/metrics
iot-mqtt-listen http://127.0.0.1:9101/metrics'
	# Its own instance: our configuration, our data directory.
	local pid
	pid=$(cat "$RUN_STATE/prometheus/prometheus.pid")
	run tr '\0' ' ' < "/proc/$pid/cmdline"
	assert_output --partial "--config.file=$RUN_STATE/prometheus/prometheus.yml"
	assert_output --partial "--storage.tsdb.path=$RUN_STATE/prometheus/data"
	run curl -sf "$PROM/api/v1/rules"
	assert_equal "$(jq '[.data.groups[].rules[]] | length' <<<"$output")" \
		"$(grep -c '^      - alert: ' "$PROM_DIR/iotflow-alerts.yml")"

	kill -TERM "$RUN_PID"
	local rc=0
	wait "$RUN_PID" || rc=$?
	RUN_PID=
	assert_equal "$rc" 0
	_iot_wait 50 _iot_pid_gone "$pid"
	run curl -s -m 2 -o /dev/null "$PROM/-/ready"
	assert_failure
	grep -q '^iotflow: stopped; data kept in ' "$RUN_STATE.out"
}
