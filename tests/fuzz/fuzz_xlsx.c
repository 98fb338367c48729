/* The XLSX reader (srv_sheet_xlsx_rows).  Random bytes rarely make a ZIP whose
 * parts pass their CRC, so the harness builds a valid workbook in memory and
 * lets the input be one of its XML parts: the first byte picks which
 * (worksheet, shared strings, workbook, relationships), the rest is the part;
 * the other parts are those of a small valid workbook.  A whole-input archive
 * is also tried when the input starts like a ZIP.  Invariants: an answer or
 * a refusal with a reason, never both, and every row's cells are strings. */
#include "fuzz_common.h"

#include "srv_sheet.h"

#include <string.h>
#include <zip.h>

#define NS  "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define RNS "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define PNS "http://schemas.openxmlformats.org/package/2006/relationships"

static const char *const names[4] = {"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml",
                                     "xl/workbook.xml", "xl/_rels/workbook.xml.rels"};
static const char *const defaults[4] = {
    "<worksheet xmlns=\"" NS "\"><sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c "
    "r=\"B1\"><v>1.5</v></c></row></sheetData></worksheet>",
    "<sst xmlns=\"" NS "\"><si><t>a</t></si><si><r><t>b</t></r></si></sst>",
    "<workbook xmlns=\"" NS "\" xmlns:r=\"" RNS "\"><sheets><sheet name=\"a\" sheetId=\"1\" "
    "r:id=\"rId1\"/></sheets></workbook>",
    "<Relationships xmlns=\"" PNS "\"><Relationship Id=\"rId1\" "
    "Target=\"worksheets/sheet1.xml\"/></Relationships>"};

static void check(const void *x, size_t len)
{
    json_t *rows = NULL;
    int trunc = 0;
    char why[300];
    why[0] = '\0';
    if (srv_sheet_xlsx_rows(x, len, 50, &rows, &trunc, why, sizeof why) != 0) {
        FUZZ_CHECK(rows == NULL && why[0] != '\0');
        return;
    }
    FUZZ_CHECK(json_is_array(rows) && json_array_size(rows) <= 50);
    size_t i, j;
    json_t *r, *c;
    json_array_foreach(rows, i, r)
    {
        FUZZ_CHECK(json_integer_value(json_object_get(r, "row")) >= 1);
        json_array_foreach(json_object_get(r, "cells"), j, c) FUZZ_CHECK(json_is_string(c));
    }
    json_decref(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (srv_sheet_is_zip(data, size)) {
        check(data, size);
        return 0;
    }
    if (size < 1)
        return 0;
    int pick = data[0] % 4;
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &err);
    FUZZ_CHECK(src);
    zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &err);
    FUZZ_CHECK(za);
    zip_source_keep(src);
    for (int i = 0; i < 4; i++) {
        zip_source_t *s = i == pick ? zip_source_buffer(za, data + 1, size - 1, 0)
                                    : zip_source_buffer(za, defaults[i], strlen(defaults[i]), 0);
        zip_int64_t idx = zip_file_add(za, names[i], s, 0);
        FUZZ_CHECK(idx >= 0);
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    FUZZ_CHECK(zip_close(za) == 0);
    FUZZ_CHECK(zip_source_open(src) == 0);
    zip_source_seek(src, 0, SEEK_END);
    zip_int64_t n = zip_source_tell(src);
    zip_source_seek(src, 0, SEEK_SET);
    unsigned char *x = malloc((size_t)n);
    FUZZ_CHECK(x && zip_source_read(src, x, (zip_uint64_t)n) == n);
    zip_source_close(src);
    zip_source_free(src);
    zip_error_fini(&err);
    check(x, (size_t)n);
    free(x);
    return 0;
}
