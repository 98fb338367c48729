/* Unit tests for server/sim_signal: determinism, shifts, noise statistics
 * and every scenario's shape, with a seeded PRNG. */
#include "sim_signal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "unit_check.h"

#define S INT64_C(1000000)
/* 2026-11-29 00:00 Beijing = 2026-11-28T16:00:00Z */
#define DAY0     (INT64_C(1795910400000000) - 8 * 3600 * S)
#define AT(h, m) (DAY0 + ((int64_t)(h)*3600 + (m)*60) * S)

static sim_point mk(sim_kind k)
{
    sim_point p;
    memset(&p, 0, sizeof p);
    p.kind = k;
    sim_kind_defaults(k, &p.normal, &p.noise);
    return p;
}

static void test_rng(void)
{
    sim_rng a, b, c;
    sim_rng_seed(&a, 42);
    sim_rng_seed(&b, 42);
    sim_rng_seed(&c, 43);
    int diff = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sim_rng_next(&a);
        CHECK(x == sim_rng_next(&b));
        diff += x != sim_rng_next(&c);
    }
    CHECK(diff > 990);
    double sum = 0, sq = 0;
    int n = 200000;
    sim_rng_seed(&a, 7);
    for (int i = 0; i < n; i++) {
        double u = sim_rng_uniform(&a);
        CHECK(u >= 0.0 && u < 1.0);
        double z = sim_rng_normal(&a);
        sum += z;
        sq += z * z;
    }
    CHECK(fabs(sum / n) < 0.02);
    CHECK(fabs(sq / n - 1.0) < 0.03);
}

static void test_names(void)
{
    for (int k = 0; k < SIM_K__COUNT; k++)
        CHECK(sim_kind_parse(sim_kind_name((sim_kind)k)) == k);
    for (int s = 0; s < SIM_SC__COUNT; s++)
        CHECK(sim_scenario_parse(sim_scenario_name((sim_scenario)s)) == s);
    CHECK(sim_kind_parse("nope") == -1 && sim_scenario_parse(NULL) == -1);
    CHECK(sim_kind_is_digital(SIM_K_SPARK) && !sim_kind_is_digital(SIM_K_OXYGEN));
}

static void test_shift(void)
{
    CHECK(!sim_shift_running(AT(3, 0)));
    CHECK(!sim_shift_running(AT(7, 59)));
    CHECK(sim_shift_running(AT(8, 0)));
    CHECK(sim_shift_running(AT(19, 59)));
    CHECK(!sim_shift_running(AT(20, 0)));
    sim_plan none = {SIM_SC_NONE, 0, 0, 0, 0};
    sim_rng r;
    sim_rng_seed(&r, 1);
    sim_point fan = mk(SIM_K_FAN_RUNNING), dp = mk(SIM_K_PRESSURE_DIFF), ht = mk(SIM_K_HOPPER_TEMP);
    CHECK(sim_signal_next(&fan, &none, AT(3, 0), &r) == 0.0);
    CHECK(sim_signal_next(&fan, &none, AT(10, 0), &r) == 1.0);
    /* the plant working through its stop filing: its fan runs at 03:00 too */
    sim_plan always = {SIM_SC_NONE, 0, 0, 0, 1};
    sim_point fan2 = mk(SIM_K_FAN_RUNNING);
    CHECK(sim_plan_running(&always, AT(3, 0)) &&
          sim_signal_next(&fan2, &always, AT(3, 0), &r) == 1.0);
    /* a full day at 10 s steps: night values fall, day values at normal */
    double ht_day = 0, ht_night = 0, dp_day = 0, dp_night = 0;
    for (int64_t t = AT(0, 0); t < AT(24, 0); t += 10 * S) {
        double h = sim_signal_next(&ht, &none, t, &r), d = sim_signal_next(&dp, &none, t, &r);
        CHECK(h >= 0 && d >= 0 && isfinite(h) && isfinite(d));
        if (t == AT(7, 0)) {
            ht_night = h;
            dp_night = d;
        }
        if (t == AT(15, 0)) {
            ht_day = h;
            dp_day = d;
        }
    }
    CHECK(fabs(ht_day - 35.0) < 3.0);
    CHECK(ht_night < 24.0); /* relaxed towards 20 ℃ */
    CHECK(fabs(dp_day - 1000.0) < 150.0);
    CHECK(dp_night < 150.0);
}

static void test_determinism_and_noise(void)
{
    sim_plan none = {SIM_SC_NONE, 0, 0, 0, 0};
    sim_rng r1, r2;
    sim_rng_seed(&r1, 99);
    sim_rng_seed(&r2, 99);
    sim_point a = mk(SIM_K_HOPPER_TEMP), b = mk(SIM_K_HOPPER_TEMP);
    double sum = 0, sq = 0;
    int n = 0;
    for (int64_t t = AT(9, 0); t < AT(19, 0); t += 10 * S, n++) {
        double x = sim_signal_next(&a, &none, t, &r1);
        CHECK(x == sim_signal_next(&b, &none, t, &r2));
        sum += x;
        sq += x * x;
    }
    double mean = sum / n, sd = sqrt(sq / n - mean * mean);
    CHECK(fabs(mean - 35.0) < 1.0);
    CHECK(sd > 0.3 && sd < 1.5); /* noise 0.5 plus bounded drift */
}

