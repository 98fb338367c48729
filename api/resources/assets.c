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
 * wrong type or length 400), then travel as one JSON object that the
 * database layer unpacks into the table's row (db_assets.h): every value is
 * a parameter, and the tables' CHECK constraints stay the single source of
 * the remaining rules (422 with PostgreSQL's words). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_assets.h"
#include "srv_config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    db_assets_kind kind;
    const field *fields;
    size_t n_fields;
    int risk_input; /* changes ask the worker to score the enterprise again */
} resource;

static const resource systems = {
    .what = "dust-removal system",
    .audit = "dust_system",
    .kind = DB_ASSET_SYSTEM,
    .fields = system_fields,
    .n_fields = sizeof system_fields / sizeof system_fields[0],
    .risk_input = 1,
};
/* listed, read and changed through points.c */
static const resource points = {
    .what = "point",
    .audit = "point",
    .kind = DB_ASSET_POINT,
    .fields = point_fields,
    .n_fields = sizeof point_fields / sizeof point_fields[0],
    .risk_input = 1,
};
static const resource cameras = {
    .what = "camera",
    .audit = "camera",
    .kind = DB_ASSET_CAMERA,
    .fields = camera_fields,
    .n_fields = sizeof camera_fields / sizeof camera_fields[0],
};
static const resource gateways = {
    .what = "gateway",
    .audit = "gateway",
    .kind = DB_ASSET_GATEWAY,
    .fields = gateway_fields,
    .n_fields = sizeof gateway_fields / sizeof gateway_fields[0],
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
    const char *id;    /* the path's id: the enterprise for create, else the object */
    long long path_id; /* the same, parsed */
    const char *body;  /* the checked body as JSON text */
    json_t *change;    /* the same, parsed (NULL for delete) */
    json_t *before, *after;
    long long obj_id, enterprise_id;
    int found;
    char refused[512]; /* a delete refused: why, and what to do instead */
    db_diag diag;
    int64_t notice_id; /* an enterprise deleted its gateway: the district's notice */
    char notice_obj[80];
} write_ctx;

static char *audit_detail(const char *key1, json_t *v1, const char *key2, json_t *v2);

/* The "ok" record of a write, in its transaction: both commit or neither. */
static db_status audit_ok_tx(api_req *r, db_conn *c, const write_ctx *x)
{
    char action[64], obj[64];
    snprintf(action, sizeof action, "%s_%s", x->res->audit, op_names[x->op]);
    snprintf(obj, sizeof obj, "%s:%lld", x->res->audit, x->obj_id);
    /* the audit trail keeps what was removed, created, or changed from what */
    char *detail = x->op == OP_DELETE   ? audit_detail("deleted", x->before, NULL, NULL)
                   : x->op == OP_CREATE ? audit_detail("created", x->after, NULL, NULL)
                                        : audit_detail("before", x->before, "change", x->change);
    if (!detail)
        return DB_HARD;
    db_status st = api_audit_tx(r, c, action, obj, "ok", detail);
    free(detail);
    return st;
}

static db_status write_tx(api_req *r, db_conn *c, void *arg)
{
    write_ctx *x = arg;
    /* a retried transaction starts over */
    json_decref(x->before);
    json_decref(x->after);
    x->before = x->after = NULL;
    x->found = 0;
    x->refused[0] = '\0';
    db_scope s;
    api_db_scope(r, NULL, &s);
    const db_assets_kind k = x->res->kind;
    db_status st;
    if (x->op != OP_CREATE) {
        st = db_assets_get_tx(c, &s, k, x->path_id, &x->before);
        if (st != DB_OK || !x->before)
            return st;
    }
    if (x->op == OP_DELETE) {
        int found = 0;
        st = db_assets_delete_check_tx(c, &s, k, x->path_id, &found, x->refused, sizeof x->refused);
        if (st != DB_OK || !found || x->refused[0])
            return st;
    }
    db_assets_written w = {0};
    st = x->op == OP_CREATE   ? db_assets_create_tx(c, &s, k, x->path_id, x->body, &w, &x->diag)
         : x->op == OP_UPDATE ? db_assets_update_tx(c, &s, k, x->path_id, x->body, &w, &x->diag)
                              : db_assets_delete_tx(c, &s, k, x->path_id, &w, &x->diag);
    if (st != DB_OK || !w.found)
        return st;
    x->found = 1;
    x->obj_id = w.id;
    x->enterprise_id = w.enterprise_id;
    if (x->op != OP_DELETE) {
        st = db_assets_get_tx(c, &s, k, x->obj_id, &x->after);
        if (st != DB_OK)
            return st;
    }
    if (x->res->risk_input) {
        st = db_assets_request_recompute_tx(c, x->enterprise_id, x->res->audit);
        if (st != DB_OK)
            return st;
    }
    x->notice_id = 0;
    if (x->op == OP_DELETE && x->res->kind == DB_ASSET_GATEWAY) {
        const char *code = json_string_value(json_object_get(x->before, "code"));
        const char *name = json_string_value(json_object_get(x->before, "name"));
        const char *dialect = json_string_value(json_object_get(x->before, "dialect"));
        char detail[300];
        snprintf(x->notice_obj, sizeof x->notice_obj, "gateway:%s", code ? code : "?");
        snprintf(detail, sizeof detail, "name=%s dialect=%s last_seen_at=%s", name ? name : "",
                 dialect ? dialect : "",
                 json_is_string(json_object_get(x->before, "last_seen_at"))
                     ? json_string_value(json_object_get(x->before, "last_seen_at"))
                     : "never");
        st = api_equipment_notice_tx(r, c, x->enterprise_id, "gateway_deleted", x->notice_obj,
                                     detail, &x->notice_id);
        if (st != DB_OK)
            return st;
    }
    return audit_ok_tx(r, c, x);
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
    x.path_id = api_parse_id(x.id);
    if (x.path_id < 0)
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
        x.change = change;
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
        /* the "ok" record was written in the transaction (audit_ok_tx) */
        api_equipment_notice_publish(x.notice_id, x.enterprise_id, "gateway_deleted", x.notice_obj);
        rc = api_reply_json(r, 200,
                            json_pack("{s:b, s:I}", "deleted", 1, "id", (json_int_t)x.obj_id));
    } else {
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
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_assets_list(c, &s, res->kind, eid, &out) : DB_HARD;
    return api_reply_read(r, st, out, "enterprise");
}

