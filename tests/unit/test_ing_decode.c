/* Unit tests for server/ing_decode: our format v1, time parsing, JSON bombs,
 * every decoder-side reject reason. */
#include "ing_crypto.h"
#include "ing_decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

/* 2026-11-29T00:00:00Z */
#define T_20261129_UTC INT64_C(1795910400000000)
#define NOW            (T_20261129_UTC + INT64_C(12) * 3600 * 1000000)

static ing_limits lim;

__attribute__((returns_nonnull, malloc)) static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        abort();
    return p;
}

__attribute__((returns_nonnull, malloc)) static void *xcalloc(size_t n)
{
    void *p = calloc(1, n);
    if (p == NULL)
        abort();
    return p;
}

static ing_batch *dec(ing_kind kind, const char *body, ing_error *err)
{
    ing_batch *b = NULL;
    memset(err, 0, sizeof *err);
    int rc = ing_decode_native(kind, body, strlen(body), &lim, NOW, &b, err);
    if (rc != 0) {
        CHECK(b == NULL);
        CHECK(err->code != NULL && err->http_status >= 400);
        return NULL;
    }
    return b;
}

/* Expect a whole-batch error with this HTTP status and code. */
static void expect_err_len(ing_kind kind, const char *body, size_t len, int status,
                           const char *code, int line)
{
    ing_batch *b = NULL;
    ing_error err = {0};
    int rc = ing_decode_native(kind, body, len, &lim, NOW, &b, &err);
    if (rc != -1 || b != NULL || err.http_status != status || err.code == NULL ||
        strcmp(err.code, code) != 0) {
        fprintf(stderr, "line %d: expected %d %s, got rc=%d %d %s (%s)\n", line, status, code, rc,
                err.http_status, err.code ? err.code : "-", err.detail);
        failures++;
    }
    ing_batch_free(b);
}
#define EXPECT_ERR(kind, body, status, code)                                                       \
    expect_err_len(kind, body, strlen(body), status, code, __LINE__)

static void test_time(void)
{
    int64_t t;
    CHECK(ing_parse_beijing("2026-11-29 08:00:00", &t) == 0 && t == T_20261129_UTC);
    CHECK(ing_parse_beijing("2026-11-29 07:59:59", &t) == 0 && t == T_20261129_UTC - 1000000);
    CHECK(ing_parse_beijing("2026-11-29 08:00:00.250", &t) == 0 && t == T_20261129_UTC + 250000);
    CHECK(ing_parse_beijing("2026-03-01 07:00:00", &t) == 0); /* crosses into Feb 28 UTC */
    char buf[64];
    ing_format_rfc3339(t, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "2026-02-28T23:00:00Z") == 0);
    CHECK(ing_parse_beijing("2026-11-29T08:00:00", &t) == -1);
    CHECK(ing_parse_beijing("2026-11-29 08:00:00+08:00", &t) == -1);
    CHECK(ing_parse_beijing("2026-11-29 24:00:00", &t) == -1);
    CHECK(ing_parse_beijing("2026-02-29 08:00:00", &t) == -1); /* not a leap year */
    CHECK(ing_parse_beijing("2028-02-29 08:00:00", &t) == 0);
    CHECK(ing_parse_beijing("2026-11-31 08:00:00", &t) == -1);
    CHECK(ing_parse_beijing("2026-1-29 08:00:00", &t) == -1);
    CHECK(ing_parse_beijing("", &t) == -1);
    CHECK(ing_parse_beijing(NULL, &t) == -1);

    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00Z", &t) == 0 && t == T_20261129_UTC);
    CHECK(ing_parse_rfc3339("2026-11-29t00:00:00z", &t) == 0 && t == T_20261129_UTC);
    CHECK(ing_parse_rfc3339("2026-11-29T08:00:00+08:00", &t) == 0 && t == T_20261129_UTC);
    CHECK(ing_parse_rfc3339("2026-11-28T19:30:00-04:30", &t) == 0 && t == T_20261129_UTC);
    CHECK(ing_parse_rfc3339("2026-11-29 08:00:00+08:00", &t) == 0 && t == T_20261129_UTC);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00.123456789Z", &t) == 0 &&
          t == T_20261129_UTC + 123456);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00.5Z", &t) == 0 && t == T_20261129_UTC + 500000);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00", &t) == -1);      /* offset mandatory */
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00+0800", &t) == -1); /* colon mandatory */
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00+24:00", &t) == -1);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00.Z", &t) == -1);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00.1234567890Z", &t) == -1);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:60Z", &t) == -1);
    CHECK(ing_parse_rfc3339("2026-11-29T00:00:00Zjunk", &t) == -1);
    CHECK(ing_parse_rfc3339("1969-12-31T23:59:59Z", &t) == -1);

    ing_format_rfc3339(T_20261129_UTC, 480, buf, sizeof buf);
    CHECK(strcmp(buf, "2026-11-29T08:00:00+08:00") == 0);
    ing_format_rfc3339(T_20261129_UTC + 42, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "2026-11-29T00:00:00.000042Z") == 0);
    ing_format_beijing(T_20261129_UTC, buf, sizeof buf);
    CHECK(strcmp(buf, "2026-11-29 08:00:00") == 0);
    /* round trip across many instants */
    for (int64_t x = 0; x < 4000; x++) {
        int64_t ts = T_20261129_UTC - x * INT64_C(86400) * 1000000 * 3 + x * 7777777;
        int64_t back;
        ing_format_rfc3339(ts, (int)(x % 5) * 60 - 120, buf, sizeof buf);
        CHECK(ing_parse_rfc3339(buf, &back) == 0 && back == ts);
        ing_format_beijing(ts, buf, sizeof buf);
        CHECK(ing_parse_beijing(buf, &back) == 0 && back == ts - ts % 1000000);
    }
}

