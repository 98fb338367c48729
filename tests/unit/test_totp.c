/* Unit tests for srv_totp: the RFC 6238 appendix B vectors (SHA-1), the
 * RFC 4226 appendix D HOTP values, the code check around a step, base32, and
 * sealing secrets under totp_key bound to an account. */
#include "srv_config.h"
#include "srv_totp.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

static const unsigned char rfc_key[] = "12345678901234567890";

static void test_rfc6238_vectors(void)
{
    static const struct {
        int64_t t;
        uint32_t totp;
    } v[] = {
        {59, 94287082},         {1111111109, 7081804},  {1111111111, 14050471},
        {1234567890, 89005924}, {2000000000, 69279037}, {20000000000LL, 65353130},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t got = srv_totp_at(rfc_key, 20, v[i].t, 8);
        if (got != v[i].totp) {
            fprintf(stderr, "RFC 6238 T=%lld: got %08u, want %08u\n", (long long)v[i].t, got,
                    v[i].totp);
            failures++;
        }
    }
}

static void test_rfc4226_vectors(void)
{
    static const uint32_t hotp[] = {755224, 287082, 359152, 969429, 338314,
                                    254676, 287922, 162583, 399871, 520489};
    for (uint64_t c = 0; c < 10; c++)
        CHECK(srv_totp_hotp(rfc_key, 20, c, 6) == hotp[c]);
}

static void test_check(void)
{
    int64_t now = 1111111111; /* step 37037037 */
    char code[8];
    snprintf(code, sizeof code, "%06u", srv_totp_at(rfc_key, 20, now, 6));
    CHECK(srv_totp_check(rfc_key, code, now) == now / 30);
    /* a step either side is accepted, two are not */
    CHECK(srv_totp_check(rfc_key, code, now + 30) == now / 30);
    CHECK(srv_totp_check(rfc_key, code, now - 30) == now / 30);
    CHECK(srv_totp_check(rfc_key, code, now + 90) == -1);
    CHECK(srv_totp_check(rfc_key, "12345", now) == -1);
    CHECK(srv_totp_check(rfc_key, "1234567", now) == -1);
    CHECK(srv_totp_check(rfc_key, "12a456", now) == -1);
    CHECK(srv_totp_check(rfc_key, NULL, now) == -1);
}

static void test_base32(void)
{
    char out[40];
    srv_totp_base32(rfc_key, 20, out, sizeof out);
    CHECK(strcmp(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == 0);
    srv_totp_base32((const unsigned char *)"foobar", 6, out, sizeof out);
    CHECK(strcmp(out, "MZXW6YTBOI") == 0); /* RFC 4648 without padding */
}

static void test_seal(void)
{
    CHECK(srv_totp_key_valid(""));
    CHECK(!srv_totp_key_valid("abc"));
    CHECK(!srv_totp_key_valid("zz00000000000000000000000000000000000000000000000000000000000000"));
    CHECK(srv_totp_available());
    unsigned char secret[SRV_TOTP_SECRET_BYTES], sealed[SRV_TOTP_SEALED_BYTES],
        back[SRV_TOTP_SECRET_BYTES];
    randombytes_buf(secret, sizeof secret);
    CHECK(srv_totp_seal(42, secret, sealed) == 0);
    CHECK(memmem(sealed, sizeof sealed, secret, sizeof secret) == NULL);
    CHECK(srv_totp_open(42, sealed, sizeof sealed, back) == 0 &&
          memcmp(back, secret, sizeof secret) == 0);
    CHECK(srv_totp_open(43, sealed, sizeof sealed, back) != 0); /* another account */
    sealed[30] ^= 1;
    CHECK(srv_totp_open(42, sealed, sizeof sealed, back) != 0); /* tampered */
    CHECK(srv_totp_open(42, sealed, sizeof sealed - 1, back) != 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    setenv("DUSTWATCH_TOTP_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
           1);
    char err[256];
    if (srv_config_load(NULL, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return 1;
    }
    test_rfc6238_vectors();
    test_rfc4226_vectors();
    test_check();
    test_base32();
    test_seal();
    srv_config_free();
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
