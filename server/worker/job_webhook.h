/* job_webhook — delivers notification_outbox rows to webhook subscriptions.
 *
 * At least once: a row is leased (next_attempt_at pushed past the delivery timeout) in a
 * short transaction, posted outside any transaction, then marked delivered on a 2xx or
 * rescheduled with exponential backoff (30 s × 2^attempts, at most 1 h).  A worker that
 * dies mid-delivery leaves the lease to expire, so another delivers again: receivers
 * deduplicate with the X-Dustwatch-Delivery header (warning id + event).
 *
 * The body is signed: X-Dustwatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>.
 * Transport is plain HTTP/1.1 over a blocking socket with timeouts; https URLs are
 * rejected as a permanent error (TLS is left out for now; put a local relay in front). */
#ifndef DW_JOB_WEBHOOK_H
#define DW_JOB_WEBHOOK_H

#include "db.h"

#include <stddef.h>

void job_webhook_init(void);

/* Delivers up to `limit` due rows; *n_delivered counts 2xx answers. */
__attribute__((warn_unused_result)) db_status job_webhook_run(db_conn *c, int limit,
                                                              size_t *n_delivered);

#endif
