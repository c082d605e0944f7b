# shellcheck shell=bash
# httpd_helpers.bash — the fixtures tests/httpd.bats and tests/httpd_faults.bats
# share: a user, an admin and devices in the template, a fresh database per
# test; the server and requests come from httpd_lib.bash.
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

load httpd_lib
