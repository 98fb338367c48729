"""Upgrades (docs/reliability.md, recovery; deploy/README.md "Upgrade and
rollback").

* A database migrated by an older build (the migration files before 0139:
  migrations are append-only, so those files are byte for byte what that
  build shipped), populated, is migrated by this build: `migrate` applies the
  rest, `migrate --check` says current, the data is all there and the server
  serves it.  Its minute rollups in a monthly partition (before migration 0139) keep
  answering the series, the fill keeps writing into that month, and retention drops
  it whole.
* A database that records a migration this build does not have (a newer
  build migrated it, then the binary was rolled back) makes `dustwatch serve`
  refuse to start with a clear error, and `migrate --check` / `migrate` refuse
  too; nothing is changed."""
import glob
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import PW, admin

# The older build is the one before migration 0139 (minute rollups kept by the day), whose
# monthly minute partitions the test upgrades: a fixed count of files back moved past 0139 as
# migrations were added.
FIRST_NEW = "0139_"


def migration_files():
    return sorted(glob.glob(os.path.join(t.SRC, "migrations", "[0-9][0-9][0-9][0-9]_*.sql")))


def system(db, sql):
    """SQL as the owner with the system scope (row-level security is forced on the owner too)."""
    return db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]


def test_database_of_an_older_build_is_migrated_and_served():
    files = migration_files()
    BACK = sum(1 for p in files if os.path.basename(p) >= FIRST_NEW)
    assert len(files) > BACK + 5 and BACK >= 10, files
    old = tempfile.mkdtemp(prefix="dw-old-migrations-")
    db = t.Database(migrate=False)
    srv = None
    try:
        for p in files[:-BACK]:
            shutil.copy(p, old)
        r = db.migrate("--dir", old)
        assert r.returncode == 0, r.stderr
        assert db.scalar("SELECT count(*) FROM schema_migrations") == str(len(files) - BACK)
        r = db.migrate("--check")
        assert r.returncode == 1 and f"{len(files) - BACK} of {len(files)} migrations applied" in r.stdout + r.stderr, \
            (r.returncode, r.stdout, r.stderr)
        # populate through the old schema
        ents = fixtures.make_city(db)
        a1 = next(iter(ents.values()))
        pid = a1["points"]["hopper_temp"][1]
        db.sql(f"""SELECT dw_ensure_readings_partition((now() AT TIME ZONE 'UTC')::date);
                   INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id)
                   SELECT {pid}, now() - make_interval(secs => g), 30 + g % 5, 0, {a1['id']}
                   FROM generate_series(1, 100) g""")
        # five hours of a reading a minute on another point, rolled up by the old worker's
        # functions into monthly minute partitions
        pd = a1["points"]["pressure_diff"][1]
        db.sql(f"""SELECT set_config('dw.scope', 'system', false);
                   SELECT dw_ensure_readings_partition(((now() - interval '5 hours') AT TIME ZONE 'UTC')::date);
                   INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id)
                   SELECT {pd}, date_trunc('minute', now()) - make_interval(mins => g), 500 + g % 7 * 0.5, 0,
                          {a1['id']} FROM generate_series(1, 300) g;
                   SELECT dw_rollup_mark('0 seconds', '1 day');
                   SELECT * FROM dw_rollup_fill(1000);""")
        legacy = sorted(r[0] for r in system(db, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON "
                                                 "c.oid = i.inhrelid WHERE i.inhparent = 'rollup_minute'::regclass"))
        assert legacy and all(len(x) == len("rollup_minute_YYYYMM") for x in legacy), legacy
        assert int(system(db, f"SELECT count(*) FROM rollup_minute WHERE point_id = {pd}")[0][0]) >= 240
        # a late reading queued by the old trigger (one row per point-hour, rollup_dirty's key)
        late_hour = system(db, "SELECT date_bin('1 hour', now() - interval '2 hours', "
                               "timestamptz '2000-01-01 00:00:00+00')")[0][0]
        late = ("SELECT set_config('dw.scope', 'system', false); INSERT INTO readings (point_id, collected_at, "
                f"value, quality, enterprise_id) VALUES ({pd}, '{late_hour}'::timestamptz + interval '%s seconds', "
                f"%s, 0, {a1['id']})")
        db.sql(late % (30.5, 1000.25))
        queued = f"SELECT count(*) FROM rollup_dirty WHERE point_id = {pd} AND hour = '{late_hour}'"
        assert system(db, queued) == [["1"]]
        before = {tbl: db.scalar(f"SELECT count(*) FROM {tbl}")
                  for tbl in ("enterprises", "points", "readings", "ingest_credentials")}

        # the server of this build does not serve the old schema (not ready), then migrate
        r = db.migrate()
        assert r.returncode == 0, r.stderr
        assert db.migrate("--check").returncode == 0
        assert db.scalar("SELECT count(*) FROM schema_migrations") == str(len(files))
        after = {tbl: db.scalar(f"SELECT count(*) FROM {tbl}") for tbl in before}
        assert after == before, (before, after)
        # the hour queued before the upgrade stays queued; a second late reading queues it again
        # (migration 0143: no unique key, no upsert), and one step recomputes it with both
        db.sql(late % (90.5, 1001.75))
        assert system(db, queued) == [["2"]]
        assert system(db, "SELECT dirty_done, dirty_left FROM dw_rollup_fill(1000)") == [["1", "0"]]
        rolled = system(db, f"SELECT n, vsum, vmax FROM rollup_hour WHERE point_id = {pd} AND bucket = '{late_hour}'")
        raw = system(db, f"SELECT count(*), sum(value), max(value) FROM readings WHERE point_id = {pd} "
                         f"AND collected_at >= '{late_hour}' AND collected_at < '{late_hour}'::timestamptz + interval '1 hour'")
        assert rolled == raw and raw[0][2] == "1001.75", (rolled, raw)
        srv = t.Server(db)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        st, _, body = srv.ingest("POST", "/ingest/v1/readings",
                                 {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": now, "value": 33}]},
                                 {"X-Api-Key": a1["api_key"]})
        assert st == 200 and body["accepted"] == 1, (st, body)
        assert db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "101"

        # the monthly minute partitions answer the series (minute tier: sub-hour buckets
        # over more than 3 hours) with the raw numbers; the month gets no daily partition
        assert system(db, "SELECT minute_from = min(to_date(right(c.relname, 6), 'YYYYMM'))::timestamp "
                          "AT TIME ZONE 'UTC' FROM rollup_state, pg_inherits i JOIN pg_class c ON c.oid = "
                          "i.inhrelid WHERE i.inhparent = 'rollup_minute'::regclass GROUP BY minute_from") == [["t"]]
        admin(db, "create-account", "--username", "up.manager", "--role", "enterprise_manager",
              "--enterprise", a1["code"])
        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "up.manager", "password": PW})
        assert st == 200, (st, body)
        token = body["token"]
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        frm, to = end - timedelta(hours=4, minutes=47, seconds=13), end - timedelta(minutes=20)

        def series_equals_raw():
            st, _, s = srv.api("GET", f"/api/v1/points/{pd}/series?from={urllib.parse.quote(frm.isoformat())}"
                                      f"&to={urllib.parse.quote(to.isoformat())}&bucket=300",
                               headers={"Authorization": "Bearer " + token})
            assert st == 200 and s["bucket_s"] == 300, (st, s)
            raw = system(db, f"SELECT (extract(epoch FROM date_bin('300 seconds', collected_at, "
                             f"timestamptz '2000-01-01 00:00:00+08')) * 1000)::bigint, min(value), max(value), "
                             f"round(avg(value)::numeric, 3)::float8, count(*) FROM readings WHERE point_id = {pd} "
                             f"AND collected_at >= '{frm.isoformat()}' AND collected_at < '{to.isoformat()}' "
                             f"GROUP BY 1 ORDER BY 1")
            got = [[int(i[0]), float(i[1]), float(i[2]), float(i[3]), int(i[4])] for i in s["items"]]
            assert got and got == [[int(r[0]), float(r[1]), float(r[2]), float(r[3]), int(r[4])] for r in raw]
        series_equals_raw()
        month = datetime.now(timezone.utc).strftime("%Y%m")
        assert f"rollup_minute_{month}" in legacy
        assert system(db, f"SELECT count(*) FROM pg_class WHERE relname LIKE 'rollup_minute_{month}__'") == [["0"]]
        # retention drops a monthly partition whole once the month is older than the cutoff
        nxt = system(db, "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date")[0][0]
        assert system(db, f"SELECT dw_drop_rollup_partitions_before('minute', '{nxt}')") == [[str(len(legacy))]]
        assert system(db, f"SELECT to_regclass('rollup_minute_{month}') IS NULL, minute_from = "
                          f"'{nxt}'::timestamp AT TIME ZONE 'UTC' FROM rollup_state") == [["t", "t"]]
        series_equals_raw()  # now from raw readings: the minute rows are gone
    finally:
        if srv:
            srv.stop()
        db.drop()
        shutil.rmtree(old, ignore_errors=True)


def test_server_refuses_a_schema_newer_than_it_knows():
    db = t.Database()
    try:
        fixtures.make_city(db)
        db.sql("INSERT INTO schema_migrations (name, checksum) VALUES ('9999_from_a_newer_build.sql', 'abc')")
        srv = t.Server(db, wait_ready=False)
        try:
            rc = srv.proc.wait(30)
        except subprocess.TimeoutExpired:
            srv.stop()
            raise AssertionError("the server started on a schema it does not know:\n" + srv.logtext())
        log = srv.logtext()
        assert rc != 0, rc
        assert '9999_from_a_newer_build.sql' in log and "does not know" in log, log
        r = db.migrate("--check")
        assert r.returncode == 1 and "does not know" in r.stdout + r.stderr, (r.stdout, r.stderr)
        r = db.migrate()
        assert r.returncode != 0 and "does not know" in r.stderr, r.stderr
        assert db.scalar("SELECT count(*) FROM schema_migrations WHERE name LIKE '9999%'") == "1"
    finally:
        db.drop()


if __name__ == "__main__":
    t.run([test_database_of_an_older_build_is_migrated_and_served,
           test_server_refuses_a_schema_newer_than_it_knows])
