#!/usr/bin/env bats
# The data lifecycle (lib/query/retention.c, archive.c, rollups.c through
# iot-migrate retention and rollups) against a real PostgreSQL: only what
# is past its age goes, each partition leaves a gzip NDJSON archive whose
# manifest's row count and checksum match, the archive reads back with
# iot-ingest to the very same rows, a failed export drops nothing, the
# hourly rollups and latest values stay right; --rebuild repairs planted
# damage in telemetry_hourly.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
load helpers

setup_file() {
	stack_setup_file
	migrated_template
	PGDATABASE=$IOTFLOW_TEMPLATE_DB bash -c '
		echo "s3cret-passw0rd" | iot-user add alice >/dev/null
		iot-device add old-only --owner alice > "$IOTFLOW_TEST_TMP/old.json"
		iot-device add both --owner alice > "$IOTFLOW_TEST_TMP/both.json"'
}
teardown_file() { stack_teardown_file; }

q() { psql -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# The rows of telemetry_data (or of the WHERE given), exactly, as one digest.
digest() { q "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY device_id, measurement_name, ts), '')) FROM telemetry_data t${1:+ WHERE $1}"; }
# What telemetry_hourly must hold: every hour recomputed from the points.
HOURLY_FROM_POINTS="SELECT device_id, measurement_name, date_bin('1 hour', ts, timestamptz '1970-01-01 00:00:00+00'),
	count(*), sum(numeric_value), min(numeric_value), max(numeric_value), min(ts),
	(array_agg(numeric_value ORDER BY ts))[1], max(ts), (array_agg(numeric_value ORDER BY ts DESC))[1]
	FROM telemetry_data WHERE numeric_value IS NOT NULL GROUP BY 1, 2, 3"
hourly_right() {
	q "SELECT count(*) FROM (($HOURLY_FROM_POINTS) EXCEPT ALL (SELECT * FROM telemetry_hourly)
	   UNION ALL ((SELECT * FROM telemetry_hourly) EXCEPT ALL ($HOURLY_FROM_POINTS))) x"
}
# Series whose latest row is not their newest point (or that lack one / have one too many).
latest_wrong() {
	q "SELECT count(*) FROM ((SELECT DISTINCT ON (device_id, measurement_name) device_id, measurement_name, ts,
	   numeric_value, text_value FROM telemetry_data ORDER BY device_id, measurement_name, ts DESC)
	   EXCEPT ALL (SELECT device_id, measurement_name, ts, numeric_value, text_value FROM telemetry_latest)
	   UNION ALL (SELECT device_id, measurement_name, ts, numeric_value, text_value FROM telemetry_latest)
	   EXCEPT ALL (SELECT DISTINCT ON (device_id, measurement_name) device_id, measurement_name, ts,
	   numeric_value, text_value FROM telemetry_data ORDER BY device_id, measurement_name, ts DESC)) x"
}

