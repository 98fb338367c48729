/* Ingest credentials over REST: list, issue, revoke.
 *
 * The secret is generated here (srv_cred.c, the same generator as `dustwatch
 * admin create-credential`) and answered exactly once, in the 201 of the
 * POST; lists and the audit trail carry only the kind, label, key prefix or
 * appid and the dates.  The database keeps what the ingest listener needs
 * to check a gateway: the SHA-256 of an API key or MEM appsecret, and the
 * Hebei DES key and MEM SM4 key/IV it decrypts with, sealed with the master
 * key (server/core/srv_cred.h).
 *
 * Revocation is immediate: the ingest writers look the credential up in
 * PostgreSQL for every request (server/ingest/ing_writer.c runs the
 * dialect's authenticate step of server/ingest/ing_dialect.c, which reads it
 * with db_ingest_cred_*; nothing caches it), so the first request after the
 * revoking COMMIT is refused.  A revoked credential stays in the table for
 * the audit trail and cannot be revived; issue a new one.
 *
 * Administrators only (city_admin, district_admin, enterprise_manager):
 * these are keys to the enterprise's data feed.  An enterprise manager
 * issues and revokes its own, so a leaked key can be killed without waiting
 * for the district. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_credentials.h"
#include "srv_config.h"
#include "srv_cred.h"

#include <stdio.h>
#include <string.h>

int api_ingest_credentials_list(api_req *r)
{
    return api_read_by_id(r, "enterprise", db_credentials_list);
}

/* ---- issue -------------------------------------------------------------- */

typedef struct {
    const char *enterprise, *kind, *label;
    long long enterprise_id;
    const srv_cred *cred;
    const char *detail; /* the audit record's, identifiers only */
    int64_t id;
    json_t *row;
    db_diag diag;
} issue_ctx;

static db_status issue_tx(api_req *r, db_conn *c, void *arg)
{
    issue_ctx *x = arg;
    json_decref(x->row);
    x->row = NULL;
    x->id = 0;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    db_status st = db_credentials_insert(c, &s, x->enterprise_id, x->kind, x->label, x->cred,
                                         &x->id, &x->diag);
    if (st != DB_OK || !x->id)
        return st;
    st = db_credentials_get(c, &s, x->id, &x->row);
    if (st != DB_OK)
        return st;
    char obj[64];
    snprintf(obj, sizeof obj, "ingest_credential:%lld", (long long)x->id);
    return api_audit_tx(r, c, "ingest_credential_create", obj, "ok", x->detail);
}

static int reply_issue_refused(api_req *r, const issue_ctx *x, db_status st)
{
    if (st != DB_BAD)
        return api_reply_db(r, st);
    if (strcmp(x->diag.constraint, "ingest_credentials_hebei_idx") == 0)
        return api_reply_error(r, API_E_CONFLICT,
                               "the enterprise has an active hebei_des credential; the Hebei "
                               "dialect names the enterprise, not the key, so it has one at a "
                               "time: revoke the old one first");
    if (strcmp(x->diag.constraint, "ingest_credentials_appid_key") == 0)
        return api_reply_error(r, API_E_CONFLICT, "appid \"%s\" is in use", x->cred->appid);
    return api_reply_error(r, API_E_UNPROCESSABLE, "%s", x->diag.message);
}

/* The secrets of c as the gateway's installer needs them (new reference). */
static json_t *secret_json(const srv_cred *c)
{
    switch (c->kind) {
    case SRV_CRED_API_KEY:
        return json_pack("{s:s, s:s}", "api_key", c->api_key, "header", "X-Api-Key");
    case SRV_CRED_HEBEI_DES:
        /* the IV is the deployment's, the same for every enterprise */
        return json_pack("{s:s, s:s}", "des_key", c->des_key, "des_iv", g_config.ingest_hebei_iv);
    case SRV_CRED_MEM_SM4:
        return json_pack("{s:s, s:s, s:s, s:s}", "appid", c->appid, "appsecret", c->appsecret,
                         "sm4_key", c->sm4_key_hex, "sm4_iv", c->sm4_iv_hex);
    }
    return json_object();
}

