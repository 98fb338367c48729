"""Hazards (隐患, issue 14 item 2), through the real server.

* A major hazard (item 3 of 工贸企业粉尘防爆重大事故隐患判定) reported by the
  district makes the enterprise's risk override red (the engine's
  major_hazard_items, which only raw SQL could set before); an ordinary one
  counts in S (open_hazards).  Closing them takes both back out.
* The rectification loop: plan → rectify → reject → rectify → verify (closed),
  each step by its role, in order (409 otherwise), with its event and its
  audit record; bad input is 400/422 and stores nothing; another tenant's
  hazard is 404.
* Derived proposals from the archive and the asset registry (non-frame
  multi-storey building, gathering rooms, a dry system without explosion
  protection) wait for a person: they do not feed the risk score until
  confirmed; a dismissed one is not proposed again; derive twice proposes once.
* Per street with ageing: open counts, overdue, age buckets."""
import base64
import datetime as dt
import threading

import dwtest as t
from test_api import City

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def latest(c, ent, expr):
    return c.db.scalar(f"SELECT {expr} FROM risk_scores WHERE enterprise_id = {ent['id']} ORDER BY id DESC LIMIT 1")


def test_major_hazard_drives_risk_and_rectification_loop():
    c = City(worker_interval_ms=250)
    try:
        url = f"/api/v1/enterprises/{c.a1['id']}/hazards"
        before = c.db.scalar("SELECT count(*) FROM hazards")
        for body, status, code in [
                ({"kind": "major", "title": "x", "found_how": "inspection"}, 422, "hazard_invalid"),
                ({"kind": "major", "major_item": 11, "title": "x", "found_how": "inspection"}, 422, "hazard_invalid"),
                ({"kind": "ordinary", "major_item": 2, "title": "x", "found_how": "inspection"}, 422, "hazard_invalid"),
                ({"kind": "ordinary", "title": "x"}, 422, "hazard_invalid"),  # government: say how
                ({"kind": "ordinary", "title": "x", "found_how": "inspection",
                  "deadline": "2020-01-01T00:00:00Z"}, 422, "hazard_invalid"),
                ({"kind": "ordinary", "title": "x", "found_how": "inspection", "photo": "AAAA"}, 422, "photo_invalid"),
                ({"kind": "ordinary", "title": "x", "found_how": "inspection", "colour": 1}, 400, "unknown_field")]:
            st, _, b = c.call("baoshan.staff", "POST", url, body)
            assert st == status and b["code"] == code, (body, st, b)
        assert c.db.scalar("SELECT count(*) FROM hazards") == before
        assert c.call("jiading.admin", "POST", url, {"kind": "ordinary", "title": "x", "found_how": "inspection"})[0] == 404

        st, _, h = c.call("baoshan.staff", "POST", url, {
            "kind": "major", "major_item": 3, "title": "1号除尘器无泄爆装置", "found_how": "inspection",
            "found_by": "张检查", "photo": base64.b64encode(PNG).decode()})
        assert st == 201, (st, h)
        hz = h["hazard"]
        assert hz["status"] == "reported" and hz["open"] and hz["deadline"] and hz["photo"]["type"] == "image/png", hz
        st, hdr, _ = c.call("a1.manager", "GET", f"/api/v1/hazards/{hz['id']}/photo")
        assert st == 200 and hdr["content-type"] == "image/png"
        # the engine's override follows the open major hazard
        t.wait_for(lambda: latest(c, c.a1, "(inputs->'archive'->>'major_hazard_items')::int") == "4"
                   or latest(c, c.a1, "inputs->'dynamic'->>'major_hazard_items'") == "4",
                   timeout=30, what="major_hazard_items in the risk inputs")
        t.wait_for(lambda: latest(c, c.a1, "grade") == "red" and latest(c, c.a1, "override") == "t",
                   timeout=30, what="the major-hazard override")
        # an ordinary self-check hazard counts in S
        st, _, o = c.call("a1.manager", "POST", url, {"kind": "ordinary", "title": "地面积尘"})
        assert st == 201 and o["hazard"]["found_how"] == "self_check", o
        t.wait_for(lambda: latest(c, c.a1, "inputs->'dynamic'->>'open_hazards'") == "1", timeout=30,
                   what="open_hazards in the risk inputs")

        hid = hz["id"]
        go = lambda user, act, body: c.call(user, "POST", f"/api/v1/hazards/{hid}/{act}", body)
        assert go("a1.manager", "rectify", {"report": "done"})[0] == 409
        assert go("baoshan.staff", "verify", {})[0] == 409
        assert go("a1.manager", "verify", {})[0] == 403
        assert go("a2.manager", "plan", {"plan": "x"})[0] == 404
        assert go("a1.manager", "plan", {})[0] == 400
        st, _, b = go("a1.manager", "plan", {"plan": "加装泄爆片"})
        assert st == 200 and b["hazard"]["status"] == "planned" and b["hazard"]["plan"] == "加装泄爆片", b
        assert go("a1.manager", "rectify", {"report": "已加装"})[2]["hazard"]["status"] == "rectified"
        st, _, b = go("luodian.staff", "reject", {"reason": "泄爆面积不足"})
        assert st == 200 and b["hazard"]["status"] == "rejected" and b["hazard"]["open"], b
        assert go("a1.manager", "rectify", {"report": "已更换"})[2]["hazard"]["status"] == "rectified"
        st, _, b = go("baoshan.staff", "verify", {"note": "现场验收通过"})
        assert st == 200 and b["hazard"]["status"] == "closed" and not b["hazard"]["open"], b
        assert [e["action"] for e in b["events"]] == ["report", "plan", "rectify", "reject", "rectify", "verify"], b
        assert go("baoshan.staff", "verify", {})[0] == 409
        # closed: the override is gone
        t.wait_for(lambda: latest(c, c.a1, "override") == "f", timeout=30, what="no override after closure")
        assert c.db.scalar(f"SELECT major_hazard_items FROM enterprise_profiles WHERE enterprise_id = {c.a1['id']}") == "{}"
        acts = [r[0] for r in c.db.sql(f"SELECT action FROM audit_log WHERE object = 'hazard:{hid}' AND result = 'ok' ORDER BY id")]
        assert acts == ["hazard_report", "hazard_plan", "hazard_rectify", "hazard_reject", "hazard_rectify",
                        "hazard_verify"], acts
        assert c.call("a2.manager", "GET", f"/api/v1/hazards/{hid}")[0] == 404
        st, _, lst = c.call("a2.manager", "GET", "/api/v1/hazards")
        assert st == 200 and lst["total"] == 0, lst
    finally:
        c.close()


