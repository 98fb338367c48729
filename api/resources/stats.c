/* Statistics (统计分析): GET /api/v1/statistics — the figures of a period for the caller's scope,
 * grouped by district, street, industry, dust kind or risk grade, each linking to the list it
 * counts (drill-down).  Computed in PostgreSQL (db_stats.c); periods are the city's calendar
 * (UTC+8: days from 00:00, weeks from Monday, months from the 1st). */
#include "api_auth.h"
#include "api_cache.h"
#include "api_handlers.h"

#include "db_spot.h"
#include "db_stats.h"
#include "srv_buf.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_clock.h"

#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_RANGE_S (366L * 86400)
/* Rows per page of a statistic: a page of a ranking by enterprise.  The whole table of a city
 * (2,000 rows of 25 links, 7 MB) cost ~30 ms of server CPU per request to write and hash; the
 * export (CSV, XLSX) writes every row. */
#define STATS_PAGE_DEFAULT 100
#define STATS_PAGE_MAX     5000

/* The period [from, to) of kind (day|week|month) containing the city's calendar day date
 * ("YYYY-MM-DD"); -1 when date is malformed. */
int api_stats_period_bounds(const char *kind, const char *date, time_t *from, time_t *to)
{
    int y, m, d;
    char tail;
    if (sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(date) != 10 || y < 2000 ||
        y > 2100 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t day = timegm(&tm);
    struct tm back;
    gmtime_r(&day, &back);
    if (back.tm_mday != d) /* 31 April and the like */
        return -1;
    if (strcmp(kind, "day") == 0) {
        *from = day;
        *to = day + 86400;
    } else if (strcmp(kind, "week") == 0) {
        int since_monday = (back.tm_wday + 6) % 7;
        *from = day - (time_t)since_monday * 86400;
        *to = *from + 7 * 86400;
    } else {
        struct tm first = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1};
        struct tm next = {
            .tm_year = m == 12 ? y - 1900 + 1 : y - 1900, .tm_mon = m == 12 ? 0 : m, .tm_mday = 1};
        *from = timegm(&first);
        *to = timegm(&next);
    }
    /* the calendar is the city's (UTC+8): its midnight is 16:00 UTC the day before */
    *from -= SRV_CITY_OFFSET_S;
    *to -= SRV_CITY_OFFSET_S;
    return 0;
}

/* ---- drill-down links ------------------------------------------------------ */

typedef struct {
    char base[512]; /* "from=..&to=..&district=..&street=.." (already escaped) */
    char ents[256]; /* the enterprise list's filters */
    char now[256];  /* district, street, enterprise: lists of what is open now (hazards) */
} link_ctx;

static void append_param(char *buf, size_t cap, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s=", n ? "&" : "", name);
    for (const unsigned char *p = (const unsigned char *)value; *p && n + 4 < cap; p++) {
        if (isalnum(*p) || strchr("-_.~", *p))
            buf[n++] = (char)*p;
        else
            n += (size_t)snprintf(buf + n, cap - n, "%%%02X", *p);
    }
    buf[n < cap ? n : cap - 1] = '\0';
}

/* The links are written as text, not built as jansson objects: by enterprise an answer holds
 * 2,000 rows of 25 links (7 MB), and building and serialising those objects took 120 ms of
 * server CPU a request at 2,000 enterprises.  A link is path?q1&extra, where q1 and extra are
 * made of append_param's escaped characters and fixed text: nothing in it needs JSON escaping. */
static void write_url(srv_buf *b, const char *path, const char *q1, const char *extra)
{
    int with_q1 = q1 && *q1, with_extra = extra && *extra;
    srv_buf_putc(b, '"');
    srv_buf_puts(b, path);
    if (with_q1 || with_extra)
        srv_buf_putc(b, '?');
    if (with_q1)
        srv_buf_puts(b, q1);
    if (with_q1 && with_extra)
        srv_buf_putc(b, '&');
    if (with_extra)
        srv_buf_puts(b, extra);
    srv_buf_putc(b, '"');
}

/* "name":"url", after a comma unless *first; name is one of ours (no escaping needed) */
static void write_link(srv_buf *b, int *first, const char *name, const char *path, const char *q1,
                       const char *extra)
{
    if (!*first)
        srv_buf_putc(b, ',');
    srv_buf_putc(b, '"');
    srv_buf_puts(b, name);
    srv_buf_puts(b, "\":");
    write_url(b, path, q1, extra);
    *first = 0;
}

