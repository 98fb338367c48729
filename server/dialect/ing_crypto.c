/*
 * ing_crypto — hex, Base64, DES-CBC and SM4-CBC through OpenSSL EVP.
 * See ing_crypto.h for the contract.
 */
#include "ing_crypto.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

/* Providers and fetched ciphers: written once under pthread_once, read-only
 * afterwards, so sharing them between threads is safe. */
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static int crypto_ok;
static EVP_CIPHER *cipher_des_cbc;
static EVP_CIPHER *cipher_sm4_cbc;

static void crypto_init_once(void)
{
    /* Loading "legacy" into the default context makes the implicit default
     * provider disappear unless we load it explicitly too. */
    OSSL_PROVIDER *legacy = OSSL_PROVIDER_load(NULL, "legacy");
    OSSL_PROVIDER *deflt = OSSL_PROVIDER_load(NULL, "default");

    if (deflt == NULL)
        fprintf(stderr, "ing_crypto: cannot load OpenSSL default provider\n");
    if (legacy == NULL)
        fprintf(stderr, "ing_crypto: cannot load OpenSSL legacy provider (DES)\n");
    cipher_des_cbc = EVP_CIPHER_fetch(NULL, "DES-CBC", NULL);
    cipher_sm4_cbc = EVP_CIPHER_fetch(NULL, "SM4-CBC", NULL);
    if (cipher_des_cbc == NULL)
        fprintf(stderr, "ing_crypto: DES-CBC unavailable\n");
    if (cipher_sm4_cbc == NULL)
        fprintf(stderr, "ing_crypto: SM4-CBC unavailable\n");
    ERR_clear_error();
    crypto_ok = cipher_des_cbc != NULL && cipher_sm4_cbc != NULL;
}

int ing_crypto_init(void)
{
    if (pthread_once(&crypto_once, crypto_init_once) != 0)
        return -1;
    return crypto_ok ? 0 : -1;
}

/* ---------------------------------------------------------------- hex */

int ing_hex_encode(const unsigned char *in, size_t n, int upper, char **out)
{
    static const char lo[] = "0123456789abcdef";
    static const char up[] = "0123456789ABCDEF";
    const char *digits = upper ? up : lo;

    *out = NULL;
    if (n > (SIZE_MAX - 1) / 2)
        return -1;
    char *s = malloc(2 * n + 1);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[in[i] >> 4];
        s[2 * i + 1] = digits[in[i] & 0x0f];
    }
    s[2 * n] = '\0';
    *out = s;
    return 0;
}

static int hex_nibble(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ing_hex_decode(const char *hex, size_t n, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (hex == NULL || n % 2 != 0)
        return -1;
    unsigned char *b = malloc(n / 2 + 1);
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_nibble((unsigned char)hex[2 * i]);
        int lo = hex_nibble((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return -1;
        }
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    b[n / 2] = '\0';
    *out = b;
    *out_len = n / 2;
    return 0;
}

/* ------------------------------------------------------------- base64 */

int ing_b64_encode(const unsigned char *in, size_t n, char **out)
{
    *out = NULL;
    /* EVP_EncodeBlock takes an int length. */
    if (n > (size_t)INT_MAX / 4 * 3 - 3)
        return -1;
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *s = malloc(cap);
    if (s == NULL)
        return -1;
    int w = EVP_EncodeBlock((unsigned char *)s, in, (int)n);
    if (w < 0) {
        free(s);
        return -1;
    }
    s[w] = '\0';
    *out = s;
    return 0;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int ing_b64_decode(const char *in, size_t n, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (in == NULL || n > (size_t)INT_MAX)
        return -1;
    /* Compact: drop whitespace, validate alphabet and padding placement. */
    char *clean = malloc(n + 1);
    if (clean == NULL)
        return -1;
    size_t m = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
        } else if (pad > 0 || b64_value(c) < 0) {
            free(clean); /* data after padding, or a foreign byte */
            return -1;
        }
        clean[m++] = (char)c;
    }
    if (m % 4 != 0 || pad > 2) {
        free(clean);
        return -1;
    }
    unsigned char *b = malloc(m / 4 * 3 + 1);
    if (b == NULL) {
        free(clean);
        return -1;
    }
    int w = m ? EVP_DecodeBlock(b, (unsigned char *)clean, (int)m) : 0;
    free(clean);
    if (w < 0 || (size_t)w < pad) {
        free(b);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes; remove them. */
    size_t len = (size_t)w - pad;
    b[len] = '\0';
    *out = b;
    *out_len = len;
    return 0;
}

/* ------------------------------------------------------------- ciphers */

static int cbc_run(const EVP_CIPHER *cipher, int enc, const unsigned char *key,
                   const unsigned char *iv, const unsigned char *in, size_t n, unsigned char **out,
                   size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (cipher == NULL || n > (size_t)INT_MAX - 64)
        return -1;
    int block = EVP_CIPHER_get_block_size(cipher);
    if (!enc && (n == 0 || n % (size_t)block != 0))
        return -1;
    unsigned char *b = malloc(n + (size_t)block + 1);
    if (b == NULL)
        return -1;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0, ok = ctx != NULL;
    ok = ok && EVP_CipherInit_ex2(ctx, cipher, key, iv, enc, NULL) == 1;
    ok = ok && EVP_CIPHER_CTX_set_padding(ctx, 1) == 1;
    ok = ok && EVP_CipherUpdate(ctx, b, &l1, in, (int)n) == 1;
    ok = ok && EVP_CipherFinal_ex(ctx, b + l1, &l2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error(); /* a wrong key is bad input, not our bug */
        OPENSSL_cleanse(b, n + (size_t)block + 1);
        free(b);
        return -1;
    }
    b[l1 + l2] = '\0';
    *out = b;
    *out_len = (size_t)(l1 + l2);
    return 0;
}

int ing_des_cbc_encrypt(const unsigned char key[8], const unsigned char iv[8],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len)
{
    if (ing_crypto_init() != 0) {
        *out = NULL;
        *out_len = 0;
        return -1;
    }
    return cbc_run(cipher_des_cbc, 1, key, iv, in, n, out, out_len);
}

int ing_des_cbc_decrypt(const unsigned char key[8], const unsigned char iv[8],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len)
{
    if (ing_crypto_init() != 0) {
        *out = NULL;
        *out_len = 0;
        return -1;
    }
    return cbc_run(cipher_des_cbc, 0, key, iv, in, n, out, out_len);
}

int ing_sm4_cbc_encrypt(const unsigned char key[16], const unsigned char iv[16],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len)
{
    if (ing_crypto_init() != 0) {
        *out = NULL;
        *out_len = 0;
        return -1;
    }
    return cbc_run(cipher_sm4_cbc, 1, key, iv, in, n, out, out_len);
}

int ing_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16],
                        const unsigned char *in, size_t n, unsigned char **out, size_t *out_len)
{
    if (ing_crypto_init() != 0) {
        *out = NULL;
        *out_len = 0;
        return -1;
    }
    return cbc_run(cipher_sm4_cbc, 0, key, iv, in, n, out, out_len);
}

int ing_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (a == NULL || b == NULL || alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

int ing_sha256(const void *in, size_t n, unsigned char out[32])
{
    unsigned int len = 0;
    return EVP_Digest(in, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : -1;
}
