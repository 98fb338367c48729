/* srv_metrics.c — the metric registry and its text exposition (srv_metrics.h). */
#include "srv_metrics.h"

#include "srv_buf.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_net.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const double srv_metric_latency_buckets[12] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,   0.25,   0.5,   1,    2.5,   10};
const double srv_metric_job_buckets[12] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
                                           0.5,   1,     2.5,  5,    10,  60};
const double srv_metric_size_buckets[10] = {1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000};

struct srv_metric_series {
    uint64_t hash;
    char *values[SRV_METRIC_MAX_LABELS];
    _Atomic double value; /* counter, gauge; histogram: the sum */
    _Atomic uint64_t count;
    _Atomic uint64_t buckets[SRV_METRIC_MAX_BUCKETS]; /* per bucket, not cumulative */
};

static struct {
    pthread_mutex_t mu; /* the family list and the hooks */
    srv_metric *head, *tail;
    struct {
        srv_metrics_hook fn;
        void *arg;
    } hooks[32];
    size_t n_hooks;
    _Atomic uint64_t dropped;
    double start_time;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

void srv_metric_register(srv_metric *m)
{
    m->n_labels = 0;
    while (m->n_labels < SRV_METRIC_MAX_LABELS && m->labels[m->n_labels])
        m->n_labels++;
    if (m->n_buckets > SRV_METRIC_MAX_BUCKETS)
        m->n_buckets = SRV_METRIC_MAX_BUCKETS;
    pthread_mutex_lock(&R.mu);
    if (R.start_time == 0) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        R.start_time = (double)tv.tv_sec + tv.tv_usec / 1e6;
    }
    m->next = NULL;
    if (R.tail)
        R.tail->next = m;
    else
        R.head = m;
    R.tail = m;
    pthread_mutex_unlock(&R.mu);
}

/* FNV-1a over the values with a separator that cannot be in a C string. */
static uint64_t hash_values(const char *const *v, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xffu) * 1099511628211ULL;
    }
    return h;
}

static int same_values(const srv_metric_series *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], v[i]) != 0)
            return 0;
    return 1;
}

static srv_metric_series *scan(srv_metric_series *arr, size_t n, uint64_t h, const char *const *v,
                               size_t nl)
{
    for (size_t i = 0; i < n; i++)
        if (arr[i].hash == h && same_values(&arr[i], v, nl))
            return &arr[i];
    return NULL;
}

/* The series of these label values, created on first use; NULL when the
 * family is full (counted) or out of memory. */
static srv_metric_series *series_of(srv_metric *m, const char *const *v)
{
    uint64_t h = hash_values(v, m->n_labels);
    srv_metric_series *arr = atomic_load_explicit(&m->series, memory_order_acquire);
    if (arr) {
        size_t n = atomic_load_explicit(&m->n_series, memory_order_acquire);
        srv_metric_series *s = scan(arr, n, h, v, m->n_labels);
        if (s)
            return s;
    }
    pthread_mutex_lock(&m->mu);
    arr = atomic_load_explicit(&m->series, memory_order_relaxed);
    if (!arr) {
        arr = calloc(m->max_series, sizeof *arr);
        if (!arr) {
            pthread_mutex_unlock(&m->mu);
            return NULL;
        }
        atomic_store_explicit(&m->series, arr, memory_order_release);
    }
    size_t n = atomic_load_explicit(&m->n_series, memory_order_relaxed);
    srv_metric_series *s = scan(arr, n, h, v, m->n_labels);
    if (!s && n < m->max_series) {
        s = &arr[n];
        int ok = 1;
        for (size_t i = 0; i < m->n_labels; i++)
            ok &= (s->values[i] = strdup(v[i])) != NULL;
        if (ok) {
            s->hash = h;
            atomic_store_explicit(&m->n_series, n + 1, memory_order_release);
        } else {
            for (size_t i = 0; i < m->n_labels; i++) {
                free(s->values[i]);
                s->values[i] = NULL;
            }
            s = NULL;
        }
    } else if (!s) {
        atomic_fetch_add(&R.dropped, 1);
    }
    pthread_mutex_unlock(&m->mu);
    return s;
}

static srv_metric_series *series_va(srv_metric *m, va_list ap)
{
    const char *v[SRV_METRIC_MAX_LABELS];
    for (size_t i = 0; i < m->n_labels; i++) {
        v[i] = va_arg(ap, const char *);
        if (!v[i])
            v[i] = "";
    }
    return series_of(m, v);
}

