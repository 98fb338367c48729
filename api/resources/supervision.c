/* 督办 / 执法 / 通报 that people can work (migration 0062).
 *
 * Supervision orders (created by the escalation ladder, job_risk.c):
 *   open --assign--> assigned --respond--> responded --close--> closed
 *   (reassign from assigned; the enterprise may answer an open one; close from any open state)
 *   assign and close: the supervising level (the order's level) or above; respond: the
 *   enterprise, or the person it is assigned to.  Approving the warning closes them too.
 * Enforcement referrals (red warnings overdue):
 *   open --accept--> accepted --close (decision number, amount, date, outcome)--> closed
 *        --reject--> rejected                       by district and city accounts
 * Public notices (警示通报), drafted from an overdue warning or hazard (or written):
 *   draft --approve (an administrator)--> approved --publish--> published
 *   A published notice is readable by every enterprise of the issuing region.
 *
 * Every transition is guarded by the status it was read in (the row locked first),
 * audited in its transaction and published (type "supervision") after COMMIT. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_supervision.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank_of_caller(const api_caller *c)
{
    return c->kind == API_SCOPE_CITY       ? 3
           : c->kind == API_SCOPE_DISTRICT ? 2
           : c->kind == API_SCOPE_STREET   ? 1
                                           : 0;
}

static int rank_of_level(const char *level)
{
    return strcmp(level, "city") == 0 ? 3 : strcmp(level, "district") == 0 ? 2 : 1;
}

static int work_list(api_req *r, const char *which)
{
    api_list_query q;
    const char *levels = NULL, *statuses, *mine = NULL;
    const char *allowed = strcmp(which, "sv") == 0   ? "open|assigned|responded|closed"
                          : strcmp(which, "rf") == 0 ? "open|accepted|rejected|closed"
                                                     : "draft|approved|published";
    if (api_query_list_page(r, &q) || api_query_csv(r, "status", allowed, &statuses) ||
        (strcmp(which, "sv") == 0 && (api_query_csv(r, "level", "street|district|city", &levels) ||
                                      api_query_bool(r, "mine", &mine))) ||
        api_query_list_state(r, &q))
        return 0;
    db_supervision_filter f = {.list = q.list, .levels = levels, .statuses = statuses};
    if (api_tristate(mine) == 1)
        f.assigned_to = api_req_caller(r)->account_id ? api_req_caller(r)->account_id : -1;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_supervision_list(c, &s, which, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_supervisions_list(api_req *r)
{
    return work_list(r, "sv");
}

int api_referrals_list(api_req *r)
{
    return work_list(r, "rf");
}

int api_notices_list(api_req *r)
{
    return work_list(r, "nt");
}

int api_supervision_get(api_req *r)
{
    return api_read_by_id(r, "supervision", db_supervision_get);
}

int api_referral_get(api_req *r)
{
    return api_read_by_id(r, "referral", db_referral_get);
}

int api_notice_get(api_req *r)
{
    return api_read_by_id(r, "notice", db_notice_get);
}

int api_notice_candidates(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_notice_candidates(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

/* ---- transitions ---------------------------------------------------------------- */

typedef enum {
    A_ASSIGN,
    A_RESPOND,
    A_CLOSE,
    R_ACCEPT,
    R_REJECT,
    R_CLOSE,
    N_APPROVE,
    N_PUBLISH
} work_act;

static const struct {
    const char *which; /* sv / rf / nt */
    const char *name;  /* action */
    const char *from;  /* "|"-separated */
    const char *to;
    const char *field; /* the body's text field */
    int required;
} acts[] = {
    [A_ASSIGN] = {"sv", "assign", "open|assigned", "assigned", "note", 0},
    [A_RESPOND] = {"sv", "respond", "open|assigned", "responded", "response", 1},
    [A_CLOSE] = {"sv", "close", "open|assigned|responded", "closed", "result", 1},
    [R_ACCEPT] = {"rf", "accept", "open", "accepted", "note", 0},
    [R_REJECT] = {"rf", "reject", "open", "rejected", "reason", 1},
    [R_CLOSE] = {"rf", "close", "accepted", "closed", "outcome", 1},
    [N_APPROVE] = {"nt", "approve", "draft", "approved", NULL, 0},
    [N_PUBLISH] = {"nt", "publish", "approved", "published", NULL, 0},
};

