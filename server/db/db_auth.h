/* Who is calling, as PostgreSQL knows it: accounts looked up by name for a
 * login, sessions, enterprise REST API keys, password changes and the audit
 * trail.  Every function runs inside the caller's open transaction (under
 * the "system" scope the caller set): the API layer decides what to do with
 * the answers, this file only knows the statements.
 *
 * Tokens and keys never reach the database: only their SHA-256 digest
 * (DB_AUTH_DIGEST_BYTES raw bytes), sent as bytea.  Strings are borrowed;
 * out-parameters are written only on DB_OK. */
#ifndef DW_DB_AUTH_H
#define DW_DB_AUTH_H

#include "db.h"

#include <stdint.h>

#define DB_AUTH_DIGEST_BYTES 32
/* crypto_pwhash_STRBYTES: a stored password hash */
#define DB_AUTH_HASH_BYTES 128

/* Registers the statements below (the API's auth module calls it). */
void db_auth_register(void);

/* ---- resolving a request's credentials ----------------------------------- */

typedef struct db_auth_key {
    int64_t id;
    int64_t enterprise_id;
    char prefix[24];
} db_auth_key;

/* An API key that is not revoked, by its digest; marks it used.  *found is 0
 * when there is no such key (and *out is left alone). */
db_status db_auth_apikey_use(db_conn *c, const unsigned char digest[DB_AUTH_DIGEST_BYTES],
                             db_auth_key *out, int *found);

typedef struct db_auth_session {
    int64_t session_id;
    int64_t account_id;
    int64_t scope_id; /* the account's region, or its enterprise */
    char username[80];
    char role[32];
    int stale;                /* last seen over a minute ago: touch it */
    int must_change_password; /* set by someone else, or older than the maximum age */
} db_auth_session;

/* A live session by its token's digest: not revoked, not expired, seen
 * within idle_timeout_s, of an account that is neither disabled nor locked.
 * password_max_age_days <= 0: passwords never expire. */
db_status db_auth_session_get(db_conn *c, const unsigned char digest[DB_AUTH_DIGEST_BYTES],
                              long idle_timeout_s, long password_max_age_days, db_auth_session *out,
                              int *found);
db_status db_auth_session_touch(db_conn *c, int64_t session_id);

/* For the live-event streams: of the given sessions and API keys (ids, not
 * digests), which are still valid — a session as db_auth_session_get judges
 * it (password age aside), a key not revoked.  The live ids go to
 * live_sessions[0..*n_live_sessions) and live_keys[0..*n_live_keys) (each
 * as large as its input).  The live sessions are marked used: an open
 * stream is activity.  On a connection with the "system" scope. */
db_status db_auth_stream_credentials(db_conn *c, const int64_t *session_ids, size_t n_sessions,
                                     const int64_t *key_ids, size_t n_keys, long idle_timeout_s,
                                     int64_t *live_sessions, size_t *n_live_sessions,
                                     int64_t *live_keys, size_t *n_live_keys);

/* ---- login, logout, password change -------------------------------------- */

typedef struct db_auth_account {
    int64_t id;
    char hash[DB_AUTH_HASH_BYTES];
    char role[32];
    int64_t scope_id;
    int disabled, locked;
    int must_change; /* set by an administrator */
    int expired;     /* older than password_max_age_days */
} db_auth_account;

db_status db_auth_account_by_name(db_conn *c, const char *username, long password_max_age_days,
                                  db_auth_account *out, int *found);
/* Counts a failed login within window_s of the first one; *failures is the
 * count so far (0 when the account vanished meanwhile). */
db_status db_auth_login_failed(db_conn *c, int64_t account_id, long window_s, long *failures);
db_status db_auth_lock(db_conn *c, int64_t account_id, long duration_s);
/* Clears the failure count and stamps the login; new_hash (NULL: keep the
 * stored one) replaces an outdated hash.  Only while the account still has
 * verified_hash (the hash the password was checked against) and is neither
 * disabled nor locked: *done 0 when it no longer does (nothing written). */
db_status db_auth_login_ok(db_conn *c, int64_t account_id, const char *verified_hash,
                           const char *new_hash, int *done);
/* A session for the token with this digest, living max_age_s.  user_agent
 * may be NULL (stored as ""); expires_at is PostgreSQL's timestamptz text. */
db_status db_auth_session_new(db_conn *c, int64_t account_id,
                              const unsigned char digest[DB_AUTH_DIGEST_BYTES], long max_age_s,
                              const char *peer, const char *user_agent, int64_t *session_id,
                              char expires_at[64]);
db_status db_auth_session_revoke(db_conn *c, int64_t session_id);
/* Revokes every other live session of the account. */
db_status db_auth_sessions_revoke_others(db_conn *c, int64_t account_id, int64_t keep_session_id);
/* Stores a new hash and clears must_change_password; the replaced hash is
 * appended to password_history in the same statement. */
db_status db_auth_password_set(db_conn *c, int64_t account_id, const char *hash);
/* The account's last `limit` replaced password hashes, newest first, into
 * out[0..*n) (out holds at least limit entries). */
db_status db_auth_password_history(db_conn *c, int64_t account_id, int limit,
                                   char (*out)[DB_AUTH_HASH_BYTES], int *n);
/* The account as GET /auth/me answers it: *out is a new reference, NULL
 * when there is no such account. */
db_status db_auth_me(db_conn *c, int64_t account_id, json_t **out);

/* ---- audit trail --------------------------------------------------------- */

/* account_id 0 = none (API keys, unknown user names); peer may be NULL;
 * detail is cut to 1000 characters.  db_audit_append (db_audit.h): inside
 * the caller's open transaction it is part of it, else its own. */
db_status db_auth_audit_insert(db_conn *c, int64_t account_id, const char *username,
                               const char *peer, const char *action, const char *object,
                               const char *result, const char *detail);

#endif
