/* Schema migrations: migrations/NNNN_name.sql applied in order, each in its
 * own transaction, under a cluster-wide advisory lock so that two nodes
 * migrating at once serialise instead of racing.  schema_migrations records
 * each applied file's name and SHA-256; a file whose checksum changed after
 * it was applied stops everything (migrations are append-only). */
#ifndef DW_DB_MIGRATE_H
#define DW_DB_MIGRATE_H

#include <stddef.h>

typedef struct db_migration {
    char *name;     /* file name, e.g. "0001_base.sql" */
    char *checksum; /* lower-case hex SHA-256 of the file */
    char *sql;      /* file contents */
} db_migration;

typedef struct db_migration_set {
    db_migration *items;
    size_t n;
} db_migration_set;

/* Reads and sorts the directory; -1 with err on unreadable/misnamed files. */
int db_migrations_read(const char *dir, db_migration_set *out, char *err, size_t errlen);
void db_migrations_free(db_migration_set *set);

/* Applying and checking a set need a connection: db_internal.h (private to
 * server/db). */

int db_migrate_main(int argc, char **argv);

/* 1 (err set) when the database at url records a migration this set does
 * not have, or one whose file changed: a newer build migrated it, and this
 * server must not run on a schema it does not know.  0 otherwise, also when
 * the database cannot be reached or is not migrated yet (readiness says so). */
int db_migrate_schema_unknown(const char *url, const db_migration_set *set, char *err,
                              size_t errlen);

#endif
