#include "db_overview.h"

#include "db_connected_sql.h"
#include "db_filing_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"

/* The SQL is laid out by hand, a clause or two per line (clang-format rewrapped it mid-clause). */
/* clang-format off */
static const db_stmt statements[] = {
    /* $3 connected window (s) */
    {"overview",
     "WITH ents AS (SELECT e.* FROM enterprises e WHERE " SCOPE_ENT("e") "), "
     /* the enabled points a filing covers now, as one set (db_filing_sql.h); ents a semi-join
      * (joined, it was scanned again for every filing: 74.8 -> 33.4 ms for the statement with
      * 20 filings in force, EXPLAIN ANALYZE at 2,000 enterprises) */
     "fc AS (SELECT DISTINCT q.id FROM filings f "
         "JOIN points q ON q.enterprise_id = f.enterprise_id AND q.enabled "
         "WHERE f.enterprise_id IN (SELECT ents.id FROM ents) "
         "AND " FILING_IN_FORCE_AT("f", "now()") " AND " FILING_COVERS("f", "q") "), "
     /* The points now per enterprise (db_connected_sql.h; every enabled point joined to its
      * latest reading: 125.9 -> 74.8 ms, EXPLAIN ANALYZE at 2,000 enterprises); only the filed
      * ones (fp: a silent point under an approved 停产/检修 filing is no deficit of the online
      * rate) need a look of their own, online as POINTS_NOW_CTE judges it (online_s). */
     POINTS_NOW_CTE("pn", "p.enterprise_id IN (SELECT ents.id FROM ents)",
                    "l.enterprise_id IN (SELECT ents.id FROM ents)", "$3::int") ", "
     "fp AS (SELECT p.param_class = 'mandatory' AS mandatory FROM points p "
         "JOIN fc ON fc.id = p.id LEFT JOIN point_latest l ON l.point_id = p.id "
         "WHERE NOT coalesce(" LATEST_ONLINE("l") ", false)), "
     "t AS (SELECT coalesce(sum(pn.points), 0) AS points, "
         "coalesce(sum(pn.points_online), 0) AS points_online, "
         "count(*) FILTER (WHERE " NOW_CONNECTED("pn") ") AS connected, "
         "count(*) FILTER (WHERE pn.points_online > 0) AS online, "
         "coalesce(sum(pn.mandatory), 0) AS mandatory, "
         "coalesce(sum(pn.mandatory_online), 0) AS mandatory_online FROM pn) "
     "SELECT json_build_object('enterprises', (SELECT count(*) FROM ents), "
         "'connected', t.connected, 'online', t.online, 'points', t.points, "
         "'points_online', t.points_online, "
         "'points_filed', (SELECT count(*) FROM fp), "
         /* of the mandatory points, those online; a filed silent one counts neither way */
         "'mandatory_online_rate', (SELECT CASE WHEN t.mandatory - count(*) > 0 THEN "
             "round(t.mandatory_online::numeric / (t.mandatory - count(*)), 4) END "
             "FROM fp WHERE fp.mandatory), "
         "'by_status', (SELECT coalesce(json_object_agg(status, n), '{}'::json) "
             "FROM (SELECT status, count(*) n FROM ents GROUP BY status) s), "
         "'by_dust_kind', (SELECT coalesce(json_object_agg(k, n), '{}'::json) "
             "FROM (SELECT unnest(dust_kinds) k, count(*) n FROM ents GROUP BY 1) s), "
         "'by_street', (SELECT coalesce(json_agg(json_build_object('id', r.id, 'code', r.code, "
             "'name', r.name, 'enterprises', s.n) ORDER BY r.code), '[]'::json) "
             "FROM (SELECT street_id, count(*) n FROM ents WHERE street_id IS NOT NULL "
             "GROUP BY 1) s JOIN regions r ON r.id = s.street_id), "
         "'by_district', (SELECT coalesce(json_agg(json_build_object('id', r.id, 'code', "
             "r.code, 'name', r.name, 'enterprises', s.n) ORDER BY r.code), '[]'::json) "
             "FROM (SELECT district_id, count(*) n FROM ents GROUP BY 1) s "
             "JOIN regions r ON r.id = s.district_id), "
         "'generated_at', now())::text FROM t"},
};
/* clang-format on */

void db_overview_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_overview_get(db_conn *c, const db_scope *s, long connected_window_s, json_t **out)
{
    char w[24];
    const char *p[3] = {s->kind, s->id, db_i64(w, connected_window_s)};
    return db_exec_json(c, "overview", 3, p, out);
}
