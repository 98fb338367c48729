/* Upward forwarding over REST (issue 18): upstream targets, code mapping, dead
 * letters with the resend action, the daily reconciliation.
 *
 * City and district administrators only.  A district administrator's targets
 * are its district's (owner_district) and forward only that district; the
 * city's forward any selection.  Credentials (DES key and IV, or SM4 key, IV
 * and appsecret) go in once, in a create or an update, are sealed with the
 * master key before they reach the database (server/forward/fwd_keys.h) and
 * are never answered; the audit trail records only names and identifiers.
 * The forwarder itself is the forward role (server/forward/fwd_role.h). */
#include "api_auth.h"
#include "api_handlers.h"
#include "api_params.h"

#include "db_forward.h"
#include "fwd_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDS_MAX 1000

void api_forward_init(void)
{
    db_forward_register();
}

int api_forward_targets_list(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_forward_target_list(c, &s, &out) : DB_HARD;
    return api_reply_read(r, st, out, "target");
}

int api_forward_target_get(api_req *r)
{
    return api_read_by_id(r, "forwarding target", db_forward_target_get);
}

/* ---- create / update -------------------------------------------------------------- */

typedef struct {
    db_forward_fields f;
    char sealed[3 + 2 * FWD_SEALED_MAX];
    char owner[24], rate[24], batch[24];
    char *district_ids, *enterprise_ids, *kinds;
} fields_buf;

static void fields_free(fields_buf *b)
{
    free(b->district_ids);
    free(b->enterprise_ids);
    free(b->kinds);
    memset(b->sealed, 0, sizeof b->sealed);
}

/* a JSON array of positive ids as a bigint[] literal (malloc'd); -1 after replying */
static int id_array(api_req *r, json_t *body, const char *name, char **out)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > IDS_MAX) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be an array of at most %d ids", name,
                        IDS_MAX);
        return -1;
    }
    size_t n = json_array_size(v), len = 3;
    char *s = malloc(n * 21 + 3);
    if (!s) {
        api_reply_error(r, API_E_INTERNAL, "out of memory");
        return -1;
    }
    s[0] = '{';
    len = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) <= 0) {
            free(s);
            api_reply_error(r, API_E_BAD_REQUEST, "%s[%zu] must be a positive integer id", name, i);
            return -1;
        }
        len += (size_t)sprintf(s + len, "%s%lld", i ? "," : "", (long long)json_integer_value(x));
    }
    s[len++] = '}';
    s[len] = '\0';
    *out = s;
    return 0;
}

static int kinds_array(api_req *r, json_t *body, char **out)
{
    json_t *v = json_object_get(body, "kinds");
    *out = NULL;
    if (!v)
        return 0;
    static const char *const names[] = {"readings", "events", "videos", "alarms"};
    int seen[4] = {0, 0, 0, 0};
    size_t i;
    json_t *x;
    if (!json_is_array(v) || json_array_size(v) == 0)
        goto bad;
    json_array_foreach(v, i, x)
    {
        int k = -1;
        for (int j = 0; j < 4; j++)
            if (json_is_string(x) && strcmp(json_string_value(x), names[j]) == 0)
                k = j;
        if (k < 0 || seen[k]++)
            goto bad;
    }
    char buf[64] = "{";
    for (int j = 0; j < 4; j++)
        if (seen[j])
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", buf[1] ? "," : "",
                     names[j]);
    strcat(buf, "}");
    *out = strdup(buf);
    return 0;
bad:
    api_reply_error(r, API_E_BAD_REQUEST,
                    "kinds must be a non-empty array of distinct readings, events, videos, alarms");
    return -1;
}

static int int_field(api_req *r, json_t *body, const char *name, long lo, long hi, char buf[24],
                     const char **out)
{
    json_t *v = json_object_get(body, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be an integer from %ld to %ld", name, lo,
                        hi);
        return -1;
    }
    snprintf(buf, 24, "%lld", (long long)json_integer_value(v));
    *out = buf;
    return 0;
}

static int url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    size_t n = strlen(u);
    return n > 8 && u[n - 1] != '/';
}

static int appid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* Reads the body's fields into b (create: dialect from the body; update: the
 * target's).  0, or -1 after replying. */
