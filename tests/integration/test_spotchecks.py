"""Online spot checks (在线抽查, issue 14 item 3), through the real server.

* Selection: random N, by grade, by street, "not checked for N days" and a named list,
  always inside the caller's scope (a list naming a foreign enterprise is 404 and stores
  nothing; a selection matching nothing is 422).
* Scope: the district's campaign is invisible to a street of that district and to another
  district (404 on every read and action); a street's own campaign is its street's.
* The dossier is one call: alarms, video alarms, cleaning check-ins, data online,
  interruptions, filings and open hazards of the period.
* A finding on action hazard creates a hazard (found_how spot_check, linked back) whose
  loop closes the finding; a rectification request is answered by the enterprise,
  rejected, answered again and verified (closed); every step audited; the enterprise's
  to-do lists what it must answer.
* Counts per inspector equal an independent count of the rows.
* Bad input is 400/422 with {code, hint, detail} and stores nothing."""
import datetime as dt

import dwtest as t

from test_api import City

ITEMS = ["alarms_handled", "warnings_answered", "data_online", "cleaning_done", "video_alarms", "filings_valid",
         "explosion_protection", "spark_detection"]


def all_ok(**over):
    a = {k: "ok" for k in ITEMS}
    a.update(over)
    return a


def is_error(b, code):
    return isinstance(b, dict) and b.get("code") == code and b.get("hint") and b.get("detail")


def campaign(c, user, body, status=201):
    st, _, b = c.call(user, "POST", "/api/v1/spot-campaigns", body)
    assert st == status, (user, body, st, b)
    return b


def rows(c, table):
    return int(c.db.scalar(f"SELECT count(*) FROM {table}"))


