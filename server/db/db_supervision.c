/* Supervision orders, enforcement referrals and public notices (db_supervision.h,
 * migration 0062).  Scoped statements take the caller's scope kind and id as $1 and $2
 * (db_scope_sql.h). */
#include "db_supervision.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENT_JSON                                                                                   \
    "json_build_object('id', e.id, 'code', e.code, 'name', e.name, 'district_id', "                \
    "e.district_id, 'street_id', e.street_id)"
#define WARN_BRIEF                                                                                 \
    "(SELECT json_build_object('id', w.id, 'grade', w.grade, 'status', w.status, 'cause', "        \
    "w.cause, 'issued_at', w.issued_at, 'clear_by', w.clear_by) FROM warnings w WHERE w.id = "     \
    "x.warning_id)"
#define WHO(col) "(SELECT a.username FROM accounts a WHERE a.id = " col ")"

#define SV_JSON                                                                                    \
    "json_build_object('id', x.id, 'enterprise', " ENT_JSON ", 'warning', " WARN_BRIEF             \
    ", 'step', x.step, 'level', x.level, 'status', x.status, 'created_at', x.created_at, "         \
    "'assigned_to', x.assigned_to, 'assignee', " WHO(                                              \
        "x.assigned_to") ", 'assigned_at', "                                                       \
                         "x.assigned_at, 'response', x.response, 'responded_at', x.responded_at, " \
                         "'responder', " WHO(                                                      \
                             "x.responded_by") ", 'result', x.result, 'closed_at', x.closed_at, "  \
                                               "'note', x.note)"
#define RF_JSON                                                                                    \
    "json_build_object('id', x.id, 'enterprise', " ENT_JSON ", 'warning', " WARN_BRIEF             \
    ", 'step', x.step, 'status', x.status, 'created_at', x.created_at, 'reviewed_at', "            \
    "x.reviewed_at, 'reviewer', " WHO(                                                             \
        "x.reviewed_by") ", 'review_note', x.review_note, "                                        \
                         "'decision_no', x.decision_no, 'penalty_amount', x.penalty_amount, "      \
                         "'decided_on', "                                                          \
                         "x.decided_on, 'outcome', x.outcome, 'closed_at', x.closed_at, 'note', "  \
                         "x.note)"
#define NT_JSON                                                                                    \
    "json_build_object('id', x.id, 'enterprise', CASE WHEN e.id IS NULL THEN NULL ELSE " ENT_JSON  \
    " END, 'warning_id', x.warning_id, "                                                           \
    "'hazard_id', x.hazard_id, 'region', (SELECT json_build_object('id', r.id, 'code', r.code, "   \
    "'name', r.name) FROM regions r WHERE r.id = x.region_id), 'title', x.title, 'body', "         \
    "x.body, 'status', x.status, 'created_at', x.created_at, 'author', " WHO(                      \
        "x.created_by") ", 'approved_at', x.approved_at, 'published_at', x.published_at)"

/* an enterprise reads the published notices of its district, street and city; the
 * government the notices about the enterprises of its scope */
#define NT_VISIBLE                                                                                 \
    "(($1 <> 'enterprise' AND " SCOPE_ENT(                                                         \
        "e") ") OR ($1 = 'enterprise' AND x.status = "                                             \
             "'published' AND x.region_id IN (SELECT y.district_id FROM enterprises y WHERE y.id " \
             "= "                                                                                  \
             "$2::bigint UNION SELECT y.street_id FROM enterprises y WHERE y.id = $2::bigint "     \
             "UNION SELECT "                                                                       \
             "r.parent_id FROM regions r JOIN enterprises y ON r.id = y.district_id WHERE y.id = " \
             "$2::bigint)))"

#define CSV_MATCH(col, n) "($" n "::text IS NULL OR " col " = ANY(string_to_array($" n ", ',')))"

/* $3 district $4 street $5 enterprise $6 levels $7 statuses $8 assigned to $9 open
 * $10 limit $11 offset; oldest first (a work queue) */
