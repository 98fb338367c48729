#include "db_ingest_guard.h"

#include "db_audit.h"
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    /* $1 credential, $2 source, $3 max failures, $4 window s, $5 lockout s.
     * The new count is computed once in the insert's VALUES (1) and again in
     * the update; a pair is locked when the count reaches $3 and it is not
     * locked already, so one lockout writes one audit row.  "just locked"
     * is recognised by locked_until being exactly this transaction's now()
     * + lockout. */
    {"ing_guard_fail",
     "WITH u AS (INSERT INTO ingest_decrypt_failures AS t (credential, source, failures, "
     "locked_until, lockouts) VALUES ($1, $2, 1, CASE WHEN $3::int <= 1 THEN now() + "
     "make_interval(secs => $5::int) END, CASE WHEN $3::int <= 1 THEN 1 ELSE 0 END) "
     "ON CONFLICT (credential, source) DO UPDATE SET "
     "failures = CASE WHEN t.window_start < now() - make_interval(secs => $4::int) THEN 1 "
     "ELSE t.failures + 1 END, "
     "window_start = CASE WHEN t.window_start < now() - make_interval(secs => $4::int) THEN "
     "now() ELSE t.window_start END, last_at = now(), "
     "locked_until = CASE WHEN (t.locked_until IS NULL OR t.locked_until <= now()) AND CASE "
     "WHEN t.window_start < now() - make_interval(secs => $4::int) THEN 1 ELSE t.failures + 1 "
     "END >= $3::int THEN now() + make_interval(secs => $5::int) ELSE t.locked_until END, "
     "lockouts = t.lockouts + CASE WHEN (t.locked_until IS NULL OR t.locked_until <= now()) "
     "AND CASE WHEN t.window_start < now() - make_interval(secs => $4::int) THEN 1 ELSE "
     "t.failures + 1 END >= $3::int THEN 1 ELSE 0 END "
     "RETURNING t.failures, t.locked_until, t.locked_until IS NOT NULL AND t.locked_until = "
     "now() + make_interval(secs => $5::int) AS just_locked) "
     "SELECT u.failures, CASE WHEN u.locked_until > now() THEN greatest(1, ceil(extract(epoch "
     "FROM u.locked_until - now())))::bigint ELSE 0 END, u.just_locked FROM u"},
    /* $1 enterprise $2 source $3 gateway code (NULL: none) $4 items $5 max ahead s
     * $6 last ahead s */
    {"ing_skew_count",
     "INSERT INTO ingest_clock_skew AS t (enterprise_id, day, source, gateway_code, rejected, "
     "max_ahead_s, last_ahead_s) VALUES ($1::bigint, (now() AT TIME ZONE 'UTC')::date, $2, "
     "coalesce($3, ''), $4::bigint, $5::float8, $6::float8) ON CONFLICT (enterprise_id, day, "
     "source, gateway_code) DO UPDATE SET rejected = t.rejected + EXCLUDED.rejected, "
     "max_ahead_s = greatest(t.max_ahead_s, EXCLUDED.max_ahead_s), last_ahead_s = "
     "EXCLUDED.last_ahead_s, last_at = now()"},
};

void db_ingest_guard_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    db_audit_register();
}

db_status db_ingest_guard_fail(db_conn *c, const char *credential, const char *source,
                               long max_failures, long window_s, long lockout_s,
                               db_ingest_guard_state *out)
{
    char bm[24], bw[24], bl[24];
    const char *p[5] = {credential, source ? source : "", db_i64(bm, max_failures),
                        db_i64(bw, window_s), db_i64(bl, lockout_s)};
    db_status st;
    PGresult *r = db_exec(c, "ing_guard_fail", 5, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_HARD;
    }
    out->failures = atoi(PQgetvalue(r, 0, 0));
    out->locked_s = atol(PQgetvalue(r, 0, 1));
    out->just_locked = strcmp(PQgetvalue(r, 0, 2), "t") == 0;
    PQclear(r);
    if (!out->just_locked)
        return DB_OK;
    /* the lockout is recorded through the audit chain, in the caller's transaction */
    char detail[160];
    snprintf(detail, sizeof detail,
             "%d requests in %ld s could not be decrypted and decoded; locked out for %ld s",
             out->failures, window_s, lockout_s);
    return db_audit_append(c, 0, "ingest", source, "ingest_decrypt_lockout", credential, "locked",
                           detail, NULL);
}

db_status db_ingest_guard_skew(db_conn *c, int64_t enterprise_id, const char *source,
                               const char *gateway_code, long n, double max_ahead_s,
                               double last_ahead_s)
{
    char e[24], k[24], mx[40], ls[40];
    snprintf(mx, sizeof mx, "%.3f", max_ahead_s);
    snprintf(ls, sizeof ls, "%.3f", last_ahead_s);
    const char *p[6] = {db_i64(e, enterprise_id), source, gateway_code, db_i64(k, n), mx, ls};
    db_status st;
    PGresult *r = db_exec(c, "ing_skew_count", 6, p, &st);
    PQclear(r);
    return r ? DB_OK : st;
}
