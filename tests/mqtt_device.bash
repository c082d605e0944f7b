# shellcheck shell=bash
# mqtt_device.bash — a real mosquitto_sub playing a device, for the suites
# of commands and config publication (commands.bats, httpd_control.bats).
#
#   sub_start DEVICE   subscribe to iotflow/devices/DEVICE/commands/# at QoS 2
#                      (so a line shows the QoS a message was published with)
#                      and return once the subscription is live; lines
#                      "QOS RETAIN TOPIC PAYLOAD" go to $SUB_OUT
#   sub_wait PATTERN   wait (10 s at most) for a line matching the ERE
#   sub_stop           stop the subscriber (teardown calls it too)

sub_start() {
	local dev=$1 i
	SUB_OUT=$BATS_TEST_TMPDIR/sub.$dev.out
	: >"$SUB_OUT"
	mosquitto_sub -p "$IOTFLOW_MQTT_PORT" -q 2 -t "iotflow/devices/$dev/commands/#" -F '%q %r %t %p' \
		>"$SUB_OUT" 2>&1 3>&- &
	SUB_PID=$!
	# The subscription is live once a probe comes back.
	for ((i = 0; i < 100; i++)); do
		mosquitto_pub -p "$IOTFLOW_MQTT_PORT" -t "iotflow/devices/$dev/commands/probe" -m "probe"
		grep -q "commands/probe probe" "$SUB_OUT" && return 0
		sleep 0.1
	done
	echo "sub_start: the subscriber never got its probe" >&2
	return 1
}

sub_wait() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -Eq "$1" "$SUB_OUT" && return 0
		sleep 0.05
	done
	echo "sub_wait: no line matching $1 in:" >&2
	cat "$SUB_OUT" >&2
	return 1
}

sub_stop() {
	if [[ -n ${SUB_PID:-} ]]; then
		kill "$SUB_PID" 2>/dev/null || true
		wait "$SUB_PID" 2>/dev/null || true
		SUB_PID=
	fi
}

# The payload of the last line for TOPIC-LEAF (control, config, ...).
sub_payload() {
	grep " iotflow/devices/[0-9]*/commands/$1 " "$SUB_OUT" | tail -n 1 | cut -d ' ' -f 4-
}
