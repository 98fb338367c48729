/* ingest_load — load generator for tests/bench/ingest_bench.sh.
 *
 *   ingest_load copy PLAN N BASE_EPOCH_S            COPY text rows on stdout
 *   ingest_load http PLAN N BASE_EPOCH_S PORT K     POST /ingest/v1/readings
 *
 * PLAN is a tab-separated file, one point per line, grouped by enterprise:
 *   enterprise_index  api_key  enterprise_id  point_id  point_code
 *
 * Both modes produce the same shape of data: N readings in batches of
 * BATCH (500) readings; batch b belongs to enterprise b % E and covers
 * BATCH / P_e consecutive seconds of all P_e points of that enterprise
 * (round b / E), so every (point, timestamp) is distinct and timestamps
 * start at BASE_EPOCH_S.  Values stay inside the points' ranges.
 *
 * http mode: K threads, each one HTTP/1.1 keep-alive connection to
 * 127.0.0.1:PORT, taking batches from a shared counter.  All bodies are
 * built before the clock starts.  A batch counts as acknowledged only when
 * the server answered 200 (= committed); its "accepted" figure is summed.
 * 503/429 are retried after Retry-After (capped) with the same
 * Idempotency-Key; broken connections reconnect and retry.  Everything is
 * bounded: at most MAX_ATTEMPTS per batch and DW_BENCH_DEADLINE_S (default
 * 900) seconds overall.  Results go to stdout as key=value lines.
 *
 * Env: DW_BENCH_IDEM=0 omits the Idempotency-Key header (default: sent, as
 * real gateways and `dustwatch simulate` do).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BATCH        500
#define MAX_ATTEMPTS 60
#define MAX_THREADS  256

typedef struct {
    char key[128];
    long long eid;
    int n;
    long long *pid;
    char **code;
} ent_t;

static ent_t *ents;
static int n_ents;
static long n_total;
static long n_batches;
static time_t base_s;

static void die(const char *m)
{
    fprintf(stderr, "ingest_load: %s\n", m);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
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
        if (sscanf(line, "%d\t%127s\t%lld\t%lld\t%63s", &idx, key, &eid, &pid, code) != 5)
            continue;
        if (idx >= n_ents) {
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
            n_ents = idx + 1;
        }
        ent_t *e = &ents[idx];
        snprintf(e->key, sizeof e->key, "%s", key);
        e->eid = eid;
        e->pid = realloc(e->pid, (size_t)(e->n + 1) * sizeof *e->pid);
        e->code = realloc(e->code, (size_t)(e->n + 1) * sizeof *e->code);
        if (!e->pid || !e->code)
            die("out of memory");
        e->pid[e->n] = pid;
        e->code[e->n] = strdup(code);
        e->n++;
    }
    fclose(f);
    if (n_ents == 0)
        die("empty plan");
    for (int i = 0; i < n_ents; i++)
        if (ents[i].n == 0)
            die("plan: an enterprise without points");
}

/* the i-th reading of batch b */
static void reading(long b, int i, int *ent, int *pt, time_t *ts, double *value)
{
    int e = (int)(b % n_ents);
    long round = b / n_ents;
    int np = ents[e].n;
    int per_round = (BATCH + np - 1) / np; /* seconds per batch */
    *ent = e;
    *pt = i % np;
    *ts = base_s + (time_t)(round * per_round + i / np);
    /* deterministic, inside [-40, 200] of any point (ranges are wider) */
    *value = 20.0 + (double)((b * 7919 + i * 104729) % 1500) / 10.0;
}

static int batch_len(long b)
{
    long left = n_total - b * BATCH;
    return left >= BATCH ? BATCH : (int)left;
}

static void fmt_ts(time_t t, char *buf, size_t cap, int iso)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S+00", &tm);
}

/* ---- copy mode --------------------------------------------------------- */

