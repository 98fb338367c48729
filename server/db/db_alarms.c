/* db_alarms.c — rule state and alarm rows for the engine (see db_alarms.h).
 *
 * Why the state is written back as one UPDATE from unnest() of the rows' columns: a batch touches
 * many points and each row would otherwise cost a round trip inside the writer's transaction; the
 * transitions, rare by comparison, get a statement each. */
#include "db_alarms.h"

#include "db_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns shared by every statement that loads rule state + configuration; decoded by
 * row_to_point() in this order. */
#define STATE_COLUMNS                                                                              \
    "s.point_id, s.level, s.pending_level, s.rate_active::int, s.frozen_active::int, "             \
    "s.range_active::int, s.offline_active::int, s.has_value::int, s.pending_since, "              \
    "s.level_since, s.last_ts, s.last_value_ts, s.last_value, s.frozen_count, s.rate_ref_ts, "     \
    "s.rate_ref_value, k.value_type, p.kind, p.limit_high, p.limit_high_high, p.limit_low, "       \
    "p.limit_low_low, p.deadband, p.min_duration_s, p.rate_limit, p.rate_window_s, "               \
    "p.range_min, p.range_max, p.expected_interval_s, p.offline_factor, p.frozen_samples, "        \
    "p.frozen_epsilon, p.fault_value, s.enterprise_id, p.code "                                    \
    "FROM point_rule_state s JOIN points p ON p.id = s.point_id "                                  \
    "JOIN indicator_kinds k ON k.code = p.kind "

/* A never-seen point starts "created at" its creation time, so offline is counted from it. */
#define STATE_INIT_SELECT                                                                          \
    "SELECT p.id, p.enterprise_id, floor(extract(epoch FROM p.created_at))::bigint, CASE "         \
    "WHEN p.offline_factor > 0 THEN floor(extract(epoch FROM p.created_at))::bigint + "            \
    "ceil(p.offline_factor * p.expected_interval_s)::bigint END FROM points p "

#define ALARM_EVENT_COLS                                                                           \
    "(alarm_id, enterprise_id, at, action, kind, level, value, threshold, reason)"

