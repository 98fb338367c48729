#include "db.h"

#include "db_internal.h"
#include "srv_clock.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_metrics.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_STMT_TABLES 96
#define MAX_STMTS       4096
#define NAME_SLOTS      8192 /* a power of two, at least twice MAX_STMTS */

/* Statements are prepared on a connection when it first runs them, not all at connect.
 * A serving process registers ~350 and each of its ~10 connections used to prepare every
 * one: ~0.5 s of PostgreSQL's CPU per connection, paid again by every connection after a
 * failover, for statements most connections never run (a writer runs its dozen).
 * db_check_statements still prepares them all once at start, so a broken statement
 * stops the start as before.
 *
 * Tables are only ever appended, under register_mu, and may be appended while other
 * threads run statements: each statement gets an ordinal (its bit in a connection's
 * prepared set) and a slot in an open-addressed name table that readers probe without the
 * lock (the slot's statement pointer is published last). */
static const db_stmt *stmt_tables[MAX_STMT_TABLES]; /* under register_mu */
static size_t n_stmt_tables;                        /* under register_mu */
static pthread_mutex_t register_mu = PTHREAD_MUTEX_INITIALIZER;
static const db_stmt *stmt_by_ord[MAX_STMTS];
static size_t n_stmts; /* under register_mu */
static _Atomic(const db_stmt *) name_slot[NAME_SLOTS];
static uint16_t name_ord[NAME_SLOTS];

static size_t name_hash(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (NAME_SLOTS - 1);
}

/* Under register_mu.  A second statement of the same name keeps no slot: the start-up
 * check (db_check_statements) prepares both and fails on it. */
static void name_insert(const db_stmt *s, size_t ord)
{
    for (size_t i = name_hash(s->name);; i = (i + 1) & (NAME_SLOTS - 1)) {
        const db_stmt *cur = atomic_load_explicit(&name_slot[i], memory_order_relaxed);
        if (cur && strcmp(cur->name, s->name) == 0)
            return;
        if (!cur) {
            name_ord[i] = (uint16_t)ord;
            atomic_store_explicit(&name_slot[i], s, memory_order_release);
            return;
        }
    }
}

/* The ordinal of a registered statement; -1 for a name nobody registered. */
static int stmt_ord(const char *name)
{
    for (size_t i = name_hash(name), n = 0; n < NAME_SLOTS; i = (i + 1) & (NAME_SLOTS - 1), n++) {
        const db_stmt *cur = atomic_load_explicit(&name_slot[i], memory_order_acquire);
        if (!cur)
            return -1;
        if (strcmp(cur->name, name) == 0)
            return name_ord[i];
    }
    return -1;
}

/* What every scoped transaction runs first, prepared like the modules'
 * statements (a parse and plan saved on each of them).  Only statements that
 * need no table: the admin CLI connects to databases that may not be migrated
 * yet and must be able to say so. */
static const db_stmt builtin_stmts[] = {
    {"db_set_scope", "SELECT set_config('dw.scope', $1, true)"},
    {"db_set_scope_focus",
     "SELECT set_config('dw.scope', $1, true), set_config('dw.enterprise', $2, true)"},
    /* db_read_json_plan: the same, and plans made for this run's parameters, or the
     * saved generic one */
    {"db_set_scope_focus_custom",
     "SELECT set_config('dw.scope', $1, true), set_config('dw.enterprise', $2, true), "
     "set_config('plan_cache_mode', 'force_custom_plan', true)"},
    {"db_set_scope_focus_generic",
     "SELECT set_config('dw.scope', $1, true), set_config('dw.enterprise', $2, true), "
     "set_config('plan_cache_mode', 'force_generic_plan', true)"},
};

/* The statements several areas run (db_internal.h), registered once by
 * whichever of those areas registers first (db_register_shared). */
static const db_stmt shared_stmts[] = {
    /* db_risk_request_recompute: alarms, the alarm API, assets, cleaning */
    {"db_recompute_request", DB_RECOMPUTE_INSERT "VALUES ($1::bigint, $2) " DB_RECOMPUTE_CONFLICT},
    /* db_readings_partition: the ingest writer, the worker */
    {"db_readings_partition", "SELECT dw_ensure_readings_partition($1::date)"},
};

static void register_shared_once(void)
{
    db_register_statements(shared_stmts, sizeof shared_stmts / sizeof shared_stmts[0]);
}

void db_register_shared(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_shared_once);
}

/* A statement sent on a pipelined connection inside db_run_tx (db_queue_bin) whose result
 * is read by the next call that needs one (db_flush). */
typedef struct queued {
    const char *name;
    int prepare_ord; /* >= 0: not a statement but the Parse of this one (enqueue) */
    db_result_fn fn; /* may be NULL */
    void *arg;
    int veto;        /* fn may refuse a success: COMMIT is then not sent along */
    PGresult **keep; /* the statement a waiting call sent last: its result */
    db_diag *diag;   /* ... and why it failed (may be NULL) */
} queued;

#define QUEUE_MAX 64

struct db_conn {
    PGconn *pg;
    char *url;
    char *session_scope;
    db_timeouts timeouts;
    int has_timeouts;
    /* the statements prepared on this backend, by ordinal; emptied with each new one */
    unsigned char prepared[MAX_STMTS / 8];
    int pipelined; /* db_conn_pipeline */
    int warmed;    /* its pool's warm has run on this backend (db_pool_warm) */
    int in_tx;     /* inside db_run_tx: statements may be queued */
    /* db_hold: writes held back until the next statement is sent */
    db_hold_send_fn hold_send;
    db_hold_drop_fn hold_drop;
    void *hold_arg;
    queued q[QUEUE_MAX];
    size_t nq;
};

void db_register_statements(const db_stmt *stmts, size_t n)
{
    pthread_mutex_lock(&register_mu);
    size_t count = n_stmt_tables;
    for (size_t i = 0; i < count; i++) {
        if (stmt_tables[i] == stmts) {
            pthread_mutex_unlock(&register_mu);
            return;
        }
    }
    if (count < MAX_STMT_TABLES && n_stmts + n <= MAX_STMTS) {
        stmt_tables[count] = stmts;
        for (size_t i = 0; i < n; i++) {
            stmt_by_ord[n_stmts] = &stmts[i];
            name_insert(&stmts[i], n_stmts);
            n_stmts++;
        }
        n_stmt_tables = count + 1;
        pthread_mutex_unlock(&register_mu);
    } else {
        LOG_CRIT("too many statements", "max_tables=%d max_statements=%d", MAX_STMT_TABLES,
                 MAX_STMTS);
        abort();
    }
}

static PGresult *collect(db_conn *c, int sent, const char *what);

static int is_prepared(const db_conn *c, int ord)
{
    return (c->prepared[ord / 8] >> (ord % 8)) & 1;
}

