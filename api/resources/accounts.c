/* Accounts (账号分配), enterprise REST API keys and the audit trail.
 *
 * Who may create what: a city admin creates city staff and district
 * accounts; a district admin creates district staff, street and enterprise
 * accounts inside the district; an enterprise manager creates staff of the
 * enterprise.  The database's row-level security checks the same again. */
#include "api_auth.h"
#include "api_handlers.h"

#include "srv_password.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACCOUNT_SCOPE                                                                              \
    "(($1 = 'city') OR ($1 = 'district' AND (a.region_id = $2::bigint OR a.region_id IN (SELECT "  \
    "id FROM regions WHERE parent_id = $2::bigint) OR a.enterprise_id IN (SELECT id FROM "         \
    "enterprises WHERE district_id = $2::bigint))) OR ($1 = 'street' AND (a.region_id = "          \
    "$2::bigint OR a.enterprise_id IN (SELECT id FROM enterprises WHERE street_id = "              \
    "$2::bigint))) OR ($1 = 'enterprise' AND a.enterprise_id = $2::bigint))"

static const db_stmt statements[] = {
    {"acc_list",
     "SELECT coalesce(json_agg(json_build_object('id', a.id, 'username', a.username, "
     "'display_name', a.display_name, 'role', a.role, 'region', r.code, 'region_name', r.name, "
     "'enterprise_id', a.enterprise_id, 'enterprise_name', e.name, 'disabled', a.disabled, "
     "'locked', coalesce(a.locked_until > now(), false), 'last_login_at', a.last_login_at, "
     "'created_at', a.created_at) ORDER BY a.username), '[]'::json)::text FROM accounts a LEFT "
     "JOIN regions r ON r.id = a.region_id LEFT JOIN enterprises e ON e.id = a.enterprise_id "
     "WHERE " ACCOUNT_SCOPE},
    {"acc_region_target",
     "SELECT r.id, r.level, r.parent_id FROM regions r WHERE r.code = $3 AND (($1 = 'city') OR "
     "($1 = 'district' AND (r.id = $2::bigint OR r.parent_id = $2::bigint)))"},
    {"acc_enterprise_target",
     "SELECT e.id FROM enterprises e WHERE (e.id::text = $3 OR e.code = $3) AND (($1 = 'city') OR "
     "($1 = 'district' AND e.district_id = $2::bigint) OR ($1 = 'enterprise' AND e.id = "
     "$2::bigint))"},
    {"acc_insert",
     "INSERT INTO accounts (username, display_name, role, region_id, enterprise_id, "
     "password_hash, must_change_password, created_by) VALUES ($1, $2, $3, $4::bigint, "
     "$5::bigint, $6, true, $7::bigint) RETURNING id"},
    {"key_list",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND (($1 = "
     "'city') OR ($1 = 'district' AND e.district_id = $2::bigint) OR ($1 = 'street' AND "
     "e.street_id = $2::bigint) OR ($1 = 'enterprise' AND e.id = $2::bigint))) THEN "
     "coalesce((SELECT json_agg(json_build_object('id', k.id, 'label', k.label, 'prefix', "
     "k.key_prefix, 'created_at', k.created_at, 'last_used_at', k.last_used_at, 'revoked_at', "
     "k.revoked_at) ORDER BY k.id) FROM api_keys k WHERE k.enterprise_id = $3::bigint), "
     "'[]'::json) END::text"},
    {"key_insert",
     "INSERT INTO api_keys (enterprise_id, label, key_prefix, key_hash, created_by) SELECT e.id, "
     "$4, $5, $6::bytea, $7::bigint FROM enterprises e WHERE e.id = $3::bigint AND (($1 = "
     "'city') OR ($1 = 'district' AND e.district_id = $2::bigint) OR ($1 = 'enterprise' AND e.id = "
     "$2::bigint)) "
     "RETURNING id"},
    {"key_revoke",
     "UPDATE api_keys k SET revoked_at = now() FROM enterprises e WHERE e.id = k.enterprise_id "
     "AND k.id = $3::bigint AND k.revoked_at IS NULL AND (($1 = 'city') OR ($1 = 'district' AND "
     "e.district_id = "
     "$2::bigint) OR ($1 = 'enterprise' AND e.id = $2::bigint)) RETURNING k.id"},
    {"audit_list",
     "SELECT json_build_object('items', coalesce(json_agg(json_build_object('id', l.id, 'at', "
     "l.at, 'username', l.username, 'source_ip', l.source_ip, 'action', l.action, 'object', "
     "l.object, 'result', l.result, 'detail', l.detail) ORDER BY l.id DESC), '[]'::json))::text "
     "FROM (SELECT * FROM audit_log l WHERE ($1 = 'city' OR l.account_id IN (SELECT a.id FROM "
     "accounts a WHERE " ACCOUNT_SCOPE ")) AND ($3::text IS NULL OR l.action = $3) ORDER BY l.id "
     "DESC LIMIT $4::int OFFSET $5::int) l"},
};

typedef struct {
    const char *p[7];
    json_t *out;
    const char *stmt;
    int n;
} ctx;

int api_accounts_list(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators manage accounts");
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    ctx x = {{kind, id}, NULL, "acc_list", 2};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", x.out ? x.out : json_array()));
}

typedef struct {
    const char *username, *display_name, *role, *target;
    char hash[crypto_pwhash_STRBYTES];
    char region_id[24], enterprise_id[24];
    long long id;
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
    char kind[16], sid[24];
    api_scope_params(caller, kind, sid);
    const char *target_kind;
    may_create(caller, x->role, &target_kind);
    db_status st;
    const char *p[3] = {kind, sid, x->target};
    if (strcmp(target_kind, "enterprise") == 0) {
        PGresult *res = db_exec(c, "acc_enterprise_target", 3, p, &st);
        if (!res)
            return st;
        if (PQntuples(res) == 1)
            snprintf(x->enterprise_id, sizeof x->enterprise_id, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        if (!x->enterprise_id[0]) {
            snprintf(x->why, sizeof x->why, "no enterprise %s in your scope", x->target);
            x->refused = 1;
            return DB_BAD;
        }
    } else if (!x->region_id[0]) {
        if (strcmp(target_kind, "city") == 0 && caller->kind == API_SCOPE_CITY) {
            snprintf(x->region_id, sizeof x->region_id, "%s", sid);
        } else {
            PGresult *res = db_exec(c, "acc_region_target", 3, p, &st);
            if (!res)
                return st;
            if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), target_kind) == 0)
                snprintf(x->region_id, sizeof x->region_id, "%s", PQgetvalue(res, 0, 0));
            PQclear(res);
            if (!x->region_id[0]) {
                snprintf(x->why, sizeof x->why, "no %s %s in your scope", target_kind,
                         x->target ? x->target : "");
                x->refused = 1;
                return DB_BAD;
            }
        }
    }
    char creator[24];
    snprintf(creator, sizeof creator, "%lld", (long long)caller->account_id);
    const char *ip[7] = {x->username,
                         x->display_name ? x->display_name : "",
                         x->role,
                         x->region_id[0] ? x->region_id : NULL,
                         x->enterprise_id[0] ? x->enterprise_id : NULL,
                         x->hash,
                         caller->account_id ? creator : NULL};
    PGresult *res = db_exec(c, "acc_insert", 7, ip, &st);
    if (!res) {
        snprintf(x->why, sizeof x->why, "%s",
                 st == DB_BAD ? "the user name is taken or does not fit the rules"
                              : "insert failed");
        return st;
    }
    x->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return DB_OK;
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
        snprintf(x.region_id, sizeof x.region_id, "%lld", (long long)caller->scope_id);
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
    snprintf(obj, sizeof obj, "account:%lld", x.id);
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
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    ctx x = {{kind, id, api_req_param(r, "id")}, NULL, "key_list", 3};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    return api_reply_json(r, 200, json_pack("{s:o}", "items", x.out));
}

