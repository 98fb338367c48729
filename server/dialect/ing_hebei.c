/*
 * ing_hebei — Hebei V1.1 dialect (DES-CBC, Base64, upper-case hex).
 * See ing_hebei.h.
 */
#include "ing_hebei.h"

#include "ing_crypto.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEBEI_TEXT_MAX 4096

const unsigned char ING_HEBEI_DEFAULT_IV[8] = {'1', '2', '3', '4', '5', '6', '7', '8'};

void ing_hebei_outer_free(ing_hebei_outer *o)
{
    if (o == NULL)
        return;
    free(o->qybm);
    free(o->wgbm);
    free(o->data_hex);
    free(o->img_b64);
    memset(o, 0, sizeof *o);
}

static char *dup_string(json_t *v)
{
    return strndup(json_string_value(v), json_string_length(v));
}

int ing_hebei_parse_outer(const char *body, size_t len, const ing_limits *lim, ing_hebei_outer *out,
                          ing_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = ing_json_load_object(body, len, lim->max_depth, err);
    if (root == NULL)
        return -1;
    json_t *qybm = json_object_get(root, "qybm");
    json_t *wgbm = json_object_get(root, "wgbm");
    json_t *data = json_object_get(root, "data");
    json_t *img = json_object_get(root, "img");
    if (!json_is_string(qybm) || !ing_code_valid(json_string_value(qybm))) {
        ing_error_set(err, 400, "bad_envelope", "\"qybm\" must be a non-empty code");
        goto fail;
    }
    if (!json_is_string(data) || json_string_length(data) == 0) {
        ing_error_set(err, 400, "bad_envelope", "\"data\" must be a non-empty string");
        goto fail;
    }
    if (wgbm != NULL && !json_is_null(wgbm) &&
        (!json_is_string(wgbm) || !ing_code_valid(json_string_value(wgbm)))) {
        ing_error_set(err, 400, "bad_envelope", "\"wgbm\" must be a code");
        goto fail;
    }
    if (img != NULL && !json_is_null(img) && !json_is_string(img)) {
        ing_error_set(err, 400, "bad_envelope", "\"img\" must be a string");
        goto fail;
    }
    out->qybm = dup_string(qybm);
    out->data_hex = dup_string(data);
    if (json_is_string(wgbm))
        out->wgbm = dup_string(wgbm);
    if (json_is_string(img) && json_string_length(img) > 0)
        out->img_b64 = dup_string(img);
    if (out->qybm == NULL || out->data_hex == NULL || (json_is_string(wgbm) && out->wgbm == NULL) ||
        (json_is_string(img) && json_string_length(img) > 0 && out->img_b64 == NULL)) {
        ing_error_set(err, 500, "internal", "out of memory");
        goto fail;
    }
    json_decref(root);
    return 0;
fail:
    ing_hebei_outer_free(out);
    json_decref(root);
    return -1;
}

/* data hex -> Base64 text -> DES ciphertext -> plaintext JSON. */
static char *hebei_unwrap(const char *hex, const unsigned char key[8], const unsigned char iv[8],
                          size_t *plain_len, ing_error *err)
{
    unsigned char *b64 = NULL, *cipher = NULL, *plain = NULL;
    size_t b64_len, cipher_len;
    if (ing_hex_decode(hex, strlen(hex), &b64, &b64_len) != 0) {
        ing_error_set(err, 400, "bad_encoding", "\"data\" is not a hex string");
        return NULL;
    }
    if (ing_b64_decode((const char *)b64, b64_len, &cipher, &cipher_len) != 0) {
        free(b64);
        ing_error_set(err, 400, "bad_encoding", "\"data\" is not hex of Base64");
        return NULL;
    }
    free(b64);
    if (ing_des_cbc_decrypt(key, iv, cipher, cipher_len, &plain, plain_len) != 0) {
        free(cipher);
        ing_error_set(err, 400, "decrypt_failed",
                      "\"data\" cannot be decrypted with this enterprise's key");
        return NULL;
    }
    free(cipher);
    return (char *)plain;
}

/* Number given as JSON number or numeric string.  1 ok, 0 absent, -1 bad. */
static int loose_number(json_t *v, double *out)
{
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out) ? 1 : -1;
    }
    if (json_is_string(v) && ing_parse_number_str(json_string_value(v), out) == 0)
        return 1;
    return -1;
}

