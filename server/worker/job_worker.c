/* job_worker.c — the worker thread and its timers (see job_worker.h).
 *
 * Risk threads (risk_main, risk_change_threads of them) wait on connections of their own
 * for recompute requests, so risk follows a change without waiting for the next tick, and
 * a burst (a model change, an import, a whole city) is shared between them batch by batch.
 *
 * Why one blocking thread and not timers on the ingest loop: every job here is a handful
 * of PostgreSQL round trips (or a webhook POST with a timeout), and the design rule is that
 * no event loop ever waits on PostgreSQL.  A plain thread with a condition variable as its
 * clock is the simplest thing that keeps that rule. */
#include "job_worker.h"

#include "alarm_rules.h"
#include "db.h"
#include "db_jobs.h"
#include "db_ops.h"
#include "db_stats.h"
#include "job_retention.h"
#include "db_onboarding.h"
#include "job_report.h"
#include "job_filings.h"
#include "job_risk.h"
#include "job_rollup.h"
#include "job_webhook.h"
#include "srv_clock.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_metrics.h"
#include "srv_riskmodel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_RISK_THREADS_MAX 8

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, started;
    pthread_t thread, risk_thread[JOB_RISK_THREADS_MAX];
    int n_risk;                          /* risk threads started */
} W = {.mu = PTHREAD_MUTEX_INITIALIZER}; /* cv: srv_clock_cond_init in job_worker_start */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "Now" for what the jobs compute and store (offline silence, warning issue times and
 * deadlines, escalation) is the database's clock, the one ingest's rows, DEFAULT now()
 * and the other nodes' jobs share: a worker host whose clock is stepped minutes off
 * would otherwise raise false offline alarms, miss real ones, and escalate warnings
 * early or late (int-fault_clock).  Its own clock only when the database cannot say. */
static int64_t db_now_us(db_conn *c)
{
    int64_t v = 0;
    return db_jobs_db_now_us(c, &v) == DB_OK && v > 0 ? v : now_us();
}

/* Maintenance runs hourly; after a failure (most likely its partition DDL gave up waiting
 * for a lock, e.g. behind a pg_dump: db_jobs.c) again this much later. */
#define MAINT_RETRY_S 30

static int maintenance(db_conn *c, int64_t now_s)
{
    int64_t today = now_s / 86400;
    int created = 0;
    const char *step = "partitions ahead";
    for (long d = 0; d <= g_config.partitions_ahead_days; d++) {
        int made = 0;
        if (db_jobs_ensure_partition(c, (today + d) * 86400, &made) != DB_OK)
            goto failed;
        created += made;
    }
    int dropped = 0;
    step = "readings retention";
    if (db_jobs_drop_readings_before(c, (today - g_config.readings_retention_days) * 86400,
                                     &dropped) != DB_OK)
        goto failed;
    long purged = 0;
    step = "idempotency purge";
    if (db_jobs_purge_idempotency(c, &purged) != DB_OK)
        goto failed;
    int rollups_dropped = 0;
    step = "rollup retention";
    if (job_rollup_retention(c, now_s, &rollups_dropped) != DB_OK)
        goto failed;
    LOG_INFO("maintenance done",
             "partitions_created=%d partitions_dropped=%d idem_purged=%ld "
             "rollup_partitions_dropped=%d",
             created, dropped, purged, rollups_dropped);
    return 0;
failed:
    LOG_WARN("maintenance failed, retried soon", "step=%s retry_in_s=%d",
             srv_log_q((char[64]){0}, 64, step), MAINT_RETRY_S);
    return -1;
}

typedef struct {
    size_t n;
    int64_t now_us;
} offline_arg;

static db_status offline_tx(db_conn *c, void *arg)
{
    offline_arg *a = arg;
    alarm_pub_reset(); /* live events of a failed attempt must not go out */
    db_status st = alarm_check_offline(c, a->now_us, 500, &a->n);
    size_t gw = 0;
    if (st == DB_OK)
        st = alarm_check_gateways(c, &gw);
    a->n += gw;
    return st;
}

static int try_periodic_lock(db_conn *c)
{
    int locked = 0;
    return db_jobs_try_periodic_lock(c, &locked) == DB_OK && locked;
}

static void periodic_unlock(db_conn *c)
{
    (void)db_jobs_periodic_unlock(c);
}

