-- 004_token_names.sql — a revoked token's name can be used again.
-- 001 made (user_id, name) unique over every token, revoked ones included,
-- so a name once revoked was taken for good. Only live (not revoked) tokens
-- need distinct names: that is what `token revoke USER NAME` relies on.

ALTER TABLE user_tokens DROP CONSTRAINT user_tokens_user_id_name_key;
CREATE UNIQUE INDEX user_tokens_live_name ON user_tokens (user_id, name)
    WHERE revoked_at IS NULL;
