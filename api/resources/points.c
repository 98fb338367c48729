/* Monitoring points: list per enterprise with latest values, detail, limit
 * changes (audited), latest values and time series with downsampling. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_scope_sql.h"
#include "rds.h"
#include "srv_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* latest.ts: RFC 3339 in UTC with microseconds whatever the session's
 * TimeZone, so that the answer from Redis (formatted in C) is the same text */
#define POINT_JSON_WITH(latest, online)                                                            \
    "json_build_object('id', p.id, 'code', p.code, 'enterprise_id', p.enterprise_id, "             \
    "'system_id', p.system_id, 'kind', p.kind, 'kind_name', k.name_zh, 'value_type', "             \
    "k.value_type, 'name', p.name, 'unit', coalesce(nullif(p.unit, ''), k.unit), 'range_min', "    \
    "p.range_min, 'range_max', p.range_max, 'param_class', p.param_class, 'limits', "              \
    "json_build_object('high', p.limit_high, 'high_high', p.limit_high_high, 'low', "              \
    "p.limit_low, 'low_low', p.limit_low_low, 'deadband', p.deadband, 'min_duration_s', "          \
    "p.min_duration_s, 'rate_limit', p.rate_limit, 'rate_window_s', p.rate_window_s), "            \
    "'expected_interval_s', p.expected_interval_s, 'enabled', p.enabled, 'latest', " latest        \
    ", 'online', " online ")"
#define POINT_JSON                                                                                 \
    POINT_JSON_WITH("CASE WHEN l.point_id IS NULL THEN NULL ELSE json_build_object('ts', "         \
                    "to_char(l.collected_at AT TIME ZONE 'UTC', "                                  \
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'value', l.value, 'quality', "          \
                    "l.quality) END",                                                              \
                    "coalesce(l.collected_at > now() - make_interval(secs => 3 * "                 \
                    "p.expected_interval_s), false)")
/* the same without latest values: they come from Redis */
#define POINT_JSON_BARE POINT_JSON_WITH("NULL", "false")

#define POINT_FROM                                                                                 \
    " FROM points p JOIN enterprises e ON e.id = p.enterprise_id JOIN indicator_kinds k ON "       \
    "k.code = p.kind LEFT JOIN point_latest l ON l.point_id = p.id AND l.enterprise_id = "         \
    "p.enterprise_id "

/* Buckets of a series start at multiples of bucket_s from Beijing midnight
 * (the city's day), whatever the session's TimeZone; hours and minutes are the
 * same instants in UTC, which is what the rollups are cut on. */
#define MAX_AUTO_BUCKETS 300
#define RAW_MAX_RANGE_S  (3 * 3600)

#define BUCKET_ORIGIN "timestamptz '2000-01-01 00:00:00+08'"
#define UTC_ORIGIN    "timestamptz '2000-01-01 00:00:00+00'"

/* A bucketed series from a rollup tier (granularity g) that equals the same
 * aggregation over raw readings (migrations/0012_rollups.sql):
 *   [from, lo)   raw: the part of the first tier bucket after `from`
 *   [lo, hi)     rollup rows, hi = the last tier boundary before both `to`
 *                and rollup_state.rolled_to; hours with late readings not yet
 *                recomputed (rollup_dirty) come from raw instead
 *   [hi, to)     raw: the end of the range and what is not rolled up yet
 * Every raw branch also carries the literal $4/$5 bounds so the readings
 * partitions outside the range are pruned at plan start. */
