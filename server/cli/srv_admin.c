#include "srv_admin.h"

#include "db.h"
#include "db_admin.h"
#include "db_stats.h"
#include "srv_config.h"
#include "srv_cred.h"
#include "srv_log.h"
#include "srv_password.h"
#include "srv_secret.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* the audit trail's name for everything done from this command line (the
 * user db_admin_audit() writes) */
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
    int (*run)(db_conn *c, const admin_args *a);
    const char *options; /* letters of all_options it accepts besides c and h */
    const char *summary;
    const char *usage;
} admin_cmd;

static const char *const roles[] = {"city_admin",      "city_staff",   "district_admin",
                                    "district_staff",  "street_staff", "enterprise_manager",
                                    "enterprise_staff"};

/* ---- database helpers -------------------------------------------------- */

/* For failures that are our bug or a broken database, not input: our words,
 * then PostgreSQL's when the database layer has them (diag may be NULL). */
static int failed(const char *what, const db_diag *diag)
{
    if (diag && diag->message[0])
        fprintf(stderr, "dustwatch admin: %s: %s\n", what, diag->message);
    else
        fprintf(stderr, "dustwatch admin: %s\n", what);
    return -1;
}

static int begin(db_conn *c)
{
    return db_begin(c) == DB_OK ? 0 : failed("could not begin a transaction", NULL);
}

static int commit(db_conn *c)
{
    return db_commit(c) == DB_OK ? 0 : failed("could not commit", NULL);
}

static void rollback(db_conn *c)
{
    db_rollback(c);
}

static const char *os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name ? pw->pw_name : "?";
}

/* Appends to the audit log; inside the caller's transaction for changes
 * that succeed (both commit or neither), on its own for refusals. */
static int audit(db_conn *c, const char *action, const char *object, const char *result,
                 const char *detail)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%sos_user=%s", detail, *detail ? " " : "", os_user());
    db_diag diag;
    if (db_admin_audit(c, action, object, result, full, &diag) != DB_OK)
        return failed("could not write the audit log", &diag);
    return 0;
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

/* A refused insert in the database's words (the layer gave its primary
 * message), for the operator and the audit detail. */
static void refusal(const db_diag *diag, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", diag->message[0] ? diag->message : "the database is unavailable");
}

