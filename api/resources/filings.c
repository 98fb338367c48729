/* Filings (停产/检修/停用 报备, migration 0060): the enterprise files a period in which
 * its plant (or some systems or points) does not run; the street or the district reviews
 * it, as the district chose (POST /filing-settings); while an approved filing is valid the
 * alarm engine records offline and limit alarms of the covered points as suppressed
 * instead of raising them, their alarm deadlines stand still, the risk recompute counts
 * them as online and the worker raises one production_during_stop alarm when the data of
 * a stop filing keeps moving (db_filings.h, job_filings.h).
 *
 *   submitted --approve--> approved --end (复产)--> ended
 *             --return---> returned        (past ends_at: expired, when read)
 *             --withdraw-> withdrawn
 *
 * Who: the enterprise files, withdraws and ends its own; the filing's approval level
 * (street: the enterprise's street, or the district above; district: the district) or
 * the city approves and returns.  A lower level gets 403.  Every transition is one UPDATE
 * guarded by the status it was read in (the row locked first), audited in its transaction
 * and published on dw:events (type "filing") after COMMIT; invalid transitions are 409. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_filings.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVIDENCE_MAX (2 * 1024 * 1024)
#define MAX_IDS      2000

int api_filings_list(api_req *r)
{
    api_list_query q;
    const char *states, *types, *active;
    if (api_query_list_page(r, &q) ||
        api_query_csv(r, "state", "submitted|approved|returned|withdrawn|ended|expired", &states) ||
        api_query_csv(r, "type", "stop|maintenance|disable", &types) ||
        api_query_bool(r, "active", &active) || api_query_list_state(r, &q))
        return 0;
    db_filings_filter f = {
        .list = q.list, .states = states, .types = types, .active = api_tristate(active)};
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_filings_list(c, &s, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_filing_get(api_req *r)
{
    return api_read_by_id(r, "filing", db_filings_get);
}

/* ---- filing ------------------------------------------------------------------ */

typedef struct {
    const char *enterprise;
    db_filing_new in;
    int64_t id;
    char why[160];
    const char *detail;
    long long district_id, street_id;
} create_ctx;

static db_status create_tx(api_req *r, db_conn *c, void *arg)
{
    create_ctx *x = arg;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    int64_t id = 0;
    db_status st = db_filings_create(c, &s, &x->in, &id, x->why, sizeof x->why);
    if (st != DB_OK || !id)
        return st;
    x->id = id;
    char obj[48];
    snprintf(obj, sizeof obj, "filing:%lld", (long long)id);
    return api_audit_tx(r, c, "filing_create", obj, "ok", x->detail);
}

/* An array of at most MAX_IDS positive ids (absent: none) into a new array; -1 after
 * replying. */
static int body_ids(api_req *r, json_t *body, const char *name, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *a = json_object_get(body, name);
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_IDS)
        return api_reply_error(r, API_E_BAD_REQUEST, "%s must be an array of at most %d ids", name,
                               MAX_IDS),
               -1;
    size_t m = json_array_size(a);
    int64_t *v = malloc((m ? m : 1) * sizeof *v);
    if (!v)
        return api_reply_error(r, API_E_INTERNAL, "out of memory"), -1;
    for (size_t i = 0; i < m; i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_integer(e) || json_integer_value(e) < 1) {
            free(v);
            return api_reply_error(r, API_E_BAD_REQUEST, "%s must hold positive integer ids", name),
                   -1;
        }
        v[i] = (int64_t)json_integer_value(e);
    }
    *out = v;
    *n = m;
    return 0;
}

/* Decodes the evidence (base64 or a data: URL); 0, or -1 after replying. */
static int decode_evidence(api_req *r, json_t *v, unsigned char **data, size_t *len,
                           const char **type)
{
    return api_decode_upload(r, v, 1, data, len, type);
}

