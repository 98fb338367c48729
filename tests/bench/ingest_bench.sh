#!/usr/bin/env bash
# Ingest benchmark: how close does the real HTTP ingest path come to the
# speed PostgreSQL can load the same rows with COPY?  Not a timed test: it
# prints figures (and exits non-zero only when the run itself went wrong,
# e.g. the row count differs from what was acknowledged).
#
#   tests/bench/ingest_bench.sh [N] [K]
#
#   N  readings per phase (default 1000000; e.g. 200000 for a quick run)
#   K  concurrent HTTP clients in phase (b) (default 8)
#
# One run, one throw-away PostgreSQL + Redis (deploy/services.sh in a temp
# directory), both phases against the same cluster and the same fixture:
#   E enterprises (city -> district -> street, one dust system each) with
#   P points each and one API key each (SHA-256 in ingest_credentials).
#
#   (a) ceiling: `\copy readings FROM file` as the owner role — N rows, the
#       same shape as (b) (batches of 500 = all points of one enterprise
#       over 500/P consecutive seconds), into empty day partitions created
#       with dw_ensure_readings_partition().
#   (b) readings, point_latest, ingest_batches truncated; `dustwatch serve
#       --roles ingest` (release build) on a free loopback port; the same
#       number of readings on a different day sent by tests/bench/ingest_load
#       (C, K threads, HTTP/1.1 keep-alive, plain sockets) as
#       POST /ingest/v1/readings, 500 readings per request, each with an
#       Idempotency-Key; a reading counts only once the server answered 200
#       (= committed).  503 is retried after Retry-After.
#
# Printed: readings/s of (a) and (b), the ratio b/a, ack latency p50/p90/p99
# of (b), the final row count against the acknowledged count, and for
# profiling: CPU seconds of server / PostgreSQL / load generator during (b),
# commits, readings per commit, WAL bytes and WAL syncs per phase.
# Targets reported (not enforced): ratio >= 0.6, (b) >= 100000 readings/s.
#
# Environment knobs (all optional):
#   DW_BENCH_WRITERS=4        DUSTWATCH_INGEST_WRITERS of the server
#   DW_BENCH_QUEUE_MAX=1024   DUSTWATCH_INGEST_QUEUE_MAX
#   DW_BENCH_ENTERPRISES=20   DW_BENCH_POINTS=25 (points per enterprise)
#   DW_BENCH_IDEM=0           send no Idempotency-Key
#   DW_BENCH_PGSS=1           load pg_stat_statements and print the top
#                             statements of phase (b) (adds some overhead)
#   DW_BENCH_PERF=1           `perf record -a -g` during (b); prints the hottest
#                             symbols per process (perf adds overhead too)
#   DW_BENCH_EXTRA_SQL=FILE   SQL run as the owner right after migrating, to try a
#                             schema change (the figures are then NOT those of
#                             the checked-in schema; the header says so)
#   DW_BENCH_SRC=DIR          source tree to build (default: this checkout)
#   DW_BENCH_BUILD=DIR        meson build dir (default: $DW_BENCH_SRC/build-bench)
#   DW_BENCH_KEEP=1           keep the temp directory (logs, data) at the end
#   DW_BENCH_DEADLINE_S=900   upper bound for phase (b)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${1:-1000000}
K=${2:-8}
case "$N$K" in *[!0-9]*) echo "usage: $0 [N] [K]" >&2; exit 2 ;; esac
[ "$N" -ge 500 ] && [ "$K" -ge 1 ] && [ "$K" -le 256 ] || { echo "usage: $0 [N>=500] [1<=K<=256]" >&2; exit 2; }
E=${DW_BENCH_ENTERPRISES:-20}
P=${DW_BENCH_POINTS:-25}
WRITERS=${DW_BENCH_WRITERS:-4}
QMAX=${DW_BENCH_QUEUE_MAX:-1024}
SRC=${DW_BENCH_SRC:-$root}
BUILD=${DW_BENCH_BUILD:-$SRC/build-bench}
export DW_BENCH_DEADLINE_S=${DW_BENCH_DEADLINE_S:-900}