static db_conn *admin_connect(void)
{
    const char *url =
        g_config.migrate_database_url[0] ? g_config.migrate_database_url : g_config.database_url;
    char err[1024];
    /* tenant tables force row-level security even for their owner; the
     * administrator acts for the whole deployment */
    db_conn *c = db_connect_scoped(url, "system", NULL, err, sizeof err);
    if (!c) {
        fprintf(stderr, "dustwatch admin: %s\n", err);
        return NULL;
    }
    int ready = 0;
    db_diag diag;
    if (db_admin_schema_ready(c, &ready, &diag) != DB_OK) {
        (void)failed("could not inspect the database", &diag);
        db_close(c);
        return NULL;
    }
    if (!ready) {
        fprintf(stderr, "dustwatch admin: the database has no accounts or credentials tables (is "
                        "the database migrated? run `dustwatch migrate`)\n");
        db_close(c);
        return NULL;
    }
    db_admin_register();
    db_stats_register();
    return c;
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

/* Resolves --region / --enterprise codes.  0 with out set, -1 after printing
 * that there is no such thing. */
static int lookup(db_conn *c, const char *what, const char *code, db_admin_ref *out)
{
    int region = strcmp(what, "region") == 0;
    db_diag diag;
    db_status st = region ? db_admin_region_by_code(c, code, out, &diag)
                          : db_admin_enterprise_by_code(c, code, out, &diag);
    if (st != DB_OK)
        return failed(region ? "could not look up the region" : "could not look up the enterprise",
                      &diag);
    if (out->id == 0) {
        fprintf(stderr, "dustwatch admin: no %s with code \"%s\"\n", what, code);
        return -1;
    }
    return 0;
}

/* ---- create-account ---------------------------------------------------- */

static int cmd_create_account(db_conn *c, const admin_args *a)
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
    db_admin_ref scope;
    int64_t id;
    int rc = EXIT_FAILED;
    if (begin(c) != 0)
        goto out;
    if (lookup(c, scope_kind, scope_code, &scope) != 0) {
        rollback(c);
        goto out;
    }
    /* a generated password was seen by whoever ran this command: the
     * account's owner must replace it at the first login */
    db_admin_new_account acct = {.username = a->username,
                                 .display_name = a->display_name ? a->display_name : "",
                                 .role = a->role,
                                 .region_id = a->region ? scope.id : 0,
                                 .enterprise_id = a->enterprise ? scope.id : 0,
                                 .password_hash = hash,
                                 .must_change_password = !a->password_stdin};
    db_diag diag;
    if (db_admin_account_create(c, &acct, &id, &diag) != DB_OK) {
        char why[600];
        if (strcmp(diag.sqlstate, "23505") == 0)
            snprintf(why, sizeof why, "an account named \"%s\" already exists", a->username);
        else
            refusal(&diag, why, sizeof why);
        rollback(c);
        fprintf(stderr, "dustwatch admin: account refused: %s\n", why);
        char d2[900];
        audit_reason(d2, sizeof d2, detail, why);
        (void)audit(c, "account.create", object, "failed", d2);
        goto out;
    }
    if (audit(c, "account.create", object, "ok", detail) != 0 || commit(c) != 0) {
        rollback(c);
        goto out;
    }
    printf("id: %lld\nusername: %s\nrole: %s\nscope: %s %s %s\n", (long long)id, a->username,
           a->role, scope_kind, scope_code, scope.name);
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

static int cmd_reset_password(db_conn *c, const admin_args *a)
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
    int64_t id;
    long long ended;
    db_diag diag;
    if (begin(c) != 0)
        goto out;
    if (db_admin_password_reset(c, a->username, hash, !a->password_stdin, &id, &diag) != DB_OK) {
        (void)failed("could not reset the password", &diag);
        rollback(c);
        goto out;
    }
    if (id == 0) {
        rollback(c);
        fprintf(stderr, "dustwatch admin: no account named \"%s\"\n", a->username);
        (void)audit(c, "account.password_reset", object, "failed", "reason=\"no such account\"");
        goto out;
    }
    /* whoever knew the old password may hold a session made with it */
    if (db_admin_sessions_end(c, id, &ended, &diag) != DB_OK) {
        (void)failed("could not end the account's sessions", &diag);
        rollback(c);
        goto out;
    }
    char detail[64];
    snprintf(detail, sizeof detail, "sessions_ended=%lld", ended);
    if (audit(c, "account.password_reset", object, "ok", detail) != 0 || commit(c) != 0) {
        rollback(c);
        goto out;
    }
    printf("username: %s\nlockout: cleared\nsessions ended: %lld\n", a->username, ended);
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

static int cmd_create_credential(db_conn *c, const admin_args *a)
{
    srv_cred_kind kind;
    srv_cred cred;
    if (srv_cred_kind_parse(a->kind, &kind) != 0 || srv_cred_generate(kind, a->appid, &cred) != 0)
        return EXIT_USAGE; /* check_create_credential refused these already */
    int is_api = kind == SRV_CRED_API_KEY, is_des = kind == SRV_CRED_HEBEI_DES;
    char object[128], detail[256];
    snprintf(object, sizeof object, "enterprise:%s", a->enterprise);
    if (is_api)
        snprintf(detail, sizeof detail, "kind=api_key prefix=%s", cred.key_prefix);
    else if (is_des)
        snprintf(detail, sizeof detail, "kind=hebei_des");
    else
        snprintf(detail, sizeof detail, "kind=mem_sm4 appid=%s", cred.appid);

    int rc = EXIT_FAILED;
    db_admin_ref ent;
    int64_t id;
    if (begin(c) != 0)
        goto out;
    if (lookup(c, "enterprise", a->enterprise, &ent) != 0) {
        rollback(c);
        goto out;
    }
    db_diag diag;
    if (db_admin_credential_create(c, ent.id, a->label ? a->label : "", &cred, &id, &diag) !=
        DB_OK) {
        char why[600];
        int taken = strcmp(diag.sqlstate, "23505") == 0;
        if (taken && is_des)
            snprintf(why, sizeof why,
                     "enterprise %s already has an active hebei_des key (the Hebei dialect "
                     "allows one); revoke it first (see list-credentials)",
                     a->enterprise);
        else if (taken && !is_api)
            snprintf(why, sizeof why, "appid \"%s\" is already in use", cred.appid);
        else
            refusal(&diag, why, sizeof why);
        rollback(c);
        fprintf(stderr, "dustwatch admin: credential refused: %s\n", why);
        char d2[900];
        audit_reason(d2, sizeof d2, detail, why);
        (void)audit(c, "credential.create", object, "failed", d2);
        goto out;
    }
    char d3[300];
    snprintf(d3, sizeof d3, "id=%lld %s", (long long)id, detail);
    if (audit(c, "credential.create", object, "ok", d3) != 0 || commit(c) != 0) {
        rollback(c);
        goto out;
    }
    printf("id: %lld\nenterprise: %s %s\nkind: %s\n", (long long)id, a->enterprise, ent.name,
           a->kind);
    if (a->label)
        printf("label: %s\n", a->label);
    if (is_api) {
        printf("api_key: %s\n", cred.api_key);
        fprintf(stderr, "dustwatch admin: the API key is shown only this once (send it as "
                        "X-Api-Key); the database keeps its SHA-256\n");
    } else if (is_des) {
        printf("des_key: %s\ndes_iv: %s\n", cred.des_key, g_config.ingest_hebei_iv);
        fprintf(stderr, "dustwatch admin: give the DES key to the enterprise's gateway; the IV "
                        "is the deployment's ingest_hebei_iv\n");
    } else {
        printf("appid: %s\nappsecret: %s\nsm4_key: %s\nsm4_iv: %s\n", cred.appid, cred.appsecret,
               cred.sm4_key_hex, cred.sm4_iv_hex);
        fprintf(stderr, "dustwatch admin: the appsecret is shown only this once; the database "
                        "keeps its SHA-256\n");
    }
    rc = EXIT_OK;
out:
    srv_cred_wipe(&cred);
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

static int cmd_list_credentials(db_conn *c, const admin_args *a)
{
    db_admin_ref ent;
    if (lookup(c, "enterprise", a->enterprise, &ent) != 0)
        return EXIT_FAILED;
    db_admin_credential_row *rows;
    size_t n;
    db_diag diag;
    if (db_admin_credentials_list(c, ent.id, &rows, &n, &diag) != DB_OK) {
        (void)failed("could not list the credentials", &diag);
        return EXIT_FAILED;
    }
    printf("# enterprise %s %s: %zu credential(s)\n", a->enterprise, ent.name, n);
    printf("%-6s %-10s %-20s %-25s %-25s %s\n", "id", "kind", "key/appid", "created", "revoked",
           "label");
    for (size_t i = 0; i < n; i++)
        printf("%-6lld %-10s %-20s %-25s %-25s %s\n", (long long)rows[i].id, rows[i].kind,
               rows[i].ident, rows[i].created, rows[i].revoked, rows[i].label);
    free(rows);
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

static int cmd_revoke_credential(db_conn *c, const admin_args *a)
{
    int64_t id = strtoll(a->id, NULL, 10); /* check_revoke_credential vetted it */
    if (begin(c) != 0)
        return EXIT_FAILED;
    db_admin_revoked rv;
    db_diag diag;
    if (db_admin_credential_revoke(c, id, &rv, &diag) != DB_OK) {
        (void)failed("could not revoke the credential", &diag);
        rollback(c);
        return EXIT_FAILED;
    }
    if (!rv.found) {
        int exists;
        char at[40];
        if (db_admin_credential_revoked_at(c, id, &exists, at, &diag) != DB_OK)
            (void)failed("could not look up the credential", &diag);
        else if (exists)
            fprintf(stderr, "dustwatch admin: credential %s was already revoked at %s\n", a->id,
                    at);
        else
            fprintf(stderr, "dustwatch admin: no credential with id %s\n", a->id);
        rollback(c);
        return EXIT_FAILED;
    }
    char object[64], detail[200];
    snprintf(object, sizeof object, "credential:%s", a->id);
    snprintf(detail, sizeof detail, "kind=%s enterprise=%s%s%s", rv.kind, rv.enterprise,
             rv.ident[0] ? " ident=" : "", rv.ident);
    printf("revoked: credential %s (%s of enterprise %s)\n", a->id, rv.kind, rv.enterprise);
    if (audit(c, "credential.revoke", object, "ok", detail) != 0 || commit(c) != 0) {
        rollback(c);
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

static int cmd_list_accounts(db_conn *c, const admin_args *a)
{
    db_admin_ref region = {0};
    if (a->region && lookup(c, "region", a->region, &region) != 0)
        return EXIT_FAILED;
    db_admin_account_row *rows;
    size_t n;
    db_diag diag;
    if (db_admin_accounts_list(c, region.id, &rows, &n, &diag) != DB_OK) {
        (void)failed("could not list the accounts", &diag);
        return EXIT_FAILED;
    }
    printf("%-28s %-19s %-13s %-12s %-17s %s\n", "username", "role", "scope", "state", "last login",
           "scope name / display name");
    for (size_t i = 0; i < n; i++) {
        const char *dn = rows[i].display_name;
        printf("%-28s %-19s %-13s %-12s %-17s %s%s%s\n", rows[i].username, rows[i].role,
               rows[i].scope, rows[i].state, rows[i].last_login, rows[i].scope_name,
               *dn ? " / " : "", dn);
    }
    printf("# %zu account(s)\n", n);
    free(rows);
    return EXIT_OK;
}

/* Statistics snapshots now, as the worker makes them every stats_snapshot_s: after a bulk
 * import or a data repair, and for tests that need them without a worker changing data. */
static int cmd_refresh_statistics(db_conn *c, const admin_args *a)
{
    (void)a;
    int filled = 0;
    if (db_stats_snapshot_refresh(c, g_config.connected_window_h * 3600L, &filled) != DB_OK) {
        fprintf(stderr,
                "dustwatch admin: could not count the statistics snapshots (%d of 4 "
                "periods stored; the server's log names the statement)\n",
                filled);
        return EXIT_FAILED;
    }
    printf("statistics snapshots: %d periods counted\n", filled);
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
    {{"refresh-statistics", cmd_refresh_statistics, "", "count the statistics snapshots now",
      "usage: dustwatch admin refresh-statistics [--config FILE]\n"
      "\n"
      "Counts the statistics of the dashboard's periods (the city's today, this\n"
      "week, this month and last month) for every enterprise and stores them, as\n"
      "the worker does every stats_snapshot_s seconds; statistics of those periods\n"
      "are then summed from them until they are 3 x stats_snapshot_s old.  For\n"
      "after a bulk import or a repair made in the database.\n"},
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
    /* every change is audited (HMAC chain) and gateway keys are sealed:
     * both need the master key */
    if (srv_secret_require(err, sizeof err) != 0) {
        fprintf(stderr, "dustwatch admin: %s\n", err);
        srv_config_free();
        return EXIT_FAILED;
    }
    int rc = EXIT_FAILED;
    db_conn *c = admin_connect();
    if (c) {
        rc = cmd->run(c, &a);
        db_close(c);
    }
    srv_config_free();
    return rc;
}
