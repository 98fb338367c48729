#!/usr/bin/env bash
# Full risk recompute benchmark (issue 5, "Performance"): how long does it take
# to recompute the risk of every enterprise of a city, in the pure engine and
# end to end through the worker?  Not a timed test: it prints figures and the
# aim (full recompute <= 1 s) with MET / NOT MET, and exits non-zero only when
# the run itself went wrong.
#
#   tests/bench/recompute_bench.sh [E]        E enterprises (default 5000)
#
# (a) engine only: tests/bench/recompute_engine.c linked directly with the pure
#     engine (cc -O2 -Irisk risk/*.c ... -lm), risk_score_compute() over E
#     varied synthetic enterprises with the built-in default model, repeated
#     DW_BENCH_REPEATS times; best / median ns per enterprise.
# (b) end to end: one throw-away PostgreSQL + Redis (deploy/services.sh in a
#     temp directory, track_commit_timestamp and pg_stat_statements on), the
#     fixture tests/bench/recompute_fixture.sql (E enterprises with profiles,
#     1..3 systems x 4 points, rule state, alarms, cleaning check-ins; SQL as
#     the owner role), then for each worker interval in DW_BENCH_INTERVALS:
#       `dustwatch serve --roles worker` (release build) with
#       DUSTWATCH_WORKER_INTERVAL_MS=<interval>;
#       (b0) its first tick recomputes every enterprise ("periodic", the
#            risk_recompute_all_s job): time from start until E new
#            trigger='periodic' rows exist in risk_scores;
#       (b1) one risk_recompute_requests row per enterprise is inserted (one
#            statement); time until the table is empty and E new
#            trigger='change' risk_scores rows exist.  (Since issue 20 the insert's
#            notification wakes the worker: no wait for a tick.)
#     Per phase: total seconds, ms per enterprise, and from the rows' commit
#     timestamps the worker's busy time (first to last commit of each tick's
#     chunk) vs. idle time between chunks; CPU of server and PostgreSQL per
#     enterprise; per-statement mean times (pg_stat_statements).
#
# Environment knobs (all optional):
#   DW_BENCH_INTERVALS="10000 100"  worker_interval_ms values to run (10000 = default)
#   DW_BENCH_REPEATS=200            passes in (a)
#   DW_BENCH_DEADLINE_S=900         upper bound of each phase
#   DW_BENCH_PERIODIC=1             0: skip (b0) (risk_recompute_all_s set beyond the epoch
#                                   so the first tick does not recompute everything)
#   DW_BENCH_EXTRA_SQL=FILE         SQL run as the owner after migrating, to try a schema
#                                   change (e.g. an index); the header says so
#   DW_BENCH_SYNC_COMMIT=off        ALTER ROLE dw_server SET synchronous_commit = off
#                                   first (an experiment: how much of the time is
#                                   waiting for WAL flushes; the header says so)
#   DW_BENCH_SRC=DIR  DW_BENCH_BUILD=DIR  DW_BENCH_KEEP=1   as in ingest_bench.sh
#   DW_BENCH_BASE=DIR               a baseline source tree (e.g. `git worktree add /tmp/base
#                                   <commit>`), built release in DIR/build-bench: the same
#                                   database and fixture run its worker too, alternating with
#                                   this tree's, and the report ends with the ratios base/new
#                                   (same schema assumed: no migration between the two)
#   DW_BENCH_ROUNDS=1               runs of each variant per interval (alternating base, new)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
E=${1:-5000}
case "$E" in '' | *[!0-9]*) echo "usage: $0 [E]" >&2; exit 2 ;; esac
[ "$E" -ge 1 ] || { echo "usage: $0 [E>=1]" >&2; exit 2; }
INTERVALS=${DW_BENCH_INTERVALS:-10000 100}
REPEATS=${DW_BENCH_REPEATS:-200}
DEADLINE=${DW_BENCH_DEADLINE_S:-900}
SRC=${DW_BENCH_SRC:-$root}
BUILD=${DW_BENCH_BUILD:-$SRC/build-bench}

