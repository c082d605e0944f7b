#!/usr/bin/env bats
# iot-ingest when things go wrong under it: kill -9 and reruns, PostgreSQL
# stopped, gone for good or restarted, lock timeouts, permissions, a
# partition or a device removed under a running writer, SIGTERM.

load helpers
load ingest_lib

setup_file() { ingest_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { ingest_setup; }

@test "kill -9 in the middle of a 200k-line file, then a rerun, leaves exactly 200k rows" {
	local start=$(( $(date +%s) - 300000 ))
	awk -v a="$A" -v s="$start" 'BEGIN { for (i = 0; i < 200000; i++) printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, i, s + i }' > "$BATS_TEST_TMPDIR/in"
	iot-ingest -q --batch-size 2000 "$BATS_TEST_TMPDIR/in" > /dev/null 3>&- &
	local pid=$!
	local i
	for i in $(seq 200); do (( $(rows) > 0 )) && break; sleep 0.05; done
	kill -9 "$pid"
	wait "$pid" || true
	local partial; partial=$(rows)
	(( partial > 0 && partial < 200000 )) || { echo "partial=$partial: the kill came too late or too early"; false; }
	run iot-ingest -q "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(rows)" "200000"
	assert_output --partial "\"duplicates\":$partial"
}

@test "PostgreSQL stopped mid-stream and started 5 s later: nothing lost, nothing doubled" {
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	iot-ingest --flush-ms 50 < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	{
		local i
		for i in $(seq 1 300); do
			echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}"
			(( i == 100 )) && { sleep 0.5; iot_pg_stop; }
			(( i > 100 && i < 200 )) && sleep 0.05
			(( i == 200 )) && { sleep 0.5; iot_pg_start; }
		done
	} > "$fifo"
	wait "$pid" || { cat "$BATS_TEST_TMPDIR/err"; false; }
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"read":300,"records":300,"points":300,"stored":300,"duplicates":0,"rejected":0}'
	assert_equal "$(rows)" "300"
	assert_equal "$(q "select count(distinct numeric_value) from telemetry_data")" "300"
}

@test "PostgreSQL gone for good: exit 5, what was committed before stays, the retry is announced once and the loss counted" {
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	IOTFLOW_DB_RETRY_TIME=2 iot-ingest --flush-ms 20 < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	exec 4> "$fifo"
	local i
	for i in $(seq 1 10); do echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}" >&4; done
	for i in $(seq 100); do [[ $(rows) == 10 ]] && break; sleep 0.05; done
	iot_pg_stop 4>&-
	for i in $(seq 11 20); do echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}" >&4; done
	exec 4>&-
	local rc=0
	wait "$pid" || rc=$?
	iot_pg_start
	assert_equal "$rc" 5
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial "iot-ingest: fatal:"
	assert_equal "$(grep -c 'warning: PostgreSQL is unavailable (.*): retrying for up to' "$BATS_TEST_TMPDIR/err")" "1"
	assert_output --partial "warning: 10 of the 20 points read were not stored"
	assert_equal "$(rows)" "10"
}

@test "PostgreSQL restarted while the writers are idle: their next batches go through" {
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	iot-ingest --flush-ms 20 < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	exec 4> "$fifo"
	local i
	for i in $(seq 1 10); do echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}" >&4; sleep 0.03; done
	for i in $(seq 100); do [[ $(rows) == 10 ]] && break; sleep 0.05; done
	# 4>&-: the restarted server must not inherit the pipe's write end.
	iot_pg_stop 4>&-
	iot_pg_start 4>&-
	for i in $(seq 11 30); do echo "{\"device_id\":$A,\"data\":{\"v\":$i},\"timestamp\":$((1764300000 + i))}" >&4; sleep 0.03; done
	exec 4>&-
	wait "$pid" || { cat "$BATS_TEST_TMPDIR/err"; false; }
	assert_equal "$(rows)" "30"
	assert_equal "$(q "select numeric_value from telemetry_latest where device_id = $A")" "30"
}

