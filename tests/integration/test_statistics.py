"""Statistics (GET /api/v1/statistics) equal the same figures computed here, in Python, from the
raw rows of the database (readings, points, alarms, warnings, escalations, cleaning records) for a
city of two districts whose data spans a month boundary: per period (day, week, month, custom),
per group (district, street, industry, dust kind, grade), per filter and per caller scope; the
hourly online rate answers the same from rollups, from raw readings and from hours with late
readings; the same answers come from the day rollup (stats_day, migration 0114: whole city days,
a day made stale by a change of its hourly rollups read live; the alarms' and warnings' running
totals per day, stats_alarm_day and stats_warning_day, migrations 0155 and 0156, with days made
stale by changed alarms or warnings read live) and from
the hourly rollups and the alarms alone (stats_day_rollup=0); point-hours under an approved filing are left out of the online rate; each
drill-down link lists what the figure counts; bad periods and filters are 400."""
import csv
import io
import json
import math
import random
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import PW, admin

CITY = timezone(timedelta(hours=8))
WINDOW_H = 24
OFFLINE_KINDS = ("offline", "enterprise_offline", "gateway_offline")
# alarms_kind_check's, as server/db/db_stats.c lists them (ALARM_KINDS)
KINDS = ("digital_fault", "enterprise_offline", "frozen", "gateway_fault", "gateway_offline", "high", "high_high",
         "low", "low_low", "offline", "out_of_range", "production_during_stop", "rate_of_rise", "spark", "video")


def month_start(d):
    return d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def prev_month(d):
    return month_start(month_start(d) - timedelta(days=1))


class Env:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.a1, self.a2, self.b1 = (self.ents[c] for c in self.ents)
        for user, role, flag, scope in [("city.admin", "city_admin", "--region", "310000"),
                                        ("baoshan.admin", "district_admin", "--region", "310113"),
                                        ("a2.manager", "enterprise_manager", "--enterprise", self.a2["code"])]:
            admin(self.db, "create-account", "--username", user, "--role", role, flag, scope)
        self.system("""
          UPDATE enterprises SET industry_code = 'C3360', dust_kinds = '{aluminium,magnesium}' WHERE code = '310113000001';
          UPDATE enterprises SET industry_code = 'C2021', dust_kinds = '{wood}' WHERE code = '310113000002';
          UPDATE enterprises SET industry_code = 'C1310', dust_kinds = '{flour}' WHERE code = '310114000001';
          UPDATE points SET expected_interval_s = 3600;
          UPDATE points SET param_class = 'optional' WHERE kind = 'spark_detected';""")
        # the month boundary: the first day of last month in the city's calendar; every fixture
        # row lies within three days of it, so all of it is in the past whatever today is
        self.m1 = prev_month(datetime.now(CITY))
        self.srv = None
        self.tokens = {}

    def system(self, sql):
        return self.db.sql("SELECT set_config('dw.scope', 'system', false);\nSET TimeZone = 'UTC';\n" + sql)[1:]

    def start(self, roles, **cfg):
        # last month's readings arrive through ingest and the oracle reads them from readings:
        # days older than readings_pack_after_days would be packed and refuse them
        # (test_readings_packed.py compares the statistics before and after packing)
        cfg.setdefault("readings_pack_after_days", 0)
        self.srv = t.Server(self.db, roles=roles, **cfg)
        for user in ("city.admin", "baoshan.admin", "a2.manager"):
            st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": user, "password": PW})
            assert st == 200, body
            self.tokens[user] = body["token"]

    def stop(self):
        assert self.srv.stop() == 0, self.srv.logtext()
        self.srv = None

    def get(self, path, user="city.admin", status=200):
        st, _, body = self.srv.api("GET", path, headers={"Authorization": "Bearer " + self.tokens[user]})
        assert st == status, (path, st, body)
        return body

    def close(self):
        try:
            if self.srv:
                self.stop()
        finally:
            self.db.drop()


# ---- the fixture ------------------------------------------------------------------------------

def ingest_readings(e, rng):
    """Readings of every point in random hours within three days of the boundary (some hours
    empty, some with several readings) and recent readings of the mandatory points of A1 and B1
    (connected, online; the last half an hour ago) but not A2."""
    start = e.m1 - timedelta(days=3)
    for ent in (e.a1, e.a2, e.b1):
        items = []
        for kind, (code, _) in ent["points"].items():
            for h in range(6 * 24):
                if rng.random() < 0.4:
                    continue
                for _ in range(rng.choice([1, 1, 2, 3])):
                    ts = start + timedelta(hours=h, minutes=rng.randrange(60), seconds=rng.randrange(60))
                    value = {"spark_detected": 0, "hopper_temp": round(rng.uniform(30, 60), 2)}.get(
                        kind, round(rng.uniform(500, 1500), 1))
                    items.append({"point": code, "ts": ts.isoformat(), "value": value})
            if ent is not e.a2 and kind != "spark_detected":
                # and every 20 minutes of the three hours before: today's stats_day row holds
                # those below its watermark, which a period reaching it reads from there
                for ago in range(170, 29, -20):
                    items.append({"point": code, "ts": (datetime.now(timezone.utc) - timedelta(minutes=ago)).isoformat(),
                                  "value": 40 if kind == "hopper_temp" else 800})
        for i in range(0, len(items), 2000):
            st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": items[i:i + 2000]},
                                    {"X-Api-Key": ent["api_key"]})
            assert st == 200 and r["rejected"] == 0, (st, r)


def wait_rolled(e):
    target = datetime.now(timezone.utc) - timedelta(seconds=130)
    t.wait_for(lambda: e.system("SELECT rolled_to >= '%s'::timestamptz AND NOT EXISTS (SELECT FROM rollup_dirty) "
                                "FROM rollup_state" % target.isoformat()) == [["t"]],
               timeout=60, what="rollups caught up")


def sqlts(d):
    return "NULL" if d is None else f"'{d.isoformat()}'::timestamptz"


