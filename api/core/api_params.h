/* Request helpers every resource shares (api_params.c).  The api_query_*
 * functions return 0 (out set, or left empty/NULL/def when the parameter is
 * absent) or -1 after replying 400. */
#ifndef DW_API_PARAMS_H
#define DW_API_PARAMS_H

#include "api.h"
#include "db.h"

#include <jansson.h>
#include <time.h>

int api_parse_time(const char *s, time_t *out); /* RFC 3339 with offset, or epoch ms */
void api_format_time(time_t t, char out[32]);
int api_query_time(api_req *r, const char *name, char out[32]);
int api_query_int(api_req *r, const char *name, long def, long min, long max, long *out);
int api_query_bool(api_req *r, const char *name, const char **out); /* "true"/"false" */
int api_query_csv(api_req *r, const char *name, const char *allowed, const char **out);
/* An optional positive id (1..LONG_MAX; 0 when absent). */
int api_query_id(api_req *r, const char *name, long *out);
/* An api_query_bool answer as a tristate: -1 when absent, else 0 / 1. */
int api_tristate(const char *v);
/* The query the alarm and the warning lists share, into q->list (from and to
 * point into q's buffers, NULL when absent).  Read in two steps around each
 * list's own filters, so that a 400 names the first bad parameter in the
 * order the lists read them:
 *   api_query_list_page: from, to, limit (1..500, default 50) and offset
 *     (0..1000000, default 0); district and street as given;
 *   api_query_list_state: overdue and open (tristates), enterprise (an id). */
typedef struct api_list_query {
    db_list_filter list;
    char from[32], to[32];
} api_list_query;
int api_query_list_page(api_req *r, api_list_query *q);
int api_query_list_state(api_req *r, api_list_query *q);
/* industry, dust_kind and risk_grade: the statistics' classes of an enterprise, by which the
 * alarm, warning and hazard lists are filtered when a statistic's number links to them. */
int api_query_list_class(api_req *r, api_list_query *q);
/* The optional filter name: NULL when absent or empty; -1 after answering 400 when it is not
 * made of charset (min..max characters). */
int api_query_code(api_req *r, const char *name, const char *charset, size_t min, size_t max,
                   const char **out);
/* An enterprise's classes under the names given: an industry code (国民经济行业, e.g. C2021),
 * a dust kind code and one risk grade (blue..red, or none: not scored), each NULL when absent;
 * industry and dust kind "none" select the enterprises without one recorded;
 * -1 after answering 400. */
int api_query_class(api_req *r, const char *industry, const char *dust_kind, const char *grade,
                    const char **industry_code, const char **dust_kind_code,
                    const char **grade_code);
/* The body as an object (new reference; {} when empty), NULL after replying. */
json_t *api_optional_body(api_req *r);
/* A string field of at most max characters; "" when absent; -1 after replying. */
int api_body_text(api_req *r, json_t *body, const char *name, int required, size_t max,
                  const char **out);
/* Live feed (dw:events) after COMMIT; street_id 0 = none. */
void api_publish_event(const char *type, const char *action, long long id, long long enterprise_id,
                       long long district_id, long long street_id, const char *state);

#endif
