/* Monthly reports (job_report.h). */
#include "job_report.h"

#include "db_onboarding.h"
#include "db_reports.h"
#include "db_spot.h"
#include "db_stats.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_table.h"
#include "srv_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job_report_init(void)
{
    db_reports_register();
    db_stats_register();
    db_onboarding_register();
    db_spot_register();
}

/* ---- sheets ------------------------------------------------------------------------ */

static json_t *path(const json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    return b ? json_object_get(v, b) : v;
}

/* A copy of a number (null stays null) for a cell. */
static json_t *cell(json_t *v)
{
    return json_is_number(v) ? json_deep_copy(v) : json_null();
}

static json_t *sheet(const char *name, const char *title, const char *const *cols, size_t n)
{
    json_t *s = json_object(), *c = json_array();
    json_object_set_new(s, "name", json_string(name));
    if (title)
        json_object_set_new(s, "title", json_string(title));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(c, json_string(cols[i]));
    json_object_set_new(s, "columns", c);
    json_object_set_new(s, "rows", json_array());
    return s;
}

static void add_row(json_t *s, json_t *row)
{
    json_array_append_new(json_object_get(s, "rows"), row);
}

static const char *const stats_cols[] = {
    "名称",       "代码",     "企业数",         "已接入",   "点位数",   "在线点位",
    "在线率",     "中断次数", "中断时长(小时)", "报警数",   "报警超期", "及时处置率",
    "预警数",     "红色预警", "橙色预警",       "黄色预警", "蓝色预警", "按时签收率",
    "按时消警率", "预警超期", "升级次数",       "清理应做", "清理完成", "清理合规率",
    "新增隐患",   "重大隐患", "已整改",         "未整改",   "整改超期"};

static json_t *stats_row(const json_t *f, const char *name, const char *code)
{
    json_t *r = json_array();
    json_array_append_new(r, json_string(name ? name : ""));
    json_array_append_new(r, json_string(code ? code : ""));
    json_t *vals[] = {path(f, "enterprises", NULL),
                      path(f, "connected", NULL),
                      path(f, "points", NULL),
                      path(f, "points_online", NULL),
                      path(f, "online_rate", NULL),
                      path(f, "interruptions", "count"),
                      path(f, "interruptions", "hours"),
                      path(f, "alarms", "total"),
                      path(f, "alarms", "overdue"),
                      path(f, "alarms", "handled_on_time_rate"),
                      path(f, "warnings", "total"),
                      json_object_get(path(f, "warnings", "by_grade"), "red"),
                      json_object_get(path(f, "warnings", "by_grade"), "orange"),
                      json_object_get(path(f, "warnings", "by_grade"), "yellow"),
                      json_object_get(path(f, "warnings", "by_grade"), "blue"),
                      path(f, "warnings", "signed_on_time_rate"),
                      path(f, "warnings", "cleared_on_time_rate"),
                      path(f, "warnings", "overdue"),
                      path(f, "warnings", "escalations"),
                      path(f, "cleaning", "required"),
                      path(f, "cleaning", "done"),
                      path(f, "cleaning", "rate"),
                      path(f, "hazards", "found"),
                      path(f, "hazards", "found_major"),
                      path(f, "hazards", "closed"),
                      path(f, "hazards", "open"),
                      path(f, "hazards", "overdue")};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        json_array_append_new(r, cell(vals[i]));
    return r;
}

json_t *job_report_stats_sheet(const json_t *stats, const char *name, const char *title)
{
    json_t *s = sheet(name, title, stats_cols, sizeof stats_cols / sizeof stats_cols[0]);
    add_row(s, stats_row(json_object_get(stats, "totals"), "合计", ""));
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(stats, "rows"), i, row)
    {
        const char *code = json_string_value(json_object_get(row, "code"));
        const char *nm = json_string_value(json_object_get(row, "name"));
        add_row(s, stats_row(row, nm ? nm : code, code));
    }
    return s;
}

