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
