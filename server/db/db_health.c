#include "db_health.h"

#include "db_internal.h"
#include "db_migrate.h"
#include "rds.h"
#include "srv_clock.h"
#include "srv_config.h"
#include "srv_log.h"

#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;
    int poked;
    char *url;
    const db_migration_set *set;
    atomic_int pg_ok;
    atomic_int migrated;
    char pg_detail[300];
    char mig_detail[300];
    char durability[200];
    int64_t checked_ms; /* CLOCK_MONOTONIC of the last verdict; 0: none yet */
    long timeout_ms;    /* deadline of one check's queries */
} H = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One query with a deadline.  A PostgreSQL that stops answering (a stopped
 * or wedged backend, a frozen host whose kernel still acknowledges TCP)
 * trips neither statement_timeout (the backend does not run) nor the TCP
 * timeouts (the data is acknowledged): a blocking PQexec would wait for
 * ever and /readyz would keep the last verdict.  NULL on timeout or error,
 * with the reason in why; the connection is then unusable (the caller drops
 * it). */
static PGresult *exec_deadline(PGconn *pg, const char *sql, int64_t deadline_ms, char *why,
                               size_t whylen)
{
    if (!PQsendQueryParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0)) {
        snprintf(why, whylen, "%s", PQerrorMessage(pg));
        return NULL;
    }
    PGresult *last = NULL;
    for (;;) {
        while (!PQisBusy(pg)) {
            PGresult *r = PQgetResult(pg);
            if (!r)
                return last;
            PQclear(last);
            last = r;
        }
        int64_t left = deadline_ms - mono_ms();
        if (left <= 0) {
            /* no PQcancel: it waits for the postmaster's answer, which a
             * stopped server never gives; the caller drops the connection
             * and the statement_timeout set at connect ends the query */
            snprintf(why, whylen, "no answer within %ld ms", H.timeout_ms);
            PQclear(last);
            return NULL;
        }
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno != EINTR) {
            snprintf(why, whylen, "poll failed");
            PQclear(last);
            return NULL;
        }
        if (n > 0 && !PQconsumeInput(pg)) {
            snprintf(why, whylen, "%s", PQerrorMessage(pg));
            PQclear(last);
            return NULL;
        }
    }
}

static void quiet(void *a, const char *m)
{
    (void)a;
    (void)m;
}

static void chomp(char *s)
{
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == ' '))
        s[--l] = '\0';
}

/* T3: a server that acknowledges readings must not run on a database that
 * may lose them; report it loudly rather than pretend. */
