/* job_retention — the worker's hourly pruning of what is kept for a while only:
 * video alarm images and check-in photos (video_image_retention_days,
 * checkin_photo_retention_days) and the detail of the risk history
 * (risk_score_detail_days: older scores keep the daily point and the changes).
 * Readings partitions and rollups have their own retention (job_worker.c,
 * job_rollup.c); the audit log is never deleted by the server (deploy/README.md,
 * "Retention").  It also packs the readings of days older than
 * readings_pack_after_days, a bounded number per step (migration 0137).
 *
 * Runs inside the worker's city-wide periodic lock, after maintenance. */
#ifndef DW_JOB_RETENTION_H
#define DW_JOB_RETENTION_H

#include "db.h"

#include <stdint.h>

/* Registers the statements; call once before the worker connects. */
void job_retention_init(void);

typedef struct job_retention_stats {
    int64_t videos, photos, risk_scores;  /* images, photos dropped; score rows deleted */
    int64_t packed_days, packed_readings; /* readings days packed, the readings they held */
    int complete;                         /* 0: the time budget ran out, more is left */
} job_retention_stats;

/* Prunes in batches until nothing is left or budget_ms passed.  DB_OK or the
 * first failure (what was pruned before it stays pruned). */
db_status job_retention_run(db_conn *c, int64_t now_s, int64_t budget_ms, job_retention_stats *out);

#endif
