"""Monitoring assets over REST (api/resources/assets.c, api/resources/credentials.c): dust-removal
systems, points (create/delete), cameras, gateways and ingest credentials —
CRUD per role, strict bodies, foreign objects answering 404, delete refused
while stored data refers to the object, audit rows for every write and
denial, and a credential issued over REST feeding the real ingest listener
until it is revoked."""
import base64
import datetime as dt
import os
import subprocess
import time

import dialects
import dwtest as t
from test_api import City


def now_iso(minutes_ago=0):
    return (dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            - dt.timedelta(minutes=minutes_ago)).isoformat()


def audit(c, action, result=None):
    q = f"SELECT username, object, result, detail FROM audit_log WHERE action = '{action}'"
    if result:
        q += f" AND result = '{result}'"
    return c.db.sql(q + " ORDER BY id")


def test_systems_crud_roles_and_delete_rules():
    c = SHARED
    a1, url = c.a1["id"], f"/api/v1/enterprises/{c.a1['id']}/systems"
    body = {"code": "02", "name": "2号除尘系统", "workshop": "抛光车间", "wet": True,
            "collector_type": "wet_scrubber", "central": False, "airflow_m3h": 12000, "indoor": True,
            "protection": {"venting": True, "airlock": True}}
    st, _, s = c.call("baoshan.staff", "POST", url, body)
    assert st == 201, (st, s)
    assert s["code"] == "02" and s["wet"] is True and s["airflow_m3h"] == 12000 and s["points"] == 0, s
    assert s["protection"] == {"venting": True, "isolation": False, "suppression": False, "inerting": False,
                               "airlock": True, "spark_detection": False}, s
    sid = s["id"]
    # a change of a risk input asks the worker to score the enterprise again (no worker runs here)
    assert c.db.scalar(f"SELECT reason FROM risk_recompute_requests WHERE enterprise_id = {a1}") == "dust_system"
    # roles: the enterprise being scored and street staff may not write; another district sees nothing
    for user, expect in (("a1.manager", 403), ("luodian.staff", 403), ("jiading.admin", 404)):
        st, _, b = c.call(user, "POST", url, dict(body, code="03"))
        assert st == expect, (user, st, b)
    assert audit(c, "dust_system_create", "denied")[-1][:3] == ["jiading.admin", f"enterprise:{a1}", "denied"]
    assert ["a1.manager", url, "denied"] in [r[:3] for r in audit(c, "permission_denied")]
    # strict bodies
    for bad, code in (({"code": "04", "name": "x", "district_id": 1}, "unknown_field"),
                      ({"code": "04", "name": "x", "protection": {"sprinkler": True}}, "unknown_field"),
                      ({"code": "04", "name": "x", "wet": "yes"}, "bad_request"),
                      ({"code": "04", "name": "x", "collector_type": "magic"}, "bad_request"),
                      ({"code": "04", "name": "x", "airflow_m3h": 1.5}, "bad_request"),
                      ({"name": "no code"}, "bad_request")):
        st, _, b = c.call("baoshan.admin", "POST", url, bad)
        assert st == 400 and b["code"] == code, (bad, st, b)
    st, _, b = c.call("baoshan.admin", "POST", url, dict(body, code="bad code!"))
    assert st == 422, (st, b)
    st, _, b = c.call("baoshan.admin", "POST", url, body)
    assert st == 409 and b["code"] == "conflict", (st, b)
    # read: everyone in scope, nobody outside
    assert c.call("luodian.staff", "GET", f"/api/v1/systems/{sid}")[0] == 200
    assert c.call("a1.manager", "GET", f"/api/v1/systems/{sid}")[0] == 200
    for user in ("a2.manager", "jiading.admin", "nanxiang.staff", "b1.manager"):
        assert c.call(user, "GET", f"/api/v1/systems/{sid}")[0] == 404, user
        assert c.call(user, "GET", url)[0] == 404, user
    items = c.call("a1.manager", "GET", url)[2]["items"]
    assert [x["code"] for x in items] == ["01", "02"], items
    # update: partial, flags one by one, audited with the row before
    st, _, s = c.call("city.admin", "PATCH", f"/api/v1/systems/{sid}",
                      {"name": "2号湿式除尘", "protection": {"venting": False}, "airflow_m3h": None})
    assert st == 200 and s["name"] == "2号湿式除尘" and s["protection"]["venting"] is False, s
    assert s["protection"]["airlock"] is True and s["airflow_m3h"] is None and s["workshop"] == "抛光车间", s
    row = audit(c, "dust_system_update", "ok")[-1]
    assert row[:3] == ["city.admin", f"dust_system:{sid}", "ok"] and '"before"' in row[3] and "12000" in row[3], row
    assert c.call("jiading.admin", "PATCH", f"/api/v1/systems/{sid}", {"name": "x"})[0] == 404
    assert c.call("a1.manager", "PATCH", f"/api/v1/systems/{sid}", {"name": "x"})[0] == 403
    st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/systems/{sid}", {})
    assert st == 400, (st, b)
    # delete: refused while points belong to the system, which stays whole
    fixture_sys = c.a1["system_id"]
    st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/systems/{fixture_sys}")
    assert st == 409 and b["code"] == "in_use" and "points" in b["detail"], (st, b)
    assert c.db.scalar(f"SELECT count(*) FROM dust_systems WHERE id = {fixture_sys}") == "1"
    assert audit(c, "dust_system_delete", "failed")[-1][1] == f"dust_system:{fixture_sys}"
    assert c.call("jiading.admin", "DELETE", f"/api/v1/systems/{sid}")[0] == 404
    st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/systems/{sid}")
    assert st == 200 and b == {"deleted": True, "id": sid}, (st, b)
    assert c.db.scalar(f"SELECT count(*) FROM dust_systems WHERE id = {sid}") == "0"
    row = audit(c, "dust_system_delete", "ok")[-1]
    assert '"deleted"' in row[3] and "2号湿式除尘" in row[3], row
    assert c.call("baoshan.admin", "GET", f"/api/v1/systems/{sid}")[0] == 404


