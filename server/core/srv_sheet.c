/*
 * srv_sheet — the first worksheet of an XLSX workbook as rows of text.  See srv_sheet.h.
 *
 * An XLSX file is a ZIP archive of XML parts (ECMA-376): xl/workbook.xml lists the sheets in
 * tab order, each naming a relationship id that xl/_rels/workbook.xml.rels maps to its part
 * (usually xl/worksheets/sheet1.xml); text cells mostly point into xl/sharedStrings.xml.
 * Every part is read whole into memory (bounded) and parsed with expat's streaming parser,
 * with namespaces resolved so a producer's choice of prefixes does not matter.
 */
#include "srv_sheet.h"

#include <expat.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* A part larger than this is refused: the import tables are a few thousand rows (a few MB),
 * and a small archive can expand enormously (a "zip bomb"). */
#define PART_MAX   ((size_t)64 << 20)
#define COLS_MAX   256
#define ROWS_MAX   1048576           /* a worksheet's last row (Excel's limit, ECMA-376) */
#define STRING_MAX ((size_t)1 << 20) /* shared strings */
#define NS_SEP     '|'

typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void text_put(text *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 64;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_reset(text *t)
{
    t->len = 0;
    if (t->p)
        t->p[0] = '\0';
}

static const char *text_str(const text *t)
{
    return t->p ? t->p : "";
}

/* The local part of an expat name "namespace|local". */
static const char *local_name(const char *name)
{
    const char *s = strrchr(name, NS_SEP);
    return s ? s + 1 : name;
}

/* An attribute by local name; with_ns: only one in a namespace (r:id), else only one without. */
static const char *attr(const XML_Char **atts, const char *name, int with_ns)
{
    for (size_t i = 0; atts[i]; i += 2) {
        int has_ns = strchr(atts[i], NS_SEP) != NULL;
        if (has_ns == with_ns && strcmp(local_name(atts[i]), name) == 0)
            return atts[i + 1];
    }
    return NULL;
}

/* ---- parts -------------------------------------------------------------- */

/* The whole of one part, NUL-terminated (malloc'd), or NULL: *absent when the archive has
 * no such part, else why is set. */
static char *read_part(zip_t *za, const char *name, size_t *len, int *absent, char *why,
                       size_t whylen)
{
    *absent = 0;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(za, name, 0, &st) != 0) {
        *absent = 1;
        return NULL;
    }
    if ((st.valid & ZIP_STAT_SIZE) && st.size > PART_MAX) {
        snprintf(why, whylen, "the workbook part %s is larger than %zu MB", name, PART_MAX >> 20);
        return NULL;
    }
    zip_file_t *f = zip_fopen(za, name, 0);
    if (!f) {
        snprintf(why, whylen, "the workbook part %s cannot be read: %s", name, zip_strerror(za));
        return NULL;
    }
    text t = {0};
    char chunk[65536];
    zip_int64_t n;
    /* the declared size may lie: the bound holds for what is actually inflated */
    while ((n = zip_fread(f, chunk, sizeof chunk)) > 0 && !t.failed && t.len <= PART_MAX)
        text_put(&t, chunk, (size_t)n);
    int bad = n < 0;
    if (bad)
        snprintf(why, whylen, "the workbook part %s is damaged: %s", name, zip_file_strerror(f));
    zip_fclose(f);
    if (!bad && t.len > PART_MAX) {
        snprintf(why, whylen, "the workbook part %s is larger than %zu MB", name, PART_MAX >> 20);
        bad = 1;
    } else if (!bad && t.failed) {
        snprintf(why, whylen, "out of memory reading the workbook");
        bad = 1;
    }
    if (bad) {
        free(t.p);
        return NULL;
    }
    if (!t.p)
        text_put(&t, "", 0);
    *len = t.len;
    return t.p;
}

/* ---- XML ---------------------------------------------------------------- */

typedef struct xml_run {
    XML_Parser p;
    int stopped_bad; /* a handler refused the document: why is set */
    char *why;
    size_t whylen;
} xml_run;

