/* db_jobs — the worker's housekeeping statements: minute/hour rollups (the SQL of the steps
 * is in migration 0012's functions), readings partitions and retention, expired idempotency
 * rows, the session lock of the city-wide periodic jobs, and the webhook outbox.
 *
 * None of these runs inside a transaction of the caller: each statement commits on its
 * own (the rollup mark must commit before the fill takes its snapshot; an outbox lease must
 * be visible before the delivery is attempted).
 *
 * Ownership: parameters are borrowed; rows handed back are freed with the function named
 * next to them.  Out-parameters are written only on DB_OK. */
#ifndef DW_DB_JOBS_H
#define DW_DB_JOBS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

/* Registers the statements; idempotent, call before connecting. */
void db_jobs_register(void);

/* ---- rollups ---- */

/* Moves the rollup watermark to now - lag_s, at most span_s ahead (dw_rollup_mark). */
__attribute__((warn_unused_result)) db_status db_jobs_rollup_mark(db_conn *c, long lag_s,
                                                                  int span_s);

/* Creates the rollup partitions the next fill step needs (hours: monthly, minutes: daily), as
 * partition DDL (its own transaction, a short lock_timeout): the fill would otherwise create them
 * itself and hold ACCESS EXCLUSIVE on rollup_minute/rollup_hour for the rest of its transaction,
 * stalling every series read behind it (a backfill into a new month did). */
__attribute__((warn_unused_result)) db_status db_jobs_rollup_ensure_partitions(db_conn *c,
                                                                               int *created);

/* What one fill step did (dw_rollup_fill); -1 for a NULL (from_s -1: another node holds the
 * rollup lock and this step was skipped). */
typedef struct db_jobs_rollup_fill {
    int64_t from_s, to_s, minute_rows, dirty_done, dirty_left;
    /* point-hours that could not be aggregated and were set aside
     * (rollup_quarantine) by this step, and the first one's point, hour and
     * error ("" without any) */
    int64_t quarantined;
    char quarantine_note[600];
} db_jobs_rollup_fill;

/* One fill step recomputing at most dirty_max late point-hours. */
__attribute__((warn_unused_result)) db_status db_jobs_rollup_fill_step(db_conn *c, int dirty_max,
                                                                       db_jobs_rollup_fill *out);

/* Drops the tier's ("minute", "hour") partitions wholly before the UTC day of cutoff_s
 * (months; days of minutes since migration 0139) and, for minutes, moves
 * rollup_state.minute_from to that day, below which the series reads raw readings;
 * *dropped partitions. */
__attribute__((warn_unused_result)) db_status
db_jobs_rollup_drop_before(db_conn *c, const char *tier, int64_t cutoff_s, int *dropped);

/* ---- maintenance ---- */

/* Partition DDL (these two and db_jobs_rollup_drop_before) runs as its own transaction and
 * waits at most half a second for its lock on the partitioned table, then fails (DB_HARD):
 * retry later rather than queue every reader and writer behind it (db_jobs.c). */

/* Ensures the readings partition of the UTC day of day_s; *created 1 when it was new. */
__attribute__((warn_unused_result)) db_status db_jobs_ensure_partition(db_conn *c, int64_t day_s,
                                                                       int *created);
/* Drops readings partitions before the UTC day of cutoff_s. */
__attribute__((warn_unused_result)) db_status
db_jobs_drop_readings_before(db_conn *c, int64_t cutoff_s, int *dropped);
/* What one pack step did (dw_readings_pack_next, migration 0137). */
typedef struct db_jobs_pack {
    int working;                  /* 1: a day (day_s) was worked on; 0: nothing to pack */
    int64_t day_s;                /* its start (UTC midnight) */
    int64_t readings, point_days; /* readings moved, rows of readings_packed written */
    int day_done;                 /* 1: its partition was empty and is dropped */
    char waiting[128];            /* why the oldest day waits ("" when none does) */
} db_jobs_pack;

/* One pack step: moves the readings of whole points, about max_rows, of the oldest readings
 * partition of a UTC day before the day of before_s into readings_packed; the step that finds
 * the partition empty drops it (partition DDL: waits at most half a second for its locks, as
 * above).  With no partition left the horizon moves to that day.  A day waits while its
 * rollups are incomplete. */
__attribute__((warn_unused_result)) db_status
db_jobs_pack_readings(db_conn *c, int64_t before_s, int max_rows, db_jobs_pack *out);
/* Deletes expired ingest idempotency rows. */
__attribute__((warn_unused_result)) db_status db_jobs_purge_idempotency(db_conn *c, long *purged);

/* The session lock one node holds while it runs the city-wide periodic jobs (released by
 * PostgreSQL if the node dies); *locked 0 when another node has it. */
__attribute__((warn_unused_result)) db_status db_jobs_try_periodic_lock(db_conn *c, int *locked);

/* The database's clock (clock_timestamp()) in microseconds since the epoch: the worker's
 * "now", so a worker host with a stepped clock computes what every node computes. */
__attribute__((warn_unused_result)) db_status db_jobs_db_now_us(db_conn *c, int64_t *out);
db_status db_jobs_periodic_unlock(db_conn *c);

/* ---- webhook outbox ---- */

/* A leased outbox row; the strings live in one block owned by the row. */
typedef struct db_jobs_outbox_row {
    int64_t id;
    char *url;
    char *secret_hex; /* the subscription's HMAC key, hex */
    char *payload;    /* the JSON body */
    char *delivery;   /* "<warning id>:<event>", the receiver's dedup key */
    long attempts;    /* including this one */
} db_jobs_outbox_row;

/* Leases up to limit due rows for lease_s seconds (rows other workers hold skipped) and
 * counts the attempt.  *rows freed with db_jobs_outbox_free(). */
__attribute__((warn_unused_result)) db_status
db_jobs_outbox_lease(db_conn *c, int limit, long lease_s, db_jobs_outbox_row **rows, size_t *n);
void db_jobs_outbox_free(db_jobs_outbox_row *rows, size_t n);

/* A 2xx answer: the row is done. */
db_status db_jobs_outbox_delivered(db_conn *c, int64_t id);
/* A failure: retried after 30 s × 2^attempts (at most 1 h), error kept for the admin. */
db_status db_jobs_outbox_retry(db_conn *c, int64_t id, const char *error);

/* ---- cameras ---- */

/* Writes enterprise_profiles.video_offline (the risk model's S input) where it changed: the
 * enabled cameras of each enterprise whose last video is older than after_s seconds (or
 * that sent none and were registered longer ago), and asks for a risk recompute of each
 * enterprise whose count changed.  *changed: how many. */
__attribute__((warn_unused_result)) db_status db_jobs_video_offline(db_conn *c, long after_s,
                                                                    size_t *changed);

#endif
