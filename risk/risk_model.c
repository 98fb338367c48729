/* risk_model.c — built-in default model, validation, comparison and enum names.
 *
 * The defaults are the numbers of design.md §5; they are duplicated in
 * schema/risk-model.default.json on purpose (operators edit the file, the binary keeps a
 * fallback) and tests/risk/test_golden.c proves the two agree. */
#include "risk_model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const grade_names[RISK_GRADE_COUNT] = {"blue", "yellow", "orange", "red"};
static const char *const admin_names[RISK_ADMIN_COUNT] = {"enterprise", "street", "district",
                                                          "city"};
static const char *const dust_names[RISK_DUST_COUNT] = {"metal_al_mg", "metal_other", "wood",
                                                        "grain",       "plastic",     "other"};
static const char *const st_names[RISK_ST_COUNT] = {"unknown", "st1", "st2", "st3"};
static const char *const removal_names[RISK_REMOVAL_COUNT] = {"none", "dry_central",
                                                              "dry_per_station", "wet"};

static int name_lookup(const char *const *names, int n, const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

const char *risk_grade_name(risk_grade g)
{
    return (unsigned)g < RISK_GRADE_COUNT ? grade_names[g] : NULL;
}

int risk_grade_from_name(const char *s)
{
    return name_lookup(grade_names, RISK_GRADE_COUNT, s);
}

const char *risk_admin_level_name(risk_admin_level l)
{
    return (unsigned)l < RISK_ADMIN_COUNT ? admin_names[l] : NULL;
}

int risk_admin_level_from_name(const char *s)
{
    return name_lookup(admin_names, RISK_ADMIN_COUNT, s);
}

const char *risk_dust_class_name(risk_dust_class d)
{
    return (unsigned)d < RISK_DUST_COUNT ? dust_names[d] : NULL;
}

int risk_dust_class_from_name(const char *s)
{
    return name_lookup(dust_names, RISK_DUST_COUNT, s);
}

const char *risk_st_class_name(risk_st_class s)
{
    return (unsigned)s < RISK_ST_COUNT ? st_names[s] : NULL;
}

int risk_st_class_from_name(const char *s)
{
    return name_lookup(st_names, RISK_ST_COUNT, s);
}

const char *risk_removal_name(risk_removal_setup r)
{
    return (unsigned)r < RISK_REMOVAL_COUNT ? removal_names[r] : NULL;
}

int risk_removal_from_name(const char *s)
{
    return name_lookup(removal_names, RISK_REMOVAL_COUNT, s);
}

risk_grade risk_grade_for_score(const risk_model *m, double score)
{
    if (score >= m->grade_min[RISK_GRADE_RED])
        return RISK_GRADE_RED;
    if (score >= m->grade_min[RISK_GRADE_ORANGE])
        return RISK_GRADE_ORANGE;
    if (score >= m->grade_min[RISK_GRADE_YELLOW])
        return RISK_GRADE_YELLOW;
    return RISK_GRADE_BLUE;
}

static risk_warning_rule wrule(int64_t sign_s, int64_t clear_s, risk_admin_level sup,
                               risk_admin_level esc, bool inform_city, bool duban, bool enforce)
{
    risk_warning_rule r = {
        .sign_within_s = sign_s,
        .clear_within_s = clear_s,
        .supervisor = sup,
        .escalate_to = esc,
        .inform_city = inform_city,
        .duban = duban,
        .enforcement_referral = enforce,
    };
    return r;
}

void risk_model_default(risk_model *m)
{
    /* memset first so padding is deterministic and the struct can be hashed or stored. */
    memset(m, 0, sizeof *m);
    snprintf(m->version, sizeof m->version, "%s", "2026.2-calibrated");

    m->w_alarm = 0.5;
    m->w_handling = 0.3;
    m->w_site = 0.2;
    m->grade_min[RISK_GRADE_BLUE] = 0;
    m->grade_min[RISK_GRADE_YELLOW] = 35;
    m->grade_min[RISK_GRADE_ORANGE] = 55;
    m->grade_min[RISK_GRADE_RED] = 75;

    m->dust_points_metal_al_mg = 25;
    m->dust_points_metal_other = 15;
    m->dust_points_wood = 15;
    /* Unknown St class is scored as St2: the archive gap should not lower the risk. */
    m->st_points[RISK_ST_UNKNOWN] = 12;
    m->st_points[RISK_ST_1] = 5;
    m->st_points[RISK_ST_2] = 12;
    m->st_points[RISK_ST_3] = 18;

    m->worker_bands.n = 4;
    m->worker_bands.band[0] = (risk_band){100, 15};
    m->worker_bands.band[1] = (risk_band){50, 10};
    m->worker_bands.band[2] = (risk_band){30, 6};
    m->worker_bands.band[3] = (risk_band){0, 2};

    m->removal_points[RISK_REMOVAL_NONE] = 0;
    m->removal_points[RISK_REMOVAL_DRY_CENTRAL] = 10;
    m->removal_points[RISK_REMOVAL_DRY_PER_STATION] = 6;
    m->removal_points[RISK_REMOVAL_WET] = 2;
    m->positive_pressure_points = 8;
    m->collector_indoors_points = 8;

    m->dry_collector_bands.n = 3;
    m->dry_collector_bands.band[0] = (risk_band){5, 8};
    m->dry_collector_bands.band[1] = (risk_band){2, 4};
    m->dry_collector_bands.band[2] = (risk_band){1, 2};
    m->multi_storey_points = 5;
    m->inherent_max = 100;

    m->level1_weight = 1;
    m->level2_weight = 3;
    m->other_point_factor = 0.5;
    m->alarm_count_24h = (risk_term){0.4, 10};
    m->alarm_count_7d = (risk_term){0.3, 30};
    m->alarm_duration_24h = (risk_term){0.3, 14400};

    m->overdue_unacked = (risk_term){0.4, 3};
    m->overdue_unhandled = (risk_term){0.3, 3};
    m->repeat_after_handled = (risk_term){0.3, 3};

    m->missed_cleaning = (risk_term){0.3, 1};
    m->online_deficit = (risk_term){0.3, 0.5};
    m->video_offline = (risk_term){0.1, 2};
    m->open_hazards = (risk_term){0.3, 5};

    m->override_major_hazard = true;
    m->override_hot_spark = true;
    m->override_dp_collapse_fan = true;

    m->warning[RISK_GRADE_BLUE] =
        wrule(24 * 3600, 72 * 3600, RISK_ADMIN_ENTERPRISE, RISK_ADMIN_STREET, false, false, false);
    m->warning[RISK_GRADE_YELLOW] =
        wrule(4 * 3600, 24 * 3600, RISK_ADMIN_STREET, RISK_ADMIN_DISTRICT, false, true, false);
    m->warning[RISK_GRADE_ORANGE] =
        wrule(3600, 12 * 3600, RISK_ADMIN_DISTRICT, RISK_ADMIN_CITY, false, true, false);
    m->warning[RISK_GRADE_RED] =
        wrule(1800, 4 * 3600, RISK_ADMIN_DISTRICT, RISK_ADMIN_CITY, true, true, true);
    m->reescalate_every_s = 24 * 3600;
}

static bool finite_nonneg(double x)
{
    return isfinite(x) && x >= 0;
}

static bool term_ok(const risk_term *t)
{
    return finite_nonneg(t->share) && t->share <= 1 && isfinite(t->saturation) && t->saturation > 0;
}

static bool bands_ok(const risk_band_table *t)
{
    if (t->n > RISK_MODEL_MAX_BANDS)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        if (!finite_nonneg(t->band[i].points))
            return false;
        /* Strictly descending so the first match is unambiguous. */
        if (i > 0 && t->band[i].min >= t->band[i - 1].min)
            return false;
    }
    return true;
}

