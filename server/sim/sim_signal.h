/*
 * sim_signal — deterministic sensor-signal generator for the simulator.
 *
 * Pure: no I/O, no clock, no global state.  Every value is a function of the
 * point's parameters, its state, the simulated time passed in, and a seeded
 * PRNG (splitmix64), so a test with a fixed seed sees a fixed series.
 *
 * Model per point kind (all times Beijing local, UTC+8):
 *  - production runs on the day shift 08:00-20:00; at night the fan stops,
 *    pressure difference and dust concentration fall to ~0, temperatures
 *    relax towards ambient with a first-order lag (tau 20 min);
 *  - every analogue value = lagged base + slow bounded drift + Gaussian
 *    noise (sd = point noise); digital points (air-lock fault, spark, fan)
 *    are exact 0/1;
 *  - scenarios start at plan.start_us and ramp over plan.ramp_us; while a
 *    scenario other than outage_backfill is active the line is forced to
 *    run, so precursors show up even at night:
 *      hopper_temp_climb  hopper temperature +45 ℃ (35 -> ~80, crossing 70)
 *      bag_break          pressure difference collapses to ~3 % while fan runs
 *      airlock_fault      air-lock fault signal 1
 *      spark_burst        spark signal 1 for 20 s of every 60 s
 *      water_loss         water level falls to 10 %, flow to 20 %
 *      hydrogen_rise      hydrogen +60 %LEL (crosses 25 and 50 %LEL)
 *      outage_backfill    signals normal; sim_plan_in_outage() is true for
 *                         plan.outage_us so the sender buffers and back-fills
 */
#ifndef DW_SIM_SIGNAL_H
#define DW_SIM_SIGNAL_H

#include <stdint.h>

typedef struct {
    uint64_t s;
} sim_rng;

void sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(sim_rng *r);
double sim_rng_uniform(sim_rng *r); /* [0, 1) */
double sim_rng_normal(sim_rng *r);  /* N(0, 1) */

typedef enum {
    SIM_K_HOPPER_TEMP,
    SIM_K_PRESSURE_DIFF,
    SIM_K_AIRLOCK_FAULT,
    SIM_K_SPARK,
    SIM_K_FAN_RUNNING,
    SIM_K_WATER_LEVEL,
    SIM_K_WATER_FLOW,
    SIM_K_HYDROGEN_LEL,
    SIM_K_OXYGEN,
    SIM_K_BEARING_TEMP,
    SIM_K_DUST_CONC,
    SIM_K__COUNT
} sim_kind;

typedef enum {
    SIM_SC_NONE,
    SIM_SC_HOPPER_TEMP_CLIMB,
    SIM_SC_BAG_BREAK,
    SIM_SC_AIRLOCK_FAULT,
    SIM_SC_SPARK_BURST,
    SIM_SC_WATER_LOSS,
    SIM_SC_HYDROGEN_RISE,
    SIM_SC_OUTAGE_BACKFILL,
    SIM_SC__COUNT
} sim_scenario;

/* Names as in the fleet file ("hopper_temp", "bag_break"); parse => -1 if unknown. */
const char *sim_kind_name(sim_kind k);
int sim_kind_parse(const char *s);
const char *sim_scenario_name(sim_scenario s);
int sim_scenario_parse(const char *s);
int sim_kind_is_digital(sim_kind k);
/* Sensible normal value and noise for a kind (used when the fleet omits them). */
void sim_kind_defaults(sim_kind k, double *normal, double *noise);

typedef struct {
    sim_scenario scenario;
    int64_t start_us;  /* simulated UTC time the scenario begins */
    int64_t ramp_us;   /* time to reach full effect (default 10 min) */
    int64_t outage_us; /* outage length for outage_backfill (default 15 min) */
    /* produces at every hour, not only on the day shift: the demo's plant that works
     * through its approved stop filing (the production-during-stop alarm needs it at night) */
    int round_the_clock;
} sim_plan;

/* Per-point generator state; zero-initialise, then set kind/normal/noise. */
typedef struct {
    sim_kind kind;
    double normal; /* value while producing normally */
    double noise;  /* sd of the measurement noise */
    /* state */
    int initialized;
    int64_t last_us;
    double base;  /* lagged production-dependent base */
    double drift; /* bounded random walk */
} sim_point;

/* Day shift 08:00-20:00 Beijing time. */
int sim_shift_running(int64_t ts_us);
/* Production running at ts under the plan (shift, or forced by an active scenario). */
int sim_plan_running(const sim_plan *plan, int64_t ts_us);
/* Scenario progress 0..1 at ts (0 before start). */
double sim_plan_progress(const sim_plan *plan, int64_t ts_us);
/* True while an outage_backfill plan keeps the gateway offline. */
int sim_plan_in_outage(const sim_plan *plan, int64_t ts_us);

/* Next value of point p at simulated time ts_us (calls must move forward in
 * time for realistic lag; equal times are fine). */
double sim_signal_next(sim_point *p, const sim_plan *plan, int64_t ts_us, sim_rng *rng);

#endif /* DW_SIM_SIGNAL_H */
