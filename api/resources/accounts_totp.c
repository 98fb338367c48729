/* The caller's own TOTP second factor (RFC 6238; administrators only):
 * enrolment hands out the secret once (otpauth:// URI for the authenticator
 * app, and the base32 text) and stores it sealed under totp_key and
 * unconfirmed; a correct code confirms it, and from then on login asks for a
 * code (sessions.c).  An administrator of the account's scope removes a lost
 * one (POST /api/v1/accounts/{id}/reset-totp, accounts.c). */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_totp.h"
#include "srv_totp.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void api_totp_init(void)
{
    db_totp_register();
}

typedef struct {
    unsigned char sealed[SRV_TOTP_SEALED_BYTES];
    int done;
} enrol_ctx;

static db_status enrol_tx(api_req *r, db_conn *c, void *arg)
{
    enrol_ctx *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    st = db_totp_set_pending(c, api_req_caller(r)->account_id, x->sealed, sizeof x->sealed,
                             &x->done);
    if (st != DB_OK || !x->done)
        return st;
    return api_audit_tx(r, c, "totp_enrol", api_req_caller(r)->username, "ok",
                        "waiting for confirmation");
}

/* Only people, and only administrators: an API key has no account. */
static int refuse_caller(api_req *r, const char *action)
{
    const api_caller *caller = api_req_caller(r);
    if (caller->account_id && caller->is_admin)
        return 0;
    api_audit(r, action, caller->username, "denied", "not an administrator's account");
    api_reply_error(r, API_E_FORBIDDEN, "only administrators' accounts have a second factor");
    return 1;
}

int api_totp_enrol(api_req *r)
{
    if (refuse_caller(r, "totp_enrol"))
        return 0;
    const api_caller *caller = api_req_caller(r);
    if (!srv_totp_available())
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "this server has no totp_key; the operator must set one first");
    unsigned char secret[SRV_TOTP_SECRET_BYTES];
    randombytes_buf(secret, sizeof secret);
    enrol_ctx x = {.done = 0};
    if (srv_totp_seal(caller->account_id, secret, x.sealed) != 0) {
        sodium_memzero(secret, sizeof secret);
        return api_reply_error(r, API_E_INTERNAL, "could not seal the secret");
    }
    db_status st = api_tx(r, enrol_tx, &x);
    if (st != DB_OK) {
        sodium_memzero(secret, sizeof secret);
        return api_reply_db(r, st);
    }
    if (!x.done) {
        sodium_memzero(secret, sizeof secret);
        api_audit(r, "totp_enrol", caller->username, "failed", "a second factor is enabled");
        return api_reply_error(r, API_E_CONFLICT,
                               "a second factor is enabled already; an administrator of your "
                               "scope can reset it");
    }
    char b32[40], uri[256];
    srv_totp_base32(secret, sizeof secret, b32, sizeof b32);
    sodium_memzero(secret, sizeof secret);
    /* user names are [a-z0-9._-]: nothing to escape in the label */
    snprintf(uri, sizeof uri,
             "otpauth://totp/dustwatch:%s?secret=%s&issuer=dustwatch&algorithm=SHA1&digits=%d&"
             "period=%d",
             caller->username, b32, SRV_TOTP_DIGITS, SRV_TOTP_STEP_S);
    json_t *out =
        json_pack("{s:s, s:s, s:b}", "secret", b32, "otpauth_uri", uri, "totp_enabled", 0);
    sodium_memzero(b32, sizeof b32);
    sodium_memzero(uri, sizeof uri);
    return api_reply_json(r, 200, out);
}

typedef enum {
    CONFIRM_OK,
    CONFIRM_NONE,
    CONFIRM_ENABLED,
    CONFIRM_WRONG,
    CONFIRM_REPLACED
} confirm_outcome;

typedef struct {
    const char *code;
    confirm_outcome outcome;
} confirm_ctx;

static db_status confirm_tx(api_req *r, db_conn *c, void *arg)
{
    confirm_ctx *x = arg;
    int64_t id = api_req_caller(r)->account_id;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    db_totp_state t;
    int found = 0;
    if ((st = db_totp_by_id(c, id, &t, &found)) != DB_OK)
        return st;
    if (!found || !t.sealed_len) {
        x->outcome = CONFIRM_NONE;
        return DB_OK;
    }
    if (t.enabled) {
        x->outcome = CONFIRM_ENABLED;
        return DB_OK;
    }
    unsigned char secret[SRV_TOTP_SECRET_BYTES];
    int64_t step = -1;
    if (srv_totp_open(id, t.sealed, t.sealed_len, secret) == 0)
        step = srv_totp_check(secret, x->code, (int64_t)time(NULL));
    sodium_memzero(secret, sizeof secret);
    if (step < 0) {
        x->outcome = CONFIRM_WRONG;
        return DB_OK;
    }
    int done = 0;
    st = db_totp_enable(c, id, t.sealed, t.sealed_len, step, &done);
    if (st != DB_OK)
        return st;
    if (!done) {
        /* changed since it was read: say how, from the latest committed state */
        if ((st = db_totp_by_id(c, id, &t, &found)) != DB_OK)
            return st;
        x->outcome = !found || !t.sealed_len ? CONFIRM_NONE
                     : t.enabled             ? CONFIRM_ENABLED
                                             : CONFIRM_REPLACED;
        return DB_OK;
    }
    return api_audit_tx(r, c, "totp_confirm", api_req_caller(r)->username, "ok",
                        "second factor enabled");
}

int api_totp_confirm(api_req *r)
{
    if (refuse_caller(r, "totp_confirm"))
        return 0;
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"code"};
    if (api_json_strict(r, body, allowed, 1) != 0)
        return 0;
    confirm_ctx x = {.code = json_string_value(json_object_get(body, "code"))};
    if (!x.code)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "code is required: the 6 digits the app shows");
    db_status st = api_tx(r, confirm_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    const char *user = api_req_caller(r)->username;
    switch (x.outcome) {
    case CONFIRM_NONE:
        api_audit(r, "totp_confirm", user, "failed", "no enrolment pending");
        return api_reply_error(r, API_E_INVALID_TRANSITION,
                               "no enrolment waits for confirmation: POST /api/v1/auth/totp first");
    case CONFIRM_ENABLED:
        api_audit(r, "totp_confirm", user, "failed", "enabled already");
        return api_reply_error(r, API_E_CONFLICT, "the second factor is enabled already");
    case CONFIRM_WRONG:
        api_audit(r, "totp_confirm", user, "failed", "wrong code");
        return api_reply_error(r, API_E_TOTP_INVALID,
                               "the code does not match the enrolled secret");
    case CONFIRM_REPLACED:
        api_audit(r, "totp_confirm", user, "failed", "enrolled again while confirming");
        return api_reply_error(r, API_E_TOTP_INVALID,
                               "the secret was enrolled again meanwhile: use a code of the "
                               "latest one");
    case CONFIRM_OK:
        break;
    }
    return api_reply_json(r, 200, json_pack("{s:b}", "totp_enabled", 1));
}
