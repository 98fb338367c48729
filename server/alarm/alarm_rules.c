/* alarm_rules.c — engine transitions to alarm rows, inside the caller's transaction.
 *
 * Why the state lives in PostgreSQL and not in memory: two writer threads (or two ingest
 * nodes) may receive data of the same point, a kill -9 may come at any moment, and the
 * worker's offline timer must see what the writers saw.  Keeping the state row next to the
 * readings and locking it for the length of the write transaction gives one serial history
 * per point without any coordination outside the database. */
#include "alarm_rules.h"

#include "ing_decode.h"
#include "rds.h"
#include "risk_point.h"
#include "srv_config.h"
#include "srv_log.h"

#include <jansson.h>
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
     "SELECT " STATE_COLUMNS "WHERE s.point_id = ANY($1::bigint[]) ORDER BY s.point_id FOR "
     "UPDATE OF s"},
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
    {"alm_state_store",
     "UPDATE point_rule_state s SET level = u.level, pending_level = u.pending_level, "
     "rate_active = u.rate_active, frozen_active = u.frozen_active, range_active = "
     "u.range_active, offline_active = u.offline_active, has_value = u.has_value, "
     "pending_since = u.pending_since, level_since = u.level_since, last_ts = u.last_ts, "
     "last_value_ts = u.last_value_ts, last_value = u.last_value, frozen_count = "
     "u.frozen_count, rate_ref_ts = u.rate_ref_ts, rate_ref_value = u.rate_ref_value, "
     "offline_due_at = u.offline_due_at, updated_at = now() FROM jsonb_to_recordset($1::jsonb) "
     "AS u(point_id bigint, level smallint, pending_level smallint, rate_active boolean, "
     "frozen_active boolean, range_active boolean, offline_active boolean, has_value boolean, "
     "pending_since bigint, level_since bigint, last_ts bigint, last_value_ts bigint, "
     "last_value float8, frozen_count integer, rate_ref_ts bigint, rate_ref_value float8, "
     "offline_due_at bigint) WHERE s.point_id = u.point_id"},
    /* $1 enterprise $2 point $3 source $4 channel $5 kind $6 level $7 reason $8 value
     * $9 threshold $10 ts (s) $11 ack within (s) $12 handle within (s) */
    {"alm_raise",
     "WITH a AS (INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, "
     "max_level, reason, value, threshold, raised_at, ack_deadline, handle_deadline) VALUES "
     "($1::bigint, $2::bigint, $3, $4, $5, $6::smallint, $6::smallint, $7, $8::float8, "
     "$9::float8, to_timestamp($10::bigint), greatest(now(), to_timestamp($10::bigint)) + "
     "$11::float8 * interval '1 second', greatest(now(), to_timestamp($10::bigint)) + "
     "$12::float8 * interval '1 second') ON CONFLICT DO NOTHING RETURNING id) INSERT INTO "
     "alarm_events " ALARM_EVENT_COLS " SELECT id, $1::bigint, to_timestamp($10::bigint), 'raise', "
     "$5, $6::smallint, $8::float8, $9::float8, $7 FROM a RETURNING alarm_id"},
    /* $1 point $2 channel $3 kind $4 level $5 action $6 reason $7 value $8 threshold $9 ts */
    {"alm_change",
     "WITH a AS (UPDATE alarms SET kind = $3, level = $4::smallint, max_level = "
     "greatest(max_level, $4::smallint), escalated_at = CASE WHEN $5 = 'escalate' THEN "
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
     "'video', 'video', $5::smallint, $5::smallint, v.alarm_type, v.occurred_at, "
     "v.occurred_at, 'instantaneous', greatest(now(), v.occurred_at) + $6::float8 * interval "
     "'1 second', greatest(now(), v.occurred_at) + $7::float8 * interval '1 second', $2, v.id "
     "FROM v ON CONFLICT DO NOTHING RETURNING id, raised_at, reason) INSERT INTO "
     "alarm_events " ALARM_EVENT_COLS
     " SELECT id, $1::bigint, raised_at, 'raise', 'video', $5::smallint, NULL, NULL, reason "
     "FROM a RETURNING alarm_id"},
    {"alm_recompute",
     "INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ($1::bigint, $2) ON "
     "CONFLICT DO NOTHING"},
    /* Deadline flags: set once, each with its event; the enterprises get a recompute (H). */
    {"alm_overdue",
     "WITH f AS (UPDATE alarms SET ack_overdue = ack_overdue OR (state = 'active' AND "
     "ack_deadline < now()), handle_overdue = handle_overdue OR (state IN ('active', "
     "'acknowledged') AND handle_deadline < now()) WHERE state IN ('active', 'acknowledged') "
     "AND ((NOT ack_overdue AND state = 'active' AND ack_deadline < now()) OR (NOT "
     "handle_overdue AND handle_deadline < now())) RETURNING id, enterprise_id, kind, level, "
     "ack_overdue, handle_overdue, ack_deadline, handle_deadline), e AS (INSERT INTO "
     "alarm_events (alarm_id, enterprise_id, at, action, kind, level, reason, actor) SELECT id, "
     "enterprise_id, ack_deadline, 'ack_overdue', kind, level, 'not_acknowledged_in_time', "
     "'worker' FROM f WHERE ack_overdue AND NOT EXISTS (SELECT 1 FROM alarm_events x WHERE "
     "x.alarm_id = f.id AND x.action = 'ack_overdue') UNION ALL SELECT id, enterprise_id, "
     "handle_deadline, 'handle_overdue', kind, level, 'not_handled_in_time', 'worker' FROM f "
     "WHERE handle_overdue AND NOT EXISTS (SELECT 1 FROM alarm_events x WHERE x.alarm_id = f.id "
     "AND x.action = 'handle_overdue')), r AS (INSERT INTO risk_recompute_requests "
     "(enterprise_id, reason) SELECT DISTINCT enterprise_id, 'alarm_overdue' FROM f ON "
     "CONFLICT DO NOTHING) SELECT count(*) FROM f"},
};

