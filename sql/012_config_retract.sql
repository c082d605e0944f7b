-- 012_config_retract.sql — a removed device's retained configuration is
-- taken off the broker. The configuration a device gets is published
-- retained on iotflow/devices/{id}/commands/config (007); device ids are
-- never used again, so without this it would stay at the broker for good,
-- for every subscriber to iotflow/# to read. A removal leaves its id here
-- (no foreign key: the device is gone), and the dispatcher publishes an
-- empty retained message on that topic, which deletes the retained one
-- (MQTT 3.1.1 section 3.3.1.3), then deletes the row.
CREATE TABLE config_retract (
    device_id  integer PRIMARY KEY,
    removed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION config_retract_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO config_retract (device_id) VALUES (OLD.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER devices_config_retract
    AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION config_retract_mark();
