#!/usr/bin/env bats
# iot-httpd's start modes and faults: socket activation, inetd mode, group
# commit under concurrent requests, PostgreSQL stopped under load, kill -9
# under load (every 201 stored), SIGTERM draining; requests framed or
# authenticated two ways at once.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_helpers

@test "group commit: concurrent requests share batches, each 201 after its commit" {
	start_httpd --flush-ms 20
	local i pids=()
	for i in $(seq 40); do
		curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
			-d "{\"data\":{\"g$i\":$i},\"timestamp\":\"$NOW\"}" "$U/api/v1/telemetry" >> "$BATS_TEST_TMPDIR/codes" 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}"
	assert_equal "$(sort "$BATS_TEST_TMPDIR/codes" | uniq -c | awk '{ print $1, $2 }')" '40 201'
	assert_equal "$(rows)" 40
	local batches
	batches=$(curl -s "$U/metrics" | sed -n 's/^iotflow_ingest_batches_total //p')
	(( batches < 40 )) || { echo "40 requests took $batches batches"; false; }
}

@test "a slow client holds up nobody: others are answered while its body trickles in" {
	start_httpd --threads 1
	local body='{"data":{"slow":1}}'
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf 'POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: %s\r\nContent-Length: %d\r\n\r\n%s' \
		"$KEY_A" "${#body}" "${body:0:8}" >&5
	sleep 0.3
	local t0=$EPOCHREALTIME
	run post "$KEY_A" '{"data":{"fast":1}}'
	assert_output --regexp '^201 '
	# Answered (and committed) well within a second, the slow one still open.
	(( $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print (b - a < 1) }') ))
	assert_equal "$(rows "measurement_name = 'slow'")" 0
	printf '%s' "${body:8}" >&5
	local answer
	answer=$(timeout 5 head -n 1 <&5)
	exec 5>&-
	[[ $answer == 'HTTP/1.1 201'* ]]
	assert_equal "$(rows "measurement_name in ('slow', 'fast')")" 2
}

@test "a batch stuck on a lock holds up nobody else's points: another writer connection takes them" {
	start_httpd
	run post "$KEY_A" '{"data":{"t":1}}'
	assert_output --regexp '^201 '
	# A's latest-value row of t locked for 4 s: A's next point of t waits on it.
	local locked=$BATS_TEST_TMPDIR/locked
	psql -XAtq -v ON_ERROR_STOP=1 -c "BEGIN" -c "SELECT 1 FROM telemetry_latest WHERE device_id = $A FOR UPDATE" \
		-c "\\! touch $locked" -c "SELECT pg_sleep(4)" -c "COMMIT" > /dev/null 3>&- &
	local locker=$!
	local i
	for ((i = 0; i < 250; i++)); do [[ -e $locked ]] && break; sleep 0.02; done
	[[ -e $locked ]]
	post "$KEY_A" '{"data":{"t":2}}' > "$BATS_TEST_TMPDIR/a.out" 3>&- &
	local a=$!
	sleep 0.3
	local t0=$EPOCHREALTIME
	run post "$KEY_B" '{"data":{"free":1}}'
	assert_output --regexp '^201 '
	(( $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print (b - a < 2) }') ))
	assert_equal "$(rows "measurement_name = 'free'")" 1
	assert_equal "$(rows "measurement_name = 't'")" 1
	wait "$a" "$locker"
	run cat "$BATS_TEST_TMPDIR/a.out"
	assert_output --regexp '^201 '
	assert_equal "$(rows "measurement_name = 't'")" 2
}

# load WORKERS REQUESTS LOG [UNTIL]: WORKERS curl loops posting REQUESTS
# one-point records each, measurement w<worker>_<n>, one "STATUS NAME" line
# per request; with UNTIL, a loop also stops once the file UNTIL exists (a
# fixed count alone can run out before the fault comes on a fast machine).
load_start() {
	local w n
	for w in $(seq "$1"); do
		(
			for n in $(seq "$2"); do
				[[ -n ${4:-} && -e $4 ]] && break
				code=$(curl -s -m 20 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
					-H "X-API-Key: $KEY_A" -d "{\"data\":{\"w${w}_$n\":$n},\"timestamp\":\"$NOW\"}" "$U/api/v1/telemetry") || true
				echo "$code w${w}_$n"
			done
		) >> "$3" 3>&- &
		LOADERS+=($!)
	done
}

# Every name that got a 201 in LOG is stored: prints how many 201s there were.
acknowledged_are_stored() {
	awk '$1 == 201 { print $2 }' "$1" | sort > "$BATS_TEST_TMPDIR/acked"
	q "select measurement_name from telemetry_data" | sort > "$BATS_TEST_TMPDIR/stored"
	local missing
	missing=$(comm -23 "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/stored" | wc -l)
	[[ $missing == 0 ]] || { echo "$missing acknowledged points are not stored:"; comm -23 "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/stored" | head; return 1; }
	wc -l < "$BATS_TEST_TMPDIR/acked"
}

@test "PostgreSQL stopped under load: 503s, no 201 for a point not stored, recovery without a restart" {
	IOTFLOW_DB_RETRY_TIME=2 start_httpd --commit-timeout 1500 --rate-limit 0
	local log=$BATS_TEST_TMPDIR/load
	LOADERS=()
	load_start 4 100000 "$log" "$BATS_TEST_TMPDIR/enough"
	sleep 1
	iot_pg_stop
	sleep 3
	# An answer while PostgreSQL is away: 503, Retry-After, the JSON shape, in bounded time.
	local t0=$SECONDS
	curl -s -i -m 10 -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		-d '{"data":{"away":1}}' "$U/api/v1/telemetry" > "$BATS_TEST_TMPDIR/away"
	(( SECONDS - t0 <= 3 ))
	sleep 1
	iot_pg_start
	touch "$BATS_TEST_TMPDIR/enough"
	wait "${LOADERS[@]}" || true
	run cat "$BATS_TEST_TMPDIR/away"
	assert_line --partial 'HTTP/1.1 503'
	assert_line --regexp '^Retry-After: [0-9]+'
	assert_output --partial '{"error":"Service Unavailable","message":"PostgreSQL'
	run awk '{ print $1 }' "$log"
	assert_line 201
	assert_line 503
	refute_line 500
	refute_line 000
	run acknowledged_are_stored "$log"
	assert_success
	# Back to normal without a restart.
	local i
	for i in $(seq 50); do
		[[ $(post "$KEY_A" '{"data":{"after":1}}' | cut -d ' ' -f 1) == 201 ]] && break
		sleep 0.2
	done
	assert_equal "$(rows "measurement_name = 'after'")" 1
	kill -0 "$HTTPD_PID"
}

@test "kill -9 under load: every point that got a 201 is in the database" {
	start_httpd --rate-limit 0
	local log=$BATS_TEST_TMPDIR/load
	LOADERS=()
	load_start 6 200 "$log"
	local i
	local acked
	for i in $(seq 100); do
		acked=$(grep -c '^201' "$log" 2>/dev/null) || true
		(( ${acked:-0} > 50 )) && break
		sleep 0.05
	done
	kill -9 "$HTTPD_PID"
	wait "$HTTPD_PID" 2>/dev/null || true
	HTTPD_PID=
	wait "${LOADERS[@]}" || true
	run acknowledged_are_stored "$log"
	assert_success
	(( output > 50 ))
	# The kill came while requests were in flight.
	grep -q '^000' "$log" || { awk '{ print $1 }' "$log" | sort | uniq -c; false; }
}

@test "SIGTERM drains: a request waiting for its commit gets its 201, then exit 0" {
	start_httpd
	# Hold the writer's batch on a lock, post, then SIGTERM while it waits.
	mkfifo "$BATS_TEST_TMPDIR/lockfifo"
	psql -XAtq < "$BATS_TEST_TMPDIR/lockfifo" > /dev/null 3>&- &
	local locker=$!
	exec 4> "$BATS_TEST_TMPDIR/lockfifo"
	echo 'BEGIN; LOCK TABLE telemetry_latest IN ACCESS EXCLUSIVE MODE; SELECT 1;' >&4
	sleep 0.3
	curl -s -o "$BATS_TEST_TMPDIR/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" \
		-d '{"data":{"drained":1}}' "$U/api/v1/telemetry" > "$BATS_TEST_TMPDIR/code" 3>&- &
	local client=$!
	sleep 0.5
	kill -TERM "$HTTPD_PID"
	sleep 0.5
	# Not accepting any more, still alive for the one in flight.
	run curl -s -m 2 -o /dev/null -w '%{http_code}' "$U/health"
	refute_output 200
	kill -0 "$HTTPD_PID"
	echo 'COMMIT;' >&4
	exec 4>&-
	wait "$locker" || true
	wait "$client"
	local rc=0
	wait "$HTTPD_PID" || rc=$?
	HTTPD_PID=
	assert_equal "$(cat "$BATS_TEST_TMPDIR/code")" 201
	assert_equal "$rc" 0
	assert_equal "$(rows "measurement_name = 'drained'")" 1
}

# A frozen PostgreSQL host (SIGSTOP: the kernel takes the bytes, nothing
# answers), thawed again in teardown whatever happened.
teardown_extra() { [[ -z ${PG_FROZEN:-} ]] || kill -CONT $PG_FROZEN 2>/dev/null || true; PG_FROZEN=; }

@test "SIGTERM while PostgreSQL is frozen, nothing in flight: the exit waits at most 2 s for the keys' usage counts" {
	start_httpd
	run post "$KEY_A" '{"data":{"before_freeze":1}}'
	assert_output --regexp '^201 '
	local pm
	pm=$(head -n 1 "$IOTFLOW_PG_DATA/postmaster.pid")
	PG_FROZEN="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
	kill -STOP $PG_FROZEN
	kill -TERM "$HTTPD_PID"
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(ps -o stat= -p "$HTTPD_PID" 2>/dev/null) == [^Z]* ]] || break
		sleep 0.1
	done
	# Within 10 s, well inside the unit's TimeoutStopSec=45.
	((i < 100)) || fail "iot-httpd still running 10 s after SIGTERM"
	local rc=0
	wait "$HTTPD_PID" || rc=$?
	HTTPD_PID=
	assert_equal "$rc" 0
}

