/* PostgreSQL access shared by every role: what the layers above server/db see.
 *
 * A db_conn wraps one PGconn plus the named prepared statements of the areas
 * (db_<area>.c, each with its db_<area>_register()); each is prepared on a
 * connection when the connection first runs it (again after a reconnect), and
 * db_check_statements() prepares them all once at start-up, where a failed
 * prepare is fatal (it means code and schema disagree).  A db_conn is used by one
 * thread at a time: the API takes one from the pool for the duration of a
 * request, the ingest writer and the worker own theirs.
 *
 * Results follow the soft/hard split: DB_SOFT (serialization failure or
 * deadlock) is retried by db_run_tx(); DB_HARD (connection lost, timeout,
 * constraint the caller did not expect) surfaces as 503 to clients.
 *
 * libpq stays inside server/db: the statements, results and the helpers that
 * run them are in db_internal.h, which only server/db's own sources see (the
 * db library is compiled with DW_DB_INTERNAL; db_dep gives the layers above
 * libpq's link, not its headers). */
#ifndef DW_DB_H
#define DW_DB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    DB_OK = 0,
    DB_SOFT = -1, /* retryable: 40001 / 40P01 */
    DB_HARD = -2, /* connection or server problem */
    DB_BAD = -3,  /* the statement rejected the input (constraint, cast) */
} db_status;

typedef struct db_conn db_conn;

/* What PostgreSQL enforces on a connection's session, set at connect and again
 * after every reconnect: statement_timeout, lock_timeout and
 * idle_in_transaction_session_timeout in milliseconds (0 turns one off, as in
 * PostgreSQL).  A statement cancelled by one of them is DB_HARD (503 +
 * Retry-After to clients), so a stalled table or a runaway query costs a
 * request a bounded wait instead of a hung thread. */
typedef struct db_timeouts {
    long statement_ms, lock_ms, idle_in_tx_ms;
} db_timeouts;
/* Who the connection serves: the API and the ingest writers answer clients
 * (db_statement_timeout_ms); the worker's rollups and city-wide recomputes
 * may run longer (db_worker_statement_timeout_ms).  Both take
 * db_lock_timeout_ms and db_idle_in_transaction_timeout_ms. */
typedef enum { DB_FOR_REQUESTS, DB_FOR_WORKER } db_timeouts_role;
db_timeouts db_timeouts_configured(db_timeouts_role role);

/* Connects and prepares; NULL with a message in err on failure.  t: the
 * session limits (NULL: leave PostgreSQL's, for the command-line tools, whose
 * one-off work an operator watches). */
db_conn *db_connect(const char *url, const db_timeouts *t, char *err, size_t errlen);
/* The same for internal jobs (ingest writers, worker): the row-level
 * security scope (e.g. "system") is set for the whole session, and again
 * after every reconnect.  Request connections never use this: they set the
 * caller's scope per transaction (db_set_scope). */
db_conn *db_connect_scoped(const char *url, const char *session_scope, const db_timeouts *t,
                           char *err, size_t errlen);

/* Inside a transaction: the caller's scope for row-level security, e.g.
 * "district:12".  Reverts at COMMIT/ROLLBACK. */
db_status db_set_scope(db_conn *c, const char *scope);
/* The same, and the enterprise the transaction is about (dw.enterprise; NULL
 * for none): row-level security then answers that enterprise's rows without
 * working out every enterprise the scope covers (migration 0013). */
db_status db_set_scope_focus(db_conn *c, const char *scope, const char *enterprise_id);
void db_close(db_conn *c);

/* Prepares every registered statement on a connection of its own, then closes it: what
 * the statements' lazy preparation would find only when one is first run.  0; -1 with the
 * first refusal in err; 1 (err says why) when PostgreSQL could not be reached or its
 * schema is not at set's migrations (set NULL: not asked). */
struct db_migration_set;
int db_check_statements(const char *url, const struct db_migration_set *set, char *err,
                        size_t errlen);

