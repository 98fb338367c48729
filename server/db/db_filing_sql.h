/* SQL fragments for "which filing covers what" (private to server/db), the set-based form of
 * dw_filing_covers() (migration 0060): a statement that asks it for many points joins these
 * instead of calling the function per point, which plans the function's query again at every
 * call and, under a district's or street's scope, builds row-level security's list of its
 * enterprises each time (the overview of a district of 1,400 enterprises, 28 of them with a
 * filing: ~500 ms with a call per point of those 28, ~65 ms as one set). */
#ifndef DW_DB_FILING_SQL_H
#define DW_DB_FILING_SQL_H

/* f: a filings row; its state as the API names it */
#define FILING_STATE(f)                                                                            \
    "(CASE WHEN " f ".status = 'approved' AND " f ".ends_at <= now() THEN 'expired' ELSE " f       \
    ".status END)"

/* f: a filings row; p: a points row of the filing's enterprise */
#define FILING_COVERS(f, p)                                                                        \
    "((cardinality(" f ".point_ids) = 0 AND cardinality(" f ".system_ids) = 0) OR " p              \
    ".id = ANY (" f ".point_ids) OR " p ".system_id = ANY (" f ".system_ids))"

/* f is in force at the instant at: approved, or ended early (复产) and not yet at its end */
#define FILING_IN_FORCE_AT(f, at)                                                                  \
    "(" f ".status IN ('approved', 'ended') AND " f ".starts_at <= " at " AND " at " < least(" f   \
    ".ends_at, coalesce(" f ".ended_at, 'infinity')))"

/* The approved (or ended) filings f covering point p that overlap [$4, $5), each until its
 * effective end, for the point's series: the aggregate over the rows FILING_POINT_PERIODS_OF
 * selects (flg_point_periods, and the series answer's statements in db_points.c) */
#define FILING_POINT_PERIODS                                                                       \
    "coalesce(json_agg(json_build_object('id', f.id, 'type', f.type, 'state', " FILING_STATE(      \
        "f") ", 'starts_at', f.starts_at, 'ends_at', least(f.ends_at, coalesce(f.ended_at, "       \
             "'infinity'))) ORDER BY f.starts_at, f.id), '[]'::json)"
#define FILING_POINT_PERIODS_OF(f, p)                                                              \
    f ".status IN ('approved', 'ended') AND " FILING_COVERS(f, p) " AND " f ".starts_at < "        \
                                                                  "$5::timestamptz AND least(" f   \
                                                                  ".ends_at, coalesce(" f          \
                                                                  ".ended_at, 'infinity')) > "     \
                                                                  "$4::timestamptz"

#endif
