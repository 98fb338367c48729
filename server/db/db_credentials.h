/* Ingest credentials as the API manages them: list, issue, look up, revoke
 * (the ingest writers' own look-ups are elsewhere).  Every function filters
 * by scope s ($1/$2) besides row-level security.  Strings are borrowed. */
#ifndef DW_DB_CREDENTIALS_H
#define DW_DB_CREDENTIALS_H

#include "db.h"
#include "srv_cred.h"

#include <stdint.h>

void db_credentials_register(void);

/* A scoped read (one round trip): {"items": [...]} for the enterprise, or
 * *out NULL when it is not in scope.  *out is a new reference. */
db_status db_credentials_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);

/* Inside the caller's transaction: stores cred (kind_name and label as
 * given) for the enterprise.  *id is 0 when the enterprise is not in scope.
 * A broken rule is DB_BAD with *diag saying which (diag is always filled). */
db_status db_credentials_insert(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                const char *kind_name, const char *label, const srv_cred *cred,
                                int64_t *id, db_diag *diag);

/* Inside the caller's transaction: one credential as the API shows it (no
 * secrets), *out NULL when it is not in scope.  *out is a new reference. */
db_status db_credentials_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);

/* Inside the caller's transaction: revokes an active credential in scope;
 * *revoked 0 when there was none to revoke. */
db_status db_credentials_revoke(db_conn *c, const db_scope *s, int64_t id, int *revoked);

/* Seals the gateway keys of rows stored before migration 0033 (plaintext
 * des_key / sm4_key / sm4_iv) with the master key and clears the plaintext,
 * in one transaction of its own, scope "system"; *sealed is how many (-1:
 * the schema has no sealed_keys column yet, nothing done).  Needs no
 * db_credentials_register().  Run by `dustwatch migrate` and at `serve`
 * start.  DB_HARD also without a master key (nothing changes then). */
db_status db_credentials_seal_plaintext(db_conn *c, int *sealed);

#endif
