/* Monitoring points for the API: lists with latest values, one point, limit
 * changes, and time series from raw readings or the rollups. */
#include "db_points.h"

#include "db_filing_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"
#include "srv_config.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* latest.ts: RFC 3339 in UTC with microseconds whatever the session's
 * TimeZone, so that the answer from Redis (formatted in C) is the same text */
#define POINT_JSON_WITH(latest, online, extra)                                                     \
    "json_build_object('id', p.id, 'code', p.code, 'enterprise_id', p.enterprise_id, "             \
    "'system_id', p.system_id, 'kind', p.kind, 'kind_name', k.name_zh, 'value_type', "             \
    "k.value_type, 'name', p.name, 'unit', coalesce(nullif(p.unit, ''), k.unit), 'range_min', "    \
    "p.range_min, 'range_max', p.range_max, 'param_class', p.param_class, 'limits', "              \
    "json_build_object('high', p.limit_high, 'high_high', p.limit_high_high, 'low', "              \
    "p.limit_low, 'low_low', p.limit_low_low, 'deadband', p.deadband, 'min_duration_s', "          \
    "p.min_duration_s, 'rate_limit', p.rate_limit, 'rate_window_s', p.rate_window_s), "            \
    "'expected_interval_s', p.expected_interval_s, 'enabled', p.enabled, 'latest', " latest        \
    ", 'online', " online extra ")"
#define POINT_LATEST                                                                               \
    "CASE WHEN l.point_id IS NULL THEN NULL ELSE json_build_object('ts', "                         \
    "to_char(l.collected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'value', "   \
    "l.value, 'quality', l.quality) END"
#define POINT_ONLINE                                                                               \
    "coalesce(l.collected_at > now() - make_interval(secs => 3 * p.expected_interval_s), false)"
#define POINT_JSON POINT_JSON_WITH(POINT_LATEST, POINT_ONLINE, "")
/* one point also answers its data quality: conflicting readings kept apart
 * (migration 0016), hours the rollups set aside (0017) */
#define POINT_JSON_DQ                                                                              \
    POINT_JSON_WITH(POINT_LATEST, POINT_ONLINE,                                                    \
                    ", 'data_quality', (SELECT json_build_object('conflicts', count(*), "          \
                    "'last_conflict_at', max(x.received_at), 'quarantined_hours', (SELECT "        \
                    "coalesce(json_agg(json_build_object('hour', q.hour, 'reason', q.reason) "     \
                    "ORDER BY q.hour), '[]') FROM rollup_quarantine q WHERE q.point_id = p.id)) "  \
                    "FROM "                                                                        \
                    "reading_conflicts x WHERE x.point_id = p.id AND x.enterprise_id = "           \
                    "p.enterprise_id)")
/* the same without latest values: they come from Redis */
#define POINT_JSON_BARE POINT_JSON_WITH("NULL", "false", "")

#define POINT_FROM                                                                                 \
    " FROM points p JOIN enterprises e ON e.id = p.enterprise_id JOIN indicator_kinds k ON "       \
    "k.code = p.kind LEFT JOIN point_latest l ON l.point_id = p.id AND l.enterprise_id = "         \
    "p.enterprise_id "

/* a few hours of raw readings are as cheap as their rollups */
#define RAW_MAX_RANGE_S (3 * 3600)

/* Buckets of a series start at multiples of bucket_s from Beijing midnight
 * (the city's day), whatever the session's TimeZone; hours and minutes are the
 * same instants in UTC, which is what the rollups are cut on. */
#define BUCKET_ORIGIN "timestamptz '2000-01-01 00:00:00+08'"
#define UTC_ORIGIN    "timestamptz '2000-01-01 00:00:00+00'"

