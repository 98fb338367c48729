/* Reports (月报) and exports: GET/POST /api/v1/reports, GET /api/v1/reports/{id}[/xlsx], and
 * GET /api/v1/statistics/export (the statistics table with the active filters as CSV or XLSX).
 * A report is built by the worker's job_report (the same code as the monthly schedule) and
 * stored; reading it again answers what was generated, whatever changed since. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_onboarding.h"
#include "db_reports.h"
#include "db_stats.h"
#include "job_report.h"
#include "srv_config.h"
#include "srv_table.h"
#include "srv_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The interruption records an export writes: every one of the period (the page lists 500 at
 * most), up to this; more is refused rather than cut short. */
#define EXPORT_INTERRUPTIONS_MAX 100000

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
    time_t now = time(NULL) + SRV_CITY_OFFSET_S;
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

/* ---- exports: every statistics table with its active filters ----------------------- */

static json_t *xsheet(const char *name, const char *title, const char *const *cols, size_t n)
{
    json_t *s = json_object(), *c = json_array();
    json_object_set_new(s, "name", json_string(name));
    json_object_set_new(s, "title", json_string(title));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(c, json_string(cols[i]));
    json_object_set_new(s, "columns", c);
    json_object_set_new(s, "rows", json_array());
    return s;
}

/* a row of cells: the values of keys (dotted once: "a.b") of o, copied (null when absent) */
static void xrow(json_t *sheet, const json_t *o, const char *const *keys, size_t n)
{
    json_t *row = json_array();
    for (size_t i = 0; i < n; i++) {
        char k[64];
        snprintf(k, sizeof k, "%s", keys[i]);
        char *dot = strchr(k, '.');
        json_t *v;
        if (dot) {
            *dot = '\0';
            v = json_object_get(json_object_get(o, k), dot + 1);
        } else
            v = json_object_get(o, k);
        json_array_append_new(row, v ? json_deep_copy(v) : json_null());
    }
    json_array_append_new(json_object_get(sheet, "rows"), row);
}

/* the title's list of active filters */
static void title_filters(char *title, size_t cap, const char *const *names,
                          const char *const *vals, size_t n)
{
    size_t len = strlen(title);
    for (size_t i = 0; i < n && len < cap; i++)
        if (vals[i] && *vals[i])
            len += (size_t)snprintf(title + len, cap - len, " %s=%s", names[i], vals[i]);
}

/* the district and street filters of an onboarding export, region codes (NULL when not
 * given); -1 after answering 400 */
static int region_filters(api_req *r, const char **district, const char **street)
{
    return api_query_code(r, "district", "0123456789", 6, 12, district) ||
                   api_query_code(r, "street", "0123456789", 6, 12, street)
               ? -1
               : 0;
}

/* table=onboarding: each cohort's total and streets; table=laggards: every enterprise in a
 * cohort that is not connected, the list a task force chases (both: the onboarding API's
 * filters) */
