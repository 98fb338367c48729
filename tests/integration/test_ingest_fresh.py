"""The conflict-free readings path (issue 20).  A batch whose readings are
all newer than their points' point_latest, with no instant twice, is stored
without ON CONFLICT; any other batch takes the ON CONFLICT path, which keeps
duplicates out and conflicting values in reading_conflicts.  A reading stored
behind point_latest's back (here: by SQL) makes the database refuse the
conflict-free insert; the group is then rolled back and written again on the
ON CONFLICT path, and the answer, readings and reading_conflicts must be
exactly what that path alone gives: nothing acknowledged lost, nothing
stored twice.  Which path a batch took is read from
dustwatch_ingest_readings_path_total; a statement trigger counts the
committed INSERT statements on readings: one per batch on either path (the
ON CONFLICT path must not follow a fresh attempt that stored nothing)."""
import datetime as dt
import subprocess
import threading

import dwtest as t
import fixtures

T0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)


def at(s):
    return T0 + dt.timedelta(seconds=s)


class Env:
    def __init__(self):
        self.db = t.Database()
        ents = fixtures.make_city(self.db)
        self.ent = ents[list(ents)[0]]
        self.pts = self.ent["points"]
        self.db.sql("""CREATE TABLE t_inserts (n integer NOT NULL); INSERT INTO t_inserts VALUES (0);
                       GRANT SELECT, UPDATE ON t_inserts TO PUBLIC;
                       CREATE FUNCTION t_count_insert() RETURNS trigger LANGUAGE plpgsql AS
                       $$ BEGIN UPDATE t_inserts SET n = n + 1; RETURN NULL; END $$;
                       CREATE TRIGGER t_count_insert BEFORE INSERT ON readings
                           FOR EACH STATEMENT EXECUTE FUNCTION t_count_insert();""")
        self.srv = t.Server(self.db, roles="ingest", ingest_writers=1)

    def close(self):
        self.srv.stop()
        self.db.drop()

    def path_counts(self):
        st, _, body = t.request(self.srv.ingest_port, "GET", "/metrics")
        assert st == 200, st
        out = {"fresh": 0, "on_conflict": 0, "refused": 0}
        for line in body.decode().splitlines():
            if line.startswith('dustwatch_ingest_readings_path_total{path="'):
                out[line.split('"')[1]] = int(float(line.split()[-1]))
        return out

    def inserts(self):
        return int(self.db.scalar("SELECT n FROM t_inserts"))

    def send(self, items, key=None, statements=1):
        """items: (point kind, second, value); the answer and which paths it took.
        statements: the INSERT statements on readings it must have committed."""
        before, n0 = self.path_counts(), self.inserts()
        body = {"readings": [{"point": self.pts[k][0], "ts": at(s).isoformat(), "value": v}
                             for k, s, v in items]}
        h = {"X-Api-Key": self.ent["api_key"]}
        if key:
            h["Idempotency-Key"] = key
        st, _, r = self.srv.ingest("POST", "/ingest/v1/readings", body, h)
        assert st == 200, (st, r)
        after = self.path_counts()
        if statements is not None:
            assert self.inserts() - n0 == statements, (self.inserts() - n0, statements)
        return r, {k: after[k] - before[k] for k in after if after[k] != before[k]}

    def readings(self, kind):
        pid = self.pts[kind][1]
        rows = self.db.sql(f"SELECT extract(epoch FROM collected_at - '{T0.isoformat()}')::int, value "
                           f"FROM readings WHERE point_id = {pid} ORDER BY collected_at")
        return [(int(s), float(v)) for s, v in rows]

    def latest(self, kind):
        pid = self.pts[kind][1]
        s, v = self.db.sql(f"SELECT extract(epoch FROM collected_at - '{T0.isoformat()}')::int, value "
                           f"FROM point_latest WHERE point_id = {pid}")[0]
        return int(s), float(v)

    def conflicts(self):
        rows = self.db.sql(
            f"SELECT p.kind, extract(epoch FROM c.collected_at - '{T0.isoformat()}')::int, c.value, "
            "c.stored_value, c.item_index FROM reading_conflicts c JOIN points p ON p.id = c.point_id "
            "ORDER BY c.id")
        return [(k, int(s), float(v), float(sv), int(i)) for k, s, v, sv, i in rows]