/* A bucketed series from a rollup tier (granularity g) that equals the same
 * aggregation over raw readings (migrations/0012_rollups.sql):
 *   [from, lo)   raw: the part of the first tier bucket after `from`
 *   [lo, hi)     rollup rows, hi = the last tier boundary before both `to`
 *                and rollup_state.rolled_to; hours with late readings not yet
 *                recomputed (rollup_dirty) or without rollups because they could
 *                not be aggregated (rollup_quarantine) come from raw instead
 * Sums and averages are taken in numeric: readings stored before migration
 * 0017 may add up beyond a double, and a series must still answer.
 *   [hi, to)     raw: the end of the range and what is not rolled up yet
 * kept_from is where the tier's rows exist from (minutes: rollup_state.minute_from,
 * moved by retention, migration 0139): a range starting before it gets hi = lo, so
 * everything after its first bucket is read raw, not from rows retention dropped.
 * Raw readings come from dw_readings (migration 0137): the day partitions and,
 * for days older than readings_pack_after_days, readings_packed; the inlined ones
 * from dw_readings_lazy (0144), the same rows, whose packed arm is planned and run
 * only when the range starts before the packing horizon (not for recent charts).
 * Every raw branch also carries the literal $4/$5 bounds so the readings
 * partitions outside the range are pruned at plan start.  What a generic plan
 * holds is initialised at every run, each readings partition with its row-level
 * security quals and sub-plans (executor start-up was a third of PostgreSQL's CPU
 * for a series, perf on api_bench's full-scale fixture), so the branches that are
 * inlined are the ones whose partitions such bounds narrow: the head ($4 to
 * $4 + g) and the last day of the tail; their other bounds come from c as LATERAL
 * columns.  The rest of the tail (when the rollups lag by more than a day) and the
 * dirty and quarantined hours (one range from the first to the last, filtered to
 * those hours) are read by dw_readings called with sub-selects in its arguments,
 * which PostgreSQL does not inline: it plans the function's body when it is called
 * (~1 ms), and it is called only when the one-time filter before it holds, so
 * usually never.  (Both the old single tail and the sub-select head were planned at
 * every run: 1.9 of the statement's 3.3 ms for a week, EXPLAIN ANALYZE.) */
#define SERIES_FROM_ROLLUP(table, g, kept_from, in_scope)                                          \
    "WITH w AS (SELECT date_bin(interval '" g "', $4::timestamptz, " UTC_ORIGIN ") AS f0, "        \
    "CASE WHEN $4::timestamptz >= " kept_from " THEN date_bin(interval '" g "', "                  \
    "least($5::timestamptz, s.rolled_to), " UTC_ORIGIN ") END AS h0 FROM rollup_state s), b AS "   \
    "(SELECT least(CASE WHEN f0 = $4::timestamptz THEN f0 ELSE f0 + interval '" g "' END, "        \
    "$5::timestamptz) AS lo, h0 FROM w), c AS (SELECT lo, greatest(lo, h0) AS hi FROM b), d AS "   \
    "(SELECT x.hour FROM rollup_dirty x, c WHERE x.point_id = $3::bigint AND "                     \
    "x.hour >= date_bin('1 hour', c.lo, " UTC_ORIGIN ") AND x.hour < c.hi UNION SELECT x.hour "    \
    "FROM rollup_quarantine x, c WHERE x.point_id = $3::bigint AND x.hour >= date_bin('1 hour', "  \
    "c.lo, " UTC_ORIGIN ") AND x.hour < c.hi), parts AS (SELECT "                                  \
    "t.bucket AS t, t.vmin, t.vmax, t.vsum, t.n::float8 AS n FROM " table " t, c WHERE "           \
    "t.point_id = $3::bigint AND t.bucket >= c.lo AND t.bucket < c.hi AND t.bucket >= "            \
    "$4::timestamptz AND t.bucket < $5::timestamptz AND NOT EXISTS (SELECT 1 FROM d WHERE d.hour " \
    "= date_bin('1 hour', t.bucket, " UTC_ORIGIN ")) UNION ALL SELECT r.collected_at, r.value, "   \
    "r.value, r.value, 1 FROM c CROSS JOIN LATERAL dw_readings_lazy($3::bigint, $4::timestamptz, " \
    "least($4::timestamptz + interval '" g "', c.lo)) r WHERE r.collected_at < $4::timestamptz "   \
    "+ interval '" g "' AND r.collected_at >= $4::timestamptz UNION ALL SELECT r.collected_at, "   \
    "r.value, r.value, r.value, 1 FROM c CROSS JOIN LATERAL dw_readings_lazy($3::bigint, "         \
    "greatest(c.hi, $5::timestamptz - interval '1 day'), $5::timestamptz) r WHERE "                \
    "r.collected_at >= $5::timestamptz - interval '1 day' AND r.collected_at >= $4::timestamptz "  \
    "AND r.collected_at < $5::timestamptz UNION ALL SELECT r.collected_at, r.value, r.value, "     \
    "r.value, 1 FROM dw_readings($3::bigint, (SELECT hi FROM c), $5::timestamptz - interval '1 "   \
    "day') r WHERE (SELECT hi FROM c) < $5::timestamptz - interval '1 day' UNION ALL SELECT "      \
    "r.collected_at, r.value, r.value, r.value, 1 FROM dw_readings($3::bigint, (SELECT "           \
    "greatest(min(d.hour), c.lo) FROM d, c GROUP BY c.lo), (SELECT least(max(d.hour) + interval "  \
    "'1 hour', c.hi) FROM d, c GROUP BY c.hi)) r WHERE EXISTS (SELECT 1 FROM d) AND "              \
    "date_bin('1 hour', r.collected_at, " UTC_ORIGIN ") IN (SELECT d.hour FROM d) AND "            \
    "r.collected_at >= (SELECT lo FROM c) AND r.collected_at < (SELECT hi FROM c) AND "            \
    "r.collected_at >= $4::timestamptz AND r.collected_at < $5::timestamptz) SELECT "              \
    "json_build_object('point_id', $3::bigint, 'bucket_s', $6::int, 'items', "                     \
    "coalesce(json_agg(json_build_array(extract(epoch FROM x.t) * 1000, x.mn, x.mx, x.av, x.n) "   \
    "ORDER BY x.t), '[]'::json))::text FROM (SELECT date_bin(make_interval(secs => $6::int), "     \
    "q.t, " BUCKET_ORIGIN ") AS t, min(q.vmin) mn, max(q.vmax) mx, round(sum(q.vsum::numeric) / "  \
    "sum(q.n::numeric), 3)::float8 av, sum(q.n)::bigint n FROM parts q WHERE " in_scope            \
    " GROUP BY 1) x"