static void mark_prepared(db_conn *c, int ord)
{
    c->prepared[ord / 8] |= (unsigned char)(1u << (ord % 8));
}

static void unmark_prepared(db_conn *c, int ord)
{
    c->prepared[ord / 8] &= (unsigned char)~(1u << (ord % 8));
}

/* Prepares the registered statement name on c unless it is already; the connection must not
 * be in pipeline mode.  0, or -1 when PostgreSQL refused or did not answer (logged).  A name
 * nobody registered is left to PostgreSQL, which says it does not exist. */
static PGresult *prepare(db_conn *c, const db_stmt *s)
{
    return collect(c, PQsendPrepare(c->pg, s->name, s->sql, 0, NULL), s->name);
}

static int ensure_prepared(db_conn *c, const char *name)
{
    int ord = stmt_ord(name);
    if (ord < 0 || is_prepared(c, ord))
        return 0;
    const db_stmt *s = stmt_by_ord[ord];
    PGresult *r = prepare(c, s);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (ok)
        mark_prepared(c, ord);
    else
        LOG_WARN("could not prepare statement", "stmt=%s detail=%s", s->name,
                 srv_log_q((char[600]){0}, 600, r ? PQresultErrorMessage(r) : "no answer in time"));
    PQclear(r);
    return ok ? 0 : -1;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int open_pg(db_conn *c, char *err, size_t errlen)
{
    /* keepalives and a connect timeout so a dead server is noticed in
     * seconds, not after the kernel's two-hour default */
    const char *keys[] = {"dbname",           "connect_timeout",     "keepalives",
                          "keepalives_idle",  "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "application_name",    NULL};
    const char *vals[] = {c->url, "3", "1", "10", "5", "3", "10000", "dustwatch", NULL};
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        snprintf(err, errlen, "could not connect to PostgreSQL: %s",
                 c->pg ? PQerrorMessage(c->pg) : "out of memory");
        /* libpq messages end in a newline; keep log lines single */
        size_t l = strlen(err);
        while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
            err[--l] = '\0';
        PQfinish(c->pg);
        c->pg = NULL;
        return -1;
    }
    PQsetNoticeProcessor(c->pg, quiet_notice, NULL);
    /* session settings, in one round trip; set_config (not libpq's options
     * parameter) so that options given in database_url are kept, and the
     * values travel as parameters, never spliced into the SQL.  JIT off: the
     * statistics' and onboarding's set-based statements are estimated above
     * jit_above_cost, and compiling them took seconds where running them takes
     * milliseconds (no statement of ours runs long enough to gain from it) */
    PGresult *r;
    if (c->has_timeouts) {
        char st[24], lk[24], idle[24];
        const char *p[3] = {db_i64(st, c->timeouts.statement_ms), db_i64(lk, c->timeouts.lock_ms),
                            db_i64(idle, c->timeouts.idle_in_tx_ms)};
        r = PQexecParams(c->pg,
                         "SELECT set_config('synchronous_commit', 'on', false), "
                         "set_config('jit', 'off', false), "
                         "set_config('statement_timeout', $1, false), "
                         "set_config('lock_timeout', $2, false), "
                         "set_config('idle_in_transaction_session_timeout', $3, false)",
                         3, NULL, p, NULL, NULL, 0);
    } else {
        /* the CLI's connections (admin refresh-statistics runs the statistics' statement) */
        r = PQexec(c->pg, "SELECT set_config('synchronous_commit', 'on', false), "
                          "set_config('jit', 'off', false)");
    }
    ExecStatusType es = PQresultStatus(r);
    int set_ok = es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK;
    PQclear(r);
    if (!set_ok) {
        snprintf(err, errlen, "could not set the session's settings: %s", PQerrorMessage(c->pg));
        return -1;
    }
    if (c->session_scope) {
        /* internal jobs run the same few statements with ever-changing array
         * parameters: custom plans buy nothing and cost a re-plan each time */
        r = PQexec(c->pg, "SET plan_cache_mode = force_generic_plan");
        PQclear(r);
        const char *p[1] = {c->session_scope};
        r = PQexecParams(c->pg, "SELECT set_config('dw.scope', $1, false)", 1, NULL, p, NULL, NULL,
                         0);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) {
            snprintf(err, errlen, "could not set the session scope");
            return -1;
        }
    }
    memset(c->prepared, 0, sizeof c->prepared); /* a new backend has none */
    return 0;
}

db_timeouts db_timeouts_configured(db_timeouts_role role)
{
    return (db_timeouts){
        .statement_ms = role == DB_FOR_WORKER ? g_config.db_worker_statement_timeout_ms
                                              : g_config.db_statement_timeout_ms,
        .lock_ms = g_config.db_lock_timeout_ms,
        .idle_in_tx_ms = g_config.db_idle_in_transaction_timeout_ms,
    };
}

db_conn *db_connect(const char *url, const db_timeouts *t, char *err, size_t errlen)
{
    return db_connect_scoped(url, NULL, t, err, errlen);
}

db_status db_set_scope(db_conn *c, const char *scope)
{
    const char *p[1] = {scope};
    db_status st;
    PQclear(db_exec(c, "db_set_scope", 1, p, &st));
    return st;
}

db_status db_set_scope_focus(db_conn *c, const char *scope, const char *enterprise_id)
{
    if (!enterprise_id)
        return db_set_scope(c, scope);
    const char *p[2] = {scope, enterprise_id};
    db_status st;
    PQclear(db_exec(c, "db_set_scope_focus", 2, p, &st));
    return st;
}

int db_check_statements(const char *url, const struct db_migration_set *set, char *err,
                        size_t errlen)
{
    /* the requests' deadlines: a PostgreSQL that stops answering must not hold the start */
    const db_timeouts t = db_timeouts_configured(DB_FOR_REQUESTS);
    db_conn *c = db_connect(url, &t, err, errlen);
    if (!c)
        return 1;
    /* on a schema not (yet) at this build's migrations the statements cannot fit: the
     * server stays up unready (/readyz says why) and waits for the migration */
    if (set && db_migrate_is_current(c->pg, set, err, errlen) != 1) {
        db_close(c);
        return 1;
    }
    pthread_mutex_lock(&register_mu);
    size_t n = n_stmts;
    pthread_mutex_unlock(&register_mu);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const db_stmt *s = stmt_by_ord[i];
        PGresult *r = prepare(c, s);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "could not prepare statement \"%s\": %s", s->name,
                     r ? PQresultErrorMessage(r) : "no answer in time");
            /* only PostgreSQL's verdict on the statement (class 42: syntax error, unknown
             * table, column or function) condemns it; a connection lost meanwhile does not */
            const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
            rc = c->pg && PQstatus(c->pg) == CONNECTION_OK && state && strncmp(state, "42", 2) == 0
                     ? -1
                     : 1;
        }
        PQclear(r);
    }
    db_close(c);
    return rc;
}

