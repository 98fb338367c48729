/* Enterprises: the archive (一企一档), list, create, update, CSV export and
 * import of the district's survey table (粉尘涉爆企业基础情况表). */
#include "api_auth.h"
#include "api_cache.h"
#include "api_handlers.h"
#include "db_enterprises.h"

#include "srv_event.h"
#include "srv_sheet.h"
#include "srv_config.h"
#include "srv_log.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The archive's editable fields: who may change them and how the survey
 * table names them.  The database layer knows the same names as columns. */
typedef enum { F_TEXT, F_INT, F_FLOAT, F_TEXTARR, F_JSON, F_ENUM } field_type;
enum { BY_DISTRICT = 1, BY_ENTERPRISE = 2 };

typedef struct {
    const char *name; /* JSON field = column */
    const char *csv;  /* survey-table column header */
    field_type type;
    unsigned editable; /* who may change it */
    int required;      /* on create */
    const char *enums; /* F_ENUM: "a|b|c" */
} field;

static const field fields[] = {
    {"code", "企业编码", F_TEXT, BY_DISTRICT, 1, NULL},
    {"uscc", "统一社会信用代码", F_TEXT, BY_DISTRICT, 1, NULL},
    {"name", "企业名称", F_TEXT, BY_DISTRICT, 1, NULL},
    {"address", "地址", F_TEXT, BY_DISTRICT, 0, NULL},
    {"longitude", "经度", F_FLOAT, BY_DISTRICT, 0, NULL},
    {"latitude", "纬度", F_FLOAT, BY_DISTRICT, 0, NULL},
    {"industry_code", "行业代码", F_TEXT, BY_DISTRICT, 0, NULL},
    {"status", "企业状态", F_ENUM, BY_DISTRICT, 0, "producing|stopped|overhaul"},
    {"connection_status", "接入状态", F_ENUM, BY_DISTRICT, 0, "not_connected|connected|suspended"},
    {"principal_name", "主要负责人", F_TEXT, BY_DISTRICT | BY_ENTERPRISE, 0, NULL},
    {"principal_phone", "主要负责人电话", F_TEXT, BY_DISTRICT | BY_ENTERPRISE, 0, NULL},
    {"safety_manager_name", "安全负责人", F_TEXT, BY_DISTRICT | BY_ENTERPRISE, 0, NULL},
    {"safety_manager_phone", "安全负责人电话", F_TEXT, BY_DISTRICT | BY_ENTERPRISE, 0, NULL},
    {"dust_kinds", "粉尘种类", F_TEXTARR, BY_DISTRICT, 0, NULL},
    {"dust_workers", "涉粉作业人数", F_INT, BY_DISTRICT, 0, NULL},
    {"zone20_count", "20区数量", F_INT, BY_DISTRICT, 0, NULL},
    {"zone21_count", "21区数量", F_INT, BY_DISTRICT, 0, NULL},
    {"zone22_count", "22区数量", F_INT, BY_DISTRICT, 0, NULL},
    {"building_storeys", "建筑层数", F_ENUM, BY_DISTRICT, 0, "single|multi"},
    {"building_frame", "建筑结构", F_ENUM, BY_DISTRICT, 0, "frame|non_frame"},
    {"gathering_rooms", "人员聚集场所数", F_INT, BY_DISTRICT, 0, NULL},
    {"explosibility", NULL, F_JSON, BY_DISTRICT, 0, NULL},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static const field *find_field(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static int enum_ok(const char *enums, const char *v)
{
    size_t l = strlen(v);
    for (const char *p = enums; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == l && strncmp(p, v, n) == 0)
            return 1;
        p = bar ? bar + 1 : p + n;
    }
    return 0;
}

/* Checks one JSON value against its field; 0, or -1 with why. */
static int field_check(const field *f, json_t *v, char *why, size_t whylen)
{
    if (json_is_null(v)) {
        if (f->type == F_TEXT || f->type == F_ENUM || f->type == F_TEXTARR) {
            snprintf(why, whylen, "%s cannot be null", f->name);
            return -1;
        }
        return 0;
    }
    switch (f->type) {
    case F_TEXT:
    case F_ENUM:
        if (!json_is_string(v) || json_string_length(v) > 500) {
            snprintf(why, whylen, "%s must be a string of at most 500 characters", f->name);
            return -1;
        }
        if (f->type == F_ENUM && !enum_ok(f->enums, json_string_value(v))) {
            snprintf(why, whylen, "%s must be one of %s", f->name, f->enums);
            return -1;
        }
        return 0;
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000) {
            snprintf(why, whylen, "%s must be a non-negative integer", f->name);
            return -1;
        }
        return 0;
    case F_FLOAT:
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            snprintf(why, whylen, "%s must be a number", f->name);
            return -1;
        }
        return 0;
    case F_TEXTARR: {
        size_t i;
        json_t *x;
        if (!json_is_array(v) || json_array_size(v) > 50) {
            snprintf(why, whylen, "%s must be an array of codes", f->name);
            return -1;
        }
        json_array_foreach(v, i, x) if (!json_is_string(x) || json_string_length(x) > 40)
        {
            snprintf(why, whylen, "%s must be an array of codes", f->name);
            return -1;
        }
        return 0;
    }
    case F_JSON:
        if (!json_is_object(v)) {
            snprintf(why, whylen, "%s must be an object", f->name);
            return -1;
        }
        return 0;
    }
    return 0;
}

