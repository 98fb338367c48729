/* Online spot checks (在线抽查, migration 0106), the district's named duty:
 *
 *   campaign (random N | grade | street | stale | list, within the caller's scope)
 *     -> one check per picked enterprise: pending --record--> done
 *        (checklist answers, note, findings)
 *   finding: action hazard        -> a hazard (found_how spot_check), its loop is the hazard's
 *            action rectification: requested --reply--> replied --verify--> closed
 *                                                                --reject--> rejected --reply-->
 * ...
 *
 * Campaigns and checks are the government's: the campaign's district (or its street, for a
 * street's own campaign) and the city work them; the enterprise sees and answers its
 * findings.  GET /spot-checks/{id}/dossier is the one screen of a check: the enterprise's
 * alarms and their handling, video alarms, cleaning check-ins, data online and
 * interruptions, filings and open hazards over the campaign's period, read through the
 * modules that own them.  Every transition is guarded by the status it was read in (row
 * locked first), audited in its transaction and published (types "spot_check",
 * "spot_finding"). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_alarm_api.h"
#include "db_cleaning.h"
#include "db_filings.h"
#include "db_hazards.h"
#include "db_spot.h"
#include "db_stats.h"
#include "srv_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_S         86400L
#define MAX_FINDINGS  20
#define MAX_LIST_ENTS 200

/* ---- reads ---------------------------------------------------------------------- */

