/* The audit trail's chain: appending a row and reading rows back in chain
 * order.  Every writer of audit_log goes through db_audit_append (the API's
 * db_auth_audit_insert, the admin CLI's db_admin_audit, the demo seed), so
 * there is one canonical form and one locking rule (server/core/srv_audit.h,
 * migration 0032).
 *
 * Appending locks the one row of audit_chain_head (SELECT ... FOR UPDATE)
 * until the transaction ends: audited writes are serialised, so call it as
 * the last statement of the action's transaction.  Under REPEATABLE READ or
 * SERIALIZABLE a concurrent append is a serialization failure (DB_SOFT),
 * which db_run_tx retries; the chain never forks. */
#ifndef DW_DB_AUDIT_H
#define DW_DB_AUDIT_H

#include "db.h"
#include "srv_audit.h"

#include <stdint.h>

void db_audit_register(void);

/* Appends one row (account_id 0 = none; NULL strings are empty; detail is
 * cut to 1000 characters).  Inside the caller's open transaction it becomes
 * part of it (the action and its record commit or roll back together);
 * outside one it runs in a transaction of its own.  DB_HARD also when the
 * master key is missing (nothing is written then: an unkeyed row would break
 * the chain).  diag may be NULL. */
db_status db_audit_append(db_conn *c, int64_t account_id, const char *username,
                          const char *source_ip, const char *action, const char *object,
                          const char *result, const char *detail, db_diag *diag);

/* Calls fn for every row with from_us <= at < to_us (NULL: unbounded), in id
 * (chain) order, reading a page at a time.  The row's strings are valid
 * during the call.  fn returns 0 to go on, anything else to stop (then
 * *stopped is that value; may be NULL). */
typedef int (*db_audit_row_fn)(const srv_audit_row *row, void *arg);
db_status db_audit_scan(db_conn *c, const int64_t *from_us, const int64_t *to_us,
                        db_audit_row_fn fn, void *arg, int *stopped);

/* The chain's recorded end (audit_chain_head): *has 0 when the log is empty. */
db_status db_audit_head(db_conn *c, int64_t *last_id, unsigned char last_hash[32], int *has);

#endif
