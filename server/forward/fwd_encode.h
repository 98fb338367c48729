/* fwd_encode — what the forwarder sends, in the upstream's dialect (pure, no I/O).
 *
 * One outbox row (db_forward_next: one ingest batch of one enterprise, its items
 * already in the upstream's codes) becomes one or more requests of at most the
 * target's batch_max items; a video alarm is a request of its own (its snapshot
 * rides in the Hebei outer "img").  A request is first a payload, the plaintext
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

/* The row's payloads (a new array; empty when the row has no items), or NULL
 * when the row is malformed or memory ran out. */
json_t *fwd_encode_row(int mem, int batch_max, const json_t *row);

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