int api_decode_upload(api_req *r, json_t *v, int allow_pdf, unsigned char **data, size_t *len,
                      const char **type)
{
    const api_error bad = allow_pdf ? API_E_EVIDENCE_INVALID : API_E_PHOTO_INVALID;
    if (!json_is_string(v))
        return api_reply_error(r, bad, "evidence must be a base64 string"), -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strncmp(s, "data:", 5) == 0) {
        const char *comma = strchr(s, ',');
        if (!comma || !strstr(s, ";base64"))
            return api_reply_error(r, bad, "a data URL must be base64"), -1;
        n -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    if (n / 4 * 3 > EVIDENCE_MAX + 3)
        return api_reply_error(r, bad, "the evidence is larger than 2 MB"), -1;
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    if (!buf)
        return api_reply_error(r, API_E_INTERNAL, "out of memory"), -1;
    size_t m = 0;
    const char *end = NULL;
    if (sodium_base642bin(buf, n / 4 * 3 + 3, s, n, " \r\n", &m, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + n) {
        free(buf);
        return api_reply_error(r, bad, "evidence is not valid base64"), -1;
    }
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (m > EVIDENCE_MAX)
        *type = NULL;
    else if (m >= 8 && memcmp(buf, png, 8) == 0)
        *type = "image/png";
    else if (m >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
        *type = "image/jpeg";
    else if (allow_pdf && m >= 5 && memcmp(buf, "%PDF-", 5) == 0)
        *type = "application/pdf";
    else
        *type = NULL;
    if (!*type) {
        free(buf);
        return api_reply_error(r, bad,
                               allow_pdf ? "the evidence must be a JPEG, PNG or PDF of at most 2 MB"
                                         : "the photo must be a JPEG or PNG image of at most 2 MB"),
               -1;
    }
    *data = buf;
    *len = m;
    return 0;
}

int api_filing_create(api_req *r)
{
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"type",       "starts_at", "ends_at", "reason",
                                          "system_ids", "point_ids", "evidence"};
    if (api_json_strict(r, body, allowed, 7) != 0)
        return 0;
    const char *type, *starts, *ends, *reason;
    if (api_body_text(r, body, "type", 1, 16, &type) ||
        api_body_text(r, body, "starts_at", 1, 40, &starts) ||
        api_body_text(r, body, "ends_at", 1, 40, &ends) ||
        api_body_text(r, body, "reason", 1, 2000, &reason))
        return 0;
    if (strcmp(type, "stop") && strcmp(type, "maintenance") && strcmp(type, "disable"))
        return api_reply_error(r, API_E_FILING_INVALID,
                               "type must be stop (停产), maintenance (检修) or disable (停用)");
    if (!*reason)
        return api_reply_error(r, API_E_FILING_INVALID, "reason must not be empty");
    time_t t0, t1, now = time(NULL);
    if (api_parse_time(starts, &t0) != 0 || api_parse_time(ends, &t1) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "starts_at and ends_at must be RFC 3339 times with an offset");
    if (t1 <= t0 || t1 - t0 > 366L * 86400 || t1 <= now)
        return api_reply_error(r, API_E_FILING_INVALID,
                               "the period must end after it starts, in the future, and last at "
                               "most 366 days");
    create_ctx x = {.enterprise = api_req_param(r, "id")};
    int64_t *sys = NULL, *pts = NULL;
    size_t nsys = 0, npts = 0;
    unsigned char *ev = NULL;
    int rc = 0;
    char s0[32], s1[32];
    api_format_time(t0, s0);
    api_format_time(t1, s1);
    if (body_ids(r, body, "system_ids", &sys, &nsys) || body_ids(r, body, "point_ids", &pts, &npts))
        goto out;
    json_t *evj = json_object_get(body, "evidence");
    const char *evtype = NULL;
    size_t evlen = 0;
    if (evj && !json_is_null(evj) && decode_evidence(r, evj, &ev, &evlen, &evtype) != 0)
        goto out;
    const api_caller *caller = api_req_caller(r);
    x.in = (db_filing_new){.enterprise_id = eid,
                           .type = type,
                           .starts_at = s0,
                           .ends_at = s1,
                           .reason = reason,
                           .system_ids = sys,
                           .point_ids = pts,
                           .n_systems = nsys,
                           .n_points = npts,
                           .evidence = ev,
                           .evidence_len = evlen,
                           .evidence_type = evtype,
                           .filed_by = caller->account_id};
    json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "type", type, "starts_at", s0,
                          "ends_at", s1, "systems", (json_int_t)x.in.n_systems, "points",
                          (json_int_t)x.in.n_points, "evidence_bytes", (json_int_t)evlen);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    x.detail = detail ? detail : "";
    char obj[48];
    snprintf(obj, sizeof obj, "enterprise:%lld", eid);
    db_status st = api_tx(r, create_tx, &x);
    if (st != DB_OK) {
        api_audit(r, "filing_create", obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.id && !x.why[0]) {
        api_audit(r, "filing_create", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    } else if (!x.id) {
        api_audit(r, "filing_create", obj, "failed", x.why);
        rc = api_reply_error(r, API_E_FILING_INVALID, "%s", x.why);
    } else {
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        json_t *out = NULL;
        st = c ? db_filings_get(c, &s, x.id, &out) : DB_HARD;
        if (st == DB_OK && out) {
            json_t *e = json_object_get(json_object_get(out, "filing"), "enterprise");
            api_publish_event("filing", "submit", x.id, eid,
                              json_integer_value(json_object_get(e, "district_id")),
                              json_integer_value(json_object_get(e, "street_id")), "submitted");
        }
        rc = st != DB_OK ? api_reply_db(r, st) : api_reply_json(r, 201, out ? out : json_object());
    }
    free(detail);
out:
    free(sys);
    free(pts);
    free(ev);
    return rc;
}

/* ---- transitions ---------------------------------------------------------------- */

typedef enum { F_APPROVE, F_RETURN, F_WITHDRAW, F_END } filing_act;

static const struct {
    const char *name;
    const char *from;
    const char *to;
    const char *field;
    int required;
} acts[] = {
    [F_APPROVE] = {"approve", "submitted", "approved", "note", 0},
    [F_RETURN] = {"return", "submitted", "returned", "reason", 1},
    [F_WITHDRAW] = {"withdraw", "submitted", "withdrawn", "note", 0},
    [F_END] = {"end", "approved", "ended", "note", 0},
};

typedef struct {
    filing_act act;
    const char *id;
    const char *note;
    int found, refused, forbidden;
    char why[200];
    long long enterprise_id, district_id, street_id;
} fact_ctx;

static db_status fact_tx(api_req *r, db_conn *c, void *arg)
{
    fact_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long id = api_parse_id(x->id);
    db_filing_row row;
    int found;
    db_status st = db_filings_lock(c, &s, id, &row, &found);
    if (st != DB_OK || !found)
        return st;
    x->found = 1;
    x->enterprise_id = row.enterprise_id;
    x->district_id = row.district_id;
    x->street_id = row.street_id;
    if ((x->act == F_APPROVE || x->act == F_RETURN) && caller->kind == API_SCOPE_STREET &&
        strcmp(row.approval_level, "street") != 0) {
        x->forbidden = 1;
        snprintf(x->why, sizeof x->why, "this filing is reviewed at district level");
        return DB_OK;
    }
    if (strcmp(row.status, acts[x->act].from) != 0) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "cannot %s a filing in state %s (it must be %s)",
                 acts[x->act].name, row.state, acts[x->act].from);
        return DB_OK;
    }
    if (x->act == F_END && strcmp(row.state, "expired") == 0) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "the filing has already expired");
        return DB_OK;
    }
    st = db_filings_move(c, &s, id, acts[x->act].from, acts[x->act].to, acts[x->act].name,
                         caller->account_id, x->note);
    if (st != DB_OK)
        return st;
    return api_audit_move_tx(r, c, "filing", x->id, acts[x->act].name, row.state, acts[x->act].to,
                             x->note);
}

