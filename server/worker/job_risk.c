/* job_risk.c — score recompute, warning issue and escalation (see job_risk.h).
 *
 * Concurrency: a recompute of one enterprise takes a transaction-scoped advisory lock on
 * (RISK_LOCK, enterprise id), so two workers never interleave "read previous grade → store
 * new grade → issue warning" for the same enterprise; the partial unique index on open
 * warnings is the second wall.  The escalation pass takes one city-wide transaction lock
 * and additionally guards each step with `escalations_done = step - 1` and the unique
 * (warning, step) event index: a step is applied exactly once even with two workers and a
 * kill -9 in between (the killed transaction simply rolls back). */
#include "job_risk.h"

#include "rds.h"
#include "risk_point.h"
#include "risk_warning.h"
#include "srv_config.h"
#include "srv_log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RISK_LOCK 731031
#define WARN_LOCK 7310312016119201LL

static const db_stmt statements[] = {
    {"rsk_lock", "SELECT pg_advisory_xact_lock(731031, $1::int)"},
    {"rsk_take_requests",
     "DELETE FROM risk_recompute_requests WHERE enterprise_id IN (SELECT enterprise_id FROM "
     "risk_recompute_requests ORDER BY requested_at LIMIT 500 FOR UPDATE SKIP LOCKED) "
     "RETURNING enterprise_id"},
    {"rsk_all", "SELECT id FROM enterprises ORDER BY id"},
    /* The engine's inputs, one row.  Windows: alarms 24 h / 7 d, check-ins 7 d.  Cleaning:
     * required = complete periods since max(area created, now - 7 d), done = distinct
     * periods (shift/day/ISO week, Beijing time) with a check-in. */
    {"rsk_inputs",
     "SELECT coalesce(ep.dust_class, 'other'), coalesce(ep.st_class, 'unknown'), "
     "coalesce(ep.dust_workers, 0), coalesce(ep.multi_storey, false)::int, coalesce((SELECT "
     "sum(1 << (x - 1)) FROM unnest(ep.major_hazard_items) x), 0), coalesce(ep.open_hazards, "
     "0), coalesce(ep.video_offline, 0), ds.removal, ds.pp::int, ds.indoor::int, ds.dry, "
     "al.l1_24m, al.l2_24m, al.l1_24o, al.l2_24o, al.l1_7m, al.l2_7m, al.l1_7o, al.l2_7o, "
     "al.secs, h.unacked, h.unhandled, rp.repeats, cl.required, cl.missed, onl.rate "
     "FROM (SELECT to_timestamp($2::float8) AS now) t CROSS JOIN enterprises e "
     "LEFT JOIN enterprise_profiles ep ON ep.enterprise_id = e.id "
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
     "t.now) AS unhandled FROM alarms WHERE enterprise_id = e.id AND state IN ('active', "
     "'acknowledged')) h "
     "CROSS JOIN LATERAL (SELECT count(*) AS repeats FROM alarms a2 WHERE a2.enterprise_id = "
     "e.id AND a2.point_id IS NOT NULL AND a2.raised_at > t.now - interval '7 days' AND "
     "a2.raised_at <= t.now AND EXISTS (SELECT 1 FROM alarms a1 WHERE a1.point_id = "
     "a2.point_id AND a1.handled_at < a2.raised_at AND a1.handled_at > a2.raised_at - "
     "interval '7 days')) rp "
     "CROSS JOIN LATERAL (SELECT coalesce(sum(req), 0)::bigint AS required, "
     "coalesce(sum(greatest(req - done, 0)), 0)::bigint AS missed FROM (SELECT "
     "floor(extract(epoch FROM t.now - greatest(a.created_at, t.now - interval '7 days')) / "
     "per.s)::int AS req, (SELECT count(DISTINCT floor((extract(epoch FROM c.checked_at) + "
     "per.off) / per.s)) FROM cleaning_checkins c WHERE c.area_id = a.id AND c.checked_at > "
     "t.now - interval '7 days' AND c.checked_at <= t.now) AS done FROM cleaning_areas a "
     "CROSS JOIN LATERAL (SELECT CASE a.frequency WHEN 'per_shift' THEN 28800 WHEN 'daily' "
     "THEN 86400 ELSE 604800 END AS s, CASE a.frequency WHEN 'weekly' THEN 288000 ELSE 28800 "
     "END AS off) per WHERE a.enterprise_id = e.id AND a.active AND a.created_at <= t.now) z) cl "
     "CROSS JOIN LATERAL (SELECT coalesce(count(*) FILTER (WHERE NOT coalesce(s.offline_active, "
     "false))::float8 / nullif(count(*), 0), 1) AS rate FROM points p LEFT JOIN "
     "point_rule_state s ON s.point_id = p.id AND s.enterprise_id = e.id WHERE p.enterprise_id = "
     "e.id AND p.enabled AND "
     "p.param_class = 'mandatory') onl WHERE e.id = $1::bigint"},
    /* Live state per dust-removal system for the precursor overrides; $2..$4 are the
     * engine's enum values for HIGH_HIGH, DIGITAL_FAULT and LOW_LOW. */
    {"rsk_systems",
     "SELECT ds.id, coalesce(bool_or(p.kind = 'hopper_temp' AND s.level = $2::int), "
     "false)::int, coalesce(bool_or(p.kind = 'spark_detected' AND s.level = $3::int), "
     "false)::int, coalesce(bool_or(p.kind = 'pressure_diff' AND s.level = $4::int), "
     "false)::int, coalesce(bool_or(p.kind = 'fan_running' AND s.has_value AND s.last_value = "
     "1 AND NOT s.offline_active), false)::int FROM dust_systems ds LEFT JOIN points p ON "
     "p.system_id = ds.id AND p.enabled LEFT JOIN point_rule_state s ON s.point_id = p.id "
     "WHERE ds.enterprise_id = $1::bigint GROUP BY ds.id ORDER BY ds.id LIMIT 64"},
    {"rsk_prev", "SELECT grade, override, r FROM enterprise_risk WHERE enterprise_id = $1::bigint"},
    {"rsk_store",
     "WITH s AS (INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, "
     "h, s, grade, grade_by_score, override, override_reason, rules, inputs, trigger) VALUES "
     "($1::bigint, to_timestamp($2::float8), $3, $4::numeric, $5::float8, $6::float8, "
     "$7::float8, $8::float8, $9, $10, $11::boolean, $12, $13::jsonb, $14::jsonb, $15) "
     "RETURNING id, enterprise_id, computed_at, r, grade, override, model_version) INSERT INTO "
     "enterprise_risk (enterprise_id, score_id, computed_at, r, grade, override, "
     "model_version) SELECT enterprise_id, id, computed_at, r, grade, override, model_version "
     "FROM s ON CONFLICT (enterprise_id) DO UPDATE SET score_id = EXCLUDED.score_id, "
     "computed_at = EXCLUDED.computed_at, r = EXCLUDED.r, grade = EXCLUDED.grade, override = "
     "EXCLUDED.override, model_version = EXCLUDED.model_version RETURNING score_id"},
    /* Issue; the partial unique index keeps one open warning per enterprise and cause.
     * $1 enterprise $2 cause $3 grade $4 score $5 issued $6 sign_by $7 clear_by
     * $8 supervisor $9 inform city $10 note */
    {"rsk_issue",
     "WITH w AS (INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, "
     "sign_by, clear_by, supervisor, current_level, inform_city, next_check_at) VALUES "
     "($1::bigint, $2, $3, $4::bigint, to_timestamp($5::bigint), to_timestamp($6::bigint), "
     "to_timestamp($7::bigint), $8, $8, $9::boolean, to_timestamp($6::bigint + 1)) ON CONFLICT "
     "DO NOTHING RETURNING id, enterprise_id, issued_at, sign_by, clear_by), ev AS (INSERT INTO "
     "warning_events (warning_id, enterprise_id, at, action, to_status, level, actor, note) "
     "SELECT id, enterprise_id, issued_at, 'issue', 'issued', $8, 'worker', $10 FROM w), ob AS "
     "(INSERT INTO notification_outbox (subscription_id, enterprise_id, warning_id, event, "
     "payload) SELECT s.id, w.enterprise_id, w.id, 'issue', jsonb_build_object('type', "
     "'warning', 'event', 'issue', 'warning_id', w.id, 'enterprise_id', w.enterprise_id, "
     "'enterprise_code', e.code, 'cause', $2::text, 'grade', $3::text, 'issued_at', "
     "w.issued_at, 'sign_by', w.sign_by, 'clear_by', w.clear_by, 'supervisor', $8::text) FROM "
     "w JOIN enterprises e ON e.id = w.enterprise_id JOIN webhook_subscriptions s ON s.enabled "
     "AND 'warning' = ANY (s.events) AND (s.scope_kind = 'city' OR (s.scope_kind = 'district' "
     "AND s.scope_id = e.district_id) OR (s.scope_kind = 'street' AND s.scope_id = "
     "e.street_id) OR (s.scope_kind = 'enterprise' AND s.scope_id = e.id)) ON CONFLICT DO "
     "NOTHING) SELECT id FROM w"},
    {"wrn_lock", "SELECT pg_try_advisory_xact_lock(7310312016119201)"},
    {"wrn_due",
     "SELECT id, enterprise_id, grade, status, extract(epoch FROM issued_at)::bigint, "
     "coalesce(extract(epoch FROM signed_at)::bigint, 0), coalesce(extract(epoch FROM "
     "clear_requested_at)::bigint, 0), escalations_done, extract(epoch FROM sign_by)::bigint, "
     "extract(epoch FROM clear_by)::bigint FROM warnings WHERE status <> 'cleared' AND "
     "next_check_at <= to_timestamp($1::bigint) ORDER BY next_check_at LIMIT 200 FOR UPDATE"},
    /* $1 warning $2 step $3 level $4 duban $5 referral $6 note */
    {"wrn_escalate",
     "WITH w AS (UPDATE warnings SET escalations_done = $2::int, current_level = $3, "
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

static risk_model g_model;

void job_risk_init(const risk_model *m)
{
    g_model = *m;
    /* drills and tests shorten every deadline without a new model version; the real
     * deadlines are stored with each warning, so the ladder never depends on this later */
    for (int g = 0; g < RISK_GRADE_COUNT; g++) {
        if (g_config.warning_sign_within_s > 0)
            g_model.warning[g].sign_within_s = g_config.warning_sign_within_s;
        if (g_config.warning_clear_within_s > 0)
            g_model.warning[g].clear_within_s = g_config.warning_clear_within_s;
        if (g_model.warning[g].clear_within_s < g_model.warning[g].sign_within_s)
            g_model.warning[g].clear_within_s = g_model.warning[g].sign_within_s;
    }
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* ---- inputs ------------------------------------------------------------- */

static int64_t geti(const PGresult *r, int col)
{
    return strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

static json_t *inputs_json(const risk_archive *a, const risk_dynamic *d)
{
    json_t *sys = json_array();
    for (size_t i = 0; i < d->n_systems; i++) {
        const risk_system_state *s = &d->systems[i];
        json_array_append_new(sys, json_pack("{s:i, s:b, s:b, s:b, s:b}", "id", s->system_id,
                                             "hopper_temp_high_high", s->hopper_temp_high_high,
                                             "spark_detected", s->spark_detected, "dp_collapse",
                                             s->dp_collapse, "fan_running", s->fan_running));
    }
    json_t *arch =
        json_pack("{s:s, s:s, s:I, s:s, s:b, s:b, s:I, s:b}", "dust_class",
                  risk_dust_class_name(a->dust_class), "st_class", risk_st_class_name(a->st_class),
                  "dust_workers", (json_int_t)a->dust_workers, "removal",
                  risk_removal_name(a->removal), "positive_pressure_conveying",
                  a->positive_pressure_conveying, "collector_indoors", a->collector_indoors,
                  "dry_collectors", (json_int_t)a->dry_collectors, "multi_storey", a->multi_storey);
    json_t *dyn = json_pack(
        "{s:[I,I], s:[I,I], s:[I,I], s:[I,I], s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I, "
        "s:I, s:o}",
        "alarms_24h_mandatory", (json_int_t)d->alarms_24h_mandatory.level1,
        (json_int_t)d->alarms_24h_mandatory.level2, "alarms_24h_other",
        (json_int_t)d->alarms_24h_other.level1, (json_int_t)d->alarms_24h_other.level2,
        "alarms_7d_mandatory", (json_int_t)d->alarms_7d_mandatory.level1,
        (json_int_t)d->alarms_7d_mandatory.level2, "alarms_7d_other",
        (json_int_t)d->alarms_7d_other.level1, (json_int_t)d->alarms_7d_other.level2,
        "alarm_seconds_24h_mandatory", (json_int_t)d->alarm_seconds_24h_mandatory,
        "overdue_unacked", (json_int_t)d->overdue_unacked, "overdue_unhandled",
        (json_int_t)d->overdue_unhandled, "repeat_after_handled",
        (json_int_t)d->repeat_after_handled, "cleaning_required", (json_int_t)d->cleaning_required,
        "cleaning_missed", (json_int_t)d->cleaning_missed, "online_rate_mandatory",
        d->online_rate_mandatory, "video_offline", (json_int_t)d->video_offline, "open_hazards",
        (json_int_t)d->open_hazards, "major_hazard_items", (json_int_t)d->major_hazard_items,
        "systems", sys);
    return json_pack("{s:o, s:o}", "archive", arch, "dynamic", dyn);
}

static int get_pair(const json_t *o, const char *key, risk_alarm_count *c)
{
    const json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) != 2)
        return -1;
    c->level1 = (uint32_t)json_integer_value(json_array_get(a, 0));
    c->level2 = (uint32_t)json_integer_value(json_array_get(a, 1));
    return 0;
}

static uint32_t get_u32(const json_t *o, const char *key)
{
    return (uint32_t)json_integer_value(json_object_get(o, key));
}

int job_risk_inputs_from_json(const json_t *inputs, risk_archive *a, risk_dynamic *d,
                              risk_system_state *systems, size_t max_systems)
{
    memset(a, 0, sizeof *a);
    memset(d, 0, sizeof *d);
    const json_t *ar = json_object_get(inputs, "archive"), *dy = json_object_get(inputs, "dynamic");
    if (!json_is_object(ar) || !json_is_object(dy))
        return -1;
    int dc = risk_dust_class_from_name(json_string_value(json_object_get(ar, "dust_class")));
    int sc = risk_st_class_from_name(json_string_value(json_object_get(ar, "st_class")));
    int rm = risk_removal_from_name(json_string_value(json_object_get(ar, "removal")));
    if (dc < 0 || sc < 0 || rm < 0)
        return -1;
    a->dust_class = (risk_dust_class)dc;
    a->st_class = (risk_st_class)sc;
    a->removal = (risk_removal_setup)rm;
    a->dust_workers = get_u32(ar, "dust_workers");
    a->positive_pressure_conveying =
        json_is_true(json_object_get(ar, "positive_pressure_conveying"));
    a->collector_indoors = json_is_true(json_object_get(ar, "collector_indoors"));
    a->dry_collectors = get_u32(ar, "dry_collectors");
    a->multi_storey = json_is_true(json_object_get(ar, "multi_storey"));
    if (get_pair(dy, "alarms_24h_mandatory", &d->alarms_24h_mandatory) ||
        get_pair(dy, "alarms_24h_other", &d->alarms_24h_other) ||
        get_pair(dy, "alarms_7d_mandatory", &d->alarms_7d_mandatory) ||
        get_pair(dy, "alarms_7d_other", &d->alarms_7d_other))
        return -1;
    d->alarm_seconds_24h_mandatory =
        json_integer_value(json_object_get(dy, "alarm_seconds_24h_mandatory"));
    d->overdue_unacked = get_u32(dy, "overdue_unacked");
    d->overdue_unhandled = get_u32(dy, "overdue_unhandled");
    d->repeat_after_handled = get_u32(dy, "repeat_after_handled");
    d->cleaning_required = get_u32(dy, "cleaning_required");
    d->cleaning_missed = get_u32(dy, "cleaning_missed");
    d->online_rate_mandatory = json_number_value(json_object_get(dy, "online_rate_mandatory"));
    d->video_offline = get_u32(dy, "video_offline");
    d->open_hazards = get_u32(dy, "open_hazards");
    d->major_hazard_items = (uint16_t)get_u32(dy, "major_hazard_items");
    const json_t *sys = json_object_get(dy, "systems");
    size_t i;
    const json_t *s;
    json_array_foreach(sys, i, s)
    {
        if (i >= max_systems)
            break;
        systems[i].system_id = (int32_t)json_integer_value(json_object_get(s, "id"));
        systems[i].hopper_temp_high_high =
            json_is_true(json_object_get(s, "hopper_temp_high_high"));
        systems[i].spark_detected = json_is_true(json_object_get(s, "spark_detected"));
        systems[i].dp_collapse = json_is_true(json_object_get(s, "dp_collapse"));
        systems[i].fan_running = json_is_true(json_object_get(s, "fan_running"));
        d->n_systems = i + 1;
    }
    d->systems = systems;
    return 0;
}

static db_status load_inputs(db_conn *c, const char *eid, int64_t now_s, risk_archive *a,
                             risk_dynamic *d, risk_system_state *systems)
{
    memset(a, 0, sizeof *a);
    memset(d, 0, sizeof *d);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_s);
    const char *p[2] = {eid, now};
    db_status st;
    PGresult *r = db_exec(c, "rsk_inputs", 2, p, &st);
    if (!r)
        return st;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return DB_BAD; /* enterprise gone */
    }
    int dc = risk_dust_class_from_name(PQgetvalue(r, 0, 0));
    int sc = risk_st_class_from_name(PQgetvalue(r, 0, 1));
    int rm = risk_removal_from_name(PQgetvalue(r, 0, 7));
    a->dust_class = dc < 0 ? RISK_DUST_OTHER : (risk_dust_class)dc;
    a->st_class = sc < 0 ? RISK_ST_UNKNOWN : (risk_st_class)sc;
    a->removal = rm < 0 ? RISK_REMOVAL_NONE : (risk_removal_setup)rm;
    a->dust_workers = (uint32_t)geti(r, 2);
    a->multi_storey = geti(r, 3) != 0;
    d->major_hazard_items = (uint16_t)geti(r, 4);
    d->open_hazards = (uint32_t)geti(r, 5);
    d->video_offline = (uint32_t)geti(r, 6);
    a->positive_pressure_conveying = geti(r, 8) != 0;
    a->collector_indoors = geti(r, 9) != 0;
    a->dry_collectors = (uint32_t)geti(r, 10);
    d->alarms_24h_mandatory = (risk_alarm_count){(uint32_t)geti(r, 11), (uint32_t)geti(r, 12)};
    d->alarms_24h_other = (risk_alarm_count){(uint32_t)geti(r, 13), (uint32_t)geti(r, 14)};
    d->alarms_7d_mandatory = (risk_alarm_count){(uint32_t)geti(r, 15), (uint32_t)geti(r, 16)};
    d->alarms_7d_other = (risk_alarm_count){(uint32_t)geti(r, 17), (uint32_t)geti(r, 18)};
    d->alarm_seconds_24h_mandatory = geti(r, 19);
    d->overdue_unacked = (uint32_t)geti(r, 20);
    d->overdue_unhandled = (uint32_t)geti(r, 21);
    d->repeat_after_handled = (uint32_t)geti(r, 22);
    d->cleaning_required = (uint32_t)geti(r, 23);
    d->cleaning_missed = (uint32_t)geti(r, 24);
    d->online_rate_mandatory = strtod(PQgetvalue(r, 0, 25), NULL);
    PQclear(r);

    char hh[8], sp[8], ll[8];
    snprintf(hh, sizeof hh, "%d", RISK_ALARM_HIGH_HIGH);
    snprintf(sp, sizeof sp, "%d", RISK_ALARM_DIGITAL_FAULT);
    snprintf(ll, sizeof ll, "%d", RISK_ALARM_LOW_LOW);
    const char *q[4] = {eid, hh, sp, ll};
    r = db_exec(c, "rsk_systems", 4, q, &st);
    if (!r)
        return st;
    int n = PQntuples(r);
    for (int i = 0; i < n && i < JOB_RISK_MAX_SYSTEMS; i++) {
        systems[i].system_id = (int32_t)strtol(PQgetvalue(r, i, 0), NULL, 10);
        systems[i].hopper_temp_high_high = PQgetvalue(r, i, 1)[0] == '1';
        systems[i].spark_detected = PQgetvalue(r, i, 2)[0] == '1';
        systems[i].dp_collapse = PQgetvalue(r, i, 3)[0] == '1';
        systems[i].fan_running = PQgetvalue(r, i, 4)[0] == '1';
        d->n_systems = (size_t)i + 1;
    }
    d->systems = systems;
    PQclear(r);
    return DB_OK;
}

