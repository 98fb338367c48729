#include "ing_dialect.h"

#include "db_ingest.h"
#include "ing_guard.h"
#include "ing_hebei.h"
#include "ing_mem.h"
#include "srv_config.h"
#include "srv_cred.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared steps ------------------------------------------------------ */

static int refuse(ing_refusal *why, ing_err e, const char *detail)
{
    why->err = e;
    snprintf(why->detail, sizeof why->detail, "%s", detail);
    return 1;
}

/* A decoder's whole-batch error: its code names the registry entry. */
static int refuse_decode(ing_refusal *why, const ing_error *err)
{
    return refuse(why, ing_err_from_code(err->code), err->detail);
}

static void set_origin(ing_origin *who, const db_ingest_cred *cred)
{
    who->enterprise_id = cred->enterprise_id;
    snprintf(who->enterprise_code, sizeof who->enterprise_code, "%s", cred->enterprise_code);
}

static void secret_hash(const char *secret, unsigned char out[32])
{
    if (!secret)
        secret = "";
    crypto_hash_sha256(out, (const unsigned char *)secret, strlen(secret));
}

/* ---- encrypted dialects: one answer for every undecipherable body ------ */

/* The answer to every Hebei/MEM body that the credential's key does not turn
 * into a valid batch, whatever failed: hex, Base64, padding, JSON, shape,
 * inner qybm, sizes.  Answers that differ by stage (decrypt_failed against
 * bad_json), or that quote the decrypted text (jansson's "near '...'"), are a
 * padding oracle: they recovered captured plaintext byte by byte knowing only
 * the public enterprise code.  The stage goes to the operators' log only. */
#define UNDECIPHERABLE_DETAIL                                                                      \
    "\"data\" could not be decrypted and decoded with this credential's key and IV"

/* Refuses a request whose credential is locked out from this address. */
static int refuse_if_locked(const char *credential, const ing_request *req, ing_refusal *why)
{
    long left = ing_guard_locked(credential, req->peer);
    if (left <= 0)
        return 0;
    why->retry_after_s = left > 86400 ? 86400 : (int)left;
    return refuse(why, ING_ERR_DECRYPT_LOCKED, "locked out after too many failed decryptions");
}

/* A decoder failure after the credential was found: counted, and answered
 * the one way above (or as the lockout it caused).  Out of memory and a
 * misconfigured server stay what they are: they depend on no ciphertext. */
static int refuse_undecipherable(db_conn *c, const char *credential, const ing_request *req,
                                 const ing_error *err, ing_refusal *why)
{
    ing_err e = ing_err_from_code(err->code);
    if (e == ING_ERR_INTERNAL || e == ING_ERR_UNKNOWN_INNER_DECODER)
        return refuse_decode(why, err);
    long locked = ing_guard_fail(c, credential, req->peer, ing_err_code(e));
    if (locked < 0)
        return -1;
    if (locked > 0) {
        why->retry_after_s = locked > 86400 ? 86400 : (int)locked;
        return refuse(why, ING_ERR_DECRYPT_LOCKED, "locked out after too many failed decryptions");
    }
    return refuse(why, ING_ERR_DECRYPT_FAILED, UNDECIPHERABLE_DETAIL);
}

/* ---- JSON replies (our format v1 and MEM) ------------------------------ */

static char *json_reply_outcome(const ing_outcome *o, int *http_status)
{
    json_t *errors = json_array();
    /* the counts are complete; the list stays small enough to read */
    for (size_t i = 0; i < o->n_errors && i < 1000; i++) {
        const ing_item_error *e = &o->errors[i];
        json_array_append_new(errors,
                              json_pack("{s:I, s:s?, s:s, s:s}", "index", (json_int_t)e->index,
                                        "ref", e->ref, "code", e->code, "message", e->message));
    }
    json_t *body =
        json_pack("{s:I, s:I, s:I, s:o}", "accepted", (json_int_t)o->accepted, "duplicate",
                  (json_int_t)o->duplicate, "rejected", (json_int_t)o->rejected, "errors", errors);
    /* only when there are any: the answer to a batch without conflicts keeps
     * its shape (and what Idempotency-Key replays of older answers say) */
    if (body && o->conflicting > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < o->n_conflicts && i < 1000; i++) {
            const ing_item_conflict *k = &o->conflicts[i];
            json_array_append_new(
                list, json_pack("{s:I, s:s?, s:s, s:s, s:f, s:f}", "index", (json_int_t)k->index,
                                "ref", k->ref, "code", "conflicting_value", "message",
                                "another value is stored for this point and instant; this one "
                                "is kept apart in the point's data quality",
                                "value", k->value, "stored_value", k->stored_value));
        }
        json_object_set_new(body, "conflicting", json_integer((json_int_t)o->conflicting));
        json_object_set_new(body, "conflicts", list);
    }
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    *http_status = 200;
    return s;
}

