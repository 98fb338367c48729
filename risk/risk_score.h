/* risk_score.h — enterprise risk score R, its parts I/A/H/S, grade, overrides and the
 * list of fired rules that explains the number (design.md §5, domain.md §3). Pure. */
#ifndef DW_RISK_SCORE_H
#define DW_RISK_SCORE_H

#include "risk_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Base-archive fields that make up the inherent risk I. */
typedef struct {
    risk_dust_class dust_class;
    risk_st_class st_class; /* used for grain, plastic and other dust */
    uint32_t dust_workers;
    risk_removal_setup removal;
    bool positive_pressure_conveying;
    bool collector_indoors;
    uint32_t dry_collectors;
    bool multi_storey;
} risk_archive;

typedef struct {
    uint32_t level1; /* HIGH, LOW, RATE_OF_RISE */
    uint32_t level2; /* HIGH_HIGH, LOW_LOW, DIGITAL_FAULT */
} risk_alarm_count;

/* Live state of one dust-removal system (collector) for the precursor overrides. */
typedef struct {
    int32_t system_id; /* caller's id, echoed in fired rules */
    bool hopper_temp_high_high;
    bool spark_detected;
    bool dp_collapse; /* differential pressure LOW_LOW active */
    bool fan_running;
} risk_system_state;

typedef struct {
    risk_alarm_count alarms_24h_mandatory, alarms_24h_other;
    risk_alarm_count alarms_7d_mandatory, alarms_7d_other;
    int64_t alarm_seconds_24h_mandatory; /* cumulative active alarm time in the last 24 h */

    uint32_t overdue_unacked;      /* open alarms not acknowledged within their deadline */
    uint32_t overdue_unhandled;    /* acknowledged, not handled within their deadline */
    uint32_t repeat_after_handled; /* alarms on a point within 7 d after it was "handled" */

    uint32_t cleaning_required; /* check-ins due in the period */
    uint32_t cleaning_missed;
    double online_rate_mandatory; /* 0..1; callers with no mandatory point pass 1 */
    uint32_t video_offline;
    uint32_t open_hazards;

    uint16_t major_hazard_items; /* bit i set = item i+1 of domain.md §4.1 is open */
    const risk_system_state *systems;
    size_t n_systems;
} risk_dynamic;

typedef enum {
    RISK_PART_INHERENT = 0,
    RISK_PART_ALARM,
    RISK_PART_HANDLING,
    RISK_PART_SITE,
    RISK_PART_OVERRIDE
} risk_part;

typedef struct {
    const char *code;            /* stable, e.g. "I.DUST.WOOD"; static storage */
    const char *description_key; /* i18n key for the dashboard; static storage */
    risk_part part;
    double contribution; /* score points this rule added to R (0 for overrides) */
    int32_t system_id;   /* -1 unless the rule concerns one system */
    int32_t item;        /* major-hazard item 1..10, else 0 */
} risk_fired_rule;

#define RISK_SCORE_MAX_RULES 48

typedef struct {
    double R, I, A, H, S; /* R rounded to 0.01; I in points; A/H/S in 0..1 */
    risk_grade grade;
    risk_grade grade_by_score; /* before overrides, for the explanation */
    bool override;
    const char *override_reason; /* code of the first override rule, or NULL */
    char model_version[RISK_MODEL_VERSION_MAX];
    size_t n_rules;
    bool rules_truncated;
    risk_fired_rule rules[RISK_SCORE_MAX_RULES];
} risk_score_result;

/* Computes the score. Returns 0, or -1 if an input is out of its domain (unknown enum,
 * online rate outside 0..1, NaN); *out is then zeroed. No allocation. */
int risk_score_compute(const risk_model *m, const risk_archive *arch, const risk_dynamic *dyn,
                       risk_score_result *out);

/* Rounds half away from zero to 0.01, the precision scores are stored and graded at. */
double risk_score_round(double x);

const char *risk_part_name(risk_part p);

#endif