static int filing_action(api_req *r, filing_act act)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such filing");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    fact_ctx x = {.act = act, .id = api_req_param(r, "id")};
    int rc = 0;
    const char *const allowed[] = {acts[act].field};
    if (api_json_strict(r, body, allowed, 1) != 0 ||
        api_body_text(r, body, acts[act].field, acts[act].required, 2000, &x.note))
        goto out;
    if (acts[act].required && !*x.note) {
        rc = api_reply_error(r, API_E_BAD_REQUEST, "%s must not be empty", acts[act].field);
        goto out;
    }
    char obj[48], action[40];
    snprintf(obj, sizeof obj, "filing:%s", x.id);
    snprintf(action, sizeof action, "filing_%s", acts[act].name);
    db_status st = api_tx(r, fact_tx, &x);
    if (st != DB_OK) {
        api_audit(r, action, obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such filing");
    } else if (x.forbidden) {
        api_audit(r, action, obj, "denied", x.why);
        rc = api_reply_error(r, API_E_FORBIDDEN, "%s", x.why);
    } else if (x.refused) {
        api_audit(r, action, obj, "failed", x.why);
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x.why);
    } else {
        api_publish_event("filing", acts[act].name, strtoll(x.id, NULL, 10), x.enterprise_id,
                          x.district_id, x.street_id, acts[act].to);
        rc = api_filing_get(r);
    }
