/* db_risk.c — the risk worker's statements (see db_risk.h).
 *
 * Concurrency lives in the statements: the per-enterprise transaction lock (731031, id),
 * the city-wide escalation lock, `escalations_done = step - 1` and the partial unique
 * index on open warnings make every step happen once, with two workers and a kill -9. */
#include "db_risk.h"

#include "db_audit.h"
#include "db_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const db_stmt statements[] = {
    /* every enterprise of a batch, in key order: two workers with overlapping batches
     * queue behind each other instead of deadlocking */
    {"rsk_lock",
     "SELECT pg_advisory_xact_lock(731031, k) FROM (SELECT DISTINCT (x & 2147483647)::int AS k "
     "FROM unnest($1::bigint[]) x ORDER BY k) l"},
    /* The rows to take are locked once, in the CTE, and deleted by an array of their keys:
     * the statement is planned when the queue is (nearly) empty, and as a join (or
     * `IN (subquery)`) that plan became a nested loop over the whole queue per taken row,
     * a second for a queue of 5000. */
    {"rsk_take_requests",
     "WITH t AS (SELECT enterprise_id FROM risk_recompute_requests ORDER BY requested_at "
     "LIMIT 500 FOR UPDATE SKIP LOCKED) DELETE FROM risk_recompute_requests WHERE "
     "enterprise_id = ANY (ARRAY(SELECT enterprise_id FROM t)) RETURNING enterprise_id"},
    {"rsk_all", "SELECT id FROM enterprises ORDER BY id"},
    /* The engine's inputs, one row per enterprise of $1 (by id; the id last).  Windows: alarms 24 h
     * / 7 d, check-ins 7 d.  Cleaning: required = complete periods since max(area created, now - 7
     * d), done = distinct periods (shift/day/ISO week, Beijing time) with a check-in.  A point
     * an approved filing (migration 0060) covers now is not operating: not offline, and its
     * open alarms' deadlines do not run; a plant filed as a whole owes no cleaning for the
     * filed time (dw_filed_seconds, 0111).  fz.any (the enterprise has a filing that started
     * and was approved) keeps both functions off unfiled enterprises, where they answer
     * nothing and 0: each is a SQL function run per row, and dw_filed_seconds per cleaning
     * area was ~60% of the statement on the bench fixture (50 -> 20 ms for 500). */
    {"rsk_inputs",
     "SELECT coalesce(ep.dust_class, 'other'), coalesce(ep.st_class, 'unknown'), "
     "coalesce(ep.dust_workers, 0), coalesce(ep.multi_storey, false)::int, coalesce((SELECT "
     "sum(1 << (x - 1)) FROM unnest(ep.major_hazard_items) x), 0), coalesce(ep.open_hazards, "
     "0), coalesce(ep.video_offline, 0), ds.removal, ds.pp::int, ds.indoor::int, ds.dry, "
     "al.l1_24m, al.l2_24m, al.l1_24o, al.l2_24o, al.l1_7m, al.l2_7m, al.l1_7o, al.l2_7o, "
     "al.secs, h.unacked, h.unhandled, rp.repeats, cl.required, cl.missed, onl.rate, e.id "
     "FROM (SELECT to_timestamp($2::float8) AS now) t CROSS JOIN enterprises e "
     "LEFT JOIN enterprise_profiles ep ON ep.enterprise_id = e.id "
     "CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM filings fz WHERE fz.enterprise_id = e.id "
     "AND fz.status IN ('approved', 'ended') AND fz.starts_at <= t.now) AS any) fz "
     "CROSS JOIN LATERAL (SELECT CASE WHEN bool_or(NOT wet AND central) THEN 'dry_central' "
     "WHEN bool_or(NOT wet) THEN 'dry_per_station' WHEN bool_or(wet) THEN 'wet' ELSE 'none' "
     "END AS removal, coalesce(bool_or(positive_pressure), false) AS pp, "
     "coalesce(bool_or(indoor AND NOT wet), false) AS indoor, count(*) FILTER (WHERE NOT wet) "
     "AS dry FROM dust_systems WHERE enterprise_id = e.id) ds "
     "CROSS JOIN LATERAL (SELECT "
     "count(*) FILTER (WHERE mand AND lvl = 1 AND raised_at > t.now - interval '24 hours') AS "
     "l1_24m, "
     "count(*) FILTER (WHERE mand AND lvl = 2 AND raised_at > t.now - interval '24 hours') AS "
     "l2_24m, "
     "count(*) FILTER (WHERE NOT mand AND lvl = 1 AND raised_at > t.now - interval '24 hours') AS "
     "l1_24o, "
     "count(*) FILTER (WHERE NOT mand AND lvl = 2 AND raised_at > t.now - interval '24 hours') AS "
     "l2_24o, "
     "count(*) FILTER (WHERE mand AND lvl = 1 AND raised_at > t.now - interval '7 days') AS l1_7m, "
     "count(*) FILTER (WHERE mand AND lvl = 2 AND raised_at > t.now - interval '7 days') AS l2_7m, "
     "count(*) FILTER (WHERE NOT mand AND lvl = 1 AND raised_at > t.now - interval '7 days') AS "
     "l1_7o, "
     "count(*) FILTER (WHERE NOT mand AND lvl = 2 AND raised_at > t.now - interval '7 days') AS "
     "l2_7o, "
     "coalesce(sum(extract(epoch FROM least(coalesce(cleared_at, t.now), t.now) - "
     "greatest(raised_at, t.now - interval '24 hours'))) FILTER (WHERE mand AND "
     "coalesce(cleared_at, t.now) > t.now - interval '24 hours'), 0)::bigint AS secs "
     "FROM (SELECT a.max_level AS lvl, coalesce(p.param_class = 'mandatory', false) AS mand, "
     "a.raised_at, a.cleared_at FROM alarms a LEFT JOIN points p ON p.id = a.point_id WHERE "
     "a.enterprise_id = e.id AND a.max_level > 0 AND a.raised_at <= t.now AND (a.raised_at > "
     "t.now - interval '7 days' OR a.cleared_at IS NULL OR a.cleared_at > t.now - interval "
     "'24 hours')) x) al "
     "CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE state = 'active' AND ack_deadline < "
     "t.now) AS unacked, count(*) FILTER (WHERE state = 'acknowledged' AND handle_deadline < "
     "t.now) AS unhandled FROM alarms a0 WHERE enterprise_id = e.id AND state IN ('active', "
     "'acknowledged') AND (a0.point_id IS NULL OR NOT (fz.any AND dw_filing_covers(e.id, "
     "a0.point_id, (SELECT system_id FROM points WHERE id = "
     "a0.point_id), t.now) IS NOT NULL))) h "
     "CROSS JOIN LATERAL (SELECT count(*) AS repeats FROM alarms a2 WHERE a2.enterprise_id = "
     "e.id AND a2.point_id IS NOT NULL AND a2.raised_at > t.now - interval '7 days' AND "
     "a2.raised_at <= t.now AND EXISTS (SELECT 1 FROM alarms a1 WHERE a1.point_id = "
     "a2.point_id AND a1.handled_at < a2.raised_at AND a1.handled_at > a2.raised_at - "
     "interval '7 days')) rp "
     "CROSS JOIN LATERAL (SELECT coalesce(sum(req), 0)::bigint AS required, "
     "coalesce(sum(greatest(req - done, 0)), 0)::bigint AS missed FROM (SELECT "
     "floor((extract(epoch FROM t.now - greatest(a.created_at, t.now - interval '7 days')) - "
     "CASE WHEN fz.any THEN dw_filed_seconds(e.id, NULL, NULL, greatest(a.created_at, t.now - "
     "interval '7 days'), t.now) ELSE 0 END) / per.s)::int AS req, (SELECT count(DISTINCT "
     "floor((extract(epoch FROM c.checked_at) "
     "+ "
     "per.off) / per.s)) FROM cleaning_checkins c WHERE c.area_id = a.id AND c.checked_at > "
     "t.now - interval '7 days' AND c.checked_at <= t.now) AS done FROM cleaning_areas a "
     "CROSS JOIN LATERAL (SELECT CASE a.frequency WHEN 'per_shift' THEN 28800 WHEN 'daily' "
     "THEN 86400 ELSE 604800 END AS s, CASE a.frequency WHEN 'weekly' THEN 288000 ELSE 28800 "
     "END AS off) per WHERE a.enterprise_id = e.id AND a.active AND a.created_at <= t.now) z) cl "
     "CROSS JOIN LATERAL (SELECT coalesce(count(*) FILTER (WHERE NOT coalesce(s.offline_active, "
     "false))::float8 / nullif(count(*), 0), 1) AS rate FROM points p LEFT JOIN "
     "point_rule_state s ON s.point_id = p.id AND s.enterprise_id = e.id WHERE p.enterprise_id = "
     "e.id AND p.enabled AND "
     "p.param_class = 'mandatory' AND NOT (fz.any AND dw_filing_covers(e.id, p.id, p.system_id, "
     "t.now) IS NOT NULL)) onl WHERE e.id = ANY "
     "($1::bigint[]) ORDER BY e.id"},
    /* Live state per dust-removal system for the precursor overrides, the enterprises of
     * $1 by id and their systems by id; $2..$4 are the engine's enum values for HIGH_HIGH,
     * DIGITAL_FAULT and LOW_LOW.  The points and rule states are read per system (LATERAL:
     * index look-ups by system and point): as one join of the three tables the generic plan
     * hashed every point and rule state of the city (two sequential scans evaluating the
     * row-level policy per row, 30 of the 40 ms a batch of 500 took). */
    {"rsk_systems",
     "SELECT ds.enterprise_id, ds.id, st.hh::int, st.sp::int, st.dp::int, st.fan::int FROM "
     "dust_systems ds CROSS JOIN LATERAL (SELECT coalesce(bool_or(p.kind = 'hopper_temp' AND "
     "s.level = $2::int), false) AS hh, coalesce(bool_or(p.kind = 'spark_detected' AND s.level "
     "= $3::int), false) AS sp, coalesce(bool_or(p.kind = 'pressure_diff' AND s.level = "
     "$4::int), false) AS dp, coalesce(bool_or(p.kind = 'fan_running' AND s.has_value AND "
     "s.last_value = 1 AND NOT s.offline_active), false) AS fan FROM points p LEFT JOIN "
     "point_rule_state s ON s.point_id = p.id WHERE p.system_id = ds.id AND p.enabled) st "
     "WHERE ds.enterprise_id = ANY ($1::bigint[]) ORDER BY ds.enterprise_id, ds.id"},
    {"rsk_prev", "SELECT enterprise_id, grade, override, r FROM enterprise_risk WHERE "
                 "enterprise_id = ANY ($1::bigint[]) ORDER BY enterprise_id"},
    /* Every score of a batch in one statement: $1 a JSON array of score objects, $2 the
     * engine's now, $3 the trigger; each becomes its enterprise's current score.  Answers
     * (enterprise, score id) by enterprise.  The fields are taken with -> / ->> from each
     * element rather than by jsonb_to_recordset, which costs as much again as parsing the
     * document (~1 MB for 500 scores; the same values: int-risk_perf). */
    {"rsk_store",
     "WITH x AS (SELECT (e->>'enterprise_id')::bigint AS enterprise_id, e->>'model_version' AS "
     "model_version, (e->>'r')::numeric AS r, (e->>'i')::float8 AS i, (e->>'a')::float8 AS a, "
     "(e->>'h')::float8 AS h, (e->>'s')::float8 AS s, e->>'grade' AS grade, e->>'grade_by_score' "
     "AS grade_by_score, (e->>'override')::boolean AS override, e->>'override_reason' AS "
     "override_reason, e->'rules' AS rules, e->'inputs' AS inputs FROM "
     "jsonb_array_elements($1::jsonb) e), "
     "s AS (INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, "
     "grade, grade_by_score, override, override_reason, rules, inputs, trigger) SELECT "
     "enterprise_id, to_timestamp($2::float8), model_version, r, i, a, h, s, grade, "
     "grade_by_score, override, override_reason, rules, inputs, $3 FROM x RETURNING id, "
     "enterprise_id, computed_at, r, grade, override, model_version), u AS (INSERT INTO "
     "enterprise_risk (enterprise_id, score_id, computed_at, r, grade, override, "
     "model_version) SELECT enterprise_id, id, computed_at, r, grade, override, model_version "
     "FROM s ON CONFLICT (enterprise_id) DO UPDATE SET score_id = EXCLUDED.score_id, "
     "computed_at = EXCLUDED.computed_at, r = EXCLUDED.r, grade = EXCLUDED.grade, override = "
     "EXCLUDED.override, model_version = EXCLUDED.model_version RETURNING enterprise_id, "
     "score_id) SELECT enterprise_id, score_id FROM u ORDER BY enterprise_id"},
    /* Issue; the partial unique index keeps one open warning per enterprise and cause.
     * $1 enterprise $2 cause $3 grade $4 score $5 issued $6 sign_by $7 clear_by
     * $8 supervisor $9 inform city $10 note */
    {"rsk_issue",
     "WITH w AS (INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, "
     "sign_by, clear_by, supervisor, current_level, inform_city, next_check_at) VALUES "
     "($1::bigint, $2, $3, $4::bigint, to_timestamp($5::bigint), to_timestamp($6::bigint), "
     "to_timestamp($7::bigint), $8, $8, $9::boolean, to_timestamp($6::bigint + 1)) ON CONFLICT "
     "DO NOTHING RETURNING id, enterprise_id, issued_at, sign_by, clear_by), ev AS (INSERT INTO "
     "warning_events (warning_id, enterprise_id, at, action, to_status, level, actor, note, "
     "to_grade) SELECT id, enterprise_id, issued_at, 'issue', 'issued', $8, 'worker', $10, $3 "
     "FROM w), ob AS "
     "(INSERT INTO notification_outbox (subscription_id, enterprise_id, warning_id, event, "
     "payload) SELECT s.id, w.enterprise_id, w.id, 'issue', jsonb_build_object('type', "
     "'warning', 'event', 'issue', 'warning_id', w.id, 'enterprise_id', w.enterprise_id, "
     "'enterprise_code', e.code, 'cause', $2::text, 'grade', $3::text, 'issued_at', "
     "w.issued_at, 'sign_by', w.sign_by, 'clear_by', w.clear_by, 'supervisor', $8::text, "
     "'inform_city', $9::boolean) FROM "
     "w JOIN enterprises e ON e.id = w.enterprise_id JOIN webhook_subscriptions s ON s.enabled "
     "AND 'warning' = ANY (s.events) AND (s.scope_kind = 'city' OR (s.scope_kind = 'district' "
     "AND s.scope_id = e.district_id) OR (s.scope_kind = 'street' AND s.scope_id = "
     "e.street_id) OR (s.scope_kind = 'enterprise' AND s.scope_id = e.id)) ON CONFLICT DO "
     "NOTHING) SELECT id FROM w"},
    {"rsk_open_warning",
     "SELECT id, grade, status, supervisor, current_level, inform_city FROM warnings WHERE "
     "enterprise_id = $1::bigint AND cause = $2 AND status <> 'cleared' FOR UPDATE"},
    /* Upgrade in place, the row locked by rsk_open_warning: the new grade's deadlines,
     * levels and city information, signed again, the ladder goes on after the steps done;
     * with its event and webhook rows as for a new warning of that grade; returns the audit
     * detail, appended to the chain by db_audit_append in the same transaction.
     * $1 warning $2 grade before $3 grade $4 score $5 upgraded $6 sign_by $7 clear_by
     * $8 supervisor $9 current level $10 inform city $11 note */
    {"rsk_upgrade",
     "WITH o AS (SELECT id, status FROM warnings WHERE id = $1::bigint AND grade = $2 AND "
     "status <> 'cleared'), w AS (UPDATE warnings w SET grade = $3, score_id = $4::bigint, "
     "upgraded_at = to_timestamp($5::bigint), sign_by = to_timestamp($6::bigint), clear_by = "
     "to_timestamp($7::bigint), supervisor = $8, current_level = $9, inform_city = "
     "$10::boolean, status = 'issued', signed_at = NULL, signed_by = NULL, clear_requested_at = "
     "NULL, ladder_base = w.escalations_done, next_check_at = to_timestamp($6::bigint + 1) FROM "
     "o WHERE w.id = o.id RETURNING w.id, w.enterprise_id, w.cause, o.status AS from_status, "
     "w.upgraded_at, w.sign_by, w.clear_by, w.escalations_done), ev AS (INSERT INTO "
     "warning_events (warning_id, enterprise_id, at, action, from_status, to_status, level, "
     "actor, note, from_grade, to_grade) SELECT id, enterprise_id, upgraded_at, 'upgrade', "
     "from_status, 'issued', $9, 'worker', $11, $2, $3 FROM w), ob AS (INSERT INTO "
     "notification_outbox (subscription_id, enterprise_id, warning_id, event, payload) SELECT "
     "s.id, w.enterprise_id, w.id, 'upgrade:' || (array_position(ARRAY['blue', 'yellow', "
     "'orange', 'red'], $3) - 1), jsonb_build_object('type', 'warning', 'event', 'upgrade', "
     "'warning_id', w.id, 'enterprise_id', w.enterprise_id, 'enterprise_code', e.code, "
     "'cause', w.cause, 'grade', $3::text, 'previous_grade', $2::text, 'upgraded_at', "
     "w.upgraded_at, 'sign_by', w.sign_by, 'clear_by', w.clear_by, 'supervisor', $8::text, "
     "'current_level', $9::text, 'inform_city', $10::boolean) FROM w JOIN enterprises e ON "
     "e.id = w.enterprise_id JOIN webhook_subscriptions s ON s.enabled AND 'warning' = ANY "
     "(s.events) AND (s.scope_kind = 'city' OR (s.scope_kind = 'district' AND s.scope_id = "
     "e.district_id) OR (s.scope_kind = 'street' AND s.scope_id = e.street_id) OR "
     "(s.scope_kind = 'enterprise' AND s.scope_id = e.id)) ON CONFLICT DO NOTHING) "
     "SELECT w.id, left(jsonb_build_object('enterprise_id', "
     "w.enterprise_id, 'cause', w.cause, 'from', $2::text, 'to', $3::text, 'from_status', "
     "w.from_status, 'score_id', $4::bigint, 'sign_by', w.sign_by, 'clear_by', w.clear_by, "
     "'supervisor', $8::text, 'current_level', $9::text, 'inform_city', $10::boolean, "
     "'escalations_before', w.escalations_done, 'note', $11::text)::text, 1000) FROM w"},
    /* A fall below open warnings' grades: noted in their history, nothing else changes.
     * $1 enterprise $2 the new grade $3 note prefix */
    {"rsk_grade_fall",
     "INSERT INTO warning_events (warning_id, enterprise_id, action, from_status, to_status, "
     "level, actor, note, from_grade, to_grade) SELECT id, enterprise_id, 'grade_fall', status, "
     "status, current_level, 'worker', left($3 || '; the ' || grade || ' warning keeps its "
     "grade, level and deadlines (deadlines kept: sign by ' || to_char(sign_by AT TIME ZONE "
     "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ', clear by ' || to_char(clear_by AT TIME "
     "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ')', 4000), grade, $2 FROM warnings "
     "WHERE enterprise_id = $1::bigint AND status <> 'cleared' AND array_position(ARRAY['blue', "
     "'yellow', 'orange', 'red'], grade) > array_position(ARRAY['blue', 'yellow', 'orange', "
     "'red'], $2)"},
    {"wrn_lock", "SELECT pg_try_advisory_xact_lock(7310312016119201)"},
    /* nothing escalates while an approved filing covers the whole enterprise (migration
     * 0110): its warnings wait, their running deadlines extended past the filing */
    {"wrn_due",
     "SELECT id, enterprise_id, grade, status, extract(epoch FROM issued_at)::bigint, "
     "coalesce(extract(epoch FROM signed_at)::bigint, 0), coalesce(extract(epoch FROM "
     "clear_requested_at)::bigint, 0), escalations_done, extract(epoch FROM sign_by)::bigint, "
     "extract(epoch FROM clear_by)::bigint, ladder_base, extract(epoch FROM "
     "coalesce(upgraded_at, issued_at))::bigint FROM warnings WHERE status <> 'cleared' AND "
     "next_check_at <= to_timestamp($1::bigint) AND NOT dw_enterprise_filed(enterprise_id, "
     "to_timestamp($1::bigint)) ORDER BY next_check_at LIMIT 200 FOR UPDATE"},
    /* $1 warning $2 step $3 level $4 duban $5 referral $6 note */
    {"wrn_escalate",
     "WITH w AS (UPDATE warnings SET escalations_done = $2::int, current_level = CASE WHEN "
     "array_position(ARRAY['enterprise', 'street', 'district', 'city'], current_level) > "
     "array_position(ARRAY['enterprise', 'street', 'district', 'city'], $3) THEN current_level "
     "ELSE $3 END, "
     "next_check_at = now() WHERE id = $1::bigint AND escalations_done = $2::int - 1 "
     "RETURNING id, enterprise_id, status, grade), ev AS (INSERT INTO warning_events "
     "(warning_id, enterprise_id, action, from_status, to_status, step, level, actor, note) "
     "SELECT id, enterprise_id, 'escalate', status, status, $2::int, $3, 'worker', $6 FROM w), "
     "sv AS (INSERT INTO supervisions (warning_id, enterprise_id, step, level) SELECT id, "
     "enterprise_id, $2::int, $3 FROM w WHERE $4::boolean AND $3 <> 'enterprise' ON CONFLICT "
     "DO NOTHING), rf AS (INSERT INTO enforcement_referrals (warning_id, enterprise_id, step) "
     "SELECT id, enterprise_id, $2::int FROM w WHERE $5::boolean ON CONFLICT DO NOTHING), ob "
     "AS (INSERT INTO notification_outbox (subscription_id, enterprise_id, warning_id, event, "
     "payload) SELECT s.id, w.enterprise_id, w.id, 'escalate:' || $2, jsonb_build_object("
     "'type', 'warning', 'event', 'escalate', 'step', $2::int, 'level', $3::text, "
     "'warning_id', w.id, 'enterprise_id', w.enterprise_id, 'enterprise_code', e.code, "
     "'grade', w.grade, 'duban', $4::boolean, 'enforcement_referral', $5::boolean) FROM w JOIN "
     "enterprises e ON e.id = w.enterprise_id JOIN webhook_subscriptions s ON s.enabled AND "
     "'warning' = ANY (s.events) AND (s.scope_kind = 'city' OR (s.scope_kind = 'district' AND "
     "s.scope_id = e.district_id) OR (s.scope_kind = 'street' AND s.scope_id = e.street_id) "
     "OR (s.scope_kind = 'enterprise' AND s.scope_id = e.id)) ON CONFLICT DO NOTHING) SELECT "
     "id, enterprise_id FROM w"},
    {"wrn_next", "UPDATE warnings SET next_check_at = CASE WHEN $2::bigint < 0 THEN NULL ELSE "
                 "to_timestamp($2::bigint) END WHERE id = $1::bigint"},
};

