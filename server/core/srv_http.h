/* Small helpers shared by both HTTP stacks: the public error body and
 * request ids. */
#ifndef DW_SRV_HTTP_H
#define DW_SRV_HTTP_H

#include <jansson.h>
#include <stdint.h>

/* Process-unique, monotonically increasing id for request log lines. */
uint64_t srv_next_request_id(void);

/* {"code":…, "hint":…, "detail":…} as a new reference. */
json_t *srv_error_body(const char *code, const char *hint, const char *detail);

#endif