@test "SIGHUP is ignored with a warning: still serving, SIGTERM then drains and exits 0" {
	start_httpd
	kill -HUP "$HTTPD_PID"
	local i
	for ((i = 0; i < 50; i++)); do
		grep -q 'SIGHUP ignored: settings are read only at start' "$BATS_TEST_TMPDIR/httpd.log" && break
		sleep 0.1
	done
	run cat "$BATS_TEST_TMPDIR/httpd.log"
	assert_output --partial 'iot-httpd: warning: SIGHUP ignored: settings are read only at start (restart to apply them)'
	run post "$KEY_A" '{"data":{"after_hup":1}}'
	assert_output --regexp '^201 '
	kill -TERM "$HTTPD_PID"
	local rc=0
	wait "$HTTPD_PID" || rc=$?
	HTTPD_PID=
	assert_equal "$rc" 0
	assert_equal "$(rows "measurement_name = 'after_hup'")" 1
}

@test "systemd socket activation: the listening socket on fd 3" {
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
	mapfile -t envs < <(activate_env)
	fd3() { systemd-socket-activate "${envs[@]}" -l "127.0.0.1:$PORT" "$IOTFLOW_ROOT/bin/iot-httpd" 2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- & }
	on_spare_port fd3
	run post "$KEY_A" '{"data":{"sa":1}}'
	assert_output --regexp '^201 '
	assert_equal "$(rows "measurement_name = 'sa'")" 1
	kill -TERM "$HTTPD_PID"
	local rc=0
	wait "$HTTPD_PID" || rc=$?
	HTTPD_PID=
	assert_equal "$rc" 0
}