static void test_numbers(void)
{
    double v;
    CHECK(ing_parse_number_str("23.5", &v) == 0 && v == 23.5);
    CHECK(ing_parse_number_str("-1e3", &v) == 0 && v == -1000);
    CHECK(ing_parse_number_str("27.20", &v) == 0 && v == 27.2);
    CHECK(ing_parse_number_str("1e999", &v) == -1);
    CHECK(ing_parse_number_str("nan", &v) == -1);
    CHECK(ing_parse_number_str("inf", &v) == -1);
    CHECK(ing_parse_number_str("0x10", &v) == -1);
    CHECK(ing_parse_number_str(" 1", &v) == -1);
    CHECK(ing_parse_number_str("1 ", &v) == -1);
    CHECK(ing_parse_number_str("", &v) == -1);
    CHECK(ing_parse_number_str(".", &v) == -1);
    CHECK(ing_parse_number_str("1e", &v) == -1);
}

static void test_readings_ok(void)
{
    ing_error err;
    ing_batch *b = dec(
        ING_KIND_READINGS,
        "{\"gateway\":\"GW01\",\"readings\":["
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":35.2},"
        "{\"point\":\"P2\",\"ts\":\"2026-11-29T01:00:00.5Z\",\"value\":-3,\"quality\":\"suspect\"},"
        "{\"point\":\"P3\",\"ts\":\"2026-11-29T01:00:00Z\",\"value\":1e300,\"quality\":\"bad\"},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:01+08:00\",\"value\":0,\"quality\":\"good\"}]"
        "}",
        &err);
    CHECK(b != NULL);
    if (b == NULL)
        return;
    CHECK(b->kind == ING_KIND_READINGS && b->n_readings == 4 && b->enterprise_code == NULL);
    CHECK(b->gateway_code != NULL && strcmp(b->gateway_code, "GW01") == 0);
    CHECK(strcmp(b->readings[0].point, "P1") == 0);
    CHECK(b->readings[0].ts_us == T_20261129_UTC + INT64_C(3600000000));
    CHECK(b->readings[0].value == 35.2 && b->readings[0].quality == ING_Q_GOOD);
    CHECK(b->readings[1].ts_us == T_20261129_UTC + INT64_C(3600500000));
    CHECK(b->readings[1].value == -3 && b->readings[1].quality == ING_Q_SUSPECT);
    CHECK(b->readings[2].quality == ING_Q_BAD && b->readings[2].value == 1e300);
    for (size_t i = 0; i < 4; i++)
        CHECK(b->readings[i].reject == ING_REJ_NONE);
    ing_batch_free(b);
}

static ing_reject one_reading(const char *item)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"readings\":[%s]}", item);
    ing_error err;
    ing_batch *b = dec(ING_KIND_READINGS, body, &err);
    if (b == NULL) {
        fprintf(stderr, "unexpected batch error %s: %s\n", err.code, err.detail);
        return ING_REJ__COUNT;
    }
    ing_reject r = b->readings[0].reject;
    ing_batch_free(b);
    return r;
}