static void atomic_add_double(_Atomic double *a, double v)
{
    double old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, old + v, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void srv_metric_add(srv_metric *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    srv_metric_series *s = series_va(m, ap);
    va_end(ap);
    if (s)
        atomic_add_double(&s->value, v);
}

void srv_metric_set(srv_metric *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    srv_metric_series *s = series_va(m, ap);
    va_end(ap);
    if (s)
        atomic_store_explicit(&s->value, v, memory_order_relaxed);
}

void srv_metric_observe(srv_metric *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    srv_metric_series *s = series_va(m, ap);
    va_end(ap);
    if (!s)
        return;
    size_t b = 0;
    while (b < m->n_buckets && v > m->buckets[b])
        b++;
    if (b < m->n_buckets)
        atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

double srv_metric_value(srv_metric *m, ...)
{
    va_list ap;
    va_start(ap, m);
    srv_metric_series *s = series_va(m, ap);
    va_end(ap);
    return s ? atomic_load_explicit(&s->value, memory_order_relaxed) : 0;
}

void srv_metrics_hook_add(srv_metrics_hook fn, void *arg)
{
    pthread_mutex_lock(&R.mu);
    if (R.n_hooks < sizeof R.hooks / sizeof R.hooks[0]) {
        R.hooks[R.n_hooks].fn = fn;
        R.hooks[R.n_hooks].arg = arg;
        R.n_hooks++;
    }
    pthread_mutex_unlock(&R.mu);
}

void srv_metrics_hook_remove(srv_metrics_hook fn, void *arg)
{
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < R.n_hooks; i++)
        if (R.hooks[i].fn == fn && R.hooks[i].arg == arg) {
            R.hooks[i] = R.hooks[--R.n_hooks];
            break;
        }
    pthread_mutex_unlock(&R.mu);
}

/* ---- rendering ---------------------------------------------------------- */

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(srv_buf *o, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            srv_buf_puts(o, "\\\\");
        else if (*s == '\n')
            srv_buf_puts(o, "\\n");
        else if (quote && *s == '"')
            srv_buf_puts(o, "\\\"");
        else
            srv_buf_add(o, s, 1);
    }
}

/* The shortest decimal that reads back as v; +Inf, -Inf, NaN by name. */
static void put_number(srv_buf *o, double v)
{
    char b[40];
    if (isnan(v))
        snprintf(b, sizeof b, "NaN");
    else if (isinf(v))
        snprintf(b, sizeof b, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(b, sizeof b, "%.0f", v);
    else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(b, sizeof b, "%.*g", prec, v);
            if (strtod(b, NULL) == v)
                break;
        }
    }
    srv_buf_puts(o, b);
}

static void put_labels(srv_buf *o, const srv_metric *m, const srv_metric_series *s, const char *le)
{
    if (m->n_labels == 0 && !le)
        return;
    srv_buf_puts(o, "{");
    for (size_t i = 0; i < m->n_labels; i++) {
        if (i)
            srv_buf_puts(o, ",");
        srv_buf_puts(o, m->labels[i]);
        srv_buf_puts(o, "=\"");
        put_escaped(o, s->values[i], 1);
        srv_buf_puts(o, "\"");
    }
    if (le) {
        if (m->n_labels)
            srv_buf_puts(o, ",");
        srv_buf_puts(o, "le=\"");
        srv_buf_puts(o, le);
        srv_buf_puts(o, "\"");
    }
    srv_buf_puts(o, "}");
}

static void put_header(srv_buf *o, const char *name, const char *help, const char *type)
{
    srv_buf_puts(o, "# HELP ");
    srv_buf_puts(o, name);
    srv_buf_puts(o, " ");
    put_escaped(o, help, 0);
    srv_buf_puts(o, "\n# TYPE ");
    srv_buf_puts(o, name);
    srv_buf_puts(o, " ");
    srv_buf_puts(o, type);
    srv_buf_puts(o, "\n");
}

static void put_sample(srv_buf *o, const char *name, const char *suffix, const srv_metric *m,
                       const srv_metric_series *s, const char *le, double v)
{
    srv_buf_puts(o, name);
    srv_buf_puts(o, suffix);
    put_labels(o, m, s, le);
    srv_buf_puts(o, " ");
    put_number(o, v);
    srv_buf_puts(o, "\n");
}

