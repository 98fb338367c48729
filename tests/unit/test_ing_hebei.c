/* Unit tests for server/ing_hebei: Hebei V1.1 round trips, known answer
 * against `openssl enc -des-cbc`, scd mapping, error paths, reply bodies. */
#include "ing_crypto.h"
#include "ing_hebei.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

#define T_20261129_UTC INT64_C(1795910400000000)
#define NOW            (T_20261129_UTC + INT64_C(12) * 3600 * 1000000)

static ing_limits lim;
static const unsigned char KEY[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};
static const char *QYBM = "012345678912";

/* encode -> parse_outer -> decode; returns the batch or NULL (err filled). */
static ing_batch *round_trip(ing_kind kind, const char *inner, const char *qybm, const char *img,
                             const unsigned char *key, ing_error *err)
{
    char *body = NULL;
    CHECK(ing_hebei_encode(kind, inner, qybm, "01234567891201", KEY, ING_HEBEI_DEFAULT_IV, img,
                           &body) == 0);
    if (body == NULL)
        return NULL;
    ing_hebei_outer o;
    ing_batch *b = NULL;
    memset(err, 0, sizeof *err);
    if (ing_hebei_parse_outer(body, strlen(body), &lim, &o, err) == 0) {
        CHECK(strcmp(o.qybm, qybm) == 0 && strcmp(o.wgbm, "01234567891201") == 0);
        if (ing_hebei_decode(kind, &o, key, ING_HEBEI_DEFAULT_IV, &lim, NOW, &b, err) != 0)
            CHECK(b == NULL);
        ing_hebei_outer_free(&o);
        ing_hebei_outer_free(&o); /* idempotent */
    }
    free(body);
    return b;
}

static void test_known_answer(void)
{
    /* `openssl enc -des-cbc -K 3132333435363738 -iv 3132333435363738 | base64 | xxd -p -u` */
    const char *inner =
        "{\"qybm\":\"012345678912\",\"data\":{\"rts\":[{\"tnm\":\"0123456789120101001\","
        "\"ts\":\"2026-06-21 08:10:34\",\"val\":\"27.20\"}]}}";
    const char *expect_hex = "5A665663776E31496B4666334E556B4E6854764B5A5444484A7A4A2B59455A324D776"
                             "139574A2B6858524F486E71357A"
                             "6266716B6E4B75334F794F4A6770654A55566272546E56383162437959797270625A7"
                             "42F63384F71727871557261687738"
                             "732B2F45643572564D706E737930583467582B794F78337677577256454C524B42656"
                             "F55635135536E4163476C74777843"
                             "356575513D3D";
    char *body;
    CHECK(ing_hebei_encode(ING_KIND_READINGS, inner, QYBM, NULL, KEY, ING_HEBEI_DEFAULT_IV, NULL,
                           &body) == 0);
    char expect_body[2048];
    snprintf(expect_body, sizeof expect_body, "{\"qybm\":\"012345678912\",\"data\":\"%s\"}",
             expect_hex);
    CHECK(strcmp(body, expect_body) == 0);
    free(body);

    /* decode the document's sample, with lower-case hex too */
    char lower[1024];
    size_t n = strlen(expect_hex);
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(expect_hex[i] >= 'A' && expect_hex[i] <= 'F' ? expect_hex[i] + 32
                                                                       : expect_hex[i]);
    for (int pass = 0; pass < 2; pass++) {
        snprintf(expect_body, sizeof expect_body,
                 "{\"qybm\":\"012345678912\",\"data\":\"%s\",\"extra\":1}",
                 pass ? lower : expect_hex);
        ing_hebei_outer o;
        ing_error err;
        ing_batch *b = NULL;
        CHECK(ing_hebei_parse_outer(expect_body, strlen(expect_body), &lim, &o, &err) == 0);
        CHECK(o.wgbm == NULL && o.img_b64 == NULL);
        CHECK(ing_hebei_decode(ING_KIND_READINGS, &o, KEY, ING_HEBEI_DEFAULT_IV, &lim, NOW, &b,
                               &err) == 0);
        CHECK(b != NULL && b->n_readings == 1);
        if (b != NULL) {
            CHECK(strcmp(b->enterprise_code, QYBM) == 0 && b->gateway_code == NULL);
            CHECK(strcmp(b->readings[0].point, "0123456789120101001") == 0);
            CHECK(b->readings[0].value == 27.2 && b->readings[0].reject == ING_REJ_NONE);
            int64_t t;
            CHECK(ing_parse_rfc3339("2026-06-21T00:10:34Z", &t) == 0 && b->readings[0].ts_us == t);
        }
        ing_batch_free(b);
        ing_hebei_outer_free(&o);
    }
}

