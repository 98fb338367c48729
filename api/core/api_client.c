#include "api_client.h"

#include "srv_config.h"
#include "srv_log.h"
#include "srv_net.h"

#include <arpa/inet.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static srv_net proxies[SRV_CONFIG_MAX_PROXIES];
static size_t n_proxies;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void client_setup(void)
{
    char why[160];
    if (srv_net_list_parse(g_config.trusted_proxies, proxies, SRV_CONFIG_MAX_PROXIES, &n_proxies,
                           why, sizeof why) != 0) {
        /* srv_config_load refused this already; trust nobody */
        LOG_ERROR("trusted_proxies unreadable", "detail=\"%s\"", why);
        n_proxies = 0;
    }
}

void api_client_init(void)
{
    pthread_once(&client_once, client_setup);
}

/* ---- forwarding headers ----------------------------------------------------- */

#define MAX_HOPS 32

typedef struct {
    char addr[MAX_HOPS][64];
    size_t n;
    int overflow;
} hops;

/* One hop as a header names it: "192.0.2.1", "192.0.2.1:4711", "[2001:db8::1]",
 * "[2001:db8::1]:4711", "2001:db8::1", quoted or not.  Anything else
 * ("unknown", "_hidden") stays as written and does not parse later. */
static void hop_add(hops *h, const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"')
        s++, len -= 2;
    if (h->n >= MAX_HOPS) {
        h->overflow = 1;
        return;
    }
    char buf[64];
    if (len >= sizeof buf)
        len = sizeof buf - 1; /* too long for an address: will not parse */
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *a = buf;
    if (a[0] == '[') {
        char *end = strchr(a, ']');
        if (end) {
            *end = '\0';
            a++;
        }
    } else {
        char *colon = strchr(a, ':');
        if (colon && !strchr(colon + 1, ':'))
            *colon = '\0'; /* IPv4 with a port */
    }
    snprintf(h->addr[h->n++], sizeof h->addr[0], "%s", a);
}

static void xff_hops(hops *h, const char *v)
{
    while (*v) {
        const char *end = strchr(v, ',');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        hop_add(h, v, len);
        if (!end)
            break;
        v = end + 1;
    }
}

/* RFC 7239: elements separated by ',', pairs by ';', the for= of each. */
static void forwarded_hops(hops *h, const char *v)
{
    const char *p = v;
    while (*p) {
        const char *elem_end = p;
        int quoted = 0;
        while (*elem_end && (quoted || *elem_end != ',')) {
            if (*elem_end == '"')
                quoted = !quoted;
            elem_end++;
        }
        /* the for= pair of this element */
        const char *q = p;
        while (q < elem_end) {
            while (q < elem_end && (*q == ' ' || *q == '\t' || *q == ';'))
                q++;
            const char *pair_end = q;
            int inq = 0;
            while (pair_end < elem_end && (inq || *pair_end != ';')) {
                if (*pair_end == '"')
                    inq = !inq;
                pair_end++;
            }
            if (pair_end - q > 4 && strncasecmp(q, "for=", 4) == 0)
                hop_add(h, q + 4, (size_t)(pair_end - q - 4));
            q = pair_end;
        }
        p = *elem_end ? elem_end + 1 : elem_end;
    }
}

static int normalise(const char *text, char *out, size_t outlen)
{
    int family;
    unsigned char a[16];
    if (srv_net_addr_parse(text, &family, a) != 0)
        return -1;
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(family, a, buf, sizeof buf))
        return -1;
    snprintf(out, outlen, "%s", buf);
    return 0;
}

