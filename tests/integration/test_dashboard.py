"""What the dashboard shows (issue 17).

* Units on every value: an alarm names its point's unit, and a point stored
  without one (points.unit '') gets its kind's unit (indicator_kinds.unit), as
  the point list already does: a hopper temperature alarm reads "95 / 80 ℃",
  not a bare "95 / 80".
* Cleaning compliance counts the period a check-in falls in even while that
  period (today, for a daily area) is still running: an area created today
  with two check-ins is 1 of 1, not "—"; enterprises in scope without an
  active cleaning area are listed (without_areas) instead of left out.
* The survey-table CSV export holds what the filtered list shows: district,
  street, status, name/code, dust kind, industry, connection and grade filters
  apply to it; an unknown status/conn/grade is a 400, not an empty file.
* The enterprise list says per enterprise how many points report (live), so
  the 实时监测 picker can grey out an enterprise that is offline.
* REST API keys (接口密钥) and ingest credentials (设备与接入) look different:
  dwa_… vs dwk_….  A REST key sent to ingest is a 401 whose detail says what
  it is and where a gateway credential comes from; an ingest credential is no
  REST key; REST keys issued before the split (dwk_…) keep working.
* Video: a video alarm's snapshot is served (GET /api/v1/alarms/{id}/snapshot,
  image/jpeg by its bytes, 404 outside the scope or without an image) and the
  alarm links it; cameras have a status from their last video
  (camera_offline_after_s); the worker writes enterprise_profiles.video_offline
  (the S input, which had no writer) when the count changes."""
import base64
import hashlib
import re
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import City
from test_event_streams import Stream


def iso(d):
    return d.replace(microsecond=0).isoformat()


