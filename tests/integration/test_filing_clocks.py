"""Filings stop the clocks and cover gateways (issue 14 item 1, migration 0110).

* An open offline alarm of a point an approved filing covers: its acknowledge and
  handle deadlines move by the filing's end minus the later of its start and the
  raise (recorded in filing_clock_stops); a 复产 report that ends the filing
  early takes back the part after its end.
* Warnings of an enterprise filed as a whole: a warning issued during the filing
  has its sign/clear deadlines moved past the filing and does not escalate; one
  already overdue when the filing began is held (no escalation while the filing
  is valid, though another enterprise's due warning is escalated in the same
  pass); after 复产 both escalate again.  A warning upgraded at the moment its
  clock is first stopped is extended from the upgrade (its new deadlines by the
  filing's end minus the upgrade), not by the span measured from its old version.
* A silent gateway of a filed enterprise gets no gateway_offline alarm: it is
  recorded as suppressed on the filing (with the gateway, no point); after 复产
  the alarm is raised.
* The series of a covered point carries the filing periods overlapping its range
  (until the effective end after 复产); an uncovered point's, or a range
  outside the period, has none.
* Risk: a plant filed as a whole owes no cleaning for the filed time (a daily
  area over the 7-day window: 7 required before, 3 after a filing of the last
  3 days and a minute).
* For statistics: dw_filing_covers / dw_enterprise_filed say whether a point /
  the whole enterprise is filed at an instant, dw_filed_seconds how long in a
  period (overlaps once; an ended filing up to its end; submitted ones never).
* The demo: its stopped enterprise (approved 停产 filing) is in the simulator's
  fleet with shift round_the_clock (every other plant runs 08:00-20:00
  Beijing), so the simulator keeps producing its data at any hour and the worker raises the
  production_during_stop alarm for that filing (three `simulate --once` passes
  with different seeds: three noisy samples per point)."""
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile

import dwtest as t
from test_api import City
from test_alarm_episodes import add_points, push_all
from test_filings import approve, file_stop, filing, iso, now
from test_gateways_seen import gateway
from test_demo import demo_seed, generate


def end_filing(c, fid):
    st, _, e = c.call("a1.manager", "POST", f"/api/v1/filings/{fid}/end", {"note": "已复产"})
    assert st == 200 and e["filing"]["state"] == "ended", (st, e)
    return e["filing"]


def score(c, ent):
    return c.db.scalar(
        f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
        f"grade_by_score, override, rules, inputs, trigger) VALUES ({ent}, now(), 'probe', 80, 80, 0, 0, 0, "
        f"'red', 'red', false, '[]', '{{}}', 'manual') RETURNING id")


def warning(c, ent, cause, issued, sign_by, clear_by, next_check):
    return c.db.scalar(
        f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, "
        f"current_level, next_check_at) VALUES ({ent}, '{cause}', 'red', {score(c, ent)}, {issued}, {sign_by}, "
        f"{clear_by}, 'district', 'district', {next_check}) RETURNING id")


