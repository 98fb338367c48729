#include "cli_audit.h"

#include "db.h"
#include "db_audit.h"
#include "ing_decode.h"
#include "srv_audit.h"
#include "srv_config.h"
#include "srv_secret.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_BROKEN = 1, EXIT_USAGE = 2, EXIT_CANNOT = 3 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: dustwatch audit verify [--config FILE]\n"
            "       dustwatch audit export [--config FILE] [--from RFC3339] [--to RFC3339]\n"
            "                              [--format jsonl|csv]\n\n"
            "verify  checks the hash chain of the whole audit log (exit 0: intact, 1: broken,\n"
            "        naming the first broken row; 3: could not check)\n"
            "export  writes the rows with from <= at < to, in chain order, to stdout\n"
            "        (JSON lines by default; times in UTC, hashes in hex)\n\n"
            "Needs master_key_file (the audit chain's HMAC key is derived from it).\n");
}

static db_conn *audit_connect(void)
{
    const char *url =
        g_config.migrate_database_url[0] ? g_config.migrate_database_url : g_config.database_url;
    char err[1024];
    db_conn *c = db_connect(url, NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "dustwatch audit: %s\n", err);
        return NULL;
    }
    db_audit_register();
    return c;
}

static void hex(const unsigned char h[32], char out[65])
{
    sodium_bin2hex(out, 65, h, 32);
}

static void at_text(int64_t at_us, char *out, size_t outlen)
{
    /* always with microseconds: the export is exact */
    char buf[64];
    ing_format_rfc3339(at_us - at_us % 1000000, 0, buf, sizeof buf);
    char *z = strrchr(buf, 'Z');
    if (z)
        *z = '\0';
    int64_t frac = at_us % 1000000;
    if (frac < 0)
        frac += 1000000;
    snprintf(out, outlen, "%s.%06" PRId64 "Z", buf, frac);
}

/* ---- verify ------------------------------------------------------------- */

typedef struct {
    srv_audit_verifier v;
    int64_t head_id;
    int head_seen, head_ok;
    unsigned char head_hash[32];
    char why[300];
    int64_t bad_id;
    char bad_action[80], bad_at[80];
} verify_ctx;

static int verify_row(const srv_audit_row *row, void *arg)
{
    verify_ctx *x = arg;
    if (srv_audit_verifier_next(&x->v, row, x->why, sizeof x->why) != 0) {
        x->bad_id = row->id;
        snprintf(x->bad_action, sizeof x->bad_action, "%s", row->action);
        at_text(row->at_us, x->bad_at, sizeof x->bad_at);
        return 1;
    }
    if (row->id == x->head_id) {
        x->head_seen = 1;
        x->head_ok = sodium_memcmp(row->hash, x->head_hash, 32) == 0;
    }
    return 0;
}

static int run_verify(db_conn *c)
{
    unsigned char key[SRV_SECRET_KEY_BYTES];
    if (srv_secret_derive(SRV_SECRET_AUDIT_HMAC, key) != 0) {
        fprintf(stderr, "dustwatch audit: no master key to check the chain with\n");
        return EXIT_CANNOT;
    }
    verify_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return EXIT_CANNOT;
    srv_audit_verifier_init(&x->v, key);
    sodium_memzero(key, sizeof key);
    int has_head = 0, rc = EXIT_OK, stopped = 0;
    /* the head first: rows appended while we read lie beyond it */
    if (db_audit_head(c, &x->head_id, x->head_hash, &has_head) != DB_OK ||
        db_audit_scan(c, NULL, NULL, verify_row, x, &stopped) != DB_OK) {
        fprintf(stderr, "dustwatch audit: could not read the audit log\n");
        rc = EXIT_CANNOT;
    } else if (stopped) {
        fprintf(stderr, "dustwatch audit: chain broken at row %" PRId64 " (action=%s at=%s): %s\n",
                x->bad_id, x->bad_action, x->bad_at, x->why);
        printf("broken at row %" PRId64 "\n", x->bad_id);
        rc = EXIT_BROKEN;
    } else if (has_head && (!x->head_seen || !x->head_ok)) {
        fprintf(stderr,
                "dustwatch audit: chain broken at row %" PRId64
                " (the recorded end of the chain): %s\n",
                x->head_id,
                x->head_seen ? "its hash is not the one recorded in audit_chain_head"
                             : "the row is missing (rows at the end were removed)");
        printf("broken at row %" PRId64 "\n", x->head_id);
        rc = EXIT_BROKEN;
    } else if (!has_head && x->v.rows) {
        fprintf(stderr, "dustwatch audit: the log has rows but audit_chain_head records none\n");
        rc = EXIT_BROKEN;
    } else {
        char last[65] = "-";
        if (x->v.rows)
            hex(x->v.prev, last);
        printf("audit chain intact: %lld rows", x->v.rows);
        if (x->v.rows)
            printf(" (ids %" PRId64 "..%" PRId64 ")", x->v.first_id, x->v.last_id);
        printf(", %lld keyed", x->v.keyed_rows);
        if (x->v.legacy_rows) {
            int o = x->v.legacy_offset_s, a = o < 0 ? -o : o;
            printf(", %lld legacy (%swritten at UTC%c%02d:%02d)", x->v.legacy_rows,
                   x->v.legacy_offsets_mixed ? "sessions in several zones; the last " : "",
                   o < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
        }
        printf("; last hash %s\n", last);
    }
    srv_audit_verifier_wipe(&x->v);
    free(x);
    return rc;
}

/* ---- export ------------------------------------------------------------- */

typedef struct {
    int csv;
    long long rows;
} export_ctx;

static void csv_field(const char *s, int last)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
    putchar(last ? '\n' : ',');
}

