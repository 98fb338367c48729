/* Enterprises as the API reads and writes them: the filtered list, the
 * archive of one (一企一档), create and update of the archive's fields, and
 * the district's survey table (export rows, import look-ups).
 *
 * Reads run under a db_scope in one round trip; the *_tx functions run
 * inside the caller's open transaction (api_tx) and filter by the scope's
 * kind and id themselves.  Strings and json_t * parameters are borrowed;
 * returned json_t * are new references the caller json_decref()s. */
#ifndef DW_DB_ENTERPRISES_H
#define DW_DB_ENTERPRISES_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

/* Before the first connection (api_enterprises_init). */
void db_enterprises_register(void);

/* The list's filters; NULL matches everything.  q is part of the name, or
 * the whole enterprise code or credit code. */
typedef struct db_enterprises_filter {
    const char *district_code, *street_code, *status, *q, *dust_kind;
    long limit, offset;
    /* industry code, current risk grade ("none": not scored); connection status: the export
     * only */
    const char *industry_code, *connection_status, *grade;
} db_enterprises_filter;
/* {total, limit, offset, items[]} ordered by name. */
db_status db_enterprises_list(db_conn *c, const db_scope *s, const db_enterprises_filter *f,
                              json_t **out);
/* {enterprise, systems[], points_total, points_online}; *out NULL when the
 * enterprise is not in scope. */
db_status db_enterprises_get(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);

/* The district a new enterprise goes to: the one named by code (NULL: the
 * scope's own district), if the scope may create there.  *district_id 0
 * when it may not (or there is no such district). */
db_status db_enterprises_district_for_create_tx(db_conn *c, const db_scope *s,
                                                const char *district_code, int64_t *district_id);
/* The street of that code in the district; *street_id 0 when there is none. */
db_status db_enterprises_street_in_district_tx(db_conn *c, const char *street_code,
                                               int64_t district_id, int64_t *street_id);
/* The enterprise in scope with this credit code; *enterprise_id 0 if none. */
db_status db_enterprises_by_uscc_tx(db_conn *c, const db_scope *s, const char *uscc,
                                    int64_t *enterprise_id);

/* The enterprise in scope other than except_id (0: none) whose column
 * ("code" or "uscc"; any other: none) equals value; *enterprise_id 0 if
 * none.  Rows outside the scope are never found: a value they hold must be
 * refused without saying so (db_enterprises_refused_column). */
db_status db_enterprises_holder_in_scope_tx(db_conn *c, const db_scope *s, const char *column,
                                            const char *value, int64_t except_id,
                                            int64_t *enterprise_id);

/* One archive field to write: column is one of code, uscc, name, address,
 * longitude, latitude, industry_code, status, connection_status,
 * principal_name, principal_phone, safety_manager_name,
 * safety_manager_phone, dust_kinds, dust_workers, zone20_count,
 * zone21_count, zone22_count, building_storeys, building_frame,
 * gathering_rooms, explosibility (any other is our bug: DB_HARD, logged);
 * value is the checked JSON: a string, a number, an array of strings
 * (dust_kinds), an object (explosibility), or null for SQL NULL. */
typedef struct db_enterprises_field {
    const char *column;
    json_t *value;
} db_enterprises_field;

/* Inserts an enterprise (street_id 0: none).  On DB_OK *enterprise_id is
 * the new id; DB_BAD when the table's rules refused the values (a taken
 * code or credit code, a broken check: diag says which, for the log and
 * db_enterprises_refused_column).  diag is zeroed first. */
db_status db_enterprises_create_tx(db_conn *c, const db_enterprises_field *fields, size_t n,
                                   int64_t district_id, int64_t street_id, int64_t *enterprise_id,
                                   db_diag *diag);

/* The archive column a refused create or update was about (from the
 * constraint's name: "code", "uscc", ...), or "" when it names none.  Only
 * this may reach a client: PostgreSQL's message quotes constraint names and
 * other rows' values, and a uniqueness violation may be about a row outside
 * the caller's scope. */
const char *db_enterprises_refused_column(const db_diag *diag);

/* An update's outcome: found 0 when the enterprise is not in scope;
 * street_ok 0 when a street was set that is not in its district (the caller
 * rolls back: the statement has already cleared the street). */
typedef struct db_enterprises_updated {
    int found;
    int street_ok;
} db_enterprises_updated;
/* Sets the fields (n may be 0) and updated_at of an enterprise in scope; when
 * set_street, also its street by code in its own district (street_code NULL
 * clears it). */
db_status db_enterprises_update_tx(db_conn *c, const db_scope *s, int64_t enterprise_id,
                                   const db_enterprises_field *fields, size_t n, int set_street,
                                   const char *street_code, db_enterprises_updated *out,
                                   db_diag *diag);

/* The survey table's rows in scope, ordered by district, street and name:
 * fn gets the DB_ENTERPRISES_EXPORT_COLUMNS cells of each row as text ("" for none):
 * uscc, code, name, district, street, address, longitude, latitude,
 * industry_code, status, principal name and phone, safety manager name and
 * phone, dust kinds ("a|b"), dust workers, zone 20/21/22 counts, building
 * storeys, building frame, gathering rooms, street code, district code, and
 * the dust systems' (附件4): collection (干式/湿式 and collector), explosion
 * protection (泄爆|隔爆|抑爆|惰化), air-lock and spark detection (是/部分/否),
 * cleaning frequencies.  Only the rows the filter f selects (the list's
 * filters; limit and offset unused).  The cells are valid during the call only. */
#define DB_ENTERPRISES_EXPORT_COLUMNS 29
typedef void (*db_enterprises_export_fn)(void *arg, const char *const *cells);
struct db_enterprises_filter;
db_status db_enterprises_export_tx(db_conn *c, const db_scope *s,
                                   const struct db_enterprises_filter *f,
                                   db_enterprises_export_fn fn, void *arg);

/* An import writes each row under a savepoint, so that one refused row can
 * be reported and the others still checked in the same transaction. */
db_status db_enterprises_import_row_begin_tx(db_conn *c);
db_status db_enterprises_import_row_keep_tx(db_conn *c);
db_status db_enterprises_import_row_undo_tx(db_conn *c);

#endif
