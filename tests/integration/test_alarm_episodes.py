"""Alarm episodes (issue 16 item 1), through the real ingest.

* A spark detector (spark_detected) pulsing 30 times in 10 minutes is one
  open episode, not 30 alarms: kind spark (a process hazard, level 2, not a
  device fault), trigger count 30, first and last trigger times, and its
  value as state text (检测到火花 / spark detected), not "1 / 1".  Every repeat
  is a 'retrigger' event of that alarm; the risk engine counts the episode
  once (alarms rows).
* The fold window is alarm_episode_window_s: a repeat after a longer quiet
  gap, or after the episode was closed, opens a new alarm; 0 turns folding
  off (every raise a new alarm, as before).
* A gateway outage silencing 20 points of one enterprise is one
  enterprise-offline alarm listing the 20 points (not 20 数据中断 alarms); it
  clears when the last of them reports again.  A point whose data resumes while
  that alarm forms is never left listed as offline (it would never clear): the
  point either leaves the alarm or is not in it.
* Shelving (搁置) with a reason and an expiry: while shelved, repeats fold into
  the episode whatever the window (no new alarm); after the expiry a repeat
  after a quiet gap opens a new alarm again.  Shelve and unshelve are alarm
  events and audited; bad input is 400, another enterprise's alarm 404.
* Batch acknowledge answers per id: 200 with the state, 404 for an alarm out
  of the caller's scope (another enterprise's, or none), 409 when not active;
  government accounts may not acknowledge (403), as for one alarm.
* Labels (issue 16 item 4): GET /api/v1/labels is one catalogue of zh-CN and
  English labels, the same for every caller: every risk rule code the engine
  has (A.COUNT_24H, O.PRECURSOR.DP_COLLAPSE_FAN ...), every alarm kind, enum
  values (producing, water_curtain, iron) and industry codes.  An escalation
  note names its due time as a date, not a raw Unix time."""
import datetime as dt
import os
import re
import threading

import dwtest as t
from test_api import City


def now():
    return dt.datetime.now(dt.timezone.utc)


def iso(d):
    return d.replace(microsecond=0).isoformat()


def push_spark(c, ent, pulses):
    """pulses: [(at, value)], sent in batches of 10 readings (in time order)."""
    code = ent["points"]["spark_detected"][0]
    for i in range(0, len(pulses), 10):
        body = {"readings": [{"point": code, "ts": iso(at), "value": v} for at, v in pulses[i:i + 10]]}
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": ent["api_key"]})
        assert st == 200 and r["accepted"] == len(body["readings"]), (st, r)


def burst(start, n, every_s=20, on_s=10):
    out = []
    for i in range(n):
        at = start + dt.timedelta(seconds=i * every_s)
        out += [(at, 1), (at + dt.timedelta(seconds=on_s), 0)]
    return out


def spark_alarms(c, ent, user="city.admin"):
    pid = ent["points"]["spark_detected"][1]
    st, _, b = c.call(user, "GET", f"/api/v1/alarms?point={pid}&kind=spark,digital_fault&limit=100")
    assert st == 200, b
    return b["items"]


def test_spark_burst_is_one_episode():
    c = City(worker_interval_ms=500)
    try:
        start = (now() - dt.timedelta(minutes=11)).replace(microsecond=0)
        push_spark(c, c.a1, burst(start, 30))  # 30 triggers over 10 minutes
        items = spark_alarms(c, c.a1)
        assert len(items) == 1, [(a["id"], a["kind"], a["raised_at"]) for a in items]
        a = items[0]
        assert a["kind"] == "spark" and a["level"] == 2 and a["max_level"] == 2, a
        ep = a["episode"]
        assert ep["count"] == 30, ep
        assert dt.datetime.fromisoformat(ep["first_at"]) == start, ep
        assert dt.datetime.fromisoformat(ep["last_at"]) == start + dt.timedelta(seconds=29 * 20), ep
        assert ep["peak_value"] == 1, ep
        assert a["value_text"] == {"zh": "检测到火花", "en": "spark detected"}, a
        assert a["back_to_normal"] is True, a  # the last pulse ended
        st, _, d = c.call("city.admin", "GET", f"/api/v1/alarms/{a['id']}")
        actions = [e["action"] for e in d["events"]]
        assert actions.count("raise") == 1 and actions.count("retrigger") == 29, actions
        assert actions.count("clear") == 30, actions
        # the risk engine's A counts alarms rows: this episode is one level-2 alarm
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE enterprise_id = {c.a1['id']} "
                           "AND max_level = 2") == "1"

    finally:
        c.close()


