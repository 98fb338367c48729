/* Early warnings (预警): list with filters, detail with the score that caused
 * the warning (its breakdown and fired rules), the event / escalation /
 * supervision history, and the people's transitions.  The worker issues and
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
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARN_SIGN_OVERDUE(w) "(" w ".status = 'issued' AND " w ".sign_by < now())"
#define WARN_CLEAR_OVERDUE(w)                                                                      \
    "(" w ".status NOT IN ('clearance_requested', 'cleared') AND " w ".clear_by < now())"
#define WARN_OVERDUE(w) "(" WARN_SIGN_OVERDUE(w) " OR " WARN_CLEAR_OVERDUE(w) ")"

#define WARN_JSON                                                                                  \
    "json_build_object('id', w.id, 'enterprise', json_build_object('id', e.id, 'code', e.code, "   \
    "'name', e.name, 'district_id', e.district_id, 'street_id', e.street_id), 'cause', w.cause, "  \
    "'grade', w.grade, 'score_id', w.score_id, 'issued_at', w.issued_at, 'sign_by', w.sign_by, "   \
    "'clear_by', w.clear_by, 'supervisor', w.supervisor, 'current_level', w.current_level, "       \
    "'inform_city', w.inform_city, 'status', w.status, 'signed_at', w.signed_at, 'signed_by', "    \
    "w.signed_by, 'feedback_at', w.feedback_at, 'feedback', w.feedback, 'clear_requested_at', "    \
    "w.clear_requested_at, 'cleared_at', w.cleared_at, 'cleared_by', w.cleared_by, "               \
    "'escalations_done', w.escalations_done, 'sign_overdue', " WARN_SIGN_OVERDUE(                  \
        "w") ", 'clear_overdue', " WARN_CLEAR_OVERDUE("w") ", 'overdue', " WARN_OVERDUE("w") ")"

#define CSV_MATCH(col, n)                                                                          \
    "($" n "::text IS NULL OR " col "::text = ANY(string_to_array($" n ", ',')))"

static const db_stmt statements[] = {
    /* $3 district $4 street $5 enterprise $6 grades $7 statuses $8 overdue $9 from $10 to
     * $11 limit $12 offset $13 open $14 cause $15 current levels */
    {"wrn_api_list",
     "WITH f AS (SELECT w.id, w.issued_at FROM warnings w JOIN enterprises e ON e.id = "
     "w.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "
     "e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text "
              "IS NULL OR s.code = $4) AND ($5::bigint IS NULL OR e.id = $5::bigint) "
              "AND " CSV_MATCH("w.grade", "6") " AND " CSV_MATCH(
                  "w.status",
                  "7") " AND ($8::boolean IS NULL OR " WARN_OVERDUE("w") " = $8::boolean) AND "
                                                                         "($9::timestamptz IS NULL "
                                                                         "OR w.issued_at >= "
                                                                         "$9::timestamptz) AND "
                                                                         "($10::timestamptz IS "
                                                                         "NULL OR w.issued_at < "
                                                                         "$10::timestamptz) AND "
                                                                         "($13::boolean IS NULL OR "
                                                                         "(w.status <> 'cleared') "
                                                                         "= $13::boolean) AND "
                                                                         "($14::text IS NULL OR "
                                                                         "w.cause = $14) "
                                                                         "AND " CSV_MATCH(
                                                                             "w.current_level",
                                                                             "15") ") SELECT "
                                                                                   "json_build_"
                                                                                   "object('total',"
                                                                                   " (SELECT "
                                                                                   "count(*) FROM "
                                                                                   "f), "
                                                                                   "'limit', "
                                                                                   "$11::int, "
                                                                                   "'offset', "
                                                                                   "$12::int, "
                                                                                   "'items', "
                                                                                   "coalesce(("
                                                                                   "SELECT "
                                                                                   "json_"
                                                                                   "agg(" WARN_JSON
                                                                                   " ORDER BY "
                                                                                   "w.issued_at "
                                                                                   "DESC, w.id "
                                                                                   "DESC) FROM "
                                                                                   "(SELECT id "
                                                                                   "FROM f ORDER "
                                                                                   "BY issued_at "
                                                                                   "DESC, id "
                                                                                   "DESC LIMIT "
                                                                                   "$11::int "
                                                                                   "OFFSET "
                                                                                   "$12::int) pg "
                                                                                   "JOIN warnings "
                                                                                   "w ON w.id = "
                                                                                   "pg.id JOIN "
                                                                                   "enterprises e "
                                                                                   "ON e.id = "
                                                                                   "w.enterprise_"
                                                                                   "id), "
                                                                                   "'[]'::json))::"
                                                                                   "text"},
    {"wrn_api_get",
     "SELECT json_build_object('warning', " WARN_JSON
     ", 'score', (SELECT json_build_object('id', rs.id, 'computed_at', rs.computed_at, "
     "'model_version', rs.model_version, 'r', rs.r, 'grade', rs.grade, 'grade_by_score', "
     "rs.grade_by_score, 'override', rs.override, 'override_reason', rs.override_reason, "
     "'parts', json_build_object('i', rs.i, 'a', rs.a, 'h', rs.h, 's', rs.s), 'rules', rs.rules, "
     "'trigger', rs.trigger) FROM risk_scores rs WHERE rs.id = w.score_id), 'events', "
     "coalesce((SELECT json_agg(json_build_object('id', v.id, 'at', v.at, 'action', v.action, "
     "'from_status', v.from_status, 'to_status', v.to_status, 'step', v.step, 'level', v.level, "
     "'actor', v.actor, 'actor_id', v.actor_id, 'note', v.note) ORDER BY v.id) FROM "
     "warning_events v WHERE v.warning_id = w.id), '[]'::json), 'escalations', "
     "coalesce((SELECT json_agg(json_build_object('step', v.step, 'at', v.at, 'level', v.level, "
     "'note', v.note) ORDER BY v.step) FROM warning_events v WHERE v.warning_id = w.id AND "
     "v.action = 'escalate'), '[]'::json), 'supervisions', coalesce((SELECT "
     "json_agg(json_build_object('id', sv.id, 'step', sv.step, 'level', sv.level, 'created_at', "
     "sv.created_at, 'status', sv.status, 'closed_at', sv.closed_at, 'note', sv.note) ORDER BY "
     "sv.step) FROM supervisions sv WHERE sv.warning_id = w.id), '[]'::json), "
     "'enforcement_referrals', coalesce((SELECT json_agg(json_build_object('id', f.id, 'step', "
     "f.step, 'created_at', f.created_at, 'status', f.status, 'note', f.note) ORDER BY f.step) "
     "FROM enforcement_referrals f WHERE f.warning_id = w.id), '[]'::json), 'current_risk', "
     "(SELECT json_build_object('r', er.r, 'grade', er.grade, 'override', er.override, "
     "'computed_at', er.computed_at, 'score_id', er.score_id) FROM enterprise_risk er WHERE "
     "er.enterprise_id = w.enterprise_id))::text FROM warnings w JOIN enterprises e ON e.id = "
     "w.enterprise_id WHERE w.id = $3::bigint AND " SCOPE_ENT("e")},
    {"wrn_api_lock",
     "SELECT w.status, w.grade, w.current_level, w.enterprise_id, e.district_id, "
     "coalesce(e.street_id, 0) FROM warnings w JOIN enterprises e ON e.id = w.enterprise_id "
     "WHERE w.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF w"},
    /* $3 warning $4 status now $5 status after $6 action $7 actor id $8 actor $9 note */
    {"wrn_api_move",
     "WITH u AS (UPDATE warnings w SET status = $5, signed_at = CASE WHEN $6 = 'sign' THEN now() "
     "ELSE w.signed_at END, signed_by = CASE WHEN $6 = 'sign' THEN $7::bigint ELSE w.signed_by "
     "END, feedback = CASE WHEN $6 = 'feedback' THEN $9 ELSE w.feedback END, feedback_at = CASE "
     "WHEN $6 = 'feedback' THEN now() ELSE w.feedback_at END, clear_requested_at = CASE $6 WHEN "
     "'request_clearance' THEN now() WHEN 'return' THEN NULL ELSE w.clear_requested_at END, "
     "cleared_at = CASE WHEN $6 = 'approve' THEN now() ELSE w.cleared_at END, cleared_by = CASE "
     "WHEN $6 = 'approve' THEN $7::bigint ELSE w.cleared_by END, next_check_at = now() FROM "
     "enterprises e WHERE e.id = w.enterprise_id AND w.id = $3::bigint AND w.status = $4 "
     "AND " SCOPE_ENT(
         "e") " RETURNING w.id, w.enterprise_id, w.current_level), ev AS (INSERT INTO "
              "warning_events (warning_id, enterprise_id, action, from_status, to_status, level, "
              "actor_id, actor, note) SELECT id, enterprise_id, $6, $4, $5, current_level, "
              "$7::bigint, $8, $9 FROM u RETURNING id), sv AS (UPDATE supervisions s SET status = "
              "'closed', closed_at = now(), note = CASE WHEN s.note = '' THEN 'warning cleared' "
              "ELSE s.note END FROM u WHERE $6 = 'approve' AND s.warning_id = u.id AND s.status = "
              "'open' RETURNING s.id) SELECT (SELECT id FROM ev), (SELECT count(*) FROM sv)"},
};

