"""Helpers for dustwatch integration tests.

Tests run against the throw-away PostgreSQL and Redis that tests/run-all.sh
started (their coordinates arrive as DUSTWATCH_* / DW_* environment
variables) and the real dustwatch binary on loopback.  Every test gets its
own database, so tests neither see nor disturb each other's rows.  Only the
Python standard library is used; SQL checks go through psql.
"""
import fcntl
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

BIN = os.environ.get("DW_BIN", "build/dustwatch")
SRC = os.environ.get("DW_SOURCE_ROOT", os.getcwd())
PGBIN = os.environ.get("DW_PGBIN", "/usr/lib/postgresql/15/bin")
PG_PORT = os.environ.get("DW_PG_PORT")
PGDATA = os.environ.get("DW_PGDATA")
REDIS_PORT = os.environ.get("DW_REDIS_PORT")

# Every temporary file and directory of this test process (server logs, private clusters, key
# files, exports) goes under one directory of its own, removed by run() when every test passed
# and kept (its path printed) when one failed: /tmp used to keep a server log per server
# started, ~5,000 files after a day of runs.  0755: private PostgreSQL clusters in it run as
# the postgres user.
_SHARED_TMP = tempfile.gettempdir()
TMP_ROOT = tempfile.mkdtemp(prefix="dwtest-")
os.chmod(TMP_ROOT, 0o755)
tempfile.tempdir = TMP_ROOT


def free_port():
    """A port free now, chosen below Linux's ephemeral range (32768-60999):
    a port the kernel hands out for bind(0) can be taken again at once by any
    outgoing connection (to PostgreSQL, Redis) before the server binds it."""
    import random
    for _ in range(200):
        p = random.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(sql, db="dustwatch", user="dwadmin", check=True, params=None):
    """Runs SQL as `user`; returns rows as lists of strings (tab-separated)."""
    args = [PGBIN + "/psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", PG_PORT, "-U", user, "-d", db]
    for k, v in (params or {}).items():
        args += ["-v", f"{k}={v}"]
    r = subprocess.run(args, input=sql, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"psql failed: {r.stderr.strip()}\nSQL: {sql[:500]}")
    if not check:
        return r
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


def scalar(sql, db="dustwatch", user="dwadmin"):
    rows = psql(sql, db=db, user=user)
    return rows[0][0] if rows else None


def migrated_template():
    """The name of a database migrated by BIN, to copy (CREATE DATABASE ...
    TEMPLATE) rather than migrate each test's own: under ASan a migration run
    takes ~1 s of CPU, and the test files ask for a migrated database in 72
    places (more at run time where a test loops).  Named by
    the binary and the migrations/ files (names, sizes, mtimes), so a rebuilt
    binary or an edited migration gets a template of its own; made once per
    cluster, under a file lock, and renamed into place only when complete.
    DW_NO_TEMPLATE=1 migrates every database."""
    if os.environ.get("DW_NO_TEMPLATE") == "1" or not PG_PORT:
        return None
    key = [BIN, os.stat(BIN).st_size, os.stat(BIN).st_mtime_ns]
    mig = os.path.join(SRC, "migrations")
    for f in sorted(os.listdir(mig)) if os.path.isdir(mig) else []:
        st = os.stat(os.path.join(mig, f))
        key += [f, st.st_size, st.st_mtime_ns]
    name = "dwtpl_" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
    if psql(exists, db="postgres"):
        return name
    # shared by the test processes of one PostgreSQL, hence beside its data directory
    lock = os.path.join(os.path.dirname(PGDATA) if PGDATA else _SHARED_TMP,
                        f"dustwatch-template-{PG_PORT}.lock")
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        if psql(exists, db="postgres"):
            return name
        part = name + "_part"
        psql(f"DROP DATABASE IF EXISTS {part} WITH (FORCE)", db="postgres")
        Database(name=part, template=False)
        psql(f"ALTER DATABASE {part} RENAME TO {name}", db="postgres")
    return name


class Database:
    """A fresh database for one test, migrated unless told otherwise (as a
    copy of migrated_template())."""

    def __init__(self, migrate=True, name=None, template=True):
        self.name = name or "t_" + uuid.uuid4().hex[:12]
        template = migrated_template() if migrate and template else None
        if template:
            psql(f"CREATE DATABASE {self.name} TEMPLATE {template}", db="postgres")
        else:
            psql(f"CREATE DATABASE {self.name}", db="postgres")
        self.owner_url = f"postgresql://dwadmin@127.0.0.1:{PG_PORT}/{self.name}"
        self.app_url = f"postgresql://dw_server@127.0.0.1:{PG_PORT}/{self.name}"
        if migrate and not template:
            r = self.migrate()
            assert r.returncode == 0, r.stderr

    def env(self, **extra):
        e = dict(os.environ)
        e["DUSTWATCH_DATABASE_URL"] = self.app_url
        e["DUSTWATCH_MIGRATE_DATABASE_URL"] = self.owner_url
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def migrate(self, *args, **env):
        return subprocess.run([BIN, "migrate", *args], env=self.env(**env), capture_output=True,
                              text=True, timeout=120)

    def sql(self, q, user="dwadmin", **kw):
        return psql(q, db=self.name, user=user, **kw)

    def scalar(self, q, user="dwadmin"):
        return scalar(q, db=self.name, user=user)

    def drop(self):
        psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)", db="postgres", check=False)


