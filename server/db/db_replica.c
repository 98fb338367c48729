/* db_replica.c — reads a streaming replica may serve (see db_replica.h).
 *
 * Why positions and not pg_last_xact_replay_timestamp(): that timestamp is the
 * primary's clock at its last commit, so an idle primary makes a caught-up
 * replica look old and a skewed clock makes a late one look fresh.  Here the
 * primary's WAL position is sampled on our monotonic clock; the replica is as
 * old as the newest sample it has replayed. */
#include "db_replica.h"

#include "db_internal.h"
#include "srv_clock.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLES       64
#define DOWN_RETRY_MS 5000

static const db_stmt statements[] = {
    /* a standby answers its replayed position, a primary its current one;
     * CASE keeps pg_current_wal_lsn() (an error in recovery) off a standby */
    {"replica_wal_position",
     "SELECT pg_is_in_recovery(), (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
     "ELSE pg_current_wal_lsn() END - '0/0'::pg_lsn)::bigint"},
};

SRV_METRIC_GAUGE(m_lag, "dustwatch_db_replica_lag_seconds",
                 "Staleness of the read replica last measured by this API node (-1: down or not "
                 "measured); reads go to the primary above db_read_max_lag_ms.",
                 NULL)

struct db_replica {
    db_pool *pool;
    char *primary_url, *replica_url;
    db_timeouts timeouts;
    int max_lag_ms, check_every_ms;

    _Atomic int verdict;        /* db_replica_verdict last measured */
    _Atomic int64_t next_check; /* monotonic ms */
    _Atomic int64_t lag_ms;     /* -1: unknown */

    pthread_mutex_t check_mu; /* held by the one thread measuring; guards below */
    db_conn *probe_primary, *probe_replica;
    struct {
        int64_t at_ms;
        int64_t lsn;
    } samples[SAMPLES]; /* oldest first, positions never decrease */
    int n_samples;
};

db_replica *db_replica_new(const char *url, const char *primary_url, int size, const db_timeouts *t,
                           int max_lag_ms)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    db_replica *rp = calloc(1, sizeof *rp);
    if (!rp)
        return NULL;
    rp->pool = db_pool_new(url, size, t);
    rp->primary_url = strdup(primary_url);
    rp->replica_url = strdup(url);
    if (!rp->pool || !rp->primary_url || !rp->replica_url) {
        db_pool_free(rp->pool);
        free(rp->primary_url);
        free(rp->replica_url);
        free(rp);
        return NULL;
    }
    if (t)
        rp->timeouts = *t;
    rp->max_lag_ms = max_lag_ms > 0 ? max_lag_ms : 1;
    rp->check_every_ms = rp->max_lag_ms / 4 < 1000 ? rp->max_lag_ms / 4 : 1000;
    if (rp->check_every_ms < 10)
        rp->check_every_ms = 10;
    atomic_init(&rp->verdict, DB_REPLICA_DOWN);
    atomic_init(&rp->next_check, 0);
    atomic_init(&rp->lag_ms, -1);
    pthread_mutex_init(&rp->check_mu, NULL);
    return rp;
}

void db_replica_free(db_replica *rp)
{
    if (!rp)
        return;
    db_close(rp->probe_primary);
    db_close(rp->probe_replica);
    db_pool_free(rp->pool);
    pthread_mutex_destroy(&rp->check_mu);
    free(rp->primary_url);
    free(rp->replica_url);
    free(rp);
}

/* Reads where url's node stands: 0 with *in_recovery and *lsn, -1 when it
 * cannot be read.  *probe is connected on first use and kept. */
