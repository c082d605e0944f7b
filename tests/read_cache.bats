#!/usr/bin/env bats
# Cached answers of iot-httpd's read routes in Redis
# (lib/cache/result_cache.c, lib/http/http_read_cache.c): hits show, a
# cached answer is never served after a commit that changes it (iot-ingest
# in another process, a POST, a DELETE), Redis down or hung changes nothing
# but speed, and an entry written before a bump that could not reach Redis
# is not served afterwards.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load httpd_people

setup() { people_setup; }

teardown() {
	[[ -z ${REDIS_STOPPED:-} ]] || kill -CONT "$REDIS_STOPPED" 2>/dev/null || true
	iot_redis_start "$IOTFLOW_TEST_TMP" >/dev/null 2>&1 || true
	if [[ -n $HTTPD_PID ]] && kill -0 "$HTTPD_PID" 2>/dev/null; then
		kill -TERM "$HTTPD_PID"
		wait "$HTTPD_PID" 2>/dev/null || true
	fi
	return 0
}

AGG="aggregation=sum&field=t&window=1h&start_time=2025-12-01T00:00:00Z&end_time=2025-12-02T00:00:00Z"
# get PATH: "X-CACHE BODY" (X-Cache "-" when absent), as alice.
get() {
	local h
	h=$(mktemp -p "$BATS_TEST_TMPDIR")
	local b
	b=$(curl -sf -D "$h" -H "Authorization: Bearer $ALICE" "$U$1") || { echo "GET $1 failed" >&2; return 1; }
	local x
	x=$(tr -d '\r' < "$h" | sed -n 's/^[Xx]-[Cc]ache: //p')
	echo "${x:--} $b"
}
sum_of() { jq '[.data[].value] | add' <<<"${1#* }"; }
# A point, a server, and its aggregate cached (asked twice: the second a hit).
cached_start() {
	ingest 2025-12-01T10:00:00Z 5
	start_httpd
	get "/api/v1/telemetry/$A/aggregated?$AGG" >/dev/null
	local a
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" hit
}
ingest() { printf '{"device_id":%s,"timestamp":"%s","data":{"t":%s}}\n' "$A" "$1" "$2" | iot-ingest -q; }

@test "the second identical question is a hit with the same answer; another question is a miss" {
	ingest 2025-12-01T10:00:00Z 5
	start_httpd
	local a b c
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	b=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" miss
	assert_equal "${b%% *}" hit
	assert_equal "${b#* }" "${a#* }"
	assert_equal "$(sum_of "$b")" 5
	c=$(get "/api/v1/telemetry/$A/aggregated?${AGG/sum/max}")
	assert_equal "${c%% *}" miss
	a=$(get "/api/v1/telemetry/$A?start_time=2025-12-01&end_time=2025-12-02")
	b=$(get "/api/v1/telemetry/$A?start_time=2025-12-01&end_time=2025-12-02")
	assert_equal "${a%% *} ${b%% *}" "miss hit"
	assert_equal "${b#* }" "${a#* }"
	# Access is checked before the cache: bob still gets his 404.
	run req -H "Authorization: Bearer $BOB" "$U/api/v1/telemetry/$A/aggregated?$AGG"
	assert_equal "${output%% *}" 404
}

@test "never a cached answer after a commit that changes it: iot-ingest, a POST, a DELETE" {
	cached_start
	local a
	# Another process commits a point in the cached range.
	ingest 2025-12-01T11:00:00Z 7
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" miss
	assert_equal "$(sum_of "$a")" 12
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" hit
	# A POST to this server: its 201 comes after the bump.
	run curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		--data-binary '{"data":{"t":30},"timestamp":"2025-12-01T12:00:00Z"}' "$U/api/v1/telemetry"
	assert_output 201
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "$(sum_of "$a")" 42
	get "/api/v1/telemetry/$A/aggregated?$AGG" >/dev/null
	# A DELETE.
	run curl -s -o /dev/null -w '%{http_code}' -X DELETE -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		--data-binary '{"start_time":"2025-12-01T11:00:00Z","stop_time":"2025-12-01T11:00:00Z"}' "$U/api/v1/telemetry/$A"
	assert_output 200
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" miss
	assert_equal "$(sum_of "$a")" 35
	# Points of another device change nothing of this one's answers.
	get "/api/v1/telemetry/$A/aggregated?$AGG" >/dev/null
	printf '{"device_id":%s,"timestamp":"2025-12-01T10:00:00Z","data":{"t":1}}\n' "$B" | iot-ingest -q
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" hit
}

@test "Redis down: the same answers, only no hits; back: cached again" {
	ingest 2025-12-01T10:00:00Z 5
	start_httpd
	local before a
	before=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	iot_redis_stop "$IOTFLOW_TEST_TMP"
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	[[ ${a%% *} != hit ]]
	assert_equal "${a#* }" "${before#* }"
	ingest 2025-12-01T11:00:00Z 7
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "$(sum_of "$a")" 12
	iot_redis_start "$IOTFLOW_TEST_TMP"
	local i hit=
	for i in $(seq 50); do
		get "/api/v1/telemetry/$A/aggregated?$AGG" >/dev/null
		a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
		[[ ${a%% *} == hit ]] && { hit=1; break; }
		sleep 0.2
	done
	assert_equal "$hit" 1
	assert_equal "$(sum_of "$a")" 12
}

@test "a bump that cannot reach Redis (hung): the entries of before are not served when it is back" {
	cached_start
	local a
	# Redis hangs: this server's POST commits, and its bump times out.
	REDIS_STOPPED=$(cat "$IOTFLOW_TEST_TMP/redis/redis.pid")
	kill -STOP "$REDIS_STOPPED"
	run curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		--data-binary '{"data":{"t":30},"timestamp":"2025-12-01T12:00:00Z"}' "$U/api/v1/telemetry"
	assert_output 201
	kill -CONT "$REDIS_STOPPED"
	REDIS_STOPPED=
	# The old entry is still in Redis, with the old generation; it is not served.
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	[[ ${a%% *} != hit ]]
	assert_equal "$(sum_of "$a")" 35
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "$(sum_of "$a")" 35
}

@test "--no-cache: no X-Cache header, the same answer" {
	ingest 2025-12-01T10:00:00Z 5
	start_httpd --no-cache
	local a
	a=$(get "/api/v1/telemetry/$A/aggregated?$AGG")
	assert_equal "${a%% *}" -
	assert_equal "$(sum_of "$a")" 5
}

@test "retention: the answers over a dropped partition are not served from the cache afterwards" {
	local day q a
	day=$(date -u -d '-400 days' +%Y-%m-%d)
	ingest "${day}T10:00:00Z" 5
	start_httpd
	q="/api/v1/telemetry/$A/aggregated?aggregation=sum&field=t&window=1h&start_time=$day&end_time=${day}T23:59:59Z"
	get "$q" >/dev/null
	a=$(get "$q")
	assert_equal "${a%% *} $(sum_of "$a")" "hit 5"
	mkdir -p "$BATS_TEST_TMPDIR/archive"
	iot-migrate -q retention --keep 365d --archive-dir "$BATS_TEST_TMPDIR/archive" >/dev/null
	a=$(get "$q")
	assert_equal "${a%% *} $(jq -c .data <<<"${a#* }")" "miss []"
}