void db_risk_register(void)
{
    db_register_shared();
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
    db_audit_register();
}

static int64_t cell_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* ---- recompute ------------------------------------------------------------------ */

/* The statement is db.c's (every connection has it): alarms, the alarm API, assets and
 * cleaning queue recomputes through here. */
db_status db_risk_request_recompute(db_conn *c, int64_t enterprise_id, const char *reason)
{
    char eid[24];
    const char *p[2] = {db_i64(eid, enterprise_id), reason};
    db_status st;
    PQclear(db_exec(c, "db_recompute_request", 2, p, &st));
    return st;
}

db_status db_risk_lock_enterprises(db_conn *c, const int64_t *ids, size_t n)
{
    /* the lock's second key is an int: the id's low 31 bits (a collision only serialises) */
    char *arr = db_i64_array(ids, n);
    if (!arr)
        return DB_HARD;
    const char *p[1] = {arr};
    db_status st;
    PQclear(db_exec(c, "rsk_lock", 1, p, &st));
    free(arr);
    return st;
}

static db_status ids_of(db_conn *c, const char *stmt, int64_t **ids, size_t *n)
{
    db_status st;
    PGresult *r = db_exec(c, stmt, 0, NULL, &st);
    if (!r)
        return st;
    int rows = PQntuples(r);
    int64_t *out = malloc((rows ? (size_t)rows : 1) * sizeof *out);
    if (!out) {
        PQclear(r);
        return DB_HARD;
    }
    for (int i = 0; i < rows; i++)
        out[i] = cell_i64(r, i, 0);
    PQclear(r);
    *ids = out;
    *n = (size_t)rows;
    return DB_OK;
}

