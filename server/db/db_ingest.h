/* db_ingest — what the ingest writers store and look up: gateway credentials
 * per dialect, point codes, Idempotency-Key rows, readings (with
 * point_latest), gateway events and video alarms.
 *
 * The writer runs on internal connections (db_connect_scoped "system");
 * the credential, point and partition look-ups run outside a transaction,
 * everything else inside the group's write transaction (db_run_tx).  Arrays
 * are C arrays of n rows; the PostgreSQL array literals they travel as are
 * built here.  Strings are borrowed for the call unless a comment says
 * otherwise.  Every function answers DB_OK, or the failure of the statement
 * that failed (db.h); out-parameters are written only on DB_OK. */
#ifndef DW_DB_INGEST_H
#define DW_DB_INGEST_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

/* Registers the statements; the ingest writer calls it from its start. */
void db_ingest_register(void);

/* ---- credentials (outside a transaction) ---- */

/* Whom a credential speaks for, and the key material a dialect decrypts
 * with.  Holds secrets: the caller wipes it (sodium_memzero) after use. */
typedef struct db_ingest_cred {
    int64_t enterprise_id;
    char enterprise_code[40];
    unsigned char key[16]; /* Hebei: the DES key in key[0..7]; MEM: the SM4 key */
    unsigned char iv[16];  /* MEM: the SM4 IV */
    int secret_ok;         /* MEM: the appsecret's hash matched */
} db_ingest_cred;

/* The enterprise of an active (not revoked) API key, by the SHA-256 of the
 * key.  *found is 0 when there is none. */
db_status db_ingest_cred_api(db_conn *c, const unsigned char key_hash[32], db_ingest_cred *out,
                             int *found);
/* The active Hebei DES key of the enterprise with code qybm.  *found is 0
 * when there is none, or the stored key is not 8 bytes. */
db_status db_ingest_cred_hebei(db_conn *c, const char *qybm, db_ingest_cred *out, int *found);
/* The active MEM credential of appid; out->secret_ok says whether
 * secret_hash (SHA-256 of the appsecret header) matches.  *found is 0 when
 * there is none, or its key or IV is not 16 bytes. */
db_status db_ingest_cred_mem(db_conn *c, const char *appid, const unsigned char secret_hash[32],
                             db_ingest_cred *out, int *found);

/* ---- points and partitions (outside a transaction) ---- */

typedef struct db_ingest_point {
    const char *code; /* owned by the db_ingest_points it came from */
    int64_t id, enterprise_id;
    double range_min, range_max; /* the sensor's, when has_min / has_max */
    int has_min, has_max, enabled;
    /* what a sensor of the point's kind can physically report at all
     * (indicator_kinds, migration 0017) */
    double plausible_min, plausible_max;
} db_ingest_point;

typedef struct db_ingest_points db_ingest_points;

/* Every point whose code is one of codes (n of them, repeats allowed), in
 * one statement.  *out is the caller's: db_ingest_points_free(). */
db_status db_ingest_points_resolve(db_conn *c, const char *const *codes, size_t n,
                                   db_ingest_points **out);
/* The point with this code, NULL when it does not exist.  Borrowed from p. */
const db_ingest_point *db_ingest_points_find(const db_ingest_points *p, const char *code);
void db_ingest_points_free(db_ingest_points *p); /* NULL-safe */
/* The packing horizon read with the points (readings_pack_state, migration 0137), in
 * microseconds since the epoch: readings before it are packed and can no longer be
 * stored.  INT64_MIN when nothing is packed (or no point was found). */
int64_t db_ingest_points_packed_before_us(const db_ingest_points *p);

/* Creates the readings partition of a UTC day (days since the epoch) if it
 * does not exist yet.  Waits at most half a second for the lock on readings
 * (DB_HARD then: answer 503, the gateway retries; db_jobs.c says why). */
db_status db_ingest_ensure_partition(db_conn *c, int64_t day);

/* ---- Idempotency-Key rows (inside the write transaction) ---- */

/* One Idempotency-Key of a group: (enterprise, key) for a body with this SHA-256. */
typedef struct db_ingest_claim {
    int64_t enterprise_id;
    const char *key;
    const unsigned char *body_hash; /* 32 bytes */
    int claimed;                    /* out: the key is this transaction's */
} db_ingest_claim;

/* Claims n keys with one statement, in the order given (each (enterprise, key) once), or
 * takes over expired claims; claimed is 0 where a live row holds the key.  Queued
 * (db_conn_pipeline): claimed is written by the next wait or db_flush, and keys must stay
 * valid until then. */
db_status db_ingest_idem_claim(db_conn *c, db_ingest_claim *keys, size_t n);

/* The row another request holds.  response is malloc'd (the caller frees),
 * NULL while that request has not answered yet (has_answer 0). */
typedef struct db_ingest_idem {
    int same_body;
    int has_answer;
    int status;
    char *response;
} db_ingest_idem;

/* *found is 0 when the row vanished since the claim (an expiry purge). */
db_status db_ingest_idem_get(db_conn *c, int64_t enterprise_id, const char *key,
                             const unsigned char body_hash[32], db_ingest_idem *out, int *found);
/* ---- the batch's items (inside the write transaction) ---- */

typedef struct db_ingest_reading {
    int64_t point_id;
    int64_t ts_us; /* UTC microseconds since the epoch */
    double value;
    int quality;    /* ING_Q_* */
    int item_index; /* position in the request body (kept with a conflict) */
    /* out: the instant already holds another value or quality; this one is
     * in reading_conflicts (not in readings, not in point_latest) */
    int conflict;
    double stored_value; /* with conflict: what readings holds */
    int stored_quality;
} db_ingest_reading;

