#include "db_accounts.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define ACCOUNT_SCOPE                                                                              \
    "(($1 = 'city') OR ($1 = 'district' AND (a.region_id = $2::bigint OR a.region_id IN (SELECT "  \
    "id FROM regions WHERE parent_id = $2::bigint) OR a.enterprise_id IN (SELECT id FROM "         \
    "enterprises WHERE district_id = $2::bigint))) OR ($1 = 'street' AND (a.region_id = "          \
    "$2::bigint OR a.enterprise_id IN (SELECT id FROM enterprises WHERE street_id = "              \
    "$2::bigint))) OR ($1 = 'enterprise' AND a.enterprise_id = $2::bigint))"

static const db_stmt statements[] = {
    {"acc_list",
     "SELECT coalesce(json_agg(json_build_object('id', a.id, 'username', a.username, "
     "'display_name', a.display_name, 'role', a.role, 'region', r.code, 'region_name', r.name, "
     "'enterprise_id', a.enterprise_id, 'enterprise_name', e.name, 'disabled', a.disabled, "
     "'locked', coalesce(a.locked_until > now(), false), 'totp_enabled', a.totp_enabled, "
     "'last_login_at', a.last_login_at, "
     "'created_at', a.created_at) ORDER BY a.username), '[]'::json)::text FROM accounts a LEFT "
     "JOIN regions r ON r.id = a.region_id LEFT JOIN enterprises e ON e.id = a.enterprise_id "
     "WHERE " ACCOUNT_SCOPE},
    {"acc_region_target",
     "SELECT r.id, r.level, r.parent_id FROM regions r WHERE r.code = $3 AND (($1 = 'city') OR "
     "($1 = 'district' AND (r.id = $2::bigint OR r.parent_id = $2::bigint)))"},
    {"acc_enterprise_target",
     "SELECT e.id FROM enterprises e WHERE (e.id::text = $3 OR e.code = $3) AND (($1 = 'city') OR "
     "($1 = 'district' AND e.district_id = $2::bigint) OR ($1 = 'enterprise' AND e.id = "
     "$2::bigint))"},
    {"acc_insert",
     "INSERT INTO accounts (username, display_name, role, region_id, enterprise_id, "
     "password_hash, must_change_password, created_by) VALUES ($1, $2, $3, $4::bigint, "
     "$5::bigint, $6, true, $7::bigint) RETURNING id"},
    /* administration of one account (api/resources/accounts.c): the row is
     * locked for the rest of the caller's transaction */
    {"acc_get_for_update",
     "SELECT a.id, a.username, a.role, coalesce(a.region_id, 0), coalesce(a.enterprise_id, 0) "
     "FROM accounts a WHERE a.id = $3::bigint AND " ACCOUNT_SCOPE " FOR UPDATE OF a"},
    {"acc_set_disabled",
     "UPDATE accounts a SET disabled = $4::boolean WHERE a.id = $3::bigint AND " ACCOUNT_SCOPE
     " RETURNING a.id"},
    {"acc_unlock",
     "UPDATE accounts a SET locked_until = NULL, failed_logins = 0, first_failed_at = NULL WHERE "
     "a.id = $3::bigint AND " ACCOUNT_SCOPE " RETURNING a.id"},
    /* the replaced hash goes to the history in the same statement, as in
     * auth_password_set; the lockout is cleared with it */
    {"acc_password_reset",
     "WITH h AS (INSERT INTO password_history (account_id, password_hash) SELECT o.id, "
     "o.password_hash FROM accounts o WHERE o.id = $3::bigint AND o.password_hash LIKE "
     "'$argon2id$%') UPDATE accounts a SET password_hash = $4, password_changed_at = now(), "
     "must_change_password = true, locked_until = NULL, failed_logins = 0, first_failed_at = NULL "
     "WHERE a.id = $3::bigint AND " ACCOUNT_SCOPE " RETURNING a.id"},
    {"acc_update",
     "UPDATE accounts a SET username = coalesce($4, a.username), display_name = coalesce($5, "
     "a.display_name), role = coalesce($6, a.role), region_id = CASE WHEN $7::boolean THEN "
     "$8::bigint ELSE a.region_id END, enterprise_id = CASE WHEN $7::boolean THEN $9::bigint ELSE "
     "a.enterprise_id END WHERE a.id = $3::bigint AND " ACCOUNT_SCOPE " RETURNING a.id"},
    {"acc_totp_reset",
     "UPDATE accounts a SET totp_secret = NULL, totp_enabled = false, totp_last_step = 0 WHERE "
     "a.id = $3::bigint AND " ACCOUNT_SCOPE " RETURNING a.id"},
    /* a login with an unknown user name costs what a wrong password's
     * failed-login update (auth_login_failed) costs: one accounts row is
     * rewritten with its own values — the row lock, the scope policy, the
     * trigger, the WAL record and the flush at commit — and nothing changes.
     * A statement matching no row was measurably cheaper (0.3-0.6 ms less). */
    {"acc_login_failed_unknown",
     "UPDATE accounts SET failed_logins = failed_logins, first_failed_at = first_failed_at WHERE "
     "id = (SELECT min(id) FROM accounts) RETURNING failed_logins"},
    {"acc_sessions_end",
     "UPDATE sessions SET revoked_at = now() WHERE account_id = $1::bigint AND revoked_at IS NULL "
     "RETURNING id"},
    {"key_list",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND (($1 = "
     "'city') OR ($1 = 'district' AND e.district_id = $2::bigint) OR ($1 = 'street' AND "
     "e.street_id = $2::bigint) OR ($1 = 'enterprise' AND e.id = $2::bigint))) THEN "
     "coalesce((SELECT json_agg(json_build_object('id', k.id, 'label', k.label, 'prefix', "
     "k.key_prefix, 'created_at', k.created_at, 'last_used_at', k.last_used_at, 'revoked_at', "
     "k.revoked_at) ORDER BY k.id) FROM api_keys k WHERE k.enterprise_id = $3::bigint), "
     "'[]'::json) END::text"},
    {"key_insert",
     "INSERT INTO api_keys (enterprise_id, label, key_prefix, key_hash, created_by) SELECT e.id, "
     "$4, $5, $6::bytea, $7::bigint FROM enterprises e WHERE e.id = $3::bigint AND (($1 = "
     "'city') OR ($1 = 'district' AND e.district_id = $2::bigint) OR ($1 = 'enterprise' AND e.id = "
     "$2::bigint)) "
     "RETURNING id"},
    {"key_revoke",
     "UPDATE api_keys k SET revoked_at = now() FROM enterprises e WHERE e.id = k.enterprise_id "
     "AND k.id = $3::bigint AND k.revoked_at IS NULL AND (($1 = 'city') OR ($1 = 'district' AND "
     "e.district_id = "
     "$2::bigint) OR ($1 = 'enterprise' AND e.id = $2::bigint)) RETURNING k.id"},
    {"audit_list",
     "SELECT json_build_object('items', coalesce(json_agg(json_build_object('id', l.id, 'at', "
     "l.at, 'username', l.username, 'source_ip', l.source_ip, 'action', l.action, 'object', "
     "l.object, 'result', l.result, 'detail', l.detail) ORDER BY l.id DESC), '[]'::json))::text "
     "FROM (SELECT * FROM audit_log l WHERE ($1 = 'city' OR l.account_id IN (SELECT a.id FROM "
     "accounts a WHERE " ACCOUNT_SCOPE ")) AND ($3::text IS NULL OR l.action = $3) ORDER BY l.id "
     "DESC LIMIT $4::int OFFSET $5::int) l"},
};

void db_accounts_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

static int64_t first_id(const PGresult *res)
{
    return PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
}

db_status db_accounts_list(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "acc_list", 2, p, out);
}

db_status db_accounts_region_target(db_conn *c, const db_scope *s, const char *code, int64_t *id,
                                    char level[32])
{
    const char *p[3] = {s->kind, s->id, code};
    db_status st;
    PGresult *res = db_exec(c, "acc_region_target", 3, p, &st);
    if (!res)
        return st;
    *id = first_id(res);
    snprintf(level, 32, "%s", *id ? PQgetvalue(res, 0, 1) : "");
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_enterprise_target(db_conn *c, const db_scope *s, const char *id_or_code,
                                        int64_t *id)
{
    const char *p[3] = {s->kind, s->id, id_or_code};
    db_status st;
    PGresult *res = db_exec(c, "acc_enterprise_target", 3, p, &st);
    if (!res)
        return st;
    *id = first_id(res);
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_insert(db_conn *c, const db_account_new *a, int64_t *id)
{
    char region[24], enterprise[24], creator[24];
    const char *p[7] = {a->username,
                        a->display_name ? a->display_name : "",
                        a->role,
                        a->region_id ? db_i64(region, a->region_id) : NULL,
                        a->enterprise_id ? db_i64(enterprise, a->enterprise_id) : NULL,
                        a->password_hash,
                        a->created_by ? db_i64(creator, a->created_by) : NULL};
    db_status st;
    PGresult *res = db_exec(c, "acc_insert", 7, p, &st);
    if (!res)
        return st;
    *id = first_id(res);
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_keys_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "key_list", 3, p, out);
}

db_status db_accounts_key_insert(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                 const char *label, const char *prefix,
                                 const unsigned char digest[32], int64_t created_by, int64_t *id)
{
    char hash[3 + 64];
    db_bytea_hex(hash, digest, 32);
    char eid[24], creator[24];
    const char *p[7] = {s->kind,
                        s->id,
                        db_i64(eid, enterprise_id),
                        label,
                        prefix,
                        hash,
                        created_by ? db_i64(creator, created_by) : NULL};
    db_status st;
    PGresult *res = db_exec(c, "key_insert", 7, p, &st);
    if (!res)
        return st;
    *id = first_id(res);
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_key_revoke(db_conn *c, const db_scope *s, int64_t key_id, int64_t *id)
{
    char kid[24];
    const char *p[3] = {s->kind, s->id, db_i64(kid, key_id)};
    db_status st;
    PGresult *res = db_exec(c, "key_revoke", 3, p, &st);
    if (!res)
        return st;
    *id = first_id(res);
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_audit_list(db_conn *c, const db_scope *s, const char *action, long limit,
                                 long offset, json_t **out)
{
    char lim[24], off[24];
    const char *p[5] = {s->kind, s->id, action, db_i64(lim, limit), db_i64(off, offset)};
    return db_read_json(c, s, "audit_list", 5, p, out);
}

db_status db_accounts_get_for_update(db_conn *c, const db_scope *s, int64_t id, db_account_ref *out,
                                     int *found)
{
    char aid[24];
    const char *p[3] = {s->kind, s->id, db_i64(aid, id)};
    db_status st;
    PGresult *res = db_exec(c, "acc_get_for_update", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(out->username, sizeof out->username, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(res, 0, 2));
        out->region_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

/* Runs an account statement whose first row's id says whether it matched. */
static db_status run_matched(db_conn *c, const char *stmt, int n, const char *const *p, int *done)
{
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    *done = first_id(res) != 0;
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_set_disabled(db_conn *c, const db_scope *s, int64_t id, int disabled,
                                   int *done)
{
    char aid[24];
    const char *p[4] = {s->kind, s->id, db_i64(aid, id), disabled ? "true" : "false"};
    return run_matched(c, "acc_set_disabled", 4, p, done);
}

db_status db_accounts_unlock(db_conn *c, const db_scope *s, int64_t id, int *done)
{
    char aid[24];
    const char *p[3] = {s->kind, s->id, db_i64(aid, id)};
    return run_matched(c, "acc_unlock", 3, p, done);
}

db_status db_accounts_password_reset(db_conn *c, const db_scope *s, int64_t id,
                                     const char *password_hash, int *done)
{
    char aid[24];
    const char *p[4] = {s->kind, s->id, db_i64(aid, id), password_hash};
    return run_matched(c, "acc_password_reset", 4, p, done);
}

db_status db_accounts_totp_reset(db_conn *c, const db_scope *s, int64_t id, int *done)
{
    char aid[24];
    const char *p[3] = {s->kind, s->id, db_i64(aid, id)};
    return run_matched(c, "acc_totp_reset", 3, p, done);
}

db_status db_accounts_update(db_conn *c, const db_scope *s, const db_account_change *ch, int *done)
{
    char aid[24], region[24], enterprise[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(aid, ch->id),
                        ch->username,
                        ch->display_name,
                        ch->role,
                        ch->change_scope ? "true" : "false",
                        ch->region_id ? db_i64(region, ch->region_id) : NULL,
                        ch->enterprise_id ? db_i64(enterprise, ch->enterprise_id) : NULL};
    return run_matched(c, "acc_update", 9, p, done);
}

db_status db_accounts_sessions_end(db_conn *c, int64_t account_id, long *ended)
{
    char aid[24];
    const char *p[1] = {db_i64(aid, account_id)};
    db_status st;
    PGresult *res = db_exec(c, "acc_sessions_end", 1, p, &st);
    if (!res)
        return st;
    *ended = PQntuples(res);
    PQclear(res);
    return DB_OK;
}

db_status db_accounts_login_failed_unknown(db_conn *c)
{
    db_status st;
    PQclear(db_exec(c, "acc_login_failed_unknown", 0, NULL, &st));
    return st;
}
