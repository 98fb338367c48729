#include "db_audit.h"

#include "db_internal.h"
#include "srv_log.h"
#include "srv_secret.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETAIL_MAX_CHARS 1000
#define SCAN_PAGE        1000

static const db_stmt statements[] = {
    /* the outer select list runs after the row lock was granted: at is the
     * time this writer's turn came, so it grows along the chain */
    {"audit_head_lock",
     "SELECT encode(h.last_hash, 'hex'), h.keyed, (extract(epoch FROM clock_timestamp()) * "
     "1000000)::bigint FROM (SELECT last_hash, keyed FROM audit_chain_head WHERE id = 1 FOR "
     "UPDATE) h"},
    {"audit_append",
     "WITH ins AS (INSERT INTO audit_log (at, account_id, username, source_ip, action, object, "
     "result, detail, prev_hash, hash, chain) VALUES (timestamptz 'epoch' + $1::bigint * "
     "interval '1 microsecond', $2::bigint, $3, $4, $5, $6, $7, $8, $9::bytea, $10::bytea, 1) "
     "RETURNING id, hash) UPDATE audit_chain_head h SET last_id = ins.id, last_hash = ins.hash, "
     "keyed = true FROM ins WHERE h.id = 1 RETURNING ins.id"},
    {"audit_scan",
     "SELECT id, chain, (extract(epoch FROM at) * 1000000)::bigint, account_id, username, "
     "source_ip, action, object, result, detail, encode(prev_hash, 'hex'), encode(hash, 'hex') "
     "FROM audit_log WHERE id > $1::bigint AND ($2::bigint IS NULL OR at >= timestamptz 'epoch' "
     "+ $2::bigint * interval '1 microsecond') AND ($3::bigint IS NULL OR at < timestamptz "
     "'epoch' + $3::bigint * interval '1 microsecond') ORDER BY id LIMIT $4::int"},
    {"audit_head_get",
     "SELECT last_id, encode(last_hash, 'hex') FROM audit_chain_head WHERE id = 1"},
};

void db_audit_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* The byte length of the first max_chars UTF-8 characters of s. */
static size_t utf8_prefix(const char *s, size_t max_chars)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < max_chars) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        chars++;
    }
    return i;
}

static int hex32(const char *hex, unsigned char out[32])
{
    size_t len = 0;
    return sodium_hex2bin(out, 32, hex, strlen(hex), NULL, &len, NULL) == 0 && len == 32 ? 0 : -1;
}

/* One keyed row after the head: computes its hash, inserts it and moves the
 * head.  prev (has_prev) is the head's hash; on DB_OK it becomes the new
 * row's hash. */
static db_status append_row(db_conn *c, const unsigned char key[32], srv_audit_row *row,
                            db_diag *diag)
{
    srv_audit_mac(key, row, row->hash);
    char at[24], aid[24], prevhex[3 + 64], hashhex[3 + 64];
    const char *p[10] = {db_i64(at, row->at_us),
                         row->has_account ? db_i64(aid, row->account_id) : NULL,
                         row->username,
                         row->source_ip,
                         row->action,
                         row->object,
                         row->result,
                         row->detail,
                         row->has_prev ? db_bytea_hex(prevhex, row->prev_hash, 32) : NULL,
                         db_bytea_hex(hashhex, row->hash, 32)};
    db_status st;
    PGresult *r = diag ? db_exec_diag(c, "audit_append", 10, p, &st, diag)
                       : db_exec(c, "audit_append", 10, p, &st);
    if (!r)
        return st;
    int ok = PQntuples(r) == 1;
    if (ok)
        row->id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!ok) {
        LOG_ERROR("audit chain head missing", "%s", "table=audit_chain_head");
        return DB_HARD;
    }
    return DB_OK;
}

