"""Shared pieces of the fault tests (tests/integration/test_fault_*.py,
docs/reliability.md section 6): a city of N enterprises, the retrying load
generator of section 6's conventions, the reconcile checks, a throw-away
PostgreSQL cluster a test may crash at will, and a loopback TCP proxy the test
can cut.  Standard library only."""
import hashlib
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import dwtest as t


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


def make_enterprises(db, n):
    """n enterprises in one district, one hopper-temperature point and one
    ingest API key each.  Returns a list of dicts (id, code, api_key, point)."""
    db.sql("""
    INSERT INTO regions (code, name, level, kind) VALUES ('310000', '上海市', 'city', 'city');
    INSERT INTO regions (code, name, level, kind, parent_id)
      SELECT '310113', '宝山区', 'district', 'district', id FROM regions WHERE code = '310000';
    INSERT INTO regions (code, name, level, kind, parent_id)
      SELECT '310113103', '罗店镇', 'street', 'town', id FROM regions WHERE code = '310113';
    """)
    ents = []
    for i in range(n):
        code = f"3101130{i:05d}"
        uscc = f"91310113MA1G{i:05d}X"
        eid = db.scalar(f"""
          INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude,
                                   industry_code)
          SELECT '{code}', '{uscc}', '故障测试企业{i}', d.id, s.id, '测试路{i}号', 121.4, 31.4, 'C3360'
          FROM regions d, regions s WHERE d.code = '310113' AND s.code = '310113103' RETURNING id""")
        sys_id = db.scalar(f"""INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type)
                               VALUES ({eid}, '01', '1号除尘系统', false, 'bag') RETURNING id""")
        pcode = f"{code}0101001"
        pid = db.scalar(f"""INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max,
                              limit_high, limit_high_high, expected_interval_s)
                            VALUES ('{pcode}', {eid}, {sys_id}, 'hopper_temp', '灰斗温度', -40, 200, 70, 80, 10)
                            RETURNING id""")
        key = "dwk_" + secrets.token_urlsafe(32)
        h = hashlib.sha256(key.encode()).hexdigest()
        db.sql(f"""INSERT INTO ingest_credentials (enterprise_id, kind, key_prefix, key_hash)
                   VALUES ({eid}, 'api_key', '{key[:12]}', '\\x{h}')""")
        ents.append(dict(id=int(eid), code=code, api_key=key, point=pcode, point_id=int(pid)))
    return ents


