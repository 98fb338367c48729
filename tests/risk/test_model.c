/* test_model.c — the shipped schema/risk-model.default.json equals risk_model_default(),
 * and the loader rejects unknown/missing keys, wrong types and invalid models with a
 * message naming the path. Usage: test-risk-model <path to risk-model.default.json> */
#include "risk_model.h"
#include "risk_test.h"
#include "srv_riskmodel.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    const char *parent; /* JSON pointer-ish path of objects, "/" separated; "" = root */
    const char *key;
    const char *value_json; /* NULL = delete the key */
    const char *want_in_err;
} mutation;

static json_t *walk(json_t *root, const char *parent)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", parent);
    json_t *o = root;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && o;
         tok = strtok_r(NULL, "/", &save))
        o = json_object_get(o, tok);
    return o;
}

static void test_mutations(json_t *good)
{
    static const mutation muts[] = {
        {"unknown top-level key", "", "wieghts", "{}", "unknown key \"wieghts\""},
        {"unknown nested key", "inherent", "dust_point", "1", "$.inherent: unknown key"},
        {"unknown key in a term", "site/video_offline", "cap", "1", "$.site.video_offline"},
        {"missing key", "weights", "site", NULL, "$.weights: missing key \"site\""},
        {"wrong type", "weights", "alarm", "\"0.5\"", "$.weights.alarm: must be a number"},
        {"integer expected", "warnings", "reescalate_every_s", "1.5", "must be an integer"},
        {"bad level name", "warnings/grades/red", "escalate_to", "\"province\"",
         "$.warnings.grades.red.escalate_to"},
        {"bool expected", "overrides", "hot_spark", "1", "$.overrides.hot_spark"},
        {"bands not an array", "inherent", "worker_bands", "{}", "$.inherent.worker_bands"},
        {"cross-field rule", "grade_thresholds", "orange", "80", "invalid model: grade"},
        {"shares above 1", "alarm/count_24h", "share", "0.9", "invalid model: the shares"},
        {"empty version", "", "version", "\"\"", "$.version"},
    };
    for (size_t i = 0; i < sizeof muts / sizeof muts[0]; i++) {
        json_t *copy = json_deep_copy(good);
        json_t *parent = walk(copy, muts[i].parent);
        CHECK(parent != NULL, "%s: parent %s", muts[i].name, muts[i].parent);
        if (!parent) {
            json_decref(copy);
            continue;
        }
        if (muts[i].value_json)
            json_object_set_new(parent, muts[i].key,
                                json_loads(muts[i].value_json, JSON_DECODE_ANY, NULL));
        else
            json_object_del(parent, muts[i].key);
        char *text = json_dumps(copy, 0);
        risk_model m;
        char err[256];
        int rc = srv_riskmodel_parse(text, &m, err, sizeof err);
        CHECK(rc == -1, "%s: accepted", muts[i].name);
        CHECK(strstr(err, muts[i].want_in_err) != NULL, "%s: message \"%s\" lacks \"%s\"",
              muts[i].name, err, muts[i].want_in_err);
        free(text);
        json_decref(copy);
    }
    risk_model m;
    char err[256];
    CHECK(srv_riskmodel_parse("{\"version\": ", &m, err, sizeof err) == -1 && err[0],
          "syntax error reported");
    CHECK(srv_riskmodel_parse("[]", &m, err, sizeof err) == -1, "array root");
    CHECK(srv_riskmodel_load("/nonexistent/model.json", &m, err, sizeof err) == -1 &&
              strstr(err, "/nonexistent/model.json"),
          "missing file names the path: %s", err);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s risk-model.default.json\n", argv[0]);
        return 2;
    }
    risk_model loaded, builtin;
    char err[256];
    int rc = srv_riskmodel_load(argv[1], &loaded, err, sizeof err);
    CHECK(rc == 0, "shipped default model loads: %s", err);
    risk_model_default(&builtin);
    char what[64] = "";
    CHECK(rc == 0 && risk_model_diff(&builtin, &loaded, what, sizeof what) == 0,
          "shipped JSON differs from risk_model_default() at %s", what);

    json_error_t jerr;
    json_t *good = json_load_file(argv[1], 0, &jerr);
    CHECK(good != NULL, "reload: %s", jerr.text);
    if (good) {
        char *text = json_dumps(good, 0);
        CHECK(srv_riskmodel_parse(text, &loaded, err, sizeof err) == 0, "parse from text: %s", err);
        free(text);
        test_mutations(good);
        json_decref(good);
    }
    return rt_report("risk-model");
}
