/* The database side of a request: statements whose answer is one JSON cell,
 * read under the caller's scope in one round trip, and the enterprise a
 * route is about (row-level security's fast arm). */
#include "api_auth.h"

#include "srv_log.h"

#include <stdio.h>
#include <string.h>

/* Routes about one enterprise name it for row-level security's fast arm
 * (migration 0013); the database still checks that the scope covers it. */
const char *api_focus_enterprise(api_req *r)
{
    static const char prefix[] = "/api/v1/enterprises/{id}";
    if (strncmp(api_req_pattern(r), prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *id = api_req_param(r, "id");
    return id && api_parse_id(id) >= 0 ? id : NULL;
}

json_t *api_db_json(db_conn *c, const char *stmt, int n, const char *const *params, db_status *st)
{
    json_t *out;
    *st = db_exec_json(c, stmt, n, params, &out);
    return out;
}

long long api_parse_id(const char *s)
{
    if (!s || !*s || strlen(s) > 18)
        return -1;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? v : -1;
}

db_status api_query_json(api_req *r, const char *stmt, int n, const char *const *params,
                         json_t **out)
{
    return api_query_json_about(r, api_focus_enterprise(r), stmt, n, params, out);
}

void api_db_scope(api_req *r, const char *enterprise_id, db_scope *out)
{
    const api_caller *caller = api_req_caller(r);
    api_scope_string(caller, out->rls, sizeof out->rls);
    api_scope_params(caller, out->kind, out->id);
    snprintf(out->focus, sizeof out->focus, "%s", enterprise_id ? enterprise_id : "");
}

db_status api_query_json_about(api_req *r, const char *enterprise_id, const char *stmt, int n,
                               const char *const *params, json_t **out)
{
    *out = NULL;
    db_conn *c = api_req_db(r);
    if (!c)
        return DB_HARD;
    db_scope s;
    api_db_scope(r, enterprise_id, &s);
    return db_read_json(c, &s, stmt, n, params, out);
}

int api_reply_query(api_req *r, const char *stmt, int n, const char *const *params,
                    const char *what)
{
    json_t *out;
    db_status st = api_query_json(r, stmt, n, params, &out);
    if (st != DB_OK)
        return api_reply_db(r, st);
    if (!out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such %s", what);
    return api_reply_json(r, 200, out);
}