void alarm_register_statements(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* ---- live events, published after commit ------------------------------ */

#define PUB_MAX 256

static _Thread_local struct {
    char *msg[PUB_MAX];
    size_t n;
} pub;

void alarm_pub_reset(void)
{
    for (size_t i = 0; i < pub.n; i++)
        free(pub.msg[i]);
    pub.n = 0;
}

void alarm_pub_flush(void)
{
    for (size_t i = 0; i < pub.n; i++) {
        rds_publish("dw:events", NULL, 0, pub.msg[i]);
        free(pub.msg[i]);
    }
    pub.n = 0;
}

/* Live push is best effort (the alarm itself is in PostgreSQL): beyond PUB_MAX per
 * transaction the rest is dropped. */
static void pub_alarm(const char *action, const char *alarm_id, int64_t enterprise_id,
                      const char *point, const char *kind, int level, int64_t ts, double value)
{
    if (pub.n >= PUB_MAX)
        return;
    json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s?, s:s, s:i, s:I}", "type", "alarm", "action",
                          action, "alarm_id", alarm_id, "enterprise_id", (json_int_t)enterprise_id,
                          "point", point, "kind", kind, "level", level, "ts", (json_int_t)ts);
    if (!o)
        return;
    if (isfinite(value))
        json_object_set_new(o, "value", json_real(value));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (s)
        pub.msg[pub.n++] = s;
}

/* ---- helpers ------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static void fmt_double(char *buf, size_t len, double v, const char **p)
{
    if (isfinite(v)) {
        snprintf(buf, len, "%.17g", v);
        *p = buf;
    } else {
        *p = NULL;
    }
}

static double get_double(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NAN : strtod(PQgetvalue(r, row, col), NULL);
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

typedef struct {
    int64_t point_id, enterprise_id;
    const char *code; /* borrowed from the result */
    risk_point_cfg cfg;
    risk_point_state st;
    int cfg_ok;
} point_row;

