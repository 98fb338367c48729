"""督办 / 执法 / 通报 that people can work (issue 14 item 4), through the real server.

* A supervision order the escalation ladder created is assigned to a person of
  the supervising level (a lower level: 403; an enterprise account or one out
  of scope: 422), answered by that person or the enterprise (anyone else: 403)
  and closed with a result (409 once closed); every step audited.
* An enforcement referral is accepted or rejected by the district and closed
  with its outcome: decision number, amount in yuan, date (bad outcome: 422).
* A notice drafted from an overdue hazard (the text names the enterprise and
  the hazard) is approved by an administrator and published; enterprises see
  only published notices, those of their own district (and all of them, not
  only the one named); another district sees nothing; the export is text."""
import dwtest as t
from test_api import City


def escalated(c, ent, grade="red", level="district", cause="grade"):
    """A warning as the escalation ladder leaves it: its supervision order and referral."""
    e = ent["id"]
    score = c.db.scalar(
        f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, grade_by_score, "
        f"override, rules, inputs, trigger) VALUES ({e}, now(), 'probe', 80, 80, 0, 0, 0, '{grade}', '{grade}', "
        f"false, '[]', '{{}}', 'manual') RETURNING id")
    w = c.db.scalar(
        f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, "
        f"current_level) VALUES ({e}, '{cause}', '{grade}', {score}, now() - interval '3 days', now() - interval "
        f"'2 days', now() - interval '1 day', '{level}', '{level}') RETURNING id")
    sv = c.db.scalar(f"INSERT INTO supervisions (warning_id, enterprise_id, step, level) VALUES ({w}, {e}, 1, "
                     f"'{level}') RETURNING id")
    rf = c.db.scalar(f"INSERT INTO enforcement_referrals (warning_id, enterprise_id, step) VALUES ({w}, {e}, 2) "
                     f"RETURNING id")
    return int(w), int(sv), int(rf)


def account(c, user):
    return int(c.db.scalar(f"SELECT id FROM accounts WHERE username = '{user}'"))


def test_supervision_assigned_answered_closed():
    c = City()
    try:
        w, sv, _ = escalated(c, c.a1)
        _, sv2, _ = escalated(c, c.a2)
        st, _, lst = c.call("baoshan.staff", "GET", "/api/v1/supervisions?level=district&open=true")
        assert st == 200 and [x["id"] for x in lst["items"]] == [sv, sv2], lst
        assert lst["items"][0]["warning"]["id"] == w and lst["items"][0]["status"] == "open", lst
        assert [x["id"] for x in c.call("a1.manager", "GET", "/api/v1/supervisions")[2]["items"]] == [sv]
        assert c.call("jiading.admin", "GET", "/api/v1/supervisions")[2]["items"] == []
        go = lambda user, act, body, i=sv: c.call(user, "POST", f"/api/v1/supervisions/{i}/{act}", body)

        st, _, b = go("luodian.staff", "assign", {"account_id": account(c, "luodian.staff")})
        assert st == 403 and "district" in b["detail"], b
        for who in ("jiading.admin", "a1.manager"):
            st, _, b = go("baoshan.admin", "assign", {"account_id": account(c, who)})
            assert st == 422 and b["code"] == "assignee_invalid", (who, b)
        assert go("baoshan.admin", "assign", {"account_id": "x"})[0] == 400
        st, _, b = go("baoshan.admin", "assign", {"account_id": account(c, "baoshan.staff"), "note": "请核查"})
        assert st == 200 and b["status"] == "assigned" and b["assignee"] == "baoshan.staff", b
        assert c.call("baoshan.staff", "GET", "/api/v1/supervisions?mine=true")[2]["total"] == 1

        assert go("baoshan.admin", "respond", {"response": "x"})[0] == 403  # not the assignee
        assert go("baoshan.staff", "respond", {})[0] == 400
        st, _, b = go("baoshan.staff", "respond", {"response": "已现场督促企业停机清灰"})
        assert st == 200 and b["status"] == "responded" and b["responder"] == "baoshan.staff", b
        assert go("baoshan.admin", "close", {})[0] == 400
        assert go("luodian.staff", "close", {"result": "x"})[0] == 403
        st, _, b = go("baoshan.admin", "close", {"result": "企业已整改，预警待消警"})
        assert st == 200 and b["status"] == "closed" and b["result"] == "企业已整改，预警待消警", b
        st, _, b = go("baoshan.admin", "close", {"result": "again"})
        assert st == 409 and b["code"] == "invalid_transition", b

        # the enterprise answers its own open order; another enterprise cannot see it
        assert go("a1.manager", "respond", {"response": "x"}, sv2)[0] == 404
        st, _, b = go("a2.manager", "respond", {"response": "已停产整顿"}, sv2)
        assert st == 200 and b["status"] == "responded", b
        acts = [r[0] for r in c.db.sql(f"SELECT action FROM audit_log WHERE object = 'supervision:{sv}' "
                                       "AND result = 'ok' ORDER BY id")]
        assert acts == ["supervision_assign", "supervision_respond", "supervision_close"], acts
    finally:
        c.close()


