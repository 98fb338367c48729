"""Calibration of the default risk model (risk/README.md §2 "Calibration"): the demo city
at rest, loaded by `dustwatch demo seed` from deploy/demo/gen_demo.py's default seed and
scored by the real worker, shows the grade distribution documented in risk/README.md
(the test reads the table there, so the document and the model cannot drift apart).

First-score rule (risk/README.md §3): an enterprise's first score at blue or yellow is its
baseline, at orange or red it issues a warning at once (cause `grade`), through the real
worker and visible on the API."""
import os
import re
import tempfile

import dwtest as t
import fixtures
from test_api import admin
from test_demo import demo_seed, generate

README = os.path.join(t.SRC, "risk", "README.md")


def documented():
    text = open(README, encoding="utf-8").read()
    part = text[text.index("**Demo city at rest**"):]
    part = part[:part.index("\n\n", part.index("| grade |"))]
    rows = dict(re.findall(r"^\| (blue|yellow|orange|red) \| (\d+) \|$", part, re.M))
    assert set(rows) == {"blue", "yellow", "orange", "red"}, part
    return {g: int(n) for g, n in rows.items()}


def first_scores(db):
    """grade, R, I and model of each enterprise's first score."""
    return db.sql("SELECT DISTINCT ON (enterprise_id) enterprise_id, grade, r, i, model_version, override "
                  "FROM risk_scores ORDER BY enterprise_id, id")


def test_demo_city_at_rest_has_the_documented_grades():
    want = documented()
    db = t.Database()
    tmp = tempfile.mkdtemp(prefix="dw-cal-")
    try:
        _, city = generate(tmp)
        r = demo_seed(db, city, os.path.join(tmp, "fleet.json"))
        assert r.returncode == 0, r.stderr
        # the calibration is of the archive alone: the demo's supervision trail (issue 14: open major
        # hazards override to red, ordinary ones raise S, a seeded overdue warning with its score)
        # is taken out before the worker scores
        db.sql("TRUNCATE public_notices, supervisions, enforcement_referrals, hazard_events, hazards, "
               "filing_suppressions, filings, warnings, risk_scores, enterprise_risk CASCADE;"
               "UPDATE enterprise_profiles SET major_hazard_items = DEFAULT, open_hazards = 0")
        n = int(db.scalar("SELECT count(*) FROM enterprises"))
        assert n == sum(want.values()), (n, want)
        srv = t.Server(db, roles="worker", wait_ready=False, worker_interval_ms=300)
        try:
            t.wait_for(lambda: int(db.scalar("SELECT count(DISTINCT enterprise_id) FROM risk_scores")) == n,
                       timeout=60, what="first score of every demo enterprise")
        finally:
            assert srv.stop() == 0, srv.logtext()
        rows = first_scores(db)
        got = {g: 0 for g in want}
        for _, grade, r, i, model, override in rows:
            got[grade] += 1
            # at rest: no alarm, no handling or site deficit, no override: R is the inherent risk
            assert float(r) == float(i) and override == "f", (grade, r, i)
            assert model == "2026.2-calibrated", model
        assert got == want, (got, want)
        assert got["blue"] > 0
        # orange/red only for the genuinely dangerous profiles: dry central collection with an
        # indoor collector or positive-pressure conveying
        for eid, grade, *_ in rows:
            if grade in ("orange", "red"):
                arch = db.sql(f"SELECT inputs->'archive'->>'removal', inputs->'archive'->>'collector_indoors', "
                              f"inputs->'archive'->>'positive_pressure_conveying' FROM risk_scores "
                              f"WHERE enterprise_id = {eid} ORDER BY id LIMIT 1")[0]
                assert arch[0] == "dry_central" and "true" in arch[1:], (eid, arch)
        # first-score rule: the orange/red ones got a warning at once, nobody else did
        warned = db.sql("SELECT w.enterprise_id, w.grade, w.cause FROM warnings w ORDER BY 1")
        hot = sorted([eid, grade, "grade"] for eid, grade, *_ in rows if grade in ("orange", "red"))
        assert warned == hot and len(hot) == want["orange"] + want["red"], (warned, hot)
    finally:
        db.drop()


WARN_Q = ("SELECT grade, cause, status, supervisor, extract(epoch FROM sign_by - issued_at)::int, "
          "(SELECT note FROM warning_events e WHERE e.warning_id = w.id AND e.action = 'issue') "
          "FROM warnings w WHERE enterprise_id = %d ORDER BY id")


def test_first_score_orange_warns_yellow_and_blue_are_the_baseline():
    db = t.Database()
    ents = fixtures.make_city(db)
    a, b, c = (ents[k] for k in list(ents))
    # fixture systems: one dry central bag collector each (10 + 2)
    # a: Al/Mg 25, >= 100 workers 15, collector indoors 8: I = 60, orange
    # b: Al/Mg 25, < 30 workers 2: I = 39, yellow
    # c: no archive (other dust, St unknown 12, workers 2): I = 26, blue
    db.sql(f"INSERT INTO enterprise_profiles (enterprise_id, dust_class, st_class, dust_workers) VALUES "
           f"({a['id']}, 'metal_al_mg', 'st3', 150), ({b['id']}, 'metal_al_mg', 'st3', 0);"
           f"UPDATE dust_systems SET indoor = true WHERE enterprise_id = {a['id']}")
    admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
    srv = t.Server(db, worker_interval_ms=200)
    try:
        t.wait_for(lambda: db.scalar("SELECT count(*) FROM enterprise_risk") == "3", what="first scores")
        grades = dict(db.sql("SELECT enterprise_id, grade FROM enterprise_risk"))
        assert grades == {str(a["id"]): "orange", str(b["id"]): "yellow", str(c["id"]): "blue"}, grades
        rows = t.wait_for(lambda: db.sql(WARN_Q % a["id"]), what="first-score warning")
        assert [r[:5] for r in rows] == [["orange", "grade", "issued", "district", "3600"]], rows
        assert rows[0][5].startswith("none -> orange, R=60.00") and "first score" in rows[0][5], rows
        assert db.sql(WARN_Q % b["id"]) == [] and db.sql(WARN_Q % c["id"]) == []
        # the next periodic scores change nothing: still one warning, none for b and c
        n = int(db.scalar("SELECT count(*) FROM risk_scores"))
        db.sql("INSERT INTO risk_recompute_requests (enterprise_id, reason) SELECT id, 'test' FROM enterprises")
        t.wait_for(lambda: int(db.scalar("SELECT count(*) FROM risk_scores")) >= n + 3, what="second scores")
        assert db.scalar("SELECT count(*) FROM warnings") == "1"
        # the API shows it to the city
        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": "Hopper-Spark-7319#"})
        assert st == 200, body
        st, _, body = srv.api("GET", "/api/v1/warnings?open=true", None, {"Authorization": "Bearer " + body["token"]})
        assert st == 200 and [(w["enterprise"]["id"], w["grade"]) for w in body["items"]] == [(a["id"], "orange")], body
    finally:
        try:
            assert srv.stop() == 0, srv.logtext()
        finally:
            db.drop()


if __name__ == "__main__":
    t.run([test_demo_city_at_rest_has_the_documented_grades,
           test_first_score_orange_warns_yellow_and_blue_are_the_baseline])
