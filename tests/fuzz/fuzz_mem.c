/* MEM national transport, SM4 decryption included.  Byte 0: kind = b0 % 3,
 * inner decoder = "native" or "hebei" by (b0 / 3) % 2, and
 * mode = (b0 / 6) % 3:
 *   0  the rest is the outer request body {"appid","data"}: parsed, then
 *      decrypted with the test key (hex and SM4 padding errors);
 *   1  the rest is the decrypted payload: ing_mem_encode encrypts it with the
 *      test key, and the request is parsed and decrypted back, so the inner
 *      decoder runs behind the real decryption;
 *   2  the rest is raw ciphertext, hex-encoded into an outer body. */
#include "fuzz_common.h"
#include "fuzz_ingest_check.h"
#include "ing_crypto.h"
#include "ing_mem.h"

#include <string.h>

static const unsigned char key[16] = "mem-fuzz-key-016";
static const unsigned char iv[16] = "mem-fuzz-iv--016";

static void decode_body(ing_kind kind, const char *inner, const char *body, size_t len,
                        const ing_limits *lim)
{
    ing_mem_outer o = {0};
    ing_error err = {0};
    if (ing_mem_parse_outer(body, len, lim, &o, &err) != 0) {
        FUZZ_CHECK(err.http_status >= 400 && err.code);
        ing_mem_outer_free(&o);
        return;
    }
    FUZZ_CHECK(o.appid && o.data_hex);
    ing_batch *b = NULL;
    int rc = ing_mem_decode(kind, &o, key, iv, inner, lim, FUZZ_NOW_US, &b, &err);
    fuzz_check_result(rc, b, &err);
    ing_mem_outer_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ing_kind kind = (ing_kind)(data[0] % 3);
    const char *inner = (data[0] / 3) % 2 ? "hebei" : "native";
    int mode = (data[0] / 6) % 3;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    ing_limits lim;
    ing_limits_default(&lim);

    if (mode == 0) {
        decode_body(kind, inner, rest, n, &lim);
    } else if (mode == 1) {
        char *plain = fuzz_cstr((const uint8_t *)rest, n);
        char *body = NULL;
        FUZZ_CHECK(plain);
        if (ing_mem_encode(plain, "APP0001", key, iv, &body) == 0) {
            decode_body(kind, inner, body, strlen(body), &lim);
            free(body);
        }
        free(plain);
    } else {
        char *hex = NULL;
        FUZZ_CHECK(ing_hex_encode((const unsigned char *)rest, n, 0, &hex) == 0);
        size_t cap = strlen(hex) + 64;
        char *body = malloc(cap);
        FUZZ_CHECK(body);
        int len = snprintf(body, cap, "{\"appid\":\"APP0001\",\"data\":\"%s\"}", hex);
        decode_body(kind, inner, body, (size_t)len, &lim);
        free(body);
        free(hex);
    }
    return 0;
}