static const db_stmt statements[] = {
    {"alm_state_load",
     /* $1 joined as a set (db_ingest.c, "ing_points": why not = ANY) */
     "SELECT " STATE_COLUMNS "JOIN unnest($1::bigint[]) AS u(id) ON u.id = s.point_id ORDER BY "
     "s.point_id FOR UPDATE OF s"},
    {"alm_state_init", "INSERT INTO point_rule_state (point_id, enterprise_id, last_ts, "
                       "offline_due_at) " STATE_INIT_SELECT
                       "WHERE p.id = ANY($1::bigint[]) ORDER BY p.id ON CONFLICT DO NOTHING"},
    {"alm_state_init_all",
     "INSERT INTO point_rule_state (point_id, enterprise_id, last_ts, "
     "offline_due_at) " STATE_INIT_SELECT
     "WHERE p.enabled AND NOT EXISTS (SELECT 1 FROM point_rule_state x WHERE x.point_id = p.id) "
     "ORDER BY p.id LIMIT 5000 ON CONFLICT DO NOTHING"},
    {"alm_offline_due",
     "SELECT " STATE_COLUMNS "WHERE s.offline_due_at < $1::bigint AND p.enabled ORDER BY "
     "s.point_id LIMIT $2::int FOR UPDATE OF s SKIP LOCKED"},
    /* the rows' columns as arrays in PostgreSQL's binary format (states_arrays) */
    {"alm_state_store",
     "UPDATE point_rule_state s SET level = u.level, pending_level = u.pending_level, "
     "rate_active = u.rate_active, frozen_active = u.frozen_active, range_active = "
     "u.range_active, offline_active = u.offline_active, has_value = u.has_value, "
     "pending_since = u.pending_since, level_since = u.level_since, last_ts = u.last_ts, "
     "last_value_ts = u.last_value_ts, last_value = u.last_value, frozen_count = "
     "u.frozen_count, rate_ref_ts = u.rate_ref_ts, rate_ref_value = u.rate_ref_value, "
     "offline_due_at = u.offline_due_at, updated_at = now() FROM unnest($1::bigint[], "
     "$2::smallint[], $3::smallint[], $4::boolean[], $5::boolean[], $6::boolean[], "
     "$7::boolean[], $8::boolean[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], "
     "$13::float8[], $14::integer[], $15::bigint[], $16::float8[], $17::bigint[]) AS "
     "u(point_id, level, pending_level, rate_active, frozen_active, range_active, "
     "offline_active, has_value, pending_since, level_since, last_ts, last_value_ts, "
     "last_value, frozen_count, rate_ref_ts, rate_ref_value, offline_due_at) WHERE s.point_id "
     "= u.point_id"},
    /* $1 enterprise $2 point $3 source $4 channel $5 kind $6 level $7 reason $8 value
     * $9 threshold $10 ts (s) $11 ack within (s) $12 handle within (s) $13 episode window (s).
     * A raise within the window after the point channel's latest episode cleared reopens that
     * episode (f, a 'retrigger' event) unless it was closed; so does any raise while that
     * episode is shelved (migration 0046); otherwise a new row (a, 'raise').  Answers the
     * alarm id, the action, the episode's trigger count and 1 when it is shelved. */
    {"alm_raise",
     "WITH f AS (UPDATE alarms a SET cleared_at = NULL, clear_reason = NULL, kind = $5, level = "
     "$6::smallint, max_level = greatest(a.max_level, $6::smallint), trigger_count = "
     "a.trigger_count + 1, last_trigger_at = to_timestamp($10::bigint), peak_value = CASE WHEN "
     "$8::float8 IS NULL THEN a.peak_value WHEN a.peak_value IS NULL THEN $8::float8 WHEN $5 IN "
     "('low', 'low_low') THEN least(a.peak_value, $8::float8) ELSE greatest(a.peak_value, "
     "$8::float8) END WHERE a.id = (SELECT x.id FROM alarms x WHERE x.point_id = $2::bigint AND "
     "x.channel = $4 ORDER BY x.raised_at DESC LIMIT 1) AND a.state <> 'closed' AND "
     "a.cleared_at IS NOT NULL AND a.cleared_at <= to_timestamp($10::bigint) AND "
     "(coalesce(a.shelved_until > now(), false) OR ($13::bigint > 0 AND a.cleared_at > "
     "to_timestamp($10::bigint) - $13::bigint * interval '1 second')) RETURNING a.id, "
     "a.trigger_count, coalesce(a.shelved_until > now(), false) AS shelved), "
     "a AS (INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, "
     "max_level, reason, value, threshold, raised_at, ack_deadline, handle_deadline, "
     "peak_value) SELECT $1::bigint, $2::bigint, $3, $4, $5, $6::smallint, $6::smallint, $7, "
     "$8::float8, $9::float8, to_timestamp($10::bigint), greatest(now(), "
     "to_timestamp($10::bigint)) + $11::float8 * interval '1 second', greatest(now(), "
     "to_timestamp($10::bigint)) + $12::float8 * interval '1 second', $8::float8 WHERE NOT "
     "EXISTS (SELECT 1 FROM f) ON CONFLICT DO NOTHING RETURNING id, trigger_count), "
     "ev AS (INSERT INTO alarm_events " ALARM_EVENT_COLS " SELECT id, $1::bigint, "
     "to_timestamp($10::bigint), 'raise', $5, $6::smallint, $8::float8, $9::float8, $7 FROM a "
     "UNION ALL SELECT id, $1::bigint, to_timestamp($10::bigint), 'retrigger', $5, "
     "$6::smallint, $8::float8, $9::float8, $7 FROM f RETURNING alarm_id, action) "
     "SELECT ev.alarm_id, ev.action, coalesce(a.trigger_count, f.trigger_count), "
     "coalesce(f.shelved, false)::int FROM ev LEFT "
     "JOIN a ON a.id = ev.alarm_id LEFT JOIN f ON f.id = ev.alarm_id"},
    /* $1 point $2 channel $3 kind $4 level $5 action $6 reason $7 value $8 threshold $9 ts */
    {"alm_change",
     "WITH a AS (UPDATE alarms SET kind = $3, level = $4::smallint, max_level = "
     "greatest(max_level, $4::smallint), peak_value = CASE WHEN $7::float8 IS NULL THEN "
     "peak_value WHEN peak_value IS NULL THEN $7::float8 WHEN $3 IN ('low', 'low_low') THEN "
     "least(peak_value, $7::float8) ELSE greatest(peak_value, $7::float8) END, escalated_at = CASE "
     "WHEN $5 = 'escalate' THEN "
     "to_timestamp($9::bigint) ELSE escalated_at END WHERE point_id = $1::bigint AND channel = "
     "$2 AND cleared_at IS NULL RETURNING id, enterprise_id) INSERT INTO "
     "alarm_events " ALARM_EVENT_COLS
     " SELECT id, enterprise_id, to_timestamp($9::bigint), $5, $3, $4::smallint, $7::float8, "
     "$8::float8, $6 FROM a RETURNING alarm_id"},
    /* $1 point $2 channel $3 reason $4 value $5 threshold $6 ts.  A handled alarm closes
     * when its value is back to normal. */
    {"alm_clear",
     "WITH a AS (UPDATE alarms SET cleared_at = greatest(to_timestamp($6::bigint), raised_at), "
     "clear_reason = $3, state = CASE WHEN state = 'handled' THEN 'closed' ELSE state END, "
     "closed_at = CASE WHEN state = 'handled' THEN greatest(to_timestamp($6::bigint), "
     "raised_at, handled_at) ELSE closed_at END WHERE point_id = $1::bigint AND channel = $2 "
     "AND cleared_at IS NULL RETURNING id, enterprise_id, kind, level, state) INSERT INTO "
     "alarm_events " ALARM_EVENT_COLS
     " SELECT id, enterprise_id, to_timestamp($6::bigint), 'clear', kind, "
     "level, $4::float8, $5::float8, $3 FROM a UNION ALL SELECT id, enterprise_id, "
     "to_timestamp($6::bigint), 'close', kind, level, NULL, NULL, 'handled_and_cleared' FROM a "
     "WHERE state = 'closed' RETURNING alarm_id"},
    {"alm_gw_open",
     "SELECT kind FROM alarms WHERE point_id = $1::bigint AND channel = 'gateway' AND "
     "cleared_at IS NULL FOR UPDATE"},
    /* $1 enterprise $2 camera $3 ts (us) $4 type $5 level $6 ack within $7 handle within */
    {"alm_video",
     "WITH v AS (SELECT id, occurred_at, alarm_type FROM video_alarms WHERE enterprise_id = "
     "$1::bigint AND camera_code = $2 AND occurred_at = timestamptz 'epoch' + $3::bigint * "
     "interval '1 microsecond' AND alarm_type = $4), a AS (INSERT INTO alarms (enterprise_id, "
     "source, channel, kind, level, max_level, reason, raised_at, cleared_at, clear_reason, "
     "ack_deadline, handle_deadline, camera_code, video_alarm_id) SELECT $1::bigint, 'video', "
     "'video', 'video', coalesce(t.level, $5::smallint), coalesce(t.level, $5::smallint), "
     "v.alarm_type, v.occurred_at, v.occurred_at, 'instantaneous', greatest(now(), "
     "v.occurred_at) + $6::float8 * interval '1 second', greatest(now(), v.occurred_at) + "
     "$7::float8 * interval '1 second', $2, v.id FROM v LEFT JOIN video_alarm_types t ON "
     "t.code = v.alarm_type ON CONFLICT DO NOTHING RETURNING id, raised_at, reason, level) "
     "INSERT INTO alarm_events " ALARM_EVENT_COLS
     " SELECT id, $1::bigint, raised_at, 'raise', 'video', level, NULL, NULL, reason "
     "FROM a RETURNING alarm_id, level"},
    /* Enterprise-offline alarms (migration 0045).  attach: $1 enterprise $2 point $3 ts;
     * the point joins the enterprise's open one (locked), answers its id (NULL: none) and
     * whether the point was added. */
    {"alm_eoff_attach",
     "WITH a AS (SELECT id FROM alarms WHERE enterprise_id = $1::bigint AND channel = "
     "'enterprise_offline' AND cleared_at IS NULL FOR UPDATE), m AS (INSERT INTO alarm_points "
     "(alarm_id, enterprise_id, point_id, last_data_at, joined_at) SELECT a.id, $1::bigint, "
     "$2::bigint, (SELECT CASE WHEN s.has_value THEN to_timestamp(s.last_value_ts) END FROM "
     "point_rule_state s WHERE s.point_id = $2::bigint), to_timestamp($3::bigint) FROM a ON "
     "CONFLICT (alarm_id, point_id) DO UPDATE SET back_at = NULL WHERE alarm_points.back_at "
     "IS NOT NULL "
     "RETURNING alarm_id), ev AS (INSERT INTO alarm_events " ALARM_EVENT_COLS " SELECT "
     "alarm_id, $1::bigint, to_timestamp($3::bigint), 'point_offline', 'enterprise_offline', 0, "
     "NULL, NULL, (SELECT code FROM points WHERE id = $2::bigint) FROM m RETURNING alarm_id) "
     "SELECT (SELECT id FROM a), (SELECT count(*) FROM ev)"},
    /* form: $1 enterprise $2 ts $3 min points $4 ack within $5 handle within.  With at
     * least $3 enabled points of the enterprise offline, one alarm lists them all and the
     * point offline alarms still open are folded into it (closed, folded_into).  Answers
     * the alarm id, its points and the alarms folded; no row when not raised.  The offline
     * points' state rows are locked (FOR SHARE, in order), as the writers lock them
     * (alm_state_load): a writer bringing one back holds its row until it commits, having
     * found no alarm to leave (alm_eoff_lock), so read from the snapshot that point would
     * be listed for good; this waits, reads the row again and leaves it out.  A writer
     * coming later waits for this transaction and then finds the alarm. */
    {"alm_eoff_form",
     "WITH off AS (SELECT s.point_id, CASE WHEN s.has_value THEN to_timestamp(s.last_value_ts) "
     "END AS last_data FROM point_rule_state s JOIN points p ON p.id = s.point_id WHERE "
     "s.enterprise_id = $1::bigint AND s.offline_active AND p.enabled ORDER BY s.point_id FOR "
     "SHARE OF s), a AS (INSERT INTO "
     "alarms (enterprise_id, source, channel, kind, level, max_level, reason, raised_at, "
     "ack_deadline, handle_deadline) SELECT $1::bigint, 'rule', 'enterprise_offline', "
     "'enterprise_offline', 0, 0, 'points_offline', to_timestamp($2::bigint), greatest(now(), "
     "to_timestamp($2::bigint)) + $4::float8 * interval '1 second', greatest(now(), "
     "to_timestamp($2::bigint)) + $5::float8 * interval '1 second' WHERE $3::int > 0 AND "
     "(SELECT count(*) FROM off) >= $3::int ON CONFLICT DO NOTHING RETURNING id), m AS (INSERT "
     "INTO alarm_points (alarm_id, enterprise_id, point_id, last_data_at, joined_at) SELECT "
     "a.id, $1::bigint, off.point_id, off.last_data, least(to_timestamp($2::bigint), "
     "coalesce(o.raised_at, to_timestamp($2::bigint))) FROM a CROSS JOIN off LEFT JOIN alarms o "
     "ON o.point_id = off.point_id AND o.channel = 'offline' AND o.cleared_at IS NULL "
     "RETURNING point_id), fo AS (UPDATE alarms x SET state = 'closed', cleared_at = "
     "greatest(to_timestamp($2::bigint), x.raised_at), clear_reason = 'folded', closed_at = "
     "greatest(to_timestamp($2::bigint), x.raised_at), folded_into = a.id FROM a WHERE "
     "x.enterprise_id = $1::bigint AND x.channel = 'offline' AND x.cleared_at IS NULL AND "
     "x.point_id IN (SELECT point_id FROM off) RETURNING x.id, x.kind, x.level, x.closed_at), "
     "ev AS (INSERT INTO alarm_events " ALARM_EVENT_COLS " SELECT id, $1::bigint, "
     "to_timestamp($2::bigint), 'raise', 'enterprise_offline', 0, NULL::float8, NULL::float8, "
     "'points_offline' FROM a UNION ALL SELECT id, $1::bigint, closed_at, 'close', kind, level, "
     "NULL, NULL, 'folded_into_enterprise_offline' FROM fo RETURNING alarm_id) SELECT a.id, "
     "(SELECT count(*) FROM m), (SELECT count(*) FROM fo) FROM a"},
    /* The enterprise-offline alarm a point is still offline in, locked before its back
     * step (so that two writers bringing the last two points back cannot both see the
     * other one still offline). */
    {"alm_eoff_lock",
     "SELECT a.id FROM alarms a JOIN alarm_points mp ON mp.alarm_id = a.id WHERE mp.point_id "
     "= $1::bigint AND mp.back_at IS NULL AND a.channel = 'enterprise_offline' AND "
     "a.cleared_at IS NULL FOR UPDATE OF a"},
    /* back: $1 point $2 ts.  The point is back; the alarm clears (and closes when handled)
     * with its last point.  Answers the alarm id and 1 when it cleared. */
    {"alm_eoff_back",
     "WITH m AS (UPDATE alarm_points mp SET back_at = greatest(to_timestamp($2::bigint), "
     "mp.joined_at) FROM alarms a WHERE a.id = mp.alarm_id AND a.channel = "
     "'enterprise_offline' AND a.cleared_at IS NULL AND mp.point_id = $1::bigint AND "
     "mp.back_at IS NULL RETURNING mp.alarm_id, mp.enterprise_id), c AS (UPDATE alarms a SET "
     "cleared_at = greatest(to_timestamp($2::bigint), a.raised_at), clear_reason = "
     "'all_points_back', state = CASE WHEN a.state = 'handled' THEN 'closed' ELSE a.state END, "
     "closed_at = CASE WHEN a.state = 'handled' THEN greatest(to_timestamp($2::bigint), "
     "a.raised_at, a.handled_at) ELSE a.closed_at END FROM m WHERE a.id = m.alarm_id AND NOT "
     "EXISTS (SELECT 1 FROM alarm_points q WHERE q.alarm_id = m.alarm_id AND q.back_at IS NULL "
     "AND q.point_id <> $1::bigint) RETURNING a.id, a.enterprise_id, a.state), ev AS (INSERT "
     "INTO alarm_events " ALARM_EVENT_COLS " SELECT alarm_id, enterprise_id, "
     "to_timestamp($2::bigint), 'point_back', 'enterprise_offline', 0, NULL::float8, NULL::float8, "
     "(SELECT code "
     "FROM points WHERE id = $1::bigint) FROM m UNION ALL SELECT id, enterprise_id, "
     "to_timestamp($2::bigint), 'clear', 'enterprise_offline', 0, NULL::float8, NULL::float8, "
     "'all_points_back' FROM c UNION ALL SELECT id, enterprise_id, to_timestamp($2::bigint), "
     "'close', 'enterprise_offline', 0, NULL::float8, NULL::float8, 'handled_and_cleared' FROM c "
     "WHERE state = "
     "'closed' RETURNING alarm_id) SELECT m.alarm_id, (SELECT count(*) FROM c) FROM m"},
    /* Deadline flags: set once, each with its event; the enterprises get a recompute (H).
     * The clock of an alarm whose point an approved filing covers now stands still. */
    {"alm_overdue",
     "WITH f AS (UPDATE alarms SET ack_overdue = ack_overdue OR (state = 'active' AND "
     "ack_deadline < now()), handle_overdue = handle_overdue OR (state IN ('active', "
     "'acknowledged') AND handle_deadline < now()) WHERE state IN ('active', 'acknowledged') "
     "AND ((NOT ack_overdue AND state = 'active' AND ack_deadline < now()) OR (NOT "
     "handle_overdue AND handle_deadline < now())) AND (point_id IS NULL OR dw_filing_covers("
     "enterprise_id, point_id, (SELECT system_id FROM points WHERE id = alarms.point_id), now()) "
     "IS NULL) RETURNING id, enterprise_id, kind, level, "
     "ack_overdue, handle_overdue, ack_deadline, handle_deadline), e AS (INSERT INTO "
     "alarm_events (alarm_id, enterprise_id, at, action, kind, level, reason, actor) SELECT id, "
     "enterprise_id, ack_deadline, 'ack_overdue', kind, level, 'not_acknowledged_in_time', "
     "'worker' FROM f WHERE ack_overdue AND NOT EXISTS (SELECT 1 FROM alarm_events x WHERE "
     "x.alarm_id = f.id AND x.action = 'ack_overdue') UNION ALL SELECT id, enterprise_id, "
     "handle_deadline, 'handle_overdue', kind, level, 'not_handled_in_time', 'worker' FROM f "
     "WHERE handle_overdue AND NOT EXISTS (SELECT 1 FROM alarm_events x WHERE x.alarm_id = f.id "
     "AND x.action = 'handle_overdue')), r AS (" DB_RECOMPUTE_INSERT
     "SELECT DISTINCT enterprise_id, 'alarm_overdue' FROM f " DB_RECOMPUTE_CONFLICT
     ") SELECT count(*) FROM f"},
};

