/* Unit tests for server/forward's pure parts: the credentials seal and open
 * only under the same master key and dialect and keep nothing in the clear;
 * an outbox row becomes requests of at most batch_max items (a video alarm
 * alone) whose bodies the ingest dialects' own decoders read back with the
 * same items; the answers are classified as the forwarder relies on
 * (acknowledged, refused into the dead letters, retried). */
#include "fwd_encode.h"
#include "fwd_keys.h"
#include "ing_hebei.h"
#include "ing_mem.h"
#include "srv_secret.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unit_check.h"

static const unsigned char MASTER[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void test_keys(void)
{
    srv_secret_set(MASTER);
    fwd_keys k, back;
    char why[200], bytea[3 + 2 * FWD_SEALED_MAX];
    json_t *hebei = json_pack("{s:s}", "des_key", "abcDEF12");
    CHECK(fwd_keys_from_json("hebei", hebei, &k, why, sizeof why) == 0);
    CHECK(memcmp(k.des_iv, "12345678", 8) == 0);
    CHECK(fwd_keys_seal(&k, bytea, sizeof bytea) == 0);
    CHECK(strncmp(bytea, "\\x", 2) == 0);
    CHECK(fwd_keys_unseal("hebei", bytea + 2, &back) == 0);
    CHECK(memcmp(back.des_key, "abcDEF12", 8) == 0 && memcmp(back.des_iv, "12345678", 8) == 0);
    /* another dialect (associated data) or another master key: does not open */
    CHECK(fwd_keys_unseal("mem", bytea + 2, &back) != 0);
    unsigned char other[32] = {9};
    srv_secret_set(other);
    CHECK(fwd_keys_unseal("hebei", bytea + 2, &back) != 0);
    srv_secret_set(MASTER);
    json_decref(hebei);

    const char *secret = "s3cret-appsecret-value";
    json_t *mem =
        json_pack("{s:s, s:s, s:s}", "appsecret", secret, "sm4_key",
                  "00112233445566778899aabbccddeeff", "sm4_iv", "ffeeddccbbaa99887766554433221100");
    CHECK(fwd_keys_from_json("mem", mem, &k, why, sizeof why) == 0);
    CHECK(fwd_keys_seal(&k, bytea, sizeof bytea) == 0);
    /* nothing of the secrets in the sealed value */
    char hex_secret[64];
    sodium_bin2hex(hex_secret, sizeof hex_secret, (const unsigned char *)secret, 8);
    CHECK(strstr(bytea, hex_secret) == NULL && strstr(bytea, "00112233445566778899") == NULL);
    CHECK(fwd_keys_unseal("mem", bytea + 2, &back) == 0);
    CHECK(strcmp(back.appsecret, secret) == 0 && back.sm4_key[1] == 0x11 && back.sm4_iv[0] == 0xff);
    json_decref(mem);

    /* refused shapes, each with a sentence */
    static const char *const bad[][2] = {
        {"hebei", "{\"des_key\": \"short\"}"},
        {"hebei", "{\"des_key\": \"abcDEF12\", \"sm4_key\": \"x\"}"},
        {"mem", "{\"appsecret\": \"x\", \"sm4_key\": \"zz112233445566778899aabbccddeeff\", "
                "\"sm4_iv\": \"00112233445566778899aabbccddeeff\"}"},
        {"mem", "{\"appsecret\": \"a\\nb\", \"sm4_key\": \"00112233445566778899aabbccddeeff\", "
                "\"sm4_iv\": \"00112233445566778899aabbccddeeff\"}"},
        {"mem", "[]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i][1], 0, NULL);
        why[0] = '\0';
        CHECK(fwd_keys_from_json(bad[i][0], j, &k, why, sizeof why) != 0 && why[0] != '\0');
        json_decref(j);
    }
    fwd_keys_wipe(&back);
}

/* one row as a page of its own */
static json_t *encode_row(int mem, int batch_max, json_t *row)
{
    json_t *page = json_pack("[O]", row);
    json_t *out = fwd_encode_page(mem, batch_max, page);
    json_decref(page);
    return out;
}

/* a Beijing-time timestamp a minute ago, as db_forward_next writes it */
static void bj_now(char out[20])
{
    time_t t = time(NULL) - 60 + 8 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

static void test_hebei_rows(void)
{
    fwd_keys k;
    memset(&k, 0, sizeof k);
    memcpy(k.des_key, "abcDEF12", 8);
    memcpy(k.des_iv, "12345678", 8);
    char ts[20];
    bj_now(ts);
    json_t *items = json_array();
    for (int i = 0; i < 5; i++)
        json_array_append_new(items, json_pack("{s:s, s:s, s:f, s:i}", "p", i % 2 ? "UP-B" : "UP-A",
                                               "ts", ts, "v", 1.5 + i, "q", 0));
    json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)7, "xid", "100",
                            "kind", "readings", "qybm", "QY1", "wgbm", "GW1", "items", items);
    json_t *reqs = encode_row(0, 2, row);
    CHECK(json_array_size(reqs) == 3);
    ing_limits lim;
    ing_limits_default(&lim);
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(reqs); i++) {
        json_t *p = json_array_get(reqs, i);
        CHECK(json_integer_value(json_object_get(p, "items")) == (i < 2 ? 2 : 1));
        char *body = NULL;
        CHECK(fwd_encode_body(&k, NULL, p, &body) == 0);
        ing_hebei_outer o = {0};
        ing_error err;
        ing_batch *b = NULL;
        CHECK(ing_hebei_parse_outer(body, strlen(body), &lim, &o, &err) == 0);
        CHECK(o.qybm && strcmp(o.qybm, "QY1") == 0 && o.wgbm && strcmp(o.wgbm, "GW1") == 0);
        CHECK(ing_hebei_decode(ING_KIND_READINGS, &o, k.des_key, k.des_iv, &lim,
                               (int64_t)time(NULL) * 1000000, &b, &err) == 0);
        if (b) {
            for (size_t j = 0; j < b->n_readings; j++)
                CHECK(b->readings[j].reject == ING_REJ_NONE &&
                      b->readings[j].value == 1.5 + (double)(total + j));
            total += b->n_readings;
            ing_batch_free(b);
        }
        ing_hebei_outer_free(&o);
        free(body);
    }
    CHECK(total == 5);
    json_decref(reqs);
    json_decref(row);

    /* an event: the level becomes the scd the ingest map reads back */
    row = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:f, s:f, s:s}]}", "kind", "events", "qybm",
                    "QY1", "items", "p", "UP-A", "ts", ts, "level", "high_high", "v", 90.0, "th",
                    80.0, "c", "");
    reqs = encode_row(0, 100, row);
    CHECK(json_array_size(reqs) == 1);
    char *body = NULL;
    CHECK(fwd_encode_body(&k, NULL, json_array_get(reqs, 0), &body) == 0);
    ing_hebei_outer o = {0};
    ing_error err;
    ing_batch *b = NULL;
    CHECK(ing_hebei_parse_outer(body, strlen(body), &lim, &o, &err) == 0);
    CHECK(ing_hebei_decode(ING_KIND_EVENTS, &o, k.des_key, k.des_iv, &lim,
                           (int64_t)time(NULL) * 1000000, &b, &err) == 0);
    CHECK(b && b->n_events == 1 && b->events[0].level == ING_EV_HIGH_HIGH &&
          b->events[0].reject == ING_REJ_NONE && b->events[0].value == 90.0);
    ing_batch_free(b);
    ing_hebei_outer_free(&o);
    free(body);
    json_decref(reqs);
    json_decref(row);

    /* video alarms: one a request, the snapshot outside the encryption */
    row = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}", "kind",
                    "videos", "qybm", "QY1", "items", "cam", "C1", "ts", ts, "type", "SJ02001", "c",
                    "fire", "img", "/9j/4AAQ", "cam", "C2", "ts", ts, "type", "x", "c", "");
    reqs = encode_row(0, 100, row);
    CHECK(json_array_size(reqs) == 2);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(reqs, 0), "img")), "/9j/4AAQ") ==
          0);
    CHECK(json_object_get(json_array_get(reqs, 1), "img") == NULL ||
          json_is_null(json_object_get(json_array_get(reqs, 1), "img")));
    json_decref(reqs);
    json_decref(row);

    /* a row not selected: no request */
    row = json_pack("{s:s, s:s, s:[]}", "kind", "readings", "qybm", "QY1", "items");
    reqs = encode_row(0, 10, row);
    CHECK(reqs && json_array_size(reqs) == 0);
    json_decref(reqs);
    json_decref(row);
}

