/* Monthly reports (migration 0076): which regions lack one, storing one, listing and reading
 * them under the caller's scope, and the report's own figures (top risks). */
#ifndef DW_DB_REPORTS_H
#define DW_DB_REPORTS_H

#include "db.h"

#include <time.h>

#include <stddef.h>
#include <stdint.h>

void db_reports_register(void);

/* A region a report covers. */
typedef struct db_report_region {
    int64_t id;
    char level[16]; /* city | district | street */
    char code[16];
    char name[128];
} db_report_region;

/* Worker (system scope): up to max regions without a report for month ("YYYY-MM-01"), city
 * first, then districts, then streets; *n how many were written to out. */
db_status db_reports_due(db_conn *c, const char *month, db_report_region *out, size_t max,
                         size_t *n);

/* The region of code (or, code NULL, of id) visible to scope s; *found 0 when there is none. */
db_status db_reports_region(db_conn *c, const db_scope *s, const char *code, int64_t id,
                            db_report_region *out, int *found);

/* The enterprises of scope s with the highest risk (at most limit), as a JSON array: current
 * (at 0), or by each one's last score before moment at. */
db_status db_reports_top_risks(db_conn *c, const db_scope *s, long limit, time_t at, json_t **out);

/* Stores (or, on demand, replaces) the report of region and month; account_id 0 for the
 * schedule, which never replaces one: *id the report's id, or 0 when the schedule found a
 * report made since it chose the region (that one stays).  content is borrowed. */
db_status db_reports_store(db_conn *c, int64_t region_id, const char *month, int64_t account_id,
                           const json_t *content, const unsigned char *xlsx, size_t xlsx_len,
                           int64_t *id);

/* Reports visible to s (newest month first; region code filter optional), paged. */
db_status db_reports_list(db_conn *c, const db_scope *s, const char *region_code, long limit,
                          long offset, json_t **out);
/* One report with its content; *out NULL when not visible. */
db_status db_reports_get(db_conn *c, const db_scope *s, int64_t id, json_t **out);
/* The workbook of a report (malloc'd, caller frees) and a file name for it; *found 0 when not
 * visible. */
db_status db_reports_xlsx(db_conn *c, const db_scope *s, int64_t id, unsigned char **data,
                          size_t *len, char filename[96], int *found);

#endif
