/*
 * ing_mem — MEM national transport (应急管理部粉尘涉爆监测预警平台, domain.md §2.2).
 *
 *   POST <endpoint>            (ours: /mem/v1/readings, /mem/v1/events, /mem/v1/videos)
 *   appsecret: <secret issued per appid>   (HTTP header; the server checks it
 *                                           with ing_secret_equal())
 *   {"appid": "<appid>", "data": "<hex of SM4-CBC-PKCS5(JSON payload)>"}
 *
 * The 16-byte SM4 key and IV are issued per appid.  Hex may be upper or
 * lower case (we encode upper).  The national plaintext field names are not
 * public, so the decrypted payload is decoded by a pluggable inner decoder
 * chosen by name: "native" (our format v1, the default) or "hebei" (the
 * Hebei inner shape {"qybm","data":{"rts"|"events":[...]}}, unencrypted).
 * Unknown outer fields are ignored.
 *
 * Pure and reentrant.  Batches from the "native" inner decoder carry no
 * enterprise_code: the server maps appid -> enterprise.
 */
#ifndef DW_ING_MEM_H
#define DW_ING_MEM_H

#include "ing_decode.h"

/* Strings malloc'd; free with ing_mem_outer_free (struct is the caller's). */
typedef struct {
    char *appid;
    char *data_hex;
} ing_mem_outer;

void ing_mem_outer_free(ing_mem_outer *o);

int ing_mem_parse_outer(const char *body, size_t len, const ing_limits *lim, ing_mem_outer *out,
                        ing_error *err);

/* Inner decoder signature (same as ing_decode_native). */
typedef int (*ing_inner_decode_fn)(ing_kind kind, const char *body, size_t len,
                                   const ing_limits *lim, int64_t now_us, ing_batch **out,
                                   ing_error *err);

/* Look up an inner decoder by name; NULL if unknown.  NULL name => "native". */
ing_inner_decode_fn ing_mem_inner_decoder(const char *name);

/* Decrypt and decode.  Errors: 400 bad_encoding, decrypt_failed, plus
 * whatever the inner decoder reports; 500 unknown_inner_decoder. */
int ing_mem_decode(ing_kind kind, const ing_mem_outer *o, const unsigned char key[16],
                   const unsigned char iv[16], const char *inner_decoder, const ing_limits *lim,
                   int64_t now_us, ing_batch **out, ing_error *err);

/* Build {"appid":..., "data": HEX(SM4-CBC(inner_json))}.  *out_body
 * malloc'd.  0 / -1. */
int ing_mem_encode(const char *inner_json, const char *appid, const unsigned char key[16],
                   const unsigned char iv[16], char **out_body);

/* Map "/mem/v1/readings" etc. to a kind.  0 / -1. */
int ing_mem_kind_for_path(const char *path, ing_kind *kind);

#endif /* DW_ING_MEM_H */
