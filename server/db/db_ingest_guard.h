/* db_ingest_guard — failed decryptions of the encrypted ingest dialects,
 * counted per credential and source address (migration 0020).
 *
 * A padding oracle needs thousands of answers about crafted ciphertexts; the
 * ingest writer records every Hebei/MEM request whose data could not be
 * decrypted and decoded here, and once a pair (credential, source) reaches
 * the limit within the window it is locked out and the lockout is written
 * to audit_log, in the same statement.  Runs outside a transaction on the
 * writer's connection.  Also the count of items rejected for clock skew. */
#ifndef DW_DB_INGEST_GUARD_H
#define DW_DB_INGEST_GUARD_H

#include "db.h"

/* Registers the statement; the ingest writer calls it from its start. */
void db_ingest_guard_register(void);

typedef struct db_ingest_guard_state {
    int failures;    /* failures of the pair in the current window, this one included */
    long locked_s;   /* seconds the pair stays locked out from now; 0: not locked */
    int just_locked; /* this failure locked it (and wrote the audit row) */
} db_ingest_guard_state;

/* Counts one failure of credential ("hebei_des:<qybm>", "mem_sm4:<appid>")
 * from source (the peer address).  When the count within window_s reaches
 * max_failures and the pair is not locked already, locks it for lockout_s
 * and appends an audit_log row (action ingest_decrypt_lockout, result
 * locked).  *out is written on DB_OK. */
db_status db_ingest_guard_fail(db_conn *c, const char *credential, const char *source,
                               long max_failures, long window_s, long lockout_s,
                               db_ingest_guard_state *out);

/* Counts n items of one batch rejected for clock skew (future_timestamp) in
 * ingest_clock_skew (migration 0023): per enterprise, UTC day, dialect
 * (source) and gateway code (NULL: none named); max_ahead_s/last_ahead_s: how
 * far ahead of the server clock the batch's items were.  Inside the batch's
 * write transaction. */
db_status db_ingest_guard_skew(db_conn *c, int64_t enterprise_id, const char *source,
                               const char *gateway_code, long n, double max_ahead_s,
                               double last_ahead_s);

#endif
