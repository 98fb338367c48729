/* Unit tests for server/ing_mem: MEM national SM4 transport round trips,
 * known answer against `openssl enc -sm4-cbc`, inner decoders, errors. */
#include "ing_crypto.h"
#include "ing_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define T_20261129_UTC INT64_C(1795910400000000)
#define NOW            (T_20261129_UTC + INT64_C(12) * 3600 * 1000000)

static ing_limits lim;
static unsigned char KEY[16], IV[16];

static void unhex_into(const char *hex, unsigned char *dst)
{
    unsigned char *b;
    size_t n;
    CHECK(ing_hex_decode(hex, strlen(hex), &b, &n) == 0);
    memcpy(dst, b, n);
    free(b);
}

static ing_batch *round_trip(ing_kind kind, const char *inner, const char *decoder,
                             const unsigned char *key, ing_error *err)
{
    char *body = NULL;
    CHECK(ing_mem_encode(inner, "APP0001", KEY, IV, &body) == 0);
    if (body == NULL)
        return NULL;
    ing_mem_outer o;
    ing_batch *b = NULL;
    memset(err, 0, sizeof *err);
    if (ing_mem_parse_outer(body, strlen(body), &lim, &o, err) == 0) {
        CHECK(strcmp(o.appid, "APP0001") == 0);
        if (ing_mem_decode(kind, &o, key, IV, decoder, &lim, NOW, &b, err) != 0)
            CHECK(b == NULL);
        ing_mem_outer_free(&o);
    }
    free(body);
    return b;
}

static void test_known_answer(void)
{
    const char *inner =
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":35.2}]}";
    const char *hex = "56F629EA6CCB9A5308202D69079F693C29BD21F62B39602EE96BA8E3ED718A63"
                      "6CA9F544528AC25A44A891E07A8DAEE64336A1A7BA796B106670411A667A7480"
                      "23217E815BCB1A8C126894C5C9DDDAF0";
    char *body;
    CHECK(ing_mem_encode(inner, "APP0001", KEY, IV, &body) == 0);
    char expect[512];
    snprintf(expect, sizeof expect, "{\"appid\":\"APP0001\",\"data\":\"%s\"}", hex);
    CHECK(body != NULL && strcmp(body, expect) == 0);
    free(body);
    ing_error err;
    ing_batch *b = round_trip(ING_KIND_READINGS, inner, NULL, KEY, &err);
    CHECK(b != NULL && b->n_readings == 1);
    if (b != NULL) {
        CHECK(strcmp(b->readings[0].point, "P1") == 0 && b->readings[0].value == 35.2);
        CHECK(b->readings[0].ts_us == T_20261129_UTC + INT64_C(3600000000));
        CHECK(b->enterprise_code == NULL);
    }
    ing_batch_free(b);
}

static void test_inner_decoders(void)
{
    CHECK(ing_mem_inner_decoder(NULL) == ing_decode_native);
    CHECK(ing_mem_inner_decoder("native") == ing_decode_native);
    CHECK(ing_mem_inner_decoder("hebei") != NULL);
    CHECK(ing_mem_inner_decoder("nope") == NULL);
    ing_error err;
    ing_batch *b = round_trip(ING_KIND_EVENTS,
                              "{\"events\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\","
                              "\"level\":\"high\",\"value\":71,\"threshold\":70}]}",
                              "native", KEY, &err);
    CHECK(b != NULL && b->n_events == 1 && b->events[0].level == ING_EV_HIGH &&
          b->events[0].reject == ING_REJ_NONE);
    ing_batch_free(b);
    b = round_trip(ING_KIND_READINGS,
                   "{\"qybm\":\"012345678912\",\"data\":{\"rts\":[{\"tnm\":\"P\",\"ts\":\"2026-11-"
                   "29 08:00:00\",\"val\":\"1.5\"}]}}",
                   "hebei", KEY, &err);
    CHECK(b != NULL && b->n_readings == 1 && b->readings[0].ts_us == T_20261129_UTC &&
          b->readings[0].value == 1.5);
    CHECK(b != NULL && b->enterprise_code != NULL &&
          strcmp(b->enterprise_code, "012345678912") == 0);
    ing_batch_free(b);
    b = round_trip(ING_KIND_READINGS, "{}", "nope", KEY, &err);
    CHECK(b == NULL && err.http_status == 500 && strcmp(err.code, "unknown_inner_decoder") == 0);
    /* the inner format stays strict */
    b = round_trip(ING_KIND_READINGS,
                   "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\","
                   "\"value\":1,\"x\":1}]}",
                   "native", KEY, &err);
    CHECK(b == NULL && strcmp(err.code, "unknown_field") == 0);
    /* per-item rejects survive the transport */
    b = round_trip(
        ING_KIND_READINGS,
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":\"1\"}]}",
        "native", KEY, &err);
    CHECK(b != NULL && b->readings[0].reject == ING_REJ_NON_NUMERIC);
    ing_batch_free(b);
}

