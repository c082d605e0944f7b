# shellcheck shell=bash
# migrate_flask_lib.bash — a database shaped like the Flask IoTFlow's
# (compat §3: its tables as documented, with their types), filled with
# users (werkzeug pbkdf2 and scrypt hashes made by python3's hashlib, a
# bcrypt one, a username this side refuses), devices (a 32-character key of
# the Flask generator, a 64-hex key, one without owner, statuses offline
# and maintenance), configurations stored as Python str(), commands and
# telemetry. Loaded by tests/migrate_flask*.bats after helpers.

# The plaintext keys and codes the tests present, as the Flask side had them.
KEY1=Ab3dEf9hIjKlMn0pQrStUvWxYz123456
KEY2=0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
KEY7=Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp
CODE_ALICE=b5b2c0465af84b609e44171e24711fd9
CODE_BOB=a78689be04814ac187e0191656ee6fb1
PW_ALICE='alice-passw0rd'
PW_BOB='bob-passw0rd!'

# werkzeug's generate_password_hash, written out: METHOD PASSWORD
werkzeug_hash() {
	python3 - "$1" "$2" <<'PY'
import hashlib, sys
method, pw = sys.argv[1], sys.argv[2].encode()
salt = "Q9xv2LmN8pRt4WbZ"
if method.startswith("pbkdf2:sha256:"):
    it = int(method.split(":")[2])
    print(f"{method}${salt}${hashlib.pbkdf2_hmac('sha256', pw, salt.encode(), it).hex()}")
else:
    n, r, p = (int(x) for x in method.split(":")[1:])
    h = hashlib.scrypt(pw, salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64)
    print(f"{method}${salt}${h.hex()}")
PY
}

# flask_db NAME: create database NAME shaped and filled like the Flask
# service's (PGDATABASE is left as it was).
flask_db() {
	local name=$1 keep=$PGDATABASE h_alice h_bob
	h_alice=$(werkzeug_hash pbkdf2:sha256:600000 "$PW_ALICE")
	h_bob=$(werkzeug_hash scrypt:32768:8:1 "$PW_BOB")
	iot_db_fresh "$name" || return 1
	psql -XAtq -v ON_ERROR_STOP=1 -v h_alice="$h_alice" -v h_bob="$h_bob" -v key1="$KEY1" \
		-v key2="$KEY2" -v key7="$KEY7" -v code_alice="$CODE_ALICE" -v code_bob="$CODE_BOB" <<'SQL' || return 1
CREATE TABLE users (
    id SERIAL PRIMARY KEY, user_id VARCHAR(32) UNIQUE NOT NULL, username VARCHAR(80) UNIQUE NOT NULL,
    email VARCHAR(120) UNIQUE NOT NULL, password_hash VARCHAR(128) NOT NULL,
    is_active BOOLEAN DEFAULT true, is_admin BOOLEAN DEFAULT false,
    created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, last_login TIMESTAMPTZ);
-- werkzeug >= 3.0's scrypt hashes are 162 characters (compat B29): an
-- installation that used them had to widen the column.
ALTER TABLE users ALTER password_hash TYPE VARCHAR(256);
CREATE TABLE devices (
    id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL, description TEXT,
    device_type VARCHAR(50) NOT NULL DEFAULT 'sensor', api_key VARCHAR(64) UNIQUE NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'active', location VARCHAR(200),
    firmware_version VARCHAR(20), hardware_version VARCHAR(20),
    created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, last_seen TIMESTAMPTZ,
    user_id INTEGER REFERENCES users(id));
CREATE TABLE device_auth (
    id SERIAL PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id), api_key_hash VARCHAR(128) NOT NULL,
    is_active BOOLEAN, expires_at TIMESTAMPTZ, created_at TIMESTAMPTZ, last_used TIMESTAMPTZ, usage_count INTEGER DEFAULT 0);
