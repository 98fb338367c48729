"""A stalled PostgreSQL table never stalls the server (issue 11, item 11).

* Every server connection runs with statement_timeout, lock_timeout and
  idle_in_transaction_session_timeout: a table held in ACCESS EXCLUSIVE by
  someone else (a migration, a long ALTER, an operator's psql) makes the API and
  ingest answer 503 + Retry-After after about db_lock_timeout_ms, not hang, and
  both work again once the lock is gone.
* Partition DDL (CREATE TABLE ... PARTITION OF readings, DROP of a partition)
  needs ACCESS EXCLUSIVE on readings; queued behind a pg_dump's ACCESS SHARE it
  would queue every ingest INSERT behind itself for as long as the dump runs.
  It waits a short lock_timeout instead, gives up and is retried later, so
  ingest of other days goes on.

Not parallel: it holds table locks for seconds."""
import datetime as dt
import os
import subprocess
import threading
import time

import dwtest as t
import fixtures
from test_api import PW, admin

LOCK_MS = 1500  # db_lock_timeout_ms of these servers
MARGIN_S = 2.5  # request handling, connection set-up, a loaded CI machine
CLIENT_TIMEOUT_S = 15  # far below the 60 s the lock is held: a hang is a failure, not a wait


class Locker:
    """A psql session that takes a lock and keeps it until release()."""

    def __init__(self, db, sql, name):
        self.db, self.name = db, name
        env = dict(os.environ, PGAPPNAME=name)
        args = [t.PGBIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                t.PG_PORT, "-U", "dwadmin", "-d", db.name]
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, text=True)
        self.proc.stdin.write(f"BEGIN;\n{sql};\nSELECT pg_sleep(60);\nCOMMIT;\n")
        self.proc.stdin.close()
        # held once its session sleeps inside the transaction
        t.wait_for(lambda: db.scalar(
            f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}' "
            "AND query LIKE '%pg_sleep%' AND state = 'active'") == "1", what=f"{name} holding its lock")

    def release(self):
        if self.proc.poll() is None:
            self.db.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{self.name}'")
            self.proc.wait(10)


def iso(ts):
    return ts.replace(microsecond=0).isoformat()


def timed(fn):
    t0 = time.monotonic()
    try:
        return fn(), time.monotonic() - t0
    except OSError as e:  # socket.timeout: the request hung
        raise AssertionError(f"no answer within {time.monotonic() - t0:.1f} s: {e!r}")


def setup(**cfg):
    db = t.Database()
    ents = fixtures.make_city(db)
    a1 = next(iter(ents.values()))
    admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
    cfg.setdefault("db_lock_timeout_ms", LOCK_MS)
    srv = t.Server(db, **cfg)
    st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
    assert st == 200, body
    return db, srv, a1, {"Authorization": "Bearer " + body["token"]}


