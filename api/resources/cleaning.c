/* Dust-cleaning check-ins (粉尘清理打卡): cleaning areas per enterprise with a
 * required frequency, check-ins with an optional photo, and compliance per
 * enterprise and street.
 *
 * Periods are the worker's (job_risk.c rsk_inputs): per_shift = 8-hour shifts
 * from 00:00 Beijing time, daily = the Beijing date, weekly = the ISO week
 * (Monday 00:00 Beijing time).  For a window [from, to):
 *   required = complete periods inside the window and after the area was created
 *   done     = those periods with at least one check-in
 *   missed   = required - done
 *   late     = done periods whose first check-in was recorded (created_at) after
 *              the period had ended, i.e. entered afterwards with a back-dated time
 * Inactive areas are kept for history and required no more.
 *
 * Photos travel base64 in the JSON body (a data: URL prefix is accepted), are
 * JPEG or PNG by their magic bytes and at most 2 MB decoded; they are stored in
 * PostgreSQL (cleaning_checkins.photo) and served back by GET
 * /checkins/{id}/photo.  Areas are created and changed by the enterprise or by
 * the district (or the city); check-ins are made by enterprise accounts.  Every
 * write asks the worker to recompute the enterprise's risk (S). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_scope_sql.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PHOTO_MAX (2 * 1024 * 1024)

/* per active area in scope: the complete periods p0..p1 inside [$3, min($4, now)) (epoch
 * seconds); $5 enterprise $6 district code $7 street code narrow it */
#define COMPLIANCE_CTE                                                                             \
    "WITH ar AS (SELECT a.id, a.enterprise_id, a.name, a.frequency, per.s, per.off, "              \
    "ceil((greatest($3::float8, extract(epoch FROM a.created_at)) + per.off) / per.s)::bigint AS " \
    "p0, (floor((least($4::float8, extract(epoch FROM now())) + per.off) / per.s) - 1)::bigint "   \
    "AS p1 FROM cleaning_areas a JOIN enterprises e ON e.id = a.enterprise_id JOIN regions d ON "  \
    "d.id = e.district_id LEFT JOIN regions s ON s.id = e.street_id CROSS JOIN LATERAL (SELECT "   \
    "CASE a.frequency WHEN 'per_shift' THEN 28800 WHEN 'daily' THEN 86400 ELSE 604800 "            \
    "END::bigint AS s, CASE a.frequency WHEN 'weekly' THEN 288000 ELSE 28800 END::bigint AS off) " \
    "per WHERE a.active AND " SCOPE_ENT(                                                           \
        "e") " AND ($5::bigint IS NULL OR e.id = $5::bigint) AND "                                 \
             "($6::text IS NULL OR d.code = $6) AND ($7::text IS NULL OR s.code = $7)), pc AS "    \
             "(SELECT "                                                                            \
             "ar.id, floor((extract(epoch FROM c.checked_at) + ar.off) / ar.s)::bigint AS p, "     \
             "min(c.created_at) AS first_rec FROM ar JOIN cleaning_checkins c ON c.area_id = "     \
             "ar.id AND "                                                                          \
             "c.checked_at >= to_timestamp((ar.p0 * ar.s - ar.off)::float8) AND c.checked_at < "   \
             "to_timestamp(((ar.p1 + 1) * ar.s - ar.off)::float8) GROUP BY 1, 2), pa AS (SELECT "  \
             "ar.id, "                                                                             \
             "ar.enterprise_id, ar.name, ar.frequency, greatest(ar.p1 - ar.p0 + 1, 0) AS "         \
             "required, "                                                                          \
             "count(pc.p) AS done, count(pc.p) FILTER (WHERE pc.first_rec > to_timestamp(((pc.p "  \
             "+ 1) * "                                                                             \
             "ar.s - ar.off)::float8)) AS late FROM ar LEFT JOIN pc ON pc.id = ar.id GROUP BY "    \
             "ar.id, "                                                                             \
             "ar.enterprise_id, ar.name, ar.frequency, ar.p0, ar.p1) "

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
     "'enterprises', count(DISTINCT pa.enterprise_id), " SUMS(
         "pa") ") FROM pa), 'enterprises', "
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
    {"cln_recompute",
     "INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ($1::bigint, $2) ON "
     "CONFLICT DO NOTHING"},
};

typedef struct {
    const char *p[10];
    int n;
    const char *stmt;
    json_t *out;
} q_ctx;

static int run_q(api_req *r, q_ctx *x, const char *what)
{
    return api_reply_query(r, x->stmt, x->n, x->p, what);
}

