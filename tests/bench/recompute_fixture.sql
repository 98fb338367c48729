-- Fixture of tests/bench/recompute_bench.sh (run by psql as the owner role with
-- -v E=<enterprises>).  A city of :E varied enterprises in 4 districts, each with
-- an archive profile, 1..3 dust-removal systems of 4 points each (hopper
-- temperature and pressure difference with limits, spark detection, fan
-- running) and a rule-state row per point, a quarter of them with alarms over
-- the last 7 days (one still open, the others in every handling state, overdue
-- flags already set as the worker would have set them), 1..2 cleaning areas
-- with check-ins over the last week (some periods missed).  Every value is a
-- function of the enterprise id, so a run is repeatable.  Nothing here asks for
-- a recompute: risk_recompute_requests is emptied at the end, offline timers
-- are off (offline_due_at NULL), overdue flags are pre-set.
\set ON_ERROR_STOP 1
BEGIN;
INSERT INTO regions (code, name, level, kind) VALUES ('310000', '上海市', 'city', 'city');
INSERT INTO regions (code, name, level, kind, parent_id)
  SELECT d.code, d.name, 'district', 'district', c.id
  FROM regions c, (VALUES ('310113', '宝山区'), ('310114', '嘉定区'), ('310115', '浦东新区'),
                          ('310116', '金山区')) d(code, name)
  WHERE c.code = '310000';
INSERT INTO regions (code, name, level, kind, parent_id)
  SELECT d.code || '101', d.name || '一镇', 'street', 'town', d.id FROM regions d WHERE d.level = 'district';
CREATE TEMP TABLE dmap AS
  SELECT (row_number() OVER (ORDER BY d.code) - 1)::int AS n, d.id AS did, s.id AS sid, d.code
  FROM regions d JOIN regions s ON s.parent_id = d.id WHERE d.level = 'district';

INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude, industry_code)
  SELECT m.code || lpad(i::text, 6, '0'), '91' || m.code || 'MA1B' || lpad(i::text, 6, '0'),
         '重算基准企业' || i, m.did, m.sid, '测试路' || i || '号', 121.4, 31.4, 'C3360'
  FROM generate_series(1, :E) i JOIN dmap m ON m.n = i % 4;

INSERT INTO enterprise_profiles (enterprise_id, dust_class, st_class, dust_workers, multi_storey,
                                 major_hazard_items, open_hazards, video_offline)
  SELECT e.id,
         (ARRAY['metal_al_mg', 'metal_other', 'wood', 'grain', 'plastic', 'other'])[1 + e.id % 6],
         (ARRAY['unknown', 'st1', 'st2', 'st3'])[1 + (e.id * 7) % 4],
         CASE WHEN e.id % 4 = 0 THEN (e.id * 13) % 150 ELSE (e.id * 13) % 30 END,
         e.id % 5 = 0,
         CASE WHEN e.id % 47 = 0 THEN ARRAY[1 + e.id % 10]::smallint[] ELSE '{}'::smallint[] END,
         CASE WHEN e.id % 3 = 0 THEN (e.id * 3) % 4 ELSE 0 END,
         CASE WHEN e.id % 11 = 0 THEN 1 ELSE 0 END
  FROM enterprises e;

INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type, central, positive_pressure, indoor)
  SELECT e.id, lpad(k::text, 2, '0'), k || '号除尘系统', (e.id + k) % 7 = 0,
         CASE WHEN (e.id + k) % 7 = 0 THEN 'wet_scrubber' ELSE 'bag' END,
         e.id % 4 <> 0, (e.id * k) % 9 = 0, e.id % 6 = 0
  FROM enterprises e, generate_series(1, 1 + e.id % 3) k;

INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max,
                    limit_low, limit_high, limit_high_high, expected_interval_s, offline_factor, created_at)
  SELECT e.code || s.code || ik.hebei_code || '001', e.id, s.id, k.kind, k.kind, k.rmin, k.rmax,
         k.lo, k.hi, k.hh, 10, 3, now() - interval '30 days'
  FROM enterprises e JOIN dust_systems s ON s.enterprise_id = e.id,
       (VALUES ('hopper_temp', -40::float8, 200::float8, NULL::float8, 70::float8, 80::float8),
               ('pressure_diff', 0, 5000, 300, 2000, NULL),
               ('spark_detected', 0, 1, NULL, NULL, NULL),
               ('fan_running', 0, 1, NULL, NULL, NULL)) k(kind, rmin, rmax, lo, hi, hh)
       JOIN indicator_kinds ik ON ik.code = k.kind;

