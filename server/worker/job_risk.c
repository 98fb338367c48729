/* job_risk.c — score recompute, warning issue and escalation (see job_risk.h).
 *
 * Recompute in bulk: a batch of up to JOB_RISK_BATCH enterprises is one transaction —
 * three set-based statements read the inputs, systems and current grades of all of them,
 * the engine scores them in memory, one statement stores every score, and only the
 * enterprises whose grade rose or fell run warning statements.  A full city of thousands
 * is a handful of round trips instead of ~8 per enterprise.
 *
 * Concurrency: a recompute takes a transaction-scoped advisory lock on (731031, enterprise
 * id) for each enterprise of its batch, in key order, so two workers never interleave
 * "read previous grade → store new grade → issue warning" for the same enterprise (and
 * overlapping batches wait rather than deadlock); the partial unique index on open
 * warnings is the second wall.  A rise above the open warning of the same cause upgrades it
 * in place (upgrade_open; the rule in server/README.md "Early warnings"), a fall only notes
 * itself in the history.  The escalation pass takes one city-wide transaction lock
 * and additionally guards each step with `escalations_done = step - 1` and the unique
 * (warning, step) event index: a step is applied exactly once even with two workers and a
 * kill -9 in between (the killed transaction simply rolls back). */
#include "job_risk.h"

#include "db_risk.h"
#include "db_riskmodel.h"
#include "srv_event.h"
#include "risk_point.h"
#include "risk_warning.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_riskmodel.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The model in force: g_shared under g_model_mu (job_risk_set_model replaces it while the
 * worker runs: a new version from risk_models, no restart), and each thread's copy taken at
 * the start of every public entry point, so a batch never sees two models. */
static risk_model g_shared;
static pthread_mutex_t g_model_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local risk_model g_model;
/* the version whose load failed, so a bad row is logged once, not at every tick */
static char g_bad_version[RISK_MODEL_VERSION_MAX];

static void model_enter(void)
{
    pthread_mutex_lock(&g_model_mu);
    g_model = g_shared;
    pthread_mutex_unlock(&g_model_mu);
}

void job_risk_set_model(const risk_model *m)
{
    risk_model x = *m;
    /* drills and tests shorten every deadline without a new model version; the real
     * deadlines are stored with each warning, so the ladder never depends on this later */
    for (int g = 0; g < RISK_GRADE_COUNT; g++) {
        if (g_config.warning_sign_within_s > 0)
            x.warning[g].sign_within_s = g_config.warning_sign_within_s;
        if (g_config.warning_clear_within_s > 0)
            x.warning[g].clear_within_s = g_config.warning_clear_within_s;
        if (x.warning[g].clear_within_s < x.warning[g].sign_within_s)
            x.warning[g].clear_within_s = x.warning[g].sign_within_s;
    }
    pthread_mutex_lock(&g_model_mu);
    g_shared = x;
    pthread_mutex_unlock(&g_model_mu);
}

void job_risk_model_version(char out[RISK_MODEL_VERSION_MAX])
{
    pthread_mutex_lock(&g_model_mu);
    snprintf(out, RISK_MODEL_VERSION_MAX, "%s", g_shared.version);
    pthread_mutex_unlock(&g_model_mu);
}

void job_risk_init(const risk_model *m)
{
    job_risk_set_model(m);
    db_risk_register();
    db_riskmodel_register();
}

int job_risk_watch_model(db_conn *c)
{
    char version[64], cur[RISK_MODEL_VERSION_MAX];
    char *text = NULL;
    int found = 0;
    if (db_riskmodel_active(c, version, &text, &found) != DB_OK || !found)
        return 0;
    job_risk_model_version(cur);
    if (strcmp(version, cur) == 0 || strcmp(version, g_bad_version) == 0) {
        free(text);
        return 0;
    }
    risk_model m;
    char err[512];
    int rc = srv_riskmodel_parse(text, &m, err, sizeof err);
    free(text);
    if (rc != 0 || strcmp(m.version, version) != 0) {
        snprintf(g_bad_version, sizeof g_bad_version, "%s", version);
        LOG_ERROR("risk model not loaded", "version=%s detail=%s",
                  srv_log_q((char[200]){0}, 200, version),
                  srv_log_q((char[600]){0}, 600, rc != 0 ? err : "version differs"));
        return -1;
    }
    job_risk_set_model(&m);
    LOG_INFO("risk model loaded", "version=%s previous=%s source=database",
             srv_log_q((char[200]){0}, 200, version), srv_log_q((char[200]){0}, 200, cur));
    return 1;
}

/* ---- inputs ------------------------------------------------------------- */