/* readings are filtered by the point alone (its index); the scope check is one
 * uncorrelated condition, run once, not a join per reading */
#define SERIES_RAW(in_scope)                                                                       \
    "SELECT json_build_object('point_id', $3::bigint, 'bucket_s', 0, 'items', "                    \
    "coalesce(json_agg(json_build_array(extract(epoch FROM r.collected_at) * 1000, r.value, "      \
    "r.quality) ORDER BY r.collected_at), '[]'::json))::text FROM "                                \
    "dw_readings_lazy($3::bigint, $4::timestamptz, $5::timestamptz) r WHERE " in_scope
#define SERIES_BUCKETED(in_scope)                                                                  \
    "SELECT json_build_object('point_id', $3::bigint, 'bucket_s', $6::int, 'items', "              \
    "coalesce(json_agg(json_build_array(extract(epoch FROM b.t) * 1000, b.mn, b.mx, b.av, b.n) "   \
    "ORDER BY b.t), '[]'::json))::text FROM (SELECT date_bin(make_interval(secs => $6::int), "     \
    "r.collected_at, " BUCKET_ORIGIN ") AS t, min(r.value) mn, max(r.value) mx, "                  \
    "round(avg(r.value::numeric), 3)::float8 av, count(*) n FROM "                                 \
    "dw_readings_lazy($3::bigint, $4::timestamptz, $5::timestamptz) r WHERE " in_scope             \
    " GROUP BY 1) b"

/* A point's series answer in one statement: the point as pts_get answers it (pt, with the
 * scope check) and, as further columns, the series and the filing periods covering the point
 * (flg_point_periods' answer), read only while pt has its row (their own scope checks would
 * read points and enterprises again, each under row-level security).  No row: no such point
 * in scope. */
#define SERIES_ANSWER(series)                                                                      \
    "WITH pt AS (SELECT " POINT_JSON_DQ                                                            \
    "::text AS j, p.id, p.system_id, p.enterprise_id" POINT_FROM                                   \
    "WHERE p.id = $3::bigint AND " SCOPE_ENT(                                                      \
        "e") ") SELECT pt.j, (" series "), "                                                       \
             "(SELECT " FILING_POINT_PERIODS "::text FROM filings f WHERE f.enterprise_id = "      \
             "pt.enterprise_id AND " FILING_POINT_PERIODS_OF("f", "pt") ") FROM pt"
#define IN_PT "EXISTS (SELECT 1 FROM pt)"

