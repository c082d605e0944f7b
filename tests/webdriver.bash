# shellcheck shell=bash
# webdriver.bash — a real browser for the bats suites: Debian's chromium,
# headless, driven by chromedriver over the W3C WebDriver HTTP API with
# curl and jq. Loaded after helpers.
#
#   wd_available             chromium and chromedriver are installed (else skip)
#   wd_start W H             chromedriver on a spare port and a session with
#                            a W x H window; WD, WD_SID, WD_PID (3 tries; a
#                            failed one is logged in
#                            build/test-output/webdriver-starts.log)
#   wd_stop                  end the session, stop chromedriver
#   wd METHOD PATH [JSON]    one command of the session: its "value" on
#                            stdout (compact JSON); an error fails
#   wd_go URL, wd_find CSS (an element id), wd_click EL, wd_type EL TEXT,
#   wd_clear EL, wd_js SCRIPT [ARGS] (the script's return value, JSON),
#   wd_until SCRIPT [SECONDS] (until the script returns true), wd_screenshot FILE
# shellcheck disable=SC2034 # the variables are the tests'

WD_ELEMENT=element-6066-11e4-a52e-4f735466cecf

wd_available() {
	command -v chromium >/dev/null && command -v chromedriver >/dev/null
}

# One try of wd_start: 0, or 1 with the reason and chromedriver's log on stderr.
_wd_try_start() {
	local w=$1 h=$2 i port caps out log=$BATS_TEST_TMPDIR/chromedriver.log
	port=$(_iot_pick_port)
	chromedriver --port="$port" --log-path="$log" >/dev/null 2>&1 3>&- &
	WD_PID=$!
	WD=http://127.0.0.1:$port
	for i in $(seq 500); do
		# (An empty answer is not ready: jq -e is strict here, see helpers.)
		curl -sf -m 2 "$WD/status" | jq -e .value.ready >/dev/null 2>&1 && break
		((i < 500)) || { echo "chromedriver not ready on port $port" >&2; tail -n 20 "$log" >&2; return 1; }
		# An exited chromedriver stays a zombie (kill -0 succeeds) until waited for.
		[[ $(ps -o stat= -p "$WD_PID" 2>/dev/null) == [^Z]* ]] ||
			{ echo "chromedriver exited" >&2; tail -n 20 "$log" >&2; return 1; }
		sleep 0.02
	done
	caps=$(jq -nc --arg size "--window-size=$w,$h" --arg prof "--user-data-dir=$BATS_TEST_TMPDIR/chromium" '
		{capabilities: {alwaysMatch: {browserName: "chrome",
			"goog:chromeOptions": {binary: "/usr/bin/chromium",
				args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				       "--no-first-run", "--disable-extensions", $size, $prof]},
			"goog:loggingPrefs": {browser: "ALL"}}}}')
	out=$(curl -s -m 60 -X POST -H 'Content-Type: application/json' --data-binary "$caps" "$WD/session") || true
	WD_SID=$(jq -r '.value.sessionId // empty' <<<"$out" 2>/dev/null) || WD_SID=
	if [[ -z $WD_SID ]]; then
		echo "no WebDriver session on port $port: ${out:-no answer}" >&2
		tail -n 20 "$log" >&2
		return 1
	fi
}

# The browser is the tests' tool, not what they test: a start that fails
# (chromedriver gone, a port taken meanwhile) is tried again, twice, each
# time on a new port and with a new profile.
wd_start() {
	local try
	local keep=$IOTFLOW_ROOT/build/test-output/webdriver-starts.log
	mkdir -p "${keep%/*}"
	for try in 1 2 3; do
		_wd_try_start "$@" 2> "$BATS_TEST_TMPDIR/wd_start.err" && return 0
		cat "$BATS_TEST_TMPDIR/wd_start.err" >&2
		# Kept, so that a start that only worked the second time is seen.
		{ echo "$(date -u +%FT%TZ) $BATS_TEST_NAME: try $try failed"; cat "$BATS_TEST_TMPDIR/wd_start.err"; } >> "$keep"
		wd_stop
		rm -rf "$BATS_TEST_TMPDIR/chromium"
	done
	return 1
}

wd_stop() {
	if [[ -n ${WD_SID:-} ]]; then curl -s -m 10 -X DELETE "$WD/session/$WD_SID" >/dev/null || true; fi
	WD_SID=
	if [[ -n ${WD_PID:-} ]] && kill -0 "$WD_PID" 2>/dev/null; then
		kill "$WD_PID"
		wait "$WD_PID" 2>/dev/null || true
	fi
	WD_PID=
}

wd() {
	local out
	out=$(curl -s -m 60 -X "$1" -H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$WD/session/$WD_SID$2")
	if ! jq -e . >/dev/null 2>&1 <<<"$out" || jq -e '.value | type == "object" and has("error")' >/dev/null <<<"$out"; then
		echo "WebDriver $1 $2: $out" >&2
		return 1
	fi
	jq -c .value <<<"$out"
}

wd_go() { wd POST /url "$(jq -nc --arg u "$1" '{url: $u}')" >/dev/null; }
wd_find() {
	wd POST /element "$(jq -nc --arg c "$1" '{using: "css selector", value: $c}')" | jq -r --arg k "$WD_ELEMENT" '.[$k]'
}
wd_click() { wd POST "/element/$1/click" '{}' >/dev/null; }
wd_clear() { wd POST "/element/$1/clear" '{}' >/dev/null; }
wd_type() { wd POST "/element/$1/value" "$(jq -nc --arg t "$2" '{text: $t}')" >/dev/null; }
wd_js() { wd POST /execute/sync "$(jq -nc --arg s "$1" --argjson a "${2:-[]}" '{script: $s, args: $a}')"; }

# wd_until SCRIPT [SECONDS]: poll (every 0.1 s) until SCRIPT returns true.
wd_until() {
	local i v
	for i in $(seq $((${2:-15} * 10))); do
		v=$(wd_js "$1") || return 1
		[[ $v == true ]] && return 0
		sleep 0.1
	done
	echo "still not true after ${2:-15} s: $1" >&2
	return 1
}

wd_screenshot() { wd GET /screenshot | jq -r . | base64 -d >"$1"; }

# The browser's console so far (chromedriver's log extension): one line an entry.
wd_log() { wd POST /se/log '{"type":"browser"}' | jq -r '.[] | "\(.level) \(.message)"'; }

# png_size FILE: "WIDTH HEIGHT" of a PNG (from its IHDR), or fail when FILE is not one.
png_size() {
	local sig
	sig=$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')
	[[ $sig == 89504e470d0a1a0a ]] || return 1
	[[ $(dd if="$1" bs=1 skip=12 count=4 2>/dev/null) == IHDR ]] || return 1
	echo "$((16#$(dd if="$1" bs=1 skip=16 count=4 2>/dev/null | od -An -tx1 | tr -d ' \n'))) $((16#$(dd if="$1" bs=1 skip=20 count=4 2>/dev/null | od -An -tx1 | tr -d ' \n')))"
}
