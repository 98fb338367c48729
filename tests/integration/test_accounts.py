"""Account administration through the API (issue 12 item 7): disable/enable,
unlock, password reset forcing a change, role and scope change, rename.  An
administrator acts only on the accounts of its scope whose role it could
create itself; every attempt is audited; what changes an account's password,
role, scope or standing ends its sessions."""
import subprocess

import dwtest as t
import fixtures

PW = "Hopper-Spark-7319#"
P2 = "Silo-Filter-4826%"
P3 = "Bag-House-5937&"


def admin(db, *args, password=PW):
    r = subprocess.run([t.BIN, "admin", *args, "--password-stdin"], input=password + "\n",
                       env=db.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Env:
    def __init__(self, **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        a1, a2, b1 = list(self.ents)
        accounts = [
            ("city.admin", "city_admin", "--region", "310000"),
            ("city.admin2", "city_admin", "--region", "310000"),
            ("baoshan.admin", "district_admin", "--region", "310113"),
            ("baoshan.admin2", "district_admin", "--region", "310113"),
            ("baoshan.staff", "district_staff", "--region", "310113"),
            ("baoshan.clerk", "district_staff", "--region", "310113"),
            ("baoshan.mover", "district_staff", "--region", "310113"),
            ("baoshan.rename", "district_staff", "--region", "310113"),
            ("jiading.staff", "district_staff", "--region", "310114"),
            ("luodian.staff", "street_staff", "--region", "310113103"),
            ("a1.manager", "enterprise_manager", "--enterprise", a1),
            ("a1.staff", "enterprise_staff", "--enterprise", a1),
            ("a2.staff", "enterprise_staff", "--enterprise", a2),
            ("b1.staff", "enterprise_staff", "--enterprise", b1),
        ]
        for user, role, flag, scope in accounts:
            admin(self.db, "create-account", "--username", user, "--role", role, flag, scope)
        self.srv = t.Server(self.db, **cfg)
        self.tokens = {}

    def id(self, user):
        return int(self.db.scalar(f"SELECT id FROM accounts WHERE username = '{user}'"))

    def login(self, user, pw=PW):
        st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": user, "password": pw})
        assert st == 200, (user, st, body)
        self.tokens[user] = body["token"]
        return body

    def call(self, user, method, path, body=None):
        if user not in self.tokens:
            self.login(user)
        return self.srv.api(method, path, body, {"Authorization": "Bearer " + self.tokens[user]})

    def act(self, caller, target, action, body=None):
        return self.call(caller, "POST", f"/api/v1/accounts/{self.id(target)}/{action}", body)

    def patch(self, caller, target, body):
        return self.call(caller, "PATCH", f"/api/v1/accounts/{self.id(target)}", body)

    def fingerprint(self):
        return self.db.sql("SELECT username, role, region_id, enterprise_id, disabled, locked_until, "
                           "password_hash, must_change_password FROM accounts ORDER BY id")

    def audit(self, action):
        return self.db.sql(f"SELECT username, object, result, detail FROM audit_log WHERE action = '{action}' "
                           f"ORDER BY id")

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


E = None


def test_district_admin_stays_inside_its_scope_and_level():
    before = E.fingerprint()
    # out of scope looks missing: the city's and another district's accounts
    for target in ("city.admin", "jiading.staff", "b1.staff"):
        for action in ("disable", "enable", "unlock", "reset-password"):
            st, _, b = E.act("baoshan.admin", target, action)
            assert st == 404 and b["code"] == "not_found" and b["hint"], (target, action, st, b)
        st, _, b = E.patch("baoshan.admin", target, {"display_name": "x"})
        assert st == 404, (target, st, b)
    # in scope but at its own level: another district admin
    st, _, b = E.act("baoshan.admin", "baoshan.admin2", "disable")
    assert st == 403 and b["code"] == "forbidden" and "district_admin" in b["detail"], (st, b)
    # never raising anyone above what it could create
    for role, region in (("district_admin", "310113"), ("city_staff", "310000"), ("city_admin", None)):
        body = {"role": role}
        if region:
            body["region"] = region
        st, _, b = E.patch("baoshan.admin", "baoshan.staff", body)
        assert st == 403 and b["code"] == "forbidden", (role, st, b)
    # nor moving an account into another district
    st, _, b = E.patch("baoshan.admin", "luodian.staff", {"region": "310114102"})
    assert st == 422 and b["code"] == "unprocessable" and "310114102" in b["detail"], (st, b)
    st, _, b = E.patch("baoshan.admin", "a1.staff", {"enterprise": E.ents["310114000001"]["id"]})
    assert st == 422 and b["code"] == "unprocessable", (st, b)
    # an enterprise manager: its own enterprise's staff only, never itself
    st, _, b = E.act("a1.manager", "a2.staff", "disable")
    assert st == 404, (st, b)
    st, _, b = E.act("a1.manager", "a1.manager", "disable")
    assert st == 403, (st, b)  # enterprise_manager is above what it may create
    st, _, b = E.patch("a1.manager", "a1.staff", {"role": "enterprise_manager"})
    assert st == 403, (st, b)
    # staff are not administrators at all
    st, _, b = E.act("baoshan.staff", "luodian.staff", "disable")
    assert st == 403, (st, b)
    # nothing above changed a single account
    assert E.fingerprint() == before
    # ...and every refusal is in the audit trail, naming who tried
    rows = E.audit("account_disable")
    denied = [r for r in rows if r[2] == "denied"]
    assert any(r[0] == "baoshan.admin" and r[1] == f"account:{E.id('city.admin')}" for r in denied), rows
    assert any(r[0] == "baoshan.admin" and r[1] == f"account:{E.id('baoshan.admin2')}" for r in denied), rows
    assert any(r[0] == "a1.manager" and r[1] == f"account:{E.id('a2.staff')}" for r in denied), rows
    upd = [r for r in E.audit("account_update") if r[2] in ("denied", "failed")]
    assert len(upd) >= 5, upd


def test_admin_cannot_disable_or_rescope_itself():
    st, _, b = E.act("city.admin", "city.admin", "disable")
    assert st == 422 and b["code"] == "unprocessable" and "own account" in b["detail"], (st, b)
    st, _, b = E.patch("city.admin", "city.admin", {"role": "city_staff"})
    assert st == 422, (st, b)
    assert E.db.scalar("SELECT role || disabled::text FROM accounts WHERE username = 'city.admin'") == "city_adminfalse"


def test_disable_ends_sessions_and_enable_restores_login():
    E.login("baoshan.clerk")
    assert E.call("baoshan.clerk", "GET", "/api/v1/overview")[0] == 200
    st, _, b = E.act("baoshan.admin", "baoshan.clerk", "disable")
    assert st == 200 and b["disabled"] is True and b["sessions_ended"] == 1, (st, b)
    assert E.call("baoshan.clerk", "GET", "/api/v1/overview")[0] == 401
    st, _, b = E.srv.api("POST", "/api/v1/auth/login", {"username": "baoshan.clerk", "password": PW})
    assert st == 401 and b["code"] == "login_failed", (st, b)
    listed = {a["username"]: a for a in E.call("baoshan.admin", "GET", "/api/v1/accounts")[2]["items"]}
    assert listed["baoshan.clerk"]["disabled"] is True
    st, _, b = E.act("baoshan.admin", "baoshan.clerk", "enable")
    assert st == 200 and b["disabled"] is False, (st, b)
    E.login("baoshan.clerk")
    assert E.call("baoshan.clerk", "GET", "/api/v1/overview")[0] == 200
    oid = f"account:{E.id('baoshan.clerk')}"
    ok = [(r[1], r[3]) for r in E.audit("account_disable") + E.audit("account_enable") if r[2] == "ok"]
    assert (oid, "username=baoshan.clerk sessions_ended=1") in ok, ok
    assert (oid, "username=baoshan.clerk sessions_ended=0") in ok, ok


def test_unlock_clears_the_lockout():
    for _ in range(5):
        E.srv.api("POST", "/api/v1/auth/login", {"username": "luodian.staff", "password": "wrong"})
    st, _, _ = E.srv.api("POST", "/api/v1/auth/login", {"username": "luodian.staff", "password": PW})
    assert st == 401
    listed = {a["username"]: a for a in E.call("baoshan.admin", "GET", "/api/v1/accounts")[2]["items"]}
    assert listed["luodian.staff"]["locked"] is True
    st, _, b = E.act("baoshan.admin", "luodian.staff", "unlock")
    assert st == 200 and b["locked"] is False, (st, b)
    E.login("luodian.staff")
    assert ["baoshan.admin", f"account:{E.id('luodian.staff')}", "ok",
            "username=luodian.staff sessions_ended=0"] in E.audit("account_unlock")


def test_reset_password_forces_a_change():
    E.login("a1.staff")
    st, _, b = E.act("a1.manager", "a1.staff", "reset-password", {"password": "short"})
    assert st == 422 and b["code"] == "password_policy", (st, b)
    st, _, b = E.act("a1.manager", "a1.staff", "reset-password", {"password": PW, "extra": 1})
    assert st == 400 and b["code"] == "unknown_field", (st, b)
    st, _, b = E.act("a1.manager", "a1.staff", "reset-password")
    assert st == 200 and b["must_change_password"] is True and b["sessions_ended"] == 1, (st, b)
    generated = b["initial_password"]
    assert len(generated) >= 12
    # the old session and the old password are gone
    assert E.call("a1.staff", "GET", "/api/v1/auth/me")[0] == 401
    assert E.srv.api("POST", "/api/v1/auth/login", {"username": "a1.staff", "password": PW})[0] == 401
    body = E.login("a1.staff", generated)
    assert body["must_change_password"] is True, body
    assert E.call("a1.staff", "GET", f"/api/v1/enterprises/{E.ents['310113000001']['id']}")[0] == 403
    st, _, b = E.call("a1.staff", "POST", "/api/v1/auth/password",
                      {"current_password": generated, "new_password": generated})
    assert st == 422 and b["code"] == "password_reused", (st, b)
    st, _, b = E.call("a1.staff", "POST", "/api/v1/auth/password",
                      {"current_password": generated, "new_password": P2})
    assert st == 200, (st, b)
    assert E.call("a1.staff", "GET", f"/api/v1/enterprises/{E.ents['310113000001']['id']}")[0] == 200
    # a chosen password works the same way, and the secret is never audited
    st, _, b = E.act("a1.manager", "a1.staff", "reset-password", {"password": P3})
    assert st == 200 and "initial_password" not in b, (st, b)
    assert E.login("a1.staff", P3)["must_change_password"] is True
    rows = E.audit("account_password_reset")
    assert [r[2] for r in rows if r[0] == "a1.manager"].count("ok") == 2, rows
    assert not any(generated in r[3] or P3 in r[3] for r in rows), rows


def test_role_and_scope_change_end_sessions():
    E.login("baoshan.mover")
    assert E.call("baoshan.mover", "GET", "/api/v1/overview")[0] == 200
    # the district admin moves its staff to a street of its district
    st, _, b = E.patch("baoshan.admin", "baoshan.mover", {"role": "street_staff", "region": "310113103"})
    assert st == 200 and b["role"] == "street_staff" and b["sessions_ended"] == 1, (st, b)
    assert E.call("baoshan.mover", "GET", "/api/v1/overview")[0] == 401
    E.login("baoshan.mover")
    me = E.call("baoshan.mover", "GET", "/api/v1/auth/me")[2]
    assert me["role"] == "street_staff" and me["scope"]["code"] == "310113103", me
    # a role that does not fit the region is refused by the database's rule
    st, _, b = E.patch("baoshan.admin", "baoshan.mover", {"role": "district_staff", "region": "310113103"})
    assert st == 422, (st, b)
    # the city moves it to the other district
    st, _, b = E.patch("city.admin", "baoshan.mover", {"role": "district_staff", "region": "310114"})
    assert st == 200 and b["sessions_ended"] == 1, (st, b)
    E.login("baoshan.mover")
    me = E.call("baoshan.mover", "GET", "/api/v1/auth/me")[2]
    assert me["role"] == "district_staff" and me["scope"]["code"] == "310114", me
    # now outside Baoshan: its former admin no longer sees it
    assert E.patch("baoshan.admin", "baoshan.mover", {"display_name": "x"})[0] == 404
    rows = [r for r in E.audit("account_update") if r[2] == "ok" and r[1] == f"account:{E.id('baoshan.mover')}"]
    assert len(rows) == 2 and "role=district_staff->street_staff" in rows[0][3], rows
    assert "scope=region:" in rows[1][3] and "sessions_ended=1" in rows[1][3], rows


def test_rename_and_display_name():
    E.login("baoshan.rename")
    st, _, b = E.patch("baoshan.admin", "baoshan.rename", {"username": "Bad Name"})
    assert st == 400 and b["code"] == "bad_request", (st, b)
    st, _, b = E.patch("baoshan.admin", "baoshan.rename", {"username": "baoshan.staff"})
    assert st == 409 and b["code"] == "conflict", (st, b)
    aid = E.id("baoshan.rename")
    st, _, b = E.call("baoshan.admin", "PATCH", f"/api/v1/accounts/{aid}",
                      {"username": "baoshan.renamed", "display_name": "王五"})
    assert st == 200 and b["username"] == "baoshan.renamed" and b["sessions_ended"] == 0, (st, b)
    # the session survives a rename; logging in takes the new name
    assert E.call("baoshan.rename", "GET", "/api/v1/auth/me")[2]["username"] == "baoshan.renamed"
    assert E.srv.api("POST", "/api/v1/auth/login", {"username": "baoshan.rename", "password": PW})[0] == 401
    E.login("baoshan.renamed")
    assert E.db.scalar(f"SELECT display_name FROM accounts WHERE id = {aid}") == "王五"
    rows = [r for r in E.audit("account_update") if r[1] == f"account:{aid}" and r[2] == "ok"]
    assert rows and "new_username=baoshan.renamed" in rows[-1][3], rows
    st, _, b = E.call("baoshan.admin", "PATCH", f"/api/v1/accounts/{aid}", {})
    assert st == 400, (st, b)


def main():
    global E
    E = Env()
    t.run([test_district_admin_stays_inside_its_scope_and_level,
           test_admin_cannot_disable_or_rescope_itself,
           test_disable_ends_sessions_and_enable_restores_login,
           test_unlock_clears_the_lockout,
           test_reset_password_forces_a_change,
           test_role_and_scope_change_end_sessions,
           test_rename_and_display_name],
          cleanup=E.close)


if __name__ == "__main__":
    main()
