#include "db_gateway_offline.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENT_COLS "(alarm_id, enterprise_id, at, action, kind, level, value, threshold, reason)"

static const db_stmt statements[] = {
    /* $1 threshold s $2 ack within s $3 handle within s $4 limit.  Gateways rows are
     * locked (skipping those another worker holds) so two workers raise once; the open
     * index makes a raise of an already open gateway a no-op anyway.  A gateway of an
     * enterprise a whole-enterprise filing covers is not raised but recorded once per filing
     * in filing_suppressions (migration 0110); it is raised after the filing if still silent.
     * value: seconds silent at the raise, threshold: the threshold. */
    {"gwoff_raise",
     "WITH cand AS (SELECT g.id, dw_filing_covers(g.enterprise_id, NULL, NULL, greatest(now(), "
     "g.last_seen_at + make_interval(secs => $1::int))) AS filing FROM gateways g WHERE "
     "g.last_seen_at < now() - make_interval(secs => $1::int) AND NOT EXISTS (SELECT 1 FROM "
     "alarms o WHERE o.gateway_id = g.id AND o.cleared_at IS NULL)), due AS (SELECT g.id, "
     "g.enterprise_id, g.code, g.last_seen_at + make_interval(secs => $1::int) AS at, "
     "extract(epoch FROM now() - g.last_seen_at) AS silent FROM gateways g JOIN cand ON "
     "cand.id = g.id AND cand.filing IS NULL ORDER BY g.id LIMIT $4::int FOR UPDATE OF g SKIP "
     "LOCKED), sup AS (INSERT INTO filing_suppressions (filing_id, enterprise_id, gateway_id, "
     "channel, kind, level, first_at, last_at) SELECT cand.filing, g.enterprise_id, g.id, "
     "'gateway_offline', 'gateway_offline', 0, now(), now() FROM cand JOIN gateways g ON g.id "
     "= cand.id WHERE cand.filing IS NOT NULL ON CONFLICT (filing_id, gateway_id) WHERE "
     "gateway_id IS NOT NULL DO NOTHING), a AS (INSERT INTO alarms (enterprise_id, source, "
     "channel, kind, level, max_level, reason, value, threshold, raised_at, ack_deadline, "
     "handle_deadline, gateway_id, gateway_code) SELECT enterprise_id, 'rule', "
     "'gateway_offline', 'gateway_offline', 0, 0, 'gateway_silent', silent, $1::float8, at, "
     "greatest(now(), at) + $2::float8 * interval '1 second', greatest(now(), at) + "
     "$3::float8 * interval '1 second', id, code FROM due ON CONFLICT DO NOTHING RETURNING id, "
     "enterprise_id, raised_at, value, threshold) INSERT INTO alarm_events " EVENT_COLS
     " SELECT id, enterprise_id, raised_at, 'raise', 'gateway_offline', 0, value, threshold, "
     "'gateway_silent' FROM a RETURNING alarm_id, enterprise_id, floor(extract(epoch FROM "
     "at))::bigint, action"},
    /* $1 threshold s.  Heard from within the threshold, or deleted: cleared (a handled
     * alarm closes), as alm_clear does for points. */
    {"gwoff_clear",
     "WITH c AS (SELECT o.id, CASE WHEN g.id IS NULL THEN 'gateway_deleted' ELSE "
     "'gateway_heard' END AS why, greatest(coalesce(g.last_seen_at, now()), o.raised_at) AS "
     "at FROM alarms o LEFT JOIN gateways g ON g.id = o.gateway_id WHERE o.channel = "
     "'gateway_offline' AND o.cleared_at IS NULL AND (g.id IS NULL OR g.last_seen_at >= now() "
     "- make_interval(secs => $1::int)) FOR UPDATE OF o SKIP LOCKED), a AS (UPDATE alarms x SET "
     "cleared_at = c.at, clear_reason = c.why, state = CASE WHEN x.state = 'handled' THEN "
     "'closed' ELSE x.state END, closed_at = CASE WHEN x.state = 'handled' THEN greatest(c.at, "
     "x.handled_at) ELSE x.closed_at END FROM c WHERE x.id = c.id RETURNING x.id, "
     "x.enterprise_id, x.kind, x.level, x.state, x.cleared_at, x.clear_reason) INSERT INTO "
     "alarm_events " EVENT_COLS
     " SELECT id, enterprise_id, cleared_at, 'clear', kind, level, NULL::float8, NULL::float8, "
     "clear_reason FROM a UNION ALL SELECT id, enterprise_id, cleared_at, 'close', kind, level, "
     "NULL::float8, NULL::float8, "
     "'handled_and_cleared' FROM a WHERE state = 'closed' RETURNING alarm_id, enterprise_id, "
     "floor(extract(epoch FROM at))::bigint, action"},
};

void db_gateway_offline_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

static db_status collect(db_conn *c, const char *stmt, int np, const char *const *p,
                         db_gateway_offline_change **changes, size_t *n)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, np, p, &st);
    if (!r)
        return st;
    int rows = PQntuples(r);
    if (rows > 0) {
        db_gateway_offline_change *grown = realloc(*changes, (*n + (size_t)rows) * sizeof *grown);
        if (!grown) {
            PQclear(r);
            return DB_HARD;
        }
        *changes = grown;
        for (int i = 0; i < rows; i++) {
            db_gateway_offline_change *ch = &(*changes)[(*n)++];
            ch->alarm_id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            ch->enterprise_id = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            ch->ts_s = strtoll(PQgetvalue(r, i, 2), NULL, 10);
            snprintf(ch->action, sizeof ch->action, "%s", PQgetvalue(r, i, 3));
        }
    }
    PQclear(r);
    return DB_OK;
}

db_status db_gateway_offline_check(db_conn *c, long threshold_s, long ack_within_s,
                                   long handle_within_s, int limit,
                                   db_gateway_offline_change **changes, size_t *n)
{
    *changes = NULL;
    *n = 0;
    char th[24], ack[24], hdl[24], lim[24];
    const char *pc[1] = {db_i64(th, threshold_s)};
    db_status st = collect(c, "gwoff_clear", 1, pc, changes, n);
    if (st != DB_OK)
        goto fail;
    const char *pr[4] = {th, db_i64(ack, ack_within_s), db_i64(hdl, handle_within_s),
                         db_i64(lim, limit)};
    st = collect(c, "gwoff_raise", 4, pr, changes, n);
    if (st == DB_OK)
        return DB_OK;
fail:
    free(*changes);
    *changes = NULL;
    *n = 0;
    return st;
}
