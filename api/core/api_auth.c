#include "api_auth.h"

#include "srv_config.h"
#include "srv_log.h"
#include "srv_password.h"

#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const db_stmt statements[] = {
    {"auth_account_by_name",
     "SELECT a.id, a.password_hash, a.role, coalesce(a.region_id, a.enterprise_id), a.disabled, "
     "coalesce(a.locked_until > now(), false), a.must_change_password, "
     "($2 > 0 AND a.password_changed_at < now() - make_interval(days => $2)) "
     "FROM accounts a WHERE a.username = $1"},
    {"auth_login_failed",
     "UPDATE accounts SET failed_logins = CASE WHEN first_failed_at IS NULL OR first_failed_at < "
     "now() - make_interval(secs => $2) THEN 1 ELSE failed_logins + 1 END, first_failed_at = "
     "CASE WHEN first_failed_at IS NULL OR first_failed_at < now() - make_interval(secs => $2) "
     "THEN now() ELSE first_failed_at END WHERE id = $1 RETURNING failed_logins"},
    {"auth_lock", "UPDATE accounts SET locked_until = now() + make_interval(secs => $2), "
                  "failed_logins = 0, first_failed_at = NULL WHERE id = $1"},
    {"auth_login_ok", "UPDATE accounts SET failed_logins = 0, first_failed_at = NULL, "
                      "locked_until = NULL, last_login_at = now(), password_hash = coalesce($2, "
                      "password_hash) WHERE id = $1"},
    {"auth_session_new",
     "INSERT INTO sessions (account_id, token_hash, expires_at, source_ip, user_agent) VALUES "
     "($1, $2::bytea, now() + make_interval(secs => $3), $4, left($5, 200)) RETURNING id, "
     "expires_at"},
    {"auth_session_get",
     "SELECT s.id, a.id, a.username, a.role, coalesce(a.region_id, a.enterprise_id), "
     "s.last_seen_at < now() - interval '60 seconds', a.must_change_password OR ($3 > 0 AND "
     "a.password_changed_at < now() - make_interval(days => $3)) FROM sessions s JOIN accounts a "
     "ON a.id = "
     "s.account_id WHERE s.token_hash = $1::bytea AND s.revoked_at IS NULL AND s.expires_at > "
     "now() AND s.last_seen_at > now() - make_interval(secs => $2) AND NOT a.disabled AND "
     "(a.locked_until IS NULL OR a.locked_until < now())"},
    {"auth_session_touch", "UPDATE sessions SET last_seen_at = now() WHERE id = $1"},
    {"auth_session_revoke", "UPDATE sessions SET revoked_at = now() WHERE id = $1"},
    {"auth_sessions_revoke_account",
     "UPDATE sessions SET revoked_at = now() WHERE account_id = $1 AND revoked_at IS NULL AND id "
     "<> $2"},
    {"auth_apikey_get",
     "UPDATE api_keys SET last_used_at = now() WHERE key_hash = $1::bytea AND revoked_at IS NULL "
     "RETURNING id, enterprise_id, key_prefix"},
    {"auth_password_set",
     "UPDATE accounts SET password_hash = $2, password_changed_at = now(), must_change_password "
     "= false WHERE id = $1"},
    {"auth_me",
     "SELECT json_build_object('id', a.id, 'username', a.username, 'display_name', "
     "a.display_name, 'role', a.role, 'scope', json_build_object('kind', CASE WHEN "
     "a.enterprise_id IS NOT NULL THEN 'enterprise' ELSE r.level END, 'id', "
     "coalesce(a.enterprise_id, a.region_id), 'name', coalesce(e.name, r.name), 'code', "
     "coalesce(e.code, r.code)), 'must_change_password', a.must_change_password)::text FROM "
     "accounts a LEFT JOIN regions r ON r.id = a.region_id LEFT JOIN enterprises e ON e.id = "
     "a.enterprise_id WHERE a.id = $1"},
    {"audit_insert",
     "INSERT INTO audit_log (account_id, username, source_ip, action, object, result, detail) "
     "VALUES ($1, $2, $3, $4, $5, $6, left($7, 1000))"},
};

static sem_t hash_slots;

/* A valid hash of a random password: verifying against it costs the same as
 * a real account, so "no such user" and "wrong password" take equally long. */
static char dummy_hash[crypto_pwhash_STRBYTES];

