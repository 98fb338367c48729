"""Risk and early-warning API through the real server: alarms raised by ingested readings
and handled by the enterprise (acknowledge, handle, close), warnings issued by the worker
and moved through sign / feedback / clearance request / approve or return by the right
levels, risk views, cleaning areas and check-ins with photos, compliance, overview counts,
scope (foreign objects 404), invalid transitions (409), the audit trail and the live feed."""
import base64
import json
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import dwtest as t
from test_api import City

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d4944415478da63f8ffff3f0005fe02fea7d6a4d30000000049454e44ae426082")


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Feed:
    """A raw RESP subscriber on dw:events (standard library only)."""

    def __init__(self):
        self.msgs = []
        self.sock = socket.create_connection(("127.0.0.1", int(t.REDIS_PORT)), timeout=30)
        if os.environ.get("DW_REDIS_PASSWORD"):  # deploy/services.sh's Redis requires it
            self.sock.sendall(b"AUTH " + os.environ["DW_REDIS_PASSWORD"].encode() + b"\r\n")
        self.sock.sendall(b"SUBSCRIBE dw:events\r\n")
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        buf = b""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return
                buf += data
                # payloads are one-line JSON: pick them out of the RESP arrays
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    if line.startswith(b"{"):
                        try:
                            self.msgs.append(json.loads(line))
                        except ValueError:
                            pass
        except OSError:
            return

    def find(self, **kw):
        return [m for m in self.msgs if all(m.get(k) == v for k, v in kw.items())]

    def close(self):
        self.sock.close()


C = None
FEED = None


def post_readings(ent, readings):
    st, _, r = C.srv.ingest("POST", "/ingest/v1/readings", {"readings": readings},
                            {"X-Api-Key": ent["api_key"]})
    assert st == 200 and r["accepted"] == len(readings), (st, r)


def alarm_of(user, pid, channel="limit"):
    st, _, b = C.call(user, "GET", f"/api/v1/alarms?point={pid}")
    assert st == 200, b
    items = [a for a in b["items"] if a["channel"] == channel]
    return items[0] if items else None


def audit_actions(obj):
    return C.db.sql(f"SELECT action, result, username FROM audit_log WHERE object = '{obj}' ORDER BY id")


