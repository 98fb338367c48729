"""Implausible values and rollup quarantine (issue 11 item 2).  A point
without range_min/range_max accepted 1e308 and 1.797e308; from then on the
rollup step failed every tick (value out of range: overflow), rolled_to
stopped for every point of the city and the point's series answered a
misleading 422.  Now each indicator kind has a physical plausibility range
that applies where the point sets none (and nothing beyond 1e12 is ever
stored), and a point-hour that still cannot be aggregated (here: seeded
directly into readings) is quarantined and reported while the rollups go on
for every other point."""
import datetime as dt

import dialects
import dwtest as t
from test_api import City

ORIGIN_UTC = "timestamptz '2000-01-01 00:00:00+00'"
BJ = dt.timezone(dt.timedelta(hours=8))


def now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def post(c, ent, items):
    st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", {"readings": items}, {"X-Api-Key": ent["api_key"]})
    assert st == 200, (st, r)
    return r


def system(c, sql):
    return c.db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]


def test_overflow_values_are_refused_as_implausible():
    c = SHARED
    code, pid = c.a1["points"]["hopper_temp"]
    c.db.sql(f"UPDATE points SET range_min = NULL, range_max = NULL WHERE id = {pid}")
    at = now() - dt.timedelta(minutes=5)
    r = post(c, c.a1, [{"point": code, "ts": (at + dt.timedelta(seconds=i)).isoformat(), "value": v}
                       for i, v in enumerate([1e308, 1.797e308, -1e308, 1500, 35.5, -20])])
    assert r["accepted"] == 2 and r["rejected"] == 4, r
    got = {e["index"]: e["code"] for e in r["errors"]}
    assert got == {0: "implausible", 1: "implausible", 2: "implausible", 3: "implausible"}, got
    assert "implausible for the point's kind" in r["errors"][0]["message"], r
    assert c.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid} AND abs(value) > 1000") == "0"
    # the point's own range is the sensor's and wins over the kind's
    code_b, pid_b = c.b1["points"]["hopper_temp"]
    c.db.sql(f"UPDATE points SET range_min = 0, range_max = 2000 WHERE id = {pid_b}")
    r = post(c, c.b1, [{"point": code_b, "ts": at.isoformat(), "value": 1500}])
    assert r["accepted"] == 1, r
    # ... but no range admits what no sensor reports
    c.db.sql(f"UPDATE points SET range_max = 1e308 WHERE id = {pid_b}")
    r = post(c, c.b1, [{"point": code_b, "ts": (at + dt.timedelta(seconds=1)).isoformat(), "value": 1e308}])
    assert [e["code"] for e in r["errors"]] == ["implausible"], r
    # digital kinds are 0 or 1
    code_s, pid_s = c.a1["points"]["spark_detected"]
    c.db.sql(f"UPDATE points SET range_min = NULL, range_max = NULL WHERE id = {pid_s}")
    r = post(c, c.a1, [{"point": code_s, "ts": at.isoformat(), "value": 7},
                       {"point": code_s, "ts": (at + dt.timedelta(seconds=1)).isoformat(), "value": 1}])
    assert r["accepted"] == 1 and [e["code"] for e in r["errors"]] == ["implausible"], r
    # Hebei names it too
    bj = (at + dt.timedelta(seconds=30)).astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
    inner = {"qybm": c.a1["code"], "data": {"rts": [{"tnm": code, "ts": bj, "val": "1.797e308"}]}}
    st, _, raw = c.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                              dialects.hebei_body(c.a1["code"], inner, c.a1["des_key"]))
    assert st == 200 and raw["code"] == 422 and "implausible" in raw["msg"], raw