typedef struct {
    const char *p[16];
    int n;
    const char *stmt;
    json_t *out;
} q_ctx;

int api_warnings_list(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    char from[32], to[32], lim[16], off[16], eid[24] = "";
    long limit, offset, v;
    const char *grades, *statuses, *overdue, *open, *levels;
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to) ||
        api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset) ||
        api_query_csv(r, "grade", "blue|yellow|orange|red", &grades) ||
        api_query_csv(r, "status", "issued|signed|feedback|clearance_requested|cleared|returned",
                      &statuses) ||
        api_query_csv(r, "level", "enterprise|street|district|city", &levels) ||
        api_query_bool(r, "overdue", &overdue) || api_query_bool(r, "open", &open))
        return 0;
    if (api_req_query(r, "enterprise")) {
        if (api_query_int(r, "enterprise", 0, 1, 0x7fffffffffffffffL, &v))
            return 0;
        snprintf(eid, sizeof eid, "%ld", v);
    }
    snprintf(lim, sizeof lim, "%ld", limit);
    snprintf(off, sizeof off, "%ld", offset);
    q_ctx x = {{kind, sid, api_req_query(r, "district"), api_req_query(r, "street"),
                eid[0] ? eid : NULL, grades, statuses, overdue, from[0] ? from : NULL,
                to[0] ? to : NULL, lim, off, open, api_req_query(r, "cause"), levels},
               15,
               "wrn_api_list",
               NULL};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, x.out ? x.out : json_object());
}

