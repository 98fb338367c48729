/* Overview: the numbers a bureau looks at first, for the caller's scope. */
#include "api_auth.h"
#include "api_cache.h"
#include "api_handlers.h"

#include "db_overview.h"
#include "srv_config.h"
#include "srv_log.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    json_t *out;
} ctx;

static db_status overview_tx(api_req *r, db_conn *c, void *arg)
{
    ctx *x = arg;
    db_scope s;
    api_db_scope(r, api_focus_enterprise(r), &s);
    json_decref(x->out); /* from an attempt that was retried */
    db_status st = db_overview_get(c, &s, g_config.connected_window_h * 3600L, &x->out);
    if (st != DB_OK || !x->out)
        return st;
    /* open / overdue alarms, warnings by colour, grades, cleaning compliance */
    return api_risk_overview(c, s.kind, s.id, x->out);
}

/* ---- one overview per scope ------------------------------------------------
 * The overview is the same document for every account of a scope, and a
 * district's costs tens of milliseconds of PostgreSQL (every point of every
 * enterprise).  Bureaus keep it open on many screens; what changes second by
 * second reaches them over the live event stream.  So a scope's answer is
 * reused for overview_cache_ms (api_cache.h: dropped by a write through this
 * API process, recomputed by one request while the others keep the previous
 * one). */

int api_overview_get(api_req *r)
{
    char key[112];
    api_cache_key(r, key, sizeof key, NULL);
    int mine = 0;
    int64_t age_ms = 0;
    size_t hit_len = 0;
    char *hit = api_cache_get(API_CACHE_OVERVIEW, key, g_config.overview_cache_ms, &mine, &age_ms,
                              &hit_len);
    if (hit)
        return api_cache_reply(r, hit, hit_len, age_ms);
    /* the generation is read before the data, so a write that lands while
     * computing leaves the stored answer already out of date */
    unsigned long gen = api_write_generation();
    int64_t started = srv_mono_ms();
    ctx x = {0};
    db_status st = api_tx(r, overview_tx, &x);
    if (st != DB_OK) {
        if (mine)
            api_cache_put(API_CACHE_OVERVIEW, key, NULL, 0, 0);
        json_decref(x.out);
        return api_reply_db(r, st);
    }
    if (!x.out)
        x.out = json_object();
    if (mine)
        api_cache_put(API_CACHE_OVERVIEW, key, x.out, gen, started);
    return api_reply_json(r, 200, x.out);
}

void api_overview_init(void)
{
    db_overview_register();
}