static db_status append_in_tx(db_conn *c, int64_t account_id, const char *username,
                              const char *source_ip, const char *action, const char *object,
                              const char *result, const char *detail, db_diag *diag)
{
    unsigned char key[SRV_SECRET_KEY_BYTES];
    if (srv_secret_derive(SRV_SECRET_AUDIT_HMAC, key) != 0)
        return DB_HARD;
    db_status st;
    PGresult *r = diag ? db_exec_diag(c, "audit_head_lock", 0, NULL, &st, diag)
                       : db_exec(c, "audit_head_lock", 0, NULL, &st);
    if (!r) {
        sodium_memzero(key, sizeof key);
        return st;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        sodium_memzero(key, sizeof key);
        LOG_ERROR("audit chain head missing", "%s", "table=audit_chain_head");
        return DB_HARD;
    }
    srv_audit_row row = {.chain = 1, .at_us = strtoll(PQgetvalue(r, 0, 2), NULL, 10)};
    row.has_prev = !PQgetisnull(r, 0, 0) && hex32(PQgetvalue(r, 0, 0), row.prev_hash) == 0;
    int keyed = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    st = DB_OK;
    if (!keyed) {
        /* the first keyed row after legacy ones: the epoch marker */
        srv_audit_row m = row;
        m.username = "dustwatch";
        m.source_ip = "";
        m.action = "audit_chain_keyed";
        m.object = "audit_log";
        m.result = "ok";
        m.detail = "HMAC-SHA-256 chain (key outside the database) starts here; the rows before "
                   "are unkeyed SHA-256 of migration 0003 (chain 0)";
        st = append_row(c, key, &m, diag);
        if (st == DB_OK) {
            row.has_prev = 1;
            memcpy(row.prev_hash, m.hash, 32);
        }
    }
    char *cut = NULL;
    if (st == DB_OK) {
        detail = detail ? detail : "";
        size_t n = utf8_prefix(detail, DETAIL_MAX_CHARS);
        if (detail[n]) {
            cut = strndup(detail, n);
            if (!cut)
                st = DB_HARD;
        }
    }
    if (st == DB_OK) {
        row.has_account = account_id != 0;
        row.account_id = account_id;
        row.username = username ? username : "";
        row.source_ip = source_ip ? source_ip : "";
        row.action = action ? action : "";
        row.object = object ? object : "";
        row.result = result ? result : "";
        row.detail = cut ? cut : detail;
        st = append_row(c, key, &row, diag);
    }
    free(cut);
    sodium_memzero(key, sizeof key);
    return st;
}

typedef struct {
    int64_t account_id;
    const char *username, *source_ip, *action, *object, *result, *detail;
    db_diag *diag;
} append_ctx;

static db_status append_tx(db_conn *c, void *arg)
{
    append_ctx *x = arg;
    return append_in_tx(c, x->account_id, x->username, x->source_ip, x->action, x->object,
                        x->result, x->detail, x->diag);
}

db_status db_audit_append(db_conn *c, int64_t account_id, const char *username,
                          const char *source_ip, const char *action, const char *object,
                          const char *result, const char *detail, db_diag *diag)
{
    if (diag)
        memset(diag, 0, sizeof *diag);
    if (PQtransactionStatus(db_pg(c)) == PQTRANS_INTRANS)
        return append_in_tx(c, account_id, username, source_ip, action, object, result, detail,
                            diag);
    append_ctx x = {account_id, username, source_ip, action, object, result, detail, diag};
    return db_run_tx(c, NULL, append_tx, &x);
}

db_status db_audit_scan(db_conn *c, const int64_t *from_us, const int64_t *to_us,
                        db_audit_row_fn fn, void *arg, int *stopped)
{
    if (stopped)
        *stopped = 0;
    char after[24], from[24], to[24], page[24];
    int64_t last = 0;
    for (;;) {
        const char *p[4] = {db_i64(after, last), from_us ? db_i64(from, *from_us) : NULL,
                            to_us ? db_i64(to, *to_us) : NULL, db_i64(page, SCAN_PAGE)};
        db_status st;
        PGresult *r = db_exec(c, "audit_scan", 4, p, &st);
        if (!r)
            return st;
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            srv_audit_row row = {
                .id = strtoll(PQgetvalue(r, i, 0), NULL, 10),
                .chain = atoi(PQgetvalue(r, i, 1)),
                .at_us = strtoll(PQgetvalue(r, i, 2), NULL, 10),
                .has_account = !PQgetisnull(r, i, 3),
                .account_id = strtoll(PQgetvalue(r, i, 3), NULL, 10),
                .username = PQgetvalue(r, i, 4),
                .source_ip = PQgetvalue(r, i, 5),
                .action = PQgetvalue(r, i, 6),
                .object = PQgetvalue(r, i, 7),
                .result = PQgetvalue(r, i, 8),
                .detail = PQgetvalue(r, i, 9),
            };
            row.has_prev =
                !PQgetisnull(r, i, 10) && hex32(PQgetvalue(r, i, 10), row.prev_hash) == 0;
            if (hex32(PQgetvalue(r, i, 11), row.hash) != 0)
                memset(row.hash, 0, sizeof row.hash);
            last = row.id;
            int rc = fn(&row, arg);
            if (rc != 0) {
                PQclear(r);
                if (stopped)
                    *stopped = rc;
                return DB_OK;
            }
        }
        PQclear(r);
        if (n < SCAN_PAGE)
            return DB_OK;
    }
}

db_status db_audit_head(db_conn *c, int64_t *last_id, unsigned char last_hash[32], int *has)
{
    db_status st;
    PGresult *r = db_exec(c, "audit_head_get", 0, NULL, &st);
    if (!r)
        return st;
    *has = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && hex32(PQgetvalue(r, 0, 1), last_hash) == 0;
    *last_id = *has ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}
