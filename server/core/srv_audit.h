/* The audit trail's hash chain: the canonical form of a row, its keyed hash,
 * and the check of a whole chain.  Pure (no I/O); server/db/db_audit.c
 * writes rows with it, `dustwatch audit verify` (server/cli/cli_audit.c)
 * checks them.
 *
 * chain 1 (HMAC, migration 0032): hash = HMAC-SHA-256(audit subkey of the
 * master key, canonical form).  The canonical form depends on nothing but
 * the row: the time is its UTC instant as integer microseconds since the
 * Unix epoch, never a time-zone-formatted text, and every text field is
 * length-prefixed, so no field can run into the next:
 *
 *     "dustwatch-audit-v1\n"
 *     then for prev_hash (64 lower-case hex digits, or empty for none), at
 *     (decimal microseconds), account_id (decimal, empty for none),
 *     username, source_ip, action, object, result, detail, each:
 *     "<byte length in decimal>:<bytes>\n"
 *
 * The key is outside the database (srv_secret.h), so whoever can write the
 * table cannot make a changed, inserted or removed row fit the chain again.
 *
 * chain 0 (legacy, migrations 0003-0031): the database's trigger computed
 * SHA-256(hex(prev) '|' at::text '|' account_id '|' username '|' source_ip
 * '|' action '|' object '|' result '|' detail), unkeyed, with `at` as text in
 * the inserting session's time zone.  Those rows are checked by recomputing
 * the text for the UTC offset they were written under, found from the rows
 * themselves (srv_audit_verifier remembers it), so the check does not depend
 * on the verifying session's time zone either. */
#ifndef DW_SRV_AUDIT_H
#define DW_SRV_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define SRV_AUDIT_HASH_BYTES 32

typedef struct srv_audit_row {
    int64_t id;    /* 0 before insert */
    int chain;     /* 0 legacy, 1 HMAC */
    int64_t at_us; /* microseconds since 1970-01-01 UTC */
    int has_account;
    int64_t account_id;
    const char *username, *source_ip, *action, *object, *result, *detail;
    int has_prev;
    unsigned char prev_hash[SRV_AUDIT_HASH_BYTES];
    unsigned char hash[SRV_AUDIT_HASH_BYTES];
} srv_audit_row;

/* The chain-1 hash of row (its hash field is not read) under key.  0, or -1
 * out of memory. */
int srv_audit_mac(const unsigned char key[32], const srv_audit_row *row,
                  unsigned char out[SRV_AUDIT_HASH_BYTES]);

/* The legacy (chain 0) hash of row as written by a session whose UTC offset
 * was offset_s seconds east of Greenwich. */
int srv_audit_legacy_hash(const srv_audit_row *row, int offset_s,
                          unsigned char out[SRV_AUDIT_HASH_BYTES]);

/* Checks a chain row by row, in id order. */
typedef struct srv_audit_verifier {
    unsigned char key[32];
    int started, have_prev, keyed_seen;
    unsigned char prev[SRV_AUDIT_HASH_BYTES];
    int legacy_offset_s, legacy_offset_known, legacy_offsets_mixed;
    long long rows, legacy_rows, keyed_rows;
    int64_t first_id, last_id;
} srv_audit_verifier;

/* key: the audit subkey (srv_secret_derive(SRV_SECRET_AUDIT_HMAC)). */
void srv_audit_verifier_init(srv_audit_verifier *v, const unsigned char key[32]);
/* 0 when row continues the chain; -1 with why (one line) when it does not:
 * its prev_hash is not the hash of the row before it (a row was removed or
 * inserted, or this one's link was changed), or its hash is not what its
 * content gives (the row was changed).  The first row checked anchors the
 * chain: its prev_hash is taken as it is (rows may have been removed from
 * the start by retention). */
int srv_audit_verifier_next(srv_audit_verifier *v, const srv_audit_row *row, char *why,
                            size_t whylen);
void srv_audit_verifier_wipe(srv_audit_verifier *v);

#endif
