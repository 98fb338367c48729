"""PostgreSQL and Redis faults under load (docs/reliability.md section 6).

* T2: the postmaster of a throw-away cluster (this test's alone) killed with
  SIGKILL, with its backends, three times mid-ingest (each while a request is
  in flight), restarted after a short outage: the server process never exits;
  answers are only 200 or 429/503 with Retry-After, never 200 for a request
  made and answered inside an outage; rows == acknowledged, 0 duplicates, 0
  lost acks; ready again after each restart; the server's connections back to
  at most its configured number (no leak).
* T6: the same cluster restarted with `pg_ctl restart -m fast` four times under
  steady load: same reconcile, RSS at the end <= 1.1 x RSS after warm-up
  (+ 4 MiB: glibc arenas of the reconnecting threads).
* The network to PostgreSQL cut mid-transaction: the server talks to
  PostgreSQL through a loopback TCP proxy of this test; while a statement is
  running (a trigger makes every INSERT take 200 ms) every connection is
  reset and new ones are refused for 2 s: nothing acknowledged is lost,
  nothing stored twice, only 503 + Retry-After meanwhile, full recovery.
* Redis lost and back under load: a private Redis stopped for 2 s mid-ingest:
  every request still 200, /readyz 200 throughout, and the latest values reach
  Redis again once it is back.

Scale: 10 enterprises, short outages (3 s, section 6 says 10 s) to fit the
test command's budget; the figures are printed.  Not parallel: CPU-heavy and
timing-sensitive (it restarts PostgreSQL clusters)."""
import os
import random
import time

import dwtest as t
import fault_lib as f

SEED = int(os.environ.get("DW_FAULT_SEED", random.randrange(1 << 30)))
SIZE = 100
POOL, WRITERS = 4, 2
# the server's other connections: health monitor, worker tick, two risk threads (issue 20), one spare
OWN = 5
OUTAGE_S = float(os.environ.get("DW_T2_OUTAGE_S", "3"))


def start_load(ents, port, rng, batches, pause, shared=None):
    base = f.now_utc() - f.timedelta(hours=4)
    clients = [f.LoadClient(e, batches, SIZE, base, port, random.Random(rng.random()), cap=1.0,
                            shared=shared, pause=pause) for e in ents]
    return clients, f.run_clients(clients, time.time() + 240)


def finish_and_reconcile(db, ents, clients, threads, batches):
    for th in threads:
        th.join()
    assert not any(c.gave_up for c in clients), "a client ran out of time"
    bad = [b for c in clients for b in c.bad]
    assert not bad, bad[:5]
    errors = [h for c in clients for h in c.history if isinstance(h[1], str)]
    assert not errors, errors[:5]  # the server never went away: no connection error, no timeout
    acked = sum(len(c.acked) for c in clients) * SIZE
    rows, dups, lost = f.reconcile(db, ents, clients, SIZE)
    shed = sum(1 for c in clients for h in c.history if h[1] in (429, 503))
    print(f"acked {acked}, stored {rows}, duplicates {dups}, lost acks {lost}, 503/429 answers {shed}", flush=True)
    assert acked == len(ents) * batches * SIZE, acked
    assert rows == acked, (rows, acked)
    assert dups == 0 and lost == 0, (dups, lost)
    return shed


def server_conns(cluster, db):
    return int(cluster.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db.name}' "
                            "AND application_name LIKE 'dustwatch%'")[0][0])


def wait_ready(srv, timeout=30):
    t0 = time.monotonic()
    t.wait_for(lambda: t.request(srv.ingest_port, "GET", "/readyz", timeout=5)[0] == 200, timeout=timeout,
               what="ready again")
    return time.monotonic() - t0