def ok(r, accepted, duplicate=0, conflicting=0):
    assert r["accepted"] == accepted and r["duplicate"] == duplicate and r["rejected"] == 0, r
    assert r.get("conflicting", 0) == conflicting, r


def test_new_readings_take_the_fresh_path():
    e = ENV
    ids = ",".join(str(e.pts[k][1]) for k in ("hopper_temp", "pressure_diff"))
    assert e.db.scalar(f"SELECT count(*) FROM point_rule_state WHERE point_id IN ({ids})") == "0"
    # the points' first readings: the group starts again to create their rule state first
    r, paths = e.send([(k, s, 10 + s) for s in (10, 20, 30) for k in ("hopper_temp", "pressure_diff")])
    ok(r, 6)
    assert paths == {"fresh": 1}, paths
    assert e.db.scalar(f"SELECT count(*) FROM point_rule_state WHERE point_id IN ({ids})") == "2"
    # newer again, points in another order and unsorted in time
    r, paths = e.send([("pressure_diff", 50, 500), ("hopper_temp", 45, 45), ("pressure_diff", 40, 400)])
    ok(r, 3)
    assert paths == {"fresh": 1}, paths
    assert e.readings("hopper_temp") == [(10, 20), (20, 30), (30, 40), (45, 45)]
    assert e.readings("pressure_diff") == [(10, 20), (20, 30), (30, 40), (40, 400), (50, 500)]
    assert e.latest("hopper_temp") == (45, 45) and e.latest("pressure_diff") == (50, 500)
    assert e.conflicts() == []


def test_a_stored_duplicate_takes_the_on_conflict_path():
    e = ENV
    r, paths = e.send([("hopper_temp", 45, 45), ("hopper_temp", 60, 60)])
    ok(r, 1, duplicate=1)
    assert paths == {"on_conflict": 1}, paths
    assert e.readings("hopper_temp")[-2:] == [(45, 45), (60, 60)]
    assert e.latest("hopper_temp") == (60, 60) and e.conflicts() == []


def test_a_conflicting_value_is_kept_apart():
    e = ENV
    r, paths = e.send([("pressure_diff", 70, 700), ("pressure_diff", 50, 555)])
    ok(r, 1, conflicting=1)
    assert paths == {"on_conflict": 1}, paths
    assert [(k["index"], k["value"], k["stored_value"]) for k in r["conflicts"]] == [(1, 555, 500)], r
    assert e.readings("pressure_diff")[-3:] == [(40, 400), (50, 500), (70, 700)]
    assert e.conflicts() == [("pressure_diff", 50, 555, 500, 1)]
    assert e.latest("pressure_diff") == (70, 700)


def test_a_late_reading_is_stored_and_leaves_latest():
    e = ENV
    r, paths = e.send([("hopper_temp", 5, 5), ("hopper_temp", 80, 80)])
    ok(r, 2)
    assert paths == {"on_conflict": 1}, paths
    assert e.readings("hopper_temp") == [(5, 5), (10, 20), (20, 30), (30, 40), (45, 45), (60, 60), (80, 80)]
    assert e.latest("hopper_temp") == (80, 80)
    # only late: point_latest stays
    r, paths = e.send([("hopper_temp", 6, 6)])
    ok(r, 1)
    assert paths == {"on_conflict": 1} and e.latest("hopper_temp") == (80, 80), paths


def test_an_instant_twice_in_one_batch():
    e = ENV
    # the same value twice: one reading, one duplicate; another value: a conflict
    r, paths = e.send([("spark_detected", 100, 0), ("spark_detected", 100, 0),
                       ("spark_detected", 110, 0), ("spark_detected", 110, 1)])
    ok(r, 2, duplicate=1, conflicting=1)
    assert paths == {"on_conflict": 1}, paths
    assert e.readings("spark_detected") == [(100, 0), (110, 0)]
    assert e.conflicts()[-1] == ("spark_detected", 110, 1, 0, 3)
    assert e.latest("spark_detected") == (110, 0)