def test_window_closed_episode_and_off():
    c = City(alarm_episode_window_s=120)
    try:
        start = (now() - dt.timedelta(minutes=30)).replace(microsecond=0)
        # two pulses 60 s apart fold; a third 300 s after the second clear does not
        push_spark(c, c.a1, [(start, 1), (start + dt.timedelta(seconds=10), 0),
                             (start + dt.timedelta(seconds=60), 1), (start + dt.timedelta(seconds=70), 0),
                             (start + dt.timedelta(seconds=370), 1)])
        items = spark_alarms(c, c.a1)
        assert [a["episode"]["count"] for a in items] == [1, 2], items
        newest = items[0]
        # the open episode is acknowledged, handled, then clears: closed; a repeat inside
        # the window opens a new alarm (the closed one is history)
        assert c.call("a1.manager", "POST", f"/api/v1/alarms/{newest['id']}/acknowledge",
                      {"verdict": "real_hazard"})[0] == 200
        assert c.call("a1.manager", "POST", f"/api/v1/alarms/{newest['id']}/handle",
                      {"cause_category": "process_abnormal", "measures": "停机检查风管"})[0] == 200
        push_spark(c, c.a1, [(start + dt.timedelta(seconds=380), 0), (start + dt.timedelta(seconds=400), 1)])
        items = spark_alarms(c, c.a1)
        assert [(a["state"], a["episode"]["count"]) for a in items] == [
            ("active", 1), ("closed", 1), ("active", 2)], items
    finally:
        c.close()

    c = City(alarm_episode_window_s=0)
    try:
        start = (now() - dt.timedelta(minutes=5)).replace(microsecond=0)
        push_spark(c, c.a1, burst(start, 3))
        items = spark_alarms(c, c.a1)
        assert len(items) == 3 and all(a["episode"]["count"] == 1 for a in items), items
    finally:
        c.close()


def add_points(c, ent, n):
    """n analog points of the enterprise, offline after 3 s without data; the fixture's
    own points are disabled (never reporting, they would be offline too)."""
    c.db.sql(f"UPDATE points SET enabled = false WHERE enterprise_id = {ent['id']}")
    codes = []
    for i in range(n):
        code = f"{ent['code']}0101{100 + i:03d}"
        c.db.sql(f"""INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max,
                       limit_high, expected_interval_s, offline_factor)
                     VALUES ('{code}', {ent['id']}, {ent['system_id']}, 'hopper_temp', '灰斗温度{i}', -40, 200,
                             70, 2, 1.5)""")
        codes.append(code)
    return codes


def push_all(c, ent, codes, at):
    body = {"gateway": "GW-A1-01", "readings": [{"point": p, "ts": iso(at), "value": 30.0} for p in codes]}
    st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": ent["api_key"]})
    assert st == 200 and r["accepted"] == len(codes), (st, r)


def offline_alarms(c, user="a1.manager"):
    st, _, b = c.call(user, "GET", "/api/v1/alarms?kind=offline,enterprise_offline&open=true&limit=100")
    assert st == 200, b
    return b["items"]