static json_t *inputs_json(const risk_archive *a, const risk_dynamic *d)
{
    json_t *sys = json_array();
    for (size_t i = 0; i < d->n_systems; i++) {
        const risk_system_state *s = &d->systems[i];
        json_array_append_new(sys, json_pack("{s:i, s:b, s:b, s:b, s:b}", "id", s->system_id,
                                             "hopper_temp_high_high", s->hopper_temp_high_high,
                                             "spark_detected", s->spark_detected, "dp_collapse",
                                             s->dp_collapse, "fan_running", s->fan_running));
    }
    json_t *arch =
        json_pack("{s:s, s:s, s:I, s:s, s:b, s:b, s:I, s:b}", "dust_class",
                  risk_dust_class_name(a->dust_class), "st_class", risk_st_class_name(a->st_class),
                  "dust_workers", (json_int_t)a->dust_workers, "removal",
                  risk_removal_name(a->removal), "positive_pressure_conveying",
                  a->positive_pressure_conveying, "collector_indoors", a->collector_indoors,
                  "dry_collectors", (json_int_t)a->dry_collectors, "multi_storey", a->multi_storey);
    json_t *dyn = json_pack(
        "{s:[I,I], s:[I,I], s:[I,I], s:[I,I], s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, "
        "s:I, s:o}",
        "alarms_24h_mandatory", (json_int_t)d->alarms_24h_mandatory.level1,
        (json_int_t)d->alarms_24h_mandatory.level2, "alarms_24h_other",
        (json_int_t)d->alarms_24h_other.level1, (json_int_t)d->alarms_24h_other.level2,
        "alarms_7d_mandatory", (json_int_t)d->alarms_7d_mandatory.level1,
        (json_int_t)d->alarms_7d_mandatory.level2, "alarms_7d_other",
        (json_int_t)d->alarms_7d_other.level1, (json_int_t)d->alarms_7d_other.level2,
        "alarm_seconds_24h_mandatory", (json_int_t)d->alarm_seconds_24h_mandatory,
        "overdue_unacked", (json_int_t)d->overdue_unacked, "overdue_unhandled",
        (json_int_t)d->overdue_unhandled, "repeat_after_handled",
        (json_int_t)d->repeat_after_handled, "cleaning_required", (json_int_t)d->cleaning_required,
        "cleaning_missed", (json_int_t)d->cleaning_missed, "online_rate_mandatory",
        d->online_rate_mandatory, "video_offline", (json_int_t)d->video_offline, "open_hazards",
        (json_int_t)d->open_hazards, "major_hazard_items", (json_int_t)d->major_hazard_items,
        "systems", sys);
    return json_pack("{s:o, s:o}", "archive", arch, "dynamic", dyn);
}

static int get_pair(const json_t *o, const char *key, risk_alarm_count *c)
{
    const json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) != 2)
        return -1;
    c->level1 = (uint32_t)json_integer_value(json_array_get(a, 0));
    c->level2 = (uint32_t)json_integer_value(json_array_get(a, 1));
    return 0;
}

static uint32_t get_u32(const json_t *o, const char *key)
{
    return (uint32_t)json_integer_value(json_object_get(o, key));
}

int job_risk_inputs_from_json(const json_t *inputs, risk_archive *a, risk_dynamic *d,
                              risk_system_state *systems, size_t max_systems)
{
    memset(a, 0, sizeof *a);
    memset(d, 0, sizeof *d);
    const json_t *ar = json_object_get(inputs, "archive"), *dy = json_object_get(inputs, "dynamic");
    if (!json_is_object(ar) || !json_is_object(dy))
        return -1;
    int dc = risk_dust_class_from_name(json_string_value(json_object_get(ar, "dust_class")));
    int sc = risk_st_class_from_name(json_string_value(json_object_get(ar, "st_class")));
    int rm = risk_removal_from_name(json_string_value(json_object_get(ar, "removal")));
    if (dc < 0 || sc < 0 || rm < 0)
        return -1;
    a->dust_class = (risk_dust_class)dc;
    a->st_class = (risk_st_class)sc;
    a->removal = (risk_removal_setup)rm;
    a->dust_workers = get_u32(ar, "dust_workers");
    a->positive_pressure_conveying =
        json_is_true(json_object_get(ar, "positive_pressure_conveying"));
    a->collector_indoors = json_is_true(json_object_get(ar, "collector_indoors"));
    a->dry_collectors = get_u32(ar, "dry_collectors");
    a->multi_storey = json_is_true(json_object_get(ar, "multi_storey"));
    if (get_pair(dy, "alarms_24h_mandatory", &d->alarms_24h_mandatory) ||
        get_pair(dy, "alarms_24h_other", &d->alarms_24h_other) ||
        get_pair(dy, "alarms_7d_mandatory", &d->alarms_7d_mandatory) ||
        get_pair(dy, "alarms_7d_other", &d->alarms_7d_other))
        return -1;
    d->alarm_seconds_24h_mandatory =
        json_integer_value(json_object_get(dy, "alarm_seconds_24h_mandatory"));
    d->overdue_unacked = get_u32(dy, "overdue_unacked");
    d->overdue_unhandled = get_u32(dy, "overdue_unhandled");
    d->repeat_after_handled = get_u32(dy, "repeat_after_handled");
    d->cleaning_required = get_u32(dy, "cleaning_required");
    d->cleaning_missed = get_u32(dy, "cleaning_missed");
    d->online_rate_mandatory = json_number_value(json_object_get(dy, "online_rate_mandatory"));
    d->video_offline = get_u32(dy, "video_offline");
    d->open_hazards = get_u32(dy, "open_hazards");
    d->major_hazard_items = (uint16_t)get_u32(dy, "major_hazard_items");
    const json_t *sys = json_object_get(dy, "systems");
    size_t i;
    const json_t *s;
    json_array_foreach(sys, i, s)
    {
        if (i >= max_systems)
            break;
        systems[i].system_id = (int32_t)json_integer_value(json_object_get(s, "id"));
        systems[i].hopper_temp_high_high =
            json_is_true(json_object_get(s, "hopper_temp_high_high"));
        systems[i].spark_detected = json_is_true(json_object_get(s, "spark_detected"));
        systems[i].dp_collapse = json_is_true(json_object_get(s, "dp_collapse"));
        systems[i].fan_running = json_is_true(json_object_get(s, "fan_running"));
        d->n_systems = i + 1;
    }
    d->systems = systems;
    return 0;
}

