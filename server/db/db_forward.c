#include "db_forward.h"

#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* t: a forward_targets row the scope may manage (city: all; district: its own) */
#define TGT_SCOPE(t) "(($1 = 'city') OR ($1 = 'district' AND " t ".owner_district = $2::bigint))"
#define T_IN_SCOPE   TGT_SCOPE("t")
#define E_IN_SCOPE   SCOPE_ENT("e")

#define TGT_JSON                                                                                   \
    "json_build_object('id', t.id, 'name', t.name, 'url', t.url, 'dialect', t.dialect, 'appid', "  \
    "t.appid, 'owner_district', t.owner_district, 'district_ids', to_json(t.district_ids), "       \
    "'enterprise_ids', to_json(t.enterprise_ids), 'kinds', to_json(t.kinds), 'rate_per_s', "       \
    "t.rate_per_s, 'batch_max', t.batch_max, 'enabled', t.enabled, 'last_ok_at', t.last_ok_at, "   \
    "'last_error', t.last_error, 'last_error_at', t.last_error_at, 'created_at', t.created_at, "   \
    "'updated_at', t.updated_at)"

/* a timestamp in the target's dialect: Hebei V1.1 Beijing local time to the second,
 * MEM (our format v1 inside) RFC 3339 UTC with microseconds */
#define TS_HEBEI "'YYYY-MM-DD HH24:MI:SS'"
#define TS_MEM   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"
#define TS_OF_READING                                                                              \
    "CASE WHEN t.dialect = 'hebei' THEN to_char(r.collected_at AT TIME ZONE "                      \
    "'Asia/Shanghai', " TS_HEBEI ") ELSE to_char(r.collected_at AT TIME ZONE 'UTC', " TS_MEM       \
    ") END"
#define TS_OF_EVENT                                                                                \
    "CASE WHEN t.dialect = 'hebei' THEN to_char(ge.occurred_at AT TIME ZONE "                      \
    "'Asia/Shanghai', " TS_HEBEI ") ELSE to_char(ge.occurred_at AT TIME ZONE 'UTC', " TS_MEM       \
    ") END"
#define TS_OF_VIDEO                                                                                \
    "CASE WHEN t.dialect = 'hebei' THEN to_char(v.occurred_at AT TIME ZONE "                       \
    "'Asia/Shanghai', " TS_HEBEI ") ELSE to_char(v.occurred_at AT TIME ZONE 'UTC', " TS_MEM        \
    ") END"

/* a point's code as the upstream knows it (p: points, mp: its mapping) */
#define POINT_MAPPED                                                                               \
    "LEFT JOIN forward_codes mp ON mp.target_id = t.id AND mp.object = 'point' AND "               \
    "mp.local_code = p.code"

/* one outbox row's items (o: the row, t: the target) */
#define ITEMS_READINGS                                                                             \
    "(SELECT coalesce(json_agg(json_build_object('p', coalesce(mp.upstream_code, p.code), "        \
    "'ts', " TS_OF_READING                                                                         \
    ", 'v', r.value, 'q', r.quality) ORDER BY u.n), '[]') FROM unnest(o.point_ids, "               \
    "o.ats) WITH ORDINALITY u(pid, at, n) CROSS JOIN LATERAL dw_readings(u.pid, u.at, u.at + "     \
    "interval '1 microsecond') r JOIN points p ON p.id = u.pid " POINT_MAPPED ")"
#define ITEMS_EVENTS                                                                               \
    "(SELECT coalesce(json_agg(json_build_object('p', coalesce(mp.upstream_code, p.code), "        \
    "'ts', " TS_OF_EVENT                                                                           \
    ", 'level', ge.level, 'v', ge.value, 'th', ge.threshold, 'c', ge.content) ORDER "              \
    "BY ge.id), '[]') FROM gateway_events ge JOIN points p ON p.id = ge.point_id " POINT_MAPPED    \
    " WHERE ge.id = ANY (o.ref_ids))"
