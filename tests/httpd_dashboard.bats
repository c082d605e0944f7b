#!/usr/bin/env bats
# The web dashboard of iot-httpd (web/, lib/http/http_web.c) and the routes
# it reads (lib/http/http_dashboard.c), against real PostgreSQL and Redis:
# with curl, / answers the page to browsers and the JSON index to
# everyone else, the files carry the security headers, nothing outside the
# fixed list is served whatever the path; and in a real browser (headless
# Chromium over WebDriver), a person signs in with a token and sees their
# devices, a chart drawn and a point arrive live.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers
load httpd_lib
load httpd_people
load webdriver

BROWSER_ACCEPT='text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'

# Alice's dev-a has points of the last hour and two charts of them (the
# points, and their 10-minute means); bob's dev-c a point.
setup_file() {
	stack_setup_file
	migrated_template
	template_people
	people_devices
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		a=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); c=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-c.json")
		for m in 50 40 30 20 10 5; do
			echo "{\"device_id\":$a,\"timestamp\":\"$(date -u -d "-$m min" +%FT%TZ)\",\"data\":{\"temperature\":2$((m % 10)).5,\"humidity\":4$((m / 10))}}"
		done | iot-ingest -q >/dev/null
		echo "{\"device_id\":$a,\"timestamp\":\"$(date -u -d "-1 min" +%FT%TZ)\",\"data\":{\"temperature\":22.5}}" | iot-ingest -q >/dev/null
		echo "{\"device_id\":$c,\"data\":{\"temperature\":-4}}" | iot-ingest -q >/dev/null
		iot-chart add temps --owner alice --title "Temperature" --range 1h --refresh 0 >/dev/null
		iot-chart device add alice/temps dev-a >/dev/null
		iot-chart measurement add alice/temps temperature --color "#d81b60" --unit C >/dev/null
		iot-chart add temps-10m --owner alice --title "Temperature, 10-minute means" --range 1h --refresh 30 \
			--aggregation avg --group-by 10m >/dev/null
		iot-chart device add alice/temps-10m dev-a >/dev/null
		iot-chart measurement add alice/temps-10m temperature --color "#00897b" >/dev/null'
}
teardown_file() { stack_teardown_file; }

setup() {
	people_setup
	WD_PID= WD_SID=
	CURL_PIDS=()
}

teardown_extra() {
	local p
	for p in "${CURL_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wd_stop
}

# headers URL [CURL OPTION]...: the status line and headers of a GET, CRs removed.
headers() {
	local url=$1
	shift
	curl -s -o /dev/null -D - "$@" "$url" | tr -d '\r'
}

@test "/: the page to a browser, the JSON index to curl and scripts; Vary: Accept" {
	start_httpd
	run curl -s -D "$BATS_TEST_TMPDIR/h" -H "Accept: $BROWSER_ACCEPT" "$U/"
	assert_output --partial '<script type="module" src="/ui/app.js"></script>'
	run grep -ci '^content-type: text/html; charset=utf-8' "$BATS_TEST_TMPDIR/h"
	assert_output 1
	grep -qi '^vary: accept' "$BATS_TEST_TMPDIR/h"
	# curl's own */*, no Accept, and application/json: the index scripts parse.
	local a
	for a in '*/*' '' 'application/json' 'application/json, text/html;q=0.9'; do
		run curl -s -H "Accept: $a" "$U/"
		assert_equal "$(jq -r .name <<<"$output")" IoTFlow
	done
	run headers "$U/" -H 'Accept: application/json'
	assert_output --partial 'Content-Type: application/json'
	assert_output --partial 'Vary: Accept'
	# The page never inlines a script (the policy would refuse it anyway).
	run bash -c "curl -s -H 'Accept: text/html' '$U/' | grep -c '<script>\|<script [^>]*>[^<]'"
	assert_output 0
}

