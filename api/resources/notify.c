/* Notifications (issue 16): subscriptions (scope, channel and target, event families,
 * levels), the delivery log of every message, and the duty roster of an enterprise.
 *
 *   GET/POST /api/v1/notify/subscriptions, PATCH/DELETE /api/v1/notify/subscriptions/{id}
 *   GET      /api/v1/notify/deliveries[?subscription=&limit=]
 *   GET/POST /api/v1/enterprises/{id}/duty-roster, DELETE /api/v1/duty-roster/{id}
 *   GET      /api/v1/notify/inbox, POST /api/v1/notify/inbox/{id}/read (the person on watch)
 *   POST     /api/v1/notify/sms-report (the SMS gateway's delivery reports, sms_report_token)
 *
 * A subscription belongs to one scope: city administrators may name any (the city, a
 * district, street or enterprise); the others get their own (row-level security holds them
 * to it as well).  The HMAC secret of a webhook is made here and answered once, at creation.
 * Delivery: server/worker/job_webhook.c and job_notify.c; routing: migration 0051. */
#include "api_auth.h"
#include "api_handlers.h"
#include "api_params.h"
#include "db_notify.h"

#include "srv_config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LIST 8

static const char *const EVENTS[] = {"warning", "alarm",  "warning_action",
                                     "overdue", "filing", "cleaning_due"};
static const char *const LEVELS[] = {"1", "2", "blue", "yellow", "orange", "red"};
static const char *const SCOPES[] = {"city", "district", "street", "enterprise"};
static const char *const DUTIES[] = {"duty", "safety_manager", "principal"};

static int one_of(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

/* An array field of distinct strings from set: *n items into out.  0 (absent: *n = -1),
 * or -1 after replying 400. */
static int body_list(api_req *r, json_t *body, const char *name, const char *const *set,
                     size_t nset, const char *out[MAX_LIST], long *n)
{
    *n = -1;
    json_t *a = json_object_get(body, name);
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_LIST)
        return api_reply_error(r, API_E_BAD_REQUEST, "%s must be an array of at most %d values",
                               name, MAX_LIST),
               -1;
    *n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        const char *v = json_string_value(x);
        if (!one_of(v, set, nset))
            return api_reply_error(r, API_E_BAD_REQUEST, "%s[%zu] is not one of the allowed values",
                                   name, i),
                   -1;
        for (long k = 0; k < *n; k++)
            if (strcmp(out[k], v) == 0)
                return api_reply_error(r, API_E_BAD_REQUEST, "%s[%zu] repeats %s", name, i, v), -1;
        out[(*n)++] = v;
    }
    return 0;
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

static int valid_url(const char *u)
{
    if (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)
        return 0;
    if (strlen(u) > 2000)
        return 0;
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

int api_notify_subs_list(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_notify_subs_list(c, &s, &out) : DB_HARD;
    return api_reply_read(r, st, out, "subscription");
}

typedef struct {
    db_notify_sub sub;
    int64_t id;
} create_ctx;

static db_status create_tx(api_req *r, db_conn *c, void *arg)
{
    create_ctx *x = arg;
    db_status st = db_notify_sub_create(c, &x->sub, &x->id);
    if (st != DB_OK || !x->id)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "subscription:%lld", (long long)x->id);
    return api_audit_tx(r, c, "subscription_create", obj, "ok", x->sub.channel);
}