/* ---- list & get --------------------------------------------------------- */

static const char *opt_query(api_req *r, const char *name)
{
    const char *v = api_req_query(r, name);
    return v && *v ? v : NULL;
}

int api_enterprises_list(api_req *r)
{
    long lim = opt_query(r, "limit") ? strtol(api_req_query(r, "limit"), NULL, 10) : 50;
    long off = opt_query(r, "offset") ? strtol(api_req_query(r, "offset"), NULL, 10) : 0;
    if (lim < 1 || lim > 500 || off < 0 || off > 1000000)
        return api_reply_error(r, API_E_BAD_REQUEST, "limit must be 1..500 and offset >= 0");
    /* the statistics' classes too: their enterprise counts link here */
    const char *industry, *dust_kind, *grade;
    if (api_query_class(r, "industry", "dust_kind", "grade", &industry, &dust_kind, &grade))
        return 0;
    db_enterprises_filter f = {
        .district_code = opt_query(r, "district"),
        .street_code = opt_query(r, "street"),
        .status = opt_query(r, "status"),
        .q = opt_query(r, "q"),
        .dust_kind = dust_kind,
        .limit = lim,
        .offset = off,
        .industry_code = industry,
        .grade = grade,
    };
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_enterprises_list(c, &s, &f, &out) : DB_HARD;
    if (st != DB_OK)
        return api_reply_db(r, st);
    return api_reply_json(r, 200, out ? out : json_object());
}

/* The archive is the same for every account of a scope and read far more often than it
 * changes (every enterprise page, the map's pop-ups): reused for archive_cache_ms. */
int api_enterprise_get(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char key[128];
    api_cache_key(r, key, sizeof key, "%lld", id);
    int mine = 0;
    int64_t age_ms = 0;
    size_t hit_len = 0;
    char *hit =
        api_cache_get(API_CACHE_ARCHIVE, key, g_config.archive_cache_ms, &mine, &age_ms, &hit_len);
    if (hit)
        return api_cache_reply(r, hit, hit_len, age_ms);
    unsigned long gen = api_write_generation(); /* before the data: see overview.c */
    int64_t started = srv_mono_ms();
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_enterprises_get(c, &s, id, &out) : DB_HARD;
    if (mine) /* a missing enterprise is not stored: NULL releases the slot */
        api_cache_put(API_CACHE_ARCHIVE, key, st == DB_OK ? out : NULL, gen, started);
    return api_reply_read(r, st, out, "enterprise");
}

/* ---- create & update ---------------------------------------------------- */

#define MAX_PARAMS 40

/* The body's archive fields (values borrowed from the body, which outlives
 * the transaction) and the region codes it names. */
typedef struct {
    db_enterprises_field fields[MAX_PARAMS];
    int n;
    char why[256];
    const char *code;  /* per-row import code of a refusal: row_invalid, row_rejected, ... */
    const char *field; /* the field a refusal is about, or "" */
    long long id;
    int not_found;
    int duplicate; /* the value is held by another enterprise in the caller's scope */
    int quiet;     /* collect() keeps its refusal in why instead of answering */
    const char *district_code, *street_code;
    int set_street;
    /* single create/update: the "ok" audit record goes into the transaction
     * (the import audits the whole table once instead) */
    int audit_in_tx;
    const json_t *body;
} write_ctx;

/* Refuses a body in collect(): answers the request, or for an import row
 * (w->quiet) only keeps the reason in w->why, to be listed with the row. */
#define REFUSE(err, ...)                                                                           \
    do {                                                                                           \
        if (w->quiet)                                                                              \
            snprintf(w->why, sizeof w->why, __VA_ARGS__);                                          \
        else                                                                                       \
            api_reply_error(r, err, __VA_ARGS__);                                                  \
        return -1;                                                                                 \
    } while (0)