static void test_errors(void)
{
    unsigned char wrong[16];
    memcpy(wrong, KEY, 16);
    wrong[15] ^= 0x80;
    ing_error err;
    const char *inner =
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":35.2}]}";
    ing_batch *b = round_trip(ING_KIND_READINGS, inner, NULL, wrong, &err);
    CHECK(b == NULL && err.http_status == 400 &&
          (strcmp(err.code, "decrypt_failed") == 0 || strcmp(err.code, "bad_json") == 0));
    static const struct {
        const char *body, *code;
    } outer[] = {
        {"", "empty_body"},
        {"{\"data\":\"00\"}", "bad_envelope"},
        {"{\"appid\":\"A\"}", "bad_envelope"},
        {"{\"appid\":\"A\",\"data\":\"\"}", "bad_envelope"},
        {"{\"appid\":1,\"data\":\"00\"}", "bad_envelope"},
        {"{\"appid\":\"A\",\"appid\":\"B\",\"data\":\"00\"}", "bad_json"},
        {"[1]", "bad_envelope"},
    };
    for (size_t i = 0; i < sizeof outer / sizeof outer[0]; i++) {
        ing_mem_outer o;
        CHECK(ing_mem_parse_outer(outer[i].body, strlen(outer[i].body), &lim, &o, &err) == -1);
        CHECK(strcmp(err.code, outer[i].code) == 0 && o.appid == NULL);
    }
    static const char *const datas[] = {"0G", "ABC", "00112233",
                                        "00112233445566778899AABBCCDDEEFF"};
    static const char *const codes[] = {"bad_encoding", "bad_encoding", "decrypt_failed",
                                        "decrypt_failed"};
    for (size_t i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"appid\":\"A\",\"data\":\"%s\"}", datas[i]);
        ing_mem_outer o;
        CHECK(ing_mem_parse_outer(body, strlen(body), &lim, &o, &err) == 0);
        b = NULL;
        int rc = ing_mem_decode(ING_KIND_READINGS, &o, KEY, IV, "native", &lim, NOW, &b, &err);
        CHECK(rc == -1 && b == NULL);
        /* a random block may by chance carry valid padding: then bad_json */
        CHECK(strcmp(err.code, codes[i]) == 0 || (i == 3 && strcmp(err.code, "bad_json") == 0));
        ing_mem_outer_free(&o);
    }
    ing_kind k;
    CHECK(ing_mem_kind_for_path("/mem/v1/readings", &k) == 0 && k == ING_KIND_READINGS);
    CHECK(ing_mem_kind_for_path("/mem/v1/events?a", &k) == 0 && k == ING_KIND_EVENTS);
    CHECK(ing_mem_kind_for_path("/mem/v1/videos", &k) == 0 && k == ING_KIND_VIDEOS);
    CHECK(ing_mem_kind_for_path("/mem/v1/reading", &k) == -1);
}

int main(void)
{
    ing_limits_default(&lim);
    unhex_into("0123456789abcdeffedcba9876543210", KEY);
    unhex_into("000102030405060708090a0b0c0d0e0f", IV);
    test_known_answer();
    test_inner_decoders();
    test_errors();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_ing_mem: all passed\n");
    return 0;
}
