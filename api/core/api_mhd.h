/* The few libmicrohttpd hooks a streaming handler (SSE) needs beyond api.h. */
#ifndef DW_API_MHD_H
#define DW_API_MHD_H

#include "api.h"

struct MHD_Connection;
struct MHD_Response;

/* The connection of a request, and queuing a prepared
 * response (ownership of resp passes). */
struct MHD_Connection *api_req_connection(api_req *r);
/* Returns the request's pooled connection early: a stream lives for hours
 * and must not hold one of the few database connections. */
void api_req_release_db(api_req *r);
int api_reply_response(api_req *r, int status, struct MHD_Response *resp, const char *content_type);

#endif