#define SERIES_FROM_ROLLUP(table, g)                                                               \
    "WITH w AS (SELECT date_bin(interval '" g "', $4::timestamptz, " UTC_ORIGIN ") AS f0, "        \
    "date_bin(interval '" g "', least($5::timestamptz, s.rolled_to), " UTC_ORIGIN ") AS h0 FROM "  \
    "rollup_state s), b AS (SELECT least(CASE WHEN f0 = $4::timestamptz THEN f0 ELSE f0 + "        \
    "interval '" g "' END, $5::timestamptz) AS lo, h0 FROM w), c AS (SELECT lo, greatest(lo, h0) " \
    "AS hi FROM b), d AS (SELECT x.hour FROM rollup_dirty x, c WHERE x.point_id = $3::bigint AND " \
    "x.hour >= date_bin('1 hour', c.lo, " UTC_ORIGIN ") AND x.hour < c.hi), parts AS (SELECT "     \
    "t.bucket AS t, t.vmin, t.vmax, t.vsum, t.n::float8 AS n FROM " table " t, c WHERE "           \
    "t.point_id = $3::bigint AND t.bucket >= c.lo AND t.bucket < c.hi AND t.bucket >= "            \
    "$4::timestamptz AND t.bucket < $5::timestamptz AND NOT EXISTS (SELECT 1 FROM d WHERE d.hour " \
    "= date_bin('1 hour', t.bucket, " UTC_ORIGIN ")) UNION ALL SELECT r.collected_at, r.value, "   \
    "r.value, r.value, 1 FROM readings r WHERE r.point_id = $3::bigint AND r.collected_at >= "     \
    "$4::timestamptz AND r.collected_at < $4::timestamptz + interval '" g                          \
    "' AND r.collected_at < (SELECT lo FROM c) UNION ALL SELECT r.collected_at, r.value, "         \
    "r.value, r.value, 1 FROM readings r WHERE r.point_id = $3::bigint AND r.collected_at >= "     \
    "(SELECT hi FROM c) AND r.collected_at < $5::timestamptz UNION ALL SELECT r.collected_at, "    \
    "r.value, "                                                                                    \
    "r.value, r.value, 1 FROM readings r, c, d WHERE r.point_id = $3::bigint AND r.collected_at "  \
    ">= $4::timestamptz AND r.collected_at < $5::timestamptz AND r.collected_at >= "               \
    "greatest(d.hour, c.lo) AND r.collected_at < least(d.hour + interval '1 hour', c.hi)) SELECT " \
    "json_build_object('point_id', $3::bigint, 'bucket_s', $6::int, 'items', "                     \
    "coalesce(json_agg(json_build_array(extract(epoch FROM x.t) * 1000, x.mn, x.mx, x.av, x.n) "   \
    "ORDER BY x.t), '[]'::json))::text FROM (SELECT date_bin(make_interval(secs => $6::int), "     \
    "q.t, " BUCKET_ORIGIN ") AS t, min(q.vmin) mn, max(q.vmax) mx, round((sum(q.vsum) / "          \
    "sum(q.n))::numeric, 3)::float8 av, sum(q.n)::bigint n FROM parts q WHERE EXISTS (SELECT 1 "   \
    "FROM points p JOIN enterprises e ON e.id = p.enterprise_id WHERE p.id = $3::bigint "          \
    "AND " SCOPE_ENT("e") ") GROUP BY 1) x"

static const db_stmt statements[] = {
    /* $4: a dust-removal system id or NULL */
    {"pts_by_enterprise",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
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
     "1000000)::bigint, l.value, l.quality)), '[]'::json)::text FROM point_latest l JOIN points p "
     "ON p.id = l.point_id JOIN enterprises e ON e.id = p.enterprise_id WHERE l.enterprise_id = "
     "$3::bigint AND p.enterprise_id = $3::bigint AND " SCOPE_ENT("e")},
    {"pts_get",
     "SELECT " POINT_JSON "::text" POINT_FROM "WHERE p.id = $3::bigint AND " SCOPE_ENT("e")},
    /* readings are filtered by the point alone (its index); the scope check
     * is one uncorrelated EXISTS, run once, not a join per reading */
    {"pts_series_raw",
     "SELECT json_build_object('point_id', $3::bigint, 'bucket_s', 0, 'items', "
     "coalesce(json_agg(json_build_array(extract(epoch FROM r.collected_at) * 1000, r.value, "
     "r.quality) ORDER BY r.collected_at), '[]'::json))::text FROM readings r WHERE r.point_id = "
     "$3::bigint AND r.collected_at >= $4::timestamptz AND r.collected_at < $5::timestamptz AND "
     "EXISTS (SELECT 1 FROM points p JOIN enterprises e ON e.id = p.enterprise_id WHERE p.id = "
     "$3::bigint AND " SCOPE_ENT("e") ")"},
    {"pts_series_bucketed",
     "SELECT json_build_object('point_id', $3::bigint, 'bucket_s', $6::int, 'items', "
     "coalesce(json_agg(json_build_array(extract(epoch FROM b.t) * 1000, b.mn, b.mx, b.av, b.n) "
     "ORDER BY b.t), '[]'::json))::text FROM (SELECT date_bin(make_interval(secs => $6::int), "
     "r.collected_at, " BUCKET_ORIGIN ") AS t, min(r.value) mn, max(r.value) mx, "
     "round(avg(r.value)::numeric, 3)::float8 av, count(*) n FROM readings r WHERE r.point_id = "
     "$3::bigint AND r.collected_at >= $4::timestamptz AND r.collected_at < $5::timestamptz AND "
     "EXISTS (SELECT 1 FROM points p JOIN enterprises e ON e.id = p.enterprise_id WHERE p.id = "
     "$3::bigint AND " SCOPE_ENT("e") ") GROUP BY 1) b"},
    {"pts_series_minute", SERIES_FROM_ROLLUP("rollup_minute", "1 minute")},
    {"pts_series_hour", SERIES_FROM_ROLLUP("rollup_hour", "1 hour")},
    {"pts_visible",
     "SELECT 1 FROM points p JOIN enterprises e ON e.id = p.enterprise_id WHERE p.id = $3::bigint "
     "AND " SCOPE_ENT("e")},
};

