/* Bulk import and export of an enterprise's monitoring assets: dust-removal
 * systems, monitoring points and cameras, one table per kind (issue 17 item 8).
 *
 *   GET  /api/v1/bulk/{systems|points|cameras}/export   ?format=csv|xlsx
 *        &enterprise=<id> (one enterprise; default: the caller's whole scope)
 *        &template=1 (the header alone: the file to fill in)
 *   POST /api/v1/bulk/{systems|points|cameras}/import   CSV (UTF-8, BOM
 *        optional) or an XLSX workbook (its first sheet; srv_sheet.c)
 *        &enterprise=<id> (every row must name that enterprise)
 *
 * The import follows the survey table's (enterprises.c): the whole file is
 * checked — every cell here, then every row against the database in one
 * transaction — and either every row is stored or none is: one refused row
 * answers 422 import_refused with every refused row (row, line, column,
 * field, code, message) and nothing is written.  Rows are keyed by their
 * natural keys (enterprise code + system code, point code, enterprise code
 * + camera code): an existing row is updated, a new one created, and a row
 * equal to what is stored is counted unchanged and not written, so importing
 * an export changes nothing.  Who may import is who may write the objects
 * one by one (routes.c): systems and points city and district (they feed the
 * enterprise's risk score), cameras also the enterprise itself; the scope of
 * the caller bounds which enterprise codes resolve.
 *
 * Cells: a blank cell of a column that may be empty stores NULL; a blank
 * cell of any other column stores the column's default; a column missing
 * from the header keeps the stored value (new rows: the default).  Text the
 * export prefixed with an apostrophe (formula neutralising) is read back
 * without it.  In a workbook a refused row's "line" is the sheet's row
 * number, as the spreadsheet program shows it.  A workbook holds numbers to
 * 16 significant digits (libxlsxwriter writes %.16G, Excel shows 15), so a
 * stored value with 17 comes back from an exported workbook as an update to
 * its 16-digit form; CSV carries every digit. */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_assets.h"
#include "db_bulk.h"
#include "srv_sheet.h"
#include "srv_table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS  5000
#define MAX_CELLS 64

/* ---- the tables --------------------------------------------------------- */

enum { T_ENT, T_CODE, T_TEXT, T_BOOL, T_INT, T_NUM, T_ENUM, T_SYS };
enum {
    C_REQ = 1,    /* never blank */
    C_NULL = 2,   /* blank stores NULL */
    C_STRICT = 4, /* code of [0-9A-Za-z_-] */
};

typedef struct column {
    const char *head; /* the header as exported */
    const char *key;  /* the column's name: also read as a header */
    int type;
    unsigned flags;
    long long min, max; /* T_TEXT, T_CODE: characters; T_INT: value */
    const char *values; /* T_ENUM: "a|b" */
    const char *def;    /* JSON of what a blank cell of a not-null column stores */
} column;

#define I32 2147483647LL

static const column system_cols[] = {
    {"企业编码", "enterprise_code", T_ENT, C_REQ, 1, 18, NULL, NULL},
    {"系统编码", "code", T_CODE, C_REQ | C_STRICT, 1, 32, NULL, NULL},
    {"系统名称", "name", T_TEXT, C_REQ, 1, 100, NULL, NULL},
    {"车间", "workshop", T_TEXT, 0, 0, 100, NULL, "\"\""},
    {"除尘器类型", "collector_type", T_ENUM, 0, 0, 0,
     "bag|cartridge|cyclone|settling|wet_scrubber|water_curtain|other", "\"bag\""},
    {"湿式除尘", "wet", T_BOOL, 0, 0, 0, NULL, "false"},
    {"集中式", "central", T_BOOL, 0, 0, 0, NULL, "true"},
    {"风量(m3/h)", "airflow_m3h", T_INT, C_NULL, 1, I32, NULL, NULL},
    {"正压", "positive_pressure", T_BOOL, 0, 0, 0, NULL, "false"},
    {"室内", "indoor", T_BOOL, 0, 0, 0, NULL, "false"},
    {"泄爆", "has_venting", T_BOOL, 0, 0, 0, NULL, "false"},
    {"隔爆", "has_isolation", T_BOOL, 0, 0, 0, NULL, "false"},
    {"抑爆", "has_suppression", T_BOOL, 0, 0, 0, NULL, "false"},
    {"惰化", "has_inerting", T_BOOL, 0, 0, 0, NULL, "false"},
    {"锁气卸灰", "has_airlock", T_BOOL, 0, 0, 0, NULL, "false"},
    {"火花探测", "has_spark_detection", T_BOOL, 0, 0, 0, NULL, "false"},
};