#define ITEMS_VIDEOS                                                                               \
    "(SELECT coalesce(json_agg(json_build_object('cam', v.camera_code, 'ts', " TS_OF_VIDEO         \
    ", 'type', v.alarm_type, 'c', v.content, 'img', translate(encode(v.image, 'base64'), "         \
    "E'\\n', '')) ORDER BY v.id), '[]') FROM video_alarms v WHERE v.id = ANY (o.ref_ids))"

/* our rule engine's alarm transitions (kind alarms), in the events' shape: level the
 * native event vocabulary (a clear "cleared": Hebei scd 0), content the kind's label */
#define TS_OF_ALARM                                                                                \
    "CASE WHEN t.dialect = 'hebei' THEN to_char(ae.at AT TIME ZONE 'Asia/Shanghai', " TS_HEBEI     \
    ") ELSE to_char(ae.at AT TIME ZONE 'UTC', " TS_MEM ") END"
#define ITEMS_ALARMS                                                                                \
    "(SELECT coalesce(json_agg(json_build_object('p', coalesce(mp.upstream_code, p.code), "         \
    "'ts', " TS_OF_ALARM                                                                            \
    ", 'level', CASE WHEN ae.action = 'clear' THEN 'cleared' WHEN coalesce(ae.kind, a.kind) IN "    \
    "('high', 'high_high', 'low', 'low_low') THEN coalesce(ae.kind, a.kind) WHEN "                  \
    "coalesce(ae.kind, a.kind) = 'rate_of_rise' THEN 'high' WHEN coalesce(ae.kind, a.kind) = "      \
    "'spark' THEN 'high_high' ELSE 'fault' END, 'v', ae.value, 'th', ae.threshold, 'c', CASE "      \
    "WHEN ae.action = 'clear' THEN '消警：' ELSE '' END || coalesce((SELECT l.zh FROM labels l " \
    "WHERE l.domain = 'alarm_kind' AND l.code = coalesce(ae.kind, a.kind)), coalesce(ae.kind, "     \
    "a.kind)) || '（dustwatch 规则报警 ' || ae.action || '）') ORDER BY ae.id), '[]') FROM "  \
    "alarm_events ae JOIN alarms a ON a.id = ae.alarm_id JOIN points p ON p.id = a.point_id "       \
    "" POINT_MAPPED " WHERE ae.id = ANY (o.ref_ids))"

/* is the row's enterprise and kind selected by the target */
#define SELECTED                                                                                   \
    "e.id IS NOT NULL AND o.kind = ANY (t.kinds) AND (cardinality(t.district_ids) = 0 OR "         \
    "e.district_id = ANY (t.district_ids)) AND (cardinality(t.enterprise_ids) = 0 OR e.id = ANY "  \
    "(t.enterprise_ids)) AND (t.owner_district IS NULL OR e.district_id = t.owner_district)"

