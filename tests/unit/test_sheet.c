/* Unit tests for server/core/srv_sheet: a workbook written by srv_table_xlsx (libxlsxwriter)
 * reads back as the table it was made from; hand-made workbooks (built here with libzip) cover
 * what other writers do — inline strings, rich text with phonetic runs, booleans, formulas,
 * skipped cells, namespace prefixes, sheets in another order — and what no workbook may do:
 * a DTD, a shared string that is not there, a part larger than the bound, a damaged archive. */
#include "srv_sheet.h"
#include "srv_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "unit_check.h"

#define NS  "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define RNS "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define PNS "http://schemas.openxmlformats.org/package/2006/relationships"
#define WB                                                                                         \
    "<workbook xmlns=\"" NS "\" xmlns:r=\"" RNS                                                    \
    "\"><sheets><sheet name=\"a\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
#define RELS                                                                                       \
    "<Relationships xmlns=\"" PNS                                                                  \
    "\"><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/></Relationships>"

/* A workbook of the given parts (NULL name ends the list), in memory: malloc'd, *len bytes. */
static unsigned char *make_zip(const char *const *parts, size_t *len)
{
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &err);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    if (!za)
        return NULL;
    zip_source_keep(src);
    for (size_t i = 0; parts[i]; i += 2) {
        zip_source_t *s = zip_source_buffer(za, parts[i + 1], strlen(parts[i + 1]), 0);
        zip_file_add(za, parts[i], s, ZIP_FL_OVERWRITE);
    }
    zip_close(za);
    zip_source_open(src);
    zip_source_seek(src, 0, SEEK_END);
    zip_int64_t n = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    unsigned char *out = malloc((size_t)n);
    zip_source_read(src, out, (zip_uint64_t)n);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&err);
    *len = (size_t)n;
    return out;
}

static json_t *read_rows(const unsigned char *x, size_t len, size_t max, int *trunc, char *why)
{
    json_t *rows = NULL;
    why[0] = '\0';
    if (srv_sheet_xlsx_rows(x, len, max, &rows, trunc, why, 300) != 0) {
        CHECK(rows == NULL && why[0] != '\0');
        return NULL;
    }
    return rows;
}

static const char *cell(json_t *rows, size_t r, size_t c)
{
    return json_string_value(json_array_get(json_object_get(json_array_get(rows, r), "cells"), c));
}

static void test_round_trip_of_our_export(void)
{
    json_t *sheets =
        json_pack("[{s:s, s:[s,s,s,s], s:[[s,i,f,s], [s,n,f,s], [s,i,f,n]]}]", "name", "测点",
                  "columns", "企业编码", "数量", "限值", "备注", "rows", "310113000001", 3, -12.5,
                  "=HYPERLINK(\"x\")", "两行\n文字", 0.1, "℃ 温度", "310113000002", 0, 1e-7);
    unsigned char *x = NULL;
    size_t len = 0;
    CHECK(srv_table_xlsx(sheets, &x, &len) == 0 && srv_sheet_is_zip(x, len));
    int trunc = -1;
    char why[300];
    json_t *rows = read_rows(x, len, 100, &trunc, why);
    CHECK(rows && json_array_size(rows) == 4 && trunc == 0);
    CHECK(strcmp(cell(rows, 0, 0), "企业编码") == 0 && strcmp(cell(rows, 0, 3), "备注") == 0);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 1), "row")) == 2);
    CHECK(strcmp(cell(rows, 1, 0), "310113000001") == 0 && strcmp(cell(rows, 1, 1), "3") == 0);
    CHECK(strcmp(cell(rows, 1, 2), "-12.5") == 0 &&
          strcmp(cell(rows, 1, 3), "=HYPERLINK(\"x\")") == 0);
    CHECK(strcmp(cell(rows, 2, 0), "两行\n文字") == 0 && strcmp(cell(rows, 2, 1), "") == 0);
    CHECK(strcmp(cell(rows, 2, 2), "0.1") == 0 && strcmp(cell(rows, 2, 3), "℃ 温度") == 0);
    CHECK(strcmp(cell(rows, 3, 1), "0") == 0 && strcmp(cell(rows, 3, 2), "1e-07") == 0);
    /* the last cell was null: the row ends before it */
    CHECK(json_array_size(json_object_get(json_array_get(rows, 3), "cells")) == 3);
    json_decref(rows);
    /* at most max rows: the rest is cut and said so */
    rows = read_rows(x, len, 2, &trunc, why);
    CHECK(rows && json_array_size(rows) == 2 && trunc == 1);
    json_decref(rows);
    /* a damaged archive: cut in half */
    CHECK(read_rows(x, len / 2, 100, &trunc, why) == NULL && strstr(why, "ZIP"));
    free(x);
    json_decref(sheets);
}