/* a member name from data, escaped as JSON, and its colon */
static void write_name(srv_buf *b, const char *name)
{
    json_t *n = json_string(name);
    srv_buf_json(b, n, 0);
    json_decref(n);
    srv_buf_putc(b, ':');
}

/* The links of one figures object under the filters of lc, as a JSON object; kinds (borrowed)
 * are its alarm kinds, an array of strings. */
static void write_links(srv_buf *b, const link_ctx *lc, json_t *kinds)
{
    int first = 1;
    srv_buf_putc(b, '{');
    write_link(b, &first, "enterprises", "/api/v1/enterprises", lc->ents, NULL);
    write_link(b, &first, "alarms", "/api/v1/alarms", lc->base, NULL);
    write_link(b, &first, "alarms_overdue", "/api/v1/alarms", lc->base, "overdue=true");
    /* the interruptions open at any time in the period, as counted (during=true) */
    write_link(b, &first, "interruptions", "/api/v1/alarms", lc->base,
               "kind=offline%2Centerprise_offline%2Cgateway_offline&during=true");
    write_link(b, &first, "warnings", "/api/v1/warnings", lc->base, NULL);
    write_link(b, &first, "warnings_overdue", "/api/v1/warnings", lc->base, "overdue=true");
    write_link(b, &first, "cleaning", "/api/v1/cleaning/compliance", lc->base, NULL);
    srv_buf_puts(b, ",\"alarms_by_level\":{");
    int inner = 1;
    for (int i = 0; i <= 2; i++) {
        char k[2] = {(char)('0' + i), 0}, q[16];
        snprintf(q, sizeof q, "level=%d", i);
        write_link(b, &inner, k, "/api/v1/alarms", lc->base, q);
    }
    srv_buf_puts(b, "},\"alarms_by_kind\":{");
    size_t i;
    json_t *v;
    inner = 1;
    json_array_foreach(kinds, i, v)
    {
        const char *kind = json_string_value(v);
        if (!kind)
            continue;
        char q[96] = "";
        append_param(q, sizeof q, "kind", kind);
        if (!inner)
            srv_buf_putc(b, ',');
        write_name(b, kind); /* a kind is data */
        write_url(b, "/api/v1/alarms", lc->base, q);
        inner = 0;
    }
    srv_buf_puts(b, "},\"warnings_by_grade\":{");
    static const char *const grades[] = {"blue", "yellow", "orange", "red"};
    inner = 1;
    for (size_t g = 0; g < 4; g++) {
        char q[32];
        snprintf(q, sizeof q, "grade=%s", grades[g]);
        write_link(b, &inner, grades[g], "/api/v1/warnings", lc->base, q);
    }
    srv_buf_putc(b, '}');
    /* hazards: found in the period (confirmed; closed of them), open and overdue now */
    static const char *const confirmed =
        "status=reported%2Cplanned%2Crectified%2Crejected%2Cclosed";
    write_link(b, &first, "hazards_found", "/api/v1/hazards", lc->base, confirmed);
    write_link(b, &first, "hazards_found_major", "/api/v1/hazards", lc->base,
               "kind=major&status=reported%2Cplanned%2Crectified%2Crejected%2Cclosed");
    write_link(b, &first, "hazards_closed", "/api/v1/hazards", lc->base, "status=closed");
    write_link(b, &first, "hazards_open", "/api/v1/hazards", lc->now, "open=true");
    write_link(b, &first, "hazards_open_major", "/api/v1/hazards", lc->now, "open=true&kind=major");
    write_link(b, &first, "hazards_overdue", "/api/v1/hazards", lc->now, "overdue=true");
    srv_buf_putc(b, '}');
}

/* The lists' filters for a figures object counted over c's enterprises; the alarm, warning and
 * hazard lists name the enterprise's risk grade risk_grade (their grade is their own). */
typedef struct {
    const char *district, *street, *industry, *dust_kind, *grade, *enterprise;
} link_class;

/* c's filters after buf's; the grade under grade_name; the enterprise unless without_enterprise */
static void append_class(char *buf, size_t cap, const link_class *c, const char *grade_name,
                         int without_enterprise)
{
    append_param(buf, cap, "district", c->district);
    append_param(buf, cap, "street", c->street);
    append_param(buf, cap, "industry", c->industry);
    append_param(buf, cap, "dust_kind", c->dust_kind);
    append_param(buf, cap, grade_name, c->grade);
    if (!without_enterprise)
        append_param(buf, cap, "enterprise", c->enterprise);
}