def test_referral_outcome_and_notices():
    c = City()
    try:
        _, _, rf = escalated(c, c.a1)
        _, _, rf2 = escalated(c, c.a1, cause="O.MAJOR_HAZARD")
        go = lambda user, act, body, i=rf: c.call(user, "POST", f"/api/v1/enforcement-referrals/{i}/{act}", body)
        assert go("luodian.staff", "accept", {})[0] == 403
        assert go("baoshan.admin", "close", {"outcome": "x", "decided_on": "2026-11-30"})[0] == 409
        st, _, b = go("baoshan.admin", "accept", {"note": "转执法大队"})
        assert st == 200 and b["status"] == "accepted" and b["reviewer"] == "baoshan.admin", b
        for body in ({"outcome": "罚款", "decided_on": "2026-11-30", "penalty_amount": -5, "decision_no": "x"},
                     {"outcome": "罚款", "decided_on": "2026-11-30", "penalty_amount": 50000},
                     {"outcome": "罚款", "decided_on": "30/11/2026"}):
            st, _, b = go("baoshan.admin", "close", body)
            assert st == 422 and b["code"] == "outcome_invalid", (body, b)
        st, _, b = go("baoshan.admin", "close", {"outcome": "责令停产整顿并处罚款", "decision_no": "（沪宝）应急罚〔2026〕12号",
                                                  "penalty_amount": 50000, "decided_on": "2026-11-30"})
        assert st == 200 and b["status"] == "closed", b
        assert b["decision_no"] == "（沪宝）应急罚〔2026〕12号" and float(b["penalty_amount"]) == 50000 and \
            b["decided_on"] == "2026-11-30", b
        st, _, b = go("baoshan.admin", "reject", {"reason": "证据不足"}, rf2)
        assert st == 200 and b["status"] == "rejected", b
        assert go("baoshan.admin", "accept", {}, rf2)[0] == 409
        st, _, lst = c.call("baoshan.staff", "GET", "/api/v1/enforcement-referrals?status=closed,rejected")
        assert st == 200 and lst["total"] == 2, lst

        # an overdue hazard becomes a notice
        hz = int(c.db.scalar(f"INSERT INTO hazards (enterprise_id, kind, major_item, title, found_how, status, "
                             f"deadline, found_at) VALUES ({c.a1['id']}, 'major', 3, '除尘器无泄爆', 'inspection', "
                             f"'reported', now() - interval '2 days', now() - interval '40 days') RETURNING id"))
        st, _, cand = c.call("baoshan.staff", "GET", "/api/v1/notices/candidates")
        assert st == 200 and [x["id"] for x in cand["hazards"]] == [hz] and len(cand["warnings"]) == 2, cand
        assert c.call("a1.manager", "GET", "/api/v1/notices/candidates")[0] == 403
        st, _, b = c.call("jiading.admin", "POST", "/api/v1/notices", {"enterprise_id": c.a1["id"], "hazard_id": hz})
        assert st == 422 and b["code"] == "notice_invalid", b
        st, _, b = c.call("baoshan.staff", "POST", "/api/v1/notices", {"enterprise_id": c.a2["id"], "hazard_id": hz})
        assert st == 422, b
        assert c.call("baoshan.staff", "POST", "/api/v1/notices", {"enterprise_id": c.a1["id"]})[2]["code"] == "notice_invalid"
        st, _, n = c.call("baoshan.staff", "POST", "/api/v1/notices", {"enterprise_id": c.a1["id"], "hazard_id": hz})
        assert st == 201 and n["status"] == "draft" and c.a1["name"] in n["title"] and "除尘器无泄爆" in n["body"], n
        assert c.call("a1.manager", "GET", "/api/v1/notices")[2]["items"] == []  # drafts stay with the district
        assert c.call("a1.manager", "GET", f"/api/v1/notices/{n['id']}")[0] == 404
        assert c.call("baoshan.staff", "POST", f"/api/v1/notices/{n['id']}/approve")[0] == 403
        assert c.call("baoshan.admin", "POST", f"/api/v1/notices/{n['id']}/publish")[0] == 409
        st, _, b = c.call("baoshan.admin", "POST", f"/api/v1/notices/{n['id']}/approve")
        assert st == 200 and b["status"] == "approved", b
        st, _, b = c.call("baoshan.staff", "POST", f"/api/v1/notices/{n['id']}/publish")
        assert st == 200 and b["status"] == "published" and b["published_at"], b
        # published: every enterprise of the district reads it, another district does not
        for user, n_expected in (("a1.manager", 1), ("a2.manager", 1), ("b1.manager", 0)):
            st, _, lst = c.call(user, "GET", "/api/v1/notices")
            assert st == 200 and len(lst["items"]) == n_expected, (user, lst)
        st, hdr, txt = c.call("a2.manager", "GET", f"/api/v1/notices/{n['id']}/export")
        assert st == 200 and hdr["content-type"].startswith("text/plain"), (st, hdr)
        assert c.call("b1.manager", "GET", f"/api/v1/notices/{n['id']}")[0] == 404
        assert c.call("baoshan.staff", "GET", "/api/v1/notices/candidates")[2]["hazards"] == []
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_supervision_assigned_answered_closed, test_referral_outcome_and_notices])