void api_auth_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    sem_init(&hash_slots, 0,
             (unsigned)(g_config.login_max_concurrent > 0 ? g_config.login_max_concurrent : 1));
    char pw[33];
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    if (srv_password_hash(pw, dummy_hash) != 0)
        LOG_ERROR("could not prepare the timing-equaliser hash", "%s", "");
}

const char *api_scope_kind_name(api_scope_kind k)
{
    static const char *const names[] = {"city", "district", "street", "enterprise"};
    return names[k];
}

void api_scope_string(const api_caller *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%lld", api_scope_kind_name(c->kind), (long long)c->scope_id);
}

void api_scope_params(const api_caller *c, char kind[16], char id[24])
{
    if (g_config.test_disable_app_scope) {
        /* the application filter admits everything; only RLS remains */
        snprintf(kind, 16, "city");
    } else {
        snprintf(kind, 16, "%s", api_scope_kind_name(c->kind));
    }
    snprintf(id, 24, "%lld", (long long)c->scope_id);
}

static int role_info(const char *role, api_caller *c)
{
    static const struct {
        const char *role;
        api_scope_kind kind;
        unsigned bit;
        int admin;
    } roles[] = {
        {"city_admin", API_SCOPE_CITY, API_CITY, 1},
        {"city_staff", API_SCOPE_CITY, API_CITY, 0},
        {"district_admin", API_SCOPE_DISTRICT, API_DISTRICT, 1},
        {"district_staff", API_SCOPE_DISTRICT, API_DISTRICT, 0},
        {"street_staff", API_SCOPE_STREET, API_STREET, 0},
        {"enterprise_manager", API_SCOPE_ENTERPRISE, API_ENTERPRISE, 1},
        {"enterprise_staff", API_SCOPE_ENTERPRISE, API_ENTERPRISE, 0},
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(roles[i].role, role) == 0) {
            snprintf(c->role, sizeof c->role, "%s", role);
            c->kind = roles[i].kind;
            c->role_bit = roles[i].bit;
            c->is_admin = roles[i].admin;
            return 0;
        }
    }
    return -1;
}

/* A SHA-256 digest as a bytea parameter (\\x...). */
static void digest_hex_param(const unsigned char h[crypto_hash_sha256_BYTES], char out[70])
{
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 65, h, crypto_hash_sha256_BYTES);
}

static void hash_hex_param(const char *secret, char out[70])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)secret, strlen(secret));
    digest_hex_param(h, out);
}

static const char *bearer_token(api_req *r, char *buf, size_t len)
{
    const char *auth = api_req_header(r, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        snprintf(buf, len, "%s", auth + 7);
        return buf;
    }
    const char *key = api_req_header(r, "X-Api-Key");
    if (key) {
        snprintf(buf, len, "%s", key);
        return buf;
    }
    const char *cookie = api_req_cookie(r, "dw_session");
    if (cookie) {
        snprintf(buf, len, "%s", cookie);
        return buf;
    }
    return NULL;
}

/* ---- resolved-caller cache ------------------------------------------------
 * Every authenticated request used to pay a transaction of its own to look
 * its token up.  Callers resolved in the last auth_cache_ms are reused,
 * keyed by the token's SHA-256 (the token itself is never kept).  Logout,
 * password changes and key revocations in this process empty the cache at
 * once (api_auth_forget_all); other server processes notice within
 * auth_cache_ms.  Failed look-ups are never cached. */
#define AUTH_CACHE_SLOTS 1024

typedef struct {
    unsigned char key[crypto_hash_sha256_BYTES];
    int64_t expires_ms;
    api_caller caller;
} auth_slot;

static auth_slot auth_cache[AUTH_CACHE_SLOTS];
static pthread_mutex_t auth_cache_mu = PTHREAD_MUTEX_INITIALIZER;
/* bumped by every flush: a look-up that started before a revocation must
 * not put its (by then revoked) answer back */
static unsigned long auth_cache_gen;

static size_t auth_slot_of(const unsigned char *key)
{
    return ((size_t)key[0] | (size_t)key[1] << 8) % AUTH_CACHE_SLOTS;
}

static int auth_cache_get(const unsigned char *key, api_caller *out)
{
    if (g_config.auth_cache_ms <= 0)
        return 0;
    int hit = 0;
    pthread_mutex_lock(&auth_cache_mu);
    auth_slot *s = &auth_cache[auth_slot_of(key)];
    if (s->expires_ms > srv_mono_ms() && sodium_memcmp(s->key, key, sizeof s->key) == 0) {
        *out = s->caller;
        hit = 1;
    }
    pthread_mutex_unlock(&auth_cache_mu);
    return hit;
}

