#!/usr/bin/env bash
# run.sh [STATE_DIR] — behind `make run`: a local IoTFlow until Ctrl-C, with
# its data in STATE_DIR (default ./var).
# PostgreSQL, Redis and Mosquitto run on spare 127.0.0.1 ports (kept from run
# to run while free) with their data in STATE_DIR, so a second run finds the
# data of the first. Then migrations, then whichever daemons are built.
# A server that dies is started again, and when its port was taken meanwhile
# the new one is announced with the values to export (STATE_DIR/env has them).
# When Prometheus is installed (Debian's package), it runs beside them with
# contrib/prometheus/prometheus.yml adjusted to this run's ports and its data
# in STATE_DIR/prometheus: a process of our own, never the system service.
# Ctrl-C, SIGTERM or SIGHUP stops the daemons and Prometheus, then the
# servers; exit 0.
#
# As root, PostgreSQL runs as nobody, who must reach its data directory. When
# the checkout sits under a private directory (e.g. /root, mode 700), var/pg is
# a symlink to /var/tmp/iotflow-<hash of var's path>/pg instead (see
# _iot_pg_prepare_dir in stack.sh); `rm -rf` of that directory resets it.
set -euo pipefail

if (($# > 1)) || [[ ${1:-} == -* ]]; then
	echo "usage: scripts/run.sh [STATE_DIR]" >&2
	exit 2
fi

# True when we have a controlling terminal and are in its foreground process
# group (not `make run &`, not under a program without a terminal).
in_foreground() {
	local st pgrp tpgid
	st=$(cat "/proc/$$/stat") || return 1
	read -r _ _ pgrp _ _ tpgid _ <<<"${st##*) }"
	[[ $pgrp == "$tpgid" ]] && { : </dev/tty; } 2>/dev/null
}

# From a terminal, the real work runs as a job of its own that owns the
# terminal (set -m), so Ctrl-C reaches it alone: make, which started us, would
# otherwise catch the SIGINT too and end with "make: *** [...] Interrupt"
# (exit 130) after our clean stop. Bash hands the terminal over through its
# fd 2, so that is the terminal here while the job keeps our stderr (which
# may be a pipe: `make run 2>&1 | tee log`).
if [[ -z ${IOTFLOW_RUN_JOB:-} ]] && in_foreground; then
	exec 9>&2 2>/dev/tty
	set -m
	rc=0
	IOTFLOW_RUN_JOB=1 "$BASH" "${BASH_SOURCE[0]}" "$@" 2>&9 9>&- || rc=$?
	# Stopped by a SIGSTOP from elsewhere: continue it and wait again.
	while [[ -n $(jobs -p) ]]; do
		rc=0
		fg %1 >/dev/null || rc=$?
	done
	exit "$rc"
fi
if [[ -n ${IOTFLOW_RUN_JOB:-} ]]; then
	unset IOTFLOW_RUN_JOB
	trap '' TSTP # stopped, nobody would resume us: Ctrl-Z does nothing
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${1:-$root/var}
mkdir -p "$state/log"
state=$(cd "$state" && pwd)
# shellcheck source-path=SCRIPTDIR source=stack.sh
source "$root/scripts/stack.sh"

say() { printf '%s\n' "$*" >&2 || true; } # a terminal that is gone (SIGHUP) is no reason to stop stopping

# One run per state dir: a second one would stop the first one's servers below.
if [[ -s $state/run.pid ]] && kill -0 "$(cat "$state/run.pid")" 2>/dev/null &&
	grep -q run.sh "/proc/$(cat "$state/run.pid")/cmdline" 2>/dev/null; then
	say "iotflow: already running (pid $(cat "$state/run.pid")); stop it with Ctrl-C there"
	exit 1
fi
echo $$ >"$state/run.pid"

# start NAME ARGS...: a built daemon in the background, output to STATE/log/NAME.log.
# With the broker's auth plugin, daemons reach the broker as a service
# account (run_mqtt_token below); the token stays out of STATE/env and output.
start() {
	local name=$1
	shift
	[[ -x $root/bin/$name ]] || return 0
	local url=$IOTFLOW_MQTT_URL
	if [[ -n $run_mqtt_token ]]; then url=mqtt://make-run:$run_mqtt_token@127.0.0.1:$IOTFLOW_MQTT_PORT; fi
	IOTFLOW_MQTT_URL=$url "$root/bin/$name" "$@" >>"$state/log/$name.log" 2>&1 </dev/null &
	pids+=($!) names+=("$name")
}
# Where the daemons listen (Prometheus scrapes both).
httpd_addr=127.0.0.1:5000 metrics_addr=127.0.0.1:9101
start_daemons() {
	local i
	pids=() names=()
	# Behind the auth plugin the broker has checked each device's key and
	# topics; without it, every payload must carry its device's key.
	start iot-mqtt-listen --client-id iot-mqtt-listen-run --metrics-listen "$metrics_addr" \
		${run_mqtt_token:+--trust-broker}
	start iot-httpd --listen "$httpd_addr" --web-root "$root/web"
	((${#pids[@]})) || return 0
	sleep 0.5
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			say "iotflow: warning: ${names[$i]} exited at once; last lines of $state/log/${names[$i]}.log:"
			tail -n 5 "$state/log/${names[$i]}.log" >&2 || true
			unset 'pids[i]' 'names[i]'
		fi
	done
}
stop_daemons() {
	local i
	for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" 2>/dev/null || true; done
	pids=() names=()
}

# Prometheus, when installed: the contrib configuration with this run's
# targets (scripts/prometheus-conf.sh), data in STATE/prometheus/data, on
# 127.0.0.1:9090 unless that is taken (a system Prometheus, say), else on a
# spare port, kept for the next run while it is free. One left running by a
# run that was killed hard holds the data directory's lock: it is stopped.
prom_pid= prom_url=
start_prometheus() {
	command -v prometheus >/dev/null || return 0
	local dir=$state/prometheus port old
	mkdir -p "$dir/data"
	old=$(_iot_pid_of "$dir/prometheus.pid") || old=
	if _iot_pid_alive "$old" && grep -qF "$dir/prometheus.yml" "/proc/$old/cmdline" 2>/dev/null; then
		_iot_kill_pidfile "$dir/prometheus.pid"
	fi
	port=$(cat "$dir/port" 2>/dev/null) || port=9090
	[[ $port =~ ^[0-9]+$ ]] && _iot_port_free "$port" || port=$(_iot_pick_port)
	if ! "$root/scripts/prometheus-conf.sh" "$dir" "$httpd_addr" "$metrics_addr" 2>>"$state/log/prometheus.log"; then
		say "iotflow: warning: no Prometheus configuration (see $state/log/prometheus.log); not starting it"
		return 0
	fi
	echo "$port" >"$dir/port"
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$port" >>"$state/log/prometheus.log" 2>&1 </dev/null &
	prom_pid=$!
	echo "$prom_pid" >"$dir/prometheus.pid"
	sleep 0.5
	if ! kill -0 "$prom_pid" 2>/dev/null; then
		say "iotflow: warning: prometheus exited at once; last lines of $state/log/prometheus.log:"
		tail -n 5 "$state/log/prometheus.log" >&2 || true
		prom_pid=
		return 0
	fi
	prom_url=http://127.0.0.1:$port
}
stop_prometheus() {
	[[ -n $prom_pid ]] || return 0
	kill -TERM "$prom_pid" 2>/dev/null || true
	wait "$prom_pid" 2>/dev/null || true
	rm -f "$state/prometheus/prometheus.pid"
	prom_pid=
}

pids=() names=() sleeper=
stopping=0
stop_all() {
	((stopping)) && return
	stopping=1
	trap '' INT TERM HUP PIPE # a terminal or pipe gone (SIGHUP) must not cut the stop short
	say
	say "iotflow: stopping..."
	if [[ -n $sleeper ]]; then kill "$sleeper" 2>/dev/null || true; fi
	stop_daemons
	stop_prometheus
	# Servers last: the daemons flush their batches to them on TERM.
	local rc=0
	iot_stack_stop "$state" || rc=$?
	rm -f "$state/run.pid"
	if ((rc)); then
		say "iotflow: warning: a server did not stop cleanly; data kept in $state"
		exit 1
	fi
	say "iotflow: stopped; data kept in $state"
}
trap stop_all EXIT
trap 'exit 0' INT TERM HUP

# The values of STATE/env (written by stack.sh), and ours after them.
write_env() {
	# shellcheck disable=SC2016 # $PATH is for the shell that sources the file
	printf 'export IOTFLOW_SQL_DIR=%q\nexport PATH=%q:"$PATH"\n' "$root/sql" "$root/bin" >>"$state/env"
}

# Mosquitto with the IoTFlow auth plugin when it is built (iotflow-mosquitto(8)).
if [[ -f $root/bin/iotflow_auth.so ]]; then export IOT_MOSQUITTO_PLUGIN=$root/bin/iotflow_auth.so; fi
# (Servers left by a run that was killed hard are stopped and restarted.)
iot_stack_start "$state"
write_env
export IOTFLOW_SQL_DIR=$root/sql PATH=$root/bin:$PATH

if [[ -x $root/bin/iot-migrate ]]; then
	"$root/bin/iot-migrate" up
fi
# The daemons' broker account: an admin without a password, and a token
# made anew on each run (the last run's is revoked).
run_mqtt_token=
if [[ -n ${IOT_MOSQUITTO_PLUGIN:-} && -x $root/bin/iot-user ]]; then
	"$root/bin/iot-user" show make-run >/dev/null 2>&1 ||
		"$root/bin/iot-user" add make-run --admin --no-password >/dev/null
	"$root/bin/iot-user" token revoke make-run daemons >/dev/null 2>&1 || true
	run_mqtt_token=$("$root/bin/iot-user" token create make-run daemons | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
fi

server_name() { case $1 in pg) echo PostgreSQL ;; redis) echo Redis ;; *) echo Mosquitto ;; esac; }

# A server that died is started again. When it came back on another port,
# the new values are printed (the commands below depend on them) and the
# daemons restarted, since they read them at start. One that will not start
# is tried again every second, and said so once.
declare -A failing=()
revive_servers() {
	local dead kind old new name before moved=0
	dead=$(iot_stack_dead "$state") || return 0
	while read -r kind old; do
		[[ -n $kind ]] || continue
		name=$(server_name "$kind")
		[[ -n ${failing[$kind]:-} ]] || say "iotflow: warning: $name (port $old) is gone; starting it again"
		before=$(cat "$state/env")
		if ! new=$(iot_stack_revive "$kind" "$state" 2>"$state/log/restart-$kind.log"); then
			[[ -n ${failing[$kind]:-} ]] ||
				say "iotflow: warning: $name did not start (see $state/log/restart-$kind.log); trying again"
			failing[$kind]=1
			continue
		fi
		unset "failing[$kind]"
		write_env
		# shellcheck disable=SC1091 # written by stack.sh and write_env
		source "$state/env"
		if [[ $new == "$old" ]]; then
			say "iotflow: $name is back on port $new"
		else
			moved=1
			say "iotflow: $name is back, on a new port: $new (was $old). New values, also in $state/env:"
			grep -vxF -f <(printf '%s\n' "$before") "$state/env" | sed 's/^/  /' >&2 || true
		fi
	done <<<"$dead"
	if ((moved && ${#pids[@]})); then
		say "iotflow: restarting ${names[*]} for the new port"
		stop_daemons
		start_daemons
	fi
}

start_daemons
start_prometheus

cat <<EOF

IoTFlow is running (data in $state; Ctrl-C here stops everything).
${names[*]:+Daemons: ${names[*]} (logs in $state/log/)
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
  KEY=iotf_...                            # the key iot-device add printed
  mosquitto_pub -p \$IOTFLOW_MQTT_PORT -q 1 -u 1 -P "\$KEY" -t iotflow/devices/1/telemetry -m '{"data":{"humidity":40}}'
                                          # the broker wants the device id and key (iotflow-mosquitto(8));
                                          # stored by iot-mqtt-listen (log: \$IOTFLOW_STATE_DIR/log)
  curl -s http://127.0.0.1:9101/metrics   # iot-mqtt-listen's metrics
  redis-cli -p \$IOTFLOW_REDIS_PORT
EOF
if [[ " ${names[*]} " == *" iot-httpd "* ]]; then
	echo "  curl -s http://$httpd_addr/health"
	echo "  iot-user token create alice laptop    # then sign in with it at http://$httpd_addr/"
fi
if [[ -n $prom_url ]]; then
	echo
	echo "Prometheus: $prom_url (scraping $httpd_addr and $metrics_addr with the alert rules of"
	echo "  contrib/prometheus; config and data in $state/prometheus, log in $state/log/prometheus.log)"
fi
echo

# Until Ctrl-C: every second, a daemon that died is reported (the rest keeps
# running) and a server that died is started again.
while :; do
	sleep 1 &
	sleeper=$!
	wait -n "${pids[@]}" ${prom_pid:+"$prom_pid"} "$sleeper" 2>/dev/null || true
	kill "$sleeper" 2>/dev/null || true
	sleeper=
	if [[ -n $prom_pid ]] && ! kill -0 "$prom_pid" 2>/dev/null; then
		say "iotflow: warning: prometheus exited; see $state/log/prometheus.log"
		prom_pid=
	fi
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			say "iotflow: warning: ${names[$i]} exited; see $state/log/${names[$i]}.log"
			unset 'pids[i]' 'names[i]'
		fi
	done
	revive_servers
done