static bool shares_ok(const risk_term *a, const risk_term *b, const risk_term *c,
                      const risk_term *d)
{
    double sum = a->share + b->share + c->share + (d ? d->share : 0);
    /* A dynamic factor is documented as 0–1; shares above 1 would break that. */
    return sum <= 1.0 + 1e-9;
}

int risk_model_validate(const risk_model *m, const char **why)
{
    const char *msg = NULL;
    if (m->version[0] == '\0' || memchr(m->version, '\0', sizeof m->version) == NULL)
        msg = "version must be a non-empty string shorter than 64 bytes";
    else if (!finite_nonneg(m->w_alarm) || !finite_nonneg(m->w_handling) ||
             !finite_nonneg(m->w_site))
        msg = "weights must be finite and >= 0";
    else if (!(m->grade_min[RISK_GRADE_YELLOW] > 0 &&
               m->grade_min[RISK_GRADE_ORANGE] > m->grade_min[RISK_GRADE_YELLOW] &&
               m->grade_min[RISK_GRADE_RED] > m->grade_min[RISK_GRADE_ORANGE] &&
               m->grade_min[RISK_GRADE_RED] <= 100))
        msg = "grade thresholds must satisfy 0 < yellow < orange < red <= 100";
    else if (!finite_nonneg(m->dust_points_metal_al_mg) ||
             !finite_nonneg(m->dust_points_metal_other) || !finite_nonneg(m->dust_points_wood) ||
             !finite_nonneg(m->st_points[0]) || !finite_nonneg(m->st_points[1]) ||
             !finite_nonneg(m->st_points[2]) || !finite_nonneg(m->st_points[3]))
        msg = "dust and St class points must be finite and >= 0";
    else if (!bands_ok(&m->worker_bands) || !bands_ok(&m->dry_collector_bands))
        msg = "band tables need at most 8 bands, strictly descending min, points >= 0";
    else if (!finite_nonneg(m->removal_points[0]) || !finite_nonneg(m->removal_points[1]) ||
             !finite_nonneg(m->removal_points[2]) || !finite_nonneg(m->removal_points[3]) ||
             !finite_nonneg(m->positive_pressure_points) ||
             !finite_nonneg(m->collector_indoors_points) || !finite_nonneg(m->multi_storey_points))
        msg = "inherent add-on points must be finite and >= 0";
    else if (!(isfinite(m->inherent_max) && m->inherent_max > 0 && m->inherent_max <= 100))
        msg = "inherent_max must be in (0, 100]";
    else if (!finite_nonneg(m->level1_weight) || !finite_nonneg(m->level2_weight) ||
             !finite_nonneg(m->other_point_factor))
        msg = "alarm level weights and other_point_factor must be finite and >= 0";
    else if (!term_ok(&m->alarm_count_24h) || !term_ok(&m->alarm_count_7d) ||
             !term_ok(&m->alarm_duration_24h) || !term_ok(&m->overdue_unacked) ||
             !term_ok(&m->overdue_unhandled) || !term_ok(&m->repeat_after_handled) ||
             !term_ok(&m->missed_cleaning) || !term_ok(&m->online_deficit) ||
             !term_ok(&m->video_offline) || !term_ok(&m->open_hazards))
        msg = "every term needs 0 <= share <= 1 and saturation > 0";
    else if (!shares_ok(&m->alarm_count_24h, &m->alarm_count_7d, &m->alarm_duration_24h, NULL) ||
             !shares_ok(&m->overdue_unacked, &m->overdue_unhandled, &m->repeat_after_handled,
                        NULL) ||
             !shares_ok(&m->missed_cleaning, &m->online_deficit, &m->video_offline,
                        &m->open_hazards))
        msg = "the shares of one dynamic factor must add up to at most 1";
    else if (m->online_deficit.saturation > 1)
        msg = "online_deficit.saturation is a share of points and must be <= 1";
    else if (m->reescalate_every_s <= 0)
        msg = "reescalate_every_s must be > 0";
    else {
        for (int g = 0; g < RISK_GRADE_COUNT && msg == NULL; g++) {
            const risk_warning_rule *w = &m->warning[g];
            if (w->sign_within_s <= 0 || w->clear_within_s < w->sign_within_s)
                msg = "warning deadlines need 0 < sign_within_s <= clear_within_s";
            else if ((unsigned)w->supervisor >= RISK_ADMIN_COUNT ||
                     (unsigned)w->escalate_to >= RISK_ADMIN_COUNT)
                msg = "warning supervisor/escalate_to out of range";
            else if (w->escalate_to < w->supervisor)
                msg = "warning escalate_to must not be below the supervising level";
        }
    }
    if (why)
        *why = msg;
    return msg ? -1 : 0;
}