static int read_plain(api_req *r, db_status (*fn)(db_conn *, const db_scope *, json_t **))
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? fn(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_spot_checklist(api_req *r)
{
    return read_plain(r, db_spot_checklist);
}

int api_spot_campaigns_list(api_req *r)
{
    const char *statuses;
    long limit, offset;
    if (api_query_csv(r, "status", "open|closed", &statuses) ||
        api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_spot_campaigns_list(c, &s, statuses, limit, offset, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_spot_campaign_get(api_req *r)
{
    return api_read_by_id(r, "spot-check campaign", db_spot_campaign_get);
}

int api_spot_check_get(api_req *r)
{
    return api_read_by_id(r, "spot check", db_spot_check_get);
}

int api_spot_finding_get(api_req *r)
{
    return api_read_by_id(r, "spot-check finding", db_spot_finding_get);
}

int api_spot_findings_list(api_req *r)
{
    const char *statuses, *open;
    long limit, offset, enterprise, check;
    if (api_query_csv(r, "status", "hazard|requested|replied|rejected|closed", &statuses) ||
        api_query_bool(r, "open", &open) || api_query_id(r, "enterprise", &enterprise) ||
        api_query_id(r, "check", &check) || api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset))
        return 0;
    db_spot_findings_filter f = {.statuses = statuses,
                                 .enterprise_id = enterprise,
                                 .check_id = check,
                                 .open = api_tristate(open),
                                 .limit = limit,
                                 .offset = offset};
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_spot_findings_list(c, &s, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

int api_spot_counts(api_req *r)
{
    char from[32] = "", to[32] = "";
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to))
        return 0;
    time_t now = time(NULL), t0, t1;
    if (!to[0])
        api_format_time(now + 1, to);
    if (!from[0]) {
        api_parse_time(to, &t1);
        api_format_time(t1 - 30 * DAY_S, from);
    }
    if (api_parse_time(from, &t0) != 0 || api_parse_time(to, &t1) != 0 || t1 <= t0 ||
        t1 - t0 > 366 * DAY_S)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "to must be after from, and the range at most 366 days");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_spot_counts(c, &s, from, to, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

/* ---- the dossier: one screen per enterprise and period -------------------------- */

/* The filings of a list answer (stolen) that overlap [t0, t1). */
static json_t *filings_overlapping(json_t *list, time_t t0)
{
    json_t *items = json_array(), *f;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, f)
    {
        const char *ends = json_string_value(json_object_get(f, "ends_at"));
        const char *ended = json_string_value(json_object_get(f, "ended_at"));
        time_t te;
        if (ended && api_parse_time(ended, &te) == 0 && te < t0)
            continue;
        if (ends && api_parse_time(ends, &te) == 0 && te < t0)
            continue;
        json_array_append(items, f);
    }
    json_decref(list);
    return items;
}

int api_spot_check_dossier(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such spot check");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    if (!c)
        return api_reply_db(r, DB_HARD);
    json_t *check = NULL;
    db_status st = db_spot_check_get(c, &s, id, &check);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!check)
        return api_reply_error(r, API_E_NOT_FOUND, "no such spot check");
    json_t *camp = json_object_get(check, "campaign");
    int64_t eid = json_integer_value(
        json_object_get(json_object_get(json_object_get(check, "check"), "enterprise"), "id"));
    time_t t0 = 0, t1 = 0;
    api_parse_time(json_string_value(json_object_get(camp, "period_from")), &t0);
    api_parse_time(json_string_value(json_object_get(camp, "period_to")), &t1);
    char from[32], to[32];
    api_format_time(t0, from);
    api_format_time(t1, to);
    json_t *out = json_object(), *v = NULL;
    json_object_set_new(out, "check", check);
    json_object_set_new(out, "period", json_pack("{s:s, s:s}", "from", from, "to", to));
    /* alarms with their handling; video alarms apart */
    db_alarm_api_filter af = {
        .list =
            {.enterprise_id = eid, .from = from, .to = to, .overdue = -1, .open = -1, .limit = 200},
        .sources = "rule,gateway"};
    st = db_alarm_api_list(c, &s, &af, &v);
    json_object_set_new(out, "alarms", v ? v : json_null());
    v = NULL;
    af.sources = "video";
    if (st == DB_OK)
        st = db_alarm_api_list(c, &s, &af, &v);
    json_object_set_new(out, "video_alarms", v ? v : json_null());
    v = NULL;
    if (st == DB_OK)
        st = db_cleaning_checkins(c, &s, eid, from, to, 0, 200, 0, &v);
    json_object_set_new(out, "cleaning", v ? v : json_null());
    v = NULL;
    /* data online and interruptions over the period (whole hours, as the statistics) */
    db_stats_query q = {.from = t0 - t0 % 3600,
                        .to = t1 > t0 - t0 % 3600 ? t1 : t0 - t0 % 3600 + 3600,
                        .enterprise_id = eid,
                        .group = "none",
                        .connected_window_s = g_config.connected_window_h * 3600L};
    if (st == DB_OK)
        st = db_stats_get(c, &s, &q, &v);
    json_object_set_new(out, "online", v ? json_incref(json_object_get(v, "totals")) : json_null());
    json_decref(v);
    v = NULL;
    if (st == DB_OK)
        st = db_stats_quality(c, &s, &q, 50, &v);
    json_object_set_new(out, "interruptions",
                        v ? json_incref(json_object_get(v, "interruptions")) : json_null());
    json_decref(v);
    v = NULL;
    db_filings_filter ff = {.list = {.enterprise_id = eid, .to = to, .limit = 100}, .active = -1};
    if (st == DB_OK)
        st = db_filings_list(c, &s, &ff, &v);
    json_object_set_new(out, "filings", v ? filings_overlapping(v, t0) : json_array());
    v = NULL;
    db_hazards_filter hf = {.list = {.enterprise_id = eid, .overdue = -1, .open = 1, .limit = 100}};
    if (st == DB_OK)
        st = db_hazards_list(c, &s, &hf, &v);
    json_object_set_new(out, "hazards", v ? v : json_null());
    if (st != DB_OK) {
        json_decref(out);
        return api_reply_db(r, st);
    }
    return api_reply_json(r, 200, out);
}

/* ---- campaigns ------------------------------------------------------------------- */

static const char *const rules[] = {"random", "grade", "street", "stale", "list"};
static const char *const grades[] = {"blue", "yellow", "orange", "red", "none"};

static int in_set(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(v, set[i]) == 0)
            return 1;
    return 0;
}

/* An optional integer field in [min, max]: def when absent; -1 after replying. */
static int body_int(api_req *r, json_t *body, const char *name, long def, long min, long max,
                    long *out)
{
    json_t *v = json_object_get(body, name);
    *out = def;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        api_reply_error(r, API_E_SPOT_INVALID, "%s must be an integer %ld..%ld", name, min, max);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

/* An optional RFC 3339 time field: 0 and *t untouched when absent; -1 after replying. */
static int body_time(api_req *r, json_t *body, const char *name, time_t *t)
{
    const char *v;
    if (api_body_text(r, body, name, 0, 40, &v))
        return -1;
    if (*v && api_parse_time(v, t) != 0) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be an RFC 3339 time with an offset", name);
        return -1;
    }
    return 0;
}

typedef struct {
    db_spot_campaign_new in;
    long expect; /* list: how many were named */
    int64_t id, picked;
    int short_list;
} campaign_ctx;

static db_status campaign_tx(api_req *r, db_conn *c, void *arg)
{
    campaign_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_spot_campaign_create_tx(c, &s, &x->in, &x->id, &x->picked);
    if (st != DB_OK || !x->id)
        return st;
    if (x->expect && x->picked != x->expect) {
        x->short_list = 1;
        return DB_BAD; /* roll back: a named enterprise is not in scope */
    }
    char obj[48], d[600];
    snprintf(obj, sizeof obj, "spot_campaign:%lld", (long long)x->id);
    snprintf(d, sizeof d, "{\"rule\":\"%s\",\"picked\":%lld,\"params\":%s}", x->in.rule,
             (long long)x->picked, x->in.params_json);
    return api_audit_tx(r, c, "spot_campaign_create", obj, "ok", d);
}

int api_spot_campaign_create(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"title",       "rule",        "n",
                                          "grades",      "street_code", "stale_days",
                                          "period_from", "period_to",   "enterprise_ids"};
    if (api_json_strict(r, body, allowed, sizeof allowed / sizeof allowed[0]) != 0)
        return 0;
    const api_caller *caller = api_req_caller(r);
    const char *title, *rule, *street = "";
    long n, stale;
    if (api_body_text(r, body, "title", 1, 200, &title) ||
        api_body_text(r, body, "rule", 1, 16, &rule) ||
        api_body_text(r, body, "street_code", 0, 12, &street) ||
        body_int(r, body, "n", 10, 1, MAX_LIST_ENTS, &n) ||
        body_int(r, body, "stale_days", 30, 1, 366, &stale))
        return 0;
    if (!*title)
        return api_reply_error(r, API_E_SPOT_INVALID, "title must not be empty");
    if (!in_set(rule, rules, sizeof rules / sizeof rules[0]))
        return api_reply_error(r, API_E_SPOT_INVALID,
                               "rule must be random, grade, street, stale or list");
    time_t now = time(NULL), t1 = now, t0;
    if (body_time(r, body, "period_to", &t1))
        return 0;
    t0 = t1 - 30 * DAY_S;
    if (body_time(r, body, "period_from", &t0))
        return 0;
    if (t1 <= t0 || t1 - t0 > 366 * DAY_S || t0 > now)
        return api_reply_error(r, API_E_SPOT_INVALID,
                               "the period must start before it ends, not in the future, and "
                               "span at most 366 days");
    char gbuf[64] = "", ibuf[MAX_LIST_ENTS * 20 + 1] = "";
    long expect = 0;
    json_t *params = json_pack("{s:I}", "n", (json_int_t)n);
    int bad = 0;
    if (strcmp(rule, "grade") == 0) {
        json_t *g = json_object_get(body, "grades"), *e;
        size_t i;
        bad = !json_is_array(g) || json_array_size(g) == 0 || json_array_size(g) > 5;
        json_array_foreach(g, i, e)
        {
            if (bad || !in_set(json_string_value(e), grades, 5)) {
                bad = 1;
                break;
            }
            snprintf(gbuf + strlen(gbuf), sizeof gbuf - strlen(gbuf), "%s%s", i ? "," : "",
                     json_string_value(e));
        }
        if (bad) {
            json_decref(params);
            return api_reply_error(r, API_E_SPOT_INVALID,
                                   "rule grade needs grades: a list of blue, yellow, orange, "
                                   "red or none");
        }
        json_object_set(params, "grades", g);
    } else if (strcmp(rule, "street") == 0) {
        if (strlen(street) < 6 || strspn(street, "0123456789") != strlen(street)) {
            json_decref(params);
            return api_reply_error(r, API_E_SPOT_INVALID,
                                   "rule street needs street_code: the street's 6..12 digit code");
        }
        json_object_set_new(params, "street_code", json_string(street));
    } else if (strcmp(rule, "stale") == 0) {
        json_object_set_new(params, "stale_days", json_integer(stale));
    } else if (strcmp(rule, "list") == 0) {
        json_t *ids = json_object_get(body, "enterprise_ids"), *e;
        size_t i;
        bad = !json_is_array(ids) || json_array_size(ids) == 0 ||
              json_array_size(ids) > MAX_LIST_ENTS;
        json_array_foreach(ids, i, e)
        {
            if (bad || !json_is_integer(e) || json_integer_value(e) < 1) {
                bad = 1;
                break;
            }
            /* duplicates would make the count differ from what is picked */
            for (size_t j = 0; j < i; j++)
                if (json_integer_value(json_array_get(ids, j)) == json_integer_value(e))
                    bad = 1;
            snprintf(ibuf + strlen(ibuf), sizeof ibuf - strlen(ibuf), "%s%lld", i ? "," : "",
                     (long long)json_integer_value(e));
        }
        if (bad) {
            json_decref(params);
            return api_reply_error(r, API_E_SPOT_INVALID,
                                   "rule list needs enterprise_ids: 1..200 distinct positive "
                                   "enterprise ids");
        }
        expect = (long)json_array_size(ids);
        n = expect;
        json_object_set_new(params, "n", json_integer(n));
        json_object_set(params, "enterprise_ids", ids);
    }
    char *pj = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    char s_from[32], s_to[32];
    api_format_time(t0, s_from);
    api_format_time(t1, s_to);
    campaign_ctx x = {.in = {.title = title,
                             .period_from = s_from,
                             .period_to = s_to,
                             .rule = rule,
                             .params_json = pj ? pj : "{}",
                             .n = n,
                             .grades = gbuf[0] ? gbuf : NULL,
                             .street_code = *street ? street : NULL,
                             .stale_days = stale,
                             .ids = ibuf[0] ? ibuf : NULL,
                             .actor_id = caller->account_id,
                             .actor = caller->username},
                      .expect = expect};
    db_status st = api_tx(r, campaign_tx, &x);
    int rc;
    if (x.short_list) {
        api_audit(r, "spot_campaign_create", "spot_campaigns", "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND,
                             "an enterprise of enterprise_ids is not in your "
                             "scope");
    } else if (st != DB_OK) {
        api_audit(r, "spot_campaign_create", "spot_campaigns", "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.id) {
        rc = api_reply_error(r, API_E_SPOT_INVALID,
                             "no enterprise in your scope matches the selection");
    } else {
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        json_t *out = NULL;
        st = c ? db_spot_campaign_get(c, &s, x.id, &out) : DB_HARD;
        if (st == DB_OK && out) {
            json_t *cm = json_object_get(out, "campaign");
            api_publish_event("spot_campaign", "create", x.id, 0,
                              json_integer_value(json_object_get(cm, "district_id")),
                              json_integer_value(json_object_get(cm, "street_id")), "open");
        }
        rc = st != DB_OK ? api_reply_db(r, st) : api_reply_json(r, 201, out ? out : json_object());
    }
    free(pj);
    return rc;
}

typedef struct {
    long long id;
    int found, moved;
    int64_t district_id, street_id;
} close_ctx;

static db_status close_tx(api_req *r, db_conn *c, void *arg)
{
    close_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_spot_campaign_close_tx(c, &s, x->id, &x->found, &x->moved, &x->district_id,
                                             &x->street_id);
    if (st != DB_OK || !x->moved)
        return st;
    char id[24];
    snprintf(id, sizeof id, "%lld", x->id);
    return api_audit_move_tx(r, c, "spot_campaign", id, "close", "open", "closed", "");
}

int api_spot_campaign_close(api_req *r)
{
    close_ctx x = {.id = api_parse_id(api_req_param(r, "id"))};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such spot-check campaign");
    char obj[48];
    snprintf(obj, sizeof obj, "spot_campaign:%lld", x.id);
    db_status st = api_tx(r, close_tx, &x);
    if (st != DB_OK) {
        api_audit(r, "spot_campaign_close", obj, "failed", "database");
        return api_reply_db(r, st);
    }
    if (!x.found) {
        api_audit(r, "spot_campaign_close", obj, "denied", "not found in scope");
        return api_reply_error(r, API_E_NOT_FOUND, "no such spot-check campaign");
    }
    if (!x.moved) {
        api_audit(r, "spot_campaign_close", obj, "failed", "not open");
        return api_reply_error(r, API_E_INVALID_TRANSITION, "the campaign is already closed");
    }
    api_publish_event("spot_campaign", "close", x.id, 0, x.district_id, x.street_id, "closed");
    return api_spot_campaign_get(r);
}

/* ---- recording a check ----------------------------------------------------------- */

typedef struct {
    const char *item_code, *title, *description, *kind;
    int major_item;
    char deadline[32];
    int64_t hazard_id, id;
} finding_in;

typedef struct {
    long long id;
    const char *answers, *note;
    finding_in f[MAX_FINDINGS];
    size_t nf;
    int found, refused;
    char why[160];
    db_spot_check_row row;
} record_ctx;

static db_status record_tx(api_req *r, db_conn *c, void *arg)
{
    record_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_spot_check_lock_tx(c, &s, x->id, &x->row, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    if (strcmp(x->row.status, "pending") != 0 || strcmp(x->row.campaign_status, "open") != 0) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "cannot record a check in status %s of a campaign %s",
                 x->row.status, x->row.campaign_status);
        return DB_OK;
    }
    st = db_spot_check_record_tx(c, &s, x->id, x->answers, x->note, caller->account_id,
                                 caller->username);
    char id[24];
    snprintf(id, sizeof id, "%lld", x->id);
    if (st == DB_OK)
        st = api_audit_move_tx(r, c, "spot_check", id, "record", "pending", "done", x->note);
    for (size_t i = 0; st == DB_OK && i < x->nf; i++) {
        finding_in *f = &x->f[i];
        char obj[48], d[400];
        if (f->kind) {
            char found_at[32];
            api_format_time(time(NULL), found_at);
            db_hazard_new h = {.enterprise_id = x->row.enterprise_id,
                               .kind = f->kind,
                               .major_item = f->major_item,
                               .title = f->title,
                               .description = f->description,
                               .found_by = caller->username,
                               .found_at = found_at,
                               .found_how = "spot_check",
                               .deadline = f->deadline,
                               .actor_id = caller->account_id,
                               .actor = caller->username};
            st = db_hazards_create(c, &s, &h, &f->hazard_id);
            if (st != DB_OK)
                break;
            if (!f->hazard_id)
                return DB_HARD; /* the check was in scope, so its enterprise is */
            snprintf(obj, sizeof obj, "hazard:%lld", (long long)f->hazard_id);
            snprintf(d, sizeof d, "{\"spot_check\":%lld,\"kind\":\"%s\",\"deadline\":\"%s\"}",
                     x->id, f->kind, f->deadline);
            st = api_audit_tx(r, c, "hazard_report", obj, "ok", d);
            if (st != DB_OK)
                break;
        }
        db_spot_finding_new in = {.item_code = f->item_code,
                                  .title = f->title,
                                  .description = f->description,
                                  .deadline = f->deadline,
                                  .hazard_id = f->hazard_id,
                                  .actor_id = caller->account_id};
        st = db_spot_finding_create_tx(c, &s, x->id, &in, &f->id);
        if (st != DB_OK)
            break;
        snprintf(obj, sizeof obj, "spot_finding:%lld", (long long)f->id);
        snprintf(d, sizeof d, "{\"spot_check\":%lld,\"action\":\"%s\",\"hazard\":%lld}", x->id,
                 f->kind ? "hazard" : "rectification", (long long)f->hazard_id);
        st = api_audit_tx(r, c, "spot_finding_create", obj, "ok", d);
    }
    return st;
}

