"""Risk and early warning through the real server: alarms committed with the readings that
raised them, back-fill without false alarms, offline detection by the worker, warnings with
the deadline table, escalation exactly once with two workers and a kill -9, maintenance
(partitions ahead, expired idempotency rows) and signed webhooks.

Lifecycle steps that need a person (sign, feedback, approve) belong to the API routes; until
they exist these tests drive only what the server does by itself."""
import hashlib
import hmac
import http.server
import json
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Env:
    def __init__(self, before_start=None, **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        codes = list(self.ents)
        self.a, self.b, self.c = (self.ents[k] for k in codes)
        if before_start:
            before_start(self)
        cfg.setdefault("worker_interval_ms", 300)
        self.srv = t.Server(self.db, **cfg)

    def post(self, ent, readings):
        st, _, r = self.srv.ingest("POST", "/ingest/v1/readings", {"readings": readings},
                                   {"X-Api-Key": ent["api_key"]})
        assert st == 200, (st, r)
        return r

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def low_risk_baseline(env):
    """Before the first score: wet collection and St1 grain dust make the fixture
    enterprises blue (I = 5 + 2 + 2 = 9), so a later rise can be provoked."""
    env.db.sql("UPDATE dust_systems SET wet = true, collector_type = 'wet_scrubber';"
               "INSERT INTO enterprise_profiles (enterprise_id, dust_class, st_class) "
               "SELECT id, 'grain', 'st1' FROM enterprises")


def raise_to_yellow(env, ents):
    """Al/Mg dust, >= 100 dust-exposed workers: I = 25 + 15 + 2 = 42, yellow."""
    ids = ",".join(str(x["id"]) for x in ents)
    env.db.sql(f"UPDATE enterprise_profiles SET dust_class = 'metal_al_mg', dust_workers = 150 WHERE enterprise_id IN ({ids});"
               f"INSERT INTO risk_recompute_requests (enterprise_id, reason) SELECT id, 'test' FROM enterprises "
               f"WHERE id IN ({ids}) ON CONFLICT DO NOTHING")


def wait_baseline(env):
    t.wait_for(lambda: env.db.scalar("SELECT count(*) FROM enterprise_risk") == "3", what="baseline scores")


def temp(ent):
    return ent["points"]["hopper_temp"]


def test_temperature_climb_raises_high_then_high_high_in_the_same_commit():
    e = Env()
    try:
        start = now_utc() - timedelta(seconds=40)
        code, pid = temp(e.a)
        climb = [40, 55, 65, 71, 75, 79, 81, 84]  # high 70, high-high 80
        e.post(e.a, [{"point": code, "ts": (start + timedelta(seconds=5 * i)).isoformat(), "value": v}
                     for i, v in enumerate(climb)])
        # no waiting: the alarm is committed with the readings the 200 acknowledged
        rows = e.db.sql(f"SELECT source, channel, kind, level, max_level, state, value, threshold, "
                        f"raised_at = '{(start + timedelta(seconds=15)).isoformat()}'::timestamptz, "
                        f"escalated_at = '{(start + timedelta(seconds=30)).isoformat()}'::timestamptz, "
                        f"cleared_at IS NULL, ack_deadline - created_at, handle_deadline - created_at "
                        f"FROM alarms WHERE point_id = {pid} AND channel = 'limit'")
        assert rows == [["rule", "limit", "high_high", "2", "2", "active", "71", "70", "t", "t", "t",
                         "00:30:00", "02:00:00"]], rows
        ev = e.db.sql(f"SELECT action, kind, level, reason, actor FROM alarm_events WHERE alarm_id = "
                      f"(SELECT id FROM alarms WHERE point_id = {pid} AND channel = 'limit') ORDER BY id")
        assert ev == [["raise", "high", "1", "above_high", "system"],
                      ["escalate", "high_high", "2", "above_high_high", "system"]], ev
        st = e.db.sql(f"SELECT level, last_value FROM point_rule_state WHERE point_id = {pid}")
        assert st == [["2", "84"]], st
        # the same batch again (a client retry after a lost answer): nothing new
        e.post(e.a, [{"point": code, "ts": (start + timedelta(seconds=5 * i)).isoformat(), "value": v}
                     for i, v in enumerate(climb)])
        assert e.db.scalar("SELECT count(*) FROM alarm_events e JOIN alarms a ON a.id = e.alarm_id "
                           "WHERE a.channel = 'limit'") == "2"
        # back to normal below high - deadband: cleared, still waiting for handling
        e.post(e.a, [{"point": code, "ts": (start + timedelta(seconds=60)).isoformat(), "value": 50}])
        rows = e.db.sql(f"SELECT state, cleared_at IS NOT NULL, clear_reason FROM alarms WHERE point_id = {pid} "
                        f"AND channel = 'limit'")
        assert rows == [["active", "t", "back_to_normal"]], rows
        # the alarm transition asked for a risk recompute; the worker stores a score
        t.wait_for(lambda: e.db.scalar(f"SELECT count(*) FROM risk_scores WHERE enterprise_id = {e.a['id']} "
                                       f"AND trigger = 'change'") != "0", what="recompute on change")
        inputs = json.loads(e.db.scalar(f"SELECT inputs FROM risk_scores WHERE enterprise_id = {e.a['id']} "
                                        f"ORDER BY id DESC LIMIT 1"))
        assert inputs["dynamic"]["alarms_24h_mandatory"] == [0, 1], inputs
    finally:
        e.close()


def test_backfill_after_outage_raises_no_false_alarm():
    e = Env()
    try:
        code, pid = temp(e.a)
        now = now_utc()
        e.post(e.a, [{"point": code, "ts": now.isoformat(), "value": 40}])
        # the gateway's buffer from an outage an hour ago arrives after the fresh value:
        # stored as readings, ignored by the rules (it says nothing about now)
        old = [{"point": code, "ts": (now - timedelta(minutes=60) + timedelta(seconds=30 * i)).isoformat(),
                "value": 95 if i % 2 else 20} for i in range(60)]
        r = e.post(e.a, old)
        assert r["accepted"] == 60, r
        assert e.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "61"
        assert e.db.scalar(f"SELECT count(*) FROM alarms WHERE point_id = {pid} AND channel <> 'offline'") == "0"
        assert e.db.scalar(f"SELECT last_value FROM point_rule_state WHERE point_id = {pid}") == "40"
    finally:
        e.close()


def test_offline_detected_by_worker_and_cleared_by_fresh_data():
    def fast_point(env):
        env.db.sql(f"UPDATE points SET expected_interval_s = 1, offline_factor = 2 WHERE id = {temp(env.a)[1]}")
    e = Env(before_start=fast_point)
    try:
        code, pid = temp(e.a)
        e.post(e.a, [{"point": code, "ts": now_utc().isoformat(), "value": 40}])
        q = f"SELECT state, cleared_at IS NULL, reason FROM alarms WHERE point_id = {pid} AND channel = 'offline'"
        # The worker's first tick may come before the reading (the point has never sent: offline
        # already) and the reading then clears that episode: wait for the one after the reading.
        want = [["active", "t", "no_data"]]
        rows = t.wait_for(lambda: (lambda r: r if r == want else None)(e.db.sql(q)), timeout=10,
                          what="offline alarm after the reading")
        assert rows == want, rows
        # survives a restart: the state is in PostgreSQL, no second episode is raised
        assert e.srv.stop() == 0
        e.srv = t.Server(e.db, worker_interval_ms=300)
        time.sleep(1.0)
        assert len(e.db.sql(q)) == 1
        e.post(e.a, [{"point": code, "ts": now_utc().isoformat(), "value": 41}])
        rows = e.db.sql(q)
        assert rows == [["active", "f", "no_data"]], rows
        assert e.db.scalar(f"SELECT clear_reason FROM alarms WHERE point_id = {pid} AND channel = 'offline'") \
            == "data_resumed"
    finally:
        e.close()


def test_grade_rise_issues_warning_with_table_deadlines():
    e = Env(before_start=low_risk_baseline)
    try:
        # the first score is the baseline (blue, no warning); then the archive changes
        wait_baseline(e)
        assert e.db.scalar("SELECT string_agg(DISTINCT grade, ',') FROM enterprise_risk") == "blue"
        assert e.db.scalar("SELECT count(*) FROM warnings") == "0"
        raise_to_yellow(e, [e.a])
        q = ("SELECT grade, cause, status, supervisor, current_level, inform_city, "
             "extract(epoch FROM sign_by - issued_at)::int, extract(epoch FROM clear_by - issued_at)::int "
             "FROM warnings WHERE enterprise_id = %d ORDER BY id")
        rows = t.wait_for(lambda: e.db.sql(q % e.a["id"]), what="yellow warning")
        assert rows == [["yellow", "grade", "issued", "street", "street", "f", "14400", "86400"]], rows
        score = e.db.sql(f"SELECT r, grade, model_version, override FROM enterprise_risk WHERE enterprise_id = {e.a['id']}")
        assert score == [["42.00", "yellow", "2026.2-calibrated", "f"]], score
        ev = e.db.sql(f"SELECT action, to_status, actor FROM warning_events WHERE enterprise_id = {e.a['id']}")
        assert ev == [["issue", "issued", "worker"]], ev
        # an open major-accident hazard forces red: a second warning for that cause
        e.db.sql(f"UPDATE enterprise_profiles SET major_hazard_items = '{{3}}' WHERE enterprise_id = {e.b['id']};"
                 f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({e.b['id']}, 'test')")
        rows = t.wait_for(lambda: len(e.db.sql(q % e.b["id"])) == 1 and e.db.sql(q % e.b["id"]),
                          what="red warning")
        assert rows[0] == ["red", "O.MAJOR_HAZARD", "issued", "district", "district", "t", "1800", "14400"], rows
        rules = json.loads(e.db.scalar(f"SELECT rules FROM risk_scores WHERE enterprise_id = {e.b['id']} "
                                       f"ORDER BY id DESC LIMIT 1"))
        assert any(r["code"] == "O.MAJOR_HAZARD" and r.get("item") == 3 for r in rules), rules
        # recomputing again issues nothing new: one open warning per enterprise and cause
        e.db.sql(f"INSERT INTO risk_recompute_requests (enterprise_id) VALUES ({e.b['id']})")
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM risk_recompute_requests") == "0", what="recompute")
        assert len(e.db.sql(q % e.b["id"])) == 1
    finally:
        e.close()


def test_unsigned_warning_escalates_exactly_once_with_two_workers_and_kill_9():
    cfg = dict(worker_interval_ms=200, warning_sign_within_s=4)
    e = Env(before_start=low_risk_baseline, **cfg)
    second = t.Server(e.db, roles="worker", wait_ready=False, **cfg)
    try:
        wait_baseline(e)
        raise_to_yellow(e, [e.a, e.b, e.c])
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM warnings") == "3", what="warnings issued")
        issued = float(e.db.scalar("SELECT extract(epoch FROM max(issued_at)) FROM warnings"))
        # kill -9 one worker inside the window, just before the sign deadline
        time.sleep(max(0.0, issued + 3.5 - time.time()))
        e.srv.proc.send_signal(signal.SIGKILL)
        e.srv.proc.wait()
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM warnings WHERE escalations_done = 1") == "3",
                   timeout=15, what="escalation by the surviving worker")
        # restart the killed one: both run again, nothing is escalated twice
        e.srv = t.Server(e.db, **cfg)
        time.sleep(2.0)
        rows = e.db.sql("SELECT w.escalations_done, w.current_level, "
                        "(SELECT count(*) FROM warning_events x WHERE x.warning_id = w.id AND x.action = 'escalate'), "
                        "(SELECT count(*) FROM supervisions s WHERE s.warning_id = w.id AND s.level = 'district') "
                        "FROM warnings w ORDER BY id")
        assert rows == [["1", "district", "1", "1"]] * 3, rows
    finally:
        second.stop(signal.SIGKILL)
        e.close()


def test_partitions_ahead_and_expired_idempotency_rows_purged():
    def expired(env):
        env.db.sql(f"INSERT INTO ingest_batches (enterprise_id, idem_key, request_hash, created_at, expires_at) "
                   f"VALUES ({env.a['id']}, 'old', '\\x{'00' * 32}', now() - interval '5 days', now() - interval '1 day'),"
                   f"       ({env.a['id']}, 'new', '\\x{'00' * 32}', now(), now() + interval '2 days')")
    e = Env(before_start=expired, partitions_ahead_days=3)
    try:
        t.wait_for(lambda: e.db.scalar("SELECT string_agg(idem_key, ',') FROM ingest_batches") == "new",
                   what="purge")
        today = datetime.now(timezone.utc).date()
        names = {r[0] for r in e.db.sql("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                        "WHERE i.inhparent = 'readings'::regclass")}
        for d in range(4):
            assert "readings_" + (today + timedelta(days=d)).strftime("%Y%m%d") in names, names
    finally:
        e.close()


class Hook(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.got.append((dict(self.headers), body))
        # the first delivery fails: the outbox must retry it
        self.send_response(500 if len(Hook.got) == 1 else 204)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhook_signed_and_retried():
    secret = b"s" * 32
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def subscribe(env):
        env.db.sql(f"INSERT INTO webhook_subscriptions (scope_kind, scope_id, url, secret) SELECT 'district', id, "
                   f"'http://127.0.0.1:{httpd.server_port}/hook', '\\x{secret.hex()}' FROM regions WHERE code = '310114'")
        low_risk_baseline(env)
        # retries are 30 s apart by default: pull the next attempt forward in the test
    e = Env(before_start=subscribe)
    try:
        wait_baseline(e)
        raise_to_yellow(e, [e.a, e.b, e.c])
        t.wait_for(lambda: len(Hook.got) >= 1, what="first delivery")
        e.db.sql("UPDATE notification_outbox SET next_attempt_at = now() WHERE delivered_at IS NULL")
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM notification_outbox WHERE delivered_at IS NOT NULL") == "1",
                   what="delivered after retry")
        headers, body = Hook.got[-1]
        payload = json.loads(body)
        assert payload["enterprise_id"] == e.c["id"] and payload["event"] == "issue", payload  # only 嘉定区
        sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
        assert headers["X-Dustwatch-Signature"] == "sha256=" + sig, headers
        assert headers["X-Dustwatch-Delivery"] == f"{payload['warning_id']}:issue", headers
        assert Hook.got[0][1] == body  # the retry is the same delivery
        assert e.db.scalar("SELECT attempts FROM notification_outbox") == "2"
    finally:
        httpd.shutdown()
        e.close()


if __name__ == "__main__":
    t.run([
        test_temperature_climb_raises_high_then_high_high_in_the_same_commit,
        test_backfill_after_outage_raises_no_false_alarm,
        test_offline_detected_by_worker_and_cleared_by_fresh_data,
        test_grade_rise_issues_warning_with_table_deadlines,
        test_unsigned_warning_escalates_exactly_once_with_two_workers_and_kill_9,
        test_partitions_ahead_and_expired_idempotency_rows_purged,
        test_webhook_signed_and_retried,
    ])