static void refuse(xml_run *x, const char *why)
{
    if (!x->stopped_bad) {
        snprintf(x->why, x->whylen, "%s", why);
        x->stopped_bad = 1;
    }
    XML_StopParser(x->p, XML_FALSE);
}

/* A DTD could declare entities that expand without bound; workbooks never carry one. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sys,
                               const XML_Char *pub, int internal)
{
    (void)name, (void)sys, (void)pub, (void)internal;
    refuse(ud, "the workbook has a document type declaration, which no spreadsheet program "
               "writes");
}

/* Parses doc with the handlers; ud must start with an xml_run.  0, or -1 with why. */
static int parse_xml(const char *part, const char *doc, size_t len, xml_run *x,
                     XML_StartElementHandler start, XML_EndElementHandler end,
                     XML_CharacterDataHandler chars)
{
    XML_Parser p = XML_ParserCreateNS("UTF-8", NS_SEP);
    if (!p) {
        snprintf(x->why, x->whylen, "out of memory reading the workbook");
        return -1;
    }
    x->p = p;
    XML_SetUserData(p, x);
    XML_SetElementHandler(p, start, end);
    if (chars)
        XML_SetCharacterDataHandler(p, chars);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    int rc = 0;
    if (len > INT32_MAX || XML_Parse(p, doc, (int)len, XML_TRUE) == XML_STATUS_ERROR) {
        if (x->stopped_bad)
            rc = -1;
        else if (len <= INT32_MAX && XML_GetErrorCode(p) == XML_ERROR_ABORTED)
            rc = 0; /* a handler had what it wanted and stopped */
        else {
            snprintf(x->why, x->whylen,
                     "the workbook part %s is not well-formed XML (line %lu: %s)", part,
                     (unsigned long)XML_GetCurrentLineNumber(p),
                     XML_ErrorString(XML_GetErrorCode(p)));
            rc = -1;
        }
    }
    XML_ParserFree(p);
    return rc;
}

/* xl/workbook.xml: the relationship id of the first sheet */
typedef struct {
    xml_run x;
    char rid[128];
} wb_run;

static void XMLCALL wb_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    wb_run *w = ud;
    if (strcmp(local_name(name), "sheet") != 0)
        return;
    const char *id = attr(atts, "id", 1);
    if (id) {
        snprintf(w->rid, sizeof w->rid, "%s", id);
        XML_StopParser(w->x.p, XML_FALSE);
    }
}

static void XMLCALL no_end(void *ud, const XML_Char *name)
{
    (void)ud, (void)name;
}

/* xl/_rels/workbook.xml.rels: the target of one relationship id */
typedef struct {
    xml_run x;
    const char *rid;
    char target[512];
} rels_run;

static void XMLCALL rels_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    rels_run *r = ud;
    if (strcmp(local_name(name), "Relationship") != 0)
        return;
    const char *id = attr(atts, "Id", 0), *target = attr(atts, "Target", 0);
    if (id && target && strcmp(id, r->rid) == 0) {
        /* targets are relative to xl/ unless absolute within the package */
        if (target[0] == '/')
            snprintf(r->target, sizeof r->target, "%s", target + 1);
        else
            snprintf(r->target, sizeof r->target, "xl/%s", target);
        XML_StopParser(r->x.p, XML_FALSE);
    }
}

/* xl/sharedStrings.xml: the text of each <si>, phonetic runs (<rPh>) left out */
typedef struct {
    xml_run x;
    json_t *strings;
    text cur;
    int in_t, in_rph;
} sst_run;

static void XMLCALL sst_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    sst_run *s = ud;
    const char *n = local_name(name);
    if (strcmp(n, "si") == 0)
        text_reset(&s->cur);
    else if (strcmp(n, "rPh") == 0)
        s->in_rph++;
    else if (strcmp(n, "t") == 0 && !s->in_rph)
        s->in_t = 1;
}