def make_events(e, rng):
    """Alarms of several kinds, levels and states, warnings of every grade signed and cleared in
    time or late or not at all, escalations and cleaning records, around the boundary."""
    now = datetime.now(timezone.utc)
    base = e.m1 - timedelta(days=3)
    sql = []
    for ent in (e.a1, e.a2, e.b1):
        eid = ent["id"]
        # one alarm per point channel: at most one may stay open (alarms_open_idx)
        for n, (kind, channel, pk) in enumerate([
                ("high", "limit", "hopper_temp"), ("frozen", "frozen", "hopper_temp"),
                ("offline", "offline", "hopper_temp"), ("high", "limit", "pressure_diff"),
                ("offline", "offline", "pressure_diff"), ("high_high", "limit", "spark_detected"),
                ("rate_of_rise", "rate", "hopper_temp"), ("enterprise_offline", "enterprise_offline", None),
                ("out_of_range", "range", "pressure_diff")]):
            raised = base + timedelta(hours=rng.randrange(6 * 24), minutes=rng.randrange(60))
            level = 0 if kind in OFFLINE_KINDS else rng.choice([0, 1, 2])
            pid = "NULL" if pk is None else str(ent["points"][pk][1])
            ack_dl, hdl_dl = raised + timedelta(minutes=30), raised + timedelta(hours=2)
            state = rng.choice(["active", "acknowledged", "handled", "closed", "closed"]) if n not in (7, 8) else "closed"
            acked = handled = cleared = closed = None
            cause = "NULL"
            if state != "active":
                acked = raised + timedelta(minutes=rng.choice([10, 50]))
            if state in ("handled", "closed"):
                handled = raised + timedelta(minutes=rng.choice([60, 200]))
                cause = "'other'"
            if state == "closed":
                cleared = raised + timedelta(hours=rng.choice([1, 5, 30]))
                closed = max(cleared, handled)
            elif rng.random() < 0.5:
                cleared = raised + timedelta(hours=3)
            sql.append(
                f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
                f"cleared_at, state, ack_deadline, handle_deadline, acked_at, handled_at, cause_category, closed_at) "
                f"VALUES ({eid}, {pid}, 'rule', '{channel}', '{kind}', {level}, {level}, {sqlts(raised)}, "
                f"{sqlts(cleared)}, '{state}', {sqlts(ack_dl)}, {sqlts(hdl_dl)}, {sqlts(acked)}, {sqlts(handled)}, "
                f"{cause}, {sqlts(closed)});")
        # the worker of phase 1 scored every enterprise: set the grades this test groups by
        sql.append(f"DELETE FROM enterprise_risk WHERE enterprise_id = {eid};")
        grade = {e.a1["id"]: "red", e.a2["id"]: "yellow"}.get(eid)
        if grade:  # B1 has no score yet: grade 'none'
            sql.append(
                f"WITH s AS (INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
                f"grade_by_score, override, rules, inputs, trigger) VALUES ({eid}, now(), 'probe', 50, 50, 0, 0, 0, "
                f"'{grade}', '{grade}', false, '[]', '{{}}', 'manual') RETURNING id, enterprise_id, computed_at) "
                f"INSERT INTO enterprise_risk (enterprise_id, score_id, computed_at, r, grade, override, model_version) "
                f"SELECT enterprise_id, id, computed_at, 50, '{grade}', false, 'probe' FROM s;")
        sql.append(
            f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, grade_by_score, "
            f"override, rules, inputs, trigger) VALUES ({eid}, now(), 'probe', 50, 50, 0, 0, 0, 'blue', 'blue', false, "
            f"'[]', '{{}}', 'manual');")
        for n in range(6):
            issued = base + timedelta(hours=rng.randrange(6 * 24))
            sign_by, clear_by = issued + timedelta(hours=2), issued + timedelta(hours=24)
            status = rng.choice(["issued", "signed", "cleared", "cleared"])
            signed = cleared = None
            if status != "issued":
                signed = issued + timedelta(hours=rng.choice([1, 3]))
            if status == "cleared":
                cleared = issued + timedelta(hours=rng.choice([10, 40]))
            g = rng.choice(["blue", "yellow", "orange", "red"])
            sql.append(
                f"WITH w AS (INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, "
                f"supervisor, current_level, status, signed_at, cleared_at) SELECT {eid}, 'O.STAT_{chr(65 + n)}', '{g}', "
                f"max(id), {sqlts(issued)}, {sqlts(sign_by)}, {sqlts(clear_by)}, 'street', 'street', '{status}', "
                f"{sqlts(signed)}, {sqlts(cleared)} FROM risk_scores WHERE enterprise_id = {eid} RETURNING id, issued_at) "
                f"INSERT INTO warning_events (warning_id, enterprise_id, at, action, to_status, step, level) "
                f"SELECT id, {eid}, issued_at + interval '{rng.choice([3, 30, 70])} hours', 'escalate', 'issued', 1, "
                f"'district' FROM w WHERE {rng.random() < 0.6};")
        if ent is e.a1:
            # an interruption from before the period into it: counted in it (open during it), though
            # not raised in it
            sql.append(f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, "
                       f"raised_at, cleared_at, ack_deadline, handle_deadline) VALUES ({eid}, "
                       f"{ent['points']['spark_detected'][1]}, 'rule', 'offline', 'offline', 0, 0, "
                       f"{sqlts(base - timedelta(hours=5))}, {sqlts(base + timedelta(hours=2))}, "
                       f"{sqlts(base - timedelta(hours=4))}, {sqlts(base - timedelta(hours=3))});")
        # a gateway that went silent in the period and is still offline, one never heard from
        gw = e.system(f"INSERT INTO gateways (enterprise_id, code, last_seen_at) VALUES ({eid}, 'GW{eid}A', "
                      f"{sqlts(base)}) RETURNING id")[0][0]
        e.system(f"INSERT INTO gateways (enterprise_id, code) VALUES ({eid}, 'GW{eid}B')")
        raised = base + timedelta(hours=rng.randrange(100))
        sql.append(f"INSERT INTO alarms (enterprise_id, gateway_id, gateway_code, source, channel, kind, level, "
                   f"max_level, raised_at, ack_deadline, handle_deadline) VALUES ({eid}, {gw}, 'GW{eid}A', 'rule', "
                   f"'gateway_offline', 'gateway_offline', 0, 0, {sqlts(raised)}, {sqlts(raised)}, {sqlts(raised)});")
        # conflicting values: a second value for an instant already stored
        for k in range(rng.randrange(1, 4)):
            at = base + timedelta(hours=rng.randrange(6 * 24), seconds=k)
            sql.append(f"INSERT INTO reading_conflicts (point_id, enterprise_id, collected_at, value, quality, "
                       f"stored_value, stored_quality, source, batch_sha256, item_index) VALUES "
                       f"({ent['points']['hopper_temp'][1]}, {eid}, {sqlts(at)}, 1, 0, 2, 0, 'native', "
                       f"sha256('{eid}-{k}'::bytea), {k});")
        # hazards: major and ordinary, found around the boundary, open (some past their deadline),
        # closed, and proposed or dismissed ones that count nowhere
        hr = random.Random(eid)  # its own: the draws of the rows below stay as they were
        for n in range(7):
            found = base + timedelta(hours=hr.randrange(6 * 24))
            kind = hr.choice(["major", "ordinary"])
            status = ["reported", "planned", "rectified", "rejected", "closed", "proposed", "dismissed"][n]
            deadline = "NULL" if status in ("proposed", "dismissed") else sqlts(
                now + timedelta(days=hr.choice([-2, 5])))
            closed = sqlts(found + timedelta(days=1)) if status in ("closed", "dismissed") else "NULL"
            sql.append(f"INSERT INTO hazards (enterprise_id, kind, major_item, title, found_at, found_how, status, "
                       f"deadline, closed_at) VALUES ({eid}, '{kind}', {3 if kind == 'major' else 'NULL'}, '隐患{n}', "
                       f"{sqlts(found)}, 'inspection', '{status}', {deadline}, {closed});")
        # cleaning: a daily area since before the fixture, checked in on some days
        created = base - timedelta(days=2)
        area = e.system(f"INSERT INTO cleaning_areas (enterprise_id, name, frequency, created_at) VALUES ({eid}, "
                        f"'车间', 'daily', {sqlts(created)}) RETURNING id")[0][0]
        for d in range(7):
            if rng.random() < 0.6:
                at = base + timedelta(days=d, hours=rng.randrange(3, 20))
                sql.append(f"INSERT INTO cleaning_checkins (area_id, enterprise_id, person, checked_at, method) VALUES "
                           f"({area}, {eid}, '张三', {sqlts(at)}, 'vacuum');")
    e.system("\n".join(sql))
    assert now < e.m1 + timedelta(days=400)


def make_filings(e):
    """Approved filings across the month boundary: all of B1 (whole enterprise) for two days
    and a half, and A1's pressure_diff point, approved but ended early (复产); a returned one
    of A2, which changes nothing."""
    start, end = e.m1 - timedelta(hours=29, minutes=20), e.m1 + timedelta(hours=31, minutes=10)
    pd = e.a1["points"]["pressure_diff"][1]
    e.system(f"""
      INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, status, approval_level, reviewed_at)
        VALUES ({e.b1['id']}, 'stop', {sqlts(start)}, {sqlts(end)}, '停产', 'approved', 'district', now());
      INSERT INTO filings (enterprise_id, type, starts_at, ends_at, point_ids, reason, status, approval_level,
                           reviewed_at, ended_at)
        VALUES ({e.a1['id']}, 'maintenance', {sqlts(e.m1 - timedelta(hours=5))}, {sqlts(e.m1 + timedelta(days=2))},
                '{{{pd}}}', '检修', 'ended', 'district', now(), {sqlts(e.m1 + timedelta(hours=7, minutes=30))});
      INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, status, approval_level, reviewed_at)
        VALUES ({e.a2['id']}, 'stop', {sqlts(start)}, {sqlts(end)}, '停产', 'returned', 'district', now());""")


def stale_day(e):
    """An hour of A2 whose readings and rollup row go away after the day rollup counted it (as
    when a quarantined hour is released): the trigger queues its day as stale, and until the
    worker recomputes it the statistics must read that day from the hourly rollups."""
    pid = e.a2["points"]["hopper_temp"][1]
    hour = e.system(f"SELECT bucket FROM rollup_hour WHERE point_id = {pid} AND bucket >= {sqlts(e.m1)} "
                    f"ORDER BY bucket LIMIT 1")[0][0]
    e.system(f"DELETE FROM readings WHERE point_id = {pid} AND collected_at >= '{hour}' AND "
             f"collected_at < '{hour}'::timestamptz + interval '1 hour';"
             f"DELETE FROM rollup_hour WHERE point_id = {pid} AND bucket = '{hour}'")
    day = ts(hour).astimezone(CITY).strftime("%Y-%m-%d")
    assert e.system("SELECT day FROM stats_day_stale") == [[day]], (day, e.system("SELECT * FROM stats_day_stale"))


