#!/usr/bin/env bats
# iot-mqtt-listen when the servers go away mid-stream: PostgreSQL restarted,
# the broker restarted. Nothing the broker acknowledged to a publisher is lost.

load helpers
load mqtt_listen_lib

setup_file() { listen_setup_file; }
teardown_file() { stack_teardown_file; }
setup() { listen_setup; }
teardown() { listen_teardown; }

@test "PostgreSQL restarted during the flow: the listener holds the messages and loses nothing" {
	start_listen --share "$GROUP" --sessions 3
	lines "$A" "$KEY_A" 10000 >"$IOTFLOW_TEST_TMP/burst"
	mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst" >"$BATS_TEST_TMPDIR/pub.out" 3>&- &
	local pp=$! i
	for ((i = 0; i < 300; i++)); do
		(($(rows) >= 1000)) && break
		sleep 0.05
	done
	iot_pg_stop
	sleep 2
	iot_pg_start
	wait "$pp"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pub.out")" "acked 10000 of 10000"
	wait_rows 10000 "" 60
	kill -0 "$LPID"
	sleep 0.5
	assert_equal "$(rows)" 10000
}

@test "the broker restarted during the flow: the listener reconnects on its own, nothing acknowledged is lost" {
	start_listen
	lines "$A" "$KEY_A" 20000 >"$IOTFLOW_TEST_TMP/burst1"
	lines "$A" "$KEY_A" 5000 20000 >"$IOTFLOW_TEST_TMP/burst2"
	# Every message of the first burst is acknowledged by the broker, then
	# the broker stops while the listener still works through its queue.
	run mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst1"
	assert_output "acked 20000 of 20000"
	iot_mqtt_stop
	echo "# rows when the broker stopped: $(rows)" >&3
	sleep 1
	iot_mqtt_start
	wait_log "lost the broker"
	run mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst2"
	assert_output "acked 5000 of 5000"
	wait_rows 25000 "" 120
	kill -0 "$LPID"
	sleep 0.5
	assert_equal "$(rows)" 25000
	grep -q "the broker kept its session" "$LOG"
}

@test "kill -9 of the default listener (one session, plain subscriptions) mid-stream, then a restart: exactly 10,000 rows" {
	start_listen
	lines "$A" "$KEY_A" 10000 >"$IOTFLOW_TEST_TMP/burst"
	mqtt_pub 50 <"$IOTFLOW_TEST_TMP/burst" >"$BATS_TEST_TMPDIR/pub.out" 3>&- &
	local pp=$! i
	for ((i = 0; i < 300; i++)); do
		(($(rows) >= 1000)) && break
		sleep 0.05
	done
	kill -KILL "$LPID"
	wait "$LPID" 2>/dev/null || true
	LPID=
	echo "# rows at kill -9: $(rows)" >&3
	wait "$pp"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pub.out")" "acked 10000 of 10000"
	start_listen
	wait_rows 10000 "" 120
	sleep 0.5
	assert_equal "$(rows)" 10000
}

@test "PostgreSQL stopped for good under load: exit 5 after db_retry_time (one budget, not one per retry), told once; nothing is lost" {
	IOTFLOW_DB_RETRY_TIME=6 start_listen
	lines "$A" "$KEY_A" 5 >"$IOTFLOW_TEST_TMP/five"
	run mqtt_pub 10 <"$IOTFLOW_TEST_TMP/five"
	assert_output "acked 5 of 5"
	wait_rows 5
	iot_pg_stop
	# Messages keep coming: each round now waits for a commit that cannot be.
	local t0=$SECONDS rc=0
	lines "$A" "$KEY_A" 200 5 | awk '{ print; fflush(); system("sleep 0.1") }' | mqtt_pub 10 >"$BATS_TEST_TMPDIR/pub.out" 3>&- &
	local pp=$!
	wait "$LPID" || rc=$?
	local took=$((SECONDS - t0))
	LPID=
	echo "# exit $rc after $took s (db_retry_time 6 s)" >&3
	wait "$pp" || true
	iot_pg_start
	assert_equal "$rc" 5
	# Generous: 6 s and a round's last try, not the 14 s and more of nested budgets.
	((took >= 5 && took <= 11))
	assert_equal "$(grep -c 'warning: PostgreSQL is unavailable' "$LOG")" 1
	grep -q 'fatal: .*PostgreSQL' "$LOG"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/pub.out")" "acked 200 of 200"
	start_listen
	wait_rows 205 "" 60
}

