"""Onboarding (应接尽接): "connected" is derived from data — the overview counts the enterprises
whose mandatory points all sent data within connected_window_h (it counted the typed column, 0
while every enterprise sent data), the worker keeps enterprises.connection_status in step
(suspended stays), GET /onboarding gives each cohort (data: 2023 metal/wood with >= 30 dust
workers, 2024 all metal/wood, 2025 all) its enterprises in scope, connected, online and laggards
per street, and GET /onboarding/conformance lists the dust-removal systems that lack a mandatory
point kind of their type (dry, wet, wet with Al/Mg dust)."""
import time
from datetime import datetime, timezone

import dwtest as t
import fixtures
from test_api import PW, admin


class Env:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.a1, self.a2, self.b1 = (self.ents[c] for c in self.ents)
        for user, role, flag, scope in [("city.admin", "city_admin", "--region", "310000"),
                                        ("baoshan.admin", "district_admin", "--region", "310113")]:
            admin(self.db, "create-account", "--username", user, "--role", role, flag, scope)
        self.system(f"""
          UPDATE enterprises SET dust_kinds = '{{aluminium}}', dust_workers = 40 WHERE id = {self.a1['id']};
          UPDATE enterprises SET dust_kinds = '{{wood}}', dust_workers = 10 WHERE id = {self.a2['id']};
          UPDATE enterprises SET dust_kinds = '{{flour}}', dust_workers = 80 WHERE id = {self.b1['id']};
          UPDATE points SET expected_interval_s = 3600;""")
        # the worker's writes are read back at once: no reused overview or archive (5 s)
        self.srv = t.Server(self.db, worker_interval_ms=200, connected_window_h=2, overview_cache_ms=0,
                            archive_cache_ms=0)
        self.tokens = {}
        for user in ("city.admin", "baoshan.admin"):
            st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": user, "password": PW})
            assert st == 200, body
            self.tokens[user] = body["token"]

    def system(self, sql):
        return self.db.sql("SELECT set_config('dw.scope', 'system', false);\n" + sql)[1:]

    def get(self, path, user="city.admin", status=200):
        st, _, body = self.srv.api("GET", path, headers={"Authorization": "Bearer " + self.tokens[user]})
        assert st == status, (path, st, body)
        return body

    def send(self, ent, kinds):
        now = datetime.now(timezone.utc).isoformat()
        items = [{"point": ent["points"][k][0], "ts": now, "value": 0 if k == "spark_detected" else 50}
                 for k in kinds]
        st, _, r = self.srv.ingest("POST", "/ingest/v1/readings", {"readings": items}, {"X-Api-Key": ent["api_key"]})
        assert st == 200 and r["rejected"] == 0, (st, r)

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def status(e, ent):
    return e.get(f"/api/v1/enterprises/{ent['id']}")["enterprise"]["connection_status"]


def test_connected_is_derived_from_data():
    e = Env()
    try:
        all_kinds = ["hopper_temp", "pressure_diff", "spark_detected"]
        e.send(e.a1, all_kinds)
        e.send(e.b1, all_kinds)
        e.send(e.a2, ["hopper_temp"])  # one mandatory point of three: not connected
        ov = e.get("/api/v1/overview")
        assert ov["enterprises"] == 3 and ov["connected"] == 2, ov
        assert e.get("/api/v1/overview", "baoshan.admin")["connected"] == 1
        # the worker keeps the column in step; a suspension is people's decision and stays
        e.system(f"UPDATE enterprises SET connection_status = 'connected' WHERE id = {e.a2['id']};"
                 f"UPDATE enterprises SET connection_status = 'suspended' WHERE id = {e.b1['id']};")
        t.wait_for(lambda: status(e, e.a1) == "connected" and status(e, e.a2) == "not_connected",
                   what="connection_status derived")
        assert status(e, e.b1) == "suspended"
        assert e.system(f"SELECT connected_at IS NOT NULL FROM enterprises WHERE id = {e.a1['id']}") == [["t"]]
        # readings older than the window do not connect
        e.system("UPDATE point_latest SET collected_at = now() - interval '3 hours'")
        t.wait_for(lambda: status(e, e.a1) == "not_connected", what="a1 no longer connected")
        assert e.get("/api/v1/overview")["connected"] == 0
        e.send(e.a1, all_kinds)
        t.wait_for(lambda: status(e, e.a1) == "connected", what="a1 connected again")
    finally:
        e.close()