def reading(a1, ts, value=31.5):
    return {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": iso(ts), "value": value}]}


def ingest(srv, a1, body):
    return t.request(srv.ingest_port, "POST", "/ingest/v1/readings", body, {"X-Api-Key": a1["api_key"]},
                     timeout=CLIENT_TIMEOUT_S)


def list_enterprises(srv, auth):
    return t.request(srv.api_port, "GET", "/api/v1/enterprises", None, auth, timeout=CLIENT_TIMEOUT_S)


def check_locked_tables_answer_503(limit_ms, **cfg):
    db, srv, a1, auth = setup(**cfg)
    locker = None
    try:
        now = dt.datetime.now(dt.timezone.utc)
        assert list_enterprises(srv, auth)[0] == 200
        assert ingest(srv, a1, reading(a1, now - dt.timedelta(seconds=30)))[0] == 200
        locker = Locker(db, "LOCK TABLE enterprises, readings IN ACCESS EXCLUSIVE MODE", "dw-test-locker")

        # the API: a read of a locked table gives up after the limit
        (st, hdr, body), took = timed(lambda: list_enterprises(srv, auth))
        assert st == 503 and body["code"] == "db_unavailable", (st, body)
        assert int(hdr["retry-after"]) > 0, hdr
        assert took < limit_ms / 1000 + MARGIN_S, took

        # ingest: the writer's insert gives up the same way; nothing acknowledged
        (st, hdr, body), took = timed(lambda: ingest(srv, a1, reading(a1, now - dt.timedelta(seconds=20))))
        assert st == 503, (st, body)
        assert int(hdr["retry-after"]) > 0, hdr
        assert took < limit_ms / 1000 + MARGIN_S, took

        locker.release()
        assert list_enterprises(srv, auth)[0] == 200
        st, _, body = ingest(srv, a1, reading(a1, now - dt.timedelta(seconds=10)))
        assert st == 200, body
        pid = a1["points"]["hopper_temp"][1]
        # the 200s are stored, the 503 is not
        assert db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "2"
        return srv.logtext()
    finally:
        if locker:
            locker.release()
        srv.stop()
        db.drop()


def test_locked_tables_answer_503_after_lock_timeout():
    log = check_locked_tables_answer_503(LOCK_MS, db_lock_timeout_ms=LOCK_MS)
    assert "lock timeout" in log, log


def test_statement_timeout_applies_too():
    # no lock_timeout: the statement waiting for the lock is cancelled by statement_timeout
    log = check_locked_tables_answer_503(1500, db_lock_timeout_ms=0, db_statement_timeout_ms=1500)
    assert "statement timeout" in log, log


def partitions(db):
    return {r[0] for r in db.sql("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                 "WHERE i.inhparent = 'readings'::regclass")}


def test_partition_ddl_does_not_queue_ingest_behind_a_dump():
    db, srv, a1, _ = setup()
    dump = None
    try:
        now = dt.datetime.now(dt.timezone.utc)
        # (younger than readings_pack_after_days: an older day is packed and refused)
        backfill = now - dt.timedelta(days=5)
        part = "readings_" + backfill.strftime("%Y%m%d")
        assert part not in partitions(db)
        assert ingest(srv, a1, reading(a1, now - dt.timedelta(seconds=30)))[0] == 200
        # what pg_dump holds on every table it dumps, for as long as the dump runs
        dump = Locker(db, "LOCK TABLE readings IN ACCESS SHARE MODE", "dw-test-dump")

        # a back-filled day needs a new partition: the writer's CREATE TABLE waits for
        # ACCESS EXCLUSIVE on readings, gives up after a short lock_timeout, answers 503
        late = {}
        th = threading.Thread(target=lambda: late.update(r=timed(lambda: ingest(srv, a1, reading(a1, backfill)))))
        th.start()
        t.wait_for(lambda: db.scalar("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                     "WHERE c.relname = 'readings' AND l.mode = 'AccessExclusiveLock' "
                                     "AND NOT l.granted") == "1", timeout=5, step=0.01, what="DDL waiting")
        # meanwhile today's reading (the other writer) must not queue behind that DDL
        (st, _, body), took = timed(lambda: ingest(srv, a1, reading(a1, now - dt.timedelta(seconds=20))))
        assert st == 200, (st, body)
        assert took < 1.5, took
        th.join(CLIENT_TIMEOUT_S + 5)
        (st, hdr, body), took = late["r"]
        assert st == 503 and int(hdr["retry-after"]) > 0, (st, hdr, body)
        assert took < 1.5, took
        assert part not in partitions(db)

        dump.release()
        # the gateway's retry creates the partition and stores the reading
        st, _, body = ingest(srv, a1, reading(a1, backfill))
        assert st == 200, body
        assert part in partitions(db)
        pid = a1["points"]["hopper_temp"][1]
        assert db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "3"
    finally:
        if dump:
            dump.release()
        srv.stop()
        db.drop()


def test_worker_partition_maintenance_gives_way_and_retries():
    db = t.Database()
    fixtures.make_city(db)
    today = dt.datetime.now(dt.timezone.utc).date()
    ahead = "readings_" + (today + dt.timedelta(days=3)).strftime("%Y%m%d")
    db.sql("SELECT dw_ensure_readings_partition((now() AT TIME ZONE 'UTC')::date)")  # today's: ingest's
    dump = Locker(db, "LOCK TABLE readings IN ACCESS SHARE MODE", "dw-test-dump")
    srv = None
    try:
        assert ahead not in partitions(db)
        # the worker's first tick runs maintenance: its CREATE TABLE waits for the dump
        srv = t.Server(db, roles="worker", wait_ready=False, partitions_ahead_days=3, worker_interval_ms=200)
        t.wait_for(lambda: db.scalar("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                     "WHERE c.relname = 'readings' AND l.mode = 'AccessExclusiveLock' "
                                     "AND NOT l.granted") == "1", timeout=10, step=0.01, what="DDL waiting")
        # while it waits, an INSERT into readings (the ingest writers') is held up a moment at most
        pid = db.scalar("SELECT id FROM points ORDER BY id LIMIT 1")
        t0 = time.monotonic()
        db.sql(f"""SET statement_timeout = 10000; BEGIN; SELECT set_config('dw.scope', 'system', true);
                   INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id)
                   SELECT id, now(), 1, 0, enterprise_id FROM points WHERE id = {pid}; COMMIT;""")
        assert time.monotonic() - t0 < 1.5, time.monotonic() - t0
        t.wait_for(lambda: "maintenance failed" in srv.logtext(), timeout=5, what="maintenance giving up")
        assert ahead not in partitions(db)
        dump.release()
        # retried within a minute, not an hour
        t.wait_for(lambda: ahead in partitions(db), timeout=45, step=1, what="partition made on retry")
    finally:
        dump.release()
        if srv:
            srv.stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_locked_tables_answer_503_after_lock_timeout,
           test_statement_timeout_applies_too,
           test_partition_ddl_does_not_queue_ingest_behind_a_dump,
           test_worker_partition_maintenance_gives_way_and_retries])