def test_a_reading_stored_behind_point_latest_is_redone_on_conflict():
    e = ENV
    pid, eid = e.pts["pressure_diff"][1], e.ent["id"]
    # newer than point_latest (70), stored without it following
    e.db.sql(f"INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) VALUES "
             f"({pid}, '{at(90).isoformat()}', 900, 0, {eid}), ({pid}, '{at(95).isoformat()}', 950, 0, {eid})")
    n_conf = len(e.conflicts())
    log0 = e.srv.logtext().count("group written again on the ON CONFLICT path")
    r, paths = e.send([("pressure_diff", 90, 900), ("pressure_diff", 95, 951), ("pressure_diff", 99, 990),
                       ("hopper_temp", 90, 90)], key="fresh-refused-1")
    ok(r, 2, duplicate=1, conflicting=1)
    assert paths == {"refused": 1, "on_conflict": 1}, paths
    assert [(k["index"], k["value"], k["stored_value"]) for k in r["conflicts"]] == [(1, 951, 950)], r
    assert e.srv.logtext().count("group written again on the ON CONFLICT path") == log0 + 1
    assert e.readings("pressure_diff")[-4:] == [(70, 700), (90, 900), (95, 950), (99, 990)]
    assert e.readings("hopper_temp")[-1] == (90, 90)
    # the conflict once: the refused attempt left nothing behind
    assert e.conflicts()[n_conf:] == [("pressure_diff", 95, 951, 950, 1)]
    assert e.latest("pressure_diff") == (99, 990) and e.latest("hopper_temp") == (90, 90)
    # the same request again is answered from its Idempotency-Key, stores nothing
    r2, paths = e.send([("pressure_diff", 90, 900), ("pressure_diff", 95, 951), ("pressure_diff", 99, 990),
                        ("hopper_temp", 90, 90)], key="fresh-refused-1", statements=0)
    assert r2 == r and paths == {}, (r2, paths)
    assert len(e.conflicts()) == n_conf + 1
    assert e.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "9"
    # and the next batch newer than everything goes the fresh way again
    r, paths = e.send([("pressure_diff", 120, 1200)])
    ok(r, 1)
    assert paths == {"fresh": 1}, paths


def test_writers_racing_on_the_same_instants():
    """Many requests with the same readings at once: the writer groups
    them, so a later job of a group meets the rows of an earlier one (not
    yet committed, in point_latest already).  Each instant is stored once,
    every other copy is a duplicate, whichever path each batch took."""
    e = ENV
    kinds = ("hopper_temp", "pressure_diff", "spark_detected")
    batches = [[(k, 1000 + 10 * b + s, s % 2) for k in kinds for s in range(10)] for b in range(6)]
    before, n0 = e.path_counts(), e.inserts()
    answers, lock = [], threading.Lock()

    def client(n):
        for b in range(len(batches)):
            r, _ = e.send(batches[(b + n) % len(batches)], statements=None)
            with lock:
                answers.append(r)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(answers) == 48
    assert sum(r["accepted"] for r in answers) == 6 * 30, answers
    assert sum(r["duplicate"] for r in answers) == 7 * 6 * 30, answers
    assert all(r.get("conflicting", 0) == 0 and r["rejected"] == 0 for r in answers), answers
    for k in kinds:
        assert [x for x in e.readings(k) if x[0] >= 1000] == [(1000 + s, s % 2) for s in range(60)]
        assert e.latest(k) == (1059, 1)
    after = e.path_counts()
    assert after["fresh"] + after["on_conflict"] - before["fresh"] - before["on_conflict"] == 48, after
    assert after["on_conflict"] > before["on_conflict"], after
    assert e.inserts() - n0 == 48


