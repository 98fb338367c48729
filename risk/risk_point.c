/* risk_point.c — per-point alarm state machine.
 *
 * Channels are independent so one sample can, say, escalate a temperature to HIGH_HIGH and
 * raise RATE_OF_RISE at once: the limit/digital level (one of NONE/H/HH/L/LL/FAULT, with
 * hysteresis and an on/off delay), and the flags rate, frozen, physical range, offline.
 * A sample outside the physical range is a sensor fault, so it is not used for the other
 * channels at all (a broken thermocouple reading 1370 ℃ must not raise HIGH_HIGH). */
#include "risk_point.h"

#include <math.h>
#include <string.h>

#define RISK_REASON_STR_(name, str) [RISK_REASON_##name] = str,
static const char *const reason_names[RISK_REASON_COUNT] = {RISK_REASON_LIST(RISK_REASON_STR_)};
#undef RISK_REASON_STR_

static const char *const kind_names[RISK_ALARM_KIND_COUNT] = {
    [RISK_ALARM_NONE] = "none",
    [RISK_ALARM_HIGH] = "high",
    [RISK_ALARM_HIGH_HIGH] = "high_high",
    [RISK_ALARM_LOW] = "low",
    [RISK_ALARM_LOW_LOW] = "low_low",
    [RISK_ALARM_RATE_OF_RISE] = "rate_of_rise",
    [RISK_ALARM_DIGITAL_FAULT] = "digital_fault",
    [RISK_ALARM_FROZEN] = "frozen",
    [RISK_ALARM_OUT_OF_RANGE] = "out_of_range",
    [RISK_ALARM_OFFLINE] = "offline",
};

static const char *const action_names[] = {"raise", "escalate", "deescalate", "clear"};

const char *risk_reason_name(risk_reason r)
{
    return (unsigned)r < RISK_REASON_COUNT ? reason_names[r] : "unknown";
}

const char *risk_alarm_kind_name(risk_alarm_kind k)
{
    return (unsigned)k < RISK_ALARM_KIND_COUNT ? kind_names[k] : "unknown";
}

const char *risk_tr_action_name(risk_tr_action a)
{
    return (unsigned)a <= RISK_TR_CLEAR ? action_names[a] : "unknown";
}

int risk_alarm_level(risk_alarm_kind k)
{
    switch (k) {
    case RISK_ALARM_HIGH_HIGH:
    case RISK_ALARM_LOW_LOW:
    case RISK_ALARM_DIGITAL_FAULT:
        return 2;
    case RISK_ALARM_HIGH:
    case RISK_ALARM_LOW:
    case RISK_ALARM_RATE_OF_RISE:
        return 1;
    default:
        return 0;
    }
}

void risk_point_cfg_init(risk_point_cfg *cfg, risk_point_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->high = cfg->high_high = cfg->low = cfg->low_low = NAN;
    cfg->rate_delta = NAN;
    cfg->range_min = cfg->range_max = NAN;
    cfg->fault_value = 1;
    cfg->digital_role = RISK_DIGITAL_FAULT_SIGNAL;
}