/* When the periodic jobs are due next, on the monotonic clock (0: at the first tick): a
 * wall clock stepped back an hour must not hold maintenance back an hour, nor one stepped
 * forward run it early.  The jobs themselves still use the wall clock for what they
 * compute (partition days, deadlines stored as timestamps). */
typedef struct {
    int64_t next_all_ms;
    int64_t next_maint_ms;
    int64_t next_snapshot_ms; /* statistics snapshots (stats_snapshot_s) */
    int retention_left;       /* the last retention run ran out of time: go on next tick */
} worker_clock;

/* Retention's share of one tick; what is left waits for the next tick. */
#define RETENTION_BUDGET_MS 2000

SRV_METRIC_HISTOGRAM(m_job_seconds, "dustwatch_worker_job_seconds",
                     "Duration of one run of a worker job (maintenance, offline, rollup, "
                     "alarm_deadlines, risk_requests, risk_all, warnings, webhooks, retention, "
                     "stats_snapshot).",
                     srv_metric_job_buckets, "job")
SRV_METRIC_COUNTER(m_job_failures, "dustwatch_worker_job_failures_total",
                   "Worker job runs that failed (the job runs again at the next tick).", "job")
SRV_METRIC_GAUGE(m_last_tick, "dustwatch_worker_last_tick_timestamp_seconds",
                 "When the worker last finished a tick (Unix time): a stalled worker stops "
                 "moving it.",
                 NULL)
SRV_METRIC_COUNTER(m_escalations, "dustwatch_worker_escalations_total",
                   "Warning escalation steps applied by this worker.", NULL)
SRV_METRIC_GAUGE(m_rollup_lag, "dustwatch_rollup_lag_seconds",
                 "How far the rollup watermark (rolled_to) is behind now; rollup_lag_s is normal.",
                 NULL)
SRV_METRIC_GAUGE(m_rollup_dirty, "dustwatch_rollup_late_backlog",
                 "Point-hours with late readings waiting to be rolled up again.", NULL)
SRV_METRIC_GAUGE(m_risk_queue, "dustwatch_risk_recompute_queue",
                 "Enterprises waiting for a risk recompute.", NULL)
SRV_METRIC_GAUGE(m_risk_oldest, "dustwatch_risk_recompute_oldest_seconds",
                 "Age of the oldest waiting risk recompute request (0: none).", NULL)
SRV_METRIC_GAUGE(m_outbox, "dustwatch_notification_outbox_undelivered",
                 "Webhook notifications not delivered yet.", NULL)
SRV_METRIC_GAUGE(m_outbox_oldest, "dustwatch_notification_outbox_oldest_seconds",
                 "Age of the oldest undelivered webhook notification (0: none).", NULL)
SRV_METRIC_GAUGE(m_warnings_overdue, "dustwatch_warnings_overdue",
                 "Open warnings past their sign-by or clear-by deadline.", NULL)

/* Records one job run: its duration from t0 (now_us) and whether it failed. */
static void job_timed(const char *job, int64_t t0, db_status st)
{
    srv_metric_observe(&m_job_seconds, (double)(now_us() - t0) / 1e6, job);
    if (st != DB_OK)
        srv_metric_add(&m_job_failures, 1, job);
}

/* The queues and watermarks of the whole city, as gauges (every node's worker
 * reads the same figures). */
static void read_lag(db_conn *c)
{
    db_ops_lag lag;
    if (db_ops_lag_read(c, &lag) != DB_OK)
        return;
    srv_metric_set(&m_rollup_lag, lag.rollup_behind_s);
    srv_metric_set(&m_rollup_dirty, (double)lag.rollup_dirty_hours);
    srv_metric_set(&m_risk_queue, (double)lag.risk_requests);
    srv_metric_set(&m_risk_oldest, lag.risk_oldest_s);
    srv_metric_set(&m_outbox, (double)lag.outbox_undelivered);
    srv_metric_set(&m_outbox_oldest, lag.outbox_oldest_s);
    srv_metric_set(&m_warnings_overdue, (double)lag.warnings_overdue);
}

