/* Monthly reports (月报): the figures of a region's month gathered from the statistics,
 * onboarding, data quality and risk, written as a workbook (srv_table) and stored
 * (db_reports).  The worker generates the month that just ended for every region; the API
 * generates one on demand and exports statistics tables through job_report_stats_sheet. */
#ifndef DW_JOB_REPORT_H
#define DW_JOB_REPORT_H

#include "db.h"
#include "db_reports.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Registers the statements the reports read and write (idempotent). */
void job_report_init(void);

/* The content (new reference) and workbook (malloc'd) of region's report for month (year,
 * 1..12; the city's calendar), read under the region's own scope.  Outside a transaction. */
db_status job_report_build(db_conn *c, const db_report_region *region, int year, int month,
                           json_t **content, unsigned char **xlsx, size_t *xlsx_len);

/* Generates and stores the report of region for month (year, 1..12; the city's calendar);
 * account_id 0 for the schedule.  *id the stored report (0: the schedule's was not stored, a
 * report made meanwhile stays).  Outside a transaction. */
db_status job_report_generate(db_conn *c, const db_report_region *region, int year, int month,
                              int64_t account_id, int64_t *id);

/* The schedule: generates up to max reports of the month before now that are missing (city,
 * districts, streets); *made how many.  Does nothing when reports_monthly is 0. */
db_status job_report_run(db_conn *c, time_t now, size_t max, size_t *made);

/* A statistics answer (GET /api/v1/statistics, borrowed) as one sheet (new reference): a
 * totals row and one row per group, the figures as columns. */
json_t *job_report_stats_sheet(const json_t *stats, const char *name, const char *title);

#endif
