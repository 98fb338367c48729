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
 * Every change writes its alarm_events row in the same transaction, asks the
 * worker for a risk recompute (handling counts in H), is audited, and is
 * published on dw:events after COMMIT.
 *
 * Also home of small helpers the risk resources share (api_handlers.h). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_scope_sql.h"

#include "rds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* unfinished past a deadline, now */
#define ALARM_OVERDUE(a)                                                                           \
    "((" a ".state = 'active' AND " a ".ack_deadline < now()) OR (" a ".state IN ('active', "      \
    "'acknowledged') AND " a ".handle_deadline < now()))"

#define ALARM_JSON                                                                                 \
    "json_build_object('id', a.id, 'enterprise', json_build_object('id', e.id, 'code', e.code, "   \
    "'name', e.name, 'district_id', e.district_id, 'street_id', e.street_id), 'point', CASE WHEN " \
    "p.id IS NULL THEN NULL ELSE json_build_object('id', p.id, 'code', p.code, 'name', p.name, "   \
    "'kind', p.kind, 'unit', p.unit, 'system_id', p.system_id) END, 'source', a.source, "          \
    "'channel', a.channel, 'kind', a.kind, 'level', a.level, 'max_level', a.max_level, 'reason', " \
    "a.reason, 'value', a.value, 'threshold', a.threshold, 'raised_at', a.raised_at, "             \
    "'escalated_at', a.escalated_at, 'cleared_at', a.cleared_at, 'clear_reason', "                 \
    "a.clear_reason, 'back_to_normal', a.cleared_at IS NOT NULL, 'state', a.state, "               \
    "'ack_deadline', a.ack_deadline, 'handle_deadline', a.handle_deadline, 'ack_overdue', "        \
    "a.ack_overdue, 'handle_overdue', a.handle_overdue, 'overdue', " ALARM_OVERDUE(                \
        "a") ", 'acknowledged', CASE WHEN a.acked_at IS NULL THEN NULL ELSE "                      \
             "json_build_object('at', "                                                            \
             "a.acked_at, 'by', a.acked_by, 'verdict', a.ack_verdict, 'note', a.ack_note) END, "   \
             "'handled', CASE WHEN a.handled_at IS NULL THEN NULL ELSE json_build_object('at', "   \
             "a.handled_at, 'by', a.handled_by, 'cause_category', a.cause_category, 'measures', "  \
             "a.measures) END, 'closed', CASE WHEN a.closed_at IS NULL THEN NULL ELSE "            \
             "json_build_object('at', a.closed_at, 'by', a.closed_by, 'automatic', a.closed_by "   \
             "IS NULL) "                                                                           \
             "END, 'camera_code', a.camera_code, 'created_at', a.created_at)"

#define ALARM_FROM                                                                                 \
    " FROM alarms a JOIN enterprises e ON e.id = a.enterprise_id LEFT JOIN points p ON p.id = "    \
    "a.point_id "

#define CSV_MATCH(col, n)                                                                          \
    "($" n "::text IS NULL OR " col "::text = ANY(string_to_array($" n ", ',')))"