/* The active checklist (code -> major_item or 0), read once per request. */
static json_t *checklist_codes(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_spot_checklist(c, &s, &out) : DB_HARD;
    if (st != DB_OK || !out) {
        json_decref(out);
        api_reply_db(r, st != DB_OK ? st : DB_HARD);
        return NULL;
    }
    json_t *codes = json_object(), *it;
    size_t i;
    json_array_foreach(json_object_get(out, "items"), i, it)
    {
        json_t *m = json_object_get(it, "major_item");
        json_object_set_new(codes, json_string_value(json_object_get(it, "code")),
                            json_integer(json_is_integer(m) ? json_integer_value(m) : 0));
    }
    json_decref(out);
    return codes;
}

/* One finding of the body into f; -1 after replying. */
static int parse_finding(api_req *r, json_t *codes, json_t *j, size_t k, finding_in *f)
{
    static const char *const allowed[] = {"item_code", "title",      "description", "action",
                                          "kind",      "major_item", "deadline"};
    if (!json_is_object(j)) {
        api_reply_error(r, API_E_SPOT_INVALID, "findings[%zu] must be an object", k);
        return -1;
    }
    if (api_json_strict(r, j, allowed, sizeof allowed / sizeof allowed[0]) != 0)
        return -1;
    const char *action, *kind, *deadline;
    if (api_body_text(r, j, "item_code", 0, 32, &f->item_code) ||
        api_body_text(r, j, "title", 1, 200, &f->title) ||
        api_body_text(r, j, "description", 0, 4000, &f->description) ||
        api_body_text(r, j, "action", 1, 16, &action) ||
        api_body_text(r, j, "kind", 0, 16, &kind) ||
        api_body_text(r, j, "deadline", 0, 40, &deadline))
        return -1;
    if (!*f->title) {
        api_reply_error(r, API_E_SPOT_INVALID, "findings[%zu].title must not be empty", k);
        return -1;
    }
    json_t *item = NULL;
    if (*f->item_code && !(item = json_object_get(codes, f->item_code))) {
        api_reply_error(r, API_E_SPOT_INVALID, "findings[%zu].item_code is not a checklist item",
                        k);
        return -1;
    }
    if (!*f->item_code)
        f->item_code = NULL;
    int hazard = strcmp(action, "hazard") == 0;
    if (!hazard && strcmp(action, "rectification") != 0) {
        api_reply_error(r, API_E_SPOT_INVALID,
                        "findings[%zu].action must be hazard or rectification", k);
        return -1;
    }
    json_t *mi = json_object_get(j, "major_item");
    if (!hazard && (*kind || mi)) {
        api_reply_error(r, API_E_SPOT_INVALID,
                        "findings[%zu]: kind and major_item are for action hazard", k);
        return -1;
    }
    if (hazard) {
        int suggested = item ? (int)json_integer_value(item) : 0;
        if (!*kind)
            kind = suggested ? "major" : "ordinary";
        if (strcmp(kind, "major") && strcmp(kind, "ordinary")) {
            api_reply_error(r, API_E_SPOT_INVALID, "findings[%zu].kind must be major or ordinary",
                            k);
            return -1;
        }
        f->kind = strcmp(kind, "major") == 0 ? "major" : "ordinary";
        if (mi &&
            (!json_is_integer(mi) || json_integer_value(mi) < 1 || json_integer_value(mi) > 10)) {
            api_reply_error(r, API_E_SPOT_INVALID, "findings[%zu].major_item must be 1..10", k);
            return -1;
        }
        f->major_item = f->kind[0] == 'm' ? (mi ? (int)json_integer_value(mi) : suggested) : 0;
        if (f->kind[0] == 'm' && !f->major_item) {
            api_reply_error(r, API_E_SPOT_INVALID,
                            "findings[%zu]: a major hazard names its major_item (1..10)", k);
            return -1;
        }
        if (f->kind[0] == 'o' && mi) {
            api_reply_error(r, API_E_SPOT_INVALID,
                            "findings[%zu]: an ordinary hazard has no major_item", k);
            return -1;
        }
    }
    time_t now = time(NULL), due;
    if (*deadline) {
        if (api_parse_time(deadline, &due) != 0) {
            api_reply_error(r, API_E_BAD_REQUEST,
                            "findings[%zu].deadline must be an RFC 3339 time with an offset", k);
            return -1;
        }
        if (due <= now || due > now + 366 * DAY_S) {
            api_reply_error(r, API_E_SPOT_INVALID,
                            "findings[%zu].deadline must be in the next 366 days", k);
            return -1;
        }
    } else {
        due = now + (!hazard ? 15 : f->kind[0] == 'm' ? 60 : 30) * DAY_S;
    }
    api_format_time(due, f->deadline);
    return 0;
}