static const column point_cols[] = {
    {"企业编码", "enterprise_code", T_ENT, C_REQ, 1, 18, NULL, NULL},
    {"测点编码", "code", T_CODE, C_REQ | C_STRICT, 4, 40, NULL, NULL},
    {"指标", "kind", T_TEXT, C_REQ, 1, 41, NULL, NULL},
    {"除尘系统编码", "system_code", T_SYS, C_NULL, 1, 32, NULL, NULL},
    {"名称", "name", T_TEXT, 0, 0, 100, NULL, "\"\""},
    {"单位", "unit", T_TEXT, 0, 0, 20, NULL, "\"\""},
    {"量程下限", "range_min", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"量程上限", "range_max", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"参数类别", "param_class", T_ENUM, 0, 0, 0, "mandatory|conditional|optional", "\"mandatory\""},
    {"高报", "limit_high", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"高高报", "limit_high_high", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"低报", "limit_low", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"低低报", "limit_low_low", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"死区", "deadband", T_NUM, 0, 0, 0, NULL, "0"},
    {"最短持续(s)", "min_duration_s", T_INT, 0, 0, I32, NULL, "0"},
    {"变化率限值", "rate_limit", T_NUM, C_NULL, 0, 0, NULL, NULL},
    {"变化率窗口(s)", "rate_window_s", T_INT, 0, 1, I32, NULL, "600"},
    {"上报间隔(s)", "expected_interval_s", T_INT, 0, 1, 86400, NULL, "60"},
    {"启用", "enabled", T_BOOL, 0, 0, 0, NULL, "true"},
};

static const column camera_cols[] = {
    {"企业编码", "enterprise_code", T_ENT, C_REQ, 1, 18, NULL, NULL},
    {"摄像头编码", "code", T_CODE, C_REQ, 1, 64, NULL, NULL},
    {"名称", "name", T_TEXT, C_REQ, 1, 100, NULL, NULL},
    {"除尘系统编码", "system_code", T_SYS, C_NULL, 1, 32, NULL, NULL},
    {"安装位置", "location", T_TEXT, 0, 0, 200, NULL, "\"\""},
    {"视频地址", "stream_url", T_TEXT, C_NULL, 1, 500, NULL, NULL},
    {"启用", "enabled", T_BOOL, 0, 0, 0, NULL, "true"},
};

_Static_assert(sizeof system_cols / sizeof system_cols[0] == DB_BULK_SYSTEMS_COLUMNS,
               "the systems' export and the table agree");
_Static_assert(sizeof point_cols / sizeof point_cols[0] == DB_BULK_POINTS_COLUMNS,
               "the points' export and the table agree");
_Static_assert(sizeof camera_cols / sizeof camera_cols[0] == DB_BULK_CAMERAS_COLUMNS,
               "the cameras' export and the table agree");

#define CODE_TAKEN                                                                                 \
    "another enterprise has a point with this code (point codes are unique in the city: "          \
    "gateways send them)"

/* What a constraint that refused a row means: the column and why. */
typedef struct refusal {
    const char *constraint, *key, *code, *message;
} refusal;

static const refusal refusals[] = {
    {"dust_systems_airflow_m3h_check", "airflow_m3h", "row_rejected", "must be above 0"},
    {"dust_systems_enterprise_id_code_key", "code", "duplicate",
     "the enterprise has a dust-removal system with this code"},
    {"points_code_key", "code", "code_taken", CODE_TAKEN},
    {"points_kind_fkey", "kind", "row_rejected", "is not a kind of the indicator catalogue"},
    {"points_check", "range_min", "row_rejected", "the range's low end must be below its high end"},
    {"points_check1", "limit_high", "row_rejected",
     "the high limit must not be above the high-high limit"},
    {"points_check2", "limit_low", "row_rejected",
     "the low-low limit must not be above the low limit"},
    {"points_check3", "limit_low", "row_rejected", "the low limit must be below the high limit"},
    {"points_deadband_check", "deadband", "row_rejected", "must be 0 or more"},
    {"points_rate_limit_check", "rate_limit", "row_rejected", "must be above 0"},
    {"points_system_id_enterprise_id_fkey", "system_code", "system_unknown",
     "names no dust-removal system of this enterprise"},
    {"cameras_code_check", "code", "row_invalid", "must not hold spaces or control characters"},
    {"cameras_enterprise_id_code_key", "code", "duplicate",
     "the enterprise has a camera with this code"},
    {"cameras_stream_url_check", "stream_url", "row_rejected",
     "must be an rtsp://, rtmp://, http:// or https:// address without spaces"},
    {"cameras_system_id_enterprise_id_fkey", "system_code", "system_unknown",
     "names no dust-removal system of this enterprise"},
};

typedef struct kind_def {
    db_bulk_kind kind;
    db_assets_kind asset;
    const char *file;  /* the file's name, also the audit object */
    const char *sheet; /* the XLSX sheet's name */
    const column *cols;
    size_t n;
    const char *recompute; /* risk input: the recompute reason; NULL: none */
    const char *audit;     /* the one-by-one writes' audit names: <audit>_create, ... */
    const char *audit_update;
} kind_def;

static const kind_def systems_def = {
    DB_BULK_SYSTEMS, DB_ASSET_SYSTEM, "dust_systems",
    "除尘系统",      system_cols,     sizeof system_cols / sizeof system_cols[0],
    "dust_system",   "dust_system",   "dust_system_update"};
static const kind_def points_def = {
    DB_BULK_POINTS, DB_ASSET_POINT, "points",
    "监测点",       point_cols,     sizeof point_cols / sizeof point_cols[0],
    "point",        "point",        "point_limits_update"};
static const kind_def cameras_def = {DB_BULK_CAMERAS,
                                     DB_ASSET_CAMERA,
                                     "cameras",
                                     "摄像头",
                                     camera_cols,
                                     sizeof camera_cols / sizeof camera_cols[0],
                                     NULL,
                                     "camera",
                                     "camera_update"};

