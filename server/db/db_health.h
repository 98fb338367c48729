/* Readiness: a monitor thread checks PostgreSQL (reachable, migrations
 * current, durable settings) every second and keeps the verdict in memory, so
 * /readyz on either listener answers without touching the network and never
 * blocks an event loop.  Redis is reported but does not make us unready. */
#ifndef DW_DB_HEALTH_H
#define DW_DB_HEALTH_H

#include <stddef.h>

struct db_migration_set;

/* Borrows set for the monitor's lifetime. */
int db_health_start(const char *database_url, const struct db_migration_set *set);
void db_health_stop(void);

/* 1 when PostgreSQL is reachable and migrated. */
int db_health_db_ready(void);

/* Writes the /readyz JSON body into buf; returns 200 or 503. */
int db_health_readyz(char *buf, size_t len);

/* Wakes the monitor now (e.g. after a writer saw the connection drop). */
void db_health_poke(void);

#endif