int api_spot_check_record(api_req *r)
{
    record_ctx x = {.id = api_parse_id(api_req_param(r, "id"))};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such spot check");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"answers", "note", "findings"};
    if (api_json_strict(r, body, allowed, 3) != 0 ||
        api_body_text(r, body, "note", 0, 4000, &x.note))
        return 0;
    json_t *answers = json_object_get(body, "answers");
    json_t *findings = json_object_get(body, "findings");
    if (!json_is_object(answers))
        return api_reply_error(r, API_E_SPOT_INVALID,
                               "answers must be an object: checklist item code -> ok, finding "
                               "or na");
    if (findings && !json_is_array(findings))
        return api_reply_error(r, API_E_SPOT_INVALID, "findings must be a list");
    if (json_array_size(findings) > MAX_FINDINGS)
        return api_reply_error(r, API_E_SPOT_INVALID, "at most %d findings per check",
                               MAX_FINDINGS);
    json_t *codes = checklist_codes(r);
    if (!codes)
        return 0;
    int rc = 0;
    const char *code;
    json_t *v;
    json_object_foreach(answers, code, v)
    {
        const char *a = json_string_value(v);
        if (!json_object_get(codes, code)) {
            rc =
                api_reply_error(r, API_E_SPOT_INVALID, "answers: %s is not a checklist item", code);
            goto out;
        }
        if (!a || (strcmp(a, "ok") && strcmp(a, "finding") && strcmp(a, "na"))) {
            rc = api_reply_error(r, API_E_SPOT_INVALID, "answers.%s must be ok, finding or na",
                                 code);
            goto out;
        }
    }
    json_object_foreach(codes, code, v)
    {
        if (!json_object_get(answers, code)) {
            rc = api_reply_error(r, API_E_SPOT_INVALID,
                                 "answers: checklist item %s is not "
                                 "answered",
                                 code);
            goto out;
        }
    }
    size_t i;
    json_t *fj;
    json_array_foreach(findings, i, fj)
    {
        if (parse_finding(r, codes, fj, i, &x.f[i]) != 0)
            goto out;
        x.nf = i + 1;
    }
    char *aj = json_dumps(answers, JSON_COMPACT | JSON_SORT_KEYS);
    x.answers = aj ? aj : "{}";
    char obj[48];
    snprintf(obj, sizeof obj, "spot_check:%lld", x.id);
    db_status st = api_tx(r, record_tx, &x);
    if (st != DB_OK) {
        api_audit(r, "spot_check_record", obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, "spot_check_record", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such spot check");
    } else if (x.refused) {
        api_audit(r, "spot_check_record", obj, "failed", x.why);
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x.why);
    } else {
        api_publish_event("spot_check", "record", x.id, 0, x.row.district_id, x.row.street_id,
                          "done");
        for (size_t k = 0; k < x.nf; k++) {
            if (x.f[k].hazard_id)
                api_publish_event("hazard", "report", x.f[k].hazard_id, x.row.enterprise_id, 0, 0,
                                  "reported");
            api_publish_event("spot_finding", "create", x.f[k].id, x.row.enterprise_id,
                              x.row.district_id, x.row.street_id,
                              x.f[k].hazard_id ? "hazard" : "requested");
        }
        rc = api_spot_check_get(r);
    }
    free(aj);
out:
    json_decref(codes);
    return rc;
}