static const column *col_by_key(const kind_def *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->cols[i].key, key) == 0)
            return &k->cols[i];
    return NULL;
}

/* ---- text --------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int failed;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* ---- CSV in ------------------------------------------------------------- */

typedef struct csv_in {
    const char *p, *end;
    int line; /* the physical line p is on, from 1 */
} csv_in;

/* The next record (RFC 4180; quoted cells may span lines) as an array of
 * strings, or NULL at the end; *line: the line it starts on. */
static json_t *csv_next(csv_in *in, buf *cell, int *line)
{
    if (in->p >= in->end)
        return NULL;
    *line = in->line;
    json_t *rec = json_array();
    const char *p = in->p, *end = in->end;
    for (;;) {
        cell->len = 0;
        if (cell->p)
            cell->p[0] = '\0';
        if (p < end && *p == '"') {
            p++;
            while (p < end) {
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        put(cell, "\"", 1);
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n')
                    in->line++;
                put(cell, p, 1);
                p++;
            }
        }
        const char *s = p;
        while (p < end && *p != ',' && *p != '\r' && *p != '\n')
            p++;
        put(cell, s, (size_t)(p - s));
        json_array_append_new(rec, json_stringn(cell->p ? cell->p : "", cell->len));
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        in->line++;
        break;
    }
    in->p = p;
    return rec;
}

/* The records of the file: CSV text, or the rows srv_sheet read from a workbook. */
typedef struct rec_src {
    csv_in csv;
    buf cell;
    const json_t *sheet_rows; /* NULL: CSV */
    size_t next_row;
} rec_src;

/* The next record (a new array of strings) or NULL; *line: where it is in the file. */
static json_t *rec_next(rec_src *src, int *line)
{
    if (!src->sheet_rows)
        return csv_next(&src->csv, &src->cell, line);
    json_t *r = json_array_get(src->sheet_rows, src->next_row);
    if (!r)
        return NULL;
    src->next_row++;
    *line = (int)json_integer_value(json_object_get(r, "row"));
    return json_incref(json_object_get(r, "cells"));
}

/* ---- cells -------------------------------------------------------------- */

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

/* s without leading and trailing blanks, in out */
static void trimmed(const char *s, char *out, size_t outlen)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), s);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int in_list(const char *list, const char *s)
{
    size_t n = strlen(s);
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == n && strncmp(p, s, n) == 0)
            return 1;
        if (!bar)
            break;
        p = bar + 1;
    }
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"是", "true", "TRUE", "True", "1", "yes", "Y", "y"};
    static const char *const no[] = {"否", "false", "FALSE", "False", "0", "no", "N", "n"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

/* A formula-neutralising apostrophe of the export, taken off. */
static const char *unprefixed(const char *v)
{
    if (v[0] == '\'' && v[1] && strchr("=+-@\t\r", v[1]))
        return v + 1;
    return v;
}

/* The value of one cell, or NULL with why filled (the row's error). */
static json_t *cell_value(const column *c, const char *raw, char *why, size_t whylen)
{
    const char *v = unprefixed(raw);
    char t[600];
    if (is_blank(v)) {
        if (c->flags & C_REQ) {
            snprintf(why, whylen, "must not be empty");
            return NULL;
        }
        return c->flags & C_NULL ? json_null() : json_loads(c->def, JSON_DECODE_ANY, NULL);
    }
    switch (c->type) {
    case T_TEXT:
        if ((long long)utf8_chars(v) < c->min || (long long)utf8_chars(v) > c->max) {
            snprintf(why, whylen, "must be %lld to %lld characters", c->min, c->max);
            return NULL;
        }
        return json_string(v);
    case T_ENT:
    case T_CODE:
    case T_SYS: {
        trimmed(v, t, sizeof t);
        size_t n = utf8_chars(t);
        int bad = (long long)n < c->min || (long long)n > c->max;
        for (const char *p = t; *p && !bad; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch <= ' ' || ch == 0x7F)
                bad = 1;
            else if ((c->flags & C_STRICT || c->type == T_SYS) &&
                     !((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= 'a' && ch <= 'z') || ch == '_' || ch == '-'))
                bad = 1;
        }
        if (bad) {
            snprintf(why, whylen, "must be %lld to %lld %s", c->min, c->max,
                     c->flags & C_STRICT || c->type == T_SYS
                         ? "letters, digits, _ or -"
                         : "characters without spaces or control characters");
            return NULL;
        }
        return json_string(t);
    }
    case T_BOOL: {
        int b;
        trimmed(v, t, sizeof t);
        if (parse_bool(t, &b) != 0) {
            snprintf(why, whylen, "must be 是 or 否 (true or false)");
            return NULL;
        }
        return json_boolean(b);
    }
    case T_INT: {
        trimmed(v, t, sizeof t);
        char *e;
        long long k = strtoll(t, &e, 10);
        if (!*t || *e || k < c->min || k > c->max) {
            snprintf(why, whylen, "must be a whole number from %lld to %lld", c->min, c->max);
            return NULL;
        }
        return json_integer(k);
    }
    case T_NUM: {
        trimmed(v, t, sizeof t);
        char *e;
        double d = strtod(t, &e);
        if (!*t || *e || !isfinite(d)) {
            snprintf(why, whylen, "must be a number");
            return NULL;
        }
        return json_real(d);
    }
    case T_ENUM:
        trimmed(v, t, sizeof t);
        if (!in_list(c->values, t)) {
            snprintf(why, whylen, "must be one of %s", c->values);
            return NULL;
        }
        return json_string(t);
    default:
        return NULL;
    }
}