db_status db_risk_take_requests(db_conn *c, int64_t **ids, size_t *n)
{
    return ids_of(c, "rsk_take_requests", ids, n);
}

db_status db_risk_all_enterprises(db_conn *c, int64_t **ids, size_t *n)
{
    return ids_of(c, "rsk_all", ids, n);
}

/* Position of enterprise id in ids (ascending), from *at on; -1 when absent.  The rows of
 * a statement come by enterprise too, so one pass walks both. */
static long find_from(const int64_t *ids, size_t n, size_t *at, int64_t id)
{
    while (*at < n && ids[*at] < id)
        (*at)++;
    return *at < n && ids[*at] == id ? (long)*at : -1;
}

db_status db_risk_load_inputs(db_conn *c, const int64_t *ids, size_t n, int64_t now_s,
                              db_risk_inputs *out, int *found)
{
    char now[24], *arr = db_i64_array(ids, n);
    if (!arr)
        return DB_HARD;
    const char *p[2] = {arr, db_i64(now, now_s)};
    db_status st;
    PGresult *r = db_exec(c, "rsk_inputs", 2, p, &st);
    free(arr);
    if (!r)
        return st;
    memset(found, 0, n * sizeof *found);
    size_t at = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        long k = find_from(ids, n, &at, cell_i64(r, row, 26));
        if (k < 0)
            continue;
        found[k] = 1;
        db_risk_inputs *d = &out[k];
        memset(d, 0, sizeof *d);
        snprintf(d->dust_class, sizeof d->dust_class, "%s", PQgetvalue(r, row, 0));
        snprintf(d->st_class, sizeof d->st_class, "%s", PQgetvalue(r, row, 1));
        d->dust_workers = cell_i64(r, row, 2);
        d->multi_storey = cell_i64(r, row, 3) != 0;
        d->major_hazard_items = cell_i64(r, row, 4);
        d->open_hazards = cell_i64(r, row, 5);
        d->video_offline = cell_i64(r, row, 6);
        snprintf(d->removal, sizeof d->removal, "%s", PQgetvalue(r, row, 7));
        d->positive_pressure = cell_i64(r, row, 8) != 0;
        d->collector_indoors = cell_i64(r, row, 9) != 0;
        d->dry_collectors = cell_i64(r, row, 10);
        int64_t *counts[4] = {d->alarms_24h_mandatory, d->alarms_24h_other, d->alarms_7d_mandatory,
                              d->alarms_7d_other};
        for (int k2 = 0; k2 < 4; k2++) {
            counts[k2][0] = cell_i64(r, row, 11 + 2 * k2);
            counts[k2][1] = cell_i64(r, row, 12 + 2 * k2);
        }
        d->alarm_seconds_24h_mandatory = cell_i64(r, row, 19);
        d->overdue_unacked = cell_i64(r, row, 20);
        d->overdue_unhandled = cell_i64(r, row, 21);
        d->repeat_after_handled = cell_i64(r, row, 22);
        d->cleaning_required = cell_i64(r, row, 23);
        d->cleaning_missed = cell_i64(r, row, 24);
        d->online_rate_mandatory = strtod(PQgetvalue(r, row, 25), NULL);
    }
    PQclear(r);
    return DB_OK;
}

