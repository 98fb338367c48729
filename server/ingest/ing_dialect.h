/* ing_dialect — the wire formats the ingest listener speaks, behind one
 * interface.
 *
 * Each dialect (our JSON v1, Hebei V1.1, MEM) is one entry of the table in
 * ing_dialect.c: the URL paths it serves, the header its credential travels
 * in, the step that authenticates a request and decrypts and decodes its
 * body into an ing_batch (codec in server/dialect/, credential look-up in
 * db_ingest), and the encoders of its replies (a processed batch, a
 * whole-request error).  The listener routes with the table and the writer
 * calls the entry a job came in on; neither knows a dialect by name.  Adding
 * a province is one new entry there and its codec file.
 *
 * Entries are static and immutable; every function is reentrant. */
#ifndef DW_ING_DIALECT_H
#define DW_ING_DIALECT_H

#include "db.h"
#include "ing_decode.h"
#include "ing_errors.h"

#include <stddef.h>
#include <stdint.h>

/* Whom an authenticated request speaks for. */
typedef struct ing_origin {
    int64_t enterprise_id;
    char enterprise_code[40];
} ing_origin;

/* Why a request was refused before anything was written. */
typedef struct ing_refusal {
    ing_err err;
    char detail[256];
    int retry_after_s; /* >0: the Retry-After to send (a lockout) */
} ing_refusal;

/* One rejected item of a processed batch; strings borrowed. */
typedef struct ing_item_error {
    size_t index;        /* position in the body */
    const char *ref;     /* point or camera code, may be NULL */
    const char *code;    /* "unknown_point", "too_old", ... */
    const char *message; /* a short english sentence */
} ing_item_error;

/* One reading kept apart: its instant already held another value (the
 * stored one stays the reading; this one is in reading_conflicts). */
typedef struct ing_item_conflict {
    size_t index;    /* position in the body */
    const char *ref; /* point code; borrowed */
    int64_t ts_us;
    double value, stored_value;
} ing_item_conflict;

/* The verdict on a processed batch, what its reply says. */
typedef struct ing_outcome {
    size_t n_items;
    long accepted, duplicate, rejected, conflicting;
    const ing_item_error *errors; /* the rejected items in input order, n_errors of them */
    size_t n_errors;
    const ing_item_conflict *conflicts; /* the conflicting readings in input order */
    size_t n_conflicts;
} ing_outcome;

/* The request as the listener received it; borrowed. */
typedef struct ing_request {
    ing_kind kind;
    const char *body;
    size_t body_len;
    const char *secret; /* value of the dialect's secret_header, NULL when absent */
    const char
        *peer; /* the client's address ("" when unknown): failed decryptions count per address */
} ing_request;

typedef struct ing_dialect {
    /* stored as the source of gateway events and video alarms */
    const char *name;
    /* requests whose path starts with path_prefix and that kind_for_path maps
     * to a kind belong to this dialect */
    const char *path_prefix;
    int (*kind_for_path)(const char *path, ing_kind *kind);
    /* the header the listener hands to open() as the secret, NULL for none */
    const char *secret_header;
    /* Authenticates the request (credential look-up on c, outside a
     * transaction), decrypts and decodes it.  0: *batch (caller frees with
     * ing_batch_free) and *who filled; 1: refused, *why says why; -1: the
     * database failed. */
    int (*open)(db_conn *c, const ing_request *req, const ing_limits *lim, int64_t now_us,
                ing_batch **batch, ing_origin *who, ing_refusal *why);
    /* Reply bodies in the dialect's shape: malloc'd (caller frees; NULL on
     * OOM) with the HTTP status to send in *http_status. */
    char *(*reply_outcome)(const ing_outcome *o, int *http_status);
    char *(*reply_error)(ing_err e, const char *detail, int *http_status);
} ing_dialect;

/* The dialect serving path, and the kind of data it takes there; NULL when
 * no dialect serves it. */
const ing_dialect *ing_dialect_route(const char *path, ing_kind *kind);

#endif