static const db_stmt statements[] = {
    /* ---- the forwarder ---- */
    {"fwd_targets",
     "SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, 'url', t.url, "
     "'dialect', t.dialect, 'appid', t.appid, 'sealed_keys', encode(t.sealed_keys, 'hex'), "
     "'rate_per_s', t.rate_per_s, 'batch_max', t.batch_max, 'enabled', t.enabled) ORDER BY t.id), "
     "'[]')::text FROM forward_targets t"},
    /* held already (the session keeps it; a reconnect loses it), else try */
    {"fwd_lock",
     "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 18 AND "
     "objid = $1::int AND objsubid = 2 AND pid = pg_backend_pid() AND granted) OR "
     "pg_try_advisory_lock(18, $1::int)"},
    {"fwd_next",
     "WITH t AS (SELECT * FROM forward_targets WHERE id = $1::bigint), o AS (SELECT o.* FROM "
     "forward_outbox o, t WHERE (o.xid, o.id) > (t.watermark_xid, t.watermark_id) AND o.xid < "
     "pg_snapshot_xmin(pg_current_snapshot()) AND (t.inflight_id IS NULL OR (o.xid, o.id) <= "
     "(t.inflight_xid, t.inflight_id)) ORDER BY o.xid, o.id LIMIT $2::int) SELECT "
     "coalesce(json_agg(json_build_object('id', o.id, 'xid', o.xid::text, 'kind', o.kind, "
     "'enterprise_id', o.enterprise_id, 'selected', sel.ok, 'qybm', coalesce(me.upstream_code, "
     "e.code), 'wgbm', (SELECT m.upstream_code FROM gateways g JOIN forward_codes m ON "
     "m.target_id = t.id AND m.object = 'gateway' AND m.local_code = g.code WHERE "
     "g.enterprise_id = o.enterprise_id ORDER BY g.last_seen_at DESC NULLS LAST, g.id LIMIT 1), "
     "'items', CASE WHEN NOT sel.ok THEN '[]'::json WHEN o.kind = 'readings' THEN " ITEMS_READINGS
     " WHEN o.kind = 'events' THEN " ITEMS_EVENTS " WHEN o.kind = 'alarms' THEN " ITEMS_ALARMS
     " ELSE " ITEMS_VIDEOS " END) ORDER BY o.xid, "
     "o.id), '[]')::text FROM o CROSS JOIN t LEFT JOIN enterprises e ON e.id = o.enterprise_id "
     "LEFT JOIN forward_codes me ON me.target_id = t.id AND me.object = 'enterprise' AND "
     "me.local_code = e.code CROSS JOIN LATERAL (SELECT " SELECTED " AS ok) sel"},
    {"fwd_dead_insert",
     "INSERT INTO forward_dead_letters (target_id, enterprise_id, kind, items, payload, "
     "http_status, upstream_code, reason) VALUES ($1::bigint, $2::bigint, $3, $4::int, $5::jsonb, "
     "$6::int, $7::int, left($8, 1000))"},
    {"fwd_daily",
     "INSERT INTO forward_daily AS d (target_id, day, kind, sent, acked, refused, resent_acked, "
     "requests, failures) VALUES ($1::bigint, (now() AT TIME ZONE 'UTC')::date, $2, $3::bigint, "
     "$4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::bigint) ON CONFLICT (target_id, day, "
     "kind) DO UPDATE SET sent = d.sent + EXCLUDED.sent, acked = d.acked + EXCLUDED.acked, "
     "refused = d.refused + EXCLUDED.refused, resent_acked = d.resent_acked + "
     "EXCLUDED.resent_acked, requests = d.requests + EXCLUDED.requests, failures = d.failures + "
     "EXCLUDED.failures"},
    {"fwd_advance",
     "UPDATE forward_targets SET watermark_xid = $2::xid8, watermark_id = $3::bigint, last_ok_at "
     "= CASE WHEN $4::boolean THEN now() ELSE last_ok_at END, inflight_xid = NULL, inflight_id = "
     "NULL WHERE id = $1::bigint AND "
     "(watermark_xid, watermark_id) < ($2::xid8, $3::bigint) RETURNING id"},
    /* the end of the page being delivered (once, before its first request) */
    {"fwd_inflight",
     "UPDATE forward_targets SET inflight_xid = $2::xid8, inflight_id = $3::bigint WHERE id = "
     "$1::bigint AND (watermark_xid, watermark_id) < ($2::xid8, $3::bigint)"},
    {"fwd_failure",
     "UPDATE forward_targets SET last_error = left($2, 1000), last_error_at = now() WHERE id = "
     "$1::bigint"},
    {"fwd_resends_due",
     "SELECT coalesce(json_agg(json_build_object('id', d.id, 'enterprise_id', d.enterprise_id, "
     "'kind', d.kind, 'items', d.items, 'payload', d.payload, 'resends', d.resends, "
     "'requested_at', d.resend_requested_at) ORDER BY "
     "d.id), '[]')::text FROM "
     "(SELECT * FROM forward_dead_letters WHERE target_id = $1::bigint AND resend_requested_at IS "
     "NOT NULL AND resolved_at IS NULL ORDER BY id LIMIT 20) d"},
    {"fwd_resend_result",
     /* only the request the worker took is cleared: one made while the resend was in flight
      * (read here on the row's latest version) stays for the next round */
     "UPDATE forward_dead_letters SET resends = resends + 1, resend_requested_at = CASE WHEN "
     "$3::boolean OR resend_requested_at = $7::timestamptz THEN NULL ELSE resend_requested_at "
     "END, resolved_at = CASE WHEN $3::boolean THEN now() END, http_status = $4::int, "
     "upstream_code = "
     "$5::int, reason = CASE WHEN $3::boolean THEN reason ELSE left($6, 1000) END WHERE id = "
     "$2::bigint AND target_id = $1::bigint"},
    {"fwd_prune",
     "WITH d AS (DELETE FROM forward_outbox o WHERE NOT EXISTS (SELECT 1 FROM forward_targets) "
     "OR (o.xid, o.id) <= (SELECT watermark_xid, watermark_id FROM forward_targets ORDER BY "
     "watermark_xid, watermark_id LIMIT 1) RETURNING 1) SELECT count(*) FROM d"},

    /* ---- the REST API ---- */
    {"fwd_api_list",
     "SELECT json_build_object('items', coalesce(json_agg(" TGT_JSON " ORDER BY t.id), "
     "'[]'))::text FROM forward_targets t WHERE " T_IN_SCOPE},
    {"fwd_api_get",
     "SELECT " TGT_JSON "::text FROM forward_targets t WHERE t.id = $3::bigint AND " T_IN_SCOPE},
    /* $3 district_ids, $4 enterprise_ids: the first that is not of the scope */
    {"fwd_api_check",
     "SELECT (SELECT x FROM unnest($3::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM regions r "
     "WHERE r.id = x AND r.level = 'district' AND (($1 = 'city') OR ($1 = 'district' AND r.id = "
     "$2::bigint))) LIMIT 1), (SELECT x FROM unnest($4::bigint[]) x WHERE NOT EXISTS (SELECT 1 "
     "FROM enterprises e WHERE e.id = x AND " E_IN_SCOPE ") LIMIT 1)"},
    {"fwd_api_insert",
     "INSERT INTO forward_targets (name, url, dialect, appid, sealed_keys, owner_district, "
     "district_ids, enterprise_ids, kinds, rate_per_s, batch_max, enabled) VALUES ($1, $2, $3, $4, "
     "$5::bytea, $6::bigint, coalesce($7::bigint[], '{}'), coalesce($8::bigint[], '{}'), "
     "coalesce($9::text[], '{readings,events,videos,alarms}'), coalesce($10::int, 20), "
     "coalesce($11::int, 500), coalesce($12::boolean, true)) RETURNING id"},
    {"fwd_api_update",
     "UPDATE forward_targets t SET name = coalesce($4, t.name), url = coalesce($5, t.url), appid "
     "= coalesce($6, t.appid), sealed_keys = coalesce($7::bytea, t.sealed_keys), district_ids = "
     "coalesce($8::bigint[], t.district_ids), enterprise_ids = coalesce($9::bigint[], "
     "t.enterprise_ids), kinds = coalesce($10::text[], t.kinds), rate_per_s = coalesce($11::int, "
     "t.rate_per_s), batch_max = coalesce($12::int, t.batch_max), enabled = "
     "coalesce($13::boolean, t.enabled), updated_at = now() WHERE t.id = $3::bigint AND " T_IN_SCOPE
     " RETURNING t.id"},
    {"fwd_api_delete",
     "DELETE FROM forward_targets t WHERE t.id = $3::bigint AND " T_IN_SCOPE " RETURNING t.id"},
    {"fwd_api_codes",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM forward_targets t WHERE t.id = $3::bigint "
     "AND " T_IN_SCOPE
     ") THEN json_build_object('items', coalesce((SELECT json_agg(json_build_object("
     "'object', m.object, 'local_code', m.local_code, 'upstream_code', m.upstream_code, "
     "'updated_at', m.updated_at) ORDER BY m.object, m.local_code) FROM forward_codes m "
     "WHERE m.target_id = $3::bigint), '[]'::json)) END::text"},
    /* $4 object $5 local code: is the target in scope, does the code name an object of the scope */
    {"fwd_api_code_known",
     "SELECT EXISTS (SELECT 1 FROM forward_targets t WHERE t.id = $3::bigint AND " T_IN_SCOPE
     "), CASE $4 WHEN 'enterprise' THEN EXISTS (SELECT 1 FROM enterprises e WHERE e.code "
     "= $5 AND " E_IN_SCOPE ") WHEN 'gateway' THEN EXISTS (SELECT 1 FROM gateways g "
     "JOIN enterprises e ON e.id = g.enterprise_id WHERE "
     "g.code = $5 AND " E_IN_SCOPE ") WHEN 'point' THEN EXISTS (SELECT 1 FROM "
     "points p JOIN enterprises e ON e.id = "
     "p.enterprise_id WHERE p.code = $5 AND " E_IN_SCOPE ") ELSE false END"},
    {"fwd_api_code_upsert",
     "INSERT INTO forward_codes (target_id, object, local_code, upstream_code) VALUES ($1::bigint, "
     "$2, $3, $4) ON CONFLICT (target_id, object, local_code) DO UPDATE SET upstream_code = "
     "EXCLUDED.upstream_code, updated_at = now()"},
    {"fwd_api_code_delete",
     "DELETE FROM forward_codes WHERE target_id = $1::bigint AND object = $2 AND local_code = $3"},
    {"fwd_api_dead",
     "SELECT CASE WHEN EXISTS (SELECT 1 FROM forward_targets t WHERE t.id = $3::bigint "
     "AND " T_IN_SCOPE
     ") THEN json_build_object('items', coalesce((SELECT json_agg(json_build_object("
     "'id', d.id, 'target_id', d.target_id, 'enterprise_id', d.enterprise_id, "
     "'enterprise_code', (SELECT code FROM enterprises WHERE id = d.enterprise_id), "
     "'kind', d.kind, 'items', d.items, 'http_status', d.http_status, 'upstream_code', "
     "d.upstream_code, 'reason', d.reason, 'created_at', d.created_at, "
     "'resend_requested_at', d.resend_requested_at, 'resends', d.resends, "
     "'resolved_at', d.resolved_at) ORDER BY d.id DESC) FROM (SELECT * FROM "
     "forward_dead_letters x WHERE x.target_id = $3::bigint AND (NOT $4::boolean OR "
     "x.resolved_at IS NULL) ORDER BY x.id DESC LIMIT $5::int) d), '[]'::json)) "
     "END::text"},
    {"fwd_api_resend",
     "WITH d AS (SELECT d.* FROM forward_dead_letters d JOIN forward_targets t ON t.id = "
     "d.target_id WHERE d.id = $3::bigint AND " T_IN_SCOPE
     "), u AS (UPDATE forward_dead_letters x SET resend_requested_at = now() FROM d "
     "WHERE x.id = d.id AND x.resolved_at IS NULL RETURNING x.id) SELECT (SELECT "
     "count(*) FROM u), json_build_object('id', d.id, 'target_id', d.target_id, "
     "'kind', d.kind, 'items', d.items, 'reason', d.reason, 'resolved_at', "
     "d.resolved_at, 'resend_requested', EXISTS (SELECT 1 FROM u))::text FROM d"},
    {"fwd_api_report",
     "SELECT json_build_object('target_id', t.id, 'from', $4::date, 'to', $5::date, 'days', "
     "coalesce((SELECT json_agg(json_build_object('day', d.day, 'kind', d.kind, 'sent', d.sent, "
     "'acked', d.acked, 'refused', d.refused, 'resent_acked', d.resent_acked, 'requests', "
     "d.requests, 'failures', d.failures) ORDER BY d.day, d.kind) FROM forward_daily d WHERE "
     "d.target_id = t.id AND d.day BETWEEN $4::date AND $5::date), '[]'), 'totals', (SELECT "
     "json_build_object('sent', coalesce(sum(d.sent), 0), 'acked', coalesce(sum(d.acked), 0), "
     "'refused', coalesce(sum(d.refused), 0), 'resent_acked', coalesce(sum(d.resent_acked), 0), "
     "'requests', coalesce(sum(d.requests), 0), 'failures', coalesce(sum(d.failures), 0)) FROM "
     "forward_daily d WHERE d.target_id = t.id AND d.day BETWEEN $4::date AND $5::date), "
     "'outbox_pending', (SELECT count(*) FROM forward_outbox o WHERE (o.xid, o.id) > "
     "(t.watermark_xid, t.watermark_id)), 'lag_s', coalesce((SELECT extract(epoch FROM now() - "
     "min(o.created_at)) FROM forward_outbox o WHERE (o.xid, o.id) > (t.watermark_xid, "
     "t.watermark_id)), 0), 'dead_letters_open', (SELECT count(*) FROM forward_dead_letters x "
     "WHERE x.target_id = t.id AND x.resolved_at IS NULL), 'last_ok_at', t.last_ok_at, "
     "'last_error', t.last_error, 'last_error_at', t.last_error_at)::text FROM forward_targets t "
     "WHERE t.id = $3::bigint AND " T_IN_SCOPE},
};