static void render_family(srv_buf *o, srv_metric *m)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    put_header(o, m->name, m->help, types[m->type]);
    srv_metric_series *arr = atomic_load_explicit(&m->series, memory_order_acquire);
    size_t n = arr ? atomic_load_explicit(&m->n_series, memory_order_acquire) : 0;
    if (m->n_labels == 0 && n == 0 && m->type != SRV_METRIC_HISTOGRAM) {
        /* an unlabelled counter or gauge exists from the start: 0 */
        put_sample(o, m->name, "", m, NULL, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        srv_metric_series *s = &arr[i];
        if (m->type != SRV_METRIC_HISTOGRAM) {
            put_sample(o, m->name, "", m, s, NULL,
                       atomic_load_explicit(&s->value, memory_order_relaxed));
            continue;
        }
        /* read the buckets first: count and sum may then be a little ahead
         * of them, never the +Inf bucket behind a finite one */
        uint64_t cum = 0;
        for (size_t b = 0; b < m->n_buckets; b++) {
            cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            char le[40];
            srv_buf t = {0};
            put_number(&t, m->buckets[b]);
            snprintf(le, sizeof le, "%s", t.p ? t.p : "0");
            srv_buf_free(&t);
            put_sample(o, m->name, "_bucket", m, s, le, (double)cum);
        }
        uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        if (count < cum)
            count = cum;
        put_sample(o, m->name, "_bucket", m, s, "+Inf", (double)count);
        put_sample(o, m->name, "_sum", m, s, NULL,
                   atomic_load_explicit(&s->value, memory_order_relaxed));
        put_sample(o, m->name, "_count", m, s, NULL, (double)count);
    }
}

static long count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : n; /* less the directory's own descriptor */
}

static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return -1;
    long size = 0, resident = 0;
    int ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
    fclose(f);
    return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

static void render_process(srv_buf *o)
{
    char line[160];
    double rss = resident_bytes();
    if (rss >= 0) {
        put_header(o, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
        snprintf(line, sizeof line, "process_resident_memory_bytes %.0f\n", rss);
        srv_buf_puts(o, line);
    }
    long fds = count_open_fds();
    if (fds >= 0) {
        put_header(o, "process_open_fds", "Number of open file descriptors.", "gauge");
        snprintf(line, sizeof line, "process_open_fds %ld\n", fds);
        srv_buf_puts(o, line);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        put_header(o, "process_max_fds", "Maximum number of open file descriptors.", "gauge");
        snprintf(line, sizeof line, "process_max_fds %.0f\n",
                 rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur);
        srv_buf_puts(o, line);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
        put_header(o, "process_cpu_seconds_total", "Total user and system CPU time in seconds.",
                   "counter");
        srv_buf_puts(o, "process_cpu_seconds_total ");
        put_number(o, cpu);
        srv_buf_puts(o, "\n");
    }
    put_header(o, "process_start_time_seconds", "Start time of the process since the epoch.",
               "gauge");
    snprintf(line, sizeof line, "process_start_time_seconds %.3f\n", R.start_time);
    srv_buf_puts(o, line);
    put_header(o, "dustwatch_metrics_series_dropped_total",
               "Label combinations not recorded because their family was full.", "counter");
    snprintf(line, sizeof line, "dustwatch_metrics_series_dropped_total %llu\n",
             (unsigned long long)atomic_load(&R.dropped));
    srv_buf_puts(o, line);
}

char *srv_metrics_render(size_t *len)
{
    pthread_mutex_lock(&R.mu);
    /* hooks run under the list lock: a role stopping waits for the scrape */
    for (size_t i = 0; i < R.n_hooks; i++)
        R.hooks[i].fn(R.hooks[i].arg);
    srv_metric *head = R.head;
    pthread_mutex_unlock(&R.mu);
    srv_buf o = {0};
    for (srv_metric *m = head; m; m = m->next)
        render_family(&o, m);
    render_process(&o);
    return srv_buf_take(&o, len);
}

/* ---- access --------------------------------------------------------------- */

static pthread_once_t nets_once = PTHREAD_ONCE_INIT;
static srv_net nets[SRV_CONFIG_MAX_PROXIES];
static size_t n_nets;

static void nets_load(void)
{
    char err[160];
    const char *list = g_config.metrics_allow ? g_config.metrics_allow : "";
    if (srv_net_list_parse(list, nets, SRV_CONFIG_MAX_PROXIES, &n_nets, err, sizeof err) != 0) {
        /* srv_config_load refused this already; be closed rather than open */
        n_nets = 0;
        LOG_ERROR("metrics_allow unreadable", "detail=%s", srv_log_q((char[200]){0}, 200, err));
    }
}

static int token_matches(const char *authorization)
{
    const char *want = g_config.metrics_token;
    if (!want || !want[0] || !authorization)
        return 0;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *got = authorization + 7;
    size_t lw = strlen(want), lg = strlen(got);
    unsigned char diff = (unsigned char)(lw != lg);
    for (size_t i = 0; i < lw; i++)
        diff |= (unsigned char)(want[i] ^ (i < lg ? got[i] : 0));
    return diff == 0;
}

int srv_metrics_allowed(const char *peer, const char *authorization)
{
    if (token_matches(authorization))
        return 1;
    pthread_once(&nets_once, nets_load);
    return peer && peer[0] && srv_net_list_contains(nets, n_nets, peer);
}
