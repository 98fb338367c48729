"""T7 and T8 (docs/reliability.md section 6): a hung and a slow PostgreSQL.

* T7, hung: every backend of the server's database and the postmaster are
  SIGSTOPped — PostgreSQL stops answering while the kernel still acknowledges
  the TCP traffic, so neither a socket error nor tcp_user_timeout fires (what
  toxiproxy's timeout=0 toxic does).  Ingest and API requests must answer 503
  + Retry-After within the configured deadline (db_statement_timeout_ms plus
  the client-side grace), never hang; /readyz 503; /healthz still instant
  (the event loops are not blocked); after SIGCONT, full recovery and no
  acknowledged reading lost.  (A held ACCESS EXCLUSIVE lock: int-db_stalls.)
* T8, slow: a statement trigger on readings sleeps 300 ms per INSERT (what a
  throttled disk or a latency toxic does).  Thirty clients offer far more than
  the two writers can store: the number of the server's PostgreSQL
  connections never exceeds its configuration, the excess is answered 503 +
  Retry-After at once (the writer queue is bounded by ingest_queue_max), every
  answer comes within a bound derived from the queue (no unbounded wait), RSS
  stays bounded, and every acknowledged reading is stored exactly once.

Not parallel: T7 stops the shared cluster's postmaster for seconds."""
import os
import random
import signal
import threading
import time

import dwtest as t
import fault_lib as f
import fixtures
from test_api import PW, admin

STMT_MS = 1500      # db_statement_timeout_ms of these servers
GRACE_S = 2.0       # the client-side grace beyond statement_timeout (server/db/db.c)
CONNECT_S = 3.0     # libpq connect_timeout of the server's connections
MARGIN_S = 3.0      # request handling on a loaded 2-core machine
CLIENT_TIMEOUT_S = 30  # far beyond any deadline: a hang is a failure, not a wait


def timed(fn):
    t0 = time.monotonic()
    try:
        return fn(), time.monotonic() - t0
    except OSError as e:  # socket.timeout: the request hung
        raise AssertionError(f"no answer within {time.monotonic() - t0:.1f} s: {e!r}")


class Freeze:
    """SIGSTOPs the postmaster and every backend of one database."""

    def __init__(self, db):
        with open(os.path.join(t.PGDATA, "postmaster.pid")) as fh:
            self.postmaster = int(fh.readline())
        rows = t.psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{db.name}' "
                      "AND pid <> pg_backend_pid()", db="postgres")
        self.pids = [int(r[0]) for r in rows] + [self.postmaster]
        assert len(self.pids) >= 4, self.pids  # writers, API pool, health monitor, postmaster
        self.frozen = False

    def freeze(self):
        self.frozen = True
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self):
        if self.frozen:
            for pid in self.pids:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            self.frozen = False