static void test_reading_rejects(void)
{
    CHECK(one_reading("{\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":1}") ==
          ING_REJ_MISSING_FIELD);
    CHECK(one_reading("{\"point\":\"\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":1}") ==
          ING_REJ_MISSING_FIELD);
    CHECK(one_reading("{\"point\":\"a b\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":1}") ==
          ING_REJ_MISSING_FIELD);
    CHECK(one_reading("{\"point\":7,\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":1}") ==
          ING_REJ_MISSING_FIELD);
    CHECK(one_reading("{\"point\":\"P\",\"value\":1}") == ING_REJ_MISSING_FIELD);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00+08:00\"}") ==
          ING_REJ_MISSING_FIELD);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29 09:00:00\",\"value\":1}") ==
          ING_REJ_BAD_TIMESTAMP);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00\",\"value\":1}") ==
          ING_REJ_BAD_TIMESTAMP);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":1795910400,\"value\":1}") == ING_REJ_BAD_TIMESTAMP);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-02-30T09:00:00Z\",\"value\":1}") ==
          ING_REJ_BAD_TIMESTAMP);
    /* NOW is 12:00Z; +5 min allowed, +6 min not */
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T12:05:00Z\",\"value\":1}") ==
          ING_REJ_NONE);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T12:06:00Z\",\"value\":1}") ==
          ING_REJ_FUTURE_TIMESTAMP);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2025-01-01T00:00:00Z\",\"value\":1}") ==
          ING_REJ_NONE); /* late back-fill ok */
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":\"35.2\"}") ==
          ING_REJ_NON_NUMERIC);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":\"NaN\"}") ==
          ING_REJ_NON_NUMERIC);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":null}") ==
          ING_REJ_NON_NUMERIC);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":true}") ==
          ING_REJ_NON_NUMERIC);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":[1]}") ==
          ING_REJ_NON_NUMERIC);
    CHECK(one_reading("{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1,\"quality\":"
                      "\"great\"}") == ING_REJ_BAD_QUALITY);
    CHECK(one_reading(
              "{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1,\"quality\":0}") ==
          ING_REJ_BAD_QUALITY);

    /* one bad item does not fail the others; duplicates: later one rejected */
    ing_error err;
    ing_batch *b = dec(ING_KIND_READINGS,
                       "{\"readings\":["
                       "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":\"x\"},"
                       "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":1},"
                       "{\"point\":\"P2\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":2},"
                       "{\"point\":\"P1\",\"ts\":\"2026-11-29T01:00:00Z\",\"value\":3},"
                       "{\"point\":\"P1\",\"ts\":\"2026-11-29T01:00:00.000001Z\",\"value\":4},"
                       "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"value\":5}]}",
                       &err);
    CHECK(b != NULL && b->n_readings == 6);
    if (b != NULL) {
        CHECK(b->readings[0].reject == ING_REJ_NON_NUMERIC);
        CHECK(b->readings[1].reject == ING_REJ_NONE); /* first valid of its key */
        CHECK(b->readings[2].reject == ING_REJ_NONE);
        CHECK(b->readings[3].reject == ING_REJ_DUPLICATE_IN_BATCH); /* same instant, other offset */
        CHECK(b->readings[4].reject == ING_REJ_NONE);
        CHECK(b->readings[5].reject == ING_REJ_DUPLICATE_IN_BATCH);
        CHECK(b->readings[5].value == 5); /* still decoded for the report */
    }
    ing_batch_free(b);
}

static void test_reject_strings(void)
{
    for (int i = 0; i < ING_REJ__COUNT; i++) {
        const char *c = ing_reject_code((ing_reject)i), *m = ing_reject_message((ing_reject)i);
        CHECK(c != NULL && *c && m != NULL && *m);
        for (const char *p = c; *p; p++)
            CHECK((*p >= 'a' && *p <= 'z') || *p == '_');
        for (int j = 0; j < i; j++)
            CHECK(strcmp(c, ing_reject_code((ing_reject)j)) != 0);
    }
    CHECK(strcmp(ing_reject_code(ING_REJ_UNKNOWN_POINT), "unknown_point") == 0);
    CHECK(strcmp(ing_reject_code(ING_REJ_FOREIGN_POINT), "foreign_point") == 0);
    CHECK(strcmp(ing_reject_code(ING_REJ_OUT_OF_RANGE), "out_of_range") == 0);
    CHECK(strcmp(ing_reject_code(ING_REJ_POINT_DISABLED), "point_disabled") == 0);
    CHECK(strcmp(ing_reject_code(ING_REJ_DUPLICATE_IN_BATCH), "duplicate_in_batch") == 0);
    CHECK(strcmp(ing_reject_code(ING_REJ__COUNT), "invalid") == 0);
    CHECK(strcmp(ing_reject_code((ing_reject)-1), "invalid") == 0);
    for (int l = ING_EV_CLEARED; l <= ING_EV_FAULT; l++)
        CHECK(ing_event_level_parse(ing_event_level_name(l)) == l);
    CHECK(ing_event_level_name(6) == NULL && ing_event_level_parse("HIGH") == -1);
}

