/*
 * api_cache — answers reused across requests.  See api_cache.h.
 *
 * Each cache is a fixed array of slots under one mutex, searched by a hash of the key
 * first; a full cache reuses its least recently made slot that nobody is refreshing.
 * Sizes: the overview has one answer per scope (a city has a few dozen), the archive one
 * per enterprise and scope (a city has a few thousand enterprises), statistics one per
 * scope and query, series one per point and range in use (the charts open right now).
 */
#include "api_cache.h"

#include "api.h"
#include "api_auth.h"
#include "srv_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STALE_FACTOR 4 /* an expired answer is served this many ttl while it is recomputed */
#define WAIT_S       5 /* longest wait for another request's answer */
#define KEY_MAX      256

typedef struct {
    char key[KEY_MAX];
    uint64_t hash;
    char *text; /* the answer serialised (compact), owned by the cache; readers get copies */
    size_t len;
    int64_t made_ms;
    unsigned long generation;
    int refreshing;
    int indexed; /* its key is in the cache's index */
} slot;

/* A key's slot is found through index, open addressing with linear probing over twice as
 * many positions as slots (slot number + 1, 0 = empty): a lookup under the mutex used to walk
 * the slots, ~300 bytes apart, half of the archive's 2,048 on average for every request. */
typedef struct {
    slot *slots;
    int n;
    int *index;
    unsigned index_mask; /* positions - 1, a power of two minus one */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} cache;

static slot overview_slots[64], archive_slots[2048], stats_slots[256], series_slots[1024];
static int overview_index[128], archive_index[4096], stats_index[512], series_index[2048];
#define CACHE(slots, index)                                                                        \
    {                                                                                              \
        slots, (int)(sizeof slots / sizeof slots[0]), index,                                       \
            (unsigned)(sizeof index / sizeof index[0]) - 1, PTHREAD_MUTEX_INITIALIZER,             \
            PTHREAD_COND_INITIALIZER                                                               \
    }
static cache caches[API_CACHE__COUNT] = {
    [API_CACHE_OVERVIEW] = CACHE(overview_slots, overview_index),
    [API_CACHE_ARCHIVE] = CACHE(archive_slots, archive_index),
    [API_CACHE_STATS] = CACHE(stats_slots, stats_index),
    [API_CACHE_SERIES] = CACHE(series_slots, series_index),
};

