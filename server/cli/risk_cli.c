/* risk_cli.c — `dustwatch risk backtest` (see risk_cli.h): prints what job_backtest_run()
 * computes (the same answer as POST /api/v1/risk/backtest; what is approximated is said in
 * job_backtest.h). */
#include "risk_cli.h"

#include "db.h"
#include "job_backtest.h"
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

static const char *field(const json_t *row, const char *key)
{
    const char *v = json_string_value(json_object_get(row, key));
    return v ? v : "";
}

static int backtest(db_conn *c, const risk_model *m, const char *from, const char *to)
{
    json_t *res = NULL;
    char err[1024];
    if (job_backtest_run(c, m, from, to, &res, err, sizeof err) != DB_OK) {
        fprintf(stderr, "dustwatch: %s", err);
        return 1;
    }
    printf("backtest %s .. %s: %lld enterprises, new model %s\n", from, to,
           (long long)json_integer_value(json_object_get(res, "enterprises")), m->version);
    const json_t *changed = json_object_get(res, "changed");
    size_t i;
    const json_t *x;
    json_array_foreach(changed, i, x)
    {
        if (i == 0)
            printf("\nenterprises whose grade changes:\n");
        const char *why = field(x, "override_reason");
        printf("  %-20s %-6s %6s -> %-6s %6.2f%s%s\n", field(x, "code"), field(x, "from"),
               field(x, "r_from"), field(x, "to"), json_real_value(json_object_get(x, "r_to")),
               why[0] ? "  override " : "", why);
    }
    printf("\n%-8s %8s %8s\n", "grade", "stored", "new");
    for (int g = 0; g < RISK_GRADE_COUNT; g++) {
        const char *name = risk_grade_name((risk_grade)g);
        printf("%-8s %8lld %8lld\n", name,
               (long long)json_integer_value(json_object_get(json_object_get(res, "stored"), name)),
               (long long)json_integer_value(
                   json_object_get(json_object_get(res, "candidate"), name)));
    }
    char versions[256] = "";
    json_array_foreach(json_object_get(res, "stored_versions"), i, x)
    {
        const char *v = json_string_value(x);
        if (strlen(versions) + strlen(v) + 3 < sizeof versions) {
            if (versions[0])
                strcat(versions, ", ");
            strcat(versions, v);
        }
    }
    printf("\nchanged: %zu   unreadable inputs: %lld   stored model versions: %s\n",
           json_array_size(changed),
           (long long)json_integer_value(json_object_get(res, "unreadable")),
           versions[0] ? versions : "-");
    json_decref(res);
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
