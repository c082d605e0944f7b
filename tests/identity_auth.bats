#!/usr/bin/env bats
# Device-key authentication across processes: grace periods, revocation that
# reaches a running process at once, Redis going away and coming back, usage
# counting. The running process is `iot-device key check` fed through a fifo.

load helpers

setup_file() {
	stack_setup_file
	migrated_template
}
teardown_file() { stack_teardown_file; }
setup() {
	fresh_db --migrated
	iot_redis_start
	redis-cli -p "$IOTFLOW_REDIS_PORT" flushall >/dev/null
	iot-user add --no-password alice >/dev/null
}
teardown() {
	checker_stop
	iot_redis_start
}

# A long-running `iot-device key check`: checker_ask KEY prints its answer.
checker_start() {
	mkfifo "$BATS_TEST_TMPDIR/in"
	: >"$BATS_TEST_TMPDIR/out"
	iot-device key check <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	CHECKER_PID=$!
	exec 8>"$BATS_TEST_TMPDIR/in"
}
checker_ask() {
	local n i
	n=$(wc -l <"$BATS_TEST_TMPDIR/out")
	echo "$1" >&8
	for ((i = 0; i < 200; i++)); do
		(($(wc -l <"$BATS_TEST_TMPDIR/out") > n)) && break
		sleep 0.02
	done
	tail -n 1 "$BATS_TEST_TMPDIR/out" | jq -c 'del(.line, .user_id)'
}
checker_stop() {
	[[ -n ${CHECKER_PID:-} ]] || return 0
	exec 8>&-
	wait "$CHECKER_PID" || true
	CHECKER_PID=
}

new_key() { iot-device add "$1" --owner alice | jq -r .api_key; }
dev_id() { psql -XAtc "select id from devices where name = '$1'"; }

@test "auth: a rotated key works until its grace period ends, then is refused" {
	local old new id
	old=$(new_key d1)
	id=$(dev_id d1)
	checker_start
	assert_equal "$(checker_ask "$old")" "{\"valid\":true,\"device_id\":$id,\"status\":\"active\",\"source\":\"database\"}"
	assert_equal "$(checker_ask "$old")" "{\"valid\":true,\"device_id\":$id,\"status\":\"active\",\"source\":\"memory\"}"
	run iot-device key rotate d1 --grace 3s
	assert_failure 2
	run iot-device key rotate alice/d1 --grace 3s
	assert_success
	new=$(jq -r .api_key <<<"$output")
	assert_equal "$(jq -r .previous_keys <<<"$output")" 1
	[[ $new != "$old" ]]
	# Both work during the grace period, in this process and in the running one.
	run bash -c "printf '%s\n%s\n' '$old' '$new' | iot-device key check"
	assert_success
	assert_equal "$(checker_ask "$old" | jq .valid)" true
	assert_equal "$(checker_ask "$new" | jq .valid)" true
	run iot-device key list alice/d1
	assert_equal "$(jq -sc 'map(.state)' <<<"$output")" '["grace","active"]'
	# The Redis copy of the old key lives no longer than its grace period.
	local digest ttl
	digest=$(psql -XAtc "select encode(key_digest, 'hex') from device_auth where expires_at is not null")
	ttl=$(redis-cli -p "$IOTFLOW_REDIS_PORT" ttl "iotflow:auth:key:$digest")
	((ttl >= 0 && ttl <= 3))
	sleep 3.2
	assert_equal "$(checker_ask "$old")" '{"valid":false,"error":"invalid API key"}'
	assert_equal "$(checker_ask "$new" | jq .valid)" true
	run bash -c "echo '$old' | iot-device key check"
	assert_failure 4
	run iot-device key list alice/d1
	assert_equal "$(jq -sc 'map(.state)' <<<"$output")" '["expired","active"]'
}

@test "auth: rotation without grace ends the old key at once" {
	local old new
	old=$(new_key d1)
	checker_start
	assert_equal "$(checker_ask "$old" | jq .valid)" true
	new=$(iot-device key rotate alice/d1 | jq -r .api_key)
	assert_equal "$(checker_ask "$old")" '{"valid":false,"error":"invalid API key"}'
	assert_equal "$(checker_ask "$new" | jq .valid)" true
}