def test_postgres_crashes_three_times_mid_ingest():
    rng = random.Random(SEED)
    print(f"seed {SEED} (DW_FAULT_SEED to replay)", flush=True)
    cl = f.Cluster()
    srv = None
    try:
        db = cl.database()
        ents = f.make_enterprises(db, 10)
        srv = t.Server(db, db_pool_size=POOL, ingest_writers=WRITERS, db_health_timeout_ms=1000)
        shared = f.InFlight()
        # the load has to outlast three crashes (~5 s each): paced, not sized by how fast the
        # writers are (at 60 batches 0.05 s apart it had ended before the third crash)
        batches = 120
        clients, threads = start_load(ents, lambda: srv.ingest_port, rng, batches, 0.1, shared)
        outages = []
        for k in range(3):
            time.sleep(rng.uniform(0.3, 1.2))
            n = shared.while_busy(cl.crash)
            down = time.monotonic()
            time.sleep(OUTAGE_S)
            assert srv.proc.poll() is None, "the server must ride out the crash"
            t.wait_for(lambda: t.request(srv.ingest_port, "GET", "/readyz", timeout=5)[0] == 503, timeout=10,
                       what="/readyz 503 while PostgreSQL is down")
            up = time.monotonic()
            cl.start()  # crash recovery
            outages.append((down, up))
            took = wait_ready(srv)
            print(f"crash {k + 1}: {n} request(s) in flight, {OUTAGE_S:.0f} s down, ready {took:.1f} s "
                  "after PostgreSQL accepted connections", flush=True)
            assert took < 15, took
        finish_and_reconcile(db, ents, clients, threads, batches)
        # never a 200 for a request made and answered while PostgreSQL was down
        inside = [h for c in clients for h in c.history
                  if h[1] == 200 and any(d + 0.5 < h[3] and h[3] + h[2] < u for d, u in outages)]
        assert not inside, inside[:3]
        during = [h for c in clients for h in c.history if any(d + 0.5 < h[3] and h[3] + h[2] < u
                                                               for d, u in outages)]
        assert during and all(h[1] in (429, 503) for h in during), during[:3]
        assert srv.proc.poll() is None
        n = server_conns(cl, db)
        print(f"server connections after: {n} (pool {POOL} + writers {WRITERS} + health + worker)", flush=True)
        assert 1 <= n <= POOL + WRITERS + OWN, n
    except Exception:
        if srv:
            print(srv.logtext())
        raise
    finally:
        if srv:
            srv.stop()
        cl.close()


def test_postgres_restart_loop_under_steady_load():
    rng = random.Random(SEED + 1)
    cl = f.Cluster()
    srv = None
    try:
        db = cl.database()
        ents = f.make_enterprises(db, 10)
        srv = t.Server(db, db_pool_size=POOL, ingest_writers=WRITERS, db_health_timeout_ms=1000)
        shared = f.InFlight()
        batches = 80
        clients, threads = start_load(ents, lambda: srv.ingest_port, rng, batches, 0.05, shared)
        time.sleep(1.0)
        rss0 = f.rss_kib(srv.proc.pid)
        fds0 = f.fd_count(srv.proc.pid)
        restarts = 0
        for k in range(4):
            time.sleep(rng.uniform(0.5, 1.5))
            # on a slow machine the load can end before the fourth restart: a restart
            # with nothing in flight proves nothing, so the loop stops there (at least
            # two must have happened under load)
            busy = False
            while not busy and any(th.is_alive() for th in threads):
                with shared.cv:
                    busy = shared.cv.wait_for(lambda: shared.n > 0, 1.0)
            if not busy:
                break
            t0 = time.monotonic()
            restarts += 1
            cl.restart(mode="fast")
            took = wait_ready(srv)
            print(f"restart {k + 1}: pg_ctl took {time.monotonic() - t0 - took:.1f} s, ready {took:.1f} s later",
                  flush=True)
        shed = finish_and_reconcile(db, ents, clients, threads, batches)
        rss1, fds1 = f.rss_kib(srv.proc.pid), f.fd_count(srv.proc.pid)
        print(f"{restarts} restarts under load; RSS {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}, 503/429 {shed}",
              flush=True)
        assert restarts >= 2, restarts
        assert srv.proc.poll() is None
        # under AddressSanitizer freed memory sits in its quarantine (up to 256 MiB): RSS says
        # nothing about leaks there (LeakSanitizer checks them at exit instead)
        if "ASAN_OPTIONS" not in os.environ:
            assert rss1 <= 1.1 * rss0 + 4096, (rss0, rss1)
        assert fds1 <= fds0 + 4, (fds0, fds1)
        # a snapshot right after the last restart can catch the pool mid-reconnect (a CI run
        # saw the health check's connection terminated after "ready"): the bound must hold
        # once the server has settled, within a few seconds
        t.wait_for(lambda: 1 <= server_conns(cl, db) <= POOL + WRITERS + OWN, timeout=15,
                   what=f"between 1 and {POOL + WRITERS + OWN} server connections")
    except Exception:
        if srv:
            print(srv.logtext())
        raise
    finally:
        if srv:
            srv.stop()
        cl.close()


