# shellcheck shell=bash
# ingest_lib.bash — what the iot-ingest suites share: a migrated template
# with an owner and devices (an active pair and an inactive one), a fresh
# copy for every test, and counting rows.

ingest_setup_file() {
	stack_setup_file
	migrated_template
	# Owner and devices for every test, cloned with the template.
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add ingester >/dev/null
		iot-device add dev-a --owner ingester > "$IOTFLOW_TEST_TMP/dev-a.json"
		iot-device add dev-b --owner ingester > "$IOTFLOW_TEST_TMP/dev-b.json"
		iot-device add dev-off --owner ingester --status inactive > "$IOTFLOW_TEST_TMP/dev-off.json"'
}

ingest_setup() {
	fresh_db --migrated
	A=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-a.json"); KEY_A=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-a.json")
	B=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-b.json"); KEY_B=$(jq -r .api_key "$IOTFLOW_TEST_TMP/dev-b.json")
	OFF=$(jq -r .id "$IOTFLOW_TEST_TMP/dev-off.json")
	NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
}

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
rows() { q "select count(*) from telemetry_data${1:+ where $1}"; }
