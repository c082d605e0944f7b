#!/usr/bin/env bats
# lib/cache/cache.h against a real Redis: rate limits that always carry a TTL,
# online marks with the online window as TTL, URL forms, graceful degradation,
# and installations (databases) that share one Redis without mixing.

load helpers

setup_file() {
	stack_setup_file
	migrated_template
	# Built by `make test-progs` (make check) with the tree's library.
	export PROBE=$IOTFLOW_ROOT/build/tests/cache_probe
}
teardown_file() { stack_teardown_file; }
setup() {
	iot_redis_start
	redis-cli -p "$IOTFLOW_REDIS_PORT" flushall >/dev/null
}

rcli() { redis-cli -p "$IOTFLOW_REDIS_PORT" "$@"; }
# The probe with a namespace of its own (programs read theirs from the database).
probe() { PROBE_NS=ns-1 "$PROBE" "$@"; }

@test "cache: a rate limit counts in a window and tells when to retry" {
	run probe ratelimit api:1 3 60 5
	assert_success
	assert_line --index 0 'allowed 0'
	assert_line --index 2 'allowed 0'
	assert_line --index 3 --regexp '^limited (59|60)$'
	assert_line --index 4 --regexp '^limited (59|60)$'
	run rcli ttl iotflow:ns-1:rl:api:1
	((output > 0 && output <= 60))
	run rcli get iotflow:ns-1:rl:api:1
	assert_output 5
}

@test "cache: a rate-limit counter left without a TTL gets one at the next call" {
	rcli set iotflow:ns-1:rl:api:2 7 >/dev/null
	run rcli ttl iotflow:ns-1:rl:api:2
	assert_output -1
	run probe ratelimit api:2 100 30 1
	assert_output 'allowed 0'
	run rcli ttl iotflow:ns-1:rl:api:2
	((output > 0 && output <= 30))
	# The window ends and the count starts again.
	run probe ratelimit api:3 1 1 2
	assert_output $'allowed 0\nlimited 1'
	sleep 1.1
	run probe ratelimit api:3 1 1 1
	assert_output 'allowed 0'
}

@test "cache: devices seen are online for the online window" {
	run probe seen 7 8
	assert_output $'7 now\n8 now'
	run rcli ttl iotflow:ns-1:seen:7
	((output > 290 && output <= 300))
	IOTFLOW_ONLINE_WINDOW=2m probe seen 9 >/dev/null
	run rcli ttl iotflow:ns-1:seen:9
	((output > 110 && output <= 120))
}

@test "cache: Redis down or unset degrades with one warning and no failure" {
	iot_redis_stop
	run probe ratelimit api:4 1 60 3
	assert_success
	assert_line --index 0 'allowed 0'
	assert_line --index 2 'allowed 0'
	assert_line --index 3 --regexp '^warning: Redis at 127\.0\.0\.1:[0-9]+ unavailable \(Connection refused\): continuing with PostgreSQL only$'
	assert_equal "${#lines[@]}" 4
	run probe seen 1
	assert_success
	assert_line --index 0 unavailable
	IOTFLOW_REDIS_URL= run probe ping
	assert_output $'down\nwarning: Redis not configured (IOTFLOW_REDIS_URL): running without the cache'
}

@test "cache: URL forms, password and database number" {
	run env IOTFLOW_REDIS_URL="redis://127.0.0.1:$IOTFLOW_REDIS_PORT" "$PROBE" ping
	assert_output up
	IOTFLOW_REDIS_URL="redis://127.0.0.1:$IOTFLOW_REDIS_PORT/3" probe ratelimit db3 5 60 1
	run redis-cli -p "$IOTFLOW_REDIS_PORT" -n 3 exists iotflow:ns-1:rl:db3
	assert_output 1
	rcli config set requirepass 's3cr%t' >/dev/null
	run env IOTFLOW_REDIS_URL="redis://:s3cr%25t@127.0.0.1:$IOTFLOW_REDIS_PORT/0" "$PROBE" ping
	assert_output up
	# Only %XX with two hex digits is an escape: "%+1" and "% 1" are literal
	# (sscanf's %2x would have read them as bytes 0x01).
	redis-cli -p "$IOTFLOW_REDIS_PORT" -a 's3cr%t' --no-auth-warning config set requirepass 'a%+1b% 2c%zz' >/dev/null
	run env IOTFLOW_REDIS_URL="redis://:a%+1b% 2c%zz@127.0.0.1:$IOTFLOW_REDIS_PORT/0" "$PROBE" ping
	assert_output up
	redis-cli -p "$IOTFLOW_REDIS_PORT" -a 'a%+1b% 2c%zz' --no-auth-warning config set requirepass 's3cr%t' >/dev/null
	run env IOTFLOW_REDIS_URL="redis://:wrong@127.0.0.1:$IOTFLOW_REDIS_PORT/0" "$PROBE" ping
	assert_line --index 0 down
	assert_output --partial 'authentication failed'
	refute_output --partial wrong
	redis-cli -p "$IOTFLOW_REDIS_PORT" -a 's3cr%t' --no-auth-warning config set requirepass '' >/dev/null
	for bad in 'http://x' 'redis://' 'redis://h:0' 'redis://h:99999' 'redis://h:1/x' 'unix://relative' 'unix:///s?db=x'; do
		run env IOTFLOW_REDIS_URL="$bad" "$PROBE" ping
		assert_failure 2
		assert_output --partial 'redis_url:'
	done
	run env IOTFLOW_REDIS_URL="unix://$BATS_TEST_TMPDIR/none.sock" "$PROBE" ping
	assert_success
	assert_line --index 0 down
}