int risk_point_cfg_validate(const risk_point_cfg *c, const char **why)
{
    const char *msg = NULL;
    bool h = !isnan(c->high), hh = !isnan(c->high_high), l = !isnan(c->low),
         ll = !isnan(c->low_low);
    if (c->kind != RISK_POINT_ANALOG && c->kind != RISK_POINT_DIGITAL)
        msg = "unknown point kind";
    else if (isinf(c->high) || isinf(c->high_high) || isinf(c->low) || isinf(c->low_low))
        msg = "limits must be finite or NAN (not configured)";
    else if (h && hh && c->high_high < c->high)
        msg = "high_high must be >= high";
    else if (l && ll && c->low_low > c->low)
        msg = "low_low must be <= low";
    else if ((h || hh) && (l || ll) &&
             fmax(l ? c->low : -INFINITY, ll ? c->low_low : -INFINITY) >=
                 fmin(h ? c->high : INFINITY, hh ? c->high_high : INFINITY))
        msg = "low limits must lie below high limits";
    else if (!(isfinite(c->deadband) && c->deadband >= 0))
        msg = "deadband must be finite and >= 0";
    else if (c->min_duration_s < 0)
        msg = "min_duration_s must be >= 0";
    else if (!isnan(c->rate_delta) &&
             !(isfinite(c->rate_delta) && c->rate_delta > 0 && c->rate_window_s > 0))
        msg = "rate_delta must be > 0 with rate_window_s > 0";
    else if (c->digital_role < 0 || c->digital_role >= RISK_DIGITAL_ROLE_COUNT)
        msg = "unknown digital role";
    else if (c->fault_value != 0 && c->fault_value != 1)
        msg = "fault_value must be 0 or 1";
    else if (c->frozen_samples == 1)
        msg = "frozen_samples must be 0 (off) or >= 2";
    else if (!(isfinite(c->frozen_epsilon) && c->frozen_epsilon >= 0))
        msg = "frozen_epsilon must be finite and >= 0";
    else if (isinf(c->range_min) || isinf(c->range_max) ||
             (!isnan(c->range_min) && !isnan(c->range_max) && c->range_min >= c->range_max))
        msg = "physical range must be finite with range_min < range_max";
    else if (c->expected_interval_s < 0 || !(isfinite(c->offline_factor) && c->offline_factor >= 0))
        msg = "expected_interval_s and offline_factor must be >= 0";
    else if (c->offline_factor > 0 && c->expected_interval_s == 0)
        msg = "offline detection needs expected_interval_s > 0";
    if (why)
        *why = msg;
    return msg ? -1 : 0;
}

void risk_point_state_init(risk_point_state *st, int64_t created_at)
{
    memset(st, 0, sizeof *st);
    st->last_ts = created_at;
    st->last_value = NAN;
    st->rate_ref_value = NAN;
}

typedef struct {
    risk_alarm_transition *tr;
    size_t cap;
    size_t n;
} emitter;

static void emit(emitter *e, risk_tr_action action, risk_alarm_kind kind, risk_alarm_kind prev,
                 risk_reason reason, int64_t ts, double value, double threshold)
{
    if (e->n < e->cap) {
        risk_alarm_transition *t = &e->tr[e->n];
        t->action = action;
        t->kind = kind;
        t->prev_kind = prev;
        t->reason = reason;
        t->ts = ts;
        t->value = value;
        t->threshold = threshold;
    }
    e->n++;
}

static bool is_high_side(uint8_t level)
{
    return level == RISK_ALARM_HIGH || level == RISK_ALARM_HIGH_HIGH;
}

static bool is_low_side(uint8_t level)
{
    return level == RISK_ALARM_LOW || level == RISK_ALARM_LOW_LOW;
}

/* Hysteresis: a limit is crossed at `v >= limit` (`<=` for low limits) but an alarm
 * already at or beyond that level holds until `v` is past limit ∓ deadband. */
static uint8_t analog_target(const risk_point_cfg *c, uint8_t cur, double v)
{
    double db = c->deadband;
    if (!isnan(c->high_high) &&
        (v >= c->high_high || (cur == RISK_ALARM_HIGH_HIGH && v > c->high_high - db)))
        return RISK_ALARM_HIGH_HIGH;
    if (!isnan(c->high) && (v >= c->high || (is_high_side(cur) && v > c->high - db)))
        return RISK_ALARM_HIGH;
    if (!isnan(c->low_low) &&
        (v <= c->low_low || (cur == RISK_ALARM_LOW_LOW && v < c->low_low + db)))
        return RISK_ALARM_LOW_LOW;
    if (!isnan(c->low) && (v <= c->low || (is_low_side(cur) && v < c->low + db)))
        return RISK_ALARM_LOW;
    /* HIGH_HIGH configured without HIGH: fall back from HH straight to normal. */
    return RISK_ALARM_NONE;
}

