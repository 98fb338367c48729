/* SQL for reading a list page's rows (private to server/db).  A list statement picks the page's
 * ids first (ORDER BY ... LIMIT/OFFSET over its filtered set); its rows are then read by id,
 * one index probe each.  Joined plainly, the planner read them as sets: row-level security
 * prices every repeated index probe with its policy's hashed sub-plan, so it scanned every alarm
 * and every point once per page of the alarm list (77 ms of a page at 62,000 alarms, 9 ms by id;
 * EXPLAIN ANALYZE, city scope).  LATERAL ... OFFSET 0 keeps the probe: the subquery is not
 * pulled up into the join. */
#ifndef DW_DB_PAGE_SQL_H
#define DW_DB_PAGE_SQL_H

/* the row of table (as alias) whose id is the expression id: "CROSS JOIN ..." or, for an
 * optional row, "LEFT JOIN ... ON true" */
#define ROW_BY_ID(table, alias, id)                                                                \
    "LATERAL (SELECT " alias ".* FROM " table " " alias " WHERE " alias ".id = " id                \
    " OFFSET 0) " alias

#endif
