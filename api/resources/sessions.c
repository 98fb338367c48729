/* Sessions: login, logout, who am I, password change.
 *
 * Password hashing is expensive on purpose, so at most login_max_concurrent
 * hashes run at once (the rest wait briefly, then get 503): a burst of
 * logins cannot starve the pool threads every other request needs. */
#include "api_auth.h"
#include "api_client.h"
#include "api_handlers.h"

#include "db_accounts.h"
#include "db_auth.h"
#include "db_totp.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_password.h"
#include "srv_totp.h"

#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdatomic.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

_Static_assert(crypto_pwhash_STRBYTES == DB_AUTH_HASH_BYTES, "a stored hash fits");

static sem_t hash_slots;

/* A valid hash of a random password: verifying against it costs the same as
 * a real account, so "no such user" and "wrong password" take equally long. */
static char dummy_hash[crypto_pwhash_STRBYTES];

static pthread_once_t sessions_once = PTHREAD_ONCE_INIT;

/* What the login path did, counted for the debug line each login writes
 * (tests check that an unknown user name costs what a wrong password does). */
static atomic_ulong n_verifications, n_failures_recorded;

static void sessions_setup(void)
{
    api_client_init();
    sem_init(&hash_slots, 0,
             (unsigned)(g_config.login_max_concurrent > 0 ? g_config.login_max_concurrent : 1));
    char pw[33];
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    if (srv_password_hash(pw, dummy_hash) != 0)
        LOG_ERROR("could not prepare the timing-equaliser hash", "%s", "");
}

void api_sessions_init(void)
{
    db_auth_register();
    db_accounts_register();
    db_totp_register();
    pthread_once(&sessions_once, sessions_setup);
}

/* ---- login ------------------------------------------------------------ */

/* The session cookie is Secure when the operator says so or when users
 * reach the dashboard over https (public_url). */
static int cookie_secure(void)
{
    return g_config.cookie_secure || strncasecmp(g_config.public_url, "https://", 8) == 0;
}

/* A failed login's debug line: whether the user name was known, and the
 * running counts of password verifications and recorded failures. */
static void log_login(api_req *r, int known, int recorded)
{
    LOG_DEBUG("login failed", "id=%llu known=%d failure_recorded=%d verifications=%lu failures=%lu",
              (unsigned long long)api_req_id(r), known, recorded, atomic_load(&n_verifications),
              atomic_load(&n_failures_recorded));
}

typedef struct {
    const char *username;
    int found;
    db_auth_account a;
    int with_totp; /* also read the second factor (a login) */
    db_totp_state totp;
} account_row;

static db_status load_account_tx(db_conn *c, void *arg)
{
    account_row *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    st = db_auth_account_by_name(c, x->username, g_config.password_max_age_days, &x->a, &x->found);
    if (st != DB_OK || !x->with_totp)
        return st;
    /* for unknown names too: the same statements whoever it is */
    int found = 0;
    st = db_totp_by_name(c, x->username, &x->totp, &found);
    if (st == DB_OK && !found)
        memset(&x->totp, 0, sizeof x->totp);
    return st;
}

typedef struct {
    const db_auth_account *a;
    int ok;
    const char *new_hash;
    unsigned char token_digest[crypto_hash_sha256_BYTES];
    const char *peer, *ua;
    int locked_now;
    int64_t totp_step; /* > 0: the step of the code that passed, used up here */
    int replayed;
    int stale; /* the account changed after the password was verified (changed, disabled, locked) */
    int64_t session_id;
    char expires_at[64];
} login_update;

static db_status login_update_tx(db_conn *c, void *arg)
{
    login_update *u = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    if (!u->a->id) /* no such account */
        return db_accounts_login_failed_unknown(c);
    if (u->ok && u->totp_step > 0) {
        int fresh = 0;
        st = db_totp_use(c, u->a->id, u->totp_step, &fresh);
        if (st != DB_OK)
            return st;
        if (!fresh) {
            u->ok = 0;
            u->replayed = 1;
        }
    }
    if (u->ok) {
        /* the standing was judged in another transaction, before the hashing: the update
         * asks it again of the row (a password changed meanwhile revoked the account's
         * sessions, and this one must not come after) */
        int done = 0;
        st = db_auth_login_ok(c, u->a->id, u->a->hash, u->new_hash, &done);
        if (st != DB_OK)
            return st;
        if (!done) {
            u->ok = 0;
            u->stale = 1;
        }
    }
    if (!u->ok) {
        long failures;
        st = db_auth_login_failed(c, u->a->id, g_config.lockout_window_s, &failures);
        if (st != DB_OK)
            return st;
        if (u->a->id && failures >= g_config.lockout_threshold && !u->a->locked) {
            st = db_auth_lock(c, u->a->id, g_config.lockout_duration_s);
            if (st != DB_OK)
                return st;
            u->locked_now = 1;
        }
        return DB_OK;
    }
    return db_auth_session_new(c, u->a->id, u->token_digest, g_config.session_max_age_s, u->peer,
                               u->ua, &u->session_id, u->expires_at);
}