static unsigned long auth_cache_generation(void)
{
    pthread_mutex_lock(&auth_cache_mu);
    unsigned long g = auth_cache_gen;
    pthread_mutex_unlock(&auth_cache_mu);
    return g;
}

static void auth_cache_put(const unsigned char *key, const api_caller *c, unsigned long gen)
{
    if (g_config.auth_cache_ms <= 0)
        return;
    pthread_mutex_lock(&auth_cache_mu);
    if (gen != auth_cache_gen) {
        pthread_mutex_unlock(&auth_cache_mu);
        return;
    }
    auth_slot *s = &auth_cache[auth_slot_of(key)];
    memcpy(s->key, key, sizeof s->key);
    s->caller = *c;
    s->expires_ms = srv_mono_ms() + g_config.auth_cache_ms;
    pthread_mutex_unlock(&auth_cache_mu);
}

void api_auth_forget_all(void)
{
    pthread_mutex_lock(&auth_cache_mu);
    sodium_memzero(auth_cache, sizeof auth_cache);
    auth_cache_gen++;
    pthread_mutex_unlock(&auth_cache_mu);
}

typedef struct {
    const char *token;
    const unsigned char *digest; /* SHA-256 of token, computed once per request */
    api_caller *out;
    int found;
} resolve_ctx;

static db_status resolve_tx(db_conn *c, void *arg)
{
    resolve_ctx *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    char hash[70];
    digest_hex_param(x->digest, hash);
    if (strncmp(x->token, "dwk_", 4) == 0) {
        const char *p[1] = {hash};
        PGresult *res = db_exec(c, "auth_apikey_get", 1, p, &st);
        if (!res)
            return st;
        if (PQntuples(res) == 1) {
            x->found = 1;
            x->out->api_key_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
            x->out->scope_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            snprintf(x->out->username, sizeof x->out->username, "apikey:%s", PQgetvalue(res, 0, 2));
            role_info("enterprise_staff", x->out);
        }
        PQclear(res);
        return DB_OK;
    }
    char idle[24], age[24];
    snprintf(idle, sizeof idle, "%ld", g_config.session_idle_timeout_s);
    snprintf(age, sizeof age, "%ld", g_config.password_max_age_days);
    const char *p[3] = {hash, idle, age};
    PGresult *res = db_exec(c, "auth_session_get", 3, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) == 1 && role_info(PQgetvalue(res, 0, 3), x->out) == 0) {
        x->found = 1;
        x->out->session_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        x->out->account_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        snprintf(x->out->username, sizeof x->out->username, "%s", PQgetvalue(res, 0, 2));
        x->out->scope_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        int touch = PQgetvalue(res, 0, 5)[0] == 't';
        x->out->must_change_password = PQgetvalue(res, 0, 6)[0] == 't';
        PQclear(res);
        if (touch) {
            char sid[24];
            snprintf(sid, sizeof sid, "%lld", (long long)x->out->session_id);
            const char *sp[1] = {sid};
            res = db_exec(c, "auth_session_touch", 1, sp, &st);
            if (!res)
                return st;
            PQclear(res);
        }
        return DB_OK;
    }
    PQclear(res);
    return DB_OK;
}

