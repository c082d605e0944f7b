-- 010_flask_import.sql — moving a Flask IoTFlow installation over
-- (iot-migrate import-flask, import-telemetry, import-iotdb, compare).
--
-- Imported users keep their werkzeug (or IoTDB-revision) password hash
-- until their first successful login replaces it with Argon2id
-- (lib/auth/legacy_password.h): the column admits those formats too.
ALTER TABLE users DROP CONSTRAINT users_password_hash_check;
ALTER TABLE users ADD CONSTRAINT users_password_hash_check CHECK (
    password_hash IS NULL
    OR password_hash LIKE '$argon2id$%'
    OR password_hash LIKE 'pbkdf2:sha256:%'
    OR password_hash LIKE 'scrypt:%'
    OR password_hash LIKE 'pbkdf2\_sha256$%');

-- What came from where: one row per imported object (kind, its id in the
-- Flask database, its id here). A second import skips what is listed, so
-- it changes nothing; telemetry imports map old device ids through it.
CREATE TABLE flask_import (
    kind        text NOT NULL CHECK (kind IN ('user', 'device', 'config', 'control')),
    old_id      bigint NOT NULL,
    new_id      bigint NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, old_id)
);