class LoadClient:
    """Section 6's load generator for one enterprise: `batches` distinct
    batches of `size` readings, each with its own Idempotency-Key, retried on
    any non-2xx, timeout or connection error with the same key (exponential
    backoff with jitter from 100 ms, capped at `cap` s) until acknowledged.

    Keeps the history (key, status, seconds) and counts requests in flight:
    `inflight` is raised once the request has been written to the server's
    socket and lowered when the answer (or the error) is in."""

    def __init__(self, ent, batches, size, base, port, rng, cap=1.0, timeout=10, shared=None, tag="", pause=0.0):
        self.ent, self.batches, self.size, self.base = ent, batches, size, base
        self.port = port  # a callable: the ingest port of the current server
        self.rng, self.cap, self.timeout = rng, cap, timeout
        self.shared = shared  # an InFlight shared by all clients, or None
        self.acked = []  # indexes of acknowledged batches
        self.history = []  # (key, status or error name, seconds, monotonic start)
        self.bad = []  # answers the contract forbids (anything but 200/429/503, or no Retry-After)
        self.gave_up = False
        self.tag = tag
        self.pause = pause

    def body(self, b):
        start = self.base + timedelta(seconds=b * self.size)
        return json.dumps({"readings": [{"point": self.ent["point"],
                                         "ts": (start + timedelta(seconds=i)).isoformat(),
                                         "value": 20.0 + (b * self.size + i) % 30}
                                        for i in range(self.size)]}).encode()

    def send(self, body, key):
        c = http.client.HTTPConnection("127.0.0.1", self.port(), timeout=self.timeout)
        try:
            c.putrequest("POST", "/ingest/v1/readings")
            for k, v in (("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                         ("X-Api-Key", self.ent["api_key"]), ("Idempotency-Key", key)):
                c.putheader(k, v)
            c.endheaders()
            c.send(body)
            if self.shared:
                self.shared.enter()
            try:
                r = c.getresponse()
                data = r.read()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            finally:
                if self.shared:
                    self.shared.leave()
        finally:
            c.close()

    def run(self, deadline):
        for b in range(self.batches):
            body = self.body(b)
            key = f"{self.ent['code']}{self.tag}-batch-{b}"
            delay = 0.1
            while True:
                if time.time() > deadline:
                    self.gave_up = True
                    return
                t0 = time.monotonic()
                try:
                    st, hdr, data = self.send(body, key)
                except (OSError, http.client.HTTPException) as e:
                    self.history.append((key, type(e).__name__, time.monotonic() - t0, t0))
                else:
                    self.history.append((key, st, time.monotonic() - t0, t0))
                    if st == 200:
                        self.acked.append(b)
                        if self.pause:
                            time.sleep(self.pause)
                        break
                    if st not in (429, 503) or "retry-after" not in hdr:
                        self.bad.append((key, st, hdr, data[:300]))
                time.sleep(min(self.cap, delay) * self.rng.uniform(0.5, 1.0))
                delay *= 2

    def statuses(self):
        return [h[1] for h in self.history]


class InFlight:
    """How many requests are written and not yet answered, across clients."""

    def __init__(self):
        self.n = 0
        self.cv = threading.Condition()

    def enter(self):
        with self.cv:
            self.n += 1
            self.cv.notify_all()

    def leave(self):
        with self.cv:
            self.n -= 1

    def while_busy(self, fn, timeout=30):
        """Runs fn() at a moment when at least one request is in flight (no
        answer can come in between: answers wait for the lock); returns how many were."""
        with self.cv:
            assert self.cv.wait_for(lambda: self.n > 0, timeout), "no request in flight to fault under"
            n = self.n
            fn()
        return n

    def kill_while_busy(self, proc, timeout=30):
        """SIGKILLs proc at a moment when at least one request is in flight
        (checked under the lock, so the answer cannot slip in between);
        returns how many were."""
        with self.cv:
            assert self.cv.wait_for(lambda: self.n > 0, timeout), "no request in flight to kill under"
            n = self.n
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        return n


def run_clients(clients, deadline):
    threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
    for th in threads:
        th.start()
    return threads


def reconcile(db, ents, clients, size):
    """Section 6's reconcile: count, duplicate natural keys, lost acks (an
    acknowledged batch not stored in full).  Returns (rows, duplicates, lost)."""
    rows = int(db.scalar("SELECT count(*) FROM readings"))
    dups = int(db.scalar("SELECT count(*) FROM (SELECT point_id, collected_at FROM readings "
                         "GROUP BY 1, 2 HAVING count(*) > 1) d"))
    lost = 0
    for c in clients:
        stored = {}
        for r in db.sql(f"SELECT floor(extract(epoch FROM collected_at - '{c.base.isoformat()}'::timestamptz) "
                        f"/ {size})::int, count(*) FROM readings WHERE point_id = {c.ent['point_id']} GROUP BY 1"):
            stored[int(r[0])] = int(r[1])
        lost += sum(1 for b in c.acked if stored.get(b, 0) != size)
    return rows, dups, lost


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Cluster:
    """A throw-away PostgreSQL cluster of this test alone (initdb into a
    temporary directory, trust auth on loopback, the roles services.sh
    makes), so the test may crash it, stop it or change cluster-wide
    settings without disturbing the shared one."""

    def __init__(self, **settings):
        self.dir = tempfile.mkdtemp(prefix="dwpg-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = t.free_port()
        self.log = os.path.join(self.dir, "postgres.log")
        self._pg(t.PGBIN + "/initdb", "-D", self.data, "-U", "dwadmin", "--auth=trust", "-E", "UTF8",
                 "--locale=C.UTF-8", "--no-sync")
        conf = {"listen_addresses": "'127.0.0.1'", "port": str(self.port),
                "unix_socket_directories": f"'{self.dir}'", "max_connections": "100",
                "shared_buffers": "32MB", "synchronous_commit": "on", "fsync": "on",
                "log_min_messages": "warning"}
        conf.update({k: str(v) for k, v in settings.items()})
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        self.start()
        self.psql("""DO $$ BEGIN
          CREATE ROLE dustwatch_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
          CREATE ROLE dw_server LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE IN ROLE dustwatch_app;
        END $$;""", db="postgres")

    def _pg(self, *args, check=True):
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=check, capture_output=True,
                              text=True, timeout=120)

    def start(self):
        self._pg(t.PGBIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")

    def stop(self, mode="fast"):
        self._pg(t.PGBIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode="fast"):
        self._pg(t.PGBIN + "/pg_ctl", "-D", self.data, "-l", self.log, "-m", mode, "-w", "-t", "60", "restart")

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def crash(self):
        """kill -9 of the postmaster, then of every backend left (as a power
        loss or an OOM kill would leave them): the next start runs crash recovery."""
        pm = self.postmaster_pid()
        kids = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout.split()
        os.kill(pm, signal.SIGKILL)
        for k in kids:
            try:
                os.kill(int(k), signal.SIGKILL)
            except ProcessLookupError:
                pass
        t.wait_for(lambda: subprocess.run(["runuser", "-u", "postgres", "--", t.PGBIN + "/pg_ctl", "-D",
                                           self.data, "status"], capture_output=True).returncode != 0,
                   timeout=10, what="postmaster gone")
        # a stale postmaster.pid is fine for pg_ctl start: its pid is dead
        return pm

    def psql(self, sql, db="postgres", check=True):
        args = [t.PGBIN + "/psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                "-h", "127.0.0.1", "-p", str(self.port), "-U", "dwadmin", "-d", db]
        r = subprocess.run(args, input=sql, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed: {r.stderr.strip()}\nSQL: {sql[:500]}")
        return [line.split("\t") for line in r.stdout.splitlines() if line != ""]

    def database(self, migrate=True):
        return ClusterDatabase(self, migrate)

    def close(self):
        self.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterDatabase(t.Database):
    """dwtest.Database on a Cluster instead of the shared one."""

    def __init__(self, cluster, migrate=True):
        self.cluster = cluster
        self.name = "t_" + uuid.uuid4().hex[:12]
        cluster.psql(f"CREATE DATABASE {self.name}")
        self.owner_url = f"postgresql://dwadmin@127.0.0.1:{cluster.port}/{self.name}"
        self.app_url = f"postgresql://dw_server@127.0.0.1:{cluster.port}/{self.name}"
        if migrate:
            r = self.migrate()
            assert r.returncode == 0, r.stderr

    def sql(self, q, user="dwadmin", **kw):
        assert user == "dwadmin"
        return self.cluster.psql(q, db=self.name, **kw)

    def scalar(self, q, user="dwadmin"):
        rows = self.sql(q)
        return rows[0][0] if rows else None

    def drop(self):
        pass  # the cluster goes as a whole


class Proxy:
    """A loopback TCP proxy (asyncio-free: one thread per direction) in front
    of host:port.  cut() closes every open pair at once (RST) — the network
    to PostgreSQL gone mid-transaction — and, while `refusing`, new
    connections are accepted and closed at once."""

    def __init__(self, port, host="127.0.0.1"):
        self.target = (host, int(port))
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", t.free_port()))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.pairs = []
        self.lock = threading.Lock()
        self.refusing = False
        self.bytes = 0
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.refusing:
                self._reset(c)
                continue
            try:
                s = socket.create_connection(self.target, timeout=5)
                s.settimeout(None)
            except OSError:
                self._reset(c)
                continue
            with self.lock:
                self.pairs.append((c, s))
            threading.Thread(target=self._pump, args=(c, s), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                self.bytes += len(d)
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    @staticmethod
    def _reset(s):
        """A RST, not a FIN: SO_LINGER 0.  shutdown() first: it wakes the
        pump thread blocked in recv() on this socket (a bare close() from
        another thread would leave the connection open until that recv returns)."""
        import struct
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def open_pairs(self):
        with self.lock:
            return len(self.pairs)

    def cut(self, refuse=True):
        """Drops every connection through the proxy with a RST on both sides."""
        self.refusing = refuse
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, s in pairs:
            self._reset(c)
            self._reset(s)
        return len(pairs)

    def restore(self):
        self.refusing = False

    def close(self):
        self.running = False
        self.cut()
        self.lsock.close()