@test "auth: device by id is cached and invalidated across processes" {
	fresh_db --migrated
	iot-user add --no-password alice >/dev/null
	iot-device add d1 --owner alice >/dev/null
	local id
	id=$(psql -XAtc "select id from devices")
	run bash -c "{ echo $id; echo $id; sleep 0.3; iot-device set $id --status inactive >/dev/null; sleep 0.1; echo $id; echo 999999; echo 0; } | '$PROBE' devid"
	assert_success
	assert_line --index 0 "$id active database"
	assert_line --index 1 "$id active memory"
	assert_line --index 2 "$id inactive database"
	assert_line --index 3 '999999 error 3 unknown device 999999'
	assert_line --index 4 '0 error 3 unknown device 0'
	run bash -c "echo $id | '$PROBE' devid"
	assert_output "$id inactive redis"
}

@test "cache: a handle without an installation namespace reads and writes nothing" {
	run "$PROBE" seen 7
	assert_success
	assert_output $'unavailable\n7 none\nwarning: Redis not used: no installation namespace was set'
	# Rate limits fail open, as with Redis down.
	run "$PROBE" ratelimit api:9 1 60 3
	assert_output $'allowed 0\nallowed 0\nallowed 0\nwarning: Redis not used: no installation namespace was set'
	run rcli dbsize
	assert_output 0
	run env PROBE_NS='a:b' "$PROBE" ping
	assert_failure 2
	assert_output --partial 'cache namespace: 1 to 64 letters'
}

@test "cache: a database without an installation id (not migrated) leaves Redis unused" {
	mkdir "$BATS_TEST_TMPDIR/sql"
	cp "$IOTFLOW_ROOT"/sql/00[1-4]_*.sql "$BATS_TEST_TMPDIR/sql/"
	iot_db_fresh "old_$RANDOM"
	IOTFLOW_SQL_DIR=$BATS_TEST_TMPDIR/sql iot-migrate up >/dev/null 2>&1
	iot-user add --no-password alice >/dev/null
	local k
	k=$(iot-device add d1 --owner alice | jq -r .api_key)
	run bash -c "printf '%s\n' '$k' | iot-device key check; printf '%s\n' '$k' | iot-device key check"
	assert_success
	assert_equal "$(grep -c '"source":"database"' <<<"$output")" 2
	assert_output --partial 'warning: Redis not used: the database has no installation id (migration 005_installation is not applied: run iot-migrate up)'
	iot-ingest -q <<<'{"device_id":1,"data":{"t":1}}'
	run rcli dbsize
	assert_output 0
	# A change cannot be announced then: committed, exit 5, and it says why.
	run iot-device key revoke alice/d1
	assert_failure 5
	assert_output --partial 'the key revocation is committed in PostgreSQL'
	assert_output --partial 'run iot-migrate up'
	# Migrated: Redis is used again.
	iot-migrate up >/dev/null 2>&1
	run iot-device add d2 --owner alice
	k=$(jq -r .api_key <<<"$output")
	run bash -c "printf '%s\n' '$k' | iot-device key check >/dev/null; printf '%s\n' '$k' | iot-device key check"
	assert_output --partial '"source":"redis"'
}

@test "cache: the probe is built by make from the tree, with the latest build flavour" {
	[[ -x $PROBE && ! $IOTFLOW_ROOT/lib/cache/cache.c -nt $PROBE ]]
	local rel=$IOTFLOW_ROOT/build/rel/libiotflow.a san=$IOTFLOW_ROOT/build/san/libiotflow.a
	run nm "$PROBE"
	if [[ -f $san && (! -f $rel || $san -nt $rel) ]]; then
		assert_output --partial __asan_init
	else
		refute_output --partial __asan_init
	fi
}

@test "auth: the in-process tables keep 40 random fleets of 24,000 keys and devices whole, round after round (unit test under ASan+UBSan)" {
	make -C "$IOTFLOW_ROOT" --no-print-directory -s build/unit/test_memo >&2
	run "$IOTFLOW_ROOT/build/unit/test_memo"
	assert_success
	assert_output --regexp '^[0-9]+ passed, 0 failed$'
}

@test "auth: the keys of 10,000 devices stay in a process's memory, round after round" {
	fresh_db --migrated
	iot-user add --no-password fleet >/dev/null
	seq 10000 | awk '{ printf "{\"name\":\"d%d\"}\n", $1 }' | iot-device -q add - --owner fleet |
		jq -r .api_key > "$BATS_TEST_TMPDIR/keys"
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/keys")" 10000
	run "$PROBE" keys 3 < "$BATS_TEST_TMPDIR/keys"
	assert_success
	echo "$output"
	# The first round asks Redis or PostgreSQL for every key; after it, at
	# most a handful of the 10,000 leave memory (a direct-mapped table of
	# 16384 slots lost thousands a round; one set of 16 ways per key lost
	# a set's worth in about one run of 33).
	assert_line --index 0 --regexp '^pass 1 memory 0 redis [0-9]+ database [0-9]+ unknown 0 failed 0$'
	local p m
	for p in 2 3; do
		m=$(awk -v p="$p" '$2 == p { print $4 }' <<<"$output")
		(( m >= 9990 )) || fail "pass $p: only $m of 10000 from memory"
	done
}