static int wal_position(db_conn **probe, const char *url, const db_timeouts *t, int *in_recovery,
                        int64_t *lsn)
{
    if (!*probe) {
        char err[512];
        *probe = db_connect(url, t, err, sizeof err);
        if (!*probe) {
            LOG_WARN("replica probe could not connect", "detail=%s",
                     srv_log_q((char[600]){0}, 600, err));
            return -1;
        }
    }
    if (db_ensure(*probe) != 0)
        return -1;
    db_status st;
    PGresult *r = db_exec(*probe, "replica_wal_position", 0, NULL, &st);
    if (!r)
        return -1;
    int ok = PQntuples(r) == 1 && !PQgetisnull(r, 0, 1);
    if (ok) {
        *in_recovery = PQgetvalue(r, 0, 0)[0] == 't';
        *lsn = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

static void remember(db_replica *rp, int64_t at_ms, int64_t lsn)
{
    if (rp->n_samples == SAMPLES) {
        memmove(rp->samples, rp->samples + 1, (SAMPLES - 1) * sizeof rp->samples[0]);
        rp->n_samples--;
    }
    rp->samples[rp->n_samples].at_ms = at_ms;
    rp->samples[rp->n_samples].lsn = lsn;
    rp->n_samples++;
}

/* Staleness of a replica that has replayed up to lsn, at now_ms: the age of
 * the newest primary position it covers; -1 when it covers none of them (it
 * is at least as old as the oldest sample: unknown how much more). */
static int64_t staleness(const db_replica *rp, int64_t lsn, int64_t now_ms)
{
    for (int i = rp->n_samples - 1; i >= 0; i--)
        if (rp->samples[i].lsn <= lsn)
            return now_ms - rp->samples[i].at_ms;
    return -1;
}

static void set_verdict(db_replica *rp, db_replica_verdict v, int64_t lag_ms, int64_t next_ms)
{
    atomic_store(&rp->lag_ms, lag_ms);
    atomic_store(&rp->verdict, (int)v);
    atomic_store(&rp->next_check, next_ms);
    srv_metric_set(&m_lag, lag_ms >= 0 ? (double)lag_ms / 1000.0 : -1.0);
}

/* Called with check_mu held. */
static void measure(db_replica *rp)
{
    int rec;
    int64_t primary_lsn, replica_lsn;
    const db_timeouts *t = &rp->timeouts;
    int64_t sampled = srv_clock_mono_ms();
    if (wal_position(&rp->probe_primary, rp->primary_url, t, &rec, &primary_lsn) != 0) {
        set_verdict(rp, DB_REPLICA_DOWN, -1, srv_clock_mono_ms() + rp->check_every_ms);
        return;
    }
    remember(rp, sampled, primary_lsn);
    if (wal_position(&rp->probe_replica, rp->replica_url, t, &rec, &replica_lsn) != 0) {
        set_verdict(rp, DB_REPLICA_DOWN, -1, srv_clock_mono_ms() + DOWN_RETRY_MS);
        return;
    }
    int64_t now = srv_clock_mono_ms();
    if (!rec) {
        set_verdict(rp, DB_REPLICA_PRIMARY, 0, now + rp->check_every_ms);
        return;
    }
    int64_t lag = staleness(rp, replica_lsn, now);
    set_verdict(rp, lag >= 0 && lag <= rp->max_lag_ms ? DB_REPLICA_USED : DB_REPLICA_STALE, lag,
                now + rp->check_every_ms);
}

int db_replica_warm(db_replica *rp, db_warm_fn warm)
{
    return db_pool_warm(rp->pool, warm);
}

db_conn *db_replica_get(db_replica *rp, int timeout_ms, db_replica_verdict *why)
{
    if (srv_clock_mono_ms() >= atomic_load(&rp->next_check) &&
        pthread_mutex_trylock(&rp->check_mu) == 0) {
        if (srv_clock_mono_ms() >= atomic_load(&rp->next_check))
            measure(rp);
        pthread_mutex_unlock(&rp->check_mu);
    }
    db_replica_verdict v = (db_replica_verdict)atomic_load(&rp->verdict);
    *why = v;
    if (v != DB_REPLICA_USED && v != DB_REPLICA_PRIMARY)
        return NULL;
    db_conn *c = db_pool_get(rp->pool, timeout_ms);
    if (!c) {
        /* the probe saw it a moment ago, the pool cannot reach it now: wait for the next probe */
        set_verdict(rp, DB_REPLICA_DOWN, -1, srv_clock_mono_ms() + DOWN_RETRY_MS);
        *why = DB_REPLICA_DOWN;
    }
    return c;
}

void db_replica_put(db_replica *rp, db_conn *c)
{
    db_pool_put(rp->pool, c);
}

void db_replica_mark_down(db_replica *rp)
{
    set_verdict(rp, DB_REPLICA_DOWN, -1, srv_clock_mono_ms() + DOWN_RETRY_MS);
    db_pool_drop_idle(rp->pool);
}

double db_replica_lag_s(db_replica *rp)
{
    int64_t ms = atomic_load(&rp->lag_ms);
    return ms >= 0 ? (double)ms / 1000.0 : -1.0;
}
