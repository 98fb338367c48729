#include "srv_serve.h"

#include "db.h"
#include "db_credentials.h"
#include "db_migrate.h"
#include "rds.h"
#include "srv_config.h"
#include "srv_secret.h"
#include "db_health.h"
#include "srv_log.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* at most this many roles in one binary (one bit each in S.active) */
#define MAX_ROLES 8

static struct {
    struct event_base *base;
    struct event *sig_term, *sig_int, *drain_timer;
    const srv_role *const *roles;
    size_t n_roles;
    unsigned active;
    struct timespec drain_started;
} S;

static int parse_roles(const char *s, unsigned *out)
{
    unsigned active = 0;
    char *copy = strdup(s);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        size_t i = 0;
        while (i < S.n_roles && strcmp(tok, S.roles[i]->name) != 0)
            i++;
        if (i == S.n_roles) {
            free(copy);
            return -1;
        }
        active |= 1u << i;
    }
    free(copy);
    if (!active)
        return -1;
    *out = active;
    return 0;
}

static int role_active(size_t i)
{
    return (S.active >> i) & 1u;
}

static double elapsed_s(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    int busy = 0;
    for (size_t i = 0; i < S.n_roles; i++)
        if (role_active(i) && S.roles[i]->in_flight)
            busy += S.roles[i]->in_flight();
    double waited = elapsed_s(&S.drain_started);
    if (busy == 0 || waited >= (double)g_config.shutdown_grace_s) {
        if (busy)
            LOG_WARN("shutdown grace period over", "in_flight=%d", busy);
        event_base_loopexit(S.base, NULL);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (S.drain_timer) {
        LOG_WARN("second signal: exiting now", "signal=%d", (int)sig);
        event_base_loopbreak(S.base);
        return;
    }
    LOG_INFO("shutting down: no new connections, finishing in-flight requests",
             "signal=%d grace_s=%ld", (int)sig, g_config.shutdown_grace_s);
    for (size_t i = 0; i < S.n_roles; i++)
        if (role_active(i) && S.roles[i]->stop_accepting)
            S.roles[i]->stop_accepting();
    clock_gettime(CLOCK_MONOTONIC, &S.drain_started);
    S.drain_timer = event_new(S.base, -1, EV_PERSIST, on_drain_tick, NULL);
    struct timeval tv = {0, 50000};
    event_add(S.drain_timer, &tv);
}

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: dustwatch serve [--config FILE] [--roles ingest,api,worker]\n"
                 "\n"
                 "Runs the server.  Roles:\n");
    for (size_t i = 0; i < S.n_roles; i++)
        fprintf(out, "  %-7s %s\n", S.roles[i]->name, S.roles[i]->help);
    fprintf(out, "Every role is stateless apart from PostgreSQL and Redis, so roles can be split\n"
                 "across processes and machines.  SIGTERM/SIGINT stop accepting, let in-flight\n"
                 "requests finish (shutdown_grace_s) and exit 0.\n"
                 "\n"
                 "  -c, --config FILE   configuration file (see deploy/dustwatch.conf.example)\n"
                 "  -r, --roles LIST    overrides the roles key\n"
                 "  -h, --help          this text\n");
}

/* Gateway keys stored before migration 0033 (or inserted in plaintext by
 * hand since) are sealed with the master key before the listeners open.
 * Best effort: a database not migrated yet or down is logged, and the ingest
 * writers still read unsealed keys. */
static void seal_credentials(void)
{
    char err[512];
    db_conn *c = db_connect_scoped(g_config.database_url, "system", NULL, err, sizeof err);
    if (!c) {
        LOG_WARN("gateway keys not sealed at start", "detail=%s",
                 srv_log_q((char[600]){0}, 600, err));
        return;
    }
    int sealed = 0;
    if (db_credentials_seal_plaintext(c, &sealed) != DB_OK)
        LOG_WARN("gateway keys not sealed at start", "detail=%s",
                 "see the statement error above (is the database migrated?)");
    else if (sealed > 0)
        LOG_INFO("gateway keys sealed", "count=%d", sealed);
    db_close(c);
}

