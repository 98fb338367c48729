/* The API's risk statements (db_risk_api.h).  Every statement takes the scope
 * filter's kind and id as $1 and $2 (db_scope_sql.h). */
#include "db_risk_api.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#define SCORE_JSON(rs)                                                                             \
    "json_build_object('id', " rs ".id, 'computed_at', " rs ".computed_at, 'model_version', " rs   \
    ".model_version, 'r', " rs ".r, 'grade', " rs ".grade, 'grade_by_score', " rs                  \
    ".grade_by_score, 'override', " rs ".override, 'override_reason', " rs ".override_reason, "    \
    "'parts', json_build_object('i', " rs ".i, 'a', " rs ".a, 'h', " rs ".h, 's', " rs ".s), "     \
    "'trigger', " rs ".trigger"

#define ENT_VISIBLE                                                                                \
    "EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT("e") ")"

#define GRADE_COUNTS(t)                                                                            \
    "json_build_object('blue', count(*) FILTER (WHERE " t ".grade = 'blue'), 'yellow', count(*) "  \
    "FILTER (WHERE " t ".grade = 'yellow'), 'orange', count(*) FILTER (WHERE " t ".grade = "       \
    "'orange'), 'red', count(*) FILTER (WHERE " t ".grade = 'red'), 'unscored', count(*) FILTER "  \
    "(WHERE " t ".grade IS NULL))"

/* the grade first (an override makes an enterprise red whatever its R), then R */
#define GRADE_RANK "array_position(ARRAY['blue', 'yellow', 'orange', 'red'], er.grade)"