/* One enterprise's row of the batch statement, as engine structs; dyn->systems is set by the
 * caller. */
static void inputs_from_db(const db_risk_inputs *in, risk_archive *a, risk_dynamic *d)
{
    memset(a, 0, sizeof *a);
    memset(d, 0, sizeof *d);
    int dc = risk_dust_class_from_name(in->dust_class);
    int sc = risk_st_class_from_name(in->st_class);
    int rm = risk_removal_from_name(in->removal);
    a->dust_class = dc < 0 ? RISK_DUST_OTHER : (risk_dust_class)dc;
    a->st_class = sc < 0 ? RISK_ST_UNKNOWN : (risk_st_class)sc;
    a->removal = rm < 0 ? RISK_REMOVAL_NONE : (risk_removal_setup)rm;
    a->dust_workers = (uint32_t)in->dust_workers;
    a->multi_storey = in->multi_storey != 0;
    d->major_hazard_items = (uint16_t)in->major_hazard_items;
    d->open_hazards = (uint32_t)in->open_hazards;
    d->video_offline = (uint32_t)in->video_offline;
    a->positive_pressure_conveying = in->positive_pressure != 0;
    a->collector_indoors = in->collector_indoors != 0;
    a->dry_collectors = (uint32_t)in->dry_collectors;
    d->alarms_24h_mandatory = (risk_alarm_count){(uint32_t)in->alarms_24h_mandatory[0],
                                                 (uint32_t)in->alarms_24h_mandatory[1]};
    d->alarms_24h_other =
        (risk_alarm_count){(uint32_t)in->alarms_24h_other[0], (uint32_t)in->alarms_24h_other[1]};
    d->alarms_7d_mandatory = (risk_alarm_count){(uint32_t)in->alarms_7d_mandatory[0],
                                                (uint32_t)in->alarms_7d_mandatory[1]};
    d->alarms_7d_other =
        (risk_alarm_count){(uint32_t)in->alarms_7d_other[0], (uint32_t)in->alarms_7d_other[1]};
    d->alarm_seconds_24h_mandatory = in->alarm_seconds_24h_mandatory;
    d->overdue_unacked = (uint32_t)in->overdue_unacked;
    d->overdue_unhandled = (uint32_t)in->overdue_unhandled;
    d->repeat_after_handled = (uint32_t)in->repeat_after_handled;
    d->cleaning_required = (uint32_t)in->cleaning_required;
    d->cleaning_missed = (uint32_t)in->cleaning_missed;
    d->online_rate_mandatory = in->online_rate_mandatory;
}

static json_t *rules_json(const risk_score_result *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_rules; i++) {
        const risk_fired_rule *f = &s->rules[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:f}", "code", f->code, "description_key",
                              f->description_key, "part", risk_part_name(f->part), "contribution",
                              f->contribution);
        if (f->system_id >= 0)
            json_object_set_new(o, "system_id", json_integer(f->system_id));
        if (f->item > 0)
            json_object_set_new(o, "item", json_integer(f->item));
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- recompute ---------------------------------------------------------- */

/* At most this many enterprises per transaction: their advisory locks count against the
 * shared lock table, and a batch that fails on one enterprise's data is done again one
 * enterprise at a time. */
#define JOB_RISK_BATCH 500

typedef struct {
    int64_t enterprise_id;
    /* results for logging / publishing after commit */
    risk_score_result res;
    int scored; /* a score was stored */
    char prev_grade[16];
    int changed;
    int64_t warning_id;
    int upgraded; /* warning_id was upgraded from upgraded_from, not issued */
    char upgraded_from[16];
    /* the grade before this score, for the warning decision */
    risk_grade prev;
    bool prev_override;
    double prev_r;
} compute_ctx;