/* label and value rows of the summary sheet */
static void summary(json_t *s, const json_t *t)
{
    struct {
        const char *label;
        json_t *v;
    } rows[] = {
        {"企业数", path(t, "enterprises", NULL)},
        {"已接入企业", path(t, "connected", NULL)},
        {"监测点位", path(t, "points", NULL)},
        {"在线点位（当前）", path(t, "points_online", NULL)},
        {"在线率（时间加权）", path(t, "online_rate", NULL)},
        {"数据中断次数", path(t, "interruptions", "count")},
        {"数据中断时长（小时）", path(t, "interruptions", "hours")},
        {"报警总数", path(t, "alarms", "total")},
        {"一般报警（0级）", json_object_get(path(t, "alarms", "by_level"), "0")},
        {"较重报警（1级）", json_object_get(path(t, "alarms", "by_level"), "1")},
        {"严重报警（2级）", json_object_get(path(t, "alarms", "by_level"), "2")},
        {"报警超期", path(t, "alarms", "overdue")},
        {"及时处置率", path(t, "alarms", "handled_on_time_rate")},
        {"预警总数", path(t, "warnings", "total")},
        {"红色预警", json_object_get(path(t, "warnings", "by_grade"), "red")},
        {"橙色预警", json_object_get(path(t, "warnings", "by_grade"), "orange")},
        {"黄色预警", json_object_get(path(t, "warnings", "by_grade"), "yellow")},
        {"蓝色预警", json_object_get(path(t, "warnings", "by_grade"), "blue")},
        {"按时签收率", path(t, "warnings", "signed_on_time_rate")},
        {"按时消警率", path(t, "warnings", "cleared_on_time_rate")},
        {"预警超期", path(t, "warnings", "overdue")},
        {"升级次数", path(t, "warnings", "escalations")},
        {"清理合规率", path(t, "cleaning", "rate")},
        {"本月新增隐患", path(t, "hazards", "found")},
        {"其中重大隐患", path(t, "hazards", "found_major")},
        {"本月新增隐患已整改", path(t, "hazards", "closed")},
        {"隐患整改率", path(t, "hazards", "closed_rate")},
        {"未整改隐患（当前）", path(t, "hazards", "open")},
        {"其中重大隐患（当前）", path(t, "hazards", "open_major")},
        {"整改超期隐患（当前）", path(t, "hazards", "overdue")},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *r = json_array();
        json_array_append_new(r, json_string(rows[i].label));
        json_array_append_new(r, cell(rows[i].v));
        add_row(s, r);
    }
}

