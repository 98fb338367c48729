/* An enterprise's monitoring assets as the API writes them: dust-removal
 * systems, cameras and gateways (list, get, create, change, delete) and
 * monitoring points (get, create, delete; the rest is db_points.h).
 *
 * Bodies arrive as one jsonb text that the statements unpack with
 * jsonb_populate_record(NULL::<table>, ...): the caller checks the fields,
 * the tables' CHECK constraints keep the remaining rules (DB_BAD with the
 * constraint in db_diag).  Reads run under a db_scope in one round trip;
 * the *_tx functions run inside the caller's open transaction (api_tx) and
 * filter by the scope's kind and id themselves.  Strings are borrowed;
 * returned json_t * are new references the caller json_decref()s. */
#ifndef DW_DB_ASSETS_H
#define DW_DB_ASSETS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DB_ASSET_SYSTEM,
    DB_ASSET_POINT, /* no list and no update here: db_points.h */
    DB_ASSET_CAMERA,
    DB_ASSET_GATEWAY,
} db_assets_kind;

/* Before the first connection (api_assets_init). */
void db_assets_register(void);

/* {"items": [...]} of the enterprise; *out NULL when it is not in scope. */
db_status db_assets_list(db_conn *c, const db_scope *s, db_assets_kind k, int64_t enterprise_id,
                         json_t **out);
/* One asset; *out NULL when it is not in scope.  Points answer their whole
 * row (row_to_json), the others the API's shape. */
db_status db_assets_get(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id, json_t **out);
/* The same inside the caller's transaction. */
db_status db_assets_get_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                           json_t **out);

/* What a write touched; found 0 when the enterprise (create) or the asset
 * was not in scope. */
typedef struct db_assets_written {
    int found;
    int64_t id, enterprise_id;
} db_assets_written;

/* body: the checked fields as a JSON object text, keyed by column.  diag is
 * always zeroed first and filled when the statement failed. */
db_status db_assets_create_tx(db_conn *c, const db_scope *s, db_assets_kind k,
                              int64_t enterprise_id, const char *body, db_assets_written *out,
                              db_diag *diag);
/* Fields the body names are laid over the row (null clears); points: DB_HARD. */
db_status db_assets_update_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                              const char *body, db_assets_written *out, db_diag *diag);
/* Locks the asset for the delete that follows.  *found 0 when it is not in
 * scope; otherwise why is "" when nothing refers to it, or what refers to it
 * and what to do instead (the delete must not run). */
db_status db_assets_delete_check_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                                    int *found, char *why, size_t whylen);
db_status db_assets_delete_tx(db_conn *c, const db_scope *s, db_assets_kind k, int64_t id,
                              db_assets_written *out, db_diag *diag);

/* Asks the worker to score the enterprise again (once per pending request);
 * reason is the kind of change, e.g. "dust_system". */
db_status db_assets_request_recompute_tx(db_conn *c, int64_t enterprise_id, const char *reason);

/* The snapshot image of a video alarm (its video_alarms row), *data malloc'ed (the caller
 * frees it); *found 0 when the alarm is not in scope or has no image. */
db_status db_assets_snapshot(db_conn *c, const db_scope *s, int64_t alarm_id, unsigned char **data,
                             size_t *len, int *found);

#endif