static risk_digital_role role_of(const char *kind, int *default_fault)
{
    *default_fault = 1;
    if (strcmp(kind, "airlock_fault") == 0)
        return RISK_DIGITAL_AIRLOCK;
    if (strcmp(kind, "spark_detected") == 0)
        return RISK_DIGITAL_SPARK;
    if (strcmp(kind, "fan_running") == 0) {
        *default_fault = 0;
        return RISK_DIGITAL_FAN_RUN;
    }
    if (strcmp(kind, "power_on") == 0)
        *default_fault = 0;
    return RISK_DIGITAL_FAULT_SIGNAL;
}

static void row_to_point(const PGresult *r, int i, point_row *pr)
{
    memset(pr, 0, sizeof *pr);
    pr->point_id = get_i64(r, i, 0);
    risk_point_state *st = &pr->st;
    risk_point_state_init(st, 0);
    st->level = (uint8_t)get_i64(r, i, 1);
    st->pending_level = (uint8_t)get_i64(r, i, 2);
    st->rate_active = (uint8_t)get_i64(r, i, 3);
    st->frozen_active = (uint8_t)get_i64(r, i, 4);
    st->range_active = (uint8_t)get_i64(r, i, 5);
    st->offline_active = (uint8_t)get_i64(r, i, 6);
    st->has_value = (uint8_t)get_i64(r, i, 7);
    st->pending_since = get_i64(r, i, 8);
    st->level_since = get_i64(r, i, 9);
    st->last_ts = get_i64(r, i, 10);
    st->last_value_ts = get_i64(r, i, 11);
    st->last_value = get_double(r, i, 12);
    st->frozen_count = (uint32_t)get_i64(r, i, 13);
    st->rate_ref_ts = get_i64(r, i, 14);
    st->rate_ref_value = get_double(r, i, 15);

    int digital = strcmp(PQgetvalue(r, i, 16), "digital") == 0;
    risk_point_cfg *c = &pr->cfg;
    risk_point_cfg_init(c, digital ? RISK_POINT_DIGITAL : RISK_POINT_ANALOG);
    int def_fault;
    c->digital_role = role_of(PQgetvalue(r, i, 17), &def_fault);
    c->high = get_double(r, i, 18);
    c->high_high = get_double(r, i, 19);
    c->low = get_double(r, i, 20);
    c->low_low = get_double(r, i, 21);
    c->deadband = get_double(r, i, 22);
    c->min_duration_s = get_i64(r, i, 23);
    c->rate_delta = get_double(r, i, 24);
    c->rate_window_s = get_i64(r, i, 25);
    c->range_min = get_double(r, i, 26);
    c->range_max = get_double(r, i, 27);
    c->expected_interval_s = get_i64(r, i, 28);
    c->offline_factor = get_double(r, i, 29);
    c->frozen_samples = digital ? 0 : (uint32_t)get_i64(r, i, 30);
    c->frozen_epsilon = get_double(r, i, 31);
    c->fault_value = PQgetisnull(r, i, 32) ? def_fault : (int)get_i64(r, i, 32);
    pr->enterprise_id = get_i64(r, i, 33);
    pr->code = PQgetvalue(r, i, 34);
    const char *why = NULL;
    pr->cfg_ok = risk_point_cfg_validate(c, &why) == 0;
    if (!pr->cfg_ok)
        LOG_WARN("point alarm configuration invalid: rules skipped", "point=%s why=%s", pr->code,
                 srv_log_q((char[200]){0}, 200, why));
}