static ing_reject hebei_ts(json_t *v, const ing_limits *lim, int64_t now_us, int64_t *ts)
{
    if (v == NULL || json_is_null(v))
        return ING_REJ_MISSING_FIELD;
    if (!json_is_string(v) || ing_parse_beijing(json_string_value(v), ts) != 0)
        return ING_REJ_BAD_TIMESTAMP;
    if (*ts > now_us + lim->max_future_us)
        return ING_REJ_FUTURE_TIMESTAMP;
    return ING_REJ_NONE;
}

static int oom(ing_error *err)
{
    ing_error_set(err, 500, "internal", "out of memory");
    return -1;
}

/* Copy a code field; NULL stays NULL when missing or invalid. */
static int code_copy(ing_batch *b, json_t *v, char **out, ing_error *err)
{
    *out = NULL;
    if (!json_is_string(v) || !ing_code_valid(json_string_value(v)))
        return 0;
    *out = ing_batch_strdup(b, json_string_value(v));
    return *out == NULL ? oom(err) : 0;
}

static int text_copy(ing_batch *b, json_t *v, char **out, ing_error *err)
{
    *out = NULL;
    if (!json_is_string(v))
        return 0;
    if (json_string_length(v) > HEBEI_TEXT_MAX) {
        ing_error_set(err, 400, "field_too_long", "content longer than %d bytes", HEBEI_TEXT_MAX);
        return -1;
    }
    *out = ing_batch_strdup(b, json_string_value(v));
    return *out == NULL ? oom(err) : 0;
}

static int decode_rts(ing_batch *b, json_t *item, size_t i, const ing_limits *lim, int64_t now_us,
                      ing_error *err)
{
    ing_reading *r = &b->readings[i];
    if (code_copy(b, json_object_get(item, "tnm"), &r->point, err) != 0)
        return -1;
    ing_reject rej = r->point == NULL ? ING_REJ_MISSING_FIELD : ING_REJ_NONE;
    ing_reject t = hebei_ts(json_object_get(item, "ts"), lim, now_us, &r->ts_us);
    if (rej == ING_REJ_NONE)
        rej = t;
    int n = loose_number(json_object_get(item, "val"), &r->value);
    if (rej == ING_REJ_NONE && n == 0)
        rej = ING_REJ_MISSING_FIELD;
    if (rej == ING_REJ_NONE && n < 0)
        rej = ING_REJ_NON_NUMERIC;
    r->quality = ING_Q_GOOD;
    r->reject = rej;
    return 0;
}

static int decode_hebei_event(ing_batch *b, json_t *item, size_t i, const ing_limits *lim,
                              int64_t now_us, ing_error *err)
{
    ing_event *e = &b->events[i];
    if (code_copy(b, json_object_get(item, "oname"), &e->point, err) != 0 ||
        text_copy(b, json_object_get(item, "content"), &e->content, err) != 0)
        return -1;
    ing_reject rej = e->point == NULL ? ING_REJ_MISSING_FIELD : ING_REJ_NONE;
    ing_reject t = hebei_ts(json_object_get(item, "ts"), lim, now_us, &e->ts_us);
    if (rej == ING_REJ_NONE)
        rej = t;
    /* scd: integer or integer string */
    json_t *scd = json_object_get(item, "scd");
    long long code = -1;
    char txt[32] = "";
    if (json_is_integer(scd)) {
        code = json_integer_value(scd);
        snprintf(txt, sizeof txt, "%lld", code);
    } else if (json_is_string(scd) && json_string_length(scd) > 0 && json_string_length(scd) < 20) {
        char *end;
        snprintf(txt, sizeof txt, "%s", json_string_value(scd));
        code = strtoll(txt, &end, 10);
        if (*end != '\0' || txt[0] == '-' || txt[0] == '+' || txt[0] == ' ')
            code = -1;
    }
    if (txt[0] != '\0' && (e->source_code = ing_batch_strdup(b, txt)) == NULL)
        return oom(err);
    e->level = code >= 0 && code < 16 ? lim->hebei_scd_map[code] : -1;
    if (rej == ING_REJ_NONE && scd == NULL)
        rej = ING_REJ_MISSING_FIELD;
    if (rej == ING_REJ_NONE && (e->level < ING_EV_CLEARED || e->level > ING_EV_FAULT))
        rej = ING_REJ_BAD_LEVEL;
    if (e->level < ING_EV_CLEARED || e->level > ING_EV_FAULT)
        e->level = ING_EV_FAULT;
    int nv = loose_number(json_object_get(item, "avx"), &e->value);
    int nt = loose_number(json_object_get(item, "threshold"), &e->threshold);
    e->has_value = nv > 0;
    e->has_threshold = nt > 0;
    if (rej == ING_REJ_NONE && (nv < 0 || nt < 0))
        rej = ING_REJ_NON_NUMERIC;
    if (rej == ING_REJ_NONE && e->content == NULL) /* mandatory in V1.1 */
        rej = ING_REJ_MISSING_FIELD;
    e->reject = rej;
    return 0;
}

