/* alarm_rules.c — engine transitions to alarm rows, inside the caller's transaction.
 *
 * Why the state lives in PostgreSQL and not in memory: two writer threads (or two ingest
 * nodes) may receive data of the same point, a kill -9 may come at any moment, and the
 * worker's offline timer must see what the writers saw.  Keeping the state row next to the
 * readings and locking it for the length of the write transaction gives one serial history
 * per point without any coordination outside the database. */
#include "alarm_rules.h"

#include "db_alarms.h"
#include "db_filings.h"
#include "db_gateway_offline.h"
#include "ing_decode.h"
#include "srv_event.h"
#include "risk_point.h"
#include "srv_config.h"
#include "srv_log.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void alarm_register_statements(void)
{
    db_alarms_register();
    db_gateway_offline_register();
    db_filings_register();
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
        srv_event_publish_text(pub.msg[i]);
        free(pub.msg[i]);
    }
    pub.n = 0;
}

/* Live push is best effort (the alarm itself is in PostgreSQL): beyond PUB_MAX per
 * transaction the rest is dropped. */
static void pub_alarm(const char *action, int64_t alarm_id, int64_t enterprise_id,
                      const char *point, const char *kind, int level, int64_t ts_s, double value,
                      int64_t count)
{
    if (pub.n >= PUB_MAX)
        return;
    srv_event e = {.type = "alarm",
                   .action = action,
                   .id = alarm_id,
                   .enterprise_id = enterprise_id,
                   .ts_ms = ts_s * 1000};
    json_t *fields = json_pack("{s:s?, s:s, s:i}", "point", point, "kind", kind, "level", level);
    if (!fields)
        return;
    if (isfinite(value))
        json_object_set_new(fields, "value", json_real(value));
    if (count > 0) /* triggers of the episode so far: the live feed folds repeats by id */
        json_object_set_new(fields, "count", json_integer((json_int_t)count));
    char *s = srv_event_encode(&e, fields);
    json_decref(fields);
    if (s)
        pub.msg[pub.n++] = s;
}

/* ---- the group's rule states (alarm_group_lock) ------------------------- */

static _Thread_local struct {
    db_alarm_point *rows; /* sorted by point id */
    unsigned char *stale; /* per row: to be loaded again (a transition may have written it) */
    /* per row: evaluated since it was last written; written by alarm_group_flush, with the
     * next job that has transitions or loads rows, or at the end of the group */
    unsigned char *unwritten;
    size_t n;
    int active;
} grp;

void alarm_group_end(void)
{
    free(grp.rows);
    free(grp.stale);
    free(grp.unwritten);
    grp.rows = NULL;
    grp.stale = NULL;
    grp.unwritten = NULL;
    grp.n = 0;
    grp.active = 0;
}

db_status alarm_group_flush(db_conn *c)
{
    size_t m = 0;
    for (size_t i = 0; grp.active && i < grp.n; i++)
        m += grp.unwritten[i];
    if (m == 0)
        return DB_OK;
    db_alarm_state *store = malloc(m * sizeof *store);
    if (!store)
        return DB_HARD;
    m = 0;
    for (size_t i = 0; i < grp.n; i++)
        if (grp.unwritten[i])
            store[m++] = grp.rows[i].st;
    db_status st = db_alarms_state_store(c, store, m);
    free(store);
    if (st == DB_OK)
        memset(grp.unwritten, 0, grp.n);
    return st;
}

db_status alarm_group_lock(db_conn *c, const int64_t *point_ids, size_t n)
{
    alarm_group_end();
    if (n == 0)
        return DB_OK;
    /* grp.rows and grp.n are written when the result is read (alarm_group_ready) */
    return db_alarms_state_lock(c, point_ids, n, &grp.rows, &grp.n);
}

db_status alarm_group_ready(size_t *locked)
{
    *locked = grp.n;
    if (!grp.rows)
        return DB_OK; /* no points: every job loads what it needs */
    grp.stale = calloc(grp.n ? grp.n : 1, 1);
    grp.unwritten = calloc(grp.n ? grp.n : 1, 1);
    if (!grp.stale || !grp.unwritten)
        return DB_HARD;
    grp.active = 1;
    return DB_OK;
}

