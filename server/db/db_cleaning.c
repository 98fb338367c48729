/* The cleaning statements (db_cleaning.h).  Every statement but the recompute
 * request takes the scope filter's kind and id as $1 and $2 (db_scope_sql.h). */
#include "db_cleaning.h"

#include "db_cleaning_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>

/* enterprises in scope (and the filters $5..$7) without an active cleaning area: listed
 * beside the compliance table, not left out of it silently */
#define NO_AREAS                                                                                   \
    "(SELECT e.id, e.code, e.name, e.district_id, e.street_id FROM enterprises e JOIN regions d "  \
    "ON d.id = e.district_id LEFT JOIN regions s ON s.id = e.street_id WHERE " SCOPE_ENT(          \
        "e") " AND ($5::bigint IS NULL OR e.id = $5::bigint) AND ($6::text IS NULL OR d.code = "   \
             "$6) AND ($7::text IS NULL OR s.code = $7) AND " ENT_CLASS(                           \
                 "e", "8", "9",                                                                    \
                 "10") " "                                                                         \
                       "AND NOT EXISTS (SELECT 1 FROM "                                            \
                       "cleaning_areas a WHERE a.enterprise_id = e.id AND a.active)) na"

#define SUMS(t)                                                                                    \
    "'required', coalesce(sum(" t ".required), 0), 'done', coalesce(sum(" t ".done), 0), "         \
    "'missed', coalesce(sum(" t ".required - " t ".done), 0), 'late', coalesce(sum(" t ".late), "  \
    "0), 'rate', CASE WHEN sum(" t ".required) > 0 THEN round(sum(" t ".done)::numeric / sum(" t   \
    ".required), 4) END"

#define AREA_JSON                                                                                  \
    "json_build_object('id', a.id, 'enterprise_id', a.enterprise_id, 'name', a.name, "             \
    "'frequency', a.frequency, 'active', a.active, 'created_at', a.created_at, "                   \
    "'last_checkin_at', (SELECT max(c.checked_at) FROM cleaning_checkins c WHERE c.area_id = "     \
    "a.id))"

#define CHECKIN_JSON                                                                               \
    "json_build_object('id', c.id, 'area_id', c.area_id, 'area', a.name, 'enterprise_id', "        \
    "c.enterprise_id, 'person', c.person, 'account_id', c.account_id, 'checked_at', "              \
    "c.checked_at, 'method', c.method, 'note', c.note, 'photo', CASE WHEN c.photo IS NULL THEN "   \
    "NULL ELSE json_build_object('type', c.photo_type, 'bytes', octet_length(c.photo), 'href', "   \
    "'/api/v1/checkins/' || c.id || '/photo') END, 'created_at', c.created_at, 'late_entry', "     \
    "c.created_at > c.checked_at + interval '1 hour')"

#define ENT_VISIBLE                                                                                \
    "EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT("e") ")"