int api_auth_resolve(api_req *r, api_caller *out)
{
    memset(out, 0, sizeof *out);
    char token[256];
    if (!bearer_token(r, token, sizeof token) || !token[0]) {
        api_reply_error(r, API_E_UNAUTHENTICATED, "no session or API key");
        return -1;
    }
    unsigned char key[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(key, (const unsigned char *)token, strlen(token));
    if (auth_cache_get(key, out)) {
        sodium_memzero(token, sizeof token);
        return 0;
    }
    db_conn *c = api_req_db(r);
    if (!c) {
        sodium_memzero(token, sizeof token);
        return -1;
    }
    unsigned long gen = auth_cache_generation();
    resolve_ctx x = {.token = token, .digest = key, .out = out};
    db_status st = db_run_tx(c, NULL, resolve_tx, &x);
    sodium_memzero(token, sizeof token);
    if (st != DB_OK) {
        api_reply_db(r, st);
        return -1;
    }
    if (!x.found) {
        api_reply_error(r, API_E_UNAUTHENTICATED, "the session expired or the key was revoked");
        return -1;
    }
    auth_cache_put(key, out, gen);
    return 0;
}

typedef struct {
    api_req *r;
    api_tx_fn fn;
    void *arg;
} tx_ctx;

static db_status tx_trampoline(db_conn *c, void *arg)
{
    tx_ctx *x = arg;
    char scope[64];
    api_scope_string(api_req_caller(x->r), scope, sizeof scope);
    db_status st = db_set_scope_focus(c, scope, api_focus_enterprise(x->r));
    if (st != DB_OK)
        return st;
    return x->fn(x->r, c, x->arg);
}

db_status api_tx(api_req *r, api_tx_fn fn, void *arg)
{
    db_conn *c = api_req_db(r);
    if (!c)
        return DB_HARD;
    tx_ctx x = {r, fn, arg};
    return db_run_tx(c, NULL, tx_trampoline, &x);
}

int api_reply_db(api_req *r, db_status st)
{
    if (api_req_replied(r))
        return 0;
    if (st == DB_BAD)
        return api_reply_error(r, API_E_UNPROCESSABLE, "the change breaks a rule of the archive");
    return api_reply_error(r, API_E_DB_UNAVAILABLE, "the database did not answer");
}

typedef struct {
    const char *params[7];
} audit_ctx;

static db_status audit_tx(db_conn *c, void *arg)
{
    audit_ctx *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    PGresult *res = db_exec(c, "audit_insert", 7, x->params, &st);
    PQclear(res);
    return st;
}

void api_audit(api_req *r, const char *action, const char *object, const char *result,
               const char *detail)
{
    db_conn *c = api_req_db(r);
    if (!c)
        return;
    const api_caller *caller = api_req_caller(r);
    char aid[24] = "";
    if (caller && caller->account_id)
        snprintf(aid, sizeof aid, "%lld", (long long)caller->account_id);
    audit_ctx x = {{aid[0] ? aid : NULL, caller ? caller->username : "", api_req_peer(r), action,
                    object ? object : "", result, detail ? detail : ""}};
    if (db_run_tx(c, NULL, audit_tx, &x) != DB_OK)
        LOG_ERROR("audit record lost", "id=%llu action=%s object=%s",
                  (unsigned long long)api_req_id(r), action, object ? object : "");
}

/* ---- login ------------------------------------------------------------ */

typedef struct {
    const char *username;
    int found, disabled, locked, must_change, expired;
    char hash[crypto_pwhash_STRBYTES];
    char id[24];
    char role[32];
    char scope_id[24];
} account_row;

static db_status load_account_tx(db_conn *c, void *arg)
{
    account_row *a = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    char age[24];
    snprintf(age, sizeof age, "%ld", g_config.password_max_age_days);
    const char *p[2] = {a->username, age};
    PGresult *res = db_exec(c, "auth_account_by_name", 2, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) == 1) {
        a->found = 1;
        snprintf(a->id, sizeof a->id, "%s", PQgetvalue(res, 0, 0));
        snprintf(a->hash, sizeof a->hash, "%s", PQgetvalue(res, 0, 1));
        snprintf(a->role, sizeof a->role, "%s", PQgetvalue(res, 0, 2));
        snprintf(a->scope_id, sizeof a->scope_id, "%s", PQgetvalue(res, 0, 3));
        a->disabled = PQgetvalue(res, 0, 4)[0] == 't';
        a->locked = PQgetvalue(res, 0, 5)[0] == 't';
        a->must_change = PQgetvalue(res, 0, 6)[0] == 't';
        a->expired = PQgetvalue(res, 0, 7)[0] == 't';
    }
    PQclear(res);
    return DB_OK;
}

typedef struct {
    account_row *a;
    int ok;
    const char *new_hash;
    char token_hash[70];
    const char *peer, *ua;
    int locked_now;
    char session_id[24];
    char expires_at[64];
} login_update;