@test "a lock timeout is retried, not blamed on the points" {
	psql -XAtq -c "BEGIN; LOCK telemetry_data IN SHARE MODE; SELECT pg_sleep(1.5); COMMIT;" >/dev/null 3>&- &
	local locker=$!
	sleep 0.3
	# Recent points: their partition exists, so it is the COPY that meets the lock.
	local now; now=$(date +%s)
	seq 1 20 | awk -v a="$A" -v t="$now" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, t - 20 + $1 }' > "$BATS_TEST_TMPDIR/in"
	PGOPTIONS="-c lock_timeout=200" run --separate-stderr iot-ingest -r "$BATS_TEST_TMPDIR/rej" \
		--metrics-file "$BATS_TEST_TMPDIR/m.prom" "$BATS_TEST_TMPDIR/in"
	wait "$locker"
	assert_success
	assert_output --partial '"stored":20,"duplicates":0,"rejected":0'
	[ ! -s "$BATS_TEST_TMPDIR/rej" ]
	# It did wait for the lock: the batch was retried at least once.
	grep -Eq '^iotflow_ingest_retries_total [1-9]' "$BATS_TEST_TMPDIR/m.prom"
}

@test "permission denied fails the batch (exit 4) instead of rejecting every point" {
	q "CREATE ROLE ingest_ro LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ingest_ro"
	seq 1 5 | awk -v a="$A" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d}}\n", a, $1 }' > "$BATS_TEST_TMPDIR/in"
	PGUSER=ingest_ro run --separate-stderr iot-ingest -r "$BATS_TEST_TMPDIR/rej" "$BATS_TEST_TMPDIR/in"
	q "DROP OWNED BY ingest_ro; DROP ROLE ingest_ro"
	assert_equal "$status" 4
	[[ $stderr == *"permission denied"* ]]
	[ ! -s "$BATS_TEST_TMPDIR/rej" ]
	assert_equal "$(rows)" "0"
}

@test "a partition dropped under a running writer (retention) is created again" {
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	iot-ingest --flush-ms 20 < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	exec 4> "$fifo"
	echo "{\"device_id\":$A,\"data\":{\"v\":1}}" >&4
	local i
	for i in $(seq 100); do [[ $(rows) == 1 ]] && break; sleep 0.05; done
	local part; part=$(q "select tableoid::regclass from telemetry_data")
	q "DROP TABLE $part"
	echo "{\"device_id\":$A,\"data\":{\"v\":2}}" >&4
	exec 4>&-
	wait "$pid" || { cat "$BATS_TEST_TMPDIR/err"; false; }
	assert_equal "$(rows)" "1"
	assert_equal "$(q "select numeric_value from telemetry_data")" "2"
}

@test "SIGTERM mid-file: what was read is committed, it says so and exits 143" {
	awk -v a="$A" 'BEGIN { for (i = 0; i < 2000; i++) printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, i, 1764300000 + i }' > "$BATS_TEST_TMPDIR/in"
	# A pipe that delivers the first half and then stays open: the signal comes mid-input.
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	iot-ingest --flush-ms 20 < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	exec 4> "$fifo"
	head -n 1000 "$BATS_TEST_TMPDIR/in" >&4
	local i
	for i in $(seq 100); do [[ $(rows) == 1000 ]] && break; sleep 0.05; done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	exec 4>&-
	assert_equal "$rc" 143
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial "warning: stopped by Terminated after 1000 lines: the rest of the input was not read"
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"read":1000,"records":1000,"points":1000,"stored":1000,"duplicates":0,"rejected":0}'
}

@test "SIGTERM while a lock holds the writer: it stops within seconds and says what was not stored" {
	psql -XAtq -c "BEGIN; LOCK telemetry_latest IN EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT;" >/dev/null 2>&1 3>&- &
	local locker=$!
	sleep 0.3
	local now; now=$(date +%s)
	local fifo="$BATS_TEST_TMPDIR/fifo"
	mkfifo "$fifo"
	IOTFLOW_DB_RETRY_TIME=60 iot-ingest --flush-ms 20 < "$fifo" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	exec 4> "$fifo"
	seq 1 20 | awk -v a="$A" -v t="$now" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, t - 20 + $1 }' >&4
	sleep 1
	kill -TERM "$pid"
	# Bounded: the lock wait ends by lock_timeout and nothing is retried once stopping
	# (before, it waited out the lock and then the retry budget).
	local i
	for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	local alive=0
	kill -0 "$pid" 2>/dev/null && alive=1
	kill -9 "$pid" 2>/dev/null || true
	exec 4>&-
	q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
	wait "$locker" || true
	local rc=0
	wait "$pid" || rc=$?
	assert_equal "$alive" 0
	# The signal's status: the database is not unavailable, its own cancelled
	# statement is no fatal error (it was exit 5 with 'fatal: ... canceling statement').
	assert_equal "$rc" 143
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial "warning: stopped by Terminated after 20 lines: the rest of the input was not read"
	assert_output --partial "20 of the 20 points read were not stored"
	refute_output --partial "fatal"
	assert_equal "$(rows)" "0"
}