def test_people_suspend_but_do_not_type_connected():
    """The API took any of the three values: a district account could type 'connected' for an
    enterprise that sent nothing (the worker undid it at its next tick), or 'not_connected'
    for one that sends.  People suspend an enterprise and end its suspension; the rest is data."""
    e = Env()
    try:
        all_kinds = ["hopper_temp", "pressure_diff", "spark_detected"]
        e.send(e.a1, all_kinds)
        t.wait_for(lambda: status(e, e.a1) == "connected", what="a1 connected")
        h = {"Authorization": "Bearer " + e.tokens["baoshan.admin"]}

        def patch(ent, value):
            return e.srv.api("PATCH", f"/api/v1/enterprises/{ent['id']}", {"connection_status": value}, h)

        st, _, b = patch(e.a2, "connected")
        assert st == 400 and b["code"] == "bad_request" and "derived from data" in b["detail"], (st, b)
        assert status(e, e.a2) == "not_connected"
        # not_connected typed for an enterprise that is not suspended changes nothing
        st, _, b = patch(e.a1, "not_connected")
        assert st == 200, b
        assert status(e, e.a1) == "connected"
        st, _, b = patch(e.a1, "suspended")
        assert st == 200 and status(e, e.a1) == "suspended", b
        time.sleep(1)  # the worker (every 200 ms) leaves it
        assert status(e, e.a1) == "suspended"
        # ending the suspension: derived from data again
        st, _, b = patch(e.a1, "not_connected")
        assert st == 200, b
        t.wait_for(lambda: status(e, e.a1) == "connected", what="a1 derived again after its suspension")
        # a new enterprise starts not connected whatever it was created with, unless suspended
        for n, (value, want) in enumerate((("connected", "not_connected"), ("suspended", "suspended"))):
            body = {"district": "310113", "code": f"31011399990{n}", "uscc": f"91310113MA1G99990{n}",
                    "name": f"上海新建{n}号粉体有限公司", "connection_status": value}
            st, _, b = e.srv.api("POST", "/api/v1/enterprises", body, h)
            if value == "connected":
                assert st == 400 and "derived from data" in b["detail"], (st, b)
                del body["connection_status"]
                st, _, b = e.srv.api("POST", "/api/v1/enterprises", body, h)
            assert st in (200, 201), b
            assert e.get(f"/api/v1/enterprises/{b['id']}")["enterprise"]["connection_status"] == want, b
    finally:
        e.close()


def test_suspension_set_while_the_worker_writes_stays():
    # The worker's refresh picks the enterprises that are not suspended from its snapshot; a
    # suspension committed while its UPDATE waits for the row was overwritten on the recheck
    # (b1 went back to connected).  Here b1 is locked by a session while the worker wants to
    # correct it, suspended in that session, and must stay suspended.
    e = Env()
    lock = None
    try:
        e.send(e.b1, ["hopper_temp", "pressure_diff", "spark_detected"])
        t.wait_for(lambda: status(e, e.b1) == "connected", what="b1 connected")
        b1 = e.b1["id"]
        # (known by its start: pg_stat_activity keeps the first 1,024 bytes of a statement)
        refresh = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND query LIKE 'WITH e0 AS (SELECT e.id FROM enterprises e WHERE e.connection_status <> %'")
        for attempt in range(20):
            lock = t.psql_session(e.db.name, "suspender")
            # wrong on purpose, so the worker's next refresh wants to write b1, then locked
            lock.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                             f"UPDATE enterprises SET connection_status = 'not_connected' WHERE id = {b1};\n"
                             f"BEGIN; SELECT 1 FROM enterprises WHERE id = {b1} FOR UPDATE;\n")
            lock.stdin.flush()
            try:
                t.wait_for(lambda: e.db.scalar(refresh) == "1", timeout=3, what="the refresh waiting for b1")
                break
            except AssertionError:
                # the worker corrected b1 before the lock was taken: try again
                lock.stdin.write("ROLLBACK;\n")
                lock.stdin.close()
                lock.wait(10)
                lock = None
        assert lock, "the worker's refresh never waited for the locked row"
        lock.stdin.write(f"UPDATE enterprises SET connection_status = 'suspended' WHERE id = {b1};\nCOMMIT;\n")
        lock.stdin.close()
        assert lock.wait(10) == 0, lock.stderr.read()
        lock = None
        t.wait_for(lambda: e.db.scalar(refresh) == "0", what="the refresh done")
        time.sleep(1)  # several more refreshes (every 200 ms)
        assert status(e, e.b1) == "suspended"
    finally:
        if lock:
            lock.kill()
        e.close()