static double limit_of(const risk_point_cfg *c, uint8_t level)
{
    switch (level) {
    case RISK_ALARM_HIGH:
        return c->high;
    case RISK_ALARM_HIGH_HIGH:
        return c->high_high;
    case RISK_ALARM_LOW:
        return c->low;
    case RISK_ALARM_LOW_LOW:
        return c->low_low;
    case RISK_ALARM_DIGITAL_FAULT:
        return c->fault_value;
    default:
        return NAN;
    }
}

/* The value at which an alarm at `level` lets go. */
static double rearm_of(const risk_point_cfg *c, uint8_t level)
{
    if (is_high_side(level))
        return limit_of(c, level) - c->deadband;
    if (is_low_side(level))
        return limit_of(c, level) + c->deadband;
    return limit_of(c, level);
}

static risk_reason raise_reason(const risk_point_cfg *c, uint8_t level)
{
    static const risk_reason digital[RISK_DIGITAL_ROLE_COUNT] = {
        [RISK_DIGITAL_FAULT_SIGNAL] = RISK_REASON_FAULT_SIGNAL,
        [RISK_DIGITAL_AIRLOCK] = RISK_REASON_AIRLOCK_FAULT,
        [RISK_DIGITAL_SPARK] = RISK_REASON_SPARK_DETECTED,
        [RISK_DIGITAL_FAN_RUN] = RISK_REASON_FAN_STOPPED,
    };
    switch (level) {
    case RISK_ALARM_HIGH:
        return RISK_REASON_ABOVE_HIGH;
    case RISK_ALARM_HIGH_HIGH:
        return RISK_REASON_ABOVE_HIGH_HIGH;
    case RISK_ALARM_LOW:
        return RISK_REASON_BELOW_LOW;
    case RISK_ALARM_LOW_LOW:
        return RISK_REASON_BELOW_LOW_LOW;
    default:
        return digital[c->digital_role];
    }
}

static void commit_level(const risk_point_cfg *c, risk_point_state *st, uint8_t to, int64_t ts,
                         double v, emitter *e)
{
    uint8_t from = st->level;
    bool same_side =
        (is_high_side(from) && is_high_side(to)) || (is_low_side(from) && is_low_side(to));
    if (from == RISK_ALARM_NONE) {
        emit(e, RISK_TR_RAISE, to, RISK_ALARM_NONE, raise_reason(c, to), ts, v, limit_of(c, to));
    } else if (to == RISK_ALARM_NONE) {
        emit(e, RISK_TR_CLEAR, from, from,
             c->kind == RISK_POINT_DIGITAL ? RISK_REASON_DIGITAL_NORMAL
                                           : RISK_REASON_BACK_TO_NORMAL,
             ts, v, rearm_of(c, from));
    } else if (same_side && (to == RISK_ALARM_HIGH_HIGH || to == RISK_ALARM_LOW_LOW)) {
        emit(e, RISK_TR_ESCALATE, to, from, raise_reason(c, to), ts, v, limit_of(c, to));
    } else if (same_side) {
        emit(e, RISK_TR_DEESCALATE, to, from,
             from == RISK_ALARM_HIGH_HIGH ? RISK_REASON_BACK_BELOW_HIGH_HIGH
                                          : RISK_REASON_BACK_ABOVE_LOW_LOW,
             ts, v, rearm_of(c, from));
    } else {
        /* High to low within one step (limits far apart, sparse samples): record it as
         * the end of one alarm and the start of another, since causes differ. */
        emit(e, RISK_TR_CLEAR, from, from, RISK_REASON_BACK_TO_NORMAL, ts, v, rearm_of(c, from));
        emit(e, RISK_TR_RAISE, to, RISK_ALARM_NONE, raise_reason(c, to), ts, v, limit_of(c, to));
    }
    st->level = to;
    st->pending_level = to;
    st->level_since = ts;
}

static void eval_level(const risk_point_cfg *c, risk_point_state *st, int64_t ts, double v,
                       emitter *e)
{
    uint8_t target;
    if (c->kind == RISK_POINT_DIGITAL)
        target = ((int)v == c->fault_value) ? RISK_ALARM_DIGITAL_FAULT : RISK_ALARM_NONE;
    else
        target = analog_target(c, st->level, v);

    if (target == st->level) {
        st->pending_level = st->level; /* the condition must hold on consecutive samples */
        return;
    }
    if (target != st->pending_level) {
        st->pending_level = target;
        st->pending_since = ts;
    }
    if (ts - st->pending_since >= c->min_duration_s)
        commit_level(c, st, target, ts, v, e);
}