static void test_other_writers(void)
{
    /* the first sheet in tab order is rId3 and lives under an absolute target */
    const char *parts[] = {
        "xl/workbook.xml",
        "<x:workbook xmlns:x=\"" NS "\" xmlns:rel=\"" RNS "\"><x:sheets><x:sheet name=\"first\" "
        "sheetId=\"9\" rel:id=\"rId3\"/><x:sheet name=\"second\" sheetId=\"1\" rel:id=\"rId1\"/>"
        "</x:sheets></x:workbook>",
        "xl/_rels/workbook.xml.rels",
        "<Relationships xmlns=\"" PNS
        "\"><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/>"
        "<Relationship Id=\"rId3\" Target=\"/xl/worksheets/other.xml\"/></Relationships>",
        "xl/sharedStrings.xml",
        "<sst xmlns=\"" NS "\"><si><t>plain</t></si><si><r><t>rich </t></r><r><rPr/><t>text</t></r>"
        "<rPh sb=\"0\" eb=\"1\"><t>フリガナ</t></rPh></si></sst>",
        "xl/worksheets/sheet1.xml",
        "<worksheet xmlns=\"" NS "\"><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>"
        "</sheetData></worksheet>",
        "xl/worksheets/other.xml",
        "<x:worksheet xmlns:x=\"" NS "\"><x:sheetData>"
        "<x:row r=\"1\"><x:c r=\"A1\" t=\"s\"><x:v>1</x:v></x:c><x:c r=\"C1\" "
        "t=\"inlineStr\"><x:is>"
        "<x:t>in&amp;line</x:t></x:is></x:c><x:c r=\"D1\" t=\"b\"><x:v>1</x:v></x:c>"
        "<x:c r=\"E1\" t=\"b\"><x:v>0</x:v></x:c></x:row>"
        "<x:row r=\"2\"><x:c r=\"A2\"/></x:row>"
        "<x:row r=\"4\"><x:c r=\"B4\"><x:f>1+1</x:f><x:v>2</x:v></x:c><x:c r=\"C4\" "
        "t=\"str\"><x:f>A1"
        "</x:f><x:v>plain</x:v></x:c><x:c r=\"D4\" t=\"e\"><x:v>#N/A</x:v></x:c>"
        "<x:c r=\"E4\"><x:v>35.000000000000</x:v></x:c><x:c "
        "r=\"F4\"><x:v>1.0E+3</x:v></x:c></x:row>"
        "<x:row><x:c><x:v>7</x:v></x:c><x:c><x:v>8</x:v></x:c></x:row>"
        "</x:sheetData></x:worksheet>",
        NULL};
    size_t len;
    unsigned char *x = make_zip(parts, &len);
    int trunc;
    char why[300];
    json_t *rows = read_rows(x, len, 100, &trunc, why);
    CHECK(rows && json_array_size(rows) == 3); /* row 2 is blank: left out */
    CHECK(strcmp(cell(rows, 0, 0), "rich text") == 0 && strcmp(cell(rows, 0, 1), "") == 0);
    CHECK(strcmp(cell(rows, 0, 2), "in&line") == 0 && strcmp(cell(rows, 0, 3), "true") == 0 &&
          strcmp(cell(rows, 0, 4), "false") == 0);
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 1), "row")) == 4);
    CHECK(strcmp(cell(rows, 1, 0), "") == 0 && strcmp(cell(rows, 1, 1), "2") == 0 &&
          strcmp(cell(rows, 1, 2), "plain") == 0 && strcmp(cell(rows, 1, 3), "#N/A") == 0 &&
          strcmp(cell(rows, 1, 4), "35") == 0 && strcmp(cell(rows, 1, 5), "1000") == 0);
    /* a row and cells without references follow the ones before */
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 2), "row")) == 5);
    CHECK(strcmp(cell(rows, 2, 0), "7") == 0 && strcmp(cell(rows, 2, 1), "8") == 0);
    json_decref(rows);
    free(x);
}

