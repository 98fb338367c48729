/* Hazards (隐患, migration 0061) and their rectification loop:
 *
 *   proposed --confirm--> reported --plan--> planned --rectify--> rectified --verify--> closed
 *            --dismiss--> dismissed                   ^                     --reject--> rejected
 *                                                     +------- rectify ------------------+
 *
 * Who: any account of the enterprise's scope reports one (government: inspections, spot
 * checks, warnings; the enterprise: self-checks); the enterprise files the plan and the
 * rectification report; government accounts (street and above) confirm or dismiss
 * derived proposals and verify or reject a rectification.  POST /hazards/derive proposes
 * the obvious major hazards from the archive and the asset registry for a person to
 * confirm.  Open hazards feed the risk engine (the migration's trigger keeps
 * enterprise_profiles.major_hazard_items and open_hazards equal to them).  Every
 * transition is guarded by the status it was read in (the row locked first), has its
 * hazard_events row, is audited in its transaction and published (type "hazard"). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_hazards.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int api_hazards_list(api_req *r)
{
    api_list_query q;
    const char *statuses, *kinds, *how;
    if (api_query_list_page(r, &q) ||
        api_query_csv(r, "status", "proposed|reported|planned|rectified|rejected|closed|dismissed",
                      &statuses) ||
        api_query_csv(r, "kind", "major|ordinary", &kinds) ||
        api_query_csv(r, "found_how", "spot_check|inspection|warning|self_check|derived", &how) ||
        api_query_list_state(r, &q) || api_query_list_class(r, &q))
        return 0;
    db_hazards_filter f = {.list = q.list, .statuses = statuses, .kinds = kinds, .how = how};
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_hazards_list(c, &s, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_hazard_get(api_req *r)
{
    return api_read_by_id(r, "hazard", db_hazards_get);
}

int api_hazards_ageing(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_hazards_ageing(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_hazard_photo(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such photo");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    char type[32] = "";
    unsigned char *data = NULL;
    size_t len = 0;
    db_status st = c ? db_hazards_photo(c, &s, id, type, &data, &len) : DB_HARD;
    int rc = st != DB_OK ? api_reply_db(r, st)
             : !data     ? api_reply_error(r, API_E_NOT_FOUND, "no such photo")
                         : api_reply_raw(r, 200, type, (const char *)data, len);
    free(data);
    return rc;
}

/* ---- report ------------------------------------------------------------------- */

typedef struct {
    db_hazard_new in;
    int64_t id;
    const char *detail;
} create_ctx;

static db_status create_tx(api_req *r, db_conn *c, void *arg)
{
    create_ctx *x = arg;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    int64_t id = 0;
    db_status st = db_hazards_create(c, &s, &x->in, &id);
    if (st != DB_OK || !id)
        return st;
    x->id = id;
    char obj[48];
    snprintf(obj, sizeof obj, "hazard:%lld", (long long)id);
    return api_audit_tx(r, c, "hazard_report", obj, "ok", x->detail);
}

static const char *const hows[] = {"spot_check", "inspection", "warning", "self_check"};

