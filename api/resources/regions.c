/* Regions: the city -> district -> street/town/park tree, as far as the
 * caller's scope reaches. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_regions.h"

int api_regions_list(api_req *r)
{
    db_conn *c = api_req_db(r);
    if (!c)
        return api_reply_db(r, DB_HARD);
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    json_t *out;
    db_status st = db_regions_tree(c, &s, &out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

void api_regions_init(void)
{
    db_regions_register();
}