typedef struct {
    const char *p[7];
    long long id;
} key_ctx;

static db_status key_tx(api_req *r, db_conn *c, void *arg)
{
    key_ctx *x = arg;
    (void)r;
    db_status st;
    PGresult *res = db_exec(c, x->p[3] ? "key_insert" : "key_revoke", x->p[3] ? 7 : 3, x->p, &st);
    if (!res)
        return st;
    x->id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

int api_apikey_create(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators issue API keys");
    if (api_parse_id(api_req_param(r, "id")) < 0)
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
    unsigned char rnd[32];
    randombytes_buf(rnd, sizeof rnd);
    char key[64] = "dwk_";
    sodium_bin2base64(key + 4, sizeof key - 4, rnd, sizeof rnd,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
    char hash[70] = "\\x";
    sodium_bin2hex(hash + 2, 65, h, sizeof h);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.12s", key);
    char kind[16], id[24], creator[24];
    api_scope_params(api_req_caller(r), kind, id);
    snprintf(creator, sizeof creator, "%lld", (long long)api_req_caller(r)->account_id);
    key_ctx x = {{kind, id, api_req_param(r, "id"), label ? label : "", prefix, hash,
                  api_req_caller(r)->account_id ? creator : NULL},
                 0};
    db_status st = api_tx(r, key_tx, &x);
    if (st != DB_OK) {
        sodium_memzero(key, sizeof key);
        return api_reply_db(r, st);
    }
    if (!x.id) {
        sodium_memzero(key, sizeof key);
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    }
    char obj[48];
    snprintf(obj, sizeof obj, "api_key:%lld", x.id);
    api_audit(r, "api_key_create", obj, "ok", prefix);
    json_t *out =
        json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "key", key, "prefix", prefix);
    sodium_memzero(key, sizeof key);
    return api_reply_json(r, 201, out);
}

int api_apikey_revoke(api_req *r)
{
    if (!api_req_caller(r)->is_admin)
        return api_reply_error(r, API_E_FORBIDDEN, "only administrators revoke API keys");
    if (api_parse_id(api_req_param(r, "id")) < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such key");
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    key_ctx x = {{kind, id, api_req_param(r, "id"), NULL}, 0};
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
    char kind[16], id[24], limit[24], offset[24];
    api_scope_params(api_req_caller(r), kind, id);
    const char *ql = api_req_query(r, "limit"), *qo = api_req_query(r, "offset");
    long lim = ql ? strtol(ql, NULL, 10) : 100, off = qo ? strtol(qo, NULL, 10) : 0;
    if (lim < 1 || lim > 1000 || off < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "limit must be 1..1000, offset >= 0");
    snprintf(limit, sizeof limit, "%ld", lim);
    snprintf(offset, sizeof offset, "%ld", off);
    const char *action = api_req_query(r, "action");
    ctx x = {{kind, id, action && *action ? action : NULL, limit, offset}, NULL, "audit_list", 5};
    db_status st = api_query_json(r, x.stmt, x.n, x.p, &x.out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    api_audit(r, "audit_read", "audit_log", "ok", "");
    return api_reply_json(r, 200, x.out ? x.out : json_object());
}

void api_accounts_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