static void test_mem_rows(void)
{
    fwd_keys k;
    memset(&k, 0, sizeof k);
    k.mem = 1;
    for (int i = 0; i < 16; i++)
        k.sm4_key[i] = (unsigned char)i, k.sm4_iv[i] = (unsigned char)(0xf0 + i);
    json_t *row =
        json_pack("{s:s, s:s, s:[{s:s, s:s, s:f, s:i}]}", "kind", "readings", "qybm", "QY1",
                  "items", "p", "P1", "ts", "2026-01-02T03:04:05.000000Z", "v", 2.0, "q", 1);
    json_t *reqs = encode_row(1, 10, row);
    CHECK(json_array_size(reqs) == 1);
    char *body = NULL;
    CHECK(fwd_encode_body(&k, NULL, json_array_get(reqs, 0), &body) != 0); /* no appid */
    CHECK(fwd_encode_body(&k, "app1", json_array_get(reqs, 0), &body) == 0);
    ing_limits lim;
    ing_limits_default(&lim);
    ing_mem_outer o = {0};
    ing_error err;
    ing_batch *b = NULL;
    CHECK(ing_mem_parse_outer(body, strlen(body), &lim, &o, &err) == 0 &&
          strcmp(o.appid, "app1") == 0);
    CHECK(ing_mem_decode(ING_KIND_READINGS, &o, k.sm4_key, k.sm4_iv, "native", &lim,
                         (int64_t)time(NULL) * 1000000, &b, &err) == 0);
    CHECK(b && b->n_readings == 1 && b->readings[0].quality == ING_Q_SUSPECT &&
          strcmp(b->readings[0].point, "P1") == 0);
    ing_batch_free(b);
    ing_mem_outer_free(&o);
    free(body);
    json_decref(reqs);
    json_decref(row);
}

