# shellcheck shell=bash
# mqtt_plugin_lib.bash — what the broker plugin's suites share
# (mqtt_plugin.bats, mqtt_plugin_listen.bats): a broker loading
# bin/iotflow_auth.so, restarted for each test against its own database;
# devices, people and tokens made with iot-device and iot-user; real
# mosquitto_pub/mosquitto_sub clients, in the background too.

plugin_setup_file() {
	[[ -x $IOTFLOW_ROOT/bin/iotflow_auth.so ]] || { echo "bin/iotflow_auth.so is not built (run make)" >&2; return 1; }
	export IOT_MOSQUITTO_PLUGIN=$IOTFLOW_ROOT/bin/iotflow_auth.so
	# Subscriptions in the log: how a test knows its subscriber is ready.
	export IOT_MOSQUITTO_EXTRA_CONF=$'log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe'
	stack_setup_file
	migrated_template
}

# Each test: its own database, and the broker restarted against it (and
# without the retained messages and sessions of the test before).
plugin_setup() {
	fresh_db --migrated
	export IOT_MOSQUITTO_PLUGIN_OPTS=
	broker_restart
}

broker_restart() {
	iot_mqtt_stop
	rm -f "$IOTFLOW_STATE_DIR/mosquitto/mosquitto.db"
	: >"$IOTFLOW_STATE_DIR/mosquitto/mosquitto.log"
	iot_mqtt_reconfigure
}

pub() { mosquitto_pub -p "$IOTFLOW_MQTT_PORT" "$@"; }
sub() { mosquitto_sub -p "$IOTFLOW_MQTT_PORT" "$@"; }

# A person, with a device; sets ID and KEY.
device() { # NAME [OWNER]
	local owner=${2:-alice} out
	iot-user show "$owner" >/dev/null 2>&1 || echo 'passw0rd-passw0rd' | iot-user add "$owner" >/dev/null
	out=$(iot-device add "$1" --owner "$owner")
	ID=$(jq -r .id <<<"$out")
	KEY=$(jq -r .api_key <<<"$out")
}
token() { # USER NAME [--admin]: prints a new token of USER (made admin with --admin)
	iot-user show "$1" >/dev/null 2>&1 || echo 'passw0rd-passw0rd' | iot-user add "$1" ${3:+--admin} >/dev/null
	iot-user token create "$1" "$2" | jq -r .token
}

# mosquitto_sub in the background (fd 3 closed) with its output in FILE; $!
# is the client itself (exec: bats' traps would keep a subshell in between).
# teardown stops what is left.
BG_PIDS=()
bgsub() { # FILE ARGS...
	local f=$1
	shift
	(exec mosquitto_sub -p "$IOTFLOW_MQTT_PORT" "$@") >"$f" 2>&1 3>&- &
	BG_PIDS+=($!)
}
plugin_teardown() {
	local p
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -z ${PG_FROZEN:-} ]] || kill -CONT $PG_FROZEN 2>/dev/null || true
}

# Wait up to $1 tenths of a second for "$@" to succeed.
wait_for() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
	return 1
}

# The broker said it took a subscription of this client (log line), i.e. the
# subscriber is ready.
subscribed() { grep -q ": $1 [0-9] " "$IOTFLOW_STATE_DIR/mosquitto/mosquitto.log"; }