static const db_stmt statements[] = {
    {"cln_areas",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN json_build_object('items', coalesce((SELECT "
     "json_agg(" AREA_JSON " ORDER BY a.active DESC, a.name) FROM cleaning_areas a WHERE "
     "a.enterprise_id = $3::bigint), '[]'::json)) END::text"},
    /* $3 enterprise $4 name $5 frequency $6 active */
    {"cln_area_create",
     "INSERT INTO cleaning_areas (enterprise_id, name, frequency, active) SELECT e.id, $4, $5, "
     "coalesce($6::boolean, true) FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
         "e") " RETURNING id, enterprise_id"},
    {"cln_area_update",
     "UPDATE cleaning_areas a SET name = coalesce($4, a.name), frequency = coalesce($5, "
     "a.frequency), active = coalesce($6::boolean, a.active) FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id"},
    {"cln_area_get",
     "SELECT " AREA_JSON "::text FROM cleaning_areas a JOIN enterprises e ON e.id = "
     "a.enterprise_id WHERE a.id = $3::bigint AND " SCOPE_ENT("e")},
    {"cln_area_lock",
     "SELECT a.active::int, a.enterprise_id FROM cleaning_areas a JOIN enterprises e ON e.id = "
     "a.enterprise_id WHERE a.id = $3::bigint AND " SCOPE_ENT("e") " FOR SHARE OF a"},
    /* $3 area $4 person $5 account $6 checked_at $7 method $8 note $9 photo (binary) $10 type */
    {"cln_checkin",
     "INSERT INTO cleaning_checkins (area_id, enterprise_id, person, account_id, checked_at, "
     "method, note, photo, photo_type) SELECT a.id, a.enterprise_id, $4, $5::bigint, "
     "coalesce($6::timestamptz, now()), $7, $8, $9::bytea, $10 FROM cleaning_areas a JOIN "
     "enterprises e ON e.id = a.enterprise_id WHERE a.id = $3::bigint AND a.active AND " SCOPE_ENT(
         "e") " RETURNING id"},
    {"cln_checkin_get",
     "SELECT " CHECKIN_JSON "::text FROM cleaning_checkins c JOIN cleaning_areas a ON a.id = "
     "c.area_id JOIN enterprises e ON e.id = c.enterprise_id WHERE c.id = $3::bigint "
     "AND " SCOPE_ENT("e")},
    /* $3 enterprise $4 from $5 to $6 area $7 limit $8 offset */
    {"cln_checkins",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN (WITH f AS (SELECT c.id, c.checked_at FROM "
     "cleaning_checkins c WHERE c.enterprise_id = $3::bigint AND ($4::timestamptz IS NULL OR "
     "c.checked_at >= $4::timestamptz) AND ($5::timestamptz IS NULL OR c.checked_at < "
     "$5::timestamptz) AND ($6::bigint IS NULL OR c.area_id = $6::bigint)) SELECT "
     "json_build_object('total', (SELECT count(*) FROM f), 'limit', $7::int, 'offset', $8::int, "
     "'items', coalesce((SELECT json_agg(" CHECKIN_JSON " ORDER BY c.checked_at DESC, c.id DESC) "
     "FROM (SELECT id FROM f ORDER BY checked_at DESC, id DESC LIMIT $7::int OFFSET $8::int) pg "
     "JOIN cleaning_checkins c ON c.id = pg.id JOIN cleaning_areas a ON a.id = c.area_id), "
     "'[]'::json))) END::text"},
    {"cln_photo",
     "SELECT c.photo_type, encode(c.photo, 'base64') FROM cleaning_checkins c JOIN enterprises e "
     "ON e.id = c.enterprise_id WHERE c.id = $3::bigint AND c.photo IS NOT NULL AND " SCOPE_ENT(
         "e")},
    {"cln_compliance", COMPLIANCE_CTE
     "SELECT json_build_object('from', to_timestamp($3::float8), 'to', "
     "to_timestamp(least($4::float8, "
     "extract(epoch FROM now()))), 'totals', (SELECT json_build_object('areas', count(*), "
     "'enterprises', count(DISTINCT pa.enterprise_id), 'without_areas', (SELECT count(*) "
     "FROM " NO_AREAS "), " SUMS(
         "pa") ") FROM pa), 'without_areas', coalesce((SELECT "
               "json_agg(json_build_object('id', na.id, 'code', na.code, 'name', na.name, "
               "'district_id', "
               "na.district_id, 'street_id', na.street_id) ORDER BY na.name) FROM " NO_AREAS
               "), '[]'::json), 'enterprises', "
               "coalesce((SELECT json_agg(json_build_object('id', e.id, 'code', e.code, 'name', "
               "e.name, "
               "'district_id', e.district_id, 'street_id', e.street_id, 'required', x.required, "
               "'done', "
               "x.done, 'missed', x.missed, 'late', x.late, 'rate', x.rate, 'areas', x.areas) "
               "ORDER BY "
               "x.missed DESC, e.name) FROM (SELECT pa.enterprise_id, sum(pa.required) AS "
               "required, "
               "sum(pa.done) AS done, sum(pa.required - pa.done) AS missed, sum(pa.late) AS late, "
               "CASE WHEN "
               "sum(pa.required) > 0 THEN round(sum(pa.done)::numeric / sum(pa.required), 4) END "
               "AS rate, "
               "json_agg(json_build_object('id', pa.id, 'name', pa.name, 'frequency', "
               "pa.frequency, "
               "'required', pa.required, 'done', pa.done, 'missed', pa.required - pa.done, 'late', "
               "pa.late) ORDER BY pa.name) AS areas FROM pa GROUP BY pa.enterprise_id) x JOIN "
               "enterprises e "
               "ON e.id = x.enterprise_id), '[]'::json), 'streets', coalesce((SELECT "
               "json_agg(json_build_object('id', r.id, 'code', r.code, 'name', r.name, "
               "'enterprises', "
               "y.n, 'required', y.required, 'done', y.done, 'missed', y.missed, 'late', y.late, "
               "'rate', "
               "y.rate) ORDER BY r.code) FROM (SELECT e.street_id, count(DISTINCT e.id) AS n, "
               "sum(pa.required) AS required, sum(pa.done) AS done, sum(pa.required - pa.done) AS "
               "missed, "
               "sum(pa.late) AS late, CASE WHEN sum(pa.required) > 0 THEN "
               "round(sum(pa.done)::numeric / "
               "sum(pa.required), 4) END AS rate FROM pa JOIN enterprises e ON e.id = "
               "pa.enterprise_id "
               "WHERE e.street_id IS NOT NULL GROUP BY e.street_id) y JOIN regions r ON r.id = "
               "y.street_id), '[]'::json))::text"},
    /* the overview's numbers: last 7 days, whole scope */
    {"cln_overview", COMPLIANCE_CTE
     "SELECT json_build_object('window_days', 7, 'areas', count(*), "
     "'enterprises', count(DISTINCT pa.enterprise_id), " SUMS("pa") ")::text FROM pa"},
};

void db_cleaning_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_cleaning_areas(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "cln_areas", 3, p, out);
}

db_status db_cleaning_area_get(db_conn *c, const db_scope *s, int64_t area_id, json_t **out)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, area_id)};
    return db_read_json(c, s, "cln_area_get", 3, p, out);
}

