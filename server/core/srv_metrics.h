/* srv_metrics — the process's Prometheus metrics: counters, gauges and
 * histograms with fixed buckets, rendered as the text exposition format 0.0.4
 * on GET /metrics of both listeners.
 *
 * A metric family is a static object declared where it is counted:
 *
 *     SRV_METRIC_COUNTER(m_items, "dustwatch_ingest_items_total", "…", "dialect", "outcome");
 *     srv_metric_add(&m_items, n, dialect->name, "accepted");
 *
 * and registers itself before main() (a constructor), so every family of the
 * linked code is listed with its HELP and TYPE from the first scrape on.
 * Labels are a fixed list of names (at most SRV_METRIC_MAX_LABELS); the
 * values passed to add/set/observe must come from small fixed sets (codes,
 * route patterns, dialect names — never ids or input), because every
 * combination is a series kept for the life of the process.  A family holds
 * at most `max_series` series; later combinations are dropped and counted
 * in dustwatch_metrics_series_dropped_total.
 *
 * Cost: an update finds its series by a 64-bit hash without a lock (series
 * are appended under the family's mutex and published with a release store,
 * never removed) and adds with an atomic compare-and-swap.  Label value
 * strings are copied on first use.  Thread-safe throughout. */
#ifndef DW_SRV_METRICS_H
#define DW_SRV_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_METRIC_MAX_LABELS  3
#define SRV_METRIC_MAX_BUCKETS 16

typedef enum { SRV_METRIC_COUNTER, SRV_METRIC_GAUGE, SRV_METRIC_HISTOGRAM } srv_metric_type;

typedef struct srv_metric_series srv_metric_series;

typedef struct srv_metric {
    /* declared */
    srv_metric_type type;
    const char *name, *help;
    const char *labels[SRV_METRIC_MAX_LABELS];
    const double *buckets; /* histograms: upper bounds, ascending, +Inf implied */
    size_t n_buckets;
    size_t max_series;
    /* run time (srv_metrics.c) */
    struct srv_metric *next;
    size_t n_labels;
    pthread_mutex_t mu;
    srv_metric_series *_Atomic series; /* array of max_series, allocated on first use */
    atomic_size_t n_series;
} srv_metric;

void srv_metric_register(srv_metric *m);

#define SRV_METRIC_DECLARE_(var, typ, nm, hl, bk, nb, maxs, ...)                                   \
    static srv_metric var = {.type = typ,                                                          \
                             .name = nm,                                                           \
                             .help = hl,                                                           \
                             .labels = {__VA_ARGS__},                                              \
                             .buckets = bk,                                                        \
                             .n_buckets = nb,                                                      \
                             .max_series = maxs,                                                   \
                             .mu = PTHREAD_MUTEX_INITIALIZER};                                     \
    __attribute__((constructor)) static void var##_register(void)                                  \
    {                                                                                              \
        srv_metric_register(&var);                                                                 \
    }

/* Label names follow the help text: one, two or three strings, or NULL for
 * none. */
#define SRV_METRIC_COUNTER(var, name, help, ...)                                                   \
    SRV_METRIC_DECLARE_(var, SRV_METRIC_COUNTER, name, help, NULL, 0, 256, __VA_ARGS__)
#define SRV_METRIC_GAUGE(var, name, help, ...)                                                     \
    SRV_METRIC_DECLARE_(var, SRV_METRIC_GAUGE, name, help, NULL, 0, 256, __VA_ARGS__)
/* buckets: a static const double array of upper bounds */
#define SRV_METRIC_HISTOGRAM(var, name, help, buckets, ...)                                        \
    SRV_METRIC_DECLARE_(var, SRV_METRIC_HISTOGRAM, name, help, buckets,                            \
                        sizeof(buckets) / sizeof(buckets)[0], 256, __VA_ARGS__)
/* a counter with room for more series (e.g. route × method × status) */
#define SRV_METRIC_COUNTER_WIDE(var, name, help, max_series, ...)                                  \
    SRV_METRIC_DECLARE_(var, SRV_METRIC_COUNTER, name, help, NULL, 0, max_series, __VA_ARGS__)

/* Bucket sets shared by the code base (seconds; items). */
extern const double srv_metric_latency_buckets[12];
extern const double srv_metric_job_buckets[12];
extern const double srv_metric_size_buckets[10];

/* Each takes exactly as many label values (const char *, NULL is "") as the
 * family has label names.  add: counters (v >= 0) and gauges; set: gauges,
 * and counters that mirror a count kept elsewhere (from a hook); observe:
 * histograms. */
void srv_metric_add(srv_metric *m, double v, ...);
void srv_metric_set(srv_metric *m, double v, ...);
void srv_metric_observe(srv_metric *m, double v, ...);
/* The value of a counter or gauge series (0 when it does not exist). */
double srv_metric_value(srv_metric *m, ...);

/* Gauges whose value lives elsewhere (a queue length, a pool) are set by a
 * hook that runs before each scrape.  At most 32 hooks; arg borrowed until
 * srv_metrics_hook_remove(fn, arg). */
typedef void (*srv_metrics_hook)(void *arg);
void srv_metrics_hook_add(srv_metrics_hook fn, void *arg);
void srv_metrics_hook_remove(srv_metrics_hook fn, void *arg);

/* Runs the hooks and renders every registered family, the process figures
 * (resident memory, open descriptors, CPU, start time) included, in the text
 * exposition format.  malloc'd, caller frees; NULL on OOM. */
char *srv_metrics_render(size_t *len);

#define SRV_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Access to /metrics: 1 when a scrape from the TCP peer `peer` (text
 * address) with the Authorization header `authorization` (may be NULL) is
 * allowed — the peer is in metrics_allow, or metrics_token is set and the
 * header is "Bearer <metrics_token>" (compared in constant time). */
int srv_metrics_allowed(const char *peer, const char *authorization);

#endif
