#include "db_demo.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    {"demo_lock", "SELECT pg_advisory_xact_lock(hashtext('dustwatch-demo-seed'))"},
    {"demo_state", "SELECT CASE WHEN EXISTS (SELECT FROM regions WHERE code = $1) THEN 'demo' "
                   "WHEN EXISTS (SELECT FROM regions WHERE level = 'city') THEN 'other' "
                   "ELSE 'empty' END"},
    {"demo_region_create", "INSERT INTO regions (code, name, level, kind, parent_id) "
                           "VALUES ($1, $2, $3, $4, $5::bigint) RETURNING id"},
    {"demo_enterprise_create",
     "INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, "
     "latitude, industry_code, status, dust_kinds, dust_workers, building_storeys) VALUES ($1, "
     "$2, $3, $4::bigint, $5::bigint, $6, $7::float8, $8::float8, $9, $10, $11::text[], "
     "$12::integer, $13) RETURNING id"},
    {"demo_system_create",
     "INSERT INTO dust_systems (enterprise_id, code, name, workshop, wet, collector_type, "
     "central, airflow_m3h, positive_pressure, indoor, has_venting, has_isolation, "
     "has_suppression, has_inerting, has_airlock, has_spark_detection) VALUES ($1::bigint, $2, "
     "$3, $4, $5::boolean, $6, $7::boolean, $8::integer, $9::boolean, $10::boolean, "
     "$11::boolean, $12::boolean, $13::boolean, $14::boolean, $15::boolean, $16::boolean) "
     "RETURNING id"},
    {"demo_point_create",
     "INSERT INTO points (code, enterprise_id, system_id, kind, name, unit, range_min, "
     "range_max, param_class, limit_high, limit_high_high, limit_low, limit_low_low, deadband, "
     "min_duration_s, rate_limit, expected_interval_s) VALUES ($1, $2::bigint, $3::bigint, $4, "
     "$5, $6, $7::float8, $8::float8, $9, $10::float8, $11::float8, $12::float8, $13::float8, "
     "$14::float8, $15::integer, $16::float8, $17::integer)"},
    {"demo_gateway_create", "INSERT INTO gateways (enterprise_id, code, name, dialect) "
                            "VALUES ($1::bigint, $2, $3, $4)"},
    {"demo_matches",
     "SELECT (SELECT count(*) FROM enterprises WHERE code = ANY ($1::text[])) = "
     "cardinality($1::text[]) AND (SELECT count(*) FROM gateways WHERE code = ANY "
     "($2::text[])) = cardinality($2::text[]) AND (SELECT count(*) FROM points WHERE code = "
     "ANY ($3::text[])) = cardinality($3::text[])"},
    {"demo_credentials_revoke",
     "UPDATE ingest_credentials SET revoked_at = now() WHERE enterprise_id = $1::bigint AND "
     "label = $2 AND revoked_at IS NULL"},
    {"demo_counts",
     "SELECT (SELECT count(*) FROM regions WHERE level = 'district'), "
     "(SELECT count(*) FROM regions WHERE level = 'street'), "
     "(SELECT count(*) FROM enterprises), "
     "(SELECT count(*) FROM enterprises e JOIN regions d ON d.id = e.district_id "
     "WHERE d.code = $1), "
     "(SELECT count(*) FROM dust_systems), (SELECT count(*) FROM points), "
     "(SELECT count(*) FROM gateways), "
     "(SELECT count(*) FROM ingest_credentials WHERE kind = 'api_key' AND revoked_at IS NULL), "
     "(SELECT count(*) FROM ingest_credentials WHERE kind = 'hebei_des' AND revoked_at IS NULL), "
     "(SELECT count(*) FROM ingest_credentials WHERE kind = 'mem_sm4' AND revoked_at IS NULL)"},
    {"demo_stop_filed",
     "SELECT EXISTS (SELECT 1 FROM filings f JOIN enterprises e ON e.id = f.enterprise_id "
     "WHERE e.code = $1 AND f.type = 'stop' AND f.status = 'approved' AND now() >= f.starts_at "
     "AND now() < f.ends_at)"},
    /* issue 14: $1 marker district code; enterprises by code order in it */
    {"demo_supervision",
     "WITH d AS (SELECT id FROM regions WHERE code = $1 AND level = 'district'), ents AS (SELECT "
     "e.id, e.name, row_number() OVER (ORDER BY e.code) AS n FROM enterprises e JOIN d ON d.id = "
     "e.district_id), f1 AS (INSERT INTO filings (enterprise_id, type, starts_at, ends_at, "
     "reason, status, approval_level, filed_at, reviewed_at, review_note) SELECT id, 'stop', "
     "now() - interval '1 day', now() + interval '6 days', '订单不足，全厂停产一周', 'approved', "
     "'district', now() - interval '2 days', now() - interval '44 hours', '同意停产报备' FROM "
     "ents WHERE n = 1 RETURNING id), f2 AS (INSERT INTO filings (enterprise_id, type, "
     "starts_at, ends_at, reason, approval_level) SELECT id, 'maintenance', now() + interval '2 "
     "days', now() + interval '3 days', '除尘器年度检修，停用1号除尘系统', 'district' FROM ents "
     "WHERE n = 2 RETURNING id), h AS (INSERT INTO hazards (enterprise_id, kind, major_item, "
     "title, found_by, found_at, found_how, status, deadline, plan, planned_at, report, "
     "rectified_at) SELECT ents.id, x.kind, x.item, x.title, x.who, now() - x.age, x.how, "
     "x.status, now() - x.age + x.span, x.plan, CASE WHEN x.plan <> '' THEN now() - x.age + "
     "interval '2 days' END, x.report, CASE WHEN x.report <> '' THEN now() - interval '1 day' "
     "END FROM (VALUES (3, 'major', 10::smallint, '打磨车间地面及设备顶部积尘严重', '区应急局 "
     "王检查', interval '35 days', 'inspection', 'planned', interval '30 days', '每班次清扫，"
     "增设移动式吸尘装置', ''), (4, 'ordinary', NULL, '除尘器泄爆口朝向人员通道', '街道 李网格', "
     "interval '10 days', 'spot_check', 'rectified', interval '30 days', '加装导流板', '导流板已"
     "安装'), (5, 'ordinary', NULL, '粉尘清扫记录不全', '企业自查', interval '2 days', "
     "'self_check', 'reported', interval '30 days', '', '')) AS x(n, kind, item, title, who, "
     "age, how, status, span, plan, report) JOIN ents ON ents.n = x.n RETURNING id, "
     "enterprise_id, found_at, title), he AS (INSERT INTO hazard_events (hazard_id, "
     "enterprise_id, at, action, to_status, actor, note) SELECT id, enterprise_id, found_at, "
     "'report', 'reported', 'demo', title FROM h), rs AS (INSERT INTO risk_scores (enterprise_id, "
     "computed_at, model_version, r, i, a, h, s, grade, grade_by_score, override, rules, inputs, "
     "trigger) SELECT id, now() - interval '3 days', 'demo', 62, 70, 0.4, 0.3, 0.2, 'orange', "
     "'orange', false, '[]', '{}', 'manual' FROM ents WHERE n = 6 RETURNING id, enterprise_id), "
     "w AS (INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, "
     "clear_by, supervisor, current_level) SELECT enterprise_id, 'grade', 'orange', id, now() - "
     "interval '3 days', now() - interval '70 hours', now() - interval '1 day', 'street', "
     "'district' FROM rs RETURNING id, enterprise_id), sv AS (INSERT INTO supervisions "
     "(warning_id, enterprise_id, step, level, created_at) SELECT id, enterprise_id, 1, "
     "'district', now() - interval '1 day' FROM w RETURNING id), nt AS (INSERT INTO "
     "public_notices (enterprise_id, hazard_id, region_id, title, body, status, approved_at, "
     "published_at) SELECT h.enterprise_id, h.id, (SELECT id FROM d), '关于' || e.name || '重大"
     "事故隐患逾期未整改的警示通报', e.name || '存在重大事故隐患“' || h.title || '”，整改期限已"
     "过仍未销号。现予通报，请各企业引以为戒，立即开展自查自改。', 'published', now() - interval "
     "'1 day', now() - interval '20 hours' FROM h JOIN enterprises e ON e.id = h.enterprise_id "
     "WHERE h.title LIKE '打磨%' RETURNING id) SELECT (SELECT id FROM d), (SELECT count(*) FROM "
     "f1) + (SELECT count(*) FROM f2) + (SELECT count(*) FROM sv) + (SELECT count(*) FROM nt)"},
};