static void tick(db_conn *c, worker_clock *clk)
{
    if (db_ensure(c) != 0)
        return;
    int64_t tick_us = db_now_us(c);
    int64_t now_s = tick_us / 1000000;
    db_status st;
    int64_t t0;

    if (srv_clock_mono_ms() >= clk->next_maint_ms && try_periodic_lock(c)) {
        t0 = now_us();
        int ok = maintenance(c, now_s) == 0;
        job_timed("maintenance", t0, ok ? DB_OK : DB_HARD);
        clk->retention_left = 1;
        clk->next_maint_ms = srv_clock_mono_ms() + (ok ? 3600 : MAINT_RETRY_S) * 1000LL;
        periodic_unlock(c);
    }

    if (clk->retention_left && try_periodic_lock(c)) {
        job_retention_stats rst;
        t0 = now_us();
        st = job_retention_run(c, now_s, RETENTION_BUDGET_MS, &rst);
        job_timed("retention", t0, st);
        clk->retention_left = st == DB_OK && !rst.complete; /* a failure: at the next maintenance */
        periodic_unlock(c);
    }

    offline_arg off = {0, tick_us};
    t0 = now_us();
    st = db_run_tx(c, NULL, offline_tx, &off);
    job_timed("offline", t0, st);
    if (st == DB_OK)
        alarm_pub_flush();
    else
        alarm_pub_reset();
    if (st == DB_OK && off.n > 0)
        LOG_INFO("offline detection", "transitions=%zu", off.n);
    size_t n = 0;

    n = 0;
    st = job_filings_run(c, &n);
    (void)st;

    /* a catch-up after downtime gets a share of each tick, not all of it */
    job_rollup_stats rs;
    t0 = now_us();
    st = job_rollup_run(c, 2000, &rs);
    job_timed("rollup", t0, st);
    if (st == DB_OK && (rs.dirty_done > 0 || rs.steps > 1))
        LOG_INFO("readings rolled up",
                 "steps=%d minute_rows=%lld late_hours=%lld late_hours_left=%lld rolled_to=%lld",
                 rs.steps, (long long)rs.minute_rows, (long long)rs.dirty_done,
                 (long long)rs.dirty_left, (long long)rs.rolled_to_s);

    /* the statistics' day rollup follows the hourly one (migration 0114) */
    if (st == DB_OK) {
        int days = 0;
        int64_t covered = 0;
        t0 = now_us();
        st = db_stats_day_advance(c, 31, &days, &covered);
        job_timed("stats_day", t0, st);
        if (st == DB_OK && days > 1)
            LOG_INFO("statistics day rollup advanced", "days=%d covered_to=%lld", days,
                     (long long)covered);
    }
    /* and the alarms' and warnings' running totals per day (migrations 0155, 0156) */
    {
        int days = 0;
        t0 = now_us();
        st = db_stats_event_day_advance(c, 31, &days);
        job_timed("stats_event_day", t0, st);
        if (st == DB_OK && days > 1)
            LOG_INFO("statistics event days counted", "days=%d", days);
    }

    n = 0;
    t0 = now_us();
    st = alarm_flag_overdue(c, &n);
    job_timed("alarm_deadlines", t0, st);
    if (st == DB_OK && n > 0)
        LOG_INFO("alarm deadlines passed", "alarms=%zu", n);

    /* a new model version stored and activated through the API: in force from here on,
     * and every enterprise is scored under it at once */
    if (job_risk_watch_model(c) == 1)
        clk->next_all_ms = 0;

    n = 0;
    t0 = now_us();
    st = job_risk_run_requests(c, now_s, &n);
    job_timed("risk_requests", t0, st);
    if (st == DB_OK && n > 0)
        LOG_DEBUG("risk recomputed on change", "enterprises=%zu", n);

    if (srv_clock_mono_ms() >= clk->next_all_ms && try_periodic_lock(c)) {
        n = 0;
        t0 = now_us();
        /* on as many backends as a burst of requests (risk_change_threads) */
        st = job_risk_run_all(c, (int)g_config.risk_change_threads, now_s, &n);
        job_timed("risk_all", t0, st);
        periodic_unlock(c);
        if (st == DB_OK) {
            clk->next_all_ms = srv_clock_mono_ms() + g_config.risk_recompute_all_s * 1000LL;
            LOG_INFO("risk recomputed for all enterprises", "enterprises=%zu", n);
        }
    }

    n = 0;
    t0 = now_us();
    st = job_risk_check_warnings(c, db_now_us(c) / 1000000, &n);
    job_timed("warnings", t0, st);
    if (st == DB_OK)
        srv_metric_add(&m_escalations, (double)n);

    long changed = 0; /* connection_status derived from data (migration 0075) */
    if (db_onboarding_refresh_connections(c, g_config.connected_window_h * 3600L, &changed) ==
            DB_OK &&
        changed > 0)
        LOG_INFO("connection status derived", "enterprises_changed=%ld", changed);

    n = 0; /* monthly reports of the month that ended, a few per tick */
    st = job_report_run(c, (time_t)now_s, 2, &n);
    (void)st;

    /* camera status: video_offline, the S input, has this as its only writer */
    if (g_config.camera_offline_after_s > 0) {
        n = 0;
        st = db_jobs_video_offline(c, g_config.camera_offline_after_s, &n);
        if (st == DB_OK && n > 0)
            LOG_INFO("cameras offline changed", "enterprises=%zu", n);
    }

    n = 0;
    t0 = now_us();
    st = job_webhook_run(c, 20, &n);
    job_timed("webhooks", t0, st);
    if (st == DB_OK && n > 0)
        LOG_INFO("webhooks delivered", "n=%zu", n);

    /* last: the jobs above have deadlines, this one only saves requests time (0.7-1.0 s of
     * PostgreSQL every stats_snapshot_s at 2,000 enterprises); one node fills for all */
    if (g_config.stats_snapshot_s > 0 && srv_clock_mono_ms() >= clk->next_snapshot_ms &&
        try_periodic_lock(c)) {
        int filled = 0;
        t0 = now_us();
        st = db_stats_snapshot_refresh(c, g_config.connected_window_h * 3600L, &filled);
        job_timed("stats_snapshot", t0, st);
        periodic_unlock(c);
        clk->next_snapshot_ms = srv_clock_mono_ms() + g_config.stats_snapshot_s * 1000LL;
    }

    read_lag(c);
    srv_metric_set(&m_last_tick, (double)now_us() / 1e6);
}

