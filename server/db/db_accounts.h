/* Accounts (账号分配), enterprise REST API keys and reading the audit trail,
 * as administrators manage them.  Every function filters by scope s
 * ($1/$2: an account is in scope when its region or enterprise is) besides
 * row-level security.  Strings are borrowed; NULL where allowed is SQL NULL. */
#ifndef DW_DB_ACCOUNTS_H
#define DW_DB_ACCOUNTS_H

#include "db.h"

#include <stdint.h>

void db_accounts_register(void);

/* A scoped read: the accounts in scope as a JSON array (by user name);
 * *out is a new reference. */
db_status db_accounts_list(db_conn *c, const db_scope *s, json_t **out);

/* Inside the caller's transaction, where a new account may go.  A region by
 * code that a city (any) or district (itself, its streets) scope reaches:
 * *id 0 when none, else its level ("city", "district", "street"...) in
 * level.  code NULL finds nothing. */
db_status db_accounts_region_target(db_conn *c, const db_scope *s, const char *code, int64_t *id,
                                    char level[32]);
/* An enterprise by id or code that a city, district or enterprise scope
 * reaches; *id 0 when none. */
db_status db_accounts_enterprise_target(db_conn *c, const db_scope *s, const char *id_or_code,
                                        int64_t *id);

typedef struct db_account_new {
    const char *username, *display_name, *role;
    int64_t region_id, enterprise_id; /* 0: none */
    const char *password_hash;        /* the account must change it at first login */
    int64_t created_by;               /* 0: none (an API key or the CLI) */
} db_account_new;
/* Inside the caller's transaction.  DB_BAD: the user name is taken or the
 * row breaks a rule. */
db_status db_accounts_insert(db_conn *c, const db_account_new *a, int64_t *id);

/* ---- administration of one account ----------------------------------------
 * Each runs inside the caller's transaction and touches only an account in
 * scope s; *done (or *found) is 0 when there was none. */

typedef struct db_account_ref {
    int64_t id;
    char username[80];
    char role[32];
    int64_t region_id, enterprise_id; /* 0: none */
} db_account_ref;
/* The account, locked until the transaction ends. */
db_status db_accounts_get_for_update(db_conn *c, const db_scope *s, int64_t id, db_account_ref *out,
                                     int *found);
db_status db_accounts_set_disabled(db_conn *c, const db_scope *s, int64_t id, int disabled,
                                   int *done);
/* Clears the lockout and the failure count. */
db_status db_accounts_unlock(db_conn *c, const db_scope *s, int64_t id, int *done);
/* A password an administrator set: must be changed at the next login; the
 * replaced hash goes to password_history, the lockout is cleared. */
db_status db_accounts_password_reset(db_conn *c, const db_scope *s, int64_t id,
                                     const char *password_hash, int *done);

/* Removes the account's TOTP second factor (it may enrol again). */
db_status db_accounts_totp_reset(db_conn *c, const db_scope *s, int64_t id, int *done);

typedef struct db_account_change {
    int64_t id;
    const char *username, *display_name, *role; /* NULL: unchanged */
    int change_scope;                           /* 1: region_id and enterprise_id are set */
    int64_t region_id, enterprise_id;           /* 0: none */
} db_account_change;
/* DB_BAD: the new user name is taken, or role and scope break a rule. */
db_status db_accounts_update(db_conn *c, const db_scope *s, const db_account_change *ch, int *done);
/* Revokes every live session of the account; *ended counts them. */
db_status db_accounts_sessions_end(db_conn *c, int64_t account_id, long *ended);

/* Inside the caller's transaction ("system" scope): the work a failed login
 * with a user name that has no account does in place of the failed-login
 * update of a wrong password — the same kind of row rewrite, changing
 * nothing — so both failures take equally long. */
db_status db_accounts_login_failed_unknown(db_conn *c);

/* A scoped read: the enterprise's API keys as a JSON array, *out NULL when
 * the enterprise is not in scope.  *out is a new reference. */
db_status db_accounts_keys_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);
/* Inside the caller's transaction: a key whose SHA-256 is digest (32 bytes)
 * for an enterprise a city, district or enterprise scope reaches; *id 0 when
 * it does not.  created_by 0: none. */
db_status db_accounts_key_insert(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                 const char *label, const char *prefix,
                                 const unsigned char digest[32], int64_t created_by, int64_t *id);
/* Inside the caller's transaction: revokes an active key in scope; *id 0
 * when there was none. */
db_status db_accounts_key_revoke(db_conn *c, const db_scope *s, int64_t key_id, int64_t *id);

/* A scoped read: {"items": [...]} of the audit records of accounts in scope
 * (all of them for the city), newest first; action NULL for every action. */
db_status db_accounts_audit_list(db_conn *c, const db_scope *s, const char *action, long limit,
                                 long offset, json_t **out);

#endif
