"""Alarm episodes (issue 16 item 1), through the real ingest.

* A spark detector (spark_detected) pulsing 30 times in 10 minutes is one
  open episode, not 30 alarms: kind spark (a process hazard, level 2, not a
  device fault), trigger count 30, first and last trigger times, and its
  value as state text (检测到火花 / spark detected), not "1 / 1".  Every repeat
  is a 'retrigger' event of that alarm; the risk engine counts the episode
  once (alarms rows).
* The fold window is alarm_episode_window_s: a repeat after a longer quiet
  gap, or after the episode was closed, opens a new alarm; 0 turns folding
  off (every raise a new alarm, as before)."""
import datetime as dt

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


if __name__ == "__main__":
    t.run([test_spark_burst_is_one_episode, test_window_closed_episode_and_off])