void api_client_address(const char *peer, const char *const *forwarded, size_t n_forwarded,
                        const char *const *xff, size_t n_xff, char *out, size_t outlen)
{
    api_client_init();
    snprintf(out, outlen, "%s", peer ? peer : "");
    if (!n_proxies || !srv_net_list_contains(proxies, n_proxies, peer))
        return;
    static hops empty;
    hops h = empty;
    for (size_t i = 0; i < n_forwarded; i++)
        forwarded_hops(&h, forwarded[i]);
    if (h.n == 0)
        for (size_t i = 0; i < n_xff; i++)
            xff_hops(&h, xff[i]);
    if (h.overflow)
        h.n = MAX_HOPS; /* the hops nearest to us are the last: keep the peer's view */
    /* from the right: every hop a trusted proxy added, up to the first
     * address that is not a proxy of ours — that is the client.  A hop that
     * is no address ends the walk at the last proxy that named it. */
    for (size_t i = h.n; i-- > 0;) {
        char addr[64];
        if (normalise(h.addr[i], addr, sizeof addr) != 0)
            return;
        snprintf(out, outlen, "%s", addr);
        if (!srv_net_list_contains(proxies, n_proxies, addr))
            return;
    }
}

/* ---- login budget ----------------------------------------------------------- */

#define BUCKETS 4096
#define PROBE   8

typedef struct {
    unsigned char key[17]; /* family, then the address (IPv6: its /64) */
    int used;
    double tokens;
    int64_t at_ms;
} bucket;

static bucket buckets[BUCKETS];
static pthread_mutex_t buckets_mu = PTHREAD_MUTEX_INITIALIZER;

static int bucket_key(const char *client, unsigned char key[17])
{
    int family;
    unsigned char a[16];
    memset(key, 0, 17);
    if (srv_net_addr_parse(client, &family, a) != 0)
        return -1;
    key[0] = (unsigned char)family;
    memcpy(key + 1, a, family == AF_INET ? 4 : 8);
    return 0;
}

static size_t key_hash(const unsigned char key[17])
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    return (size_t)(h % BUCKETS);
}

/* The client's bucket, refilled to now; a new or evicted one starts full.
 * Called with the mutex held. */
static bucket *bucket_of(const unsigned char key[17], int64_t now)
{
    size_t h = key_hash(key);
    bucket *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        bucket *b = &buckets[(h + i) % BUCKETS];
        if (b->used && memcmp(b->key, key, 17) == 0) {
            double earned =
                (double)(now - b->at_ms) / 60000.0 * (double)g_config.login_ip_per_minute;
            b->tokens = fmin((double)g_config.login_ip_burst, b->tokens + earned);
            b->at_ms = now;
            return b;
        }
        if (!b->used) {
            if (!victim || victim->used)
                victim = b;
        } else if (!victim || (victim->used && b->at_ms < victim->at_ms)) {
            victim = b;
        }
    }
    /* the least recently touched of the probed slots: the one most refilled */
    memcpy(victim->key, key, 17);
    victim->used = 1;
    victim->tokens = (double)g_config.login_ip_burst;
    victim->at_ms = now;
    return victim;
}

long api_client_login_take(const char *client)
{
    if (g_config.login_ip_burst <= 0)
        return 0;
    unsigned char key[17];
    if (bucket_key(client, key) != 0)
        return 0; /* no address (a unix socket in a test): nothing to limit by */
    pthread_mutex_lock(&buckets_mu);
    bucket *b = bucket_of(key, srv_mono_ms());
    long wait = 0;
    if (b->tokens >= 1.0)
        b->tokens -= 1.0;
    else
        wait = (long)ceil((1.0 - b->tokens) * 60.0 / (double)g_config.login_ip_per_minute);
    pthread_mutex_unlock(&buckets_mu);
    return wait;
}

void api_client_login_refund(const char *client)
{
    if (g_config.login_ip_burst <= 0)
        return;
    unsigned char key[17];
    if (bucket_key(client, key) != 0)
        return;
    pthread_mutex_lock(&buckets_mu);
    bucket *b = bucket_of(key, srv_mono_ms());
    b->tokens = fmin((double)g_config.login_ip_burst, b->tokens + 1.0);
    pthread_mutex_unlock(&buckets_mu);
}