say() { printf '%s\n' "$*"; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- build ----------------------------------------------------------------
log "building the server (release) in $BUILD"
if [ ! -d "$BUILD/meson-private" ]; then
    # werror off as in deploy/run-local.sh: -O3 raises warnings -O2 does not
    meson setup "$BUILD" "$SRC" -Dbuildtype=release -Dwerror=false >/dev/null
fi
ninja -C "$BUILD" dustwatch >"$BUILD/bench-ninja.log" 2>&1 || { tail -n 30 "$BUILD/bench-ninja.log" >&2; exit 1; }
BIN=$BUILD/dustwatch
LOAD=$BUILD/ingest_load
cc -O2 -Wall -Wextra -pthread -o "$LOAD" "$here/ingest_load.c"

# ---- services ---------------------------------------------------------------
tmp=$(mktemp -d /tmp/dwbench.XXXXXX)
server_pid=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    "$root/deploy/services.sh" stop "$tmp" >/dev/null 2>&1 || true
    if [ "${DW_BENCH_KEEP:-0}" = 1 ]; then
        log "kept $tmp"
    else
        # postgres/redis may still be writing their last bytes: bounded retries
        for _ in $(seq 20); do rm -rf "$tmp" 2>/dev/null && break; sleep 0.25; done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting PostgreSQL + Redis in $tmp"
"$root/deploy/services.sh" start "$tmp" >/dev/null
set -a
# shellcheck disable=SC1091
. "$tmp/env"
set +a
PSQL=("$DW_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$DW_PG_PORT" -U dwadmin -d dustwatch)
sql() { "${PSQL[@]}" -At -F $'\t' "$@"; }

if [ "${DW_BENCH_PGSS:-0}" = 1 ]; then
    echo "shared_preload_libraries = 'pg_stat_statements'" >>"$DW_PGDATA/postgresql.conf"
    runuser -u postgres -- "$DW_PGBIN/pg_ctl" -D "$DW_PGDATA" -m fast -w -t 60 restart -l "$tmp/postgres.log" >/dev/null
fi

log "migrating"
"$BIN" migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; exit 1; }
[ "${DW_BENCH_PGSS:-0}" = 1 ] && sql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
if [ -n "${DW_BENCH_EXTRA_SQL:-}" ]; then
    log "applying DW_BENCH_EXTRA_SQL=$DW_BENCH_EXTRA_SQL"
    sql -f "$DW_BENCH_EXTRA_SQL" >/dev/null
fi

# ---- fixture ---------------------------------------------------------------
log "fixture: $E enterprises x $P points, one API key each"
salt=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
keyexpr="'dwk_bench_' || md5('$salt' || e.code) || md5(e.code || '$salt')"
sql >/dev/null <<SQL
INSERT INTO regions (code, name, level, kind) VALUES ('310000', '上海市', 'city', 'city');
INSERT INTO regions (code, name, level, kind, parent_id)
  SELECT '310113', '宝山区', 'district', 'district', id FROM regions WHERE code = '310000';
INSERT INTO regions (code, name, level, kind, parent_id)
  SELECT '310113103', '罗店镇', 'street', 'town', id FROM regions WHERE code = '310113';
INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude, industry_code)
  SELECT '3101139' || lpad(i::text, 5, '0'), '91310113MA1B' || lpad(i::text, 6, '0'),
         '基准测试企业' || i, d.id, s.id, '测试路' || i || '号', 121.4, 31.4, 'C3360'
  FROM generate_series(1, $E) i, regions d, regions s WHERE d.code = '310113' AND s.code = '310113103';
INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type)
  SELECT id, '01', '1号除尘系统', false, 'bag' FROM enterprises;
WITH kinds(n, kind) AS (VALUES (0, 'hopper_temp'), (1, 'pressure_diff'), (2, 'bearing_temp'),
                               (3, 'dust_conc'), (4, 'inlet_pressure'), (5, 'water_level'))
INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max, expected_interval_s)
  SELECT e.code || '01' || ik.hebei_code || lpad((j / 6 + 1)::text, 3, '0'), e.id, s.id, k.kind,
         k.kind || ' ' || (j / 6 + 1), -1000, 100000, 10
  FROM enterprises e JOIN dust_systems s ON s.enterprise_id = e.id,
       generate_series(0, $P - 1) j JOIN kinds k ON k.n = j % 6 JOIN indicator_kinds ik ON ik.code = k.kind;