static db_alarm_point *grp_find(int64_t point_id)
{
    size_t lo = 0, hi = grp.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (grp.rows[mid].st.point_id < point_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < grp.n && grp.rows[lo].st.point_id == point_id ? &grp.rows[lo] : NULL;
}

/* The rows of the distinct points (sorted) from the group's copy; 0 when one is not
 * there or stale (the caller loads them from the database). */
static int grp_take(const int64_t *distinct, size_t nd, db_alarm_point **rows, size_t *nrows)
{
    if (!grp.active)
        return 0;
    for (size_t i = 0; i < nd; i++) {
        const db_alarm_point *r = grp_find(distinct[i]);
        if (!r || grp.stale[r - grp.rows])
            return 0;
    }
    db_alarm_point *out = malloc(nd * sizeof *out);
    if (!out)
        return 0;
    for (size_t i = 0; i < nd; i++) {
        const db_alarm_point *r = grp_find(distinct[i]); /* found above: never NULL here */
        if (!r) {
            free(out);
            return 0;
        }
        out[i] = *r;
    }
    *rows = out;
    *nrows = nd;
    return 1;
}

/* After an evaluation: the group's copy holds the new states; unwritten: they are yet to be
 * written (alarm_group_flush). */
static void grp_stored(const db_alarm_state *store, size_t n, int unwritten)
{
    for (size_t i = 0; grp.active && i < n; i++) {
        db_alarm_point *r = grp_find(store[i].point_id);
        if (r) {
            r->st = store[i];
            grp.unwritten[r - grp.rows] = (unsigned char)unwritten;
        }
    }
}

/* A point whose transitions ran: its row may have been written by them. */
static void grp_mark_stale(int64_t point_id)
{
    db_alarm_point *r = grp.active ? grp_find(point_id) : NULL;
    if (r)
        grp.stale[r - grp.rows] = 1;
}

/* ---- helpers ------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

typedef struct {
    int64_t point_id, enterprise_id;
    const char *code;  /* borrowed from the loaded rows */
    const char *pkind; /* indicator kind, borrowed too */
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

static void row_to_point(const db_alarm_point *r, point_row *pr)
{
    memset(pr, 0, sizeof *pr);
    pr->point_id = r->st.point_id;
    risk_point_state *st = &pr->st;
    risk_point_state_init(st, 0);
    st->level = (uint8_t)r->st.level;
    st->pending_level = (uint8_t)r->st.pending_level;
    st->rate_active = (uint8_t)r->st.rate_active;
    st->frozen_active = (uint8_t)r->st.frozen_active;
    st->range_active = (uint8_t)r->st.range_active;
    st->offline_active = (uint8_t)r->st.offline_active;
    st->has_value = (uint8_t)r->st.has_value;
    st->pending_since = r->st.pending_since;
    st->level_since = r->st.level_since;
    st->last_ts = r->st.last_ts;
    st->last_value_ts = r->st.last_value_ts;
    st->last_value = r->st.last_value;
    st->frozen_count = (uint32_t)r->st.frozen_count;
    st->rate_ref_ts = r->st.rate_ref_ts;
    st->rate_ref_value = r->st.rate_ref_value;

    int digital = strcmp(r->value_type, "digital") == 0;
    risk_point_cfg *c = &pr->cfg;
    risk_point_cfg_init(c, digital ? RISK_POINT_DIGITAL : RISK_POINT_ANALOG);
    int def_fault;
    c->digital_role = role_of(r->kind, &def_fault);
    c->high = r->limit_high;
    c->high_high = r->limit_high_high;
    c->low = r->limit_low;
    c->low_low = r->limit_low_low;
    c->deadband = r->deadband;
    c->min_duration_s = r->min_duration_s;
    c->rate_delta = r->rate_limit;
    c->rate_window_s = r->rate_window_s;
    c->range_min = r->range_min;
    c->range_max = r->range_max;
    c->expected_interval_s = r->expected_interval_s;
    c->offline_factor = r->offline_factor;
    c->frozen_samples = digital ? 0 : (uint32_t)r->frozen_samples;
    c->frozen_epsilon = r->frozen_epsilon;
    c->fault_value = r->has_fault_value ? r->fault_value : def_fault;
    pr->enterprise_id = r->enterprise_id;
    pr->code = r->code;
    pr->pkind = r->kind;
    const char *why = NULL;
    pr->cfg_ok = risk_point_cfg_validate(c, &why) == 0;
    if (!pr->cfg_ok)
        LOG_WARN("point alarm configuration invalid: rules skipped", "point=%s why=%s", pr->code,
                 srv_log_q((char[200]){0}, 200, why));
}

static db_alarm_state state_row(int64_t point_id, const risk_point_cfg *cfg,
                                const risk_point_state *st)
{
    return (db_alarm_state){
        .point_id = point_id,
        .level = st->level,
        .pending_level = st->pending_level,
        .rate_active = st->rate_active,
        .frozen_active = st->frozen_active,
        .range_active = st->range_active,
        .offline_active = st->offline_active,
        .has_value = st->has_value,
        .pending_since = st->pending_since,
        .level_since = st->level_since,
        .last_ts = st->last_ts,
        .last_value_ts = st->last_value_ts,
        .last_value = st->last_value,
        .frozen_count = st->frozen_count,
        .rate_ref_ts = st->rate_ref_ts,
        .rate_ref_value = st->rate_ref_value,
        .offline_due_at = risk_point_offline_due_at(cfg, st),
    };
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

/* Offline of many points of one enterprise (its gateway or network down) is one
 * enterprise-offline alarm listing them (db_alarms_eoff_*), not one alarm per point.  A
 * point going offline joins the enterprise's open one, or raises one together with the
 * others already offline when they are enterprise_offline_min_points; otherwise it gets its
 * own offline alarm (*done 0).  A point back online leaves the one it is in (the alarm
 * clears with its last point) and clears its own alarm, if it has one (*done 0). */
static db_status apply_offline(db_conn *c, const point_row *pr, const risk_alarm_transition *t,
                               int *done, int *changed)
{
    int64_t alarm_id = 0, npoints = 0;
    db_status st;
    *done = 0;
    if (t->action == RISK_TR_RAISE) {
        int added = 0;
        st = db_alarms_eoff_attach(c, pr->enterprise_id, pr->point_id, t->ts, &alarm_id, &added);
        if (st != DB_OK)
            return st;
        if (alarm_id) {
            *done = 1;
            if (added) {
                *changed = 1;
                pub_alarm("point_offline", alarm_id, pr->enterprise_id, pr->code,
                          "enterprise_offline", 0, t->ts, NAN, 0);
            }
            return DB_OK;
        }
        st = db_alarms_eoff_form(
            c, pr->enterprise_id, t->ts, g_config.enterprise_offline_min_points,
            g_config.alarm_ack_within_s, g_config.alarm_handle_within_s, &alarm_id, &npoints);
        if (st != DB_OK)
            return st;
        if (alarm_id) {
            *done = 1;
            *changed = 1;
            pub_alarm("raise", alarm_id, pr->enterprise_id, NULL, "enterprise_offline", 0, t->ts,
                      NAN, npoints);
        }
        return DB_OK;
    }
    if (t->action != RISK_TR_CLEAR)
        return DB_OK;
    int cleared = 0;
    st = db_alarms_eoff_back(c, pr->point_id, t->ts, &alarm_id, &cleared);
    if (st == DB_OK && alarm_id) {
        *changed = 1;
        pub_alarm(cleared ? "clear" : "point_back", alarm_id, pr->enterprise_id, pr->code,
                  "enterprise_offline", 0, t->ts, NAN, 0);
    }
    return st; /* and the point's own offline alarm, if any, clears as usual */
}

/* Writes one engine transition.  *changed is set when a row was written (a replay finds
 * the episode already there and writes nothing). */
static db_status apply_transition(db_conn *c, const point_row *pr, const risk_alarm_transition *t,
                                  int *changed)
{
    int level = risk_alarm_level(t->kind);
    const char *kind = risk_alarm_kind_name(t->kind);
    const char *action = risk_tr_action_name(t->action);
    /* A spark detector's "fault" is a spark in the duct: an ignition source, a process
     * hazard of the highest level, not a device fault.  The engine's state keeps its
     * digital-fault level (the risk overrides read it); only the alarm's kind differs. */
    if (t->kind == RISK_ALARM_DIGITAL_FAULT && pr->pkind &&
        strcmp(pr->pkind, "spark_detected") == 0) {
        kind = "spark";
        level = 2;
    }
    db_alarm_step step = {
        .enterprise_id = pr->enterprise_id,
        .point_id = pr->point_id,
        .source = "rule",
        .channel = channel_of(t->kind),
        .kind = kind,
        .level = level,
        .action = action,
        .reason = risk_reason_name(t->reason),
        .value = t->value,
        .threshold = t->threshold,
        .ts_s = t->ts,
        .ack_within_s = g_config.alarm_ack_within_s,
        .handle_within_s = g_config.alarm_handle_within_s,
        .episode_window_s = g_config.alarm_episode_window_s,
    };
    int64_t alarm_id = 0, count = 0;
    int retrigger = 0, shelved = 0;
    db_status st;
    /* an approved stop/maintenance filing covers the point: offline and limit alarms are
     * recorded as suppressed, not raised (sparks are never suppressed) */
    if (t->action == RISK_TR_RAISE && strcmp(kind, "spark") != 0 &&
        (t->kind == RISK_ALARM_OFFLINE || strcmp(step.channel, "limit") == 0)) {
        int64_t filing = 0;
        st = db_filings_suppress(c, pr->enterprise_id, pr->point_id, step.channel, kind, level,
                                 t->ts, t->kind == RISK_ALARM_OFFLINE, &filing);
        if (st != DB_OK || filing)
            return st;
    }
    if (t->kind == RISK_ALARM_OFFLINE && g_config.enterprise_offline_min_points > 0) {
        int done = 0;
        st = apply_offline(c, pr, t, &done, changed);
        if (st != DB_OK || done)
            return st;
    }
    switch (t->action) {
    case RISK_TR_RAISE:
        st = db_alarms_raise(c, &step, &alarm_id, &retrigger, &count, &shelved);
        if (retrigger)
            action = "retrigger";
        break;
    case RISK_TR_ESCALATE:
    case RISK_TR_DEESCALATE:
        st = db_alarms_change(c, &step, &alarm_id);
        break;
    default:
        st = db_alarms_clear(c, &step, &alarm_id);
        break;
    }
    if (st != DB_OK)
        return st;
    if (alarm_id) {
        *changed = 1;
        if (!shelved) /* a shelved episode's repeats notify nobody */
            pub_alarm(action, alarm_id, pr->enterprise_id, pr->code, kind, level, t->ts, t->value,
                      count);
    }
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

/* from_group: the rows are the group's copy (grp_take); when no transition follows, their
 * new states are then written once for the group (alarm_group_flush), not per job. */
static db_status eval_rows(db_conn *c, const db_alarm_point *rows, size_t nrows,
                           const sample_ref *s, size_t n, int64_t now_s, int from_group,
                           size_t *n_changed)
{
    size_t cap = nrows ? nrows : 1;
    db_alarm_state *store = calloc(cap, sizeof *store);
    risk_sample *buf = malloc((n ? n : 1) * sizeof *buf);
    point_row *prs = calloc(cap, sizeof *prs);
    risk_alarm_transition(*trs)[TR_CAP] = calloc(cap, sizeof *trs);
    size_t *ntr = calloc(cap, sizeof *ntr);
    size_t nstore = 0;
    db_status st = DB_OK;
    if (!store || !buf || !prs || !trs || !ntr) {
        st = DB_HARD;
        goto out;
    }
    size_t k = 0; /* samples and rows are both sorted by point id */
    for (size_t i = 0; i < nrows; i++) {
        point_row *pr = &prs[i];
        row_to_point(&rows[i], pr);
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
        store[nstore++] = state_row(pr->point_id, &pr->cfg, &pr->st);
    }
    int transitions = 0;
    for (size_t i = 0; i < nrows; i++)
        transitions |= ntr[i] > 0;
    if (from_group && !transitions && grp.active) {
        grp_stored(store, nstore, 1);
        goto out;
    }
    /* a transition's statements may read and write rule-state rows: the group's
     * evaluated states are written first, then this job's */
    st = alarm_group_flush(c);
    if (st == DB_OK)
        st = db_alarms_state_store(c, store, nstore);
    if (st != DB_OK)
        goto out;
    grp_stored(store, nstore, 0);
    int64_t last_recompute = 0;
    for (size_t i = 0; i < nrows; i++) {
        int changed = 0;
        if (ntr[i] > 0)
            grp_mark_stale(prs[i].point_id);
        for (size_t t = 0; t < ntr[i]; t++) {
            st = apply_transition(c, &prs[i], &trs[i][t], &changed);
            if (st != DB_OK)
                goto out;
        }
        if (changed) {
            *n_changed += ntr[i];
            if (prs[i].enterprise_id != last_recompute) {
                st = db_alarms_request_recompute(c, prs[i].enterprise_id, "alarm");
                if (st != DB_OK)
                    goto out;
                last_recompute = prs[i].enterprise_id;
            }
        }
    }
out:
    free(store);
    free(buf);
    free(prs);
    free(trs);
    free(ntr);
    return st;
}

/* Readings of one enterprise, as accepted by the writer (duplicates included: the engine
 * ignores samples not newer than what it has seen).  Arrays of n, any order.  DB_OK, or the
 * failure of the statement that failed. */
static db_status alarm_apply_readings(db_conn *c, int64_t enterprise_id, const int64_t *point_ids,
                                      const int64_t *ts_us, const double *values, size_t n,
                                      int64_t now_us)
{
    (void)enterprise_id; /* the points were resolved for this enterprise by the caller */
    if (n == 0)
        return DB_OK;
    sample_ref *s = malloc(n * sizeof *s);
    int64_t *distinct = malloc(n * sizeof *distinct);
    db_alarm_point *rows = NULL;
    size_t nrows = 0;
    db_status st = DB_HARD;
    if (!s || !distinct)
        goto out;
    for (size_t i = 0; i < n; i++)
        s[i] = (sample_ref){point_ids[i], ts_us[i], values[i]};
    qsort(s, n, sizeof *s, cmp_sample);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++)
        if (nd == 0 || distinct[nd - 1] != s[i].point_id)
            distinct[nd++] = s[i].point_id;
    /* the group's copy when it has them all (alarm_group_lock), else one statement */
    int from_group = grp_take(distinct, nd, &rows, &nrows);
    st = DB_OK;
    if (!from_group) {
        /* what the group evaluated is written before rows are read from the table */
        st = alarm_group_flush(c);
        if (st == DB_OK)
            st = db_alarms_state_load(c, distinct, nd, &rows, &nrows);
    }
    if (st != DB_OK)
        goto out;
    if (nrows < nd) {
        /* first data of some points: create their rows, then lock them all in order */
        free(rows);
        rows = NULL;
        st = db_alarms_state_init(c, distinct, nd);
        if (st != DB_OK)
            goto out;
        st = db_alarms_state_load(c, distinct, nd, &rows, &nrows);
        if (st != DB_OK)
            goto out;
    }
    size_t changed = 0;
    st = eval_rows(c, rows, nrows, s, n, floor_div(now_us, 1000000), from_group, &changed);
out:
    free(rows);
    free(s);
    free(distinct);
    return st;
}

db_status alarm_check_offline(db_conn *c, int64_t now_us, int limit, size_t *n_changed)
{
    *n_changed = 0;
    db_status st = db_alarms_state_init_all(c);
    if (st != DB_OK)
        return st;
    int64_t now_s = floor_div(now_us, 1000000);
    db_alarm_point *rows = NULL;
    size_t nrows = 0;
    st = db_alarms_offline_due(c, now_s, limit, &rows, &nrows);
    if (st != DB_OK)
        return st;
    st = eval_rows(c, rows, nrows, NULL, 0, now_s, 0, n_changed);
    free(rows);
    return st;
}

db_status alarm_check_gateways(db_conn *c, size_t *n_changed)
{
    *n_changed = 0;
    if (g_config.gateway_offline_after_s <= 0)
        return DB_OK;
    db_gateway_offline_change *ch = NULL;
    size_t n = 0;
    db_status st =
        db_gateway_offline_check(c, g_config.gateway_offline_after_s, g_config.alarm_ack_within_s,
                                 g_config.alarm_handle_within_s, 500, &ch, &n);
    if (st != DB_OK)
        return st;
    for (size_t i = 0; i < n && st == DB_OK; i++) {
        pub_alarm(ch[i].action, ch[i].alarm_id, ch[i].enterprise_id, NULL, "gateway_offline", 0,
                  ch[i].ts_s, NAN, 0);
        /* one recompute request per enterprise is kept; repeats are dropped */
        st = db_alarms_request_recompute(c, ch[i].enterprise_id, "gateway_offline");
    }
    free(ch);
    *n_changed = n;
    return st;
}

db_status alarm_flag_overdue(db_conn *c, size_t *n_flagged)
{
    return db_alarms_flag_overdue(c, n_flagged);
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
    int sev;
    const char *kind = gw_kind(ev->level, &sev);
    db_alarm_step step = {
        .enterprise_id = enterprise_id,
        .point_id = ev->point_id,
        .source = "gateway",
        .channel = "gateway",
        .level = sev,
        .reason = "gateway_reported",
        .value = ev->value,
        .threshold = ev->threshold,
        .ts_s = floor_div(ev->ts_us, 1000000),
        .ack_within_s = g_config.alarm_ack_within_s,
        .handle_within_s = g_config.alarm_handle_within_s,
        .episode_window_s = g_config.alarm_episode_window_s,
    };
    char open_kind[32];
    db_status st = db_alarms_gateway_open(c, ev->point_id, open_kind, sizeof open_kind);
    if (st != DB_OK)
        return st;
    const char *action;
    int64_t alarm_id = 0, count = 0;
    if (!kind) {
        if (!open_kind[0])
            return DB_OK;
        step.reason = "gateway_cleared";
        st = db_alarms_clear(c, &step, &alarm_id);
        action = "clear";
        kind = "gateway";
    } else if (!open_kind[0]) {
        step.kind = kind;
        int retrigger = 0, shelved = 0;
        st = db_alarms_raise(c, &step, &alarm_id, &retrigger, &count, &shelved);
        if (shelved)
            alarm_id = 0; /* folded into a shelved episode: nothing to publish */
        action = retrigger ? "retrigger" : "raise";
    } else if (strcmp(open_kind, kind) != 0) {
        int open_sev;
        (void)gw_kind(strcmp(open_kind, "high_high") == 0 || strcmp(open_kind, "low_low") == 0 ||
                              strcmp(open_kind, "gateway_fault") == 0
                          ? ING_EV_HIGH_HIGH
                          : ING_EV_HIGH,
                      &open_sev);
        action = sev >= open_sev ? "escalate" : "deescalate";
        step.kind = kind;
        step.action = action;
        st = db_alarms_change(c, &step, &alarm_id);
    } else {
        return DB_OK; /* the gateway repeats itself */
    }
    if (st != DB_OK)
        return st;
    if (alarm_id) {
        *changed = 1;
        pub_alarm(action, alarm_id, enterprise_id, NULL, kind, sev, step.ts_s, ev->value, count);
    }
    return DB_OK;
}

/* Gateway-reported events (Hebei eventsData, native events): level is ING_EV_* (0 cleared,
 * 1 high, 2 high_high, 3 low, 4 low_low, 5 fault); value/threshold NAN when absent.
 * Becomes alarms with source "gateway", one open episode per point. */
static db_status alarm_apply_gateway_events(db_conn *c, int64_t enterprise_id,
                                            const int64_t *point_ids, const int64_t *ts_us,
                                            const int *levels, const double *values,
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
        st = db_alarms_request_recompute(c, enterprise_id, "gateway_event");
    return st;
}

/* The level of a type the catalogue (video_alarm_types) does not list: smoke and fire are
 * explosion precursors, other video analytics (helmets, intrusion) are level 1.  A listed
 * type (SJ02001 烟火识别: 2) takes the catalogue's level in db_alarms_video. */
static int video_level(const char *type)
{
    static const char *const severe[] = {"fire", "smoke", "spark", "火", "烟"};
    for (size_t i = 0; i < sizeof severe / sizeof severe[0]; i++)
        if (strstr(type, severe[i]))
            return 2;
    return 1;
}

/* One stored video alarm (found by its natural key) becomes an alarm with source "video";
 * video alarms are instantaneous, so the episode is cleared at once and closes when
 * handled. */
static db_status alarm_apply_video(db_conn *c, int64_t enterprise_id, const char *camera,
                                   int64_t ts_us, const char *alarm_type)
{
    int level = video_level(alarm_type);
    int64_t alarm_id = 0;
    db_status st =
        db_alarms_video(c, enterprise_id, camera, ts_us, alarm_type, &level,
                        g_config.alarm_ack_within_s, g_config.alarm_handle_within_s, &alarm_id);
    if (st != DB_OK)
        return st;
    if (alarm_id)
        pub_alarm("raise", alarm_id, enterprise_id, NULL, "video", level, floor_div(ts_us, 1000000),
                  NAN, 0);
    return alarm_id ? db_alarms_request_recompute(c, enterprise_id, "video_alarm") : DB_OK;
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
