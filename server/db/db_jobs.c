/* db_jobs.c — the worker's housekeeping statements (see db_jobs.h). */
#include "db_jobs.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* session-level lock: one node runs the city-wide periodic jobs at a time; released by
 * PostgreSQL if the node dies */
#define PERIODIC_LOCK "7310312016119202"

static const db_stmt statements[] = {
    {"rollup_mark", "SELECT extract(epoch FROM dw_rollup_mark(make_interval(secs => $1::int), "
                    "make_interval(secs => $2::int)))::bigint"},
    {"rollup_fill",
     "SELECT extract(epoch FROM rolled_from)::bigint, extract(epoch FROM rolled_to)::bigint, "
     "minute_rows, dirty_done, dirty_left, quarantined, quarantine_note FROM "
     "dw_rollup_fill($1::int)"},
    /* the rollup partitions the next fill step will write into (the range the mark step
     * opened and the hours queued late): monthly for hours, daily for minutes (migration
     * 0139), created ahead of the fill */
    {"rollup_ensure",
     "SELECT count(*) FILTER (WHERE dw_ensure_rollup_partition(m.tier, m.day))::text FROM "
     "(SELECT 'hour' AS tier, generate_series(date_trunc('month', s.rolled_to AT TIME ZONE "
     "'UTC'), date_trunc('month', s.marked_to AT TIME ZONE 'UTC'), interval '1 month')::date "
     "AS day FROM rollup_state s UNION SELECT 'minute', generate_series(date_trunc('day', "
     "s.rolled_to AT TIME ZONE 'UTC'), date_trunc('day', s.marked_to AT TIME ZONE 'UTC'), "
     "interval '1 day')::date FROM rollup_state s UNION SELECT 'hour', date_trunc('month', "
     "d.hour AT TIME ZONE 'UTC')::date FROM rollup_dirty d UNION SELECT 'minute', (d.hour AT "
     "TIME ZONE 'UTC')::date FROM rollup_dirty d) m"},
    {"rollup_drop", "SELECT dw_drop_rollup_partitions_before($1, $2::date)"},
    {"job_retention", "SELECT dw_drop_readings_partitions_before($1::date)"},
    {"job_pack_readings",
     "SELECT coalesce(extract(epoch FROM packed_day::timestamp)::bigint::text, ''), "
     "packed_readings, point_days, day_done, coalesce(waiting, '') FROM "
     "dw_readings_pack_next($1::date, $2::int)"},
    {"job_purge_idem",
     "WITH d AS (DELETE FROM ingest_batches WHERE expires_at < now() RETURNING 1) SELECT "
     "count(*) FROM d"},
    {"job_try_lock", "SELECT pg_try_advisory_lock(" PERIODIC_LOCK ")"},
    {"job_db_now", "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"},
    {"job_unlock", "SELECT pg_advisory_unlock(" PERIODIC_LOCK ")"},
    /* lease: the row is ours until the lease runs out */
    {"whk_lease",
     "UPDATE notification_outbox o SET next_attempt_at = now() + $2::float8 * interval '1 "
     "second', attempts = attempts + 1 FROM webhook_subscriptions s WHERE s.id = "
     "o.subscription_id AND o.id IN (SELECT id FROM notification_outbox WHERE delivered_at IS "
     "NULL AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE "
     "SKIP LOCKED) RETURNING o.id, s.url, encode(s.secret, 'hex'), o.payload::text, "
     "coalesce(o.warning_id::text, '') || ':' || o.event, o.attempts"},
    {"whk_done", "UPDATE notification_outbox SET delivered_at = now(), last_error = '' WHERE id = "
                 "$1::bigint"},
    {"whk_retry",
     "UPDATE notification_outbox SET next_attempt_at = now() + least(3600, 30 * power(2, "
     "least(attempts, 10))) * interval '1 second', last_error = $2 WHERE id = $1::bigint"},
    /* $1 seconds: per enterprise, its enabled cameras silent that long; the changed counts
     * are written and a recompute requested for them */
    {"job_video_offline",
     "WITH cam AS (SELECT c.enterprise_id, count(*) FILTER (WHERE c.enabled AND "
     "coalesce((SELECT max(v.occurred_at) FROM video_alarms v WHERE v.enterprise_id = "
     "c.enterprise_id AND v.camera_code = c.code), c.created_at) < now() - make_interval(secs "
     "=> $1::float8)) AS n FROM cameras c GROUP BY c.enterprise_id), t AS (SELECT e.id, "
     "coalesce(cam.n, 0)::int AS n FROM enterprises e LEFT JOIN cam ON cam.enterprise_id = e.id "
     "LEFT JOIN enterprise_profiles ep ON ep.enterprise_id = e.id WHERE coalesce(cam.n, 0) <> "
     "coalesce(ep.video_offline, 0)), up AS (INSERT INTO enterprise_profiles (enterprise_id, "
     "video_offline) SELECT id, n FROM t ON CONFLICT (enterprise_id) DO UPDATE SET "
     "video_offline = EXCLUDED.video_offline, updated_at = now() RETURNING enterprise_id), rq AS "
     "(" DB_RECOMPUTE_INSERT "SELECT enterprise_id, 'video_offline' FROM up " DB_RECOMPUTE_CONFLICT
     ") SELECT count(*) FROM up"},
};

