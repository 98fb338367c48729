"""Packed readings (issue 20, storage; migration 0137).  Readings of whole UTC days
older than readings_pack_after_days move from their day partition into
readings_packed, one row of arrays per point and day.  Every API answer that
reads raw readings must be the same before and after: point series raw and
bucketed, the rollup tiers' raw edges and quarantined hours, the alarm's readings
around its raise, the statistics' point-hours of a quarantined hour.  Instants
keep their microseconds, qualities their value, a disabled point its history.
The worker packs a day in bounded steps (whole points per step, the partition
refusing inserts meanwhile); the answers are also the same halfway through a
day.  Afterwards a reading of a packed day is refused per item (day_packed) and
nothing is stored twice; packed data takes at most 40 bytes per reading at a
10-second cadence (table, TOAST and indexes); retention deletes packed days."""
import random
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import PW, admin

TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
# three whole days, 12, 11 and 10 days old: packed with readings_pack_after_days=8
DAYS = [TODAY - timedelta(days=12 - k) for k in range(3)]
CADENCE_S = 10
PER_DAY = 86400 // CADENCE_S


def q(dt):
    return urllib.parse.quote(dt.isoformat())


def iso(dt):
    return dt.isoformat(timespec="microseconds")


class Env:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.a = self.ents["310113000001"]
        self.ht = self.a["points"]["hopper_temp"]
        self.pd = self.a["points"]["pressure_diff"]
        admin(self.db, "create-account", "--username", "a1.manager", "--role", "enterprise_manager",
              "--enterprise", self.a["code"])
        self.srv = None
        self.token = None

    def start(self, pack_after_days):
        # minute rollups kept 14 days: the "minute_tier" answers below read them on packed days
        # (with the default 7 retention drops them and those answers come from raw)
        self.srv = t.Server(self.db, worker_interval_ms=200, rollup_lag_s=60, series_cache_ms=0,
                            readings_pack_after_days=pack_after_days, rollup_minute_retention_days=14)
        st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": "a1.manager", "password": PW})
        assert st == 200, (st, body)
        self.token = body["token"]

    def stop(self):
        if self.srv:
            assert self.srv.stop() == 0, self.srv.logtext()
            self.srv = None

    def close(self):
        try:
            if self.srv:
                self.srv.stop()
        finally:
            self.db.drop()

    def get(self, path):
        st, _, body = self.srv.api("GET", path, headers={"Authorization": "Bearer " + self.token})
        assert st == 200, (path, st, body)
        return body

    def post(self, items):
        out = []
        for i in range(0, len(items), 5000):
            st, _, r = self.srv.ingest("POST", "/ingest/v1/readings", {"readings": items[i:i + 5000]},
                                       {"X-Api-Key": self.a["api_key"]})
            assert st == 200, (st, r)
            out.append(r)
        return out

    def system(self, sql):
        """SQL as the owner with the system scope (row-level security is forced on the owner too)."""
        return self.db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]

    def scalar(self, sql):
        return self.system(sql)[0][0]


def day_items(code, day, k, odd_us, qualities):
    """A day of 10-second readings of one point: a random walk with one decimal;
    odd_us: instants with odd microseconds (else whole milliseconds)."""
    rnd = random.Random(f"{code}-{k}")
    lo, hi = (20, 40) if code.endswith("01001") else (800, 1200)  # no limit is crossed
    v = (lo + hi) / 2
    items = []
    for i in range(PER_DAY):
        frac = timedelta(microseconds=(i * 7919) % 999983) if odd_us else timedelta(milliseconds=250 * (i % 4))
        v = round(min(max(v + rnd.uniform(-0.5, 0.5), lo), hi), 1)
        item = {"point": code, "ts": iso(day + timedelta(seconds=CADENCE_S * i) + frac), "value": v}
        if qualities:
            if i % 97 == 0:
                item["quality"] = "suspect"
            elif i % 89 == 0:
                item["quality"] = "bad"
            elif i % 2 == 0:
                item["quality"] = "good"
        items.append(item)
    return items


