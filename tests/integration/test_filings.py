"""Filings (停产/检修/停用 报备, issue 14 item 1), through the real server.

* A stopped enterprise goes offline: while its approved stop filing is valid no
  offline alarm is raised; the would-be alarms are recorded as suppressed on the
  filing (point, channel, count).  After the filing expires the points, still
  silent, get their offline alarms (raised at or after the filing's end), and
  the filing reads as expired.
* Production during a stop filing: a covered point whose readings keep moving
  gets one production_during_stop alarm, recorded on the filing; its limit
  alarms are suppressed, not raised.  复产 (end) ends the filing early: the
  same readings then raise the limit alarm again.
* Risk: an enterprise whose points were already offline when its filing was
  approved is not short of online points in the recompute (online rate 1) and
  its offline alarms' deadlines stand still.
* The workflow: the enterprise files (bad input: 400/422, nothing stored),
  the reviewing level approves or returns (a street on a district-level
  filing: 403; another enterprise: 404; a wrong state: 409), the district
  chooses street review; every transition is audited; evidence round-trips."""
import base64
import datetime as dt

import dwtest as t
from test_api import City
from test_alarm_episodes import add_points, push_all

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def now():
    return dt.datetime.now(dt.timezone.utc)


def iso(d):
    return d.replace(microsecond=0).isoformat()


def file_stop(c, ent, user, ends_in_s, **extra):
    body = {"type": "stop", "starts_at": iso(now() - dt.timedelta(minutes=1)),
            "ends_at": iso(now() + dt.timedelta(seconds=ends_in_s)), "reason": "停产检修"}
    body.update(extra)
    st, _, b = c.call(user, "POST", f"/api/v1/enterprises/{ent['id']}/filings", body)
    assert st == 201, (st, b)
    assert b["filing"]["status"] == "submitted" and b["filing"]["approval_level"] == "district", b
    return b["filing"]


def approve(c, fid, user="baoshan.admin"):
    st, _, b = c.call(user, "POST", f"/api/v1/filings/{fid}/approve", {"note": "同意"})
    assert st == 200 and b["filing"]["state"] == "approved", (st, b)
    return b["filing"]


def filing(c, fid, user="baoshan.admin"):
    st, _, b = c.call(user, "GET", f"/api/v1/filings/{fid}")
    assert st == 200, b
    return b


def test_stopped_enterprise_no_offline_alarm_until_expiry():
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0)
    try:
        codes = add_points(c, c.a1, 2)  # offline 3 s after their last reading
        push_all(c, c.a1, codes, now())
        f = file_stop(c, c.a1, "a1.manager", 20)
        f = approve(c, f["id"])
        assert f["active"] is True and f["whole_enterprise"] is True, f
        ends = dt.datetime.fromisoformat(f["ends_at"])

        # both points pass their offline deadline inside the period: suppressed, recorded
        t.wait_for(lambda: len(filing(c, f["id"])["suppressions"]) == 2, timeout=30,
                   what="two suppressed offline alarms")
        sup = filing(c, f["id"])["suppressions"]
        assert {s["point"] for s in sup} == set(codes) and {s["channel"] for s in sup} == {"offline"}, sup
        assert all(dt.datetime.fromisoformat(s["last_at"]) < ends for s in sup), sup

        # after the end the silent points get their alarms, none before it
        def alarms():
            st, _, b = c.call("a1.manager", "GET", "/api/v1/alarms?kind=offline&open=true&limit=100")
            assert st == 200, b
            return b["items"] if len(b["items"]) == 2 else None
        items = t.wait_for(alarms, timeout=60, what="offline alarms after the filing expired")
        assert {a["point"]["code"] if isinstance(a["point"], dict) else a["point"] for a in items} == set(codes), items
        # raised_at is when the point went silent; the rows were written after the end
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE enterprise_id = {c.a1['id']} AND channel = "
                           f"'offline' AND created_at < '{f['ends_at']}'") == "0"
        g = filing(c, f["id"])["filing"]
        assert g["state"] == "expired" and g["status"] == "approved" and g["active"] is False, g
        st, _, lst = c.call("baoshan.staff", "GET", "/api/v1/filings?state=expired")
        assert st == 200 and [x["id"] for x in lst["items"]] == [f["id"]], lst
        rows = c.db.sql(f"SELECT action, result FROM audit_log WHERE object = 'filing:{f['id']}' ORDER BY id")
        assert rows == [["filing_create", "ok"], ["filing_approve", "ok"]], rows
    finally:
        c.close()


