/* dustwatch: one binary, subcommands.  The composition root: the only file
 * that names every layer's entry point (the roles `serve` runs, the
 * subcommands), so no library has to know about the ones above it. */
#include "api_role.h"
#include "cli_audit.h"
#include "cli_demo.h"
#include "db_migrate.h"
#include "risk_cli.h"
#include "srv_admin.h"
#include "dw_config.h"
#include "srv_config.h"
#include "ing_http.h"
#include "job_worker.h"
#include "srv_serve.h"
#include "fwd_role.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *help;
} subcommand;

static int version_main(int argc, char **argv);
static int serve_main(int argc, char **argv);
static int simulate_main(int argc, char **argv);
static int config_main(int argc, char **argv);

static const subcommand subcommands[] = {
    {"serve", serve_main, "run the server (roles: ingest, api, worker, forward)"},
    {"migrate", db_migrate_main, "apply database migrations"},
    {"admin", srv_admin_main, "accounts and ingest credentials (create, reset, revoke)"},
    {"audit", cli_audit_main, "the audit trail (verify its hash chain, export a time range)"},
    {"demo", cli_demo_main, "the demo city (seed it, with the simulator's fleet file)"},
    {"risk", risk_cli_main, "risk model tools (backtest)"},
    {"simulate", simulate_main, "enterprise-gateway simulator (all three dialects)"},
    {"config", config_main, "print the example configuration with every key"},
    {"routes", api_routes_main, "print the REST API's route table (--json: as GET /api/v1/routes)"},
    {"version", version_main, "print the version"},
};

/* In start order; serve stops them in reverse. */
static const srv_role *const roles[] = {&ing_http_role, &api_role, &job_worker_role, &fwd_role};

static int serve_main(int argc, char **argv)
{
    return srv_serve_main(argc, argv, roles, sizeof roles / sizeof roles[0]);
}

/* The simulator is a tool, not part of the server: its own binary beside
 * this one, run in place of `dustwatch simulate`. */
static int simulate_main(int argc, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
    if (n <= 0) {
        fprintf(stderr, "dustwatch: cannot locate dustwatch-sim\n");
        return 1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    strcpy(slash ? slash + 1 : self, "dustwatch-sim");
    argv[0] = self;
    execv(self, argv);
    fprintf(stderr, "dustwatch: cannot run %s: %s\n", self, strerror(errno));
    return 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: dustwatch COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
    fprintf(out, "\n`dustwatch COMMAND --help` describes each command.\n");
}

static int version_main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: dustwatch version\n\nPrints the version of this build.\n");
        return 0;
    }
    printf("dustwatch %s\n", DW_VERSION);
    return 0;
}

static int config_main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: dustwatch config [--example]\n\nPrints every configuration key with its "
               "default and help text,\nin the config file format.\n");
        return 0;
    }
    srv_config_write_example(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return version_main(1, argv);
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "dustwatch: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