static int export_row(const srv_audit_row *row, void *arg)
{
    export_ctx *x = arg;
    char at[80], prev[65] = "", h[65], id[24], acc[24] = "", chain[8];
    at_text(row->at_us, at, sizeof at);
    if (row->has_prev)
        hex(row->prev_hash, prev);
    hex(row->hash, h);
    snprintf(id, sizeof id, "%" PRId64, row->id);
    if (row->has_account)
        snprintf(acc, sizeof acc, "%" PRId64, row->account_id);
    snprintf(chain, sizeof chain, "%d", row->chain);
    if (x->csv) {
        const char *f[] = {
            id,          at,          acc,         row->username, row->source_ip, row->action,
            row->object, row->result, row->detail, chain,         prev,           h};
        size_t n = sizeof f / sizeof f[0];
        for (size_t i = 0; i < n; i++)
            csv_field(f[i], i + 1 == n);
    } else {
        json_t *o = json_pack("{s:I, s:s, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:s}", "id",
                              (json_int_t)row->id, "at", at, "account_id",
                              row->has_account ? json_integer(row->account_id) : json_null(),
                              "username", row->username, "source_ip", row->source_ip, "action",
                              row->action, "object", row->object, "result", row->result, "detail",
                              row->detail, "chain", row->chain, "prev_hash",
                              row->has_prev ? json_string(prev) : json_null(), "hash", h);
        if (!o)
            return 1;
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!s)
            return 1;
        puts(s);
        free(s);
    }
    x->rows++;
    return 0;
}

static int run_export(db_conn *c, const char *from, const char *to, const char *format)
{
    int64_t from_us = 0, to_us = 0;
    if (from && ing_parse_rfc3339(from, &from_us) != 0) {
        fprintf(stderr, "dustwatch audit: --from \"%s\" is not an RFC 3339 time\n", from);
        return EXIT_USAGE;
    }
    if (to && ing_parse_rfc3339(to, &to_us) != 0) {
        fprintf(stderr, "dustwatch audit: --to \"%s\" is not an RFC 3339 time\n", to);
        return EXIT_USAGE;
    }
    if (from && to && to_us < from_us) {
        fprintf(stderr, "dustwatch audit: --to is before --from\n");
        return EXIT_USAGE;
    }
    export_ctx x = {.csv = strcmp(format, "csv") == 0};
    if (x.csv)
        printf("id,at,account_id,username,source_ip,action,object,result,detail,chain,prev_hash,"
               "hash\n");
    int stopped = 0;
    if (db_audit_scan(c, from ? &from_us : NULL, to ? &to_us : NULL, export_row, &x, &stopped) !=
            DB_OK ||
        stopped) {
        fprintf(stderr, "dustwatch audit: could not read the audit log\n");
        return EXIT_CANNOT;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "dustwatch audit: could not write the export\n");
        return EXIT_CANNOT;
    }
    fprintf(stderr, "dustwatch audit: exported %lld rows\n", x.rows);
    return EXIT_OK;
}

int cli_audit_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *cmd = argv[1];
    int verify = strcmp(cmd, "verify") == 0;
    if (!verify && strcmp(cmd, "export") != 0) {
        fprintf(stderr, "dustwatch audit: unknown command \"%s\"\n\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},     {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *config = NULL, *from = NULL, *to = NULL, *format = "jsonl";
    int o;
    optind = 1;
    while ((o = getopt_long(argc - 1, argv + 1, "c:f:t:F:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 'f':
        case 't':
        case 'F':
            if (verify) {
                fprintf(stderr, "dustwatch audit: verify checks the whole chain; it takes no "
                                "--from, --to or --format\n");
                return EXIT_USAGE;
            }
            *(o == 'f' ? &from : o == 't' ? &to : &format) = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "dustwatch audit: unexpected argument \"%s\"\n", argv[optind + 1]);
        return EXIT_USAGE;
    }
    if (strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0) {
        fprintf(stderr, "dustwatch audit: --format is jsonl or csv\n");
        return EXIT_USAGE;
    }
    char err[1024];
    if (srv_config_load(config, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch audit: %s\n", err);
        return EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        srv_config_free();
        return EXIT_CANNOT;
    }
    int rc = EXIT_CANNOT;
    if (verify && srv_secret_require(err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch audit: %s\n", err);
    } else {
        db_conn *c = audit_connect();
        if (c) {
            rc = verify ? run_verify(c) : run_export(c, from, to, format);
            db_close(c);
        }
    }
    srv_config_free();
    return rc;
}
