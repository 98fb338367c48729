/* series_pieces — PostgreSQL's CPU per request for pieces of the point series, for
 * tests/bench/series_floor.sh.
 *
 *   series_pieces CONNINFO STATEMENTS POINTS SCOPE SECONDS PIECE [STATEMENT]
 *
 * STATEMENTS holds "-- name" lines, each followed by one line of SQL; every one is prepared
 * as the server prepares them (PQprepare, no parameter types).  POINTS holds "point_id
 * enterprise_id" lines; requests rotate over them.  SCOPE is "kind id from to bucket" (the
 * series statements' $1, $2, $4, $5, $6).  For SECONDS, one connection sends one pipeline
 * and sync per request, as db_read_pipeline does:
 *   select1   SELECT 1 (the protocol's floor: one round trip, an implicit transaction)
 *   scope     the scope statement alone (STATEMENT, default pts_series_scope; $1 the scope
 *             "kind:id", $2 the point's enterprise, or "" when NOFOCUS is set, $3 the point)
 *   piece     the scope statement ($SCOPE_STMT, default pts_series_scope), then STATEMENT
 *             with the first of the series' six parameters it takes
 * Prints requests, wall and this backend's CPU (/proc/PID/stat: the same machine) per
 * request, and answer bytes per request.  With DUMP=FILE every answer's cells go to FILE,
 * one request a line (to compare two statements' answers); N=count stops after count.
 */
#define _GNU_SOURCE
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* utime + stime of pid in clock ticks, -1 if unreadable */
static long cpu_ticks(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *s = strrchr(buf, ')');
    if (!s)
        return -1;
    long v[16] = {0};
    int i = 0;
    for (char *save = NULL, *t = strtok_r(s + 2, " ", &save); t && i < 16;
         t = strtok_r(NULL, " ", &save))
        v[i++] = atol(t);
    return v[11] + v[12];
}

static int prepare_all(PGconn *c, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        return -1;
    }
    static char line[1 << 17];
    char name[200] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "-- ", 3)) {
            snprintf(name, sizeof name, "%.199s", line + 3);
            continue;
        }
        if (!line[0] || !name[0])
            continue;
        PGresult *r = PQprepare(c, name, line, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "prepare %s: %s", name, PQerrorMessage(c));
            PQclear(r);
            fclose(f);
            return -1;
        }
        PQclear(r);
        name[0] = 0;
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: series_pieces CONNINFO STATEMENTS POINTS SCOPE SECONDS "
                        "select1|scope|piece [STATEMENT]\n");
        return 2;
    }
    const char *piece = argv[6];
    const char *stmt = argc > 7 ? argv[7] : "pts_series_scope";
    char kind[32], id[32], from[64], to[64], bucket[16];
    if (sscanf(argv[4], "%31s %31s %63s %63s %15s", kind, id, from, to, bucket) != 5) {
        fprintf(stderr, "SCOPE must be \"kind id from to bucket\"\n");
        return 2;
    }
    static long pts[100000][2];
    int np = 0;
    FILE *pf = fopen(argv[3], "r");
    if (!pf) {
        perror(argv[3]);
        return 2;
    }
    while (np < 100000 && fscanf(pf, "%ld %ld", &pts[np][0], &pts[np][1]) == 2)
        np++;
    fclose(pf);
    if (np == 0) {
        fprintf(stderr, "no points in %s\n", argv[3]);
        return 2;
    }
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "%s", PQerrorMessage(c));
        return 1;
    }
    if (prepare_all(c, argv[2]) != 0)
        return 1;
    char rls[80];
    snprintf(rls, sizeof rls, "%s:%s", kind, id);
    FILE *dump = getenv("DUMP") ? fopen(getenv("DUMP"), "w") : NULL;
    long max_n = getenv("N") ? atol(getenv("N")) : -1;
    int scope = strcmp(piece, "select1") != 0;
    const char *scope_stmt = strcmp(piece, "scope") == 0 ? stmt
                             : getenv("SCOPE_STMT")      ? getenv("SCOPE_STMT")
                                                         : "pts_series_scope";
    /* the statement's parameters: the first of the series' six (pts_get takes three) */
    int nparams = 6;
    if (strcmp(piece, "piece") == 0) {
        PGresult *d = PQdescribePrepared(c, stmt);
        if (PQresultStatus(d) != PGRES_COMMAND_OK) {
            fprintf(stderr, "%s: %s", stmt, PQerrorMessage(c));
            return 1;
        }
        nparams = PQnparams(d);
        PQclear(d);
    }
    int pid = PQbackendPID(c);
    double secs = atof(argv[5]);
    long t0 = cpu_ticks(pid), n = 0;
    size_t bytes = 0;
    double w0 = now_s();
    while (now_s() - w0 < secs && (max_n < 0 || n < max_n)) {
        char p[24], e[24];
        snprintf(p, sizeof p, "%ld", pts[n % np][0]);
        snprintf(e, sizeof e, "%ld", pts[n % np][1]);
        const char *sp[3] = {rls, getenv("NOFOCUS") ? "" : e, p};
        const char *xp[6] = {kind, id, p, from, to, bucket};
        if (!PQenterPipelineMode(c))
            return 1;
        int sent = 1;
        if (!scope)
            sent = PQsendQueryParams(c, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
        else
            sent = PQsendQueryPrepared(c, scope_stmt, 3, sp, NULL, NULL, 0);
        if (sent && strcmp(piece, "piece") == 0)
            sent = PQsendQueryPrepared(c, stmt, nparams, xp, NULL, NULL, 0);
        if (!sent || !PQpipelineSync(c)) {
            fprintf(stderr, "%s", PQerrorMessage(c));
            return 1;
        }
        /* results: the first statement's, NULL, the second's, NULL, the sync */
        int query = 0;
        for (;;) {
            PGresult *r = PQgetResult(c);
            if (!r) {
                query++;
                continue;
            }
            ExecStatusType es = PQresultStatus(r);
            if (es == PGRES_FATAL_ERROR) {
                fprintf(stderr, "%s", PQresultErrorMessage(r));
                return 1;
            }
            int answer = strcmp(piece, "piece") == 0 && query == 1 && es == PGRES_TUPLES_OK;
            if (es == PGRES_TUPLES_OK && PQntuples(r) > 0)
                for (int k = 0; k < PQnfields(r); k++) {
                    bytes += (size_t)PQgetlength(r, 0, k);
                    if (dump && answer)
                        fprintf(dump, "%s\t",
                                PQgetisnull(r, 0, k) ? "<null>" : PQgetvalue(r, 0, k));
                }
            if (dump && answer)
                fputc('\n', dump);
            PQclear(r);
            if (es == PGRES_PIPELINE_SYNC)
                break;
        }
        if (!PQexitPipelineMode(c))
            return 1;
        n++;
    }
    double wall = now_s() - w0;
    long t = cpu_ticks(pid) - t0;
    if (dump)
        fclose(dump);
    printf("requests=%ld wall_ms=%.3f pg_cpu_ms=%.3f bytes=%zu\n", n, 1000 * wall / (double)n,
           1000.0 * (double)t / (double)sysconf(_SC_CLK_TCK) / (double)n, bytes / (size_t)n);
    PQfinish(c);
    return 0;
}
