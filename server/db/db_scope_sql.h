/* SQL fragments the scoped statements share (private to server/db).  Every scoped statement takes
 * the caller's scope kind as $1 and its id as $2 (api_scope_params), and filters with one of these,
 * independently of row-level security. */
#ifndef DW_DB_SCOPE_SQL_H
#define DW_DB_SCOPE_SQL_H

/* e: an enterprises row */
#define SCOPE_ENT(e)                                                                               \
    "(($1 = 'city') OR ($1 = 'district' AND " e ".district_id = $2::bigint) OR ($1 = 'street' "    \
    "AND " e ".street_id = $2::bigint) OR ($1 = 'enterprise' AND " e ".id = $2::bigint))"

/* e (an enterprises row) of the industry code $p, 'none' for those without one (the statistics'
 * row of enterprises with no code); NULL for any */
#define CLASS_INDUSTRY(e, p)                                                                       \
    "($" p "::text IS NULL OR " e ".industry_code = CASE WHEN $" p " = 'none' THEN '' ELSE $" p    \
    " END)"
/* e of the dust kind $p, 'none' for those with no dust kind recorded; NULL for any */
#define CLASS_DUST_KIND(e, p)                                                                      \
    "($" p "::text IS NULL OR $" p " = ANY (" e ".dust_kinds) OR ($" p " = 'none' AND "            \
    "cardinality(" e ".dust_kinds) = 0))"

/* e of the current risk grade $p ('none': not scored yet); NULL for any */
#define CLASS_GRADE(e, p)                                                                          \
    "($" p "::text IS NULL OR coalesce((SELECT er.grade FROM enterprise_risk er "                  \
    "WHERE er.enterprise_id = " e ".id), 'none') = $" p ")"

/* e (an enterprises row) of the industry code $ind, the dust kind $dk and the current risk
 * grade $gr, each NULL for any: the statistics' filters and groups (db_stats.c, STATS_ENTS),
 * which the lists their numbers link to filter by as well */
#define ENT_CLASS(e, ind, dk, gr)                                                                  \
    CLASS_INDUSTRY(e, ind) " AND " CLASS_DUST_KIND(e, dk) " AND " CLASS_GRADE(e, gr)

/* r: a regions row visible to the scope (itself, its ancestors are not) */
#define SCOPE_REGION(r)                                                                            \
    "(($1 = 'city') OR ($1 = 'district' AND (" r ".id = $2::bigint OR " r ".parent_id = "          \
    "$2::bigint)) OR ($1 = 'street' AND " r ".id = $2::bigint) OR ($1 = 'enterprise' AND " r       \
    ".id IN (SELECT district_id FROM enterprises WHERE id = $2::bigint UNION ALL SELECT "          \
    "street_id FROM enterprises WHERE id = $2::bigint)))"

#endif
