#include "db_credentials.h"

#include "db_internal.h"
#include "db_scope_sql.h"
#include "srv_log.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CRED_JSON                                                                                  \
    "json_build_object('id', c.id, 'enterprise_id', c.enterprise_id, 'kind', c.kind, 'label', "    \
    "c.label, 'prefix', c.key_prefix, 'appid', c.appid, 'created_at', c.created_at, "              \
    "'revoked_at', c.revoked_at, 'active', c.revoked_at IS NULL)"

static const db_stmt statements[] = {
    {"crd_list",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
         "e") ") THEN json_build_object('items', coalesce((SELECT json_agg(" CRED_JSON
              " ORDER BY c.id) FROM ingest_credentials c WHERE c.enterprise_id = $3::bigint), "
              "'[]'::json)) END::text"},
    {"crd_get", "SELECT " CRED_JSON "::text FROM ingest_credentials c JOIN enterprises e ON e.id = "
                "c.enterprise_id WHERE c.id = $3::bigint AND " SCOPE_ENT("e")},
    /* $4 kind $5 label, then the stored columns of srv_cred_columns() */
    {"crd_insert",
     "INSERT INTO ingest_credentials (enterprise_id, kind, label, key_prefix, key_hash, appid, "
     "appsecret_hash, sealed_keys) SELECT e.id, $4, $5, $6, $7::bytea, $8, $9::bytea, $10::bytea "
     "FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING id"},
    {"crd_revoke",
     "UPDATE ingest_credentials c SET revoked_at = now() FROM enterprises e WHERE e.id = "
     "c.enterprise_id AND c.id = $3::bigint AND c.revoked_at IS NULL AND " SCOPE_ENT(
         "e") " RETURNING c.id"},
};

/* Sealing rows from before migration 0033: registered by
 * db_credentials_seal_plaintext itself, after the probe found the column. */
static const db_stmt probe_statements[] = {
    {"crd_sealed_column",
     "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ingest_credentials') "
     "AND attname = 'sealed_keys' AND NOT attisdropped)"},
};
static const db_stmt seal_statements[] = {
    /* rows from before migration 0033: sealed here, in id order, locked */
    {"crd_plaintext",
     "SELECT id, kind, encode(des_key, 'hex'), encode(sm4_key, 'hex'), encode(sm4_iv, 'hex') "
     "FROM ingest_credentials WHERE sealed_keys IS NULL AND kind IN ('hebei_des', 'mem_sm4') "
     "ORDER BY id FOR UPDATE"},
    {"crd_seal",
     "UPDATE ingest_credentials SET sealed_keys = $2::bytea, des_key = NULL, sm4_key = NULL, "
     "sm4_iv = NULL WHERE id = $1::bigint"},
};

void db_credentials_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_credentials_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "crd_list", 3, p, out);
}

db_status db_credentials_insert(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                const char *kind_name, const char *label, const srv_cred *cred,
                                int64_t *id, db_diag *diag)
{
    char eid[24];
    const char *p[5 + SRV_CRED_COLUMNS] = {s->kind, s->id, db_i64(eid, enterprise_id), kind_name,
                                           label};
    srv_cred_columns(cred, p + 5);
    db_status st;
    PGresult *res = db_exec_diag(c, "crd_insert", 5 + SRV_CRED_COLUMNS, p, &st, diag);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_credentials_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char cid[24];
    const char *p[3] = {s->kind, s->id, db_i64(cid, id)};
    return db_exec_json(c, "crd_get", 3, p, out);
}

db_status db_credentials_revoke(db_conn *c, const db_scope *s, int64_t id, int *revoked)
{
    char cid[24];
    const char *p[3] = {s->kind, s->id, db_i64(cid, id)};
    db_status st;
    PGresult *res = db_exec(c, "crd_revoke", 3, p, &st);
    if (!res)
        return st;
    *revoked = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

static int hex_bin(const char *hex, unsigned char *out, size_t n)
{
    size_t got = 0;
    return sodium_hex2bin(out, n, hex, strlen(hex), NULL, &got, NULL) == 0 && got == n ? 0 : -1;
}

static db_status seal_tx(db_conn *c, void *arg)
{
    int *sealed = arg;
    *sealed = 0;
    db_status st = db_set_scope(c, "system");
    if (st != DB_OK)
        return st;
    PGresult *r = db_exec(c, "crd_plaintext", 0, NULL, &st);
    if (!r)
        return st;
    for (int i = 0; i < PQntuples(r) && st == DB_OK; i++) {
        int mem = strcmp(PQgetvalue(r, i, 1), "mem_sm4") == 0;
        unsigned char keys[32], box[SRV_CRED_SEALED_MAX];
        size_t n = mem ? 32 : 8, len = 0;
        if (mem ? hex_bin(PQgetvalue(r, i, 3), keys, 16) != 0 ||
                      hex_bin(PQgetvalue(r, i, 4), keys + 16, 16) != 0
                : hex_bin(PQgetvalue(r, i, 2), keys, 8) != 0) {
            LOG_WARN("credential keys unreadable, left as they are", "id=%s", PQgetvalue(r, i, 0));
            continue;
        }
        int rc = srv_cred_seal(mem ? SRV_CRED_MEM_SM4 : SRV_CRED_HEBEI_DES, keys, n, box,
                               sizeof box, &len);
        sodium_memzero(keys, sizeof keys);
        if (rc != 0) {
            st = DB_HARD;
            break;
        }
        char hex[3 + 2 * SRV_CRED_SEALED_MAX];
        const char *p[2] = {PQgetvalue(r, i, 0), db_bytea_hex(hex, box, len)};
        PGresult *u = db_exec(c, "crd_seal", 2, p, &st);
        PQclear(u);
        if (st == DB_OK)
            (*sealed)++;
    }
    PQclear(r);
    return st;
}

db_status db_credentials_seal_plaintext(db_conn *c, int *sealed)
{
    db_register_statements(probe_statements, sizeof probe_statements / sizeof probe_statements[0]);
    db_status st;
    PGresult *r = db_exec(c, "crd_sealed_column", 0, NULL, &st);
    if (!r)
        return st;
    int ready = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!ready) {
        *sealed = -1;
        return DB_OK;
    }
    db_register_statements(seal_statements, sizeof seal_statements / sizeof seal_statements[0]);
    int n = 0;
    st = db_run_tx(c, NULL, seal_tx, &n);
    if (st == DB_OK)
        *sealed = n;
    return st;
}