static void *worker_main(void *arg)
{
    (void)arg;
    char err[512];
    const db_timeouts worker_timeouts = db_timeouts_configured(DB_FOR_WORKER);
    db_conn *c = NULL;
    worker_clock clk = {0, 0, 0, 0}; /* all due at the first tick */
    pthread_mutex_lock(&W.mu);
    while (W.running) {
        pthread_mutex_unlock(&W.mu);
        if (!c) {
            c = db_connect_scoped(g_config.database_url, "system", &worker_timeouts, err,
                                  sizeof err);
            if (!c)
                LOG_WARN("worker has no database", "detail=%s",
                         srv_log_q((char[600]){0}, 600, err));
        }
        if (c)
            tick(c, &clk);
        pthread_mutex_lock(&W.mu);
        if (!W.running)
            break;
        long ms = g_config.worker_interval_ms > 0 ? g_config.worker_interval_ms : 10000;
        struct timespec until = srv_clock_deadline(ms); /* W.cv waits on CLOCK_MONOTONIC */
        pthread_cond_timedwait(&W.cv, &W.mu, &until);
    }
    pthread_mutex_unlock(&W.mu);
    db_close(c);
    return NULL;
}

/* ---- risk on change ------------------------------------------------------------------ */

/* Threads with connections of their own LISTEN for recompute requests (migration 0040
 * notifies at commit) and recompute those enterprises at once, so a warning follows
 * the reading that raised the grade by a round trip or two — not at the next tick, and
 * not behind a tick's rollups either.  The tick's own pass over the queue stays the safety
 * net (requests queued while nobody listened, a lost connection); the two never recompute
 * an enterprise twice at once (SKIP LOCKED on the queue, per-enterprise locks); nor do
 * the risk threads among themselves, which all wake for a notification and take disjoint
 * batches (one finding the queue empty costs one statement).  The
 * debounce gathers a burst (an ingest group commit, an import) into one batch; the slice
 * bounds how late a stop is noticed while waiting on the socket. */
#define RISK_CHANGE_DEBOUNCE_MS 50
#define WAIT_SLICE_MS           250
#define RECONNECT_MS            2000