static int decode_hebei_video(ing_batch *b, json_t *item, size_t i, const char *img_b64,
                              const ing_limits *lim, int64_t now_us, ing_error *err)
{
    ing_video *v = &b->videos[i];
    if (code_copy(b, json_object_get(item, "videoCode"), &v->camera, err) != 0 ||
        code_copy(b, json_object_get(item, "alarmType"), &v->alarm_type, err) != 0 ||
        text_copy(b, json_object_get(item, "content"), &v->content, err) != 0)
        return -1;
    ing_reject rej =
        v->camera == NULL || v->alarm_type == NULL ? ING_REJ_MISSING_FIELD : ING_REJ_NONE;
    ing_reject t = hebei_ts(json_object_get(item, "ts"), lim, now_us, &v->ts_us);
    if (rej == ING_REJ_NONE)
        rej = t;
    v->reject = rej;
    if (img_b64 != NULL && ing_video_set_image(b, v, img_b64, strlen(img_b64), lim, err) != 0)
        return -1;
    return 0;
}

/* Locate the item array (or single video object) inside the inner JSON. */
static json_t *inner_items(ing_kind kind, json_t *root, const char *qybm, json_t **single,
                           ing_error *err)
{
    *single = NULL;
    if (!json_is_object(root)) {
        ing_error_set(err, 400, "bad_envelope", "the decrypted payload must be a JSON object");
        return NULL;
    }
    json_t *iq = json_object_get(root, "qybm");
    if (iq != NULL &&
        (!json_is_string(iq) || (qybm != NULL && strcmp(json_string_value(iq), qybm) != 0))) {
        ing_error_set(err, 400, "enterprise_mismatch",
                      "the qybm inside the payload differs from the outer qybm");
        return NULL;
    }
    if (iq == NULL && kind != ING_KIND_VIDEOS) {
        ing_error_set(err, 400, "bad_envelope", "the decrypted payload lacks \"qybm\"");
        return NULL;
    }
    json_t *data = json_object_get(root, "data");
    if (kind == ING_KIND_VIDEOS) {
        if (data == NULL) {
            *single = root; /* bare {"ts","videoCode","alarmType","content"} */
            return NULL;
        }
        json_t *arr = json_object_get(data, "videos");
        if (json_is_array(arr))
            return arr;
        if (json_is_object(data)) {
            *single = data;
            return NULL;
        }
        ing_error_set(err, 400, "bad_envelope", "the decrypted payload has no video");
        return NULL;
    }
    const char *name = kind == ING_KIND_READINGS ? "rts" : "events";
    json_t *arr = json_is_object(data) ? json_object_get(data, name) : NULL;
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        ing_error_set(err, 400, "bad_envelope", "data.%s must be a non-empty array", name);
        return NULL;
    }
    return arr;
}

int ing_hebei_decode_inner(ing_kind kind, const char *json, size_t len, const char *expected_qybm,
                           const char *wgbm, const char *img_b64, const ing_limits *lim,
                           int64_t now_us, ing_batch **out, ing_error *err)
{
    *out = NULL;
    json_t *root = ing_json_load(json, len, lim->max_depth, err);
    if (root == NULL)
        return -1;
    ing_batch *b = NULL;
    json_t *single = NULL;
    json_t *arr = inner_items(kind, root, expected_qybm, &single, err);
    if (arr == NULL && single == NULL)
        goto fail;
    size_t n = arr != NULL ? json_array_size(arr) : 1;
    if (n > lim->max_items) {
        ing_error_set(err, 413, "too_many_items", "%zu items, at most %zu per batch", n,
                      lim->max_items);
        goto fail;
    }
    const char *qybm = expected_qybm;
    if (qybm == NULL) {
        json_t *iq = json_object_get(root, "qybm");
        qybm = json_is_string(iq) ? json_string_value(iq) : NULL;
    }
    b = ing_batch_new(kind);
    if (b == NULL || ing_batch_alloc_items(b, n) != 0 ||
        (qybm != NULL && (b->enterprise_code = ing_batch_strdup(b, qybm)) == NULL) ||
        (wgbm != NULL && (b->gateway_code = ing_batch_strdup(b, wgbm)) == NULL)) {
        oom(err);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *item = arr != NULL ? json_array_get(arr, i) : single;
        if (!json_is_object(item)) {
            ing_error_set(err, 400, "bad_envelope", "item %zu is not an object", i);
            goto fail;
        }
        int rc = kind == ING_KIND_READINGS ? decode_rts(b, item, i, lim, now_us, err)
                 : kind == ING_KIND_EVENTS
                     ? decode_hebei_event(b, item, i, lim, now_us, err)
                     : decode_hebei_video(b, item, i, img_b64, lim, now_us, err);
        if (rc != 0)
            goto fail;
    }
    if (ing_batch_mark_duplicates(b) != 0) {
        oom(err);
        goto fail;
    }
    json_decref(root);
    *out = b;
    return 0;
fail:
    ing_batch_free(b);
    json_decref(root);
    return -1;
}

