/* db_risk — what the worker's risk jobs read and write: the engine's inputs of one
 * enterprise, stored scores, warning issue and the escalation ladder, the recompute queue,
 * and the stored snapshots `dustwatch risk backtest` replays.  The REST side of risk and
 * warnings is elsewhere.
 *
 * The engine decides (job_risk.c); this file only moves values: enum names stay text here
 * and are parsed by the caller.  Functions marked "in a transaction" run inside the
 * caller's db_run_tx(); the others commit on their own.
 *
 * Ownership: arrays handed back are malloc()ed and freed by the caller with free(); json_t
 * parameters are borrowed, a returned json_t * is a new reference.  Out-parameters are
 * written only on DB_OK. */
#ifndef DW_DB_RISK_H
#define DW_DB_RISK_H

#include "db.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Registers the worker's statements; idempotent, call before connecting. */
void db_risk_register(void);

/* In a transaction: serialises recomputes of each enterprise of ids (released at COMMIT);
 * the locks are taken in one order, so overlapping batches wait instead of deadlocking. */
__attribute__((warn_unused_result)) db_status
db_risk_lock_enterprises(db_conn *c, const int64_t *ids, size_t n);

/* Takes (deletes) up to 500 pending recompute requests, oldest first, rows other sessions
 * hold skipped; *ids the enterprises, in no particular order. */
__attribute__((warn_unused_result)) db_status db_risk_take_requests(db_conn *c, int64_t **ids,
                                                                    size_t *n);
/* Every enterprise, by id. */
__attribute__((warn_unused_result)) db_status db_risk_all_enterprises(db_conn *c, int64_t **ids,
                                                                      size_t *n);

/* The engine's inputs of an enterprise at now_s (alarms 24 h / 7 d, check-ins 7 d, online
 * rate of mandatory points).  Class names are as stored ("other", "unknown" when unset);
 * counts [0] level 1, [1] level 2. */
typedef struct db_risk_inputs {
    char dust_class[64], st_class[64], removal[64];
    int64_t dust_workers;
    int multi_storey;
    int64_t major_hazard_items; /* bit i-1 set for item i */
    int64_t open_hazards, video_offline;
    int positive_pressure, collector_indoors;
    int64_t dry_collectors;
    int64_t alarms_24h_mandatory[2], alarms_24h_other[2];
    int64_t alarms_7d_mandatory[2], alarms_7d_other[2];
    int64_t alarm_seconds_24h_mandatory;
    int64_t overdue_unacked, overdue_unhandled, repeat_after_handled;
    int64_t cleaning_required, cleaning_missed;
    double online_rate_mandatory;
} db_risk_inputs;

/* In a transaction, one statement for the batch: ids ascending and distinct; out[k] and
 * found[k] (1, or 0 when enterprise ids[k] does not exist any more) for each. */
__attribute__((warn_unused_result)) db_status db_risk_load_inputs(db_conn *c, const int64_t *ids,
                                                                  size_t n, int64_t now_s,
                                                                  db_risk_inputs *out, int *found);

/* Live precursor state of one dust-removal system (flags 0/1). */
typedef struct db_risk_system {
    int64_t enterprise_id, id;
    int hopper_temp_high_high, spark_detected, dp_collapse, fan_running;
} db_risk_system;

/* In a transaction: the systems of the enterprises of ids (ascending), by enterprise and
 * id, in one statement; *rows malloc()ed.  The levels are the rule-state level values that
 * mean high-high, digital fault and low-low. */
__attribute__((warn_unused_result)) db_status
db_risk_load_systems(db_conn *c, const int64_t *ids, size_t n, int level_high_high,
                     int level_digital_fault, int level_low_low, db_risk_system **rows,
                     size_t *n_rows);

/* The enterprise's current grade, as enterprise_risk holds it. */
typedef struct db_risk_current {
    char grade[16];
    int override;
    double r;
} db_risk_current;

/* In a transaction, for the enterprises of ids (ascending): found[k] 0 (and out[k]
 * untouched) before the first score of ids[k]. */
__attribute__((warn_unused_result)) db_status
db_risk_load_current(db_conn *c, const int64_t *ids, size_t n, db_risk_current *out, int *found);

/* One computed score; rules and inputs are stored as JSON. */
typedef struct db_risk_score {
    int64_t enterprise_id;
    const char *model_version;
    double r, i, a, h, s;
    const char *grade, *grade_by_score;
    int override;
    const char *override_reason; /* NULL when no override */
    const json_t *rules, *inputs;
} db_risk_score;

/* In a transaction, one statement: stores n scores (by enterprise ascending, distinct)
 * computed at now_s for trigger ("change", "periodic") and makes each its enterprise's
 * current one; score_ids[k] the id of s[k]'s row. */
__attribute__((warn_unused_result)) db_status
db_risk_store_scores(db_conn *c, const db_risk_score *s, size_t n, int64_t now_s,
                     const char *trigger, int64_t *score_ids);

/* A warning to issue, with its deadlines (epoch seconds) and the admin level that
 * supervises it. */
typedef struct db_risk_issue {
    int64_t enterprise_id;
    const char *cause, *grade;
    int64_t score_id;
    int64_t issued_at_s, sign_by_s, clear_by_s;
    const char *supervisor;
    int inform_city;
    const char *note;
} db_risk_issue;