/* Registered apart and first: it must prepare on a database without tables. */
static const db_stmt probe_statements[] = {
    {"demo_schema_ready",
     "SELECT to_regclass('regions') IS NOT NULL AND to_regclass('enterprises') IS NOT NULL AND "
     "to_regclass('dust_systems') IS NOT NULL AND to_regclass('points') IS NOT NULL AND "
     "to_regclass('gateways') IS NOT NULL AND to_regclass('ingest_credentials') IS NOT NULL AND "
     "to_regclass('audit_log') IS NOT NULL"},
};

db_status db_demo_schema_ready(db_conn *c, int *ready, db_diag *diag)
{
    db_register_statements(probe_statements, sizeof probe_statements / sizeof probe_statements[0]);
    db_status st;
    PGresult *r = db_exec_diag(c, "demo_schema_ready", 0, NULL, &st, diag);
    if (!r)
        return st;
    *ready = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return DB_OK;
}

void db_demo_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* Decimal text that reads back as the same double. */
static const char *f64(char buf[32], double v)
{
    snprintf(buf, 32, "%.17g", v);
    return buf;
}

static const char *opt_f64(char buf[32], const double *v)
{
    return v ? f64(buf, *v) : NULL;
}

static const char *flag(int v)
{
    return v ? "true" : "false";
}