static const db_stmt statements[] = {
    /* $4: a dust-removal system id or NULL */
    {"pts_by_enterprise",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint "
     "AND " SCOPE_ENT(
         "e") ") THEN coalesce((SELECT json_agg(" POINT_JSON " ORDER BY p.code)" POINT_FROM
              "WHERE p.enterprise_id = $3::bigint AND ($4::bigint IS NULL OR p.system_id = "
              "$4::bigint) AND " SCOPE_ENT("e") "), '[]'::json) END::text"},
    {"pts_by_enterprise_bare",
     "SELECT json_build_object('items', coalesce((SELECT "
     "json_agg(" POINT_JSON_BARE
     " ORDER BY p.code) FROM points p JOIN indicator_kinds k ON k.code = p.kind WHERE "
     "p.enterprise_id = e.id AND ($4::bigint IS NULL OR p.system_id = $4::bigint)), "
     "'[]'::json))::text FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT("e")},
    /* every point of the enterprise (a system filter must not make the copy
     * in Redis incomplete): [code, epoch microseconds, value, quality] */
    {"pts_latest_of_enterprise",
     "SELECT coalesce(json_agg(json_build_array(p.code, (extract(epoch FROM l.collected_at) * "
     "1000000)::bigint, l.value, l.quality)), '[]'::json)::text FROM point_latest l JOIN "
     "points p "
     "ON p.id = l.point_id JOIN enterprises e ON e.id = p.enterprise_id WHERE l.enterprise_id "
     "= "
     "$3::bigint AND p.enterprise_id = $3::bigint AND " SCOPE_ENT("e")},
    {"pts_get",
     "SELECT " POINT_JSON_DQ "::text" POINT_FROM "WHERE p.id = $3::bigint AND " SCOPE_ENT("e")},
    /* a point's series answer (db_points_series_answer): the scope, and as the focus of
     * row-level security the point's enterprise ($2 when the caller knows it, else the
     * point's as the caller's scope sees it: an enterprise it cannot see is no focus,
     * dw_focus_enterprise), so the statements after it in the same transaction filter
     * every table by that enterprise instead of listing the whole scope for each.  Sent
     * when the caller does not know it yet; otherwise db.c's db_set_scope_focus_generic
     * (the same columns) is, without this look-up's nodes to initialise */
    {"pts_series_scope",
     "SELECT set_config('dw.scope', $1, true), set_config('dw.enterprise', coalesce(nullif($2, "
     "''), (SELECT p.enterprise_id::text FROM points p WHERE p.id = $3::bigint), ''), true), "
     "set_config('plan_cache_mode', 'force_generic_plan', true)"},
    {"pts_series_raw", SERIES_ANSWER(SERIES_RAW(IN_PT))},
    {"pts_series_bucketed", SERIES_ANSWER(SERIES_BUCKETED(IN_PT))},
    {"pts_series_minute",
     SERIES_ANSWER(SERIES_FROM_ROLLUP("rollup_minute", "1 minute", "s.minute_from", IN_PT))},
    {"pts_series_hour",
     SERIES_ANSWER(SERIES_FROM_ROLLUP("rollup_hour", "1 hour", "'-infinity'::timestamptz", IN_PT))},
};

void db_points_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_points_of_enterprise(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                  int64_t system_id, json_t **out)
{
    char eid[24], sys[24];
    const char *p[4] = {s->kind, s->id, db_i64(eid, enterprise_id),
                        system_id ? db_i64(sys, system_id) : NULL};
    return db_read_json(c, s, "pts_by_enterprise", 4, p, out);
}

db_status db_points_of_enterprise_bare(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                       int64_t system_id, json_t **out)
{
    char eid[24], sys[24];
    const char *p[4] = {s->kind, s->id, db_i64(eid, enterprise_id),
                        system_id ? db_i64(sys, system_id) : NULL};
    return db_read_json(c, s, "pts_by_enterprise_bare", 4, p, out);
}

db_status db_points_latest_of_enterprise(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                         json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "pts_latest_of_enterprise", 3, p, out);
}

db_status db_points_get(db_conn *c, const db_scope *s, int64_t point_id, json_t **out)
{
    char pid[24];
    const char *p[3] = {s->kind, s->id, db_i64(pid, point_id)};
    return db_read_json(c, s, "pts_get", 3, p, out);
}

db_status db_points_get_tx(db_conn *c, const db_scope *s, int64_t point_id, json_t **out)
{
    char pid[24];
    const char *p[3] = {s->kind, s->id, db_i64(pid, point_id)};
    return db_exec_json(c, "pts_get", 3, p, out);
}

