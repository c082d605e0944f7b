-- 009_retention.sql — what retention (iot-migrate retention) needs to name
-- a partition in DDL: SQL text stays constant, so the partition name goes
-- through these functions (format('%I')) and only names that are
-- partitions of telemetry_data are taken.

-- The partitions of telemetry_data with their bounds, oldest first.
CREATE FUNCTION iotflow_partitions(OUT name text, OUT lo timestamptz, OUT hi timestamptz)
RETURNS SETOF record LANGUAGE sql STABLE AS $$
    SELECT c.relname::text, b[1]::timestamptz, b[2]::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)') AS b
    WHERE i.inhparent = 'public.telemetry_data'::regclass AND b IS NOT NULL
    ORDER BY 2
$$;

-- Lock one partition against writers (SHARE: readers go on) for the rest
-- of the transaction; false when no such partition.
CREATE FUNCTION iotflow_lock_partition(p_name text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM iotflow_partitions() WHERE name = p_name) THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE public.%I IN SHARE MODE', p_name);
    RETURN true;
END $$;

-- Drop one partition; false when no such partition.
CREATE FUNCTION iotflow_drop_partition(p_name text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM iotflow_partitions() WHERE name = p_name) THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE public.%I', p_name);
    RETURN true;
END $$;