@test "inetd mode: one connection on fd 0, served, then exit (systemd-socket-activate --inetd, socat)" {
	command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
	mapfile -t envs < <(activate_env)
	# libmicrohttpd's warnings about what a connection handed over is
	# expected to be (no thread pool for one connection; TCP options of
	# socat's socketpair, which is no TCP socket) are not written for
	# every connection.
	no_mhd_warnings() {
		run cat "$BATS_TEST_TMPDIR/httpd.log"
		refute_output --partial 'HTTP: '
	}
	inetd() {
		systemd-socket-activate "${envs[@]}" --inetd -a -l "127.0.0.1:$PORT" "$IOTFLOW_ROOT/bin/iot-httpd" --inetd \
			2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
	}
	on_spare_port inetd
	run post "$KEY_A" '{"data":{"inetd":1}}'
	assert_output --regexp '^201 '
	# Two requests on one kept-alive connection, both answered.
	run curl -s -o /dev/null -o /dev/null -w '%{http_code}\n' "$U/health" "$U/"
	assert_output $'200\n200'
	assert_equal "$(rows "measurement_name = 'inetd'")" 1
	no_mhd_warnings
	# Each connection's iot-httpd has exited.
	sleep 0.5
	run pgrep -P "$HTTPD_PID"
	assert_output ''
	kill -TERM "$HTTPD_PID"; wait "$HTTPD_PID" || true
	HTTPD_PID=
	# Accept=yes without --inetd: the connection on fd 3.
	accept() { systemd-socket-activate "${envs[@]}" -a -l "127.0.0.1:$PORT" "$IOTFLOW_ROOT/bin/iot-httpd" 2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- & }
	on_spare_port accept
	run post "$KEY_A" '{"data":{"accept":1}}'
	assert_output --regexp '^201 '
	no_mhd_warnings
	kill -TERM "$HTTPD_PID"; wait "$HTTPD_PID" || true
	HTTPD_PID=
	command -v socat >/dev/null || skip "socat is not installed"
	via_socat() {
		socat "TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork" EXEC:"$IOTFLOW_ROOT/bin/iot-httpd --inetd" \
			2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
	}
	on_spare_port via_socat
	run post "$KEY_A" '{"data":{"socat":1}}'
	assert_output --regexp '^201 '
	assert_equal "$(rows "measurement_name = 'socat'")" 1
	no_mhd_warnings
}

