"""`dustwatch admin`: accounts for every role, role/scope refusals, the
password policy, ingest credentials that work against the real ingest
listener (and stop working when revoked), no plaintext secret in a pg_dump,
and the audit trail.

Every test uses its own database, so the file runs in parallel with others.
"""
import re
import subprocess
from datetime import datetime, timedelta, timezone

import dialects
import dwtest as t
import fixtures

BJ = timezone(timedelta(hours=8))
GOOD_PW = "Tq8#vLm2pXz"


def admin(db, *args, stdin=None, **env):
    return subprocess.run([t.BIN, "admin", *args], env=db.env(**env), input=stdin,
                          capture_output=True, text=True, timeout=60)


def fields(out):
    """The `key: value` lines a command prints."""
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return fields(r.stdout)


def refused(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


class City:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        codes = sorted(self.ents)
        self.a, self.b, self.c = (self.ents[k] for k in codes)

    def close(self):
        self.db.drop()


def test_help_and_usage_errors():
    db = t.Database(migrate=False)
    try:
        r = admin(db, "--help")
        assert r.returncode == 0
        for c in ["create-account", "reset-password", "create-credential", "list-credentials",
                  "revoke-credential", "list-accounts"]:
            assert c in r.stdout, c
            h = admin(db, c, "--help")
            assert h.returncode == 0 and h.stdout.startswith("usage: dustwatch admin " + c), h.stdout
        top = subprocess.run([t.BIN, "--help"], capture_output=True, text=True)
        assert re.search(r"^\s+admin\s", top.stdout, re.M), top.stdout
        refused(admin(db), 2, "usage")
        refused(admin(db, "frobnicate"), 2, 'unknown command "frobnicate"')
        refused(admin(db, "create-account", "--role", "city_admin"), 2, "--username")
        refused(admin(db, "create-account", "--username", "abc", "--role", "city_admin", "--id", "3"), 2,
                "unknown option")
        refused(admin(db, "create-account", "--username"), 2, "needs a value")
        refused(admin(db, "revoke-credential", "--id", "12x"), 2, "bad --id")
        refused(admin(db, "revoke-credential", "--id", "5", "extra"), 2, "unexpected argument")
        refused(admin(db, "create-credential", "--enterprise", "X", "--kind", "ssh"), 2, "unknown credential kind")
        refused(admin(db, "create-credential", "--enterprise", "X", "--kind", "api_key", "--appid", "a"), 2,
                "--appid only")
        # usage errors are found before connecting: no database needed for them,
        # and a missing schema is reported as such
        r = admin(db, "list-accounts")
        refused(r, 1, "migrate")
    finally:
        db.drop()


def test_create_every_role():
    city = City()
    db = city.db
    try:
        accounts = [("city.admin", "city_admin", "--region", "310000"),
                    ("city.staff", "city_staff", "--region", "310000"),
                    ("bs.admin", "district_admin", "--region", "310113"),
                    ("bs.staff", "district_staff", "--region", "310113"),
                    ("yx.staff", "street_staff", "--region", "310113103"),
                    ("ent.manager", "enterprise_manager", "--enterprise", city.a["code"]),
                    ("ent.staff", "enterprise_staff", "--enterprise", city.a["code"])]
        for user, role, opt, code in accounts:
            # the suite hashes at the lowest memory allowed (meson.build); city.admin at the default
            memory = {} if user != "city.admin" else {"DUSTWATCH_PASSWORD_HASH_MEMORY_KIB": "65536"}
            f = ok(admin(db, "create-account", "--username", user, "--role", role, opt, code,
                         "--display-name", "测试 " + role, "--password-stdin", stdin=GOOD_PW + "\n",
                         **memory))
            assert f["username"] == user and f["role"] == role and code in f["scope"], f
            assert "password" not in f, "a password given on stdin is never echoed"
        rows = db.sql("SELECT a.username, a.role, coalesce(r.code, e.code), a.display_name, "
                      "a.password_hash LIKE '$argon2id$%', a.must_change_password, a.disabled "
                      "FROM accounts a LEFT JOIN regions r ON r.id = a.region_id "
                      "LEFT JOIN enterprises e ON e.id = a.enterprise_id ORDER BY a.id")
        assert rows == [[u, r, c, "测试 " + r, "t", "f", "f"] for u, r, _, c in accounts], rows

        # the stored hash verifies the password (checked with PostgreSQL's view
        # of the string: argon2id parameters of libsodium's interactive limits)
        h = db.scalar("SELECT password_hash FROM accounts WHERE username = 'city.admin'")
        assert re.fullmatch(r"\$argon2id\$v=19\$m=65536,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", h), h

        # generated password: printed once, meets the policy, must be changed
        r = admin(db, "create-account", "--username", "gen.user", "--role", "district_staff",
                  "--region", "310114")
        f = ok(r)
        pw = f["password"]
        assert len(pw) == 20 and re.search("[a-z]", pw) and re.search("[A-Z]", pw) and re.search("[0-9]", pw), pw
        assert "only this once" in r.stderr
        assert db.scalar("SELECT must_change_password FROM accounts WHERE username = 'gen.user'") == "t"
        assert db.scalar(f"SELECT count(*) FROM accounts WHERE strpos(password_hash, '{pw}') > 0") == "0"

        # list-accounts: all, and a district with its street's and enterprises' accounts
        r = admin(db, "list-accounts")
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert "# 8 account(s)" in out and "argon2" not in out, out
        out = admin(db, "list-accounts", "--region", "310113").stdout
        names = sorted(line.split()[0] for line in out.splitlines()[1:-1])
        assert names == ["bs.admin", "bs.staff", "ent.manager", "ent.staff", "yx.staff"], out
        refused(admin(db, "list-accounts", "--region", "999999"), 1, 'no region with code "999999"')

        # duplicate user name
        refused(admin(db, "create-account", "--username", "bs.admin", "--role", "district_admin",
                      "--region", "310113", "--password-stdin", stdin=GOOD_PW + "\n"),
                1, 'an account named "bs.admin" already exists')
    finally:
        city.close()


def test_password_memory_is_configured_and_rehashed_at_login():
    """password_hash_memory_kib: below OWASP's floor is refused at start; a hash made with
    another memory still lets its owner in, and that login stores it with the configured one."""
    city = City()
    db = city.db
    srv = None
    try:
        r = admin(db, "list-accounts", DUSTWATCH_PASSWORD_HASH_MEMORY_KIB="8192")
        refused(r, 2, "password_hash_memory_kib must be 19456..4194304")
        ok(admin(db, "create-account", "--username", "old.hash", "--role", "city_staff", "--region",
                 "310000", "--password-stdin", stdin=GOOD_PW + "\n",
                 DUSTWATCH_PASSWORD_HASH_MEMORY_KIB="65536"))
        stored = "SELECT password_hash FROM accounts WHERE username = 'old.hash'"
        assert "$m=65536,t=2,p=1$" in db.scalar(stored)
        srv = t.Server(db, password_hash_memory_kib=19456)
        login = {"username": "old.hash", "password": GOOD_PW}
        st, _, body = srv.api("POST", "/api/v1/auth/login", login)
        assert st == 200, (st, body)
        rehashed = db.scalar(stored)
        assert "$m=19456,t=2,p=1$" in rehashed, rehashed
        st, _, body = srv.api("POST", "/api/v1/auth/login", login)
        assert st == 200, (st, body)
        assert db.scalar(stored) == rehashed, "a current hash is not written again"
        st, _, _ = srv.api("POST", "/api/v1/auth/login", dict(login, password=GOOD_PW + "x"))
        assert st == 401
    finally:
        if srv:
            srv.stop()
        city.close()


def test_bad_role_scope_refused():
    city = City()
    db = city.db
    try:
        def create(role, *scope):
            return admin(db, "create-account", "--username", "someone", "--role", role, *scope,
                         "--password-stdin", stdin=GOOD_PW + "\n")
        # the database's role/level rule, reported in its words
        refused(create("district_admin", "--region", "310000"), 1, "account refused",
                "role district_admin needs a district region, not city")
        refused(create("city_admin", "--region", "310113"), 1, "needs a city region, not district")
        refused(create("street_staff", "--region", "310113"), 1, "needs a street region, not district")
        refused(create("district_staff", "--region", "310113103"), 1, "needs a district region, not street")
        # government roles are bound to regions, enterprise roles to enterprises
        refused(create("enterprise_staff", "--region", "310113"), 2, "bound to an enterprise")
        refused(create("city_admin", "--enterprise", city.a["code"]), 2, "bound to a region")
        refused(create("city_admin", "--region", "310000", "--enterprise", city.a["code"]), 2, "not both")
        refused(create("superuser", "--region", "310000"), 2, 'unknown role "superuser"', "city_admin")
        refused(create("enterprise_manager", "--enterprise", "999999999"), 1, 'no enterprise with code "999999999"')
        refused(create("district_admin", "--region", "310199"), 1, 'no region with code "310199"')
        refused(admin(db, "create-account", "--username", "Bad Name", "--role", "city_admin", "--region",
                      "310000"), 2, "bad user name")
        assert db.scalar("SELECT count(*) FROM accounts") == "0"
        # refusals the database made are audited as failed
        n = db.scalar("SELECT count(*) FROM audit_log WHERE username = 'admin-cli' AND action = "
                      "'account.create' AND result = 'failed'")
        assert n == "4", n
    finally:
        city.close()


def test_password_policy_and_reset():
    city = City()
    db = city.db
    try:
        def create(pw, user="zhang.wei"):
            return admin(db, "create-account", "--username", user, "--role", "district_staff",
                         "--region", "310113", "--password-stdin", stdin=pw + "\n")
        refused(create("Ab1#xyz"), 1, "password refused", "at least 10 characters")
        refused(create("abcdefghij12"), 1, "3 of")
        refused(create("Zhang.Wei#2026"), 1, "user name")
        refused(create("P@ssw0rd123"), 1, "commonly used")
        refused(create("Admin@2026!!"), 1, "common word")
        refused(create(""), 1, "empty")
        refused(admin(db, "create-account", "--username", "zhang.wei", "--role", "district_staff",
                      "--region", "310113", "--password-stdin", stdin=""), 1, "no password")
        # the configured minimum
        refused(admin(db, "create-account", "--username", "zhang.wei", "--role", "district_staff",
                      "--region", "310113", "--password-stdin", stdin=GOOD_PW + "\n",
                      DUSTWATCH_PASSWORD_MIN_LENGTH="14"), 1, "at least 14")
        assert db.scalar("SELECT count(*) FROM accounts") == "0"
        ok(create(GOOD_PW + "\r"))  # a CRLF line from a Windows clipboard is fine
        old = db.scalar("SELECT password_hash FROM accounts WHERE username = 'zhang.wei'")

        # locked account with an open session
        aid = db.scalar("SELECT id FROM accounts WHERE username = 'zhang.wei'")
        db.sql(f"UPDATE accounts SET failed_logins = 5, first_failed_at = now(), "
               f"locked_until = now() + interval '1 hour', must_change_password = true WHERE id = {aid}")
        db.sql(f"INSERT INTO sessions (account_id, token_hash, expires_at) "
               f"VALUES ({aid}, sha256('tok'), now() + interval '1 hour')")
        refused(admin(db, "reset-password", "--username", "zhang.wei", "--password-stdin",
                      stdin="weak\n"), 1, "password refused")
        refused(admin(db, "reset-password", "--username", "nobody", "--password-stdin",
                      stdin=GOOD_PW + "\n"), 1, 'no account named "nobody"')
        f = ok(admin(db, "reset-password", "--username", "zhang.wei", "--password-stdin",
                     stdin="Yq7%rTn4kLw\n"))
        assert f["lockout"] == "cleared" and f["sessions ended"] == "1", f
        row = db.sql(f"SELECT failed_logins, first_failed_at IS NULL, locked_until IS NULL, "
                     f"must_change_password, password_hash <> '{old}', password_changed_at > now() - interval '1 minute' "
                     f"FROM accounts WHERE id = {aid}")
        assert row == [["0", "t", "t", "f", "t", "t"]], row
        assert db.scalar(f"SELECT count(*) FROM sessions WHERE account_id = {aid} AND revoked_at IS NULL") == "0"
        # generated on reset: printed once, must be changed
        f = ok(admin(db, "reset-password", "--username", "zhang.wei"))
        assert len(f["password"]) == 20
        assert db.scalar(f"SELECT must_change_password FROM accounts WHERE id = {aid}") == "t"
    finally:
        city.close()


def test_credentials_work_against_ingest():
    city = City()
    db = city.db
    srv = None
    try:
        a = city.a
        ts = now_utc() - timedelta(minutes=2)
        point = a["points"]["hopper_temp"][0]

        # api_key
        f = ok(admin(db, "create-credential", "--enterprise", a["code"], "--kind", "api_key",
                     "--label", "gateway 1"))
        key = f["api_key"]
        assert re.fullmatch(r"dwk_[A-Za-z0-9_-]{43}", key), key
        cid = f["id"]
        row = db.sql(f"SELECT kind, label, key_prefix, key_hash = sha256(convert_to('{key}', 'UTF8')) "
                     f"FROM ingest_credentials WHERE id = {cid}")
        assert row == [["api_key", "gateway 1", key[:12], "t"]], row

        # hebei_des: one active key per enterprise, so the fixture's goes first
        old_des = db.scalar(f"SELECT id FROM ingest_credentials WHERE enterprise_id = {a['id']} AND kind = 'hebei_des'")
        refused(admin(db, "create-credential", "--enterprise", a["code"], "--kind", "hebei_des"), 1,
                "already has an active hebei_des key")
        ok(admin(db, "revoke-credential", "--id", old_des))
        f = ok(admin(db, "create-credential", "--enterprise", a["code"], "--kind", "hebei_des"))
        des = f["des_key"]
        assert re.fullmatch(r"[A-Za-z0-9]{8}", des) and f["des_iv"] == "12345678", f

        # mem_sm4 with a chosen appid, and one generated
        f = ok(admin(db, "create-credential", "--enterprise", a["code"], "--kind", "mem_sm4",
                     "--appid", "gw-a-01"))
        assert f["appid"] == "gw-a-01" and re.fullmatch(r"[0-9a-f]{32}", f["sm4_key"]), f
        assert re.fullmatch(r"[0-9a-f]{32}", f["sm4_iv"]), f
        mem = f
        refused(admin(db, "create-credential", "--enterprise", city.b["code"], "--kind", "mem_sm4",
                      "--appid", "gw-a-01"), 1, 'appid "gw-a-01" is already in use')
        f2 = ok(admin(db, "create-credential", "--enterprise", city.b["code"], "--kind", "mem_sm4"))
        assert re.fullmatch(r"dw[0-9a-f]{16}", f2["appid"]), f2
        refused(admin(db, "create-credential", "--enterprise", "NOSUCH1", "--kind", "api_key"), 1,
                'no enterprise with code "NOSUCH1"')

        # list: prefixes and appids only, revoked ones marked
        out = admin(db, "list-credentials", "--enterprise", a["code"]).stdout
        assert key[:12] + "..." in out and key not in out and des not in out, out
        assert "gw-a-01" in out and mem["appsecret"] not in out and mem["sm4_key"] not in out, out
        line = [ln for ln in out.splitlines() if ln.startswith(old_des + " ")][0]
        assert line.split()[5] != "-", line  # revoked: a timestamp

        srv = t.Server(db)
        body = {"readings": [{"point": point, "ts": ts.isoformat(), "value": 42.5}]}
        st, _, r = srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": key})
        assert st == 200 and r["accepted"] == 1, (st, r)

        bj = (ts + timedelta(seconds=1)).astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
        inner = {"qybm": a["code"], "data": {"rts": [{"tnm": point, "ts": bj, "val": "43.5"}]}}
        st, _, r = srv.ingest("POST", "/rabbitmqfcsb/api/rtsData", dialects.hebei_body(a["code"], inner, des))
        assert st == 200 and r["code"] == 200, (st, r)
        # the revoked fixture key no longer decrypts anything
        st, _, r = srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                              dialects.hebei_body(a["code"], inner, a["des_key"]))
        assert r["code"] != 200, r

        inner = {"readings": [{"point": point, "ts": (ts + timedelta(seconds=2)).isoformat(), "value": 44.5}]}
        st, _, r = srv.ingest("POST", "/mem/v1/readings",
                              dialects.mem_body("gw-a-01", inner, mem["sm4_key"], mem["sm4_iv"]),
                              {"appsecret": mem["appsecret"]})
        assert st == 200, (st, r)
        st, _, r = srv.ingest("POST", "/mem/v1/readings",
                              dialects.mem_body("gw-a-01", inner, mem["sm4_key"], mem["sm4_iv"]),
                              {"appsecret": "wrong"})
        assert st == 401, (st, r)
        vals = db.sql(f"SELECT value FROM readings WHERE point_id = {a['points']['hopper_temp'][1]} ORDER BY value")
        assert vals == [["42.5"], ["43.5"], ["44.5"]], vals

        # revoked API key: refused from the next request on
        f = ok(admin(db, "revoke-credential", "--id", cid))
        body = {"readings": [{"point": point, "ts": (ts + timedelta(seconds=3)).isoformat(), "value": 45.5}]}
        st, _, r = srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": key})
        assert st == 401, (st, r)
        refused(admin(db, "revoke-credential", "--id", cid), 1, "already revoked")
        refused(admin(db, "revoke-credential", "--id", "999999"), 1, "no credential with id 999999")
        # other enterprises' keys are unaffected
        st, _, r = srv.ingest("POST", "/ingest/v1/readings",
                              {"readings": [{"point": city.b["points"]["hopper_temp"][0],
                                             "ts": ts.isoformat(), "value": 1}]},
                              {"X-Api-Key": city.b["api_key"]})
        assert st == 200, (st, r)
    finally:
        if srv:
            assert srv.stop() == 0, srv.logtext()
        city.close()