int api_warning_get(api_req *r)
{
    char kind[16], sid[24];
    api_scope_params(api_req_caller(r), kind, sid);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such warning");
    q_ctx x = {{kind, sid, api_req_param(r, "id")}, 3, "wrn_api_get", NULL};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such warning");
    return api_reply_json(r, 200, x.out);
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
    char kind[16], sid[24], aid[24];
    api_scope_params(caller, kind, sid);
    snprintf(aid, sizeof aid, "%lld", (long long)caller->account_id);
    const char *lp[3] = {kind, sid, x->id};
    db_status st;
    PGresult *res = db_exec(c, "wrn_api_lock", 3, lp, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return DB_OK;
    }
    x->found = 1;
    snprintf(x->from, sizeof x->from, "%s", PQgetvalue(res, 0, 0));
    char grade[16], level[16];
    snprintf(grade, sizeof grade, "%s", PQgetvalue(res, 0, 1));
    snprintf(level, sizeof level, "%s", PQgetvalue(res, 0, 2));
    x->enterprise_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    x->district_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    x->street_id = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    PQclear(res);
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
    const char *p[9] = {kind,
                        sid,
                        x->id,
                        x->from,
                        acts[x->act].to,
                        acts[x->act].name,
                        caller->account_id ? aid : NULL,
                        caller->username,
                        x->note};
    res = db_exec(c, "wrn_api_move", 9, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return DB_BAD;
    }
    x->event_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
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
    {
        json_t *d = json_pack("{s:s, s:s, s:I, s:s}", "from", x.from, "to", acts[act].to, "event",
                              (json_int_t)x.event_id, "why", x.note);
        char *ds = json_dumps(d, JSON_COMPACT);
        api_audit(r, action, obj, "ok", ds);
        free(ds);
        json_decref(d);
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
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