static void XMLCALL sst_end(void *ud, const XML_Char *name)
{
    sst_run *s = ud;
    const char *n = local_name(name);
    if (strcmp(n, "t") == 0)
        s->in_t = 0;
    else if (strcmp(n, "rPh") == 0 && s->in_rph)
        s->in_rph--;
    else if (strcmp(n, "si") == 0) {
        if (s->cur.failed || json_array_size(s->strings) >= STRING_MAX)
            refuse(&s->x, "the workbook has more than a million strings, or memory ran out");
        else
            json_array_append_new(s->strings, json_stringn(text_str(&s->cur), s->cur.len));
    }
}

static void XMLCALL sst_text(void *ud, const XML_Char *str, int len)
{
    sst_run *s = ud;
    if (s->in_t && len > 0)
        text_put(&s->cur, str, (size_t)len);
}

/* the worksheet */
typedef struct {
    xml_run x;
    const json_t *strings;
    json_t *rows; /* the result */
    size_t max_rows;
    int truncated;
    long row_no, col; /* the row being read; the column of the cell being read */
    json_t *cells;    /* of the row being read */
    char type[16];    /* the cell's t attribute */
    text v;           /* the cell's <v> or inline <is><t> text */
    int in_v, in_is_t;
} ws_run;

/* "AB12" -> column 27 (0-based) and row 12; -1 when malformed */
static int cell_ref(const char *r, long *col, long *row)
{
    long c = 0;
    const char *p = r;
    while (*p >= 'A' && *p <= 'Z' && c <= COLS_MAX)
        c = c * 26 + (*p++ - 'A' + 1);
    if (p == r || c > COLS_MAX)
        return -1;
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || *end || n < 1)
        return -1;
    *col = c - 1;
    *row = n;
    return 0;
}

static void XMLCALL ws_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    ws_run *w = ud;
    const char *n = local_name(name);
    if (strcmp(n, "row") == 0) {
        const char *r = attr(atts, "r", 0);
        char *end = NULL;
        long no = r ? strtol(r, &end, 10) : w->row_no + 1;
        if ((r && (end == r || *end)) || no < 1 || no > ROWS_MAX) {
            refuse(&w->x, "the worksheet has a malformed row number or one beyond row 1048576");
            return;
        }
        w->row_no = no;
        w->col = -1;
        json_decref(w->cells);
        w->cells = json_array();
    } else if (strcmp(n, "c") == 0) {
        const char *r = attr(atts, "r", 0), *t = attr(atts, "t", 0);
        long col, row;
        if (r && cell_ref(r, &col, &row) == 0)
            w->col = col;
        else if (r) {
            refuse(&w->x, "the worksheet has a malformed cell reference or one beyond column "
                          "256");
            return;
        } else
            w->col++;
        snprintf(w->type, sizeof w->type, "%s", t ? t : "n");
        text_reset(&w->v);
    } else if (strcmp(n, "v") == 0) {
        w->in_v = 1;
    } else if (strcmp(n, "t") == 0 && strcmp(w->type, "inlineStr") == 0) {
        w->in_is_t = 1;
    }
}

/* The number as a person reads it ("35" not "35.0", "0.1" not "0.10000000000000001") and as
 * the same double. */
static void number_text(const char *v, text *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d)) {
        text_put(out, v, strlen(v));
        return;
    }
    char b[40];
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(b, sizeof b, "%.0f", d == 0 ? 0.0 : d);
    else /* the fewest digits that read back as the same double */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(b, sizeof b, "%.*g", prec, d);
            if (strtod(b, NULL) == d)
                break;
        }
    text_put(out, b, strlen(b));
}

