/* job_rollup — keeps rollup_minute and rollup_hour (migrations/0012_rollups.sql) in step
 * with the readings, on the worker thread's connection.
 *
 * Each call moves the watermark forward (readings older than rollup_lag_s are rolled up)
 * and rolls up in steps of at most half an hour of readings, one transaction per step, and
 * recomputes the point-hours that late (back-filled) readings touched.  The SQL lives in
 * the migration's functions (dw_rollup_mark, dw_rollup_fill) so that this job and the API
 * benchmark's set-up build the rollups the same way; this module decides how much to do
 * per tick and keeps the step small enough for statement_timeout.
 *
 * Several worker nodes may call it: dw_rollup_fill takes a transaction-level advisory lock
 * and the loser skips its step. */
#ifndef DW_JOB_ROLLUP_H
#define DW_JOB_ROLLUP_H

#include "db.h"

#include <stdint.h>

typedef struct {
    int64_t minute_rows; /* minute buckets written by the fill */
    int64_t dirty_done;  /* late point-hours recomputed */
    int64_t dirty_left;  /* still queued when the call ended */
    int64_t rolled_to_s; /* the watermark after the call (epoch seconds), 0 if unknown */
    int steps;           /* fill transactions run */
} job_rollup_stats;

/* Registers the statements (before connecting). */
void job_rollup_init(void);

/* Rolls up what is due, for at most budget_ms (a catch-up after downtime spreads over
 * several ticks so the other worker jobs keep running).  DB_OK when every step succeeded. */
__attribute__((warn_unused_result)) db_status job_rollup_run(db_conn *c, int64_t budget_ms,
                                                             job_rollup_stats *out);

/* Retention: drops the days of minute rollups (months made before migration 0139) and the
 * months of hour rollups wholly older than rollup_minute_retention_days /
 * rollup_hour_retention_days before now_s. */
__attribute__((warn_unused_result)) db_status job_rollup_retention(db_conn *c, int64_t now_s,
                                                                   int *dropped);

#endif