def test_alarm_point_unit_falls_back_to_kind():
    c = City(worker_interval_ms=300)
    try:
        a1 = c.a1
        assert c.db.scalar(f"SELECT unit FROM points WHERE id = {a1['points']['hopper_temp'][1]}") in ("", None)
        ts = datetime.now(timezone.utc) - timedelta(seconds=20)
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings",
                                {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": iso(ts), "value": 95}]},
                                {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r

        def alarm():
            st, _, b = c.call("a1.manager", "GET", "/api/v1/alarms?limit=10")
            assert st == 200, b
            return next((a for a in b["items"] if a["point"] and a["point"]["kind"] == "hopper_temp"), None)
        a = t.wait_for(alarm, what="hopper temperature alarm")
        assert a["point"]["unit"] == "℃", a["point"]
        st, _, one = c.call("a1.manager", "GET", f"/api/v1/alarms/{a['id']}")
        assert st == 200 and one["alarm"]["point"]["unit"] == "℃", one
        # a point's own unit wins over its kind's
        c.db.sql(f"UPDATE points SET unit = 'K' WHERE id = {a1['points']['hopper_temp'][1]}")
        st, _, one = c.call("a1.manager", "GET", f"/api/v1/alarms/{a['id']}")
        assert one["alarm"]["point"]["unit"] == "K", one["alarm"]["point"]
    finally:
        c.close()


def test_compliance_counts_todays_checkins_and_lists_enterprises_without_areas():
    c = City()
    try:
        e = c.a1["id"]
        st, _, area = c.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                             {"name": "抛光车间", "frequency": "daily"})
        assert st == 201, area
        for who in ("王师傅", "李师傅"):
            st, _, ck = c.call("a1.manager", "POST", f"/api/v1/cleaning-areas/{area['id']}/checkins",
                               {"person": who, "method": "vacuum"})
            assert st == 201, ck
        st, _, comp = c.call("luodian.staff", "GET", "/api/v1/cleaning/compliance")
        assert st == 200, comp
        ent = [x for x in comp["enterprises"] if x["id"] == e]
        assert len(ent) == 1, comp
        a = ent[0]["areas"][0]
        assert (a["required"], a["done"], a["missed"]) == (1, 1, 0), a
        assert ent[0]["rate"] == 1.0, ent[0]
        assert comp["totals"]["rate"] == 1.0 and comp["totals"]["without_areas"] == 1, comp["totals"]
        assert [x["id"] for x in comp["without_areas"]] == [c.a2["id"]], comp["without_areas"]
        # the city sees both enterprises without areas; a filter narrows the list
        st, _, comp = c.call("city.admin", "GET", "/api/v1/cleaning/compliance")
        assert {x["id"] for x in comp["without_areas"]} == {c.a2["id"], c.b1["id"]}, comp["without_areas"]
        st, _, comp = c.call("city.admin", "GET", "/api/v1/cleaning/compliance?district=310114")
        assert [x["id"] for x in comp["without_areas"]] == [c.b1["id"]] and comp["enterprises"] == [], comp
        # a window that ended before the check-ins does not count them
        st, _, comp = c.call("city.admin", "GET", "/api/v1/cleaning/compliance?from=2026-01-01T00:00:00Z"
                             "&to=2026-01-05T00:00:00Z")
        assert st == 200 and all(x["done"] == 0 for x in comp["enterprises"]), comp
    finally:
        c.close()


def csv_names(c, user, qs=""):
    st, hdr, raw = c.call(user, "GET", "/api/v1/enterprises/export.csv" + qs)
    assert st == 200 and hdr["content-type"].startswith("text/csv"), (st, raw)
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
    return sorted(line.split(",")[2] for line in text.strip().splitlines()[1:])


def test_export_honours_filters_and_list_says_who_reports():
    c = City()
    try:
        assert len(csv_names(c, "city.admin")) == 3
        assert csv_names(c, "city.admin", "?district=310114") == [c.b1["name"]]
        assert csv_names(c, "city.admin", "?street=310113103") == sorted([c.a1["name"], c.a2["name"]])
        assert csv_names(c, "city.admin", "?q=" + urllib.parse.quote("罗店木业")) == [c.a2["name"]]
        c.db.sql(f"UPDATE enterprises SET status = 'stopped', industry_code = 'C2011' WHERE id = {c.a2['id']}")
        assert csv_names(c, "city.admin", "?status=stopped") == [c.a2["name"]]
        assert csv_names(c, "city.admin", "?industry=C2011") == [c.a2["name"]]
        grades = dict(c.db.sql("SELECT e.name, coalesce(er.grade, 'none') FROM enterprises e "
                               "LEFT JOIN enterprise_risk er ON er.enterprise_id = e.id"))
        for g in ("red", "orange", "yellow", "blue", "none"):
            assert csv_names(c, "city.admin", "?grade=" + g) == sorted(n for n, x in grades.items() if x == g), (g, grades)
        assert csv_names(c, "baoshan.admin", "?district=310114") == []  # the scope still holds
        for bad in ("?status=closed", "?conn=maybe", "?grade=purple"):
            st, _, b = c.call("city.admin", "GET", "/api/v1/enterprises/export.csv" + bad)
            assert st == 400 and b["code"] == "bad_request", (bad, st, b)

        ts = datetime.now(timezone.utc) - timedelta(seconds=5)
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings",
                                {"readings": [{"point": c.a1["points"]["hopper_temp"][0], "ts": iso(ts), "value": 30}]},
                                {"X-Api-Key": c.a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        st, _, lst = c.call("baoshan.admin", "GET", "/api/v1/enterprises")
        live = {x["id"]: x["live"] for x in lst["items"]}
        assert live[c.a1["id"]]["points_total"] == 3 and live[c.a1["id"]]["points_online"] == 1, live
        assert live[c.a1["id"]]["last_reading_at"] is not None, live
        assert live[c.a2["id"]]["points_online"] == 0 and live[c.a2["id"]]["last_reading_at"] is None, live
    finally:
        c.close()


def test_rest_keys_and_ingest_credentials_have_distinct_prefixes():
    c = City()
    try:
        e = c.a1["id"]
        st, _, k = c.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/api-keys", {"label": "erp"})
        assert st == 201 and re.fullmatch(r"dwa_[A-Za-z0-9_-]{43}", k["key"]) and k["prefix"] == k["key"][:12], k
        st, _, me = c.srv.api("GET", "/api/v1/auth/me", None, {"Authorization": "Bearer " + k["key"]})
        assert st == 200 and me["scope"]["id"] == e, me
        body = {"readings": [{"point": c.a1["points"]["hopper_temp"][0],
                              "ts": iso(datetime.now(timezone.utc) - timedelta(seconds=5)), "value": 30}]}
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": k["key"]})
        assert st == 401 and r["code"] == "unauthenticated" and "REST API key" in r["detail"] \
            and "ingest-credentials" in r["detail"], r
        # an ingest credential issued in 设备与接入: dwk_, accepted by ingest, no REST key
        st, _, cred = c.call("baoshan.admin", "POST", f"/api/v1/enterprises/{e}/ingest-credentials",
                             {"kind": "api_key"})
        assert st == 201 and cred["secret"]["api_key"].startswith("dwk_"), cred
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": cred["secret"]["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        st, _, b = c.srv.api("GET", "/api/v1/auth/me", None, {"Authorization": "Bearer " + cred["secret"]["api_key"]})
        assert st == 401, b
        # a REST key from before the split (dwk_) still opens the REST API
        legacy = "dwk_" + "L" * 43
        c.db.sql(f"INSERT INTO api_keys (enterprise_id, label, key_prefix, key_hash) VALUES ({e}, 'old', "
                 f"'{legacy[:12]}', '\\x{hashlib.sha256(legacy.encode()).hexdigest()}')")
        st, _, me = c.srv.api("GET", "/api/v1/auth/me", None, {"Authorization": "Bearer " + legacy})
        assert st == 200 and me["scope"]["id"] == e, me
    finally:
        c.close()


JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2 + b"\xff\xd9"


def test_video_snapshots_camera_status_and_video_offline():
    c = City(camera_offline_after_s=3600, worker_interval_ms=300)
    try:
        a1 = c.a1
        fixtures.add_camera(c.db, a1, "CAM01")
        cam2 = fixtures.add_camera(c.db, a1, "CAM02")
        fixtures.add_camera(c.db, a1, "CAM03", enabled=False)
        c.db.sql(f"UPDATE cameras SET created_at = now() - interval '2 hours' WHERE enterprise_id = {a1['id']}")
        ts = datetime.now(timezone.utc) - timedelta(minutes=2)
        vids = [{"camera": "CAM01", "ts": iso(ts), "alarm_type": "SJ02001", "content": "烟火识别",
                 "image_base64": base64.b64encode(JPEG).decode()},
                {"camera": "CAM01", "ts": iso(ts), "alarm_type": "HELMET01", "content": "未戴安全帽"}]
        st, _, r = c.srv.ingest("POST", "/ingest/v1/videos", {"videos": vids}, {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 2, r
        st, _, b = c.call("a1.manager", "GET", "/api/v1/alarms?source=video&limit=10")
        by = {a["reason"]: a for a in b["items"]}
        fire, helmet = by["SJ02001"], by["HELMET01"]
        assert fire["snapshot"] and fire["snapshot"]["href"] == f"/api/v1/alarms/{fire['id']}/snapshot" \
            and fire["snapshot"]["bytes"] == len(JPEG), fire
        assert helmet["snapshot"] is None, helmet
        for user in ("a1.manager", "baoshan.staff", "luodian.staff", "city.admin"):
            st, hdr, raw = c.call(user, "GET", fire["snapshot"]["href"])
            assert st == 200 and hdr["content-type"] == "image/jpeg" and raw == JPEG, (user, st, hdr)
        for user in ("a2.manager", "jiading.admin", "nanxiang.staff"):
            st, _, b = c.call(user, "GET", fire["snapshot"]["href"])
            assert st == 404 and b["code"] == "not_found", (user, st, b)
        st, _, b = c.call("a1.manager", "GET", f"/api/v1/alarms/{helmet['id']}/snapshot")
        assert st == 404, b
        assert c.call("a1.manager", "GET", "/api/v1/alarms/abc/snapshot")[0] == 404
        st, _, one = c.call("a1.manager", "GET", f"/api/v1/alarms/{fire['id']}")
        assert one["alarm"]["snapshot"]["href"] == fire["snapshot"]["href"], one["alarm"]

        # camera status: CAM01 sent video, CAM02 silent for 2 h (> 1 h), CAM03 disabled
        st, _, cams = c.call("a1.manager", "GET", f"/api/v1/enterprises/{a1['id']}/cameras")
        status = {x["code"]: x["status"] for x in cams["items"]}
        assert status == {"CAM01": "online", "CAM02": "offline", "CAM03": "disabled"}, cams
        st, _, one = c.call("a1.manager", "GET", f"/api/v1/cameras/{cam2}")
        assert st == 200 and (one.get("camera") or one)["status"] == "offline", one
        # the worker writes the S input: one offline camera, then none once CAM02 is retired
        t.wait_for(lambda: c.db.scalar(f"SELECT video_offline FROM enterprise_profiles "
                                       f"WHERE enterprise_id = {a1['id']}") == "1", what="video_offline 1")
        assert c.db.scalar(f"SELECT coalesce(max(video_offline), 0) FROM enterprise_profiles "
                           f"WHERE enterprise_id = {c.a2['id']}") == "0"
        st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/cameras/{cam2}", {"enabled": False})
        assert st == 200, b
        t.wait_for(lambda: c.db.scalar(f"SELECT video_offline FROM enterprise_profiles "
                                       f"WHERE enterprise_id = {a1['id']}") == "0", what="video_offline 0")
    finally:
        c.close()


def test_enterprise_removing_its_monitoring_notifies_the_district():
    c = City()
    stream = None
    try:
        e = c.a1["id"]
        stream = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["baoshan.staff"]})
        far = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["jiading.admin"]})
        gw = c.db.scalar(f"INSERT INTO gateways (enterprise_id, code, name) VALUES ({e}, 'GW-01', '1号网关') RETURNING id")
        gw2 = c.db.scalar(f"INSERT INTO gateways (enterprise_id, code, name) VALUES ({e}, 'GW-02', '2号网关') RETURNING id")
        st, _, b = c.call("a1.manager", "DELETE", f"/api/v1/gateways/{gw}")
        assert st == 200, b
        st, _, creds = c.call("a1.manager", "GET", f"/api/v1/enterprises/{e}/ingest-credentials")
        cred = next(x for x in creds["items"] if x["kind"] == "hebei_des")
        st, _, b = c.call("a1.manager", "DELETE", f"/api/v1/ingest-credentials/{cred['id']}")
        assert st == 200, b
        # the district deleting a gateway itself leaves no notice
        st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/gateways/{gw2}")
        assert st == 200, b

        st, _, n = c.call("baoshan.staff", "GET", "/api/v1/equipment-notices")
        assert st == 200 and n["open"] == 2, n
        kinds = {x["kind"]: x for x in n["items"]}
        assert set(kinds) == {"gateway_deleted", "credential_revoked"}, n
        g = kinds["gateway_deleted"]
        assert g["enterprise"]["id"] == e and g["object"] == "gateway:GW-01" and g["actor"] == "a1.manager" \
            and g["seen_at"] is None, g
        assert kinds["credential_revoked"]["object"] == f"ingest_credential:{cred['id']}", n
        assert "kind=hebei_des" in kinds["credential_revoked"]["detail"], n
        for user in ("jiading.admin", "a2.manager", "nanxiang.staff"):
            st, _, other = c.call(user, "GET", "/api/v1/equipment-notices")
            assert st == 200 and other["items"] == [] and other["open"] == 0, (user, other)
        st, _, own = c.call("a1.manager", "GET", "/api/v1/equipment-notices")
        assert len(own["items"]) == 2, own
        # live: the district's stream got both, another district's none
        t.wait_for(lambda: stream.has('"type":"notice"') and stream.has('"action":"credential_revoked"')
                   and stream.has('"action":"gateway_deleted"'), what="notice events")
        assert not far.has('"type":"notice"')
        # audit beside it
        assert c.db.scalar("SELECT count(*) FROM audit_log WHERE action IN ('gateway_delete', "
                           "'ingest_credential_revoke') AND result = 'ok'") == "3"
        # seen: by the district, once; not by an enterprise, not outside the scope
        assert c.call("a1.manager", "POST", f"/api/v1/equipment-notices/{g['id']}/seen", {})[0] == 403
        assert c.call("jiading.admin", "POST", f"/api/v1/equipment-notices/{g['id']}/seen", {})[0] == 404
        st, _, b = c.call("baoshan.staff", "POST", f"/api/v1/equipment-notices/{g['id']}/seen", {})
        assert st == 200 and b["seen"] is True, b
        st, _, n = c.call("baoshan.admin", "GET", "/api/v1/equipment-notices?open=true")
        assert n["open"] == 1 and [x["kind"] for x in n["items"]] == ["credential_revoked"], n
        st, _, n = c.call("baoshan.admin", "GET", "/api/v1/equipment-notices")
        seen = next(x for x in n["items"] if x["id"] == g["id"])
        assert seen["seen_by"] == "baoshan.staff" and seen["seen_at"], seen
        assert c.call("baoshan.admin", "GET", "/api/v1/equipment-notices?open=maybe")[0] == 400
        far.close()
    finally:
        if stream:
            stream.close()
        c.close()


if __name__ == "__main__":
    t.run([test_alarm_point_unit_falls_back_to_kind,
           test_compliance_counts_todays_checkins_and_lists_enterprises_without_areas,
           test_export_honours_filters_and_list_says_who_reports,
           test_rest_keys_and_ingest_credentials_have_distinct_prefixes,
           test_video_snapshots_camera_status_and_video_offline,
           test_enterprise_removing_its_monitoring_notifies_the_district])
