/* Regions: the city -> district -> street/town/park tree, as far as the
 * caller's scope reaches. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_regions.h"

int api_regions_list(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_regions_tree(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

void api_regions_init(void)
{
    db_regions_register();
}
