/* ing_group.h - private to the ingest writer (ing_writer.c, ing_group.c): a
 * job's working state, the group transaction's context and the group's
 * point locks and latest instants (the conflict-free readings path). */
#ifndef DW_ING_GROUP_H
#define DW_ING_GROUP_H

#include "db_ingest.h"
#include "ing_writer.h"

#include <stddef.h>
#include <stdint.h>

/* ---- per-job working state -------------------------------------------- */

typedef struct wjob {
    ing_job *job;
    ing_batch *batch;
    int64_t enterprise_id;
    char enterprise_code[40];
    unsigned char body_hash[32];
    int finished;       /* reply decided before the write phase */
    int skip_write;     /* this attempt: replayed or refused by its Idempotency-Key */
    int claimed;        /* this attempt: its Idempotency-Key row is this transaction's */
    int fresh;          /* readings: stored on the conflict-free path (db_ingest_store_readings) */
    size_t order;       /* position in the queue (ties of the lock order) */
    int64_t *point_ids; /* per item; 0 when rejected */
    const char **server_code; /* per item: server-side reject code or NULL */
    size_t n_items;
    long accepted, duplicate, rejected, conflicting;
    /* readings: the instant already held another value; this one went to
     * reading_conflicts (per item, reset by every write attempt) */
    unsigned char *conflict;
    double *stored_value;
} wjob;

typedef struct {
    wjob *ws;
    size_t n;
    /* readings go in on the ON CONFLICT path only (db_ingest_store_readings'
     * *fresh): set when the conflict-free one was refused */
    int no_fresh;
    /* the group's points (sorted) and, for the conflict-free path, the
     * newest instant stored for each: point_latest as read under the point
     * locks, moved on by each job the transaction writes */
    int64_t *pt_ids, *pt_latest;
    size_t n_pts;
    /* create missing rule-state rows before the point locks (ing_group_lock_points) */
    int init_state;
} group_ctx;

/* Takes the group's locks in the global order (server/README.md, "Writers
 * never deadlock") and, when the group stores readings on the conflict-free
 * path, reads its points' latest instants under them.  The statements are
 * queued (db_conn_pipeline): after the caller's db_flush, ing_group_locked()
 * puts what they read to use. */
db_status ing_group_lock_points(db_conn *c, group_ctx *g);
/* After the flush: DB_SOFT when a point's rule-state row was missing: the
 * transaction must run again (it then creates the rows first). */
db_status ing_group_locked(group_ctx *g);
void ing_group_free_points(group_ctx *g);

/* Whether every row is newer than its point's latest instant (0 when the
 * latest instants were not read). */
int ing_group_all_newer(const group_ctx *g, const db_ingest_reading *rows, size_t n);
/* After a job's readings went in: its rows that readings now holds (all
 * but the conflicts) move their points' latest, as ing_latest does. */
void ing_group_move_latest(group_ctx *g, const db_ingest_reading *rows, size_t n);

#endif