typedef struct {
    const char *p[6];
    json_t *out;
    const char *stmt;
    int n;
    int found;
} ctx;

/* ---- latest values: Redis when it has them, PostgreSQL otherwise --------- */

static void format_ts_us(long long us, char out[40])
{
    time_t sec = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06lldZ", day, us % 1000000);
}

/* {"ts":..,"value":..,"quality":..} as the SQL builds it, or NULL */
static json_t *latest_json(long long ts_us, json_t *value, json_t *quality)
{
    if (!json_is_number(value) || !json_is_integer(quality))
        return NULL;
    char ts[40];
    format_ts_us(ts_us, ts);
    return json_pack("{s:s, s:O, s:O}", "ts", ts, "value", value, "quality", quality);
}

static void collect_field(void *arg, const char *field, const char *value)
{
    json_t *map = arg;
    json_t *v = strcmp(field, RDS_LATEST_COMPLETE) == 0 ? json_true() : json_loads(value, 0, NULL);
    if (v)
        json_object_set_new(map, field, v);
}

/* Sets latest/online of every item from map: code -> [ts_us, value, quality]. */
static void fill_latest(json_t *items, json_t *map)
{
    long long now_us = (long long)time(NULL) * 1000000;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        json_t *e = json_object_get(map, json_string_value(json_object_get(item, "code")));
        long long ts = (long long)json_integer_value(json_array_get(e, 0));
        json_t *latest = e ? latest_json(ts, json_array_get(e, 1), json_array_get(e, 2)) : NULL;
        long long every =
            (long long)json_integer_value(json_object_get(item, "expected_interval_s"));
        json_object_set_new(item, "online",
                            json_boolean(latest && ts > now_us - 3 * every * 1000000));
        json_object_set_new(item, "latest", latest ? latest : json_null());
    }
}

/* Redis hash fields {"ts_us":..,"v":..,"q":..} -> the map fill_latest reads;
 * 0, or -1 when the hash is not a complete copy (or is malformed). */
static int map_from_redis(json_t *hash, json_t *map)
{
    if (!json_is_true(json_object_get(hash, RDS_LATEST_COMPLETE)))
        return -1;
    const char *code;
    json_t *v;
    json_object_foreach(hash, code, v)
    {
        if (strcmp(code, RDS_LATEST_COMPLETE) == 0)
            continue;
        json_t *ts = json_object_get(v, "ts_us");
        if (!json_is_integer(ts) || !json_is_number(json_object_get(v, "v")))
            return -1;
        json_object_set_new(
            map, code,
            json_pack("[O, O, O]", ts, json_object_get(v, "v"), json_object_get(v, "q")));
    }
    return 0;
}

