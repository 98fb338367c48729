#include "db_auth.h"

#include "db_audit.h"
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    {"auth_account_by_name",
     "SELECT a.id, a.password_hash, a.role, coalesce(a.region_id, a.enterprise_id), a.disabled, "
     "coalesce(a.locked_until > now(), false), a.must_change_password, "
     "($2 > 0 AND a.password_changed_at < now() - make_interval(days => $2)) "
     "FROM accounts a WHERE a.username = $1"},
    {"auth_login_failed",
     "UPDATE accounts SET failed_logins = CASE WHEN first_failed_at IS NULL OR first_failed_at < "
     "now() - make_interval(secs => $2) THEN 1 ELSE failed_logins + 1 END, first_failed_at = "
     "CASE WHEN first_failed_at IS NULL OR first_failed_at < now() - make_interval(secs => $2) "
     "THEN now() ELSE first_failed_at END WHERE id = $1 RETURNING failed_logins"},
    {"auth_lock", "UPDATE accounts SET locked_until = now() + make_interval(secs => $2), "
                  "failed_logins = 0, first_failed_at = NULL WHERE id = $1"},
    /* $3 the hash the password was verified against: the standing the login was judged on
     * is asked again of the row, on its latest version when it changed since (a password
     * changed or reset, the account disabled or locked meanwhile: no row, no session) */
    {"auth_login_ok", "UPDATE accounts SET failed_logins = 0, first_failed_at = NULL, "
                      "locked_until = NULL, last_login_at = now(), password_hash = coalesce($2, "
                      "password_hash) WHERE id = $1 AND password_hash = $3 AND NOT disabled AND "
                      "(locked_until IS NULL OR locked_until < now()) RETURNING id"},
    {"auth_session_new",
     "INSERT INTO sessions (account_id, token_hash, expires_at, source_ip, user_agent) VALUES "
     "($1, $2::bytea, now() + make_interval(secs => $3), $4, left($5, 200)) RETURNING id, "
     "expires_at"},
    {"auth_session_get",
     "SELECT s.id, a.id, a.username, a.role, coalesce(a.region_id, a.enterprise_id), "
     "s.last_seen_at < now() - interval '60 seconds', a.must_change_password OR ($3 > 0 AND "
     "a.password_changed_at < now() - make_interval(days => $3)) FROM sessions s JOIN accounts a "
     "ON a.id = "
     "s.account_id WHERE s.token_hash = $1::bytea AND s.revoked_at IS NULL AND s.expires_at > "
     "now() AND s.last_seen_at > now() - make_interval(secs => $2) AND NOT a.disabled AND "
     "(a.locked_until IS NULL OR a.locked_until < now())"},
    {"auth_session_touch", "UPDATE sessions SET last_seen_at = now() WHERE id = $1"},
    {"auth_session_revoke", "UPDATE sessions SET revoked_at = now() WHERE id = $1"},
    {"auth_sessions_revoke_account",
     "UPDATE sessions SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL AND id "
     "<> $2"},
    /* live-event streams (api/resources/events.c): which of these sessions
     * and keys are still valid; a session seen through its open stream
     * counts as used (last_seen_at, at most every min(60 s, idle / 2)) */
    {"auth_stream_credentials",
     "WITH live AS (SELECT s.id FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.id "
     "= ANY($1::bigint[]) AND s.revoked_at IS NULL AND s.expires_at > now() AND s.last_seen_at > "
     "now() - make_interval(secs => $3::float8) AND NOT a.disabled AND (a.locked_until IS NULL "
     "OR a.locked_until < now())), touched AS (UPDATE sessions SET last_seen_at = now() WHERE id "
     "IN (SELECT id FROM live) AND last_seen_at < now() - make_interval(secs => least(60, "
     "$3::float8 / 2))) SELECT false, id FROM live UNION ALL SELECT true, id FROM api_keys WHERE "
     "id = ANY($2::bigint[]) AND revoked_at IS NULL"},
    {"auth_apikey_get",
     "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1::bytea AND revoked_at IS NULL "
     "RETURNING id, enterprise_id, key_prefix"},
    /* the replaced hash goes to the history in the same statement */
    {"auth_password_set",
     "WITH old AS (SELECT id, password_hash FROM accounts WHERE id = $1), h AS (INSERT INTO "
     "password_history (account_id, password_hash) SELECT id, password_hash FROM old WHERE "
     "password_hash LIKE '$argon2id$%') UPDATE accounts SET password_hash = $2, "
     "password_changed_at = now(), must_change_password = false WHERE id = $1"},
    {"auth_password_history", "SELECT password_hash FROM password_history WHERE account_id = $1 "
                              "ORDER BY id DESC LIMIT $2"},
    {"auth_me",
     "SELECT json_build_object('id', a.id, 'username', a.username, 'display_name', "
     "a.display_name, 'role', a.role, 'scope', json_build_object('kind', CASE WHEN "
     "a.enterprise_id IS NOT NULL THEN 'enterprise' ELSE r.level END, 'id', "
     "coalesce(a.enterprise_id, a.region_id), 'name', coalesce(e.name, r.name), 'code', "
     "coalesce(e.code, r.code)), 'must_change_password', a.must_change_password)::text FROM "
     "accounts a LEFT JOIN regions r ON r.id = a.region_id LEFT JOIN enterprises e ON e.id = "
     "a.enterprise_id WHERE a.id = $1"},
};