INSERT INTO ingest_credentials (enterprise_id, kind, label, key_prefix, key_hash)
  SELECT e.id, 'api_key', 'bench', left($keyexpr, 12), sha256(convert_to($keyexpr, 'UTF8'))
  FROM enterprises e;
ANALYZE;
SQL
sql -c "SELECT row_number() OVER (ORDER BY e.id) - 1, $keyexpr, e.id FROM enterprises e" >"$tmp/ents.tsv"
sql -c "SELECT p.enterprise_id, p.id, p.code FROM points p ORDER BY p.enterprise_id, p.code" >"$tmp/points.tsv"
# plan: enterprise_index api_key enterprise_id point_id point_code
awk -F'\t' 'NR==FNR {idx[$3]=$1; key[$3]=$2; next} {print idx[$1] "\t" key[$1] "\t" $1 "\t" $2 "\t" $3}' \
    "$tmp/ents.tsv" "$tmp/points.tsv" >"$tmp/plan.tsv"
npoints=$(wc -l <"$tmp/plan.tsv")

# ---- days: (a) and (b) get disjoint, past, whole days ----------------------
batches=$(( (N + 499) / 500 ))
secs_per_batch=$(( (500 + P - 1) / P ))
span=$(( ((batches + E - 1) / E) * secs_per_batch ))
days=$(( (span + 3600) / 86400 + 1 ))
today=$(( $(date -u +%s) / 86400 * 86400 ))
base_b=$(( today - days * 86400 + 3600 ))
base_a=$(( base_b - days * 86400 ))
for ((d = 0; d < 2 * days + 1; d++)); do
    day=$(date -u -d "@$(( base_a - 3600 + d * 86400 ))" +%F)
    sql -c "SELECT dw_ensure_readings_partition('$day')" >/dev/null
done

stats() { # commits wal_bytes wal_sync wal_records of the cluster / database
    sql -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'dustwatch'),
                   wal_bytes, wal_sync, wal_records FROM pg_stat_wal"
}
# CPU ticks (utime+stime) of a list of pids; exited ones count 0
ticks() {
    local t=0 p f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        t=$(( t + ${12} + ${13} ))
    done
    echo "$t"
}
pg_pids() {
    local pm
    pm=$(head -n1 "$DW_PGDATA/postmaster.pid")
    echo "$pm" $(ps -o pid= --ppid "$pm")
}
hz=$(getconf CLK_TCK)

# ---- (a) COPY ceiling -------------------------------------------------------
log "(a) generating $N COPY rows"
"$LOAD" copy "$tmp/plan.tsv" "$N" "$base_a" >"$tmp/a.copy"
sql -c "CHECKPOINT" >/dev/null
read -r a_c0 a_wb0 a_ws0 a_wr0 < <(stats | tr '\t' ' ')
log "(a) COPY $N rows into readings"
read -r _ au0 an0 as0 ai0 aw0 _ </proc/stat
ta0=$(now)
# the backend reads its own /proc/self/stat before and after: exact CPU of the COPY
timeout 1800 "${PSQL[@]}" -At >"$tmp/a.stat" <<SQL
SELECT pg_read_file('/proc/self/stat');
\\copy readings (point_id, collected_at, value, quality, enterprise_id) FROM '$tmp/a.copy'
SELECT pg_read_file('/proc/self/stat');
SQL
ta1=$(now)
read -r _ au1 an1 as1 ai1 aw1 _ </proc/stat
read -r a_c1 a_wb1 a_ws1 a_wr1 < <(stats | tr '\t' ' ')
a_rows=$(sql -c "SELECT count(*) FROM readings")
a_s=$(echo "$ta1 - $ta0" | bc -l)
a_rate=$(echo "$a_rows / $a_s" | bc -l)
a_pg_ticks=$(awk '/\) / {sub(/.*\) /, ""); t[++n] = $12 + $13} END {print n == 2 ? t[2] - t[1] : 0}' "$tmp/a.stat")
rm -f "$tmp/a.copy"

