"""A grade rise while a warning is open upgrades it (issue 12 item 2).

One warning per enterprise and cause stays open; when the grade rises above the
open warning's grade the worker re-issues it in place at the new grade: the new
grade's deadlines counted from the upgrade, its supervising level and city
information, the enterprise signs again, an `upgrade` entry in the history, an
audit row, webhook rows and a live event.  A fall never lowers the grade or the
deadlines of an open warning: it is only noted in the history (`grade_fall`).
The escalation ladder goes on numbering its steps across an upgrade."""
import json

import dwtest as t
import fixtures
from test_api import admin
from test_risk_api import Feed


class Env:
    """Fixture city whose enterprises start blue (wet collection, St1 grain dust:
    I = 5 + 2 + 2 = 9), a city webhook subscription, a few accounts."""

    def __init__(self, **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.a = self.ents[list(self.ents)[0]]
        self.db.sql("UPDATE dust_systems SET wet = true, collector_type = 'wet_scrubber';"
                    "INSERT INTO enterprise_profiles (enterprise_id, dust_class, st_class) "
                    "SELECT id, 'grain', 'st1' FROM enterprises;"
                    "INSERT INTO webhook_subscriptions (scope_kind, scope_id, url, secret) SELECT 'city', id, "
                    "'http://127.0.0.1:9/hook', '\\x" + "73" * 32 + "' FROM regions WHERE code = '310000'")
        for user, role, flag, scope in [("city.admin", "city_admin", "--region", "310000"),
                                         ("a.manager", "enterprise_manager", "--enterprise", self.a["code"])]:
            admin(self.db, "create-account", "--username", user, "--role", role, flag, scope)
        cfg.setdefault("worker_interval_ms", 200)
        self.srv = t.Server(self.db, **cfg)
        self.tokens = {}

    def call(self, user, method, path, body=None):
        if user not in self.tokens:
            st, _, b = self.srv.api("POST", "/api/v1/auth/login", {"username": user, "password": "Hopper-Spark-7319#"})
            assert st == 200, b
            self.tokens[user] = b["token"]
        return self.srv.api(method, path, body, {"Authorization": "Bearer " + self.tokens[user]})

    def profile(self, sql_set, table="enterprise_profiles"):
        """Changes the archive of enterprise a and asks for a recompute."""
        eid = self.a["id"]
        self.db.sql(f"UPDATE {table} SET {sql_set} WHERE enterprise_id = {eid};"
                    f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({eid}, 'test') "
                    f"ON CONFLICT DO NOTHING")

    def grade(self):
        return self.db.scalar(f"SELECT grade FROM enterprise_risk WHERE enterprise_id = {self.a['id']}")

    def warnings(self):
        return self.db.sql("SELECT id, cause, grade, status, supervisor, current_level, inform_city, "
                           "extract(epoch FROM sign_by - coalesce(upgraded_at, issued_at))::int, "
                           "extract(epoch FROM clear_by - coalesce(upgraded_at, issued_at))::int, "
                           "escalations_done FROM warnings "
                           f"WHERE enterprise_id = {self.a['id']} ORDER BY id")

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def to_orange(e):
    # Al/Mg 25 + >= 100 workers 15 + multi-storey 5 + dry central 10 + one dry collector 2 = 57,
    # with 5 open hazards (S 0.3): R = 57 x 1.06 = 60.42, orange (both tables in one transaction)
    eid = e.a["id"]
    e.db.sql(f"UPDATE dust_systems SET wet = false, collector_type = 'bag', central = true WHERE enterprise_id = {eid};"
             f"UPDATE enterprise_profiles SET dust_class = 'metal_al_mg', dust_workers = 150, multi_storey = true, "
             f"open_hazards = 5 WHERE enterprise_id = {eid};"
             f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({eid}, 'test') ON CONFLICT DO NOTHING")
    t.wait_for(lambda: e.grade() == "orange", what="orange grade")
    rows = t.wait_for(lambda: e.warnings(), what="orange warning")
    return rows


def to_red(e):
    # dry central collection indoors with positive-pressure conveying instead of wet:
    # I = 25 + 15 + 5 + 10 + 8 + 8 + 2 (one dry collector) = 73, R = 73 x 1.06 = 77.38, red
    # (back to wet: I = 25 + 15 + 5 + 2 + 8 = 55, R = 58.30, orange)
    e.profile("wet = false, collector_type = 'bag', central = true, positive_pressure = true, indoor = true",
              table="dust_systems")


def test_rise_to_red_upgrades_the_open_orange_warning_and_a_fall_keeps_red():
    feed = Feed()
    e = Env()
    try:
        t.wait_for(lambda: e.grade() == "blue", what="blue baseline")
        rows = to_orange(e)
        assert [r[1:] for r in rows] == [["grade", "orange", "issued", "district", "district", "f", "3600", "43200", "0"]], rows
        wid = rows[0][0]
        # the enterprise signs the orange warning
        st, _, b = e.call("a.manager", "POST", f"/api/v1/warnings/{wid}/sign", {"note": "on it"})
        assert st == 200, b
        to_red(e)
        t.wait_for(lambda: e.grade() == "red", what="red grade")
        rows = t.wait_for(lambda: [r for r in e.warnings() if r[2] == "red"], what="red warning")
        # the same warning, now red: red deadlines from the upgrade, city informed, signed again
        assert [r[0] for r in e.warnings()] == [wid], e.warnings()
        assert rows[0][1:] == ["grade", "red", "issued", "district", "district", "t", "1800", "14400", "0"], rows
        assert e.db.scalar(f"SELECT signed_at IS NULL AND upgraded_at >= issued_at FROM warnings WHERE id = {wid}") == "t"
        # never two open warnings of one enterprise and cause
        assert e.db.scalar("SELECT count(*) FROM warnings WHERE status <> 'cleared' "
                           f"AND enterprise_id = {e.a['id']} AND cause = 'grade'") == "1"
        ev = e.db.sql(f"SELECT action, from_status, to_status, from_grade, to_grade, actor FROM warning_events "
                      f"WHERE warning_id = {wid} ORDER BY id")
        assert ev == [["issue", "", "issued", "", "orange", "worker"],
                      ["sign", "issued", "signed", "", "", "a.manager"],
                      ["upgrade", "signed", "issued", "orange", "red", "worker"]], ev
        audit = e.db.sql(f"SELECT username, result, detail FROM audit_log WHERE action = 'warning_upgrade' "
                         f"AND object = 'warning:{wid}'")
        assert len(audit) == 1 and audit[0][:2] == ["worker", "ok"], audit
        d = json.loads(audit[0][2])
        assert d["from"] == "orange" and d["to"] == "red" and d["enterprise_id"] == e.a["id"], d
        # the city subscription is notified as for a new red warning
        ob = e.db.sql(f"SELECT event, payload->>'grade', payload->>'inform_city', payload->>'previous_grade', "
                      f"payload->>'supervisor' FROM notification_outbox WHERE warning_id = {wid} ORDER BY id")
        assert ob == [["issue", "orange", "false", "", "district"],
                      ["upgrade:3", "red", "true", "orange", "district"]], ob
        t.wait_for(lambda: feed.find(type="warning", action="upgrade", id=int(wid)), what="live upgrade event")
        up = feed.find(type="warning", action="upgrade", id=int(wid))[0]
        assert up["grade"] == "red" and up["previous"] == "orange", up
        # the API shows it: red, in the city's red list, history with the upgrade
        st, _, b = e.call("city.admin", "GET", "/api/v1/warnings?grade=red&open=true")
        assert st == 200 and [w["id"] for w in b["items"]] == [int(wid)], b
        st, _, b = e.call("a.manager", "GET", f"/api/v1/warnings/{wid}")
        assert st == 200 and b["warning"]["grade"] == "red" and b["warning"]["upgraded_at"], b["warning"]
        ups = [v for v in b["events"] if v["action"] == "upgrade"]
        assert len(ups) == 1 and ups[0]["from_grade"] == "orange" and ups[0]["to_grade"] == "red", b["events"]
        # the enterprise signs the red warning again
        st, _, b = e.call("a.manager", "POST", f"/api/v1/warnings/{wid}/sign", {})
        assert st == 200, b

        # a fall to orange: the warning stays red with its red deadlines, and the history says so
        before = e.db.sql(f"SELECT grade, sign_by, clear_by, supervisor, inform_city FROM warnings WHERE id = {wid}")
        e.profile("wet = true, collector_type = 'wet_scrubber'", table="dust_systems")
        t.wait_for(lambda: e.grade() == "orange", what="orange again")
        t.wait_for(lambda: e.db.scalar(f"SELECT count(*) FROM warning_events WHERE warning_id = {wid} "
                                       f"AND action = 'grade_fall'") == "1", what="fall noted")
        after = e.db.sql(f"SELECT grade, sign_by, clear_by, supervisor, inform_city FROM warnings WHERE id = {wid}")
        assert after == before and after[0][0] == "red", (before, after)
        fall = e.db.sql(f"SELECT from_grade, to_grade, note FROM warning_events WHERE warning_id = {wid} "
                        f"AND action = 'grade_fall'")
        assert fall[0][:2] == ["red", "orange"] and "deadlines kept" in fall[0][2], fall
        # rising to red again changes nothing: the open warning is red already
        to_red(e)
        t.wait_for(lambda: e.grade() == "red", what="red again")
        t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM risk_recompute_requests") == "0", what="recompute")
        assert e.db.scalar(f"SELECT count(*) FROM warning_events WHERE warning_id = {wid} AND action = 'upgrade'") == "1"
        assert [r[0] for r in e.warnings()] == [wid]
    finally:
        feed.close()
        e.close()


def test_escalation_ladder_goes_on_after_an_upgrade():
    """Steps keep their numbers across an upgrade: the orange sign deadline
    missed is step 1, the red one step 2; each applied once."""
    e = Env(warning_sign_within_s=2)
    try:
        t.wait_for(lambda: e.grade() == "blue", what="blue baseline")
        to_orange(e)
        wid = e.warnings()[0][0]
        t.wait_for(lambda: e.db.scalar(f"SELECT escalations_done FROM warnings WHERE id = {wid}") == "1",
                   what="orange sign deadline escalated")
        to_red(e)
        t.wait_for(lambda: e.db.scalar(f"SELECT grade FROM warnings WHERE id = {wid}") == "red", what="upgrade")
        t.wait_for(lambda: e.db.scalar(f"SELECT escalations_done FROM warnings WHERE id = {wid}") == "2",
                   what="red sign deadline escalated")
        steps = e.db.sql(f"SELECT step, level FROM warning_events WHERE warning_id = {wid} AND action = 'escalate' "
                         f"ORDER BY step")
        assert steps == [["1", "city"], ["2", "city"]], steps
        assert e.db.scalar(f"SELECT current_level FROM warnings WHERE id = {wid}") == "city"
        assert e.db.scalar(f"SELECT count(*) FROM enforcement_referrals WHERE warning_id = {wid}") == "1"
    finally:
        e.close()


if __name__ == "__main__":
    t.run([test_rise_to_red_upgrades_the_open_orange_warning_and_a_fall_keeps_red,
           test_escalation_ladder_goes_on_after_an_upgrade])
