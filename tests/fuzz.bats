#!/usr/bin/env bats
# fuzz.bats — the libFuzzer targets (tests/fuzz/: the telemetry record
# decoder, and iot-httpd's query strings, routes, content types and body
# records) under AddressSanitizer and UndefinedBehaviorSanitizer: every seed
# replays without a finding, and a short search finds nothing either. The
# search's length is IOTFLOW_TEST_FUZZ_SECONDS per target (default 15);
# `make fuzz` runs the long one (60 s, FUZZ_SECONDS).

load helpers

setup_file() {
	command -v clang > /dev/null || return 0
	# Built once for the file, by the Makefile (the one list of sources).
	make -C "$IOTFLOW_ROOT" --no-print-directory -s build/fuzz/fuzz_record build/fuzz/fuzz_http >&2
}

need_clang() {
	command -v clang > /dev/null || skip "clang is not installed (libFuzzer needs it: apt-get install clang)"
}

# replay TARGET SEED_DIR: run every seed once; a finding fails the test.
replay() {
	local seeds=("$IOTFLOW_ROOT/tests/fuzz/$2"/*)
	((${#seeds[@]} > 0)) || { echo "no seeds in tests/fuzz/$2"; return 1; }
	run --separate-stderr env UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$IOTFLOW_ROOT/build/fuzz/$1" -artifact_prefix="$BATS_TEST_TMPDIR/" -timeout=10 "${seeds[@]}"
	[[ $status -eq 0 ]] || { echo "$stderr" | tail -n 40; return 1; }
	# libFuzzer says how many inputs it ran: all of them, none skipped.
	[[ $stderr == *"Executed ${seeds[-1]} in "* ]] || { echo "$stderr" | tail -n 5; return 1; }
}

@test "fuzz_record replays every seed without a finding" {
	need_clang
	replay fuzz_record corpus
}

@test "fuzz_http replays every seed without a finding" {
	need_clang
	replay fuzz_http corpus_http
}

@test "a short fuzzing run of both targets finds no crash, leak, undefined behaviour or broken invariant" {
	need_clang
	local s=${IOTFLOW_TEST_FUZZ_SECONDS:-15}
	run --separate-stderr env FUZZ_SECONDS="$s" "$IOTFLOW_ROOT/scripts/fuzz.sh"
	[[ $status -eq 0 ]] || { echo "$stderr" | grep -v -E '^#[0-9]+' | tail -n 60; false; }
	[[ $stderr == *"fuzz.sh: no crash in ${s}s per target"* ]]
	# Both really ran, and went through their inputs (libFuzzer's final stats).
	[[ $(grep -c '^stat::number_of_executed_units:' <<< "$stderr") == 2 ]] || { echo "$stderr" | tail -n 20; false; }
	local runs
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' <<< "$stderr" | sort -n | head -n 1)
	((runs > 1000)) || { echo "the slower target ran only $runs inputs"; false; }
}