/* A result must arrive within statement_timeout plus this grace.  A
 * backend that stopped answering (SIGSTOPped, a wedged host whose kernel
 * still acknowledges the traffic) is never ended by statement_timeout, and
 * tcp_user_timeout does not fire while the data is acknowledged: without a
 * deadline here the calling thread (an ingest writer, an API thread) would
 * wait for it forever (docs/reliability.md T7). */
#define DB_CLIENT_GRACE_MS 2000

static void drop_conn(db_conn *c)
{
    PQfinish(c->pg);
    c->pg = NULL;
}

/* Waits until the next result can be read without blocking.  0; -1 when
 * the deadline passed, and then the connection is closed (its state is
 * unknown: the caller answers 503 and the next statement reconnects). */
static int await_result(db_conn *c, const char *what)
{
    if (!c->pg || !c->has_timeouts || c->timeouts.statement_ms <= 0)
        return 0;
    int limit = c->timeouts.statement_ms + DB_CLIENT_GRACE_MS;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (PQisBusy(c->pg)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long spent =
            (now.tv_sec - t0.tv_sec) * 1000LL + (now.tv_nsec - t0.tv_nsec) / 1000000LL;
        if (spent >= limit) {
            LOG_WARN("database did not answer in time, connection closed", "stmt=%s deadline_ms=%d",
                     what, limit);
            drop_conn(c);
            return -1;
        }
        struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
        int n = poll(&pfd, 1, (int)(limit - spent));
        if (n < 0 && errno != EINTR)
            return 0; /* PQgetResult reports the trouble */
        if (n > 0 && !PQconsumeInput(c->pg))
            return 0;
    }
    return 0;
}

/* What PQexec returns (the last result) for a query sent with PQsend*,
 * waited for within the deadline; NULL when it could not be sent or the
 * deadline passed. */
static PGresult *collect(db_conn *c, int sent, const char *what)
{
    if (!sent || await_result(c, what) != 0)
        return NULL;
    PGresult *last = NULL, *r;
    while ((r = PQgetResult(c->pg)) != NULL) {
        PQclear(last);
        last = r;
        if (await_result(c, what) != 0) {
            PQclear(last);
            return NULL;
        }
    }
    return last;
}

/* For logs: the primary message only.  A constraint error's DETAIL repeats
 * the failing row, which may hold key material (ingest credentials). */
static const char *error_primary(db_conn *c, const PGresult *r)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return m ? m : PQerrorMessage(c->pg);
}

static void fill_diag(const PGresult *r, db_diag *diag);

/* r (taken over), stmt's result on c: returned when it succeeded, else cleared and logged, with
 * the status in *st, the diagnostics in *diag and libpq's message in err (each when not NULL). */
static PGresult *exec_result(db_conn *c, PGresult *r, const char *stmt, db_status *st,
                             db_diag *diag, char *err, size_t errlen)
{
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        *st = DB_OK;
        return r;
    }
    *st = db_classify(c, r);
    if (diag)
        fill_diag(r, diag);
    if (err)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    char q[600];
    srv_log(*st == DB_BAD ? SRV_LOG_DEBUG : SRV_LOG_WARN, "statement failed", "stmt=%s detail=%s",
            stmt, srv_log_q(q, sizeof q, error_primary(c, r)));
    PQclear(r);
    return NULL;
}

/* Why a pipeline: a read through BEGIN, set_config, the statement and
 * COMMIT costs four round trips, and for the small look-ups of the API the
 * wake-ups and system calls of those trips cost PostgreSQL more than the
 * statement.  Statements sent before one Sync form one implicit transaction,
 * so the transaction-local scope still holds for exactly these statements.
 * first sets the scope (its result goes to *first_out unless that is NULL); stmts[i]'s
 * result goes to out[i] (NULL when it failed or was skipped after an earlier one failed),
 * its status to st[i]; the return value is the first failure's status (the scope's
 * included), DB_OK when none. */
static db_status pipeline_scoped(db_conn *c, const db_pipe_stmt *first, PGresult **first_out,
                                 const db_pipe_stmt *stmts, size_t n, PGresult **out, db_status *st)
{
    if (first_out)
        *first_out = NULL;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        st[i] = DB_HARD;
    }
    if (db_ensure(c) != 0)
        return DB_HARD;
    /* inside an open transaction the scope would outlive these statements */
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return DB_HARD;
    if (ensure_prepared(c, first->name) != 0)
        return DB_HARD;
    for (size_t i = 0; i < n; i++)
        if (ensure_prepared(c, stmts[i].name) != 0)
            return DB_HARD;
    if (!PQenterPipelineMode(c->pg))
        return DB_HARD;
    int sent =
        PQsendQueryPrepared(c->pg, first->name, first->nparams, first->params, NULL, NULL, 0);
    for (size_t i = 0; sent && i < n; i++)
        sent = PQsendQueryPrepared(c->pg, stmts[i].name, stmts[i].nparams, stmts[i].params, NULL,
                                   NULL, 0);
    sent = sent && PQpipelineSync(c->pg);
    db_status all = sent ? DB_OK : DB_HARD;
    const char *what = n ? stmts[n - 1].name : first->name;
    /* results arrive as: the scope's, NULL, then each statement's, NULL, then the sync;
     * query counts the NULLs seen: 0 is the scope, i + 1 is stmts[i] */
    size_t query = 0;
    while (sent) {
        if (await_result(c, what) != 0) {
            all = DB_HARD;
            break;
        }
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            if (++query > n + 1 || PQstatus(c->pg) == CONNECTION_BAD) {
                all = DB_HARD;
                break;
            }
            continue;
        }
        ExecStatusType es = PQresultStatus(r);
        if (es == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (es == PGRES_FATAL_ERROR) {
            db_status fail = db_classify(c, r);
            if (all == DB_OK)
                all = fail;
            if (query >= 1 && query <= n)
                st[query - 1] = fail;
            char q[600];
            /* an error after the last statement's results (the connection lost before the
             * sync) is no statement's: query is n + 1 then */
            const char *name = query == 0   ? first->name
                               : query <= n ? stmts[query - 1].name
                                            : "sync";
            srv_log(fail == DB_BAD ? SRV_LOG_DEBUG : SRV_LOG_WARN, "statement failed",
                    "stmt=%s detail=%s", name, srv_log_q(q, sizeof q, error_primary(c, r)));
        }
        if (query == 0 && first_out && es == PGRES_TUPLES_OK && !*first_out) {
            *first_out = r;
            continue;
        }
        if (query >= 1 && query <= n && es == PGRES_TUPLES_OK && !out[query - 1]) {
            out[query - 1] = r;
            st[query - 1] = DB_OK;
            continue;
        }
        PQclear(r);
    }
    if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg)) {
        /* results left unread: the connection is of no further use */
        PQfinish(c->pg);
        c->pg = NULL;
        all = DB_HARD;
    }
    for (size_t i = 0; all == DB_OK && i < n; i++)
        if (!out[i])
            all = DB_HARD; /* a statement that answered no rows result: our bug */
    if (all == DB_OK && first_out && !*first_out)
        all = DB_HARD;
    if (all == DB_HARD || query < n + 1) {
        /* the connection failed or the answers stopped short: nothing read is whole */
        if (first_out) {
            PQclear(*first_out);
            *first_out = NULL;
        }
        for (size_t i = 0; i < n; i++) {
            PQclear(out[i]);
            out[i] = NULL;
            st[i] = DB_HARD;
        }
        return DB_HARD;
    }
    return all;
}