def test_derived_proposals_and_ageing():
    c = City()
    try:
        e = c.a1["id"]
        c.db.sql(f"UPDATE enterprises SET building_storeys = 'multi', building_frame = 'non_frame', "
                 f"gathering_rooms = 2 WHERE id = {e}")
        assert c.call("a1.manager", "POST", "/api/v1/hazards/derive", {})[0] == 403
        st, _, d = c.call("baoshan.admin", "POST", "/api/v1/hazards/derive", {"enterprise_id": e})
        assert st == 200 and d["proposed"] == 3, d  # items 1 (twice) and 3 (the dry system)
        assert c.call("baoshan.admin", "POST", "/api/v1/hazards/derive", {"enterprise_id": e})[2]["proposed"] == 0
        st, _, lst = c.call("baoshan.admin", "GET", "/api/v1/hazards?status=proposed")
        items = {x["derived_rule"]: x for x in lst["items"]}
        assert set(items) == {"archive.non_frame_multi_storey", "archive.gathering_rooms",
                              "system.no_explosion_protection:01"}, items
        assert {x["major_item"] for x in items.values()} == {1, 3}
        # proposals do not feed the risk inputs until a person confirms them
        assert c.db.scalar(f"SELECT major_hazard_items FROM enterprise_profiles WHERE enterprise_id = {e}") == "{}"
        p1 = items["archive.gathering_rooms"]["id"]
        st, _, b = c.call("luodian.staff", "POST", f"/api/v1/hazards/{p1}/confirm", {})
        assert st == 200 and b["hazard"]["status"] == "reported" and b["hazard"]["deadline"], b
        assert c.db.scalar(f"SELECT major_hazard_items FROM enterprise_profiles WHERE enterprise_id = {e}") == "{1}"
        p3 = items["system.no_explosion_protection:01"]["id"]
        assert c.call("baoshan.admin", "POST", f"/api/v1/hazards/{p3}/dismiss", {})[0] == 400
        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/hazards/{p3}/dismiss", {"reason": "已设抑爆"})
        assert st == 200 and b["hazard"]["status"] == "dismissed", b
        assert c.call("baoshan.admin", "POST", "/api/v1/hazards/derive", {"enterprise_id": e})[2]["proposed"] == 0

        # ageing per street: one open hazard 40 days old and overdue
        c.db.sql(f"UPDATE hazards SET found_at = now() - interval '40 days', deadline = now() - interval '1 day' "
                 f"WHERE id = {p1}")
        st, _, ag = c.call("baoshan.admin", "GET", "/api/v1/hazards/ageing")
        assert st == 200 and len(ag["items"]) == 1, ag
        row = ag["items"][0]
        assert row["street"]["code"] == "310113103" and row["open"] == 1 and row["major"] == 1, row
        assert row["overdue"] == 1 and row["age_gt_30d"] == 1 and row["age_lt_7d"] == 0, row
        assert c.call("jiading.admin", "GET", "/api/v1/hazards/ageing")[2]["items"] == []
        assert c.call("a1.manager", "GET", "/api/v1/hazards/ageing")[0] == 403
        st, _, lst = c.call("a1.manager", "GET", "/api/v1/hazards?overdue=true")
        assert st == 200 and [x["id"] for x in lst["items"]] == [p1] and lst["items"][0]["age_days"] >= 40, lst
    finally:
        c.close()


