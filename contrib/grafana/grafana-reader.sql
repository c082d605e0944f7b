-- grafana-reader.sql — a PostgreSQL role for Grafana's IoTFlow data source
-- that can read what dashboards/iotflow.json shows and nothing else (no key
-- digests, password hashes, tokens or commands). Run it once as the owner of
-- the IoTFlow database, then give the role a password of its own:
--   psql -d iotflow -f grafana-reader.sql
--   psql -d iotflow -c "ALTER ROLE iotflow_grafana PASSWORD 'a long random one'"
-- Running it again is harmless. tests/monitoring.bats runs the dashboard's
-- queries as this role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iotflow_grafana') THEN
        CREATE ROLE iotflow_grafana LOGIN;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO iotflow_grafana;
-- Telemetry: the partitioned table (its partitions are read through it),
-- the latest values and the hourly rollups.
GRANT SELECT ON telemetry_data, telemetry_latest, telemetry_hourly TO iotflow_grafana;
-- Devices without their key prefix; owners by name only.
GRANT SELECT (id, name, description, device_type, location, firmware_version, hardware_version,
              status, user_id, created_at, updated_at, last_seen, offline_at)
    ON devices TO iotflow_grafana;
GRANT SELECT (id, username) ON users TO iotflow_grafana;
-- A runaway dashboard query must not hold up ingest for long.
ALTER ROLE iotflow_grafana SET statement_timeout = '30s';
