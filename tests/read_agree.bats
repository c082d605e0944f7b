#!/usr/bin/env bats
# The HTTP read routes and iot-query give the same values to the same
# question (both go through lib/query): ranges, latest values, and
# aggregates for every function over several windows, raw and hourly.
# Compared after a JSON round trip through Python, which keeps 7 and 7.0
# apart and every digit of a number (jq would round both to doubles).

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib

setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add alice >/dev/null
		iot-user token create alice laptop | jq -r .token > "$IOTFLOW_TEST_TMP/alice.token"
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"'
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json")
	ALICE=$(cat "$IOTFLOW_TEST_TMP/alice.token")
	HTTPD_PID=
	# Three days of irregular points (every 37 s to 10 min), a few text and
	# boolean ones, and metadata on some.
	python3 - "$A" <<-'EOF' | iot-ingest -q
		import json, random, sys
		random.seed(7)
		dev, t = int(sys.argv[1]), 1764547200.0  # 2025-12-01T00:00:00Z
		for i in range(1500):
		    t += random.choice([37, 60, 61.5, 300, 600, 0.25])
		    data = {"temperature": round(random.uniform(-10, 40), 3), "humidity": random.randint(0, 100)}
		    if i % 50 == 0:
		        data["state"] = random.choice(["on", "off"])
		        data["ok"] = bool(i % 100)
		    rec = {"device_id": dev, "timestamp": t, "data": data}
		    if i % 7 == 0:
		        rec["metadata"] = {"fw": "1.%d" % (i % 3)}
		    print(json.dumps(rec))
	EOF
}

START=2025-12-01T03:17:00Z
END=2025-12-03T20:00:00Z

# Python's canonical text of each JSON value on stdin (one per line), or of
# each element of .KEY of the one object on stdin.
canon() { # [KEY]
	python3 -c '
import json, sys
key = sys.argv[1] if len(sys.argv) > 1 else None
if key:
    vals = json.load(sys.stdin)[key]
else:
    vals = [json.loads(l) for l in sys.stdin if l.strip()]
for v in vals:
    print(json.dumps(v, sort_keys=True))' "$@"
}

hget() { curl -sf -H "Authorization: Bearer $ALICE" "$U$1"; }

@test "range: the same records over HTTP and from iot-query (all, one measurement, limits, metadata)" {
	start_httpd
	local h c
	h=$(hget "/api/v1/telemetry/$A?start_time=$START&end_time=$END&limit=10000" | canon data)
	c=$(iot-query range --device "$A" --since "$START" --until "$END" --limit 10000 | canon)
	assert_equal "$(wc -l <<<"$h")" "$(wc -l <<<"$c")"
	(( $(wc -l <<<"$h") > 1000 ))
	assert_equal "$h" "$c"
	h=$(hget "/api/v1/telemetry/$A?start_time=$START&end_time=$END&measurement=humidity,state&limit=50&metadata=true" | canon data)
	c=$(iot-query range --device "$A" --since "$START" --until "$END" --measurement humidity --measurement state --limit 50 --metadata | canon)
	assert_equal "$(wc -l <<<"$h")" 50
	assert_equal "$h" "$c"
	grep -q '"metadata"' <<<"$h"
}

@test "latest: the same values over HTTP and from iot-query" {
	start_httpd
	local h c
	h=$(hget "/api/v1/telemetry/$A/latest" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(json.dumps({k: d[k] for k in ("device_id", "timestamp", "latest_data", "measurements")}, sort_keys=True))')
	c=$(iot-query latest --device "$A" | canon)
	assert_equal "$h" "$c"
	grep -q '"state"' <<<"$h"
}

@test "aggregated: every function over several windows gives the same buckets over HTTP and from iot-query" {
	start_httpd
	local fn w h c n=0
	for fn in mean sum count min max first last; do
		for w in 90s 5m 1h 3h 1d; do
			h=$(hget "/api/v1/telemetry/$A/aggregated?field=temperature&aggregation=$fn&window=$w&start_time=$START&end_time=$END" | canon data)
			c=$(iot-query aggregate --device "$A" --measurement temperature --fn "$fn" --window "$w" --since "$START" --until "$END" | canon)
			[[ -n $h ]] || { echo "no buckets for $fn/$w" >&2; return 1; }
			[[ $h == "$c" ]] || { echo "$fn over $w differs:"; diff <(echo "$h") <(echo "$c") | head; return 1; } >&2
			n=$((n + $(wc -l <<<"$h")))
		done
	done
	# 35 questions, thousands of buckets in all.
	(( n > 3000 ))
}
