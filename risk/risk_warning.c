/* risk_warning.c — deadlines and the escalation ladder of an early warning.
 *
 * The ladder is computed from stored times only (issued_at, signed_at, clear request,
 * number of steps already applied), never from in-memory timers, so any worker node can
 * recompute it after a restart and two nodes agree. */
#include "risk_warning.h"

#include <string.h>

static const char *const status_names[RISK_WARN_STATUS_COUNT] = {
    "issued", "signed", "feedback", "clear_requested", "sent_back", "cleared"};

const char *risk_warning_status_name(risk_warning_status s)
{
    return (unsigned)s < RISK_WARN_STATUS_COUNT ? status_names[s] : NULL;
}

int risk_warning_status_from_name(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < RISK_WARN_STATUS_COUNT; i++)
        if (strcmp(status_names[i], s) == 0)
            return i;
    return -1;
}

int risk_warning_deadlines_for(const risk_model *m, risk_grade g, int64_t issued_at,
                               risk_warning_deadlines *out)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)g >= RISK_GRADE_COUNT)
        return -1;
    const risk_warning_rule *r = &m->warning[g];
    out->sign_by = issued_at + r->sign_within_s;
    out->clear_by = issued_at + r->clear_within_s;
    out->supervisor = r->supervisor;
    out->escalate_to = r->escalate_to;
    out->inform_city = r->inform_city;
    out->duban = r->duban;
    out->enforcement_referral = r->enforcement_referral;
    return 0;
}

int risk_warning_upgrade(const risk_model *m, const risk_warning_open *w, risk_grade to,
                         int64_t now, risk_warning_upgrade_plan *out)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)w->grade >= RISK_GRADE_COUNT || (unsigned)to >= RISK_GRADE_COUNT ||
        (unsigned)w->supervisor > RISK_ADMIN_CITY || (unsigned)w->current_level > RISK_ADMIN_CITY)
        return -1;
    if (to <= w->grade)
        return 0;
    risk_warning_deadlines d;
    if (risk_warning_deadlines_for(m, to, now, &d) != 0)
        return -1;
    out->sign_by = d.sign_by;
    out->clear_by = d.clear_by < d.sign_by ? d.sign_by : d.clear_by;
    out->supervisor = d.supervisor > w->supervisor ? d.supervisor : w->supervisor;
    out->current_level = out->supervisor > w->current_level ? out->supervisor : w->current_level;
    out->inform_city = d.inform_city || w->inform_city;
    return 1;
}

risk_grade risk_warning_first_baseline(risk_grade first)
{
    return first > RISK_GRADE_YELLOW ? RISK_GRADE_YELLOW : first;
}

bool risk_warning_should_issue(risk_grade prev, bool prev_override, risk_grade cur,
                               bool cur_override)
{
    if (cur_override && !prev_override)
        return true;
    return cur > prev && cur >= RISK_GRADE_YELLOW;
}

/* Number of ladder events strictly before `limit`. Deadlines are inclusive: at exactly
 * clear_by the enterprise is still in time. */
static uint32_t clear_events_before(int64_t clear_by, int64_t period, int64_t limit)
{
    if (limit <= clear_by)
        return 0;
    int64_t extra = (limit - 1 - clear_by) / period;
    if (extra > (int64_t)UINT32_MAX - 1)
        extra = (int64_t)UINT32_MAX - 1;
    return 1 + (uint32_t)extra;
}

int risk_warning_check(const risk_model *m, const risk_warning_state *w, int64_t now,
                       risk_warning_decision *out)
{
    memset(out, 0, sizeof *out);
    out->next_check_at = INT64_MAX;
    risk_warning_deadlines d;
    if (risk_warning_deadlines_for(m, w->grade, w->issued_at, &d) != 0)
        return -1;
    if ((unsigned)w->status >= RISK_WARN_STATUS_COUNT)
        return -1;
    if (w->status == RISK_WARN_CLEAR_REQUESTED && w->clear_requested_at == 0)
        return -1;
    out->escalate_to = d.escalate_to;
    out->duban = d.duban;
    out->enforcement_referral = d.enforcement_referral;
    if (w->status == RISK_WARN_CLEARED)
        return 0;

    const int64_t period = m->reescalate_every_s;
    /* A sign event exists if the warning was not signed in time, even if signed late:
     * the step it caused was due and stays counted. */
    bool sign_missed = w->signed_at == 0 || w->signed_at > d.sign_by;
    uint32_t n_sign = (sign_missed && now > d.sign_by) ? 1 : 0;
    out->overdue_sign = w->signed_at == 0 && now > d.sign_by;

    bool pending = w->status == RISK_WARN_CLEAR_REQUESTED;
    int64_t clear_limit = now;
    if (pending && w->clear_requested_at < clear_limit)
        clear_limit = w->clear_requested_at;
    uint32_t n_clear = clear_events_before(d.clear_by, period, clear_limit);
    out->overdue_clear = !pending && now > d.clear_by;

    out->steps_due = n_sign + n_clear;
    if (out->steps_due > w->escalations_done) {
        uint32_t step = w->escalations_done + 1;
        out->escalate_now = true;
        out->step = step;
        /* k-th event time: sign event first (if any), then the clear ladder. */
        uint32_t k = step;
        if (sign_missed && n_sign == 1) {
            if (k == 1)
                out->step_due_at = d.sign_by;
            k--;
        }
        if (k >= 1)
            out->step_due_at = d.clear_by + (int64_t)(k - 1) * period;
        int lvl = (int)d.escalate_to + (int)(step - 1);
        out->escalate_to = lvl >= RISK_ADMIN_CITY ? RISK_ADMIN_CITY : (risk_admin_level)lvl;
    }

    /* Next time an event starts to count: the first event time t >= now, checked at t+1. */
    int64_t next = INT64_MAX;
    if (sign_missed && w->signed_at == 0 && now <= d.sign_by)
        next = d.sign_by + 1;
    if (!pending) {
        int64_t t;
        if (now <= d.clear_by)
            t = d.clear_by;
        else
            t = d.clear_by + ((now - d.clear_by + period - 1) / period) * period;
        if (t + 1 < next)
            next = t + 1;
    }
    out->next_check_at = next;
    return 0;
}
