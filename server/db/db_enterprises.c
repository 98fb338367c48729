/* Enterprises for the API: list, archive, create and update (statements
 * assembled from a fixed column list), the survey table's export and the
 * import's look-ups. */
#include "db_enterprises.h"

#include "db_internal.h"
#include "db_scope_sql.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENT_JSON                                                                                   \
    "json_build_object('id', e.id, 'code', e.code, 'uscc', e.uscc, 'name', e.name, 'district', "   \
    "json_build_object('id', d.id, 'code', d.code, 'name', d.name), 'street', CASE WHEN s.id IS "  \
    "NULL THEN NULL ELSE json_build_object('id', s.id, 'code', s.code, 'name', s.name, 'kind', "   \
    "s.kind) END, 'address', e.address, 'longitude', e.longitude, 'latitude', e.latitude, "        \
    "'industry_code', e.industry_code, 'status', e.status, 'connection_status', "                  \
    "e.connection_status, 'dust_kinds', e.dust_kinds, 'principal_name', e.principal_name, "        \
    "'principal_phone', e.principal_phone, 'safety_manager_name', e.safety_manager_name, "         \
    "'safety_manager_phone', e.safety_manager_phone, 'dust_workers', e.dust_workers, "             \
    "'explosibility', e.explosibility, 'zone20_count', e.zone20_count, 'zone21_count', "           \
    "e.zone21_count, 'zone22_count', e.zone22_count, 'building_storeys', e.building_storeys, "     \
    "'building_frame', e.building_frame, 'gathering_rooms', e.gathering_rooms, 'updated_at', "     \
    "e.updated_at)"

#define ENT_FROM                                                                                   \
    " FROM enterprises e JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "    \
    "e.street_id "

