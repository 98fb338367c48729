/* The cleaning-compliance CTE the cleaning area and the statistics share (private to server/db).
 * Parameters: $1/$2 scope, $3 from and $4 to (epoch seconds), $5 enterprise, $6 district code,
 * $7 street code, $8 industry code, $9 dust kind, $10 the enterprise's risk grade (NULL: any;
 * $5..$10 as in the statistics, db_stats.c). */
#ifndef DW_DB_CLEANING_SQL_H
#define DW_DB_CLEANING_SQL_H

#include "db_scope_sql.h"

/* per active area in scope: the complete periods p0..p1 inside [$3, min($4, now)) (epoch
 * seconds), always required; the partial period at each end of the window (the one the
 * window or the area starts in, q0 < p0, and the current one, p1 + 1) counts, required and
 * done, once it has a check-in, so an area checked in today is not "—" until tomorrow;
 * $5 enterprise $6 district code $7 street code narrow it */
#define COMPLIANCE_CTE                                                                             \
    "WITH ar AS (SELECT a.id, a.enterprise_id, a.name, a.frequency, per.s, per.off, "              \
    "ceil((greatest($3::float8, extract(epoch FROM a.created_at)) + per.off) / per.s)::bigint AS " \
    "p0, (floor((least($4::float8, extract(epoch FROM now())) + per.off) / per.s) - 1)::bigint "   \
    "AS p1, greatest($3::float8, extract(epoch FROM a.created_at)) AS t0, least($4::float8, "      \
    "extract(epoch FROM now())) AS t1 FROM cleaning_areas a JOIN enterprises e ON e.id = "         \
    "a.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "        \
    "e.street_id CROSS JOIN LATERAL (SELECT CASE a.frequency WHEN 'per_shift' THEN 28800 WHEN "    \
    "'daily' THEN 86400 ELSE 604800 END::bigint AS s, CASE a.frequency WHEN 'weekly' THEN 288000 " \
    "ELSE 28800 END::bigint AS off) per WHERE a.active AND " SCOPE_ENT(                            \
        "e") " AND ($5::bigint IS NULL OR e.id = $5::bigint) AND "                                 \
             "($6::text IS NULL OR d.code = $6) AND ($7::text IS NULL OR s.code = $7) "            \
             "AND " ENT_CLASS(                                                                     \
                 "e", "8", "9",                                                                    \
                 "10") "), pc AS "                                                                 \
                       "(SELECT ar.id, floor((extract(epoch FROM c.checked_at) + ar.off) / "       \
                       "ar.s)::bigint "                                                            \
                       "AS p, min(c.created_at) AS first_rec FROM ar JOIN cleaning_checkins c ON " \
                       "c.area_id = ar.id AND c.checked_at >= to_timestamp(ar.t0) AND "            \
                       "c.checked_at < "                                                           \
                       "to_timestamp(ar.t1) GROUP BY 1, 2), pa AS (SELECT ar.id, "                 \
                       "ar.enterprise_id, "                                                        \
                       "ar.name, ar.frequency, greatest(ar.p1 - ar.p0 + 1, 0) + count(pc.p) "      \
                       "FILTER (WHERE "                                                            \
                       "pc.p < ar.p0 OR pc.p > ar.p1) AS required, count(pc.p) AS done, "          \
                       "count(pc.p) "                                                              \
                       "FILTER (WHERE pc.first_rec > to_timestamp(((pc.p + 1) * ar.s - "           \
                       "ar.off)::float8)) "                                                        \
                       "AS late FROM ar LEFT JOIN pc ON pc.id = ar.id GROUP BY ar.id, "            \
                       "ar.enterprise_id, "                                                        \
                       "ar.name, ar.frequency, ar.p0, ar.p1) "

#endif
