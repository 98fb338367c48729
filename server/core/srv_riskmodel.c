/* srv_riskmodel.c — strict JSON → risk_model loader.
 *
 * Every key is required and no other key is allowed: a typo in a weight name must fail at
 * start-up, not silently leave the default in place. Errors name the JSON path. */
#include "srv_riskmodel.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *err;
    size_t errlen;
    int failed;
} ctx;

__attribute__((format(printf, 2, 3))) static void fail(ctx *c, const char *fmt, ...)
{
    if (c->failed)
        return; /* keep the first, most specific message */
    c->failed = 1;
    if (c->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

/* Rejects keys not in `allowed` (NULL-terminated) and reports the first missing one. */
static void check_keys(ctx *c, json_t *obj, const char *path, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                known = 1;
        if (!known && strcmp(key, "$schema") != 0 && strcmp(key, "description") != 0) {
            char list[256] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a && used < sizeof list; a++) {
                int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *a);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            fail(c, "%s: unknown key \"%s\" (allowed: %s)", path, key, list);
            return;
        }
    }
    for (const char *const *a = allowed; *a; a++) {
        if (!json_object_get(obj, *a)) {
            fail(c, "%s: missing key \"%s\"", path, *a);
            return;
        }
    }
}

static json_t *obj_at(ctx *c, json_t *parent, const char *ppath, const char *key, char *path,
                      size_t pathlen, const char *const *allowed)
{
    snprintf(path, pathlen, "%s.%s", ppath, key);
    json_t *o = json_object_get(parent, key);
    if (!json_is_object(o)) {
        fail(c, "%s: must be an object", path);
        return NULL;
    }
    check_keys(c, o, path, allowed);
    return c->failed ? NULL : o;
}

static void num_at(ctx *c, json_t *obj, const char *ppath, const char *key, double *dst)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v)) {
        fail(c, "%s.%s: must be a number", ppath, key);
        return;
    }
    *dst = json_number_value(v);
}

static void int_at(ctx *c, json_t *obj, const char *ppath, const char *key, int64_t *dst)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        fail(c, "%s.%s: must be an integer", ppath, key);
        return;
    }
    *dst = (int64_t)json_integer_value(v);
}

static void bool_at(ctx *c, json_t *obj, const char *ppath, const char *key, bool *dst)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) {
        fail(c, "%s.%s: must be true or false", ppath, key);
        return;
    }
    *dst = json_is_true(v);
}

static void level_at(ctx *c, json_t *obj, const char *ppath, const char *key, risk_admin_level *dst)
{
    json_t *v = json_object_get(obj, key);
    int l = json_is_string(v) ? risk_admin_level_from_name(json_string_value(v)) : -1;
    if (l < 0) {
        fail(c, "%s.%s: must be one of enterprise, street, district, city", ppath, key);
        return;
    }
    *dst = (risk_admin_level)l;
}

static const char *const term_keys[] = {"share", "saturation", NULL};

static void term_at(ctx *c, json_t *parent, const char *ppath, const char *key, risk_term *t)
{
    char path[128];
    json_t *o = obj_at(c, parent, ppath, key, path, sizeof path, term_keys);
    if (!o)
        return;
    num_at(c, o, path, "share", &t->share);
    num_at(c, o, path, "saturation", &t->saturation);
}

static const char *const band_keys[] = {"min", "points", NULL};

static void bands_at(ctx *c, json_t *parent, const char *ppath, const char *key, risk_band_table *t)
{
    json_t *a = json_object_get(parent, key);
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > RISK_MODEL_MAX_BANDS) {
        fail(c, "%s.%s: must be an array of 1..%d bands", ppath, key, RISK_MODEL_MAX_BANDS);
        return;
    }
    t->n = json_array_size(a);
    for (size_t i = 0; i < t->n && !c->failed; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s.%s[%zu]", ppath, key, i);
        json_t *b = json_array_get(a, i);
        if (!json_is_object(b)) {
            fail(c, "%s: must be an object", path);
            return;
        }
        check_keys(c, b, path, band_keys);
        int64_t min = 0;
        int_at(c, b, path, "min", &min);
        if (!c->failed && (min < 0 || min > (int64_t)UINT32_MAX)) {
            fail(c, "%s.min: out of range", path);
            return;
        }
        t->band[i].min = (uint32_t)min;
        num_at(c, b, path, "points", &t->band[i].points);
    }
}

static const char *const top_keys[] = {
    "version",  "weights", "grade_thresholds", "inherent", "alarm",
    "handling", "site",    "overrides",        "warnings", NULL};