db_status api_cleaning_overview(db_conn *c, const char *kind, const char *sid, json_t **out)
{
    char from[24], to[24];
    time_t now = time(NULL);
    snprintf(from, sizeof from, "%lld", (long long)now - 7 * 86400);
    snprintf(to, sizeof to, "%lld", (long long)now);
    const char *p[7] = {kind, sid, from, to, NULL, NULL, NULL};
    db_status st;
    *out = api_db_json(c, "cln_overview", 7, p, &st);
    return st;
}

/* ---- areas ---------------------------------------------------------------- */

int api_cleaning_areas_list(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    q_ctx x = {{kind, sid, api_req_param(r, "id")}, 3, "cln_areas", NULL};
    return run_q(r, &x, "enterprise");
}

typedef struct {
    const char *stmt;
    const char *id, *name, *frequency, *active;
    long long area_id, enterprise_id;
    int found, duplicate;
} area_ctx;

static db_status area_tx(api_req *r, db_conn *c, void *arg)
{
    area_ctx *x = arg;
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    const char *p[6] = {kind, sid, x->id, x->name, x->frequency, x->active};
    db_status st;
    PGresult *res = db_exec(c, x->stmt, 6, p, &st);
    if (!res) {
        /* the fields were checked before: what the table still refuses is the
         * unique (enterprise, name) */
        x->duplicate = st == DB_BAD;
        return st;
    }
    if (PQntuples(res) == 1) {
        x->found = 1;
        x->area_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        x->enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    if (!x->found)
        return DB_OK;
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", x->enterprise_id);
    const char *rp[2] = {eid, "cleaning_area"};
    res = db_exec(c, "cln_recompute", 2, rp, &st);
    if (!res)
        return st;
    PQclear(res);
    return DB_OK;
}

static int area_write(api_req *r, int create)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, create ? "no such enterprise" : "no such area");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"name", "frequency", "active"};
    if (api_json_strict(r, body, allowed, 3) != 0)
        return 0;
    area_ctx x = {.stmt = create ? "cln_area_create" : "cln_area_update",
                  .id = api_req_param(r, "id")};
    const char *name, *freq;
    if (api_body_text(r, body, "name", create, 100, &name) ||
        api_body_text(r, body, "frequency", create, 16, &freq))
        return 0;
    if (json_object_get(body, "name") && !*name)
        return api_reply_error(r, API_E_BAD_REQUEST, "name must be 1..100 characters");
    x.name = *name ? name : NULL;
    x.frequency = *freq ? freq : NULL;
    if (x.frequency && strcmp(x.frequency, "per_shift") && strcmp(x.frequency, "daily") &&
        strcmp(x.frequency, "weekly"))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "frequency must be per_shift, daily or weekly");
    json_t *a = json_object_get(body, "active");
    if (a && !json_is_boolean(a))
        return api_reply_error(r, API_E_BAD_REQUEST, "active must be true or false");
    x.active = a ? (json_is_true(a) ? "true" : "false") : NULL;
    if (!create && !x.name && !x.frequency && !x.active)
        return api_reply_error(r, API_E_BAD_REQUEST, "nothing to change");
    char obj[48];
    snprintf(obj, sizeof obj, "%s:%s", create ? "enterprise" : "cleaning_area", x.id);
    const char *action = create ? "cleaning_area_create" : "cleaning_area_update";
    char *detail = json_dumps(body, JSON_COMPACT);
    db_status st = api_tx(r, area_tx, &x);
    int rc;
    if (st != DB_OK) {
        api_audit(r, action, obj, "failed", detail);
        rc = x.duplicate
                 ? api_reply_error(r, API_E_CONFLICT, "the enterprise has an area of this name")
                 : api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, create ? "no such enterprise" : "no such area");
    } else {
        char aobj[48], aid[24];
        snprintf(aobj, sizeof aobj, "cleaning_area:%lld", x.area_id);
        api_audit(r, action, aobj, "ok", detail);
        char kind[16], sid[24];
        api_scope_params(api_req_caller(r), kind, sid);
        snprintf(aid, sizeof aid, "%lld", x.area_id);
        q_ctx g = {{kind, sid, aid}, 3, "cln_area_get", NULL};
        st = api_query_json(r, g.stmt, g.n, g.p, &g.out);
        rc = st != DB_OK ? api_reply_db(r, st)
                         : api_reply_json(r, create ? 201 : 200, g.out ? g.out : json_object());
    }
    free(detail);
    return rc;
}

int api_cleaning_area_create(api_req *r)
{
    return area_write(r, 1);
}

int api_cleaning_area_update(api_req *r)
{
    return area_write(r, 0);
}

/* ---- check-ins ---------------------------------------------------------------- */

typedef struct {
    const char *area, *person, *checked_at, *method, *note, *type;
    unsigned char *photo;
    size_t photo_len;
    int found, inactive;
    long long id, enterprise_id;
} ci_ctx;

