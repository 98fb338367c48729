/* Monitoring points: list per enterprise with latest values, detail, limit
 * changes (audited), latest values and time series with downsampling. */
#include "api_auth.h"
#include "api_cache.h"
#include "api_handlers.h"
#include "db_points.h"
#include "rds.h"
#include "srv_config.h"
#include "srv_log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* at most ~300 buckets when the caller names none: about what a chart's
 * width shows */
#define MAX_AUTO_BUCKETS 300

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

/* {"ts":..,"value":..,"quality":..} as db_points_of_enterprise builds it, or NULL */
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
        long long ts_us;
        double value;
        int quality;
        if (rds_latest_parse(v, &ts_us, &value, &quality) != 0)
            return -1;
        /* the stored JSON values pass through as they are (30 stays 30) */
        json_object_set_new(map, code,
                            json_pack("[O, O, O]", json_object_get(v, "ts_us"),
                                      json_object_get(v, "v"), json_object_get(v, "q")));
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
    char *buf = calloc(n + 1, RDS_LATEST_VALUE_LEN);
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
        values[i] = buf + i * RDS_LATEST_VALUE_LEN;
        rds_latest_value(buf + i * RDS_LATEST_VALUE_LEN, ts[i],
                         json_number_value(json_array_get(row, 2)),
                         (int)json_integer_value(json_array_get(row, 3)));
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
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    const char *sys = api_req_query(r, "system_id");
    long long system_id = sys ? api_parse_id(sys) : 0;
    if (system_id < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "system_id must be a positive id");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    if (!c)
        return api_reply_db(r, DB_HARD);
    json_t *out = NULL;
    db_status st;
    if (!rds_read_available()) {
        /* Redis away: one statement, latest values joined in PostgreSQL */
        st = db_points_of_enterprise(c, &s, eid, system_id, &out);
        if (st != DB_OK)
            return api_reply_db(r, st);
        if (!out)
            return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
        return api_reply_json(r, 200, json_pack("{s:o}", "items", out));
    }
    /* the scope check and the point list stay in PostgreSQL; only the
     * values come from Redis */
    st = db_points_of_enterprise_bare(c, &s, eid, system_id, &out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char key[RDS_LATEST_KEY_LEN];
    rds_latest_key(key, eid);
    json_t *hash = json_object(), *map = json_object();
    int found = rds_hgetall(key, collect_field, hash);
    if (found != 1 || map_from_redis(hash, map) != 0) {
        /* not there, not complete, or Redis failed: PostgreSQL answers, and
         * a reachable Redis gets the full copy for the next request */
        json_object_clear(map);
        unsigned long gen = rds_latest_generation();
        json_t *rows = NULL;
        st = db_points_latest_of_enterprise(c, &s, eid, &rows);
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
    return api_read_by_id(r, "point", db_points_get);
}

/* The series answer (*answer, malloc'd JSON text of *len bytes, and 0), or the error
 * reply's result with *answer NULL. */
static int series_answer(api_req *r, long long id, time_t from, time_t to, long bucket,
                         char **answer, size_t *len)
{
    /* one round trip: the point, its series and filing periods (issue 14: the chart marks
     * them), with the point's enterprise as row-level security's focus (learnt, or looked
     * up by the same transaction) */
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    int64_t enterprise = 0;
    *answer = NULL;
    db_status st =
        c ? db_points_series_answer(c, &s, id, from, to, bucket, answer, len, &enterprise)
          : DB_HARD;
    /* not a rule of the archive the caller broke: the stored readings */
    if (st == DB_BAD)
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "the point's stored readings in this range cannot be "
                               "aggregated (a stored value PostgreSQL cannot compute with); "
                               "see the point's data_quality.quarantined_hours");
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!*answer)
        return api_reply_error(r, API_E_NOT_FOUND, "no such point");
    api_focus_learn_point(id, (long long)enterprise);
    return 0;
}

int api_point_series(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
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
    /* A point's chart over a range is the same answer for a few seconds (readings arrive
     * every 10-60 s, the monitoring cards show the latest live): reused for series_cache_ms
     * per scope, point, range and bucket (api_cache.h).
     * The range is the one asked, to the second; without `to` it runs up to now, and the
     * monitoring page asks its ranges that way from the start of an hour (or minute), so the
     * charts of one point opened about the same time share an answer. */
    char key[200];
    api_cache_key(r, key, sizeof key, "%lld|%lld|%lld|%ld", id, (long long)from,
                  qt ? (long long)to : -1LL, bucket);
    int mine = 0;
    int64_t age_ms = 0;
    size_t hit_len = 0;
    char *hit =
        api_cache_get(API_CACHE_SERIES, key, g_config.series_cache_ms, &mine, &age_ms, &hit_len);
    if (hit)
        return api_cache_reply(r, hit, hit_len, age_ms);
    unsigned long gen = api_write_generation(); /* before the data: see overview.c */
    int64_t started = srv_mono_ms();
    char *text = NULL;
    size_t len = 0;
    int rc = series_answer(r, id, from, to, bucket, &text, &len);
    if (mine)
        api_cache_put_text(API_CACHE_SERIES, key, text, len, gen, started);
    return text ? api_reply_json_text(r, text, len) : rc;
}