static void test_batch_errors(void)
{
    const ing_kind R = ING_KIND_READINGS;
    const char *item = "{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}";
    char body[512];
    EXPECT_ERR(R, "", 400, "empty_body");
    expect_err_len(R, NULL, 0, 400, "empty_body", __LINE__);
    EXPECT_ERR(R, "{", 400, "bad_json");
    EXPECT_ERR(R, "[]", 400, "bad_envelope");
    EXPECT_ERR(R, "{}", 400, "bad_envelope");
    EXPECT_ERR(R, "{\"readings\":[]}", 400, "bad_envelope");
    EXPECT_ERR(R, "{\"readings\":{}}", 400, "bad_envelope");
    EXPECT_ERR(R, "{\"readings\":[1]}", 400, "bad_envelope");
    EXPECT_ERR(R, "{\"readings\":[null]}", 400, "bad_envelope");
    EXPECT_ERR(R, "\"readings\"", 400, "bad_json"); /* not an object/array at top */
    snprintf(body, sizeof body, "{\"readings\":[%s],\"extra\":1}", item);
    EXPECT_ERR(R, body, 400, "unknown_field");
    EXPECT_ERR(R,
               "{\"readings\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1,"
               "\"unit\":\"C\"}]}",
               400, "unknown_field");
    snprintf(body, sizeof body, "{\"events\":[%s]}", item); /* wrong kind's array */
    EXPECT_ERR(R, body, 400, "unknown_field");
    snprintf(body, sizeof body, "{\"gateway\":\"\",\"readings\":[%s]}", item);
    EXPECT_ERR(R, body, 400, "bad_envelope");
    snprintf(body, sizeof body, "{\"gateway\":5,\"readings\":[%s]}", item);
    EXPECT_ERR(R, body, 400, "bad_envelope");
    /* duplicate keys, top level and in an item */
    snprintf(body, sizeof body, "{\"readings\":[%s],\"readings\":[%s]}", item, item);
    EXPECT_ERR(R, body, 400, "bad_json");
    EXPECT_ERR(R,
               "{\"readings\":[{\"point\":\"P\",\"point\":\"Q\",\"ts\":\"2026-11-29T09:00:00Z\","
               "\"value\":1}]}",
               400, "bad_json");
    /* invalid UTF-8 in a string, overlong encoding, lone surrogate escape */
    EXPECT_ERR(R,
               "{\"readings\":[{\"point\":\"P\xff\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
               400, "bad_json");
    EXPECT_ERR(
        R, "{\"readings\":[{\"point\":\"P\xc0\xaf\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
        400, "bad_json");
    EXPECT_ERR(
        R, "{\"readings\":[{\"point\":\"P\\ud800\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
        400, "bad_json");
    /* NUL: escaped inside a string, and raw */
    EXPECT_ERR(
        R, "{\"readings\":[{\"point\":\"P\\u0000\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
        400, "bad_json");
    static const char raw_nul[] =
        "{\"readings\":[{\"point\":\"P\0\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}";
    expect_err_len(R, raw_nul, sizeof raw_nul - 1, 400, "bad_json", __LINE__);
    /* numbers jansson cannot represent */
    EXPECT_ERR(R,
               "{\"readings\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1e999}]}",
               400, "bad_json");
    EXPECT_ERR(R,
               "{\"readings\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":"
               "18446744073709551616}]}",
               400, "bad_json");
    EXPECT_ERR(R,
               "{\"readings\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":NaN}]}",
               400, "bad_json");
    /* trailing garbage, two documents */
    snprintf(body, sizeof body, "{\"readings\":[%s]} x", item);
    EXPECT_ERR(R, body, 400, "bad_json");
    snprintf(body, sizeof body, "{\"readings\":[%s]}{}", item);
    EXPECT_ERR(R, body, 400, "bad_json");

    /* depth 10,000 (arrays and objects) and just over the limit */
    size_t n = 10000;
    char *deep = xmalloc(2 * n + 64);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    expect_err_len(R, deep, 2 * n, 400, "too_deep", __LINE__);
    char *p = deep;
    for (size_t i = 0; i < 2000; i++) {
        memcpy(p, "{\"a\":", 5);
        p += 5;
    }
    memcpy(p, "1", 1);
    p++;
    memset(p, '}', 2000);
    p += 2000;
    expect_err_len(R, deep, (size_t)(p - deep), 400, "too_deep", __LINE__);
    /* 33 levels: readings array + item object are 2, add 31 nested in value */
    p = deep;
    p += sprintf(p, "{\"readings\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":");
    memset(p, '[', 31);
    memset(p + 31, ']', 31);
    p += 62;
    p += sprintf(p, "}]}");
    expect_err_len(R, deep, (size_t)(p - deep), 400, "too_deep", __LINE__);
    /* brackets inside strings do not count */
    p = deep;
    p += sprintf(p, "{\"readings\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}],"
                    "\"gateway\":\"");
    memset(p, '[', 100);
    p += 100;
    p += sprintf(p, "\\\"\"}");
    expect_err_len(R, deep, (size_t)(p - deep), 400, "bad_envelope",
                   __LINE__); /* gateway invalid, not too_deep */
    free(deep);

    /* too many items */
    ing_limits small = lim;
    small.max_items = 3;
    char big[1024];
    snprintf(big, sizeof big, "{\"readings\":[%s,%s,%s,%s]}", item, item, item, item);
    ing_batch *b = NULL;
    ing_error err;
    CHECK(ing_decode_native(R, big, strlen(big), &small, NOW, &b, &err) == -1);
    CHECK(b == NULL && err.http_status == 413 && strcmp(err.code, "too_many_items") == 0);
    snprintf(big, sizeof big, "{\"readings\":[%s,%s,%s]}", item, item, item);
    CHECK(ing_decode_native(R, big, strlen(big), &small, NOW, &b, &err) == 0 && b->n_readings == 3);
    /* same point and ts thrice: two duplicates */
    CHECK(b->readings[0].reject == ING_REJ_NONE &&
          b->readings[1].reject == ING_REJ_DUPLICATE_IN_BATCH &&
          b->readings[2].reject == ING_REJ_DUPLICATE_IN_BATCH);
    ing_batch_free(b);

    /* 10,001 items with default limits */
    size_t cap = 10001 * 8 + 64;
    char *many = xmalloc(cap);
    p = many;
    p += sprintf(p, "{\"readings\":[");
    for (int i = 0; i < 10001; i++)
        p += sprintf(p, "%s{}", i ? "," : "");
    p += sprintf(p, "]}");
    expect_err_len(R, many, (size_t)(p - many), 413, "too_many_items", __LINE__);
    free(many);
}