def test_overview_online_rate_leaves_filed_points_out():
    """The overview's mandatory online rate counts a silent point under an
    approved stop filing neither online nor missing (points_filed says how
    many); a covered point that reports is online as any other."""
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0)
    try:
        codes = add_points(c, c.a1, 2)
        c.db.sql(f"UPDATE points SET param_class = 'mandatory' WHERE code IN ('{codes[0]}', '{codes[1]}')")
        push_all(c, c.a1, codes, now())

        def ov():
            st, _, b = c.call("a1.manager", "GET", "/api/v1/overview")
            assert st == 200, b
            return b
        t.wait_for(lambda: ov()["points_online"] == 0, timeout=30, what="both points silent")
        o = ov()
        assert o["points"] == 2 and o["points_filed"] == 0 and float(o["mandatory_online_rate"]) == 0.0, o
        approve(c, file_stop(c, c.a1, "a1.manager", 600)["id"])
        t.wait_for(lambda: ov()["points_filed"] == 2, timeout=15, what="the filed points left out")
        o = ov()
        assert o["points"] == 2 and o["points_online"] == 0 and o["mandatory_online_rate"] is None, o
        push_all(c, c.a1, codes[:1], now())
        t.wait_for(lambda: ov()["points_online"] == 1, timeout=15, what="one covered point reporting")
        o = ov()
        assert o["points_filed"] == 1 and float(o["mandatory_online_rate"]) == 1.0, o
    finally:
        c.close()


def test_production_during_stop_and_resumption():
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0, filing_production_window_s=600)
    try:
        codes = add_points(c, c.a1, 1)
        pid = int(c.db.scalar(f"SELECT id FROM points WHERE code = '{codes[0]}'"))
        f = file_stop(c, c.a1, "a1.manager", 3600, point_ids=[pid])
        assert f["point_ids"] == [pid] and f["whole_enterprise"] is False, f
        approve(c, f["id"])
        # the "stopped" plant runs: moving readings above the 70 limit
        base = now() - dt.timedelta(seconds=40)
        body = {"readings": [{"point": codes[0], "ts": iso(base + dt.timedelta(seconds=10 * i)), "value": v}
                             for i, v in enumerate([75.0, 80.0, 85.0])]}
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": c.a1["api_key"]})
        assert st == 200 and r["accepted"] == 3, (st, r)
        g = t.wait_for(lambda: (lambda x: x if x["filing"]["production_alarm_id"] else None)(filing(c, f["id"])),
                       timeout=30, what="a production_during_stop alarm")
        st, _, a = c.call("a1.manager", "GET", f"/api/v1/alarms/{g['filing']['production_alarm_id']}")
        assert st == 200 and a["alarm"]["kind"] == "production_during_stop" and a["alarm"]["level"] == 1, a
        # its limit alarm was suppressed, not raised
        assert "limit" in [s["channel"] for s in g["suppressions"]], g["suppressions"]
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE point_id = {pid} AND channel = 'limit'") == "0"
        # one production alarm per filing, whatever more readings come
        body = {"readings": [{"point": codes[0], "ts": iso(now() - dt.timedelta(seconds=5)), "value": 60.0}]}
        assert c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": c.a1["api_key"]})[0] == 200

        # 复产: the enterprise ends it early; a second end is refused
        st, _, e = c.call("a1.manager", "POST", f"/api/v1/filings/{f['id']}/end", {"note": "已复产"})
        assert st == 200 and e["filing"]["state"] == "ended" and e["filing"]["end_note"] == "已复产", (st, e)
        st, _, e = c.call("a1.manager", "POST", f"/api/v1/filings/{f['id']}/end", {})
        assert st == 409 and e["code"] == "invalid_transition", e
        # after the end the limit alarm is raised as usual
        body = {"readings": [{"point": codes[0], "ts": iso(now() + dt.timedelta(seconds=1)), "value": 90.0}]}
        assert c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": c.a1["api_key"]})[0] == 200
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM alarms WHERE point_id = {pid} AND channel = 'limit'")
                   == "1", timeout=15, what="the limit alarm after resumption")
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE channel = 'filing'") == "1"
    finally:
        c.close()


