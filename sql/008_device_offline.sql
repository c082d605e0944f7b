-- 008_device_offline.sql — a device that says it is gone is offline.
--
-- Online/offline is derived: last_seen within the online window (001). A
-- device's MQTT last will ("status/offline", sent by the broker when the
-- device's connection dies) says more: it is gone now, whatever last_seen
-- says. offline_at records when that was said; a device is online only when
-- it was seen after it (a heartbeat, telemetry or status/online message
-- moves last_seen past it). This is never the admin's status column: going
-- offline does not deactivate a device, and it cannot lock itself out.

ALTER TABLE devices ADD COLUMN offline_at timestamptz;
