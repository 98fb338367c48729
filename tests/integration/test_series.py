"""Readings: minute and hourly rollups kept by the worker equal the raw
aggregates (also after a back-fill), the series endpoint answers from the
right tier with the same numbers as raw data, and latest values come from
Redis when it has them and from PostgreSQL otherwise, with the same answer."""
import re
import subprocess
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import PW, admin

ORIGIN_UTC = "timestamptz '2000-01-01 00:00:00+00'"
ORIGIN_BJ = "timestamptz '2000-01-01 00:00:00+08'"


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


def q(dt):
    return urllib.parse.quote(dt.isoformat())


class Env:
    """Fixture city, an enterprise manager of A1 and a server with a fast worker."""

    def __init__(self, roles="ingest,api,worker", **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.a = self.ents["310113000001"]
        admin(self.db, "create-account", "--username", "a1.manager", "--role", "enterprise_manager",
              "--enterprise", self.a["code"])
        cfg.setdefault("worker_interval_ms", 200)
        cfg.setdefault("rollup_lag_s", 60)
        # back-fills ten days ago: days older than readings_pack_after_days would be packed
        # and refuse them (test_readings_packed.py covers packing)
        cfg.setdefault("readings_pack_after_days", 0)
        self.srv = t.Server(self.db, roles=roles, **cfg)
        self.token = self.login()

    def login(self):
        st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": "a1.manager", "password": PW})
        assert st == 200, (st, body)
        return body["token"]

    def get(self, path):
        st, _, body = self.srv.api("GET", path, headers={"Authorization": "Bearer " + self.token})
        assert st == 200, (path, st, body)
        return body

    def post(self, items):
        for i in range(0, len(items), 5000):
            st, _, r = self.srv.ingest("POST", "/ingest/v1/readings", {"readings": items[i:i + 5000]},
                                       {"X-Api-Key": self.a["api_key"]})
            assert st == 200 and r["rejected"] == 0, (st, r)

    def system(self, sql):
        """SQL as the owner with the system scope (row-level security is forced on the owner too)."""
        return self.db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]

    def wait_rolled(self, timeout=30):
        """Until the worker has rolled up to now - lag and no late hour is queued."""
        target = now_utc() - timedelta(seconds=61 + 60)

        def done():
            r = self.system("SELECT rolled_to >= '%s'::timestamptz AND NOT EXISTS (SELECT FROM rollup_dirty) "
                            "FROM rollup_state" % target.isoformat())
            return r == [["t"]]
        t.wait_for(done, timeout=timeout, what="rollups caught up")

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def reading(code, ts, v):
    return {"point": code, "ts": ts.isoformat(), "value": v}


def load_history(e, now):
    """Two days of one reading a minute on hopper_temp and one every 20 s on
    pressure_diff.  Values are multiples of 1/4, so every sum is exact in any
    order and the comparisons below can be exact."""
    ht = e.a["points"]["hopper_temp"][0]
    pd = e.a["points"]["pressure_diff"][0]
    start = now - timedelta(days=2)
    items = [reading(ht, start + timedelta(minutes=i), 20 + (i * 7 % 41) * 0.25) for i in range(2 * 1440)]
    items += [reading(pd, start + timedelta(seconds=20 * i), 500 + (i * 13 % 97) * 0.5) for i in range(3 * 2 * 1440)]
    e.post(items)


def rollup_mismatches(e, table, g):
    """Rows where the rollup table and the raw aggregate (up to rolled_to) differ, both ways."""
    raw = (f"SELECT point_id, date_bin('{g}', collected_at, {ORIGIN_UTC}) AS bucket, count(*)::int AS n, "
           f"min(value) AS vmin, max(value) AS vmax, sum(value) AS vsum FROM readings "
           f"WHERE collected_at < (SELECT rolled_to FROM rollup_state) GROUP BY 1, 2")
    tier = (f"SELECT point_id, bucket, n, vmin, vmax, vsum FROM {table} "
            f"WHERE bucket < date_bin('{g}', (SELECT rolled_to FROM rollup_state), {ORIGIN_UTC})")
    # the hour holding rolled_to is partial in rollup_hour, so compare whole buckets only
    raw = f"SELECT * FROM ({raw}) r WHERE bucket < date_bin('{g}', (SELECT rolled_to FROM rollup_state), {ORIGIN_UTC})"
    return e.system(f"({raw} EXCEPT {tier}) UNION ALL ({tier} EXCEPT {raw})")