# ---- (b) HTTP ingest --------------------------------------------------------
sql -c "TRUNCATE readings, point_latest, ingest_batches" >/dev/null
sql -c "CHECKPOINT" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
aport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log "(b) starting dustwatch serve --roles ingest on 127.0.0.1:$port (writers=$WRITERS, queue_max=$QMAX)"
DUSTWATCH_INGEST_LISTEN=127.0.0.1:$port DUSTWATCH_API_LISTEN=127.0.0.1:$aport \
DUSTWATCH_INGEST_WRITERS=$WRITERS DUSTWATCH_INGEST_RATE_IP_PER_S=0 DUSTWATCH_INGEST_RATE_CREDENTIAL_PER_S=0 DUSTWATCH_INGEST_QUEUE_MAX=$QMAX DUSTWATCH_LOG_LEVEL=warn \
    "$BIN" serve --roles ingest >"$tmp/server.log" 2>&1 &
server_pid=$!
ready=0
for _ in $(seq 150); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
    if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.2
done
[ "$ready" = 1 ] || { log "server not ready in 30 s"; curl -s "http://127.0.0.1:$port/readyz" >&2 || true; tail -n 20 "$tmp/server.log" >&2; exit 1; }
[ "${DW_BENCH_PGSS:-0}" = 1 ] && sql -c "SELECT pg_stat_statements_reset()" >/dev/null

read -r b_c0 b_wb0 b_ws0 b_wr0 < <(stats | tr '\t' ' ')
srv0=$(ticks "$server_pid")
pgb0=$(ticks $(pg_pids))
pg_pids | tr ' ' '\n' | grep . >"$tmp/pg.pids"
rd0=$(ticks "$(cat "$tmp/redis.pid" 2>/dev/null || echo 0)")
read -r _ u0 n0 s0 i0 w0 _ </proc/stat
log "(b) sending $N readings: $K clients, 500 per request"
perf_pid=
if [ "${DW_BENCH_PERF:-0}" = 1 ]; then
    perf record -q -a -g -o "$tmp/perf.data" -- sleep "$DW_BENCH_DEADLINE_S" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
fi
set +e
DW_BENCH_IDEM=${DW_BENCH_IDEM:-1} "$LOAD" http "$tmp/plan.tsv" "$N" "$base_b" "$port" "$K" >"$tmp/load.out" 2>"$tmp/load.err"
load_rc=$?
set -e
if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
fi
read -r _ u1 n1 s1 i1 w1 _ </proc/stat
srv1=$(ticks "$server_pid")
pgb1=$(ticks $(pg_pids))
rd1=$(ticks "$(cat "$tmp/redis.pid" 2>/dev/null || echo 0)")
# stop the server first: its backends flush their statistics when they exit
# (pg_stat_* lag by up to several seconds otherwise)
kill -TERM "$server_pid" 2>/dev/null || true
for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server_pid" 2>/dev/null && log "server still running 15 s after SIGTERM"
sleep 0.3
read -r b_c1 b_wb1 b_ws1 b_wr1 < <(stats | tr '\t' ' ')
cat "$tmp/load.err" >&2
lv() { sed -n "s/^$1=//p" "$tmp/load.out"; }
b_rows=$(sql -c "SELECT count(*) FROM readings")
b_latest=$(sql -c "SELECT count(*) FROM point_latest")
b_idem=$(sql -c "SELECT count(*) FROM ingest_batches")
acked=$(lv acked_readings)
b_s=$(lv elapsed_s)
b_rate=$(lv readings_per_s)
ratio=$(echo "$b_rate / $a_rate" | bc -l)
if [ "${DW_BENCH_PGSS:-0}" = 1 ]; then
    sql -c "SELECT calls, round(total_exec_time::numeric / 1000, 2) AS total_s,
                   round(mean_exec_time::numeric, 2) AS mean_ms, rows,
                   left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'dustwatch')
            ORDER BY total_exec_time DESC LIMIT 12" >"$tmp/pgss.tsv"
fi
grep -E '"level":"(warn|error|crit)"|level=(warn|error|crit)' "$tmp/server.log" | head -n 5 >&2 || true

