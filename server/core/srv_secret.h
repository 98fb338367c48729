/* The master key and the keys derived from it: secrets that must live outside
 * the database, so that a dump, a backup or a database account alone yields
 * neither a valid audit chain nor a gateway's key.
 *
 * One file, `master_key_file` (64 hex digits, one line), holds a 256-bit
 * master key.  Every use gets its own subkey, derived with libsodium's KDF
 * (crypto_kdf_derive_from_key, BLAKE2b, context "dustwtch", subkey id =
 * purpose), so a subkey that leaks says nothing of the master key or of the
 * other subkeys, and a new use is one more enum value, not one more file:
 *
 *   SRV_SECRET_AUDIT_HMAC  HMAC-SHA-256 key of the audit chain (srv_audit.h)
 *   SRV_SECRET_CRED_SEAL   XChaCha20-Poly1305 key of stored gateway keys
 *                          (DES, SM4; srv_cred.h)
 *   SRV_SECRET_TOTP_SEAL   XChaCha20-Poly1305 key of the accounts' TOTP seeds, unless
 *                          totp_key sets one (srv_totp.h)
 *   SRV_SECRET_FWD_SEAL    XChaCha20-Poly1305 key of the upstream forwarding targets'
 *                          DES/SM4 keys and appsecrets (server/forward/fwd_keys.h)
 *
 * Never renumber a purpose: the id is the derivation input, so a changed id
 * is a different key (old chains fail, sealed keys no longer open).
 *
 * The key is loaded once (srv_secret_load, or lazily by srv_secret_derive
 * from g_config.master_key_file) into locked memory and never written
 * anywhere.  Thread-safe after loading.  Callers run sodium_init() first. */
#ifndef DW_SRV_SECRET_H
#define DW_SRV_SECRET_H

#include <stddef.h>

#define SRV_SECRET_KEY_BYTES 32

typedef enum {
    SRV_SECRET_AUDIT_HMAC = 1,
    SRV_SECRET_CRED_SEAL = 2,
    SRV_SECRET_TOTP_SEAL = 3,
    /* numbered after issue 18, so parallel branches adding purposes do not collide */
    SRV_SECRET_FWD_SEAL = 18,
} srv_secret_purpose;

/* Reads the master key from path (64 hex digits, surrounding white space
 * allowed).  0, or -1 with a one-line message in err (nothing of the file's
 * contents in it).  Replaces a key loaded before. */
int srv_secret_load(const char *path, char *err, size_t errlen);

/* Loads g_config.master_key_file unless a key is loaded already.  0, or -1
 * with a message naming the setting when it is empty or unreadable. */
int srv_secret_require(char *err, size_t errlen);

/* 1 when a master key is loaded. */
int srv_secret_loaded(void);

/* The subkey of purpose in out (SRV_SECRET_KEY_BYTES); loads the configured
 * master key first when none is loaded.  0, or -1 (no master key: logged
 * once; out is zeroed). */
int srv_secret_derive(srv_secret_purpose purpose, unsigned char out[SRV_SECRET_KEY_BYTES]);

/* For unit tests: use key as the master key. */
void srv_secret_set(const unsigned char key[SRV_SECRET_KEY_BYTES]);

#endif
