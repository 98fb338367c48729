/* risk_model.h — the parameters of the enterprise risk model (weights, point tables,
 * grade thresholds, warning deadlines) and the built-in defaults (design.md §5).
 *
 * The model is plain data so it can be stored per version, compared and backtested.
 * Parsing the JSON model file happens outside risk/ (server/core/srv_riskmodel.c). */
#ifndef DW_RISK_MODEL_H
#define DW_RISK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RISK_MODEL_VERSION_MAX 64
#define RISK_MODEL_MAX_BANDS   8

typedef enum {
    RISK_GRADE_BLUE = 0, /* 低 */
    RISK_GRADE_YELLOW,   /* 一般 */
    RISK_GRADE_ORANGE,   /* 较大 */
    RISK_GRADE_RED,      /* 重大 */
    RISK_GRADE_COUNT
} risk_grade;

/* Administrative tiers, ordered upwards so "one level up" is +1. */
typedef enum {
    RISK_ADMIN_ENTERPRISE = 0,
    RISK_ADMIN_STREET, /* 乡镇/街道/园区 */
    RISK_ADMIN_DISTRICT,
    RISK_ADMIN_CITY,
    RISK_ADMIN_COUNT
} risk_admin_level;

typedef enum {
    RISK_DUST_METAL_AL_MG = 0,
    RISK_DUST_METAL_OTHER,
    RISK_DUST_WOOD,
    RISK_DUST_GRAIN,
    RISK_DUST_PLASTIC,
    RISK_DUST_OTHER,
    RISK_DUST_COUNT
} risk_dust_class;

typedef enum { RISK_ST_UNKNOWN = 0, RISK_ST_1, RISK_ST_2, RISK_ST_3, RISK_ST_COUNT } risk_st_class;

typedef enum {
    RISK_REMOVAL_NONE = 0,
    RISK_REMOVAL_DRY_CENTRAL,
    RISK_REMOVAL_DRY_PER_STATION,
    RISK_REMOVAL_WET,
    RISK_REMOVAL_COUNT
} risk_removal_setup;

/* One normalised dynamic term: min(1, x / saturation) × share. */
typedef struct {
    double share;
    double saturation;
} risk_term;

/* Step table: the first band (sorted by descending min) with value >= min wins. */
typedef struct {
    uint32_t min;
    double points;
} risk_band;

typedef struct {
    size_t n;
    risk_band band[RISK_MODEL_MAX_BANDS];
} risk_band_table;

typedef struct {
    int64_t sign_within_s;
    int64_t clear_within_s;
    risk_admin_level supervisor;
    risk_admin_level escalate_to;
    bool inform_city;
    bool duban;                /* 督办 on overdue */
    bool enforcement_referral; /* 执法 referral on overdue */
} risk_warning_rule;

typedef struct {
    char version[RISK_MODEL_VERSION_MAX];

    double w_alarm, w_handling, w_site;
    double grade_min[RISK_GRADE_COUNT]; /* grade_min[BLUE] is 0 and unused */

    /* Inherent risk I. Grain, plastic and other dust score by St class. */
    double dust_points_metal_al_mg, dust_points_metal_other, dust_points_wood;
    double st_points[RISK_ST_COUNT];
    risk_band_table worker_bands;
    double removal_points[RISK_REMOVAL_COUNT];
    double positive_pressure_points;
    double collector_indoors_points;
    risk_band_table dry_collector_bands;
    double multi_storey_points;
    double inherent_max;

    /* A: alarm pressure. Counts are weighted by level and by point class. */
    double level1_weight, level2_weight;
    double other_point_factor; /* weight of alarms on non-mandatory points */
    risk_term alarm_count_24h, alarm_count_7d, alarm_duration_24h;

    /* H: handling. */
    risk_term overdue_unacked, overdue_unhandled, repeat_after_handled;

    /* S: on-site management. missed_cleaning.saturation is a ratio (missed/required),
     * online_deficit.saturation is the offline share at which the term is full. */
    risk_term missed_cleaning, online_deficit, video_offline, open_hazards;

    bool override_major_hazard;
    bool override_hot_spark;
    bool override_dp_collapse_fan;

    risk_warning_rule warning[RISK_GRADE_COUNT];
    int64_t reescalate_every_s; /* after the clear deadline, one more step per period */
} risk_model;

/* Fills *m with the built-in defaults; schema/risk-model.default.json must match. */
void risk_model_default(risk_model *m);

/* 0 if usable; else -1 and *why points at a static message. */
int risk_model_validate(const risk_model *m, const char **why);

/* 0 if equal; else -1 and the name of the first differing field is written to what. */
int risk_model_diff(const risk_model *a, const risk_model *b, char *what, size_t whatlen);

/* Stable lower-case names (also the JSON spellings); NULL/-1 for unknown. */
const char *risk_grade_name(risk_grade g);
int risk_grade_from_name(const char *s);
const char *risk_admin_level_name(risk_admin_level l);
int risk_admin_level_from_name(const char *s);
const char *risk_dust_class_name(risk_dust_class d);
int risk_dust_class_from_name(const char *s);
const char *risk_st_class_name(risk_st_class s);
int risk_st_class_from_name(const char *s);
const char *risk_removal_name(risk_removal_setup r);
int risk_removal_from_name(const char *s);

/* Grade of an already rounded score under the model's thresholds. */
risk_grade risk_grade_for_score(const risk_model *m, double score);

#endif