def answers(e):
    """Every API answer that reads raw readings of the old days, in a fixed order."""
    d0, d1, d2 = DAYS
    ht, pd = e.ht[1], e.pd[1]
    out = {}
    s = f"/api/v1/points/{{}}/series?from={{}}&to={{}}"
    for name, pid, frm, to, bucket in [
            ("raw", ht, d1 + timedelta(hours=1, seconds=1), d1 + timedelta(hours=3), 0),
            ("raw_midnight", ht, d0 + timedelta(hours=23), d1 + timedelta(hours=1), 0),
            ("raw_ms", pd, d1 + timedelta(hours=23), d2 + timedelta(hours=1), 0),
            ("bucketed_600", ht, d0 + timedelta(hours=1, seconds=3), d0 + timedelta(hours=3, minutes=30), 600),
            ("bucketed_90_three_days", pd, d0 + timedelta(seconds=7), d2 + timedelta(hours=23), 90),
            ("minute_tier", ht, d1 + timedelta(hours=5, seconds=30), d1 + timedelta(hours=20), 60),
            ("minute_tier_quarantine", pd, d1 + timedelta(hours=5, seconds=30), d1 + timedelta(hours=20), 60),
            ("hour_tier", pd, d0 + timedelta(minutes=30, seconds=1), d2 + timedelta(hours=22), 3600),
            ("hour_tier_quarantine", pd, d0, d2 + timedelta(days=1), 3600),
            ("auto_bucket_disabled", e.ents["310113000001"]["points"]["spark_detected"][1], d0,
             d2 + timedelta(days=1), None)]:
        path = s.format(pid, q(frm), q(to)) + ("" if bucket is None else f"&bucket={bucket}")
        body = e.get(path)
        out[name] = {k: body[k] for k in ("bucket_s", "items")}
        assert body["items"], (name, "the fixture has readings there")
    alarm = e.get(f"/api/v1/alarms/{e.alarm_id}")
    out["alarm_context"] = alarm["readings"]
    # the range is closed: the reading exactly 30 minutes after the raise is in it
    last = alarm["readings"]["items"][-1][0]
    assert abs(last / 1000 - (e.alarm_at + timedelta(minutes=30)).timestamp()) < 1e-6, alarm["readings"]
    assert len(alarm["readings"]["items"]) in (360, 361), len(alarm["readings"]["items"])
    return out


