/* Filings (db_filings.h, migration 0060).  Scoped statements take the caller's scope kind
 * and id as $1 and $2 (db_scope_sql.h). */
#include "db_filings.h"

#include "db_filing_sql.h"
#include "db_internal.h"
#include "db_scope_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the state people see: an approved filing past its end is expired */
#define FILING_ACTIVE(f)                                                                           \
    "(" f ".status = 'approved' AND " f ".starts_at <= now() AND now() < " f ".ends_at)"

#define FILING_JSON                                                                                \
    "json_build_object('id', f.id, 'enterprise', json_build_object('id', e.id, 'code', e.code, "   \
    "'name', e.name, 'district_id', e.district_id, 'street_id', e.street_id), 'type', f.type, "    \
    "'starts_at', f.starts_at, 'ends_at', f.ends_at, 'system_ids', f.system_ids, 'point_ids', "    \
    "f.point_ids, 'whole_enterprise', cardinality(f.point_ids) = 0 AND cardinality(f.system_ids) " \
    "= 0, 'reason', f.reason, 'evidence', CASE WHEN f.evidence IS NULL THEN NULL ELSE "            \
    "json_build_object('type', f.evidence_type, 'bytes', octet_length(f.evidence), 'href', "       \
    "'/api/v1/filings/' || f.id || '/evidence') END, 'status', f.status, 'state', " FILING_STATE(  \
        "f") ", 'active', " FILING_ACTIVE("f") ", 'approval_level', f.approval_level, "            \
                                               "'filed_by', f.filed_by, 'filed_at', f.filed_at, "  \
                                               "'reviewed_by', f.reviewed_by, 'reviewed_at', "     \
                                               "f.reviewed_at, 'review_note', f.review_note, "     \
                                               "'ended_at', f.ended_at, 'end_note', f.end_note, "  \
                                               "'production_alarm_id', f.production_alarm_id, "    \
                                               "'suppressed', (SELECT coalesce(sum(x.count), 0) "  \
                                               "FROM filing_suppressions x WHERE x.filing_id = "   \
                                               "f.id))"

#define CSV_MATCH(expr, n) "($" n "::text IS NULL OR " expr " = ANY(string_to_array($" n ", ',')))"

