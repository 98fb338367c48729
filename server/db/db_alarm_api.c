/* The API's alarm statements (db_alarm_api.h).  Every statement takes the
 * scope filter's kind and id as $1 and $2 (db_scope_sql.h). */
#include "db_alarm_api.h"

#include "db_alarm_sql.h"
#include "db_internal.h"
#include "db_page_sql.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>

#define ALARM_JSON                                                                                 \
    "json_build_object('id', a.id, 'enterprise', json_build_object('id', e.id, 'code', e.code, "   \
    "'name', e.name, 'district_id', e.district_id, 'street_id', e.street_id), 'point', CASE WHEN " \
    "p.id IS NULL THEN NULL ELSE json_build_object('id', p.id, 'code', p.code, 'name', p.name, "   \
    "'kind', p.kind, 'unit', coalesce(nullif(p.unit, ''), (SELECT k.unit FROM indicator_kinds k "  \
    "WHERE k.code = p.kind)), 'system_id', p.system_id) END, 'source', a.source, "                 \
    "'channel', a.channel, 'kind', a.kind, 'level', a.level, 'max_level', a.max_level, 'reason', " \
    "a.reason, 'value', a.value, 'threshold', a.threshold, 'raised_at', a.raised_at, "             \
    "'escalated_at', a.escalated_at, 'cleared_at', a.cleared_at, 'clear_reason', "                 \
    "a.clear_reason, 'back_to_normal', a.cleared_at IS NOT NULL, 'state', a.state, "               \
    "'ack_deadline', a.ack_deadline, 'handle_deadline', a.handle_deadline, 'ack_overdue', "        \
    "a.ack_overdue, 'handle_overdue', a.handle_overdue, 'overdue', " ALARM_OVERDUE(                \
        "a") ", 'acknowledged', CASE WHEN a.acked_at IS NULL THEN NULL ELSE "                      \
             "json_build_object('at', "                                                            \
             "a.acked_at, 'by', a.acked_by, 'verdict', a.ack_verdict, 'note', a.ack_note) END, "   \
             "'handled', CASE WHEN a.handled_at IS NULL THEN NULL ELSE json_build_object('at', "   \
             "a.handled_at, 'by', a.handled_by, 'cause_category', a.cause_category, 'measures', "  \
             "a.measures) END, 'closed', CASE WHEN a.closed_at IS NULL THEN NULL ELSE "            \
             "json_build_object('at', a.closed_at, 'by', a.closed_by, 'automatic', a.closed_by "   \
             "IS NULL) "                                                                           \
             "END, 'camera_code', a.camera_code, 'snapshot', (SELECT json_build_object('href', "   \
             "'/api/v1/alarms/' || a.id || '/snapshot', 'bytes', octet_length(v.image)) FROM "     \
             "video_alarms v WHERE v.id = a.video_alarm_id AND v.image IS NOT NULL), 'label', "    \
             "CASE WHEN a.source = 'video' THEN "                                                  \
             "coalesce((SELECT t.label FROM video_alarm_types t WHERE t.code = a.reason), "        \
             "a.reason) END, 'gateway', CASE WHEN a.gateway_code IS NULL THEN NULL ELSE "          \
             "json_build_object('id', a.gateway_id, 'code', a.gateway_code) END, 'created_at', "   \
             "a.created_at, 'episode', json_build_object('count', a.trigger_count, 'first_at', "   \
             "a.raised_at, 'last_at', coalesce(a.last_trigger_at, a.raised_at), 'peak_value', "    \
             "a.peak_value), 'value_text', CASE WHEN p.id IS NOT NULL AND a.value IN (0, 1) AND "  \
             "a.channel IN ('limit', 'gateway') THEN (SELECT json_build_object('zh', l.zh, "       \
             "'en', l.en) FROM labels l WHERE l.domain = 'digital_state' AND l.code = p.kind || "  \
             "':' || a.value::int) END, 'folded_into', a.folded_into, 'points', CASE WHEN "        \
             "a.channel = 'enterprise_offline' THEN coalesce((SELECT json_agg(json_build_object("  \
             "'id', q.id, 'code', q.code, 'name', q.name, 'kind', q.kind, 'last_data_at', "        \
             "mp.last_data_at, 'joined_at', mp.joined_at, 'back_at', mp.back_at) ORDER BY "        \
             "q.code) FROM alarm_points mp JOIN points q ON q.id = mp.point_id WHERE "             \
             "mp.alarm_id = a.id), '[]'::json) END, 'shelved', CASE WHEN a.shelved_until > now() " \
             "THEN json_build_object('at', a.shelved_at, 'until', a.shelved_until, 'by', "         \
             "a.shelved_by, 'reason', a.shelve_reason) END)"

