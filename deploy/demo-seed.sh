#!/usr/bin/env bash
# Loads the demo city (Shanghai; Baoshan district in detail, ~100 dust-
# explosion-prone enterprises with systems, points, gateways and ingest
# credentials) and writes the simulator's fleet file.
#
#   deploy/demo-seed.sh BIN DIR
#
# BIN  the dustwatch binary (for `BIN admin`, see the demo-accounts section)
# DIR  where DIR/fleet.json (mode 0600: it holds the gateway secrets) goes
#
# Environment: DUSTWATCH_MIGRATE_DATABASE_URL (the owner role; the database
# must be migrated), DW_PGBIN (PostgreSQL bin directory with psql; else psql
# from PATH), optional DUSTWATCH_INGEST_LISTEN (host:port written as the
# fleet's ingest_url), DW_DEMO_SEED (generator seed; default the built-in one).
#
# Idempotent: when the database already holds the demo city (region 310113)
# nothing is written to it; only a missing DIR/fleet.json is regenerated, and
# only if the database matches the generator's output.  A database holding
# some other city is left alone.  Prints one summary line.
set -euo pipefail

bin=${1:?usage: demo-seed.sh BIN DIR}
dir=${2:?usage: demo-seed.sh BIN DIR}
here=$(cd "$(dirname "$0")" && pwd)
gen=$here/demo/gen_demo.py
db=${DUSTWATCH_MIGRATE_DATABASE_URL:?demo-seed.sh: DUSTWATCH_MIGRATE_DATABASE_URL (owner role) is not set}
if [ -n "${DW_PGBIN:-}" ]; then psql_bin=$DW_PGBIN/psql; else psql_bin=psql; fi
ingest_url=http://${DUSTWATCH_INGEST_LISTEN:-127.0.0.1:8081}
gen_args=(--ingest-url "$ingest_url")
[ -n "${DW_DEMO_SEED:-}" ] && gen_args+=(--seed "$DW_DEMO_SEED")

mkdir -p "$dir"
fleet=$dir/fleet.json
umask 077

q() { "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dw-demo-seed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

summary() {
    q -F ' ' -c "SELECT
        (SELECT count(*) FROM regions WHERE level = 'district'),
        (SELECT count(*) FROM regions WHERE level = 'street'),
        (SELECT count(*) FROM enterprises),
        (SELECT count(*) FROM enterprises e JOIN regions d ON d.id = e.district_id WHERE d.code = '310113'),
        (SELECT count(*) FROM dust_systems),
        (SELECT count(*) FROM points),
        (SELECT count(*) FROM gateways),
        (SELECT count(*) FROM ingest_credentials WHERE kind = 'api_key'),
        (SELECT count(*) FROM ingest_credentials WHERE kind = 'hebei_des'),
        (SELECT count(*) FROM ingest_credentials WHERE kind = 'mem_sm4')"
}

state=$(q -c "SELECT CASE WHEN EXISTS (SELECT FROM regions WHERE code = '310113') THEN 'demo'
                          WHEN EXISTS (SELECT FROM regions WHERE level = 'city') THEN 'other'
                          ELSE 'empty' END")

case $state in
other)
    echo "demo-seed: the database holds another city; not seeding the demo, no fleet file written"
    exit 0
    ;;
demo)
    fleet_note="fleet kept: $fleet"
    if [ ! -s "$fleet" ]; then
        python3 "$gen" "${gen_args[@]}" --check-sql --fleet "$tmp/fleet.json" >"$tmp/check.sql"
        if [ "$(q -f "$tmp/check.sql")" = t ]; then
            mv "$tmp/fleet.json" "$fleet"
            fleet_note="fleet regenerated: $fleet"
        else
            fleet_note="fleet NOT written: the demo data in the database differs from this generator's"
        fi
    fi
    read -r nd ns ne nb nsys np ngw nk nh nm <<<"$(summary)"
    echo "demo-seed: demo city already loaded, nothing changed ($ne enterprises, $nb in 宝山区, $np points); $fleet_note"
    exit 0
    ;;
esac

# Empty database: generate, apply in one transaction, then put the fleet in place.
python3 "$gen" "${gen_args[@]}" --fleet "$tmp/fleet.json" >"$tmp/seed.sql"
q -f "$tmp/seed.sql" >/dev/null
mv "$tmp/fleet.json" "$fleet"

# ---------------------------------------------------------------------------
# DEMO ACCOUNTS: one log-in per role, created through `"$bin" admin
# create-account` (so policy, hashing and the audit trail are the real ones)
# and listed in "$dir/demo-accounts.txt" (mode 0600; run-local.sh prints it).
# The passwords are fixed and public (deploy/README.md lists them): a demo
# database must never hold real data.  Accounts that already exist are left
# alone.  Street and enterprise scope: 罗店镇 and its first enterprise.
if "$bin" admin --help 2>/dev/null | grep -q 'create-account'; then
    # accounts and enterprises force row-level security even for the owner
    qs() { q -c "SET dw.scope = 'system'" -c "$1"; }
    demo_street=310113101
    demo_ent=$(qs "SELECT e.code FROM enterprises e JOIN regions s ON s.id = e.street_id
                   WHERE s.code = '$demo_street' ORDER BY e.code LIMIT 1")
    accounts_file=$dir/demo-accounts.txt
    printf '%-16s %-19s %-26s %s\n' username role scope password >"$accounts_file.tmp"
    while read -r user role scope_opt scope pw; do
        [ -n "$scope" ] || continue
        if [ "$(qs "SELECT count(*) FROM accounts WHERE username = '$user'")" != 0 ]; then
            pw="(existed already; password unchanged)"
        elif ! printf '%s\n' "$pw" | "$bin" admin create-account --username "$user" --role "$role" \
                "$scope_opt" "$scope" --display-name "demo $role" --password-stdin >/dev/null; then
            echo "demo-seed: could not create demo account $user" >&2
            pw="(NOT created)"
        fi
        printf '%-16s %-19s %-26s %s\n' "$user" "$role" "${scope_opt#--} $scope" "$pw" >>"$accounts_file.tmp"
    done <<ACCOUNTS
city.admin     city_admin          --region     310000         Huangpu#River2026
city.staff     city_staff          --region     310000         Bund#Lights2026
baoshan.admin  district_admin      --region     310113         Wusong#Port2026
baoshan.staff  district_staff      --region     310113         Paotai#Bay2026
luodian.staff  street_staff        --region     $demo_street      Meilan#Lake2026
ent.manager    enterprise_manager  --enterprise $demo_ent   Dust#Filter2026
ent.staff      enterprise_staff    --enterprise $demo_ent   Spark#Guard2026
ACCOUNTS
    mv "$accounts_file.tmp" "$accounts_file"
fi
# ---------------------------------------------------------------------------

read -r nd ns ne nb nsys np ngw nk nh nm <<<"$(summary)"
echo "demo-seed: loaded 上海市: $nd districts, $ns streets/towns/parks, $ne enterprises ($nb in 宝山区)," \
    "$nsys dust systems, $np points, $ngw gateways, credentials $nk api_key/$nh hebei_des/$nm mem_sm4; fleet: $fleet"