static const db_stmt statements[] = {
    /* the live figures join point_latest on the enterprise too: joined by point alone, the
     * planner (row-level security makes every index probe look dear) scanned all of
     * point_latest once per listed enterprise: 390 ms for a page of 50 at 2,000 enterprises,
     * 15 ms by point_latest_enterprise_idx */
    {"ent_list",
     "WITH f AS (SELECT e.id, e.name FROM enterprises e JOIN regions d ON d.id = e.district_id "
     "LEFT JOIN regions s ON s.id = e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text IS NULL OR s.code = $4) AND "
              "($5::text IS NULL OR e.status = $5) AND ($6::text IS NULL OR strpos(e.name, $6) > "
              "0 OR e.code = $6 OR e.uscc = $6) AND " ENT_CLASS(
                  "e", "10", "7",
                  "11") ") "
                        "SELECT json_build_object('total', (SELECT count(*) FROM f), 'limit', "
                        "$8::int, "
                        "'offset', $9::int, 'items', coalesce((SELECT json_agg((" ENT_JSON
                        "::jsonb || jsonb_build_object('live', json_build_object('points_total', "
                        "lv.pt, "
                        "'points_online', lv.po, 'last_reading_at', lv.la)))::json ORDER BY "
                        "e.name, e.id) "
                        "FROM (SELECT id FROM f ORDER BY name, id LIMIT $8 OFFSET $9) pg JOIN "
                        "enterprises e "
                        "ON e.id = pg.id JOIN regions d ON d.id = e.district_id LEFT JOIN regions "
                        "s ON s.id "
                        "= e.street_id CROSS JOIN LATERAL (SELECT count(*) AS pt, count(*) FILTER "
                        "(WHERE "
                        "l.collected_at > now() - make_interval(secs => 3 * "
                        "p.expected_interval_s)) AS po, "
                        "max(l.collected_at) AS la FROM points p LEFT JOIN point_latest l ON "
                        "l.point_id = "
                        "p.id AND l.enterprise_id = e.id WHERE p.enterprise_id = e.id) lv), "
                        "'[]'::json))::text"},
    {"ent_get",
     "SELECT json_build_object('enterprise', " ENT_JSON
     ", 'systems', coalesce((SELECT json_agg(json_build_object('id', ds.id, 'code', ds.code, "
     "'name', ds.name, 'workshop', ds.workshop, 'wet', ds.wet, 'collector_type', "
     "ds.collector_type, 'central', ds.central, 'airflow_m3h', ds.airflow_m3h, "
     "'positive_pressure', ds.positive_pressure, 'indoor', ds.indoor, 'protection', "
     "json_build_object('venting', ds.has_venting, 'isolation', ds.has_isolation, 'suppression', "
     "ds.has_suppression, 'inerting', ds.has_inerting, 'airlock', ds.has_airlock, "
     "'spark_detection', ds.has_spark_detection), 'points', (SELECT count(*) FROM points p WHERE "
     "p.system_id = ds.id)) ORDER BY ds.code) FROM dust_systems ds WHERE ds.enterprise_id = "
     "e.id), '[]'::json), 'points_total', (SELECT count(*) FROM points p WHERE p.enterprise_id = "
     "e.id), 'points_online', (SELECT count(*) FROM point_latest l JOIN points p ON p.id = "
     "l.point_id WHERE l.enterprise_id = e.id AND p.enterprise_id = e.id AND l.collected_at > "
     "now() - make_interval(secs => 3 * p.expected_interval_s)))::text" ENT_FROM
     "WHERE e.id = $3::bigint AND " SCOPE_ENT("e")},
    {"ent_district_for_create",
     "SELECT d.id FROM regions d WHERE d.level = 'district' AND (d.code = $3 OR ($3::text IS "
     "NULL AND d.id = $2::bigint)) AND (($1 = 'city') OR ($1 = 'district' AND d.id = "
     "$2::bigint))"},
    {"ent_street_in_district",
     "SELECT id FROM regions WHERE level = 'street' AND code = $1 AND parent_id = $2::bigint"},
    {"ent_export",
     "SELECT e.uscc, e.code, e.name, d.name, coalesce(s.name, ''), e.address, "
     "coalesce(e.longitude::text, ''), coalesce(e.latitude::text, ''), e.industry_code, "
     "e.status, e.principal_name, e.principal_phone, e.safety_manager_name, "
     "e.safety_manager_phone, array_to_string(e.dust_kinds, '|'), coalesce(e.dust_workers::text, "
     "''), e.zone20_count, e.zone21_count, e.zone22_count, e.building_storeys, e.building_frame, "
     "e.gathering_rooms, coalesce(s.code, ''), d.code, "
     /* the dust systems (附件4) */
     "coalesce((SELECT string_agg(DISTINCT CASE WHEN ds.wet THEN '湿式' ELSE '干式' END || '-' || "
     "coalesce(l.zh, ds.collector_type), '|') FROM dust_systems ds LEFT JOIN labels l ON l.domain "
     "= 'collector_type' AND l.code = ds.collector_type WHERE ds.enterprise_id = e.id), ''), "
     "coalesce((SELECT string_agg(m.name, '|' ORDER BY m.k) FROM (VALUES (1, '泄爆', 'v'), (2, "
     "'隔爆', 'i'), (3, '抑爆', 's'), (4, '惰化', 'n')) m(k, name, c) WHERE EXISTS (SELECT 1 FROM "
     "dust_systems ds WHERE ds.enterprise_id = e.id AND CASE m.c WHEN 'v' THEN ds.has_venting "
     "WHEN 'i' THEN ds.has_isolation WHEN 's' THEN ds.has_suppression ELSE ds.has_inerting END)), "
     "''), (SELECT CASE WHEN count(*) = 0 THEN '' WHEN bool_and(ds.has_airlock) THEN '是' WHEN "
     "bool_or(ds.has_airlock) THEN '部分' ELSE '否' END FROM dust_systems ds WHERE "
     "ds.enterprise_id = e.id), (SELECT CASE WHEN count(*) = 0 THEN '' WHEN "
     "bool_and(ds.has_spark_detection) THEN '是' WHEN bool_or(ds.has_spark_detection) THEN '部分' "
     "ELSE '否' END FROM dust_systems ds WHERE ds.enterprise_id = e.id), coalesce((SELECT "
     "string_agg(DISTINCT CASE ca.frequency WHEN 'per_shift' THEN '每班' WHEN 'daily' THEN '每日' "
     "ELSE '每周' END, '|') FROM cleaning_areas ca WHERE ca.enterprise_id = e.id AND ca.active), "
     "'')" ENT_FROM
     /* $3 district $4 street $5 status $6 q $7 dust kind $8 industry $9 connection $10 grade */
     "WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text IS NULL OR "
              "s.code = $4) AND ($5::text IS NULL OR e.status = $5) AND ($6::text IS NULL OR "
              "strpos(e.name, "
              "$6) > 0 OR e.code = $6 OR e.uscc = $6) AND ($7::text IS NULL OR $7 = "
              "ANY(e.dust_kinds)) AND "
              "($8::text IS NULL OR e.industry_code = $8) AND ($9::text IS NULL OR "
              "e.connection_status = "
              "$9) AND ($10::text IS NULL OR coalesce((SELECT er.grade FROM enterprise_risk er "
              "WHERE "
              "er.enterprise_id = e.id), 'none') = $10) ORDER BY d.code, s.code NULLS FIRST, "
              "e.name"},
    {"ent_by_uscc", "SELECT e.id FROM enterprises e WHERE e.uscc = $3 AND " SCOPE_ENT("e")},
    {"ent_code_holder",
     "SELECT e.id FROM enterprises e WHERE e.code = $3 AND e.id <> $4::bigint AND " SCOPE_ENT(
         "e") " ORDER BY e.id LIMIT 1"},
    {"ent_uscc_holder",
     "SELECT e.id FROM enterprises e WHERE e.uscc = $3 AND e.id <> $4::bigint AND " SCOPE_ENT(
         "e") " ORDER BY e.id LIMIT 1"},
};