static const db_stmt statements[] = {
    /* $3 district code $4 street code $5 enterprise $6 kinds $7 levels $8 states $9 sources
     * $10 from $11 to $12 overdue $13 limit $14 offset $15 point $16 open */
    {"alm_api_list",
     "WITH f AS (SELECT a.id, a.raised_at FROM alarms a JOIN enterprises e ON e.id = "
     "a.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "
     "e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text "
              "IS NULL OR s.code = $4) AND ($5::bigint IS NULL OR e.id = $5::bigint) "
              "AND " CSV_MATCH("a.kind", "6") " AND " CSV_MATCH("a.level", "7") " AND " CSV_MATCH(
                  "a.state",
                  "8") " AND " CSV_MATCH("a.source",
                                         "9") " AND ($10::timestamptz IS NULL OR a.raised_at >= "
                                              "$10::timestamptz) AND ($11::timestamptz IS "
                                              "NULL OR a.raised_at < $11::timestamptz) AND "
                                              "($12::boolean IS NULL OR " ALARM_OVERDUE(
                                                  "a") " = $12::boolean) AND ($15::bigint IS NULL "
                                                       "OR a.point_id = $15::bigint) AND "
                                                       "($16::boolean IS NULL OR (a.state <> "
                                                       "'closed') = $16::boolean)) SELECT "
                                                       "json_build_object('total', (SELECT "
                                                       "count(*) FROM f), 'limit', $13::int, "
                                                       "'offset', "
                                                       "$14::int, 'items', coalesce((SELECT "
                                                       "json_agg(" ALARM_JSON
                                                       " ORDER BY a.raised_at DESC, a.id DESC) "
                                                       "FROM (SELECT id FROM f ORDER BY raised_at "
                                                       "DESC, id DESC LIMIT $13::int OFFSET "
                                                       "$14::int) pg JOIN alarms a ON a.id = pg.id "
                                                       "JOIN "
                                                       "enterprises e ON e.id = a.enterprise_id "
                                                       "LEFT JOIN points p ON p.id = a.point_id), "
                                                       "'[]'::json))::text"},
    {"alm_api_get",
     "SELECT json_build_object('alarm', " ALARM_JSON
     ", 'events', coalesce((SELECT json_agg(json_build_object('id', v.id, 'at', v.at, "
     "'recorded_at', v.recorded_at, 'action', v.action, 'kind', v.kind, 'level', v.level, "
     "'value', v.value, 'threshold', v.threshold, 'reason', v.reason, 'actor', v.actor, "
     "'actor_id', v.actor_id, 'note', v.note) ORDER BY v.id) FROM alarm_events v WHERE "
     "v.alarm_id = a.id), '[]'::json), 'readings', json_build_object('from', a.raised_at - "
     "interval '30 minutes', 'to', a.raised_at + interval '30 minutes', 'items', CASE WHEN "
     "a.point_id IS NULL THEN '[]'::json ELSE coalesce((SELECT json_agg(json_build_array("
     "extract(epoch FROM r.collected_at) * 1000, r.value, r.quality) ORDER BY r.collected_at) "
     "FROM (SELECT collected_at, value, quality FROM readings WHERE point_id = a.point_id AND "
     "collected_at >= a.raised_at - interval '30 minutes' AND collected_at <= a.raised_at + "
     "interval '30 minutes' ORDER BY collected_at LIMIT 5000) r), '[]'::json) "
     "END))::text" ALARM_FROM "WHERE a.id = $3::bigint AND " SCOPE_ENT("e")},
    /* the row to act on, locked for the rest of the transaction */
    {"alm_api_lock",
     "SELECT a.state, (a.cleared_at IS NOT NULL)::int, a.enterprise_id, e.district_id, "
     "coalesce(e.street_id, 0) FROM alarms a JOIN enterprises e ON e.id = a.enterprise_id WHERE "
     "a.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF a"},
    /* $3 alarm $4 actor id $5 actor name $6 verdict / cause $7 note / measures */
    {"alm_api_ack",
     "WITH u AS (UPDATE alarms a SET state = 'acknowledged', acked_at = now(), acked_by = "
     "$4::bigint, ack_verdict = $6, ack_note = $7 FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state = 'active' AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO alarm_events "
              "(alarm_id, "
              "enterprise_id, at, action, kind, level, reason, actor_id, actor, note) SELECT id, "
              "enterprise_id, now(), 'acknowledge', kind, level, $6, $4::bigint, $5, $7 FROM u "
              "RETURNING "
              "alarm_id"},
    {"alm_api_handle",
     "WITH u AS (UPDATE alarms a SET state = 'handled', handled_at = now(), handled_by = "
     "$4::bigint, cause_category = $6, measures = $7 FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state = 'acknowledged' AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO alarm_events "
              "(alarm_id, "
              "enterprise_id, at, action, kind, level, reason, actor_id, actor, note) SELECT id, "
              "enterprise_id, now(), 'handle', kind, level, $6, $4::bigint, $5, $7 FROM u "
              "RETURNING "
              "alarm_id"},
    {"alm_api_close",
     "WITH u AS (UPDATE alarms a SET state = 'closed', closed_at = greatest(now(), "
     "a.cleared_at, a.handled_at), closed_by = $4::bigint FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state = 'handled' AND a.cleared_at IS NOT "
     "NULL AND " SCOPE_ENT("e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO "
                                "alarm_events (alarm_id, enterprise_id, at, action, kind, level, "
                                "reason, actor_id, actor, "
                                "note) SELECT id, enterprise_id, now(), 'close', kind, level, $6, "
                                "$4::bigint, $5, $7 FROM u "
                                "RETURNING alarm_id"},
    {"alm_api_recompute",
     "INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ($1::bigint, $2) ON "
     "CONFLICT DO NOTHING"},
};

/* ---- reads ---------------------------------------------------------------- */

typedef struct {
    const char *p[16];
    int n;
    const char *stmt;
    json_t *out;
} q_ctx;

int api_alarms_list(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    char from[32], to[32], lim[16], off[16], eid[24] = "", pid[24] = "";
    long limit, offset, v;
    const char *kinds, *levels, *states, *sources, *overdue, *open;
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to) ||
        api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset) ||
        api_query_csv(r, "kind",
                      "high|high_high|low|low_low|rate_of_rise|digital_fault|frozen|out_of_range|"
                      "offline|gateway_fault|video",
                      &kinds) ||
        api_query_csv(r, "level", "0|1|2", &levels) ||
        api_query_csv(r, "state", "active|acknowledged|handled|closed", &states) ||
        api_query_csv(r, "source", "rule|gateway|video", &sources) ||
        api_query_bool(r, "overdue", &overdue) || api_query_bool(r, "open", &open))
        return 0;
    if (api_req_query(r, "enterprise")) {
        if (api_query_int(r, "enterprise", 0, 1, 0x7fffffffffffffffL, &v))
            return 0;
        snprintf(eid, sizeof eid, "%ld", v);
    }
    if (api_req_query(r, "point")) {
        if (api_query_int(r, "point", 0, 1, 0x7fffffffffffffffL, &v))
            return 0;
        snprintf(pid, sizeof pid, "%ld", v);
    }
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    q_ctx x = {{kind, sid, api_req_query(r, "district"), api_req_query(r, "street"),
                eid[0] ? eid : NULL, kinds, levels, states, sources, from[0] ? from : NULL,
                to[0] ? to : NULL, overdue, lim, off, pid[0] ? pid : NULL, open},
               16,
               "alm_api_list",
               NULL};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, x.out ? x.out : json_object());
}