static const db_stmt statements[] = {
    /* $3 district code $4 street code $5 enterprise $6 states $7 types $8 active $9 from
     * $10 to $11 limit $12 offset */
    {"flg_list",
     "WITH q AS (SELECT f.id, f.filed_at FROM filings f JOIN enterprises e ON e.id = "
     "f.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id = "
     "e.street_id WHERE " SCOPE_ENT(
         "e") " AND ($3::text IS NULL OR d.code = $3) AND ($4::text "
              "IS NULL OR s.code = $4) AND ($5::bigint IS NULL OR "
              "e.id = $5::bigint) AND " CSV_MATCH(FILING_STATE("f"), "6") " AND " CSV_MATCH(
                  "f.type",
                  "7") " AND "
                       "($8::"
                       "boole"
                       "an IS "
                       "NULL "
                       "OR " FILING_ACTIVE(
                           "f") " = $8::boolean) AND ($9::timestamptz IS NULL OR f.ends_at > "
                                "$9::timestamptz) AND ($10::timestamptz IS NULL OR f.starts_at < "
                                "$10::timestamptz)) "
                                "SELECT json_build_object('total', (SELECT count(*) FROM q), "
                                "'limit', $11::int, 'offset', "
                                "$12::int, 'items', coalesce((SELECT json_agg(" FILING_JSON
                                " ORDER BY f.filed_at DESC, "
                                "f.id DESC) FROM (SELECT id FROM q ORDER BY filed_at DESC, id DESC "
                                "LIMIT $11::int OFFSET "
                                "$12::int) pg JOIN filings f ON f.id = pg.id JOIN enterprises e ON "
                                "e.id = "
                                "f.enterprise_id), '[]'::json))::text"},
    {"flg_get",
     "SELECT json_build_object('filing', " FILING_JSON
     ", 'points', coalesce((SELECT json_agg(json_build_object('id', p.id, 'code', p.code, "
     "'name', p.name, 'system_id', p.system_id) ORDER BY p.id) FROM points p WHERE "
     "p.enterprise_id = f.enterprise_id AND " FILING_COVERS(
         "f",
         "p") "), '[]'::json), 'suppressions', coalesce((SELECT "
              "json_agg(json_build_object('point_id', x.point_id, 'point', p.code, 'gateway_id', "
              "x.gateway_id, 'gateway', g.code, "
              "'channel', x.channel, 'kind', x.kind, 'level', x.level, 'first_at', "
              "x.first_at, 'last_at', x.last_at, 'count', x.count) ORDER BY x.first_at) FROM "
              "filing_suppressions x LEFT JOIN points p ON p.id = x.point_id LEFT JOIN gateways g "
              "ON g.id = x.gateway_id WHERE x.filing_id = "
              "f.id), '[]'::json))::text FROM filings f JOIN enterprises e ON e.id = "
              "f.enterprise_id WHERE f.id = $3::bigint AND " SCOPE_ENT("e")},
    /* $3 enterprise $4 type $5 starts $6 ends $7 systems $8 points $9 reason $10 evidence
     * (binary) $11 its type $12 filed by */
    {"flg_create",
     "WITH e AS (SELECT e.id, e.district_id, e.street_id FROM enterprises e WHERE e.id = "
     "$3::bigint AND " SCOPE_ENT(
         "e") "), bs AS (SELECT x FROM unnest($7::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM "
              "dust_systems d WHERE d.id = x AND d.enterprise_id = $3::bigint)), bp AS (SELECT x "
              "FROM unnest($8::bigint[]) x WHERE NOT EXISTS (SELECT 1 FROM points p WHERE p.id = "
              "x AND p.enterprise_id = $3::bigint)), ins AS (INSERT INTO filings (enterprise_id, "
              "type, starts_at, ends_at, system_ids, point_ids, reason, evidence, evidence_type, "
              "approval_level, filed_by) SELECT e.id, $4, $5::timestamptz, $6::timestamptz, "
              "ARRAY(SELECT DISTINCT unnest($7::bigint[]) ORDER BY 1), ARRAY(SELECT DISTINCT "
              "unnest($8::bigint[]) ORDER BY 1), $9, $10::bytea, $11, CASE WHEN "
              "d.filing_approval_level = 'street' AND e.street_id IS NOT NULL THEN 'street' ELSE "
              "'district' END, $12::bigint FROM e JOIN regions d ON d.id = e.district_id WHERE "
              "NOT EXISTS (SELECT 1 FROM bs) AND NOT EXISTS (SELECT 1 FROM bp) RETURNING id) "
              "SELECT (SELECT id FROM ins), (SELECT count(*) FROM e), (SELECT min(x) FROM bs), "
              "(SELECT min(x) FROM bp)"},
    {"flg_lock",
     "SELECT f.status, " FILING_STATE("f") ", f.approval_level, f.type, f.enterprise_id, "
                                           "e.district_id, coalesce(e.street_id, 0), "
                                           "(f.starts_at <= now())::int FROM filings f JOIN "
                                           "enterprises e ON e.id = f.enterprise_id WHERE f.id = "
                                           "$3::bigint AND " SCOPE_ENT("e") " FOR UPDATE OF f"},
    /* $3 filing $4 from $5 to $6 action $7 actor $8 note */
    {"flg_move",
     "WITH u AS (UPDATE filings f SET status = $5, reviewed_by = CASE WHEN $6 IN ('approve', "
     "'return') THEN $7::bigint ELSE f.reviewed_by END, reviewed_at = CASE WHEN $6 IN "
     "('approve', 'return') THEN now() ELSE f.reviewed_at END, review_note = CASE WHEN $6 IN "
     "('approve', 'return') THEN $8 ELSE f.review_note END, ended_at = CASE WHEN $6 = 'end' "
     "THEN now() ELSE f.ended_at END, end_note = CASE WHEN $6 = 'end' THEN $8 ELSE f.end_note "
     "END FROM enterprises e WHERE e.id = f.enterprise_id AND f.id = $3::bigint AND f.status = "
     "$4 AND " SCOPE_ENT("e") " RETURNING f.id, f.enterprise_id, f.point_ids, f.system_ids), "
                              "pts AS (SELECT s.point_id FROM point_rule_state s JOIN points p ON "
                              "p.id = s.point_id JOIN u ON u.enterprise_id = s.enterprise_id "
                              "WHERE $6 = 'end' AND s.offline_due_at > extract(epoch FROM "
                              "now())::bigint AND " FILING_COVERS(
                                  "u", "p") " ORDER BY s.point_id FOR UPDATE OF s), r AS (UPDATE "
                                            "point_rule_state s SET offline_due_at = extract(epoch "
                                            "FROM now())::bigint FROM pts WHERE s.point_id = "
                                            "pts.point_id RETURNING 1), q AS (" DB_RECOMPUTE_INSERT
                                            "SELECT enterprise_id, 'filing' FROM u WHERE $6 IN "
                                            "('approve', 'end') " DB_RECOMPUTE_CONFLICT ") SELECT "
                                            "(SELECT count(*) FROM u), (SELECT count(*) FROM r)"},
    {"flg_evidence",
     "SELECT f.evidence_type, encode(f.evidence, 'base64') FROM filings f JOIN enterprises e ON "
     "e.id = f.enterprise_id WHERE f.id = $3::bigint AND f.evidence IS NOT NULL AND " SCOPE_ENT(
         "e")},
    /* $3 district $4 level: a district account its own, the city any */
    {"flg_set_level",
     "UPDATE regions r SET filing_approval_level = $4 WHERE r.id = $3::bigint AND r.level = "
     "'district' AND ($1 = 'city' OR ($1 = 'district' AND r.id = $2::bigint)) RETURNING r.id"},
    /* $1 enterprise $2 point $3 channel $4 kind $5 level $6 ts $7 offline.  Offline is
     * judged at max(ts, now): the sweep finds a point late, and its deferred deadline is the
     * filing's end, which no longer is covered. */
    {"flg_suppress",
     "WITH t AS (SELECT CASE WHEN $7::boolean THEN greatest(to_timestamp($6::bigint), now()) "
     "ELSE to_timestamp($6::bigint) END AS at), f AS (SELECT fl.id, least(fl.ends_at, "
     "coalesce(fl.ended_at, 'infinity')) AS until FROM t, filings fl WHERE fl.id = "
     "dw_filing_covers($1::bigint, $2::bigint, (SELECT system_id FROM points WHERE id = "
     "$2::bigint), t.at)), x AS (INSERT INTO filing_suppressions (filing_id, enterprise_id, "
     "point_id, channel, kind, level, first_at, last_at) SELECT f.id, $1::bigint, $2::bigint, "
     "$3, $4, $5::smallint, t.at, t.at FROM f, t ON CONFLICT (filing_id, point_id, channel) WHERE "
     "point_id IS NOT NULL DO "
     "UPDATE SET count = filing_suppressions.count + 1, kind = EXCLUDED.kind, level = "
     "greatest(filing_suppressions.level, EXCLUDED.level), last_at = "
     "greatest(filing_suppressions.last_at, EXCLUDED.last_at) RETURNING 1), d AS (UPDATE "
     "point_rule_state s SET offline_active = false, offline_due_at = ceil(extract(epoch FROM "
     "f.until))::bigint FROM f WHERE $7::boolean AND s.point_id = $2::bigint RETURNING 1) "
     "SELECT f.id, (SELECT count(*) FROM x), (SELECT count(*) FROM d) FROM f"},
    /* $1 window (s) $2 ack within $3 handle within.  The window ends now and is minutes
     * long: it never reaches a packed day (migration 0137), so readings is read directly. */
    {"flg_production",
     "WITH cand AS (SELECT f.id AS filing_id, f.enterprise_id, m.point_id, m.code, m.last FROM "
     "filings f CROSS JOIN LATERAL (SELECT p.id AS point_id, p.code, (array_agg(r.value ORDER "
     "BY r.collected_at DESC))[1] AS last FROM points p JOIN indicator_kinds k ON k.code = p.kind "
     "JOIN readings r ON r.point_id = "
     "p.id WHERE p.enterprise_id = f.enterprise_id AND p.enabled AND k.value_type = 'analog' AND "
     "" FILING_COVERS("f", "p") " AND r.collected_at >= greatest(f.starts_at, now() - "
                                "$1::float8 * interval '1 second') AND r.collected_at <= now() "
                                "GROUP BY p.id HAVING count(DISTINCT r.value) >= 3 ORDER BY p.id "
                                "LIMIT 1) m WHERE f.type = 'stop' AND " FILING_ACTIVE(
                                    "f") " AND f.production_alarm_id IS NULL ORDER BY f.id LIMIT "
                                         "100 FOR UPDATE OF f SKIP LOCKED), a AS (INSERT INTO "
                                         "alarms (enterprise_id, point_id, source, channel, "
                                         "kind, level, max_level, reason, value, raised_at, "
                                         "cleared_at, clear_reason, ack_deadline, "
                                         "handle_deadline, peak_value) SELECT enterprise_id, "
                                         "point_id, 'rule', 'filing', 'production_during_stop', "
                                         "1, 1, 'readings_moving_during_stop_filing', last, "
                                         "now(), now(), 'instantaneous', now() + $2::float8 * "
                                         "interval '1 second', now() + $3::float8 * interval '1 "
                                         "second', last FROM cand RETURNING id, enterprise_id, "
                                         "point_id, value, raised_at), ev AS (INSERT INTO "
                                         "alarm_events (alarm_id, enterprise_id, at, action, "
                                         "kind, level, value, reason) SELECT id, enterprise_id, "
                                         "raised_at, 'raise', 'production_during_stop', 1, "
                                         "value, 'readings_moving_during_stop_filing' FROM a), "
                                         "u AS (UPDATE filings f SET production_alarm_id = a.id "
                                         "FROM cand JOIN a ON a.point_id = cand.point_id AND "
                                         "a.enterprise_id = cand.enterprise_id WHERE f.id = "
                                         "cand.filing_id RETURNING f.id, a.id AS alarm_id, "
                                         "f.enterprise_id, cand.code), q AS (" DB_RECOMPUTE_INSERT
                                         "SELECT DISTINCT enterprise_id, 'production_during_stop' "
                                         "FROM u " DB_RECOMPUTE_CONFLICT ") SELECT id, alarm_id, "
                                         "enterprise_id, code FROM u ORDER BY id"},
    /* $3 point $4 from $5 to: the approved (or ended) filings covering the point that
     * overlap [from, to), each until its effective end */
    {"flg_point_periods",
     "SELECT " FILING_POINT_PERIODS "::text FROM points p JOIN enterprises e ON e.id = "
     "p.enterprise_id JOIN filings f ON f.enterprise_id = p.enterprise_id WHERE p.id = $3::bigint "
     "AND " SCOPE_ENT("e") " AND " FILING_POINT_PERIODS_OF("f", "p")},
    /* Clocks stop (migration 0110): each valid approved filing extends, once per item, the
     * deadlines still running at its start of the open alarms it covers (a whole-enterprise
     * filing: also those without a point; never sparks or its own production alarm) and,
     * when it covers the whole enterprise, of the enterprise's open warnings, by its end
     * minus the later of its start and the item's raise.  An item another valid filing
     * already extended is left to that one.  FOR SHARE waits for a concurrent 复产 and
     * skips the filing it ended.  The warnings to extend are locked (wl, in id order)
     * before the span and the deadlines are read from them: a warning upgraded at that
     * moment (rsk_upgrade, its row locked) is read as upgraded, after its commit.  Read
     * from the snapshot, the span measured from the old version was added to the
     * upgraded deadlines (the UPDATE sees the new row) and the new sign deadline was left
     * running when the old version was signed. */
    {"flg_clock_link",
     "WITH f AS (SELECT id, enterprise_id, starts_at, ends_at, point_ids, system_ids, "
     "cardinality(point_ids) = 0 AND cardinality(system_ids) = 0 AS whole FROM filings WHERE "
     "status = 'approved' AND starts_at <= now() AND now() < ends_at ORDER BY id FOR SHARE), "
     "ac AS (SELECT DISTINCT ON (a.id) f.id AS filing_id, a.id AS alarm_id, a.enterprise_id, "
     "greatest(f.starts_at, a.raised_at) AS base, f.ends_at - greatest(f.starts_at, "
     "a.raised_at) AS ext, array_remove(ARRAY[CASE WHEN a.state = 'active' AND NOT "
     "a.ack_overdue AND a.ack_deadline >= f.starts_at THEN 'ack' END, CASE WHEN NOT "
     "a.handle_overdue AND a.handle_deadline >= f.starts_at THEN 'handle' END], NULL) AS dl "
     "FROM f JOIN alarms a ON a.enterprise_id = f.enterprise_id AND a.state IN ('active', "
     "'acknowledged') AND a.raised_at < f.ends_at LEFT JOIN points p ON p.id = a.point_id "
     "WHERE a.channel <> 'filing' AND a.kind <> 'spark' AND CASE WHEN a.point_id IS NULL THEN "
     "f.whole ELSE " FILING_COVERS(
         "f",
         "p") " END AND NOT EXISTS (SELECT 1 FROM "
              "filing_clock_stops x JOIN filings f2 ON f2.id = x.filing_id WHERE x.alarm_id = a.id "
              "AND "
              "(f2.id = f.id OR (f2.status = 'approved' AND f2.starts_at <= now() AND now() < "
              "f2.ends_at))) ORDER BY a.id, f.id), ai AS (INSERT INTO filing_clock_stops "
              "(filing_id, "
              "enterprise_id, alarm_id, base, extended_by, deadlines) SELECT filing_id, "
              "enterprise_id, "
              "alarm_id, base, ext, dl FROM ac ON CONFLICT (filing_id, alarm_id) WHERE alarm_id IS "
              "NOT "
              "NULL DO NOTHING RETURNING alarm_id, extended_by, deadlines), au AS (UPDATE alarms a "
              "SET "
              "ack_deadline = CASE WHEN 'ack' = ANY (ai.deadlines) THEN a.ack_deadline + "
              "ai.extended_by "
              "ELSE a.ack_deadline END, handle_deadline = CASE WHEN 'handle' = ANY (ai.deadlines) "
              "THEN "
              "a.handle_deadline + ai.extended_by ELSE a.handle_deadline END FROM ai WHERE a.id = "
              "ai.alarm_id AND cardinality(ai.deadlines) > 0 RETURNING a.id), wl AS (SELECT w.id, "
              "w.enterprise_id, w.status, w.sign_by, w.clear_by, w.upgraded_at, w.issued_at FROM "
              "warnings w WHERE w.status <> 'cleared' AND EXISTS (SELECT 1 FROM f WHERE f.whole "
              "AND "
              "f.enterprise_id = w.enterprise_id AND coalesce(w.upgraded_at, w.issued_at) < "
              "f.ends_at) AND NOT EXISTS (SELECT 1 FROM filing_clock_stops x JOIN filings f2 ON "
              "f2.id = x.filing_id WHERE x.warning_id = w.id AND f2.status = 'approved' AND "
              "f2.starts_at <= now() AND now() < f2.ends_at) ORDER BY w.id FOR NO KEY UPDATE OF "
              "w), "
              "wc AS (SELECT "
              "DISTINCT "
              "ON (w.id) f.id AS filing_id, w.id AS warning_id, w.enterprise_id, "
              "greatest(f.starts_at, "
              "coalesce(w.upgraded_at, w.issued_at)) AS base, f.ends_at - greatest(f.starts_at, "
              "coalesce(w.upgraded_at, w.issued_at)) AS ext, array_remove(ARRAY[CASE WHEN w.status "
              "= "
              "'issued' AND w.sign_by >= f.starts_at THEN 'sign' END, CASE WHEN w.clear_by >= "
              "f.starts_at THEN 'clear' END], NULL) AS dl FROM f JOIN wl w ON "
              "w.enterprise_id = "
              "f.enterprise_id AND w.status <> 'cleared' AND coalesce(w.upgraded_at, w.issued_at) "
              "< "
              "f.ends_at WHERE f.whole AND NOT EXISTS (SELECT 1 FROM filing_clock_stops x JOIN "
              "filings "
              "f2 ON f2.id = x.filing_id WHERE x.warning_id = w.id AND (f2.id = f.id OR (f2.status "
              "= "
              "'approved' AND f2.starts_at <= now() AND now() < f2.ends_at))) ORDER BY w.id, "
              "f.id), wi "
              "AS (INSERT INTO filing_clock_stops (filing_id, enterprise_id, warning_id, base, "
              "extended_by, deadlines) SELECT filing_id, enterprise_id, warning_id, base, ext, dl "
              "FROM "
              "wc ON CONFLICT (filing_id, warning_id) WHERE warning_id IS NOT NULL DO NOTHING "
              "RETURNING warning_id, extended_by, deadlines), wu AS (UPDATE warnings w SET sign_by "
              "= "
              "CASE WHEN 'sign' = ANY (wi.deadlines) THEN w.sign_by + wi.extended_by ELSE "
              "w.sign_by "
              "END, clear_by = CASE WHEN 'clear' = ANY (wi.deadlines) THEN w.clear_by + "
              "wi.extended_by "
              "ELSE w.clear_by END, next_check_at = now() FROM wi WHERE w.id = wi.warning_id AND "
              "cardinality(wi.deadlines) > 0 RETURNING w.id) SELECT (SELECT count(*) FROM au), "
              "(SELECT "
              "count(*) FROM wu)"},
    /* $1 filing, just ended early (复产): the clocks it stopped run again from its end, so
     * the part of each extension after ended_at is taken back. */
    {"flg_clock_end",
     "WITH f AS (SELECT id, ended_at FROM filings WHERE id = $1::bigint AND status = 'ended'), "
     "d AS (SELECT s.filing_id, s.alarm_id, s.warning_id, s.deadlines, greatest(f.ended_at - "
     "s.base, interval '0') AS keep, s.extended_by - greatest(f.ended_at - s.base, interval "
     "'0') AS back FROM filing_clock_stops s JOIN f ON f.id = s.filing_id WHERE s.extended_by "
     "> greatest(f.ended_at - s.base, interval '0')), u AS (UPDATE filing_clock_stops s SET "
     "extended_by = d.keep FROM d WHERE s.filing_id = d.filing_id AND s.alarm_id IS NOT "
     "DISTINCT FROM d.alarm_id AND s.warning_id IS NOT DISTINCT FROM d.warning_id RETURNING "
     "1), ua AS (UPDATE alarms a SET ack_deadline = CASE WHEN 'ack' = ANY (d.deadlines) THEN "
     "a.ack_deadline - d.back ELSE a.ack_deadline END, handle_deadline = CASE WHEN 'handle' = "
     "ANY (d.deadlines) THEN a.handle_deadline - d.back ELSE a.handle_deadline END FROM d "
     "WHERE a.id = d.alarm_id RETURNING 1), uw AS (UPDATE warnings w SET sign_by = CASE WHEN "
     "'sign' = ANY (d.deadlines) THEN w.sign_by - d.back ELSE w.sign_by END, clear_by = CASE "
     "WHEN 'clear' = ANY (d.deadlines) THEN w.clear_by - d.back ELSE w.clear_by END, "
     "next_check_at = now() FROM d WHERE w.id = d.warning_id RETURNING 1) SELECT (SELECT "
     "count(*) FROM u), (SELECT count(*) FROM ua), (SELECT count(*) FROM uw)"},
};