db_status db_risk_load_systems(db_conn *c, const int64_t *ids, size_t n, int level_high_high,
                               int level_digital_fault, int level_low_low, db_risk_system **rows,
                               size_t *n_rows)
{
    char hh[24], sp[24], ll[24], *arr = db_i64_array(ids, n);
    if (!arr)
        return DB_HARD;
    const char *p[4] = {arr, db_i64(hh, level_high_high), db_i64(sp, level_digital_fault),
                        db_i64(ll, level_low_low)};
    db_status st;
    PGresult *r = db_exec(c, "rsk_systems", 4, p, &st);
    free(arr);
    if (!r)
        return st;
    size_t nr = (size_t)PQntuples(r);
    db_risk_system *out = calloc(nr ? nr : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return DB_HARD;
    }
    for (size_t k = 0; k < nr; k++) {
        int i = (int)k;
        out[k] = (db_risk_system){
            .enterprise_id = cell_i64(r, i, 0),
            .id = cell_i64(r, i, 1),
            .hopper_temp_high_high = PQgetvalue(r, i, 2)[0] == '1',
            .spark_detected = PQgetvalue(r, i, 3)[0] == '1',
            .dp_collapse = PQgetvalue(r, i, 4)[0] == '1',
            .fan_running = PQgetvalue(r, i, 5)[0] == '1',
        };
    }
    PQclear(r);
    *rows = out;
    *n_rows = nr;
    return DB_OK;
}