def first_day(e, cov):
    """the first city day the running totals count: that of the first alarm or warning when
    they were first counted (or of an earlier table row: one deleted since)"""
    return min(d for (d,) in e.system(
        "SELECT (min(raised_at) AT TIME ZONE 'Asia/Shanghai')::date FROM alarms UNION ALL "
        "SELECT (min(issued_at) AT TIME ZONE 'Asia/Shanghai')::date FROM warnings UNION ALL "
        "SELECT min(day) FROM stats_alarm_day UNION ALL SELECT min(day) FROM stats_warning_day UNION ALL "
        f"SELECT '{cov}'::date") if d)


def running_totals(e, table, cols, rows, add):
    """table (a running-totals table of cols per enterprise and city day) holds, for every
    enterprise and day from the first counted one below the watermark, what add(run, rest)
    sums over rows (enterprise, city day, *rest) up to that day's end, as counted here; the
    watermark"""
    cov = e.system("SELECT covered_to FROM stats_event_day_state")[0][0]
    ents = [int(x[0]) for x in e.system("SELECT id FROM enterprises")]
    days = []
    d = datetime.fromisoformat(first_day(e, cov))
    while d.strftime("%Y-%m-%d") < cov:
        days.append(d.strftime("%Y-%m-%d"))
        d += timedelta(days=1)
    want = {}
    for en in ents:
        run = [0] * len(cols)
        for day in days:
            for r_en, r_day, *rest in rows:
                if int(r_en) == en and r_day == day:
                    add(run, rest)
            want[(day, en)] = list(run)
    got = {(r[0], int(r[1])): [int(x) for x in r[2:]]
           for r in e.system(f"SELECT day, enterprise_id, {', '.join(cols)} FROM {table}")}
    assert got == want, sorted(set((k, tuple(v)) for k, v in got.items()) ^ set((k, tuple(v)) for k, v in want.items()))[:4]
    return cov


def alarm_totals(e):
    """stats_alarm_day (migration 0155): the alarms raised up to each day's end, by kind and
    level, not folded, handled on time"""
    alarms = e.system("SELECT enterprise_id, (raised_at AT TIME ZONE 'Asia/Shanghai')::date, kind, level, "
                      "folded_into IS NULL, coalesce(handled_at <= handle_deadline AND folded_into IS NULL, false) "
                      "FROM alarms")

    def add(run, rest):
        kind, level, unfolded, on_time = rest
        run[0] += 1
        run[1 + KINDS.index(kind)] += 1
        run[1 + len(KINDS) + int(level)] += 1
        run[-2] += unfolded == "t"
        run[-1] += on_time == "t"

    return running_totals(e, "stats_alarm_day",
                          ["n"] + [f"k_{k}" for k in KINDS] + ["l0", "l1", "l2", "unfolded", "on_time"], alarms, add)


def closed_alarm(e, like_id, offset="1 second"):
    """a closed enterprise-offline alarm of alarm like_id's enterprise, raised just after it:
    its city day"""
    return e.system(f"INSERT INTO alarms (enterprise_id, source, channel, kind, level, max_level, raised_at, "
                    f"cleared_at, closed_at, state, ack_deadline, handle_deadline, acked_at, handled_at, "
                    f"cause_category) SELECT enterprise_id, 'rule', 'enterprise_offline', 'enterprise_offline', 1, 1, "
                    f"raised_at + interval '{offset}', raised_at + interval '1 hour', raised_at + interval '1 hour', "
                    f"'closed', raised_at + interval '30 minutes', raised_at + interval '1 hour', "
                    f"raised_at + interval '10 minutes', raised_at + interval '20 minutes', 'other' "
                    f"FROM alarms WHERE id = {like_id} "
                    f"RETURNING id, (raised_at AT TIME ZONE 'Asia/Shanghai')::date")[0]


def alarm_days_changed(e):
    """The worker counts the alarms' running totals; then alarms of counted days change in what
    they count (a kind and level, a handling, a folding, one deleted, one raised late): each
    queues its day, which the statistics must read live until the totals are counted again."""
    today = datetime.now(CITY).strftime("%Y-%m-%d")
    old = e.system("SELECT id, (raised_at AT TIME ZONE 'Asia/Shanghai')::date, channel FROM alarms "
                   f"WHERE (raised_at AT TIME ZONE 'Asia/Shanghai')::date < '{today}' AND folded_into IS NULL "
                   "AND handled_at IS NULL AND point_id IS NOT NULL ORDER BY raised_at, id")
    assert len(old) >= 5 and len({d for _, d, _ in old}) >= 3, old
    # folded: an offline alarm (alarms_folded_check)
    fold = next(a for a in old[2:] if a[2] == "offline")
    rest = [a for a in old if a not in (old[0], old[1], fold)]
    gone, gone_day = closed_alarm(e, rest[0][0])
    e.system("SELECT dw_stats_event_day_advance(400)")
    assert alarm_totals(e) == today
    warning_totals(e)
    assert e.system("SELECT count(*) FROM stats_event_day_stale") == [["0"]]
    e.system(f"UPDATE alarms SET kind = 'high_high', level = 2, max_level = 2 WHERE id = {old[0][0]};"
             f"UPDATE alarms SET acked_at = raised_at + interval '1 minute', handled_at = raised_at + interval "
             f"'5 minutes', cause_category = 'other', state = 'handled' WHERE id = {old[1][0]};"
             f"UPDATE alarms SET folded_into = {rest[0][0]}, state = 'closed', cleared_at = raised_at + interval "
             f"'1 hour', closed_at = raised_at + interval '1 hour' WHERE id = {fold[0]};"
             f"DELETE FROM alarms WHERE id = {gone}")
    _, late_day = closed_alarm(e, rest[-1][0], "2 seconds")
    days = sorted({old[0][1], old[1][1], fold[1], gone_day, late_day})
    assert [d for (d,) in e.system("SELECT day FROM stats_event_day_stale ORDER BY 1")] == days
    # a change that counts nothing (an acknowledgement) queues nothing
    e.system(f"DELETE FROM stats_event_day_stale; UPDATE alarms SET acked_at = raised_at + interval '1 minute', "
             f"state = 'acknowledged' WHERE id = {rest[1][0]}")
    assert e.system("SELECT count(*) FROM stats_event_day_stale") == [["0"]]
    for d in days:
        e.system(f"INSERT INTO stats_event_day_stale (day) VALUES ('{d}')")


def warning_totals(e):
    """stats_warning_day (migration 0156): the warnings issued up to each day's end, by grade,
    signed, signed on time, cleared, cleared on time"""
    ws = e.system("SELECT enterprise_id, (issued_at AT TIME ZONE 'Asia/Shanghai')::date, grade, "
                  "signed_at IS NOT NULL, coalesce(signed_at <= sign_by, false), cleared_at IS NOT NULL, "
                  "coalesce(cleared_at <= clear_by, false) FROM warnings")
    grades = ("blue", "yellow", "orange", "red")

    def add(run, rest):
        grade, *flags = rest
        run[0] += 1
        run[1 + grades.index(grade)] += 1
        for i, f in enumerate(flags):
            run[5 + i] += f == "t"

    cov = running_totals(e, "stats_warning_day", ["n", *grades, "signed", "signed_on_time", "cleared",
                                                  "cleared_on_time"], ws, add)
    assert any(w[1] < cov for w in ws), "no warning before the watermark"


def warning_days_changed(e):
    """Warnings of counted days change in what they count (a signing, a clearing, a grade, one
    deleted, one issued late): each queues its day beside the alarms' (alarm_days_changed), and
    the statistics must read it live; an escalation's bookkeeping queues nothing."""
    today = datetime.now(CITY).strftime("%Y-%m-%d")
    queued = {d for (d,) in e.system("SELECT day FROM stats_event_day_stale")}
    old = e.system("SELECT w.id, (w.issued_at AT TIME ZONE 'Asia/Shanghai')::date, w.status FROM warnings w "
                   f"WHERE (w.issued_at AT TIME ZONE 'Asia/Shanghai')::date < '{today}' AND NOT EXISTS "
                   "(SELECT 1 FROM warning_events ev WHERE ev.warning_id = w.id) ORDER BY w.issued_at, w.id")
    issued = next(w for w in old if w[2] == "issued")
    signed = next(w for w in old if w[2] == "signed")
    rest = [w for w in old if w not in (issued, signed)]
    graded, gone, late_like, quiet = rest[0], rest[1], rest[2], rest[-1]
    e.system(f"UPDATE warnings SET status = 'signed', signed_at = issued_at + interval '3 hours' WHERE id = {issued[0]};"
             f"UPDATE warnings SET status = 'cleared', cleared_at = issued_at + interval '5 hours' "
             f"WHERE id = {signed[0]};"
             f"UPDATE warnings SET grade = CASE grade WHEN 'red' THEN 'blue' ELSE 'red' END WHERE id = {graded[0]};"
             f"DELETE FROM warnings WHERE id = {gone[0]};"
             f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, "
             f"current_level, status, signed_at, cleared_at) SELECT enterprise_id, 'O.STAT_LATE', 'orange', score_id, "
             f"issued_at + interval '1 second', sign_by, clear_by, supervisor, current_level, 'cleared', "
             f"issued_at + interval '1 hour', issued_at + interval '30 hours' FROM warnings WHERE id = {late_like[0]}")
    days = {issued[1], signed[1], graded[1], gone[1], late_like[1]}
    assert {d for (d,) in e.system("SELECT day FROM stats_event_day_stale")} == queued | days
    e.system(f"DELETE FROM stats_event_day_stale; UPDATE warnings SET next_check_at = now() + interval '1 hour', "
             f"current_level = current_level WHERE id = {quiet[0]}")
    assert e.system("SELECT count(*) FROM stats_event_day_stale") == [["0"]]
    for d in sorted(queued | days):
        e.system(f"INSERT INTO stats_event_day_stale (day) VALUES ('{d}')")