void db_forward_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* ---- the forwarder -------------------------------------------------------------- */

db_status db_forward_targets(db_conn *c, json_t **out)
{
    return db_exec_json(c, "fwd_targets", 0, NULL, out);
}

db_status db_forward_try_lock(db_conn *c, int64_t target_id, int *got)
{
    char id[24];
    const char *p[1] = {db_i64(id, target_id)};
    db_status st;
    PGresult *r = db_exec(c, "fwd_lock", 1, p, &st);
    if (!r)
        return st;
    *got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return DB_OK;
}

db_status db_forward_next(db_conn *c, int64_t target_id, int max_rows, json_t **out)
{
    char id[24], n[24];
    const char *p[2] = {db_i64(id, target_id), db_i64(n, max_rows)};
    return db_exec_json(c, "fwd_next", 2, p, out);
}

static db_status daily(db_conn *c, const char *target, const char *kind, long sent, long acked,
                       long refused, long resent_acked, long requests, long failures)
{
    char b[6][24];
    const char *p[8] = {target,
                        kind,
                        db_i64(b[0], sent),
                        db_i64(b[1], acked),
                        db_i64(b[2], refused),
                        db_i64(b[3], resent_acked),
                        db_i64(b[4], requests),
                        db_i64(b[5], failures)};
    db_status st;
    PGresult *r = db_exec(c, "fwd_daily", 8, p, &st);
    PQclear(r);
    return r ? DB_OK : st;
}

