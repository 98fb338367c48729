"""摸排 entry by street accounts (issue 17 item 8).

* A street proposes a new enterprise of its street and a change of one of its
  enterprises; both are pending: visible to the street and its district (not to
  another district or street), counted nowhere (overview, enterprise list,
  statistics) and changing nothing until the district confirms.
* The district returns a proposal with a reason, the street edits and
  resubmits, the district confirms: the enterprise is written through the
  archive's checks in the same transaction.
* Bad input and wrong scope are refused with {code, hint, detail} and store
  nothing; a proposal that breaks the archive's rules at confirmation (a taken
  code) is refused and stays pending.
* Every step leaves an audit row (proposal_submit/_return/_edit/_confirm, with
  from, to and the reason), beside enterprise_create/enterprise_update."""
import json

import dwtest as t
from test_api import City

NEW = {"code": "310113000050", "uscc": "91310113MA1G000050", "name": "上海罗店新材料有限公司",
       "address": "罗店镇美丰路8号", "dust_kinds": ["wood"], "dust_workers": 6}


def err(res, status, code):
    st, _, b = res
    assert st == status and isinstance(b, dict) and b.get("code") == code and b.get("hint") and b.get("detail"), res[0::2]
    return b


def count(c, q):
    return int(c.db.scalar(q))


def proposals(c, user, status=None):
    st, _, b = c.call(user, "GET", "/api/v1/survey/proposals" + (f"?status={status}" if status else ""))
    assert st == 200, b
    return b["items"]


def counted(c, user):
    ov = c.call(user, "GET", "/api/v1/overview")[2]
    lst = c.call(user, "GET", "/api/v1/enterprises")[2]
    stats = c.call(user, "GET", "/api/v1/statistics")
    return ov["enterprises"], lst["total"], json.dumps(stats[2], ensure_ascii=False)


def test_propose_return_edit_confirm():
    c = City()
    try:
        before = counted(c, "baoshan.staff")
        st, _, b = c.call("luodian.staff", "POST", "/api/v1/survey/proposals", {"record": NEW})
        assert st == 201 and b["status"] == "pending", b
        pid = b["id"]
        # pending: seen by the street and its district, nobody else
        for user in ("luodian.staff", "baoshan.staff", "baoshan.admin", "city.admin"):
            items = proposals(c, user, "pending")
            assert [(p["id"], p["kind"], p["name"], p["street"]["code"]) for p in items] == \
                [(pid, "create", NEW["name"], "310113103")], (user, items)
        for user in ("jiading.admin", "nanxiang.staff"):
            assert proposals(c, user) == [], user
        assert c.call("a1.manager", "GET", "/api/v1/survey/proposals")[0] == 403
        # ... and counted nowhere
        now = counted(c, "baoshan.staff")
        assert now[:2] == before[:2] == (2, 2), now
        assert NEW["name"] not in now[2]
        assert count(c, f"SELECT count(*) FROM enterprises WHERE code = '{NEW['code']}'") == 0
        # returned with a reason, which the street reads
        err(c.call("baoshan.staff", "POST", f"/api/v1/survey/proposals/{pid}/return", {}), 400, "bad_request")
        st, _, b = c.call("baoshan.staff", "POST", f"/api/v1/survey/proposals/{pid}/return", {"reason": "统一社会信用代码有误"})
        assert st == 200 and b["status"] == "returned", b
        p = proposals(c, "luodian.staff")[0]
        assert p["status"] == "returned" and p["reason"] == "统一社会信用代码有误" and p["decided_by"] == "baoshan.staff", p
        err(c.call("baoshan.admin", "POST", f"/api/v1/survey/proposals/{pid}/confirm"), 409, "invalid_transition")
        # the street edits and resubmits; the district confirms
        fixed = dict(NEW, uscc="91310113MA1G000051")
        err(c.call("luodian.staff", "PATCH", f"/api/v1/survey/proposals/{pid}", {"record": {"name": "x"}}), 400, "bad_request")
        st, _, b = c.call("luodian.staff", "PATCH", f"/api/v1/survey/proposals/{pid}", {"record": fixed})
        assert st == 200 and b["status"] == "pending", b
        err(c.call("jiading.admin", "POST", f"/api/v1/survey/proposals/{pid}/confirm"), 404, "not_found")
        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/survey/proposals/{pid}/confirm")
        assert st == 200 and b["status"] == "confirmed" and b["enterprise_id"], b
        eid = b["enterprise_id"]
        assert c.db.sql(f"SELECT e.uscc, s.code, d.code FROM enterprises e JOIN regions s ON s.id = e.street_id "
                        f"JOIN regions d ON d.id = e.district_id WHERE e.id = {eid}") == [["91310113MA1G000051", "310113103", "310113"]]
        assert c.call("luodian.staff", "GET", f"/api/v1/enterprises/{eid}")[0] == 200
        assert counted(c, "baoshan.staff")[:2] == (3, 3)
        err(c.call("luodian.staff", "PATCH", f"/api/v1/survey/proposals/{pid}", {"record": fixed}), 409, "invalid_transition")
        # a change of an existing enterprise: pending changes nothing, the district sees the diff
        a1 = c.a1["id"]
        old_addr = c.db.scalar(f"SELECT address FROM enterprises WHERE id = {a1}")
        st, _, b = c.call("luodian.staff", "POST", "/api/v1/survey/proposals",
                          {"enterprise_id": a1, "record": {"address": "罗店镇新地址1号", "dust_workers": 12}})
        assert st == 201, b
        cid = b["id"]
        err(c.call("luodian.staff", "POST", "/api/v1/survey/proposals",
                   {"enterprise_id": a1, "record": {"address": "again"}}), 409, "conflict")
        assert c.db.scalar(f"SELECT address FROM enterprises WHERE id = {a1}") == old_addr
        p = [p for p in proposals(c, "baoshan.admin", "pending") if p["id"] == cid][0]
        assert p["kind"] == "update" and p["before"]["address"] == old_addr and p["record"]["address"] == "罗店镇新地址1号", p
        st, _, b = c.call("city.admin", "POST", f"/api/v1/survey/proposals/{cid}/confirm", {})
        assert st == 200 and b["enterprise_id"] == a1, b
        assert c.db.sql(f"SELECT address, dust_workers FROM enterprises WHERE id = {a1}") == [["罗店镇新地址1号", "12"]]
        # every step audited, in order, with from/to/why
        rows = c.db.sql("SELECT action, object, detail, username FROM audit_log WHERE action LIKE 'proposal_%' "
                        "AND result = 'ok' ORDER BY id")
        assert [r[0] for r in rows] == ["proposal_submit", "proposal_return", "proposal_edit", "proposal_confirm",
                                        "proposal_submit", "proposal_confirm"], rows
        ret = json.loads(rows[1][2])
        assert ret == {"from": "pending", "to": "returned", "why": "统一社会信用代码有误"} and rows[1][3] == "baoshan.staff", rows[1]
        assert json.loads(rows[3][2])["to"] == "confirmed" and rows[3][1] == f"proposal:{pid}"
        ent = c.db.sql("SELECT action, object FROM audit_log WHERE action IN ('enterprise_create', 'enterprise_update') "
                       "AND result = 'ok' ORDER BY id")
        assert ent == [["enterprise_create", f"enterprise:{eid}"], ["enterprise_update", f"enterprise:{a1}"]], ent
    finally:
        c.close()