static json_t *nullable_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *state_json(int64_t point_id, const risk_point_cfg *cfg, const risk_point_state *st)
{
    int64_t due = risk_point_offline_due_at(cfg, st);
    json_t *o = json_pack(
        "{s:I, s:i, s:i, s:b, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:o}",
        "point_id", (json_int_t)point_id, "level", st->level, "pending_level", st->pending_level,
        "rate_active", st->rate_active, "frozen_active", st->frozen_active, "range_active",
        st->range_active, "offline_active", st->offline_active, "has_value", st->has_value,
        "pending_since", (json_int_t)st->pending_since, "level_since", (json_int_t)st->level_since,
        "last_ts", (json_int_t)st->last_ts, "last_value_ts", (json_int_t)st->last_value_ts,
        "last_value", nullable_real(st->last_value), "frozen_count", (json_int_t)st->frozen_count,
        "rate_ref_ts", (json_int_t)st->rate_ref_ts, "rate_ref_value",
        nullable_real(st->rate_ref_value));
    if (o)
        json_object_set_new(o, "offline_due_at",
                            due == INT64_MAX ? json_null() : json_integer((json_int_t)due));
    return o;
}

static const char *channel_of(risk_alarm_kind k)
{
    switch (k) {
    case RISK_ALARM_RATE_OF_RISE:
        return "rate";
    case RISK_ALARM_FROZEN:
        return "frozen";
    case RISK_ALARM_OUT_OF_RANGE:
        return "range";
    case RISK_ALARM_OFFLINE:
        return "offline";
    default:
        return "limit";
    }
}

/* Writes one engine transition.  *changed is set when a row was written (a replay finds
 * the episode already there and writes nothing). */
static db_status apply_transition(db_conn *c, const point_row *pr, const risk_alarm_transition *t,
                                  int *changed)
{
    char pid[24], eid[24], ts[24], lvl[8], vbuf[40], thbuf[40], ack[24], hdl[24];
    const char *val, *th;
    snprintf(pid, sizeof pid, "%lld", (long long)pr->point_id);
    snprintf(eid, sizeof eid, "%lld", (long long)pr->enterprise_id);
    snprintf(ts, sizeof ts, "%lld", (long long)t->ts);
    int level = risk_alarm_level(t->kind);
    snprintf(lvl, sizeof lvl, "%d", level);
    snprintf(ack, sizeof ack, "%ld", g_config.alarm_ack_within_s);
    snprintf(hdl, sizeof hdl, "%ld", g_config.alarm_handle_within_s);
    fmt_double(vbuf, sizeof vbuf, t->value, &val);
    fmt_double(thbuf, sizeof thbuf, t->threshold, &th);
    const char *chan = channel_of(t->kind);
    const char *kind = risk_alarm_kind_name(t->kind);
    const char *reason = risk_reason_name(t->reason);
    db_status st;
    PGresult *r;
    const char *action = risk_tr_action_name(t->action);
    switch (t->action) {
    case RISK_TR_RAISE: {
        const char *p[12] = {eid, pid, "rule", chan, kind, lvl, reason, val, th, ts, ack, hdl};
        r = db_exec(c, "alm_raise", 12, p, &st);
        break;
    }
    case RISK_TR_ESCALATE:
    case RISK_TR_DEESCALATE: {
        const char *p[9] = {pid, chan, kind, lvl, action, reason, val, th, ts};
        r = db_exec(c, "alm_change", 9, p, &st);
        break;
    }
    default: {
        const char *p[6] = {pid, chan, reason, val, th, ts};
        r = db_exec(c, "alm_clear", 6, p, &st);
        break;
    }
    }
    if (!r)
        return st;
    if (PQntuples(r) > 0) {
        *changed = 1;
        pub_alarm(action, PQgetvalue(r, 0, 0), pr->enterprise_id, pr->code, kind, level, t->ts,
                  t->value);
    }
    PQclear(r);
    return DB_OK;
}

