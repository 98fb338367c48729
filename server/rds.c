#include "rds.h"

#include "srv_log.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX 8192

typedef enum { MSG_PUBLISH, MSG_HSET } msg_kind;

typedef struct msg {
    struct msg *next;
    msg_kind kind;
    int ttl_s;
    char *a, *b, *c; /* channel/key/field, key, payload/value */
} msg;

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg *head, *tail;
    size_t len;
    int running;
    char host[256];
    char password[256];
    int port, db;
    atomic_int up;
    atomic_ulong dropped;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int rds_parse_url(const char *url, char *host, size_t hostlen, int *port, int *db, char *password,
                  size_t pwlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return -1;
    p += 8;
    password[0] = '\0';
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t l = (size_t)(at - pw);
        if (l >= pwlen)
            return -1;
        memcpy(password, pw, l);
        password[l] = '\0';
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
    free(m->a);
    free(m->b);
    free(m->c);
    free(m);
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

void rds_hset(const char *key, const char *field, const char *value)
{
    msg *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->kind = MSG_HSET;
    m->a = strdup(key);
    m->b = strdup(field);
    m->c = strdup(value);
    enqueue(m);
}

int rds_is_up(void)
{
    return atomic_load(&R.up);
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
    redisReply *r;
    if (R.password[0]) {
        r = redisCommand(c, "AUTH %s", R.password);
        int bad = !r || r->type == REDIS_REPLY_ERROR;
        freeReplyObject(r);
        if (bad) {
            redisFree(c);
            return NULL;
        }
    }
    r = redisCommand(c, "SELECT %d", R.db);
    int bad = !r || r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (bad) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int run_msg(redisContext *c, const msg *m)
{
    int n = 0;
    if (m->kind == MSG_PUBLISH) {
        redisAppendCommand(c, "PUBLISH %s %s", m->a, m->c);
        n++;
        if (m->b) {
            redisAppendCommand(c, "SET %s %s EX %d", m->b, m->c, m->ttl_s > 0 ? m->ttl_s : 3600);
            n++;
        }
    } else {
        redisAppendCommand(c, "HSET %s %s %s", m->a, m->b, m->c);
        n++;
    }
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        /* a NULL reply means the context is dead: never dereference it */
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r)
            return -1;
        freeReplyObject(r);
    }
    return 0;
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
        msg *m = R.head;
        if (m && c) {
            R.head = m->next;
            if (!R.head)
                R.tail = NULL;
            R.len--;
        } else {
            m = NULL;
        }
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
        int failed = 0;
        if (m) {
            failed = run_msg(c, m) != 0;
            msg_free(m);
        } else {
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

int rds_start(const char *url)
{
    if (rds_parse_url(url, R.host, sizeof R.host, &R.port, &R.db, R.password, sizeof R.password) !=
        0)
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
}
