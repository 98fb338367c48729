#include "srv_admin.h"

#include "srv_cred.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_password.h"

#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* the audit trail's name for everything done from this command line */
#define AUDIT_USER             "admin-cli"
#define GENERATED_PASSWORD_LEN 20
#define DISPLAY_NAME_MAX       200

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* ---- arguments --------------------------------------------------------- */

/* Every option of every command; each command lists the letters it takes. */
typedef struct admin_args {
    const char *config;
    const char *username;
    const char *role;
    const char *region;
    const char *enterprise;
    const char *display_name;
    const char *kind;
    const char *label;
    const char *appid;
    const char *id;
    int password_stdin;
} admin_args;

static const struct option all_options[] = {
    {"config", required_argument, NULL, 'c'},       {"help", no_argument, NULL, 'h'},
    {"username", required_argument, NULL, 'u'},     {"role", required_argument, NULL, 'r'},
    {"region", required_argument, NULL, 'R'},       {"enterprise", required_argument, NULL, 'e'},
    {"display-name", required_argument, NULL, 'n'}, {"password-stdin", no_argument, NULL, 's'},
    {"kind", required_argument, NULL, 'k'},         {"label", required_argument, NULL, 'l'},
    {"appid", required_argument, NULL, 'a'},        {"id", required_argument, NULL, 'i'},
};
#define N_OPTIONS (sizeof all_options / sizeof all_options[0])

typedef struct admin_cmd {
    const char *name;
    int (*run)(PGconn *pg, const admin_args *a);
    const char *options; /* letters of all_options it accepts besides c and h */
    const char *summary;
    const char *usage;
} admin_cmd;

static const char *const roles[] = {"city_admin",      "city_staff",   "district_admin",
                                    "district_staff",  "street_staff", "enterprise_manager",
                                    "enterprise_staff"};

/* ---- database helpers -------------------------------------------------- */

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The server's primary message without the "ERROR:  " decoration and
 * trailing newline, for printing after our own words. */
static void pg_message(PGconn *pg, const PGresult *r, char *out, size_t outlen)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!m || !*m)
        m = PQerrorMessage(pg);
    snprintf(out, outlen, "%s", m);
    size_t l = strlen(out);
    while (l && (out[l - 1] == '\n' || out[l - 1] == ' '))
        out[--l] = '\0';
}

static int is_sqlstate(const PGresult *r, const char *state)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s && strcmp(s, state) == 0;
}

