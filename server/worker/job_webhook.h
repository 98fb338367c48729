/* job_webhook — delivers notification_outbox rows (warnings, alarms, warning actions,
 * overdue nudges: migration 0051 routes them) through their channel (job_notify.h: webhook
 * or SMS gateway, libcurl, https verified).
 *
 * At least once: a row is leased (next_attempt_at pushed past the delivery timeout),
 * sent outside any transaction, and every attempt is logged in notification_deliveries
 * (sent / failed with the HTTP status or the transport/TLS error); a failure is retried after
 * notify_retry_base_s × 2^(attempts-1), at most an hour.  A worker that dies mid-delivery
 * leaves the lease to expire, so another delivers again: receivers deduplicate with the
 * X-Dustwatch-Delivery header (the row's dedup key). */
#ifndef DW_JOB_WEBHOOK_H
#define DW_JOB_WEBHOOK_H

#include "db.h"

#include <stddef.h>

void job_webhook_init(void);

/* Delivers up to `limit` due rows; *n_delivered counts 2xx answers. */
__attribute__((warn_unused_result)) db_status job_webhook_run(db_conn *c, int limit,
                                                              size_t *n_delivered);

#endif
