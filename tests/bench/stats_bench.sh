#!/usr/bin/env bash
# Statistics benchmark (issue 15: "fast at 2,000 enterprises, p99 <= 100 ms per statistic").
# Not a timed test (not in the test command): it prints p50/p99 per statistic for the old path
# (every hourly rollup row of the period counted per request: stats_day_rollup=0), the new one
# (whole city days from the day rollup stats_day, migration 0114) counted live
# (stats_snapshot_s=0), and snap (migration 0152: the dashboard's four periods counted once for
# every enterprise by `dustwatch admin refresh-statistics`, then summed per request; a custom
# range is counted live), in the same run on the same data, with the machine's load average
# before each, and the ratios old/new and new/snap; new and snap also as a district admin (dist,
# sdist: that account's ~70 % of the enterprises, summed from the same snapshot rows in sdist).
#
#   tests/bench/stats_bench.sh                 2,000 enterprises x 20 points, a month of data
#   DW_BENCH_SCALE=small tests/bench/stats_bench.sh     200 enterprises (quick check)
#
# The city is tests/bench/api_bench.sh's (its fixture, run with DW_BENCH_HOOK pointing here:
# 4 districts, E enterprises x P points, H points of 5-minute readings for DAYS days, rolled up as
# the worker does); this script then adds, over the same days, alarms (one per enterprise and day,
# kinds and levels mixed, handled on time or late), warnings (one per enterprise every 3 days, all
# grades), an approved whole-enterprise filing for every 50th enterprise, builds stats_day and the
# alarms' and warnings' running totals as the worker would (dw_stats_day_advance, dw_stats_event_day_advance),
# and measures as a city_admin (all E enterprises):
#   month_street    GET /statistics?period=month&group=street   (this month)
#   lastmonth_dist  GET /statistics?period=month&date=<a day of last month>&group=district
#   week_ent        GET /statistics?period=week&group=enterprise&sort=alarms (the first page:
#                   100 rows, as the dashboard asks for them)
#   week_ent_all    the same, every row by key (limit=5000: 2,000 rows, 7.4 MB)
#   day_industry    GET /statistics?period=day&group=industry
#   custom_30d      GET /statistics?period=custom (the last 30 days, partial days at both ends)
# each N times one after the other (DW_STATS_N, default 30) after 2 unmeasured requests.
#
# The fixture also gets the ~60 monthly rollup_hour partitions five years of hourly rollups leave
# (DW_STATS_HOUR_MONTHS, default 60; empty before the fixture's days).
# Knobs: DW_STATS_TIMEOUT_MS (the servers' statement_timeout, default 120000); those of api_bench.sh (DW_BENCH_ENTERPRISES, DW_BENCH_POINTS, DW_BENCH_HIST_POINTS,
# DW_BENCH_SRC, DW_BENCH_BUILD, DW_BENCH_KEEP); DW_BENCH_DAYS defaults to 31 here and
# DW_BENCH_HIST_POINTS to 2000; DW_STATS_N; DW_STATS_OLD=0 skips the old path (at full scale it
# takes tens of minutes; its columns then print 0 and the answers are not compared).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${DW_STATS_BENCH_HOOKED:-}" ]; then
    # the computation is measured, not the reuse of its answer (stats_cache_ms, api_cache.c):
    # every request here would be the same question within 30 s
    export DUSTWATCH_STATS_CACHE_MS=${DUSTWATCH_STATS_CACHE_MS:-0}
    export DW_STATS_BENCH_HOOKED=1 DW_BENCH_HOOK="$here/stats_bench.sh"
    export DW_BENCH_DAYS=${DW_BENCH_DAYS:-31} DW_BENCH_HIST_POINTS=${DW_BENCH_HIST_POINTS:-2000}
    exec "$here/api_bench.sh"
fi

