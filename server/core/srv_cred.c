#include "srv_cred.h"

#include "srv_secret.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define SECRET_BYTES 32

int srv_cred_kind_parse(const char *name, srv_cred_kind *out)
{
    static const srv_cred_kind kinds[] = {SRV_CRED_API_KEY, SRV_CRED_HEBEI_DES, SRV_CRED_MEM_SM4};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (name && strcmp(name, srv_cred_kind_name(kinds[i])) == 0) {
            *out = kinds[i];
            return 0;
        }
    return -1;
}

const char *srv_cred_kind_name(srv_cred_kind kind)
{
    switch (kind) {
    case SRV_CRED_API_KEY:
        return "api_key";
    case SRV_CRED_HEBEI_DES:
        return "hebei_des";
    case SRV_CRED_MEM_SM4:
        return "mem_sm4";
    }
    return "?";
}

int srv_cred_appid_valid(const char *s)
{
    size_t l = strlen(s);
    if (l < 1 || l > 64)
        return 0;
    for (size_t i = 0; i < l; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* "\x<hex>": a bytea parameter in text format */
static void bytea_param(const unsigned char *bin, size_t n, char *out, size_t outlen)
{
    if (outlen < 3 + 2 * n)
        return;
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, outlen - 2, bin, n);
}

#define SEAL_VERSION 1
#define SEAL_NONCE   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG     crypto_aead_xchacha20poly1305_ietf_ABYTES

/* the additional data: what the sealed bytes are */
static void seal_ad(srv_cred_kind kind, char *ad, size_t adlen)
{
    snprintf(ad, adlen, "dustwatch ingest credential v1 %s", srv_cred_kind_name(kind));
}

int srv_cred_seal(srv_cred_kind kind, const unsigned char *plain, size_t n, unsigned char *out,
                  size_t outcap, size_t *outlen)
{
    unsigned char key[SRV_SECRET_KEY_BYTES];
    if (n > 32 || outcap < 1 + SEAL_NONCE + n + SEAL_TAG ||
        srv_secret_derive(SRV_SECRET_CRED_SEAL, key) != 0)
        return -1;
    char ad[64];
    seal_ad(kind, ad, sizeof ad);
    out[0] = SEAL_VERSION;
    randombytes_buf(out + 1, SEAL_NONCE);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + SEAL_NONCE, &clen, plain, n,
                                               (const unsigned char *)ad, strlen(ad), NULL, out + 1,
                                               key);
    sodium_memzero(key, sizeof key);
    *outlen = 1 + SEAL_NONCE + (size_t)clen;
    return 0;
}

int srv_cred_unseal(srv_cred_kind kind, const unsigned char *sealed, size_t len, unsigned char *out,
                    size_t n)
{
    unsigned char key[SRV_SECRET_KEY_BYTES];
    if (len != 1 + SEAL_NONCE + n + SEAL_TAG || sealed[0] != SEAL_VERSION ||
        srv_secret_derive(SRV_SECRET_CRED_SEAL, key) != 0)
        return -1;
    char ad[64];
    seal_ad(kind, ad, sizeof ad);
    unsigned long long mlen = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, &mlen, NULL, sealed + 1 + SEAL_NONCE, len - 1 - SEAL_NONCE, (const unsigned char *)ad,
        strlen(ad), sealed + 1, key);
    sodium_memzero(key, sizeof key);
    if (rc != 0 || mlen != n) {
        sodium_memzero(out, n);
        return -1;
    }
    return 0;
}

/* Seals kind's keys into c->sealed_bytea; 0 or -1. */
static int seal_into(srv_cred *c, const unsigned char *plain, size_t n)
{
    unsigned char sealed[SRV_CRED_SEALED_MAX];
    size_t len = 0;
    if (srv_cred_seal(c->kind, plain, n, sealed, sizeof sealed, &len) != 0)
        return -1;
    bytea_param(sealed, len, c->sealed_bytea, sizeof c->sealed_bytea);
    return 0;
}

static void sha256_bytea(const char *s, char *out, size_t outlen)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
    bytea_param(h, sizeof h, out, outlen);
}

static void random_urlsafe(char *out, size_t outlen)
{
    unsigned char raw[SECRET_BYTES];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, outlen, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

static void make_key(srv_cred *c, const char *prefix)
{
    char body[sizeof c->appsecret];
    random_urlsafe(body, sizeof body);
    snprintf(c->api_key, sizeof c->api_key, "%s%s", prefix, body);
    sodium_memzero(body, sizeof body);
    snprintf(c->key_prefix, sizeof c->key_prefix, "%.*s", SRV_CRED_PREFIX_LEN, c->api_key);
    sha256_bytea(c->api_key, c->key_hash, sizeof c->key_hash);
}

void srv_cred_generate_rest_key(srv_cred *c)
{
    memset(c, 0, sizeof *c);
    c->kind = SRV_CRED_API_KEY;
    make_key(c, SRV_CRED_REST_KEY_PREFIX);
}

int srv_cred_generate(srv_cred_kind kind, const char *appid, srv_cred *c)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    if (appid && (kind != SRV_CRED_MEM_SM4 || !srv_cred_appid_valid(appid)))
        return -1;
    if (kind == SRV_CRED_API_KEY) {
        make_key(c, SRV_CRED_INGEST_KEY_PREFIX);
    } else if (kind == SRV_CRED_HEBEI_DES) {
        /* letters and digits only: gateway vendors type this key into web
         * forms and INI files, where quotes and backslashes go wrong */
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 0; i < 8; i++)
            c->des_key[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
        c->des_key[8] = '\0';
        if (seal_into(c, (const unsigned char *)c->des_key, 8) != 0) {
            srv_cred_wipe(c);
            return -2;
        }
    } else {
        if (appid) {
            snprintf(c->appid, sizeof c->appid, "%s", appid);
        } else {
            unsigned char raw[8];
            char hex[17];
            randombytes_buf(raw, sizeof raw);
            sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
            snprintf(c->appid, sizeof c->appid, "dw%s", hex);
        }
        random_urlsafe(c->appsecret, sizeof c->appsecret);
        sha256_bytea(c->appsecret, c->appsecret_hash, sizeof c->appsecret_hash);
        unsigned char keys[32]; /* the SM4 key, then the IV */
        randombytes_buf(keys, sizeof keys);
        sodium_bin2hex(c->sm4_key_hex, sizeof c->sm4_key_hex, keys, 16);
        sodium_bin2hex(c->sm4_iv_hex, sizeof c->sm4_iv_hex, keys + 16, 16);
        int rc = seal_into(c, keys, sizeof keys);
        sodium_memzero(keys, sizeof keys);
        if (rc != 0) {
            srv_cred_wipe(c);
            return -2;
        }
    }
    return 0;
}

void srv_cred_columns(const srv_cred *c, const char *out[SRV_CRED_COLUMNS])
{
    int api = c->kind == SRV_CRED_API_KEY, mem = c->kind == SRV_CRED_MEM_SM4;
    out[0] = api ? c->key_prefix : NULL;
    out[1] = api ? c->key_hash : NULL;
    out[2] = mem ? c->appid : NULL;
    out[3] = mem ? c->appsecret_hash : NULL;
    out[4] = api ? NULL : c->sealed_bytea;
}

void srv_cred_key_digest(const srv_cred *c, unsigned char out[32])
{
    memset(out, 0, 32);
    sodium_hex2bin(out, 32, c->key_hash + 2, 64, NULL, NULL, NULL);
}

void srv_cred_wipe(srv_cred *c)
{
    sodium_memzero(c, sizeof *c);
}