def reading(a1, ts, value=31.5):
    return {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": ts.isoformat(), "value": value}]}


def test_hung_postgres_answers_503_within_the_deadline_and_recovers():
    db = t.Database()
    ents = fixtures.make_city(db)
    a1 = next(iter(ents.values()))
    admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
    srv = t.Server(db, db_statement_timeout_ms=STMT_MS, db_health_timeout_ms=1000)
    fr = None
    try:
        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
        assert st == 200, body
        auth = {"Authorization": "Bearer " + body["token"]}
        now = f.now_utc()

        def ingest(sec):
            return t.request(srv.ingest_port, "POST", "/ingest/v1/readings", reading(a1, now - f.timedelta(seconds=sec)),
                             {"X-Api-Key": a1["api_key"]}, timeout=CLIENT_TIMEOUT_S)

        def api_read():
            return t.request(srv.api_port, "GET", "/api/v1/enterprises", None, auth, timeout=CLIENT_TIMEOUT_S)

        # every connection the server keeps is open and warm
        assert ingest(100)[0] == 200 and ingest(99)[0] == 200
        assert api_read()[0] == 200
        fr = Freeze(db)
        fr.freeze()
        limit = STMT_MS / 1000 + GRACE_S + MARGIN_S

        # the writer's statement goes to a backend that never answers
        (st, hdr, body), took = timed(lambda: ingest(90))
        print(f"ingest on a hung backend: {st} after {took:.1f} s", flush=True)
        assert st == 503 and int(hdr["retry-after"]) > 0, (st, hdr, body)
        assert took < limit, took
        # the next one finds no connection and a postmaster that does not answer
        (st, hdr, body), took = timed(lambda: ingest(89))
        assert st == 503 and int(hdr["retry-after"]) > 0, (st, hdr, body)
        assert took < max(limit, CONNECT_S + MARGIN_S), took
        (st, hdr, body), took = timed(api_read)
        print(f"API read on a hung backend: {st} after {took:.1f} s", flush=True)
        assert st == 503 and body["code"] == "db_unavailable", (st, body)
        assert int(hdr["retry-after"]) > 0, hdr
        assert took < limit, took
        t.wait_for(lambda: t.request(srv.api_port, "GET", "/readyz", timeout=5)[0] == 503,
                   timeout=limit + 2, what="/readyz 503")
        # the event loops are free: liveness answers at once on both listeners
        for port in (srv.api_port, srv.ingest_port):
            (st, _, _), took = timed(lambda: t.request(port, "GET", "/healthz", timeout=5))
            assert st == 200, st
        fr.thaw()

        t.wait_for(lambda: t.request(srv.api_port, "GET", "/readyz", timeout=5)[0] == 200,
                   timeout=20, what="/readyz 200 again")
        t.wait_for(lambda: ingest(80)[0] == 200, timeout=20, what="ingest 200 again")
        assert api_read()[0] == 200
        assert srv.proc.poll() is None
        # the three acknowledged readings are stored, the 503s are not
        pid = a1["points"]["hopper_temp"][1]
        n = int(db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}"))
        assert n in (3, 4), n  # 4: the first 503's insert committed after SIGCONT (unacknowledged, allowed)
    except Exception:
        print(srv.logtext())
        if os.environ.get("DW_GDB"):
            import subprocess
            print(subprocess.run(["gdb", "-batch", "-p", str(srv.proc.pid), "-ex", "thread apply all bt"],
                                 capture_output=True, text=True).stdout[-12000:])
        raise
    finally:
        if fr:
            fr.thaw()
        srv.stop()
        db.drop()


def test_slow_postgres_bounded_latency_connections_and_queue():
    db = t.Database()
    ents = f.make_enterprises(db, 10)
    db.sql("""CREATE FUNCTION t8_slow() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
              CREATE TRIGGER t8_slow BEFORE INSERT ON readings FOR EACH STATEMENT EXECUTE FUNCTION t8_slow();""")
    queue_max, writers, pool = 6, 2, 4
    srv = t.Server(db, ingest_queue_max=queue_max, ingest_writers=writers, db_pool_size=pool,
                   ingest_rate_ip_per_s=100000, ingest_rate_ip_burst=100000,
                   ingest_rate_credential_per_s=100000, ingest_rate_credential_burst=100000)
    stop = threading.Event()
    samples = {"conns": 0, "rss": 0}

    def sample():
        while not stop.is_set():
            n = int(t.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db.name}' "
                             "AND application_name LIKE 'dustwatch%'", db="postgres"))
            samples["conns"] = max(samples["conns"], n)
            samples["rss"] = max(samples["rss"], f.rss_kib(srv.proc.pid))
            time.sleep(0.2)

    try:
        rss0 = f.rss_kib(srv.proc.pid)
        base = f.now_utc() - f.timedelta(hours=2)
        rng = random.Random(13)
        # 30 clients (three per enterprise, disjoint time ranges): 5x what the writers store
        clients = []
        for i, e in enumerate(ents * 3):
            clients.append(f.LoadClient(e, 4, 20, base + f.timedelta(hours=i // 10, minutes=0),
                                        lambda: srv.ingest_port, random.Random(rng.random()), cap=0.5,
                                        timeout=CLIENT_TIMEOUT_S, tag=f"-c{i}"))
        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = f.run_clients(clients, time.time() + 180)
        for th in threads:
            th.join()
        stop.set()
        sampler.join()
        hist = [h for c in clients for h in c.history]
        statuses = [h[1] for h in hist]
        ok = [h[2] for h in hist if h[1] == 200]
        shed = [h[2] for h in hist if h[1] in (429, 503)]
        others = [h for h in hist if h[1] not in (200, 429, 503)]
        print(f"requests {len(hist)}: 200 x{len(ok)} (max {max(ok):.2f} s), 429/503 x{len(shed)} "
              f"(max {max(shed or [0]):.2f} s); max server connections {samples['conns']}; "
              f"RSS {rss0} -> max {samples['rss']} KiB", flush=True)
        assert not others, others[:5]
        assert not any(c.bad for c in clients), [c.bad for c in clients if c.bad][:3]
        assert not any(c.gave_up for c in clients)
        assert len(shed) > 0, "the load never exceeded the queue: nothing tested"
        # connections: API pool + writers + health monitor + worker's own (tick and, since
        # issue 20, two risk threads), never more
        assert samples["conns"] <= pool + writers + 5, samples
        # a queued request waits at most for the queue ahead of it: queue_max / writers
        # statements of >= 0.3 s each (plus its own); 5x that is a hang, not a queue
        bound = 5 * (queue_max / writers + 1) * 0.3 + MARGIN_S
        assert max(ok) < bound, (max(ok), bound)
        assert max(shed) < bound, (max(shed), bound)
        assert samples["rss"] < 2 * rss0 + 32 * 1024, (rss0, samples["rss"])
        rows, dups, lost = f.reconcile(db, ents, clients, 20)
        acked = sum(len(c.acked) for c in clients) * 20
        assert rows == acked == 30 * 4 * 20, (rows, acked)
        assert dups == 0 and lost == 0, (dups, lost)
        assert statuses.count(200) == 30 * 4
    finally:
        stop.set()
        srv.stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_hung_postgres_answers_503_within_the_deadline_and_recovers,
           test_slow_postgres_bounded_latency_connections_and_queue])
