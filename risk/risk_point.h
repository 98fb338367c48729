/* risk_point.h — per-point alarm rules (报警): limits with deadband and minimum duration,
 * rate of rise, digital faults, frozen value, physical range, offline. Pure: the caller
 * passes the rule configuration, the stored rule state, new samples and `now`, and gets the
 * next state plus the alarm transitions to record. See risk/README.md. */
#ifndef DW_RISK_POINT_H
#define DW_RISK_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { RISK_POINT_ANALOG = 0, RISK_POINT_DIGITAL = 1 } risk_point_kind;

/* What a digital point means; it only picks the reason code, the fault test is
 * `value == fault_value`. */
typedef enum {
    RISK_DIGITAL_FAULT_SIGNAL = 0, /* generic fault input */
    RISK_DIGITAL_AIRLOCK,          /* 锁气卸灰 fault = 1 */
    RISK_DIGITAL_SPARK,            /* 火花探测 detected = 1 */
    RISK_DIGITAL_FAN_RUN,          /* 风机运行: fault_value 0 = fan stopped */
    RISK_DIGITAL_ROLE_COUNT
} risk_digital_role;

typedef enum {
    RISK_ALARM_NONE = 0,
    RISK_ALARM_HIGH,
    RISK_ALARM_HIGH_HIGH,
    RISK_ALARM_LOW,
    RISK_ALARM_LOW_LOW,
    RISK_ALARM_RATE_OF_RISE,
    RISK_ALARM_DIGITAL_FAULT,
    RISK_ALARM_FROZEN,
    RISK_ALARM_OUT_OF_RANGE,
    RISK_ALARM_OFFLINE,
    RISK_ALARM_KIND_COUNT
} risk_alarm_kind;

typedef enum {
    RISK_TR_RAISE = 0,
    RISK_TR_ESCALATE,
    RISK_TR_DEESCALATE,
    RISK_TR_CLEAR
} risk_tr_action;

/* Reason codes; the names are stable strings stored with each alarm transition. */
#define RISK_REASON_LIST(X)                                                                        \
    X(NONE, "none")                                                                                \
    X(ABOVE_HIGH, "above_high")                                                                    \
    X(ABOVE_HIGH_HIGH, "above_high_high")                                                          \
    X(BELOW_LOW, "below_low")                                                                      \
    X(BELOW_LOW_LOW, "below_low_low")                                                              \
    X(BACK_BELOW_HIGH_HIGH, "back_below_high_high")                                                \
    X(BACK_ABOVE_LOW_LOW, "back_above_low_low")                                                    \
    X(BACK_TO_NORMAL, "back_to_normal")                                                            \
    X(RATE_EXCEEDED, "rate_exceeded")                                                              \
    X(RATE_NORMAL, "rate_normal")                                                                  \
    X(FAULT_SIGNAL, "fault_signal")                                                                \
    X(AIRLOCK_FAULT, "airlock_fault")                                                              \
    X(SPARK_DETECTED, "spark_detected")                                                            \
    X(FAN_STOPPED, "fan_stopped")                                                                  \
    X(DIGITAL_NORMAL, "digital_normal")                                                            \
    X(VALUE_FROZEN, "value_frozen")                                                                \
    X(VALUE_CHANGED, "value_changed")                                                              \
    X(ABOVE_PHYSICAL_MAX, "above_physical_max")                                                    \
    X(BELOW_PHYSICAL_MIN, "below_physical_min")                                                    \
    X(NON_FINITE_VALUE, "non_finite_value")                                                        \
    X(NOT_BINARY, "not_binary")                                                                    \
    X(BACK_IN_PHYSICAL_RANGE, "back_in_physical_range")                                            \
    X(NO_DATA, "no_data")                                                                          \
    X(DATA_RESUMED, "data_resumed")

#define RISK_REASON_ENUM_(name, str) RISK_REASON_##name,
typedef enum { RISK_REASON_LIST(RISK_REASON_ENUM_) RISK_REASON_COUNT } risk_reason;
#undef RISK_REASON_ENUM_