static void link_base(link_ctx *lc, const char *from, const char *to, const link_class *c)
{
    lc->base[0] = lc->ents[0] = lc->now[0] = '\0';
    append_param(lc->base, sizeof lc->base, "from", from);
    append_param(lc->base, sizeof lc->base, "to", to);
    append_class(lc->base, sizeof lc->base, c, "risk_grade", 0);
    append_class(lc->now, sizeof lc->now, c, "risk_grade", 0);
    append_class(lc->ents, sizeof lc->ents, c, "grade", 1);
}

/* ---- the request ----------------------------------------------------------- */

int api_stats_query(api_req *r, db_stats_query *q, char from_s[32], char to_s[32])
{
    static const char *const groups = "district|street|enterprise|industry|dust_kind|grade|none";
    const char *period, *group;
    long enterprise;
    memset(q, 0, sizeof *q);
    if (api_query_csv(r, "period", "day|week|month|custom", &period) ||
        api_query_csv(r, "group", groups, &group) ||
        api_query_code(r, "district", "0123456789", 6, 12, &q->district_code) ||
        api_query_code(r, "street", "0123456789", 6, 12, &q->street_code) ||
        api_query_class(r, "industry", "dust_kind", "grade", &q->industry_code, &q->dust_kind,
                        &q->grade) ||
        api_query_id(r, "enterprise", &enterprise))
        return -1;
    if ((period && strchr(period, ',')) || (group && strchr(group, ',')))
        return api_reply_error(r, API_E_BAD_REQUEST, "period and group take one value"), -1;
    q->group = group ? group : "none";
    q->enterprise_id = enterprise;
    period = period ? period : "month";
    if (strcmp(period, "custom") == 0) {
        const char *f = api_req_query(r, "from"), *t = api_req_query(r, "to");
        if (!f || !t || api_parse_time(f, &q->from) != 0 || api_parse_time(t, &q->to) != 0)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "period=custom needs from and to, RFC 3339 with offset or "
                                   "epoch milliseconds"),
                   -1;
        q->from -= q->from % 3600; /* whole hours: what the hourly rollups can answer */
        if (q->to <= q->from || q->to - q->from > MAX_RANGE_S)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "to must be after from, and the range at most 366 days"),
                   -1;
        /* and to the end of its last hour: a range ending inside an hour that is rolled up
         * would count that hour from every point's raw readings (an hour of 40,000 points'
         * 5-minute readings is 480,000 rows), its rollup rows holding the whole hour */
        if (q->to % 3600)
            q->to += 3600 - q->to % 3600;
    } else {
        const char *date = api_req_query(r, "date");
        char today[11];
        if (!date) {
            time_t now = time(NULL) + SRV_CITY_OFFSET_S;
            struct tm tm;
            gmtime_r(&now, &tm);
            strftime(today, sizeof today, "%Y-%m-%d", &tm);
            date = today;
        }
        if (api_stats_period_bounds(period, date, &q->from, &q->to) != 0)
            return api_reply_error(r, API_E_BAD_REQUEST,
                                   "date must be a calendar day YYYY-MM-DD (2000..2100)"),
                   -1;
    }
    q->connected_window_s = g_config.connected_window_h * 3600L;
    q->raw = g_config.stats_day_rollup ? 0 : 1;
    /* a snapshot counted after the caller's last write through this process (a second more
     * for PostgreSQL's clock and this one's rounding): others' writes show at the next one */
    q->snapshot_max_age_s = (int)(3 * g_config.stats_snapshot_s);
    q->snapshot_after = api_caller_last_write_s(r) + 1;
    api_format_time(q->from, from_s);
    api_format_time(q->to, to_s);
    return 0;
}

/* "|a|b|...": the sort orders a ranking may ask for, less its first '|' */
#define SORT_NAME(name, lowest_first) "|" #name
static const char stats_sorts[] = DB_STATS_SORT_KEYS(SORT_NAME);

int api_stats_sort(api_req *r, db_stats_query *q)
{
    if (api_query_csv(r, "sort", stats_sorts + 1, &q->sort))
        return -1;
    if (q->sort && strchr(q->sort, ','))
        return api_reply_error(r, API_E_BAD_REQUEST, "sort takes one value"), -1;
    return 0;
}