def late_readings(e, kind="pressure_diff"):
    """Readings stored after the rollups covered their hours: queued as late (rollup_dirty) and
    not rolled up while no worker runs, so the statistics must read them raw."""
    _, pid = e.b1["points"][kind]
    added = e.system(
        f"INSERT INTO readings (point_id, enterprise_id, collected_at, value) SELECT {pid}, {e.b1['id']}, "
        f"h + interval '7 minutes', 900 FROM generate_series({sqlts(e.m1)}, {sqlts(e.m1 + timedelta(days=3))}, "
        f"interval '1 hour') h WHERE NOT EXISTS (SELECT FROM readings r WHERE r.point_id = {pid} AND "
        f"r.collected_at >= h AND r.collected_at < h + interval '1 hour') LIMIT 3 RETURNING collected_at")
    assert len(added) == 3, added
    assert int(e.system("SELECT count(*) FROM rollup_dirty")[0][0]) > 0


def disabled_point(e):
    """A point of B1 with hours in the day rollup, in the hourly rollups and late raw readings,
    then disabled: its hours leave every figure (the oracle counts enabled points only), which
    the statistics take away from the rows counted by enterprise (db_stats.c, MINUS_DISABLED)."""
    late_readings(e, "spark_detected")
    _, pid = e.b1["points"]["spark_detected"]
    e.system(f"UPDATE points SET enabled = false WHERE id = {pid}")
    assert int(e.system(f"SELECT count(*) FROM stats_day s JOIN rollup_hour h ON h.enterprise_id = "
                        f"s.enterprise_id WHERE h.point_id = {pid}")[0][0]) > 0


def settings_changed(e):
    """Points whose interval or class changed after their last reading: the points online and
    connected follow the settings at once (point_latest's copies, migration 0151; the oracle reads
    them from points).  Up to three points with a latest reading flip online <-> offline (an
    interval of a sixth of the reading's age, or a third of it plus 10 minutes); a mandatory point
    becomes optional and an optional one mandatory."""
    rows = e.system("SELECT l.point_id, extract(epoch FROM now() - l.collected_at)::int, p.param_class "
                    "FROM point_latest l JOIN points p ON p.id = l.point_id WHERE p.enabled ORDER BY 1")
    assert rows, "points with a latest reading"
    for pid, age, _ in rows[:3]:
        age = int(age)
        iv = age // 6 if age >= 12 else age // 3 + 600
        e.system(f"UPDATE points SET expected_interval_s = {min(max(iv, 1), 86400)} WHERE id = {pid}")
    for cls, to in (("mandatory", "optional"), ("optional", "mandatory")):
        pid = next((r[0] for r in rows[3:] if r[2] == cls), None)
        if pid:
            e.system(f"UPDATE points SET param_class = '{to}' WHERE id = {pid}")
    assert e.system("SELECT count(*) FROM point_latest l JOIN points p ON p.id = l.point_id "
                    "WHERE l.online_s <> 3 * p.expected_interval_s "
                    "OR l.mandatory <> (p.param_class = 'mandatory')") == [["0"]]


# ---- the oracle ---------------------------------------------------------------------------------

def ts(s):
    if s == "":
        return None
    return datetime.fromisoformat(s.replace(" ", "T") + (":00" if len(s.split("+")[-1]) == 2 else ""))


def raw(e):
    """The raw rows, fetched once (after the server stopped writing)."""
    rows = lambda q: e.system(q)
    r = {}
    r["now"] = ts(rows("SELECT now()")[0][0])
    r["ents"] = [dict(id=int(a), district=d, street=s, industry=i, kinds=json.loads(k), grade=g)
                 for a, d, s, i, k, g in rows(
                     "SELECT e.id, d.code, coalesce(s.code, ''), e.industry_code, to_json(e.dust_kinds), "
                     "coalesce(er.grade, 'none') FROM enterprises e JOIN regions d ON d.id = e.district_id "
                     "LEFT JOIN regions s ON s.id = e.street_id LEFT JOIN enterprise_risk er ON er.enterprise_id = e.id")]
    r["points"] = [dict(id=int(p), ent=int(en), mandatory=c == "mandatory", interval=int(iv), latest=ts(l))
                   for p, en, c, iv, l in rows(
                       "SELECT p.id, p.enterprise_id, p.param_class, p.expected_interval_s, coalesce(l.collected_at::text, '') "
                       "FROM points p LEFT JOIN point_latest l ON l.point_id = p.id WHERE p.enabled")]
    r["readings"] = [(int(p), ts(c)) for p, c in rows("SELECT point_id, collected_at FROM readings")]
    r["alarms"] = [dict(id=int(i), ent=int(en), kind=k, level=int(lv), state=st, raised=ts(ra), cleared=ts(cl),
                        ack_dl=ts(ad), hdl_dl=ts(hd), handled=ts(ha), folded=fo != "")
                   for i, en, k, lv, st, ra, cl, ad, hd, ha, fo in rows(
                       "SELECT id, enterprise_id, kind, level, state, raised_at, coalesce(cleared_at::text, ''), "
                       "ack_deadline, handle_deadline, coalesce(handled_at::text, ''), coalesce(folded_into::text, '') "
                       "FROM alarms")]
    r["conflicts"] = [(int(en), ts(c)) for en, c in rows("SELECT enterprise_id, collected_at FROM reading_conflicts")]
    r["gateways"] = [(int(en), s == "t") for en, s in rows("SELECT enterprise_id, last_seen_at IS NULL FROM gateways")]
    r["warnings"] = [dict(ent=int(en), grade=g, status=st, issued=ts(i), sign_by=ts(sb), clear_by=ts(cb),
                          signed=ts(sa), cleared=ts(ca))
                     for en, g, st, i, sb, cb, sa, ca in rows(
                         "SELECT enterprise_id, grade, status, issued_at, sign_by, clear_by, coalesce(signed_at::text, ''), "
                         "coalesce(cleared_at::text, '') FROM warnings")]
    r["escalations"] = [(int(en), ts(a)) for en, a in rows(
        "SELECT enterprise_id, at FROM warning_events WHERE action = 'escalate'")]
    r["areas"] = [dict(id=int(a), ent=int(en), freq=f, created=ts(c), active=ac == "t")
                  for a, en, f, c, ac in rows("SELECT id, enterprise_id, frequency, created_at, active FROM cleaning_areas")]
    r["checkins"] = [(int(a), ts(c)) for a, c in rows("SELECT area_id, checked_at FROM cleaning_checkins")]
    r["hazards"] = [dict(ent=int(en), kind=k, status=st, found=ts(fa), deadline=ts(dl))
                     for en, k, st, fa, dl in rows("SELECT enterprise_id, kind, status, found_at, "
                                                   "coalesce(deadline::text, '') FROM hazards")]
    sys_of = {int(p): int(s or 0) for p, s in rows("SELECT id, coalesce(system_id::text, '') FROM points")}
    r["filings"] = []
    for en, st, s0, s1, ended, pids, sids in rows(
            "SELECT enterprise_id, status, starts_at, ends_at, coalesce(ended_at::text, ''), to_json(point_ids), "
            "to_json(system_ids) FROM filings"):
        if st not in ("approved", "ended"):
            continue
        pids, sids = json.loads(pids), json.loads(sids)
        pts = {p["id"] for p in r["points"] if p["ent"] == int(en)
               and ((not pids and not sids) or p["id"] in pids or sys_of[p["id"]] in sids)}
        r["filings"].append(dict(points=pts, start=ts(s0), end=min(ts(s1), ts(ended) or ts(s1))))
    return r


def epoch(d):
    return d.timestamp()


