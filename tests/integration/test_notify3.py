"""Notifications to the district's watch, the in-app inbox and read receipts (issue 16,
migration 0118), through the real ingest, worker, libcurl and an https SMS gateway whose
certificate comes from a test CA made here by openssl:

- a district's subscriptions with to_watch (sms and inapp) reach the person on watch at
  the time of the event (duty_shifts, the shift's phone): an alarm raised through the ingest
  and a filing submitted for the district to approve; nobody else (a street account whose
  shift starts tomorrow, the district administrator) gets them; one outbox row per dedup
  key and target;
- the inbox: the person on watch sees the message unread, opening it marks it read (once)
  and the delivery log says read; another account cannot open it (404);
- the SMS gateway's delivery report (POST /api/v1/notify/sms-report) needs the configured
  token (401 without it), a known status (400) and a known ref (404); delivered is logged,
  failed puts the message back in the queue and the gateway gets it again under the same
  ref (retried), read marks it read; the log shows sent, delivered, failed, sent, read;
- the watch roster: a shift with a phone is added and deleted through the API (another
  district: 404); with nobody on watch, a message is logged as failed, not lost silently."""
import datetime as dt
import json
import os
import tempfile

import dwtest as t
from test_api import City
from test_notify import Receiver, hot_reading, make_pki

TOKEN = "gateway-report-token-5521"
PHONE = "+8613911110001"


def iso(d):
    return d.replace(microsecond=0).isoformat()


