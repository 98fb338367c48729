#!/usr/bin/env bash
# Throw-away PostgreSQL and Redis for one project-local directory.
#
#   deploy/services.sh start DIR   initdb (first time) and start both; prints env
#   deploy/services.sh stop DIR    stop both
#   deploy/services.sh env DIR     print the env lines again
#
# PostgreSQL runs as the `postgres` system user (initdb refuses root) on a
# loopback port with trust auth, so it is for development and tests only.
# The owner role `dwadmin` migrates; the server logs in as `dw_server`, a
# member of dustwatch_app that owns nothing and cannot bypass row-level
# security.  Redis requires a password (made once per directory, in
# redis.conf, never on a command line): DUSTWATCH_REDIS_URL carries it for the
# server, REDISCLI_AUTH for redis-cli.  The master key (master.key) is made
# here too.  Ports come from $DW_PG_PORT/$DW_REDIS_PORT or are picked free.
set -euo pipefail

cmd=${1:?usage: services.sh start|stop|env DIR}
dir=${2:?usage: services.sh start|stop|env DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

as_pg() { runuser -u postgres -- "$@"; }

print_env() {
    local pgp rp
    pgp=$(cat "$dir/pg.port"); rp=$(cat "$dir/redis.port")
    local rpw
    rpw=$(cat "$dir/redis.pass")
    echo "DUSTWATCH_DATABASE_URL=postgresql://dw_server@127.0.0.1:$pgp/dustwatch"
    echo "DUSTWATCH_MIGRATE_DATABASE_URL=postgresql://dwadmin@127.0.0.1:$pgp/dustwatch"
    echo "DUSTWATCH_REDIS_URL=redis://:$rpw@127.0.0.1:$rp/0"
    echo "DW_REDIS_PASSWORD=$rpw"
    echo "REDISCLI_AUTH=$rpw"
    echo "DW_PG_PORT=$pgp"
    echo "DW_REDIS_PORT=$rp"
    echo "DW_PGDATA=$dir/pgdata"
    echo "DW_PGBIN=$pgbin"
    echo "DUSTWATCH_MASTER_KEY_FILE=$dir/master.key"
}

# The master key (server/core/srv_secret.h): 64 hex digits, readable by the
# owner only, made once per directory and kept outside the database.
master_key() {
    [ -s "$dir/master.key" ] && return
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/master.key")
}

start() {
    [ -n "$pgbin" ] || { echo "services.sh: PostgreSQL server binaries not found" >&2; exit 1; }
    command -v redis-server >/dev/null || { echo "services.sh: redis-server not found" >&2; exit 1; }
    [ -f "$dir/pg.port" ] || echo "${DW_PG_PORT:-$(free_port)}" > "$dir/pg.port"
    [ -f "$dir/redis.port" ] || echo "${DW_REDIS_PORT:-$(free_port)}" > "$dir/redis.port"
    local pgp rp
    pgp=$(cat "$dir/pg.port"); rp=$(cat "$dir/redis.port")
    chown postgres "$dir" 2>/dev/null || true
    if [ ! -f "$dir/pgdata/PG_VERSION" ]; then
        install -d -o postgres -m 700 "$dir/pgdata"
        as_pg "$pgbin/initdb" -D "$dir/pgdata" -U dwadmin --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
        cat >> "$dir/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pgp
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
synchronous_commit = on
fsync = on
wal_compression = on
max_wal_size = 4GB
checkpoint_timeout = 15min
log_min_messages = warning
CONF
    fi
    if ! as_pg "$pgbin/pg_ctl" -D "$dir/pgdata" status >/dev/null 2>&1; then
        as_pg "$pgbin/pg_ctl" -D "$dir/pgdata" -l "$dir/postgres.log" -w -t 60 start >/dev/null
    fi
    local psql=("$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pgp" -U dwadmin)
    "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='dustwatch'" | grep -q 1 \
        || "${psql[@]}" -d postgres -c "CREATE DATABASE dustwatch"
    "${psql[@]}" -d dustwatch >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dustwatch_app') THEN
    CREATE ROLE dustwatch_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dw_server') THEN
    CREATE ROLE dw_server LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE IN ROLE dustwatch_app;
  END IF;
END $$;
SQL
    [ -s "$dir/redis.pass" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/redis.pass")
    local rpw
    rpw=$(cat "$dir/redis.pass")
    (umask 077; cat > "$dir/redis.conf" <<CONF
port $rp
bind 127.0.0.1
dir $dir
save ""
appendonly no
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
requirepass $rpw
CONF
)
    # one left running without a password (an older services.sh) is replaced
    if env -u REDISCLI_AUTH redis-cli -p "$rp" ping 2>/dev/null | grep -q PONG; then
        env -u REDISCLI_AUTH redis-cli -p "$rp" shutdown nosave >/dev/null 2>&1 || true
        sleep 0.2
    fi
    if ! REDISCLI_AUTH=$rpw redis-cli -p "$rp" ping 2>/dev/null | grep -q PONG; then
        redis-server "$dir/redis.conf" >/dev/null
        for _ in $(seq 50); do REDISCLI_AUTH=$rpw redis-cli -p "$rp" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    fi
    master_key
    (umask 077; print_env > "$dir/env")
    print_env
}

stop() {
    if [ -f "$dir/pgdata/PG_VERSION" ]; then
        as_pg "$pgbin/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ -f "$dir/redis.pid" ]; then
        kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
        rm -f "$dir/redis.pid"
    fi
}

case "$cmd" in
start) start ;;
stop) stop ;;
env) print_env ;;
*) echo "usage: services.sh start|stop|env DIR" >&2; exit 2 ;;
esac