static void ws_cell_end(ws_run *w)
{
    if (!w->cells || w->col < 0 || w->col >= COLS_MAX)
        return;
    text out = {0};
    const char *v = text_str(&w->v);
    if (strcmp(w->type, "s") == 0) {
        char *end;
        long i = strtol(v, &end, 10);
        const char *s = end != v && !*end && i >= 0
                            ? json_string_value(json_array_get(w->strings, (size_t)i))
                            : NULL;
        if (!s) {
            refuse(&w->x, "the worksheet names a shared string the workbook does not have");
            return;
        }
        text_put(&out, s, strlen(s));
    } else if (strcmp(w->type, "b") == 0) {
        const char *b = strcmp(v, "1") == 0 ? "true" : "false";
        text_put(&out, b, strlen(b));
    } else if (strcmp(w->type, "n") == 0 && *v) {
        number_text(v, &out);
    } else {
        text_put(&out, v, w->v.len); /* str, inlineStr, e, d (ISO 8601 text) */
    }
    if (out.failed) {
        free(out.p);
        refuse(&w->x, "out of memory reading the workbook");
        return;
    }
    while ((long)json_array_size(w->cells) < w->col)
        json_array_append_new(w->cells, json_string(""));
    json_t *cell = json_stringn(text_str(&out), out.len);
    free(out.p);
    if (!cell) { /* expat hands out UTF-8 only, so this is out of memory */
        refuse(&w->x, "out of memory reading the workbook");
        return;
    }
    if ((long)json_array_size(w->cells) == w->col)
        json_array_append_new(w->cells, cell);
    else
        json_array_set_new(w->cells, (size_t)w->col, cell); /* a column given twice: the last */
}

static void XMLCALL ws_end(void *ud, const XML_Char *name)
{
    ws_run *w = ud;
    const char *n = local_name(name);
    if (strcmp(n, "v") == 0)
        w->in_v = 0;
    else if (strcmp(n, "t") == 0)
        w->in_is_t = 0;
    else if (strcmp(n, "c") == 0)
        ws_cell_end(w);
    else if (strcmp(n, "row") == 0 && w->cells) {
        int blank = 1;
        size_t i;
        json_t *c;
        json_array_foreach(w->cells, i, c) if (json_string_length(c) > 0) blank = 0;
        if (!blank) {
            if (json_array_size(w->rows) >= w->max_rows) {
                w->truncated = 1;
                XML_StopParser(w->x.p, XML_FALSE);
            } else {
                json_array_append_new(w->rows, json_pack("{s:I, s:O}", "row", (json_int_t)w->row_no,
                                                         "cells", w->cells));
            }
        }
        json_decref(w->cells);
        w->cells = NULL;
    }
}

static void XMLCALL ws_text(void *ud, const XML_Char *s, int len)
{
    ws_run *w = ud;
    if ((w->in_v || w->in_is_t) && len > 0)
        text_put(&w->v, s, (size_t)len);
}

/* ---- CSV ------------------------------------------------------------------ */

/* 1 when s[0..n) is UTF-8 without NUL bytes and overlong or surrogate forms */
static int utf8_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        unsigned cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return 0;
        if (i + k >= n)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

const char *srv_sheet_csv_refusal(const void *data, size_t n)
{
    const unsigned char *s = data;
    if (n >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF)))
        return "the file is UTF-16 text: save it as CSV UTF-8";
    if (utf8_ok(s, n))
        return NULL;
    /* GBK (Excel's "CSV (逗号分隔)" on a Chinese Windows): every byte above
     * 0x7F leads a pair 0x81-0xFE, 0x40-0xFE */
    int gbk = 1;
    for (size_t i = 0; i < n && gbk; i++) {
        if (s[i] == 0)
            gbk = 0;
        else if (s[i] >= 0x80) {
            if (s[i] < 0x81 || s[i] == 0xFF || i + 1 >= n || s[i + 1] < 0x40 || s[i + 1] == 0x7F ||
                s[i + 1] == 0xFF)
                gbk = 0;
            i++;
        }
    }
    return gbk ? "the file is not UTF-8; it looks like GBK/ANSI (Excel's \"CSV (逗号分隔)\"): "
                 "save it as \"CSV UTF-8 (逗号分隔)\" and import again"
               : "the file is not UTF-8 text: save the table as CSV UTF-8";
}

/* RFC 4180: every cell quoted, so commas, quotes and line breaks in a cell survive */
static void csv_cell(text *t, const char *s, int first)
{
    if (!first)
        text_put(t, ",", 1);
    text_put(t, "\"", 1);
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        text_put(t, s, (size_t)(q - s + 1));
        text_put(t, "\"", 1);
    }
    text_put(t, s, strlen(s));
    text_put(t, "\"", 1);
}

