/* Unit tests for server/ing_crypto: known-answer tests and round trips. */
#include "ing_crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

static unsigned char *unhex(const char *hex, size_t *n)
{
    unsigned char *b;
    if (ing_hex_decode(hex, strlen(hex), &b, n) != 0)
        return NULL;
    return b;
}

static void test_hex(void)
{
    const unsigned char in[] = {0x00, 0x01, 0xab, 0xff};
    char *s;
    CHECK(ing_hex_encode(in, 4, 1, &s) == 0 && strcmp(s, "0001ABFF") == 0);
    free(s);
    CHECK(ing_hex_encode(in, 4, 0, &s) == 0 && strcmp(s, "0001abff") == 0);
    free(s);
    CHECK(ing_hex_encode(in, 0, 0, &s) == 0 && strcmp(s, "") == 0);
    free(s);
    unsigned char *b;
    size_t n;
    CHECK(ing_hex_decode("0001aBfF", 8, &b, &n) == 0 && n == 4 && memcmp(b, in, 4) == 0);
    free(b);
    CHECK(ing_hex_decode("abc", 3, &b, &n) == -1 && b == NULL);
    CHECK(ing_hex_decode("zz", 2, &b, &n) == -1);
    CHECK(ing_hex_decode("0 ", 2, &b, &n) == -1);
}

static void test_b64(void)
{
    static const struct {
        const char *plain, *b64;
    } v[] = {/* RFC 4648 §10 */
             {"", ""},
             {"f", "Zg=="},
             {"fo", "Zm8="},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg=="},
             {"fooba", "Zm9vYmE="},
             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *s;
        CHECK(ing_b64_encode((const unsigned char *)v[i].plain, strlen(v[i].plain), &s) == 0);
        CHECK(s != NULL && strcmp(s, v[i].b64) == 0);
        free(s);
        unsigned char *b;
        size_t n;
        CHECK(ing_b64_decode(v[i].b64, strlen(v[i].b64), &b, &n) == 0);
        CHECK(n == strlen(v[i].plain) && memcmp(b, v[i].plain, n) == 0);
        free(b);
    }
    unsigned char *b;
    size_t n;
    CHECK(ing_b64_decode("Zm9v\r\nYmFy", 10, &b, &n) == 0 && n == 6 && memcmp(b, "foobar", 6) == 0);
    free(b);
    CHECK(ing_b64_decode("Zm9", 3, &b, &n) == -1);      /* not a multiple of 4 */
    CHECK(ing_b64_decode("Zm9v!!==", 8, &b, &n) == -1); /* foreign chars */
    CHECK(ing_b64_decode("Zg==Zg==", 8, &b, &n) == -1); /* data after padding */
    CHECK(ing_b64_decode("Z===", 4, &b, &n) == -1);
    CHECK(ing_b64_decode("Zm-_", 4, &b, &n) == -1); /* url alphabet is not ours */
}

static void test_des_kat(void)
{
    /* FIPS 81 CBC example: "Now is the time for all " */
    size_t kn, ivn, en;
    unsigned char *key = unhex("0123456789abcdef", &kn);
    unsigned char *iv = unhex("1234567890abcdef", &ivn);
    unsigned char *exp = unhex("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6", &en);
    const char *pt = "Now is the time for all ";
    unsigned char *ct, *back;
    size_t ctn, backn;
    CHECK(ing_des_cbc_encrypt(key, iv, (const unsigned char *)pt, 24, &ct, &ctn) == 0);
    CHECK(ctn == 32 && memcmp(ct, exp, 24) == 0); /* + one padding block */
    CHECK(ing_des_cbc_decrypt(key, iv, ct, ctn, &back, &backn) == 0);
    CHECK(backn == 24 && memcmp(back, pt, 24) == 0 && back[24] == '\0');
    free(back);
    /* corrupted last block => padding error, never a crash */
    ct[ctn - 1] ^= 0x55;
    CHECK(ing_des_cbc_decrypt(key, iv, ct, ctn, &back, &backn) == -1 && back == NULL);
    CHECK(ing_des_cbc_decrypt(key, iv, ct, 7, &back, &backn) == -1);
    CHECK(ing_des_cbc_decrypt(key, iv, ct, 0, &back, &backn) == -1);
    free(ct);
    free(key);
    free(iv);
    free(exp);

    /* classic single block: K=133457799BBCDFF1, P=0123456789ABCDEF -> 85E813540F0AB405 (ECB = CBC,
     * IV 0) */
    key = unhex("133457799BBCDFF1", &kn);
    unsigned char *p = unhex("0123456789ABCDEF", &kn);
    exp = unhex("85E813540F0AB405", &en);
    const unsigned char zero[8] = {0};
    CHECK(ing_des_cbc_encrypt(key, zero, p, 8, &ct, &ctn) == 0 && ctn == 16);
    CHECK(memcmp(ct, exp, 8) == 0);
    free(ct);
    free(key);
    free(p);
    free(exp);
}