static int res_get(api_req *r, const resource *res)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such %s", res->what);
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_assets_get(c, &s, res->kind, id, &out) : DB_HARD;
    return api_reply_read(r, st, out, res->what);
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

/* A camera's status from its last video (camera_offline_after_s, the rule of
 * the worker's video_offline count): disabled, online, offline, or unknown
 * while a new camera has not sent anything yet. */
static void camera_status(json_t *cam, time_t now)
{
    if (!json_is_object(cam))
        return;
    const char *status;
    time_t last = 0, created = 0;
    const char *lv = json_string_value(json_object_get(cam, "last_alarm_at"));
    const char *cr = json_string_value(json_object_get(cam, "created_at"));
    int have_last = lv && api_parse_time(lv, &last) == 0;
    if (!json_is_true(json_object_get(cam, "enabled")))
        status = "disabled";
    else if (g_config.camera_offline_after_s <= 0)
        status = "unknown";
    else if (have_last)
        status = now - last > g_config.camera_offline_after_s ? "offline" : "online";
    else if (cr && api_parse_time(cr, &created) == 0 &&
             now - created > g_config.camera_offline_after_s)
        status = "offline";
    else
        status = "unknown";
    json_object_set_new(cam, "status", json_string(status));
    json_object_set(cam, "last_video_at", json_object_get(cam, "last_alarm_at"));
}

static int cameras_reply(api_req *r, db_status st, json_t *out, const char *what)
{
    if (st == DB_OK && out) {
        time_t now = time(NULL);
        json_t *items = json_object_get(out, "items"), *cam;
        size_t i;
        if (json_is_array(items))
            json_array_foreach(items, i, cam) camera_status(cam, now);
        else
            camera_status(json_object_get(out, "camera") ? json_object_get(out, "camera") : out,
                          now);
    }
    return api_reply_read(r, st, out, what);
}

int api_cameras_list(api_req *r)
{
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_assets_list(c, &s, DB_ASSET_CAMERA, eid, &out) : DB_HARD;
    return cameras_reply(r, st, out, "enterprise");
}

int api_camera_get(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such camera");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_assets_get(c, &s, DB_ASSET_CAMERA, id, &out) : DB_HARD;
    return cameras_reply(r, st, out, "camera");
}

/* GET /api/v1/alarms/{id}/snapshot: the image a video alarm came with.  The
 * type is what the bytes are (JPEG or PNG by their signature); anything else
 * is sent as a download, never rendered inline. */
typedef struct {
    long long id;
    unsigned char *data;
    size_t len;
    int found;
} snapshot_ctx;

static db_status snapshot_tx(api_req *r, db_conn *c, void *arg)
{
    snapshot_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    return db_assets_snapshot(c, &s, x->id, &x->data, &x->len, &x->found);
}

int api_alarm_snapshot_get(api_req *r)
{
    snapshot_ctx x = {.id = api_parse_id(api_req_param(r, "id"))};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such snapshot");
    db_status st = api_tx(r, snapshot_tx, &x);
    int rc;
    if (st != DB_OK) {
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        rc = api_reply_error(r, API_E_NOT_FOUND,
                             "no such snapshot (not in scope, not a video "
                             "alarm, or stored without an image)");
    } else {
        const char *type = "application/octet-stream";
        if (x.len >= 3 && x.data[0] == 0xFF && x.data[1] == 0xD8 && x.data[2] == 0xFF)
            type = "image/jpeg";
        else if (x.len >= 8 && memcmp(x.data, "\x89PNG\r\n\x1a\n", 8) == 0)
            type = "image/png";
        else
            api_reply_add_header(r, "Content-Disposition", "attachment; filename=\"snapshot.bin\"");
        api_reply_add_header(r, "Cache-Control", "private, max-age=3600");
        rc = api_reply_raw(r, 200, type, (const char *)x.data, x.len);
    }
    free(x.data);
    return rc;
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
    db_assets_register();
}
