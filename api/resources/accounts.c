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

#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
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
    if (st != DB_OK) {
        snprintf(x->why, sizeof x->why, "%s",
                 st == DB_BAD ? "the user name is taken or does not fit the rules"
                              : "insert failed");
        return st;
    }
    /* the record commits with the account, or neither does */
    char obj[48];
    snprintf(obj, sizeof obj, "account:%lld", (long long)x->id);
    st = api_audit_tx(r, c, "account_create", obj, "ok", x->role);
    if (st != DB_OK)
        snprintf(x->why, sizeof x->why, "the audit record could not be written");
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
    json_t *out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)x.id, "username", x.username,
                            "role", x.role);
    if (generated[0])
        json_object_set_new(out, "initial_password", json_string(generated));
    sodium_memzero(generated, sizeof generated);
    return api_reply_json(r, 201, out);
}

/* ---- administration of existing accounts ---------------------------------
 * An administrator manages the accounts in its scope whose role it could
 * hand out itself (may_create; the city every account): a district admin never touches city
 * accounts, other districts' accounts or another district admin, and never
 * makes anyone more than it could create.  Out of scope looks missing (404);
 * in scope but above the caller, 403.  Every attempt is audited, and what
 * changes who an account is or what it may do ends its sessions. */

typedef enum {
    ACT_DISABLE,
    ACT_ENABLE,
    ACT_UNLOCK,
    ACT_RESET_PASSWORD,
    ACT_UPDATE,
    ACT_RESET_TOTP
} act_kind;
typedef enum { OUT_OK, OUT_MISSING, OUT_FORBIDDEN, OUT_REFUSED, OUT_POLICY } act_outcome;

typedef struct {
    act_kind kind;
    int64_t id;
    const char *hash, *password; /* ACT_RESET_PASSWORD; password NULL when generated */
    /* ACT_UPDATE: NULL = unchanged; region/enterprise as given (id or code) */
    const char *username, *display_name, *role, *region, *enterprise;
    db_account_ref before;
    db_account_change change;
    act_outcome outcome;
    long sessions_ended;
    char why[256];
} act_ctx;

static const char *const act_names[] = {"account_disable", "account_enable",
                                        "account_unlock",  "account_password_reset",
                                        "account_update",  "account_totp_reset"};

__attribute__((format(printf, 3, 4))) static void refuse(act_ctx *x, act_outcome o, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->why, sizeof x->why, fmt, ap);
    va_end(ap);
    x->outcome = o;
}

/* Where an account given a new role (or scope) goes: fills x->change's
 * region_id/enterprise_id.  Sets x->outcome when refused. */
static db_status update_target(api_req *r, db_conn *c, const db_scope *s, act_ctx *x,
                               const char *target_kind)
{
    const api_caller *caller = api_req_caller(r);
    db_account_change *ch = &x->change;
    const char *new_role = ch->role ? ch->role : x->before.role;
    db_status st = DB_OK;
    if (strcmp(target_kind, "enterprise") == 0) {
        if (x->region) {
            refuse(x, OUT_REFUSED, "role %s is bound to an enterprise, not a region", new_role);
            return DB_OK;
        }
        if (x->enterprise) {
            st = db_accounts_enterprise_target(c, s, x->enterprise, &ch->enterprise_id);
            if (st == DB_OK && !ch->enterprise_id)
                refuse(x, OUT_REFUSED, "no enterprise %s in your scope", x->enterprise);
        } else if (caller->kind == API_SCOPE_ENTERPRISE) {
            ch->enterprise_id = caller->scope_id;
        } else if (x->before.enterprise_id) {
            ch->enterprise_id = x->before.enterprise_id;
        } else {
            refuse(x, OUT_REFUSED, "enterprise is required for role %s", new_role);
        }
        return st;
    }
    if (x->enterprise) {
        refuse(x, OUT_REFUSED, "role %s is bound to a region, not an enterprise", new_role);
        return DB_OK;
    }
    if (x->region) {
        char level[32];
        int64_t region;
        st = db_accounts_region_target(c, s, x->region, &region, level);
        if (st == DB_OK && region && strcmp(level, target_kind) == 0)
            ch->region_id = region;
        else if (st == DB_OK)
            refuse(x, OUT_REFUSED, "no %s %s in your scope", target_kind, x->region);
    } else if ((strcmp(target_kind, "city") == 0 && caller->kind == API_SCOPE_CITY) ||
               (strcmp(target_kind, "district") == 0 && caller->kind == API_SCOPE_DISTRICT)) {
        ch->region_id = caller->scope_id;
    } else if (x->before.region_id) {
        /* the same region; the database refuses a level that does not fit */
        ch->region_id = x->before.region_id;
    } else {
        refuse(x, OUT_REFUSED, "region (code) is required for role %s", new_role);
    }
    return st;
}