static uint64_t key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Under c->mu: the slot holding key, or NULL. */
static slot *slot_find(cache *c, const char *key, uint64_t h)
{
    for (unsigned pos = (unsigned)h & c->index_mask; c->index[pos];
         pos = (pos + 1) & c->index_mask) {
        slot *s = &c->slots[c->index[pos] - 1];
        if (s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

/* Under c->mu: slot i (holding a key) out of the index, the entries after it in its run moved
 * back so that every key stays reachable from its home position. */
static void index_remove(cache *c, int i)
{
    unsigned mask = c->index_mask, hole = (unsigned)c->slots[i].hash & mask;
    while (c->index[hole] != i + 1)
        hole = (hole + 1) & mask;
    c->index[hole] = 0;
    for (unsigned j = (hole + 1) & mask; c->index[j]; j = (j + 1) & mask) {
        unsigned home = (unsigned)c->slots[c->index[j] - 1].hash & mask;
        /* the entry at j stays when its home lies cyclically in (hole, j] */
        int stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            c->index[hole] = c->index[j];
            c->index[j] = 0;
            hole = j;
        }
    }
}

/* Under c->mu: the slot of key, else the least recently made one (not being refreshed)
 * emptied for it; NULL when every slot is being refreshed. */
static slot *slot_for(cache *c, const char *key, uint64_t h)
{
    slot *found = slot_find(c, key, h), *victim = NULL;
    if (found)
        return found;
    for (int i = 0; i < c->n; i++) {
        slot *s = &c->slots[i];
        if (!s->refreshing && (!victim || s->made_ms < victim->made_ms))
            victim = s;
    }
    if (!victim)
        return NULL;
    int vi = (int)(victim - c->slots);
    if (victim->indexed)
        index_remove(c, vi);
    free(victim->text);
    memset(victim, 0, sizeof *victim);
    snprintf(victim->key, sizeof victim->key, "%s", key);
    victim->hash = h;
    unsigned pos = (unsigned)h & c->index_mask;
    while (c->index[pos])
        pos = (pos + 1) & c->index_mask;
    c->index[pos] = vi + 1;
    victim->indexed = 1;
    return victim;
}

void api_cache_key(api_req *r, char *key, size_t len, const char *fmt, ...)
{
    char kind[16], id[24], scope[64];
    api_scope_params(api_req_caller(r), kind, id);
    api_scope_string(api_req_caller(r), scope, sizeof scope);
    int n = snprintf(key, len, "%s|%s:%s", scope, kind, id);
    if (!fmt || n < 0 || (size_t)n + 1 >= len)
        return;
    key[n] = '|';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key + n + 1, len - (size_t)n - 1, fmt, ap);
    va_end(ap);
}

/* A malloc'd copy of a slot's text (*len bytes), NULL when out of memory. */
static char *text_copy(const slot *s, size_t *len)
{
    char *t = malloc(s->len + 1);
    if (t) {
        memcpy(t, s->text, s->len + 1);
        *len = s->len;
    }
    return t;
}

char *api_cache_get(api_cache_kind k, const char *key, int64_t ttl_ms, int *mine, int64_t *age_ms,
                    size_t *len)
{
    *mine = 0;
    *age_ms = 0;
    *len = 0;
    if (ttl_ms <= 0 || (int)k < 0 || k >= API_CACHE__COUNT || strlen(key) >= KEY_MAX)
        return NULL;
    cache *c = &caches[k];
    uint64_t h = key_hash(key);
    int64_t now = srv_mono_ms();
    unsigned long gen = api_write_generation();
    char *copy = NULL;
    pthread_mutex_lock(&c->mu);
    slot *s = slot_for(c, key, h);
    if (s) {
        int usable = s->text && s->generation == gen;
        if (usable && now - s->made_ms < ttl_ms)
            copy = text_copy(s, len);
        else if (s->refreshing && usable && now - s->made_ms < ttl_ms * STALE_FACTOR)
            copy = text_copy(s, len);
        if (copy)
            *age_ms = now - s->made_ms;
        else if (!s->refreshing)
            *mine = s->refreshing = 1;
        else {
            /* nothing servable yet and someone is computing it (a cold start, or right
             * after a write): wait for that answer rather than all asking PostgreSQL the
             * same question at once */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += WAIT_S;
            while (s->refreshing && s->hash == h && strcmp(s->key, key) == 0 &&
                   pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
                ;
            if (s->hash == h && strcmp(s->key, key) == 0 && s->text &&
                s->generation == api_write_generation() &&
                srv_mono_ms() - s->made_ms < ttl_ms * STALE_FACTOR) {
                copy = text_copy(s, len);
                *age_ms = srv_mono_ms() - s->made_ms;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return copy;
}

/* text (malloc'd, len bytes, or NULL) is taken over */
static void put_owned(api_cache_kind k, const char *key, char *text, size_t len, unsigned long gen,
                      int64_t started_ms)
{
    if ((int)k < 0 || k >= API_CACHE__COUNT) {
        free(text);
        return;
    }
    cache *c = &caches[k];
    uint64_t h = key_hash(key);
    pthread_mutex_lock(&c->mu);
    slot *s = slot_find(c, key, h);
    if (s) {
        s->refreshing = 0;
        if (text) {
            free(s->text);
            s->text = text;
            s->len = len;
            text = NULL;
            s->made_ms = started_ms;
            s->generation = gen;
        }
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    free(text); /* the slot went to another key meanwhile */
}

void api_cache_put(api_cache_kind k, const char *key, const json_t *doc, unsigned long gen,
                   int64_t started_ms)
{
    /* serialised once here, outside the lock: every later reader only copies bytes */
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    put_owned(k, key, text, text ? strlen(text) : 0, gen, started_ms);
}

void api_cache_put_text(api_cache_kind k, const char *key, const char *text, size_t len,
                        unsigned long gen, int64_t started_ms)
{
    char *copy = text ? malloc(len + 1) : NULL;
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    put_owned(k, key, copy, len, gen, started_ms);
}

int api_cache_reply(api_req *r, char *text, size_t len, int64_t age_ms)
{
    char age[24];
    snprintf(age, sizeof age, "%lld", (long long)(age_ms > 0 ? age_ms / 1000 : 0));
    api_reply_add_header(r, "Age", age);
    return api_reply_json_text(r, text, len);
}