static char *json_reply_error(ing_err e, const char *detail, int *http_status)
{
    *http_status = ing_err_status(e);
    return ing_err_json(e, detail);
}

/* ---- our format v1: X-Api-Key, strict JSON ----------------------------- */

static int native_open(db_conn *c, const ing_request *req, const ing_limits *lim, int64_t now_us,
                       ing_batch **batch, ing_origin *who, ing_refusal *why)
{
    if (!req->secret || !*req->secret)
        return refuse(why, ING_ERR_UNAUTHENTICATED, "no X-Api-Key header");
    unsigned char h[32];
    secret_hash(req->secret, h);
    db_ingest_cred cred;
    int found;
    if (db_ingest_cred_api(c, h, &cred, &found) != DB_OK)
        return -1;
    if (!found && strncmp(req->secret, SRV_CRED_REST_KEY_PREFIX, 4) == 0)
        return refuse(why, ING_ERR_UNAUTHENTICATED,
                      "this is a REST API key (dwa_…, for /api/v1), not an ingest credential: "
                      "issue a gateway credential (dwk_…) under 设备与接入 / "
                      "POST /api/v1/enterprises/{id}/ingest-credentials");
    if (!found)
        return refuse(why, ING_ERR_UNAUTHENTICATED, "unknown or revoked API key");
    set_origin(who, &cred);
    ing_error err = {0};
    if (ing_decode_native(req->kind, req->body, req->body_len, lim, now_us, batch, &err) != 0)
        return refuse_decode(why, &err);
    return 0;
}

/* ---- Hebei V1.1: the enterprise code in the body, DES ------------------ */

static int hebei_open(db_conn *c, const ing_request *req, const ing_limits *lim, int64_t now_us,
                      ing_batch **batch, ing_origin *who, ing_refusal *why)
{
    ing_error err = {0};
    ing_hebei_outer o = {0};
    if (ing_hebei_parse_outer(req->body, req->body_len, lim, &o, &err) != 0) {
        ing_hebei_outer_free(&o);
        return refuse_decode(why, &err);
    }
    db_ingest_cred cred;
    int found;
    if (db_ingest_cred_hebei(c, o.qybm, &cred, &found) != DB_OK) {
        ing_hebei_outer_free(&o);
        return -1;
    }
    if (!found) {
        sodium_memzero(&cred, sizeof cred);
        ing_hebei_outer_free(&o);
        return refuse(why, ING_ERR_UNAUTHENTICATED, "unknown enterprise code or no key issued");
    }
    set_origin(who, &cred);
    char credential[128];
    snprintf(credential, sizeof credential, "hebei_des:%s", o.qybm);
    if (refuse_if_locked(credential, req, why)) {
        sodium_memzero(&cred, sizeof cred);
        ing_hebei_outer_free(&o);
        return 1;
    }
    unsigned char iv[8];
    memset(iv, 0, sizeof iv);
    size_t ivl = strlen(g_config.ingest_hebei_iv);
    memcpy(iv, g_config.ingest_hebei_iv, ivl < 8 ? ivl : 8);
    int rc = ing_hebei_decode(req->kind, &o, cred.key, iv, lim, now_us, batch, &err);
    sodium_memzero(&cred, sizeof cred);
    ing_hebei_outer_free(&o);
    return rc != 0 ? refuse_undecipherable(c, credential, req, &err, why) : 0;
}

/* The protocol carries the verdict in the body's code, per-item rejects in
 * its msg. */