def test_alarm_deadlines_extended_by_the_filing_and_taken_back_on_resumption():
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0)
    try:
        codes = add_points(c, c.a1, 1)
        push_all(c, c.a1, codes, now())
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM alarms WHERE enterprise_id = {c.a1['id']} AND "
                                       "channel = 'offline'") == "1", timeout=90, what="an offline alarm")
        aid, ack0, handle0, raised = c.db.sql(
            f"SELECT id, ack_deadline, handle_deadline, raised_at FROM alarms WHERE enterprise_id = "
            f"{c.a1['id']} AND channel = 'offline'")[0]
        f = approve(c, file_stop(c, c.a1, "a1.manager", 3600)["id"])

        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM filing_clock_stops WHERE alarm_id = {aid}") == "1",
                   timeout=90, what="the alarm's clock stopped")
        # both deadlines moved by exactly the filing's end minus the later of its start and the raise
        ok = c.db.scalar(
            f"SELECT a.ack_deadline = '{ack0}'::timestamptz + (fl.ends_at - greatest(fl.starts_at, "
            f"'{raised}'::timestamptz)) AND a.handle_deadline = '{handle0}'::timestamptz + (fl.ends_at - "
            f"greatest(fl.starts_at, '{raised}'::timestamptz)) AND a.ack_deadline > fl.ends_at AND "
            f"s.deadlines = ARRAY['ack', 'handle'] FROM alarms a, filings fl, filing_clock_stops s WHERE "
            f"a.id = {aid} AND fl.id = {f['id']} AND s.alarm_id = a.id AND s.filing_id = fl.id")
        assert ok == "t", c.db.sql(f"SELECT ack_deadline, handle_deadline FROM alarms WHERE id = {aid}")
        # once: later ticks do not move them again
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM risk_recompute_requests") == "0", timeout=90,
                   what="the worker's next passes")
        assert c.db.scalar(f"SELECT count(*) FROM filing_clock_stops WHERE alarm_id = {aid}") == "1"

        # 复产: the clock runs again from the end: deadlines = before + (ended_at - base)
        end_filing(c, f["id"])
        ok = c.db.scalar(
            f"SELECT a.ack_deadline = '{ack0}'::timestamptz + (fl.ended_at - s.base) AND a.handle_deadline = "
            f"'{handle0}'::timestamptz + (fl.ended_at - s.base) AND s.extended_by = fl.ended_at - s.base "
            f"FROM alarms a, filings fl, filing_clock_stops s WHERE a.id = {aid} AND fl.id = {f['id']} AND "
            f"s.alarm_id = a.id AND s.filing_id = fl.id")
        assert ok == "t", c.db.sql(f"SELECT ack_deadline, handle_deadline FROM alarms WHERE id = {aid}")
    finally:
        c.close()


def test_warning_clocks_stop_and_nothing_escalates_during_a_filing():
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0)
    try:
        a1, a2 = c.a1["id"], c.a2["id"]
        # overdue before the filing: its sign deadline passed an hour ago, not yet escalated
        w0 = warning(c, a1, "O.PRE", "now() - interval '2 hours'", "now() - interval '1 hour'",
                     "now() + interval '4 hours'", "NULL")
        f = approve(c, file_stop(c, c.a1, "a1.manager", 3600)["id"])
        # issued during the filing with a 2 s sign deadline
        w1 = warning(c, a1, "O.DURING", "now()", "now() + interval '2 seconds'", "now() + interval '1 hour'",
                     "now()")
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM filing_clock_stops WHERE warning_id = {w1}") == "1",
                   timeout=90, what="the warning's clock stopped")
        # issued, sign and clear came from one now(): moved by (end - issued) they are the end
        # plus 2 s and plus 1 h (reading them back after the insert raced the worker, which
        # may have moved them already)
        ok = c.db.scalar(
            f"SELECT w.sign_by = fl.ends_at + interval '2 seconds' AND w.clear_by = fl.ends_at + interval '1 hour' "
            f"FROM warnings w, filings fl WHERE w.id = {w1} AND fl.id = {f['id']}")
        assert ok == "t", c.db.sql(f"SELECT sign_by, clear_by FROM warnings WHERE id = {w1}")
        # the overdue one's missed deadline is not moved
        assert c.db.scalar(f"SELECT sign_by < now() FROM warnings WHERE id = {w0}") == "t"

        # w0 falls due together with an unfiled enterprise's warning; the pass that takes
        # a2's does not escalate w0
        wb = warning(c, a2, "O.OTHER", "now() - interval '2 hours'", "now() - interval '1 hour'",
                     "now() + interval '4 hours'", "NULL")
        c.db.sql(f"UPDATE warnings SET next_check_at = now() WHERE id IN ({w0}, {wb})")
        t.wait_for(lambda: c.db.scalar(f"SELECT escalations_done FROM warnings WHERE id = {wb}") == "1",
                   timeout=90, what="the unfiled enterprise's warning escalated")
        assert c.db.scalar(f"SELECT escalations_done FROM warnings WHERE id IN ({w0}, {w1}) AND "
                           f"escalations_done > 0") is None
        assert c.db.scalar(f"SELECT count(*) FROM supervisions WHERE warning_id IN ({w0}, {w1})") == "0"

        # 复产: w1's sign deadline is 2 s after the end; both escalate afterwards
        e = end_filing(c, f["id"])
        ok = c.db.scalar(f"SELECT w.sign_by = fl.ended_at + interval '2 seconds' FROM warnings w, filings fl "
                         f"WHERE w.id = {w1} AND fl.id = {f['id']}")
        assert ok == "t", (e, c.db.sql(f"SELECT sign_by FROM warnings WHERE id = {w1}"))
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM warnings WHERE id IN ({w0}, {w1}) AND "
                                       "escalations_done >= 1") == "2", timeout=90,
                   what="both warnings escalate after the filing")
    finally:
        c.close()