static void check_durability(PGconn *pg, int64_t deadline_ms, char *out, size_t len)
{
    out[0] = '\0';
    char why[200];
    PGresult *r = exec_deadline(pg,
                                "SELECT current_setting('fsync'), "
                                "current_setting('synchronous_commit'), "
                                "current_setting('full_page_writes')",
                                deadline_ms, why, sizeof why);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        if (strcmp(PQgetvalue(r, 0, 0), "on") != 0)
            snprintf(out, len, "fsync=%s", PQgetvalue(r, 0, 0));
        else if (strcmp(PQgetvalue(r, 0, 1), "off") == 0 ||
                 strcmp(PQgetvalue(r, 0, 1), "local") == 0)
            snprintf(out, len, "synchronous_commit=%s", PQgetvalue(r, 0, 1));
        else if (strcmp(PQgetvalue(r, 0, 2), "on") != 0)
            snprintf(out, len, "full_page_writes=%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
}

static void *monitor(void *arg)
{
    (void)arg;
    PGconn *pg = NULL;
    char last_durability[200] = "";
    pthread_mutex_lock(&H.mu);
    while (H.running) {
        pthread_mutex_unlock(&H.mu);
        if (pg && PQstatus(pg) != CONNECTION_OK) {
            PQfinish(pg);
            pg = NULL;
        }
        if (!pg) {
            /* a health check that waits is no health check: a held lock
             * (schema_migrations during a migration) or a stuck statement
             * fails it within the second instead of freezing /readyz; set
             * at connect, so no statement runs without a deadline */
            char ct[24], opts[200];
            snprintf(ct, sizeof ct, "%ld", H.timeout_ms / 1000 > 2 ? H.timeout_ms / 1000 : 2);
            snprintf(opts, sizeof opts,
                     "-c statement_timeout=%ld -c lock_timeout=%ld "
                     "-c idle_in_transaction_session_timeout=10000",
                     H.timeout_ms, H.timeout_ms / 2 > 0 ? H.timeout_ms / 2 : 1);
            const char *keys[] = {"dbname",
                                  "connect_timeout",
                                  "application_name",
                                  "tcp_user_timeout",
                                  "keepalives",
                                  "options",
                                  NULL};
            const char *vals[] = {H.url, ct, "dustwatch-health", "3000", "1", opts, NULL};
            pg = PQconnectdbParams(keys, vals, 1);
            if (PQstatus(pg) == CONNECTION_OK)
                PQsetNoticeProcessor(pg, quiet, NULL);
        }
        int pg_ok = 0, migrated = 0, timed_out = 0;
        char pgd[300] = "", md[300] = "", dur[200] = "";
        if (PQstatus(pg) == CONNECTION_OK) {
            int64_t deadline = mono_ms() + H.timeout_ms;
            PGresult *r = exec_deadline(pg, "SELECT 1", deadline, pgd, sizeof pgd);
            pg_ok = PQresultStatus(r) == PGRES_TUPLES_OK;
            if (!pg_ok && r)
                snprintf(pgd, sizeof pgd, "%s", PQerrorMessage(pg));
            timed_out = !r;
            PQclear(r);
            if (pg_ok) {
                int cur = db_migrate_is_current(pg, H.set, md, sizeof md);
                migrated = cur == 1;
                check_durability(pg, deadline + H.timeout_ms, dur, sizeof dur);
            }
        } else {
            snprintf(pgd, sizeof pgd, "%s", PQerrorMessage(pg));
        }
        chomp(pgd);
        if (timed_out) {
            /* the connection may still owe the answer: start afresh */
            LOG_WARN("postgresql did not answer the health check", "detail=%s",
                     srv_log_q((char[400]){0}, 400, pgd));
            PQfinish(pg);
            pg = NULL;
        }
        if (pg_ok != atomic_load(&H.pg_ok)) {
            if (pg_ok)
                LOG_INFO("postgresql reachable", "%s", "");
            else
                LOG_WARN("postgresql unreachable", "detail=%s",
                         srv_log_q((char[400]){0}, 400, pgd));
        }
        if (dur[0] && strcmp(dur, last_durability) != 0)
            LOG_CRIT("postgresql is not durable: acknowledged readings could be lost", "setting=%s",
                     dur);
        snprintf(last_durability, sizeof last_durability, "%s", dur);
        pthread_mutex_lock(&H.mu);
        atomic_store(&H.pg_ok, pg_ok);
        atomic_store(&H.migrated, migrated);
        snprintf(H.pg_detail, sizeof H.pg_detail, "%s", pgd);
        snprintf(H.mig_detail, sizeof H.mig_detail, "%s", md);
        snprintf(H.durability, sizeof H.durability, "%s", dur);
        H.checked_ms = mono_ms();
        if (!H.running)
            break;
        if (!H.poked) {
            /* the condition variable waits on CLOCK_MONOTONIC (db_health_start):
             * a wall-clock step neither skips nor stretches the interval */
            struct timespec ts = srv_clock_deadline(1000);
            pthread_cond_timedwait(&H.cv, &H.mu, &ts);
        }
        H.poked = 0;
    }
    pthread_mutex_unlock(&H.mu);
    if (pg)
        PQfinish(pg);
    return NULL;
}

int db_health_start(const char *database_url, const db_migration_set *set)
{
    H.url = strdup(database_url);
    H.set = set;
    H.timeout_ms = g_config.db_health_timeout_ms > 0 ? g_config.db_health_timeout_ms : 2000;
    H.checked_ms = 0;
    if (srv_clock_cond_init(&H.cv) != 0) {
        free(H.url);
        H.url = NULL;
        return -1;
    }
    H.running = 1;
    if (!H.url || pthread_create(&H.thread, NULL, monitor, NULL) != 0) {
        H.running = 0;
        free(H.url);
        H.url = NULL;
        return -1;
    }
    return 0;
}

void db_health_stop(void)
{
    pthread_mutex_lock(&H.mu);
    int was = H.running;
    H.running = 0;
    pthread_cond_broadcast(&H.cv);
    pthread_mutex_unlock(&H.mu);
    if (was)
        pthread_join(H.thread, NULL);
    free(H.url);
    H.url = NULL;
}

void db_health_poke(void)
{
    pthread_mutex_lock(&H.mu);
    H.poked = 1;
    pthread_cond_signal(&H.cv);
    pthread_mutex_unlock(&H.mu);
}

int db_health_db_ready(void)
{
    return atomic_load(&H.pg_ok) && atomic_load(&H.migrated);
}

/* A verdict older than this is no verdict: the monitor is stuck in a check
 * (a connect that hangs up to its connect_timeout, the migrations query). */
static int64_t overdue_ms(void)
{
    long connect_ms = H.timeout_ms > 2000 ? H.timeout_ms : 2000;
    return connect_ms + 2 * H.timeout_ms + 1000;
}

int db_health_readyz(char *buf, size_t len)
{
    pthread_mutex_lock(&H.mu);
    int pg_ok = atomic_load(&H.pg_ok), mig = atomic_load(&H.migrated);
    char detail[340];
    snprintf(detail, sizeof detail, "%s", H.pg_detail[0] ? H.pg_detail : "not checked yet");
    if (pg_ok && H.checked_ms && mono_ms() - H.checked_ms > overdue_ms()) {
        pg_ok = 0;
        snprintf(detail, sizeof detail, "no answer: the last health check finished %lld ms ago",
                 (long long)(mono_ms() - H.checked_ms));
    }
    int durable = H.durability[0] == '\0';
    int ready = pg_ok && mig && durable;
    json_t *pgj = json_pack("{s:b}", "ok", pg_ok);
    if (!pg_ok)
        json_object_set_new(pgj, "detail", json_string(detail));
    json_t *mj = json_pack("{s:b}", "ok", mig);
    if (!mig && H.mig_detail[0])
        json_object_set_new(mj, "detail", json_string(H.mig_detail));
    json_t *root =
        json_pack("{s:s, s:o, s:o, s:{s:b}, s:s}", "status", ready ? "ready" : "not_ready",
                  "postgres", pgj, "migrations", mj, "redis", "ok", rds_is_up(), "durability",
                  H.durability[0] ? "degraded" : "ok");
    if (H.durability[0])
        json_object_set_new(root, "durability_detail", json_string(H.durability));
    pthread_mutex_unlock(&H.mu);
    char *s = json_dumps(root, JSON_COMPACT);
    snprintf(buf, len, "%s", s ? s : "{}");
    free(s);
    json_decref(root);
    return ready ? 200 : 503;
}
