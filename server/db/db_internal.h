/* db_internal.h — the libpq-facing half of db.h, private to server/db.
 *
 * Only server/db's sources include this (the db library is compiled with
 * DW_DB_INTERNAL, and anything else that tries stops at the #error below); the layers above
 * call the typed functions of the db_<area>.h headers and never see a
 * statement name, a PGresult or libpq's headers (db_dep does not put them on
 * their include path). */
#ifndef DW_DB_INTERNAL_H
#define DW_DB_INTERNAL_H

#ifndef DW_DB_INTERNAL
#error "db_internal.h is private to server/db"
#endif

#include "db.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct db_stmt {
    const char *name;
    const char *sql;
} db_stmt;

/* Registers a static table of statements (not copied: must outlive all
 * connections); a table registered twice counts once.  A connection prepares
 * a statement when it first runs it, whether the table was registered before
 * or after it connected (statement names must be unique across tables). */
void db_register_statements(const db_stmt *stmts, size_t n);

/* One read-only statement under a scope (and focus enterprise, may be NULL)
 * in a single round trip: the scope and the statement are pipelined into one
 * implicit transaction.  On DB_OK *out is the result (caller PQclear()s). */
db_status db_read_scoped(db_conn *c, const char *scope, const char *enterprise_id, const char *stmt,
                         int nparams, const char *const *params, PGresult **out);

/* One statement of a pipeline: a prepared statement's name and its text parameters. */
typedef struct db_pipe_stmt {
    const char *name;
    int nparams;
    const char *const *params;
} db_pipe_stmt;

/* Several read-only statements in one round trip and one implicit transaction: scope first
 * (a statement that sets dw.scope, dw.enterprise and the plan mode for the transaction, as
 * db_read_scoped's does; its result goes to *scope_out unless that is NULL), then
 * stmts[0..n).  out[i] is stmts[i]'s result (the caller PQclear()s each, and *scope_out) or
 * NULL when it failed or was skipped because an earlier one failed; st[i] says which.
 * Returns the first failure's status, DB_OK when none; on DB_HARD (the connection, or a
 * statement without a rows result) every result is NULL. */
db_status db_read_pipeline(db_conn *c, const db_pipe_stmt *scope, PGresult **scope_out,
                           const db_pipe_stmt *stmts, size_t n, PGresult **out, db_status *st);

/* A statement whose answer is JSON text in the first cell of its first row,
 * read under scope s in one round trip (db_read_scoped).  *out is a new
 * reference, or NULL when there was no row or the cell was NULL.  Invalid
 * JSON is DB_HARD (our bug, logged). */
db_status db_read_json(db_conn *c, const db_scope *s, const char *stmt, int nparams,
                       const char *const *params, json_t **out);
/* How a read's prepared statement is planned (plan_cache_mode, for its own
 * transaction only). */
typedef enum {
    /* PostgreSQL's choice: custom plans for five runs, then the generic one
     * unless that looks dearer than planning every run */
    DB_PLAN_AUTO,
    /* planned for each run's parameters: the large reports whose optional
     * filters ($n IS NULL OR ...) and computed windows a generic plan cannot
     * prune; for the statistics the generic plan ran 15-20 times slower than
     * the planning it saves (20.9 s against 0.93 s, a month by district at
     * 2,000 enterprises) */
    DB_PLAN_CUSTOM,
    /* the saved generic plan: statements pruned at run time whose planning
     * costs more than their run (a point's series: PostgreSQL chose to plan
     * it at every run, 5.9 ms, for a 3 ms run) */
    DB_PLAN_GENERIC,
} db_plan;

/* The whole result of stmt (*out, the caller clears it) read under scope s in one round trip,
 * planned as plan says: for reads whose answer is more than one JSON cell. */
db_status db_read_result_plan(db_conn *c, const db_scope *s, const char *stmt, int nparams,
                              const char *const *params, db_plan plan, PGresult **out);