static db_status request_recompute(db_conn *c, int64_t enterprise_id, const char *why)
{
    char eid[24];
    snprintf(eid, sizeof eid, "%lld", (long long)enterprise_id);
    const char *p[2] = {eid, why};
    db_status st;
    PGresult *r = db_exec(c, "alm_recompute", 2, p, &st);
    if (!r)
        return st;
    PQclear(r);
    return DB_OK;
}

/* Runs the rule state rows in `rows` against their samples (or only the offline timer when
 * samples is NULL), stores the new states with one statement, then the transitions. */
#define TR_CAP 32

typedef struct {
    int64_t point_id, ts_us;
    double value;
} sample_ref;

static int cmp_sample(const void *a, const void *b)
{
    const sample_ref *x = a, *y = b;
    if (x->point_id != y->point_id)
        return x->point_id < y->point_id ? -1 : 1;
    return (x->ts_us > y->ts_us) - (x->ts_us < y->ts_us);
}

static db_status eval_rows(db_conn *c, const PGresult *rows, const sample_ref *s, size_t n,
                           int64_t now_s, size_t *n_changed)
{
    int nrows = PQntuples(rows);
    json_t *store = json_array();
    risk_sample *buf = malloc((n ? n : 1) * sizeof *buf);
    point_row *prs = calloc(nrows ? (size_t)nrows : 1, sizeof *prs);
    risk_alarm_transition(*trs)[TR_CAP] = calloc(nrows ? (size_t)nrows : 1, sizeof *trs);
    size_t *ntr = calloc(nrows ? (size_t)nrows : 1, sizeof *ntr);
    db_status st = DB_OK;
    if (!store || !buf || !prs || !trs || !ntr) {
        st = DB_HARD;
        goto out;
    }
    size_t k = 0; /* samples and rows are both sorted by point id */
    for (int i = 0; i < nrows; i++) {
        point_row *pr = &prs[i];
        row_to_point(rows, i, pr);
        size_t m = 0;
        while (s && k < n && s[k].point_id < pr->point_id)
            k++;
        while (s && k < n && s[k].point_id == pr->point_id) {
            /* the engine works in whole seconds */
            buf[m].ts = floor_div(s[k].ts_us, 1000000);
            buf[m].value = s[k].value;
            m++;
            k++;
        }
        if (!pr->cfg_ok)
            continue;
        risk_point_state next;
        size_t nt = s ? risk_point_eval(&pr->cfg, &pr->st, buf, m, now_s, &next, trs[i], TR_CAP)
                      : risk_point_check_offline(&pr->cfg, &pr->st, now_s, &next, trs[i], TR_CAP);
        if (nt > TR_CAP) {
            LOG_WARN("more alarm transitions than recorded in one batch", "point=%s n=%zu",
                     pr->code, nt);
            nt = TR_CAP;
        }
        ntr[i] = nt;
        pr->st = next;
        json_array_append_new(store, state_json(pr->point_id, &pr->cfg, &pr->st));
    }
    if (json_array_size(store) > 0) {
        char *js = json_dumps(store, JSON_COMPACT);
        if (!js) {
            st = DB_HARD;
            goto out;
        }
        const char *p[1] = {js};
        PGresult *r = db_exec(c, "alm_state_store", 1, p, &st);
        free(js);
        if (!r)
            goto out;
        PQclear(r);
    }
    int64_t last_recompute = 0;
    for (int i = 0; i < nrows; i++) {
        int changed = 0;
        for (size_t t = 0; t < ntr[i]; t++) {
            st = apply_transition(c, &prs[i], &trs[i][t], &changed);
            if (st != DB_OK)
                goto out;
        }
        if (changed) {
            *n_changed += ntr[i];
            if (prs[i].enterprise_id != last_recompute) {
                st = request_recompute(c, prs[i].enterprise_id, "alarm");
                if (st != DB_OK)
                    goto out;
                last_recompute = prs[i].enterprise_id;
            }
        }
    }
out:
    json_decref(store);
    free(buf);
    free(prs);
    free(trs);
    free(ntr);
    return st;
}

