"""API reads from a streaming replica (issue 19, item 3): routes marked
read_replica (statistics, data quality, onboarding, reports, series) are
answered by a hot standby while it is at most db_read_max_lag_ms behind the
primary, and by the primary when it is further behind, paused or down; every
other route, and every write, stays on the primary (read-your-writes).

A throw-away primary (fault_lib.Cluster) and a standby made from it with
pg_basebackup, both started as the postgres system user: the test runs as
root, like the other cluster tests."""
import os
import re
import subprocess
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fault_lib
import fixtures
from test_api import PW, admin
from test_metrics import parse, value


class Standby:
    """A hot standby of cluster (asynchronous streaming, its own port)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.data = os.path.join(cluster.dir, "standby")
        self.port = t.free_port()
        self.log = os.path.join(cluster.dir, "standby.log")
        cluster._pg(t.PGBIN + "/pg_basebackup", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "dwadmin",
                    "-D", self.data, "-R", "-X", "stream", "-c", "fast", "--no-sync")
        # the copied postgresql.conf names the primary's port: a later line wins
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\nhot_standby = on\n")
        self.start()

    def start(self):
        self.cluster._pg(t.PGBIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self):
        self.cluster._pg(t.PGBIN + "/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "60", "stop",
                         check=False)

    def psql(self, sql, db="postgres"):
        r = subprocess.run([t.PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", "dwadmin", "-d", db],
                           input=sql, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def url(self, dbname):
        return f"postgresql://dw_server@127.0.0.1:{self.port}/{dbname}"

    def caught_up(self):
        primary = self.cluster.psql("SELECT pg_current_wal_lsn()")[0][0]
        return self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{primary}'::pg_lsn") == "t"


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Node:
    """A server of the test's database with the replica as its read URL."""

    def __init__(self, db, standby, max_lag_ms, roles="ingest,api,worker"):
        # answers are not reused (api_cache): every read here must be routed afresh
        self.srv = t.Server(db, roles=roles, database_read_url=standby.url(db.name),
                            db_read_max_lag_ms=max_lag_ms, worker_interval_ms=500, series_cache_ms=0,
                            stats_cache_ms=0, db_pool_warm=1)
        st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": "baoshan.admin", "password": PW})
        assert st == 200, (st, body)
        self.token = body["token"]

    def call(self, method, path, body=None):
        return self.srv.api(method, path, body, {"Authorization": "Bearer " + self.token})

    def get(self, path):
        st, _, body = self.call("GET", path)
        assert st == 200, (path, st, body)
        return body

    def metrics(self):
        st, _, body = t.request(self.srv.api_port, "GET", "/metrics")
        assert st == 200
        samples, _ = parse(body.decode() if isinstance(body, bytes) else body)
        return samples

    def served(self):
        """{served_by: count} of dustwatch_api_replica_reads_total."""
        samples = self.metrics()
        return {k: value(samples, "dustwatch_api_replica_reads_total", served_by=k)
                for k in ("replica", "primary_replica_stale", "primary_replica_down", "replica_url_primary")}


def series_values(node, pid, frm, to):
    q = urllib.parse.quote
    s = node.get(f"/api/v1/points/{pid}/series?from={q(frm.isoformat())}&to={q(to.isoformat())}&bucket=0")
    return [i[1] for i in s["items"]]  # [ts ms, value, quality]


def reading(ent, ts, v):
    return {"readings": [{"point": ent["points"]["hopper_temp"][0], "ts": ts.isoformat(), "value": v}]}


