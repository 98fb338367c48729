/* Monitoring assets for the API: dust-removal systems, points (create and
 * delete), cameras and gateways.  Each kind has the same operations, so the
 * statements are chosen by kind from one table. */
#include "db_assets.h"

#include "db_internal.h"
#include "db_scope_sql.h"
#include "srv_log.h"

#include <sodium.h>

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
     "p.id) OR EXISTS (SELECT 1 FROM readings r WHERE r.point_id = p.id) OR EXISTS (SELECT 1 "
     "FROM readings_packed k WHERE k.point_id = p.id) THEN 'the point has "
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
    /* $3 alarm: the snapshot of its video alarm, base64 (bytea text would be hex) */
    {"ast_snapshot",
     "SELECT encode(v.image, 'base64') FROM alarms a JOIN video_alarms v ON v.id = "
     "a.video_alarm_id JOIN enterprises e ON e.id = a.enterprise_id WHERE a.id = $3::bigint AND "
     "v.image IS NOT NULL AND " SCOPE_ENT("e")},
};

void db_assets_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* The statements of each kind; NULL where the kind has no such operation. */
typedef struct kind_stmts {
    const char *list, *get, *create, *update, *check, *del;
} kind_stmts;

static const kind_stmts by_kind[] = {
    [DB_ASSET_SYSTEM] = {"ast_sys_list", "ast_sys_get", "ast_sys_create", "ast_sys_update",
                         "ast_sys_check", "ast_sys_delete"},
    [DB_ASSET_POINT] = {NULL, "ast_pt_get", "ast_pt_create", NULL, "ast_pt_check", "ast_pt_delete"},
    [DB_ASSET_CAMERA] = {"ast_cam_list", "ast_cam_get", "ast_cam_create", "ast_cam_update",
                         "ast_cam_check", "ast_cam_delete"},
    [DB_ASSET_GATEWAY] = {"ast_gw_list", "ast_gw_get", "ast_gw_create", "ast_gw_update",
                          "ast_gw_check", "ast_gw_delete"},
};

static const kind_stmts *stmts_of(db_assets_kind k)
{
    static const kind_stmts none = {0};
    return (size_t)k < sizeof by_kind / sizeof by_kind[0] ? &by_kind[k] : &none;
}

/* A kind asked for an operation it does not have: our bug. */
static db_status no_such_op(db_assets_kind k, const char *op)
{
    LOG_ERROR("asset kind has no such operation", "kind=%d op=%s", (int)k, op);
    return DB_HARD;
}

db_status db_assets_list(db_conn *c, const db_scope *s, db_assets_kind k, int64_t enterprise_id,
                         json_t **out)
{
    *out = NULL;
    const char *stmt = stmts_of(k)->list;
    if (!stmt)
        return no_such_op(k, "list");
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, stmt, 3, p, out);
}

db_status db_assets_get(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id, json_t **out)
{
    *out = NULL;
    const char *stmt = stmts_of(k)->get;
    if (!stmt)
        return no_such_op(k, "get");
    char oid[24];
    const char *p[3] = {s->kind, s->id, db_i64(oid, id)};
    return db_read_json(c, s, stmt, 3, p, out);
}

db_status db_assets_get_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                           json_t **out)
{
    *out = NULL;
    const char *stmt = stmts_of(k)->get;
    if (!stmt)
        return no_such_op(k, "get");
    char oid[24];
    const char *p[3] = {s->kind, s->id, db_i64(oid, id)};
    return db_exec_json(c, stmt, 3, p, out);
}

/* A write returning (id, enterprise_id) when it touched a row. */
static db_status run_write(db_conn *c, const char *stmt, int n, const char *const *p,
                           db_assets_written *out, db_diag *diag)
{
    db_status st;
    PGresult *res = db_exec_diag(c, stmt, n, p, &st, diag);
    if (!res)
        return st;
    db_assets_written w = {0};
    if (PQntuples(res) == 1) {
        w.found = 1;
        w.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        w.enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    *out = w;
    return DB_OK;
}

db_status db_assets_create_tx(db_conn *c, const db_scope *s, db_assets_kind k,
                              int64_t enterprise_id, const char *body, db_assets_written *out,
                              db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    const char *stmt = stmts_of(k)->create;
    if (!stmt)
        return no_such_op(k, "create");
    char eid[24];
    const char *p[4] = {s->kind, s->id, db_i64(eid, enterprise_id), body};
    return run_write(c, stmt, 4, p, out, diag);
}

db_status db_assets_update_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                              const char *body, db_assets_written *out, db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    const char *stmt = stmts_of(k)->update;
    if (!stmt)
        return no_such_op(k, "update");
    char oid[24];
    const char *p[4] = {s->kind, s->id, db_i64(oid, id), body};
    return run_write(c, stmt, 4, p, out, diag);
}

db_status db_assets_delete_check_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                                    int *found, char *why, size_t whylen)
{
    const char *stmt = stmts_of(k)->check;
    if (!stmt)
        return no_such_op(k, "check");
    char oid[24];
    const char *p[3] = {s->kind, s->id, db_i64(oid, id)};
    db_status st;
    PGresult *res = db_exec(c, stmt, 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    snprintf(why, whylen, "%s", *found && !PQgetisnull(res, 0, 1) ? PQgetvalue(res, 0, 1) : "");
    PQclear(res);
    return DB_OK;
}

db_status db_assets_delete_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                              db_assets_written *out, db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    const char *stmt = stmts_of(k)->del;
    if (!stmt)
        return no_such_op(k, "delete");
    char oid[24];
    const char *p[3] = {s->kind, s->id, db_i64(oid, id)};
    return run_write(c, stmt, 3, p, out, diag);
}

db_status db_assets_request_recompute_tx(db_conn *c, int64_t enterprise_id, const char *reason)
{
    return db_risk_request_recompute(c, enterprise_id, reason);
}

db_status db_assets_snapshot(db_conn *c, const db_scope *s, int64_t alarm_id, unsigned char **data,
                             size_t *len, int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, alarm_id)};
    db_status st;
    PGresult *res = db_exec(c, "ast_snapshot", 3, p, &st);
    if (!res)
        return st;
    *found = 0;
    if (PQntuples(res) == 1) {
        const char *b64 = PQgetvalue(res, 0, 0);
        size_t l = (size_t)PQgetlength(res, 0, 0);
        unsigned char *bytes = malloc(l / 4 * 3 + 3);
        size_t n = 0;
        if (bytes && sodium_base642bin(bytes, l / 4 * 3 + 3, b64, l, "\r\n", &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL) == 0) {
            *data = bytes;
            *len = n;
            *found = 1;
        } else {
            free(bytes);
        }
    }
    PQclear(res);
    return DB_OK;
}