setup() {
	fresh_db --migrated
	OLD=$(jq -r .id "$IOTFLOW_TEST_TMP/old.json")
	BOTH=$(jq -r .id "$IOTFLOW_TEST_TMP/both.json")
	ARCH=$BATS_TEST_TMPDIR/archive
	mkdir -p "$ARCH"
	D400=$(date -u -d '-400 days' +%Y-%m-%d) D380=$(date -u -d '-380 days' +%Y-%m-%d)
	D10=$(date -u -d '-10 days' +%Y-%m-%d)
	# 400 and 380 days ago: both devices; 10 days ago: one of them. Values
	# in quarters, so that sums are exact in any order.
	{
		for d in "$D400" "$D380"; do
			for i in $(seq 0 299); do
				printf '{"device_id":%s,"timestamp":"%sT%02d:%02d:%02dZ","data":{"t":%s.25,"s":"x%s"},"metadata":{"n":%s}}\n' \
					"$OLD" "$d" $((i / 60 % 24)) $((i % 60)) $((i % 7)) "$i" "$i" "$i"
				printf '{"device_id":%s,"timestamp":"%sT%02d:%02d:30Z","data":{"t":%s.5}}\n' "$BOTH" "$d" $((i / 30 % 24)) $((i % 60)) "$i"
			done
		done
		printf '{"device_id":%s,"timestamp":"%sT08:00:00Z","data":{"t":1.75,"big":1.8014398509481984e16,"j":{"a":[1,2.5]}}}\n' "$BOTH" "$D10"
	} | iot-ingest -q
	P400=telemetry_data_${D400//-/} P380=telemetry_data_${D380//-/} P10=telemetry_data_${D10//-/}
}

partition_exists() { [[ $(q "SELECT count(*) FROM iotflow_partitions() WHERE name = '$1'") == 1 ]]; }

@test "retention --keep 365d: archives and drops only what is past its age; the manifest matches the archive" {
	local before400 before380 kept
	before400=$(digest "ts >= '$D400' AND ts < '$D400'::date + 1")
	before380=$(digest "ts >= '$D380' AND ts < '$D380'::date + 1")
	kept=$(digest "ts >= '$D10'")
	run --separate-stderr iot-migrate retention --keep 365d --archive-dir "$ARCH"
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_equal "$(jq -r '[.partition, .rows, .action] | join(" ")' <<<"${lines[0]}")" "$P400 ${before400%% *} archived and dropped"
	assert_equal "$(jq -r '.partition' <<<"${lines[1]}")" "$P380"
	! partition_exists "$P400"
	! partition_exists "$P380"
	partition_exists "$P10"
	assert_equal "$(digest "ts >= '$D10'")" "$kept"
	assert_equal "$(digest "ts < '$D10'")" "0 d41d8cd98f00b204e9800998ecf8427e"
	# Each archive: the manifest's rows and checksum are the file's.
	local line a m
	for line in "${lines[@]}"; do
		a=$(jq -r .archive <<<"$line") m=$(jq -r .manifest <<<"$line")
		[[ -f $a && -f $m ]]
		assert_equal "$(jq -r .sha256 "$m")" "$(sha256sum "$a" | cut -d ' ' -f 1)"
		assert_equal "$(jq -r .sha256 <<<"$line")" "$(jq -r .sha256 "$m")"
		assert_equal "$(jq -r .rows "$m")" "$(zcat "$a" | wc -l)"
		assert_equal "$(jq -r .content_sha256 "$m")" "$(zcat "$a" | sha256sum | cut -d ' ' -f 1)"
		assert_equal "$(jq -r .bytes "$m")" "$(stat -c %s "$a")"
		assert_equal "$(jq -r '[.format, .compression, .from[:10]] | join(" ")' "$m")" "ndjson gzip $(jq -r '.from[:10]' <<<"$line")"
	done
	assert_equal "$(jq -r .rows "$(jq -r .manifest <<<"${lines[0]}")")" "${before400%% *}"
	# No temporary file is left behind.
	run find "$ARCH" -name '.*'
	assert_output ''
	# A second run finds nothing more to do.
	run iot-migrate retention --keep 365d --archive-dir "$ARCH"
	assert_success
	assert_output ''
}

@test "retention: the archives read back with iot-ingest to the very same rows" {
	local before
	before=$(digest "ts < '$D10'")
	iot-migrate -q retention --keep 365d --archive-dir "$ARCH" >/dev/null
	assert_equal "$(digest "ts < '$D10'")" "0 d41d8cd98f00b204e9800998ecf8427e"
	zcat "$ARCH"/*.ndjson.gz | iot-ingest -q
	assert_equal "$(digest "ts < '$D10'")" "$before"
}

@test "retention keeps telemetry_hourly and telemetry_latest right after the drop" {
	assert_equal "$(hourly_right)" 0
	assert_equal "$(latest_wrong)" 0
	iot-migrate -q retention --keep 365d --archive-dir "$ARCH" >/dev/null
	assert_equal "$(hourly_right)" 0
	assert_equal "$(latest_wrong)" 0
	# The device with only old points has no latest values nor rollups left;
	# the other keeps its newer ones.
	assert_equal "$(q "SELECT count(*) FROM telemetry_latest WHERE device_id = $OLD")" 0
	assert_equal "$(q "SELECT count(*) FROM telemetry_hourly WHERE device_id = $OLD")" 0
	assert_equal "$(q "SELECT measurement_name || '@' || ts::date FROM telemetry_latest WHERE device_id = $BOTH ORDER BY 1")" \
		"big@$D10
j@$D10
t@$D10"
	# And iot-query agrees.
	run iot-query latest --device "$OLD"
	assert_failure 3
}

@test "retention refuses to drop a partition whose export failed (a file size limit: write fails mid-archive)" {
	local before
	before=$(digest)
	# SIGXFSZ ignored: the write fails with EFBIG, as on a full disk.
	run --separate-stderr bash -c 'trap "" XFSZ; ulimit -f 1; iot-migrate retention --keep 365d --archive-dir "$1"' _ "$ARCH"
	assert_failure 5
	[[ $stderr == *"iot-migrate: fatal: unable to write"*"File too large"* ]] || { echo "$stderr"; false; }
	partition_exists "$P400"
	partition_exists "$P380"
	assert_equal "$(digest)" "$before"
	assert_equal "$(hourly_right)" 0
	assert_equal "$(latest_wrong)" 0
	run ls -A "$ARCH"
	assert_output ''
	# An archive directory that cannot be written into: nothing dropped
	# either (refused up front, 2, unless root may seem to write there).
	run --separate-stderr iot-migrate retention --keep 365d --archive-dir /proc
	[[ $status == 2 || $status == 5 ]] || { echo "status $status: $stderr"; false; }
	partition_exists "$P400"
	assert_equal "$(digest)" "$before"
}

@test "retention: a drop that fails after the archive is written keeps the partition and leaves no archive of it" {
	local before
	before=$(digest)
	# An operator's view on the oldest partition: DROP TABLE is refused,
	# after its archive and manifest were written and checked.
	q "CREATE VIEW old_days AS SELECT * FROM $P400"
	run --separate-stderr iot-migrate retention --keep 365d --archive-dir "$ARCH"
	assert_failure 6
	[[ $stderr == *"cannot drop table $P400 because other objects depend on it"* ]] || { echo "$stderr"; false; }
	partition_exists "$P400"
	partition_exists "$P380"
	assert_equal "$(digest)" "$before"
	assert_equal "$(hourly_right)" 0
	assert_equal "$(latest_wrong)" 0
	run ls -A "$ARCH"
	assert_output ''
	# Once the view is gone, one run archives both: one archive each.
	q "DROP VIEW old_days"
	iot-migrate -q retention --keep 365d --archive-dir "$ARCH" >/dev/null
	run ls "$ARCH"
	assert_equal "${#lines[@]}" 4
}

@test "retention waits out a query running on telemetry_data without holding up its readers and writers" {
	long_reader_start
	iot-migrate retention --keep 365d --archive-dir "$ARCH" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
	local ret=$! i
	# The first archive is placed before its partition is dropped: from then
	# on, the drop waits for the reader.
	for ((i = 0; i < 100; i++)); do
		compgen -G "$ARCH/$P400-*.json" >/dev/null && break
		sleep 0.1
	done
	compgen -G "$ARCH/$P400-*.json" >/dev/null
	sleep 0.5
	# Readers and writers of today's partition wait at most a second for a
	# lock; queued behind a DROP waiting for the reader, they would time out.
	for i in 1 2 3 4 5; do
		PGOPTIONS='-c lock_timeout=1s' q "INSERT INTO telemetry_data VALUES ($BOTH, 'probe', now(), $i, null, null, null, null)"
		PGOPTIONS='-c lock_timeout=1s' q "SELECT count(*) FROM telemetry_data WHERE ts > now() - interval '1 day'" >/dev/null
		sleep 0.3
	done
	partition_exists "$P400"
	long_reader_end
	wait "$ret" || { cat "$BATS_TEST_TMPDIR/err"; false; }
	! partition_exists "$P400"
	! partition_exists "$P380"
	assert_equal "$(q "SELECT count(*) FROM telemetry_data WHERE measurement_name = 'probe'")" 5
	assert_equal "$(wc -l < "$BATS_TEST_TMPDIR/out")" 2
}

@test "retention --dry-run tells what would go and changes nothing" {
	local before
	before=$(digest)
	run --separate-stderr iot-migrate retention --keep 365d --archive-dir "$ARCH" --dry-run
	assert_success
	assert_equal "$(jq -sr 'map(.partition + " " + .action) | join(",")' <<<"$output")" \
		"$P400 would archive and drop,$P380 would archive and drop"
	assert_equal "$(digest)" "$before"
	run ls -A "$ARCH"
	assert_output ''
	# A shorter age takes the 10-day-old partition too.
	run iot-migrate retention --keep 5d --archive-dir "$ARCH" --dry-run
	assert_equal "${#lines[@]}" 3
}

@test "retention and rollups: usage errors" {
	run iot-migrate retention --keep 365d
	assert_failure 2
	run iot-migrate retention --keep soon --archive-dir "$ARCH"
	assert_failure 2
	# A bare number is not taken as seconds: "--keep 365" meant 365 days
	# would have dropped all but the last six minutes. Nothing is touched.
	run --separate-stderr iot-migrate retention --keep 365 --archive-dir "$ARCH"
	assert_failure 2
	assert_equal "$output" ''
	[[ $stderr == *"invalid --keep '365' (a number and its unit"* ]]
	run --separate-stderr iot-migrate retention --keep 99999999w --archive-dir "$ARCH" --dry-run
	assert_failure 2
	[[ $stderr == *"invalid --keep '99999999w'"*"at most 36500d"* ]]
	run ls -A "$ARCH"
	assert_output ''
	run iot-migrate partitions --keep 365d
	assert_failure 2
	run iot-migrate rollups
	assert_failure 2
	run iot-migrate rollups --rebuild yesterday
	assert_failure 2
	run --separate-stderr iot-migrate rollups --rebuild ''
	assert_failure 2
	[[ $stderr == "iot-migrate: --rebuild: must not be empty"* ]]
}

@test "retention: a wrong archive directory is refused on the first run, also when nothing is due and on a dry run" {
	local before args
	before=$(digest)
	echo x > "$BATS_TEST_TMPDIR/file"
	chmod 555 "$ARCH"
	for args in "--keep 365d" "--keep 365d --dry-run" "--keep 3650d"; do
		# shellcheck disable=SC2086 # the options split on purpose
		run --separate-stderr iot-migrate retention $args --archive-dir "$BATS_TEST_TMPDIR/none"
		assert_failure 2
		assert_equal "$stderr" "iot-migrate: fatal: archive directory $BATS_TEST_TMPDIR/none: No such file or directory"
		# shellcheck disable=SC2086
		run --separate-stderr iot-migrate retention $args --archive-dir "$BATS_TEST_TMPDIR/file"
		assert_failure 2
		assert_equal "$stderr" "iot-migrate: fatal: archive directory $BATS_TEST_TMPDIR/file: not a directory"
		# A directory the user cannot write into (root can, whatever the mode).
		if ((EUID != 0)); then
			# shellcheck disable=SC2086
			run --separate-stderr iot-migrate retention $args --archive-dir "$ARCH"
			assert_failure 2
			[[ $stderr == *"archive directory $ARCH: not writable: Permission denied" ]]
		fi
	done
	chmod 755 "$ARCH"
	assert_equal "$(digest)" "$before"
	partition_exists "$P400"
}

@test "rollups --rebuild SINCE repairs planted damage in telemetry_hourly, and only from SINCE" {
	assert_equal "$(hourly_right)" 0
	q "UPDATE telemetry_hourly SET sum = sum + 1000, count = count + 1 WHERE device_id = $BOTH AND bucket = '${D380}T03:00:00Z'"
	q "DELETE FROM telemetry_hourly WHERE device_id = $OLD AND bucket = '${D380}T01:00:00Z'"
	q "INSERT INTO telemetry_hourly VALUES ($OLD, 't', '${D380}T23:00:00Z', 1, 5, 5, 5, '${D380}T23:00:00Z', 5, '${D380}T23:00:00Z', 5)"
	q "UPDATE telemetry_hourly SET max = -1 WHERE device_id = $OLD AND bucket = '${D400}T02:00:00Z'"
	# A changed row counts twice (the right one missing, the wrong one extra).
	assert_equal "$(hourly_right)" 6
	run --separate-stderr iot-migrate rollups --rebuild "${D380}T00:30:00Z"
	assert_success
	assert_equal "$(jq -r .rebuilt_from <<<"$output")" "${D380}T00:00:00+00:00"
	# Only the damage before SINCE is left.
	assert_equal "$(hourly_right)" 2
	run iot-migrate rollups --rebuild "$D400"
	assert_success
	assert_equal "$(hourly_right)" 0
	assert_equal "$(latest_wrong)" 0
}
