"""Backup and restore as a test (docs/reliability.md, recovery;
deploy/backup.sh, deploy/restore.sh, deploy/README.md "Backups").

A populated database (a city, accounts, audit rows from logins, readings
through the real ingest path) is dumped with deploy/backup.sh (pg_dump -Fc,
encrypted with a key file), restored with deploy/restore.sh into a fresh
database of a fresh cluster, and then: `dustwatch migrate --check` exit 0,
`dustwatch audit verify` exit 0, every table's row count equal to the
source's, a server on the restored copy ready (/readyz 200) and serving the
old credentials (gateway API key, account password).  The encrypted file holds
no plaintext; a wrong key restores nothing.  The plain (-Fc, no key) variant
round-trips too."""
import os
import secrets
import subprocess
import tempfile
import time

import dwtest as t
import fault_lib as f
import fixtures
from test_api import PW, admin

BACKUP = os.path.join(t.SRC, "deploy", "backup.sh")
RESTORE = os.path.join(t.SRC, "deploy", "restore.sh")


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DW_PGBIN=t.PGBIN))


def table_counts(q):
    """{table: rows} for every ordinary table and partition in public, via q(sql)."""
    names = [r[0] for r in q("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1")]
    counts = {}
    for n in names:
        counts[n] = int(q(f'SELECT count(*) FROM public."{n}"')[0][0])
    return counts


def populate():
    db = t.Database()
    ents = fixtures.make_city(db)
    a1 = next(iter(ents.values()))
    admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
    srv = t.Server(db)
    try:
        for _ in range(2):
            st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
            assert st == 200, body
        st, _, _ = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": "wrong"})
        assert st == 401
        base = f.now_utc() - f.timedelta(hours=2)
        for b in range(5):
            body = {"readings": [{"point": a1["points"]["hopper_temp"][0],
                                  "ts": (base + f.timedelta(seconds=b * 100 + i)).isoformat(), "value": 30 + i % 9}
                                 for i in range(100)]}
            st, _, r = srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": a1["api_key"]})
            assert st == 200 and r["accepted"] == 100, (st, r)
    finally:
        assert srv.stop() == 0
    assert int(db.scalar("SELECT count(*) FROM audit_log")) >= 3
    return db, a1


def check_restored(rdb, src_counts, a1):
    r = rdb.migrate("--check")
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = subprocess.run([t.BIN, "audit", "verify"], env=rdb.env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    counts = table_counts(rdb.sql)
    assert counts == src_counts, {k: (src_counts.get(k), counts.get(k)) for k in set(counts) | set(src_counts)
                                  if counts.get(k) != src_counts.get(k)}
    srv = t.Server(rdb)  # waits for /readyz 200
    try:
        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
        assert st == 200, body
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        st, _, body = srv.ingest("POST", "/ingest/v1/readings",
                                 {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": ts, "value": 35}]},
                                 {"X-Api-Key": a1["api_key"]})
        assert st == 200 and body["accepted"] == 1, (st, body)
    finally:
        assert srv.stop() == 0
    r = subprocess.run([t.BIN, "audit", "verify"], env=rdb.env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)  # the chain goes on from the restored rows


def test_encrypted_backup_restores_into_a_fresh_cluster():
    db, a1 = populate()
    tmp = tempfile.mkdtemp(prefix="dw-backup-")
    cl = None
    try:
        key = os.path.join(tmp, "backup.key")
        with open(key, "w") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        os.chmod(key, 0o600)
        out = os.path.join(tmp, "dw.dump.enc")
        r = run(BACKUP, "-k", key, db.owner_url, out)
        assert r.returncode == 0, r.stderr
        assert oct(os.stat(out).st_mode & 0o777) == "0o600"
        with open(out, "rb") as fh:
            data = fh.read()
        assert not data.startswith(b"PGDMP") and b"city.admin" not in data and "上海".encode() not in data
        src_counts = table_counts(db.sql)
        assert src_counts["enterprises"] == 3 and src_counts["audit_log"] >= 3, src_counts

        cl = f.Cluster()
        # a wrong key restores nothing
        bad = os.path.join(tmp, "wrong.key")
        with open(bad, "w") as fh:
            fh.write("not the key\n")
        wrong = cl.database(migrate=False)
        r = run(RESTORE, "-k", bad, out, wrong.owner_url)
        assert r.returncode != 0, r.stderr
        assert wrong.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"

        rdb = cl.database(migrate=False)
        r = run(RESTORE, "-k", key, out, rdb.owner_url)
        assert r.returncode == 0, r.stderr
        # a second restore into the now populated database is refused
        r = run(RESTORE, "-k", key, out, rdb.owner_url)
        assert r.returncode == 1 and "not empty" in r.stderr, r.stderr
        check_restored(rdb, src_counts, a1)
    finally:
        db.drop()
        if cl:
            cl.close()
        subprocess.run(["rm", "-rf", tmp])


def test_plain_backup_round_trips():
    db, a1 = populate()
    tmp = tempfile.mkdtemp(prefix="dw-backup-")
    cl = None
    try:
        out = os.path.join(tmp, "dw.dump")
        r = run(BACKUP, db.owner_url, out)
        assert r.returncode == 0, r.stderr
        with open(out, "rb") as fh:
            assert fh.read(5) == b"PGDMP"
        src_counts = table_counts(db.sql)
        cl = f.Cluster()
        rdb = cl.database(migrate=False)
        r = run(RESTORE, out, rdb.owner_url)
        assert r.returncode == 0, r.stderr
        check_restored(rdb, src_counts, a1)
    finally:
        db.drop()
        if cl:
            cl.close()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    t.run([test_encrypted_backup_restores_into_a_fresh_cluster, test_plain_backup_round_trips])