static const char *kind_of(const char *which)
{
    return strcmp(which, "sv") == 0   ? "supervision"
           : strcmp(which, "rf") == 0 ? "referral"
                                      : "notice";
}

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
    work_act act;
    const char *id, *text;
    int64_t assignee;
    db_referral_outcome outcome;
    int found, refused, forbidden, bad_assignee;
    char why[200];
    long long enterprise_id, district_id, street_id;
} wk_ctx;

static db_status wk_tx(api_req *r, db_conn *c, void *arg)
{
    wk_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long id = api_parse_id(x->id);
    db_work_row row;
    int found;
    db_status st = db_work_lock(c, &s, acts[x->act].which, id, &row, &found);
    if (st != DB_OK || !found)
        return st;
    x->found = 1;
    x->enterprise_id = row.enterprise_id;
    x->district_id = row.district_id;
    x->street_id = row.street_id;
    if ((x->act == A_ASSIGN || x->act == A_CLOSE) &&
        rank_of_caller(caller) < rank_of_level(row.level)) {
        x->forbidden = 1;
        snprintf(x->why, sizeof x->why,
                 "this supervision order is issued at %s level; that level or above works it",
                 row.level);
        return DB_OK;
    }
    if (x->act == A_RESPOND && caller->kind != API_SCOPE_ENTERPRISE &&
        (!caller->account_id || caller->account_id != row.assigned_to)) {
        x->forbidden = 1;
        snprintf(x->why, sizeof x->why,
                 "the enterprise or the person it is assigned to answers a supervision order");
        return DB_OK;
    }
    if (!in_list(row.status, acts[x->act].from)) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "cannot %s it in status %s", acts[x->act].name, row.status);
        return DB_OK;
    }
    if (x->act == A_ASSIGN) {
        int ok = 0;
        st = db_supervision_assignee_ok(c, &s, x->assignee, &ok);
        if (st != DB_OK)
            return st;
        if (!ok) {
            x->bad_assignee = 1;
            snprintf(x->why, sizeof x->why,
                     "account %lld is not an enabled government account of your scope",
                     (long long)x->assignee);
            return DB_OK;
        }
    }
    const char *which = acts[x->act].which;
    if (strcmp(which, "sv") == 0)
        st = db_supervision_move(c, &s, id, row.status, acts[x->act].to, acts[x->act].name,
                                 caller->account_id, x->text, x->assignee);
    else if (strcmp(which, "rf") == 0)
        st = db_referral_move(c, &s, id, row.status, acts[x->act].to, acts[x->act].name,
                              caller->account_id, x->text, x->act == R_CLOSE ? &x->outcome : NULL);
    else
        st = db_notice_move(c, &s, id, row.status, acts[x->act].to, caller->account_id);
    if (st != DB_OK)
        return st;
    char obj[48], action[48];
    snprintf(obj, sizeof obj, "%s:%s", kind_of(which), x->id);
    snprintf(action, sizeof action, "%s_%s", kind_of(which), acts[x->act].name);
    json_t *d = json_pack("{s:s, s:s, s:s, s:I}", "from", row.status, "to", acts[x->act].to, "why",
                          x->text ? x->text : "", "assignee", (json_int_t)x->assignee);
    if (d && x->act == R_CLOSE)
        json_object_set_new(d, "decision",
                            json_pack("{s:s?, s:s?, s:s}", "no", x->outcome.decision_no, "amount",
                                      x->outcome.penalty_amount, "on", x->outcome.decided_on));
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!ds)
        return DB_HARD;
    st = api_audit_tx(r, c, action, obj, "ok", ds);
    free(ds);
    return st;
}

/* a decimal amount of yuan: digits, at most two decimals */
static int is_amount(const char *s)
{
    size_t i = 0, digits = 0;
    while (isdigit((unsigned char)s[i]))
        i++, digits++;
    if (!digits || digits > 12)
        return 0;
    if (s[i] == '.') {
        size_t d = 0;
        i++;
        while (isdigit((unsigned char)s[i]))
            i++, d++;
        if (d < 1 || d > 2)
            return 0;
    }
    return s[i] == '\0';
}