db_status db_risk_load_current(db_conn *c, const int64_t *ids, size_t n, db_risk_current *out,
                               int *found)
{
    char *arr = db_i64_array(ids, n);
    if (!arr)
        return DB_HARD;
    const char *p[1] = {arr};
    db_status st;
    PGresult *r = db_exec(c, "rsk_prev", 1, p, &st);
    free(arr);
    if (!r)
        return st;
    memset(found, 0, n * sizeof *found);
    size_t at = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        long k = find_from(ids, n, &at, cell_i64(r, row, 0));
        if (k < 0)
            continue;
        found[k] = 1;
        snprintf(out[k].grade, sizeof out[k].grade, "%s", PQgetvalue(r, row, 1));
        out[k].override = PQgetvalue(r, row, 2)[0] == 't';
        out[k].r = strtod(PQgetvalue(r, row, 3), NULL);
    }
    PQclear(r);
    return DB_OK;
}

static json_t *score_json(const db_risk_score *s)
{
    char R[24];
    snprintf(R, sizeof R, "%.2f", s->r); /* numeric(5,2), rounded as text like before */
    return json_pack("{s:I, s:s, s:s, s:f, s:f, s:f, s:f, s:s, s:s, s:b, s:s?, s:O, s:O}",
                     "enterprise_id", (json_int_t)s->enterprise_id, "model_version",
                     s->model_version, "r", R, "i", s->i, "a", s->a, "h", s->h, "s", s->s, "grade",
                     s->grade, "grade_by_score", s->grade_by_score, "override", s->override ? 1 : 0,
                     "override_reason", s->override_reason, "rules", (json_t *)s->rules, "inputs",
                     (json_t *)s->inputs);
}

