#!/usr/bin/env bash
# Restores a backup made by deploy/backup.sh into an EMPTY database.
#
#   deploy/restore.sh [-k KEYFILE] INFILE DATABASE_URL
#
# DATABASE_URL: the new database (create it first: `createdb -O dwadmin
# dustwatch_restored`), logging in as its owner or a superuser; the roles
# the dump grants to (dustwatch_app, dw_server) must exist in the cluster
# (deploy/services.sh and deploy/compose-init.sql make them).  Everything is
# restored in one transaction: on any error nothing is left half restored.
# Afterwards: `dustwatch migrate --check`, `dustwatch audit verify` (with
# the same master key), start a server, /readyz (deploy/README.md "Backups").
set -euo pipefail

usage() { echo "usage: $0 [-k KEYFILE] INFILE DATABASE_URL" >&2; exit 2; }
key=
while getopts "k:h" o; do
    case $o in
        k) key=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
in=$1 url=$2
[ -r "$in" ] || { echo "restore.sh: $in not readable" >&2; exit 2; }
pgbin=${DW_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
pg_restore=${pgbin:+$pgbin/}pg_restore
psql=${pgbin:+$pgbin/}psql

n=$("$psql" -X -q -At --no-password -d "$url" -c \
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")
[ "$n" = 0 ] || { echo "restore.sh: the target database is not empty ($n tables); restore into a new one" >&2; exit 1; }

restore() { "$pg_restore" --no-password --exit-on-error --single-transaction --no-owner -d "$url" "$@"; }
if [ -n "$key" ]; then
    [ -r "$key" ] || { echo "restore.sh: key file $key not readable" >&2; exit 2; }
    # pg_restore needs a seekable file for a custom-format dump read from a pipe only
    # when it restores in parallel; one job reads stdin fine
    openssl enc -d -aes-256-cbc -pbkdf2 -iter 200000 -pass "file:$key" -in "$in" | restore
else
    restore "$in"
fi
echo "restore.sh: restored $in" >&2
