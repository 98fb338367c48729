/* risk_score.c — R = min(100, I × (1 + wA·A + wH·H + wS·S)), overrides, grade.
 *
 * Every addend is recorded as a fired rule whose contribution is expressed in points of R,
 * so the parts of an explanation add up to the score a person sees (before the 100 cap
 * and rounding). */
#include "risk_score.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *code;
    const char *key;
} rule_def;

/* Index constants into the rule table keep codes in one static place. */
enum {
    R_DUST_AL_MG,
    R_DUST_METAL,
    R_DUST_WOOD,
    R_DUST_ST_UNKNOWN,
    R_DUST_ST1,
    R_DUST_ST2,
    R_DUST_ST3,
    R_WORKERS,
    R_REMOVAL_NONE,
    R_REMOVAL_DRY_CENTRAL,
    R_REMOVAL_DRY_STATION,
    R_REMOVAL_WET,
    R_POSITIVE_PRESSURE,
    R_COLLECTOR_INDOORS,
    R_DRY_COLLECTORS,
    R_MULTI_STOREY,
    R_INHERENT_CAP,
    R_A_COUNT_24H,
    R_A_COUNT_7D,
    R_A_DURATION_24H,
    R_H_UNACKED,
    R_H_UNHANDLED,
    R_H_REPEAT,
    R_S_CLEANING,
    R_S_ONLINE,
    R_S_VIDEO,
    R_S_HAZARDS,
    R_CAP_100,
    R_O_MAJOR_HAZARD,
    R_O_HOT_SPARK,
    R_O_DP_FAN,
    R__COUNT
};

static const rule_def rule_table[R__COUNT] = {
    [R_DUST_AL_MG] = {"I.DUST.METAL_AL_MG", "risk.rule.i.dust.metal_al_mg"},
    [R_DUST_METAL] = {"I.DUST.METAL_OTHER", "risk.rule.i.dust.metal_other"},
    [R_DUST_WOOD] = {"I.DUST.WOOD", "risk.rule.i.dust.wood"},
    [R_DUST_ST_UNKNOWN] = {"I.DUST.ST_UNKNOWN", "risk.rule.i.dust.st_unknown"},
    [R_DUST_ST1] = {"I.DUST.ST1", "risk.rule.i.dust.st1"},
    [R_DUST_ST2] = {"I.DUST.ST2", "risk.rule.i.dust.st2"},
    [R_DUST_ST3] = {"I.DUST.ST3", "risk.rule.i.dust.st3"},
    [R_WORKERS] = {"I.WORKERS", "risk.rule.i.workers"},
    [R_REMOVAL_NONE] = {"I.REMOVAL.NONE", "risk.rule.i.removal.none"},
    [R_REMOVAL_DRY_CENTRAL] = {"I.REMOVAL.DRY_CENTRAL", "risk.rule.i.removal.dry_central"},
    [R_REMOVAL_DRY_STATION] = {"I.REMOVAL.DRY_PER_STATION", "risk.rule.i.removal.dry_per_station"},
    [R_REMOVAL_WET] = {"I.REMOVAL.WET", "risk.rule.i.removal.wet"},
    [R_POSITIVE_PRESSURE] = {"I.POSITIVE_PRESSURE", "risk.rule.i.positive_pressure"},
    [R_COLLECTOR_INDOORS] = {"I.COLLECTOR_INDOORS", "risk.rule.i.collector_indoors"},
    [R_DRY_COLLECTORS] = {"I.DRY_COLLECTORS", "risk.rule.i.dry_collectors"},
    [R_MULTI_STOREY] = {"I.MULTI_STOREY", "risk.rule.i.multi_storey"},
    [R_INHERENT_CAP] = {"I.CAP", "risk.rule.i.cap"},
    [R_A_COUNT_24H] = {"A.COUNT_24H", "risk.rule.a.count_24h"},
    [R_A_COUNT_7D] = {"A.COUNT_7D", "risk.rule.a.count_7d"},
    [R_A_DURATION_24H] = {"A.DURATION_24H", "risk.rule.a.duration_24h"},
    [R_H_UNACKED] = {"H.OVERDUE_UNACKED", "risk.rule.h.overdue_unacked"},
    [R_H_UNHANDLED] = {"H.OVERDUE_UNHANDLED", "risk.rule.h.overdue_unhandled"},
    [R_H_REPEAT] = {"H.REPEAT_AFTER_HANDLED", "risk.rule.h.repeat_after_handled"},
    [R_S_CLEANING] = {"S.MISSED_CLEANING", "risk.rule.s.missed_cleaning"},
    [R_S_ONLINE] = {"S.ONLINE_DEFICIT", "risk.rule.s.online_deficit"},
    [R_S_VIDEO] = {"S.VIDEO_OFFLINE", "risk.rule.s.video_offline"},
    [R_S_HAZARDS] = {"S.OPEN_HAZARDS", "risk.rule.s.open_hazards"},
    [R_CAP_100] = {"R.CAP_100", "risk.rule.r.cap_100"},
    [R_O_MAJOR_HAZARD] = {"O.MAJOR_HAZARD", "risk.rule.o.major_hazard"},
    [R_O_HOT_SPARK] = {"O.PRECURSOR.HOT_SPARK", "risk.rule.o.precursor.hot_spark"},
    [R_O_DP_FAN] = {"O.PRECURSOR.DP_COLLAPSE_FAN", "risk.rule.o.precursor.dp_collapse_fan"},
};