db_status db_risk_store_scores(db_conn *c, const db_risk_score *s, size_t n, int64_t now_s,
                               const char *trigger, int64_t *score_ids)
{
    json_t *all = json_array();
    for (size_t k = 0; all && k < n; k++)
        if (json_array_append_new(all, score_json(&s[k])) != 0) {
            json_decref(all);
            all = NULL;
        }
    char *doc = all ? json_dumps(all, JSON_COMPACT) : NULL;
    json_decref(all);
    if (!doc)
        return DB_HARD;
    char now[24];
    const char *p[3] = {doc, db_i64(now, now_s), trigger};
    db_status st;
    PGresult *r = db_exec(c, "rsk_store", 3, p, &st);
    free(doc);
    if (!r)
        return st;
    memset(score_ids, 0, n * sizeof *score_ids);
    /* s is by enterprise, as are the rows */
    size_t at = 0;
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t eid = cell_i64(r, row, 0);
        while (at < n && s[at].enterprise_id < eid)
            at++;
        if (at < n && s[at].enterprise_id == eid)
            score_ids[at] = cell_i64(r, row, 1);
    }
    PQclear(r);
    return DB_OK;
}

db_status db_risk_issue_warning(db_conn *c, const db_risk_issue *w, int64_t *warning_id)
{
    char eid[24], score[24], issued[24], sign_by[24], clear_by[24];
    const char *p[10] = {db_i64(eid, w->enterprise_id),
                         w->cause,
                         w->grade,
                         db_i64(score, w->score_id),
                         db_i64(issued, w->issued_at_s),
                         db_i64(sign_by, w->sign_by_s),
                         db_i64(clear_by, w->clear_by_s),
                         w->supervisor,
                         w->inform_city ? "true" : "false",
                         w->note};
    db_status st;
    PGresult *r = db_exec(c, "rsk_issue", 10, p, &st);
    if (!r)
        return st;
    *warning_id = PQntuples(r) == 1 ? cell_i64(r, 0, 0) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_risk_open_warning(db_conn *c, int64_t enterprise_id, const char *cause,
                               db_risk_open *out, int *found)
{
    char eid[24];
    const char *p[2] = {db_i64(eid, enterprise_id), cause};
    db_status st;
    PGresult *r = db_exec(c, "rsk_open_warning", 2, p, &st);
    if (!r)
        return st;
    *found = PQntuples(r) == 1;
    if (*found) {
        out->id = cell_i64(r, 0, 0);
        snprintf(out->grade, sizeof out->grade, "%s", PQgetvalue(r, 0, 1));
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(r, 0, 2));
        snprintf(out->supervisor, sizeof out->supervisor, "%s", PQgetvalue(r, 0, 3));
        snprintf(out->current_level, sizeof out->current_level, "%s", PQgetvalue(r, 0, 4));
        out->inform_city = PQgetvalue(r, 0, 5)[0] == 't';
    }
    PQclear(r);
    return DB_OK;
}