@test "SIGTERM after the end of the input, while the last batch waits for a lock: exit 143, nothing claimed unread" {
	seq 1 5 | awk -v a="$A" '{ printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", a, $1, 1764300000 + $1 }' > "$BATS_TEST_TMPDIR/in"
	psql -XAtq -c "BEGIN; LOCK telemetry_latest IN EXCLUSIVE MODE; SELECT pg_sleep(30); COMMIT;" >/dev/null 2>&1 3>&- &
	local locker=$!
	sleep 0.3
	IOTFLOW_DB_RETRY_TIME=60 iot-ingest "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/out" 2> "$BATS_TEST_TMPDIR/err" 3>&- &
	local pid=$!
	local i
	for i in $(seq 100); do
		[[ $(q "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'telemetry_latest'::regclass") != 0 ]] && break
		sleep 0.05
	done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()" >/dev/null
	wait "$locker" || true
	assert_equal "$rc" 143
	run cat "$BATS_TEST_TMPDIR/err"
	assert_output --partial "warning: stopped by Terminated after the end of the input (5 lines), before all of it was stored"
	assert_output --partial "5 of the 5 points read were not stored"
	refute_output --partial "the rest of the input was not read"
	refute_output --partial "fatal"
	run cat "$BATS_TEST_TMPDIR/out"
	assert_output '{"read":5,"records":5,"points":5,"stored":0,"duplicates":0,"rejected":0}'
	assert_equal "$(rows)" "0"
	# Fed again, it is all stored.
	run iot-ingest "$BATS_TEST_TMPDIR/in"
	assert_success
	assert_equal "$(rows)" "5"
}

@test "PostgreSQL not there at the start: the retry is announced, with the reason, before exit 5" {
	IOTFLOW_DB_RETRY_TIME=1 run --separate-stderr iot-ingest --db 'host=127.0.0.1 port=1' /dev/null
	assert_equal "$status" 5
	[[ $stderr == *"warning: PostgreSQL is unavailable ("*"): retrying for up to 1 s"* ]]
}

@test "a device removed mid-stream: its points rejected, none of its rows left, the bystander whole" {
	local R; R=$(iot-device add dev-rm --owner ingester | jq -r .id)
	local dir=$BATS_TEST_TMPDIR
	# Count the rows the removal takes with it, so every point the summary
	# calls stored can be found: in telemetry_data, or removed with dev-rm.
	q "CREATE TABLE test_removed (device_id integer, n bigint);
	   CREATE FUNCTION test_count_removed() RETURNS trigger LANGUAGE plpgsql AS \$\$
	   BEGIN INSERT INTO test_removed SELECT device_id, count(*) FROM gone GROUP BY device_id; RETURN NULL; END \$\$;
	   CREATE TRIGGER test_count_removed AFTER DELETE ON telemetry_data REFERENCING OLD TABLE AS gone
	   FOR EACH STATEMENT EXECUTE FUNCTION test_count_removed()"
	# Line k (from 1): odd lines dev-rm, even lines the bystander dev-a.
	gen() { awk -v r="$R" -v a="$A" -v s="$(( $(date +%s) - 600000 ))" -v from="$1" -v n="$2" \
		'BEGIN { for (k = from; k < from + n; k++) printf "{\"device_id\":%s,\"data\":{\"v\":%d},\"timestamp\":%d}\n", k % 2 ? r : a, k, s + k }'; }
	mkfifo "$dir/fifo"
	iot-ingest -r "$dir/rej" --metrics-file "$dir/m.prom" < "$dir/fifo" > "$dir/out" 2> "$dir/err" 3>&- &
	local pid=$!
	# The stream goes on before, during and after the removal: 100k lines,
	# then 2,000 at a time until the removal is done (at most 400k), then 20k.
	{
		local k=1
		gen $k 100000; k=$((k + 100000))
		touch "$dir/half"
		while [[ ! -e $dir/removed ]]; do
			(( k < 500000 )) || { touch "$dir/capped"; break; }
			gen $k 2000; k=$((k + 2000))
		done
		gen $k 20000; k=$((k + 20000))
		echo $((k - 1)) > "$dir/sent"
	} > "$dir/fifo" &
	local writer=$!
	local i
	for i in $(seq 400); do [[ -e $dir/half ]] && (( $(rows "device_id = $R") > 0 )) && break; sleep 0.05; done
	(( $(rows "device_id = $R") > 0 ))
	run iot-device rm ingester/dev-rm
	touch "$dir/removed"
	assert_success
	local st=0; wait "$pid" || st=$?
	wait "$writer" || true
	echo "exit $st; $(cat "$dir/out")"; tail -3 "$dir/err"
	# Some points were rejected (exit 1), nothing failed (not 6).
	assert_equal "$st" 1
	[[ ! -e $dir/capped ]] || { echo "the removal waited for the end of the stream"; false; }
	local sent; sent=$(cat "$dir/sent")
	# Every point of the bystander is stored; nothing of dev-rm is left anywhere.
	assert_equal "$(rows "device_id = $A")" "$((sent / 2))"
	assert_equal "$(rows "device_id = $R")" "0"
	assert_equal "$(q "select count(*) from telemetry_latest where device_id = $R")" "0"
	assert_equal "$(q "select count(*) from telemetry_hourly where device_id = $R")" "0"
	assert_equal "$(q "select sum(count) from telemetry_hourly where device_id = $A")" "$((sent / 2))"
	# The summary's stored points are the rows there are, and those removed with dev-rm.
	local stored rejected
	stored=$(jq .stored "$dir/out"); rejected=$(jq .rejected "$dir/out")
	assert_equal "$stored" "$(q "select (select count(*) from telemetry_data)
	                                  + (select coalesce(sum(n), 0) from test_removed where device_id = $R)")"
	assert_equal "$((stored + rejected))" "$sent"
	(( rejected > 0 ))
	# Every rejected line is one of dev-rm's, rejected as an unknown device
	# (by the resolver, or by the batch that found it gone): none was taken
	# for a bad point and bisected.
	assert_equal "$(grep -c '^{' "$dir/rej")" "$rejected"
	assert_equal "$(grep '^{' "$dir/rej" | jq -r .device_id | sort -u)" "$R"
	assert_equal "$(grep -Ec "^# stdin:[0-9]+: (measurement v: )?unknown device $R( \(removed\))?\$" "$dir/rej")" "$rejected"
	grep -qx 'iotflow_ingest_bisect_steps_total 0' "$dir/m.prom"
}

