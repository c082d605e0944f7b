# shellcheck shell=bash
# httpd_helpers.bash — what tests/httpd.bats and tests/httpd_faults.bats share:
# a user, an admin and devices in the template, a fresh database and an
# iot-httpd per test (start_httpd), requests with curl (post, req).
# shellcheck disable=SC2034 # the variables are the tests'

setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add alice >/dev/null
		echo "s3cret-passw0rd" | iot-user add root --admin >/dev/null
		iot-user token create alice laptop | jq -r .token > "$IOTFLOW_TEST_TMP/alice.token"
		iot-user token create root ops | jq -r .token > "$IOTFLOW_TEST_TMP/root.token"
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner alice > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-off --owner alice --status inactive > "$IOTFLOW_TEST_TMP/dev-off.json"'
}
teardown_file() { stack_teardown_file; }

setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json"); KEY_B=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-b.json")
	KEY_OFF=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-off.json")
	ALICE=$(cat "$IOTFLOW_TEST_TMP/alice.token"); ROOT=$(cat "$IOTFLOW_TEST_TMP/root.token")
	NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	HTTPD_PID=
}

teardown() {
	if [[ -n $HTTPD_PID ]] && kill -0 "$HTTPD_PID" 2>/dev/null; then
		kill -TERM "$HTTPD_PID"
		wait "$HTTPD_PID" 2>/dev/null || true
	fi
	return 0
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
rows() { q "select count(*) from telemetry_data${1:+ where $1}"; }

# Wait until the server on $PORT answers /health (5 s at most); quiet when
# it died of a port taken meanwhile (start_httpd tries another).
wait_up() {
	local i
	for i in $(seq 250); do
		curl -sf -m 2 -o /dev/null "http://127.0.0.1:$PORT/health" && return 0
		[[ -n $HTTPD_PID ]] && ! kill -0 "$HTTPD_PID" 2>/dev/null && break
		sleep 0.02
	done
	grep -q 'Address already in use' "$BATS_TEST_TMPDIR/httpd.log" 2>/dev/null && return 2
	echo "iot-httpd did not come up on port $PORT:" >&2
	cat "$BATS_TEST_TMPDIR/httpd.log" >&2
	return 1
}

# start_httpd [OPTION]...: iot-httpd --listen on a spare port; sets PORT, U, HTTPD_PID.
# A spare port can be taken between the pick and the bind: then another.
start_httpd() {
	local try rc
	for try in 1 2 3 4 5; do
		PORT=$(_iot_pick_port)
		U=http://127.0.0.1:$PORT
		iot-httpd --listen "127.0.0.1:$PORT" "$@" 2>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
		HTTPD_PID=$!
		rc=0
		wait_up || rc=$?
		[[ $rc == 2 ]] || return "$rc"
		wait "$HTTPD_PID" || true
	done
	return 1
}

# post KEY BODY [CURL OPTION]...: POST /api/v1/telemetry; output "STATUS BODY".
post() {
	local key=$1 body=$2
	shift 2
	curl -s -w '\n%{http_code}' -X POST -H "Content-Type: ${CT:-application/json}" ${key:+-H "X-API-Key: $key"} \
		--data-binary "$body" "$@" "$U/api/v1/telemetry" | awk 'NF { l[++n] = $0 } END { printf "%s", l[n]; for (i = 1; i < n; i++) printf " %s", l[i]; print "" }'
}

# req [CURL OPTION]... URL: any request; output "STATUS BODY" like post.
req() {
	curl -s -w '\n%{http_code}' "$@" | awk 'NF { l[++n] = $0 } END { printf "%s", l[n]; for (i = 1; i < n; i++) printf " %s", l[i]; print "" }'
}

# The environment a socket-activated iot-httpd needs (systemd-socket-activate passes none).
activate_env() {
	local v
	for v in PGHOST PGPORT PGUSER PGDATABASE IOTFLOW_REDIS_URL IOTFLOW_MQTT_URL IOTFLOW_CONFIG IOTFLOW_SQL_DIR; do
		printf -- '-E\n%s\n' "$v"
	done
}

# The JSON body of "STATUS BODY".
body() { cut -d ' ' -f 2- <<<"$1"; }
