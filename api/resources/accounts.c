/* Accounts (账号分配), enterprise REST API keys and the audit trail.
 *
 * Who may create what: a city admin creates city staff and district
 * accounts; a district admin creates district staff, street and enterprise
 * accounts inside the district; an enterprise manager creates staff of the
 * enterprise.  The database's row-level security checks the same again. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_accounts.h"
#include "srv_cred.h"
#include "srv_password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_accounts_list(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators manage accounts");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_accounts_list(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

typedef struct {
    const char *username, *display_name, *role, *target;
    char hash[crypto_pwhash_STRBYTES];
    int64_t region_id, enterprise_id;
    int64_t id;
    char why[256];
    int refused;
} create_ctx;

/* Which roles a caller may hand out, and to what kind of scope. */
static int may_create(const api_caller *c, const char *role, const char **target_kind)
{
    *target_kind = NULL;
    if (!c->is_admin)
        return 0;
    if (c->kind == API_SCOPE_CITY) {
        if (strcmp(role, "city_staff") == 0 || strcmp(role, "city_admin") == 0)
            *target_kind = "city";
        else if (strcmp(role, "district_admin") == 0 || strcmp(role, "district_staff") == 0)
            *target_kind = "district";
    } else if (c->kind == API_SCOPE_DISTRICT) {
        if (strcmp(role, "district_staff") == 0)
            *target_kind = "district";
        else if (strcmp(role, "street_staff") == 0)
            *target_kind = "street";
        else if (strcmp(role, "enterprise_manager") == 0 || strcmp(role, "enterprise_staff") == 0)
            *target_kind = "enterprise";
    } else if (c->kind == API_SCOPE_ENTERPRISE) {
        if (strcmp(role, "enterprise_staff") == 0)
            *target_kind = "enterprise";
    }
    return *target_kind != NULL;
}

static db_status create_tx(api_req *r, db_conn *c, void *arg)
{
    create_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    const char *target_kind;
    may_create(caller, x->role, &target_kind);
    db_status st;
    if (strcmp(target_kind, "enterprise") == 0) {
        st = db_accounts_enterprise_target(c, &s, x->target, &x->enterprise_id);
        if (st != DB_OK)
            return st;
        if (!x->enterprise_id) {
            snprintf(x->why, sizeof x->why, "no enterprise %s in your scope", x->target);
            x->refused = 1;
            return DB_BAD;
        }
    } else if (!x->region_id) {
        if (strcmp(target_kind, "city") == 0 && caller->kind == API_SCOPE_CITY) {
            x->region_id = caller->scope_id;
        } else {
            int64_t region;
            char level[32];
            st = db_accounts_region_target(c, &s, x->target, &region, level);
            if (st != DB_OK)
                return st;
            if (region && strcmp(level, target_kind) == 0)
                x->region_id = region;
            if (!x->region_id) {
                snprintf(x->why, sizeof x->why, "no %s %s in your scope", target_kind,
                         x->target ? x->target : "");
                x->refused = 1;
                return DB_BAD;
            }
        }
    }
    db_account_new a = {.username = x->username,
                        .display_name = x->display_name,
                        .role = x->role,
                        .region_id = x->region_id,
                        .enterprise_id = x->enterprise_id,
                        .password_hash = x->hash,
                        .created_by = caller->account_id};
    st = db_accounts_insert(c, &a, &x->id);
    if (st != DB_OK)
        snprintf(x->why, sizeof x->why, "%s",
                 st == DB_BAD ? "the user name is taken or does not fit the rules"
                              : "insert failed");
    return st;
}

int api_account_create(api_req *r)
{
    const api_caller *caller = api_req_caller(r);
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"username", "display_name", "role",
                                          "region",   "enterprise",   "password"};
    if (api_json_strict(r, body, allowed, 6) != 0)
        return 0;
    create_ctx x = {0};
    x.username = json_string_value(json_object_get(body, "username"));
    x.display_name = json_string_value(json_object_get(body, "display_name"));
    x.role = json_string_value(json_object_get(body, "role"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!x.username || !x.role)
        return api_reply_error(r, API_E_BAD_REQUEST, "username and role are required");
    const char *target_kind;
    if (!may_create(caller, x.role, &target_kind)) {
        api_audit(r, "account_create", x.username, "denied", x.role);
        return api_reply_error(r, API_E_FORBIDDEN, "%s may not create %s accounts", caller->role,
                               x.role);
    }
    json_t *t =
        json_object_get(body, strcmp(target_kind, "enterprise") == 0 ? "enterprise" : "region");
    char target[40] = "";
    if (json_is_string(t))
        snprintf(target, sizeof target, "%s", json_string_value(t));
    else if (json_is_integer(t))
        snprintf(target, sizeof target, "%lld", (long long)json_integer_value(t));
    else if (strcmp(target_kind, "enterprise") == 0 && caller->kind == API_SCOPE_ENTERPRISE)
        snprintf(target, sizeof target, "%lld", (long long)caller->scope_id);
    else if (!(strcmp(target_kind, "city") == 0) &&
             !(strcmp(target_kind, "district") == 0 && caller->kind == API_SCOPE_DISTRICT))
        return api_reply_error(
            r, API_E_BAD_REQUEST, "%s is required for role %s",
            strcmp(target_kind, "enterprise") == 0 ? "enterprise" : "region (code)", x.role);
    if (!target[0] && strcmp(target_kind, "district") == 0)
        snprintf(target, sizeof target, "%s", "");
    x.target = target[0] ? target : NULL;
    if (strcmp(target_kind, "district") == 0 && !x.target) {
        /* a district admin's own district: look it up by id through the region query */
        x.target = NULL;
    }
    char generated[32] = "";
    char why[200];
    if (password) {
        if (srv_password_check_policy(password, x.username, why, sizeof why) != 0)
            return api_reply_error(r, API_E_PASSWORD_POLICY, "%s", why);
    } else {
        srv_password_generate(generated, 16, x.username); /* 16 characters + NUL */
        password = generated;
    }
    if (srv_password_hash(password, x.hash) != 0)
        return api_reply_error(r, API_E_OVERLOADED, "could not hash the password now");
    db_status st;
    if (strcmp(target_kind, "district") == 0 && !x.target && caller->kind == API_SCOPE_DISTRICT) {
        x.region_id = caller->scope_id;
        x.target = "(own district)";
    }
    st = api_tx(r, create_tx, &x);
    if (st != DB_OK) {
        api_audit(r, "account_create", x.username, "failed", x.why);
        sodium_memzero(generated, sizeof generated);
        if (st == DB_BAD)
            return api_reply_error(r, x.refused ? API_E_UNPROCESSABLE : API_E_CONFLICT, "%s",
                                   x.why);
        return api_reply_db(r, st);
    }
    char obj[48];
    snprintf(obj, sizeof obj, "account:%lld", (long long)x.id);
    api_audit(r, "account_create", obj, "ok", x.role);
    json_t *out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "username", x.username,
                            "role", x.role);
    if (generated[0])
        json_object_set_new(out, "initial_password", json_string(generated));
    sodium_memzero(generated, sizeof generated);
    return api_reply_json(r, 201, out);
}

