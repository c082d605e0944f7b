-- 013_partition_attach.sql — a new partition no longer stops every reader
-- and writer of telemetry_data.
--
-- CREATE TABLE .. PARTITION OF takes an ACCESS EXCLUSIVE lock on
-- telemetry_data itself. Queued behind any query that was running (an
-- export, a long range), it made every reader and writer of every
-- partition wait behind it: the batch writer creating the partition of a
-- backfilled day, or the daily iot-migrate partitions, held up all ingest
-- for as long as that query ran. A partition is now made as a table of its
-- own and attached: ATTACH PARTITION locks the parent SHARE UPDATE
-- EXCLUSIVE, which no reader or writer conflicts with (it waits only for
-- other DDL). LIKE copies the columns, NOT NULLs, defaults and the
-- one-value CHECK; the attach adds the primary key's index (on an empty
-- table, at once). The result is the table PARTITION OF made.
--
-- Dropping a partition locks the parent ACCESS EXCLUSIVE too; retention
-- bounds each wait for it instead (iot-migrate(1), retention).

CREATE FUNCTION iotflow_new_partition(p_name text, p_lo timestamptz, p_hi timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE public.%I (LIKE public.telemetry_data INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   p_name);
    EXECUTE format('ALTER TABLE public.telemetry_data ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                   p_name, p_lo, p_hi);
END $$;

-- As in 002, with the partition made by iotflow_new_partition, and a lost
-- race absorbed as 002 meant to: the second session's CREATE TABLE waits
-- for the first to commit, then fails on the name, and what it raises then
-- is unique_violation (of pg_type's name index), not duplicate_table, so
-- two writers making the partition of a backfilled day at once had failed
-- one of them.
CREATE OR REPLACE FUNCTION iotflow_ensure_partition(p_ts timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    b record;
    day timestamp := date_trunc('day', p_ts AT TIME ZONE 'UTC');
BEGIN
    SELECT * INTO b FROM iotflow_partition_bounds(p_ts);
    IF to_regclass(format('public.%I', b.name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    BEGIN
        PERFORM iotflow_new_partition(b.name, b.lo, b.hi);
    EXCEPTION
        WHEN duplicate_table OR unique_violation THEN
            RETURN false;  -- another session created it first
        WHEN invalid_object_definition THEN
            -- Overlaps partitions of the other width (the interval setting was
            -- changed): fall back to a one-day partition unless ts is covered.
            BEGIN
                PERFORM iotflow_new_partition('telemetry_data_' || to_char(p_ts AT TIME ZONE 'UTC', 'YYYYMMDD'),
                                              day AT TIME ZONE 'UTC', (day + interval '1 day') AT TIME ZONE 'UTC');
            EXCEPTION WHEN duplicate_table OR unique_violation OR invalid_object_definition THEN
                RETURN false;  -- ts is already covered
            END;
    END;
    RETURN true;
END $$;