static double run_to(sim_point *p, const sim_plan *plan, int64_t from, int64_t to, sim_rng *r)
{
    double v = 0;
    for (int64_t t = from; t <= to; t += 10 * S)
        v = sim_signal_next(p, plan, t, r);
    return v;
}

static void test_scenarios(void)
{
    sim_rng r;
    sim_rng_seed(&r, 5);
    int64_t start = AT(10, 0), ramp = 600 * S;
    sim_plan pl = {SIM_SC_HOPPER_TEMP_CLIMB, start, ramp, 0, 0};
    sim_point ht = mk(SIM_K_HOPPER_TEMP);
    CHECK(run_to(&ht, &pl, AT(9, 0), start - 10 * S, &r) < 40.0);
    double mid = run_to(&ht, &pl, start, start + ramp / 2, &r);
    CHECK(mid > 50.0 && mid < 65.0);
    CHECK(run_to(&ht, &pl, start + ramp / 2 + 10 * S, start + ramp + 60 * S, &r) > 70.0);
    CHECK(sim_plan_progress(&pl, start - 1) == 0.0 &&
          sim_plan_progress(&pl, start + ramp * 2) == 1.0);

    /* bag break at night: line forced to run, fan on, dp collapses */
    int64_t nstart = AT(2, 0);
    sim_plan bb = {SIM_SC_BAG_BREAK, nstart, ramp, 0, 0};
    sim_point dp = mk(SIM_K_PRESSURE_DIFF), fan = mk(SIM_K_FAN_RUNNING);
    CHECK(sim_signal_next(&fan, &bb, nstart - S, &r) == 0.0);
    CHECK(sim_signal_next(&fan, &bb, nstart + ramp, &r) == 1.0);
    run_to(&dp, &bb, nstart - 3600 * S, nstart + 120 * S, &r); /* ramps up with the fan first */
    CHECK(run_to(&dp, &bb, nstart + 130 * S, nstart + ramp + 300 * S, &r) < 80.0);

    sim_plan af = {SIM_SC_AIRLOCK_FAULT, start, ramp, 0, 0};
    sim_point al = mk(SIM_K_AIRLOCK_FAULT);
    CHECK(sim_signal_next(&al, &af, start - S, &r) == 0.0);
    CHECK(sim_signal_next(&al, &af, start + S, &r) == 1.0);

    sim_plan sb = {SIM_SC_SPARK_BURST, start, ramp, 0, 0};
    sim_point sp = mk(SIM_K_SPARK);
    int ones = 0, total = 0;
    for (int64_t t = start; t < start + 600 * S; t += S, total++)
        ones += sim_signal_next(&sp, &sb, t, &r) == 1.0;
    CHECK(ones == total / 3);
    CHECK(sim_signal_next(&sp, &sb, start - S, &r) == 0.0);

    sim_plan wl = {SIM_SC_WATER_LOSS, start, ramp, 0, 0};
    sim_point lv = mk(SIM_K_WATER_LEVEL), fl = mk(SIM_K_WATER_FLOW);
    double lv0 = run_to(&lv, &wl, AT(9, 0), start - 10 * S, &r);
    double fl0 = run_to(&fl, &wl, AT(9, 0), start - 10 * S, &r);
    CHECK(lv0 > 1.1 && fl0 > 0.04);
    CHECK(run_to(&lv, &wl, start, start + ramp, &r) < 0.2);
    CHECK(run_to(&fl, &wl, start, start + ramp, &r) < 0.02);

    sim_plan hr = {SIM_SC_HYDROGEN_RISE, start, ramp, 0, 0};
    sim_point h2 = mk(SIM_K_HYDROGEN_LEL);
    CHECK(run_to(&h2, &hr, AT(9, 0), start - 10 * S, &r) < 5.0);
    CHECK(run_to(&h2, &hr, start, start + ramp, &r) > 50.0);

    sim_plan ob = {SIM_SC_OUTAGE_BACKFILL, start, 0, 900 * S, 0};
    CHECK(!sim_plan_in_outage(&ob, start - 1));
    CHECK(sim_plan_in_outage(&ob, start));
    CHECK(sim_plan_in_outage(&ob, start + 899 * S));
    CHECK(!sim_plan_in_outage(&ob, start + 900 * S));
    CHECK(!sim_plan_in_outage(&hr, start + S));
    CHECK(sim_plan_running(&ob, AT(3, 0)) == 0); /* an outage does not force production */
}

int main(void)
{
    test_rng();
    test_names();
    test_shift();
    test_determinism_and_noise();
    test_scenarios();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_sim_signal: all passed\n");
    return 0;
}