# ---- sourced by api_bench.sh after its fixture (its functions and variables in scope) ----------
N=${DW_STATS_N:-30}
log "stats: alarms, warnings, filings over the $DAYS days"
sql >/dev/null <<SQL
SELECT set_config('dw.scope', 'system', false);
INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, cleared_at, state,
                    ack_deadline, handle_deadline, acked_at, handled_at, cause_category, closed_at)
  SELECT e.id, (SELECT min(p.id) FROM points p WHERE p.enterprise_id = e.id), 'rule', k.channel, k.kind, (e.id + d) % 3, (e.id + d) % 3, r.at, r.at + interval '3 hours',
         'closed', r.at + interval '30 minutes', r.at + interval '2 hours', r.at + interval '20 minutes',
         r.at + make_interval(mins => CASE WHEN (e.id + d) % 4 = 0 THEN 200 ELSE 60 END), 'other',
         r.at + interval '4 hours'
  FROM enterprises e, generate_series(0, $DAYS - 1) d,
       LATERAL (SELECT now() - make_interval(days => d, hours => (e.id % 20)::int) AS at) r,
       LATERAL (SELECT (ARRAY['high', 'frozen', 'high_high', 'rate_of_rise', 'out_of_range'])[1 + (e.id + d) % 5] AS kind,
                       (ARRAY['limit', 'frozen', 'limit', 'rate', 'range'])[1 + (e.id + d) % 5] AS channel) k;
INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, grade_by_score, override,
                         rules, inputs, trigger)
  SELECT id, now(), 'bench', 50, 50, 0, 0, 0, 'blue', 'blue', false, '[]', '{}', 'manual' FROM enterprises;
INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, current_level,
                      status, signed_at, cleared_at)
  SELECT s.enterprise_id, 'O.BENCH_' || chr(65 + d / 3), (ARRAY['blue', 'yellow', 'orange', 'red'])[1 + (s.enterprise_id + d) % 4],
         s.id, w.at, w.at + interval '2 hours', w.at + interval '24 hours', 'street', 'street', 'cleared',
         w.at + interval '1 hour', w.at + make_interval(hours => CASE WHEN d % 2 = 0 THEN 10 ELSE 30 END)
  FROM risk_scores s, generate_series(0, $DAYS - 1, 3) d,
       LATERAL (SELECT now() - make_interval(days => d, hours => 5) AS at) w
  WHERE s.model_version = 'bench';
INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, status, approval_level, reviewed_at)
  SELECT id, 'stop', now() - interval '10 days', now() - interval '3 days', 'bench', 'approved', 'district', now()
  FROM enterprises WHERE id % 50 = 0;
SQL
# built as the worker would, 31 days per step: a step whose condition is still true has more
built=""
build_days() { # $1 the step's query (true: more to do), $2 name, $3 rows and watermark query -> $built
    local t0 left
    t0=$(now)
    for _ in $(seq 40); do
        left=$(sql -c "SELECT set_config('dw.scope', 'system', false)" -c "$1" | tail -n1)
        [ "$left" = t ] || break
    done
    built=$(sql -c "SELECT set_config('dw.scope', 'system', false)" -c "$3" | tail -n1)
    log "stats: $2 built in $(printf '%.1f' "$(echo "$(now) - $t0" | bc -l)") s: $built"
}
build_days "SELECT covered < date_bin('1 hour', (SELECT rolled_to FROM rollup_state), timestamptz '2000-01-01 00:00:00+00') FROM dw_stats_day_advance(31)" \
    stats_day "SELECT count(*) || ' rows, covered to ' || (SELECT covered_to FROM stats_day_state) FROM stats_day"
nday=$built
# the alarms' and warnings' running totals per day (migrations 0155, 0156)
build_days "SELECT covered < (now() AT TIME ZONE 'Asia/Shanghai')::date FROM dw_stats_event_day_advance(31)" \
    "stats_alarm_day and stats_warning_day" \
    "SELECT (SELECT count(*) FROM stats_alarm_day) || ' + ' || (SELECT count(*) FROM stats_warning_day) || ' rows, covered to ' || (SELECT covered_to FROM stats_event_day_state)"
nevent=$built
# A database that has run for years holds ~60 monthly partitions of hourly rollups
# (rollup_hour_retention_days, 1830): empty ones before the fixture's months, so that a
# statement that cannot prune them at plan time pays for them here as it would there.
hour_months=${DW_STATS_HOUR_MONTHS:-60}
sql -c "SELECT count(dw_ensure_rollup_partition('hour', m::date)) FROM generate_series(
          date_trunc('month', now() - make_interval(months => $hour_months - 1)),
          date_trunc('month', now()), interval '1 month') m" >/dev/null
