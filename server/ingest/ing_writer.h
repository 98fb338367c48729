/* Ingest writers: group commit of gateway batches into PostgreSQL.
 *
 * The loop thread (ing_http.c) turns each request into an ing_job and calls
 * ing_writer_submit(); writer threads take every job waiting, decode and
 * authenticate them, write them in one transaction, commit, and hand the
 * jobs back through the completion callback, which runs on the loop thread.
 * A job's reply is final only after COMMIT returned: acknowledged means
 * committed. */
#ifndef DW_ING_WRITER_H
#define DW_ING_WRITER_H

#include "ing_decode.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ing_dialect;

typedef struct ing_job {
    struct ing_job *next;
    uint64_t req_id;
    void *req;                         /* the loop's request handle; the writer never touches it */
    const struct ing_dialect *dialect; /* the table entry the request came in on */
    ing_kind kind;
    char *body; /* owned */
    size_t body_len;
    char *secret;        /* the dialect's secret_header, NULL when absent.  owned */
    char *idem_key;      /* Idempotency-Key header or NULL.  owned */
    char peer[64];       /* the client's address, "" when unknown */
    int64_t received_us; /* CLOCK_MONOTONIC when the listener took the request (metrics) */
    uint64_t lane;       /* fairness: the writers take jobs of different lanes in turn
                          * (ing_http.c: a keyed hash of the credential, else of the IP) */
    /* filled by the writer */
    int status;           /* HTTP status */
    char *reply;          /* body in the dialect's shape, owned */
    int retry_after_s;    /* >0: send Retry-After */
    int idem_replayed;    /* the reply came from a stored first answer */
    const char *err_code; /* a refusal's ing_err code (static), for the metrics */
} ing_job;

/* Called on the loop thread with finished jobs (a list); the callee owns them
 * and must ing_job_free() each. */
typedef void (*ing_done_fn)(ing_job *done);

int ing_writer_start(struct event_base *base, ing_done_fn done, int n_writers);
/* Stops after the queue drained; jobs still queued get 503. */
void ing_writer_stop(void);

/* Takes ownership of job.  Returns -1 (job untouched, still the caller's)
 * when the queue is full or the writers are stopping: answer 503. */
int ing_writer_submit(ing_job *job);

/* Jobs submitted and not yet handed back. */
int ing_writer_pending(void);

void ing_job_free(ing_job *job);

/* Counts a whole request refused with the ingest error code `code` in
 * dustwatch_ingest_rejections_total (the listener's refusals; the writer
 * counts per-item rejections itself).  Strings borrowed. */
void ing_writer_count_refusal(const char *dialect, const char *code);

#endif