/* In a transaction: issues the warning with its event and webhook outbox rows;
 * *warning_id 0 when the enterprise already has an open warning for that cause. */
__attribute__((warn_unused_result)) db_status
db_risk_issue_warning(db_conn *c, const db_risk_issue *w, int64_t *warning_id);

/* The open warning of one enterprise and cause. */
typedef struct db_risk_open {
    int64_t id;
    char grade[16], status[32], supervisor[16], current_level[16];
    int inform_city;
} db_risk_open;

/* In a transaction: the open warning of the enterprise for that cause, row locked until
 * COMMIT; *found 0 when there is none. */
__attribute__((warn_unused_result)) db_status db_risk_open_warning(db_conn *c,
                                                                   int64_t enterprise_id,
                                                                   const char *cause,
                                                                   db_risk_open *out, int *found);

/* An upgrade of an open warning to a higher grade (times in epoch seconds). */
typedef struct db_risk_upgrade {
    int64_t warning_id;
    const char *from_grade, *grade;
    int64_t score_id;
    int64_t upgraded_at_s, sign_by_s, clear_by_s;
    const char *supervisor, *current_level;
    int inform_city;
    const char *note;
} db_risk_upgrade;

/* In a transaction, the row locked by db_risk_open_warning(): sets the new grade, score,
 * deadlines, levels and city information, status back to issued (the enterprise signs
 * again), the escalation ladder's base; writes the `upgrade` event, webhook outbox rows
 * (event "upgrade:<grade rank>") and an audit_log row (warning_upgrade).  *applied 0 when
 * the warning is no longer open at from_grade. */
__attribute__((warn_unused_result)) db_status
db_risk_upgrade_warning(db_conn *c, const db_risk_upgrade *u, int *applied);

/* In a transaction: the enterprise's grade fell to `grade`; every open warning of a higher
 * grade gets a `grade_fall` event (note + what it keeps) and nothing else changes. */
__attribute__((warn_unused_result)) db_status
db_risk_note_grade_fall(db_conn *c, int64_t enterprise_id, const char *grade, const char *note);

/* Outside a transaction: LISTENs on c for recompute requests (channel dw_risk_recompute,
 * notified at commit by every insert into risk_recompute_requests, migration 0040).
 * Cheap when c's session already listens; call it before each wait, since a reconnect
 * makes a new session.  DB_HARD when c is not connected (it does not reconnect). */
__attribute__((warn_unused_result)) db_status db_risk_listen(db_conn *c);

/* Outside a transaction, after db_risk_listen(): waits up to timeout_ms for a recompute
 * request notification; *notified 1 when one or more came (all consumed), also those
 * that arrived while c ran other statements.  DB_HARD when the connection broke. */
__attribute__((warn_unused_result)) db_status db_risk_wait_requests(db_conn *c, int timeout_ms,
                                                                    int *notified);

/* In a transaction: the city-wide escalation lock; *locked 0 when another worker has it. */
__attribute__((warn_unused_result)) db_status db_risk_warnings_try_lock(db_conn *c, int *locked);

/* An open warning whose next check is due; times in epoch seconds, 0 when not yet. */
typedef struct db_risk_due_warning {
    int64_t id, enterprise_id;
    char grade[16], status[32];
    int64_t issued_at, signed_at, clear_requested_at;
    int64_t escalations_done;
    int64_t sign_by, clear_by;
    int64_t ladder_base;  /* steps applied before the last upgrade */
    int64_t ladder_start; /* upgraded_at, else issued_at: the current grade's ladder starts here */
} db_risk_due_warning;

/* In a transaction: up to 200 due warnings, locked, the longest waiting first. */
__attribute__((warn_unused_result)) db_status
db_risk_warnings_due(db_conn *c, int64_t now_s, db_risk_due_warning **rows, size_t *n);

/* One escalation step. */
typedef struct db_risk_escalation {
    int64_t warning_id;
    unsigned step;
    const char *level; /* admin level the warning goes to */
    int duban;         /* 督办: a supervision row */
    int enforcement_referral;
    const char *note;
} db_risk_escalation;

/* In a transaction: applies the step once (only when step - 1 were done), with its event,
 * supervision / referral and outbox rows; *enterprise_id the warning's enterprise, 0 when
 * the step was not applied. */
__attribute__((warn_unused_result)) db_status
db_risk_escalate_warning(db_conn *c, const db_risk_escalation *e, int64_t *enterprise_id);

/* In a transaction: when to look at the warning again; next_check_s < 0 for never. */
__attribute__((warn_unused_result)) db_status db_risk_set_next_check(db_conn *c, int64_t warning_id,
                                                                     int64_t next_check_s);

/* The latest stored score of every enterprise inside [from, to) (timestamps as PostgreSQL
 * reads them).  Its statement is registered and prepared on first use, so the CLI need not
 * call db_risk_register().  *out an array of {"code", "grade", "r" (text as stored),
 * "model_version", "inputs" (JSON text), "enterprise_id", "name"}, by enterprise id.  On failure
 * PostgreSQL's message is in err. */
__attribute__((warn_unused_result)) db_status
db_risk_backtest_snapshots(db_conn *c, const char *from, const char *to, json_t **out, char *err,
                           size_t errlen);

#endif