void db_filings_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

db_status db_filings_list(db_conn *c, const db_scope *s, const db_filings_filter *f, json_t **out)
{
    char eid[24], lim[24], off[24];
    const char *p[12] = {s->kind,
                         s->id,
                         f->list.district_code,
                         f->list.street_code,
                         f->list.enterprise_id ? db_i64(eid, f->list.enterprise_id) : NULL,
                         f->states,
                         f->types,
                         db_tristate(f->active),
                         f->list.from,
                         f->list.to,
                         db_i64(lim, f->list.limit),
                         db_i64(off, f->list.offset)};
    return db_read_json(c, s, "flg_list", 12, p, out);
}

db_status db_filings_get(db_conn *c, const db_scope *s, int64_t filing_id, json_t **out)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, filing_id)};
    return db_read_json(c, s, "flg_get", 3, p, out);
}

db_status db_filings_point_periods(db_conn *c, const db_scope *s, int64_t point_id,
                                   const char *from, const char *to, json_t **out)
{
    char id[24];
    const char *p[5] = {s->kind, s->id, db_i64(id, point_id), from, to};
    return db_read_json(c, s, "flg_point_periods", 5, p, out);
}

db_status db_filings_create(db_conn *c, const db_scope *s, const db_filing_new *in, int64_t *id,
                            char *why, size_t whylen)
{
    char eid[24], by[24];
    char *sys = db_i64_array(in->system_ids, in->n_systems);
    char *pts = db_i64_array(in->point_ids, in->n_points);
    if (!sys || !pts) {
        free(sys);
        free(pts);
        return DB_HARD;
    }
    const char *p[12] = {s->kind,
                         s->id,
                         db_i64(eid, in->enterprise_id),
                         in->type,
                         in->starts_at,
                         in->ends_at,
                         sys,
                         pts,
                         in->reason,
                         (const char *)in->evidence,
                         in->evidence ? in->evidence_type : NULL,
                         in->filed_by ? db_i64(by, in->filed_by) : NULL};
    int lengths[12] = {0};
    int formats[12] = {0};
    lengths[9] = (int)in->evidence_len;
    formats[9] = 1;
    db_status st;
    PGresult *res = db_exec_bin(c, "flg_create", 12, p, lengths, formats, &st);
    free(sys);
    free(pts);
    if (!res)
        return st;
    *id = 0;
    why[0] = '\0';
    if (PQntuples(res) == 1) {
        if (!PQgetisnull(res, 0, 0))
            *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        else if (strcmp(PQgetvalue(res, 0, 1), "0") == 0)
            why[0] = '\0';
        else if (!PQgetisnull(res, 0, 2))
            snprintf(why, whylen, "dust-removal system %s is not this enterprise's",
                     PQgetvalue(res, 0, 2));
        else if (!PQgetisnull(res, 0, 3))
            snprintf(why, whylen, "point %s is not this enterprise's", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return DB_OK;
}

db_status db_filings_lock(db_conn *c, const db_scope *s, int64_t filing_id, db_filing_row *out,
                          int *found)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, filing_id)};
    db_status st;
    PGresult *res = db_exec(c, "flg_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->state, sizeof out->state, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->approval_level, sizeof out->approval_level, "%s", PQgetvalue(res, 0, 2));
        snprintf(out->type, sizeof out->type, "%s", PQgetvalue(res, 0, 3));
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
        out->started = PQgetvalue(res, 0, 7)[0] == '1';
    }
    PQclear(res);
    return DB_OK;
}