int api_login(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"username", "password", "totp_code"};
    if (api_json_strict(r, body, allowed, 3) != 0)
        return 0;
    const char *username = json_string_value(json_object_get(body, "username"));
    const char *password = json_string_value(json_object_get(body, "password"));
    if (!username || !password || strlen(username) > 64 || strlen(password) > 256)
        return api_reply_error(r, API_E_BAD_REQUEST, "username and password are required strings");
    json_t *code_json = json_object_get(body, "totp_code");
    if (code_json && !json_is_string(code_json))
        return api_reply_error(r, API_E_BAD_REQUEST, "totp_code is a string of 6 digits");
    const char *totp_code = json_string_value(code_json);

    pthread_once(&sessions_once, sessions_setup);
    /* before any hashing: one caller cannot lock every user name it knows
     * nor keep the hashing slots busy (api_client.h) */
    const char *client = api_req_peer(r);
    long wait = api_client_login_take(client);
    if (wait > 0) {
        char retry[24];
        snprintf(retry, sizeof retry, "%ld", wait);
        api_reply_add_header(r, "Retry-After", retry);
        LOG_INFO("login refused",
                 "id=%llu client=%s reason=\"too many failed logins\" retry_after=%ld",
                 (unsigned long long)api_req_id(r), client, wait);
        return api_reply_error(r, API_E_TOO_MANY_REQUESTS,
                               "too many failed logins from this address; retry in %ld s", wait);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 2;
    if (sem_timedwait(&hash_slots, &ts) != 0) {
        api_client_login_refund(client);
        return api_reply_error(r, API_E_OVERLOADED, "too many logins at once");
    }

    account_row x = {.username = username, .with_totp = 1};
    const db_auth_account *a = &x.a;
    db_status st = DB_HARD;
    db_conn *c = api_req_db(r);
    if (c)
        st = db_run_tx(c, NULL, load_account_tx, &x);
    if (st != DB_OK) {
        sem_post(&hash_slots);
        api_client_login_refund(client);
        return api_reply_db(r, st);
    }
    /* an unknown user name costs what a known one does: the same argon2id
     * verification (against a hash of the same parameters) and, below, the
     * same failed-login transaction */
    int verified = srv_password_verify(x.found ? a->hash : dummy_hash, password) == 0;
    atomic_fetch_add(&n_verifications, 1);
    char new_hash[crypto_pwhash_STRBYTES];
    int rehash = verified && x.found && srv_password_needs_rehash(a->hash) &&
                 srv_password_hash(password, new_hash) == 0;
    sem_post(&hash_slots);

    /* the second factor, once the password is right */
    int standing = verified && x.found && !a->disabled && !a->locked;
    int need_totp = standing && x.totp.enabled;
    int64_t totp_step = -1;
    if (need_totp && totp_code) {
        unsigned char secret[SRV_TOTP_SECRET_BYTES];
        if (srv_totp_open(a->id, x.totp.sealed, x.totp.sealed_len, secret) == 0)
            totp_step = srv_totp_check(secret, totp_code, (int64_t)time(NULL));
        else
            LOG_ERROR("totp secret does not open", "id=%llu account=%lld reason=\"%s\"",
                      (unsigned long long)api_req_id(r), (long long)a->id,
                      "totp_key missing or changed");
        sodium_memzero(secret, sizeof secret);
    }
    if (need_totp && !totp_code) {
        /* the password was right: ask for the code, counting no failure
         * (and giving the attempt back: the code comes in the next one) */
        api_client_login_refund(client);
        api_req_set_caller_account(r, 0, username);
        api_audit(r, "login", username, "failed", "second factor required");
        return api_reply_error(r, API_E_TOTP_REQUIRED, "send totp_code with the password");
    }
    int ok = standing && (!need_totp || totp_step > 0);
    /* audit records name who tried, whether or not it worked */
    api_req_set_caller_account(r, 0, username);
    if (!x.found) {
        /* account 0: a row rewrite that changes nothing in place of the
         * failed-login update (db_accounts_login_failed_unknown) */
        static const db_auth_account nobody;
        login_update none = {.a = &nobody, .ok = 0};
        st = db_run_tx(c, NULL, login_update_tx, &none);
        if (st == DB_OK)
            atomic_fetch_add(&n_failures_recorded, 1);
        log_login(r, 0, st == DB_OK);
        api_audit(r, "login", username, "failed", "no such account");
        return api_reply_error(r, API_E_LOGIN_FAILED, "login failed");
    }
    login_update u = {.a = a,
                      .ok = ok,
                      .new_hash = rehash ? new_hash : NULL,
                      .totp_step = ok && need_totp ? totp_step : 0,
                      .peer = api_req_peer(r),
                      .ua = api_req_header(r, "User-Agent")};
    char token[64];
    if (ok) {
        unsigned char rnd[32];
        randombytes_buf(rnd, sizeof rnd);
        memcpy(token, "dws_", 4);
        sodium_bin2base64(token + 4, sizeof token - 4, rnd, sizeof rnd,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        crypto_hash_sha256(u.token_digest, (const unsigned char *)token, strlen(token));
    }
    st = db_run_tx(c, NULL, login_update_tx, &u);
    if (st != DB_OK)
        return api_reply_db(r, st);
    ok = u.ok; /* a replayed code turned it down */
    if (!ok) {
        sodium_memzero(token, sizeof token);
        atomic_fetch_add(&n_failures_recorded, 1);
        log_login(r, 1, 1);
        const char *why = a->locked     ? "account locked"
                          : a->disabled ? "account disabled"
                          : !verified   ? "wrong password"
                          : u.stale     ? "account changed while logging in"
                          : u.replayed  ? "second factor code used already"
                                        : "wrong second factor";
        api_audit(r, "login", username, a->locked ? "locked" : "failed", why);
        if (u.locked_now)
            api_audit(r, "lockout", username, "locked", "too many failed logins");
        return api_reply_error(r, API_E_LOGIN_FAILED, "login failed");
    }
    api_client_login_refund(client);
    api_req_set_caller_account(r, a->id, username);
    api_audit(r, "login", username, "ok", rehash ? "password re-hashed" : "");
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             "dw_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s", token,
             g_config.session_max_age_s, cookie_secure() ? "; Secure" : "");
    api_reply_add_header(r, "Set-Cookie", cookie);
    json_t *resp =
        json_pack("{s:s, s:s, s:s, s:b, s:b}", "token", token, "expires_at", u.expires_at, "role",
                  a->role, "must_change_password", a->must_change, "password_expired", a->expired);
    sodium_memzero(token, sizeof token);
    return api_reply_json(r, 200, resp);
}

