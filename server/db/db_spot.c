/* Online spot checks (db_spot.h, migration 0106).  Scoped statements take the caller's scope
 * kind and id as $1 and $2: campaigns and checks match their owner's district or street (the
 * columns the migration copies onto checks and findings), findings also their enterprise. */
#include "db_spot.h"

#include "db_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
static const db_stmt statements[] = {
    {"sp_checklist",
     "SELECT json_build_object('items', coalesce(json_agg(json_build_object('code', i.code, "
     "'zh', i.zh, 'en', i.en, 'major_item', i.major_item) ORDER BY i.sort, i.code), "
     "'[]'::json))::text FROM spot_checklist_items i WHERE i.active AND $1::text IS NOT NULL AND"
     " $2::text IS NOT NULL"},
    {"sp_campaign_create",
     "WITH o AS (SELECT CASE $1 WHEN 'district' THEN $2::bigint WHEN 'street' THEN (SELECT "
     "r.parent_id FROM regions r WHERE r.id = $2::bigint) END AS did, CASE $1 WHEN 'street' THEN"
     " $2::bigint END AS sid), sel AS MATERIALIZED (SELECT e.id FROM enterprises e LEFT JOIN "
     "regions s ON s.id = e.street_id WHERE (($1 = 'city') OR ($1 = 'district' AND e.district_id"
     " = $2::bigint) OR ($1 = 'street' AND e.street_id = $2::bigint) OR ($1 = 'enterprise' AND "
     "e.id = $2::bigint)) AND CASE $6 WHEN 'grade' THEN coalesce((SELECT er.grade FROM "
     "enterprise_risk er WHERE er.enterprise_id = e.id), 'none') = ANY(string_to_array($9, ','))"
     " WHEN 'street' THEN s.code IS NOT DISTINCT FROM $10 WHEN 'stale' THEN NOT EXISTS (SELECT 1"
     " FROM spot_checks x WHERE x.enterprise_id = e.id AND x.status = 'done' AND x.checked_at > "
     "now() - make_interval(days => $11::int)) WHEN 'list' THEN e.id = ANY(string_to_array($12, "
     "',')::bigint[]) ELSE true END ORDER BY random() LIMIT $8::int), c AS (INSERT INTO "
     "spot_campaigns (district_id, street_id, title, period_from, period_to, rule, params, "
     "created_by, creator) SELECT o.did, o.sid, $3, $4::timestamptz, $5::timestamptz, $6, "
     "$7::jsonb, $13::bigint, $14 FROM o WHERE EXISTS (SELECT 1 FROM sel) RETURNING id, "
     "district_id, street_id), k AS (INSERT INTO spot_checks (campaign_id, enterprise_id, "
     "district_id, street_id) SELECT c.id, sel.id, c.district_id, c.street_id FROM c, sel "
     "RETURNING id) SELECT (SELECT id FROM c), (SELECT count(*) FROM k)"},
    {"sp_campaign_list",
     "WITH q AS (SELECT c.id, c.created_at FROM spot_campaigns c WHERE (($1 = 'city') OR ($1 = "
     "'district' AND c.district_id = $2::bigint) OR ($1 = 'street' AND c.street_id = "
     "$2::bigint)) AND ($3::text IS NULL OR c.status = ANY(string_to_array($3, ',')))) SELECT "
     "json_build_object('total', (SELECT count(*) FROM q), 'limit', $4::int, 'offset', $5::int, "
     "'items', coalesce((SELECT json_agg(json_build_object('id', c.id, 'title', c.title, "
     "'district_id', c.district_id, 'street_id', c.street_id, 'period_from', c.period_from, "
     "'period_to', c.period_to, 'rule', c.rule, 'params', c.params, 'status', c.status, "
     "'created_by', c.created_by, 'creator', c.creator, 'created_at', c.created_at, 'closed_at',"
     " c.closed_at, 'checks', (SELECT count(*) FROM spot_checks x WHERE x.campaign_id = c.id), "
     "'done', (SELECT count(*) FROM spot_checks x WHERE x.campaign_id = c.id AND x.status = "
     "'done'), 'findings', (SELECT count(*) FROM spot_findings f JOIN spot_checks x ON x.id = "
     "f.check_id WHERE x.campaign_id = c.id)) ORDER BY c.created_at DESC, c.id DESC) FROM "
     "(SELECT id FROM q ORDER BY created_at DESC, id DESC LIMIT $4::int OFFSET $5::int) pg JOIN "
     "spot_campaigns c ON c.id = pg.id), '[]'::json))::text"},
    {"sp_campaign_get",
     "SELECT json_build_object('campaign', json_build_object('id', c.id, 'title', c.title, "
     "'district_id', c.district_id, 'street_id', c.street_id, 'period_from', c.period_from, "
     "'period_to', c.period_to, 'rule', c.rule, 'params', c.params, 'status', c.status, "
     "'created_by', c.created_by, 'creator', c.creator, 'created_at', c.created_at, 'closed_at',"
     " c.closed_at, 'checks', (SELECT count(*) FROM spot_checks x WHERE x.campaign_id = c.id), "
     "'done', (SELECT count(*) FROM spot_checks x WHERE x.campaign_id = c.id AND x.status = "
     "'done'), 'findings', (SELECT count(*) FROM spot_findings f JOIN spot_checks x ON x.id = "
     "f.check_id WHERE x.campaign_id = c.id)), 'checks', coalesce((SELECT "
     "json_agg(json_build_object('id', k.id, 'campaign_id', k.campaign_id, 'enterprise', "
     "json_build_object('id', e.id, 'code', e.code, 'name', e.name, 'district_id', "
     "e.district_id, 'street_id', e.street_id, 'street', s.name, 'grade', (SELECT er.grade FROM "
     "enterprise_risk er WHERE er.enterprise_id = e.id)), 'status', k.status, 'answers', "
     "k.answers, 'note', k.note, 'inspector_id', k.inspector_id, 'inspector', k.inspector, "
     "'checked_at', k.checked_at, 'findings', (SELECT count(*) FROM spot_findings f WHERE "
     "f.check_id = k.id), 'last_checked_at', (SELECT max(x.checked_at) FROM spot_checks x WHERE "
     "x.enterprise_id = k.enterprise_id AND x.status = 'done' AND x.id <> k.id)) ORDER BY "
     "k.status DESC, e.name, k.id) FROM spot_checks k JOIN enterprises e ON e.id = "
     "k.enterprise_id LEFT JOIN regions s ON s.id = e.street_id WHERE k.campaign_id = c.id), "
     "'[]'::json))::text FROM spot_campaigns c WHERE c.id = $3::bigint AND (($1 = 'city') OR ($1"
     " = 'district' AND c.district_id = $2::bigint) OR ($1 = 'street' AND c.street_id = "
     "$2::bigint))"},
    {"sp_campaign_lock",
     "SELECT c.status, coalesce(c.district_id, 0), coalesce(c.street_id, 0) FROM spot_campaigns "
     "c WHERE c.id = $3::bigint AND (($1 = 'city') OR ($1 = 'district' AND c.district_id = "
     "$2::bigint) OR ($1 = 'street' AND c.street_id = $2::bigint)) FOR UPDATE"},
    {"sp_campaign_close",
     "UPDATE spot_campaigns c SET status = 'closed', closed_at = now() WHERE c.id = $3::bigint "
     "AND c.status = 'open' AND (($1 = 'city') OR ($1 = 'district' AND c.district_id = "
     "$2::bigint) OR ($1 = 'street' AND c.street_id = $2::bigint)) RETURNING id"},
    {"sp_check_get",
     "SELECT json_build_object('check', json_build_object('id', k.id, 'campaign_id', "
     "k.campaign_id, 'enterprise', json_build_object('id', e.id, 'code', e.code, 'name', e.name,"
     " 'district_id', e.district_id, 'street_id', e.street_id, 'street', s.name, 'grade', "
     "(SELECT er.grade FROM enterprise_risk er WHERE er.enterprise_id = e.id)), 'status', "
     "k.status, 'answers', k.answers, 'note', k.note, 'inspector_id', k.inspector_id, "
     "'inspector', k.inspector, 'checked_at', k.checked_at, 'findings', (SELECT count(*) FROM "
     "spot_findings f WHERE f.check_id = k.id), 'last_checked_at', (SELECT max(x.checked_at) "
     "FROM spot_checks x WHERE x.enterprise_id = k.enterprise_id AND x.status = 'done' AND x.id "
     "<> k.id)), 'campaign', json_build_object('id', c.id, 'title', c.title, 'district_id', "
     "c.district_id, 'street_id', c.street_id, 'period_from', c.period_from, 'period_to', "
     "c.period_to, 'rule', c.rule, 'params', c.params, 'status', c.status, 'created_by', "
     "c.created_by, 'creator', c.creator, 'created_at', c.created_at, 'closed_at', c.closed_at, "
     "'checks', (SELECT count(*) FROM spot_checks x WHERE x.campaign_id = c.id), 'done', (SELECT"
     " count(*) FROM spot_checks x WHERE x.campaign_id = c.id AND x.status = 'done'), "
     "'findings', (SELECT count(*) FROM spot_findings f JOIN spot_checks x ON x.id = f.check_id "
     "WHERE x.campaign_id = c.id)), 'checklist', coalesce((SELECT "
     "json_agg(json_build_object('code', i.code, 'zh', i.zh, 'en', i.en, 'major_item', "
     "i.major_item) ORDER BY i.sort, i.code) FROM spot_checklist_items i WHERE i.active), "
     "'[]'::json), 'findings', coalesce((SELECT json_agg(json_build_object('id', f.id, "
     "'check_id', f.check_id, 'campaign_id', (SELECT x.campaign_id FROM spot_checks x WHERE x.id"
     " = f.check_id), 'enterprise', json_build_object('id', e.id, 'code', e.code, 'name', "
     "e.name), 'item_code', f.item_code, 'item', (SELECT json_build_object('zh', i.zh, 'en', "
     "i.en) FROM spot_checklist_items i WHERE i.code = f.item_code), 'title', f.title, "
     "'description', f.description, 'action', f.action, 'hazard', (SELECT "
     "json_build_object('id', h.id, 'status', h.status, 'kind', h.kind, 'deadline', h.deadline) "
     "FROM hazards h WHERE h.id = f.hazard_id), 'deadline', f.deadline, 'status', f.status, "
     "'closed', (f.status = 'closed' OR EXISTS (SELECT 1 FROM hazards h WHERE h.id = f.hazard_id"
     " AND h.status IN ('closed', 'dismissed'))), 'overdue', NOT (f.status = 'closed' OR EXISTS "
     "(SELECT 1 FROM hazards h WHERE h.id = f.hazard_id AND h.status IN ('closed', "
     "'dismissed'))) AND f.deadline < now(), 'reply', f.reply, 'replied_at', f.replied_at, "
     "'verified_by', f.verified_by, 'verified_at', f.verified_at, 'verify_note', f.verify_note, "
     "'closed_at', f.closed_at, 'created_at', f.created_at) ORDER BY f.id) FROM spot_findings f "
     "WHERE f.check_id = k.id), '[]'::json))::text FROM spot_checks k JOIN spot_campaigns c ON "
     "c.id = k.campaign_id JOIN enterprises e ON e.id = k.enterprise_id LEFT JOIN regions s ON "
     "s.id = e.street_id WHERE k.id = $3::bigint AND (($1 = 'city') OR ($1 = 'district' AND "
     "k.district_id = $2::bigint) OR ($1 = 'street' AND k.street_id = $2::bigint))"},
    {"sp_check_lock",
     "SELECT k.status, c.status, to_char(c.period_from AT TIME ZONE 'UTC', "
     "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), to_char(c.period_to AT TIME ZONE 'UTC', "
     "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), k.enterprise_id, coalesce(k.district_id, 0), "
     "coalesce(k.street_id, 0) FROM spot_checks k JOIN spot_campaigns c ON c.id = k.campaign_id "
     "WHERE k.id = $3::bigint AND (($1 = 'city') OR ($1 = 'district' AND k.district_id = "
     "$2::bigint) OR ($1 = 'street' AND k.street_id = $2::bigint)) FOR UPDATE OF k"},
    {"sp_check_record",
     "UPDATE spot_checks k SET status = 'done', answers = $4::jsonb, note = $5, inspector_id = "
     "$6::bigint, inspector = $7, checked_at = now() WHERE k.id = $3::bigint AND k.status = "
     "'pending' AND (($1 = 'city') OR ($1 = 'district' AND k.district_id = $2::bigint) OR ($1 = "
     "'street' AND k.street_id = $2::bigint)) RETURNING id"},
    {"sp_finding_create",
     "INSERT INTO spot_findings (check_id, enterprise_id, district_id, street_id, item_code, "
     "title, description, action, hazard_id, deadline, status, created_by) SELECT k.id, "
     "k.enterprise_id, k.district_id, k.street_id, $4, $5, $6, CASE WHEN $8::bigint IS NULL THEN"
     " 'rectification' ELSE 'hazard' END, $8::bigint, $7::timestamptz, CASE WHEN $8::bigint IS "
     "NULL THEN 'requested' ELSE 'hazard' END, $9::bigint FROM spot_checks k WHERE k.id = "
     "$3::bigint AND (($1 = 'city') OR ($1 = 'district' AND k.district_id = $2::bigint) OR ($1 ="
     " 'street' AND k.street_id = $2::bigint)) RETURNING id"},
    {"sp_finding_list",
     "WITH q AS (SELECT f.id, f.deadline FROM spot_findings f WHERE (($1 = 'city') OR ($1 = "
     "'district' AND f.district_id = $2::bigint) OR ($1 = 'street' AND f.street_id = $2::bigint)"
     " OR ($1 = 'enterprise' AND f.enterprise_id = $2::bigint)) AND ($3::text IS NULL OR "
     "f.status = ANY(string_to_array($3, ','))) AND ($4::bigint IS NULL OR f.enterprise_id = "
     "$4::bigint) AND ($5::bigint IS NULL OR f.check_id = $5::bigint) AND ($6::boolean IS NULL "
     "OR (NOT (f.status = 'closed' OR EXISTS (SELECT 1 FROM hazards h WHERE h.id = f.hazard_id "
     "AND h.status IN ('closed', 'dismissed')))) = $6::boolean)) SELECT "
     "json_build_object('total', (SELECT count(*) FROM q), 'limit', $7::int, 'offset', $8::int, "
     "'items', coalesce((SELECT json_agg(json_build_object('id', f.id, 'check_id', f.check_id, "
     "'campaign_id', (SELECT x.campaign_id FROM spot_checks x WHERE x.id = f.check_id), "
     "'enterprise', json_build_object('id', e.id, 'code', e.code, 'name', e.name), 'item_code', "
     "f.item_code, 'item', (SELECT json_build_object('zh', i.zh, 'en', i.en) FROM "
     "spot_checklist_items i WHERE i.code = f.item_code), 'title', f.title, 'description', "
     "f.description, 'action', f.action, 'hazard', (SELECT json_build_object('id', h.id, "
     "'status', h.status, 'kind', h.kind, 'deadline', h.deadline) FROM hazards h WHERE h.id = "
     "f.hazard_id), 'deadline', f.deadline, 'status', f.status, 'closed', (f.status = 'closed' "
     "OR EXISTS (SELECT 1 FROM hazards h WHERE h.id = f.hazard_id AND h.status IN ('closed', "
     "'dismissed'))), 'overdue', NOT (f.status = 'closed' OR EXISTS (SELECT 1 FROM hazards h "
     "WHERE h.id = f.hazard_id AND h.status IN ('closed', 'dismissed'))) AND f.deadline < now(),"
     " 'reply', f.reply, 'replied_at', f.replied_at, 'verified_by', f.verified_by, "
     "'verified_at', f.verified_at, 'verify_note', f.verify_note, 'closed_at', f.closed_at, "
     "'created_at', f.created_at) ORDER BY f.deadline, f.id) FROM (SELECT id FROM q ORDER BY "
     "deadline, id LIMIT $7::int OFFSET $8::int) pg JOIN spot_findings f ON f.id = pg.id JOIN "
     "enterprises e ON e.id = f.enterprise_id), '[]'::json))::text"},
    {"sp_finding_get",
     "SELECT json_build_object('finding', json_build_object('id', f.id, 'check_id', f.check_id, "
     "'campaign_id', (SELECT x.campaign_id FROM spot_checks x WHERE x.id = f.check_id), "
     "'enterprise', json_build_object('id', e.id, 'code', e.code, 'name', e.name), 'item_code', "
     "f.item_code, 'item', (SELECT json_build_object('zh', i.zh, 'en', i.en) FROM "
     "spot_checklist_items i WHERE i.code = f.item_code), 'title', f.title, 'description', "
     "f.description, 'action', f.action, 'hazard', (SELECT json_build_object('id', h.id, "
     "'status', h.status, 'kind', h.kind, 'deadline', h.deadline) FROM hazards h WHERE h.id = "
     "f.hazard_id), 'deadline', f.deadline, 'status', f.status, 'closed', (f.status = 'closed' "
     "OR EXISTS (SELECT 1 FROM hazards h WHERE h.id = f.hazard_id AND h.status IN ('closed', "
     "'dismissed'))), 'overdue', NOT (f.status = 'closed' OR EXISTS (SELECT 1 FROM hazards h "
     "WHERE h.id = f.hazard_id AND h.status IN ('closed', 'dismissed'))) AND f.deadline < now(),"
     " 'reply', f.reply, 'replied_at', f.replied_at, 'verified_by', f.verified_by, "
     "'verified_at', f.verified_at, 'verify_note', f.verify_note, 'closed_at', f.closed_at, "
     "'created_at', f.created_at))::text FROM spot_findings f JOIN enterprises e ON e.id = "
     "f.enterprise_id WHERE f.id = $3::bigint AND (($1 = 'city') OR ($1 = 'district' AND "
     "f.district_id = $2::bigint) OR ($1 = 'street' AND f.street_id = $2::bigint) OR ($1 = "
     "'enterprise' AND f.enterprise_id = $2::bigint))"},
    {"sp_finding_lock",
     "SELECT f.status, f.action, f.enterprise_id, coalesce(f.district_id, 0), "
     "coalesce(f.street_id, 0) FROM spot_findings f WHERE f.id = $3::bigint AND (($1 = 'city') "
     "OR ($1 = 'district' AND f.district_id = $2::bigint) OR ($1 = 'street' AND f.street_id = "
     "$2::bigint) OR ($1 = 'enterprise' AND f.enterprise_id = $2::bigint)) FOR UPDATE"},
    {"sp_finding_move",
     "UPDATE spot_findings f SET status = $5, reply = CASE WHEN $6 = 'reply' THEN $8 ELSE "
     "f.reply END, replied_at = CASE WHEN $6 = 'reply' THEN now() ELSE f.replied_at END, "
     "verified_by = CASE WHEN $6 IN ('verify', 'reject') THEN $7::bigint ELSE f.verified_by END,"
     " verified_at = CASE WHEN $6 IN ('verify', 'reject') THEN now() ELSE f.verified_at END, "
     "verify_note = CASE WHEN $6 IN ('verify', 'reject') THEN $8 ELSE f.verify_note END, "
     "closed_at = CASE WHEN $5 = 'closed' THEN now() ELSE f.closed_at END WHERE f.id = "
     "$3::bigint AND f.status = $4 AND (($1 = 'city') OR ($1 = 'district' AND f.district_id = "
     "$2::bigint) OR ($1 = 'street' AND f.street_id = $2::bigint) OR ($1 = 'enterprise' AND "
     "f.enterprise_id = $2::bigint)) RETURNING id"},
    {"sp_counts",
     "WITH k AS (SELECT k.id, k.inspector_id, k.inspector FROM spot_checks k WHERE (($1 = "
     "'city') OR ($1 = 'district' AND k.district_id = $2::bigint) OR ($1 = 'street' AND "
     "k.street_id = $2::bigint)) AND k.status = 'done' AND k.checked_at >= $3::timestamptz AND "
     "k.checked_at < $4::timestamptz), per AS (SELECT k.inspector_id, k.inspector, "
     "count(DISTINCT k.id) AS checks, count(f.id) AS findings, count(f.id) FILTER (WHERE "
     "f.action = 'hazard') AS hazards, count(f.id) FILTER (WHERE f.action = 'rectification') AS "
     "rectifications, count(f.id) FILTER (WHERE (f.status = 'closed' OR EXISTS (SELECT 1 FROM "
     "hazards h WHERE h.id = f.hazard_id AND h.status IN ('closed', 'dismissed')))) AS closed "
     "FROM k LEFT JOIN spot_findings f ON f.check_id = k.id GROUP BY k.inspector_id, "
     "k.inspector) SELECT json_build_object('from', $3::timestamptz, 'to', $4::timestamptz, "
     "'totals', (SELECT json_build_object('checks', coalesce(sum(checks), 0)::bigint, "
     "'findings', coalesce(sum(findings), 0)::bigint, 'hazards', coalesce(sum(hazards), "
     "0)::bigint, 'rectifications', coalesce(sum(rectifications), 0)::bigint, 'closed', "
     "coalesce(sum(closed), 0)::bigint) FROM per), 'items', coalesce((SELECT "
     "json_agg(json_build_object('inspector_id', inspector_id, 'inspector', inspector, 'checks',"
     " checks, 'findings', findings, 'hazards', hazards, 'rectifications', rectifications, "
     "'closed', closed) ORDER BY checks DESC, inspector) FROM per), '[]'::json))::text"},
    {"sp_figures",
     "SELECT json_build_object('checks', count(DISTINCT k.id), 'findings', count(f.id), "
     "'hazards', count(f.id) FILTER (WHERE f.action = 'hazard'), 'closed', count(f.id) FILTER "
     "(WHERE (f.status = 'closed' OR EXISTS (SELECT 1 FROM hazards h WHERE h.id = f.hazard_id "
     "AND h.status IN ('closed', 'dismissed')))))::text FROM spot_checks k JOIN enterprises e ON"
     " e.id = k.enterprise_id JOIN regions d ON d.id = e.district_id LEFT JOIN regions s ON s.id"
     " = e.street_id LEFT JOIN spot_findings f ON f.check_id = k.id WHERE (($1 = 'city') OR ($1 "
     "= 'district' AND e.district_id = $2::bigint) OR ($1 = 'street' AND e.street_id = "
     "$2::bigint) OR ($1 = 'enterprise' AND e.id = $2::bigint)) AND k.status = 'done' AND "
     "k.checked_at >= $3::timestamptz AND k.checked_at < $4::timestamptz AND ($5::text IS NULL "
     "OR d.code = $5) AND ($6::text IS NULL OR s.code = $6) AND ($7::bigint IS NULL OR e.id = $7::bigint)"},
    /* the demo city's campaign (cli_demo.c): $1 the marker district */
    {"sp_demo",
     "WITH ents AS (SELECT e.id, row_number() OVER (ORDER BY e.code) AS n FROM enterprises e "
     "WHERE e.district_id = $1::bigint), c AS (INSERT INTO spot_campaigns (district_id, title, "
     "period_from, period_to, rule, params, creator, created_at) VALUES ($1::bigint, "
     "'本月在线抽查（随机抽取5家）', now() - interval '33 days', now() - interval '3 days', 'random', '{\"n\": "
     "5}', 'demo', now() - interval '3 days') RETURNING id), x AS (SELECT * FROM (VALUES (7, "
     "'explosion_protection', '除尘器泄爆片锈蚀未更换', 'hazard', ''), (8, 'cleaning_done', '近一周清扫打卡缺3次', "
     "'rectification', '已补充清扫并完善打卡制度'), (9, 'alarms_handled', '超限报警未填写原因', 'rectification', "
     "'已补录原因'), (10, NULL, NULL, NULL, NULL), (11, NULL, NULL, NULL, NULL)) AS v(n, item, title,"
     " action, reply)), k AS (INSERT INTO spot_checks (campaign_id, enterprise_id, district_id, "
     "status, answers, note, inspector, checked_at) SELECT c.id, ents.id, $1::bigint, CASE WHEN "
     "x.item IS NULL THEN 'pending' ELSE 'done' END, CASE WHEN x.item IS NULL THEN '{}' ELSE "
     "'{\"alarms_handled\": \"ok\", \"warnings_answered\": \"ok\", \"data_online\": \"ok\", \"cleaning_done\":"
     " \"ok\", \"video_alarms\": \"ok\", \"filings_valid\": \"ok\", \"explosion_protection\": \"ok\", "
     "\"spark_detection\": \"ok\"}'::jsonb || jsonb_build_object(x.item, 'finding') END, "
     "coalesce(x.title, ''), CASE WHEN x.item IS NULL THEN '' ELSE '区应急局 王检查' END, CASE WHEN "
     "x.item IS NOT NULL THEN now() - interval '2 days' + x.n * interval '1 hour' END FROM c, "
     "ents JOIN x ON x.n = ents.n RETURNING id, enterprise_id), h AS (INSERT INTO hazards "
     "(enterprise_id, kind, major_item, title, found_by, found_at, found_how, status, deadline) "
     "SELECT ents.id, 'major', 3, x.title, '区应急局 王检查', now() - interval '2 days', 'spot_check', "
     "'reported', now() + interval '58 days' FROM ents JOIN x ON x.n = ents.n WHERE x.action = "
     "'hazard' RETURNING id, enterprise_id, found_at, title), he AS (INSERT INTO hazard_events "
     "(hazard_id, enterprise_id, at, action, to_status, actor, note) SELECT id, enterprise_id, "
     "found_at, 'report', 'reported', 'demo', title FROM h), f AS (INSERT INTO spot_findings "
     "(check_id, enterprise_id, district_id, item_code, title, action, hazard_id, deadline, "
     "status, reply, replied_at, verify_note, verified_at, closed_at, created_at) SELECT k.id, "
     "k.enterprise_id, $1::bigint, x.item, x.title, x.action, h.id, now() + interval '12 days', "
     "CASE WHEN h.id IS NOT NULL THEN 'hazard' WHEN x.n = 9 THEN 'closed' ELSE 'replied' END, "
     "x.reply, now() - interval '1 day', CASE WHEN x.n = 9 THEN '核验通过' ELSE '' END, CASE WHEN "
     "x.n = 9 THEN now() - interval '12 hours' END, CASE WHEN x.n = 9 THEN now() - interval '12 "
     "hours' END, now() - interval '2 days' FROM k JOIN ents ON ents.id = k.enterprise_id JOIN x"
     " ON x.n = ents.n LEFT JOIN h ON h.enterprise_id = k.enterprise_id WHERE x.action IS NOT "
     "NULL RETURNING id) SELECT (SELECT count(*) FROM k) + (SELECT count(*) FROM f)"},
};
/* clang-format on */

