"""Notifications of filings and of cleaning due (issue 16 item 3, migration 0052), through
the real server, worker and libcurl delivery to a plain-http webhook receiver:

- a filing an enterprise submits reaches the webhook of its district (the reviewing
  level) exactly once, with the dedup key filing:<id>:submit; the street (not reviewing a
  district-level filing), another district and the enterprise's own subscription get
  nothing; the approval reaches the enterprise's subscription (filing:<id>:approve) and
  not the district again;
- with cleaning_due_percent 100 (due from the period's start), an area whose current daily
  period has no check-in is notified once (dedup key cleaning:<area>:<period>); an area
  checked in this period is not; a further pass writes nothing for the same period."""
import http.server
import json
import threading
import time

import dwtest as t
from test_api import City
from test_filings import file_stop


class Receiver:
    """A plain http server on 127.0.0.1 recording every POST as (path, dedup key, body)."""

    def __init__(self):
        self.got = []
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.got.append((self.path, self.headers.get("X-Dustwatch-Delivery"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def at(self, path):
        return [g for g in self.got if g[0] == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def subscribe(c, user, path, rec, events, **scope):
    body = {"name": path.strip("/"), "channel": "webhook", "url": f"http://127.0.0.1:{rec.port}{path}",
            "events": events}
    body.update(scope)
    st, _, b = c.call(user, "POST", "/api/v1/notify/subscriptions", body)
    assert st == 201, (st, b)
    return b


def street_id(c):
    return int(c.db.scalar("SELECT id FROM regions WHERE code = '310113103'"))


def count(c, q):
    return int(c.db.scalar(q))


def test_filing_submitted_reaches_reviewing_district_once():
    rec = Receiver()
    c = City(worker_interval_ms=200, cleaning_due_percent=0)
    try:
        subscribe(c, "baoshan.admin", "/district", rec, ["filing"])
        subscribe(c, "city.admin", "/street", rec, ["filing"], scope_kind="street", scope_id=street_id(c))
        subscribe(c, "jiading.admin", "/other", rec, ["filing"])
        subscribe(c, "city.admin", "/ent", rec, ["filing"], scope_kind="enterprise", scope_id=c.a1["id"])
        f = file_stop(c, c.a1, "a1.manager", 3600)
        key = f"filing:{f['id']}:submit"
        got = t.wait_for(lambda: rec.at("/district"), timeout=30, what="the district's filing notification")
        assert got[0][1] == key, got
        p = got[0][2]
        assert p["type"] == "filing" and p["event"] == "submit" and p["filing_id"] == f["id"], p
        assert p["filing_type"] == "stop" and p["approval_level"] == "district", p
        assert p["enterprise_code"] == c.a1["code"], p

        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/filings/{f['id']}/approve", {"note": "同意"})
        assert st == 200, b
        ent = t.wait_for(lambda: rec.at("/ent"), timeout=30, what="the enterprise's approval notification")
        assert [g[1] for g in ent] == [f"filing:{f['id']}:approve"], ent
        assert ent[0][2]["status"] == "approved" and ent[0][2]["review_note"] == "同意", ent
        # every outbox row is delivered: nothing more can arrive
        t.wait_for(lambda: count(c, "SELECT count(*) FROM notification_outbox WHERE delivered_at IS NULL") == 0,
                   timeout=30, what="the outbox drained")
        assert [g[1] for g in rec.at("/district")] == [key], rec.got
        assert rec.at("/street") == [] and rec.at("/other") == [], rec.got
        assert count(c, f"SELECT count(*) FROM notification_outbox WHERE dedup_key = '{key}'") == 1
    finally:
        c.close()
        rec.close()


def test_cleaning_due_once_per_area_and_period():
    rec = Receiver()
    c = City(worker_interval_ms=200, cleaning_due_percent=100)
    try:
        e = c.a1["id"]
        areas = {}
        for name in ("抛光车间地面", "除尘器灰斗"):
            st, _, a = c.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                              {"name": name, "frequency": "daily"})
            assert st == 201, a
            areas[name] = a["id"]
        # the areas existed before today's period; the second is cleaned this period
        c.db.sql(f"UPDATE cleaning_areas SET created_at = now() - interval '3 days' WHERE enterprise_id = {e}")
        st, _, ck = c.call("a1.manager", "POST", f"/api/v1/cleaning-areas/{areas['除尘器灰斗']}/checkins",
                           {"person": "王师傅", "method": "vacuum"})
        assert st == 201, ck
        due = areas["抛光车间地面"]
        period = (int(time.time()) + 28800) // 86400  # daily periods: Beijing dates
        subscribe(c, "city.admin", "/street", rec, ["cleaning_due"], scope_kind="street", scope_id=street_id(c))
        subscribe(c, "city.admin", "/alarms", rec, ["alarm"])

        got = t.wait_for(lambda: rec.at("/street"), timeout=30, what="a cleaning due notification")
        key = got[0][1]
        assert key in (f"cleaning:{due}:{period}", f"cleaning:{due}:{period + 1}"), got  # a midnight in between
        p = got[0][2]
        assert p["type"] == "cleaning" and p["event"] == "due" and p["area_id"] == due, p
        assert p["area_name"] == "抛光车间地面" and p["frequency"] == "daily", p
        assert p["enterprise_code"] == c.a1["code"], p
        # another pass in the same period writes nothing; the outbox drains; exactly one arrived
        assert count(c, f"SELECT count(*) FROM notification_outbox WHERE dedup_key = '{key}'") == 1
        t.wait_for(lambda: count(c, "SELECT count(*) FROM notification_outbox WHERE delivered_at IS NULL") == 0,
                   timeout=30, what="the outbox drained")
        assert count(c, "SELECT dw_cleaning_due_notify(1.0)") == 0
        keys = [g[1] for g in rec.at("/street")]
        assert keys == [key] or (len(keys) == 2 and keys[0] == key and keys[1].startswith(f"cleaning:{due}:")), keys
        assert not any(g[2].get("area_id") == areas["除尘器灰斗"] for g in rec.got), rec.got
        assert rec.at("/alarms") == [], rec.got
        # bad input: an unknown family is refused with a clear error, nothing stored
        n = count(c, "SELECT count(*) FROM webhook_subscriptions")
        st, _, b = c.call("city.admin", "POST", "/api/v1/notify/subscriptions",
                          {"channel": "webhook", "url": "http://127.0.0.1:1/x", "events": ["cleaning"]})
        assert st == 400 and b["code"] == "bad_request", b
        assert count(c, "SELECT count(*) FROM webhook_subscriptions") == n
    finally:
        c.close()
        rec.close()


if __name__ == "__main__":
    t.run([test_filing_submitted_reaches_reviewing_district_once, test_cleaning_due_once_per_area_and_period])
