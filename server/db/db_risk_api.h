/* Enterprise risk as the API reads it: the current score with its breakdown,
 * the score history, the distribution by grade and the ranking for a scope,
 * and the overview's alarm, warning and grade numbers.  Scores are written by
 * the worker (db_risk.h); nothing here writes.
 *
 * Strings are borrowed; returned json_t * are new references the caller
 * json_decref()s. */
#ifndef DW_DB_RISK_API_H
#define DW_DB_RISK_API_H

#include "db.h"

#include <stdint.h>

/* Before the first connection (api_risk_init). */
void db_risk_api_register(void);

/* Under scope s in one round trip.  current and history: *out NULL when the
 * enterprise is not in scope. */
db_status db_risk_api_current(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);
/* from and to: RFC 3339 text, NULL = open; grade_changes_only -1 (absent,
 * every score), 0 or 1. */
db_status db_risk_api_history(db_conn *c, const db_scope *s, int64_t enterprise_id,
                              const char *from, const char *to, long limit, int grade_changes_only,
                              json_t **out);
/* Region codes narrow the scope; NULL = all of it. */
db_status db_risk_api_distribution(db_conn *c, const db_scope *s, const char *district_code,
                                   const char *street_code, json_t **out);
/* The ranking's page of limit rows from offset, {total, limit, offset, items}; grades:
 * comma-separated, NULL = every grade. */
db_status db_risk_api_ranking(db_conn *c, const db_scope *s, long limit, long offset,
                              const char *district_code, const char *street_code,
                              const char *grades, json_t **out);

/* Inside the caller's open transaction: {alarms, warnings, risk_grades} for
 * the scope filter's kind and id. */
db_status db_risk_api_overview(db_conn *c, const char *scope_kind, const char *scope_id,
                               json_t **out);

#endif
