#include "srv_http.h"

#include "srv_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_uint_fast64_t next_id = 1;

uint64_t srv_next_request_id(void)
{
    return atomic_fetch_add(&next_id, 1);
}

json_t *srv_error_body(const char *code, const char *hint, const char *detail)
{
    return json_pack("{s:s, s:s, s:s}", "code", code, "hint", hint ? hint : "", "detail",
                     detail ? detail : "");
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

long srv_http_fd_share(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, raise_nofile);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1L << 20;
    long share = ((long)rl.rlim_cur - SRV_FD_RESERVE) / 2;
    return share > 0 ? share : 1;
}

void srv_http_reserve_open(int *reserve)
{
    if (*reserve < 0)
        *reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void srv_http_shed(int listen_fd, int *reserve, const char *json_body)
{
    if (*reserve < 0)
        return;
    close(*reserve);
    *reserve = -1;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        char head[256];
        size_t blen = strlen(json_body);
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; "
                          "charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          blen);
        char sink[4096];
        while (recv(fd, sink, sizeof sink, 0) > 0) /* unread bytes would turn close into RST */
            ;
        if (send(fd, head, (size_t)hl, MSG_NOSIGNAL) == hl)
            (void)send(fd, json_body, blen, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    srv_http_reserve_open(reserve);
}

#define RATE_SLOTS 4096
typedef struct {
    uint64_t key;
    double tokens;
    int64_t at_ms;
} rate_bucket;

struct srv_rate {
    pthread_mutex_t mu;
    rate_bucket b[RATE_SLOTS];
};

static unsigned char rate_hash_key[crypto_shorthash_KEYBYTES];
static pthread_once_t rate_once = PTHREAD_ONCE_INIT;

static void rate_init(void)
{
    randombytes_buf(rate_hash_key, sizeof rate_hash_key);
}

uint64_t srv_rate_key(const char *s)
{
    pthread_once(&rate_once, rate_init);
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)s, strlen(s), rate_hash_key);
    uint64_t k;
    memcpy(&k, h, sizeof k);
    return k ? k : 1; /* 0 marks an empty slot */
}

srv_rate *srv_rate_new(void)
{
    srv_rate *r = calloc(1, sizeof *r);
    if (r)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

void srv_rate_free(srv_rate *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static void refill(rate_bucket *b, int64_t now, double per_s, double burst)
{
    b->tokens += (double)(now - b->at_ms) * per_s / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->at_ms = now;
}

int srv_rate_take(srv_rate *r, const char *key, long per_s, long burst)
{
    if (!r || per_s <= 0)
        return 0;
    if (burst < 1)
        burst = 1;
    uint64_t k = srv_rate_key(key);
    int64_t now = srv_mono_ms();
    int wait = 0;
    pthread_mutex_lock(&r->mu);
    rate_bucket *cand[2] = {&r->b[k % RATE_SLOTS], &r->b[(k >> 32) % RATE_SLOTS]};
    rate_bucket *b = cand[0]->key == k ? cand[0] : cand[1]->key == k ? cand[1] : NULL;
    for (int i = 0; !b && i < 2; i++) {
        if (cand[i]->key)
            refill(cand[i], now, (double)per_s, (double)burst);
        if (!cand[i]->key || cand[i]->tokens >= (double)burst) {
            b = cand[i];
            *b = (rate_bucket){.key = k, .tokens = (double)burst, .at_ms = now};
        }
    }
    if (b) {
        refill(b, now, (double)per_s, (double)burst);
        if (b->tokens >= 1.0) {
            b->tokens -= 1.0;
        } else {
            wait = (int)((1.0 - b->tokens) / (double)per_s + 0.999);
            if (wait < 1)
                wait = 1;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return wait;
}