int api_alarm_get(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such alarm");
    q_ctx x = {{kind, sid, api_req_param(r, "id")}, 3, "alm_api_get", NULL};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such alarm");
    return api_reply_json(r, 200, x.out);
}

/* ---- actions ---------------------------------------------------------------- */

typedef enum { ACT_ACK, ACT_HANDLE, ACT_CLOSE } alarm_act;

typedef struct {
    alarm_act act;
    const char *id;
    const char *reason; /* verdict / cause category / close reason */
    const char *note;   /* note / measures */
    int found;
    int refused; /* 409 with why */
    char why[200];
    char state[24];
    long long enterprise_id, district_id, street_id;
} act_ctx;

static const char *const act_name[] = {"acknowledge", "handle", "close"};

static db_status act_tx(api_req *r, db_conn *c, void *arg)
{
    act_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    char kind[16], sid[24], aid[24];
    api_scope_params(caller, kind, sid);
    snprintf(aid, sizeof aid, "%lld", (long long)caller->account_id);
    const char *lp[3] = {kind, sid, x->id};
    db_status st;
    PGresult *res = db_exec(c, "alm_api_lock", 3, lp, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DB_OK; /* found = 0: 404 */
    }
    x->found = 1;
    snprintf(x->state, sizeof x->state, "%s", PQgetvalue(res, 0, 0));
    int cleared = PQgetvalue(res, 0, 1)[0] == '1';
    x->enterprise_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    x->district_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    x->street_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    PQclear(res);
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
    if (x->act == ACT_CLOSE && !cleared) {
        x->refused = 1;
        snprintf(x->why, sizeof x->why,
                 "the value is not back to normal yet; a handled alarm closes by itself when it "
                 "clears");
        return DB_OK;
    }
    const char *stmt = x->act == ACT_ACK      ? "alm_api_ack"
                       : x->act == ACT_HANDLE ? "alm_api_handle"
                                              : "alm_api_close";
    const char *p[7] = {kind,      sid,    x->id, caller->account_id ? aid : NULL, caller->username,
                        x->reason, x->note};
    res = db_exec(c, stmt, 7, p, &st);
    if (!res)
        return st;
    int n = PQntuples(res);
    PQclear(res);
    if (n != 1)
        return DB_BAD;
    snprintf(x->state, sizeof x->state, "%s",
             x->act == ACT_ACK      ? "acknowledged"
             : x->act == ACT_HANDLE ? "handled"
                                    : "closed");
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", x->enterprise_id);
    char why[40];
    snprintf(why, sizeof why, "alarm_%s", act_name[x->act]);
    const char *rp[2] = {eid, why};
    res = db_exec(c, "alm_api_recompute", 2, rp, &st);
    if (!res)
        return st;
    PQclear(res);
    return DB_OK;
}

static int alarm_act_run(api_req *r, act_ctx *x, json_t *body)
{
    char obj[48], action[32];
    snprintf(obj, sizeof obj, "alarm:%s", x->id);
    snprintf(action, sizeof action, "alarm_%s", act_name[x->act]);
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
    json_t *d = json_pack("{s:s, s:O}", "state", x->state, "request", body);
    char *ds = json_dumps(d, JSON_COMPACT);
    api_audit(r, action, obj, "ok", ds);
    free(ds);
    json_decref(d);
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

void api_alarms_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
