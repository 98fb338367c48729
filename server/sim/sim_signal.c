/*
 * sim_signal — deterministic sensor-signal generator.  See sim_signal.h.
 */
#include "sim_signal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define US_PER_S          INT64_C(1000000)
#define BEIJING_OFFSET_US (INT64_C(8) * 3600 * US_PER_S)
#define TAU_TEMP_S        1200.0 /* 20 min first-order lag for temperatures */
#define TAU_FAST_S        60.0   /* pressure, flow, level follow the fan in ~1 min */

void sim_rng_seed(sim_rng *r, uint64_t seed)
{
    r->s = seed ^ UINT64_C(0x6a09e667f3bcc909);
}

uint64_t sim_rng_next(sim_rng *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

double sim_rng_uniform(sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double sim_rng_normal(sim_rng *r)
{
    /* Box-Muller, one value per call (keeps the stream simple to reason about) */
    double u1 = sim_rng_uniform(r), u2 = sim_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static const char *const kind_names[SIM_K__COUNT] = {
    [SIM_K_HOPPER_TEMP] = "hopper_temp",
    [SIM_K_PRESSURE_DIFF] = "pressure_diff",
    [SIM_K_AIRLOCK_FAULT] = "airlock_fault",
    [SIM_K_SPARK] = "spark",
    [SIM_K_FAN_RUNNING] = "fan_running",
    [SIM_K_WATER_LEVEL] = "water_level",
    [SIM_K_WATER_FLOW] = "water_flow",
    [SIM_K_HYDROGEN_LEL] = "hydrogen_lel",
    [SIM_K_OXYGEN] = "oxygen",
    [SIM_K_BEARING_TEMP] = "bearing_temp",
    [SIM_K_DUST_CONC] = "dust_conc",
};

static const char *const scenario_names[SIM_SC__COUNT] = {
    [SIM_SC_NONE] = "none",
    [SIM_SC_HOPPER_TEMP_CLIMB] = "hopper_temp_climb",
    [SIM_SC_BAG_BREAK] = "bag_break",
    [SIM_SC_AIRLOCK_FAULT] = "airlock_fault",
    [SIM_SC_SPARK_BURST] = "spark_burst",
    [SIM_SC_WATER_LOSS] = "water_loss",
    [SIM_SC_HYDROGEN_RISE] = "hydrogen_rise",
    [SIM_SC_OUTAGE_BACKFILL] = "outage_backfill",
};

const char *sim_kind_name(sim_kind k)
{
    return (int)k >= 0 && k < SIM_K__COUNT ? kind_names[k] : "unknown";
}

int sim_kind_parse(const char *s)
{
    for (int i = 0; s != NULL && i < SIM_K__COUNT; i++)
        if (strcmp(kind_names[i], s) == 0)
            return i;
    return -1;
}

const char *sim_scenario_name(sim_scenario s)
{
    return (int)s >= 0 && s < SIM_SC__COUNT ? scenario_names[s] : "unknown";
}

int sim_scenario_parse(const char *s)
{
    for (int i = 0; s != NULL && i < SIM_SC__COUNT; i++)
        if (strcmp(scenario_names[i], s) == 0)
            return i;
    return -1;
}

int sim_kind_is_digital(sim_kind k)
{
    return k == SIM_K_AIRLOCK_FAULT || k == SIM_K_SPARK || k == SIM_K_FAN_RUNNING;
}

void sim_kind_defaults(sim_kind k, double *normal, double *noise)
{
    static const double d[SIM_K__COUNT][2] = {
        [SIM_K_HOPPER_TEMP] = {35.0, 0.5},   [SIM_K_PRESSURE_DIFF] = {1000.0, 30.0},
        [SIM_K_AIRLOCK_FAULT] = {0.0, 0.0},  [SIM_K_SPARK] = {0.0, 0.0},
        [SIM_K_FAN_RUNNING] = {1.0, 0.0},    [SIM_K_WATER_LEVEL] = {1.20, 0.01},
        [SIM_K_WATER_FLOW] = {0.050, 0.002}, [SIM_K_HYDROGEN_LEL] = {2.0, 0.3},
        [SIM_K_OXYGEN] = {8.0, 0.1},         [SIM_K_BEARING_TEMP] = {45.0, 0.4},
        [SIM_K_DUST_CONC] = {4.0, 0.4},
    };
    if ((int)k < 0 || k >= SIM_K__COUNT) {
        *normal = 0;
        *noise = 0;
        return;
    }
    *normal = d[k][0];
    *noise = d[k][1];
}

int sim_shift_running(int64_t ts_us)
{
    int64_t local_s = (ts_us + BEIJING_OFFSET_US) / US_PER_S;
    int64_t sod = local_s % 86400;
    if (sod < 0)
        sod += 86400;
    return sod >= 8 * 3600 && sod < 20 * 3600;
}

double sim_plan_progress(const sim_plan *plan, int64_t ts_us)
{
    if (plan == NULL || plan->scenario == SIM_SC_NONE || ts_us < plan->start_us)
        return 0.0;
    int64_t ramp = plan->ramp_us > 0 ? plan->ramp_us : INT64_C(600) * US_PER_S;
    double p = (double)(ts_us - plan->start_us) / (double)ramp;
    return p > 1.0 ? 1.0 : p;
}

int sim_plan_in_outage(const sim_plan *plan, int64_t ts_us)
{
    if (plan == NULL || plan->scenario != SIM_SC_OUTAGE_BACKFILL)
        return 0;
    int64_t len = plan->outage_us > 0 ? plan->outage_us : INT64_C(900) * US_PER_S;
    return ts_us >= plan->start_us && ts_us < plan->start_us + len;
}

int sim_plan_running(const sim_plan *plan, int64_t ts_us)
{
    if (plan != NULL && plan->round_the_clock)
        return 1;
    if (plan != NULL && plan->scenario != SIM_SC_NONE && plan->scenario != SIM_SC_OUTAGE_BACKFILL &&
        ts_us >= plan->start_us)
        return 1;
    return sim_shift_running(ts_us);
}

/* Production-dependent target of the lagged base. */
static double base_target(const sim_point *p, int running)
{
    switch (p->kind) {
    case SIM_K_HOPPER_TEMP:
        return running ? p->normal : fmax(12.0, p->normal - 15.0);
    case SIM_K_BEARING_TEMP:
        return running ? p->normal : fmax(12.0, p->normal - 20.0);
    case SIM_K_PRESSURE_DIFF:
        return running ? p->normal : 0.02 * p->normal;
    case SIM_K_DUST_CONC:
        return running ? p->normal : 0.1 * p->normal;
    case SIM_K_WATER_FLOW:
        return running ? p->normal : 0.0;
    case SIM_K_HYDROGEN_LEL:
        return running ? p->normal : 0.5 * p->normal;
    default:
        return p->normal;
    }
}

static double lag_tau_s(sim_kind k)
{
    return k == SIM_K_HOPPER_TEMP || k == SIM_K_BEARING_TEMP || k == SIM_K_HYDROGEN_LEL
               ? TAU_TEMP_S
               : TAU_FAST_S;
}

static double digital_value(const sim_point *p, const sim_plan *plan, int64_t ts_us, int running)
{
    int active = plan != NULL && plan->scenario != SIM_SC_NONE && ts_us >= plan->start_us;
    switch (p->kind) {
    case SIM_K_FAN_RUNNING:
        return running ? 1.0 : 0.0;
    case SIM_K_AIRLOCK_FAULT:
        return active && plan->scenario == SIM_SC_AIRLOCK_FAULT ? 1.0 : p->normal;
    case SIM_K_SPARK:
        if (active && plan->scenario == SIM_SC_SPARK_BURST) {
            int64_t s = (ts_us - plan->start_us) / US_PER_S;
            return s % 60 < 20 ? 1.0 : 0.0;
        }
        return p->normal;
    default:
        return p->normal;
    }
}

/* Additive or multiplicative scenario effect on an analogue value. */
static double apply_scenario(const sim_point *p, const sim_plan *plan, int64_t ts_us, double v)
{
    double prog = sim_plan_progress(plan, ts_us);
    if (prog <= 0.0)
        return v;
    switch (plan->scenario) {
    case SIM_SC_HOPPER_TEMP_CLIMB:
        if (p->kind == SIM_K_HOPPER_TEMP)
            return v + 45.0 * prog;
        break;
    case SIM_SC_BAG_BREAK:
        if (p->kind == SIM_K_PRESSURE_DIFF)
            return v * (1.0 - 0.97 * prog);
        if (p->kind == SIM_K_DUST_CONC)
            return v * (1.0 + 4.0 * prog); /* dust passes the broken bag */
        break;
    case SIM_SC_WATER_LOSS:
        if (p->kind == SIM_K_WATER_LEVEL)
            return v * (1.0 - 0.9 * prog);
        if (p->kind == SIM_K_WATER_FLOW)
            return v * (1.0 - 0.8 * prog);
        break;
    case SIM_SC_HYDROGEN_RISE:
        if (p->kind == SIM_K_HYDROGEN_LEL)
            return v + 60.0 * prog;
        break;
    default:
        break;
    }
    return v;
}

double sim_signal_next(sim_point *p, const sim_plan *plan, int64_t ts_us, sim_rng *rng)
{
    int running = sim_plan_running(plan, ts_us);
    if (sim_kind_is_digital(p->kind)) {
        p->last_us = ts_us;
        p->initialized = 1;
        return digital_value(p, plan, ts_us, running);
    }
    double target = base_target(p, running);
    if (!p->initialized) {
        p->base = target;
        p->drift = 0.0;
        p->initialized = 1;
        p->last_us = ts_us;
    }
    double dt = (double)(ts_us - p->last_us) / (double)US_PER_S;
    if (dt < 0)
        dt = 0;
    p->last_us = ts_us;
    /* first-order lag towards the production-dependent target */
    p->base += (target - p->base) * (1.0 - exp(-dt / lag_tau_s(p->kind)));
    /* slow drift: random walk, mean-reverting, bounded to +-3 noise */
    if (p->noise > 0 && dt > 0) {
        p->drift +=
            sim_rng_normal(rng) * p->noise * 0.05 * sqrt(dt) - p->drift * fmin(1.0, dt / 3600.0);
        double lim = 3.0 * p->noise;
        p->drift = fmax(-lim, fmin(lim, p->drift));
    }
    double v = p->base + p->drift;
    v = apply_scenario(p, plan, ts_us, v);
    if (p->noise > 0)
        v += sim_rng_normal(rng) * p->noise;
    if (v < 0.0)
        v = 0.0; /* none of our quantities is negative */
    return v;
}