def test_selection_rules_and_scope():
    c = City()
    try:
        a1, a2, b1 = c.a1["id"], c.a2["id"], c.b1["id"]
        before = (rows(c, "spot_campaigns"), rows(c, "spot_checks"))
        for body, st, code in [
                ({"rule": "random"}, 400, "bad_request"),                       # no title
                ({"title": "x", "rule": "everything"}, 422, "spot_invalid"),
                ({"title": "x", "rule": "random", "n": 0}, 422, "spot_invalid"),
                ({"title": "x", "rule": "grade"}, 422, "spot_invalid"),
                ({"title": "x", "rule": "grade", "grades": ["purple"]}, 422, "spot_invalid"),
                ({"title": "x", "rule": "street", "street_code": "abc"}, 422, "spot_invalid"),
                ({"title": "x", "rule": "list", "enterprise_ids": [a1, a1]}, 422, "spot_invalid"),
                ({"title": "x", "rule": "list", "enterprise_ids": []}, 422, "spot_invalid"),
                ({"title": "x", "rule": "random", "period_from": "2026-02-01T00:00:00Z",
                  "period_to": "2026-01-01T00:00:00Z"}, 422, "spot_invalid"),
                ({"title": "x", "rule": "random", "period_from": "yesterday"}, 400, "bad_request"),
                ({"title": "x", "rule": "random", "colour": 1}, 400, "unknown_field"),
                # another district's street matches nothing in baoshan
                ({"title": "x", "rule": "street", "street_code": "310114102"}, 422, "spot_invalid"),
                # a named enterprise outside the scope: 404, nothing stored
                ({"title": "x", "rule": "list", "enterprise_ids": [a1, b1]}, 404, "not_found")]:
            b = campaign(c, "baoshan.admin", body, st)
            assert is_error(b, code), (body, b)
        assert (rows(c, "spot_campaigns"), rows(c, "spot_checks")) == before
        assert c.call("a1.manager", "POST", "/api/v1/spot-campaigns", {"title": "x", "rule": "random"})[0] == 403
        assert c.call("a1.manager", "GET", "/api/v1/spot-campaigns")[0] == 403

        # random N within the district
        b = campaign(c, "baoshan.admin", {"title": "随机抽查", "rule": "random", "n": 1})
        assert b["campaign"]["checks"] == 1 and len(b["checks"]) == 1, b
        assert b["checks"][0]["enterprise"]["id"] in (a1, a2)
        b = campaign(c, "baoshan.admin", {"title": "全部", "rule": "random", "n": 50})
        assert {k["enterprise"]["id"] for k in b["checks"]} == {a1, a2}
        # by street
        b = campaign(c, "baoshan.admin", {"title": "罗店", "rule": "street", "street_code": "310113103"})
        assert {k["enterprise"]["id"] for k in b["checks"]} == {a1, a2}
        # by grade: a2 red, a1 yellow
        for eid, grade in ((a2, "red"), (a1, "yellow")):
            score = c.db.scalar(
                f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
                f"grade_by_score, override, rules, inputs, trigger) VALUES ({eid}, now(), 'probe', 80, 80, 0, 0, 0, "
                f"'{grade}', '{grade}', false, '[]', '{{}}', 'manual') RETURNING id")
            c.db.sql(f"INSERT INTO enterprise_risk (enterprise_id, score_id, computed_at, r, grade, override, "
                     f"model_version) VALUES ({eid}, {score}, now(), 80, '{grade}', false, 'probe') ON CONFLICT "
                     f"(enterprise_id) DO UPDATE SET grade = EXCLUDED.grade, score_id = EXCLUDED.score_id")
        b = campaign(c, "baoshan.admin", {"title": "红色", "rule": "grade", "grades": ["red", "orange"]})
        assert [k["enterprise"]["id"] for k in b["checks"]] == [a2], b
        b = campaign(c, "baoshan.admin", {"title": "黄色", "rule": "grade", "grades": ["yellow"]})
        assert [k["enterprise"]["id"] for k in b["checks"]] == [a1], b
        # a named list
        b = campaign(c, "baoshan.admin", {"title": "指定", "rule": "list", "enterprise_ids": [a1]})
        camp, check = b["campaign"], b["checks"][0]
        assert camp["rule"] == "list" and camp["params"]["enterprise_ids"] == [a1] and camp["district_id"], camp
        # not checked for 30 days: once a1 is checked, only a2 remains
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/spot-checks/{check['id']}/record", {"answers": all_ok()})
        assert st == 200 and r["check"]["status"] == "done", r
        b = campaign(c, "baoshan.admin", {"title": "超期", "rule": "stale", "stale_days": 30})
        assert [k["enterprise"]["id"] for k in b["checks"]] == [a2], b
        assert b["campaign"]["params"]["stale_days"] == 30

        # scope: the district's campaign is invisible to its street and to another district
        cid, kid = camp["id"], check["id"]
        for user in ("luodian.staff", "jiading.admin", "nanxiang.staff"):
            for method, path, body in [("GET", f"/api/v1/spot-campaigns/{cid}", None),
                                       ("POST", f"/api/v1/spot-campaigns/{cid}/close", None),
                                       ("GET", f"/api/v1/spot-checks/{kid}", None),
                                       ("GET", f"/api/v1/spot-checks/{kid}/dossier", None),
                                       ("POST", f"/api/v1/spot-checks/{kid}/record", {"answers": all_ok()})]:
                st, _, r = c.call(user, method, path, body)
                assert st == 404 and is_error(r, "not_found"), (user, path, st, r)
            items = c.call(user, "GET", "/api/v1/spot-campaigns")[2]["items"]
            assert cid not in {i["id"] for i in items}, (user, items)
        assert c.db.scalar(f"SELECT status FROM spot_campaigns WHERE id = {cid}") == "open"
        # a street's own campaign: its enterprises only, seen by its district, not by another district
        b = campaign(c, "luodian.staff", {"title": "街镇抽查", "rule": "random", "n": 10})
        assert {k["enterprise"]["id"] for k in b["checks"]} == {a1, a2}
        sid = b["campaign"]["id"]
        assert b["campaign"]["street_id"] and b["campaign"]["district_id"], b["campaign"]
        assert c.call("baoshan.staff", "GET", f"/api/v1/spot-campaigns/{sid}")[0] == 200
        assert c.call("jiading.admin", "GET", f"/api/v1/spot-campaigns/{sid}")[0] == 404
        assert {i["id"] for i in c.call("luodian.staff", "GET", "/api/v1/spot-campaigns")[2]["items"]} == {sid}
        # the city sees all; closing is once
        assert c.call("city.admin", "GET", f"/api/v1/spot-campaigns/{cid}")[0] == 200
        st, _, r = c.call("baoshan.staff", "POST", f"/api/v1/spot-campaigns/{cid}/close")
        assert st == 200 and r["campaign"]["status"] == "closed", r
        st, _, r = c.call("baoshan.staff", "POST", f"/api/v1/spot-campaigns/{cid}/close")
        assert st == 409 and is_error(r, "invalid_transition"), r
        moves = [x[0] for x in c.db.sql(f"SELECT action FROM audit_log WHERE object = 'spot_campaign:{cid}' "
                                        f"AND result = 'ok' ORDER BY id")]
        assert moves == ["spot_campaign_create", "spot_campaign_close"], moves
    finally:
        c.close()


