/* api_load — load generator and fixture helper for tests/bench/api_bench.sh.
 *
 *   api_load http URLS PORT K SECONDS WARMUP_S     GET the paths of URLS
 *   api_load copy POINTS FIRST_S LAST_S STEP_S     COPY text rows on stdout
 *
 * http: K threads, each one HTTP/1.1 keep-alive connection to
 * 127.0.0.1:PORT.  URLS holds one path per line; requests take the next
 * path from a shared counter, so ids rotate over the whole file.  Every
 * request carries "Authorization: Bearer $DW_BENCH_TOKEN" when that is set.
 * WARMUP_S seconds are run first and not counted, then SECONDS seconds are
 * measured; a request counts in the window where it completed.  Latency is
 * from the first byte written to the last byte of the body read.  Non-2xx
 * answers and broken connections are counted (a broken connection
 * reconnects); they are not retried.  Everything is bounded by the clock.
 * Results go to stdout as key=value lines.
 *
 * copy: POINTS is a tab-separated file "point_id enterprise_id kind_index"
 * sorted by point id; for every point, every STEP_S-aligned second t with
 * FIRST_S <= t <= LAST_S gives one row
 *   point_id  collected_at  value  quality  enterprise_id
 * ordered by (point_id, collected_at) so the primary-key index is filled
 * left to right.  Values are a smooth daily curve plus noise around a level
 * that depends on the indicator kind.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
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
#include <time.h>
#include <unistd.h>

#define MAX_THREADS        256
#define RBUF               (4 << 20)
#define MAX_LAT_PER_THREAD 4000000

static void die(const char *m)
{
    fprintf(stderr, "api_load: %s\n", m);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- copy ------------------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* The rows come in time order, point by point within an instant, as gateways deliver them: the
 * heap of a day partition is then in arrival order and its BRIN index narrows a time range (the
 * statistics' raw tail since the last rolled-up hour).  Written point by point, every range was
 * a scan of the whole partition. */
static int run_copy(const char *path, long long first, long long last, long long step)
{
    static const double level[] = {45, 600, 50, 3.5, -900, 80};
    static const double amp[] = {8, 150, 6, 1.2, 120, 5};
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open the points file");
    if (step <= 0 || last < first)
        die("bad time range");
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    size_t n = 0, cap = 0;
    struct hist_point {
        long long pid, eid;
        int k;
        double base;
    } *pts = NULL;
    long long pid, eid;
    int kind;
    while (fscanf(f, "%lld\t%lld\t%d", &pid, &eid, &kind) == 3) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            pts = realloc(pts, cap * sizeof *pts);
            if (!pts)
                die("out of memory");
        }
        int k = ((kind % 6) + 6) % 6;
        pts[n++] = (struct hist_point){
            pid, eid, k, level[k] * (0.8 + 0.4 * (double)(mix((uint64_t)pid) % 1000) / 1000.0)};
    }
    fclose(f);
    long rows = 0;
    for (long long t = first; t <= last; t += step) {
        struct tm tm;
        time_t tt = (time_t)t;
        gmtime_r(&tt, &tm);
        double wave = sin(2 * M_PI * (double)(t % 86400) / 86400.0);
        for (size_t i = 0; i < n; i++) {
            const struct hist_point *p = &pts[i];
            double noise =
                (double)(mix((uint64_t)p->pid * 1000003ULL + (uint64_t)t) % 2001) / 1000.0 - 1.0;
            double v = p->base + amp[p->k] * wave + amp[p->k] * 0.2 * noise;
            printf("%lld\t%04d-%02d-%02d %02d:%02d:%02d+00\t%.3f\t0\t%lld\n", p->pid,
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   v, p->eid);
            rows++;
        }
    }
    free(pts);
    fflush(stdout);
    fprintf(stderr, "api_load copy: %ld rows\n", rows);
    return 0;
}

/* ---- http ------------------------------------------------------------------ */

static char **urls;
static long n_urls;
static int port;
static const char *token;
static atomic_long next_url;
static double t_start, t_end; /* measuring window (monotonic) */

