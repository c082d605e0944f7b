# shellcheck shell=bash
# helpers.bash — loaded by every bats file with `load helpers`.
#
#   setup_file()    { stack_setup_file; migrated_template; }   # once per file
#   teardown_file() { stack_teardown_file; }
#   setup()         { fresh_db --migrated; }                    # per test
#
# stack_setup_file   real PostgreSQL, Redis, Mosquitto under a mktemp dir (in
#                    /dev/shm when it is a roomy tmpfs, else $TMPDIR; force a
#                    place with IOTFLOW_TEST_TMPDIR=DIR); exports
#                    PG*, IOTFLOW_* (see scripts/stack.sh) and IOTFLOW_TEST_TMP
# stack_teardown_file  stop them; delete the dir unless IOTFLOW_KEEP_TMP=1
# migrated_template [NAME]  database NAME (default iotflow_tpl) with `iot-migrate up`
#                    applied; exported as IOTFLOW_TEMPLATE_DB for fresh_db --migrated
# fresh_db [--migrated | TEMPLATE]  a new, uniquely named database for this test;
#                    sets PGDATABASE (and echoes nothing)
# Restarts mid-test: iot_pg_stop/iot_pg_start, iot_redis_*, iot_mqtt_* (same ports).
# pg_freeze / pg_thaw  SIGSTOP / SIGCONT every PostgreSQL process (PG_FROZEN
#                    holds their pids: thaw it in teardown whatever happened)
# A process a test leaves in the background must close fd 3 (`cmd 3>&- &`),
# or bats waits for it at the end of the file.

bats_require_minimum_version 1.5.0
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

# jq 1.6 (Debian 12's) exits 0 under -e when it printed nothing, as for
# empty input (jq 1.7 exits 4): `jq -e COND <<<"$output"` would pass on no
# output at all. Here -e (alone or among short options, -re) also fails when
# nothing came out.
jq() {
	local a e=false out rc
	for a; do
		case $a in --exit-status) e=true ;; --*) ;; -*e*) e=true ;; esac
	done
	$e || { command jq "$@"; return; }
	out=$(command jq "$@") && rc=0 || rc=$?
	[[ -n $out ]] || return 4
	printf '%s\n' "$out"
	return "$rc"
}

IOTFLOW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export IOTFLOW_ROOT
# The programs under test come from this tree, never from an installed copy.
PATH=$IOTFLOW_ROOT/bin:$PATH
# Migrations come from this tree too (iot-migrate's compiled-in default is the
# installed share dir).
export IOTFLOW_SQL_DIR=${IOTFLOW_SQL_DIR:-$IOTFLOW_ROOT/sql}
# Hermetic: no site config file, no conninfo overriding the PG* variables.
export IOTFLOW_CONFIG=${IOTFLOW_CONFIG:-/dev/null}
unset IOTFLOW_DATABASE_URL

# shellcheck source-path=SCRIPTDIR source=../scripts/stack.sh
source "$IOTFLOW_ROOT/scripts/stack.sh"

stack_setup_file() {
	IOTFLOW_TEST_TMP=$(mktemp -d "$(iot_test_tmpdir)/iotflow-test.XXXXXX") || return 1
	export IOTFLOW_TEST_TMP
	if ! iot_stack_start "$IOTFLOW_TEST_TMP" --fast; then
		# bats may skip teardown_file after a failed setup_file: clean up here.
		if [[ ${IOTFLOW_KEEP_TMP:-0} == 1 ]]; then
			iot_stack_stop "$IOTFLOW_TEST_TMP"
			echo "# kept $IOTFLOW_TEST_TMP" >&3
		else
			iot_stack_rm "$IOTFLOW_TEST_TMP"
		fi
		return 1
	fi
}

stack_teardown_file() {
	[[ -n ${IOTFLOW_TEST_TMP:-} ]] || return 0
	if [[ ${IOTFLOW_KEEP_TMP:-0} == 1 ]]; then
		iot_stack_stop "$IOTFLOW_TEST_TMP"
		echo "# kept $IOTFLOW_TEST_TMP" >&3
	else
		iot_stack_rm "$IOTFLOW_TEST_TMP"
	fi
}

# A migrated database to clone per test: migrating once per file and cloning
# with CREATE DATABASE ... TEMPLATE is far cheaper than migrating per test.
migrated_template() {
	local name=${1:-iotflow_tpl} out
	if [[ ! -x $IOTFLOW_ROOT/bin/iot-migrate ]]; then
		echo "migrated_template: $IOTFLOW_ROOT/bin/iot-migrate is not built (run make)" >&2
		return 1
	fi
	iot_db_fresh "$name" || return 1
	if ! out=$(PGDATABASE=$name "$IOTFLOW_ROOT/bin/iot-migrate" up 2>&1); then
		printf 'migrated_template: iot-migrate up failed:\n%s\n' "$out" >&2
		return 1
	fi
	# Back to the default database; the template must have no sessions to be cloned.
	export PGDATABASE=iotflow IOTFLOW_TEMPLATE_DB=$name
}

fresh_db() {
	local tpl=${1:-}
	if [[ $tpl == --migrated ]]; then
		tpl=${IOTFLOW_TEMPLATE_DB:-}
		[[ -n $tpl ]] || { echo "fresh_db --migrated: call migrated_template in setup_file first" >&2; return 1; }
	fi
	iot_db_fresh "t_${BATS_TEST_NUMBER:-0}_${RANDOM}${RANDOM}" "$tpl"
}

# Stop (SIGSTOP) every PostgreSQL process, as on a frozen host: the kernel
# still takes the bytes, but nothing answers, and no statement_timeout runs.
pg_freeze() {
	local pm
	pm=$(head -n 1 "$IOTFLOW_PG_DATA/postmaster.pid")
	PG_FROZEN="$pm $(pgrep -P "$pm" | tr '\n' ' ')"
	kill -STOP $PG_FROZEN
}
pg_thaw() { kill -CONT $PG_FROZEN; PG_FROZEN=; }

# A query that keeps running on telemetry_data (an export, a long range),
# holding its ACCESS SHARE lock, until long_reader_end; it returns once the
# query is running.
long_reader_start() {
	PGAPPNAME=iotflow-long-reader psql -XAtq -c 'BEGIN' -c 'SELECT count(*) FROM telemetry_data' \
		-c 'SELECT pg_sleep(120)' -c 'COMMIT' >/dev/null 2>&1 3>&- &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ $(psql -XAtqc "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'iotflow-long-reader'
			AND query LIKE '%pg_sleep%'") == 1 ]] && return 0
		sleep 0.1
	done
	echo "long_reader_start: the reader did not start" >&2
	return 1
}
long_reader_end() {
	psql -XAtqc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'iotflow-long-reader'" >/dev/null
}
