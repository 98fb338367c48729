/* Accounts, ingest credentials and the audit trail as the operator's command
 * line writes them (`dustwatch admin`; the demo seeder issues its gateways'
 * credentials through db_admin_credential_create too).
 *
 * The connection is the owner role in row-level-security scope "system"
 * (db_connect_scoped): the operator acts for the whole deployment.  Callers
 * open and close their own transactions (db_command BEGIN/COMMIT/ROLLBACK),
 * because a refusal is audited after the rollback, outside the transaction.
 *
 * Results follow db.h: out-parameters are written only on DB_OK; "not found"
 * is DB_OK with an id of 0 (ids start at 1).  String parameters are borrowed;
 * row arrays are malloc'd and the caller free()s them.  A db_diag *diag
 * parameter (may be NULL; zeroed first) says on failure what PostgreSQL said,
 * so the operator reads the database's words after ours. */
#ifndef DW_DB_ADMIN_H
#define DW_DB_ADMIN_H

#include "db.h"
#include "srv_cred.h"

#include <stddef.h>
#include <stdint.h>

/* Registers this area's statements.  Call after db_admin_schema_ready() on
 * the connection: they are then prepared on first use, and a database that
 * was never migrated is reported as such instead of as a failed prepare. */
void db_admin_register(void);

/* *ready = 1 when the tables of accounts, credentials and the audit log
 * exist (the database was migrated), 0 when not. */
db_status db_admin_schema_ready(db_conn *c, int *ready, db_diag *diag);

/* A region or enterprise found by its code; id 0 when there is none. */
typedef struct db_admin_ref {
    int64_t id;
    char name[808]; /* 200 characters of UTF-8 */
} db_admin_ref;

db_status db_admin_region_by_code(db_conn *c, const char *code, db_admin_ref *out, db_diag *diag);
db_status db_admin_enterprise_by_code(db_conn *c, const char *code, db_admin_ref *out,
                                      db_diag *diag);

/* Appends to the hash-chained audit log as user "admin-cli".  Inside the
 * caller's transaction for changes (both commit or neither), on its own for
 * refusals. */
db_status db_admin_audit(db_conn *c, const char *action, const char *object, const char *result,
                         const char *detail, db_diag *diag);

typedef struct db_admin_new_account {
    const char *username;
    const char *display_name; /* "" for none */
    const char *role;
    int64_t region_id; /* the scope: exactly one of these two is non-zero */
    int64_t enterprise_id;
    const char *password_hash; /* argon2id string */
    int must_change_password;
} db_admin_new_account;

/* *id is the new account's.  On failure diag (zeroed first) says what the
 * database refused: 23505 a taken user name, other states its role, level
 * and scope rules, in its own words. */
db_status db_admin_account_create(db_conn *c, const db_admin_new_account *a, int64_t *id,
                                  db_diag *diag);

/* Sets the password hash (the replaced one goes to password_history in the
 * same statement), clears the failed-login count and the lockout;
 * *id 0 when there is no such account. */
db_status db_admin_password_reset(db_conn *c, const char *username, const char *password_hash,
                                  int must_change_password, int64_t *id, db_diag *diag);

/* Revokes the account's open sessions; *ended is how many. */
db_status db_admin_sessions_end(db_conn *c, int64_t account_id, long long *ended, db_diag *diag);

/* Stores what cred keeps (hashes, and the cipher keys the server decrypts
 * with) for the enterprise; label "" for none.  *id is the credential's.  On
 * failure diag (zeroed first): 23505 a second active Hebei key of the
 * enterprise, or an appid in use. */
db_status db_admin_credential_create(db_conn *c, int64_t enterprise_id, const char *label,
                                     const srv_cred *cred, int64_t *id, db_diag *diag);

/* One credential as listed: never a secret or a hash. */
typedef struct db_admin_credential_row {
    int64_t id;
    char kind[16];
    char ident[80];   /* API key prefix + "...", the appid, or "-" */
    char created[40]; /* "YYYY-MM-DD HH:MM:SS+08" */
    char revoked[40]; /* the same, or "-" */
    char label[404];
} db_admin_credential_row;

/* The enterprise's credentials by id; *rows malloc'd (NULL when *n is 0). */
db_status db_admin_credentials_list(db_conn *c, int64_t enterprise_id,
                                    db_admin_credential_row **rows, size_t *n, db_diag *diag);

/* What a revocation touched, for the reply and the audit detail. */
typedef struct db_admin_revoked {
    int found; /* 0: no live credential with that id (see ..._revoked_at) */
    char kind[16];
    char enterprise[24]; /* its code */
    char ident[80];      /* key prefix or appid, "" for a DES key */
} db_admin_revoked;

db_status db_admin_credential_revoke(db_conn *c, int64_t id, db_admin_revoked *out, db_diag *diag);

/* When the credential was revoked: *exists 0 when there is no such
 * credential, at "" while it is live. */
db_status db_admin_credential_revoked_at(db_conn *c, int64_t id, int *exists, char at[40],
                                         db_diag *diag);

typedef struct db_admin_account_row {
    char username[72];
    char role[24];
    char scope[24];      /* region or enterprise code */
    char state[16];      /* active | must-change | locked | disabled */
    char last_login[24]; /* "YYYY-MM-DD HH:MM" or "-" */
    char scope_name[808];
    char display_name[808];
} db_admin_account_row;

/* Accounts by user name: all (region_id 0), or a region's own, its streets'
 * and its enterprises'.  *rows malloc'd (NULL when *n is 0). */
db_status db_admin_accounts_list(db_conn *c, int64_t region_id, db_admin_account_row **rows,
                                 size_t *n, db_diag *diag);

#endif
