"""Login and client address (issue 12 items 9 and 10): the session cookie is
Secure whenever public_url is https; the client address comes from
X-Forwarded-For / Forwarded only when the TCP peer is a trusted proxy, and
the audit trail, sessions and the per-address login budget use it; a caller
that runs out of login attempts gets 429 with Retry-After before any hashing,
without locking the accounts it tries; an unknown user name costs the same
verification and failed-login transaction as a wrong password."""
import re
import subprocess
import threading

import dwtest as t
import fixtures

PW = "Hopper-Spark-7319#"
USERS = ("guard.one", "guard.two", "guard.three")


def setup_db():
    db = t.Database()
    fixtures.make_city(db)
    for user in USERS:
        r = subprocess.run([t.BIN, "admin", "create-account", "--username", user, "--role", "district_staff",
                            "--region", "310113", "--password-stdin"], input=PW + "\n", env=db.env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return db


DB = None


def login(srv, user, pw=PW, headers=None):
    return srv.api("POST", "/api/v1/auth/login", {"username": user, "password": pw}, headers)


def with_server(fn, **cfg):
    srv = t.Server(DB, roles="api", **cfg)
    try:
        fn(srv)
    finally:
        assert srv.stop() == 0, srv.logtext()


def test_cookie_secure_when_public_url_is_https():
    def check(secure):
        def run(srv):
            st, hdr, body = login(srv, "guard.one")
            assert st == 200, (st, body)
            flags = [f.strip() for f in hdr["set-cookie"].split(";")]
            assert ("Secure" in flags) == secure, hdr["set-cookie"]
            assert "HttpOnly" in flags and "SameSite=Strict" in flags, flags
            st, hdr, _ = srv.api("POST", "/api/v1/auth/logout", None,
                                 {"Authorization": "Bearer " + body["token"]})
            assert st == 200 and ("Secure" in hdr["set-cookie"]) == secure, hdr
        return run
    with_server(check(True), public_url="https://dustwatch.example.gov.cn")
    with_server(check(True), public_url="HTTPS://dustwatch.example.gov.cn/dashboard/")
    with_server(check(False), public_url="http://127.0.0.1:8080")
    with_server(check(False))


def last_login_ip(user):
    return DB.scalar(f"SELECT source_ip FROM audit_log WHERE username = '{user}' AND action = 'login' "
                     f"ORDER BY id DESC LIMIT 1")


def session_ip(token):
    import hashlib
    return DB.scalar(f"SELECT source_ip FROM sessions WHERE token_hash = '\\x{hashlib.sha256(token.encode()).hexdigest()}'")


def test_forwarded_for_only_from_a_trusted_proxy():
    cases = [
        ({"X-Forwarded-For": "203.0.113.7"}, "203.0.113.7"),
        # the client wrote the left part itself; the proxy appended the right one
        ({"X-Forwarded-For": "198.51.100.1, 203.0.113.8"}, "203.0.113.8"),
        # our own proxies in the chain are skipped
        ({"X-Forwarded-For": "203.0.113.9, 127.0.0.1"}, "203.0.113.9"),
        ({"Forwarded": 'for="[2001:db8::5]:4711";proto=https'}, "2001:db8::5"),
        ({"Forwarded": "for=192.0.2.60;proto=https, for=127.0.0.1"}, "192.0.2.60"),
        # not an address: the last proxy that named it is the client
        ({"X-Forwarded-For": "unknown"}, "127.0.0.1"),
        ({}, "127.0.0.1"),
    ]

    def trusted(srv):
        for headers, expect in cases:
            st, _, body = login(srv, "guard.one", headers=headers)
            assert st == 200, (headers, st, body)
            assert last_login_ip("guard.one") == expect, (headers, last_login_ip("guard.one"))
            assert session_ip(body["token"]) == expect, headers
        # failures are audited with the client address too
        st, _, _ = login(srv, "guard.two", "wrong", {"X-Forwarded-For": "203.0.113.77"})
        assert st == 401 and last_login_ip("guard.two") == "203.0.113.77"

    def untrusted(srv):
        for headers, _ in cases:
            st, _, body = login(srv, "guard.one", headers=headers)
            assert st == 200, (headers, st, body)
            assert last_login_ip("guard.one") == "127.0.0.1", (headers, last_login_ip("guard.one"))
            assert session_ip(body["token"]) == "127.0.0.1"
    with_server(trusted, trusted_proxies="10.0.0.0/8, 127.0.0.1")
    with_server(untrusted)  # no proxies: the headers are the client's own words
    with_server(untrusted, trusted_proxies="10.0.0.0/8, ::1")  # the peer is not one of them


def test_bad_proxy_setting_is_refused_at_start():
    for value in ("10.0.0.0/33", "proxy.example", "10.0.0.1/"):
        r = subprocess.run([t.BIN, "serve", "--roles", "api"], env=DB.env(DUSTWATCH_TRUSTED_PROXIES=value),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "trusted_proxies" in r.stderr, (value, r.returncode, r.stderr)


def test_login_budget_per_client_address():
    DB.sql("UPDATE accounts SET failed_logins = 0, first_failed_at = NULL, locked_until = NULL "
           "WHERE username LIKE 'guard.%'")

    def run(srv):
        attacker = {"X-Forwarded-For": "203.0.113.50"}
        for user in USERS:  # three failures: the budget
            st, _, b = login(srv, user, "wrong-password", attacker)
            assert st == 401 and b["code"] == "login_failed", (st, b)
        for user in USERS:
            st, hdr, b = login(srv, user, "wrong-password", attacker)
            assert st == 429 and b["code"] == "too_many_requests" and b["hint"], (st, b)
            assert "retry in" in b["detail"], b
            retry = hdr["retry-after"]
            assert retry.isdigit() and 1 <= int(retry) <= 60, retry  # one token per minute
        # the right password from that address waits too: nothing is hashed
        st, _, b = login(srv, "guard.one", PW, attacker)
        assert st == 429, (st, b)
        # the refused attempts reached no account: one failure each, none locked
        rows = DB.sql("SELECT username, failed_logins, locked_until IS NULL FROM accounts "
                      "WHERE username LIKE 'guard.%' ORDER BY username")
        assert all(r[2] == "t" for r in rows), rows
        assert sorted(r[1] for r in rows) == ["1", "1", "1"], rows
        # other addresses are not affected
        for _ in range(5):
            st, _, b = login(srv, "guard.one", PW, {"X-Forwarded-For": "203.0.113.51"})
            assert st == 200, (st, b)
        # successful logins give their attempt back: a user who types the
        # password right is never limited
        for _ in range(6):
            assert login(srv, "guard.two", PW, {"X-Forwarded-For": "203.0.113.52"})[0] == 200
        # an IPv6 client counts by its /64
        for i in range(3):
            assert login(srv, "guard.three", "wrong-password", {"X-Forwarded-For": f"2001:db8:1:2::{i + 1}"})[0] == 401
        st, _, b = login(srv, "guard.three", "wrong-password", {"X-Forwarded-For": "2001:db8:1:2::99"})
        assert st == 429, (st, b)
        assert login(srv, "guard.three", PW, {"X-Forwarded-For": "2001:db8:1:3::1"})[0] == 200
        assert "login refused" in srv.logtext() and "client=203.0.113.50" in srv.logtext()
    with_server(run, trusted_proxies="127.0.0.1", login_ip_burst=3, login_ip_per_minute=1,
                lockout_threshold=5)


def test_unknown_user_costs_what_a_wrong_password_costs():
    first = "(SELECT min(id) FROM accounts)"
    data = f"SELECT row_to_json(a)::text FROM accounts a ORDER BY id"

    def run(srv):
        before = DB.sql(data)
        xmin = DB.scalar(f"SELECT xmin FROM accounts WHERE id = {first}")
        st, _, _ = login(srv, "nobody.here", "wrong-password")
        assert st == 401
        # the unknown name's stand-in for the failed-login update: a row
        # rewritten (a new row version, as a wrong password's update makes)
        # that changes no value
        assert DB.scalar(f"SELECT xmin FROM accounts WHERE id = {first}") != xmin
        assert DB.sql(data) == before
        st, _, _ = login(srv, "guard.three", "wrong-password")
        assert st == 401
        lines = [l for l in srv.logtext().splitlines() if "login failed" in l and " known=" in l]
        assert len(lines) == 2, lines
        fields = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in lines]
        unknown, known = fields
        assert unknown["known"] == "0" and known["known"] == "1", fields
        # both verified a password (argon2id against a hash of the same
        # parameters) and both ran the failed-login transaction
        assert unknown["failure_recorded"] == known["failure_recorded"] == "1", fields
        assert int(known["verifications"]) == int(unknown["verifications"]) + 1, fields
        assert int(known["failures"]) == int(unknown["failures"]) + 1, fields
    with_server(run, log_level="debug")


def test_password_changed_while_a_login_waits_wins():
    # A login reads the account and verifies the password (outside any transaction: the
    # hashing takes a while), then clears the failure count and makes the session.  A
    # password change committed between the two revoked the account's sessions before this
    # one was made: the old password got a live session after the change.  Here the
    # account row is locked by a session while the login's update wants it; the password
    # is changed and the sessions revoked in that session, which commits.
    DB.sql("UPDATE accounts SET failed_logins = 0, first_failed_at = NULL, locked_until = NULL "
           "WHERE username LIKE 'guard.%'")
    r = subprocess.run([t.BIN, "admin", "create-account", "--username", "guard.spare", "--role",
                        "district_staff", "--region", "310113", "--password-stdin"],
                       input="Another-Secret-4711#\n", env=DB.env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    aid = DB.scalar("SELECT id FROM accounts WHERE username = 'guard.two'")
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
               "AND query LIKE '%UPDATE accounts SET failed_logins = 0%'")

    def run(srv):
        lock = t.psql_session(DB.name, "pwchanger")
        out = {}
        login_thread = None
        try:
            lock.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                             f"BEGIN; SELECT 1 FROM accounts WHERE id = {aid} FOR UPDATE;\n")
            lock.stdin.flush()
            t.wait_for(lambda: DB.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name "
                                         "= 'pwchanger' AND state = 'idle in transaction'") == "1",
                       what="the account row locked")
            login_thread = threading.Thread(target=lambda: out.update(r=login(srv, "guard.two")))
            login_thread.start()
            t.wait_for(lambda: DB.scalar(waiting) == "1", timeout=20, what="the login's update waiting")
            # the change: a new hash (another password's), the account's sessions revoked
            lock.stdin.write("UPDATE accounts SET password_hash = (SELECT password_hash FROM accounts "
                             f"WHERE username = 'guard.spare'), password_changed_at = now() WHERE id = {aid};\n"
                             f"UPDATE sessions SET revoked_at = now() WHERE account_id = {aid} "
                             "AND revoked_at IS NULL;\nCOMMIT;\n")
            lock.stdin.close()
            assert lock.wait(10) == 0, lock.stderr.read()
            login_thread.join(30)
            assert not login_thread.is_alive(), "the login did not answer"
        finally:
            if lock.poll() is None:
                lock.kill()
        st, _, body = out["r"]
        if st == 200:
            me = srv.api("GET", "/api/v1/auth/me", None, {"Authorization": "Bearer " + body["token"]})[0]
            raise AssertionError(f"the old password logged in after the change (GET /auth/me: {me})")
        assert st == 401 and body["code"] == "login_failed", (st, body)
        assert DB.scalar(f"SELECT count(*) FROM sessions WHERE account_id = {aid} AND revoked_at IS NULL") == "0"
        # the new password is the one that works
        st, _, body = login(srv, "guard.two", "Another-Secret-4711#")
        assert st == 200, (st, body)
    with_server(run)


def main():
    global DB
    DB = setup_db()
    t.run([test_cookie_secure_when_public_url_is_https,
           test_forwarded_for_only_from_a_trusted_proxy,
           test_bad_proxy_setting_is_refused_at_start,
           test_login_budget_per_client_address,
           test_unknown_user_costs_what_a_wrong_password_costs,
           test_password_changed_while_a_login_waits_wins],
          cleanup=DB.drop)


if __name__ == "__main__":
    main()