typedef struct {
    double *lat;
    long n, cap;
    long ok, non2xx, errors, reconnects;
    long long bytes;
    int first_bad_status;
    char first_bad_path[256];
} tstat;

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

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* reads one response (Content-Length or chunked); 0 ok, -1 connection trouble */
static int read_reply(int fd, char *buf, size_t cap, int *status, int *close_after, long *body_len)
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
    *status = 0;
    *close_after = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    long clen = -1;
    int chunked = 0;
    for (char *l = strstr(buf, "\r\n"); l && l < hend; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        char *eol = strstr(h, "\r\n");
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = strtol(h + 15, NULL, 10);
        else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strcasestr(h, "chunked") &&
                 strcasestr(h, "chunked") < eol)
            chunked = 1;
        else if (strncasecmp(h, "Connection:", 11) == 0 && strcasestr(h, "close") &&
                 strcasestr(h, "close") < eol)
            *close_after = 1;
    }
    size_t hdr = (size_t)(hend + 4 - buf);
    if (!chunked) {
        if (clen < 0)
            return -1;
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
        *body_len = clen;
        return 0;
    }
    /* chunked: read until the terminating 0-size chunk and its CRLF */
    size_t pos = hdr;
    long total = 0;
    for (;;) {
        char *crlf;
        while (!(crlf = memmem(buf + pos, have - pos, "\r\n", 2))) {
            if (have >= cap - 1)
                return -1;
            ssize_t n = read(fd, buf + have, cap - 1 - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -1;
            have += (size_t)n;
        }
        long sz = strtol(buf + pos, NULL, 16);
        if (sz < 0)
            return -1;
        size_t need = (size_t)(crlf + 2 - buf) + (size_t)sz + 2;
        if (need >= cap)
            return -1;
        while (have < need) {
            ssize_t n = read(fd, buf + have, need - have);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -1;
            have += (size_t)n;
        }
        total += sz;
        pos = need;
        if (sz == 0)
            break;
    }
    *body_len = total;
    return 0;
}

static void *client(void *arg)
{
    tstat *s = arg;
    char *rbuf = xmalloc(RBUF);
    char req[2048];
    int fd = -1;
    for (;;) {
        double now = mono();
        if (now >= t_end)
            break;
        if (fd < 0) {
            fd = connect_server();
            if (fd < 0) {
                if (now >= t_start)
                    s->errors++;
                usleep(10000);
                continue;
            }
        }
        long u = atomic_fetch_add(&next_url, 1) % n_urls;
        int rl;
        if (token && *token)
            rl = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                          "Accept: application/json\r\n\r\n",
                          urls[u], token);
        else
            rl = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n",
                          urls[u]);
        if (rl <= 0 || (size_t)rl >= sizeof req)
            die("request too long");
        double t0 = mono();
        int status = 0, close_after = 0;
        long blen = 0;
        int bad = write_all(fd, req, (size_t)rl) != 0 ||
                  read_reply(fd, rbuf, RBUF, &status, &close_after, &blen) != 0;
        double t1 = mono();
        int counted = t1 >= t_start && t1 < t_end;
        if (bad) {
            close(fd);
            fd = -1;
            if (counted) {
                s->errors++;
                s->reconnects++;
            }
            continue;
        }
        if (counted) {
            if (status >= 200 && status < 300) {
                s->ok++;
                s->bytes += blen;
                if (s->n < s->cap)
                    s->lat[s->n++] = (t1 - t0) * 1000.0;
            } else {
                if (!s->non2xx) {
                    s->first_bad_status = status;
                    snprintf(s->first_bad_path, sizeof s->first_bad_path, "%s", urls[u]);
                }
                s->non2xx++;
            }
        }
        if (close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    free(rbuf);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *s, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)ceil(p / 100.0 * (double)n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return s[i];
}