static void test_events(void)
{
    ing_error err;
    ing_batch *b =
        dec(ING_KIND_EVENTS,
            "{\"events\":["
            "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"level\":\"high_high\","
            "\"value\":82.5,\"threshold\":80,\"content\":\"灰斗温度超上上限\"},"
            "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"cleared\"},"
            "{\"point\":\"P2\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"very_high\"},"
            "{\"point\":\"P2\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"low\",\"value\":"
            "\"12\"},"
            "{\"point\":\"P2\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"low\","
            "\"threshold\":\"12\"},"
            "{\"point\":\"P3\",\"ts\":\"2026-11-29T09:05:00+08:00\"},"
            "{\"point\":\"P3\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"fault\"},"
            "{\"point\":\"P3\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"cleared\"},"
            "{\"point\":\"P3\",\"ts\":\"2026-11-29T09:05:00+08:00\",\"level\":\"fault\"}]}",
            &err);
    CHECK(b != NULL && b->n_events == 9);
    if (b == NULL)
        return;
    ing_event *e = b->events;
    CHECK(e[0].reject == ING_REJ_NONE && e[0].level == ING_EV_HIGH_HIGH && e[0].has_value &&
          e[0].value == 82.5 && e[0].has_threshold && e[0].threshold == 80);
    CHECK(e[0].content != NULL && strcmp(e[0].content, "灰斗温度超上上限") == 0 &&
          e[0].source_code == NULL);
    CHECK(e[1].reject == ING_REJ_NONE && e[1].level == ING_EV_CLEARED && !e[1].has_value &&
          !e[1].has_threshold && e[1].content == NULL);
    CHECK(e[2].reject == ING_REJ_BAD_LEVEL);
    CHECK(e[3].reject == ING_REJ_NON_NUMERIC);
    CHECK(e[4].reject == ING_REJ_NON_NUMERIC);
    CHECK(e[5].reject == ING_REJ_MISSING_FIELD);
    CHECK(e[6].reject == ING_REJ_NONE && e[6].level == ING_EV_FAULT);
    CHECK(e[7].reject == ING_REJ_NONE); /* different level at the same instant is not a duplicate */
    CHECK(e[8].reject == ING_REJ_DUPLICATE_IN_BATCH);
    ing_batch_free(b);
    EXPECT_ERR(ING_KIND_EVENTS,
               "{\"events\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\",\"level\":\"high\","
               "\"severity\":1}]}",
               400, "unknown_field");
    /* content over 4096 bytes */
    static char body[6000];
    static const char head[] = "{\"events\":[{\"point\":\"P\",\"ts\":\"2026-11-29T09:00:00Z\","
                               "\"level\":\"high\",\"content\":\"";
    size_t k = sizeof head - 1;
    memcpy(body, head, k);
    memset(body + k, 'x', 4097);
    memcpy(body + k + 4097, "\"}]}", 5);
    EXPECT_ERR(ING_KIND_EVENTS, body, 400, "field_too_long");
}

