/* Supervision notices (migration 0085): what an enterprise did to its own
 * monitoring — a gateway deleted, an ingest credential revoked — written in
 * the transaction of the change, listed for its district and marked seen.
 * Statements take the scope's kind and id as $1 and $2 (db_scope_sql.h). */
#ifndef DW_DB_NOTICES_H
#define DW_DB_NOTICES_H

#include "db.h"

#include <stdint.h>

/* Registers the statements; idempotent, call before connecting. */
void db_notices_register(void);

/* Inside the caller's transaction: one notice of kind (gateway_deleted,
 * credential_revoked) about enterprise_id; *id the new row's id. */
db_status db_notices_create_tx(db_conn *c, int64_t enterprise_id, const char *kind,
                               const char *object, const char *detail, int64_t actor_account_id,
                               const char *actor, int64_t *id);

/* {items: [{id, enterprise {id, code, name, district_id, street_id}, kind, object, detail,
 * actor, created_at, seen_at, seen_by}], open} newest first, at most limit; open_only: not
 * seen yet.  open: how many in scope are not seen. */
db_status db_notices_list(db_conn *c, const db_scope *s, int open_only, int limit, json_t **out);

/* Marks a notice in scope seen by who (once); *found 0 when not in scope. */
db_status db_notices_seen_tx(db_conn *c, const db_scope *s, int64_t id, const char *who,
                             int *found);

#endif