def test_findings_hazard_rectification_and_counts():
    c = City()
    try:
        a1, a2 = c.a1["id"], c.a2["id"]
        b = campaign(c, "baoshan.staff", {"title": "季度抽查", "rule": "list", "enterprise_ids": [a1, a2]})
        checks = {k["enterprise"]["id"]: k["id"] for k in b["checks"]}
        k1, k2 = checks[a1], checks[a2]

        # the dossier: what the enterprise did in the period, in one call
        pid = c.a1["points"]["hopper_temp"][1]
        alarm = c.db.scalar(
            f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
            f"ack_deadline, handle_deadline) VALUES ({a1}, {pid}, 'rule', 'limit', 'high', 1, 1, "
            f"now() - interval '2 days', now(), now()) RETURNING id")
        area = c.db.scalar(f"INSERT INTO cleaning_areas (enterprise_id, name, frequency) VALUES ({a1}, '车间', "
                           f"'daily') RETURNING id")
        checkin = c.db.scalar(f"INSERT INTO cleaning_checkins (area_id, enterprise_id, person, checked_at, method) "
                              f"VALUES ({area}, {a1}, '王清扫', now() - interval '1 day', 'vacuum') RETURNING id")
        filing = c.db.scalar(
            f"INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, approval_level) VALUES ({a1}, "
            f"'maintenance', now() - interval '5 days', now() - interval '4 days', '检修', 'district') RETURNING id")
        st, _, d = c.call("baoshan.staff", "GET", f"/api/v1/spot-checks/{k1}/dossier")
        assert st == 200, (st, d)
        assert d["check"]["check"]["enterprise"]["id"] == a1 and d["period"]["from"] and d["period"]["to"]
        assert [a["id"] for a in d["alarms"]["items"]] == [int(alarm)], d["alarms"]
        assert d["video_alarms"]["items"] == []
        assert [x["id"] for x in d["cleaning"]["items"]] == [int(checkin)], d["cleaning"]
        assert [x["id"] for x in d["filings"]] == [int(filing)], d["filings"]
        assert "online_rate" in d["online"] and d["interruptions"]["items"] == [] and d["hazards"]["total"] == 0, d
        assert {x["code"] for x in d["check"]["checklist"]} == set(ITEMS)

        # bad records store nothing
        url = f"/api/v1/spot-checks/{k1}/record"
        haz_before, f_before = rows(c, "hazards"), rows(c, "spot_findings")
        for body, code in [
                ({"answers": {"alarms_handled": "ok"}}, "spot_invalid"),            # not every item
                ({"answers": all_ok(nonsense="ok")}, "spot_invalid"),
                ({"answers": all_ok(alarms_handled="maybe")}, "spot_invalid"),
                ({"answers": "ok"}, "spot_invalid"),
                ({"answers": all_ok(), "findings": [{"title": "x", "action": "fine"}]}, "spot_invalid"),
                ({"answers": all_ok(), "findings": [{"title": "", "action": "hazard"}]}, "bad_request"),
                ({"answers": all_ok(), "findings": [{"title": "x", "action": "hazard", "kind": "major"}]},
                 "spot_invalid"),                                                      # major without its item
                ({"answers": all_ok(), "findings": [{"title": "x", "action": "rectification", "kind": "major"}]},
                 "spot_invalid"),
                ({"answers": all_ok(), "findings": [{"title": "x", "action": "rectification",
                                                     "deadline": "2020-01-01T00:00:00Z"}]}, "spot_invalid"),
                ({"answers": all_ok(), "findings": [{"title": "x", "action": "rectification", "item_code": "zz"}]},
                 "spot_invalid"),
                ({"answers": all_ok(), "findings": [{"title": "x", "action": "hazard", "x": 1}]}, "unknown_field")]:
            st, _, r = c.call("baoshan.staff", "POST", url, body)
            assert st in (400, 422) and is_error(r, code), (body, st, r)
        assert (rows(c, "hazards"), rows(c, "spot_findings")) == (haz_before, f_before)
        assert c.db.scalar(f"SELECT status FROM spot_checks WHERE id = {k1}") == "pending"

        # the record: a hazard (item 3 by the checklist item) and a rectification request
        st, _, r = c.call("baoshan.staff", "POST", url, {
            "answers": all_ok(explosion_protection="finding", cleaning_done="finding", video_alarms="na"),
            "note": "两项问题",
            "findings": [{"item_code": "explosion_protection", "title": "2号除尘器泄爆片缺失", "action": "hazard"},
                         {"item_code": "cleaning_done", "title": "清扫打卡缺3天", "action": "rectification"}]})
        assert st == 200, (st, r)
        assert r["check"]["status"] == "done" and r["check"]["inspector"] == "baoshan.staff", r
        fh, fr = sorted(r["findings"], key=lambda f: f["action"])
        assert fh["action"] == "hazard" and fh["status"] == "hazard" and not fh["closed"], fh
        assert fr["action"] == "rectification" and fr["status"] == "requested" and fr["deadline"], fr
        hid = fh["hazard"]["id"]
        hz = c.call("a1.manager", "GET", f"/api/v1/hazards/{hid}")[2]["hazard"]
        assert (hz["found_how"], hz["kind"], hz["major_item"], hz["status"], hz["title"]) == (
            "spot_check", "major", 3, "reported", "2号除尘器泄爆片缺失"), hz
        assert c.db.scalar(f"SELECT hazard_id FROM spot_findings WHERE id = {fh['id']}") == str(hid)
        st, _, r = c.call("baoshan.staff", "POST", url, {"answers": all_ok()})
        assert st == 409 and is_error(r, "invalid_transition"), r

        # the enterprise's to-do lists the request; it sees its findings, not its neighbour's
        todo = c.call("a1.manager", "GET", f"/api/v1/enterprises/{a1}/todo")[2]["items"]
        assert {(i["kind"], i["id"]) for i in todo} >= {("spot_finding_answer", fr["id"]), ("hazard_plan", hid)}, todo
        mine = c.call("a1.manager", "GET", "/api/v1/spot-findings?open=true")[2]["items"]
        assert {f["id"] for f in mine} == {fh["id"], fr["id"]}, mine
        assert c.call("a2.manager", "GET", "/api/v1/spot-findings")[2]["items"] == []
        assert c.call("a1.manager", "GET", f"/api/v1/spot-checks/{k1}")[0] == 403

        go = lambda user, act, body, fid=fr["id"]: c.call(user, "POST", f"/api/v1/spot-findings/{fid}/{act}", body)
        assert go("a2.manager", "reply", {"reply": "x"})[0] == 404
        assert go("luodian.staff", "verify", {})[0] == 404   # the district's, not the street's
        assert go("jiading.admin", "reject", {"reason": "x"})[0] == 404
        assert go("baoshan.staff", "verify", {})[0] == 409   # nothing answered yet
        assert go("a1.manager", "verify", {})[0] == 403
        st, _, e = go("a1.manager", "reply", {})
        assert st == 400 and is_error(e, "bad_request"), e
        st, _, e = go("a1.manager", "reply", {"reply": "x"}, fh["id"])
        assert st == 409 and "hazards" in e["detail"], e
        st, _, f = go("a1.manager", "reply", {"reply": "已补打卡"})
        assert st == 200 and f["finding"]["status"] == "replied" and f["finding"]["reply"] == "已补打卡", f
        st, _, f = go("baoshan.staff", "reject", {"reason": "照片不清"})
        assert st == 200 and f["finding"]["status"] == "rejected" and f["finding"]["verify_note"] == "照片不清", f
        assert go("a1.manager", "reply", {"reply": "重新上传"})[2]["finding"]["status"] == "replied"
        st, _, f = go("baoshan.admin", "verify", {"note": "通过"})
        assert st == 200 and f["finding"]["status"] == "closed" and f["finding"]["closed"], f
        assert go("baoshan.admin", "verify", {})[0] == 409
        moves = [x[0] for x in c.db.sql(f"SELECT action FROM audit_log WHERE object = 'spot_finding:{fr['id']}' "
                                        f"AND result = 'ok' ORDER BY id")]
        assert moves == ["spot_finding_create", "spot_finding_reply", "spot_finding_reject", "spot_finding_reply",
                         "spot_finding_verify"], moves
        assert c.db.scalar(f"SELECT count(*) FROM audit_log WHERE object = 'spot_check:{k1}' "
                           f"AND action = 'spot_check_record' AND result = 'ok'") == "1"
        todo = c.call("a1.manager", "GET", f"/api/v1/enterprises/{a1}/todo")[2]["items"]
        assert ("spot_finding_answer", fr["id"]) not in {(i["kind"], i["id"]) for i in todo}

        # the hazard's own loop closes the finding
        hgo = lambda user, act, body: c.call(user, "POST", f"/api/v1/hazards/{hid}/{act}", body)
        assert hgo("a1.manager", "plan", {"plan": "加装泄爆片"})[0] == 200
        assert hgo("a1.manager", "rectify", {"report": "已加装"})[0] == 200
        assert hgo("baoshan.staff", "verify", {"note": "现场复核通过"})[2]["hazard"]["status"] == "closed"
        f = c.call("baoshan.staff", "GET", f"/api/v1/spot-findings/{fh['id']}")[2]["finding"]
        assert f["closed"] and f["hazard"]["status"] == "closed", f

        # a second inspector checks a2 without findings; counts equal the rows
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/spot-checks/{k2}/record",
                          {"answers": all_ok(), "findings": [{"title": "标识不清", "action": "rectification"}]})
        assert st == 200, r
        st, _, n = c.call("baoshan.staff", "GET", "/api/v1/spot-checks/counts")
        assert st == 200, n
        expect = {}
        for user, checks_, findings, hazards, closed in c.db.sql(
                "SELECT k.inspector, count(DISTINCT k.id), count(f.id), count(f.id) FILTER (WHERE f.action = "
                "'hazard'), count(f.id) FILTER (WHERE f.status = 'closed' OR h.status = 'closed') FROM spot_checks k "
                "LEFT JOIN spot_findings f ON f.check_id = k.id LEFT JOIN hazards h ON h.id = f.hazard_id "
                "WHERE k.status = 'done' GROUP BY k.inspector"):
            expect[user] = (int(checks_), int(findings), int(hazards), int(closed))
        got = {i["inspector"]: (i["checks"], i["findings"], i["hazards"], i["closed"]) for i in n["items"]}
        assert got == expect == {"baoshan.staff": (1, 2, 1, 2), "baoshan.admin": (1, 1, 0, 0)}, (got, expect)
        assert n["totals"] == {"checks": 2, "findings": 3, "hazards": 1, "rectifications": 2, "closed": 2}, n
        # another district counts nothing of it; a period before the checks neither
        assert c.call("jiading.admin", "GET", "/api/v1/spot-checks/counts")[2]["totals"]["checks"] == 0
        old = c.call("baoshan.staff", "GET", "/api/v1/spot-checks/counts?from=2020-01-01T00:00:00Z"
                                             "&to=2020-02-01T00:00:00Z")[2]
        assert old["totals"]["checks"] == 0 and old["items"] == [], old
        st, _, e = c.call("baoshan.staff", "GET", "/api/v1/spot-checks/counts?from=2020-01-01T00:00:00Z"
                                                  "&to=2019-01-01T00:00:00Z")
        assert st == 400 and is_error(e, "bad_request"), e

        # the statistics and the monthly report count the same rows
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        q = "/api/v1/statistics?period=custom&from={}&to={}".format(
            (now - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z"),
            (now + dt.timedelta(hours=1)).isoformat().replace("+00:00", "Z"))
        want = {"checks": 2, "findings": 3, "hazards": 1, "closed": 2}
        assert c.call("baoshan.staff", "GET", q)[2]["spot_checks"] == want
        assert c.call("city.admin", "GET", q + "&district=310113")[2]["spot_checks"] == want
        assert c.call("city.admin", "GET", q + f"&enterprise={a2}")[2]["spot_checks"] == {
            "checks": 1, "findings": 1, "hazards": 0, "closed": 0}
        assert c.call("jiading.admin", "GET", q)[2]["spot_checks"]["checks"] == 0
        old = "/api/v1/statistics?period=custom&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z"
        assert c.call("baoshan.staff", "GET", old)[2]["spot_checks"]["checks"] == 0
        month = (now + dt.timedelta(hours=8)).strftime("%Y-%m")  # the city's calendar (UTC+8)
        st, _, rep = c.call("baoshan.admin", "POST", "/api/v1/reports", {"region": "310113", "month": month})
        assert st == 201, (st, rep)
        assert rep["content"]["spot_checks"] == want and rep["content"]["not_counted"] == [], rep["content"]
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_selection_rules_and_scope, test_findings_hazard_rectification_and_counts])