say() { printf '%s\n' "$*"; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $load0 ($(nproc) cpus)"

tmp=$(mktemp -d /tmp/dwrecompute.XXXXXX)
server_pid=
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    server_pid=
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    "$root/deploy/services.sh" stop "$tmp" >/dev/null 2>&1 || true
    if [ "${DW_BENCH_KEEP:-0}" = 1 ]; then
        log "kept $tmp"
    else
        for _ in $(seq 20); do rm -rf "$tmp" 2>/dev/null && break; sleep 0.25; done
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- (a) engine only ------------------------------------------------------------------
log "(a) engine: $E synthetic enterprises x $REPEATS passes"
cc -O2 -Wall -Wextra -I"$SRC/risk" "$SRC"/risk/*.c "$here/recompute_engine.c" -o "$tmp/recompute_engine" -lm
"$tmp/recompute_engine" "$E" "$REPEATS" >"$tmp/engine.out"
ev() { sed -n "s/^$1=//p" "$tmp/engine.out"; }

# ---- build ----------------------------------------------------------------------------
log "building the server (release) in $BUILD"
if [ ! -d "$BUILD/meson-private" ]; then
    meson setup "$BUILD" "$SRC" -Dbuildtype=release -Dwerror=false >/dev/null
fi
ninja -C "$BUILD" dustwatch >"$tmp/ninja.log" 2>&1 || { tail -n 30 "$tmp/ninja.log" >&2; exit 1; }
BIN=$BUILD/dustwatch
VARIANTS=("new:$BIN")
if [ -n "${DW_BENCH_BASE:-}" ]; then
    log "building the baseline (release) in $DW_BENCH_BASE/build-bench"
    if [ ! -d "$DW_BENCH_BASE/build-bench/meson-private" ]; then
        meson setup "$DW_BENCH_BASE/build-bench" "$DW_BENCH_BASE" -Dbuildtype=release -Dwerror=false >/dev/null
    fi
    ninja -C "$DW_BENCH_BASE/build-bench" dustwatch >"$tmp/ninja.base.log" 2>&1 || { tail -n 30 "$tmp/ninja.base.log" >&2; exit 1; }
    VARIANTS=("base:$DW_BENCH_BASE/build-bench/dustwatch" "new:$BIN")
fi
ROUNDS=${DW_BENCH_ROUNDS:-1}

# ---- services -------------------------------------------------------------------------
log "starting PostgreSQL + Redis in $tmp"
"$root/deploy/services.sh" start "$tmp" >/dev/null
set -a
# shellcheck disable=SC1091
. "$tmp/env"
set +a
cat >>"$DW_PGDATA/postgresql.conf" <<CONF
shared_preload_libraries = 'pg_stat_statements'
track_commit_timestamp = on
track_wal_io_timing = on
pg_stat_statements.track_planning = on
CONF
runuser -u postgres -- "$DW_PGBIN/pg_ctl" -D "$DW_PGDATA" -m fast -w -t 60 restart -l "$tmp/postgres.log" >/dev/null
PSQL=("$DW_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$DW_PG_PORT" -U dwadmin -d dustwatch)
sql() { "${PSQL[@]}" -At -F $'\t' "$@"; }

log "migrating"
"$BIN" migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; exit 1; }
sql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
if [ -n "${DW_BENCH_EXTRA_SQL:-}" ]; then
    log "applying DW_BENCH_EXTRA_SQL=$DW_BENCH_EXTRA_SQL"
    sql -f "$DW_BENCH_EXTRA_SQL" >/dev/null
fi
if [ -n "${DW_BENCH_SYNC_COMMIT:-}" ]; then
    sql -c "ALTER ROLE dw_server SET synchronous_commit = '${DW_BENCH_SYNC_COMMIT}'" >/dev/null
fi

log "fixture: $E enterprises"
t_f0=$(now)
sql -v E="$E" -f "$here/recompute_fixture.sql" >/dev/null
t_f1=$(now)
read -r n_ent n_sys n_pts n_alarms n_checkins < <(sql -c "SELECT (SELECT count(*) FROM enterprises), (SELECT count(*) FROM dust_systems),
    (SELECT count(*) FROM points), (SELECT count(*) FROM alarms), (SELECT count(*) FROM cleaning_checkins)" | tr '\t' ' ')
log "fixture: $n_ent enterprises, $n_sys systems, $n_pts points, $n_alarms alarms, $n_checkins check-ins in $(printf '%.1f' "$(echo "$t_f1 - $t_f0" | bc -l)") s"

ticks() { # utime+stime of pids (exited: 0)
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

# waits until risk_scores has >= $2 rows with trigger $1 (and, for 'change', the
# request table is empty); prints seconds since $3; samples progress into $4
wait_scores() {
    local trig=$1 want=$2 t0=$3 prog=$4 got pending t
    : >"$prog"
    while :; do
        read -r got pending < <(sql -c "SELECT (SELECT count(*) FROM risk_scores WHERE trigger = '$trig'),
                                               (SELECT count(*) FROM risk_recompute_requests)" | tr '\t' ' ')
        t=$(now)
        printf '%s %s %s\n' "$(echo "$t - $t0" | bc -l)" "$got" "$pending" >>"$prog"
        if [ "$got" -ge "$want" ] && { [ "$trig" != change ] || [ "$pending" = 0 ]; }; then
            echo "$t - $t0" | bc -l
            return 0
        fi
        if [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null; then
            log "server died"; tail -n 20 "$tmp/server.log" >&2; return 1
        fi
        if awk -v a="$(echo "$t - $t0" | bc -l)" -v d="$DEADLINE" 'BEGIN{exit !(a > d)}'; then
            log "deadline: $got of $want '$trig' scores, $pending requests left"; return 1
        fi
        sleep 0.05
    done
}

# chunks of one trigger since score id $2: per tick (computed_at) count, first and last
# commit (ms since t0 epoch $3), busy ms per enterprise
chunks() {
    sql -c "SELECT count(*), round(extract(epoch FROM min(pg_xact_commit_timestamp(xmin))) * 1000 - $3 * 1000),
                   round(extract(epoch FROM max(pg_xact_commit_timestamp(xmin))) * 1000 - $3 * 1000)
            FROM risk_scores WHERE trigger = '$1' AND id > $2 GROUP BY computed_at ORDER BY min(pg_xact_commit_timestamp(xmin))"
}

pgss_top() { # the server's statements only (not this script's polling)
    sql -c "SELECT calls, round(mean_exec_time::numeric, 3), round(mean_plan_time::numeric, 3),
                   round((total_exec_time + total_plan_time)::numeric / 1000, 2),
                   left(regexp_replace(query, '\\s+', ' ', 'g'), 64)
            FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'dustwatch')
              AND userid = 'dw_server'::regrole AND calls > 0
            ORDER BY total_exec_time + total_plan_time DESC LIMIT 9"
}

met() { awk -v x="$1" -v t="$2" 'BEGIN{print (x <= t) ? "MET" : "NOT MET"}'; }

report=$tmp/report.txt
: >"$report"
rline() { printf '%s\n' "$*" >>"$report"; }

RUNS=()
for interval in $INTERVALS; do
    for _ in $(seq "$ROUNDS"); do
        for v in "${VARIANTS[@]}"; do RUNS+=("$interval:$v"); done
    done
done
for run in "${RUNS[@]}"; do
    interval=${run%%:*}
    label=${run#*:}; RBIN=${label#*:}; label=${label%%:*}
    case "$interval" in '' | *[!0-9]*) log "bad interval $interval"; exit 2 ;; esac
    sql -c "SELECT pg_stat_statements_reset()" >/dev/null
    last_id=$(sql -c "SELECT coalesce(max(id), 0) FROM risk_scores")
    base_periodic=$(sql -c "SELECT count(*) FROM risk_scores WHERE trigger = 'periodic'")
    base_change=$(sql -c "SELECT count(*) FROM risk_scores WHERE trigger = 'change'")
    log "[$label] worker_interval_ms=$interval: starting $RBIN serve --roles worker"
    t_start=$(now)
    wenv=("DUSTWATCH_WORKER_INTERVAL_MS=$interval" DUSTWATCH_LOG_LEVEL=info)
    [ "${DW_BENCH_PERIODIC:-1}" = 0 ] && wenv+=(DUSTWATCH_RISK_RECOMPUTE_ALL_S=2100000000)
    env "${wenv[@]}" "$RBIN" serve --roles worker >"$tmp/server.$interval.log" 2>&1 &
    server_pid=$!
    ln -sf "server.$interval.log" "$tmp/server.log"
    srv0=$(ticks "$server_pid"); pg0=$(ticks $(pg_pids))
    if [ "${DW_BENCH_PERIODIC:-1}" != 0 ]; then
        # (b0) the first tick's periodic recompute of every enterprise
        b0_s=$(wait_scores periodic $((base_periodic + E)) "$t_start" "$tmp/prog.b0.$interval") || exit 1
        srv1=$(ticks "$server_pid"); pg1=$(ticks $(pg_pids))
        b0_chunks=$(chunks periodic "$last_id" "$t_start")
        read -r _ b0_first b0_last < <(echo "$b0_chunks" | head -n1 | tr '\t' ' ')
        pgss_top >"$tmp/pgss.b0.$interval"
    fi

    # (b1) a request row for every enterprise; let the first tick pass / settle
    sleep 2
    sql -c "SELECT pg_stat_statements_reset()" >/dev/null
    last_id=$(sql -c "SELECT coalesce(max(id), 0) FROM risk_scores")
    srv2=$(ticks "$server_pid"); pg2=$(ticks $(pg_pids))
    read -r ws0 wst0 < <(sql -c "SELECT wal_sync, wal_sync_time FROM pg_stat_wal" | tr '\t' ' ')
    t_req=$(now)
    sql -c "INSERT INTO risk_recompute_requests (enterprise_id, reason) SELECT id, 'bench' FROM enterprises" >/dev/null
    t_ins=$(now)
    b1_s=$(wait_scores change $((base_change + E)) "$t_req" "$tmp/prog.b1.$interval") || exit 1
    srv3=$(ticks "$server_pid"); pg3=$(ticks $(pg_pids))
    read -r ws1 wst1 < <(sql -c "SELECT wal_sync, wal_sync_time FROM pg_stat_wal" | tr '\t' ' ')
    b1_chunks=$(chunks change "$last_id" "$t_req")
    pgss_top >"$tmp/pgss.b1.$interval"
    stop_server

    n_b1_chunks=$(echo "$b1_chunks" | grep -c .)
    b1_busy=$(echo "$b1_chunks" | awk -F'\t' '{b += $3 - $2} END {print b + 0}')
    b1_first=$(echo "$b1_chunks" | head -n1 | cut -f2)
    b1_last=$(echo "$b1_chunks" | tail -n1 | cut -f3)
    b1_per=$(echo "$b1_chunks" | awk -F'\t' '$1 > 1 {b += $3 - $2; n += $1 - 1} END {printf "%.3f", n ? b / n : 0}')
    [ "${DW_BENCH_PERIODIC:-1}" != 0 ] && b0_per=$(awk -v f="$b0_first" -v l="$b0_last" -v n="$E" 'BEGIN{printf "%.3f", (n > 1) ? (l - f) / (n - 1) : 0}')
    cpu_per() { awk -v t="$1" -v hz="$hz" -v n="$E" 'BEGIN{printf "%.3f", 1000 * t / hz / n}'; }

    rline ""
    rline "-- [$label] worker_interval_ms=$interval ($([ "${DW_BENCH_PERIODIC:-1}" = 0 ] && echo "periodic job off" || echo "risk_recompute_all_s default: the first tick runs the periodic job")) --"
    if [ "${DW_BENCH_PERIODIC:-1}" != 0 ]; then
    rline "(b0) periodic recompute at worker start: $E enterprises in $(printf '%.2f' "$b0_s") s after the process started"
    rline "       first commit at +$b0_first ms, last at +$b0_last ms: $(printf '%.2f' "$(echo "($b0_last - $b0_first) / 1000" | bc -l)") s of recompute = $b0_per ms/enterprise   ($(met "$(echo "($b0_last - $b0_first) / 1000" | bc -l)" 1) vs 1 s)"
    rline "       cpu per enterprise: server $(cpu_per $((srv1 - srv0))) ms  postgres $(cpu_per $((pg1 - pg0))) ms  (incl. start-up)"
    fi
    rline "(b1) $E risk_recompute_requests rows (inserted in $(printf '%.0f' "$(echo "($t_ins - $t_req) * 1000" | bc -l)") ms) -> table empty and $E fresh scores: $(printf '%.2f' "$b1_s") s = $(awk -v s="$b1_s" -v n="$E" 'BEGIN{printf "%.2f", 1000 * s / n}') ms/enterprise   ($(met "$b1_s" 1) vs 1 s)"
    rline "       $n_b1_chunks worker runs took the rows (one computed_at each: a tick or a notification; LIMIT 500 per take); first commit +$b1_first ms, last +$b1_last ms"
    rline "       busy (first..last commit inside each run) $(printf '%.2f' "$(echo "$b1_busy / 1000" | bc -l)") s = $b1_per ms/enterprise; idle between runs $(printf '%.2f' "$(echo "($b1_last - $b1_first - $b1_busy) / 1000" | bc -l)") s; wait for the first commit $(printf '%.2f' "$(echo "$b1_first / 1000" | bc -l)") s"
    rline "       cpu per enterprise: server $(cpu_per $((srv3 - srv2))) ms  postgres $(cpu_per $((pg3 - pg2))) ms"
    rline "       WAL flushes during (b1): $((ws1 - ws0)) ($(awk -v n="$((ws1 - ws0))" -v e="$E" 'BEGIN{printf "%.2f", n / e}') per enterprise), mean $(awk -v t="$wst0" -v u="$wst1" -v n="$((ws1 - ws0))" 'BEGIN{printf "%.2f", n ? (u - t) / n : 0}') ms each, $(awk -v t="$wst0" -v u="$wst1" 'BEGIN{printf "%.2f", (u - t) / 1000}') s in total  (synchronous_commit of dw_server: $(sql -c "SELECT coalesce((SELECT option_value FROM pg_db_role_setting s, pg_options_to_table(s.setconfig) WHERE s.setrole = 'dw_server'::regrole AND option_name = 'synchronous_commit'), current_setting('synchronous_commit'))"))"
    rline "       ticks (count, first commit ms, last commit ms since the insert):"
    echo "$b1_chunks" | awk -F'\t' '{printf "           %5d  %8d  %8d  (%.3f ms/enterprise)\n", $1, $2, $3, ($1 > 1) ? ($3 - $2) / ($1 - 1) : 0}' >>"$report"
    rline "       top statements of (b1): calls  exec_ms  plan_ms  total_s  query"
    sed 's/^/           /' "$tmp/pgss.b1.$interval" >>"$report"
    if [ "${DW_BENCH_PERIODIC:-1}" != 0 ]; then
        rline "       top statements of (b0): calls  exec_ms  plan_ms  total_s  query"
        sed 's/^/           /' "$tmp/pgss.b0.$interval" >>"$report"
    fi
    grep -E '"level":"(warn|error|crit)"|level=(warn|error|crit)' "$tmp/server.$interval.log" | head -n 5 >&2 || true
    echo "$interval $label ${b0_s:-0} $b1_s $(( ${b0_last:-0} - ${b0_first:-0} ))" >>"$tmp/figures"
done

# ---- report -----------------------------------------------------------------------------
say ""
say "== dustwatch full risk recompute benchmark =="
[ -n "${DW_BENCH_EXTRA_SQL:-}" ] && say "!! schema modified by DW_BENCH_EXTRA_SQL=$DW_BENCH_EXTRA_SQL ($(tr -s ' \n' ' ' <"$DW_BENCH_EXTRA_SQL" | cut -c1-100)): not the checked-in schema"
[ "${DW_BENCH_PERIODIC:-1}" = 0 ] && say "(b0) skipped (DW_BENCH_PERIODIC=0)"
[ -n "${DW_BENCH_SYNC_COMMIT:-}" ] && say "!! DW_BENCH_SYNC_COMMIT=$DW_BENCH_SYNC_COMMIT: synchronous_commit changed for the server role (an experiment, not the default set-up)"
say "E=$E  systems=$n_sys  points=$n_pts  alarms=$n_alarms  check-ins=$n_checkins  cpus=$(nproc)  intervals(ms)=$INTERVALS"
say "(a) engine only       : risk_score_compute $(ev ns_per_enterprise_median) ns/enterprise median, $(ev ns_per_enterprise_best) best ($(ev repeats) passes)"
say "                        full pass of $E: $(ev full_pass_ms_median) ms   ($(met "$(ev full_pass_ms_median)" 1000) vs 1 s)"
say "                        grades $(ev grades), overrides $(ev overrides), $(ev rules_per_enterprise) fired rules/enterprise"
cat "$report"
if [ -n "${DW_BENCH_BASE:-}" ]; then
    say ""
    say "-- base ($DW_BENCH_BASE, $(git -C "$DW_BENCH_BASE" rev-parse --short HEAD 2>/dev/null)) vs new ($SRC, $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null)$(git -C "$SRC" diff --quiet 2>/dev/null || echo ' + uncommitted changes')), medians of $ROUNDS run(s) --"
    med() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
    fig() { awk -v i="$1" -v l="$2" -v c="$3" '$1 == i && $2 == l {print $c}' "$tmp/figures" | med; }
    for interval in $INTERVALS; do
        b1b=$(fig "$interval" base 4); b1n=$(fig "$interval" new 4)
        say "interval $interval ms: (b1) requests -> scores          base $(printf '%.2f' "$b1b") s  new $(printf '%.2f' "$b1n") s  ratio base/new $(awk -v b="$b1b" -v n="$b1n" 'BEGIN{printf "%.2f", (n > 0) ? b / n : 0}')"
        if [ "${DW_BENCH_PERIODIC:-1}" != 0 ]; then
            b0b=$(fig "$interval" base 5); b0n=$(fig "$interval" new 5)
            say "                 (b0) periodic, first..last commit  base $(printf '%.2f' "$(echo "$b0b / 1000" | bc -l)") s  new $(printf '%.2f' "$(echo "$b0n / 1000" | bc -l)") s  ratio base/new $(awk -v b="$b0b" -v n="$b0n" 'BEGIN{printf "%.2f", (n > 0) ? b / n : 0}')"
        fi
    done
fi
say ""
say "load average at start / end: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)  ($(nproc) cpus; other jobs share them)"