static const char *const weight_keys[] = {"alarm", "handling", "site", NULL};
static const char *const grade_keys[] = {"yellow", "orange", "red", NULL};
static const char *const inherent_keys[] = {"dust_points",
                                            "st_points",
                                            "worker_bands",
                                            "removal_points",
                                            "positive_pressure_points",
                                            "collector_indoors_points",
                                            "dry_collector_bands",
                                            "multi_storey_points",
                                            "max",
                                            NULL};
static const char *const dust_keys[] = {"metal_al_mg", "metal_other", "wood", NULL};
static const char *const st_keys[] = {"unknown", "st1", "st2", "st3", NULL};
static const char *const removal_keys[] = {"none", "dry_central", "dry_per_station", "wet", NULL};
static const char *const alarm_keys[] = {"level1_weight",
                                         "level2_weight",
                                         "other_point_factor",
                                         "count_24h",
                                         "count_7d",
                                         "duration_24h",
                                         NULL};
static const char *const handling_keys[] = {"overdue_unacked", "overdue_unhandled",
                                            "repeat_after_handled", NULL};
static const char *const site_keys[] = {"missed_cleaning", "online_deficit", "video_offline",
                                        "open_hazards", NULL};
static const char *const override_keys[] = {"major_hazard", "hot_spark", "dp_collapse_fan", NULL};
static const char *const warnings_keys[] = {"reescalate_every_s", "grades", NULL};
static const char *const wgrade_keys[] = {"blue", "yellow", "orange", "red", NULL};
static const char *const wrule_keys[] = {
    "sign_within_s", "clear_within_s", "supervisor",           "escalate_to",
    "inform_city",   "duban",          "enforcement_referral", NULL};

static void parse_inherent(ctx *c, json_t *root, risk_model *m)
{
    char path[128], sub[128];
    json_t *o = obj_at(c, root, "$", "inherent", path, sizeof path, inherent_keys);
    if (!o)
        return;
    json_t *d = obj_at(c, o, path, "dust_points", sub, sizeof sub, dust_keys);
    if (d) {
        num_at(c, d, sub, "metal_al_mg", &m->dust_points_metal_al_mg);
        num_at(c, d, sub, "metal_other", &m->dust_points_metal_other);
        num_at(c, d, sub, "wood", &m->dust_points_wood);
    }
    json_t *s = obj_at(c, o, path, "st_points", sub, sizeof sub, st_keys);
    for (int i = 0; s && i < RISK_ST_COUNT; i++)
        num_at(c, s, sub, risk_st_class_name((risk_st_class)i), &m->st_points[i]);
    bands_at(c, o, path, "worker_bands", &m->worker_bands);
    json_t *r = obj_at(c, o, path, "removal_points", sub, sizeof sub, removal_keys);
    for (int i = 0; r && i < RISK_REMOVAL_COUNT; i++)
        num_at(c, r, sub, risk_removal_name((risk_removal_setup)i), &m->removal_points[i]);
    num_at(c, o, path, "positive_pressure_points", &m->positive_pressure_points);
    num_at(c, o, path, "collector_indoors_points", &m->collector_indoors_points);
    bands_at(c, o, path, "dry_collector_bands", &m->dry_collector_bands);
    num_at(c, o, path, "multi_storey_points", &m->multi_storey_points);
    num_at(c, o, path, "max", &m->inherent_max);
}

static void parse_dynamic(ctx *c, json_t *root, risk_model *m)
{
    char path[128];
    json_t *a = obj_at(c, root, "$", "alarm", path, sizeof path, alarm_keys);
    if (a) {
        num_at(c, a, path, "level1_weight", &m->level1_weight);
        num_at(c, a, path, "level2_weight", &m->level2_weight);
        num_at(c, a, path, "other_point_factor", &m->other_point_factor);
        term_at(c, a, path, "count_24h", &m->alarm_count_24h);
        term_at(c, a, path, "count_7d", &m->alarm_count_7d);
        term_at(c, a, path, "duration_24h", &m->alarm_duration_24h);
    }
    json_t *h = obj_at(c, root, "$", "handling", path, sizeof path, handling_keys);
    if (h) {
        term_at(c, h, path, "overdue_unacked", &m->overdue_unacked);
        term_at(c, h, path, "overdue_unhandled", &m->overdue_unhandled);
        term_at(c, h, path, "repeat_after_handled", &m->repeat_after_handled);
    }
    json_t *s = obj_at(c, root, "$", "site", path, sizeof path, site_keys);
    if (s) {
        term_at(c, s, path, "missed_cleaning", &m->missed_cleaning);
        term_at(c, s, path, "online_deficit", &m->online_deficit);
        term_at(c, s, path, "video_offline", &m->video_offline);
        term_at(c, s, path, "open_hazards", &m->open_hazards);
    }
}

