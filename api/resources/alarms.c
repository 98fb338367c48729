/* Point alarms (报警): list with filters, detail with the readings around the
 * raise and the event history, and the people's part of the lifecycle
 * (acknowledge, handle, close).  The engine's part (raise, escalate, clear,
 * overdue flags) belongs to the ingest writer and the worker (alarm_rules.c);
 * this file only moves the handling state, with the same rules:
 *
 *   active --acknowledge--> acknowledged --handle--> handled --close--> closed
 *
 * - acknowledge / handle: enterprise accounts (and their API keys) on their
 *   own alarms; government accounts review.
 * - close: only when handling is recorded (state handled) AND the value is
 *   back to normal (cleared_at set).  A handled alarm whose value clears later
 *   is closed by the ingest writer itself (closed_by NULL); the route is for
 *   alarms that cleared before they were handled.  Enterprises close their own;
 *   supervising government users (street, district, city) may close too, after
 *   review — the conditions are the same for everybody.
 *
 * - shelve / unshelve (搁置, issue 16): any user in scope, on an alarm not
 *   closed, with a reason and an expiry (at most 7 days); the handling state is
 *   untouched; while shelved the engine folds repeats into it silently.
 * - POST /alarms/acknowledge: the acknowledge step for up to 100 ids, each in
 *   its own transaction, answered per id (200 / 404 out of scope / 409).
 * - GET /labels: the label catalogue (zh-CN, English) of the codes the API
 *   answers with; alarms are its main user, so it lives here.
 *
 * Every change writes its alarm_events row in the same transaction, asks the
 * worker for a risk recompute (handling counts in H), is audited, and is
 * published on dw:events after COMMIT.  The statements are db_alarm_api.c's. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_alarm_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- reads ---------------------------------------------------------------- */

int api_alarms_list(api_req *r)
{
    api_list_query q;
    long point;
    const char *kinds, *levels, *states, *sources, *during;
    if (api_query_list_page(r, &q) ||
        api_query_csv(r, "kind",
                      "high|high_high|low|low_low|rate_of_rise|digital_fault|frozen|out_of_range|"
                      "offline|gateway_fault|video|gateway_offline|spark|enterprise_offline",
                      &kinds) ||
        api_query_csv(r, "level", "0|1|2", &levels) ||
        api_query_csv(r, "state", "active|acknowledged|handled|closed", &states) ||
        api_query_csv(r, "source", "rule|gateway|video", &sources) || api_query_list_state(r, &q) ||
        api_query_list_class(r, &q) || api_query_id(r, "point", &point) ||
        api_query_bool(r, "during", &during))
        return 0;
    db_alarm_api_filter f = {.list = q.list,
                             .point_id = point,
                             .kinds = kinds,
                             .levels = levels,
                             .states = states,
                             .sources = sources,
                             .during = api_tristate(during) == 1};
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_alarm_api_list(c, &s, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_alarm_get(api_req *r)
{
    return api_read_by_id(r, "alarm", db_alarm_api_get);
}

/* ---- actions ---------------------------------------------------------------- */

typedef enum { ACT_ACK, ACT_HANDLE, ACT_CLOSE, ACT_SHELVE, ACT_UNSHELVE } alarm_act;

typedef struct {
    alarm_act act;
    const char *id;
    const char *reason; /* verdict / cause category / close reason */
    const char *note;   /* note / measures / shelved until */
    int found;
    int refused; /* 409 with why */
    char why[200];
    char state[24];
    long long enterprise_id, district_id, street_id;
    const json_t *body; /* the request, for the "ok" audit record (in the transaction) */
} act_ctx;

static const char *const act_name[] = {"acknowledge", "handle", "close", "shelve", "unshelve"};

/* Shelving (搁置) does not move the handling state: any alarm not closed may be shelved
 * (again: a new reason and expiry), only a shelved one unshelved. */
static db_status shelve_step(api_req *r, db_conn *c, act_ctx *x, const db_scope *s,
                             const db_alarm_api_row *row, long long alarm_id)
{
    const api_caller *caller = api_req_caller(r);
    if (x->act == ACT_SHELVE && strcmp(row->state, "closed") == 0) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "the alarm is already closed");
        return DB_OK;
    }
    if (x->act == ACT_UNSHELVE && !row->shelved) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "the alarm is not shelved");
        return DB_OK;
    }
    return x->act == ACT_SHELVE ? db_alarm_api_shelve(c, s, alarm_id, caller->account_id,
                                                      caller->username, x->reason, x->note)
                                : db_alarm_api_unshelve(c, s, alarm_id, caller->account_id,
                                                        caller->username, x->note);
}