static json_t *workbook(const json_t *content, const char *title)
{
    json_t *sheets = json_array();
    const json_t *stats = json_object_get(content, "statistics");
    static const char *const two[] = {"指标", "数值"};
    json_t *s = sheet("概况", title, two, 2);
    summary(s, json_object_get(stats, "totals"));
    static const char *const spot_rows[][2] = {{"checks", "在线抽查 已检查企业"},
                                               {"findings", "在线抽查 发现问题"},
                                               {"hazards", "在线抽查 转隐患"},
                                               {"closed", "在线抽查 已闭环"}};
    for (size_t i = 0; json_object_get(content, "spot_checks") && i < 4; i++) {
        json_t *r = json_array();
        json_array_append_new(r, json_string(spot_rows[i][1]));
        json_array_append_new(
            r, cell(json_object_get(json_object_get(content, "spot_checks"), spot_rows[i][0])));
        add_row(s, r);
    }
    json_array_append_new(sheets, s);
    json_array_append_new(sheets, job_report_stats_sheet(stats, "分组统计", title));

    /* onboarding, laggards and risks are a state, not a count over the month: their sheets say
     * of when, and whether it was read back from the hourly rollups (job_report_build) */
    char now_title[400];
    snprintf(now_title, sizeof now_title, "%s（状态截至 %s%s）", title,
             json_string_value(json_object_get(content, "state_as_of")),
             json_is_true(json_object_get(content, "state_from_rollups")) ? "，按小时汇总数据回溯"
                                                                          : "");
    static const char *const ccols[] = {"批次", "完成时限", "应接入", "已接入", "在线", "接入率"};
    static const char *const lcols[] = {"批次", "街镇", "企业编码", "企业名称", "最后数据时间"};
    json_t *co = sheet("应接尽接", now_title, ccols, 6),
           *lag = sheet("落后企业", now_title, lcols, 5);
    size_t i, k, m;
    json_t *c, *st, *e;
    json_array_foreach(path(content, "onboarding", "cohorts"), i, c)
    {
        json_t *r = json_array();
        json_array_append_new(r, json_deep_copy(json_object_get(c, "name")));
        json_array_append_new(r, json_deep_copy(json_object_get(c, "milestone")));
        json_array_append_new(r, cell(json_object_get(c, "in_scope")));
        json_array_append_new(r, cell(json_object_get(c, "connected")));
        json_array_append_new(r, cell(json_object_get(c, "online")));
        json_array_append_new(r, cell(json_object_get(c, "rate")));
        add_row(co, r);
        json_array_foreach(json_object_get(c, "streets"), k, st)
        {
            json_array_foreach(json_object_get(st, "laggards"), m, e)
            {
                json_t *lr = json_array();
                json_array_append_new(lr, json_deep_copy(json_object_get(c, "name")));
                json_t *sn = json_object_get(st, "name");
                json_array_append_new(lr,
                                      json_is_string(sn) ? json_deep_copy(sn) : json_string(""));
                json_array_append_new(lr, json_deep_copy(json_object_get(e, "code")));
                json_array_append_new(lr, json_deep_copy(json_object_get(e, "name")));
                json_t *ld = json_object_get(e, "last_data_at");
                json_array_append_new(lr,
                                      json_is_string(ld) ? json_deep_copy(ld) : json_string(""));
                add_row(lag, lr);
            }
        }
    }
    json_array_append_new(sheets, co);
    json_array_append_new(sheets, lag);

    static const char *const rcols[] = {"企业编码", "企业名称", "街镇", "风险等级", "风险值"};
    json_t *rk = sheet("风险排名", now_title, rcols, 5);
    json_array_foreach(json_object_get(content, "top_risks"), i, e)
    {
        json_t *r = json_array(), *sn = json_object_get(e, "street");
        json_array_append_new(r, json_deep_copy(json_object_get(e, "code")));
        json_array_append_new(r, json_deep_copy(json_object_get(e, "name")));
        json_array_append_new(r, json_is_string(sn) ? json_deep_copy(sn) : json_string(""));
        json_array_append_new(r, json_deep_copy(json_object_get(e, "grade")));
        json_array_append_new(r, cell(json_object_get(e, "r")));
        add_row(rk, r);
    }
    json_array_append_new(sheets, rk);

    const json_t *q = json_object_get(content, "quality");
    json_t *dq = sheet("数据质量", title, two, 2);
    struct {
        const char *label;
        json_t *v;
    } qrows[] = {{"数据中断", path(q, "interruptions", "total")},
                 {"中断时长（小时）", path(q, "interruptions", "hours")},
                 {"网关离线（当前）", path(q, "gateways", "offline_now")},
                 {"网关离线次数", path(q, "gateways", "offline_episodes")},
                 {"数据冻结报警", json_object_get(q, "frozen")},
                 {"超量程报警", json_object_get(q, "out_of_range")},
                 {"冲突数据", json_object_get(q, "conflicts")}};
    for (i = 0; i < sizeof qrows / sizeof qrows[0]; i++) {
        json_t *r = json_array();
        json_array_append_new(r, json_string(qrows[i].label));
        json_array_append_new(r, cell(qrows[i].v));
        add_row(dq, r);
    }
    json_array_append_new(sheets, dq);
    return sheets;
}

