/* Unit tests for server/ingest/ing_dialect and ing_errors: routing by the
 * dialect table, the reply bodies each dialect sends (byte for byte where
 * gateways parse them), and the error registry against the codes the
 * decoders report. */
#include "ing_dialect.h"
#include "ing_errors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

static void check_str(const char *got, const char *want, int line)
{
    if (!got || strcmp(got, want) != 0) {
        fprintf(stderr, "%s:%d: got %s\n  want %s\n", __FILE__, line, got ? got : "(null)", want);
        failures++;
    }
}
#define CHECK_STR(got, want) check_str((got), (want), __LINE__)

static void test_routes(void)
{
    static const struct {
        const char *path;
        const char *dialect; /* NULL: 404 */
        ing_kind kind;
    } cases[] = {
        {"/ingest/v1/readings", "native", ING_KIND_READINGS},
        {"/ingest/v1/events", "native", ING_KIND_EVENTS},
        {"/ingest/v1/videos", "native", ING_KIND_VIDEOS},
        {"/ingest/v1/nonesuch", NULL, 0},
        {"/ingest/v1/", NULL, 0},
        {"/rabbitmqfcsb/api/rtsData", "hebei", ING_KIND_READINGS},
        {"/rabbitmqfcsb/api/eventsData", "hebei", ING_KIND_EVENTS},
        {"/rabbitmqfcsb/api/videosData", "hebei", ING_KIND_VIDEOS},
        {"/rabbitmqfcsb/api/other", NULL, 0},
        {"/api/rtsData", NULL, 0}, /* the Hebei base path is required on the wire */
        {"/mem/v1/readings", "mem", ING_KIND_READINGS},
        {"/mem/v1/events", "mem", ING_KIND_EVENTS},
        {"/mem/v1/videos", "mem", ING_KIND_VIDEOS},
        {"/mem/v2/readings", NULL, 0},
        {"/", NULL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ing_kind kind = (ing_kind)-1;
        const ing_dialect *d = ing_dialect_route(cases[i].path, &kind);
        if (!cases[i].dialect) {
            if (d)
                fprintf(stderr, "route %s: want none, got %s\n", cases[i].path, d->name);
            CHECK(d == NULL);
            continue;
        }
        CHECK(d != NULL);
        if (!d)
            continue;
        CHECK_STR(d->name, cases[i].dialect);
        CHECK(kind == cases[i].kind);
    }
    ing_kind k;
    CHECK_STR(ing_dialect_route("/ingest/v1/readings", &k)->secret_header, "X-Api-Key");
    CHECK(ing_dialect_route("/rabbitmqfcsb/api/rtsData", &k)->secret_header == NULL);
    CHECK_STR(ing_dialect_route("/mem/v1/readings", &k)->secret_header, "appsecret");
}

static void test_registry(void)
{
    /* every code a decoder reports (ing_decode.h) has its entry and status */
    static const struct {
        const char *code;
        int status;
    } decoder_codes[] = {
        {"empty_body", 400},
        {"bad_json", 400},
        {"too_deep", 400},
        {"bad_envelope", 400},
        {"unknown_field", 400},
        {"field_too_long", 400},
        {"bad_encoding", 400},
        {"decrypt_failed", 400},
        {"enterprise_mismatch", 400},
        {"too_many_items", 413},
        {"image_too_large", 413},
        {"internal", 500},
        {"unknown_inner_decoder", 500},
    };
    for (size_t i = 0; i < sizeof decoder_codes / sizeof decoder_codes[0]; i++) {
        ing_err e = ing_err_from_code(decoder_codes[i].code);
        CHECK_STR(ing_err_code(e), decoder_codes[i].code);
        CHECK(ing_err_status(e) == decoder_codes[i].status);
    }
    CHECK(ing_err_from_code(NULL) == ING_ERR_BAD_REQUEST);
    CHECK(ing_err_from_code("no_such_code") == ING_ERR_BAD_REQUEST);
    for (int a = 0; a < ING_ERR__COUNT; a++) {
        CHECK(ing_err_hint((ing_err)a)[0] != '\0');
        CHECK(ing_err_from_code(ing_err_code((ing_err)a)) == (ing_err)a); /* codes unique */
    }
    char *s = ing_err_json(ING_ERR_BAD_IDEMPOTENCY_KEY, "Idempotency-Key has the wrong length");
    CHECK_STR(s, "{\"code\":\"bad_idempotency_key\",\"hint\":\"use 1 to 255 characters, e.g. a "
                 "UUID\",\"detail\":\"Idempotency-Key has the wrong length\"}");
    free(s);
    s = ing_err_json(ING_ERR_NOT_FOUND, NULL);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    CHECK(j && json_object_size(j) == 3 &&
          strcmp(json_string_value(json_object_get(j, "detail")), "") == 0);
    json_decref(j);
    free(s);
}

static void test_replies(void)
{
    ing_kind k;
    const ing_dialect *native = ing_dialect_route("/ingest/v1/readings", &k);
    const ing_dialect *hebei = ing_dialect_route("/rabbitmqfcsb/api/rtsData", &k);
    const ing_dialect *mem = ing_dialect_route("/mem/v1/readings", &k);
    if (!native || !hebei || !mem) {
        CHECK(!"dialects missing");
        return;
    }
    const ing_item_error errs[] = {
        {1, "P-1", "unknown_point", "unknown point"},
        {3, NULL, "missing_field", "a required field is missing"},
    };
    const ing_outcome ok = {.n_items = 4, .accepted = 4};
    const ing_outcome some = {
        .n_items = 4, .accepted = 1, .duplicate = 1, .rejected = 2, .errors = errs, .n_errors = 2};
    int st = 0;
    char *s = native->reply_outcome(&some, &st);
    CHECK(st == 200);
    CHECK_STR(s, "{\"accepted\":1,\"duplicate\":1,\"rejected\":2,\"errors\":[{\"index\":1,"
                 "\"ref\":\"P-1\",\"code\":\"unknown_point\",\"message\":\"unknown point\"},"
                 "{\"index\":3,\"ref\":null,\"code\":\"missing_field\",\"message\":\"a required "
                 "field is missing\"}]}");
    free(s);
    s = mem->reply_outcome(&ok, &st);
    CHECK(st == 200);
    CHECK_STR(s, "{\"accepted\":4,\"duplicate\":0,\"rejected\":0,\"errors\":[]}");
    free(s);

    s = hebei->reply_outcome(&ok, &st);
    CHECK(st == 200);
    CHECK_STR(s, "{\"code\":200,\"msg\":\"操作成功\",\"data\":null}");
    free(s);
    s = hebei->reply_outcome(&some, &st);
    CHECK(st == 200);
    CHECK_STR(s, "{\"code\":422,\"msg\":\"2条被拒绝 (rejected 2 of 4, accepted 1): #1 P-1 "
                 "unknown_point; #3 - missing_field;\",\"data\":null}");
    free(s);

    /* whole-request errors: our JSON with the registry's status, or Hebei's
     * verdict in the body with HTTP 200 unless the client must act */
    s = native->reply_error(ING_ERR_DECRYPT_FAILED, "wrong key", &st);
    CHECK(st == 400);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    CHECK(j && strcmp(json_string_value(json_object_get(j, "code")), "decrypt_failed") == 0);
    json_decref(j);
    free(s);
    static const struct {
        ing_err e;
        int http;
        const char *body;
    } hb[] = {
        {ING_ERR_DECRYPT_FAILED, 200,
         "{\"code\":400,\"msg\":\"decrypt_failed: wrong key\",\"data\":null}"},
        {ING_ERR_UNAUTHENTICATED, 401,
         "{\"code\":401,\"msg\":\"unauthenticated: wrong key\",\"data\":null}"},
        {ING_ERR_TOO_MANY_ITEMS, 413,
         "{\"code\":413,\"msg\":\"too_many_items: wrong key\",\"data\":null}"},
        {ING_ERR_DB_UNAVAILABLE, 503,
         "{\"code\":503,\"msg\":\"db_unavailable: wrong key\",\"data\":null}"},
        {ING_ERR_IDEMPOTENCY_KEY_IN_USE, 200,
         "{\"code\":409,\"msg\":\"idempotency_key_in_use: wrong key\",\"data\":null}"},
        {ING_ERR_OVERLOADED, 503,
         "{\"code\":503,\"msg\":\"服务繁忙，请稍后重试 (server busy, retry "
         "later)\",\"data\":null}"},
    };
    for (size_t i = 0; i < sizeof hb / sizeof hb[0]; i++) {
        s = hebei->reply_error(hb[i].e, "wrong key", &st);
        CHECK(st == hb[i].http);
        CHECK_STR(s, hb[i].body);
        free(s);
    }
}

int main(void)
{
    test_routes();
    test_registry();
    test_replies();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_ing_dialect: all passed\n");
    return 0;
}
