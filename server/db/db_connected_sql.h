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

/* connected, from a row of POINTS_NOW_CTE (NULL, no row: false): the enterprise has enabled
 * mandatory points and every one of them sent data within the window */
#define NOW_CONNECTED(row)                                                                         \
    "coalesce(" row ".mandatory > 0 AND " row ".mandatory_recent = " row ".mandatory, false)"

#endif