int api_hazard_create(api_req *r)
{
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"kind",     "major_item", "title",     "description",
                                          "found_by", "found_at",   "found_how", "deadline",
                                          "photo",    "warning_id"};
    if (api_json_strict(r, body, allowed, 10) != 0)
        return 0;
    const api_caller *caller = api_req_caller(r);
    const char *kind, *title, *desc, *found_by, *found_at, *how, *deadline;
    if (api_body_text(r, body, "kind", 1, 16, &kind) ||
        api_body_text(r, body, "title", 1, 200, &title) ||
        api_body_text(r, body, "description", 0, 4000, &desc) ||
        api_body_text(r, body, "found_by", 0, 100, &found_by) ||
        api_body_text(r, body, "found_at", 0, 40, &found_at) ||
        api_body_text(r, body, "found_how", 0, 16, &how) ||
        api_body_text(r, body, "deadline", 0, 40, &deadline))
        return 0;
    if (strcmp(kind, "major") && strcmp(kind, "ordinary"))
        return api_reply_error(r, API_E_HAZARD_INVALID, "kind must be major or ordinary");
    if (!*title)
        return api_reply_error(r, API_E_HAZARD_INVALID, "title must not be empty");
    json_t *item = json_object_get(body, "major_item");
    int major = strcmp(kind, "major") == 0;
    if (major != (item && !json_is_null(item)) ||
        (item && !json_is_null(item) &&
         (!json_is_integer(item) || json_integer_value(item) < 1 || json_integer_value(item) > 10)))
        return api_reply_error(r, API_E_HAZARD_INVALID,
                               "a major hazard names its item (major_item 1..10 of 工贸企业粉尘防爆"
                               "重大事故隐患判定); an ordinary one none");
    /* enterprises report self-checks; government accounts say how they found it */
    if (caller->kind == API_SCOPE_ENTERPRISE && !*how)
        how = "self_check";
    size_t nh = sizeof hows / sizeof hows[0], k = 0;
    while (k < nh && strcmp(how, hows[k]) != 0)
        k++;
    if (k == nh)
        return api_reply_error(r, API_E_HAZARD_INVALID,
                               "found_how must be spot_check, inspection, warning or self_check");
    time_t now = time(NULL), t_found = now, t_due;
    char s_found[32], s_due[32];
    if (*found_at && (api_parse_time(found_at, &t_found) != 0 || t_found > now + 300))
        return api_reply_error(
            r, API_E_BAD_REQUEST,
            "found_at must be an RFC 3339 time with an offset, not in the future");
    if (*deadline) {
        if (api_parse_time(deadline, &t_due) != 0)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "deadline must be an RFC 3339 time with an offset");
        if (t_due <= now || t_due > now + 366L * 86400)
            return api_reply_error(r, API_E_HAZARD_INVALID,
                                   "the deadline must be in the next 366 days");
    } else {
        t_due = now + (major ? 60 : 30) * 86400L;
    }
    api_format_time(t_found, s_found);
    api_format_time(t_due, s_due);
    json_t *w = json_object_get(body, "warning_id");
    if (w && !json_is_null(w) && (!json_is_integer(w) || json_integer_value(w) < 1))
        return api_reply_error(r, API_E_BAD_REQUEST, "warning_id must be a positive integer");
    create_ctx x = {.in = {.enterprise_id = eid,
                           .kind = kind,
                           .major_item = major ? (int)json_integer_value(item) : 0,
                           .title = title,
                           .description = desc,
                           .found_by = *found_by ? found_by : caller->username,
                           .found_at = s_found,
                           .found_how = how,
                           .deadline = s_due,
                           .warning_id = w && json_is_integer(w) ? json_integer_value(w) : 0,
                           .actor_id = caller->account_id,
                           .actor = caller->username}};
    unsigned char *photo = NULL;
    json_t *pj = json_object_get(body, "photo");
    if (pj && !json_is_null(pj) &&
        api_decode_upload(r, pj, 0, &photo, &x.in.photo_len, &x.in.photo_type) != 0)
        return 0;
    x.in.photo = photo;
    json_t *d = json_pack("{s:s, s:i, s:s, s:s, s:s}", "kind", kind, "major_item", x.in.major_item,
                          "title", title, "found_how", how, "deadline", s_due);
    char *detail = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    x.detail = detail ? detail : "";
    char obj[48];
    snprintf(obj, sizeof obj, "enterprise:%lld", eid);
    db_status st = api_tx(r, create_tx, &x);
    int rc;
    if (st != DB_OK) {
        api_audit(r, "hazard_report", obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.id) {
        api_audit(r, "hazard_report", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND,
                             x.in.warning_id ? "no such enterprise or warning"
                                             : "no such enterprise");
    } else {
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        json_t *out = NULL;
        st = c ? db_hazards_get(c, &s, x.id, &out) : DB_HARD;
        if (st == DB_OK && out) {
            json_t *e = json_object_get(json_object_get(out, "hazard"), "enterprise");
            api_publish_event("hazard", "report", x.id, eid,
                              json_integer_value(json_object_get(e, "district_id")),
                              json_integer_value(json_object_get(e, "street_id")), "reported");
        }
        rc = st != DB_OK ? api_reply_db(r, st) : api_reply_json(r, 201, out ? out : json_object());
    }
    free(detail);
    free(photo);
    return rc;
}

/* ---- transitions ---------------------------------------------------------------- */

typedef enum { H_CONFIRM, H_DISMISS, H_PLAN, H_RECTIFY, H_VERIFY, H_REJECT } hazard_act;

static const struct {
    const char *name;
    const char *from; /* "|"-separated */
    const char *to;
    const char *field;
    int required;
} acts[] = {
    [H_CONFIRM] = {"confirm", "proposed", "reported", "note", 0},
    [H_DISMISS] = {"dismiss", "proposed", "dismissed", "reason", 1},
    [H_PLAN] = {"plan", "reported", "planned", "plan", 1},
    [H_RECTIFY] = {"rectify", "planned|rejected", "rectified", "report", 1},
    [H_VERIFY] = {"verify", "rectified", "closed", "note", 0},
    [H_REJECT] = {"reject", "rectified", "rejected", "reason", 1},
};

