/* test_score.c — table-driven tests of inherent points, dynamic terms, overrides, grading,
 * rounding and model validation. */
#include "risk_score.h"
#include "risk_test.h"

static risk_archive base_archive(void)
{
    risk_archive a = {
        .dust_class = RISK_DUST_GRAIN,
        .st_class = RISK_ST_1,
        .dust_workers = 10,
        .removal = RISK_REMOVAL_NONE,
        .dry_collectors = 0,
    };
    return a; /* I = 5 (St1) + 2 (workers < 30) = 7 */
}

static risk_dynamic quiet(void)
{
    risk_dynamic d;
    memset(&d, 0, sizeof d);
    d.online_rate_mandatory = 1;
    return d;
}

static bool has_rule(const risk_score_result *r, const char *code)
{
    for (size_t i = 0; i < r->n_rules; i++)
        if (strcmp(r->rules[i].code, code) == 0)
            return true;
    return false;
}

typedef struct {
    const char *name;
    risk_archive a;
    double want_i;
    const char *rule; /* one rule that must fire */
} inherent_case;

static void test_inherent(const risk_model *m)
{
    /* Base: St1 5 unless overridden; workers 10 → 2. */
    static const inherent_case cases[] = {
        {"Al/Mg",
         {RISK_DUST_METAL_AL_MG, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         27,
         "I.DUST.METAL_AL_MG"},
        {"other metal",
         {RISK_DUST_METAL_OTHER, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         17,
         "I.DUST.METAL_OTHER"},
        {"wood ignores St",
         {RISK_DUST_WOOD, RISK_ST_3, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         17,
         "I.DUST.WOOD"},
        {"grain St1",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         7,
         "I.DUST.ST1"},
        {"plastic St2",
         {RISK_DUST_PLASTIC, RISK_ST_2, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         14,
         "I.DUST.ST2"},
        {"other St3",
         {RISK_DUST_OTHER, RISK_ST_3, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         20,
         "I.DUST.ST3"},
        {"unknown St scores as St2",
         {RISK_DUST_OTHER, RISK_ST_UNKNOWN, 10, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         14,
         "I.DUST.ST_UNKNOWN"},
        {"workers 29",
         {RISK_DUST_GRAIN, RISK_ST_1, 29, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         7,
         "I.WORKERS"},
        {"workers 30",
         {RISK_DUST_GRAIN, RISK_ST_1, 30, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         11,
         "I.WORKERS"},
        {"workers 49",
         {RISK_DUST_GRAIN, RISK_ST_1, 49, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         11,
         "I.WORKERS"},
        {"workers 50",
         {RISK_DUST_GRAIN, RISK_ST_1, 50, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         15,
         "I.WORKERS"},
        {"workers 99",
         {RISK_DUST_GRAIN, RISK_ST_1, 99, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         15,
         "I.WORKERS"},
        {"workers 100",
         {RISK_DUST_GRAIN, RISK_ST_1, 100, RISK_REMOVAL_NONE, 0, 0, 0, 0},
         20,
         "I.WORKERS"},
        {"dry central",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_DRY_CENTRAL, 0, 0, 0, 0},
         17,
         "I.REMOVAL.DRY_CENTRAL"},
        {"dry per station",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_DRY_PER_STATION, 0, 0, 0, 0},
         13,
         "I.REMOVAL.DRY_PER_STATION"},
        {"wet", {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_WET, 0, 0, 0, 0}, 9, "I.REMOVAL.WET"},
        {"positive pressure",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 1, 0, 0, 0},
         15,
         "I.POSITIVE_PRESSURE"},
        {"collector indoors",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 1, 0, 0},
         15,
         "I.COLLECTOR_INDOORS"},
        {"1 collector",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 1, 0},
         9,
         "I.DRY_COLLECTORS"},
        {"2 collectors",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 2, 0},
         11,
         "I.DRY_COLLECTORS"},
        {"4 collectors",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 4, 0},
         11,
         "I.DRY_COLLECTORS"},
        {"5 collectors",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 5, 0},
         15,
         "I.DRY_COLLECTORS"},
        {"multi-storey",
         {RISK_DUST_GRAIN, RISK_ST_1, 10, RISK_REMOVAL_NONE, 0, 0, 0, 1},
         12,
         "I.MULTI_STOREY"},
        {"everything",
         {RISK_DUST_METAL_AL_MG, RISK_ST_3, 500, RISK_REMOVAL_DRY_CENTRAL, 1, 1, 9, 1},
         79,
         "I.MULTI_STOREY"},
    };
    risk_dynamic d = quiet();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        risk_score_result r;
        CHECK(risk_score_compute(m, &cases[i].a, &d, &r) == 0, "%s: compute", cases[i].name);
        CHECK_NEAR(r.I, cases[i].want_i, 1e-9, cases[i].name);
        CHECK_NEAR(r.R, cases[i].want_i, 1e-9, cases[i].name);
        CHECK(has_rule(&r, cases[i].rule), "%s: rule %s missing", cases[i].name, cases[i].rule);
        double sum = 0;
        for (size_t k = 0; k < r.n_rules; k++)
            sum += r.rules[k].contribution;
        CHECK_NEAR(sum, r.I, 1e-9, "contributions add up to I");
    }
    CHECK(!has_rule(&(risk_score_result){0}, "I.WORKERS"), "empty result has no rules");
}

typedef struct {
    const char *name;
    void (*set)(risk_dynamic *);
    double want_a, want_h, want_s;
    const char *rule;
} dyn_case;

static void d_l1_5(risk_dynamic *d)
{
    d->alarms_24h_mandatory.level1 = 5; /* 5/10 × 0.4 */
}
static void d_l2_other(risk_dynamic *d)
{
    d->alarms_24h_other.level2 = 2; /* 3×2×0.5 = 3 → 0.3×0.4 */
}
static void d_24h_saturates(risk_dynamic *d)
{
    d->alarms_24h_mandatory.level2 = 100;
}
static void d_7d(risk_dynamic *d)
{
    d->alarms_7d_mandatory.level1 = 15; /* 0.5 × 0.3 */
}
static void d_duration(risk_dynamic *d)
{
    d->alarm_seconds_24h_mandatory = 7200; /* 0.5 × 0.3 */
}
static void d_all_alarm(risk_dynamic *d)
{
    d->alarms_24h_mandatory.level1 = 10;
    d->alarms_7d_mandatory.level1 = 30;
    d->alarm_seconds_24h_mandatory = 86400;
}
static void d_unacked(risk_dynamic *d)
{
    d->overdue_unacked = 1;
}
static void d_unhandled(risk_dynamic *d)
{
    d->overdue_unhandled = 3;
}
static void d_repeat(risk_dynamic *d)
{
    d->repeat_after_handled = 7;
}
static void d_cleaning(risk_dynamic *d)
{
    d->cleaning_required = 4;
    d->cleaning_missed = 1;
}
static void d_online(risk_dynamic *d)
{
    d->online_rate_mandatory = 0.9; /* deficit 0.1/0.5 × 0.3 */
}
static void d_online_floor(risk_dynamic *d)
{
    d->online_rate_mandatory = 0.2;
}
static void d_video(risk_dynamic *d)
{
    d->video_offline = 1;
}
static void d_hazards(risk_dynamic *d)
{
    d->open_hazards = 2;
}

static void test_dynamic(const risk_model *m)
{
    static const dyn_case cases[] = {
        {"24h level1 mandatory", d_l1_5, 0.2, 0, 0, "A.COUNT_24H"},
        {"24h level2 other points", d_l2_other, 0.12, 0, 0, "A.COUNT_24H"},
        {"24h saturates", d_24h_saturates, 0.4, 0, 0, "A.COUNT_24H"},
        {"7d", d_7d, 0.15, 0, 0, "A.COUNT_7D"},
        {"duration", d_duration, 0.15, 0, 0, "A.DURATION_24H"},
        {"A full", d_all_alarm, 1.0, 0, 0, "A.DURATION_24H"},
        {"unacked", d_unacked, 0, 0.4 / 3, 0, "H.OVERDUE_UNACKED"},
        {"unhandled saturates at 3", d_unhandled, 0, 0.3, 0, "H.OVERDUE_UNHANDLED"},
        {"repeat capped", d_repeat, 0, 0.3, 0, "H.REPEAT_AFTER_HANDLED"},
        {"cleaning", d_cleaning, 0, 0, 0.075, "S.MISSED_CLEANING"},
        {"online 90%", d_online, 0, 0, 0.06, "S.ONLINE_DEFICIT"},
        {"online 20% capped", d_online_floor, 0, 0, 0.3, "S.ONLINE_DEFICIT"},
        {"video", d_video, 0, 0, 0.05, "S.VIDEO_OFFLINE"},
        {"hazards", d_hazards, 0, 0, 0.12, "S.OPEN_HAZARDS"},
    };
    risk_archive a = base_archive();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        risk_dynamic d = quiet();
        cases[i].set(&d);
        risk_score_result r;
        CHECK(risk_score_compute(m, &a, &d, &r) == 0, "%s", cases[i].name);
        CHECK_NEAR(r.A, cases[i].want_a, 1e-9, cases[i].name);
        CHECK_NEAR(r.H, cases[i].want_h, 1e-9, cases[i].name);
        CHECK_NEAR(r.S, cases[i].want_s, 1e-9, cases[i].name);
        double raw = 7 * (1 + 0.5 * r.A + 0.3 * r.H + 0.2 * r.S);
        CHECK_NEAR(r.R, raw, 0.005 + 1e-9, cases[i].name);
        CHECK(has_rule(&r, cases[i].rule), "%s: rule %s", cases[i].name, cases[i].rule);
        double sum = 0;
        for (size_t k = 0; k < r.n_rules; k++)
            sum += r.rules[k].contribution;
        CHECK_NEAR(sum, raw, 1e-9, "contributions add up to the unrounded R");
        CHECK(!r.override && r.grade == RISK_GRADE_BLUE, "%s: no override", cases[i].name);
    }
}

static void test_overrides_and_cap(const risk_model *m)
{
    risk_archive a = base_archive();
    risk_dynamic d = quiet();
    risk_score_result r;

    d.major_hazard_items = (1u << 0) | (1u << 9); /* items 1 and 10 */
    CHECK(risk_score_compute(m, &a, &d, &r) == 0, "major hazard");
    CHECK(r.override && r.grade == RISK_GRADE_RED && r.grade_by_score == RISK_GRADE_BLUE,
          "major hazard ⇒ red");
    CHECK(r.override_reason && strcmp(r.override_reason, "O.MAJOR_HAZARD") == 0, "reason");
    int items = 0;
    for (size_t i = 0; i < r.n_rules; i++)
        if (strcmp(r.rules[i].code, "O.MAJOR_HAZARD") == 0)
            items += r.rules[i].item;
    CHECK(items == 11, "one rule per item (1 + 10), got %d", items);

    risk_system_state sys[] = {
        {7, true, false, false, true},  /* hot but no spark */
        {8, false, true, true, false},  /* spark; ΔP collapse with fan stopped */
        {9, true, true, false, false},  /* hot and spark ⇒ override */
        {10, false, false, true, true}, /* ΔP collapse and fan running ⇒ override */
    };
    d = quiet();
    d.systems = sys;
    d.n_systems = 2;
    CHECK(risk_score_compute(m, &a, &d, &r) == 0 && !r.override, "no coincident precursor");
    d.n_systems = 3;
    CHECK(risk_score_compute(m, &a, &d, &r) == 0 && r.override && r.grade == RISK_GRADE_RED,
          "hot + spark");
    CHECK(r.override_reason && strcmp(r.override_reason, "O.PRECURSOR.HOT_SPARK") == 0, "reason");
    CHECK(r.rules[r.n_rules - 1].system_id == 9, "system id echoed");
    d.systems = sys + 3;
    d.n_systems = 1;
    CHECK(risk_score_compute(m, &a, &d, &r) == 0 && r.override, "dp collapse + fan");
    CHECK(r.override_reason && strcmp(r.override_reason, "O.PRECURSOR.DP_COLLAPSE_FAN") == 0,
          "reason");

    risk_model off = *m;
    off.override_dp_collapse_fan = false;
    CHECK(risk_score_compute(&off, &a, &d, &r) == 0 && !r.override, "override can be disabled");

    /* Cap: I 79 with everything maxed goes past 100. */
    risk_archive big = {
        RISK_DUST_METAL_AL_MG, RISK_ST_3, 500, RISK_REMOVAL_DRY_CENTRAL, true, true, 9, true};
    d = quiet();
    d.alarms_24h_mandatory.level2 = 50;
    d.overdue_unacked = 5;
    CHECK(risk_score_compute(m, &big, &d, &r) == 0, "cap");
    CHECK(r.R == 100 && has_rule(&r, "R.CAP_100") && r.grade == RISK_GRADE_RED, "R capped");
    double sum = 0;
    for (size_t k = 0; k < r.n_rules; k++)
        sum += r.rules[k].contribution;
    CHECK_NEAR(sum, 100, 1e-9, "contributions add up to 100 with the cap rule");
    CHECK(strcmp(r.model_version, "2026.2-calibrated") == 0, "version recorded");
}

static void test_invalid_inputs(const risk_model *m)
{
    risk_archive a = base_archive();
    risk_dynamic d = quiet();
    risk_score_result r;
    d.online_rate_mandatory = 1.01;
    CHECK(risk_score_compute(m, &a, &d, &r) == -1, "online rate > 1");
    d.online_rate_mandatory = NAN;
    CHECK(risk_score_compute(m, &a, &d, &r) == -1, "online rate NaN");
    d = quiet();
    d.cleaning_required = 1;
    d.cleaning_missed = 2;
    CHECK(risk_score_compute(m, &a, &d, &r) == -1, "missed > required");
    d = quiet();
    d.n_systems = 1;
    CHECK(risk_score_compute(m, &a, &d, &r) == -1, "systems NULL");
    d = quiet();
    a.dust_class = RISK_DUST_COUNT;
    CHECK(risk_score_compute(m, &a, &d, &r) == -1 && r.n_rules == 0, "bad dust class");
}

static void test_grades_and_rounding(const risk_model *m)
{
    static const struct {
        double score;
        risk_grade g;
    } g[] = {
        {0, RISK_GRADE_BLUE},       {34.99, RISK_GRADE_BLUE}, {35, RISK_GRADE_YELLOW},
        {54.99, RISK_GRADE_YELLOW}, {55, RISK_GRADE_ORANGE},  {74.99, RISK_GRADE_ORANGE},
        {75, RISK_GRADE_RED},       {100, RISK_GRADE_RED},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        CHECK(risk_grade_for_score(m, g[i].score) == g[i].g, "grade of %.2f", g[i].score);
    CHECK(risk_score_round(34.994999) == 34.99, "round down");
    CHECK(risk_score_round(34.995) == 35.0, "half up");
    CHECK(risk_score_round(34.99499999999) == 34.99 || risk_score_round(34.99499999999) == 35.0,
          "noise");
    CHECK(risk_score_round(54.999999999) == 55.0, "binary noise rounds to the boundary");
    for (int i = 0; i < RISK_GRADE_COUNT; i++)
        CHECK(risk_grade_from_name(risk_grade_name((risk_grade)i)) == i, "grade name %d", i);
    CHECK(risk_grade_from_name("purple") == -1, "unknown grade");
}

typedef struct {
    const char *name;
    void (*mutate)(risk_model *);
} bad_model;

static void bm_weights(risk_model *m)
{
    m->w_alarm = -0.1;
}
static void bm_grades(risk_model *m)
{
    m->grade_min[RISK_GRADE_ORANGE] = 30;
}
static void bm_bands(risk_model *m)
{
    m->worker_bands.band[1].min = 100;
}
static void bm_shares(risk_model *m)
{
    m->alarm_count_24h.share = 0.5;
}
static void bm_saturation(risk_model *m)
{
    m->video_offline.saturation = 0;
}
static void bm_warning(risk_model *m)
{
    m->warning[RISK_GRADE_RED].clear_within_s = 60;
}
static void bm_escalate_down(risk_model *m)
{
    m->warning[RISK_GRADE_ORANGE].escalate_to = RISK_ADMIN_STREET;
}
static void bm_version(risk_model *m)
{
    m->version[0] = '\0';
}
static void bm_nan(risk_model *m)
{
    m->dust_points_wood = NAN;
}

static void test_model_validation(const risk_model *def)
{
    const char *why = "x";
    CHECK(risk_model_validate(def, &why) == 0 && why == NULL, "default model valid");
    static const bad_model bad[] = {
        {"negative weight", bm_weights},
        {"grades out of order", bm_grades},
        {"bands not descending", bm_bands},
        {"shares > 1", bm_shares},
        {"zero saturation", bm_saturation},
        {"clear before sign", bm_warning},
        {"escalate below supervisor", bm_escalate_down},
        {"empty version", bm_version},
        {"NaN points", bm_nan},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        risk_model m = *def;
        bad[i].mutate(&m);
        CHECK(risk_model_validate(&m, &why) == -1 && why, "%s accepted", bad[i].name);
        char what[64];
        CHECK(risk_model_diff(def, &m, what, sizeof what) == -1 && what[0], "%s: diff",
              bad[i].name);
    }
    risk_model copy;
    risk_model_default(&copy);
    char what[64];
    CHECK(risk_model_diff(def, &copy, what, sizeof what) == 0, "defaults equal: %s", what);
}

int main(void)
{
    risk_model m;
    risk_model_default(&m);
    test_inherent(&m);
    test_dynamic(&m);
    test_overrides_and_cap(&m);
    test_invalid_inputs(&m);
    test_grades_and_rounding(&m);
    test_model_validation(&m);
    return rt_report("risk-score");
}
