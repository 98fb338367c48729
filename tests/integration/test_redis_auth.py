"""Redis authentication (issue 12 item 9): the Redis of deploy/services.sh
(which every test runs against) refuses clients without the password, so
nobody on its network can inject events into the dashboards; the server logs
in with the password or an ACL user from redis_url, never writes the
password into a log or an error, and without valid credentials runs on with
Redis reported down."""
import os
import socket
import subprocess
import tempfile

import dwtest as t


def resp(port, *commands):
    """Sends inline commands on one connection; returns the first line of each reply."""
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    out = []
    f = s.makefile("rb")
    for c in commands:
        s.sendall(c.encode() + b"\r\n")
        out.append(f.readline().decode().strip())
    s.close()
    return out


def redis_ok(srv):
    st, _, body = srv.api("GET", "/readyz")
    return st, body["redis"]["ok"]


def test_unauthenticated_publish_refused():
    pw = os.environ.get("DW_REDIS_PASSWORD")
    assert pw, "deploy/services.sh must start Redis with a password (DW_REDIS_PASSWORD)"
    assert f":{pw}@" in os.environ["DUSTWATCH_REDIS_URL"], "the server's redis_url carries it"
    r = resp(t.REDIS_PORT, "PUBLISH dw:events forged-event")
    assert r[0].startswith("-NOAUTH"), r
    r = resp(t.REDIS_PORT, "AUTH wrong-password", "PUBLISH dw:events forged-event")
    assert r[0].startswith("-WRONGPASS") and r[1].startswith("-NOAUTH"), r
    r = resp(t.REDIS_PORT, f"AUTH {pw}", "PUBLISH dw:probe x")
    assert r == ["+OK", ":0"], r


def test_server_needs_the_password():
    db = t.Database()
    pw = os.environ["DW_REDIS_PASSWORD"]
    srv = None
    try:
        srv = t.Server(db, roles="api")
        t.wait_for(lambda: redis_ok(srv) == (200, True), what="redis up with the password")
        assert srv.stop() == 0
        for url in (f"redis://127.0.0.1:{t.REDIS_PORT}/0", f"redis://:not-{pw}@127.0.0.1:{t.REDIS_PORT}/0"):
            srv = t.Server(db, roles="api", redis_url=url)
            # still ready: PostgreSQL answers, Redis only degrades live views
            t.wait_for(lambda: "redis refused" in srv.logtext(), what="refusal logged")
            assert redis_ok(srv) == (200, False)
            assert srv.stop() == 0
            assert pw not in srv.logtext() and f"not-{pw}" not in srv.logtext()
        # a malformed URL is refused without echoing it (it may hold the password)
        r = subprocess.run([t.BIN, "serve", "--roles", "api"], capture_output=True, text=True, timeout=30,
                           env=db.env(DUSTWATCH_REDIS_URL=f"redis://:{pw}@127.0.0.1:notaport/0"))
        assert r.returncode == 2 and "invalid redis_url" in r.stderr and pw not in r.stderr, r.stderr
        srv = None
    finally:
        if srv and srv.proc.poll() is None:
            srv.stop()
        db.drop()


def test_acl_user():
    """redis://user:password@...: AUTH with the ACL user (the default user disabled)."""
    port = t.free_port()
    d = tempfile.mkdtemp(prefix="dw-redis-acl-")
    conf = os.path.join(d, "redis.conf")
    with open(conf, "w") as f:
        f.write(f"port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir {d}\n"
                "user default off\nuser dwsrv on >s3cret%pw ~dw:* &dw:* +@all\n")
    proc = subprocess.Popen(["redis-server", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = t.Database()
    srv = None
    try:
        t.wait_for(lambda: resp(port, "PING")[0].startswith("-NOAUTH"), what="private redis up")
        assert resp(port, "AUTH dwsrv s3cret%pw", "PING") == ["+OK", "+PONG"]
        srv = t.Server(db, roles="api", redis_url=f"redis://dwsrv:s3cret%25pw@127.0.0.1:{port}/0")
        t.wait_for(lambda: redis_ok(srv) == (200, True), what="redis up as the ACL user")
    finally:
        if srv:
            assert srv.stop() == 0, srv.logtext()
        db.drop()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    t.run([test_unauthenticated_publish_refused, test_server_needs_the_password, test_acl_user])