char *srv_sheet_as_csv(const json_t *rows, size_t *len)
{
    text t = {0};
    json_int_t at = 1; /* the sheet row the next line stands for */
    size_t i, j;
    json_t *r, *c;
    json_array_foreach(rows, i, r)
    {
        json_int_t row = json_integer_value(json_object_get(r, "row"));
        for (; at < row && !t.failed; at++)
            text_put(&t, "\r\n", 2);
        json_array_foreach(json_object_get(r, "cells"), j, c)
            csv_cell(&t, json_string_value(c), j == 0);
        text_put(&t, "\r\n", 2);
        at = row + 1;
    }
    if (!t.p && !t.failed)
        text_put(&t, "", 0);
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}

/* ---- the workbook ------------------------------------------------------- */

int srv_sheet_is_zip(const void *data, size_t len)
{
    return len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0;
}

int srv_sheet_xlsx_rows(const void *data, size_t len, size_t max_rows, json_t **rows,
                        int *truncated, char *why, size_t whylen)
{
    *rows = NULL;
    *truncated = 0;
    zip_error_t zerr;
    zip_error_init(&zerr);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &zerr);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY, &zerr) : NULL;
    if (!za) {
        snprintf(why, whylen, "the file is not a readable ZIP/XLSX workbook: %s",
                 zip_error_strerror(&zerr));
        if (src)
            zip_source_free(src);
        zip_error_fini(&zerr);
        return -1;
    }
    zip_error_fini(&zerr);
    int rc = -1, absent;
    size_t n;
    char *wb = NULL, *rels = NULL, *sst = NULL, *ws = NULL;
    json_t *strings = json_array();
    wb_run w = {.x = {.why = why, .whylen = whylen}};
    rels_run r = {.x = {.why = why, .whylen = whylen}};
    sst_run s = {.x = {.why = why, .whylen = whylen}, .strings = strings};
    ws_run x = {.x = {.why = why, .whylen = whylen}, .strings = strings, .max_rows = max_rows};
    if (!(wb = read_part(za, "xl/workbook.xml", &n, &absent, why, whylen))) {
        if (absent)
            snprintf(why, whylen,
                     "the file is a ZIP archive but not an XLSX workbook (no "
                     "xl/workbook.xml): save the table as .xlsx or CSV UTF-8");
        goto out;
    }
    if (parse_xml("xl/workbook.xml", wb, n, &w.x, wb_start, no_end, NULL) != 0)
        goto out;
    if (!w.rid[0]) {
        snprintf(why, whylen, "the workbook has no worksheet");
        goto out;
    }
    r.rid = w.rid;
    if ((rels = read_part(za, "xl/_rels/workbook.xml.rels", &n, &absent, why, whylen)) &&
        parse_xml("xl/_rels/workbook.xml.rels", rels, n, &r.x, rels_start, no_end, NULL) != 0)
        goto out;
    if (!rels && !absent)
        goto out;
    if (!r.target[0]) {
        snprintf(why, whylen, "the workbook does not say where its first worksheet is");
        goto out;
    }
    sst = read_part(za, "xl/sharedStrings.xml", &n, &absent, why, whylen);
    if (!sst && !absent)
        goto out;
    int sst_bad =
        sst && parse_xml("xl/sharedStrings.xml", sst, n, &s.x, sst_start, sst_end, sst_text) != 0;
    free(s.cur.p);
    if (sst_bad)
        goto out;
    if (!(ws = read_part(za, r.target, &n, &absent, why, whylen))) {
        if (absent)
            snprintf(why, whylen, "the workbook's first worksheet (%s) is missing", r.target);
        goto out;
    }
    x.rows = json_array();
    int ws_bad = parse_xml(r.target, ws, n, &x.x, ws_start, ws_end, ws_text) != 0;
    json_decref(x.cells);
    free(x.v.p);
    if (ws_bad || x.v.failed) {
        if (!ws_bad)
            snprintf(why, whylen, "out of memory reading the workbook");
        json_decref(x.rows);
        goto out;
    }
    *rows = x.rows;
    *truncated = x.truncated;
    rc = 0;
out:
    free(wb);
    free(rels);
    free(sst);
    free(ws);
    json_decref(strings);
    zip_discard(za);
    return rc;
}