/* Field-by-field so padding never causes a false difference and the failing test can
 * name the field. */
#define DIFF_NUM(field)                                                                            \
    do {                                                                                           \
        if (a->field != b->field) {                                                                \
            snprintf(what, whatlen, "%s", #field);                                                 \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)
#define DIFF_TERM(field)                                                                           \
    do {                                                                                           \
        DIFF_NUM(field.share);                                                                     \
        DIFF_NUM(field.saturation);                                                                \
    } while (0)

static int diff_bands(const risk_band_table *x, const risk_band_table *y, const char *name,
                      char *what, size_t whatlen)
{
    if (x->n != y->n) {
        snprintf(what, whatlen, "%s.n", name);
        return -1;
    }
    for (size_t i = 0; i < x->n; i++) {
        if (x->band[i].min != y->band[i].min || x->band[i].points != y->band[i].points) {
            snprintf(what, whatlen, "%s[%zu]", name, i);
            return -1;
        }
    }
    return 0;
}

int risk_model_diff(const risk_model *a, const risk_model *b, char *what, size_t whatlen)
{
    if (strncmp(a->version, b->version, sizeof a->version) != 0) {
        snprintf(what, whatlen, "version");
        return -1;
    }
    DIFF_NUM(w_alarm);
    DIFF_NUM(w_handling);
    DIFF_NUM(w_site);
    for (int g = 0; g < RISK_GRADE_COUNT; g++)
        DIFF_NUM(grade_min[g]);
    DIFF_NUM(dust_points_metal_al_mg);
    DIFF_NUM(dust_points_metal_other);
    DIFF_NUM(dust_points_wood);
    for (int s = 0; s < RISK_ST_COUNT; s++)
        DIFF_NUM(st_points[s]);
    if (diff_bands(&a->worker_bands, &b->worker_bands, "worker_bands", what, whatlen) != 0)
        return -1;
    for (int r = 0; r < RISK_REMOVAL_COUNT; r++)
        DIFF_NUM(removal_points[r]);
    DIFF_NUM(positive_pressure_points);
    DIFF_NUM(collector_indoors_points);
    if (diff_bands(&a->dry_collector_bands, &b->dry_collector_bands, "dry_collector_bands", what,
                   whatlen) != 0)
        return -1;
    DIFF_NUM(multi_storey_points);
    DIFF_NUM(inherent_max);
    DIFF_NUM(level1_weight);
    DIFF_NUM(level2_weight);
    DIFF_NUM(other_point_factor);
    DIFF_TERM(alarm_count_24h);
    DIFF_TERM(alarm_count_7d);
    DIFF_TERM(alarm_duration_24h);
    DIFF_TERM(overdue_unacked);
    DIFF_TERM(overdue_unhandled);
    DIFF_TERM(repeat_after_handled);
    DIFF_TERM(missed_cleaning);
    DIFF_TERM(online_deficit);
    DIFF_TERM(video_offline);
    DIFF_TERM(open_hazards);
    DIFF_NUM(override_major_hazard);
    DIFF_NUM(override_hot_spark);
    DIFF_NUM(override_dp_collapse_fan);
    for (int g = 0; g < RISK_GRADE_COUNT; g++) {
        DIFF_NUM(warning[g].sign_within_s);
        DIFF_NUM(warning[g].clear_within_s);
        DIFF_NUM(warning[g].supervisor);
        DIFF_NUM(warning[g].escalate_to);
        DIFF_NUM(warning[g].inform_city);
        DIFF_NUM(warning[g].duban);
        DIFF_NUM(warning[g].enforcement_referral);
    }
    DIFF_NUM(reescalate_every_s);
    if (whatlen > 0)
        what[0] = '\0';
    return 0;
}
