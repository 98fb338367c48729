/* fwd_encode — what the forwarder sends, in the upstream's dialect (pure, no I/O).
 *
 * A page of outbox rows (db_forward_next: each one ingest batch of one
 * enterprise, its items already in the upstream's codes) becomes requests of at
 * most the target's batch_max items, several batches of an enterprise in one
 * request; a video alarm is a request of its own (its snapshot rides in the
 * Hebei outer "img"); our rule alarms (kind "alarms") go as events.  A request is first a payload,
 * the plaintext
 * {"kind", "qybm", "wgbm", "inner", "img", "items"} — what a dead letter keeps,
 * so a resend encrypts it again with the target's current keys — then a body:
 *   hebei  {"qybm", "wgbm"?, "data": HEX(Base64(DES-CBC(inner))), "img"?}, inner
 *          {"qybm", "data": {"rts": [{"tnm", "ts", "val"}]}} /
 *          {"qybm", "data": {"events": [{"ts", "oname", "avx"?, "scd", "threshold"?,
 *          "content"}]}} / {"ts", "videoCode", "alarmType", "content"}
 *   mem    {"appid", "data": HEX(SM4-CBC(inner))} with our format v1 inside
 *          (readings / events / videos), the appsecret in the request header.
 * The encoders are the ingest dialects' own (server/dialect: ing_hebei_encode,
 * ing_mem_encode), as the simulator uses them. */
#ifndef DW_FWD_ENCODE_H
#define DW_FWD_ENCODE_H

#include "fwd_keys.h"

#include <jansson.h>
#include <stddef.h>

/* Most bytes of item JSON in one request (the ingest body limit is 4 MiB; the
 * Hebei envelope makes about 2.7 bytes of each). */
#define FWD_MAX_INNER (1024 * 1024)

/* A page of outbox rows (db_forward_next, in commit order) into its payloads
 * (a new array; empty when no row has items), or NULL when a row is malformed
 * or memory ran out.  Several ingest batches go into one request: the rows are
 * grouped per (enterprise, kind) in the order of each group's first row, each
 * group's items in row order (so every point's items keep their order), and
 * cut into requests of at most batch_max items and FWD_MAX_INNER bytes (video
 * alarms: one a request).  Each payload also has "enterprise_id".  The same
 * page gives the same payloads: the forwarder's idempotency keys name the page
 * and the payload's index in it. */
json_t *fwd_encode_page(int mem, int batch_max, const json_t *page);

/* The URL path under the target's base URL: /api/rtsData ... or /readings ... */
const char *fwd_path(int mem, const char *kind);

/* The encrypted request body of a payload; 0 and *body (malloc'd), or -1. */
int fwd_encode_body(const fwd_keys *k, const char *appid, const json_t *payload, char **body);

typedef enum { FWD_ACK, FWD_REFUSED, FWD_RETRY } fwd_verdict;

/* What the upstream's answer means.  http_status 0: no answer (connection,
 * timeout).  Retried: no answer, 408, 429, 5xx and a "code" of 500-599;
 * acknowledged: 2xx and code 200 (hebei), 2xx without a code other than 200 and
 * without rejected items (mem: our format's answer); everything else is
 * refused.  *code the answer's "code" (-1 none), reason a short text. */
fwd_verdict fwd_classify(int mem, long http_status, const char *body, size_t len, int *code,
                         char *reason, size_t reasonlen);

#endif
