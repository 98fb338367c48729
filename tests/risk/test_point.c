/* test_point.c — table-driven tests of the per-point alarm rules. Each scenario feeds
 * steps (a sample, or a timer check) one call at a time, like the server does, and compares
 * the transitions as "action:kind:reason@ts" words. */
#include "risk_point.h"
#include "risk_test.h"

#include <stdint.h>

enum { OP_END = 0, OP_SAMPLE, OP_CHECK };

typedef struct {
    int op;
    int64_t ts; /* sample ts, or `now` for OP_CHECK */
    double v;
    int64_t now; /* for samples: 0 means now = ts */
} step;

typedef struct {
    const char *name;
    void (*setup)(risk_point_cfg *);
    step steps[12];
    const char *expect;
} scenario;

static void temp_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_ANALOG);
    c->high = 70;
    c->high_high = 80;
    c->deadband = 2;
    c->range_min = -40;
    c->range_max = 400;
}

static void dp_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_ANALOG);
    c->low_low = 300;
    c->low = 500;
    c->high = 1500;
    c->high_high = 2000;
    c->deadband = 50;
    c->min_duration_s = 60;
}

static void rate_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_ANALOG);
    c->rate_delta = 10;
    c->rate_window_s = 600;
}

static void frozen_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_ANALOG);
    c->frozen_samples = 3;
    c->frozen_epsilon = 0.001;
}

static void spark_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_DIGITAL);
    c->digital_role = RISK_DIGITAL_SPARK;
    c->fault_value = 1;
}

static void fan_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_DIGITAL);
    c->digital_role = RISK_DIGITAL_FAN_RUN;
    c->fault_value = 0;
}

static void airlock_cfg(risk_point_cfg *c)
{
    risk_point_cfg_init(c, RISK_POINT_DIGITAL);
    c->digital_role = RISK_DIGITAL_AIRLOCK;
    c->fault_value = 1;
    c->frozen_samples = 3; /* must be ignored for digital points */
}

static void airlock_delay_cfg(risk_point_cfg *c)
{
    airlock_cfg(c);
    c->min_duration_s = 30;
}

static void offline_cfg(risk_point_cfg *c)
{
    temp_cfg(c);
    c->expected_interval_s = 300;
    c->offline_factor = 3;
}

#define S(t, val)                                                                                  \
    {                                                                                              \
        OP_SAMPLE, (t), (val), 0                                                                   \
    }
#define SN(t, val, n)                                                                              \
    {                                                                                              \
        OP_SAMPLE, (t), (val), (n)                                                                 \
    }
#define C(n)                                                                                       \
    {                                                                                              \
        OP_CHECK, (n), 0, 0                                                                        \
    }