-- levels: engine enum (1 HIGH, 2 HIGH_HIGH, 4 LOW_LOW, 6 DIGITAL_FAULT); a few live
-- precursors so the override paths run
INSERT INTO point_rule_state (point_id, enterprise_id, level, pending_level, offline_active, has_value,
                              last_ts, last_value_ts, last_value, offline_due_at)
  SELECT p.id, p.enterprise_id, lv.level, lv.level, p.id % 17 = 0, true,
         extract(epoch FROM now())::bigint - 30, extract(epoch FROM now())::bigint - 30,
         CASE p.kind WHEN 'hopper_temp' THEN 45 WHEN 'pressure_diff' THEN 900
                     WHEN 'fan_running' THEN (p.id % 13 <> 0)::int ELSE 0 END, NULL
  FROM points p
  CROSS JOIN LATERAL (SELECT CASE WHEN p.kind = 'hopper_temp' AND p.enterprise_id % 97 = 0 THEN 2
                                  WHEN p.kind = 'spark_detected' AND p.enterprise_id % 89 = 0 THEN 6
                                  WHEN p.kind = 'pressure_diff' AND p.enterprise_id % 83 = 0 THEN 4
                                  ELSE 0 END::smallint AS level) lv;

-- alarms: every 4th enterprise, 1..5 episodes on its first system's analog points
INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, reason, value, threshold,
                    raised_at, cleared_at, clear_reason, state, ack_deadline, handle_deadline,
                    ack_overdue, handle_overdue, acked_at, ack_verdict, handled_at, cause_category, closed_at)
  SELECT x.eid, x.pid, 'rule', 'limit', CASE WHEN x.lvl = 2 THEN 'high_high' ELSE 'high' END, x.lvl, x.lvl,
         'above_high', 85, 70, x.raised,
         CASE WHEN x.k = 1 THEN NULL ELSE x.raised + interval '10 minutes' END,
         CASE WHEN x.k = 1 THEN NULL ELSE 'back_to_normal' END,
         x.state, x.raised + interval '30 minutes', x.raised + interval '2 hours',
         x.state = 'active' AND x.raised + interval '30 minutes' < now(),
         x.state IN ('active', 'acknowledged') AND x.raised + interval '2 hours' < now(),
         CASE WHEN x.state <> 'active' THEN x.raised + interval '20 minutes' END,
         CASE WHEN x.state <> 'active' THEN 'real_hazard' END,
         CASE WHEN x.state IN ('handled', 'closed') THEN x.raised + interval '40 minutes' END,
         CASE WHEN x.state IN ('handled', 'closed') THEN 'process_abnormal' END,
         CASE WHEN x.state = 'closed' THEN x.raised + interval '40 minutes' END
  FROM (SELECT e.id AS eid, p.id AS pid, k, 1 + k % 2 AS lvl,
               now() - ((e.id * k * 37) % 160 + k) * interval '1 hour' AS raised,
               CASE WHEN k = 1 THEN 'active'
                    ELSE (ARRAY['closed', 'handled', 'acknowledged'])[1 + k % 3] END AS state
        FROM enterprises e
        CROSS JOIN generate_series(1, 5) k
        JOIN dust_systems s ON s.enterprise_id = e.id AND s.code = '01'
        JOIN points p ON p.system_id = s.id AND p.kind = CASE WHEN k % 2 = 1 THEN 'hopper_temp' ELSE 'pressure_diff' END
        WHERE e.id % 4 = 0 AND k <= 1 + e.id % 5) x;

INSERT INTO cleaning_areas (enterprise_id, name, frequency, created_at)
  SELECT e.id, '清理区域' || a, (ARRAY['per_shift', 'daily', 'weekly'])[1 + (e.id + a) % 3], now() - interval '30 days'
  FROM enterprises e, generate_series(1, 1 + e.id % 2) a;
INSERT INTO cleaning_checkins (area_id, enterprise_id, person, checked_at, method)
  SELECT a.id, a.enterprise_id, '张三', now() - (slot * 8 + 1) * interval '1 hour', 'vacuum'
  FROM cleaning_areas a, generate_series(0, 20) slot
  WHERE (a.enterprise_id + slot) % 4 <> 0
    AND (a.frequency = 'per_shift' OR (a.frequency = 'daily' AND slot % 3 = 0)
         OR (a.frequency = 'weekly' AND slot = 0));

TRUNCATE risk_recompute_requests;
COMMIT;
ANALYZE;
