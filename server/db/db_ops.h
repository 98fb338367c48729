/* db_ops — operations: the figures the worker exports as metrics (queues and
 * watermarks) and the retention of binary objects and risk history
 * (job_retention.c).
 *
 * None of these runs inside a transaction of the caller: each statement
 * commits on its own.  Out-parameters are written only on DB_OK. */
#ifndef DW_DB_OPS_H
#define DW_DB_OPS_H

#include "db.h"

#include <stdint.h>

/* Registers the statements; idempotent, call before connecting. */
void db_ops_register(void);

typedef struct db_ops_lag {
    int64_t risk_requests;      /* enterprises waiting for a risk recompute */
    double risk_oldest_s;       /* age of the oldest of them (0: none) */
    int64_t outbox_undelivered; /* notifications not delivered yet */
    double outbox_oldest_s;     /* age of the oldest of them (0: none) */
    double rollup_behind_s;     /* now - the rollup watermark (rolled_to) */
    int64_t rollup_dirty_hours; /* late point-hours waiting to be rolled up again */
    int64_t warnings_overdue;   /* open warnings past their sign-by or clear-by deadline */
} db_ops_lag;

__attribute__((warn_unused_result)) db_status db_ops_lag_read(db_conn *c, db_ops_lag *out);

/* ---- retention (migration 0105) ---- */

/* Drops the images of video alarms stored before video_before_s and the
 * photos of check-ins stored before photo_before_s (epoch seconds; <= 0: none
 * of that kind), at most max_rows of each; how many of each. */
__attribute__((warn_unused_result)) db_status db_ops_prune_media(db_conn *c, int64_t video_before_s,
                                                                 int64_t photo_before_s,
                                                                 int max_rows, int64_t *videos,
                                                                 int64_t *photos);

/* Deletes risk_scores rows computed before before_s that are neither the
 * first of their UTC day nor a grade/override change nor referenced, at most
 * max_rows; how many. */
__attribute__((warn_unused_result)) db_status
db_ops_thin_risk_scores(db_conn *c, int64_t before_s, int max_rows, int64_t *deleted);

#endif
