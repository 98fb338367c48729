/* Live events (SSE) and the few libmicrohttpd hooks they need. */
#ifndef DW_API_EVENTS_H
#define DW_API_EVENTS_H

#include "api.h"

struct MHD_Connection;
struct MHD_Response;

int api_events_stream(api_req *r);
void api_events_start(void);
/* Ends every open stream (before the daemon may stop). */
void api_events_stop_streams(void);
void api_events_stop(void);

/* api_server.c: the connection of a request, and queuing a prepared
 * response (ownership of resp passes). */
struct MHD_Connection *api_req_connection(api_req *r);
/* Returns the request's pooled connection early: a stream lives for hours
 * and must not hold one of the few database connections. */
void api_req_release_db(api_req *r);
int api_reply_response(api_req *r, int status, struct MHD_Response *resp, const char *content_type);

#endif