db_status db_filings_move(db_conn *c, const db_scope *s, int64_t filing_id, const char *from,
                          const char *to, const char *action, int64_t actor_id, const char *note)
{
    char id[24], aid[24];
    const char *p[8] = {s->kind,
                        s->id,
                        db_i64(id, filing_id),
                        from,
                        to,
                        action,
                        actor_id ? db_i64(aid, actor_id) : NULL,
                        note ? note : ""};
    db_status st;
    PGresult *res = db_exec(c, "flg_move", 8, p, &st);
    if (!res)
        return st;
    int moved = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    PQclear(res);
    if (!moved)
        return DB_BAD;
    if (strcmp(action, "end") == 0) { /* the stopped clocks run again from now */
        const char *q[1] = {id};
        res = db_exec(c, "flg_clock_end", 1, q, &st);
        if (!res)
            return st;
        PQclear(res);
    }
    return DB_OK;
}

db_status db_filings_evidence(db_conn *c, const db_scope *s, int64_t filing_id, char type[32],
                              unsigned char **data, size_t *len)
{
    char id[24];
    const char *p[3] = {s->kind, s->id, db_i64(id, filing_id)};
    PGresult *res = NULL;
    db_status st =
        db_read_scoped(c, s->rls, s->focus[0] ? s->focus : NULL, "flg_evidence", 3, p, &res);
    if (st != DB_OK)
        return st;
    *data = NULL;
    *len = 0;
    if (PQntuples(res) == 1) {
        snprintf(type, 32, "%s", PQgetvalue(res, 0, 0));
        const char *b64 = PQgetvalue(res, 0, 1);
        size_t n = strlen(b64);
        unsigned char *buf = malloc(n / 4 * 3 + 3);
        size_t k = 0;
        unsigned int acc = 0;
        int bits = 0;
        for (size_t i = 0; buf && i < n; i++) {
            const char ch = b64[i];
            int v = ch >= 'A' && ch <= 'Z'   ? ch - 'A'
                    : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
                    : ch >= '0' && ch <= '9' ? ch - '0' + 52
                    : ch == '+'              ? 62
                    : ch == '/'              ? 63
                                             : -1;
            if (v < 0)
                continue; /* newlines of encode() and the padding */
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                buf[k++] = (unsigned char)(acc >> bits);
            }
        }
        if (!buf) {
            PQclear(res);
            return DB_HARD;
        }
        *data = buf;
        *len = k;
    }
    PQclear(res);
    return DB_OK;
}

