"""Gateway DES/SM4 keys encrypted at rest (issue 12 item 9): what the database
holds of a Hebei DES key or a MEM SM4 key/IV is sealed with a key derived from
the master key, which is outside the database, so a pg_dump of the credentials
table yields no key; the ingest listener still decrypts both dialects; keys
stored in plaintext before migration 0033 are sealed by `dustwatch migrate` and
at `serve` start; another master key opens nothing."""
import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone

import dialects
import dwtest as t
import fixtures

BJ = timezone(timedelta(hours=8))


def admin(db, *args):
    r = subprocess.run([t.BIN, "admin", *args], env=db.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)


def pre_0033_city():
    """A database migrated to just before 0033 whose credentials hold plaintext
    keys (as every database did), then migrated fully."""
    db = t.Database(migrate=False)
    old = tempfile.mkdtemp(prefix="dw-mig-")
    src = os.path.join(t.SRC, "migrations")
    for f in os.listdir(src):
        if f.endswith(".sql") and f < "0033":
            shutil.copy(os.path.join(src, f), old)
    r = db.migrate("--dir", old)
    shutil.rmtree(old)
    assert r.returncode == 0, r.stderr
    ents = fixtures.make_city(db)
    assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE des_key IS NOT NULL OR sm4_key IS NOT NULL") == "6"
    r = db.migrate()
    assert r.returncode == 0, r.stderr
    return db, ents


def dump_credentials(db):
    r = subprocess.run([t.PGBIN + "/pg_dump", "--data-only", "-t", "ingest_credentials", "-d", db.owner_url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.lower()


def secrets_of(keys):
    """Every form a key can take in a dump: text, hex of its bytes."""
    out = []
    for k in keys:
        out += [k.lower(), k.encode().hex()] if len(k) == 8 else [k.lower()]
    return out


def send_hebei(srv, ent, des, value, ts):
    bj = ts.astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
    inner = {"qybm": ent["code"], "data": {"rts": [{"tnm": ent["points"]["hopper_temp"][0], "ts": bj,
                                                    "val": str(value)}]}}
    return srv.ingest("POST", "/rabbitmqfcsb/api/rtsData", dialects.hebei_body(ent["code"], inner, des))


def send_mem(srv, ent, appid, appsecret, key, iv, value, ts):
    inner = {"readings": [{"point": ent["points"]["hopper_temp"][0], "ts": ts.isoformat(), "value": value}]}
    return srv.ingest("POST", "/mem/v1/readings", dialects.mem_body(appid, inner, key, iv), {"appsecret": appsecret})


def values(db, ent):
    return [float(r[0]) for r in db.sql(f"SELECT value FROM readings WHERE point_id = "
                                         f"{ent['points']['hopper_temp'][1]} ORDER BY collected_at")]


def test_dump_holds_no_gateway_key_and_ingest_decrypts():
    db, ents = pre_0033_city()
    srv = None
    try:
        a, b = (ents[k] for k in sorted(ents)[:2])
        # migrate sealed the old plaintext rows
        assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE des_key IS NOT NULL OR "
                         "sm4_key IS NOT NULL OR sm4_iv IS NOT NULL") == "0"
        assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE kind <> 'api_key' AND "
                         "sealed_keys IS NOT NULL") == "6"
        # new keys, issued by the admin CLI (b's Hebei key is replaced)
        old = db.scalar(f"SELECT id FROM ingest_credentials WHERE enterprise_id = {b['id']} AND kind = 'hebei_des'")
        admin(db, "revoke-credential", "--id", old)
        des_b = admin(db, "create-credential", "--enterprise", b["code"], "--kind", "hebei_des")["des_key"]
        mem_b = admin(db, "create-credential", "--enterprise", b["code"], "--kind", "mem_sm4", "--appid", "gw-b-9")
        dump = dump_credentials(db)
        assert a["appid"].lower() in dump and "gw-b-9" in dump, "the dump holds the rows"
        keys = [e["des_key"] for e in ents.values()] + [e["sm4_key"] for e in ents.values()] + \
               [e["sm4_iv"] for e in ents.values()] + [des_b, mem_b["sm4_key"], mem_b["sm4_iv"]]
        for s in secrets_of(keys):
            assert s not in dump, "gateway key in plaintext in pg_dump"
        # and the listener still decrypts every one of them
        srv = t.Server(db, roles="ingest")
        ts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
        st, _, r = send_hebei(srv, a, a["des_key"], 41.5, ts)
        assert st == 200 and r["code"] == 200, (st, r)
        st, _, r = send_mem(srv, a, a["appid"], a["appsecret"], a["sm4_key"], a["sm4_iv"], 42.5,
                            ts + timedelta(seconds=1))
        assert st == 200, (st, r)
        st, _, r = send_hebei(srv, b, des_b, 43.5, ts)
        assert st == 200 and r["code"] == 200, (st, r)
        st, _, r = send_mem(srv, b, "gw-b-9", mem_b["appsecret"], mem_b["sm4_key"], mem_b["sm4_iv"], 44.5,
                            ts + timedelta(seconds=1))
        assert st == 200, (st, r)
        st, _, r = send_hebei(srv, b, b["des_key"], 45.5, ts + timedelta(seconds=2))  # revoked
        assert r["code"] != 200, r
        assert values(db, a) == [41.5, 42.5] and values(db, b) == [43.5, 44.5], (values(db, a), values(db, b))
    finally:
        if srv:
            assert srv.stop() == 0, srv.logtext()
        db.drop()


def test_serve_seals_at_start_and_another_master_key_opens_nothing():
    db = t.Database()
    srv = None
    try:
        ents = fixtures.make_city(db)  # plaintext keys inserted after migrate
        a = ents[sorted(ents)[0]]
        assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE des_key IS NOT NULL") == "3"
        srv = t.Server(db, roles="ingest")
        assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE des_key IS NOT NULL OR "
                         "sm4_key IS NOT NULL") == "0"
        ts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
        st, _, r = send_hebei(srv, a, a["des_key"], 40.5, ts)
        assert st == 200 and r["code"] == 200, (st, r)
        assert srv.stop() == 0
        other = tempfile.NamedTemporaryFile("w", delete=False, suffix=".key")
        other.write("5a" * 32 + "\n")
        other.close()
        srv = t.Server(db, roles="ingest", master_key_file=other.name)
        st, _, r = send_hebei(srv, a, a["des_key"], 41.5, ts + timedelta(seconds=1))
        assert r["code"] != 200, r
        st, _, r = send_mem(srv, a, a["appid"], a["appsecret"], a["sm4_key"], a["sm4_iv"], 42.5,
                            ts + timedelta(seconds=2))
        assert st != 200, (st, r)
        assert "stored gateway key does not open" in srv.logtext()
        assert values(db, a) == [40.5]
        os.unlink(other.name)
        # no master key at all: serve refuses to start
        assert srv.stop() == 0
        r = subprocess.run([t.BIN, "serve", "--roles", "ingest"], env=db.env(DUSTWATCH_MASTER_KEY_FILE=""),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "master_key_file" in r.stderr, r.stderr
        srv = None
    finally:
        if srv:
            srv.stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_dump_holds_no_gateway_key_and_ingest_decrypts,
           test_serve_seals_at_start_and_another_master_key_opens_nothing])
