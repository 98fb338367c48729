/* fwd_role — the forwarder: `dustwatch serve --roles forward` (issue 18).
 *
 * One thread with its own PostgreSQL connection (scope system) and one libcurl
 * handle.  Every forward_poll_ms, or at once while there is more to send, it
 * goes through the targets (forward_targets) and, for each enabled one whose
 * backoff has passed and whose advisory lock it holds (one forwarder per target
 * city-wide, however many processes run the role):
 *
 *  1. sends the dead letters whose resend was requested (the API's resend
 *     action), re-encrypted with the target's current keys;
 *  2. reads the next outbox rows after the target's watermark (db_forward_next:
 *     committed transactions only, in (xid, id) order), splits each into
 *     requests of at most batch_max items (fwd_encode), sends them in order at
 *     most rate_per_s a second, and when every request of the row was answered
 *     moves the watermark past it in the transaction that records the day's
 *     counts and the dead letters (refused requests).
 *
 * A transport failure (no answer, 408, 429, 5xx) stops the target: nothing is
 * skipped; it retries from the request that failed after forward_retry_min_ms,
 * doubling up to forward_retry_max_ms, so an upstream outage of any length
 * catches up in order once it answers again.  A request answered but lost on
 * the way back is sent again: the upstream's natural keys (point and time)
 * make the resend harmless, as for any gateway that retries. */
#ifndef DW_FWD_ROLE_H
#define DW_FWD_ROLE_H

#include "srv_role.h"

#include <stdint.h>

/* Counts since this process started, and the lag, for /metrics. */
typedef struct fwd_counts {
    int running;        /* 1 when the forward role runs in this process */
    int targets;        /* enabled targets this process forwards (holds the lock of) */
    long long sent;     /* items answered (acked + refused) */
    long long acked;    /* items acknowledged */
    long long refused;  /* items refused (dead-lettered) */
    long long resent;   /* dead-lettered items acknowledged on a resend */
    long long requests; /* requests answered */
    long long failures; /* requests that failed in transport (retried) */
    double lag_s;       /* seconds since the furthest-behind target was last caught up */
} fwd_counts;

/* A snapshot of the counts (thread-safe; zeros when the role does not run). */
void fwd_stats(fwd_counts *out);

/* The forward role for `dustwatch serve`. */
extern const srv_role fwd_role;

#endif
