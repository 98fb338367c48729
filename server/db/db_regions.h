/* Regions: the city -> district -> street/town/park tree, and its
 * administration (streets, towns and parks: level 'street'). */
#ifndef DW_DB_REGIONS_H
#define DW_DB_REGIONS_H

#include "db.h"

void db_regions_register(void);

/* The regions scope s reaches, each with the number of its enterprises in
 * scope, as a JSON array (city, districts, then the rest by code).  A scoped
 * read (one round trip); *out is a new reference, NULL only if PostgreSQL
 * answered no row. */
db_status db_regions_tree(db_conn *c, const db_scope *s, json_t **out);

/* What a create or an update writes: NULL strings, parent 0 and disabled -1
 * leave a field as it is (create needs code, name, kind and parent). */
typedef struct {
    const char *code, *name, *kind;
    int64_t parent_id;
    int disabled; /* -1 unchanged, 0 enable, 1 disable */
} db_region_write;

/* The following run inside the caller's transaction under scope s (a city or
 * district administrator): they see and write only the street-level regions s
 * manages (the city's all, a district's own). */

/* One managed region as JSON (*out NULL when s does not manage it). */
db_status db_regions_get_tx(db_conn *c, const db_scope *s, int64_t id, json_t **out);
/* *id 0: the parent is no district s may place a street under.  DB_BAD with
 * *diag on a taken code (regions_code_key) or a broken check. */
db_status db_regions_create_tx(db_conn *c, const db_scope *s, const db_region_write *w, int64_t *id,
                               db_diag *diag);
/* *updated 0: not managed by s, or the new parent is not allowed;
 * *old_parent is the parent before the change. */
db_status db_regions_update_tx(db_conn *c, const db_scope *s, int64_t id, const db_region_write *w,
                               int *updated, int64_t *old_parent, db_diag *diag);
/* After a street moved to another district: its enterprises follow. */
db_status db_regions_move_enterprises_tx(db_conn *c, int64_t street_id, int64_t district_id,
                                         long *moved);
/* Deletes a disabled managed region; DB_BAD (23503) while anything refers to it. */
db_status db_regions_delete_tx(db_conn *c, const db_scope *s, int64_t id, int *deleted,
                               db_diag *diag);

#endif
