/* Unit tests for server/srv_cred: the shapes the ingest writers and the
 * gateways rely on (key prefix and length, what is hashed, the Hebei key's
 * alphabet, MEM appid rules), that stored columns carry no secret, that
 * two credentials never repeat and that wiping leaves nothing behind; the
 * DES/SM4 keys are stored only sealed with the master key, and open only
 * with the same master key and kind. */
#include "srv_cred.h"
#include "srv_secret.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "unit_check.h"

/* "\x" + hex(SHA-256(s)), as the database stores it */
static void expect_hash(const char *s, char out[67])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 65, h, sizeof h);
}

static int all_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

static void test_kinds(void)
{
    static const char *const names[] = {"api_key", "hebei_des", "mem_sm4"};
    for (size_t i = 0; i < 3; i++) {
        srv_cred_kind k;
        CHECK(srv_cred_kind_parse(names[i], &k) == 0);
        CHECK(strcmp(srv_cred_kind_name(k), names[i]) == 0);
    }
    srv_cred_kind k;
    CHECK(srv_cred_kind_parse("API_KEY", &k) != 0);
    CHECK(srv_cred_kind_parse("", &k) != 0);
    CHECK(srv_cred_kind_parse(NULL, &k) != 0);
}

static void test_appids(void)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"a", 1},      {"dw0123abcd", 1}, {"a1-gw.2026_X", 1}, {"", 0},
        {"bad id", 0}, {"é", 0},          {"x/y", 0},          {"x'y", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(srv_cred_appid_valid(cases[i].s) == cases[i].ok);
    char max[66];
    memset(max, 'a', 64);
    max[64] = '\0';
    CHECK(srv_cred_appid_valid(max));
    max[64] = 'a';
    max[65] = '\0';
    CHECK(!srv_cred_appid_valid(max));
}

static void test_api_key(void)
{
    srv_cred a, b;
    CHECK(srv_cred_generate(SRV_CRED_API_KEY, NULL, &a) == 0);
    CHECK(srv_cred_generate(SRV_CRED_API_KEY, NULL, &b) == 0);
    CHECK(strncmp(a.api_key, "dwk_", 4) == 0 && strlen(a.api_key) == 47);
    CHECK(strcmp(a.api_key, b.api_key) != 0);
    CHECK(strncmp(a.key_prefix, a.api_key, SRV_CRED_PREFIX_LEN) == 0 &&
          strlen(a.key_prefix) == SRV_CRED_PREFIX_LEN);
    char h[67];
    expect_hash(a.api_key, h);
    CHECK(strcmp(a.key_hash, h) == 0);
    /* a REST API key: same shape, its own prefix */
    srv_cred rk;
    srv_cred_generate_rest_key(&rk);
    CHECK(strncmp(rk.api_key, "dwa_", 4) == 0 && strlen(rk.api_key) == 47);
    CHECK(strncmp(rk.key_prefix, rk.api_key, SRV_CRED_PREFIX_LEN) == 0);
    expect_hash(rk.api_key, h);
    CHECK(strcmp(rk.key_hash, h) == 0);
    srv_cred_wipe(&rk);
    const char *cols[SRV_CRED_COLUMNS];
    srv_cred_columns(&a, cols);
    CHECK(cols[0] == a.key_prefix && cols[1] == a.key_hash);
    for (int i = 2; i < SRV_CRED_COLUMNS; i++)
        CHECK(cols[i] == NULL);
    /* an API key only for mem_sm4 takes an appid */
    CHECK(srv_cred_generate(SRV_CRED_API_KEY, "gw1", &b) != 0);
    srv_cred_wipe(&a);
    static const srv_cred zero;
    CHECK(memcmp(&a, &zero, sizeof a) == 0);
}