typedef struct {
    const int64_t *ids; /* ascending, distinct */
    size_t n;
    int64_t now_s;
    const char *trigger;
    compute_ctx *x; /* n, one per id */
} batch_ctx;

static db_status upgrade_open(db_conn *c, compute_ctx *x, int64_t now_s, const db_risk_open *open,
                              int64_t score_id, const char *note)
{
    int g = risk_grade_from_name(open->grade);
    int sup = risk_admin_level_from_name(open->supervisor);
    int lvl = risk_admin_level_from_name(open->current_level);
    if (g < 0 || sup < 0 || lvl < 0) {
        LOG_ERROR("open warning unreadable", "warning=%lld", (long long)open->id);
        return DB_BAD;
    }
    risk_warning_open w = {.grade = (risk_grade)g,
                           .supervisor = (risk_admin_level)sup,
                           .current_level = (risk_admin_level)lvl,
                           .inform_city = open->inform_city != 0};
    risk_warning_upgrade_plan plan;
    int rc = risk_warning_upgrade(&g_model, &w, x->res.grade, now_s, &plan);
    if (rc < 0)
        return DB_BAD;
    if (rc == 0)
        return DB_OK; /* already at this grade or above */
    db_risk_upgrade u = {
        .warning_id = open->id,
        .from_grade = open->grade,
        .grade = risk_grade_name(x->res.grade),
        .score_id = score_id,
        .upgraded_at_s = now_s,
        .sign_by_s = plan.sign_by,
        .clear_by_s = plan.clear_by,
        .supervisor = risk_admin_level_name(plan.supervisor),
        .current_level = risk_admin_level_name(plan.current_level),
        .inform_city = plan.inform_city,
        .note = note,
    };
    int applied = 0;
    db_status st = db_risk_upgrade_warning(c, &u, &applied);
    if (st != DB_OK)
        return st;
    if (applied) {
        x->warning_id = open->id;
        x->upgraded = 1;
        snprintf(x->upgraded_from, sizeof x->upgraded_from, "%s", open->grade);
    }
    return DB_OK;
}

/* Scores one enterprise in memory: x->res and the grade before, from the batch's rows.
 * -1 when the inputs are out of the engine's domain. */
static int score_one(compute_ctx *x, const db_risk_inputs *in, const db_risk_system *sys,
                     size_t n_sys, const db_risk_current *cur, int has_cur, db_risk_score *score)
{
    risk_archive arch;
    risk_dynamic dyn;
    risk_system_state systems[JOB_RISK_MAX_SYSTEMS];
    inputs_from_db(in, &arch, &dyn);
    size_t ns = 0;
    for (; ns < n_sys && ns < JOB_RISK_MAX_SYSTEMS; ns++)
        systems[ns] = (risk_system_state){
            .system_id = (int32_t)sys[ns].id,
            .hopper_temp_high_high = sys[ns].hopper_temp_high_high,
            .spark_detected = sys[ns].spark_detected,
            .dp_collapse = sys[ns].dp_collapse,
            .fan_running = sys[ns].fan_running,
        };
    dyn.n_systems = ns;
    dyn.systems = systems;
    if (risk_score_compute(&g_model, &arch, &dyn, &x->res) != 0) {
        LOG_ERROR("risk inputs out of domain", "enterprise=%lld", (long long)x->enterprise_id);
        return -1;
    }
    x->prev = RISK_GRADE_BLUE;
    x->prev_override = false;
    x->prev_r = -1;
    snprintf(x->prev_grade, sizeof x->prev_grade, "none");
    if (has_cur) {
        int g = risk_grade_from_name(cur->grade);
        x->prev = g < 0 ? RISK_GRADE_BLUE : (risk_grade)g;
        x->prev_override = cur->override != 0;
        x->prev_r = cur->r;
        snprintf(x->prev_grade, sizeof x->prev_grade, "%s", cur->grade);
    }
    const risk_score_result *s = &x->res;
    x->changed = strcmp(x->prev_grade, risk_grade_name(s->grade)) != 0 ||
                 x->prev_override != s->override || fabs(x->prev_r - s->R) >= 0.005;
    *score = (db_risk_score){
        .enterprise_id = x->enterprise_id,
        .model_version = s->model_version,
        .r = s->R,
        .i = s->I,
        .a = s->A,
        .h = s->H,
        .s = s->S,
        .grade = risk_grade_name(s->grade),
        .grade_by_score = risk_grade_name(s->grade_by_score),
        .override = s->override,
        .override_reason = s->override ? s->override_reason : NULL,
        .rules = rules_json(s),
        .inputs = inputs_json(&arch, &dyn),
    };
    return 0;
}

/* After the score is stored: the history note of a fall, the warning of a rise (issued, or
 * the open one upgraded).  Only an enterprise whose grade or override changed gets here
 * with anything to do. */
