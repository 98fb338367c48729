/* Enterprise risk (风险): the current score with its breakdown per enterprise,
 * the score history, the distribution by grade for the caller's scope and a
 * ranking.  Scores are computed by the worker (job_risk.c) and stored with the
 * engine's inputs and fired rules; this file only reads them.  The ranking
 * orders by grade first (an override makes an enterprise red whatever its R),
 * then by R.  Also the risk
 * part of the overview (open / overdue alarms, warnings by colour, grades,
 * cleaning compliance). */
#include "api_auth.h"
#include "api_handlers.h"
#include "db_risk_api.h"

int api_risk_current(api_req *r)
{
    return api_read_by_id(r, "enterprise", db_risk_api_current);
}

int api_risk_history(api_req *r)
{
    long long id = api_parse_id(api_req_param(r, "id"));
    if (id < 0)
        return api_reply_error(r, API_E_NOT_FOUND, "no such enterprise");
    char from[32], to[32];
    long limit;
    const char *changes;
    if (api_query_time(r, "from", from) || api_query_time(r, "to", to) ||
        api_query_int(r, "limit", 200, 1, 5000, &limit) ||
        api_query_bool(r, "grade_changes", &changes))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_risk_api_history(c, &s, id, from[0] ? from : NULL, to[0] ? to : NULL,
                                           limit, api_tristate(changes), &out)
                     : DB_HARD;
    return api_reply_read(r, st, out, "enterprise");
}

int api_risk_distribution(api_req *r)
{
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_risk_api_distribution(c, &s, api_req_query(r, "district"),
                                                api_req_query(r, "street"), &out)
                     : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

int api_risk_ranking(api_req *r)
{
    long limit, offset;
    const char *grades;
    if (api_query_int(r, "limit", 10, 1, 500, &limit) ||
        api_query_int(r, "offset", 0, 0, 1000000, &offset) ||
        api_query_csv(r, "grade", "blue|yellow|orange|red", &grades))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_risk_api_ranking(c, &s, limit, offset, api_req_query(r, "district"),
                                           api_req_query(r, "street"), grades, &out)
                     : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

db_status api_risk_overview(db_conn *c, const char *kind, const char *sid, json_t *into)
{
    json_t *o;
    db_status st = db_risk_api_overview(c, kind, sid, &o);
    if (st != DB_OK)
        return st;
    if (o) {
        json_object_update(into, o);
        json_decref(o);
    }
    json_t *cl = NULL;
    st = api_cleaning_overview(c, kind, sid, &cl);
    if (st != DB_OK)
        return st;
    json_object_set_new(into, "cleaning", cl ? cl : json_null());
    return DB_OK;
}

void api_risk_init(void)
{
    db_risk_api_register();
}