int api_notify_sub_create(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    const char *const allowed[] = {"name",  "scope_kind", "scope_id", "channel", "url",
                                   "phone", "to_duty",    "events",   "levels",  "to_watch"};
    const char *name, *kind, *channel, *url, *phone;
    if (api_json_strict(r, body, allowed, sizeof allowed / sizeof allowed[0]) != 0 ||
        api_body_text(r, body, "name", 0, 100, &name) ||
        api_body_text(r, body, "scope_kind", 0, 16, &kind) ||
        api_body_text(r, body, "channel", 1, 16, &channel) ||
        api_body_text(r, body, "url", 0, 2000, &url) ||
        api_body_text(r, body, "phone", 0, 24, &phone))
        return 0;
    const char *events[MAX_LIST], *levels[MAX_LIST];
    long ne, nl;
    if (body_list(r, body, "events", EVENTS, 6, events, &ne) ||
        body_list(r, body, "levels", LEVELS, 6, levels, &nl))
        return 0;
    if (ne <= 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "events: name at least one of warning, "
                               "alarm, warning_action, overdue, filing, cleaning_due");
    const json_t *duty = json_object_get(body, "to_duty");
    if (duty && !json_is_boolean(duty))
        return api_reply_error(r, API_E_BAD_REQUEST, "to_duty must be true or false");
    int to_duty = json_is_true(duty);
    const json_t *watch = json_object_get(body, "to_watch");
    if (watch && !json_is_boolean(watch))
        return api_reply_error(r, API_E_BAD_REQUEST, "to_watch must be true or false");
    int to_watch = json_is_true(watch);
    if (strcmp(channel, "webhook") == 0) {
        if (!valid_url(url) || phone[0] || to_duty || to_watch)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "a webhook needs url (http:// or https://, no spaces) and no "
                                   "phone, to_duty or to_watch");
    } else if (strcmp(channel, "sms") == 0) {
        if (url[0] || (phone[0] != '\0') + to_duty + to_watch != 1 ||
            (phone[0] && !valid_phone(phone)))
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "an sms subscription needs one of phone (5-20 digits, + "
                                   "allowed), to_duty true or to_watch true, and no url");
    } else if (strcmp(channel, "inapp") == 0) {
        if (url[0] || phone[0] || to_duty || !to_watch)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "an inapp subscription goes to the person on watch: to_watch "
                                   "true, and no url, phone or to_duty");
    } else {
        return api_reply_error(r, API_E_BAD_REQUEST, "channel must be webhook, sms or inapp");
    }
    const api_caller *caller = api_req_caller(r);
    const char *skind = api_scope_kind_name(caller->kind);
    int64_t sid = caller->scope_id;
    if (kind[0] || json_object_get(body, "scope_id")) {
        json_int_t want = json_integer_value(json_object_get(body, "scope_id"));
        if (!one_of(kind, SCOPES, 4) || want <= 0)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "scope_kind (city, district, street, "
                                   "enterprise) and scope_id go together");
        if (caller->kind != API_SCOPE_CITY && (strcmp(kind, skind) != 0 || want != sid))
            return api_reply_error(r, API_E_FORBIDDEN,
                                   "only the city names another scope; yours is %s %lld", skind,
                                   (long long)sid);
        skind = kind;
        sid = want;
    }
    if (to_watch && strcmp(skind, "enterprise") == 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "to_watch is the district's watch: subscribe for the city, a "
                               "district or a street, not an enterprise");
    unsigned char secret[32];
    char hex[65];
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(hex, sizeof hex, secret, sizeof secret);
    sodium_memzero(secret, sizeof secret);
    create_ctx x = {.sub = {.scope_kind = skind,
                            .scope_id = sid,
                            .name = name,
                            .channel = channel,
                            .url = url[0] ? url : NULL,
                            .phone = phone[0] ? phone : NULL,
                            .to_duty = to_duty,
                            .to_watch = to_watch,
                            .events = events,
                            .n_events = (size_t)ne,
                            .levels = levels,
                            .n_levels = nl > 0 ? (size_t)nl : 0,
                            .secret_hex = hex,
                            .created_by = caller->username}};
    db_status st = api_tx(r, create_tx, &x);
    if (st != DB_OK) {
        sodium_memzero(hex, sizeof hex);
        return api_reply_db(r, st);
    }
    if (!x.id) {
        sodium_memzero(hex, sizeof hex);
        return api_reply_error(r, API_E_UNPROCESSABLE, "no %s %lld", skind, (long long)sid);
    }
    json_t *out = json_pack("{s:I, s:s, s:I, s:s, s:s}", "id", (json_int_t)x.id, "scope_kind",
                            skind, "scope_id", (json_int_t)sid, "channel", channel, "secret",
                            strcmp(channel, "webhook") == 0 ? hex : "");
    sodium_memzero(hex, sizeof hex);
    return api_reply_json(r, 201, out);
}

