/* job_rollup.c — the worker's rollup step (see job_rollup.h and migrations/0012_rollups.sql).
 *
 * Why two statements per step and not one: dw_rollup_mark must commit before the fill
 * takes its snapshot.  The mark waits (advisory lock) for every ingest transaction that
 * judged its readings "not late" against the old mark; only after it committed does a
 * fresh snapshot see all of their readings.  Each statement here runs outside an explicit
 * transaction, so each is its own. */
#include "job_rollup.h"

#include "db_jobs.h"
#include "srv_config.h"
#include "srv_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A step covers at most this much reading time.  Live, a step is one tick's worth; after
 * downtime the worker catches up in steps of this size.  Halved after a failed step (most
 * likely statement_timeout on a big city) and grown back after successes. */
#define SPAN_MAX_S 1800
#define SPAN_MIN_S 60
/* late point-hours recomputed per step: each reads at most an hour of one point's raw */
#define DIRTY_PER_STEP 2000

/* only the worker thread calls job_rollup_run */
static int span_s = SPAN_MAX_S;

void job_rollup_init(void)
{
    db_jobs_register();
}

static db_status mark(db_conn *c)
{
    return db_jobs_rollup_mark(c, g_config.rollup_lag_s > 0 ? g_config.rollup_lag_s : 0, span_s);
}

db_status job_rollup_run(db_conn *c, int64_t budget_ms, job_rollup_stats *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = srv_mono_ms();
    for (;;) {
        int64_t due = ((int64_t)time(NULL) - g_config.rollup_lag_s) / 60 * 60;
        db_status st = mark(c);
        int created = 0;
        if (st == DB_OK)
            st = db_jobs_rollup_ensure_partitions(c, &created);
        if (st != DB_OK) /* the DDL waited too long for a reader: next tick */
            return st;
        db_jobs_rollup_fill f = {0};
        st = db_jobs_rollup_fill_step(c, DIRTY_PER_STEP, &f);
        if (st != DB_OK) {
            if (span_s > SPAN_MIN_S) {
                span_s /= 2;
                LOG_WARN("rollup step failed, smaller steps", "span_s=%d", span_s);
            }
            return st;
        }
        if (f.from_s < 0) /* another worker node holds the rollup lock */
            return DB_OK;
        if (f.quarantined > 0) {
            /* the data's fault, not ours, but nobody sees a point-hour without
             * rollups unless told: warn */
            char q[700];
            LOG_WARN("rollup point-hours quarantined", "count=%lld first=%s",
                     (long long)f.quarantined, srv_log_q(q, sizeof q, f.quarantine_note));
        }
        out->steps++;
        out->minute_rows += f.minute_rows;
        out->dirty_done += f.dirty_done;
        out->dirty_left = f.dirty_left;
        out->rolled_to_s = f.to_s;
        if (span_s < SPAN_MAX_S)
            span_s = span_s * 2 < SPAN_MAX_S ? span_s * 2 : SPAN_MAX_S;
        int caught_up = f.to_s >= due && f.dirty_left == 0;
        int stuck = f.to_s == f.from_s && f.dirty_done == 0;
        if (caught_up || stuck || srv_mono_ms() - t0 >= budget_ms)
            return DB_OK;
    }
}

db_status job_rollup_retention(db_conn *c, int64_t now_s, int *dropped)
{
    *dropped = 0;
    static const char *const tiers[2] = {"minute", "hour"};
    long days[2] = {g_config.rollup_minute_retention_days, g_config.rollup_hour_retention_days};
    for (int i = 0; i < 2; i++) {
        if (days[i] <= 0) /* 0: keep for ever */
            continue;
        int n = 0;
        db_status st =
            db_jobs_rollup_drop_before(c, tiers[i], now_s - (int64_t)days[i] * 86400, &n);
        if (st != DB_OK)
            return st;
        *dropped += n;
    }
    return DB_OK;
}