/* Collects body fields. */
static int collect(api_req *r, json_t *body, write_ctx *w, int creating, unsigned who)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "district") == 0 || strcmp(key, "street") == 0) {
            if (!(who & BY_DISTRICT)) {
                REFUSE(API_E_FORBIDDEN, "enterprise accounts may edit contacts only");
            }
            if (!json_is_string(v) && !(json_is_null(v) && key[0] == 's')) {
                REFUSE(API_E_BAD_REQUEST, "%s must be a region code", key);
            }
            if (key[0] == 'd') {
                if (!creating) {
                    REFUSE(API_E_UNPROCESSABLE, "an enterprise cannot move to another district");
                }
                w->district_code = json_string_value(v);
            } else {
                w->street_code = json_string_value(v);
                w->set_street = 1;
            }
            continue;
        }
        const field *f = find_field(key);
        if (!f) {
            REFUSE(API_E_UNKNOWN_FIELD, "unknown field \"%s\"", key);
        }
        if (!(f->editable & who)) {
            REFUSE(API_E_FORBIDDEN, "%s may not be changed by this account", f->name);
        }
        if (w->n >= MAX_PARAMS - 6)
            return -1;
        if (field_check(f, v, w->why, sizeof w->why) != 0) {
            if (!w->quiet)
                api_reply_error(r, API_E_BAD_REQUEST, "%s", w->why);
            return -1;
        }
        /* derived from data (db_enterprises.c, column_write); an import row may carry it
         * back from an exported survey table, and it then changes nothing */
        if (!w->quiet && strcmp(f->name, "connection_status") == 0 &&
            strcmp(json_string_value(v), "connected") == 0) {
            REFUSE(API_E_BAD_REQUEST,
                   "connection_status connected is derived from data (every mandatory point "
                   "sent data within connected_window_h): set suspended, or not_connected to "
                   "end a suspension");
        }
        w->fields[w->n++] = (db_enterprises_field){f->name, v};
    }
    if (creating) {
        for (size_t i = 0; i < N_FIELDS; i++) {
            if (fields[i].required && !json_object_get(body, fields[i].name)) {
                REFUSE(API_E_BAD_REQUEST, "%s is required", fields[i].name);
            }
        }
    }
    return 0;
}
#undef REFUSE

/* A code or credit code held by another enterprise the caller can see is
 * named precisely (409).  Rows outside the scope are not looked for: the
 * write then fails on the table's uniqueness like on any other rule and is
 * answered by refused(), which cannot tell the two apart. */
static db_status check_duplicates(db_conn *c, const db_scope *s, write_ctx *w)
{
    for (int i = 0; i < w->n; i++) {
        const char *col = w->fields[i].column;
        if (strcmp(col, "code") != 0 && strcmp(col, "uscc") != 0)
            continue;
        int64_t holder = 0;
        db_status st = db_enterprises_holder_in_scope_tx(
            c, s, col, json_string_value(w->fields[i].value), w->id, &holder);
        if (st != DB_OK)
            return st;
        if (holder) {
            snprintf(w->why, sizeof w->why, "%s is already used by enterprise %lld in your scope",
                     col, (long long)holder);
            w->code = "duplicate_in_scope";
            w->field = col;
            w->duplicate = 1;
            return DB_BAD;
        }
    }
    return DB_OK;
}

/* The table refused the values: one fixed answer per column, whatever the
 * rule (format check, or uniqueness against a row the caller may not see).
 * PostgreSQL's own words go to the log only. */
static void refused(write_ctx *w, const db_diag *diag)
{
    const char *col = db_enterprises_refused_column(diag);
    LOG_INFO("enterprise write refused", "sqlstate=%s constraint=%s", diag->sqlstate,
             diag->constraint);
    w->code = "row_rejected";
    w->field = col;
    if (col[0])
        snprintf(w->why, sizeof w->why, "%s was refused: malformed, or not available", col);
    else
        snprintf(w->why, sizeof w->why, "the values were refused by the archive's rules");
}

static db_status create_tx(api_req *r, db_conn *c, void *arg)
{
    write_ctx *w = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    int64_t district_id = 0, street_id = 0;
    db_status st = db_enterprises_district_for_create_tx(c, &s, w->district_code, &district_id);
    if (st != DB_OK)
        return st;
    if (!district_id) {
        snprintf(w->why, sizeof w->why, "district %s is not in your scope",
                 w->district_code ? w->district_code : "(none)");
        w->not_found = 1;
        return DB_BAD;
    }
    if (w->street_code) {
        st = db_enterprises_street_in_district_tx(c, w->street_code, district_id, &street_id);
        if (st != DB_OK)
            return st;
        if (!street_id) {
            snprintf(w->why, sizeof w->why, "street %s is not in district %s", w->street_code,
                     w->district_code);
            w->not_found = 1;
            return DB_BAD;
        }
    }
    st = check_duplicates(c, &s, w);
    if (st != DB_OK)
        return st;
    db_diag diag;
    int64_t id = 0;
    st = db_enterprises_create_tx(c, w->fields, (size_t)w->n, district_id, street_id, &id, &diag);
    if (st == DB_BAD)
        refused(w, &diag);
    if (st != DB_OK)
        return st;
    w->id = id;
    if (!w->audit_in_tx)
        return DB_OK;
    char obj[48];
    snprintf(obj, sizeof obj, "enterprise:%lld", w->id);
    return api_audit_tx(r, c, "enterprise_create", obj, "ok", "");
}

