/*
 * ing_hebei — Hebei "粉尘涉爆企业监测预警系统数据上传接口文档 V1.1" dialect.
 *
 * Endpoints (under /rabbitmqfcsb): POST /api/rtsData (readings),
 * /api/eventsData (alarms and clears), /api/videosData (video alarms).
 * Outer plaintext JSON {"qybm", "wgbm"?, "data", "img"?}; data = UPPER-case
 * hex of Base64 of DES-CBC-PKCS5(UTF-8 JSON), key 8 bytes per enterprise,
 * IV "12345678" unless configured otherwise.
 *
 * Decrypted inner payloads (domain.md §2.3):
 *   readings {"qybm","data":{"rts":[{"tnm","ts","val"}]}}
 *   events   {"qybm","data":{"events":[{"ts","oname","avx","scd","threshold","content"}]}}
 *   videos   {"ts","videoCode","alarmType","content"} (bare, as documented);
 *            also accepted: {"qybm","data":{...one video...}} and
 *            {"qybm","data":{"videos":[...]}}.  The outer img (Base64 JPEG, PNG or WebP)
 *            is attached to every video item of the request.
 * ts is Beijing local time "yyyy-MM-dd HH:mm:ss" (UTC+8, no DST).  val/avx/
 * threshold may be JSON numbers or strings holding a number; scd an integer
 * or an integer string, mapped through ing_limits.hebei_scd_map.  The inner
 * qybm, when present, must equal the outer one (required for rts/events).
 * Unknown fields are ignored in this dialect (provincial gateways vary);
 * our own format is the strict one.
 *
 * Two steps, because the server looks the key up by qybm in between:
 *   ing_hebei_parse_outer() -> look up key by outer.qybm -> ing_hebei_decode().
 * Pure, reentrant; see ing_crypto.h for the OpenSSL provider loading.
 */
#ifndef DW_ING_HEBEI_H
#define DW_ING_HEBEI_H

#include "ing_decode.h"

/* "12345678", the IV the V1.1 document prescribes. */
extern const unsigned char ING_HEBEI_DEFAULT_IV[8];

/* All strings malloc'd; wgbm and img_b64 may be NULL.  The struct itself is
 * the caller's (usually on the stack); ing_hebei_outer_free frees the
 * strings and zeroes it (NULL-safe, idempotent). */
typedef struct {
    char *qybm;
    char *wgbm;
    char *data_hex;
    char *img_b64;
} ing_hebei_outer;

void ing_hebei_outer_free(ing_hebei_outer *o);

/* 0 and *out filled, or -1 and *err (400 bad_json/bad_envelope/...). */
int ing_hebei_parse_outer(const char *body, size_t len, const ing_limits *lim, ing_hebei_outer *out,
                          ing_error *err);

/* Decrypt and decode.  Errors: 400 bad_encoding (hex/Base64),
 * decrypt_failed (wrong key or corrupted data), bad_json, bad_envelope,
 * enterprise_mismatch; 413 too_many_items, image_too_large.  On success the
 * batch has enterprise_code = qybm and gateway_code = wgbm (may be NULL). */
int ing_hebei_decode(ing_kind kind, const ing_hebei_outer *o, const unsigned char key[8],
                     const unsigned char iv[8], const ing_limits *lim, int64_t now_us,
                     ing_batch **out, ing_error *err);

/* The inner step alone, on plaintext JSON: used by ing_hebei_decode and by
 * the MEM "hebei" inner decoder.  expected_qybm NULL => no comparison, the
 * inner qybm (required for rts/events) becomes enterprise_code.  wgbm and
 * img_b64 may be NULL. */
int ing_hebei_decode_inner(ing_kind kind, const char *json, size_t len, const char *expected_qybm,
                           const char *wgbm, const char *img_b64, const ing_limits *lim,
                           int64_t now_us, ing_batch **out, ing_error *err);

/* Build a complete outer body (for tests and the simulator).  wgbm and
 * img_b64 may be NULL.  *out_body malloc'd, caller frees.  0 / -1. */
int ing_hebei_encode(ing_kind kind, const char *inner_json, const char *qybm, const char *wgbm,
                     const unsigned char key[8], const unsigned char iv[8],
                     const char *img_b64_or_null, char **out_body);

/* Response body: code 200 and msg NULL gives exactly
 * {"code":200,"msg":"操作成功","data":null}; otherwise
 * {"code":<code>,"msg":"<msg>","data":null}.  Returns a malloc'd string
 * (caller frees) or NULL on OOM. */
char *ing_hebei_reply(int code, const char *msg);
/* Reply for a decoder error: code = err->http_status, msg = "<code>: <detail>". */
char *ing_hebei_reply_error(const ing_error *err);

/* Map a request path ("/rabbitmqfcsb/api/rtsData", or the part after the
 * base path, "/api/rtsData") to a kind.  0 / -1. */
int ing_hebei_kind_for_path(const char *path, ing_kind *kind);

#endif /* DW_ING_HEBEI_H */
