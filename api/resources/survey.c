/* 摸排 entry (issue 17 item 8): street accounts propose enterprises of their
 * own street, and changes to them, as pending records; the district (or the
 * city) confirms — the enterprise is then written through the archive's own
 * checks (enterprises.c, api_enterprise_apply_tx) in the same transaction —
 * or returns the proposal with a reason, and the street edits and resubmits.
 *
 *   pending --confirm--> confirmed        pending --return--> returned
 *   returned/pending --edit (street)--> pending
 *
 * A pending enterprise is no enterprises row, so nothing that counts
 * enterprises (statistics, onboarding, overview, risk, ingest) sees it; a
 * pending change alters nothing.  Every step is audited with
 * api_audit_move_tx in its transaction ("proposal_submit", "_edit",
 * "_confirm", "_return"); refusals are audited beside. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_survey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_survey_list(api_req *r)
{
    const char *status = api_req_query(r, "status");
    if (status && !*status)
        status = NULL;
    if (status && strcmp(status, "pending") && strcmp(status, "confirmed") &&
        strcmp(status, "returned"))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "status must be pending, confirmed or returned");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_survey_list(c, &s, status, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

typedef struct {
    long long id;         /* the proposal */
    long long enterprise; /* propose: the enterprise changed (0: a new one) */
    const char *record;   /* JSON text */
    json_t *record_json;
    const char *reason;
    int act; /* A_* */
    int found, wrong_state, taken, refused, conflict, missing;
    char from[12];
    char why[256];
    long long made; /* confirm: the enterprise written */
} sv_ctx;

enum { A_PROPOSE, A_EDIT, A_CONFIRM, A_RETURN };
static const char *const act_names[] = {"submit", "edit", "confirm", "return"};

static db_status propose_tx(api_req *r, db_conn *c, void *arg)
{
    sv_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    const char *by = api_req_caller(r)->username;
    int64_t id = 0;
    db_diag diag;
    x->taken = 0;
    db_status st =
        x->enterprise ? db_survey_propose_update_tx(c, &s, x->enterprise, x->record, by, &id, &diag)
                      : db_survey_propose_create_tx(c, &s, x->record, by, &id);
    if (st == DB_BAD && x->enterprise && strcmp(diag.sqlstate, "23505") == 0)
        x->taken = 1;
    if (st != DB_OK || !id)
        return st;
    x->found = 1;
    x->id = id;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", x->id);
    return api_audit_move_tx(r, c, "proposal", ids, "submit", "", "pending",
                             x->enterprise ? "change" : "new enterprise");
}

static db_status step_tx(api_req *r, db_conn *c, void *arg)
{
    sv_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    const char *by = api_req_caller(r)->username;
    x->found = x->wrong_state = x->refused = x->conflict = x->missing = 0;
    x->why[0] = '\0';
    db_survey_proposal p;
    db_status st = db_survey_lock_tx(c, &s, x->id, &p);
    if (st != DB_OK || !p.found) {
        json_decref(p.record);
        return st;
    }
    x->found = 1;
    snprintf(x->from, sizeof x->from, "%s", p.status);
    const char *to = "pending";
    if (x->act == A_EDIT) {
        if (strcmp(p.status, "pending") && strcmp(p.status, "returned")) {
            x->wrong_state = 1;
        } else if (strcmp(p.kind, "create") == 0 && (!json_object_get(x->record_json, "code") ||
                                                     !json_object_get(x->record_json, "uscc") ||
                                                     !json_object_get(x->record_json, "name"))) {
            x->missing = 1; /* a new enterprise keeps its required fields */
        } else {
            st = db_survey_edit_tx(c, x->id, x->record, by);
        }
    } else if (strcmp(p.status, "pending") != 0) {
        x->wrong_state = 1;
    } else if (x->act == A_RETURN) {
        to = "returned";
        st = db_survey_decide_tx(c, x->id, "returned", x->reason, by, 0);
    } else {
        to = "confirmed";
        long long made = 0;
        int create = strcmp(p.kind, "create") == 0;
        st = api_enterprise_apply_tx(r, c, p.record, create ? 0 : p.enterprise_id, p.district_code,
                                     p.street_code, &made, x->why, sizeof x->why, &x->conflict);
        if (st == DB_BAD)
            x->refused = 1;
        if (st == DB_OK) {
            x->made = made;
            st = db_survey_decide_tx(c, x->id, "confirmed", NULL, by, made);
        }
    }
    json_decref(p.record);
    if (st != DB_OK || x->wrong_state || x->missing)
        return st;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", x->id);
    return api_audit_move_tx(r, c, "proposal", ids, act_names[x->act], x->from, to,
                             x->act == A_RETURN ? x->reason : NULL);
}

/* The record of a proposal: an object, checked as the archive would check it. */
static int take_record(api_req *r, json_t *body, int creating, sv_ctx *x, char **text)
{
    json_t *rec = json_object_get(body, "record");
    if (!json_is_object(rec))
        return api_reply_error(r, API_E_BAD_REQUEST, "record must be an object of archive fields"),
               -1;
    if (api_enterprise_check_record(r, rec, creating) != 0)
        return -1;
    *text = json_dumps(rec, JSON_COMPACT);
    if (!*text)
        return api_reply_error(r, API_E_INTERNAL, "out of memory"), -1;
    x->record = *text;
    x->record_json = rec;
    return 0;
}