int api_apikeys_list(api_req *r)
{
    long long enterprise = api_parse_id(api_req_param(r, "id"));
    if (enterprise < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_accounts_keys_list(c, &s, enterprise, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out));
}

typedef struct {
    int64_t target; /* the enterprise of a new key, or the key to revoke */
    const char *label, *prefix;
    const unsigned char *digest; /* NULL: revoke */
    int64_t id;
} key_ctx;

static db_status key_tx(api_req *r, db_conn *c, void *arg)
{
    key_ctx *x = arg;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    if (!x->digest)
        return db_accounts_key_revoke(c, &s, x->target, &x->id);
    return db_accounts_key_insert(c, &s, x->target, x->label, x->prefix, x->digest,
                                  api_req_caller(r)->account_id, &x->id);
}

int api_apikey_create(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators issue API keys");
    long long enterprise = api_parse_id(api_req_param(r, "id"));
    if (enterprise < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"label"};
    if (api_json_strict(r, body, allowed, 1) != 0)
        return 0;
    const char *label = json_string_value(json_object_get(body, "label"));
    if (label && strlen(label) > 100)
        return api_reply_error(r, API_E_BAD_REQUEST, "label is at most 100 characters");
    srv_cred cred;
    (void)srv_cred_generate(SRV_CRED_API_KEY, NULL, &cred);
    unsigned char digest[32];
    srv_cred_key_digest(&cred, digest);
    key_ctx x = {.target = enterprise,
                 .label = label ? label : "",
                 .prefix = cred.key_prefix,
                 .digest = digest};
    db_status st = api_tx(r, key_tx, &x);
    if (st != DB_OK) {
        srv_cred_wipe(&cred);
        return api_reply_db(r, st);
    }
    if (!x.id) {
        srv_cred_wipe(&cred);
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    }
    char obj[48];
    snprintf(obj, sizeof obj, "api_key:%lld", (long long)x.id);
    api_audit(r, "api_key_create", obj, "ok", cred.key_prefix);
    json_t *out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "key", cred.api_key,
                            "prefix", cred.key_prefix);
    srv_cred_wipe(&cred);
    return api_reply_json(r, 201, out);
}

int api_apikey_revoke(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators revoke API keys");
    long long key_id = api_parse_id(api_req_param(r, "id"));
    if (key_id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such key");
    key_ctx x = {.target = key_id};
    db_status st = api_tx(r, key_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    char obj[48];
    snprintf(obj, sizeof obj, "api_key:%s", api_req_param(r, "id"));
    if (!x.id) {
        api_audit(r, "api_key_revoke", obj, "denied", "not found in scope");
        return api_reply_error(r, API_E_NOT_FOUND, "no such key");
    }
    api_auth_forget_all();
    api_audit(r, "api_key_revoke", obj, "ok", "");
    return api_reply_json(r, 200, json_pack("{s:b}", "revoked", 1));
}

int api_audit_list(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators read the audit trail");
    const char *ql = api_req_query(r, "limit"), *qo = api_req_query(r, "offset");
    long lim = ql ? strtol(ql, NULL, 10) : 100, off = qo ? strtol(qo, NULL, 10) : 0;
    if (lim < 1 || lim > 1000 || off < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "limit must be 1..1000, offset >= 0");
    const char *action = api_req_query(r, "action");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st =
        c ? db_accounts_audit_list(c, &s, action && *action ? action : NULL, lim, off, &out)
          : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    api_audit(r, "audit_read", "audit_log", "ok", "");
    return api_reply_json(r, 200, out ? out : json_object());
}

void api_accounts_init(void)
{
    db_accounts_register();
}