static db_status login_update_tx(db_conn *c, void *arg)
{
    login_update *u = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    PGresult *res;
    if (!u->ok) {
        char window[24];
        snprintf(window, sizeof window, "%ld", g_config.lockout_window_s);
        const char *p[2] = {u->a->id, window};
        res = db_exec(c, "auth_login_failed", 2, p, &st);
        if (!res)
            return st;
        long failures = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        if (failures >= g_config.lockout_threshold && !u->a->locked) {
            char dur[24];
            snprintf(dur, sizeof dur, "%ld", g_config.lockout_duration_s);
            const char *lp[2] = {u->a->id, dur};
            res = db_exec(c, "auth_lock", 2, lp, &st);
            if (!res)
                return st;
            PQclear(res);
            u->locked_now = 1;
        }
        return DB_OK;
    }
    const char *p[2] = {u->a->id, u->new_hash};
    res = db_exec(c, "auth_login_ok", 2, p, &st);
    if (!res)
        return st;
    PQclear(res);
    char maxage[24];
    snprintf(maxage, sizeof maxage, "%ld", g_config.session_max_age_s);
    const char *sp[5] = {u->a->id, u->token_hash, maxage, u->peer, u->ua ? u->ua : ""};
    res = db_exec(c, "auth_session_new", 5, sp, &st);
    if (!res)
        return st;
    snprintf(u->session_id, sizeof u->session_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(u->expires_at, sizeof u->expires_at, "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return DB_OK;
}

int api_login(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"username", "password"};
    if (api_json_strict(r, body, allowed, 2) != 0)
        return 0;
    const char *username = json_string_value(json_object_get(body, "username"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!username || !password || strlen(username) > 64 || strlen(password) > 256)
        return api_reply_error(r, API_E_BAD_REQUEST, "username and password are required strings");

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    if (sem_timedwait(&hash_slots, &ts) != 0)
        return api_reply_error(r, API_E_OVERLOADED, "too many logins at once");

    account_row a = {.username = username};
    db_status st = DB_HARD;
    db_conn *c = api_req_db(r);
    if (c)
        st = db_run_tx(c, NULL, load_account_tx, &a);
    if (st != DB_OK) {
        sem_post(&hash_slots);
        return api_reply_db(r, st);
    }
    int verified = srv_password_verify(a.found ? a.hash : dummy_hash, password) == 0;
    char new_hash[crypto_pwhash_STRBYTES];
    int rehash = verified && a.found && srv_password_needs_rehash(a.hash) &&
                 srv_password_hash(password, new_hash) == 0;
    sem_post(&hash_slots);

    int ok = verified && a.found && !a.disabled && !a.locked;
    /* audit records name who tried, whether or not it worked */
    api_req_set_caller_account(r, 0, username);
    if (!a.found) {
        api_audit(r, "login", username, "failed", "no such account");
        return api_reply_error(r, API_E_LOGIN_FAILED, "login failed");
    }
    login_update u = {.a = &a,
                      .ok = ok,
                      .new_hash = rehash ? new_hash : NULL,
                      .peer = api_req_peer(r),
                      .ua = api_req_header(r, "User-Agent")};
    char token[64];
    if (ok) {
        unsigned char rnd[32];
        randombytes_buf(rnd, sizeof rnd);
        memcpy(token, "dws_", 4);
        sodium_bin2base64(token + 4, sizeof token - 4, rnd, sizeof rnd,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        hash_hex_param(token, u.token_hash);
    }
    st = db_run_tx(c, NULL, login_update_tx, &u);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!ok) {
        const char *why = a.locked     ? "account locked"
                          : a.disabled ? "account disabled"
                                       : "wrong password";
        api_audit(r, "login", username, a.locked ? "locked" : "failed", why);
        if (u.locked_now)
            api_audit(r, "lockout", username, "locked", "too many failed logins");
        return api_reply_error(r, API_E_LOGIN_FAILED, "login failed");
    }
    api_req_set_caller_account(r, strtoll(a.id, NULL, 10), username);
    api_audit(r, "login", username, "ok", rehash ? "password re-hashed" : "");
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             "dw_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s", token,
             g_config.session_max_age_s, g_config.cookie_secure ? "; Secure" : "");
    api_reply_add_header(r, "Set-Cookie", cookie);
    json_t *resp =
        json_pack("{s:s, s:s, s:s, s:b, s:b}", "token", token, "expires_at", u.expires_at, "role",
                  a.role, "must_change_password", a.must_change, "password_expired", a.expired);
    sodium_memzero(token, sizeof token);
    return api_reply_json(r, 200, resp);
}

typedef struct {
    const api_caller *caller;
} logout_ctx;

static db_status logout_tx(api_req *r, db_conn *c, void *arg)
{
    const api_caller *caller = api_req_caller(r);
    (void)arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK || !caller->session_id)
        return st;
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)caller->session_id);
    const char *p[1] = {sid};
    PGresult *res = db_exec(c, "auth_session_revoke", 1, p, &st);
    PQclear(res);
    return st;
}