static void test_videos(void)
{
    const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J',
                                  'F',  'I',  'F',  0x00, 0xFF, 0xD9};
    /* the PNG signature alone is no image; with the IHDR chunk after it, it is */
    const unsigned char png[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a,
                                 0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    char *jb64, *pb64;
    CHECK(ing_b64_encode(jpeg, sizeof jpeg, &jb64) == 0);
    CHECK(ing_b64_encode(png, sizeof png, &pb64) == 0);
    char body[2048];
    snprintf(
        body, sizeof body,
        "{\"gateway\":\"G\",\"videos\":["
        "{\"camera\":\"CAM01\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"alarm_type\":\"SJ02001\","
        "\"content\":\"烟火识别\",\"image_base64\":\"%s\"},"
        "{\"camera\":\"CAM01\",\"ts\":\"2026-11-29T09:00:01+08:00\",\"alarm_type\":\"SJ02001\","
        "\"image_base64\":\"%s\"},"
        "{\"camera\":\"CAM01\",\"ts\":\"2026-11-29T09:00:02+08:00\",\"alarm_type\":\"SJ02001\","
        "\"image_base64\":\"!!!\"},"
        "{\"camera\":\"CAM01\",\"ts\":\"2026-11-29T09:00:03+08:00\",\"alarm_type\":\"SJ02001\","
        "\"image_base64\":\"data:image/jpeg;base64,%s\"},"
        "{\"camera\":\"CAM02\",\"ts\":\"2026-11-29T09:00:00+08:00\"},"
        "{\"camera\":\"CAM01\",\"ts\":\"2026-11-29T09:00:00+08:00\",\"alarm_type\":\"SJ02001\"}]}",
        jb64, pb64, jb64);
    ing_error err;
    ing_batch *b = dec(ING_KIND_VIDEOS, body, &err);
    CHECK(b != NULL && b->n_videos == 6);
    if (b != NULL) {
        ing_video *v = b->videos;
        CHECK(v[0].reject == ING_REJ_NONE && v[0].img_len == sizeof jpeg &&
              memcmp(v[0].img, jpeg, sizeof jpeg) == 0);
        CHECK(strcmp(v[0].camera, "CAM01") == 0 && strcmp(v[0].alarm_type, "SJ02001") == 0 &&
              strcmp(v[0].content, "烟火识别") == 0);
        CHECK(v[1].reject == ING_REJ_NONE && v[1].img_len == sizeof png &&
              memcmp(v[1].img, png, sizeof png) == 0);
        CHECK(v[2].reject == ING_REJ_BAD_IMAGE);
        CHECK(v[3].reject == ING_REJ_NONE && v[3].img_len == sizeof jpeg);
        CHECK(v[4].reject == ING_REJ_MISSING_FIELD);
        CHECK(v[5].reject == ING_REJ_DUPLICATE_IN_BATCH && v[5].img == NULL);
    }
    ing_batch_free(b);
    free(pb64);
    /* image over the limit => 413 */
    ing_limits small = lim;
    small.max_img_bytes = 8;
    snprintf(body, sizeof body,
             "{\"videos\":[{\"camera\":\"C\",\"ts\":\"2026-11-29T09:00:00Z\",\"alarm_type\":\"A\","
             "\"image_base64\":\"%s\"}]}",
             jb64);
    b = NULL;
    CHECK(ing_decode_native(ING_KIND_VIDEOS, body, strlen(body), &small, NOW, &b, &err) == -1);
    CHECK(b == NULL && err.http_status == 413 && strcmp(err.code, "image_too_large") == 0);
    free(jb64);
    /* a large valid image just under the default limit */
    size_t big = 500 * 1024;
    unsigned char *img = xcalloc(big);
    img[0] = 0xFF;
    img[1] = 0xD8;
    img[2] = 0xFF;
    char *b64;
    CHECK(ing_b64_encode(img, big, &b64) == 0);
    if (b64 == NULL)
        abort();
    size_t cap = strlen(b64) + 200;
    char *large = xmalloc(cap);
    snprintf(large, cap,
             "{\"videos\":[{\"camera\":\"C\",\"ts\":\"2026-11-29T09:00:00Z\",\"alarm_type\":\"A\","
             "\"image_base64\":\"%s\"}]}",
             b64);
    CHECK(ing_decode_native(ING_KIND_VIDEOS, large, strlen(large), &lim, NOW, &b, &err) == 0);
    CHECK(b != NULL && b->videos[0].img_len == big && b->videos[0].reject == ING_REJ_NONE);
    ing_batch_free(b);
    free(large);
    free(b64);
    free(img);
    img = xcalloc(big + 1);
    img[0] = 0xFF;
    img[1] = 0xD8;
    img[2] = 0xFF;
    CHECK(ing_b64_encode(img, big + 1, &b64) == 0);
    if (b64 == NULL)
        abort();
    cap = strlen(b64) + 200;
    large = xmalloc(cap);
    snprintf(large, cap,
             "{\"videos\":[{\"camera\":\"C\",\"ts\":\"2026-11-29T09:00:00Z\",\"alarm_type\":\"A\","
             "\"image_base64\":\"%s\"}]}",
             b64);
    CHECK(ing_decode_native(ING_KIND_VIDEOS, large, strlen(large), &lim, NOW, &b, &err) == -1);
    CHECK(err.http_status == 413);
    free(large);
    free(b64);
    free(img);
}