@test "the dashboard's answers carry the CSP, nosniff, no-referrer; files have an ETag and revalidate (304)" {
	start_httpd
	local url
	for url in "$U/" "$U/ui/app.js" "$U/ui/style.css" "$U/ui/vendor/uPlot.iife.min.js" "$U/ui/no-such.js"; do
		run headers "$url" -H "Accept: $BROWSER_ACCEPT"
		assert_output --partial "Content-Security-Policy: default-src 'self'; script-src 'self'; "
		assert_output --partial "frame-ancestors 'none'"
		refute_output --partial "unsafe-inline"
		assert_output --partial 'X-Content-Type-Options: nosniff'
		assert_output --partial 'Referrer-Policy: no-referrer'
		assert_equal "$(grep -ci '^x-content-type-options:' <<<"$output")" 1
		assert_equal "$(grep -ci '^content-security-policy:' <<<"$output")" 1
	done
	run headers "$U/ui/app.js"
	assert_line --regexp '^HTTP/1.1 200'
	assert_output --partial 'Content-Type: text/javascript; charset=utf-8'
	assert_output --partial 'Cache-Control: no-cache'
	local etag
	etag=$(sed -n 's/^ETag: //p' <<<"$output")
	[[ $etag =~ ^\"[0-9a-f]{16}\"$ ]]
	run headers "$U/ui/app.js" -H "If-None-Match: $etag"
	assert_line --regexp '^HTTP/1.1 304'
	run headers "$U/ui/vendor/uPlot.min.css"
	assert_output --partial 'Content-Type: text/css; charset=utf-8'
	run headers "$U/ui/favicon.svg"
	assert_output --partial 'Content-Type: image/svg+xml'
	# The bytes are the tree's.
	run bash -c "curl -s '$U/ui/charts.js' | cmp - '$IOTFLOW_ROOT/web/charts.js'"
	assert_success
	run headers "$U/ui/app.js" -I
	assert_line --regexp '^HTTP/1.1 200'
}

@test "only the files of the list: unknown ones 404, no path traversal in any spelling" {
	start_httpd
	local p
	for p in /ui/no-such.js /ui/ /ui/index.html /ui/vendor/ /ui/vendor/uPlot.LICENSE /ui/APP.JS /ui/app.js/ \
		/ui/../../etc/passwd /ui/..%2f..%2fetc%2fpasswd /ui/%2e%2e/%2e%2e/etc/passwd /ui/%252e%252e/etc/passwd \
		/ui//etc/passwd /ui/vendor/../app.js /ui/./app.js /ui/..%5c..%5cetc%5cpasswd \
		/etc/passwd /ui/%2fetc%2fpasswd /web/app.js /index.html; do
		run curl -s --path-as-is -w '\n%{http_code}' "$U$p"
		assert_equal "${lines[-1]}" 404
		refute_output --partial 'root:'
	done
	run curl -s -o /dev/null -w '%{http_code}' -X POST "$U/ui/app.js"
	assert_output 405
	# libmicrohttpd decodes the path, and a NUL byte would end it there
	# (app.js would be served): a %00 in the URL is refused.
	for p in /ui/app.js%00.css /ui/app.js%00 '/ui/app.js?x=%00'; do
		run curl -s --path-as-is -w '\n%{http_code}' "$U$p"
		assert_equal "${lines[-1]}" 400
		assert_equal "$(jq -r .message <<<"${lines[0]}")" 'The URL holds a NUL byte (%00)'
	done
}

@test "no web root: the API runs, the log says so once, / is the JSON index even to browsers" {
	start_httpd --web-root "$BATS_TEST_TMPDIR/nowhere"
	run curl -s -H "Accept: $BROWSER_ACCEPT" "$U/"
	assert_equal "$(jq -r .name <<<"$output")" IoTFlow
	run curl -s -o /dev/null -w '%{http_code}' "$U/ui/app.js"
	assert_output 404
	run as "$ALICE" GET /api/v1/dashboard/devices
	has "$output" 200 '.devices | length == 3'
	run grep -c 'web dashboard is off' "$BATS_TEST_TMPDIR/httpd.log"
	assert_output 1
	run grep -c "nowhere/index.html" "$BATS_TEST_TMPDIR/httpd.log"
	assert_output 1
}

@test "make install puts web/ under WEBDIR, vendored licence included, and iot-httpd serves that copy" {
	local dest=$BATS_TEST_TMPDIR/pkg
	run make -C "$IOTFLOW_ROOT" --no-print-directory -s install DESTDIR="$dest" PREFIX=/usr/local
	assert_success
	run diff -r "$IOTFLOW_ROOT/web" "$dest/usr/local/share/iotflow/web"
	assert_success
	[[ -f $dest/usr/local/share/iotflow/web/vendor/uPlot.LICENSE ]]
	start_httpd --web-root "$dest/usr/local/share/iotflow/web"
	run curl -s -H "Accept: $BROWSER_ACCEPT" "$U/"
	assert_output --partial '<title>IoTFlow</title>'
	run iot-httpd --help
	assert_output --partial "--web-root=DIR       the dashboard's files (default /usr/local/share/iotflow/web)"
}

@test "GET /api/v1/dashboard/devices: the person's devices with online state, last seen and latest values" {
	start_httpd
	run as "$ALICE" GET /api/v1/dashboard/devices
	has "$output" 200 '.status == "success" and .meta.total == 3 and ([.devices[].name] == ["dev-a","dev-b","dev-off"])'
	has "$output" 200 ".devices[0] | .id == $A and .is_online == true and (.last_seen | test(\"^2\")) and .latest.temperature.value == 22.5 and .latest.humidity.value == 40 and (.latest_at | test(\"^2\"))"
	has "$output" 200 '.devices[1] | .is_online == false and .last_seen == null and .latest == {} and .latest_at == null and .device_type == "sensor"'
	has "$output" 200 '.devices[2] | .status == "inactive" and .is_online == false'
	run body "$output"
	refute_output --partial api_key
	refute_output --partial iotf_
	run as "$BOB" GET /api/v1/dashboard/devices
	has "$output" 200 "[.devices[].id] == [$C] and .devices[0].latest.temperature.value == -4"
	run as "$ROOT" GET '/api/v1/dashboard/devices?limit=2&offset=1'
	has "$output" 200 '.meta == {"total":4,"limit":2,"offset":1} and ([.devices[].name] == ["dev-b","dev-c"])'
	has "$(as "$ROOT" GET '/api/v1/dashboard/devices?offset=2147483648')" 400 '.message | test("offset")'
	run as "$ALICE" GET '/api/v1/dashboard/devices?limit=0'
	has "$output" 400 '.message | test("limit")'
	run as "" GET /api/v1/dashboard/devices
	has "$output" 401
	run dev "$KEY_A" GET /api/v1/dashboard/devices
	has "$output" 401
	run as iotu_not-a-token GET /api/v1/dashboard/devices
	has "$output" 401 '.error == "Invalid API token"'
}

@test "GET /api/v1/dashboard/devices/{id}: one device with its keys' state, never a key; others' are 404" {
	start_httpd
	iot-device key rotate "$A" --grace 1h >/dev/null
	run as "$ALICE" GET "/api/v1/dashboard/devices/$A"
	has "$output" 200 ".status == \"success\" and .device.id == $A and .device.name == \"dev-a\" and .device.is_online == true and .device.latest.temperature.value == 22.5"
	has "$output" 200 '[.keys[].state] == ["grace","active"] and (.keys[0] | has("key_prefix") and has("last_used") and has("usage_count") and has("expires_at") and (has("device_id") | not))'
	run body "$output"
	refute_output --partial "$KEY_A"
	refute_output --partial digest
	run as "$BOB" GET "/api/v1/dashboard/devices/$A"
	has "$output" 404
	run as "$ALICE" GET /api/v1/dashboard/devices/999
	has "$output" 404
	run as "$ROOT" GET "/api/v1/dashboard/devices/$C"
	has "$output" 200 '.device.name == "dev-c"'
	run dev "$KEY_A" GET "/api/v1/dashboard/devices/$A"
	has "$output" 401
}

@test "GET /api/v1/dashboard/stream: one event stream of all the person's devices, nobody else's" {
	start_httpd
	local f=$BATS_TEST_TMPDIR/s
	open_stream "$f" -H "Authorization: Bearer $ALICE" "$U/api/v1/dashboard/stream"
	grep -qi '^content-type: text/event-stream' "$f.headers"
	run post "$KEY_C" '{"data":{"temperature":1}}'
	assert_output --regexp '^201 '
	run post "$KEY_A" '{"data":{"temperature":30.5}}'
	assert_output --regexp '^201 '
	printf '{"device_id":%s,"data":{"door":"open"}}\n' "$B" | iot-ingest -q
	wait_for "$f" '"door"'
	wait_for "$f" '30.5'
	run grep -c "\"device_id\":$C" "$f"
	assert_output 0
	# A person without devices: keep-alives only; no token: 401.
	iot-user add carol --no-password >/dev/null
	local carol
	carol=$(iot-user token create carol t | jq -r .token)
	open_stream "$BATS_TEST_TMPDIR/s2" -H "Authorization: Bearer $carol" "$U/api/v1/dashboard/stream"
	run req "$U/api/v1/dashboard/stream"
	has "$output" 401
	run req "$U/api/v1/dashboard/stream?token=$ALICE"
	has "$output" 400 '.error == "Credentials in URL"'
}

@test "event streams end within seconds once access ends: token revoked, device given away or made inactive" {
	start_httpd
	local t1 t2 d=$BATS_TEST_TMPDIR
	t1=$(iot-user token create alice s1 | jq -r .token)
	t2=$(iot-user token create alice s2 | jq -r .token)
	open_stream "$d/revoked" -H "Authorization: Bearer $t1" "$U/api/v1/dashboard/stream"
	open_stream "$d/given" -H "Authorization: Bearer $t2" "$U/api/v1/dashboard/stream"
	open_stream "$d/given-one" -H "Authorization: Bearer $t2" "$U/api/v1/telemetry/$B/stream"
	open_stream "$d/key" -H "X-API-Key: $KEY_A" "$U/api/v1/telemetry/$A/stream"
	# Whose access holds: theirs go on (bob's, an admin's, alice's other device).
	open_stream "$d/bob" -H "Authorization: Bearer $BOB" "$U/api/v1/dashboard/stream"
	open_stream "$d/root" -H "Authorization: Bearer $ROOT" "$U/api/v1/dashboard/stream"
	open_stream "$d/other" -H "Authorization: Bearer $t2" "$U/api/v1/telemetry/$A/stream"
	iot-user token revoke alice s1 >/dev/null
	iot-device set "$B" --owner bob >/dev/null
	iot-device set "$A" --status maintenance >/dev/null
	local f
	for f in revoked given given-one key; do
		wait_for "$d/$f" '^event: error' 500
		wait_for "$d/$f" '"error":"Unauthorized"'
	done
	sleep 1
	for f in bob root other; do
		run grep -c '^event: error' "$d/$f"
		assert_output 0
	done
	# Nothing after the end: a point of the device given away does not reach alice.
	run post "$KEY_B" '{"data":{"secret":7}}'
	assert_output --regexp '^201 '
	wait_for "$d/root" '"secret"'
	assert_equal "$(cat "$d/given" "$d/given-one" | grep -c secret)" 0
}

# ---- the browser ----

@test "browser: sign in with a token, devices with latest values, a chart drawn, a point arriving live" {
	wd_available || skip "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
	start_httpd
	wd_start 1280 900
	wd_go "$U/"
	wd_until "return document.getElementById('signin-view') && !document.getElementById('signin-view').hidden"
	# Policy violations from here on are counted (the console has the earlier ones).
	wd_js "window.cspViolations = []; document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI)); return true" >/dev/null
	# A wrong token: a clear message, still signed out.
	local tok
	tok=$(wd_find '#token')
	wd_type "$tok" iotu_not-a-real-token
	wd_click "$(wd_find '#signin-form button[type=submit]')"
	wd_until "return document.getElementById('signin-error').textContent.includes('not accepted')"
	wd_clear "$tok"
	wd_type "$tok" "$ALICE"
	wd_click "$(wd_find '#signin-form button[type=submit]')"
	# The device list, with dev-a's latest temperature and online state.
	wd_until "const v = document.querySelector('#devices tr[data-device-id=\"$A\"] [data-measurement=temperature] .value'); return !!v && v.textContent === '22.5'"
	run wd_js "return document.querySelector('#devices tr[data-device-id=\"$A\"] .state').textContent"
	assert_output '"online"'
	run wd_js "return document.querySelectorAll('#devices tbody tr').length"
	assert_output 3
	# The chart: its 7 points, and its series drawn in its colour (#d81b60).
	local pixels="const c = document.querySelector('figure.chart canvas'); if (!c) return 0; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 216) < 40 && Math.abs(d[i + 1] - 27) < 40 && Math.abs(d[i + 2] - 96) < 40 && d[i + 3] > 128) n++; return n"
	wd_until "return document.querySelector('figure.chart') && document.querySelector('figure.chart').dataset.points === '7'"
	wd_until "return (() => { $pixels })() > 50"
	# The aggregated chart: the means, with the buckets' max and min as a band.
	wd_until "const f = document.querySelectorAll('figure.chart')[1]; return !!f && Number(f.dataset.points) > 0 && f.querySelector('.u-legend').textContent.includes('temperature max')"
	# Live: a point posted now appears without a reload, in the list and the chart.
	wd_until "return document.body.dataset.live === 'live'"
	wd_js "new MutationObserver((m, o) => { if (document.querySelector('#devices tr[data-device-id=\"$A\"] [data-measurement=temperature] .value').textContent === '31.25') { window.seenAt = Date.now(); o.disconnect(); } }).observe(document.getElementById('devices'), {childList: true, subtree: true, characterData: true}); return true" >/dev/null
	local sent
	sent=$(date +%s%3N)
	run post "$KEY_A" '{"data":{"temperature":31.25}}'
	assert_output --regexp '^201 '
	wd_until "return document.querySelector('#devices tr[data-device-id=\"$A\"] [data-measurement=temperature] .value').textContent === '31.25'"
	echo "# a point on the page $(( $(wd_js 'return window.seenAt') - sent )) ms after its POST was sent" >&3
	wd_until "return document.querySelector('figure.chart').dataset.points === '8'"
	run wd_js "return performance.getEntriesByType('navigation').length"
	assert_output 1
	# The token is in this tab's storage and in no address.
	run wd_js "return [location.href.includes('$ALICE'), document.referrer.includes('$ALICE'), sessionStorage.getItem('iotflow.token') === '$ALICE', document.cookie]"
	assert_output '[false,false,true,""]'
	# The screenshot: a PNG of the window's size.
	local png=$BATS_TEST_TMPDIR/dashboard.png size
	wd_screenshot "$png"
	size=$(png_size "$png")
	assert_equal "$size" "$(wd_js 'return window.innerWidth + " " + window.innerHeight' | jq -r .)"
	assert_equal "${size%% *}" 1280
	# Kept in the tree's test output (build/ is not tracked), or where asked.
	local keep=${IOTFLOW_SCREENSHOT_DIR:-$IOTFLOW_ROOT/build/test-output}
	mkdir -p "$keep" && cp "$png" "$keep/dashboard.png"
	echo "# screenshot: $keep/dashboard.png" >&3
	# No policy violation, before or after (an inline script is refused: the policy is on).
	run wd_js "return window.cspViolations"
	assert_output '[]'
	run wd_js "const s = document.createElement('script'); s.textContent = 'window.inlineRan = true'; document.body.append(s); return new Promise(r => setTimeout(() => r([!!window.inlineRan, window.cspViolations.length]), 200))"
	assert_output '[false,1]'
	# And no script error: the console's errors are the wrong token's 401 and that refusal.
	run wd_log
	local log=$output
	run grep -c 'Content Security Policy' <<<"$log"
	assert_output 1
	run bash -c "grep '^SEVERE' | grep -v 'status of 401' | grep -vc 'Content Security Policy'" <<<"$log"
	assert_output 0
}

@test "browser: the device page shows recent telemetry, its keys and pending commands, live; usable on a phone" {
	wd_available || skip "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
	start_httpd
	run as "$ALICE" POST "/api/v1/devices/$A/control" '{"command":"reboot"}'
	has "$output" 201
	wd_start 390 844
	wd_go "$U/"
	# Labelled fields, landmarks; signed in from the keyboard (the token, then Enter).
	run wd_js "return [[...document.querySelectorAll('input')].every(i => i.labels.length > 0), !!document.querySelector('main'), !!document.querySelector('nav[aria-label]'), document.documentElement.lang]"
	assert_output '[true,true,true,"en"]'
	wd_type "$(wd_find '#token')" "$ALICE"$'\uE007'
	wd_until "return !!document.querySelector('#devices a[href=\"#/device/$A\"]')"
	# Nothing wider than the phone's screen.
	run wd_js "return document.documentElement.scrollWidth <= window.innerWidth"
	assert_output true
	wd_click "$(wd_find "#devices a[href=\"#/device/$A\"]")"
	wd_until "return document.getElementById('device-h').textContent === 'dev-a' && !document.getElementById('device-view').hidden"
	wd_until "return document.querySelectorAll('#device-recent tbody tr').length === 7"
	run wd_js "return [...document.querySelectorAll('#device-keys tbody td:nth-child(2)')].map(t => t.textContent)"
	assert_output '["active"]'
	run wd_js "return [...document.querySelectorAll('#device-commands tbody td:first-child')].map(t => t.textContent)"
	assert_output '["reboot"]'
	wd_until "return document.body.dataset.live === 'live'"
	run post "$KEY_A" '{"data":{"pressure":1013}}'
	assert_output --regexp '^201 '
	wd_until "return document.querySelector('#device-recent tbody tr td:nth-child(2)').textContent === 'pressure 1013'"
	run wd_js "return [...document.querySelectorAll('#device-latest tbody td:first-child')].map(t => t.textContent)"
	assert_output '["humidity","pressure","temperature"]'
	run wd_js "return document.documentElement.scrollWidth <= window.innerWidth"
	assert_output true
	# Sign out from the keyboard (Enter on the button): the token is forgotten.
	wd_type "$(wd_find '#signout')" $'\uE007'
	wd_until "return !document.getElementById('signin-view').hidden && sessionStorage.getItem('iotflow.token') === null"
}

@test "browser: signing out leaves nothing of the person on the page; a device that fails to load shows nothing stale" {
	wd_available || skip "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
	start_httpd
	wd_start 1280 900
	wd_go "$U/"
	wd_type "$(wd_find '#token')" "$ALICE"$'\uE007'
	wd_until "return document.querySelectorAll('figure.chart').length === 2"
	wd_go "$U/#/device/$A"
	wd_until "return document.getElementById('device-h').textContent === 'dev-a' && document.querySelectorAll('#device-recent tbody tr').length === 7"
	# A device that is not there (deleted, or another person's): nothing of dev-a stays.
	wd_js "location.hash = '#/device/$C'; return true" >/dev/null
	wd_until "return document.getElementById('device-status').textContent.startsWith('Could not load')"
	run wd_js "return [document.getElementById('device-h').textContent, document.title, document.getElementById('device-facts').children.length, document.querySelectorAll('#device-view tbody tr').length]"
	assert_output '["Device","IoTFlow",0,0]'
	wd_js "location.hash = '#/device/$A'; return true" >/dev/null
	wd_until "return document.getElementById('device-h').textContent === 'dev-a'"
	# Signed out: alice's devices, charts and device page are gone from the document.
	wd_click "$(wd_find '#signout')"
	wd_until "return !document.getElementById('signin-view').hidden"
	run wd_js "return [document.body.textContent.includes('dev-a'), document.body.textContent.includes('Temperature'), document.querySelectorAll('#devices tbody tr, #device-view tbody tr, figure.chart').length, document.title]"
	assert_output '[false,false,0,"IoTFlow"]'
	# Bob signs in in the same tab (on alice's device's address: 404): never
	# a thing of alice's, then his own list.
	wd_js "window.sawAlice = false; new MutationObserver(() => { if (document.body.textContent.includes('dev-a')) window.sawAlice = true; }).observe(document.body, {childList: true, subtree: true, characterData: true}); return true" >/dev/null
	wd_type "$(wd_find '#token')" "$BOB"$'\uE007'
	wd_until "return document.getElementById('device-status').textContent.startsWith('Could not load')"
	wd_click "$(wd_find 'a[href="#/"]')"
	wd_until "return !!document.querySelector('#devices tr[data-device-id=\"$C\"]')"
	run wd_js "return [window.sawAlice, document.querySelectorAll('#devices tbody tr').length, document.querySelectorAll('figure.chart').length]"
	assert_output '[false,1,0]'
}

@test "browser: 300 devices, and names of 100 characters wrap instead of pushing the state off the screen" {
	wd_available || skip "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
	local long i
	long=$(printf 'x%.0s' $(seq 100))
	iot-device add "$long" --owner alice --location "$(printf 'Building-%.0s' $(seq 20))" >/dev/null
	for i in $(seq 300); do echo "{\"name\":\"fleet-$i\"}"; done | iot-device add - --owner alice -q >/dev/null
	start_httpd
	wd_start 1280 900
	wd_go "$U/"
	wd_type "$(wd_find '#token')" "$ALICE"$'\uE007'
	wd_until "return document.querySelectorAll('#devices tbody tr').length === 304" 30
	run wd_js "return document.getElementById('devices-status').textContent"
	assert_output '"304 of 304 devices; 1 online."'
	echo "# the list of 304 devices read in $(wd_js "return Math.round(performance.getEntriesByType('resource').find(e => e.name.includes('/dashboard/devices?limit=1000')).duration)") ms" >&3
	# The table fits its box, every state cell is on the screen.
	run wd_js "const w = document.querySelector('#devices').parentElement; const cells = [...document.querySelectorAll('#devices .state-cell')]; return [w.scrollWidth <= w.clientWidth, cells.every(c => c.getBoundingClientRect().right <= window.innerWidth)]"
	assert_output '[true,true]'
	local id
	id=$(psql -XAtq -c "select id from devices where name = '$long'")
	wd_js "location.hash = '#/device/$id'; return true" >/dev/null
	wd_until "return document.getElementById('device-h').textContent === '$long'"
	run wd_js "return document.documentElement.scrollWidth <= window.innerWidth"
	assert_output true
}

@test "browser: after iot-httpd restarts, the stream is live again and what was stored meanwhile is shown" {
	wd_available || skip "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
	start_httpd
	wd_start 1280 900
	wd_go "$U/"
	wd_type "$(wd_find '#token')" "$ALICE"$'\uE007'
	wd_until "return document.body.dataset.live === 'live' && !!document.querySelector('#devices tr[data-device-id=\"$A\"]')"
	kill -TERM "$HTTPD_PID"
	wait "$HTTPD_PID" || true
	wd_until "return document.body.dataset.live === 'retrying'"
	# Stored while the server is down: no event will ever carry it.
	printf '{"device_id":%s,"data":{"temperature":12.75}}\n' "$A" | iot-ingest -q
	iot-httpd --listen "127.0.0.1:$PORT" --web-root "$IOTFLOW_ROOT/web" 2>>"$BATS_TEST_TMPDIR/httpd.log" 3>&- &
	HTTPD_PID=$!
	wait_up
	wd_until "return document.body.dataset.live === 'live'" 40
	wd_until "const v = document.querySelector('#devices tr[data-device-id=\"$A\"] [data-measurement=temperature] .value'); return !!v && v.textContent === '12.75'" 10
}