@test "PostgreSQL refusing the credentials: exit 4 at once from every program, without retrying" {
	# Roles that only this test uses: one the server wants a password from,
	# one a pg_hba.conf "reject" line refuses; their lines before the trust ones.
	psql -qX -d postgres -c "CREATE ROLE t_pw LOGIN SUPERUSER PASSWORD 'right-one'" -c "CREATE ROLE t_rej LOGIN SUPERUSER"
	local hba=$IOTFLOW_PG_DATA/pg_hba.conf
	cp "$hba" "$BATS_TEST_TMPDIR/hba"
	{ printf 'host all t_pw 127.0.0.1/32 scram-sha-256\nhost all t_rej 127.0.0.1/32 reject\n'; cat "$BATS_TEST_TMPDIR/hba"; } > "$hba"
	psql -qXAt -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
	local who prog start pw
	for who in t_pw:none t_pw:wrong-one t_rej:none; do
		pw=()
		[[ ${who#*:} == none ]] || pw=("PGPASSWORD=${who#*:}")
		for prog in 'iot-ingest /dev/null' 'iot-user list' 'iot-device list' 'iot-migrate status' 'iot-chart list'; do
			start=$SECONDS
			# shellcheck disable=SC2086 # the program's words are split on purpose
			run --separate-stderr env PGHOST=127.0.0.1 PGUSER="${who%%:*}" PGPASSFILE="$BATS_TEST_TMPDIR/no-pgpass" \
				IOTFLOW_DB_RETRY_TIME=10 "${pw[@]}" $prog </dev/null
			[[ $status == 4 && $stderr == *"fatal: unable to connect to PostgreSQL"* && $stderr != *warning* ]] ||
				fail "$prog as $who: exit $status, stderr: $stderr"
			((SECONDS - start < 5)) || fail "$prog as $who: $((SECONDS - start)) s, retried"
			[[ $stderr != *wrong-one* ]] || fail "$prog as $who: the password in stderr"
		done
	done
	# The lines were live: the right password is let in.
	run env PGHOST=127.0.0.1 PGUSER=t_pw PGPASSWORD=right-one iot-user list
	cp "$BATS_TEST_TMPDIR/hba" "$hba"
	psql -qXAt -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
	assert_success
}