def test_rule_state_follows_every_job_of_a_group():
    """The group loads its points' rule state once (alarm_group_lock) and each
    job is evaluated from that copy, kept current after each write-back: with
    one writer, concurrent requests share group transactions, and the stored
    state must be that of the newest reading whatever the grouping (a job run
    from a stale copy would write its own, older, instant back)."""
    e = ENV
    kinds = ("hopper_temp", "pressure_diff")
    errors, lock = [], threading.Lock()

    def client(n):
        body = {"readings": [{"point": e.pts[k][0], "ts": at(3000 + 10 * n + s).isoformat(),
                              "value": 20 + (10 * n + s) % 7 / 2} for s in range(10) for k in kinds]}
        # a group writes its jobs in Idempotency-Key order: newer readings first, so
        # a job evaluated from the group's copy as it was before the newer ones
        # would take its older readings for new
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", body,
                                {"X-Api-Key": e.ent["api_key"], "Idempotency-Key": f"rs-{7 - n}"})
        if st != 200 or r["accepted"] != 20:
            with lock:
                errors.append((st, r))

    # the point's rule state held by another transaction for a second: the
    # writer's first group waits for it while the other requests queue, and
    # then go as one group
    pid = e.pts[kinds[0]][1]
    events = ("SELECT count(*) FROM alarm_events v JOIN alarms a ON a.id = v.alarm_id WHERE a.point_id IN "
              f"({pid}, {e.pts[kinds[1]][1]})")
    events_before = e.db.scalar(events)
    holder = threading.Thread(target=e.db.sql, args=(
        "SET dw.scope = 'system'; BEGIN; "
        f"SELECT 1 FROM point_rule_state WHERE point_id = {pid} FOR UPDATE; "
        "SELECT pg_sleep(1); COMMIT;",))
    holder.start()
    t.wait_for(lambda: e.db.scalar("SELECT count(*) FROM pg_stat_activity "
                                   "WHERE query LIKE '%pg_sleep(1)%' AND state = 'active' "
                                   "AND pid <> pg_backend_pid()") == "1", timeout=10, what="the lock holder")
    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    holder.join()
    assert errors == [], errors
    newest = int((at(3079) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds())
    for k in kinds:
        row = e.db.sql(f"SELECT last_ts, last_value_ts, last_value, has_value FROM point_rule_state "
                       f"WHERE point_id = {e.pts[k][1]}")[0]
        assert (int(row[0]), int(row[1]), float(row[2]), row[3]) == (newest, newest, 21.0, "t"), row
        assert e.latest(k) == (3079, 21)
    # no alarm moved (a transition would have the next job load the row afresh):
    # the jobs after the first of a group ran from the group's copy
    assert e.db.scalar(events) == events_before


def test_instants_keep_their_microseconds():
    """Instants go to PostgreSQL as binary timestamptz arrays: a reading's
    microseconds are stored as sent, on both paths and in point_latest."""
    e = ENV
    k = "pressure_diff"
    pid = e.pts[k][1]

    def us(s, frac):
        return int((at(s) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds()) * 1000000 + frac

    def send(s, frac, v):
        ts = (at(s) + dt.timedelta(microseconds=frac)).isoformat()
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings",
                                {"readings": [{"point": e.pts[k][0], "ts": ts, "value": v}]},
                                {"X-Api-Key": e.ent["api_key"]})
        assert st == 200 and r["accepted"] == 1, (st, r)
    before = e.path_counts()
    send(3200, 123456, 1.5)  # newer than latest: the conflict-free path
    send(3199, 654321, 2.5)  # late: the ON CONFLICT path
    after = e.path_counts()
    assert after["fresh"] - before["fresh"] == 1 and after["on_conflict"] - before["on_conflict"] == 1
    stored = e.db.sql("SET dw.scope = 'system'; SELECT (extract(epoch FROM collected_at) * 1000000)::bigint, "
                      f"value FROM readings WHERE point_id = {pid} AND collected_at > "
                      f"'{at(3190).isoformat()}' ORDER BY collected_at")
    assert [(int(a), float(b)) for a, b in stored] == [(us(3199, 654321), 2.5), (us(3200, 123456), 1.5)], stored
    latest = e.db.scalar("SET dw.scope = 'system'; SELECT (extract(epoch FROM collected_at) * 1000000)::bigint "
                         f"FROM point_latest WHERE point_id = {pid}")
    assert int(latest) == us(3200, 123456), latest


def queue_depth(e):
    _, _, body = t.request(e.srv.ingest_port, "GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("dustwatch_ingest_queue_depth"):
            return int(float(line.split()[-1]))
    return -1


LOCK_WAITERS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")


def in_one_group(e, pid, first, rest, meanwhile=None):
    """Runs first() and then rest (callables sending one request each) so that
    rest go to the (single) writer as one group: the rule state of point pid is
    held by another transaction until they are all queued, first's request
    waits for it at the writer, and rest queue meanwhile, in the order given
    (within the writer's lock_timeout).  The queue depth counts a request from
    its acceptance, before the writer takes it: rest may start only once first
    waits on the lock, or a slow writer thread takes first and the next one as
    one group.  meanwhile() runs once they are all queued, before the release."""
    holder = subprocess.Popen([t.PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", "127.0.0.1", "-p", t.PG_PORT, "-U", "dwadmin", "-d", e.db.name],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write("SET dw.scope = 'system'; BEGIN; "
                       f"SELECT 1 FROM point_rule_state WHERE point_id = {pid} FOR UPDATE;\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "1"
    threads = []
    try:
        for n, fn in enumerate([first] + list(rest)):
            threads.append(threading.Thread(target=fn))
            threads[-1].start()
            t.wait_for(lambda: queue_depth(e) == n + 1, timeout=10, step=0.005,
                       what=f"request {n} queued")
            if n == 0:
                t.wait_for(lambda: e.db.scalar(LOCK_WAITERS) == "1", timeout=10, step=0.005,
                           what="the first request waits at the writer")
        if meanwhile:
            meanwhile()
    finally:
        holder.communicate("COMMIT;\n")
        for th in threads:
            th.join()


def test_a_failure_mid_group_answers_every_job_503_and_stores_nothing():
    """A group's statements after its locks are sent without waiting and read
    with the COMMIT (db_conn_pipeline): a statement of a middle job that fails
    (here a trigger refusing one reading) must fail the whole group - every
    job answered 503, none of its readings, answers or latest values stored,
    no Idempotency-Key left claimed - and the writer's connection must be
    usable again: the same requests sent again are stored."""
    e = ENV
    k = "pressure_diff"
    pid = e.pts[k][1]
    e.db.sql("""CREATE FUNCTION t_poison() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'poisoned reading'; END $$;
                CREATE TRIGGER t_poison BEFORE INSERT ON readings FOR EACH ROW
                    WHEN (NEW.value = 666) EXECUTE FUNCTION t_poison();""")

    def body(n):
        return {"readings": [{"point": e.pts[k][0], "ts": at(3300 + 10 * n + s).isoformat(),
                              "value": 666 if (n, s) == (3, 5) else n * 10 + s} for s in range(10)]}

    answers, lock = {}, threading.Lock()

    def client(n):
        st, h, r = e.srv.ingest("POST", "/ingest/v1/readings", body(n),
                                {"X-Api-Key": e.ent["api_key"], "Idempotency-Key": f"mid-{n}"})
        with lock:
            answers[n] = (st, h.get("retry-after"), r)

    latest0, stored0 = e.latest(k), e.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}")
    # request 0 alone, then 1..7 as one group, written in key order: mid-3 fourth
    in_one_group(e, pid, lambda: client(0), [lambda n=n: client(n) for n in range(1, 8)])
    assert answers[0][0] == 200 and answers[0][2]["accepted"] == 10, answers[0]
    for n in range(1, 8):
        st, retry, r = answers[n]
        assert st == 503 and retry and r["code"] == "db_unavailable", (n, answers[n])
    assert e.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == str(int(stored0) + 10)
    assert e.latest(k) == (3309, 9), e.latest(k)
    assert e.db.scalar("SET dw.scope = 'system'; SELECT count(*) FROM ingest_batches "
                       "WHERE idem_key LIKE 'mid-%'") == "1"
    # the refusal gone, the same requests are stored (their keys were not left claimed)
    e.db.sql("DROP TRIGGER t_poison ON readings; DROP FUNCTION t_poison();")
    for n in range(1, 8):
        client(n)
        st, _, r = answers[n]
        assert st == 200 and r["accepted"] == 10, (n, answers[n])
    assert e.latest(k) == (3379, 79) and latest0[0] < 3300, (e.latest(k), latest0)
    assert e.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == str(int(stored0) + 80)


def test_one_key_twice_in_a_group():
    """The group claims its Idempotency-Keys with one statement, each key once:
    a second request with a key the group's first one holds is answered as
    across groups - the same body: in use (409), another body: reused (422) -
    and only the first is stored."""
    e = ENV
    k = "hopper_temp"
    pid = e.pts[k][1]

    def body(v, base=3400):
        return {"readings": [{"point": e.pts[k][0], "ts": at(base + s).isoformat(), "value": v}
                             for s in range(5)]}

    answers, lock = {}, threading.Lock()

    def client(name, key, v, base=3400):
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", body(v, base),
                                {"X-Api-Key": e.ent["api_key"], "Idempotency-Key": key})
        with lock:
            answers[name] = (st, r)

    # a, b, c, d one group: b repeats a, c has a's key and another body, d a's body
    # under another key
    in_one_group(e, pid, lambda: client("first", "twice-0", 1, base=3390),
                 [lambda: client("a", "twice-1", 2), lambda: client("b", "twice-1", 2),
                  lambda: client("c", "twice-1", 3), lambda: client("d", "twice-2", 2)])
    assert answers["first"][0] == 200, answers
    assert answers["a"][0] == 200 and answers["a"][1]["accepted"] == 5, answers
    assert answers["b"][0] == 409 and answers["b"][1]["code"] == "idempotency_key_in_use", answers
    assert answers["c"][0] == 422 and answers["c"][1]["code"] == "idempotency_key_reused", answers
    assert answers["d"][0] == 200 and answers["d"][1]["duplicate"] == 5, answers
    assert [v for s, v in e.readings(k) if 3400 <= s < 3405] == [2.0] * 5
    # the stored answer is the first request's: a retry of it replays it
    client("a2", "twice-1", 2)
    assert answers["a2"] == answers["a"], answers


def test_a_new_connection_parses_each_statement_once():
    """A group's statements are sent without waiting (db_conn_pipeline), and one not yet
    prepared on the connection is parsed just before it.  On a new connection (here: the
    writer's backend terminated while it waited) the first group's job whose alarms change
    stores the rule state twice in a row (the earlier jobs' deferred states, then its own):
    the statement must be parsed once, not twice, which PostgreSQL refuses ("already exists"),
    failing the whole group with 503."""
    e = ENV
    # the point back to normal first
    e.send([("hopper_temp", 3450 + s, 30) for s in range(5)], statements=None)
    code = e.pts["hopper_temp"][0]
    answers, lock = {}, threading.Lock()

    def client(n, body):
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", body,
                                {"X-Api-Key": e.ent["api_key"], "Idempotency-Key": f"parse-{n}"})
        with lock:
            answers[n] = (st, r)

    # normal (no alarm changes: its state deferred), past the limit (an alarm raised),
    # normal (cleared), normal, past it
    bodies = {n: {"readings": [{"point": code, "ts": at(3500 + 10 * n + s).isoformat(), "value": v}
                               for s in range(5)]}
              for n, v in zip(range(1, 6), (30, 85, 30, 30, 85))}
    first = {"readings": [{"point": e.pts["pressure_diff"][0], "ts": at(3500).isoformat(), "value": 1}]}
    in_one_group(e, e.pts["pressure_diff"][1], lambda: client(0, first),
                 [lambda n=n: client(n, bodies[n]) for n in range(1, 6)],
                 meanwhile=lambda: e.db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
    for n in range(1, 6):
        assert answers[n][0] == 200 and answers[n][1]["accepted"] == 5, (n, answers[n])
    assert e.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {e.pts['hopper_temp'][1]} "
                       f"AND collected_at >= '{at(3510).isoformat()}' AND collected_at < '{at(3560).isoformat()}'") == "25"


ENV = None

if __name__ == "__main__":
    ENV = Env()
    t.run([
        test_new_readings_take_the_fresh_path,
        test_a_stored_duplicate_takes_the_on_conflict_path,
        test_a_conflicting_value_is_kept_apart,
        test_a_late_reading_is_stored_and_leaves_latest,
        test_an_instant_twice_in_one_batch,
        test_a_reading_stored_behind_point_latest_is_redone_on_conflict,
        test_writers_racing_on_the_same_instants,
        test_rule_state_follows_every_job_of_a_group,
        test_instants_keep_their_microseconds,
        test_a_failure_mid_group_answers_every_job_503_and_stores_nothing,
        test_one_key_twice_in_a_group,
        test_a_new_connection_parses_each_statement_once,
    ], cleanup=ENV.close)