/* A text[] literal of v (every element quoted); malloc'd, NULL when out of
 * memory. */
static char *text_array(const char *const *v, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += 2 * strlen(v[i]) + 3;
    char *out = malloc(len), *o = out;
    if (!out)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *o++ = '\\';
            *o++ = *s;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

/* Runs a statement whose answer does not matter beyond success. */
static db_status run(db_conn *c, const char *stmt, int n, const char *const *p)
{
    db_status st;
    PQclear(db_exec(c, stmt, n, p, &st));
    return st;
}

static db_status returned_id(db_conn *c, const char *stmt, int n, const char *const *p, int64_t *id)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, n, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_HARD;
    }
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return DB_OK;
}

db_status db_demo_lock_state(db_conn *c, const char *marker_region, db_demo_state *out)
{
    db_status st = run(c, "demo_lock", 0, NULL);
    if (st != DB_OK)
        return st;
    const char *p[1] = {marker_region};
    PGresult *r = db_exec(c, "demo_state", 1, p, &st);
    if (!r)
        return st;
    const char *v = PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "";
    *out = strcmp(v, "demo") == 0    ? DB_DEMO_LOADED
           : strcmp(v, "other") == 0 ? DB_DEMO_OTHER
                                     : DB_DEMO_EMPTY;
    PQclear(r);
    return DB_OK;
}

db_status db_demo_region_create(db_conn *c, const char *code, const char *name, const char *level,
                                const char *kind, int64_t parent_id, int64_t *id)
{
    char pid[24];
    const char *p[5] = {code, name, level, kind, parent_id ? db_i64(pid, parent_id) : NULL};
    return returned_id(c, "demo_region_create", 5, p, id);
}

db_status db_demo_enterprise_create(db_conn *c, const db_demo_enterprise *e, int64_t *id)
{
    char did[24], sid[24], lon[32], lat[32], workers[24];
    char *kinds = text_array(e->dust_kinds, e->n_dust_kinds);
    if (!kinds)
        return DB_HARD;
    const char *p[13] = {e->code,
                         e->uscc,
                         e->name,
                         db_i64(did, e->district_id),
                         e->street_id ? db_i64(sid, e->street_id) : NULL,
                         e->address,
                         f64(lon, e->longitude),
                         f64(lat, e->latitude),
                         e->industry_code,
                         e->status,
                         kinds,
                         db_i64(workers, e->dust_workers),
                         e->building_storeys};
    db_status st = returned_id(c, "demo_enterprise_create", 13, p, id);
    free(kinds);
    return st;
}

