/* Dust-cleaning check-ins: areas per enterprise, check-ins with an optional
 * photo, compliance per enterprise and street, the overview's numbers, and
 * the risk recompute every write asks for.
 *
 * Reads run under a db_scope in one round trip (the overview and the photo:
 * inside the caller's transaction); writes run inside the caller's open
 * transaction.  Every statement filters by the scope's kind and id itself.
 * Strings are borrowed; returned json_t * are new references the caller
 * json_decref()s. */
#ifndef DW_DB_CLEANING_H
#define DW_DB_CLEANING_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Before the first connection (api_cleaning_init). */
void db_cleaning_register(void);

/* {items[]}; *out NULL when the enterprise is not in scope. */
db_status db_cleaning_areas(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);
/* One area; *out NULL when not in scope. */
db_status db_cleaning_area_get(db_conn *c, const db_scope *s, int64_t area_id, json_t **out);

/* The area a write made or changed. */
typedef struct db_cleaning_area_ref {
    int64_t id, enterprise_id;
} db_cleaning_area_ref;
/* NULL name / frequency and active -1 keep the current value (create: name
 * and frequency required, active defaults to true).  *found 0 when the
 * enterprise (create) or area (update) is not in scope; DB_BAD when the
 * table refused the values, i.e. the enterprise has an area of that name. */
db_status db_cleaning_area_create(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                  const char *name, const char *frequency, int active,
                                  db_cleaning_area_ref *out, int *found);
db_status db_cleaning_area_update(db_conn *c, const db_scope *s, int64_t area_id, const char *name,
                                  const char *frequency, int active, db_cleaning_area_ref *out,
                                  int *found);

/* The area a check-in goes to, share-locked against deactivation.  *found 0
 * when not in scope. */
db_status db_cleaning_area_lock(db_conn *c, const db_scope *s, int64_t area_id, int *active,
                                int64_t *enterprise_id, int *found);

typedef struct db_cleaning_checkin_new {
    int64_t area_id;
    const char *person;
    int64_t account_id;     /* 0 = none (API keys) */
    const char *checked_at; /* RFC 3339; NULL = now */
    const char *method, *note;
    const unsigned char *photo; /* NULL = none */
    size_t photo_len;
    const char *photo_type;
} db_cleaning_checkin_new;
/* On DB_OK *id is the new check-in; DB_BAD when the area was not active and
 * in scope, which a caller that locked and checked it never sees. */
db_status db_cleaning_checkin(db_conn *c, const db_scope *s, const db_cleaning_checkin_new *in,
                              int64_t *id);
/* One check-in; *out NULL when not in scope. */
db_status db_cleaning_checkin_get(db_conn *c, const db_scope *s, int64_t checkin_id, json_t **out);
/* {total, limit, offset, items[]}; from / to RFC 3339 (NULL = open), area_id
 * 0 = every area; *out NULL when the enterprise is not in scope. */
db_status db_cleaning_checkins(db_conn *c, const db_scope *s, int64_t enterprise_id,
                               const char *from, const char *to, int64_t area_id, long limit,
                               long offset, json_t **out);

/* A check-in's photo, inside the caller's transaction.  On DB_OK with *found
 * 1, *data (malloc'd, the caller free()s it) holds *len bytes of type; *found
 * 0 when there is no such photo in scope. */
db_status db_cleaning_photo(db_conn *c, const db_scope *s, int64_t checkin_id, char type[32],
                            unsigned char **data, size_t *len, int *found);

/* Compliance over [from, to) for the scope, narrowed by enterprise_id (0 =
 * all) and f's region codes and enterprise classes (NULL = all; the rest of f
 * is not read). */
db_status db_cleaning_compliance(db_conn *c, const db_scope *s, time_t from, time_t to,
                                 int64_t enterprise_id, const db_list_filter *f, json_t **out);
/* Inside the caller's open transaction: the overview's totals over the 7
 * days before now (the answer's window_days) for the scope filter's kind and
 * id. */
db_status db_cleaning_overview(db_conn *c, const char *scope_kind, const char *scope_id, time_t now,
                               json_t **out);

/* Asks the worker to recompute the enterprise's risk (cleaning counts in S);
 * a request already queued stands. */
db_status db_cleaning_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason);

#endif