def raw_series(e, pid, frm, to, bucket):
    rows = e.system(f"SELECT (extract(epoch FROM date_bin('{bucket} seconds', collected_at, {ORIGIN_BJ})) * 1000)::bigint, "
                    f"min(value), max(value), round(avg(value)::numeric, 3)::float8, count(*) FROM readings "
                    f"WHERE point_id = {pid} AND collected_at >= '{frm.isoformat()}' AND collected_at < '{to.isoformat()}' "
                    f"GROUP BY 1 ORDER BY 1")
    return [[int(r[0]), float(r[1]), float(r[2]), float(r[3]), int(r[4])] for r in rows]


def api_series(e, pid, frm, to, bucket=None):
    path = f"/api/v1/points/{pid}/series?from={q(frm)}&to={q(to)}"
    if bucket is not None:
        path += f"&bucket={bucket}"
    s = e.get(path)
    return s["bucket_s"], [[int(i[0]), float(i[1]), float(i[2]), float(i[3]), int(i[4])] for i in s["items"]]


def test_rollups_equal_raw_also_after_backfill():
    e = Env()
    try:
        now = now_utc()
        load_history(e, now)
        e.wait_rolled()
        assert int(e.system("SELECT count(*) FROM rollup_minute")[0][0]) > 2 * 1440, "no minute rollups"
        for table, g in (("rollup_minute", "1 minute"), ("rollup_hour", "1 hour")):
            assert rollup_mismatches(e, table, g) == [], table

        # back-fill: a gateway's buffer for an hour that already has rollups
        # (extra readings at :30.5 s) and for an hour ten days ago that had none
        ht = e.a["points"]["hopper_temp"]
        old_hour = (now - timedelta(days=1)).replace(minute=0, second=0)
        far = (now - timedelta(days=10)).replace(minute=0, second=0)
        # (history is on whole seconds: half a second never collides with it)
        late = [reading(ht[0], old_hour + timedelta(minutes=i, seconds=30.5), 90.25 + i) for i in range(60)]
        late += [reading(ht[0], far + timedelta(minutes=i), 10 + i * 0.5) for i in range(60)]
        e.post(late)
        hours = e.system(f"SELECT hour FROM rollup_dirty WHERE point_id = {ht[1]} ORDER BY hour")
        # the worker may already have taken them; either way the API must agree with raw meanwhile
        frm, to = now - timedelta(days=11, minutes=7), now
        assert api_series(e, ht[1], frm, to, 3600)[1] == raw_series(e, ht[1], frm, to, 3600)
        e.wait_rolled()
        for table, g in (("rollup_minute", "1 minute"), ("rollup_hour", "1 hour")):
            assert rollup_mismatches(e, table, g) == [], (table, hours)
        n, mx = e.system(f"SELECT n, vmax FROM rollup_hour WHERE point_id = {ht[1]} AND bucket = '{far.isoformat()}'")[0]
        assert (n, mx) == ("60", "39.5"), (n, mx)
        n = e.system(f"SELECT n FROM rollup_hour WHERE point_id = {ht[1]} AND bucket = '{old_hour.isoformat()}'")[0][0]
        assert n == "120", n
    finally:
        e.close()


def tamper(e, table, pid, bucket, vmax):
    e.system(f"UPDATE {table} SET vmax = {vmax} WHERE point_id = {pid} AND bucket = '{bucket.isoformat()}'")