static int read_fields(api_req *r, json_t *body, int create, const char *dialect, fields_buf *b)
{
    static const char *const allowed[] = {"name",        "url",          "dialect",        "appid",
                                          "credentials", "district_ids", "enterprise_ids", "kinds",
                                          "rate_per_s",  "batch_max",    "enabled"};
    if (api_json_strict(r, body, allowed, sizeof allowed / sizeof *allowed) != 0)
        return -1;
    if (!create && json_object_get(body, "dialect")) {
        api_reply_error(r, API_E_BAD_REQUEST,
                        "the dialect of a target cannot change; create another target");
        return -1;
    }
    const char *name, *url, *dia, *appid;
    if (api_body_text(r, body, "name", create, 100, &name) ||
        api_body_text(r, body, "url", create, 500, &url) ||
        api_body_text(r, body, "dialect", create, 8, &dia) ||
        api_body_text(r, body, "appid", 0, 64, &appid))
        return -1;
    if (create)
        dialect = dia;
    if (strcmp(dialect, "hebei") != 0 && strcmp(dialect, "mem") != 0) {
        api_reply_error(r, API_E_BAD_REQUEST, "dialect must be hebei or mem");
        return -1;
    }
    int mem = strcmp(dialect, "mem") == 0;
    b->f.dialect = create ? dialect : NULL;
    b->f.name = json_object_get(body, "name") ? name : NULL;
    if (b->f.name && !*name) {
        api_reply_error(r, API_E_BAD_REQUEST, "name must not be empty");
        return -1;
    }
    if (json_object_get(body, "url")) {
        if (!url_ok(url)) {
            api_reply_error(r, API_E_BAD_REQUEST,
                            "url must be an http:// or https:// base URL without spaces or a "
                            "trailing slash (hebei: .../rabbitmqfcsb, mem: .../mem/v1)");
            return -1;
        }
        b->f.url = url;
    }
    if (json_object_get(body, "appid")) {
        if (!mem || !appid_ok(appid)) {
            api_reply_error(r, API_E_BAD_REQUEST,
                            mem ? "appid is 1 to 64 characters of A-Z a-z 0-9 . _ -"
                                : "appid goes only with dialect mem");
            return -1;
        }
        b->f.appid = appid;
    } else if (create && mem) {
        api_reply_error(r, API_E_BAD_REQUEST, "a mem target needs the appid the upstream issued");
        return -1;
    }
    json_t *creds = json_object_get(body, "credentials");
    if (create && !creds) {
        api_reply_error(r, API_E_BAD_REQUEST,
                        "credentials are required: {des_key, des_iv?} for hebei, {appsecret, "
                        "sm4_key, sm4_iv} for mem");
        return -1;
    }
    if (creds) {
        fwd_keys k;
        char why[200];
        if (fwd_keys_from_json(dialect, creds, &k, why, sizeof why) != 0) {
            api_reply_error(r, API_E_BAD_REQUEST, "%s", why);
            return -1;
        }
        int sealed = fwd_keys_seal(&k, b->sealed, sizeof b->sealed);
        fwd_keys_wipe(&k);
        if (sealed != 0) {
            api_reply_error(r, API_E_INTERNAL, "the credentials could not be sealed");
            return -1;
        }
        b->f.sealed_hex = b->sealed;
    }
    if (id_array(r, body, "district_ids", &b->district_ids) ||
        id_array(r, body, "enterprise_ids", &b->enterprise_ids) ||
        kinds_array(r, body, &b->kinds) ||
        int_field(r, body, "rate_per_s", 1, 1000, b->rate, &b->f.rate_per_s) ||
        int_field(r, body, "batch_max", 1, 5000, b->batch, &b->f.batch_max))
        return -1;
    json_t *en = json_object_get(body, "enabled");
    if (en && !json_is_boolean(en)) {
        api_reply_error(r, API_E_BAD_REQUEST, "enabled must be true or false");
        return -1;
    }
    b->f.enabled = en ? (json_is_true(en) ? "true" : "false") : NULL;
    b->f.district_ids = b->district_ids;
    b->f.enterprise_ids = b->enterprise_ids;
    b->f.kinds = b->kinds;
    return 0;
}

typedef struct {
    int create;
    int64_t id;
    fields_buf *b;
    int64_t bad_district, bad_enterprise;
    int found;
    db_diag diag;
} write_ctx;

static db_status write_tx(api_req *r, db_conn *c, void *arg)
{
    write_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    x->bad_district = x->bad_enterprise = 0;
    x->found = 0;
    db_status st = db_forward_check_selection(c, &s, x->b->f.district_ids, x->b->f.enterprise_ids,
                                              &x->bad_district, &x->bad_enterprise);
    if (st != DB_OK || x->bad_district || x->bad_enterprise)
        return st == DB_OK ? DB_BAD : st;
    if (x->create) {
        st = db_forward_target_insert(c, &s, &x->b->f, &x->id, &x->diag);
        x->found = st == DB_OK && x->id > 0;
    } else {
        st = db_forward_target_update(c, &s, x->id, &x->b->f, &x->found, &x->diag);
    }
    if (st != DB_OK || !x->found)
        return st;
    char obj[64], detail[200];
    snprintf(obj, sizeof obj, "forward_target:%lld", (long long)x->id);
    snprintf(detail, sizeof detail, "credentials=%s", x->b->f.sealed_hex ? "set" : "kept");
    return api_audit_tx(r, c, x->create ? "forward_target_create" : "forward_target_update", obj,
                        "ok", detail);
}