def test_network_to_postgres_cut_mid_transaction():
    rng = random.Random(SEED + 2)
    db = t.Database()
    proxy = f.Proxy(t.PG_PORT)
    srv = None
    try:
        ents = f.make_enterprises(db, 10)
        db.sql("""CREATE FUNCTION t_slow() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN PERFORM pg_sleep(0.2); RETURN NULL; END $$;
                  CREATE TRIGGER t_slow BEFORE INSERT ON readings FOR EACH STATEMENT EXECUTE FUNCTION t_slow();""")
        url = f"postgresql://dw_server@127.0.0.1:{proxy.port}/{db.name}"
        srv = t.Server(db, database_url=url, db_pool_size=POOL, ingest_writers=WRITERS, db_health_timeout_ms=1000)
        batches = 12
        clients, threads = start_load(ents, lambda: srv.ingest_port, rng, batches, 0.0)
        for k in range(2):
            time.sleep(rng.uniform(0.5, 1.5))
            # an INSERT of the server is running (inside its transaction) when the network goes
            t.wait_for(lambda: db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dustwatch' "
                                         f"AND datname = '{db.name}' AND state = 'active' "
                                         "AND query LIKE '%INSERT%'") != "0", step=0.01, what="an INSERT running")
            cut = proxy.cut(refuse=True)
            time.sleep(2)
            t.wait_for(lambda: t.request(srv.ingest_port, "GET", "/readyz", timeout=5)[0] == 503, timeout=10,
                       what="/readyz 503 while the network is cut")
            proxy.restore()
            took = wait_ready(srv)
            print(f"cut {k + 1}: {cut} connection(s) reset, ready {took:.1f} s after the network came back",
                  flush=True)
            assert cut >= WRITERS, cut
        finish_and_reconcile(db, ents, clients, threads, batches)
        assert srv.proc.poll() is None
        # the reset connections' backends are gone; the server holds no more than its own
        t.wait_for(lambda: int(db.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db.name}' "
                                         "AND application_name LIKE 'dustwatch%'")) <= POOL + WRITERS + OWN,
                   what="no leaked connection")
    except Exception:
        if srv:
            print(srv.logtext())
        raise
    finally:
        if srv:
            srv.stop()
        proxy.close()
        db.drop()


def test_redis_lost_and_back_under_load():
    rng = random.Random(SEED + 3)
    rd = t.PrivateRedis()
    db = t.Database()
    srv = None
    try:
        ents = f.make_enterprises(db, 10)
        srv = t.Server(db, redis_url=rd.url)
        batches = 120  # at least 6 s: the load goes on after Redis is back
        clients, threads = start_load(ents, lambda: srv.ingest_port, rng, batches, 0.05)
        key = f"dw:latest:{ents[0]['id']}"
        t.wait_for(lambda: rd.cli("HGET", key, ents[0]["point"]) != "", what="latest value in redis")
        time.sleep(rng.uniform(0.2, 0.6))
        rd.stop()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2:
            assert t.request(srv.ingest_port, "GET", "/readyz", timeout=5)[0] == 200
            assert t.request(srv.api_port, "GET", "/readyz", timeout=5)[0] == 200
            time.sleep(0.2)
        rd.start()
        for th in threads:
            th.join()
        finish_and_reconcile(db, ents, clients, threads, batches)
        assert all(h[1] == 200 for c in clients for h in c.history), "Redis loss must not fail ingest"
        # every enterprise's newest reading reaches Redis again
        for c in clients:
            newest = c.base + f.timedelta(seconds=batches * SIZE - 1)
            want = int(newest.timestamp()) * 1000000
            t.wait_for(lambda: f'"ts_us":{want}' in rd.cli("HGET", f"dw:latest:{c.ent['id']}", c.ent["point"]),
                       timeout=20, what="latest value in redis after it came back")
        assert srv.proc.poll() is None
    except Exception:
        if srv:
            print(srv.logtext())
        raise
    finally:
        if srv:
            srv.stop()
        db.drop()
        rd.stop()


def test_fsync_off_makes_readiness_degraded():
    """T3's second half: fsync=off is cluster-wide, so only a cluster of the
    test's own can have it.  /readyz 503 "degraded" naming the setting on both
    listeners, the log line; fsync turned back on (reload) -> 200 again."""
    cl = f.Cluster(fsync="off")
    srv = None
    try:
        db = cl.database()
        srv = t.Server(db, roles="ingest,api", wait_ready=False)

        def readyz(port):
            try:
                return t.request(port, "GET", "/readyz", timeout=5)
            except OSError:
                return None, None, None

        def degraded():
            st, _, body = readyz(srv.api_port)
            return (st, body) if isinstance(body, dict) and body.get("durability") == "degraded" else None
        st, body = t.wait_for(degraded, timeout=20, what="durability degraded")
        assert st == 503 and body["status"] == "not_ready", (st, body)
        assert body["durability_detail"] == "fsync=off" and body["postgres"]["ok"], body
        assert readyz(srv.ingest_port)[0] == 503
        assert "postgresql is not durable" in srv.logtext()
        cl.psql("ALTER SYSTEM SET fsync = on; SELECT pg_reload_conf();")
        t.wait_for(lambda: readyz(srv.api_port)[0] == 200 and readyz(srv.ingest_port)[0] == 200, timeout=20,
                   what="ready once fsync is on")
    finally:
        if srv:
            srv.stop()
        cl.close()


if __name__ == "__main__":
    t.run([test_fsync_off_makes_readiness_degraded,
           test_postgres_crashes_three_times_mid_ingest,
           test_postgres_restart_loop_under_steady_load,
           test_network_to_postgres_cut_mid_transaction,
           test_redis_lost_and_back_under_load])
