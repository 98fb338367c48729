/* alarm_load — background ingest load for tests/bench/alarm_bench.sh.
 *
 *   alarm_load sat   PLAN SECONDS PORT K BASE_EPOCH_S FIRST_BATCH
 *   alarm_load paced PLAN SECONDS PORT K BASE_EPOCH_S FIRST_BATCH RATE
 *
 * PLAN: tab-separated, one point per line, grouped by enterprise:
 *   enterprise_index  api_key  enterprise_id  point_id  point_code  normal_lo  normal_hi
 *
 * Same data shape as tests/bench/ingest_load.c: batches of 500 readings; batch b
 * belongs to enterprise b % E and covers 500 / P consecutive seconds of all its P
 * points (round b / E), timestamps from BASE_EPOCH_S, so every (point, ts) is new and
 * per point the timestamps only grow with b.  Values stay inside each point's normal
 * band [normal_lo, normal_hi] (no alarm is meant to fire).  FIRST_BATCH lets a second
 * run continue where the first stopped (its next_batch= line), so the rule state of
 * every point keeps seeing newer samples.
 *
 * sat:   K threads, HTTP/1.1 keep-alive, as fast as the server acknowledges, for SECONDS.
 * paced: the same, but batch i (counted from FIRST_BATCH) is not sent before
 *        t0 + i * 500 / RATE: an open-loop schedule of RATE readings/s (a thread that
 *        falls behind sends at once; the lag is reported).  Runs SECONDS or until
 *        SIGTERM/SIGINT.
 * A batch counts only when the server answered 200 (= committed).  503/429 are retried
 * after Retry-After (capped at 2 s) with the same Idempotency-Key.  Results go to
 * stdout as key=value lines. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BATCH        500
#define MAX_ATTEMPTS 30
#define MAX_THREADS  64
#define MAX_LAT      (1L << 22)

typedef struct {
    char key[128];
    int n;
    char **code;
    double *lo, *hi;
} ent_t;

static ent_t *ents;
static int n_ents;
static time_t base_s;
static long first_batch;
static int port;
static double rate; /* readings/s; 0 = as fast as possible */
static double t_start, t_end;
static volatile sig_atomic_t stop_flag;
static atomic_long next_batch;

static atomic_long acked_batches, acked_readings, rejected, failed, other_status, busy, reconn;
static atomic_long late_batches;
static double *lat_ms;
static atomic_long lat_n;
static double max_lag_ms;
static pthread_mutex_t lag_mu = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *m)
{
    fprintf(stderr, "alarm_load: %s\n", m);
    exit(2);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void load_plan(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open plan file");
    char line[512];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        int idx;
        char key[128], code[64];
        long long eid, pid;
        double lo, hi;
        if (sscanf(line, "%d\t%127s\t%lld\t%lld\t%63s\t%lf\t%lf", &idx, key, &eid, &pid, code, &lo,
                   &hi) != 7)
            continue;
        if (idx >= cap) {
            int nc = cap ? cap * 2 : 64;
            while (nc <= idx)
                nc *= 2;
            ents = realloc(ents, (size_t)nc * sizeof *ents);
            if (!ents)
                die("out of memory");
            memset(ents + cap, 0, (size_t)(nc - cap) * sizeof *ents);
            cap = nc;
        }
        if (idx >= n_ents)
            n_ents = idx + 1;
        ent_t *e = &ents[idx];
        snprintf(e->key, sizeof e->key, "%s", key);
        e->code = realloc(e->code, (size_t)(e->n + 1) * sizeof *e->code);
        e->lo = realloc(e->lo, (size_t)(e->n + 1) * sizeof *e->lo);
        e->hi = realloc(e->hi, (size_t)(e->n + 1) * sizeof *e->hi);
        if (!e->code || !e->lo || !e->hi)
            die("out of memory");
        e->code[e->n] = strdup(code);
        e->lo[e->n] = lo;
        e->hi[e->n] = hi;
        e->n++;
    }
    fclose(f);
    if (n_ents == 0)
        die("empty plan");
    for (int i = 0; i < n_ents; i++)
        if (ents[i].n == 0)
            die("plan: an enterprise without points");
}

