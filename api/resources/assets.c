/* An enterprise's monitoring assets: dust-removal systems, cameras and
 * gateways (list, get, create, change, delete), and creating and deleting
 * monitoring points (their list, detail and limit changes live in points.c).
 *
 * Who writes (routes.c admits the same roles):
 *   systems, points    city and district.  Both feed the enterprise's risk
 *                      score (dry central collectors, positive pressure,
 *                      mandatory points online), so the enterprise being
 *                      scored may not edit them: the rule of the archive and
 *                      of the alarm limits.
 *   cameras, gateways  city, district and the enterprise itself: equipment
 *                      the enterprise installs and replaces; no score input.
 *   street accounts    read only, like everywhere else.
 *
 * Deleting never loses stored data.  A point with readings, a latest value,
 * gateway events or alarms, a system that points or cameras still belong to,
 * and a camera that video alarms name all answer 409 in_use with what to do
 * instead (disable the point or camera: ingest then refuses the point's
 * readings and the alarm rules skip it, and its history stays readable).
 * Only what nothing refers to is removed; gateways never hold data.  The
 * audit record of a delete keeps the whole row.
 *
 * Bodies are checked field by field against a table (unknown field 400,
 * wrong type or length 400), then travel as one jsonb parameter that the
 * statement unpacks with jsonb_populate_record(NULL::<table>, $4): every
 * value is a parameter, and the tables' CHECK constraints stay the single
 * source of the remaining rules (422 with PostgreSQL's words). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_scope_sql.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENT_VISIBLE                                                                                \
    "EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT("e") ")"

/* in an UPDATE of row t: the row with the body's fields laid over it (a
 * field the body names as null clears the column; the others keep theirs) */
#define PATCHED(t) "jsonb_populate_record(" t ", $4::jsonb) b"

#define SYSTEM_JSON                                                                                \
    "json_build_object('id', ds.id, 'enterprise_id', ds.enterprise_id, 'code', ds.code, 'name', "  \
    "ds.name, 'workshop', ds.workshop, 'wet', ds.wet, 'collector_type', ds.collector_type, "       \
    "'central', ds.central, 'airflow_m3h', ds.airflow_m3h, 'positive_pressure', "                  \
    "ds.positive_pressure, 'indoor', ds.indoor, 'protection', json_build_object('venting', "       \
    "ds.has_venting, 'isolation', ds.has_isolation, 'suppression', ds.has_suppression, "           \
    "'inerting', ds.has_inerting, 'airlock', ds.has_airlock, 'spark_detection', "                  \
    "ds.has_spark_detection), 'points', (SELECT count(*) FROM points p WHERE p.system_id = "       \
    "ds.id), 'cameras', (SELECT count(*) FROM cameras c WHERE c.system_id = ds.id), "              \
    "'created_at', ds.created_at)"

#define CAMERA_JSON                                                                                \
    "json_build_object('id', c.id, 'enterprise_id', c.enterprise_id, 'code', c.code, 'name', "     \
    "c.name, 'system_id', c.system_id, 'location', c.location, 'stream_url', c.stream_url, "       \
    "'enabled', c.enabled, 'created_at', c.created_at, 'updated_at', c.updated_at, "               \
    "'last_alarm_at', (SELECT max(v.occurred_at) FROM video_alarms v WHERE v.enterprise_id = "     \
    "c.enterprise_id AND v.camera_code = c.code))"

#define GATEWAY_JSON                                                                               \
    "json_build_object('id', g.id, 'enterprise_id', g.enterprise_id, 'code', g.code, 'name', "     \
    "g.name, 'dialect', g.dialect, 'last_seen_at', g.last_seen_at, 'created_at', g.created_at)"

/* $1 scope kind, $2 scope id, $3 the enterprise (list, create) or the
 * object, $4 the checked body as jsonb.  Writes return (id, enterprise_id);
 * delete checks return (enterprise_id, why not) with the row locked. */
