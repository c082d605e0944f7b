-- 006_enrollment.sql — enrollment codes: how deployed firmware that cannot
-- carry a person's token registers devices (POST /api/v1/devices/register
-- with only "user_id": "<code>" in the body, compat §5). A code is 32
-- lower-case hex digits, the shape of the Flask service's users.user_id,
-- so the firmware's member takes it unchanged. Only its digest is stored
-- (BLAKE2b-256, keyed with the pepper when one is set, like device keys);
-- the 6-digit prefix names it for listing and revoking. No row, no
-- enrollment: it is off until `iot-user enroll create USER`.

CREATE TABLE user_enrollment (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_digest bytea NOT NULL UNIQUE CHECK (length(code_digest) = 32),
    code_prefix text NOT NULL CHECK (code_prefix ~ '^[0-9a-f]{6}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz,
    usage_count bigint NOT NULL DEFAULT 0,
    revoked_at  timestamptz
);
CREATE INDEX user_enrollment_user_idx ON user_enrollment (user_id);