void db_jobs_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* The date parameter of the partition functions: the UTC day of t. */
static const char *utc_date(char out[16], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
    return out;
}

/* Runs a statement answering one row; *res is it (the caller PQclear()s). */
static db_status exec_row(db_conn *c, const char *stmt, int nparams, const char *const *p,
                          PGresult **res)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, nparams, p, &st);
    if (!r)
        return st;
    *res = r;
    return DB_OK;
}

/* The text of the first cell of a one-row answer r into v, r cleared: what exec_cell and
 * exec_ddl_cell hand back from exec_row and exec_ddl_row. */
static db_status first_cell(db_status st, PGresult *r, char v[32])
{
    if (st != DB_OK)
        return st;
    snprintf(v, 32, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return DB_OK;
}

/* A statement answering one row (a count or a flag): the text of its first
 * cell into v. */
static db_status exec_cell(db_conn *c, const char *stmt, int nparams, const char *const *p,
                           char v[32])
{
    PGresult *r = NULL;
    db_status st = exec_row(c, stmt, nparams, p, &r);
    return first_cell(st, r, v);
}

/* Partition DDL (CREATE TABLE ... PARTITION OF, DROP TABLE of a partition) takes ACCESS
 * EXCLUSIVE on the partitioned table.  Waiting for it behind whoever holds the table -- a
 * pg_dump holds ACCESS SHARE on every table for the whole dump -- would queue every later
 * reader and writer of the table (every ingest INSERT) behind the waiting DDL for as long as
 * the dump runs.  So DDL waits at most DDL_LOCK_TIMEOUT_MS, fails (DB_HARD) and is retried
 * later: the ingest writer answers its batch 503 + Retry-After, the worker's maintenance runs
 * again soon (job_worker.c).  The session's db_lock_timeout_ms would bound the stall too, but
 * at a request's patience (seconds) where this costs ingest a fraction of one.  SET LOCAL:
 * the limit ends with the statement's own transaction. */
#define DDL_LOCK_TIMEOUT_MS "500"

static db_status exec_ddl_row(db_conn *c, const char *stmt, int nparams, const char *const *p,
                              PGresult **res)
{
    if (PQtransactionStatus(db_pg(c)) != PQTRANS_IDLE)
        return DB_HARD; /* a SET LOCAL would outlive this statement */
    db_status st = db_command(c, "BEGIN");
    if (st != DB_OK)
        return st;
    PGresult *r = NULL;
    st = db_command(c, "SET LOCAL lock_timeout = " DDL_LOCK_TIMEOUT_MS);
    if (st == DB_OK)
        st = exec_row(c, stmt, nparams, p, &r);
    if (st == DB_OK && PQntuples(r) != 1)
        st = DB_HARD;
    if (st == DB_OK)
        st = db_command(c, "COMMIT");
    else
        (void)db_command(c, "ROLLBACK");
    if (st == DB_OK)
        *res = r;
    else
        PQclear(r);
    return st;
}

static db_status exec_ddl_cell(db_conn *c, const char *stmt, int nparams, const char *const *p,
                               char v[32])
{
    PGresult *r = NULL;
    db_status st = exec_ddl_row(c, stmt, nparams, p, &r);
    return first_cell(st, r, v);
}

/* ---- rollups -------------------------------------------------------------------- */

db_status db_jobs_rollup_mark(db_conn *c, long lag_s, int span_s)
{
    char lag[24], span[24];
    const char *p[2] = {db_i64(lag, lag_s), db_i64(span, span_s)};
    db_status st;
    PQclear(db_exec(c, "rollup_mark", 2, p, &st));
    return st;
}

static int64_t col_i64(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? -1 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

db_status db_jobs_rollup_ensure_partitions(db_conn *c, int *created)
{
    char v[32];
    db_status st = exec_ddl_cell(c, "rollup_ensure", 0, NULL, v);
    *created = st == DB_OK ? atoi(v) : 0;
    return st;
}

db_status db_jobs_rollup_fill_step(db_conn *c, int dirty_max, db_jobs_rollup_fill *out)
{
    char n[24];
    const char *p[1] = {db_i64(n, dirty_max)};
    PGresult *r = NULL;
    db_status st = exec_row(c, "rollup_fill", 1, p, &r);
    if (st != DB_OK)
        return st;
    out->from_s = col_i64(r, 0);
    out->to_s = col_i64(r, 1);
    out->minute_rows = col_i64(r, 2);
    out->dirty_done = col_i64(r, 3);
    out->dirty_left = col_i64(r, 4);
    out->quarantined = col_i64(r, 5);
    snprintf(out->quarantine_note, sizeof out->quarantine_note, "%s", PQgetvalue(r, 0, 6));
    PQclear(r);
    return DB_OK;
}

db_status db_jobs_rollup_drop_before(db_conn *c, const char *tier, int64_t cutoff_s, int *dropped)
{
    char date[16];
    const char *p[2] = {tier, utc_date(date, cutoff_s)};
    char v[32];
    db_status st = exec_ddl_cell(c, "rollup_drop", 2, p, v);
    if (st == DB_OK)
        *dropped = atoi(v);
    return st;
}

/* ---- maintenance ---------------------------------------------------------------- */

/* The statement is db.c's (every connection has it): the ingest writer makes the
 * partitions of the days it stores, the worker those of the days ahead. */
db_status db_readings_partition(db_conn *c, int64_t day_s, int *created)
{
    char date[16];
    const char *p[1] = {utc_date(date, day_s)};
    char v[32];
    db_status st = exec_ddl_cell(c, "db_readings_partition", 1, p, v);
    if (st == DB_OK && created)
        *created = v[0] == 't';
    return st;
}

db_status db_jobs_ensure_partition(db_conn *c, int64_t day_s, int *created)
{
    return db_readings_partition(c, day_s, created);
}

db_status db_jobs_drop_readings_before(db_conn *c, int64_t cutoff_s, int *dropped)
{
    char date[16];
    const char *p[1] = {utc_date(date, cutoff_s)};
    char v[32];
    db_status st = exec_ddl_cell(c, "job_retention", 1, p, v);
    if (st == DB_OK)
        *dropped = atoi(v);
    return st;
}

db_status db_jobs_pack_readings(db_conn *c, int64_t before_s, int max_rows, db_jobs_pack *out)
{
    char date[16], n[24];
    const char *p[2] = {utc_date(date, before_s), db_i64(n, max_rows)};
    PGresult *r = NULL;
    db_status st = exec_ddl_row(c, "job_pack_readings", 2, p, &r);
    if (st != DB_OK)
        return st;
    out->working = PQgetvalue(r, 0, 0)[0] != '\0';
    out->day_s = out->working ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    out->readings = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    out->point_days = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    out->day_done = PQgetvalue(r, 0, 3)[0] == 't';
    snprintf(out->waiting, sizeof out->waiting, "%s", PQgetvalue(r, 0, 4));
    PQclear(r);
    return DB_OK;
}

db_status db_jobs_purge_idempotency(db_conn *c, long *purged)
{
    char v[32];
    db_status st = exec_cell(c, "job_purge_idem", 0, NULL, v);
    if (st == DB_OK)
        *purged = atol(v);
    return st;
}

db_status db_jobs_try_periodic_lock(db_conn *c, int *locked)
{
    char v[32];
    db_status st = exec_cell(c, "job_try_lock", 0, NULL, v);
    if (st == DB_OK)
        *locked = v[0] == 't';
    return st;
}

db_status db_jobs_db_now_us(db_conn *c, int64_t *out)
{
    char v[32];
    db_status st = exec_cell(c, "job_db_now", 0, NULL, v);
    if (st == DB_OK)
        *out = strtoll(v, NULL, 10);
    return st;
}

db_status db_jobs_periodic_unlock(db_conn *c)
{
    db_status st;
    PQclear(db_exec(c, "job_unlock", 0, NULL, &st));
    return st;
}

/* ---- webhook outbox ------------------------------------------------------------- */

db_status db_jobs_outbox_lease(db_conn *c, int limit, long lease_s, db_jobs_outbox_row **rows,
                               size_t *n)
{
    char lim[24], lease[24];
    const char *p[2] = {db_i64(lim, limit), db_i64(lease, lease_s)};
    PGresult *r = NULL;
    db_status st = exec_row(c, "whk_lease", 2, p, &r);
    if (st != DB_OK)
        return st;
    int nr = PQntuples(r);
    db_jobs_outbox_row *out = calloc(nr ? (size_t)nr : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return DB_HARD;
    }
    for (int i = 0; i < nr; i++) {
        /* url, secret, payload, delivery: columns 1..4, copied into one block */
        size_t len[4], total = 0;
        for (int k = 0; k < 4; k++)
            total += (len[k] = (size_t)PQgetlength(r, i, k + 1)) + 1;
        char *block = malloc(total);
        if (!block) {
            db_jobs_outbox_free(out, (size_t)i);
            PQclear(r);
            return DB_HARD;
        }
        char *dst[4];
        size_t off = 0;
        for (int k = 0; k < 4; k++) {
            dst[k] = block + off;
            memcpy(dst[k], PQgetvalue(r, i, k + 1), len[k] + 1);
            off += len[k] + 1;
        }
        out[i] = (db_jobs_outbox_row){
            .id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
            .url = dst[0],
            .secret_hex = dst[1],
            .payload = dst[2],
            .delivery = dst[3],
            .attempts = strtol(PQgetvalue(r, i, 5), NULL, 10),
        };
    }
    PQclear(r);
    *rows = out;
    *n = (size_t)nr;
    return DB_OK;
}

void db_jobs_outbox_free(db_jobs_outbox_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].url); /* the block */
    free(rows);
}

db_status db_jobs_outbox_delivered(db_conn *c, int64_t id)
{
    char buf[24];
    const char *p[1] = {db_i64(buf, id)};
    db_status st;
    PQclear(db_exec(c, "whk_done", 1, p, &st));
    return st;
}

db_status db_jobs_outbox_retry(db_conn *c, int64_t id, const char *error)
{
    char buf[24];
    const char *p[2] = {db_i64(buf, id), error};
    db_status st;
    PQclear(db_exec(c, "whk_retry", 2, p, &st));
    return st;
}

db_status db_jobs_video_offline(db_conn *c, long after_s, size_t *changed)
{
    char a[24];
    const char *p[1] = {db_i64(a, after_s)};
    db_status st;
    PGresult *res = db_exec(c, "job_video_offline", 1, p, &st);
    if (!res)
        return st;
    *changed = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
}