static void refused(const char *sheet, const char *sst, const char *words)
{
    const char *parts[] = {"xl/workbook.xml",
                           WB,
                           "xl/_rels/workbook.xml.rels",
                           RELS,
                           "xl/worksheets/sheet1.xml",
                           sheet,
                           sst ? "xl/sharedStrings.xml" : NULL,
                           sst,
                           NULL};
    size_t len;
    unsigned char *x = make_zip(parts, &len);
    int trunc;
    char why[300];
    json_t *rows = read_rows(x, len, 100, &trunc, why);
    CHECK(rows == NULL && strstr(why, words) != NULL);
    if (!rows && !strstr(why, words))
        fprintf(stderr, "  wanted \"%s\" in: %s\n", words, why);
    json_decref(rows);
    free(x);
}

static void test_refused(void)
{
    refused("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><worksheet xmlns=\"" NS "\"><sheetData><row><c "
            "t=\"inlineStr\"><is><t>&a;</t></is></c></row></sheetData></worksheet>",
            NULL, "document type");
    refused("<worksheet xmlns=\"" NS "\"><sheetData><row><c t=\"s\"><v>5</v></c></row></sheetData>"
            "</worksheet>",
            "<sst xmlns=\"" NS "\"><si><t>one</t></si></sst>", "shared string");
    refused("<worksheet xmlns=\"" NS "\"><sheetData><row><c r=\"ZZZZ1\"><v>1</v></c></row>"
            "</sheetData></worksheet>",
            NULL, "column 256");
    refused("<worksheet xmlns=\"" NS "\"><sheetData><row r=\"1048577\"><c><v>1</v></c></row>"
            "</sheetData></worksheet>",
            NULL, "row 1048576");
    refused("<worksheet xmlns=\"" NS "\"><sheetData><row>", NULL, "not well-formed");
    /* a ZIP that is no workbook, and one whose sheet is missing */
    const char *plain[] = {"readme.txt", "hello", NULL};
    size_t len;
    unsigned char *x = make_zip(plain, &len);
    int trunc;
    char why[300];
    CHECK(read_rows(x, len, 10, &trunc, why) == NULL && strstr(why, "not an XLSX workbook"));
    free(x);
    const char *nosheet[] = {"xl/workbook.xml", WB, "xl/_rels/workbook.xml.rels", RELS, NULL};
    x = make_zip(nosheet, &len);
    CHECK(read_rows(x, len, 10, &trunc, why) == NULL && strstr(why, "missing"));
    free(x);
    /* a part that inflates past the bound (64 MB of one repeated byte compresses to ~64 KB) */
    size_t big = ((size_t)64 << 20) + 10;
    char *filler = malloc(big + 1);
    memset(filler, ' ', big);
    filler[big] = '\0';
    const char *bomb[] = {"xl/workbook.xml",
                          WB,
                          "xl/_rels/workbook.xml.rels",
                          RELS,
                          "xl/worksheets/sheet1.xml",
                          filler,
                          NULL};
    x = make_zip(bomb, &len);
    CHECK(len < big / 100);
    CHECK(read_rows(x, len, 10, &trunc, why) == NULL && strstr(why, "larger than"));
    free(x);
    free(filler);
    CHECK(!srv_sheet_is_zip("PK", 2) && !srv_sheet_is_zip("a,b\n", 4));
}

int main(void)
{
    test_round_trip_of_our_export();
    test_other_writers();
    test_refused();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_sheet: all passed\n");
    return 0;
}
