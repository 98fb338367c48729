"""The API pool opens and warms its connections before a request needs them (issue 15: a
statistic's p99 at 2,000 enterprises).

A new PostgreSQL backend's first statistic loads its catalog caches; on the stats_bench city
that was ~160 ms of PostgreSQL CPU more than the ~57 ms answer.  The pool opened connections on
demand, so each time it grew (a request arriving while the previous one still held its two
connections) one request paid for a cold backend: a week's page had its two slowest of 20 at
113 and 118 ms, the rest 62-70.  Now (db_pool_warm):

* at start, before any request asks, the pool's db_pool_size connections are open and each has
  run one statistic (dustwatch_stats_reads_total{how="warm"}), and a connection a request opened
  on demand meanwhile is warmed when put back;
* a connection that reconnects (its backend went away) is warmed again before it serves from the
  idle ones: one more warm statistic per new backend, none for a backend already warmed."""
import re

import dwtest as t
from test_api import City

POOL = 3


def warm_reads(c):
    st, _, body = c.srv.api("GET", "/metrics")
    assert st == 200, st
    text = body.decode() if isinstance(body, bytes) else body
    m = re.search(r'^dustwatch_stats_reads_total\{how="warm"\} (\S+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


def pool_backends(c):
    return [r[0] for r in c.db.sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'dustwatch' AND backend_type = 'client backend'")]


def test_pool_opens_and_warms_every_backend():
    c = City(roles="api", db_pool_size=POOL)
    try:
        # City logged in nine accounts as the server started: some of those requests may have
        # opened connections of their own; every one is warmed once, none twice
        t.wait_for(lambda: warm_reads(c) == POOL and len(pool_backends(c)) == POOL,
                   what=f"{POOL} warmed pool connections")
        before = set(pool_backends(c))
        for _ in range(5):
            st, _, body = c.call("city.admin", "GET", "/api/v1/statistics?period=week&group=enterprise")
            assert st == 200, body
        assert warm_reads(c) == POOL and set(pool_backends(c)) == before, "a warm backend is not warmed again"

        # the backends go away (a PostgreSQL restart, an operator's pg_terminate_backend): each
        # connection reconnects on its next use and is warmed when it is put back
        c.db.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND application_name = 'dustwatch' AND backend_type = 'client backend'")
        t.wait_for(lambda: not set(pool_backends(c)) & before, what="the old backends gone")
        ok = 0
        for _ in range(30):
            st, _, _ = c.call("city.admin", "GET", "/api/v1/statistics?period=day&group=district")
            ok += st == 200
            if ok >= 3:
                break
        assert ok >= 3, "the pool reconnects"
        now = set(pool_backends(c))
        assert now and not now & before, (now, before)
        t.wait_for(lambda: warm_reads(c) == POOL + len(set(pool_backends(c))), timeout=20,
                   what="each new backend warmed once")
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_pool_opens_and_warms_every_backend])