typedef struct {
    int64_t id;
    int enabled, found, in_use, del;
    const char **events, **levels;
    size_t ne, nl;
    const char *name;
} sub_ctx;

static db_status sub_tx(api_req *r, db_conn *c, void *arg)
{
    sub_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = x->del ? db_notify_sub_delete(c, &s, x->id, &x->found, &x->in_use)
                          : db_notify_sub_update(c, &s, x->id, x->enabled, x->events, x->ne,
                                                 x->levels, x->nl, x->name, &x->found);
    if (st != DB_OK || !x->found || x->in_use)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "subscription:%lld", (long long)x->id);
    return api_audit_tx(r, c, x->del ? "subscription_delete" : "subscription_update", obj, "ok",
                        "");
}

static int sub_reply(api_req *r, sub_ctx *x)
{
    db_status st = api_tx(r, sub_tx, x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x->found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such subscription");
    if (x->in_use)
        return api_reply_error(r, API_E_IN_USE,
                               "messages of this subscription are in the delivery log; disable "
                               "it (enabled false) instead");
    return api_reply_json(r, 200, json_pack("{s:I}", "id", (json_int_t)x->id));
}

int api_notify_sub_update(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such subscription");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    const char *const allowed[] = {"enabled", "events", "levels", "name"};
    const char *name;
    if (api_json_strict(r, body, allowed, 4) != 0 || api_body_text(r, body, "name", 0, 100, &name))
        return 0;
    const char *events[MAX_LIST], *levels[MAX_LIST];
    long ne, nl;
    if (body_list(r, body, "events", EVENTS, 6, events, &ne) ||
        body_list(r, body, "levels", LEVELS, 6, levels, &nl))
        return 0;
    if (ne == 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "events must not be empty");
    const json_t *en = json_object_get(body, "enabled");
    if (en && !json_is_boolean(en))
        return api_reply_error(r, API_E_BAD_REQUEST, "enabled must be true or false");
    sub_ctx x = {.id = id,
                 .enabled = en ? json_is_true(en) : -1,
                 .events = ne > 0 ? events : NULL,
                 .ne = ne > 0 ? (size_t)ne : 0,
                 .levels = nl >= 0 ? levels : NULL,
                 .nl = nl > 0 ? (size_t)nl : 0,
                 .name = json_object_get(body, "name") ? name : NULL};
    return sub_reply(r, &x);
}

int api_notify_sub_delete(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such subscription");
    sub_ctx x = {.id = id, .enabled = -1, .del = 1};
    return sub_reply(r, &x);
}

int api_notify_deliveries(api_req *r)
{
    long sub, limit;
    if (api_query_id(r, "subscription", &sub) || api_query_int(r, "limit", 100, 1, 500, &limit))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_notify_deliveries(c, &s, sub, limit, &out) : DB_HARD;
    return api_reply_read(r, st, out, "delivery");
}

int api_roster_list(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_notify_roster_list(c, &s, id, &out) : DB_HARD;
    return api_reply_read(r, st, out, "enterprise");
}

typedef struct {
    int64_t enterprise_id, system_id, id;
    const char *name, *phone, *duty;
    int found;
} roster_ctx;

static db_status roster_add_tx(api_req *r, db_conn *c, void *arg)
{
    roster_ctx *x = arg;
    db_status st =
        db_notify_roster_add(c, x->enterprise_id, x->system_id, x->name, x->phone, x->duty, &x->id);
    if (st != DB_OK || !x->id)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "duty_roster:%lld", (long long)x->id);
    return api_audit_tx(r, c, "duty_roster_add", obj, "ok", "");
}