static int reply_written(api_req *r, write_ctx *x, db_status st)
{
    if (st == DB_BAD && x->bad_district)
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "district_ids: %lld is not a district you administer",
                               (long long)x->bad_district);
    if (st == DB_BAD && x->bad_enterprise)
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "enterprise_ids: %lld is not an enterprise of your scope",
                               (long long)x->bad_enterprise);
    if (st == DB_BAD && strcmp(x->diag.constraint, "forward_targets_name_key") == 0)
        return api_reply_error(r, API_E_CONFLICT, "a target of that name exists");
    if (st == DB_BAD)
        return api_reply_error(r, API_E_UNPROCESSABLE, "%s", x->diag.message);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x->found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    st = c ? db_forward_target_get(c, &s, x->id, &out) : DB_HARD;
    if (st != DB_OK || !out)
        return api_reply_read(r, st, out, "forwarding target");
    return api_reply_json(r, x->create ? 201 : 200, out);
}

int api_forward_target_create(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    fields_buf b;
    memset(&b, 0, sizeof b);
    if (read_fields(r, body, 1, NULL, &b) != 0) {
        fields_free(&b);
        return 0;
    }
    /* a district administrator's target is its district's, and forwards only it */
    db_scope s;
    api_db_scope(r, NULL, &s);
    if (strncmp(s.rls, "district:", 9) == 0) {
        snprintf(b.owner, sizeof b.owner, "%.20s", s.rls + 9);
        b.f.owner_district = b.owner;
        if (!b.district_ids || strcmp(b.district_ids, "{}") == 0) {
            free(b.district_ids);
            size_t n = strlen(b.owner) + 3;
            b.district_ids = malloc(n);
            if (b.district_ids)
                snprintf(b.district_ids, n, "{%s}", b.owner);
            b.f.district_ids = b.district_ids;
        }
    }
    write_ctx x = {.create = 1, .b = &b};
    db_status st = api_tx(r, write_tx, &x);
    if (st != DB_OK)
        api_audit(r, "forward_target_create", "forward_target", "failed",
                  x.diag.message[0] ? x.diag.message : "refused");
    int rc = reply_written(r, &x, st);
    fields_free(&b);
    return rc;
}

int api_forward_target_update(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *cur = NULL;
    db_status st = c ? db_forward_target_get(c, &s, id, &cur) : DB_HARD;
    if (st != DB_OK || !cur)
        return api_reply_read(r, st, cur, "forwarding target");
    char dialect[8];
    snprintf(dialect, sizeof dialect, "%s", json_string_value(json_object_get(cur, "dialect")));
    json_decref(cur);
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    fields_buf b;
    memset(&b, 0, sizeof b);
    if (read_fields(r, body, 0, dialect, &b) != 0) {
        fields_free(&b);
        return 0;
    }
    write_ctx x = {.create = 0, .id = id, .b = &b};
    st = api_tx(r, write_tx, &x);
    int rc = reply_written(r, &x, st);
    fields_free(&b);
    return rc;
}

typedef struct {
    int64_t id;
    int found;
} delete_ctx;

