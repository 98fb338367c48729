#!/usr/bin/env bash
# deploy/compose-test.sh — deploy test of deploy/docker-compose.yml (not part of the test
# command: it builds four images and takes minutes).  Brings the whole stack up on a
# running Docker engine, waits for health, pushes readings through nginx's TLS ingest
# port, reads them back through nginx's TLS API port, checks what nginx must not pass
# (/metrics), and tears everything down (containers, network, volume, secrets).
#
#   deploy/compose-test.sh            # exit 0: PASS; DOCKER_HOST honoured
#
# Needs: docker (engine + client), docker-compose (v1, Debian) or the compose v2
# plugin, openssl, curl, python3; the base image dustwatch-base/debian:12 (made with
# deploy/debian-base.sh when missing: root and debootstrap).  Ports 127.0.0.1:18443 and
# :18444 (DW_HTTPS_PORT, DW_INGEST_TLS_PORT), subnet DW_SUBNET (172.31.251.0/24).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=${DW_COMPOSE_PROJECT:-dwcomposetest}
work=$(mktemp -d /tmp/dw-compose-test.XXXXXX)
export DW_SECRETS=$work/secrets DW_BIND=127.0.0.1
export DW_HTTPS_PORT=${DW_HTTPS_PORT:-18443} DW_INGEST_TLS_PORT=${DW_INGEST_TLS_PORT:-18444}
export DW_SUBNET=${DW_SUBNET:-172.31.251.0/24} DW_PUBLIC_URL=https://localhost:${DW_HTTPS_PORT:-18443}
if docker compose version >/dev/null 2>&1; then
    compose() { docker compose -p "$project" -f "$here/docker-compose.yml" "$@"; }
else
    compose() { docker-compose -p "$project" -f "$here/docker-compose.yml" "$@"; }
fi
step() { echo "compose-test: $*"; }
fail() { echo "compose-test: FAIL: $*" >&2; compose logs --tail 40 >&2 || true; exit 1; }
cleanup() {
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

docker image inspect "${DW_DEBIAN_IMAGE:-dustwatch-base/debian:12}" >/dev/null 2>&1 \
    || "$here/debian-base.sh" "${DW_DEBIAN_IMAGE:-dustwatch-base/debian:12}"
"$here/make-secrets.sh" "$DW_SECRETS" localhost >/dev/null
ca=$DW_SECRETS/tls.crt
api="https://localhost:$DW_HTTPS_PORT"
ingest="https://localhost:$DW_INGEST_TLS_PORT"

step "building images"
compose build >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; fail "build"; }
step "starting the stack"
t0=$(date +%s)
compose up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "up"; }
for _ in $(seq 1 120); do
    a=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$api/readyz" || true)
    i=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$ingest/readyz" || true)
    [ "$a" = 200 ] && [ "$i" = 200 ] && break
    sleep 2
done
[ "$a" = 200 ] && [ "$i" = 200 ] || fail "not ready through nginx (api $a, ingest $i)"
step "ready through TLS in $(($(date +%s) - t0)) s"

# one enterprise with one point, as the superuser (peer authentication inside the container)
compose exec -T postgres psql -X -q -v ON_ERROR_STOP=1 -h /run/postgresql -d dustwatch >/dev/null <<'SQL'
INSERT INTO regions (code, name, level, kind) VALUES ('310000', '上海市', 'city', 'city');
INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310113', '宝山区', 'district', 'district', id FROM regions WHERE code = '310000';
INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310113103', '罗店镇', 'street', 'town', id FROM regions WHERE code = '310113';
INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude, industry_code)
  SELECT '310113000001', '91310113MA1G000011', '上海宝罗金属制品有限公司', d.id, s.id, '测试路1号', 121.4, 31.4, 'C3360'
  FROM regions d, regions s WHERE d.code = '310113' AND s.code = '310113103';
INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type)
  SELECT id, '01', '1号除尘系统', false, 'bag' FROM enterprises WHERE code = '310113000001';
INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max, limit_high, limit_high_high, expected_interval_s)
  SELECT '3101130000010101001', e.id, s.id, 'hopper_temp', '灰斗温度', -40, 200, 70, 80, 10
  FROM enterprises e JOIN dust_systems s ON s.enterprise_id = e.id WHERE e.code = '310113000001';
SQL
key=$(compose run --rm -T migrate admin create-credential --enterprise 310113000001 --kind api_key 2>/dev/null \
      | sed -n 's/^api_key: //p' | tr -d '\r')
[ -n "$key" ] || fail "no API key issued"
pw="Compose-test-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$pw" | compose run --rm -T migrate admin create-account --username ct.city \
    --role city_admin --region 310000 --password-stdin >/dev/null 2>&1 || fail "create-account"

step "pushing readings through nginx (TLS)"
body=$(python3 - <<'PY'
import json, datetime
t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=10)
print(json.dumps({"readings": [{"point": "3101130000010101001",
                                "ts": (t0 + datetime.timedelta(seconds=10 * i)).isoformat(),
                                "value": 40 + i} for i in range(5)]}))
PY
)
r=$(curl -sS --cacert "$ca" -H "X-Api-Key: $key" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: compose-test-1' --data "$body" "$ingest/ingest/v1/readings")
echo "$r" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["accepted"] == 5, r' \
    || fail "push: $r"
r=$(curl -sS -D "$work/h" --cacert "$ca" -H "X-Api-Key: $key" -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: compose-test-1' --data "$body" "$ingest/ingest/v1/readings")
grep -qi '^Idempotent-Replayed: true' "$work/h" || fail "retry not replayed: $r"

step "reading them back through the API"
token=$(curl -sS --cacert "$ca" -H 'Content-Type: application/json' \
    --data "{\"username\":\"ct.city\",\"password\":\"$pw\"}" "$api/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || fail "login"
ent=$(curl -sS --cacert "$ca" -H "Authorization: Bearer $token" "$api/api/v1/enterprises" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])') || fail "enterprises"
pts=$(curl -sS --cacert "$ca" -H "Authorization: Bearer $token" "$api/api/v1/enterprises/$ent/points")
echo "$pts" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
p = [x for x in items if x["code"] == "3101130000010101001"][0]
assert p["latest"]["value"] == 44, p' || fail "latest value: $pts"
pid=$(echo "$pts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ); to=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)
ser=$(curl -sS --cacert "$ca" -H "Authorization: Bearer $token" \
    "$api/api/v1/points/$pid/series?from=$from&to=$to&bucket=0")
echo "$ser" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert [round(i[1]) for i in s["items"]] == [40, 41, 42, 43, 44], s' || fail "series: $ser"

step "what nginx must not pass"
m=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$api/metrics")
[ "$m" = 404 ] || fail "/metrics through nginx answered $m"
m=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" "$ingest/metrics")
[ "$m" = 404 ] || fail "/metrics through the ingest proxy answered $m"
# the server containers see their secrets as files only
env_dump=$(compose exec -T dustwatch sh -c 'cat /proc/1/environ | tr "\0" "\n"' 2>/dev/null || true)
if echo "$env_dump" | grep -q "$(cat "$DW_SECRETS/dw_server_password")"; then
    fail "a password is in the server's environment"
fi
step "PASS ($(($(date +%s) - t0)) s from up to here)"
