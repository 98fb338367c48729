"""Duty watch (系统值守, issue 14 item 5), through the real server.

* The work queue (处理队列) of a district lists its unsigned red/orange warnings,
  clearance requests, overdue alarms, hazards due, filings to review and open
  supervision orders, oldest first, each with its deadline; nothing of another
  district; a street does not get district-level filings; enterprises: 403.
* The roster: a district administrator puts its own staff on duty (not another
  district's, not an enterprise account: 422; staff may not: 403); its streets
  read it, another district does not.
* Handover notes record the queue's size when written.
* An enterprise's to-do: alarms to acknowledge, warnings to sign, cleaning due,
  hazards to plan, supervision orders to answer; another enterprise: 404."""
import datetime as dt

import dwtest as t
from test_api import City


def iso(d):
    return d.replace(microsecond=0).isoformat()


def warning(c, ent, grade, status, age_h, cause="grade"):
    e = ent["id"]
    score = c.db.scalar(
        f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, grade_by_score, "
        f"override, rules, inputs, trigger) VALUES ({e}, now(), 'probe', 80, 80, 0, 0, 0, '{grade}', '{grade}', "
        f"false, '[]', '{{}}', 'manual') RETURNING id")
    extra = ", signed_at, feedback_at, clear_requested_at" if status == "clearance_requested" else ""
    ago = f"now() - interval '{age_h} hours'"
    vals = f", {ago}, {ago}, {ago}" if status == "clearance_requested" else ""
    return int(c.db.scalar(
        f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, "
        f"current_level, status{extra}) VALUES ({e}, '{cause}', '{grade}', {score}, now() - interval '{age_h} hours', "
        f"now() + interval '1 hour', now() + interval '1 day', 'district', 'district', '{status}'{vals}) RETURNING id"))


def test_queue_roster_handover_and_todo():
    c = City()
    try:
        a1, a2, b1 = c.a1["id"], c.a2["id"], c.b1["id"]
        w_red = warning(c, c.a1, "red", "issued", 5)
        w_req = warning(c, c.a2, "orange", "clearance_requested", 4)
        warning(c, c.b1, "red", "issued", 6)  # another district
        alarm = int(c.db.scalar(
            f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
            f"ack_deadline, handle_deadline, ack_overdue) VALUES ({a1}, {c.a1['points']['hopper_temp'][1]}, 'rule', "
            f"'limit', 'high', 1, 1, now() - interval '3 hours', now() - interval '2 hours', now() + interval '1 hour', "
            f"true) RETURNING id"))
        hz = int(c.db.scalar(
            f"INSERT INTO hazards (enterprise_id, kind, title, found_how, status, deadline, found_at) VALUES ({a1}, "
            f"'ordinary', '地面积尘', 'inspection', 'reported', now() + interval '3 days', now() - interval '2 hours') "
            f"RETURNING id"))
        fl = int(c.db.scalar(
            f"INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, approval_level, filed_at) VALUES "
            f"({a2}, 'stop', now() + interval '1 day', now() + interval '3 days', '停产', 'district', now() - "
            f"interval '1 hour') RETURNING id"))
        sv = int(c.db.scalar(f"INSERT INTO supervisions (warning_id, enterprise_id, step, level, created_at) VALUES "
                             f"({w_red}, {a1}, 1, 'district', now() - interval '30 minutes') RETURNING id"))
        c.db.sql(f"INSERT INTO cleaning_areas (enterprise_id, name, frequency) VALUES ({a1}, '1号车间', 'daily')")

        st, _, q = c.call("baoshan.staff", "GET", "/api/v1/duty/queue")
        assert st == 200, q
        got = [(x["kind"], x["id"]) for x in q["items"]]
        assert got == [("warning_unsigned", w_red), ("clearance_request", w_req), ("alarm_overdue", alarm),
                       ("hazard_due", hz), ("filing_to_approve", fl), ("supervision_open", sv)], got
        assert [x["since"] for x in q["items"]] == sorted(x["since"] for x in q["items"])
        assert all(x["deadline"] for x in q["items"][:-1]) and q["items"][2]["overdue"] is True, q["items"]
        assert q["total"] == 6 and q["counts"]["hazard_due"] == 1, q
        st, _, q2 = c.call("luodian.staff", "GET", "/api/v1/duty/queue")
        assert st == 200 and "filing_to_approve" not in [x["kind"] for x in q2["items"]], q2
        st, _, q3 = c.call("jiading.admin", "GET", "/api/v1/duty/queue")
        assert [x["kind"] for x in q3["items"]] == ["warning_unsigned"] and q3["items"][0]["enterprise"]["id"] == b1
        assert c.call("a1.manager", "GET", "/api/v1/duty/queue")[0] == 403

        # the roster
        acc = lambda u: int(c.db.scalar(f"SELECT id FROM accounts WHERE username = '{u}'"))
        now = dt.datetime.now(dt.timezone.utc)
        shift = {"starts_at": iso(now - dt.timedelta(hours=1)), "ends_at": iso(now + dt.timedelta(hours=7)),
                 "note": "电话 021-12345678"}
        assert c.call("baoshan.staff", "POST", "/api/v1/duty/roster", dict(shift, account_id=acc("baoshan.staff")))[0] == 403
        for who in ("jiading.admin", "a1.manager"):
            st, _, b = c.call("baoshan.admin", "POST", "/api/v1/duty/roster", dict(shift, account_id=acc(who)))
            assert st == 422 and b["code"] == "assignee_invalid", (who, b)
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/duty/roster",
                          dict(shift, account_id=acc("baoshan.staff"), ends_at=shift["starts_at"]))
        assert st == 400, b
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/duty/roster", dict(shift, account_id=acc("luodian.staff")))
        assert st == 201, b
        st, _, r = c.call("luodian.staff", "GET", "/api/v1/duty/roster")
        assert st == 200 and [(x["username"], x["on_duty_now"]) for x in r["items"]] == [("luodian.staff", True)], r
        assert c.call("jiading.admin", "GET", "/api/v1/duty/roster")[2]["items"] == []

        # handover notes carry the queue's size
        st, _, h = c.call("baoshan.staff", "POST", "/api/v1/duty/handovers", {"note": "红色预警一条待签收，已电话催办"})
        assert st == 200 and h["items"][0]["open_items"] == 6 and h["items"][0]["author"] == "baoshan.staff", h
        assert c.call("city.admin", "POST", "/api/v1/duty/handovers", {"note": "x"})[0] == 400
        assert c.call("jiading.admin", "GET", "/api/v1/duty/handovers")[2]["items"] == []
        assert c.call("baoshan.staff", "POST", "/api/v1/duty/handovers", {"note": ""})[0] == 400

        # the enterprise's own to-do
        st, _, td = c.call("a1.manager", "GET", f"/api/v1/enterprises/{a1}/todo")
        assert st == 200, td
        kinds = {(x["kind"], x["id"]) for x in td["items"]}
        assert {("warning_sign", w_red), ("alarm_acknowledge", alarm), ("hazard_plan", hz),
                ("supervision_answer", sv)} <= kinds, kinds
        assert "cleaning_due" in {k for k, _ in kinds}, kinds
        assert [x["since"] for x in td["items"]] == sorted(x["since"] for x in td["items"])
        assert c.call("a2.manager", "GET", f"/api/v1/enterprises/{a1}/todo")[0] == 404
        st, _, td2 = c.call("a2.manager", "GET", f"/api/v1/enterprises/{a2}/todo")
        # its warning waits for the district's review: nothing for the enterprise to do
        assert st == 200 and td2["items"] == [], td2
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_queue_roster_handover_and_todo])
