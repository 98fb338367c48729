/* job_retention.c — pruning of images, photos and risk detail (see job_retention.h).
 *
 * Batches of BATCH rows, each its own statement (and transaction): a city's first run
 * after an upgrade may have months to prune, and one huge UPDATE would hold row locks
 * and bloat the WAL at once.  Images are set to NULL in place rather than moved to a
 * file or object store: one copy of every fact stays in PostgreSQL (one backup, one
 * access control, one retention), and the TOAST space they free is reused by later
 * rows after VACUUM.  Decided in deploy/README.md, "Retention".
 *
 * Packing readings (migration 0137) is a step of the same loop: PACK_ROWS readings of the
 * oldest unpacked day per step, so a city's day and a first run after an upgrade (a year of
 * days) spread over ticks. */
#include "job_retention.h"

#include "db_jobs.h"
#include "db_ops.h"
#include "srv_clock.h"
#include "srv_config.h"
#include "srv_log.h"
#include "srv_metrics.h"

#define BATCH 2000
/* readings moved per pack step: about a second of PostgreSQL's time */
#define PACK_ROWS 300000

SRV_METRIC_COUNTER(m_pruned, "dustwatch_retention_pruned_total",
                   "Objects removed by retention: video alarm images, check-in photos, risk "
                   "score rows between the daily points and changes.",
                   "kind")
SRV_METRIC_COUNTER(m_packed_days, "dustwatch_readings_packed_partitions_total",
                   "Daily readings partitions emptied into readings_packed and dropped "
                   "(readings_pack_after_days).",
                   NULL)
SRV_METRIC_COUNTER(m_packed_readings, "dustwatch_readings_packed_total",
                   "Readings moved from the day partitions into readings_packed.", NULL)

void job_retention_init(void)
{
    db_ops_register();
    db_jobs_register();
}

/* now - days, or 0 (nothing of that kind) when days <= 0 */
static int64_t cutoff(int64_t now_s, long days)
{
    return days > 0 ? now_s - (int64_t)days * 86400 : 0;
}

db_status job_retention_run(db_conn *c, int64_t now_s, int64_t budget_ms, job_retention_stats *out)
{
    job_retention_stats s = {0, 0, 0, 0, 0, 1};
    int64_t until = srv_clock_mono_ms() + budget_ms;
    int64_t video_before = cutoff(now_s, g_config.video_image_retention_days);
    int64_t photo_before = cutoff(now_s, g_config.checkin_photo_retention_days);
    int64_t risk_before = cutoff(now_s, g_config.risk_score_detail_days);
    db_status st = DB_OK;
    int media_left = video_before > 0 || photo_before > 0;
    int risk_left = risk_before > 0;
    long pack_days = g_config.readings_pack_after_days;
    int64_t pack_before = (now_s / 86400 - pack_days) * 86400;
    int pack_left = pack_days > 0;
    char waiting[128] = "";
    while (st == DB_OK && (media_left || risk_left || pack_left)) {
        if (srv_clock_mono_ms() >= until) {
            s.complete = 0;
            break;
        }
        if (media_left) {
            int64_t v = 0, p = 0;
            st = db_ops_prune_media(c, video_before, photo_before, BATCH, &v, &p);
            if (st != DB_OK)
                break;
            s.videos += v;
            s.photos += p;
            srv_metric_add(&m_pruned, (double)v, "video_image");
            srv_metric_add(&m_pruned, (double)p, "checkin_photo");
            media_left = v == BATCH || p == BATCH;
        }
        if (risk_left) {
            int64_t n = 0;
            st = db_ops_thin_risk_scores(c, risk_before, BATCH, &n);
            if (st != DB_OK)
                break;
            s.risk_scores += n;
            srv_metric_add(&m_pruned, (double)n, "risk_score");
            risk_left = n == BATCH;
        }
        if (pack_left) {
            db_jobs_pack pk;
            st = db_jobs_pack_readings(c, pack_before, PACK_ROWS, &pk);
            if (st != DB_OK)
                break;
            s.packed_readings += pk.readings;
            srv_metric_add(&m_packed_readings, (double)pk.readings);
            if (pk.day_done) {
                s.packed_days++;
                srv_metric_add(&m_packed_days, 1);
            }
            snprintf(waiting, sizeof waiting, "%s", pk.waiting);
            pack_left = pk.working;
        }
    }
    if (waiting[0])
        LOG_INFO("readings day not packed yet", "reason=%s",
                 srv_log_q((char[160]){0}, 160, waiting));
    if (s.videos || s.photos || s.risk_scores || s.packed_readings || s.packed_days || st != DB_OK)
        srv_log(st == DB_OK ? SRV_LOG_INFO : SRV_LOG_WARN, "retention done",
                "video_images=%lld checkin_photos=%lld risk_scores=%lld packed_days=%lld "
                "packed_readings=%lld complete=%d ok=%d",
                (long long)s.videos, (long long)s.photos, (long long)s.risk_scores,
                (long long)s.packed_days, (long long)s.packed_readings, s.complete, st == DB_OK);
    *out = s;
    return st;
}