def test_points_create_and_delete_never_lose_data():
    c = SHARED
    a1, url = c.a1["id"], f"/api/v1/enterprises/{c.a1['id']}/points"
    new = {"code": "310113000001010100", "kind": "hopper_temp", "system_id": c.a1["system_id"],
           "name": "2号灰斗温度", "range_min": -40, "range_max": 200, "limit_high": 70, "limit_high_high": 85,
           "min_duration_s": 30, "expected_interval_s": 10, "param_class": "mandatory"}
    st, _, p = c.call("baoshan.admin", "POST", url, new)
    assert st == 201, (st, p)
    assert p["code"] == new["code"] and p["enterprise_id"] == a1 and p["limit_high"] == 70, p
    assert p["deadband"] == 0 and p["rate_window_s"] == 600 and p["enabled"] is True, p
    pid = p["id"]
    st, _, got = c.call("a1.manager", "GET", f"/api/v1/points/{pid}")
    assert st == 200 and got["limits"]["high_high"] == 85 and got["system_id"] == c.a1["system_id"], got
    assert audit(c, "point_create", "ok")[-1][1] == f"point:{pid}"
    # the system of another enterprise reads exactly like a missing one
    st1, _, b1 = c.call("baoshan.admin", "POST", url, dict(new, code="310113000001010101",
                                                           system_id=c.b1["system_id"]))
    st2, _, b2 = c.call("baoshan.admin", "POST", url, dict(new, code="310113000001010101", system_id=99999999))
    assert st1 == st2 == 422 and b1 == b2, (b1, b2)
    # limits validated like PATCH /points/{id}: types 400, rules of the table 422
    for bad, expect in (({"limit_high": "hot"}, 400), ({"min_duration_s": 1.5}, 400), ({"deadband": None}, 400),
                        ({"param_class": "vital"}, 400), ({"limit_low": 90}, 422), ({"kind": "unobtainium"}, 422),
                        ({"range_min": 300}, 422), ({"rogue": 1}, 400)):
        st, _, b = c.call("baoshan.admin", "POST", url, dict(new, code="310113000001010102", **bad))
        assert st == expect, (bad, st, b)
    st, _, b = c.call("baoshan.admin", "POST", url, dict(new, code=c.b1["points"]["hopper_temp"][0]))
    assert st == 409 and b["code"] == "conflict", (st, b)
    for user, expect in (("a1.manager", 403), ("luodian.staff", 403), ("jiading.admin", 404)):
        assert c.call(user, "POST", url, dict(new, code="310113000001010103"))[0] == expect, user
    assert c.db.scalar(f"SELECT count(*) FROM points WHERE enterprise_id = {a1}") == "4"
    # a point without data (the worker may have started its empty rule state) can go
    c.db.sql(f"INSERT INTO point_rule_state (point_id, enterprise_id, last_ts) VALUES ({pid}, {a1}, 0)")
    assert c.call("jiading.admin", "DELETE", f"/api/v1/points/{pid}")[0] == 404
    assert c.call("a1.manager", "DELETE", f"/api/v1/points/{pid}")[0] == 403
    st, _, b = c.call("baoshan.staff", "DELETE", f"/api/v1/points/{pid}")
    assert st == 200 and b["deleted"] is True, (st, b)
    assert c.db.scalar(f"SELECT count(*) FROM points WHERE id = {pid}") == "0"
    assert audit(c, "point_delete", "ok")[-1][3].startswith('{"deleted"')
    # with readings it stays: 409 names the way out, and disabling it works
    st, _, p = c.call("baoshan.admin", "POST", url, dict(new, code="310113000001010104"))
    assert st == 201, p
    pid, code = p["id"], p["code"]
    st, _, r = c.srv.ingest("POST", "/ingest/v1/readings",
                            {"readings": [{"point": code, "ts": now_iso(1), "value": 42.5}]}, {"X-Api-Key": c.a1["api_key"]})
    assert st == 200 and r["accepted"] == 1, (st, r)
    st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/points/{pid}")
    assert st == 409 and b["code"] == "in_use" and "enabled" in b["detail"], (st, b)
    assert c.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "1"
    assert c.call("baoshan.admin", "GET", f"/api/v1/points/{pid}")[2]["latest"]["value"] == 42.5
    # what the refusal advises works: the point is disabled, its data stays
    st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/points/{pid}", {"enabled": False})
    assert st == 200 and b["enabled"] is False, (st, b)
    assert c.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "1"
    # a point with only alarms stays too
    _, _, p = c.call("baoshan.admin", "POST", url, dict(new, code="310113000001010105"))
    c.db.sql(f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
             f"ack_deadline, handle_deadline) VALUES ({a1}, {p['id']}, 'rule', 'offline', 'offline', 1, 1, now(), "
             f"now(), now())")
    st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/points/{p['id']}")
    assert st == 409 and "alarms" in b["detail"], (st, b)