#define ALARM_FROM                                                                                 \
    " FROM alarms a JOIN enterprises e ON e.id = a.enterprise_id LEFT JOIN points p ON p.id = "    \
    "a.point_id "

#define CSV_MATCH(col, n)                                                                          \
    "($" n "::text IS NULL OR " col "::text = ANY(string_to_array($" n ", ',')))"

/* the page's rows by id (db_page_sql.h) */
#define PAGE_ROWS                                                                                  \
    "CROSS JOIN " ROW_BY_ID("alarms", "a", "pg.id") " CROSS JOIN " ROW_BY_ID(                      \
        "enterprises", "e", "a.enterprise_id") " LEFT JOIN " ROW_BY_ID("points", "p",              \
                                                                       "a.point_id") " ON true"

static const db_stmt statements[] = {
    /* $3 district code $4 street code $5 enterprise $6 kinds $7 levels $8 states $9 sources
     * $10 from $11 to $12 overdue $13 limit $14 offset $15 point $16 open $17 industry $18 dust
     * kind $19 risk grade $20 during: from/to take the alarms open at any time in [from, to), not
     * folded into an enterprise alarm (what a statistic's interruptions count), instead of those
     * raised in it */
    {"alm_api_list",
     "WITH f AS (SELECT a.id, a.raised_at FROM alarms a JOIN enterprises e ON e.id = "
     "a.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "
     "e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text "
              "IS NULL OR s.code = $4) AND ($5::bigint IS NULL OR e.id = $5::bigint) "
              "AND " CSV_MATCH("a.kind", "6") " AND " CSV_MATCH("a.level", "7") " AND " CSV_MATCH(
                  "a.state",
                  "8") " AND " CSV_MATCH("a.source",
                                         "9") " AND ($11::timestamptz IS NULL OR a.raised_at < "
                                              "$11::timestamptz) AND "
                                              "($10::timestamptz IS NULL OR CASE WHEN $20::boolean "
                                              "THEN coalesce(a.cleared_at, 'infinity') > "
                                              "$10::timestamptz AND a.folded_into IS NULL ELSE "
                                              "a.raised_at >= $10::timestamptz END) AND "
                                              "($12::boolean IS NULL OR " ALARM_OVERDUE(
                                                  "a") " = $12::boolean) AND ($15::bigint IS NULL "
                                                       "OR a.point_id = $15::bigint) AND "
                                                       "($16::boolean IS NULL OR (a.state <> "
                                                       "'closed') = $16::boolean) AND " ENT_CLASS(
                                                           "e", "17", "18",
                                                           "19") ") SELECT "
                                                                 "json_build_object('total', "
                                                                 "(SELECT "
                                                                 "count(*) FROM f), 'limit', "
                                                                 "$13::int, "
                                                                 "'offset', "
                                                                 "$14::int, 'items', "
                                                                 "coalesce((SELECT "
                                                                 "json_agg(" ALARM_JSON
                                                                 " ORDER BY a.raised_at DESC, a.id "
                                                                 "DESC) "
                                                                 "FROM (SELECT id FROM f ORDER BY "
                                                                 "raised_at "
                                                                 "DESC, id DESC LIMIT $13::int "
                                                                 "OFFSET "
                                                                 "$14::int) pg " PAGE_ROWS "), "
                                                                 "'[]'::json))::text"},
    {"alm_api_get",
     "SELECT json_build_object('alarm', " ALARM_JSON
     ", 'events', coalesce((SELECT json_agg(json_build_object('id', v.id, 'at', v.at, "
     "'recorded_at', v.recorded_at, 'action', v.action, 'kind', v.kind, 'level', v.level, "
     "'value', v.value, 'threshold', v.threshold, 'reason', v.reason, 'actor', v.actor, "
     "'actor_id', v.actor_id, 'note', v.note) ORDER BY v.id) FROM alarm_events v WHERE "
     "v.alarm_id = a.id), '[]'::json), 'readings', json_build_object('from', a.raised_at - "
     "interval '30 minutes', 'to', a.raised_at + interval '30 minutes', 'items', CASE WHEN "
     "a.point_id IS NULL THEN '[]'::json ELSE coalesce((SELECT json_agg(json_build_array("
     "extract(epoch FROM r.collected_at) * 1000, r.value, r.quality) ORDER BY r.collected_at) "
     "FROM (SELECT x.collected_at, x.value, x.quality FROM dw_readings(a.point_id, a.raised_at - "
     "interval '30 minutes', a.raised_at + interval '30 minutes 1 microsecond') x ORDER BY "
     "x.collected_at LIMIT 5000) r), '[]'::json) "
     "END))::text" ALARM_FROM "WHERE a.id = $3::bigint AND " SCOPE_ENT("e")},
    /* the row to act on, locked for the rest of the transaction */
    {"alm_api_lock",
     "SELECT a.state, (a.cleared_at IS NOT NULL)::int, a.enterprise_id, e.district_id, "
     "coalesce(e.street_id, 0), coalesce(a.shelved_until > now(), false)::int FROM alarms a JOIN "
     "enterprises e ON e.id = a.enterprise_id WHERE "
     "a.id = $3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF a"},
    /* $3 alarm $4 actor id $5 actor name $6 verdict / cause $7 note / measures */
    {"alm_api_ack",
     "WITH u AS (UPDATE alarms a SET state = 'acknowledged', acked_at = now(), acked_by = "
     "$4::bigint, ack_verdict = $6, ack_note = $7 FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state = 'active' AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO alarm_events "
              "(alarm_id, "
              "enterprise_id, at, action, kind, level, reason, actor_id, actor, note) SELECT id, "
              "enterprise_id, now(), 'acknowledge', kind, level, $6, $4::bigint, $5, $7 FROM u "
              "RETURNING "
              "alarm_id"},
    {"alm_api_handle",
     "WITH u AS (UPDATE alarms a SET state = 'handled', handled_at = now(), handled_by = "
     "$4::bigint, cause_category = $6, measures = $7 FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state = 'acknowledged' AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO alarm_events "
              "(alarm_id, "
              "enterprise_id, at, action, kind, level, reason, actor_id, actor, note) SELECT id, "
              "enterprise_id, now(), 'handle', kind, level, $6, $4::bigint, $5, $7 FROM u "
              "RETURNING "
              "alarm_id"},
    {"alm_api_close",
     "WITH u AS (UPDATE alarms a SET state = 'closed', closed_at = greatest(now(), "
     "a.cleared_at, a.handled_at), closed_by = $4::bigint FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state = 'handled' AND a.cleared_at IS NOT "
     "NULL AND " SCOPE_ENT("e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO "
                                "alarm_events (alarm_id, enterprise_id, at, action, kind, level, "
                                "reason, actor_id, actor, "
                                "note) SELECT id, enterprise_id, now(), 'close', kind, level, $6, "
                                "$4::bigint, $5, $7 FROM u "
                                "RETURNING alarm_id"},
    /* $6 reason $7 until (timestamptz text): shelved, not closed */
    {"alm_api_shelve",
     "WITH u AS (UPDATE alarms a SET shelved_at = now(), shelved_until = $7::timestamptz, "
     "shelved_by = $4::bigint, shelve_reason = $6 FROM enterprises e WHERE e.id = "
     "a.enterprise_id AND a.id = $3::bigint AND a.state <> 'closed' AND $7::timestamptz > now() "
     "AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO "
              "alarm_events (alarm_id, enterprise_id, at, action, kind, level, reason, "
              "actor_id, actor, note) SELECT id, enterprise_id, now(), 'shelve', kind, "
              "level, $6, $4::bigint, $5, 'until ' || $7 FROM u RETURNING alarm_id"},
    {"alm_api_unshelve",
     "WITH u AS (UPDATE alarms a SET shelved_at = NULL, shelved_until = NULL, shelved_by = "
     "NULL, shelve_reason = NULL FROM enterprises e WHERE e.id = a.enterprise_id AND a.id = "
     "$3::bigint AND a.shelved_until > now() AND " SCOPE_ENT(
         "e") " RETURNING a.id, a.enterprise_id, a.kind, a.level) INSERT INTO alarm_events "
              "(alarm_id, enterprise_id, at, action, kind, level, reason, actor_id, actor, note) "
              "SELECT id, enterprise_id, now(), 'unshelve', kind, level, $6, $4::bigint, $5, $7 "
              "FROM u RETURNING alarm_id"},
    /* The label catalogue (migrations 0044, 0047) with the catalogues that carry their own
     * labels: {domain: {code: {zh, en}}}.  The same for every scope (no tenant data), so
     * it takes no scope parameters. */
    {"alm_api_labels",
     "SELECT coalesce(json_object_agg(domain, items ORDER BY domain), '{}'::json)::text FROM "
     "(SELECT domain, json_object_agg(code, json_build_object('zh', zh, 'en', en) ORDER BY "
     "code) AS items FROM (SELECT domain, code, zh, en FROM labels UNION ALL SELECT "
     "'dust_kind', code, name_zh, name_en FROM dust_kinds UNION ALL SELECT 'indicator_kind', "
     "code, name_zh, name_en FROM indicator_kinds UNION ALL SELECT 'video_alarm_type', code, "
     "label, split_part(description, ' (', 1) FROM video_alarm_types) l GROUP BY domain) d"},
};

void db_alarm_api_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_alarm_api_list(db_conn *c, const db_scope *s, const db_alarm_api_filter *f,
                            json_t **out)
{
    char eid[24], pid[24], lim[24], off[24];
    const char *p[20] = {s->kind,
                         s->id,
                         f->list.district_code,
                         f->list.street_code,
                         f->list.enterprise_id ? db_i64(eid, f->list.enterprise_id) : NULL,
                         f->kinds,
                         f->levels,
                         f->states,
                         f->sources,
                         f->list.from,
                         f->list.to,
                         db_tristate(f->list.overdue),
                         db_i64(lim, f->list.limit),
                         db_i64(off, f->list.offset),
                         f->point_id ? db_i64(pid, f->point_id) : NULL,
                         db_tristate(f->list.open),
                         f->list.industry_code,
                         f->list.dust_kind,
                         f->list.risk_grade,
                         f->during ? "true" : "false"};
    return db_read_json(c, s, "alm_api_list", 20, p, out);
}

db_status db_alarm_api_get(db_conn *c, const db_scope *s, int64_t alarm_id, json_t **out)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, alarm_id)};
    return db_read_json(c, s, "alm_api_get", 3, p, out);
}