static const char *const scope_stmt[] = {[DB_PLAN_AUTO] = "db_set_scope_focus",
                                         [DB_PLAN_CUSTOM] = "db_set_scope_focus_custom",
                                         [DB_PLAN_GENERIC] = "db_set_scope_focus_generic"};

static db_status read_scoped(db_conn *c, const char *scope, const char *enterprise_id,
                             const char *stmt, int nparams, const char *const *params, db_plan plan,
                             PGresult **out)
{
    const char *sp[2] = {scope, enterprise_id ? enterprise_id : ""};
    db_pipe_stmt first = {scope_stmt[plan], 2, sp}, one = {stmt, nparams, params};
    db_status st1;
    db_status st = pipeline_scoped(c, &first, NULL, &one, 1, out, &st1);
    if (st != DB_OK) {
        PQclear(*out);
        *out = NULL;
    }
    return st;
}

db_status db_read_pipeline(db_conn *c, const db_pipe_stmt *scope, PGresult **scope_out,
                           const db_pipe_stmt *stmts, size_t n, PGresult **out, db_status *st)
{
    return pipeline_scoped(c, scope, scope_out, stmts, n, out, st);
}

/* The result of sent (PQsendQueryPrepared's) on c into *out, as db_exec gives it. */
static db_status pair_collect(db_conn *c, int sent, const char *stmt, PGresult **out)
{
    db_status st;
    *out = exec_result(c, collect(c, sent, stmt), stmt, &st, NULL, NULL, 0);
    return st;
}

/* The transaction of a pair read on c: begun read-only at repeatable read (so that its snapshot
 * can be exported or imported); snapshot, when not NULL, imported first. */
