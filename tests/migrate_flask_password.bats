#!/usr/bin/env bats
# The Flask service's password hashes (lib/auth/legacy_password.h) against
# python3's hashlib: PBKDF2-HMAC-SHA256 itself (one and several blocks,
# passwords longer than the HMAC block, empty salt), werkzeug's pbkdf2 and
# scrypt strings and the IoTDB revision's pbkdf2_sha256 one, each with the
# right password, a wrong one, and a tampered hash; formats this side does
# not take are refused. No servers needed.

# shellcheck disable=SC2154 # $output, $lines, $status are set by bats' run
# shellcheck disable=SC2016 # the hash strings hold a literal $
load helpers

CHECK=$IOTFLOW_ROOT/build/tests/legacy_password_check

py() { python3 -c "$1" "${@:2}"; }

@test "PBKDF2-HMAC-SHA256 equals hashlib.pbkdf2_hmac" {
	local pw salt iter len want
	while IFS='|' read -r pw salt iter len; do
		want=$(py 'import hashlib,sys; print(hashlib.pbkdf2_hmac("sha256", sys.argv[1].encode(), bytes.fromhex(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])).hex())' \
			"$pw" "$salt" "$iter" "$len")
		run "$CHECK" pbkdf2 "$iter" "$salt" "$len" < <(printf '%s' "$pw")
		assert_success
		assert_output "$want"
	done <<'EOF2'
password|73616c74|1|32
password|73616c74|2|20
password|73616c74|4096|32
passwordPASSWORDpassword|73616c7453414c5473616c7453414c5473616c7453414c5473616c7453414c5473616c74|4096|40
a-password-longer-than-the-sixty-four-bytes-of-one-sha256-block-so-hmac-hashes-it-first||1000|64
pässwörd ünïcode|00ff10|77|100
x|73616c74|1|1
EOF2
}

werkzeug() { # METHOD PASSWORD SALT
	python3 - "$@" <<'PY'
import base64, hashlib, os, sys
m, pw, salt = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
if m.startswith("pbkdf2:sha256:"):
    key = hashlib.pbkdf2_hmac("sha256", pw, salt.encode(), int(m.split(":")[2])).hex()
    print(m + "$" + salt + "$" + key)
elif m.startswith("scrypt:"):
    n, r, p = (int(x) for x in m.split(":")[1:])
    key = hashlib.scrypt(pw, salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64).hex()
    print(m + "$" + salt + "$" + key)
else:
    it = int(m.split("$")[1])
    s = os.urandom(32)
    k = hashlib.pbkdf2_hmac("sha256", pw, s, it)
    print("pbkdf2_sha256$%d$%s$%s" % (it, base64.b64encode(s).decode(), base64.b64encode(k).decode()))
PY
}

@test "werkzeug pbkdf2 and scrypt strings, and the IoTDB revision's: right, wrong, tampered" {
	local m h bad
	for m in 'pbkdf2:sha256:1000' 'pbkdf2:sha256:600000' 'scrypt:16384:8:1' 'scrypt:32768:8:1' 'pbkdf2_sha256$210000'; do
		h=$(werkzeug "$m" 'S3cret pass, with spaces' 'Q9xv2LmN8pRt4WbZ')
		run "$CHECK" verify "$h" < <(printf '%s' 'S3cret pass, with spaces')
		assert_success
		assert_output supported
		run "$CHECK" verify "$h" < <(printf '%s' 'S3cret pass, with spaces!')
		assert_failure 1
		# One hex digit (or base64 character) of the key changed, well inside it.
		local at=$((${#h} - 10)) c
		c=${h:at:1}
		bad="${h:0:at}$([[ $c == 1 ]] && echo 2 || echo 1)${h:at+1}"
		run "$CHECK" verify "$bad" < <(printf '%s' 'S3cret pass, with spaces')
		assert_failure 1
	done
}

@test "formats not taken: bcrypt, other digests, out-of-range costs, malformed strings" {
	local h
	for h in '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW' \
		'pbkdf2:sha512:600000$salt$00' 'pbkdf2:sha256$salt$00' 'pbkdf2:sha256:0$salt$00' \
		'pbkdf2:sha256:99999999$salt$0000000000000000000000000000000000000000000000000000000000000000' \
		'scrypt:1000:8:1$salt$00' 'scrypt:2097152:8:1$s$00' 'scrypt:32768:8:1$salt$XYZ' \
		'pbkdf2:sha256:1000$$0000000000000000000000000000000000000000000000000000000000000000' \
		'md5$x$y' 'plain-text-password' ''; do
		run "$CHECK" verify "$h" < <(printf '%s' 'password')
		assert_failure 1
		assert_output unsupported
	done
}
