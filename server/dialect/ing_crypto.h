/*
 * ing_crypto — encodings and ciphers used by the ingest dialects.
 *
 * Hex, Base64, DES-CBC (Hebei V1.1) and SM4-CBC (MEM national) with PKCS#5
 * padding, all through OpenSSL libcrypto EVP.  Nothing here is hand-rolled.
 *
 * Ownership: every function that produces a buffer returns it malloc'd in
 * *out; the caller frees it with free().  Text outputs are NUL-terminated.
 * Binary outputs are also followed by one extra NUL byte (not counted in
 * *out_len) so decrypted JSON can be handed to string functions safely.
 *
 * Thread-safety: all functions are reentrant.  The first call to
 * ing_crypto_init() (done implicitly by every cipher function) loads the
 * OpenSSL "legacy" provider (needed for DES on OpenSSL 3) and the "default"
 * provider into the process-wide default library context, exactly once via
 * pthread_once.  Call ing_crypto_init() early from main() if you prefer a
 * start-up failure over a per-request one.
 */
#ifndef DW_ING_CRYPTO_H
#define DW_ING_CRYPTO_H

#include <stddef.h>

/* Load providers and fetch the ciphers once.  0 on success, -1 if DES-CBC
 * or SM4-CBC is unavailable (message on stderr once). */
int ing_crypto_init(void);

/* Hex: encode with upper- or lower-case digits; decode accepts both cases,
 * rejects odd length and non-hex characters.  0 / -1. */
int ing_hex_encode(const unsigned char *in, size_t n, int upper, char **out);
int ing_hex_decode(const char *hex, size_t n, unsigned char **out, size_t *out_len);

/* Base64 (RFC 4648 standard alphabet, with padding, no line breaks on encode).
 * Decode is strict about the alphabet and padding; CR, LF, space and tab
 * anywhere are skipped (some Java encoders wrap lines at 76). 0 / -1. */
int ing_b64_encode(const unsigned char *in, size_t n, char **out);
int ing_b64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len);

/* DES-CBC, 8-byte key and IV, PKCS#5 padding.  Decrypt returns -1 on a bad
 * padding / wrong key / length not a multiple of 8. */
int ing_des_cbc_encrypt(const unsigned char key[8], const unsigned char iv[8],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len);
int ing_des_cbc_decrypt(const unsigned char key[8], const unsigned char iv[8],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len);

/* SM4-CBC (GB/T 32907), 16-byte key and IV, PKCS#5 padding. */
int ing_sm4_cbc_encrypt(const unsigned char key[16], const unsigned char iv[16],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len);
int ing_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len);

/* Constant-time comparison of two secrets (CRYPTO_memcmp).  Returns 1 when
 * equal (same length and same bytes), 0 otherwise.  The length difference
 * itself is not hidden. NULL is never equal to anything. */
int ing_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

/* SHA-256 of n bytes (OpenSSL's, which uses the CPU's SHA extensions where it
 * has them: several times libsodium's portable code on an ingest body).  0, or
 * -1 when OpenSSL failed (out undefined). */
int ing_sha256(const void *in, size_t n, unsigned char out[32]);

#endif /* DW_ING_CRYPTO_H */
