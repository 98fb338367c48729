/* Who is calling: a request's session or API key resolved to its caller
 * (and cached), the scope every handler's transaction runs under, and the
 * audit trail.  Login, logout and password changes are resources
 * (api/resources/sessions.c). */
#include "api_auth.h"

#include "db_auth.h"
#include "srv_config.h"
#include "srv_cred.h"
#include "srv_log.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

_Static_assert(crypto_hash_sha256_BYTES == DB_AUTH_DIGEST_BYTES, "a token digest is a SHA-256");

void api_auth_init(void)
{
    db_auth_register();
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

static const char *bearer_token(api_req *r, char *buf, size_t len, int *via_cookie)
{
    *via_cookie = 0;
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
        *via_cookie = 1;
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

unsigned long api_auth_generation(void)
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
    /* REST API keys: "dwa_", and "dwk_" for keys issued before the split */
    if (strncmp(x->token, SRV_CRED_REST_KEY_PREFIX, 4) == 0 ||
        strncmp(x->token, SRV_CRED_INGEST_KEY_PREFIX, 4) == 0) {
        db_auth_key k;
        int found = 0;
        st = db_auth_apikey_use(c, x->digest, &k, &found);
        if (st != DB_OK || !found)
            return st;
        x->found = 1;
        x->out->api_key_id = k.id;
        x->out->scope_id = k.enterprise_id;
        snprintf(x->out->username, sizeof x->out->username, "apikey:%s", k.prefix);
        role_info("enterprise_staff", x->out);
        return DB_OK;
    }
    db_auth_session s;
    int found = 0;
    st = db_auth_session_get(c, x->digest, g_config.session_idle_timeout_s,
                             g_config.password_max_age_days, &s, &found);
    if (st != DB_OK || !found || role_info(s.role, x->out) != 0)
        return st;
    x->found = 1;
    x->out->session_id = s.session_id;
    x->out->account_id = s.account_id;
    snprintf(x->out->username, sizeof x->out->username, "%s", s.username);
    x->out->scope_id = s.scope_id;
    x->out->must_change_password = s.must_change_password;
    return s.stale ? db_auth_session_touch(c, s.session_id) : DB_OK;
}

int api_auth_resolve(api_req *r, api_caller *out)
{
    memset(out, 0, sizeof *out);
    char token[256];
    int via_cookie;
    if (!bearer_token(r, token, sizeof token, &via_cookie) || !token[0]) {
        api_reply_error(r, API_E_UNAUTHENTICATED, "no session or API key");
        return -1;
    }
    unsigned char key[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(key, (const unsigned char *)token, strlen(token));
    if (auth_cache_get(key, out)) {
        sodium_memzero(token, sizeof token);
        out->via_cookie = via_cookie;
        return 0;
    }
    db_conn *c = api_req_db(r);
    if (!c) {
        sodium_memzero(token, sizeof token);
        return -1;
    }
    unsigned long gen = api_auth_generation();
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
    out->via_cookie = via_cookie;
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
    if (st != DB_BAD && api_req_read_failed(r))
        return 0;
    if (st == DB_BAD)
        return api_reply_error(r, API_E_UNPROCESSABLE, "the change breaks a rule of the archive");
    return api_reply_error(r, API_E_DB_UNAVAILABLE, "the database did not answer");
}

typedef struct {
    int64_t account_id;
    const char *username, *peer, *action, *object, *result, *detail;
} audit_ctx;

static db_status audit_tx(db_conn *c, void *arg)
{
    audit_ctx *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    return db_auth_audit_insert(c, x->account_id, x->username, x->peer, x->action, x->object,
                                x->result, x->detail);
}

db_status api_audit_tx(api_req *r, db_conn *c, const char *action, const char *object,
                       const char *result, const char *detail)
{
    const api_caller *caller = api_req_caller(r);
    return db_auth_audit_insert(c, caller ? caller->account_id : 0, caller ? caller->username : "",
                                api_req_peer(r), action, object ? object : "", result,
                                detail ? detail : "");
}

void api_audit(api_req *r, const char *action, const char *object, const char *result,
               const char *detail)
{
    db_conn *c = api_req_db(r);
    if (!c)
        return;
    const api_caller *caller = api_req_caller(r);
    audit_ctx x = {caller ? caller->account_id : 0,
                   caller ? caller->username : "",
                   api_req_peer(r),
                   action,
                   object ? object : "",
                   result,
                   detail ? detail : ""};
    if (db_run_tx(c, NULL, audit_tx, &x) != DB_OK)
        LOG_ERROR("audit record lost", "id=%llu action=%s object=%s",
                  (unsigned long long)api_req_id(r), action, object ? object : "");
}

db_status api_audit_move_tx(api_req *r, db_conn *c, const char *kind, const char *id,
                            const char *act, const char *from, const char *to, const char *why)
{
    char obj[64], action[64];
    snprintf(obj, sizeof obj, "%s:%s", kind, id);
    snprintf(action, sizeof action, "%s_%s", kind, act);
    json_t *d = json_pack("{s:s, s:s, s:s}", "from", from, "to", to, "why", why ? why : "");
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!ds)
        return DB_HARD;
    db_status st = api_audit_tx(r, c, action, obj, "ok", ds);
    free(ds);
    return st;
}