/* the active filters, as the answer names them (new reference) */
static json_t *filters_json(const db_stats_query *q)
{
    json_t *filters = json_object();
    json_object_set_new(filters, "district",
                        q->district_code ? json_string(q->district_code) : json_null());
    json_object_set_new(filters, "street",
                        q->street_code ? json_string(q->street_code) : json_null());
    json_object_set_new(filters, "industry",
                        q->industry_code ? json_string(q->industry_code) : json_null());
    json_object_set_new(filters, "dust_kind",
                        q->dust_kind ? json_string(q->dust_kind) : json_null());
    json_object_set_new(filters, "grade", q->grade ? json_string(q->grade) : json_null());
    json_object_set_new(filters, "enterprise",
                        q->enterprise_id ? json_integer(q->enterprise_id) : json_null());
    return filters;
}

json_t *api_stats_fetch(api_req *r, const db_stats_query *q, const char *from_s, const char *to_s,
                        db_status *st)
{
    (void)from_s;
    (void)to_s;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    *st = c ? db_stats_get(c, &s, q, &out) : DB_HARD;
    if (*st == DB_OK && out)
        json_object_set_new(out, "filters", filters_json(q));
    return out;
}

/* A figures object with "links" written after its own members: figures, its JSON text as
 * PostgreSQL wrote it (an object, so it ends in '}'); kinds (borrowed), its alarm kinds (a
 * JSON array of strings). */
static void write_figures(srv_buf *b, const char *figures, json_t *kinds, const link_ctx *lc)
{
    size_t n = strlen(figures);
    if (n < 2 || figures[n - 1] != '}' || !json_is_array(kinds)) {
        b->failed = 1;
        return;
    }
    srv_buf_add(b, figures, n - 1);
    srv_buf_puts(b, ",\"links\":");
    write_links(b, lc, kinds);
    srv_buf_putc(b, '}');
}

/* The rows' alarm kinds, parsed once per distinct list: the rows of a table mostly share one
 * (2,000 parses of the same text were ~5 % of the server's CPU for a whole table). */
typedef struct {
    char *text; /* malloc'd */
    json_t *kinds;
} kinds_memo;

/* text's kinds (borrowed from m, valid until the next call or kinds_memo_clear); NULL when
 * text is not JSON or out of memory */
static json_t *kinds_memo_get(kinds_memo *m, const char *text)
{
    if (m->text && strcmp(m->text, text) == 0)
        return m->kinds;
    free(m->text);
    json_decref(m->kinds);
    json_error_t e;
    m->kinds = json_loads(text, 0, &e);
    m->text = m->kinds ? strdup(text) : NULL;
    if (!m->text) {
        json_decref(m->kinds);
        m->kinds = NULL;
    }
    return m->kinds;
}

static void kinds_memo_clear(kinds_memo *m)
{
    free(m->text);
    json_decref(m->kinds);
}

/* The answer as the GET's JSON text (malloc'd, *len bytes; NULL when out of memory or the
 * rows were not JSON objects): head (borrowed) with every figures object, the totals and each
 * row of rows, given its drill-down links. */