int api_roster_add(api_req *r)
{
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    const char *const allowed[] = {"name", "phone", "duty", "system_id"};
    roster_ctx x = {.enterprise_id = eid};
    if (api_json_strict(r, body, allowed, 4) != 0 ||
        api_body_text(r, body, "name", 1, 100, &x.name) ||
        api_body_text(r, body, "phone", 1, 24, &x.phone) ||
        api_body_text(r, body, "duty", 0, 20, &x.duty))
        return 0;
    if (!valid_phone(x.phone))
        return api_reply_error(r, API_E_BAD_REQUEST, "phone: 5-20 digits, + allowed first");
    if (!x.duty[0])
        x.duty = "duty";
    if (!one_of(x.duty, DUTIES, 3))
        return api_reply_error(r, API_E_BAD_REQUEST, "duty: duty, safety_manager or principal");
    const json_t *sys = json_object_get(body, "system_id");
    if (sys && (!json_is_integer(sys) || json_integer_value(sys) <= 0))
        return api_reply_error(r, API_E_BAD_REQUEST, "system_id must be a positive integer");
    x.system_id = sys ? json_integer_value(sys) : 0;
    db_status st = api_tx(r, roster_add_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.id)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise or system");
    return api_reply_json(r, 201, json_pack("{s:I}", "id", (json_int_t)x.id));
}

static db_status roster_del_tx(api_req *r, db_conn *c, void *arg)
{
    roster_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_notify_roster_delete(c, &s, x->id, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    char obj[48];
    snprintf(obj, sizeof obj, "duty_roster:%lld", (long long)x->id);
    return api_audit_tx(r, c, "duty_roster_delete", obj, "ok", "");
}

int api_roster_delete(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such roster entry");
    roster_ctx x = {.id = id};
    db_status st = api_tx(r, roster_del_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such roster entry");
    return api_reply_json(r, 200, json_pack("{s:I}", "id", (json_int_t)x.id));
}

/* ---- the inbox of the person on watch, SMS delivery reports (migration 0118) ---- */

int api_notify_inbox(api_req *r)
{
    long limit;
    if (api_query_int(r, "limit", 50, 1, 200, &limit))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_notify_inbox(c, api_req_caller(r)->account_id, limit, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out);
}

typedef struct {
    int64_t id;
    int found;
} read_ctx;

static db_status inbox_read_tx(api_req *r, db_conn *c, void *arg)
{
    read_ctx *x = arg;
    return db_notify_inbox_read(c, api_req_caller(r)->account_id, x->id, &x->found);
}

int api_notify_inbox_read(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such message in your inbox");
    read_ctx x = {.id = id};
    db_status st = api_tx(r, inbox_read_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such message in your inbox");
    return api_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)id, "read", 1));
}

/* Authorization: Bearer <sms_report_token>, compared as digests in constant time. */
static int report_token_ok(const char *authorization)
{
    const char *want = g_config.sms_report_token;
    if (!want || !want[0] || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    unsigned char a[32], b[32];
    crypto_generichash(a, sizeof a, (const unsigned char *)want, strlen(want), NULL, 0);
    crypto_generichash(b, sizeof b, (const unsigned char *)authorization + 7,
                       strlen(authorization + 7), NULL, 0);
    return sodium_memcmp(a, b, sizeof a) == 0;
}

int api_notify_sms_report(api_req *r)
{
    if (!report_token_ok(api_req_header(r, "Authorization")))
        return api_reply_error(r, API_E_UNAUTHENTICATED,
                               "a delivery report needs Authorization: Bearer with the "
                               "configured sms_report_token");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"ref", "status", "detail"};
    static const char *const STATES[] = {"delivered", "failed", "read"};
    const char *ref, *status, *detail;
    if (api_json_strict(r, body, allowed, 3) != 0 || api_body_text(r, body, "ref", 1, 400, &ref) ||
        api_body_text(r, body, "status", 1, 16, &status) ||
        api_body_text(r, body, "detail", 0, 200, &detail))
        return 0;
    if (!one_of(status, STATES, 3))
        return api_reply_error(r, API_E_BAD_REQUEST, "status must be delivered, failed or read");
    db_conn *c = api_req_db(r);
    long n = 0;
    db_status st = c ? db_notify_sms_report(c, ref, status, detail, &n) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (n == 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no SMS was sent under ref %.80s", ref);
    return api_reply_json(r, 200, json_pack("{s:I}", "matched", (json_int_t)n));
}

void api_notify_init(void)
{
    db_notify_register();
}