def cleaning(r, ent_ids, f, to):
    req = done = 0
    now = r["now"]
    for a in r["areas"]:
        if not a["active"] or a["ent"] not in ent_ids:
            continue
        s = {"per_shift": 28800, "daily": 86400, "weekly": 604800}[a["freq"]]
        off = 288000 if a["freq"] == "weekly" else 28800
        p0 = math.ceil((max(epoch(f), epoch(a["created"])) + off) / s)
        p1 = math.floor((min(epoch(to), epoch(now)) + off) / s) - 1
        req += max(p1 - p0 + 1, 0)
        periods = {math.floor((epoch(c) + off) / s) for aid, c in r["checkins"] if aid == a["id"]}
        done += len([p for p in periods if p0 <= p <= p1])
    return req, done


def rate(n, d):
    return round(n / d, 4) if d else None


def figures(r, ents, f, to):
    now = r["now"]
    t_end = min(to, now)
    ids = {x["id"] for x in ents}
    pts = [p for p in r["points"] if p["ent"] in ids]
    pids = {p["id"] for p in pts}
    hours = max(math.ceil((t_end - f).total_seconds() / 3600), 0)
    with_data = {(p, c.replace(minute=0, second=0, microsecond=0)) for p, c in r["readings"]
                 if p in pids and f <= c < t_end}
    # point-hours under an approved filing count neither as expected nor as with data
    excluded = set()
    for fl in r["filings"]:
        for k in range(hours):
            h = f + timedelta(hours=k)
            if h < fl["end"] and h + timedelta(hours=1) > fl["start"]:
                excluded |= {(p, h) for p in fl["points"] & pids}
    with_data -= excluded
    connected = 0
    for x in ents:
        mand = [p for p in pts if p["ent"] == x["id"] and p["mandatory"]]
        if mand and all(p["latest"] and p["latest"] > now - timedelta(hours=WINDOW_H) for p in mand):
            connected += 1
    online = [p for p in pts if p["latest"] and p["latest"] > now - timedelta(seconds=3 * p["interval"])]
    intr = [a for a in r["alarms"] if a["ent"] in ids and a["kind"] in OFFLINE_KINDS and not a["folded"]
            and a["raised"] < t_end and (a["cleared"] is None or a["cleared"] > f)]
    intr_h = sum(((min(a["cleared"] or t_end, t_end)) - max(a["raised"], f)).total_seconds() for a in intr) / 3600
    al = [a for a in r["alarms"] if a["ent"] in ids and f <= a["raised"] < to]
    overdue = [a for a in al if (a["state"] == "active" and a["ack_dl"] < now)
               or (a["state"] in ("active", "acknowledged") and a["hdl_dl"] < now)]
    due = [a for a in al if not a["folded"] and (a["handled"] is not None or a["hdl_dl"] < now)]
    on_time = [a for a in due if a["handled"] is not None and a["handled"] <= a["hdl_dl"]]
    by_kind = {}
    for a in al:
        by_kind[a["kind"]] = by_kind.get(a["kind"], 0) + 1
    wr = [w for w in r["warnings"] if w["ent"] in ids and f <= w["issued"] < to]
    sign_due = [w for w in wr if w["signed"] is not None or w["sign_by"] < now]
    clear_due = [w for w in wr if w["cleared"] is not None or w["clear_by"] < now]
    w_over = [w for w in wr if (w["status"] == "issued" and w["sign_by"] < now)
              or (w["status"] not in ("clearance_requested", "cleared") and w["clear_by"] < now)]
    signed_ok = [w for w in wr if w["signed"] is not None and w["signed"] <= w["sign_by"]]
    cleared_ok = [w for w in wr if w["cleared"] is not None and w["cleared"] <= w["clear_by"]]
    esc = [1 for en, at in r["escalations"] if en in ids and f <= at < to]
    req, done = cleaning(r, ids, f, to)
    hz = [h for h in r["hazards"] if h["ent"] in ids and h["status"] not in ("proposed", "dismissed")]
    found = [h for h in hz if f <= h["found"] < to]
    opened = [h for h in hz if h["status"] in ("reported", "planned", "rectified", "rejected")]
    late = [h for h in opened if h["deadline"] < now]
    major = lambda hs: len([h for h in hs if h["kind"] == "major"])
    closed = [h for h in found if h["status"] == "closed"]
    return {
        "enterprises": len(ents), "connected": connected, "points": len(pts), "points_online": len(online),
        "point_hours": len(pts) * hours - len(excluded), "point_hours_with_data": len(with_data),
        "online_rate": rate(len(with_data), len(pts) * hours - len(excluded)),
        "interruptions": {"count": len(intr), "hours": round(intr_h, 2)},
        "alarms": {"total": len(al), "by_level": {str(lv): len([a for a in al if a["level"] == lv]) for lv in (0, 1, 2)},
                   "by_kind": by_kind, "overdue": len(overdue), "handle_due": len(due),
                   "handled_on_time": len(on_time), "handled_on_time_rate": rate(len(on_time), len(due))},
        "warnings": {"total": len(wr), "by_grade": {g: len([w for w in wr if w["grade"] == g])
                                                    for g in ("blue", "yellow", "orange", "red")},
                     "sign_due": len(sign_due), "signed_on_time": len(signed_ok),
                     "signed_on_time_rate": rate(len(signed_ok), len(sign_due)),
                     "clear_due": len(clear_due), "cleared_on_time": len(cleared_ok),
                     "cleared_on_time_rate": rate(len(cleared_ok), len(clear_due)),
                     "overdue": len(w_over), "escalations": len(esc)},
        "cleaning": {"required": req, "done": done, "rate": rate(done, req)},
        "hazards": {"found": len(found), "found_major": major(found), "closed": len(closed),
                    "closed_rate": rate(len(closed), len(found)), "open": len(opened), "open_major": major(opened),
                    "overdue": len(late), "overdue_major": major(late)},
    }


def group_key(x, group):
    return {"district": [x["district"]], "street": [x["street"]], "industry": [x["industry"]],
            "dust_kind": x["kinds"] or [""], "grade": [x["grade"]]}[group]


def oracle(r, ents, f, to, group):
    out = {"totals": figures(r, ents, f, to), "rows": {}}
    if group != "none":
        keys = sorted({k for x in ents for k in group_key(x, group)})
        for k in keys:
            out["rows"][k] = figures(r, [x for x in ents if k in group_key(x, group)], f, to)
    return out


def quality(r, ents, f, to):
    """GET /data-quality's counts, from the raw rows."""
    now = r["now"]
    t_end = min(to, now)
    ids = {x["id"] for x in ents}
    intr = [a for a in r["alarms"] if a["ent"] in ids and a["kind"] in OFFLINE_KINDS and not a["folded"]
            and a["raised"] < t_end and (a["cleared"] is None or a["cleared"] > f)]
    hours = {a["id"]: (min(a["cleared"] or t_end, t_end) - max(a["raised"], f)).total_seconds() / 3600 for a in intr}
    gw = [a for a in intr if a["kind"] == "gateway_offline"]
    al = [a for a in r["alarms"] if a["ent"] in ids and f <= a["raised"] < to]
    return {
        "interruptions": {"total": len(intr), "hours": round(sum(hours.values()), 2),
                          "items": [(a["id"], a["kind"], round(hours[a["id"]], 2))
                                    for a in sorted(intr, key=lambda a: (a["raised"], a["id"]), reverse=True)]},
        "gateways": {"offline_now": len([a for a in gw if a["cleared"] is None]), "offline_episodes": len(gw),
                     "never_seen": len([1 for en, never in r["gateways"] if en in ids and never])},
        "frozen": len([a for a in al if a["kind"] == "frozen"]),
        "out_of_range": len([a for a in al if a["kind"] == "out_of_range"]),
        "conflicts": len([1 for en, c in r["conflicts"] if en in ids and f <= c < to]),
    }


def strip(fig):
    """The API's figures without what the oracle does not compute (names, links)."""
    return {k: v for k, v in fig.items() if k not in ("key", "code", "name", "links")}


def norm(v):
    """Numbers as floats: PostgreSQL's numeric rounding prints 0.5 as 0.5000."""
    if isinstance(v, dict):
        return {k: norm(x) for k, x in v.items()}
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return round(float(v), 4)
    return v


def check(e, r, path, ents, f, to, group, user="city.admin"):
    body = e.get(path, user)
    want = oracle(r, ents, f, to, group)
    assert ts(body["from"].replace("T", " ")) == f, (body["from"], f)
    assert norm(strip(body["totals"])) == norm(want["totals"]), (path, body["totals"], want["totals"])
    got_rows = {row["code"]: strip(row) for row in body["rows"]}
    assert set(got_rows) == set(want["rows"]), (path, list(got_rows), list(want["rows"]))
    for k, fig in want["rows"].items():
        assert norm(got_rows[k]) == norm(fig), (path, k, got_rows[k], fig)
    return body