def test_alarm_lifecycle_scope_and_rules():
    code, pid = C.a1["points"]["hopper_temp"]
    start = now_utc() - timedelta(seconds=60)
    climb = [40, 55, 65, 71, 75, 79, 81, 84]  # high 70, high-high 80
    post_readings(C.a1, [{"point": code, "ts": (start + timedelta(seconds=5 * i)).isoformat(), "value": v}
                         for i, v in enumerate(climb)])
    # committed with the readings: visible at once to the enterprise, its street and district
    a = alarm_of("a1.manager", pid)
    assert a and a["kind"] == "high_high" and a["state"] == "active" and a["level"] == 2, a
    aid = a["id"]
    for user in ("baoshan.staff", "luodian.staff", "city.admin"):
        assert C.call(user, "GET", f"/api/v1/alarms/{aid}")[0] == 200, user
        assert alarm_of(user, pid)["id"] == aid
    # another district, another street, another enterprise: missing
    for user in ("jiading.admin", "nanxiang.staff", "a2.manager", "b1.manager"):
        st, _, b = C.call(user, "GET", f"/api/v1/alarms/{aid}")
        assert st == 404 and b["code"] == "not_found", (user, st, b)
        assert alarm_of(user, pid) is None
        assert C.call(user, "GET", f"/api/v1/alarms?enterprise={C.a1['id']}")[2]["total"] == 0
    assert C.call("nanxiang.staff", "POST", f"/api/v1/alarms/{aid}/close", {})[0] == 404
    # detail: readings around the raise and the engine's events
    st, _, d = C.call("luodian.staff", "GET", f"/api/v1/alarms/{aid}")
    assert [e["action"] for e in d["events"]] == ["raise", "escalate"], d["events"]
    assert len(d["readings"]["items"]) == len(climb), d["readings"]
    assert d["alarm"]["enterprise"]["id"] == C.a1["id"] and d["alarm"]["point"]["id"] == pid
    # roles: government users review, the enterprise acts
    assert C.call("baoshan.staff", "POST", f"/api/v1/alarms/{aid}/acknowledge", {"verdict": "real_hazard"})[0] == 403
    # strict bodies and the order of the lifecycle
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/acknowledge", {"verdict": "maybe"})
    assert st == 400, b
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/acknowledge",
                      {"verdict": "real_hazard", "state": "closed"})
    assert st == 400 and b["code"] == "unknown_field", b
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/handle",
                      {"cause_category": "process_abnormal", "measures": "降温"})
    assert st == 409 and b["code"] == "invalid_transition" and "acknowledge" in b["detail"], b
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/close", {})
    assert st == 409 and "handling" in b["detail"], b
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/acknowledge",
                      {"verdict": "real_hazard", "note": "现场确认灰斗温度升高"})
    assert st == 200 and b["alarm"]["state"] == "acknowledged", b
    assert b["alarm"]["acknowledged"]["verdict"] == "real_hazard"
    assert C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/acknowledge", {"verdict": "real_hazard"})[0] == 409
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/handle",
                      {"cause_category": "bad", "measures": "x"})
    assert st == 400, b
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/handle",
                      {"cause_category": "process_abnormal", "measures": "停机清灰，检查卸灰阀"})
    assert st == 200 and b["alarm"]["state"] == "handled", b
    # still hot: closing needs the value back to normal
    st, _, b = C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/close", {})
    assert st == 409 and "normal" in b["detail"], b
    # back to normal: the ingest writer closes the handled alarm by itself
    post_readings(C.a1, [{"point": code, "ts": (start + timedelta(seconds=55)).isoformat(), "value": 45}])
    st, _, b = C.call("a1.manager", "GET", f"/api/v1/alarms/{aid}")
    assert b["alarm"]["state"] == "closed" and b["alarm"]["closed"]["automatic"] is True, b["alarm"]
    assert [e["action"] for e in b["events"]] == ["raise", "escalate", "acknowledge", "handle", "clear", "close"]
    actors = {e["action"]: e["actor"] for e in b["events"]}
    assert actors["acknowledge"] == actors["handle"] == "a1.manager", actors
    assert C.call("a1.manager", "POST", f"/api/v1/alarms/{aid}/close", {})[0] == 409

    # an alarm that clears before it is handled is closed by a person
    pcode, ppid = C.a1["points"]["pressure_diff"]  # low limit 300
    t0 = now_utc() - timedelta(seconds=20)
    post_readings(C.a1, [{"point": pcode, "ts": t0.isoformat(), "value": 100},
                         {"point": pcode, "ts": (t0 + timedelta(seconds=10)).isoformat(), "value": 1000}])
    b2 = alarm_of("a1.manager", ppid)
    assert b2 and b2["kind"] == "low" and b2["back_to_normal"] and b2["state"] == "active", b2
    aid2 = b2["id"]
    assert C.call("a1.manager", "POST", f"/api/v1/alarms/{aid2}/acknowledge", {"verdict": "device_fault"})[0] == 200
    assert C.call("a1.manager", "POST", f"/api/v1/alarms/{aid2}/handle",
                  {"cause_category": "sensor_fault", "measures": "更换差压变送器"})[0] == 200
    # the supervising street closes it on review (design: handling recorded + value normal)
    assert C.call("nanxiang.staff", "POST", f"/api/v1/alarms/{aid2}/close", {})[0] == 404
    st, _, b = C.call("luodian.staff", "POST", f"/api/v1/alarms/{aid2}/close", {"note": "复核通过"})
    assert st == 200 and b["alarm"]["state"] == "closed" and b["alarm"]["closed"]["automatic"] is False, b
    # filters
    st, _, lst = C.call("baoshan.staff", "GET", f"/api/v1/alarms?state=closed&enterprise={C.a1['id']}")
    assert {x["id"] for x in lst["items"]} >= {aid, aid2}, lst
    assert C.call("baoshan.staff", "GET", "/api/v1/alarms?state=closed&district=310114")[2]["total"] == 0
    assert C.call("baoshan.staff", "GET", "/api/v1/alarms?kind=spaceship")[0] == 400
    assert C.call("baoshan.staff", "GET", "/api/v1/alarms?state=active,acknowledged&overdue=true")[0] == 200
    # every transition audited; the handling asked for a risk recompute; live events published
    acts = audit_actions(f"alarm:{aid}")
    assert ["alarm_acknowledge", "ok", "a1.manager"] in acts and ["alarm_handle", "ok", "a1.manager"] in acts, acts
    assert ["alarm_handle", "failed", "a1.manager"] in acts and ["alarm_close", "failed", "a1.manager"] in acts
    assert ["alarm_acknowledge", "denied", "baoshan.staff"] not in acts  # 403 by route role: the dispatcher's
    assert ["alarm_close", "ok", "luodian.staff"] in audit_actions(f"alarm:{aid2}")
    assert ["alarm_close", "denied", "nanxiang.staff"] in audit_actions(f"alarm:{aid2}")
    ev = t.wait_for(lambda: FEED.find(type="alarm", id=aid, action="handle"), what="alarm event on dw:events")
    district = int(C.db.scalar("SELECT id FROM regions WHERE code = '310113'"))
    street = int(C.db.scalar("SELECT id FROM regions WHERE code = '310113103'"))
    assert ev[0]["enterprise_id"] == C.a1["id"] and ev[0]["district_id"] == district \
        and ev[0]["street_id"] == street and ev[0]["state"] == "handled", ev