static const scenario scenarios[] = {
    {"high is inclusive", temp_cfg, {S(10, 69.99), S(20, 70)}, "raise:high:above_high@20"},
    {"below high stays quiet", temp_cfg, {S(10, 60), S(20, 69.9)}, ""},
    {"escalate high to high-high",
     temp_cfg,
     {S(10, 75), S(20, 80)},
     "raise:high:above_high@10 escalate:high_high:above_high_high@20"},
    {"straight to high-high", temp_cfg, {S(10, 85)}, "raise:high_high:above_high_high@10"},
    {"deadband holds high until limit-deadband",
     temp_cfg,
     {S(10, 71), S(20, 68.5), S(30, 68)},
     "raise:high:above_high@10 clear:high:back_to_normal@30"},
    {"high-high de-escalates through deadband",
     temp_cfg,
     {S(10, 81), S(20, 78.5), S(30, 78), S(40, 67)},
     "raise:high_high:above_high_high@10 deescalate:high:back_below_high_high@30 "
     "clear:high:back_to_normal@40"},
    {"high-high clears directly",
     temp_cfg,
     {S(10, 90), S(20, 50)},
     "raise:high_high:above_high_high@10 clear:high_high:back_to_normal@20"},
    {"above physical max is a sensor fault, not high-high",
     temp_cfg,
     {S(10, 1370), S(20, 25)},
     "raise:out_of_range:above_physical_max@10 clear:out_of_range:back_in_physical_range@20"},
    {"below physical min", temp_cfg, {S(10, -40.01)}, "raise:out_of_range:below_physical_min@10"},
    {"physical range bounds are inclusive",
     temp_cfg,
     {S(10, 400), S(20, -40)},
     "raise:high_high:above_high_high@10 clear:high_high:back_to_normal@20"},
    {"NaN is a sensor fault", temp_cfg, {S(10, NAN)}, "raise:out_of_range:non_finite_value@10"},
    {"out of range keeps the level alarm as is",
     temp_cfg,
     {S(10, 85), S(20, 999), S(30, 85)},
     "raise:high_high:above_high_high@10 raise:out_of_range:above_physical_max@20 "
     "clear:out_of_range:back_in_physical_range@30"},
    {"back-filled sample does not clear",
     temp_cfg,
     {S(100, 75), S(90, 50), S(100, 50)},
     "raise:high:above_high@100"},
    {"back-filled sample does not raise", temp_cfg, {S(100, 50), S(50, 90)}, ""},
    {"min duration not met", dp_cfg, {S(0, 1600), S(30, 1600), S(50, 900)}, ""},
    {"min duration met exactly", dp_cfg, {S(0, 1600), S(60, 1600)}, "raise:high:above_high@60"},
    {"min duration restarts after a break",
     dp_cfg,
     {S(0, 1600), S(30, 900), S(40, 1600), S(90, 1600), S(100, 1600)},
     "raise:high:above_high@100"},
    {"low then low-low with delay",
     dp_cfg,
     {S(0, 450), S(60, 450), S(70, 290), S(130, 290)},
     "raise:low:below_low@60 escalate:low_low:below_low_low@130"},
    {"low clears past deadband after delay",
     dp_cfg,
     {S(0, 450), S(60, 450), S(120, 540), S(130, 560), S(190, 560)},
     "raise:low:below_low@60 clear:low:back_to_normal@190"},
    {"high to low-low is a clear and a raise",
     dp_cfg,
     {S(0, 1600), S(60, 1600), S(70, 200), S(130, 200)},
     "raise:high:above_high@60 clear:high:back_to_normal@130 raise:low_low:below_low_low@130"},
    {"rate of rise within the window",
     rate_cfg,
     {S(0, 20), S(300, 25), S(600, 31)},
     "raise:rate_of_rise:rate_exceeded@600"},
    {"rate exactly delta is an alarm",
     rate_cfg,
     {S(0, 20), S(60, 30)},
     "raise:rate_of_rise:rate_exceeded@60"},
    {"slow rise over longer than the window is not",
     rate_cfg,
     {S(0, 20), S(400, 25), S(800, 30), S(1200, 35), S(1600, 40)},
     ""},
    {"rate clears once the rise leaves the window",
     rate_cfg,
     {S(0, 20), S(300, 31), S(900, 31)},
     "raise:rate_of_rise:rate_exceeded@300 clear:rate_of_rise:rate_normal@900"},
    {"a drop re-anchors the window",
     rate_cfg,
     {S(0, 30), S(100, 20), S(200, 29.99), S(250, 30)},
     "raise:rate_of_rise:rate_exceeded@250"},
    {"rate after a long gap starts fresh", rate_cfg, {S(0, 20), S(5000, 40)}, ""},
    {"frozen after N identical samples",
     frozen_cfg,
     {S(0, 5), S(60, 5), S(120, 5), S(180, 5.5)},
     "raise:frozen:value_frozen@120 clear:frozen:value_changed@180"},
    {"frozen within epsilon",
     frozen_cfg,
     {S(0, 5), S(60, 5.0005), S(120, 5)},
     "raise:frozen:value_frozen@120"},
    {"N-1 identical samples are fine", frozen_cfg, {S(0, 5), S(60, 5), S(120, 6), S(180, 6)}, ""},
    {"spark detected and reset",
     spark_cfg,
     {S(0, 0), S(10, 1), S(20, 0)},
     "raise:digital_fault:spark_detected@10 clear:digital_fault:digital_normal@20"},
    {"fan stopped is a fault when fault_value is 0",
     fan_cfg,
     {S(0, 1), S(10, 0)},
     "raise:digital_fault:fan_stopped@10"},
    {"air-lock fault, frozen ignored on digital",
     airlock_cfg,
     {S(0, 0), S(10, 0), S(20, 0), S(30, 0), S(40, 1)},
     "raise:digital_fault:airlock_fault@40"},
    {"digital value must be 0 or 1",
     airlock_cfg,
     {S(0, 2), S(10, 0)},
     "raise:out_of_range:not_binary@0 clear:out_of_range:back_in_physical_range@10"},
    {"digital fault with minimum duration",
     airlock_delay_cfg,
     {S(0, 1), S(20, 1), S(30, 1)},
     "raise:digital_fault:airlock_fault@30"},
    {"offline only after k x interval", offline_cfg, {C(900), C(901)}, "raise:offline:no_data@900"},
    {"fresh data clears offline",
     offline_cfg,
     {C(2000), SN(2000, 25, 2000)},
     "raise:offline:no_data@900 clear:offline:data_resumed@2000"},
    {"stale back-fill does not clear offline",
     offline_cfg,
     {C(2000), SN(950, 25, 5000)},
     "raise:offline:no_data@900"},
    {"eval itself notices offline", offline_cfg, {SN(100, 25, 2000)}, "raise:offline:no_data@1000"},
    {"offline keeps the level alarm",
     offline_cfg,
     {S(0, 75), C(10000), S(10100, 75)},
     "raise:high:above_high@0 raise:offline:no_data@900 clear:offline:data_resumed@10100"},
};