def test_cohorts_and_conformance():
    e = Env()
    try:
        all_kinds = ["hopper_temp", "pressure_diff", "spark_detected"]
        e.send(e.a1, all_kinds)
        e.send(e.b1, all_kinds)
        body = e.get("/api/v1/onboarding")
        assert body["connected_window_s"] == 7200
        co = {c["code"]: c for c in body["cohorts"]}
        assert [c["code"] for c in body["cohorts"]] == ["y2023_metal_wood_30", "y2024_metal_wood", "y2025_all"]
        assert co["y2023_metal_wood_30"]["milestone"] == "2023-12-31" and co["y2023_metal_wood_30"]["due"]
        got = {k: (c["in_scope"], c["connected"], c["online"]) for k, c in co.items()}
        assert got == {"y2023_metal_wood_30": (1, 1, 1), "y2024_metal_wood": (2, 1, 1), "y2025_all": (3, 2, 2)}, got
        streets = {s["code"]: s for s in co["y2024_metal_wood"]["streets"]}
        assert list(streets) == ["310113103"]
        assert [x["code"] for x in streets["310113103"]["laggards"]] == [e.a2["code"]]
        assert streets["310113103"]["laggards"][0]["last_data_at"] is None
        s25 = {s["code"]: (s["in_scope"], s["connected"], len(s["laggards"])) for s in co["y2025_all"]["streets"]}
        assert s25 == {"310113103": (2, 1, 1), "310114102": (1, 1, 0)}, s25
        # scope and filters
        mine = e.get("/api/v1/onboarding?cohort=y2025_all", "baoshan.admin")["cohorts"]
        assert [(c["code"], c["in_scope"]) for c in mine] == [("y2025_all", 2)]
        assert e.get("/api/v1/onboarding?street=310114102")["cohorts"][2]["in_scope"] == 1
        assert e.get("/api/v1/onboarding?cohort=nothing_like_it")["cohorts"] == []
        # a milestone added as data shows up
        e.system("INSERT INTO onboarding_cohorts (code, name, milestone, dust_categories) "
                 "VALUES ('y2026_grain', '粮食粉尘', '2026-12-31', '{grain}')")
        assert [(c["code"], c["in_scope"]) for c in e.get("/api/v1/onboarding")["cohorts"]][-1] == ("y2026_grain", 1)

        # conformance: every fixture system is dry with hopper temperature, pressure difference and
        # a spark detector, but no air-lock point
        conf = e.get("/api/v1/onboarding/conformance")
        assert (conf["systems"], conf["conforming"]) == (3, 0), conf
        assert conf["required"]["dry"] == ["airlock_fault", "hopper_temp", "pressure_diff"]
        assert all(n["missing"] == ["airlock_fault"] for n in conf["nonconforming"])
        e.system(f"""
          INSERT INTO points (code, enterprise_id, system_id, kind) VALUES
            ('{e.a1['code']}0103001', {e.a1['id']}, {e.a1['system_id']}, 'airlock_fault');
          WITH s AS (INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type)
                     VALUES ({e.a1['id']}, '02', '湿式', true, 'wet_scrubber') RETURNING id)
          INSERT INTO points (code, enterprise_id, system_id, kind)
            SELECT '{e.a1['code']}02' || k.c, {e.a1['id']}, s.id, k.kind FROM s,
              (VALUES ('06001', 'water_level'), ('07001', 'water_flow')) k(c, kind);
          WITH s AS (INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type)
                     VALUES ({e.b1['id']}, '02', '湿式', true, 'water_curtain') RETURNING id)
          INSERT INTO points (code, enterprise_id, system_id, kind)
            SELECT '{e.b1['code']}0206001', {e.b1['id']}, s.id, 'water_level' FROM s;""")
        conf = e.get("/api/v1/onboarding/conformance")
        assert (conf["systems"], conf["conforming"], conf["enterprises_nonconforming"]) == (5, 1, 3), conf
        assert conf["by_type"] == {"dry": 3, "wet": 1, "wet_al_mg": 1}, conf["by_type"]
        got = [(n["enterprise"]["code"], n["system"]["code"], n["system"]["type"], n["missing"])
               for n in conf["nonconforming"]]
        assert got == [(e.a1["code"], "02", "wet_al_mg", ["hydrogen_lel"]),
                       (e.a2["code"], "01", "dry", ["airlock_fault"]),
                       (e.b1["code"], "01", "dry", ["airlock_fault"]),
                       (e.b1["code"], "02", "wet", ["water_flow"])], got
        assert e.get("/api/v1/onboarding/conformance", "baoshan.admin")["systems"] == 3
        # bad input
        for path in ("/api/v1/onboarding?cohort=Bad!", "/api/v1/onboarding?district=31a",
                     "/api/v1/onboarding/conformance?street=1"):
            err = e.get(path, status=400)
            assert err["code"] == "bad_request" and err["hint"] and err["detail"], err
    finally:
        e.close()


