#!/usr/bin/env bash
# deploy/failover-test.sh — deploy test (not in the test command): PostgreSQL primary +
# synchronous streaming replica managed by pg_auto_failover (Debian
# postgresql-15-auto-failover, pg-auto-failover-cli), dustwatch connected with a libpq
# multi-host URL and target_session_attrs=read-write.  Under ingest load the primary is
# killed (SIGKILL of its keeper and postmaster: a dead machine); the monitor promotes the
# replica, dustwatch reconnects to it, ingest resumes, and every reading that was
# acknowledged (2xx) before, during or after the failover must be in the new primary.
#
#   deploy/failover-test.sh          # as root (PostgreSQL runs as `postgres`); exit 0: PASS
#
# Environment: DW_BIN (default build/dustwatch), DW_FAILOVER_PORT (first of five ports,
# default 29500), PGBIN (default /usr/lib/postgresql/15/bin).  Prints the failover time
# and the counts.  What is promised: with synchronous replication (pg_auto_failover sets
# synchronous_standby_names while the standby is healthy, checked below) a COMMIT — and so
# an acknowledgement — returns only after the standby has the WAL, so no acknowledged
# reading is lost when the primary dies.  With asynchronous replication (or while the
# primary runs alone in wait_primary after losing its standby) an acknowledged reading
# can be lost: up to the replication lag, typically well under a second of writes; the
# gateways do not resend what was acknowledged.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "${DW_BIN:-build/dustwatch}")" && pwd)/$(basename "${DW_BIN:-build/dustwatch}")
base=${DW_FAILOVER_PORT:-29500}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
pm=$base p1=$((base + 1)) p2=$((base + 2)) api=$((base + 3)) ing=$((base + 4))
command -v pg_autoctl >/dev/null || { echo "failover-test: apt-get install postgresql-15-auto-failover pg-auto-failover-cli" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "failover-test: run as root (PostgreSQL runs as postgres)" >&2; exit 2; }
dir=$(mktemp -d /tmp/dw-failover.XXXXXX)
chown postgres "$dir"
chmod 755 "$dir"
pids=()
# the pg_autoctl jobs are process groups of their own (bg_pg): pg_autoctl forks supervisors
# ("pg_autoctl: start/stop postgres") that outlived a kill of the job's first process; the
# other jobs (the server, the load) are killed by pid
stop_jobs() { # signal
    for p in "${pids[@]}"; do
        kill "-$1" -- "-$p" 2>/dev/null || true
        kill "-$1" "$p" 2>/dev/null || true
    done
}
cleanup() {
    stop_jobs TERM
    sleep 1
    for d in node1 node2 monitor; do
        [ -f "$dir/$d/postmaster.pid" ] && kill -9 "$(head -1 "$dir/$d/postmaster.pid")" 2>/dev/null || true
    done
    stop_jobs KILL
    # a dying postgres may still write a file while rm walks the tree: once more, and never fail
    # the test over a temp dir (CI saw "Directory not empty" after a PASS)
    [ -n "${KEEP:-}" ] || rm -rf "$dir" 2>/dev/null || { sleep 2; rm -rf "$dir" 2>/dev/null; } || true
}
trap cleanup EXIT
step() { echo "failover-test: $*"; }
fail() {
    echo "failover-test: FAIL: $*" >&2
    for f in "$dir"/*.log; do echo "== $f" >&2; tail -n 15 "$f" >&2; done
    exit 1
}
# a command as postgres with pg_autoctl's directories (the prefix bg_pg starts under setsid)
pg_prefix=(runuser -u postgres -- env PATH="$pgbin:$PATH" XDG_CONFIG_HOME="$dir/xdg/config"
    XDG_DATA_HOME="$dir/xdg/data" XDG_RUNTIME_DIR="$dir/xdg/run")
as_pg() { "${pg_prefix[@]}" "$@"; }
bg_pg() { # name cmd...: runs in the background, logs to $dir/name.log
    local name=$1
    shift
    setsid "${pg_prefix[@]}" "$@" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    disown $! # killing node1 is the test, not news
}
state() { as_pg pg_autoctl show state --pgdata "$dir/monitor" 2>/dev/null || true; }
wait_state() { # what pattern timeout_s
    for _ in $(seq 1 $((${3} * 2))); do state | grep -Eq "$2" && return 0; sleep 0.5; done
    state >&2
    fail "timed out waiting for $1"
}
wait_pg() { # port
    for _ in $(seq 1 120); do "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$1" && return 0; sleep 0.5; done
    fail "PostgreSQL on $1 not ready"
}
sql() { # port sql...
    "$pgbin/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d dustwatch -c "$2"
}

# a server or cluster left on these ports by an earlier run would take this run's load
for p in "$pm" "$p1" "$p2" "$api" "$ing"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        fail "port $p is in use (a process of an earlier run? DW_FAILOVER_PORT picks other ports)"
    fi
done
step "monitor and two nodes (ports $pm, $p1, $p2)"
as_pg mkdir -p "$dir/xdg/config" "$dir/xdg/data" "$dir/xdg/run"
as_pg pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$pm" --hostname 127.0.0.1 \
    --auth trust --no-ssl >"$dir/create-monitor.log" 2>&1 || fail "create monitor"
# notice a dead primary in seconds, not the default 20 s, and promote after 5 s instead of
# waiting 30 s for the old primary to demote itself (primary_demote_timeout: in production
# keep the default, it is what protects against two primaries after a network split)
cat >>"$dir/monitor/postgresql.conf" <<CONF
pgautofailover.primary_demote_timeout = 5000
pgautofailover.health_check_period = 1000
pgautofailover.health_check_timeout = 1000
pgautofailover.health_check_max_retries = 1
pgautofailover.health_check_retry_delay = 500
pgautofailover.node_considered_unhealthy_timeout = 4000
CONF
bg_pg monitor pg_autoctl run --pgdata "$dir/monitor"
monitor_uri="postgres://autoctl_node@127.0.0.1:$pm/pg_auto_failover?sslmode=disable"
for _ in $(seq 1 60); do
    "$pgbin/psql" "$monitor_uri" -X -q -t -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
done
"$pgbin/psql" "$monitor_uri" -X -q -t -c 'SELECT 1' >/dev/null 2>&1 || monitor_uri=""
[ -n "$monitor_uri" ] || fail "no monitor"

create_node() { # name port
    as_pg pg_autoctl create postgres --pgdata "$dir/$1" --pgport "$2" --hostname 127.0.0.1 \
        --name "$1" --monitor "$monitor_uri" --auth trust --no-ssl --dbname dustwatch \
        >"$dir/create-$1.log" 2>&1 || fail "create $1"
}
create_node node1 "$p1"
# the application connects over TCP from this host (copied to node2 by its base backup)
echo "host all all 127.0.0.1/32 trust" >>"$dir/node1/pg_hba.conf"
bg_pg node1 pg_autoctl run --pgdata "$dir/node1"
wait_state "node1 single" "node1 .*\| *single *\| *single" 60
wait_pg "$p1"
sql "$p1" "SELECT pg_reload_conf()" >/dev/null
create_node node2 "$p2"
bg_pg node2 pg_autoctl run --pgdata "$dir/node2"
wait_state "primary + secondary" "node1 .*\| *primary *\| *primary" 120
wait_state "secondary" "node2 .*\| *secondary *\| *secondary" 60
wait_pg "$p1"
sync=$(sql "$p1" "SHOW synchronous_standby_names")
[ -n "$sync" ] || fail "the primary does not replicate synchronously"
step "synchronous_standby_names = $sync"

# roles as in compose-init.sql; the server sees only dw_server
sql "$p1" "CREATE ROLE dwowner LOGIN; CREATE ROLE dustwatch_app NOLOGIN;
           CREATE ROLE dw_server LOGIN IN ROLE dustwatch_app; GRANT SET ON PARAMETER dw.scope TO dwowner;
           ALTER DATABASE dustwatch OWNER TO dwowner; REVOKE CREATE ON SCHEMA public FROM PUBLIC;
           ALTER SCHEMA public OWNER TO dwowner;" >/dev/null
hosts="127.0.0.1:$p1,127.0.0.1:$p2"
export DUSTWATCH_MIGRATE_DATABASE_URL="postgresql://dwowner@$hosts/dustwatch?target_session_attrs=read-write&connect_timeout=2"
export DUSTWATCH_DATABASE_URL="postgresql://dw_server@$hosts/dustwatch?target_session_attrs=read-write&connect_timeout=2"
export DUSTWATCH_REDIS_URL=${DUSTWATCH_REDIS_URL:-redis://127.0.0.1:1/0}
(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/master.key")
export DUSTWATCH_MASTER_KEY_FILE=$dir/master.key
"$bin" migrate >"$dir/migrate.log" 2>&1 || fail "migrate"

key="dwk_failover$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)
sql "$p1" "
INSERT INTO regions (code, name, level, kind) VALUES ('310000', 'city', 'city', 'city');
INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310113', 'district', 'district', 'district', id FROM regions WHERE code = '310000';
INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310113103', 'street', 'street', 'town', id FROM regions WHERE code = '310113';
INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude, industry_code)
  SELECT '310113000001', '91310113MA1G000011', 'failover', d.id, s.id, 'x', 121.4, 31.4, 'C3360'
  FROM regions d, regions s WHERE d.code = '310113' AND s.code = '310113103';
INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type) SELECT id, '01', 's', false, 'bag' FROM enterprises;
INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max, expected_interval_s)
  SELECT 'PT' || lpad(g::text, 3, '0'), e.id, s.id, 'hopper_temp', 'p', -40, 200, 10
  FROM enterprises e JOIN dust_systems s ON s.enterprise_id = e.id, generate_series(1, 20) g;
INSERT INTO ingest_credentials (enterprise_id, kind, key_prefix, key_hash)
  SELECT id, 'api_key', '${key:0:12}', '\\x$hash' FROM enterprises;" >/dev/null

env DUSTWATCH_API_LISTEN=127.0.0.1:$api DUSTWATCH_INGEST_LISTEN=127.0.0.1:$ing \
    DUSTWATCH_WORKER_INTERVAL_MS=1000 "$bin" serve --roles ingest,api,worker >"$dir/dustwatch.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$ing/readyz" 2>/dev/null && break; sleep 0.2; done
curl -fsS -o /dev/null "http://127.0.0.1:$ing/readyz" || fail "dustwatch not ready"

step "ingest load, then the primary dies"
export DW_ING_PORT=$ing DW_KEY=$key DW_OUT=$dir/acked.txt DW_STOP=$dir/stop DW_MARK=$dir/killed
python3 - >"$dir/load.log" 2>&1 <<'PY' &
import datetime, http.client, json, os, time
port, key, out = int(os.environ["DW_ING_PORT"]), os.environ["DW_KEY"], os.environ["DW_OUT"]
t0 = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(hours=2)
acked, batch, after_kill, failures = [], 0, 0, 0
while not os.path.exists(os.environ["DW_STOP"]):
    items = [{"point": f"PT{1 + i:03d}", "ts": (t0 + datetime.timedelta(seconds=batch)).isoformat(),
              "value": batch % 100} for i in range(20)]
    body = json.dumps({"readings": items})
    while True:  # a gateway: retry the same batch with the same key until it is acknowledged
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.request("POST", "/ingest/v1/readings", body, {"X-Api-Key": key, "Content-Type": "application/json",
                                                            "Idempotency-Key": f"b{batch}"})
            r = c.getresponse()
            data = r.read()
            c.close()
            if r.status == 200:
                res = json.loads(data)
                assert res["rejected"] == 0, res
                break
        except OSError:
            pass
        failures += 1
        time.sleep(0.2)
    acked += [(i["point"], i["ts"]) for i in items]
    if os.path.exists(os.environ["DW_MARK"]):
        after_kill += 1
    batch += 1
    if after_kill >= 50:
        break
with open(out, "w") as f:
    for p, ts in acked:
        f.write(f"{p}\t{ts}\n")
print(f"batches={batch} acked={len(acked)} after_kill={after_kill} failed_attempts={failures}")
PY
load=$!
pids+=($load)
sleep 5
before=$(wc -l <"$dir/load.log")
# SIGKILL node1's keeper with every process under it (its postgres supervisor, the
# postmaster and its backends): a machine that died.  pids[1] is node1's job (bg_pg).
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
pm1=$(head -1 "$dir/node1/postmaster.pid")
victims="${pids[1]} $(descendants "${pids[1]}") $pm1 $(descendants "$pm1")"
kill -STOP $victims 2>/dev/null || true
kill -9 $victims 2>/dev/null || true
killed_at=$(date +%s.%N)
touch "$dir/killed"
step "primary (node1) killed"
wait_state "node2 promoted" "node2 .*\| *(wait_primary|primary) *\| *(wait_primary|primary)" 120
promoted_at=$(date +%s.%N)
wait "$load" || fail "load generator failed: $(cat "$dir/load.log")"
done_at=$(date +%s.%N)
cat "$dir/load.log"

acked=$(wc -l <"$dir/acked.txt")
"$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$p2" -U postgres -d dustwatch <<SQL >/dev/null
CREATE TEMP TABLE acked (code text, ts timestamptz);
\copy acked FROM '$dir/acked.txt'
CREATE TABLE IF NOT EXISTS public.failover_result AS
  SELECT count(*) AS acked, count(r.point_id) AS stored
  FROM acked a JOIN points p ON p.code = a.code
  LEFT JOIN readings r ON r.point_id = p.id AND r.collected_at = a.ts;
SQL
read -r n_acked n_stored < <(sql "$p2" "SELECT acked, stored FROM failover_result" | tr '|' ' ')
step "acknowledged $n_acked readings (file: $acked), found $n_stored on the new primary"
step "failover: promoted $(python3 -c "print(round($promoted_at - $killed_at, 1))") s after the kill; load done $(python3 -c "print(round($done_at - $killed_at, 1))") s after it"
[ "$n_acked" = "$acked" ] && [ "$n_acked" -gt 0 ] || fail "counting went wrong"
[ "$n_stored" = "$n_acked" ] || fail "$((n_acked - n_stored)) acknowledged readings lost"
grep -q "after_kill=50" "$dir/load.log" || fail "ingest did not resume"
step "PASS: 0 acknowledged readings lost"