static json_t *onboarding_sheet(api_req *r, int laggards, db_status *st)
{
    const char *district, *street, *cohort;
    if (region_filters(r, &district, &street) ||
        api_query_code(r, "cohort", "abcdefghijklmnopqrstuvwxyz0123456789_", 1, 40, &cohort))
        return NULL;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    time_t at = 0;
    if (c && api_onboarding_at(r, c, &at)) {
        *st = DB_OK;
        return NULL;
    }
    json_t *o = NULL;
    *st = c ? db_onboarding_progress(c, &s, g_config.connected_window_h * 3600L, at, cohort,
                                     district, street, &o)
            : DB_HARD;
    if (*st != DB_OK || !o) {
        json_decref(o);
        api_reply_db(r, *st != DB_OK ? *st : DB_HARD);
        return NULL;
    }
    char title[512];
    snprintf(title, sizeof title, "%s", laggards ? "应接尽接 未接入企业" : "应接尽接");
    const char *const names[] = {"district", "street", "cohort", "at"};
    const char *const vals[] = {district, street, cohort, at ? api_req_query(r, "at") : NULL};
    title_filters(title, sizeof title, names, vals, 4);
    if (laggards) {
        static const char *const cols[] = {"批次",     "完成时限", "街镇",
                                           "企业编码", "企业名称", "最后数据时间"};
        json_t *sh = xsheet("未接入企业", title, cols, 6);
        size_t i, k, j;
        json_t *co, *str, *e;
        json_array_foreach(json_object_get(o, "cohorts"), i, co)
        {
            json_array_foreach(json_object_get(co, "streets"), k, str)
            {
                json_t *sn = json_object_get(str, "name");
                json_array_foreach(json_object_get(str, "laggards"), j, e)
                {
                    json_t *row = json_array();
                    json_array_append_new(row, json_deep_copy(json_object_get(co, "name")));
                    json_array_append_new(row, json_deep_copy(json_object_get(co, "milestone")));
                    json_array_append_new(row, json_is_string(sn) ? json_deep_copy(sn)
                                                                  : json_string(""));
                    json_array_append_new(row, json_deep_copy(json_object_get(e, "code")));
                    json_array_append_new(row, json_deep_copy(json_object_get(e, "name")));
                    json_t *last = json_object_get(e, "last_data_at");
                    json_array_append_new(row, last ? json_deep_copy(last) : json_null());
                    json_array_append_new(json_object_get(sh, "rows"), row);
                }
            }
        }
        json_decref(o);
        return sh;
    }
    static const char *const cols[] = {"批次",   "完成时限", "街镇代码", "街镇",
                                       "应接入", "已接入",   "在线",     "落后企业"};
    json_t *sh = xsheet("应接尽接", title, cols, 8);
    size_t i, k;
    json_t *co, *str;
    json_array_foreach(json_object_get(o, "cohorts"), i, co)
    {
        json_t *row = json_array();
        json_array_append_new(row, json_deep_copy(json_object_get(co, "name")));
        json_array_append_new(row, json_deep_copy(json_object_get(co, "milestone")));
        json_array_append_new(row, json_string(""));
        json_array_append_new(row, json_string("合计"));
        size_t lag = 0;
        json_array_foreach(json_object_get(co, "streets"), k, str) lag +=
            json_array_size(json_object_get(str, "laggards"));
        json_array_append_new(row, json_deep_copy(json_object_get(co, "in_scope")));
        json_array_append_new(row, json_deep_copy(json_object_get(co, "connected")));
        json_array_append_new(row, json_deep_copy(json_object_get(co, "online")));
        json_array_append_new(row, json_integer((json_int_t)lag));
        json_array_append_new(json_object_get(sh, "rows"), row);
        json_array_foreach(json_object_get(co, "streets"), k, str)
        {
            json_t *sr = json_array();
            json_array_append_new(sr, json_deep_copy(json_object_get(co, "name")));
            json_array_append_new(sr, json_deep_copy(json_object_get(co, "milestone")));
            json_t *sc = json_object_get(str, "code"), *sn = json_object_get(str, "name");
            json_array_append_new(sr, json_is_string(sc) ? json_deep_copy(sc) : json_string(""));
            json_array_append_new(sr, json_is_string(sn) ? json_deep_copy(sn) : json_string(""));
            json_array_append_new(sr, json_deep_copy(json_object_get(str, "in_scope")));
            json_array_append_new(sr, json_deep_copy(json_object_get(str, "connected")));
            json_array_append_new(sr, json_deep_copy(json_object_get(str, "online")));
            json_array_append_new(
                sr, json_integer((json_int_t)json_array_size(json_object_get(str, "laggards"))));
            json_array_append_new(json_object_get(sh, "rows"), sr);
        }
    }
    json_decref(o);
    return sh;
}

/* table=conformance: every dust-removal system in scope that lacks a mandatory point kind,
 * with the kinds it lacks (filters district, street) */