static const db_stmt statements[] = {
    /* ---- dust-removal systems */
    {"ast_sys_list",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN json_build_object('items', coalesce((SELECT "
     "json_agg(" SYSTEM_JSON " ORDER BY ds.code) FROM dust_systems ds WHERE ds.enterprise_id = "
     "$3::bigint), '[]'::json)) END::text"},
    {"ast_sys_get",
     "SELECT " SYSTEM_JSON "::text FROM dust_systems ds JOIN enterprises e ON e.id = "
     "ds.enterprise_id WHERE ds.id = $3::bigint AND " SCOPE_ENT("e")},
    {"ast_sys_create",
     "INSERT INTO dust_systems (enterprise_id, code, name, workshop, wet, collector_type, "
     "central, airflow_m3h, positive_pressure, indoor, has_venting, has_isolation, "
     "has_suppression, has_inerting, has_airlock, has_spark_detection) SELECT e.id, b.code, "
     "b.name, coalesce(b.workshop, ''), coalesce(b.wet, false), coalesce(b.collector_type, "
     "'bag'), coalesce(b.central, true), b.airflow_m3h, coalesce(b.positive_pressure, false), "
     "coalesce(b.indoor, false), coalesce(b.has_venting, false), coalesce(b.has_isolation, "
     "false), coalesce(b.has_suppression, false), coalesce(b.has_inerting, false), "
     "coalesce(b.has_airlock, false), coalesce(b.has_spark_detection, false) FROM enterprises "
     "e, "
     "jsonb_populate_record(NULL::dust_systems, $4::jsonb) b WHERE e.id = $3::bigint "
     "AND " SCOPE_ENT("e") " RETURNING id, enterprise_id"},
    {"ast_sys_update",
     "UPDATE dust_systems ds SET (code, name, workshop, wet, collector_type, central, "
     "airflow_m3h, positive_pressure, indoor, has_venting, has_isolation, has_suppression, "
     "has_inerting, has_airlock, has_spark_detection) = (SELECT b.code, b.name, b.workshop, "
     "b.wet, b.collector_type, b.central, b.airflow_m3h, b.positive_pressure, b.indoor, "
     "b.has_venting, b.has_isolation, b.has_suppression, b.has_inerting, b.has_airlock, "
     "b.has_spark_detection FROM " PATCHED(
         "ds") ") FROM enterprises e WHERE e.id = "
               "ds.enterprise_id AND ds.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING ds.id, "
                                                                             "ds.enterprise_id"},
    {"ast_sys_check",
     "SELECT ds.enterprise_id, CASE WHEN EXISTS (SELECT 1 FROM points p WHERE p.system_id = "
     "ds.id) THEN 'monitoring points belong to the system: delete them first (possible while "
     "they hold no data), or keep the system' WHEN EXISTS (SELECT 1 FROM cameras c WHERE "
     "c.system_id = ds.id) THEN 'cameras watch the system: move them to another system or to "
     "none first' END FROM dust_systems ds JOIN enterprises e ON e.id = ds.enterprise_id WHERE "
     "ds.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF ds"},
    {"ast_sys_delete", "DELETE FROM dust_systems ds USING enterprises e WHERE e.id = "
                       "ds.enterprise_id AND ds.id = "
                       "$3::bigint AND " SCOPE_ENT("e") " RETURNING ds.id, ds.enterprise_id"},

    /* ---- monitoring points (create and delete; the rest is points.c) */
    {"ast_pt_get", "SELECT row_to_json(p)::text FROM points p JOIN enterprises e ON e.id = "
                   "p.enterprise_id WHERE p.id = $3::bigint AND " SCOPE_ENT("e")},
    {"ast_pt_create",
     "INSERT INTO points (code, enterprise_id, system_id, kind, name, unit, range_min, "
     "range_max, param_class, limit_high, limit_high_high, limit_low, limit_low_low, deadband, "
     "min_duration_s, rate_limit, rate_window_s, expected_interval_s, enabled) SELECT b.code, "
     "e.id, b.system_id, b.kind, coalesce(b.name, ''), coalesce(b.unit, ''), b.range_min, "
     "b.range_max, coalesce(b.param_class, 'mandatory'), b.limit_high, b.limit_high_high, "
     "b.limit_low, b.limit_low_low, coalesce(b.deadband, 0), coalesce(b.min_duration_s, 0), "
     "b.rate_limit, coalesce(b.rate_window_s, 600), coalesce(b.expected_interval_s, 60), "
     "coalesce(b.enabled, true) FROM enterprises e, jsonb_populate_record(NULL::points, "
     "$4::jsonb) b WHERE e.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING id, enterprise_id"},
    /* The row lock makes an ingest writer that is about to store this
     * point's first reading wait (its point_latest insert checks the foreign
     * key) and then fail on the deleted point; a writer that got there first
     * has committed before the lock is granted, and the check sees its data.
     * Alarms are found through their enterprise index. */
    {"ast_pt_check",
     "SELECT p.enterprise_id, CASE WHEN EXISTS (SELECT 1 FROM point_latest l WHERE l.point_id "
     "= "
     "p.id) OR EXISTS (SELECT 1 FROM readings r WHERE r.point_id = p.id) THEN 'the point has "
     "stored readings' WHEN EXISTS (SELECT 1 FROM gateway_events g WHERE g.point_id = p.id) "
     "THEN "
     "'the point has gateway alarm events' WHEN EXISTS (SELECT 1 FROM alarms a WHERE "
     "a.enterprise_id = p.enterprise_id AND a.point_id = p.id) THEN 'the point has alarms' END "
     "|| '; disable it instead (PATCH /api/v1/points/' || p.id || ' {\"enabled\": false}): "
     "ingest then refuses its readings, the alarm rules skip it and its history stays' FROM "
     "points p JOIN enterprises e ON e.id = p.enterprise_id WHERE p.id = $3::bigint "
     "AND " SCOPE_ENT("e") " FOR UPDATE OF p"},
    /* the worker may have started the point's alarm-rule state already; with
     * no data behind it, that state is empty and goes with the point */
    {"ast_pt_delete",
     "WITH s AS (DELETE FROM point_rule_state s WHERE s.point_id = $3::bigint AND EXISTS "
     "(SELECT "
     "1 FROM enterprises e WHERE e.id = s.enterprise_id AND " SCOPE_ENT(
         "e") ")) DELETE FROM points p USING enterprises e WHERE e.id = p.enterprise_id AND "
              "p.id "
              "= $3::bigint AND " SCOPE_ENT("e") " RETURNING p.id, p.enterprise_id"},

    /* ---- cameras */
    {"ast_cam_list",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN json_build_object('items', coalesce((SELECT "
     "json_agg(" CAMERA_JSON " ORDER BY c.code) FROM cameras c WHERE c.enterprise_id = "
     "$3::bigint), '[]'::json)) END::text"},
    {"ast_cam_get", "SELECT " CAMERA_JSON "::text FROM cameras c JOIN enterprises e ON e.id = "
                    "c.enterprise_id WHERE c.id = $3::bigint AND " SCOPE_ENT("e")},
    {"ast_cam_create",
     "INSERT INTO cameras (enterprise_id, code, name, system_id, location, stream_url, "
     "enabled) "
     "SELECT e.id, b.code, b.name, b.system_id, coalesce(b.location, ''), b.stream_url, "
     "coalesce(b.enabled, true) FROM enterprises e, jsonb_populate_record(NULL::cameras, "
     "$4::jsonb) b WHERE e.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING id, enterprise_id"},
    {"ast_cam_update",
     "UPDATE cameras c SET (name, system_id, location, stream_url, enabled, updated_at) = "
     "(SELECT b.name, b.system_id, b.location, b.stream_url, b.enabled, now() FROM " PATCHED(
         "c") ") FROM enterprises e WHERE e.id = c.enterprise_id AND c.id = $3::bigint "
              "AND " SCOPE_ENT("e") " RETURNING c.id, c.enterprise_id"},
    {"ast_cam_check",
     "SELECT c.enterprise_id, CASE WHEN EXISTS (SELECT 1 FROM video_alarms v WHERE "
     "v.enterprise_id = c.enterprise_id AND v.camera_code = c.code) OR EXISTS (SELECT 1 FROM "
     "alarms a WHERE a.enterprise_id = c.enterprise_id AND a.camera_code = c.code) THEN 'video "
     "alarms name the camera; disable it instead (PATCH {\"enabled\": false}) and its alarms "
     "stay attributable' END FROM cameras c JOIN enterprises e ON e.id = c.enterprise_id WHERE "
     "c.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF c"},
    {"ast_cam_delete",
     "DELETE FROM cameras c USING enterprises e WHERE e.id = c.enterprise_id AND c.id = "
     "$3::bigint AND " SCOPE_ENT("e") " RETURNING c.id, c.enterprise_id"},

    /* ---- gateways: a registry of devices; no data refers to them */
    {"ast_gw_list",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN json_build_object('items', coalesce((SELECT "
     "json_agg(" GATEWAY_JSON " ORDER BY g.code) FROM gateways g WHERE g.enterprise_id = "
     "$3::bigint), '[]'::json)) END::text"},
    {"ast_gw_get", "SELECT " GATEWAY_JSON "::text FROM gateways g JOIN enterprises e ON e.id = "
                   "g.enterprise_id WHERE g.id = $3::bigint AND " SCOPE_ENT("e")},
    {"ast_gw_create",
     "INSERT INTO gateways (enterprise_id, code, name, dialect) SELECT e.id, b.code, "
     "coalesce(b.name, ''), coalesce(b.dialect, 'native') FROM enterprises e, "
     "jsonb_populate_record(NULL::gateways, $4::jsonb) b WHERE e.id = $3::bigint "
     "AND " SCOPE_ENT("e") " RETURNING id, enterprise_id"},
    {"ast_gw_update",
     "UPDATE gateways g SET (code, name, dialect) = (SELECT b.code, b.name, b.dialect "
     "FROM " PATCHED("g") ") FROM enterprises e WHERE e.id = g.enterprise_id AND g.id = $3::bigint "
                          "AND " SCOPE_ENT("e") " RETURNING g.id, g.enterprise_id"},
    {"ast_gw_check",
     "SELECT g.enterprise_id, NULL::text FROM gateways g JOIN enterprises e ON e.id = "
     "g.enterprise_id WHERE g.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF g"},
    {"ast_gw_delete",
     "DELETE FROM gateways g USING enterprises e WHERE e.id = g.enterprise_id AND g.id = "
     "$3::bigint AND " SCOPE_ENT("e") " RETURNING g.id, g.enterprise_id"},

    {"ast_recompute",
     "INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ($1::bigint, $2) ON "
     "CONFLICT DO NOTHING"},
};

/* ---- bodies ------------------------------------------------------------- */

enum { F_TEXT, F_BOOL, F_INT, F_NUM, F_ENUM, F_ID, F_FLAGS };
enum {
    F_REQUIRED = 1,    /* on create */
    F_NULLABLE = 2,    /* null stores NULL */
    F_CREATE_ONLY = 4, /* identity: past data is keyed by it */
};

typedef struct field {
    const char *name;
    int type;
    unsigned flags;
    long long min, max; /* F_TEXT: characters; F_INT: value */
    const char *values; /* F_ENUM: "a|b"; F_FLAGS: keys, stored as has_<key> */
} field;

#define INT_MAX_SQL 2147483647LL

static const field system_fields[] = {
    {"code", F_TEXT, F_REQUIRED, 1, 32, NULL},
    {"name", F_TEXT, F_REQUIRED, 1, 100, NULL},
    {"workshop", F_TEXT, 0, 0, 100, NULL},
    {"wet", F_BOOL, 0, 0, 0, NULL},
    {"collector_type", F_ENUM, 0, 0, 0,
     "bag|cartridge|cyclone|settling|wet_scrubber|water_curtain|other"},
    {"central", F_BOOL, 0, 0, 0, NULL},
    {"airflow_m3h", F_INT, F_NULLABLE, 1, INT_MAX_SQL, NULL},
    {"positive_pressure", F_BOOL, 0, 0, 0, NULL},
    {"indoor", F_BOOL, 0, 0, 0, NULL},
    {"protection", F_FLAGS, 0, 0, 0,
     "venting|isolation|suppression|inerting|airlock|spark_detection"},
};

/* the same names and rules as PATCH /points/{id} (points.c), plus identity */
static const field point_fields[] = {
    {"code", F_TEXT, F_REQUIRED | F_CREATE_ONLY, 4, 40, NULL},
    {"kind", F_TEXT, F_REQUIRED | F_CREATE_ONLY, 1, 41, NULL},
    {"system_id", F_ID, F_NULLABLE | F_CREATE_ONLY, 0, 0, NULL},
    {"name", F_TEXT, 0, 0, 100, NULL},
    {"unit", F_TEXT, 0, 0, 20, NULL},
    {"range_min", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"range_max", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"param_class", F_ENUM, 0, 0, 0, "mandatory|conditional|optional"},
    {"limit_high", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"limit_high_high", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"limit_low", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"limit_low_low", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"deadband", F_NUM, 0, 0, 0, NULL},
    {"min_duration_s", F_INT, 0, 0, INT_MAX_SQL, NULL},
    {"rate_limit", F_NUM, F_NULLABLE, 0, 0, NULL},
    {"rate_window_s", F_INT, 0, 1, INT_MAX_SQL, NULL},
    {"expected_interval_s", F_INT, 0, 1, 86400, NULL},
    {"enabled", F_BOOL, 0, 0, 0, NULL},
};

static const field camera_fields[] = {
    {"code", F_TEXT, F_REQUIRED | F_CREATE_ONLY, 1, 64, NULL},
    {"name", F_TEXT, F_REQUIRED, 1, 100, NULL},
    {"system_id", F_ID, F_NULLABLE, 0, 0, NULL},
    {"location", F_TEXT, 0, 0, 200, NULL},
    {"stream_url", F_TEXT, F_NULLABLE, 1, 500, NULL},
    {"enabled", F_BOOL, 0, 0, 0, NULL},
};

static const field gateway_fields[] = {
    {"code", F_TEXT, F_REQUIRED, 2, 40, NULL},
    {"name", F_TEXT, 0, 0, 100, NULL},
    {"dialect", F_ENUM, 0, 0, 0, "native|hebei|mem"},
};

#define MAX_FIELDS 24
_Static_assert(sizeof point_fields / sizeof point_fields[0] <= MAX_FIELDS, "raise MAX_FIELDS");
_Static_assert(sizeof system_fields / sizeof system_fields[0] <= MAX_FIELDS, "raise MAX_FIELDS");

static int in_list(const char *list, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == n && strncmp(p, s, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

/* limits are in characters, as users count them, not UTF-8 bytes */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* api_reply_error for the checks below: returns -1, the "replied" result */
static int refuse(api_req *r, api_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(api_req *r, api_error e, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_reply_error(r, e, "%s", msg);
    return -1;
}

/* 0 with v stored under its column name(s) in out; -1 after replying 400. */
static int check_value(api_req *r, const field *f, json_t *v, json_t *out)
{
    switch (f->type) {
    case F_TEXT: {
        size_t n = json_is_string(v) ? utf8_chars(json_string_value(v)) : 0;
        if (!json_is_string(v) || (long long)n < f->min || (long long)n > f->max)
            return refuse(r, API_E_BAD_REQUEST,
                          "%s must be a string of %lld to %lld "
                          "characters",
                          f->name, f->min, f->max);
        break;
    }
    case F_BOOL:
        if (!json_is_boolean(v))
            return refuse(r, API_E_BAD_REQUEST, "%s must be true or false", f->name);
        break;
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            return refuse(r, API_E_BAD_REQUEST,
                          "%s must be a whole number from %lld to "
                          "%lld",
                          f->name, f->min, f->max);
        break;
    case F_NUM:
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return refuse(r, API_E_BAD_REQUEST, "%s must be a number%s", f->name,
                          f->flags & F_NULLABLE ? " or null" : "");
        break;
    case F_ENUM:
        if (!json_is_string(v) || !in_list(f->values, json_string_value(v)))
            return refuse(r, API_E_BAD_REQUEST, "%s must be one of %s", f->name, f->values);
        break;
    case F_ID:
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return refuse(r, API_E_BAD_REQUEST, "%s must be an id or null", f->name);
        break;
    case F_FLAGS: {
        if (!json_is_object(v))
            return refuse(r, API_E_BAD_REQUEST,
                          "%s must be an object of true/false "
                          "flags",
                          f->name);
        const char *key;
        json_t *flag;
        json_object_foreach(v, key, flag)
        {
            if (!in_list(f->values, key))
                return refuse(r, API_E_UNKNOWN_FIELD, "unknown field \"%s.%s\"", f->name, key);
            if (!json_is_boolean(flag))
                return refuse(r, API_E_BAD_REQUEST, "%s.%s must be true or false", f->name, key);
            char col[64];
            snprintf(col, sizeof col, "has_%s", key);
            json_object_set(out, col, flag);
        }
        return 0;
    }
    }
    json_object_set(out, f->name, v);
    return 0;
}

/* The body checked against fields: a new object keyed by column, or NULL
 * after replying 400. */
static json_t *check_body(api_req *r, json_t *body, const field *fields, size_t n, int create)
{
    const char *names[MAX_FIELDS];
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++)
        names[i] = fields[i].name;
    if (api_json_strict(r, body, names, n) != 0)
        return NULL;
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        const field *f = &fields[i];
        json_t *v = json_object_get(body, f->name);
        if (!v) {
            if (create && (f->flags & F_REQUIRED)) {
                api_reply_error(r, API_E_BAD_REQUEST, "%s is required", f->name);
                goto bad;
            }
            continue;
        }
        if (!create && (f->flags & F_CREATE_ONLY)) {
            api_reply_error(r, API_E_BAD_REQUEST,
                            "%s cannot change: stored data is keyed by it; create a new object "
                            "instead",
                            f->name);
            goto bad;
        }
        if (json_is_null(v)) {
            if (!(f->flags & F_NULLABLE)) {
                api_reply_error(r, API_E_BAD_REQUEST, "%s cannot be null", f->name);
                goto bad;
            }
            json_object_set(out, f->name, v);
            continue;
        }
        if (check_value(r, f, v, out) != 0)
            goto bad;
    }
    if (!create && json_object_size(out) == 0) {
        api_reply_error(r, API_E_BAD_REQUEST, "nothing to change");
        goto bad;
    }
    return out;
bad:
    json_decref(out);
    return NULL;
}

/* ---- one machinery for every resource ----------------------------------- */

typedef struct resource {
    const char *what;  /* in messages: "no such <what>" */
    const char *audit; /* actions <audit>_create/_update/_delete, objects <audit>:<id> */
    const field *fields;
    size_t n_fields;
    const char *list, *get, *create, *update, *check, *del;
    int risk_input; /* changes ask the worker to score the enterprise again */
} resource;

static const resource systems = {
    .what = "dust-removal system",
    .audit = "dust_system",
    .fields = system_fields,
    .n_fields = sizeof system_fields / sizeof system_fields[0],
    .list = "ast_sys_list",
    .get = "ast_sys_get",
    .create = "ast_sys_create",
    .update = "ast_sys_update",
    .check = "ast_sys_check",
    .del = "ast_sys_delete",
    .risk_input = 1,
};
/* listed, read and changed through points.c */
static const resource points = {
    .what = "point",
    .audit = "point",
    .fields = point_fields,
    .n_fields = sizeof point_fields / sizeof point_fields[0],
    .get = "ast_pt_get",
    .create = "ast_pt_create",
    .check = "ast_pt_check",
    .del = "ast_pt_delete",
    .risk_input = 1,
};
static const resource cameras = {
    .what = "camera",
    .audit = "camera",
    .fields = camera_fields,
    .n_fields = sizeof camera_fields / sizeof camera_fields[0],
    .list = "ast_cam_list",
    .get = "ast_cam_get",
    .create = "ast_cam_create",
    .update = "ast_cam_update",
    .check = "ast_cam_check",
    .del = "ast_cam_delete",
};
static const resource gateways = {
    .what = "gateway",
    .audit = "gateway",
    .fields = gateway_fields,
    .n_fields = sizeof gateway_fields / sizeof gateway_fields[0],
    .list = "ast_gw_list",
    .get = "ast_gw_get",
    .create = "ast_gw_create",
    .update = "ast_gw_update",
    .check = "ast_gw_check",
    .del = "ast_gw_delete",
};

/* What a refused write means to the caller, by the constraint PostgreSQL
 * named.  Foreign systems and missing ones read the same. */
static const struct {
    const char *constraint;
    api_error error;
    const char *detail;
} constraint_replies[] = {
    {"dust_systems_enterprise_id_code_key", API_E_CONFLICT,
     "the enterprise has a dust-removal system with this code"},
    {"points_code_key", API_E_CONFLICT,
     "a point with this code exists (point codes are unique in the city: gateways send them)"},
    {"points_kind_fkey", API_E_UNPROCESSABLE, "kind is not in the indicator catalogue"},
    {"points_system_id_enterprise_id_fkey", API_E_UNPROCESSABLE,
     "system_id names no dust-removal system of this enterprise"},
    {"cameras_enterprise_id_code_key", API_E_CONFLICT,
     "the enterprise has a camera with this code"},
    {"cameras_system_id_enterprise_id_fkey", API_E_UNPROCESSABLE,
     "system_id names no dust-removal system of this enterprise"},
    {"gateways_code_key", API_E_CONFLICT,
     "a gateway with this code exists (gateway codes are unique in the city)"},
};

enum { OP_CREATE, OP_UPDATE, OP_DELETE };
static const char *const op_names[] = {"create", "update", "delete"};

typedef struct {
    const resource *res;
    int op;
    const char *id;   /* the path's id: the enterprise for create, else the object */
    const char *body; /* the checked body as JSON text */
    json_t *before, *after;
    long long obj_id, enterprise_id;
    int found;
    char refused[512]; /* a delete refused: why, and what to do instead */
    db_diag diag;
} write_ctx;

static db_status write_tx(api_req *r, db_conn *c, void *arg)
{
    write_ctx *x = arg;
    /* a retried transaction starts over */
    json_decref(x->before);
    json_decref(x->after);
    x->before = x->after = NULL;
    x->found = 0;
    x->refused[0] = '\0';
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    const char *p[4] = {kind, sid, x->id, x->body};
    db_status st;
    if (x->op != OP_CREATE) {
        x->before = api_db_json(c, x->res->get, 3, p, &st);
        if (st != DB_OK || !x->before)
            return st;
    }
    if (x->op == OP_DELETE) {
        PGresult *res = db_exec(c, x->res->check, 3, p, &st);
        if (!res)
            return st;
        int rows = PQntuples(res);
        if (rows == 1 && !PQgetisnull(res, 0, 1))
            snprintf(x->refused, sizeof x->refused, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
        if (rows != 1 || x->refused[0])
            return DB_OK;
    }
    const char *stmt = x->op == OP_CREATE   ? x->res->create
                       : x->op == OP_UPDATE ? x->res->update
                                            : x->res->del;
    PGresult *res = db_exec_diag(c, stmt, x->op == OP_DELETE ? 3 : 4, p, &st, &x->diag);
    if (!res)
        return st;
    if (PQntuples(res) == 1) {
        x->found = 1;
        x->obj_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        x->enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    if (!x->found)
        return DB_OK;
    char oid[24], eid[24];
    snprintf(oid, sizeof oid, "%lld", x->obj_id);
    snprintf(eid, sizeof eid, "%lld", x->enterprise_id);
    if (x->op != OP_DELETE) {
        const char *gp[3] = {kind, sid, oid};
        x->after = api_db_json(c, x->res->get, 3, gp, &st);
        if (st != DB_OK)
            return st;
    }
    if (x->res->risk_input) {
        const char *rp[2] = {eid, x->res->audit};
        res = db_exec(c, "ast_recompute", 2, rp, &st);
        if (!res)
            return st;
        PQclear(res);
    }
    return DB_OK;
}

static int reply_refused_write(api_req *r, const write_ctx *x, db_status st)
{
    if (st != DB_BAD)
        return api_reply_db(r, st);
    const db_diag *d = &x->diag;
    for (size_t i = 0; i < sizeof constraint_replies / sizeof constraint_replies[0]; i++)
        if (strcmp(d->constraint, constraint_replies[i].constraint) == 0)
            return api_reply_error(r, constraint_replies[i].error, "%s",
                                   constraint_replies[i].detail);
    if (x->op == OP_DELETE && strcmp(d->sqlstate, "23503") == 0)
        return api_reply_error(r, API_E_IN_USE, "other objects still refer to this %s",
                               x->res->what);
    if (strcmp(d->sqlstate, "23505") == 0)
        return api_reply_error(r, API_E_CONFLICT, "%s", d->message);
    return api_reply_error(r, API_E_UNPROCESSABLE, "%s",
                           d->message[0] ? d->message : "the values break a rule of the table");
}

/* A copy of v (new reference) whose camera stream address has no user
 * information: rtsp://user:password@host/... keeps working for the
 * enterprise, but the audit trail is kept for years and read by others. */
static json_t *without_url_secrets(json_t *v)
{
    json_t *c = json_deep_copy(v);
    const char *url = json_string_value(json_object_get(c, "stream_url"));
    const char *scheme = url ? strstr(url, "://") : NULL;
    if (!scheme)
        return c;
    const char *host = scheme + 3;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash)) {
        char *clean = NULL;
        if (asprintf(&clean, "%.*s***%s", (int)(host - url), url, at) >= 0) {
            json_object_set_new(c, "stream_url", json_string(clean));
            free(clean);
        }
    }
    return c;
}

static char *audit_detail(const char *key1, json_t *v1, const char *key2, json_t *v2)
{
    json_t *d = json_object();
    if (v1)
        json_object_set_new(d, key1, without_url_secrets(v1));
    if (key2 && v2)
        json_object_set_new(d, key2, without_url_secrets(v2));
    char *s = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return s;
}

/* Create, update or delete res, audited whatever the outcome. */
static int res_write(api_req *r, const resource *res, int op)
{
    write_ctx x = {.res = res, .op = op, .id = api_req_param(r, "id")};
    const char *parent = op == OP_CREATE ? "enterprise" : res->what;
    if (api_parse_id(x.id) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such %s", parent);
    json_t *change = NULL;
    char *body = NULL;
    if (op != OP_DELETE) {
        json_t *raw = api_req_json(r);
        if (!raw)
            return 0;
        change = check_body(r, raw, res->fields, res->n_fields, op == OP_CREATE);
        if (!change)
            return 0;
        body = json_dumps(change, JSON_COMPACT);
        x.body = body;
    }
    db_status st = api_tx(r, write_tx, &x);
    char action[64], obj[64];
    snprintf(action, sizeof action, "%s_%s", res->audit, op_names[op]);
    if (op == OP_CREATE && x.found)
        snprintf(obj, sizeof obj, "%s:%lld", res->audit, x.obj_id);
    else
        snprintf(obj, sizeof obj, "%s:%s", op == OP_CREATE ? "enterprise" : res->audit, x.id);
    int rc;
    char *detail = NULL;
    if (st != DB_OK) {
        json_t *why = json_string(x.diag.message);
        detail = audit_detail("change", change, "error", why);
        json_decref(why);
        api_audit(r, action, obj, "failed", detail);
        rc = reply_refused_write(r, &x, st);
    } else if (x.refused[0]) {
        api_audit(r, action, obj, "failed", x.refused);
        rc = api_reply_error(r, API_E_IN_USE, "%s", x.refused);
    } else if (!x.found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such %s", parent);
    } else if (op == OP_DELETE) {
        /* the audit trail keeps what was removed */
        detail = audit_detail("deleted", x.before, NULL, NULL);
        api_audit(r, action, obj, "ok", detail);
        rc = api_reply_json(r, 200,
                            json_pack("{s:b, s:I}", "deleted", 1, "id", (json_int_t)x.obj_id));
    } else {
        detail = op == OP_CREATE ? audit_detail("created", x.after, NULL, NULL)
                                 : audit_detail("before", x.before, "change", change);
        api_audit(r, action, obj, "ok", detail);
        rc = api_reply_json(r, op == OP_CREATE ? 201 : 200,
                            x.after ? json_incref(x.after) : json_object());
    }
    free(detail);
    free(body);
    json_decref(change);
    json_decref(x.before);
    json_decref(x.after);
    return rc;
}

static int res_list(api_req *r, const resource *res)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    const char *p[3] = {kind, sid, api_req_param(r, "id")};
    return api_reply_query(r, res->list, 3, p, "enterprise");
}

static int res_get(api_req *r, const resource *res)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such %s", res->what);
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    const char *p[3] = {kind, sid, api_req_param(r, "id")};
    return api_reply_query(r, res->get, 3, p, res->what);
}

/* ---- route handlers ------------------------------------------------------ */

int api_systems_list(api_req *r)
{
    return res_list(r, &systems);
}

int api_system_get(api_req *r)
{
    return res_get(r, &systems);
}

int api_system_create(api_req *r)
{
    return res_write(r, &systems, OP_CREATE);
}

int api_system_update(api_req *r)
{
    return res_write(r, &systems, OP_UPDATE);
}

int api_system_delete(api_req *r)
{
    return res_write(r, &systems, OP_DELETE);
}

int api_point_create(api_req *r)
{
    return res_write(r, &points, OP_CREATE);
}

int api_point_delete(api_req *r)
{
    return res_write(r, &points, OP_DELETE);
}

int api_cameras_list(api_req *r)
{
    return res_list(r, &cameras);
}

int api_camera_get(api_req *r)
{
    return res_get(r, &cameras);
}

int api_camera_create(api_req *r)
{
    return res_write(r, &cameras, OP_CREATE);
}

int api_camera_update(api_req *r)
{
    return res_write(r, &cameras, OP_UPDATE);
}

int api_camera_delete(api_req *r)
{
    return res_write(r, &cameras, OP_DELETE);
}

int api_gateways_list(api_req *r)
{
    return res_list(r, &gateways);
}

int api_gateway_get(api_req *r)
{
    return res_get(r, &gateways);
}

int api_gateway_create(api_req *r)
{
    return res_write(r, &gateways, OP_CREATE);
}

int api_gateway_update(api_req *r)
{
    return res_write(r, &gateways, OP_UPDATE);
}

int api_gateway_delete(api_req *r)
{
    return res_write(r, &gateways, OP_DELETE);
}

void api_assets_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