static void eval_frozen(const risk_point_cfg *c, risk_point_state *st, int64_t ts, double v,
                        emitter *e)
{
    if (st->has_value && fabs(v - st->last_value) <= c->frozen_epsilon)
        st->frozen_count++;
    else
        st->frozen_count = 1;
    if (c->kind != RISK_POINT_ANALOG || c->frozen_samples == 0)
        return; /* digital points legitimately sit at 0 for months */
    if (!st->frozen_active && st->frozen_count >= c->frozen_samples) {
        st->frozen_active = 1;
        emit(e, RISK_TR_RAISE, RISK_ALARM_FROZEN, RISK_ALARM_NONE, RISK_REASON_VALUE_FROZEN, ts, v,
             NAN);
    } else if (st->frozen_active && st->frozen_count == 1) {
        st->frozen_active = 0;
        emit(e, RISK_TR_CLEAR, RISK_ALARM_FROZEN, RISK_ALARM_FROZEN, RISK_REASON_VALUE_CHANGED, ts,
             v, NAN);
    }
}

/* The window minimum is approximated by one reference sample (state stays a few numbers):
 * the reference is the lowest value seen since the window was last re-anchored, and it is
 * re-anchored to the previous sample once it falls out of the window. The rise is thus
 * always measured between two samples less than a window apart — the alarm can be late on
 * a slow rise but never fires on a rise that took longer than the window. */
static void eval_rate(const risk_point_cfg *c, risk_point_state *st, int64_t ts, double v,
                      emitter *e)
{
    if (c->kind != RISK_POINT_ANALOG || isnan(c->rate_delta))
        return;
    if (!st->has_value || isnan(st->rate_ref_value)) {
        st->rate_ref_ts = ts;
        st->rate_ref_value = v;
    } else if (ts - st->rate_ref_ts > c->rate_window_s) {
        if (ts - st->last_value_ts <= c->rate_window_s) {
            st->rate_ref_ts = st->last_value_ts;
            st->rate_ref_value = st->last_value;
        } else {
            st->rate_ref_ts = ts;
            st->rate_ref_value = v;
        }
    }
    if (v < st->rate_ref_value) {
        st->rate_ref_ts = ts;
        st->rate_ref_value = v;
    }
    double rise = v - st->rate_ref_value;
    if (!st->rate_active && rise >= c->rate_delta) {
        st->rate_active = 1;
        emit(e, RISK_TR_RAISE, RISK_ALARM_RATE_OF_RISE, RISK_ALARM_NONE, RISK_REASON_RATE_EXCEEDED,
             ts, v, c->rate_delta);
    } else if (st->rate_active && rise < c->rate_delta - c->deadband) {
        st->rate_active = 0;
        emit(e, RISK_TR_CLEAR, RISK_ALARM_RATE_OF_RISE, RISK_ALARM_RATE_OF_RISE,
             RISK_REASON_RATE_NORMAL, ts, v, c->rate_delta - c->deadband);
    }
}

/* RISK_REASON_NONE if the value is physically plausible, else why not. */
static risk_reason validity(const risk_point_cfg *c, double v, double *bound)
{
    *bound = NAN;
    if (!isfinite(v))
        return RISK_REASON_NON_FINITE_VALUE;
    if (c->kind == RISK_POINT_DIGITAL)
        return (v == 0.0 || v == 1.0) ? RISK_REASON_NONE : RISK_REASON_NOT_BINARY;
    if (!isnan(c->range_max) && v > c->range_max) {
        *bound = c->range_max;
        return RISK_REASON_ABOVE_PHYSICAL_MAX;
    }
    if (!isnan(c->range_min) && v < c->range_min) {
        *bound = c->range_min;
        return RISK_REASON_BELOW_PHYSICAL_MIN;
    }
    return RISK_REASON_NONE;
}