@test "PostgreSQL restarted under a message: told once as a warning, its end once as info; connects are info; libpq's lines whole" {
	start_listen
	iot_pg_stop
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{\"t\":1}}"
	wait_log "PostgreSQL is unavailable"
	iot_pg_start
	wait_rows 1
	wait_log "PostgreSQL is back"
	assert_equal "$(grep -c 'info: PostgreSQL is back$' "$LOG")" 1
	assert_equal "$(grep -c 'warning: PostgreSQL is unavailable' "$LOG")" 1
	grep -q 'info: session .* connected to .* (a new session)' "$LOG"
	! grep -q 'warning: session .* connected to' "$LOG"
	# One line, each run of blanks one space, never cut inside a word.
	! grep 'PostgreSQL is unavailable' "$LOG" | grep -qP '\t|  |[a-z]\): retrying'
	kill -0 "$LPID"
}

@test "the broker down at start: READY=1 all the same, STATUS= says not subscribed; once it is up, readings are stored" {
	local nf=$BATS_TEST_TMPDIR/notify
	notify_socket "$nf"
	iot_mqtt_stop
	NOTIFY_SOCKET=$BATS_TEST_TMPDIR/notify.sock iot-mqtt-listen --client-id "c$GROUP" --session-expiry 600 \
		>>"$IOTFLOW_TEST_TMP/listen.out" 2>>"$LOG" 3>&- &
	LPID=$!
	notify_wait "$nf" 'READY=1' || fail "no READY=1 within 10 s with the broker down"
	grep -q '^READY=1 | STATUS=waiting for the broker: not subscribed$' "$nf"
	kill -0 "$LPID"
	grep -q 'unable to connect to the broker' "$LOG"
	iot_mqtt_start
	wait_log "connected to" 600
	notify_wait "$nf" '^STATUS=subscribed$' || fail "no STATUS=subscribed once the broker is up"
	grep -q '^WATCHDOG=1$' "$nf"
	assert_equal "$(grep -c 'READY=1' "$nf")" 1
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{\"after_broker\":1}}"
	wait_rows 1 "measurement_name = 'after_broker'" 10
}

@test "SIGHUP is ignored with a warning: the listener goes on storing, SIGTERM then drains and exits 0" {
	start_listen
	kill -HUP "$LPID"
	wait_log 'SIGHUP ignored: settings are read only at start' 50
	kill -0 "$LPID"
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{\"after_hup\":1}}"
	wait_rows 1 "measurement_name = 'after_hup'" 10
	kill -TERM "$LPID"
	local rc=0
	wait "$LPID" || rc=$?
	LPID=
	assert_equal "$rc" 0
}

# The listener's own thread (its pid) waits in poll(2) only for PostgreSQL
# (a dispatch round's statement or connect; between ticks it sleeps):
# system call 7 on x86-64, as /proc shows it.
main_thread_polls() { local nr _; read -r nr _ <"/proc/$LPID/syscall" 2>/dev/null && [[ $nr == 7 ]]; }

# Until $LPID has ended (or is a zombie), at most $1 tenths of a second.
wait_ended() {
	local i
	for ((i = 0; i < $1; i++)); do
		[[ $(ps -o stat= -p "$LPID" 2>/dev/null) == [^Z]* ]] || return 0
		sleep 0.1
	done
	return 1
}

@test "SIGTERM while the dispatch round waits for a frozen PostgreSQL: exit 0 within 10 s, the session kept for what comes meanwhile" {
	[[ $(uname -m) == x86_64 ]] || skip "tells the main thread's wait by its system call number, 7 (poll) on x86-64 only"
	start_listen
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{\"before\":1}}"
	wait_rows 1 "measurement_name = 'before'" 10
	pg_freeze
	# A round every 5 s: the next one finds PostgreSQL frozen.
	local i
	for ((i = 0; i < 200; i++)); do
		main_thread_polls && break
		sleep 0.05
	done
	((i < 200)) || fail "no dispatch round waited for PostgreSQL within 10 s"
	local t0
	t0=$(date +%s%N)
	kill -TERM "$LPID"
	# Well inside the unit's TimeoutStopSec=45 and WatchdogSec=30.
	wait_ended 100 || fail "iot-mqtt-listen still running 10 s after SIGTERM"
	local rc=0
	wait "$LPID" || rc=$?
	LPID=
	echo "# exit $rc $((($(date +%s%N) - t0) / 1000000)) ms after SIGTERM" >&3
	assert_equal "$rc" 0
	# Acknowledged by the broker while the listener is away and PostgreSQL
	# frozen: queued in the session the listener left, stored after both return.
	pub "iotflow/devices/$A/telemetry" "{\"api_key\":\"$KEY_A\",\"data\":{\"meanwhile\":1}}"
	pg_thaw
	start_listen
	wait_rows 1 "measurement_name = 'meanwhile'" 30
	assert_equal "$(rows)" 2
}
