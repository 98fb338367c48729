#include "db_admin.h"

#include "db_audit.h"
#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    {"admin_region_by_code", "SELECT id, name FROM regions WHERE code = $1"},
    {"admin_enterprise_by_code", "SELECT id, name FROM enterprises WHERE code = $1"},
    {"admin_account_create",
     "INSERT INTO accounts (username, display_name, role, region_id, "
     "enterprise_id, password_hash, must_change_password) VALUES ($1, $2, $3, "
     "$4::bigint, $5::bigint, $6, $7::boolean) RETURNING id"},
    /* the replaced hash goes to the history in the same statement */
    {"admin_password_reset",
     "WITH old AS (SELECT id, password_hash FROM accounts WHERE username = $1), h AS (INSERT INTO "
     "password_history (account_id, password_hash) SELECT id, password_hash FROM old WHERE "
     "password_hash LIKE '$argon2id$%') UPDATE accounts SET password_hash = $2, "
     "password_changed_at = now(), must_change_password = $3::boolean, failed_logins = 0, "
     "first_failed_at = NULL, locked_until = NULL WHERE username = $1 RETURNING id"},
    {"admin_sessions_end", "UPDATE sessions SET revoked_at = now() WHERE account_id = $1::bigint "
                           "AND revoked_at IS NULL"},
    /* $4.. the stored columns of srv_cred_columns() */
    {"admin_credential_create",
     "INSERT INTO ingest_credentials (enterprise_id, kind, label, key_prefix, key_hash, appid, "
     "appsecret_hash, sealed_keys) VALUES ($1::bigint, $2, $3, $4, $5::bytea, $6, $7::bytea, "
     "$8::bytea) RETURNING id"},
    /* secrets and hashes are never selected, so they cannot be printed */
    {"admin_credentials_list",
     "SELECT id, kind, CASE kind WHEN 'api_key' THEN key_prefix || '...' WHEN 'mem_sm4' THEN "
     "appid ELSE '-' END, to_char(created_at, 'YYYY-MM-DD HH24:MI:SSOF'), "
     "coalesce(to_char(revoked_at, 'YYYY-MM-DD HH24:MI:SSOF'), '-'), label FROM "
     "ingest_credentials WHERE enterprise_id = $1::bigint ORDER BY id"},
    {"admin_credential_revoke", "UPDATE ingest_credentials c SET revoked_at = now() FROM "
                                "enterprises e WHERE c.id = $1::bigint AND c.revoked_at IS NULL "
                                "AND e.id = c.enterprise_id RETURNING c.kind, e.code, "
                                "coalesce(c.key_prefix, c.appid, '')"},
    {"admin_credential_revoked_at", "SELECT to_char(revoked_at, 'YYYY-MM-DD HH24:MI:SSOF') FROM "
                                    "ingest_credentials WHERE id = $1::bigint"},
    /* a region's accounts: its own, its streets', and its enterprises' */
    {"admin_accounts_list",
     "WITH RECURSIVE sub AS (SELECT id FROM regions WHERE id = $1::bigint UNION ALL SELECT "
     "r.id FROM regions r JOIN sub ON r.parent_id = sub.id) "
     "SELECT a.username, a.role, coalesce(r.code, e.code), CASE WHEN a.disabled THEN "
     "'disabled' WHEN a.locked_until > now() THEN 'locked' WHEN a.must_change_password THEN "
     "'must-change' ELSE 'active' END, coalesce(to_char(a.last_login_at, 'YYYY-MM-DD "
     "HH24:MI'), '-'), coalesce(r.name, e.name), a.display_name FROM accounts a LEFT JOIN "
     "regions r ON r.id = a.region_id LEFT JOIN enterprises e ON e.id = a.enterprise_id "
     "WHERE $1::bigint IS NULL OR a.region_id IN (SELECT id FROM sub) OR e.district_id IN "
     "(SELECT id FROM sub) OR e.street_id IN (SELECT id FROM sub) ORDER BY a.username"},
};

/* Registered apart and first: it must prepare on a database without tables. */
static const db_stmt probe_statements[] = {
    {"admin_schema_ready",
     "SELECT to_regclass('accounts') IS NOT NULL AND to_regclass('sessions') IS NOT NULL AND "
     "to_regclass('audit_log') IS NOT NULL AND to_regclass('ingest_credentials') IS NOT NULL "
     "AND to_regclass('regions') IS NOT NULL AND to_regclass('enterprises') IS NOT NULL"},
};

void db_admin_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    db_audit_register();
}

static void copy(char *dst, size_t len, const PGresult *r, int row, int col)
{
    snprintf(dst, len, "%s", PQgetvalue(r, row, col));
}

db_status db_admin_schema_ready(db_conn *c, int *ready, db_diag *diag)
{
    db_register_statements(probe_statements, sizeof probe_statements / sizeof probe_statements[0]);
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_schema_ready", 0, NULL, &st, diag);
    if (!r)
        return st;
    *ready = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return DB_OK;
}

static db_status by_code(db_conn *c, const char *stmt, const char *code, db_admin_ref *out,
                         db_diag *diag)
{
    const char *p[1] = {code};
    db_status st;
    PGresult *r = db_exec_diag(c, stmt, 1, p, &st, diag);
    if (!r)
        return st;
    memset(out, 0, sizeof *out);
    if (PQntuples(r) == 1) {
        out->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        copy(out->name, sizeof out->name, r, 0, 1);
    }
    PQclear(r);
    return DB_OK;
}

db_status db_admin_region_by_code(db_conn *c, const char *code, db_admin_ref *out, db_diag *diag)
{
    return by_code(c, "admin_region_by_code", code, out, diag);
}