int ing_hebei_decode(ing_kind kind, const ing_hebei_outer *o, const unsigned char key[8],
                     const unsigned char iv[8], const ing_limits *lim, int64_t now_us,
                     ing_batch **out, ing_error *err)
{
    *out = NULL;
    if (o == NULL || o->qybm == NULL || o->data_hex == NULL) {
        ing_error_set(err, 400, "bad_envelope", "missing qybm or data");
        return -1;
    }
    size_t plain_len;
    char *plain = hebei_unwrap(o->data_hex, key, iv, &plain_len, err);
    if (plain == NULL)
        return -1;
    int rc = ing_hebei_decode_inner(kind, plain, plain_len, o->qybm, o->wgbm, o->img_b64, lim,
                                    now_us, out, err);
    free(plain);
    return rc;
}

int ing_hebei_encode(ing_kind kind, const char *inner_json, const char *qybm, const char *wgbm,
                     const unsigned char key[8], const unsigned char iv[8],
                     const char *img_b64_or_null, char **out_body)
{
    *out_body = NULL;
    if (inner_json == NULL || qybm == NULL)
        return -1;
    unsigned char *cipher;
    size_t cipher_len;
    char *b64 = NULL, *hex = NULL;
    if (ing_des_cbc_encrypt(key, iv, (const unsigned char *)inner_json, strlen(inner_json), &cipher,
                            &cipher_len) != 0)
        return -1;
    int rc = ing_b64_encode(cipher, cipher_len, &b64);
    free(cipher);
    if (rc != 0)
        return -1;
    rc = ing_hex_encode((const unsigned char *)b64, strlen(b64), 1, &hex);
    free(b64);
    if (rc != 0)
        return -1;
    json_t *o = json_object();
    int bad = o == NULL;
    bad = bad || json_object_set_new(o, "qybm", json_string(qybm)) != 0;
    if (wgbm != NULL)
        bad = bad || json_object_set_new(o, "wgbm", json_string(wgbm)) != 0;
    bad = bad || json_object_set_new(o, "data", json_string(hex)) != 0;
    if (img_b64_or_null != NULL)
        bad = bad || json_object_set_new(o, "img", json_string(img_b64_or_null)) != 0;
    free(hex);
    if (!bad)
        *out_body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *out_body != NULL ? 0 : -1;
}

char *ing_hebei_reply(int code, const char *msg)
{
    if (msg == NULL)
        msg = code == 200 ? "操作成功" : "操作失败";
    json_t *s = json_string(msg);
    if (s == NULL)
        s = json_string("invalid message");
    char *esc = s != NULL ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(s);
    if (esc == NULL)
        return NULL;
    char *out = NULL;
    if (asprintf(&out, "{\"code\":%d,\"msg\":%s,\"data\":null}", code, esc) < 0)
        out = NULL;
    free(esc);
    return out;
}

char *ing_hebei_reply_error(const ing_error *err)
{
    char msg[320];
    snprintf(msg, sizeof msg, "%s: %s", err->code ? err->code : "error", err->detail);
    return ing_hebei_reply(err->http_status ? err->http_status : 500, msg);
}

int ing_hebei_kind_for_path(const char *path, ing_kind *kind)
{
    static const char *const routes[] = {
        [ING_KIND_READINGS] = "/api/rtsData",
        [ING_KIND_EVENTS] = "/api/eventsData",
        [ING_KIND_VIDEOS] = "/api/videosData",
    };
    if (path != NULL && strncmp(path, "/rabbitmqfcsb", 13) == 0)
        path += 13;
    return ing_kind_for_route(path, routes, kind);
}
