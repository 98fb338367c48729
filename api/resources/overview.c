/* Overview: the numbers a bureau looks at first, for the caller's scope. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_overview.h"
#include "srv_config.h"
#include "srv_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    json_t *out;
} ctx;

static db_status overview_tx(api_req *r, db_conn *c, void *arg)
{
    ctx *x = arg;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    json_decref(x->out); /* from an attempt that was retried */
    db_status st = db_overview_get(c, &s, g_config.connected_window_h * 3600L, &x->out);
    if (st != DB_OK || !x->out)
        return st;
    /* open / overdue alarms, warnings by colour, grades, cleaning compliance */
    return api_risk_overview(c, s.kind, s.id, x->out);
}

/* ---- one overview per scope ------------------------------------------------
 * The overview is the same document for every account of a scope, and a
 * district's costs tens of milliseconds of PostgreSQL (every point of every
 * enterprise).  Bureaus keep it open on many screens; what changes second by
 * second reaches them over the live event stream.  So a scope's answer is
 * reused for overview_cache_ms, a write through this API process drops every
 * answer at once, and while one thread recomputes an expired answer the
 * others keep serving the previous one (never older than STALE_FACTOR x the
 * reuse time), or wait for it when there is none, instead of all asking
 * PostgreSQL the same question. */
#define CACHE_SLOTS  64
#define STALE_FACTOR 4
#define WAIT_S       5 /* longest wait for another request's answer */

typedef struct {
    char key[112];
    json_t *doc; /* owned by the cache; readers get deep copies */
    int64_t made_ms;
    unsigned long generation;
    int refreshing;
} cache_slot;

static cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cv = PTHREAD_COND_INITIALIZER;

/* Under cache_mu: the slot of key, or the least recently made one to reuse. */
static cache_slot *slot_for(const char *key)
{
    cache_slot *victim = &cache[0];
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (strcmp(cache[i].key, key) == 0)
            return &cache[i];
        if (!cache[i].refreshing && cache[i].made_ms < victim->made_ms)
            victim = &cache[i];
    }
    if (victim->refreshing)
        return NULL;
    json_decref(victim->doc);
    memset(victim, 0, sizeof *victim);
    snprintf(victim->key, sizeof victim->key, "%s", key);
    return victim;
}

/* A copy of the cached document if it may be served (new reference), else
 * NULL; *mine says whether this caller should compute and store it. */
static json_t *cache_lookup(const char *key, int *mine)
{
    int64_t ttl = g_config.overview_cache_ms, now = srv_mono_ms();
    unsigned long gen = api_write_generation();
    json_t *copy = NULL;
    *mine = 0;
    pthread_mutex_lock(&cache_mu);
    cache_slot *s = slot_for(key);
    if (s) {
        int usable = s->doc && s->generation == gen;
        if (usable && now - s->made_ms < ttl)
            copy = json_deep_copy(s->doc);
        else if (s->refreshing && usable && now - s->made_ms < ttl * STALE_FACTOR)
            copy = json_deep_copy(s->doc);
        else if (!s->refreshing)
            *mine = s->refreshing = 1;
        else {
            /* nothing servable yet and someone is computing it (a cold
             * start, or right after a write): wait for that answer rather
             * than all asking PostgreSQL the same question at once */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += WAIT_S;
            while (s->refreshing && strcmp(s->key, key) == 0 &&
                   pthread_cond_timedwait(&cache_cv, &cache_mu, &until) == 0)
                ;
            if (strcmp(s->key, key) == 0 && s->doc && s->generation == api_write_generation() &&
                srv_mono_ms() - s->made_ms < ttl * STALE_FACTOR)
                copy = json_deep_copy(s->doc);
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return copy;
}

/* Stores doc (borrowed; copied) computed by the caller that got *mine, or
 * only releases the slot when doc is NULL. */
static void cache_store(const char *key, json_t *doc, unsigned long gen, int64_t started_ms)
{
    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *s = &cache[i];
        if (strcmp(s->key, key) != 0)
            continue;
        s->refreshing = 0;
        if (doc) {
            json_decref(s->doc);
            s->doc = json_deep_copy(doc);
            s->made_ms = started_ms;
            s->generation = gen;
        }
        break;
    }
    pthread_cond_broadcast(&cache_cv);
    pthread_mutex_unlock(&cache_mu);
}

int api_overview_get(api_req *r)
{
    /* the real scope (what row-level security applies) and the app filter's
     * parameters (which differ from it only under the test-only switch) */
    char kind[16], id[24], scope[64], key[112];
    api_scope_params(api_req_caller(r), kind, id);
    api_scope_string(api_req_caller(r), scope, sizeof scope);
    snprintf(key, sizeof key, "%s|%s:%s", scope, kind, id);
    int mine = 0;
    if (g_config.overview_cache_ms > 0) {
        json_t *hit = cache_lookup(key, &mine);
        if (hit)
            return api_reply_json(r, 200, hit);
    }
    /* the generation is read before the data, so a write that lands while
     * computing leaves the stored answer already out of date */
    unsigned long gen = api_write_generation();
    int64_t started = srv_mono_ms();
    ctx x = {0};
    db_status st = api_tx(r, overview_tx, &x);
    if (st != DB_OK) {
        if (mine)
            cache_store(key, NULL, 0, 0);
        json_decref(x.out);
        return api_reply_db(r, st);
    }
    if (!x.out)
        x.out = json_object();
    if (mine)
        cache_store(key, x.out, gen, started);
    return api_reply_json(r, 200, x.out);
}

void api_overview_init(void)
{
    db_overview_register();
}
