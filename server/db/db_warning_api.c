/* The API's warning statements (db_warning_api.h).  Every statement takes the
 * scope filter's kind and id as $1 and $2 (db_scope_sql.h). */
#include "db_warning_api.h"

#include "db_internal.h"
#include "db_page_sql.h"
#include "db_scope_sql.h"
#include "db_warning_sql.h"

#include <stdio.h>
#include <stdlib.h>

#define WARN_JSON                                                                                  \
    "json_build_object('id', w.id, 'enterprise', json_build_object('id', e.id, 'code', e.code, "   \
    "'name', e.name, 'district_id', e.district_id, 'street_id', e.street_id), 'cause', w.cause, "  \
    "'grade', w.grade, 'score_id', w.score_id, 'issued_at', w.issued_at, 'sign_by', w.sign_by, "   \
    "'clear_by', w.clear_by, 'supervisor', w.supervisor, 'current_level', w.current_level, "       \
    "'inform_city', w.inform_city, 'status', w.status, 'signed_at', w.signed_at, 'signed_by', "    \
    "w.signed_by, 'feedback_at', w.feedback_at, 'feedback', w.feedback, 'clear_requested_at', "    \
    "w.clear_requested_at, 'cleared_at', w.cleared_at, 'cleared_by', w.cleared_by, "               \
    "'escalations_done', w.escalations_done, 'upgraded_at', w.upgraded_at, "                       \
    "'sign_overdue', " WARN_SIGN_OVERDUE("w") ", 'clear_overdue', " WARN_CLEAR_OVERDUE(            \
        "w") ", 'overdue', " WARN_OVERDUE("w") ")"

#define CSV_MATCH(col, n)                                                                          \
    "($" n "::text IS NULL OR " col "::text = ANY(string_to_array($" n ", ',')))"

static const db_stmt statements[] = {
    /* $3 district $4 street $5 enterprise $6 grades $7 statuses $8 overdue $9 from $10 to
     * $11 limit $12 offset $13 open $14 cause $15 current levels $16 industry $17 dust kind
     * $18 the enterprise's risk grade */
    {"wrn_api_list", "WITH f AS (SELECT w.id, w.issued_at FROM warnings w JOIN enterprises e ON "
                     "e.id = "
                     "w.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s "
                     "ON s.id = "
                     "e.street_id WHERE " SCOPE_ENT(
                         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text "
                              "IS NULL OR s.code = $4) AND ($5::bigint IS NULL OR e.id = "
                              "$5::bigint) "
                              "AND " CSV_MATCH("w.grade", "6") " AND " CSV_MATCH("w.status", "7") " AND ($8::boolean IS NULL OR " WARN_OVERDUE(
                                  "w") " = $8::boolean) AND "
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
                                       "AND " CSV_MATCH("w.current_level", "15") " AND " ENT_CLASS(
                                           "e", "16", "17",
                                           "18") ") SELECT "
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
                                                 "agg(" WARN_JSON " ORDER BY "
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
                                                 "CROSS JOIN " ROW_BY_ID(
                                                     "warnings", "w",
                                                     "pg.id") " CROSS JOIN " ROW_BY_ID("enterprise"
                                                                                       "s",
                                                                                       "e",
                                                                                       "w."
                                                                                       "enterprise_"
                                                                                       "id") "), "
                                                                                             "'[]':"
                                                                                             ":json"
                                                                                             "))::"
                                                                                             "tex"
                                                                                             "t"},
    {"wrn_api_get",
     "SELECT json_build_object('warning', " WARN_JSON
     ", 'score', (SELECT json_build_object('id', rs.id, 'computed_at', rs.computed_at, "
     "'model_version', rs.model_version, 'r', rs.r, 'grade', rs.grade, 'grade_by_score', "
     "rs.grade_by_score, 'override', rs.override, 'override_reason', rs.override_reason, "
     "'parts', json_build_object('i', rs.i, 'a', rs.a, 'h', rs.h, 's', rs.s), 'rules', rs.rules, "
     "'trigger', rs.trigger) FROM risk_scores rs WHERE rs.id = w.score_id), 'events', "
     "coalesce((SELECT json_agg(json_build_object('id', v.id, 'at', v.at, 'action', v.action, "
     "'from_status', v.from_status, 'to_status', v.to_status, 'step', v.step, 'level', v.level, "
     "'actor', v.actor, 'actor_id', v.actor_id, 'note', v.note, 'from_grade', v.from_grade, "
     "'to_grade', v.to_grade) ORDER BY v.id) FROM "
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
              "ELSE s.note END FROM u WHERE $6 = 'approve' AND s.warning_id = u.id AND s.status <> "
              "'closed' RETURNING s.id) SELECT (SELECT id FROM ev), (SELECT count(*) FROM sv)"},
};

void db_warning_api_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_warning_api_list(db_conn *c, const db_scope *s, const db_warning_api_filter *f,
                              json_t **out)
{
    char eid[24], lim[24], off[24];
    const char *p[18] = {s->kind,
                         s->id,
                         f->list.district_code,
                         f->list.street_code,
                         f->list.enterprise_id ? db_i64(eid, f->list.enterprise_id) : NULL,
                         f->grades,
                         f->statuses,
                         db_tristate(f->list.overdue),
                         f->list.from,
                         f->list.to,
                         db_i64(lim, f->list.limit),
                         db_i64(off, f->list.offset),
                         db_tristate(f->list.open),
                         f->cause,
                         f->levels,
                         f->list.industry_code,
                         f->list.dust_kind,
                         f->list.risk_grade};
    return db_read_json(c, s, "wrn_api_list", 18, p, out);
}

db_status db_warning_api_get(db_conn *c, const db_scope *s, int64_t warning_id, json_t **out)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, warning_id)};
    return db_read_json(c, s, "wrn_api_get", 3, p, out);
}

db_status db_warning_api_lock(db_conn *c, const db_scope *s, int64_t warning_id,
                              db_warning_api_row *out, int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, warning_id)};
    db_status st;
    PGresult *res = db_exec(c, "wrn_api_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->grade, sizeof out->grade, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->level, sizeof out->level, "%s", PQgetvalue(res, 0, 2));
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_warning_api_move(db_conn *c, const db_scope *s, int64_t warning_id, const char *from,
                              const char *to, const char *action, int64_t actor_id,
                              const char *actor, const char *note, int64_t *event_id)
{
    char id[24], aid[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(id, warning_id),
                        from,
                        to,
                        action,
                        actor_id ? db_i64(aid, actor_id) : NULL,
                        actor,
                        note};
    db_status st;
    PGresult *res = db_exec(c, "wrn_api_move", 9, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return DB_BAD;
    }
    *event_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}
