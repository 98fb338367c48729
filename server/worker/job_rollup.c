/* job_rollup.c — the worker's rollup step (see job_rollup.h and migrations/0012_rollups.sql).
 *
 * Why two statements per step and not one: dw_rollup_mark must commit before the fill
 * takes its snapshot.  The mark waits (advisory lock) for every ingest transaction that
 * judged its readings "not late" against the old mark; only after it committed does a
 * fresh snapshot see all of their readings.  Each statement here runs outside an explicit
 * transaction, so each is its own. */
#include "job_rollup.h"

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

static const db_stmt statements[] = {
    {"rollup_mark", "SELECT extract(epoch FROM dw_rollup_mark(make_interval(secs => $1::int), "
                    "make_interval(secs => $2::int)))::bigint"},
    {"rollup_fill",
     "SELECT extract(epoch FROM rolled_from)::bigint, extract(epoch FROM rolled_to)::bigint, "
     "minute_rows, dirty_done, dirty_left FROM dw_rollup_fill($1::int)"},
    {"rollup_drop", "SELECT dw_drop_rollup_partitions_before($1, $2::date)"},
};

/* only the worker thread calls job_rollup_run */
static int span_s = SPAN_MAX_S;

void job_rollup_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

static int64_t col_i64(PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? -1 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

static db_status mark(db_conn *c)
{
    char lag[24], span[24];
    snprintf(lag, sizeof lag, "%ld", g_config.rollup_lag_s > 0 ? g_config.rollup_lag_s : 0);
    snprintf(span, sizeof span, "%d", span_s);
    const char *p[2] = {lag, span};
    db_status st;
    PGresult *r = db_exec(c, "rollup_mark", 2, p, &st);
    if (!r)
        return st;
    PQclear(r);
    return DB_OK;
}

typedef struct {
    int64_t from_s, to_s, rows, dirty_done, dirty_left;
} fill_result;

static db_status fill(db_conn *c, fill_result *f)
{
    char n[16];
    snprintf(n, sizeof n, "%d", DIRTY_PER_STEP);
    const char *p[1] = {n};
    db_status st;
    PGresult *r = db_exec(c, "rollup_fill", 1, p, &st);
    if (!r)
        return st;
    f->from_s = col_i64(r, 0);
    f->to_s = col_i64(r, 1);
    f->rows = col_i64(r, 2);
    f->dirty_done = col_i64(r, 3);
    f->dirty_left = col_i64(r, 4);
    PQclear(r);
    return DB_OK;
}

db_status job_rollup_run(db_conn *c, int64_t budget_ms, job_rollup_stats *out)
{
    memset(out, 0, sizeof *out);
    int64_t t0 = srv_mono_ms();
    for (;;) {
        int64_t due = ((int64_t)time(NULL) - g_config.rollup_lag_s) / 60 * 60;
        db_status st = mark(c);
        fill_result f = {0};
        if (st == DB_OK)
            st = fill(c, &f);
        if (st != DB_OK) {
            if (span_s > SPAN_MIN_S) {
                span_s /= 2;
                LOG_WARN("rollup step failed, smaller steps", "span_s=%d", span_s);
            }
            return st;
        }
        if (f.from_s < 0) /* another worker node holds the rollup lock */
            return DB_OK;
        out->steps++;
        out->minute_rows += f.rows;
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

static void cutoff_date(int64_t now_s, long days, char out[16])
{
    time_t t = (time_t)(now_s - (int64_t)days * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

db_status job_rollup_retention(db_conn *c, int64_t now_s, int *dropped)
{
    *dropped = 0;
    static const char *const tiers[2] = {"minute", "hour"};
    long days[2] = {g_config.rollup_minute_retention_days, g_config.rollup_hour_retention_days};
    for (int i = 0; i < 2; i++) {
        if (days[i] <= 0) /* 0: keep for ever */
            continue;
        char cutoff[16];
        cutoff_date(now_s, days[i], cutoff);
        const char *p[2] = {tiers[i], cutoff};
        db_status st;
        PGresult *r = db_exec(c, "rollup_drop", 2, p, &st);
        if (!r)
            return st;
        *dropped += atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    return DB_OK;
}
