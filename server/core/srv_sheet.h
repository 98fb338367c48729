/* Tables from files: the first worksheet of an XLSX workbook read back as rows of text, so an
 * import takes what a spreadsheet program saves (and what srv_table_xlsx writes) as readily as
 * CSV.  The archive is opened with libzip and its XML read with expat, streaming, in memory.
 *
 * A cell becomes the text a person sees in it: shared and inline strings as written, numbers
 * in their shortest form (an integral value without ".0"), booleans as "true"/"false", a
 * formula as its cached result, an error as its code ("#N/A").  Dates stay serial numbers: the
 * import tables have no date columns.  Ownership: data is borrowed; *rows is a new reference. */
#ifndef DW_SRV_SHEET_H
#define DW_SRV_SHEET_H

#include <jansson.h>
#include <stddef.h>

/* 1 when data starts like a ZIP archive (an XLSX workbook, or any other ZIP). */
int srv_sheet_is_zip(const void *data, size_t len);

/* The first worksheet's non-empty rows, in order, as
 *   [{"row": <the sheet's row number, from 1>, "cells": ["text", …]}, …]
 * (cells by column from A, a missing cell as ""), at most max_rows of them: more set
 * *truncated.  0, or -1 with why (one sentence for the person who sent the file: not a
 * workbook, no worksheet, too large, malformed XML) and *rows NULL. */
int srv_sheet_xlsx_rows(const void *data, size_t len, size_t max_rows, json_t **rows,
                        int *truncated, char *why, size_t whylen);

/* Why data is not UTF-8 CSV text (UTF-16, GBK as Excel's plain "CSV" writes it on a Chinese
 * Windows, other bytes), as advice for the person who sent it; NULL when it is UTF-8. */
const char *srv_sheet_csv_refusal(const void *data, size_t len);

/* Rows as srv_sheet_xlsx_rows gives them, as CSV text (RFC 4180, every cell quoted, CRLF) with
 * one line per sheet row — an empty line where the sheet has a blank row — so a CSV reader's
 * record numbers are the sheet's row numbers (cells holding line breaks aside).  malloc'd,
 * *len bytes without the terminating NUL; NULL when out of memory. */
char *srv_sheet_as_csv(const json_t *rows, size_t *len);

#endif
