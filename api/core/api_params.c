/* Request helpers every resource shares: query-string and body readers that
 * answer 400 themselves, time parsing/formatting, and the live-feed publisher.
 * The api_query_* functions return 0 (out set, or left empty/NULL/def when the
 * parameter is absent) or -1 after replying 400. */
#include "api_params.h"

#include "srv_event.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int api_parse_time(const char *s, time_t *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    long long ms = strtoll(s, &end, 10);
    if (*end == '\0') {
        *out = (time_t)(ms / 1000);
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    while (*rest == '.' || (*rest >= '0' && *rest <= '9'))
        rest++;
    long off = 0;
    if (*rest == 'Z' || *rest == 'z') {
        rest++;
    } else if (*rest == '+' || *rest == '-') {
        int hh, mm;
        if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        off = (hh * 60 + mm) * 60 * (*rest == '+' ? 1 : -1);
        rest += 6;
    } else {
        return -1;
    }
    if (*rest)
        return -1;
    *out = timegm(&tm) - off;
    return 0;
}

void api_format_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int api_query_time(api_req *r, const char *name, char out[32])
{
    const char *q = api_req_query(r, name);
    out[0] = '\0';
    if (!q)
        return 0;
    time_t t;
    if (api_parse_time(q, &t) != 0) {
        api_reply_error(r, API_E_BAD_REQUEST,
                        "%s must be RFC 3339 with offset or epoch milliseconds", name);
        return -1;
    }
    api_format_time(t, out);
    return 0;
}

int api_query_int(api_req *r, const char *name, long def, long min, long max, long *out)
{
    const char *q = api_req_query(r, name);
    *out = def;
    if (!q)
        return 0;
    char *end;
    long v = strtol(q, &end, 10);
    if (!*q || *end || v < min || v > max) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be a whole number in %ld..%ld", name, min,
                        max);
        return -1;
    }
    *out = v;
    return 0;
}

int api_query_bool(api_req *r, const char *name, const char **out)
{
    const char *q = api_req_query(r, name);
    *out = NULL;
    if (!q)
        return 0;
    if (strcmp(q, "true") == 0 || strcmp(q, "1") == 0) {
        *out = "true";
    } else if (strcmp(q, "false") == 0 || strcmp(q, "0") == 0) {
        *out = "false";
    } else {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be true or false", name);
        return -1;
    }
    return 0;
}

int api_query_csv(api_req *r, const char *name, const char *allowed, const char **out)
{
    const char *q = api_req_query(r, name);
    *out = NULL;
    if (!q)
        return 0;
    /* every comma-separated item must be one of allowed ("a|b|c") */
    const char *p = q;
    for (;;) {
        size_t n = strcspn(p, ",");
        int ok = 0;
        for (const char *a = allowed; *a && n > 0;) {
            size_t m = strcspn(a, "|");
            if (m == n && strncmp(a, p, n) == 0) {
                ok = 1;
                break;
            }
            a += m;
            if (*a == '|')
                a++;
        }
        if (!ok) {
            api_reply_error(r, API_E_BAD_REQUEST, "%s: each value must be one of %s", name,
                            allowed);
            return -1;
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    *out = q;
    return 0;
}

int api_query_id(api_req *r, const char *name, long *out)
{
    return api_query_int(r, name, 0, 1, LONG_MAX, out);
}

int api_tristate(const char *v)
{
    return v ? strcmp(v, "true") == 0 : -1;
}

int api_query_list_page(api_req *r, api_list_query *q)
{
    db_list_filter *f = &q->list;
    *f = (db_list_filter){.district_code = api_req_query(r, "district"),
                          .street_code = api_req_query(r, "street"),
                          .overdue = -1,
                          .open = -1};
    if (api_query_time(r, "from", q->from) || api_query_time(r, "to", q->to) ||
        api_query_int(r, "limit", 50, 1, 500, &f->limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &f->offset))
        return -1;
    f->from = q->from[0] ? q->from : NULL;
    f->to = q->to[0] ? q->to : NULL;
    return 0;
}

int api_query_list_state(api_req *r, api_list_query *q)
{
    const char *overdue, *open;
    long enterprise;
    if (api_query_bool(r, "overdue", &overdue) || api_query_bool(r, "open", &open) ||
        api_query_id(r, "enterprise", &enterprise))
        return -1;
    q->list.overdue = api_tristate(overdue);
    q->list.open = api_tristate(open);
    q->list.enterprise_id = enterprise;
    return 0;
}

static int matches(const char *v, const char *charset, size_t min, size_t max)
{
    size_t n = strlen(v);
    return n >= min && n <= max && strspn(v, charset) == n;
}

int api_query_code(api_req *r, const char *name, const char *charset, size_t min, size_t max,
                   const char **out)
{
    const char *v = api_req_query(r, name);
    *out = v && *v ? v : NULL;
    if (*out && !matches(*out, charset, min, max)) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be %zu..%zu characters of [%s]", name, min,
                        max, charset);
        return -1;
    }
    return 0;
}

