/* Bulk import and export of an enterprise's monitoring assets — dust-removal
 * systems, monitoring points and cameras — as tables (api/resources/bulk.c).
 *
 * Export: one scoped read per kind answering every row of the scope (or of
 * one enterprise) as an array of arrays in the column order of
 * DB_BULK_*_COLUMNS.  Import runs row by row inside the caller's one
 * transaction (api_tx): look the natural keys up (enterprise code, system,
 * point and camera codes), then create (db_assets_create_tx) or update
 * (db_bulk_update_tx) each row between db_bulk_row_begin_tx and
 * db_bulk_row_keep_tx / db_bulk_row_undo_tx, so a refused row is reported
 * and the others are still checked; the caller rolls the whole back when
 * any row was refused.  Strings are borrowed; json_t * out are new
 * references. */
#ifndef DW_DB_BULK_H
#define DW_DB_BULK_H

#include "db.h"

#include <stdint.h>

typedef enum {
    DB_BULK_SYSTEMS,
    DB_BULK_POINTS,
    DB_BULK_CAMERAS,
} db_bulk_kind;

/* cells per exported row, in the order the API's column tables list them */
#define DB_BULK_SYSTEMS_COLUMNS 16
#define DB_BULK_POINTS_COLUMNS  19
#define DB_BULK_CAMERAS_COLUMNS 7

/* Before the first connection (api_bulk_init). */
void db_bulk_register(void);

/* Every row of kind k in scope, of one enterprise when enterprise_id > 0:
 * *rows an array of arrays (strings, numbers, booleans, nulls), ordered by
 * enterprise code and code. */
db_status db_bulk_export(db_conn *c, const db_scope *s, db_bulk_kind k, int64_t enterprise_id,
                         json_t **rows);

/* ---- import, inside the caller's transaction ---------------------------- */

/* The enterprise of code in scope: *id 0 when none (missing or outside). */
db_status db_bulk_enterprise_tx(db_conn *c, const db_scope *s, const char *code, int64_t *id);
/* The enterprise's system (DB_BULK_SYSTEMS) or camera (DB_BULK_CAMERAS) of
 * code: *id 0 when none. */
db_status db_bulk_find_tx(db_conn *c, const db_scope *s, db_bulk_kind k, int64_t enterprise_id,
                          const char *code, int64_t *id);

/* A point of the city by its code, as far as the scope sees it (id 0: none
 * visible; point codes are unique in the whole city). */
typedef struct db_bulk_point {
    int64_t id, enterprise_id, system_id; /* system_id 0: none */
    char kind[48];
} db_bulk_point;
db_status db_bulk_point_tx(db_conn *c, const db_scope *s, const char *code, db_bulk_point *out);

/* Lays body (a JSON object keyed by column) over the row id.  *before: the
 * row as it was (row_to_json, for the audit trail), or NULL when every value
 * was already stored and nothing was written.  diag is zeroed and filled
 * when a constraint refused the values (DB_BAD). */
db_status db_bulk_update_tx(db_conn *c, const db_scope *s, db_bulk_kind k, int64_t id,
                            const char *body, json_t **before, db_diag *diag);

/* One row's savepoint: begin, then keep (release) or undo (roll back to). */
db_status db_bulk_row_begin_tx(db_conn *c);
db_status db_bulk_row_keep_tx(db_conn *c);
db_status db_bulk_row_undo_tx(db_conn *c);

#endif