static void describe(char *buf, size_t len, const risk_alarm_transition *t, size_t n)
{
    size_t used = strlen(buf);
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s:%s:%s@%lld", used ? " " : "",
                         risk_tr_action_name(t[i].action), risk_alarm_kind_name(t[i].kind),
                         risk_reason_name(t[i].reason), (long long)t[i].ts);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

static void run_scenarios(void)
{
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const scenario *sc = &scenarios[i];
        risk_point_cfg cfg;
        sc->setup(&cfg);
        const char *why = NULL;
        CHECK(risk_point_cfg_validate(&cfg, &why) == 0, "%s: cfg invalid: %s", sc->name, why);
        risk_point_state st;
        risk_point_state_init(&st, 0);
        char got[1024] = "";
        for (const step *p = sc->steps; p->op != OP_END; p++) {
            risk_alarm_transition tr[8];
            size_t n;
            if (p->op == OP_SAMPLE) {
                risk_sample s = {p->ts, p->v};
                n = risk_point_eval(&cfg, &st, &s, 1, p->now ? p->now : p->ts, &st, tr, 8);
            } else {
                n = risk_point_check_offline(&cfg, &st, p->ts, &st, tr, 8);
            }
            CHECK(n <= 8, "%s: too many transitions", sc->name);
            describe(got, sizeof got, tr, n);
        }
        CHECK_STR(got, sc->expect, sc->name);
    }
}

/* Batch evaluation gives the same result as one call per sample, and tr_cap truncates
 * without losing state. */
static void test_batch_and_truncation(void)
{
    risk_point_cfg cfg;
    temp_cfg(&cfg);
    risk_sample s[] = {{10, 75}, {20, 85}, {30, 50}, {40, 1000}, {50, 20}};
    risk_point_state a, b;
    risk_point_state_init(&a, 0);
    risk_alarm_transition tr[8];
    size_t n = risk_point_eval(&cfg, &a, s, 5, 50, &b, tr, 8);
    CHECK(n == 5, "batch transitions: got %zu", n);
    CHECK(b.level == RISK_ALARM_NONE && !b.range_active, "batch end state");
    CHECK(b.last_ts == 50 && b.last_value == 20, "batch last sample");

    risk_point_state c;
    risk_point_state_init(&c, 0);
    risk_alarm_transition small[2];
    size_t m = risk_point_eval(&cfg, &c, s, 2, 20, &c, small, 2); /* aliasing in/out */
    CHECK(m == 2 && small[1].action == RISK_TR_ESCALATE, "aliased eval");
    m = risk_point_eval(&cfg, &c, s + 2, 3, 50, &c, small, 1);
    CHECK(m == 3, "truncated count reports total: %zu", m);
    CHECK(small[0].action == RISK_TR_CLEAR && small[0].kind == RISK_ALARM_HIGH_HIGH,
          "first transition kept");
    CHECK(c.level == b.level && c.range_active == b.range_active && c.last_ts == b.last_ts,
          "state complete after truncation");
    CHECK(risk_point_eval(&cfg, &c, NULL, 0, 60, &c, NULL, 0) == 0, "no samples, no cap");
}