static db_status checkin_tx(api_req *r, db_conn *c, void *arg)
{
    ci_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    char kind[16], sid[24], aid[24];
    api_scope_params(caller, kind, sid);
    snprintf(aid, sizeof aid, "%lld", (long long)caller->account_id);
    const char *lp[3] = {kind, sid, x->area};
    db_status st;
    PGresult *res = db_exec(c, "cln_area_lock", 3, lp, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DB_OK;
    }
    x->found = 1;
    x->inactive = PQgetvalue(res, 0, 0)[0] != '1';
    x->enterprise_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (x->inactive)
        return DB_OK;
    const char *p[10] = {kind,
                         sid,
                         x->area,
                         x->person,
                         caller->account_id ? aid : NULL,
                         x->checked_at,
                         x->method,
                         x->note,
                         (const char *)x->photo,
                         x->type};
    int lengths[10] = {0, 0, 0, 0, 0, 0, 0, 0, (int)x->photo_len, 0};
    int formats[10] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    res = db_exec_bin(c, "cln_checkin", 10, p, lengths, formats, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DB_BAD;
    }
    x->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", x->enterprise_id);
    const char *rp[2] = {eid, "cleaning_checkin"};
    res = db_exec(c, "cln_recompute", 2, rp, &st);
    if (!res)
        return st;
    PQclear(res);
    return DB_OK;
}

/* Decodes and checks a photo; 0, or -1 after replying. */
static int decode_photo(api_req *r, json_t *v, ci_ctx *x)
{
    if (!json_is_string(v))
        return api_reply_error(r, API_E_PHOTO_INVALID, "photo must be a base64 string"), -1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strncmp(s, "data:", 5) == 0) {
        const char *comma = strchr(s, ',');
        if (!comma || !strstr(s, ";base64"))
            return api_reply_error(r, API_E_PHOTO_INVALID, "a data URL must be base64"), -1;
        len -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    if (len / 4 * 3 > PHOTO_MAX + 3)
        return api_reply_error(r, API_E_PHOTO_INVALID, "the photo is larger than 2 MB"), -1;
    x->photo = malloc(len / 4 * 3 + 3);
    if (!x->photo)
        return api_reply_error(r, API_E_INTERNAL, "out of memory"), -1;
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(x->photo, len / 4 * 3 + 3, s, len, " \r\n", &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + len)
        return api_reply_error(r, API_E_PHOTO_INVALID, "photo is not valid base64"), -1;
    if (n > PHOTO_MAX)
        return api_reply_error(r, API_E_PHOTO_INVALID, "the photo is larger than 2 MB"), -1;
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(x->photo, png, 8) == 0)
        x->type = "image/png";
    else if (n >= 3 && x->photo[0] == 0xff && x->photo[1] == 0xd8 && x->photo[2] == 0xff)
        x->type = "image/jpeg";
    else
        return api_reply_error(r, API_E_PHOTO_INVALID, "the photo must be a JPEG or PNG image"), -1;
    x->photo_len = n;
    return 0;
}

int api_cleaning_checkin_create(api_req *r)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such area");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"person", "checked_at", "method", "note", "photo"};
    if (api_json_strict(r, body, allowed, 5) != 0)
        return 0;
    ci_ctx x = {.area = api_req_param(r, "id")};
    const char *at;
    if (api_body_text(r, body, "person", 1, 100, &x.person) ||
        api_body_text(r, body, "method", 1, 16, &x.method) ||
        api_body_text(r, body, "note", 0, 2000, &x.note) ||
        api_body_text(r, body, "checked_at", 0, 40, &at))
        return 0;
    if (strcmp(x.method, "vacuum") && strcmp(x.method, "wet_wipe") && strcmp(x.method, "sweep") &&
        strcmp(x.method, "other"))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "method must be vacuum, wet_wipe, sweep or other");
    char when[32];
    if (*at) {
        time_t t, now = time(NULL);
        if (api_parse_time(at, &t) != 0)
            return api_reply_error(r, API_E_BAD_REQUEST, "checked_at must be RFC 3339 with offset");
        if (t > now + 300 || t < now - 30L * 86400)
            return api_reply_error(
                r, API_E_UNPROCESSABLE,
                "checked_at must lie within the last 30 days and not in the future");
        api_format_time(t, when);
        x.checked_at = when;
    }
    json_t *photo = json_object_get(body, "photo");
    int rc;
    if (photo && !json_is_null(photo) && decode_photo(r, photo, &x) != 0) {
        free(x.photo);
        return 0;
    }
    char obj[48];
    snprintf(obj, sizeof obj, "cleaning_area:%s", x.area);
    db_status st = api_tx(r, checkin_tx, &x);
    json_t *d = json_pack("{s:s, s:s, s:s?, s:I}", "person", x.person, "method", x.method,
                          "photo_type", x.type, "photo_bytes", (json_int_t)x.photo_len);
    char *ds = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    free(x.photo);
    if (st != DB_OK) {
        api_audit(r, "cleaning_checkin", obj, "failed", ds);
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, "cleaning_checkin", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such area");
    } else if (x.inactive) {
        api_audit(r, "cleaning_checkin", obj, "failed", "area inactive");
        rc = api_reply_error(r, API_E_CONFLICT, "the area is inactive; reactivate it first");
    } else {
        char cobj[48], cid[24], kind[16], sid[24];
        snprintf(cobj, sizeof cobj, "cleaning_checkin:%lld", x.id);
        api_audit(r, "cleaning_checkin", cobj, "ok", ds);
        api_scope_params(api_req_caller(r), kind, sid);
        snprintf(cid, sizeof cid, "%lld", x.id);
        q_ctx g = {{kind, sid, cid}, 3, "cln_checkin_get", NULL};
        st = api_query_json(r, g.stmt, g.n, g.p, &g.out);
        rc = st != DB_OK ? api_reply_db(r, st)
                         : api_reply_json(r, 201, g.out ? g.out : json_object());
    }
    free(ds);
    return rc;
}

