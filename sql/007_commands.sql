-- 007_commands.sql — commands to devices and config publication (MQTT).
--
-- device_control (001) gains who sent a command (source: "cli" for
-- iot-device, "api" for iot-httpd) and attempt_at: when a publisher took
-- the command to send it. A pending command with a recent attempt_at is
-- being published right now; one with attempt_at NULL (the broker was
-- unreachable) or long ago (its publisher died) is for the dispatcher
-- (iot_command_dispatch_pending) to send.
--
-- config_outbox: a device whose configuration changed and whose whole
-- config has not been published (retained) since. A trigger fills it on
-- every change of device_configurations, whoever makes it, so a change
-- made while the broker is down is published once it is back.

ALTER TABLE device_control
    ADD COLUMN source     text NOT NULL DEFAULT 'cli' CHECK (source IN ('cli', 'api')),
    ADD COLUMN attempt_at timestamptz;

CREATE TABLE config_outbox (
    device_id  integer PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION config_outbox_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A device being removed takes its outbox row with it (cascade).
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM devices WHERE id = OLD.device_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO config_outbox (device_id, changed_at)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.device_id ELSE NEW.device_id END, clock_timestamp())
    ON CONFLICT (device_id) DO UPDATE SET changed_at = EXCLUDED.changed_at;
    RETURN NULL;
END $$;

CREATE TRIGGER device_configurations_outbox
    AFTER INSERT OR UPDATE OR DELETE ON device_configurations
    FOR EACH ROW EXECUTE FUNCTION config_outbox_mark();