/* ---- the report --------------------------------------------------------- */

static void report(json_t *errors, int row, int line, const column *c, const char *code,
                   const char *message)
{
    json_array_append_new(errors, json_pack("{s:i, s:i, s:s, s:s, s:s, s:s}", "row", row, "line",
                                            line, "column", c ? c->head : "", "field",
                                            c ? c->key : "", "code", code, "message", message));
}

static json_int_t row_of(json_t *errors, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(errors, i), "row"));
}

/* a and b (stolen), each in row order, as one array in row order; a row's
 * cell refusals (a) before its database ones (b) */
static json_t *merged(json_t *a, json_t *b)
{
    json_t *out = json_array();
    size_t i = 0, j = 0, na = json_array_size(a), nb = json_array_size(b);
    while (i < na || j < nb) {
        if (j >= nb || (i < na && row_of(a, i) <= row_of(b, j)))
            json_array_append(out, json_array_get(a, i++));
        else
            json_array_append(out, json_array_get(b, j++));
    }
    json_decref(a);
    json_decref(b);
    return out;
}

/* ---- parsing the file --------------------------------------------------- */

typedef struct parsed {
    json_t *rows;   /* {row, line, ent, code, [sys], body} of rows whose cells are valid */
    json_t *errors; /* the cells' refusals */
    int too_many;   /* more than MAX_ROWS rows: the database is not asked */
} parsed;

/* The header's columns into map (cell index -> column, NULL: ignored blank);
 * -1 with why when the header is unusable. */