static db_status pair_begin(db_conn *c, const char *snapshot, const db_scope *s, db_plan plan)
{
    db_status st = db_command_literal(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    if (st == DB_OK && snapshot) {
        /* a utility command takes no parameters; the id is PostgreSQL's own, and checked */
        char set[96];
        if (strspn(snapshot, "0123456789ABCDEF-") != strlen(snapshot) || strlen(snapshot) > 64)
            return DB_HARD;
        snprintf(set, sizeof set, "SET TRANSACTION SNAPSHOT '%s'", snapshot);
        st = db_command_literal(c, set);
    }
    if (st == DB_OK) {
        const char *sp[2] = {s->rls, s->focus[0] ? s->focus : ""};
        PQclear(db_exec(c, scope_stmt[plan], 2, sp, &st));
    }
    return st;
}

static void pair_end(db_conn *c, db_status *st)
{
    if (!c->pg || PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return;
    db_status end = db_command_literal(c, *st == DB_OK ? "COMMIT" : "ROLLBACK");
    if (*st == DB_OK)
        *st = end;
}

db_status db_read_pair_plan(db_conn *c1, db_conn *c2, const db_scope *s, const char *stmt1,
                            const char *stmt2, int nparams, const char *const *p1,
                            const char *const *p2, db_plan plan, PGresult **out1, PGresult **out2)
{
    *out1 = *out2 = NULL;
    if (db_ensure(c1) != 0 || db_ensure(c2) != 0 || PQtransactionStatus(c1->pg) != PQTRANS_IDLE ||
        PQtransactionStatus(c2->pg) != PQTRANS_IDLE || ensure_prepared(c1, stmt1) != 0 ||
        ensure_prepared(c2, stmt2) != 0)
        return DB_HARD;
    db_status st = pair_begin(c1, NULL, s, plan), st2 = DB_HARD;
    char snapshot[80] = "";
    if (st == DB_OK) {
        db_diag diag;
        PGresult *r = db_exec_sql_diag(c1, "export_snapshot", "SELECT pg_export_snapshot()", 0,
                                       NULL, &st, &diag);
        if (r && PQntuples(r) == 1)
            snprintf(snapshot, sizeof snapshot, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
        if (st == DB_OK && !snapshot[0])
            st = DB_HARD;
    }
    if (st == DB_OK)
        st2 = pair_begin(c2, snapshot, s, plan);
    if (st == DB_OK && st2 == DB_OK) {
        /* both sent before either is waited for: they run at once */
        int sent1 = PQsendQueryPrepared(c1->pg, stmt1, nparams, p1, NULL, NULL, 0);
        int sent2 = PQsendQueryPrepared(c2->pg, stmt2, nparams, p2, NULL, NULL, 0);
        st = pair_collect(c1, sent1, stmt1, out1);
        st2 = pair_collect(c2, sent2, stmt2, out2);
    }
    if (st == DB_OK)
        st = st2;
    pair_end(c1, &st);
    pair_end(c2, &st);
    if (st != DB_OK) {
        PQclear(*out1);
        PQclear(*out2);
        *out1 = *out2 = NULL;
    }
    return st;
}

db_status db_read_scoped(db_conn *c, const char *scope, const char *enterprise_id, const char *stmt,
                         int nparams, const char *const *params, PGresult **out)
{
    return read_scoped(c, scope, enterprise_id, stmt, nparams, params, DB_PLAN_AUTO, out);
}

db_conn *db_connect_scoped(const char *url, const char *session_scope, const db_timeouts *t,
                           char *err, size_t errlen)
{
    db_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    db_register_statements(builtin_stmts, sizeof builtin_stmts / sizeof builtin_stmts[0]);
    c->url = strdup(url);
    if (t) {
        c->timeouts = *t;
        c->has_timeouts = 1;
    }
    if (session_scope)
        c->session_scope = strdup(session_scope);
    if (!c->url || open_pg(c, err, errlen) != 0) {
        db_close(c);
        return NULL;
    }
    return c;
}

void db_close(db_conn *c)
{
    if (!c)
        return;
    if (c->pg)
        PQfinish(c->pg);
    free(c->url);
    free(c->session_scope);
    free(c);
}

SRV_METRIC_COUNTER(
    m_db_errors, "dustwatch_db_errors_total",
    "Failed PostgreSQL statements by class: soft (serialization failure or "
    "deadlock, retried), bad (the input broke a constraint or cast), hard (connection "
    "lost, timeout, server error).",
    "class")
SRV_METRIC_COUNTER(m_db_connect_failures, "dustwatch_db_connect_failures_total",
                   "PostgreSQL connections or reconnections that failed.", NULL)
SRV_METRIC_GAUGE(m_pool_size, "dustwatch_db_pool_size",
                 "Connections the API's pool may open (db_pool_size).", NULL)
SRV_METRIC_GAUGE(m_pool_in_use, "dustwatch_db_pool_in_use",
                 "Pool connections held by requests now.", NULL)
SRV_METRIC_COUNTER(m_pool_timeouts, "dustwatch_db_pool_wait_timeouts_total",
                   "Requests that got no pool connection in time (answered 503).", NULL)

int db_ensure(db_conn *c)
{
    /* c->pg is only kept once open_pg set its session up (a failed open_pg is finished) */
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return 0;
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->warmed = 0; /* a new backend, with empty caches */
    char err[512];
    if (open_pg(c, err, sizeof err) != 0) {
        srv_metric_add(&m_db_connect_failures, 1);
        LOG_WARN("database reconnect failed", "detail=%s", srv_log_q((char[600]){0}, 600, err));
        if (c->pg) {
            PQfinish(c->pg);
            c->pg = NULL;
        }
        return -1;
    }
    LOG_INFO("database connection established", "%s", "");
    return 0;
}

PGconn *db_pg(db_conn *c)
{
    return c->pg;
}

static db_status classify(db_conn *c, const PGresult *res)
{
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return DB_HARD;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return DB_HARD;
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return DB_SOFT;
    /* class 22 data exception, 23 integrity violation: the input was wrong */
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return DB_BAD;
    return DB_HARD;
}

db_status db_classify(db_conn *c, const PGresult *res)
{
    db_status st = classify(c, res);
    srv_metric_add(&m_db_errors, 1, st == DB_SOFT ? "soft" : st == DB_BAD ? "bad" : "hard");
    return st;
}

static void fill_diag(const PGresult *r, db_diag *diag)
{
    const char *f[3] = {r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL,
                        r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL,
                        r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL};
    snprintf(diag->sqlstate, sizeof diag->sqlstate, "%s", f[0] ? f[0] : "");
    snprintf(diag->constraint, sizeof diag->constraint, "%s", f[1] ? f[1] : "");
    snprintf(diag->message, sizeof diag->message, "%s", f[2] ? f[2] : "");
}

static PGresult *wait_queued(db_conn *c, const char *stmt, int literal, int nparams,
                             const char *const *params, const int *lengths, const int *formats,
                             db_status *st, db_diag *diag, char *err, size_t errlen);

/* The held writes go out before any other statement: the order of the statements is the
 * order of the calls. */
static db_status send_held(db_conn *c)
{
    db_hold_send_fn send = c->hold_send;
    void *arg = c->hold_arg;
    if (!send)
        return DB_OK;
    c->hold_send = NULL;
    c->hold_drop = NULL;
    c->hold_arg = NULL;
    return send(c, arg);
}

static void drop_held(db_conn *c)
{
    if (c->hold_drop)
        c->hold_drop(c->hold_arg);
    c->hold_send = NULL;
    c->hold_drop = NULL;
    c->hold_arg = NULL;
}

void *db_held(db_conn *c, db_hold_send_fn send)
{
    return c->hold_send == send ? c->hold_arg : NULL;
}

db_status db_hold(db_conn *c, db_hold_send_fn send, db_hold_drop_fn drop, void *arg)
{
    if (!(c->pipelined && c->in_tx && c->pg))
        return send(c, arg);
    db_status st = c->hold_send && c->hold_send != send ? send_held(c) : DB_OK;
    if (st != DB_OK) {
        drop(arg);
        return st;
    }
    c->hold_send = send;
    c->hold_drop = drop;
    c->hold_arg = arg;
    return DB_OK;
}

/* err (may be NULL): on failure, libpq's whole message for the CLI */
static PGresult *exec_common(db_conn *c, const char *stmt, int nparams, const char *const *params,
                             const int *lengths, const int *formats, db_status *st, db_diag *diag,
                             char *err, size_t errlen)
{
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (err && errlen)
        err[0] = '\0';
    if (!c->pg || (*st = send_held(c)) != DB_OK) {
        *st = c->pg ? *st : DB_HARD;
        return NULL;
    }
    if (c->nq > 0)
        return wait_queued(c, stmt, 0, nparams, params, lengths, formats, st, diag, err, errlen);
    if (ensure_prepared(c, stmt) != 0) {
        *st = DB_HARD;
        return NULL;
    }
    return exec_result(
        c, collect(c, PQsendQueryPrepared(c->pg, stmt, nparams, params, lengths, formats, 0), stmt),
        stmt, st, diag, err, errlen);
}

PGresult *db_exec(db_conn *c, const char *stmt, int nparams, const char *const *params,
                  db_status *st)
{
    return exec_common(c, stmt, nparams, params, NULL, NULL, st, NULL, NULL, 0);
}

PGresult *db_exec_diag(db_conn *c, const char *stmt, int nparams, const char *const *params,
                       db_status *st, db_diag *diag)
{
    return exec_common(c, stmt, nparams, params, NULL, NULL, st, diag, NULL, 0);
}

PGresult *db_exec_msg(db_conn *c, const char *stmt, int nparams, const char *const *params,
                      db_status *st, char *err, size_t errlen)
{
    return exec_common(c, stmt, nparams, params, NULL, NULL, st, NULL, err, errlen);
}

PGresult *db_exec_bin(db_conn *c, const char *stmt, int nparams, const char *const *params,
                      const int *lengths, const int *formats, db_status *st)
{
    return exec_common(c, stmt, nparams, params, lengths, formats, st, NULL, NULL, 0);
}

PGresult *db_exec_bin_diag(db_conn *c, const char *stmt, int nparams, const char *const *params,
                           const int *lengths, const int *formats, db_status *st, db_diag *diag)
{
    return exec_common(c, stmt, nparams, params, lengths, formats, st, diag, NULL, 0);
}

PGresult *db_exec_sql_diag(db_conn *c, const char *what, const char *sql, int nparams,
                           const char *const *params, db_status *st, db_diag *diag)
{
    memset(diag, 0, sizeof *diag);
    if ((*st = db_flush(c)) != DB_OK)
        return NULL;
    PGresult *r = collect(
        c, c->pg && PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0), what);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        *st = DB_OK;
        return r;
    }
    *st = db_classify(c, r);
    fill_diag(r, diag);
    char q[600];
    srv_log(*st == DB_BAD ? SRV_LOG_DEBUG : SRV_LOG_WARN, "statement failed", "stmt=%s detail=%s",
            what, srv_log_q(q, sizeof q, diag->message));
    PQclear(r);
    return NULL;
}

db_status db_command_literal(db_conn *c, const char *sql)
{
    if (!c->pg)
        return DB_HARD;
    db_status held = send_held(c);
    if (held != DB_OK)
        return held;
    if (c->nq > 0) {
        db_status st;
        PQclear(wait_queued(c, sql, 1, 0, NULL, NULL, NULL, &st, NULL, NULL, 0));
        return st;
    }
    PGresult *r = collect(c, PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0), sql);
    db_status st = DB_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        st = db_classify(c, r);
    PQclear(r);
    return st;
}