/* stmt1 with parameters p1 on c1 and stmt2 with p2 on c2 at once, over one snapshot (c2's
 * transaction imports c1's), each under scope s and planned as plan says: for a read whose
 * work splits into halves (the statistics), which PostgreSQL then does on two cores.  *out1
 * and *out2 are the caller's; on failure both are NULL, and both connections are usable. */
db_status db_read_pair_plan(db_conn *c1, db_conn *c2, const db_scope *s, const char *stmt1,
                            const char *stmt2, int nparams, const char *const *p1,
                            const char *const *p2, db_plan plan, PGresult **out1, PGresult **out2);
/* db_read_json with the statement planned as plan says. */
db_status db_read_json_plan(db_conn *c, const db_scope *s, const char *stmt, int nparams,
                            const char *const *params, db_plan plan, json_t **out);
/* db_read_json inside the caller's open transaction (db_run_tx). */
db_status db_exec_json(db_conn *c, const char *stmt, int nparams, const char *const *params,
                       json_t **out);

/* Text-format parameters: the decimal form of v in buf (returned). */
const char *db_i64(char buf[24], long long v);
/* ... and a tristate (-1, 0, 1) as NULL, "false" or "true". */
const char *db_tristate(int v);
/* ... n bytes as a bytea: "\x" and lower-case hex digits in out (2n+3 bytes,
 * returned). */
const char *db_bytea_hex(char *out, const unsigned char *in, size_t n);
/* ... a text[] literal, {"a","b"}: every element quoted, quotes and
 * backslashes escaped; a NULL element is an SQL NULL.  malloc'd, NULL when
 * out of memory. */
char *db_text_array(const char *const *v, size_t n);
/* ... a bigint[] literal, {1,2,3}.  malloc'd, NULL when out of memory. */
char *db_i64_array(const int64_t *v, size_t n);

PGconn *db_pg(db_conn *c);

/* Runs a registered statement; the caller PQclear()s the result.  On failure
 * returns NULL and *st says what kind; the error is logged once here. */
PGresult *db_exec(db_conn *c, const char *stmt, int nparams, const char *const *params,
                  db_status *st);
/* As db_exec; on failure also fills *diag (zeroed first, always). */
PGresult *db_exec_diag(db_conn *c, const char *stmt, int nparams, const char *const *params,
                       db_status *st, db_diag *diag);
/* As db_exec; on failure err holds PostgreSQL's whole message as libpq
 * formats it (PQresultErrorMessage: "ERROR:  ...\n"), for a CLI to print. */
PGresult *db_exec_msg(db_conn *c, const char *stmt, int nparams, const char *const *params,
                      db_status *st, char *err, size_t errlen);
/* A statement assembled at run time (its column list depends on the input),
 * so not preparable by name: it runs unnamed and must return rows
 * (RETURNING); anything else fails.  A failure is classified, described in
 * *diag (zeroed first, always) and logged under the name what, as
 * db_exec_diag does. */
PGresult *db_exec_sql_diag(db_conn *c, const char *what, const char *sql, int nparams,
                           const char *const *params, db_status *st, db_diag *diag);
/* For statements with binary or length-carrying params (bytea). */
PGresult *db_exec_bin(db_conn *c, const char *stmt, int nparams, const char *const *params,
                      const int *lengths, const int *formats, db_status *st);

/* db_exec_bin, filling *diag on failure as db_exec_diag does. */
PGresult *db_exec_bin_diag(db_conn *c, const char *stmt, int nparams, const char *const *params,
                           const int *lengths, const int *formats, db_status *st, db_diag *diag);

/* ---- queued statements (db_run_tx on a pipelined connection, db_conn_pipeline) ----
 * fn (may be NULL) gets the statement's result r on success (it neither clears nor keeps it)
 * and returns DB_OK, or the status the transaction fails with; r is NULL when the statement
 * failed (diag says why) or never ran (an earlier one failed, the connection was lost:
 * diag's sqlstate is empty).  fn is called exactly once either way, so it may free arg. */