def test_watch_routing_inbox_and_sms_reports():
    d = tempfile.mkdtemp(prefix="dw-notify3-")
    make_pki(d)
    gw = Receiver(d, "good")
    c = None
    try:
        c = City(worker_interval_ms=200, notify_ca_file=os.path.join(d, "ca.pem"), notify_retry_base_s=1,
                 webhook_timeout_ms=3000, sms_gateway_url=f"https://127.0.0.1:{gw.port}/sms",
                 sms_report_token=TOKEN)
        acc = lambda u: int(c.db.scalar(f"SELECT id FROM accounts WHERE username = '{u}'"))
        now = dt.datetime.now(dt.timezone.utc)
        # the watch roster: baoshan.staff now (with a phone), luodian.staff tomorrow
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/duty/roster",
                          {"account_id": acc("baoshan.staff"), "starts_at": iso(now - dt.timedelta(hours=1)),
                           "ends_at": iso(now + dt.timedelta(hours=8)), "phone": PHONE})
        assert st == 201, b
        shift = b["id"]
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/duty/roster",
                          {"account_id": acc("luodian.staff"), "starts_at": iso(now + dt.timedelta(days=1)),
                           "ends_at": iso(now + dt.timedelta(days=1, hours=8))})
        assert st == 201, b
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/duty/roster",
                          {"account_id": acc("baoshan.staff"), "starts_at": iso(now),
                           "ends_at": iso(now + dt.timedelta(hours=1)), "phone": "12"})
        assert st == 400 and b["code"] == "bad_request" and "phone" in b["detail"], b
        st, _, r = c.call("baoshan.staff", "GET", "/api/v1/duty/roster")
        assert [x["phone"] for x in r["items"] if x["id"] == shift] == [PHONE], r

        subs = {}
        for ch in ("sms", "inapp"):
            st, _, b = c.call("baoshan.admin", "POST", "/api/v1/notify/subscriptions",
                              {"name": "watch-" + ch, "channel": ch, "to_watch": True,
                               "events": ["alarm", "overdue", "filing", "warning"]})
            assert st == 201 and b["scope_kind"] == "district", b
            subs[ch] = b["id"]
        # bad subscriptions: clear errors, nothing stored
        n = c.db.scalar("SELECT count(*) FROM webhook_subscriptions")
        for who, bad in [("baoshan.admin", {"channel": "inapp", "events": ["alarm"]}),
                         ("baoshan.admin", {"channel": "inapp", "to_watch": True, "phone": PHONE, "events": ["alarm"]}),
                         ("baoshan.admin", {"channel": "sms", "to_watch": True, "phone": PHONE, "events": ["alarm"]}),
                         ("baoshan.admin", {"channel": "webhook", "url": "https://x/h", "to_watch": True,
                                            "events": ["alarm"]}),
                         ("city.admin", {"channel": "sms", "to_watch": True, "events": ["alarm"],
                                         "scope_kind": "enterprise", "scope_id": c.a1["id"]})]:
            st, _, b = c.call(who, "POST", "/api/v1/notify/subscriptions", bad)
            assert st == 400 and b["code"] == "bad_request" and b["hint"], (bad, b)
        assert c.db.scalar("SELECT count(*) FROM webhook_subscriptions") == n

        # an alarm through the ingest: SMS to the shift's phone, in-app to baoshan.staff
        hot_reading(c.srv, c.a1)
        alarm = t.wait_for(lambda: c.db.scalar(f"SELECT id FROM alarms WHERE enterprise_id = {c.a1['id']}"),
                           what="alarm")
        key = f"alarm:{alarm}:raise"
        sms = lambda: [json.loads(g[2]) for g in gw.got if g[0] == "/sms"]
        msgs = t.wait_for(lambda: sms(), timeout=30, what="sms to the watch")
        assert msgs[0]["to"] == PHONE and msgs[0]["ref"] == key + ":" + PHONE, msgs
        assert c.a1["name"] in msgs[0]["text"], msgs

        def inbox(user):
            st, _, b = c.call(user, "GET", "/api/v1/notify/inbox")
            assert st == 200, b
            return b
        box = t.wait_for(lambda: inbox("baoshan.staff")["items"], what="the inbox of the person on watch")
        assert box[0]["dedup_key"] == key and box[0]["read_at"] is None and box[0]["payload"]["type"] == "alarm", box
        assert inbox("baoshan.staff")["unread"] == 1
        assert inbox("luodian.staff") == {"unread": 0, "items": []}
        assert inbox("baoshan.admin")["items"] == []
        assert c.call("a1.manager", "GET", "/api/v1/notify/inbox")[0] == 403

        # a filing for the district to approve reaches the watch as well
        fl = int(c.db.scalar(
            f"INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, approval_level) VALUES "
            f"({c.a2['id']}, 'stop', now() + interval '1 day', now() + interval '3 days', '停产检修', 'district') "
            f"RETURNING id"))
        t.wait_for(lambda: [x for x in inbox("baoshan.staff")["items"] if x["dedup_key"] == f"filing:{fl}:submit"],
                   timeout=30, what="the filing in the inbox")
        t.wait_for(lambda: [m for m in sms() if m["ref"].startswith(f"filing:{fl}:submit:")], timeout=30,
                   what="the filing by sms")
        dup = c.db.sql("SELECT subscription_id, dedup_key, target, count(*) FROM notification_outbox "
                       "GROUP BY 1, 2, 3 HAVING count(*) > 1")
        assert dup == [], dup
        rows = c.db.sql(f"SELECT channel, target, account_id FROM notification_outbox WHERE dedup_key = '{key}' "
                        f"ORDER BY channel")
        assert rows == [["inapp", f"account:{acc('baoshan.staff')}", str(acc("baoshan.staff"))],
                        ["sms", PHONE, str(acc("baoshan.staff"))]], rows

        # opening it: read once; not someone else's
        mid = box[0]["id"]
        st, _, b = c.call("luodian.staff", "POST", f"/api/v1/notify/inbox/{mid}/read")
        assert st == 404 and b["code"] == "not_found", b
        for _ in range(2):
            st, _, b = c.call("baoshan.staff", "POST", f"/api/v1/notify/inbox/{mid}/read")
            assert st == 200 and b["read"] is True, b
        got = [x for x in inbox("baoshan.staff")["items"] if x["id"] == mid][0]
        assert got["read_at"], got

        def log(sub):
            st, _, b = c.call("baoshan.admin", "GET", f"/api/v1/notify/deliveries?subscription={sub}")
            assert st == 200, b
            return {x["dedup_key"]: x for x in b["items"]}
        entry = log(subs["inapp"])[key]
        assert entry["status"] == "read", entry
        assert [x["result"] for x in entry["deliveries"]] == ["sent", "read"], entry

        # SMS delivery reports
        ref = key + ":" + PHONE
        rep = lambda body, tok=TOKEN: c.srv.api("POST", "/api/v1/notify/sms-report", body,
                                                {"Authorization": "Bearer " + tok} if tok else {})
        st, _, b = rep({"ref": ref, "status": "delivered"}, tok=None)
        assert st == 401 and b["code"] == "unauthenticated", b
        st, _, b = rep({"ref": ref, "status": "delivered"}, tok="wrong-token")
        assert st == 401, b
        st, _, b = rep({"ref": ref, "status": "lost"})
        assert st == 400 and b["code"] == "bad_request", b
        st, _, b = rep({"ref": "alarm:0:raise:" + PHONE, "status": "delivered"})
        assert st == 404 and b["code"] == "not_found", b
        st, _, b = rep({"ref": ref, "status": "delivered", "detail": "DELIVRD"})
        assert st == 200 and b["matched"] == 1, b
        assert log(subs["sms"])[key]["deliveries"][-1]["result"] == "delivered"
        n_before = len([m for m in sms() if m["ref"] == ref])
        st, _, b = rep({"ref": ref, "status": "failed", "detail": "handset off"})
        assert st == 200, b
        t.wait_for(lambda: len([m for m in sms() if m["ref"] == ref]) > n_before, timeout=30,
                   what="the message sent again after a failed report")
        t.wait_for(lambda: log(subs["sms"])[key]["status"] == "sent", what="sent again")
        st, _, b = rep({"ref": ref, "status": "read"})
        assert st == 200, b
        entry = log(subs["sms"])[key]
        assert entry["status"] == "read" and entry["read_at"], entry
        res = [x["result"] for x in entry["deliveries"]]
        assert res == ["sent", "delivered", "failed", "sent", "read"], res
        assert "handset off" in entry["deliveries"][2]["detail"], entry

        # the roster: another district cannot remove the shift; its own administrator can;
        # then nobody is on watch and a new alarm's messages are logged as failed
        st, _, b = c.call("jiading.admin", "DELETE", f"/api/v1/duty/roster/{shift}")
        assert st == 404, b
        assert c.call("baoshan.staff", "DELETE", f"/api/v1/duty/roster/{shift}")[0] == 403
        st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/duty/roster/{shift}")
        assert st == 200, b
        hot_reading(c.srv, c.a2)
        a2 = t.wait_for(lambda: c.db.scalar(f"SELECT id FROM alarms WHERE enterprise_id = {c.a2['id']}"),
                        what="second alarm")
        k2 = f"alarm:{a2}:raise"
        e2 = t.wait_for(lambda: (log(subs["inapp"]).get(k2) or {}).get("deliveries") and log(subs["inapp"])[k2],
                        timeout=30, what="a logged attempt")
        assert e2["target"] == "watch:none" and e2["deliveries"][0]["result"] == "failed", e2
        assert "nobody on watch" in e2["deliveries"][0]["detail"], e2
    finally:
        gw.close()
        if c:
            c.close()


if __name__ == "__main__":
    t.run([test_watch_routing_inbox_and_sms_reports])
