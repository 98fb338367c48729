"""TOTP second factor for administrators (issue 12 item 7): enrolment hands
out the secret once (otpauth:// URI) and stores it sealed under totp_key,
which the database never sees; a code confirms it; login then asks for a
code, refuses a wrong or replayed one (counted as a failed login); an
administrator of the account's scope resets a lost one.  Codes are computed
here with the standard library (RFC 6238, HMAC-SHA1)."""
import base64
import hashlib
import hmac
import struct
import subprocess
import threading
import time

import dwtest as t
import fixtures

PW = "Hopper-Spark-7319#"
KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1000000)


class Env:
    def __init__(self):
        self.db = t.Database()
        fixtures.make_city(self.db)
        for user, role, region in [("city.admin", "city_admin", "310000"),
                                   ("baoshan.admin", "district_admin", "310113"),
                                   ("baoshan.staff", "district_staff", "310113"),
                                   ("jiading.admin", "district_admin", "310114")]:
            r = subprocess.run([t.BIN, "admin", "create-account", "--username", user, "--role", role,
                                "--region", region, "--password-stdin"], input=PW + "\n", env=self.db.env(),
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, r.stderr
        self.srv = t.Server(self.db, roles="api", totp_key=KEY)
        self.tokens = {}

    def login(self, user, code=None):
        body = {"username": user, "password": PW}
        if code is not None:
            body["totp_code"] = code
        return self.srv.api("POST", "/api/v1/auth/login", body)

    def token(self, user, code=None):
        st, _, b = self.login(user, code)
        assert st == 200, (user, st, b)
        self.tokens[user] = b["token"]
        return b["token"]

    def call(self, user, method, path, body=None):
        return self.srv.api(method, path, body, {"Authorization": "Bearer " + self.tokens[user]})

    def id(self, user):
        return int(self.db.scalar(f"SELECT id FROM accounts WHERE username = '{user}'"))

    def audit(self, action):
        return self.db.sql(f"SELECT username, result, detail FROM audit_log WHERE action = '{action}' ORDER BY id")

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


E = None
SECRET = None
CONFIRMED_STEP = None


def test_only_administrators_enrol():
    E.token("baoshan.staff")
    st, _, b = E.call("baoshan.staff", "POST", "/api/v1/auth/totp")
    assert st == 403 and b["code"] == "forbidden", (st, b)


def test_enrol_returns_the_secret_once_and_stores_it_sealed():
    global SECRET
    E.token("baoshan.admin")
    st, _, b = E.call("baoshan.admin", "POST", "/api/v1/auth/totp")
    assert st == 200 and b["totp_enabled"] is False, (st, b)
    SECRET = b["secret"]
    assert len(SECRET) == 32 and set(SECRET) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), SECRET
    assert b["otpauth_uri"] == (f"otpauth://totp/dustwatch:baoshan.admin?secret={SECRET}&issuer=dustwatch"
                                f"&algorithm=SHA1&digits=6&period=30"), b
    raw = base64.b32decode(SECRET).hex()
    row = E.db.sql("SELECT encode(totp_secret, 'hex'), totp_enabled FROM accounts WHERE username = 'baoshan.admin'")[0]
    assert len(row[0]) == 120 and raw not in row[0] and SECRET.lower() not in row[0], row
    assert row[1] == "f"
    # neither the secret nor the key is anywhere in the database's text
    dump = E.db.scalar("SELECT string_agg(detail || object, ' ') FROM audit_log")
    assert SECRET not in dump and KEY not in dump
    # not confirmed yet: login does not ask for a code
    assert E.login("baoshan.admin")[0] == 200
    # enrolling again before confirming replaces the pending secret
    st, _, b2 = E.call("baoshan.admin", "POST", "/api/v1/auth/totp")
    assert st == 200 and b2["secret"] != SECRET
    SECRET = b2["secret"]


def test_confirm_with_a_code():
    global CONFIRMED_STEP
    step = int(time.time()) // 30
    st, _, b = E.call("baoshan.admin", "POST", "/api/v1/auth/totp/confirm", {"code": "000000" if totp(SECRET, step) != "000000" else "111111"})
    assert st == 422 and b["code"] == "totp_invalid" and b["hint"], (st, b)
    st, _, b = E.call("baoshan.admin", "POST", "/api/v1/auth/totp/confirm", {"code": 123456})
    assert st == 400, (st, b)
    st, _, b = E.call("baoshan.admin", "POST", "/api/v1/auth/totp/confirm", {"code": totp(SECRET, step)})
    assert st == 200 and b == {"totp_enabled": True}, (st, b)
    CONFIRMED_STEP = step
    assert E.call("baoshan.admin", "GET", "/api/v1/auth/me")[2]["totp_enabled"] is True
    st, _, b = E.call("baoshan.admin", "POST", "/api/v1/auth/totp")
    assert st == 409 and b["code"] == "conflict", (st, b)
    st, _, b = E.call("baoshan.admin", "POST", "/api/v1/auth/totp/confirm", {"code": totp(SECRET, step)})
    assert st == 409, (st, b)
    results = [r[1] for r in E.audit("totp_confirm")]
    assert results.count("failed") >= 2 and "ok" in results, results
    assert [r[1] for r in E.audit("totp_enrol")].count("ok") == 2


