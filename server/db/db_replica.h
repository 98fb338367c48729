/* db_replica — reads a streaming replica may serve (issue 19).
 *
 * The API serves some reads (statistics, reports, series: routes marked
 * API_READ_REPLICA) from a hot standby when it is fresh enough, so the
 * primary keeps its CPU for ingest and writes.  "Fresh enough" is measured,
 * not assumed: the staleness of the replica is the age of the newest primary
 * WAL position it has replayed, with both positions read by this process and
 * aged on its own monotonic clock (no clock of another host, no heartbeat
 * writes, no privileges beyond the application role's).  A replica that is
 * behind by more than max_lag_ms, unreachable, or fails is not used: the
 * caller reads the primary instead, so a replica never makes an answer fail
 * and never older than max_lag_ms.
 *
 * Thread-safe: the API's request threads share one db_replica. */
#ifndef DW_DB_REPLICA_H
#define DW_DB_REPLICA_H

#include "db.h"

typedef struct db_replica db_replica;

typedef enum {
    DB_REPLICA_USED,    /* the connection returned is the replica's */
    DB_REPLICA_STALE,   /* the replica is behind by more than max_lag_ms */
    DB_REPLICA_DOWN,    /* the replica (or the primary's position) could not be read */
    DB_REPLICA_PRIMARY, /* the node behind the read URL is not in recovery: a primary */
} db_replica_verdict;

/* A pool of at most size connections to url (libpq URI of the replica, or a
 * multi-host list with target_session_attrs=prefer-standby), and one probe
 * connection to each of url and primary_url that measure the staleness; t as
 * for db_pool_new (borrowed).  NULL on allocation failure.  Connects lazily. */
db_replica *db_replica_new(const char *url, const char *primary_url, int size, const db_timeouts *t,
                           int max_lag_ms);
void db_replica_free(db_replica *rp);

/* A connection to the replica when it is within max lag (*why = USED, or
 * PRIMARY when the read URL leads to a primary), else NULL with *why saying
 * why; the caller then reads the primary.  The calling thread measures the
 * staleness again when it is due (every max_lag/4, at most every second; a
 * replica found down is tried again after 5 s) unless another thread is at
 * it, which costs it two short statements. */
db_conn *db_replica_get(db_replica *rp, int timeout_ms, db_replica_verdict *why);
/* Opens and warms the replica's connections as db_pool_warm does a pool's (the statistics run
 * on a replica connection when there is one).  0, or -1 when its thread could not start. */
int db_replica_warm(db_replica *rp, db_warm_fn warm);
/* Gives back a connection db_replica_get returned. */
void db_replica_put(db_replica *rp, db_conn *c);

/* A statement on a replica connection failed as if the server were gone:
 * no replica reads until the next probe (5 s), and the pool's idle
 * connections are dropped so that none of them fails again afterwards. */
void db_replica_mark_down(db_replica *rp);

/* The staleness last measured, in seconds (-1: never measured or down). */
double db_replica_lag_s(db_replica *rp);

#endif