static int result_ok(const PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

static PGresult *run(PGconn *pg, const char *sql, int n, const char *const *params)
{
    return PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
}

/* For statements whose failure is our bug or a broken database, not input:
 * says so on stderr and logs it. */
static PGresult *run_checked(PGconn *pg, const char *what, const char *sql, int n,
                             const char *const *params)
{
    PGresult *r = run(pg, sql, n, params);
    if (result_ok(r))
        return r;
    char m[512], q[600];
    pg_message(pg, r, m, sizeof m);
    if (is_sqlstate(r, "42P01"))
        fprintf(stderr,
                "dustwatch admin: %s: %s (is the database migrated? run `dustwatch "
                "migrate`)\n",
                what, m);
    else
        fprintf(stderr, "dustwatch admin: %s: %s\n", what, m);
    LOG_DEBUG("admin statement failed", "what=%s error=%s", what, srv_log_q(q, sizeof q, m));
    PQclear(r);
    return NULL;
}

static int command(PGconn *pg, const char *literal)
{
    PGresult *r = run_checked(pg, literal, literal, 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

static void rollback(PGconn *pg)
{
    PQclear(run(pg, "ROLLBACK", 0, NULL));
}

static const char *os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name ? pw->pw_name : "?";
}

/* Appends to the audit log; inside the caller's transaction for changes
 * that succeed (both commit or neither), on its own for refusals. */
static int audit(PGconn *pg, const char *action, const char *object, const char *result,
                 const char *detail)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%sos_user=%s", detail, *detail ? " " : "", os_user());
    const char *p[4] = {action, object, result, full};
    PGresult *r = run_checked(pg, "could not write the audit log",
                              "INSERT INTO audit_log (username, action, object, result, detail) "
                              "VALUES ('" AUDIT_USER "', $1, $2, $3, $4)",
                              4, p);
    PQclear(r);
    return r ? 0 : -1;
}

/* "<detail> reason=\"<why>\"" with the double quotes of why made single, so
 * the detail stays one key=value list */
static void audit_reason(char *out, size_t outlen, const char *detail, const char *why)
{
    snprintf(out, outlen, "%s reason=\"%s\"", detail, why);
    size_t len = strlen(out);
    for (size_t i = strlen(detail) + 9; i + 1 < len; i++)
        if (out[i] == '"')
            out[i] = '\'';
}

static PGconn *admin_connect(void)
{
    const char *url =
        g_config.migrate_database_url[0] ? g_config.migrate_database_url : g_config.database_url;
    PGconn *pg = PQconnectdb(url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "dustwatch admin: could not connect to PostgreSQL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    /* tenant tables force row-level security even for their owner; the
     * administrator acts for the whole deployment */
    PGresult *r = run_checked(pg, "could not set the session scope",
                              "SELECT set_config('dw.scope', 'system', false)", 0, NULL);
    if (!r) {
        PQfinish(pg);
        return NULL;
    }
    PQclear(r);
    return pg;
}

/* ---- input checks ------------------------------------------------------ */

static int valid_username(const char *u)
{
    size_t l = strlen(u);
    if (l < 3 || l > 64)
        return 0;
    for (size_t i = 0; i < l; i++) {
        char c = u[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return 0;
    }
    return 1;
}

static int known_role(const char *role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp(role, roles[i]) == 0)
            return 1;
    return 0;
}

static int is_enterprise_role(const char *role)
{
    return strncmp(role, "enterprise_", 11) == 0;
}

/* The new password: from stdin (a terminal is asked twice without echo),
 * or generated.  0 with the password in out, -1 after printing why not. */
static int read_password_line(char *out, size_t outlen, const char *prompt)
{
    int tty = isatty(STDIN_FILENO);
    struct termios saved, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &saved) == 0) {
            quiet = saved;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        } else {
            tty = 0;
        }
    }
    char *got = fgets(out, (int)outlen, stdin);
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fputc('\n', stderr);
    }
    if (!got) {
        fprintf(stderr, "dustwatch admin: --password-stdin: no password on standard input\n");
        return -1;
    }
    size_t l = strlen(out);
    if (l && out[l - 1] == '\n')
        out[--l] = '\0';
    else if (l == outlen - 1) {
        fprintf(stderr,
                "dustwatch admin: --password-stdin: the password is longer than %d "
                "bytes\n",
                SRV_PASSWORD_MAX_BYTES);
        return -1;
    }
    if (l && out[l - 1] == '\r')
        out[--l] = '\0';
    return 0;
}

static int new_password(const admin_args *a, const char *username, char *out, size_t outlen)
{
    if (!a->password_stdin) {
        if (srv_password_generate(out, GENERATED_PASSWORD_LEN, username) != 0) {
            fprintf(stderr, "dustwatch admin: could not generate a password\n");
            return -1;
        }
        return 0;
    }
    if (read_password_line(out, outlen, "new password: ") != 0)
        return -1;
    if (isatty(STDIN_FILENO)) {
        char again[SRV_PASSWORD_MAX_BYTES + 3];
        int same =
            read_password_line(again, sizeof again, "again: ") == 0 && strcmp(out, again) == 0;
        sodium_memzero(again, sizeof again);
        if (!same) {
            fprintf(stderr, "dustwatch admin: the passwords differ\n");
            return -1;
        }
    }
    char why[200];
    if (srv_password_check_policy(out, username, why, sizeof why) != 0) {
        fprintf(stderr, "dustwatch admin: password refused: %s\n", why);
        return -1;
    }
    return 0;
}

/* Resolves --region / --enterprise codes.  0 with id (and name) set, -1
 * after printing that there is no such thing. */