def explain(e, pid, frm, to, fn="dw_readings"):
    return "\n".join(r[0] for r in e.system(
        f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM {fn}({pid}, "
        f"'{frm.isoformat()}', '{to.isoformat()}')"))


def readings_of(e, fn, pid, frm, to):
    return e.system(f"SELECT collected_at, value, quality, enterprise_id FROM {fn}({pid}, "
                    f"'{frm.isoformat()}', '{to.isoformat()}') ORDER BY collected_at")


def test_packed_days_answer_the_same():
    e = Env()
    try:
        e.start(pack_after_days=0)
        # the spark point: a reading a minute, then disabled (its history stays readable)
        spark = e.a["points"]["spark_detected"][0]
        items = []
        for k, day in enumerate(DAYS):
            items += day_items(e.ht[0], day, k, odd_us=(k == 1), qualities=(k == 1))
            items += day_items(e.pd[0], day, k, odd_us=False, qualities=False)
            items += [{"point": spark, "ts": iso(day + timedelta(minutes=m, microseconds=17)), "value": 0}
                      for m in range(0, 1440, 7)]
        recent = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
        items += [{"point": e.ht[0], "ts": iso(recent + timedelta(seconds=10 * i)), "value": 25.5}
                  for i in range(60)]
        n_old = len(items) - 60
        for r in e.post(items):
            assert r["rejected"] == 0, r
        st, _, body = e.srv.api("PATCH", f"/api/v1/points/{e.a['points']['spark_detected'][1]}",
                                {"enabled": False}, {"Authorization": "Bearer " + admin_token(e)})
        assert st == 200, (st, body)
        # an alarm raised on the old day: its answer shows the readings 30 minutes around it
        i = 4500  # the odd-microsecond day's reading at 12:30
        raised = DAYS[1] + timedelta(seconds=CADENCE_S * i, microseconds=(i * 7919) % 999983) - timedelta(minutes=30)
        e.alarm_at = raised
        e.alarm_id = int(e.scalar(
            f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
            f"cleared_at, state, ack_deadline, handle_deadline) VALUES ({e.a['id']}, {e.ht[1]}, 'rule', "
            f"'limit', 'high', 1, 1, '{raised.isoformat()}', '{(raised + timedelta(minutes=5)).isoformat()}', "
            f"'active', '{raised.isoformat()}', '{raised.isoformat()}') RETURNING id"))
        # late readings are rolled up again before anything is compared (and packed)
        t.wait_for(lambda: e.scalar("SELECT count(*) FROM rollup_dirty") == "0", timeout=60,
                   what="late hours rolled up")
        # a quarantined hour: the series read it raw (and so does every statistic)
        e.system(f"SELECT dw_rollup_quarantine({e.pd[1]}, '{(DAYS[1] + timedelta(hours=10)).isoformat()}', "
                 f"'test: read raw')")
        before = answers(e)
        stats_before = statistics(e)
        assert int(e.scalar("SELECT count(*) FROM readings_packed")) == 0

        e.stop()
        # one bounded step by hand: whole points of the oldest day move (10,000 rows reach
        # into the second point), the horizon passes the day, the rest stays in its partition
        horizon = (TODAY - timedelta(days=8)).date().isoformat()
        day, moved, done = e.system(f"SELECT packed_day, packed_readings, day_done "
                                    f"FROM dw_readings_pack_next('{horizon}', 10000)")[0]
        assert (day, int(moved), done) == (DAYS[0].date().isoformat(), 2 * PER_DAY, "f")
        e.start(pack_after_days=0)
        assert answers(e) == before, "halfway through a day"
        assert statistics(e) == stats_before
        late = {"readings": [{"point": e.ht[0], "ts": iso(DAYS[0] + timedelta(hours=3, seconds=1)),
                              "value": 30}]}
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", late, {"X-Api-Key": e.a["api_key"]})
        assert st == 200 and [x["code"] for x in r["errors"]] == ["day_packed"], r
        # the race: a writer that read the horizon before the step moved it meets the partition's
        # trigger; the batch fails as a whole (retry), nothing is stored
        e.system("UPDATE readings_pack_state SET packed_before = NULL")
        st, hdrs, r = e.srv.ingest("POST", "/ingest/v1/readings", late, {"X-Api-Key": e.a["api_key"]})
        assert st == 503 and "retry-after" in hdrs, (st, r)
        e.system(f"UPDATE readings_pack_state SET packed_before = '{(DAYS[0] + timedelta(days=1)).date()}'")
        assert e.scalar(f"SELECT count(*) FROM dw_readings({e.ht[1]}, '{DAYS[0].isoformat()}', "
                        f"'{DAYS[1].isoformat()}')") == str(PER_DAY)
        e.stop()

        e.start(pack_after_days=8)
        t.wait_for(lambda: e.scalar("SELECT packed_before FROM readings_pack_state") == horizon,
                   timeout=60, what="the old days packed")
        for day in DAYS:
            assert e.scalar(f"SELECT to_regclass('readings_{day:%Y%m%d}') IS NULL") == "t", day
        rows = e.system("SELECT point_id, day, offsets_ms IS NOT NULL, offsets_us IS NOT NULL, "
                        "quals IS NOT NULL, cardinality(vals) FROM readings_packed ORDER BY 1, 2")
        assert len(rows) == 9, rows
        enc = {(int(p), d): (ms, us, ql) for p, d, ms, us, ql, _ in rows}
        d1 = DAYS[1].date().isoformat()
        assert enc[(e.ht[1], d1)] == ("f", "t", "t"), "odd microseconds: int8 offsets, qualities kept"
        assert enc[(e.pd[1], d1)] == ("t", "f", "f"), "whole milliseconds: int4 offsets, no qualities"
        assert sum(int(r[5]) for r in rows) == n_old
        st, _, body = t.request(e.srv.api_port, "GET", "/metrics")
        assert st == 200
        text = body.decode()
        assert "dustwatch_readings_packed_partitions_total 3\n" in text, text
        assert f"dustwatch_readings_packed_total {n_old - 2 * PER_DAY}\n" in text, text

        after = answers(e)
        for k in before:
            assert after[k] == before[k], k
        assert statistics(e) == stats_before

        # the planner keeps a recent single-point range on the partition index and
        # touches no packed row; an old range reads only its days' packed rows
        lo, hi = recent - timedelta(minutes=5), recent + timedelta(minutes=20)
        plan = explain(e, e.ht[1], lo, hi)
        # only the range's day partition (its index, or a scan of a few pages), no other day's;
        # the range spans two days when the test runs just after midnight UTC (a day without a
        # partition yet is not in the plan)
        days = {f"readings_{d:%Y%m%d}" for d in (lo, hi - timedelta(microseconds=1))}
        scanned = set(re.findall(r"on (readings_\d{8})", plan))
        assert scanned and scanned <= days, plan
        assert "Index Scan using readings_packed_pkey on readings_packed k (actual rows=0 loops=1)" in plan, plan
        assert "Function Scan on x (never executed)" in plan, plan
        plan = explain(e, e.ht[1], DAYS[1] + timedelta(hours=1), DAYS[1] + timedelta(hours=2))
        assert "Index Scan using readings_packed_pkey on readings_packed k (actual rows=1 loops=1)" in plan, plan
        assert "Function Scan on x (actual rows=360 loops=1)" in plan, plan
        # the series' inlined reads (dw_readings_lazy, migration 0144) answer the same rows; a
        # range from the horizon on has no packed scan in its plan, only the function scan of
        # the packed arm, never run; a range reaching a packed day reads its packed rows
        for pid, frm, to in [(e.ht[1], recent - timedelta(minutes=5), recent + timedelta(minutes=20)),
                             (e.ht[1], DAYS[1] + timedelta(hours=1), DAYS[1] + timedelta(hours=2)),
                             (e.pd[1], DAYS[0] + timedelta(seconds=7), recent + timedelta(hours=1))]:
            lazy = readings_of(e, "dw_readings_lazy", pid, frm, to)
            assert lazy and lazy == readings_of(e, "dw_readings", pid, frm, to), (pid, frm, to)
        plan = explain(e, e.ht[1], recent - timedelta(minutes=5), recent + timedelta(minutes=20),
                       "dw_readings_lazy")
        assert not re.search(r"\breadings_packed\b", plan), plan  # the table: no scan of it
        assert "Function Scan on dw_readings_packed_part k (never executed)" in plan, plan
        plan = explain(e, e.ht[1], DAYS[1] + timedelta(hours=1), DAYS[1] + timedelta(hours=2),
                       "dw_readings_lazy")
        assert "Function Scan on dw_readings_packed_part k (actual rows=360 loops=1)" in plan, plan

        # a reading of a packed day is refused per item, new or a repeat, and stores nothing
        n_packed = e.scalar("SELECT sum(cardinality(vals)) FROM readings_packed")
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": [
            {"point": e.ht[0], "ts": iso(DAYS[1] + timedelta(hours=12, microseconds=500001)), "value": 31},
            {"point": e.pd[0], "ts": iso(DAYS[2]), "value": 1000},
            {"point": e.ht[0], "ts": iso(recent + timedelta(minutes=11)), "value": 25.5}]},
            {"X-Api-Key": e.a["api_key"]})
        assert st == 200 and r["accepted"] == 1 and r["rejected"] == 2, r
        assert [x["code"] for x in r["errors"]] == ["day_packed", "day_packed"], r
        assert "packed" in r["errors"][0]["message"], r
        assert e.scalar("SELECT sum(cardinality(vals)) FROM readings_packed") == n_packed
        for day in DAYS:
            assert e.scalar(f"SELECT to_regclass('readings_{day:%Y%m%d}') IS NULL") == "t", day
        assert e.scalar(f"SELECT count(*) FROM dw_readings({e.ht[1]}, '{DAYS[1].isoformat()}', "
                        f"'{DAYS[2].isoformat()}')") == str(PER_DAY)
        # nothing can make the day a partition again
        p = e.db.sql(f"SELECT dw_ensure_readings_partition('{d1}')", check=False)
        assert p.returncode != 0 and "are packed" in p.stderr, (p.returncode, p.stderr)

        # storage: packed readings at a 10-second cadence, everything counted
        size = int(e.scalar("SELECT pg_total_relation_size('readings_packed')"))
        per = size / n_old
        print(f"packed: {size} bytes for {n_old} readings = {per:.1f} B/reading")
        assert per <= 40, per

        # retention deletes packed days with the partitions
        e.system(f"SELECT dw_drop_readings_partitions_before('{d1}')")
        assert e.scalar(f"SELECT count(*) FROM readings_packed WHERE day < '{d1}'") == "0"
        assert int(e.scalar("SELECT count(*) FROM readings_packed")) == 6
    finally:
        e.close()


_admin = {}


def admin_token(e):
    if "token" not in _admin:
        admin(e.db, "create-account", "--username", "packed.city", "--role", "city_admin", "--region",
              "310000")
        st, _, body = e.srv.api("POST", "/api/v1/auth/login", {"username": "packed.city", "password": PW})
        assert st == 200, (st, body)
        _admin["token"] = body["token"]
    return _admin["token"]


def statistics(e):
    """The statistics of three hours around the quarantined one: a part of a city day, so
    counted from rollup_hour, and the quarantined point-hour (no rollup row) from raw."""
    frm, to = DAYS[1] + timedelta(hours=9), DAYS[1] + timedelta(hours=12)
    st, _, body = e.srv.api("GET", f"/api/v1/statistics?period=custom&from={q(frm)}&to={q(to)}"
                            "&group=enterprise", headers={"Authorization": "Bearer " + admin_token(e)})
    assert st == 200, (st, body)
    rows = [r for r in body["rows"] if r.get("code") == e.a["code"]]
    assert rows, body
    # two enabled points with data in each of the three hours, the quarantined one included
    assert rows[0]["point_hours_with_data"] == 6, rows
    return rows


if __name__ == "__main__":
    t.run([test_packed_days_answer_the_same])