/* Which roles a caller may manage and give: what it may create, and for a
 * city administrator every role (the city is above everything). */
static int may_manage(const api_caller *c, const char *role, const char **target_kind)
{
    if (may_create(c, role, target_kind))
        return 1;
    if (!c->is_admin || c->kind != API_SCOPE_CITY)
        return 0;
    if (strcmp(role, "street_staff") == 0)
        *target_kind = "street";
    else if (strcmp(role, "enterprise_manager") == 0 || strcmp(role, "enterprise_staff") == 0)
        *target_kind = "enterprise";
    return *target_kind != NULL;
}

/* The "ok" record's detail: the account, what changed, sessions ended. */
static void act_detail(const act_ctx *x, char *detail, size_t size)
{
    const db_account_ref *b = &x->before;
    int n = snprintf(detail, size, "username=%s", b->username);
    if (x->kind == ACT_UPDATE) {
        const db_account_change *ch = &x->change;
        if (ch->username && strcmp(ch->username, b->username) != 0)
            n += snprintf(detail + n, size - (size_t)n, " new_username=%s", ch->username);
        if (ch->role)
            n += snprintf(detail + n, size - (size_t)n, " role=%s->%s", b->role, ch->role);
        if (ch->change_scope)
            n += snprintf(detail + n, size - (size_t)n, " scope=%s:%lld->%s:%lld",
                          b->enterprise_id ? "enterprise" : "region",
                          (long long)(b->enterprise_id ? b->enterprise_id : b->region_id),
                          ch->enterprise_id ? "enterprise" : "region",
                          (long long)(ch->enterprise_id ? ch->enterprise_id : ch->region_id));
        if (ch->display_name)
            n += snprintf(detail + n, size - (size_t)n, " display_name changed");
    }
    if (n >= 0 && (size_t)n < size)
        snprintf(detail + n, size - (size_t)n, " sessions_ended=%ld", x->sessions_ended);
}

static db_status act_tx(api_req *r, db_conn *c, void *arg)
{
    act_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    db_scope s;
    api_db_scope(r, NULL, &s);
    int found = 0, done = 0;
    db_status st = db_accounts_get_for_update(c, &s, x->id, &x->before, &found);
    if (st != DB_OK)
        return st;
    if (!found) {
        refuse(x, OUT_MISSING, "no such account");
        return DB_OK;
    }
    const char *target_kind;
    if (!may_manage(caller, x->before.role, &target_kind)) {
        refuse(x, OUT_FORBIDDEN, "%s may not manage %s accounts", caller->role, x->before.role);
        return DB_OK;
    }
    db_account_change *ch = &x->change;
    ch->id = x->id;
    if (x->kind == ACT_UPDATE) {
        ch->username = x->username;
        ch->display_name = x->display_name;
        ch->role = x->role;
        ch->change_scope = x->role || x->region || x->enterprise;
        if (ch->role && !may_manage(caller, ch->role, &target_kind)) {
            refuse(x, OUT_FORBIDDEN, "%s may not give the role %s", caller->role, ch->role);
            return DB_OK;
        }
    }
    int self = x->before.id == caller->account_id;
    if (self && (x->kind != ACT_UPDATE || ch->change_scope)) {
        refuse(x, OUT_REFUSED,
               "administrators cannot %s their own account; another administrator can",
               x->kind == ACT_UPDATE ? "change the role or scope of" : "do this to");
        return DB_OK;
    }
    int end_sessions = 1;
    switch (x->kind) {
    case ACT_DISABLE:
    case ACT_ENABLE:
        end_sessions = x->kind == ACT_DISABLE;
        st = db_accounts_set_disabled(c, &s, x->id, x->kind == ACT_DISABLE, &done);
        break;
    case ACT_UNLOCK:
        end_sessions = 0;
        st = db_accounts_unlock(c, &s, x->id, &done);
        break;
    case ACT_RESET_PASSWORD:
        if (x->password &&
            srv_password_check_policy(x->password, x->before.username, x->why, sizeof x->why)) {
            x->outcome = OUT_POLICY;
            return DB_OK;
        }
        st = db_accounts_password_reset(c, &s, x->id, x->hash, &done);
        break;
    case ACT_RESET_TOTP:
        /* a lost or leaked device: whoever is logged in with it logs in again */
        st = db_accounts_totp_reset(c, &s, x->id, &done);
        break;
    case ACT_UPDATE:
        end_sessions = ch->change_scope;
        if (ch->change_scope) {
            st = update_target(r, c, &s, x, target_kind);
            if (st != DB_OK || x->outcome != OUT_OK)
                return st;
        }
        st = db_accounts_update(c, &s, ch, &done);
        break;
    }
    if (st != DB_OK)
        return st;
    if (!done) {
        refuse(x, OUT_MISSING, "no such account");
        return DB_OK;
    }
    /* a disabled account, a new password, a new role or scope: whoever holds
     * a session of the account must log in again under the new terms */
    if (end_sessions && (st = db_accounts_sessions_end(c, x->id, &x->sessions_ended)) != DB_OK)
        return st;
    /* the record commits with the change, or neither does */
    char obj[48], detail[512];
    snprintf(obj, sizeof obj, "account:%s", api_req_param(r, "id"));
    act_detail(x, detail, sizeof detail);
    return api_audit_tx(r, c, act_names[x->kind], obj, "ok", detail);
}

