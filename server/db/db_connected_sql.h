/* "Connected" as the statistics, the onboarding view, the overview and the worker's
 * connection_status all derive it (private to server/db): the enterprise e has enabled mandatory
 * points and every one of them sent data within window seconds (a parameter, e.g. "$3::int"). */
#ifndef DW_DB_CONNECTED_SQL_H
#define DW_DB_CONNECTED_SQL_H

#define ENT_CONNECTED(e, window)                                                                   \
    "(EXISTS (SELECT 1 FROM points cp WHERE cp.enterprise_id = " e ".id AND cp.enabled AND "       \
    "cp.param_class = 'mandatory') AND NOT EXISTS (SELECT 1 FROM points cp LEFT JOIN "             \
    "point_latest cl ON cl.point_id = cp.id WHERE cp.enterprise_id = " e ".id AND cp.enabled AND " \
    "cp.param_class = 'mandatory' AND (cl.collected_at IS NULL OR cl.collected_at <= now() - "     \
    "make_interval(secs => " window "))))"

#endif
