"""A stepped clock on a worker or an ingest node (docs/reliability.md: the
clock item of issue 13), with libfaketime (Debian libfaketime) preloaded into
the server process only: FAKETIME="-10m" / "+10m" moves its wall clock,
CLOCK_MONOTONIC stays real (FAKETIME_DONT_FAKE_MONOTONIC), PostgreSQL keeps
the true time.

* Ingest node 10 min behind: readings stamped with the true time are 10 min
  in its future: rejected per item (future_timestamp, "≈600 s ahead"),
  counted in ingest_clock_skew: visible, not silently dropped.  Ingest node
  10 min ahead: the same readings are accepted and stored with the
  gateway's timestamps.
* Worker 10 min behind or ahead: warnings are issued at database time, with
  their deadlines; each escalates exactly once, never before its deadline
  (database time) and not lost.
* Worker 10 min ahead: a point sending every 0.5 s (offline after 2.5 s of
  silence) raises no offline alarm; worker 10 min behind: when the point
  really falls silent the offline alarm still comes."""
import contextlib
import os
import time

import dwtest as t
import fixtures
from test_risk import Env, low_risk_baseline, now_utc, raise_to_yellow, temp, wait_baseline

LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


@contextlib.contextmanager
def clock(offset):
    """Servers started inside see their wall clock moved by offset."""
    assert os.path.exists(LIB), "libfaketime is not installed (deploy/install-deps.sh --test)"
    saved = dict(os.environ)
    os.environ.update(LD_PRELOAD=LIB, FAKETIME=offset, FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_NO_CACHE="1")
    # the sanitizer build (tests/run-all.sh step 2): ASan insists on coming first otherwise
    asan = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_ingest_node_with_a_stepped_clock():
    db = t.Database()
    srv = None
    try:
        ents = fixtures.make_city(db)
        a = next(iter(ents.values()))
        code, pid = a["points"]["hopper_temp"]
        now = now_utc()
        body = {"gateway": "GW-TRUE", "readings": [{"point": code, "ts": now.isoformat(), "value": 30},
                                                   {"point": code, "ts": (now - f_min(11)).isoformat(), "value": 31}]}
        with clock("-10m"):
            srv = t.Server(db, roles="ingest")
        st, _, r = srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": a["api_key"]})
        assert st == 200 and r["accepted"] == 1 and r["rejected"] == 1, r
        err = r["errors"][0]
        assert err["index"] == 0 and err["code"] == "future_timestamp", r
        assert "s ahead of the server clock" in err["message"], err  # ~600 s: the clock really is faked
        ahead = int(err["message"].split(" s ahead")[0].split()[-1])
        assert 540 <= ahead <= 660, err
        assert db.sql("SELECT source, gateway_code, rejected FROM ingest_clock_skew") == [["native", "GW-TRUE", "1"]]
        assert srv.stop() == 0
        with clock("+10m"):
            srv = t.Server(db, roles="ingest")
        body["readings"][0]["value"] = 32
        st, _, r = srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": a["api_key"]})
        assert st == 200 and r["accepted"] == 1 and r["duplicate"] == 1 and r["rejected"] == 0, r
        rows = db.sql(f"SELECT collected_at = '{now.isoformat()}'::timestamptz, value FROM readings "
                      f"WHERE point_id = {pid} ORDER BY collected_at DESC LIMIT 1")
        assert rows == [["t", "32"]], rows
    finally:
        if srv:
            srv.stop()
        db.drop()


def f_min(n):
    from datetime import timedelta
    return timedelta(minutes=n)


def check_escalation(offset):
    cfg = dict(worker_interval_ms=200, warning_sign_within_s=4)
    e = Env(before_start=low_risk_baseline, roles="ingest,api", **cfg)
    worker = None
    try:
        with clock(offset):
            worker = t.Server(e.db, roles="worker", wait_ready=False, **cfg)
        wait_baseline(e)
        before = e.db.scalar("SELECT now()")
        raise_to_yellow(e, [e.a, e.b, e.c])
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM warnings") == "3", what="warnings issued")
        # issued at database time, with the 4 s deadline from there
        rows = e.db.sql(f"SELECT issued_at >= '{before}'::timestamptz - interval '1 s', issued_at <= now(), "
                        "sign_by - issued_at FROM warnings")
        assert rows == [["t", "t", "00:00:04"]] * 3, (offset, rows)
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM warnings WHERE escalations_done >= 1") == "3",
                   timeout=20, what=f"escalation with the worker clock {offset}")
        time.sleep(1.0)
        rows = e.db.sql("SELECT w.escalations_done, "
                        "(SELECT count(*) FROM warning_events x WHERE x.warning_id = w.id AND x.action = 'escalate'), "
                        "(SELECT bool_and(x.at >= w.sign_by) FROM warning_events x "
                        " WHERE x.warning_id = w.id AND x.action = 'escalate') "
                        "FROM warnings w ORDER BY id")
        assert rows == [["1", "1", "t"]] * 3, (offset, rows)
        assert worker.proc.poll() is None, worker.logtext()
    finally:
        if worker:
            worker.stop()
        e.close()


def test_worker_clock_behind_escalates_at_database_time():
    check_escalation("-10m")


def test_worker_clock_ahead_escalates_at_database_time():
    check_escalation("+10m")


def offline_rows(e, pid):
    return e.db.sql(f"SELECT state FROM alarms WHERE point_id = {pid} AND channel = 'offline'")


def check_offline(offset):
    def fast_point(env):
        env.db.sql(f"UPDATE points SET expected_interval_s = 1, offline_factor = 3 WHERE id = {temp(env.a)[1]}")
    e = Env(before_start=fast_point, roles="ingest,api")
    worker = None
    try:
        code, pid = temp(e.a)
        e.post(e.a, [{"point": code, "ts": now_utc().isoformat(), "value": 40}])
        with clock(offset):
            worker = t.Server(e.db, roles="worker", wait_ready=False, worker_interval_ms=200)
        # a point that keeps sending is never offline, whatever the worker's clock says
        t0 = time.time()
        while time.time() - t0 < 6:
            e.post(e.a, [{"point": code, "ts": now_utc().isoformat(), "value": 40}])
            time.sleep(0.5)
        assert offline_rows(e, pid) == [], (offset, offline_rows(e, pid), worker.logtext())
        # silent for real: the alarm comes
        t.wait_for(lambda: offline_rows(e, pid) == [["active"]], timeout=20,
                   what=f"offline alarm with the worker clock {offset}")
        assert worker.proc.poll() is None
    finally:
        if worker:
            worker.stop()
        e.close()


def test_worker_clock_ahead_raises_no_false_offline_alarm():
    check_offline("+10m")


def test_worker_clock_behind_still_raises_offline():
    check_offline("-10m")


if __name__ == "__main__":
    t.run([test_ingest_node_with_a_stepped_clock,
           test_worker_clock_behind_escalates_at_database_time,
           test_worker_clock_ahead_escalates_at_database_time,
           test_worker_clock_ahead_raises_no_false_offline_alarm,
           test_worker_clock_behind_still_raises_offline])