int api_logout(api_req *r)
{
    db_status st = api_tx(r, logout_tx, NULL);
    if (st != DB_OK)
        return api_reply_db(r, st);
    api_auth_forget_all();
    api_audit(r, "logout", "", "ok", "");
    api_reply_add_header(r, "Set-Cookie",
                         "dw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return api_reply_json(r, 200, json_pack("{s:b}", "logged_out", 1));
}

typedef struct {
    json_t *out;
} me_ctx;

static db_status me_tx(api_req *r, db_conn *c, void *arg)
{
    me_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    if (!caller->account_id) {
        x->out = json_pack("{s:s, s:s, s:{s:s, s:I}}", "username", caller->username, "role",
                           caller->role, "scope", "kind", "enterprise", "id",
                           (json_int_t)caller->scope_id);
        return DB_OK;
    }
    char aid[24];
    snprintf(aid, sizeof aid, "%lld", (long long)caller->account_id);
    const char *p[1] = {aid};
    db_status st;
    PGresult *res = db_exec(c, "auth_me", 1, p, &st);
    if (!res)
        return st;
    if (PQntuples(res) == 1)
        x->out = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    return DB_OK;
}

int api_me(api_req *r)
{
    me_ctx x = {0};
    db_status st = api_tx(r, me_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!x.out)
        return api_reply_error(r, API_E_NOT_FOUND, "account not found");
    /* what the server enforces (an expired password too), so the dashboard
     * asks for the change instead of meeting 403s */
    if (api_req_caller(r)->must_change_password)
        json_object_set_new(x.out, "must_change_password", json_true());
    return api_reply_json(r, 200, x.out);
}

typedef struct {
    const char *hash;
    int verified;
    char current[crypto_pwhash_STRBYTES];
} pw_ctx;

static db_status pw_load_tx(api_req *r, db_conn *c, void *arg)
{
    pw_ctx *x = arg;
    account_row a = {.username = api_req_caller(r)->username};
    db_status st = load_account_tx(c, &a);
    if (st == DB_OK && a.found)
        snprintf(x->current, sizeof x->current, "%s", a.hash);
    return st;
}

static db_status pw_store_tx(api_req *r, db_conn *c, void *arg)
{
    pw_ctx *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    const api_caller *caller = api_req_caller(r);
    char aid[24], sid[24];
    snprintf(aid, sizeof aid, "%lld", (long long)caller->account_id);
    snprintf(sid, sizeof sid, "%lld", (long long)caller->session_id);
    const char *p[2] = {aid, x->hash};
    PGresult *res = db_exec(c, "auth_password_set", 2, p, &st);
    if (!res)
        return st;
    PQclear(res);
    /* other sessions of this account may belong to whoever knew the old password */
    const char *rp[2] = {aid, sid};
    res = db_exec(c, "auth_sessions_revoke_account", 2, rp, &st);
    PQclear(res);
    return st;
}

int api_password_change(api_req *r)
{
    const api_caller *caller = api_req_caller(r);
    if (!caller->account_id)
        return api_reply_error(r, API_E_FORBIDDEN, "API keys have no password");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"current_password", "new_password"};
    if (api_json_strict(r, body, allowed, 2) != 0)
        return 0;
    const char *cur = json_string_value(json_object_get(body, "current_password"));
    const char *nw = json_string_value(json_object_get(body, "new_password"));
    if (!cur || !nw || strlen(nw) > 256)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "current_password and new_password are required strings");
    char why[200];
    if (srv_password_check_policy(nw, caller->username, why, sizeof why) != 0)
        return api_reply_error(r, API_E_PASSWORD_POLICY, "%s", why);
    pw_ctx x = {0};
    db_status st = api_tx(r, pw_load_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (sem_trywait(&hash_slots) != 0)
        return api_reply_error(r, API_E_OVERLOADED, "too many password operations at once");
    int ok = x.current[0] && srv_password_verify(x.current, cur) == 0;
    char hash[crypto_pwhash_STRBYTES];
    int hashed = ok && srv_password_hash(nw, hash) == 0;
    sem_post(&hash_slots);
    if (!ok) {
        api_audit(r, "password_change", caller->username, "failed", "wrong current password");
        return api_reply_error(r, API_E_LOGIN_FAILED, "the current password is wrong");
    }
    if (!hashed)
        return api_reply_error(r, API_E_INTERNAL, "could not hash the password");
    x.hash = hash;
    st = api_tx(r, pw_store_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    api_auth_forget_all();
    api_audit(r, "password_change", caller->username, "ok", "");
    return api_reply_json(r, 200, json_pack("{s:b}", "changed", 1));
}
