#!/usr/bin/env bash
# A logical backup of the dustwatch database: pg_dump custom format (-Fc),
# optionally encrypted with a key file (AES-256-CBC, PBKDF2, openssl).
#
#   deploy/backup.sh [-k KEYFILE] DATABASE_URL OUTFILE
#
# DATABASE_URL must log in as a superuser or a role with BYPASSRLS (see
# deploy/README.md "Backups": with forced row-level security the owner's
# pg_dump refuses).  With -k, OUTFILE is encrypted; the key file (e.g.
# `head -c 32 /dev/urandom | base64 > backup.key`, mode 600) is kept apart
# from the backups.  The master key (master_key_file) is never in a backup:
# back it up separately.  The dump is written to OUTFILE.partial and renamed
# only when pg_dump (and openssl) succeeded, so OUTFILE is always whole.
# Restore: deploy/restore.sh.
set -euo pipefail

usage() { echo "usage: $0 [-k KEYFILE] DATABASE_URL OUTFILE" >&2; exit 2; }
key=
while getopts "k:h" o; do
    case $o in
        k) key=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
url=$1 out=$2
pgbin=${DW_PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
pg_dump=${pgbin:+$pgbin/}pg_dump
if [ -n "$key" ]; then
    [ -r "$key" ] || { echo "backup.sh: key file $key not readable" >&2; exit 2; }
    command -v openssl >/dev/null || { echo "backup.sh: openssl not found" >&2; exit 2; }
fi

umask 077
tmp="$out.partial"
trap 'rm -f "$tmp"' EXIT
if [ -n "$key" ]; then
    "$pg_dump" -Fc --no-password -d "$url" \
        | openssl enc -aes-256-cbc -pbkdf2 -iter 200000 -salt -pass "file:$key" -out "$tmp"
else
    "$pg_dump" -Fc --no-password -d "$url" -f "$tmp"
fi
mv "$tmp" "$out"
trap - EXIT
echo "backup.sh: wrote $out ($(stat -c %s "$out") bytes${key:+, encrypted})" >&2
