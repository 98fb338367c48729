/* "Connected" as the statistics, the onboarding view, the overview and the worker's
 * connection_status all derive it (private to server/db): the enterprise has enabled mandatory
 * points and every one of them sent data within window seconds (a parameter, e.g. "$3::int").
 * Set-based: counted per enterprise over all of them at once, not a correlated lookup per
 * enterprise, which row-level security makes slow at city scale. */
#ifndef DW_DB_CONNECTED_SQL_H
#define DW_DB_CONNECTED_SQL_H

/* The points now, per enterprise: a CTE name(eid, points, points_online, mandatory,
 * mandatory_recent, mandatory_online, last_data_at), one row per enterprise with enabled
 * points:
 *   points            its enabled points
 *   points_online     those whose latest reading is within 3 expected intervals (online_s)
 *   mandatory         its enabled mandatory points
 *   mandatory_recent  those that sent data within window seconds
 *   mandatory_online  those online
 *   last_data_at      the newest reading of an enabled point (NULL: none)
 * Counted apart, per enterprise, and the two counts joined: the enabled points index-only
 * (points_enabled_enterprise_idx), the latest readings by the point settings point_latest
 * carries (online_s, mandatory; migration 0151), a disabled point's left out by
 * points_disabled_idx.  Joined point by point to point_latest, the same figures were ~28 of a
 * statistic's ~70 ms (a week by enterprise's part B), and the onboarding view with two such
 * passes took 117-146 ms against 54-58 (EXPLAIN ANALYZE at 2,000 enterprises × 20 points).
 * pcond and lcond narrow the points (alias p) and the latest readings (alias l) to the
 * enterprises asked for, or a statement's part; rows of others are dropped where the caller
 * joins name to its enterprises. */
/* a latest reading (point_latest, alias l) that is online: within 3 expected intervals of its
 * point (online_s, migration 0151) */
#define LATEST_ONLINE(l) l ".collected_at > now() - make_interval(secs => " l ".online_s)"

/* clang-format off */
#define POINTS_NOW_CTE(name, pcond, lcond, window)                                                 \
    name " AS (SELECT pn.eid, pn.points, coalesce(lo.points_online, 0) AS points_online, "         \
        "pn.mandatory, coalesce(lo.mandatory_recent, 0) AS mandatory_recent, "                     \
        "coalesce(lo.mandatory_online, 0) AS mandatory_online, lo.last_data_at FROM ("             \
        "SELECT p.enterprise_id AS eid, count(*) AS points, "                                      \
            "count(*) FILTER (WHERE p.param_class = 'mandatory') AS mandatory "                    \
            "FROM points p WHERE p.enabled AND " pcond " GROUP BY 1) pn "                          \
        "LEFT JOIN (SELECT l.enterprise_id AS eid, "                                               \
            "count(*) FILTER (WHERE " LATEST_ONLINE("l") ") AS points_online, "                    \
            "count(*) FILTER (WHERE l.mandatory AND l.collected_at > now() - "                     \
                "make_interval(secs => " window ")) AS mandatory_recent, "                         \
            "count(*) FILTER (WHERE l.mandatory AND " LATEST_ONLINE("l") ") AS mandatory_online, " \
            "max(l.collected_at) AS last_data_at "                                                 \
            "FROM point_latest l WHERE " lcond " AND NOT EXISTS (SELECT 1 FROM points d "          \
                "WHERE d.id = l.point_id AND NOT d.enabled) GROUP BY 1) lo ON lo.eid = pn.eid)"
/* clang-format on */

/* The same columns at a past moment "at" (whole hours, at or below the rollup watermark), from
 * the data of then, for the points as they are now (enabled, mandatory: no history of their
 * settings is kept; a point's created_at also starts its offline clock, so it is no record of
 * when it was planned):
 *   points_online, mandatory_online  a reading in the hour before (the rollups' grain; now:
 *                     within 3 expected intervals)
 *   mandatory_recent  a reading since "recent" (at less the window, whole hours)
 *   last_data_at      the start of the last hour with a reading before at: the hour of the
 *                     point's latest reading when that is older than at, however old; else
 *                     its last rollup hour since "since" (earlier than recent), NULL when none
 * (hours queued late, rollup_dirty, count as they were last rolled up)
 * at, recent and since are expressions that should be constants when planned (to_timestamp of
 * a parameter; "at less an interval" is only stable): the rollup partitions outside them are
 * then pruned from the plan and from its cost.  The hours since recent are read in one pass
 * (ph); a point whose latest reading (point_latest) is older than at had its last then; only a
 * point with neither, silent before at but not since, is looked up by (point_id, bucket): at
 * 2,000 enterprises x 20 points, a lookup for every point took ~350 ms.  MATERIALIZED: inlined,
 * the lookups' estimated cost (millions) drowned the joins above in the planner's 1 % fuzz,
 * which then joined 2,000 rows to 3,500 by a nested loop (+250 ms).  OFFSET 0 keeps pa a
 * subquery: pulled up, "last" (and its lookup) was evaluated once per aggregate naming it. */
/* clang-format off */
#define POINTS_AT_CTE(name, pcond, at, recent, since)                                              \
    "ph AS (SELECT h.point_id, max(h.bucket) AS last FROM rollup_hour h "                          \
        "WHERE h.bucket >= " recent " AND h.bucket < " at " GROUP BY 1), "                         \
    name " AS MATERIALIZED (SELECT pa.eid, count(*) AS points, "                                   \
        "count(*) FILTER (WHERE pa.last >= " at " - interval '1 hour') AS points_online, "         \
        "count(*) FILTER (WHERE pa.mandatory) AS mandatory, "                                      \
        "count(*) FILTER (WHERE pa.mandatory AND pa.last >= " recent ") AS mandatory_recent, "     \
        "count(*) FILTER (WHERE pa.mandatory AND pa.last >= " at " - interval '1 hour') "          \
            "AS mandatory_online, "                                                                \
        "max(pa.last) AS last_data_at FROM ("                                                      \
        "SELECT p.enterprise_id AS eid, p.param_class = 'mandatory' AS mandatory, "                \
            "CASE WHEN l.collected_at < " at " THEN date_bin('1 hour', l.collected_at, "            \
                "timestamptz '2000-01-01 00:00:00+00') "                                           \
            "WHEN ph.last IS NOT NULL THEN ph.last "                                               \
            "WHEN l.collected_at IS NOT NULL THEN (SELECT max(h.bucket) FROM rollup_hour h "       \
                "WHERE h.point_id = p.id AND h.bucket >= " since " AND h.bucket < " recent ") "    \
            "END AS last "                                                                         \
            "FROM points p LEFT JOIN point_latest l ON l.point_id = p.id "                         \
            "LEFT JOIN ph ON ph.point_id = p.id "                                                  \
            "WHERE p.enabled AND " pcond " OFFSET 0) pa GROUP BY 1)"
/* clang-format on */

/* connected, from a row of POINTS_NOW_CTE (NULL, no row: false): the enterprise has enabled
 * mandatory points and every one of them sent data within the window */
#define NOW_CONNECTED(row)                                                                         \
    "coalesce(" row ".mandatory > 0 AND " row ".mandatory_recent = " row ".mandatory, false)"

#endif