/* Runs the action on the path's account and answers it; out (stolen) is
 * the success body, completed with id and sessions_ended. */
static int account_act(api_req *r, act_ctx *x, json_t *out)
{
    const char *action = act_names[x->kind];
    char obj[48];
    snprintf(obj, sizeof obj, "account:%s", api_req_param(r, "id"));
    long long id = api_parse_id(api_req_param(r, "id"));
    if (!api_req_caller(r)->is_admin || id < 0) {
        json_decref(out);
        api_audit(r, action, obj, "denied", "not an administrator or no such account");
        return api_req_caller(r)->is_admin
                   ? api_reply_error(r, API_E_NOT_FOUND, "no such account")
                   : api_reply_error(r, API_E_FORBIDDEN, "only administrators manage accounts");
    }
    x->id = id;
    db_status st = api_tx(r, act_tx, x);
    if (st == DB_BAD) {
        json_decref(out);
        int scope = x->change.change_scope;
        api_audit(r, action, obj, "failed", scope ? "role or scope refused" : "user name taken");
        if (x->username && !scope)
            return api_reply_error(r, API_E_CONFLICT, "the user name %s is taken", x->username);
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "the role %s does not fit the scope (a region of the role's "
                               "level, or an enterprise)%s",
                               x->role ? x->role : x->before.role,
                               x->username ? ", or the user name is taken" : "");
    }
    if (st != DB_OK) {
        json_decref(out);
        return api_reply_db(r, st);
    }
    if (x->outcome != OUT_OK) {
        json_decref(out);
        api_audit(r, action, obj, x->outcome == OUT_REFUSED ? "failed" : "denied", x->why);
        if (x->outcome == OUT_MISSING)
            return api_reply_error(r, API_E_NOT_FOUND, "no such account");
        return api_reply_error(r,
                               x->outcome == OUT_FORBIDDEN ? API_E_FORBIDDEN
                               : x->outcome == OUT_POLICY  ? API_E_PASSWORD_POLICY
                                                           : API_E_UNPROCESSABLE,
                               "%s", x->why);
    }
    api_auth_forget_all();
    json_object_set_new(out, "id", json_integer((json_int_t)x->id));
    json_object_set_new(out, "sessions_ended", json_integer(x->sessions_ended));
    return api_reply_json(r, 200, out);
}

/* A POST whose body is optional: NULL and 0 when there is none. */
static int optional_body(api_req *r, json_t **body)
{
    size_t len;
    *body = NULL;
    if (!api_req_body(r, &len) || len == 0)
        return 0;
    *body = api_req_json(r);
    return *body ? 0 : -1;
}

static int no_fields(api_req *r)
{
    json_t *body;
    if (optional_body(r, &body) != 0)
        return -1;
    return body && api_json_strict(r, body, NULL, 0) != 0 ? -1 : 0;
}

int api_account_disable(api_req *r)
{
    if (no_fields(r) != 0)
        return 0;
    act_ctx x = {.kind = ACT_DISABLE};
    return account_act(r, &x, json_pack("{s:b}", "disabled", 1));
}

int api_account_enable(api_req *r)
{
    if (no_fields(r) != 0)
        return 0;
    act_ctx x = {.kind = ACT_ENABLE};
    return account_act(r, &x, json_pack("{s:b}", "disabled", 0));
}

int api_account_unlock(api_req *r)
{
    if (no_fields(r) != 0)
        return 0;
    act_ctx x = {.kind = ACT_UNLOCK};
    return account_act(r, &x, json_pack("{s:b}", "locked", 0));
}

int api_account_reset_totp(api_req *r)
{
    if (no_fields(r) != 0)
        return 0;
    act_ctx x = {.kind = ACT_RESET_TOTP};
    return account_act(r, &x, json_pack("{s:b}", "totp_enabled", 0));
}

