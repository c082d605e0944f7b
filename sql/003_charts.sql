-- 003_charts.sql — chart definitions.

CREATE TABLE charts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    title             text CHECK (length(title) <= 200),
    description       text CHECK (length(description) <= 1000),
    chart_type        text NOT NULL DEFAULT 'line'
                      CHECK (chart_type IN ('line', 'bar', 'area', 'scatter', 'gauge', 'table')),
    time_range        text NOT NULL DEFAULT '24h' CHECK (length(time_range) <= 16),
    refresh_interval  integer NOT NULL DEFAULT 60 CHECK (refresh_interval BETWEEN 0 AND 86400),
    aggregation       text NOT NULL DEFAULT 'none'
                      CHECK (aggregation IN ('none', 'mean', 'sum', 'count', 'min', 'max', 'first', 'last')),
    group_by          text CHECK (length(group_by) <= 32),
    appearance_config jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, name)
);

CREATE TABLE chart_devices (
    chart_id   bigint NOT NULL REFERENCES charts(id) ON DELETE CASCADE,
    device_id  integer NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chart_id, device_id)
);
CREATE INDEX chart_devices_device_idx ON chart_devices (device_id);

CREATE TABLE chart_measurements (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chart_id         bigint NOT NULL REFERENCES charts(id) ON DELETE CASCADE,
    measurement_name text NOT NULL CHECK (length(measurement_name) BETWEEN 1 AND 64),
    display_name     text CHECK (length(display_name) <= 100),
    color            text CHECK (color IS NULL OR color ~ '^#[0-9A-Fa-f]{6}$'),
    unit             text CHECK (length(unit) <= 16),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chart_id, measurement_name)
);