void db_alarms_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* ---- parameters and columns -------------------------------------------------- */

/* A double parameter, NULL when not finite (an absent value or threshold). */
static const char *f64_param(char buf[40], double v)
{
    if (!isfinite(v))
        return NULL;
    snprintf(buf, 40, "%.17g", v);
    return buf;
}

static double get_double(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void row_to_point(const PGresult *r, int i, db_alarm_point *p)
{
    memset(p, 0, sizeof *p);
    db_alarm_state *st = &p->st;
    st->point_id = get_i64(r, i, 0);
    st->level = (int)get_i64(r, i, 1);
    st->pending_level = (int)get_i64(r, i, 2);
    st->rate_active = (int)get_i64(r, i, 3);
    st->frozen_active = (int)get_i64(r, i, 4);
    st->range_active = (int)get_i64(r, i, 5);
    st->offline_active = (int)get_i64(r, i, 6);
    st->has_value = (int)get_i64(r, i, 7);
    st->pending_since = get_i64(r, i, 8);
    st->level_since = get_i64(r, i, 9);
    st->last_ts = get_i64(r, i, 10);
    st->last_value_ts = get_i64(r, i, 11);
    st->last_value = get_double(r, i, 12);
    st->frozen_count = get_i64(r, i, 13);
    st->rate_ref_ts = get_i64(r, i, 14);
    st->rate_ref_value = get_double(r, i, 15);
    st->offline_due_at = INT64_MAX;
    snprintf(p->value_type, sizeof p->value_type, "%s", PQgetvalue(r, i, 16));
    snprintf(p->kind, sizeof p->kind, "%s", PQgetvalue(r, i, 17));
    p->limit_high = get_double(r, i, 18);
    p->limit_high_high = get_double(r, i, 19);
    p->limit_low = get_double(r, i, 20);
    p->limit_low_low = get_double(r, i, 21);
    p->deadband = get_double(r, i, 22);
    p->min_duration_s = get_i64(r, i, 23);
    p->rate_limit = get_double(r, i, 24);
    p->rate_window_s = get_i64(r, i, 25);
    p->range_min = get_double(r, i, 26);
    p->range_max = get_double(r, i, 27);
    p->expected_interval_s = get_i64(r, i, 28);
    p->offline_factor = get_double(r, i, 29);
    p->frozen_samples = get_i64(r, i, 30);
    p->frozen_epsilon = get_double(r, i, 31);
    p->has_fault_value = !PQgetisnull(r, i, 32);
    p->fault_value = (int)get_i64(r, i, 32);
    p->enterprise_id = get_i64(r, i, 33);
    snprintf(p->code, sizeof p->code, "%s", PQgetvalue(r, i, 34));
}

static db_status points_of(PGresult *r, db_alarm_point **rows, size_t *nrows)
{
    int n = PQntuples(r);
    db_alarm_point *out = calloc(n ? (size_t)n : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return DB_HARD;
    }
    for (int i = 0; i < n; i++)
        row_to_point(r, i, &out[i]);
    PQclear(r);
    *rows = out;
    *nrows = (size_t)n;
    return DB_OK;
}

/* ---- rule state ----------------------------------------------------------------- */

static db_status exec_ids(db_conn *c, const char *stmt, const int64_t *ids, size_t n,
                          PGresult **out)
{
    char *lit = db_i64_array(ids, n);
    if (!lit)
        return DB_HARD;
    const char *p[1] = {lit};
    db_status st;
    PGresult *r = db_exec(c, stmt, 1, p, &st);
    free(lit);
    if (!r)
        return st;
    *out = r;
    return DB_OK;
}

db_status db_alarms_state_load(db_conn *c, const int64_t *point_ids, size_t n,
                               db_alarm_point **rows, size_t *nrows)
{
    PGresult *r = NULL;
    db_status st = exec_ids(c, "alm_state_load", point_ids, n, &r);
    return st != DB_OK ? st : points_of(r, rows, nrows);
}

typedef struct {
    db_alarm_point **rows;
    size_t *nrows;
} lock_out;

static db_status lock_done(void *arg, const PGresult *r, const db_diag *diag)
{
    (void)diag;
    lock_out o = *(lock_out *)arg;
    free(arg);
    if (!r)
        return DB_OK;
    int n = PQntuples(r);
    db_alarm_point *out = calloc(n ? (size_t)n : 1, sizeof *out);
    if (!out)
        return DB_HARD;
    for (int i = 0; i < n; i++)
        row_to_point(r, i, &out[i]);
    *o.rows = out;
    *o.nrows = (size_t)n;
    return DB_OK;
}

db_status db_alarms_state_lock(db_conn *c, const int64_t *point_ids, size_t n,
                               db_alarm_point **rows, size_t *nrows)
{
    *rows = NULL;
    *nrows = 0;
    char *lit = db_i64_array(point_ids, n);
    lock_out *o = malloc(sizeof *o);
    if (!lit || !o) {
        free(lit);
        free(o);
        return DB_HARD;
    }
    *o = (lock_out){rows, nrows};
    const char *p[1] = {lit};
    /* veto: out of memory; flushed by the caller before the COMMIT anyway */
    db_status st = db_queue_bin(c, "alm_state_load", 1, p, NULL, NULL, lock_done, o, 1);
    free(lit);
    return st;
}

db_status db_alarms_state_init(db_conn *c, const int64_t *point_ids, size_t n)
{
    PGresult *r = NULL;
    db_status st = exec_ids(c, "alm_state_init", point_ids, n, &r);
    PQclear(r);
    return st;
}

db_status db_alarms_state_init_all(db_conn *c)
{
    db_status st;
    PQclear(db_exec(c, "alm_state_init_all", 0, NULL, &st));
    return st;
}

db_status db_alarms_offline_due(db_conn *c, int64_t now_s, int limit, db_alarm_point **rows,
                                size_t *nrows)
{
    char now[24], lim[24];
    const char *p[2] = {db_i64(now, now_s), db_i64(lim, limit)};
    db_status st;
    PGresult *r = db_exec(c, "alm_offline_due", 2, p, &st);
    return r ? points_of(r, rows, nrows) : st;
}

/* The write-back's columns as binary arrays (array_send format: one
 * dimension, big-endian values, length -1 for a NULL): neither printf here
 * nor a JSON document to parse there (building the document with jansson was
 * ~12 % of the ingest server's CPU in ingest_bench.sh, jsonb_in ~3 % of
 * PostgreSQL's). */
enum { ST_COLS = 17, OID_BOOL = 16, OID_INT2 = 21, OID_INT4 = 23, OID_INT8 = 20, OID_FLOAT8 = 701 };

typedef struct {
    unsigned char *p;
    size_t len;
} barr;

static void put_u32(barr *a, uint32_t v)
{
    unsigned char *q = a->p + a->len;
    q[0] = (unsigned char)(v >> 24);
    q[1] = (unsigned char)(v >> 16);
    q[2] = (unsigned char)(v >> 8);
    q[3] = (unsigned char)v;
    a->len += 4;
}

static void put_u64(barr *a, uint64_t v)
{
    put_u32(a, (uint32_t)(v >> 32));
    put_u32(a, (uint32_t)v);
}

/* elem: the element's size in bytes; hasnull: whether some element may be NULL */
static int barr_start(barr *a, uint32_t oid, size_t n, size_t elem, int hasnull)
{
    a->p = malloc(20 + n * (4 + elem));
    a->len = 0;
    if (!a->p)
        return -1;
    put_u32(a, 1);
    put_u32(a, hasnull ? 1 : 0);
    put_u32(a, oid);
    put_u32(a, (uint32_t)n);
    put_u32(a, 1);
    return 0;
}

static void put_i64(barr *a, int64_t v)
{
    put_u32(a, 8);
    put_u64(a, (uint64_t)v);
}

static void put_f64_or_null(barr *a, double v)
{
    if (!isfinite(v)) {
        put_u32(a, UINT32_MAX); /* -1: NULL */
        return;
    }
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u32(a, 8);
    put_u64(a, u);
}

static void put_i16(barr *a, int v)
{
    put_u32(a, 2);
    a->p[a->len++] = (unsigned char)((unsigned)v >> 8);
    a->p[a->len++] = (unsigned char)v;
}

static void put_bool(barr *a, int v)
{
    put_u32(a, 1);
    a->p[a->len++] = v ? 1 : 0;
}

db_status db_alarms_state_store(db_conn *c, const db_alarm_state *states, size_t n)
{
    if (n == 0)
        return DB_OK;
    for (size_t i = 0; i < n; i++)
        if (states[i].frozen_count < 0 || states[i].frozen_count > INT32_MAX)
            return DB_BAD; /* the column is an integer >= 0 */
    barr a[ST_COLS] = {{0}};
    static const struct {
        uint32_t oid;
        size_t elem;
        int hasnull;
    } cols[ST_COLS] = {
        {OID_INT8, 8, 0},   {OID_INT2, 2, 0}, {OID_INT2, 2, 0}, {OID_BOOL, 1, 0},
        {OID_BOOL, 1, 0},   {OID_BOOL, 1, 0}, {OID_BOOL, 1, 0}, {OID_BOOL, 1, 0},
        {OID_INT8, 8, 0},   {OID_INT8, 8, 0}, {OID_INT8, 8, 0}, {OID_INT8, 8, 0},
        {OID_FLOAT8, 8, 1}, {OID_INT4, 4, 0}, {OID_INT8, 8, 0}, {OID_FLOAT8, 8, 1},
        {OID_INT8, 8, 1},
    };
    db_status st = DB_HARD;
    for (int k = 0; k < ST_COLS; k++)
        if (barr_start(&a[k], cols[k].oid, n, cols[k].elem, cols[k].hasnull) != 0)
            goto out;
    for (size_t i = 0; i < n; i++) {
        const db_alarm_state *s = &states[i];
        put_i64(&a[0], s->point_id);
        put_i16(&a[1], s->level);
        put_i16(&a[2], s->pending_level);
        put_bool(&a[3], s->rate_active);
        put_bool(&a[4], s->frozen_active);
        put_bool(&a[5], s->range_active);
        put_bool(&a[6], s->offline_active);
        put_bool(&a[7], s->has_value);
        put_i64(&a[8], s->pending_since);
        put_i64(&a[9], s->level_since);
        put_i64(&a[10], s->last_ts);
        put_i64(&a[11], s->last_value_ts);
        put_f64_or_null(&a[12], s->last_value);
        put_u32(&a[13], 4);
        put_u32(&a[13], (uint32_t)s->frozen_count);
        put_i64(&a[14], s->rate_ref_ts);
        put_f64_or_null(&a[15], s->rate_ref_value);
        if (s->offline_due_at == INT64_MAX)
            put_u32(&a[16], UINT32_MAX); /* no deadline: NULL */
        else
            put_i64(&a[16], s->offline_due_at);
    }
    const char *p[ST_COLS];
    int len[ST_COLS], fmt[ST_COLS];
    for (int k = 0; k < ST_COLS; k++) {
        p[k] = (const char *)a[k].p;
        len[k] = (int)a[k].len;
        fmt[k] = 1;
    }
    st = db_queue_bin(c, "alm_state_store", ST_COLS, p, len, fmt, NULL, NULL, 0);
out:
    for (int k = 0; k < ST_COLS; k++)
        free(a[k].p);
    return st;
}

/* ---- transitions ---------------------------------------------------------------- */

/* Runs a statement answering the alarm id it wrote (no row: nothing written). */
static db_status exec_alarm_id(db_conn *c, const char *stmt, int nparams, const char *const *p,
                               int64_t *alarm_id)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, nparams, p, &st);
    if (!r)
        return st;
    *alarm_id = PQntuples(r) > 0 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_alarms_raise(db_conn *c, const db_alarm_step *s, int64_t *alarm_id, int *retrigger,
                          int64_t *count, int *shelved)
{
    char eid[24], pid[24], lvl[24], val[40], th[40], ts[24], ack[24], hdl[24], win[24];
    const char *p[13] = {db_i64(eid, s->enterprise_id),
                         db_i64(pid, s->point_id),
                         s->source,
                         s->channel,
                         s->kind,
                         db_i64(lvl, s->level),
                         s->reason,
                         f64_param(val, s->value),
                         f64_param(th, s->threshold),
                         db_i64(ts, s->ts_s),
                         db_i64(ack, s->ack_within_s),
                         db_i64(hdl, s->handle_within_s),
                         db_i64(win, s->episode_window_s)};
    db_status st;
    PGresult *r = db_exec(c, "alm_raise", 13, p, &st);
    if (!r)
        return st;
    *alarm_id = 0;
    *retrigger = 0;
    *count = 0;
    *shelved = 0;
    if (PQntuples(r) > 0) {
        *alarm_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *retrigger = strcmp(PQgetvalue(r, 0, 1), "retrigger") == 0;
        *count = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        *shelved = PQgetvalue(r, 0, 3)[0] == '1';
    }
    PQclear(r);
    return DB_OK;
}

