"""/readyz tells the truth about PostgreSQL (issue 11, item 11).

* The health check has a deadline (db_health_timeout_ms): when PostgreSQL stops
  answering (the postmaster and the monitor's backend are SIGSTOPped: the
  kernel still acknowledges the TCP traffic, so no socket timeout fires), /readyz answers 503 within the
  deadline plus one check interval, without blocking, and 200 again once
  PostgreSQL answers.
* Degraded durability (synchronous_commit = off for the server's database)
  makes /readyz 503 with durability "degraded", as deploy/README.md promises
  ("200 only when ... durability settings are intact").

Not parallel: it stops the shared PostgreSQL for seconds and measures how long an answer takes."""
import os
import signal
import time

import dwtest as t

TIMEOUT_MS = 1000  # db_health_timeout_ms of these servers
INTERVAL_S = 1.0   # the monitor checks every second
MARGIN_S = 3.0     # a loaded 2-core machine


class Freeze:
    """SIGSTOPs the PostgreSQL postmaster (no new connection is answered) and
    the server's health-monitor backend (its open connection is not
    answered either) until thaw(): PostgreSQL has stopped answering, while
    the kernel still accepts and acknowledges the TCP traffic."""

    def __init__(self, db):
        with open(os.path.join(t.PGDATA, "postmaster.pid")) as f:
            self.postmaster = int(f.readline())
        rows = t.psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'dustwatch-health' "
                      f"AND datname = '{db.name}'", db="postgres")
        assert rows, "no health backend"
        self.pids = [int(r[0]) for r in rows] + [self.postmaster]
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


def readyz(port):
    # /readyz answers from memory: it must never wait for PostgreSQL
    return t.request(port, "GET", "/readyz", timeout=5)


def test_readyz_503_when_postgres_stops_answering():
    db = t.Database()
    srv = t.Server(db, roles="ingest,api", db_health_timeout_ms=TIMEOUT_MS)
    freeze = None
    try:
        for port in (srv.api_port, srv.ingest_port):
            assert readyz(port)[0] == 200
        freeze = Freeze(db)
        freeze.freeze()
        t0 = time.monotonic()
        st, _, body = t.wait_for(lambda: (lambda r: r if r[0] == 503 else None)(readyz(srv.ingest_port)),
                                 timeout=20, step=0.05, what="/readyz 503 while PostgreSQL does not answer")
        took = time.monotonic() - t0
        assert took < TIMEOUT_MS / 1000 + INTERVAL_S + MARGIN_S, took
        assert body["status"] == "not_ready" and body["postgres"]["ok"] is False, body
        assert "no answer" in body["postgres"]["detail"], body
        # both listeners, and it stays so while PostgreSQL does not answer
        time.sleep(TIMEOUT_MS / 1000 + INTERVAL_S)
        for port in (srv.api_port, srv.ingest_port):
            st, _, body = readyz(port)
            assert st == 503, (port, body)
        freeze.thaw()
        t.wait_for(lambda: readyz(srv.ingest_port)[0] == 200, timeout=20, what="/readyz 200 again")
        assert "postgresql did not answer the health check" in srv.logtext()
    finally:
        if freeze:
            freeze.thaw()
        srv.stop()
        db.drop()


def test_readyz_503_when_durability_degraded():
    db = t.Database()
    db.sql(f"ALTER DATABASE {db.name} SET synchronous_commit = off")
    srv = t.Server(db, roles="ingest,api", wait_ready=False)
    try:
        def degraded():
            try:
                st, _, body = readyz(srv.api_port)
            except OSError:
                return None
            return (st, body) if isinstance(body, dict) and body.get("durability") == "degraded" else None
        st, body = t.wait_for(degraded, timeout=20, what="durability degraded")
        assert st == 503 and body["status"] == "not_ready", (st, body)
        assert body["durability_detail"] == "synchronous_commit=off" and body["postgres"]["ok"], body
        assert readyz(srv.ingest_port)[0] == 503
        assert "postgresql is not durable" in srv.logtext()
    finally:
        srv.stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_readyz_503_when_postgres_stops_answering, test_readyz_503_when_durability_degraded])