static size_t build_body(long b, char *s, size_t cap)
{
    int e = (int)(b % n_ents);
    long round = b / n_ents;
    ent_t *en = &ents[e];
    int np = en->n;
    int per_round = (BATCH + np - 1) / np;
    size_t o = (size_t)snprintf(s, cap, "{\"readings\":[");
    for (int i = 0; i < BATCH; i++) {
        int p = i % np;
        time_t ts = base_s + (time_t)(round * per_round + i / np);
        double frac = (double)((b * 7919 + i * 104729) % 1000) / 1000.0;
        double v = en->lo[p] + frac * (en->hi[p] - en->lo[p]);
        struct tm tm;
        gmtime_r(&ts, &tm);
        char tb[32];
        strftime(tb, sizeof tb, "%Y-%m-%dT%H:%M:%SZ", &tm);
        o += (size_t)snprintf(s + o, cap - o, "%s{\"point\":\"%s\",\"ts\":\"%s\",\"value\":%.2f}",
                              i ? "," : "", en->code[p], tb, v);
        if (o >= cap - 8)
            die("body buffer too small");
    }
    o += (size_t)snprintf(s + o, cap - o, "]}");
    return o;
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

typedef struct {
    int status, retry_after, close;
    long accepted, rejected;
} reply_t;

static long json_num(const char *body, const char *key)
{
    const char *p = strstr(body, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static int read_reply(int fd, char *buf, size_t cap, reply_t *r)
{
    size_t have = 0;
    char *hend = NULL;
    while (!hend) {
        if (have >= cap - 1)
            return -1;
        ssize_t n = read(fd, buf + have, cap - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
        buf[have] = '\0';
        hend = strstr(buf, "\r\n\r\n");
    }
    memset(r, 0, sizeof *r);
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    long clen = -1;
    for (char *l = strstr(buf, "\r\n"); l && l < hend; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = strtol(h + 15, NULL, 10);
        else if (strncasecmp(h, "Retry-After:", 12) == 0)
            r->retry_after = (int)strtol(h + 12, NULL, 10);
        else if (strncasecmp(h, "Connection:", 11) == 0 && strcasestr(h, "close") &&
                 strcasestr(h, "close") < strstr(h, "\r\n"))
            r->close = 1;
    }
    if (clen < 0)
        return -1;
    size_t hdr = (size_t)(hend + 4 - buf);
    if (hdr + (size_t)clen >= cap)
        return -1;
    while (have < hdr + (size_t)clen) {
        ssize_t n = read(fd, buf + have, hdr + (size_t)clen - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have += (size_t)n;
    }
    buf[have] = '\0';
    r->accepted = json_num(buf + hdr, "\"accepted\":");
    r->rejected = json_num(buf + hdr, "\"rejected\":");
    return 0;
}

static void *client(void *arg)
{
    (void)arg;
    static __thread char rbuf[1 << 16];
    size_t bcap = 64 + (size_t)BATCH * 120;
    char *body = malloc(bcap);
    if (!body)
        die("out of memory");
    int fd = -1;
    while (!stop_flag && mono() < t_end) {
        long b = atomic_fetch_add(&next_batch, 1);
        if (rate > 0) {
            double due = t_start + (double)(b - first_batch) * BATCH / rate;
            double now = mono();
            if (due > now) {
                if (due >= t_end)
                    break;
                double s = due - now;
                struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
                while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_flag)
                    ;
                if (stop_flag)
                    break;
            } else if (now - due > 0.05) {
                atomic_fetch_add(&late_batches, 1);
                pthread_mutex_lock(&lag_mu);
                if ((now - due) * 1000 > max_lag_ms)
                    max_lag_ms = (now - due) * 1000;
                pthread_mutex_unlock(&lag_mu);
            }
        }
        size_t blen = build_body(b, body, bcap);
        ent_t *e = &ents[b % n_ents];
        char hdr[512];
        int hl = snprintf(hdr, sizeof hdr,
                          "POST /ingest/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nX-Api-Key: %s\r\n"
                          "Idempotency-Key: alarmbench-%ld-%ld\r\nContent-Length: %zu\r\n\r\n",
                          e->key, (long)base_s, b, blen);
        int done = 0;
        for (int attempt = 0; attempt < MAX_ATTEMPTS && !done && !stop_flag; attempt++) {
            if (fd < 0) {
                fd = connect_server();
                if (fd < 0) {
                    atomic_fetch_add(&reconn, 1);
                    usleep(100000);
                    continue;
                }
            }
            struct iovec iov[2] = {{hdr, (size_t)hl}, {body, blen}};
            double t0 = mono();
            reply_t r;
            if (write_all(fd, iov, 2) != 0 || read_reply(fd, rbuf, sizeof rbuf, &r) != 0) {
                close(fd);
                fd = -1;
                atomic_fetch_add(&reconn, 1);
                continue;
            }
            double t1 = mono();
            if (r.close) {
                close(fd);
                fd = -1;
            }
            if (r.status == 200) {
                long k = atomic_fetch_add(&lat_n, 1);
                if (k < MAX_LAT)
                    lat_ms[k] = (t1 - t0) * 1000.0;
                atomic_fetch_add(&acked_batches, 1);
                atomic_fetch_add(&acked_readings, r.accepted > 0 ? r.accepted : 0);
                atomic_fetch_add(&rejected, r.rejected > 0 ? r.rejected : 0);
                done = 1;
            } else if (r.status == 503 || r.status == 429) {
                atomic_fetch_add(&busy, 1);
                int ms = r.retry_after > 0 ? r.retry_after * 1000 : 200;
                usleep((useconds_t)(ms > 2000 ? 2000 : ms) * 1000);
            } else {
                if (atomic_fetch_add(&other_status, 1) < 5)
                    fprintf(stderr, "alarm_load: batch %ld: HTTP %d\n", b, r.status);
                break;
            }
        }
        if (!done && !stop_flag)
            atomic_fetch_add(&failed, 1);
    }
    if (fd >= 0)
        close(fd);
    free(body);
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *s, long n, double p)
{
    return n > 0 ? s[(long)(p * (double)(n - 1) + 0.5)] : 0;
}

int main(int argc, char **argv)
{
    if (argc < 8)
        die("usage: alarm_load sat|paced PLAN SECONDS PORT K BASE_EPOCH_S FIRST_BATCH [RATE]");
    int paced = strcmp(argv[1], "paced") == 0;
    if (!paced && strcmp(argv[1], "sat") != 0)
        die("mode is sat or paced");
    load_plan(argv[2]);
    double seconds = atof(argv[3]);
    port = atoi(argv[4]);
    int k = atoi(argv[5]);
    base_s = (time_t)atoll(argv[6]);
    first_batch = atol(argv[7]);
    rate = paced ? (argc > 8 ? atof(argv[8]) : 0) : 0;
    if (seconds <= 0 || port <= 0 || k < 1 || k > MAX_THREADS || first_batch < 0 ||
        (paced && rate <= 0))
        die("bad arguments");
    lat_ms = malloc(MAX_LAT * sizeof *lat_ms);
    if (!lat_ms)
        die("out of memory");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    atomic_store(&next_batch, first_batch);
    t_start = mono();
    t_end = t_start + seconds;
    pthread_t th[MAX_THREADS];
    int started = 0;
    for (int i = 0; i < k; i++)
        if (pthread_create(&th[i], NULL, client, NULL) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double el = mono() - t_start;
    long n = atomic_load(&lat_n);
    if (n > MAX_LAT)
        n = MAX_LAT;
    qsort(lat_ms, (size_t)n, sizeof *lat_ms, cmp_d);
    long nb = atomic_load(&next_batch);
    printf("mode=%s\n", argv[1]);
    printf("clients=%d\n", started);
    printf("target_readings_per_s=%.0f\n", rate);
    printf("elapsed_s=%.3f\n", el);
    printf("acked_batches=%ld\n", atomic_load(&acked_batches));
    printf("acked_readings=%ld\n", atomic_load(&acked_readings));
    printf("rejected_readings=%ld\n", atomic_load(&rejected));
    printf("readings_per_s=%.0f\n", el > 0 ? (double)atomic_load(&acked_readings) / el : 0);
    printf("failed_batches=%ld\n", atomic_load(&failed));
    printf("other_status=%ld\n", atomic_load(&other_status));
    printf("retried_503=%ld\n", atomic_load(&busy));
    printf("reconnects=%ld\n", atomic_load(&reconn));
    printf("late_batches=%ld\n", atomic_load(&late_batches));
    printf("max_lag_ms=%.0f\n", max_lag_ms);
    printf("lat_p50_ms=%.1f\n", pct(lat_ms, n, 0.50));
    printf("lat_p99_ms=%.1f\n", pct(lat_ms, n, 0.99));
    /* a batch taken but never sent (stopped) is harmless: next run starts after it */
    printf("next_batch=%ld\n", nb + started);
    return atomic_load(&other_status) ? 1 : 0;
}
