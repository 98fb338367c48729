/* "Overdue" of a warning as SQL, for the statements that count or filter by it: the warning
 * list (its overdue filter and fields) and the statistics (private to server/db). */
#ifndef DW_DB_WARNING_SQL_H
#define DW_DB_WARNING_SQL_H

/* not signed past its sign-by */
#define WARN_SIGN_OVERDUE(w) "(" w ".status = 'issued' AND " w ".sign_by < now())"
/* not cleared (nor its clearance requested) past its clear-by */
#define WARN_CLEAR_OVERDUE(w)                                                                      \
    "(" w ".status NOT IN ('clearance_requested', 'cleared') AND " w ".clear_by < now())"
#define WARN_OVERDUE(w) "(" WARN_SIGN_OVERDUE(w) " OR " WARN_CLEAR_OVERDUE(w) ")"

#endif
