/* The gateway ingest listener: libevent's evhttp on the main event loop.
 *
 * The loop thread only parses HTTP, authenticates the envelope shape and
 * hands work to the ingest writer threads (ing_writer.h); replies come back
 * through a completion queue, so the loop never waits for PostgreSQL.  It
 * also answers /healthz and /readyz from memory. */
#ifndef DW_ING_HTTP_H
#define DW_ING_HTTP_H

#include "srv_role.h"

struct event_base;

/* Binds ingest_listen; -1 with a logged message on failure. */
int ing_http_start(struct event_base *base);

/* Stops accepting new connections; in-flight requests still finish. */
void ing_http_stop_accepting(void);

/* Requests accepted but not answered yet (for graceful shutdown). */
int ing_http_in_flight(void);

void ing_http_free(void);

/* The ingest role for `dustwatch serve` (wraps the functions above). */
extern const srv_role ing_http_role;

#endif
