#include "db_totp.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    {"totp_by_name", "SELECT id, totp_enabled, totp_secret, totp_last_step FROM accounts WHERE "
                     "username = $1"},
    {"totp_by_id", "SELECT id, totp_enabled, totp_secret, totp_last_step FROM accounts WHERE id = "
                   "$1::bigint"},
    {"totp_set_pending",
     "UPDATE accounts SET totp_secret = $2::bytea, totp_enabled = false, totp_last_step = 0 WHERE "
     "id = $1::bigint AND NOT totp_enabled RETURNING id"},
    {"totp_enable",
     /* $3 the sealed secret the code was checked against: PostgreSQL rechecks it on the
      * row's latest version, so a secret enrolled again meanwhile is not switched on */
     "UPDATE accounts SET totp_enabled = true, totp_last_step = $2::bigint WHERE id = $1::bigint "
     "AND totp_secret = $3::bytea AND NOT totp_enabled RETURNING id"},
    {"totp_use",
     "UPDATE accounts SET totp_last_step = $2::bigint WHERE id = $1::bigint AND totp_enabled AND "
     "totp_last_step < $2::bigint RETURNING id"},
};

void db_totp_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static db_status read_state(db_conn *c, const char *stmt, const char *param, db_totp_state *out,
                            int *found)
{
    const char *p[1] = {param};
    db_status st;
    PGresult *res = db_exec(c, stmt, 1, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        memset(out, 0, sizeof *out);
        out->account_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        out->enabled = PQgetvalue(res, 0, 1)[0] == 't';
        out->last_step = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        /* bytea in hex output: \x then two digits a byte */
        const char *hex = PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2);
        if (hex[0] == '\\' && hex[1] == 'x') {
            size_t n = strlen(hex + 2) / 2;
            if (n <= DB_TOTP_SEALED_MAX) {
                for (size_t i = 0; i < n; i++)
                    out->sealed[i] =
                        (unsigned char)(hexval(hex[2 + 2 * i]) << 4 | hexval(hex[3 + 2 * i]));
                out->sealed_len = n;
            }
        }
    }
    PQclear(res);
    return DB_OK;
}

db_status db_totp_by_name(db_conn *c, const char *username, db_totp_state *out, int *found)
{
    return read_state(c, "totp_by_name", username, out, found);
}

db_status db_totp_by_id(db_conn *c, int64_t account_id, db_totp_state *out, int *found)
{
    char aid[24];
    return read_state(c, "totp_by_id", db_i64(aid, account_id), out, found);
}

static db_status run_matched(db_conn *c, const char *stmt, int n, const char *const *p, int *done)
{
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    *done = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

db_status db_totp_set_pending(db_conn *c, int64_t account_id, const unsigned char *sealed, size_t n,
                              int *done)
{
    if (n > DB_TOTP_SEALED_MAX)
        return DB_BAD;
    char aid[24], hex[3 + 2 * DB_TOTP_SEALED_MAX];
    const char *p[2] = {db_i64(aid, account_id), db_bytea_hex(hex, sealed, n)};
    return run_matched(c, "totp_set_pending", 2, p, done);
}

db_status db_totp_enable(db_conn *c, int64_t account_id, const unsigned char *sealed, size_t n,
                         int64_t step, int *done)
{
    if (n == 0 || n > DB_TOTP_SEALED_MAX)
        return DB_BAD;
    char aid[24], s[24], hex[3 + 2 * DB_TOTP_SEALED_MAX];
    const char *p[3] = {db_i64(aid, account_id), db_i64(s, step), db_bytea_hex(hex, sealed, n)};
    return run_matched(c, "totp_enable", 3, p, done);
}

db_status db_totp_use(db_conn *c, int64_t account_id, int64_t step, int *fresh)
{
    char aid[24], s[24];
    const char *p[2] = {db_i64(aid, account_id), db_i64(s, step)};
    return run_matched(c, "totp_use", 2, p, fresh);
}