static const db_stmt statements[] = {
    {"rsk_api_current",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN json_build_object('enterprise_id', $3::bigint, "
     "'current', (SELECT " SCORE_JSON(
         "rs") ", 'rules', rs.rules, 'inputs', rs.inputs) FROM "
               "enterprise_risk er JOIN risk_scores rs ON rs.id = er.score_id WHERE "
               "er.enterprise_id = "
               "$3::bigint), 'open_warnings', coalesce((SELECT json_agg(json_build_object('id', "
               "w.id, "
               "'cause', w.cause, 'grade', w.grade, 'status', w.status, 'issued_at', w.issued_at, "
               "'current_level', w.current_level) ORDER BY w.issued_at DESC) FROM warnings w WHERE "
               "w.enterprise_id = $3::bigint AND w.status <> 'cleared'), '[]'::json), "
               "'open_alarms', "
               "(SELECT count(*) FROM alarms a WHERE a.enterprise_id = $3::bigint AND a.state <> "
               "'closed')) END::text"},
    /* $3 enterprise $4 from $5 to $6 limit $7 changes only */
    {"rsk_api_history",
     "SELECT CASE WHEN " ENT_VISIBLE " THEN json_build_object('enterprise_id', $3::bigint, "
     "'items', coalesce((SELECT json_agg(" SCORE_JSON(
         "h") ") ORDER BY h.computed_at DESC, h.id "
              "DESC) FROM (SELECT * FROM (SELECT rs.*, lag(rs.grade) OVER (ORDER BY "
              "rs.computed_at, rs.id) "
              "AS prev FROM risk_scores rs WHERE rs.enterprise_id = $3::bigint AND "
              "($4::timestamptz IS "
              "NULL OR rs.computed_at >= $4::timestamptz) AND ($5::timestamptz IS NULL OR "
              "rs.computed_at "
              "< $5::timestamptz)) h0 WHERE NOT coalesce($7::boolean, false) OR h0.prev IS "
              "DISTINCT FROM "
              "h0.grade ORDER BY h0.computed_at DESC, h0.id DESC LIMIT $6::int) h), '[]'::json)) "
              "END::text"},
    /* $3 district code $4 street code */
    {"rsk_api_distribution",
     "WITH x AS (SELECT e.id, e.district_id, e.street_id, er.grade FROM enterprises e JOIN "
     "regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = e.street_id LEFT JOIN "
     "enterprise_risk er ON er.enterprise_id = e.id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS "
              "NULL OR d.code = $3) AND ($4::text IS NULL OR s.code = $4)) SELECT "
              "json_build_object("
              "'enterprises', (SELECT count(*) FROM x), 'by_grade', (SELECT " GRADE_COUNTS(
                  "x") " FROM x), "
                       "'by_district', coalesce((SELECT json_agg(json_build_object('id', r.id, "
                       "'code', r.code, "
                       "'name', r.name, 'by_grade', g.c) ORDER BY r.code) FROM (SELECT "
                       "x.district_id AS rid, " GRADE_COUNTS(
                           "x") " AS c FROM x GROUP BY 1) g JOIN regions r ON r.id = g.rid), "
                                "'[]'::json), "
                                "'by_street', coalesce((SELECT json_agg(json_build_object('id', "
                                "r.id, 'code', "
                                "r.code, 'name', r.name, 'by_grade', g.c) ORDER BY r.code) FROM "
                                "(SELECT "
                                "x.street_id AS rid, " GRADE_COUNTS(
                                    "x") " AS c FROM x WHERE x.street_id IS NOT "
                                         "NULL GROUP BY 1) g JOIN regions r ON r.id "
                                         "= g.rid), '[]'::json), 'generated_at', "
                                         "now())::text"},
    /* $3 limit $4 district code $5 street code $6 grades $7 offset: a page of the ranking and
     * the count of all (the dashboard's maps colour every enterprise, page by page) */
    {"rsk_api_ranking",
     "WITH z AS (SELECT row_number() OVER (ORDER BY " GRADE_RANK " DESC, er.r DESC, e.id) AS "
     "rank, e.id, e.code, e.name, e.district_id, e.street_id, er.r, er.grade, er.override, "
     "er.computed_at FROM enterprises e JOIN enterprise_risk er ON er.enterprise_id = e.id JOIN "
     "regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($4::text IS NULL OR d.code = $4) AND ($5::text IS NULL OR s.code = $5) AND "
              "($6::text IS NULL OR er.grade = ANY(string_to_array($6, ',')))) "
              "SELECT json_build_object('total', (SELECT count(*) FROM z), 'limit', $3::int, "
              "'offset', $7::int, 'items', coalesce(json_agg(json_build_object('rank', p.rank, "
              "'enterprise', json_build_object('id', p.id, 'code', p.code, 'name', p.name, "
              "'district_id', p.district_id, 'street_id', p.street_id), 'r', p.r, 'grade', "
              "p.grade, 'override', p.override, 'computed_at', p.computed_at, 'open_warnings', "
              /* counted for the page's rows only */
              "(SELECT count(*) FROM warnings w WHERE w.enterprise_id = p.id AND w.status <> "
              "'cleared')) ORDER BY p.rank), '[]'::json))::text FROM (SELECT * FROM z ORDER BY "
              "z.rank LIMIT $3::int OFFSET $7::int) p"},
    /* the overview's alarm, warning and grade numbers */
    {"rsk_api_overview",
     "WITH ents AS (SELECT e.id FROM enterprises e WHERE " SCOPE_ENT(
         "e") "), al AS (SELECT "
              "a.state, a.level, a.cleared_at, ((a.state = 'active' AND a.ack_deadline < now()) OR "
              "(a.state IN ('active', 'acknowledged') AND a.handle_deadline < now())) AS overdue "
              "FROM "
              "alarms a JOIN ents ON ents.id = a.enterprise_id WHERE a.state <> 'closed'), wr AS "
              "(SELECT "
              "w.grade, w.status, ((w.status = 'issued' AND w.sign_by < now()) OR (w.status NOT IN "
              "('clearance_requested', 'cleared') AND w.clear_by < now())) AS overdue FROM "
              "warnings w "
              "JOIN ents ON ents.id = w.enterprise_id WHERE w.status <> 'cleared') SELECT "
              "json_build_object('alarms', (SELECT json_build_object('open', count(*), 'active', "
              "count(*) FILTER (WHERE cleared_at IS NULL), 'overdue', count(*) FILTER (WHERE "
              "overdue), "
              "'by_state', json_build_object('active', count(*) FILTER (WHERE state = 'active'), "
              "'acknowledged', count(*) FILTER (WHERE state = 'acknowledged'), 'handled', count(*) "
              "FILTER (WHERE state = 'handled')), 'by_level', json_build_object('0', count(*) "
              "FILTER "
              "(WHERE level = 0), '1', count(*) FILTER (WHERE level = 1), '2', count(*) FILTER "
              "(WHERE "
              "level = 2))) FROM al), 'warnings', (SELECT json_build_object('open', count(*), "
              "'overdue', "
              "count(*) FILTER (WHERE overdue), 'by_grade', json_build_object('blue', count(*) "
              "FILTER "
              "(WHERE grade = 'blue'), 'yellow', count(*) FILTER (WHERE grade = 'yellow'), "
              "'orange', "
              "count(*) FILTER (WHERE grade = 'orange'), 'red', count(*) FILTER (WHERE grade = "
              "'red')), "
              "'clearance_requested', count(*) FILTER (WHERE status = 'clearance_requested')) FROM "
              "wr), "
              "'risk_grades', (SELECT " GRADE_COUNTS(
                  "er") " FROM ents LEFT JOIN enterprise_risk er ON "
                        "er.enterprise_id = ents.id))::text"},
};

void db_risk_api_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_risk_api_current(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "rsk_api_current", 3, p, out);
}

db_status db_risk_api_history(db_conn *c, const db_scope *s, int64_t enterprise_id,
                              const char *from, const char *to, long limit, int grade_changes_only,
                              json_t **out)
{
    char eid[24], lim[24];
    const char *p[7] = {s->kind,
                        s->id,
                        db_i64(eid, enterprise_id),
                        from,
                        to,
                        db_i64(lim, limit),
                        db_tristate(grade_changes_only)};
    return db_read_json(c, s, "rsk_api_history", 7, p, out);
}

db_status db_risk_api_distribution(db_conn *c, const db_scope *s, const char *district_code,
                                   const char *street_code, json_t **out)
{
    const char *p[4] = {s->kind, s->id, district_code, street_code};
    return db_read_json(c, s, "rsk_api_distribution", 4, p, out);
}

db_status db_risk_api_ranking(db_conn *c, const db_scope *s, long limit, long offset,
                              const char *district_code, const char *street_code,
                              const char *grades, json_t **out)
{
    char lim[24], off[24];
    const char *p[7] = {s->kind,     s->id,  db_i64(lim, limit), district_code,
                        street_code, grades, db_i64(off, offset)};
    return db_read_json(c, s, "rsk_api_ranking", 7, p, out);
}

db_status db_risk_api_overview(db_conn *c, const char *scope_kind, const char *scope_id,
                               json_t **out)
{
    const char *p[2] = {scope_kind, scope_id};
    return db_exec_json(c, "rsk_api_overview", 2, p, out);
}