/* ---- limit changes: an UPDATE assembled from the columns below ------------ */

typedef enum { COL_TEXT, COL_BOOL, COL_FLOAT, COL_INT } col_type;

/* The only columns a limit change may name, and the cast of their value.
 * Whole seconds are written like the other numbers (%.10g) and cast to int,
 * so a value out of int's range is refused by PostgreSQL as before. */
static const struct {
    const char *name;
    col_type type;
} limit_columns[] = {
    {"name", COL_TEXT},          {"limit_high", COL_FLOAT},    {"limit_high_high", COL_FLOAT},
    {"limit_low", COL_FLOAT},    {"limit_low_low", COL_FLOAT}, {"deadband", COL_FLOAT},
    {"min_duration_s", COL_INT}, {"rate_limit", COL_FLOAT},    {"rate_window_s", COL_INT},
    {"range_min", COL_FLOAT},    {"range_max", COL_FLOAT},     {"expected_interval_s", COL_INT},
    {"enabled", COL_BOOL},       {"param_class", COL_TEXT},
};
#define N_LIMIT_COLUMNS (sizeof limit_columns / sizeof limit_columns[0])

static const char *const col_casts[] = {
    [COL_TEXT] = "",
    [COL_BOOL] = "::boolean",
    [COL_FLOAT] = "::float8",
    [COL_INT] = "::int",
};

