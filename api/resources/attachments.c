/* Archive attachments (issue 17 item 8): an enterprise's safety assessment,
 * explosion-hazard zoning drawing, licences ... beside its archive.
 *
 * Scoped like the archive: whoever sees the enterprise lists and downloads
 * its attachments (street accounts included); city, district and the
 * enterprise itself upload and delete, each audited in its transaction.
 * The kind is data (attachment_kinds, GET /api/v1/attachment-kinds).  The
 * file arrives as base64 (or a data: URL) in JSON, like photos and filing
 * evidence; its type is what its first bytes say (PDF, JPEG, PNG), never
 * the name or the client's word, and it is at most ATTACHMENT_MAX bytes.
 * Stored in PostgreSQL like photos, but retention never prunes it. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_attachments.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ATTACHMENT_MAX (8 * 1024 * 1024)

int api_attachment_kinds(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_attachments_kinds(c, &s, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out ? out : json_array()));
}

int api_attachments_list(api_req *r)
{
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_attachments_list(c, &s, eid, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    return api_reply_json(r, 200, json_pack("{s:o}", "items", out));
}

/* The file's type by its first bytes; NULL for anything else. */
static const char *sniff(const unsigned char *b, size_t n)
{
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(b, png, 8) == 0)
        return "image/png";
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff)
        return "image/jpeg";
    if (n >= 5 && memcmp(b, "%PDF-", 5) == 0)
        return "application/pdf";
    return NULL;
}

/* A file name as given, without a path or control characters; 0 when fine. */
static int bad_filename(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
            return 1;
        if ((*p & 0xC0) != 0x80)
            chars++;
    }
    return chars < 1 || chars > 200 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

