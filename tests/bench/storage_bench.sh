#!/usr/bin/env bash
# Storage benchmark (issue 20: "bytes on disk per reading (heap + indexes + rollups) reported by
# the bench; aim <= 40 B per reading for raw data older than a week").  Not a timed test: it prints
# bytes per reading of the same readings before and after packing them (migration 0137), in one
# run on one throw-away database.
#
#   tests/bench/storage_bench.sh            200 points x 3 days of 10-second readings (5.2 million)
#   DW_STORAGE_POINTS=50 DW_STORAGE_DAYS=2 tests/bench/storage_bench.sh        (quick check)
#
# The readings: UTC days ending 9 days ago (older than readings_pack_after_days' default 8), every
# DW_STORAGE_CADENCE_S seconds (default 10) per point, values as sensors report them (a slow wave
# plus noise, one decimal), every 4th point with millisecond parts in its instants, the others on
# whole seconds, about 1 % of readings suspect or bad.  They are inserted through readings (its
# triggers fire) and rolled up as the worker does (dw_rollup_mark/dw_rollup_fill), then VACUUM
# ANALYZE.  Measured with pg_total_relation_size (heap, TOAST, every index, free-space and
# visibility maps):
#   before  the day partitions of readings
#   after   readings_packed, once dw_readings_pack_next packed every day (the worker's step)
# (steps of PACK_ROWS readings, as the worker runs them), each alone and with the hourly rollups (kept 1830 days, so every old reading carries its share)
# and with the minute rollups too, as rolled up;
#   kept    after the worker's minute retention step (dw_drop_rollup_partitions_before('minute',
#           today - rollup_minute_retention_days), the default of the binary measured: 7 since
#           migration 0139, which drops daily partitions; 14 before, monthly partitions that go
#           only once the whole month is older): what these days, 9 and more days old, still
#           carry under that retention.
# The packed answers are compared with the raw ones (dw_readings of every point and day, all
# columns): a difference fails the run.
#
# Only the schema is needed, so the binary of an existing build runs the migrations:
# DW_BENCH_BUILD=DIR (default <tree>/build).  Services: deploy/services.sh in a temp directory
# (DW_BENCH_KEEP=1 keeps it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
POINTS=${DW_STORAGE_POINTS:-200}
DAYS=${DW_STORAGE_DAYS:-3}
CADENCE=${DW_STORAGE_CADENCE_S:-10}
PACK_ROWS=300000 # readings per pack step, as the worker's job_retention.c
BUILD=${DW_BENCH_BUILD:-$root/build}
for v in POINTS DAYS CADENCE; do
    case "${!v}" in '' | *[!0-9]*) echo "$v must be a whole number" >&2; exit 2 ;; esac
done
[ "$POINTS" -ge 1 ] && [ "$DAYS" -ge 1 ] && [ "$DAYS" -le 30 ] && [ "$CADENCE" -ge 1 ] ||
    { echo "storage_bench: a knob is out of range" >&2; exit 2; }
BIN=$BUILD/dustwatch
[ -x "$BIN" ] || { echo "storage_bench: no $BIN (meson setup build && ninja -C build)" >&2; exit 2; }
# the retention the worker of this build applies by default
MINUTE_DAYS=$("$BIN" config | sed -n 's/^rollup_minute_retention_days = //p')
case "$MINUTE_DAYS" in '' | *[!0-9]*) echo "storage_bench: no rollup_minute_retention_days in '$BIN config'" >&2; exit 2 ;; esac

log() { printf '[storage-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
secs() { printf '%.1f' "$(echo "$2 - $1" | bc -l)"; }

log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cpus); source at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
tmp=$(mktemp -d /tmp/dwstoragebench.XXXXXX)
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
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

log "starting PostgreSQL + Redis in $tmp"
"$root/deploy/services.sh" start "$tmp" >/dev/null
set -a
# shellcheck disable=SC1091
. "$tmp/env"
set +a
PSQL=("$DW_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$DW_PG_PORT" -U dwadmin -d dustwatch)
sql() { "${PSQL[@]}" -At -F $'\t' -c "SELECT set_config('dw.scope', 'system', false)" "$@" | tail -n +2; }

log "migrating"
"$BIN" migrate >"$tmp/migrate.log" 2>&1 || { cat "$tmp/migrate.log" >&2; exit 1; }

# the first day: DAYS whole UTC days ending 9 days ago
day0=$(date -u -d "$(date -u +%F) - $((DAYS + 8)) days" +%F)
per_day=$((86400 / CADENCE))
log "fixture: $POINTS points x $DAYS days x $per_day readings from $day0"
t0=$(now)
sql -f - >/dev/null <<SQL
UPDATE rollup_state SET marked_to = '$day0'::date::timestamp AT TIME ZONE 'UTC',
                        rolled_to = '$day0'::date::timestamp AT TIME ZONE 'UTC';
SELECT dw_ensure_readings_partition(('$day0'::date + d)) FROM generate_series(0, $DAYS - 1) d;
SQL
for d in $(seq 0 $((DAYS - 1))); do
    sql -f - >/dev/null <<SQL
INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id)
SELECT p, ('$day0'::date + $d)::timestamp AT TIME ZONE 'UTC' + make_interval(secs => i * $CADENCE)
              + CASE WHEN p % 4 = 0 THEN ((p * 7919 + i * 104729) % 1000) * interval '1 millisecond' ELSE interval '0' END,
       round((400 + 150 * sin((i + $d * $per_day) / 720.0 + p) + 3 * random())::numeric, 1)::float8,
       CASE WHEN (p + i) % 211 = 0 THEN 2 WHEN (p + i) % 101 = 0 THEN 1 ELSE 0 END,
       1 + p / 20