def test_risk_treats_filed_enterprise_as_not_operating():
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0)
    try:
        codes = add_points(c, c.a1, 2)
        push_all(c, c.a1, codes, now())
        # offline before any filing: alarms raised as usual
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM alarms WHERE enterprise_id = {c.a1['id']} AND "
                                       "channel = 'offline'") == "2", timeout=30, what="offline alarms")

        def online_rate():
            return c.db.scalar(f"SELECT inputs->'dynamic'->>'online_rate_mandatory' FROM risk_scores WHERE "
                               f"enterprise_id = {c.a1['id']} ORDER BY id DESC LIMIT 1")
        # before: both mandatory points offline
        t.wait_for(lambda: float(online_rate() or -1) == 0, timeout=30, what="online rate 0")
        f = approve(c, file_stop(c, c.a1, "a1.manager", 3600)["id"])
        # the approval queues a recompute; its score counts the filed points as online
        t.wait_for(lambda: float(online_rate()) == 1, timeout=30, what="online rate 1 after the approval")
        # the offline alarms' deadlines stand still: past due, not flagged
        c.db.sql(f"UPDATE alarms SET ack_deadline = raised_at, handle_deadline = raised_at WHERE "
                 f"enterprise_id = {c.a1['id']}")
        c.db.sql(f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({c.a1['id']}, 'test')")
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM risk_recompute_requests") == "0", timeout=30,
                   what="the recompute")
        last = c.db.sql(f"SELECT inputs->'dynamic'->>'overdue_unacked' FROM risk_scores WHERE "
                        f"enterprise_id = {c.a1['id']} ORDER BY id DESC LIMIT 1")
        assert last == [["0"]], last
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE enterprise_id = {c.a1['id']} AND ack_overdue") == "0"
    finally:
        c.close()