# raw TEXT: TEXT sent at once on a new connection; prints what comes back
# until the server closes it (5 s at most).
raw() {
	local out
	exec 5<>"/dev/tcp/127.0.0.1/$PORT"
	printf '%s' "$1" >&5
	out=$(timeout 5 cat <&5 || true)
	exec 5>&-
	printf '%s\n' "$out"
}

@test "two Content-Length, X-API-Key or Authorization headers: 400, nothing stored, the connection closed" {
	start_httpd
	# One body framed two ways (16 bytes, or 5 and a pipelined request after
	# them): a proxy in front may have read it the other way.
	# (Written at once: the server answers and closes after the headers.)
	local out
	out=$(raw "$(printf 'POST /api/v1/telemetry HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: 16\r\nContent-Length: 5\r\n\r\n{"data":{"e":1}}GET /health HTTP/1.1\r\nHost: x\r\n\r\n' "$KEY_A")")
	echo "$out"
	[[ $out == 'HTTP/1.1 400 '* ]]
	[[ $out == *'"message":"The request holds more than one Content-Length header"'* ]]
	grep -qi '^Connection: close' <<<"$out"
	[[ $out != *healthy* ]]
	# Two credentials: neither is taken.
	has "$(req -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY_A" -H "X-API-Key: $KEY_B" \
		-d '{"data":{"t":1}}' "$U/api/v1/telemetry")" 400 '.message == "The request holds more than one X-API-Key header"'
	has "$(req -H "Authorization: Bearer $ALICE" -H "Authorization: Bearer $ROOT" "$U/api/v1/telemetry/$A")" 400 \
		'.message == "The request holds more than one Authorization header"'
	assert_equal "$(rows)" 0
	has "$(post "$KEY_A" '{"data":{"t":1}}')" 201
	has "$(req -H "Authorization: Bearer $ALICE" "$U/api/v1/telemetry/$A")" 200 '.count == 1'
}