/* Who a request reads and writes for, as every scoped statement takes it:
 * rls is row-level security's dw.scope ("district:12"); kind and id are the
 * application filter's $1/$2 (kind "city" when the test-only switch leaves
 * row-level security to stand alone); focus is the enterprise the request is
 * about (decimal id, "" for none: row-level security's fast arm, 0013).
 * Filled by the API from its caller (api_db_scope); plain data, no ownership. */
typedef struct db_scope {
    char rls[64];
    char kind[16];
    char id[24];
    char focus[24];
} db_scope;

/* What the alarm and the warning lists are both filtered and paged by.  NULL
 * strings and a 0 enterprise match everything; from and to are RFC 3339
 * text; overdue and open are -1 (either), 0 or 1.  industry_code, dust_kind
 * and risk_grade (the enterprise's current grade, or "none") are the
 * statistics' classes, which only the alarm, warning and hazard lists filter
 * by (their numbers' drill-down). */
typedef struct db_list_filter {
    const char *district_code, *street_code;
    int64_t enterprise_id;
    const char *from, *to;
    int overdue, open;
    long limit, offset;
    const char *industry_code, *dust_kind, *risk_grade;
} db_list_filter;

/* Reconnects if the connection went bad; 0 when usable. */
int db_ensure(db_conn *c);

/* What PostgreSQL said about a failed statement, for callers that answer
 * differently per constraint (a taken code is 409, a broken check 422). */
typedef struct db_diag {
    char sqlstate[6];
    char constraint[64];
    char message[256];
} db_diag;

/* BEGIN; fn(); COMMIT, retrying the whole thing on DB_SOFT up to 5 times.
 * fn returns DB_OK to commit, anything else to roll back (its value is
 * returned).  isolation: NULL for the default, or e.g. "REPEATABLE READ". */
typedef db_status (*db_tx_fn)(db_conn *c, void *arg);
db_status db_run_tx(db_conn *c, const char *isolation, db_tx_fn fn, void *arg);

/* On a pipelined connection, statements of a db_run_tx transaction whose answer is not needed
 * at once (db_queue_bin in the areas' functions) are sent without waiting, and read with the
 * next statement that needs an answer, or the COMMIT: one round trip for several statements.
 * An area function that queues says so; its outputs are then written by db_flush (or the
 * next call that waits), and a queued statement's failure is that call's status.  For a
 * connection used by one thread that runs its transactions through db_run_tx. */
void db_conn_pipeline(db_conn *c, int on);
/* Reads the queued statements' results: the first failure's status, DB_OK when none. */
db_status db_flush(db_conn *c);

/* A transaction the caller drives step by step (the admin CLI, which reports
 * each step); everything else uses db_run_tx. */
db_status db_begin(db_conn *c);
db_status db_commit(db_conn *c);
void db_rollback(db_conn *c);

/* Fixed-size connection pool for threads that block (libmicrohttpd workers).
 * db_pool_get waits up to timeout_ms; NULL means no connection could be had. */
typedef struct db_pool db_pool;
db_pool *db_pool_new(const char *url, int size, const db_timeouts *t);
void db_pool_free(db_pool *p);
db_conn *db_pool_get(db_pool *p, int timeout_ms);
void db_pool_put(db_pool *p, db_conn *c);
/* Closes the idle connections (those held stay): after the server behind the
 * pool went away, the next gets connect afresh instead of failing once per
 * stale connection. */
void db_pool_drop_idle(db_pool *p);
/* Has warm run on each of the pool's backends before it serves from the pool's idle ones: the
 * pool's connections are opened and warmed at start by a thread of the pool's (one at a time,
 * until the pool is full or a connect fails; then it connects on demand, as before), and a
 * connection opened on demand, or reconnected, is warmed when first put back.  warm (borrowed
 * for each call, idle, outside a transaction) is for its side effect: a new backend's first
 * statistic loads its catalog caches (~160 ms of PostgreSQL CPU at 2,000 enterprises), and a
 * pool growing on demand had a request pay for that each time it grew.  db_pool_free stops
 * the thread.  0, or -1 when the thread could not start. */
typedef void (*db_warm_fn)(db_conn *c);
int db_pool_warm(db_pool *p, db_warm_fn warm);

#endif