/* several ingest batches in one request per enterprise and kind, in row order;
 * our rule alarms as Hebei events (a clear is scd 0) */
static void test_page_batching(void)
{
    json_t *page = json_array();
    for (int r = 0; r < 6; r++) {
        json_t *items = json_array();
        for (int i = 0; i < 2; i++) {
            char ts[24];
            snprintf(ts, sizeof ts, "2026-01-02 03:04:%02d", r * 2 + i);
            json_array_append_new(items, json_pack("{s:s, s:s, s:f, s:i}", "p", r % 2 ? "B1" : "A1",
                                                   "ts", ts, "v", 1.0, "q", 0));
        }
        json_array_append_new(page, json_pack("{s:I, s:s, s:I, s:s, s:s, s:o}", "id",
                                              (json_int_t)r + 1, "xid", "9", "enterprise_id",
                                              (json_int_t)(r % 2 ? 2 : 1), "kind", "readings",
                                              "qybm", r % 2 ? "QB" : "QA", "items", items));
    }
    json_array_append_new(
        page, json_pack("{s:I, s:s, s:I, s:s, s:s, s:[{s:s, s:s, s:s, s:f, s:f, s:s}]}", "id",
                        (json_int_t)7, "xid", "9", "enterprise_id", (json_int_t)1, "kind", "alarms",
                        "qybm", "QA", "items", "p", "A1", "ts", "2026-01-02 03:05:00", "level",
                        "cleared", "v", 20.0, "th", 60.0, "c", "消警"));
    /* batch 4: enterprise 1's 6 readings in 2 requests (4 + 2), enterprise 2's in 2, the alarm */
    json_t *reqs = fwd_encode_page(0, 4, page);
    CHECK(json_array_size(reqs) == 5);
    const int want_items[5] = {4, 2, 4, 2, 1};
    const char *want_q[5] = {"QA", "QA", "QB", "QB", "QA"};
    for (size_t i = 0; i < 5; i++) {
        json_t *p = json_array_get(reqs, i);
        CHECK(json_integer_value(json_object_get(p, "items")) == want_items[i]);
        CHECK(strcmp(json_string_value(json_object_get(p, "qybm")), want_q[i]) == 0);
    }
    json_t *in =
        json_loads(json_string_value(json_object_get(json_array_get(reqs, 0), "inner")), 0, NULL);
    json_t *rts = json_object_get(json_object_get(in, "data"), "rts");
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(rts, 0), "ts")),
                 "2026-01-02 03:04:00") == 0);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(rts, 3), "ts")),
                 "2026-01-02 03:04:05") == 0);
    json_decref(in);
    json_t *al = json_array_get(reqs, 4);
    CHECK(strcmp(json_string_value(json_object_get(al, "kind")), "alarms") == 0);
    CHECK(strcmp(fwd_path(0, "alarms"), "/api/eventsData") == 0);
    CHECK(strcmp(fwd_path(1, "alarms"), "/events") == 0);
    in = json_loads(json_string_value(json_object_get(al, "inner")), 0, NULL);
    json_t *ev = json_array_get(json_object_get(json_object_get(in, "data"), "events"), 0);
    CHECK(json_integer_value(json_object_get(ev, "scd")) == 0);
    CHECK(strcmp(json_string_value(json_object_get(ev, "oname")), "A1") == 0);
    json_decref(in);
    json_decref(reqs);
    /* the same page, the same requests (the idempotency keys rely on it) */
    json_t *again = fwd_encode_page(0, 4, page);
    reqs = fwd_encode_page(0, 4, page);
    CHECK(json_equal(again, reqs));
    json_decref(again);
    json_decref(reqs);
    json_decref(page);
}