static db_status act_tx(api_req *r, db_conn *c, void *arg)
{
    act_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    long long alarm_id = api_parse_id(x->id);
    db_alarm_api_row row;
    int found;
    db_status st = db_alarm_api_lock(c, &s, alarm_id, &row, &found);
    if (st != DB_OK || !found)
        return st; /* found = 0: 404 */
    x->found = 1;
    snprintf(x->state, sizeof x->state, "%s", row.state);
    x->enterprise_id = row.enterprise_id;
    x->district_id = row.district_id;
    x->street_id = row.street_id;
    if (x->act == ACT_SHELVE || x->act == ACT_UNSHELVE) {
        st = shelve_step(r, c, x, &s, &row, alarm_id);
        if (st != DB_OK || x->refused)
            return st;
        /* the shelving and its audit record commit together */
        char action[32], obj[48];
        snprintf(action, sizeof action, "alarm_%s", act_name[x->act]);
        snprintf(obj, sizeof obj, "alarm:%s", x->id);
        char *ds = x->body ? json_dumps(x->body, JSON_COMPACT) : NULL;
        st = api_audit_tx(r, c, action, obj, "ok", ds ? ds : "");
        free(ds);
        return st;
    }
    /* the lifecycle: one step at a time, in order */
    const char *need = x->act == ACT_ACK      ? "active"
                       : x->act == ACT_HANDLE ? "acknowledged"
                                              : "handled";
    if (strcmp(x->state, need) != 0) {
        x->refused = 1;
        if (strcmp(x->state, "closed") == 0)
            snprintf(x->why, sizeof x->why, "the alarm is already closed");
        else if (x->act == ACT_CLOSE)
            snprintf(x->why, sizeof x->why,
                     "handling is not recorded yet (state %s): acknowledge and handle it first",
                     x->state);
        else if (x->act == ACT_HANDLE && strcmp(x->state, "active") == 0)
            snprintf(x->why, sizeof x->why, "acknowledge the alarm before recording its handling");
        else
            snprintf(x->why, sizeof x->why, "cannot %s an alarm in state %s", act_name[x->act],
                     x->state);
        return DB_OK;
    }
    if (x->act == ACT_CLOSE && !row.cleared) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why,
                 "the value is not back to normal yet; a handled alarm closes by itself when it "
                 "clears");
        return DB_OK;
    }
    if (x->act == ACT_ACK)
        st = db_alarm_api_acknowledge(c, &s, alarm_id, caller->account_id, caller->username,
                                      x->reason, x->note);
    else if (x->act == ACT_HANDLE)
        st = db_alarm_api_handle(c, &s, alarm_id, caller->account_id, caller->username, x->reason,
                                 x->note);
    else
        st = db_alarm_api_close(c, &s, alarm_id, caller->account_id, caller->username, x->reason,
                                x->note);
    if (st != DB_OK)
        return st;
    snprintf(x->state, sizeof x->state, "%s",
             x->act == ACT_ACK      ? "acknowledged"
             : x->act == ACT_HANDLE ? "handled"
                                    : "closed");
    char why[40];
    snprintf(why, sizeof why, "alarm_%s", act_name[x->act]);
    st = db_alarm_api_request_recompute(c, x->enterprise_id, why);
    if (st != DB_OK)
        return st;
    /* the step and its audit record commit together */
    char obj[48];
    snprintf(obj, sizeof obj, "alarm:%s", x->id);
    json_t *d = json_pack("{s:s, s:O?}", "state", x->state, "request", x->body);
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    st = ds ? api_audit_tx(r, c, why, obj, "ok", ds) : DB_HARD;
    free(ds);
    return st;
}

