/* db_alarms — the engine side of point alarms: rule state rows (point_rule_state), alarm
 * episodes and their events, as the ingest writer and the worker's offline sweep write
 * them (alarm_rules.c decides, this file stores).  The REST side of alarms is elsewhere.
 *
 * Every function runs inside the caller's open transaction: an alarm commits with the
 * readings that raised it or not at all.  Episodes have unique keys (point, channel,
 * raised_at), so a replayed write finds its alarm already there and reports alarm id 0.
 *
 * Ownership: arrays handed back are malloc()ed and freed by the caller with free();
 * parameters are borrowed.  Out-parameters are written only on DB_OK. */
#ifndef DW_DB_ALARMS_H
#define DW_DB_ALARMS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

/* Registers the statements; idempotent, call before the connections that use them. */
void db_alarms_register(void);

/* One point's rule state, column for column.  NULL numbers read as 0, NULL doubles as
 * NAN; flags are 0/1.  offline_due_at is only written (INT64_MAX stores NULL: never). */
typedef struct db_alarm_state {
    int64_t point_id;
    int level, pending_level;
    int rate_active, frozen_active, range_active, offline_active, has_value;
    int64_t pending_since, level_since, last_ts, last_value_ts;
    double last_value;
    int64_t frozen_count;
    int64_t rate_ref_ts;
    double rate_ref_value;
    int64_t offline_due_at;
} db_alarm_state;

/* A loaded rule state with the point's configuration (same NULL conventions; a NULL
 * fault_value is has_fault_value 0). */
typedef struct db_alarm_point {
    db_alarm_state st;
    int64_t enterprise_id;
    char code[48];
    char value_type[16]; /* "analog" / "digital" */
    char kind[48];       /* indicator kind code */
    double limit_high, limit_high_high, limit_low, limit_low_low, deadband;
    int64_t min_duration_s;
    double rate_limit;
    int64_t rate_window_s;
    double range_min, range_max;
    int64_t expected_interval_s;
    double offline_factor;
    int64_t frozen_samples;
    double frozen_epsilon;
    int has_fault_value, fault_value;
} db_alarm_point;

/* The rule states of point_ids (any order, no duplicates needed), locked FOR UPDATE in
 * point-id order so that two writers never deadlock; *rows sorted by point id, one per
 * point that has a state row. */
__attribute__((warn_unused_result)) db_status db_alarms_state_load(db_conn *c,
                                                                   const int64_t *point_ids,
                                                                   size_t n, db_alarm_point **rows,
                                                                   size_t *nrows);
/* db_alarms_state_load queued (db_queue_bin): *rows and *nrows (NULL, 0 until then) are
 * written when the result is read, by the transaction's next wait or db_flush; both must
 * stay valid until then. */
__attribute__((warn_unused_result)) db_status db_alarms_state_lock(db_conn *c,
                                                                   const int64_t *point_ids,
                                                                   size_t n, db_alarm_point **rows,
                                                                   size_t *nrows);
/* Creates the missing state rows of point_ids; offline counts from the point's creation. */
__attribute__((warn_unused_result)) db_status
db_alarms_state_init(db_conn *c, const int64_t *point_ids, size_t n);
/* The same for up to 5000 enabled points that never reported. */
__attribute__((warn_unused_result)) db_status db_alarms_state_init_all(db_conn *c);
/* Up to limit enabled points whose offline deadline is before now_s, locked, rows held by
 * another transaction skipped. */
__attribute__((warn_unused_result)) db_status
db_alarms_offline_due(db_conn *c, int64_t now_s, int limit, db_alarm_point **rows, size_t *nrows);
/* Writes back n states with one statement (queued, db_queue_bin: on a pipelined connection
 * its failure is the transaction's next wait's status). */
__attribute__((warn_unused_result)) db_status
db_alarms_state_store(db_conn *c, const db_alarm_state *states, size_t n);

/* One alarm transition.  raise uses every field but action; change (escalate/deescalate)
 * point, channel, kind, level, action, reason, value, threshold, ts; clear point, channel,
 * reason, value, threshold, ts.  value/threshold NAN store NULL. */