def test_unaggregatable_hour_is_quarantined_and_others_roll_on():
    c = SHARED
    bad = c.a2["points"]["pressure_diff"][1]
    good = c.a2["points"]["hopper_temp"][1]
    eid = c.a2["id"]
    # start the watermark two hours back (and the rollups with it) and seed an hour 90 minutes
    # ago in the same transaction: a worker tick between the two would roll past the hour
    # before its readings exist (seen under load)
    hour = system(c, f"SELECT date_bin('1 hour', now() - interval '90 minutes', {ORIGIN_UTC})")[0][0]
    system(c, "SELECT dw_ensure_readings_partition(((now() - interval '3 hours') AT TIME ZONE 'UTC')::date), "
              "dw_ensure_readings_partition((now() AT TIME ZONE 'UTC')::date);"
              f"BEGIN; UPDATE rollup_state SET marked_to = date_bin('1 hour', now() - interval '2 hours', {ORIGIN_UTC}), "
              f"rolled_to = date_bin('1 hour', now() - interval '2 hours', {ORIGIN_UTC});"
              "DELETE FROM rollup_minute; DELETE FROM rollup_hour; DELETE FROM rollup_dirty; "
              # written around the ingest path (as before migration 0017 allowed)
              "INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) VALUES "
              f"({bad}, '{hour}'::timestamptz + interval '10 minutes', 1e308, 0, {eid}), "
              f"({bad}, '{hour}'::timestamptz + interval '10 minutes 1 second', 1.797e308, 0, {eid}), "
              f"({good}, '{hour}'::timestamptz + interval '10 minutes', 30, 0, {eid}), "
              f"({good}, '{hour}'::timestamptz + interval '11 minutes', 40, 0, {eid}); COMMIT;")
    t.wait_for(lambda: system(c, f"SELECT rolled_to >= '{hour}'::timestamptz + interval '1 hour' FROM rollup_state")
               == [["t"]], timeout=30, what="rolled_to past the poisoned hour")
    q = system(c, f"SELECT point_id, hour = '{hour}'::timestamptz, reason FROM rollup_quarantine")
    assert len(q) == 1 and q[0][:2] == [str(bad), "t"] and "overflow" in q[0][2], q
    # the other point of the same hour is rolled up; the poisoned one has no rollup rows
    assert system(c, f"SELECT n, vsum FROM rollup_hour WHERE point_id = {good} AND bucket = '{hour}'") == [["2", "70"]]
    assert system(c, f"SELECT count(*) FROM rollup_minute WHERE point_id = {bad}") == [["0"]]
    # reported: the worker's log and the point's data quality
    with open(c.srv.log.name, errors="replace") as f:
        lines = [x for x in f if "rollup point-hours quarantined" in x]
    assert lines and f"point_id={bad}" in lines[0] and "overflow" in lines[0], lines
    st, _, p = c.call("a2.manager", "GET", f"/api/v1/points/{bad}")
    assert st == 200 and len(p["data_quality"]["quarantined_hours"]) == 1, (st, p)
    assert "overflow" in p["data_quality"]["quarantined_hours"][0]["reason"], p
    # the series answers from raw readings for that hour, in hourly buckets (the rollup tier)
    frm = dt.datetime.fromisoformat(hour.replace(" ", "T").replace("+00", "+00:00")) - dt.timedelta(hours=2)
    to = frm + dt.timedelta(hours=5)
    q = f"from={frm.isoformat().replace('+00:00', 'Z')}&to={to.isoformat().replace('+00:00', 'Z')}&bucket=3600"
    st, _, s = c.call("a2.manager", "GET", f"/api/v1/points/{bad}/series?{q}")
    assert st == 200, (st, s)
    [item] = s["items"]
    assert item[4] == 2 and item[2] == 1.797e308 and abs(item[3] - 1.3985e308) < 1e304, item
    st, _, s = c.call("a2.manager", "GET", f"/api/v1/points/{good}/series?{q}")
    assert st == 200 and s["items"][0][3:] == [35, 2], s


SHARED = None

if __name__ == "__main__":
    SHARED = City(roles="ingest,api,worker", worker_interval_ms=200, rollup_lag_s=60)
    t.run([
        test_overflow_values_are_refused_as_implausible,
        test_unaggregatable_hour_is_quarantined_and_others_roll_on,
    ], cleanup=SHARED.close)
