#include "db_health.h"

#include "db_internal.h"
#include "db_migrate.h"
#include "rds.h"
#include "srv_log.h"

#include <jansson.h>
#include <libpq-fe.h>
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
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

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
static void check_durability(PGconn *pg, char *out, size_t len)
{
    out[0] = '\0';
    PGresult *r = PQexecParams(pg,
                               "SELECT current_setting('fsync'), "
                               "current_setting('synchronous_commit'), "
                               "current_setting('full_page_writes')",
                               0, NULL, NULL, NULL, NULL, 0);
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
            const char *keys[] = {"dbname",           "connect_timeout", "application_name",
                                  "tcp_user_timeout", "keepalives",      NULL};
            const char *vals[] = {H.url, "2", "dustwatch-health", "3000", "1", NULL};
            pg = PQconnectdbParams(keys, vals, 1);
            if (PQstatus(pg) == CONNECTION_OK) {
                PQsetNoticeProcessor(pg, quiet, NULL);
                /* a health check that waits is no health check: a held lock
                 * (schema_migrations during a migration) or a stuck statement
                 * fails it within the second instead of freezing /readyz */
                PQclear(PQexec(pg, "SET statement_timeout = 2000; SET lock_timeout = 1000; "
                                   "SET idle_in_transaction_session_timeout = 10000"));
            }
        }
        int pg_ok = 0, migrated = 0;
        char pgd[300] = "", md[300] = "", dur[200] = "";
        if (PQstatus(pg) == CONNECTION_OK) {
            PGresult *r = PQexecParams(pg, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
            pg_ok = PQresultStatus(r) == PGRES_TUPLES_OK;
            if (!pg_ok)
                snprintf(pgd, sizeof pgd, "%s", PQerrorMessage(pg));
            PQclear(r);
            if (pg_ok) {
                int cur = db_migrate_is_current(pg, H.set, md, sizeof md);
                migrated = cur == 1;
                check_durability(pg, dur, sizeof dur);
            }
        } else {
            snprintf(pgd, sizeof pgd, "%s", PQerrorMessage(pg));
        }
        chomp(pgd);
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
        if (!H.running)
            break;
        if (!H.poked) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
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

int db_health_readyz(char *buf, size_t len)
{
    pthread_mutex_lock(&H.mu);
    int pg_ok = atomic_load(&H.pg_ok), mig = atomic_load(&H.migrated);
    json_t *pgj = json_pack("{s:b}", "ok", pg_ok);
    if (!pg_ok)
        json_object_set_new(pgj, "detail",
                            json_string(H.pg_detail[0] ? H.pg_detail : "not checked yet"));
    json_t *mj = json_pack("{s:b}", "ok", mig);
    if (!mig && H.mig_detail[0])
        json_object_set_new(mj, "detail", json_string(H.mig_detail));
    json_t *root =
        json_pack("{s:s, s:o, s:o, s:{s:b}, s:s}", "status", pg_ok && mig ? "ready" : "not_ready",
                  "postgres", pgj, "migrations", mj, "redis", "ok", rds_is_up(), "durability",
                  H.durability[0] ? "degraded" : "ok");
    if (H.durability[0])
        json_object_set_new(root, "durability_detail", json_string(H.durability));
    pthread_mutex_unlock(&H.mu);
    char *s = json_dumps(root, JSON_COMPACT);
    snprintf(buf, len, "%s", s ? s : "{}");
    free(s);
    json_decref(root);
    return pg_ok && mig ? 200 : 503;
}
