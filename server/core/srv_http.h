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

/* Rate limits: token buckets keyed by a string (a credential, an address).
 * Keys are hashed with SipHash under a key drawn per process, so nobody can
 * aim a key at another's bucket.  Fixed memory (two slots per key in a table
 * of 4096): a key whose two slots are both held by keys still spending is let
 * through (the caller's other limit still counts it); a slot whose bucket is
 * full again (idle) is reused.  Thread-safe. */
typedef struct srv_rate srv_rate;
srv_rate *srv_rate_new(void);
void srv_rate_free(srv_rate *r);
/* 0: allowed (a token taken); else the whole seconds until one is there.
 * per_s <= 0: no limit. */
int srv_rate_take(srv_rate *r, const char *key, long per_s, long burst);
/* The process's keyed 64-bit hash of s (never 0). */
uint64_t srv_rate_key(const char *s);

#endif
