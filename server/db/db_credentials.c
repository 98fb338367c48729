#include "db_credentials.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdlib.h>

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
     "INSERT INTO ingest_credentials (enterprise_id, kind, label, key_prefix, key_hash, des_key, "
     "appid, appsecret_hash, sm4_key, sm4_iv) SELECT e.id, $4, $5, $6, $7::bytea, $8::bytea, $9, "
     "$10::bytea, $11::bytea, $12::bytea FROM enterprises e WHERE e.id = $3::bigint "
     "AND " SCOPE_ENT("e") " RETURNING id"},
    {"crd_revoke",
     "UPDATE ingest_credentials c SET revoked_at = now() FROM enterprises e WHERE e.id = "
     "c.enterprise_id AND c.id = $3::bigint AND c.revoked_at IS NULL AND " SCOPE_ENT(
         "e") " RETURNING c.id"},
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
    const char *p[12] = {s->kind, s->id, db_i64(eid, enterprise_id), kind_name, label};
    srv_cred_columns(cred, p + 5);
    db_status st;
    PGresult *res = db_exec_diag(c, "crd_insert", 12, p, &st, diag);
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