static void test_readings(void)
{
    ing_error err;
    ing_batch *b = round_trip(
        ING_KIND_READINGS,
        "{\"qybm\":\"012345678912\",\"data\":{\"rts\":["
        "{\"tnm\":\"0123456789120101001\",\"ts\":\"2026-11-29 08:00:00\",\"val\":\"23.5\"},"
        "{\"tnm\":\"0123456789120102001\",\"ts\":\"2026-11-29 08:00:00\",\"val\":50.54},"
        "{\"tnm\":\"0123456789120103001\",\"ts\":\"2026-11-29 08:00:00\",\"val\":\"abc\"},"
        "{\"tnm\":\"0123456789120104001\",\"ts\":\"2026-11-29T08:00:00Z\",\"val\":\"1\"},"
        "{\"tnm\":\"0123456789120105001\",\"ts\":\"2026-11-29 20:06:00\",\"val\":\"1\"},"
        "{\"ts\":\"2026-11-29 08:00:00\",\"val\":\"1\"},"
        "{\"tnm\":\"0123456789120106001\",\"ts\":\"2026-11-29 08:00:00\"},"
        "{\"tnm\":\"0123456789120101001\",\"ts\":\"2026-11-29 08:00:00\",\"val\":\"24\"}]}}",
        QYBM, NULL, KEY, &err);
    CHECK(b != NULL);
    if (b == NULL) {
        fprintf(stderr, "%s %s\n", err.code, err.detail);
        return;
    }
    CHECK(b->n_readings == 8 && strcmp(b->gateway_code, "01234567891201") == 0);
    ing_reading *r = b->readings;
    CHECK(r[0].reject == ING_REJ_NONE && r[0].ts_us == T_20261129_UTC && r[0].value == 23.5);
    CHECK(r[1].reject == ING_REJ_NONE && r[1].value == 50.54);
    CHECK(r[2].reject == ING_REJ_NON_NUMERIC);
    CHECK(r[3].reject == ING_REJ_BAD_TIMESTAMP);
    CHECK(r[4].reject == ING_REJ_FUTURE_TIMESTAMP); /* 12:06Z > now 12:00Z + 5 min */
    CHECK(r[5].reject == ING_REJ_MISSING_FIELD);
    CHECK(r[6].reject == ING_REJ_MISSING_FIELD);
    CHECK(r[7].reject == ING_REJ_DUPLICATE_IN_BATCH);
    ing_batch_free(b);
}

