/* Early warnings (预警): list with filters, detail with the score that caused
 * the warning (its breakdown and fired rules), the event / escalation /
 * supervision history, and the people's transitions.  The worker issues,
 * upgrades (a grade rise: same warning, new grade, status back to issued) and
 * escalates (job_risk.c); this file moves the status the way the engine's
 * risk_warning_status enumerates it:
 *
 *   issued --sign--> signed --feedback--> feedback --request-clearance-->
 *   clearance_requested --approve--> cleared
 *                       --return---> returned --feedback--> feedback ...
 *   (feedback may be repeated from signed, feedback and returned)
 *
 * Who:
 * - sign (签收), feedback (处置反馈), request clearance (申请消警): the
 *   enterprise (its accounts and API keys) on its own warnings.
 * - approve (消警) / return (退回): the supervising level.  The warning's
 *   current_level (the table's level at issue, raised one tier per escalation)
 *   or any tier above it may review; a warning supervised by the enterprise
 *   itself (blue) is reviewed by the street.  The city acts on red warnings
 *   (and on anything escalated to the city); on others it reads.  A level
 *   below the supervising one gets 403.
 *
 * Every transition is one UPDATE guarded by the status it was read in (the row
 * is locked first) plus its warning_events row (who, when, why) in the same
 * transaction; approve also closes the open supervision orders (督办).  It
 * sets next_check_at so the worker re-reads the deadlines, is audited and is
 * published on dw:events after COMMIT.  Invalid transitions: 409. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_warning_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_warnings_list(api_req *r)
{
    api_list_query q;
    const char *grades, *statuses, *levels;
    if (api_query_list_page(r, &q) ||
        api_query_csv(r, "grade", "blue|yellow|orange|red", &grades) ||
        api_query_csv(r, "status", "issued|signed|feedback|clearance_requested|cleared|returned",
                      &statuses) ||
        api_query_csv(r, "level", "enterprise|street|district|city", &levels) ||
        api_query_list_state(r, &q) || api_query_list_class(r, &q))
        return 0;
    db_warning_api_filter f = {.list = q.list,
                               .grades = grades,
                               .statuses = statuses,
                               .levels = levels,
                               .cause = api_req_query(r, "cause")};
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_warning_api_list(c, &s, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_warning_get(api_req *r)
{
    return api_read_by_id(r, "warning", db_warning_api_get);
}

/* ---- transitions ------------------------------------------------------------ */

typedef enum { W_SIGN, W_FEEDBACK, W_REQUEST, W_APPROVE, W_RETURN } warn_act;

static const struct {
    const char *name; /* warning_events.action */
    const char *from; /* allowed statuses, "|"-separated */
    const char *to;
    const char *field; /* body text field */
    int required;
} acts[] = {
    [W_SIGN] = {"sign", "issued", "signed", "note", 0},
    [W_FEEDBACK] = {"feedback", "signed|feedback|returned", "feedback", "feedback", 1},
    [W_REQUEST] = {"request_clearance", "feedback", "clearance_requested", "note", 0},
    [W_APPROVE] = {"approve", "clearance_requested", "cleared", "note", 0},
    [W_RETURN] = {"return", "clearance_requested", "returned", "reason", 1},
};

static int level_rank(const char *level)
{
    static const char *const names[] = {"enterprise", "street", "district", "city"};
    for (int i = 0; i < 4; i++)
        if (strcmp(level, names[i]) == 0)
            return i;
    return 4;
}

static int status_in(const char *status, const char *list)
{
    size_t l = strlen(status);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, "|");
        if (n == l && strncmp(p, status, n) == 0)
            return 1;
        p += n;
        if (*p == '|')
            p++;
    }
    return 0;
}

typedef struct {
    warn_act act;
    const char *id;
    const char *note;
    int found;
    int refused;   /* 409 */
    int forbidden; /* 403: below the supervising level */
    char why[240];
    char from[32];
    long long enterprise_id, district_id, street_id, event_id;
} wact_ctx;