out:
    json_decref(body);
    return rc;
}

int api_filing_approve(api_req *r)
{
    return filing_action(r, F_APPROVE);
}

int api_filing_return(api_req *r)
{
    return filing_action(r, F_RETURN);
}

int api_filing_withdraw(api_req *r)
{
    return filing_action(r, F_WITHDRAW);
}

int api_filing_end(api_req *r)
{
    return filing_action(r, F_END);
}

int api_filing_evidence(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such evidence");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    char type[32] = "";
    unsigned char *data = NULL;
    size_t len = 0;
    db_status st = c ? db_filings_evidence(c, &s, id, type, &data, &len) : DB_HARD;
    int rc;
    if (st != DB_OK)
        rc = api_reply_db(r, st);
    else if (!data)
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such evidence");
    else
        rc = api_reply_raw(r, 200, type, (const char *)data, len);
    free(data);
    return rc;
}

/* ---- who reviews a district's filings ------------------------------------------- */

typedef struct {
    long long district_id;
    const char *level;
    int found;
} level_ctx;

static db_status level_tx(api_req *r, db_conn *c, void *arg)
{
    level_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_filings_set_level(c, &s, x->district_id, x->level, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    char obj[48], d[64];
    snprintf(obj, sizeof obj, "region:%lld", x->district_id);
    snprintf(d, sizeof d, "{\"approval_level\":\"%s\"}", x->level);
    return api_audit_tx(r, c, "filing_settings", obj, "ok", d);
}

int api_filing_settings(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"district_id", "approval_level"};
    if (api_json_strict(r, body, allowed, 2) != 0)
        return 0;
    const api_caller *caller = api_req_caller(r);
    level_ctx x = {.district_id = caller->kind == API_SCOPE_DISTRICT ? caller->scope_id : 0};
    if (api_body_text(r, body, "approval_level", 1, 16, &x.level))
        return 0;
    if (strcmp(x.level, "street") && strcmp(x.level, "district"))
        return api_reply_error(r, API_E_BAD_REQUEST, "approval_level must be street or district");
    json_t *d = json_object_get(body, "district_id");
    if (d && (!json_is_integer(d) || json_integer_value(d) < 1))
        return api_reply_error(r, API_E_BAD_REQUEST, "district_id must be a positive integer");
    if (d)
        x.district_id = (long long)json_integer_value(d);
    if (!x.district_id)
        return api_reply_error(r, API_E_BAD_REQUEST, "district_id is required for the city");
    db_status st = api_tx(r, level_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such district in your scope");
    return api_reply_json(r, 200,
                          json_pack("{s:I, s:s}", "district_id", (json_int_t)x.district_id,
                                    "approval_level", x.level));
}

void api_filings_init(void)
{
    db_filings_register();
}