static void test_classify(void)
{
    int code;
    char why[200];
#define V(mem, st, body) fwd_classify(mem, st, body, strlen(body), &code, why, sizeof why)
    CHECK(V(0, 200, "{\"code\":200,\"msg\":\"操作成功\",\"data\":null}") == FWD_ACK && code == 200);
    CHECK(V(0, 200, "{\"code\":400,\"msg\":\"bad qybm\"}") == FWD_REFUSED && code == 400 &&
          strstr(why, "bad qybm"));
    CHECK(V(0, 422, "{\"code\":422,\"msg\":\"1条被拒绝\"}") == FWD_REFUSED);
    CHECK(V(0, 200, "{\"code\":503,\"msg\":\"busy\"}") == FWD_RETRY);
    CHECK(V(0, 200, "not json") == FWD_REFUSED);
    CHECK(fwd_classify(0, 0, NULL, 0, &code, why, sizeof why) == FWD_RETRY);
    CHECK(V(0, 503, "") == FWD_RETRY && V(0, 429, "") == FWD_RETRY && V(0, 408, "") == FWD_RETRY);
    CHECK(V(1, 200, "{\"accepted\":2,\"duplicate\":0,\"rejected\":0,\"errors\":[]}") == FWD_ACK);
    CHECK(
        V(1, 200, "{\"accepted\":1,\"rejected\":1,\"errors\":[{\"message\":\"unknown point\"}]}") ==
            FWD_REFUSED &&
        strstr(why, "unknown point"));
    CHECK(V(1, 401, "{\"code\":\"unauthorized\"}") == FWD_REFUSED);
#undef V
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_keys();
    test_hebei_rows();
    test_mem_rows();
    test_page_batching();
    test_classify();
    if (failures) {
        fprintf(stderr, "test_fwd: %d failures\n", failures);
        return 1;
    }
    printf("test_fwd: all passed\n");
    return 0;
}