typedef db_status (*db_result_fn)(void *arg, const PGresult *r, const db_diag *diag);
/* Runs stmt, or on a pipelined connection inside db_run_tx sends it and leaves its result to
 * be read by the next call that waits for one (db_flush, any db_exec*, the COMMIT): then
 * DB_OK, the statement's fate is that call's status, and everything fn writes to must stay
 * valid until then (the parameters are copied at once).  Otherwise the statement's status,
 * or fn's.  veto: fn may refuse a success (the COMMIT then waits for fn's verdict). */
db_status db_queue_bin(db_conn *c, const char *stmt, int nparams, const char *const *params,
                       const int *lengths, const int *formats, db_result_fn fn, void *arg,
                       int veto);
#define db_queue(c, stmt, nparams, params, fn, arg)                                                \
    db_queue_bin((c), (stmt), (nparams), (params), NULL, NULL, (fn), (arg), 0)

/* Writes held back on a pipelined connection inside db_run_tx until the next statement is
 * sent (so that several calls' rows go in one statement: db_ingest's conflict-free readings
 * of a group's jobs): send queues them, called before any other statement is sent on c, by
 * db_flush and by the COMMIT; drop frees them when the transaction rolls back.  One holder
 * at a time (a new one sends the old one's first).  Without a pipelined transaction, send
 * runs at once.  db_held: the arg held with this send function, or NULL. */
typedef db_status (*db_hold_send_fn)(db_conn *c, void *arg);
typedef void (*db_hold_drop_fn)(void *arg);
db_status db_hold(db_conn *c, db_hold_send_fn send, db_hold_drop_fn drop, void *arg);
void *db_held(db_conn *c, db_hold_send_fn send);

/* Classifies a failed result (or NULL result) into DB_SOFT/DB_HARD/DB_BAD. */
db_status db_classify(db_conn *c, const PGresult *res);

/* Simple literal command (BEGIN/COMMIT/SET...).  The macro only accepts a
 * string literal, so no input can ever be spliced into the SQL. */
db_status db_command_literal(db_conn *c, const char *sql);
#define db_command(c, literal) db_command_literal((c), "" literal "")

/* ---- statements several areas run --------------------------------------------------
 * Registered once by whichever area that runs them registers first (db_register_shared),
 * so each role has them whichever of those areas it registered. */

/* Queues a risk recompute of the enterprise (one pending request per enterprise: a
 * second is dropped); reason is free text.  In the caller's transaction.  db_risk.c. */
db_status db_risk_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason);

/* Registers the statements several areas share (db_recompute_request,
 * db_readings_partition), once per process; every area that uses them calls
 * it from its own register function.  db.c. */
void db_register_shared(void);

/* Creates the readings partition of the UTC day of day_s if missing; *created (may be
 * NULL) is 1 when this call made it.  db_jobs.c. */
db_status db_readings_partition(db_conn *c, int64_t day_s, int *created);

/* ---- migrations (db_migrate.c) ---- */

struct db_migration_set;
/* Applies pending migrations; returns the number applied, or -1 with err. */
int db_migrate_apply(PGconn *pg, const struct db_migration_set *set, int verbose, char *err,
                     size_t errlen);
/* 1 if the database holds exactly this set, 0 if not (detail in err), -1 on
 * query failure.  Used by /readyz. */
int db_migrate_is_current(PGconn *pg, const struct db_migration_set *set, char *err, size_t errlen);

/* How every statement queues a risk recompute: one row per enterprise, taken by the worker
 * with FOR UPDATE SKIP LOCKED before it reads the inputs.  A request already queued is locked
 * (DO UPDATE ... WHERE false writes nothing but locks the row), so the worker cannot take it
 * and score the inputs before this transaction's change commits (migration 0142: DO NOTHING
 * left such a change unscored until the periodic pass). */
#define DB_RECOMPUTE_INSERT "INSERT INTO risk_recompute_requests AS rr (enterprise_id, reason) "
#define DB_RECOMPUTE_CONFLICT                                                                      \
    "ON CONFLICT (enterprise_id) DO UPDATE SET reason = rr.reason WHERE false"

#endif
