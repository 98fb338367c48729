/* Risk model versions stored in the database (migration 0050): the one in force for the
 * worker's hot reload, the list and the model in force for the API, and storing and
 * activating a version.  The model JSON is validated by the caller (srv_riskmodel_parse)
 * before it is stored; here it is text in and out.
 *
 * Strings are borrowed; returned json_t * are new references; malloc'd text is the
 * caller's to free(). */
#ifndef DW_DB_RISKMODEL_H
#define DW_DB_RISKMODEL_H

#include "db.h"

#include <stdint.h>

/* Before the first connection (the worker's and the API's init). */
void db_riskmodel_register(void);

/* The active version and its JSON (*model malloc'd), outside a transaction on the worker's
 * connection.  *found 0 (and *model NULL) when no version is active. */
db_status db_riskmodel_active(db_conn *c, char version[64], char **model, int *found);

/* Under scope s: {"active": {version, model, created_by, created_at, activated_at} | null,
 * "versions": [{id, version, created_by, created_at, active, activated_at}, ...]} newest
 * first. */
db_status db_riskmodel_read(db_conn *c, const db_scope *s, json_t **out);

/* In the caller's transaction (city or system scope): stores version with its JSON unless
 * it exists; *id its row.  *clash 1 (nothing written) when the version exists with another
 * model.  With activate, it becomes the only active version. */
db_status db_riskmodel_store(db_conn *c, const char *version, const char *model_json,
                             const char *actor, int activate, int64_t *id, int *clash);

#endif