#define LIST(table, json, visible, extra)                                                          \
    "WITH q AS (SELECT x.id, x.created_at FROM " table " x JOIN enterprises e ON e.id = "          \
    "x.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "        \
    "e.street_id WHERE " visible " AND ($3::text IS NULL OR d.code = $3) AND ($4::text IS NULL "   \
    "OR s.code = $4) AND ($5::bigint IS NULL OR e.id = $5::bigint) AND " CSV_MATCH(                \
        "x.status",                                                                                \
        "7") " AND ($9::boolean IS NULL OR (x.status NOT IN ('closed', 'rejected', "               \
             "'published')) = $9::boolean) " extra ") SELECT "                                     \
             "json_build_object('total', (SELECT count(*) FROM q), 'limit', $10::int, "            \
             "'offset', $11::int, 'items', coalesce((SELECT json_agg(" json                        \
             " ORDER BY x.created_at, x.id) FROM (SELECT id FROM q ORDER BY "                      \
             "created_at, id LIMIT $10::int OFFSET $11::int) pg JOIN " table                       \
             " x ON x.id = pg.id JOIN enterprises e ON e.id = x.enterprise_id), "                  \
             "'[]'::json))::text"

static const db_stmt statements[] = {
    {"sv_list", LIST("supervisions", SV_JSON, SCOPE_ENT("e"),
                     "AND " CSV_MATCH("x.level", "6") " AND ($8::bigint IS NULL OR "
                                                      "x.assigned_to = $8::bigint)")},
    {"rf_list", LIST("enforcement_referrals", RF_JSON, SCOPE_ENT("e"),
                     "AND ($6::text IS NULL OR true) AND ($8::bigint IS NULL OR true)")},
    /* published notices name enterprises the reader may not see: LEFT JOIN */
    {"nt_list",
     "WITH q AS (SELECT x.id, x.created_at FROM public_notices x LEFT JOIN enterprises e ON e.id "
     "= x.enterprise_id WHERE " NT_VISIBLE " AND ($3::text IS NULL OR e.district_id = (SELECT "
     "r.id FROM regions r WHERE r.code = $3)) AND ($4::text IS NULL OR e.street_id = (SELECT "
     "r.id FROM regions r WHERE r.code = $4)) AND ($5::bigint IS NULL OR x.enterprise_id = "
     "$5::bigint) AND " CSV_MATCH(
         "x.status", "7") " AND ($9::boolean IS NULL OR (x.status <> "
                          "'published') = $9::boolean) AND ($6::text IS NULL OR true) AND "
                          "($8::bigint IS NULL OR "
                          "true)) SELECT json_build_object('total', (SELECT count(*) FROM q), "
                          "'limit', $10::int, "
                          "'offset', $11::int, 'items', coalesce((SELECT json_agg(" NT_JSON
                          " ORDER BY x.created_at "
                          "DESC, x.id DESC) FROM (SELECT id FROM q ORDER BY created_at DESC, id "
                          "DESC LIMIT $10::int "
                          "OFFSET $11::int) pg JOIN public_notices x ON x.id = pg.id LEFT JOIN "
                          "enterprises e ON e.id "
                          "= x.enterprise_id), '[]'::json))::text"},
    {"sv_get",
     "SELECT " SV_JSON "::text FROM supervisions x JOIN enterprises e ON e.id = x.enterprise_id "
     "WHERE x.id = $3::bigint AND " SCOPE_ENT("e")},
    {"rf_get", "SELECT " RF_JSON "::text FROM enforcement_referrals x JOIN enterprises e ON e.id = "
               "x.enterprise_id WHERE x.id = $3::bigint AND " SCOPE_ENT("e")},
    {"nt_get", "SELECT " NT_JSON "::text FROM public_notices x LEFT JOIN enterprises e ON e.id = "
               "x.enterprise_id WHERE x.id = $3::bigint AND " NT_VISIBLE},
    {"sv_lock",
     "SELECT x.status, x.level, x.enterprise_id, e.district_id, coalesce(e.street_id, 0), "
     "coalesce(x.assigned_to, 0) FROM supervisions x JOIN enterprises e ON e.id = "
     "x.enterprise_id WHERE x.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF x"},
    {"rf_lock",
     "SELECT x.status, '', x.enterprise_id, e.district_id, coalesce(e.street_id, 0), 0 FROM "
     "enforcement_referrals x JOIN enterprises e ON e.id = x.enterprise_id WHERE x.id = "
     "$3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF x"},
    {"nt_lock",
     "SELECT x.status, '', x.enterprise_id, e.district_id, coalesce(e.street_id, 0), 0 FROM "
     "public_notices x JOIN enterprises e ON e.id = x.enterprise_id WHERE x.id = $3::bigint "
     "AND $1 <> 'enterprise' AND " SCOPE_ENT("e") " FOR UPDATE OF x"},
    {"sv_assignee",
     "SELECT a.id FROM accounts a JOIN regions r ON r.id = a.region_id WHERE a.id = $3::bigint "
     "AND NOT a.disabled AND a.enterprise_id IS NULL AND " SCOPE_REGION("r")},
    /* $3 id $4 from $5 to $6 action $7 actor $8 text $9 assignee */
    {"sv_move",
     "UPDATE supervisions x SET status = $5, assigned_to = CASE WHEN $6 = 'assign' THEN "
     "$9::bigint ELSE x.assigned_to END, assigned_by = CASE WHEN $6 = 'assign' THEN $7::bigint "
     "ELSE x.assigned_by END, assigned_at = CASE WHEN $6 = 'assign' THEN now() ELSE "
     "x.assigned_at END, response = CASE WHEN $6 = 'respond' THEN $8 ELSE x.response END, "
     "responded_by = CASE WHEN $6 = 'respond' THEN $7::bigint ELSE x.responded_by END, "
     "responded_at = CASE WHEN $6 = 'respond' THEN now() ELSE x.responded_at END, result = CASE "
     "WHEN $6 = 'close' THEN $8 ELSE x.result END, closed_by = CASE WHEN $6 = 'close' THEN "
     "$7::bigint ELSE x.closed_by END, closed_at = CASE WHEN $6 = 'close' THEN now() ELSE "
     "x.closed_at END FROM enterprises e WHERE e.id = x.enterprise_id AND x.id = $3::bigint AND "
     "x.status = $4 AND " SCOPE_ENT("e") " RETURNING x.id"},
    /* $3 id $4 from $5 to $6 action $7 actor $8 text $9 decision no $10 amount $11 date */
    {"rf_move",
     "UPDATE enforcement_referrals x SET status = $5, reviewed_by = CASE WHEN $6 IN ('accept', "
     "'reject') THEN $7::bigint ELSE x.reviewed_by END, reviewed_at = CASE WHEN $6 IN "
     "('accept', 'reject') THEN now() ELSE x.reviewed_at END, review_note = CASE WHEN $6 IN "
     "('accept', 'reject') THEN $8 ELSE x.review_note END, outcome = CASE WHEN $6 = 'close' "
     "THEN $8 ELSE x.outcome END, decision_no = CASE WHEN $6 = 'close' THEN $9 ELSE "
     "x.decision_no END, penalty_amount = CASE WHEN $6 = 'close' THEN $10::numeric ELSE "
     "x.penalty_amount END, decided_on = CASE WHEN $6 = 'close' THEN $11::date ELSE "
     "x.decided_on END, closed_at = CASE WHEN $6 = 'close' THEN now() ELSE x.closed_at END, "
     "closed_by = CASE WHEN $6 = 'close' THEN $7::bigint ELSE x.closed_by END FROM enterprises "
     "e WHERE e.id = x.enterprise_id AND x.id = $3::bigint AND x.status = $4 AND " SCOPE_ENT(
         "e") " RETURNING x.id"},
    /* $3 enterprise $4 warning $5 hazard $6 title $7 body $8 region $9 author */
    {"nt_create",
     "WITH e AS (SELECT e.id, e.name FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
         "e") "), w AS (SELECT w.id, w.grade, w.issued_at, w.clear_by, w.status FROM warnings w, "
              "e WHERE w.id = $4::bigint AND w.enterprise_id = e.id), hz AS (SELECT h.id, "
              "h.title, h.kind, h.major_item, h.deadline FROM hazards h, e WHERE h.id = "
              "$5::bigint AND h.enterprise_id = e.id) INSERT INTO public_notices (enterprise_id, "
              "warning_id, hazard_id, region_id, title, body, created_by) SELECT e.id, (SELECT "
              "id FROM w), (SELECT id FROM hz), $8::bigint, coalesce($6, '关于' || e.name || "
              "CASE WHEN $5::bigint IS NOT NULL THEN '隐患逾期未整改' ELSE '预警逾期未处置' END "
              "|| '的警示通报'), coalesce($7, e.name || coalesce((SELECT '于 ' || "
              "to_char(w.issued_at AT "
              "TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') || ' 收到' || CASE w.grade WHEN "
              "'red' THEN '红色' WHEN 'orange' THEN '橙色' WHEN 'yellow' THEN '黄色' ELSE '蓝色' "
              "END || '预警，至 ' || to_char(w.clear_by AT TIME ZONE 'Asia/Shanghai', "
              "'YYYY-MM-DD HH24:MI') || ' 仍未完成处置消警（当前状态：' || w.status || '）。' FROM "
              "w), '') || coalesce((SELECT '存在' || CASE h.kind WHEN 'major' THEN "
              "'重大事故隐患（第' "
              "|| h.major_item || '项）' ELSE '一般隐患' END || '“' || h.title || '”，整改期限 ' "
              "|| to_char(h.deadline AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD') || ' 已过，仍未"
              "整改销号。' FROM hz h), '') || '现予通报，请各企业引以为戒，举一反三，立即开展自查"
              "自改。'), $9::bigint FROM e WHERE ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM "
              "w)) AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM hz)) RETURNING id"},
    {"nt_move",
     "UPDATE public_notices x SET status = $5, approved_by = CASE WHEN $5 = 'approved' THEN "
     "$6::bigint ELSE x.approved_by END, approved_at = CASE WHEN $5 = 'approved' THEN now() "
     "ELSE x.approved_at END, published_by = CASE WHEN $5 = 'published' THEN $6::bigint ELSE "
     "x.published_by END, published_at = CASE WHEN $5 = 'published' THEN now() ELSE "
     "x.published_at END FROM enterprises e WHERE e.id = x.enterprise_id AND x.id = $3::bigint "
     "AND x.status = $4 AND " SCOPE_ENT("e") " RETURNING x.id"},
    {"nt_candidates",
     "SELECT json_build_object('warnings', coalesce((SELECT json_agg(json_build_object('id', "
     "w.id, 'enterprise', " ENT_JSON ", 'grade', w.grade, 'status', w.status, 'issued_at', "
     "w.issued_at, 'clear_by', w.clear_by) ORDER BY w.clear_by) FROM warnings w JOIN "
     "enterprises e ON e.id = w.enterprise_id WHERE " SCOPE_ENT(
         "e") " AND w.status <> 'cleared' AND (w.clear_by < now() OR (w.status = 'issued' AND "
              "w.sign_by < now())) AND NOT EXISTS (SELECT 1 FROM public_notices n WHERE "
              "n.warning_id = w.id)), '[]'::json), 'hazards', coalesce((SELECT "
              "json_agg(json_build_object('id', h.id, 'enterprise', " ENT_JSON
              ", 'kind', h.kind, 'major_item', h.major_item, 'title', h.title, 'deadline', "
              "h.deadline) "
              "ORDER BY h.deadline) FROM hazards h JOIN enterprises e ON e.id = h.enterprise_id "
              "WHERE " SCOPE_ENT("e") " AND h.status IN ('reported', 'planned', 'rectified', "
                                      "'rejected') AND h.deadline < "
                                      "now() AND NOT EXISTS (SELECT 1 FROM public_notices n WHERE "
                                      "n.hazard_id = h.id)), "
                                      "'[]'::json))::text"},
};