static int lookup(PGconn *pg, const char *what, const char *code, char id[24], char *name,
                  size_t namelen)
{
    const char *p[1] = {code};
    PGresult *r = strcmp(what, "region") == 0
                      ? run_checked(pg, "could not look up the region",
                                    "SELECT id, name FROM regions WHERE code = $1", 1, p)
                      : run_checked(pg, "could not look up the enterprise",
                                    "SELECT id, name FROM enterprises WHERE code = $1", 1, p);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        fprintf(stderr, "dustwatch admin: no %s with code \"%s\"\n", what, code);
        PQclear(r);
        return -1;
    }
    snprintf(id, 24, "%s", PQgetvalue(r, 0, 0));
    if (name)
        snprintf(name, namelen, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

/* ---- create-account ---------------------------------------------------- */

static int cmd_create_account(PGconn *pg, const admin_args *a)
{
    const char *scope_kind = a->region ? "region" : "enterprise";
    const char *scope_code = a->region ? a->region : a->enterprise;
    char pw[SRV_PASSWORD_MAX_BYTES + 3];
    if (new_password(a, a->username, pw, sizeof pw) != 0)
        return EXIT_FAILED;
    char hash[crypto_pwhash_STRBYTES];
    int hashed = srv_password_hash(pw, hash);
    if (a->password_stdin)
        sodium_memzero(pw, sizeof pw);
    if (hashed != 0) {
        fprintf(stderr, "dustwatch admin: could not hash the password (out of memory)\n");
        sodium_memzero(pw, sizeof pw);
        return EXIT_FAILED;
    }

    char object[128], detail[256];
    snprintf(object, sizeof object, "account:%s", a->username);
    snprintf(detail, sizeof detail, "role=%s %s=%s", a->role, scope_kind, scope_code);
    char id[24], scope_id[24], scope_name[256];
    int rc = EXIT_FAILED;
    if (command(pg, "BEGIN") != 0)
        goto out;
    if (lookup(pg, scope_kind, scope_code, scope_id, scope_name, sizeof scope_name) != 0) {
        rollback(pg);
        goto out;
    }
    const char *p[7] = {a->username,
                        a->display_name ? a->display_name : "",
                        a->role,
                        a->region ? scope_id : NULL,
                        a->enterprise ? scope_id : NULL,
                        hash,
                        a->password_stdin ? "false" : "true"};
    /* a generated password was seen by whoever ran this command: the
     * account's owner must replace it at the first login */
    PGresult *r = run(pg,
                      "INSERT INTO accounts (username, display_name, role, region_id, "
                      "enterprise_id, password_hash, must_change_password) VALUES ($1, $2, $3, "
                      "$4::bigint, $5::bigint, $6, $7::boolean) RETURNING id",
                      7, p);
    if (!result_ok(r)) {
        char m[512], why[600];
        pg_message(pg, r, m, sizeof m);
        if (is_sqlstate(r, "23505"))
            snprintf(why, sizeof why, "an account named \"%s\" already exists", a->username);
        else
            snprintf(why, sizeof why, "%s", m);
        PQclear(r);
        rollback(pg);
        fprintf(stderr, "dustwatch admin: account refused: %s\n", why);
        char d2[900];
        audit_reason(d2, sizeof d2, detail, why);
        (void)audit(pg, "account.create", object, "failed", d2);
        goto out;
    }
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (audit(pg, "account.create", object, "ok", detail) != 0 || command(pg, "COMMIT") != 0) {
        rollback(pg);
        goto out;
    }
    printf("id: %s\nusername: %s\nrole: %s\nscope: %s %s %s\n", id, a->username, a->role,
           scope_kind, scope_code, scope_name);
    if (!a->password_stdin) {
        printf("password: %s\n", pw);
        fprintf(stderr, "dustwatch admin: the password is shown only this once; it must be "
                        "changed at the first login\n");
    }
    rc = EXIT_OK;
out:
    sodium_memzero(pw, sizeof pw);
    return rc;
}

static int check_create_account(const admin_args *a)
{
    if (!a->username || !a->role) {
        fprintf(stderr, "dustwatch admin: create-account needs --username and --role\n");
        return -1;
    }
    if (!valid_username(a->username)) {
        fprintf(stderr,
                "dustwatch admin: bad user name \"%s\": 3 to 64 characters of a-z, "
                "0-9, '.', '_', '-', starting with a letter or digit\n",
                a->username);
        return -1;
    }
    if (!known_role(a->role)) {
        fprintf(stderr, "dustwatch admin: unknown role \"%s\"; one of:", a->role);
        for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
            fprintf(stderr, " %s", roles[i]);
        fputc('\n', stderr);
        return -1;
    }
    if (a->region && a->enterprise) {
        fprintf(stderr, "dustwatch admin: an account has exactly one scope: give --region or "
                        "--enterprise, not both\n");
        return -1;
    }
    if (is_enterprise_role(a->role) && !a->enterprise) {
        fprintf(stderr,
                "dustwatch admin: role %s is bound to an enterprise: give --enterprise "
                "CODE\n",
                a->role);
        return -1;
    }
    if (!is_enterprise_role(a->role) && !a->region) {
        fprintf(stderr, "dustwatch admin: role %s is bound to a region: give --region CODE\n",
                a->role);
        return -1;
    }
    if (a->display_name && strlen(a->display_name) > DISPLAY_NAME_MAX) {
        fprintf(stderr, "dustwatch admin: --display-name is longer than %d bytes\n",
                DISPLAY_NAME_MAX);
        return -1;
    }
    return 0;
}

/* ---- reset-password ---------------------------------------------------- */

static int cmd_reset_password(PGconn *pg, const admin_args *a)
{
    char pw[SRV_PASSWORD_MAX_BYTES + 3];
    if (new_password(a, a->username, pw, sizeof pw) != 0)
        return EXIT_FAILED;
    char hash[crypto_pwhash_STRBYTES];
    if (srv_password_hash(pw, hash) != 0) {
        fprintf(stderr, "dustwatch admin: could not hash the password (out of memory)\n");
        sodium_memzero(pw, sizeof pw);
        return EXIT_FAILED;
    }
    char object[128];
    snprintf(object, sizeof object, "account:%s", a->username);
    int rc = EXIT_FAILED;
    if (command(pg, "BEGIN") != 0)
        goto out;
    const char *p[3] = {a->username, hash, a->password_stdin ? "false" : "true"};
    PGresult *r = run_checked(pg, "could not reset the password",
                              "UPDATE accounts SET password_hash = $2, password_changed_at = "
                              "now(), must_change_password = $3::boolean, failed_logins = 0, "
                              "first_failed_at = NULL, locked_until = NULL WHERE username = $1 "
                              "RETURNING id",
                              3, p);
    if (!r) {
        rollback(pg);
        goto out;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        rollback(pg);
        fprintf(stderr, "dustwatch admin: no account named \"%s\"\n", a->username);
        (void)audit(pg, "account.password_reset", object, "failed", "reason=\"no such account\"");
        goto out;
    }
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    /* whoever knew the old password may hold a session made with it */
    const char *sp[1] = {id};
    r = run_checked(pg, "could not end the account's sessions",
                    "UPDATE sessions SET revoked_at = now() WHERE account_id = $1::bigint AND "
                    "revoked_at IS NULL",
                    1, sp);
    if (!r) {
        rollback(pg);
        goto out;
    }
    char ended[16], detail[64];
    snprintf(ended, sizeof ended, "%s", PQcmdTuples(r));
    PQclear(r);
    snprintf(detail, sizeof detail, "sessions_ended=%s", ended);
    if (audit(pg, "account.password_reset", object, "ok", detail) != 0 ||
        command(pg, "COMMIT") != 0) {
        rollback(pg);
        goto out;
    }
    printf("username: %s\nlockout: cleared\nsessions ended: %s\n", a->username, ended);
    if (!a->password_stdin) {
        printf("password: %s\n", pw);
        fprintf(stderr, "dustwatch admin: the password is shown only this once; it must be "
                        "changed at the next login\n");
    }
    rc = EXIT_OK;
out:
    sodium_memzero(pw, sizeof pw);
    return rc;
}

static int check_reset_password(const admin_args *a)
{
    if (!a->username) {
        fprintf(stderr, "dustwatch admin: reset-password needs --username\n");
        return -1;
    }
    return 0;
}

/* ---- create-credential ------------------------------------------------- */

static int cmd_create_credential(PGconn *pg, const admin_args *a)
{
    srv_cred_kind kind;
    srv_cred c;
    if (srv_cred_kind_parse(a->kind, &kind) != 0 || srv_cred_generate(kind, a->appid, &c) != 0)
        return EXIT_USAGE; /* check_create_credential refused these already */
    int is_api = kind == SRV_CRED_API_KEY, is_des = kind == SRV_CRED_HEBEI_DES;
    char object[128], detail[256];
    snprintf(object, sizeof object, "enterprise:%s", a->enterprise);
    if (is_api)
        snprintf(detail, sizeof detail, "kind=api_key prefix=%s", c.key_prefix);
    else if (is_des)
        snprintf(detail, sizeof detail, "kind=hebei_des");
    else
        snprintf(detail, sizeof detail, "kind=mem_sm4 appid=%s", c.appid);

    int rc = EXIT_FAILED;
    char eid[24], ename[256];
    if (command(pg, "BEGIN") != 0)
        goto out;
    if (lookup(pg, "enterprise", a->enterprise, eid, ename, sizeof ename) != 0) {
        rollback(pg);
        goto out;
    }
    const char *p[10] = {eid, a->kind, a->label ? a->label : ""};
    srv_cred_columns(&c, p + 3);
    PGresult *r = run(pg,
                      "INSERT INTO ingest_credentials (enterprise_id, kind, label, key_prefix, "
                      "key_hash, des_key, appid, appsecret_hash, sm4_key, sm4_iv) VALUES "
                      "($1::bigint, $2, $3, $4, $5::bytea, $6::bytea, $7, $8::bytea, $9::bytea, "
                      "$10::bytea) RETURNING id",
                      10, p);
    if (!result_ok(r)) {
        char m[512], why[600];
        pg_message(pg, r, m, sizeof m);
        if (is_sqlstate(r, "23505") && is_des)
            snprintf(why, sizeof why,
                     "enterprise %s already has an active hebei_des key (the Hebei dialect "
                     "allows one); revoke it first (see list-credentials)",
                     a->enterprise);
        else if (is_sqlstate(r, "23505") && !is_api)
            snprintf(why, sizeof why, "appid \"%s\" is already in use", c.appid);
        else
            snprintf(why, sizeof why, "%s", m);
        PQclear(r);
        rollback(pg);
        fprintf(stderr, "dustwatch admin: credential refused: %s\n", why);
        char d2[900];
        audit_reason(d2, sizeof d2, detail, why);
        (void)audit(pg, "credential.create", object, "failed", d2);
        goto out;
    }
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char d3[300];
    snprintf(d3, sizeof d3, "id=%s %s", id, detail);
    if (audit(pg, "credential.create", object, "ok", d3) != 0 || command(pg, "COMMIT") != 0) {
        rollback(pg);
        goto out;
    }
    printf("id: %s\nenterprise: %s %s\nkind: %s\n", id, a->enterprise, ename, a->kind);
    if (a->label)
        printf("label: %s\n", a->label);
    if (is_api) {
        printf("api_key: %s\n", c.api_key);
        fprintf(stderr, "dustwatch admin: the API key is shown only this once (send it as "
                        "X-Api-Key); the database keeps its SHA-256\n");
    } else if (is_des) {
        printf("des_key: %s\ndes_iv: %s\n", c.des_key, g_config.ingest_hebei_iv);
        fprintf(stderr, "dustwatch admin: give the DES key to the enterprise's gateway; the IV "
                        "is the deployment's ingest_hebei_iv\n");
    } else {
        printf("appid: %s\nappsecret: %s\nsm4_key: %s\nsm4_iv: %s\n", c.appid, c.appsecret,
               c.sm4_key_hex, c.sm4_iv_hex);
        fprintf(stderr, "dustwatch admin: the appsecret is shown only this once; the database "
                        "keeps its SHA-256\n");
    }
    rc = EXIT_OK;
out:
    srv_cred_wipe(&c);
    return rc;
}

static int check_create_credential(const admin_args *a)
{
    if (!a->enterprise || !a->kind) {
        fprintf(stderr, "dustwatch admin: create-credential needs --enterprise and --kind\n");
        return -1;
    }
    if (strcmp(a->kind, "api_key") != 0 && strcmp(a->kind, "hebei_des") != 0 &&
        strcmp(a->kind, "mem_sm4") != 0) {
        fprintf(stderr,
                "dustwatch admin: unknown credential kind \"%s\"; one of: api_key "
                "hebei_des mem_sm4\n",
                a->kind);
        return -1;
    }
    if (a->appid && strcmp(a->kind, "mem_sm4") != 0) {
        fprintf(stderr, "dustwatch admin: --appid only goes with --kind mem_sm4\n");
        return -1;
    }
    if (a->appid && !srv_cred_appid_valid(a->appid)) {
        fprintf(stderr,
                "dustwatch admin: bad appid \"%s\": 1 to 64 characters of A-Z, a-z, "
                "0-9, '.', '_', '-'\n",
                a->appid);
        return -1;
    }
    if (a->label && strlen(a->label) > SRV_CRED_LABEL_MAX) {
        fprintf(stderr, "dustwatch admin: --label is longer than %d bytes\n", SRV_CRED_LABEL_MAX);
        return -1;
    }
    return 0;
}

/* ---- list-credentials / revoke-credential ------------------------------ */

static int cmd_list_credentials(PGconn *pg, const admin_args *a)
{
    char eid[24], ename[256];
    if (lookup(pg, "enterprise", a->enterprise, eid, ename, sizeof ename) != 0)
        return EXIT_FAILED;
    const char *p[1] = {eid};
    /* secrets and hashes are never selected, so they cannot be printed */
    PGresult *r = run_checked(
        pg, "could not list the credentials",
        "SELECT id, kind, CASE kind WHEN 'api_key' THEN key_prefix || '...' WHEN 'mem_sm4' THEN "
        "appid ELSE '-' END, to_char(created_at, 'YYYY-MM-DD HH24:MI:SSOF'), "
        "coalesce(to_char(revoked_at, 'YYYY-MM-DD HH24:MI:SSOF'), '-'), label FROM "
        "ingest_credentials WHERE enterprise_id = $1::bigint ORDER BY id",
        1, p);
    if (!r)
        return EXIT_FAILED;
    printf("# enterprise %s %s: %d credential(s)\n", a->enterprise, ename, PQntuples(r));
    printf("%-6s %-10s %-20s %-25s %-25s %s\n", "id", "kind", "key/appid", "created", "revoked",
           "label");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-6s %-10s %-20s %-25s %-25s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
    PQclear(r);
    return EXIT_OK;
}

static int check_enterprise_only(const admin_args *a)
{
    if (!a->enterprise) {
        fprintf(stderr, "dustwatch admin: list-credentials needs --enterprise\n");
        return -1;
    }
    return 0;
}

static int cmd_revoke_credential(PGconn *pg, const admin_args *a)
{
    const char *p[1] = {a->id};
    if (command(pg, "BEGIN") != 0)
        return EXIT_FAILED;
    PGresult *r = run_checked(pg, "could not revoke the credential",
                              "UPDATE ingest_credentials c SET revoked_at = now() FROM "
                              "enterprises e WHERE c.id = $1::bigint AND c.revoked_at IS NULL "
                              "AND e.id = c.enterprise_id RETURNING c.kind, e.code, "
                              "coalesce(c.key_prefix, c.appid, '')",
                              1, p);
    if (!r) {
        rollback(pg);
        return EXIT_FAILED;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        r = run_checked(pg, "could not look up the credential",
                        "SELECT to_char(revoked_at, 'YYYY-MM-DD HH24:MI:SSOF') FROM "
                        "ingest_credentials WHERE id = $1::bigint",
                        1, p);
        if (r && PQntuples(r) == 1)
            fprintf(stderr, "dustwatch admin: credential %s was already revoked at %s\n", a->id,
                    PQgetvalue(r, 0, 0));
        else if (r)
            fprintf(stderr, "dustwatch admin: no credential with id %s\n", a->id);
        PQclear(r);
        rollback(pg);
        return EXIT_FAILED;
    }
    char object[64], detail[200];
    snprintf(object, sizeof object, "credential:%s", a->id);
    snprintf(detail, sizeof detail, "kind=%s enterprise=%s%s%s", PQgetvalue(r, 0, 0),
             PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2)[0] ? " ident=" : "", PQgetvalue(r, 0, 2));
    printf("revoked: credential %s (%s of enterprise %s)\n", a->id, PQgetvalue(r, 0, 0),
           PQgetvalue(r, 0, 1));
    PQclear(r);
    if (audit(pg, "credential.revoke", object, "ok", detail) != 0 || command(pg, "COMMIT") != 0) {
        rollback(pg);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

static int check_revoke_credential(const admin_args *a)
{
    if (!a->id) {
        fprintf(stderr, "dustwatch admin: revoke-credential needs --id\n");
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(a->id, &end, 10);
    if (errno || end == a->id || *end || v <= 0 || a->id[0] == '+') {
        fprintf(stderr,
                "dustwatch admin: bad --id \"%s\": a credential id from "
                "list-credentials\n",
                a->id);
        return -1;
    }
    return 0;
}

/* ---- list-accounts ----------------------------------------------------- */

static int cmd_list_accounts(PGconn *pg, const admin_args *a)
{
    char rid[24];
    if (a->region && lookup(pg, "region", a->region, rid, NULL, 0) != 0)
        return EXIT_FAILED;
    const char *p[1] = {a->region ? rid : NULL};
    /* a region's accounts: its own, its streets', and its enterprises' */
    PGresult *r = run_checked(
        pg, "could not list the accounts",
        "WITH RECURSIVE sub AS (SELECT id FROM regions WHERE id = $1::bigint UNION ALL SELECT "
        "r.id FROM regions r JOIN sub ON r.parent_id = sub.id) "
        "SELECT a.username, a.role, coalesce(r.code, e.code), CASE WHEN a.disabled THEN "
        "'disabled' WHEN a.locked_until > now() THEN 'locked' WHEN a.must_change_password THEN "
        "'must-change' ELSE 'active' END, coalesce(to_char(a.last_login_at, 'YYYY-MM-DD "
        "HH24:MI'), '-'), coalesce(r.name, e.name), a.display_name FROM accounts a LEFT JOIN "
        "regions r ON r.id = a.region_id LEFT JOIN enterprises e ON e.id = a.enterprise_id "
        "WHERE $1::bigint IS NULL OR a.region_id IN (SELECT id FROM sub) OR e.district_id IN "
        "(SELECT id FROM sub) OR e.street_id IN (SELECT id FROM sub) ORDER BY a.username",
        1, p);
    if (!r)
        return EXIT_FAILED;
    printf("%-28s %-19s %-13s %-12s %-17s %s\n", "username", "role", "scope", "state", "last login",
           "scope name / display name");
    for (int i = 0; i < PQntuples(r); i++) {
        const char *dn = PQgetvalue(r, i, 6);
        printf("%-28s %-19s %-13s %-12s %-17s %s%s%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
               *dn ? " / " : "", dn);
    }
    printf("# %d account(s)\n", PQntuples(r));
    PQclear(r);
    return EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

static int check_nothing(const admin_args *a)
{
    (void)a;
    return 0;
}

static const struct {
    admin_cmd cmd;
    int (*check)(const admin_args *a);
} commands[] = {
    {{"create-account", cmd_create_account, "urRens", "create a log-in bound to one scope",
      "usage: dustwatch admin create-account --username U --role ROLE\n"
      "           (--region CODE | --enterprise CODE) [--display-name NAME]\n"
      "           [--password-stdin] [--config FILE]\n"
      "\n"
      "Creates an account bound to exactly one scope.  Government roles take a\n"
      "region of the matching level, enterprise roles an enterprise:\n"
      "  city_admin, city_staff          --region of the city (e.g. 310000)\n"
      "  district_admin, district_staff  --region of a district (e.g. 310113)\n"
      "  street_staff                    --region of a street, town or park\n"
      "  enterprise_manager, enterprise_staff   --enterprise CODE\n"
      "\n"
      "Without --password-stdin a random password is generated, printed once,\n"
      "and must be changed at the first login.  With it, the first line of\n"
      "standard input is the password (asked twice on a terminal); it must meet\n"
      "the password policy.  Audited as \"" AUDIT_USER "\".\n"},
     check_create_account},
    {{"reset-password", cmd_reset_password, "us", "set a new password and clear the lockout",
      "usage: dustwatch admin reset-password --username U [--password-stdin]\n"
      "           [--config FILE]\n"
      "\n"
      "Sets a new password (generated and printed once unless --password-stdin),\n"
      "clears the failed-login count and lockout, and ends the account's open\n"
      "sessions.  Audited.\n"},
     check_reset_password},
    {{"create-credential", cmd_create_credential, "ekla",
      "issue an ingest credential to an enterprise",
      "usage: dustwatch admin create-credential --enterprise CODE\n"
      "           --kind api_key|hebei_des|mem_sm4 [--label L] [--appid ID]\n"
      "           [--config FILE]\n"
      "\n"
      "Issues a credential for the enterprise's gateways and prints its secrets\n"
      "once:\n"
      "  api_key    our format: api_key (send as X-Api-Key); stored as SHA-256\n"
      "  hebei_des  Hebei V1.1: des_key (8 characters; one active key per\n"
      "             enterprise) and the deployment's des_iv\n"
      "  mem_sm4    MEM national: appid (--appid or generated), appsecret (stored\n"
      "             as SHA-256), sm4_key and sm4_iv (hex)\n"
      "Audited.\n"},
     check_create_credential},
    {{"list-credentials", cmd_list_credentials, "e", "list an enterprise's ingest credentials",
      "usage: dustwatch admin list-credentials --enterprise CODE [--config FILE]\n"
      "\n"
      "Lists the enterprise's credentials: id, kind, API key prefix or appid,\n"
      "created, revoked, label.  Never prints a secret.\n"},
     check_enterprise_only},
    {{"revoke-credential", cmd_revoke_credential, "i", "revoke an ingest credential",
      "usage: dustwatch admin revoke-credential --id N [--config FILE]\n"
      "\n"
      "Revokes the credential (ids from list-credentials); the ingest listener\n"
      "refuses it from the next request on.  Audited.\n"},
     check_revoke_credential},
    {{"list-accounts", cmd_list_accounts, "R", "list accounts (of a region and below)",
      "usage: dustwatch admin list-accounts [--region CODE] [--config FILE]\n"
      "\n"
      "Lists accounts with role, scope and state (active, must-change, locked,\n"
      "disabled).  With --region: the region's own accounts, its streets' and its\n"
      "enterprises'.  Never prints a password hash.\n"},
     check_nothing},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void admin_usage(FILE *out)
{
    fprintf(out, "usage: dustwatch admin COMMAND [OPTIONS]\n\n"
                 "Accounts and ingest credentials, from the command line.  Connects with\n"
                 "migrate_database_url (the owner role; falls back to database_url).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-18s %s\n", commands[i].cmd.name, commands[i].cmd.summary);
    fprintf(out, "\n`dustwatch admin COMMAND --help` describes each command; every command\n"
                 "takes --config FILE.\n");
}

/* Parses argv with the options the command accepts.  0, 1 for --help
 * (printed), -1 on a bad option (message printed). */
static int parse_args(const admin_cmd *cmd, int argc, char **argv, admin_args *a)
{
    struct option opts[N_OPTIONS + 1];
    size_t n = 0;
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (all_options[i].val == 'c' || all_options[i].val == 'h' ||
            strchr(cmd->options, all_options[i].val))
            opts[n++] = all_options[i];
    memset(&opts[n], 0, sizeof opts[n]);
    memset(a, 0, sizeof *a);
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            a->config = optarg;
            break;
        case 'h':
            fputs(cmd->usage, stdout);
            return 1;
        case 'u':
            a->username = optarg;
            break;
        case 'r':
            a->role = optarg;
            break;
        case 'R':
            a->region = optarg;
            break;
        case 'e':
            a->enterprise = optarg;
            break;
        case 'n':
            a->display_name = optarg;
            break;
        case 's':
            a->password_stdin = 1;
            break;
        case 'k':
            a->kind = optarg;
            break;
        case 'l':
            a->label = optarg;
            break;
        case 'a':
            a->appid = optarg;
            break;
        case 'i':
            a->id = optarg;
            break;
        case ':':
            fprintf(stderr, "dustwatch admin %s: option %s needs a value\n", cmd->name,
                    argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "dustwatch admin %s: unknown option \"%s\"\n", cmd->name,
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dustwatch admin %s: unexpected argument \"%s\"\n", cmd->name,
                argv[optind]);
        return -1;
    }
    return 0;
}

int srv_admin_main(int argc, char **argv)
{
    if (argc < 2) {
        admin_usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        admin_usage(stdout);
        return EXIT_OK;
    }
    size_t ci = 0;
    while (ci < N_COMMANDS && strcmp(argv[1], commands[ci].cmd.name) != 0)
        ci++;
    if (ci == N_COMMANDS) {
        fprintf(stderr, "dustwatch admin: unknown command \"%s\"\n\n", argv[1]);
        admin_usage(stderr);
        return EXIT_USAGE;
    }
    const admin_cmd *cmd = &commands[ci].cmd;
    admin_args a;
    int pr = parse_args(cmd, argc - 1, argv + 1, &a);
    if (pr != 0) {
        if (pr < 0)
            fprintf(stderr, "(see `dustwatch admin %s --help`)\n", cmd->name);
        return pr > 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (commands[ci].check(&a) != 0)
        return EXIT_USAGE;

    char err[1024];
    if (srv_config_load(a.config, err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch: %s\n", err);
        return EXIT_USAGE;
    }
    (void)srv_log_set_level_name(g_config.log_level);
    if (sodium_init() < 0) {
        fprintf(stderr, "dustwatch admin: libsodium failed to initialise\n");
        srv_config_free();
        return EXIT_FAILED;
    }
    int rc = EXIT_FAILED;
    PGconn *pg = admin_connect();
    if (pg) {
        rc = cmd->run(pg, &a);
        PQfinish(pg);
    }
    srv_config_free();
    return rc;
}
