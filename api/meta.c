/* Server metadata for clients and the dashboard. */
#include "api_handlers.h"

#include "dw_config.h"

int api_version_get(api_req *r)
{
    return api_reply_json(r, 200,
                          json_pack("{s:s, s:s}", "name", "dustwatch", "version", DW_VERSION));
}
