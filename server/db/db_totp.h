/* The TOTP second factor of an account as PostgreSQL stores it (migration
 * 0028): the sealed secret (server/core/srv_totp.h opens it; this file never
 * sees a secret in the clear), whether it is confirmed, and the last step
 * used.  Every function runs inside the caller's open transaction under the
 * "system" scope; out-parameters are written only on DB_OK. */
#ifndef DW_DB_TOTP_H
#define DW_DB_TOTP_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

#define DB_TOTP_SEALED_MAX 64

void db_totp_register(void);

typedef struct db_totp_state {
    int64_t account_id;
    int enabled;
    size_t sealed_len; /* 0: no secret */
    unsigned char sealed[DB_TOTP_SEALED_MAX];
    int64_t last_step;
} db_totp_state;

/* By user name (login) or id; *found 0 when there is no such account. */
db_status db_totp_by_name(db_conn *c, const char *username, db_totp_state *out, int *found);
db_status db_totp_by_id(db_conn *c, int64_t account_id, db_totp_state *out, int *found);
/* Stores a new, unconfirmed secret unless one is confirmed already (*done 0). */
db_status db_totp_set_pending(db_conn *c, int64_t account_id, const unsigned char *sealed, size_t n,
                              int *done);
/* Confirms the pending secret with the step of the code that proved it, if the pending
 * secret is still sealed (the one the code was checked against): *done 0 when it was
 * enrolled again, reset or confirmed meanwhile. */
db_status db_totp_enable(db_conn *c, int64_t account_id, const unsigned char *sealed, size_t n,
                         int64_t step, int *done);
/* Records a code's step for a login: *fresh 0 when it (or a later one) was
 * used already — a replay. */
db_status db_totp_use(db_conn *c, int64_t account_id, int64_t step, int *fresh);

#endif