def test_bad_input_scope_and_refused_confirmation():
    c = City()
    try:
        url = "/api/v1/survey/proposals"
        for body, status, code in [
                ({"record": dict(NEW, district="310113")}, 422, "unprocessable"),
                ({"record": dict(NEW, street="310113103")}, 422, "unprocessable"),
                ({"record": dict(NEW, owner="x")}, 400, "unknown_field"),
                ({"record": {k: v for k, v in NEW.items() if k != "uscc"}}, 400, "bad_request"),
                ({"record": dict(NEW, dust_workers=-1)}, 400, "bad_request"),
                ({"record": dict(NEW, status="bogus")}, 400, "bad_request"),
                ({"record": "text"}, 400, "bad_request"),
                ({"record": NEW, "enterprise_id": "x"}, 400, "bad_request"),
                ({"record": NEW, "street_id": 1}, 400, "unknown_field"),
                ({"enterprise_id": c.a1["id"], "record": {}}, 400, "bad_request"),
                ({"enterprise_id": c.b1["id"], "record": {"address": "x"}}, 404, "not_found")]:
            err(c.call("luodian.staff", "POST", url, body), status, code)
        err(c.call("nanxiang.staff", "POST", url, {"enterprise_id": c.a1["id"], "record": {"address": "x"}}), 404, "not_found")
        for user in ("baoshan.staff", "baoshan.admin", "a1.manager"):
            err(c.call(user, "POST", url, {"record": NEW}), 403, "forbidden")
        err(c.call("baoshan.staff", "GET", url + "?status=bogus"), 400, "bad_request")
        assert count(c, "SELECT count(*) FROM enterprise_proposals") == 0
        # a disabled street takes no new enterprise
        luodian = c.db.scalar("SELECT id FROM regions WHERE code = '310113103'")
        c.db.sql(f"UPDATE regions SET disabled_at = now() WHERE id = {luodian}")
        err(c.call("luodian.staff", "POST", url, {"record": NEW}), 422, "unprocessable")
        c.db.sql(f"UPDATE regions SET disabled_at = NULL WHERE id = {luodian}")
        # the archive's rules at confirmation: a2's code is taken
        st, _, b = c.call("luodian.staff", "POST", url, {"record": dict(NEW, code=c.a2["code"])})
        assert st == 201, b
        pid = b["id"]
        err(c.call("luodian.staff", "POST", f"{url}/{pid}/confirm"), 403, "forbidden")
        err(c.call("baoshan.admin", "POST", f"{url}/{pid}/confirm", {"force": True}), 400, "unknown_field")
        b = err(c.call("baoshan.admin", "POST", f"{url}/{pid}/confirm"), 409, "conflict")
        assert "code" in b["detail"], b
        assert count(c, f"SELECT count(*) FROM enterprises WHERE uscc = '{NEW['uscc']}'") == 0
        assert proposals(c, "luodian.staff")[0]["status"] == "pending"
        err(c.call("baoshan.admin", "POST", f"{url}/999999/confirm"), 404, "not_found")
        err(c.call("baoshan.admin", "POST", f"{url}/{pid}/return", {"reason": "x" * 501}), 400, "bad_request")
        results = c.db.sql("SELECT action, result FROM audit_log WHERE action LIKE 'proposal_%' ORDER BY id")
        assert ["proposal_confirm", "failed"] in results and ["proposal_submit", "denied"] in results, results
        assert ["proposal_confirm", "denied"] in results, results
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_propose_return_edit_confirm, test_bad_input_scope_and_refused_confirmation])