/* ---- queued statements (db_internal.h, db_queue_bin) ----------------------
 *
 * Why: the ingest writer's group transaction ran ~14 statements for 1.5 requests, each a
 * round trip: wake-ups, system calls and protocol of both processes on every one.  On a
 * pipelined connection (db_conn_pipeline) inside db_run_tx, a statement whose answer is not
 * needed at once is sent and left to be read: the next call that needs an answer (or the
 * COMMIT) sends its own statement behind the queued ones and one Sync, and reads them all.
 * Order and transaction are those of the calls; only the waiting is batched. */

void db_conn_pipeline(db_conn *c, int on)
{
    c->pipelined = on;
}

/* Hands q its result: r on success, NULL when it failed (diag) or never ran. */
static db_status queued_done(db_conn *c, const queued *q, PGresult *r, const db_diag *diag)
{
    if (q->prepare_ord >= 0) {
        if (!r) /* refused, or never ran: marked when it was sent (enqueue) */
            unmark_prepared(c, q->prepare_ord);
        PQclear(r);
        return DB_OK;
    }
    if (q->keep) {
        *q->keep = r;
        if (!r && q->diag)
            *q->diag = *diag;
        return DB_OK;
    }
    db_status st = q->fn ? q->fn(q->arg, r, diag) : DB_OK;
    (void)c;
    PQclear(r);
    return r ? st : DB_OK;
}

/* Sends a Sync and reads every queued statement's result in order, each handed to its
 * handler (exactly once, also when it never ran).  The first failure's status. */
static db_status run_queue(db_conn *c)
{
    size_t n = c->nq, k = 0;
    int got = 0, synced = 0;
    db_status first = DB_OK;
    const db_diag none = {{0}, {0}, {0}};
    const char *what = n ? c->q[n - 1].name : "sync";
    c->nq = 0; /* handlers issue no statements, and a failure below leaves nothing queued */
    if (c->pg && PQpipelineSync(c->pg)) {
        while (await_result(c, what) == 0) {
            PGresult *r = PQgetResult(c->pg);
            if (!r) {
                if (PQstatus(c->pg) == CONNECTION_BAD || k >= n)
                    break;
                if (!got)
                    (void)queued_done(c, &c->q[k], NULL, &none);
                k++;
                got = 0;
                continue;
            }
            ExecStatusType es = PQresultStatus(r);
            if (es == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                synced = 1;
                break;
            }
            if (k >= n || got) {
                PQclear(r);
                continue;
            }
            got = 1;
            db_status s = DB_OK;
            if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
                s = queued_done(c, &c->q[k], r, NULL);
            } else if (es == PGRES_FATAL_ERROR) {
                db_diag d;
                fill_diag(r, &d);
                s = db_classify(c, r);
                char q[600];
                srv_log(s == DB_BAD ? SRV_LOG_DEBUG : SRV_LOG_WARN, "statement failed",
                        "stmt=%s detail=%s", c->q[k].name,
                        srv_log_q(q, sizeof q, error_primary(c, r)));
                PQclear(r);
                (void)queued_done(c, &c->q[k], NULL, &d);
            } else { /* PGRES_PIPELINE_ABORTED: an earlier one failed */
                PQclear(r);
                (void)queued_done(c, &c->q[k], NULL, &none);
                s = DB_HARD;
            }
            if (first == DB_OK)
                first = s;
        }
    }
    for (; k < n; k++, got = 0) /* the connection was lost: no answer will come */
        if (!got)
            (void)queued_done(c, &c->q[k], NULL, &none);
    if (!synced || !c->pg || !PQexitPipelineMode(c->pg)) {
        if (c->pg)
            drop_conn(c); /* its state is unknown: the next call reconnects */
        return DB_HARD;
    }
    return first;
}

/* Sends stmt (a prepared statement's name, or with literal an SQL text without parameters)
 * behind the queued ones; keep/diag: the waiting call's result slot. */
static db_status enqueue(db_conn *c, const char *stmt, int literal, int nparams,
                         const char *const *params, const int *lengths, const int *formats,
                         db_result_fn fn, void *arg, int veto, PGresult **keep, db_diag *diag)
{
    const queued q = {stmt, -1, fn, arg, veto, keep, diag};
    const db_diag none = {{0}, {0}, {0}};
    /* a statement not yet prepared on this backend is parsed in the same pipeline, just
     * before it (the Parse's own result is read like a statement's), and counts as prepared
     * from then on: the same statement queued again before the results are read (two rule-state
     * stores of one group on a new connection) must not be parsed twice, which PostgreSQL
     * refuses ("already exists"), failing the whole group */
    int ord = literal ? -1 : stmt_ord(stmt);
    db_status st = send_held(c);
    if (st == DB_OK && c->nq + 2 > QUEUE_MAX)
        st = run_queue(c);
    if (st == DB_OK && !c->pg)
        st = DB_HARD;
    if (st == DB_OK && c->nq == 0 && PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF &&
        !PQenterPipelineMode(c->pg))
        st = DB_HARD;
    if (st == DB_OK && ord >= 0 && !is_prepared(c, ord)) {
        const db_stmt *s = stmt_by_ord[ord];
        if (PQsendPrepare(c->pg, s->name, s->sql, 0, NULL)) {
            c->q[c->nq++] = (queued){s->name, ord, NULL, NULL, 0, NULL, NULL};
            mark_prepared(c, ord);
        } else
            st = DB_HARD;
    }
    if (st == DB_OK) {
        int sent = literal ? PQsendQueryParams(c->pg, stmt, 0, NULL, NULL, NULL, NULL, 0)
                           : PQsendQueryPrepared(c->pg, stmt, nparams, params, lengths, formats, 0);
        if (sent) {
            c->q[c->nq++] = q;
            return DB_OK;
        }
        (void)run_queue(c); /* the queued ones' handlers hear of it; the connection is dropped */
        st = DB_HARD;
    }
    (void)queued_done(c, &q, NULL, &none);
    return st;
}