/* ---- finding transitions ----------------------------------------------------------- */

typedef enum { F_REPLY, F_VERIFY, F_REJECT } finding_act;

static const struct {
    const char *name, *from, *from2, *to, *field;
    int required;
} acts[] = {
    [F_REPLY] = {"reply", "requested", "rejected", "replied", "reply", 1},
    [F_VERIFY] = {"verify", "replied", NULL, "closed", "note", 0},
    [F_REJECT] = {"reject", "replied", NULL, "rejected", "reason", 1},
};

typedef struct {
    finding_act act;
    long long id;
    const char *note;
    int found, refused;
    char why[200];
    db_spot_finding_row row;
} fact_ctx;

static db_status fact_tx(api_req *r, db_conn *c, void *arg)
{
    fact_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_spot_finding_lock_tx(c, &s, x->id, &x->row, &x->found);
    if (st != DB_OK || !x->found)
        return st;
    const char *from = x->row.status;
    if (strcmp(x->row.action, "hazard") == 0) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why,
                 "this finding was reported as a hazard: work it through /api/v1/hazards");
        return DB_OK;
    }
    if (strcmp(from, acts[x->act].from) != 0 &&
        !(acts[x->act].from2 && strcmp(from, acts[x->act].from2) == 0)) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why, "cannot %s a finding in status %s", acts[x->act].name,
                 from);
        return DB_OK;
    }
    st = db_spot_finding_move_tx(c, &s, x->id, from, acts[x->act].to, acts[x->act].name,
                                 caller->account_id, x->note);
    if (st != DB_OK)
        return st;
    char id[24];
    snprintf(id, sizeof id, "%lld", x->id);
    return api_audit_move_tx(r, c, "spot_finding", id, acts[x->act].name, from, acts[x->act].to,
                             x->note);
}