def test_replica_serves_marked_reads_within_the_lag_bound():
    cl = fault_lib.Cluster()
    standby = None
    nodes = []
    try:
        db = cl.database()
        ents = fixtures.make_city(db)
        a1 = ents["310113000001"]
        admin(db, "create-account", "--username", "baoshan.admin", "--role", "district_admin", "--region", "310113")
        standby = Standby(cl)
        t.wait_for(standby.caught_up, timeout=30, what="standby caught up")
        # a node that tolerates a minute of staleness, one that tolerates a second
        patient = Node(db, standby, 60000)
        nodes.append(patient)
        strict = Node(db, standby, 1000, roles="api")
        nodes.append(strict)
        # both pools, the primary's and the replica's (4 connections each), opened and warmed at
        # start (db_pool_warm): the statistics run on the replica's
        t.wait_for(lambda: value(strict.metrics(), "dustwatch_stats_reads_total", how="warm") == 8,
                   what="the strict node's 8 pool connections warmed")
        assert int(standby.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                f"'{db.name}' AND application_name = 'dustwatch'")) >= 8

        # every read_replica route answers 200 from the replica (none of them writes)
        st, _, routes = patient.call("GET", "/api/v1/routes")
        assert st == 200, routes
        marked = [rt for rt in routes["items"] if rt["read_replica"]]
        assert {rt["method"] for rt in marked} == {"GET"}, "only reads may be marked"
        assert {"/api/v1/statistics", "/api/v1/points/{id}/series", "/api/v1/reports"} <= \
            {rt["path"] for rt in marked}, marked
        st, _, rep = patient.call("POST", "/api/v1/reports", {"month": (now_utc() - timedelta(days=40))
                                                             .strftime("%Y-%m")})
        assert st in (200, 201), (st, rep)
        t.wait_for(standby.caught_up, timeout=30, what="standby replayed the report")
        ids = {"/api/v1/points/{id}/series": a1["points"]["hopper_temp"][1],
               "/api/v1/reports/{id}": rep["id"], "/api/v1/reports/{id}/xlsx": rep["id"]}
        before = patient.served()
        for rt in marked:
            path = rt["path"].replace("{id}", str(ids.get(rt["path"], "")))
            st, _, body = patient.call("GET", path)
            assert st == 200, (path, st, body)
        after = patient.served()
        assert after["replica"] - before["replica"] == len(marked), (before, after)
        assert after["primary_replica_stale"] == before["primary_replica_stale"]

        # the replica stops replaying: the patient node still reads it (stale
        # within its bound), the strict one goes to the primary
        ts = now_utc() - timedelta(minutes=1)
        frm, to = ts - timedelta(minutes=5), ts + timedelta(minutes=5)
        pid = a1["points"]["hopper_temp"][1]
        assert series_values(patient, pid, frm, to) == []
        standby.psql("SELECT pg_wal_replay_pause()")
        st, _, r = patient.srv.ingest("POST", "/ingest/v1/readings", reading(a1, ts, 41.5),
                                      {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, (st, r)
        assert series_values(patient, pid, frm, to) == [], "the patient node reads the paused replica"
        # routes not marked read the primary: the reading is there at once
        point = patient.get(f"/api/v1/points/{pid}")
        assert re.search(r"41\.5", str(point)), point
        t.wait_for(lambda: series_values(strict, pid, frm, to) == [41.5], timeout=20,
                   what="the strict node reads the primary once the replica is a second behind")
        assert strict.served()["primary_replica_stale"] >= 1

        # replay resumes: the strict node goes back to the replica, which has the reading now
        standby.psql("SELECT pg_wal_replay_resume()")
        base = strict.served()["replica"]
        t.wait_for(lambda: (series_values(strict, pid, frm, to) == [41.5]
                            and strict.served()["replica"] > base + 1), timeout=20,
                   what="the strict node back on the replica")
        assert series_values(patient, pid, frm, to) == [41.5]

        # the replica goes away: answers stay 200, from the primary
        standby.stop()
        down_before = strict.served()["primary_replica_down"]
        for _ in range(3):
            assert series_values(strict, pid, frm, to) == [41.5]
            strict.get("/api/v1/statistics")
        assert strict.served()["primary_replica_down"] >= down_before + 3
        for n in nodes:
            assert n.srv.stop() == 0, n.srv.logtext()
        nodes = []
    finally:
        for n in nodes:
            n.srv.stop()
        if standby:
            standby.stop()
        cl.close()


if __name__ == "__main__":
    t.run([test_replica_serves_marked_reads_within_the_lag_bound])