static void test_thresholds_in_transitions(void)
{
    risk_point_cfg cfg;
    temp_cfg(&cfg);
    risk_point_state st;
    risk_point_state_init(&st, 0);
    risk_sample s[] = {{10, 72}, {20, 60}};
    risk_alarm_transition tr[4];
    size_t n = risk_point_eval(&cfg, &st, s, 2, 20, &st, tr, 4);
    CHECK(n == 2, "n=%zu", n);
    CHECK(tr[0].threshold == 70 && tr[0].value == 72, "raise carries limit and value");
    CHECK(tr[1].threshold == 68 && tr[1].value == 60, "clear carries re-arm point");
    CHECK(st.level_since == 20, "level_since updated");
}

typedef struct {
    const char *name;
    void (*mutate)(risk_point_cfg *);
} bad_cfg;

static void bad_hh_below_h(risk_point_cfg *c)
{
    c->high_high = 60;
}
static void bad_low_above_high(risk_point_cfg *c)
{
    c->low = 75;
}
static void bad_deadband(risk_point_cfg *c)
{
    c->deadband = -1;
}
static void bad_rate(risk_point_cfg *c)
{
    c->rate_delta = 5;
    c->rate_window_s = 0;
}
static void bad_range(risk_point_cfg *c)
{
    c->range_min = 500;
}
static void bad_fault_value(risk_point_cfg *c)
{
    c->fault_value = 2;
}
static void bad_frozen(risk_point_cfg *c)
{
    c->frozen_samples = 1;
}
static void bad_offline(risk_point_cfg *c)
{
    c->offline_factor = 3;
    c->expected_interval_s = 0;
}
static void bad_inf_limit(risk_point_cfg *c)
{
    c->high = INFINITY;
}
static void bad_min_duration(risk_point_cfg *c)
{
    c->min_duration_s = -5;
}

static void test_cfg_validation(void)
{
    static const bad_cfg bad[] = {
        {"high_high < high", bad_hh_below_h},
        {"low >= high", bad_low_above_high},
        {"negative deadband", bad_deadband},
        {"rate without window", bad_rate},
        {"range inverted", bad_range},
        {"fault value 2", bad_fault_value},
        {"frozen 1", bad_frozen},
        {"offline without interval", bad_offline},
        {"infinite limit", bad_inf_limit},
        {"negative min duration", bad_min_duration},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        risk_point_cfg c;
        temp_cfg(&c);
        bad[i].mutate(&c);
        const char *why = NULL;
        CHECK(risk_point_cfg_validate(&c, &why) == -1 && why != NULL, "%s accepted", bad[i].name);
    }
}

static void test_names(void)
{
    for (int i = 0; i < RISK_REASON_COUNT; i++) {
        const char *a = risk_reason_name((risk_reason)i);
        CHECK(a && *a && strcmp(a, "unknown") != 0, "reason %d has a name", i);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(a, risk_reason_name((risk_reason)j)) != 0, "reason names unique %d", i);
    }
    CHECK_STR(risk_reason_name(RISK_REASON_COUNT), "unknown", "out of range reason");
    for (int k = 0; k < RISK_ALARM_KIND_COUNT; k++)
        CHECK(risk_alarm_kind_name((risk_alarm_kind)k) != NULL, "kind %d", k);
    CHECK(risk_alarm_level(RISK_ALARM_HIGH_HIGH) == 2 &&
              risk_alarm_level(RISK_ALARM_LOW_LOW) == 2 &&
              risk_alarm_level(RISK_ALARM_DIGITAL_FAULT) == 2,
          "level 2 kinds");
    CHECK(risk_alarm_level(RISK_ALARM_HIGH) == 1 && risk_alarm_level(RISK_ALARM_RATE_OF_RISE) == 1,
          "level 1 kinds");
    CHECK(risk_alarm_level(RISK_ALARM_OFFLINE) == 0 && risk_alarm_level(RISK_ALARM_FROZEN) == 0,
          "quality kinds");
}

static void test_offline_due(void)
{
    risk_point_cfg cfg;
    offline_cfg(&cfg);
    cfg.offline_factor = 2.5;
    risk_point_state st;
    risk_point_state_init(&st, 1000);
    CHECK(risk_point_offline_due_at(&cfg, &st) == 1750, "due at last_ts + k x interval");
    cfg.offline_factor = 0;
    CHECK(risk_point_offline_due_at(&cfg, &st) == INT64_MAX, "off");
}

int main(void)
{
    run_scenarios();
    test_batch_and_truncation();
    test_thresholds_in_transitions();
    test_cfg_validation();
    test_names();
    test_offline_due();
    return rt_report("risk-point");
}
