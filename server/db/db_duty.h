/* db_duty — duty watch (系统值守, migration 0063): the work queue of the person on watch,
 * an enterprise's own to-do list, the duty roster and shift handover notes.
 *
 * Every function takes the caller's db_scope ($1/$2 of each statement, besides
 * row-level security).  JSON out-parameters are new references (NULL: no row). */
#ifndef DW_DB_DUTY_H
#define DW_DB_DUTY_H

#include "db.h"

#include <stdint.h>

void db_duty_register(void);

/* 处理队列: unsigned red/orange warnings, clearance requests, overdue warnings and
 * alarms, hazards due within 7 days, filings the caller may review, open supervision
 * orders; oldest first, each with its deadline.  {now, total, counts, items}. */
db_status db_duty_queue(db_conn *c, const db_scope *s, json_t **out);
/* The enterprise's to-do: alarms to acknowledge or handle, warnings to sign or clear,
 * cleaning due this period, hazards to plan or rectify, supervision orders to answer,
 * returned filings; oldest first.  NULL when the enterprise is not in scope. */
db_status db_duty_todo(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);

/* Shifts overlapping [from, to) (RFC 3339; NULL: the next 7 days), with on_duty_now. */
db_status db_duty_roster(db_conn *c, const db_scope *s, const char *from, const char *to,
                         json_t **out);
/* Adds a shift; *id 0 when the district is not the caller's (or the city's) or the
 * account is not an enabled government account of the district or its streets. */
db_status db_duty_roster_add(db_conn *c, const db_scope *s, int64_t district_id, int64_t account_id,
                             const char *starts_at, const char *ends_at, const char *note,
                             const char *phone, int64_t by, int64_t *id);
/* Removes a shift of a district the caller writes for (migration 0118: with its phone);
 * *found 0 otherwise. */
db_status db_duty_roster_delete(db_conn *c, const db_scope *s, int64_t shift_id, int *found);
/* The last 100 handover notes of the districts in scope. */
db_status db_duty_handovers(db_conn *c, const db_scope *s, json_t **out);
/* A handover note with the queue's current size; *id 0 when the district is not the
 * caller's (or the city's). */
db_status db_duty_handover_add(db_conn *c, const db_scope *s, int64_t district_id,
                               int64_t account_id, const char *author, const char *note,
                               int64_t *id);

#endif