static int run_copy(void)
{
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    for (long b = 0; b < n_batches; b++) {
        int n = batch_len(b);
        for (int i = 0; i < n; i++) {
            int e, p;
            time_t ts;
            double v;
            reading(b, i, &e, &p, &ts, &v);
            char tbuf[40];
            fmt_ts(ts, tbuf, sizeof tbuf, 0);
            printf("%lld\t%s\t%.1f\t0\t%lld\n", ents[e].pid[p], tbuf, v, ents[e].eid);
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- http mode --------------------------------------------------------- */

typedef struct {
    char *body;
    size_t len;
} body_t;

static body_t *bodies;
static int port;
static atomic_long next_batch;
static double deadline_mono;
static int send_idem = 1;

/* results (written once per batch by its owner thread) */
static double *lat_ms; /* per acknowledged batch, of the successful attempt */
static double *ack_at; /* monotonic time of the ack */
static atomic_long acked_batches, acked_readings, dup_readings, rej_readings;
static atomic_long retries_busy, retries_conn, failed_batches, other_status;
static atomic_long lat_n;

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void build_bodies(void)
{
    bodies = xmalloc((size_t)n_batches * sizeof *bodies);
    for (long b = 0; b < n_batches; b++) {
        int n = batch_len(b);
        size_t cap = 32 + (size_t)n * 112;
        char *s = xmalloc(cap);
        size_t o = (size_t)snprintf(s, cap, "{\"readings\":[");
        for (int i = 0; i < n; i++) {
            int e, p;
            time_t ts;
            double v;
            reading(b, i, &e, &p, &ts, &v);
            char tbuf[40];
            fmt_ts(ts, tbuf, sizeof tbuf, 1);
            o += (size_t)snprintf(s + o, cap - o,
                                  "%s{\"point\":\"%s\",\"ts\":\"%s\",\"value\":%.1f}", i ? "," : "",
                                  ents[e].code[p], tbuf, v);
            if (o >= cap - 8)
                die("body buffer too small");
        }
        o += (size_t)snprintf(s + o, cap - o, "]}");
        bodies[b].body = s;
        bodies[b].len = o;
    }
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 60};
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
    int status;
    int retry_after;
    int close;
    long accepted, duplicate, rejected;
} reply_t;

static long json_num(const char *body, const char *key)
{
    const char *p = strstr(body, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* reads one response; 0 ok, -1 connection trouble */
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
        return -1; /* the server always sends a length */
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
    const char *body = buf + hdr;
    r->accepted = json_num(body, "\"accepted\":");
    r->duplicate = json_num(body, "\"duplicate\":");
    r->rejected = json_num(body, "\"rejected\":");
    return 0;
}

static void *client(void *arg)
{
    (void)arg;
    static __thread char rbuf[1 << 16];
    int fd = -1;
    for (;;) {
        long b = atomic_fetch_add(&next_batch, 1);
        if (b >= n_batches || mono() > deadline_mono)
            break;
        ent_t *e = &ents[b % n_ents];
        char hdr[512];
        int hl;
        if (send_idem)
            hl = snprintf(hdr, sizeof hdr,
                          "POST /ingest/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nX-Api-Key: %s\r\n"
                          "Idempotency-Key: bench-%ld-%ld\r\nContent-Length: %zu\r\n\r\n",
                          e->key, (long)base_s, b, bodies[b].len);
        else
            hl = snprintf(hdr, sizeof hdr,
                          "POST /ingest/v1/readings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nX-Api-Key: %s\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          e->key, bodies[b].len);
        int done = 0;
        for (int attempt = 0; attempt < MAX_ATTEMPTS && !done && mono() <= deadline_mono;
             attempt++) {
            if (fd < 0) {
                fd = connect_server();
                if (fd < 0) {
                    atomic_fetch_add(&retries_conn, 1);
                    usleep(100000);
                    continue;
                }
            }
            struct iovec iov[2] = {{hdr, (size_t)hl}, {bodies[b].body, bodies[b].len}};
            double t0 = mono();
            reply_t r;
            if (write_all(fd, iov, 2) != 0 || read_reply(fd, rbuf, sizeof rbuf, &r) != 0) {
                close(fd);
                fd = -1;
                atomic_fetch_add(&retries_conn, 1);
                continue;
            }
            double t1 = mono();
            if (r.close) {
                close(fd);
                fd = -1;
            }
            if (r.status == 200) {
                long k = atomic_fetch_add(&lat_n, 1);
                lat_ms[k] = (t1 - t0) * 1000.0;
                ack_at[k] = t1;
                atomic_fetch_add(&acked_batches, 1);
                atomic_fetch_add(&acked_readings, r.accepted > 0 ? r.accepted : 0);
                atomic_fetch_add(&dup_readings, r.duplicate > 0 ? r.duplicate : 0);
                atomic_fetch_add(&rej_readings, r.rejected > 0 ? r.rejected : 0);
                done = 1;
            } else if (r.status == 503 || r.status == 429) {
                atomic_fetch_add(&retries_busy, 1);
                int ms = r.retry_after > 0 ? r.retry_after * 1000 : 200;
                usleep((useconds_t)(ms > 2000 ? 2000 : ms) * 1000);
            } else {
                if (atomic_fetch_add(&other_status, 1) < 5)
                    fprintf(stderr, "ingest_load: batch %ld: HTTP %d: %.300s\n", b, r.status,
                            strstr(rbuf, "\r\n\r\n") ? strstr(rbuf, "\r\n\r\n") + 4 : "");
                break;
            }
        }
        if (!done)
            atomic_fetch_add(&failed_batches, 1);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *s, long n, double p)
{
    if (n <= 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return s[i];
}

static int run_http(int k)
{
    const char *idem = getenv("DW_BENCH_IDEM");
    send_idem = !(idem && strcmp(idem, "0") == 0);
    const char *dl = getenv("DW_BENCH_DEADLINE_S");
    double deadline_s = dl ? atof(dl) : 900;
    build_bodies();
    lat_ms = xmalloc((size_t)n_batches * sizeof *lat_ms);
    ack_at = xmalloc((size_t)n_batches * sizeof *ack_at);
    pthread_t th[MAX_THREADS];
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = mono();
    deadline_mono = t0 + deadline_s;
    int started = 0;
    for (int i = 0; i < k; i++)
        if (pthread_create(&th[i], NULL, client, NULL) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double t1 = mono();
    getrusage(RUSAGE_SELF, &ru1);
    long n = atomic_load(&lat_n);
    double last_ack = t0;
    for (long i = 0; i < n; i++)
        if (ack_at[i] > last_ack)
            last_ack = ack_at[i];
    qsort(lat_ms, (size_t)n, sizeof *lat_ms, cmp_d);
    double el = last_ack - t0;
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += lat_ms[i];
    printf("clients=%d\n", started);
    printf("batches=%ld\n", n_batches);
    printf("acked_batches=%ld\n", atomic_load(&acked_batches));
    printf("acked_readings=%ld\n", atomic_load(&acked_readings));
    printf("duplicate_readings=%ld\n", atomic_load(&dup_readings));
    printf("rejected_readings=%ld\n", atomic_load(&rej_readings));
    printf("failed_batches=%ld\n", atomic_load(&failed_batches));
    printf("other_status=%ld\n", atomic_load(&other_status));
    printf("retries_busy=%ld\n", atomic_load(&retries_busy));
    printf("retries_conn=%ld\n", atomic_load(&retries_conn));
    printf("elapsed_s=%.3f\n", el);
    printf("wall_s=%.3f\n", t1 - t0);
    printf("readings_per_s=%.0f\n", el > 0 ? (double)atomic_load(&acked_readings) / el : 0);
    printf("lat_mean_ms=%.1f\n", n ? sum / (double)n : 0);
    printf("lat_p50_ms=%.1f\n", pct(lat_ms, n, 0.50));
    printf("lat_p90_ms=%.1f\n", pct(lat_ms, n, 0.90));
    printf("lat_p99_ms=%.1f\n", pct(lat_ms, n, 0.99));
    printf("lat_max_ms=%.1f\n", n ? lat_ms[n - 1] : 0);
    printf("loadgen_cpu_s=%.2f\n", cpu);
    return atomic_load(&failed_batches) || atomic_load(&other_status) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        die("usage: ingest_load copy PLAN N BASE_EPOCH_S | http PLAN N BASE_EPOCH_S PORT K");
    load_plan(argv[2]);
    n_total = atol(argv[3]);
    base_s = (time_t)atoll(argv[4]);
    if (n_total < 1)
        die("N must be >= 1");
    n_batches = (n_total + BATCH - 1) / BATCH;
    if (strcmp(argv[1], "copy") == 0)
        return run_copy();
    if (strcmp(argv[1], "http") == 0 && argc >= 7) {
        port = atoi(argv[5]);
        int k = atoi(argv[6]);
        if (port <= 0 || k < 1 || k > MAX_THREADS)
            die("bad PORT or K");
        return run_http(k);
    }
    die("unknown mode");
    return 2;
}