int srv_serve_main(int argc, char **argv, const srv_role *const *roles, size_t n)
{
    if (n > MAX_ROLES)
        return 1;
    S.roles = roles;
    S.n_roles = n;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"roles", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *roles_arg = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            roles_arg = optarg;
            break;
        case 'h':
            serve_usage(stdout);
            return 0;
        default:
            serve_usage(stderr);
            return 2;
        }
    }
    char err[1024];
    if (srv_config_load(config, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        return 2;
    }
    if (srv_log_set_level_name(g_config.log_level) != 0) {
        fprintf(stderr, "dustwatch: invalid log_level \"%s\" (debug, info, warn, error, crit)\n",
                g_config.log_level);
        srv_config_free();
        return 2;
    }
    if (parse_roles(roles_arg ? roles_arg : g_config.roles, &S.active) != 0) {
        fprintf(stderr, "dustwatch: invalid roles \"%s\" (any of ingest, api, worker, forward)\n",
                roles_arg ? roles_arg : g_config.roles);
        srv_config_free();
        return 2;
    }
    char rh[256], rpw[256];
    int rport, rdb;
    if (rds_parse_url(g_config.redis_url, rh, sizeof rh, &rport, &rdb, rpw, sizeof rpw) != 0) {
        /* not echoed: it may hold the password */
        fprintf(stderr, "dustwatch: invalid redis_url (expected "
                        "redis://[[user]:password@]host:port/db)\n");
        srv_config_free();
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "dustwatch: libsodium failed to initialise\n");
        srv_config_free();
        return 1;
    }
    /* the audit chain's key and the key of stored gateway keys: refuse to
     * start rather than write rows nobody can verify or refuse every gateway */
    if (srv_secret_require(err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        srv_config_free();
        return 2;
    }
    db_migration_set migrations;
    if (db_migrations_read(g_config.migrations_dir, &migrations, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        srv_config_free();
        return 2;
    }
    if (db_migrate_schema_unknown(g_config.database_url, &migrations, err, sizeof err)) {
        fprintf(stderr,
                "dustwatch: refusing to start: %s; run the build that migrated it, "
                "or restore the backup taken before the upgrade (deploy/README.md)\n",
                err);
        LOG_ERROR("refusing to start on a schema this build does not know", "detail=%s",
                  srv_log_q((char[600]){0}, 600, err));
        db_migrations_free(&migrations);
        srv_config_free();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    S.base = event_base_new();
    int rc = 1;
    if (!S.base)
        goto out;
    /* before any listener exists: a signal that arrives while we start must
     * mean "shut down cleanly", never the default "die" */
    S.sig_term = evsignal_new(S.base, SIGTERM, on_signal, NULL);
    S.sig_int = evsignal_new(S.base, SIGINT, on_signal, NULL);
    event_add(S.sig_term, NULL);
    event_add(S.sig_int, NULL);
    if (db_health_start(g_config.database_url, &migrations) != 0)
        goto out;
    (void)rds_start(g_config.redis_url);
    seal_credentials();
    for (size_t i = 0; i < S.n_roles; i++)
        if (role_active(i) && S.roles[i]->start(S.base) != 0)
            goto out;
    /* every role has registered its statements by now; connections prepare each one only
     * when they first run it, so a statement that does not fit the schema is found here */
    char check_err[600];
    int checked =
        db_check_statements(g_config.database_url, &migrations, check_err, sizeof check_err);
    if (checked < 0) {
        LOG_CRIT("statements do not fit the database", "detail=%s",
                 srv_log_q((char[700]){0}, 700, check_err));
        goto out;
    }
    if (checked > 0) /* PostgreSQL down or not migrated: the roles wait for it */
        LOG_WARN("statements not checked at start", "detail=%s",
                 srv_log_q((char[700]){0}, 700, check_err));
    LOG_INFO("dustwatch serving", "roles=%s pid=%d", roles_arg ? roles_arg : g_config.roles,
             (int)getpid());
    /* with only the api role the loop still runs: it owns signals and timers */
    event_base_loop(S.base, EVLOOP_NO_EXIT_ON_EMPTY);
    rc = 0;
    LOG_INFO("dustwatch stopped", "%s", "");
out:
    if (rc != 0)
        LOG_ERROR("start-up failed", "%s", "");
    /* the reverse of start order: the worker stops before the API it feeds */
    for (size_t i = S.n_roles; i-- > 0;)
        if (role_active(i))
            S.roles[i]->stop();
    if (S.sig_term)
        event_free(S.sig_term);
    if (S.sig_int)
        event_free(S.sig_int);
    if (S.drain_timer)
        event_free(S.drain_timer);
    db_health_stop();
    rds_stop();
    if (S.base)
        event_base_free(S.base);
    libevent_global_shutdown();
    db_migrations_free(&migrations);
    srv_config_free();
    return rc;
}
