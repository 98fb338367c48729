/* Statistics: one set-based statement per request (db_stats.h).
 *
 * Parameters: $1/$2 scope, $3 from and $4 to (epoch seconds; from on a whole hour), $5 enterprise,
 * $6 district code, $7 street code, $8 industry code, $9 dust kind, $10 grade ('none': no risk
 * score yet), $11 group, $12 connected window (s).  $3..$7 are the cleaning-compliance CTE's.
 *
 * Definitions (server/README.md, "Statistics"):
 *   connected      every enabled mandatory point sent data within $12 seconds (now)
 *   online rate    point-hours with at least one reading / point-hours of the period (enabled
 *                  points, period [from, min(to, now)), hourly rollups + raw readings)
 *   points online  latest reading within 3 expected intervals (now, as the overview)
 *   interruptions  offline, enterprise-offline and gateway-offline alarms (not folded) that overlap
 *                  the period; hours = their overlap with it
 *   alarms         raised in [from, to); overdue as the alarm list's filter; handled on time =
 *                  handled by the handle deadline, of those handled or past it (folded ones aside)
 *   warnings       issued in [from, to); signed / cleared on time of those signed or past sign-by,
 *                  cleared or past clear-by; overdue as the warning list's filter
 *   escalations    escalate events in [from, to)
 *   cleaning       complete cleaning periods inside the period (as GET /cleaning/compliance)
 * $13 (stats_get*) is when the rollups ended (rollup_state.rolled_to, epoch s, NULL: none), $14
 * false for the online figures only (ALL_FIGURES); $15 and $16 the halves (PART_A, PART_NOW), $17
 * the snapshot whose points now to take (NOW_SNAPSHOT), $18 stats_event_day_state.covered_to
 * (EVENTS_DAYS; NULL: none). */
#include "db_stats.h"

#include "db_alarm_sql.h"
#include "db_cleaning_sql.h"
#include "db_connected_sql.h"
#include "db_filing_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"
#include "db_warning_sql.h"
#include "srv_buf.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The SQL below is laid out by hand, a clause or two per line: clang-format rewrapped its string
 * pieces mid-word. */
/* clang-format off */
#define UTC_ORIGIN "timestamptz '2000-01-01 00:00:00+00'"

/* open hazards (reported, planned, rectified, rejected: as db_hazards.c) */
#define HZ_OPEN "('reported', 'planned', 'rectified', 'rejected')"

/* A figure of a row is summed over its enterprises' pe rows (SUM), or, for a row that is one
 * enterprise (group=enterprise), is that pe row's (ONE): grouping 2,000 groups of one
 * enterprise each cost 2-7 ms of each half of a week by enterprise (EXPLAIN ANALYZE at 2,000
 * enterprises).
 * FIGS's S picks the set: S("x"), RATE_S, COUNT_S, CONNECTED_S. */
#define SUM(x) "coalesce(sum(pe." x "), 0)"
#define RATE_SUM(n, d)                                                                             \
    "CASE WHEN sum(pe." d ") > 0 THEN round(sum(pe." n ")::numeric / sum(pe." d "), 4) END"
#define COUNT_SUM     "count(*)"
#define CONNECTED_SUM "count(*) FILTER (WHERE pe.connected)"
#define ONE(x)        "pe." x
#define RATE_ONE(n, d) "CASE WHEN pe." d " > 0 THEN round(pe." n "::numeric / pe." d ", 4) END"
#define COUNT_ONE     "1"
#define CONNECTED_ONE "pe.connected::int"

/* The alarm kinds, in the order by_kind lists them: alarms_kind_check's list (test_schema.py
 * compares the two).  One column each, so the alarms are grouped once, by enterprise: grouped
 * by enterprise and kind, then again by group and kind for by_kind, they were a fifth of a
 * week by enterprise (EXPLAIN ANALYZE at 2,000 enterprises). */
#define ALARM_KINDS(X)                                                                             \
    X(digital_fault) X(enterprise_offline) X(frozen) X(gateway_fault) X(gateway_offline) X(high)   \
    X(high_high) X(low) X(low_low) X(offline) X(out_of_range) X(production_during_stop)            \
    X(rate_of_rise) X(spark) X(video)
#define KIND_COUNT(k) "count(*) FILTER (WHERE a.kind = '" #k "')::int AS k_" #k ", "
#define KIND_PE(k) "coalesce(alc.k_" #k ", 0) AS k_" #k ", "

/* The figures of a row (the totals or a group) over its pe rows, in the answer's order:
 * FA, FN and F(the JSON text before the value, the value's SQL): FA for those of part A
 * (PART_A), FN for the points now (PART_NOW), F for part B's; and K(the text before by_kind,
 * part B, whose value is one column per alarm kind).  PostgreSQL sums; the db layer writes the JSON around
 * the sums (stats_row_text), since json_build_object of ~40 figures per row was an eighth of a
 * week by enterprise (2,000 rows).  Every value is a number or NULL.  S: SUM over a group's pe
 * rows, or ONE, a row's own pe row (a row by enterprise; SUM above). */
