#include "db_regions.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* The street-level regions (streets, towns, parks) an administrator of scope
 * ($1, $2) manages: the city all of them, a district its own. */
#define MANAGED(r)                                                                                 \
    r ".level = 'street' AND (($1 = 'city') OR ($1 = 'district' AND " r ".parent_id = "            \
      "$2::bigint))"
/* a district the scope may place a street under */
#define PARENT_OK(p)                                                                               \
    "EXISTS (SELECT FROM regions d WHERE d.id = " p " AND d.level = 'district' AND (($1 = "        \
    "'city') OR d.id = $2::bigint))"

#define REGION_JSON(r)                                                                             \
    "json_build_object('id', " r ".id, 'code', " r ".code, 'name', " r ".name, 'level', " r        \
    ".level, 'kind', " r ".kind, 'parent_id', " r ".parent_id, 'disabled', " r                     \
    ".disabled_at IS NOT NULL, 'disabled_at', " r ".disabled_at, 'enterprises', (SELECT "          \
    "count(*) FROM enterprises e WHERE e.street_id = " r ".id))"

static const db_stmt statements[] = {
    {"regions_tree",
     "SELECT coalesce(json_agg(json_build_object('id', r.id, 'code', r.code, 'name', r.name, "
     "'level', r.level, 'kind', r.kind, 'parent_id', r.parent_id, 'disabled', r.disabled_at IS "
     "NOT NULL, 'enterprises', (SELECT "
     "count(*) FROM enterprises e WHERE (e.district_id = r.id OR e.street_id = r.id OR r.level = "
     "'city') AND " SCOPE_ENT("e") ")) ORDER BY r.level <> 'city', r.level <> 'district', r.code), "
                                   "'[]'::json)::text FROM regions r WHERE " SCOPE_REGION("r")},
    /* every region is readable (row-level security lets all read the tree), so
     * the read that gates a write also holds the write policy's rule (0125)
     * on the transaction's scope, beside the application filter */
    {"rg_get",
     "SELECT " REGION_JSON("r") "::text FROM regions r WHERE r.id = $3::bigint AND " MANAGED(
         "r") " AND (current_setting('dw.scope', true) = 'system' OR dw_scope_is_city() OR "
              "(dw_scope_kind() = 'district' AND r.parent_id = dw_scope_id()))"},
    {"rg_create",
     "INSERT INTO regions (code, name, level, kind, parent_id) SELECT $3, $4, 'street', $5, "
     "$6::bigint WHERE " PARENT_OK("$6::bigint") " RETURNING id"},
    /* the old parent is read under the row lock the update takes */
    {"rg_update",
     "WITH old AS (SELECT r.id, r.parent_id FROM regions r WHERE r.id = $3::bigint AND " MANAGED(
         "r") " FOR UPDATE) UPDATE regions r SET name = coalesce($4, r.name), kind = "
              "coalesce($5, r.kind), parent_id = coalesce($6::bigint, r.parent_id), disabled_at = "
              "CASE $7::boolean WHEN true THEN coalesce(r.disabled_at, now()) WHEN false THEN "
              "NULL ELSE r.disabled_at END FROM old WHERE r.id = old.id AND ($6::bigint IS NULL "
              "OR " PARENT_OK("$6::bigint") ") RETURNING old.parent_id, r.parent_id"},
    /* a street moved to another district takes its enterprises along (the
     * enterprises_check_region trigger wants the street's district) */
    {"rg_move_enterprises",
     "UPDATE enterprises SET district_id = $2::bigint WHERE street_id = $1::bigint AND "
     "district_id <> $2::bigint"},
    {"rg_delete", "DELETE FROM regions r WHERE r.id = $3::bigint AND r.disabled_at IS NOT NULL "
                  "AND " MANAGED("r") " RETURNING id"},
};

void db_regions_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_regions_tree(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "regions_tree", 2, p, out);
}

db_status db_regions_get_tx(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char rid[24];
    const char *p[3] = {s->kind, s->id, db_i64(rid, id)};
    return db_exec_json(c, "rg_get", 3, p, out);
}

db_status db_regions_create_tx(db_conn *c, const db_scope *s, const db_region_write *w, int64_t *id,
                               db_diag *diag)
{
    char pid[24];
    const char *p[6] = {s->kind, s->id, w->code, w->name, w->kind, db_i64(pid, w->parent_id)};
    db_status st;
    PGresult *res = db_exec_diag(c, "rg_create", 6, p, &st, diag);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_regions_update_tx(db_conn *c, const db_scope *s, int64_t id, const db_region_write *w,
                               int *updated, int64_t *old_parent, db_diag *diag)
{
    char rid[24], pid[24];
    const char *p[7] = {s->kind,
                        s->id,
                        db_i64(rid, id),
                        w->name,
                        w->kind,
                        w->parent_id > 0 ? db_i64(pid, w->parent_id) : NULL,
                        db_tristate(w->disabled)};
    db_status st;
    PGresult *res = db_exec_diag(c, "rg_update", 7, p, &st, diag);
    if (!res)
        return st;
    *updated = PQntuples(res) == 1;
    *old_parent = *updated ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_regions_move_enterprises_tx(db_conn *c, int64_t street_id, int64_t district_id,
                                         long *moved)
{
    char sid[24], did[24];
    const char *p[2] = {db_i64(sid, street_id), db_i64(did, district_id)};
    db_status st;
    PGresult *res = db_exec(c, "rg_move_enterprises", 2, p, &st);
    if (!res)
        return st;
    *moved = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return DB_OK;
}

db_status db_regions_delete_tx(db_conn *c, const db_scope *s, int64_t id, int *deleted,
                               db_diag *diag)
{
    char rid[24];
    const char *p[3] = {s->kind, s->id, db_i64(rid, id)};
    db_status st;
    PGresult *res = db_exec_diag(c, "rg_delete", 3, p, &st, diag);
    if (!res)
        return st;
    *deleted = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}