@test "auth: a revoked key is refused at once by a running process that had it cached" {
	local k1 k2 id prefix
	k1=$(new_key d1)
	id=$(dev_id d1)
	k2=$(iot-device key rotate alice/d1 --grace 1h | jq -r .api_key)
	checker_start
	checker_ask "$k1" >/dev/null
	checker_ask "$k2" >/dev/null
	assert_equal "$(checker_ask "$k1" | jq -r .source)" memory
	assert_equal "$(checker_ask "$k2" | jq -r .source)" memory
	# Another process (which also has it in Redis) revokes one key by its prefix.
	run redis-cli -p "$IOTFLOW_REDIS_PORT" --scan --pattern 'iotflow:auth:key:*'
	assert_equal "${#lines[@]}" 2
	prefix=${k1:0:13}
	run iot-device key revoke "$id" "$prefix"
	assert_success
	assert_equal "$(jq -c '[.revoked, .key_prefixes]' <<<"$output")" "[1,[\"$prefix\"]]"
	assert_equal "$(checker_ask "$k1")" '{"valid":false,"error":"invalid API key"}'
	assert_equal "$(checker_ask "$k2" | jq -c '[.valid, .source]')" '[true,"redis"]'
	run redis-cli -p "$IOTFLOW_REDIS_PORT" --scan --pattern 'iotflow:auth:key:*'
	assert_equal "${#lines[@]}" 1
	# Revoking every key.
	iot-device key revoke alice/d1
	assert_equal "$(checker_ask "$k2")" '{"valid":false,"error":"invalid API key"}'
	run iot-device key revoke alice/d1 "$prefix"
	assert_failure 3
	run grep -c . "$BATS_TEST_TMPDIR/err"
	assert_output 0
}

@test "auth: status changes and removal reach a running process at once" {
	local k id
	k=$(new_key d1)
	id=$(dev_id d1)
	checker_start
	assert_equal "$(checker_ask "$k" | jq -r .status)" active
	assert_equal "$(checker_ask "$k" | jq -r .source)" memory
	iot-device set alice/d1 --status inactive >/dev/null
	assert_equal "$(checker_ask "$k" | jq -c '[.valid, .status]')" '[true,"inactive"]'
	iot-device set alice/d1 --status maintenance >/dev/null
	assert_equal "$(checker_ask "$k" | jq -r .status)" maintenance
	iot-device rm "$id" >/dev/null
	assert_equal "$(checker_ask "$k")" '{"valid":false,"error":"invalid API key"}'
}

@test "auth: Redis stopped mid-test changes nothing visible except a warning" {
	local k1 k2 out_up out_down
	k1=$(new_key d1)
	k2=$(new_key d2)
	checker_start
	assert_equal "$(checker_ask "$k1" | jq -r .source)" database
	view() {
		iot-device list --format table
		iot-device status alice/d1
		iot-device show alice/d1 | jq -c 'del(.keys[].last_used, .keys[].usage_count)'
		iot-device config set alice/d2 mode eco | jq -c 'del(.updated_at)'
	}
	out_up=$(view 2>&1)
	iot_redis_stop
	# The running process and new processes go on through PostgreSQL.
	assert_equal "$(checker_ask "$k1" | jq .valid)" true
	assert_equal "$(checker_ask "$k2" | jq .valid)" true
	run bash -c "echo '$k1' | iot-device key check"
	assert_success
	assert_output --partial 'warning: Redis at 127.0.0.1:'
	assert_output --partial '"valid":true'
	out_down=$(view 2>"$BATS_TEST_TMPDIR/view.err")
	assert_equal "$out_down" "$out_up"
	run cat "$BATS_TEST_TMPDIR/view.err"
	assert_output --regexp '^(iot-device: warning: Redis at 127\.0\.0\.1:[0-9]+ unavailable \(Connection refused\): continuing with PostgreSQL only.?)+$'

	run iot-device show alice/d1
	assert_success
	assert_equal "$(grep -c 'warning: Redis at' <<<"$output")" 1
	# A revoke while Redis is down: the running process has nobody to tell it,
	# so it keeps the key at most 5 seconds.
	run iot-device key revoke alice/d1
	assert_success
	assert_output --partial 'warning: Redis at'
	sleep 5.2
	assert_equal "$(checker_ask "$k1")" '{"valid":false,"error":"invalid API key"}'
	# Redis back: used again without a restart, invalidations reach at once again.
	iot_redis_start 8>&- # the daemon must not hold the checker's fifo open
	# The checker reconnects (backoff at most 4 s) and subscribes again.
	local i
	for ((i = 0; i < 60; i++)); do
		assert_equal "$(checker_ask "$k2" | jq .valid)" true
		rcli_subscribers=$(redis-cli -p "$IOTFLOW_REDIS_PORT" pubsub numsub iotflow:auth:invalidate | tail -n 1)
		((rcli_subscribers >= 1)) && break
		sleep 0.2
	done
	((rcli_subscribers >= 1))
	iot-device set alice/d2 --status maintenance >/dev/null
	assert_equal "$(checker_ask "$k2" | jq -r .status)" maintenance
	run redis-cli -p "$IOTFLOW_REDIS_PORT" --scan --pattern 'iotflow:auth:*'
	assert_output --partial 'iotflow:auth:gen'
	# One warning per outage in the running process.
	run grep -c 'warning: Redis at' "$BATS_TEST_TMPDIR/err"
	assert_output 1
}

