-- 005_installation.sql — an identity for this installation, for the cache.
-- One Redis may serve several IoTFlow databases. Every Redis entry and the
-- invalidation channel are named under a namespace of the installation
-- (lib/cache/cache.h), so a key or a device of one database is never
-- answered from another's entries.
--
-- The installation id is random. A copy of the database (CREATE DATABASE
-- ... TEMPLATE, a dump restored elsewhere) copies it too, and such a copy
-- that then lives on its own must not share entries with the original
-- either: so the namespace mixes the id with the database's own identity,
-- the cluster's system identifier and the database's oid. A physical
-- standby, promoted or not, is the same cluster and database, and keeps the
-- namespace. A new cluster made by an upgrade (pg_upgrade) may have a new
-- system identifier, and so a new namespace: entries of the old one then go
-- unread and expire.

INSERT INTO iotflow_settings (key, value) VALUES ('installation_id', gen_random_uuid()::text);

-- What programs read (iot_auth_cache_bind): 32 hex digits, NULL when the
-- installation id is missing.
CREATE FUNCTION iotflow_cache_namespace() RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    id text := (SELECT value FROM iotflow_settings WHERE key = 'installation_id');
    sys text;
BEGIN
    BEGIN
        sys := (SELECT system_identifier::text FROM pg_control_system());
    EXCEPTION WHEN insufficient_privilege THEN
        -- A server that hides it: the database oid alone tells copies apart
        -- within one cluster.
        sys := '';
    END;
    RETURN md5(id || '/' || sys || '/'
               || (SELECT oid::text FROM pg_database WHERE datname = current_database()));
END $$;
