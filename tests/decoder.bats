#!/usr/bin/env bats
# decoder.bats — the telemetry record decoder's C unit tests (tests/unit),
# built and run under AddressSanitizer and UndefinedBehaviorSanitizer.

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

@test "record decoder: unit tests and malformed corpus pass under ASan+UBSan" {
	run "$BATS_TEST_DIRNAME/unit/build.sh"
	assert_success
	assert_output --partial ' 0 failed'
	refute_output --partial 'not ok'
	refute_output --partial 'runtime error'
	refute_output --partial 'AddressSanitizer'
}

@test "record decoder: the malformed corpus has at least 50 must-reject files" {
	run sh -c "ls '$BATS_TEST_DIRNAME'/unit/json_malformed/n_*.json | wc -l"
	assert_success
	[ "$output" -ge 50 ]
}