db_status db_queue_bin(db_conn *c, const char *stmt, int nparams, const char *const *params,
                       const int *lengths, const int *formats, db_result_fn fn, void *arg, int veto)
{
    if (c->pipelined && c->in_tx && c->pg)
        return enqueue(c, stmt, 0, nparams, params, lengths, formats, fn, arg, veto, NULL, NULL);
    db_status st;
    db_diag d;
    PGresult *r = exec_common(c, stmt, nparams, params, lengths, formats, &st, &d, NULL, 0);
    if (!r) {
        if (fn)
            (void)fn(arg, NULL, &d);
        return st;
    }
    st = fn ? fn(arg, r, NULL) : DB_OK;
    PQclear(r);
    return st;
}

db_status db_flush(db_conn *c)
{
    db_status st = send_held(c);
    return st == DB_OK && c->nq > 0 ? run_queue(c) : st;
}

/* A statement whose answer the caller waits for, sent behind the queued ones: its result,
 * or NULL with *st the first failure's status (an earlier statement's, if one failed). */
static PGresult *wait_queued(db_conn *c, const char *stmt, int literal, int nparams,
                             const char *const *params, const int *lengths, const int *formats,
                             db_status *st, db_diag *diag, char *err, size_t errlen)
{
    PGresult *r = NULL;
    *st = enqueue(c, stmt, literal, nparams, params, lengths, formats, NULL, NULL, 0, &r, diag);
    if (*st == DB_OK)
        *st = run_queue(c);
    if (*st == DB_OK && !r)
        *st = DB_HARD;
    if (*st != DB_OK) {
        if (err && diag)
            snprintf(err, errlen, "%s", diag->message);
        PQclear(r);
        return NULL;
    }
    return r;
}

static int veto_queued(const db_conn *c)
{
    for (size_t i = 0; i < c->nq; i++)
        if (c->q[i].veto)
            return 1;
    return 0;
}

/* COMMIT: behind the queued statements in the same round trip, unless a handler may still
 * refuse one of them (then those are read first).  After a failure the transaction is
 * rolled back. */
static db_status commit_tx(db_conn *c)
{
    PGresult *r = NULL;
    db_status st = send_held(c);
    if (st != DB_OK) {
        /* nothing to commit: the block is rolled back below */
    } else if (c->nq > 0 && !veto_queued(c)) {
        r = wait_queued(c, "COMMIT", 1, 0, NULL, NULL, NULL, &st, NULL, NULL, 0);
    } else {
        st = db_flush(c);
        if (st == DB_OK) {
            r = collect(c,
                        c->pg && PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0),
                        "COMMIT");
            st = PQresultStatus(r) == PGRES_COMMAND_OK ? DB_OK : db_classify(c, r);
        }
    }
    PQclear(r);
    /* a queued statement failed: the COMMIT never ran and the block is still open */
    if (st != DB_OK && c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        (void)db_command(c, "ROLLBACK");
    return st;
}

