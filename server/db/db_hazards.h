/* db_hazards — hazards (隐患, migration 0061): the API's reads, reports, transitions,
 * derived proposals and the per-street ageing.  The risk engine's inputs follow the open
 * hazards through the migration's trigger, not through this file.
 *
 * Every function takes the caller's db_scope ($1/$2 of each statement, besides
 * row-level security).  JSON out-parameters are new references (NULL: no row). */
#ifndef DW_DB_HAZARDS_H
#define DW_DB_HAZARDS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

void db_hazards_register(void);

typedef struct db_hazards_filter {
    db_list_filter list; /* district, street, enterprise, overdue, open, from/to (found_at) */
    const char *statuses, *kinds, *how;
} db_hazards_filter;
db_status db_hazards_list(db_conn *c, const db_scope *s, const db_hazards_filter *f, json_t **out);
/* One hazard with its events. */
db_status db_hazards_get(db_conn *c, const db_scope *s, int64_t hazard_id, json_t **out);

typedef struct db_hazard_new {
    int64_t enterprise_id;
    const char *kind; /* major / ordinary */
    int major_item;   /* 1..10 for major */
    const char *title, *description, *found_by, *found_at, *found_how, *deadline;
    int64_t warning_id; /* 0: none */
    const unsigned char *photo;
    size_t photo_len;
    const char *photo_type;
    int64_t actor_id;
    const char *actor;
} db_hazard_new;
/* A reported hazard with its 'report' event; *id 0 when the enterprise (or the warning)
 * is not in scope. */
db_status db_hazards_create(db_conn *c, const db_scope *s, const db_hazard_new *in, int64_t *id);

typedef struct db_hazard_row {
    char status[16];
    int64_t enterprise_id, district_id, street_id;
} db_hazard_row;
db_status db_hazards_lock(db_conn *c, const db_scope *s, int64_t hazard_id, db_hazard_row *out,
                          int *found);
/* Moves a locked hazard by action (confirm, dismiss, plan, rectify, verify, reject) from
 * `from` to `to`, stamping the action's columns with note, and its event.  DB_BAD when the
 * row was not in `from`. */
db_status db_hazards_move(db_conn *c, const db_scope *s, int64_t hazard_id, const char *from,
                          const char *to, const char *action, int64_t actor_id, const char *actor,
                          const char *note);
/* The photo: *data malloc()ed, NULL when none. */
db_status db_hazards_photo(db_conn *c, const db_scope *s, int64_t hazard_id, char type[32],
                           unsigned char **data, size_t *len);
/* Proposals from the archive and the asset registry for the enterprises in scope (or only
 * enterprise_id), one per enterprise and rule while the previous one is live; *n made. */
db_status db_hazards_derive(db_conn *c, const db_scope *s, int64_t enterprise_id, int64_t *n);
/* Open hazards per street (major / ordinary / overdue / age buckets / oldest). */
db_status db_hazards_ageing(db_conn *c, const db_scope *s, json_t **out);

#endif