typedef struct {
    int64_t target_id;
    const db_forward_done *d;
    int moved;
} advance_arg;

static db_status advance_tx(db_conn *c, void *arg)
{
    advance_arg *a = arg;
    const db_forward_done *d = a->d;
    char tid[24], b[4][24];
    db_i64(tid, a->target_id);
    /* the watermark first: when it is past the row already (another forwarder took
     * the target over after this one lost its connection), nothing is counted twice */
    db_status st;
    long requests = 0;
    for (size_t i = 0; i < d->n_kinds; i++)
        requests += d->kinds[i].requests;
    const char *w[4] = {tid, d->xid, db_i64(b[0], d->id), requests > 0 ? "true" : "false"};
    PGresult *r = db_exec(c, "fwd_advance", 4, w, &st);
    if (!r)
        return st;
    a->moved = PQntuples(r) == 1;
    PQclear(r);
    if (!a->moved)
        return DB_OK;
    for (size_t i = 0; i < d->n_dead && st == DB_OK; i++) {
        const db_forward_dead *x = &d->dead[i];
        const char *p[8] = {tid,
                            db_i64(b[0], x->enterprise_id),
                            x->kind,
                            db_i64(b[1], x->items),
                            x->payload,
                            x->http_status ? db_i64(b[2], x->http_status) : NULL,
                            x->upstream_code >= 0 ? db_i64(b[3], x->upstream_code) : NULL,
                            x->reason};
        PGresult *q = db_exec(c, "fwd_dead_insert", 8, p, &st);
        PQclear(q);
    }
    for (size_t i = 0; i < d->n_kinds && st == DB_OK; i++) {
        const db_forward_kind_counts *k = &d->kinds[i];
        if (k->requests > 0)
            st = daily(c, tid, k->kind, k->sent, k->acked, k->refused, 0, k->requests, 0);
    }
    return st;
}

