/* Unit tests for server/core/srv_metrics: counters, gauges and histograms
 * render in the text exposition format with HELP and TYPE, escaped label
 * values, cumulative buckets ending in +Inf equal to _count; a full family
 * drops new label combinations and counts them. */
#include "srv_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit_check.h"

static const double buckets[] = {0.1, 1, 10};

SRV_METRIC_COUNTER(m_c, "t_things_total", "Things.\nSecond line \\ backslash.", "kind", "code")
SRV_METRIC_GAUGE(m_g, "t_level", "A level.", NULL)
SRV_METRIC_HISTOGRAM(m_h, "t_seconds", "Durations.", buckets, "job")
SRV_METRIC_COUNTER_WIDE(m_small, "t_small_total", "Two series at most.", 2, "k")

static int has(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static int hook_calls;
static void hook(void *arg)
{
    (void)arg;
    hook_calls++;
    srv_metric_set(&m_g, 42);
}

int main(void)
{
    srv_metric_add(&m_c, 2, "a", "x\"y");
    srv_metric_add(&m_c, 3, "a", "x\"y");
    srv_metric_add(&m_c, 1, "b\n", NULL);
    srv_metric_observe(&m_h, 0.05, "j");
    srv_metric_observe(&m_h, 0.5, "j");
    srv_metric_observe(&m_h, 100, "j");
    srv_metric_add(&m_small, 1, "1");
    srv_metric_add(&m_small, 1, "2");
    srv_metric_add(&m_small, 1, "3"); /* dropped */
    srv_metrics_hook_add(hook, NULL);
    size_t len = 0;
    char *t = srv_metrics_render(&len);
    CHECK(t && strlen(t) == len);
    if (!t)
        return 1;
    CHECK(hook_calls == 1);
    CHECK(has(t, "# HELP t_things_total Things.\\nSecond line \\\\ backslash."));
    CHECK(has(t, "# TYPE t_things_total counter"));
    CHECK(has(t, "t_things_total{kind=\"a\",code=\"x\\\"y\"} 5"));
    CHECK(has(t, "t_things_total{kind=\"b\\n\",code=\"\"} 1"));
    CHECK(has(t, "# TYPE t_level gauge"));
    CHECK(has(t, "t_level 42"));
    CHECK(has(t, "# TYPE t_seconds histogram"));
    CHECK(has(t, "t_seconds_bucket{job=\"j\",le=\"0.1\"} 1"));
    CHECK(has(t, "t_seconds_bucket{job=\"j\",le=\"1\"} 2"));
    CHECK(has(t, "t_seconds_bucket{job=\"j\",le=\"10\"} 2"));
    CHECK(has(t, "t_seconds_bucket{job=\"j\",le=\"+Inf\"} 3"));
    CHECK(has(t, "t_seconds_sum{job=\"j\"} 100.55"));
    CHECK(has(t, "t_seconds_count{job=\"j\"} 3"));
    CHECK(has(t, "t_small_total{k=\"1\"} 1") && has(t, "t_small_total{k=\"2\"} 1"));
    CHECK(!strstr(t, "t_small_total{k=\"3\"}"));
    CHECK(has(t, "dustwatch_metrics_series_dropped_total 1"));
    CHECK(has(t, "# TYPE process_open_fds gauge"));
    CHECK(srv_metric_value(&m_c, "a", "x\"y") == 5);
    free(t);
    srv_metrics_hook_remove(hook, NULL);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