static json_t *conformance_sheet(api_req *r, db_status *st)
{
    const char *district, *street;
    if (region_filters(r, &district, &street))
        return NULL;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *o = NULL;
    *st = c ? db_onboarding_conformance(c, &s, district, street, &o) : DB_HARD;
    if (*st != DB_OK || !o) {
        json_decref(o);
        api_reply_db(r, *st != DB_OK ? *st : DB_HARD);
        return NULL;
    }
    char title[512];
    snprintf(title, sizeof title, "必接点位不符合 %lld / %lld 个除尘系统",
             (long long)json_array_size(json_object_get(o, "nonconforming")),
             (long long)json_integer_value(json_object_get(o, "systems")));
    const char *const names[] = {"district", "street"};
    const char *const vals[] = {district, street};
    title_filters(title, sizeof title, names, vals, 2);
    static const char *const cols[] = {"企业编码", "企业名称", "除尘系统编码",
                                       "除尘系统", "类型",     "缺少的必接点位"};
    json_t *sh = xsheet("必接点位", title, cols, 6);
    size_t i, k;
    json_t *it, *kind;
    json_array_foreach(json_object_get(o, "nonconforming"), i, it)
    {
        static const char *const keys[] = {"enterprise.code", "enterprise.name", "system.code",
                                           "system.name"};
        xrow(sh, it, keys, 4);
        json_t *rows = json_object_get(sh, "rows");
        json_t *row = json_array_get(rows, json_array_size(rows) - 1);
        /* the type by its label (label catalogue, domain system_type) */
        json_t *sys = json_object_get(it, "system");
        json_t *type = json_object_get(json_object_get(sys, "type_label"), "zh");
        json_array_append_new(
            row, json_deep_copy(json_is_string(type) ? type : json_object_get(sys, "type")));
        /* the missing kinds by name, one cell: 料斗温度、压差 */
        char miss[512] = "";
        size_t len = 0;
        json_array_foreach(json_object_get(it, "missing_kinds"), k, kind)
        {
            const char *nm = json_string_value(json_object_get(kind, "name_zh"));
            if (len < sizeof miss)
                len += (size_t)snprintf(miss + len, sizeof miss - len, "%s%s", k ? "、" : "",
                                        nm ? nm : "");
        }
        json_array_append_new(row, json_string(miss));
    }
    json_decref(o);
    return sh;
}

/* the statistics' filters in a title */
static void stats_title(char *title, size_t cap, const char *what, const db_stats_query *q,
                        const char *from_s, const char *to_s)
{
    snprintf(title, cap, "%s %s — %s 分组 %s", what, from_s, to_s, q->group);
    char eid[24] = "";
    if (q->enterprise_id)
        snprintf(eid, sizeof eid, "%lld", (long long)q->enterprise_id);
    const char *const names[] = {"district", "street",     "industry", "dust_kind",
                                 "grade",    "enterprise", "sort"};
    const char *const vals[] = {
        q->district_code, q->street_code, q->industry_code, q->dust_kind, q->grade, eid, q->sort};
    title_filters(title, cap, names, vals, 7);
}

/* table=interruptions: the data-quality interruption records (every one of the period, latest
 * first); table=quality: the data-quality counts per enterprise (those with any); table=online:
 * the online-rate ranking per enterprise (lowest first) */
static json_t *quality_sheet(api_req *r, const char *table, db_status *st)
{
    db_stats_query q;
    char from_s[32], to_s[32];
    if (api_stats_query(r, &q, from_s, to_s) != 0)
        return NULL;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *o = NULL, *sh = NULL;
    char title[512];
    if (strcmp(table, "quality") == 0) {
        /* a row per enterprise with any interruption, frozen or out-of-range value or
         * conflict: the enterprises list is not limited, only the records are */
        *st = c ? db_stats_quality(c, &s, &q, 1, &o) : DB_HARD;
        if (*st == DB_OK && o) {
            q.group = "enterprise";
            stats_title(title, sizeof title, "数据质量", &q, from_s, to_s);
            static const char *const cols[] = {"企业编码", "企业名称", "中断次数", "中断时长(小时)",
                                               "数据冻结", "超量程",   "冲突数据"};
            static const char *const keys[] = {
                "code",   "name",         "interruptions", "interruption_hours",
                "frozen", "out_of_range", "conflicts"};
            sh = xsheet("数据质量", title, cols, 7);
            size_t i;
            json_t *it;
            json_array_foreach(json_object_get(o, "enterprises"), i, it) xrow(sh, it, keys, 7);
        }
    } else if (strcmp(table, "interruptions") == 0) {
        *st = c ? db_stats_quality(c, &s, &q, EXPORT_INTERRUPTIONS_MAX, &o) : DB_HARD;
        json_int_t total = json_integer_value(
            json_object_get(json_object_get(o, "interruptions"), "total")); /* 0 without o */
        if (total > EXPORT_INTERRUPTIONS_MAX) {
            /* a workbook cut short would pass for the whole period */
            json_decref(o);
            api_reply_error(r, API_E_UNPROCESSABLE,
                            "%lld interruptions in this period and scope; an export holds at "
                            "most %d: narrow the period, district or street",
                            (long long)total, EXPORT_INTERRUPTIONS_MAX);
            return NULL;
        }
        if (*st == DB_OK && o) {
            q.group = "none";
            stats_title(title, sizeof title, "数据中断记录", &q, from_s, to_s);
            static const char *const cols[] = {"企业编码", "企业名称", "类型",       "点位", "网关",
                                               "开始",     "结束",     "时长(小时)", "原因"};
            static const char *const keys[] = {"enterprise.code",
                                               "enterprise.name",
                                               "kind",
                                               "point",
                                               "gateway",
                                               "start",
                                               "end",
                                               "hours",
                                               "cause"};
            sh = xsheet("数据中断", title, cols, 9);
            size_t i;
            json_t *it;
            json_array_foreach(json_object_get(json_object_get(o, "interruptions"), "items"), i, it)
                xrow(sh, it, keys, 9);
        }
    } else {
        q.group = "enterprise";
        q.online_only = 1; /* the ranking's columns only */
        *st = c ? db_stats_get(c, &s, &q, &o) : DB_HARD;
        if (*st == DB_OK && o) {
            stats_title(title, sizeof title, "在线率排名", &q, from_s, to_s);
            static const char *const cols[] = {"企业编码", "企业名称",      "点位数",
                                               "应有点时", "有数据点时",    "在线率",
                                               "中断次数", "中断时长(小时)"};
            static const char *const keys[] = {"code",
                                               "name",
                                               "points",
                                               "point_hours",
                                               "point_hours_with_data",
                                               "online_rate",
                                               "interruptions.count",
                                               "interruptions.hours"};
            sh = xsheet("在线率排名", title, cols, 8);
            json_t *rk = api_stats_ranking(o);
            size_t i;
            json_t *it;
            json_array_foreach(rk, i, it) xrow(sh, it, keys, 8);
            json_decref(rk);
        }
    }
    json_decref(o);
    if (!sh)
        api_reply_db(r, *st != DB_OK ? *st : DB_HARD);
    return sh;
}