db_status db_forward_advance(db_conn *c, int64_t target_id, const db_forward_done *d, int *moved)
{
    advance_arg a = {target_id, d, 0};
    db_status st = db_run_tx(c, NULL, advance_tx, &a);
    if (st == DB_OK)
        *moved = a.moved;
    return st;
}

db_status db_forward_inflight(db_conn *c, int64_t target_id, const char *xid, int64_t id)
{
    char tid[24], rid[24];
    const char *p[3] = {db_i64(tid, target_id), xid, db_i64(rid, id)};
    db_status st;
    PGresult *r = db_exec(c, "fwd_inflight", 3, p, &st);
    PQclear(r);
    return r ? DB_OK : st;
}

db_status db_forward_failure(db_conn *c, int64_t target_id, const char *kind, const char *error)
{
    char tid[24];
    const char *p[2] = {db_i64(tid, target_id), error};
    db_status st;
    PGresult *r = db_exec(c, "fwd_failure", 2, p, &st);
    if (!r)
        return st;
    PQclear(r);
    return daily(c, tid, kind, 0, 0, 0, 0, 0, 1);
}

db_status db_forward_resends_due(db_conn *c, int64_t target_id, json_t **out)
{
    char tid[24];
    const char *p[1] = {db_i64(tid, target_id)};
    return db_exec_json(c, "fwd_resends_due", 1, p, out);
}