static int is_date(const char *s)
{
    int y, m, d;
    char tail;
    return strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && y >= 2000 &&
           y <= 2100 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int work_action(api_req *r, work_act act)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such object");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    wk_ctx x = {.act = act, .id = api_req_param(r, "id")};
    int rc = 0;
    char amount[40] = "";
    const char *none[1] = {NULL};
    if (act == A_ASSIGN) {
        static const char *const allowed[] = {"account_id", "note"};
        if (api_json_strict(r, body, allowed, 2) != 0 ||
            api_body_text(r, body, "note", 0, 4000, &x.text))
            goto out;
        json_t *a = json_object_get(body, "account_id");
        if (!json_is_integer(a) || json_integer_value(a) < 1) {
            rc = api_reply_error(r, API_E_BAD_REQUEST, "account_id must be a positive integer");
            goto out;
        }
        x.assignee = (int64_t)json_integer_value(a);
    } else if (act == R_CLOSE) {
        static const char *const allowed[] = {"outcome", "decision_no", "penalty_amount",
                                              "decided_on"};
        const char *no, *on;
        if (api_json_strict(r, body, allowed, 4) != 0 ||
            api_body_text(r, body, "outcome", 1, 4000, &x.text) ||
            api_body_text(r, body, "decision_no", 0, 100, &no) ||
            api_body_text(r, body, "decided_on", 1, 10, &on))
            goto out;
        json_t *amt = json_object_get(body, "penalty_amount");
        if (amt && !json_is_null(amt)) {
            if (json_is_integer(amt))
                snprintf(amount, sizeof amount, "%lld", (long long)json_integer_value(amt));
            else if (json_is_real(amt))
                snprintf(amount, sizeof amount, "%.2f", json_real_value(amt));
            else if (json_is_string(amt))
                snprintf(amount, sizeof amount, "%s", json_string_value(amt));
            if (!is_amount(amount)) {
                rc = api_reply_error(r, API_E_OUTCOME_INVALID,
                                     "penalty_amount must be a non-negative amount of yuan");
                goto out;
            }
        }
        if (!*x.text || !is_date(on) || (amount[0] && !*no)) {
            rc = api_reply_error(r, API_E_OUTCOME_INVALID,
                                 "outcome and decided_on (YYYY-MM-DD) are required; a penalty "
                                 "needs its decision number");
            goto out;
        }
        x.outcome = (db_referral_outcome){.decision_no = *no ? no : NULL,
                                          .penalty_amount = amount[0] ? amount : NULL,
                                          .decided_on = on};
    } else {
        const char *field = acts[act].field;
        const char *const allowed[] = {field};
        if (api_json_strict(r, body, field ? allowed : none, field ? 1 : 0) != 0 ||
            (field && api_body_text(r, body, field, acts[act].required, 4000, &x.text)))
            goto out;
        if (acts[act].required && !*x.text) {
            rc = api_reply_error(r, API_E_BAD_REQUEST, "%s must not be empty", field);
            goto out;
        }
    }
    db_status st = api_tx(r, wk_tx, &x);
    char obj[48], what[48];
    snprintf(obj, sizeof obj, "%s:%s", kind_of(acts[act].which), x.id);
    snprintf(what, sizeof what, "%s_%s", kind_of(acts[act].which), acts[act].name);
    if (st != DB_OK) {
        api_audit(r, what, obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, what, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such object");
    } else if (x.forbidden) {
        api_audit(r, what, obj, "denied", x.why);
        rc = api_reply_error(r, API_E_FORBIDDEN, "%s", x.why);
    } else if (x.bad_assignee) {
        api_audit(r, what, obj, "failed", x.why);
        rc = api_reply_error(r, API_E_ASSIGNEE_INVALID, "%s", x.why);
    } else if (x.refused) {
        api_audit(r, what, obj, "failed", x.why);
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x.why);
    } else {
        api_publish_event("supervision", what, strtoll(x.id, NULL, 10), x.enterprise_id,
                          x.district_id, x.street_id, acts[act].to);
        rc = strcmp(acts[act].which, "sv") == 0   ? api_supervision_get(r)
             : strcmp(acts[act].which, "rf") == 0 ? api_referral_get(r)
                                                  : api_notice_get(r);
    }
out:
    json_decref(body);
    return rc;
}

