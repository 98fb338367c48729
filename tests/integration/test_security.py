"""Account and session security (issue 12): a forced password change cannot be
skipped by keeping the password, earlier and published demo passwords are
refused, and cookie-authenticated writes must come from the dashboard's own
origin (CSRF), while bearer tokens and API keys are unaffected."""
import os
import subprocess

import dwtest as t
import fixtures

PW = "Hopper-Spark-7319#"
P2 = "Silo-Filter-4826%"
P3 = "Bag-House-5937&"


def admin(db, *args, password=None):
    extra = ["--password-stdin"] if password else []
    r = subprocess.run([t.BIN, "admin", *args, *extra], input=(password or "") + "\n",
                       env=db.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Env:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        out = admin(self.db, "create-account", "--username", "forced.user", "--role", "district_staff",
                    "--region", "310113")
        self.generated = [l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("password: ")][0]
        for user in ("reuse.user", "demo.user", "csrf.user", "bearer.user"):
            admin(self.db, "create-account", "--username", user, "--role", "district_staff",
                  "--region", "310113", password=PW)
        self.srv = t.Server(self.db)

    def login(self, user, pw=PW):
        st, hdr, body = self.srv.api("POST", "/api/v1/auth/login", {"username": user, "password": pw})
        assert st == 200, (user, st, body)
        cookie = hdr["set-cookie"].split(";", 1)[0]
        assert cookie.startswith("dw_session="), cookie
        return body["token"], cookie

    def bearer(self, token, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer " + token}
        h.update(headers or {})
        return self.srv.api(method, path, body, h)

    def with_cookie(self, cookie, method, path, body=None, headers=None):
        h = {"Cookie": cookie}
        h.update(headers or {})
        return self.srv.api(method, path, body, h)

    def own_origin(self):
        return f"http://127.0.0.1:{self.srv.api_port}"

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


E = None


def change(token, cur, new):
    return E.bearer(token, "POST", "/api/v1/auth/password", {"current_password": cur, "new_password": new})


def test_forced_change_cannot_keep_the_admin_set_password():
    token, _ = E.login("forced.user", E.generated)
    assert E.bearer(token, "GET", "/api/v1/auth/me")[2]["must_change_password"] is True
    st, _, b = change(token, E.generated, E.generated)
    assert st == 422 and b["code"] == "password_reused", (st, b)
    assert b["hint"] and b["detail"], b
    # still forced: only the way out answers
    assert E.bearer(token, "GET", "/api/v1/auth/me")[2].get("must_change_password") is True
    assert E.bearer(token, "GET", "/api/v1/enterprises")[0] == 403
    assert E.db.scalar("SELECT must_change_password FROM accounts WHERE username = 'forced.user'") == "t"
    # a genuinely new password is accepted and lifts the restriction
    st, _, b = change(token, E.generated, P2)
    assert st == 200 and b == {"changed": True}, (st, b)
    assert E.bearer(token, "GET", "/api/v1/enterprises")[0] == 200
    assert E.db.scalar("SELECT must_change_password FROM accounts WHERE username = 'forced.user'") == "f"
    # the admin-set password is now history, kept only as argon2id hashes
    hashes = E.db.sql("SELECT h.password_hash FROM password_history h JOIN accounts a ON a.id = h.account_id "
                      "WHERE a.username = 'forced.user'")
    assert len(hashes) == 1 and hashes[0][0].startswith("$argon2id$"), hashes
    st, _, b = change(token, P2, E.generated)
    assert st == 422 and b["code"] == "password_reused", (st, b)


def test_previous_passwords_are_refused():
    token, _ = E.login("reuse.user")
    assert change(token, PW, P2)[0] == 200
    st, _, b = change(token, P2, PW)
    assert st == 422 and b["code"] == "password_reused", (st, b)
    assert change(token, P2, P3)[0] == 200
    # two changes back is still within the history
    st, _, b = change(token, P3, PW)
    assert st == 422 and b["code"] == "password_reused", (st, b)
    st, _, b = change(token, P3, P2)
    assert st == 422 and b["code"] == "password_reused", (st, b)
    # the refused attempts changed nothing: P3 is still the password
    E.login("reuse.user", P3)
    st, _, b = E.srv.api("POST", "/api/v1/auth/login", {"username": "reuse.user", "password": PW})
    assert st == 401, (st, b)


def test_published_demo_password_is_refused():
    token, _ = E.login("demo.user")
    # every password demo-seed.sh gives its accounts (and deploy/README.md publishes)
    with open(os.path.join(t.SRC, "deploy", "demo-seed.sh")) as f:
        seed = f.read().split("<<ACCOUNTS\n", 1)[1].split("\nACCOUNTS\n", 1)[0]
    demos = [line.split()[-1] for line in seed.splitlines() if line.strip()]
    assert len(demos) == 7 and "Huangpu#River2026" in demos, demos
    with open(os.path.join(t.SRC, "deploy", "README.md")) as f:
        readme = f.read()
    assert all(f"`{d}`" in readme for d in demos), demos
    for demo in demos + ["huangpu#river2026"]:
        st, _, b = change(token, PW, demo)
        assert st == 422 and b["code"] == "password_policy" and "demo" in b["detail"], (st, b)
    E.login("demo.user", PW)


def test_admin_reset_keeps_the_replaced_password_in_the_history():
    admin(E.db, "reset-password", "--username", "demo.user", password=P3)
    rows = E.db.sql("SELECT count(*) FROM password_history h JOIN accounts a ON a.id = h.account_id "
                    "WHERE a.username = 'demo.user'")
    assert rows == [["1"]], rows
    token, _ = E.login("demo.user", P3)
    st, _, b = change(token, P3, PW)
    assert st == 422 and b["code"] == "password_reused", (st, b)
    assert change(token, P3, P2)[0] == 200


def test_cookie_write_with_foreign_origin_is_refused():
    token, cookie = E.login("csrf.user")
    evil = "http://evil.example"
    # body-less POST: logout must not happen
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/logout", headers={"Origin": evil})
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    assert b["hint"] and b["detail"], b
    assert E.with_cookie(cookie, "GET", "/api/v1/auth/me")[0] == 200
    # a password change from a foreign page: nothing changes
    body = {"current_password": PW, "new_password": P2}
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body, {"Origin": evil})
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    # same host, other port is another origin too
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body,
                             {"Origin": "http://127.0.0.1:1"})
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body, {"Origin": "null"})
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    # no Origin: Sec-Fetch-Site decides; neither header: refused
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body, {"Sec-Fetch-Site": "cross-site"})
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body, {"Sec-Fetch-Site": "same-site"})
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body)
    assert st == 403 and b["code"] == "csrf_refused", (st, b)
    E.login("csrf.user", PW)
    assert E.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'csrf_refused' "
                       "AND username = 'csrf.user'") == "7"
    # reads with the cookie are not affected by Origin
    assert E.with_cookie(cookie, "GET", "/api/v1/auth/me", headers={"Origin": evil})[0] == 200