def test_gateway_outage_is_one_enterprise_offline_alarm():
    c = City(worker_interval_ms=250)
    try:
        codes = add_points(c, c.a1, 20)
        push_all(c, c.a1, codes, now())
        # the gateway goes silent: all 20 points pass their offline deadline together
        def full():
            xs = [x for x in offline_alarms(c) if x["kind"] == "enterprise_offline"]
            return xs if xs and len(xs[0]["points"]) == 20 else None
        t.wait_for(full, timeout=30, what="an enterprise-offline alarm with all 20 points")
        items = offline_alarms(c)
        assert len(items) == 1, [(a["kind"], a["point"]) for a in items]
        a = items[0]
        assert a["kind"] == "enterprise_offline" and a["level"] == 0 and a["point"] is None, a
        assert a["enterprise"]["id"] == c.a1["id"] and a["cleared_at"] is None, a
        assert sorted(p["code"] for p in a["points"]) == sorted(codes), a["points"]
        assert all(p["back_at"] is None and p["last_data_at"] for p in a["points"]), a["points"]
        # no point alarm of its own left open, and another enterprise does not see it
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE enterprise_id = {c.a1['id']} AND "
                           "channel = 'offline' AND state <> 'closed'") == "0"
        assert offline_alarms(c, "a2.manager") == []

        # the gateway is back: the alarm clears with its last point
        push_all(c, c.a1, codes, now())
        st, _, d = t.wait_for(
            lambda: (lambda r: r if r[2]["alarm"]["cleared_at"] else None)(
                c.call("a1.manager", "GET", f"/api/v1/alarms/{a['id']}")),
            timeout=30, what="the enterprise-offline alarm cleared")
        assert d["alarm"]["clear_reason"] == "all_points_back", d["alarm"]
        assert all(p["back_at"] for p in d["alarm"]["points"]), d["alarm"]["points"]
        actions = [e["action"] for e in d["events"]]
        assert actions.count("raise") == 1 and actions.count("clear") == 1, actions
        assert actions.count("point_back") == 20, actions
    finally:
        c.close()


def test_shelving_with_reason_and_expiry():
    c = City(alarm_episode_window_s=60)
    try:
        start = (now() - dt.timedelta(minutes=20)).replace(microsecond=0)
        push_spark(c, c.a1, [(start, 1), (start + dt.timedelta(seconds=10), 0)])
        [a] = spark_alarms(c, c.a1)
        path = f"/api/v1/alarms/{a['id']}/shelve"
        until = iso(now() + dt.timedelta(seconds=4))
        for body in ({"until": until}, {"reason": "检修", "until": iso(now() - dt.timedelta(minutes=1))},
                     {"reason": "检修", "until": "tomorrow"}, {"reason": "检修", "until": until, "x": 1}):
            st, _, b = c.call("a1.manager", "POST", path, body)
            assert st == 400 and b["code"] in ("bad_request", "unknown_field"), (body, st, b)
        assert c.call("a2.manager", "POST", path, {"reason": "x", "until": until})[0] == 404
        st, _, d = c.call("a1.manager", "POST", path, {"reason": "火花探测器检修中", "until": until})
        assert st == 200 and d["alarm"]["shelved"]["reason"] == "火花探测器检修中", d["alarm"]
        assert d["events"][-1]["action"] == "shelve" and d["events"][-1]["actor"] == "a1.manager", d["events"]
        assert c.db.scalar("SELECT count(*) FROM audit_log WHERE username = 'a1.manager' AND "
                           "action = 'alarm_shelve' AND result = 'ok'") == "1"
        # shelved: a repeat 5 minutes later (beyond the 60 s window) folds into it
        push_spark(c, c.a1, [(start + dt.timedelta(seconds=300), 1), (start + dt.timedelta(seconds=310), 0)])
        items = spark_alarms(c, c.a1)
        assert len(items) == 1 and items[0]["episode"]["count"] == 2, items
        # expired: the next repeat after a quiet gap is a new alarm again
        t.wait_for(lambda: spark_alarms(c, c.a1)[0]["shelved"] is None, timeout=20, what="the shelving expired")
        push_spark(c, c.a1, [(start + dt.timedelta(seconds=600), 1)])
        items = spark_alarms(c, c.a1)
        assert [x["episode"]["count"] for x in items] == [1, 2], items
        # unshelve ends a shelving early; a second unshelve is refused
        new = items[0]["id"]
        st, _, d = c.call("a1.manager", "POST", f"/api/v1/alarms/{new}/shelve",
                          {"reason": "观察", "until": iso(now() + dt.timedelta(hours=1))})
        assert st == 200 and d["alarm"]["shelved"], d
        st, _, d = c.call("a1.manager", "POST", f"/api/v1/alarms/{new}/unshelve", {"note": "已修复"})
        assert st == 200 and d["alarm"]["shelved"] is None, d
        st, _, b = c.call("a1.manager", "POST", f"/api/v1/alarms/{new}/unshelve", {})
        assert st == 409 and b["code"] == "invalid_transition", b
    finally:
        c.close()