def test_filing_workflow_scope_and_bad_input():
    c = City()
    try:
        url = f"/api/v1/enterprises/{c.a1['id']}/filings"
        good = {"type": "maintenance", "starts_at": iso(now()), "ends_at": iso(now() + dt.timedelta(days=2)),
                "reason": "检修"}
        before = c.db.scalar("SELECT count(*) FROM filings")
        for body, status, code in [
                (dict(good, type="holiday"), 422, "filing_invalid"),
                (dict(good, ends_at=good["starts_at"]), 422, "filing_invalid"),
                (dict(good, ends_at=iso(now() + dt.timedelta(days=400))), 422, "filing_invalid"),
                (dict(good, starts_at="yesterday"), 400, "bad_request"),
                (dict(good, reason=""), 400, "bad_request"),
                (dict(good, point_ids=[c.a2["points"]["hopper_temp"][1]]), 422, "filing_invalid"),
                (dict(good, system_ids=["1"]), 400, "bad_request"),
                (dict(good, evidence="bm90IGFuIGltYWdl"), 422, "evidence_invalid"),
                (dict(good, colour="red"), 400, "unknown_field")]:
            st, _, b = c.call("a1.manager", "POST", url, body)
            assert st == status and b["code"] == code, (body, st, b)
        assert c.db.scalar("SELECT count(*) FROM filings") == before
        # government accounts do not file; another enterprise's path is hidden
        assert c.call("baoshan.admin", "POST", url, good)[0] == 403
        assert c.call("b1.manager", "POST", url, good)[0] == 404

        ev = base64.b64encode(PNG).decode()
        st, _, b = c.call("a1.manager", "POST", url, dict(good, evidence=ev))
        assert st == 201 and b["filing"]["evidence"]["type"] == "image/png", b
        fid = b["filing"]["id"]
        st, hdr, raw = c.call("baoshan.staff", "GET", f"/api/v1/filings/{fid}/evidence")
        assert st == 200 and hdr["content-type"] == "image/png", (st, hdr)
        assert c.call("a2.manager", "GET", f"/api/v1/filings/{fid}")[0] == 404
        assert c.call("jiading.admin", "POST", f"/api/v1/filings/{fid}/approve", {})[0] == 404
        # district-level review: the street may not, and says so
        st, _, b = c.call("luodian.staff", "POST", f"/api/v1/filings/{fid}/approve", {})
        assert st == 403 and "district" in b["detail"], b
        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/filings/{fid}/return", {})
        assert st == 400, b
        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/filings/{fid}/return", {"reason": "缺少检修方案"})
        assert st == 200 and b["filing"]["state"] == "returned" and b["filing"]["review_note"] == "缺少检修方案", b
        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/filings/{fid}/approve", {})
        assert st == 409 and b["code"] == "invalid_transition", b
        # withdraw a submitted one
        st, _, b = c.call("a1.manager", "POST", url, good)
        st, _, w = c.call("a1.manager", "POST", f"/api/v1/filings/{b['filing']['id']}/withdraw", {})
        assert st == 200 and w["filing"]["state"] == "withdrawn", w

        # the district hands review to its streets
        assert c.call("baoshan.staff", "POST", "/api/v1/filing-settings", {"approval_level": "street"})[0] == 403
        st, _, s = c.call("baoshan.admin", "POST", "/api/v1/filing-settings", {"approval_level": "street"})
        assert st == 200 and s == {"district_id": int(c.roles["baoshan.admin"]["scope"]["id"]),
                                   "approval_level": "street"}, s
        st, _, s = c.call("baoshan.admin", "POST", "/api/v1/filing-settings",
                          {"approval_level": "street", "district_id": 999999})
        assert st == 404, s
        st, _, b = c.call("a2.manager", "POST", f"/api/v1/enterprises/{c.a2['id']}/filings", good)
        assert st == 201 and b["filing"]["approval_level"] == "street", b
        st, _, b = c.call("luodian.staff", "POST", f"/api/v1/filings/{b['filing']['id']}/approve", {})
        assert st == 200 and b["filing"]["state"] == "approved", b
        st, _, lst = c.call("luodian.staff", "GET", "/api/v1/filings?state=approved,returned")
        assert st == 200 and lst["total"] == 2, lst
        st, _, lst = c.call("a2.manager", "GET", "/api/v1/filings")
        assert st == 200 and {x["enterprise"]["id"] for x in lst["items"]} == {c.a2["id"]}, lst
        assert c.call("a1.manager", "GET", "/api/v1/filings?state=bogus")[0] == 400
        acts = [r[0] for r in c.db.sql("SELECT action FROM audit_log WHERE action LIKE 'filing%' ORDER BY id")]
        assert acts.count("filing_return") == 1 and acts.count("filing_withdraw") == 1, acts
        assert "filing_settings" in acts, acts
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_stopped_enterprise_no_offline_alarm_until_expiry, test_overview_online_rate_leaves_filed_points_out,
           test_production_during_stop_and_resumption,
           test_risk_treats_filed_enterprise_as_not_operating, test_filing_workflow_scope_and_bad_input])
