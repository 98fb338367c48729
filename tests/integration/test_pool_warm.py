"""The API pool opens and warms its connections before a request needs them (issue 15: a
statistic's p99 at 2,000 enterprises).

A new PostgreSQL backend's first statistic loads its catalog caches; on the stats_bench city
that was ~160 ms of PostgreSQL CPU more than the ~57 ms answer.  The pool opened connections on
demand, so each time it grew (a request arriving while the previous one still held its two
connections) one request paid for a cold backend: a week's page had its two slowest of 20 at
113 and 118 ms, the rest 62-78.  Now (db_pool_warm):

* at start, before any request, the pool's db_pool_size connections are opened and each runs one
  statistic (dustwatch_stats_reads_total{how="warm"}), once: statistics on them add none;
* a connection that reconnects (its backend went away) is warmed again when it is put back,
  before it serves from the idle ones: one more warm statistic per new backend.

On the old main it fails at the first check: no warm statistic, and no pool backend before a
request asks for one."""
import re
import time

import dwtest as t
import fixtures
from test_api import PW, admin

POOL = 3


def warm_reads(srv):
    st, _, body = srv.api("GET", "/metrics")  # /metrics takes no database connection
    assert st == 200, st
    text = body.decode() if isinstance(body, bytes) else body
    m = re.search(r'^dustwatch_stats_reads_total\{how="warm"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


def test_pool_opens_and_warms_every_backend():
    db = t.Database()
    fixtures.make_city(db)
    admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
    srv = t.Server(db, roles="api", db_pool_size=POOL, db_pool_warm=1)
    try:
        # no request yet: the pool's own thread opens and warms all of it
        t.wait_for(lambda: warm_reads(srv) == POOL, what=f"{POOL} warmed pool connections")
        time.sleep(0.5)
        assert warm_reads(srv) == POOL, "one warm statistic per connection"
        assert "warm-up failed" not in srv.logtext() and "pool warm-up stopped" not in srv.logtext()
        backends = int(db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND application_name = 'dustwatch'"))
        assert backends >= POOL, backends  # the pool's, and the live events hub's when it has one

        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
        assert st == 200, body
        auth = {"Authorization": "Bearer " + body["token"]}
        for _ in range(5):
            st, _, body = srv.api("GET", "/api/v1/statistics?period=week&group=enterprise", headers=auth)
            assert st == 200, body
        assert warm_reads(srv) == POOL, "a warm backend is not warmed again"

        # the backends go away (a PostgreSQL restart, an operator's pg_terminate_backend): a
        # connection reconnects on its next use and is warmed when it is put back
        db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
               "AND application_name = 'dustwatch'")
        ok = 0
        for _ in range(30):
            st, _, _ = srv.api("GET", "/api/v1/statistics?period=day&group=district", headers=auth)
            ok += st == 200
            if ok >= 3:
                break
        assert ok >= 3, "the pool reconnects"
        # each new backend once: at least the one that answered, at most the pool
        t.wait_for(lambda: POOL + 1 <= warm_reads(srv) <= 2 * POOL, what="the reconnected backends warmed")
    finally:
        assert srv.stop() == 0, srv.logtext()
        db.drop()


if __name__ == "__main__":
    t.run([test_pool_opens_and_warms_every_backend])