db_status db_risk_upgrade_warning(db_conn *c, const db_risk_upgrade *u, int *applied)
{
    char wid[24], score[24], at[24], sign_by[24], clear_by[24];
    const char *p[11] = {db_i64(wid, u->warning_id),
                         u->from_grade,
                         u->grade,
                         db_i64(score, u->score_id),
                         db_i64(at, u->upgraded_at_s),
                         db_i64(sign_by, u->sign_by_s),
                         db_i64(clear_by, u->clear_by_s),
                         u->supervisor,
                         u->current_level,
                         u->inform_city ? "true" : "false",
                         u->note};
    db_status st;
    PGresult *r = db_exec(c, "rsk_upgrade", 11, p, &st);
    if (!r)
        return st;
    *applied = PQntuples(r) == 1;
    if (!*applied) {
        PQclear(r);
        return DB_OK;
    }
    /* the audit row goes through the chain writer, in this transaction */
    char object[40];
    snprintf(object, sizeof object, "warning:%s", PQgetvalue(r, 0, 0));
    st = db_audit_append(c, 0, "worker", NULL, "warning_upgrade", object, "ok", PQgetvalue(r, 0, 1),
                         NULL);
    PQclear(r);
    return st;
}

db_status db_risk_note_grade_fall(db_conn *c, int64_t enterprise_id, const char *grade,
                                  const char *note)
{
    char eid[24];
    const char *p[3] = {db_i64(eid, enterprise_id), grade, note};
    db_status st;
    PQclear(db_exec(c, "rsk_grade_fall", 3, p, &st));
    return st;
}

/* ---- change-driven wake-up -------------------------------------------------------- */

/* The session LISTEN was last issued in, as (PGconn, backend pid): db_ensure() may have
 * replaced the connection by a new session that listens to nothing.  Per thread: each
 * worker thread owns its connection. */
static _Thread_local struct {
    const PGconn *pg;
    int pid;
} listening;

db_status db_risk_listen(db_conn *c)
{
    PGconn *pg = db_pg(c);
    if (!pg || PQstatus(pg) != CONNECTION_OK)
        return DB_HARD;
    int pid = PQbackendPID(pg);
    if (listening.pg == pg && listening.pid == pid)
        return DB_OK;
    db_status st = db_command(c, "LISTEN dw_risk_recompute"); /* migration 0040 notifies */
    if (st == DB_OK) {
        listening.pg = pg;
        listening.pid = pid;
    }
    return st;
}

static int drain_notifies(PGconn *pg)
{
    int got = 0;
    PGnotify *n;
    while ((n = PQnotifies(pg)) != NULL) {
        got = 1;
        PQfreemem(n);
    }
    return got;
}