/* The batch readings come in, recorded with a conflicting value. */
typedef struct db_ingest_batch_ref {
    const char *source;               /* dialect: "native", "hebei", "mem" */
    const unsigned char *body_sha256; /* 32 bytes */
    uint64_t request_id;              /* 0: none */
    const char *idem_key;             /* NULL: none */
} db_ingest_batch_ref;

/* Inserts readings of one enterprise and moves point_latest forward.  A row
 * whose (point, instant) is already stored with the same value and quality
 * is skipped (a duplicate); with another value or quality it is kept in
 * reading_conflicts instead and marked rows[i].conflict (the first value of
 * an instant stays the reading, also within rows).  *inserted counts the new
 * readings, *conflicts the marked rows; the rest of n are duplicates.
 *
 * *fresh, in: nonzero when the caller knows every row to be newer than its
 * point's point_latest (db_ingest_points_latest, under the point locks the
 * caller must hold, alarm_group_lock): the rows then go in
 * without looking for duplicates and conflicts, unless two of them share an
 * instant.  Out: 1 when they went in so, 0 when they took the ON CONFLICT
 * path.  On a pipelined connection (db_conn_pipeline) such rows are held
 * back and stored with those of the next jobs on this path by one
 * statement, sent before the transaction's next other statement (db_hold),
 * so *inserted counts them all and *fresh, which must stay valid until the
 * COMMIT, is written later.  Should a stored reading refuse them all the
 * same (a unique violation: a reading stored without point_latest following
 * it), *fresh is -1 (of every job of that statement), DB_BAD is the status
 * of that call or of the transaction's next wait, and the transaction is
 * aborted: the caller rolls back and runs the whole transaction again with
 * *fresh 0. */
db_status db_ingest_store_readings(db_conn *c, int64_t enterprise_id,
                                   const db_ingest_batch_ref *ref, db_ingest_reading *rows,
                                   size_t n, int *fresh, long *inserted, long *conflicts);

typedef struct db_ingest_event {
    int64_t point_id;
    int64_t ts_us;
    const char *level; /* "high", "cleared", ... */
    double value, threshold;
    int has_value, has_threshold;
    const char *content; /* NULL stores "" */
} db_ingest_event;

/* Inserts gateway events of one enterprise, source the dialect's name; a
 * row already stored is skipped.  *inserted counts the new ones. */
db_status db_ingest_insert_events(db_conn *c, int64_t enterprise_id, const char *source,
                                  const db_ingest_event *rows, size_t n, long *inserted);

/* Inserts one video alarm (img NULL for none; content NULL stores "");
 * *inserted is 0 when it was already stored. */
db_status db_ingest_insert_video(db_conn *c, int64_t enterprise_id, const char *source,
                                 const char *camera, int64_t ts_us, const char *alarm_type,
                                 const char *content, const unsigned char *img, size_t img_len,
                                 int *inserted);

/* ---- lock order (first in the write transaction) ---- */

/* Takes, shared, the lock every readings insert takes through the rollup
 * trigger (migration 0012), so that a rollup mark queued for it cannot wedge
 * itself between locks this transaction already holds. */
db_status db_ingest_hold_rollup_mark(db_conn *c);

/* The point_rule_state rows of the group's points are locked next, in id
 * order, by the statement that loads them for the alarm rules
 * (alarm_group_lock, db_alarms_state_load): every per-point row a batch
 * writes (readings keys, point_latest, rule state, alarms) is then written
 * by one transaction at a time, and writers sharing points queue at their
 * first common point instead of deadlocking. */

/* The newest instant point_latest holds for each of n points (ids sorted
 * ascending, each once) in latest_us[i] (µs), INT64_MIN for none.  Call it
 * after the point locks (alarm_group_lock): it then reads what the last writer of each
 * point committed. */
db_status db_ingest_points_latest(db_conn *c, const int64_t *point_ids, size_t n,
                                  int64_t *latest_us);

/* ---- the group's end (inside the write transaction) ---- */

/* The answer a replay with the same Idempotency-Key gets (response may be NULL). */
typedef struct db_ingest_answer {
    int64_t enterprise_id;
    const char *idem_key;
    int status;
    const char *response;
} db_ingest_answer;

/* The group transaction's last statement (queued, db_conn_pipeline): stores n_answers
 * answers, each of a key this transaction claimed (db_ingest_idem_claim), once per key;
 * and marks gateways as heard from now: n (enterprise, gateway code) pairs, one per
 * authenticated batch of the group, codes[i] NULL when the batch names no gateway.  A code
 * names the gateway with that code if it belongs to the enterprise (another's code or an
 * unknown one updates nothing); no code means the enterprise's gateway when it has exactly
 * one.  last_seen_at only moves forward, to the second (a row seen less than a second ago is
 * left alone).  Call it last in the transaction (it locks gateway rows in id order, so
 * writers never deadlock on them). */
db_status db_ingest_finish(db_conn *c, const db_ingest_answer *answers, size_t n_answers,
                           const int64_t *enterprise_ids, const char *const *codes, size_t n);

/* ---- cameras (outside a transaction) ---- */

/* Whether each (enterprise, camera code) pair, n of them, is a registered camera of that
 * enterprise, in one statement: state[i] 0 not registered, 1 enabled, 2 disabled. */
db_status db_ingest_cameras_resolve(db_conn *c, const int64_t *enterprise_ids,
                                    const char *const *codes, size_t n, int *state);

#endif