/* The PostgreSQL rows -> map, and the copy for Redis. */
static int map_from_pg(json_t *rows, json_t *map, const char *key, int seed, unsigned long gen)
{
    size_t n = json_array_size(rows), i;
    const char **fields = calloc(n + 1, sizeof *fields);
    const char **values = calloc(n + 1, sizeof *values);
    long long *ts = calloc(n + 1, sizeof *ts);
    char *buf = calloc(n + 1, 96);
    int rc = fields && values && ts && buf ? 0 : -1;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        if (rc != 0)
            break;
        json_object_set_new(map, json_string_value(json_array_get(row, 0)),
                            json_pack("[O, O, O]", json_array_get(row, 1), json_array_get(row, 2),
                                      json_array_get(row, 3)));
        fields[i] = json_string_value(json_array_get(row, 0));
        ts[i] = (long long)json_integer_value(json_array_get(row, 1));
        snprintf(buf + i * 96, 96, "{\"ts_us\":%lld,\"v\":%.17g,\"q\":%d}", ts[i],
                 json_number_value(json_array_get(row, 2)),
                 (int)json_integer_value(json_array_get(row, 3)));
        values[i] = buf + i * 96;
        if (!fields[i])
            rc = -1;
    }
    if (rc == 0 && seed)
        rds_latest_seed(key, n, fields, ts, values, gen);
    free(fields);
    free(values);
    free(ts);
    free(buf);
    return rc;
}