db_status db_admin_enterprise_by_code(db_conn *c, const char *code, db_admin_ref *out,
                                      db_diag *diag)
{
    return by_code(c, "admin_enterprise_by_code", code, out, diag);
}

db_status db_admin_audit(db_conn *c, const char *action, const char *object, const char *result,
                         const char *detail, db_diag *diag)
{
    return db_audit_append(c, 0, "admin-cli", "", action, object, result, detail, diag);
}

/* The id a RETURNING id statement answered (DB_OK with 0 for no row). */
static db_status returned_id(PGresult *r, db_status st, int64_t *id)
{
    if (!r)
        return st;
    *id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_admin_account_create(db_conn *c, const db_admin_new_account *a, int64_t *id,
                                  db_diag *diag)
{
    char rid[24], eid[24];
    const char *p[7] = {a->username,
                        a->display_name,
                        a->role,
                        a->region_id ? db_i64(rid, a->region_id) : NULL,
                        a->enterprise_id ? db_i64(eid, a->enterprise_id) : NULL,
                        a->password_hash,
                        a->must_change_password ? "true" : "false"};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_account_create", 7, p, &st, diag);
    return returned_id(r, st, id);
}

db_status db_admin_password_reset(db_conn *c, const char *username, const char *password_hash,
                                  int must_change_password, int64_t *id, db_diag *diag)
{
    const char *p[3] = {username, password_hash, must_change_password ? "true" : "false"};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_password_reset", 3, p, &st, diag);
    return returned_id(r, st, id);
}

db_status db_admin_sessions_end(db_conn *c, int64_t account_id, long long *ended, db_diag *diag)
{
    char id[24];
    const char *p[1] = {db_i64(id, account_id)};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_sessions_end", 1, p, &st, diag);
    if (!r)
        return st;
    *ended = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return DB_OK;
}

db_status db_admin_credential_create(db_conn *c, int64_t enterprise_id, const char *label,
                                     const srv_cred *cred, int64_t *id, db_diag *diag)
{
    char eid[24];
    const char *p[3 + SRV_CRED_COLUMNS] = {db_i64(eid, enterprise_id),
                                           srv_cred_kind_name(cred->kind), label};
    srv_cred_columns(cred, p + 3);
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_credential_create", 3 + SRV_CRED_COLUMNS, p, &st, diag);
    return returned_id(r, st, id);
}

db_status db_admin_credentials_list(db_conn *c, int64_t enterprise_id,
                                    db_admin_credential_row **rows, size_t *n, db_diag *diag)
{
    char eid[24];
    const char *p[1] = {db_i64(eid, enterprise_id)};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_credentials_list", 1, p, &st, diag);
    if (!r)
        return st;
    size_t count = (size_t)PQntuples(r);
    db_admin_credential_row *out = count ? calloc(count, sizeof *out) : NULL;
    if (count && !out) {
        PQclear(r);
        return DB_HARD;
    }
    for (size_t i = 0; i < count; i++) {
        int row = (int)i;
        out[i].id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        copy(out[i].kind, sizeof out[i].kind, r, row, 1);
        copy(out[i].ident, sizeof out[i].ident, r, row, 2);
        copy(out[i].created, sizeof out[i].created, r, row, 3);
        copy(out[i].revoked, sizeof out[i].revoked, r, row, 4);
        copy(out[i].label, sizeof out[i].label, r, row, 5);
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return DB_OK;
}

db_status db_admin_credential_revoke(db_conn *c, int64_t id, db_admin_revoked *out, db_diag *diag)
{
    char cid[24];
    const char *p[1] = {db_i64(cid, id)};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_credential_revoke", 1, p, &st, diag);
    if (!r)
        return st;
    memset(out, 0, sizeof *out);
    if (PQntuples(r) == 1) {
        out->found = 1;
        copy(out->kind, sizeof out->kind, r, 0, 0);
        copy(out->enterprise, sizeof out->enterprise, r, 0, 1);
        copy(out->ident, sizeof out->ident, r, 0, 2);
    }
    PQclear(r);
    return DB_OK;
}

db_status db_admin_credential_revoked_at(db_conn *c, int64_t id, int *exists, char at[40],
                                         db_diag *diag)
{
    char cid[24];
    const char *p[1] = {db_i64(cid, id)};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_credential_revoked_at", 1, p, &st, diag);
    if (!r)
        return st;
    *exists = PQntuples(r) == 1;
    snprintf(at, 40, "%s", *exists ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return DB_OK;
}

db_status db_admin_accounts_list(db_conn *c, int64_t region_id, db_admin_account_row **rows,
                                 size_t *n, db_diag *diag)
{
    char rid[24];
    const char *p[1] = {region_id ? db_i64(rid, region_id) : NULL};
    db_status st;
    PGresult *r = db_exec_diag(c, "admin_accounts_list", 1, p, &st, diag);
    if (!r)
        return st;
    size_t count = (size_t)PQntuples(r);
    db_admin_account_row *out = count ? calloc(count, sizeof *out) : NULL;
    if (count && !out) {
        PQclear(r);
        return DB_HARD;
    }
    for (size_t i = 0; i < count; i++) {
        int row = (int)i;
        copy(out[i].username, sizeof out[i].username, r, row, 0);
        copy(out[i].role, sizeof out[i].role, r, row, 1);
        copy(out[i].scope, sizeof out[i].scope, r, row, 2);
        copy(out[i].state, sizeof out[i].state, r, row, 3);
        copy(out[i].last_login, sizeof out[i].last_login, r, row, 4);
        copy(out[i].scope_name, sizeof out[i].scope_name, r, row, 5);
        copy(out[i].display_name, sizeof out[i].display_name, r, row, 6);
    }
    PQclear(r);
    *rows = out;
    *n = count;
    return DB_OK;
}