static char *stats_text(json_t *head, db_stats_rows *rows, const db_stats_query *q,
                        const char *from_s, const char *to_s, size_t offset, size_t limit,
                        size_t *len)
{
    srv_buf b = {0};
    char eid[24] = "";
    if (q->enterprise_id)
        snprintf(eid, sizeof eid, "%lld", (long long)q->enterprise_id);
    int by_enterprise = strcmp(q->group, "enterprise") == 0;
    link_ctx lc;
    kinds_memo memo = {0};
    const char *k;
    json_t *v;
    int first = 1;
    srv_buf_putc(&b, '{');
    json_object_foreach(head, k, v)
    {
        if (!first)
            srv_buf_putc(&b, ',');
        first = 0;
        write_name(&b, k);
        if (strcmp(k, "totals") != 0) {
            srv_buf_json(&b, v, JSON_COMPACT);
            continue;
        }
        const link_class all = {q->district_code, q->street_code, q->industry_code,
                                q->dust_kind,     q->grade,       eid};
        link_base(&lc, from_s, to_s, &all);
        json_t *names = json_array();
        const char *kind;
        json_t *n;
        json_object_foreach(json_object_get(json_object_get(v, "alarms"), "by_kind"), kind, n)
            json_array_append_new(names, json_string(kind));
        char *totals = json_dumps(v, JSON_COMPACT);
        if (totals)
            write_figures(&b, totals, names, &lc);
        else
            b.failed = 1;
        free(totals);
        json_decref(names);
        srv_buf_puts(&b, ",\"rows\":[");
        size_t count = db_stats_rows_count(rows),
               end = offset + limit < count ? offset + limit : count;
        for (size_t i = offset; i < end; i++) {
            db_stats_row row;
            if (db_stats_rows_row(rows, i, &row) != 0) {
                b.failed = 1;
                break;
            }
            link_class rc = {q->district_code, q->street_code, q->industry_code,
                             q->dust_kind,     q->grade,       eid};
            if (strcmp(q->group, "district") == 0)
                rc.district = row.code;
            else if (strcmp(q->group, "street") == 0)
                rc.street = row.code;
            /* the row of enterprises without a code or a dust kind links to them ("none"),
             * not to every enterprise */
            else if (strcmp(q->group, "industry") == 0)
                rc.industry = row.code && *row.code ? row.code : "none";
            else if (strcmp(q->group, "dust_kind") == 0)
                rc.dust_kind = row.code && *row.code ? row.code : "none";
            else if (strcmp(q->group, "grade") == 0)
                rc.grade = row.code;
            else if (by_enterprise) /* the key is the enterprise's id */
                rc.enterprise = row.key;
            link_base(&lc, from_s, to_s, &rc);
            if (by_enterprise) /* the list finds one enterprise by its exact code */
                append_param(lc.ents, sizeof lc.ents, "q", row.code);
            if (i > offset)
                srv_buf_putc(&b, ',');
            write_figures(&b, row.figures, kinds_memo_get(&memo, row.kinds), &lc);
        }
        srv_buf_putc(&b, ']');
    }
    srv_buf_putc(&b, '}');
    kinds_memo_clear(&memo);
    return srv_buf_take(&b, len);
}

/* A statistic is the same for every account of a scope and query, costs PostgreSQL seconds
 * for a district's month, and changes slowly: reused for stats_cache_ms (api_cache.h).  The
 * key holds every input of the answer: the scope, the resolved period, the filters, the ranking
 * and the page. */
int api_statistics_get(api_req *r)
{
    db_stats_query q;
    char from_s[32], to_s[32];
    long limit, offset;
    if (api_stats_query(r, &q, from_s, to_s) != 0 || api_stats_sort(r, &q) != 0 ||
        api_query_int(r, "limit", STATS_PAGE_DEFAULT, 1, STATS_PAGE_MAX, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset))
        return 0;
    char key[320];
#define OR_(x) ((x) ? (x) : "")
    api_cache_key(r, key, sizeof key, "%s|%s|%s|%s|%s|%s|%s|%s|%lld|%ld|%d|%ld|%ld|%s", from_s,
                  to_s, q.group, OR_(q.district_code), OR_(q.street_code), OR_(q.industry_code),
                  OR_(q.dust_kind), OR_(q.grade), (long long)q.enterprise_id, q.connected_window_s,
                  q.raw, limit, offset, OR_(q.sort));
#undef OR_
    int mine = 0;
    int64_t age_ms = 0;
    size_t hit_len = 0;
    char *hit =
        api_cache_get(API_CACHE_STATS, key, g_config.stats_cache_ms, &mine, &age_ms, &hit_len);
    if (hit)
        return api_cache_reply(r, hit, hit_len, age_ms);
    unsigned long gen = api_write_generation(); /* before the data: see overview.c */
    int64_t started = srv_mono_ms();
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    db_stats_rows *rows = NULL;
    db_status st =
        c ? db_stats_get_rows(c, g_config.stats_halves ? api_req_spare_db(r) : NULL, &s, &q, &rows)
          : DB_HARD;
    api_req_release_spare_db(r);
    json_t *head = st == DB_OK ? db_stats_rows_head(rows) : NULL;
    if (st == DB_OK && !head)
        st = DB_HARD;
    /* 在线抽查 (issue 14 item 3): checks done in the period, findings, hazards, closed */
    if (st == DB_OK) {
        json_object_set_new(head, "filters", filters_json(&q));
        json_object_set_new(head, "sort", q.sort ? json_string(q.sort) : json_null());
        json_object_set_new(head, "rows_total",
                            json_integer((json_int_t)db_stats_rows_count(rows)));
        json_object_set_new(head, "offset", json_integer(offset));
        json_object_set_new(head, "limit", json_integer(limit));
        json_t *spot = NULL;
        st = db_spot_figures(c, &s, from_s, to_s, q.district_code, q.street_code, q.enterprise_id,
                             &spot);
        json_object_set_new(head, "spot_checks", spot ? spot : json_null());
    }
    size_t len = 0;
    char *text = st == DB_OK
                     ? stats_text(head, rows, &q, from_s, to_s, (size_t)offset, (size_t)limit, &len)
                     : NULL;
    /* A snapshot's answer is not kept: it may predate another caller's write, whom the cache
     * (shared by the accounts of a scope) would then serve it; it is cheap to sum again. */
    int keep = rows && !db_stats_rows_from_snapshot(rows);
    json_decref(head);
    db_stats_rows_free(rows);
    if (mine)
        api_cache_put_text(API_CACHE_STATS, key, keep ? text : NULL, len, gen, started);
    if (!text)
        return api_reply_db(r, st != DB_OK ? st : DB_HARD);
    return api_reply_json_text(r, text, len);
}