int api_points_by_enterprise(api_req *r)
{
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    const char *sys = api_req_query(r, "system_id");
    if (sys && api_parse_id(sys) < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "system_id must be a positive id");
    const char *p[4] = {kind, id, api_req_param(r, "id"), sys};
    json_t *out = NULL;
    db_status st;
    if (!rds_read_available()) {
        /* Redis away: one statement, latest values joined in PostgreSQL */
        st = api_query_json(r, "pts_by_enterprise", 4, p, &out);
        if (st != DB_OK)
            return api_reply_db(r, st);
        if (!out)
            return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
        return api_reply_json(r, 200, json_pack("{s:o}", "items", out));
    }
    /* the scope check and the point list stay in PostgreSQL; only the
     * values come from Redis */
    st = api_query_json(r, "pts_by_enterprise_bare", 4, p, &out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char key[96];
    snprintf(key, sizeof key, RDS_LATEST_PREFIX "%lld", api_parse_id(api_req_param(r, "id")));
    json_t *hash = json_object(), *map = json_object();
    int found = rds_hgetall(key, collect_field, hash);
    if (found != 1 || map_from_redis(hash, map) != 0) {
        /* not there, not complete, or Redis failed: PostgreSQL answers, and
         * a reachable Redis gets the full copy for the next request */
        json_object_clear(map);
        unsigned long gen = rds_latest_generation();
        json_t *rows = NULL;
        st = api_query_json(r, "pts_latest_of_enterprise", 3, p, &rows);
        if (st == DB_OK && rows)
            map_from_pg(rows, map, key, found >= 0, gen);
        json_decref(rows);
        if (st != DB_OK) {
            json_decref(hash);
            json_decref(map);
            json_decref(out);
            return api_reply_db(r, st);
        }
    }
    json_t *items = json_incref(json_object_get(out, "items"));
    fill_latest(items, map);
    json_decref(hash);
    json_decref(map);
    json_decref(out);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", items));
}

int api_point_get(api_req *r)
{
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such point");
    ctx x = {{kind, id, api_req_param(r, "id")}, NULL, "pts_get", 3, 0};
    return api_reply_query(r, x.stmt, x.n, x.p, "point");
}

/* Which statement answers a series.  All give the same numbers (the rollup
 * ones combine with raw readings where the rollups are not complete); they
 * differ in how many rows PostgreSQL reads. */
static const char *series_source(time_t from, time_t to, long bucket)
{
    if (bucket == 0)
        return "pts_series_raw";
    /* a few hours of raw readings are as cheap as their rollups */
    if (to - from <= RAW_MAX_RANGE_S || bucket % 60 != 0)
        return "pts_series_bucketed";
    if (bucket % 3600 == 0)
        return "pts_series_hour";
    /* minute rollups older than their retention are gone; hours are kept */
    time_t minute_cutoff = time(NULL) - (time_t)g_config.rollup_minute_retention_days * 86400;
    if (g_config.rollup_minute_retention_days > 0 && from < minute_cutoff)
        return "pts_series_bucketed";
    return "pts_series_minute";
}

int api_point_series(api_req *r)
{
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such point");
    time_t now = time(NULL), from = now - 86400, to = now + 60;
    const char *qf = api_req_query(r, "from"), *qt = api_req_query(r, "to");
    if ((qf && api_parse_time(qf, &from) != 0) || (qt && api_parse_time(qt, &to) != 0))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "from/to must be RFC 3339 with offset or epoch milliseconds");
    if (to <= from || to - from > 400L * 86400)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "the range must be positive and at most 400 days");
    long bucket = 0;
    const char *qb = api_req_query(r, "bucket");
    if (qb) {
        bucket = strtol(qb, NULL, 10);
        if (bucket < 0 || bucket > 86400 * 7)
            return api_reply_error(r, API_E_BAD_REQUEST, "bucket is seconds, 0..604800");
    } else if (to - from > 6 * 3600) {
        /* at most ~300 buckets: about what a chart's width shows, and it puts a
         * week on hours, i.e. on the hourly rollup (168 rows, not 2,016+) */
        static const long steps[] = {60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400};
        long b = 86400;
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
            if ((to - from + steps[i] - 1) / steps[i] <= MAX_AUTO_BUCKETS) {
                b = steps[i];
                break;
            }
        bucket = b;
    }
    char f[32], t[32], b[24];
    struct tm tm;
    gmtime_r(&from, &tm);
    strftime(f, sizeof f, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&to, &tm);
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(b, sizeof b, "%ld", bucket);
    ctx vis = {{kind, id, api_req_param(r, "id")}, NULL, "pts_get", 3, 0};
    db_status st = api_query_json(r, vis.stmt, vis.n, vis.p, &vis.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!vis.out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such point");
    ctx x = {{kind, id, api_req_param(r, "id"), f, t, b},
             NULL,
             series_source(from, to, bucket),
             bucket ? 6 : 5,
             0};
    /* the point's enterprise is known now: name it, so row-level security on
     * the readings and rollups answers without listing the whole scope */
    char eid[24];
    snprintf(eid, sizeof eid, "%lld",
             (long long)json_integer_value(json_object_get(vis.out, "enterprise_id")));
    st = api_query_json_about(r, eid, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK) {
        json_decref(vis.out);
        return api_reply_db(r, st);
    }
    json_t *out = x.out ? x.out : json_object();
    json_object_set_new(out, "point", vis.out);
    json_object_set_new(out, "from", json_string(f));
    json_object_set_new(out, "to", json_string(t));
    return api_reply_json(r, 200, out);
}

/* ---- limit changes ------------------------------------------------------ */

static const char *const limit_fields[] = {
    "name",      "limit_high",          "limit_high_high", "limit_low",     "limit_low_low",
    "deadband",  "min_duration_s",      "rate_limit",      "rate_window_s", "range_min",
    "range_max", "expected_interval_s", "enabled",         "param_class",
};
#define N_LIMIT_FIELDS (sizeof limit_fields / sizeof limit_fields[0])

typedef struct {
    json_t *body;
    long long id;
    char *vals[N_LIMIT_FIELDS];
    char sql[2048];
    int n;
    int found;
    char why[256];
    json_t *before;
} upd_ctx;