/* The base64 (or data: URL) file into *data; 0, or -1 after replying. */
static int decode_file(api_req *r, json_t *v, unsigned char **data, size_t *len, const char **type)
{
    if (!json_is_string(v))
        return api_reply_error(r, API_E_BAD_REQUEST, "data must be the file as a base64 string"),
               -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strncmp(s, "data:", 5) == 0) {
        const char *comma = strchr(s, ',');
        if (!comma || !strstr(s, ";base64"))
            return api_reply_error(r, API_E_ATTACHMENT_INVALID, "a data URL must be base64"), -1;
        n -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    if (n == 0)
        return api_reply_error(r, API_E_ATTACHMENT_INVALID, "the file is empty"), -1;
    if (n / 4 * 3 > ATTACHMENT_MAX + 3)
        return api_reply_error(r, API_E_ATTACHMENT_INVALID, "the file is larger than 8 MB"), -1;
    size_t cap = n / 4 * 3 + 3;
    unsigned char *buf = malloc(cap);
    if (!buf)
        return api_reply_error(r, API_E_INTERNAL, "out of memory"), -1;
    size_t m = 0;
    const char *end = NULL;
    if (sodium_base642bin(buf, cap, s, n, " \r\n", &m, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + n) {
        free(buf);
        return api_reply_error(r, API_E_ATTACHMENT_INVALID, "data is not valid base64"), -1;
    }
    if (m > ATTACHMENT_MAX) {
        free(buf);
        return api_reply_error(r, API_E_ATTACHMENT_INVALID, "the file is %zu bytes, at most %d", m,
                               ATTACHMENT_MAX),
               -1;
    }
    *type = sniff(buf, m);
    if (!*type) {
        free(buf);
        return api_reply_error(r, API_E_ATTACHMENT_INVALID,
                               "the file is not a PDF, JPEG or PNG (by its first bytes)"),
               -1;
    }
    *data = buf;
    *len = m;
    return 0;
}

typedef struct {
    db_attachment_new in;
    int64_t id;
    int delete_id_found;
    json_t *row;
    db_diag diag;
} att_ctx;

static db_status create_tx(api_req *r, db_conn *c, void *arg)
{
    att_ctx *x = arg;
    json_decref(x->row);
    x->row = NULL;
    db_scope s;
    api_db_scope(r, NULL, &s);
    x->id = 0;
    db_status st = db_attachments_create_tx(c, &s, &x->in, &x->id, &x->diag);
    if (st != DB_OK || !x->id)
        return st;
    st = db_attachments_get_tx(c, &s, x->id, &x->row);
    if (st != DB_OK || !x->row)
        return st == DB_OK ? DB_HARD : st;
    char obj[48];
    snprintf(obj, sizeof obj, "attachment:%lld", (long long)x->id);
    char *d = json_dumps(x->row, JSON_COMPACT);
    st = d ? api_audit_tx(r, c, "attachment_create", obj, "ok", d) : DB_HARD;
    free(d);
    return st;
}

int api_attachment_create(api_req *r)
{
    long long eid = api_parse_id(api_req_param(r, "id"));
    if (eid < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"kind", "filename", "data", "note"};
    if (api_json_strict(r, body, allowed, 4) != 0)
        return 0;
    const char *kind, *filename, *note;
    if (api_body_text(r, body, "kind", 1, 40, &kind) ||
        api_body_text(r, body, "filename", 1, 200, &filename) ||
        api_body_text(r, body, "note", 0, 500, &note))
        return 0;
    if (bad_filename(filename))
        return api_reply_error(r, API_E_ATTACHMENT_INVALID,
                               "filename is a name without a path or control characters");
    json_t *data = json_object_get(body, "data");
    if (!data)
        return api_reply_error(r, API_E_BAD_REQUEST, "data is required");
    att_ctx x = {.in = {.enterprise_id = eid,
                        .kind = kind,
                        .filename = filename,
                        .note = note,
                        .uploaded_by = api_req_caller(r)->username}};
    unsigned char *file = NULL, digest[crypto_hash_sha256_BYTES];
    if (decode_file(r, data, &file, &x.in.len, &x.in.content_type) != 0)
        return 0;
    crypto_hash_sha256(digest, file, x.in.len);
    x.in.data = file;
    x.in.sha256 = digest;
    db_status st = api_tx(r, create_tx, &x);
    free(file);
    char obj[48];
    snprintf(obj, sizeof obj, "enterprise:%lld", eid);
    int rc;
    if (st == DB_BAD) {
        api_audit(r, "attachment_create", obj, "failed", x.diag.message);
        rc = api_reply_error(r, API_E_ATTACHMENT_INVALID, "kind \"%s\" is not in the catalogue",
                             kind);
    } else if (st != DB_OK) {
        rc = api_reply_db(r, st);
    } else if (!x.id) {
        api_audit(r, "attachment_create", obj, "denied", "enterprise not in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    } else {
        rc = api_reply_json(r, 201, json_incref(x.row));
    }
    json_decref(x.row);
    return rc;
}

static db_status delete_tx(api_req *r, db_conn *c, void *arg)
{
    att_ctx *x = arg;
    json_decref(x->row);
    x->row = NULL;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_status st = db_attachments_get_tx(c, &s, x->id, &x->row);
    if (st != DB_OK || !x->row)
        return st;
    int deleted = 0;
    st = db_attachments_delete_tx(c, &s, x->id, &deleted);
    if (st != DB_OK)
        return st;
    if (!deleted) {
        json_decref(x->row);
        x->row = NULL;
        return DB_OK;
    }
    char obj[48];
    snprintf(obj, sizeof obj, "attachment:%lld", (long long)x->id);
    char *d = json_dumps(x->row, JSON_COMPACT);
    st = d ? api_audit_tx(r, c, "attachment_delete", obj, "ok", d) : DB_HARD;
    free(d);
    return st;
}

int api_attachment_delete(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such attachment");
    att_ctx x = {.id = id};
    db_status st = api_tx(r, delete_tx, &x);
    char obj[48];
    snprintf(obj, sizeof obj, "attachment:%lld", id);
    int rc;
    if (st != DB_OK) {
        rc = api_reply_db(r, st);
    } else if (!x.row) {
        api_audit(r, "attachment_delete", obj, "denied", "not found in scope");
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such attachment");
    } else {
        rc = api_reply_json(r, 200, json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1));
    }
    json_decref(x.row);
    return rc;
}

/* Content-Disposition for a stored name: an ASCII fallback (other bytes,
 * quotes and backslashes as '_') and the UTF-8 name percent-encoded (RFC 6266
 * / 8187), so a Chinese file name arrives as it was uploaded. */
static void disposition(const char *name, char *out, size_t len)
{
    char ascii[256], enc[800];
    size_t a = 0, e = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && a + 1 < sizeof ascii; p++)
        ascii[a++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? (char)*p : '_';
    ascii[a] = '\0';
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)name; *p && e + 4 < sizeof enc; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            strchr("!#$&+-.^_`|~", *p)) {
            enc[e++] = (char)*p;
        } else {
            enc[e++] = '%';
            enc[e++] = hex[*p >> 4];
            enc[e++] = hex[*p & 15];
        }
    }
    enc[e] = '\0';
    snprintf(out, len, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
}

int api_attachment_get(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such attachment");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    char type[32] = "", name[256] = "";
    unsigned char *data = NULL;
    size_t len = 0;
    db_status st = c ? db_attachments_file(c, &s, id, type, name, &data, &len) : DB_HARD;
    int rc;
    if (st != DB_OK) {
        rc = api_reply_db(r, st);
    } else if (!data) {
        rc = api_reply_error(r, API_E_NOT_FOUND, "no such attachment");
    } else {
        char disp[1100];
        disposition(name, disp, sizeof disp);
        api_reply_add_header(r, "Content-Disposition", disp);
        api_reply_add_header(r, "Cache-Control", "private, no-store");
        rc = api_reply_raw(r, 200, type, (const char *)data, len);
    }
    free(data);
    return rc;
}

void api_attachments_init(void)
{
    db_attachments_register();
}