def test_batch_acknowledge_is_scoped_per_id():
    c = City()
    try:
        at = (now() - dt.timedelta(minutes=5)).replace(microsecond=0)
        push_spark(c, c.a1, [(at, 1)])
        push_spark(c, c.a2, [(at, 1)])
        temp = c.a1["points"]["hopper_temp"][0]
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings",
                                {"readings": [{"point": temp, "ts": iso(at), "value": 75.0}]},
                                {"X-Api-Key": c.a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        [s1] = spark_alarms(c, c.a1)
        [s2] = spark_alarms(c, c.a2)
        st, _, b = c.call("a1.manager", "GET", "/api/v1/alarms?kind=high&limit=10")
        [h1] = b["items"]
        for body in ({"ids": [], "verdict": "real_hazard"}, {"ids": ["1"], "verdict": "real_hazard"},
                     {"ids": [s1["id"]], "verdict": "maybe"}, {"ids": list(range(1, 102)), "verdict": "unknown"}):
            st, _, e = c.call("a1.manager", "POST", "/api/v1/alarms/acknowledge", body)
            assert st == 400 and e["code"] == "bad_request", (body, st, e)
        st, _, e = c.call("baoshan.admin", "POST", "/api/v1/alarms/acknowledge",
                          {"ids": [s1["id"]], "verdict": "real_hazard"})
        assert st == 403, (st, e)
        st, _, r = c.call("a1.manager", "POST", "/api/v1/alarms/acknowledge",
                          {"ids": [s1["id"], h1["id"], s2["id"], 999999], "verdict": "real_hazard",
                           "note": "现场确认"})
        assert st == 200, r
        assert [(x["id"], x["status"]) for x in r["results"]] == [
            (s1["id"], 200), (h1["id"], 200), (s2["id"], 404), (999999, 404)], r
        assert r["acknowledged"] == 2 and r["refused"] == 2, r
        assert r["results"][0]["state"] == "acknowledged" and r["results"][2]["code"] == "not_found", r
        # the other enterprise's alarm is untouched; acknowledging again is 409 per id
        assert c.db.scalar(f"SELECT state FROM alarms WHERE id = {s2['id']}") == "active"
        st, _, r = c.call("a1.manager", "POST", "/api/v1/alarms/acknowledge",
                          {"ids": [s1["id"]], "verdict": "unknown"})
        assert st == 200 and r["results"][0]["status"] == 409, r
        assert c.db.scalar("SELECT count(*) FROM audit_log WHERE username = 'a1.manager' AND "
                           "action = 'alarm_acknowledge' AND result = 'ok'") == "2"
    finally:
        c.close()


def test_labels_catalogue():
    c = City()
    try:
        st, _, anon = c.call(None, "GET", "/api/v1/labels")
        assert st == 401, anon
        st, _, lab = c.call("a1.manager", "GET", "/api/v1/labels")
        assert st == 200, lab
        assert c.call("baoshan.admin", "GET", "/api/v1/labels")[2] == lab  # one catalogue for all
        d = lab["domains"]
        for dom in d.values():
            for code, v in dom.items():
                assert v["zh"] and v["en"], (code, v)
        # every rule code of the engine (risk/risk_score.c's table) has a label
        src = open(os.path.join(os.environ["DW_SOURCE_ROOT"], "risk", "risk_score.c"), encoding="utf-8").read()
        rules = set(re.findall(r'\{"([IAHSRO]\.[A-Z0-9_.]+)", "risk\.rule', src))
        assert {"A.COUNT_24H", "I.DUST.METAL_OTHER", "O.PRECURSOR.DP_COLLAPSE_FAN"} <= rules, rules
        assert rules <= set(d["risk_rule"]), rules - set(d["risk_rule"])
        assert d["risk_rule"]["O.PRECURSOR.DP_COLLAPSE_FAN"]["en"].startswith("Pressure-drop collapse"), d["risk_rule"]
        # every alarm kind the schema allows, and the enum values the dashboard shows
        kinds = re.search(r"alarms_kind_check CHECK \(\(kind = ANY \(ARRAY\[(.*?)\]",
                          open(os.path.join(os.environ["DW_SOURCE_ROOT"], "schema", "schema.sql"),
                               encoding="utf-8").read()).group(1)
        kinds = set(re.findall(r"'([a-z_]+)'::text", kinds))
        assert {"spark", "enterprise_offline"} <= kinds and kinds <= set(d["alarm_kind"]), kinds - set(d["alarm_kind"])
        assert d["alarm_kind"]["spark"] == {"zh": "火花探测", "en": "Spark detected"}, d["alarm_kind"]["spark"]
        assert d["enterprise_status"]["producing"]["zh"] == "在产"
        assert d["collector_type"]["water_curtain"]["zh"] == "水幕除尘"
        assert d["dust_kind"]["iron"] == {"zh": "铁粉", "en": "iron"}
        assert d["industry"]["C3360"]["zh"] and d["escalation"]["sign"]["en"], d["industry"]
        assert d["digital_state"]["spark_detected:1"]["zh"] == "检测到火花"
    finally:
        c.close()


def test_escalation_note_names_a_date():
    from test_warning_upgrade import Env, to_orange
    e = Env(warning_sign_within_s=2)
    try:
        t.wait_for(lambda: e.grade() == "blue", what="blue baseline")
        to_orange(e)
        note = t.wait_for(lambda: e.db.scalar("SELECT note FROM warning_events WHERE action = 'escalate' "
                                              "ORDER BY id LIMIT 1"), timeout=30, what="an escalation")
        assert re.fullmatch(r"sign deadline missed \(due \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", note), note
    finally:
        e.close()


def lock_waiters(c, like):
    return c.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                       f"wait_event_type = 'Lock' AND query LIKE '{like}'")