static int still_running(void)
{
    pthread_mutex_lock(&W.mu);
    int r = W.running;
    pthread_mutex_unlock(&W.mu);
    return r;
}

/* Sleeps ms unless job_worker_stop() wakes the thread. */
static void nap(long ms)
{
    struct timespec ts = srv_clock_deadline(ms); /* W.cv waits on CLOCK_MONOTONIC */
    pthread_mutex_lock(&W.mu);
    if (W.running)
        pthread_cond_timedwait(&W.cv, &W.mu, &ts);
    pthread_mutex_unlock(&W.mu);
}

static void *risk_main(void *arg)
{
    (void)arg;
    char err[512];
    const db_timeouts timeouts = db_timeouts_configured(DB_FOR_WORKER);
    db_conn *c = NULL;
    while (still_running()) {
        if (!c) {
            /* the tick thread logs that the database is away */
            c = db_connect_scoped(g_config.database_url, "system", &timeouts, err, sizeof err);
            if (!c) {
                nap(RECONNECT_MS);
                continue;
            }
        }
        int got = job_risk_wait_change(c, WAIT_SLICE_MS);
        if (got < 0) { /* connection lost: again a little later */
            nap(RECONNECT_MS);
            if (still_running())
                (void)db_ensure(c);
            continue;
        }
        if (got == 0)
            continue;
        nap(RISK_CHANGE_DEBOUNCE_MS);
        if (!still_running())
            break;
        (void)job_risk_wait_change(c, 0); /* the burst's other notifications */
        size_t n = 0;
        db_status st = job_risk_run_requests(c, db_now_us(c) / 1000000, &n);
        if (st == DB_OK && n > 0)
            LOG_DEBUG("risk recomputed on change", "enterprises=%zu", n);
    }
    db_close(c);
    return NULL;
}

static void job_worker_stop_threads(int risk_too)
{
    pthread_mutex_lock(&W.mu);
    W.running = 0;
    pthread_cond_broadcast(&W.cv);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    for (int i = 0; risk_too && i < W.n_risk; i++)
        pthread_join(W.risk_thread[i], NULL);
    W.n_risk = 0;
}

int job_worker_start(void)
{
    risk_model m;
    char err[512];
    if (srv_riskmodel_load(g_config.risk_model, &m, err, sizeof err) != 0) {
        LOG_CRIT("risk model invalid", "file=%s detail=%s",
                 srv_log_q((char[600]){0}, 600, g_config.risk_model),
                 srv_log_q((char[600]){0}, 600, err));
        return -1;
    }
    alarm_register_statements();
    job_risk_init(&m);
    job_webhook_init();
    job_rollup_init();
    db_onboarding_register();
    job_report_init();
    job_filings_init();
    db_jobs_register();
    db_ops_register();
    job_retention_init();
    if (srv_clock_cond_init(&W.cv) != 0)
        return -1;
    W.running = 1;
    if (pthread_create(&W.thread, NULL, worker_main, NULL) != 0) {
        W.running = 0;
        return -1;
    }
    /* each takes batches of the queue with SKIP LOCKED: a burst is recomputed on as many
     * PostgreSQL backends (the cost is there, not here) */
    int n_risk = g_config.risk_change_threads < 1 ? 1
                 : g_config.risk_change_threads > JOB_RISK_THREADS_MAX
                     ? JOB_RISK_THREADS_MAX
                     : (int)g_config.risk_change_threads;
    for (W.n_risk = 0; W.n_risk < n_risk; W.n_risk++)
        if (pthread_create(&W.risk_thread[W.n_risk], NULL, risk_main, NULL) != 0) {
            job_worker_stop_threads(1);
            return -1;
        }
    W.started = 1;
    LOG_INFO("worker started", "model=%s interval_ms=%ld risk_threads=%d", m.version,
             g_config.worker_interval_ms, W.n_risk);
    return 0;
}

void job_worker_stop(void)
{
    if (!W.started)
        return;
    job_worker_stop_threads(1);
    W.started = 0;
}

static int role_start(struct event_base *base)
{
    (void)base; /* the worker runs its own thread and connection */
    return job_worker_start();
}

const srv_role job_worker_role = {
    .name = "worker",
    .help = "timers: partitions, offline detection, rollups, risk, warning deadlines",
    .start = role_start,
    .stop = job_worker_stop,
};
