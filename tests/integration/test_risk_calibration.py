"""Calibration of the default risk model (risk/README.md §2 "Calibration"): the demo city
at rest, loaded by `dustwatch demo seed` from deploy/demo/gen_demo.py's default seed and
scored by the real worker, shows the grade distribution documented in risk/README.md
(the test reads the table there, so the document and the model cannot drift apart)."""
import os
import re
import tempfile

import dwtest as t
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
    finally:
        db.drop()


if __name__ == "__main__":
    t.run([test_demo_city_at_rest_has_the_documented_grades])