static int read_header(const kind_def *k, json_t *rec, const column **map, char *why, size_t n)
{
    size_t cells = json_array_size(rec);
    if (cells > MAX_CELLS) {
        snprintf(why, n, "the header has more than %d columns", MAX_CELLS);
        return -1;
    }
    for (size_t i = 0; i < cells; i++) {
        char h[200];
        trimmed(json_string_value(json_array_get(rec, i)), h, sizeof h);
        if (i == 0 && strncmp(h, "\xEF\xBB\xBF", 3) == 0)
            memmove(h, h + 3, strlen(h + 3) + 1);
        map[i] = NULL;
        if (!*h)
            continue;
        for (size_t c = 0; c < k->n; c++)
            if (strcmp(h, k->cols[c].head) == 0 || strcmp(h, k->cols[c].key) == 0)
                map[i] = &k->cols[c];
        if (!map[i]) {
            snprintf(why, n, "unknown column \"%s\" (the template's header lists the columns)", h);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (map[j] == map[i]) {
                snprintf(why, n, "column \"%s\" appears twice", map[i]->head);
                return -1;
            }
    }
    for (size_t c = 0; c < k->n; c++) {
        if (!(k->cols[c].flags & C_REQ))
            continue;
        size_t i = 0;
        while (i < cells && map[i] != &k->cols[c])
            i++;
        if (i == cells) {
            snprintf(why, n, "the header lacks column %s", k->cols[c].head);
            return -1;
        }
    }
    return 0;
}

/* The rows of body (CSV), or of sheet_rows when not NULL (a workbook's); -1 with why when the
 * file as a whole is refused. */
static int parse_file(const kind_def *k, const char *body, size_t len, const json_t *sheet_rows,
                      parsed *out, char *why, size_t whylen)
{
    rec_src src = {.csv = {body, body + len, 1}, .sheet_rows = sheet_rows};
    if (!sheet_rows && len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        src.csv.p += 3;
    int line, rownum = 1;
    json_t *rec = rec_next(&src, &line);
    const column *map[MAX_CELLS];
    if (!rec || read_header(k, rec, map, why, whylen) != 0) {
        if (!rec)
            snprintf(why, whylen, "the file is empty: send the header and the rows");
        json_decref(rec);
        free(src.cell.p);
        return -1;
    }
    size_t ncols = json_array_size(rec);
    json_decref(rec);
    json_t *keys = json_object(); /* natural key -> first row */
    while ((rec = rec_next(&src, &line)) != NULL) {
        rownum++;
        size_t n = json_array_size(rec);
        int blank = 1;
        for (size_t i = 0; i < n && blank; i++)
            blank = is_blank(json_string_value(json_array_get(rec, i)));
        if (blank) {
            json_decref(rec);
            continue;
        }
        if (json_array_size(out->rows) + 1 > MAX_ROWS) {
            report(out->errors, rownum, line, NULL, "too_many_rows",
                   "at most 5000 rows per import: split the file");
            out->too_many = 1;
            json_decref(rec);
            break;
        }
        json_t *row =
            json_pack("{s:i, s:i, s:o}", "row", rownum, "line", line, "body", json_object());
        json_t *body_o = json_object_get(row, "body");
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            const char *raw = json_string_value(json_array_get(rec, i));
            if (i >= ncols || !map[i]) {
                if (!is_blank(raw) && !bad++)
                    report(out->errors, rownum, line, NULL, "row_invalid",
                           "the row has more cells than the header has columns");
                continue;
            }
            const column *c = map[i];
            char w[200] = "";
            json_t *v = cell_value(c, raw, w, sizeof w);
            if (!v) {
                report(out->errors, rownum, line, c, "row_invalid", w);
                bad++;
                continue;
            }
            if (c->type == T_ENT)
                json_object_set_new(row, "ent", v);
            else if (c->type == T_SYS)
                json_object_set_new(row, "sys", v);
            else {
                if (c->type == T_CODE)
                    json_object_set(row, "code", v);
                json_object_set_new(body_o, c->key, v);
            }
        }
        for (size_t i = n; i < ncols && !bad; i++) /* short rows: cells missing at the end */
            if (map[i] && map[i]->flags & C_REQ) {
                report(out->errors, rownum, line, map[i], "row_invalid", "must not be empty");
                bad++;
            }
        if (!bad) {
            char key[200];
            const char *code = json_string_value(json_object_get(row, "code"));
            if (k->kind == DB_BULK_POINTS)
                snprintf(key, sizeof key, "%s", code);
            else
                snprintf(key, sizeof key, "%s\x1f%s",
                         json_string_value(json_object_get(row, "ent")), code);
            json_t *first = json_object_get(keys, key);
            if (first) {
                char w[160];
                snprintf(w, sizeof w, "the same %s as row %lld: one row per %s",
                         k->kind == DB_BULK_POINTS ? "point code" : "enterprise and code",
                         (long long)json_integer_value(first),
                         k->kind == DB_BULK_SYSTEMS  ? "system"
                         : k->kind == DB_BULK_POINTS ? "point"
                                                     : "camera");
                report(out->errors, rownum, line, col_by_key(k, "code"), "duplicate_in_file", w);
                bad++;
            } else {
                json_object_set_new(keys, key, json_integer(rownum));
            }
        }
        if (!bad)
            json_array_append(out->rows, row);
        json_decref(row);
        json_decref(rec);
    }
    json_decref(keys);
    free(src.cell.p);
    return 0;
}

/* ---- the transaction ---------------------------------------------------- */

typedef struct import_ctx {
    const kind_def *k;
    parsed in;
    int64_t only;    /* ?enterprise: every row names it; 0: any in scope */
    const char *ext; /* of the file, for the audit: "csv" or "xlsx" */
    json_t *errors;
    int created, updated, unchanged;
} import_ctx;

static void refused_by_db(import_ctx *x, json_t *row, const db_diag *d)
{
    int rn = (int)json_integer_value(json_object_get(row, "row"));
    int ln = (int)json_integer_value(json_object_get(row, "line"));
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (strcmp(d->constraint, refusals[i].constraint) == 0) {
            report(x->errors, rn, ln, col_by_key(x->k, refusals[i].key), refusals[i].code,
                   refusals[i].message);
            return;
        }
    report(x->errors, rn, ln, NULL, "row_rejected", "the values break a rule of the table");
}

/* Resolves a row's keys; 0 when it may be written, with *eid and *existing. */
static db_status resolve_row(import_ctx *x, db_conn *c, const db_scope *s, json_t *ents,
                             json_t *row, int64_t *eid, int64_t *existing, int *ok)
{
    const kind_def *k = x->k;
    int rn = (int)json_integer_value(json_object_get(row, "row"));
    int ln = (int)json_integer_value(json_object_get(row, "line"));
    const char *ent = json_string_value(json_object_get(row, "ent"));
    const char *code = json_string_value(json_object_get(row, "code"));
    json_t *body = json_object_get(row, "body");
    db_status st;
    *ok = 0;
    *existing = 0;
    json_t *cached = json_object_get(ents, ent);
    if (cached) {
        *eid = json_integer_value(cached);
    } else {
        if ((st = db_bulk_enterprise_tx(c, s, ent, eid)) != DB_OK)
            return st;
        json_object_set_new(ents, ent, json_integer(*eid));
    }
    if (!*eid) {
        report(x->errors, rn, ln, col_by_key(k, "enterprise_code"), "enterprise_not_in_scope",
               "no enterprise with this code in your scope");
        return DB_OK;
    }
    if (x->only && *eid != x->only) {
        report(x->errors, rn, ln, col_by_key(k, "enterprise_code"), "enterprise_mismatch",
               "the row names another enterprise than the one this import is for");
        return DB_OK;
    }
    json_t *sys = json_object_get(row, "sys");
    int64_t sid = 0;
    if (json_is_string(sys)) {
        char skey[80];
        snprintf(skey, sizeof skey, "%lld\x1f%s", (long long)*eid, json_string_value(sys));
        json_t *known = json_object_get(ents, skey); /* the same cache, keyed apart */
        if (known) {
            sid = json_integer_value(known);
        } else {
            st = db_bulk_find_tx(c, s, DB_BULK_SYSTEMS, *eid, json_string_value(sys), &sid);
            if (st != DB_OK)
                return st;
            json_object_set_new(ents, skey, json_integer(sid));
        }
        if (!sid) {
            report(x->errors, rn, ln, col_by_key(k, "system_code"), "system_unknown",
                   "the enterprise has no dust-removal system with this code (import the "
                   "systems first)");
            return DB_OK;
        }
        json_object_set_new(body, "system_id", json_integer(sid));
    } else if (sys) {
        json_object_set_new(body, "system_id", json_null());
    }
    if (k->kind != DB_BULK_POINTS) {
        st = db_bulk_find_tx(c, s, k->kind, *eid, code, existing);
        if (st == DB_OK)
            *ok = 1;
        return st;
    }
    db_bulk_point p;
    if ((st = db_bulk_point_tx(c, s, code, &p)) != DB_OK)
        return st;
    if (p.id && p.enterprise_id != *eid) {
        /* the words of the unique constraint's refusal (refusals[]): a point of another
         * enterprise reads the same whether the caller sees that enterprise or not */
        report(x->errors, rn, ln, col_by_key(k, "code"), "code_taken", CODE_TAKEN);
        return DB_OK;
    }
    if (p.id) {
        const char *kind = json_string_value(json_object_get(body, "kind"));
        if (kind && strcmp(kind, p.kind) != 0) {
            report(x->errors, rn, ln, col_by_key(k, "kind"), "identity_changed",
                   "an existing point keeps its kind (its readings are of that kind): create "
                   "a point with a new code instead");
            return DB_OK;
        }
        if (sys && sid != p.system_id) {
            report(x->errors, rn, ln, col_by_key(k, "system_code"), "identity_changed",
                   "an existing point keeps its dust-removal system: create a point with a new "
                   "code instead");
            return DB_OK;
        }
    }
    *existing = p.id;
    *ok = 1;
    return DB_OK;
}

/* A copy of v (new reference) whose camera stream address has no user
 * information (rtsp://user:password@host/...): the audit trail is kept for
 * years and read by others (as assets.c). */
static json_t *without_url_secrets(json_t *v)
{
    json_t *c = json_deep_copy(v);
    const char *url = json_string_value(json_object_get(c, "stream_url"));
    const char *scheme = url ? strstr(url, "://") : NULL;
    if (!scheme)
        return c;
    const char *host = scheme + 3;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash)) {
        char *clean = NULL;
        if (asprintf(&clean, "%.*s***%s", (int)(host - url), url, at) >= 0) {
            json_object_set_new(c, "stream_url", json_string(clean));
            free(clean);
        }
    }
    return c;
}