/* ---- limit changes ------------------------------------------------------ */

static const char *const limit_fields[] = {
    "name",      "limit_high",          "limit_high_high", "limit_low",     "limit_low_low",
    "deadband",  "min_duration_s",      "rate_limit",      "rate_window_s", "range_min",
    "range_max", "expected_interval_s", "enabled",         "param_class",
};
#define N_LIMIT_FIELDS (sizeof limit_fields / sizeof limit_fields[0])

typedef struct {
    long long id;
    db_points_change changes[N_LIMIT_FIELDS];
    size_t n;
    int found;
    db_diag diag;
    char why[256];
    json_t *before;
    json_t *body; /* the request's change, for the audit record */
} upd_ctx;

static db_status update_tx(api_req *r, db_conn *c, void *arg)
{
    upd_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    /* a retried transaction starts over */
    json_decref(x->before);
    x->before = NULL;
    x->found = 0;
    x->why[0] = '\0';
    db_status st = db_points_get_tx(c, &s, x->id, &x->before);
    if (st != DB_OK || !x->before)
        return st;
    st = db_points_update_limits_tx(c, &s, x->id, x->changes, x->n, &x->found, &x->diag);
    if (st != DB_OK) {
        snprintf(x->why, sizeof x->why, "%s",
                 x->diag.message[0] ? x->diag.message : "update failed");
        return st;
    }
    if (!x->found)
        return DB_OK;
    /* the audit record keeps before and after (limits decide alarms), in
     * the transaction: the change and its record commit together */
    char obj[48];
    snprintf(obj, sizeof obj, "point:%lld", x->id);
    json_t *detail = json_pack("{s:O?, s:O?}", "before", json_object_get(x->before, "limits"),
                               "change", x->body);
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (!d)
        return DB_HARD;
    st = api_audit_tx(r, c, "point_limits_update", obj, "ok", d);
    free(d);
    return st;
}

int api_point_update(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    upd_ctx x = {.id = api_parse_id(api_req_param(r, "id")), .body = body};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such point");
    if (api_req_caller(r)->kind == API_SCOPE_ENTERPRISE ||
        api_req_caller(r)->kind == API_SCOPE_STREET)
        return api_reply_error(r, API_E_FORBIDDEN, "alarm limits are set by the district");
    if (api_json_strict(r, body, limit_fields, N_LIMIT_FIELDS) != 0)
        return 0;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v))
                return api_reply_error(r, API_E_BAD_REQUEST, "enabled must be true or false");
        } else if (strcmp(key, "name") == 0 || strcmp(key, "param_class") == 0) {
            if (!json_is_string(v) || json_string_length(v) > 100)
                return api_reply_error(r, API_E_BAD_REQUEST, "%s must be a short string", key);
        } else if (json_is_null(v)) {
            if (strcmp(key, "deadband") == 0 || strstr(key, "_s"))
                return api_reply_error(r, API_E_BAD_REQUEST, "%s cannot be null", key);
        } else if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            return api_reply_error(r, API_E_BAD_REQUEST, "%s must be a number or null", key);
        } else if (strstr(key, "_s") && key[strlen(key) - 1] == 's' &&
                   key[strlen(key) - 2] == '_' && !json_is_integer(v)) {
            return api_reply_error(r, API_E_BAD_REQUEST, "%s must be whole seconds", key);
        }
        x.changes[x.n++] = (db_points_change){key, v};
    }
    if (x.n == 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "nothing to change");
    db_status st = api_tx(r, update_tx, &x);
    char obj[48];
    snprintf(obj, sizeof obj, "point:%lld", x.id);
    int rc;
    if (st == DB_OK && (!x.before || !x.found)) {
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such point");
    } else if (st != DB_OK) {
        api_audit(r, "point_limits_update", obj, "failed", x.why);
        rc = st == DB_BAD ? api_reply_error(r, API_E_UNPROCESSABLE, "%s", x.why)
                          : api_reply_db(r, st);
    } else {
        /* the "ok" record was written in the transaction (update_tx) */
        rc = api_point_get(r);
    }
    json_decref(x.before);
    return rc;
}

void api_points_init(void)
{
    db_points_register();
}
