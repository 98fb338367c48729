#include "db_regions.h"

#include "db_internal.h"
#include "db_scope_sql.h"

static const db_stmt statements[] = {
    {"regions_tree",
     "SELECT coalesce(json_agg(json_build_object('id', r.id, 'code', r.code, 'name', r.name, "
     "'level', r.level, 'kind', r.kind, 'parent_id', r.parent_id, 'enterprises', (SELECT "
     "count(*) FROM enterprises e WHERE (e.district_id = r.id OR e.street_id = r.id OR r.level = "
     "'city') AND " SCOPE_ENT("e") ")) ORDER BY r.level <> 'city', r.level <> 'district', r.code), "
                                   "'[]'::json)::text FROM regions r WHERE " SCOPE_REGION("r")},
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