static db_status warn_one(db_conn *c, compute_ctx *x, int64_t now_s, int64_t score_id)
{
    const risk_score_result *s = &x->res;
    risk_grade prev = x->prev;
    /* The first score of an enterprise: blue and yellow are its baseline (shown, not
     * warned about); orange and red warn at once, as a rise from yellow
     * (risk_warning_first_baseline, risk/README.md §3); overrides warn at once. */
    int first = x->prev_r < 0;
    if (first)
        prev = risk_warning_first_baseline(s->grade);
    bool fall = s->grade < prev;
    bool issue = risk_warning_should_issue(prev, x->prev_override, s->grade, s->override);
    if (!fall && !issue)
        return DB_OK;
    char note[160];
    snprintf(note, sizeof note, "%s -> %s, R=%.2f (model %s%s)", x->prev_grade,
             risk_grade_name(s->grade), s->R, s->model_version, first ? ", first score" : "");
    db_status st;
    /* A fall leaves open warnings as they are (grade, levels, deadlines): a lower grade
     * never shortens or lengthens what the enterprise was told; the history says so. */
    if (fall) {
        st = db_risk_note_grade_fall(c, x->enterprise_id, risk_grade_name(s->grade), note);
        if (st != DB_OK)
            return st;
    }
    if (!issue)
        return DB_OK;
    const char *cause = s->override && !x->prev_override ? s->override_reason : "grade";
    /* One open warning per enterprise and cause: a rise above it upgrades it in place
     * (risk_warning_upgrade), otherwise a new one is issued. */
    db_risk_open open;
    int open_found = 0;
    st = db_risk_open_warning(c, x->enterprise_id, cause, &open, &open_found);
    if (st != DB_OK)
        return st;
    if (open_found)
        return upgrade_open(c, x, now_s, &open, score_id, note);
    risk_warning_deadlines dl;
    if (risk_warning_deadlines_for(&g_model, s->grade, now_s, &dl) != 0)
        return DB_BAD;
    db_risk_issue w = {
        .enterprise_id = x->enterprise_id,
        .cause = cause,
        .grade = risk_grade_name(s->grade),
        .score_id = score_id,
        .issued_at_s = now_s,
        .sign_by_s = dl.sign_by,
        .clear_by_s = dl.clear_by,
        .supervisor = risk_admin_level_name(dl.supervisor),
        .inform_city = dl.inform_city,
        .note = note,
    };
    return db_risk_issue_warning(c, &w, &x->warning_id);
}

typedef struct {
    db_risk_inputs *in;
    int *found;
    db_risk_current *cur;
    int *has_cur;
    db_risk_score *scores;
    int64_t *score_ids;
    size_t *slot; /* scores[j] belongs to x[slot[j]] */
    db_risk_system *sys;
    size_t n_sys;
} batch_buf;

static void batch_buf_free(batch_buf *b, size_t n_scores)
{
    for (size_t j = 0; b->scores && j < n_scores; j++) {
        json_decref((json_t *)b->scores[j].rules);
        json_decref((json_t *)b->scores[j].inputs);
    }
    free(b->in);
    free(b->found);
    free(b->cur);
    free(b->has_cur);
    free(b->scores);
    free(b->score_ids);
    free(b->slot);
    free(b->sys);
}

/* One transaction for the batch: the locks, three statements that read the inputs, the
 * grades before and the systems of every enterprise, the engine in memory, one statement
 * that stores every score, then the warning statements of the enterprises whose grade
 * rose or fell. */
static db_status batch_tx(db_conn *c, void *arg)
{
    batch_ctx *b = arg;
    size_t n = b->n;
    for (size_t k = 0; k < n; k++)
        b->x[k] = (compute_ctx){.enterprise_id = b->ids[k]};
    db_status st = db_risk_lock_enterprises(c, b->ids, n);
    if (st != DB_OK)
        return st;
    batch_buf u = {
        .in = calloc(n, sizeof *u.in),
        .found = calloc(n, sizeof *u.found),
        .cur = calloc(n, sizeof *u.cur),
        .has_cur = calloc(n, sizeof *u.has_cur),
        .scores = calloc(n, sizeof *u.scores),
        .score_ids = calloc(n, sizeof *u.score_ids),
        .slot = calloc(n, sizeof *u.slot),
    };
    size_t m = 0;
    if (!u.in || !u.found || !u.cur || !u.has_cur || !u.scores || !u.score_ids || !u.slot) {
        st = DB_HARD;
        goto done;
    }
    st = db_risk_load_inputs(c, b->ids, n, b->now_s, u.in, u.found);
    if (st == DB_OK)
        st = db_risk_load_systems(c, b->ids, n, RISK_ALARM_HIGH_HIGH, RISK_ALARM_DIGITAL_FAULT,
                                  RISK_ALARM_LOW_LOW, &u.sys, &u.n_sys);
    if (st == DB_OK)
        st = db_risk_load_current(c, b->ids, n, u.cur, u.has_cur);
    if (st != DB_OK)
        goto done;
    size_t si = 0;
    for (size_t k = 0; k < n; k++) {
        while (si < u.n_sys && u.sys[si].enterprise_id < b->ids[k])
            si++;
        size_t s0 = si;
        while (si < u.n_sys && u.sys[si].enterprise_id == b->ids[k])
            si++;
        if (!u.found[k]) /* gone since it was queued */
            continue;
        if (score_one(&b->x[k], &u.in[k], &u.sys[s0], si - s0, &u.cur[k], u.has_cur[k],
                      &u.scores[m]) != 0)
            continue; /* one enterprise's bad data must not stop the others */
        if (!u.scores[m].rules || !u.scores[m].inputs) {
            m++;
            st = DB_HARD;
            goto done;
        }
        u.slot[m++] = k;
    }
    if (m > 0)
        st = db_risk_store_scores(c, u.scores, m, b->now_s, b->trigger, u.score_ids);
    for (size_t j = 0; j < m && st == DB_OK; j++) {
        compute_ctx *x = &b->x[u.slot[j]];
        x->scored = u.score_ids[j] != 0;
        if (x->scored)
            st = warn_one(c, x, b->now_s, u.score_ids[j]);
    }
done:
    batch_buf_free(&u, m);
    return st;
}

