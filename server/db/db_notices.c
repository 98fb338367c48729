/* The supervision-notice statements (db_notices.h). */
#include "db_notices.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdlib.h>

static const db_stmt statements[] = {
    /* $1 enterprise $2 kind $3 object $4 detail $5 account (NULL: an API key) $6 actor */
    {"ntc_create",
     "INSERT INTO supervision_notices (enterprise_id, kind, object, detail, actor_account_id, "
     "actor) VALUES ($1::bigint, $2, left($3, 200), left($4, 1000), $5::bigint, left($6, 100)) "
     "RETURNING id"},
    /* $3 open only $4 limit */
    {"ntc_list",
     "WITH f AS (SELECT n.*, e.code, e.name, e.district_id, e.street_id FROM "
     "supervision_notices n JOIN enterprises e ON e.id = n.enterprise_id WHERE " SCOPE_ENT(
         "e") ") SELECT json_build_object('open', (SELECT count(*) FROM f WHERE f.seen_at IS "
              "NULL), 'items', coalesce((SELECT json_agg(json_build_object('id', x.id, "
              "'enterprise', json_build_object('id', x.enterprise_id, 'code', x.code, 'name', "
              "x.name, 'district_id', x.district_id, 'street_id', x.street_id), 'kind', x.kind, "
              "'object', x.object, 'detail', x.detail, 'actor', x.actor, 'created_at', "
              "x.created_at, 'seen_at', x.seen_at, 'seen_by', x.seen_by) ORDER BY x.created_at "
              "DESC, x.id DESC) FROM (SELECT * FROM f WHERE NOT $3::boolean OR f.seen_at IS NULL "
              "ORDER BY f.created_at DESC, f.id DESC LIMIT $4::int) x), '[]'::json))::text"},
    /* $3 notice $4 who */
    {"ntc_seen",
     "UPDATE supervision_notices n SET seen_at = coalesce(n.seen_at, now()), seen_by = "
     "coalesce(n.seen_by, left($4, 100)) FROM enterprises e WHERE e.id = n.enterprise_id AND "
     "n.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING n.id"},
};

void db_notices_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_notices_create_tx(db_conn *c, int64_t enterprise_id, const char *kind,
                               const char *object, const char *detail, int64_t actor_account_id,
                               const char *actor, int64_t *id)
{
    char e[24], a[24];
    const char *p[6] = {db_i64(e, enterprise_id),
                        kind,
                        object,
                        detail,
                        actor_account_id ? db_i64(a, actor_account_id) : NULL,
                        actor};
    db_status st;
    PGresult *res = db_exec(c, "ntc_create", 6, p, &st);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_notices_list(db_conn *c, const db_scope *s, int open_only, int limit, json_t **out)
{
    char l[24];
    const char *p[4] = {s->kind, s->id, open_only ? "true" : "false", db_i64(l, limit)};
    return db_read_json(c, s, "ntc_list", 4, p, out);
}

db_status db_notices_seen_tx(db_conn *c, const db_scope *s, int64_t id, const char *who, int *found)
{
    char i[24];
    const char *p[4] = {s->kind, s->id, db_i64(i, id), who};
    db_status st;
    PGresult *res = db_exec(c, "ntc_seen", 4, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}
