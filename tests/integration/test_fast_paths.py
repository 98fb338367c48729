"""The API's fast paths keep the rules they short-cut:

* row-level security's "focus enterprise" arm (migration 0013): naming an
  enterprise in dw.enterprise grants nothing the scope does not already cover,
  for reads and writes, and garbage in it is harmless;
* the resolved-caller cache (auth_cache_ms): logout and key revocation in this
  process take effect on the next request, revocations made elsewhere (another
  server process, an operator in psql) within auth_cache_ms;
* the per-scope overview cache (overview_cache_ms): a write through the API
  shows on the next overview, data arriving from gateways within
  overview_cache_ms, and scopes never share an answer."""
import time
from datetime import datetime, timezone

import dwtest as t
from test_api import PW, City


def focus_rows(db, scope, focus, table, enterprise_id):
    """Rows of one enterprise visible to dw_server under scope with dw.enterprise = focus."""
    return db.sql(f"""BEGIN;
        SELECT set_config('dw.scope', '{scope}', true), set_config('dw.enterprise', '{focus}', true);
        SELECT count(*) FROM {table} WHERE enterprise_id = {enterprise_id};
        COMMIT;""", user="dw_server")[-1][0]


def test_focus_enterprise_grants_nothing_foreign():
    c = City()
    try:
        baoshan = c.db.scalar("SELECT id FROM regions WHERE code = '310113'")
        a1, a2, b1 = c.a1["id"], c.a2["id"], c.b1["id"]
        for table in ("points", "point_latest", "dust_systems", "ingest_credentials"):
            # a district naming another district's enterprise, an enterprise naming its neighbour
            assert focus_rows(c.db, f"district:{baoshan}", b1, table, b1) == "0", table
            assert focus_rows(c.db, f"enterprise:{a1}", a2, table, a2) == "0", table
            # no scope at all: nothing, whatever is named
            assert focus_rows(c.db, "", a1, table, a1) == "0", table
        # the arm does what it is for: a district sees its own enterprise's points through it
        assert focus_rows(c.db, f"district:{baoshan}", a1, "points", a1) == "3"
        assert focus_rows(c.db, f"district:{baoshan}", a1, "points", a2) == "3"  # via the scope itself
        for junk in ("", "x", "1;SELECT 1", "-1", "99999999999999999999", str(b1) + " "):
            assert focus_rows(c.db, f"district:{baoshan}", junk.replace("'", "''"), "points", b1) == "0", junk
        # writes: WITH CHECK holds with a foreign enterprise in focus
        pid = c.b1["points"]["hopper_temp"][1]
        r = c.db.sql(f"""BEGIN;
            SELECT set_config('dw.scope', 'district:{baoshan}', true), set_config('dw.enterprise', '{b1}', true);
            INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id)
                VALUES ({pid}, now(), 1, 0, {b1});
            COMMIT;""", user="dw_server", check=False)
        assert r.returncode != 0 and "row-level security" in r.stderr, r.stderr
        assert c.db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "0"
        # and through the API: routes under /enterprises/{id} name the enterprise, still 404 outside
        assert c.call("baoshan.staff", "GET", f"/api/v1/enterprises/{b1}/points")[0] == 404
        st, _, body = c.call("baoshan.staff", "GET", f"/api/v1/enterprises/{a1}/points")
        assert st == 200 and len(body["items"]) == 3, body
        assert c.call("a1.manager", "GET", f"/api/v1/enterprises/{a2}")[0] == 404
    finally:
        c.close()


