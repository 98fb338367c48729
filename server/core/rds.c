#include "rds.h"

#include "srv_log.h"
#include "srv_metrics.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 8192
/* messages sent per round trip (pipelined) */
#define BATCH_MAX 256
/* latest-value hashes whose updates were lost, deleted once Redis answers again */
#define STALE_MAX 1024
/* API read connections, and for how long Redis is skipped after a read failed */
#define READ_POOL_MAX   8
#define READ_TIMEOUT_MS 100
#define READ_BACKOFF_MS 1000

typedef enum { MSG_PUBLISH, MSG_LATEST, MSG_SEED } msg_kind;

/* dw:latest:* writes must never move a value backwards (a back-filled batch
 * published after a newer one): HSET only when the field is missing or holds
 * an older ts_us.  ARGV: complete-flag, then field, ts_us, value triples; a
 * complete-flag of 1 (a full copy from PostgreSQL) marks the hash as holding
 * every point, which is what lets the API trust it. */
static const char latest_script[] =
    "local n = 0 "
    "for i = 2, #ARGV, 3 do "
    "local cur = redis.call('HGET', KEYS[1], ARGV[i]) "
    "local old = cur and tonumber(string.match(cur, '\"ts_us\":(%d+)')) "
    "if not old or old < tonumber(ARGV[i + 1]) then "
    "redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) n = n + 1 end "
    "end "
    "if ARGV[1] == '1' then redis.call('HSET', KEYS[1], '" RDS_LATEST_COMPLETE "', '1') end "
    "return n";

typedef struct msg {
    struct msg *next;
    msg_kind kind;
    int ttl_s;
    char *a, *b, *c; /* channel/key/field, key, payload/value */
    long long ts_us; /* MSG_LATEST of one field */
    char **argv;     /* MSG_SEED, MSG_LATEST of several fields: the whole EVAL command */
    size_t argc;
    unsigned long gen; /* MSG_SEED: R.stale_gen when its PostgreSQL read began */
} msg;

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg *head, *tail;
    size_t len;
    int running;
    char host[256];
    char user[RDS_USER_MAX];
    char password[256];
    int port, db;
    atomic_int up;
    atomic_ulong dropped;
    /* under mu: keys of lost latest-value updates; overflow: all of them */
    char *stale[STALE_MAX];
    size_t n_stale;
    int stale_overflow;
    unsigned long stale_gen; /* counts mark_stale_locked calls */
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The API's read connections: separate from the publisher's so a slow
 * publisher never delays a request, and the other way round. */
static struct {
    pthread_mutex_t mu;
    redisContext *idle[READ_POOL_MAX];
    int n_idle;
    atomic_llong skip_until_ms;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Copies n bytes of src to dst (dstlen with the NUL) decoding %XX; 0 or -1. */
static int userinfo_copy(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = src[i];
        if (ch == '%') {
            unsigned v;
            if (i + 2 >= n)
                return -1;
            char hx[3] = {src[i + 1], src[i + 2], '\0'};
            char *end;
            v = (unsigned)strtoul(hx, &end, 16);
            if (end != hx + 2)
                return -1;
            ch = (char)v;
            i += 2;
        }
        if (o + 1 >= dstlen || ch == '\0')
            return -1;
        dst[o++] = ch;
    }
    dst[o] = '\0';
    return 0;
}

int rds_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db, char *password,
                  size_t pwlen)
{
    char user[RDS_USER_MAX];
    return rds_parse_url_auth(url, host, hostlen, port, db, user, sizeof user, password, pwlen);
}

int rds_parse_url_auth(const char *url, char *host, size_t hostlen, int *port, int *db, char *user,
                       size_t userlen, char *password, size_t pwlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return -1;
    p += 8;
    password[0] = '\0';
    user[0] = '\0';
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (colon && userinfo_copy(user, userlen, p, (size_t)(colon - p)) != 0)
            return -1;
        if (userinfo_copy(password, pwlen, pw, (size_t)(at - pw)) != 0)
            return -1;
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, p, hl);
    host[hl] = '\0';
    p += hl;
    *port = 6379;
    *db = 0;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v <= 0 || v > 65535)
            return -1;
        *port = (int)v;
        p = end;
    }
    if (*p == '/') {
        if (p[1]) {
            char *end;
            long v = strtol(p + 1, &end, 10);
            if (*end || v < 0 || v > 15)
                return -1;
            *db = (int)v;
        }
    } else if (*p) {
        return -1;
    }
    return 0;
}