int api_account_reset_password(api_req *r)
{
    json_t *body;
    if (optional_body(r, &body) != 0)
        return 0;
    static const char *const allowed[] = {"password"};
    if (body && api_json_strict(r, body, allowed, 1) != 0)
        return 0;
    json_t *pj = body ? json_object_get(body, "password") : NULL;
    if (pj && !json_is_string(pj))
        return api_reply_error(r, API_E_BAD_REQUEST, "password must be a string");
    const char *password = json_string_value(pj);
    char generated[32] = "", why[200];
    if (password) {
        /* the rule against the user name is checked once the account is read */
        if (strlen(password) > 256 || srv_password_check_policy(password, "", why, sizeof why) != 0)
            return api_reply_error(r, API_E_PASSWORD_POLICY, "%s",
                                   strlen(password) > 256 ? "at most 256 bytes" : why);
        if (srv_password_is_demo(password))
            return api_reply_error(r, API_E_PASSWORD_POLICY,
                                   "the password is one of the published demo passwords");
    } else {
        srv_password_generate(generated, 16, "");
        password = generated;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (srv_password_hash(password, hash) != 0) {
        sodium_memzero(generated, sizeof generated);
        return api_reply_error(r, API_E_OVERLOADED, "could not hash the password now");
    }
    act_ctx x = {.kind = ACT_RESET_PASSWORD, .hash = hash, .password = pj ? password : NULL};
    json_t *out = json_pack("{s:b}", "must_change_password", 1);
    if (generated[0])
        json_object_set_new(out, "initial_password", json_string(generated));
    sodium_memzero(generated, sizeof generated);
    return account_act(r, &x, out);
}

static int valid_username(const char *u)
{
    size_t n = strlen(u);
    if (n < 3 || n > 64 || !(islower((unsigned char)u[0]) || isdigit((unsigned char)u[0])))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)u[i]) || isdigit((unsigned char)u[i]) || strchr("._-", u[i])))
            return 0;
    return 1;
}

/* A region or enterprise given as a code (string) or an id (integer). */
static int target_text(json_t *v, char buf[40], const char **out)
{
    *out = NULL;
    if (!v)
        return 0;
    if (json_is_string(v) && strlen(json_string_value(v)) < 40)
        snprintf(buf, 40, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(buf, 40, "%lld", (long long)json_integer_value(v));
    else
        return -1;
    *out = buf;
    return 0;
}

int api_account_update(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"username", "display_name", "role", "region",
                                          "enterprise"};
    if (api_json_strict(r, body, allowed, 5) != 0)
        return 0;
    act_ctx x = {.kind = ACT_UPDATE};
    static const char *const strings[] = {"username", "display_name", "role"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(body, strings[i]);
        if (v && !json_is_string(v))
            return api_reply_error(r, API_E_BAD_REQUEST, "%s must be a string", strings[i]);
    }
    x.username = json_string_value(json_object_get(body, "username"));
    x.display_name = json_string_value(json_object_get(body, "display_name"));
    x.role = json_string_value(json_object_get(body, "role"));
    char region[40], enterprise[40];
    if (target_text(json_object_get(body, "region"), region, &x.region) != 0 ||
        target_text(json_object_get(body, "enterprise"), enterprise, &x.enterprise) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "region and enterprise are a code (string) or an id (integer)");
    if (x.username && !valid_username(x.username))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "username is 3 to 64 of a-z 0-9 . _ - and starts with a letter or "
                               "digit");
    if (x.display_name && strlen(x.display_name) > 200)
        return api_reply_error(r, API_E_BAD_REQUEST, "display_name is at most 200 bytes");
    if (x.role && strcmp(x.role, "city_admin") != 0 && strcmp(x.role, "city_staff") != 0 &&
        strcmp(x.role, "district_admin") != 0 && strcmp(x.role, "district_staff") != 0 &&
        strcmp(x.role, "street_staff") != 0 && strcmp(x.role, "enterprise_manager") != 0 &&
        strcmp(x.role, "enterprise_staff") != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "no role %s", x.role);
    if (!x.username && !x.display_name && !x.role && !x.region && !x.enterprise)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "nothing to change: username, display_name, role, region or "
                               "enterprise");
    json_t *out = json_object();
    if (x.username)
        json_object_set_new(out, "username", json_string(x.username));
    if (x.role)
        json_object_set_new(out, "role", json_string(x.role));
    return account_act(r, &x, out);
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
    db_status st = x->digest
                       ? db_accounts_key_insert(c, &s, x->target, x->label, x->prefix, x->digest,
                                                api_req_caller(r)->account_id, &x->id)
                       : db_accounts_key_revoke(c, &s, x->target, &x->id);
    if (st != DB_OK || !x->id)
        return st;
    /* the record commits with the key or its revocation, or neither does */
    char obj[48];
    snprintf(obj, sizeof obj, "api_key:%lld", (long long)(x->digest ? x->id : x->target));
    return api_audit_tx(r, c, x->digest ? "api_key_create" : "api_key_revoke", obj, "ok",
                        x->digest ? x->prefix : "");
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
    srv_cred_generate_rest_key(&cred);
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