def test_no_plaintext_secret_in_dump():
    city = City()
    db = city.db
    try:
        pw = "Cellar#Check7Qz"
        ok(admin(db, "create-account", "--username", "dump.user", "--role", "city_admin", "--region",
                 "310000", "--password-stdin", stdin=pw + "\n"))
        gen = ok(admin(db, "create-account", "--username", "dump.gen", "--role", "city_staff", "--region",
                       "310000"))["password"]
        key = ok(admin(db, "create-credential", "--enterprise", city.c["code"], "--kind", "api_key"))["api_key"]
        mem = ok(admin(db, "create-credential", "--enterprise", city.c["code"], "--kind", "mem_sm4"))
        dump = subprocess.run([t.PGBIN + "/pg_dump", "--data-only", "-d", db.owner_url],
                              capture_output=True, text=True, timeout=120)
        assert dump.returncode == 0, dump.stderr
        text = dump.stdout
        assert "dump.user" in text and key[:12] in text, "the dump holds the rows"
        for secret in [pw, gen, key, key[12:], mem["appsecret"]]:
            assert secret not in text, "plaintext secret in pg_dump"
        assert "$argon2id$" in text
    finally:
        city.close()


def test_audit_rows():
    city = City()
    db = city.db
    try:
        ok(admin(db, "create-account", "--username", "audit.me", "--role", "street_staff", "--region",
                 "310113103", "--password-stdin", stdin=GOOD_PW + "\n"))
        admin(db, "create-account", "--username", "audit.me", "--role", "street_staff", "--region",
              "310113103", "--password-stdin", stdin=GOOD_PW + "\n")
        ok(admin(db, "reset-password", "--username", "audit.me"))
        cid = ok(admin(db, "create-credential", "--enterprise", city.a["code"], "--kind", "api_key"))["id"]
        ok(admin(db, "revoke-credential", "--id", cid))
        rows = db.sql("SELECT username, action, object, result, account_id IS NULL, "
                      "octet_length(hash) = 32 FROM audit_log ORDER BY id")
        assert rows == [
            ["admin-cli", "account.create", "account:audit.me", "ok", "t", "t"],
            ["admin-cli", "account.create", "account:audit.me", "failed", "t", "t"],
            ["admin-cli", "account.password_reset", "account:audit.me", "ok", "t", "t"],
            ["admin-cli", "credential.create", "enterprise:" + city.a["code"], "ok", "t", "t"],
            ["admin-cli", "credential.revoke", "credential:" + cid, "ok", "t", "t"],
        ], rows
        details = [r[0] for r in db.sql("SELECT detail FROM audit_log ORDER BY id")]
        assert "role=street_staff region=310113103" in details[0], details
        assert "already exists" in details[1], details
        assert "kind=api_key" in details[3] and "prefix=dwk_" in details[3], details
        # the chain links every row to the one before it
        assert db.scalar("SELECT count(*) FROM audit_log a JOIN audit_log b ON b.id = a.id - 1 "
                         "WHERE a.prev_hash = b.hash") == "4"
        # no secret in the audit trail either
        assert db.scalar("SELECT count(*) FROM audit_log WHERE detail LIKE '%argon2%' OR detail LIKE '%"
                         + GOOD_PW + "%'") == "0"
    finally:
        city.close()


if __name__ == "__main__":
    t.run([
        test_help_and_usage_errors,
        test_create_every_role,
        test_password_memory_is_configured_and_rehashed_at_login,
        test_bad_role_scope_refused,
        test_password_policy_and_reset,
        test_credentials_work_against_ingest,
        test_no_plaintext_secret_in_dump,
        test_audit_rows,
    ])