static int same_value(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

/* The audit record of one written row, {action, object, detail}: created
 * (the row's values) or updated (the changed columns, before and after), as
 * the one-by-one writes record theirs.  Written after the last row (the
 * audit chain's head is locked from the first append to the commit). */
static json_t *row_audit(const kind_def *k, const char *ext, int64_t id, json_t *body,
                         json_t *before)
{
    char action[64], obj[64];
    if (before)
        snprintf(action, sizeof action, "%s", k->audit_update);
    else
        snprintf(action, sizeof action, "%s_create", k->audit);
    snprintf(obj, sizeof obj, "%s:%lld", k->audit, (long long)id);
    json_t *d = json_pack("{s:s++}", "import", k->file, ".", ext);
    if (before) {
        json_t *was = json_object(), *now = json_object(), *v;
        const char *key;
        json_object_foreach(body, key, v)
        {
            json_t *old = json_object_get(before, key);
            if (!same_value(old ? old : json_null(), v)) {
                json_object_set(was, key, old ? old : json_null());
                json_object_set(now, key, v);
            }
        }
        json_object_set_new(d, "code", json_incref(json_object_get(body, "code")));
        json_object_set_new(d, "before", without_url_secrets(was));
        json_object_set_new(d, "change", without_url_secrets(now));
        json_decref(was);
        json_decref(now);
    } else {
        json_object_set_new(d, "created", without_url_secrets(body));
    }
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    json_t *rec = json_pack("{s:s, s:s, s:s?}", "action", action, "object", obj, "detail", text);
    free(text);
    return rec;
}

static db_status import_tx(api_req *r, db_conn *c, void *arg)
{
    import_ctx *x = arg;
    /* a retried transaction starts over */
    json_decref(x->errors);
    x->errors = json_array();
    x->created = x->updated = x->unchanged = 0;
    db_scope s;
    api_db_scope(r, NULL, &s);
    /* enterprise code -> id (0: not in scope); "<id>\x1f<system code>" -> system id (0: none) */
    json_t *ents = json_object();
    json_t *touched = json_object(); /* enterprise ids written: their risk is scored again */
    json_t *audits = json_array();   /* the written rows' audit records */
    db_status st = DB_OK;
    size_t i;
    json_t *row;
    json_array_foreach(x->in.rows, i, row)
    {
        json_t *body = json_deep_copy(json_object_get(row, "body"));
        json_t *work =
            json_pack("{s:O, s:O, s:O, s:O, s:o}", "row", json_object_get(row, "row"), "line",
                      json_object_get(row, "line"), "ent", json_object_get(row, "ent"), "code",
                      json_object_get(row, "code"), "body", body);
        if (json_object_get(row, "sys"))
            json_object_set(work, "sys", json_object_get(row, "sys"));
        int64_t eid = 0, existing = 0;
        int ok = 0;
        st = resolve_row(x, c, &s, ents, work, &eid, &existing, &ok);
        char *text = ok ? json_dumps(body, JSON_COMPACT) : NULL;
        if (st != DB_OK || !ok || !text) {
            json_decref(work);
            free(text);
            if (st != DB_OK)
                break;
            if (ok) {
                st = DB_HARD;
                break;
            }
            continue;
        }
        if ((st = db_bulk_row_begin_tx(c)) != DB_OK) {
            json_decref(work);
            free(text);
            break;
        }
        db_diag d;
        json_t *before = NULL;
        int changed = 1;
        int64_t id = existing;
        if (existing) {
            st = db_bulk_update_tx(c, &s, x->k->kind, existing, text, &before, &d);
            changed = before != NULL;
        } else {
            db_assets_written w = {0};
            st = db_assets_create_tx(c, &s, x->k->asset, eid, text, &w, &d);
            if (st == DB_OK && !w.found) /* the enterprise left the scope meanwhile */
                st = DB_SOFT;
            id = w.id;
        }
        free(text);
        if (st == DB_BAD) {
            refused_by_db(x, work, &d);
            st = db_bulk_row_undo_tx(c);
        } else if (st == DB_OK) {
            existing ? (changed ? x->updated++ : x->unchanged++) : x->created++;
            if (changed) {
                char eids[24];
                snprintf(eids, sizeof eids, "%lld", (long long)eid);
                json_object_set_new(touched, eids, json_true());
                json_t *rec = row_audit(x->k, x->ext, id, body, before);
                if (rec)
                    json_array_append_new(audits, rec);
                else
                    st = DB_HARD;
            }
            if (st == DB_OK)
                st = db_bulk_row_keep_tx(c);
        }
        json_decref(before);
        json_decref(work);
        if (st != DB_OK)
            break;
    }
    if (st == DB_OK && (json_array_size(x->errors) || json_array_size(x->in.errors)))
        st = DB_BAD; /* nothing half-imported: any refused row rolls everything back */
    const char *id;
    json_t *v;
    if (st == DB_OK && x->k->recompute)
        json_object_foreach(touched, id, v)
        {
            st = db_assets_request_recompute_tx(c, strtoll(id, NULL, 10), x->k->recompute);
            if (st != DB_OK)
                break;
        }
    json_t *rec;
    if (st == DB_OK)
        json_array_foreach(audits, i, rec)
        {
            st = api_audit_tx(r, c, json_string_value(json_object_get(rec, "action")),
                              json_string_value(json_object_get(rec, "object")), "ok",
                              json_string_value(json_object_get(rec, "detail")));
            if (st != DB_OK)
                break;
        }
    if (st == DB_OK) {
        char obj[48], d[160];
        snprintf(obj, sizeof obj, "%s.%s", x->k->file, x->ext);
        snprintf(d, sizeof d, "created=%d updated=%d unchanged=%d enterprises=%zu", x->created,
                 x->updated, x->unchanged, json_object_size(touched));
        st = api_audit_tx(r, c, "import", obj, "ok", d);
    }
    json_decref(ents);
    json_decref(touched);
    json_decref(audits);
    return st;
}

static int bulk_import(api_req *r, const kind_def *k)
{
    size_t len;
    const char *body = api_req_body(r, &len);
    if (!body || len == 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "send the %s table as CSV (UTF-8) or XLSX",
                               k->file);
    const char *only = api_req_query(r, "enterprise");
    long long only_id = 0;
    if (only && *only && (only_id = api_parse_id(only)) < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "enterprise must be an enterprise id");
    char why[512] = "";
    json_t *sheet_rows = NULL;
    int workbook = srv_sheet_is_zip(body, len), truncated = 0;
    if (workbook) {
        /* one row over the limit is enough to say the file is too long */
        if (srv_sheet_xlsx_rows(body, len, MAX_ROWS + 2, &sheet_rows, &truncated, why,
                                sizeof why) != 0)
            return api_reply_error(r, API_E_FILE_FORMAT, "%s", why);
    } else {
        const char *enc = srv_sheet_csv_refusal(body, len);
        if (enc)
            return api_reply_error(r, API_E_FILE_FORMAT, "%s", enc);
    }
    import_ctx x = {.k = k,
                    .in = {json_array(), json_array()},
                    .only = only_id,
                    .ext = workbook ? "xlsx" : "csv"};
    int bad_file = parse_file(k, body, len, sheet_rows, &x.in, why, sizeof why) != 0;
    json_decref(sheet_rows);
    if (bad_file) {
        json_decref(x.in.rows);
        json_decref(x.in.errors);
        return api_reply_error(r, API_E_UNPROCESSABLE, "%s", why);
    }
    char obj[48];
    snprintf(obj, sizeof obj, "%s.%s", k->file, workbook ? "xlsx" : "csv");
    db_status st = x.in.too_many ? DB_BAD : api_tx(r, import_tx, &x);
    if (!x.errors)
        x.errors = json_array();
    int rc;
    size_t refused = json_array_size(x.errors) + json_array_size(x.in.errors);
    if (st == DB_BAD && refused) {
        char d[64];
        snprintf(d, sizeof d, "%zu rows refused", refused);
        api_audit(r, "import", obj, "failed", d);
        json_t *errors = merged(json_incref(x.in.errors), json_incref(x.errors));
        rc = api_reply_error_with(r, API_E_IMPORT_REFUSED,
                                  json_pack("{s:i, s:i, s:i, s:i, s:o}", "imported", 0, "created",
                                            0, "updated", 0, "unchanged", 0, "errors", errors),
                                  "%zu of %zu rows are refused", refused,
                                  json_array_size(x.in.rows) + json_array_size(x.in.errors));
    } else if (st != DB_OK) {
        rc = api_reply_db(r, st);
    } else {
        rc = api_reply_json(r, 200,
                            json_pack("{s:i, s:i, s:i, s:i, s:[]}", "imported",
                                      x.created + x.updated, "created", x.created, "updated",
                                      x.updated, "unchanged", x.unchanged, "errors"));
    }
    json_decref(x.in.rows);
    json_decref(x.in.errors);
    json_decref(x.errors);
    return rc;
}

/* ---- export ------------------------------------------------------------- */

/* a number as the shortest text that reads back as the same double */
static void number_text(double d, char out[40])
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static int is_number(const char *s)
{
    char *e;
    if (!*s)
        return 0;
    (void)strtod(s, &e);
    return *e == '\0';
}

static void csv_cell(buf *b, json_t *v, int last)
{
    char num[40];
    const char *s = "";
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), s = num;
    else if (json_is_real(v))
        number_text(json_real_value(v), num), s = num;
    else if (json_is_boolean(v))
        s = json_is_true(v) ? "是" : "否";
    /* a text starting like a formula (= + - @, tab, CR) is quoted and gets an
     * apostrophe, so a spreadsheet never runs it; the import takes it off */
    int formula = json_is_string(v) && s[0] && strchr("=+-@\t\r", s[0]) && !is_number(s);
    int quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        put(b, "\"", 1);
    if (formula)
        put(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            put(b, "\"", 1);
        put(b, p, 1);
    }
    if (quote)
        put(b, "\"", 1);
    put(b, last ? "\r\n" : ",", last ? 2 : 1);
}

