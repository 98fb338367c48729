/* Bulk import and export of systems, points and cameras (db_bulk.h).
 * Creating a row is db_assets_create_tx: one INSERT per kind, the same
 * defaults as the single-object API. */
#include "db_bulk.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $3: one enterprise's id or NULL for every enterprise in scope */
#define ONE_ENT(e) "($3::bigint IS NULL OR " e ".id = $3::bigint)"

/* in an UPDATE of row t: the row with the body ($4) laid over it */
#define OVER(t) "jsonb_populate_record(" t ", $4::jsonb)"

static const db_stmt statements[] = {
    /* ---- export: one array per row, the columns of bulk.c's tables */
    {"blk_sys_export",
     "SELECT coalesce(json_agg(json_build_array(e.code, ds.code, ds.name, ds.workshop, "
     "ds.collector_type, ds.wet, ds.central, ds.airflow_m3h, ds.positive_pressure, ds.indoor, "
     "ds.has_venting, ds.has_isolation, ds.has_suppression, ds.has_inerting, ds.has_airlock, "
     "ds.has_spark_detection) ORDER BY e.code, ds.code), '[]'::json)::text FROM dust_systems ds "
     "JOIN enterprises e ON e.id = ds.enterprise_id WHERE " SCOPE_ENT("e") " AND " ONE_ENT("e")},
    {"blk_pt_export",
     "SELECT coalesce(json_agg(json_build_array(e.code, p.code, p.kind, ds.code, p.name, p.unit, "
     "p.range_min, p.range_max, p.param_class, p.limit_high, p.limit_high_high, p.limit_low, "
     "p.limit_low_low, p.deadband, p.min_duration_s, p.rate_limit, p.rate_window_s, "
     "p.expected_interval_s, p.enabled) ORDER BY e.code, p.code), '[]'::json)::text FROM points p "
     "JOIN enterprises e ON e.id = p.enterprise_id LEFT JOIN dust_systems ds ON ds.id = "
     "p.system_id WHERE " SCOPE_ENT("e") " AND " ONE_ENT("e")},
    {"blk_cam_export",
     "SELECT coalesce(json_agg(json_build_array(e.code, c.code, c.name, ds.code, c.location, "
     "c.stream_url, c.enabled) ORDER BY e.code, c.code), '[]'::json)::text FROM cameras c JOIN "
     "enterprises e ON e.id = c.enterprise_id LEFT JOIN dust_systems ds ON ds.id = c.system_id "
     "WHERE " SCOPE_ENT("e") " AND " ONE_ENT("e")},

    /* ---- import: natural keys */
    {"blk_ent", "SELECT e.id FROM enterprises e WHERE e.code = $3 AND " SCOPE_ENT("e")},
    {"blk_sys_find",
     "SELECT ds.id FROM dust_systems ds JOIN enterprises e ON e.id = ds.enterprise_id WHERE "
     "ds.enterprise_id = $3::bigint AND ds.code = $4 AND " SCOPE_ENT("e")},
    {"blk_cam_find",
     "SELECT c.id FROM cameras c JOIN enterprises e ON e.id = c.enterprise_id WHERE "
     "c.enterprise_id = $3::bigint AND c.code = $4 AND " SCOPE_ENT("e")},
    {"blk_pt_find",
     "SELECT p.id, p.enterprise_id, coalesce(p.system_id, 0), p.kind FROM points p JOIN "
     "enterprises e ON e.id = p.enterprise_id WHERE p.code = $3 AND " SCOPE_ENT("e")},

    /* ---- import: updates that write only when a value differs */
    {"blk_sys_update",
     "WITH o AS (SELECT row_to_json(x)::text AS j FROM dust_systems x WHERE x.id = $3::bigint) "
     "UPDATE dust_systems ds SET (name, workshop, wet, collector_type, central, airflow_m3h, "
     "positive_pressure, indoor, has_venting, has_isolation, has_suppression, has_inerting, "
     "has_airlock, has_spark_detection) = (SELECT b.name, b.workshop, b.wet, b.collector_type, "
     "b.central, b.airflow_m3h, b.positive_pressure, b.indoor, b.has_venting, b.has_isolation, "
     "b.has_suppression, b.has_inerting, b.has_airlock, b.has_spark_detection FROM " OVER(
         "ds") " b) FROM enterprises e WHERE e.id = ds.enterprise_id AND ds.id = $3::bigint AND "
               "" SCOPE_ENT("e") " AND " OVER(
                   "ds") " IS DISTINCT FROM ds RETURNING ds.id, (SELECT j FROM o)"},
    {"blk_pt_update",
     "WITH o AS (SELECT row_to_json(x)::text AS j FROM points x WHERE x.id = $3::bigint) "
     "UPDATE points p SET (name, unit, range_min, range_max, param_class, limit_high, "
     "limit_high_high, limit_low, limit_low_low, deadband, min_duration_s, rate_limit, "
     "rate_window_s, expected_interval_s, enabled) = (SELECT b.name, b.unit, b.range_min, "
     "b.range_max, b.param_class, b.limit_high, b.limit_high_high, b.limit_low, b.limit_low_low, "
     "b.deadband, b.min_duration_s, b.rate_limit, b.rate_window_s, b.expected_interval_s, "
     "b.enabled FROM " OVER("p") " b) FROM enterprises e WHERE e.id = p.enterprise_id AND p.id = "
                                 "$3::bigint AND " SCOPE_ENT("e") " AND " OVER(
                                     "p") " IS DISTINCT FROM p RETURNING p.id, (SELECT j FROM o)"},
    {"blk_cam_update",
     "WITH o AS (SELECT row_to_json(x)::text AS j FROM cameras x WHERE x.id = $3::bigint) "
     "UPDATE cameras c SET (name, system_id, location, stream_url, enabled, updated_at) = (SELECT "
     "b.name, b.system_id, b.location, b.stream_url, b.enabled, now() FROM " OVER(
         "c") " b) FROM enterprises e WHERE e.id = c.enterprise_id AND c.id = $3::bigint AND "
              "" SCOPE_ENT("e") " AND " OVER(
                  "c") " IS DISTINCT FROM c RETURNING c.id, (SELECT j FROM o)"},
};

