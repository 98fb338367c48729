#include "db_attachments.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATT_JSON(a)                                                                                \
    "json_build_object('id', " a ".id, 'enterprise_id', " a ".enterprise_id, 'kind', " a           \
    ".kind, 'filename', " a ".filename, 'content_type', " a ".content_type, 'bytes', " a           \
    ".bytes, 'sha256', encode(" a ".sha256, 'hex'), 'note', " a ".note, 'uploaded_by', " a         \
    ".uploaded_by, 'created_at', " a ".created_at, 'href', '/api/v1/attachments/' || " a ".id)"

static const db_stmt statements[] = {
    {"att_kinds", "SELECT coalesce(json_agg(json_build_object('code', code, 'label_zh', label_zh, "
                  "'label_en', label_en) ORDER BY sort, code), '[]'::json)::text FROM "
                  "attachment_kinds"},
    /* NULL when the enterprise is not in scope, [] when it has none */
    {"att_list", "SELECT (SELECT coalesce(json_agg(" ATT_JSON(
                     "a") " ORDER BY k.sort, a.kind, a.id DESC), "
                          "'[]'::json) FROM enterprise_attachments a JOIN attachment_kinds k ON "
                          "k.code = a.kind WHERE "
                          "a.enterprise_id = e.id)::text FROM enterprises e WHERE e.id = "
                          "$3::bigint AND " SCOPE_ENT("e")},
    /* $3 enterprise $4 kind $5 filename $6 type $7 bytes $8 sha256 $9 data $10 note $11 by */
    {"att_create",
     "INSERT INTO enterprise_attachments (enterprise_id, kind, filename, content_type, bytes, "
     "sha256, data, note, uploaded_by) SELECT e.id, $4, $5, $6, $7::integer, $8::bytea, "
     "$9::bytea, $10, $11 FROM enterprises e WHERE e.id = $3::bigint AND " SCOPE_ENT(
         "e") " RETURNING id"},
    {"att_get", "SELECT " ATT_JSON(
                    "a") "::text FROM enterprise_attachments a JOIN enterprises e "
                         "ON e.id = a.enterprise_id WHERE a.id = $3::bigint AND " SCOPE_ENT("e")},
    {"att_delete", "DELETE FROM enterprise_attachments a USING enterprises e WHERE e.id = "
                   "a.enterprise_id AND a.id = $3::bigint AND " SCOPE_ENT("e") " RETURNING a.id"},
    {"att_file",
     "SELECT a.content_type, a.filename, a.data FROM enterprise_attachments a JOIN "
     "enterprises e ON e.id = a.enterprise_id WHERE a.id = $3::bigint AND " SCOPE_ENT("e")},
};

void db_attachments_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_attachments_kinds(db_conn *c, const db_scope *s, json_t **out)
{
    return db_read_json(c, s, "att_kinds", 0, NULL, out);
}

db_status db_attachments_list(db_conn *c, const db_scope *s, int64_t enterprise_id, json_t **out)
{
    char eid[24];
    const char *p[3] = {s->kind, s->id, db_i64(eid, enterprise_id)};
    return db_read_json(c, s, "att_list", 3, p, out);
}

db_status db_attachments_create_tx(db_conn *c, const db_scope *s, const db_attachment_new *in,
                                   int64_t *id, db_diag *diag)
{
    char eid[24], bytes[24];
    const char *p[11] = {s->kind,
                         s->id,
                         db_i64(eid, in->enterprise_id),
                         in->kind,
                         in->filename,
                         in->content_type,
                         db_i64(bytes, (long long)in->len),
                         (const char *)in->sha256,
                         (const char *)in->data,
                         in->note,
                         in->uploaded_by};
    /* the file and its digest go binary: no hex or base64 round trip */
    int lengths[11] = {0, 0, 0, 0, 0, 0, 0, 32, (int)in->len, 0, 0};
    int formats[11] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0};
    memset(diag, 0, sizeof *diag);
    db_status st;
    PGresult *res = db_exec_bin(c, "att_create", 11, p, lengths, formats, &st);
    if (!res) {
        if (st == DB_BAD)
            snprintf(diag->message, sizeof diag->message, "the kind is not in the catalogue");
        return st;
    }
    *id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_attachments_get_tx(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char aid[24];
    const char *p[3] = {s->kind, s->id, db_i64(aid, id)};
    return db_exec_json(c, "att_get", 3, p, out);
}

db_status db_attachments_delete_tx(db_conn *c, const db_scope *s, int64_t id, int *deleted)
{
    char aid[24];
    const char *p[3] = {s->kind, s->id, db_i64(aid, id)};
    db_status st;
    PGresult *res = db_exec(c, "att_delete", 3, p, &st);
    if (!res)
        return st;
    *deleted = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

db_status db_attachments_file(db_conn *c, const db_scope *s, int64_t id, char type[32],
                              char name[256], unsigned char **data, size_t *len)
{
    char aid[24];
    const char *p[3] = {s->kind, s->id, db_i64(aid, id)};
    PGresult *res = NULL;
    db_status st = db_read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, "att_file", 3, p, &res);
    if (st != DB_OK)
        return st;
    *data = NULL;
    *len = 0;
    if (PQntuples(res) == 1) {
        snprintf(type, 32, "%s", PQgetvalue(res, 0, 0));
        snprintf(name, 256, "%s", PQgetvalue(res, 0, 1));
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 2), &n);
        unsigned char *copy = raw ? malloc(n ? n : 1) : NULL;
        if (copy) {
            memcpy(copy, raw, n);
            *data = copy;
            *len = n;
        } else {
            st = DB_HARD;
        }
        if (raw)
            PQfreemem(raw);
    }
    PQclear(res);
    return st;
}
