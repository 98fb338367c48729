/* Duty watch (系统值守, migration 0063): the 处理队列 of the person on watch (unsigned
 * red/orange warnings, clearance requests, overdue warnings and alarms, hazards due,
 * filings to review, open supervision orders; oldest first with deadlines), the duty
 * roster of a district, shift handover notes, and an enterprise's own to-do list.
 *
 * District accounts work their own district; the city names the district.  Street
 * accounts read their district's roster and notes.  Writes are audited. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_duty.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int api_duty_queue(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_duty_queue(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_enterprise_todo(api_req *r)
{
    return api_read_by_id(r, "enterprise", db_duty_todo);
}

int api_duty_roster(api_req *r)
{
    char from[32] = "", to[32] = "";
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st =
        c ? db_duty_roster(c, &s, from[0] ? from : NULL, to[0] ? to : NULL, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_duty_handovers(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_duty_handovers(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

static int valid_phone(const char *p)
{
    size_t n = strlen(p), i = p[0] == '+';
    if (n - i < 5 || n - i > 20)
        return 0;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* the district a write is for: a district account's own, the city's district_id */
static int district_of(api_req *r, json_t *body, int64_t *out)
{
    const api_caller *caller = api_req_caller(r);
    json_t *d = json_object_get(body, "district_id");
    if (d && (!json_is_integer(d) || json_integer_value(d) < 1))
        return api_reply_error(r, API_E_BAD_REQUEST, "district_id must be a positive integer"), -1;
    *out = d                                    ? (int64_t)json_integer_value(d)
           : caller->kind == API_SCOPE_DISTRICT ? caller->scope_id
                                                : 0;
    if (!*out)
        return api_reply_error(r, API_E_BAD_REQUEST, "district_id is required for the city"), -1;
    return 0;
}

typedef struct {
    int64_t district_id, account_id, id;
    const char *starts, *ends, *note, *phone;
    int found;
} shift_ctx;

static db_status shift_tx(api_req *r, db_conn *c, void *arg)
{
    shift_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_duty_roster_add(c, &s, x->district_id, x->account_id, x->starts, x->ends,
                                      x->note, x->phone, caller->account_id, &x->id);
    if (st != DB_OK || !x->id)
        return st;
    char obj[48], d[160];
    snprintf(obj, sizeof obj, "duty_shift:%lld", (long long)x->id);
    snprintf(d, sizeof d, "{\"account\":%lld,\"starts_at\":\"%s\",\"ends_at\":\"%s\"}",
             (long long)x->account_id, x->starts, x->ends);
    return api_audit_tx(r, c, "duty_shift_add", obj, "ok", d);
}

int api_duty_roster_add(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"district_id", "account_id", "starts_at",
                                          "ends_at",     "note",       "phone"};
    if (api_json_strict(r, body, allowed, 6) != 0)
        return 0;
    shift_ctx x = {0};
    const char *starts, *ends;
    if (district_of(r, body, &x.district_id) ||
        api_body_text(r, body, "starts_at", 1, 40, &starts) ||
        api_body_text(r, body, "ends_at", 1, 40, &ends) ||
        api_body_text(r, body, "note", 0, 1000, &x.note) ||
        api_body_text(r, body, "phone", 0, 24, &x.phone))
        return 0;
    if (x.phone[0] && !valid_phone(x.phone))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "phone: 5-20 digits, + allowed first (the SMS of to_watch "
                               "subscriptions goes there)");
    json_t *a = json_object_get(body, "account_id");
    if (!json_is_integer(a) || json_integer_value(a) < 1)
        return api_reply_error(r, API_E_BAD_REQUEST, "account_id must be a positive integer");
    x.account_id = (int64_t)json_integer_value(a);
    time_t t0, t1;
    if (api_parse_time(starts, &t0) != 0 || api_parse_time(ends, &t1) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "starts_at and ends_at must be RFC 3339 times with an offset");
    if (t1 <= t0 || t1 - t0 > 7 * 86400)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "a shift ends after it starts and lasts at most 7 days");
    char s0[32], s1[32];
    api_format_time(t0, s0);
    api_format_time(t1, s1);
    x.starts = s0;
    x.ends = s1;
    db_status st = api_tx(r, shift_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.id)
        return api_reply_error(r, API_E_ASSIGNEE_INVALID,
                               "the district is not yours, or account %lld is not an enabled "
                               "government account of the district or its streets",
                               (long long)x.account_id);
    return api_reply_json(r, 201,
                          json_pack("{s:I, s:I, s:I, s:s, s:s}", "id", (json_int_t)x.id,
                                    "district_id", (json_int_t)x.district_id, "account_id",
                                    (json_int_t)x.account_id, "starts_at", s0, "ends_at", s1));
}

static db_status shift_del_tx(api_req *r, db_conn *c, void *arg)
{
    shift_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_duty_roster_delete(c, &s, x->id, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "duty_shift:%lld", (long long)x->id);
    return api_audit_tx(r, c, "duty_shift_delete", obj, "ok", "{}");
}

/* DELETE /api/v1/duty/roster/{id}: a shift of the caller's district (the city: any). */
int api_duty_roster_delete(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such shift");
    shift_ctx x = {.id = id};
    db_status st = api_tx(r, shift_del_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such shift in your district");
    return api_reply_json(r, 200, json_pack("{s:I}", "id", (json_int_t)id));
}

typedef struct {
    int64_t district_id, id;
    const char *note;
} note_ctx;

static db_status note_tx(api_req *r, db_conn *c, void *arg)
{
    note_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_duty_handover_add(c, &s, x->district_id, caller->account_id, caller->username,
                                        x->note, &x->id);
    if (st != DB_OK || !x->id)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "duty_handover:%lld", (long long)x->id);
    return api_audit_tx(r, c, "duty_handover", obj, "ok", "{}");
}

int api_duty_handover_add(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"district_id", "note"};
    if (api_json_strict(r, body, allowed, 2) != 0)
        return 0;
    note_ctx x = {0};
    if (district_of(r, body, &x.district_id) || api_body_text(r, body, "note", 1, 4000, &x.note))
        return 0;
    if (!*x.note)
        return api_reply_error(r, API_E_BAD_REQUEST, "note must not be empty");
    db_status st = api_tx(r, note_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.id)
        return api_reply_error(r, API_E_NOT_FOUND, "no such district in your scope");
    return api_duty_handovers(r);
}

void api_duty_init(void)
{
    db_duty_register();
}
