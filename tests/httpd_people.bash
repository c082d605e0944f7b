# shellcheck shell=bash
# httpd_people.bash — the people and devices the read-side iot-httpd suites
# (httpd_read.bats, httpd_stream.bats, httpd_dashboard.bats) share, loaded
# after helpers and httpd_lib: alice (dev-a, dev-b, dev-off inactive), bob
# (dev-c), root (an admin), each with a token; a fresh database per test.
# A suite with data of its own defines its setup_file after loading this,
# calling template_people and people_devices first.
# shellcheck disable=SC2034 # the variables are the tests'

# The devices, in the template database.
people_devices() {
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		iot-device add dev-a --owner alice > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner alice > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-off --owner alice --status inactive > "$IOTFLOW_TEST_TMP/dev-off.json"
		iot-device add dev-c --owner bob > "$IOTFLOW_TEST_TMP/dev-c.json"'
}

setup_file() {
	stack_setup_file
	migrated_template
	template_people
	people_devices
}
teardown_file() { stack_teardown_file; }

# A fresh database; A B C OFF (ids), KEY_A KEY_B KEY_C KEY_OFF, ALICE BOB ROOT
# (tokens), ALICE_ID BOB_ID; no server yet.
people_setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json"); KEY_B=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-b.json")
	C=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-c.json"); KEY_C=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-c.json")
	OFF=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-off.json"); KEY_OFF=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-off.json")
	ALICE=$(cat "$IOTFLOW_TEST_TMP/alice.token"); BOB=$(cat "$IOTFLOW_TEST_TMP/bob.token")
	ROOT=$(cat "$IOTFLOW_TEST_TMP/root.token")
	ALICE_ID=$(psql -XAtq -c "select id from users where username = 'alice'")
	BOB_ID=$(psql -XAtq -c "select id from users where username = 'bob'")
	HTTPD_PID=
}