static void msg_free(msg *m)
{
    for (size_t i = 0; i < m->argc; i++)
        free(m->argv[i]);
    free(m->argv);
    free(m->a);
    free(m->b);
    free(m->c);
    free(m);
}

/* Under R.mu.  A hash that missed an update is deleted later: the API then
 * answers from PostgreSQL and copies the full state back. */
static void mark_stale_locked(const char *key)
{
    R.stale_gen++;
    if (R.stale_overflow)
        return;
    for (size_t i = 0; i < R.n_stale; i++)
        if (strcmp(R.stale[i], key) == 0)
            return;
    char *k = R.n_stale < STALE_MAX ? strdup(key) : NULL;
    if (!k) {
        R.stale_overflow = 1;
        return;
    }
    R.stale[R.n_stale++] = k;
}

static void enqueue(msg *m)
{
    pthread_mutex_lock(&R.mu);
    if (!R.running) {
        pthread_mutex_unlock(&R.mu);
        msg_free(m);
        return;
    }
    if (R.len >= QUEUE_MAX) {
        /* drop the oldest: live views care about the newest values */
        msg *old = R.head;
        R.head = old->next;
        if (!R.head)
            R.tail = NULL;
        R.len--;
        if (old->kind == MSG_LATEST)
            mark_stale_locked(old->a);
        /* a dropped MSG_SEED only means the next read copies again */
        msg_free(old);
        atomic_fetch_add(&R.dropped, 1);
    }
    if (R.tail)
        R.tail->next = m;
    else
        R.head = m;
    R.tail = m;
    R.len++;
    pthread_cond_signal(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

void rds_publish(const char *channel, const char *key, int ttl_s, const char *payload)
{
    msg *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->kind = MSG_PUBLISH;
    m->a = strdup(channel);
    m->b = key ? strdup(key) : NULL;
    m->c = strdup(payload);
    m->ttl_s = ttl_s;
    enqueue(m);
}

void rds_latest(const char *key, const char *field, long long ts_us, const char *value)
{
    msg *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->kind = MSG_LATEST;
    m->a = strdup(key);
    m->b = strdup(field);
    m->c = strdup(value);
    m->ts_us = ts_us;
    if (!m->a || !m->b || !m->c) {
        msg_free(m);
        return;
    }
    enqueue(m);
}

int rds_is_up(void)
{
    return atomic_load(&R.up);
}

/* AUTH (when configured) and SELECT on a fresh connection; frees it and
 * returns NULL when Redis refuses either. */
int rds_auth(struct redisContext *c, const char *user, const char *password)
{
    if (!password || !password[0])
        return 0;
    /* argv form: the password is one argument whatever it holds */
    const char *argv[3] = {"AUTH", user, password};
    int argc = user && user[0] ? 3 : 2;
    if (argc == 2)
        argv[1] = password;
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int bad = !r || r->type == REDIS_REPLY_ERROR;
    if (bad)
        /* Redis's words (WRONGPASS ...) never hold the password */
        LOG_WARN("redis refused the credentials", "detail=%s",
                 srv_log_q((char[300]){0}, 300, r && r->str ? r->str : "no reply"));
    freeReplyObject(r);
    return bad ? -1 : 0;
}

static redisContext *redis_login(redisContext *c)
{
    redisReply *r;
    if (rds_auth(c, R.user, R.password) != 0) {
        redisFree(c);
        return NULL;
    }
    /* argv form: a Redis SELECT, not SQL (and nothing to format) */
    char db[16];
    snprintf(db, sizeof db, "%d", R.db);
    const char *argv[] = {"SELECT", db};
    r = redisCommandArgv(c, 2, argv, NULL);
    int bad = !r || r->type == REDIS_REPLY_ERROR;
    if (bad && r && r->str)
        /* e.g. NOAUTH: the Redis wants a password redis_url does not give */
        LOG_WARN("redis refused SELECT", "detail=%s", srv_log_q((char[300]){0}, 300, r->str));
    freeReplyObject(r);
    if (bad) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static redisContext *connect_redis(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(R.host, R.port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    struct timeval cmd_tv = {0, 500000};
    redisSetTimeout(c, cmd_tv);
    redisEnableKeepAlive(c);
    return redis_login(c);
}

/* Appends m's commands to c's pipeline; returns how many replies to read. */
static int append_msg(redisContext *c, const msg *m)
{
    if (m->kind == MSG_PUBLISH) {
        redisAppendCommand(c, "PUBLISH %s %s", m->a, m->c);
        if (!m->b)
            return 1;
        redisAppendCommand(c, "SET %s %s EX %d", m->b, m->c, m->ttl_s > 0 ? m->ttl_s : 3600);
        return 2;
    }
    if (m->kind == MSG_LATEST && !m->argv) {
        redisAppendCommand(c, "EVAL %s 1 %s 0 %s %lld %s", latest_script, m->a, m->b, m->ts_us,
                           m->c);
        return 1;
    }
    redisAppendCommandArgv(c, (int)m->argc, (const char **)m->argv, NULL);
    return 1;
}

/* Sends a batch in one round trip.  A NULL reply means the context is dead:
 * never dereference it. */
static int run_batch(redisContext *c, msg *const *ms, size_t n)
{
    int replies = 0;
    for (size_t i = 0; i < n; i++)
        replies += append_msg(c, ms[i]);
    for (int i = 0; i < replies; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return -1;
        if (r->type == REDIS_REPLY_ERROR)
            LOG_ERROR("redis refused a command", "detail=%s",
                      srv_log_q((char[300]){0}, 300, r->str ? r->str : ""));
        freeReplyObject(r);
    }
    return 0;
}

/* Deletes the hashes that missed updates (before any newer update goes out,
 * so a stale hash is never completed by a later one). */
static int flush_stale(redisContext *c)
{
    pthread_mutex_lock(&R.mu);
    size_t n = R.n_stale;
    int all = R.stale_overflow;
    char *keys[STALE_MAX];
    memcpy(keys, R.stale, n * sizeof keys[0]);
    R.n_stale = 0;
    R.stale_overflow = 0;
    pthread_mutex_unlock(&R.mu);
    int rc = 0;
    if (all) {
        redisReply *r = redisCommand(c, "EVAL %s 0 %s",
                                     "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
                                     "redis.call('DEL', k) end return 1",
                                     RDS_LATEST_PREFIX "*");
        rc = r ? 0 : -1;
        freeReplyObject(r);
        if (rc == 0)
            LOG_WARN("redis latest values reset", "reason=%s", "too many lost updates");
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            redisReply *r = redisCommand(c, "DEL %s", keys[i]);
            rc = r ? 0 : -1;
            freeReplyObject(r);
        }
        if (rc != 0) {
            pthread_mutex_lock(&R.mu);
            mark_stale_locked(keys[i]);
            pthread_mutex_unlock(&R.mu);
        }
        free(keys[i]);
    }
    return rc;
}

static void *publisher(void *arg)
{
    (void)arg;
    redisContext *c = NULL;
    int backoff_ms = 100;
    struct timespec next_ping = {0, 0};
    for (;;) {
        pthread_mutex_lock(&R.mu);
        while (R.running && !R.head) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if (pthread_cond_timedwait(&R.cv, &R.mu, &ts) != 0)
                break;
        }
        if (!R.running) {
            pthread_mutex_unlock(&R.mu);
            break;
        }
        msg *batch[BATCH_MAX];
        size_t n = 0;
        while (c && R.head && n < BATCH_MAX) {
            msg *m = R.head;
            R.head = m->next;
            if (!R.head)
                R.tail = NULL;
            R.len--;
            if (m->kind == MSG_SEED && m->gen != R.stale_gen) {
                /* an update was lost after this copy was read from PostgreSQL:
                 * it may be older than what PostgreSQL holds now */
                msg_free(m);
                continue;
            }
            batch[n++] = m;
        }
        int stale = R.n_stale > 0 || R.stale_overflow;
        pthread_mutex_unlock(&R.mu);

        if (!c) {
            c = connect_redis();
            if (!c) {
                if (atomic_exchange(&R.up, 0))
                    LOG_WARN("redis unreachable", "host=%s port=%d", R.host, R.port);
                struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
                continue;
            }
            backoff_ms = 100;
            if (!atomic_exchange(&R.up, 1))
                LOG_INFO("redis connected", "host=%s port=%d", R.host, R.port);
        }
        int failed = stale && flush_stale(c) != 0;
        if (n && !failed) {
            failed = run_batch(c, batch, n) != 0;
        } else if (!n && !failed) {
            /* idle: a ping keeps rds_is_up() honest for /readyz */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec >= next_ping.tv_sec) {
                redisReply *r = redisCommand(c, "PING");
                failed = !r;
                freeReplyObject(r);
                next_ping.tv_sec = now.tv_sec + 1;
            }
        }
        /* a failed batch may have been applied in part: its latest-value
         * hashes can no longer be trusted */
        pthread_mutex_lock(&R.mu);
        for (size_t i = 0; i < n; i++) {
            if (failed && (batch[i]->kind == MSG_LATEST || batch[i]->kind == MSG_SEED))
                mark_stale_locked(batch[i]->a);
            msg_free(batch[i]);
        }
        pthread_mutex_unlock(&R.mu);
        if (failed) {
            LOG_WARN("redis command failed", "detail=%s",
                     srv_log_q((char[300]){0}, 300, c->errstr[0] ? c->errstr : "no reply"));
            redisFree(c);
            c = NULL;
            atomic_store(&R.up, 0);
        }
    }
    if (c)
        redisFree(c);
    return NULL;
}

/* ---- the API's reads ------------------------------------------------------ */

static redisContext *read_connect(void)
{
    struct timeval tv = {0, READ_TIMEOUT_MS * 1000};
    redisContext *c = redisConnectWithTimeout(R.host, R.port, tv);
    if (!c || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        if (c)
            redisFree(c);
        return NULL;
    }
    return redis_login(c);
}

/* After a failure Redis is skipped for a while: a request must not pay a
 * timeout for every Redis read while Redis is away. */
static redisContext *read_take(void)
{
    if (!R.running || srv_mono_ms() < atomic_load(&P.skip_until_ms))
        return NULL;
    redisContext *c = NULL;
    pthread_mutex_lock(&P.mu);
    if (P.n_idle > 0)
        c = P.idle[--P.n_idle];
    pthread_mutex_unlock(&P.mu);
    if (!c && !(c = read_connect()))
        atomic_store(&P.skip_until_ms, srv_mono_ms() + READ_BACKOFF_MS);
    return c;
}

static void read_put(redisContext *c, int failed)
{
    if (failed) {
        redisFree(c);
        atomic_store(&P.skip_until_ms, srv_mono_ms() + READ_BACKOFF_MS);
        return;
    }
    pthread_mutex_lock(&P.mu);
    if (P.n_idle < READ_POOL_MAX) {
        P.idle[P.n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&P.mu);
    if (c)
        redisFree(c);
}

int rds_read_available(void)
{
    return R.running && srv_mono_ms() >= atomic_load(&P.skip_until_ms);
}

int rds_hgetall(const char *key, void (*each)(void *arg, const char *field, const char *value),
                void *arg)
{
    redisContext *c = read_take();
    if (!c)
        return -1;
    redisReply *r = redisCommand(c, "HGETALL %s", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR)
            LOG_ERROR("redis refused a read", "detail=%s",
                      srv_log_q((char[300]){0}, 300, r->str ? r->str : ""));
        freeReplyObject(r);
        read_put(c, 1);
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            each(arg, r->element[i]->str, r->element[i + 1]->str);
    int found = r->elements > 0;
    freeReplyObject(r);
    read_put(c, 0);
    return found;
}

int rds_publish_now(const char *channel, const char *payload)
{
    redisContext *c = read_take();
    if (c) {
        redisReply *r = redisCommand(c, "PUBLISH %s %s", channel, payload);
        int ok = r && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
        read_put(c, !ok);
        if (ok)
            return 0;
    }
    rds_publish(channel, NULL, 0, payload);
    return -1;
}

unsigned long rds_latest_generation(void)
{
    pthread_mutex_lock(&R.mu);
    unsigned long g = R.stale_gen;
    pthread_mutex_unlock(&R.mu);
    return g;
}

/* One EVAL of latest_script over n (field, ts, value) triples; complete: the
 * script's complete-flag.  NULL when out of memory. */
static msg *latest_msg(msg_kind kind, const char *key, size_t n, const char *const *fields,
                       const long long *ts_us, const char *const *values, int complete)
{
    msg *m = calloc(1, sizeof *m);
    char **argv = m ? calloc(5 + 3 * n, sizeof *argv) : NULL;
    if (!argv) {
        free(m);
        return NULL;
    }
    m->kind = kind;
    m->argv = argv;
    argv[m->argc++] = strdup("EVAL");
    argv[m->argc++] = strdup(latest_script);
    argv[m->argc++] = strdup("1");
    argv[m->argc++] = strdup(key);
    argv[m->argc++] = strdup(complete ? "1" : "0");
    for (size_t i = 0; i < n; i++) {
        char ts[24];
        snprintf(ts, sizeof ts, "%lld", ts_us[i]);
        argv[m->argc++] = strdup(fields[i]);
        argv[m->argc++] = strdup(ts);
        argv[m->argc++] = strdup(values[i]);
    }
    for (size_t i = 0; i < m->argc; i++)
        if (!argv[i]) {
            msg_free(m);
            return NULL;
        }
    m->a = strdup(key);
    if (!m->a) {
        msg_free(m);
        return NULL;
    }
    return m;
}

void rds_latest_seed(const char *key, size_t n, const char *const *fields, const long long *ts_us,
                     const char *const *values, unsigned long gen)
{
    msg *m = latest_msg(MSG_SEED, key, n, fields, ts_us, values, 1);
    if (!m)
        return;
    m->gen = gen;
    enqueue(m);
}

void rds_latest_many(const char *key, size_t n, const char *const *fields, const long long *ts_us,
                     const char *const *values)
{
    if (n == 0)
        return;
    msg *m = latest_msg(MSG_LATEST, key, n, fields, ts_us, values, 0);
    if (!m) {
        /* as for a dropped update: the hash can no longer be trusted */
        pthread_mutex_lock(&R.mu);
        mark_stale_locked(key);
        pthread_mutex_unlock(&R.mu);
        return;
    }
    enqueue(m);
}

SRV_METRIC_GAUGE(m_redis_up, "dustwatch_redis_up",
                 "1 while the Redis publisher's connection answers, else 0 (Redis is optional: "
                 "live views and the latest-value cache wait for it).",
                 NULL)
SRV_METRIC_GAUGE(m_redis_queue, "dustwatch_redis_queue_depth",
                 "Messages waiting for the Redis publisher.", NULL)
SRV_METRIC_COUNTER(m_redis_dropped, "dustwatch_redis_dropped_total",
                   "Oldest live messages dropped because the publisher queue was full.", NULL)

static void metrics_hook(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&R.mu);
    size_t len = R.len;
    pthread_mutex_unlock(&R.mu);
    srv_metric_set(&m_redis_up, atomic_load(&R.up));
    srv_metric_set(&m_redis_queue, (double)len);
    srv_metric_set(&m_redis_dropped, (double)atomic_load(&R.dropped));
}

int rds_start(const char *url)
{
    srv_metrics_hook_remove(metrics_hook, NULL);
    srv_metrics_hook_add(metrics_hook, NULL);
    if (rds_parse_url_auth(url, R.host, sizeof R.host, &R.port, &R.db, R.user, sizeof R.user,
                           R.password, sizeof R.password) != 0)
        return -1;
    R.running = 1;
    if (pthread_create(&R.thread, NULL, publisher, NULL) != 0) {
        R.running = 0;
        return -1;
    }
    return 0;
}

void rds_stop(void)
{
    pthread_mutex_lock(&R.mu);
    int was = R.running;
    R.running = 0;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
    if (was)
        pthread_join(R.thread, NULL);
    while (R.head) {
        msg *m = R.head;
        R.head = m->next;
        msg_free(m);
    }
    R.tail = NULL;
    R.len = 0;
    for (size_t i = 0; i < R.n_stale; i++)
        free(R.stale[i]);
    R.n_stale = 0;
    pthread_mutex_lock(&P.mu);
    while (P.n_idle > 0)
        redisFree(P.idle[--P.n_idle]);
    pthread_mutex_unlock(&P.mu);
}

void rds_latest_key(char out[RDS_LATEST_KEY_LEN], long long enterprise_id)
{
    snprintf(out, RDS_LATEST_KEY_LEN, RDS_LATEST_PREFIX "%lld", enterprise_id);
}

void rds_latest_value(char out[RDS_LATEST_VALUE_LEN], long long ts_us, double v, int quality)
{
    snprintf(out, RDS_LATEST_VALUE_LEN, "{\"ts_us\":%lld,\"v\":%.17g,\"q\":%d}", ts_us, v, quality);
}

int rds_latest_parse(const json_t *value, long long *ts_us, double *v, int *quality)
{
    const json_t *ts = json_object_get(value, "ts_us"), *val = json_object_get(value, "v");
    if (!json_is_integer(ts) || !json_is_number(val))
        return -1;
    *ts_us = (long long)json_integer_value(ts);
    *v = json_number_value(val);
    *quality = (int)json_integer_value(json_object_get(value, "q"));
    return 0;
}
