/* Server metadata for clients and the dashboard. */
#include "api_handlers.h"

#include "dw_config.h"
#include "srv_config.h"

#include <stdio.h>
#include <stdlib.h>

int api_version_get(api_req *r)
{
    return api_reply_json(r, 200,
                          json_pack("{s:s, s:s, s:s}", "name", "dustwatch", "version", DW_VERSION,
                                    "time_zone", g_config.display_time_zone));
}

/* The route table itself, so clients and tests see exactly what is served. */
int api_routes_get(api_req *r)
{
    size_t n;
    const api_route *routes = api_route_table(&n);
    return api_reply_json(r, 200, api_route_table_json(routes, n));
}

/* The OpenAPI document (schema/openapi.json), read per request: it is small
 * and an operator may replace it without a restart. */
int api_openapi_get(api_req *r)
{
    FILE *f = fopen(g_config.openapi_file, "rb");
    if (!f)
        return api_reply_error(r, API_E_NOT_FOUND, "the OpenAPI document is not installed");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 262144;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return api_reply_error(r, API_E_INTERNAL, "out of memory");
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    api_reply_add_header(r, "Cache-Control", "max-age=60");
    int rc = api_reply_raw(r, 200, "application/json; charset=utf-8", buf ? buf : "", len);
    free(buf);
    return rc;
}