int api_ingest_credential_create(api_req *r)
{
    const char *enterprise = api_req_param(r, "id");
    long long enterprise_id = api_parse_id(enterprise);
    if (enterprise_id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"kind", "label", "appid"};
    if (api_json_strict(r, body, allowed, 3) != 0)
        return 0;
    const char *kind_name, *label, *appid;
    if (api_body_text(r, body, "kind", 1, 16, &kind_name) ||
        api_body_text(r, body, "label", 0, SRV_CRED_LABEL_MAX, &label) ||
        api_body_text(r, body, "appid", 0, 64, &appid))
        return 0;
    srv_cred_kind kind;
    if (srv_cred_kind_parse(kind_name, &kind) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "kind must be api_key, hebei_des or mem_sm4");
    if (*appid && kind != SRV_CRED_MEM_SM4)
        return api_reply_error(r, API_E_BAD_REQUEST, "appid goes only with kind mem_sm4");
    if (json_object_get(body, "appid") && !srv_cred_appid_valid(appid))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "appid is 1 to 64 characters of A-Z a-z 0-9 . _ -");
    srv_cred cred;
    int generated = srv_cred_generate(kind, *appid ? appid : NULL, &cred);
    if (generated == -2) /* serve refuses to start without it: not expected */
        return api_reply_error(r, API_E_INTERNAL, "the gateway keys could not be sealed");
    if (generated != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "appid is not valid");
    /* identifiers only: the audit trail never holds a secret */
    char detail[200], obj[64];
    snprintf(detail, sizeof detail, "kind=%s%s%s", kind_name,
             kind == SRV_CRED_API_KEY   ? " prefix="
             : kind == SRV_CRED_MEM_SM4 ? " appid="
                                        : "",
             kind == SRV_CRED_API_KEY   ? cred.key_prefix
             : kind == SRV_CRED_MEM_SM4 ? cred.appid
                                        : "");
    issue_ctx x = {.enterprise = enterprise,
                   .kind = kind_name,
                   .label = label,
                   .enterprise_id = enterprise_id,
                   .cred = &cred,
                   .detail = detail};
    db_status st = api_tx(r, issue_tx, &x);
    int rc;
    if (st != DB_OK) {
        snprintf(obj, sizeof obj, "enterprise:%s", enterprise);
        api_audit(r, "ingest_credential_create", obj, "failed", detail);
        rc = reply_issue_refused(r, &x, st);
    } else if (!x.id) {
        snprintf(obj, sizeof obj, "enterprise:%s", enterprise);
        api_audit(r, "ingest_credential_create", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    } else {
        /* the "ok" record was written in the transaction (issue_tx) */
        json_t *out = x.row ? json_incref(x.row) : json_pack("{s:I}", "id", (json_int_t)x.id);
        json_object_set_new(out, "secret", secret_json(&cred));
        rc = api_reply_json(r, 201, out);
    }
    json_decref(x.row);
    srv_cred_wipe(&cred);
    return rc;
}

/* ---- revoke ------------------------------------------------------------- */

typedef struct {
    const char *id;
    long long cred_id;
    json_t *row;
    int revoked;
    int64_t notice_id; /* an enterprise revoked its own credential: the district's notice */
    long long enterprise_id;
    char notice_obj[80];
} revoke_ctx;

/* The revoke record's detail from the credential's row: kind and prefix or
 * appid. */
static void revoke_detail(const json_t *row, char *out, size_t outlen)
{
    json_t *ident = json_object_get(row, "prefix");
    if (json_is_null(ident))
        ident = json_object_get(row, "appid");
    snprintf(out, outlen, "kind=%s%s%s", json_string_value(json_object_get(row, "kind")),
             json_is_string(ident) ? " ident=" : "",
             json_is_string(ident) ? json_string_value(ident) : "");
}

static db_status revoke_tx(api_req *r, db_conn *c, void *arg)
{
    revoke_ctx *x = arg;
    json_decref(x->row);
    x->row = NULL;
    x->revoked = 0;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    db_status st = db_credentials_revoke(c, &s, x->cred_id, &x->revoked);
    if (st != DB_OK)
        return st;
    /* after the update: the answer shows revoked_at, or why nothing changed */
    st = db_credentials_get(c, &s, x->cred_id, &x->row);
    if (st != DB_OK || !x->revoked || !x->row)
        return st;
    char obj[64], detail[160];
    snprintf(obj, sizeof obj, "ingest_credential:%s", x->id);
    revoke_detail(x->row, detail, sizeof detail);
    x->enterprise_id = (long long)json_integer_value(json_object_get(x->row, "enterprise_id"));
    snprintf(x->notice_obj, sizeof x->notice_obj, "%s", obj);
    st = api_equipment_notice_tx(r, c, x->enterprise_id, "credential_revoked", obj, detail,
                                 &x->notice_id);
    if (st != DB_OK)
        return st;
    return api_audit_tx(r, c, "ingest_credential_revoke", obj, "ok", detail);
}

int api_ingest_credential_revoke(api_req *r)
{
    revoke_ctx x = {.id = api_req_param(r, "id")};
    x.cred_id = api_parse_id(x.id);
    if (x.cred_id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such ingest credential");
    db_status st = api_tx(r, revoke_tx, &x);
    char obj[64];
    snprintf(obj, sizeof obj, "ingest_credential:%s", x.id);
    int rc;
    if (st != DB_OK) {
        api_audit(r, "ingest_credential_revoke", obj, "failed", "");
        rc = api_reply_db(r, st);
    } else if (!x.row) {
        api_audit(r, "ingest_credential_revoke", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such ingest credential");
    } else if (!x.revoked) {
        api_audit(r, "ingest_credential_revoke", obj, "failed", "already revoked");
        rc = api_reply_error(r, API_E_INVALID_TRANSITION, "the credential was revoked at %s",
                             json_string_value(json_object_get(x.row, "revoked_at")));
    } else {
        /* the "ok" record was written in the transaction (revoke_tx) */
        api_equipment_notice_publish(x.notice_id, x.enterprise_id, "credential_revoked",
                                     x.notice_obj);
        rc = api_reply_json(r, 200, json_incref(x.row));
    }
    json_decref(x.row);
    return rc;
}

void api_credentials_init(void)
{
    db_credentials_register();
}