static void publish_risk(const compute_ctx *x)
{
    if (x->changed) {
        srv_event e = {.type = "risk", .action = "grade", .enterprise_id = x->enterprise_id};
        json_t *f = json_pack("{s:s, s:s, s:f, s:b, s:s}", "grade", risk_grade_name(x->res.grade),
                              "previous", x->prev_grade, "r", x->res.R, "override",
                              x->res.override ? 1 : 0, "model_version", x->res.model_version);
        srv_event_publish(&e, f);
        json_decref(f);
    }
    if (x->warning_id && x->upgraded) {
        srv_event e = {.type = "warning",
                       .action = "upgrade",
                       .id = x->warning_id,
                       .enterprise_id = x->enterprise_id};
        json_t *f = json_pack("{s:s, s:s}", "grade", risk_grade_name(x->res.grade), "previous",
                              x->upgraded_from);
        srv_event_publish(&e, f);
        json_decref(f);
        LOG_INFO("warning upgraded", "warning=%lld enterprise=%lld from=%s grade=%s",
                 (long long)x->warning_id, (long long)x->enterprise_id, x->upgraded_from,
                 risk_grade_name(x->res.grade));
    } else if (x->warning_id) {
        srv_event e = {.type = "warning",
                       .action = "issue",
                       .id = x->warning_id,
                       .enterprise_id = x->enterprise_id};
        json_t *f = json_pack("{s:s}", "grade", risk_grade_name(x->res.grade));
        srv_event_publish(&e, f);
        json_decref(f);
        LOG_INFO("warning issued", "warning=%lld enterprise=%lld grade=%s",
                 (long long)x->warning_id, (long long)x->enterprise_id,
                 risk_grade_name(x->res.grade));
    }
}

/* Recomputes ids[0..n) (ascending, distinct, n <= JOB_RISK_BATCH) in one transaction;
 * *n_done the scores stored.  When the batch fails on one enterprise's data (DB_BAD) each
 * enterprise is done again on its own, so only that one is left out. */