static void test_image_type(void)
{
    const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xDB, 0x00};
    const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13};
    const unsigned char webp[] = {'R', 'I', 'F', 'F', 30,  0,   0,  0,
                                  'W', 'E', 'B', 'P', 'V', 'P', '8'};
    const unsigned char wav[] = {'R', 'I', 'F', 'F', 30,  0,   0,  0,
                                 'W', 'A', 'V', 'E', 'f', 'm', 't'};
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0};
    const unsigned char ffd8[] = {0xFF, 0xD8, 0x00, 0x00, 0x00};
    CHECK(strcmp(ing_image_type(jpeg, sizeof jpeg), "image/jpeg") == 0);
    CHECK(strcmp(ing_image_type(png, sizeof png), "image/png") == 0);
    CHECK(strcmp(ing_image_type(webp, sizeof webp), "image/webp") == 0);
    CHECK(ing_image_type(wav, sizeof wav) == NULL);
    CHECK(ing_image_type(gif, sizeof gif) == NULL);
    CHECK(ing_image_type(ffd8, sizeof ffd8) == NULL);
    /* truncated: the signature alone, or less, is no image */
    CHECK(ing_image_type(png, 8) == NULL);
    CHECK(ing_image_type(webp, 12) == NULL);
    CHECK(ing_image_type(jpeg, 3) == NULL);
    CHECK(ing_image_type(NULL, 0) == NULL);
    /* a PNG and a WebP snapshot are accepted by the decoder, a GIF is bad_image */
    const unsigned char *imgs[] = {png, webp, gif};
    size_t lens[] = {sizeof png, sizeof webp, sizeof gif};
    ing_reject want[] = {ING_REJ_NONE, ING_REJ_NONE, ING_REJ_BAD_IMAGE};
    for (int i = 0; i < 3; i++) {
        char *b64;
        CHECK(ing_b64_encode(imgs[i], lens[i], &b64) == 0);
        if (b64 == NULL)
            abort();
        char body[512];
        snprintf(body, sizeof body,
                 "{\"videos\":[{\"camera\":\"C\",\"ts\":\"2026-11-29T09:00:00Z\","
                 "\"alarm_type\":\"A\",\"image_base64\":\"%s\"}]}",
                 b64);
        free(b64);
        ing_error err;
        ing_batch *b = dec(ING_KIND_VIDEOS, body, &err);
        CHECK(b != NULL && b->n_videos == 1 && b->videos[0].reject == want[i]);
        if (b != NULL && want[i] == ING_REJ_NONE)
            CHECK(b->videos[0].img_len == lens[i] &&
                  memcmp(b->videos[0].img, imgs[i], lens[i]) == 0);
        ing_batch_free(b);
    }
}

static void test_limits(void)
{
    ing_limits l;
    ing_limits_default(&l);
    CHECK(l.max_items == 10000 && l.max_depth == 32 && l.max_img_bytes == 512000);
    CHECK(l.max_future_us == INT64_C(300000000));
    CHECK(l.hebei_scd_map[0] == ING_EV_CLEARED && l.hebei_scd_map[4] == ING_EV_HIGH_HIGH);
    CHECK(l.hebei_scd_map[15] == -1);
}

static void test_example_files(void)
{
    /* schema/examples/ are decoded as a contract check when the test runs
     * from the source tree (DW_SOURCE_DIR known to meson builds). */
#ifdef ING_EXAMPLES_DIR
    static const struct {
        const char *file;
        ing_kind kind;
    } ex[] = {
        {"ingest-readings.json", ING_KIND_READINGS},
        {"ingest-events.json", ING_KIND_EVENTS},
        {"ingest-videos.json", ING_KIND_VIDEOS},
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", ING_EXAMPLES_DIR, ex[i].file);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f == NULL)
            continue;
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        ing_batch *b = NULL;
        ing_error err = {0};
        CHECK(ing_decode_native(ex[i].kind, buf, n, &lim, INT64_C(4102444800000000), &b, &err) ==
              0);
        if (b == NULL) {
            fprintf(stderr, "%s: %s %s\n", ex[i].file, err.code, err.detail);
            continue;
        }
        size_t cnt = b->n_readings + b->n_events + b->n_videos;
        CHECK(cnt > 0);
        for (size_t k = 0; k < b->n_readings; k++)
            CHECK(b->readings[k].reject == ING_REJ_NONE);
        for (size_t k = 0; k < b->n_events; k++)
            CHECK(b->events[k].reject == ING_REJ_NONE);
        for (size_t k = 0; k < b->n_videos; k++)
            CHECK(b->videos[k].reject == ING_REJ_NONE);
        ing_batch_free(b);
    }
#endif
}

/* ---- the plain-shape reader against jansson -------------------------------
 * ing_decode_native reads the plain readings body without jansson; for every
 * body it must give what jansson's path gives (or leave the body to it). */

static int same_batch(const ing_batch *a, const ing_batch *b)
{
    if (a->n_readings != b->n_readings || (a->gateway_code == NULL) != (b->gateway_code == NULL) ||
        (a->gateway_code && strcmp(a->gateway_code, b->gateway_code) != 0))
        return 0;
    for (size_t i = 0; i < a->n_readings; i++) {
        const ing_reading *x = &a->readings[i], *y = &b->readings[i];
        if ((x->point == NULL) != (y->point == NULL) ||
            (x->point && strcmp(x->point, y->point) != 0) || x->reject != y->reject ||
            x->quality != y->quality)
            return 0;
        /* fields a reject leaves undefined are compared where they are set */
        if (x->reject == ING_REJ_NONE &&
            (x->ts_us != y->ts_us || memcmp(&x->value, &y->value, sizeof x->value) != 0))
            return 0;
    }
    return 1;
}

