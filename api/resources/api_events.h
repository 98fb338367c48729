/* Live events (SSE) and the few libmicrohttpd hooks they need. */
#ifndef DW_API_EVENTS_H
#define DW_API_EVENTS_H

#include "api.h"

int api_events_stream(api_req *r);
void api_events_start(void);
/* Ends every open stream (before the daemon may stop). */
void api_events_stop_streams(void);
void api_events_stop(void);

#endif
