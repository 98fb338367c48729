/* recompute_engine — part (a) of tests/bench/recompute_bench.sh: the pure engine alone.
 *
 *   recompute_engine [N] [REPEATS]      (defaults 5000 and 200)
 *
 * Builds N varied synthetic enterprises (archive + dynamic inputs + 1..4 dust-removal
 * systems, every dust class / St class / removal set-up, alarm counts from zero to
 * saturation, some overrides) with a fixed-seed generator, then times REPEATS full passes
 * of risk_score_compute() over all of them with the built-in default model.  Prints
 * key=value lines: the best and the median pass in ns per enterprise, the time of one
 * full pass of N, and a checksum of the results (so the compiler cannot drop the work)
 * plus the grade distribution (so "varied" is visible).
 *
 * Built by the script as: cc -O2 -Irisk risk/{*.c} tests/bench/recompute_engine.c -lm */
#define _GNU_SOURCE
#include "risk_model.h"
#include "risk_score.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SYS 4

typedef struct {
    risk_archive a;
    risk_dynamic d;
    risk_system_state sys[MAX_SYS];
} input;

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? (uint32_t)(rng % n) : 0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static void make(input *in)
{
    memset(in, 0, sizeof *in);
    risk_archive *a = &in->a;
    a->dust_class = (risk_dust_class)rnd(RISK_DUST_COUNT);
    a->st_class = (risk_st_class)rnd(RISK_ST_COUNT);
    a->dust_workers = rnd(4) == 0 ? rnd(200) : rnd(30);
    a->removal = (risk_removal_setup)rnd(RISK_REMOVAL_COUNT);
    a->positive_pressure_conveying = rnd(5) == 0;
    a->collector_indoors = rnd(4) == 0;
    a->dry_collectors = a->removal == RISK_REMOVAL_WET ? 0 : 1 + rnd(6);
    a->multi_storey = rnd(6) == 0;

    risk_dynamic *d = &in->d;
    int busy = rnd(4) == 0; /* a quarter of the city has alarms at all */
    d->alarms_24h_mandatory = (risk_alarm_count){busy ? rnd(8) : 0, busy ? rnd(3) : 0};
    d->alarms_24h_other = (risk_alarm_count){busy ? rnd(6) : 0, busy ? rnd(2) : 0};
    d->alarms_7d_mandatory = (risk_alarm_count){d->alarms_24h_mandatory.level1 + rnd(busy ? 20 : 2),
                                                d->alarms_24h_mandatory.level2 + rnd(busy ? 6 : 1)};
    d->alarms_7d_other = (risk_alarm_count){d->alarms_24h_other.level1 + rnd(busy ? 10 : 2),
                                            d->alarms_24h_other.level2 + rnd(2)};
    d->alarm_seconds_24h_mandatory = busy ? (int64_t)rnd(86400) : 0;
    d->overdue_unacked = busy ? rnd(4) : 0;
    d->overdue_unhandled = busy ? rnd(3) : 0;
    d->repeat_after_handled = busy ? rnd(3) : 0;
    d->cleaning_required = rnd(3) == 0 ? 0 : 7 + rnd(21);
    d->cleaning_missed = d->cleaning_required ? rnd(d->cleaning_required + 1) : 0;
    d->online_rate_mandatory = rnd(3) == 0 ? 1.0 : (double)rnd(1001) / 1000.0;
    d->video_offline = rnd(5) == 0 ? rnd(4) : 0;
    d->open_hazards = rnd(6) == 0 ? rnd(5) : 0;
    d->major_hazard_items = rnd(20) == 0 ? (uint16_t)(1u << rnd(10)) : 0;
    size_t ns = 1 + rnd(MAX_SYS);
    for (size_t i = 0; i < ns; i++) {
        risk_system_state *s = &in->sys[i];
        s->system_id = (int32_t)(1000 + i);
        s->fan_running = rnd(10) != 0;
        s->hopper_temp_high_high = rnd(50) == 0;
        s->spark_detected = rnd(60) == 0;
        s->dp_collapse = rnd(60) == 0;
    }
    d->systems = in->sys;
    d->n_systems = ns;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000;
    int reps = argc > 2 ? atoi(argv[2]) : 200;
    if (n < 1 || reps < 1) {
        fprintf(stderr, "usage: recompute_engine [N>=1] [REPEATS>=1]\n");
        return 2;
    }
    risk_model m;
    risk_model_default(&m);
    const char *why;
    if (risk_model_validate(&m, &why) != 0) {
        fprintf(stderr, "default model invalid: %s\n", why);
        return 1;
    }
    input *in = calloc((size_t)n, sizeof *in);
    risk_score_result *out = malloc(sizeof *out);
    double *pass = calloc((size_t)reps, sizeof *pass);
    if (!in || !out || !pass)
        return 1;
    for (long i = 0; i < n; i++)
        make(&in[i]);

    long grades[RISK_GRADE_COUNT] = {0}, overrides = 0, rules = 0, errors = 0;
    double checksum = 0;
    /* warm-up pass, also the grade distribution */
    for (long i = 0; i < n; i++) {
        if (risk_score_compute(&m, &in[i].a, &in[i].d, out) != 0) {
            errors++;
            continue;
        }
        grades[out->grade]++;
        overrides += out->override;
        rules += (long)out->n_rules;
    }
    for (int r = 0; r < reps; r++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
            risk_score_compute(&m, &in[i].a, &in[i].d, out);
            checksum += out->R;
        }
        pass[r] = now_ns() - t0;
    }
    qsort(pass, (size_t)reps, sizeof *pass, cmp_d);
    double best = pass[0], med = pass[reps / 2], worst = pass[reps - 1];
    printf("enterprises=%ld\n", n);
    printf("repeats=%d\n", reps);
    printf("ns_per_enterprise_best=%.1f\n", best / (double)n);
    printf("ns_per_enterprise_median=%.1f\n", med / (double)n);
    printf("ns_per_enterprise_worst=%.1f\n", worst / (double)n);
    printf("full_pass_ms_median=%.3f\n", med / 1e6);
    printf("grades=blue:%ld,yellow:%ld,orange:%ld,red:%ld\n", grades[RISK_GRADE_BLUE],
           grades[RISK_GRADE_YELLOW], grades[RISK_GRADE_ORANGE], grades[RISK_GRADE_RED]);
    printf("overrides=%ld\n", overrides);
    printf("rules_per_enterprise=%.2f\n", (double)rules / (double)n);
    printf("input_errors=%ld\n", errors);
    printf("checksum=%.2f\n", checksum);
    free(in);
    free(out);
    free(pass);
    return errors ? 1 : 0;
}