def test_cached_callers_are_revoked():
    c = City(auth_cache_ms=800)
    try:
        a1 = c.a1["id"]
        # an API key: used twice (the second from the cache), revoked, dead on the next request
        st, _, key = c.call("a1.manager", "POST", f"/api/v1/enterprises/{a1}/api-keys", {"label": "cache"})
        assert st == 201, key
        use = lambda: c.srv.api("GET", f"/api/v1/enterprises/{a1}", headers={"X-Api-Key": key["key"]})[0]
        assert use() == 200 and use() == 200
        assert c.call("a1.manager", "DELETE", f"/api/v1/api-keys/{key['id']}")[0] == 200
        assert use() == 401
        # revoked behind the server's back (another process, psql): refused within auth_cache_ms
        token = c.login("baoshan.staff")
        me = lambda: c.srv.api("GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + token})[0]
        assert me() == 200 and me() == 200
        t0 = time.monotonic()
        c.db.sql("UPDATE sessions SET revoked_at = now() WHERE revoked_at IS NULL AND account_id = "
                 "(SELECT id FROM accounts WHERE username = 'baoshan.staff')")
        t.wait_for(lambda: me() == 401, timeout=3, step=0.02, what="revoked session refused")
        waited = time.monotonic() - t0
        assert waited < 1.0, f"a revoked session was honoured for {waited:.2f} s"
        # a password change drops this process's cache at once (other sessions are revoked by it)
        t1, t2 = c.login("a2.manager"), c.login("a2.manager")
        other = lambda: c.srv.api("GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + t2})[0]
        assert other() == 200
        st, _, b = c.srv.api("POST", "/api/v1/auth/password",
                             {"current_password": PW, "new_password": "Another-Long-Pass-2026#"},
                             {"Authorization": "Bearer " + t1})
        assert st == 200, b
        assert other() == 401
    finally:
        c.close()


def overview(c, user):
    st, _, body = c.call(user, "GET", "/api/v1/overview")
    assert st == 200, body
    return body


def test_overview_answers_follow_writes():
    c = City(overview_cache_ms=1500)
    try:
        # a cold start under concurrent requests: one computation, everyone gets its answer
        import threading
        answers = []
        ths = [threading.Thread(target=lambda: answers.append(overview(c, "baoshan.staff"))) for _ in range(8)]
        [x.start() for x in ths]
        [x.join() for x in ths]
        assert len(answers) == 8 and len({a["generated_at"] for a in answers}) == 1, answers
        first = overview(c, "baoshan.staff")
        assert first["enterprises"] == 2 and overview(c, "baoshan.staff") == first  # reused
        # a write through the API shows on the very next overview
        new = {"code": "310113000077", "uscc": "91310113MA1G000077", "name": "上海缓存测试粉体有限公司",
               "street": "310113103", "dust_kinds": ["wood"]}
        assert c.call("baoshan.admin", "POST", "/api/v1/enterprises", new)[0] == 201
        assert overview(c, "baoshan.staff")["enterprises"] == 3
        # scopes never share an answer
        assert overview(c, "nanxiang.staff")["enterprises"] == 1
        assert overview(c, "luodian.staff")["enterprises"] == 3
        assert overview(c, "city.admin")["enterprises"] == 4
        # data from a gateway: visible within overview_cache_ms (+ one request)
        before = overview(c, "baoshan.staff")["points_online"]
        pcode = c.a1["points"]["hopper_temp"][0]
        ts = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        st, _, b = c.srv.ingest("POST", "/ingest/v1/readings", {"readings": [{"point": pcode, "ts": ts, "value": 30}]},
                                {"X-Api-Key": c.a1["api_key"]})
        assert st == 200 and b["accepted"] == 1, (st, b)
        t0 = time.monotonic()
        t.wait_for(lambda: overview(c, "baoshan.staff")["points_online"] == before + 1, timeout=5, step=0.05,
                   what="the new reading in the overview")
        assert time.monotonic() - t0 < 1.5 + 0.5
    finally:
        c.close()


def test_password_change_required_is_enforced_by_the_server():
    c = City(password_max_age_days=90)
    try:
        st, _, b = c.call("baoshan.admin", "POST", "/api/v1/accounts",
                          {"username": "luodian.fresh", "role": "street_staff", "region": "310113103"})
        assert st == 201, b
        st, _, login = c.srv.api("POST", "/api/v1/auth/login",
                                 {"username": "luodian.fresh", "password": b["initial_password"]})
        assert st == 200 and login["must_change_password"] is True, login
        h = {"Authorization": "Bearer " + login["token"]}
        # a script holding the initial password gets nothing but the way to replace it
        st, _, body = c.srv.api("GET", "/api/v1/overview", headers=h)
        assert st == 403 and "password" in body["detail"], (st, body)
        assert c.srv.api("GET", "/api/v1/enterprises", headers=h)[0] == 403
        st, _, me = c.srv.api("GET", "/api/v1/auth/me", headers=h)
        assert st == 200 and me["must_change_password"] is True, me
        assert c.db.sql("SELECT count(*) FROM audit_log WHERE username = 'luodian.fresh' "
                        "AND action = 'permission_denied'")[0][0] == "2"
        st, _, b2 = c.srv.api("POST", "/api/v1/auth/password",
                              {"current_password": b["initial_password"], "new_password": "Quiet-Willow-Pass-2026#"}, h)
        assert st == 200, b2
        assert c.srv.api("GET", "/api/v1/overview", headers=h)[0] == 200
        assert c.srv.api("GET", "/api/v1/auth/me", headers=h)[2]["must_change_password"] is False
        # a password older than password_max_age_days: the same, within auth_cache_ms
        c.db.sql("UPDATE accounts SET password_changed_at = now() - interval '91 days' "
                 "WHERE username = 'luodian.staff'")
        t.wait_for(lambda: c.call("luodian.staff", "GET", "/api/v1/overview")[0] == 403, timeout=3,
                   what="expired password enforced")
        assert c.call("luodian.staff", "GET", "/api/v1/auth/me")[2]["must_change_password"] is True
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_focus_enterprise_grants_nothing_foreign, test_cached_callers_are_revoked,
           test_overview_answers_follow_writes, test_password_change_required_is_enforced_by_the_server])
