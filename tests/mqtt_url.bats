#!/usr/bin/env bats
# The broker URL (lib/mqtt/mqtt_url.c), as every MQTT program reads it.
load helpers

check() { "$IOTFLOW_ROOT/build/tests/mqtt_url_check" "$@"; }

@test "mqtt URLs: host, port, TLS and credentials" {
	run check mqtt://localhost mqtts://broker.example mqtt://10.0.0.5:1884/ \
		'mqtt://svc:iotu_abc@127.0.0.1:2883' 'mqtt://a%40b:p%3Aw%40d@h:1' 'mqtt://[::1]:1885'
	assert_success
	assert_line --index 0 'host=localhost port=1883 tls=0 user= password=none addr=localhost:1883'
	assert_line --index 1 'host=broker.example port=8883 tls=1 user= password=none addr=broker.example:8883'
	assert_line --index 2 'host=10.0.0.5 port=1884 tls=0 user= password=none addr=10.0.0.5:1884'
	assert_line --index 3 'host=127.0.0.1 port=2883 tls=0 user=svc password=iotu_abc addr=127.0.0.1:2883'
	assert_line --index 4 'host=h port=1 tls=0 user=a@b password=p:w@d addr=h:1'
	assert_line --index 5 'host=::1 port=1885 tls=0 user= password=none addr=[::1]:1885'
}

@test "mqtt URLs: bad ones are refused without echoing the password" {
	run check '' http://x 'mqtt://' 'mqtt://h:0' 'mqtt://h:65536' 'mqtt://h:12x' 'mqtt://u:secret%zz@h' \
		'mqtt://h/topic' 'mqtt://[::1' 'mqtt://u:secret@:1883'
	assert_success
	assert_line --index 0 'error: the broker URL is empty'
	assert_line --index 1 'error: the broker URL must start with mqtt:// or mqtts://'
	assert_line --index 2 'error: the broker URL has no usable host'
	assert_line --index 3 --partial 'port is not a number from 1 to 65535'
	assert_line --index 4 --partial 'port is not a number from 1 to 65535'
	assert_line --index 5 --partial 'port is not a number from 1 to 65535'
	assert_line --index 6 "error: the broker URL's password is malformed or too long"
	assert_line --index 7 --partial 'has a path or query'
	assert_line --index 8 'error: the broker URL has no usable host'
	assert_line --index 9 'error: the broker URL has no usable host'
	refute_output --partial secret
}