static void test_events(void)
{
    ing_error err;
    ing_batch *b = round_trip(
        ING_KIND_EVENTS,
        "{\"qybm\":\"012345678912\",\"data\":{\"events\":["
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"0123456789120106001\",\"avx\":\"126.8000\",\"scd\":4,\"threshold\":"
        "100,\"content\":\"粉尘浓度超上上限报警\"},"
        "{\"ts\":\"2026-06-21 "
        "08:20:35\",\"oname\":\"0123456789120106001\",\"avx\":\"60\",\"scd\":0,\"threshold\":100,"
        "\"content\":\"消警\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P1\",\"avx\":\"1\",\"scd\":\"1\",\"threshold\":\"0.5\",\"content\":"
        "\"c\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P2\",\"avx\":\"1\",\"scd\":2,\"threshold\":5,\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P3\",\"avx\":\"1\",\"scd\":3,\"threshold\":5,\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P4\",\"avx\":\"1\",\"scd\":5,\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P5\",\"avx\":\"1\",\"scd\":9,\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P6\",\"avx\":\"1\",\"scd\":-1,\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"oname\":\"P7\",\"avx\":\"x\",\"scd\":4,\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 08:10:35\",\"oname\":\"P8\",\"avx\":\"1\",\"scd\":4},"
        "{\"ts\":\"2026-06-21 08:10:35\",\"oname\":\"P9\",\"avx\":\"1\",\"content\":\"c\"},"
        "{\"ts\":\"2026-06-21 08:10:35\",\"oname\":\"P10\",\"scd\":\"4x\",\"content\":\"c\"}]}}",
        QYBM, NULL, KEY, &err);
    CHECK(b != NULL && b->n_events == 12);
    if (b == NULL) {
        fprintf(stderr, "%s %s\n", err.code, err.detail);
        return;
    }
    ing_event *e = b->events;
    CHECK(e[0].reject == ING_REJ_NONE && e[0].level == ING_EV_HIGH_HIGH && e[0].value == 126.8 &&
          e[0].threshold == 100 && strcmp(e[0].source_code, "4") == 0);
    CHECK(strcmp(e[0].content, "粉尘浓度超上上限报警") == 0);
    CHECK(e[1].reject == ING_REJ_NONE && e[1].level == ING_EV_CLEARED);
    CHECK(e[2].reject == ING_REJ_NONE && e[2].level == ING_EV_HIGH && e[2].threshold == 0.5 &&
          strcmp(e[2].source_code, "1") == 0);
    CHECK(e[3].level == ING_EV_LOW && e[4].level == ING_EV_LOW_LOW && e[5].level == ING_EV_FAULT);
    CHECK(e[5].reject == ING_REJ_NONE && !e[5].has_threshold && e[5].has_value);
    CHECK(e[6].reject == ING_REJ_BAD_LEVEL && strcmp(e[6].source_code, "9") == 0);
    CHECK(e[7].reject == ING_REJ_BAD_LEVEL);
    CHECK(e[8].reject == ING_REJ_NON_NUMERIC);
    CHECK(e[9].reject == ING_REJ_MISSING_FIELD); /* content mandatory in V1.1 */
    CHECK(e[10].reject == ING_REJ_MISSING_FIELD);
    CHECK(e[11].reject == ING_REJ_BAD_LEVEL);
    ing_batch_free(b);

    /* a configured map: scd 9 => fault */
    ing_limits saved = lim;
    lim.hebei_scd_map[9] = ING_EV_FAULT;
    b = round_trip(ING_KIND_EVENTS,
                   "{\"qybm\":\"012345678912\",\"data\":{\"events\":[{\"ts\":\"2026-06-21 "
                   "08:10:35\",\"oname\":\"P5\",\"avx\":\"1\",\"scd\":9,\"content\":\"c\"}]}}",
                   QYBM, NULL, KEY, &err);
    CHECK(b != NULL && b->events[0].reject == ING_REJ_NONE && b->events[0].level == ING_EV_FAULT);
    ing_batch_free(b);
    lim = saved;
}

static void test_videos(void)
{
    const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0,    0x10, 'J',
                                  'F',  'I',  'F',  0,    0xFF, 0xD9};
    char *img;
    CHECK(ing_b64_encode(jpeg, sizeof jpeg, &img) == 0);
    ing_error err;
    const char *shapes[] = {
        "{\"ts\":\"2026-06-21 "
        "08:10:35\",\"videoCode\":\"01234567891234567890\",\"alarmType\":\"SJ02001\",\"content\":"
        "\"烟火识别\"}",
        "{\"qybm\":\"012345678912\",\"ts\":\"2026-06-21 "
        "08:10:35\",\"videoCode\":\"01234567891234567890\",\"alarmType\":\"SJ02001\",\"content\":"
        "\"烟火识别\"}",
        "{\"qybm\":\"012345678912\",\"data\":{\"ts\":\"2026-06-21 "
        "08:10:35\",\"videoCode\":\"01234567891234567890\",\"alarmType\":\"SJ02001\",\"content\":"
        "\"烟火识别\"}}",
        "{\"qybm\":\"012345678912\",\"data\":{\"videos\":[{\"ts\":\"2026-06-21 "
        "08:10:35\",\"videoCode\":\"01234567891234567890\",\"alarmType\":\"SJ02001\",\"content\":"
        "\"烟火识别\"}]}}",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        ing_batch *b = round_trip(ING_KIND_VIDEOS, shapes[i], QYBM, img, KEY, &err);
        CHECK(b != NULL && b->n_videos == 1);
        if (b == NULL)
            continue;
        CHECK(b->videos[0].reject == ING_REJ_NONE);
        CHECK(strcmp(b->videos[0].camera, "01234567891234567890") == 0);
        CHECK(strcmp(b->videos[0].alarm_type, "SJ02001") == 0);
        CHECK(b->videos[0].img_len == sizeof jpeg &&
              memcmp(b->videos[0].img, jpeg, sizeof jpeg) == 0);
        ing_batch_free(b);
    }
    /* not a JPEG */
    char *bad;
    CHECK(ing_b64_encode((const unsigned char *)"GIF89a", 6, &bad) == 0);
    ing_batch *b = round_trip(ING_KIND_VIDEOS, shapes[0], QYBM, bad, KEY, &err);
    CHECK(b != NULL && b->videos[0].reject == ING_REJ_BAD_IMAGE && b->videos[0].img == NULL);
    ing_batch_free(b);
    free(bad);
    /* no image at all is fine */
    b = round_trip(ING_KIND_VIDEOS, shapes[0], QYBM, NULL, KEY, &err);
    CHECK(b != NULL && b->videos[0].reject == ING_REJ_NONE && b->videos[0].img == NULL);
    ing_batch_free(b);
    /* too large */
    ing_limits saved = lim;
    lim.max_img_bytes = 4;
    b = round_trip(ING_KIND_VIDEOS, shapes[0], QYBM, img, KEY, &err);
    CHECK(b == NULL && err.http_status == 413 && strcmp(err.code, "image_too_large") == 0);
    lim = saved;
    free(img);
}

