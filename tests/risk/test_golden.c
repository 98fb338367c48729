/* test_golden.c — runs every JSON case in tests/risk/cases through risk_score_compute() with the
 * shipped default model and compares score (±0.01), grade, override flag and the multiset
 * of fired rule codes. Expectations come from an independent implementation
 * (gen_golden.py). Unknown keys in a case are errors, so a typo cannot make a case vacuous.
 * Usage: test-risk-golden <cases dir> <risk-model.default.json> */
#include "risk_score.h"
#include "risk_test.h"
#include "srv_riskmodel.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>

#define MIN_CASES   30
#define MAX_SYSTEMS 16

static bool keys_ok(json_t *obj, const char *const *allowed, const char *file, const char *where)
{
    const char *key;
    json_t *val;
    bool ok = true;
    json_object_foreach(obj, key, val)
    {
        bool known = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                known = true;
        CHECK(known, "%s: unknown key %s.%s", file, where, key);
        ok = ok && known;
    }
    return ok;
}

static uint32_t u32(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (uint32_t)json_integer_value(v) : 0;
}

static bool flag(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

static const char *const level_keys[] = {"level1", "level2", NULL};
static const char *const count_keys[] = {"mandatory", "other", NULL};

static void read_counts(json_t *h, const char *key, risk_alarm_count *mand, risk_alarm_count *other,
                        const char *file)
{
    json_t *c = json_object_get(h, key);
    if (!c)
        return;
    keys_ok(c, count_keys, file, key);
    json_t *m = json_object_get(c, "mandatory"), *o = json_object_get(c, "other");
    if (m) {
        keys_ok(m, level_keys, file, "mandatory");
        mand->level1 = u32(m, "level1");
        mand->level2 = u32(m, "level2");
    }
    if (o) {
        keys_ok(o, level_keys, file, "other");
        other->level1 = u32(o, "level1");
        other->level2 = u32(o, "level2");
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run_case(const risk_model *model, const char *dir, const char *file)
{
    static const char *const top_keys[] = {"name",    "description", "now", "archive",
                                           "history", "expect",      NULL};
    static const char *const arch_keys[] = {"dust_class",
                                            "st_class",
                                            "dust_workers",
                                            "removal",
                                            "positive_pressure_conveying",
                                            "collector_indoors",
                                            "dry_collectors",
                                            "multi_storey",
                                            NULL};
    static const char *const hist_keys[] = {"alarms_24h",
                                            "alarms_7d",
                                            "alarm_seconds_24h_mandatory",
                                            "overdue_unacked",
                                            "overdue_unhandled",
                                            "repeat_after_handled",
                                            "cleaning_required",
                                            "cleaning_missed",
                                            "online_rate_mandatory",
                                            "video_offline",
                                            "open_hazards",
                                            "major_hazard_items",
                                            "systems",
                                            NULL};
    static const char *const sys_keys[] = {"id",          "hopper_temp_high_high", "spark_detected",
                                           "dp_collapse", "fan_running",           NULL};
    static const char *const expect_keys[] = {"score", "grade", "override", "rules", NULL};

    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(root != NULL, "%s: %s", file, jerr.text);
    if (!root)
        return;
    json_t *a = json_object_get(root, "archive"), *h = json_object_get(root, "history"),
           *e = json_object_get(root, "expect");
    CHECK(json_is_object(a) && json_is_object(h) && json_is_object(e) &&
              json_is_integer(json_object_get(root, "now")),
          "%s: needs now, archive, history, expect", file);
    if (!json_is_object(a) || !json_is_object(h) || !json_is_object(e)) {
        json_decref(root);
        return;
    }
    keys_ok(root, top_keys, file, "$");
    keys_ok(a, arch_keys, file, "archive");
    keys_ok(h, hist_keys, file, "history");
    keys_ok(e, expect_keys, file, "expect");

    risk_archive arch;
    memset(&arch, 0, sizeof arch);
    int dc = risk_dust_class_from_name(json_string_value(json_object_get(a, "dust_class")));
    int st = risk_st_class_from_name(json_string_value(json_object_get(a, "st_class")));
    int rm = risk_removal_from_name(json_string_value(json_object_get(a, "removal")));
    CHECK(dc >= 0 && st >= 0 && rm >= 0, "%s: archive enums", file);
    arch.dust_class = dc >= 0 ? (risk_dust_class)dc : RISK_DUST_OTHER;
    arch.st_class = st >= 0 ? (risk_st_class)st : RISK_ST_UNKNOWN;
    arch.removal = rm >= 0 ? (risk_removal_setup)rm : RISK_REMOVAL_NONE;
    arch.dust_workers = u32(a, "dust_workers");
    arch.positive_pressure_conveying = flag(a, "positive_pressure_conveying");
    arch.collector_indoors = flag(a, "collector_indoors");
    arch.dry_collectors = u32(a, "dry_collectors");
    arch.multi_storey = flag(a, "multi_storey");

    risk_dynamic dyn;
    memset(&dyn, 0, sizeof dyn);
    read_counts(h, "alarms_24h", &dyn.alarms_24h_mandatory, &dyn.alarms_24h_other, file);
    read_counts(h, "alarms_7d", &dyn.alarms_7d_mandatory, &dyn.alarms_7d_other, file);
    dyn.alarm_seconds_24h_mandatory = u32(h, "alarm_seconds_24h_mandatory");
    dyn.overdue_unacked = u32(h, "overdue_unacked");
    dyn.overdue_unhandled = u32(h, "overdue_unhandled");
    dyn.repeat_after_handled = u32(h, "repeat_after_handled");
    dyn.cleaning_required = u32(h, "cleaning_required");
    dyn.cleaning_missed = u32(h, "cleaning_missed");
    json_t *rate = json_object_get(h, "online_rate_mandatory");
    dyn.online_rate_mandatory = rate ? json_number_value(rate) : 1.0;
    dyn.video_offline = u32(h, "video_offline");
    dyn.open_hazards = u32(h, "open_hazards");
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(h, "major_hazard_items"), i, v)
    {
        json_int_t item = json_integer_value(v);
        CHECK(item >= 1 && item <= 10, "%s: major hazard item %lld", file, (long long)item);
        if (item >= 1 && item <= 10)
            dyn.major_hazard_items |= (uint16_t)(1u << (item - 1));
    }
    risk_system_state sys[MAX_SYSTEMS];
    memset(sys, 0, sizeof sys);
    json_array_foreach(json_object_get(h, "systems"), i, v)
    {
        if (i >= MAX_SYSTEMS)
            break;
        keys_ok(v, sys_keys, file, "systems[]");
        sys[i].system_id = (int32_t)u32(v, "id");
        sys[i].hopper_temp_high_high = flag(v, "hopper_temp_high_high");
        sys[i].spark_detected = flag(v, "spark_detected");
        sys[i].dp_collapse = flag(v, "dp_collapse");
        sys[i].fan_running = flag(v, "fan_running");
        dyn.n_systems = i + 1;
    }
    dyn.systems = sys;

    risk_score_result r;
    int rc = risk_score_compute(model, &arch, &dyn, &r);
    CHECK(rc == 0, "%s: compute failed", file);

    double want_score = json_number_value(json_object_get(e, "score"));
    CHECK(fabs(r.R - want_score) <= 0.01 + 1e-9, "%s: score %.2f want %.2f", file, r.R, want_score);
    const char *want_grade = json_string_value(json_object_get(e, "grade"));
    CHECK(want_grade && strcmp(risk_grade_name(r.grade), want_grade) == 0, "%s: grade %s want %s",
          file, risk_grade_name(r.grade), want_grade ? want_grade : "?");
    CHECK(r.override == json_is_true(json_object_get(e, "override")), "%s: override %d", file,
          r.override);

    json_t *want_rules = json_object_get(e, "rules");
    size_t nw = json_array_size(want_rules);
    CHECK(nw == r.n_rules, "%s: %zu rules fired, want %zu", file, r.n_rules, nw);
    if (nw == r.n_rules && nw > 0) {
        const char **got = calloc(nw, sizeof *got), **want = calloc(nw, sizeof *want);
        if (got && want) {
            for (size_t k = 0; k < nw; k++) {
                got[k] = r.rules[k].code;
                want[k] = json_string_value(json_array_get(want_rules, k));
                if (!want[k])
                    want[k] = "";
            }
            qsort(got, nw, sizeof *got, cmp_str);
            qsort(want, nw, sizeof *want, cmp_str);
            for (size_t k = 0; k < nw; k++)
                CHECK(strcmp(got[k], want[k]) == 0, "%s: rule %s want %s", file, got[k], want[k]);
        }
        free(got);
        free(want);
    }
    if (rt_failures == 0)
        printf("ok  %s  R=%.2f %s%s\n", file, r.R, risk_grade_name(r.grade),
               r.override ? " (override)" : "");
    json_decref(root);
}

static bool is_case(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0 && name[0] != '.';
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <cases dir> <risk-model.default.json>\n", argv[0]);
        return 2;
    }
    risk_model model;
    char err[256];
    if (srv_riskmodel_load(argv[2], &model, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct dirent **list = NULL;
    int n = scandir(argv[1], &list, NULL, alphasort);
    CHECK(n >= 0, "cannot read %s", argv[1]);
    int cases = 0;
    for (int k = 0; k < n; k++) {
        if (is_case(list[k]->d_name)) {
            run_case(&model, argv[1], list[k]->d_name);
            cases++;
        }
        free(list[k]);
    }
    free(list);
    CHECK(cases >= MIN_CASES, "only %d golden cases (need %d)", cases, MIN_CASES);
    printf("%d golden cases\n", cases);
    return rt_report("risk-golden");
}
