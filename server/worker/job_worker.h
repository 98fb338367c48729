/* job_worker — the `worker` role: one thread with its own PostgreSQL connection (session
 * scope "system") that wakes every worker_interval_ms and runs, in order:
 *
 *   offline detection      alarm_check_offline (rule state in PostgreSQL: survives restarts)
 *   alarm deadlines        ack/handle overdue flags (alarm_flag_overdue)
 *   risk recompute         enterprises with changes; every enterprise each risk_recompute_all_s
 *   warning deadlines      escalation steps (job_risk_check_warnings, advisory lock)
 *   rollups                minute/hour rollups up to now - rollup_lag_s, late hours (job_rollup)
 *   webhooks               notification outbox (job_webhook_run)
 *   maintenance (hourly)   readings partitions ahead, retention (readings, rollups), expired
 *                          idempotency rows
 *
 * A second thread with a connection of its own LISTENs for recompute requests (migration
 * 0040) and recomputes those enterprises ~50 ms after the commit that queued them, instead
 * of at the next tick (which still takes whatever is left in the queue).
 *
 * Several worker processes may run: per-row work uses SKIP LOCKED or unique keys, the
 * escalation pass and the periodic runs take PostgreSQL advisory locks. */
#ifndef DW_JOB_WORKER_H
#define DW_JOB_WORKER_H

#include "srv_role.h"

/* Loads g_config.risk_model (an invalid model is fatal: -1 with the reason logged),
 * registers the statements and starts the thread. */
int job_worker_start(void);

/* Wakes the thread, waits for the current tick to end and joins it.  Safe when not
 * started. */
void job_worker_stop(void);

/* The worker role for `dustwatch serve`. */
extern const srv_role job_worker_role;

#endif