def test_cookie_write_from_own_origin_works():
    _, cookie = E.login("csrf.user")
    body = {"current_password": PW, "new_password": P2}
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body, {"Origin": E.own_origin()})
    assert st == 200, (st, b)
    body = {"current_password": P2, "new_password": P3}
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/password", body, {"Sec-Fetch-Site": "same-origin"})
    assert st == 200, (st, b)
    st, _, b = E.with_cookie(cookie, "POST", "/api/v1/auth/logout", headers={"Origin": E.own_origin()})
    assert st in (200, 204), (st, b)
    assert E.with_cookie(cookie, "GET", "/api/v1/auth/me")[0] == 401


def test_bearer_with_foreign_origin_is_unaffected():
    token, _ = E.login("bearer.user")
    st, _, b = E.bearer(token, "POST", "/api/v1/auth/password", {"current_password": PW, "new_password": P2},
                        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert st == 200, (st, b)
    st, _, b = E.bearer(token, "POST", "/api/v1/auth/logout", headers={"Origin": "http://evil.example"})
    assert st in (200, 204), (st, b)


if __name__ == "__main__":
    E = Env()
    t.run([
        test_forced_change_cannot_keep_the_admin_set_password,
        test_previous_passwords_are_refused,
        test_published_demo_password_is_refused,
        test_admin_reset_keeps_the_replaced_password_in_the_history,
        test_cookie_write_with_foreign_origin_is_refused,
        test_cookie_write_from_own_origin_works,
        test_bearer_with_foreign_origin_is_unaffected,
    ], cleanup=E.close)