static int bulk_export(api_req *r, const kind_def *k)
{
    const char *format = api_req_query(r, "format");
    if (!format || !*format)
        format = "csv";
    if (strcmp(format, "csv") != 0 && strcmp(format, "xlsx") != 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "format must be csv or xlsx");
    const char *tmpl = api_req_query(r, "template");
    int only_header = tmpl && (strcmp(tmpl, "1") == 0 || strcmp(tmpl, "true") == 0);
    const char *ent = api_req_query(r, "enterprise");
    long long eid = 0;
    if (ent && *ent && (eid = api_parse_id(ent)) < 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "enterprise must be an enterprise id");
    json_t *rows = NULL;
    if (!only_header) {
        db_scope s;
        db_conn *c = api_read_db(r, &s);
        db_status st = c ? db_bulk_export(c, &s, k->kind, eid, &rows) : DB_HARD;
        if (st != DB_OK)
            return api_reply_db(r, st);
    }
    if (!rows)
        rows = json_array();
    char obj[48], disp[120];
    snprintf(obj, sizeof obj, "%s.%s", k->file, format);
    snprintf(disp, sizeof disp, "attachment; filename=\"%s%s.%s\"", k->file,
             only_header ? "_template" : "", format);
    int rc;
    if (strcmp(format, "csv") == 0) {
        buf b = {0};
        put(&b, "\xEF\xBB\xBF", 3); /* Excel then reads the Chinese text as UTF-8 */
        for (size_t i = 0; i < k->n; i++) {
            json_t *h = json_string(k->cols[i].head);
            csv_cell(&b, h, i == k->n - 1);
            json_decref(h);
        }
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) for (size_t j = 0; j < k->n; j++)
            csv_cell(&b, json_array_get(row, j), j == k->n - 1);
        json_decref(rows);
        if (b.failed) {
            free(b.p);
            return api_reply_error(r, API_E_INTERNAL, "out of memory");
        }
        api_reply_add_header(r, "Content-Disposition", disp);
        rc = api_reply_raw(r, 200, "text/csv; charset=utf-8", b.p, b.len);
        free(b.p);
    } else {
        json_t *cols = json_array();
        for (size_t i = 0; i < k->n; i++)
            json_array_append_new(cols, json_string(k->cols[i].head));
        json_t *sheets =
            json_pack("[{s:s, s:o, s:o}]", "name", k->sheet, "columns", cols, "rows", rows);
        unsigned char *xlsx = NULL;
        size_t len = 0;
        int bad = srv_table_xlsx(sheets, &xlsx, &len);
        json_decref(sheets);
        if (bad)
            return api_reply_error(r, API_E_INTERNAL, "the workbook could not be written");
        api_reply_add_header(r, "Content-Disposition", disp);
        rc = api_reply_raw(r, 200,
                           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           (const char *)xlsx, len);
        free(xlsx);
    }
    if (!only_header)
        api_audit(r, "export", obj, "ok", ent && *ent ? ent : "scope");
    return rc;
}

/* ---- route handlers ----------------------------------------------------- */

int api_bulk_systems_export(api_req *r)
{
    return bulk_export(r, &systems_def);
}

int api_bulk_systems_import(api_req *r)
{
    return bulk_import(r, &systems_def);
}

int api_bulk_points_export(api_req *r)
{
    return bulk_export(r, &points_def);
}

int api_bulk_points_import(api_req *r)
{
    return bulk_import(r, &points_def);
}

int api_bulk_cameras_export(api_req *r)
{
    return bulk_export(r, &cameras_def);
}

int api_bulk_cameras_import(api_req *r)
{
    return bulk_import(r, &cameras_def);
}

void api_bulk_init(void)
{
    db_assets_register();
    db_bulk_register();
}
