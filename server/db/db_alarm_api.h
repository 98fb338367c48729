/* The people's side of point alarms, as the API runs it: the filtered list,
 * one alarm with its events and the readings around the raise, and the
 * lifecycle steps (acknowledge, handle, close) with the risk recompute they
 * ask for.  The engine's side (raise, escalate, clear) is db_alarms.h.
 *
 * Reads run under a db_scope in one round trip; the lifecycle functions run
 * inside the caller's open transaction (db_run_tx / api_tx) and filter by the
 * scope's kind and id themselves.  Strings are borrowed; returned json_t * are
 * new references the caller json_decref()s. */
#ifndef DW_DB_ALARM_API_H
#define DW_DB_ALARM_API_H

#include "db.h"

#include <stdint.h>

/* Before the first connection (api_alarms_init). */
void db_alarm_api_register(void);

/* The list's filters: the ones it shares with the warnings' (db.h), and a
 * point (0 matches every one) and kinds, levels, states and sources
 * (comma-separated lists; NULL matches everything). */
typedef struct db_alarm_api_filter {
    db_list_filter list;
    int64_t point_id;
    const char *kinds, *levels, *states, *sources;
    int during; /* from/to: open at any time in the range (folded ones left out), not raised in it
                 */
} db_alarm_api_filter;

/* {total, limit, offset, items[]}; *out NULL only on failure. */
db_status db_alarm_api_list(db_conn *c, const db_scope *s, const db_alarm_api_filter *f,
                            json_t **out);
/* {alarm, events[], readings{from, to, items[]}}; *out NULL when the alarm is
 * not in scope. */
db_status db_alarm_api_get(db_conn *c, const db_scope *s, int64_t alarm_id, json_t **out);

/* An alarm to act on, locked for the rest of the transaction. */
typedef struct db_alarm_api_row {
    char state[24];
    int cleared;                                   /* the value is back to normal */
    int64_t enterprise_id, district_id, street_id; /* street 0 = none */
    int shelved;                                   /* shelved and not expired */
} db_alarm_api_row;
/* *found 0 (and *out untouched) when the alarm is not in scope. */
db_status db_alarm_api_lock(db_conn *c, const db_scope *s, int64_t alarm_id, db_alarm_api_row *out,
                            int *found);

/* One lifecycle step with its alarm_events row.  actor_id 0 = none (API
 * keys).  Each step only moves an alarm in the state before it (close: also
 * cleared); DB_BAD when it did not, which a caller that locked and checked the
 * row first never sees. */
db_status db_alarm_api_acknowledge(db_conn *c, const db_scope *s, int64_t alarm_id,
                                   int64_t actor_id, const char *actor, const char *verdict,
                                   const char *note);
db_status db_alarm_api_handle(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                              const char *actor, const char *cause_category, const char *measures);
db_status db_alarm_api_close(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                             const char *actor, const char *reason, const char *note);

/* Shelving (搁置): until (a timestamptz text, in the future) with a reason; an alarm not
 * closed.  unshelve ends a shelving not expired yet.  DB_BAD when nothing changed. */
db_status db_alarm_api_shelve(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                              const char *actor, const char *reason, const char *until);
db_status db_alarm_api_unshelve(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                                const char *actor, const char *note);

/* The label catalogue: {domain: {code: {zh, en}}} from labels and the catalogues with their
 * own labels (dust_kinds, indicator_kinds, video_alarm_types). */
db_status db_alarm_api_labels(db_conn *c, const db_scope *s, json_t **out);

/* Asks the worker to recompute the enterprise's risk (handling counts in H);
 * a request already queued stands. */
db_status db_alarm_api_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason);

#endif