nhp=$(sql -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'rollup_hour'::regclass")
log "stats: $nhp monthly rollup_hour partitions (DW_STATS_HOUR_MONTHS=$hour_months)"
sql -c "VACUUM ANALYZE" >/dev/null
# The fixture's ~2 GB of WAL would otherwise be checkpointed during the measurements (in one run
# a checkpoint spread over 76 s overlapped them all): what is measured is a statistic, not the
# flush of the fixture's bulk load.  (The slowest of 20 still moved by 20-50 ms between runs.)
log "stats: CHECKPOINT"
sql -c "CHECKPOINT" >/dev/null

printf '%s' "$pw" | "$BIN" admin create-account --username bench_city --role city_admin \
    --region 310000 --password-stdin >"$tmp/account_city.log" 2>&1 || { cat "$tmp/account_city.log" >&2; exit 1; }
city_login() {
    local body
    body=$(curl -fsS -H 'Content-Type: application/json' \
        --data "{\"username\":\"bench_city\",\"password\":\"$pw\"}" "http://127.0.0.1:$aport/api/v1/auth/login")
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$body"
}
lastmonth=$(TZ=Asia/Shanghai date -d "$(TZ=Asia/Shanghai date +%Y-%m-01) - 1 day" +%F)
c_from=$(( ($(date -u +%s) - 30 * 86400) / 3600 * 3600 + 5 * 3600 ))
c_to=$(( $(date -u +%s) - 1800 ))
declare -A urls=(
    [month_street]="/api/v1/statistics?period=month&group=street"
    [lastmonth_dist]="/api/v1/statistics?period=month&date=$lastmonth&group=district"
    [week_ent]="/api/v1/statistics?period=week&group=enterprise&sort=alarms"
    [week_ent_all]="/api/v1/statistics?period=week&group=enterprise&limit=5000"
    [day_industry]="/api/v1/statistics?period=day&group=industry"
    [custom_30d]="/api/v1/statistics?period=custom&from=$((c_from * 1000))&to=$((c_to * 1000))&group=district"
)
names=(month_street lastmonth_dist week_ent week_ent_all day_industry custom_30d)

# What is measured is a running server's statistic, not its start: the API pool opens and warms
# its connections in the background after /readyz answers (db_pool_warm, ~1-2 s here), and
# requests racing it share the two cores with it.  The first statistic after the warm-up is
# logged (a freshly started server's own first-request costs remain in it).
await_warm() { # label
    local i n t0 code
    t0=$(now)
    for i in $(seq 300); do
        n=$(curl -fsS "http://127.0.0.1:$aport/metrics" | awk -F' ' '/^dustwatch_stats_reads_total\{how="warm"\}/ {print $2}')
        [ "${n:-0}" -ge "${DW_BENCH_POOL:-4}" ] && break
        sleep 0.1
    done
    code=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $(city_login)" \
        "http://127.0.0.1:$aport${urls[week_ent]}")
    log "stats: $1 pool warmed (${n:-0} connections) in $(printf '%.1f' "$(echo "$(now) - $t0" | bc -l)") s; the first week_ent after it: $(printf '%.1f' "$(echo "$code * 1000" | bc -l)") ms"
}
measure() { # label [login function] -> appends "label name p50 p99 load" lines to $OUT/stats.tsv
    local label=$1 name i tok code
    tok=$(${2:-city_login})
    for name in "${names[@]}"; do
        : >"$tmp/t_${label}_$name"
        for i in $(seq $((N + 2))); do
            code=$(curl -s -o "$tmp/s_${label}_$name.json" -w '%{http_code} %{time_total}' \
                -H "Authorization: Bearer $tok" "http://127.0.0.1:$aport${urls[$name]}")
            if [ "${code%% *}" != 200 ]; then # e.g. 503: past statement_timeout; counted, not fatal
                log "$label $name answered ${code%% *}: $(head -c 200 "$tmp/s_${label}_$name.json")"
                echo "$label $name" >>"$OUT/failed.txt"
                rm -f "$tmp/s_${label}_$name.json"
            fi
            [ "$i" -gt 2 ] && echo "${code#* }" >>"$tmp/t_${label}_$name"
        done
        sort -g "$tmp/t_${label}_$name" | awk -v l="$label" -v n="$name" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
            '{v[NR]=$1} END {p50=v[int((NR+1)/2)]; i99=int(NR*0.99+0.999); if (i99<1) i99=1; if (i99>NR) i99=NR;
              printf "%s\t%s\t%.1f\t%.1f\t%s\n", l, n, 1000*p50, 1000*v[i99], load}' >>"$OUT/stats.tsv"
        log "stats: $label $name done (load $(cut -d' ' -f1 /proc/loadavg)); reads so far: $(curl -fsS "http://127.0.0.1:$aport/metrics" |
            awk '/^dustwatch_stats_reads_total/ {sub(/dustwatch_stats_reads_total\{how="/, ""); sub(/"\}/, ""); printf "%s=%s ", $1, $2}')"
    done
}
: >"$OUT/stats.tsv"
stop_server
: >"$OUT/failed.txt"
# the API's statement_timeout (5 s by default) cut the old path off at full scale on a loaded
# machine: both servers get DW_STATS_TIMEOUT_MS (default 120 s) so each request is measured
export DUSTWATCH_DB_STATEMENT_TIMEOUT_MS=${DW_STATS_TIMEOUT_MS:-120000}
l_old0=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "${DW_STATS_OLD:-1}" = 1 ]; then
    DUSTWATCH_STATS_DAY_ROLLUP=0 start_server "$tmp/server_old.log"
    await_warm old
    measure old
    stop_server
