/* Onboarding (db_onboarding.h); cohorts and mandatory kinds are tables (migration 0075). */
#include "db_onboarding.h"

#include "db_connected_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"
#include "srv_config.h"

#include <stdlib.h>

/* The SQL is laid out by hand, a clause or two per line (clang-format rewrapped it mid-clause). */
/* clang-format off */
/* The enterprises asked for ($1, $2 scope; $5 district, $6 street code); cond: "", or more
 * (those registered by a past moment) */
#define ONB_E0(cond)                                                                               \
    "WITH e0 AS (SELECT e.id, e.code AS ent_code, e.name, e.street_id, e.dust_workers, "          \
        "e.dust_kinds FROM enterprises e JOIN regions d ON d.id = e.district_id "                  \
        "LEFT JOIN regions s ON s.id = e.street_id "                                               \
        "WHERE " SCOPE_ENT("e") " AND ($5::text IS NULL OR d.code = $5) "                          \
        "AND ($6::text IS NULL OR s.code = $6) " cond "), "
/* From the points of e0 (pn, POINTS_NOW_CTE's columns): each cohort ($4: only that one) with its
 * enterprises in scope, connected and online, and per street the same and its laggards; a
 * milestone is due when its day has ended at moment "at" */
#define ONB_COHORTS(at)                                                                            \
    "ents AS (SELECT e0.*, " NOW_CONNECTED("pn") " AS connected, "                                 \
        "coalesce(pn.points_online > 0, false) AS online, pn.last_data_at "                        \
        "FROM e0 LEFT JOIN pn ON pn.eid = e0.id), "                                                \
    "co AS (SELECT * FROM onboarding_cohorts WHERE $4::text IS NULL OR code = $4), "              \
    "m AS (SELECT co.code, ents.* FROM co JOIN ents ON (co.dust_categories IS NULL OR EXISTS "    \
        "(SELECT 1 FROM dust_kinds k WHERE k.code = ANY (ents.dust_kinds) "                        \
        "AND k.category = ANY (co.dust_categories))) "                                             \
        "AND (co.min_dust_workers IS NULL "                                                        \
        "OR coalesce(ents.dust_workers, 0) >= co.min_dust_workers)) "                              \
    "SELECT json_build_object('connected_window_s', $3::int, 'as_of', " at ", "                    \
        "'cohorts', coalesce((SELECT "                                                             \
        "json_agg(json_build_object('code', co.code, 'name', co.name, "                            \
        "'milestone', co.milestone, 'dust_categories', co.dust_categories, "                       \
        "'min_dust_workers', co.min_dust_workers, "                                                \
        "'due', co.milestone < (" at " AT TIME ZONE 'Asia/Shanghai')::date, "                      \
        "'in_scope', t.n, 'connected', t.c, 'online', t.o, "                                       \
        "'rate', CASE WHEN t.n > 0 THEN round(t.c::numeric / t.n, 4) END, "                        \
        "'streets', coalesce((SELECT json_agg(json_build_object('id', x.street_id, "               \
            "'code', r.code, 'name', r.name, 'in_scope', x.n, 'connected', x.c, "                  \
            "'online', x.o, 'laggards', x.lag) ORDER BY r.code NULLS LAST) "                       \
            "FROM (SELECT m.street_id, count(*) AS n, count(*) FILTER (WHERE m.connected) AS c, "  \
                "count(*) FILTER (WHERE m.online) AS o, "                                          \
                "coalesce(json_agg(json_build_object('id', m.id, 'code', m.ent_code, "             \
                "'name', m.name, 'last_data_at', m.last_data_at) ORDER BY m.ent_code) "            \
                "FILTER (WHERE NOT m.connected), '[]'::json) AS lag "                              \
                "FROM m WHERE m.code = co.code GROUP BY m.street_id) x "                           \
            "LEFT JOIN regions r ON r.id = x.street_id), '[]'::json)) "                            \
        "ORDER BY co.milestone, co.code) "                                                         \
        "FROM co CROSS JOIN LATERAL (SELECT count(*) AS n, "                                       \
            "count(*) FILTER (WHERE m.connected) AS c, count(*) FILTER (WHERE m.online) AS o "     \
            "FROM m WHERE m.code = co.code) t), '[]'::json))::text"