static db_status compute_batch(db_conn *c, const int64_t *ids, size_t n, int64_t now_s,
                               const char *trigger, compute_ctx *x, size_t *n_done)
{
    batch_ctx b = {.ids = ids, .n = n, .now_s = now_s, .trigger = trigger, .x = x};
    db_status st = db_run_tx(c, NULL, batch_tx, &b);
    if (st == DB_BAD && n > 1) {
        for (size_t k = 0; k < n; k++) {
            st = compute_batch(c, &ids[k], 1, now_s, trigger, &x[k], n_done);
            if (st != DB_OK)
                return st;
        }
        return DB_OK;
    }
    if (st == DB_BAD)
        return DB_OK; /* one enterprise's bad data must not stop the others */
    if (st != DB_OK)
        return st;
    for (size_t k = 0; k < n; k++)
        if (x[k].scored) {
            publish_risk(&x[k]);
            (*n_done)++;
        }
    return DB_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef db_status (*list_fn)(db_conn *c, int64_t **ids, size_t *n);

/* One list of enterprises worked through in batches on one or more connections: each
 * takes the next batch until the list is done or one of them failed.  Batches are
 * disjoint, so they never wait on each other's enterprise locks; a batch's time is nearly
 * all PostgreSQL's, so each further backend can take a further core. */
#define JOB_RISK_PASS_CONNS_MAX 8

typedef struct {
    pthread_mutex_t mu;
    const int64_t *ids; /* ascending, distinct */
    size_t n;
    size_t next; /* the next batch starts at ids[next] */
    int64_t now_s;
    const char *trigger;
    const risk_model *model; /* the caller's: a pass never sees two models */
    db_status st;            /* the first failure: the others stop taking batches */
    size_t n_done;
} shared_list;

static db_status take_batches(db_conn *c, shared_list *l)
{
    compute_ctx *x = calloc(JOB_RISK_BATCH, sizeof *x);
    db_status st = x ? DB_OK : DB_HARD;
    while (st == DB_OK) {
        pthread_mutex_lock(&l->mu);
        size_t i = l->next;
        size_t k = l->st != DB_OK || i >= l->n ? 0
                   : l->n - i < JOB_RISK_BATCH ? l->n - i
                                               : JOB_RISK_BATCH;
        l->next += k;
        pthread_mutex_unlock(&l->mu);
        if (k == 0)
            break;
        size_t done = 0;
        st = compute_batch(c, &l->ids[i], k, l->now_s, l->trigger, x, &done);
        pthread_mutex_lock(&l->mu);
        l->n_done += done;
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_lock(&l->mu);
    if (st != DB_OK && l->st == DB_OK)
        l->st = st;
    pthread_mutex_unlock(&l->mu);
    free(x);
    return st;
}

/* A helper of the pass opens its connection itself, while the caller's first batch runs,
 * and closes it when the list is done: outside a pass the worker holds no more
 * connections than before.  Without one the others do its share. */
static void *helper_main(void *arg)
{
    shared_list *l = arg;
    g_model = *l->model;
    char err[512];
    const db_timeouts t = db_timeouts_configured(DB_FOR_WORKER);
    db_conn *c = db_connect_scoped(g_config.database_url, "system", &t, err, sizeof err);
    if (!c) {
        LOG_WARN("risk pass helper has no database", "detail=%s",
                 srv_log_q((char[600]){0}, 600, err));
        return NULL;
    }
    (void)take_batches(c, l);
    db_close(c);
    return NULL;
}

/* connections: how many share the list (c and connections - 1 of their own), when it is
 * longer than one batch. */
static db_status run_list(db_conn *c, int connections, list_fn list, int64_t now_s,
                          const char *trigger, size_t *n_taken, size_t *n_done)
{
    *n_taken = 0;
    int64_t *ids = NULL;
    size_t n = 0;
    db_status st = list(c, &ids, &n);
    if (st != DB_OK)
        return st;
    *n_taken = n;
    qsort(ids, n, sizeof *ids, cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || ids[i] != ids[w - 1])
            ids[w++] = ids[i];
    n = w;
    shared_list l = {
        .ids = ids, .n = n, .now_s = now_s, .trigger = trigger, .model = &g_model, .st = DB_OK};
    pthread_mutex_init(&l.mu, NULL);
    size_t batches = (n + JOB_RISK_BATCH - 1) / JOB_RISK_BATCH;
    size_t want = connections < 1                         ? 0
                  : connections > JOB_RISK_PASS_CONNS_MAX ? JOB_RISK_PASS_CONNS_MAX - 1
                                                          : (size_t)connections - 1;
    if (want > (batches > 0 ? batches - 1 : 0))
        want = batches > 0 ? batches - 1 : 0;
    pthread_t helpers[JOB_RISK_PASS_CONNS_MAX];
    size_t started = 0;
    while (started < want && pthread_create(&helpers[started], NULL, helper_main, &l) == 0)
        started++;
    (void)take_batches(c, &l);
    for (size_t i = 0; i < started; i++)
        pthread_join(helpers[i], NULL);
    pthread_mutex_destroy(&l.mu);
    *n_done += l.n_done;
    free(ids);
    return l.st;
}

db_status job_risk_run_requests(db_conn *c, int64_t now_s, size_t *n_done)
{
    model_enter();
    /* the DELETE commits on its own (autocommit) before the recomputes read: anything
     * changed after it leaves a new request behind for the next tick */
    /* keep taking batches until the queue is empty: a burst of requests
     * (an import, a model change) must not wait one worker tick per 500 */
    *n_done = 0;
    for (int round = 0; round < 10; round++) {
        size_t taken = 0;
        db_status st = run_list(c, 1, db_risk_take_requests, now_s, "change", &taken, n_done);
        if (st != DB_OK || taken < 500)
            return st;
    }
    return DB_OK;
}

int job_risk_wait_change(db_conn *c, int timeout_ms)
{
    int notified = 0;
    if (db_risk_listen(c) != DB_OK || db_risk_wait_requests(c, timeout_ms, &notified) != DB_OK)
        return -1;
    return notified;
}

db_status job_risk_run_all(db_conn *c, int connections, int64_t now_s, size_t *n_done)
{
    model_enter();
    *n_done = 0;
    size_t taken = 0;
    return run_list(c, connections, db_risk_all_enterprises, now_s, "periodic", &taken, n_done);
}

/* ---- escalation ----------------------------------------------------------- */

static const char *const warn_status_db[RISK_WARN_STATUS_COUNT] = {
    [RISK_WARN_ISSUED] = "issued",      [RISK_WARN_SIGNED] = "signed",
    [RISK_WARN_FEEDBACK] = "feedback",  [RISK_WARN_CLEAR_REQUESTED] = "clearance_requested",
    [RISK_WARN_SENT_BACK] = "returned", [RISK_WARN_CLEARED] = "cleared",
};

static int status_from_db(const char *s)
{
    for (int i = 0; i < RISK_WARN_STATUS_COUNT; i++)
        if (strcmp(warn_status_db[i], s) == 0)
            return i;
    return -1;
}

typedef struct {
    int64_t now_s;
    size_t steps;
    int skipped; /* another worker holds the lock */
    int64_t published[64][2];
    uint32_t published_step[64];
    size_t n_published;
} warn_ctx;

static db_status warnings_tx(db_conn *c, void *arg)
{
    warn_ctx *x = arg;
    x->steps = 0;
    x->n_published = 0;
    x->skipped = 0;
    int locked = 0;
    db_status st = db_risk_warnings_try_lock(c, &locked);
    if (st != DB_OK)
        return st;
    if (!locked) {
        x->skipped = 1;
        return DB_OK;
    }
    db_risk_due_warning *rows = NULL;
    size_t n = 0;
    st = db_risk_warnings_due(c, x->now_s, &rows, &n);
    if (st != DB_OK)
        return st;
    for (size_t i = 0; i < n && st == DB_OK; i++) {
        const db_risk_due_warning *w = &rows[i];
        int g = risk_grade_from_name(w->grade);
        int s = status_from_db(w->status);
        if (g < 0 || s < 0)
            continue;
        /* the current grade's ladder starts at the last upgrade (else the issue) and
         * numbers its steps after those applied before it */
        int64_t base = w->ladder_base < 0 || w->ladder_base > w->escalations_done
                           ? w->escalations_done
                           : w->ladder_base;
        risk_warning_state ws = {
            .grade = (risk_grade)g,
            .status = (risk_warning_status)s,
            .issued_at = w->ladder_start,
            .signed_at = w->signed_at,
            .clear_requested_at = w->clear_requested_at,
            .escalations_done = (uint32_t)(w->escalations_done - base),
        };
        /* the stored deadlines rule, whatever the model or configuration says today */
        risk_model m = g_model;
        m.warning[g].sign_within_s = w->sign_by - ws.issued_at;
        m.warning[g].clear_within_s = w->clear_by - ws.issued_at;
        risk_warning_decision d;
        if (risk_warning_check(&m, &ws, x->now_s, &d) != 0) {
            LOG_ERROR("warning state inconsistent", "warning=%lld", (long long)w->id);
            st = db_risk_set_next_check(c, w->id, -1);
            continue;
        }
        if (d.escalate_now) {
            /* the due time as a person reads it (UTC), not a raw Unix time (issue 16 item 4);
             * "sign"/"clearance" are codes of the label catalogue's escalation domain */
            char note[160], due[32];
            time_t due_t = (time_t)d.step_due_at;
            struct tm due_tm;
            gmtime_r(&due_t, &due_tm);
            strftime(due, sizeof due, "%Y-%m-%dT%H:%M:%SZ", &due_tm);
            snprintf(note, sizeof note, "%s deadline missed (due %s)",
                     ws.signed_at == 0 && d.overdue_sign && d.step == 1 ? "sign" : "clearance",
                     due);
            db_risk_escalation e = {
                .warning_id = w->id,
                .step = (unsigned)(base + d.step),
                .level = risk_admin_level_name(d.escalate_to),
                .duban = d.duban,
                .enforcement_referral = d.enforcement_referral,
                .note = note,
            };
            int64_t enterprise_id = 0;
            st = db_risk_escalate_warning(c, &e, &enterprise_id);
            if (st != DB_OK)
                break;
            if (enterprise_id) {
                x->steps++;
                if (x->n_published < 64) {
                    x->published[x->n_published][0] = w->id;
                    x->published[x->n_published][1] = enterprise_id;
                    x->published_step[x->n_published++] = (uint32_t)(base + d.step);
                }
            }
        } else {
            st = db_risk_set_next_check(c, w->id,
                                        d.next_check_at == INT64_MAX ? -1 : d.next_check_at);
            if (st != DB_OK)
                break;
        }
    }
    free(rows);
    return st;
}

db_status job_risk_check_warnings(db_conn *c, int64_t now_s, size_t *n_steps)
{
    model_enter();
    warn_ctx x = {.now_s = now_s};
    db_status st = db_run_tx(c, NULL, warnings_tx, &x);
    *n_steps = st == DB_OK ? x.steps : 0;
    if (st != DB_OK)
        return st;
    for (size_t i = 0; i < x.n_published; i++) {
        srv_event e = {.type = "warning",
                       .action = "escalate",
                       .id = x.published[i][0],
                       .enterprise_id = x.published[i][1]};
        json_t *f = json_pack("{s:i}", "step", (int)x.published_step[i]);
        srv_event_publish(&e, f);
        json_decref(f);
        LOG_INFO("warning escalated", "warning=%lld step=%u", (long long)x.published[i][0],
                 x.published_step[i]);
    }
    return DB_OK;
}