void db_supervision_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_supervision_list(db_conn *c, const db_scope *s, const char *which,
                              const db_supervision_filter *f, json_t **out)
{
    char stmt[16], eid[24], aid[24], lim[24], off[24];
    snprintf(stmt, sizeof stmt, "%s_list", which);
    const char *p[11] = {s->kind,
                         s->id,
                         f->list.district_code,
                         f->list.street_code,
                         f->list.enterprise_id ? db_i64(eid, f->list.enterprise_id) : NULL,
                         f->levels,
                         f->statuses,
                         f->assigned_to ? db_i64(aid, f->assigned_to) : NULL,
                         db_tristate(f->list.open),
                         db_i64(lim, f->list.limit),
                         db_i64(off, f->list.offset)};
    return db_read_json(c, s, stmt, 11, p, out);
}

static db_status get_one(db_conn *c, const db_scope *s, const char *stmt, int64_t id, json_t **out)
{
    char ids[24];
    const char *p[3] = {s->kind, s->id, db_i64(ids, id)};
    return db_read_json(c, s, stmt, 3, p, out);
}

db_status db_supervision_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    return get_one(c, s, "sv_get", id, out);
}

db_status db_referral_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    return get_one(c, s, "rf_get", id, out);
}

db_status db_notice_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    return get_one(c, s, "nt_get", id, out);
}