db_status db_filings_set_level(db_conn *c, const db_scope *s, int64_t district_id,
                               const char *level, int *found)
{
    char id[24];
    const char *p[4] = {s->kind, s->id, db_i64(id, district_id), level};
    db_status st;
    PGresult *res = db_exec(c, "flg_set_level", 4, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    PQclear(res);
    return DB_OK;
}

db_status db_filings_suppress(db_conn *c, int64_t enterprise_id, int64_t point_id,
                              const char *channel, const char *kind, int level, int64_t ts_s,
                              int offline, int64_t *filing_id)
{
    char eid[24], pid[24], lvl[24], ts[24];
    const char *p[7] = {
        db_i64(eid, enterprise_id), db_i64(pid, point_id),     channel, kind, db_i64(lvl, level),
        db_i64(ts, ts_s),           offline ? "true" : "false"};
    db_status st;
    PGresult *res = db_exec(c, "flg_suppress", 7, p, &st);
    if (!res)
        return st;
    *filing_id = PQntuples(res) > 0 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_filings_production_check(db_conn *c, long window_s, long ack_within_s,
                                      long handle_within_s, db_filing_production **rows, size_t *n)
{
    char w[24], a[24], h[24];
    const char *p[3] = {db_i64(w, window_s), db_i64(a, ack_within_s), db_i64(h, handle_within_s)};
    db_status st;
    PGresult *res = db_exec(c, "flg_production", 3, p, &st);
    if (!res)
        return st;
    size_t m = (size_t)PQntuples(res);
    db_filing_production *out = calloc(m ? m : 1, sizeof *out);
    if (!out) {
        PQclear(res);
        return DB_HARD;
    }
    for (size_t i = 0; i < m; i++) {
        out[i].filing_id = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        out[i].alarm_id = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
        out[i].enterprise_id = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
        snprintf(out[i].point, sizeof out[i].point, "%s", PQgetvalue(res, (int)i, 3));
    }
    PQclear(res);
    *rows = out;
    *n = m;
    return DB_OK;
}

db_status db_filings_clocks(db_conn *c, size_t *n_alarms, size_t *n_warnings)
{
    db_status st;
    PGresult *res = db_exec(c, "flg_clock_link", 0, NULL, &st);
    if (!res)
        return st;
    *n_alarms = PQntuples(res) == 1 ? (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    *n_warnings = PQntuples(res) == 1 ? (size_t)strtoull(PQgetvalue(res, 0, 1), NULL, 10) : 0;
    PQclear(res);
    return DB_OK;
}