def q(d):
    return urllib.parse.quote(d.isoformat())


# ---- the test ---------------------------------------------------------------------------------------

def test_statistics_equal_the_raw_rows():
    e = Env()
    try:
        rng = random.Random(15)
        # phase 1: readings through ingest, rolled up by the worker
        e.start("ingest,api,worker", worker_interval_ms=200, rollup_lag_s=60, gateway_offline_after_s=0,
                enterprise_offline_min_points=0)
        ingest_readings(e, rng)
        wait_rolled(e)
        # the worker's day rollup followed the hourly one: stats_day holds, per enterprise and city
        # day, what rollup_hour holds below its watermark
        t.wait_for(lambda: e.system("SELECT s.covered_to = date_bin('1 hour', r.rolled_to, timestamptz "
                                    "'2000-01-01 00:00:00+00') FROM stats_day_state s, rollup_state r") == [["t"]],
                   timeout=60, what="day rollup caught up")
        e.stop()
        day = "(h.bucket AT TIME ZONE 'Asia/Shanghai')::date"
        want = e.system(f"SELECT {day}, h.enterprise_id, count(*) FROM rollup_hour h, stats_day_state s WHERE "
                        f"h.bucket < s.covered_to GROUP BY 1, 2 ORDER BY 1, 2")
        assert len(want) >= 3 * 6 and e.system("SELECT day, enterprise_id, point_hours FROM stats_day "
                                                "WHERE point_hours > 0 ORDER BY 1, 2") == want
        # phase 2: events, filings, late readings and a stale day in place, an API-only server
        # (nothing changes under it)
        make_events(e, rng)
        make_filings(e)
        late_readings(e)
        disabled_point(e)
        settings_changed(e)
        stale_day(e)
        alarm_days_changed(e)
        warning_days_changed(e)
        r = raw(e)
        ents = r["ents"]
        assert all(len(fl["points"]) for fl in r["filings"]) and len(r["filings"]) == 2
        # the hourly rollups alone on one connection, then the day rollup (default) in two halves
        # at once on two connections (stats_halves, default): the same answers
        for day_rollup in (0, 1):
            e.start("api", connected_window_h=WINDOW_H, stats_day_rollup=day_rollup, stats_halves=day_rollup)
            check_periods(e, r, ents)
            reads = stats_reads(e.srv)
            if day_rollup:  # every statistic was counted in halves: none fell back to one connection
                assert reads.get("halves", 0) >= 10 and "halves_failed" not in reads, reads
            else:
                assert reads.get("one", 0) >= 10 and "halves" not in reads, reads
                e.stop()
        check_rest(e, r, ents)
        # the worker counts the queued days again: the same answers from the totals alone
        e.stop()
        e.system("SELECT dw_stats_event_day_advance(400)")
        assert e.system("SELECT count(*) FROM stats_event_day_stale") == [["0"]]
        alarm_totals(e)
        warning_totals(e)
        e.start("api", connected_window_h=WINDOW_H)
        check_periods(e, r, ents)
    finally:
        e.close()


def stats_reads(srv):
    """dustwatch_stats_reads_total of the API server srv, by how"""
    st, _, body = t.request(srv.api_port, "GET", "/metrics")
    assert st == 200, st
    text = body.decode() if isinstance(body, bytes) else body
    return {m.group(1): int(float(m.group(2)))
            for m in re.finditer(r'^dustwatch_stats_reads_total\{how="(\w+)"\} (\S+)$', text, re.M)}


