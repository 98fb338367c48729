#include "db_migrate.h"

#include "db_credentials.h"
#include "db_internal.h"
#include "srv_secret.h"
#include "srv_config.h"
#include "srv_log.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "dustwatch" in ASCII: the key of the advisory lock held while migrating */
#define MIGRATE_LOCK_KEY "7310312016119116"

static int is_migration_name(const char *n)
{
    size_t l = strlen(n);
    if (l < 10 || strcmp(n + l - 4, ".sql") != 0)
        return 0;
    for (int i = 0; i < 4; i++)
        if (n[i] < '0' || n[i] > '9')
            return 0;
    if (n[4] != '_')
        return 0;
    for (size_t i = 5; i < l - 4; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
            return 0;
    return 1;
}

static int cmp_migration(const void *a, const void *b)
{
    return strcmp(((const db_migration *)a)->name, ((const db_migration *)b)->name);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

void db_migrations_free(db_migration_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->items[i].name);
        free(set->items[i].checksum);
        free(set->items[i].sql);
    }
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

int db_migrations_read(const char *dir, db_migration_set *out, char *err, size_t errlen)
{
    out->items = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "could not open migrations directory \"%s\": %s", dir,
                 strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (!is_migration_name(e->d_name)) {
            if (strstr(e->d_name, ".sql")) {
                snprintf(err, errlen, "misnamed migration \"%s\" (expected NNNN_name.sql)",
                         e->d_name);
                rc = -1;
                break;
            }
            continue;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            db_migration *ni = realloc(out->items, cap * sizeof *ni);
            if (!ni) {
                rc = -1;
                snprintf(err, errlen, "out of memory");
                break;
            }
            out->items = ni;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        char *sql = read_file(path, &len);
        if (!sql) {
            snprintf(err, errlen, "could not read \"%s\": %s", path, strerror(errno));
            rc = -1;
            break;
        }
        unsigned char hash[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(hash, (const unsigned char *)sql, len);
        char hex[crypto_hash_sha256_BYTES * 2 + 1];
        sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
        db_migration *m = &out->items[out->n++];
        m->name = strdup(e->d_name);
        m->checksum = strdup(hex);
        m->sql = sql;
    }
    closedir(d);
    if (rc != 0) {
        db_migrations_free(out);
        return -1;
    }
    if (out->n)
        qsort(out->items, out->n, sizeof *out->items, cmp_migration);
    for (size_t i = 1; i < out->n; i++) {
        if (strncmp(out->items[i].name, out->items[i - 1].name, 4) == 0) {
            snprintf(err, errlen, "two migrations share number %.4s", out->items[i].name);
            db_migrations_free(out);
            return -1;
        }
    }
    return 0;
}

static int ok(PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static void set_pg_err(char *err, size_t errlen, const char *what, PGresult *r, PGconn *pg)
{
    const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
    snprintf(err, errlen, "%s: %s", what, m && *m ? m : PQerrorMessage(pg));
    size_t l = strlen(err);
    while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
        err[--l] = '\0';
}

/* name -> checksum of what the database recorded, parallel arrays */
static PGresult *applied_rows(PGconn *pg)
{
    return PQexecParams(pg, "SELECT name, checksum FROM schema_migrations ORDER BY name", 0, NULL,
                        NULL, NULL, NULL, 0);
}

static const char *applied_checksum(PGresult *rows, const char *name)
{
    for (int i = 0; i < PQntuples(rows); i++)
        if (strcmp(PQgetvalue(rows, i, 0), name) == 0)
            return PQgetvalue(rows, i, 1);
    return NULL;
}

static int check_known(PGresult *rows, const db_migration_set *set, char *err, size_t errlen)
{
    for (int i = 0; i < PQntuples(rows); i++) {
        const char *name = PQgetvalue(rows, i, 0);
        const db_migration *m = NULL;
        for (size_t j = 0; j < set->n && !m; j++)
            if (strcmp(set->items[j].name, name) == 0)
                m = &set->items[j];
        if (!m) {
            snprintf(err, errlen,
                     "database has migration \"%s\" that this build does not know (is the "
                     "server older than the database?)",
                     name);
            return -1;
        }
        if (strcmp(m->checksum, PQgetvalue(rows, i, 1)) != 0) {
            snprintf(err, errlen,
                     "applied migration \"%s\" was changed after it was applied (checksum %.12s "
                     "in database, %.12s on disk); migrations are append-only: revert the file "
                     "and add a new migration",
                     name, PQgetvalue(rows, i, 1), m->checksum);
            return -1;
        }
    }
    return 0;
}

int db_migrate_apply(PGconn *pg, const db_migration_set *set, int verbose, char *err, size_t errlen)
{
    PGresult *r = PQexecParams(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL,
                               NULL, NULL, 0);
    if (!ok(r)) {
        set_pg_err(err, errlen, "could not take the migration lock", r, pg);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    int applied = -1;
    r = PQexecParams(pg,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " name text PRIMARY KEY,"
                     " checksum text NOT NULL,"
                     " applied_at timestamptz NOT NULL DEFAULT now())",
                     0, NULL, NULL, NULL, NULL, 0);
    if (!ok(r)) {
        set_pg_err(err, errlen, "could not create schema_migrations", r, pg);
        PQclear(r);
        goto unlock;
    }
    PQclear(r);
    PGresult *rows = applied_rows(pg);
    if (!ok(rows)) {
        set_pg_err(err, errlen, "could not read schema_migrations", rows, pg);
        PQclear(rows);
        goto unlock;
    }
    if (check_known(rows, set, err, errlen) != 0) {
        PQclear(rows);
        goto unlock;
    }
    applied = 0;
    for (size_t i = 0; i < set->n; i++) {
        const db_migration *m = &set->items[i];
        if (applied_checksum(rows, m->name))
            continue;
        r = PQexecParams(pg, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
        PQclear(r);
        /* The file is trusted project code, not input; it holds many
         * statements, which only the simple-query protocol accepts. */
        r = PQexec(pg, m->sql);
        if (!ok(r)) {
            char what[300];
            snprintf(what, sizeof what, "migration \"%s\" failed", m->name);
            set_pg_err(err, errlen, what, r, pg);
            PQclear(r);
            PQclear(PQexecParams(pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0));
            applied = -1;
            break;
        }
        PQclear(r);
        const char *params[2] = {m->name, m->checksum};
        r = PQexecParams(pg, "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", 2,
                         NULL, params, NULL, NULL, 0);
        int ins_ok = ok(r);
        if (!ins_ok)
            set_pg_err(err, errlen, "could not record migration", r, pg);
        PQclear(r);
        r = PQexecParams(pg, ins_ok ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        int commit_ok = ok(r) && ins_ok;
        if (!commit_ok && ins_ok)
            set_pg_err(err, errlen, "could not commit migration", r, pg);
        PQclear(r);
        if (!commit_ok) {
            applied = -1;
            break;
        }
        applied++;
        if (verbose)
            LOG_INFO("migration applied", "name=%s checksum=%.12s", m->name, m->checksum);
    }
    PQclear(rows);
unlock:
    PQclear(PQexecParams(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL, NULL, NULL,
                         NULL, 0));
    return applied;
}

int db_migrate_is_current(PGconn *pg, const db_migration_set *set, char *err, size_t errlen)
{
    PGresult *rows = applied_rows(pg);
    if (!ok(rows)) {
        const char *state = PQresultErrorField(rows, PG_DIAG_SQLSTATE);
        /* undefined_table: never migrated, a fact rather than a failure */
        if (state && strcmp(state, "42P01") == 0) {
            snprintf(err, errlen, "database is not migrated");
            PQclear(rows);
            return 0;
        }
        set_pg_err(err, errlen, "could not read schema_migrations", rows, pg);
        PQclear(rows);
        return -1;
    }
    int current = check_known(rows, set, err, errlen) == 0;
    if (current && (size_t)PQntuples(rows) != set->n) {
        snprintf(err, errlen, "%zu of %zu migrations applied", (size_t)PQntuples(rows), set->n);
        current = 0;
    }
    PQclear(rows);
    return current;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int db_migrate_schema_unknown(const char *url, const db_migration_set *set, char *err,
                              size_t errlen)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, "3", "dustwatch-startup", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    int unknown = 0;
    if (PQstatus(pg) == CONNECTION_OK) {
        PGresult *rows = applied_rows(pg);
        /* an unreadable or missing table is not a newer schema: readiness reports it */
        if (ok(rows))
            unknown = check_known(rows, set, err, errlen) != 0;
        PQclear(rows);
    }
    PQfinish(pg);
    return unknown;
}

static void migrate_usage(FILE *out)
{
    fprintf(out, "usage: dustwatch migrate [--config FILE] [--dir DIR] [--check]\n"
                 "\n"
                 "Applies pending migrations from migrations/ in order, each in one\n"
                 "transaction, under an advisory lock.  Connects with migrate_database_url\n"
                 "(falls back to database_url): it needs the owner role.\n"
                 "\n"
                 "  -c, --config FILE  configuration file\n"
                 "  -d, --dir DIR      migrations directory (default: migrations_dir)\n"
                 "      --check        only report whether the database is current (exit 1 if "
                 "not)\n"
                 "  -h, --help         this text\n");
}

/* Gateway keys stored before migration 0033 are sealed with the master key
 * once the schema has the column (db_credentials_seal_plaintext); without a
 * master key they wait for `serve`, which requires one.  0, or 1 when sealing
 * failed. */
static int seal_credentials(const char *url)
{
    char err[1024];
    if (sodium_init() < 0 || srv_secret_require(err, sizeof err) != 0) {
        LOG_WARN("gateway keys not sealed here", "detail=%s",
                 srv_log_q((char[1100]){0}, 1100, "no master key: serve seals them at start"));
        return 0;
    }
    db_conn *c = db_connect_scoped(url, "system", NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "dustwatch: %s\n", err);
        return 1;
    }
    int sealed = 0;
    db_status st = db_credentials_seal_plaintext(c, &sealed);
    db_close(c);
    if (st != DB_OK) {
        fprintf(stderr, "dustwatch: could not seal the stored gateway keys\n");
        return 1;
    }
    if (sealed > 0)
        LOG_INFO("gateway keys sealed", "count=%d", sealed);
    return 0;
}

int db_migrate_main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"check", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config = NULL, *dir = NULL;
    int check_only = 0, o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:d:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'k':
            check_only = 1;
            break;
        case 'h':
            migrate_usage(stdout);
            return 0;
        default:
            migrate_usage(stderr);
            return 2;
        }
    }
    char err[1024];
    if (srv_config_load(config, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        return 2;
    }
    (void)srv_log_set_level_name(g_config.log_level);
    if (sodium_init() < 0) {
        fprintf(stderr, "dustwatch: libsodium failed to initialise\n");
        return 1;
    }
    db_migration_set set;
    if (db_migrations_read(dir ? dir : g_config.migrations_dir, &set, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        srv_config_free();
        return 1;
    }
    const char *url =
        g_config.migrate_database_url[0] ? g_config.migrate_database_url : g_config.database_url;
    PGconn *pg = PQconnectdb(url);
    int rc = 1;
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "dustwatch: could not connect to PostgreSQL: %s", PQerrorMessage(pg));
    } else if (check_only) {
        int cur = db_migrate_is_current(pg, &set, err, sizeof err);
        if (cur == 1) {
            printf("database is current (%zu migrations)\n", set.n);
            rc = 0;
        } else {
            fprintf(stderr, "dustwatch: %s\n", err);
        }
    } else {
        PQsetNoticeProcessor(pg, quiet_notice, NULL);
        int n = db_migrate_apply(pg, &set, 1, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "dustwatch: %s\n", err);
        } else {
            LOG_INFO("database is current", "applied=%d total=%zu", n, set.n);
            rc = seal_credentials(url);
        }
    }
    PQfinish(pg);
    db_migrations_free(&set);
    srv_config_free();
    return rc;
}
