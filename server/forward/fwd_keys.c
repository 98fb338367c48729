#include "fwd_keys.h"

#include "srv_secret.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SEAL_VERSION 1
#define NONCE        crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG          crypto_aead_xchacha20poly1305_ietf_ABYTES

static const char *ad_of(int mem)
{
    return mem ? "dustwatch forward target mem" : "dustwatch forward target hebei";
}

static int text8(const json_t *v, unsigned char out[8])
{
    if (!json_is_string(v) || json_string_length(v) != 8)
        return -1;
    memcpy(out, json_string_value(v), 8);
    return 0;
}

static int hex16(const json_t *v, unsigned char out[16])
{
    size_t got = 0;
    if (!json_is_string(v) || json_string_length(v) != 32)
        return -1;
    const char *s = json_string_value(v);
    return sodium_hex2bin(out, 16, s, 32, NULL, &got, NULL) == 0 && got == 16 ? 0 : -1;
}

int fwd_keys_from_json(const char *dialect, const json_t *creds, fwd_keys *k, char *why,
                       size_t whylen)
{
    memset(k, 0, sizeof *k);
    if (!json_is_object(creds)) {
        snprintf(why, whylen, "credentials must be an object");
        return -1;
    }
    const char *key;
    json_t *v;
    k->mem = strcmp(dialect, "mem") == 0;
    json_object_foreach((json_t *)creds, key, v)
    {
        int known = k->mem ? strcmp(key, "appsecret") == 0 || strcmp(key, "sm4_key") == 0 ||
                                 strcmp(key, "sm4_iv") == 0
                           : strcmp(key, "des_key") == 0 || strcmp(key, "des_iv") == 0;
        if (!known) {
            snprintf(why, whylen, "credentials of a %s target have no field \"%.40s\"", dialect,
                     key);
            return -1;
        }
    }
    if (!k->mem) {
        if (text8(json_object_get(creds, "des_key"), k->des_key) != 0) {
            snprintf(why, whylen,
                     "credentials.des_key must be the 8 characters the upstream issued");
            return -1;
        }
        json_t *iv = json_object_get(creds, "des_iv");
        if (!iv) {
            memcpy(k->des_iv, "12345678", 8); /* the V1.1 document's */
        } else if (text8(iv, k->des_iv) != 0) {
            snprintf(why, whylen, "credentials.des_iv must be 8 characters (default 12345678)");
            return -1;
        }
        return 0;
    }
    json_t *sec = json_object_get(creds, "appsecret");
    if (!json_is_string(sec) || json_string_length(sec) < 1 ||
        json_string_length(sec) > FWD_APPSECRET_MAX ||
        strcspn(json_string_value(sec), "\r\n") != json_string_length(sec)) {
        snprintf(why, whylen, "credentials.appsecret must be 1 to %d characters on one line",
                 FWD_APPSECRET_MAX);
        return -1;
    }
    if (hex16(json_object_get(creds, "sm4_key"), k->sm4_key) != 0 ||
        hex16(json_object_get(creds, "sm4_iv"), k->sm4_iv) != 0) {
        snprintf(why, whylen, "credentials.sm4_key and sm4_iv must be 32 hex digits each");
        return -1;
    }
    snprintf(k->appsecret, sizeof k->appsecret, "%s", json_string_value(sec));
    return 0;
}

/* the plaintext layout: hebei key + iv; mem key + iv + appsecret */
static size_t plain_of(const fwd_keys *k, unsigned char *out)
{
    if (!k->mem) {
        memcpy(out, k->des_key, 8);
        memcpy(out + 8, k->des_iv, 8);
        return 16;
    }
    size_t n = strlen(k->appsecret);
    memcpy(out, k->sm4_key, 16);
    memcpy(out + 16, k->sm4_iv, 16);
    memcpy(out + 32, k->appsecret, n);
    return 32 + n;
}

int fwd_keys_seal(const fwd_keys *k, char *bytea, size_t cap)
{
    unsigned char key[SRV_SECRET_KEY_BYTES], plain[96], box[FWD_SEALED_MAX];
    if (cap < 3 + 2 * FWD_SEALED_MAX || srv_secret_derive(SRV_SECRET_FWD_SEAL, key) != 0)
        return -1;
    size_t n = plain_of(k, plain);
    const char *ad = ad_of(k->mem);
    box[0] = SEAL_VERSION;
    randombytes_buf(box + 1, NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + 1 + NONCE, &clen, plain, n,
                                               (const unsigned char *)ad, strlen(ad), NULL, box + 1,
                                               key);
    sodium_memzero(key, sizeof key);
    sodium_memzero(plain, sizeof plain);
    bytea[0] = '\\';
    bytea[1] = 'x';
    sodium_bin2hex(bytea + 2, cap - 2, box, 1 + NONCE + (size_t)clen);
    return 0;
}

int fwd_keys_unseal(const char *dialect, const char *hex, fwd_keys *k)
{
    unsigned char key[SRV_SECRET_KEY_BYTES], box[FWD_SEALED_MAX], plain[96];
    size_t len = 0;
    memset(k, 0, sizeof *k);
    k->mem = strcmp(dialect, "mem") == 0;
    if (sodium_hex2bin(box, sizeof box, hex, strlen(hex), NULL, &len, NULL) != 0 ||
        len < 1 + NONCE + TAG + 16 || box[0] != SEAL_VERSION ||
        srv_secret_derive(SRV_SECRET_FWD_SEAL, key) != 0)
        return -1;
    const char *ad = ad_of(k->mem);
    unsigned long long n = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &n, NULL, box + 1 + NONCE,
                                                        len - 1 - NONCE, (const unsigned char *)ad,
                                                        strlen(ad), box + 1, key);
    sodium_memzero(key, sizeof key);
    if (rc != 0 || (!k->mem && n != 16) || (k->mem && (n < 33 || n > 32 + FWD_APPSECRET_MAX))) {
        sodium_memzero(plain, sizeof plain);
        return -1;
    }
    if (!k->mem) {
        memcpy(k->des_key, plain, 8);
        memcpy(k->des_iv, plain + 8, 8);
    } else {
        memcpy(k->sm4_key, plain, 16);
        memcpy(k->sm4_iv, plain + 16, 16);
        memcpy(k->appsecret, plain + 32, (size_t)n - 32);
        k->appsecret[n - 32] = '\0';
    }
    sodium_memzero(plain, sizeof plain);
    return 0;
}

void fwd_keys_wipe(fwd_keys *k)
{
    sodium_memzero(k, sizeof *k);
}