static void ids_literal(char *out, size_t len, const int64_t *ids, size_t n)
{
    size_t o = (size_t)snprintf(out, len, "{");
    for (size_t i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%lld", i ? "," : "", (long long)ids[i]);
    if (o < len)
        snprintf(out + o, len - o, "}");
}

db_status alarm_apply_readings(db_conn *c, int64_t enterprise_id, const int64_t *point_ids,
                               const int64_t *ts_us, const double *values, size_t n, int64_t now_us)
{
    (void)enterprise_id; /* the points were resolved for this enterprise by the caller */
    if (n == 0)
        return DB_OK;
    sample_ref *s = malloc(n * sizeof *s);
    int64_t *distinct = malloc(n * sizeof *distinct);
    char *lit = malloc(n * 21 + 3);
    db_status st = DB_HARD;
    PGresult *rows = NULL;
    if (!s || !distinct || !lit)
        goto out;
    for (size_t i = 0; i < n; i++)
        s[i] = (sample_ref){point_ids[i], ts_us[i], values[i]};
    qsort(s, n, sizeof *s, cmp_sample);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++)
        if (nd == 0 || distinct[nd - 1] != s[i].point_id)
            distinct[nd++] = s[i].point_id;
    ids_literal(lit, n * 21 + 3, distinct, nd);
    const char *p[1] = {lit};
    rows = db_exec(c, "alm_state_load", 1, p, &st);
    if (!rows)
        goto out;
    if ((size_t)PQntuples(rows) < nd) {
        /* first data of some points: create their rows, then lock them all in order */
        PQclear(rows);
        PGresult *r = db_exec(c, "alm_state_init", 1, p, &st);
        if (!r) {
            rows = NULL;
            goto out;
        }
        PQclear(r);
        rows = db_exec(c, "alm_state_load", 1, p, &st);
        if (!rows)
            goto out;
    }
    size_t changed = 0;
    st = eval_rows(c, rows, s, n, floor_div(now_us, 1000000), &changed);
out:
    PQclear(rows);
    free(s);
    free(distinct);
    free(lit);
    return st;
}

db_status alarm_check_offline(db_conn *c, int64_t now_us, int limit, size_t *n_changed)
{
    *n_changed = 0;
    db_status st;
    PGresult *r = db_exec(c, "alm_state_init_all", 0, NULL, &st);
    if (!r)
        return st;
    PQclear(r);
    char now[24], lim[16];
    int64_t now_s = floor_div(now_us, 1000000);
    snprintf(now, sizeof now, "%lld", (long long)now_s);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[2] = {now, lim};
    PGresult *rows = db_exec(c, "alm_offline_due", 2, p, &st);
    if (!rows)
        return st;
    st = eval_rows(c, rows, NULL, 0, now_s, n_changed);
    PQclear(rows);
    return st;
}