typedef struct {
    int64_t target_id, letter_id;
    const char *kind;
    int items, acked, http_status, upstream_code;
    const char *reason, *requested_at;
} resend_arg;

static db_status resend_tx(db_conn *c, void *arg)
{
    const resend_arg *a = arg;
    char tid[24], lid[24], hs[24], uc[24];
    const char *p[7] = {db_i64(tid, a->target_id),
                        db_i64(lid, a->letter_id),
                        a->acked ? "true" : "false",
                        a->http_status ? db_i64(hs, a->http_status) : NULL,
                        a->upstream_code >= 0 ? db_i64(uc, a->upstream_code) : NULL,
                        a->reason ? a->reason : "",
                        a->requested_at};
    db_status st;
    PGresult *r = db_exec(c, "fwd_resend_result", 7, p, &st);
    if (!r)
        return st;
    PQclear(r);
    return daily(c, tid, a->kind, 0, 0, 0, a->acked ? a->items : 0, 1, 0);
}

db_status db_forward_resend_result(db_conn *c, int64_t target_id, int64_t letter_id,
                                   const char *kind, int items, int acked, int http_status,
                                   int upstream_code, const char *reason, const char *requested_at)
{
    resend_arg a = {.target_id = target_id,
                    .letter_id = letter_id,
                    .kind = kind,
                    .items = items,
                    .acked = acked,
                    .http_status = http_status,
                    .upstream_code = upstream_code,
                    .reason = reason,
                    .requested_at = requested_at};
    return db_run_tx(c, NULL, resend_tx, &a);
}

db_status db_forward_prune(db_conn *c, long *deleted)
{
    db_status st;
    PGresult *r = db_exec(c, "fwd_prune", 0, NULL, &st);
    if (!r)
        return st;
    *deleted = PQntuples(r) == 1 ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

/* ---- the REST API --------------------------------------------------------------- */

db_status db_forward_target_list(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "fwd_api_list", 2, p, out);
}

db_status db_forward_target_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char tid[24];
    const char *p[3] = {s->kind, s->id, db_i64(tid, id)};
    return db_read_json(c, s, "fwd_api_get", 3, p, out);
}