static const char *const part_names[] = {"inherent", "alarm", "handling", "site", "override"};

const char *risk_part_name(risk_part p)
{
    return (unsigned)p <= RISK_PART_OVERRIDE ? part_names[p] : NULL;
}

double risk_score_round(double x)
{
    /* round() is half away from zero; the 1e-9 nudge absorbs binary noise such as
     * 34.994999999 that should display and grade as 34.99 vs 35.00 consistently. */
    double scaled = x * 100.0;
    double nudged = scaled + (scaled >= 0 ? 1e-9 : -1e-9);
    return round(nudged) / 100.0;
}

static void fire(risk_score_result *out, int rule, risk_part part, double contribution,
                 int32_t system_id, int32_t item)
{
    if (out->n_rules >= RISK_SCORE_MAX_RULES) {
        out->rules_truncated = true;
        return;
    }
    risk_fired_rule *r = &out->rules[out->n_rules++];
    r->code = rule_table[rule].code;
    r->description_key = rule_table[rule].key;
    r->part = part;
    r->contribution = contribution;
    r->system_id = system_id;
    r->item = item;
}

static double band_points(const risk_band_table *t, uint32_t v)
{
    for (size_t i = 0; i < t->n; i++)
        if (v >= t->band[i].min)
            return t->band[i].points;
    return 0;
}

static double inherent(const risk_model *m, const risk_archive *a, risk_score_result *out)
{
    double dust;
    int rule;
    switch (a->dust_class) {
    case RISK_DUST_METAL_AL_MG:
        dust = m->dust_points_metal_al_mg;
        rule = R_DUST_AL_MG;
        break;
    case RISK_DUST_METAL_OTHER:
        dust = m->dust_points_metal_other;
        rule = R_DUST_METAL;
        break;
    case RISK_DUST_WOOD:
        dust = m->dust_points_wood;
        rule = R_DUST_WOOD;
        break;
    default:
        dust = m->st_points[a->st_class];
        rule = R_DUST_ST_UNKNOWN + (int)a->st_class;
        break;
    }
    double sum = 0;
    if (dust > 0) {
        fire(out, rule, RISK_PART_INHERENT, dust, -1, 0);
        sum += dust;
    }

    double w = band_points(&m->worker_bands, a->dust_workers);
    if (w > 0) {
        fire(out, R_WORKERS, RISK_PART_INHERENT, w, -1, 0);
        sum += w;
    }

    double rm = m->removal_points[a->removal];
    if (rm > 0) {
        static const int removal_rule[RISK_REMOVAL_COUNT] = {
            [RISK_REMOVAL_NONE] = R_REMOVAL_NONE,
            [RISK_REMOVAL_DRY_CENTRAL] = R_REMOVAL_DRY_CENTRAL,
            [RISK_REMOVAL_DRY_PER_STATION] = R_REMOVAL_DRY_STATION,
            [RISK_REMOVAL_WET] = R_REMOVAL_WET,
        };
        fire(out, removal_rule[a->removal], RISK_PART_INHERENT, rm, -1, 0);
        sum += rm;
    }

    struct {
        bool on;
        double pts;
        int rule;
    } addons[] = {
        {a->positive_pressure_conveying, m->positive_pressure_points, R_POSITIVE_PRESSURE},
        {a->collector_indoors, m->collector_indoors_points, R_COLLECTOR_INDOORS},
        {true, band_points(&m->dry_collector_bands, a->dry_collectors), R_DRY_COLLECTORS},
        {a->multi_storey, m->multi_storey_points, R_MULTI_STOREY},
    };
    for (size_t i = 0; i < sizeof addons / sizeof addons[0]; i++) {
        if (addons[i].on && addons[i].pts > 0) {
            fire(out, addons[i].rule, RISK_PART_INHERENT, addons[i].pts, -1, 0);
            sum += addons[i].pts;
        }
    }

    if (sum > m->inherent_max) {
        fire(out, R_INHERENT_CAP, RISK_PART_INHERENT, m->inherent_max - sum, -1, 0);
        sum = m->inherent_max;
    }
    return sum;
}

static double term_value(const risk_term *t, double x)
{
    if (x <= 0)
        return 0;
    double r = x / t->saturation;
    return (r > 1 ? 1 : r) * t->share;
}

typedef struct {
    int rule;
    const risk_term *term;
    double x;
} dyn_term;

/* Sums the shares of one factor and fires one rule per non-zero term with its share of R:
 * I × weight × term. */
static double factor(const dyn_term *terms, size_t n, double I, double weight, risk_part part,
                     risk_score_result *out)
{
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        double v = term_value(terms[i].term, terms[i].x);
        if (v > 0) {
            f += v;
            fire(out, terms[i].rule, part, I * weight * v, -1, 0);
        }
    }
    return f > 1 ? 1 : f;
}

