-- 002_telemetry.sql — telemetry, the latest-value table, hourly rollups and
-- the partition maintenance functions.
--
-- telemetry_data is range-partitioned on ts. Its only index is the primary
-- key (device_id, measurement_name, ts): it serves range queries per device
-- and measurement and makes replays idempotent (ON CONFLICT / duplicate
-- detection). Every extra index costs ingest speed (measured: COPY of 1M
-- narrow rows ~760k rows/s with no index, ~280k with one unique btree, ~130k
-- with four), so there is deliberately no other.
--
-- There is no foreign key to devices here on purpose: a per-row FK check
-- would halve COPY throughput, writers only store points of devices they
-- have resolved, and removing a device removes its telemetry explicitly
-- (iotflow_delete_device_telemetry) in the same transaction.

CREATE TABLE iotflow_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
-- 'day' or 'month': the width of a telemetry partition.
INSERT INTO iotflow_settings (key, value) VALUES ('partition_interval', 'day');

CREATE TABLE telemetry_data (
    device_id        integer NOT NULL,
    measurement_name text NOT NULL,
    ts               timestamptz NOT NULL,
    numeric_value    double precision,
    text_value       text,
    boolean_value    boolean,
    json_value       jsonb,
    metadata         jsonb,
    CONSTRAINT telemetry_data_one_value
        CHECK (num_nonnulls(numeric_value, text_value, boolean_value, json_value) = 1),
    CONSTRAINT telemetry_data_pkey PRIMARY KEY (device_id, measurement_name, ts)
) PARTITION BY RANGE (ts);

-- Latest value per device and measurement, upserted by every committed batch:
-- "latest" and fleet "lastpoint" read this, never telemetry_data.
CREATE TABLE telemetry_latest (
    device_id        integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    measurement_name text NOT NULL,
    ts               timestamptz NOT NULL,
    numeric_value    double precision,
    text_value       text,
    boolean_value    boolean,
    json_value       jsonb,
    CONSTRAINT telemetry_latest_one_value
        CHECK (num_nonnulls(numeric_value, text_value, boolean_value, json_value) = 1),
    PRIMARY KEY (device_id, measurement_name)
);

-- Hourly rollups of numeric values, maintained incrementally from the rows a
-- batch actually inserted (so replays never count twice). first/last are
-- the values at the earliest/latest ts, not SQL aggregates over unordered rows.
CREATE TABLE telemetry_hourly (
    device_id        integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    measurement_name text NOT NULL,
    bucket           timestamptz NOT NULL,
    count            bigint NOT NULL CHECK (count > 0),
    sum              double precision NOT NULL,
    min              double precision NOT NULL,
    max              double precision NOT NULL,
    first_ts         timestamptz NOT NULL,
    first_value      double precision NOT NULL,
    last_ts          timestamptz NOT NULL,
    last_value       double precision NOT NULL,
    PRIMARY KEY (device_id, measurement_name, bucket)
);

-- The partition that holds ts: name telemetry_data_YYYYMMDD or _YYYYMM.
CREATE FUNCTION iotflow_partition_bounds(p_ts timestamptz,
        OUT name text, OUT lo timestamptz, OUT hi timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    width text := (SELECT value FROM iotflow_settings WHERE key = 'partition_interval');
    utc timestamp := p_ts AT TIME ZONE 'UTC';
BEGIN
    IF width = 'month' THEN
        lo := date_trunc('month', utc) AT TIME ZONE 'UTC';
        hi := (date_trunc('month', utc) + interval '1 month') AT TIME ZONE 'UTC';
        name := 'telemetry_data_' || to_char(utc, 'YYYYMM');
    ELSE
        lo := date_trunc('day', utc) AT TIME ZONE 'UTC';
        hi := (date_trunc('day', utc) + interval '1 day') AT TIME ZONE 'UTC';
        name := 'telemetry_data_' || to_char(utc, 'YYYYMMDD');
    END IF;
END $$;

-- Create the partition holding p_ts unless it exists. Safe to call
-- concurrently: a lost race is absorbed. Returns true when it created one.
CREATE FUNCTION iotflow_ensure_partition(p_ts timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    b record;
BEGIN
    SELECT * INTO b FROM iotflow_partition_bounds(p_ts);
    IF to_regclass(format('public.%I', b.name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.telemetry_data FOR VALUES FROM (%L) TO (%L)',
                       b.name, b.lo, b.hi);
    EXCEPTION
        WHEN duplicate_table THEN
            RETURN false;  -- another session created it first
        WHEN invalid_object_definition THEN
            -- Overlaps partitions of the other width (the interval setting was
            -- changed): fall back to a one-day partition unless ts is covered.
            BEGIN
                EXECUTE format('CREATE TABLE public.%I PARTITION OF public.telemetry_data FOR VALUES FROM (%L) TO (%L)',
                               'telemetry_data_' || to_char(p_ts AT TIME ZONE 'UTC', 'YYYYMMDD'),
                               date_trunc('day', p_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
                               (date_trunc('day', p_ts AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC');
            EXCEPTION WHEN duplicate_table OR invalid_object_definition THEN
                RETURN false;  -- ts is already covered
            END;
    END;
    RETURN true;
END $$;

-- Partitions for now and the next p_ahead intervals; returns how many were created.
CREATE FUNCTION iotflow_create_partitions(p_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    width text := (SELECT value FROM iotflow_settings WHERE key = 'partition_interval');
    step interval := CASE WHEN width = 'month' THEN interval '1 month' ELSE interval '1 day' END;
    created integer := 0;
BEGIN
    FOR i IN 0..p_ahead LOOP
        IF iotflow_ensure_partition(now() + step * i) THEN
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;

-- Removing a device removes its telemetry in the same transaction (there is
-- no FK from telemetry_data to cascade through).
CREATE FUNCTION iotflow_device_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM telemetry_data WHERE device_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER devices_delete_telemetry AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION iotflow_device_deleted();
