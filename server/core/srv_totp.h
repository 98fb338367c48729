/* Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP, HMAC-SHA1,
 * 30 s steps, 6 digits): the optional second factor of administrators.
 *
 * The shared secret is stored only sealed (XChaCha20-Poly1305, libsodium)
 * under totp_key, a key from the configuration file or the environment that
 * the database never sees, and bound to its account id so a sealed secret
 * copied to another row does not open. */
#ifndef DW_SRV_TOTP_H
#define DW_SRV_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define SRV_TOTP_SECRET_BYTES 20
/* nonce (24) + secret + tag (16) */
#define SRV_TOTP_SEALED_BYTES (24 + SRV_TOTP_SECRET_BYTES + 16)
#define SRV_TOTP_STEP_S       30
#define SRV_TOTP_DIGITS       6

/* RFC 4226: the HOTP value of key at counter, digits (6..8) long. */
uint32_t srv_totp_hotp(const unsigned char *key, size_t keylen, uint64_t counter, int digits);
/* RFC 6238: the TOTP value of key at Unix time t (30 s steps). */
uint32_t srv_totp_at(const unsigned char *key, size_t keylen, int64_t t, int digits);

/* Checks a code of SRV_TOTP_DIGITS digits against the steps around now (one
 * step either side, for clocks a little off).  Returns the step that
 * matched (> 0), or -1 (wrong, or not 6 digits). */
int64_t srv_totp_check(const unsigned char secret[SRV_TOTP_SECRET_BYTES], const char *code,
                       int64_t now);

/* RFC 4648 base32 without padding, as authenticator apps take it; out needs
 * 8 * ceil(n / 5) / 5 + 1 bytes (33 for a secret). */
void srv_totp_base32(const unsigned char *in, size_t n, char *out, size_t outlen);

/* 1 when totp_key is configured (64 hex digits), else 0. */
int srv_totp_available(void);
/* Seals a secret for an account: 0, or -1 without a key. */
int srv_totp_seal(int64_t account_id, const unsigned char secret[SRV_TOTP_SECRET_BYTES],
                  unsigned char out[SRV_TOTP_SEALED_BYTES]);
/* Opens it: 0, or -1 (no key, another key, another account, tampered). */
int srv_totp_open(int64_t account_id, const unsigned char *sealed, size_t n,
                  unsigned char secret[SRV_TOTP_SECRET_BYTES]);

/* "" or 64 hex digits: what srv_config_load accepts for totp_key. */
int srv_totp_key_valid(const char *hex);

#endif
