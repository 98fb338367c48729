/* job_risk — the worker's risk jobs: enterprise score recompute (on change and
 * periodically), warning issue, and the deadline/escalation ladder of open warnings.
 *
 * Every decision is computed from what PostgreSQL stores (alarms, check-ins, rule states,
 * warning times), never from memory, so any worker node can take over after a crash.
 * Each score stores its engine inputs as JSON; job_risk_inputs_from_json() turns them back
 * into engine structs, which is what `dustwatch risk backtest` uses.
 *
 * Threading: the functions run on the calling thread's connection (the worker's, or the
 * CLI's).  The model in force is copied in by job_risk_init() and replaced by
 * job_risk_set_model() (the hot reload of job_risk_watch_model()); every entry point takes
 * its own copy at its start, so one batch is scored under one model. */
#ifndef DW_JOB_RISK_H
#define DW_JOB_RISK_H

#include "db.h"
#include "risk_model.h"
#include "risk_score.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Registers the statements (before connecting) and keeps a copy of the model. */
void job_risk_init(const risk_model *m);

/* Replaces the model in force (the configured deadline overrides applied again). */
void job_risk_set_model(const risk_model *m);

/* The version of the model in force. */
void job_risk_model_version(char out[RISK_MODEL_VERSION_MAX]);

/* Hot reload (issue 16): when the active row of risk_models (migration 0050, stored through
 * POST /api/v1/risk/models) names a version other than the one in force, parses it and puts
 * it in force.  1 when a model was loaded, 0 when nothing changed (or none is active: the
 * model file stays in force), -1 when the active row does not parse (logged once per
 * version; the model in force stays). */
int job_risk_watch_model(db_conn *c);

/* Recomputes the enterprises that asked for it (risk_recompute_requests). */
__attribute__((warn_unused_result)) db_status job_risk_run_requests(db_conn *c, int64_t now_s,
                                                                    size_t *n_done);

/* Between ticks: waits up to timeout_ms on c for a recompute request committed anywhere
 * (the notification of migration 0040).  1 when one came (then call
 * job_risk_run_requests), 0 on timeout, -1 when c cannot listen (not connected: the
 * caller sleeps instead and its next tick reconnects). */
int job_risk_wait_change(db_conn *c, int timeout_ms);

/* Recomputes every enterprise (the periodic run), its batches shared by c and up to
 * connections - 1 threads of this call, each on a connection it opens for the pass (so
 * on as many PostgreSQL backends); returns when all are done. */
__attribute__((warn_unused_result)) db_status job_risk_run_all(db_conn *c, int connections,
                                                               int64_t now_s, size_t *n_done);

/* Applies due escalation steps of open warnings, one step per warning and call, under a
 * city-wide advisory lock (a second worker skips).  *n_steps: steps applied. */
__attribute__((warn_unused_result)) db_status job_risk_check_warnings(db_conn *c, int64_t now_s,
                                                                      size_t *n_steps);

/* Engine inputs stored with a score, back to structs.  systems must hold max_systems
 * entries; dyn->systems points at it afterwards.  0, or -1 if the JSON is not an inputs
 * object. */
#define JOB_RISK_MAX_SYSTEMS 64
int job_risk_inputs_from_json(const json_t *inputs, risk_archive *arch, risk_dynamic *dyn,
                              risk_system_state *systems, size_t max_systems);

#endif