static int in_list(const char *status, const char *list)
{
    size_t l = strlen(status);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, "|");
        if (n == l && strncmp(p, status, n) == 0)
            return 1;
        p += n + (p[n] == '|');
    }
    return 0;
}

typedef struct {
    hazard_act act;
    const char *id, *note;
    int found, refused;
    char why[200];
    long long enterprise_id, district_id, street_id;
} hact_ctx;

static db_status hact_tx(api_req *r, db_conn *c, void *arg)
{
    hact_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long id = api_parse_id(x->id);
    db_hazard_row row;
    int found;
    db_status st = db_hazards_lock(c, &s, id, &row, &found);
    if (st != DB_OK || !found)
        return st;
    x->found = 1;
    x->enterprise_id = row.enterprise_id;
    x->district_id = row.district_id;
    x->street_id = row.street_id;
    const char *from = row.status;
    if (!in_list(from, acts[x->act].from)) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "cannot %s a hazard in status %s", acts[x->act].name, from);
        return DB_OK;
    }
    st = db_hazards_move(c, &s, id, from, acts[x->act].to, acts[x->act].name, caller->account_id,
                         caller->username, x->note);
    if (st != DB_OK)
        return st;
    return api_audit_move_tx(r, c, "hazard", x->id, acts[x->act].name, from, acts[x->act].to,
                             x->note);
}

static int hazard_action(api_req *r, hazard_act act)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such hazard");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    hact_ctx x = {.act = act, .id = api_req_param(r, "id")};
    int rc = 0;
    const char *const allowed[] = {acts[act].field};
    if (api_json_strict(r, body, allowed, 1) != 0 ||
        api_body_text(r, body, acts[act].field, acts[act].required, 4000, &x.note))
        goto out;
    if (acts[act].required && !*x.note) {
        rc = api_reply_error(r, API_E_BAD_REQUEST, "%s must not be empty", acts[act].field);
        goto out;
    }
    char obj[48], action[40];
    snprintf(obj, sizeof obj, "hazard:%s", x.id);
    snprintf(action, sizeof action, "hazard_%s", acts[act].name);
    db_status st = api_tx(r, hact_tx, &x);
    if (st != DB_OK) {
        api_audit(r, action, obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such hazard");
    } else if (x.refused) {
        api_audit(r, action, obj, "failed", x.why);
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x.why);
    } else {
        api_publish_event("hazard", acts[act].name, strtoll(x.id, NULL, 10), x.enterprise_id,
                          x.district_id, x.street_id, acts[act].to);
        rc = api_hazard_get(r);
    }
out:
    json_decref(body);
    return rc;
}

int api_hazard_confirm(api_req *r)
{
    return hazard_action(r, H_CONFIRM);
}

int api_hazard_dismiss(api_req *r)
{
    return hazard_action(r, H_DISMISS);
}

int api_hazard_plan(api_req *r)
{
    return hazard_action(r, H_PLAN);
}

int api_hazard_rectify(api_req *r)
{
    return hazard_action(r, H_RECTIFY);
}

int api_hazard_verify(api_req *r)
{
    return hazard_action(r, H_VERIFY);
}

int api_hazard_reject(api_req *r)
{
    return hazard_action(r, H_REJECT);
}

/* ---- derived proposals ---------------------------------------------------------- */

typedef struct {
    long long enterprise_id;
    int64_t n;
} derive_ctx;

static db_status derive_tx(api_req *r, db_conn *c, void *arg)
{
    derive_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_hazards_derive(c, &s, x->enterprise_id, &x->n);
    if (st != DB_OK || x->n == 0)
        return st;
    char d[64];
    snprintf(d, sizeof d, "{\"proposed\":%lld}", (long long)x->n);
    return api_audit_tx(r, c, "hazard_derive", "hazards", "ok", d);
}

int api_hazards_derive(api_req *r)
{
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"enterprise_id"};
    derive_ctx x = {0};
    int rc = 0;
    if (api_json_strict(r, body, allowed, 1) != 0)
        goto out;
    json_t *e = json_object_get(body, "enterprise_id");
    if (e && (!json_is_integer(e) || json_integer_value(e) < 1)) {
        rc = api_reply_error(r, API_E_BAD_REQUEST, "enterprise_id must be a positive integer");
        goto out;
    }
    x.enterprise_id = e ? (long long)json_integer_value(e) : 0;
    db_status st = api_tx(r, derive_tx, &x);
    rc = st != DB_OK ? api_reply_db(r, st)
                     : api_reply_json(r, 200, json_pack("{s:I}", "proposed", (json_int_t)x.n));
out:
    json_decref(body);
    return rc;
}

void api_hazards_init(void)
{
    db_hazards_register();
}