int api_survey_propose(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"enterprise_id", "record"};
    if (api_json_strict(r, body, allowed, 2) != 0)
        return 0;
    sv_ctx x = {.act = A_PROPOSE};
    json_t *e = json_object_get(body, "enterprise_id");
    if (e && (!json_is_integer(e) || json_integer_value(e) < 1))
        return api_reply_error(r, API_E_BAD_REQUEST, "enterprise_id must be a positive integer");
    x.enterprise = e ? (long long)json_integer_value(e) : 0;
    char *text = NULL;
    if (take_record(r, body, !x.enterprise, &x, &text) != 0)
        return 0;
    db_status st = api_tx(r, propose_tx, &x);
    free(text);
    char obj[48];
    snprintf(obj, sizeof obj, x.enterprise ? "enterprise:%lld" : "street", x.enterprise);
    if (st == DB_BAD && x.taken) {
        api_audit(r, "proposal_submit", obj, "denied", "a change is pending");
        return api_reply_error(r, API_E_CONFLICT,
                               "a change of this enterprise is pending: edit that proposal");
    }
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found) {
        api_audit(r, "proposal_submit", obj, "denied",
                  x.enterprise ? "enterprise not in the street" : "street disabled");
        return x.enterprise
                   ? api_reply_error(r, API_E_NOT_FOUND, "no such enterprise in your street")
                   : api_reply_error(r, API_E_UNPROCESSABLE,
                                     "your street is disabled: it takes no new enterprise");
    }
    return api_reply_json(r, 201,
                          json_pack("{s:I, s:s}", "id", (json_int_t)x.id, "status", "pending"));
}

static int step_reply(api_req *r, sv_ctx *x, db_status st)
{
    char obj[48], action[48];
    snprintf(obj, sizeof obj, "proposal:%lld", x->id);
    snprintf(action, sizeof action, "proposal_%s", act_names[x->act]);
    if (st == DB_BAD && x->refused) {
        api_audit(r, action, obj, "failed", x->why);
        return api_reply_error(r, x->conflict ? API_E_CONFLICT : API_E_UNPROCESSABLE,
                               "the proposal cannot be applied: %s (return it with a reason)",
                               x->why);
    }
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x->found) {
        api_audit(r, action, obj, "denied", "not in scope");
        return api_reply_error(r, API_E_NOT_FOUND, "no such proposal");
    }
    if (x->missing)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "a new enterprise's record keeps code, uscc and name");
    if (x->wrong_state) {
        api_audit(r, action, obj, "denied", x->from);
        return api_reply_error(r, API_E_INVALID_TRANSITION, "the proposal is %s", x->from);
    }
    json_t *out = json_pack("{s:I, s:s}", "id", (json_int_t)x->id, "status",
                            x->act == A_CONFIRM  ? "confirmed"
                            : x->act == A_RETURN ? "returned"
                                                 : "pending");
    if (x->act == A_CONFIRM)
        json_object_set_new(out, "enterprise_id", json_integer(x->made));
    return api_reply_json(r, 200, out);
}

static long long path_id(api_req *r)
{
    return api_parse_id(api_req_param(r, "id"));
}

int api_survey_edit(api_req *r)
{
    sv_ctx x = {.act = A_EDIT, .id = path_id(r)};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such proposal");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"record"};
    if (api_json_strict(r, body, allowed, 1) != 0)
        return 0;
    /* the fields' types here; a new enterprise's required fields in the
     * transaction, where the proposal's kind is read */
    json_t *rec = json_object_get(body, "record");
    if (!json_is_object(rec))
        return api_reply_error(r, API_E_BAD_REQUEST, "record must be an object of archive fields");
    if (api_enterprise_check_record(r, rec, 0) != 0)
        return 0;
    char *text = json_dumps(rec, JSON_COMPACT);
    if (!text)
        return api_reply_error(r, API_E_INTERNAL, "out of memory");
    x.record = text;
    x.record_json = rec;
    db_status st = api_tx(r, step_tx, &x);
    free(text);
    return step_reply(r, &x, st);
}

int api_survey_confirm(api_req *r)
{
    sv_ctx x = {.act = A_CONFIRM, .id = path_id(r)};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such proposal");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    if (api_json_strict(r, body, NULL, 0) != 0) {
        json_decref(body);
        return 0;
    }
    json_decref(body);
    return step_reply(r, &x, api_tx(r, step_tx, &x));
}

int api_survey_return(api_req *r)
{
    sv_ctx x = {.act = A_RETURN, .id = path_id(r)};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such proposal");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"reason"};
    if (api_json_strict(r, body, allowed, 1) != 0 ||
        api_body_text(r, body, "reason", 1, 500, &x.reason) != 0)
        return 0;
    return step_reply(r, &x, api_tx(r, step_tx, &x));
}

void api_survey_init(void)
{
    db_survey_register();
}