static db_status wact_tx(api_req *r, db_conn *c, void *arg)
{
    wact_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long warning_id = api_parse_id(x->id);
    db_warning_api_row row;
    int found;
    db_status st = db_warning_api_lock(c, &s, warning_id, &row, &found);
    if (st != DB_OK || !found)
        return st;
    x->found = 1;
    snprintf(x->from, sizeof x->from, "%s", row.status);
    const char *grade = row.grade, *level = row.level;
    x->enterprise_id = row.enterprise_id;
    x->district_id = row.district_id;
    x->street_id = row.street_id;
    if (x->act == W_APPROVE || x->act == W_RETURN) {
        int need = level_rank(level) < 1 ? 1 : level_rank(level);
        int mine = caller->kind == API_SCOPE_CITY       ? 3
                   : caller->kind == API_SCOPE_DISTRICT ? 2
                   : caller->kind == API_SCOPE_STREET   ? 1
                                                        : 0;
        if (mine < need) {
            x->forbidden = 1;
            snprintf(x->why, sizeof x->why,
                     "this %s warning is supervised at %s level; the %s reviews it", grade, level,
                     level_rank(level) < 1 ? "street" : level);
            return DB_OK;
        }
        if (mine == 3 && strcmp(grade, "red") != 0 && strcmp(level, "city") != 0) {
            x->forbidden = 1;
            snprintf(x->why, sizeof x->why,
                     "the city reviews red warnings and those escalated to it; this %s warning "
                     "is supervised at %s level",
                     grade, level);
            return DB_OK;
        }
    }
    if (!status_in(x->from, acts[x->act].from)) {
        x->refused = 1;
        if (strcmp(x->from, "cleared") == 0)
            snprintf(x->why, sizeof x->why, "the warning is already cleared");
        else if (x->act == W_REQUEST && strcmp(x->from, "issued") == 0)
            snprintf(x->why, sizeof x->why, "sign the warning and report handling feedback first");
        else if (x->act == W_REQUEST && strcmp(x->from, "clearance_requested") == 0)
            snprintf(x->why, sizeof x->why, "clearance is already requested and waits for review");
        else if (x->act == W_REQUEST)
            snprintf(x->why, sizeof x->why,
                     "report handling feedback before requesting clearance (status %s)", x->from);
        else if (x->act == W_FEEDBACK && strcmp(x->from, "issued") == 0)
            snprintf(x->why, sizeof x->why, "sign the warning before reporting feedback");
        else if (x->act == W_APPROVE || x->act == W_RETURN)
            snprintf(x->why, sizeof x->why,
                     "only a pending clearance request can be reviewed (status %s)", x->from);
        else
            snprintf(x->why, sizeof x->why, "cannot %s a warning in status %s", acts[x->act].name,
                     x->from);
        return DB_OK;
    }
    int64_t event_id;
    st = db_warning_api_move(c, &s, warning_id, x->from, acts[x->act].to, acts[x->act].name,
                             caller->account_id, caller->username, x->note, &event_id);
    if (st != DB_OK)
        return st;
    x->event_id = event_id;
    /* the record commits with the move, or neither does */
    char obj[48], action[40];
    snprintf(obj, sizeof obj, "warning:%s", x->id);
    snprintf(action, sizeof action, "warning_%s", acts[x->act].name);
    json_t *d = json_pack("{s:s, s:s, s:I, s:s}", "from", x->from, "to", acts[x->act].to, "event",
                          (json_int_t)event_id, "why", x->note ? x->note : "");
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!ds)
        return DB_HARD;
    st = api_audit_tx(r, c, action, obj, "ok", ds);
    free(ds);
    return st;
}

static int warning_action(api_req *r, warn_act act)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such warning");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    wact_ctx x = {.act = act, .id = api_req_param(r, "id")};
    int rc = 0;
    const char *const allowed[] = {acts[act].field};
    if (api_json_strict(r, body, allowed, 1) != 0 ||
        api_body_text(r, body, acts[act].field, acts[act].required, 4000, &x.note))
        goto out;
    char obj[48], action[40];
    snprintf(obj, sizeof obj, "warning:%s", x.id);
    snprintf(action, sizeof action, "warning_%s", acts[act].name);
    db_status st = api_tx(r, wact_tx, &x);
    if (st != DB_OK) {
        api_audit(r, action, obj, "failed", "database");
        rc = api_reply_db(r, st);
        goto out;
    }
    if (!x.found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such warning");
        goto out;
    }
    if (x.forbidden) {
        api_audit(r, action, obj, "denied", x.why);
        rc = api_reply_error(r, API_E_FORBIDDEN, "%s", x.why);
        goto out;
    }
    if (x.refused) {
        api_audit(r, action, obj, "failed", x.why);
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x.why);
        goto out;
    }
    api_publish_event("warning", acts[act].name, strtoll(x.id, NULL, 10), x.enterprise_id,
                      x.district_id, x.street_id, acts[act].to);
    rc = api_warning_get(r);
out:
    json_decref(body);
    return rc;
}

int api_warning_sign(api_req *r)
{
    return warning_action(r, W_SIGN);
}

int api_warning_feedback(api_req *r)
{
    return warning_action(r, W_FEEDBACK);
}

int api_warning_request_clearance(api_req *r)
{
    return warning_action(r, W_REQUEST);
}

int api_warning_approve(api_req *r)
{
    return warning_action(r, W_APPROVE);
}

int api_warning_return(api_req *r)
{
    return warning_action(r, W_RETURN);
}

void api_warnings_init(void)
{
    db_warning_api_register();
}