static db_status update_tx(api_req *r, db_conn *c, void *arg)
{
    upd_ctx *x = arg;
    char kind[16], sid[24], pid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    snprintf(pid, sizeof pid, "%lld", x->id);
    const char *vp[3] = {kind, sid, pid};
    db_status st;
    x->before = api_db_json(c, "pts_get", 3, vp, &st);
    if (st != DB_OK || !x->before)
        return st;
    const char *params[3 + N_LIMIT_FIELDS];
    params[0] = kind;
    params[1] = sid;
    params[2] = pid;
    for (int i = 0; i < x->n; i++)
        params[3 + i] = x->vals[i];
    /* x->sql is "col = $4, col = $5, ": the SET list without its last comma */
    size_t set_len = strlen(x->sql);
    if (set_len >= 2)
        set_len -= 2;
    char sql[3072];
    snprintf(sql, sizeof sql,
             "UPDATE points p SET %.*s FROM enterprises e WHERE e.id = p.enterprise_id AND p.id = "
             "$3::bigint AND " SCOPE_ENT("e") " RETURNING p.id",
             (int)set_len, x->sql);
    PGresult *res = PQexecParams(db_pg(c), sql, 3 + x->n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        st = db_classify(c, res);
        const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(x->why, sizeof x->why, "%s", m ? m : "update failed");
        PQclear(res);
        return st;
    }
    x->found = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

int api_point_update(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    upd_ctx x = {.body = body, .id = api_parse_id(api_req_param(r, "id"))};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such point");
    if (api_req_caller(r)->kind == API_SCOPE_ENTERPRISE ||
        api_req_caller(r)->kind == API_SCOPE_STREET)
        return api_reply_error(r, API_E_FORBIDDEN, "alarm limits are set by the district");
    if (api_json_strict(r, body, limit_fields, N_LIMIT_FIELDS) != 0)
        return 0;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(body, key, v)
    {
        char buf[64];
        const char *cast = "::float8";
        if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v)) {
                rc = api_reply_error(r, API_E_BAD_REQUEST, "enabled must be true or false");
                goto out;
            }
            snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
            cast = "::boolean";
        } else if (strcmp(key, "name") == 0 || strcmp(key, "param_class") == 0) {
            if (!json_is_string(v) || json_string_length(v) > 100) {
                rc = api_reply_error(r, API_E_BAD_REQUEST, "%s must be a short string", key);
                goto out;
            }
            x.vals[x.n] = strdup(json_string_value(v));
            cast = "";
            goto add;
        } else if (json_is_null(v)) {
            x.vals[x.n] = NULL;
            if (strcmp(key, "deadband") == 0 || strstr(key, "_s")) {
                rc = api_reply_error(r, API_E_BAD_REQUEST, "%s cannot be null", key);
                goto out;
            }
            goto add;
        } else if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            rc = api_reply_error(r, API_E_BAD_REQUEST, "%s must be a number or null", key);
            goto out;
        } else {
            if (strstr(key, "_s") && key[strlen(key) - 1] == 's' && key[strlen(key) - 2] == '_') {
                if (!json_is_integer(v)) {
                    rc = api_reply_error(r, API_E_BAD_REQUEST, "%s must be whole seconds", key);
                    goto out;
                }
                cast = "::int";
            }
            snprintf(buf, sizeof buf, "%.10g", json_number_value(v));
        }
        x.vals[x.n] = strdup(buf);
    add:;
        size_t l = strlen(x.sql);
        snprintf(x.sql + l, sizeof x.sql - l, "%s = $%d%s, ", key, x.n + 4, cast);
        x.n++;
    }
    if (x.n == 0) {
        rc = api_reply_error(r, API_E_BAD_REQUEST, "nothing to change");
        goto out;
    }
    db_status st = api_tx(r, update_tx, &x);
    char obj[48];
    snprintf(obj, sizeof obj, "point:%lld", x.id);
    if (st == DB_OK && (!x.before || !x.found)) {
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such point");
        goto out;
    }
    if (st != DB_OK) {
        api_audit(r, "point_limits_update", obj, "failed", x.why);
        rc = st == DB_BAD ? api_reply_error(r, API_E_UNPROCESSABLE, "%s", x.why)
                          : api_reply_db(r, st);
        goto out;
    }
    {
        /* the audit record keeps before and after: limits decide alarms */
        json_t *detail =
            json_pack("{s:O, s:O}", "before", json_object_get(x.before, "limits"), "change", body);
        char *d = json_dumps(detail, JSON_COMPACT);
        api_audit(r, "point_limits_update", obj, "ok", d);
        free(d);
        json_decref(detail);
    }
    rc = api_point_get(r);
out:
    for (int i = 0; i < x.n; i++)
        free(x.vals[i]);
    json_decref(x.before);
    return rc;
}

void api_points_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
