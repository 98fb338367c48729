#include "srv_http.h"

#include <stdatomic.h>

static atomic_uint_fast64_t next_id = 1;

uint64_t srv_next_request_id(void)
{
    return atomic_fetch_add(&next_id, 1);
}

json_t *srv_error_body(const char *code, const char *hint, const char *detail)
{
    return json_pack("{s:s, s:s, s:s}", "code", code, "hint", hint ? hint : "", "detail",
                     detail ? detail : "");
}