db_status db_demo_system_create(db_conn *c, int64_t enterprise_id, const db_demo_system *s,
                                int64_t *id)
{
    char eid[24], airflow[24];
    const char *p[16] = {db_i64(eid, enterprise_id),
                         s->code,
                         s->name,
                         s->workshop,
                         flag(s->wet),
                         s->collector_type,
                         flag(s->central),
                         db_i64(airflow, s->airflow_m3h),
                         flag(s->positive_pressure),
                         flag(s->indoor),
                         flag(s->has_venting),
                         flag(s->has_isolation),
                         flag(s->has_suppression),
                         flag(s->has_inerting),
                         flag(s->has_airlock),
                         flag(s->has_spark_detection)};
    return returned_id(c, "demo_system_create", 16, p, id);
}

db_status db_demo_point_create(db_conn *c, int64_t enterprise_id, int64_t system_id,
                               const db_demo_point *pt)
{
    char eid[24], sid[24], rmin[32], rmax[32], h[32], hh[32], l[32], ll[32], db[32], rate[32];
    char mind[24], ivl[24];
    const char *p[17] = {pt->code,
                         db_i64(eid, enterprise_id),
                         db_i64(sid, system_id),
                         pt->kind,
                         pt->name,
                         pt->unit,
                         f64(rmin, pt->range_min),
                         f64(rmax, pt->range_max),
                         pt->param_class,
                         opt_f64(h, pt->limit_high),
                         opt_f64(hh, pt->limit_high_high),
                         opt_f64(l, pt->limit_low),
                         opt_f64(ll, pt->limit_low_low),
                         f64(db, pt->deadband),
                         db_i64(mind, pt->min_duration_s),
                         opt_f64(rate, pt->rate_limit),
                         db_i64(ivl, pt->expected_interval_s)};
    return run(c, "demo_point_create", 17, p);
}

db_status db_demo_gateway_create(db_conn *c, int64_t enterprise_id, const char *code,
                                 const char *name, const char *dialect)
{
    char eid[24];
    const char *p[4] = {db_i64(eid, enterprise_id), code, name, dialect};
    return run(c, "demo_gateway_create", 4, p);
}

db_status db_demo_matches(db_conn *c, const char *const *enterprises, size_t n_enterprises,
                          const char *const *gateways, size_t n_gateways, const char *const *points,
                          size_t n_points, int *matches)
{
    char *p[3] = {text_array(enterprises, n_enterprises), text_array(gateways, n_gateways),
                  text_array(points, n_points)};
    db_status st = DB_HARD;
    if (p[0] && p[1] && p[2]) {
        PGresult *r = db_exec(c, "demo_matches", 3, (const char *const *)p, &st);
        if (r) {
            *matches = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
            PQclear(r);
        }
    }
    for (int i = 0; i < 3; i++)
        free(p[i]);
    return st;
}

db_status db_demo_credentials_revoke(db_conn *c, int64_t enterprise_id, const char *label,
                                     long long *revoked)
{
    char eid[24];
    const char *p[2] = {db_i64(eid, enterprise_id), label};
    db_status st;
    PGresult *r = db_exec(c, "demo_credentials_revoke", 2, p, &st);
    if (!r)
        return st;
    *revoked = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DB_OK;
}

db_status db_demo_counts_read(db_conn *c, const char *marker_district, db_demo_counts *out)
{
    const char *p[1] = {marker_district};
    db_status st;
    PGresult *r = db_exec(c, "demo_counts", 1, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1 || PQnfields(r) != 10) {
        PQclear(r);
        return DB_HARD;
    }
    long long *f[10] = {&out->districts, &out->streets, &out->enterprises, &out->in_marker_district,
                        &out->systems,   &out->points,  &out->gateways,    &out->api_key,
                        &out->hebei_des, &out->mem_sm4};
    for (int i = 0; i < 10; i++)
        *f[i] = strtoll(PQgetvalue(r, 0, i), NULL, 10);
    PQclear(r);
    return DB_OK;
}

db_status db_demo_supervision(db_conn *c, const char *marker_district, int64_t *district_id)
{
    const char *p[1] = {marker_district};
    db_status st;
    PGresult *r = db_exec(c, "demo_supervision", 1, p, &st);
    if (!r)
        return st;
    *district_id =
        PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_demo_stop_filed(db_conn *c, const char *enterprise_code, int *filed)
{
    const char *p[1] = {enterprise_code};
    db_status st;
    PGresult *r = db_exec(c, "demo_stop_filed", 1, p, &st);
    if (!r)
        return st;
    *filed = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return DB_OK;
}