def test_warning_upgraded_while_its_clock_stops_is_extended_from_the_upgrade():
    """The warning is upgraded (row locked, not committed) when the worker's pass first stops
    its clock: the filing, started a minute ago, was just approved.  The pass must extend
    the upgraded deadlines from the upgrade, as if it came after it.  Measuring the span
    from the version it read (the filing's start) and adding it to the upgraded deadlines
    put the clearance deadline the time between the filing's start and the upgrade too
    late, and left the new sign deadline running (the old version was signed)."""
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0, db_lock_timeout_ms=0)
    up = None
    try:
        a1 = c.a1["id"]
        f = file_stop(c, c.a1, "a1.manager", 3600)  # submitted: stops no clock yet
        w = c.db.scalar(
            f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, "
            f"current_level, status, signed_at) VALUES ({a1}, 'grade', 'orange', {score(c, a1)}, now() - interval "
            f"'20 minutes', now() + interval '40 minutes', now() + interval '11 hours 40 minutes', 'district', "
            f"'district', 'signed', now() - interval '10 minutes') RETURNING id")
        # the upgrade as rsk_upgrade writes it: the new grade's deadlines from now, to sign again
        up = t.psql_session(c.db.name, "upgrader")
        up.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                       "BEGIN; UPDATE warnings SET grade = 'red', upgraded_at = now(), sign_by = now() + interval "
                       "'30 minutes', clear_by = now() + interval '4 hours', status = 'issued', signed_at = NULL, "
                       f"ladder_base = escalations_done WHERE id = {w};\n")
        up.stdin.flush()
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "current_database() AND application_name = 'upgrader' AND state = "
                                       "'idle in transaction' AND query LIKE 'UPDATE warnings%'") == "1",
                   what="the upgrade, not committed")
        approve(c, f["id"])
        # (the statement's text, as pg_stat_activity keeps its first kilobyte)
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       "current_database() AND wait_event_type = 'Lock' AND query LIKE "
                                       "'WITH f AS (SELECT id, enterprise_id, starts_at, ends_at, point_ids, "
                                       "system_ids,%'") == "1", timeout=20,
                   what="the worker's clock pass waiting for the upgrade")
        up.stdin.write("COMMIT;\n")
        up.stdin.close()
        assert up.wait(10) == 0, up.stderr.read()
        up = None
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM filing_clock_stops WHERE warning_id = {w}") == "1",
                   timeout=30, what="the warning's clock stopped")
        got = c.db.sql(
            f"SELECT w.clear_by - fl.ends_at, w.sign_by - fl.ends_at, s.base = w.upgraded_at, s.extended_by = "
            f"fl.ends_at - w.upgraded_at, s.deadlines FROM warnings w, filings fl, filing_clock_stops s WHERE "
            f"w.id = {w} AND fl.id = {f['id']} AND s.warning_id = w.id AND s.filing_id = fl.id")
        assert got == [["04:00:00", "00:30:00", "t", "t", "{sign,clear}"]], got
    finally:
        if up:
            up.kill()
        c.close()


def test_gateway_offline_suppressed_during_a_whole_enterprise_filing():
    c = City(worker_interval_ms=250, enterprise_offline_min_points=0, gateway_offline_after_s=2)
    try:
        codes = add_points(c, c.a1, 1)
        gw = gateway(c, "a1.manager", c.a1, "GW-A1-01")
        f = approve(c, file_stop(c, c.a1, "a1.manager", 3600)["id"])
        push_all(c, c.a1, codes, now())  # heard from GW-A1-01, then silent

        def gw_sup():
            return [s for s in filing(c, f["id"])["suppressions"] if s["channel"] == "gateway_offline"] or None
        sup = t.wait_for(gw_sup, timeout=90, what="the gateway's offline alarm suppressed")
        assert len(sup) == 1 and sup[0]["gateway"] == "GW-A1-01" and sup[0]["point"] is None, sup
        assert c.db.scalar(f"SELECT count(*) FROM alarms WHERE gateway_id = {gw}") == "0"
        # recorded once per filing, however many passes see it silent
        t.wait_for(lambda: c.db.scalar("SELECT count(*) FROM risk_recompute_requests") == "0", timeout=90,
                   what="the worker's next passes")
        assert c.db.sql(f"SELECT count, kind FROM filing_suppressions WHERE gateway_id = {gw}") == \
            [["1", "gateway_offline"]]

        end_filing(c, f["id"])
        t.wait_for(lambda: c.db.scalar(f"SELECT count(*) FROM alarms WHERE gateway_id = {gw} AND "
                                       "channel = 'gateway_offline'") == "1", timeout=90,
                   what="the gateway-offline alarm after the filing")
    finally:
        c.close()


