/* db_filings — production-stop / maintenance / disable filings (停产/检修/停用 报备,
 * migration 0060): the API's reads and transitions, the alarm engine's suppression and the
 * worker's production-during-stop check.
 *
 * Scoped functions take the caller's db_scope (its kind and id are $1/$2 of every
 * statement, besides row-level security).  Functions without a scope run in the caller's
 * open transaction under whatever scope the connection has (the ingest writer's and the
 * worker's 'system').  JSON out-parameters are new references (NULL: no row).  Arrays
 * handed back are malloc()ed; the caller free()s them. */
#ifndef DW_DB_FILINGS_H
#define DW_DB_FILINGS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

void db_filings_register(void);

typedef struct db_filings_filter {
    db_list_filter list; /* district, street, enterprise, limit, offset (from/to on starts_at) */
    const char *states;  /* csv of submitted|approved|returned|withdrawn|ended|expired */
    const char *types;   /* csv of stop|maintenance|disable */
    int active;          /* -1 any; 1 approved and valid now; 0 not */
} db_filings_filter;
db_status db_filings_list(db_conn *c, const db_scope *s, const db_filings_filter *f, json_t **out);
/* One filing with its enterprise, the points it covers now and its suppressed alarms. */
db_status db_filings_get(db_conn *c, const db_scope *s, int64_t filing_id, json_t **out);

/* The approved or ended filings covering a point that overlap [from, to) (RFC 3339), for
 * its series: a JSON array of {id, type, state, starts_at, ends_at (the effective end)}. */
db_status db_filings_point_periods(db_conn *c, const db_scope *s, int64_t point_id,
                                   const char *from, const char *to, json_t **out);

typedef struct db_filing_new {
    int64_t enterprise_id;
    const char *type, *starts_at, *ends_at, *reason; /* times RFC 3339 */
    const int64_t *system_ids, *point_ids;
    size_t n_systems, n_points;
    const unsigned char *evidence; /* NULL: none */
    size_t evidence_len;
    const char *evidence_type;
    int64_t filed_by; /* 0: an API key */
} db_filing_new;
/* Inserts a submitted filing; its approval level is the district's setting.  *id 0 with
 * *why set when the enterprise is not in scope (why "") or a system or point is not the
 * enterprise's own (why names it). */
db_status db_filings_create(db_conn *c, const db_scope *s, const db_filing_new *in, int64_t *id,
                            char *why, size_t whylen);

typedef struct db_filing_row {
    char status[16];         /* stored status */
    char state[16];          /* status, or 'expired' */
    char approval_level[16]; /* street / district */
    char type[16];
    int64_t enterprise_id, district_id, street_id; /* street 0: none */
    int started;                                   /* starts_at <= now */
} db_filing_row;
/* Locks the filing (FOR UPDATE) when in scope. */
db_status db_filings_lock(db_conn *c, const db_scope *s, int64_t filing_id, db_filing_row *out,
                          int *found);
/* Moves a locked filing from status `from` to `to` by action approve | return | withdraw |
 * end, stamping who and the note; an ended filing makes its points' offline timers due now
 * (the deferral to the filing's end no longer holds); approve and end queue a risk
 * recompute of the enterprise; end also takes back the part of the deadline extensions
 * (db_filings_clocks) after now.  DB_BAD when the row was not in `from`. */
db_status db_filings_move(db_conn *c, const db_scope *s, int64_t filing_id, const char *from,
                          const char *to, const char *action, int64_t actor_id, const char *note);
/* The evidence of a filing: *data malloc()ed (NULL when none or not in scope). */
db_status db_filings_evidence(db_conn *c, const db_scope *s, int64_t filing_id, char type[32],
                              unsigned char **data, size_t *len);
/* Sets a district's approval level (street | district); *found 0 when the district is not
 * in scope. */
db_status db_filings_set_level(db_conn *c, const db_scope *s, int64_t district_id,
                               const char *level, int *found);

/* ---- the alarm engine and the worker (no scope parameters) ------------------------ */

/* Whether an approved filing covers the point at ts_s (offline: at max(ts, now)); when one
 * does, the would-be alarm is recorded in filing_suppressions (count, first/last, kind,
 * highest level) and, for offline, the point's offline timer is deferred to the filing's
 * end, so it is raised then if the point is still silent.  *filing_id 0 when none. */
__attribute__((warn_unused_result)) db_status
db_filings_suppress(db_conn *c, int64_t enterprise_id, int64_t point_id, const char *channel,
                    const char *kind, int level, int64_t ts_s, int offline, int64_t *filing_id);

typedef struct db_filing_production {
    int64_t filing_id, alarm_id, enterprise_id;
    char point[48];
} db_filing_production;
/* Valid stop filings without a production alarm whose covered analog points moved (at
 * least 3 distinct values in the last window_s seconds since the filing started): one
 * alarm each (kind production_during_stop, cleared at once), recorded on the filing.
 * *rows malloc()ed. */
__attribute__((warn_unused_result)) db_status
db_filings_production_check(db_conn *c, long window_s, long ack_within_s, long handle_within_s,
                            db_filing_production **rows, size_t *n);

/* Stops the clocks (migration 0110): the open alarms and warnings valid approved filings
 * cover get their running deadlines extended to after the filing, once per filing and item
 * (recorded in filing_clock_stops); db_filings_move's `end` takes back the part after the
 * early end.  *n_alarms / *n_warnings: items whose deadlines moved. */
__attribute__((warn_unused_result)) db_status db_filings_clocks(db_conn *c, size_t *n_alarms,
                                                                size_t *n_warnings);

#endif