db_status db_alarms_change(db_conn *c, const db_alarm_step *s, int64_t *alarm_id)
{
    char pid[24], lvl[24], val[40], th[40], ts[24];
    const char *p[9] = {db_i64(pid, s->point_id),
                        s->channel,
                        s->kind,
                        db_i64(lvl, s->level),
                        s->action,
                        s->reason,
                        f64_param(val, s->value),
                        f64_param(th, s->threshold),
                        db_i64(ts, s->ts_s)};
    return exec_alarm_id(c, "alm_change", 9, p, alarm_id);
}

db_status db_alarms_clear(db_conn *c, const db_alarm_step *s, int64_t *alarm_id)
{
    char pid[24], val[40], th[40], ts[24];
    const char *p[6] = {
        db_i64(pid, s->point_id),    s->channel,         s->reason, f64_param(val, s->value),
        f64_param(th, s->threshold), db_i64(ts, s->ts_s)};
    return exec_alarm_id(c, "alm_clear", 6, p, alarm_id);
}

db_status db_alarms_gateway_open(db_conn *c, int64_t point_id, char *kind, size_t kindlen)
{
    char pid[24];
    const char *p[1] = {db_i64(pid, point_id)};
    db_status st;
    PGresult *r = db_exec(c, "alm_gw_open", 1, p, &st);
    if (!r)
        return st;
    snprintf(kind, kindlen, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return DB_OK;
}

db_status db_alarms_video(db_conn *c, int64_t enterprise_id, const char *camera, int64_t ts_us,
                          const char *alarm_type, int *level, long ack_within_s,
                          long handle_within_s, int64_t *alarm_id)
{
    char eid[24], ts[24], lvl[24], ack[24], hdl[24];
    const char *p[7] = {db_i64(eid, enterprise_id),  camera,
                        db_i64(ts, ts_us),           alarm_type,
                        db_i64(lvl, *level),         db_i64(ack, ack_within_s),
                        db_i64(hdl, handle_within_s)};
    db_status st;
    PGresult *r = db_exec(c, "alm_video", 7, p, &st);
    if (!r)
        return st;
    *alarm_id = 0;
    if (PQntuples(r) > 0) {
        *alarm_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *level = atoi(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return DB_OK;
}

db_status db_alarms_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason)
{
    return db_risk_request_recompute(c, enterprise_id, reason);
}

db_status db_alarms_flag_overdue(db_conn *c, size_t *n_flagged)
{
    db_status st;
    PGresult *r = db_exec(c, "alm_overdue", 0, NULL, &st);
    if (!r)
        return st;
    *n_flagged = (size_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return DB_OK;
}

/* ---- enterprise-offline alarms ------------------------------------------------------- */

db_status db_alarms_eoff_attach(db_conn *c, int64_t enterprise_id, int64_t point_id, int64_t ts_s,
                                int64_t *alarm_id, int *added)
{
    char eid[24], pid[24], ts[24];
    const char *p[3] = {db_i64(eid, enterprise_id), db_i64(pid, point_id), db_i64(ts, ts_s)};
    db_status st;
    PGresult *r = db_exec(c, "alm_eoff_attach", 3, p, &st);
    if (!r)
        return st;
    *alarm_id = get_i64(r, 0, 0);
    *added = get_i64(r, 0, 1) > 0;
    PQclear(r);
    return DB_OK;
}

db_status db_alarms_eoff_form(db_conn *c, int64_t enterprise_id, int64_t ts_s, int min_points,
                              long ack_within_s, long handle_within_s, int64_t *alarm_id,
                              int64_t *npoints)
{
    char eid[24], ts[24], mn[24], ack[24], hdl[24];
    const char *p[5] = {db_i64(eid, enterprise_id), db_i64(ts, ts_s), db_i64(mn, min_points),
                        db_i64(ack, ack_within_s), db_i64(hdl, handle_within_s)};
    db_status st;
    PGresult *r = db_exec(c, "alm_eoff_form", 5, p, &st);
    if (!r)
        return st;
    *alarm_id = PQntuples(r) > 0 ? get_i64(r, 0, 0) : 0;
    *npoints = PQntuples(r) > 0 ? get_i64(r, 0, 1) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_alarms_eoff_back(db_conn *c, int64_t point_id, int64_t ts_s, int64_t *alarm_id,
                              int *cleared)
{
    char pid[24], ts[24];
    const char *p[2] = {db_i64(pid, point_id), db_i64(ts, ts_s)};
    *alarm_id = 0;
    *cleared = 0;
    db_status st;
    PGresult *r = db_exec(c, "alm_eoff_lock", 1, p, &st);
    if (!r)
        return st;
    int member = PQntuples(r) > 0;
    PQclear(r);
    if (!member)
        return DB_OK;
    r = db_exec(c, "alm_eoff_back", 2, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) > 0) {
        *alarm_id = get_i64(r, 0, 0);
        *cleared = get_i64(r, 0, 1) > 0;
    }
    PQclear(r);
    return DB_OK;
}
