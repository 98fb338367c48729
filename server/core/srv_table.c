/* CSV and XLSX writers for table descriptions (srv_table.h). */
#include "srv_table.h"

#include "srv_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

/* Excel limits sheet names to 31 characters (bytes here: our names are short) and forbids a few
 * characters; a name that breaks the rules gets a numbered one instead of failing the file. */
static void sheet_name(const json_t *sheet, size_t i, char out[32])
{
    const char *n = json_string_value(json_object_get(sheet, "name"));
    if (n && strlen(n) <= 31 && !strpbrk(n, "[]:*?/\\"))
        snprintf(out, 32, "%s", n);
    else
        snprintf(out, 32, "Sheet%zu", i + 1);
}

int srv_table_xlsx(const json_t *sheets, unsigned char **out, size_t *len)
{
    if (!json_is_array(sheets))
        return -1;
    const char *tmpdir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/dw-xlsx-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    int rc = -1;
    lxw_workbook *wb = workbook_new(path);
    if (!wb)
        goto done;
    lxw_format *bold = workbook_add_format(wb);
    format_set_bold(bold);
    size_t i;
    json_t *sheet;
    json_array_foreach(sheets, i, sheet)
    {
        char name[32];
        sheet_name(sheet, i, name);
        lxw_worksheet *ws = workbook_add_worksheet(wb, name);
        if (!ws)
            continue;
        lxw_row_t row = 0;
        const char *title = json_string_value(json_object_get(sheet, "title"));
        if (title) {
            worksheet_write_string(ws, row++, 0, title, bold);
            row++;
        }
        json_t *cols = json_object_get(sheet, "columns"), *v;
        size_t c;
        json_array_foreach(cols, c, v)
        {
            worksheet_write_string(ws, row, (lxw_col_t)c,
                                   json_string_value(v) ? json_string_value(v) : "", bold);
            worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, c == 0 ? 24 : 14, NULL);
        }
        row++;
        json_t *r;
        size_t k;
        json_array_foreach(json_object_get(sheet, "rows"), k, r)
        {
            json_array_foreach(r, c, v)
            {
                if (json_is_number(v))
                    worksheet_write_number(ws, row, (lxw_col_t)c, json_number_value(v), NULL);
                else if (json_is_string(v))
                    worksheet_write_string(ws, row, (lxw_col_t)c, json_string_value(v), NULL);
                else if (json_is_boolean(v))
                    worksheet_write_string(ws, row, (lxw_col_t)c, json_is_true(v) ? "是" : "否",
                                           NULL);
            }
            row++;
        }
    }
    if (workbook_close(wb) != LXW_NO_ERROR)
        goto done;
    FILE *f = fopen(path, "rb");
    if (!f)
        goto done;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
        if (buf && fseek(f, 0, SEEK_SET) == 0 && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            *out = buf;
            *len = (size_t)n;
            rc = 0;
        } else {
            free(buf);
        }
    }
    fclose(f);
done:
    unlink(path);
    return rc;
}

/* ---- CSV ----------------------------------------------------------------------------- */

static void put_field(srv_buf *b, const json_t *v)
{
    char num[64];
    const char *s = "";
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        s = (snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)), num);
    else if (json_is_real(v))
        s = (snprintf(num, sizeof num, "%.10g", json_real_value(v)), num);
    else if (json_is_boolean(v))
        s = json_is_true(v) ? "true" : "false";
    /* quote when needed; a leading = + - @ would be a formula in a spreadsheet: quote it and
     * prefix an apostrophe, so an exported name never runs as one */
    int formula = json_is_string(v) && strchr("=+-@", s[0]) && s[0];
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        srv_buf_add(b, s, strlen(s));
        return;
    }
    srv_buf_add(b, "\"", 1);
    if (formula)
        srv_buf_add(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            srv_buf_add(b, "\"", 1); /* a quote inside a quoted field is doubled */
        srv_buf_add(b, p, 1);
    }
    srv_buf_add(b, "\"", 1);
}

char *srv_table_csv(const json_t *sheet, size_t *len)
{
    srv_buf b = {0};
    srv_buf_add(&b, "\xEF\xBB\xBF", 3);
    const char *title = json_string_value(json_object_get(sheet, "title"));
    if (title) {
        put_field(&b, json_object_get(sheet, "title"));
        srv_buf_add(&b, "\r\n", 2);
    }
    json_t *v, *r;
    size_t c, k;
    json_array_foreach(json_object_get(sheet, "columns"), c, v)
    {
        if (c)
            srv_buf_add(&b, ",", 1);
        put_field(&b, v);
    }
    srv_buf_add(&b, "\r\n", 2);
    json_array_foreach(json_object_get(sheet, "rows"), k, r)
    {
        json_array_foreach(r, c, v)
        {
            if (c)
                srv_buf_add(&b, ",", 1);
            put_field(&b, v);
        }
        srv_buf_add(&b, "\r\n", 2);
    }
    return srv_buf_take(&b, len);
}