db_status db_alarm_api_lock(db_conn *c, const db_scope *s, int64_t alarm_id, db_alarm_api_row *out,
                            int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, alarm_id)};
    db_status st;
    PGresult *res = db_exec(c, "alm_api_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->state, sizeof out->state, "%s", PQgetvalue(res, 0, 0));
        out->cleared = PQgetvalue(res, 0, 1)[0] == '1';
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        out->shelved = PQgetvalue(res, 0, 5)[0] == '1';
    }
    PQclear(res);
    return DB_OK;
}

/* $3 alarm $4 actor id $5 actor name $6 verdict / cause / reason $7 note / measures */
static db_status step(db_conn *c, const char *stmt, const db_scope *s, int64_t alarm_id,
                      int64_t actor_id, const char *actor, const char *reason, const char *note)
{
    char id[24], aid[24];
    const char *p[7] = {
        s->kind, s->id, db_i64(id, alarm_id), actor_id ? db_i64(aid, actor_id) : NULL, actor,
        reason,  note};
    db_status st;
    PGresult *res = db_exec(c, stmt, 7, p, &st);
    if (!res)
        return st;
    int n = PQntuples(res);
    PQclear(res);
    return n == 1 ? DB_OK : DB_BAD;
}

db_status db_alarm_api_acknowledge(db_conn *c, const db_scope *s, int64_t alarm_id,
                                   int64_t actor_id, const char *actor, const char *verdict,
                                   const char *note)
{
    return step(c, "alm_api_ack", s, alarm_id, actor_id, actor, verdict, note);
}

db_status db_alarm_api_handle(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                              const char *actor, const char *cause_category, const char *measures)
{
    return step(c, "alm_api_handle", s, alarm_id, actor_id, actor, cause_category, measures);
}

db_status db_alarm_api_close(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                             const char *actor, const char *reason, const char *note)
{
    return step(c, "alm_api_close", s, alarm_id, actor_id, actor, reason, note);
}

db_status db_alarm_api_shelve(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                              const char *actor, const char *reason, const char *until)
{
    return step(c, "alm_api_shelve", s, alarm_id, actor_id, actor, reason, until);
}

db_status db_alarm_api_unshelve(db_conn *c, const db_scope *s, int64_t alarm_id, int64_t actor_id,
                                const char *actor, const char *note)
{
    return step(c, "alm_api_unshelve", s, alarm_id, actor_id, actor, "unshelved_by_user", note);
}

db_status db_alarm_api_labels(db_conn *c, const db_scope *s, json_t **out)
{
    return db_read_json(c, s, "alm_api_labels", 0, NULL, out);
}

db_status db_alarm_api_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason)
{
    return db_risk_request_recompute(c, enterprise_id, reason);
}