/* ---- logout, me --------------------------------------------------------- */

static db_status logout_tx(api_req *r, db_conn *c, void *arg)
{
    const api_caller *caller = api_req_caller(r);
    (void)arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    if (caller->session_id && (st = db_auth_session_revoke(c, caller->session_id)) != DB_OK)
        return st;
    return api_audit_tx(r, c, "logout", "", "ok", "");
}

int api_logout(api_req *r)
{
    db_status st = api_tx(r, logout_tx, NULL);
    if (st != DB_OK)
        return api_reply_db(r, st);
    api_auth_forget_all();
    api_reply_add_header(r, "Set-Cookie",
                         cookie_secure()
                             ? "dw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
                             : "dw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    return api_reply_json(r, 200, json_pack("{s:b}", "logged_out", 1));
}

typedef struct {
    json_t *out;
} me_ctx;

static db_status me_tx(api_req *r, db_conn *c, void *arg)
{
    me_ctx *x = arg;
    const api_caller *caller = api_req_caller(r);
    json_decref(x->out);
    x->out = NULL;
    if (!caller->account_id) {
        x->out = json_pack("{s:s, s:s, s:{s:s, s:I}}", "username", caller->username, "role",
                           caller->role, "scope", "kind", "enterprise", "id",
                           (json_int_t)caller->scope_id);
        return DB_OK;
    }
    db_status st = db_auth_me(c, caller->account_id, &x->out);
    if (st != DB_OK || !x->out)
        return st;
    db_totp_state t;
    int found = 0;
    if ((st = db_set_scope(c, "system")) != DB_OK ||
        (st = db_totp_by_id(c, caller->account_id, &t, &found)) != DB_OK)
        return st;
    json_object_set_new(x->out, "totp_enabled", json_boolean(found && t.enabled));
    return DB_OK;
}

int api_me(api_req *r)
{
    me_ctx x = {0};
    db_status st = api_tx(r, me_tx, &x);
    if (st != DB_OK) {
        json_decref(x.out);
        return api_reply_db(r, st);
    }
    if (!x.out)
        return api_reply_error(r, API_E_NOT_FOUND, "account not found");
    /* what the server enforces (an expired password too), so the dashboard
     * asks for the change instead of meeting 403s */
    if (api_req_caller(r)->must_change_password)
        json_object_set_new(x.out, "must_change_password", json_true());
    return api_reply_json(r, 200, x.out);
}

/* ---- password change ---------------------------------------------------- */

/* How many earlier passwords are compared at most, whatever the setting:
 * each comparison is an argon2id computation under a hashing slot. */
#define PW_HISTORY_MAX 24

typedef struct {
    const char *hash;
    char current[crypto_pwhash_STRBYTES];
    char history[PW_HISTORY_MAX][DB_AUTH_HASH_BYTES];
    int n_history;
} pw_ctx;

static int history_len(void)
{
    long n = g_config.password_history;
    return n < 0 ? 0 : n > PW_HISTORY_MAX ? PW_HISTORY_MAX : (int)n;
}

static db_status pw_load_tx(api_req *r, db_conn *c, void *arg)
{
    pw_ctx *x = arg;
    account_row a = {.username = api_req_caller(r)->username};
    db_status st = load_account_tx(c, &a);
    if (st == DB_OK && a.found) {
        snprintf(x->current, sizeof x->current, "%s", a.a.hash);
        st = db_auth_password_history(c, a.a.id, history_len(), x->history, &x->n_history);
    }
    return st;
}

static db_status pw_store_tx(api_req *r, db_conn *c, void *arg)
{
    pw_ctx *x = arg;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    const api_caller *caller = api_req_caller(r);
    st = db_auth_password_set(c, caller->account_id, x->hash);
    if (st != DB_OK)
        return st;
    /* other sessions of this account may belong to whoever knew the old password */
    st = db_auth_sessions_revoke_others(c, caller->account_id, caller->session_id);
    if (st != DB_OK)
        return st;
    return api_audit_tx(r, c, "password_change", caller->username, "ok", "");
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
    if (srv_password_is_demo(nw))
        return api_reply_error(r, API_E_PASSWORD_POLICY,
                               "the password is one of the published demo passwords");
    pw_ctx x = {0};
    db_status st = api_tx(r, pw_load_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    pthread_once(&sessions_once, sessions_setup);
    if (sem_trywait(&hash_slots) != 0)
        return api_reply_error(r, API_E_OVERLOADED, "too many password operations at once");
    int ok = x.current[0] && srv_password_verify(x.current, cur) == 0;
    /* the current password (a forced change must not keep the password an
     * administrator chose) and the recent ones are refused */
    int reused = ok && (strcmp(cur, nw) == 0 || srv_password_verify(x.current, nw) == 0);
    for (int i = 0; ok && !reused && i < x.n_history; i++)
        reused = srv_password_verify(x.history[i], nw) == 0;
    char hash[crypto_pwhash_STRBYTES];
    int hashed = ok && !reused && srv_password_hash(nw, hash) == 0;
    sem_post(&hash_slots);
    if (!ok) {
        api_audit(r, "password_change", caller->username, "failed", "wrong current password");
        return api_reply_error(r, API_E_LOGIN_FAILED, "the current password is wrong");
    }
    if (reused) {
        api_audit(r, "password_change", caller->username, "failed", "password reused");
        if (!x.n_history)
            return api_reply_error(r, API_E_PASSWORD_REUSED, "the new password is the current one");
        return api_reply_error(r, API_E_PASSWORD_REUSED,
                               "the new password is the current one or one of the %d before it",
                               x.n_history);
    }
    if (!hashed)
        return api_reply_error(r, API_E_INTERNAL, "could not hash the password");
    x.hash = hash;
    st = api_tx(r, pw_store_tx, &x);
    if (st != DB_OK)
        return api_reply_db(r, st);
    api_auth_forget_all();
    return api_reply_json(r, 200, json_pack("{s:b}", "changed", 1));
}