def test_reenrolled_while_a_confirmation_waits_is_not_enabled():
    # The confirmation reads the pending secret and checks the code against it, then enabled
    # whatever secret the account held by then: enrolling again from a second tab in between
    # switched on a secret the code was never checked against.  Here the account row is locked
    # by a session while the confirmation's update wants it; the session stores the second
    # tab's secret (what enrolling does) and commits.
    r = subprocess.run([t.BIN, "admin", "create-account", "--username", "jiading.second", "--role",
                        "district_admin", "--region", "310114", "--password-stdin"], input=PW + "\n",
                       env=E.db.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    E.token("jiading.second")
    aid = E.id("jiading.second")
    sealed = "SELECT encode(totp_secret, 'hex') FROM accounts WHERE id = %d" % aid
    st, _, first = E.call("jiading.second", "POST", "/api/v1/auth/totp")
    assert st == 200, (st, first)
    sealed_first = E.db.scalar(sealed)
    st, _, second = E.call("jiading.second", "POST", "/api/v1/auth/totp")
    assert st == 200 and second["secret"] != first["secret"], (st, second)
    sealed_second = E.db.scalar(sealed)
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
               "AND query LIKE '%UPDATE accounts SET totp_enabled = true%'")
    lock = t.psql_session(E.db.name, "secondtab")
    out = {}
    confirm = None
    try:
        # the first tab's secret pending, the row locked
        lock.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                         f"UPDATE accounts SET totp_secret = decode('{sealed_first}', 'hex') WHERE id = {aid};\n"
                         f"BEGIN; SELECT 1 FROM accounts WHERE id = {aid} FOR UPDATE;\n")
        lock.stdin.flush()
        t.wait_for(lambda: E.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND application_name = 'secondtab' AND state = 'idle in transaction'") == "1",
                   what="the account row locked")
        code = totp(first["secret"], int(time.time()) // 30)
        confirm = threading.Thread(target=lambda: out.update(r=E.call("jiading.second", "POST", "/api/v1/auth/totp/confirm",
                                                                      {"code": code})))
        confirm.start()
        t.wait_for(lambda: E.db.scalar(waiting) == "1", timeout=20, what="the confirmation's update waiting")
        # the second tab enrols again: its secret pending
        lock.stdin.write(f"UPDATE accounts SET totp_secret = decode('{sealed_second}', 'hex'), totp_enabled = false, "
                         f"totp_last_step = 0 WHERE id = {aid};\nCOMMIT;\n")
        lock.stdin.close()
        assert lock.wait(10) == 0, lock.stderr.read()
        confirm.join(30)
        assert not confirm.is_alive(), "the confirmation did not answer"
    finally:
        if lock.poll() is None:
            lock.kill()
    st, _, b = out["r"]
    row = E.db.sql(f"SELECT encode(totp_secret, 'hex'), totp_enabled FROM accounts WHERE id = {aid}")[0]
    assert not (row[1] == "t" and row[0] == sealed_second), \
        f"the second tab's secret was enabled by the first tab's code (confirmation answered {st} {b})"
    assert st == 422 and b["code"] == "totp_invalid", (st, b)
    assert row == [sealed_second, "f"], row
    assert ["jiading.second", "failed", "enrolled again while confirming"] in E.audit("totp_confirm")
    # the pending secret is the second tab's: its code confirms it
    st, _, b = E.call("jiading.second", "POST", "/api/v1/auth/totp/confirm",
                      {"code": totp(second["secret"], int(time.time()) // 30)})
    assert st == 200 and b == {"totp_enabled": True}, (st, b)


def test_login_asks_for_the_code():
    st, _, b = E.login("baoshan.admin")
    assert st == 401 and b["code"] == "totp_required" and b["hint"], (st, b)
    # a wrong password still says only login_failed: the factor is not revealed
    st, _, b = E.srv.api("POST", "/api/v1/auth/login", {"username": "baoshan.admin", "password": "wrong"})
    assert st == 401 and b["code"] == "login_failed", (st, b)
    E.db.sql("UPDATE accounts SET failed_logins = 0, first_failed_at = NULL WHERE username = 'baoshan.admin'")
    step = CONFIRMED_STEP + 1  # the step after the one the confirmation used
    wrong = "%06d" % ((int(totp(SECRET, step)) + 1) % 1000000)
    st, _, b = E.login("baoshan.admin", wrong)
    assert st == 401 and b["code"] == "login_failed", (st, b)
    assert E.db.scalar("SELECT failed_logins FROM accounts WHERE username = 'baoshan.admin'") == "1"
    st, _, b = E.login("baoshan.admin", "12345")
    assert st == 401, (st, b)
    st, _, b = E.login("baoshan.admin", totp(SECRET, step))
    assert st == 200 and b["token"], (st, b)
    E.tokens["baoshan.admin"] = b["token"]
    # the same code again, or an older one: refused
    st, _, b = E.login("baoshan.admin", totp(SECRET, step))
    assert st == 401 and b["code"] == "login_failed", (st, b)
    st, _, b = E.login("baoshan.admin", totp(SECRET, CONFIRMED_STEP))
    assert st == 401, (st, b)
    details = [r[2] for r in E.audit("login") if r[0] == "baoshan.admin"]
    assert "second factor required" in details and "wrong second factor" in details, details
    assert "second factor code used already" in details, details


def test_asking_for_the_code_costs_no_login_attempt():
    # the password was right: the client's budget of failed logins is not spent
    srv = t.Server(E.db, roles="api", totp_key=KEY, login_ip_burst=1, login_ip_per_minute=1)
    try:
        for _ in range(3):
            st, _, b = srv.api("POST", "/api/v1/auth/login", {"username": "baoshan.admin", "password": PW})
            assert st == 401 and b["code"] == "totp_required", (st, b)
    finally:
        assert srv.stop() == 0


def test_admin_resets_a_lost_factor_within_scope():
    E.token("jiading.admin")
    st, _, b = E.call("jiading.admin", "POST", f"/api/v1/accounts/{E.id('baoshan.admin')}/reset-totp")
    assert st == 404, (st, b)
    # its own (and its peers') belong to the city
    st, _, b = E.call("baoshan.admin", "POST", f"/api/v1/accounts/{E.id('baoshan.admin')}/reset-totp")
    assert st == 403, (st, b)
    assert E.db.scalar("SELECT totp_enabled FROM accounts WHERE username = 'baoshan.admin'") == "t"
    E.token("city.admin")
    st, _, b = E.call("city.admin", "POST", f"/api/v1/accounts/{E.id('city.admin')}/reset-totp")
    assert st == 422 and "own account" in b["detail"], (st, b)
    st, _, b = E.call("city.admin", "POST", f"/api/v1/accounts/{E.id('baoshan.admin')}/reset-totp")
    assert st == 200 and b["totp_enabled"] is False and b["sessions_ended"] >= 1, (st, b)
    assert E.call("baoshan.admin", "GET", "/api/v1/auth/me")[0] == 401
    assert E.db.scalar("SELECT totp_secret IS NULL AND NOT totp_enabled FROM accounts "
                       "WHERE username = 'baoshan.admin'") == "t"
    assert E.login("baoshan.admin")[0] == 200
    rows = E.audit("account_totp_reset")
    assert ["city.admin", "ok"] in [r[:2] for r in rows] and ["jiading.admin", "denied"] in [r[:2] for r in rows], rows
    listed = {a["username"]: a for a in E.call("city.admin", "GET", "/api/v1/accounts")[2]["items"]}
    assert listed["baoshan.admin"]["totp_enabled"] is False


def test_without_totp_key_the_master_key_seals():
    # no totp_key: the seed is sealed under the master key's TOTP subkey (services.sh gives
    # every test a master key), so a fresh install can enrol without another secret
    srv = t.Server(E.db, roles="api")
    try:
        st, _, b = srv.api("POST", "/api/v1/auth/login", {"username": "jiading.admin", "password": PW})
        tok = b["token"]
        st, _, b = srv.api("POST", "/api/v1/auth/totp", None, {"Authorization": "Bearer " + tok})
        assert st == 200 and b["otpauth_uri"].startswith("otpauth://totp/"), (st, b)
    finally:
        assert srv.stop() == 0
    r = subprocess.run([t.BIN, "serve", "--roles", "api"], env=E.db.env(DUSTWATCH_TOTP_KEY="abcd"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "totp_key" in r.stderr, r.stderr


def main():
    global E
    E = Env()
    t.run([test_only_administrators_enrol,
           test_enrol_returns_the_secret_once_and_stores_it_sealed,
           test_confirm_with_a_code,
           test_reenrolled_while_a_confirmation_waits_is_not_enabled,
           test_login_asks_for_the_code,
           test_asking_for_the_code_costs_no_login_attempt,
           test_admin_resets_a_lost_factor_within_scope,
           test_without_totp_key_the_master_key_seals],
          cleanup=E.close)


if __name__ == "__main__":
    main()