static int finding_action(api_req *r, finding_act act)
{
    fact_ctx x = {.act = act, .id = api_parse_id(api_req_param(r, "id"))};
    if (x.id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such spot-check finding");
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
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
    snprintf(obj, sizeof obj, "spot_finding:%lld", x.id);
    snprintf(action, sizeof action, "spot_finding_%s", acts[act].name);
    db_status st = api_tx(r, fact_tx, &x);
    if (st != DB_OK) {
        api_audit(r, action, obj, "failed", "database");
        rc = api_reply_db(r, st);
    } else if (!x.found) {
        api_audit(r, action, obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such spot-check finding");
    } else if (x.refused) {
        api_audit(r, action, obj, "failed", x.why);
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "%s", x.why);
    } else {
        api_publish_event("spot_finding", acts[act].name, x.id, x.row.enterprise_id,
                          x.row.district_id, x.row.street_id, acts[act].to);
        rc = api_spot_finding_get(r);
    }
out:
    json_decref(body);
    return rc;
}

int api_spot_finding_reply(api_req *r)
{
    return finding_action(r, F_REPLY);
}

int api_spot_finding_verify(api_req *r)
{
    return finding_action(r, F_VERIFY);
}

int api_spot_finding_reject(api_req *r)
{
    return finding_action(r, F_REJECT);
}

void api_spot_init(void)
{
    db_spot_register();
}