static void parse_warnings(ctx *c, json_t *root, risk_model *m)
{
    char path[128], gpath[128], rpath[160];
    json_t *w = obj_at(c, root, "$", "warnings", path, sizeof path, warnings_keys);
    if (!w)
        return;
    int_at(c, w, path, "reescalate_every_s", &m->reescalate_every_s);
    json_t *g = obj_at(c, w, path, "grades", gpath, sizeof gpath, wgrade_keys);
    for (int i = 0; g && i < RISK_GRADE_COUNT && !c->failed; i++) {
        risk_warning_rule *r = &m->warning[i];
        json_t *o =
            obj_at(c, g, gpath, risk_grade_name((risk_grade)i), rpath, sizeof rpath, wrule_keys);
        if (!o)
            return;
        int_at(c, o, rpath, "sign_within_s", &r->sign_within_s);
        int_at(c, o, rpath, "clear_within_s", &r->clear_within_s);
        level_at(c, o, rpath, "supervisor", &r->supervisor);
        level_at(c, o, rpath, "escalate_to", &r->escalate_to);
        bool_at(c, o, rpath, "inform_city", &r->inform_city);
        bool_at(c, o, rpath, "duban", &r->duban);
        bool_at(c, o, rpath, "enforcement_referral", &r->enforcement_referral);
    }
}

static int parse_root(json_t *root, risk_model *out, ctx *c)
{
    risk_model m;
    memset(&m, 0, sizeof m); /* deterministic padding, like risk_model_default() */
    char path[128];

    if (!json_is_object(root)) {
        fail(c, "$: must be an object");
        return -1;
    }
    check_keys(c, root, "$", top_keys);

    json_t *v = json_object_get(root, "version");
    if (!c->failed) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) >= RISK_MODEL_VERSION_MAX)
            fail(c, "$.version: must be a string of 1..%d bytes", RISK_MODEL_VERSION_MAX - 1);
        else
            snprintf(m.version, sizeof m.version, "%s", json_string_value(v));
    }
    json_t *o = c->failed ? NULL : obj_at(c, root, "$", "weights", path, sizeof path, weight_keys);
    if (o) {
        num_at(c, o, path, "alarm", &m.w_alarm);
        num_at(c, o, path, "handling", &m.w_handling);
        num_at(c, o, path, "site", &m.w_site);
    }
    o = c->failed ? NULL : obj_at(c, root, "$", "grade_thresholds", path, sizeof path, grade_keys);
    if (o) {
        num_at(c, o, path, "yellow", &m.grade_min[RISK_GRADE_YELLOW]);
        num_at(c, o, path, "orange", &m.grade_min[RISK_GRADE_ORANGE]);
        num_at(c, o, path, "red", &m.grade_min[RISK_GRADE_RED]);
    }
    if (!c->failed)
        parse_inherent(c, root, &m);
    if (!c->failed)
        parse_dynamic(c, root, &m);
    o = c->failed ? NULL : obj_at(c, root, "$", "overrides", path, sizeof path, override_keys);
    if (o) {
        bool_at(c, o, path, "major_hazard", &m.override_major_hazard);
        bool_at(c, o, path, "hot_spark", &m.override_hot_spark);
        bool_at(c, o, path, "dp_collapse_fan", &m.override_dp_collapse_fan);
    }
    if (!c->failed)
        parse_warnings(c, root, &m);
    if (c->failed)
        return -1;

    const char *why = NULL;
    if (risk_model_validate(&m, &why) != 0) {
        fail(c, "invalid model: %s", why);
        return -1;
    }
    *out = m;
    return 0;
}

static int finish(json_t *root, const json_error_t *jerr, const char *what, risk_model *out,
                  char *err, size_t errlen)
{
    ctx c = {err, errlen, 0};
    if (errlen > 0)
        err[0] = '\0';
    if (!root) {
        fail(&c, "%s:%d:%d: %s", what, jerr->line, jerr->column, jerr->text);
        return -1;
    }
    int rc = parse_root(root, out, &c);
    json_decref(root);
    if (rc != 0 && errlen > 0) {
        /* Prefix the source so the start-up log names the file. */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, errlen, "%s: %s", what, tmp);
    }
    return rc;
}

int srv_riskmodel_load(const char *path, risk_model *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    return finish(root, &jerr, path, out, err, errlen);
}

int srv_riskmodel_parse(const char *text, risk_model *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    return finish(root, &jerr, "risk model", out, err, errlen);
}
