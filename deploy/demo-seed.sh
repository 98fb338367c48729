#!/usr/bin/env bash
# Loads the demo city (Shanghai; Baoshan district in detail, ~100 dust-
# explosion-prone enterprises with systems, points, gateways and ingest
# credentials) and writes the simulator's fleet file.
#
#   deploy/demo-seed.sh BIN DIR
#
# BIN  the dustwatch binary (`BIN demo seed` loads the city, `BIN admin` makes
#      the demo accounts)
# DIR  where DIR/fleet.json (mode 0600: it holds the gateway secrets) goes
#
# Environment: DUSTWATCH_MIGRATE_DATABASE_URL (the owner role; the database
# must be migrated), optional DUSTWATCH_INGEST_LISTEN (host:port written as the fleet's ingest_url),
# DW_DEMO_SEED (generator seed; default the built-in one).  Needs python3.
#
# deploy/demo/gen_demo.py describes the city (no secrets, no SQL); `BIN demo
# seed` loads it in one transaction, minting every gateway credential with the
# server's own generator, and writes DIR/fleet.json with the secrets.
#
# Idempotent: when the database already holds the demo city (region 310113)
# nothing is written to it, with one exception: a missing DIR/fleet.json.  The
# database keeps only hashes of the API keys and MEM appsecrets, so a lost
# fleet file cannot be rebuilt from it: the demo gateways' credentials (those
# labelled "demo ...") are then re-issued — the old ones revoked, the change
# audited — and a new fleet file written.  That happens only if the database
# holds every enterprise, gateway and point of the generator's description;
# otherwise no fleet file is written.  A database holding some other city is
# left alone.  Prints one summary line.
set -euo pipefail

bin=${1:?usage: demo-seed.sh BIN DIR}
dir=${2:?usage: demo-seed.sh BIN DIR}
here=$(cd "$(dirname "$0")" && pwd)
gen=$here/demo/gen_demo.py
: "${DUSTWATCH_MIGRATE_DATABASE_URL:?demo-seed.sh: DUSTWATCH_MIGRATE_DATABASE_URL (owner role) is not set}"
gen_args=()
[ -n "${DW_DEMO_SEED:-}" ] && gen_args+=(--seed "$DW_DEMO_SEED")

mkdir -p "$dir"
fleet=$dir/fleet.json
umask 077

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dw-demo-seed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

python3 "$gen" "${gen_args[@]}" >"$tmp/city.json"
# stdout: the summary line, printed last (after the demo accounts)
summary=$("$bin" demo seed --city "$tmp/city.json" --fleet "$fleet")

case $summary in
"demo-seed: loaded "*) ;;
*)
    echo "$summary"
    exit 0
    ;;
esac

# ---------------------------------------------------------------------------
# DEMO ACCOUNTS: one log-in per role, created through `"$bin" admin
# create-account` (so policy, hashing and the audit trail are the real ones)
# and listed in "$dir/demo-accounts.txt" (mode 0600; run-local.sh prints it).
# The passwords are fixed and public (deploy/README.md lists them): a demo
# database must never hold real data.  Accounts that already exist are left
# alone.  Street and enterprise scope: 罗店镇 and its first enterprise.
if "$bin" admin --help 2>/dev/null | grep -q 'create-account'; then
    demo_street=310113101
    demo_ent=$(python3 -c 'import json, sys
city = json.load(open(sys.argv[1]))
print(min(e["code"] for e in city["enterprises"] if e["street"] == sys.argv[2]))' "$tmp/city.json" "$demo_street")
    accounts_file=$dir/demo-accounts.txt
    printf '%-16s %-19s %-26s %s\n' username role scope password >"$accounts_file.tmp"
    while read -r user role scope_opt scope pw; do
        [ -n "$scope" ] || continue
        if ! printf '%s\n' "$pw" | "$bin" admin create-account --username "$user" --role "$role" \
                "$scope_opt" "$scope" --display-name "demo $role" --password-stdin \
                >/dev/null 2>"$tmp/admin.err"; then
            if grep -q 'already exists' "$tmp/admin.err"; then
                pw="(existed already; password unchanged)"
            else
                cat "$tmp/admin.err" >&2
                echo "demo-seed: could not create demo account $user" >&2
                pw="(NOT created)"
            fi
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

echo "$summary"