class Server:
    """The real binary on free loopback ports."""

    def __init__(self, db, roles="ingest,api,worker", wait_ready=True, **cfg):
        # a port can still be taken between the check and the bind (tests run
        # in parallel): start again on other ports when a listener could not bind
        for attempt in range(3):
            self._start(db, roles, dict(cfg))
            if not wait_ready:
                return
            try:
                self.wait_ready()
                return
            except AssertionError:
                log = self.logtext()
                # a server that did not get ready is stopped before the error goes up: five left
                # by one failed run kept their workers ticking under the next 30 minutes of tests
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                if attempt == 2 or not ("could not start the API listener" in log
                                        or "could not bind the ingest listener" in log):
                    raise

    def _start(self, db, roles, cfg):
        self.ingest_port = free_port()
        self.api_port = free_port()
        env = db.env(DUSTWATCH_INGEST_LISTEN=f"127.0.0.1:{self.ingest_port}",
                     DUSTWATCH_API_LISTEN=f"127.0.0.1:{self.api_port}",
                     DUSTWATCH_LOG_LEVEL=cfg.pop("log_level", "info"))
        # the pool's warm-up (a statistic per new connection, ~0.4 s of each start under ASan) is
        # test_pool_warm's and test_read_replica's: the others ask for it when they need it
        cfg.setdefault("db_pool_warm", 0)
        for k, v in cfg.items():
            env["DUSTWATCH_" + k.upper()] = str(v)
        self.log = tempfile.NamedTemporaryFile(prefix="dwserve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([BIN, "serve", "--roles", roles], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.roles = roles

    def wait_ready(self, timeout=20):
        port = self.api_port if "api" in self.roles else self.ingest_port
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.logtext()}")
            try:
                st, _, _ = request(port, "GET", "/readyz")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready in time:\n" + self.logtext())

    def logtext(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()[-6000:]

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop in time:\n" + self.logtext())
        return self.proc.returncode

    def api(self, method, path, body=None, headers=None):
        return request(self.api_port, method, path, body, headers)

    def ingest(self, method, path, body=None, headers=None):
        return request(self.ingest_port, method, path, body, headers)


def request(port, method, path, body=None, headers=None, timeout=30):
    """Returns (status, headers dict lower-case, parsed JSON or raw bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    if "json" in hdrs.get("content-type", ""):
        try:
            data = json.loads(data)
        except ValueError:
            pass
    return r.status, hdrs, data


def pg_ctl(action, mode="fast"):
    args = ["runuser", "-u", "postgres", "--", PGBIN + "/pg_ctl", "-D", PGDATA, "-w", "-t", "60"]
    if action == "stop":
        args += ["-m", mode, "stop"]
    else:
        args += ["-l", os.path.join(os.path.dirname(PGDATA), "postgres.log"), "start"]
    subprocess.run(args, check=True, capture_output=True)


def psql_session(db_name, app_name):
    """A psql session on db_name (as the owner role) whose input the test writes as it goes
    (stdin kept open: write, flush; close to end it), named app_name in pg_stat_activity; for
    tests that hold a lock or an open transaction while the server races it."""
    return subprocess.Popen(
        [PGBIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", PG_PORT,
         "-U", "dwadmin", "-d", db_name], env=dict(os.environ, PGAPPNAME=app_name),
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(pred, timeout=15, step=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class PrivateRedis:
    """A Redis of one test alone, for tests that stop or wipe it mid-test:
    the shared one (deploy/services.sh) serves every test running in
    parallel, and its dw:latest:<enterprise id> keys would collide with
    other tests' fixture cities."""

    def __init__(self):
        self.port = free_port()
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cli("PING") == "PONG", what="private redis up")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        return r.stdout.strip()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


def print_server_logs(since, lines=40):
    """The tail of every server log written to since the failed test began: CI keeps only
    the test's output, not TMP_ROOT, and a failure seen only there needs the servers' side."""
    import glob
    for path in sorted(glob.glob(os.path.join(TMP_ROOT, "**", "dwserve-*.log"), recursive=True)):
        try:
            if os.path.getmtime(path) < since - 1:
                continue
            with open(path, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            continue
        print(f"--- last {len(tail)} lines of {path}", flush=True)
        sys.stdout.write("".join(tail))
        print("---", flush=True)


def run(tests, cleanup=None):
    """Runs test functions in order; prints one line each and the closing
    'N passed, N failed' line; exits non-zero on any failure."""
    passed = failed = 0
    for t in tests:
        start = time.time()
        try:
            t()
            passed += 1
            print(f"ok   {t.__name__} ({time.time() - start:.1f}s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {t.__name__}", flush=True)
            traceback.print_exc()
            print_server_logs(since=start)
    if cleanup:
        try:
            cleanup()
        except Exception:
            failed += 1
            print("FAIL cleanup", flush=True)
            traceback.print_exc()
    print(f"{passed} passed, {failed} failed")
    if failed:
        print(f"server logs and temporary files kept in {TMP_ROOT}", flush=True)
    else:
        shutil.rmtree(TMP_ROOT, ignore_errors=True)
    sys.exit(1 if failed else 0)