static void load_urls(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open the url file");
    long cap = 1024;
    urls = xmalloc(sizeof *urls * (size_t)cap);
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (n_urls == cap) {
            cap *= 2;
            urls = realloc(urls, sizeof *urls * (size_t)cap);
            if (!urls)
                die("out of memory");
        }
        urls[n_urls++] = strdup(line);
    }
    fclose(f);
    if (n_urls == 0)
        die("no urls");
}

static int run_http(const char *path, int k, double secs, double warm)
{
    load_urls(path);
    token = getenv("DW_BENCH_TOKEN");
    tstat *st = calloc((size_t)k, sizeof *st);
    if (!st)
        die("out of memory");
    long cap = (long)(secs * 200000.0 / k) + 1000; /* far above any loopback rate */
    if (cap > MAX_LAT_PER_THREAD)
        cap = MAX_LAT_PER_THREAD;
    for (int i = 0; i < k; i++) {
        st[i].cap = cap;
        st[i].lat = xmalloc(sizeof(double) * (size_t)cap);
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = mono();
    t_start = t0 + warm;
    t_end = t_start + secs;
    atomic_store(&next_url, 0);
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < k; i++)
        if (pthread_create(&th[i], NULL, client, &st[i]) != 0)
            die("pthread_create");
    for (int i = 0; i < k; i++)
        pthread_join(th[i], NULL);
    getrusage(RUSAGE_SELF, &ru1);
    long n = 0, ok = 0, non2xx = 0, errors = 0, reconnects = 0;
    long long bytes = 0;
    int bad_status = 0;
    const char *bad_path = "";
    for (int i = 0; i < k; i++) {
        n += st[i].n;
        ok += st[i].ok;
        errors += st[i].errors;
        reconnects += st[i].reconnects;
        bytes += st[i].bytes;
        if (st[i].non2xx && !bad_status) {
            bad_status = st[i].first_bad_status;
            bad_path = st[i].first_bad_path;
        }
        non2xx += st[i].non2xx;
    }
    double *all = xmalloc(sizeof(double) * (size_t)(n ? n : 1));
    long j = 0;
    double sum = 0;
    for (int i = 0; i < k; i++)
        for (long x = 0; x < st[i].n; x++) {
            all[j++] = st[i].lat[x];
            sum += st[i].lat[x];
        }
    qsort(all, (size_t)n, sizeof *all, cmp_d);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    printf("requests_ok=%ld\n", ok);
    printf("non2xx=%ld\n", non2xx);
    printf("first_non2xx=%d %s\n", bad_status, bad_path);
    printf("errors=%ld\n", errors);
    printf("reconnects=%ld\n", reconnects);
    printf("elapsed_s=%.3f\n", secs);
    printf("req_per_s=%.1f\n", (double)ok / secs);
    printf("lat_p50_ms=%.2f\n", pct(all, n, 50));
    printf("lat_p90_ms=%.2f\n", pct(all, n, 90));
    printf("lat_p99_ms=%.2f\n", pct(all, n, 99));
    printf("lat_max_ms=%.2f\n", n ? all[n - 1] : 0);
    printf("lat_mean_ms=%.2f\n", n ? sum / (double)n : 0);
    printf("body_bytes_mean=%.0f\n", ok ? (double)bytes / (double)ok : 0);
    printf("loadgen_cpu_s=%.2f\n", cpu);
    return ok > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "http") == 0) {
        port = atoi(argv[3]);
        int k = atoi(argv[4]);
        double secs = atof(argv[5]), warm = atof(argv[6]);
        if (port <= 0 || k < 1 || k > MAX_THREADS || secs <= 0 || secs > 3600 || warm < 0 ||
            warm > 600)
            die("usage: api_load http URLS PORT K SECONDS WARMUP_S");
        return run_http(argv[2], k, secs, warm);
    }
    if (argc == 6 && strcmp(argv[1], "copy") == 0)
        return run_copy(argv[2], atoll(argv[3]), atoll(argv[4]), atoll(argv[5]));
    fprintf(stderr, "usage: api_load http URLS PORT K SECONDS WARMUP_S\n"
                    "       api_load copy POINTS FIRST_S LAST_S STEP_S\n");
    return 2;
}