def check_periods(e, r, ents):
    """The statistics of every period and group, filters and scopes against the oracle."""
    m0 = prev_month(e.m1)
    city_month = lambda d: d.astimezone(CITY).strftime("%Y-%m-%d")
    # months on both sides of the boundary, a week and a day across it, a custom range
    for period, date, f, to, group in [
            ("month", city_month(m0), m0, e.m1, "district"),
            ("month", city_month(e.m1), e.m1, month_start(e.m1 + timedelta(days=32)), "street"),
            ("day", city_month(e.m1), e.m1, e.m1 + timedelta(days=1), "industry")]:
        body = check(e, r, f"/api/v1/statistics?period={period}&date={date}&group={group}", ents, f, to, group)
        if group == "industry":  # the 国民经济行业 code with its name (label catalogue)
            assert {x["code"]: x["name"] for x in body["rows"]} == {
                "C1310": "谷物磨制", "C2021": "锯材加工", "C3360": "金属表面处理及热处理加工"}, body["rows"]
    monday = e.m1 - timedelta(days=e.m1.weekday())
    check(e, r, f"/api/v1/statistics?period=week&date={city_month(e.m1)}&group=grade", ents, monday,
          monday + timedelta(days=7), "grade")
    f, to = e.m1 - timedelta(days=3), e.m1 + timedelta(days=3)
    base = f"/api/v1/statistics?period=custom&from={q(f)}&to={q(to)}"
    # a custom range that starts and ends inside city days: its edges come from the hourly rollups
    f2, to2 = f + timedelta(hours=5), to - timedelta(hours=16, minutes=30)
    body = e.get(f"/api/v1/statistics?period=custom&from={q(f2)}&to={q(to2)}&group=district")
    # widened to the end of its last hour (its rollup rows hold the whole hour)
    to2 += timedelta(minutes=30)
    assert ts(body["to"]) == to2 and ts(body["from"]) == f2, (body["from"], body["to"], f2, to2)
    want = oracle(r, ents, f2, to2, "district")
    online = lambda fig: {k: norm(fig[k]) for k in ("points", "point_hours", "point_hours_with_data", "online_rate")}
    assert online(body["totals"]) == online(want["totals"]), (body["totals"], want["totals"])
    assert {x["code"]: online(x) for x in body["rows"]} == {k: online(x) for k, x in want["rows"].items()}
    # a range reaching the day rollup's watermark: the hours of its last day below it from that
    # day's stats_day row, the rest from the hourly rollups (the point-hours with data: the
    # expected ones move with the clock)
    f3 = (r["now"] - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    to3 = r["now"].replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    body = e.get(f"/api/v1/statistics?period=custom&from={q(f3)}&to={q(to3)}&group=district")
    want = oracle(r, ents, f3, to3, "district")
    with_data = lambda fig: fig["point_hours_with_data"]
    assert with_data(body["totals"]) == with_data(want["totals"]) > 0, (body["totals"], want["totals"])
    assert {x["code"]: with_data(x) for x in body["rows"]} == {k: with_data(x) for k, x in want["rows"].items()}
    body = check(e, r, base + "&group=dust_kind", ents, f, to, "dust_kind")
    assert body["totals"]["enterprises"] == 3 and body["totals"]["connected"] == 2, body["totals"]
    assert sum(row["enterprises"] for row in body["rows"]) == 4  # A1 has two dust kinds
    assert body["totals"]["alarms"]["total"] == 30 and body["totals"]["point_hours_with_data"] > 0
    # filters
    jd = [x for x in ents if x["district"] == "310114"]
    check(e, r, base + "&district=310114&group=street", jd, f, to, "street")
    metal = [x for x in ents if "aluminium" in x["kinds"]]
    check(e, r, base + "&dust_kind=aluminium", metal, f, to, "none")
    check(e, r, base + "&grade=none", [x for x in ents if x["grade"] == "none"], f, to, "none")
    check(e, r, base + "&industry=C2021", [x for x in ents if x["industry"] == "C2021"], f, to, "none")
    # scope: a district sees its own enterprises, an enterprise itself, whatever it asks for
    bs = [x for x in ents if x["district"] == "310113"]
    check(e, r, base + "&group=district", bs, f, to, "district", user="baoshan.admin")
    check(e, r, base + "&district=310114", [], f, to, "none", user="baoshan.admin")
    check(e, r, base + "&group=street", [x for x in ents if x["id"] == e.a2["id"]], f, to, "street",
          user="a2.manager")
    # the filed hours are out of the online rate: all of B1's 62 hours overlapping its filing
    b1 = check(e, r, base + f"&enterprise={e.b1['id']}", [x for x in ents if x["id"] == e.b1["id"]], f, to,
               "none")["totals"]
    assert b1["point_hours"] == b1["points"] * (144 - 62), b1


def check_rest(e, r, ents):
    """Drill-down links, data quality and bad input (the day rollup's server)."""
    f, to = e.m1 - timedelta(days=3), e.m1 + timedelta(days=3)
    base = f"/api/v1/statistics?period=custom&from={q(f)}&to={q(to)}"
    bs = [x for x in ents if x["district"] == "310113"]
    # drill-down: each link lists exactly what its figure counts (a row by enterprise: that
    # enterprise's, not the whole scope's)
    body = e.get(base + "&group=district")
    by_ent = e.get(base + "&group=enterprise")["rows"]
    busy = sorted(by_ent, key=lambda x: -x["alarms"]["total"])[:2]
    assert busy[0]["alarms"]["total"] < body["totals"]["alarms"]["total"], busy
    # the rows by class and the totals under a class filter: the lists filter by the same class
    # (industry, dust kind, the enterprise's risk grade; they linked to the whole scope's lists)
    classes = []
    for group in ("industry", "dust_kind", "grade"):
        rows = e.get(base + "&group=" + group)["rows"]
        assert len(rows) >= 2 and any(x["alarms"]["total"] for x in rows), (group, rows)
        classes += [x for x in rows if x["code"]]
    for flt in ("industry=C3360", "dust_kind=wood", "grade=" + classes[-1]["code"]):
        classes.append(e.get(base + "&group=none&" + flt)["totals"])
    assert any(0 < x["alarms"]["total"] < body["totals"]["alarms"]["total"] for x in classes), classes
    for fig in [body["totals"]] + body["rows"] + busy + classes:
        links = fig["links"]
        assert e.get(links["alarms"])["total"] == fig["alarms"]["total"], links["alarms"]
        assert e.get(links["alarms_overdue"])["total"] == fig["alarms"]["overdue"]
        assert e.get(links["interruptions"])["total"] == fig["interruptions"]["count"], links["interruptions"]
        assert e.get(links["warnings"])["total"] == fig["warnings"]["total"]
        assert e.get(links["warnings_overdue"])["total"] == fig["warnings"]["overdue"]
        for lv in "012":
            assert e.get(links["alarms_by_level"][lv])["total"] == fig["alarms"]["by_level"][lv]
        for kind, n in fig["alarms"]["by_kind"].items():
            assert e.get(links["alarms_by_kind"][kind])["total"] == n
        for g, n in fig["warnings"]["by_grade"].items():
            assert e.get(links["warnings_by_grade"][g])["total"] == n
        assert e.get(links["enterprises"])["total"] == fig["enterprises"], links["enterprises"]
        for k in ("found", "found_major", "closed", "open", "open_major", "overdue"):
            assert e.get(links["hazards_" + k])["total"] == fig["hazards"][k], (k, links["hazards_" + k], fig["hazards"])
        cl = e.get(links["cleaning"])["totals"]
        assert (cl["required"], cl["done"]) == (fig["cleaning"]["required"], fig["cleaning"]["done"])
    # data quality: interruption records, gateways, frozen/out-of-range alarms, conflicting values,
    # and the online-rate ranking per enterprise and street (lowest first)
    for user, mine in (("city.admin", ents), ("baoshan.admin", bs)):
        dq = e.get(base.replace("/statistics", "/data-quality") + "&limit=500", user)
        want = quality(r, mine, f, to)
        got_items = [(i["id"], i["kind"], round(float(i["hours"]), 2)) for i in dq["interruptions"]["items"]]
        assert got_items == want["interruptions"]["items"], (got_items, want["interruptions"]["items"])
        assert dq["interruptions"]["total"] == want["interruptions"]["total"]
        assert round(float(dq["interruptions"]["hours"]), 2) == want["interruptions"]["hours"]
        for k in ("gateways", "frozen", "out_of_range", "conflicts"):
            assert dq[k] == want[k], (k, dq[k], want[k])
        assert want["conflicts"] > 0 and want["gateways"]["offline_now"] > 0 and want["out_of_range"] > 0
        rank = dq["online"]["enterprises"]
        rates = {x["id"]: figures(r, [x], f, to)["online_rate"] for x in mine}
        assert [int(x["key"]) for x in rank] == sorted(rates, key=lambda i: (rates[i], i)), (rank, rates)
        assert all(norm(x["online_rate"]) == norm(rates[int(x["key"])]) for x in rank)
        assert {x["code"] for x in dq["online"]["streets"]} == {x["street"] for x in mine}
    dq = e.get(base.replace("/statistics", "/data-quality") + "&limit=2")
    assert len(dq["interruptions"]["items"]) == 2 and dq["interruptions"]["total"] > 2
    # bad input: a clear 400 naming the parameter
    for path, word in [("period=year", "period"), ("period=month&date=2024-02-30", "date"),
                       ("period=custom&from=" + q(f), "from"), ("group=colour", "group"),
                       ("district=31011x", "district"), ("grade=pink", "grade"),
                       (f"period=custom&from={q(to)}&to={q(f)}", "after")]:
        for route in ("statistics", "data-quality"):
            err = e.get(f"/api/v1/{route}?" + path, status=400)
            assert err["code"] == "bad_request" and word in err["detail"] and err["hint"], (path, err)
    assert "limit" in e.get("/api/v1/data-quality?limit=0", status=400)["detail"]
    for path, word in [("alarms?risk_grade=pink", "risk_grade"), ("warnings?industry=c33", "industry"),
                       ("hazards?dust_kind=Wood", "dust_kind"), ("cleaning/compliance?risk_grade=red,blue", "risk_grade"),
                       ("enterprises?grade=green", "grade")]:
        err = e.get("/api/v1/" + path, status=400)
        assert err["code"] == "bad_request" and word in err["detail"] and err["hint"], (path, err)
    check_pages(e, r, ents, base)


SORTS = {"alarms": (lambda g: g["alarms"]["total"], -1), "alarms_overdue": (lambda g: g["alarms"]["overdue"], -1),
         "warnings": (lambda g: g["warnings"]["total"], -1),
         "escalations": (lambda g: g["warnings"]["escalations"], -1),
         "interruptions": (lambda g: g["interruptions"]["count"], -1), "online_rate": (lambda g: g["online_rate"], 1),
         "handled_on_time_rate": (lambda g: g["alarms"]["handled_on_time_rate"], 1),
         "cleared_on_time_rate": (lambda g: g["warnings"]["cleared_on_time_rate"], 1),
         "hazards_open": (lambda g: g["hazards"]["open"], -1)}


def check_pages(e, r, ents, base):
    """By enterprise a page at a time, ranked by a figure: the same rows as the whole table."""
    f, to = e.m1 - timedelta(days=3), e.m1 + timedelta(days=3)
    path = base + "&group=enterprise"
    whole = e.get(path + "&limit=5000")
    rows = whole["rows"]
    assert whole["rows_total"] == len(rows) == len(ents) >= 3, (whole["rows_total"], len(rows), len(ents))
    assert (whole["offset"], whole["limit"], whole["sort"]) == (0, 5000, None)
    # every row is its enterprise's figures, from the raw rows
    for row in rows:
        x = [x for x in ents if str(x["id"]) == row["key"]]
        assert norm(strip(row)) == norm(figures(r, x, f, to)), (row["code"], strip(row))
    page = e.get(path)  # the default page: 100 rows
    assert page["limit"] == 100 and page["rows"] == rows[:100] and page["totals"] == whole["totals"]
    pages, off = [], 0
    while off < len(rows):
        p = e.get(path + f"&limit=2&offset={off}")
        assert p["rows_total"] == len(rows) and p["offset"] == off and len(p["rows"]) == min(2, len(rows) - off)
        pages += p["rows"]
        off += 2
    assert pages == rows
    assert e.get(path + f"&offset={len(rows)}")["rows"] == []
    # ranked: counts the most first, rates the lowest first and none last, ties in key order
    reordered = 0
    for name, (val, sign) in SORTS.items():
        got = e.get(path + f"&limit=5000&sort={name}")
        assert got["sort"] == name and got["totals"] == whole["totals"]
        pos = {g["key"]: i for i, g in enumerate(rows)}
        want = sorted(rows, key=lambda g: (val(g) is None, sign * float(val(g) or 0), pos[g["key"]]))
        assert [g["key"] for g in got["rows"]] == [g["key"] for g in want], name
        assert got["rows"] == want, name
        reordered += want != rows
        part = e.get(path + f"&limit=1&offset=1&sort={name}")
        assert part["rows"] == want[1:2], name
    assert reordered >= 2, "the fixture's enterprises differ in rates"  # a ranking that is not the key order
    # the export ranks the same way, every row, and says so in its title
    st, _, data = t.request(e.srv.api_port, "GET", "/api/v1/statistics/export?format=csv&" + path.split("?", 1)[1]
                            + "&sort=online_rate&limit=1", headers={"Authorization": "Bearer " + e.tokens["city.admin"]})
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert st == 200 and "sort=online_rate" in lines[0][0] and lines[2][0] == "合计", lines[:3]
    val, sign = SORTS["online_rate"]
    want = sorted(rows, key=lambda g: (val(g) is None, sign * float(val(g) or 0), pos[g["key"]]))
    assert [x[1] for x in lines[3:]] == [g["code"] for g in want], (lines, [g["code"] for g in want])
    # a district's ranking holds its own enterprises only
    bs = e.get(path + "&sort=alarms", "baoshan.admin")
    assert {g["key"] for g in bs["rows"]} == {str(x["id"]) for x in ents if x["district"] == "310113"}
    for bad, word in (("sort=colour", "sort"), ("sort=alarms,warnings", "sort"), ("limit=0", "limit"),
                      ("limit=5001", "limit"), ("offset=-1", "offset")):
        err = e.get(path + "&" + bad, status=400)
        assert err["code"] == "bad_request" and word in err["detail"] and err["hint"], (bad, err)


def test_answers_are_reused_until_a_write():
    """api_cache: a statistic, an enterprise's archive and a point's series asked again come from
    the cache (Age header, the same body); another query, range or scope does not; a write
    through the API drops them"""
    e = Env()
    try:
        e.start("api", stats_cache_ms=60000, archive_cache_ms=60000, series_cache_ms=60000)

        def get(path, user="city.admin"):
            st, hdr, body = e.srv.api("GET", path, headers={"Authorization": "Bearer " + e.tokens[user]})
            assert st == 200, (path, st, body)
            return hdr.get("age"), body

        month = "/api/v1/statistics?period=month&group=district"
        age, first = get(month)
        assert age is None, "a first answer is computed"
        age, again = get(month)
        assert age is not None and int(age) >= 0 and again == first, (age, again == first)
        assert get("/api/v1/statistics?period=day&group=district")[0] is None, "another query"
        assert get(month, "baoshan.admin")[0] is None, "another scope"
        ent = f"/api/v1/enterprises/{e.a1['id']}"
        assert get(ent)[0] is None and get(ent)[0] is not None
        pid = e.a1["points"]["hopper_temp"][1]
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        week = f"/api/v1/points/{pid}/series?from={urllib.parse.quote((hour - timedelta(days=7)).isoformat())}"
        assert get(week)[0] is None and get(week)[0] is not None, "a point's week up to now"
        assert get(week + "&to=" + urllib.parse.quote(hour.isoformat()))[0] is None, "another range"
        # a write through the API: both are computed again, and the archive shows it at once
        st, _, body = e.srv.api("PATCH", ent, {"address": "宝山区缓存路1号"},
                                headers={"Authorization": "Bearer " + e.tokens["baoshan.admin"]})
        assert st == 200, (st, body)
        age, doc = get(ent)
        assert age is None and doc["enterprise"]["address"] == "宝山区缓存路1号", (age, doc["enterprise"])
        assert get(month)[0] is None and get(week)[0] is None
    finally:
        e.close()


def test_the_hour_being_rolled_up_counts_from_its_rollup_rows():
    """The point-hours of the hour rolled_to is in come from its rollup rows (every point that
    sent data before rolled_to) and the raw readings after rolled_to, each point-hour once, a
    disabled point's left out; they came from every raw reading of that hour."""
    e = Env()
    try:
        e.start("ingest,api")  # no worker: rolled_to stays where the test puts it
        now = datetime.now(timezone.utc)
        rolled = (now - timedelta(minutes=3)).replace(second=0, microsecond=0)
        if rolled.minute < 2:  # the rolled part of its hour must hold a reading
            rolled -= timedelta(minutes=30)
        hour = rolled.replace(minute=0)
        before, after = rolled - timedelta(minutes=1), rolled + timedelta(seconds=30)
        # the rollups start before every reading here (the template's state may be later, and a
        # reading below marked_to would be queued as late)
        start = hour - timedelta(hours=2)
        e.system(f"UPDATE rollup_state SET rolled_to = {sqlts(start)}, marked_to = {sqlts(start)};")
        sent = [(e.a1, "hopper_temp", before), (e.a1, "pressure_diff", before), (e.a1, "pressure_diff", after),
                (e.a2, "hopper_temp", after), (e.b1, "hopper_temp", before),
                (e.b1, "pressure_diff", hour - timedelta(minutes=20))]
        for ent, kind, at in sent:
            st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": [
                {"point": ent["points"][kind][0], "ts": at.isoformat(), "value": 40}]}, {"X-Api-Key": ent["api_key"]})
            assert st == 200 and r["accepted"] == 1, (st, r)
        # rolled up to `rolled`, as the worker would; then b1's hopper point is disabled
        e.system(f"UPDATE rollup_state SET marked_to = {sqlts(rolled)}; SELECT * FROM dw_rollup_fill(1000);"
                 f"UPDATE points SET enabled = false WHERE id = {e.b1['points']['hopper_temp'][1]};")
        assert e.system("SELECT rolled_to = %s FROM rollup_state" % sqlts(rolled)) == [["t"]]
        assert int(e.system(f"SELECT count(*) FROM rollup_hour WHERE bucket = {sqlts(hour)}")[0][0]) == 3
        f = hour - timedelta(hours=1)
        body = e.get(f"/api/v1/statistics?period=custom&from={q(f)}&to={q(now)}&group=enterprise")
        got = {x["code"]: x["point_hours_with_data"] for x in body["rows"]}
        assert got == {e.a1["code"]: 2, e.a2["code"]: 1, e.b1["code"]: 1}, (got, rolled.isoformat())
        assert body["totals"]["point_hours_with_data"] == 4, body["totals"]
        # a range that ends inside the rolled-up hour: widened to its end, counted from its rows
        body = e.get(f"/api/v1/statistics?period=custom&from={q(f)}&to={q(before)}&group=enterprise")
        assert ts(body["to"]) == hour + timedelta(hours=1), body["to"]
        assert body["totals"]["point_hours_with_data"] == 4, body["totals"]
    finally:
        e.close()