static char *hebei_reply_outcome(const ing_outcome *o, int *http_status)
{
    *http_status = 200;
    if (o->rejected == 0)
        return ing_hebei_reply(200, NULL);
    char msg[512];
    int off =
        snprintf(msg, sizeof msg, "%ld条被拒绝 (rejected %ld of %zu, accepted %ld):", o->rejected,
                 o->rejected, o->n_items, o->accepted);
    for (size_t i = 0; i < o->n_errors && off < (int)sizeof msg - 80; i++) {
        const ing_item_error *e = &o->errors[i];
        off += snprintf(msg + off, sizeof msg - (size_t)off, " #%zu %.40s %s;", e->index,
                        e->ref ? e->ref : "-", e->code);
    }
    return ing_hebei_reply(422, msg);
}

static char *hebei_reply_error(ing_err e, const char *detail, int *http_status)
{
    int status = ing_err_status(e);
    char msg[400];
    if (e == ING_ERR_OVERLOADED)
        snprintf(msg, sizeof msg, "服务繁忙，请稍后重试 (server busy, retry later)");
    else
        snprintf(msg, sizeof msg, "%s: %s", ing_err_code(e), detail ? detail : "");
    /* HTTP status stays 200 except when the client should back off, or the
     * gateway's configuration (credential, size) is wrong */
    *http_status = status == 503 || status == 429 || status == 401 || status == 413 ? status : 200;
    return ing_hebei_reply(status, msg);
}

/* ---- MEM national: appid + appsecret header, SM4 ----------------------- */

static int mem_open(db_conn *c, const ing_request *req, const ing_limits *lim, int64_t now_us,
                    ing_batch **batch, ing_origin *who, ing_refusal *why)
{
    ing_error err = {0};
    ing_mem_outer o = {0};
    if (ing_mem_parse_outer(req->body, req->body_len, lim, &o, &err) != 0) {
        ing_mem_outer_free(&o);
        return refuse_decode(why, &err);
    }
    unsigned char h[32];
    secret_hash(req->secret, h);
    db_ingest_cred cred;
    int found;
    if (db_ingest_cred_mem(c, o.appid, h, &cred, &found) != DB_OK) {
        ing_mem_outer_free(&o);
        return -1;
    }
    if (!found || !cred.secret_ok) {
        sodium_memzero(&cred, sizeof cred);
        ing_mem_outer_free(&o);
        return refuse(why, ING_ERR_UNAUTHENTICATED, "unknown appid or wrong appsecret");
    }
    set_origin(who, &cred);
    char credential[128];
    snprintf(credential, sizeof credential, "mem_sm4:%s", o.appid);
    if (refuse_if_locked(credential, req, why)) {
        sodium_memzero(&cred, sizeof cred);
        ing_mem_outer_free(&o);
        return 1;
    }
    int rc = ing_mem_decode(req->kind, &o, cred.key, cred.iv, "native", lim, now_us, batch, &err);
    sodium_memzero(&cred, sizeof cred);
    ing_mem_outer_free(&o);
    return rc != 0 ? refuse_undecipherable(c, credential, req, &err, why) : 0;
}

/* ---- the table --------------------------------------------------------- */

static const ing_dialect dialects[] = {
    {
        .name = "native",
        .path_prefix = "/ingest/v1/",
        .kind_for_path = ing_native_kind_for_path,
        .secret_header = "X-Api-Key",
        .open = native_open,
        .reply_outcome = json_reply_outcome,
        .reply_error = json_reply_error,
    },
    {
        .name = "hebei",
        .path_prefix = "/rabbitmqfcsb/",
        .kind_for_path = ing_hebei_kind_for_path,
        .secret_header = NULL,
        .open = hebei_open,
        .reply_outcome = hebei_reply_outcome,
        .reply_error = hebei_reply_error,
    },
    {
        .name = "mem",
        .path_prefix = "/mem/v1/",
        .kind_for_path = ing_mem_kind_for_path,
        .secret_header = "appsecret",
        .open = mem_open,
        .reply_outcome = json_reply_outcome,
        .reply_error = json_reply_error,
    },
};

const ing_dialect *ing_dialect_route(const char *path, ing_kind *kind)
{
    for (size_t i = 0; i < sizeof dialects / sizeof dialects[0]; i++) {
        const ing_dialect *d = &dialects[i];
        if (strncmp(path, d->path_prefix, strlen(d->path_prefix)) == 0 &&
            d->kind_for_path(path, kind) == 0)
            return d;
    }
    return NULL;
}
