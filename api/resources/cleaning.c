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
#include "db_cleaning.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PHOTO_MAX (2 * 1024 * 1024)

db_status api_cleaning_overview(db_conn *c, const char *kind, const char *sid, json_t **out)
{
    return db_cleaning_overview(c, kind, sid, time(NULL), out);
}

/* ---- areas ---------------------------------------------------------------- */

int api_cleaning_areas_list(api_req *r)
{
    return api_read_by_id(r, "enterprise", db_cleaning_areas);
}

typedef struct {
    int create;
    const char *id, *name, *frequency;
    int active; /* -1 unchanged */
    long long area_id, enterprise_id;
    int found, duplicate;
    const char *action, *detail; /* the "ok" audit record, written in the transaction */
} area_ctx;

static db_status area_tx(api_req *r, db_conn *c, void *arg)
{
    area_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long id = api_parse_id(x->id);
    db_cleaning_area_ref ref;
    int found;
    db_status st =
        x->create
            ? db_cleaning_area_create(c, &s, id, x->name, x->frequency, x->active, &ref, &found)
            : db_cleaning_area_update(c, &s, id, x->name, x->frequency, x->active, &ref, &found);
    if (st != DB_OK) {
        /* the fields were checked before: what the table still refuses is the
         * unique (enterprise, name) */
        x->duplicate = st == DB_BAD;
        return st;
    }
    if (!found)
        return DB_OK;
    x->found = 1;
    x->area_id = ref.id;
    x->enterprise_id = ref.enterprise_id;
    st = db_cleaning_request_recompute(c, x->enterprise_id, "cleaning_area");
    if (st != DB_OK)
        return st;
    char aobj[48];
    snprintf(aobj, sizeof aobj, "cleaning_area:%lld", x->area_id);
    return api_audit_tx(r, c, x->action, aobj, "ok", x->detail);
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
    area_ctx x = {.create = create, .id = api_req_param(r, "id")};
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
    x.active = a ? json_is_true(a) : -1;
    if (!create && !x.name && !x.frequency && x.active < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "nothing to change");
    char obj[48];
    snprintf(obj, sizeof obj, "%s:%s", create ? "enterprise" : "cleaning_area", x.id);
    const char *action = create ? "cleaning_area_create" : "cleaning_area_update";
    char *detail = json_dumps(body, JSON_COMPACT);
    x.action = action;
    x.detail = detail ? detail : "";
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
        /* the "ok" record was written in the transaction (area_tx) */
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        json_t *out = NULL;
        st = c ? db_cleaning_area_get(c, &s, x.area_id, &out) : DB_HARD;
        rc = st != DB_OK ? api_reply_db(r, st)
                         : api_reply_json(r, create ? 201 : 200, out ? out : json_object());
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
    const char *detail; /* the "ok" audit record, written in the transaction */
} ci_ctx;

static db_status checkin_tx(api_req *r, db_conn *c, void *arg)
{
    ci_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long area_id = api_parse_id(x->area);
    int active, found;
    int64_t enterprise_id;
    db_status st = db_cleaning_area_lock(c, &s, area_id, &active, &enterprise_id, &found);
    if (st != DB_OK || !found)
        return st;
    x->found = 1;
    x->inactive = !active;
    x->enterprise_id = enterprise_id;
    if (x->inactive)
        return DB_OK;
    db_cleaning_checkin_new in = {.area_id = area_id,
                                  .person = x->person,
                                  .account_id = caller->account_id,
                                  .checked_at = x->checked_at,
                                  .method = x->method,
                                  .note = x->note,
                                  .photo = x->photo,
                                  .photo_len = x->photo_len,
                                  .photo_type = x->type};
    int64_t id;
    st = db_cleaning_checkin(c, &s, &in, &id);
    if (st != DB_OK)
        return st;
    x->id = id;
    st = db_cleaning_request_recompute(c, x->enterprise_id, "cleaning_checkin");
    if (st != DB_OK)
        return st;
    char cobj[48];
    snprintf(cobj, sizeof cobj, "cleaning_checkin:%lld", x->id);
    return api_audit_tx(r, c, "cleaning_checkin", cobj, "ok", x->detail);
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
    json_t *d = json_pack("{s:s, s:s, s:s?, s:I}", "person", x.person, "method", x.method,
                          "photo_type", x.type, "photo_bytes", (json_int_t)x.photo_len);
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    x.detail = ds ? ds : "";
    db_status st = api_tx(r, checkin_tx, &x);
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
        /* the "ok" record was written in the transaction (checkin_tx) */
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        json_t *out = NULL;
        st = c ? db_cleaning_checkin_get(c, &s, x.id, &out) : DB_HARD;
        rc = st != DB_OK ? api_reply_db(r, st) : api_reply_json(r, 201, out ? out : json_object());
    }
    free(ds);
    return rc;
}

int api_cleaning_checkins_list(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char from[32], to[32];
    long limit, offset, area = 0;
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to) ||
        api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset))
        return 0;
    if (api_query_id(r, "area", &area))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_cleaning_checkins(c, &s, id, from[0] ? from : NULL, to[0] ? to : NULL,
                                            area, limit, offset, &out)
                     : DB_HARD;
    return api_reply_read(r, st, out, "enterprise");
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
    db_scope s;
    api_db_scope(r, NULL, &s);
    return db_cleaning_photo(c, &s, api_parse_id(x->id), x->type, &x->data, &x->len, &x->found);
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
    /* to: now rounded up to the second, so a check-in made this second counts */
    time_t now = time(NULL), from = now - 7 * 86400, to = now + 1;
    const char *qf = api_req_query(r, "from"), *qt = api_req_query(r, "to");
    if ((qf && api_parse_time(qf, &from) != 0) || (qt && api_parse_time(qt, &to) != 0))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "from/to must be RFC 3339 with offset or epoch milliseconds");
    if (to <= from || to - from > 400L * 86400)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "the range must be positive and at most 400 days");
    long eid = 0;
    api_list_query q = {.list = {.district_code = api_req_query(r, "district"),
                                 .street_code = api_req_query(r, "street")}};
    if (api_query_id(r, "enterprise", &eid) || api_query_list_class(r, &q))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_cleaning_compliance(c, &s, from, to, eid, &q.list, &out) : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

void api_cleaning_init(void)
{
    db_cleaning_register();
}
