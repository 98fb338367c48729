/* Account passwords: the policy new passwords must meet, and their storage
 * as argon2id strings (libsodium crypto_pwhash_str: interactive passes, the
 * memory of g_config.password_hash_memory_kib, libsodium's interactive 64 MiB
 * by default).
 *
 * Callers run sodium_init() first (every subcommand does at start-up).
 * Hashing takes that memory and tens of milliseconds: servers cap how many run
 * at once (the API's login path does); nothing here blocks otherwise.
 * Nothing here keeps or logs a password. */
#ifndef DW_SRV_PASSWORD_H
#define DW_SRV_PASSWORD_H

#include <sodium.h>
#include <stddef.h>

/* Longest password accepted, in bytes (argon2 does not care, but request
 * bodies and terminals should not carry megabytes of "password"). */
#define SRV_PASSWORD_MAX_BYTES 256

/* 0 when pw may become the password of `username` (NULL: no name check);
 * otherwise -1 with a one-line, user-facing reason in why.  Rules: at least
 * g_config.password_min_length characters (never fewer than 8), at least 3 of
 * the 4 classes lower case / upper case / digit / other, no control
 * characters, not containing the user name, not a well-known password or a
 * common word dressed up with digits and symbols. */
int srv_password_check_policy(const char *pw, const char *username, char *why, size_t whylen);

/* 1 when pw is one of the published demo passwords (deploy/README.md), compared
 * case-insensitively; 0 otherwise.  Not part of the policy above, because the
 * demo seed creates its accounts with them: users choosing a password of their
 * own (the API's password change) are refused one. */
int srv_password_is_demo(const char *pw);

/* Writes the argon2id string of pw to out; 0, or -1 (out of memory). */
int srv_password_hash(const char *pw, char out[crypto_pwhash_STRBYTES]);

/* 0 when pw matches hash; -1 when it does not or hash is malformed. */
int srv_password_verify(const char *hash, const char *pw);

/* 1 when hash was made with other parameters than srv_password_hash uses
 * today (re-hash after a successful login), 0 when current, -1 when hash is
 * not an argon2id string. */
int srv_password_needs_rehash(const char *hash);

/* Writes a random password of len characters (12..64) that meets the policy
 * for `username` to out (size > len).  0, or -1 for a bad len. */
int srv_password_generate(char *out, size_t len, const char *username);

#endif