static void expect_decode_error(ing_kind kind, const char *inner, const unsigned char *key,
                                int status, const char *code, int line)
{
    ing_error err;
    ing_batch *b = round_trip(kind, inner, QYBM, NULL, key, &err);
    if (b != NULL || err.http_status != status || err.code == NULL || strcmp(err.code, code) != 0) {
        fprintf(stderr, "line %d: expected %d %s, got %d %s (%s)\n", line, status, code,
                err.http_status, err.code ? err.code : "-", err.detail);
        failures++;
    }
    ing_batch_free(b);
}
#define EXPECT_DEC(kind, inner, key, status, code)                                                 \
    expect_decode_error(kind, inner, key, status, code, __LINE__)

static void test_errors(void)
{
    const char *ok = "{\"qybm\":\"012345678912\",\"data\":{\"rts\":[{\"tnm\":\"P\",\"ts\":\"2026-"
                     "11-29 08:00:00\",\"val\":\"1\"}]}}";
    const unsigned char wrong[8] = {'8', '7', '6', '5', '4', '3', '2', '1'};
    /* wrong key: this inner/key pair fails the padding check */
    EXPECT_DEC(ING_KIND_READINGS, ok, wrong, 400, "decrypt_failed");
    EXPECT_DEC(ING_KIND_READINGS,
               "{\"qybm\":\"999999999999\",\"data\":{\"rts\":[{\"tnm\":\"P\",\"ts\":\"2026-11-29 "
               "08:00:00\",\"val\":\"1\"}]}}",
               KEY, 400, "enterprise_mismatch");
    EXPECT_DEC(
        ING_KIND_READINGS,
        "{\"data\":{\"rts\":[{\"tnm\":\"P\",\"ts\":\"2026-11-29 08:00:00\",\"val\":\"1\"}]}}", KEY,
        400, "bad_envelope");
    EXPECT_DEC(ING_KIND_READINGS, "{\"qybm\":\"012345678912\",\"data\":{\"rts\":[]}}", KEY, 400,
               "bad_envelope");
    EXPECT_DEC(ING_KIND_READINGS, "{\"qybm\":\"012345678912\",\"data\":{\"events\":[{}]}}", KEY,
               400, "bad_envelope");
    EXPECT_DEC(ING_KIND_READINGS, "{\"qybm\":\"012345678912\",\"data\":{\"rts\":[5]}}", KEY, 400,
               "bad_envelope");
    EXPECT_DEC(ING_KIND_READINGS, "not json", KEY, 400, "bad_json");
    EXPECT_DEC(ING_KIND_READINGS, "{\"qybm\":\"012345678912\",\"qybm\":\"012345678912\"}", KEY, 400,
               "bad_json");
    EXPECT_DEC(ING_KIND_READINGS,
               "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", KEY, 400,
               "too_deep");
    EXPECT_DEC(ING_KIND_EVENTS, "{\"qybm\":\"012345678912\",\"data\":{\"events\":\"x\"}}", KEY, 400,
               "bad_envelope");
    EXPECT_DEC(ING_KIND_VIDEOS, "{\"qybm\":\"012345678912\",\"data\":5}", KEY, 400, "bad_envelope");
    ing_limits saved = lim;
    lim.max_items = 1;
    EXPECT_DEC(ING_KIND_READINGS,
               "{\"qybm\":\"012345678912\",\"data\":{\"rts\":[{\"tnm\":\"P\",\"ts\":\"2026-11-29 "
               "08:00:00\",\"val\":\"1\"},{}]}}",
               KEY, 413, "too_many_items");
    lim = saved;

    /* outer problems */
    static const struct {
        const char *body;
        const char *code;
    } outer[] = {
        {"", "empty_body"},
        {"[]", "bad_envelope"},
        {"{\"data\":\"AA\"}", "bad_envelope"},
        {"{\"qybm\":\"\",\"data\":\"AA\"}", "bad_envelope"},
        {"{\"qybm\":\"Q\"}", "bad_envelope"},
        {"{\"qybm\":\"Q\",\"data\":\"\"}", "bad_envelope"},
        {"{\"qybm\":\"Q\",\"data\":7}", "bad_envelope"},
        {"{\"qybm\":\"Q\",\"data\":\"AA\",\"wgbm\":3}", "bad_envelope"},
        {"{\"qybm\":\"Q\",\"data\":\"AA\",\"img\":3}", "bad_envelope"},
        {"{\"qybm\":\"Q\",\"data\":\"AA\",\"data\":\"AA\"}", "bad_json"},
    };
    for (size_t i = 0; i < sizeof outer / sizeof outer[0]; i++) {
        ing_hebei_outer o;
        ing_error err = {0};
        CHECK(ing_hebei_parse_outer(outer[i].body, strlen(outer[i].body), &lim, &o, &err) == -1);
        CHECK(err.code != NULL && strcmp(err.code, outer[i].code) == 0 && err.http_status == 400);
        CHECK(o.qybm == NULL && o.data_hex == NULL);
    }
    /* encoding errors of data */
    static const char *const datas[] = {"XYZ", "ABC", "3D3D3D", "41414141"};
    static const char *const codes[] = {"bad_encoding", "bad_encoding", "bad_encoding",
                                        "decrypt_failed"};
    for (size_t i = 0; i < 4; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"qybm\":\"Q\",\"data\":\"%s\"}", datas[i]);
        ing_hebei_outer o;
        ing_error err = {0};
        ing_batch *b = NULL;
        CHECK(ing_hebei_parse_outer(body, strlen(body), &lim, &o, &err) == 0);
        CHECK(ing_hebei_decode(ING_KIND_READINGS, &o, KEY, ING_HEBEI_DEFAULT_IV, &lim, NOW, &b,
                               &err) == -1);
        CHECK(b == NULL && strcmp(err.code, codes[i]) == 0);
        ing_hebei_outer_free(&o);
    }
}