static int reply_write_error(api_req *r, write_ctx *w, db_status st)
{
    if (st == DB_BAD) {
        if (w->duplicate)
            return api_reply_error(r, API_E_CONFLICT, "%s", w->why);
        return api_reply_error(r, API_E_UNPROCESSABLE, "%s", w->why);
    }
    return api_reply_db(r, st);
}

int api_enterprise_create(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    write_ctx w = {0};
    const api_caller *caller = api_req_caller(r);
    if (collect(r, body, &w, 1, BY_DISTRICT) != 0)
        return api_req_replied(r) ? 0 : api_reply_error(r, API_E_BAD_REQUEST, "too many fields");
    /* district staff create in their own district; the city names one */
    if (!w.district_code && caller->kind != API_SCOPE_DISTRICT)
        return api_reply_error(r, API_E_BAD_REQUEST, "district (code) is required");
    w.audit_in_tx = 1;
    db_status st = api_tx(r, create_tx, &w);
    if (st != DB_OK) {
        api_audit(r, "enterprise_create", w.district_code ? w.district_code : "own district",
                  "failed", w.why);
        return reply_write_error(r, &w, st);
    }
    /* the "ok" record was written in the transaction (create_tx) */
    return api_reply_json(r, 201, json_pack("{s:I}", "id", (json_int_t)w.id));
}

static db_status update_tx(api_req *r, db_conn *c, void *arg)
{
    write_ctx *w = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    db_diag diag;
    db_enterprises_updated u = {0};
    db_status st = check_duplicates(c, &s, w);
    if (st != DB_OK)
        return st;
    st = db_enterprises_update_tx(c, &s, w->id, w->fields, (size_t)w->n, w->set_street,
                                  w->street_code, &u, &diag);
    if (st == DB_BAD) {
        refused(w, &diag);
    } else if (st != DB_OK) {
        /* w->why stays empty: nothing to tell the client */
    } else if (!u.found) {
        w->not_found = 2;
    } else if (w->set_street && !u.street_ok) {
        snprintf(w->why, sizeof w->why, "street %s is not in the enterprise's district",
                 w->street_code ? w->street_code : "");
        w->not_found = 1;
        st = DB_BAD;
    } else if (w->audit_in_tx) {
        char obj[48];
        snprintf(obj, sizeof obj, "enterprise:%lld", w->id);
        char *changed = json_dumps(w->body, JSON_COMPACT);
        st = changed ? api_audit_tx(r, c, "enterprise_update", obj, "ok", changed) : DB_HARD;
        free(changed);
    }
    return st;
}

/* After a committed change of an enterprise's street (id; 0: some enterprises, an
 * import): every live-event hub drops the cached region before it routes anything
 * published after this returns (api/resources/events.c, region_cache). */
static void broadcast_move(long long id)
{
    srv_event e = {
        .type = SRV_EVENT_MOVE_TYPE, .action = SRV_EVENT_MOVE_ACTION, .enterprise_id = id};
    if (srv_event_publish_now(&e, NULL) != 0)
        LOG_WARN("enterprise move not broadcast now; streams catch it within "
                 "event_stream_check_s",
                 "enterprise=%lld", id);
}

int api_enterprise_update(api_req *r)
{
    json_t *body = api_req_json(r);
    if (!body)
        return 0;
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    const api_caller *caller = api_req_caller(r);
    unsigned who = caller->kind == API_SCOPE_ENTERPRISE ? BY_ENTERPRISE : BY_DISTRICT;
    if (caller->kind == API_SCOPE_STREET)
        return api_reply_error(r, API_E_FORBIDDEN, "street accounts review; districts edit");
    write_ctx w = {.id = id, .audit_in_tx = 1, .body = body};
    if (collect(r, body, &w, 0, who) != 0)
        return api_req_replied(r) ? 0 : api_reply_error(r, API_E_BAD_REQUEST, "too many fields");
    if (w.n == 0 && !w.set_street)
        return api_reply_error(r, API_E_BAD_REQUEST, "nothing to change");
    db_status st = api_tx(r, update_tx, &w);
    char obj[48];
    snprintf(obj, sizeof obj, "enterprise:%lld", id);
    if (st == DB_OK && w.not_found == 2) {
        api_audit(r, "enterprise_update", obj, "denied", "not found in scope");
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    }
    if (st != DB_OK) {
        api_audit(r, "enterprise_update", obj, "failed", w.why);
        return reply_write_error(r, &w, st);
    }
    if (w.set_street)
        broadcast_move(id);
    /* the "ok" record was written in the transaction (update_tx) */
    return api_enterprise_get(r);
}