def test_series_carries_the_filing_periods():
    c = City()
    try:
        codes = add_points(c, c.a1, 2)
        p0, p1 = (int(c.db.scalar(f"SELECT id FROM points WHERE code = '{x}'")) for x in codes)
        f = approve(c, file_stop(c, c.a1, "a1.manager", 3600, point_ids=[p0])["id"])
        # a submitted filing of the other point is no period
        file_stop(c, c.a1, "a1.manager", 3600, point_ids=[p1])

        def series(pid, q=""):
            st, _, b = c.call("a1.manager", "GET", f"/api/v1/points/{pid}/series{q}")
            assert st == 200, (st, b)
            return b["filings"]
        got = series(p0)
        assert [(x["id"], x["type"], x["state"], x["ends_at"]) for x in got] == \
            [(f["id"], "stop", "approved", f["ends_at"])], got
        assert series(p1) == []
        assert series(p0, "?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z") == []
        # the district sees it too; 复产 cuts the period at its end
        assert [x["id"] for x in c.call("baoshan.staff", "GET", f"/api/v1/points/{p0}/series")[2]["filings"]] == \
            [f["id"]]
        e = end_filing(c, f["id"])
        got = series(p0)
        assert len(got) == 1 and got[0]["state"] == "ended" and got[0]["ends_at"] == e["ended_at"], (got, e)
    finally:
        c.close()


def test_risk_owes_no_cleaning_for_filed_time():
    c = City(worker_interval_ms=250)
    try:
        e = c.a1["id"]
        c.db.sql(f"UPDATE cleaning_areas SET active = false WHERE enterprise_id = {e}")
        c.db.sql(f"INSERT INTO cleaning_areas (enterprise_id, name, frequency, created_at) VALUES ({e}, '打磨间', "
                 f"'daily', now() - interval '8 days')")

        def cleaning(after_score=0):
            r = c.db.sql(f"SELECT id, inputs->'dynamic'->>'cleaning_required', inputs->'dynamic'->>'cleaning_missed' "
                         f"FROM risk_scores WHERE enterprise_id = {e} AND id > {after_score} ORDER BY id DESC LIMIT 1")
            return r[0] if r else None
        c.db.sql(f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({e}, 'test') "
                 f"ON CONFLICT DO NOTHING")
        first = t.wait_for(lambda: (lambda r: r if r and r[1] == "7" else None)(cleaning()), timeout=90,
                           what="a score owing 7 daily cleanings")
        assert first[2] == "7", first
        body = {"type": "stop", "starts_at": iso(now() - dt.timedelta(days=3, minutes=1)),
                "ends_at": iso(now() + dt.timedelta(hours=1)), "reason": "停产"}
        st, _, b = c.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/filings", body)
        assert st == 201, b
        approve(c, b["filing"]["id"])  # queues a recompute
        got = t.wait_for(lambda: cleaning(int(first[0])), timeout=90, what="the score after the approval")
        assert got[1:] == ["3", "3"], got
    finally:
        c.close()


