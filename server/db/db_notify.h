/* Notifications (migration 0051): the worker's outbox lease and delivery log, and the API's
 * subscriptions, duty roster and delivery log.  Outbox rows are written by the database's
 * routing triggers (alarms, alarm and warning events) and by db_risk.c (warnings); see
 * server/worker/job_notify.h.
 *
 * Strings are borrowed; returned json_t * are new references the caller json_decref()s. */
#ifndef DW_DB_NOTIFY_H
#define DW_DB_NOTIFY_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

void db_notify_register(void);

/* ---- worker ---- */

/* A leased outbox row; the strings live in one block owned by the row. */
typedef struct db_notify_row {
    int64_t id;
    int64_t enterprise_id;
    char *channel;    /* webhook | sms */
    char *target;     /* the URL or the phone */
    char *secret_hex; /* the subscription's HMAC key, hex */
    char *payload;    /* the JSON body */
    char *dedup_key;  /* X-Dustwatch-Delivery */
    long attempts;    /* including this one */
} db_notify_row;

/* Leases up to limit due rows for lease_s seconds (rows other workers hold skipped) and
 * counts the attempt.  *rows freed with db_notify_free(). */
__attribute__((warn_unused_result)) db_status db_notify_lease(db_conn *c, int limit, long lease_s,
                                                              db_notify_row **rows, size_t *n);
void db_notify_free(db_notify_row *rows, size_t n);

/* One attempt's result, logged in notification_deliveries: sent marks the row delivered;
 * otherwise it is retried after retry_base_s × 2^(attempts-1) (at most 1 h).  http_status 0
 * = none (transport error). */
db_status db_notify_result(db_conn *c, const db_notify_row *row, int sent, int http_status,
                           const char *detail, long duration_ms, long retry_base_s);

/* Cleaning areas whose current period has no check-in while less than share (0..1] of it
 * remains: one outbox row per cleaning_due subscriber, once per area and period
 * (migration 0052).  *n areas notified; share <= 0 does nothing. */
db_status db_notify_cleaning_due(db_conn *c, double share, long *n);

/* Filings submitted (to the reviewing level's subscribers) or approved/returned (to the
 * enterprise's) in the last day and not yet notified (migration 0052).  *n filings. */
db_status db_notify_filings(db_conn *c, long *n);

/* ---- API (scope s; in the caller's transaction where it writes) ---- */

/* {"items": [subscription...]} visible to the scope. */
db_status db_notify_subs_list(db_conn *c, const db_scope *s, json_t **out);

typedef struct db_notify_sub {
    const char *scope_kind; /* city | district | street | enterprise */
    int64_t scope_id;
    const char *name;
    const char *channel; /* webhook | sms | inapp */
    const char *url;     /* NULL unless webhook */
    const char *phone;   /* NULL unless sms to one phone */
    int to_duty;
    int to_watch; /* sms or inapp: the person on watch of the district (migration 0118) */
    const char *const *events; /* n_events event families */
    size_t n_events;
    const char *const *levels; /* n_levels levels; 0 = all */
    size_t n_levels;
    const char *secret_hex;
    const char *created_by;
} db_notify_sub;

/* *id 0 when the scope object does not exist (RLS refuses another scope than the caller's). */
db_status db_notify_sub_create(db_conn *c, const db_notify_sub *sub, int64_t *id);
/* enabled -1 = unchanged; events / levels NULL = unchanged (n may be 0 for levels: all);
 * name NULL = unchanged.  *found 0: not in scope s. */
db_status db_notify_sub_update(db_conn *c, const db_scope *s, int64_t id, int enabled,
                               const char *const *events, size_t n_events,
                               const char *const *levels, size_t n_levels, const char *name,
                               int *found);
/* *found 0: not in scope s; *in_use 1: messages refer to it (nothing deleted). */
db_status db_notify_sub_delete(db_conn *c, const db_scope *s, int64_t id, int *found, int *in_use);

/* The delivery log: {"items": [{id, subscription_id, dedup_key, event, channel, target,
 * status (pending|retrying|sent|failed), attempts, created_at, delivered_at, last_error,
 * deliveries: [{attempt, at, result, http_status, detail, duration_ms}]}]} newest first;
 * subscription 0 = all in scope. */
db_status db_notify_deliveries(db_conn *c, const db_scope *s, int64_t subscription, long limit,
                               json_t **out);

/* Duty roster of an enterprise in scope: {"enterprise_id", "items": [...]}; NULL out when
 * the enterprise is not in scope. */
db_status db_notify_roster_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);
/* system_id 0 = the whole enterprise.  *id 0: enterprise (or system) not in scope. */
db_status db_notify_roster_add(db_conn *c, int64_t enterprise_id, int64_t system_id,
                               const char *name, const char *phone, const char *duty, int64_t *id);
db_status db_notify_roster_delete(db_conn *c, const db_scope *s, int64_t id, int *found);

/* ---- the district's watch (migration 0118) ---- */

/* {"unread": n, "items": [...]}: the inapp messages of an account, newest first. */
db_status db_notify_inbox(db_conn *c, int64_t account_id, long limit, json_t **out);
/* Marks message id of the account read (once, logged as a read receipt); *found 0: not its. */
db_status db_notify_inbox_read(db_conn *c, int64_t account_id, int64_t id, int *found);
/* An SMS gateway delivery report (status delivered | failed | read) for the messages sent
 * under ref (<dedup key>:<phone>), in its own transaction; *n messages matched. */
db_status db_notify_sms_report(db_conn *c, const char *ref, const char *status, const char *note,
                               long *n);

#endif