FROM generate_series(1, $POINTS) p, generate_series(0, $per_day - 1) i;
SQL
done
t1=$(now)
n=$(sql -c "SELECT count(*) FROM readings")
log "fixture: $n readings inserted in $(secs "$t0" "$t1") s; rolling up"
for _ in $(seq $((DAYS + 12))); do
    left=$(sql -c "SELECT dw_rollup_mark('5 minutes', '1 day')" \
        -c "SELECT rolled_to < now() - interval '6 minutes' FROM dw_rollup_fill(100000)" | tail -n1)
    [ "$left" = t ] || break
done
sql -c "SELECT dw_rollup_fill(100000)" >/dev/null
[ "$(sql -c "SELECT count(*) FROM rollup_dirty")" = 0 ] || { log "late hours left"; exit 1; }
t2=$(now)
log "fixture: rolled up in $(secs "$t1" "$t2") s: $(sql -c "SELECT (SELECT count(*) FROM rollup_minute) || ' minute / ' || (SELECT count(*) FROM rollup_hour) || ' hour rows'")"
sql -c "VACUUM ANALYZE" >/dev/null
# the raw answers, to compare with the packed ones
sql -c "CREATE TABLE bench_raw AS SELECT p, r.* FROM generate_series(1, $POINTS) p,
        dw_readings(p, '$day0'::date::timestamp AT TIME ZONE 'UTC', ('$day0'::date + $DAYS)::timestamp AT TIME ZONE 'UTC') r" >/dev/null

sizes() {
    sql -c "SELECT $1, (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'rollup_hour'::regclass),
                  (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'rollup_minute'::regclass)"
}
before=$(sizes "(SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'readings'::regclass
                 AND inhrelid::regclass::text < 'readings_$(date -u -d "$day0 + $DAYS days" +%Y%m%d)')")

log "packing $DAYS days"
t3=$(now)
steps=0
while :; do
    row=$(sql -c "SELECT packed_day, packed_readings, point_days, day_done, waiting FROM dw_readings_pack_next('$(date -u -d "$day0 + $DAYS days" +%F)', $PACK_ROWS)")
    steps=$((steps + 1))
    case "$row" in
    $'\t'*) break ;; # no day left
    *$'\tt\t'*) log "  day packed: $row" ;;
    esac
done
t4=$(now)
left=$(sql -c "SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass
               AND inhrelid::regclass::text < 'readings_$(date -u -d "$day0 + $DAYS days" +%Y%m%d)'")
[ "$left" = 0 ] || { log "$left partitions left unpacked: $row"; exit 1; }
sql -c "VACUUM ANALYZE readings_packed" >/dev/null
after=$(sizes "pg_total_relation_size('readings_packed')")
diff=$(sql -c "SELECT count(*) FROM (SELECT * FROM bench_raw EXCEPT ALL SELECT p, r.* FROM generate_series(1, $POINTS) p,
        dw_readings(p, '$day0'::date::timestamp AT TIME ZONE 'UTC', ('$day0'::date + $DAYS)::timestamp AT TIME ZONE 'UTC') r) x")
[ "$diff" = 0 ] || { log "packed answers differ from the raw ones in $diff rows"; exit 1; }
# the worker's minute retention (job_rollup_retention): cutoff = the UTC day of now - N days
if [ "$MINUTE_DAYS" -gt 0 ]; then
    dropped=$(sql -c "SELECT dw_drop_rollup_partitions_before('minute', '$(date -u -d "now - $MINUTE_DAYS days" +%F)')")
else
    dropped=0
fi
kept=$(sizes "pg_total_relation_size('readings_packed')")
mleft=$(sql -c "SELECT count(*) FROM rollup_minute WHERE bucket < ('$day0'::date + $DAYS)::timestamp AT TIME ZONE 'UTC'")
log "minute retention ($MINUTE_DAYS days): $dropped partitions dropped, $mleft minute rows of these days left"
enc=$(sql -c "SELECT count(*) FILTER (WHERE offsets_ms IS NOT NULL) || ' ms / ' || count(*) FILTER (WHERE offsets_us IS NOT NULL) || ' us offsets, ' || count(*) FILTER (WHERE quals IS NOT NULL) || ' with qualities'  FROM readings_packed")

python3 - "$n" "$before" "$after" "$(secs "$t3" "$t4") s in $steps steps" "$enc" "$CADENCE" "$kept" \
    "$MINUTE_DAYS" "$mleft" <<'PY'
import sys
n = int(sys.argv[1])
b = [int(x) for x in sys.argv[2].split("\t")]
a = [int(x) for x in sys.argv[3].split("\t")]
k = [int(x) for x in sys.argv[7].split("\t")]
print(f"{n} readings at a {sys.argv[6]} s cadence; packed in {sys.argv[4]} ({sys.argv[5]})")
print(f"{'bytes per reading':40} {'partitions':>11} {'packed':>8} {'kept':>8}")
for label, c in (("readings alone", (0,)), ("+ hourly rollups", (0, 1)), ("+ hourly and minute rollups", (0, 1, 2))):
    print(f"{label:40} {sum(b[i] for i in c) / n:11.1f} {sum(a[i] for i in c) / n:8.1f} "
          f"{sum(k[i] for i in c) / n:8.1f}")
per = sum(k) / n
print(f"kept: packed, after the minute retention of this build ({sys.argv[8]} days): "
      f"{sys.argv[9]} minute rows of these days left")
print(f"aim <= 40 B per reading older than a week (heap + indexes + every rollup these days still carry): "
      f"{per:.1f} {'MET' if per <= 40 else 'NOT MET'}")
PY
log "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