int api_cleaning_checkins_list(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char from[32], to[32], lim[16], off[16], area[24] = "";
    long limit, offset, v;
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to) ||
        api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset))
        return 0;
    if (api_req_query(r, "area")) {
        if (api_query_int(r, "area", 0, 1, 0x7fffffffffffffffL, &v))
            return 0;
        snprintf(area, sizeof area, "%ld", v);
    }
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    q_ctx x = {{kind, sid, api_req_param(r, "id"), from[0] ? from : NULL, to[0] ? to : NULL,
                area[0] ? area : NULL, lim, off},
               8,
               "cln_checkins",
               NULL};
    return run_q(r, &x, "enterprise");
}

typedef struct {
    const char *id;
    char type[32];
    unsigned char *data;
    size_t len;
    int found;
} photo_ctx;

static db_status photo_tx(api_req *r, db_conn *c, void *arg)
{
    photo_ctx *x = arg;
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    const char *p[3] = {kind, sid, x->id};
    db_status st;
    PGresult *res = db_exec(c, "cln_photo", 3, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) == 1) {
        snprintf(x->type, sizeof x->type, "%s", PQgetvalue(res, 0, 0));
        const char *b64 = PQgetvalue(res, 0, 1);
        size_t l = (size_t)PQgetlength(res, 0, 1);
        x->data = malloc(l / 4 * 3 + 3);
        if (x->data && sodium_base642bin(x->data, l / 4 * 3 + 3, b64, l, "\r\n", &x->len, NULL,
                                         sodium_base64_VARIANT_ORIGINAL) == 0)
            x->found = 1;
    }
    PQclear(res);
    return DB_OK;
}

int api_cleaning_photo_get(api_req *r)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such photo");
    photo_ctx x = {.id = api_req_param(r, "id")};
    db_status st = api_tx(r, photo_tx, &x);
    int rc;
    if (st != DB_OK)
        rc = api_reply_db(r, st);
    else if (!x.found)
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such photo");
    else
        rc = api_reply_raw(r, 200, x.type, (const char *)x.data, x.len);
    free(x.data);
    return rc;
}

/* ---- compliance ------------------------------------------------------------ */

int api_cleaning_compliance(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    time_t now = time(NULL), from = now - 7 * 86400, to = now;
    const char *qf = api_req_query(r, "from"), *qt = api_req_query(r, "to");
    if ((qf && api_parse_time(qf, &from) != 0) || (qt && api_parse_time(qt, &to) != 0))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "from/to must be RFC 3339 with offset or epoch milliseconds");
    if (to <= from || to - from > 400L * 86400)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "the range must be positive and at most 400 days");
    char f[24], t[24], eid[24] = "";
    long v;
    if (api_req_query(r, "enterprise")) {
        if (api_query_int(r, "enterprise", 0, 1, 0x7fffffffffffffffL, &v))
            return 0;
        snprintf(eid, sizeof eid, "%ld", v);
    }
    snprintf(f, sizeof f, "%lld", (long long)from);
    snprintf(t, sizeof t, "%lld", (long long)to);
    q_ctx x = {{kind, sid, f, t, eid[0] ? eid : NULL, api_req_query(r, "district"),
                api_req_query(r, "street")},
               7,
               "cln_compliance",
               NULL};
    return run_q(r, &x, "scope");
}

void api_cleaning_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