/* ---- generation -------------------------------------------------------------------- */

/* The moment month (1..12; 13: January of the next year) of year starts in the city's calendar */
static time_t city_month_start(int year, int month)
{
    struct tm first = {
        .tm_year = year - 1900 + (month - 1) / 12, .tm_mon = (month - 1) % 12, .tm_mday = 1};
    return timegm(&first) - SRV_CITY_OFFSET_S;
}

db_status job_report_build(db_conn *c, const db_report_region *region, int year, int month,
                           json_t **content_out, unsigned char **xlsx, size_t *xlsx_len)
{
    db_scope sc;
    memset(&sc, 0, sizeof sc);
    snprintf(sc.rls, sizeof sc.rls, "%s:%lld", region->level, (long long)region->id);
    snprintf(sc.kind, sizeof sc.kind, "%s", region->level);
    snprintf(sc.id, sizeof sc.id, "%lld", (long long)region->id);
    db_stats_query q = {.from = city_month_start(year, month),
                        .to = city_month_start(year, month + 1),
                        .connected_window_s = g_config.connected_window_h * 3600L};
    q.group = strcmp(region->level, "city") == 0       ? "district"
              : strcmp(region->level, "district") == 0 ? "street"
                                                       : "enterprise";
    /* onboarding, laggards and risks as they were at the month's end once the hourly rollups
     * reach it (a report made later, or again, says what was true then); before that, the month
     * has just ended and they are read as they are now */
    db_onboarding_at_answer answer;
    time_t at = 0, rolled;
    db_status st = db_onboarding_at_check(c, time(NULL), q.to, &answer, &rolled);
    if (st == DB_OK && answer == DB_ONB_AT_OK)
        at = q.to;
    json_t *stats = NULL, *onb = NULL, *dq = NULL, *top = NULL;
    if (st == DB_OK)
        st = db_stats_get(c, &sc, &q, &stats);
    if (st == DB_OK)
        st = db_onboarding_progress(c, &sc, q.connected_window_s, at, NULL, NULL, NULL, &onb);
    if (st == DB_OK)
        st = db_stats_quality(c, &sc, &q, 50, &dq);
    if (st == DB_OK)
        st = db_reports_top_risks(c, &sc, 10, at, &top);
    if (st == DB_OK && (!stats || !onb || !dq || !top))
        st = DB_HARD;
    if (st != DB_OK) {
        json_decref(stats);
        json_decref(onb);
        json_decref(dq);
        json_decref(top);
        return st;
    }
    char mon[32], title[320];
    snprintf(mon, sizeof mon, "%04d-%02d", year, month);
    snprintf(title, sizeof title, "%s 粉尘涉爆企业监测预警月报 %s", region->name, mon);
    json_t *content = json_object();
    json_t *reg = json_object();
    json_object_set_new(reg, "id", json_integer(region->id));
    json_object_set_new(reg, "code", json_string(region->code));
    json_object_set_new(reg, "name", json_string(region->name));
    json_object_set_new(reg, "level", json_string(region->level));
    json_object_set_new(content, "region", reg);
    json_object_set_new(content, "month", json_string(mon));
    json_object_set_new(content, "title", json_string(title));
    json_object_set_new(content, "statistics", stats);
    json_object_set_new(content, "onboarding", onb);
    json_object_set_new(content, "quality", dq);
    json_object_set_new(content, "top_risks", top);
    /* the moment onboarding, laggards and top risks are of (workbook): the month's end, or when
     * they were read */
    char as_of[SRV_CITY_MINUTE_LEN];
    srv_city_minute(at ? at : time(NULL), as_of);
    json_object_set_new(content, "state_as_of", json_string(as_of));
    json_object_set_new(content, "state_from_rollups", json_boolean(at != 0));
    /* 在线抽查 (issue 14 item 3) and hazards are both counted now: nothing left out */
    json_t *spot = NULL;
    char sp_from[32], sp_to[32];
    struct tm tf, tt;
    gmtime_r(&q.from, &tf);
    gmtime_r(&q.to, &tt);
    strftime(sp_from, sizeof sp_from, "%Y-%m-%dT%H:%M:%SZ", &tf);
    strftime(sp_to, sizeof sp_to, "%Y-%m-%dT%H:%M:%SZ", &tt);
    if (db_spot_figures(c, &sc, sp_from, sp_to, NULL, NULL, 0, &spot) != DB_OK || !spot) {
        json_decref(content);
        return DB_HARD;
    }
    json_object_set_new(content, "spot_checks", spot);
    json_object_set_new(content, "not_counted", json_array());
    json_t *sheets = workbook(content, title);
    int rc = srv_table_xlsx(sheets, xlsx, xlsx_len);
    json_decref(sheets);
    if (rc != 0) {
        LOG_ERROR("report workbook failed", "region=%lld month=%s", (long long)region->id, mon);
        json_decref(content);
        return DB_HARD;
    }
    *content_out = content;
    return DB_OK;
}

