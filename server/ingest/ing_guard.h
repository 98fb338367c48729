/* ing_guard — the lockout of encrypted-dialect credentials against padding
 * oracles (ingest writers).
 *
 * A request of an encrypted dialect (Hebei DES-CBC, MEM SM4-CBC) whose data
 * cannot be decrypted and decoded is answered one fixed way whatever went
 * wrong (ing_dialect.c), and counted per credential and source address in
 * PostgreSQL (db_ingest_guard).  A pair that reached ingest_decrypt_fail_max
 * failures within ingest_decrypt_fail_window_s is locked out for
 * ingest_decrypt_lockout_s: every request of that credential from that
 * address is then refused (429 decrypt_locked) before its data is
 * decrypted.  PostgreSQL holds the counts and locks for all processes; this
 * process remembers the locks it learnt of, so a locked pair costs no
 * query (another process learns of a lock at its next failure of the pair).
 * Thread-safe; the lock times run on the monotonic clock. */
#ifndef DW_ING_GUARD_H
#define DW_ING_GUARD_H

#include "db.h"

/* Seconds the pair stays locked out (0: not locked, as far as this process
 * knows).  source may be NULL (no peer address: ""). */
long ing_guard_locked(const char *credential, const char *source);

/* Counts one failure of the pair; reason (a registry code, never decrypted
 * text) goes to the log.  Returns the seconds the pair is now locked out
 * (0: not locked), or -1 when PostgreSQL failed. */
long ing_guard_fail(db_conn *c, const char *credential, const char *source, const char *reason);

#endif