def test_series_tiers_answer_like_raw():
    e = Env()
    try:
        now = now_utc()
        load_history(e, now)
        e.wait_rolled()
        for kind in ("hopper_temp", "pressure_diff"):
            pid = e.a["points"][kind][1]
            # unaligned ends exercise the raw head and tail around the rollup rows;
            # `to` past now includes the part not rolled up yet
            frm, to = now - timedelta(days=2, minutes=13, seconds=17), now + timedelta(minutes=1)
            for bucket in (3600, 600, 60, 86400, 300, 45):
                b, items = api_series(e, pid, frm, to, bucket)
                assert b == bucket and items == raw_series(e, pid, frm, to, bucket), (kind, bucket)
                assert items and sum(i[4] for i in items) == int(e.system(
                    f"SELECT count(*) FROM readings WHERE point_id = {pid} AND collected_at >= '{frm.isoformat()}'")[0][0])

        pid = e.a["points"]["hopper_temp"][1]
        hour = (now - timedelta(days=1)).replace(minute=0, second=0)
        # a year, default bucket: a day per bucket, from the hourly rollup
        # (proved by a rollup row changed behind the API's back)
        tamper(e, "rollup_hour", pid, hour, 5000)
        b, items = api_series(e, pid, now - timedelta(days=365), now + timedelta(minutes=1))
        assert b == 86400 and max(i[2] for i in items) == 5000, (b, items[-3:])
        rows = int(e.system(f"SELECT count(*) FROM rollup_hour WHERE point_id = {pid} "
                            f"AND bucket >= now() - interval '365 days'")[0][0])
        assert rows <= 8784, rows
        # a week, default bucket: hours, from the hourly rollup as well
        b, items = api_series(e, pid, now - timedelta(days=7), now + timedelta(minutes=1))
        assert b == 3600 and max(i[2] for i in items) == 5000, b
        # 10-minute buckets over two days: the minute rollup
        tamper(e, "rollup_minute", pid, hour + timedelta(minutes=5), 6000)
        b, items = api_series(e, pid, now - timedelta(days=2), now, 600)
        assert max(i[2] for i in items) == 6000, "minute tier not used"
        # short ranges and raw requests read the readings themselves
        frm, to = hour - timedelta(minutes=30), hour + timedelta(minutes=90)
        assert api_series(e, pid, frm, to, 3600)[1] == raw_series(e, pid, frm, to, 3600)
        assert max(i[2] for i in api_series(e, pid, frm, to, 60)[1]) < 5000
        s = e.get(f"/api/v1/points/{pid}/series?from={q(frm)}&to={q(to)}&bucket=0")
        assert s["bucket_s"] == 0 and len(s["items"]) == 120, len(s["items"])
        # without a worker: a late reading in a rolled-up hour is answered from
        # raw (rollup_dirty) until the rollup is recomputed
        assert e.srv.stop() == 0
        e.srv = t.Server(e.db, roles="ingest,api")
        e.token = e.login()
        pd = e.a["points"]["pressure_diff"]
        late_hour = (now - timedelta(hours=20)).replace(minute=0, second=0)
        e.post([reading(pd[0], late_hour + timedelta(minutes=1, seconds=1.5), 4321.5)])
        assert e.system(f"SELECT hour = '{late_hour.isoformat()}' FROM rollup_dirty WHERE point_id = {pd[1]}") == [["t"]]
        frm, to = now - timedelta(days=2), now
        b, items = api_series(e, pd[1], frm, to, 3600)
        assert items == raw_series(e, pd[1], frm, to, 3600) and max(i[2] for i in items) == 4321.5
        # a second late hour a day earlier: the dirty hours are read raw as one range filtered
        # to those hours, so a rolled-up hour between them still comes from its rollup row
        # (changed behind the API's back), once
        # (half a second off the history's 20 s grid, as the first one: that grid falls on now's
        # second modulo 20, so at 2 min 3 s it hit a history reading whenever now's second was
        # 3, 23 or 43, and the reading, a conflicting duplicate, queued nothing)
        early_hour = late_hour - timedelta(hours=24)
        e.post([reading(pd[0], early_hour + timedelta(minutes=2, seconds=3.5), 4320.25)])
        assert e.system(f"SELECT count(*) FROM rollup_dirty WHERE point_id = {pd[1]}") == [["2"]]
        between = late_hour - timedelta(hours=10)
        tamper(e, "rollup_hour", pd[1], between, 7777)
        # (another `to` each time: the same range's answer is reused for a few seconds)
        to = to + timedelta(seconds=1)
        b, items = api_series(e, pd[1], frm, to, 3600)
        raw = raw_series(e, pd[1], frm, to, 3600)
        k = int(between.timestamp()) * 1000
        assert [i for i in items if i[0] != k] == [i for i in raw if i[0] != k]
        assert [i for i in items if i[0] == k] == [[k, r[1], 7777.0, r[3], r[4]] for r in raw if r[0] == k]
        assert [i[2] for i in items if i[0] == int(early_hour.timestamp()) * 1000] == [4320.25]
        # the rollups a day and a half behind (a stopped worker): everything after rolled_to
        # is read raw, the last day and the rest before it
        e.system(f"UPDATE rollup_state SET rolled_to = date_bin('1 hour', now() - interval '36 hours', "
                 f"{ORIGIN_UTC})")
        to = to + timedelta(seconds=1)
        b, items = api_series(e, pd[1], frm, to, 3600)
        assert items == raw_series(e, pd[1], frm, to, 3600)
    finally:
        e.close()