int api_query_class(api_req *r, const char *industry, const char *dust_kind, const char *grade,
                    const char **industry_code, const char **dust_kind_code,
                    const char **grade_code)
{
    /* "none": the enterprises without an industry code (the statistics' row of them) */
    const char *ind = api_req_query(r, industry);
    if (ind && strcmp(ind, "none") == 0)
        *industry_code = ind;
    else if (api_query_code(r, industry, "ABCDEFGHIJKLMNOPQRST0123456789", 1, 5, industry_code))
        return -1;
    /* a dust kind code, or "none": the enterprises with no dust kind recorded */
    if (api_query_code(r, dust_kind, "abcdefghijklmnopqrstuvwxyz0123456789_", 2, 41,
                       dust_kind_code) ||
        api_query_csv(r, grade, "blue|yellow|orange|red|none", grade_code))
        return -1;
    if (*grade_code && strchr(*grade_code, ','))
        return api_reply_error(r, API_E_BAD_REQUEST, "%s takes one value", grade), -1;
    return 0;
}

int api_query_list_class(api_req *r, api_list_query *q)
{
    return api_query_class(r, "industry", "dust_kind", "risk_grade", &q->list.industry_code,
                           &q->list.dust_kind, &q->list.risk_grade);
}

json_t *api_optional_body(api_req *r)
{
    size_t len = 0;
    api_req_body(r, &len);
    if (len == 0)
        return json_object();
    json_t *b = api_req_json(r);
    return b ? json_incref(b) : NULL;
}

int api_body_text(api_req *r, json_t *body, const char *name, int required, size_t max,
                  const char **out)
{
    json_t *v = json_object_get(body, name);
    *out = "";
    if (!v || json_is_null(v)) {
        if (required) {
            api_reply_error(r, API_E_BAD_REQUEST, "%s is required", name);
            return -1;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be a string", name);
        return -1;
    }
    const char *s = json_string_value(v);
    size_t chars = 0; /* UTF-8 characters, as PostgreSQL's length() counts */
    for (const char *c = s; *c; c++)
        if (((unsigned char)*c & 0xC0) != 0x80)
            chars++;
    if (chars > max || (required && chars == 0)) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be %s1..%zu characters", name,
                        required ? "" : "0 or ", max);
        return -1;
    }
    *out = s;
    return 0;
}

void api_publish_event(const char *type, const char *action, long long id, long long enterprise_id,
                       long long district_id, long long street_id, const char *state)
{
    srv_event e = {.type = type,
                   .action = action,
                   .id = id,
                   .enterprise_id = enterprise_id,
                   .district_id = district_id,
                   .street_id = street_id};
    json_t *fields = json_pack("{s:s}", "state", state);
    srv_event_publish(&e, fields);
    json_decref(fields);
}