/* ---- the alarm trend: counted in PostgreSQL (the page counted at most 500 a level) ---- */

int api_alarm_trend_get(api_req *r)
{
    long days;
    if (api_query_int(r, "days", 7, 1, 92, &days))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_stats_alarm_trend(c, &s, days, &out) : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

/* ---- data quality ------------------------------------------------------------------ */

static int by_rate(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_t *rx = json_object_get(x, "online_rate"), *ry = json_object_get(y, "online_rate");
    /* lowest first; no points (no rate) last */
    if (json_is_null(rx) != json_is_null(ry))
        return json_is_null(rx) - json_is_null(ry);
    double dx = json_number_value(rx), dy = json_number_value(ry);
    if (dx != dy && !json_is_null(rx))
        return dx < dy ? -1 : 1;
    const char *cx = json_string_value(json_object_get(x, "code"));
    const char *cy = json_string_value(json_object_get(y, "code"));
    return strcmp(cx ? cx : "", cy ? cy : ""); /* ties: by code, as the rows came */
}

/* The rows of a statistics answer (borrowed) as an online-rate ranking (new reference). */
json_t *api_stats_ranking(json_t *stats)
{
    json_t *rows = json_object_get(stats, "rows");
    size_t n = json_array_size(rows), i;
    json_t **v = calloc(n ? n : 1, sizeof *v), *row;
    json_t *out = json_array();
    if (!v)
        return out;
    json_array_foreach(rows, i, row)
    {
        json_t *o = json_object();
        static const char *const keys[] = {"key",
                                           "code",
                                           "name",
                                           "points",
                                           "points_online",
                                           "point_hours",
                                           "point_hours_with_data",
                                           "online_rate"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            json_object_set(o, keys[k], json_object_get(row, keys[k]));
        json_t *intr = json_object_get(row, "interruptions");
        json_object_set(o, "interruptions", intr);
        v[i] = o;
    }
    qsort(v, n, sizeof *v, by_rate);
    for (i = 0; i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    return out;
}

int api_data_quality_get(api_req *r)
{
    db_stats_query q;
    char from_s[32], to_s[32];
    long limit;
    if (api_stats_query(r, &q, from_s, to_s) != 0 || api_query_int(r, "limit", 100, 1, 500, &limit))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    if (!c)
        return api_reply_db(r, DB_HARD);
    json_t *out = NULL, *ents = NULL, *streets = NULL;
    db_status st = db_stats_quality(c, &s, &q, limit, &out);
    q.online_only = 1; /* what the ranking and its totals show */
    q.group = "enterprise";
    if (st == DB_OK)
        st = db_stats_get(c, &s, &q, &ents);
    q.group = "street";
    if (st == DB_OK)
        st = db_stats_get(c, &s, &q, &streets);
    if (st == DB_OK && out && ents && streets) {
        json_t *rk = json_object();
        json_object_set_new(rk, "enterprises", api_stats_ranking(ents));
        json_object_set_new(rk, "streets", api_stats_ranking(streets));
        json_object_set_new(rk, "totals", json_deep_copy(json_object_get(ents, "totals")));
        json_object_del(json_object_get(rk, "totals"), "alarms");
        json_object_del(json_object_get(rk, "totals"), "warnings");
        json_object_del(json_object_get(rk, "totals"), "cleaning");
        json_object_set_new(out, "online", rk);
    }
    json_decref(ents);
    json_decref(streets);
    return api_reply_read(r, st, out, "scope");
}

void api_stats_init(void)
{
    db_stats_register();
}