static void test_reply_and_paths(void)
{
    char *r = ing_hebei_reply(200, NULL);
    CHECK(r != NULL && strcmp(r, "{\"code\":200,\"msg\":\"操作成功\",\"data\":null}") == 0);
    free(r);
    r = ing_hebei_reply(400, "bad \"data\"");
    CHECK(r != NULL && strcmp(r, "{\"code\":400,\"msg\":\"bad \\\"data\\\"\",\"data\":null}") == 0);
    free(r);
    ing_error err;
    ing_error_set(&err, 413, "too_many_items", "%d items", 20000);
    r = ing_hebei_reply_error(&err);
    CHECK(r != NULL &&
          strcmp(r, "{\"code\":413,\"msg\":\"too_many_items: 20000 items\",\"data\":null}") == 0);
    free(r);
    r = ing_hebei_reply(500, "\xff"); /* invalid UTF-8 never leaks into the body */
    CHECK(r != NULL && strstr(r, "\"code\":500") != NULL);
    free(r);
    ing_kind k;
    CHECK(ing_hebei_kind_for_path("/rabbitmqfcsb/api/rtsData", &k) == 0 && k == ING_KIND_READINGS);
    CHECK(ing_hebei_kind_for_path("/rabbitmqfcsb/api/eventsData?x=1", &k) == 0 &&
          k == ING_KIND_EVENTS);
    CHECK(ing_hebei_kind_for_path("/api/videosData", &k) == 0 && k == ING_KIND_VIDEOS);
    CHECK(ing_hebei_kind_for_path("/rabbitmqfcsb/api/rtsDataX", &k) == -1);
    CHECK(ing_hebei_kind_for_path(NULL, &k) == -1);
}

int main(void)
{
    ing_limits_default(&lim);
    test_known_answer();
    test_readings();
    test_events();
    test_videos();
    test_errors();
    test_reply_and_paths();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_ing_hebei: all passed\n");
    return 0;
}
