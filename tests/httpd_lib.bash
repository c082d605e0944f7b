# shellcheck shell=bash
# httpd_lib.bash — what every iot-httpd suite shares, loaded after helpers:
# teardown of the per-test server, start_httpd on a spare port (another
# when that one was taken meanwhile), requests with curl (post, req, body;
# dev and as for a device's and a person's request, has to check an answer),
# event streams read by curl in the background (open_stream, wait_for).
# shellcheck disable=SC2034 # the variables are the tests'

# A suite's own clean-up goes in a function teardown_extra.
teardown() {
	if declare -F teardown_extra >/dev/null; then teardown_extra; fi
	if [[ -n $HTTPD_PID ]] && kill -0 "$HTTPD_PID" 2>/dev/null; then
		kill -TERM "$HTTPD_PID"
		wait "$HTTPD_PID" 2>/dev/null || true
	fi
	return 0
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
rows() { q "select count(*) from telemetry_data${1:+ where $1}"; }

# Wait until the server on $PORT answers /health (10 s at most: an inetd-mode
# server starts per connection, slowly on a loaded machine); quiet when
# it died of a port taken meanwhile (start_httpd tries another).
wait_up() {
	local i
	for i in $(seq 500); do
		curl -sf -m 2 -o /dev/null "http://127.0.0.1:$PORT/health" && return 0
		# (ps, not kill -0: an exited server stays a zombie until waited for.)
		[[ -n $HTTPD_PID && $(ps -o stat= -p "$HTTPD_PID" 2>/dev/null) != [^Z]* ]] && break
		sleep 0.02
	done
	grep -q 'Address already in use' "$BATS_TEST_TMPDIR/httpd.log" 2>/dev/null && return 2
	echo "iot-httpd did not come up on port $PORT:" >&2
	cat "$BATS_TEST_TMPDIR/httpd.log" >&2
	return 1
}

# on_spare_port FN: PORT and U a spare port, then FN starts a server there in
# the background (stderr to httpd.log, emptied first), until it is up
# (wait_up): on another port when the one picked was taken before the bind,
# 5 tries. Sets HTTPD_PID; returns wait_up's status.
on_spare_port() {
	local try rc=2
	for try in 1 2 3 4 5; do
		PORT=$(_iot_pick_port)
		U=http://127.0.0.1:$PORT
		: > "$BATS_TEST_TMPDIR/httpd.log"
		"$1"
		HTTPD_PID=$!
		rc=0
		wait_up || rc=$?
		((rc == 2)) || return "$rc"
		wait "$HTTPD_PID" 2>/dev/null || true
	done
	return "$rc"
}

# start_httpd [OPTION]...: iot-httpd --listen on a spare port, with this
# tree's dashboard (web/; a --web-root among OPTIONs wins); sets PORT, U,
# HTTPD_PID. A spare port can be taken between the pick and the bind: then another.
start_httpd() {
	local try rc
	for try in 1 2 3 4 5; do
		PORT=$(_iot_pick_port)
		U=http://127.0.0.1:$PORT
		iot-httpd --listen "127.0.0.1:$PORT" --web-root "$IOTFLOW_ROOT/web" "$@" 2>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
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

# open_stream FILE CURL-ARG...: curl -N on the stream in the background,
# into FILE, until it says it is connected (10 s at most); sets CURL_PID.
open_stream() {
	local file=$1 i
	shift
	curl -sN -o "$file" -D "$file.headers" "$@" 3>&- &
	CURL_PID=$!
	CURL_PIDS+=("$CURL_PID")
	for i in $(seq 500); do
		grep -q '^: connected' "$file" 2>/dev/null && return 0
		kill -0 "$CURL_PID" 2>/dev/null || break
		sleep 0.02
	done
	echo "the stream did not open:" >&2
	cat "$file.headers" "$file" >&2
	return 1
}

# wait_for FILE PATTERN [TRIES]: until grep finds PATTERN in FILE (0.02 s a try).
wait_for() {
	local i
	for i in $(seq "${3:-500}"); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "no '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}
# (A suite using open_stream kills "${CURL_PIDS[@]}" in its teardown.)

# The JSON body of "STATUS BODY".
body() { cut -d ' ' -f 2- <<<"$1"; }

# dev KEY METHOD PATH [BODY]: a device's request with X-API-Key.
dev() {
	local key=$1 m=$2 path=$3
	req -X "$m" ${key:+-H "X-API-Key: $key"} ${4:+-H 'Content-Type: application/json' --data-binary "$4"} "$U$path"
}
# as TOKEN METHOD PATH [BODY]: a person's request with a Bearer token.
as() {
	local tok=$1 m=$2 path=$3
	req -X "$m" ${tok:+-H "Authorization: Bearer $tok"} ${4:+-H 'Content-Type: application/json' --data-binary "$4"} "$U$path"
}
code() { cut -d ' ' -f 1 <<<"$1"; }
# has RESPONSE STATUS JQ-FILTER: the status, and the filter true of the body.
has() {
	if [[ $(code "$1") != "$2" ]]; then
		echo "expected $2, got: $1" >&2
		return 1
	fi
	if [[ -n ${3:-} ]] && ! body "$1" | jq -e "$3" >/dev/null; then
		echo "body does not satisfy $3: $1" >&2
		return 1
	fi
}

# The people the iot-httpd suites start from, made in the template database
# (setup_file, after migrated_template): alice, bob and root (an admin),
# each with a token in $IOTFLOW_TEST_TMP/NAME.token. A suite adds its own
# devices after.
template_people() {
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add alice >/dev/null
		echo "s3cret-passw0rd" | iot-user add bob >/dev/null
		echo "s3cret-passw0rd" | iot-user add root --admin >/dev/null
		iot-user token create alice laptop | jq -r .token > "$IOTFLOW_TEST_TMP/alice.token"
		iot-user token create bob laptop | jq -r .token > "$IOTFLOW_TEST_TMP/bob.token"
		iot-user token create root ops | jq -r .token > "$IOTFLOW_TEST_TMP/root.token"'
}
