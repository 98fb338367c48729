#include "srv_cred.h"

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

int srv_cred_generate(srv_cred_kind kind, const char *appid, srv_cred *c)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    if (appid && (kind != SRV_CRED_MEM_SM4 || !srv_cred_appid_valid(appid)))
        return -1;
    if (kind == SRV_CRED_API_KEY) {
        char body[sizeof c->appsecret];
        random_urlsafe(body, sizeof body);
        snprintf(c->api_key, sizeof c->api_key, "dwk_%s", body);
        sodium_memzero(body, sizeof body);
        snprintf(c->key_prefix, sizeof c->key_prefix, "%.*s", SRV_CRED_PREFIX_LEN, c->api_key);
        sha256_bytea(c->api_key, c->key_hash, sizeof c->key_hash);
    } else if (kind == SRV_CRED_HEBEI_DES) {
        /* letters and digits only: gateway vendors type this key into web
         * forms and INI files, where quotes and backslashes go wrong */
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 0; i < 8; i++)
            c->des_key[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
        c->des_key[8] = '\0';
        bytea_param((const unsigned char *)c->des_key, 8, c->des_bytea, sizeof c->des_bytea);
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
        unsigned char key[16], iv[16];
        randombytes_buf(key, sizeof key);
        randombytes_buf(iv, sizeof iv);
        sodium_bin2hex(c->sm4_key_hex, sizeof c->sm4_key_hex, key, sizeof key);
        sodium_bin2hex(c->sm4_iv_hex, sizeof c->sm4_iv_hex, iv, sizeof iv);
        bytea_param(key, sizeof key, c->sm4_key_bytea, sizeof c->sm4_key_bytea);
        bytea_param(iv, sizeof iv, c->sm4_iv_bytea, sizeof c->sm4_iv_bytea);
        sodium_memzero(key, sizeof key);
        sodium_memzero(iv, sizeof iv);
    }
    return 0;
}

void srv_cred_columns(const srv_cred *c, const char *out[7])
{
    int api = c->kind == SRV_CRED_API_KEY, des = c->kind == SRV_CRED_HEBEI_DES,
        mem = c->kind == SRV_CRED_MEM_SM4;
    out[0] = api ? c->key_prefix : NULL;
    out[1] = api ? c->key_hash : NULL;
    out[2] = des ? c->des_bytea : NULL;
    out[3] = mem ? c->appid : NULL;
    out[4] = mem ? c->appsecret_hash : NULL;
    out[5] = mem ? c->sm4_key_bytea : NULL;
    out[6] = mem ? c->sm4_iv_bytea : NULL;
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
