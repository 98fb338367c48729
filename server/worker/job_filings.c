/* job_filings.c — stopped clocks and production during a stop filing (job_filings.h).
 *
 * Why the worker and not the ingest writer: the check reads a window of readings per
 * covered point, which a writer group commit must not pay for every batch; a tick late is
 * soon enough for an alarm a person follows up on. */
#include "job_filings.h"

#include "db_filings.h"
#include "srv_config.h"
#include "srv_event.h"
#include "srv_log.h"

#include <jansson.h>
#include <stdlib.h>

void job_filings_init(void)
{
    db_filings_register();
}

typedef struct {
    db_filing_production *rows;
    size_t n;
} prod_ctx;

static db_status prod_tx(db_conn *c, void *arg)
{
    prod_ctx *x = arg;
    free(x->rows);
    x->rows = NULL;
    x->n = 0;
    return db_filings_production_check(c, g_config.filing_production_window_s,
                                       g_config.alarm_ack_within_s, g_config.alarm_handle_within_s,
                                       &x->rows, &x->n);
}

typedef struct {
    size_t alarms, warnings;
} clock_ctx;

static db_status clock_tx(db_conn *c, void *arg)
{
    clock_ctx *x = arg;
    return db_filings_clocks(c, &x->alarms, &x->warnings);
}

db_status job_filings_run(db_conn *c, size_t *n)
{
    *n = 0;
    /* valid filings stop the clocks of what they cover (every tick: a new filing, a new
     * alarm or warning of a filed enterprise) */
    clock_ctx k = {0};
    db_status st = db_run_tx(c, NULL, clock_tx, &k);
    if (st != DB_OK)
        return st;
    if (k.alarms + k.warnings > 0)
        LOG_INFO("filing stopped clocks", "alarms=%zu warnings=%zu", k.alarms, k.warnings);
    *n = k.alarms + k.warnings;
    if (g_config.filing_production_window_s <= 0)
        return DB_OK;
    prod_ctx x = {0};
    st = db_run_tx(c, NULL, prod_tx, &x);
    if (st == DB_OK) {
        for (size_t i = 0; i < x.n; i++) {
            srv_event e = {.type = "alarm",
                           .action = "raise",
                           .id = x.rows[i].alarm_id,
                           .enterprise_id = x.rows[i].enterprise_id};
            json_t *fields = json_pack("{s:s, s:s, s:i, s:I}", "point", x.rows[i].point, "kind",
                                       "production_during_stop", "level", 1, "filing",
                                       (json_int_t)x.rows[i].filing_id);
            srv_event_publish(&e, fields);
            json_decref(fields);
            LOG_INFO("production during a stop filing", "filing=%lld alarm=%lld point=%s",
                     (long long)x.rows[i].filing_id, (long long)x.rows[i].alarm_id,
                     x.rows[i].point);
        }
        *n += x.n;
    }
    free(x.rows);
    return st;
}
