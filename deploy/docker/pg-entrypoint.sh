#!/bin/sh
# PostgreSQL for deploy/docker-compose.yml (Debian's postgresql-15): on an empty data
# directory, initdb with the superuser password from its secret file, then
# compose-init.sql (roles dwowner and dw_server, database dustwatch) with the role
# passwords from theirs; then the server in the foreground with the settings an
# acknowledged reading depends on.  Passwords travel only in files and in the
# environment of the one psql that needs them.
set -eu
secrets=/run/secrets
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=peer \
        --auth-host=scram-sha-256 --pwfile="$secrets/postgres_password" >/dev/null
    echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "host all all ::/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" -w start >/dev/null
    DW_OWNER_PASSWORD=$(cat "$secrets/dw_owner_password") \
    DW_SERVER_PASSWORD=$(cat "$secrets/dw_server_password") \
        psql -X -q -v ON_ERROR_STOP=1 -h /run/postgresql -U postgres -d postgres \
        -f /usr/local/share/dustwatch/compose-init.sql
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
# acknowledged ingest = committed: never weaken the first three
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql \
    -c synchronous_commit=on -c fsync=on -c full_page_writes=on \
    -c max_connections=200 -c shared_buffers=256MB -c wal_compression=on -c max_wal_size=4GB \
    -c checkpoint_timeout=15min "$@"