/* $3 enterprise (create) or area (update) $4 name $5 frequency $6 active */
static db_status area_write(db_conn *c, const char *stmt, const db_scope *s, int64_t id,
                            const char *name, const char *frequency, int active,
                            db_cleaning_area_ref *out, int *found)
{
    char ids[24];
    const char *p[6] = {s->kind, s->id, db_i64(ids, id), name, frequency, db_tristate(active)};
    db_status st;
    PGresult *res = db_exec(c, stmt, 6, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_cleaning_area_create(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                  const char *name, const char *frequency, int active,
                                  db_cleaning_area_ref *out, int *found)
{
    return area_write(c, "cln_area_create", s, enterprise_id, name, frequency, active, out, found);
}

db_status db_cleaning_area_update(db_conn *c, const db_scope *s, int64_t area_id, const char *name,
                                  const char *frequency, int active, db_cleaning_area_ref *out,
                                  int *found)
{
    return area_write(c, "cln_area_update", s, area_id, name, frequency, active, out, found);
}

db_status db_cleaning_area_lock(db_conn *c, const db_scope *s, int64_t area_id, int *active,
                                int64_t *enterprise_id, int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, area_id)};
    db_status st;
    PGresult *res = db_exec(c, "cln_area_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        *active = PQgetvalue(res, 0, 0)[0] == '1';
        *enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_cleaning_checkin(db_conn *c, const db_scope *s, const db_cleaning_checkin_new *in,
                              int64_t *id)
{
    char area[24], aid[24];
    const char *p[10] = {s->kind,
                         s->id,
                         db_i64(area, in->area_id),
                         in->person,
                         in->account_id ? db_i64(aid, in->account_id) : NULL,
                         in->checked_at,
                         in->method,
                         in->note,
                         (const char *)in->photo,
                         in->photo_type};
    /* the photo goes binary: no base64 round trip for up to 2 MB */
    int lengths[10] = {0, 0, 0, 0, 0, 0, 0, 0, (int)in->photo_len, 0};
    int formats[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    db_status st;
    PGresult *res = db_exec_bin(c, "cln_checkin", 10, p, lengths, formats, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DB_BAD;
    }
    *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}

db_status db_cleaning_checkin_get(db_conn *c, const db_scope *s, int64_t checkin_id, json_t **out)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, checkin_id)};
    return db_read_json(c, s, "cln_checkin_get", 3, p, out);
}

db_status db_cleaning_checkins(db_conn *c, const db_scope *s, int64_t enterprise_id,
                               const char *from, const char *to, int64_t area_id, long limit,
                               long offset, json_t **out)
{
    char eid[24], area[24], lim[24], off[24];
    const char *p[8] = {s->kind,
                        s->id,
                        db_i64(eid, enterprise_id),
                        from,
                        to,
                        area_id ? db_i64(area, area_id) : NULL,
                        db_i64(lim, limit),
                        db_i64(off, offset)};
    return db_read_json(c, s, "cln_checkins", 8, p, out);
}

db_status db_cleaning_photo(db_conn *c, const db_scope *s, int64_t checkin_id, char type[32],
                            unsigned char **data, size_t *len, int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, checkin_id)};
    db_status st;
    PGresult *res = db_exec(c, "cln_photo", 3, p, &st);
    if (!res)
        return st;
    *found = 0;
    if (PQntuples(res) == 1) {
        /* the statement answers base64 text: a bytea in text format would be
         * hex, twice the size */
        const char *b64 = PQgetvalue(res, 0, 1);
        size_t l = (size_t)PQgetlength(res, 0, 1);
        unsigned char *bytes = malloc(l / 4 * 3 + 3);
        size_t n = 0;
        if (bytes && sodium_base642bin(bytes, l / 4 * 3 + 3, b64, l, "\r\n", &n, NULL,
                                       sodium_base64_VARIANT_ORIGINAL) == 0) {
            snprintf(type, 32, "%s", PQgetvalue(res, 0, 0));
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

db_status db_cleaning_compliance(db_conn *c, const db_scope *s, time_t from, time_t to,
                                 int64_t enterprise_id, const db_list_filter *f, json_t **out)
{
    char fr[24], t[24], eid[24];
    const char *p[10] = {s->kind,
                         s->id,
                         db_i64(fr, (long long)from),
                         db_i64(t, (long long)to),
                         enterprise_id ? db_i64(eid, enterprise_id) : NULL,
                         f->district_code,
                         f->street_code,
                         f->industry_code,
                         f->dust_kind,
                         f->risk_grade};
    return db_read_json(c, s, "cln_compliance", 10, p, out);
}

db_status db_cleaning_overview(db_conn *c, const char *scope_kind, const char *scope_id, time_t now,
                               json_t **out)
{
    char f[24], t[24];
    const char *p[10] = {scope_kind, scope_id, db_i64(f, (long long)now - 7 * 86400),
                         db_i64(t, (long long)now)}; /* no filter: the rest NULL */
    return db_exec_json(c, "cln_overview", 10, p, out);
}

db_status db_cleaning_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason)
{
    return db_risk_request_recompute(c, enterprise_id, reason);
}