typedef struct db_alarm_step {
    int64_t enterprise_id, point_id;
    const char *source;  /* "rule", "gateway" */
    const char *channel; /* one open episode per point and channel */
    const char *kind;
    int level;
    const char *action; /* "escalate" / "deescalate" (change) */
    const char *reason;
    double value, threshold;
    int64_t ts_s;
    long ack_within_s, handle_within_s; /* deadlines from max(now, ts) */
    long episode_window_s;              /* raise: fold window (alarm_episode_window_s) */
} db_alarm_step;

/* Each writes the alarm row and its alarm_events row; *alarm_id is the alarm written, 0
 * when nothing was (a replayed raise, no open episode to change or clear).  A clear also
 * closes a handled alarm.
 *
 * raise folds repeats into episodes: when the point channel's latest episode is not closed
 * and cleared less than episode_window_s before ts, it is reopened (*retrigger 1, its
 * trigger count + 1, last trigger and peak value updated, a 'retrigger' event) instead of
 * a new alarm being inserted (*retrigger 0).  *count is the episode's trigger count.  While
 * the episode is shelved (not expired) every raise folds into it and *shelved is 1: the
 * caller publishes nothing. */
__attribute__((warn_unused_result)) db_status db_alarms_raise(db_conn *c, const db_alarm_step *s,
                                                              int64_t *alarm_id, int *retrigger,
                                                              int64_t *count, int *shelved);
__attribute__((warn_unused_result)) db_status db_alarms_change(db_conn *c, const db_alarm_step *s,
                                                               int64_t *alarm_id);
__attribute__((warn_unused_result)) db_status db_alarms_clear(db_conn *c, const db_alarm_step *s,
                                                              int64_t *alarm_id);

/* The kind of the point's open gateway alarm (locked), "" when there is none. */
__attribute__((warn_unused_result)) db_status db_alarms_gateway_open(db_conn *c, int64_t point_id,
                                                                     char *kind, size_t kindlen);

/* The stored video alarm (enterprise, camera, ts_us, alarm_type) becomes an alarm with
 * source "video", cleared at once; *alarm_id 0 when it already was one.  Its level is the
 * catalogue's (video_alarm_types, migration 0021) for a listed type, else *level (the
 * caller's fallback); on a new alarm *level is set to the level stored. */
__attribute__((warn_unused_result)) db_status
db_alarms_video(db_conn *c, int64_t enterprise_id, const char *camera, int64_t ts_us,
                const char *alarm_type, int *level, long ack_within_s, long handle_within_s,
                int64_t *alarm_id);

/* Enterprise-offline alarms (migration 0045): one alarm of kind enterprise_offline (level 0,
 * no point) listing the points (alarm_points) of an enterprise that are offline together.
 *
 * attach: the point joins the enterprise's open enterprise-offline alarm, if there is one
 * (*alarm_id, else 0; *added 0 when it already was in it).  form: when at least min_points
 * enabled points of the enterprise are offline (point_rule_state), raises one listing them
 * and folds their open point offline alarms into it (closed, folded_into); *alarm_id 0 when
 * not raised.  back: the point reports again; the alarm it was in clears with its last
 * point (*cleared 1; a handled one closes); *alarm_id 0 when the point was in none. */
__attribute__((warn_unused_result)) db_status db_alarms_eoff_attach(db_conn *c,
                                                                    int64_t enterprise_id,
                                                                    int64_t point_id, int64_t ts_s,
                                                                    int64_t *alarm_id, int *added);
__attribute__((warn_unused_result)) db_status
db_alarms_eoff_form(db_conn *c, int64_t enterprise_id, int64_t ts_s, int min_points,
                    long ack_within_s, long handle_within_s, int64_t *alarm_id, int64_t *npoints);
__attribute__((warn_unused_result)) db_status
db_alarms_eoff_back(db_conn *c, int64_t point_id, int64_t ts_s, int64_t *alarm_id, int *cleared);

/* Asks the worker for a risk recompute of the enterprise (one pending request each). */
__attribute__((warn_unused_result)) db_status
db_alarms_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason);

/* Flags alarms whose acknowledge / handle deadline passed, once each with its event, and
 * asks for a recompute of their enterprises; *n_flagged alarms. */
__attribute__((warn_unused_result)) db_status db_alarms_flag_overdue(db_conn *c, size_t *n_flagged);

#endif
