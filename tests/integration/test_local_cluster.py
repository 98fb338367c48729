"""Scale-out on one machine (deploy/local-cluster.sh): two API nodes, two ingest
nodes and two workers against one PostgreSQL and Redis behind nginx.  Readings
pushed through nginx land on both ingest nodes and read the same through either
API node; an API key revoked through one API node stops working on the other
(which had it cached), and a live-event stream on one node ends when its session
is logged out through the other."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import PW, admin
from test_event_streams import Stream

SCRIPT = os.path.join(t.SRC, "deploy/local-cluster.sh")


def free_block(n=8):
    """A base port with n free consecutive ports after it."""
    import random
    import socket
    for _ in range(100):
        base = random.randrange(20000, 31000)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port block")


def metric(port, name, **labels):
    st, _, body = t.request(port, "GET", "/metrics")
    assert st == 200, st
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in body.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


class Cluster:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.a = self.ents[list(self.ents)[0]]
        admin(self.db, "create-account", "--username", "a.manager", "--role", "enterprise_manager",
              "--enterprise", self.a["code"])
        self.dir = tempfile.mkdtemp(prefix="dw-cluster-")
        # a Redis database of its own: every test database numbers its enterprises from 1,
        # and latest values other tests left in Redis (db 0) would answer for ours
        redis_url = re.sub(r"/\d+$", "/9", os.environ["DUSTWATCH_REDIS_URL"])
        subprocess.run(["redis-cli", "-p", t.REDIS_PORT, "-n", "9", "FLUSHDB"], check=True,
                       capture_output=True)
        env = self.db.env(DUSTWATCH_REDIS_URL=redis_url,DW_BIN=os.path.abspath(t.BIN), DW_CLUSTER_PORT=str(free_block()),
                          DUSTWATCH_EVENT_STREAM_CHECK_S="1", DUSTWATCH_WORKER_INTERVAL_MS="500",
                          DUSTWATCH_LOG_LEVEL="info")
        self.env = env
        r = subprocess.run([SCRIPT, "start", self.dir], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        self.ports = {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", r.stdout, re.M)}
        assert set(self.ports) == {"NGINX_API", "NGINX_INGEST", "API1", "API2", "INGEST1", "INGEST2"}

    def login(self, port):
        st, _, body = t.request(port, "POST", "/api/v1/auth/login",
                                {"username": "a.manager", "password": PW})
        assert st == 200, (st, body)
        return body["token"]

    def close(self):
        try:
            r = subprocess.run([SCRIPT, "stop", self.dir], env=self.env, capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, r.stderr
            for f in os.listdir(self.dir):
                if f.startswith("node-") and f.endswith(".log"):
                    with open(os.path.join(self.dir, f), errors="replace") as fh:
                        log = fh.read()
                    assert "level=error" not in log, (f, log[-3000:])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.db.drop()


def test_push_through_nginx_read_through_either_node():
    c = Cluster()
    try:
        p = c.ports
        code = c.a["points"]["hopper_temp"][0]
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
        h = {"X-Api-Key": c.a["api_key"]}
        for k in range(6):
            body = {"readings": [{"point": code, "ts": (start + timedelta(seconds=10 * (5 * k + i))).isoformat(),
                                  "value": 30 + k} for i in range(5)]}
            st, _, r = t.request(p["NGINX_INGEST"], "POST", "/ingest/v1/readings", body,
                                 {**h, "Idempotency-Key": f"cluster-{k}"})
            assert st == 200 and r["accepted"] == 5, (st, r)
        # nginx balanced the six requests over both ingest nodes; together they stored 30
        n1 = metric(p["INGEST1"], "dustwatch_ingest_items_total", dialect="native", outcome="accepted")
        n2 = metric(p["INGEST2"], "dustwatch_ingest_items_total", dialect="native", outcome="accepted")
        assert n1 > 0 and n2 > 0 and n1 + n2 == 30, (n1, n2)
        # a retry through nginx (whichever node gets it) replays the stored answer
        body = {"readings": [{"point": code, "ts": start.isoformat(), "value": 30}] * 1}
        st, hdr, r = t.request(p["NGINX_INGEST"], "POST", "/ingest/v1/readings", body,
                               {**h, "Idempotency-Key": "cluster-0"})
        assert st == 422 and r["code"] == "idempotency_key_reused", (st, r)
        # the same latest value and series through both API nodes and nginx
        tok = c.login(p["API1"])
        answers = []
        for port in (p["API1"], p["API2"], p["NGINX_API"]):
            auth = {"Authorization": "Bearer " + tok}
            st, _, pts = t.request(port, "GET", f"/api/v1/enterprises/{c.a['id']}/points", None, auth)
            assert st == 200, (st, pts)
            latest = [x for x in pts["items"] if x["code"] == code][0]["latest"]
            frm = (start - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            to = (start + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
            pid = c.a["points"]["hopper_temp"][1]
            st, _, ser = t.request(port, "GET", f"/api/v1/points/{pid}/series?from={frm}&to={to}&bucket=0",
                                   None, auth)
            assert st == 200, (st, ser)
            answers.append((latest["value"], [round(x[1]) for x in ser["items"]]))
        assert answers[0] == answers[1] == answers[2], answers
        assert answers[0][0] == 35 and len(answers[0][1]) == 30, answers[0]
        # nginx does not pass /metrics on
        assert t.request(p["NGINX_API"], "GET", "/metrics")[0] == 404
        assert t.request(p["NGINX_INGEST"], "GET", "/metrics")[0] == 404
        # both workers run; one of them holds the city-wide jobs at a time
        t.wait_for(lambda: "worker started" in open(os.path.join(c.dir, "node-worker2.log")).read(),
                   timeout=20, what="second worker")
    finally:
        c.close()


def test_revocation_on_one_node_holds_on_the_other():
    c = Cluster()
    try:
        p = c.ports
        tok = c.login(p["API1"])
        auth = {"Authorization": "Bearer " + tok}
        st, _, k = t.request(p["API1"], "POST", f"/api/v1/enterprises/{c.a['id']}/api-keys",
                             {"label": "cluster"}, auth)
        assert st == 201, (st, k)
        key = {"X-Api-Key": k["key"]}
        # node 2 resolves (and caches) the key
        assert t.request(p["API2"], "GET", "/api/v1/auth/me", None, key)[0] == 200
        # revoked through node 1: node 2 refuses it once its cache entry is gone
        # (auth_cache_ms, 500 ms by default) — polled, not timed
        assert t.request(p["API1"], "DELETE", f"/api/v1/api-keys/{k['id']}", None, auth)[0] == 200
        assert t.request(p["API1"], "GET", "/api/v1/auth/me", None, key)[0] == 401
        t.wait_for(lambda: t.request(p["API2"], "GET", "/api/v1/auth/me", None, key)[0] == 401,
                   timeout=15, what="the revoked key refused on the other node")
        # a live stream on node 2 ends when its session is logged out through node 1
        tok2 = c.login(p["API2"])
        s = Stream(p["API2"], {"Authorization": "Bearer " + tok2})
        try:
            assert t.request(p["API1"], "POST", "/api/v1/auth/logout", None,
                             {"Authorization": "Bearer " + tok2})[0] in (200, 204)
            t.wait_for(lambda: s.ended_at is not None and s.has("event: end"), timeout=20,
                       what="the stream on the other node ended")
        finally:
            s.close()
        # and the session itself is refused there once node 2's cache entry is gone
        t.wait_for(lambda: t.request(p["API2"], "GET", "/api/v1/auth/me", None,
                                     {"Authorization": "Bearer " + tok2})[0] == 401,
                   timeout=15, what="the logged-out session refused on the other node")
        # the first session still works through both nodes and nginx
        for port in (p["API1"], p["API2"], p["NGINX_API"]):
            assert t.request(port, "GET", "/api/v1/auth/me", None, auth)[0] == 200
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_push_through_nginx_read_through_either_node,
           test_revocation_on_one_node_holds_on_the_other])
