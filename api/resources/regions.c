/* Regions: the city -> district -> street/town/park tree, as far as the
 * caller's scope reaches. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_scope_sql.h"

static const db_stmt statements[] = {
    {"regions_tree",
     "SELECT coalesce(json_agg(json_build_object('id', r.id, 'code', r.code, 'name', r.name, "
     "'level', r.level, 'kind', r.kind, 'parent_id', r.parent_id, 'enterprises', (SELECT "
     "count(*) FROM enterprises e WHERE (e.district_id = r.id OR e.street_id = r.id OR r.level = "
     "'city') AND " SCOPE_ENT("e") ")) ORDER BY r.level <> 'city', r.level <> 'district', r.code), "
                                   "'[]'::json)::text FROM regions r WHERE " SCOPE_REGION("r")},
};

int api_regions_list(api_req *r)
{
    char kind[16], id[24];
    api_scope_params(api_req_caller(r), kind, id);
    const char *p[2] = {kind, id};
    json_t *out;
    db_status st = api_query_json(r, "regions_tree", 2, p, &out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

void api_regions_init(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}
