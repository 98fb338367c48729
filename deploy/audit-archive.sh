#!/usr/bin/env bash
# deploy/audit-archive.sh — the audit log's retention: export, check, then delete.
#
# The server never deletes audit rows (its role may only INSERT and SELECT audit_log).
# Rows are removed only by this script, run by an operator or a timer with the owner's
# connection, and only after they were exported with `dustwatch audit export` to a file
# that holds exactly the rows deleted:
#
#   deploy/audit-archive.sh --before 2026-06-01T00:00:00Z --out /srv/audit-archive \
#       [--config /etc/dustwatch/dustwatch.conf] [--min-age-days 183]
#
# 1. `dustwatch audit verify`: the chain is intact before anything is removed;
# 2. `dustwatch audit export --to BEFORE` into OUT/audit-before-<BEFORE>.jsonl (+ .sha256);
# 3. in one transaction that locks audit_log against writers: the rows at < BEFORE are
#    counted, the transaction aborts unless the count equals the exported lines, they are
#    deleted;
# 4. `dustwatch audit verify` again: the first remaining row anchors the rest.
# BEFORE must be at least --min-age-days old (default 183: 网络安全法 §21 asks for six
# months of logs).  Keep the exports (and the master key, for `audit verify` of a
# restored copy): a removed head cannot be told from a shorter log.
#
# The owner connection is migrate_database_url: DUSTWATCH_MIGRATE_DATABASE_URL in the
# environment, or --owner-url.  DUSTWATCH_BIN names the binary (default: dustwatch).
set -euo pipefail

before="" out="" min_age_days=183 owner_url="${DUSTWATCH_MIGRATE_DATABASE_URL:-}"
config=()
dw="${DUSTWATCH_BIN:-dustwatch}"
die() { echo "audit-archive: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --before) before="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --config) config=(--config "$2"); shift 2 ;;
        --min-age-days) min_age_days="$2"; shift 2 ;;
        --owner-url) owner_url="$2"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) die "unknown argument $1" ;;
    esac
done
[ -n "$before" ] && [ -n "$out" ] || die "--before and --out are required (--help)"
[ -n "$owner_url" ] || die "set DUSTWATCH_MIGRATE_DATABASE_URL or --owner-url (the owner connection)"
[[ "$min_age_days" =~ ^[0-9]+$ ]] || die "--min-age-days is a whole number"
before_s=$(date -u -d "$before" +%s 2>/dev/null) || die "--before \"$before\" is not a time"
now_s=$(date -u +%s)
if [ "$before_s" -gt $((now_s - min_age_days * 86400)) ]; then
    die "--before is less than $min_age_days days ago"
fi
before_iso=$(date -u -d "@$before_s" +%Y-%m-%dT%H:%M:%SZ)
mkdir -p "$out"
file="$out/audit-before-$(date -u -d "@$before_s" +%Y%m%dT%H%M%SZ).jsonl"
[ -e "$file" ] && die "$file exists already"

"$dw" audit verify "${config[@]}" >/dev/null
"$dw" audit export "${config[@]}" --from 1970-01-01T00:00:00Z --to "$before_iso" --format jsonl \
    > "$file.part"
exported=$(wc -l < "$file.part")
sync "$file.part"
mv "$file.part" "$file"
(cd "$out" && sha256sum "$(basename "$file")" > "$(basename "$file").sha256")

deleted=$(psql "$owner_url" -X -q -t -A -v ON_ERROR_STOP=1 -v before="$before_iso" \
    -v exported="$exported" <<'SQL'
BEGIN;
LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE;
SELECT CASE WHEN count(*) = :exported THEN 'ok'
            ELSE 'audit rows before the bound changed since the export: ' || count(*)::text END AS check
FROM audit_log WHERE at < :'before' \gset
SELECT (:'check' = 'ok')::int AS same \gset
\if :same
WITH d AS (DELETE FROM audit_log WHERE at < :'before' RETURNING 1) SELECT count(*) FROM d;
COMMIT;
\else
\echo :check
ROLLBACK;
\q
\endif
SQL
)
[[ "$deleted" =~ ^[0-9]+$ ]] || { echo "audit-archive: nothing deleted: $deleted" >&2; exit 1; }
"$dw" audit verify "${config[@]}" >/dev/null
echo "audit-archive: exported and deleted $deleted rows before $before_iso: $file"