def test_cameras_crud_by_the_enterprise():
    c = SHARED
    a1, url = c.a1["id"], f"/api/v1/enterprises/{c.a1['id']}/cameras"
    cam = {"code": "CAM01", "name": "1号除尘器灰斗", "system_id": c.a1["system_id"], "location": "抛光车间东侧",
           "stream_url": "rtsp://10.0.0.8:554/stream1"}
    st, _, b = c.call("a1.manager", "POST", url, cam)
    assert st == 201 and b["code"] == "CAM01" and b["enabled"] is True and b["last_alarm_at"] is None, (st, b)
    cid = b["id"]
    assert audit(c, "camera_create", "ok")[-1][:2] == ["a1.manager", f"camera:{cid}"]
    # the code is per enterprise: another enterprise may use it, the same one not twice
    assert c.call("a1.manager", "POST", url, cam)[0] == 409
    st, _, other = c.call("a2.manager", "POST", f"/api/v1/enterprises/{c.a2['id']}/cameras", cam)
    assert st == 422, (st, other)  # a1's system is not a2's
    st, _, other = c.call("a2.manager", "POST", f"/api/v1/enterprises/{c.a2['id']}/cameras",
                          dict(cam, system_id=c.a2["system_id"]))
    assert st == 201, (st, other)
    for bad, expect in (({"stream_url": "ftp://x/y"}, 422), ({"code": ""}, 400), ({"enabled": 1}, 400),
                        ({"owner": "me"}, 400)):
        assert c.call("a1.manager", "POST", url, {**cam, "code": "CAM09", **bad})[0] == expect, bad
    for user, expect in (("a2.manager", 404), ("b1.manager", 404), ("jiading.admin", 404), ("luodian.staff", 403)):
        assert c.call(user, "POST", url, dict(cam, code="CAM02"))[0] == expect, user
        assert c.call(user, "PATCH", f"/api/v1/cameras/{cid}", {"name": "x"})[0] == expect, user
        assert c.call(user, "DELETE", f"/api/v1/cameras/{cid}")[0] == expect, user
    assert c.call("luodian.staff", "GET", f"/api/v1/cameras/{cid}")[0] == 200
    assert c.call("a2.manager", "GET", f"/api/v1/cameras/{cid}")[0] == 404
    # the code is the video alarms' key: it cannot change
    st, _, b = c.call("a1.manager", "PATCH", f"/api/v1/cameras/{cid}", {"code": "CAM99"})
    assert st == 400 and "code" in b["detail"], b
    # a stream address with credentials works for the enterprise, but the audit trail keeps no password
    st, _, b = c.call("a1.manager", "PATCH", f"/api/v1/cameras/{cid}",
                      {"stream_url": "rtsp://viewer:Cam-Secret-77@10.0.0.8:554/stream1"})
    assert st == 200 and b["stream_url"] == "rtsp://viewer:Cam-Secret-77@10.0.0.8:554/stream1", b
    details = [row[3] for row in audit(c, "camera_update")]
    assert details and all("Cam-Secret-77" not in d for d in details), details
    assert any("rtsp://***@10.0.0.8:554/stream1" in d for d in details), details
    st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/cameras/{cid}", {"name": "灰斗", "stream_url": None,
                                                                           "system_id": None})
    assert st == 200 and b["stream_url"] is None and b["system_id"] is None and b["updated_at"] >= b["created_at"], b
    # a video alarm names it: delete refused, disable allowed, the alarm stays attributable
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(200) + b"\xff\xd9"
    st, _, r = c.srv.ingest("POST", "/ingest/v1/videos",
                            {"videos": [{"camera": "CAM01", "ts": now_iso(2), "alarm_type": "SJ02001", "content": "烟火识别",
                                         "image_base64": base64.b64encode(jpeg).decode()}]}, {"X-Api-Key": c.a1["api_key"]})
    assert st == 200 and r["accepted"] == 1, (st, r)
    assert c.call("a1.manager", "GET", f"/api/v1/cameras/{cid}")[2]["last_alarm_at"] is not None
    st, _, b = c.call("a1.manager", "DELETE", f"/api/v1/cameras/{cid}")
    assert st == 409 and b["code"] == "in_use", (st, b)
    assert c.call("a1.manager", "PATCH", f"/api/v1/cameras/{cid}", {"enabled": False})[2]["enabled"] is False
    # one without alarms goes; the list shows what is left
    st, _, b = c.call("a1.manager", "POST", url, dict(cam, code="CAM02", stream_url=None))
    assert st == 201, b
    assert c.call("a1.manager", "DELETE", f"/api/v1/cameras/{b['id']}")[0] == 200
    assert [x["code"] for x in c.call("luodian.staff", "GET", url)[2]["items"]] == ["CAM01"]
    # a system a camera watches cannot be deleted under it
    _, _, s = c.call("baoshan.admin", "POST", f"/api/v1/enterprises/{a1}/systems", {"code": "09", "name": "9号"})
    c.call("a1.manager", "PATCH", f"/api/v1/cameras/{cid}", {"system_id": s["id"]})
    st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/systems/{s['id']}")
    assert st == 409 and "cameras" in b["detail"], (st, b)