db_status job_report_generate(db_conn *c, const db_report_region *region, int year, int month,
                              int64_t account_id, int64_t *id)
{
    json_t *content = NULL;
    unsigned char *xlsx = NULL;
    size_t len = 0;
    db_status st = job_report_build(c, region, year, month, &content, &xlsx, &len);
    if (st != DB_OK)
        return st;
    char month_date[32];
    snprintf(month_date, sizeof month_date, "%04d-%02d-01", year, month);
    st = db_reports_store(c, region->id, month_date, account_id, content, xlsx, len, id);
    free(xlsx);
    json_decref(content);
    return st;
}

/* How long after a month's end its scheduled reports wait for the hourly rollups to reach it */
#define REPORT_ROLLUP_WAIT_S (6 * 3600)

db_status job_report_run(db_conn *c, time_t now, size_t max, size_t *made)
{
    *made = 0;
    if (!g_config.reports_monthly || max == 0)
        return DB_OK;
    time_t local = now + SRV_CITY_OFFSET_S;
    struct tm tm;
    gmtime_r(&local, &tm);
    int year = tm.tm_year + 1900, month = tm.tm_mon; /* the month before: 0 = December */
    if (month == 0) {
        month = 12;
        year--;
    }
    char month_date[32];
    snprintf(month_date, sizeof month_date, "%04d-%02d-01", year, month);
    db_report_region due[8];
    size_t n = 0;
    db_status st = db_reports_due(c, month_date, due, max < 8 ? max : 8, &n);
    /* the month's reports wait until the hourly rollups reach its end (rollup_lag_s after
     * midnight), so that every one of them has the onboarding and risks of that moment
     * (job_report_build); past REPORT_ROLLUP_WAIT_S they are made with the state as it is.
     * Asked only while reports are due: not every tick of those hours */
    time_t month_end = city_month_start(year, month + 1);
    if (st == DB_OK && n > 0 && now < month_end + REPORT_ROLLUP_WAIT_S) {
        db_onboarding_at_answer answer;
        time_t rolled;
        st = db_onboarding_at_check(c, now, month_end, &answer, &rolled);
        if (st == DB_OK && answer == DB_ONB_AT_NOT_ROLLED)
            return DB_OK;
    }
    for (size_t i = 0; st == DB_OK && i < n; i++) {
        int64_t id;
        st = job_report_generate(c, &due[i], year, month, 0, &id);
        if (st == DB_OK && id == 0) {
            LOG_INFO("monthly report made meanwhile kept", "region=%s month=%04d-%02d", due[i].code,
                     year, month);
        } else if (st == DB_OK) {
            (*made)++;
            LOG_INFO("monthly report generated", "region=%s month=%04d-%02d report=%lld",
                     due[i].code, year, month, (long long)id);
        }
    }
    return st;
}
