/* job_webhook.c — outbox delivery through the notification channels (see header). */
#include "job_webhook.h"

#include "db_notify.h"
#include "job_notify.h"
#include "srv_config.h"
#include "srv_log.h"

#include <stdio.h>
#include <string.h>

void job_webhook_init(void)
{
    job_notify_init();
    db_notify_register();
}

db_status job_webhook_run(db_conn *c, int limit, size_t *n_delivered)
{
    *n_delivered = 0;
    /* the lease outlives one delivery attempt per row with a margin */
    long lease = (g_config.webhook_timeout_ms * (limit + 1)) / 1000 + 30;
    long base = g_config.notify_retry_base_s > 0 ? g_config.notify_retry_base_s : 30;
    /* cleaning areas due (migration 0052): written to the outbox, delivered below */
    if (g_config.cleaning_due_percent > 0) {
        long due = 0;
        double share = (double)g_config.cleaning_due_percent / 100.0;
        if (db_notify_cleaning_due(c, share > 1 ? 1 : share, &due) == DB_OK && due > 0)
            LOG_INFO("cleaning due notified", "areas=%ld", due);
    }
    long nf = 0;
    if (db_notify_filings(c, &nf) == DB_OK && nf > 0)
        LOG_INFO("filings notified", "filings=%ld", nf);
    db_notify_row *rows = NULL;
    size_t n = 0;
    db_status st = db_notify_lease(c, limit, lease, &rows, &n);
    if (st != DB_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        const db_notify_row *o = &rows[i];
        job_notify_msg m = {.target = o->target,
                            .payload = o->payload,
                            .dedup_key = o->dedup_key,
                            .secret_hex = o->secret_hex};
        job_notify_result r = {0};
        const job_notify_channel *ch = job_notify_channel_for(o->channel);
        if (ch)
            ch->send(&m, &r);
        else
            snprintf(r.detail, sizeof r.detail, "unknown channel %s", o->channel);
        (void)db_notify_result(c, o, r.sent, r.http_status, r.detail, r.duration_ms, base);
        if (r.sent) {
            (*n_delivered)++;
            continue;
        }
        LOG_INFO("notification delivery failed, will retry",
                 "outbox=%lld channel=%s attempt=%ld error=%s", (long long)o->id, o->channel,
                 o->attempts, srv_log_q((char[260]){0}, 260, r.detail));
    }
    db_notify_free(rows, n);
    return DB_OK;
}