void db_bulk_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

static const char *const export_stmt[] = {
    [DB_BULK_SYSTEMS] = "blk_sys_export",
    [DB_BULK_POINTS] = "blk_pt_export",
    [DB_BULK_CAMERAS] = "blk_cam_export",
};
static const char *const update_stmt[] = {
    [DB_BULK_SYSTEMS] = "blk_sys_update",
    [DB_BULK_POINTS] = "blk_pt_update",
    [DB_BULK_CAMERAS] = "blk_cam_update",
};

db_status db_bulk_export(db_conn *c, const db_scope *s, db_bulk_kind k, int64_t enterprise_id,
                         json_t **rows)
{
    *rows = NULL;
    if ((unsigned)k > DB_BULK_CAMERAS)
        return DB_HARD;
    char eid[24];
    const char *p[3] = {s->kind, s->id, enterprise_id > 0 ? db_i64(eid, enterprise_id) : NULL};
    return db_read_json(c, s, export_stmt[k], 3, p, rows);
}

/* A statement answering at most one row whose first cell is an id: *id, or 0. */
static db_status one_id(db_conn *c, const char *stmt, int n, const char *const *p, int64_t *id)
{
    *id = 0;
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) >= 1)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}

db_status db_bulk_enterprise_tx(db_conn *c, const db_scope *s, const char *code, int64_t *id)
{
    const char *p[3] = {s->kind, s->id, code};
    return one_id(c, "blk_ent", 3, p, id);
}

db_status db_bulk_find_tx(db_conn *c, const db_scope *s, db_bulk_kind k, int64_t enterprise_id,
                          const char *code, int64_t *id)
{
    *id = 0;
    if (k != DB_BULK_SYSTEMS && k != DB_BULK_CAMERAS)
        return DB_HARD;
    char eid[24];
    const char *p[4] = {s->kind, s->id, db_i64(eid, enterprise_id), code};
    return one_id(c, k == DB_BULK_SYSTEMS ? "blk_sys_find" : "blk_cam_find", 4, p, id);
}

db_status db_bulk_point_tx(db_conn *c, const db_scope *s, const char *code, db_bulk_point *out)
{
    memset(out, 0, sizeof *out);
    const char *p[3] = {s->kind, s->id, code};
    db_status st;
    PGresult *res = db_exec(c, "blk_pt_find", 3, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) >= 1) {
        out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        out->system_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        snprintf(out->kind, sizeof out->kind, "%s", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return DB_OK;
}

db_status db_bulk_update_tx(db_conn *c, const db_scope *s, db_bulk_kind k, int64_t id,
                            const char *body, json_t **before, db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    *before = NULL;
    if ((unsigned)k > DB_BULK_CAMERAS)
        return DB_HARD;
    char oid[24];
    const char *p[4] = {s->kind, s->id, db_i64(oid, id), body};
    db_status st;
    PGresult *res = db_exec_diag(c, update_stmt[k], 4, p, &st, diag);
    if (!res)
        return st;
    if (PQntuples(res) > 0) {
        *before = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
        if (!*before) {
            PQclear(res);
            return DB_HARD;
        }
    }
    PQclear(res);
    return DB_OK;
}

db_status db_bulk_row_begin_tx(db_conn *c)
{
    return db_command(c, "SAVEPOINT bulk_row");
}

db_status db_bulk_row_keep_tx(db_conn *c)
{
    return db_command(c, "RELEASE SAVEPOINT bulk_row");
}

db_status db_bulk_row_undo_tx(db_conn *c)
{
    return db_command(c, "ROLLBACK TO SAVEPOINT bulk_row");
}