static json_t *rules_json(const risk_score_result *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_rules; i++) {
        const risk_fired_rule *f = &s->rules[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:f}", "code", f->code, "description_key",
                              f->description_key, "part", risk_part_name(f->part), "contribution",
                              f->contribution);
        if (f->system_id >= 0)
            json_object_set_new(o, "system_id", json_integer(f->system_id));
        if (f->item > 0)
            json_object_set_new(o, "item", json_integer(f->item));
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- recompute ---------------------------------------------------------- */

typedef struct {
    int64_t enterprise_id;
    int64_t now_s;
    const char *trigger;
    /* results for logging / publishing after commit */
    risk_score_result res;
    char prev_grade[16];
    int changed;
    int64_t warning_id;
} compute_ctx;

static db_status compute_tx(db_conn *c, void *arg)
{
    compute_ctx *x = arg;
    x->changed = 0;
    x->warning_id = 0;
    char eid[24], eid32[16];
    snprintf(eid, sizeof eid, "%lld", (long long)x->enterprise_id);
    snprintf(eid32, sizeof eid32, "%d", (int)(x->enterprise_id & 0x7fffffff));
    db_status st;
    const char *pl[1] = {eid32};
    PGresult *r = db_exec(c, "rsk_lock", 1, pl, &st);
    if (!r)
        return st;
    PQclear(r);

    risk_archive arch;
    risk_dynamic dyn;
    risk_system_state systems[JOB_RISK_MAX_SYSTEMS];
    st = load_inputs(c, eid, x->now_s, &arch, &dyn, systems);
    if (st != DB_OK)
        return st;
    if (risk_score_compute(&g_model, &arch, &dyn, &x->res) != 0) {
        LOG_ERROR("risk inputs out of domain", "enterprise=%lld", (long long)x->enterprise_id);
        return DB_BAD;
    }
    const char *p1[1] = {eid};
    r = db_exec(c, "rsk_prev", 1, p1, &st);
    if (!r)
        return st;
    risk_grade prev = RISK_GRADE_BLUE;
    bool prev_override = false;
    double prev_r = -1;
    snprintf(x->prev_grade, sizeof x->prev_grade, "none");
    if (PQntuples(r) == 1) {
        int g = risk_grade_from_name(PQgetvalue(r, 0, 0));
        prev = g < 0 ? RISK_GRADE_BLUE : (risk_grade)g;
        prev_override = PQgetvalue(r, 0, 1)[0] == 't';
        prev_r = strtod(PQgetvalue(r, 0, 2), NULL);
        snprintf(x->prev_grade, sizeof x->prev_grade, "%s", PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    const risk_score_result *s = &x->res;
    x->changed = strcmp(x->prev_grade, risk_grade_name(s->grade)) != 0 ||
                 prev_override != s->override || fabs(prev_r - s->R) >= 0.005;

    json_t *inputs = inputs_json(&arch, &dyn), *rules = rules_json(s);
    char *ji = json_dumps(inputs, JSON_COMPACT), *jr = json_dumps(rules, JSON_COMPACT);
    json_decref(inputs);
    json_decref(rules);
    char now[24], R[24], I[32], A[32], H[32], S[32];
    snprintf(now, sizeof now, "%lld", (long long)x->now_s);
    snprintf(R, sizeof R, "%.2f", s->R);
    snprintf(I, sizeof I, "%.17g", s->I);
    snprintf(A, sizeof A, "%.17g", s->A);
    snprintf(H, sizeof H, "%.17g", s->H);
    snprintf(S, sizeof S, "%.17g", s->S);
    const char *p[15] = {eid,
                         now,
                         s->model_version,
                         R,
                         I,
                         A,
                         H,
                         S,
                         risk_grade_name(s->grade),
                         risk_grade_name(s->grade_by_score),
                         s->override ? "true" : "false",
                         s->override ? s->override_reason : NULL,
                         jr,
                         ji,
                         x->trigger};
    st = DB_HARD;
    r = (ji && jr) ? db_exec(c, "rsk_store", 15, p, &st) : NULL;
    free(ji);
    free(jr);
    if (!r)
        return st;
    char score_id[24];
    snprintf(score_id, sizeof score_id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    /* The first score of an enterprise sets its baseline: a grade that comes
     * from the archive alone is shown, not warned about (with the default
     * model most dry-collection sites are yellow by inherent risk, and a
     * warning for each on the day it is registered would bury the real ones).
     * Rises from there warn; overrides warn at once. */
    if (prev_r < 0)
        prev = s->grade;
    if (!risk_warning_should_issue(prev, prev_override, s->grade, s->override))
        return DB_OK;
    risk_warning_deadlines dl;
    if (risk_warning_deadlines_for(&g_model, s->grade, x->now_s, &dl) != 0)
        return DB_BAD;
    const char *cause = s->override && !prev_override ? s->override_reason : "grade";
    char sign_by[24], clear_by[24], note[160];
    snprintf(sign_by, sizeof sign_by, "%lld", (long long)dl.sign_by);
    snprintf(clear_by, sizeof clear_by, "%lld", (long long)dl.clear_by);
    snprintf(note, sizeof note, "%s -> %s, R=%.2f (model %s)", x->prev_grade,
             risk_grade_name(s->grade), s->R, s->model_version);
    const char *pw[10] = {eid,
                          cause,
                          risk_grade_name(s->grade),
                          score_id,
                          now,
                          sign_by,
                          clear_by,
                          risk_admin_level_name(dl.supervisor),
                          dl.inform_city ? "true" : "false",
                          note};
    r = db_exec(c, "rsk_issue", 10, pw, &st);
    if (!r)
        return st;
    if (PQntuples(r) == 1)
        x->warning_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return DB_OK;
}

static void publish_risk(const compute_ctx *x)
{
    char buf[512];
    if (x->changed) {
        snprintf(buf, sizeof buf,
                 "{\"type\":\"risk\",\"enterprise_id\":%lld,\"grade\":\"%s\",\"previous\":\"%s\","
                 "\"r\":%.2f,\"override\":%s,\"model_version\":\"%s\"}",
                 (long long)x->enterprise_id, risk_grade_name(x->res.grade), x->prev_grade,
                 x->res.R, x->res.override ? "true" : "false", x->res.model_version);
        rds_publish("dw:events", NULL, 0, buf);
    }
    if (x->warning_id) {
        snprintf(buf, sizeof buf,
                 "{\"type\":\"warning\",\"event\":\"issue\",\"warning_id\":%lld,"
                 "\"enterprise_id\":%lld,\"grade\":\"%s\"}",
                 (long long)x->warning_id, (long long)x->enterprise_id,
                 risk_grade_name(x->res.grade));
        rds_publish("dw:events", NULL, 0, buf);
        LOG_INFO("warning issued", "warning=%lld enterprise=%lld grade=%s",
                 (long long)x->warning_id, (long long)x->enterprise_id,
                 risk_grade_name(x->res.grade));
    }
}

static db_status compute_one(db_conn *c, int64_t eid, int64_t now_s, const char *trigger)
{
    compute_ctx x = {.enterprise_id = eid, .now_s = now_s, .trigger = trigger};
    db_status st = db_run_tx(c, NULL, compute_tx, &x);
    if (st == DB_OK)
        publish_risk(&x);
    else if (st == DB_BAD)
        st = DB_OK; /* one enterprise's bad data must not stop the others */
    return st;
}

static db_status run_list(db_conn *c, const char *stmt, int64_t now_s, const char *trigger,
                          size_t *n_done)
{
    *n_done = 0;
    db_status st;
    PGresult *r = db_exec(c, stmt, 0, NULL, &st);
    if (!r)
        return st;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        st = compute_one(c, strtoll(PQgetvalue(r, i, 0), NULL, 10), now_s, trigger);
        if (st != DB_OK) {
            PQclear(r);
            return st;
        }
        (*n_done)++;
    }
    PQclear(r);
    return DB_OK;
}

db_status job_risk_run_requests(db_conn *c, int64_t now_s, size_t *n_done)
{
    /* the DELETE commits on its own (autocommit) before the recomputes read: anything
     * changed after it leaves a new request behind for the next tick */
    /* keep taking batches until the queue is empty: a burst of requests
     * (an import, a model change) must not wait one worker tick per 500 */
    *n_done = 0;
    for (int round = 0; round < 10; round++) {
        size_t n = 0;
        db_status st = run_list(c, "rsk_take_requests", now_s, "change", &n);
        *n_done += n;
        if (st != DB_OK || n < 500)
            return st;
    }
    return DB_OK;
}

db_status job_risk_run_all(db_conn *c, int64_t now_s, size_t *n_done)
{
    return run_list(c, "rsk_all", now_s, "periodic", n_done);
}

/* ---- escalation ----------------------------------------------------------- */

static const char *const warn_status_db[RISK_WARN_STATUS_COUNT] = {
    [RISK_WARN_ISSUED] = "issued",      [RISK_WARN_SIGNED] = "signed",
    [RISK_WARN_FEEDBACK] = "feedback",  [RISK_WARN_CLEAR_REQUESTED] = "clearance_requested",
    [RISK_WARN_SENT_BACK] = "returned", [RISK_WARN_CLEARED] = "cleared",
};

static int status_from_db(const char *s)
{
    for (int i = 0; i < RISK_WARN_STATUS_COUNT; i++)
        if (strcmp(warn_status_db[i], s) == 0)
            return i;
    return -1;
}

typedef struct {
    int64_t now_s;
    size_t steps;
    int skipped; /* another worker holds the lock */
    int64_t published[64][2];
    uint32_t published_step[64];
    size_t n_published;
} warn_ctx;

static db_status warnings_tx(db_conn *c, void *arg)
{
    warn_ctx *x = arg;
    x->steps = 0;
    x->n_published = 0;
    x->skipped = 0;
    db_status st;
    PGresult *r = db_exec(c, "wrn_lock", 0, NULL, &st);
    if (!r)
        return st;
    int locked = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!locked) {
        x->skipped = 1;
        return DB_OK;
    }
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)x->now_s);
    const char *p[1] = {now};
    PGresult *rows = db_exec(c, "wrn_due", 1, p, &st);
    if (!rows)
        return st;
    int n = PQntuples(rows);
    st = DB_OK;
    for (int i = 0; i < n && st == DB_OK; i++) {
        int g = risk_grade_from_name(PQgetvalue(rows, i, 2));
        int s = status_from_db(PQgetvalue(rows, i, 3));
        if (g < 0 || s < 0)
            continue;
        risk_warning_state ws = {
            .grade = (risk_grade)g,
            .status = (risk_warning_status)s,
            .issued_at = strtoll(PQgetvalue(rows, i, 4), NULL, 10),
            .signed_at = strtoll(PQgetvalue(rows, i, 5), NULL, 10),
            .clear_requested_at = strtoll(PQgetvalue(rows, i, 6), NULL, 10),
            .escalations_done = (uint32_t)strtoul(PQgetvalue(rows, i, 7), NULL, 10),
        };
        /* the stored deadlines rule, whatever the model or configuration says today */
        risk_model m = g_model;
        m.warning[g].sign_within_s = strtoll(PQgetvalue(rows, i, 8), NULL, 10) - ws.issued_at;
        m.warning[g].clear_within_s = strtoll(PQgetvalue(rows, i, 9), NULL, 10) - ws.issued_at;
        risk_warning_decision d;
        const char *wid = PQgetvalue(rows, i, 0);
        if (risk_warning_check(&m, &ws, x->now_s, &d) != 0) {
            LOG_ERROR("warning state inconsistent", "warning=%s", wid);
            const char *pn[2] = {wid, "-1"};
            PGresult *u = db_exec(c, "wrn_next", 2, pn, &st);
            PQclear(u);
            continue;
        }
        if (d.escalate_now) {
            char step[16], note[160];
            snprintf(step, sizeof step, "%u", d.step);
            snprintf(note, sizeof note, "%s deadline missed (due %lld)",
                     ws.signed_at == 0 && d.overdue_sign && d.step == 1 ? "sign" : "clearance",
                     (long long)d.step_due_at);
            const char *pe[6] = {wid,
                                 step,
                                 risk_admin_level_name(d.escalate_to),
                                 d.duban ? "true" : "false",
                                 d.enforcement_referral ? "true" : "false",
                                 note};
            PGresult *u = db_exec(c, "wrn_escalate", 6, pe, &st);
            if (!u)
                break;
            if (PQntuples(u) == 1) {
                x->steps++;
                if (x->n_published < 64) {
                    x->published[x->n_published][0] = strtoll(wid, NULL, 10);
                    x->published[x->n_published][1] = strtoll(PQgetvalue(u, 0, 1), NULL, 10);
                    x->published_step[x->n_published++] = d.step;
                }
            }
            PQclear(u);
        } else {
            char next[24];
            snprintf(next, sizeof next, "%lld",
                     d.next_check_at == INT64_MAX ? -1LL : (long long)d.next_check_at);
            const char *pn[2] = {wid, next};
            PGresult *u = db_exec(c, "wrn_next", 2, pn, &st);
            if (!u)
                break;
            PQclear(u);
        }
    }
    PQclear(rows);
    return st;
}

db_status job_risk_check_warnings(db_conn *c, int64_t now_s, size_t *n_steps)
{
    warn_ctx x = {.now_s = now_s};
    db_status st = db_run_tx(c, NULL, warnings_tx, &x);
    *n_steps = st == DB_OK ? x.steps : 0;
    if (st != DB_OK)
        return st;
    for (size_t i = 0; i < x.n_published; i++) {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"type\":\"warning\",\"event\":\"escalate\",\"warning_id\":%lld,"
                 "\"enterprise_id\":%lld,\"step\":%u}",
                 (long long)x.published[i][0], (long long)x.published[i][1], x.published_step[i]);
        rds_publish("dw:events", NULL, 0, buf);
        LOG_INFO("warning escalated", "warning=%lld step=%u", (long long)x.published[i][0],
                 x.published_step[i]);
    }
    return DB_OK;
}