def test_point_back_while_the_enterprise_alarm_forms_is_not_listed():
    """P2 is offline alone (its own alarm; two points form an enterprise-offline alarm).  P1
    falls silent: the worker forms the enterprise alarm and is held before it commits (its
    recompute request waits for the test's).  P2's data resumes meanwhile.  The forming
    must not list P2 in a way its writer cannot see: listed from a snapshot, P2 stayed
    offline in the alarm for good (its writer had found no alarm to leave)."""
    # the worker and the writer wait for the test's steps: no timeout cuts them short
    c = City(worker_interval_ms=250, enterprise_offline_min_points=2, db_lock_timeout_ms=0,
             db_statement_timeout_ms=0)
    holder = None
    try:
        e = c.a1["id"]
        codes = add_points(c, c.a1, 2)
        p1, p2 = (c.db.scalar(f"SELECT id FROM points WHERE code = '{x}'") for x in codes)
        push_all(c, c.a1, codes, now())
        # P1 stays online until the test lets it fall silent
        c.db.sql("UPDATE point_rule_state SET offline_due_at = extract(epoch FROM now() + interval '1 hour') "
                 f"WHERE point_id = {p1}")
        own = t.wait_for(lambda: c.db.scalar(f"SELECT id FROM alarms WHERE point_id = {p2} AND channel = "
                                             "'offline' AND cleared_at IS NULL"), timeout=30,
                         what="P2's own offline alarm")
        assert c.db.scalar(f"SELECT offline_active FROM point_rule_state WHERE point_id = {p1}") == "f"
        assert c.db.scalar("SELECT count(*) FROM alarms WHERE channel = 'enterprise_offline'") == "0"

        holder = t.psql_session(c.db.name, "holder")
        holder.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                           "BEGIN; INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES "
                           f"({e}, 'hold') ON CONFLICT (enterprise_id) DO UPDATE SET reason = 'hold';\n")
        holder.stdin.flush()
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "current_database() AND application_name = 'holder' AND state = "
                                       "'idle in transaction' AND query LIKE 'INSERT%'") == "1",
                   what="the recompute request held")
        c.db.sql(f"UPDATE point_rule_state SET offline_due_at = extract(epoch FROM now())::bigint - 1 "
                 f"WHERE point_id = {p1}")
        t.wait_for(lambda: lock_waiters(c, "%INSERT INTO risk_recompute_requests AS rr%") == "1", timeout=20,
                   what="the worker, P1 offline, held before its commit")
        out = {}
        back = {"gateway": "GW-A1-01", "readings": [{"point": codes[1], "ts": iso(now()), "value": 31.0}]}
        writer = threading.Thread(target=lambda: out.update(r=c.srv.ingest(
            "POST", "/ingest/v1/readings", back, {"X-Api-Key": c.a1["api_key"]})))
        writer.start()
        # P2's writer reaches the worker's locks (its state row, or its own alarm folded)
        t.wait_for(lambda: lock_waiters(c, "%") == "2", timeout=20, what="P2's writer waiting")
        holder.stdin.write("COMMIT;\n")
        holder.stdin.close()
        assert holder.wait(10) == 0, holder.stderr.read()
        holder = None
        writer.join(30)
        assert not writer.is_alive(), "the ingest did not answer"
        st, _, r = out["r"]
        assert st == 200 and r["accepted"] == 1, (st, r)

        assert c.db.sql(f"SELECT point_id, offline_active FROM point_rule_state WHERE point_id IN ({p1}, {p2}) "
                        "ORDER BY point_id") == [[p1, "t"], [p2, "f"]]
        assert c.db.scalar(f"SELECT cleared_at IS NOT NULL FROM alarms WHERE id = {own}") == "t"
        listed = c.db.sql(f"SELECT a.id, mp.point_id FROM alarms a JOIN alarm_points mp ON mp.alarm_id = a.id "
                          f"WHERE a.channel = 'enterprise_offline' AND a.cleared_at IS NULL AND mp.back_at IS NULL "
                          f"AND mp.point_id = {p2}")
        assert listed == [], f"P2 is back but still listed offline: {listed}"
        # the alarm formed with both (P2 was offline then) and P2 left it
        assert c.db.sql("SELECT mp.point_id, mp.back_at IS NULL FROM alarms a JOIN alarm_points mp ON "
                        "mp.alarm_id = a.id WHERE a.channel = 'enterprise_offline' AND a.cleared_at IS NULL "
                        "ORDER BY mp.point_id") == [[p1, "t"], [p2, "f"]]
    finally:
        if holder:
            holder.kill()
        c.close()

if __name__ == "__main__":
    t.run([test_spark_burst_is_one_episode, test_window_closed_episode_and_off,
           test_gateway_outage_is_one_enterprise_offline_alarm, test_shelving_with_reason_and_expiry,
           test_batch_acknowledge_is_scoped_per_id, test_labels_catalogue,
           test_escalation_note_names_a_date, test_point_back_while_the_enterprise_alarm_forms_is_not_listed])