db_status db_risk_wait_requests(db_conn *c, int timeout_ms, int *notified)
{
    *notified = 0;
    PGconn *pg = db_pg(c);
    if (!pg || PQstatus(pg) != CONNECTION_OK)
        return DB_HARD;
    /* notifications that came in during the last statements wait in libpq already */
    if (!PQconsumeInput(pg))
        return DB_HARD;
    if ((*notified = drain_notifies(pg)) || timeout_ms <= 0)
        return DB_OK;
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    int rc = poll(&p, 1, timeout_ms);
    if (rc < 0 && errno != EINTR)
        return DB_HARD;
    if (rc > 0) {
        if (!PQconsumeInput(pg))
            return DB_HARD;
        *notified = drain_notifies(pg);
    }
    return DB_OK;
}

/* ---- escalation ----------------------------------------------------------------- */

db_status db_risk_warnings_try_lock(db_conn *c, int *locked)
{
    db_status st;
    PGresult *r = db_exec(c, "wrn_lock", 0, NULL, &st);
    if (!r)
        return st;
    *locked = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return DB_OK;
}

db_status db_risk_warnings_due(db_conn *c, int64_t now_s, db_risk_due_warning **rows, size_t *n)
{
    char now[24];
    const char *p[1] = {db_i64(now, now_s)};
    db_status st;
    PGresult *r = db_exec(c, "wrn_due", 1, p, &st);
    if (!r)
        return st;
    int nr = PQntuples(r);
    db_risk_due_warning *out = calloc(nr ? (size_t)nr : 1, sizeof *out);
    if (!out) {
        PQclear(r);
        return DB_HARD;
    }
    for (int i = 0; i < nr; i++) {
        db_risk_due_warning *w = &out[i];
        w->id = cell_i64(r, i, 0);
        w->enterprise_id = cell_i64(r, i, 1);
        snprintf(w->grade, sizeof w->grade, "%s", PQgetvalue(r, i, 2));
        snprintf(w->status, sizeof w->status, "%s", PQgetvalue(r, i, 3));
        w->issued_at = cell_i64(r, i, 4);
        w->signed_at = cell_i64(r, i, 5);
        w->clear_requested_at = cell_i64(r, i, 6);
        w->escalations_done = cell_i64(r, i, 7);
        w->sign_by = cell_i64(r, i, 8);
        w->clear_by = cell_i64(r, i, 9);
        w->ladder_base = cell_i64(r, i, 10);
        w->ladder_start = cell_i64(r, i, 11);
    }
    PQclear(r);
    *rows = out;
    *n = (size_t)nr;
    return DB_OK;
}

db_status db_risk_escalate_warning(db_conn *c, const db_risk_escalation *e, int64_t *enterprise_id)
{
    char wid[24], step[24];
    const char *p[6] = {db_i64(wid, e->warning_id),
                        db_i64(step, e->step),
                        e->level,
                        e->duban ? "true" : "false",
                        e->enforcement_referral ? "true" : "false",
                        e->note};
    db_status st;
    PGresult *r = db_exec(c, "wrn_escalate", 6, p, &st);
    if (!r)
        return st;
    *enterprise_id = PQntuples(r) == 1 ? cell_i64(r, 0, 1) : 0;
    PQclear(r);
    return DB_OK;
}

db_status db_risk_set_next_check(db_conn *c, int64_t warning_id, int64_t next_check_s)
{
    char wid[24], next[24];
    const char *p[2] = {db_i64(wid, warning_id),
                        db_i64(next, next_check_s < 0 ? -1 : next_check_s)};
    db_status st;
    PQclear(db_exec(c, "wrn_next", 2, p, &st));
    return st;
}

/* ---- backtest ------------------------------------------------------------------- */

/* Only `dustwatch risk backtest` reads this, on a connection of its own: registered here,
 * on first use, and prepared then (late) rather than on every connection of every role. */
static const db_stmt backtest_statements[] = {
    {"rsk_backtest",
     "SELECT DISTINCT ON (s.enterprise_id) s.enterprise_id, e.code, s.grade, s.r, "
     "s.model_version, s.inputs::text, s.computed_at, e.name FROM risk_scores s JOIN enterprises e "
     "ON e.id = s.enterprise_id WHERE s.computed_at >= $1::timestamptz AND s.computed_at < "
     "$2::timestamptz ORDER BY s.enterprise_id, s.computed_at DESC"},
};

db_status db_risk_backtest_snapshots(db_conn *c, const char *from, const char *to, json_t **out,
                                     char *err, size_t errlen)
{
    db_register_statements(backtest_statements,
                           sizeof backtest_statements / sizeof backtest_statements[0]);
    if (db_ensure(c) != 0) {
        snprintf(err, errlen, "could not reach PostgreSQL\n");
        return DB_HARD;
    }
    const char *p[2] = {from, to};
    db_status st;
    PGresult *r = db_exec_msg(c, "rsk_backtest", 2, p, &st, err, errlen);
    if (!r) {
        if (!err[0])
            snprintf(err, errlen, "could not run the backtest query\n");
        return st;
    }
    json_t *a = json_array();
    int n = PQntuples(r);
    for (int i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "enterprise_id",
                                           (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
                                           "code", PQgetvalue(r, i, 1), "name", PQgetvalue(r, i, 7),
                                           "grade", PQgetvalue(r, i, 2), "r", PQgetvalue(r, i, 3),
                                           "model_version", PQgetvalue(r, i, 4), "inputs",
                                           PQgetvalue(r, i, 5)));
    PQclear(r);
    if (!a || json_array_size(a) != (size_t)n) {
        json_decref(a);
        snprintf(err, errlen, "out of memory\n");
        return DB_HARD;
    }
    *out = a;
    return DB_OK;
}
