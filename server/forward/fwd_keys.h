/* fwd_keys — an upstream target's credentials, sealed at rest (issue 18).
 *
 * Hebei V1.1: the DES key and IV the province issued (8 characters each: the
 * document's keys are text).  MEM: the SM4 key and IV (32 hex digits each) and
 * the appsecret sent in the request header.  forward_targets.sealed_keys holds
 * them encrypted with XChaCha20-Poly1305 under the master key's
 * SRV_SECRET_FWD_SEAL subkey (server/core/srv_secret.h), the dialect as the
 * associated data; the database never sees them in plaintext.  Callers run
 * sodium_init() first. */
#ifndef DW_FWD_KEYS_H
#define DW_FWD_KEYS_H

#include <jansson.h>
#include <stddef.h>

#define FWD_APPSECRET_MAX 64
/* version, nonce, at most 16 + 16 + 64 bytes, tag */
#define FWD_SEALED_MAX (1 + 24 + 96 + 16)

typedef struct fwd_keys {
    int mem; /* 0: hebei (DES), 1: mem (SM4) */
    unsigned char des_key[8], des_iv[8];
    unsigned char sm4_key[16], sm4_iv[16];
    char appsecret[FWD_APPSECRET_MAX + 1];
} fwd_keys;

/* The credentials object of the API ({"des_key", "des_iv"?} or {"appsecret",
 * "sm4_key", "sm4_iv"}) into k; 0, or -1 with why (a sentence for a 400). */
int fwd_keys_from_json(const char *dialect, const json_t *creds, fwd_keys *k, char *why,
                       size_t whylen);
/* 0 and the sealed bytes as a bytea parameter ("\x...", out >= 3 + 2 *
 * FWD_SEALED_MAX bytes), or -1 (no master key). */
int fwd_keys_seal(const fwd_keys *k, char *bytea, size_t cap);
/* The hex of sealed_keys (as db_forward_targets answers it) into k; 0, or -1
 * when it does not open (another master key, changed bytes). */
int fwd_keys_unseal(const char *dialect, const char *hex, fwd_keys *k);
void fwd_keys_wipe(fwd_keys *k);

#endif