db_status alarm_flag_overdue(db_conn *c, size_t *n_flagged)
{
    db_status st;
    PGresult *r = db_exec(c, "alm_overdue", 0, NULL, &st);
    if (!r)
        return st;
    *n_flagged = (size_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return DB_OK;
}

/* ---- gateway events and video ------------------------------------------- */

typedef struct {
    int64_t point_id, ts_us;
    int level;
    double value, threshold;
} gw_event;

static int cmp_gw(const void *a, const void *b)
{
    const gw_event *x = a, *y = b;
    if (x->point_id != y->point_id)
        return x->point_id < y->point_id ? -1 : 1;
    return (x->ts_us > y->ts_us) - (x->ts_us < y->ts_us);
}

static const char *gw_kind(int level, int *severity)
{
    switch (level) {
    case ING_EV_HIGH:
        *severity = 1;
        return "high";
    case ING_EV_LOW:
        *severity = 1;
        return "low";
    case ING_EV_HIGH_HIGH:
        *severity = 2;
        return "high_high";
    case ING_EV_LOW_LOW:
        *severity = 2;
        return "low_low";
    case ING_EV_FAULT:
        *severity = 2;
        return "gateway_fault";
    default:
        *severity = 0;
        return NULL;
    }
}

static db_status apply_gw_event(db_conn *c, int64_t enterprise_id, const gw_event *ev, int *changed)
{
    char pid[24], eid[24], ts[24], lvl[8], vbuf[40], thbuf[40], ack[24], hdl[24];
    const char *val, *th;
    snprintf(pid, sizeof pid, "%lld", (long long)ev->point_id);
    snprintf(eid, sizeof eid, "%lld", (long long)enterprise_id);
    snprintf(ts, sizeof ts, "%lld", (long long)floor_div(ev->ts_us, 1000000));
    snprintf(ack, sizeof ack, "%ld", g_config.alarm_ack_within_s);
    snprintf(hdl, sizeof hdl, "%ld", g_config.alarm_handle_within_s);
    fmt_double(vbuf, sizeof vbuf, ev->value, &val);
    fmt_double(thbuf, sizeof thbuf, ev->threshold, &th);
    int sev;
    const char *kind = gw_kind(ev->level, &sev);
    snprintf(lvl, sizeof lvl, "%d", sev);
    db_status st;
    const char *p1[1] = {pid};
    PGresult *r = db_exec(c, "alm_gw_open", 1, p1, &st);
    if (!r)
        return st;
    char open_kind[32] = "";
    if (PQntuples(r) > 0)
        snprintf(open_kind, sizeof open_kind, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *action;
    if (!kind) {
        if (!open_kind[0])
            return DB_OK;
        const char *p[6] = {pid, "gateway", "gateway_cleared", val, th, ts};
        r = db_exec(c, "alm_clear", 6, p, &st);
        action = "clear";
        kind = "gateway";
    } else if (!open_kind[0]) {
        const char *p[12] = {eid, pid, "gateway", "gateway", kind, lvl, "gateway_reported",
                             val, th,  ts,        ack,       hdl};
        r = db_exec(c, "alm_raise", 12, p, &st);
        action = "raise";
    } else if (strcmp(open_kind, kind) != 0) {
        int open_sev;
        (void)gw_kind(strcmp(open_kind, "high_high") == 0 || strcmp(open_kind, "low_low") == 0 ||
                              strcmp(open_kind, "gateway_fault") == 0
                          ? ING_EV_HIGH_HIGH
                          : ING_EV_HIGH,
                      &open_sev);
        action = sev >= open_sev ? "escalate" : "deescalate";
        const char *p[9] = {pid, "gateway", kind, lvl, action, "gateway_reported", val, th, ts};
        r = db_exec(c, "alm_change", 9, p, &st);
    } else {
        return DB_OK; /* the gateway repeats itself */
    }
    if (!r)
        return st;
    if (PQntuples(r) > 0) {
        *changed = 1;
        pub_alarm(action, PQgetvalue(r, 0, 0), enterprise_id, NULL, kind, sev,
                  floor_div(ev->ts_us, 1000000), ev->value);
    }
    PQclear(r);
    return DB_OK;
}

db_status alarm_apply_gateway_events(db_conn *c, int64_t enterprise_id, const int64_t *point_ids,
                                     const int64_t *ts_us, const int *levels, const double *values,
                                     const double *thresholds, size_t n, int64_t now_us)
{
    (void)now_us;
    if (n == 0)
        return DB_OK;
    gw_event *ev = malloc(n * sizeof *ev);
    if (!ev)
        return DB_HARD;
    for (size_t i = 0; i < n; i++)
        ev[i] = (gw_event){point_ids[i], ts_us[i], levels[i], values[i], thresholds[i]};
    qsort(ev, n, sizeof *ev, cmp_gw);
    db_status st = DB_OK;
    int changed = 0;
    for (size_t i = 0; i < n && st == DB_OK; i++)
        st = apply_gw_event(c, enterprise_id, &ev[i], &changed);
    free(ev);
    if (st == DB_OK && changed)
        st = request_recompute(c, enterprise_id, "gateway_event");
    return st;
}

/* Smoke and fire are explosion precursors; other video analytics (helmets, intrusion) are
 * level 1. */
static int video_level(const char *type)
{
    static const char *const severe[] = {"fire", "smoke", "spark", "火", "烟"};
    for (size_t i = 0; i < sizeof severe / sizeof severe[0]; i++)
        if (strstr(type, severe[i]))
            return 2;
    return 1;
}

db_status alarm_apply_video(db_conn *c, int64_t enterprise_id, const char *camera, int64_t ts_us,
                            const char *alarm_type)
{
    char eid[24], ts[24], lvl[8], ack[24], hdl[24];
    snprintf(eid, sizeof eid, "%lld", (long long)enterprise_id);
    snprintf(ts, sizeof ts, "%lld", (long long)ts_us);
    int level = video_level(alarm_type);
    snprintf(lvl, sizeof lvl, "%d", level);
    snprintf(ack, sizeof ack, "%ld", g_config.alarm_ack_within_s);
    snprintf(hdl, sizeof hdl, "%ld", g_config.alarm_handle_within_s);
    const char *p[7] = {eid, camera, ts, alarm_type, lvl, ack, hdl};
    db_status st;
    PGresult *r = db_exec(c, "alm_video", 7, p, &st);
    if (!r)
        return st;
    int added = PQntuples(r) > 0;
    if (added)
        pub_alarm("raise", PQgetvalue(r, 0, 0), enterprise_id, NULL, "video", level,
                  floor_div(ts_us, 1000000), NAN);
    PQclear(r);
    return added ? request_recompute(c, enterprise_id, "video_alarm") : DB_OK;
}

db_status alarm_apply_batch(db_conn *c, int64_t enterprise_id, const struct ing_batch *b,
                            const int64_t *point_ids, const char *const *server_code,
                            int64_t now_us)
{
    size_t n = b->kind == ING_KIND_READINGS ? b->n_readings
               : b->kind == ING_KIND_EVENTS ? b->n_events
                                            : b->n_videos;
    if (b->kind == ING_KIND_VIDEOS) {
        for (size_t i = 0; i < n; i++) {
            const ing_video *v = &b->videos[i];
            if (v->reject != ING_REJ_NONE || server_code[i])
                continue;
            db_status st = alarm_apply_video(c, enterprise_id, v->camera, v->ts_us, v->alarm_type);
            if (st != DB_OK)
                return st;
        }
        return DB_OK;
    }
    int64_t *pid = malloc((n ? n : 1) * sizeof *pid), *ts = malloc((n ? n : 1) * sizeof *ts);
    double *val = malloc((n ? n : 1) * sizeof *val), *th = malloc((n ? n : 1) * sizeof *th);
    int *lvl = malloc((n ? n : 1) * sizeof *lvl);
    db_status st = DB_HARD;
    if (!pid || !ts || !val || !th || !lvl)
        goto out;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!point_ids[i] || server_code[i])
            continue;
        pid[m] = point_ids[i];
        if (b->kind == ING_KIND_READINGS) {
            ts[m] = b->readings[i].ts_us;
            val[m] = b->readings[i].value;
        } else {
            const ing_event *e = &b->events[i];
            ts[m] = e->ts_us;
            lvl[m] = e->level;
            val[m] = e->has_value ? e->value : NAN;
            th[m] = e->has_threshold ? e->threshold : NAN;
        }
        m++;
    }
    st = b->kind == ING_KIND_READINGS
             ? alarm_apply_readings(c, enterprise_id, pid, ts, val, m, now_us)
             : alarm_apply_gateway_events(c, enterprise_id, pid, ts, lvl, val, th, m, now_us);
out:
    free(pid);
    free(ts);
    free(val);
    free(th);
    free(lvl);
    return st;
}
