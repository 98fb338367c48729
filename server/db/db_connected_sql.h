/* "Connected" as the statistics, the onboarding view, the overview and the worker's
 * connection_status all derive it (private to server/db): the enterprise has enabled mandatory
 * points and every one of them sent data within window seconds (a parameter, e.g. "$3::int").
 * Set-based: one pass over the mandatory points of the enterprises of the CTE ents (a row per
 * enterprise with mandatory points; connected = its row says so, no row = not connected), not
 * a correlated lookup per enterprise, which row-level security makes slow at city scale. */
#ifndef DW_DB_CONNECTED_SQL_H
#define DW_DB_CONNECTED_SQL_H

#define CONNECTED_CTE(ents, window)                                                                \
    "conn AS (SELECT cp.enterprise_id AS eid, bool_and(coalesce(cl.collected_at > now() - "        \
    "make_interval(secs => " window "), false)) AS connected FROM points cp JOIN " ents " ce ON "  \
    "ce.id = cp.enterprise_id LEFT JOIN point_latest cl ON cl.point_id = cp.id WHERE cp.enabled "  \
    "AND cp.param_class = 'mandatory' GROUP BY 1)"

/* The same count from a CTE of the enabled points already read with point_latest (columns
 * enterprise_id, param_class, recent = sent data within the window), for a statement that
 * passes over the points anyway (the overview: a second pass was 40 % of its time). */
#define CONNECTED_COUNT(pts)                                                                       \
    "(SELECT count(*) FROM (SELECT 1 FROM " pts " WHERE param_class = 'mandatory' GROUP BY "       \
    "enterprise_id HAVING bool_and(recent)) c)"

#endif