fi
l_new0=$(cut -d' ' -f1-3 /proc/loadavg)
DUSTWATCH_STATS_SNAPSHOT_S=0 DUSTWATCH_STATS_DAY_ROLLUP=1 start_server "$tmp/server_new.log"
await_warm new
measure new
# the same as the district admin of 310113 (api_bench's account; ~70 % of the enterprises)
measure dist login
stop_server
# Snapshots (migration 0152): the four dashboard periods counted for every enterprise, as the
# worker does every stats_snapshot_s, then summed per request; this server has no worker, and
# stats_snapshot_s=600 keeps the snapshot usable (3 x 600 s) for the whole measurement.  The
# custom range has no snapshot: counted live, as in the new run.
t_snap0=$(now)
"$BIN" admin refresh-statistics >"$tmp/snapshot.log" 2>&1 || { cat "$tmp/snapshot.log" >&2; exit 1; }
t_snap1=$(now)
log "stats: snapshots counted in $(printf '%.2f' "$(echo "$t_snap1 - $t_snap0" | bc -l)") s: $(cat "$tmp/snapshot.log")"
l_snap0=$(cut -d' ' -f1-3 /proc/loadavg)
DUSTWATCH_STATS_SNAPSHOT_S=600 DUSTWATCH_STATS_DAY_ROLLUP=1 start_server "$tmp/server_snap.log"
await_warm snap
measure snap
# and the district admin, whose statistics sum its ~70 % of the same snapshot rows
measure sdist login
nsnap=$(curl -fsS "http://127.0.0.1:$aport/metrics" | awk '/^dustwatch_stats_reads_total\{how="snapshot"\}/ {print $2}')
stop_server
l_end=$(cut -d' ' -f1-3 /proc/loadavg)
# the two paths answer the same figures, but for what depends on the moment (points online,
# connected, deadlines passed) and, when the two runs ended in different hours, the online hours
# of a period still running
same=()
for pair in old:new snap:new sdist:dist; do
A=${pair%%:*} B=${pair#*:}
for name in "${names[@]}"; do
    [ -f "$tmp/s_${A}_$name.json" ] && [ -f "$tmp/s_${B}_$name.json" ] || { same+=("$A/$B $name: not compared (old path skipped or a request failed)"); continue; }
    v=$(python3 - "$tmp/s_${A}_$name.json" "$tmp/s_${B}_$name.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
moving = ("points_online", "connected", "links", "overdue", "overdue_major", "handle_due", "handled_on_time_rate",
          "sign_due", "signed_on_time_rate", "clear_due", "cleared_on_time_rate", "hours")
hourly = ("point_hours", "point_hours_with_data", "online_rate")
keep = a["computed_to"][:13] == b["computed_to"][:13]
def strip(o):
    return {k: (strip(v) if isinstance(v, dict) else v) for k, v in o.items()
            if k not in moving and (keep or k not in hourly)}
fa = [strip(a["totals"])] + [strip(r) for r in a["rows"]]
fb = [strip(b["totals"])] + [strip(r) for r in b["rows"]]
if fa != fb:
    bad = [(k, x.get(k), y.get(k)) for x, y in zip(fa, fb) for k in x if x.get(k) != y.get(k)]
    print("DIFFER " + json.dumps(bad[:3], ensure_ascii=False)[:600])
else:
    print("equal" + ("" if keep else " (but the online hours: the runs ended in different hours)"))
PY
)
    log "stats: $name: $A vs $B: $v"
    case "$v" in DIFFER*) exit 1 ;; esac
    same+=("$A/$B $name: $v")