static int alarm_act_run(api_req *r, act_ctx *x, json_t *body)
{
    char obj[48], action[32];
    snprintf(obj, sizeof obj, "alarm:%s", x->id);
    snprintf(action, sizeof action, "alarm_%s", act_name[x->act]);
    x->body = body;
    db_status st = api_tx(r, act_tx, x);
    if (st != DB_OK) {
        api_audit(r, action, obj, "failed", "database");
        return api_reply_db(r, st);
    }
    if (!x->found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        return api_reply_error(r, API_E_NOT_FOUND, "no such alarm");
    }
    if (x->refused) {
        api_audit(r, action, obj, "failed", x->why);
        return api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x->why);
    }
    /* the "ok" record was written in the transaction (act_tx) */
    api_publish_event("alarm", act_name[x->act], strtoll(x->id, NULL, 10), x->enterprise_id,
                      x->district_id, x->street_id, x->state);
    return api_alarm_get(r);
}

static int alarm_action(api_req *r, alarm_act act)
{
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such alarm");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    act_ctx x = {.act = act, .id = api_req_param(r, "id")};
    int rc = 0;
    if (act == ACT_ACK) {
        static const char *const allowed[] = {"verdict", "note"};
        if (api_json_strict(r, body, allowed, 2) != 0)
            goto out;
        if (api_body_text(r, body, "verdict", 1, 32, &x.reason) ||
            api_body_text(r, body, "note", 0, 4000, &x.note))
            goto out;
        if (strcmp(x.reason, "real_hazard") && strcmp(x.reason, "device_fault") &&
            strcmp(x.reason, "unknown")) {
            rc = api_reply_error(r, API_E_BAD_REQUEST,
                                 "verdict must be real_hazard, device_fault or unknown");
            goto out;
        }
    } else if (act == ACT_HANDLE) {
        static const char *const allowed[] = {"cause_category", "measures"};
        if (api_json_strict(r, body, allowed, 2) != 0)
            goto out;
        if (api_body_text(r, body, "cause_category", 1, 32, &x.reason) ||
            api_body_text(r, body, "measures", 1, 4000, &x.note))
            goto out;
        static const char *const causes[] = {"process_abnormal", "equipment_fault", "sensor_fault",
                                             "false_alarm", "other"};
        int ok = 0;
        for (size_t i = 0; i < 5; i++)
            ok |= strcmp(x.reason, causes[i]) == 0;
        if (!ok) {
            rc = api_reply_error(r, API_E_BAD_REQUEST,
                                 "cause_category must be process_abnormal, equipment_fault, "
                                 "sensor_fault, false_alarm or other");
            goto out;
        }
    } else if (act == ACT_SHELVE) {
        static const char *const allowed[] = {"reason", "until"};
        const char *until;
        time_t t_until;
        if (api_json_strict(r, body, allowed, 2) != 0)
            goto out;
        if (api_body_text(r, body, "reason", 1, 1000, &x.reason) ||
            api_body_text(r, body, "until", 1, 40, &until))
            goto out;
        time_t now = time(NULL);
        if (api_parse_time(until, &t_until) != 0 || t_until <= now || t_until > now + 7 * 86400) {
            rc = api_reply_error(r, API_E_BAD_REQUEST,
                                 "until must be an RFC 3339 time in the next 7 days");
            goto out;
        }
        x.note = until;
    } else if (act == ACT_UNSHELVE) {
        static const char *const allowed[] = {"note"};
        if (api_json_strict(r, body, allowed, 1) != 0)
            goto out;
        if (api_body_text(r, body, "note", 0, 4000, &x.note))
            goto out;
    } else {
        static const char *const allowed[] = {"note"};
        if (api_json_strict(r, body, allowed, 1) != 0)
            goto out;
        if (api_body_text(r, body, "note", 0, 4000, &x.note))
            goto out;
        x.reason = "closed_by_user";
    }
    rc = alarm_act_run(r, &x, body);
out:
    json_decref(body);
    return rc;
}

int api_alarm_acknowledge(api_req *r)
{
    return alarm_action(r, ACT_ACK);
}

int api_alarm_handle(api_req *r)
{
    return alarm_action(r, ACT_HANDLE);
}

int api_alarm_close(api_req *r)
{
    return alarm_action(r, ACT_CLOSE);
}

int api_alarm_shelve(api_req *r)
{
    return alarm_action(r, ACT_SHELVE);
}

int api_alarm_unshelve(api_req *r)
{
    return alarm_action(r, ACT_UNSHELVE);
}

/* ---- batch acknowledge ---------------------------------------------------- */

#define BATCH_MAX 100