def test_gateways_crud():
    c = SHARED
    url = f"/api/v1/enterprises/{c.a1['id']}/gateways"
    st, _, g = c.call("a1.manager", "POST", url, {"code": "GW-A1-01", "name": "数采网关1", "dialect": "hebei"})
    assert st == 201 and g["dialect"] == "hebei" and g["last_seen_at"] is None, (st, g)
    gid = g["id"]
    # gateway codes are unique in the city
    st, _, b = c.call("b1.manager", "POST", f"/api/v1/enterprises/{c.b1['id']}/gateways", {"code": "GW-A1-01"})
    assert st == 409, (st, b)
    assert c.call("a1.manager", "POST", url, {"code": "GW-2", "dialect": "modbus"})[0] == 400
    assert c.call("a1.manager", "POST", url, {"code": "G"})[0] == 400
    st, _, g = c.call("baoshan.staff", "PATCH", f"/api/v1/gateways/{gid}", {"dialect": "native", "code": "GW-A1-02"})
    assert st == 200 and g["code"] == "GW-A1-02" and g["name"] == "数采网关1", g
    for user, expect in (("b1.manager", 404), ("a2.manager", 404), ("luodian.staff", 403), ("nanxiang.staff", 403)):
        assert c.call(user, "PATCH", f"/api/v1/gateways/{gid}", {"name": "x"})[0] == expect, user
        assert c.call(user, "DELETE", f"/api/v1/gateways/{gid}")[0] == expect, user
    assert c.call("b1.manager", "GET", f"/api/v1/gateways/{gid}")[0] == 404
    assert [x["code"] for x in c.call("luodian.staff", "GET", url)[2]["items"]] == ["GW-A1-02"]
    st, _, b = c.call("a1.manager", "DELETE", f"/api/v1/gateways/{gid}")
    assert st == 200, b
    assert c.call("a1.manager", "GET", f"/api/v1/gateways/{gid}")[0] == 404
    acts = [(r[0], r[2]) for r in audit(c, "gateway_update")]
    assert ("baoshan.staff", "ok") in acts and ("b1.manager", "denied") in acts, acts