@test "Content-Length with Transfer-Encoding is 400, a coding other than chunked 501, the connection closed each time" {
	start_httpd
	local head="POST /api/v1/telemetry HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"X-API-Key: $KEY_A"$'\r\n'"Content-Type: application/json"$'\r\n'
	local chunked=$'\r\n'"10"$'\r\n''{"data":{"t":1}}'$'\r\n'"0"$'\r\n\r\n'
	local next="GET /health HTTP/1.1"$'\r\n'"Host: x"$'\r\n\r\n'
	# Stored from the chunks and the connection kept, before: a proxy that
	# went by the length would have sent its next client's request as ours.
	run raw "${head}Content-Length: 3"$'\r\n'"Transfer-Encoding: chunked"$'\r\n'"$chunked$next"
	assert_line --index 0 --partial 'HTTP/1.1 400 '
	assert_output --partial '"message":"The request holds both Content-Length and Transfer-Encoding"'
	assert_output --partial 'Connection: close'
	refute_output --partial healthy
	# Waited for a body it could not delimit, with no answer, before.
	run raw "${head}Transfer-Encoding: gzip, chunked"$'\r\n'"$chunked"
	assert_line --index 0 --partial 'HTTP/1.1 501 '
	assert_output --partial '"error":"Not Implemented"'
	run raw "${head}Transfer-Encoding: chunked"$'\r\n'"Transfer-Encoding: chunked"$'\r\n'"$chunked"
	assert_line --index 0 --partial 'HTTP/1.1 400 '
	assert_output --partial 'more than one Transfer-Encoding header'
	assert_equal "$(rows)" 0
	# Chunked alone, in any case, is as ever: stored, the connection kept.
	run raw "${head}Transfer-Encoding: Chunked"$'\r\n'"$chunked${next%$'\r\n'}"$'\r\n'"Connection: close"$'\r\n\r\n'
	assert_line --index 0 --partial 'HTTP/1.1 201 '
	assert_output --partial healthy
	assert_equal "$(rows)" 1
}

# trickle PREFIX TEXT: on a new connection PREFIX at once, then TEXT a byte
# every 0.3 s; says "cut N" when the server closed it after N bytes of TEXT,
# "sent" when all of it went.
trickle() {
	local prefix=$1 text=$2 i
	(
		trap '' PIPE
		exec 5<>"/dev/tcp/127.0.0.1/$PORT"
		printf '%s' "$prefix" >&5
		for ((i = 0; i < ${#text}; i++)); do
			printf '%s' "${text:i:1}" >&5 2>/dev/null || { echo "cut $i"; exit 0; }
			sleep 0.3
		done
		echo sent
	)
}

@test "--timeout bounds a request's arrival: headers or a body trickled in are cut off; streams are not" {
	start_httpd --timeout 2
	local pad; pad=$(printf 'a%.0s' $(seq 60))
	# Headers a byte at a time (18 s if let be): cut after about 2 s.
	run trickle '' "GET /health HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"X-Pad: $pad"
	echo "headers: $output"
	assert_output --regexp '^cut [0-9]+$'
	# The same on a connection kept alive, after a request answered on it.
	run trickle "GET /health HTTP/1.1"$'\r\n'"Host: x"$'\r\n\r\n' "GET /health HTTP/1.1"$'\r\n'"X-Pad: $pad"
	echo "kept alive: $output"
	assert_output --regexp '^cut [0-9]+$'
	# A body, its headers at once: cut, nothing stored.
	local body="{\"data\":{\"trickled\":1},\"metadata\":{\"pad\":\"$pad\"}}"
	run trickle "POST /api/v1/telemetry HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"Content-Type: application/json"$'\r\n'"X-API-Key: $KEY_A"$'\r\n'"Content-Length: ${#body}"$'\r\n\r\n' "$body"
	echo "body: $output"
	assert_output --regexp '^cut [0-9]+$'
	assert_equal "$(rows)" 0
	# An event stream is being answered: it outlives the timeout.
	open_stream "$BATS_TEST_TMPDIR/stream" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/stream"
	sleep 3
	has "$(post "$KEY_A" '{"data":{"late":1}}')" 201
	wait_for "$BATS_TEST_TMPDIR/stream" '"late"'
	kill "$CURL_PID"
	wait "$CURL_PID" 2>/dev/null || true
	# The server serves on.
	run curl -s -o /dev/null -w '%{http_code}' "$U/health"
	assert_output 200
}
