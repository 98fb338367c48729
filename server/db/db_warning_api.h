/* The people's side of early warnings, as the API runs it: the filtered
 * list, one warning with its score, events, escalations, supervision orders
 * and referrals, and the status transitions (sign, feedback, request
 * clearance, approve, return).  Issuing and escalating is the worker's
 * (db_warnings.h).
 *
 * Reads run under a db_scope in one round trip; lock and move run inside the
 * caller's open transaction and filter by the scope's kind and id themselves.
 * Strings are borrowed; returned json_t * are new references the caller
 * json_decref()s. */
#ifndef DW_DB_WARNING_API_H
#define DW_DB_WARNING_API_H

#include "db.h"

#include <stdint.h>

/* Before the first connection (api_warnings_init). */
void db_warning_api_register(void);

/* The list's filters: the ones it shares with the alarms' (db.h), and
 * grades, statuses and levels (current_level; comma-separated lists) and a
 * cause (NULL matches everything). */
typedef struct db_warning_api_filter {
    db_list_filter list;
    const char *grades, *statuses, *levels, *cause;
} db_warning_api_filter;

/* {total, limit, offset, items[]}; *out NULL only on failure. */
db_status db_warning_api_list(db_conn *c, const db_scope *s, const db_warning_api_filter *f,
                              json_t **out);
/* {warning, score, events[], escalations[], supervisions[],
 * enforcement_referrals[], current_risk}; *out NULL when not in scope. */
db_status db_warning_api_get(db_conn *c, const db_scope *s, int64_t warning_id, json_t **out);

/* A warning to move, locked for the rest of the transaction. */
typedef struct db_warning_api_row {
    char status[32];
    char grade[16];
    char level[16];                                /* current_level */
    int64_t enterprise_id, district_id, street_id; /* street 0 = none */
} db_warning_api_row;
/* *found 0 (and *out untouched) when the warning is not in scope. */
db_status db_warning_api_lock(db_conn *c, const db_scope *s, int64_t warning_id,
                              db_warning_api_row *out, int *found);

/* Moves the warning from status from to status to as action (a
 * warning_events action: sign, feedback, request_clearance, approve, return)
 * and records the event; approve also closes the open supervision orders.
 * actor_id 0 = none (API keys); note is the feedback text for feedback.  On
 * DB_OK *event_id is the new warning_events row; DB_BAD when the warning was
 * not in status from, which a caller that locked and checked it never sees. */
db_status db_warning_api_move(db_conn *c, const db_scope *s, int64_t warning_id, const char *from,
                              const char *to, const char *action, int64_t actor_id,
                              const char *actor, const char *note, int64_t *event_id);

#endif