static int limit_column(const char *name)
{
    for (size_t i = 0; i < N_LIMIT_COLUMNS; i++)
        if (strcmp(limit_columns[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The text form of a checked value in buf (NULL for null). */
static const char *limit_value(col_type type, json_t *v, char buf[64])
{
    if (json_is_null(v))
        return NULL;
    switch (type) {
    case COL_TEXT:
        return json_string_value(v);
    case COL_BOOL:
        return json_is_true(v) ? "true" : "false";
    case COL_FLOAT:
    case COL_INT:
        break;
    }
    snprintf(buf, 64, "%.10g", json_number_value(v));
    return buf;
}

db_status db_points_update_limits_tx(db_conn *c, const db_scope *s, int64_t point_id,
                                     const db_points_change *changes, size_t n, int *found,
                                     db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    if (n == 0 || n > N_LIMIT_COLUMNS) {
        LOG_ERROR("point limit change without columns", "n=%zu", n);
        return DB_HARD;
    }
    char pid[24], bufs[N_LIMIT_COLUMNS][64];
    const char *params[3 + N_LIMIT_COLUMNS] = {s->kind, s->id, db_i64(pid, point_id)};
    char set[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int k = limit_column(changes[i].column);
        if (k < 0) {
            char q[200];
            LOG_ERROR("point limit change names an unknown column", "column=%s",
                      srv_log_q(q, sizeof q, changes[i].column));
            return DB_HARD;
        }
        params[3 + i] = limit_value(limit_columns[k].type, changes[i].value, bufs[i]);
        len += (size_t)snprintf(set + len, sizeof set - len, "%s%s = $%zu%s", i ? ", " : "",
                                limit_columns[k].name, i + 4, col_casts[limit_columns[k].type]);
    }
    char sql[3072];
    snprintf(sql, sizeof sql,
             "UPDATE points p SET %s FROM enterprises e WHERE e.id = p.enterprise_id AND p.id = "
             "$3::bigint AND " SCOPE_ENT("e") " RETURNING p.id",
             set);
    db_status st;
    PGresult *res = db_exec_sql_diag(c, "pts_update_limits", sql, 3 + (int)n, params, &st, diag);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

/* ---- series --------------------------------------------------------------- */

/* Which statement answers a series.  All give the same numbers (the rollup
 * ones combine with raw readings where the rollups are not complete); they
 * differ in how many rows PostgreSQL reads. */
static const char *series_source(time_t from, time_t to, long bucket)
{
    if (bucket == 0)
        return "pts_series_raw";
    if (to - from <= RAW_MAX_RANGE_S || bucket % 60 != 0)
        return "pts_series_bucketed";
    if (bucket % 3600 == 0)
        return "pts_series_hour";
    /* minute rollups older than their retention are gone (whole days, migration 0139);
     * hours are kept.  The statement itself also reads raw before rollup_state.minute_from,
     * where retention really dropped them, so neither this clock nor a changed setting can
     * make it read rows that are gone: this test only spares it a range that would be
     * read raw anyway. */
    time_t minute_cutoff = time(NULL) - (time_t)g_config.rollup_minute_retention_days * 86400;
    if (g_config.rollup_minute_retention_days > 0 && from < minute_cutoff)
        return "pts_series_bucketed";
    return "pts_series_minute";
}

static void rfc3339_utc(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The first cell of res, or NULL when there is no row or the cell is NULL (res not
 * cleared). */
static const char *cell(const PGresult *res)
{
    return res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL;
}

/* The answer's text: the series object's members, then the filings, the point, from and to,
 * spliced from PostgreSQL's JSON as it is (parsing and printing ~170 items again took about
 * half of the server's CPU per series, printf's %.17g most of it).  malloc'd; NULL when out
 * of memory. */
static char *splice_answer(const char *series, const char *filings, const char *point,
                           const char *from, const char *to, size_t *len)
{
    /* the series object without its closing brace, then the rest as members */
    size_t ls = series ? strlen(series) : 0;
    while (ls > 0 && series[ls - 1] != '}')
        ls--;
    if (ls > 0)
        ls--;
    int members = 0;
    for (size_t i = 1; i < ls && !members; i++)
        members = series[i] != ' ' && series[i] != '\n';
    if (!filings)
        filings = "[]";
    size_t cap = ls + strlen(filings) + strlen(point) + strlen(from) + strlen(to) + 64;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    if (ls > 0) {
        memcpy(out, series, ls);
        n = ls;
    } else {
        out[n++] = '{';
    }
    n += (size_t)snprintf(out + n, cap - n,
                          "%s\"filings\":%s,\"point\":%s,\"from\":\"%s\",\"to\":\"%s\"}",
                          members ? "," : "", filings, point, from, to);
    *len = n;
    return out;
}

db_status db_points_series_answer(db_conn *c, const db_scope *s, int64_t point_id, time_t from,
                                  time_t to, long bucket_s, char **answer, size_t *len,
                                  int64_t *enterprise_id)
{
    *answer = NULL;
    *len = 0;
    *enterprise_id = 0;
    char pid[24], f[32], t[32], b[24];
    rfc3339_utc(from, f);
    rfc3339_utc(to, t);
    const char *sp[3] = {s->rls, s->focus, db_i64(pid, point_id)};
    const char *xp[6] = {s->kind, s->id, pid, f, t, db_i64(b, bucket_s)};
    /* with the enterprise learnt, the scope statement without the point's look-up (its
     * plan's nodes are initialised at every run, used or not); the same columns */
    db_pipe_stmt scope = s->focus[0] ? (db_pipe_stmt){"db_set_scope_focus_generic", 2, sp}
                                     : (db_pipe_stmt){"pts_series_scope", 3, sp};
    db_pipe_stmt stmt = {series_source(from, to, bucket_s), bucket_s ? 6 : 5, xp};
    PGresult *focus = NULL, *res = NULL;
    db_status st;
    db_status all = db_read_pipeline(c, &scope, &focus, &stmt, 1, &res, &st);
    /* the point, its series and filing periods: no row when the point is not in scope */
    const char *point = all == DB_OK ? cell(res) : NULL;
    db_status rc = DB_OK;
    if (all != DB_OK) {
        /* the scope or the answer (DB_BAD: stored values PostgreSQL cannot aggregate) failed */
        rc = all;
    } else if (point) {
        /* the focus the scope statement set: the point's enterprise (the point was found) */
        const char *e =
            focus && PQnfields(focus) >= 2 && PQntuples(focus) > 0 ? PQgetvalue(focus, 0, 1) : "";
        *enterprise_id = strtoll(e, NULL, 10);
        const char *series =
            PQnfields(res) >= 3 && !PQgetisnull(res, 0, 1) ? PQgetvalue(res, 0, 1) : NULL;
        const char *filings =
            PQnfields(res) >= 3 && !PQgetisnull(res, 0, 2) ? PQgetvalue(res, 0, 2) : NULL;
        *answer = splice_answer(series, filings, point, f, t, len);
        if (!*answer)
            rc = DB_HARD;
    }
    /* no point in scope: not found (DB_OK, *answer NULL), whatever the rest answered */
    PQclear(focus);
    PQclear(res);
    return rc;
}