static const db_stmt statements[] = {
    /* $3 window (s) $4 cohort $5 district code $6 street code */
    {"onb_progress",
     ONB_E0("")
     POINTS_NOW_CTE("pn", "p.enterprise_id IN (SELECT e0.id FROM e0)",
                    "l.enterprise_id IN (SELECT e0.id FROM e0)", "$3::int") ", "
     ONB_COHORTS("now()")},
    /* the same at $7 (epoch s, whole hours, below the rollup watermark), of the enterprises
     * registered by then: $8 = $7 less the window, the last data looked for since $9 */
    {"onb_progress_at",
     ONB_E0("AND e.created_at < to_timestamp($7::float8)")
     POINTS_AT_CTE("pn", "p.enterprise_id IN (SELECT e0.id FROM e0)", "to_timestamp($7::float8)",
                   "to_timestamp($8::float8)", "to_timestamp($9::float8)") ", "
     ONB_COHORTS("to_timestamp($7::float8)")},
    /* $3 district code $4 street code */
    {"onb_conformance",
     "WITH sys AS (SELECT s.id, s.code, s.name, s.enterprise_id, e.code AS ent_code, "
         "e.name AS ent_name, CASE WHEN NOT s.wet THEN 'dry' "
         "WHEN e.dust_kinds && ARRAY['aluminium', 'magnesium', 'al_mg_alloy'] THEN 'wet_al_mg' "
         "ELSE 'wet' END AS type "
         "FROM dust_systems s JOIN enterprises e ON e.id = s.enterprise_id "
         "JOIN regions d ON d.id = e.district_id LEFT JOIN regions st ON st.id = e.street_id "
         "WHERE " SCOPE_ENT("e") " AND ($3::text IS NULL OR d.code = $3) "
         "AND ($4::text IS NULL OR st.code = $4)), "
     "req AS (SELECT sys.id, k.kind FROM sys JOIN mandatory_point_kinds k "
         "ON k.system_type = sys.type OR (sys.type = 'wet_al_mg' AND k.system_type = 'wet')), "
     /* the missing kinds' names too: the page and the export name them as the points page does */
     "miss AS (SELECT req.id, array_agg(req.kind ORDER BY req.kind) AS missing, "
         "json_agg(json_build_object('code', req.kind, 'name_zh', ik.name_zh, "
             "'name_en', ik.name_en) ORDER BY req.kind) AS missing_kinds "
         "FROM req JOIN indicator_kinds ik ON ik.code = req.kind "
         "WHERE NOT EXISTS (SELECT 1 FROM points p WHERE p.system_id = req.id AND p.enabled "
         "AND p.kind = req.kind) GROUP BY 1) "
     "SELECT json_build_object('systems', (SELECT count(*) FROM sys), "
         "'conforming', (SELECT count(*) FROM sys "
             "WHERE NOT EXISTS (SELECT 1 FROM miss WHERE miss.id = sys.id)), "
         "'enterprises_nonconforming', (SELECT count(DISTINCT sys.enterprise_id) FROM sys "
             "JOIN miss ON miss.id = sys.id), "
         "'by_type', (SELECT coalesce(json_object_agg(z.type, z.n), '{}'::json) "
             "FROM (SELECT type, count(*) AS n FROM sys GROUP BY 1) z), "
         "'required', (SELECT json_object_agg(z.system_type, z.kinds) "
             "FROM (SELECT system_type, array_agg(kind ORDER BY kind) AS kinds "
             "FROM mandatory_point_kinds GROUP BY 1) z), "
         "'nonconforming', coalesce((SELECT json_agg(json_build_object("
             "'enterprise', json_build_object('id', sys.enterprise_id, 'code', sys.ent_code, "
             "'name', sys.ent_name), "
             "'system', json_build_object('id', sys.id, 'code', sys.code, 'name', sys.name, "
             "'type', sys.type, 'type_label', json_build_object('zh', tl.zh, 'en', tl.en)), "
             "'missing', miss.missing, 'missing_kinds', miss.missing_kinds) "
             "ORDER BY sys.ent_code, sys.code) "
             "FROM sys JOIN miss ON miss.id = sys.id LEFT JOIN labels tl "
             "ON tl.domain = 'system_type' AND tl.code = sys.type), '[]'::json))::text"},
    {"onb_rolled_to", "SELECT extract(epoch FROM rolled_to)::bigint FROM rollup_state"},
    /* $1 window (s) */
    {"onb_refresh_connections",
     "WITH e0 AS (SELECT e.id FROM enterprises e WHERE e.connection_status <> 'suspended'), "
     POINTS_NOW_CTE("pn", "true", "true", "$1::int") ", "
     "d AS (SELECT e0.id, CASE WHEN " NOW_CONNECTED("pn") " THEN 'connected' "
         "ELSE 'not_connected' END AS st FROM e0 LEFT JOIN pn ON pn.eid = e0.id) "
     "UPDATE enterprises e SET connection_status = d.st, connected_at = CASE WHEN d.st = "
         "'connected' THEN coalesce(e.connected_at, now()) ELSE e.connected_at END "
     "FROM d WHERE d.id = e.id AND e.connection_status <> d.st "
     /* rechecked on the row's latest version when it changed since the snapshot: a
      * suspension committed meanwhile stays (e0 alone, read from the snapshot, overwrote it) */
     "AND e.connection_status <> 'suspended'"},
};
/* clang-format on */