CREATE TABLE device_configurations (
    id SERIAL PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id), config_key VARCHAR(100) NOT NULL,
    config_value TEXT, data_type VARCHAR(20) DEFAULT 'string', is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, CONSTRAINT uq_device_config UNIQUE (device_id, config_key));
CREATE TABLE device_control (
    id SERIAL PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id), command VARCHAR(128) NOT NULL,
    parameters JSONB, status VARCHAR(32) DEFAULT 'pending', created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE telemetry_data (
    id BIGSERIAL PRIMARY KEY, device_id INTEGER NOT NULL, "timestamp" TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    measurement_name VARCHAR(100) NOT NULL, numeric_value DOUBLE PRECISION NOT NULL);

INSERT INTO users (user_id, username, email, password_hash, is_admin, created_at) VALUES
    (:'code_alice', 'alice', 'alice@example.org', :'h_alice', false, '2025-08-01T10:00:00Z'),
    (:'code_bob', 'bob', 'bob@example.org', :'h_bob', true, '2025-08-02T10:00:00Z'),
    ('testuser', 'carol', 'carol@example.org', '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW', false, NULL),
    ('dcf1a', 'dave smith', 'dave@example.org', 'pbkdf2:sha256:600000$x$00', false, NULL);
INSERT INTO devices (id, name, description, device_type, api_key, status, location, firmware_version,
                     hardware_version, created_at, last_seen, user_id) VALUES
    (1, 'esp32_5001', 'ESP32 IoT device with DHT11', 'esp32', :'key1', 'active', 'lab', '1.0.0', 'ESP32-WROOM-32',
     '2025-09-01T08:00:00Z', '2025-11-20T12:00:00Z', 1),
    (2, 'sim-1', 'Simulated environmental device', 'environmental', :'key2', 'offline', 'roof', '1.0.0-sim', 'SIM-v1',
     '2025-09-02T08:00:00Z', NULL, 2),
    (3, 'lost', NULL, 'sensor', 'NoOwnerKey0123456789abcdefghijkl', 'active', NULL, NULL, NULL, NULL, NULL, NULL),
    (7, 'pump', NULL, 'actuator', :'key7', 'maintenance', 'cellar', NULL, NULL, NULL, NULL, 1);
SELECT setval('devices_id_seq', 7);
INSERT INTO device_configurations (device_id, config_key, config_value, data_type) VALUES
    (1, 'interval', '30', 'integer'),
    (1, 'enabled', 'True', 'boolean'),
    (1, 'thresholds', '{''high'': 30.5, ''on'': True, ''name'': ''x "y"'', ''off'': None}', 'json'),
    (1, 'ratio', '0.25', 'float'),
    (2, 'mode', 'eco', 'string'),
    (1, 'bad', 'abc', 'integer');
INSERT INTO device_control (device_id, command, parameters, status, created_at, updated_at) VALUES
    (1, 'reboot', '{"delay": 5}', 'pending', '2025-11-20 12:00:00', '2025-11-20 12:00:00'),
    (2, 'set', NULL, 'acknowledged', '2025-11-19 08:00:00', '2025-11-19 08:05:00'),
    (3, 'x', NULL, 'pending', '2025-11-19 08:00:00', '2025-11-19 08:00:00');
INSERT INTO telemetry_data (device_id, "timestamp", measurement_name, numeric_value) VALUES
    (1, '2025-11-20T10:00:00Z', 'temperature', 21.5),
    (1, '2025-11-20T10:01:00Z', 'temperature', 22.0),
    (1, '2025-11-20T10:00:00Z', 'humidity', 40),
    (1, '2025-11-21T09:00:00.250Z', 'temperature', -3.25),
    (2, '2025-11-20T10:00:00Z', 'pressure', 1013.25),
    (99, '2025-11-20T10:00:00Z', 'temperature', 1),
    (1, '2025-11-20T10:02:00Z', 'bad name!', 1);
SQL
	export PGDATABASE=$keep
}

# The conninfo of database NAME on the test server.
flask_conninfo() { echo "host=$PGHOST port=$PGPORT dbname=$1 user=$PGUSER"; }
