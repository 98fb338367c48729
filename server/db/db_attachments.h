/* Archive attachments: an enterprise's safety assessment, zoning drawing,
 * licences ... (PDF, JPEG, PNG; migration 0123).  Kinds are rows of
 * attachment_kinds.  Never pruned by retention. */
#ifndef DW_DB_ATTACHMENTS_H
#define DW_DB_ATTACHMENTS_H

#include "db.h"

#include <stddef.h>
#include <stdint.h>

void db_attachments_register(void);

/* The kinds, as a JSON array of {code, label_zh, label_en} in their order. */
db_status db_attachments_kinds(db_conn *c, const db_scope *s, json_t **out);

/* The enterprise's attachments (no data) as a JSON array, or *out NULL when
 * the enterprise is not in scope.  A scoped read. */
db_status db_attachments_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out);

typedef struct {
    int64_t enterprise_id;
    const char *kind, *filename, *content_type, *note, *uploaded_by;
    const unsigned char *data;
    size_t len;
    const unsigned char *sha256; /* 32 bytes */
} db_attachment_new;

/* Inside the caller's transaction.  *id 0: the enterprise is not in scope.
 * DB_BAD with *diag for an unknown kind (enterprise_attachments_kind_fkey). */
db_status db_attachments_create_tx(db_conn *c, const db_scope *s, const db_attachment_new *in,
                                   int64_t *id, db_diag *diag);
/* One attachment's metadata as JSON (*out NULL when not in scope), in a transaction. */
db_status db_attachments_get_tx(db_conn *c, const db_scope *s, int64_t id, json_t **out);
/* Deletes it; *deleted 0 when not in scope. */
db_status db_attachments_delete_tx(db_conn *c, const db_scope *s, int64_t id, int *deleted);

/* The file: content type, name and bytes (malloc'd, the caller frees);
 * *data NULL when not in scope.  A scoped read. */
db_status db_attachments_file(db_conn *c, const db_scope *s, int64_t id, char type[32],
                              char name[256], unsigned char **data, size_t *len);

#endif