static db_status delete_tx(api_req *r, db_conn *c, void *arg)
{
    delete_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_forward_target_delete(c, &s, x->id, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    char obj[64];
    snprintf(obj, sizeof obj, "forward_target:%lld", (long long)x->id);
    return api_audit_tx(r, c, "forward_target_delete", obj, "ok", "");
}

int api_forward_target_delete(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    delete_ctx x = {.id = id};
    db_status st = api_tx(r, delete_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    return api_reply_json(r, 200, json_pack("{s:b, s:I}", "deleted", 1, "id", (json_int_t)id));
}

/* ---- codes ------------------------------------------------------------------------- */

int api_forward_codes_list(api_req *r)
{
    return api_read_by_id(r, "forwarding target", db_forward_codes_list);
}

typedef struct {
    int64_t id;
    const char *object, *local, *upstream;
    int known;
    db_diag diag;
} code_ctx;

static db_status code_tx(api_req *r, db_conn *c, void *arg)
{
    code_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st =
        db_forward_code_set(c, &s, x->id, x->object, x->local, x->upstream, &x->known, &x->diag);
    if (st != DB_OK || x->known != 1)
        return st;
    char obj[64], detail[240];
    snprintf(obj, sizeof obj, "forward_target:%lld", (long long)x->id);
    snprintf(detail, sizeof detail, "%s %s -> %s", x->object, x->local,
             x->upstream ? x->upstream : "(removed)");
    return api_audit_tx(r, c, "forward_code_set", obj, "ok", detail);
}

static int code_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int api_forward_code_set(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"object", "local_code", "upstream_code"};
    if (api_json_strict(r, body, allowed, 3) != 0)
        return 0;
    const char *object, *local, *upstream = NULL;
    if (api_body_text(r, body, "object", 1, 16, &object) ||
        api_body_text(r, body, "local_code", 1, 64, &local))
        return 0;
    if (strcmp(object, "enterprise") != 0 && strcmp(object, "gateway") != 0 &&
        strcmp(object, "point") != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "object must be enterprise, gateway or point");
    json_t *up = json_object_get(body, "upstream_code");
    if (!up)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "upstream_code is required (null removes the mapping)");
    if (!json_is_null(up)) {
        if (!json_is_string(up) || !code_ok(json_string_value(up)))
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "upstream_code is 1 to 64 characters of A-Z a-z 0-9 . _ -");
        upstream = json_string_value(up);
    }
    code_ctx x = {.id = id, .object = object, .local = local, .upstream = upstream};
    db_status st = api_tx(r, code_tx, &x);
    if (st == DB_BAD &&
        strcmp(x.diag.constraint, "forward_codes_target_id_object_upstream_code_key") == 0)
        return api_reply_error(r, API_E_CONFLICT,
                               "upstream %s code \"%s\" is mapped from another %s already", object,
                               upstream, object);
    if (st == DB_BAD)
        return api_reply_error(r, API_E_UNPROCESSABLE, "%s", x.diag.message);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (x.known < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    if (x.known == 0)
        return api_reply_error(r, API_E_UNPROCESSABLE, "no %s \"%s\" in your scope", object, local);
    return api_read_by_id(r, "forwarding target", db_forward_codes_list);
}

/* ---- dead letters, resend, report ------------------------------------------------- */

int api_forward_dead_list(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    long limit;
    const char *open;
    if (api_query_int(r, "limit", 100, 1, 1000, &limit) != 0 ||
        api_query_bool(r, "open", &open) != 0)
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st =
        c ? db_forward_dead_list(c, &s, id, open && strcmp(open, "true") == 0, limit, &out)
          : DB_HARD;
    return api_reply_read(r, st, out, "forwarding target");
}

typedef struct {
    int64_t id;
    int requested;
    json_t *row;
} resend_ctx;

static db_status resend_tx(api_req *r, db_conn *c, void *arg)
{
    resend_ctx *x = arg;
    json_decref(x->row);
    x->row = NULL;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_forward_dead_resend(c, &s, x->id, &x->requested, &x->row);
    if (st != DB_OK || !x->requested)
        return st;
    char obj[64];
    snprintf(obj, sizeof obj, "forward_dead_letter:%lld", (long long)x->id);
    return api_audit_tx(r, c, "forward_resend", obj, "ok", "");
}

int api_forward_dead_resend(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such dead letter");
    resend_ctx x = {.id = id};
    db_status st = api_tx(r, resend_tx, &x);
    int rc;
    if (st != DB_OK)
        rc = api_reply_db(r, st);
    else if (!x.row)
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such dead letter");
    else if (!x.requested)
        rc = api_reply_error(r, API_E_INVALID_TRANSITION,
                             "the dead letter was resent and acknowledged already");
    else
        rc = api_reply_json(r, 202, json_incref(x.row));
    json_decref(x.row);
    return rc;
}

/* a YYYY-MM-DD query parameter (default: def) */
static int query_day(api_req *r, const char *name, const char *def, char out[11])
{
    const char *v = api_req_query(r, name);
    if (!v) {
        snprintf(out, 11, "%s", def);
        return 0;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strlen(v) == 10 ? strptime(v, "%Y-%m-%d", &tm) : NULL;
    if (!end || *end) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be a date, YYYY-MM-DD", name);
        return -1;
    }
    snprintf(out, 11, "%s", v);
    return 0;
}

int api_forward_report(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such forwarding target");
    time_t now = time(NULL), week = now - 6 * 86400;
    struct tm tn, tw;
    char today[11], start[11], from[11], to[11];
    strftime(today, sizeof today, "%Y-%m-%d", gmtime_r(&now, &tn));
    strftime(start, sizeof start, "%Y-%m-%d", gmtime_r(&week, &tw));
    if (query_day(r, "from", start, from) != 0 || query_day(r, "to", today, to) != 0)
        return 0;
    if (strcmp(from, to) > 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "from must not be after to");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_forward_report(c, &s, id, from, to, &out) : DB_HARD;
    return api_reply_read(r, st, out, "forwarding target");
}