/* ---- the survey table as CSV ---------------------------------------------- */

/* Export columns; the last two are the region codes that make a row
 * importable again.  Import reads the same header. */
static const char *const csv_header[] = {
    "统一社会信用代码", "企业编码",       "企业名称",   "所属区",
    "街道/镇/园区",     "地址",           "经度",       "纬度",
    "行业代码",         "企业状态",       "主要负责人", "主要负责人电话",
    "安全负责人",       "安全负责人电话", "粉尘种类",   "涉粉作业人数",
    "20区数量",         "21区数量",       "22区数量",   "建筑层数",
    "建筑结构",         "人员聚集场所数", "街道代码",   "区代码",
};
#define N_CSV (sizeof csv_header / sizeof csv_header[0])

typedef struct {
    char *p;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void csv_cell(buf *b, const char *s, int last)
{
    /* quote always when needed; a leading = + - @ is neutralised so a
     * spreadsheet never runs a formula from the archive */
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int formula =
        s[0] == '=' || s[0] == '+' || s[0] == '@' || (s[0] == '-' && !(s[1] >= '0' && s[1] <= '9'));
    if (quote || formula)
        buf_add(b, "\"", 1);
    if (formula)
        buf_add(b, "'", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            buf_add(b, "\"", 1);
        buf_add(b, p, 1);
    }
    if (quote || formula)
        buf_add(b, "\"", 1);
    buf_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

_Static_assert(N_CSV + 5 == DB_ENTERPRISES_EXPORT_COLUMNS,
               "the headers name every exported column");

/* The dust systems' columns (附件4), after the importable ones: export only. */
static const char *const csv_systems_header[] = {"除尘方式", "防爆措施", "锁气卸灰", "火花探测",
                                                 "清灰"};
#define N_CSV_SYSTEMS (sizeof csv_systems_header / sizeof csv_systems_header[0])

typedef struct {
    buf out;
    db_enterprises_filter filter;
} export_ctx;

static void export_row(void *arg, const char *const *cells)
{
    export_ctx *x = arg;
    for (size_t col = 0; col < N_CSV + N_CSV_SYSTEMS; col++)
        csv_cell(&x->out, cells[col], col == N_CSV + N_CSV_SYSTEMS - 1);
}

static db_status export_tx(api_req *r, db_conn *c, void *arg)
{
    export_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    /* a retried transaction starts over */
    x->out.len = 0;
    buf_add(&x->out, "\xEF\xBB\xBF", 3); /* UTF-8 BOM: Excel then reads Chinese correctly */
    for (size_t i = 0; i < N_CSV; i++)
        csv_cell(&x->out, csv_header[i], 0);
    for (size_t i = 0; i < N_CSV_SYSTEMS; i++)
        csv_cell(&x->out, csv_systems_header[i], i == N_CSV_SYSTEMS - 1);
    return db_enterprises_export_tx(c, &s, &x->filter, export_row, x);
}

int api_enterprises_export(api_req *r)
{
    /* the list's filters and the page's own (industry, connection, grade): the file holds
     * what the page shows */
    const char *conn, *grade, *status;
    /* conn: the list page's own name for connection_status */
    const char *conn_key = opt_query(r, "connection_status") ? "connection_status" : "conn";
    if (api_query_csv(r, conn_key, "not_connected|connected|suspended", &conn) ||
        api_query_csv(r, "grade", "blue|yellow|orange|red|none", &grade) ||
        api_query_csv(r, "status", "producing|stopped|overhaul", &status))
        return 0;
    if ((conn && strchr(conn, ',')) || (grade && strchr(grade, ',')) ||
        (status && strchr(status, ',')))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "connection_status, grade and status take one value");
    export_ctx x = {.filter = {.district_code = opt_query(r, "district"),
                               .street_code = opt_query(r, "street"),
                               .status = status,
                               .q = opt_query(r, "q"),
                               .dust_kind = opt_query(r, "dust_kind"),
                               .industry_code = opt_query(r, "industry"),
                               .connection_status = conn,
                               .grade = grade}};
    db_status st = api_tx(r, export_tx, &x);
    if (st != DB_OK) {
        free(x.out.p);
        return api_reply_db(r, st);
    }
    api_audit(r, "export", "enterprises.csv", "ok", "");
    api_reply_add_header(r, "Content-Disposition",
                         "attachment; filename=\"enterprises.csv\"; "
                         "filename*=UTF-8''%E7%B2%89%E5%B0%98%E6%B6%89%E7%88%86%E4%BC%81%E4%B8%9A%"
                         "E5%9F%BA%E7%A1%80%E6%83%85%E5%86%B5%E8%A1%A8.csv");
    int rc = api_reply_raw(r, 200, "text/csv; charset=utf-8", x.out.p ? x.out.p : "", x.out.len);
    free(x.out.p);
    return rc;
}

/* RFC 4180 parser: fills cells of one record; returns the position after
 * it, or NULL at the end.  Cells point into a private copy. */
static const char *csv_record(const char *p, const char *end, char **cells, int max, int *n,
                              buf *scratch)
{
    *n = 0;
    if (p >= end)
        return NULL;
    scratch->len = 0;
    size_t starts[64];
    int count = 0;
    for (;;) {
        if (count < max && count < 64)
            starts[count] = scratch->len;
        count++;
        if (p < end && *p == '"') {
            p++;
            while (p < end) {
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        buf_add(scratch, "\"", 1);
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                buf_add(scratch, p, 1);
                p++;
            }
        }
        while (p < end && *p != ',' && *p != '\n' && *p != '\r') {
            buf_add(scratch, p, 1);
            p++;
        }
        buf_add(scratch, "", 0);
        scratch->len++; /* keep the NUL as separator */
        if (scratch->len + 1 > scratch->cap)
            buf_add(scratch, "", 0);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        break;
    }
    *n = count < max ? count : max;
    for (int i = 0; i < *n; i++)
        cells[i] = scratch->p + starts[i];
    return p;
}

typedef struct {
    json_t *rows;   /* array of objects: field -> value */
    json_t *errors; /* per-row report */
    int imported, updated;
} import_ctx;

static const char *status_from_csv(const char *v)
{
    if (!strcmp(v, "在产") || !strcmp(v, "producing"))
        return "producing";
    if (!strcmp(v, "停产") || !strcmp(v, "stopped"))
        return "stopped";
    if (!strcmp(v, "检修") || !strcmp(v, "overhaul"))
        return "overhaul";
    return v;
}

/* One refused row: code is row_invalid (the cell breaks a documented rule;
 * message says which), row_rejected (the archive's rules refused a value:
 * one fixed message per field, whether the value is malformed or held by an
 * enterprise outside the caller's scope), duplicate_in_scope (held by an
 * enterprise the caller can see; message names it) or too_many_rows. */
static void row_error(import_ctx *x, int row, const char *code, const char *fname, const char *msg)
{
    json_array_append_new(x->errors, json_pack("{s:i, s:s, s:s, s:s}", "row", row, "code", code,
                                               "field", fname ? fname : "", "message", msg));
}

static db_status import_tx(api_req *r, db_conn *c, void *arg)
{
    import_ctx *x = arg;
    db_scope s;
    api_db_scope(r, NULL, &s);
    size_t i;
    json_t *row;
    json_array_foreach(x->rows, i, row)
    {
        /* the file's record number (header 1; blank and refused lines counted) */
        int rownum = (int)json_integer_value(json_object_get(row, "_row"));
        const char *uscc = json_string_value(json_object_get(row, "uscc"));
        int64_t existing = 0;
        db_status st = db_enterprises_by_uscc_tx(c, &s, uscc, &existing);
        if (st != DB_OK)
            return st;
        write_ctx w = {.id = existing, .quiet = 1};
        json_t *body = json_deep_copy(row);
        json_object_del(body, "_row");
        if (existing)
            json_object_del(body, "district");
        if (collect(r, body, &w, !existing, BY_DISTRICT) != 0) {
            row_error(x, rownum, "row_invalid", NULL, w.why[0] ? w.why : "invalid row");
            json_decref(body);
            continue;
        }
        if (db_enterprises_import_row_begin_tx(c) != DB_OK) {
            json_decref(body);
            return DB_HARD;
        }
        st = existing ? update_tx(r, c, &w) : create_tx(r, c, &w);
        if (st == DB_OK) {
            existing ? x->updated++ : x->imported++;
            db_enterprises_import_row_keep_tx(c);
        } else if (st == DB_BAD) {
            row_error(x, rownum, w.code ? w.code : "row_invalid", w.field, w.why);
            db_enterprises_import_row_undo_tx(c);
        } else {
            json_decref(body);
            return st;
        }
        json_decref(body);
    }
    /* nothing half-imported: any bad row rolls everything back */
    return json_array_size(x->errors) ? DB_BAD : DB_OK;
}

int api_enterprises_csv_rows(const char *body, size_t len, json_t *rows, json_t *errors,
                             const char **missing)
{
    const char *p = body, *end = body + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    buf scratch = {0};
    char *cells[N_CSV + 8];
    int n;
    p = csv_record(p, end, cells, (int)(N_CSV + 8), &n, &scratch);
    int colmap[N_CSV];
    for (size_t i = 0; i < N_CSV; i++)
        colmap[i] = -1;
    for (int c = 0; p && c < n; c++)
        for (size_t i = 0; i < N_CSV; i++)
            if (strcmp(cells[c], csv_header[i]) == 0)
                colmap[i] = c;
    static const int required[] = {0, 1, 2, 23};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        if (colmap[required[k]] < 0) {
            free(scratch.p);
            *missing = csv_header[required[k]];
            return -1;
        }
    }
    import_ctx x = {rows, errors, 0, 0};
    int rownum = 1;
    while (p && p < end) {
        rownum++;
        p = csv_record(p, end, cells, (int)(N_CSV + 8), &n, &scratch);
        if (n == 1 && cells[0][0] == '\0')
            continue;
        if (rownum > 5001) {
            row_error(&x, rownum, "too_many_rows", NULL, "at most 5000 rows per import");
            break;
        }
        json_t *o = json_object();
        char why[200] = "";
        for (size_t i = 0; i < N_CSV; i++) {
            if (colmap[i] < 0 || colmap[i] >= n)
                continue;
            const char *v = cells[colmap[i]];
            if (v[0] == '\'' && (v[1] == '=' || v[1] == '+' || v[1] == '-' || v[1] == '@'))
                v++;
            switch (i) {
            case 0:
                json_object_set_new(o, "uscc", json_string(v));
                break;
            case 1:
                json_object_set_new(o, "code", json_string(v));
                break;
            case 2:
                json_object_set_new(o, "name", json_string(v));
                break;
            case 5:
                json_object_set_new(o, "address", json_string(v));
                break;
            case 6:
            case 7:
                if (*v) {
                    char *e;
                    double d = strtod(v, &e);
                    if (*e)
                        snprintf(why, sizeof why, "%s is not a number", csv_header[i]);
                    json_object_set_new(o, i == 6 ? "longitude" : "latitude", json_real(d));
                }
                break;
            case 8:
                json_object_set_new(o, "industry_code", json_string(v));
                break;
            case 9:
                if (*v)
                    json_object_set_new(o, "status", json_string(status_from_csv(v)));
                break;
            case 10:
                json_object_set_new(o, "principal_name", json_string(v));
                break;
            case 11:
                json_object_set_new(o, "principal_phone", json_string(v));
                break;
            case 12:
                json_object_set_new(o, "safety_manager_name", json_string(v));
                break;
            case 13:
                json_object_set_new(o, "safety_manager_phone", json_string(v));
                break;
            case 14: {
                json_t *arr = json_array();
                char tmp[512];
                snprintf(tmp, sizeof tmp, "%s", v);
                char *save = NULL;
                for (char *t = strtok_r(tmp, "|;", &save); t; t = strtok_r(NULL, "|;", &save))
                    json_array_append_new(arr, json_string(t));
                json_object_set_new(o, "dust_kinds", arr);
                break;
            }
            case 15:
            case 16:
            case 17:
            case 18:
            case 21:
                if (*v) {
                    char *e;
                    long long k = strtoll(v, &e, 10);
                    if (*e)
                        snprintf(why, sizeof why, "%s is not a whole number", csv_header[i]);
                    static const char *const names[] = {"dust_workers", "zone20_count",
                                                        "zone21_count", "zone22_count"};
                    json_object_set_new(o, i == 21 ? "gathering_rooms" : names[i - 15],
                                        json_integer(k));
                }
                break;
            case 19:
                if (*v)
                    json_object_set_new(o, "building_storeys",
                                        json_string(!strcmp(v, "多层")   ? "multi"
                                                    : !strcmp(v, "单层") ? "single"
                                                                         : v));
                break;
            case 20:
                if (*v)
                    json_object_set_new(o, "building_frame",
                                        json_string(!strcmp(v, "非框架") ? "non_frame"
                                                    : !strcmp(v, "框架") ? "frame"
                                                                         : v));
                break;
            case 22:
                json_object_set_new(o, "street", *v ? json_string(v) : json_null());
                break;
            case 23:
                json_object_set_new(o, "district", json_string(v));
                break;
            default:
                break;
            }
        }
        if (why[0]) {
            row_error(&x, rownum, "row_invalid", NULL, why);
            json_decref(o);
            continue;
        }
        if (json_is_null(json_object_get(o, "street")))
            json_object_del(o, "street");
        json_object_set_new(o, "_row", json_integer(rownum));
        json_array_append_new(x.rows, o);
    }
    free(scratch.p);
    return 0;
}