# ---- report -------------------------------------------------------------------
f0() { printf '%.0f' "$1"; }
f2() { printf '%.2f' "$1"; }
cpu() { echo "$(( $1 - $2 ))" | awk -v hz="$hz" -v s="$b_s" '{printf "%.1f s (%.2f cores)", $1/hz, ($1/hz)/s}'; }
tot_busy=$(( (u1 + n1 + s1) - (u0 + n0 + s0) )); tot_all=$(( tot_busy + (i1 - i0) + (w1 - w0) ))
met() { awk -v x="$1" -v t="$2" 'BEGIN{print (x >= t) ? "MET" : "NOT MET"}'; }

say ""
say "== dustwatch ingest benchmark =="
say "N=$N  K=$K  batch=500  enterprises=$E  points=$npoints  writers=$WRITERS  queue_max=$QMAX  idempotency_key=$([ "${DW_BENCH_IDEM:-1}" = 0 ] && echo no || echo yes)  cpus=$(nproc)"
[ -n "${DW_BENCH_EXTRA_SQL:-}" ] && say "!! schema modified by DW_BENCH_EXTRA_SQL=$DW_BENCH_EXTRA_SQL: not the checked-in schema"
say "(a) COPY ceiling      : $a_rows rows in $(f2 "$a_s") s = $(f0 "$a_rate") readings/s"
say "                        commits=$((a_c1 - a_c0))  WAL $(( (a_wb1 - a_wb0) / a_rows )) B/reading  wal_syncs=$((a_ws1 - a_ws0))  backend cpu $(awk -v t="$a_pg_ticks" -v hz="$hz" -v n="$a_rows" 'BEGIN{printf "%.2f s = %.1f us/reading", t/hz, n ? 1e6*t/hz/n : 0}')  machine busy $(awk -v b="$(( (au1 + an1 + as1) - (au0 + an0 + as0) ))" -v i="$(( (ai1 + aw1) - (ai0 + aw0) ))" 'BEGIN{printf "%.0f%%", (b + i) ? 100*b/(b + i) : 0}')"
say "(b) HTTP ingest       : $acked readings acknowledged in $(f2 "$b_s") s = $(f0 "$b_rate") readings/s"
say "                        requests ok=$(lv acked_batches)/$(lv batches)  failed=$(lv failed_batches)  other_status=$(lv other_status)  retried_503=$(lv retries_busy)  reconnects=$(lv retries_conn)  duplicate=$(lv duplicate_readings)  rejected=$(lv rejected_readings)"
say "    ack latency       : p50 $(lv lat_p50_ms) ms  p90 $(lv lat_p90_ms) ms  p99 $(lv lat_p99_ms) ms  max $(lv lat_max_ms) ms  (mean $(lv lat_mean_ms) ms)"
if awk -v l="${load0%% *}" -v c="$(nproc)" 'BEGIN{exit !(l > c / 2)}'; then
    say "!! the machine was busy before the run (load $load0 on $(nproc) cpus): (a) and (b) saw different"
    say "!! competition, so the wall-clock ratio is unreliable; compare the cpu cost lines below"
