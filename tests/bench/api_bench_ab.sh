# shellcheck shell=bash
# A hook for api_bench.sh (DW_BENCH_HOOK): one route measured with two builds on the same
# fixture, alternating, so that a change is compared with its baseline under the same load.
#
#   DW_AB_BASE_SRC=/tmp/base DW_BENCH_HOOK=tests/bench/api_bench_ab.sh tests/bench/api_bench.sh
#
# DW_AB_BASE_SRC   the baseline's source tree (e.g. `git archive main | tar -x -C /tmp/base`); built
#                  in $DW_AB_BASE_SRC/build-bench like api_bench.sh builds its own.  Both trees
#                  must have the same migrations (a server refuses a schema it does not know).
# DW_AB_ROUTE      the route's url list (default series; any route api_bench.sh knows)
# DW_AB_ROUNDS     rounds (default 3); each runs every variant with the baseline, then this tree
# DW_AB_VARIANTS   server environments separated by "|" (default "DUSTWATCH_SERIES_CACHE_MS=0|":
#                  answers computed every time, then the default configuration)
# Prints one line per run: req/s, p50/p99, CPU ms per request of the server and of PostgreSQL
# (as api_bench.sh counts them), the load average before and after; then the medians.
# shellcheck disable=SC2154 # tmp, aport, BIN, K, SECS, WARM, LOAD, root: api_bench.sh's
[ -n "${DW_AB_BASE_SRC:-}" ] || { log "api_bench_ab: DW_AB_BASE_SRC is not set"; exit 2; }
ab_route=${DW_AB_ROUTE:-series}
ab_rounds=${DW_AB_ROUNDS:-3}
ab_variants=()
while IFS= read -r v; do ab_variants+=("$v"); done < <(printf '%s\n' "${DW_AB_VARIANTS-DUSTWATCH_SERIES_CACHE_MS=0|}" | tr '|' '\n')
log "api_bench_ab: building the baseline in $DW_AB_BASE_SRC/build-bench"
if [ ! -d "$DW_AB_BASE_SRC/build-bench/meson-private" ]; then
    meson setup "$DW_AB_BASE_SRC/build-bench" "$DW_AB_BASE_SRC" -Dbuildtype=release -Dwerror=false >/dev/null
fi
ninja -C "$DW_AB_BASE_SRC/build-bench" dustwatch >"$tmp/ab-ninja.log" 2>&1 ||
    { tail -n 30 "$tmp/ab-ninja.log" >&2; exit 1; }
ab_new_bin=$BIN
ab_hz=$(getconf CLK_TCK)
ab_ticks() {
    local t=0 p f
    for p in "$@"; do
        f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        f=${f##*) }
        # shellcheck disable=SC2086
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}
ab_pg_pids() {
    local pm
    pm=$(head -n1 "$DW_PGDATA/postmaster.pid")
    echo "$pm" $(ps -o pid= --ppid "$pm")
}
ab_run() { # label binary migrations env
    local label=$1 bin=$2 mig=$3 envs=$4 s0 s1 p0 p1 la0 la1 okn out=$tmp/ab_load.out
    BIN=$bin
    (
        # shellcheck disable=SC2086
        for e in $envs; do export "${e?}"; done
        export DUSTWATCH_MIGRATIONS_DIR=$mig
        start_server "$tmp/ab_server.log"
        echo "$server_pid" >"$tmp/ab_pid"
    )
    server_pid=$(cat "$tmp/ab_pid")
    DW_BENCH_TOKEN=$(login)
    la0=$(cut -d' ' -f1 /proc/loadavg)
    s0=$(ab_ticks "$server_pid")
    p0=$(ab_ticks $(ab_pg_pids))
    "$LOAD" http "$tmp/u_$ab_route" "$aport" "$K" "$SECS" "$WARM" >"$out" 2>"$tmp/ab_load.err" || true
    s1=$(ab_ticks "$server_pid")
    p1=$(ab_ticks $(ab_pg_pids))
    la1=$(cut -d' ' -f1 /proc/loadavg)
    stop_server
    okn=$(sed -n 's/^requests_ok=//p' "$out")
    awk -v l="$label" -v v="${envs:-default}" -v t0=$((s1 - s0)) -v t1=$((p1 - p0)) -v hz="$ab_hz" \
        -v n="${okn:-0}" -v s="$SECS" -v w="$WARM" -v a="$la0" -v b="$la1" \
        -v rps="$(sed -n 's/^req_per_s=//p' "$out")" -v p50="$(sed -n 's/^lat_p50_ms=//p' "$out")" \
        -v p99="$(sed -n 's/^lat_p99_ms=//p' "$out")" -v bad="$(sed -n 's/^non2xx=//p' "$out")" \
        'BEGIN { f = n ? 1000 / hz * (s / (s + w)) / n : 0
                 printf "%s\t%s\t%.0f\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\n", l, v, rps, p50, p99, t0 * f, t1 * f, a, b, bad }' |
        tee -a "$tmp/ab.tsv"
}
stop_server
: >"$tmp/ab.tsv"
log "api_bench_ab: $ab_rounds rounds of ${#ab_variants[@]} variant(s), route $ab_route, baseline then this tree"
say "label	variant	req/s	p50 ms	p99 ms	srv cpu ms	pg cpu ms	load before	load after	non-2xx"
for ((round = 1; round <= ab_rounds; round++)); do
    for v in "${ab_variants[@]}"; do
        ab_run base "$DW_AB_BASE_SRC/build-bench/dustwatch" "$DW_AB_BASE_SRC/migrations" "$v"
        ab_run new "$ab_new_bin" "$SRC/migrations" "$v"
    done
done
say "medians (req/s, p99 ms, srv cpu ms, pg cpu ms):"
python3 - "$tmp/ab.tsv" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    runs.setdefault((f[1], f[0]), []).append([float(x) for x in (f[2], f[4], f[5], f[6])])
for (variant, label), rows in sorted(runs.items()):
    med = [statistics.median(c) for c in zip(*rows)]
    print("%-32s %-4s %6.0f %8.1f %6.2f %6.2f" % (variant, label, *med))
PY