int api_enterprises_import(api_req *r)
{
    size_t len;
    const char *body = api_req_body(r, &len);
    if (!body || len == 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "send the survey table as an XLSX workbook or CSV (UTF-8)");
    /* a workbook's first sheet goes through the CSV reader as CSV with one line per sheet
     * row, so a refused row is numbered as the spreadsheet program shows it */
    char *sheet_csv = NULL;
    const char *file = "enterprises.csv";
    if (srv_sheet_is_zip(body, len)) {
        json_t *sheet_rows = NULL;
        int truncated = 0;
        char why[300];
        if (srv_sheet_xlsx_rows(body, len, 5002, &sheet_rows, &truncated, why, sizeof why) != 0)
            return api_reply_error(r, API_E_FILE_FORMAT, "%s", why);
        sheet_csv = srv_sheet_as_csv(sheet_rows, &len);
        json_decref(sheet_rows);
        if (!sheet_csv)
            return api_reply_error(r, API_E_INTERNAL, "out of memory");
        body = sheet_csv;
        file = "enterprises.xlsx";
    } else {
        const char *enc = srv_sheet_csv_refusal(body, len);
        if (enc)
            return api_reply_error(r, API_E_FILE_FORMAT, "%s", enc);
    }
    import_ctx x = {json_array(), json_array(), 0, 0};
    const char *missing = NULL;
    int bad_header = api_enterprises_csv_rows(body, len, x.rows, x.errors, &missing) != 0;
    free(sheet_csv);
    if (bad_header) {
        json_decref(x.rows);
        json_decref(x.errors);
        return api_reply_error(r, API_E_UNPROCESSABLE, "the header lacks column %s", missing);
    }
    db_status st = DB_OK;
    if (json_array_size(x.errors) == 0)
        st = api_tx(r, import_tx, &x);
    int rc;
    if (json_array_size(x.errors)) {
        api_audit(r, "import", file, "failed", "rows refused");
        rc = api_reply_error_with(r, API_E_IMPORT_REFUSED,
                                  json_pack("{s:i, s:O}", "imported", 0, "errors", x.errors),
                                  "some rows are invalid");
    } else if (st != DB_OK) {
        rc = api_reply_db(r, st);
    } else {
        char d[64];
        if (x.updated)
            broadcast_move(0);
        snprintf(d, sizeof d, "created=%d updated=%d", x.imported, x.updated);
        api_audit(r, "import", file, "ok", d);
        rc = api_reply_json(
            r, 200,
            json_pack("{s:i, s:i, s:[]}", "created", x.imported, "updated", x.updated, "errors"));
    }
    json_decref(x.rows);
    json_decref(x.errors);
    return rc;
}