/* Acknowledges up to BATCH_MAX alarms, each in its own transaction with the single route's
 * rules, audit and live event; the answer says per id what happened: 200 with the state,
 * 404 outside the caller's scope (another enterprise's alarm looks missing), 409 not
 * active.  The request itself is 200 when it was well formed. */
int api_alarms_acknowledge_batch(api_req *r)
{
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"ids", "verdict", "note"};
    const char *verdict, *note;
    json_t *ids = json_object_get(body, "ids");
    int rc = 0;
    if (api_json_strict(r, body, allowed, 3) != 0)
        goto out;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > BATCH_MAX) {
        rc = api_reply_error(r, API_E_BAD_REQUEST, "ids must be an array of 1..%d alarm ids",
                             BATCH_MAX);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0) {
            rc = api_reply_error(r, API_E_BAD_REQUEST, "ids[%zu] must be a positive integer", i);
            goto out;
        }
    }
    if (api_body_text(r, body, "verdict", 1, 32, &verdict) ||
        api_body_text(r, body, "note", 0, 4000, &note))
        goto out;
    if (strcmp(verdict, "real_hazard") && strcmp(verdict, "device_fault") &&
        strcmp(verdict, "unknown")) {
        rc = api_reply_error(r, API_E_BAD_REQUEST,
                             "verdict must be real_hazard, device_fault or unknown");
        goto out;
    }
    json_t *results = json_array();
    /* each id's "ok" audit record is written in its transaction (act_tx) from this */
    json_t *request = json_pack("{s:s, s:s, s:b}", "verdict", verdict, "note", note, "batch", 1);
    size_t n_ok = 0;
    for (size_t i = 0; i < json_array_size(ids); i++) {
        char idbuf[24];
        snprintf(idbuf, sizeof idbuf, "%lld",
                 (long long)json_integer_value(json_array_get(ids, i)));
        act_ctx x = {.act = ACT_ACK, .id = idbuf, .reason = verdict, .note = note, .body = request};
        char obj[48];
        snprintf(obj, sizeof obj, "alarm:%s", idbuf);
        db_status st = api_tx(r, act_tx, &x);
        json_t *item;
        if (st != DB_OK) {
            api_audit(r, "alarm_acknowledge", obj, "failed", "database");
            item = json_pack("{s:I, s:i, s:s, s:s}", "id", (json_int_t)atoll(idbuf), "status",
                             api_error_status(API_E_DB_UNAVAILABLE), "code",
                             api_error_code(API_E_DB_UNAVAILABLE), "detail", "database");
        } else if (!x.found) {
            api_audit(r, "alarm_acknowledge", obj, "denied", "not found in scope");
            item = json_pack("{s:I, s:i, s:s, s:s}", "id", (json_int_t)atoll(idbuf), "status", 404,
                             "code", api_error_code(API_E_NOT_FOUND), "detail", "no such alarm");
        } else if (x.refused) {
            api_audit(r, "alarm_acknowledge", obj, "failed", x.why);
            item = json_pack("{s:I, s:i, s:s, s:s, s:s}", "id", (json_int_t)atoll(idbuf), "status",
                             409, "code", api_error_code(API_E_INVALID_TRANSITION), "detail", x.why,
                             "state", x.state);
        } else {
            n_ok++;
            api_publish_event("alarm", "acknowledge", atoll(idbuf), x.enterprise_id, x.district_id,
                              x.street_id, x.state);
            item = json_pack("{s:I, s:i, s:s}", "id", (json_int_t)atoll(idbuf), "status", 200,
                             "state", x.state);
        }
        json_array_append_new(results, item);
    }
    json_decref(request);
    rc = api_reply_json(r, 200,
                        json_pack("{s:I, s:I, s:o}", "acknowledged", (json_int_t)n_ok, "refused",
                                  (json_int_t)(json_array_size(ids) - n_ok), "results", results));
out:
    json_decref(body);
    return rc;
}

/* ---- labels ------------------------------------------------------------------ */

/* GET /api/v1/labels: the one catalogue of display labels, {domains: {domain: {code: {zh,
 * en}}}}; the dashboard loads it once and labels codes with it (alarm kinds and reasons,
 * risk rule codes, grades, enum values, industry codes ...). */
int api_labels(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_alarm_api_labels(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "domains", out ? out : json_object()));
}

void api_alarms_init(void)
{
    db_alarm_api_register();
}