fi
say "    ratio b/a         : $(f2 "$ratio")   (target >= 0.6: $(met "$ratio" 0.6))"
say "    end to end        : $(f0 "$b_rate") readings/s   (target >= 100000: $(met "$b_rate" 100000))"
if [ "$b_rows" = "$acked" ]; then rc_ok=OK; else rc_ok=MISMATCH; fi
say "    row count         : readings=$b_rows  acknowledged=$acked  -> $rc_ok   (point_latest=$b_latest, ingest_batches=$b_idem)"
commits=$((b_c1 - b_c0))
say "    transactions      : xact_commit=$commits (incl. autocommitted reads)  readings/commit=$( [ "$commits" -gt 0 ] && echo $(( acked / commits )) || echo -)  ms/commit=$( [ "$commits" -gt 0 ] && awk -v s="$b_s" -v c="$commits" 'BEGIN{printf "%.1f", s*1000/c}' || echo -)  WAL $(( (b_wb1 - b_wb0) / (acked > 0 ? acked : 1) )) B/reading  wal_syncs=$((b_ws1 - b_ws0))"
say "    cpu during (b)    : server $(cpu "$srv1" "$srv0")  postgres $(cpu "$pgb1" "$pgb0")  loadgen $(lv loadgen_cpu_s) s  redis $(cpu "$rd1" "$rd0")"
say "    cpu per reading   : postgres $(awk -v t="$((pgb1 - pgb0))" -v hz="$hz" -v n="$acked" 'BEGIN{printf "%.1f", n ? 1e6*t/hz/n : 0}') us (COPY: $(awk -v t="$a_pg_ticks" -v hz="$hz" -v n="$a_rows" 'BEGIN{printf "%.1f", n ? 1e6*t/hz/n : 0}') us)  server $(awk -v t="$((srv1 - srv0))" -v hz="$hz" -v n="$acked" 'BEGIN{printf "%.1f", n ? 1e6*t/hz/n : 0}') us  loadgen $(awk -v c="$(lv loadgen_cpu_s)" -v n="$acked" 'BEGIN{printf "%.1f", n ? 1e6*c/n : 0}') us"
b_us=$(awk -v a="$((pgb1 - pgb0))" -v b="$((srv1 - srv0))" -v r="$((rd1 - rd0))" -v c="$(lv loadgen_cpu_s)" -v hz="$hz" -v n="$acked" 'BEGIN{print n ? 1e6*((a+b+r)/hz + c)/n : 0}')
a_us=$(awk -v t="$a_pg_ticks" -v hz="$hz" -v n="$a_rows" 'BEGIN{print n ? 1e6*t/hz/n : 0}')
say "    cpu cost ratio    : $(awk -v a="$a_us" -v b="$b_us" 'BEGIN{printf "%.2f", b ? a/b : 0}') = COPY backend us/reading / (b) us/reading of all processes ($(f2 "$b_us") us); cpu-bound (b) on $(nproc) idle cpus ~ $(awk -v b="$b_us" -v c="$(nproc)" 'BEGIN{printf "%.0f", b ? c*1e6/b : 0}') readings/s"
say "                        (use these when the machine is shared: wall-clock rates move with other load)"
say "                        load average before/after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"
say "                        machine busy $(awk -v b="$tot_busy" -v a="$tot_all" 'BEGIN{printf "%.0f%%", a ? 100*b/a : 0}') of $(nproc) cpus, iowait $(awk -v w="$((w1 - w0))" -v a="$tot_all" 'BEGIN{printf "%.0f%%", a ? 100*w/a : 0}')"
if [ -f "$tmp/pgss.tsv" ]; then
    say "    top statements (b): calls  total_s  mean_ms  rows  query"
    sed 's/^/                        /' "$tmp/pgss.tsv"
fi
if [ -f "$tmp/perf.data" ]; then
    say "    perf (b), share of all samples by process (the whole machine):"
    perf report -i "$tmp/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 8 | sed 's/^/                       /'
    # only this run's processes: other clusters/servers on a shared machine are excluded
    pids=$( (cat "$tmp/pg.pids"; echo "$server_pid"; cat "$tmp/redis.pid" 2>/dev/null) | paste -sd, -)
    say "    perf (b), hottest symbols of this run's postgres/server/redis (self, % of their samples):"
    perf report -i "$tmp/perf.data" --pid "$pids" --percentage relative --no-children --sort comm,dso,sym --stdio -g none --percent-limit 0.8 2>/dev/null \
        | grep -E '^ +[0-9]' | head -n 40 | sed 's/^/                       /'
    say "    perf (b), postgres inclusive time of selected functions (% of this run's postgres samples):"
    perf report -i "$tmp/perf.data" --pid "$(paste -sd, "$tmp/pg.pids")" --percentage relative --children --sort sym --stdio -g none 2>/dev/null \
        | grep -E ' (fmgr_sql|ExecWithCheckOptions|ExecInsert|ExecOnConflictUpdate|ExecCheckIndexConstraints|ExecInsertIndexTuples|array_in|float8in|int8in|ExecInitNode|pg_plan_query|pg_parse_query|XLogInsert|XLogFlush|heap_insert|ExecFindPartition|ExecSort|exec_execute_message|exec_bind_message|CommitTransaction|ExecScanSubPlan|ExecutorStart|standard_ExecutorStart)$' \
        | awk '!seen[$NF]++' | head -n 24 | sed 's/^/                       /'
fi
[ "$load_rc" = 0 ] && [ "$rc_ok" = OK ]