done
done
{
say ""
say "== dustwatch statistics benchmark (scale=$SCALE) =="
say "source $rev ($dirty modified tracked files)  build $BUILD (release)  cpus=$(nproc)"
say "city: $E enterprises, $npoints points, $nhist points with ${DAYS} d of 5-min readings = $nread readings; rollups: $nroll; stats_day: $nday; stats_alarm_day + stats_warning_day: $nevent; $nhp monthly rollup_hour partitions"
say "caller: city_admin (all $E enterprises; dist: the district admin of 310113); $N sequential requests per statistic after 2 unmeasured"
say "answers compared: ${same[*]}"
say "snapshots: the four periods counted by \`dustwatch admin refresh-statistics\` in $(printf '%.2f' "$(echo "$t_snap1 - $t_snap0" | bc -l)") s; snap answers summed from them: ${nsnap:-0} (custom_30d has none: counted live)"
say "load average: before old $l_old0 | before new $l_new0 | before snap $l_snap0 | at end $l_end ($(nproc) cpus)"
say ""
printf '%-15s %9s %9s %9s %9s %6s %6s %9s %9s %6s  %-12s %9s %9s %9s %9s\n' statistic 'old p50' 'old p99' 'new p50' 'new p99' 'o/n' 'o/n' 'snap p50' 'snap p99' 'n/s' 'p99<=100ms' 'dist p50' 'dist p99' 'sdist p50' 'sdist p99'
for name in "${names[@]}"; do
    o50=0 o99=0 d50=0 d99=0 s50=0 s99=0 t50=0 t99=0
    read -r _ _ o50 o99 _ < <(awk -F'\t' -v n="$name" '$1 == "old" && $2 == n' "$OUT/stats.tsv") || true
    read -r _ _ n50 n99 _ < <(awk -F'\t' -v n="$name" '$1 == "new" && $2 == n' "$OUT/stats.tsv")
    read -r _ _ s50 s99 _ < <(awk -F'\t' -v n="$name" '$1 == "snap" && $2 == n' "$OUT/stats.tsv") || true
    read -r _ _ d50 d99 _ < <(awk -F'\t' -v n="$name" '$1 == "dist" && $2 == n' "$OUT/stats.tsv") || true
    read -r _ _ t50 t99 _ < <(awk -F'\t' -v n="$name" '$1 == "sdist" && $2 == n' "$OUT/stats.tsv") || true
    awk -v n="$name" -v a="$o50" -v b="$o99" -v c="$n50" -v d="$n99" -v e="$d50" -v f="$d99" -v g="$s50" -v h="$s99" -v i="$t50" -v j="$t99" 'BEGIN {
        printf "%-15s %9.1f %9.1f %9.1f %9.1f %6.1f %6.1f %9.1f %9.1f %6.1f  %-12s %9.1f %9.1f %9.1f %9.1f\n", n, a, b, c, d, c ? a/c : 0, d ? b/d : 0,
               g, h, h ? d/h : 0, (h ? h : d) <= 100 ? "MET" : "MISSED", e, f, i, j }'
done
say "(o/n: old over new, p50 then p99; n/s: new over snap at p99; p99<=100ms: snap's, new's without snap;"
say " dist: the district admin counted live, sdist: the same summed from the snapshot)"
say "(ms, wall clock on a shared machine: compare the ratios; the load average is the whole machine's)"
[ -s "$OUT/failed.txt" ] && say "!! requests that failed (counted at the time they took): $(sort "$OUT/failed.txt" | uniq -c | tr '\n' ';')"
say "results: $OUT/stats.tsv"
} | tee "$OUT/stats_report.txt"
exit 0
