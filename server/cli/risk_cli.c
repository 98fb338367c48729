/* risk_cli.c — `dustwatch risk backtest` (see risk_cli.h).
 *
 * What is approximated, on purpose: only stored snapshots are replayed (scores are stored
 * on every change and at least hourly), so a grade that lived between two snapshots is not
 * seen; the inputs are the ones summarised at the time (alarm counts, check-ins, online
 * rate, precursor states), which do not depend on the risk model, so the recomputation is
 * exact for those snapshots; warnings and escalations that the new model would have caused
 * are not simulated, only grades. */
#include "risk_cli.h"

#include "db.h"
#include "db_risk.h"
#include "job_risk.h"
#include "risk_score.h"
#include "srv_config.h"
#include "srv_riskmodel.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dustwatch risk backtest --model FILE --from TIME --to TIME [--config FILE]\n"
            "\n"
            "Recomputes the latest stored score of every enterprise inside [from, to) under\n"
            "the model FILE and prints the grade distribution under the stored grades and\n"
            "under the new model, then every enterprise whose grade changes.  TIME is any\n"
            "timestamp PostgreSQL accepts, e.g. 2026-11-01 or 2026-11-01T08:00:00+08:00.\n");
}

static const char *const grade_cols[RISK_GRADE_COUNT] = {"blue", "yellow", "orange", "red"};

static const char *field(const json_t *row, const char *key)
{
    const char *v = json_string_value(json_object_get(row, key));
    return v ? v : "";
}

static int backtest(db_conn *c, const risk_model *m, const char *from, const char *to)
{
    json_t *rows = NULL;
    char err[1024];
    if (db_risk_backtest_snapshots(c, from, to, &rows, err, sizeof err) != DB_OK) {
        fprintf(stderr, "dustwatch: %s", err);
        return 1;
    }
    int n = (int)json_array_size(rows);
    long before[RISK_GRADE_COUNT] = {0}, after[RISK_GRADE_COUNT] = {0};
    int changed = 0, bad = 0;
    char versions[256] = "";
    printf("backtest %s .. %s: %d enterprises, new model %s\n", from, to, n, m->version);
    for (int i = 0; i < n; i++) {
        const json_t *row = json_array_get(rows, (size_t)i);
        const char *ver = field(row, "model_version");
        if (!strstr(versions, ver) && strlen(versions) + strlen(ver) + 3 < sizeof versions) {
            if (versions[0])
                strcat(versions, ", ");
            strcat(versions, ver);
        }
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
        if ((int)res.grade != g0) {
            if (changed++ == 0)
                printf("\nenterprises whose grade changes:\n");
            printf("  %-20s %-6s %6s -> %-6s %6.2f%s%s\n", field(row, "code"), grade_cols[g0],
                   field(row, "r"), grade_cols[res.grade], res.R, res.override ? "  override " : "",
                   res.override ? res.override_reason : "");
        }
    }
    json_decref(rows);
    printf("\n%-8s %8s %8s\n", "grade", "stored", "new");
    for (int g = 0; g < RISK_GRADE_COUNT; g++)
        printf("%-8s %8ld %8ld\n", grade_cols[g], before[g], after[g]);
    printf("\nchanged: %d   unreadable inputs: %d   stored model versions: %s\n", changed, bad,
           versions[0] ? versions : "-");
    return 0;
}

int risk_cli_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "backtest") != 0) {
        fprintf(stderr, "dustwatch: unknown risk command \"%s\"\n", argv[1]);
        usage(stderr);
        return 2;
    }
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},    {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    const char *model = NULL, *from = NULL, *to = NULL, *config = NULL;
    int o;
    optind = 1;
    while ((o = getopt_long(argc - 1, argv + 1, "m:f:t:c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'm':
            model = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!model || !from || !to) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    if (srv_config_load(config, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        return 2;
    }
    risk_model m;
    if (srv_riskmodel_load(model, &m, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        srv_config_free();
        return 2;
    }
    db_conn *c = db_connect_scoped(g_config.database_url, "system", NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "dustwatch: %s\n", err);
        srv_config_free();
        return 1;
    }
    int rc = backtest(c, &m, from, to);
    db_close(c);
    srv_config_free();
    return rc;
}