static int64_t opt_i64(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

db_status db_forward_check_selection(db_conn *c, const db_scope *s, const char *district_ids,
                                     const char *enterprise_ids, int64_t *bad_district,
                                     int64_t *bad_enterprise)
{
    const char *p[4] = {s->kind, s->id, district_ids ? district_ids : "{}",
                        enterprise_ids ? enterprise_ids : "{}"};
    db_status st;
    PGresult *r = db_exec(c, "fwd_api_check", 4, p, &st);
    if (!r)
        return st;
    *bad_district = PQntuples(r) == 1 ? opt_i64(r, 0) : 0;
    *bad_enterprise = PQntuples(r) == 1 ? opt_i64(r, 1) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_forward_target_insert(db_conn *c, const db_scope *s, const db_forward_fields *f,
                                   int64_t *id, db_diag *diag)
{
    (void)s; /* row-level security checks the owner (WITH CHECK) */
    const char *p[12] = {
        f->name,           f->url,          f->dialect,        f->appid, f->sealed_hex,
        f->owner_district, f->district_ids, f->enterprise_ids, f->kinds, f->rate_per_s,
        f->batch_max,      f->enabled};
    db_status st;
    PGresult *r = db_exec_diag(c, "fwd_api_insert", 12, p, &st, diag);
    if (!r)
        return st;
    *id = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_forward_target_update(db_conn *c, const db_scope *s, int64_t id,
                                   const db_forward_fields *f, int *found, db_diag *diag)
{
    char tid[24];
    const char *p[13] = {s->kind,       s->id,         db_i64(tid, id), f->name,           f->url,
                         f->appid,      f->sealed_hex, f->district_ids, f->enterprise_ids, f->kinds,
                         f->rate_per_s, f->batch_max,  f->enabled};
    db_status st;
    PGresult *r = db_exec_diag(c, "fwd_api_update", 13, p, &st, diag);
    if (!r)
        return st;
    *found = PQntuples(r) == 1;
    PQclear(r);
    return DB_OK;
}

db_status db_forward_target_delete(db_conn *c, const db_scope *s, int64_t id, int *found)
{
    char tid[24];
    const char *p[3] = {s->kind, s->id, db_i64(tid, id)};
    db_status st;
    PGresult *r = db_exec(c, "fwd_api_delete", 3, p, &st);
    if (!r)
        return st;
    *found = PQntuples(r) == 1;
    PQclear(r);
    return DB_OK;
}

db_status db_forward_codes_list(db_conn *c, const db_scope *s, int64_t target_id, json_t **out)
{
    char tid[24];
    const char *p[3] = {s->kind, s->id, db_i64(tid, target_id)};
    return db_read_json(c, s, "fwd_api_codes", 3, p, out);
}

db_status db_forward_code_set(db_conn *c, const db_scope *s, int64_t target_id, const char *object,
                              const char *local, const char *upstream, int *known, db_diag *diag)
{
    char tid[24];
    const char *p[5] = {s->kind, s->id, db_i64(tid, target_id), object, local};
    db_status st;
    PGresult *r = db_exec(c, "fwd_api_code_known", 5, p, &st);
    if (!r)
        return st;
    int target_ok = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    int code_ok = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    *known = !target_ok ? -1 : code_ok || !upstream ? 1 : 0;
    if (*known != 1)
        return DB_OK;
    const char *q[4] = {tid, object, local, upstream};
    r = db_exec_diag(c, upstream ? "fwd_api_code_upsert" : "fwd_api_code_delete", upstream ? 4 : 3,
                     q, &st, diag);
    PQclear(r);
    return r ? DB_OK : st;
}

db_status db_forward_dead_list(db_conn *c, const db_scope *s, int64_t target_id, int open_only,
                               long limit, json_t **out)
{
    char tid[24], lim[24];
    const char *p[5] = {s->kind, s->id, db_i64(tid, target_id), open_only ? "true" : "false",
                        db_i64(lim, limit)};
    return db_read_json(c, s, "fwd_api_dead", 5, p, out);
}

db_status db_forward_dead_resend(db_conn *c, const db_scope *s, int64_t letter_id, int *requested,
                                 json_t **out)
{
    char lid[24];
    const char *p[3] = {s->kind, s->id, db_i64(lid, letter_id)};
    *out = NULL;
    *requested = 0;
    db_status st;
    PGresult *r = db_exec(c, "fwd_api_resend", 3, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) == 1) {
        *requested = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
        *out = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
    }
    PQclear(r);
    return DB_OK;
}

db_status db_forward_report(db_conn *c, const db_scope *s, int64_t target_id, const char *from,
                            const char *to, json_t **out)
{
    char tid[24];
    const char *p[5] = {s->kind, s->id, db_i64(tid, target_id), from, to};
    return db_read_json(c, s, "fwd_api_report", 5, p, out);
}
