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

/* Descriptors kept free for PostgreSQL, Redis, files, the event loops and the
 * accept back-off when both listeners are full. */
#define SRV_FD_RESERVE 64

/* How many connections one listener may hold: raises the soft RLIMIT_NOFILE to
 * the hard limit (once per process), then half of what is left after
 * SRV_FD_RESERVE (the two listeners share it); at least 1. */
long srv_http_fd_share(void);

/* Opens *reserve (a descriptor kept for srv_http_shed) when it is not open. */
void srv_http_reserve_open(int *reserve);

/* Out of descriptors: closes the reserve, accepts one waiting client on
 * listen_fd, answers it 503 + Retry-After: 1 with json_body and closes it, so it
 * is told instead of left hanging; then opens the reserve again. */
void srv_http_shed(int listen_fd, int *reserve, const char *json_body);

#endif