def test_ingest_credentials_issue_use_and_revoke():
    c = SHARED
    a1 = c.a1
    url = f"/api/v1/enterprises/{a1['id']}/ingest-credentials"
    # administrators only; street staff read the list
    for user, expect in (("baoshan.staff", 403), ("luodian.staff", 403), ("jiading.admin", 404), ("b1.manager", 404)):
        st, _, b = c.call(user, "POST", url, {"kind": "api_key"})
        assert st == expect, (user, st, b)
    for bad in ({"kind": "password"}, {"kind": "api_key", "appid": "x"}, {"kind": "api_key", "key": "mine"},
                {"label": "no kind"}, {"kind": "mem_sm4", "appid": "bad id!"}):
        st, _, b = c.call("a1.manager", "POST", url, bad)
        assert st == 400, (bad, st, b)
    # api_key: answered once, listed by prefix, accepted by the ingest listener
    st, _, k = c.call("a1.manager", "POST", url, {"kind": "api_key", "label": "网关1"})
    assert st == 201 and k["secret"]["api_key"].startswith("dwk_") and len(k["secret"]["api_key"]) == 47, k
    key = k["secret"]["api_key"]
    assert k["prefix"] == key[:12] and k["active"] is True, k
    listing = c.call("luodian.staff", "GET", url)[2]["items"]
    mine = [x for x in listing if x["id"] == k["id"]][0]
    assert "secret" not in mine and key not in str(listing) and mine["label"] == "网关1", mine
    code = a1["points"]["hopper_temp"][0]
    ing = lambda v: c.srv.ingest("POST", "/ingest/v1/readings",
                                 {"readings": [{"point": code, "ts": now_iso(0), "value": v}]}, {"X-Api-Key": key})
    st, _, r = ing(31.5)
    assert st == 200 and r["accepted"] == 1, (st, r)
    # hebei_des: one active key per enterprise, so the fixture's is revoked first
    st, _, b = c.call("baoshan.admin", "POST", url, {"kind": "hebei_des"})
    assert st == 409, (st, b)
    old = [x for x in listing if x["kind"] == "hebei_des" and x["active"]][0]
    st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/ingest-credentials/{old['id']}")
    assert st == 200 and b["revoked_at"] and b["active"] is False, (st, b)
    st, _, h = c.call("baoshan.admin", "POST", url, {"kind": "hebei_des", "label": "省平台"})
    assert st == 201 and len(h["secret"]["des_key"]) == 8 and h["secret"]["des_key"].isalnum(), (st, h)
    bj = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))) - dt.timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
    inner = {"qybm": a1["code"], "data": {"rts": [{"tnm": code, "ts": bj, "val": "27.20"}]}}
    hebei = lambda key: c.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                                     dialects.hebei_body(a1["code"], inner, key, iv=h["secret"]["des_iv"].encode()))
    st, _, raw = hebei(h["secret"]["des_key"])
    assert raw["code"] == 200, raw
    st, _, raw = hebei(a1["des_key"])
    assert raw["code"] != 200, raw
    # mem_sm4 with a given appid
    st, _, m = c.call("city.admin", "POST", url, {"kind": "mem_sm4", "appid": "a1-gw.2026"})
    assert st == 201 and m["appid"] == "a1-gw.2026" and len(m["secret"]["sm4_key"]) == 32, (st, m)
    assert c.call("a1.manager", "POST", url, {"kind": "mem_sm4", "appid": "a1-gw.2026"})[0] == 409
    sec = m["secret"]
    mem_inner = {"readings": [{"point": code, "ts": now_iso(3), "value": 29}]}
    mem = lambda: c.srv.ingest("POST", "/mem/v1/readings",
                               dialects.mem_body(sec["appid"], mem_inner, sec["sm4_key"], sec["sm4_iv"]),
                               {"appsecret": sec["appsecret"]})
    st, _, r = mem()
    assert st == 200 and r["accepted"] == 1, (st, r)
    # secrets are nowhere at rest: not in the database, not in the audit trail
    dump = subprocess.run([t.PGBIN + "/pg_dump", "-h", "127.0.0.1", "-p", t.PG_PORT, "-U", "dwadmin", c.db.name],
                          capture_output=True, text=True).stdout
    assert key not in dump and sec["appsecret"] not in dump and len(dump) > 10000
    trail = str(audit(c, "ingest_credential_create"))
    assert key not in trail and h["secret"]["des_key"] not in trail and sec["sm4_key"] not in trail
    assert f"prefix={key[:12]}" in trail and "appid=a1-gw.2026" in trail, trail
    # revoked: the listener refuses at once
    assert c.call("jiading.admin", "DELETE", f"/api/v1/ingest-credentials/{k['id']}")[0] == 404
    assert c.call("baoshan.staff", "DELETE", f"/api/v1/ingest-credentials/{k['id']}")[0] == 403
    assert c.call("a1.manager", "DELETE", f"/api/v1/ingest-credentials/{k['id']}")[0] == 200
    t0 = time.time()
    st, _, r = ing(32)
    assert st == 401 and time.time() - t0 < 1.0, (st, r)
    st, _, b = c.call("a1.manager", "DELETE", f"/api/v1/ingest-credentials/{k['id']}")
    assert st == 409 and b["code"] == "invalid_transition", (st, b)
    assert c.call("a1.manager", "DELETE", f"/api/v1/ingest-credentials/{m['id']}")[0] == 200
    assert mem()[0] == 401
    assert c.call("baoshan.admin", "DELETE", f"/api/v1/ingest-credentials/{h['id']}")[0] == 200
    assert hebei(h["secret"]["des_key"])[2]["code"] == 401
    rows = [(r[0], r[2]) for r in audit(c, "ingest_credential_revoke")]
    assert ("a1.manager", "ok") in rows and ("jiading.admin", "denied") in rows and ("a1.manager", "failed") in rows
    assert c.db.scalar(f"SELECT count(*) FROM ingest_credentials WHERE id = {k['id']} AND revoked_at IS NOT NULL") == "1"


def test_admin_cli_credentials_still_work():
    """The CLI and the API share one generator (server/core/srv_cred.c)."""
    c = SHARED
    r = subprocess.run([t.BIN, "admin", "create-credential", "--enterprise", c.b1["code"], "--kind", "mem_sm4",
                        "--label", "cli"], env=c.db.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert out["appid"].startswith("dw") and len(out["sm4_key"]) == 32 and len(out["appsecret"]) == 43, out
    items = c.call("b1.manager", "GET", f"/api/v1/enterprises/{c.b1['id']}/ingest-credentials")[2]["items"]
    assert any(x["appid"] == out["appid"] and x["label"] == "cli" for x in items), items


SHARED = None

if __name__ == "__main__":
    # no worker: risk recompute requests stay visible to the test
    SHARED = City(roles="ingest,api")
    t.run([
        test_systems_crud_roles_and_delete_rules,
        test_points_create_and_delete_never_lose_data,
        test_cameras_crud_by_the_enterprise,
        test_gateways_crud,
        test_ingest_credentials_issue_use_and_revoke,
        test_admin_cli_credentials_still_work,
    ], cleanup=SHARED.close)