db_status db_work_lock(db_conn *c, const db_scope *s, const char *which, int64_t id,
                       db_work_row *out, int *found)
{
    char stmt[16], ids[24];
    snprintf(stmt, sizeof stmt, "%s_lock", which);
    const char *p[3] = {s->kind, s->id, db_i64(ids, id)};
    db_status st;
    PGresult *res = db_exec(c, stmt, 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->level, sizeof out->level, "%s", PQgetvalue(res, 0, 1));
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        out->assigned_to = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_supervision_assignee_ok(db_conn *c, const db_scope *s, int64_t account_id, int *ok)
{
    char ids[24];
    const char *p[3] = {s->kind, s->id, db_i64(ids, account_id)};
    db_status st;
    PGresult *res = db_exec(c, "sv_assignee", 3, p, &st);
    if (!res)
        return st;
    *ok = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

static db_status exec_moved(db_conn *c, const char *stmt, int n, const char *const *p)
{
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    int moved = PQntuples(res) == 1;
    PQclear(res);
    return moved ? DB_OK : DB_BAD;
}

db_status db_supervision_move(db_conn *c, const db_scope *s, int64_t id, const char *from,
                              const char *to, const char *action, int64_t actor_id,
                              const char *text, int64_t assignee)
{
    char ids[24], aid[24], asg[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(ids, id),
                        from,
                        to,
                        action,
                        actor_id ? db_i64(aid, actor_id) : NULL,
                        text ? text : "",
                        assignee ? db_i64(asg, assignee) : NULL};
    return exec_moved(c, "sv_move", 9, p);
}

db_status db_referral_move(db_conn *c, const db_scope *s, int64_t id, const char *from,
                           const char *to, const char *action, int64_t actor_id, const char *text,
                           const db_referral_outcome *o)
{
    char ids[24], aid[24];
    const char *p[11] = {s->kind,
                         s->id,
                         db_i64(ids, id),
                         from,
                         to,
                         action,
                         actor_id ? db_i64(aid, actor_id) : NULL,
                         text ? text : "",
                         o ? o->decision_no : NULL,
                         o ? o->penalty_amount : NULL,
                         o ? o->decided_on : NULL};
    return exec_moved(c, "rf_move", 11, p);
}

db_status db_notice_create(db_conn *c, const db_scope *s, int64_t enterprise_id, int64_t warning_id,
                           int64_t hazard_id, const char *title, const char *body,
                           int64_t region_id, int64_t actor_id, int64_t *id)
{
    char eid[24], wid[24], hid[24], rid[24], aid[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(eid, enterprise_id),
                        warning_id ? db_i64(wid, warning_id) : NULL,
                        hazard_id ? db_i64(hid, hazard_id) : NULL,
                        title,
                        body,
                        db_i64(rid, region_id),
                        actor_id ? db_i64(aid, actor_id) : NULL};
    db_status st;
    PGresult *res = db_exec(c, "nt_create", 9, p, &st);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_notice_move(db_conn *c, const db_scope *s, int64_t id, const char *from,
                         const char *to, int64_t actor_id)
{
    char ids[24], aid[24];
    const char *p[6] = {s->kind, s->id, db_i64(ids, id),
                        from,    to,    actor_id ? db_i64(aid, actor_id) : NULL};
    return exec_moved(c, "nt_move", 6, p);
}

db_status db_notice_candidates(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "nt_candidates", 2, p, out);
}
