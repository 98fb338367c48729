"""Risk recompute in bulk (issue 20): the worker gathers the inputs of a whole batch of
enterprises with a few set-based statements, scores them in memory and stores every score
with one statement, warnings in the same transaction.

The oracle is the same enterprise recomputed alone (a batch of one, where nothing of
another enterprise can leak in): on the varied fixture of tests/bench/recompute_bench.sh
(profiles, 1..3 systems with live rule state, alarms in every handling state, cleaning
check-ins with missed periods) every stored input, rule, component and grade of the bulk
run equals the lone run's.  The only input that moves with the clock, the alarm seconds
of the last 24 h, may grow by the time between the two runs per open alarm."""
import json
import os

import dwtest as t

FIXTURE = os.path.join(os.environ.get("DW_SOURCE_ROOT", "."), "tests/bench/recompute_fixture.sql")
E = 620  # more than one batch of 500

SCORE_COLS = ("enterprise_id, extract(epoch FROM computed_at)::bigint, r::text, i, a, h, s, grade, "
              "grade_by_score, override, coalesce(override_reason, ''), rules::text, inputs::text, "
              "model_version")


def latest(db, trigger, ids=None):
    where = f" AND enterprise_id IN ({','.join(map(str, ids))})" if ids else ""
    rows = db.sql(f"SELECT DISTINCT ON (enterprise_id) {SCORE_COLS} FROM risk_scores "
                  f"WHERE trigger = '{trigger}'{where} ORDER BY enterprise_id, id DESC")
    return {int(r[0]): r for r in rows}


def same_score(bulk, alone):
    """Asserts the two score rows agree; True when they are identical (no clock drift)."""
    eid = bulk[0]
    ib, ia = json.loads(bulk[12]), json.loads(alone[12])
    sb = ib["dynamic"].pop("alarm_seconds_24h_mandatory")
    sa = ia["dynamic"].pop("alarm_seconds_24h_mandatory")
    assert ib == ia, (eid, ib, ia)
    drift = int(alone[1]) - int(bulk[1])
    assert 0 <= sa - sb <= 4 * drift + 4, (eid, sb, sa, drift)
    if sa != sb:
        return False
    assert bulk[2:12] + bulk[13:] == alone[2:12] + alone[13:], (eid, bulk, alone)
    return True


def setup():
    db = t.Database()
    db.sql(open(FIXTURE, encoding="utf-8").read(), params={"E": E})
    return db


def test_bulk_equals_one_at_a_time():
    db = setup()
    # the first tick recomputes the whole city (the periodic job) in batches
    srv = t.Server(db, worker_interval_ms=200)
    try:
        t.wait_for(lambda: int(db.scalar("SELECT count(*) FROM risk_scores WHERE trigger = 'periodic'")) >= E,
                   timeout=120, what="periodic scores of every enterprise")
        bulk = latest(db, "periodic")
        assert len(bulk) == E
        grades = {r[7] for r in bulk.values()}
        assert grades == {"blue", "yellow", "orange", "red"}, grades  # a varied city
        assert any(r[9] == "t" for r in bulk.values())  # overrides among them
        assert int(db.scalar("SELECT count(*) FROM enterprise_risk")) == E
        assert db.scalar("SELECT count(*) FROM enterprise_risk er JOIN risk_scores s ON s.id = er.score_id "
                         "WHERE s.enterprise_id <> er.enterprise_id OR s.grade <> er.grade OR s.r <> er.r") == "0"

        # a sample across the fixture's patterns and both batches, each enterprise alone
        ids = sorted(bulk)
        sample = sorted(set(ids[::11] + ids[495:505] + ids[-3:]))
        exact = 0
        for eid in sample:
            before = int(db.scalar(f"SELECT count(*) FROM risk_scores WHERE enterprise_id = {eid}"))
            db.sql(f"INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES ({eid}, 'test')")
            t.wait_for(lambda: int(db.scalar(f"SELECT count(*) FROM risk_scores WHERE enterprise_id = {eid}"))
                       > before, timeout=30, what=f"lone recompute of {eid}")
        alone = latest(db, "change", sample)
        for eid in sample:
            exact += same_score(bulk[eid], alone[eid])
        assert exact >= len(sample) // 2, (exact, len(sample))
    finally:
        assert srv.stop() == 0, srv.logtext()
        db.drop()


def test_bulk_issues_warnings_of_the_risen_only():
    db = setup()
    srv = t.Server(db, worker_interval_ms=200)
    try:
        t.wait_for(lambda: int(db.scalar("SELECT count(*) FROM risk_scores WHERE trigger = 'periodic'")) >= E,
                   timeout=120, what="periodic scores of every enterprise")
        before = {int(r[0]): (r[1], r[2]) for r in db.sql("SELECT enterprise_id, grade, override FROM enterprise_risk")}
        n_warn = int(db.scalar("SELECT count(*) FROM warnings"))
        # raise the inherent risk of blue and yellow enterprises in both batches, then ask
        # for the whole city at once (one batch of 500 and one of the rest)
        low = [e for e, (g, o) in sorted(before.items()) if g in ("blue", "yellow") and o == "f"]
        risen = low[:3] + low[-3:]
        db.sql(f"UPDATE enterprise_profiles SET dust_class = 'metal_al_mg', st_class = 'st3', dust_workers = 150 "
               f"WHERE enterprise_id IN ({','.join(map(str, risen))});"
               "DELETE FROM risk_recompute_requests;"
               "INSERT INTO risk_recompute_requests (enterprise_id, reason) SELECT id, 'test' FROM enterprises")
        t.wait_for(lambda: len(latest(db, "change")) == E, timeout=120, what="change scores of every enterprise")
        after = {int(r[0]): (r[1], r[2]) for r in db.sql("SELECT enterprise_id, grade, override FROM enterprise_risk")}
        rank = {"blue": 0, "yellow": 1, "orange": 2, "red": 3}
        up = sorted(e for e in after if rank[after[e][0]] > rank[before[e][0]] or
                    (after[e][1] == "t" and before[e][1] == "f"))
        assert set(risen) <= set(up), (risen, up)
        new = db.sql(f"SELECT enterprise_id, grade, score_id = (SELECT score_id FROM enterprise_risk er "
                     f"WHERE er.enterprise_id = w.enterprise_id) FROM warnings w ORDER BY id OFFSET {n_warn}")
        assert sorted(int(r[0]) for r in new) == up, (new, up)
        for eid, grade, current in new:
            assert grade == after[int(eid)][0] and current == "t", (eid, grade, current)
        # each issue has its history entry, written in the same transaction
        assert db.scalar("SELECT count(*) FROM warnings w WHERE NOT EXISTS (SELECT 1 FROM warning_events ev "
                         "WHERE ev.warning_id = w.id AND ev.action = 'issue')") == "0"
    finally:
        assert srv.stop() == 0, srv.logtext()
        db.drop()


if __name__ == "__main__":
    t.run([test_bulk_equals_one_at_a_time, test_bulk_issues_warnings_of_the_risen_only])