void db_spot_register(void)
{
    db_register_statements(statements, sizeof statements / sizeof statements[0]);
}

/* a statement whose one row is (id) or nothing: *id 0 when nothing */
static db_status one_id(db_conn *c, const char *stmt, int n, const char *const *p, int64_t *id)
{
    db_status st;
    PGresult *res = db_exec(c, stmt, n, p, &st);
    if (!res)
        return st;
    *id = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
                                                         : 0;
    PQclear(res);
    return DB_OK;
}

db_status db_spot_checklist(db_conn *c, const db_scope *s, json_t **out)
{
    const char *p[2] = {s->kind, s->id};
    return db_read_json(c, s, "sp_checklist", 2, p, out);
}

db_status db_spot_campaign_create_tx(db_conn *c, const db_scope *s, const db_spot_campaign_new *in,
                                     int64_t *id, int64_t *picked)
{
    char n[24], days[24], aid[24];
    const char *p[14] = {s->kind,
                         s->id,
                         in->title,
                         in->period_from,
                         in->period_to,
                         in->rule,
                         in->params_json,
                         db_i64(n, in->n),
                         in->grades,
                         in->street_code,
                         db_i64(days, in->stale_days),
                         in->ids,
                         in->actor_id ? db_i64(aid, in->actor_id) : NULL,
                         in->actor};
    db_status st;
    PGresult *res = db_exec(c, "sp_campaign_create", 14, p, &st);
    if (!res)
        return st;
    *id = *picked = 0;
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *picked = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_spot_campaigns_list(db_conn *c, const db_scope *s, const char *statuses, long limit,
                                 long offset, json_t **out)
{
    char lim[24], off[24];
    const char *p[5] = {s->kind, s->id, statuses, db_i64(lim, limit), db_i64(off, offset)};
    return db_read_json(c, s, "sp_campaign_list", 5, p, out);
}

db_status db_spot_campaign_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char cid[24];
    const char *p[3] = {s->kind, s->id, db_i64(cid, id)};
    return db_read_json(c, s, "sp_campaign_get", 3, p, out);
}