def test_two_hazards_closed_at_once_leave_none_open():
    # enterprise_profiles.major_hazard_items / open_hazards (the engine's hazard inputs) are
    # written by a trigger from the enterprise's open hazards as its statement's snapshot has
    # them.  Two hazards of one enterprise closed by two people at once: each trigger saw the
    # other hazard still open, and the one that waited for the profile row wrote its stale
    # list over the other's on the recheck -- a closed major hazard stayed in the inputs and
    # kept the red override.  Here A is closed in a psql session left open, B through the
    # API while that session holds the profile row; then the session commits.
    c = City()
    lock = None
    try:
        url = f"/api/v1/enterprises/{c.a1['id']}/hazards"
        ids = []
        for item in (3, 4):
            st, _, h = c.call("baoshan.staff", "POST", url, {
                "kind": "major", "major_item": item, "title": f"第{item}项", "found_how": "inspection"})
            assert st == 201, (st, h)
            ids.append(h["hazard"]["id"])
        a, b = ids
        prof = f"SELECT major_hazard_items FROM enterprise_profiles WHERE enterprise_id = {c.a1['id']}"
        assert c.db.scalar(prof) == "{3,4}"
        go = lambda user, act, body: c.call(user, "POST", f"/api/v1/hazards/{b}/{act}", body)
        assert go("a1.manager", "plan", {"plan": "加装"})[0] == 200
        assert go("a1.manager", "rectify", {"report": "已加装"})[0] == 200
        lock = t.psql_session(c.db.name, "closer")
        lock.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                         f"BEGIN; UPDATE hazards SET status = 'closed', closed_at = now() WHERE id = {a};\n")
        lock.stdin.flush()
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "current_database() AND application_name = 'closer' AND state = "
                                       "'idle in transaction'") == "1", what="A closed, not committed")
        out = {}
        verify = threading.Thread(target=lambda: out.update(r=go("baoshan.staff", "verify", {"note": "通过"})))
        verify.start()
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "current_database() AND wait_event_type = 'Lock' AND query LIKE "
                                       "'%UPDATE hazards h SET status%'") == "1",
                   timeout=20, what="the verification of B waiting")
        lock.stdin.write("COMMIT;\n")
        lock.stdin.close()
        assert lock.wait(10) == 0, lock.stderr.read()
        lock = None
        verify.join(30)
        assert not verify.is_alive(), "the verification did not answer"
        st, _, body = out["r"]
        assert st == 200 and body["hazard"]["status"] == "closed", (st, body)
        assert c.db.scalar(f"SELECT count(*) FROM hazards WHERE enterprise_id = {c.a1['id']} AND status "
                           "IN ('reported', 'planned', 'rectified', 'rejected')") == "0"
        items = c.db.scalar(prof)
        assert items == "{}", f"closed major hazards still in the risk inputs: {items}"
        assert c.db.scalar(f"SELECT open_hazards FROM enterprise_profiles WHERE enterprise_id = {c.a1['id']}") == "0"
    finally:
        if lock:
            lock.kill()
        c.close()


if __name__ == "__main__":
    t.run([test_major_hazard_drives_risk_and_rectification_loop, test_derived_proposals_and_ageing,
           test_two_hazards_closed_at_once_leave_none_open])
