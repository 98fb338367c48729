"""Notifications that reach people (issue 16 item 3), through the real ingest, worker and
libcurl delivery:

- a Python https receiver whose certificate comes from a test CA (generated here by
  openssl) receives an alarm notification of a webhook subscription created through the
  API: signed body, X-Dustwatch-Delivery dedup key; the delivery log says sent;
- a receiver with a certificate the CA did not sign gets nothing: the attempt is logged as
  failed with the TLS error and retried;
- a receiver that is down at first gets the message after it comes back (failed attempts,
  then sent, one dedup key);
- the SMS channel (generic HTTP SMS gateway JSON adapter) sends one message to a phone and
  one per phone of the enterprise's duty roster (through the API);
- subscriptions and the roster are scoped: another district sees and changes nothing."""
import hashlib
import hmac
import http.server
import json
import os
import ssl
import subprocess
import tempfile
import threading
from datetime import datetime, timezone

import dwtest as t
import fixtures
from test_api import admin

PW = "Hopper-Spark-7319#"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
    """ca.pem/ca.key, good.pem/good.key signed by it for 127.0.0.1, rogue.pem/rogue.key
    self-signed (same names, not from the CA)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=dustwatch test CA", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "good.key", "-out", "good.csr", "-subj", "/CN=127.0.0.1",
            cwd=d)
    openssl("x509", "-req", "-in", "good.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "good.pem", "-days", "2", "-extfile", "san.ext", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out", "rogue.pem", "-days",
            "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)


class Receiver:
    """An https server on 127.0.0.1 that records every POST (path, headers, body)."""

    def __init__(self, d, cert, port=0):
        self.got = []
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                rec.got.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, cert + ".pem"), os.path.join(d, cert + ".key"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def login(srv, user):
    st, _, b = srv.api("POST", "/api/v1/auth/login", {"username": user, "password": PW})
    assert st == 200, b
    return {"Authorization": "Bearer " + b["token"]}


def hot_reading(srv, ent, value=85):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    readings = [{"point": ent["points"]["hopper_temp"][0], "ts": now.isoformat(), "value": value}]
    st, _, r = srv.ingest("POST", "/ingest/v1/readings", {"readings": readings}, {"X-Api-Key": ent["api_key"]})
    assert st == 200 and r["accepted"] == 1, (st, r)


def log_of(srv, auth, sub):
    st, _, b = srv.api("GET", f"/api/v1/notify/deliveries?subscription={sub}", None, auth)
    assert st == 200, b
    return b["items"]


def test_https_alarm_notification_bad_certificate_and_retry():
    d = tempfile.mkdtemp(prefix="dw-notify-")
    make_pki(d)
    good = Receiver(d, "good")
    rogue = Receiver(d, "rogue")
    late_port = t.free_port()
    late = None
    db = t.Database()
    try:
        ents = fixtures.make_city(db)
        a = ents[list(ents)[0]]
        admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
        admin(db, "create-account", "--username", "jd.admin", "--role", "district_admin", "--region", "310114")
        srv = t.Server(db, worker_interval_ms=200, notify_ca_file=os.path.join(d, "ca.pem"), notify_retry_base_s=1,
                       webhook_timeout_ms=3000, sms_gateway_url=f"https://127.0.0.1:{good.port}/sms")
        try:
            city = login(srv, "city.admin")
            subs = {}
            for name, url in [("good", f"https://127.0.0.1:{good.port}/hook"),
                              ("rogue", f"https://127.0.0.1:{rogue.port}/hook"),
                              ("late", f"https://127.0.0.1:{late_port}/hook")]:
                st, _, b = srv.api("POST", "/api/v1/notify/subscriptions",
                                   {"name": name, "channel": "webhook", "url": url, "events": ["alarm"],
                                    "levels": ["2"]}, city)
                assert st == 201 and len(b["secret"]) == 64 and b["scope_kind"] == "city", b
                subs[name] = b
            st, _, b = srv.api("POST", "/api/v1/notify/subscriptions",
                               {"name": "phone", "channel": "sms", "phone": "+8613800000001", "events": ["alarm"]},
                               city)
            assert st == 201 and b["secret"] == "", b
            subs["sms"] = b
            # the duty roster of enterprise a: two people, and an sms subscription to it
            for nm, ph in [("值班员甲", "13900000001"), ("安全员乙", "13900000002")]:
                st, _, b = srv.api("POST", f"/api/v1/enterprises/{a['id']}/duty-roster", {"name": nm, "phone": ph}, city)
                assert st == 201, b
            st, _, b = srv.api("POST", "/api/v1/notify/subscriptions",
                               {"name": "duty", "channel": "sms", "to_duty": True, "events": ["alarm"],
                                "scope_kind": "enterprise", "scope_id": a["id"]}, city)
            assert st == 201, b
            subs["duty"] = b

            # hopper temperature above high-high: a level-2 alarm
            hot_reading(srv, a)
            alarm_id = t.wait_for(lambda: db.scalar("SELECT id FROM alarms WHERE level = 2"), what="alarm")
            key = f"alarm:{alarm_id}:raise"

            # 1. the good receiver: signed, dedup key, alarm payload; log says sent
            hooks = t.wait_for(lambda: [g for g in good.got if g[0] == "/hook"], timeout=30, what="https delivery")
            path, headers, body = hooks[0]
            assert headers["X-Dustwatch-Delivery"] == key, headers
            mac = hmac.new(bytes.fromhex(subs["good"]["secret"]), body, hashlib.sha256).hexdigest()
            assert headers["X-Dustwatch-Signature"] == "sha256=" + mac, headers
            p = json.loads(body)
            assert p["type"] == "alarm" and p["event"] == "raise" and p["level"] == "2" and p["alarm_id"] == int(alarm_id)
            assert p["enterprise_code"] == a["code"] and p["point_code"] == a["points"]["hopper_temp"][0], p
            items = t.wait_for(lambda: [i for i in log_of(srv, city, subs["good"]["id"]) if i["status"] == "sent"],
                               what="sent in the log")
            assert items[0]["dedup_key"] == key and items[0]["deliveries"][-1]["result"] == "sent", items
            assert items[0]["deliveries"][-1]["http_status"] == 200, items

            # 2. the rogue certificate: refused, logged as failed, retried, never received
            def failed_twice():
                its = log_of(srv, city, subs["rogue"]["id"])
                return its and len(its[0]["deliveries"]) >= 2 and its
            items = t.wait_for(failed_twice, timeout=30, what="rogue attempts")
            assert items[0]["status"] == "retrying", items
            assert all(x["result"] == "failed" and x["http_status"] is None for x in items[0]["deliveries"]), items
            assert "certificate" in items[0]["deliveries"][0]["detail"].lower(), items[0]["deliveries"][0]
            assert rogue.got == [], rogue.got

            # 3. the receiver that was down: failed first, sent after it comes back, one key
            t.wait_for(lambda: (log_of(srv, city, subs["late"]["id"]) or [{}])[0].get("deliveries"), timeout=30,
                       what="a failed attempt while down")
            first = log_of(srv, city, subs["late"]["id"])[0]
            assert first["deliveries"][0]["result"] == "failed" and first["status"] == "retrying", first
            late = Receiver(d, "good", port=late_port)
            got = t.wait_for(lambda: late.got, timeout=40, what="delivery after the receiver came back")
            assert got[0][1]["X-Dustwatch-Delivery"] == key
            items = t.wait_for(lambda: [i for i in log_of(srv, city, subs["late"]["id"]) if i["status"] == "sent"],
                               what="late sent in the log")
            res = [x["result"] for x in items[0]["deliveries"]]
            assert res[-1] == "sent" and "failed" in res, res

            # 4. SMS: one message to the phone, one per duty phone, through the gateway adapter
            def sms():
                return sorted((json.loads(g[2])["to"], json.loads(g[2])["ref"]) for g in good.got if g[0] == "/sms")
            msgs = t.wait_for(lambda: len(sms()) >= 3 and sms(), timeout=30, what="sms messages")
            assert [m[0] for m in msgs] == ["+8613800000001", "13900000001", "13900000002"], msgs
            assert all(m[1].startswith(key + ":") for m in msgs), msgs
            text = json.loads([g for g in good.got if g[0] == "/sms"][0][2])["text"]
            assert a["name"] in text and "85.00" in text, text

            # 5. scope: another district sees none of the city's subscriptions or messages,
            # cannot change them, cannot name the city's scope
            jd = login(srv, "jd.admin")
            st, _, b = srv.api("GET", "/api/v1/notify/subscriptions", None, jd)
            assert st == 200 and b["items"] == [], b
            st, _, b = srv.api("GET", "/api/v1/notify/deliveries", None, jd)
            assert st == 200 and b["items"] == [], b
            st, _, b = srv.api("PATCH", f"/api/v1/notify/subscriptions/{subs['good']['id']}", {"enabled": False}, jd)
            assert st == 404, b
            st, _, b = srv.api("POST", "/api/v1/notify/subscriptions",
                               {"channel": "webhook", "url": "https://x.example/h", "events": ["alarm"],
                                "scope_kind": "city", "scope_id": 1}, jd)
            assert st == 403, b
            st, _, b = srv.api("GET", f"/api/v1/enterprises/{a['id']}/duty-roster", None, jd)
            assert st == 404, b
            # bad input: clear errors, nothing stored
            n = db.scalar("SELECT count(*) FROM webhook_subscriptions")
            for bad in [{"channel": "webhook", "url": "ftp://x/h", "events": ["alarm"]},
                        {"channel": "sms", "phone": "12", "events": ["alarm"]},
                        {"channel": "webhook", "url": "https://x/h", "events": []},
                        {"channel": "webhook", "url": "https://x/h", "events": ["alarm"], "levels": ["9"]},
                        {"channel": "pigeon", "events": ["alarm"]}]:
                st, _, b = srv.api("POST", "/api/v1/notify/subscriptions", bad, city)
                assert st == 400 and b["code"] == "bad_request" and b["hint"], (bad, b)
            assert db.scalar("SELECT count(*) FROM webhook_subscriptions") == n
            # a subscription with messages cannot be deleted, only disabled
            st, _, b = srv.api("DELETE", f"/api/v1/notify/subscriptions/{subs['good']['id']}", None, city)
            assert st == 409 and b["code"] == "in_use", b
            st, _, b = srv.api("PATCH", f"/api/v1/notify/subscriptions/{subs['rogue']['id']}", {"enabled": False}, city)
            assert st == 200, b
        finally:
            assert srv.stop() == 0, srv.logtext()
    finally:
        for r in (good, rogue, late):
            if r:
                r.close()
        db.drop()


if __name__ == "__main__":
    t.run([test_https_alarm_notification_bad_certificate_and_retry])
