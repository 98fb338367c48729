"""Foundation: migrations, health/readiness, config errors, shutdown."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import dwtest as t
import fault_lib as f


def test_migrate_twice_is_noop():
    db = t.Database(migrate=False)
    try:
        r1 = db.migrate()
        assert r1.returncode == 0, r1.stderr
        n1 = db.scalar("SELECT count(*) FROM schema_migrations")
        before = db.scalar("SELECT string_agg(name || applied_at::text, ',') FROM schema_migrations")
        r2 = db.migrate()
        assert r2.returncode == 0, r2.stderr
        assert "applied=0" in r2.stderr, r2.stderr
        assert db.scalar("SELECT string_agg(name || applied_at::text, ',') FROM schema_migrations") == before
        assert int(n1) == len([f for f in os.listdir(os.path.join(t.SRC, "migrations")) if f.endswith(".sql")])
        assert db.migrate("--check").returncode == 0
    finally:
        db.drop()


def test_concurrent_migrate_serialises():
    db = t.Database(migrate=False)
    try:
        procs = [subprocess.Popen([t.BIN, "migrate"], env=db.env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        applied = [int(o[1].split("applied=")[1].split()[0]) for o in outs]
        assert sorted(applied)[-1] > 0 and sum(applied) == max(applied), applied
    finally:
        db.drop()


def test_changed_applied_migration_refused():
    db = t.Database(migrate=False)
    tmp = tempfile.mkdtemp()
    try:
        mdir = os.path.join(tmp, "migrations")
        shutil.copytree(os.path.join(t.SRC, "migrations"), mdir)
        assert db.migrate("--dir", mdir).returncode == 0
        with open(os.path.join(mdir, "0001_base.sql"), "a") as f:
            f.write("\n-- an innocent-looking edit\n")
        r = db.migrate("--dir", mdir)
        assert r.returncode != 0
        assert "0001_base.sql" in r.stderr and "changed" in r.stderr, r.stderr
        # the server refuses to call itself ready against such a database
        chk = db.migrate("--dir", mdir, "--check")
        assert chk.returncode != 0
    finally:
        shutil.rmtree(tmp)
        db.drop()


def test_misnamed_migration_refused():
    db = t.Database(migrate=False)
    tmp = tempfile.mkdtemp()
    try:
        mdir = os.path.join(tmp, "m")
        shutil.copytree(os.path.join(t.SRC, "migrations"), mdir)
        open(os.path.join(mdir, "5_oops.sql"), "w").write("SELECT 1;")
        r = db.migrate("--dir", mdir)
        assert r.returncode != 0 and "misnamed" in r.stderr, r.stderr
    finally:
        shutil.rmtree(tmp)
        db.drop()


def test_app_role_cannot_bypass_rls():
    db = t.Database()
    try:
        row = db.sql("SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'dw_server'")[0]
        assert row == ["f", "f", "f"], row
        owned = db.scalar("SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                          "WHERE r.rolname IN ('dw_server', 'dustwatch_app')")
        assert owned == "0", owned
    finally:
        db.drop()


def test_health_and_readiness():
    db = t.Database()
    srv = t.Server(db)
    try:
        for port in (srv.api_port, srv.ingest_port):
            st, _, body = t.request(port, "GET", "/healthz")
            assert st == 200 and body["status"] == "alive", body
            st, _, body = t.request(port, "GET", "/readyz")
            assert st == 200 and body["postgres"]["ok"] and body["migrations"]["ok"], body
            assert body["durability"] == "ok", body
            st, hdr, body = t.request(port, "POST", "/readyz")
            assert st == 405 and "GET" in hdr.get("allow", ""), (st, hdr)
            assert set(body) == {"code", "hint", "detail"}, body
        st, _, body = srv.api("GET", "/api/v1/no-such-thing")
        assert st == 404 and body["code"] == "not_found", body
    finally:
        assert srv.stop() == 0
        db.drop()


def test_readyz_follows_postgres_without_restart():
    # a cluster of this test alone: stopping the shared one would fail the tests beside it
    cl = f.Cluster()
    srv = None
    try:
        db = cl.database()
        srv = t.Server(db)
        cl.stop()
        try:
            for port in (srv.api_port, srv.ingest_port):
                t.wait_for(lambda: t.request(port, "GET", "/readyz")[0] == 503, what="readyz 503")
                st, _, body = t.request(port, "GET", "/readyz")
                assert body["postgres"]["ok"] is False and body["status"] == "not_ready", body
                assert t.request(port, "GET", "/healthz")[0] == 200
        finally:
            cl.start()
        for port in (srv.api_port, srv.ingest_port):
            t.wait_for(lambda: t.request(port, "GET", "/readyz")[0] == 200, timeout=20,
                       what="readyz 200 again")
        assert srv.proc.poll() is None, "server must not restart"
    finally:
        if srv:
            srv.stop()
        cl.close()


def test_unmigrated_database_is_not_ready():
    db = t.Database(migrate=False)
    srv = t.Server(db, wait_ready=False)
    try:
        def st():
            try:
                return t.request(srv.api_port, "GET", "/readyz")
            except OSError:
                return None
        r = t.wait_for(lambda: (lambda x: x if x and x[2].get("postgres", {}).get("ok") else None)(st()),
                       what="postgres checked")
        assert r[0] == 503 and r[2]["migrations"]["ok"] is False, r
        assert "not migrated" in r[2]["migrations"]["detail"], r
    finally:
        srv.stop()
        db.drop()


def test_statement_that_does_not_fit_the_schema_stops_the_start():
    """Connections prepare a statement when they first run it; the start still prepares every
    registered one once, so code and schema that disagree stop the server at start (as when
    every connection prepared them all) rather than at some request hours later."""
    db = t.Database()
    try:
        # the schema_migrations rows still say current: only the statements can tell
        db.sql("ALTER TABLE enterprises RENAME COLUMN uscc TO uscc_renamed")
        srv = t.Server(db, wait_ready=False)
        try:
            srv.proc.wait(60)
        except subprocess.TimeoutExpired:
            srv.stop()
            raise AssertionError("server kept running:\n" + srv.logtext())
        log = srv.logtext()
        assert srv.proc.returncode != 0, log
        assert "statements do not fit the database" in log and "uscc" in log, log
    finally:
        db.drop()


def run_bad(args, env_extra=None, cfg_text=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    tmp = None
    if cfg_text is not None:
        tmp = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        tmp.write(cfg_text)
        tmp.close()
        args = args + ["--config", tmp.name]
    r = subprocess.run([t.BIN] + args, env=env, capture_output=True, text=True, timeout=30)
    if tmp:
        os.unlink(tmp.name)
    return r


def test_bad_config_exits_nonzero_with_message():
    cases = [
        (["serve"], None, "no_such_key = 1\n", "unknown key \"no_such_key\""),
        (["serve"], None, "api_threads = many\n", "invalid value for \"api_threads\""),
        (["serve"], None, "this line has no equals\n", "syntax error"),
        # (2^44 + 1) MiB wrapped to exactly 1 MiB and was accepted (found by fuzz_config)
        (["serve"], None, "ingest_max_body = 17592186044417M\n", "invalid value for \"ingest_max_body\""),
        (["serve"], None, "ingest_max_body = 9223372036854775807k\n", "invalid value for \"ingest_max_body\""),
        (["serve"], {"DUSTWATCH_API_LISTEN": "nonsense"}, None, "DUSTWATCH_API_LISTEN"),
        (["serve"], {"DUSTWATCH_ROLES": "ingest,gardening"}, None, "invalid roles"),
        (["serve"], {"DUSTWATCH_REDIS_URL": "http://x"}, None, "invalid redis_url"),
        (["serve", "--config", "/nonexistent/dw.conf"], None, None, "could not open config file"),
        (["migrate"], {"DUSTWATCH_LOG_LEVEL": "loud"}, None, None),
    ]
    for args, env, cfg, needle in cases:
        r = run_bad(args, env, cfg)
        if needle is None:
            continue
        assert r.returncode != 0, (args, env, cfg, r.stderr)
        assert needle in r.stderr, (needle, r.stderr)
    r = run_bad(["nosuchcommand"])
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_help_on_every_subcommand():
    for sub in ("serve", "migrate", "version", "config"):
        r = subprocess.run([t.BIN, sub, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: dustwatch " + sub in r.stdout, (sub, r.stdout)


def test_example_config_lists_every_key():
    r = subprocess.run([t.BIN, "config"], capture_output=True, text=True)
    with open(os.path.join(t.SRC, "deploy", "dustwatch.conf.example")) as f:
        assert f.read() == r.stdout, "deploy/dustwatch.conf.example is stale: regenerate with `dustwatch config`"
    # and the example itself loads cleanly
    tmp = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    tmp.write(r.stdout.replace("web-static", os.path.join(t.SRC, "web-static")))
    tmp.close()
    chk = subprocess.run([t.BIN, "migrate", "--config", tmp.name, "--check", "--dir",
                          os.path.join(t.SRC, "migrations")],
                         env={"PATH": os.environ["PATH"]}, capture_output=True, text=True)
    os.unlink(tmp.name)
    assert "unknown key" not in chk.stderr and "invalid" not in chk.stderr, chk.stderr


def test_sigterm_exits_zero_and_finishes_in_flight():
    db = t.Database()
    srv = t.Server(db)
    try:
        assert srv.stop(signal.SIGTERM) == 0
        assert "dustwatch stopped" in srv.logtext()
        srv2 = t.Server(db)
        assert srv2.stop(signal.SIGINT) == 0
    finally:
        db.drop()


if __name__ == "__main__":
    t.run([
        test_migrate_twice_is_noop,
        test_concurrent_migrate_serialises,
        test_changed_applied_migration_refused,
        test_misnamed_migration_refused,
        test_app_role_cannot_bypass_rls,
        test_health_and_readiness,
        test_unmigrated_database_is_not_ready,
        test_statement_that_does_not_fit_the_schema_stops_the_start,
        test_bad_config_exits_nonzero_with_message,
        test_help_on_every_subcommand,
        test_example_config_lists_every_key,
        test_sigterm_exits_zero_and_finishes_in_flight,
        test_readyz_follows_postgres_without_restart,
    ])
