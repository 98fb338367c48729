#include "db_overview.h"

#include "db_connected_sql.h"
#include "db_filing_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"

static const db_stmt statements[] = {
    {"overview",
     "WITH ents AS (SELECT e.* FROM enterprises e WHERE " SCOPE_ENT(
         "e") "), "
              /* the points a filing covers now, as one set (db_filing_sql.h) */
              "fc AS (SELECT DISTINCT q.id FROM filings f JOIN ents ON ents.id = "
              "f.enterprise_id "
              "JOIN points q ON q.enterprise_id = f.enterprise_id "
              "WHERE " FILING_IN_FORCE_AT("f", "now()") " AND " FILING_COVERS(
                  "f", "q") "), "
                            "pts AS (SELECT p.id, p.enterprise_id, p.param_class, "
                            "coalesce(l.collected_at > "
                            "now() - "
                            "make_interval(secs => 3 * p.expected_interval_s), false) AS "
                            "online, "
                            "coalesce(l.collected_at > now() - make_interval(secs => $3::int), "
                            "false) AS recent, "
                            /* filed: an approved 停产/检修 filing covers the point now, so a silent
                               point is no deficit of the online rate */
                            "p.id IN (SELECT fc.id FROM fc) AS filed FROM points p JOIN ents ON "
                            "ents.id = "
                            "p.enterprise_id LEFT JOIN point_latest l ON l.point_id = p.id "
                            "WHERE "
                            "p.enabled) "
                            "SELECT "
                            "json_build_object('enterprises', (SELECT count(*) FROM ents), "
                            "'connected', " CONNECTED_COUNT(
                                "pts") ", 'online', (SELECT "
                                       "count(DISTINCT "
                                       "enterprise_id) FROM pts WHERE online), 'points', "
                                       "(SELECT "
                                       "count(*) FROM pts), "
                                       "'points_online', (SELECT count(*) FROM pts WHERE "
                                       "online), "
                                       "'points_filed', (SELECT count(*) FROM pts WHERE filed "
                                       "AND NOT online), "
                                       "'mandatory_online_rate', "
                                       "(SELECT "
                                       "round(avg(CASE WHEN online THEN 1 ELSE 0 END)::numeric, "
                                       "4) FROM "
                                       "pts WHERE "
                                       "param_class = "
                                       "'mandatory' AND (online OR NOT filed)), 'by_status', "
                                       "(SELECT "
                                       "coalesce(json_object_agg(status, n), '{}'::json) "
                                       "FROM "
                                       "(SELECT status, count(*) n FROM ents GROUP BY status) "
                                       "s), "
                                       "'by_dust_kind', (SELECT "
                                       "coalesce(json_object_agg(k, n), '{}'::json) FROM "
                                       "(SELECT "
                                       "unnest(dust_kinds) k, "
                                       "count(*) n "
                                       "FROM ents GROUP BY 1) s), 'by_street', (SELECT "
                                       "coalesce(json_agg(json_build_object('id', "
                                       "r.id, 'code', r.code, 'name', r.name, 'enterprises', "
                                       "s.n) ORDER "
                                       "BY r.code), "
                                       "'[]'::json) "
                                       "FROM (SELECT street_id, count(*) n FROM ents WHERE "
                                       "street_id IS "
                                       "NOT NULL GROUP BY "
                                       "1) s JOIN "
                                       "regions r ON r.id = s.street_id), 'by_district', "
                                       "(SELECT "
                                       "coalesce(json_agg(json_build_object('id', r.id, 'code', "
                                       "r.code, "
                                       "'name', r.name, "
                                       "'enterprises', s.n) ORDER BY r.code), '[]'::json) FROM "
                                       "(SELECT "
                                       "district_id, "
                                       "count(*) n FROM "
                                       "ents GROUP BY 1) s JOIN regions r ON r.id = "
                                       "s.district_id), "
                                       "'generated_at', "
                                       "now())::text"},
};

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