def minute_partitions(e):
    return [r[0] for r in e.system("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                   "WHERE i.inhparent = 'rollup_minute'::regclass ORDER BY 1")]


def test_minute_rollups_kept_a_week_by_day():
    """Minute rollups live in daily partitions (migration 0139); retention drops every day
    wholly older than rollup_minute_retention_days (7) and moves rollup_state.minute_from.
    Sub-hour series across that cutoff, after it and from before it equal raw aggregates,
    before and after the drop, also once the setting is raised again (the statement reads
    raw below minute_from, whatever the setting says)."""
    # nothing dropped while the history is loaded; answers computed afresh after each change
    e = Env(rollup_minute_retention_days=0, series_cache_ms=0)
    try:
        now = now_utc()
        ht = e.a["points"]["hopper_temp"]
        start = (now - timedelta(days=10)).replace(minute=0, second=0)
        n = int((now - timedelta(minutes=10) - start).total_seconds() // 60)
        e.post([reading(ht[0], start + timedelta(minutes=i), 20 + (i * 7 % 41) * 0.25) for i in range(n)])
        e.wait_rolled(timeout=120)
        names = minute_partitions(e)
        assert names and all(re.fullmatch(r"rollup_minute_\d{8}", x) for x in names), names
        assert f"rollup_minute_{start:%Y%m%d}" in names, names
        cutoff = (now - timedelta(days=7)).replace(hour=0, minute=0, second=0)
        ranges = [  # (from, to, bucket): all sub-hour, ranges of 8 h to 5 days
            (now - timedelta(days=7, hours=6), now - timedelta(days=6, hours=6), 300),  # across now - 7 d
            (cutoff - timedelta(hours=3, seconds=11), cutoff + timedelta(hours=5), 60),  # across the dropped day's end
            (now - timedelta(days=7) + timedelta(hours=2, seconds=7), now - timedelta(days=5), 600),  # after it
            (now - timedelta(days=9, seconds=13), now - timedelta(days=4), 900),  # from a dropped day
            (cutoff + timedelta(minutes=1), cutoff + timedelta(days=1), 120)]  # the oldest day kept

        def check(what):
            for frm, to, bucket in ranges:
                b, items = api_series(e, ht[1], frm, to, bucket)
                assert items and b == bucket and items == raw_series(e, ht[1], frm, to, bucket), (what, frm, bucket)
        check("all minute rows kept")
        kept = int(e.system(f"SELECT count(*) FROM rollup_minute WHERE bucket >= '{cutoff.isoformat()}'")[0][0])

        def restart(**cfg):
            assert e.srv.stop() == 0, e.srv.logtext()
            e.srv = t.Server(e.db, worker_interval_ms=200, rollup_lag_s=60, readings_pack_after_days=0,
                             series_cache_ms=0, **cfg)
            e.token = e.login()
        restart()  # the default: 7 days
        t.wait_for(lambda: min(minute_partitions(e)) == f"rollup_minute_{cutoff:%Y%m%d}", timeout=30,
                   what="the days older than a week dropped")
        assert e.system("SELECT minute_from = '%s' FROM rollup_state" % cutoff.isoformat()) == [["t"]]
        assert e.system(f"SELECT count(*) FROM rollup_minute WHERE bucket < '{cutoff.isoformat()}'") == [["0"]]
        assert int(e.system(f"SELECT count(*) FROM rollup_minute WHERE bucket >= '{cutoff.isoformat()}'")[0][0]) >= kept
        check("after retention")
        # a late reading on a dropped day (not packed: readings_pack_after_days=0): its hour is
        # rolled up again into a new partition of that day, which nothing reads (below
        # minute_from) until the next maintenance drops it again
        late = cutoff - timedelta(hours=12, seconds=-30)
        e.post([reading(ht[0], late, 99.25)])
        e.wait_rolled()
        assert f"rollup_minute_{late:%Y%m%d}" in minute_partitions(e)
        check("late reading on a dropped day")
        restart(rollup_minute_retention_days=30)
        assert min(minute_partitions(e)) == f"rollup_minute_{late:%Y%m%d}"
        assert e.system("SELECT minute_from = '%s' FROM rollup_state" % cutoff.isoformat()) == [["t"]]
        check("setting raised after the drop")
    finally:
        e.close()


def stable(items):
    """The point list without `online`, which depends on the second it is computed."""
    return [{k: v for k, v in p.items() if k != "online"} for p in items]


def test_latest_from_redis_equals_postgres_and_survives_redis_loss():
    rd = t.PrivateRedis()
    e = Env(roles="ingest,api", redis_url=rd.url)
    try:
        now = now_utc()
        ht, pd = e.a["points"]["hopper_temp"], e.a["points"]["pressure_diff"]
        # values whose shortest text and %.17g text differ: the same double must come back
        e.post([reading(ht[0], now - timedelta(seconds=5), 41.1),
                reading(ht[0], now - timedelta(seconds=90), 40.0),
                reading(pd[0], now - timedelta(seconds=20), 0.1)])
        e.post([{"point": pd[0], "ts": (now - timedelta(seconds=10, microseconds=-123456)).isoformat(),
                 "value": 880.5, "quality": "suspect"}])
        path = f"/api/v1/enterprises/{e.a['id']}/points"
        key = "dw:latest:" + str(e.a["id"])
        first = e.get(path)["items"]  # the hash lacks :complete: PostgreSQL answers and copies
        t.wait_for(lambda: rd.cli("HGET", key, ":complete") == "1", what="full copy in redis")
        from_redis = e.get(path)["items"]
        assert stable(from_redis) == stable(first), (from_redis, first)
        hp = [p for p in from_redis if p["code"] == ht[0]][0]
        assert hp["latest"]["value"] == 41.1 and hp["online"] is True, hp
        assert hp["latest"]["ts"] == (now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"), hp
        spark = [p for p in from_redis if p["kind"] == "spark_detected"][0]
        assert spark["latest"] is None and spark["online"] is False, spark

        # the answer really comes from Redis: a value planted there shows
        planted = '{"ts_us":%d,"v":77.5,"q":0}' % (int(now.timestamp()) * 1000000)
        rd.cli("HSET", key, ht[0], planted)
        assert [p for p in e.get(path)["items"] if p["code"] == ht[0]][0]["latest"]["value"] == 77.5
        rd.cli("DEL", key)
        e.get(path)
        t.wait_for(lambda: rd.cli("HGET", key, ":complete") == "1", what="copy again")

        # back-fill: neither store moves backwards; a newer reading moves both
        before = rd.cli("HGET", key, ht[0])
        e.post([reading(ht[0], now - timedelta(hours=3), 11.0)])
        e.post([reading(ht[0], now + timedelta(seconds=1), 43.25)])
        t.wait_for(lambda: '"v":43.25' in rd.cli("HGET", key, ht[0]), what="newer value in redis")
        e.post([reading(ht[0], now - timedelta(minutes=30), 12.0)])
        time.sleep(0.5)  # the publisher runs after the ingest reply
        assert '"v":43.25' in rd.cli("HGET", key, ht[0]) and before != rd.cli("HGET", key, ht[0])
        assert e.db.scalar(f"SELECT value FROM point_latest WHERE point_id = {ht[1]}") == "43.25"
        from_redis = e.get(path)["items"]
        assert [p for p in from_redis if p["code"] == ht[0]][0]["latest"]["value"] == 43.25

        # a system filter; a malformed one is refused
        only = e.get(path + f"?system_id={e.a['system_id']}")["items"]
        assert stable(only) == stable(from_redis) and len(only) == 3, only
        assert e.get(path + "?system_id=999999")["items"] == []
        st, _, body = e.srv.api("GET", path + "?system_id=x", headers={"Authorization": "Bearer " + e.token})
        assert st == 400 and body["code"], (st, body)
        # another enterprise stays invisible, whatever Redis holds
        other = e.ents["310114000001"]
        rd.cli("HSET", "dw:latest:" + str(other["id"]), ":complete", "1")
        st, _, _ = e.srv.api("GET", f"/api/v1/enterprises/{other['id']}/points",
                             headers={"Authorization": "Bearer " + e.token})
        assert st == 404, st

        # Redis gone: the same answer from PostgreSQL, without waiting on Redis
        rd.stop()
        t0 = time.time()
        for _ in range(5):
            assert stable(e.get(path)["items"]) == stable(from_redis)
        assert time.time() - t0 < 3, time.time() - t0
        e.post([reading(ht[0], now + timedelta(seconds=2), 44.5)])
        assert [p for p in e.get(path)["items"] if p["code"] == ht[0]][0]["latest"]["value"] == 44.5
        # back, empty: answered from PostgreSQL, copied again, then from Redis
        rd.start()
        t.wait_for(lambda: e.get(path) and rd.cli("HGET", key, ":complete") == "1", timeout=20,
                   what="copy after redis came back")
        assert '"v":44.5' in rd.cli("HGET", key, ht[0])
        assert [p for p in e.get(path)["items"] if p["code"] == ht[0]][0]["latest"]["value"] == 44.5
    finally:
        e.close()
        rd.stop()


def test_late_reading_committing_during_a_fill_is_not_lost():
    """A late reading for an hour already queued, whose transaction is still
    open while the worker recomputes that hour, must still reach the rollups
    (migrations 0014 and 0143: the reading's own queue row, invisible to the
    worker until it commits, stays for the next tick)."""
    db = t.Database()
    try:
        ents = fixtures.make_city(db)
        pid = ents["310113000001"]["points"]["hopper_temp"][1]
        eid = ents["310113000001"]["id"]
        sysq = lambda sql: db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]
        sysq("SELECT dw_ensure_readings_partition(current_date), dw_ensure_readings_partition(current_date - 1);"
             f"UPDATE rollup_state SET marked_to = date_bin('1 hour', now(), {ORIGIN_UTC}), "
             f"rolled_to = date_bin('1 hour', now(), {ORIGIN_UTC});")
        hour = sysq(f"SELECT date_bin('1 hour', now(), {ORIGIN_UTC}) - interval '1 hour'")[0][0]
        ins = (f"INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) "
               f"VALUES ({pid}, '{hour}'::timestamptz + interval '%s minutes', %s, 0, {eid});")
        sysq(ins % (10, 1))
        assert sysq(f"SELECT count(*) FROM rollup_dirty WHERE point_id = {pid}") == [["1"]]
        # a second late batch for the same hour, committing only after the fill started
        slow = subprocess.Popen(
            [t.PGBIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", t.PG_PORT,
             "-U", "dwadmin", "-d", db.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        slow.stdin.write("BEGIN; SELECT set_config('dw.scope', 'system', true);\n" + (ins % (20, 100)) +
                         "\nSELECT pg_sleep(2.5); COMMIT;\n")
        slow.stdin.close()
        time.sleep(1.0)
        sysq("SELECT * FROM dw_rollup_fill(100)")
        assert slow.wait(timeout=30) == 0, slow.stderr.read()
        sysq("SELECT * FROM dw_rollup_fill(100)")
        raw = sysq(f"SELECT count(*), sum(value) FROM readings WHERE point_id = {pid}")
        rolled = sysq(f"SELECT n, vsum FROM rollup_hour WHERE point_id = {pid} AND bucket = '{hour}'")
        assert raw == [["2", "101"]] and rolled == [["2", "101"]], (raw, rolled)
    finally:
        db.drop()


class Session:
    """A psql session (t.psql_session) run step by step: each step ends by renaming the
    session, so a step has finished once the new name shows in pg_stat_activity, and waits
    when the backend waits on a lock before getting there."""

    def __init__(self, db, name):
        self.db, self.name, self.n = db, name, 0
        self.p = t.psql_session(db.name, name)
        self.pid = t.wait_for(lambda: db.scalar(f"SELECT pid FROM pg_stat_activity WHERE application_name = '{name}'"),
                              what=f"{name} connected")

    def step(self, sql):
        """Sends sql; answers 'done' once it finished, 'waits' while it waits on a lock (left
        waiting), 'exited' if psql stopped (an error: ON_ERROR_STOP)."""
        self.n += 1
        mark = f"{self.name}_{self.n}"
        self.p.stdin.write(f"{sql}\nSET application_name = '{mark}';\n")
        self.p.stdin.flush()

        def state():
            if self.p.poll() is not None:
                return "exited"
            r = self.db.sql(f"SELECT application_name, coalesce(wait_event_type, '') FROM pg_stat_activity "
                            f"WHERE pid = {self.pid}")
            if r and r[0][0] == mark:
                return "done"
            if r and r[0][1] == "Lock":
                return "waits"
            return None
        return t.wait_for(state, what=f"{mark} finished or waiting")

    def close(self):
        """Ends the session; its exit code (0: every statement succeeded)."""
        self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        self.p = None
        return rc

    def kill(self):
        if self.p:
            self.p.kill()
            self.p.wait()


def late_setup(db):
    """A city whose rollups are marked and rolled up to the current hour (no worker), and a
    function writing one reading: every reading before that hour is late."""
    ents = fixtures.make_city(db)
    a = ents["310113000001"]
    sysq = lambda sql: db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]
    sysq("SELECT dw_ensure_readings_partition(current_date), dw_ensure_readings_partition(current_date - 1);"
         f"UPDATE rollup_state SET marked_to = date_bin('1 hour', now(), {ORIGIN_UTC}), "
         f"rolled_to = date_bin('1 hour', now(), {ORIGIN_UTC});")
    hour = sysq(f"SELECT date_bin('1 hour', now(), {ORIGIN_UTC})")[0][0]

    def ins(pid, hours_back, minute, value):
        return (f"INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) VALUES ({pid}, "
                f"'{hour}'::timestamptz - interval '{hours_back} hours' + interval '{minute} minutes', {value}, 0, "
                f"{a['id']});")
    return a, sysq, hour, ins


BEGIN_SYSTEM = "BEGIN; SELECT set_config('dw.scope', 'system', true);"


def test_late_writers_of_the_same_hours_do_not_wait_for_each_other():
    """Two ingest transactions storing late readings of the same point-hours, in opposite
    orders, both open at once: neither waits for the other and both commit (migration 0143).
    Before, each queued its point-hours with an upsert on rollup_dirty's key that held the row
    until its commit: the second writer waited for the first (lock_timeout, 503 under
    back-filled load) and the two orders deadlocked.  Every reading reaches the rollups."""
    db = t.Database()
    a_s = b_s = None
    try:
        a, sysq, hour, ins = late_setup(db)
        p1, p2 = a["points"]["hopper_temp"][1], a["points"]["pressure_diff"][1]
        sysq(ins(p1, 1, 10, 1))  # p1's hour already queued and committed, p2's not
        a_s, b_s = Session(db, "writer_a"), Session(db, "writer_b")
        assert a_s.step(BEGIN_SYSTEM + ins(p1, 1, 20, 2)) == "done"
        assert b_s.step(BEGIN_SYSTEM + ins(p2, 2, 20, 4)) == "done"
        assert a_s.step(ins(p2, 2, 30, 8)) == "done", "writer a waited for writer b's queued hour"
        assert b_s.step(ins(p1, 1, 30, 16)) == "done", "writer b waited for writer a's queued hour"
        assert a_s.step("COMMIT;") == "done" and b_s.step("COMMIT;") == "done"
        assert a_s.close() == 0 and b_s.close() == 0
        # the point-hours once each in what the worker and monitoring count
        assert sysq("SELECT count(DISTINCT (point_id, hour)) FROM rollup_dirty") == [["2"]]
        assert sysq("SELECT dirty_done, dirty_left FROM dw_rollup_fill(100)") == [["2", "0"]]
        assert sysq("SELECT count(*) FROM rollup_dirty") == [["0"]]
        rolled = sysq(f"SELECT point_id = {p1}, n, vsum FROM rollup_hour ORDER BY 1 DESC")
        assert rolled == [["t", "3", "19"], ["f", "2", "12"]], rolled
    finally:
        for s in (a_s, b_s):
            if s:
                s.kill()
        db.drop()


def test_late_writer_does_not_wait_for_the_rollup_and_is_not_lost():
    """The worker's step has taken a queued point-hour and recomputed it, its transaction
    still open, when a late reading of that hour is stored: the writer does not wait for the
    worker (before migration 0143 it waited on the queue row the worker deleted, until the
    worker committed), and the reading, committed after the worker's snapshot, stays queued
    and is in the rollup after the next step (the invariant of migration 0014)."""
    db = t.Database()
    w_s = l_s = None
    try:
        a, sysq, hour, ins = late_setup(db)
        pid = a["points"]["hopper_temp"][1]
        sysq(ins(pid, 1, 10, 1))
        w_s, l_s = Session(db, "rollup_worker"), Session(db, "late_writer")
        assert w_s.step(BEGIN_SYSTEM + "SELECT * FROM dw_rollup_fill(100);") == "done"
        assert l_s.step(BEGIN_SYSTEM + ins(pid, 1, 20, 100)) == "done", "the late writer waited for the rollup"
        assert l_s.step("COMMIT;") == "done"
        assert w_s.step("COMMIT;") == "done"
        assert w_s.close() == 0 and l_s.close() == 0
        h = sysq(f"SELECT '{hour}'::timestamptz - interval '1 hour'")[0][0]
        rolled = lambda: sysq(f"SELECT n, vsum FROM rollup_hour WHERE point_id = {pid} AND bucket = '{h}'")
        # the worker's step did not see the reading; its hour is still queued (the series reads raw)
        assert rolled() == [["1", "1"]]
        assert sysq(f"SELECT count(*) FROM rollup_dirty WHERE point_id = {pid} AND hour = '{h}'") == [["1"]]
        assert sysq("SELECT dirty_done, dirty_left FROM dw_rollup_fill(100)") == [["1", "0"]]
        assert rolled() == [["2", "101"]]
    finally:
        for s in (w_s, l_s):
            if s:
                s.kill()
        db.drop()


if __name__ == "__main__":
    t.run([
        test_rollups_equal_raw_also_after_backfill,
        test_series_tiers_answer_like_raw,
        test_minute_rollups_kept_a_week_by_day,
        test_latest_from_redis_equals_postgres_and_survives_redis_loss,
        test_late_reading_committing_during_a_fill_is_not_lost,
        test_late_writers_of_the_same_hours_do_not_wait_for_each_other,
        test_late_writer_does_not_wait_for_the_rollup_and_is_not_lost,
    ])