def test_connected_and_online_follow_point_settings():
    """The onboarding view, the overview and the worker's connection_status agree on connected
    and online after point settings change without a reading: a mandatory point added, disabled,
    made optional; an expected interval shortened.  (They count the point settings point_latest
    carries, migration 0151, rather than joining every point to its latest reading.)"""
    e = Env()
    try:
        all_kinds = ["hopper_temp", "pressure_diff", "spark_detected"]
        e.send(e.a1, all_kinds)
        e.send(e.b1, all_kinds)
        e.send(e.a2, ["hopper_temp"])
        a1 = e.a1["id"]

        def views(expect_connected, expect_online):
            """(a1 connected, a2 online) as the onboarding view, the overview and the worker see them"""
            co = {c["code"]: c for c in e.get("/api/v1/onboarding?cohort=y2025_all")["cohorts"]}["y2025_all"]
            lag = {x["code"]: x for s in co["streets"] for x in s["laggards"]}
            assert (e.a1["code"] not in lag) == expect_connected, (co, expect_connected)
            assert co["connected"] == 1 + expect_connected, co
            assert co["online"] == 2 + expect_online, (co, expect_online)
            ov = e.get("/api/v1/overview")
            assert (ov["connected"], ov["online"]) == (1 + expect_connected, 2 + expect_online), ov
            want = "connected" if expect_connected else "not_connected"
            t.wait_for(lambda: status(e, e.a1) == want, what=f"a1 {want}")
            return lag

        lag = views(True, True)
        assert lag[e.a2["code"]]["last_data_at"] is not None
        # a mandatory point without data: not connected; disabled: connected again
        e.system(f"INSERT INTO points (code, enterprise_id, system_id, kind) VALUES "
                 f"('{e.a1['code']}0103001', {a1}, {e.a1['system_id']}, 'airlock_fault')")
        views(False, True)
        e.system(f"UPDATE points SET enabled = false WHERE code = '{e.a1['code']}0103001'")
        views(True, True)
        # a disabled point's latest reading is not counted (counted, 3 recent mandatory points of
        # 2 enabled ones would not be "all of them")
        pid = e.a1["points"]["hopper_temp"][1]
        e.system(f"UPDATE points SET enabled = false WHERE id = {pid}")
        views(True, True)
        e.system(f"UPDATE points SET enabled = true WHERE id = {pid}")
        # hopper temperature silent for 3 hours (the window is 2): not connected
        e.system(f"UPDATE point_latest SET collected_at = now() - interval '3 hours' WHERE point_id = {pid}")
        views(False, True)
        # made optional after its last reading: the other mandatory points decide
        e.system(f"UPDATE points SET param_class = 'optional' WHERE id = {pid}")
        views(True, True)
        e.system(f"UPDATE points SET param_class = 'mandatory' WHERE id = {pid}")
        views(False, True)
        # a2's only reading 2 hours old: online while 3 expected intervals (1 hour) cover it, not
        # after the interval drops to 10 minutes
        p2 = e.a2["points"]["hopper_temp"][1]
        e.system(f"UPDATE point_latest SET collected_at = now() - interval '2 hours' WHERE point_id = {p2}")
        views(False, True)
        e.system(f"UPDATE points SET expected_interval_s = 600 WHERE id = {p2}")
        lag = views(False, False)
        assert lag[e.a2["code"]]["last_data_at"] is not None
    finally:
        e.close()


if __name__ == "__main__":
    t.run([test_connected_is_derived_from_data, test_people_suspend_but_do_not_type_connected,
           test_suspension_set_while_the_worker_writes_stays,
           test_cohorts_and_conformance, test_connected_and_online_follow_point_settings])