@test "auth: without IOTFLOW_REDIS_URL everything works, with one warning" {
	local k
	k=$(new_key d1)
	run bash -c "printf '%s\n%s\n%s\n' '$k' '$k' 'iotf_nope' | IOTFLOW_REDIS_URL= iot-device key check"
	assert_failure 4
	assert_equal "$(grep -c 'warning: Redis not configured' <<<"$output")" 1
	assert_equal "$(grep -c '"valid":true' <<<"$output")" 2
	run bash -c "IOTFLOW_REDIS_URL='redis://:pa55word@127.0.0.1:1/0' iot-device key revoke alice/d1"
	assert_success
	assert_output --partial 'warning: Redis at 127.0.0.1:1 unavailable'
	refute_output --partial pa55word
	run bash -c "IOTFLOW_REDIS_URL='http://x' iot-device list"
	assert_failure 2
	assert_output --partial 'redis_url:'
}

@test "auth: a second process is answered by Redis, the third check of a key by memory" {
	local k
	k=$(new_key d1)
	run bash -c "printf '%s\n%s\n' '$k' '$k' | iot-device key check | jq -r .source"
	assert_output $'database\nmemory'
	run bash -c "echo '$k' | iot-device key check | jq -r .source"
	assert_output redis
	local ttl
	ttl=$(redis-cli -p "$IOTFLOW_REDIS_PORT" ttl "iotflow:auth:key:$(psql -XAtc "select encode(key_digest, 'hex') from device_auth")")
	((ttl > 1700 && ttl <= 1800))
	# Malformed keys never reach the database or Redis.
	run bash -c "printf '%s\n' '' 'x' '${k}x' '${k:0:47}!' \"\$(head -c 300 /dev/zero | tr '\\\\0' a)\" | iot-device key check"
	assert_failure 4
	assert_equal "$(grep -c '"valid":false' <<<"$output")" 5
}

@test "auth: last_used and usage_count are written in one batch, not per check" {
	local k
	k=$(new_key d1)
	run bash -c "for i in \$(seq 50); do echo '$k'; done | iot-device key check"
	assert_success
	run psql -XAtc "select usage_count, last_used > now() - interval '1 minute' from device_auth"
	assert_output '50|t'
	run psql -XAtc "select n_tup_upd from pg_stat_user_tables where relname = 'device_auth'"
	(($output <= 2))
}

@test "auth: a key made with another pepper is refused" {
	local k
	k=$(IOTFLOW_KEY_PEPPER=pepper-one iot-device add p1 --owner alice | jq -r .api_key)
	run bash -c "echo '$k' | IOTFLOW_KEY_PEPPER=pepper-one iot-device key check"
	assert_success
	redis-cli -p "$IOTFLOW_REDIS_PORT" flushall >/dev/null
	run bash -c "echo '$k' | IOTFLOW_KEY_PEPPER=pepper-two iot-device key check"
	assert_failure 4
	run bash -c "echo '$k' | iot-device key check"
	assert_failure 4
}