db_status db_spot_campaign_close_tx(db_conn *c, const db_scope *s, int64_t id, int *found,
                                    int *moved, int64_t *district_id, int64_t *street_id)
{
    char cid[24];
    const char *p[3] = {s->kind, s->id, db_i64(cid, id)};
    db_status st;
    PGresult *res = db_exec(c, "sp_campaign_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    *moved = 0;
    int open = *found && strcmp(PQgetvalue(res, 0, 0), "open") == 0;
    if (*found) {
        *district_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        *street_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    }
    PQclear(res);
    if (!open)
        return DB_OK;
    int64_t done = 0;
    st = one_id(c, "sp_campaign_close", 3, p, &done);
    *moved = done != 0;
    return st;
}

db_status db_spot_check_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char kid[24];
    const char *p[3] = {s->kind, s->id, db_i64(kid, id)};
    return db_read_json(c, s, "sp_check_get", 3, p, out);
}

db_status db_spot_check_lock_tx(db_conn *c, const db_scope *s, int64_t id, db_spot_check_row *out,
                                int *found)
{
    char kid[24];
    const char *p[3] = {s->kind, s->id, db_i64(kid, id)};
    db_status st;
    PGresult *res = db_exec(c, "sp_check_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->campaign_status, sizeof out->campaign_status, "%s", PQgetvalue(res, 0, 1));
        snprintf(out->period_from, sizeof out->period_from, "%s", PQgetvalue(res, 0, 2));
        snprintf(out->period_to, sizeof out->period_to, "%s", PQgetvalue(res, 0, 3));
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 6), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_spot_check_record_tx(db_conn *c, const db_scope *s, int64_t id,
                                  const char *answers_json, const char *note, int64_t actor_id,
                                  const char *actor)
{
    char kid[24], aid[24];
    const char *p[7] = {s->kind,
                        s->id,
                        db_i64(kid, id),
                        answers_json,
                        note ? note : "",
                        actor_id ? db_i64(aid, actor_id) : NULL,
                        actor};
    int64_t done = 0;
    db_status st = one_id(c, "sp_check_record", 7, p, &done);
    return st != DB_OK ? st : done ? DB_OK : DB_BAD;
}

db_status db_spot_finding_create_tx(db_conn *c, const db_scope *s, int64_t check_id,
                                    const db_spot_finding_new *in, int64_t *id)
{
    char kid[24], hid[24], aid[24];
    const char *p[9] = {s->kind,
                        s->id,
                        db_i64(kid, check_id),
                        in->item_code,
                        in->title,
                        in->description ? in->description : "",
                        in->deadline,
                        in->hazard_id ? db_i64(hid, in->hazard_id) : NULL,
                        in->actor_id ? db_i64(aid, in->actor_id) : NULL};
    return one_id(c, "sp_finding_create", 9, p, id);
}

db_status db_spot_findings_list(db_conn *c, const db_scope *s, const db_spot_findings_filter *f,
                                json_t **out)
{
    char eid[24], kid[24], lim[24], off[24];
    const char *p[8] = {s->kind,
                        s->id,
                        f->statuses,
                        f->enterprise_id ? db_i64(eid, f->enterprise_id) : NULL,
                        f->check_id ? db_i64(kid, f->check_id) : NULL,
                        db_tristate(f->open),
                        db_i64(lim, f->limit),
                        db_i64(off, f->offset)};
    return db_read_json(c, s, "sp_finding_list", 8, p, out);
}

db_status db_spot_finding_get(db_conn *c, const db_scope *s, int64_t id, json_t **out)
{
    char fid[24];
    const char *p[3] = {s->kind, s->id, db_i64(fid, id)};
    return db_read_json(c, s, "sp_finding_get", 3, p, out);
}

db_status db_spot_finding_lock_tx(db_conn *c, const db_scope *s, int64_t id,
                                  db_spot_finding_row *out, int *found)
{
    char fid[24];
    const char *p[3] = {s->kind, s->id, db_i64(fid, id)};
    db_status st;
    PGresult *res = db_exec(c, "sp_finding_lock", 3, p, &st);
    if (!res)
        return st;
    *found = PQntuples(res) == 1;
    if (*found) {
        snprintf(out->status, sizeof out->status, "%s", PQgetvalue(res, 0, 0));
        snprintf(out->action, sizeof out->action, "%s", PQgetvalue(res, 0, 1));
        out->enterprise_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        out->district_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        out->street_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    }
    PQclear(res);
    return DB_OK;
}

db_status db_spot_finding_move_tx(db_conn *c, const db_scope *s, int64_t id, const char *from,
                                  const char *to, const char *action, int64_t actor_id,
                                  const char *note)
{
    char fid[24], aid[24];
    const char *p[8] = {s->kind,
                        s->id,
                        db_i64(fid, id),
                        from,
                        to,
                        action,
                        actor_id ? db_i64(aid, actor_id) : NULL,
                        note ? note : ""};
    int64_t moved = 0;
    db_status st = one_id(c, "sp_finding_move", 8, p, &moved);
    return st != DB_OK ? st : moved ? DB_OK : DB_BAD;
}

db_status db_spot_counts(db_conn *c, const db_scope *s, const char *from, const char *to,
                         json_t **out)
{
    const char *p[4] = {s->kind, s->id, from, to};
    return db_read_json(c, s, "sp_counts", 4, p, out);
}

db_status db_spot_figures(db_conn *c, const db_scope *s, const char *from, const char *to,
                          const char *district_code, const char *street_code, int64_t enterprise_id,
                          json_t **out)
{
    char eid[24];
    const char *p[7] = {s->kind,
                        s->id,
                        from,
                        to,
                        district_code,
                        street_code,
                        enterprise_id ? db_i64(eid, enterprise_id) : NULL};
    return db_read_json(c, s, "sp_figures", 7, p, out);
}

db_status db_spot_demo_tx(db_conn *c, int64_t district_id, int64_t *rows)
{
    char did[24];
    const char *p[1] = {db_i64(did, district_id)};
    return one_id(c, "sp_demo", 1, p, rows);
}
