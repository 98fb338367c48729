/* The database side of a request: the caller's scope for the db layer's
 * functions and the enterprise a route is about (row-level security's fast
 * arm); path ids; a read's connection and answer. */
#include "api_auth.h"

#include "srv_log.h"

#include <pthread.h>
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

/* A point never changes enterprise, so a point's enterprise, once read, names the focus of
 * the next read about that point (routes under /api/v1/points/{id}): under a district's scope
 * such a read otherwise builds row-level security's list of the district's enterprises for
 * each table it reads (the point's look-up: 2.8 ms at 1,400 enterprises, api_bench's plans).
 * A wrong or stale entry grants nothing: the database checks that the caller may see the focus
 * enterprise, and the rows are still filtered by the scope.  Direct-mapped; a collision only
 * costs the slow arm.  65,536 slots (1 MiB): a city of 2,000 enterprises has ~40,000 points,
 * and with 4,096 slots api_bench's 2,800 history points evicted each other (ids rise by
 * enterprise, so a district's points spread over every slot several times). */
#define POINT_FOCUS_SLOTS 65536
static struct {
    long long point, enterprise;
} point_focus[POINT_FOCUS_SLOTS];
static pthread_mutex_t point_focus_mu = PTHREAD_MUTEX_INITIALIZER;

void api_focus_learn_point(long long point, long long enterprise)
{
    if (point <= 0 || enterprise <= 0)
        return;
    pthread_mutex_lock(&point_focus_mu);
    point_focus[point % POINT_FOCUS_SLOTS].point = point;
    point_focus[point % POINT_FOCUS_SLOTS].enterprise = enterprise;
    pthread_mutex_unlock(&point_focus_mu);
}

/* the enterprise learnt for the route's point, 0 when none */
static long long point_route_enterprise(api_req *r)
{
    static const char prefix[] = "/api/v1/points/{id}";
    if (strncmp(api_req_pattern(r), prefix, sizeof prefix - 1) != 0)
        return 0;
    long long point = api_parse_id(api_req_param(r, "id"));
    if (point < 0)
        return 0;
    pthread_mutex_lock(&point_focus_mu);
    long long e = point_focus[point % POINT_FOCUS_SLOTS].point == point
                      ? point_focus[point % POINT_FOCUS_SLOTS].enterprise
                      : 0;
    pthread_mutex_unlock(&point_focus_mu);
    return e;
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

void api_db_scope(api_req *r, const char *enterprise_id, db_scope *out)
{
    const api_caller *caller = api_req_caller(r);
    api_scope_string(caller, out->rls, sizeof out->rls);
    api_scope_params(caller, out->kind, out->id);
    snprintf(out->focus, sizeof out->focus, "%s", enterprise_id ? enterprise_id : "");
}

db_conn *api_read_db(api_req *r, db_scope *s)
{
    const char *focus = api_focus_enterprise(r);
    char learnt[24];
    long long e = focus ? 0 : point_route_enterprise(r);
    if (e > 0) {
        snprintf(learnt, sizeof learnt, "%lld", e);
        focus = learnt;
    }
    api_db_scope(r, focus, s);
    return api_req_read_db(r);
}

int api_reply_read(api_req *r, db_status st, json_t *out, const char *what)
{
    if (st != DB_OK) {
        json_decref(out); /* stolen on every path (a later step of a read may fail after it) */
        return api_reply_db(r, st);
    }
    if (!out)
        return api_reply_error(r, API_E_NOT_FOUND, "no such %s", what);
    return api_reply_json(r, 200, out);
}

int api_read_by_id(api_req *r, const char *what, api_read_id_fn fn)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such %s", what);
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? fn(c, &s, id, &out) : DB_HARD;
    return api_reply_read(r, st, out, what);
}