static void test_sm4_kat(void)
{
    /* GB/T 32907-2016 appendix A example 1 */
    size_t n;
    unsigned char *key = unhex("0123456789abcdeffedcba9876543210", &n);
    unsigned char *exp = unhex("681edf34d206965e86b3e94f536e4246", &n);
    const unsigned char zero[16] = {0};
    unsigned char *ct, *back;
    size_t ctn, backn;
    CHECK(ing_sm4_cbc_encrypt(key, zero, key, 16, &ct, &ctn) == 0);
    CHECK(ctn == 32 && memcmp(ct, exp, 16) == 0);
    CHECK(ing_sm4_cbc_decrypt(key, zero, ct, ctn, &back, &backn) == 0);
    CHECK(backn == 16 && memcmp(back, key, 16) == 0);
    free(back);
    /* wrong key: padding check fails (deterministic for this vector) or garbage */
    unsigned char k2[16];
    memcpy(k2, key, 16);
    k2[0] ^= 1;
    if (ing_sm4_cbc_decrypt(k2, zero, ct, ctn, &back, &backn) == 0) {
        CHECK(backn != 16 || memcmp(back, key, 16) != 0);
        free(back);
    }
    CHECK(ing_sm4_cbc_decrypt(key, zero, ct, 15, &back, &backn) == -1);
    free(ct);
    /* openssl enc -sm4-cbc cross-check with a non-zero IV */
    unsigned char *iv = unhex("000102030405060708090a0b0c0d0e0f", &n);
    const char *pt =
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":35.2}]}";
    unsigned char *x = unhex("56F629EA6CCB9A5308202D69079F693C29BD21F62B39602EE96BA8E3ED718A63"
                             "6CA9F544528AC25A44A891E07A8DAEE64336A1A7BA796B106670411A667A7480"
                             "23217E815BCB1A8C126894C5C9DDDAF0",
                             &n);
    CHECK(ing_sm4_cbc_encrypt(key, iv, (const unsigned char *)pt, strlen(pt), &ct, &ctn) == 0);
    CHECK(ctn == n && memcmp(ct, x, n) == 0);
    free(ct);
    free(x);
    free(iv);
    free(key);
    free(exp);
}

static void test_roundtrip_lengths(void)
{
    unsigned char key[16] = "0123456789abcdef", iv[16] = "fedcba9876543210";
    unsigned char buf[64];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 37 + 1);
    for (size_t len = 0; len <= sizeof buf; len++) {
        unsigned char *ct, *pt;
        size_t ctn, ptn;
        CHECK(ing_des_cbc_encrypt(key, iv, buf, len, &ct, &ctn) == 0 && ctn == (len / 8 + 1) * 8);
        CHECK(ing_des_cbc_decrypt(key, iv, ct, ctn, &pt, &ptn) == 0 && ptn == len &&
              memcmp(pt, buf, len) == 0);
        free(ct);
        free(pt);
        CHECK(ing_sm4_cbc_encrypt(key, iv, buf, len, &ct, &ctn) == 0 && ctn == (len / 16 + 1) * 16);
        CHECK(ing_sm4_cbc_decrypt(key, iv, ct, ctn, &pt, &ptn) == 0 && ptn == len &&
              memcmp(pt, buf, len) == 0);
        free(ct);
        free(pt);
        char *b64;
        unsigned char *raw;
        size_t rn;
        CHECK(ing_b64_encode(buf, len, &b64) == 0);
        CHECK(ing_b64_decode(b64, strlen(b64), &raw, &rn) == 0 && rn == len &&
              memcmp(raw, buf, len) == 0);
        free(b64);
        free(raw);
    }
}

static void test_secret_equal(void)
{
    CHECK(ing_secret_equal("abc", 3, "abc", 3) == 1);
    CHECK(ing_secret_equal("abc", 3, "abd", 3) == 0);
    CHECK(ing_secret_equal("abc", 3, "abcd", 4) == 0);
    CHECK(ing_secret_equal(NULL, 0, "", 0) == 0);
    CHECK(ing_secret_equal("", 0, "", 0) == 1);
}

/* FIPS 180-2 test vectors */
static void test_sha256(void)
{
    unsigned char out[32];
    char *hex = NULL;
    CHECK(ing_sha256("abc", 3, out) == 0);
    CHECK(ing_hex_encode(out, 32, 0, &hex) == 0 && hex &&
          strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    free(hex);
    hex = NULL;
    CHECK(ing_sha256("", 0, out) == 0);
    CHECK(ing_hex_encode(out, 32, 0, &hex) == 0 && hex &&
          strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    free(hex);
}

int main(void)
{
    CHECK(ing_crypto_init() == 0);
    CHECK(ing_crypto_init() == 0); /* idempotent */
    test_hex();
    test_b64();
    test_des_kat();
    test_sm4_kat();
    test_roundtrip_lengths();
    test_secret_equal();
    test_sha256();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_ing_crypto: all passed\n");
    return 0;
}
