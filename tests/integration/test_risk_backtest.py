"""Risk backtest and model versions without a restart (issue 16).

- `dustwatch risk backtest` against stored scores with known inputs prints exactly
  tests/integration/golden/risk_backtest.txt (grade counts stored vs candidate, the
  enterprises whose grade changes, the stored model versions);
- POST /api/v1/risk/backtest answers the same numbers as JSON to the city; other roles
  are refused, a bad model or period is a 4xx with {code, hint, detail};
- GET /api/v1/risk/model shows the model in force (version, source, parameters);
- POST /api/v1/risk/models stores and activates a new version: the running worker loads
  it at its next tick and scores every enterprise under it, with no restart; a version
  stored again with other parameters is a 409."""
import copy
import json
import os
import subprocess
import tempfile

import dwtest as t
import fixtures
from test_api import admin

GOLDEN = os.path.join(t.SRC, "tests", "integration", "golden", "risk_backtest.txt")
DEFAULT = os.path.join(t.SRC, "schema", "risk-model.default.json")
PW = "Hopper-Spark-7319#"
FROM, TO = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"


def model(version, yellow, orange, red):
    m = json.load(open(DEFAULT, encoding="utf-8"))
    m["version"] = version
    m["grade_thresholds"] = {"yellow": yellow, "orange": orange, "red": red}
    return m


CANDIDATE = model("test-candidate", 30, 45, 60)


def inputs(dust, workers, removal, collectors, indoors=False, major=0):
    return {"archive": {"dust_class": dust, "st_class": "st1", "dust_workers": workers, "removal": removal,
                        "positive_pressure_conveying": False, "collector_indoors": indoors,
                        "dry_collectors": collectors, "multi_storey": False},
            "dynamic": {"systems": [], "open_hazards": 0, "video_offline": 0, "alarms_7d_other": [0, 0],
                        "cleaning_missed": 0, "overdue_unacked": 0, "alarms_24h_other": [0, 0],
                        "cleaning_required": 0, "overdue_unhandled": 0, "major_hazard_items": major,
                        "alarms_7d_mandatory": [0, 0], "alarms_24h_mandatory": [0, 0], "repeat_after_handled": 0,
                        "online_rate_mandatory": 1.0, "alarm_seconds_24h_mandatory": 0}}


def quote(x):
    return "'" + x + "'"


def stored_scores(db, ents):
    """Scores of 2026-11-01 as an older model stored them.  Under the candidate
    (yellow 30, orange 45, red 60): a I 60 orange -> red, b I 29 yellow -> blue,
    c red by a major hazard stays red; rows outside the period or older inside it
    do not count."""
    a, b, c = (ents[k] for k in list(ents))
    rows = [
        (a, "2026-11-01T01:00:00Z", "blue", "20.00", inputs("metal_al_mg", 150, "dry_central", 1, indoors=True)),
        (a, "2026-11-01T05:00:00Z", "orange", "64.00", inputs("metal_al_mg", 150, "dry_central", 1, indoors=True)),
        (b, "2026-11-01T03:00:00Z", "yellow", "40.00", inputs("wood", 10, "dry_central", 1)),
        (c, "2026-11-01T04:00:00Z", "red", "12.00", inputs("grain", 10, "wet", 0, major=8)),
        (c, "2026-11-02T04:00:00Z", "blue", "12.00", inputs("grain", 10, "wet", 0)),
    ]
    for ent, at, grade, r, inp in rows:
        db.sql(f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
               f"grade_by_score, override, override_reason, rules, inputs, trigger) VALUES ({ent['id']}, '{at}', "
               f"'2026.1-default', {r}, {r}, 0, 0, 0, '{grade}', '{'blue' if grade == 'red' else grade}', "
               f"{'true' if grade == 'red' else 'false'}, {quote('O.MAJOR_HAZARD') if grade == 'red' else 'NULL'}, "
               f"'[]', '{json.dumps(inp)}', 'periodic')")
    return a, b, c


def login(srv, user):
    st, _, b = srv.api("POST", "/api/v1/auth/login", {"username": user, "password": PW})
    assert st == 200, b
    return {"Authorization": "Bearer " + b["token"]}