static void test_hebei(void)
{
    srv_cred c;
    CHECK(srv_cred_generate(SRV_CRED_HEBEI_DES, NULL, &c) == 0);
    CHECK(strlen(c.des_key) == 8);
    for (int i = 0; i < 8; i++)
        CHECK(isalnum((unsigned char)c.des_key[i]));
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, (const unsigned char *)c.des_key, 8);
    const char *cols[SRV_CRED_COLUMNS];
    srv_cred_columns(&c, cols);
    CHECK(cols[4] == c.sealed_bytea && !cols[0] && !cols[1] && !cols[2] && !cols[3]);
    /* sealed: version, nonce, 8 bytes, tag; the key's hex is not in it */
    CHECK(strncmp(c.sealed_bytea, "\\x01", 4) == 0 && strlen(c.sealed_bytea) == 2 + 2 * 49);
    CHECK(!strstr(c.sealed_bytea, hex));
    unsigned char box[SRV_CRED_SEALED_MAX], key[8];
    size_t len = 0;
    CHECK(sodium_hex2bin(box, sizeof box, c.sealed_bytea + 2, strlen(c.sealed_bytea + 2), NULL,
                         &len, NULL) == 0 &&
          len == 49);
    CHECK(srv_cred_unseal(SRV_CRED_HEBEI_DES, box, len, key, 8) == 0 &&
          memcmp(key, c.des_key, 8) == 0);
    /* another kind, a changed byte, another master key: nothing opens */
    CHECK(srv_cred_unseal(SRV_CRED_MEM_SM4, box, len, key, 8) != 0);
    box[30] ^= 1;
    CHECK(srv_cred_unseal(SRV_CRED_HEBEI_DES, box, len, key, 8) != 0);
    box[30] ^= 1;
    unsigned char other[SRV_SECRET_KEY_BYTES];
    memset(other, 0x5a, sizeof other);
    srv_secret_set(other);
    CHECK(srv_cred_unseal(SRV_CRED_HEBEI_DES, box, len, key, 8) != 0);
    srv_cred_wipe(&c);
}

static void test_mem(void)
{
    srv_cred c, d;
    CHECK(srv_cred_generate(SRV_CRED_MEM_SM4, NULL, &c) == 0);
    CHECK(srv_cred_generate(SRV_CRED_MEM_SM4, "plant-7", &d) == 0);
    CHECK(strncmp(c.appid, "dw", 2) == 0 && all_hex(c.appid + 2, 16));
    CHECK(strcmp(d.appid, "plant-7") == 0);
    CHECK(strlen(c.appsecret) == 43 && strcmp(c.appsecret, d.appsecret) != 0);
    char h[67];
    expect_hash(c.appsecret, h);
    CHECK(strcmp(c.appsecret_hash, h) == 0);
    CHECK(all_hex(c.sm4_key_hex, 32) && all_hex(c.sm4_iv_hex, 32));
    CHECK(strcmp(c.sm4_key_hex, d.sm4_key_hex) != 0);
    const char *cols[SRV_CRED_COLUMNS];
    srv_cred_columns(&c, cols);
    CHECK(!cols[0] && !cols[1] && cols[2] == c.appid && cols[3] == c.appsecret_hash &&
          cols[4] == c.sealed_bytea);
    /* neither the appsecret nor the SM4 key or IV is ever a column */
    for (int i = 0; i < SRV_CRED_COLUMNS; i++)
        CHECK(!cols[i] || (!strstr(cols[i], c.appsecret) && !strstr(cols[i], c.sm4_key_hex) &&
                           !strstr(cols[i], c.sm4_iv_hex)));
    unsigned char box[SRV_CRED_SEALED_MAX], keys[32];
    size_t len = 0;
    char hex[65];
    CHECK(sodium_hex2bin(box, sizeof box, c.sealed_bytea + 2, strlen(c.sealed_bytea + 2), NULL,
                         &len, NULL) == 0 &&
          len == 73);
    CHECK(srv_cred_unseal(SRV_CRED_MEM_SM4, box, len, keys, 32) == 0);
    sodium_bin2hex(hex, sizeof hex, keys, 16);
    CHECK(strcmp(hex, c.sm4_key_hex) == 0);
    sodium_bin2hex(hex, sizeof hex, keys + 16, 16);
    CHECK(strcmp(hex, c.sm4_iv_hex) == 0);
    CHECK(srv_cred_generate(SRV_CRED_MEM_SM4, "bad id", &d) != 0);
    srv_cred_wipe(&c);
    srv_cred_wipe(&d);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    unsigned char master[SRV_SECRET_KEY_BYTES];
    randombytes_buf(master, sizeof master);
    srv_secret_set(master);
    test_kinds();
    test_appids();
    test_api_key();
    test_mem();
    test_hebei(); /* last: it changes the master key */
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ing-cred: all checks passed\n");
    return 0;
}