int api_supervision_assign(api_req *r)
{
    return work_action(r, A_ASSIGN);
}
int api_supervision_respond(api_req *r)
{
    return work_action(r, A_RESPOND);
}
int api_supervision_close(api_req *r)
{
    return work_action(r, A_CLOSE);
}
int api_referral_accept(api_req *r)
{
    return work_action(r, R_ACCEPT);
}
int api_referral_reject(api_req *r)
{
    return work_action(r, R_REJECT);
}
int api_referral_close(api_req *r)
{
    return work_action(r, R_CLOSE);
}
int api_notice_approve(api_req *r)
{
    return work_action(r, N_APPROVE);
}
int api_notice_publish(api_req *r)
{
    return work_action(r, N_PUBLISH);
}

/* ---- notice drafts ---------------------------------------------------------------- */

typedef struct {
    int64_t enterprise_id, warning_id, hazard_id, id;
    const char *title, *body;
} nt_ctx;

static db_status nt_tx(api_req *r, db_conn *c, void *arg)
{
    nt_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_notice_create(c, &s, x->enterprise_id, x->warning_id, x->hazard_id, x->title,
                                    x->body, caller->scope_id, caller->account_id, &x->id);
    if (st != DB_OK || !x->id)
        return st;
    char obj[48], d[120];
    snprintf(obj, sizeof obj, "notice:%lld", (long long)x->id);
    snprintf(d, sizeof d, "{\"enterprise\":%lld,\"warning\":%lld,\"hazard\":%lld}",
             (long long)x->enterprise_id, (long long)x->warning_id, (long long)x->hazard_id);
    return api_audit_tx(r, c, "notice_draft", obj, "ok", d);
}

static int64_t body_id(json_t *body, const char *name, int *bad)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        *bad = 1;
        return 0;
    }
    return (int64_t)json_integer_value(v);
}

int api_notice_create(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"enterprise_id", "warning_id", "hazard_id", "title",
                                          "body"};
    if (api_json_strict(r, body, allowed, 5) != 0)
        return 0;
    nt_ctx x = {0};
    int bad = 0;
    x.enterprise_id = body_id(body, "enterprise_id", &bad);
    x.warning_id = body_id(body, "warning_id", &bad);
    x.hazard_id = body_id(body, "hazard_id", &bad);
    if (bad || !x.enterprise_id)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "enterprise_id is required; ids are positive integers");
    if (api_body_text(r, body, "title", 0, 200, &x.title) ||
        api_body_text(r, body, "body", 0, 20000, &x.body))
        return 0;
    if ((!*x.title || !*x.body) && !x.warning_id && !x.hazard_id)
        return api_reply_error(r, API_E_NOTICE_INVALID,
                               "name a warning or a hazard to draft from, or give title and body");
    x.title = *x.title ? x.title : NULL;
    x.body = *x.body ? x.body : NULL;
    db_status st = api_tx(r, nt_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.id)
        return api_reply_error(r, API_E_NOTICE_INVALID,
                               "the enterprise is not in your scope, or the warning or hazard "
                               "is not the enterprise's");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    st = c ? db_notice_get(c, &s, x.id, &out) : DB_HARD;
    return st != DB_OK ? api_reply_db(r, st) : api_reply_json(r, 201, out ? out : json_object());
}

/* A notice as plain text, for printing and forwarding (通报文本). */
int api_notice_export(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such notice");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *n = NULL;
    db_status st = c ? db_notice_get(c, &s, id, &n) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!n)
        return api_reply_error(r, API_E_NOT_FOUND, "no such notice");
    const char *title = json_string_value(json_object_get(n, "title"));
    const char *text = json_string_value(json_object_get(n, "body"));
    const char *region = json_string_value(json_object_get(json_object_get(n, "region"), "name"));
    const char *at = json_string_value(json_object_get(n, "published_at"));
    const char *status = json_string_value(json_object_get(n, "status"));
    size_t cap = strlen(title ? title : "") + strlen(text ? text : "") + 512;
    char *buf = malloc(cap);
    int rc;
    if (!buf) {
        rc = api_reply_error(r, API_E_INTERNAL, "out of memory");
    } else {
        int len = snprintf(buf, cap, "%s\n\n%s\n\n%s\n%s\n", title ? title : "", text ? text : "",
                           region ? region : "", at ? at : (status ? status : ""));
        api_reply_add_header(r, "Content-Disposition", "attachment; filename=\"notice.txt\"");
        rc = api_reply_raw(r, 200, "text/plain; charset=utf-8", buf, (size_t)len);
    }
    free(buf);
    json_decref(n);
    return rc;
}

void api_supervision_init(void)
{
    db_supervision_register();
}