/* 1 when the plain reader took the body. */
static int compare_paths(const char *body, size_t len, int line)
{
    ing_batch *a = NULL, *b = NULL;
    ing_error ea = {0}, eb = {0};
    long before = atomic_load(&ing_decode_plain_total);
    int ra = ing_decode_native(ING_KIND_READINGS, body, len, &lim, NOW, &a, &ea);
    int plain = atomic_load(&ing_decode_plain_total) != before;
    ing_decode_force_jansson = 1;
    int rb = ing_decode_native(ING_KIND_READINGS, body, len, &lim, NOW, &b, &eb);
    ing_decode_force_jansson = 0;
    int ok = ra == rb && (ra != 0 || same_batch(a, b)) &&
             (ra == 0 || (ea.http_status == eb.http_status && ea.code && eb.code &&
                          strcmp(ea.code, eb.code) == 0 && strcmp(ea.detail, eb.detail) == 0));
    if (!ok) {
        fprintf(stderr, "line %d: plain reader and jansson differ (rc %d/%d) on: %.*s\n", line, ra,
                rb, (int)len, body);
        failures++;
    }
    ing_batch_free(a);
    ing_batch_free(b);
    return plain;
}

static void test_plain_reader(void)
{
    static const char *const taken[] = {
        "{\"gateway\":\"GW01\",\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00+08:"
        "00\","
        "\"value\":35.2},{\"point\":\"P2\",\"ts\":\"2026-11-29T01:00:00.5Z\",\"value\":-3,"
        "\"quality\":\"suspect\"},{\"quality\":\"bad\",\"value\":1e300,\"ts\":"
        "\"2026-11-29T01:00:00Z\",\"point\":\"P3\"}]}",
        " \n{ \"readings\" : [ { \"point\" : \"P1\" , \"ts\" : \"2026-11-29T09:00:00+08:00\" , "
        "\"value\" : -0 } ] , \"gateway\" : \"G\" }\r\n\t",
        /* per-item rejects the plain reader words through the shared code */
        "{\"readings\":[{\"point\":\"P 1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1},"
        "{\"point\":\"P1\",\"ts\":\"yesterday\",\"value\":1},"
        "{\"point\":\"P1\",\"ts\":\"2027-11-29T09:00:00Z\",\"value\":1},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1,\"quality\":\"fine\"},"
        "{\"point\":\"\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":2},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:01Z\",\"value\":123456789012345678},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:02Z\",\"value\":-1.5E-3},"
        "{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:04Z\",\"value\":0.1e+2}]}",
    };
    static const char *const left[] = {
        "{\"readings\":[]}",
        "{\"readings\":[{}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\"}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":\"1\"}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":null,\"value\":1}]}",
        "{\"readings\":[{\"point\":1,\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
        "{\"readings\":[{\"point\":\"P1\",\"point\":\"P2\",\"ts\":\"2026-11-29T09:00:00Z\","
        "\"value\":1}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1,\"x\":1}]}",
        "{\"readings\":[{\"point\":\"P\\u0031\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
        "{\"readings\":[{\"point\":\"P\xc3\xa9\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":01}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1.}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1e999}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\","
        "\"value\":12345678901234567890}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":NaN}]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]} x",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1},]}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}],"
        "\"gateway\":\"G 1\"}",
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}],"
        "\"readings\":[]}",
        "{\"gateway\":\"G\"}",
        /* underflow: strtod says ERANGE, which the plain reader leaves to jansson */
        "{\"readings\":[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":4.9e-330}]}",
        "[{\"point\":\"P1\",\"ts\":\"2026-11-29T09:00:00Z\",\"value\":1}]",
    };
    for (size_t i = 0; i < sizeof taken / sizeof *taken; i++)
        CHECK(compare_paths(taken[i], strlen(taken[i]), __LINE__) == 1);
    for (size_t i = 0; i < sizeof left / sizeof *left; i++)
        CHECK(compare_paths(left[i], strlen(left[i]), __LINE__) == 0);
    /* every one-byte change of a plain body, and cuts: both paths agree */
    const char *base = taken[0];
    size_t n = strlen(base);
    char *buf = xmalloc(n + 2);
    static const char subst[] = "\"{}[],:0.-eE9 \\\x01\x7f";
    for (size_t i = 0; i < n; i++) {
        for (const char *c = subst; *c; c++) {
            memcpy(buf, base, n);
            buf[i] = *c;
            compare_paths(buf, n, __LINE__);
        }
        memcpy(buf, base, i); /* byte i dropped */
        memcpy(buf + i, base + i + 1, n - i - 1);
        compare_paths(buf, n - 1, __LINE__);
        compare_paths(base, i, __LINE__); /* cut */
    }
    free(buf);
    /* the item cap: above it, jansson's path answers */
    size_t saved = lim.max_items;
    lim.max_items = 2;
    CHECK(compare_paths(taken[0], strlen(taken[0]), __LINE__) == 0);
    lim.max_items = saved;
}

int main(void)
{
    ing_limits_default(&lim);
    test_limits();
    test_time();
    test_numbers();
    test_readings_ok();
    test_plain_reader();
    test_reading_rejects();
    test_reject_strings();
    test_batch_errors();
    test_events();
    test_videos();
    test_image_type();
    test_example_files();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_ing_decode: all passed\n");
    return 0;
}
