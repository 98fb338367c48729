/* Answers reused across requests: documents that are the same for every account of a scope
 * and cost PostgreSQL far more than they change (the overview, an enterprise's archive, a
 * statistic over a period).  Per cache a fixed set of slots keyed by text the caller builds
 * from everything the answer depends on (the scope, the object, the query).
 *
 * A stored answer is served while younger than the caller's ttl and no write went through
 * this API process since it was computed (api_write_generation).  When it expires, one
 * request recomputes it while the others keep serving it (up to 4 x ttl old), or wait for
 * the answer when there is none — so a burst of the same question asks PostgreSQL once.
 * Another API process's writes show after at most ttl.
 *
 * Ownership: keys and documents are borrowed; the cache keeps each answer serialised, and
 * api_cache_get returns a malloc'd copy of that text. */
#ifndef DW_API_CACHE_H
#define DW_API_CACHE_H

#include "api.h"

#include <jansson.h>
#include <stdint.h>

typedef enum {
    API_CACHE_OVERVIEW,
    API_CACHE_ARCHIVE,
    API_CACHE_STATS,
    API_CACHE_SERIES,
    API_CACHE__COUNT
} api_cache_kind;

/* The key of r's answer: its caller's scope (the real one and the application filter's,
 * which differ only under the test-only switch), then "|" and fmt's text when fmt is not
 * NULL.  Truncated to len; a key of KEY_MAX (256) or more bytes is never stored. */
void api_cache_key(api_req *r, char *key, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* What a request gets from the cache: the answer to serve, serialised (malloc'd, *len bytes;
 * the caller frees it or hands it to api_cache_reply) with *age_ms its age, or NULL and
 * *mine = 1 when this request is to compute the answer and hand it to api_cache_put (also
 * when computing fails: with NULL).  NULL with *mine = 0: compute, but do not store. */
char *api_cache_get(api_cache_kind k, const char *key, int64_t ttl_ms, int *mine, int64_t *age_ms,
                    size_t *len);

/* Replies with a cached answer (text taken over) and an Age header (RFC 9111: seconds since
 * it was computed), so a client and the tests can tell a reused answer from a fresh one. */
int api_cache_reply(api_req *r, char *text, size_t len, int64_t age_ms);

/* Stores doc (borrowed, serialised here; NULL only releases the slot) computed from data read
 * after generation gen was current, begun at started_ms (srv_mono_ms). */
void api_cache_put(api_cache_kind k, const char *key, const json_t *doc, unsigned long gen,
                   int64_t started_ms);
/* The same with the answer already serialised: text (borrowed, len bytes, NULL only releases
 * the slot) is copied. */
void api_cache_put_text(api_cache_kind k, const char *key, const char *text, size_t len,
                        unsigned long gen, int64_t started_ms);

#endif
