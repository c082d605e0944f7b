# shellcheck shell=bash
# stack.sh — start and stop real PostgreSQL, Redis and Mosquitto servers whose
# data lives under one state directory, each on a spare 127.0.0.1 port.
# Sourced (not executed) by tests/helpers.bash and scripts/run.sh.
#
#   iot_stack_start STATE_DIR [--fast]   start all three; export + write STATE_DIR/env
#   iot_stack_stop  [STATE_DIR]          stop all three (safe twice, safe when partly up)
#   iot_stack_rm    [STATE_DIR]          stop, then delete STATE_DIR (and a relocated PG dir)
#   iot_stack_dead  [STATE_DIR]          print "KIND PORT" for each server (pg, redis,
#                                        mqtt) that is not running
#   iot_stack_revive KIND [STATE_DIR]    start KIND again, on its port or, when another
#                                        process took it, a spare one; print the port,
#                                        export the new values and rewrite STATE_DIR/env
#   iot_pg_stop / iot_pg_start [STATE_DIR]        restart on the same port and data
#   iot_redis_stop / iot_redis_start [STATE_DIR]  likewise
#   iot_mqtt_stop / iot_mqtt_start [STATE_DIR]    likewise
#   iot_db_fresh NAME [TEMPLATE]         (re)create database NAME, export PGDATABASE=NAME
#
# STATE_DIR defaults to $IOTFLOW_STATE_DIR. Layout: pg/{data,run,postgres.log},
# redis/{redis.conf,redis.pid,redis.log}, mosquitto/{mosquitto.conf,...}, env.
# Each server keeps its settings (port included) in a file under STATE_DIR, so a
# restart needs no arguments and comes back on the same port.
#
# Hooks: IOT_MOSQUITTO_EXTRA_CONF (text) is appended to mosquitto.conf, and so is
# the output of a shell function iot_mosquitto_extra_conf if one is defined; it
# runs after PostgreSQL and Redis are up, so it may use $PGPORT etc.
# IOT_MOSQUITTO_PLUGIN=PATH (e.g. bin/iotflow_auth.so): the broker loads the
# IoTFlow auth plugin instead of allowing anonymous clients, against the
# PostgreSQL database and Redis exported when its config is written
# (PGHOST/PGPORT/PGUSER/PGDATABASE) and the stack's Redis; IOT_MOSQUITTO_PLUGIN_OPTS
# holds more lines (e.g. "plugin_opt_legacy_anonymous true").
# iot_mqtt_reconfigure [STATE_DIR] writes the config again (same port) and
# restarts the broker: after a fresh_db, or to change those variables.
# IOTFLOW_PG_INITDB_CACHE: an initialised data dir copied instead of running
# initdb (tests/run makes one per run; saves ~0.5 s per test file).
# IOTFLOW_PG_USER (default nobody): the user PostgreSQL runs as when we are
# root, because postgres refuses to run as root.

# Newest PostgreSQL server binaries (Debian installs them per major version).
iot_pg_bindir() {
	local d
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	[[ -x $d/postgres ]] || { echo "iotflow: no PostgreSQL server in /usr/lib/postgresql/*/bin" >&2; return 1; }
	printf '%s\n' "$d"
}

# Where throwaway (test) state goes: $IOTFLOW_TEST_TMPDIR if set, else /dev/shm
# when it is a writable tmpfs with 2 GB free, else ${TMPDIR:-/tmp}. Measured
# here: CREATE DATABASE 27 ms on tmpfs vs ~250 ms on ext4, initdb 0.4 s vs 0.8 s.
iot_test_tmpdir() {
	local avail
	if [[ -n ${IOTFLOW_TEST_TMPDIR:-} ]]; then
		printf '%s\n' "$IOTFLOW_TEST_TMPDIR"
		return
	fi
	avail=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
	if [[ -d /dev/shm && -w /dev/shm && $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]] &&
		((${avail:-0} >= 2 * 1024 * 1024)); then
		echo /dev/shm
	else
		printf '%s\n' "${TMPDIR:-/tmp}"
	fi
}