def test_statistics_functions_tell_filed_time():
    c = City()
    try:
        codes = add_points(c, c.a1, 2)
        p0, p1 = (int(c.db.scalar(f"SELECT id FROM points WHERE code = '{x}'")) for x in codes)
        sysid = c.a1["system_id"]
        e = c.a1["id"]
        # p0 alone, then the whole enterprise overlapping it; a submitted filing counts for nothing
        c.db.sql(f"INSERT INTO filings (enterprise_id, type, starts_at, ends_at, point_ids, reason, status, "
                 f"approval_level, reviewed_at, ended_at) VALUES ({e}, 'stop', '2026-01-01T00:00:00Z', "
                 f"'2026-01-01T10:00:00Z', ARRAY[{p0}]::bigint[], 'x', 'approved', 'district', now(), NULL), "
                 f"({e}, 'maintenance', '2026-01-01T08:00:00Z', '2026-01-01T20:00:00Z', '{{}}', 'x', 'ended', "
                 f"'district', now(), '2026-01-01T12:00:00Z'), ({e}, 'stop', '2026-01-02T00:00:00Z', "
                 f"'2026-01-03T00:00:00Z', '{{}}', 'x', 'submitted', 'district', NULL, NULL)")
        day = "'2026-01-01T00:00:00Z', '2026-01-04T00:00:00Z'"
        assert c.db.scalar(f"SELECT dw_filed_seconds({e}, {p0}, {sysid}, {day})") == str(12 * 3600)
        assert c.db.scalar(f"SELECT dw_filed_seconds({e}, {p1}, {sysid}, {day})") == str(4 * 3600)
        assert c.db.scalar(f"SELECT dw_filed_seconds({e}, NULL, NULL, {day})") == str(4 * 3600)
        assert c.db.scalar(f"SELECT dw_filed_seconds({e}, {p0}, {sysid}, '2026-01-01T09:00:00Z', "
                           f"'2026-01-01T09:30:00Z')") == "1800"
        at = "'2026-01-01T11:00:00Z'"
        assert c.db.sql(f"SELECT dw_enterprise_filed({e}, {at}), dw_filing_covers({e}, {p1}, {sysid}, {at}) IS NOT "
                        f"NULL, dw_enterprise_filed({e}, '2026-01-01T12:00:00Z'), dw_enterprise_filed({e}, "
                        f"'2026-01-02T01:00:00Z')") == [["t", "t", "f", "f"]]
    finally:
        c.close()


def test_demo_simulator_keeps_producing_during_the_stop_filing():
    db = t.Database()
    tmp = tempfile.mkdtemp(prefix="dwfiling-")
    srv = None
    try:
        _, city = generate(tmp)
        fleet = os.path.join(tmp, "fleet.json")
        r = demo_seed(db, city, fleet)
        assert r.returncode == 0, r.stdout + r.stderr
        rows = db.sql("SELECT f.id, e.code FROM filings f JOIN enterprises e ON e.id = f.enterprise_id WHERE "
                      "f.type = 'stop' AND f.status = 'approved' AND f.starts_at <= now() AND now() < f.ends_at")
        assert len(rows) == 1, rows
        fid, code = rows[0]
        with open(fleet) as fh:
            shifts = {e["code"]: e.get("shift", "day") for e in json.load(fh)["enterprises"]}
        # only the plant working through its filing runs at night: the others stay quiet
        assert [c for c, sh in shifts.items() if sh == "round_the_clock"] == [code], shifts
        srv = t.Server(db, worker_interval_ms=250)
        for seed in ("7", "8", "9"):  # each pass a fresh process: its own noise, so values move
            r = subprocess.run([t.BIN, "simulate", "--fleet", fleet, "--once", "--url",
                                f"http://127.0.0.1:{srv.ingest_port}", "--seed", seed],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
            # the simulator stamps whole seconds: a pass within the same second would repeat
            # the timestamps (stored once), so the next pass waits for the next second
            t.wait_for(lambda: db.scalar("SELECT max(collected_at) + interval '1 second' <= now() FROM readings")
                       == "t", timeout=10, what="a new second")
        alarm = t.wait_for(lambda: db.scalar(f"SELECT production_alarm_id FROM filings WHERE id = {fid}"),
                           timeout=90, what="the production_during_stop alarm of the demo's stop filing")
        assert db.scalar(f"SELECT kind FROM alarms WHERE id = {alarm}") == "production_during_stop"
    finally:
        if srv:
            srv.stop()
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t.run([test_alarm_deadlines_extended_by_the_filing_and_taken_back_on_resumption,
           test_warning_clocks_stop_and_nothing_escalates_during_a_filing,
           test_warning_upgraded_while_its_clock_stops_is_extended_from_the_upgrade,
           test_gateway_offline_suppressed_during_a_whole_enterprise_filing,
           test_series_carries_the_filing_periods,
           test_risk_owes_no_cleaning_for_filed_time,
           test_statistics_functions_tell_filed_time,
           test_demo_simulator_keeps_producing_during_the_stop_filing])