static void eval_sample(const risk_point_cfg *c, risk_point_state *st, const risk_sample *s,
                        emitter *e)
{
    double bound;
    risk_reason bad = validity(c, s->value, &bound);
    st->last_ts = s->ts;
    if (bad != RISK_REASON_NONE) {
        if (!st->range_active) {
            st->range_active = 1;
            emit(e, RISK_TR_RAISE, RISK_ALARM_OUT_OF_RANGE, RISK_ALARM_NONE, bad, s->ts,
                 isfinite(s->value) ? s->value : NAN, bound);
        }
        /* A gap of garbage breaks "consecutive": a pending change restarts afterwards. */
        st->pending_level = st->level;
        return;
    }
    if (st->range_active) {
        st->range_active = 0;
        emit(e, RISK_TR_CLEAR, RISK_ALARM_OUT_OF_RANGE, RISK_ALARM_OUT_OF_RANGE,
             RISK_REASON_BACK_IN_PHYSICAL_RANGE, s->ts, s->value, NAN);
    }
    eval_frozen(c, st, s->ts, s->value, e);
    eval_rate(c, st, s->ts, s->value, e);
    eval_level(c, st, s->ts, s->value, e);
    st->has_value = 1;
    st->last_value = s->value;
    st->last_value_ts = s->ts;
}

int64_t risk_point_offline_due_at(const risk_point_cfg *c, const risk_point_state *st)
{
    if (c->offline_factor <= 0 || c->expected_interval_s <= 0 || st->offline_active)
        return INT64_MAX;
    /* ceil so a fractional k never declares a point offline early. */
    double span = ceil(c->offline_factor * (double)c->expected_interval_s);
    if (span > (double)(INT64_MAX / 2))
        return INT64_MAX;
    return st->last_ts + (int64_t)span;
}

static void offline_check(const risk_point_cfg *c, risk_point_state *st, int64_t now, emitter *e)
{
    if (c->offline_factor <= 0 || c->expected_interval_s <= 0)
        return;
    if (st->offline_active) {
        double span = ceil(c->offline_factor * (double)c->expected_interval_s);
        /* Cleared only by fresh data: a late back-filled batch from an old outage is
         * not proof that the point is alive now. */
        if ((double)(now - st->last_ts) <= span) {
            st->offline_active = 0;
            emit(e, RISK_TR_CLEAR, RISK_ALARM_OFFLINE, RISK_ALARM_OFFLINE, RISK_REASON_DATA_RESUMED,
                 st->last_ts, NAN, NAN);
        }
        return;
    }
    int64_t due = risk_point_offline_due_at(c, st);
    if (now > due) {
        st->offline_active = 1;
        emit(e, RISK_TR_RAISE, RISK_ALARM_OFFLINE, RISK_ALARM_NONE, RISK_REASON_NO_DATA, due, NAN,
             NAN);
    }
}

size_t risk_point_eval(const risk_point_cfg *cfg, const risk_point_state *in,
                       const risk_sample *samples, size_t n, int64_t now, risk_point_state *out,
                       risk_alarm_transition *tr, size_t tr_cap)
{
    risk_point_state st = *in; /* local copy so in/out may alias */
    emitter e = {tr, tr ? tr_cap : 0, 0};
    for (size_t i = 0; i < n; i++) {
        /* Back-fill: the stored state already reflects newer data; replaying older
         * samples would raise or clear alarms out of order. */
        if (samples[i].ts <= st.last_ts && (st.has_value || st.range_active))
            continue;
        eval_sample(cfg, &st, &samples[i], &e);
    }
    offline_check(cfg, &st, now, &e);
    *out = st;
    return e.n;
}

size_t risk_point_check_offline(const risk_point_cfg *cfg, const risk_point_state *in, int64_t now,
                                risk_point_state *out, risk_alarm_transition *tr, size_t tr_cap)
{
    risk_point_state st = *in;
    emitter e = {tr, tr ? tr_cap : 0, 0};
    offline_check(cfg, &st, now, &e);
    *out = st;
    return e.n;
}