db_status db_run_tx(db_conn *c, const char *isolation, db_tx_fn fn, void *arg)
{
    db_status st = DB_HARD;
    for (int attempt = 0; attempt < 5; attempt++) {
        if (db_ensure(c) != 0)
            return DB_HARD;
        const char *begin = "BEGIN";
        if (isolation && strcmp(isolation, "REPEATABLE READ") == 0)
            begin = "BEGIN ISOLATION LEVEL REPEATABLE READ";
        else if (isolation && strcmp(isolation, "SERIALIZABLE") == 0)
            begin = "BEGIN ISOLATION LEVEL SERIALIZABLE";
        if (c->pipelined) /* BEGIN goes with the first statement that waits */
            st = enqueue(c, begin, 1, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL);
        else
            st = db_command_literal(c, begin);
        if (st != DB_OK)
            return st;
        c->in_tx = 1;
        st = fn(c, arg);
        if (st == DB_OK) {
            st = commit_tx(c);
        } else {
            drop_held(c);
            (void)db_flush(c);
            (void)db_command(c, "ROLLBACK");
        }
        c->in_tx = 0;
        if (st == DB_OK)
            return DB_OK;
        if (st != DB_SOFT)
            return st;
        /* back off a little so the conflicting transaction can finish */
        struct timespec ts = {0, (long)(1 + attempt * 5) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return st;
}

struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *url;
    db_timeouts timeouts;
    int has_timeouts;
    db_conn **idle;
    int n_idle;
    int size;
    int created;
    /* db_pool_warm: its thread (joined by db_pool_free), woken by warm_cv, warms the
     * connections in cold (returned by db_pool_put before warm ran on their backend) and opens
     * the pool's connections at start */
    pthread_t warmer;
    pthread_cond_t warm_cv;
    db_conn **cold;
    int n_cold;
    int warming;
    int closing;
    db_warm_fn warm;
};

db_pool *db_pool_new(const char *url, int size, const db_timeouts *t)
{
    db_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (t) {
        p->timeouts = *t;
        p->has_timeouts = 1;
    }
    p->url = strdup(url);
    p->idle = calloc((size_t)size, sizeof *p->idle);
    p->cold = calloc((size_t)size, sizeof *p->cold);
    p->size = size;
    if (!p->url || !p->idle || !p->cold) {
        free(p->url);
        free(p->idle);
        free(p->cold);
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    srv_clock_cond_init(&p->cv); /* db_pool_get waits on CLOCK_MONOTONIC */
    pthread_cond_init(&p->warm_cv, NULL);
    srv_metric_add(&m_pool_size, size);
    return p;
}

void db_pool_free(db_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->closing = 1;
    pthread_cond_signal(&p->warm_cv);
    pthread_mutex_unlock(&p->mu);
    if (p->warming)
        pthread_join(p->warmer, NULL);
    srv_metric_add(&m_pool_size, -p->size);
    for (int i = 0; i < p->n_idle; i++)
        db_close(p->idle[i]);
    for (int i = 0; i < p->n_cold; i++)
        db_close(p->cold[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_cond_destroy(&p->warm_cv);
    free(p->idle);
    free(p->cold);
    free(p->url);
    free(p);
}

db_conn *db_pool_get(db_pool *p, int timeout_ms)
{
    struct timespec deadline = srv_clock_deadline(timeout_ms);
    pthread_mutex_lock(&p->mu);
    db_conn *c = NULL;
    for (;;) {
        if (p->n_idle > 0) {
            c = p->idle[--p->n_idle];
            break;
        }
        if (p->created < p->size) {
            p->created++;
            pthread_mutex_unlock(&p->mu);
            char err[512];
            c = db_connect(p->url, p->has_timeouts ? &p->timeouts : NULL, err, sizeof err);
            if (!c) {
                srv_metric_add(&m_db_connect_failures, 1);
                LOG_WARN("database connect failed", "detail=%s",
                         srv_log_q((char[600]){0}, 600, err));
                pthread_mutex_lock(&p->mu);
                p->created--;
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
                return NULL;
            }
            srv_metric_add(&m_pool_in_use, 1);
            return c;
        }
        if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    if (!c) {
        srv_metric_add(&m_pool_timeouts, 1);
        return NULL;
    }
    srv_metric_add(&m_pool_in_use, 1);
    if (db_ensure(c) != 0) {
        /* keep the object: it reconnects on next use */
        db_pool_put(p, c);
        return NULL;
    }
    return c;
}

/* A connection going back to the idle ones mid-transaction would leak state into its next
 * user: roll back whatever is open. */
static void end_open_tx(db_conn *c)
{
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        (void)db_command(c, "ROLLBACK");
}

void db_pool_put(db_pool *p, db_conn *c)
{
    if (!c)
        return;
    end_open_tx(c);
    srv_metric_add(&m_pool_in_use, -1);
    pthread_mutex_lock(&p->mu);
    if (p->warming && !p->closing && !c->warmed && c->pg) {
        p->cold[p->n_cold++] = c;
        pthread_cond_signal(&p->warm_cv);
    } else {
        p->idle[p->n_idle++] = c;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

void db_pool_drop_idle(db_pool *p)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        db_conn *c = p->n_idle > 0 ? p->idle[--p->n_idle] : NULL;
        if (c)
            p->created--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (!c)
            return;
        db_close(c); /* outside the lock: closing may wait for the socket */
    }
}

/* Runs warm on c (not locked), then c joins the idle ones (locked on return). */
static void warm_one(db_pool *p, db_conn *c)
{
    pthread_mutex_unlock(&p->mu);
    p->warm(c);
    c->warmed = 1; /* failed or not: warm is tried once per backend */
    end_open_tx(c);
    pthread_mutex_lock(&p->mu);
    p->idle[p->n_idle++] = c;
    pthread_cond_signal(&p->cv);
}

static void *pool_warm_main(void *arg)
{
    db_pool *p = arg;
    int opening = 1; /* at start, until the pool is full or a connect fails */
    pthread_mutex_lock(&p->mu);
    while (!p->closing) {
        if (p->n_cold > 0) {
            warm_one(p, p->cold[--p->n_cold]);
            continue;
        }
        if (!opening || p->created >= p->size) {
            opening = 0;
            pthread_cond_wait(&p->warm_cv, &p->mu);
            continue;
        }
        p->created++;
        pthread_mutex_unlock(&p->mu);
        char err[512];
        db_conn *c = db_connect(p->url, p->has_timeouts ? &p->timeouts : NULL, err, sizeof err);
        if (!c)
            /* not a failure of anything asked for: the pool connects on demand, as before */
            LOG_INFO("pool warm-up stopped", "detail=%s", srv_log_q((char[600]){0}, 600, err));
        pthread_mutex_lock(&p->mu);
        if (c) {
            warm_one(p, c);
        } else {
            p->created--;
            opening = 0;
            pthread_cond_signal(&p->cv); /* a waiting db_pool_get may open one now */
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int db_pool_warm(db_pool *p, db_warm_fn warm)
{
    if (!warm || p->warming)
        return 0;
    p->warm = warm;
    pthread_mutex_lock(&p->mu);
    p->warming = 1;
    pthread_mutex_unlock(&p->mu);
    if (pthread_create(&p->warmer, NULL, pool_warm_main, p) == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    p->warming = 0;
    pthread_mutex_unlock(&p->mu);
    return -1;
}

/* The JSON text in the first cell of res (new reference), NULL when there is
 * no row or the cell is NULL; invalid JSON sets *st to DB_HARD.  Clears res. */
static json_t *first_cell_json(PGresult *res, const char *stmt, db_status *st)
{
    json_t *j = NULL;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        json_error_t e;
        j = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &e);
        if (!j) {
            LOG_ERROR("statement returned invalid JSON", "stmt=%s", stmt);
            *st = DB_HARD;
        }
    }
    PQclear(res);
    return j;
}

db_status db_read_result_plan(db_conn *c, const db_scope *s, const char *stmt, int nparams,
                              const char *const *params, db_plan plan, PGresult **out)
{
    return read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, stmt, nparams, params, plan, out);
}

db_status db_read_json_plan(db_conn *c, const db_scope *s, const char *stmt, int nparams,
                            const char *const *params, db_plan plan, json_t **out)
{
    *out = NULL;
    PGresult *res = NULL;
    db_status st =
        read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, stmt, nparams, params, plan, &res);
    if (st == DB_OK)
        *out = first_cell_json(res, stmt, &st);
    return st;
}

db_status db_read_json(db_conn *c, const db_scope *s, const char *stmt, int nparams,
                       const char *const *params, json_t **out)
{
    return db_read_json_plan(c, s, stmt, nparams, params, DB_PLAN_AUTO, out);
}

db_status db_exec_json(db_conn *c, const char *stmt, int nparams, const char *const *params,
                       json_t **out)
{
    *out = NULL;
    db_status st;
    PGresult *res = db_exec(c, stmt, nparams, params, &st);
    if (res)
        *out = first_cell_json(res, stmt, &st);
    return st;
}

const char *db_i64(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
    return buf;
}

const char *db_tristate(int v)
{
    return v < 0 ? NULL : v ? "true" : "false";
}

const char *db_bytea_hex(char *out, const unsigned char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = hex[in[i] >> 4];
        out[3 + 2 * i] = hex[in[i] & 15];
    }
    out[2 + 2 * n] = '\0';
    return out;
}

char *db_i64_array(const int64_t *v, size_t n)
{
    /* '{', up to 20 digits and sign plus a comma per id, '}', NUL */
    char *out = malloc(3 + n * 22);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(out + o, "%s%lld", i ? "," : "", (long long)v[i]);
    out[o++] = '}';
    out[o] = 0;
    return out;
}

char *db_text_array(const char *const *v, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += v[i] ? 2 * strlen(v[i]) + 3 : 5;
    char *out = malloc(len), *o = out;
    if (!out)
        return NULL;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        if (!v[i]) {
            memcpy(o, "NULL", 4);
            o += 4;
            continue;
        }
        *o++ = '"';
        for (const char *s = v[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *o++ = '\\';
            *o++ = *s;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

db_status db_begin(db_conn *c)
{
    return db_command(c, "BEGIN");
}

db_status db_commit(db_conn *c)
{
    return db_command(c, "COMMIT");
}

void db_rollback(db_conn *c)
{
    (void)db_command(c, "ROLLBACK");
}
