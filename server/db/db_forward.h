/* db_forward — upward forwarding (issue 18, migration 0095): upstream targets,
 * code mapping, the outbox the forwarder reads in commit order, dead letters
 * and the daily reconciliation.
 *
 * Two kinds of caller:
 *  - the forwarder (server/forward/, a "system"-scoped connection): the
 *    targets with their sealed keys, the next page of the outbox with the
 *    data already in the upstream's codes, the watermark moves, counts and
 *    dead letters, resends;
 *  - the REST API (api/resources/forward.c): targets, codes, dead letters and
 *    the report, under the caller's scope: a city administrator sees every
 *    target, a district administrator those of its district
 *    (forward_targets.owner_district). */
#ifndef DW_DB_FORWARD_H
#define DW_DB_FORWARD_H

#include "db.h"

#include <jansson.h>
#include <stdint.h>

void db_forward_register(void);

/* ---- the forwarder --------------------------------------------------------------- */

/* [{id, name, url, dialect, appid, sealed_keys (hex), rate_per_s, batch_max, enabled}]
 * of every target, in id order. */
db_status db_forward_targets(db_conn *c, json_t **out);

/* Takes the target's session advisory lock (one forwarder per target city-wide):
 * *got 1 when this connection holds it now. */
db_status db_forward_try_lock(db_conn *c, int64_t target_id, int *got);

/* The next outbox rows after the target's watermark, at most max_rows and not past
 * its in-flight page end, only of transactions older than every running one, in
 * (xid, id) order:
 * [{id, xid, kind, enterprise_id, selected, qybm, wgbm, items: [...]}]; items
 * are empty when the row is not selected by the target (district, enterprise,
 * kind).  readings {p, ts, v, q}, events {p, ts, level, v, th, c}, videos
 * {cam, ts, type, c, img}, alarms (our rule engine's transitions) as events; codes mapped through
 * forward_codes, ts in the dialect's form (hebei: Beijing local "yyyy-MM-dd HH:mm:ss", mem: RFC
 * 3339 UTC). */
db_status db_forward_next(db_conn *c, int64_t target_id, int max_rows, json_t **out);

/* A request the upstream refused, to keep. */
typedef struct db_forward_dead {
    int64_t enterprise_id;
    const char *kind;
    int items;
    const char *payload; /* JSON text */
    int http_status;     /* 0: none */
    int upstream_code;   /* -1: none */
    const char *reason;
} db_forward_dead;

/* The counts of one kind of a delivered page. */
typedef struct db_forward_kind_counts {
    const char *kind;
    long sent, acked, refused, requests;
} db_forward_kind_counts;

/* What delivering a page of outbox rows, up to (xid, id), came to. */
typedef struct db_forward_done {
    const char *xid;
    int64_t id;
    const db_forward_kind_counts *kinds;
    size_t n_kinds;
    const db_forward_dead *dead;
    size_t n_dead;
} db_forward_done;

/* Records that the page ending at (xid, id) is being delivered (forward_targets.
 * inflight_*: db_forward_next reads no further until the watermark passed it). */
db_status db_forward_inflight(db_conn *c, int64_t target_id, const char *xid, int64_t id);

/* One transaction: the watermark moved to (xid, id) (the in-flight page end
 * cleared), then the dead letters and the day's counts per kind; *moved 0 (and
 * nothing recorded) when the watermark was there already (another forwarder
 * delivered the page). */
db_status db_forward_advance(db_conn *c, int64_t target_id, const db_forward_done *d, int *moved);

/* A transport failure (no answer, 5xx, 429): last_error, and the day's failures. */
db_status db_forward_failure(db_conn *c, int64_t target_id, const char *kind, const char *error);

/* Dead letters of the target whose resend was requested:
 * [{id, enterprise_id, kind, items, payload, resends, requested_at}], at most 20, oldest
 * first; requested_at is the request being served (give it back to the result). */
db_status db_forward_resends_due(db_conn *c, int64_t target_id, json_t **out);

/* The outcome of a resend: acked resolves the letter; otherwise the new reason
 * is kept and the request cleared if it is still requested_at (the one served): a
 * request made while the resend was in flight stays due. */
db_status db_forward_resend_result(db_conn *c, int64_t target_id, int64_t letter_id,
                                   const char *kind, int items, int acked, int http_status,
                                   int upstream_code, const char *reason, const char *requested_at);

/* Deletes outbox rows every target's watermark passed (all of them when there
 * is no target); *deleted how many. */
db_status db_forward_prune(db_conn *c, long *deleted);

/* ---- the REST API (scoped: $1/$2 of db_scope) ------------------------------------ */

/* {items: [target...]} (no keys). */
db_status db_forward_target_list(db_conn *c, const db_scope *s, json_t **out);
/* The target, or *out NULL when not in scope. */
db_status db_forward_target_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);

/* The fields of a create or an update; NULL leaves a field as it is (update). */
typedef struct db_forward_fields {
    const char *name, *url, *dialect, *appid;
    const char *sealed_hex;     /* "\x..." */
    const char *owner_district; /* decimal id, NULL for the city */
    const char *district_ids;   /* bigint[] literal */
    const char *enterprise_ids; /* bigint[] literal */
    const char *kinds;          /* text[] literal */
    const char *rate_per_s, *batch_max, *enabled;
} db_forward_fields;

/* Checks a selection against the scope: *bad_district / *bad_enterprise the
 * first id that is no district / no enterprise of the scope, 0 when all are. */
db_status db_forward_check_selection(db_conn *c, const db_scope *s, const char *district_ids,
                                     const char *enterprise_ids, int64_t *bad_district,
                                     int64_t *bad_enterprise);
db_status db_forward_target_insert(db_conn *c, const db_scope *s, const db_forward_fields *f,
                                   int64_t *id, db_diag *diag);
/* *found 0 when not in scope. */
db_status db_forward_target_update(db_conn *c, const db_scope *s, int64_t id,
                                   const db_forward_fields *f, int *found, db_diag *diag);
db_status db_forward_target_delete(db_conn *c, const db_scope *s, int64_t id, int *found);

/* {items: [{object, local_code, upstream_code, updated_at}]}, NULL when the target is not in scope.
 */
db_status db_forward_codes_list(db_conn *c, const db_scope *s, int64_t target_id, json_t **out);
/* Sets (upstream non-NULL) or removes one mapping.  The local code must name an
 * enterprise, gateway or point of the scope: *known 0 when it does not. */
db_status db_forward_code_set(db_conn *c, const db_scope *s, int64_t target_id, const char *object,
                              const char *local, const char *upstream, int *known, db_diag *diag);

/* {items: [...]} newest first, at most limit; open_only: unresolved only.  NULL
 * when the target is not in scope. */
db_status db_forward_dead_list(db_conn *c, const db_scope *s, int64_t target_id, int open_only,
                               long limit, json_t **out);
/* The letter (NULL when not in scope), after requesting its resend when it is
 * unresolved; *requested 1 when it was. */
db_status db_forward_dead_resend(db_conn *c, const db_scope *s, int64_t letter_id, int *requested,
                                 json_t **out);

/* {target_id, from, to, days: [{day, kind, sent, acked, refused, resent_acked, requests,
 * failures}], totals, outbox_pending, lag_s, dead_letters_open, last_ok_at, last_error,
 * last_error_at}; NULL when not in scope.  from/to: dates (YYYY-MM-DD). */
db_status db_forward_report(db_conn *c, const db_scope *s, int64_t target_id, const char *from,
                            const char *to, json_t **out);

#endif
