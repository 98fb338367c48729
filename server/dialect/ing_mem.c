/*
 * ing_mem — MEM national dialect: {"appid","data": hex(SM4-CBC-PKCS5)}.
 * See ing_mem.h.
 */
#include "ing_mem.h"

#include "ing_crypto.h"
#include "ing_hebei.h"

#include <stdlib.h>
#include <string.h>

void ing_mem_outer_free(ing_mem_outer *o)
{
    if (o == NULL)
        return;
    free(o->appid);
    free(o->data_hex);
    memset(o, 0, sizeof *o);
}

int ing_mem_parse_outer(const char *body, size_t len, const ing_limits *lim, ing_mem_outer *out,
                        ing_error *err)
{
    memset(out, 0, sizeof *out);
    json_t *root = ing_json_load_object(body, len, lim->max_depth, err);
    if (root == NULL)
        return -1;
    json_t *appid = json_object_get(root, "appid");
    json_t *data = json_object_get(root, "data");
    int rc = -1;
    if (!json_is_string(appid) || !ing_code_valid(json_string_value(appid))) {
        ing_error_set(err, 400, "bad_envelope", "\"appid\" must be a non-empty code");
    } else if (!json_is_string(data) || json_string_length(data) == 0) {
        ing_error_set(err, 400, "bad_envelope", "\"data\" must be a non-empty hex string");
    } else {
        out->appid = strdup(json_string_value(appid));
        out->data_hex = strndup(json_string_value(data), json_string_length(data));
        if (out->appid == NULL || out->data_hex == NULL) {
            ing_mem_outer_free(out);
            ing_error_set(err, 500, "internal", "out of memory");
        } else {
            rc = 0;
        }
    }
    json_decref(root);
    return rc;
}

static int hebei_inner(ing_kind kind, const char *body, size_t len, const ing_limits *lim,
                       int64_t now_us, ing_batch **out, ing_error *err)
{
    return ing_hebei_decode_inner(kind, body, len, NULL, NULL, NULL, lim, now_us, out, err);
}

static const struct {
    const char *name;
    ing_inner_decode_fn fn;
} inner_decoders[] = {
    {"native", ing_decode_native},
    {"hebei", hebei_inner},
};

ing_inner_decode_fn ing_mem_inner_decoder(const char *name)
{
    if (name == NULL)
        name = "native";
    for (size_t i = 0; i < sizeof inner_decoders / sizeof inner_decoders[0]; i++)
        if (strcmp(inner_decoders[i].name, name) == 0)
            return inner_decoders[i].fn;
    return NULL;
}

int ing_mem_decode(ing_kind kind, const ing_mem_outer *o, const unsigned char key[16],
                   const unsigned char iv[16], const char *inner_decoder, const ing_limits *lim,
                   int64_t now_us, ing_batch **out, ing_error *err)
{
    *out = NULL;
    ing_inner_decode_fn fn = ing_mem_inner_decoder(inner_decoder);
    if (fn == NULL) {
        ing_error_set(err, 500, "unknown_inner_decoder", "no inner decoder named \"%.64s\"",
                      inner_decoder);
        return -1;
    }
    if (o == NULL || o->data_hex == NULL) {
        ing_error_set(err, 400, "bad_envelope", "missing data");
        return -1;
    }
    unsigned char *cipher, *plain;
    size_t cipher_len, plain_len;
    if (ing_hex_decode(o->data_hex, strlen(o->data_hex), &cipher, &cipher_len) != 0) {
        ing_error_set(err, 400, "bad_encoding", "\"data\" is not a hex string");
        return -1;
    }
    int rc = ing_sm4_cbc_decrypt(key, iv, cipher, cipher_len, &plain, &plain_len);
    free(cipher);
    if (rc != 0) {
        ing_error_set(err, 400, "decrypt_failed",
                      "\"data\" cannot be decrypted with this appid's key");
        return -1;
    }
    rc = fn(kind, (const char *)plain, plain_len, lim, now_us, out, err);
    free(plain);
    return rc;
}

int ing_mem_encode(const char *inner_json, const char *appid, const unsigned char key[16],
                   const unsigned char iv[16], char **out_body)
{
    *out_body = NULL;
    if (inner_json == NULL || appid == NULL)
        return -1;
    unsigned char *cipher;
    size_t cipher_len;
    char *hex;
    if (ing_sm4_cbc_encrypt(key, iv, (const unsigned char *)inner_json, strlen(inner_json), &cipher,
                            &cipher_len) != 0)
        return -1;
    int rc = ing_hex_encode(cipher, cipher_len, 1, &hex);
    free(cipher);
    if (rc != 0)
        return -1;
    json_t *o = json_pack("{s:s, s:s}", "appid", appid, "data", hex);
    free(hex);
    if (o != NULL)
        *out_body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return *out_body != NULL ? 0 : -1;
}

int ing_mem_kind_for_path(const char *path, ing_kind *kind)
{
    static const char *const routes[] = {
        [ING_KIND_READINGS] = "/mem/v1/readings",
        [ING_KIND_EVENTS] = "/mem/v1/events",
        [ING_KIND_VIDEOS] = "/mem/v1/videos",
    };
    return ing_kind_for_route(path, routes, kind);
}
