/* risk_warning.h — early-warning (预警) deadlines, supervising level and escalation
 * (design.md §5 table, configurable through risk_model.warning[]). Pure. */
#ifndef DW_RISK_WARNING_H
#define DW_RISK_WARNING_H

#include "risk_model.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    RISK_WARN_ISSUED = 0,
    RISK_WARN_SIGNED,          /* 签收 */
    RISK_WARN_FEEDBACK,        /* 处置反馈 recorded */
    RISK_WARN_CLEAR_REQUESTED, /* 申请消警, waiting for the supervising level */
    RISK_WARN_SENT_BACK,       /* review refused; handling continues */
    RISK_WARN_CLEARED,         /* 消警 */
    RISK_WARN_STATUS_COUNT
} risk_warning_status;

typedef struct {
    int64_t sign_by;  /* signing at exactly sign_by is in time */
    int64_t clear_by; /* clearance requested at or before clear_by is in time */
    risk_admin_level supervisor;
    risk_admin_level escalate_to; /* first escalation target */
    bool inform_city;
    bool duban;
    bool enforcement_referral;
} risk_warning_deadlines;

typedef struct {
    risk_grade grade;
    risk_warning_status status;
    int64_t issued_at;
    int64_t signed_at;          /* 0 = not signed */
    int64_t clear_requested_at; /* read only in status CLEAR_REQUESTED */
    uint32_t escalations_done;  /* steps already applied and recorded by the worker */
} risk_warning_state;

typedef struct {
    bool overdue_sign;  /* not signed and sign_by has passed */
    bool overdue_clear; /* not cleared nor pending review and clear_by has passed */
    uint32_t steps_due; /* escalation steps that should have happened by now */
    bool escalate_now;  /* steps_due > escalations_done: apply `step` and record it */
    uint32_t step;      /* escalations_done + 1 when escalate_now */
    int64_t step_due_at;
    risk_admin_level escalate_to; /* for `step`: first target, one tier up per later step */
    bool duban;
    bool enforcement_referral;
    int64_t next_check_at; /* when the decision can next change; INT64_MAX if never */
} risk_warning_decision;

/* Deadlines of a warning of grade g issued at issued_at. 0, or -1 for an unknown grade. */
int risk_warning_deadlines_for(const risk_model *m, risk_grade g, int64_t issued_at,
                               risk_warning_deadlines *out);

/* Escalation ladder: event 1 = sign deadline missed (if it was), event 2 = clear deadline
 * missed, then one more event every m->reescalate_every_s while still not cleared. A
 * pending clearance request stops the clear clock. The worker applies one step per call
 * (idempotent: it records escalations_done and calls again). 0, or -1 on inconsistent
 * input (unknown grade/status, CLEAR_REQUESTED without a time, escalations_done beyond
 * steps_due is allowed and simply means nothing is due). */
int risk_warning_check(const risk_model *m, const risk_warning_state *w, int64_t now,
                       risk_warning_decision *out);

/* An open warning of one enterprise and cause, as the upgrade rule reads it. */
typedef struct {
    risk_grade grade;
    risk_admin_level supervisor, current_level;
    bool inform_city;
} risk_warning_open;

/* What an upgrade sets. */
typedef struct {
    int64_t sign_by, clear_by;      /* the new grade's deadlines counted from the upgrade */
    risk_admin_level supervisor;    /* the new grade's, never below the open warning's */
    risk_admin_level current_level; /* never below where escalations already took it */
    bool inform_city;               /* the new grade's, or already informed */
} risk_warning_upgrade_plan;

/* The grade rose to `to` while warning w is open for the same cause.  Rule (one open
 * warning per enterprise and cause, upgraded in place): when `to` is above w's grade,
 * the warning takes grade `to` as if issued at `now` — the table's deadlines from now,
 * its supervising level and city information, both never lowered — and the enterprise
 * signs again; the caller records the upgrade and resets the status.  1 and *out when
 * the warning is to be upgraded, 0 when `to` is not above its grade (a fall or an equal
 * grade changes nothing: deadlines are never shortened nor lengthened by it), -1 for an
 * unknown grade or level. */
int risk_warning_upgrade(const risk_model *m, const risk_warning_open *w, risk_grade to,
                         int64_t now, risk_warning_upgrade_plan *out);

/* A new warning is issued when the grade rises to yellow or above, or an override starts. */
bool risk_warning_should_issue(risk_grade prev, bool prev_override, risk_grade cur,
                               bool cur_override);

/* First-score rule: the grade an enterprise's first score is compared with, as if it were
 * the grade before.  Blue and yellow from the first score are the baseline (shown, not
 * warned about: yellow is the normal state of many registered sites); orange and red are
 * compared with yellow, so a first score of 较大/重大 risk issues a warning at once, like a
 * rise.  Overrides warn at once anyway (prev_override is false for a first score). */
risk_grade risk_warning_first_baseline(risk_grade first);

const char *risk_warning_status_name(risk_warning_status s);
int risk_warning_status_from_name(const char *s);

#endif