void db_enterprises_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_enterprises_list(db_conn *c, const db_scope *s, const db_enterprises_filter *f,
                              json_t **out)
{
    char lim[24], off[24];
    const char *p[11] = {
        s->kind, s->id,        f->district_code,      f->street_code,         f->status,
        f->q,    f->dust_kind, db_i64(lim, f->limit), db_i64(off, f->offset), f->industry_code,
        f->grade};
    return db_read_json(c, s, "ent_list", 11, p, out);
}

db_status db_enterprises_get(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "ent_get", 3, p, out);
}

/* The id in the first cell of a one-row answer, 0 for any other. */
static db_status one_id(db_conn *c, const char *stmt, int n, const char *const *p, int64_t *id)
{
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_enterprises_district_for_create_tx(db_conn *c, const db_scope *s,
                                                const char *district_code, int64_t *district_id)
{
    const char *p[3] = {s->kind, s->id, district_code};
    return one_id(c, "ent_district_for_create", 3, p, district_id);
}

db_status db_enterprises_street_in_district_tx(db_conn *c, const char *street_code,
                                               int64_t district_id, int64_t *street_id)
{
    char did[24];
    const char *p[2] = {street_code, db_i64(did, district_id)};
    return one_id(c, "ent_street_in_district", 2, p, street_id);
}

db_status db_enterprises_by_uscc_tx(db_conn *c, const db_scope *s, const char *uscc,
                                    int64_t *enterprise_id)
{
    const char *p[3] = {s->kind, s->id, uscc};
    return one_id(c, "ent_by_uscc", 3, p, enterprise_id);
}

db_status db_enterprises_holder_in_scope_tx(db_conn *c, const db_scope *s, const char *column,
                                            const char *value, int64_t except_id,
                                            int64_t *enterprise_id)
{
    *enterprise_id = 0;
    const char *stmt = !strcmp(column, "code")   ? "ent_code_holder"
                       : !strcmp(column, "uscc") ? "ent_uscc_holder"
                                                 : NULL;
    if (!stmt || !value)
        return DB_OK;
    char eid[24];
    const char *p[4] = {s->kind, s->id, value, db_i64(eid, except_id)};
    return one_id(c, stmt, 4, p, enterprise_id);
}

db_status db_enterprises_export_tx(db_conn *c, const db_scope *s, const db_enterprises_filter *f,
                                   db_enterprises_export_fn fn, void *arg)
{
    const char *p[10] = {s->kind, s->id,        f->district_code, f->street_code,       f->status,
                         f->q,    f->dust_kind, f->industry_code, f->connection_status, f->grade};
    db_status st;
    PGresult *res = db_exec(c, "ent_export", 10, p, &st);
    if (!res)
        return st;
    if (PQnfields(res) != DB_ENTERPRISES_EXPORT_COLUMNS) {
        LOG_ERROR("export has the wrong number of columns", "columns=%d", PQnfields(res));
        PQclear(res);
        return DB_HARD;
    }
    const char *cells[DB_ENTERPRISES_EXPORT_COLUMNS];
    for (int row = 0; row < PQntuples(res); row++) {
        for (int col = 0; col < DB_ENTERPRISES_EXPORT_COLUMNS; col++)
            cells[col] = PQgetvalue(res, row, col);
        fn(arg, cells);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_enterprises_import_row_begin_tx(db_conn *c)
{
    return db_command(c, "SAVEPOINT import_row");
}

db_status db_enterprises_import_row_keep_tx(db_conn *c)
{
    return db_command(c, "RELEASE SAVEPOINT import_row");
}

db_status db_enterprises_import_row_undo_tx(db_conn *c)
{
    return db_command(c, "ROLLBACK TO SAVEPOINT import_row");
}

/* ---- create & update: statements assembled from the columns below -------- */

typedef enum { COL_TEXT, COL_INT, COL_FLOAT, COL_TEXTARR, COL_JSONB } col_type;

/* The only columns a write may name (the archive's editable fields). */
static const struct {
    const char *name;
    col_type type;
} columns[] = {
    {"code", COL_TEXT},
    {"uscc", COL_TEXT},
    {"name", COL_TEXT},
    {"address", COL_TEXT},
    {"longitude", COL_FLOAT},
    {"latitude", COL_FLOAT},
    {"industry_code", COL_TEXT},
    {"status", COL_TEXT},
    {"connection_status", COL_TEXT},
    {"principal_name", COL_TEXT},
    {"principal_phone", COL_TEXT},
    {"safety_manager_name", COL_TEXT},
    {"safety_manager_phone", COL_TEXT},
    {"dust_kinds", COL_TEXTARR},
    {"dust_workers", COL_INT},
    {"zone20_count", COL_INT},
    {"zone21_count", COL_INT},
    {"zone22_count", COL_INT},
    {"building_storeys", COL_TEXT},
    {"building_frame", COL_TEXT},
    {"gathering_rooms", COL_INT},
    {"explosibility", COL_JSONB},
};
#define N_COLUMNS (sizeof columns / sizeof columns[0])

static const char *const col_casts[] = {
    [COL_TEXT] = "",          [COL_INT] = "::int",
    [COL_FLOAT] = "::float8", [COL_TEXTARR] = "::text[]",
    [COL_JSONB] = "::jsonb",
};

/* What a write stores for column k from parameter $p (buf holds it).  connection_status is
 * derived by the worker from data (db_onboarding: every mandatory point sent data within
 * connected_window_h); people only suspend an enterprise or end its suspension
 * ('not_connected', then derived again at the worker's next tick).  Any other value (a survey
 * table read back holds 'connected') leaves the derived status as it is. */
static const char *column_write(char *buf, size_t len, int k, int p, int inserting)
{
    if (strcmp(columns[k].name, "connection_status") != 0)
        snprintf(buf, len, "$%d%s", p, col_casts[columns[k].type]);
    else if (inserting)
        snprintf(buf, len,
                 "CASE WHEN $%d::text = 'suspended' THEN 'suspended' ELSE 'not_connected' END", p);
    else
        snprintf(buf, len,
                 "CASE WHEN $%d::text = 'suspended' THEN 'suspended' WHEN e.connection_status = "
                 "'suspended' AND $%d::text = 'not_connected' THEN 'not_connected' "
                 "ELSE e.connection_status END",
                 p, p);
    return buf;
}

static int column_of(const char *name)
{
    for (size_t i = 0; i < N_COLUMNS; i++)
        if (strcmp(columns[i].name, name) == 0)
            return (int)i;
    char q[200];
    LOG_ERROR("enterprise write names an unknown column", "column=%s",
              srv_log_q(q, sizeof q, name));
    return -1;
}

/* A text[] literal of a JSON array of strings ({"a","b"}; a non-string is "");
 * malloc'd, NULL when out of memory. */
static char *array_literal(json_t *arr)
{
    size_t n = json_array_size(arr);
    const char **v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        v[i] = s ? s : "";
    }
    char *out = db_text_array(v, n);
    free(v);
    return out;
}

/* The text form of a checked value (malloc'd; NULL for null, or *bad on
 * running out of memory). */
static char *column_value(col_type type, json_t *v, int *bad)
{
    if (json_is_null(v))
        return NULL;
    char buf[4096];
    char *out = NULL;
    switch (type) {
    case COL_TEXT:
        out = strdup(json_string_value(v) ? json_string_value(v) : "");
        break;
    case COL_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        out = strdup(buf);
        break;
    case COL_FLOAT:
        snprintf(buf, sizeof buf, "%.10g", json_number_value(v));
        out = strdup(buf);
        break;
    case COL_TEXTARR:
        out = array_literal(v);
        break;
    case COL_JSONB:
        out = json_dumps(v, JSON_COMPACT);
        break;
    }
    if (!out)
        *bad = 1;
    return out;
}

/* The parameters of an assembled write: the fields' values after the fixed
 * ones, each with its column; owned[i] is NULL for parameters not made here. */
#define MAX_PARAMS 40
typedef struct assembled {
    const char *params[MAX_PARAMS];
    char *owned[MAX_PARAMS];
    int kind[MAX_PARAMS]; /* index into columns */
    int n;
} assembled;

static void assembled_free(assembled *a)
{
    for (int i = 0; i < MAX_PARAMS; i++)
        free(a->owned[i]);
}

/* Adds the fields' values after `fixed` parameters; -1 on a bad column. */
static int assemble(assembled *a, int fixed, const db_enterprises_field *fields, size_t n)
{
    a->n = fixed;
    if (n + (size_t)fixed + 2 > MAX_PARAMS) {
        LOG_ERROR("enterprise write has too many fields", "n=%zu", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int k = column_of(fields[i].column);
        if (k < 0)
            return -1;
        int bad = 0;
        a->owned[a->n] = column_value(columns[k].type, fields[i].value, &bad);
        if (bad)
            return -1;
        a->params[a->n] = a->owned[a->n];
        a->kind[a->n] = k;
        a->n++;
    }
    return 0;
}

const char *db_enterprises_refused_column(const db_diag *diag)
{
    static const char prefix[] = "enterprises_";
    const char *k = diag->constraint;
    if (strncmp(k, prefix, sizeof prefix - 1) != 0)
        return "";
    k += sizeof prefix - 1;
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
        size_t l = strlen(columns[i].name);
        if (strncmp(k, columns[i].name, l) == 0 &&
            (!strcmp(k + l, "_key") || !strcmp(k + l, "_check")))
            return columns[i].name;
    }
    return "";
}

db_status db_enterprises_create_tx(db_conn *c, const db_enterprises_field *fields, size_t n,
                                   int64_t district_id, int64_t street_id, int64_t *enterprise_id,
                                   db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    assembled a = {0};
    if (assemble(&a, 0, fields, n) != 0) {
        assembled_free(&a);
        return DB_HARD;
    }
    char cols[2048] = "", vals[1024] = "";
    size_t cl = 0, vl = 0;
    for (int i = 0; i < a.n; i++) {
        char w[256];
        cl += (size_t)snprintf(cols + cl, sizeof cols - cl, "%s,", columns[a.kind[i]].name);
        vl += (size_t)snprintf(vals + vl, sizeof vals - vl, "%s, ",
                               column_write(w, sizeof w, a.kind[i], i + 1, 1));
    }
    char did[24], sid[24];
    a.params[a.n++] = db_i64(did, district_id);
    a.params[a.n++] = street_id ? db_i64(sid, street_id) : NULL;
    char sql[4096];
    snprintf(sql, sizeof sql,
             "INSERT INTO enterprises (%sdistrict_id, street_id) VALUES (%s$%d::bigint, "
             "$%d::bigint) RETURNING id",
             cols, vals, a.n - 1, a.n);
    db_status st;
    PGresult *res = db_exec_sql_diag(c, "ent_create", sql, a.n, a.params, &st, diag);
    assembled_free(&a);
    if (!res)
        return st;
    *enterprise_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}

db_status db_enterprises_update_tx(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                   const db_enterprises_field *fields, size_t n, int set_street,
                                   const char *street_code, db_enterprises_updated *out,
                                   db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    assembled a = {0};
    if (assemble(&a, 3, fields, n) != 0) {
        assembled_free(&a);
        return DB_HARD;
    }
    char eid[24];
    a.params[0] = s->kind;
    a.params[1] = s->id;
    a.params[2] = db_i64(eid, enterprise_id);
    char set[3072] = "";
    size_t sl = 0;
    for (int i = 3; i < a.n; i++) {
        char w[256];
        sl += (size_t)snprintf(set + sl, sizeof set - sl, "%s = %s, ", columns[a.kind[i]].name,
                               column_write(w, sizeof w, a.kind[i], i + 1, 0));
    }
    if (set_street) {
        a.params[a.n++] = street_code;
        snprintf(set + sl, sizeof set - sl,
                 "street_id = (SELECT id FROM regions WHERE level = 'street' AND code = $%d "
                 "AND parent_id = e.district_id), ",
                 a.n);
    }
    char sql[6144];
    snprintf(sql, sizeof sql,
             "UPDATE enterprises e SET %supdated_at = now() WHERE e.id = $3::bigint "
             "AND " SCOPE_ENT("e") " RETURNING e.id, ($%d::text IS NULL) = (e.street_id IS NULL)",
             set, set_street ? a.n : 1);
    db_status st;
    PGresult *res = db_exec_sql_diag(c, "ent_update", sql, a.n, a.params, &st, diag);
    assembled_free(&a);
    if (!res)
        return st;
    out->found = PQntuples(res) > 0;
    out->street_ok = out->found && PQgetvalue(res, 0, 1)[0] == 't';
    PQclear(res);
    return DB_OK;
}