void db_auth_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    db_audit_register();
}

static int64_t cell_i64(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int cell_bool(const PGresult *res, int row, int col)
{
    return PQgetvalue(res, row, col)[0] == 't';
}

/* Runs a statement whose rows the caller does not need. */
static db_status run(db_conn *c, const char *stmt, int n, const char *const *params)
{
    db_status st;
    PQclear(db_exec(c, stmt, n, params, &st));
    return st;
}

db_status db_auth_apikey_use(db_conn *c, const unsigned char digest[DB_AUTH_DIGEST_BYTES],
                             db_auth_key *out, int *found)
{
    char hash[3 + 2 * DB_AUTH_DIGEST_BYTES];
    const char *p[1] = {db_bytea_hex(hash, digest, DB_AUTH_DIGEST_BYTES)};
    db_status st;
    PGresult *res = db_exec(c, "auth_apikey_get", 1, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        out->id = cell_i64(res, 0, 0);
        out->enterprise_id = cell_i64(res, 0, 1);
        snprintf(out->prefix, sizeof out->prefix, "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return DB_OK;
}

db_status db_auth_session_get(db_conn *c, const unsigned char digest[DB_AUTH_DIGEST_BYTES],
                              long idle_timeout_s, long password_max_age_days, db_auth_session *out,
                              int *found)
{
    char hash[3 + 2 * DB_AUTH_DIGEST_BYTES], idle[24], age[24];
    const char *p[3] = {db_bytea_hex(hash, digest, DB_AUTH_DIGEST_BYTES),
                        db_i64(idle, idle_timeout_s), db_i64(age, password_max_age_days)};
    db_status st;
    PGresult *res = db_exec(c, "auth_session_get", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        out->session_id = cell_i64(res, 0, 0);
        out->account_id = cell_i64(res, 0, 1);
        snprintf(out->username, sizeof out->username, "%s", PQgetvalue(res, 0, 2));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(res, 0, 3));
        out->scope_id = cell_i64(res, 0, 4);
        out->stale = cell_bool(res, 0, 5);
        out->must_change_password = cell_bool(res, 0, 6);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_auth_session_touch(db_conn *c, int64_t session_id)
{
    char sid[24];
    const char *p[1] = {db_i64(sid, session_id)};
    return run(c, "auth_session_touch", 1, p);
}

db_status db_auth_stream_credentials(db_conn *c, const int64_t *session_ids, size_t n_sessions,
                                     const int64_t *key_ids, size_t n_keys, long idle_timeout_s,
                                     int64_t *live_sessions, size_t *n_live_sessions,
                                     int64_t *live_keys, size_t *n_live_keys)
{
    char *sessions = db_i64_array(session_ids, n_sessions), *keys = db_i64_array(key_ids, n_keys);
    char idle[24];
    db_status st = DB_HARD;
    if (!sessions || !keys)
        goto out;
    const char *p[3] = {sessions, keys, db_i64(idle, idle_timeout_s)};
    PGresult *res = db_exec(c, "auth_stream_credentials", 3, p, &st);
    if (!res)
        goto out;
    size_t ns = 0, nk = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t id = cell_i64(res, i, 1);
        if (cell_bool(res, i, 0)) {
            if (nk < n_keys)
                live_keys[nk++] = id;
        } else if (ns < n_sessions) {
            live_sessions[ns++] = id;
        }
    }
    PQclear(res);
    *n_live_sessions = ns;
    *n_live_keys = nk;
out:
    free(sessions);
    free(keys);
    return st;
}

db_status db_auth_account_by_name(db_conn *c, const char *username, long password_max_age_days,
                                  db_auth_account *out, int *found)
{
    char age[24];
    const char *p[2] = {username, db_i64(age, password_max_age_days)};
    db_status st;
    PGresult *res = db_exec(c, "auth_account_by_name", 2, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        out->id = cell_i64(res, 0, 0);
        snprintf(out->hash, sizeof out->hash, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(res, 0, 2));
        out->scope_id = cell_i64(res, 0, 3);
        out->disabled = cell_bool(res, 0, 4);
        out->locked = cell_bool(res, 0, 5);
        out->must_change = cell_bool(res, 0, 6);
        out->expired = cell_bool(res, 0, 7);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_auth_login_failed(db_conn *c, int64_t account_id, long window_s, long *failures)
{
    char aid[24], window[24];
    const char *p[2] = {db_i64(aid, account_id), db_i64(window, window_s)};
    db_status st;
    PGresult *res = db_exec(c, "auth_login_failed", 2, p, &st);
    if (!res)
        return st;
    *failures = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_auth_lock(db_conn *c, int64_t account_id, long duration_s)
{
    char aid[24], dur[24];
    const char *p[2] = {db_i64(aid, account_id), db_i64(dur, duration_s)};
    return run(c, "auth_lock", 2, p);
}

db_status db_auth_login_ok(db_conn *c, int64_t account_id, const char *verified_hash,
                           const char *new_hash, int *done)
{
    char aid[24];
    const char *p[3] = {db_i64(aid, account_id), new_hash, verified_hash};
    db_status st;
    PGresult *res = db_exec(c, "auth_login_ok", 3, p, &st);
    if (!res)
        return st;
    *done = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

db_status db_auth_session_new(db_conn *c, int64_t account_id,
                              const unsigned char digest[DB_AUTH_DIGEST_BYTES], long max_age_s,
                              const char *peer, const char *user_agent, int64_t *session_id,
                              char expires_at[64])
{
    char aid[24], hash[3 + 2 * DB_AUTH_DIGEST_BYTES], maxage[24];
    const char *p[5] = {db_i64(aid, account_id), db_bytea_hex(hash, digest, DB_AUTH_DIGEST_BYTES),
                        db_i64(maxage, max_age_s), peer, user_agent ? user_agent : ""};
    db_status st;
    PGresult *res = db_exec(c, "auth_session_new", 5, p, &st);
    if (!res)
        return st;
    *session_id = cell_i64(res, 0, 0);
    snprintf(expires_at, 64, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return DB_OK;
}

db_status db_auth_session_revoke(db_conn *c, int64_t session_id)
{
    char sid[24];
    const char *p[1] = {db_i64(sid, session_id)};
    return run(c, "auth_session_revoke", 1, p);
}

db_status db_auth_sessions_revoke_others(db_conn *c, int64_t account_id, int64_t keep_session_id)
{
    char aid[24], sid[24];
    const char *p[2] = {db_i64(aid, account_id), db_i64(sid, keep_session_id)};
    return run(c, "auth_sessions_revoke_account", 2, p);
}

db_status db_auth_password_set(db_conn *c, int64_t account_id, const char *hash)
{
    char aid[24];
    const char *p[2] = {db_i64(aid, account_id), hash};
    return run(c, "auth_password_set", 2, p);
}

db_status db_auth_password_history(db_conn *c, int64_t account_id, int limit,
                                   char (*out)[DB_AUTH_HASH_BYTES], int *n)
{
    *n = 0;
    if (limit <= 0)
        return DB_OK;
    char aid[24], lim[24];
    const char *p[2] = {db_i64(aid, account_id), db_i64(lim, limit)};
    db_status st;
    PGresult *res = db_exec(c, "auth_password_history", 2, p, &st);
    if (!res)
        return st;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && i < limit; i++)
        snprintf(out[(*n)++], DB_AUTH_HASH_BYTES, "%s", PQgetvalue(res, i, 0));
    PQclear(res);
    return DB_OK;
}

db_status db_auth_me(db_conn *c, int64_t account_id, json_t **out)
{
    char aid[24];
    const char *p[1] = {db_i64(aid, account_id)};
    return db_exec_json(c, "auth_me", 1, p, out);
}

db_status db_auth_audit_insert(db_conn *c, int64_t account_id, const char *username,
                               const char *peer, const char *action, const char *object,
                               const char *result, const char *detail)
{
    return db_audit_append(c, account_id, username, peer, action, object, result, detail, NULL);
}
