/* job_backtest.c — grades under a candidate model over a period (job_backtest.h). */
#include "job_backtest.h"

#include "db_risk.h"
#include "job_risk.h"
#include "risk_score.h"

#include <stdio.h>
#include <string.h>

static const char *field(const json_t *row, const char *key)
{
    const char *v = json_string_value(json_object_get(row, key));
    return v ? v : "";
}

static json_t *counts_json(const long n[RISK_GRADE_COUNT])
{
    json_t *o = json_object();
    for (int g = 0; g < RISK_GRADE_COUNT; g++)
        json_object_set_new(o, risk_grade_name((risk_grade)g), json_integer(n[g]));
    return o;
}

static void add_version(json_t *versions, const char *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(versions, i, x)
    {
        if (strcmp(json_string_value(x), v) == 0)
            return;
    }
    json_array_append_new(versions, json_string(v));
}

db_status job_backtest_run(db_conn *c, const risk_model *m, const char *from, const char *to,
                           json_t **out, char *err, size_t errlen)
{
    json_t *rows = NULL;
    err[0] = '\0';
    db_status st = db_risk_backtest_snapshots(c, from, to, &rows, err, errlen);
    if (st != DB_OK)
        return st;
    long before[RISK_GRADE_COUNT] = {0}, after[RISK_GRADE_COUNT] = {0};
    long bad = 0;
    json_t *changed = json_array(), *versions = json_array();
    size_t n = json_array_size(rows);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(rows, i);
        add_version(versions, field(row, "model_version"));
        json_t *in = json_loads(field(row, "inputs"), 0, NULL);
        risk_archive a;
        risk_dynamic d;
        risk_system_state sys[JOB_RISK_MAX_SYSTEMS];
        risk_score_result res;
        int g0 = risk_grade_from_name(field(row, "grade"));
        if (!in || g0 < 0 ||
            job_risk_inputs_from_json(in, &a, &d, sys, JOB_RISK_MAX_SYSTEMS) != 0 ||
            risk_score_compute(m, &a, &d, &res) != 0) {
            bad++;
            json_decref(in);
            continue;
        }
        json_decref(in);
        before[g0]++;
        after[res.grade]++;
        if ((int)res.grade != g0)
            json_array_append_new(
                changed,
                json_pack("{s:O, s:s, s:s, s:s, s:s, s:s, s:f, s:s?}", "enterprise_id",
                          json_object_get(row, "enterprise_id"), "code", field(row, "code"), "name",
                          field(row, "name"), "from", risk_grade_name((risk_grade)g0), "r_from",
                          field(row, "r"), "to", risk_grade_name(res.grade), "r_to", res.R,
                          "override_reason", res.override ? res.override_reason : NULL));
    }
    json_decref(rows);
    *out = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:I}", "from", from, "to", to,
                     "model_version", m->version, "enterprises", (json_int_t)n, "stored_versions",
                     versions, "stored", counts_json(before), "candidate", counts_json(after),
                     "changed", changed, "unreadable", (json_int_t)bad);
    if (!*out) {
        snprintf(err, errlen, "out of memory\n");
        return DB_HARD;
    }
    return DB_OK;
}
