#!/usr/bin/env bash
# run.sh — behind `make run`: a local IoTFlow under ./var until Ctrl-C.
# PostgreSQL, Redis and Mosquitto run on spare 127.0.0.1 ports (kept from run
# to run while free) with their data in var/, so a second run finds the data of
# the first. Then migrations, then whichever daemons are built.
#
# As root, PostgreSQL runs as nobody, who must reach its data directory. When
# the checkout sits under a private directory (e.g. /root, mode 700), var/pg is
# a symlink to /var/tmp/iotflow-<hash of var's path>/pg instead (see
# _iot_pg_prepare_dir in stack.sh); `rm -rf` of that directory resets it.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=$root/var
# shellcheck source-path=SCRIPTDIR source=stack.sh
source "$root/scripts/stack.sh"

mkdir -p "$state/log"
# One run per var/: a second one would stop the first one's servers below.
if [[ -s $state/run.pid ]] && kill -0 "$(cat "$state/run.pid")" 2>/dev/null &&
	grep -q run.sh "/proc/$(cat "$state/run.pid")/cmdline" 2>/dev/null; then
	echo "iotflow: already running (pid $(cat "$state/run.pid")); stop it with Ctrl-C there" >&2
	exit 1
fi
echo $$ >"$state/run.pid"

pids=() names=() sleeper=
stopping=0
stop_all() {
	((stopping)) && return
	stopping=1
	trap '' INT TERM
	echo
	echo "iotflow: stopping..." >&2
	local i
	[[ -n $sleeper ]] && kill "$sleeper" 2>/dev/null
	for i in "${!pids[@]}"; do
		kill -TERM "${pids[$i]}" 2>/dev/null || true
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" 2>/dev/null || true
	done
	# Servers last: the daemons flush their batches to them on TERM.
	iot_stack_stop "$state" || true
	rm -f "$state/run.pid"
	echo "iotflow: stopped; data kept in $state" >&2
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# (Servers left by a run that was killed hard are stopped and restarted.)
iot_stack_start "$state"
export IOTFLOW_SQL_DIR=$root/sql PATH=$root/bin:$PATH
# shellcheck disable=SC2016 # $PATH is for the shell that sources the file
printf 'export IOTFLOW_SQL_DIR=%q\nexport PATH=%q:"$PATH"\n' "$IOTFLOW_SQL_DIR" "$root/bin" >>"$state/env"

if [[ -x $root/bin/iot-migrate ]]; then
	"$root/bin/iot-migrate" up
fi

# start NAME ARGS...: a built daemon in the background, output to var/log/NAME.log.
start() {
	local name=$1
	shift
	[[ -x $root/bin/$name ]] || return 0
	"$root/bin/$name" "$@" >>"$state/log/$name.log" 2>&1 </dev/null &
	pids+=($!) names+=("$name")
}
start iot-mqtt-listen
start iot-httpd --listen 127.0.0.1:5000

((${#pids[@]})) && sleep 0.5
for i in "${!pids[@]}"; do
	if ! kill -0 "${pids[$i]}" 2>/dev/null; then
		echo "iotflow: warning: ${names[$i]} exited at once; last lines of var/log/${names[$i]}.log:" >&2
		tail -n 5 "$state/log/${names[$i]}.log" >&2 || true
		unset 'pids[i]' 'names[i]'
	fi
done

cat <<EOF

IoTFlow is running (data in $state; Ctrl-C here stops everything).
${names[*]:+Daemons: ${names[*]} (logs in var/log/)
}
In another shell:
  source $state/env
or paste:
$(sed 's/^/  /' "$state/env")

Then try:
  iot-migrate status --format table
  iot-user add alice                      # asks for a password
  iot-device add thermo-1 --owner alice   # prints the device's API key, once
  echo '{"device_id":1,"data":{"temperature":21.5}}' | iot-ingest
  psql -c 'select * from telemetry_latest'
  mosquitto_sub -p $IOTFLOW_MQTT_PORT -t 'iotflow/devices/+/telemetry/#' -F %j | iot-ingest
  mosquitto_pub -p $IOTFLOW_MQTT_PORT -t iotflow/devices/1/telemetry -m '{"data":{"humidity":40}}'
  redis-cli -p $IOTFLOW_REDIS_PORT
EOF
if [[ " ${names[*]} " == *" iot-httpd "* ]]; then
	echo "  curl -s http://127.0.0.1:5000/health"
fi
echo

# Wait for Ctrl-C. A daemon that dies is reported; the rest keeps running.
while :; do
	sleep infinity &
	sleeper=$!
	wait -n "${pids[@]}" "$sleeper" 2>/dev/null || true
	kill "$sleeper" 2>/dev/null || true
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "iotflow: warning: ${names[$i]} exited; see $state/log/${names[$i]}.log" >&2
			unset 'pids[i]' 'names[i]'
		fi
	done
done