def open_warning(user, ent, cause="grade"):
    st, _, b = C.call(user, "GET", f"/api/v1/warnings?enterprise={ent['id']}&open=true")
    assert st == 200, b
    items = [w for w in b["items"] if w["cause"] == cause]
    return items[0] if items else None


def test_warning_lifecycle_levels_and_history():
    # warnings issued when the grade rose after the baseline (see __main__)
    w = t.wait_for(lambda: open_warning("a1.manager", C.a1), timeout=30, what="warning for a1")
    wid = w["id"]
    assert w["status"] == "issued" and w["grade"] in ("yellow", "orange", "red"), w
    url = f"/api/v1/warnings/{wid}"
    assert C.call("baoshan.staff", "GET", url)[0] == 200
    for user in ("nanxiang.staff", "jiading.admin", "a2.manager"):
        assert C.call(user, "GET", url)[0] == 404, user
    assert C.call("nanxiang.staff", "POST", url + "/approve", {})[0] == 404
    assert C.call("jiading.admin", "POST", url + "/return", {"reason": "x"})[0] == 404
    # the enterprise's steps, in order
    st, _, b = C.call("a1.manager", "POST", url + "/request-clearance", {})
    assert st == 409 and b["code"] == "invalid_transition" and "sign" in b["detail"], b
    assert C.call("a1.manager", "POST", url + "/feedback", {"feedback": "x"})[0] == 409
    assert C.call("luodian.staff", "POST", url + "/sign", {})[0] == 403
    st, _, b = C.call("a1.manager", "POST", url + "/sign", {"note": "已签收"})
    assert st == 200 and b["warning"]["status"] == "signed" and b["warning"]["signed_at"], b
    assert C.call("a1.manager", "POST", url + "/sign", {})[0] == 409
    st, _, b = C.call("a1.manager", "POST", url + "/request-clearance", {})
    assert st == 409 and "feedback" in b["detail"], b
    assert C.call("a1.manager", "POST", url + "/feedback", {})[0] == 400  # feedback text required
    st, _, b = C.call("a1.manager", "POST", url + "/feedback", {"feedback": "已清理灰斗积灰，温度恢复正常"})
    assert st == 200 and b["warning"]["status"] == "feedback", b
    assert C.call("baoshan.staff", "POST", url + "/approve", {})[0] == 409  # nothing to review yet
    st, _, b = C.call("a1.manager", "POST", url + "/request-clearance", {"note": "申请消警"})
    assert st == 200 and b["warning"]["status"] == "clearance_requested", b
    assert C.call("a1.manager", "POST", url + "/approve", {})[0] == 403  # route role
    if w["grade"] != "red":
        st, _, b = C.call("city.admin", "POST", url + "/approve", {})
        assert st == 403 and "city" in b["detail"], b  # the city acts on red
    # the supervising district approves
    st, _, b = C.call("baoshan.staff", "POST", url + "/approve", {"note": "核查属实，同意消警"})
    assert st == 200 and b["warning"]["status"] == "cleared" and b["warning"]["cleared_at"], b
    assert C.call("baoshan.staff", "POST", url + "/approve", {})[0] == 409
    assert C.call("a1.manager", "POST", url + "/feedback", {"feedback": "more"})[0] == 409
    ev = b["events"]
    assert [e["action"] for e in ev] == ["issue", "sign", "feedback", "request_clearance", "approve"], ev
    assert [e["actor"] for e in ev] == ["worker", "a1.manager", "a1.manager", "a1.manager", "baoshan.staff"], ev
    assert ev[-1]["note"] == "核查属实，同意消警" and ev[-1]["from_status"] == "clearance_requested"
    # the score that caused it, with its parts and fired rules
    assert b["score"]["id"] == w["score_id"] and set(b["score"]["parts"]) == {"i", "a", "h", "s"}, b["score"]
    assert isinstance(b["score"]["rules"], list) and b["score"]["rules"], b["score"]
    acts = [a[0] for a in audit_actions(f"warning:{wid}") if a[1] == "ok"]
    assert acts == ["warning_sign", "warning_feedback", "warning_request_clearance", "warning_approve"], acts
    t.wait_for(lambda: FEED.find(type="warning", id=wid, action="approve", state="cleared"), what="warning event")

    # a2: returned by its street, then cleared after new feedback
    w2 = t.wait_for(lambda: open_warning("a2.manager", C.a2), timeout=30, what="warning for a2")
    u2 = f"/api/v1/warnings/{w2['id']}"
    for step, body in (("sign", {}), ("feedback", {"feedback": "已整改"}), ("request-clearance", {})):
        assert C.call("a2.manager", "POST", u2 + "/" + step, body)[0] == 200, step
    assert C.call("luodian.staff", "POST", u2 + "/return", {})[0] == 400  # a reason is required
    if w2["current_level"] == "street":
        st, _, b = C.call("luodian.staff", "POST", u2 + "/return", {"reason": "整改照片不全"})
    else:
        st, _, b = C.call("baoshan.staff", "POST", u2 + "/return", {"reason": "整改照片不全"})
    assert st == 200 and b["warning"]["status"] == "returned" and b["warning"]["clear_requested_at"] is None, b
    st, _, b = C.call("a2.manager", "POST", u2 + "/request-clearance", {})
    assert st == 409 and "feedback" in b["detail"], b
    assert C.call("a2.manager", "POST", u2 + "/feedback", {"feedback": "补充照片"})[0] == 200
    assert C.call("a2.manager", "POST", u2 + "/request-clearance", {})[0] == 200
    assert C.call("baoshan.admin", "POST", u2 + "/approve", {})[0] == 200
    ev = [e["action"] for e in C.call("a2.manager", "GET", u2)[2]["events"]]
    assert ev == ["issue", "sign", "feedback", "request_clearance", "return", "feedback", "request_clearance",
                  "approve"], ev

    # a red warning (open major hazard) is supervised by the district; the city acts on red
    C.db.sql(f"INSERT INTO enterprise_profiles (enterprise_id, major_hazard_items) VALUES ({C.b1['id']}, '{{3}}') "
             f"ON CONFLICT (enterprise_id) DO UPDATE SET major_hazard_items = EXCLUDED.major_hazard_items;"
             f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({C.b1['id']}, 'test')")
    w3 = t.wait_for(lambda: open_warning("b1.manager", C.b1, "O.MAJOR_HAZARD"), timeout=30, what="red warning")
    assert w3["grade"] == "red" and w3["current_level"] == "district" and w3["inform_city"], w3
    u3 = f"/api/v1/warnings/{w3['id']}"
    for step, body in (("sign", {}), ("feedback", {"feedback": "隐患整改中"}), ("request-clearance", {})):
        assert C.call("b1.manager", "POST", u3 + "/" + step, body)[0] == 200, step
    st, _, b = C.call("nanxiang.staff", "POST", u3 + "/approve", {})
    assert st == 403 and "district" in b["detail"], b  # below the supervising level
    assert C.call("baoshan.admin", "POST", u3 + "/approve", {})[0] == 404  # another district
    st, _, b = C.call("city.admin", "POST", u3 + "/return", {"reason": "隐患未消除"})
    assert st == 200 and b["warning"]["status"] == "returned", b
    # filters
    red = C.call("city.admin", "GET", "/api/v1/warnings?grade=red&open=true")[2]
    assert w3["id"] in {x["id"] for x in red["items"]}, red
    assert C.call("baoshan.staff", "GET", "/api/v1/warnings?grade=red")[2]["total"] == 0
    assert C.call("city.admin", "GET", "/api/v1/warnings?status=nonsense")[0] == 400
    assert C.call("city.admin", "GET", "/api/v1/warnings?overdue=false&level=district")[0] == 200


def test_risk_views():
    t.wait_for(lambda: C.db.scalar("SELECT count(*) FROM enterprise_risk") == "3", what="scores")
    seen = {}

    def current_and_history_agree():
        # the change-driven recompute may store a newer score between the two reads: read both again
        st, _, b = C.call("a1.manager", "GET", f"/api/v1/enterprises/{C.a1['id']}/risk")
        st2, _, h = C.call("luodian.staff", "GET", f"/api/v1/enterprises/{C.a1['id']}/risk/history?limit=5")
        seen.update(st=st, b=b, st2=st2, h=h)
        return st == 200 and st2 == 200 and h["items"] and h["items"][0]["id"] == b["current"]["id"]
    t.wait_for(current_and_history_agree, what="the current score first in the history")
    b, h = seen["b"], seen["h"]
    cur = b["current"]
    assert cur["grade"] in ("blue", "yellow", "orange", "red") and cur["model_version"], b
    assert set(cur["parts"]) == {"i", "a", "h", "s"} and isinstance(cur["rules"], list) and "inputs" in cur, cur
    assert C.call("nanxiang.staff", "GET", f"/api/v1/enterprises/{C.a1['id']}/risk")[0] == 404
    assert C.call("a2.manager", "GET", f"/api/v1/enterprises/{C.a1['id']}/risk/history")[0] == 404
    assert 1 <= len(h["items"]) <= 5, h
    st, _, g = C.call("luodian.staff", "GET", f"/api/v1/enterprises/{C.a1['id']}/risk/history?grade_changes=true")
    assert st == 200 and 1 <= len(g["items"]) <= len(C.call("luodian.staff", "GET",
        f"/api/v1/enterprises/{C.a1['id']}/risk/history")[2]["items"])
    st, _, d = C.call("baoshan.staff", "GET", "/api/v1/risk/distribution")
    assert st == 200 and d["enterprises"] == 2 and sum(d["by_grade"].values()) == 2, d
    assert [s["code"] for s in d["by_street"]] == ["310113103"], d
    d = C.call("city.admin", "GET", "/api/v1/risk/distribution")[2]
    assert d["enterprises"] == 3 and d["by_grade"]["red"] >= 1 and len(d["by_district"]) == 2, d
    assert C.call("a1.manager", "GET", "/api/v1/risk/distribution")[2]["enterprises"] == 1
    st, _, rk = C.call("city.admin", "GET", "/api/v1/risk/ranking?limit=2")
    assert st == 200 and len(rk["items"]) == 2 and rk["items"][0]["enterprise"]["id"] == C.b1["id"], rk
    order = ["blue", "yellow", "orange", "red"]  # by grade first (overrides), then R
    a, b = rk["items"][0], rk["items"][1]
    assert (order.index(a["grade"]), a["r"]) >= (order.index(b["grade"]), b["r"]), rk
    # pages: the count of all and the page asked for (the maps colour every enterprise by
    # reading page after page; limit=500 used to be all anyone could see)
    assert rk["total"] == 3 and rk["limit"] == 2 and rk["offset"] == 0, rk
    st, _, rest = C.call("city.admin", "GET", "/api/v1/risk/ranking?limit=2&offset=2")
    assert st == 200 and rest["total"] == 3 and rest["offset"] == 2 and len(rest["items"]) == 1, rest
    assert rest["items"][0]["rank"] == 3, rest
    whole = C.call("city.admin", "GET", "/api/v1/risk/ranking?limit=3")[2]["items"]
    assert [x["enterprise"]["id"] for x in rk["items"] + rest["items"]] == \
        [x["enterprise"]["id"] for x in whole], (rk, rest, whole)
    past = C.call("city.admin", "GET", "/api/v1/risk/ranking?offset=5")[2]
    assert past["total"] == 3 and past["items"] == [], past
    assert C.call("city.admin", "GET", "/api/v1/risk/ranking?offset=-1")[0] == 400
    ids = {x["enterprise"]["id"] for x in C.call("jiading.admin", "GET", "/api/v1/risk/ranking")[2]["items"]}
    assert ids == {C.b1["id"]}, ids
    assert C.call("jiading.admin", "GET", "/api/v1/risk/ranking")[2]["total"] == 1
    assert C.call("a1.manager", "GET", "/api/v1/risk/ranking")[0] == 403


def test_cleaning_areas_checkins_photos_and_compliance():
    e = C.a1["id"]
    st, _, area = C.call("baoshan.admin", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                         {"name": "1号车间地面", "frequency": "daily"})
    assert st == 201 and area["frequency"] == "daily", area
    st, _, area2 = C.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                          {"name": "除尘器灰斗", "frequency": "per_shift"})
    assert st == 201, area2
    assert C.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                  {"name": "除尘器灰斗", "frequency": "daily"})[0] == 409
    assert C.call("luodian.staff", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                  {"name": "x", "frequency": "daily"})[0] == 403
    assert C.call("jiading.admin", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                  {"name": "x", "frequency": "daily"})[0] == 404
    assert C.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                  {"name": "x", "frequency": "hourly"})[0] == 400
    assert C.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                  {"name": "x", "frequency": "daily", "enterprise_id": C.b1["id"]})[0] == 400
    st, _, lst = C.call("luodian.staff", "GET", f"/api/v1/enterprises/{e}/cleaning-areas")
    assert st == 200 and {a["name"] for a in lst["items"]} == {"1号车间地面", "除尘器灰斗"}, lst
    assert C.call("nanxiang.staff", "GET", f"/api/v1/enterprises/{e}/cleaning-areas")[0] == 404
    # the area existed for 8 days (so the window requires periods)
    C.db.sql(f"UPDATE cleaning_areas SET created_at = now() - interval '8 days' WHERE id = {area['id']}")
    # check-ins: with a photo, and one back-dated two days (recorded late)
    url = f"/api/v1/cleaning-areas/{area['id']}/checkins"
    body = {"person": "王师傅", "method": "vacuum", "note": "地面积尘已清理", "photo": base64.b64encode(PNG).decode()}
    st, _, ck = C.call("a1.manager", "POST", url, body)
    assert st == 201 and ck["photo"]["type"] == "image/png" and ck["photo"]["bytes"] == len(PNG), ck
    st, hdr, raw = C.call("luodian.staff", "GET", ck["photo"]["href"])
    assert st == 200 and hdr["content-type"] == "image/png" and raw == PNG, (st, hdr)
    assert C.call("nanxiang.staff", "GET", ck["photo"]["href"])[0] == 404
    two_days = (now_utc() - timedelta(days=2)).isoformat()
    st, _, ck2 = C.call("a1.manager", "POST", url, {"person": "李师傅", "method": "wet_wipe", "checked_at": two_days,
                                                    "photo": "data:image/jpeg;base64," +
                                                    base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 100).decode()})
    assert st == 201 and ck2["late_entry"] is True and ck2["photo"]["type"] == "image/jpeg", ck2
    # refused: wrong type, too large, bad base64, future time, wrong role, foreign area
    gif = base64.b64encode(b"GIF89a" + b"\0" * 10).decode()
    st, _, b = C.call("a1.manager", "POST", url, dict(body, photo=gif))
    assert st == 422 and b["code"] == "photo_invalid", b
    big = base64.b64encode(PNG + b"\0" * (2 * 1024 * 1024)).decode()
    st, _, b = C.call("a1.manager", "POST", url, dict(body, photo=big))
    assert st == 422 and "2 MB" in b["detail"], b
    assert C.call("a1.manager", "POST", url, dict(body, photo="***"))[0] == 422
    future = (now_utc() + timedelta(hours=2)).isoformat()
    assert C.call("a1.manager", "POST", url, dict(body, checked_at=future))[0] == 422
    assert C.call("luodian.staff", "POST", url, body)[0] == 403
    assert C.call("b1.manager", "POST", url, body)[0] == 404
    assert C.call("a1.manager", "POST", url, dict(body, area_id=1))[0] == 400
    st, _, cl = C.call("baoshan.staff", "GET", f"/api/v1/enterprises/{e}/checkins")
    assert st == 200 and cl["total"] == 2 and "photo" in cl["items"][0] and "base64" not in json.dumps(cl), cl
    assert C.call("jiading.admin", "GET", f"/api/v1/enterprises/{e}/checkins")[0] == 404
    # compliance over the last 7 days: complete Beijing days since the window start,
    # plus today, which has a check-in (a running period counts once it is done)
    now = time.time()
    lo = now - 7 * 86400
    p0 = -(-(lo + 28800) // 86400)
    p1 = (now + 28800) // 86400 - 1
    required = int(p1 - p0 + 1) + 1
    st, _, comp = C.call("luodian.staff", "GET", "/api/v1/cleaning/compliance")
    assert st == 200, comp
    ent = [x for x in comp["enterprises"] if x["id"] == e][0]
    daily = [a for a in ent["areas"] if a["id"] == area["id"]][0]
    assert daily["required"] == required and daily["done"] == 2 and daily["late"] == 1 \
        and daily["missed"] == required - 2, (daily, required)
    assert comp["streets"][0]["code"] == "310113103" and comp["totals"]["missed"] >= required - 2, comp
    assert C.call("nanxiang.staff", "GET", "/api/v1/cleaning/compliance")[2]["enterprises"] == []
    assert C.call("a2.manager", "GET", "/api/v1/cleaning/compliance")[2]["enterprises"] == []
    # an inactive area takes no check-ins
    st, _, b = C.call("a1.manager", "PATCH", f"/api/v1/cleaning-areas/{area2['id']}", {"active": False})
    assert st == 200 and b["active"] is False, b
    assert C.call("a1.manager", "POST", f"/api/v1/cleaning-areas/{area2['id']}/checkins", body)[0] == 409
    assert C.call("jiading.admin", "PATCH", f"/api/v1/cleaning-areas/{area2['id']}", {"active": True})[0] == 404
    assert [r[:2] for r in audit_actions(f"cleaning_checkin:{ck['id']}")] == [["cleaning_checkin", "ok"]]
    # check-ins ask for a recompute (S)
    assert C.db.scalar(f"SELECT count(*) FROM risk_scores WHERE enterprise_id = {e}") != "0"


def test_overview_counts():
    st, _, ov = C.call("baoshan.staff", "GET", "/api/v1/overview")
    assert st == 200 and ov["enterprises"] == 2, ov
    for k in ("open", "active", "overdue", "by_state", "by_level"):
        assert k in ov["alarms"], ov["alarms"]
    assert set(ov["warnings"]["by_grade"]) == {"blue", "yellow", "orange", "red"} and "overdue" in ov["warnings"]
    assert sum(ov["risk_grades"].values()) == 2, ov["risk_grades"]
    assert ov["cleaning"]["areas"] >= 1 and ov["cleaning"]["missed"] >= 1 and ov["cleaning"]["rate"] is not None, ov
    ov = C.call("nanxiang.staff", "GET", "/api/v1/overview")[2]
    # b1 never reported: offline alarms (level 0) only, nothing of a1's
    assert ov["cleaning"]["areas"] == 0 and ov["alarms"]["by_level"]["2"] == 0, ov
    ov = C.call("city.admin", "GET", "/api/v1/overview")[2]
    assert ov["warnings"]["by_grade"]["red"] == 1, ov["warnings"]


def test_every_transition_in_the_audit_trail():
    # each successful person transition has its audit record and its event row
    ok = C.db.sql("SELECT action, count(*) FROM audit_log WHERE result = 'ok' AND (action LIKE 'alarm\\_%' "
                  "OR action LIKE 'warning\\_%') GROUP BY 1 ORDER BY 1")
    ok = {a: int(n) for a, n in ok}
    ev_alarm = {a: int(n) for a, n in C.db.sql(
        "SELECT action, count(*) FROM alarm_events WHERE actor_id IS NOT NULL GROUP BY 1")}
    ev_warn = {a: int(n) for a, n in C.db.sql(
        "SELECT action, count(*) FROM warning_events WHERE actor_id IS NOT NULL GROUP BY 1")}
    for a, n in ev_alarm.items():
        assert ok.get("alarm_" + a) == n, (a, n, ok)
    for a, n in ev_warn.items():
        assert ok.get("warning_" + a) == n, (a, n, ok)
    assert ev_warn["approve"] == 2 and ev_warn["return"] == 2 and ev_alarm["close"] == 1, (ev_alarm, ev_warn)


if __name__ == "__main__":
    FEED = Feed()
    C = City(worker_interval_ms=300)
    # The first score of an enterprise is its baseline and issues nothing;
    # more dust-exposed workers (I: 45 -> 60) make the grade rise, and that warns.
    t.wait_for(lambda: C.db.scalar("SELECT count(*) FROM enterprise_risk") == "3", timeout=30,
               what="baseline scores")
    C.db.sql("INSERT INTO enterprise_profiles (enterprise_id, dust_workers) SELECT id, 150 FROM enterprises "
             "ON CONFLICT (enterprise_id) DO UPDATE SET dust_workers = 150;"
             "INSERT INTO risk_recompute_requests (enterprise_id, reason) SELECT id, 'test' FROM enterprises "
             "ON CONFLICT DO NOTHING")
    try:
        t.run([
            test_alarm_lifecycle_scope_and_rules,
            test_warning_lifecycle_levels_and_history,
            test_risk_views,
            test_cleaning_areas_checkins_photos_and_compliance,
            test_overview_counts,
            test_every_transition_in_the_audit_trail,
        ], cleanup=lambda: (FEED.close(), C.close()))
    finally:
        pass
