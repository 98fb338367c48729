"""Region administration (issue 17 item 8): streets, towns and parks.

* City administrators manage every district's streets/towns/parks, a district
  administrator its own; staff, streets and enterprises get 403, another
  district's region 404, another district as parent 422.
* Bad input is refused with {code, hint, detail} and stores nothing.
* A disabled region keeps its enterprises but takes no new one; it cannot be
  deleted while enterprises (or accounts) are in it, nor before it is disabled.
* Moving a street to another district moves its enterprises: the REST scope and
  the live-event streams follow at once (the periodic epoch check is set to its
  longest, so what the test sees comes from the broadcast).
* Every change leaves an audit row with what was changed."""
import dwtest as t
from test_api import City, admin
from test_event_scope import Stream, delivered, end, mark, publish


def region_id(c, code):
    return int(c.db.scalar(f"SELECT id FROM regions WHERE code = '{code}'"))


def count(c, q):
    return int(c.db.scalar(q))


def err(res, status, code):
    st, _, b = res
    assert st == status and b.get("code") == code and b.get("hint") and b.get("detail"), res
    return b


def test_scope_bad_input_and_audit():
    c = City()
    try:
        baoshan, jiading = region_id(c, "310113"), region_id(c, "310114")
        luodian = region_id(c, "310113103")
        park = {"code": "310113501", "name": "宝山工业园区", "kind": "park", "parent_id": baoshan}
        # who may: administrators of the city and of the district only
        for user in ("baoshan.staff", "luodian.staff", "a1.manager"):
            err(c.call(user, "POST", "/api/v1/regions", park), 403, "forbidden")
        # a district places streets under itself only
        err(c.call("jiading.admin", "POST", "/api/v1/regions", park), 422, "unprocessable")
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/regions", park)
        assert st == 201 and b["kind"] == "park" and b["parent_id"] == baoshan and b["disabled"] is False, b
        pid = b["id"]
        st, _, b = c.call("city.admin", "POST", "/api/v1/regions",
                          {"code": "310114103", "name": "江桥镇", "kind": "town", "parent_id": jiading})
        assert st == 201, b
        # bad input: nothing stored
        before = c.db.scalar("SELECT count(*) FROM regions")
        for body, status, code in [
                (dict(park, code="31011350X"), 400, "bad_request"),
                (dict(park, code="310113"), 400, "bad_request"),
                (dict(park, code="310113502", kind="village"), 400, "bad_request"),
                (dict(park, code="310113502", name=""), 400, "bad_request"),
                (dict(park, code="310113502", name="长" * 101), 400, "bad_request"),
                (dict(park, code="310113502", parent_id="x"), 400, "bad_request"),
                (dict(park, code="310113502", level="district"), 400, "unknown_field"),
                (dict(park, code="310113502", parent_id=luodian), 422, "unprocessable"),
                (park, 409, "conflict")]:
            err(c.call("city.admin", "POST", "/api/v1/regions", body), status, code)
        assert c.db.scalar("SELECT count(*) FROM regions") == before
        # update: rename, re-kind; another district's region looks missing
        err(c.call("jiading.admin", "PATCH", f"/api/v1/regions/{pid}", {"name": "x"}), 404, "not_found")
        err(c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{baoshan}", {"name": "x"}), 404, "not_found")
        err(c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{pid}", {}), 400, "bad_request")
        err(c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{pid}", {"disabled": "yes"}), 400, "bad_request")
        err(c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{pid}", {"code": "310113509"}), 400, "unknown_field")
        # a district cannot give its street away
        err(c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{pid}", {"parent_id": jiading}), 422, "unprocessable")
        st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{pid}", {"name": "宝山城市工业园区", "kind": "town"})
        assert st == 200 and b["name"] == "宝山城市工业园区" and b["kind"] == "town", b
        assert c.db.sql(f"SELECT name, kind, parent_id FROM regions WHERE id = {pid}") == [["宝山城市工业园区", "town", str(baoshan)]]
        # the tree shows it, with its flag, to its district and not to the other
        items = c.call("baoshan.staff", "GET", "/api/v1/regions")[2]["items"]
        assert [r["disabled"] for r in items if r["id"] == pid] == [False], items
        assert pid not in [r["id"] for r in c.call("jiading.admin", "GET", "/api/v1/regions")[2]["items"]]
        rows = c.db.sql("SELECT action, object, result, username, detail FROM audit_log "
                        "WHERE action LIKE 'region_%' ORDER BY id")
        ok = [r for r in rows if r[2] == "ok"]
        assert [r[0] for r in ok] == ["region_create", "region_create", "region_update"], rows
        assert ok[0][1] == f"region:{pid}" and ok[0][3] == "baoshan.admin" and '"created"' in ok[0][4]
        assert '"before"' in ok[2][4] and "宝山工业园区" in ok[2][4] and "宝山城市工业园区" in ok[2][4], ok[2]
        # refusals are audited too
        assert ["region_create", "denied"] in [[r[0], r[2]] for r in rows], rows
        assert ["region_update", "denied"] in [[r[0], r[2]] for r in rows], rows
        assert ["region_create", "failed"] in [[r[0], r[2]] for r in rows], rows
    finally:
        c.close()


def test_disable_and_delete():
    c = City()
    try:
        baoshan = region_id(c, "310113")
        luodian = region_id(c, "310113103")
        # a disabled street keeps its enterprises and takes no new one
        st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{luodian}", {"disabled": True})
        assert st == 200 and b["disabled"] is True and b["disabled_at"] and b["enterprises"] == 2, b
        assert c.call("luodian.staff", "GET", f"/api/v1/enterprises/{c.a1['id']}")[0] == 200
        new = {"code": "310113000099", "uscc": "91310113MA1G000099", "name": "上海新建粉体有限公司",
               "street": "310113103", "dust_kinds": ["wood"]}
        err(c.call("baoshan.admin", "POST", "/api/v1/enterprises", new), 422, "unprocessable")
        assert count(c, "SELECT count(*) FROM enterprises WHERE code = '310113000099'") == 0
        # nor can it be deleted while they are in it
        b = err(c.call("baoshan.admin", "DELETE", f"/api/v1/regions/{luodian}"), 409, "in_use")
        assert "2 enterprises" in b["detail"], b
        # an empty region: disable first, then delete
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/regions",
                          {"code": "310113502", "name": "顾村镇", "kind": "town", "parent_id": baoshan})
        assert st == 201, b
        gid = b["id"]
        err(c.call("baoshan.admin", "DELETE", f"/api/v1/regions/{gid}"), 409, "invalid_transition")
        err(c.call("jiading.admin", "DELETE", f"/api/v1/regions/{gid}"), 404, "not_found")
        assert c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{gid}", {"disabled": True})[0] == 200
        # an account of the region refers to it
        admin(c.db, "create-account", "--username", "gucun.staff", "--role", "street_staff", "--region", "310113502")
        err(c.call("baoshan.admin", "DELETE", f"/api/v1/regions/{gid}"), 409, "in_use")
        c.db.sql("DELETE FROM accounts WHERE username = 'gucun.staff'")
        st, _, b = c.call("baoshan.admin", "DELETE", f"/api/v1/regions/{gid}")
        assert st == 200 and b == {"id": gid, "deleted": True}, b
        assert count(c, f"SELECT count(*) FROM regions WHERE id = {gid}") == 0
        # enabled again, the street takes new enterprises
        assert c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{luodian}", {"disabled": False})[2]["disabled"] is False
        assert c.call("baoshan.admin", "POST", "/api/v1/enterprises", new)[0] == 201
        rows = c.db.sql("SELECT action, result FROM audit_log WHERE action = 'region_delete' ORDER BY id")
        assert rows == [["region_delete", "denied"]] * 3 + [["region_delete", "failed"],
                        ["region_delete", "ok"]], rows
        d = c.db.scalar("SELECT detail FROM audit_log WHERE action = 'region_delete' AND result = 'ok'")
        assert '"deleted"' in d and "顾村镇" in d, d
    finally:
        c.close()


def test_moving_a_street_moves_its_enterprises_and_streams_follow():
    c = City(event_stream_check_s=14)
    try:
        baoshan, jiading = region_id(c, "310113"), region_id(c, "310114")
        luodian = region_id(c, "310113103")
        bs = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["baoshan.admin"]})
        jd = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["jiading.admin"]})
        publish(300, c.a1)  # the hub caches a1 in 宝山区
        delivered(bs, 300)
        st, _, b = c.call("city.admin", "PATCH", f"/api/v1/regions/{luodian}", {"parent_id": jiading})
        assert st == 200 and b["parent_id"] == jiading and b["enterprises"] == 2, b
        assert c.db.sql(f"SELECT DISTINCT district_id FROM enterprises WHERE street_id = {luodian}") == [[str(jiading)]]
        # REST: the district it left no longer sees them, the new one does, the street still does
        assert c.call("baoshan.admin", "GET", f"/api/v1/enterprises/{c.a1['id']}")[0] == 404
        assert c.call("jiading.admin", "GET", f"/api/v1/enterprises/{c.a1['id']}")[0] == 200
        assert c.call("luodian.staff", "GET", f"/api/v1/enterprises/{c.a1['id']}")[0] == 200
        assert c.call("baoshan.admin", "PATCH", f"/api/v1/regions/{luodian}", {"name": "x"})[0] == 404
        assert c.call("jiading.admin", "PATCH", f"/api/v1/regions/{luodian}", {"name": "罗店镇"})[0] == 200
        # live events: at once, not after the 14 s epoch check
        publish(301, c.a1)
        delivered(jd, 301, timeout=5)
        publish(302, c.a1)
        delivered(jd, 302)
        assert not bs.has(mark(301)) and not bs.has(mark(302)), bs.text[-400:]
        assert not jd.has(mark(300))
        end(bs, jd)
        d = c.db.scalar("SELECT detail FROM audit_log WHERE action = 'region_update' AND result = 'ok' ORDER BY id LIMIT 1")
        assert f'"parent_id":{baoshan}' in d.replace(" ", "") and f'"parent_id":{jiading}' in d.replace(" ", ""), d
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_scope_bad_input_and_audit, test_disable_and_delete,
           test_moving_a_street_moves_its_enterprises_and_streams_follow])
