# shellcheck shell=bash
# mqtt_listen_lib.bash — what the iot-mqtt-listen suites share: a migrated
# template with an owner and devices, the listener in the background, a
# QoS 1 publisher that counts its PUBACKs, and waiting for rows.

# The broker keeps queued QoS 1 messages for sessions that are away without
# the default cap of 1000 per session (the kill -9 and restart tests queue
# thousands), and lets a session have many messages in flight.
IOT_MOSQUITTO_EXTRA_CONF=$'max_queued_messages 0\nmax_inflight_messages 0'

listen_setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add lis >/dev/null
		iot-device add dev-a --owner lis > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner lis > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-off --owner lis --status inactive > "$IOTFLOW_TEST_TMP/dev-off.json"'
}

listen_setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json"); KEY_B=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-b.json")
	OFF=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-off.json"); KEY_OFF=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-off.json")
	# Client ids (and a group) of this test's own: a session of an earlier
	# test that the broker keeps must not be taken over.
	GROUP=g${BATS_TEST_NUMBER}x$RANDOM
	LOG=$IOTFLOW_TEST_TMP/listen-$BATS_TEST_NUMBER.log
	LPID=
}

listen_teardown() {
	[[ -z ${PG_FROZEN:-} ]] || pg_thaw 2>/dev/null || true
	if [[ -n ${LPID:-} ]] && kill -0 "$LPID" 2>/dev/null; then
		kill -KILL "$LPID" 2>/dev/null
		wait "$LPID" 2>/dev/null
	fi
	LPID=
	[[ -z ${NOTIFY_PID:-} ]] || kill "$NOTIFY_PID" 2>/dev/null || true
	NOTIFY_PID=
	iot_mqtt_start >/dev/null 2>&1 || true # a test that stopped it
}

# notify_socket FILE: a datagram socket at $BATS_TEST_TMPDIR/notify.sock, as
# systemd's NOTIFY_SOCKET, writing each message it gets to FILE, one line
# each (newlines inside as ' | '); its pid in NOTIFY_PID.
notify_socket() {
	local sock=$BATS_TEST_TMPDIR/notify.sock
	rm -f "$sock"
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    print("bound", file=out, flush=True)
    while True:
        print(s.recv(4096).decode().strip().replace("\n", " | "), file=out, flush=True)
' "$sock" "$1" 3>&- &
	NOTIFY_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -S $sock ]] && grep -q '^bound$' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "notify_socket: no socket at $sock" >&2
	return 1
}

# notify_wait FILE REGEX [TENTHS]: until a message in FILE matches (default 10 s).
notify_wait() {
	local i n=${3:-100}
	for ((i = 0; i < n; i++)); do
		grep -qE -- "$2" "$1" && return 0
		sleep 0.1
	done
	echo "notify_wait: no '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
rows() { q "select count(*) from telemetry_data${1:+ where $1}"; }

# start_listen [OPTION]...: iot-mqtt-listen in the background (pid in LPID),
# stderr to $LOG; waits until a session has subscribed.
start_listen() {
	iot-mqtt-listen --client-id "c$GROUP" --session-expiry 600 "$@" >>"$IOTFLOW_TEST_TMP/listen.out" 2>>"$LOG" 3>&- &
	LPID=$!
	wait_log "connected to" 100
}

# wait_log TEXT [TENTHS]: until $LOG holds TEXT (default 10 s).
wait_log() {
	local i n=${2:-100}
	for ((i = 0; i < n; i++)); do
		grep -qF -- "$1" "$LOG" 2>/dev/null && { sleep 0.2; return 0; }
		sleep 0.1
	done
	echo "wait_log: '$1' not in $LOG:" >&2
	cat "$LOG" >&2
	return 1
}

# wait_rows N [WHERE] [SECONDS]: until telemetry_data has N rows (default 30 s).
wait_rows() {
	local i n=$1 where=${2:-} t=${3:-30} got
	for ((i = 0; i < t * 10; i++)); do
		got=$(rows "$where")
		[[ $got == "$n" ]] && return 0
		sleep 0.1
	done
	echo "wait_rows: $got rows, expected $n" >&2
	return 1
}

# pub TOPIC PAYLOAD: one QoS 1 message, acknowledged by the broker.
pub() { mosquitto_pub -h 127.0.0.1 -p "$IOTFLOW_MQTT_PORT" -q 1 -t "$1" -m "$2"; }

mqtt_pub() { "$IOTFLOW_ROOT/build/tests/mqtt_pub" 127.0.0.1 "$IOTFLOW_MQTT_PORT" "$@"; }

# lines DEVICE KEY N [FIRST]: N telemetry lines for mqtt_pub, one point each,
# one second apart from 2026-01-01 (distinct timestamps: N rows).
lines() {
	awk -v id="$1" -v key="$2" -v n="$3" -v first="${4:-0}" 'BEGIN {
		for (i = first; i < first + n; i++)
			printf "iotflow/devices/%s/telemetry {\"api_key\":\"%s\",\"timestamp\":%d,\"data\":{\"t\":%d}}\n", id, key, 1767225600 + i, i
	}'
}