#define FIGS(FA, FN, F, K, S)                                                                      \
    FA("{\"enterprises\":", COUNT_##S)                                                             \
    FN(",\"connected\":", CONNECTED_##S)                                                           \
    FN(",\"points\":", S("points"))                                                                \
    FN(",\"points_online\":", S("points_online"))                                                  \
    FA(",\"point_hours\":", S("hours_expected"))                                                   \
    FA(",\"point_hours_with_data\":", S("hours_with_data"))                                        \
    FA(",\"online_rate\":", RATE_##S("hours_with_data", "hours_expected"))                         \
    F(",\"interruptions\":{\"count\":", S("intr_n"))                                               \
    F(",\"hours\":", "round(" S("intr_hours") "::numeric, 2)")                                     \
    F("},\"alarms\":{\"total\":", S("al_n"))                                                       \
    F(",\"by_level\":{\"0\":", S("l0"))                                                            \
    F(",\"1\":", S("l1"))                                                                          \
    F(",\"2\":", S("l2"))                                                                          \
    K("},\"by_kind\":", S)                                                                         \
    F(",\"overdue\":", S("al_overdue"))                                                            \
    F(",\"handle_due\":", S("handle_due"))                                                         \
    F(",\"handled_on_time\":", S("handled_on_time"))                                               \
    F(",\"handled_on_time_rate\":", RATE_##S("handled_on_time", "handle_due"))                     \
    F("},\"warnings\":{\"total\":", S("w_n"))                                                      \
    F(",\"by_grade\":{\"blue\":", S("blue"))                                                       \
    F(",\"yellow\":", S("yellow"))                                                                 \
    F(",\"orange\":", S("orange"))                                                                 \
    F(",\"red\":", S("red"))                                                                       \
    F("},\"sign_due\":", S("sign_due"))                                                            \
    F(",\"signed_on_time\":", S("signed_on_time"))                                                 \
    F(",\"signed_on_time_rate\":", RATE_##S("signed_on_time", "sign_due"))                         \
    F(",\"clear_due\":", S("clear_due"))                                                           \
    F(",\"cleared_on_time\":", S("cleared_on_time"))                                               \
    F(",\"cleared_on_time_rate\":", RATE_##S("cleared_on_time", "clear_due"))                      \
    F(",\"overdue\":", S("w_overdue"))                                                             \
    F(",\"escalations\":", S("escalations"))                                                       \
    F("},\"cleaning\":{\"required\":", S("cl_required"))                                           \
    F(",\"done\":", S("cl_done"))                                                                  \
    F(",\"rate\":", RATE_##S("cl_done", "cl_required"))                                            \
    F("},\"hazards\":{\"found\":", S("hz_found"))                                                  \
    F(",\"found_major\":", S("hz_found_major"))                                                    \
    F(",\"closed\":", S("hz_closed"))                                                              \
    F(",\"closed_rate\":", RATE_##S("hz_closed", "hz_found"))                                      \
    F(",\"open\":", S("hz_open"))                                                                  \
    F(",\"open_major\":", S("hz_open_major"))                                                      \
    F(",\"overdue\":", S("hz_overdue"))                                                            \
    F(",\"overdue_major\":", S("hz_overdue_major"))
/* what closes the hazards object and the row */
#define FIGS_END "}}"
#define FIG_SQL(before, sql) ", " sql
#define KIND_SUM(k) ", " SUM("k_" #k)
#define KIND_ONE(k) ", " ONE("k_" #k)
#define KINDS_SQL(before, S) ALARM_KINDS(KIND_##S)
/* the result's columns: ord, head, key, code, name, then the figures */
#define STATS_FIRST_FIGURE 5

/* the enterprises in scope that the filters $5..$10 select */
#define STATS_ENTS                                                                                 \
    "ents AS (SELECT e.id, e.code, e.name, e.district_id, e.street_id, e.industry_code, "          \
        "e.dust_kinds, coalesce(er.grade, 'none') AS grade "                                       \
        "FROM enterprises e JOIN regions d ON d.id = e.district_id "                               \
        "LEFT JOIN regions s ON s.id = e.street_id "                                               \
        "LEFT JOIN enterprise_risk er ON er.enterprise_id = e.id "                                 \
        "WHERE " SCOPE_ENT("e") " AND ($5::bigint IS NULL OR e.id = $5::bigint) "                  \
        "AND ($6::text IS NULL OR d.code = $6) AND ($7::text IS NULL OR s.code = $7) "             \
        "AND " CLASS_INDUSTRY("e", "8") " AND " CLASS_DUST_KIND("e", "9") " "                     \
        "AND ($10::text IS NULL OR coalesce(er.grade, 'none') = $10))"

/* col's enterprise among ents, tested only when a filter ($5..$10) narrows ents: a row of an
 * enterprise outside ents is dropped where pe joins its CTE anyway, and row-level security has
 * already kept the scope's.  Unfiltered (custom plans see the NULLs), the semi-join is folded
 * away: hashing ents to probe a custom 30 days' 60,000 alarms was ~9 ms of its part B
 * (EXPLAIN ANALYZE at 2,000 enterprises). */
#define IN_ENTS(col)                                                                               \
    "($5::bigint IS NULL AND $6::text IS NULL AND $7::text IS NULL AND $8::text IS NULL "          \
    "AND $9::text IS NULL AND $10::text IS NULL OR " col " IN (SELECT ents.id FROM ents))"

/* a row's code and name from its group key g.key (a region id, a code, a grade); a row of an
 * enterprise takes them from ents (looked up per row, 2,000 of them under row-level security,
 * they were ~7 ms of a week by enterprise) */
#define KEY_REGION(col) "(SELECT r." col " FROM regions r WHERE r.id = nullif(g.key, '')::bigint)"
#define KEY_CODE                                                                                   \
    "CASE WHEN $11 IN ('district', 'street') THEN " KEY_REGION("code") " "                         \
    "ELSE g.key END"
#define KEY_NAME                                                                                   \
    "CASE WHEN $11 IN ('district', 'street') THEN " KEY_REGION("name") " "                         \
    "WHEN $11 = 'industry' THEN (SELECT l.zh FROM labels l WHERE l.domain = 'industry' AND "       \
        "l.code = g.key) "                                                                         \
    "WHEN $11 = 'dust_kind' THEN (SELECT k.name_zh FROM dust_kinds k WHERE k.code = g.key) "       \
    "ELSE (SELECT l.zh FROM labels l WHERE l.domain = 'grade' AND l.code = g.key) END"

/* Why the point-hours are counted by the rows' own enterprise_id, less the disabled points'
 * rows (points_disabled_idx, migration 0132), rather than joined to the enabled points: the
 * join read all 40,000 points of a city for every statistic (13 ms of a 90 ms day by
 * industry, EXPLAIN ANALYZE at 2,000 enterprises), where the disabled ones are a handful.
 * Rows of enterprises outside ents are dropped where pe joins them. */
#define MINUS_DISABLED(range)                                                                      \
    "SELECT h.enterprise_id, -count(*) FROM points p JOIN rollup_hour h ON h.point_id = p.id "     \
        "CROSS JOIN win CROSS JOIN hb " range " AND NOT p.enabled GROUP BY 1"

/* point-hours with data per enterprise (eid, n), the old way: every rollup row of the period
 * below hi (the raw part is the ph CTE) */
#define PHR_RAW_RANGE                                                                              \
    "WHERE h.bucket >= win.f AND h.bucket < hb.hi AND h.bucket >= to_timestamp($3::float8) "       \
    "AND h.bucket < to_timestamp($4::float8)"
#define PHR_RAW                                                                                    \
    "phr AS (SELECT u.eid, sum(u.n) AS n FROM ("                                                   \
        "SELECT h.enterprise_id AS eid, count(*) AS n FROM rollup_hour h "                         \
            "CROSS JOIN win CROSS JOIN hb " PHR_RAW_RANGE " "                                      \
            "AND h.enterprise_id IN (SELECT ents.id FROM ents) GROUP BY 1 "                        \
        "UNION ALL " MINUS_DISABLED(PHR_RAW_RANGE) ") u WHERE " PART_A " GROUP BY 1), "

/* The same from the day rollup (migration 0114): stats_day for the whole city days of the
 * period whose hours are below its watermark (ag: [a_lo, a_hi)), less the disabled points'
 * rows of those days; rollup_hour for the rest below hi: the edges of a custom range, the
 * hours past the watermark, and the days queued as stale. */
#define CITY_DAY_START(d) "((" d ")::timestamp AT TIME ZONE 'Asia/Shanghai')"
/* the rollup hours below hi that stats_day does not answer (for the disabled points' rows only:
 * a few points, each one index range) */
#define PHR_EDGES                                                                                  \
    "WHERE h.bucket >= win.f AND h.bucket < least(hb.hi, win.tq) AND " HOUR_IN_PERIOD("h") " "      \
    "AND (h.bucket < ag.a_lo OR "                                                                   \
    "h.bucket >= ag.a_hi OR EXISTS (SELECT 1 FROM stl WHERE h.bucket >= stl.s0 AND "               \
    "h.bucket < stl.s1))"
#define PHR_AGG                                                                                    \
    "ag0 AS (SELECT ((win.f AT TIME ZONE 'Asia/Shanghai') - interval '1 microsecond')::date + 1 "  \
        "AS lo_d, (win.tq AT TIME ZONE 'Asia/Shanghai')::date AS hi_d, "                           \
        "coalesce((SELECT covered_to FROM stats_day_state), '-infinity') AS cov, win.tq FROM win), "\
    /* a_hi is the watermark itself when the period reaches it: the row of the day it is in   \
     * holds that day's hours below it, the hours the period's last day needs (its start to   \
     * the watermark, read from rollup_hour, were a custom 30 days' trailing edge: 24,000 rows  \
     * on the bench's 2,000 reporting points, 480,000 at 40,000) */                              \
    "ag AS (SELECT ag0.lo_d, " CITY_DAY_START("ag0.lo_d") " AS a_lo, "                             \
        "greatest(" CITY_DAY_START("ag0.lo_d") ", CASE WHEN ag0.cov <= ag0.tq THEN ag0.cov "       \
        "ELSE " CITY_DAY_START("ag0.hi_d") " END) AS a_hi FROM ag0), "                             \
    "stl AS (SELECT st.day, " CITY_DAY_START("st.day") " AS s0, "                                  \
        "least(" CITY_DAY_START("st.day + 1") ", ag.a_hi) AS s1 "                                  \
        "FROM stats_day_stale st CROSS JOIN ag "                                                   \
        "WHERE st.day >= ag.lo_d AND " CITY_DAY_START("st.day") " < ag.a_hi), "                    \
    "phr AS (SELECT u.eid, sum(u.n) AS n FROM ("                                                   \
        "SELECT sd.enterprise_id AS eid, sd.point_hours::bigint AS n "                             \
            "FROM stats_day sd JOIN ents ON ents.id = sd.enterprise_id CROSS JOIN ag "             \
            "WHERE sd.day >= ag.lo_d AND " CITY_DAY_START("sd.day") " < ag.a_hi "                  \
            "AND NOT EXISTS (SELECT 1 FROM stl WHERE stl.day = sd.day) "                           \
        "UNION ALL SELECT p.enterprise_id, -count(*) FROM points p "                               \
            "JOIN ents ON ents.id = p.enterprise_id JOIN rollup_hour h ON h.point_id = p.id "      \
            "CROSS JOIN ag WHERE NOT p.enabled AND h.bucket >= ag.a_lo AND h.bucket < ag.a_hi "    \
            "AND " HOUR_IN_PERIOD("h") " "                                                         \
            "AND NOT EXISTS (SELECT 1 FROM stl WHERE h.bucket >= stl.s0 AND h.bucket < stl.s1) "   \
            "GROUP BY 1 "                                                                          \
        /* each part of the edges one index range (one condition ORing them read every rollup  \
         * row of the period: 750 ms a month) */                                                  \
        "UNION ALL SELECT h.enterprise_id, count(*) FROM rollup_hour h "                           \
            "CROSS JOIN win CROSS JOIN hb CROSS JOIN ag WHERE h.bucket >= win.f "                  \
            "AND h.bucket < least(ag.a_lo, hb.hi, win.tq) AND " HOUR_IN_PERIOD("h") " GROUP BY 1 " \
        "UNION ALL SELECT h.enterprise_id, count(*) FROM rollup_hour h "                           \
            "CROSS JOIN win CROSS JOIN hb CROSS JOIN ag WHERE h.bucket >= greatest(ag.a_hi, win.f) "\
            "AND h.bucket < least(hb.hi, win.tq) AND " HOUR_IN_PERIOD("h") " GROUP BY 1 "         \
        "UNION ALL SELECT h.enterprise_id, count(*) FROM stl JOIN rollup_hour h "                  \
            "ON h.bucket >= stl.s0 AND h.bucket < stl.s1 CROSS JOIN hb WHERE h.bucket < hb.hi "    \
            "AND " HOUR_IN_PERIOD("h") " "                                                         \
            "GROUP BY 1 "                                                                          \
        "UNION ALL " MINUS_DISABLED("CROSS JOIN ag " PHR_EDGES) ") u WHERE " PART_A " GROUP BY 1), "

/* A lower bound of hb.hi the planner can see ($13: rollup_state.rolled_to read just before the
 * statement, which only moves forward): hb.hi comes from a CTE, so without it the raw part was
 * planned as a scan of every readings partition of the period (84 ms of a month by district
 * with no raw reading to count, EXPLAIN ANALYZE at 2,000 enterprises). Redundant to hb.hi,
 * never narrower.  The raw tail from hb.hi reads the readings partitions directly: rolled_to
 * is minutes old and packed days are more than a week old (migration 0137); the late and
 * quarantined hours, which may be old, are read through dw_readings_call (RAW_HOURS). */
#define RAW_FROM_HINT                                                                              \
    "least(coalesce(date_bin('1 hour', to_timestamp($13::float8), " UTC_ORIGIN "), "               \
    "'-infinity'), date_bin('1 hour', to_timestamp($4::float8), " UTC_ORIGIN "))"
/* col in the period [from, to), with the bounds as the planner sees them (win.f and win.tq are
 * the same values, but from a CTE: planned blind, a month's 54,600 alarms were hashed to probe
 * them with the 2,000 enterprises instead of the other way round) */
#define IN_PERIOD(col) col " >= to_timestamp($3::float8) AND " col " < to_timestamp($4::float8)"
/* Every rollup_hour reference bounded by the period as the planner sees it (buckets on whole
 * hours, $3 too): bounded only through CTEs, each of the ~10 references planned a scan of every
 * monthly partition, ~60 after five years of hourly rollups (a week by enterprise, 58 extra
 * empty partitions: planning 15 -> 26 ms).  Redundant to the CTE bounds, never narrower. */
#define HOUR_IN_PERIOD(h) IN_PERIOD(h ".bucket")
/* the same for raw readings (so it plans only the period's partitions) */
#define RAW_IN_PERIOD IN_PERIOD("r.collected_at")

/* ph: the point-hours with data (point, enterprise, hour) the rollup rows below hb.hi do not
 * hold: the hour rolled_to is in (hb.hp) from its rollup rows, which hold every point that sent
 * data before rolled_to; raw readings from hb.raw_from (rolled_to then, else hb.hi), and the
 * dirty or quarantined hours below it without a rollup row; UNION merges a point-hour found
 * twice.  Read from raw readings, that hour was up to an hour of every point's readings (at
 * 40,000 points of 5-minute readings, 480,000 rows per statistic); from its rollup rows it is
 * one row per point, and the raw readings are those of the rollup lag (rollup_lag_s).  The
 * late hours' readings through dw_readings_call (migration 0150): inlined, their hour known
 * only at run time, dw_readings planned every day partition of the period. */
#define RAW_HOURS                                                                                  \
    "ph AS (SELECT r.point_id, r.enterprise_id AS eid, "                                           \
        "date_bin('1 hour', r.collected_at, " UTC_ORIGIN ") AS hr "                                \
        "FROM readings r CROSS JOIN win CROSS JOIN hb "                                            \
        "WHERE r.collected_at >= hb.raw_from AND r.collected_at < win.t AND " PART_A " "           \
        "AND " RAW_IN_PERIOD " "                                                                   \
        "AND r.collected_at >= " RAW_FROM_HINT " "                                                 \
    "UNION SELECT h.point_id, h.enterprise_id, h.bucket FROM rollup_hour h CROSS JOIN hb "         \
        "WHERE h.bucket = hb.hp AND " PART_A " AND " HOUR_IN_PERIOD("h") " "                       \
    "UNION SELECT x.point_id, r.enterprise_id, "                                                   \
        "date_bin('1 hour', r.collected_at, " UTC_ORIGIN ") "                                      \
        "FROM (SELECT point_id, hour FROM rollup_dirty "                                           \
            "UNION SELECT point_id, hour FROM rollup_quarantine) x "                               \
        "CROSS JOIN LATERAL dw_readings_call(x.point_id, x.hour, x.hour + interval '1 hour') r "   \
        "CROSS JOIN win CROSS JOIN hb WHERE x.hour >= win.f AND x.hour < hb.raw_from "             \
        "AND " PART_A " "                                                                          \
        "AND " RAW_IN_PERIOD " AND NOT EXISTS (SELECT 1 FROM rollup_hour h2 "                      \
            "WHERE h2.point_id = x.point_id AND h2.bucket = x.hour "                               \
            "AND " HOUR_IN_PERIOD("h2") ")), "

/* Point-hours under an approved filing (停产/检修/停用: approved, or ended early, within the
 * period it was in force) are left out of the online rate. */
/* fr: per covered enabled point the union of its filings' hours (range_agg merges overlapping
 * filings, so an hour counts once), fx: those as disjoint [lo, hi) of whole hours. fxc counts
 * per enterprise the hours and those with data as phr/ph do: rollup rows below hb.hi (one
 * index range per run of hours, not one probe per point-hour: a month of 40 filed enterprises
 * was 130,000 probes, half the statement's time), and the raw hours of ph, the same set the
 * online rate counts (from hb.hi on; dirty or quarantined hours without a rollup row), joined
 * as a set: probed per filed point, the raw tail and the late hours were two more index ranges
 * each, and the late hours' readings a plan of every day partition of the period (a custom 30
 * days' part A, with dw_readings_call: 18.5 -> 11.8 ms planning, 64.0 -> 59.6 ms execution,
 * EXPLAIN ANALYZE at 2,000 enterprises). Needs ph. */
#define FILING_HOURS                                                                               \
    "fr AS (SELECT p.id AS point_id, p.enterprise_id AS eid, range_agg(tstzrange("                 \
        "date_bin('1 hour', greatest(fl.starts_at, win.f), " UTC_ORIGIN "), "                      \
        "date_bin('1 hour', least(fl.ends_at, coalesce(fl.ended_at, fl.ends_at), win.t) "          \
            "- interval '1 microsecond', " UTC_ORIGIN ") + interval '1 hour')) AS mr "             \
        "FROM filings fl JOIN points p ON p.enterprise_id = fl.enterprise_id AND p.enabled "       \
        "CROSS JOIN win "                                                                          \
        /* a semi-join: joined, ents was scanned again for every filed point (213 ms of a       \
         * district's month) */                                                                    \
        "WHERE fl.enterprise_id IN (SELECT ents.id FROM ents) "                                    \
        "AND fl.status IN ('approved', 'ended') AND fl.starts_at < win.t "                         \
        "AND least(fl.ends_at, coalesce(fl.ended_at, fl.ends_at)) > win.f "                        \
        "AND " FILING_COVERS("fl", "p") " AND " PART_A " GROUP BY 1, 2), "                                        \
    "fx AS (SELECT fr.point_id, fr.eid, lower(x.r) AS lo, upper(x.r) AS hi "                       \
        "FROM fr CROSS JOIN LATERAL unnest(fr.mr) AS x(r)), "                                      \
    "fxc AS (SELECT u.eid, sum(u.n)::bigint AS n, sum(u.with_data) AS with_data FROM ("            \
        "SELECT fx.eid, extract(epoch FROM fx.hi - fx.lo) / 3600 AS n, rh.n AS with_data "         \
            "FROM fx CROSS JOIN hb CROSS JOIN LATERAL (SELECT count(*) AS n FROM rollup_hour h "   \
            "WHERE h.point_id = fx.point_id AND h.bucket >= fx.lo "                                \
            "AND h.bucket < least(fx.hi, hb.hi) AND " HOUR_IN_PERIOD("h") ") rh "                 \
        "UNION ALL SELECT fx.eid, 0, count(*) FROM fx JOIN ph ON ph.point_id = fx.point_id "       \
            "AND ph.hr >= fx.lo AND ph.hr < fx.hi GROUP BY 1) u GROUP BY 1), "

/* $14 false: the online figures only (points, point-hours, interruptions, hazards), as the
 * data-quality ranking reads them; alarms, warnings, escalations and cleaning are not counted
 * (a one-time filter: their CTEs are not run) and answer 0 */
#define ALL_FIGURES "$14::bool"

/* $15, the part of the figures to count: 'all', or 'a' or 'b' for half of them, the two halves
 * of one statistic being run at once on two connections over one snapshot (db_read_pair_plan),
 * i.e. on two cores.  Part A: the point-hours (phr, ph, the filings' hours, ptn); part B:
 * interruptions, alarms, warnings, hazards, escalations, cleaning; the points now with either
 * ($16).  FIGS says which figure is whose.  One-time filters: planned for one part, the other's CTEs are empty. */
#define PART_A "$15::text <> 'b'"
#define PART_B "$15::text <> 'a'"
/* $16, the part the points now (ptc: points, points online, connected; FN in FIGS) are counted
 * in, 'a' or 'b': whichever half is lighter without them (STATS_NOW_IN_A_S) */
#define PART_NOW "($15::text = 'all' OR $15::text = $16::text)"

/* The "now" figures per enterprise (db_connected_sql.h): points, points online (latest reading
 * within 3 expected intervals, as the overview), and the mandatory points that sent data within
 * $12 s (connected); in the part PART_NOW says. */
/* $17: the snapshot (migration 0152) whose stored points now to take instead (NULL: count them);
 * the caller names one only when it may answer (stats_live_params), and the statement checks
 * its window again, counting them when it no longer matches (the worker refilled it with
 * another one meanwhile).  The points now are the same for every period and cost 10-15 ms of
 * a custom 30 days' half (EXPLAIN ANALYZE at 2,000 enterprises); taken from the snapshot they
 * are as old as it is, which the head says (points_now_as_of). */
#define NOW_SNAPSHOT                                                                               \
    "EXISTS (SELECT 1 FROM stats_snapshots ns WHERE ns.period = $17::text "                        \
    "AND ns.connected_window_s = $12::int)"
#define POINTS_NOW                                                                                 \
    POINTS_NOW_CTE("ptl", PART_NOW " AND ($17::text IS NULL OR NOT " NOW_SNAPSHOT ")",            \
                   PART_NOW " AND ($17::text IS NULL OR NOT " NOW_SNAPSHOT ")", "$12::int") ", "  \
    "ptc AS (SELECT ptl.eid, ptl.points, ptl.points_online, " NOW_CONNECTED("ptl") " AS connected "\
        "FROM ptl UNION ALL SELECT r.enterprise_id, r.points, r.points_online, r.connected "       \
        "FROM stats_snapshot_rows r WHERE r.period = $17::text AND " PART_NOW " "                  \
        "AND " NOW_SNAPSHOT "), "                                                                  \
    /* when ptc is part B's, part A counts the point-hours expected from the enabled points      \
     * alone */                                                                                   \
    "ptn AS (SELECT p.enterprise_id AS eid, count(*) AS points FROM points p "                     \
        "WHERE p.enabled AND $15::text = 'a' AND $16::text = 'b' GROUP BY 1), "

/* Each half's statement (stats_get_a, stats_get_b) has the other half's CTEs replaced by empty
 * ones of the same columns, so that it plans only its own: with the other's CTEs filtered away
 * at run time (PART_A, PART_B) they were still planned, a week by enterprise's part B planning
 * 16 ms of which most was part A's rollup and readings partitions.  KEEP and STUB choose. */
#define KEEP(cte, stub) cte
#define STUB(cte, stub) stub
/* and the figures of the other half are not summed (NULL: db_stats_get_rows reads each figure
 * from its own half): ~30 of the ~55 sums per group row */
#define FIG_KEEP(before, sql)  FIG_SQL(before, sql)
#define FIG_STUB(before, sql)  ", NULL"
#define KINDS_KEEP(before, S)  KINDS_SQL(before, S)
#define KIND_NULL(k)           ", NULL"
#define KINDS_STUB(before, S)  ALARM_KINDS(KIND_NULL)
#define PHR_STUB "phr AS (SELECT NULL::bigint AS eid, NULL::numeric AS n WHERE false), "
#define FXC_STUB                                                                                   \
    "fxc AS (SELECT NULL::bigint AS eid, NULL::bigint AS n, NULL::numeric AS with_data "           \
    "WHERE false), "
#define PHC_STUB "phc AS (SELECT NULL::bigint AS eid, NULL::numeric AS n WHERE false), "
#define INTR_STUB "SELECT NULL::bigint AS eid, NULL::bigint AS n, NULL::numeric AS hours WHERE false"
#define KIND_STUB(k) "NULL::int AS k_" #k ", "
#define ALC_STUB                                                                                   \
    "SELECT NULL::bigint AS eid, NULL::int AS n, " ALARM_KINDS(KIND_STUB)                          \
    "NULL::bigint AS l0, NULL::bigint AS l1, NULL::bigint AS l2, NULL::bigint AS overdue, "        \
    "NULL::bigint AS due, NULL::bigint AS on_time WHERE false"
#define WR_STUB                                                                                    \
    "SELECT NULL::bigint AS eid, NULL::bigint AS n, NULL::bigint AS blue, NULL::bigint AS yellow, "\
    "NULL::bigint AS orange, NULL::bigint AS red, NULL::bigint AS sign_due, "                      \
    "NULL::bigint AS signed_on_time, NULL::bigint AS clear_due, NULL::bigint AS cleared_on_time, " \
    "NULL::bigint AS overdue WHERE false"
#define HZ_STUB                                                                                    \
    "SELECT NULL::bigint AS eid, NULL::bigint AS found, NULL::bigint AS found_major, "             \
    "NULL::bigint AS closed, NULL::bigint AS open, NULL::bigint AS open_major, "                   \
    "NULL::bigint AS overdue, NULL::bigint AS overdue_major WHERE false"
#define ESC_STUB "SELECT NULL::bigint AS eid, NULL::bigint AS n WHERE false"
#define CL_STUB                                                                                    \
    "SELECT NULL::bigint AS eid, NULL::numeric AS required, NULL::numeric AS done WHERE false"

/* The alarm figures per enterprise (alc: n, the kinds, the levels, overdue, due, on_time), live:
 * every alarm raised in the period through ~20 aggregates (the baseline's, stats_day_rollup=0). */
#define ALC_LIVE(PB)                                                                               \
    "alc AS (" PB("SELECT a.enterprise_id AS eid, count(*)::int AS n, " ALARM_KINDS(KIND_COUNT)    \
        "count(*) FILTER (WHERE a.level = 0) AS l0, "                                              \
        "count(*) FILTER (WHERE a.level = 1) AS l1, "                                              \
        "count(*) FILTER (WHERE a.level = 2) AS l2, "                                              \
        "count(*) FILTER (WHERE " ALARM_OVERDUE("a") ") AS overdue, "                              \
        "count(*) FILTER (WHERE a.folded_into IS NULL AND (a.handled_at IS NOT NULL "              \
            "OR a.handle_deadline < now())) AS due, "                                              \
        /* handled by the deadline: due (handled) without saying so again */                    \
        "count(*) FILTER (WHERE a.handled_at <= a.handle_deadline AND a.folded_into IS NULL) "     \
            "AS on_time "                                                                          \
        /* filtered, a semi-join: joined, a month's 60,000 alarms were hashed to be probed by  \
         * the 2,000 enterprises (a custom 30 days' part B: 72 -> 67 ms, EXPLAIN ANALYZE) */     \
        "FROM alarms a WHERE " IN_ENTS("a.enterprise_id") " "                                      \
        "AND " IN_PERIOD("a.raised_at") " AND " ALL_FIGURES " AND " PART_B " GROUP BY 1",          \
        ALC_STUB) "), "

/* The same from the running totals per enterprise and city day (stats_alarm_day, migration
 * 0155), which hold what does not move with the clock: alarms by kind and level, not folded,
 * handled on time.  The period's whole city days below its watermark ([AD_LO, AD_HI)) are
 * the totals at AD_HI - 1 less those at AD_LO - 1, two rows per enterprise; a day queued stale
 * (acs) has its own counts (its totals less the day before's) taken out and is counted live;
 * the edges (from to the first whole day, from the last one to `to`: the whole period when no
 * day is whole or counted) are counted live, each one index range (alarms_raised_idx).
 * Overdue and due move with the clock: overdue from the unfinished alarms, due as the unfolded
 * ones less those not due yet (alarms_pending_idx), both few.  The 60,000 alarms of a custom 30 days through ~20
 * aggregates were ~37 ms of its alarm half (EXPLAIN ANALYZE at 2,000 enterprises). */
#define DAY_KIND_POS(k) ", s.k_" #k
#define DAY_KIND_NEG(k) ", -s.k_" #k
#define DAY_KIND_NAME(k) ", k_" #k
#define DAY_KIND_LIVE(k) ", count(*) FILTER (WHERE a.kind = '" #k "')::int"
#define DAY_KIND_ZERO(k) ", 0"
#define DAY_KIND_SUM(k) "sum(u.k_" #k ")::int AS k_" #k ", "
#define DAY_POS "s.n" ALARM_KINDS(DAY_KIND_POS) ", s.l0, s.l1, s.l2, s.unfolded, s.on_time, 0, 0"
#define DAY_NEG                                                                                    \
    "-s.n" ALARM_KINDS(DAY_KIND_NEG) ", -s.l0, -s.l1, -s.l2, -s.unfolded, -s.on_time, 0, 0"
#define DAY_LIVE                                                                                   \
    "count(*)::int" ALARM_KINDS(DAY_KIND_LIVE) ", count(*) FILTER (WHERE a.level = 0)::int, "      \
    "count(*) FILTER (WHERE a.level = 1)::int, count(*) FILTER (WHERE a.level = 2)::int, "         \
    "count(*) FILTER (WHERE a.folded_into IS NULL)::int, "                                         \
    "count(*) FILTER (WHERE a.handled_at <= a.handle_deadline AND a.folded_into IS NULL)::int, "   \
    "0, 0"
#define DAY_ZERO "0" ALARM_KINDS(DAY_KIND_ZERO) ", 0, 0, 0, 0, 0"
/* the columns an edge's alarms are counted by */
#define EDGE_COLS "a.enterprise_id, a.kind, a.level, a.folded_into, a.handled_at, a.handle_deadline"
/* the period's whole city days counted there, [AD_LO, AD_HI) (none unless AD_WHOLE), and the
 * edges' bounds: constants to the planner ($18 is covered_to, read with $13), so that each
 * part is one index range (from a CTE, both day lookups scanned all of stats_alarm_day and
 * the edges all of alarms) */
#define AD_LO "(((to_timestamp($3::float8) AT TIME ZONE 'Asia/Shanghai') - interval '1 microsecond')::date + 1)"
#define AD_HI                                                                                      \
    "least((to_timestamp($4::float8) AT TIME ZONE 'Asia/Shanghai')::date, "                        \
    "coalesce($18::date, '-infinity'::date))"
#define AD_WHOLE "(" AD_HI " > " AD_LO ")"
#define AD_EDGE(d) "CASE WHEN " AD_WHOLE " THEN " CITY_DAY_START(d) " ELSE to_timestamp($3::float8) END"
/* A table of running totals per enterprise and city day (tbl): the period's whole days, as
 * the totals at AD_HI - 1 (pos: its columns) less those at AD_LO - 1 (neg: negated), and the
 * stale days' own counts taken out (acs) */
#define DAY_TOTALS(tbl, pos, neg)                                                                  \
    "SELECT s.enterprise_id, " pos " FROM " tbl " s "                                              \
        "WHERE " AD_WHOLE " AND s.day = " AD_HI " - 1 "                                            \
    "UNION ALL SELECT s.enterprise_id, " neg " FROM " tbl " s "                                    \
        "WHERE " AD_WHOLE " AND s.day = " AD_LO " - 1 "                                            \
    "UNION ALL SELECT s.enterprise_id, " neg " FROM acs JOIN " tbl " s ON s.day = acs.day "        \
    "UNION ALL SELECT s.enterprise_id, " pos " FROM acs JOIN " tbl " s ON s.day = acs.day - 1 "
/* the rows (cols) of table t (alias x, time column at) counted live: the period's edges and
 * its stale days */
#define DAY_EDGES(cols, t, x, at)                                                                  \
    "SELECT " cols " FROM " t " " x " WHERE " x "." at " < " AD_EDGE(AD_LO) " "                    \
        "AND " IN_PERIOD(x "." at) " "                                                             \
    "UNION ALL SELECT " cols " FROM " t " " x " WHERE " x "." at " >= " AD_EDGE(AD_HI) " "         \
        "AND " IN_PERIOD(x "." at) " "                                                             \
    "UNION ALL SELECT " cols " FROM acs JOIN " t " " x " "                                         \
        "ON " x "." at " >= " CITY_DAY_START("acs.day") " "                                        \
        "AND " x "." at " < " CITY_DAY_START("acs.day + 1") " WHERE " IN_PERIOD(x "." at)
#define ALC_DAYS(PB)                                                                               \
    "acs AS (SELECT st.day FROM stats_event_day_stale st "                                         \
        "WHERE " AD_WHOLE " AND st.day >= " AD_LO " AND st.day < " AD_HI "), "                     \
    "alc AS (" PB("SELECT u.eid, sum(u.n)::int AS n, " ALARM_KINDS(DAY_KIND_SUM)                   \
        "sum(u.l0) AS l0, sum(u.l1) AS l1, sum(u.l2) AS l2, sum(u.overdue) AS overdue, "           \
        "sum(u.unfolded) - sum(u.pending) AS due, sum(u.on_time) AS on_time FROM ("                \
        DAY_TOTALS("stats_alarm_day", DAY_POS, DAY_NEG) " "                                        \
        "UNION ALL SELECT a.enterprise_id, " DAY_LIVE " FROM ("                                    \
            DAY_EDGES(EDGE_COLS, "alarms", "a", "raised_at") ") a GROUP BY 1 "                     \
        "UNION ALL SELECT a.enterprise_id, " DAY_ZERO ", count(*)::int, 0 FROM alarms a "          \
            "WHERE " ALARM_OVERDUE("a") " AND " IN_PERIOD("a.raised_at") " GROUP BY 1 "            \
        "UNION ALL SELECT a.enterprise_id, " DAY_ZERO ", 0, count(*)::int FROM alarms a "          \
            "WHERE a.handled_at IS NULL AND a.folded_into IS NULL AND a.handle_deadline >= now() " \
            "AND " IN_PERIOD("a.raised_at") " GROUP BY 1"                                          \
        ") u (eid, n" ALARM_KINDS(DAY_KIND_NAME) ", l0, l1, l2, unfolded, on_time, overdue, "      \
        "pending) WHERE " ALL_FIGURES " AND " PART_B " GROUP BY 1", ALC_STUB) "), "

/* The warning figures per enterprise (wr), live: every warning issued in the period (the
 * baseline's, stats_day_rollup=0). */
#define WR_LIVE(PB)                                                                                \
    "wr AS (" PB("SELECT w.enterprise_id AS eid, count(*) AS n, "                                        \
        "count(*) FILTER (WHERE w.grade = 'blue') AS blue, "                                       \
        "count(*) FILTER (WHERE w.grade = 'yellow') AS yellow, "                                   \
        "count(*) FILTER (WHERE w.grade = 'orange') AS orange, "                                   \
        "count(*) FILTER (WHERE w.grade = 'red') AS red, "                                         \
        "count(*) FILTER (WHERE w.signed_at IS NOT NULL OR w.sign_by < now()) AS sign_due, "       \
        "count(*) FILTER (WHERE w.signed_at <= w.sign_by) AS signed_on_time, "                     \
        "count(*) FILTER (WHERE w.cleared_at IS NOT NULL OR w.clear_by < now()) AS clear_due, "    \
        "count(*) FILTER (WHERE w.cleared_at <= w.clear_by) AS cleared_on_time, "                  \
        "count(*) FILTER (WHERE " WARN_OVERDUE("w") ") AS overdue "                                \
        "FROM warnings w WHERE " IN_ENTS("w.enterprise_id") " "                     \
        "AND " IN_PERIOD("w.issued_at") " AND " ALL_FIGURES " AND " PART_B " GROUP BY 1", WR_STUB) "), "

/* The same from the running totals per enterprise and city day (stats_warning_day, migration
 * 0156), as ALC_DAYS does with the alarms': the whole days [AD_LO, AD_HI) from two rows per
 * enterprise, a stale day (acs) and the edges live.  Kept there is what does not move with the
 * clock: issued, by grade, signed, signed on time, cleared, cleared on time.  Not signed and
 * past sign-by, not cleared and past clear-by, and overdue move with it: counted over the
 * warnings not cleared (warnings_open_idx: one per enterprise and cause), among them every
 * warning not signed (a cleared one was signed: the warnings' status checks).  The 20,000
 * warnings of a custom 30 days through 11 aggregates were 16 ms of its part B's 48 (EXPLAIN
 * ANALYZE at 2,000 enterprises). */
#define WD_COLS "n, blue, yellow, orange, red, signed, signed_on_time, cleared, cleared_on_time"
#define WD_POS                                                                                     \
    "s.n, s.blue, s.yellow, s.orange, s.red, s.signed, s.signed_on_time, s.cleared, "              \
    "s.cleared_on_time, 0, 0, 0"
#define WD_NEG                                                                                     \
    "-s.n, -s.blue, -s.yellow, -s.orange, -s.red, -s.signed, -s.signed_on_time, -s.cleared, "      \
    "-s.cleared_on_time, 0, 0, 0"
#define WD_LIVE                                                                                    \
    "count(*)::int, count(*) FILTER (WHERE w.grade = 'blue')::int, "                               \
    "count(*) FILTER (WHERE w.grade = 'yellow')::int, "                                            \
    "count(*) FILTER (WHERE w.grade = 'orange')::int, "                                            \
    "count(*) FILTER (WHERE w.grade = 'red')::int, "                                               \
    "count(*) FILTER (WHERE w.signed_at IS NOT NULL)::int, "                                       \
    "count(*) FILTER (WHERE w.signed_at <= w.sign_by)::int, "                                      \
    "count(*) FILTER (WHERE w.cleared_at IS NOT NULL)::int, "                                      \
    "count(*) FILTER (WHERE w.cleared_at <= w.clear_by)::int, 0, 0, 0"
/* the columns an edge's warnings are counted by */
#define WD_EDGE_COLS "w.enterprise_id, w.grade, w.signed_at, w.sign_by, w.cleared_at, w.clear_by"
#define WR_DAYS(PB)                                                                                \
    "wr AS (" PB("SELECT u.eid, sum(u.n) AS n, sum(u.blue) AS blue, sum(u.yellow) AS yellow, "     \
        "sum(u.orange) AS orange, sum(u.red) AS red, sum(u.signed) + sum(u.sign_late) AS sign_due, "\
        "sum(u.signed_on_time) AS signed_on_time, sum(u.cleared) + sum(u.clear_late) AS clear_due, "\
        "sum(u.cleared_on_time) AS cleared_on_time, sum(u.overdue) AS overdue FROM ("               \
        DAY_TOTALS("stats_warning_day", WD_POS, WD_NEG) " "                                        \
        "UNION ALL SELECT w.enterprise_id, " WD_LIVE " FROM ("                                     \
            DAY_EDGES(WD_EDGE_COLS, "warnings", "w", "issued_at") ") w GROUP BY 1 "                \
        "UNION ALL SELECT w.enterprise_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, "                            \
            "count(*) FILTER (WHERE w.signed_at IS NULL AND w.sign_by < now())::int, "             \
            "count(*) FILTER (WHERE w.clear_by < now())::int, "                                    \
            "count(*) FILTER (WHERE " WARN_OVERDUE("w") ")::int FROM warnings w "                  \
            "WHERE w.status <> 'cleared' AND " IN_PERIOD("w.issued_at") " GROUP BY 1"              \
        ") u (eid, " WD_COLS ", sign_late, clear_late, overdue) "                                  \
        "WHERE " ALL_FIGURES " AND " PART_B " GROUP BY 1", WR_STUB) "), "

/* The event figures (alarms, warnings): live, or from the running totals per day */
#define EVENTS_LIVE(PB) ALC_LIVE(PB) WR_LIVE(PB)
#define EVENTS_DAYS(PB) ALC_DAYS(PB) WR_DAYS(PB)

/* rollups below hi (complete hours), raw readings from hi and in hours the rollups do not hold
 * yet (late readings, quarantine), counted per enterprise without deduplicating the rollup rows
 * (sorting every point-hour of the period was most of the cost): rollup rows below hi, plus
 * the raw hours the rollups do not hold (from hi on; dirty or quarantined hours without a
 * rollup row), which are disjoint */
#define STATS_CTES(phr, events, PA, PB)                                                                        \
    COMPLIANCE_CTE ", "                                                                            \
    /* $13 and $14 named here as well: a half's statement may use either in no other place */   \
    "win AS (SELECT to_timestamp($3::float8) AS f, "                                               \
        "least(to_timestamp($4::float8), now()) AS t, to_timestamp($4::float8) AS tq, "            \
        "$13::float8 AS rolled_hint, $14::bool AS all_figures, $18::date AS alarm_days_to, "       \
        /* when the points now were counted (NOW_SNAPSHOT) */                                      \
        "coalesce((SELECT ns.computed_at FROM stats_snapshots ns WHERE ns.period = $17::text "     \
            "AND ns.connected_window_s = $12::int), now()) AS now_at), "                           \
    STATS_ENTS ", "                                                                                \
    /* hi: rollup rows below it are whole hours; hp: the hour rolled_to is in, when the period  \
     * holds all of its rolled-up part (its rows then say which points sent data before       \
     * rolled_to), else NULL; raw_from: where raw readings take over (RAW_HOURS) */             \
    "hb1 AS (SELECT greatest(win.f, date_bin('1 hour', least(win.t, r.rolled), " UTC_ORIGIN      \
        ")) AS hi, r.rolled, win.t FROM win CROSS JOIN (SELECT coalesce((SELECT rolled_to "        \
        "FROM rollup_state), '-infinity') AS rolled) r), "                                         \
    "hb AS (SELECT hb1.hi, CASE WHEN hb1.rolled > hb1.hi AND hb1.rolled <= hb1.t THEN hb1.hi END " \
        "AS hp, CASE WHEN hb1.rolled > hb1.hi AND hb1.rolled <= hb1.t THEN hb1.rolled "           \
        "ELSE hb1.hi END AS raw_from FROM hb1), "                                                  \
    PA(phr, PHR_STUB) PA(RAW_HOURS, "") PA(FILING_HOURS, FXC_STUB) POINTS_NOW                                        \
    PA("phc AS (SELECT eid, sum(n) AS n FROM (SELECT eid, n FROM phr "                                \
        "UNION ALL SELECT ph.eid, count(*) FROM ph WHERE NOT EXISTS (SELECT 1 FROM points d "      \
            "WHERE d.id = ph.point_id AND NOT d.enabled) GROUP BY 1) u WHERE " PART_A " "          \
        "GROUP BY 1), "                                                                        \
    , PHC_STUB)                                                                                    \
    "intr AS (" PB("SELECT a.enterprise_id AS eid, count(*) AS n, sum(extract(epoch FROM "               \
        "least(coalesce(a.cleared_at, win.t), win.t) - greatest(a.raised_at, win.f))) / 3600.0 "   \
        "AS hours FROM alarms a JOIN ents ON ents.id = a.enterprise_id CROSS JOIN win "            \
        "WHERE a.kind IN ('offline', 'enterprise_offline', 'gateway_offline') "                    \
        "AND a.folded_into IS NULL AND a.raised_at < win.t "                                       \
        "AND coalesce(a.cleared_at, 'infinity') > win.f AND " PART_B " GROUP BY 1", INTR_STUB) "), "                             \
    events(PB)                                                                                     \
    "hz AS (" PB("SELECT h.enterprise_id AS eid, "                                                       \
        "count(*) FILTER (WHERE h.found_at >= win.f AND h.found_at < win.tq "                      \
            "AND h.status NOT IN ('proposed', 'dismissed')) AS found, "                            \
        "count(*) FILTER (WHERE h.found_at >= win.f AND h.found_at < win.tq "                      \
            "AND h.status NOT IN ('proposed', 'dismissed') AND h.kind = 'major') AS found_major, " \
        "count(*) FILTER (WHERE h.found_at >= win.f AND h.found_at < win.tq "                      \
            "AND h.status = 'closed') AS closed, "                                                 \
        "count(*) FILTER (WHERE h.status IN " HZ_OPEN ") AS open, "                                \
        "count(*) FILTER (WHERE h.status IN " HZ_OPEN " AND h.kind = 'major') AS open_major, "     \
        "count(*) FILTER (WHERE h.status IN " HZ_OPEN " AND h.deadline < now()) AS overdue, "      \
        "count(*) FILTER (WHERE h.status IN " HZ_OPEN " AND h.deadline < now() "                   \
            "AND h.kind = 'major') AS overdue_major "                                              \
        "FROM hazards h JOIN ents ON ents.id = h.enterprise_id CROSS JOIN win "                    \
        "WHERE h.status NOT IN ('proposed', 'dismissed') AND " PART_B " GROUP BY 1", HZ_STUB) "), "                            \
    "esc AS (" PB("SELECT ev.enterprise_id AS eid, count(*) AS n FROM warning_events ev "                \
        "JOIN ents ON ents.id = ev.enterprise_id "                                                 \
        "WHERE ev.action = 'escalate' AND " IN_PERIOD("ev.at") " AND " ALL_FIGURES " AND " PART_B " "             \
        "GROUP BY 1", ESC_STUB) "), "                                                                            \
    "cl AS (" PB("SELECT pa.enterprise_id AS eid, sum(pa.required) AS required, "                        \
        "sum(pa.done) AS done FROM pa JOIN ents ON ents.id = pa.enterprise_id "                    \
        "WHERE " ALL_FIGURES " AND " PART_B " GROUP BY 1", CL_STUB) "), "                                                      \
    /* the counts as int: sum(int) adds in int8, sum(bigint) in numeric, and every group row   \
     * sums ~30 of them (week by enterprise, 2,000 groups: ~10 ms, EXPLAIN ANALYZE) */           \
    "pe AS (SELECT ents.id, coalesce(ptc.points, 0)::int AS points, "                              \
        "coalesce(ptc.points_online, 0)::int AS points_online, "                                   \
        "coalesce(ptc.connected, false) AS connected, "                                            \
        "coalesce(ptn.points, ptc.points, 0) * (SELECT greatest(ceil(extract(epoch FROM "          \
            "win.t - win.f) "                                                                      \
            "/ 3600), 0) FROM win) - coalesce(fxc.n, 0) AS hours_expected, "                       \
        "coalesce(phc.n, 0) - coalesce(fxc.with_data, 0) AS hours_with_data, "                     \
        "coalesce(intr.n, 0)::int AS intr_n, coalesce(intr.hours, 0) AS intr_hours, "              \
        "coalesce(alc.n, 0)::int AS al_n, coalesce(alc.l0, 0)::int AS l0, "                        \
        "coalesce(alc.l1, 0)::int AS l1, "                                                         \
        "coalesce(alc.l2, 0)::int AS l2, coalesce(alc.overdue, 0)::int AS al_overdue, "            \
        "coalesce(alc.due, 0)::int AS handle_due, "                                                \
        "coalesce(alc.on_time, 0)::int AS handled_on_time, "                                       \
        ALARM_KINDS(KIND_PE)                                                                       \
        "coalesce(wr.n, 0)::int AS w_n, coalesce(wr.blue, 0)::int AS blue, "                       \
        "coalesce(wr.yellow, 0)::int AS yellow, coalesce(wr.orange, 0)::int AS orange, "           \
        "coalesce(wr.red, 0)::int AS red, coalesce(wr.sign_due, 0)::int AS sign_due, "             \
        "coalesce(wr.signed_on_time, 0)::int AS signed_on_time, "                                  \
        "coalesce(wr.clear_due, 0)::int AS clear_due, "                                            \
        "coalesce(wr.cleared_on_time, 0)::int AS cleared_on_time, "                                \
        "coalesce(wr.overdue, 0)::int AS w_overdue, coalesce(esc.n, 0)::int AS escalations, "      \
        "coalesce(cl.required, 0)::int AS cl_required, coalesce(cl.done, 0)::int AS cl_done, "     \
        "coalesce(hz.found, 0)::int AS hz_found, "                                                 \
        "coalesce(hz.found_major, 0)::int AS hz_found_major, "                                     \
        "coalesce(hz.closed, 0)::int AS hz_closed, coalesce(hz.open, 0)::int AS hz_open, "         \
        "coalesce(hz.open_major, 0)::int AS hz_open_major, "                                       \
        "coalesce(hz.overdue, 0)::int AS hz_overdue, "                                             \
        "coalesce(hz.overdue_major, 0)::int AS hz_overdue_major "                                  \
        "FROM ents LEFT JOIN ptc ON ptc.eid = ents.id LEFT JOIN ptn ON ptn.eid = ents.id "         \
        "LEFT JOIN fxc ON fxc.eid = ents.id "                                                      \
        "LEFT JOIN hz ON hz.eid = ents.id LEFT JOIN phc ON phc.eid = ents.id "                     \
        "LEFT JOIN intr ON intr.eid = ents.id LEFT JOIN alc ON alc.eid = ents.id "                 \
        "LEFT JOIN wr ON wr.eid = ents.id LEFT JOIN esc ON esc.eid = ents.id "                     \
        "LEFT JOIN cl ON cl.eid = ents.id)"
/* The answer from pe (per enterprise in ents, its figures): the totals, then the groups' rows.
 * PA and PB as STATS_CTES's (a half's statement does not sum the other half's figures). */
#define STATS_TAIL(PA, PB, HEAD_IF)                                                                \
    /* an enterprise of several dust kinds counts once in each of their rows (by enterprise:  \
     * the last arm below) */                                                                    \
    "g AS (SELECT ents.id AS eid, k.key "                                                          \
        "FROM ents CROSS JOIN LATERAL unnest(CASE $11 "                                            \
        "WHEN 'dust_kind' THEN CASE WHEN cardinality(ents.dust_kinds) = 0 THEN ARRAY[''] "         \
            "ELSE ents.dust_kinds END "                                                            \
        "ELSE ARRAY[CASE $11 WHEN 'district' THEN ents.district_id::text "                         \
            "WHEN 'street' THEN coalesce(ents.street_id::text, '') "                               \
            "WHEN 'industry' THEN ents.industry_code "                                             \
            "WHEN 'grade' THEN ents.grade ELSE '' END] END) AS k(key) "                            \
        "WHERE $11 NOT IN ('none', 'enterprise')) "                                                \
    /* the answer as rows (db_stats_rows): first the totals with the head (everything but the   \
     * figures) as JSON, then one row per group with its key, code and name */                     \
    "SELECT 0 AS ord, (SELECT json_build_object('from', win.f, 'to', win.tq, "                     \
        "'computed_to', win.t, 'points_now_as_of', win.now_at, 'group', $11, "                     \
        "'connected_window_s', $12::int)::text FROM win), "                                        \
        "NULL::text AS key, NULL::text AS code, NULL::text AS name " FIGS(FIG_##PA, FIG_SQL, FIG_##PB, KINDS_##PB, SUM) " "  \
        "FROM pe " HEAD_IF " "                                                                     \
    "UNION ALL SELECT 1, NULL, g.key, " KEY_CODE ", " KEY_NAME " " FIGS(FIG_##PA, FIG_SQL, FIG_##PB, KINDS_##PB, SUM) " "    \
        "FROM g JOIN pe ON pe.id = g.eid GROUP BY g.key "                                          \
    "UNION ALL SELECT 1, NULL, ents.id::text, ents.code, ents.name " FIGS(FIG_##PA, FIG_SQL, FIG_##PB, KINDS_##PB, ONE) " " \
        "FROM ents JOIN pe ON pe.id = ents.id WHERE $11 = 'enterprise' "                           \
    "ORDER BY 1, 4, 3"
#define STATS_GET(phr, events, PA, PB) STATS_CTES(phr, events, PA, PB) ", " STATS_TAIL(PA, PB, "")

/* Snapshots (migration 0152): pe of a whole period for every enterprise, stored by the worker
 * every stats_snapshot_s under the period's name ($19), so that the dashboard's periods (today,
 * this week, this month, last month) are summed from 2,000 stored rows instead of counted.
 * Filled with STATS_GET's own CTEs as the system scope (the filters NULL, $11 'none'), after
 * the period's old rows are deleted in the same transaction (stats_snapshot_clear); read under
 * the caller's scope, its ents choosing the rows. */
#define SNAPSHOT_FILL                                                                              \
    STATS_CTES(PHR_AGG, EVENTS_DAYS, KEEP, KEEP) ", "                                                         \
    "hdr AS (INSERT INTO stats_snapshots (period, period_from, period_to, connected_window_s, "    \
        "computed_at) SELECT $19::text, to_timestamp($3::float8), to_timestamp($4::float8), "      \
        "$12::int, now() WHERE $11::text = 'none' ON CONFLICT (period) DO UPDATE SET "             \
        "period_from = EXCLUDED.period_from, period_to = EXCLUDED.period_to, "                     \
        "connected_window_s = EXCLUDED.connected_window_s, computed_at = EXCLUDED.computed_at "    \
        "RETURNING period) "                                                                       \
    "INSERT INTO stats_snapshot_rows SELECT hdr.period, pe.* FROM hdr CROSS JOIN pe"
/* $13: the period's name (stats_snapshot_find).  Its bounds and window are checked again: the
 * worker may have moved it on since (midnight); then the statement answers no row at all (the
 * head's HAVING) and the statistic is counted live.  computed_to is when it was counted. */
#define SNAPSHOT_GET                                                                               \
    "WITH snap AS (SELECT computed_at FROM stats_snapshots WHERE period = $13::text "              \
        "AND period_from = to_timestamp($3::float8) AND period_to = to_timestamp($4::float8) "     \
        "AND connected_window_s = $12::int), "                                                     \
    "win AS (SELECT to_timestamp($3::float8) AS f, "                                               \
        "least(to_timestamp($4::float8), (SELECT computed_at FROM snap)) AS t, "                   \
        "to_timestamp($4::float8) AS tq, (SELECT computed_at FROM snap) AS now_at), "              \
    STATS_ENTS ", "                                                                                \
    "pe AS (SELECT r.enterprise_id AS id, r.* FROM stats_snapshot_rows r "                         \
        "WHERE r.period = $13::text AND EXISTS (SELECT 1 FROM snap) "                              \
        "AND r.enterprise_id IN (SELECT ents.id FROM ents)), "                                     \
    STATS_TAIL(KEEP, KEEP, "HAVING EXISTS (SELECT 1 FROM snap)")
/* clang-format on */

static const db_stmt statements[] = {
    {"stats_get", STATS_GET(PHR_RAW, EVENTS_LIVE, KEEP, KEEP)},
    {"stats_get_a", STATS_GET(PHR_RAW, EVENTS_LIVE, KEEP, STUB)},
    {"stats_get_b", STATS_GET(PHR_RAW, EVENTS_LIVE, STUB, KEEP)},
    {"stats_get_agg", STATS_GET(PHR_AGG, EVENTS_DAYS, KEEP, KEEP)},
    {"stats_get_agg_a", STATS_GET(PHR_AGG, EVENTS_DAYS, KEEP, STUB)},
    {"stats_get_agg_b", STATS_GET(PHR_AGG, EVENTS_DAYS, STUB, KEEP)},
    {"stats_snapshot_fill", SNAPSHOT_FILL},
    {"stats_snapshot_get", SNAPSHOT_GET},
    /* a live statistic's parameters, read before it (stats_params): $13, $18, and $17, the
     * newest snapshot counted with the window ($1), within max_age seconds ($2, 0: none) and
     * after min_at ($3), whose points now it takes (NOW_SNAPSHOT) */
    {"stats_live_params",
     "SELECT extract(epoch FROM (SELECT rolled_to FROM rollup_state))::bigint, "
     "(SELECT covered_to FROM stats_event_day_state)::text, "
     "(SELECT period FROM stats_snapshots WHERE $2::int > 0 AND connected_window_s = $1::int "
     "AND computed_at > now() - make_interval(secs => $2::int) "
     "AND computed_at > to_timestamp($3::float8) ORDER BY computed_at DESC LIMIT 1)"},
    /* the snapshot of the period counted with the window, within max_age seconds and after
     * min_at: its name */
    {"stats_snapshot_find",
     "SELECT period FROM stats_snapshots WHERE period_from = to_timestamp($1::float8) "
     "AND period_to = to_timestamp($2::float8) AND connected_window_s = $3::int "
     "AND computed_at > now() - make_interval(secs => $4::int) "
     "AND computed_at > to_timestamp($5::float8)"},
    /* the periods the dashboard opens on, as the API bounds them (api/resources/stats.c): the
     * city's (UTC+8) today, this week from Monday, this month and last month */
    {"stats_snapshot_periods",
     "SELECT v.name, extract(epoch FROM v.f AT TIME ZONE 'Asia/Shanghai')::bigint, "
     "extract(epoch FROM v.t AT TIME ZONE 'Asia/Shanghai')::bigint "
     "FROM (SELECT now() AT TIME ZONE 'Asia/Shanghai' AS l) c CROSS JOIN LATERAL (VALUES "
     "('day', date_trunc('day', c.l), date_trunc('day', c.l) + interval '1 day'), "
     "('week', date_trunc('week', c.l), date_trunc('week', c.l) + interval '7 days'), "
     "('month', date_trunc('month', c.l), date_trunc('month', c.l) + interval '1 month'), "
     "('last_month', date_trunc('month', c.l) - interval '1 month', date_trunc('month', c.l))) "
     "v(name, f, t)"},
    {"stats_snapshot_clear", "DELETE FROM stats_snapshot_rows WHERE period = $1::text"},
    {"stats_snapshot_analyze", "SELECT dw_stats_snapshot_analyze()"},
    {"stats_day_advance", "SELECT days_done, extract(epoch FROM covered)::bigint FROM "
                          "dw_stats_day_advance($1::int)"},
    {"stats_event_day_advance", "SELECT days_done FROM dw_stats_event_day_advance($1::int)"},
    /* data quality: the same $1..$10 */
    {"stats_quality",
     "WITH win AS (SELECT to_timestamp($3::float8) AS f, least(to_timestamp($4::float8), now()) AS "
     "t, to_timestamp($4::float8) AS tq), " STATS_ENTS ", "
     "intr AS (SELECT a.id, a.enterprise_id, a.kind, a.raised_at, a.cleared_at, a.cause_category, "
     "a.measures, a.gateway_code, p.code AS point_code, extract(epoch FROM "
     "least(coalesce(a.cleared_at, win.t), win.t) - greatest(a.raised_at, win.f)) / 3600.0 AS "
     "hours FROM alarms a JOIN ents ON ents.id = a.enterprise_id CROSS JOIN win LEFT JOIN points p "
     "ON p.id = a.point_id WHERE a.kind IN ('offline', 'enterprise_offline', 'gateway_offline') "
     "AND a.folded_into IS NULL AND a.raised_at < win.t AND coalesce(a.cleared_at, 'infinity') > "
     "win.f), "
     "qa AS (SELECT a.enterprise_id, a.kind FROM alarms a JOIN ents ON ents.id = a.enterprise_id "
     "CROSS JOIN win WHERE a.kind IN ('frozen', 'out_of_range') AND a.raised_at >= win.f AND "
     "a.raised_at < win.tq), "
     "cf AS (SELECT c.enterprise_id FROM reading_conflicts c JOIN ents ON ents.id = "
     "c.enterprise_id CROSS JOIN win WHERE c.collected_at >= win.f AND c.collected_at < win.tq), "
     /* per enterprise by grouped joins (a correlated count per enterprise scanned the CTEs once per
      * enterprise: quadratic, the route timed out at 2,000 enterprises) */
     "ig AS (SELECT enterprise_id, count(*) AS n, coalesce(round(sum(hours), 2), 0) AS h FROM intr "
     "GROUP BY 1), qg AS (SELECT enterprise_id, count(*) FILTER (WHERE kind = 'frozen') AS fr, "
     "count(*) FILTER (WHERE kind = 'out_of_range') AS oor FROM qa GROUP BY 1), cg AS (SELECT "
     "enterprise_id, count(*) AS n FROM cf GROUP BY 1), "
     "per AS (SELECT ents.id, ents.code, ents.name, ents.street_id, coalesce(ig.n, 0) AS "
     "interruptions, coalesce(ig.h, 0) AS interruption_hours, coalesce(qg.fr, 0) AS frozen, "
     "coalesce(qg.oor, 0) AS out_of_range, coalesce(cg.n, 0) AS conflicts FROM ents LEFT JOIN ig "
     "ON ig.enterprise_id = ents.id LEFT JOIN qg ON qg.enterprise_id = ents.id LEFT JOIN cg ON "
     "cg.enterprise_id = ents.id) "
     "SELECT json_build_object('from', win.f, 'to', win.tq, 'interruptions', json_build_object("
     "'total', (SELECT count(*) FROM intr), 'hours', (SELECT coalesce(round(sum(hours), 2), 0) "
     "FROM intr), 'items', coalesce((SELECT json_agg(json_build_object('id', i.id, 'enterprise', "
     "json_build_object('id', e.id, 'code', e.code, 'name', e.name), 'kind', i.kind, 'point', "
     "i.point_code, 'gateway', i.gateway_code, 'start', i.raised_at, 'end', i.cleared_at, "
     "'hours', round(i.hours, 2), 'cause', i.cause_category, 'measures', nullif(i.measures, '')) "
     "ORDER BY i.raised_at DESC, i.id DESC) FROM (SELECT * FROM intr ORDER BY raised_at DESC, id "
     "DESC LIMIT $11::int) i JOIN ents e ON e.id = i.enterprise_id), '[]'::json)), 'gateways', "
     "json_build_object('offline_now', (SELECT count(*) FROM intr WHERE kind = 'gateway_offline' "
     "AND cleared_at IS NULL), 'offline_episodes', (SELECT count(*) FROM intr WHERE kind = "
     "'gateway_offline'), 'never_seen', (SELECT count(*) FROM gateways gw JOIN ents ON ents.id = "
     "gw.enterprise_id WHERE gw.last_seen_at IS NULL)), 'frozen', (SELECT count(*) FROM qa WHERE "
     "kind = 'frozen'), 'out_of_range', (SELECT count(*) FROM qa WHERE kind = 'out_of_range'), "
     "'conflicts', (SELECT count(*) FROM cf), 'enterprises', coalesce((SELECT "
     "json_agg(json_build_object('id', per.id, 'code', per.code, 'name', per.name, 'street_id', "
     "per.street_id, 'interruptions', per.interruptions, 'interruption_hours', "
     "per.interruption_hours, 'frozen', per.frozen, 'out_of_range', per.out_of_range, "
     "'conflicts', per.conflicts) ORDER BY per.interruption_hours DESC, per.code) FROM per WHERE "
     "per.interruptions + per.frozen + per.out_of_range + per.conflicts > 0), "
     "'[]'::json))::text FROM win"},
    /* alarms per city day (UTC+8) and level over the last $3 days, today included */
    {"stats_alarm_trend",
     "WITH d AS (SELECT generate_series((now() AT TIME ZONE 'Asia/Shanghai')::date - ($3::int - "
     "1), (now() AT TIME ZONE 'Asia/Shanghai')::date, interval '1 day')::date AS day), c AS "
     "(SELECT (a.raised_at AT TIME ZONE 'Asia/Shanghai')::date AS day, a.level, count(*) AS n "
     "FROM alarms a JOIN enterprises e ON e.id = a.enterprise_id WHERE " SCOPE_ENT(
         "e") " AND "
              "a.raised_at >= ((now() AT TIME ZONE 'Asia/Shanghai')::date - ($3::int - "
              "1))::timestamp AT TIME "
              "ZONE "
              "'Asia/Shanghai' GROUP BY 1, 2) SELECT json_build_object('days', "
              "json_agg(json_build_object("
              "'date', d.day, 'from', d.day::timestamp AT TIME ZONE 'Asia/Shanghai', 'levels', "
              "json_build_object('0', "
              "coalesce((SELECT n FROM c WHERE c.day = d.day AND c.level = 0), 0), '1', "
              "coalesce((SELECT n "
              "FROM c WHERE c.day = d.day AND c.level = 1), 0), '2', coalesce((SELECT n FROM c "
              "WHERE c.day "
              "= d.day AND c.level = 2), 0))) ORDER BY d.day))::text FROM d"},
};

void db_stats_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* the parameters $1..$10 both statements share */
static void filter_params(const db_scope *s, const db_stats_query *q, char f[24], char t[24],
                          char eid[24], const char **p)
{
    p[0] = s->kind;
    p[1] = s->id;
    p[2] = db_i64(f, (long long)q->from);
    p[3] = db_i64(t, (long long)q->to);
    p[4] = q->enterprise_id ? db_i64(eid, q->enterprise_id) : NULL;
    p[5] = q->district_code;
    p[6] = q->street_code;
    p[7] = q->industry_code;
    p[8] = q->dust_kind;
    p[9] = q->grade;
}

/* the figures in the answer's order (FIGS): the text before each value; a kinds slot takes
 * one column per alarm kind */
typedef struct {
    const char *before;
    int kinds;
    int part; /* 0: part A's, 1: part B's (PART_A, PART_B), 2: the points now's (PART_NOW) */
} stats_slot;
#define SLOT_FA(before, sql) {before, 0, 0},
#define SLOT_FN(before, sql) {before, 0, 2},
#define SLOT_F(before, sql)  {before, 0, 1},
#define SLOT_K(before, S)    {before, 1, 1},
#define KIND_NAME(k)         #k,
#define ONE_F(before, sql)   +1
#define ONE_K(before, S)     +N_KINDS
static const stats_slot slots[] = {FIGS(SLOT_FA, SLOT_FN, SLOT_F, SLOT_K, SUM)};
static const char *const kind_names[] = {ALARM_KINDS(KIND_NAME)};
enum { N_KINDS = sizeof kind_names / sizeof kind_names[0] };
static const int n_columns = STATS_FIRST_FIGURE FIGS(ONE_F, ONE_F, ONE_F, ONE_K, SUM);

/* a text cell as a JSON string (escaped by jansson), or null */
static void put_json_string(srv_buf *b, const PGresult *res, int row, int col)
{
    json_t *s = PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
    srv_buf_json(b, s, 0);
    json_decref(s);
}

/* Result row i as its figures object (a group row: key, code and name first), then a NUL,
 * then the alarm kinds it counts as a JSON array, then a NUL.  The values are PostgreSQL's
 * text of numbers (json_build_object wrote the same text) or NULL. */
static void stats_row_text(srv_buf *b, const PGresult *const parts[3], int i)
{
    const PGresult *res = parts[0];
    int col = STATS_FIRST_FIGURE, kinds[N_KINDS], n_kinds = 0;
    if (i > 0) {
        srv_buf_puts(b, "{\"key\":");
        put_json_string(b, res, i, 2);
        srv_buf_puts(b, ",\"code\":");
        put_json_string(b, res, i, 3);
        srv_buf_puts(b, ",\"name\":");
        put_json_string(b, res, i, 4);
        srv_buf_putc(b, ',');
    }
    for (size_t s = 0; s < sizeof slots / sizeof slots[0]; s++) {
        /* the first slot opens the object, which a group row has opened already */
        srv_buf_puts(b, slots[s].before + (s == 0 && i > 0));
        const PGresult *from = parts[slots[s].part];
        if (!slots[s].kinds) {
            if (PQgetisnull(from, i, col))
                srv_buf_puts(b, "null");
            else
                srv_buf_puts(b, PQgetvalue(from, i, col));
            col++;
            continue;
        }
        srv_buf_putc(b, '{');
        for (int k = 0; k < N_KINDS; k++, col++) {
            const char *n = PQgetvalue(from, i, col);
            if (PQgetisnull(from, i, col) || strcmp(n, "0") == 0)
                continue;
            if (n_kinds)
                srv_buf_putc(b, ',');
            srv_buf_printf(b, "\"%s\":%s", kind_names[k], n);
            kinds[n_kinds++] = k;
        }
        srv_buf_putc(b, '}');
    }
    srv_buf_puts(b, FIGS_END);
    srv_buf_putc(b, '\0');
    srv_buf_putc(b, '[');
    for (int k = 0; k < n_kinds; k++)
        srv_buf_printf(b, "%s\"%s\"", k ? "," : "", kind_names[kinds[k]]);
    srv_buf_putc(b, ']');
    srv_buf_putc(b, '\0');
}

struct db_stats_rows {
    PGresult *res;  /* row 0: the head and the totals; rows 1..: the group rows */
    PGresult *half; /* part B's figures of the same rows when counted apart, else NULL */
    /* whose each figure is, by FIGS's part (stats_slot): part A's, part B's, the points now's */
    const PGresult *parts[3];
    /* per result row, its figures and its kinds (stats_row_text), written when first asked
     * for: a page is 100 of a city's 2,000 rows by enterprise (writing them all, a week's
     * page ranked by alarms took 11 ms of server CPU per request, now 7 ms) */
    char **text;
    size_t *order; /* group row i is result row order[i] + 1 (NULL: the statement's order) */
    int from_snapshot;
};

SRV_METRIC_COUNTER(m_stats_reads, "dustwatch_stats_reads_total",
                   "Statistics counted, by how: in two halves at once (halves), on one connection "
                   "(one), on one after the halves failed (halves_failed), to warm a new "
                   "connection of the API pool (warm), or summed from a snapshot (snapshot).",
                   "how")

/* Whether the halves' rows are the same groups in the same order (they are over one snapshot;
 * checked, since the answer pairs them blindly). */
static int same_rows(const PGresult *a, const PGresult *b)
{
    int n = PQntuples(a);
    if (n != PQntuples(b) || PQnfields(a) != n_columns || PQnfields(b) != n_columns)
        return 0;
    for (int i = 0; i < n; i++)
        if (PQgetisnull(a, i, 2) != PQgetisnull(b, i, 2) ||
            strcmp(PQgetvalue(a, i, 2), PQgetvalue(b, i, 2)) != 0)
            return 0;
    return 1;
}

/* Periods longer than this count the points now (ptc) with part A: part B's alarms and warnings
 * grow with the period, part A's point-hours mostly come from the day rollup (at 2,000
 * enterprises, with ptc in part B a week by enterprise took 127 -> 120 ms and a month by street
 * 84 -> 74, but last month by district 85 -> 107 and a custom 30 days 103 -> 121: medians of
 * 20, one run each). */
#define STATS_NOW_IN_A_S (10 * 86400)

/* The statement's parameters for q, in p (pointing into b); *now_in_a whether the points now
 * are part A's.  Reads on c, in one round trip (stats_live_params), rollup_state and the event
 * days' watermark ($13, $18: read before the statement, they only move forward), and the
 * snapshot whose points now to take ($17, NOW_SNAPSHOT) when q allows snapshots: then in part
 * A, which counts the point-hours expected from the same points (ptn would count them now). */
typedef struct {
    char f[24], t[24], eid[24], win[24], rolled[24], now_period[16], event_days[16];
} stats_bufs;
static db_status stats_params(db_conn *c, const db_scope *s, const db_stats_query *q, stats_bufs *b,
                              const char *p[18], int *now_in_a)
{
    filter_params(s, q, b->f, b->t, b->eid, p);
    p[10] = q->group ? q->group : "none";
    p[11] = db_i64(b->win, q->connected_window_s);
    p[12] = NULL;
    p[13] = q->online_only ? "false" : "true";
    p[14] = "all";
    p[16] = NULL;
    p[17] = NULL;
    /* one round trip: the snapshot's part only when q may take its figures from one */
    int may_snapshot = q->snapshot_max_age_s > 0 && !q->raw && !q->online_only;
    char age[24], after[24];
    const char *lp[3] = {p[11], db_i64(age, may_snapshot ? q->snapshot_max_age_s : 0),
                         db_i64(after, q->snapshot_after)};
    /* tables without row-level security, so unscoped: inside the snapshot worker's transaction
     * too (snapshot_fill_tx) */
    db_status st;
    PGresult *r = db_exec(c, "stats_live_params", 3, lp, &st);
    if (!r)
        return st;
    if (PQntuples(r) == 1) {
        if (!PQgetisnull(r, 0, 0))
            p[12] = strcpy(b->rolled, PQgetvalue(r, 0, 0));
        if (!PQgetisnull(r, 0, 1)) {
            snprintf(b->event_days, sizeof b->event_days, "%s", PQgetvalue(r, 0, 1));
            p[17] = b->event_days;
        }
        if (!PQgetisnull(r, 0, 2)) {
            snprintf(b->now_period, sizeof b->now_period, "%s", PQgetvalue(r, 0, 2));
            p[16] = b->now_period;
        }
    }
    PQclear(r);
    *now_in_a = p[16] || q->to - q->from > STATS_NOW_IN_A_S;
    p[15] = *now_in_a ? "a" : "b";
    return DB_OK;
}

/* q's answer from a snapshot (SNAPSHOT_GET) into *res when one may answer it (q's
 * snapshot_max_age_s and snapshot_after); DB_OK with *res NULL when none does. */
static db_status read_snapshot(db_conn *c, const db_scope *s, const db_stats_query *q,
                               PGresult **res)
{
    *res = NULL;
    if (q->snapshot_max_age_s <= 0 || q->raw || q->online_only)
        return DB_OK;
    char f[24], t[24], eid[24], win[24], age[24], after[24], period[16];
    const char *fp[5] = {db_i64(f, (long long)q->from), db_i64(t, (long long)q->to),
                         db_i64(win, q->connected_window_s), db_i64(age, q->snapshot_max_age_s),
                         db_i64(after, q->snapshot_after)};
    PGresult *found = NULL;
    db_status st = db_read_result_plan(c, s, "stats_snapshot_find", 5, fp, DB_PLAN_AUTO, &found);
    if (st != DB_OK || PQntuples(found) != 1) {
        PQclear(found);
        return st;
    }
    snprintf(period, sizeof period, "%s", PQgetvalue(found, 0, 0));
    PQclear(found);
    const char *p[13];
    filter_params(s, q, f, t, eid, p);
    p[10] = q->group ? q->group : "none";
    p[11] = win;
    p[12] = period;
    st = db_read_result_plan(c, s, "stats_snapshot_get", 13, p, DB_PLAN_CUSTOM, res);
    if (st == DB_OK && PQntuples(*res) > 0 && PQnfields(*res) != n_columns) {
        LOG_ERROR("statement returned other columns", "stmt=stats_snapshot_get");
        st = DB_HARD;
    }
    if (st != DB_OK || PQntuples(*res) == 0) { /* no row: moved on since it was found */
        PQclear(*res);
        *res = NULL;
    }
    return st;
}

/* The statement's result(s): *res, with *half part B's figures when it ran in two halves on c
 * and spare (both set), else NULL; *now_in_a whether the points now are *res's. */
static db_status read_stats(db_conn *c, db_conn *spare, const db_scope *s, const db_stats_query *q,
                            PGresult **res, PGresult **half, int *now_in_a, int *from_snapshot)
{
    stats_bufs b;
    const char *p[18];
    *res = *half = NULL;
    db_status st = read_snapshot(c, s, q, res);
    *from_snapshot = *res != NULL;
    if (st != DB_OK || *res) {
        if (*res)
            srv_metric_add(&m_stats_reads, 1, "snapshot");
        *now_in_a = 1;
        return st;
    }
    st = stats_params(c, s, q, &b, p, now_in_a);
    if (st != DB_OK)
        return st;
    const char *stmt = q->raw ? "stats_get" : "stats_get_agg";
    if (spare) {
        const char *pb[18];
        memcpy(pb, p, sizeof pb);
        p[14] = "a";
        pb[14] = "b";
        st = db_read_pair_plan(c, spare, s, q->raw ? "stats_get_a" : "stats_get_agg_a",
                               q->raw ? "stats_get_b" : "stats_get_agg_b", 18, p, pb,
                               DB_PLAN_CUSTOM, res, half);
        if (st == DB_OK && same_rows(*res, *half)) {
            srv_metric_add(&m_stats_reads, 1, "halves");
            return DB_OK;
        }
        if (st == DB_OK)
            LOG_ERROR("statistics halves differ", "stmt=%s", stmt);
        else
            LOG_WARN("statistics halves failed, counted at once", "stmt=%s", stmt);
        PQclear(*res);
        PQclear(*half);
        *res = *half = NULL;
        p[14] = "all";
    }
    srv_metric_add(&m_stats_reads, 1, spare ? "halves_failed" : "one");
    st = db_read_result_plan(c, s, stmt, 18, p, DB_PLAN_CUSTOM, res);
    if (st == DB_OK && (PQntuples(*res) < 1 || PQnfields(*res) != n_columns)) {
        LOG_ERROR("statement returned no head row", "stmt=stats_get");
        PQclear(*res);
        *res = NULL;
        st = DB_HARD;
    }
    return st;
}

static int rows_sort(db_stats_rows *r, const char *by);

db_status db_stats_get_rows(db_conn *c, db_conn *spare, const db_scope *s, const db_stats_query *q,
                            db_stats_rows **out)
{
    *out = NULL;
    PGresult *res = NULL, *half = NULL;
    int now_in_a = 1, from_snapshot = 0;
    db_status st = read_stats(c, spare, s, q, &res, &half, &now_in_a, &from_snapshot);
    if (st != DB_OK)
        return st;
    const PGresult *b_part = half ? half : res;
    const PGresult *parts[3] = {res, b_part, now_in_a ? res : b_part};
    db_stats_rows *r = calloc(1, sizeof *r);
    if (!r || !(r->text = calloc((size_t)PQntuples(res), sizeof *r->text))) {
        PQclear(res);
        PQclear(half);
        free(r);
        return DB_HARD;
    }
    r->res = res;
    r->half = half;
    r->from_snapshot = from_snapshot;
    memcpy(r->parts, parts, sizeof r->parts);
    if (q->sort && rows_sort(r, q->sort) != 0) {
        db_stats_rows_free(r);
        return DB_HARD;
    }
    *out = r;
    return DB_OK;
}

/* Result row n's text (stats_row_text), written on first use; NULL: out of memory. */
static const char *row_text(db_stats_rows *r, int n)
{
    if (!r->text[n]) {
        srv_buf b = {0};
        stats_row_text(&b, r->parts, n);
        r->text[n] = srv_buf_take(&b, NULL);
    }
    return r->text[n];
}

json_t *db_stats_rows_head(db_stats_rows *r)
{
    json_error_t e;
    const char *text = row_text(r, 0);
    json_t *head = json_loads(PQgetvalue(r->res, 0, 1), 0, &e);
    json_t *totals = text ? json_loads(text, 0, &e) : NULL;
    if (!head || !totals) {
        LOG_ERROR("statement returned invalid JSON", "stmt=stats_get head");
        json_decref(head);
        json_decref(totals);
        return NULL;
    }
    json_object_set_new(head, "totals", totals);
    return head;
}

int db_stats_rows_from_snapshot(const db_stats_rows *r)
{
    return r->from_snapshot;
}

size_t db_stats_rows_count(const db_stats_rows *r)
{
    return (size_t)PQntuples(r->res) - 1;
}

int db_stats_rows_row(db_stats_rows *r, size_t i, db_stats_row *row)
{
    int n = (int)(r->order ? r->order[i] : i) + 1;
    const char *text = row_text(r, n);
    if (!text)
        return -1;
    row->figures = text;
    row->kinds = text + strlen(text) + 1;
    row->key = PQgetvalue(r->res, n, 2);
    row->code = PQgetisnull(r->res, n, 3) ? NULL : PQgetvalue(r->res, n, 3);
    return 0;
}

void db_stats_rows_free(db_stats_rows *r)
{
    if (!r)
        return;
    if (r->text)
        for (int n = 0; n < PQntuples(r->res); n++)
            free(r->text[n]);
    PQclear(r->res);
    PQclear(r->half);
    free(r->text);
    free(r->order);
    free(r);
}

/* Where each of DB_STATS_SORT_KEYS sits in FIGS: the text before its value (a key without
 * one does not compile). */
#define SORT_AT_alarms               "},\"alarms\":{\"total\":"
#define SORT_AT_alarms_overdue       ",\"overdue\":" /* FIGS's first "overdue" is the alarms' */
#define SORT_AT_warnings             "},\"warnings\":{\"total\":"
#define SORT_AT_escalations          ",\"escalations\":"
#define SORT_AT_interruptions        ",\"interruptions\":{\"count\":"
#define SORT_AT_online_rate          ",\"online_rate\":"
#define SORT_AT_handled_on_time_rate ",\"handled_on_time_rate\":"
#define SORT_AT_cleared_on_time_rate ",\"cleared_on_time_rate\":"
#define SORT_AT_hazards_open         ",\"open\":"
#define SORT_KEY(name, lowest_first) {#name, SORT_AT_##name, lowest_first},
static const struct {
    const char *name, *before;
    int lowest_first;
} sort_keys[] = {DB_STATS_SORT_KEYS(SORT_KEY)};

typedef struct {
    double v; /* NAN: no value */
    size_t i;
} rank_item;

static int rank_cmp(const void *a, const void *b)
{
    const rank_item *x = a, *y = b;
    int xn = isnan(x->v), yn = isnan(y->v);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Orders r's group rows by the figure named by (one of DB_STATS_SORT_KEYS), rows without a
 * value (a rate of nothing) last; ties keep the statement's order (by key).  -1: unknown name
 * or out of memory (the order unchanged). */
static int rows_sort(db_stats_rows *r, const char *by)
{
    size_t k = 0, nk = sizeof sort_keys / sizeof sort_keys[0];
    while (k < nk && strcmp(sort_keys[k].name, by) != 0)
        k++;
    if (k == nk)
        return -1;
    /* the key's column and the result that holds it, as stats_row_text walks them */
    int col = STATS_FIRST_FIGURE, part = -1;
    for (size_t s = 0; s < sizeof slots / sizeof slots[0] && part < 0; s++) {
        if (!slots[s].kinds && strcmp(slots[s].before, sort_keys[k].before) == 0)
            part = slots[s].part;
        else
            col += slots[s].kinds ? N_KINDS : 1;
    }
    const PGresult *from = part < 0 ? NULL : r->parts[part];
    size_t n = db_stats_rows_count(r);
    rank_item *v = malloc((n ? n : 1) * sizeof *v);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (part < 0 || !v || !order) {
        free(v);
        free(order);
        return -1;
    }
    double sign = sort_keys[k].lowest_first ? 1.0 : -1.0;
    for (size_t i = 0; i < n; i++) {
        int row = (int)i + 1;
        v[i].i = i;
        v[i].v =
            PQgetisnull(from, row, col) ? NAN : sign * strtod(PQgetvalue(from, row, col), NULL);
    }
    qsort(v, n, sizeof *v, rank_cmp);
    for (size_t i = 0; i < n; i++)
        order[i] = v[i].i;
    free(v);
    free(r->order);
    r->order = order;
    return 0;
}

db_status db_stats_get(db_conn *c, const db_scope *s, const db_stats_query *q, json_t **out)
{
    *out = NULL;
    db_stats_rows *r = NULL;
    db_status st = db_stats_get_rows(c, NULL, s, q, &r);
    if (st != DB_OK)
        return st;
    json_t *doc = db_stats_rows_head(r), *rows = json_array();
    for (size_t i = 0, n = db_stats_rows_count(r); doc && i < n; i++) {
        db_stats_row row;
        json_error_t e;
        json_t *fig = db_stats_rows_row(r, i, &row) == 0 ? json_loads(row.figures, 0, &e) : NULL;
        if (!fig) {
            LOG_ERROR("statement returned invalid JSON", "stmt=stats_get row");
            json_decref(doc);
            doc = NULL;
            break;
        }
        json_array_append_new(rows, fig);
    }
    db_stats_rows_free(r);
    if (!doc) {
        json_decref(rows);
        return DB_HARD;
    }
    json_object_set_new(doc, "rows", rows);
    *out = doc;
    return DB_OK;
}

void db_stats_warm(db_conn *c)
{
    /* the relations of every statistic but the period's partitions, which the last 30 days
     * mostly share with the dashboard's periods (this week, this and last month) */
    db_scope s = {.rls = "system", .kind = "city", .id = "0", .focus = ""};
    time_t now = time(NULL);
    db_stats_query q = {.from = (now - 30 * 86400) / 3600 * 3600,
                        .to = now,
                        .group = "enterprise",
                        .connected_window_s = 86400};
    stats_bufs b;
    const char *p[18];
    int now_in_a;
    srv_metric_add(&m_stats_reads, 1, "warm");
    /* each half's statement, as requests run them.  What a warmed pool leaves to the first
     * request (a week's page at 2,000 enterprises: 95-110 ms against ~57 after it): part A's
     * planning on its backend (17-21 ms against 9.5) and ~20 ms of the server thread's first
     * large allocations (malloc growing its arena, page faults) */
    db_status st = stats_params(c, &s, &q, &b, p, &now_in_a);
    const char *const half[2][2] = {{"a", "stats_get_agg_a"}, {"b", "stats_get_agg_b"}};
    for (int i = 0; st == DB_OK && i < 2; i++) {
        PGresult *res = NULL;
        p[14] = half[i][0];
        st = db_read_result_plan(c, &s, half[i][1], 18, p, DB_PLAN_CUSTOM, &res);
        PQclear(res);
    }
    /* and the snapshots' statement (q's bounds are no snapshot's: it answers no row) */
    if (st == DB_OK) {
        PGresult *res = NULL;
        p[12] = "day";
        st = db_read_result_plan(c, &s, "stats_snapshot_get", 13, p, DB_PLAN_CUSTOM, &res);
        PQclear(res);
    }
    if (st != DB_OK)
        LOG_WARN("statistics warm-up failed", "stmt=stats_get_agg");
}

db_status db_stats_quality(db_conn *c, const db_scope *s, const db_stats_query *q, long limit,
                           json_t **out)
{
    char f[24], t[24], eid[24], lim[24];
    const char *p[11];
    filter_params(s, q, f, t, eid, p);
    p[10] = db_i64(lim, limit);
    return db_read_json_plan(c, s, "stats_quality", 11, p, DB_PLAN_CUSTOM, out);
}

db_status db_stats_alarm_trend(db_conn *c, const db_scope *s, long days, json_t **out)
{
    char d[24];
    const char *p[3] = {s->kind, s->id, db_i64(d, days)};
    return db_read_json(c, s, "stats_alarm_trend", 3, p, out);
}

typedef struct {
    const char *name;     /* the period's (stats_snapshot_periods) */
    db_stats_query query; /* its bounds, the window, no filter, no group */
} snapshot_fill_arg;

static db_status snapshot_fill_tx(db_conn *c, void *arg)
{
    const snapshot_fill_arg *a = arg;
    /* the whole city, planned for these bounds (the worker's connection plans generically) */
    const char *scope[2] = {"system", ""};
    db_status st;
    PGresult *r = db_exec(c, "db_set_scope_focus_custom", 2, scope, &st);
    if (!r)
        return st;
    PQclear(r);
    const char *cp[1] = {a->name};
    if (!(r = db_exec(c, "stats_snapshot_clear", 1, cp, &st)))
        return st;
    PQclear(r);
    /* the live statement's parameters for the city, counted in one part ($15 'all') */
    const db_scope city = {.rls = "system", .kind = "city", .id = "0", .focus = ""};
    stats_bufs b;
    const char *p[19];
    int now_in_a;
    if ((st = stats_params(c, &city, &a->query, &b, p, &now_in_a)) != DB_OK)
        return st;
    p[18] = a->name;
    if (!(r = db_exec(c, "stats_snapshot_fill", 19, p, &st)))
        return st;
    PQclear(r);
    return DB_OK;
}

db_status db_stats_snapshot_refresh(db_conn *c, long connected_window_s, int *filled)
{
    *filled = 0;
    db_status st;
    PGresult *periods = db_exec(c, "stats_snapshot_periods", 0, NULL, &st);
    if (!periods)
        return st;
    snapshot_fill_arg a = {.query = {.group = "none", .connected_window_s = connected_window_s}};
    for (int i = 0; st == DB_OK && i < PQntuples(periods); i++) {
        a.name = PQgetvalue(periods, i, 0);
        a.query.from = (time_t)strtoll(PQgetvalue(periods, i, 1), NULL, 10);
        a.query.to = (time_t)strtoll(PQgetvalue(periods, i, 2), NULL, 10);
        st = db_run_tx(c, NULL, snapshot_fill_tx, &a);
        *filled += st == DB_OK;
    }
    PQclear(periods);
    if (st != DB_OK)
        return st;
    PGresult *r = db_exec(c, "stats_snapshot_analyze", 0, NULL, &st);
    if (!r)
        return st;
    PQclear(r);
    return DB_OK;
}

db_status db_stats_day_advance(db_conn *c, int max_days, int *days_done, int64_t *covered_s)
{
    char n[24];
    const char *p[1] = {db_i64(n, max_days)};
    db_status st;
    PGresult *r = db_exec(c, "stats_day_advance", 1, p, &st);
    if (!r)
        return st;
    *days_done = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    *covered_s =
        PQntuples(r) == 1 && !PQgetisnull(r, 0, 1) ? strtoll(PQgetvalue(r, 0, 1), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_stats_event_day_advance(db_conn *c, int max_days, int *days_done)
{
    char n[24];
    const char *p[1] = {db_i64(n, max_days)};
    db_status st;
    PGresult *r = db_exec(c, "stats_event_day_advance", 1, p, &st);
    if (!r)
        return st;
    *days_done = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return DB_OK;
}
