/* Onboarding (应接尽接): GET /api/v1/onboarding — each cohort's enterprises in scope, connected
 * (derived from data), online, per street with its laggards, now or at the end of a past day
 * (at); GET /api/v1/onboarding/conformance
 * — dust-removal systems against the mandatory point kinds of their type. */
#include "api_auth.h"
#include "api_params.h"
#include "api_handlers.h"

#include "db_onboarding.h"
#include "srv_config.h"
#include "srv_clock.h"

#include <string.h>

int api_onboarding_at(api_req *r, db_conn *c, time_t *at)
{
    *at = 0;
    const char *day = api_req_query(r, "at");
    if (!day || !*day)
        return 0;
    time_t from, to;
    if (api_stats_period_bounds("day", day, &from, &to) != 0)
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "at must be a calendar day YYYY-MM-DD (2000..2100)"),
               -1;
    db_onboarding_at_answer answer;
    time_t rolled;
    db_status st = db_onboarding_at_check(c, time(NULL), to, &answer, &rolled);
    if (st != DB_OK)
        return api_reply_db(r, st), -1;
    char upto[SRV_CITY_MINUTE_LEN] = "nothing";
    switch (answer) {
    case DB_ONB_AT_OK:
        break;
    case DB_ONB_AT_NOT_ENDED:
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "at must be a day that has ended: the state now has no at"),
               -1;
    case DB_ONB_AT_NOT_KEPT:
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "at must be within the hourly rollups kept "
                               "(rollup_hour_retention_days %ld, and 92 days of look-back)",
                               (long)g_config.rollup_hour_retention_days),
               -1;
    case DB_ONB_AT_NOT_ROLLED:
        if (rolled > 0)
            srv_city_minute(rolled, upto);
        return api_reply_error(r, API_E_UNPROCESSABLE,
                               "the hourly rollups reach %s (UTC+8) only, not the end of %s yet",
                               upto, day),
               -1;
    }
    *at = to;
    return 0;
}

int api_onboarding_get(api_req *r)
{
    const char *district, *street, *cohort;
    if (api_query_code(r, "district", "0123456789", 6, 12, &district) ||
        api_query_code(r, "street", "0123456789", 6, 12, &street) ||
        api_query_code(r, "cohort", "abcdefghijklmnopqrstuvwxyz0123456789_", 1, 40, &cohort))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    if (!c)
        return api_reply_db(r, DB_HARD);
    time_t at;
    if (api_onboarding_at(r, c, &at))
        return 0;
    json_t *out = NULL;
    db_status st = db_onboarding_progress(c, &s, g_config.connected_window_h * 3600L, at, cohort,
                                          district, street, &out);
    return api_reply_read(r, st, out, "scope");
}

int api_onboarding_conformance(api_req *r)
{
    const char *district, *street;
    if (api_query_code(r, "district", "0123456789", 6, 12, &district) ||
        api_query_code(r, "street", "0123456789", 6, 12, &street))
        return 0;
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_onboarding_conformance(c, &s, district, street, &out) : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

void api_onboarding_init(void)
{
    db_onboarding_register();
}