# True when nothing accepts connections on 127.0.0.1:PORT.
_iot_port_free() { ! (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random port that is free right now: in 20000 up to the kernel's
# ephemeral range (32768 here), where no outgoing connection takes one
# between the pick and the bind; 20000-60999 when that range starts lower.
# Free now is not free later: the start functions fail if the bind fails,
# and iot_stack_start retries.
_iot_pick_port() {
	local p i lo hi=61000
	read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=0
	((lo > 25000)) && hi=$lo
	for ((i = 0; i < 100; i++)); do
		p=$(( ((RANDOM << 15) | RANDOM) % (hi - 20000) + 20000 ))
		_iot_port_free "$p" && { echo "$p"; return 0; }
	done
	echo "iotflow: no free port found" >&2
	return 1
}

# Wait up to $1 tenths of a second for command "$@" to succeed, checking
# every 20 ms (the stops of a test file's three servers add up).
_iot_wait() {
	local n=$(($1 * 5)) i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}

_iot_state() { # STATE_DIR argument or $IOTFLOW_STATE_DIR, made absolute
	local s=${1:-${IOTFLOW_STATE_DIR:-}}
	[[ -n $s ]] || { echo "iotflow: no state dir (argument or IOTFLOW_STATE_DIR)" >&2; return 1; }
	[[ $s == /* ]] || s=$PWD/$s
	printf '%s\n' "$s"
}

_iot_pid_alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
_iot_pid_of() { [[ -s $1 ]] && head -n 1 "$1"; }

# Gone, or a zombie: a daemon whose parent is PID 1 may stay a zombie for a
# while in containers whose init is slow to reap, and kill -0 succeeds on it.
_iot_pid_gone() {
	local st
	kill -0 "$1" 2>/dev/null || return 0
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) }
	[[ ${st%% *} == Z ]]
}

# Stop a daemon by pid file: TERM, wait up to 15 s, then KILL.
_iot_kill_pidfile() {
	local pid
	pid=$(_iot_pid_of "$1") || return 0
	if _iot_pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		_iot_wait 150 _iot_pid_gone "$pid" || {
			kill -KILL "$pid" 2>/dev/null
			_iot_wait 50 _iot_pid_gone "$pid"
		}
	fi
	rm -f "$1"
}

_iot_fail() { # MESSAGE LOGFILE: say what failed and show the end of its log
	echo "iotflow: $1" >&2
	[[ -f $2 ]] && { echo "--- last lines of $2:" >&2; tail -n 25 "$2" >&2; }
	return 1
}

# ---------------------------------------------------------------- PostgreSQL

# runuser lives in /usr/sbin, which a minimal PATH may lack.
_iot_runuser() { command -v runuser || echo /usr/sbin/runuser; }

# Run a PostgreSQL server program, as IOTFLOW_PG_USER when we are root. The cd
# matters: initdb and postgres fail when they cannot read the current directory.
_iot_pg_run() {
	if ((EUID == 0)); then
		(cd / && "$(_iot_runuser)" -u "${IOTFLOW_PG_USER:-nobody}" -- "$@")
	else
		"$@"
	fi
}

# STATE/pg with symlinks resolved: the PG user may not be able to pass through
# STATE itself (see below), so PostgreSQL programs only ever see this path.
_iot_pg_dir() { readlink -f "$1/pg"; }

# Make STATE/pg, writable by the PostgreSQL user. As root that user is nobody,
# who must be able to walk down to it; a state dir under a private path (e.g. a
# repo in /root, mode 700) cannot be reached, so the PG dir then lives at
# /var/tmp/iotflow-<hash of the state path>/pg with STATE/pg a symlink to it.
_iot_pg_prepare_dir() {
	local state=$1 alt u=${IOTFLOW_PG_USER:-nobody}
	# A symlink whose target was cleaned away: start over.
	if [[ -L $state/pg && ! -e $state/pg ]]; then rm -f "$state/pg"; fi
	[[ -e $state/pg ]] && return 0
	if ((EUID != 0)); then
		mkdir "$state/pg"
		return
	fi
	chmod a+x "$state" # our own directory: let the PG user pass through
	if "$(_iot_runuser)" -u "$u" -- test -x "$state"; then
		mkdir "$state/pg"
	else
		alt=/var/tmp/iotflow-$(printf '%s' "$state" | sha256sum | cut -c 1-16)
		mkdir -p "$alt/pg" && chmod 711 "$alt" || return 1
		ln -s "$alt/pg" "$state/pg"
	fi
	chown "$u" "$state/pg/."
}

# Write data/iotflow.conf (included from postgresql.conf): port, sockets, tuning.
_iot_pg_configure() { # STATE PORT FAST SHARED_BUFFERS
	local pg sock q="'"
	pg=$(_iot_pg_dir "$1")
	sock=$pg/run
	mkdir -p "$sock"
	# A unix socket path must fit in 107 bytes; TCP alone is enough for us.
	if ((${#sock} + 18 > 107)); then sock=; fi
	{
		echo "# written by scripts/stack.sh on every iot_stack_start"
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $2"
		echo "unix_socket_directories = '${sock//$q/$q$q}'"
		echo "max_connections = 200"
		echo "shared_buffers = $4"
		# Throwaway test clusters: durability off buys a lot of speed.
		if [[ $3 == fast ]]; then
			echo "fsync = off"
			echo "full_page_writes = off"
			echo "synchronous_commit = off"
		fi
	} >"$pg/data/iotflow.conf"
	grep -q "^include_if_exists = 'iotflow.conf'" "$pg/data/postgresql.conf" ||
		echo "include_if_exists = 'iotflow.conf'" >>"$pg/data/postgresql.conf"
	if ((EUID == 0)); then chown "${IOTFLOW_PG_USER:-nobody}" "$pg/data/iotflow.conf" "$pg/run"; fi
	return 0
}

_iot_pg_initdb() { # STATE FAST
	local pg bin
	pg=$(_iot_pg_dir "$1")
	bin=$(iot_pg_bindir) || return 1
	local major=${bin%/bin}
	major=${major##*/}
	if [[ -n ${IOTFLOW_PG_INITDB_CACHE:-} && -f $IOTFLOW_PG_INITDB_CACHE/PG_VERSION &&
		$(cat "$IOTFLOW_PG_INITDB_CACHE/PG_VERSION") == "$major" ]]; then
		cp -a "$IOTFLOW_PG_INITDB_CACHE" "$pg/data" && return 0
	fi
	local sync=()
	[[ $2 == fast ]] && sync=(--no-sync)
	# C.UTF-8 sorts like C but keeps UTF-8 character classes; plain C as fallback.
	_iot_pg_run "$bin/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
		"${sync[@]}" >"$pg/initdb.log" 2>&1 ||
		{ rm -rf "$pg/data" && _iot_pg_run "$bin/initdb" -D "$pg/data" -U postgres --auth=trust -E UTF8 \
			--locale=C "${sync[@]}" >"$pg/initdb.log" 2>&1; } ||
		_iot_fail "initdb failed in $pg/data" "$pg/initdb.log"
}

_iot_pg_port() { sed -n 's/^port = //p' "$1/pg/data/iotflow.conf" 2>/dev/null || true; }

iot_pg_start() {
	local state bin pg
	state=$(_iot_state "${1:-}") && bin=$(iot_pg_bindir) || return 1
	pg=$(_iot_pg_dir "$state")
	[[ -f $pg/data/iotflow.conf ]] || { echo "iotflow: $state/pg not set up (run iot_stack_start)" >&2; return 1; }
	_iot_pg_run "$bin/pg_ctl" -D "$pg/data" status >/dev/null 2>&1 && return 0 # already up
	# fd 3 closed: bats waits for whoever holds it, and postgres would keep it.
	_iot_pg_run "$bin/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 30 -s start \
		</dev/null >/dev/null 2>&1 3>&- ||
		_iot_fail "PostgreSQL did not start on port $(_iot_pg_port "$state")" "$pg/postgres.log"
}

iot_pg_stop() {
	local state bin pg
	state=$(_iot_state "${1:-}") && bin=$(iot_pg_bindir) || return 1
	pg=$(_iot_pg_dir "$state")
	[[ -f $pg/data/postmaster.pid ]] || return 0
	_iot_pg_run "$bin/pg_ctl" -D "$pg/data" -m fast -w -t 30 -s stop >/dev/null 2>&1 ||
		_iot_pg_run "$bin/pg_ctl" -D "$pg/data" -m immediate -w -t 30 -s stop >/dev/null 2>&1
	# pg_ctl says "no server running" for a stale pid file: that is stopped too.
	! _iot_pg_run "$bin/pg_ctl" -D "$pg/data" status >/dev/null 2>&1
}

# psql as the superuser into the maintenance database, quiet, stop on error.
_iot_psql() {
	PGOPTIONS='-c client_min_messages=warning' \
		"${IOTFLOW_PG_BIN:-$(iot_pg_bindir)}/psql" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"
}

# iot_db_fresh NAME [TEMPLATE]: drop NAME if it exists, create it (empty, or a
# copy of TEMPLATE), export PGDATABASE=NAME.
iot_db_fresh() {
	local name=$1 tpl=${2:-template1}
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ && $tpl =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
		{ echo "iotflow: bad database name '$name' / '$tpl'" >&2; return 1; }
	_iot_psql -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" \
		-c "CREATE DATABASE \"$name\" TEMPLATE \"$tpl\"" || return 1
	export PGDATABASE=$name
}

# ---------------------------------------------------------------- Redis

_iot_redis_configure() { # STATE PORT
	local d=$1/redis
	mkdir -p "$d"
	# A cache: no snapshots, no AOF — a restart starts empty, as in production
	# after a crash, and that is what the "Redis down" tests want.
	cat >"$d/redis.conf" <<-EOF
		# written by scripts/stack.sh
		port $2
		bind 127.0.0.1
		save ""
		appendonly no
		dir "$d"
		daemonize yes
		pidfile "$d/redis.pid"
		logfile "$d/redis.log"
	EOF
}

_iot_redis_port() { sed -n 's/^port //p' "$1/redis/redis.conf" 2>/dev/null || true; }

_iot_redis_ready() { # PIDFILE PORT: our redis is alive and answers PING
	_iot_pid_alive "$(_iot_pid_of "$1")" &&
		[[ $(redis-cli -h 127.0.0.1 -p "$2" ping 2>/dev/null) == PONG ]]
}

iot_redis_start() {
	local state d port off
	state=$(_iot_state "${1:-}") || return 1
	d=$state/redis
	[[ -f $d/redis.conf ]] || { echo "iotflow: $d not set up (run iot_stack_start)" >&2; return 1; }
	port=$(_iot_redis_port "$state")
	_iot_redis_ready "$d/redis.pid" "$port" && return 0 # already up
	off=$(stat -c %s "$d/redis.log" 2>/dev/null || echo 0)
	redis-server "$d/redis.conf" </dev/null >/dev/null 2>&1 3>&- ||
		{ _iot_fail "redis-server did not start" "$d/redis.log"; return 1; }
	local i
	for ((i = 0; i < 100; i++)); do
		_iot_redis_ready "$d/redis.pid" "$port" && return 0
		# A failed bind makes redis exit: stop waiting at once so the caller can retry.
		tail -c +"$((off + 1))" "$d/redis.log" 2>/dev/null | grep -q 'Could not create server\|Failed listening' && break
		sleep 0.1
	done
	_iot_fail "Redis did not answer PING on port $port" "$d/redis.log"
}

iot_redis_stop() {
	local state
	state=$(_iot_state "${1:-}") || return 1
	# SIGTERM is redis's clean shutdown; with save "" it writes nothing.
	_iot_kill_pidfile "$state/redis/redis.pid"
}

# ---------------------------------------------------------------- Mosquitto

IOT_MOSQUITTO_EXTRA_CONF=${IOT_MOSQUITTO_EXTRA_CONF:-}

_iot_mqtt_configure() { # STATE PORT
	local d=$1/mosquitto
	mkdir -p "$d"
	{
		echo "# written by scripts/stack.sh"
		echo "listener $2 127.0.0.1"
		if [[ -n ${IOT_MOSQUITTO_PLUGIN:-} ]]; then
			_iot_mqtt_plugin_conf "$1"
		else
			# The test default: anonymous, no ACL (suites that test the plugin ask for it).
			echo "allow_anonymous true"
		fi
		# Persistence so retained messages (status/LWT) and QoS 1 queues survive a restart.
		echo "persistence true"
		echo "persistence_location $d/"
		echo "pid_file $d/mosquitto.pid"
		echo "log_dest file $d/mosquitto.log"
		echo "log_timestamp_format %Y-%m-%dT%H:%M:%S"
		# As root the broker would switch to user "mosquitto", who cannot write here.
		if ((EUID == 0)); then echo "user root"; fi
		if [[ -n $IOT_MOSQUITTO_EXTRA_CONF ]]; then printf '%s\n' "$IOT_MOSQUITTO_EXTRA_CONF"; fi
		if declare -F iot_mosquitto_extra_conf >/dev/null; then iot_mosquitto_extra_conf; fi
	} >"$d/mosquitto.conf"
}

# The lines that load the auth plugin (see IOT_MOSQUITTO_PLUGIN above). The
# broker asks the plugin about anonymous clients too; allow_anonymous only
# has to let them get that far when legacy mode is on.
_iot_mqtt_plugin_conf() { # STATE
	local anon=false
	[[ ${IOT_MOSQUITTO_PLUGIN_OPTS:-} == *"legacy_anonymous true"* ]] && anon=true
	echo "allow_anonymous $anon"
	echo "plugin $IOT_MOSQUITTO_PLUGIN"
	echo "plugin_opt_database host=${PGHOST:-127.0.0.1} port=${PGPORT:-5432} user=${PGUSER:-postgres} dbname=${PGDATABASE:-iotflow}"
	# The stack's own Redis (its URL is exported only once all servers are up).
	local redis
	redis=$(_iot_redis_port "$1")
	if [[ -n $redis ]]; then echo "plugin_opt_redis_url redis://127.0.0.1:$redis/0"; fi
	if [[ -n ${IOT_MOSQUITTO_PLUGIN_OPTS:-} ]]; then printf '%s\n' "$IOT_MOSQUITTO_PLUGIN_OPTS"; fi
}

# iot_mqtt_reconfigure [STATE_DIR]: config written again, broker restarted, same port.
iot_mqtt_reconfigure() {
	local state port
	state=$(_iot_state "${1:-}") || return 1
	port=$(_iot_mqtt_port "$state")
	iot_mqtt_stop "$state" && _iot_mqtt_configure "$state" "$port" && iot_mqtt_start "$state"
}

_iot_mqtt_port() { sed -n 's/^listener \([0-9]*\) .*/\1/p' "$1/mosquitto/mosquitto.conf" 2>/dev/null || true; }

iot_mqtt_start() {
	local state d port off i
	state=$(_iot_state "${1:-}") || return 1
	d=$state/mosquitto
	[[ -f $d/mosquitto.conf ]] || { echo "iotflow: $d not set up (run iot_stack_start)" >&2; return 1; }
	port=$(_iot_mqtt_port "$state")
	_iot_pid_alive "$(_iot_pid_of "$d/mosquitto.pid")" && return 0 # already up
	off=$(stat -c %s "$d/mosquitto.log" 2>/dev/null || echo 0)
	# /usr/sbin is not on an ordinary user's PATH on Debian.
	"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$d/mosquitto.conf" -d </dev/null >>"$d/mosquitto.log" 2>&1 3>&- ||
		{ _iot_fail "mosquitto did not start" "$d/mosquitto.log"; return 1; }
	# Ready = our broker alive and accepting TCP. (Not a test publish: once the
	# auth plugin is in, anonymous clients are refused, yet the broker is up.)
	for ((i = 0; i < 100; i++)); do
		_iot_pid_alive "$(_iot_pid_of "$d/mosquitto.pid")" && ! _iot_port_free "$port" && return 0
		# e.g. "Error: Address already in use": the broker is gone, retrying is useless.
		if tail -c +"$((off + 1))" "$d/mosquitto.log" 2>/dev/null | grep -q '^[0-9T:-]*: Error' &&
			! _iot_pid_alive "$(_iot_pid_of "$d/mosquitto.pid")"; then
			break
		fi
		sleep 0.1
	done
	_iot_fail "mosquitto did not listen on port $port" "$d/mosquitto.log"
}

iot_mqtt_stop() {
	local state
	state=$(_iot_state "${1:-}") || return 1
	# SIGTERM: the broker writes its persistence file and exits.
	_iot_kill_pidfile "$state/mosquitto/mosquitto.pid"
}

# ---------------------------------------------------------------- the stack

# STATE KIND DIR: start Redis (KIND redis) or Mosquitto (KIND mqtt) on its
# recorded port, or on a spare one, trying again if another process takes
# the port first; print the port.
_iot_start_on_port() {
	local state=$1 kind=$2 dir=$3 port attempt
	port=$("_iot_${kind}_port" "$state")
	for attempt in 1 2 3; do
		[[ -n $port ]] && _iot_port_free "$port" || port=$(_iot_pick_port) || return 1
		"_iot_${kind}_configure" "$state" "$port"
		"iot_${kind}_start" "$state" >/dev/null 2>"$state/$dir/start.err" && { echo "$port"; return 0; }
		"iot_${kind}_stop" "$state" >/dev/null
		port=
	done
	cat "$state/$dir/start.err" >&2
	return 1
}

# iot_stack_start STATE_DIR [--fast]
# Reuses an initialised PG data dir and, when still free, the previous ports.
# On failure some servers may be up: the caller runs iot_stack_stop/iot_stack_rm.
iot_stack_start() {
	local state fast=durable
	state=$(_iot_state "${1:-}") || return 1
	[[ ${2:-} == --fast ]] && fast=fast
	mkdir -p "$state" && iot_pg_bindir >/dev/null || return 1
	state=$(cd "$state" && pwd -P) || return 1
	# Servers of an earlier run on this dir that were never stopped (killed
	# shell): stop them, so their ports count as free and get reused.
	iot_stack_stop "$state" >/dev/null 2>&1

	_iot_pg_prepare_dir "$state" || return 1
	if [[ ! -f $state/pg/data/PG_VERSION ]]; then
		rm -rf "$state/pg/data"
		_iot_pg_initdb "$state" "$fast" || return 1
	fi
	_iot_pg_start_on_port "$state" "$fast" >/dev/null || return 1
	_iot_stack_export "$state" || return 1
	_iot_psql -tAc "SELECT 1 FROM pg_database WHERE datname = 'iotflow'" | grep -q 1 ||
		_iot_psql -c 'CREATE DATABASE iotflow' || return 1

	_iot_start_on_port "$state" redis redis >/dev/null || return 1
	_iot_start_on_port "$state" mqtt mosquitto >/dev/null || return 1
	_iot_stack_export "$state" && _iot_stack_env "$state"
}

# STATE FAST: start PostgreSQL on its recorded port, or a spare one; print
# the port. A retry takes a new port (lost a race for it) and smaller
# shared_buffers (a machine or container short of memory).
_iot_pg_start_on_port() {
	local state=$1 fast=$2 port attempt sb
	port=$(_iot_pg_port "$state")
	for attempt in 1 2 3; do
		sb=$(echo 256MB 128MB 32MB | cut -d ' ' -f "$attempt")
		[[ -n $port ]] && _iot_port_free "$port" || port=$(_iot_pick_port) || return 1
		_iot_pg_configure "$state" "$port" "$fast" "$sb" || return 1
		iot_pg_start "$state" 2>"$state/pg/start.err" && { echo "$port"; return 0; }
		iot_pg_stop "$state" # a slow start that timed out must not linger
		port=
	done
	cat "$state/pg/start.err" >&2
	return 1
}

# Export the connection settings of STATE's servers, read from their config
# files (so they are right after a server moved to another port).
_iot_stack_export() {
	local state=$1 bin port
	bin=$(iot_pg_bindir) && port=$(_iot_pg_port "$state") || return 1
	export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=iotflow
	IOTFLOW_PG_DATA=$(_iot_pg_dir "$state")/data
	export IOTFLOW_PG_DATA IOTFLOW_PG_BIN=$bin IOTFLOW_STATE_DIR=$state
	unset PGHOSTADDR PGSERVICE PGPASSWORD PGOPTIONS
	port=$(_iot_redis_port "$state")
	if [[ -n $port ]]; then export IOTFLOW_REDIS_PORT=$port IOTFLOW_REDIS_URL=redis://127.0.0.1:$port/0; fi
	port=$(_iot_mqtt_port "$state")
	if [[ -n $port ]]; then export IOTFLOW_MQTT_PORT=$port IOTFLOW_MQTT_URL=mqtt://127.0.0.1:$port; fi
	return 0
}

_iot_stack_env() { # STATE: write the exported settings to STATE/env
	local v
	for v in PGHOST PGPORT PGUSER PGDATABASE IOTFLOW_PG_DATA IOTFLOW_PG_BIN IOTFLOW_REDIS_PORT \
		IOTFLOW_REDIS_URL IOTFLOW_MQTT_PORT IOTFLOW_MQTT_URL IOTFLOW_STATE_DIR; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done >"$1/env"
}

# The pid file of each server, as "KIND FILE".
_iot_stack_pidfiles() { # STATE
	printf 'pg %s\nredis %s\nmqtt %s\n' "$(_iot_pg_dir "$1")/data/postmaster.pid" \
		"$1/redis/redis.pid" "$1/mosquitto/mosquitto.pid"
}

# iot_stack_dead [STATE_DIR]: "KIND PORT" for each server of a started stack
# whose process is gone (killed, crashed). Only looks at pid files: cheap
# enough to call every second, and blind to whoever else took the port.
iot_stack_dead() {
	local state kind file pid
	state=$(_iot_state "${1:-}") || return 1
	while read -r kind file; do
		pid=$(_iot_pid_of "$file") || pid=
		if [[ -z $pid ]] || _iot_pid_gone "$pid"; then
			echo "$kind $("_iot_${kind}_port" "$state")"
		fi
	done < <(_iot_stack_pidfiles "$state")
}

# iot_stack_revive KIND [STATE_DIR]: start a server that died again. On its
# port when that is still free, else on a spare one; the stack's variables
# are exported again and STATE_DIR/env rewritten either way.
iot_stack_revive() {
	local kind=$1 state port fast=durable i up=0 file pid
	state=$(_iot_state "${2:-}") || return 1
	# A server killed by a signal can stay a zombie for a while (an init slow
	# to reap, as in some containers), and a start takes the zombie for a
	# server that is up: its pid file goes. (PostgreSQL's own check of its
	# shared memory still refuses to start beside live backends of the old one.)
	file=$(_iot_stack_pidfiles "$state" | sed -n "s/^$kind //p")
	pid=$(_iot_pid_of "$file") || pid=
	if [[ -n $pid ]] && _iot_pid_gone "$pid"; then rm -f "$file"; fi
	case $kind in
	pg)
		grep -q '^fsync = off' "$(_iot_pg_dir "$state")/data/iotflow.conf" 2>/dev/null && fast=fast
		port=$(_iot_pg_port "$state")
		# Backends of a postmaster killed with -9 hold its shared memory for
		# a moment, and postgres refuses to start until they are gone: try
		# the same port for a few seconds before moving.
		for ((i = 0; i < 10 && !up; i++)); do
			_iot_port_free "$port" || break
			if iot_pg_start "$state" 2>"$state/pg/start.err"; then up=1; else sleep 0.5; fi
		done
		((up)) || port=$(_iot_pg_start_on_port "$state" "$fast") || return 1
		;;
	redis) port=$(_iot_start_on_port "$state" redis redis) || return 1 ;;
	mqtt) port=$(_iot_start_on_port "$state" mqtt mosquitto) || return 1 ;;
	*) echo "iotflow: iot_stack_revive: unknown server '$kind' (pg, redis, mqtt)" >&2; return 1 ;;
	esac
	_iot_stack_export "$state" && _iot_stack_env "$state" && echo "$port"
}

# iot_stack_stop [STATE_DIR]: everything down; each stop runs even if another
# fails. In parallel: each server takes ~0.1 s to notice its signal.
iot_stack_stop() {
	local state rc=0 m r
	state=$(_iot_state "${1:-}") || return 1
	[[ -d $state ]] || return 0
	iot_mqtt_stop "$state" 3>&- &
	m=$!
	iot_redis_stop "$state" 3>&- &
	r=$!
	iot_pg_stop "$state" || rc=1
	wait "$m" || rc=1
	wait "$r" || rc=1
	return "$rc"
}

# iot_stack_rm [STATE_DIR]: stop, then remove the state dir and a relocated PG dir.
iot_stack_rm() {
	local state
	state=$(_iot_state "${1:-}") || return 1
	iot_stack_stop "$state"
	local alt
	alt=$(readlink "$state/pg" 2>/dev/null) || alt=
	# Only ever a directory this file made (see _iot_pg_prepare_dir).
	if [[ $alt == /var/tmp/iotflow-*/pg ]]; then rm -rf "${alt%/pg}"; fi
	rm -rf "$state"
}
