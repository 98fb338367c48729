/* Tables as files: one description of a table (JSON) written as CSV or as an XLSX workbook
 * (libxlsxwriter), so every export — a statistics table, a monthly report — has one shape.
 *
 * A sheet is {"name": "概况", "title": "…" (optional), "columns": ["…", …], "rows": [[cell, …], …]}
 * where a cell is a string, a number or null (empty).  All parameters are borrowed. */
#ifndef DW_SRV_TABLE_H
#define DW_SRV_TABLE_H

#include <jansson.h>
#include <stddef.h>

/* The sheets (an array of sheets) as an XLSX workbook: 0 and *out (malloc'd, the caller frees)
 * of *len bytes, or -1 (out of memory, temporary file, a malformed sheet). */
int srv_table_xlsx(const json_t *sheets, unsigned char **out, size_t *len);

/* One sheet as CSV (RFC 4180, UTF-8 with a BOM so spreadsheet programs read the Chinese text;
 * the title, when present, as the first line): malloc'd text, NULL when out of memory. */
char *srv_table_csv(const json_t *sheet, size_t *len);

#endif