static double weighted_count(const risk_model *m, const risk_alarm_count *mand,
                             const risk_alarm_count *other)
{
    double mandatory = m->level1_weight * mand->level1 + m->level2_weight * mand->level2;
    double rest = m->level1_weight * other->level1 + m->level2_weight * other->level2;
    return mandatory + m->other_point_factor * rest;
}

static bool inputs_ok(const risk_archive *a, const risk_dynamic *d)
{
    if ((unsigned)a->dust_class >= RISK_DUST_COUNT || (unsigned)a->st_class >= RISK_ST_COUNT ||
        (unsigned)a->removal >= RISK_REMOVAL_COUNT)
        return false;
    if (!(d->online_rate_mandatory >= 0 && d->online_rate_mandatory <= 1))
        return false; /* also rejects NaN */
    if (d->cleaning_missed > d->cleaning_required)
        return false;
    if (d->alarm_seconds_24h_mandatory < 0)
        return false;
    if (d->n_systems > 0 && d->systems == NULL)
        return false;
    return true;
}

static void overrides(const risk_model *m, const risk_dynamic *d, risk_score_result *out)
{
    if (m->override_major_hazard) {
        for (int item = 1; item <= 10; item++) {
            if (d->major_hazard_items & (1u << (item - 1))) {
                fire(out, R_O_MAJOR_HAZARD, RISK_PART_OVERRIDE, 0, -1, item);
                if (!out->override)
                    out->override_reason = rule_table[R_O_MAJOR_HAZARD].code;
                out->override = true;
            }
        }
    }
    for (size_t i = 0; i < d->n_systems; i++) {
        const risk_system_state *s = &d->systems[i];
        if (m->override_hot_spark && s->hopper_temp_high_high && s->spark_detected) {
            fire(out, R_O_HOT_SPARK, RISK_PART_OVERRIDE, 0, s->system_id, 0);
            if (!out->override)
                out->override_reason = rule_table[R_O_HOT_SPARK].code;
            out->override = true;
        }
        if (m->override_dp_collapse_fan && s->dp_collapse && s->fan_running) {
            fire(out, R_O_DP_FAN, RISK_PART_OVERRIDE, 0, s->system_id, 0);
            if (!out->override)
                out->override_reason = rule_table[R_O_DP_FAN].code;
            out->override = true;
        }
    }
}

int risk_score_compute(const risk_model *m, const risk_archive *arch, const risk_dynamic *dyn,
                       risk_score_result *out)
{
    memset(out, 0, sizeof *out);
    if (!inputs_ok(arch, dyn))
        return -1;
    snprintf(out->model_version, sizeof out->model_version, "%s", m->version);

    double I = inherent(m, arch, out);

    const dyn_term a_terms[] = {
        {R_A_COUNT_24H, &m->alarm_count_24h,
         weighted_count(m, &dyn->alarms_24h_mandatory, &dyn->alarms_24h_other)},
        {R_A_COUNT_7D, &m->alarm_count_7d,
         weighted_count(m, &dyn->alarms_7d_mandatory, &dyn->alarms_7d_other)},
        {R_A_DURATION_24H, &m->alarm_duration_24h, (double)dyn->alarm_seconds_24h_mandatory},
    };
    const dyn_term h_terms[] = {
        {R_H_UNACKED, &m->overdue_unacked, dyn->overdue_unacked},
        {R_H_UNHANDLED, &m->overdue_unhandled, dyn->overdue_unhandled},
        {R_H_REPEAT, &m->repeat_after_handled, dyn->repeat_after_handled},
    };
    double missed_ratio =
        dyn->cleaning_required ? (double)dyn->cleaning_missed / dyn->cleaning_required : 0;
    const dyn_term s_terms[] = {
        {R_S_CLEANING, &m->missed_cleaning, missed_ratio},
        {R_S_ONLINE, &m->online_deficit, 1.0 - dyn->online_rate_mandatory},
        {R_S_VIDEO, &m->video_offline, dyn->video_offline},
        {R_S_HAZARDS, &m->open_hazards, dyn->open_hazards},
    };
    out->I = I;
    out->A = factor(a_terms, 3, I, m->w_alarm, RISK_PART_ALARM, out);
    out->H = factor(h_terms, 3, I, m->w_handling, RISK_PART_HANDLING, out);
    out->S = factor(s_terms, 4, I, m->w_site, RISK_PART_SITE, out);

    double raw = I * (1 + m->w_alarm * out->A + m->w_handling * out->H + m->w_site * out->S);
    if (raw > 100) {
        fire(out, R_CAP_100, RISK_PART_INHERENT, 100 - raw, -1, 0);
        raw = 100;
    }
    out->R = risk_score_round(raw);
    out->grade_by_score = risk_grade_for_score(m, out->R);
    out->grade = out->grade_by_score;

    overrides(m, dyn, out);
    if (out->override)
        out->grade = RISK_GRADE_RED;
    return 0;
}