/* Optional limits are NAN when not configured; start from risk_point_cfg_init(). */
typedef struct {
    risk_point_kind kind;
    double high, high_high, low, low_low;
    double deadband;        /* an active limit alarm clears only past limit ∓ deadband */
    int64_t min_duration_s; /* a level change must hold this long (on consecutive samples) */
    double rate_delta;      /* rise >= rate_delta within rate_window_s raises; NAN = off */
    int64_t rate_window_s;
    risk_digital_role digital_role;
    int fault_value;             /* 0 or 1 */
    uint32_t frozen_samples;     /* N identical consecutive samples ⇒ FROZEN; 0 = off */
    double frozen_epsilon;       /* |Δ| <= epsilon counts as identical */
    double range_min, range_max; /* physical range of the sensor; NAN = unbounded */
    int64_t expected_interval_s;
    double offline_factor; /* offline after k × expected interval without data; 0 = off */
} risk_point_cfg;

/* Rule state of one point: plain numbers, persisted in one DB row between calls.
 * `level` is the active limit/digital alarm (NONE, HIGH, HIGH_HIGH, LOW, LOW_LOW,
 * DIGITAL_FAULT); the other alarms are independent flags. */
typedef struct {
    uint8_t level;
    uint8_t pending_level; /* == level when nothing is pending */
    uint8_t rate_active, frozen_active, range_active, offline_active;
    uint8_t has_value;
    int64_t pending_since;
    int64_t level_since;
    int64_t last_ts; /* newest sample seen, valid or not; creation time before any */
    int64_t last_value_ts;
    double last_value; /* newest valid value */
    uint32_t frozen_count;
    int64_t rate_ref_ts;
    double rate_ref_value;
} risk_point_state;

typedef struct {
    int64_t ts;
    double value;
} risk_sample;

typedef struct {
    risk_tr_action action;
    risk_alarm_kind kind;      /* the alarm after the change; for CLEAR the one cleared */
    risk_alarm_kind prev_kind; /* before the change; NONE for RAISE */
    risk_reason reason;
    int64_t ts;       /* sample time, or the moment the offline deadline passed */
    double value;     /* sample value, NAN for OFFLINE */
    double threshold; /* limit crossed, re-arm point for clears, NAN if none */
} risk_alarm_transition;

void risk_point_cfg_init(risk_point_cfg *cfg, risk_point_kind kind);

/* 0 if consistent; else -1 and *why points at a static message. */
int risk_point_cfg_validate(const risk_point_cfg *cfg, const char **why);

/* State of a point that has never reported; offline is counted from created_at. */
void risk_point_state_init(risk_point_state *st, int64_t created_at);

/* Evaluates samples (expected in ascending ts order) against the rules.
 * A sample whose ts is not newer than the newest one already seen (back-fill, duplicate)
 * is ignored for the rule state: it neither raises nor clears anything; the caller still
 * stores it as a reading. After the samples, offline is re-checked at `now`.
 * `in` and `out` may alias. Writes at most tr_cap transitions and returns how many there
 * were in total (like snprintf), so a return > tr_cap means some were dropped; the state
 * is complete either way. */
size_t risk_point_eval(const risk_point_cfg *cfg, const risk_point_state *in,
                       const risk_sample *samples, size_t n, int64_t now, risk_point_state *out,
                       risk_alarm_transition *tr, size_t tr_cap);

/* Timer entry point: raises OFFLINE when no sample arrived for k × the expected interval
 * (transition ts = the moment the deadline passed). Same return convention. */
size_t risk_point_check_offline(const risk_point_cfg *cfg, const risk_point_state *in, int64_t now,
                                risk_point_state *out, risk_alarm_transition *tr, size_t tr_cap);

/* When the point goes offline if nothing arrives (for scheduling), or INT64_MAX if offline
 * detection is off or the point already is offline. */
int64_t risk_point_offline_due_at(const risk_point_cfg *cfg, const risk_point_state *st);

const char *risk_reason_name(risk_reason r);
const char *risk_alarm_kind_name(risk_alarm_kind k);
const char *risk_tr_action_name(risk_tr_action a);

/* 2 for HIGH_HIGH, LOW_LOW, DIGITAL_FAULT; 1 for HIGH, LOW, RATE_OF_RISE; 0 for data-quality
 * alarms (FROZEN, OUT_OF_RANGE, OFFLINE) which feed S through the online rate instead. */
int risk_alarm_level(risk_alarm_kind k);

#endif