def test_rows_without_a_class_link_to_their_own_lists():
    """The row of enterprises with no industry code, or no dust kind recorded, links to their
    lists (industry=none, dust_kind=none), and the statistics filter by it: the links left the
    class out, so its numbers opened every enterprise's lists."""
    e = Env()
    try:
        e.system(f"UPDATE enterprises SET industry_code = '', dust_kinds = '{{}}' WHERE id = {e.b1['id']};")
        at = e.m1 + timedelta(days=1, hours=3)
        e.system("\n".join(
            f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
            f"cleared_at, ack_deadline, handle_deadline) VALUES ({x['id']}, {x['points']['hopper_temp'][1]}, "
            f"'rule', 'limit', 'high', 1, 1, '{(at + timedelta(hours=n)).isoformat()}', "
            f"'{(at + timedelta(hours=n, minutes=30)).isoformat()}', '{(at + timedelta(hours=n)).isoformat()}', "
            f"'{(at + timedelta(hours=n + 2)).isoformat()}');"
            for x in (e.a1, e.a2, e.b1) for n in range(1 + (x is e.b1))))
        e.start("api")
        base = f"/api/v1/statistics?period=month&date={e.m1.date().isoformat()}"
        for group, name in (("industry", "industry"), ("dust_kind", "dust_kind")):
            rows = e.get(f"{base}&group={group}")["rows"]
            blank = [x for x in rows if not x["code"]]
            assert len(blank) == 1 and len(rows) >= 3, (group, [x["code"] for x in rows])
            fig = blank[0]
            assert (fig["enterprises"], fig["alarms"]["total"]) == (1, 2), fig
            links = fig["links"]
            assert f"{name}=none" in links["alarms"] and f"{name}=none" in links["enterprises"], links
            assert e.get(links["alarms"])["total"] == 2, links["alarms"]
            listed = e.get(links["enterprises"])
            assert listed["total"] == 1 and listed["items"][0]["id"] == e.b1["id"], listed
            for k in ("warnings", "hazards_open", "cleaning"):
                e.get(links[k])
            tot = e.get(f"{base}&{name}=none")["totals"]
            assert (tot["enterprises"], tot["alarms"]["total"]) == (1, 2), tot
        err = e.get("/api/v1/alarms?industry=nothing", status=400)
        assert err["code"] == "bad_request" and "industry" in err["detail"], err
    finally:
        e.close()


if __name__ == "__main__":
    t.run([test_statistics_equal_the_raw_rows, test_answers_are_reused_until_a_write,
           test_the_hour_being_rolled_up_counts_from_its_rollup_rows,
           test_rows_without_a_class_link_to_their_own_lists])
