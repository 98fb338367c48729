/* Hebei V1.1 dialect, decryption included.  Byte 0: kind = b0 % 3, and
 * mode = (b0 / 3) % 4:
 *   0  the rest is the outer request body: ing_hebei_parse_outer, then
 *      ing_hebei_decode with the test key (hex, Base64, DES and padding
 *      errors on whatever the body holds);
 *   1  the rest is the decrypted inner JSON: encrypted with the test key by
 *      ing_hebei_encode, then parsed and decrypted back like a gateway's
 *      request, so the inner decoder runs behind the real decryption;
 *   2  the rest is raw ciphertext: put as HEX(Base64(bytes)) into an outer
 *      body and decrypted (the padding and wrong-key paths);
 *   3  the rest is the inner JSON given straight to ing_hebei_decode_inner
 *      (the MEM "hebei" inner decoder's entry), with an expected qybm. */
#include "fuzz_common.h"
#include "fuzz_ingest_check.h"
#include "ing_crypto.h"
#include "ing_hebei.h"

#include <string.h>

static const unsigned char key[8] = "k3yk3y01";

static void decode_body(ing_kind kind, const char *body, size_t len, const ing_limits *lim)
{
    ing_hebei_outer o = {0};
    ing_error err = {0};
    if (ing_hebei_parse_outer(body, len, lim, &o, &err) != 0) {
        FUZZ_CHECK(err.http_status >= 400 && err.code);
        ing_hebei_outer_free(&o);
        return;
    }
    FUZZ_CHECK(o.qybm && o.data_hex);
    ing_batch *b = NULL;
    int rc = ing_hebei_decode(kind, &o, key, ING_HEBEI_DEFAULT_IV, lim, FUZZ_NOW_US, &b, &err);
    if (rc == 0)
        FUZZ_CHECK(b->enterprise_code && strcmp(b->enterprise_code, o.qybm) == 0);
    fuzz_check_result(rc, b, &err);
    ing_hebei_outer_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ing_kind kind = (ing_kind)(data[0] % 3);
    int mode = (data[0] / 3) % 4;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    ing_limits lim;
    ing_limits_default(&lim);

    if (mode == 0) {
        decode_body(kind, rest, n, &lim);
    } else if (mode == 1) {
        char *inner = fuzz_cstr((const uint8_t *)rest, n); /* the encoder takes a C string */
        char *body = NULL;
        FUZZ_CHECK(inner);
        if (ing_hebei_encode(kind, inner, "QY0001", "GW01", key, ING_HEBEI_DEFAULT_IV, NULL,
                             &body) == 0) {
            decode_body(kind, body, strlen(body), &lim);
            free(body);
        }
        free(inner);
    } else if (mode == 2) {
        char *b64 = NULL, *hex = NULL;
        FUZZ_CHECK(ing_b64_encode((const unsigned char *)rest, n, &b64) == 0);
        FUZZ_CHECK(ing_hex_encode((const unsigned char *)b64, strlen(b64), 1, &hex) == 0);
        size_t cap = strlen(hex) + 64;
        char *body = malloc(cap);
        FUZZ_CHECK(body);
        int len = snprintf(body, cap, "{\"qybm\":\"QY0001\",\"data\":\"%s\"}", hex);
        decode_body(kind, body, (size_t)len, &lim);
        free(body);
        free(hex);
        free(b64);
    } else {
        ing_batch *b = NULL;
        ing_error err = {0};
        int rc = ing_hebei_decode_inner(kind, rest, n, "QY0001", "GW01", NULL, &lim, FUZZ_NOW_US,
                                        &b, &err);
        fuzz_check_result(rc, b, &err);
    }
    return 0;
}
