/* alarm_rules — point alarms (报警) stored in the transaction that caused them.
 *
 * The ingest writer calls alarm_apply_batch() inside its write transaction, right after
 * inserting a job's accepted items, so an alarm commits with the readings that raised it or
 * not at all.  The rule state of every touched point is loaded with one query (rows locked
 * FOR UPDATE in point-id order, so two writer threads never deadlock on the same points) -
 * once per group transaction (alarm_group_lock) - run through the pure engine
 * (risk_point_eval) and written back with one statement per group (alarm_group_flush) - a
 * job with alarm transitions writes the group's evaluated states first; only transitions cost
 * extra statements.  Episodes have unique keys (point, channel,
 * raised_at), so a replayed batch after a kill -9 can never create a second alarm.
 *
 * Live events for Redis are collected per thread while the transaction runs and published
 * only after COMMIT: the caller runs alarm_pub_reset() when a transaction attempt starts
 * and alarm_pub_flush() after it committed.
 *
 * Thread-safety: every function may be called from several threads, each with its own
 * db_conn.  Nothing here allocates memory the caller must free. */
#ifndef DW_ALARM_RULES_H
#define DW_ALARM_RULES_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

/* Registers the prepared statements; call once before the connections that use them are
 * opened (the ingest writers and the worker both call it; it is idempotent). */
void alarm_register_statements(void);

/* Worker: creates rule state rows for points that never reported (offline is counted from
 * the point's creation), then raises OFFLINE for up to `limit` points whose deadline has
 * passed at now.  Rows another transaction holds are skipped (the next tick gets them).
 * Must run inside a transaction; *n_changed receives the number of transitions. */
__attribute__((warn_unused_result)) db_status alarm_check_offline(db_conn *c, int64_t now_us,
                                                                  int limit, size_t *n_changed);

/* Worker: raises a gateway-offline alarm (level 0, no point) for every gateway heard from
 * before but silent longer than gateway_offline_after_s, and clears it once the gateway is
 * heard again (db_gateway_offline.h); nothing when that setting is 0.  Inside a
 * transaction; *n_changed receives raises, clears and closes. */
__attribute__((warn_unused_result)) db_status alarm_check_gateways(db_conn *c, size_t *n_changed);

/* Worker: flags alarms whose acknowledge / handle deadline passed (once each, with an
 * alarm_events row) and asks for a risk recompute of their enterprises. */
__attribute__((warn_unused_result)) db_status alarm_flag_overdue(db_conn *c, size_t *n_flagged);

/* The writer's entry point: everything accepted of one decoded batch goes to the rules of
 * its kind (readings through the engine, gateway events and video alarms as reported).
 * point_ids[i] is the resolved point of item i, 0 when the item was rejected;
 * server_code[i] non-NULL when the server refused it.  Must run inside the write
 * transaction. */
struct ing_batch;
__attribute__((warn_unused_result)) db_status
alarm_apply_batch(db_conn *c, int64_t enterprise_id, const struct ing_batch *batch,
                  const int64_t *point_ids, const char *const *server_code, int64_t now_us);

/* The group transaction's rule states (per thread, like the live events below).  The
 * writer locks the rule-state rows of every point its group writes with
 * alarm_group_lock(), which loads them (the rows and the points' settings) with the same
 * statement; alarm_apply_batch() then evaluates each job's readings from these rows and
 * keeps them current after each job's evaluation, so a group costs one load, not one per
 * job.  A point with an alarm transition is loaded again by the next job that needs it
 * (a transition may write its row, e.g. a filing's deferred offline deadline).
 * alarm_group_end() drops the rows; alarm_group_lock() of the next attempt replaces them.
 * On a pipelined connection the load is queued (db_conn_pipeline): once the caller has read
 * it (db_flush), alarm_group_ready() puts the rows to use and says in *locked how many were
 * found (fewer than n: rows are missing). */
__attribute__((warn_unused_result)) db_status alarm_group_lock(db_conn *c, const int64_t *point_ids,
                                                               size_t n);
__attribute__((warn_unused_result)) db_status alarm_group_ready(size_t *locked);
/* The states alarm_apply_batch() evaluated from the group's rows and has not written yet: a
 * job without alarm transitions leaves its states in the group's copy, written with the next
 * job that has transitions or must read rows from the table, or by this call, which the
 * writer makes once at the end of the group (before its COMMIT). */
__attribute__((warn_unused_result)) db_status alarm_group_flush(db_conn *c);
void alarm_group_end(void);

/* Per-thread list of live events of the current transaction attempt. */
void alarm_pub_reset(void);
void alarm_pub_flush(void);

#endif