void db_onboarding_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* How far before a past moment its laggards' last data is looked for: three monthly
 * partitions of rollup_hour, the fourth partly */
#define LAST_DATA_LOOKBACK_S (92L * 86400)

db_status db_onboarding_progress(db_conn *c, const db_scope *s, long window_s, time_t at,
                                 const char *cohort_code, const char *district_code,
                                 const char *street_code, json_t **out)
{
    char w[24], t[24], recent[24], since[24];
    /* whole hours: the rollups' grain */
    long long win = window_s > 3600 ? window_s - window_s % 3600 : 3600;
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(w, window_s),
                        cohort_code,
                        district_code,
                        street_code,
                        db_i64(t, (long long)at),
                        db_i64(recent, (long long)at - win),
                        db_i64(since, (long long)at - win - LAST_DATA_LOOKBACK_S)};
    return at ? db_read_json_plan(c, s, "onb_progress_at", 9, p, DB_PLAN_CUSTOM, out)
              : db_read_json_plan(c, s, "onb_progress", 6, p, DB_PLAN_CUSTOM, out);
}

db_status db_onboarding_conformance(db_conn *c, const db_scope *s, const char *district_code,
                                    const char *street_code, json_t **out)
{
    const char *p[4] = {s->kind, s->id, district_code, street_code};
    return db_read_json_plan(c, s, "onb_conformance", 4, p, DB_PLAN_CUSTOM, out);
}

db_status db_onboarding_at_check(db_conn *c, time_t now, time_t at, db_onboarding_at_answer *answer,
                                 time_t *rolled_to)
{
    *rolled_to = 0;
    /* the look-back before at too: a laggard's last data is looked for that far back */
    long days = g_config.rollup_hour_retention_days;
    if (at > now) {
        *answer = DB_ONB_AT_NOT_ENDED;
        return DB_OK;
    }
    if (days > 0 && at - LAST_DATA_LOOKBACK_S <= now - days * 86400L) {
        *answer = DB_ONB_AT_NOT_KEPT;
        return DB_OK;
    }
    db_status st;
    /* rollup_state has no row-level security: unscoped */
    PGresult *r = db_exec(c, "onb_rolled_to", 0, NULL, &st);
    if (!r)
        return st;
    if (PQntuples(r) == 1)
        *rolled_to = (time_t)strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    *answer = *rolled_to >= at ? DB_ONB_AT_OK : DB_ONB_AT_NOT_ROLLED;
    return DB_OK;
}

db_status db_onboarding_refresh_connections(db_conn *c, long window_s, long *changed)
{
    char w[24];
    const char *p[1] = {db_i64(w, window_s)};
    db_status st;
    PGresult *res = db_exec(c, "onb_refresh_connections", 1, p, &st);
    if (!res)
        return st;
    *changed = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return DB_OK;
}