void api_enterprises_init(void)
{
    db_enterprises_register();
}

/* ---- 摸排 proposals (survey.c): a street's record, checked and applied ----- */

int api_enterprise_check_record(api_req *r, json_t *record, int creating)
{
    if (json_object_get(record, "district") || json_object_get(record, "street"))
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "a street proposes enterprises of its own street: leave district "
                               "and street out"),
               -1;
    write_ctx w = {0};
    if (collect(r, record, &w, creating, BY_DISTRICT) != 0) {
        if (!api_req_replied(r))
            api_reply_error(r, API_E_BAD_REQUEST, "too many fields");
        return -1;
    }
    if (w.n == 0)
        return api_reply_error(r, API_E_BAD_REQUEST, "nothing to change"), -1;
    return 0;
}

db_status api_enterprise_apply_tx(api_req *r, db_conn *c, json_t *record, long long id,
                                  const char *district_code, const char *street_code,
                                  long long *out_id, char *why, size_t whylen, int *conflict)
{
    write_ctx w = {.id = id, .audit_in_tx = 1, .body = record, .quiet = 1};
    *conflict = 0;
    if (collect(r, record, &w, id == 0, BY_DISTRICT) != 0) {
        snprintf(why, whylen, "%s", w.why[0] ? w.why : "the record breaks the archive's rules");
        return DB_BAD;
    }
    if (!id) {
        w.district_code = district_code;
        w.street_code = street_code;
    }
    db_status st = id ? update_tx(r, c, &w) : create_tx(r, c, &w);
    if (st == DB_OK && w.not_found == 2) {
        snprintf(why, whylen, "the enterprise is not in your scope");
        return DB_BAD;
    }
    if (st == DB_BAD) {
        snprintf(why, whylen, "%s", w.why);
        *conflict = w.duplicate;
    }
    if (st == DB_OK)
        *out_id = w.id;
    return st;
}
