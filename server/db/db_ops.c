/* db_ops.c — operations figures and retention (see db_ops.h). */
#include "db_ops.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    {"ops_lag",
     "SELECT (SELECT count(*) FROM risk_recompute_requests), "
     "coalesce((SELECT extract(epoch FROM now() - min(requested_at)) FROM "
     "risk_recompute_requests), 0), "
     "(SELECT count(*) FROM notification_outbox WHERE delivered_at IS NULL), "
     "coalesce((SELECT extract(epoch FROM now() - min(created_at)) FROM notification_outbox "
     "WHERE delivered_at IS NULL), 0), "
     "coalesce((SELECT extract(epoch FROM now() - rolled_to) FROM rollup_state), 0), "
     /* point-hours: one may be queued more than once (migration 0143) */
     "(SELECT count(*) FROM (SELECT DISTINCT point_id, hour FROM rollup_dirty) d), "
     "(SELECT count(*) FROM warnings WHERE status <> 'cleared' AND ((status = 'issued' AND "
     "sign_by < now()) OR clear_by < now()))"},
    {"ops_prune_media", "SELECT videos, photos FROM dw_prune_media(to_timestamp($1::bigint), "
                        "to_timestamp($2::bigint), $3::int)"},
    {"ops_thin_risk", "SELECT dw_thin_risk_scores(to_timestamp($1::bigint), $2::int)"},
};

void db_ops_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_ops_lag_read(db_conn *c, db_ops_lag *out)
{
    db_status st;
    PGresult *r = db_exec(c, "ops_lag", 0, NULL, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_HARD;
    }
    out->risk_requests = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    out->risk_oldest_s = strtod(PQgetvalue(r, 0, 1), NULL);
    out->outbox_undelivered = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
    out->outbox_oldest_s = strtod(PQgetvalue(r, 0, 3), NULL);
    out->rollup_behind_s = strtod(PQgetvalue(r, 0, 4), NULL);
    out->rollup_dirty_hours = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    out->warnings_overdue = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    PQclear(r);
    return DB_OK;
}

db_status db_ops_prune_media(db_conn *c, int64_t video_before_s, int64_t photo_before_s,
                             int max_rows, int64_t *videos, int64_t *photos)
{
    char v[24], ph[24], m[24];
    const char *p[3] = {video_before_s > 0 ? db_i64(v, video_before_s) : NULL,
                        photo_before_s > 0 ? db_i64(ph, photo_before_s) : NULL,
                        db_i64(m, max_rows)};
    db_status st;
    PGresult *r = db_exec(c, "ops_prune_media", 3, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_HARD;
    }
    *videos = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *photos = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);
    return DB_OK;
}

db_status db_ops_thin_risk_scores(db_conn *c, int64_t before_s, int max_rows, int64_t *deleted)
{
    char b[24], m[24];
    const char *p[2] = {db_i64(b, before_s), db_i64(m, max_rows)};
    db_status st;
    PGresult *r = db_exec(c, "ops_thin_risk", 2, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_HARD;
    }
    *deleted = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return DB_OK;
}
