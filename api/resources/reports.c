/* Reports (月报) and exports: GET/POST /api/v1/reports, GET /api/v1/reports/{id}[/xlsx], and
 * GET /api/v1/statistics/export (the statistics table with the active filters as CSV or XLSX).
 * A report is built by the worker's job_report (the same code as the monthly schedule) and
 * stored; reading it again answers what was generated, whatever changed since. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_reports.h"
#include "db_stats.h"
#include "job_report.h"
#include "srv_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CITY_OFFSET_S (8 * 3600)

int api_reports_list(api_req *r)
{
    long limit, offset;
    const char *region = api_req_query(r, "region");
    if (api_query_int(r, "limit", 50, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st =
        c ? db_reports_list(c, &s, region && *region ? region : NULL, limit, offset, &out)
          : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

int api_report_get(api_req *r)
{
    return api_read_by_id(r, "report", db_reports_get);
}

int api_report_xlsx(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id <= 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such report");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    if (!c)
        return 0;
    unsigned char *data = NULL;
    size_t len = 0;
    char name[96];
    int found = 0;
    db_status st = db_reports_xlsx(c, &s, id, &data, &len, name, &found);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such report");
    char disp[160];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
    api_reply_add_header(r, "Content-Disposition", disp);
    int rc =
        api_reply_raw(r, 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                      (const char *)data, len);
    free(data);
    return rc;
}

/* ---- generate on demand ------------------------------------------------------------ */

typedef struct {
    const db_report_region *region;
    const char *month_date;
    const json_t *content;
    const unsigned char *xlsx;
    size_t len;
    int64_t id;
} store_ctx;

static db_status store_tx(api_req *r, db_conn *c, void *arg)
{
    store_ctx *x = arg;
    db_status st = db_reports_store(c, x->region->id, x->month_date, api_req_caller(r)->account_id,
                                    x->content, x->xlsx, x->len, &x->id);
    if (st != DB_OK)
        return st;
    char detail[96];
    snprintf(detail, sizeof detail, "region=%s month=%.7s", x->region->code, x->month_date);
    return api_audit_tx(r, c, "generate", "report", "ok", detail);
}

int api_report_create(api_req *r)
{
    json_t *body = api_optional_body(r);
    if (!body)
        return 0;
    static const char *const allowed[] = {"region", "month"};
    if (api_json_strict(r, body, allowed, 2) != 0) {
        json_decref(body);
        return 0;
    }
    const char *region = json_string_value(json_object_get(body, "region"));
    const char *month = json_string_value(json_object_get(body, "month"));
    int year = 0, mon = 0;
    char tail;
    time_t now = time(NULL) + CITY_OFFSET_S;
    struct tm today;
    gmtime_r(&now, &today);
    if (!month) { /* default: the month that ended */
        year = today.tm_year + 1900;
        mon = today.tm_mon;
        if (mon == 0) {
            mon = 12;
            year--;
        }
    } else if (sscanf(month, "%4d-%2d%c", &year, &mon, &tail) != 2 || strlen(month) != 7 ||
               year < 2000 || mon < 1 || mon > 12) {
        json_decref(body);
        return api_reply_error(r, API_E_BAD_REQUEST, "month must be YYYY-MM");
    }
    if (year * 12 + mon > (today.tm_year + 1900) * 12 + today.tm_mon + 1) {
        json_decref(body);
        return api_reply_error(r, API_E_UNPROCESSABLE, "month %04d-%02d has not begun", year, mon);
    }
    if ((json_object_get(body, "region") && !region) || (region && !*region)) {
        json_decref(body);
        return api_reply_error(r, API_E_BAD_REQUEST, "region must be a region code");
    }
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    if (!c) {
        json_decref(body);
        return 0;
    }
    /* default: the caller's own region */
    db_report_region reg;
    int found = 0;
    db_status st =
        db_reports_region(c, &s, region, region ? 0 : api_req_caller(r)->scope_id, &reg, &found);
    json_decref(body);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!found)
        return api_reply_error(r, API_E_NOT_FOUND, "no such region in your scope");
    json_t *content = NULL;
    unsigned char *xlsx = NULL;
    size_t len = 0;
    st = job_report_build(c, &reg, year, mon, &content, &xlsx, &len);
    if (st != DB_OK)
        return api_reply_db(r, st);
    char month_date[32];
    snprintf(month_date, sizeof month_date, "%04d-%02d-01", year, mon);
    store_ctx x = {
        .region = &reg, .month_date = month_date, .content = content, .xlsx = xlsx, .len = len};
    st = api_tx(r, store_tx, &x);
    free(xlsx);
    json_decref(content);
    if (st != DB_OK)
        return api_reply_db(r, st);
    json_t *out = NULL;
    st = db_reports_get(c, &s, x.id, &out);
    if (st != DB_OK || !out)
        return api_reply_read(r, st, out, "report");
    return api_reply_json(r, 201, out);
}

/* ---- statistics export --------------------------------------------------------------- */

int api_statistics_export(api_req *r)
{
    const char *format = NULL;
    if (api_query_csv(r, "format", "csv|xlsx", &format))
        return 0;
    format = format ? format : "csv";
    if (strchr(format, ','))
        return api_reply_error(r, API_E_BAD_REQUEST, "format takes one value: csv or xlsx");
    db_stats_query q;
    char from_s[32], to_s[32];
    if (api_stats_query(r, &q, from_s, to_s) != 0)
        return 0;
    db_status st;
    json_t *stats = api_stats_fetch(r, &q, from_s, to_s, &st);
    if (st != DB_OK || !stats)
        return api_reply_read(r, st, stats, "scope");
    /* the title names the period and every active filter, so a file says what it counts */
    char title[512];
    int n = snprintf(title, sizeof title, "统计分析 %s — %s 分组 %s", from_s, to_s, q.group);
    const char *names[] = {"district", "street", "industry", "dust_kind", "grade"};
    const char *vals[] = {q.district_code, q.street_code, q.industry_code, q.dust_kind, q.grade};
    for (size_t i = 0; i < 5 && n > 0 && (size_t)n < sizeof title; i++)
        if (vals[i])
            n += snprintf(title + n, sizeof title - (size_t)n, " %s=%s", names[i], vals[i]);
    if (q.enterprise_id && n > 0 && (size_t)n < sizeof title)
        snprintf(title + n, sizeof title - (size_t)n, " enterprise=%lld",
                 (long long)q.enterprise_id);
    json_t *sheet = job_report_stats_sheet(stats, "统计", title);
    json_decref(stats);
    int rc;
    if (strcmp(format, "csv") == 0) {
        size_t len = 0;
        char *csv = srv_table_csv(sheet, &len);
        json_decref(sheet);
        if (!csv)
            return api_reply_error(r, API_E_INTERNAL, "out of memory");
        api_reply_add_header(r, "Content-Disposition", "attachment; filename=\"statistics.csv\"");
        rc = api_reply_raw(r, 200, "text/csv; charset=utf-8", csv, len);
        free(csv);
        return rc;
    }
    json_t *sheets = json_array();
    json_array_append_new(sheets, sheet);
    unsigned char *xlsx = NULL;
    size_t len = 0;
    int bad = srv_table_xlsx(sheets, &xlsx, &len);
    json_decref(sheets);
    if (bad)
        return api_reply_error(r, API_E_INTERNAL, "the workbook could not be written");
    api_reply_add_header(r, "Content-Disposition", "attachment; filename=\"statistics.xlsx\"");
    rc = api_reply_raw(r, 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       (const char *)xlsx, len);
    free(xlsx);
    return rc;
}

void api_reports_init(void)
{
    job_report_init();
}
