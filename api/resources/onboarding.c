/* Onboarding (应接尽接): GET /api/v1/onboarding — each cohort's enterprises in scope, connected
 * (derived from data), online, per street with its laggards; GET /api/v1/onboarding/conformance
 * — dust-removal systems against the mandatory point kinds of their type. */
#include "api_auth.h"
#include "api_handlers.h"

#include "db_onboarding.h"
#include "srv_config.h"

#include <string.h>

/* An optional region code query parameter: digits only; -1 after answering 400. */
static int region_code(api_req *r, const char *name, const char **out)
{
    const char *v = api_req_query(r, name);
    *out = v && *v ? v : NULL;
    size_t n = *out ? strlen(*out) : 0;
    if (*out && (n < 6 || n > 12 || strspn(*out, "0123456789") != n)) {
        api_reply_error(r, API_E_BAD_REQUEST, "%s must be a region code of 6 to 12 digits", name);
        return -1;
    }
    return 0;
}

int api_onboarding_get(api_req *r)
{
    const char *district, *street, *cohort = api_req_query(r, "cohort");
    if (region_code(r, "district", &district) || region_code(r, "street", &street))
        return 0;
    size_t n = cohort ? strlen(cohort) : 0;
    if (cohort && (n < 1 || n > 40 || strspn(cohort, "abcdefghijklmnopqrstuvwxyz0123456789_") != n))
        return api_reply_error(r, API_E_BAD_REQUEST,
                               "cohort must be a cohort code (1 to 40 of a-z 0-9 _)");
    db_scope s;
    db_conn *c = api_read_db(r, &s);
    json_t *out = NULL;
    db_status st = c ? db_onboarding_progress(c, &s, g_config.connected_window_h * 3600L, cohort,
                                              district, street, &out)
                     : DB_HARD;
    return api_reply_read(r, st, out, "scope");
}

int api_onboarding_conformance(api_req *r)
{
    const char *district, *street;
    if (region_code(r, "district", &district) || region_code(r, "street", &street))
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