def test_cli_backtest_golden_and_the_api_answers_the_same():
    db = t.Database()
    tmp = tempfile.mkdtemp(prefix="dw-bt-")
    try:
        ents = fixtures.make_city(db)
        a, b, c = stored_scores(db, ents)
        cand = os.path.join(tmp, "candidate.json")
        with open(cand, "w") as fh:
            json.dump(CANDIDATE, fh)
        r = subprocess.run([t.BIN, "risk", "backtest", "--model", cand, "--from", FROM, "--to", TO],
                           env=db.env(), capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == open(GOLDEN, encoding="utf-8").read(), r.stdout

        admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
        admin(db, "create-account", "--username", "bs.admin", "--role", "district_admin", "--region", "310113")
        srv = t.Server(db)
        try:
            city = login(srv, "city.admin")
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"model": CANDIDATE, "from": FROM, "to": TO}, city)
            assert st == 200, body
            assert body["model_version"] == "test-candidate" and body["enterprises"] == 3, body
            assert body["stored"] == {"blue": 0, "yellow": 1, "orange": 1, "red": 1}, body
            assert body["candidate"] == {"blue": 1, "yellow": 0, "orange": 0, "red": 2}, body
            assert [(x["enterprise_id"], x["code"], x["from"], x["r_from"], x["to"], x["r_to"]) for x in body["changed"]] \
                == [(a["id"], a["code"], "orange", "64.00", "red", 60.0),
                    (b["id"], b["code"], "yellow", "40.00", "blue", 29.0)], body["changed"]
            assert body["stored_versions"] == ["2026.1-default"] and body["unreadable"] == 0, body
            # without a candidate: the model in force over the same period
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"from": FROM, "to": TO}, city)
            assert st == 200 and body["model_version"] == "2026.2-calibrated", body
            assert body["candidate"] == {"blue": 1, "yellow": 0, "orange": 1, "red": 1}, body
            # the model in force and its parameters
            st, _, body = srv.api("GET", "/api/v1/risk/model", None, city)
            assert st == 200, body
            assert body["in_force"]["version"] == "2026.2-calibrated" and body["in_force"]["source"] == "file", body
            assert body["in_force"]["parameters"]["grade_thresholds"] == {"yellow": 35, "orange": 55, "red": 75}
            assert body["versions"] == [], body
            # bad input: a clear error, nothing run
            bad = copy.deepcopy(CANDIDATE)
            del bad["weights"]["site"]
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"model": bad, "from": FROM, "to": TO}, city)
            assert st == 422 and body["code"] == "unprocessable" and "weights" in body["detail"], body
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"from": TO, "to": FROM}, city)
            assert st == 400 and body["code"] == "bad_request" and body["hint"], body
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"from": "yesterday", "to": TO}, city)
            assert st == 400 and "from" in body["detail"], body
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"from": FROM, "to": TO, "x": 1}, city)
            assert st == 400 and body["code"] == "unknown_field", body
            # the backtest reads the whole city: a district is refused
            district = login(srv, "bs.admin")
            st, _, body = srv.api("POST", "/api/v1/risk/backtest", {"from": FROM, "to": TO}, district)
            assert st == 403 and body["code"] == "forbidden", body
            st, _, body = srv.api("GET", "/api/v1/risk/model", None, district)
            assert st == 200 and body["in_force"]["version"] == "2026.2-calibrated", body
        finally:
            assert srv.stop() == 0, srv.logtext()
    finally:
        db.drop()


def test_new_model_version_is_in_force_without_a_restart():
    db = t.Database()
    try:
        ents = fixtures.make_city(db)
        admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
        admin(db, "create-account", "--username", "bs.admin", "--role", "district_admin", "--region", "310113")
        srv = t.Server(db, worker_interval_ms=200)
        try:
            # fixture enterprises: I = 26, blue under the default model
            t.wait_for(lambda: db.sql("SELECT DISTINCT s.model_version, s.grade FROM enterprise_risk er JOIN risk_scores s "
                                      "ON s.id = er.score_id") == [["2026.2-calibrated", "blue"]]
                       and db.scalar("SELECT count(*) FROM enterprise_risk") == "3", what="baseline")
            pid = srv.proc.pid
            city = login(srv, "city.admin")
            hot = model("test-hot", 20, 45, 60)
            st, _, body = srv.api("POST", "/api/v1/risk/models", {"model": hot, "activate": True}, city)
            assert st == 200 and body["version"] == "test-hot" and body["active"] is True, body
            # the running worker loads it and scores every enterprise under it: 26 >= 20, yellow
            t.wait_for(lambda: db.sql("SELECT DISTINCT s.model_version, s.grade FROM enterprise_risk er "
                                      "JOIN risk_scores s ON s.id = er.score_id") == [["test-hot", "yellow"]],
                       timeout=30, what="scores under the new version")
            assert srv.proc.pid == pid and srv.proc.poll() is None  # the same process, never restarted
            assert 'msg="risk model loaded" version=test-hot' in srv.logtext(), srv.logtext()[-2000:]
            st, _, body = srv.api("GET", "/api/v1/risk/model", None, city)
            assert st == 200 and body["in_force"]["version"] == "test-hot", body
            assert body["in_force"]["source"] == "database" and body["in_force"]["activated_at"], body
            assert body["in_force"]["parameters"]["grade_thresholds"]["yellow"] == 20, body
            assert [(v["version"], v["active"], v["created_by"]) for v in body["versions"]] == [("test-hot", True, "city.admin")]
            # the same version again: idempotent; with other parameters: refused, nothing stored
            st, _, body = srv.api("POST", "/api/v1/risk/models", {"model": hot, "activate": True}, city)
            assert st == 200, body
            other = model("test-hot", 25, 45, 60)
            st, _, body = srv.api("POST", "/api/v1/risk/models", {"model": other, "activate": True}, city)
            assert st == 409 and body["code"] == "conflict" and "test-hot" in body["detail"], body
            assert db.scalar("SELECT model->'grade_thresholds'->>'yellow' FROM risk_models WHERE version = 'test-hot'") == "20"
            # a model the strict loader refuses is never stored
            bad = model("test-bad", 20, 45, 60)
            bad["grade_thresholds"]["orange"] = 10
            st, _, body = srv.api("POST", "/api/v1/risk/models", {"model": bad}, city)
            assert st == 422 and body["code"] == "unprocessable", body
            assert db.scalar("SELECT count(*) FROM risk_models") == "1"
            # only the city's administrators store models
            st, _, body = srv.api("POST", "/api/v1/risk/models", {"model": model("test-d", 20, 45, 60)},
                                  login(srv, "bs.admin"))
            assert st == 403, body
            assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'risk_model_activate' "
                             "AND object = 'risk_model:test-hot' AND username = 'city.admin'") == "2"
        finally:
            assert srv.stop() == 0, srv.logtext()
    finally:
        db.drop()


if __name__ == "__main__":
    t.run([test_cli_backtest_golden_and_the_api_answers_the_same,
           test_new_model_version_is_in_force_without_a_restart])