/* table=statistics (default): the statistics table */
static json_t *statistics_sheet(api_req *r, db_status *st)
{
    db_stats_query q;
    char from_s[32], to_s[32];
    if (api_stats_query(r, &q, from_s, to_s) != 0 || api_stats_sort(r, &q) != 0)
        return NULL;
    json_t *stats = api_stats_fetch(r, &q, from_s, to_s, st);
    if (*st != DB_OK || !stats) {
        api_reply_read(r, *st, stats, "scope");
        return NULL;
    }
    /* the title names the period and every active filter, so a file says what it counts */
    char title[512];
    stats_title(title, sizeof title, "统计分析", &q, from_s, to_s);
    json_t *sheet = job_report_stats_sheet(stats, "统计", title);
    json_decref(stats);
    return sheet;
}

int api_statistics_export(api_req *r)
{
    const char *format = NULL, *table = NULL;
    if (api_query_csv(r, "format", "csv|xlsx", &format) ||
        api_query_csv(r, "table",
                      "statistics|onboarding|laggards|conformance|interruptions|quality|online",
                      &table))
        return 0;
    format = format ? format : "csv";
    table = table ? table : "statistics";
    if (strchr(format, ',') || strchr(table, ','))
        return api_reply_error(r, API_E_BAD_REQUEST, "format and table take one value");
    db_status st = DB_OK;
    json_t *sheet = strcmp(table, "statistics") == 0    ? statistics_sheet(r, &st)
                    : strcmp(table, "onboarding") == 0  ? onboarding_sheet(r, 0, &st)
                    : strcmp(table, "laggards") == 0    ? onboarding_sheet(r, 1, &st)
                    : strcmp(table, "conformance") == 0 ? conformance_sheet(r, &st)
                                                        : quality_sheet(r, table, &st);
    if (!sheet)
        return 0; /* answered */
    char disp[128];
    int rc;
    if (strcmp(format, "csv") == 0) {
        size_t len = 0;
        char *csv = srv_table_csv(sheet, &len);
        json_decref(sheet);
        if (!csv)
            return api_reply_error(r, API_E_INTERNAL, "out of memory");
        snprintf(disp, sizeof disp, "attachment; filename=\"%s.csv\"", table);
        api_reply_add_header(r, "Content-Disposition", disp);
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
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.xlsx\"", table);
    api_reply_add_header(r, "Content-Disposition", disp);
    rc = api_reply_raw(r, 200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       (const char *)xlsx, len);
    free(xlsx);
    return rc;
}

void api_reports_init(void)
{
    job_report_init();
}
