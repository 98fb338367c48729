"""Monthly reports and exports: the worker generates last month's report for the city, every
district and every street; a district sees its own and its streets' reports; the stored workbook
opens in openpyxl with the expected sheets and the same numbers as GET /statistics for that month
and region; a report can be generated again on demand (bad month, foreign region, future month,
enterprise caller refused); the statistics table exports as CSV and XLSX with the active filters."""
import csv
import io
import sys
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import PW, admin

try:
    import openpyxl
except ImportError:  # the test runner's Python may not be Debian's: use python3-openpyxl
    sys.path.append("/usr/lib/python3/dist-packages")
    import openpyxl

CITY = timezone(timedelta(hours=8))
ALL_COHORT = "全部粉尘涉爆企业（应接尽接）"
SHEETS = ["概况", "分组统计", "应接尽接", "落后企业", "风险排名", "数据质量"]


def last_month():
    first = datetime.now(CITY).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).replace(day=1)


def month_end(first):
    """The moment month (its first day, city time) ends: the next one's midnight."""
    return (first + timedelta(days=32)).replace(day=1)


class Env:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        # registered long before the months asked about: onboarding at a past moment counts the
        # enterprises registered by then
        self.db.sql("SELECT set_config('dw.scope', 'system', false) \\g /dev/null\n"
                    "UPDATE enterprises SET created_at = now() - interval '800 days'")
        self.a1, self.a2, self.b1 = (self.ents[c] for c in self.ents)
        for user, role, flag, scope in [("city.admin", "city_admin", "--region", "310000"),
                                        ("baoshan.admin", "district_admin", "--region", "310113"),
                                        ("a1.manager", "enterprise_manager", "--enterprise", self.a1["code"])]:
            admin(self.db, "create-account", "--username", user, "--role", role, flag, scope)
        self.month = last_month()
        sql = ["SELECT set_config('dw.scope', 'system', false);"]
        for n, (ent, kind, level) in enumerate([(self.a1, "high", 1), (self.a1, "high_high", 2),
                                                (self.a2, "high", 1), (self.b1, "high", 0)]):
            at = (self.month + timedelta(days=3 + n, hours=5)).isoformat()
            sql.append(f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, "
                       f"raised_at, cleared_at, ack_deadline, handle_deadline) VALUES ({ent['id']}, "
                       f"{ent['points']['hopper_temp'][1]}, 'rule', 'limit', '{kind}', {level}, {level}, '{at}', "
                       f"'{at}'::timestamptz + interval '1 hour', '{at}', '{at}');")
        # hazards found last month: a major one still open past its deadline, an ordinary one closed
        at = (self.month + timedelta(days=4)).isoformat()
        sql.append(f"INSERT INTO hazards (enterprise_id, kind, major_item, title, found_at, found_how, status, deadline) "
                   f"VALUES ({self.a1['id']}, 'major', 2, '除尘器未泄爆', '{at}', 'inspection', 'reported', '{at}');")
        sql.append(f"INSERT INTO hazards (enterprise_id, kind, title, found_at, found_how, status, deadline, closed_at) "
                   f"VALUES ({self.a2['id']}, 'ordinary', '积尘', '{at}', 'inspection', 'closed', '{at}', '{at}');")
        self.db.sql("\n".join(sql))
        self.srv = t.Server(self.db, worker_interval_ms=200, reports_monthly=1)
        self.tokens = {}
        for user in ("city.admin", "baoshan.admin", "a1.manager"):
            st, _, body = self.srv.api("POST", "/api/v1/auth/login", {"username": user, "password": PW})
            assert st == 200, body
            self.tokens[user] = body["token"]

    def call(self, method, path, body=None, user="city.admin"):
        return self.srv.api(method, path, body, {"Authorization": "Bearer " + self.tokens[user]})

    def get(self, path, user="city.admin", status=200):
        st, _, body = self.call("GET", path, user=user)
        assert st == status, (path, st, body)
        return body

    def raw(self, path, user="city.admin"):
        """GET returning the raw bytes and headers (files)."""
        port = self.srv.api_port
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path, headers={"Authorization": "Bearer " + self.tokens[user]})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        assert resp.status == 200, (path, resp.status, data[:300])
        return data, {k.lower(): v for k, v in resp.getheaders()}

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def summary(ws):
    """The 概况 sheet as {label: value} (after the title and the header rows)."""
    return {row[0]: row[1] for row in ws.iter_rows(min_row=4, values_only=True) if row[0]}


def test_monthly_reports_and_exports():
    e = Env()
    try:
        mon = e.month.strftime("%Y-%m")
        # the schedule: one report per region for last month
        t.wait_for(lambda: e.get("/api/v1/reports")["total"] == 5, timeout=30, what="scheduled reports")
        items = e.get("/api/v1/reports")["items"]
        assert {i["region"]["code"] for i in items} == {"310000", "310113", "310114", "310113103", "310114102"}
        assert all(i["month"] == mon and i["trigger"] == "schedule" for i in items), items
        mine = e.get("/api/v1/reports", "baoshan.admin")["items"]
        assert {i["region"]["code"] for i in mine} == {"310113", "310113103"}
        # the district's workbook: sheets and numbers as the statistics of that month and district
        bs = next(i for i in mine if i["region"]["code"] == "310113")
        data, hdr = e.raw(bs["links"]["xlsx"], "baoshan.admin")
        assert hdr["content-type"].startswith("application/vnd.openxmlformats") and "attachment" in hdr["content-disposition"]
        wb = openpyxl.load_workbook(io.BytesIO(data))
        assert wb.sheetnames == SHEETS, wb.sheetnames
        stats = e.get(f"/api/v1/statistics?period=month&date={mon}-01&district=310113&group=street", "baoshan.admin")
        tot = stats["totals"]
        s = summary(wb["概况"])
        assert s["企业数"] == tot["enterprises"] == 2
        assert s["报警总数"] == tot["alarms"]["total"] == 3
        assert s["较重报警（1级）"] == tot["alarms"]["by_level"]["1"] == 2
        assert s["严重报警（2级）"] == tot["alarms"]["by_level"]["2"] == 1
        assert s["预警总数"] == tot["warnings"]["total"]
        assert s["已接入企业"] == tot["connected"]
        assert s["本月新增隐患"] == tot["hazards"]["found"] == 2 and s["其中重大隐患"] == 1
        assert s["本月新增隐患已整改"] == 1 and s["隐患整改率"] == 0.5
        assert s["未整改隐患（当前）"] == s["整改超期隐患（当前）"] == tot["hazards"]["overdue_major"] == 1
        rows = list(wb["分组统计"].iter_rows(min_row=4, values_only=True))
        assert rows[0][0] == "合计" and rows[0][2] == 2 and rows[0][9] == 3, rows[0]
        assert [(r[1], r[2], r[9]) for r in rows[1:]] == [(x["code"], x["enterprises"], x["alarms"]["total"])
                                                          for x in stats["rows"]]
        assert rows[0][24:29] == (2, 1, 1, 1, 1), rows[0]  # hazards: found, major, rectified, open, overdue
        onb = [r for r in wb["应接尽接"].iter_rows(min_row=4, values_only=True)]
        assert len(onb) == 3 and onb[2][2] == 2, onb  # the 2025 cohort: every enterprise of the district
        # onboarding, laggards and risks are a state, and say of when: the month's end, read back
        # from the hourly rollups, which reach it (a fresh database's start at its migration)
        end = month_end(e.month)
        for name in ("应接尽接", "落后企业", "风险排名"):
            head = wb[name]["A1"].value
            assert f"状态截至 {end:%Y-%m-%d %H:%M}，按小时汇总数据回溯" in head, (name, head)
        assert "状态截至" not in wb["分组统计"]["A1"].value
        # the report's own JSON: what it counted and what it could not yet
        rep = e.get(bs["links"]["self"], "baoshan.admin")
        assert rep["content"]["state_as_of"] == f"{end:%Y-%m-%d %H:%M}" and rep["content"]["state_from_rollups"]
        assert rep["content"]["statistics"]["totals"]["alarms"]["total"] == 3
        assert rep["content"]["not_counted"] == []
        assert rep["content"]["statistics"]["totals"]["hazards"]["open_major"] == 1
        assert rep["content"]["spot_checks"] == {"checks": 0, "findings": 0, "hazards": 0, "closed": 0}

        # on demand: generated again (replacing the stored one), by the caller
        st, _, again = e.call("POST", "/api/v1/reports", {"region": "310113103", "month": mon}, "baoshan.admin")
        assert st == 201 and again["trigger"] == "manual" and again["generated_by"], (st, again)
        assert again["content"]["statistics"]["totals"]["enterprises"] == 2
        assert e.get("/api/v1/reports?region=310113103", "baoshan.admin")["total"] == 1
        st, _, dflt = e.call("POST", "/api/v1/reports", {}, "baoshan.admin")  # own region, last month
        assert st == 201 and dflt["region"]["code"] == "310113" and dflt["month"] == mon, dflt
        future = (datetime.now(CITY) + timedelta(days=40)).strftime("%Y-%m")
        for body, status, code in [({"region": "310114", "month": mon}, 404, "not_found"),
                                   ({"month": "2024-13"}, 400, "bad_request"),
                                   ({"month": future}, 422, "unprocessable"),
                                   ({"month": mon, "colour": "red"}, 400, "unknown_field")]:
            st, _, err = e.call("POST", "/api/v1/reports", body, "baoshan.admin")
            assert st == status and err["code"] == code and err["hint"], (body, st, err)
        st, _, err = e.call("POST", "/api/v1/reports", {}, "a1.manager")
        assert st == 403, err
        assert e.get("/api/v1/reports/999999", "baoshan.admin", status=404)["code"] == "not_found"

        # exports with the active filters
        q = f"period=month&date={mon}-01&group=street&district=310113"
        data, hdr = e.raw("/api/v1/statistics/export?format=xlsx&" + q)
        ws = openpyxl.load_workbook(io.BytesIO(data))["统计"]
        assert "district=310113" in ws["A1"].value
        rows = list(ws.iter_rows(min_row=4, values_only=True))
        assert rows[0][0] == "合计" and rows[0][2] == 2 and rows[0][9] == 3
        data, hdr = e.raw("/api/v1/statistics/export?format=csv&" + q.replace("310113", "310114"))
        assert hdr["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert "district=310114" in lines[0][0] and lines[1][:3] == ["名称", "代码", "企业数"]
        assert lines[2][0] == "合计" and lines[2][2] == "1" and lines[2][9] == "1", lines[2]
        assert len(lines) == 4 and lines[3][1] == "310114102"
        err = e.get("/api/v1/statistics/export?format=pdf", status=400)
        assert err["code"] == "bad_request" and "format" in err["detail"]

        # the page's other tables export with their filters too: onboarding per cohort and street,
        # the interruption records and the online-rate ranking of the data quality
        at = (e.month + timedelta(days=6, hours=2)).isoformat()
        e.db.sql(f"SELECT set_config('dw.scope', 'system', false); INSERT INTO alarms (enterprise_id, point_id, "
                 f"source, channel, kind, level, max_level, raised_at, cleared_at, ack_deadline, handle_deadline) "
                 f"VALUES ({e.b1['id']}, {e.b1['points']['pressure_diff'][1]}, 'rule', 'offline', 'offline', 0, 0, "
                 f"'{at}', '{at}'::timestamptz + interval '5 hours', '{at}', '{at}');")
        sheet = lambda data, name: list(openpyxl.load_workbook(io.BytesIO(data))[name].iter_rows(values_only=True))
        onb = e.get("/api/v1/onboarding?district=310113")
        rows = sheet(e.raw("/api/v1/statistics/export?format=xlsx&table=onboarding&district=310113")[0], "应接尽接")
        assert "district=310113" in rows[0][0], rows[0]
        totals = [(r[0], r[4], r[5], r[6]) for r in rows if r[3] == "合计"]
        assert totals == [(c["name"], c["in_scope"], c["connected"], c["online"]) for c in onb["cohorts"]], totals
        assert {r[2] for r in rows[3:] if r[3] != "合计"} == {"310113103"}
        for district, n in (("310114", 1), ("310113", 0)):
            data, _ = e.raw(f"/api/v1/statistics/export?format=csv&table=interruptions&{q.replace('310113', district)}")
            lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
            assert f"district={district}" in lines[0][0] and lines[1][0] == "企业编码", lines[:2]
            assert len(lines) == 2 + n, lines
        data, _ = e.raw(f"/api/v1/statistics/export?format=csv&table=interruptions&{q.replace('310113', '310114')}")
        rec = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[2]
        assert (rec[0], rec[2], float(rec[7])) == (e.b1["code"], "offline", 5.0), rec
        # every record of the period, past the page's 500 (the export used to stop there)
        e.db.sql(f"SELECT set_config('dw.scope', 'system', false); INSERT INTO alarms (enterprise_id, point_id, "
                 f"source, channel, kind, level, max_level, raised_at, cleared_at, ack_deadline, handle_deadline) "
                 f"SELECT {e.b1['id']}, {e.b1['points']['pressure_diff'][1]}, 'rule', 'offline', 'offline', 0, 0, "
                 f"'{at}'::timestamptz + make_interval(mins => 20 + i), "
                 f"'{at}'::timestamptz + make_interval(mins => 20 + i, secs => 30), "
                 f"'{at}'::timestamptz + make_interval(mins => 50 + i), "
                 f"'{at}'::timestamptz + make_interval(mins => 140 + i) FROM generate_series(1, 600) i;")
        data, _ = e.raw(f"/api/v1/statistics/export?format=csv&table=interruptions&{q.replace('310113', '310114')}")
        assert len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) == 2 + 601
        rows = sheet(e.raw(f"/api/v1/statistics/export?format=xlsx&table=interruptions&"
                           f"{q.replace('310113', '310114')}")[0], "数据中断")
        assert sum(1 for r in rows if r[0] == e.b1["code"]) == 601, rows[:4]
        dq = e.get(f"/api/v1/data-quality?{q}")
        rows = sheet(e.raw(f"/api/v1/statistics/export?format=xlsx&table=online&{q}")[0], "在线率排名")
        assert "district=310113" in rows[0][0] and rows[2][0] == "企业编码", rows[:3]
        assert [r[0] for r in rows[3:]] == [x["code"] for x in dq["online"]["enterprises"]], rows
        err = e.get("/api/v1/statistics/export?table=charts", status=400)
        assert err["code"] == "bad_request" and "table" in err["detail"]
        assert "cohort" in e.get("/api/v1/statistics/export?table=onboarding&cohort=X!", status=400)["detail"]
    finally:
        e.close()


def test_laggard_conformance_and_quality_exports_list_what_the_api_lists():
    """The lists behind the statistics page's other figures export too: each cohort's laggards,
    the dust-removal systems lacking a mandatory point kind (named, not coded) and the data
    quality per enterprise, with their filters; the rows are the API's."""
    e = Env()
    try:
        sheet = lambda data, name: list(openpyxl.load_workbook(io.BytesIO(data))[name].iter_rows(values_only=True))
        # a wet system of a1 with no point at all: it lacks the wet kinds
        e.db.sql(f"SELECT set_config('dw.scope', 'system', false); INSERT INTO dust_systems (enterprise_id, code, "
                 f"name, wet, collector_type) VALUES ({e.a1['id']}, '09', '9号湿式除尘', true, 'wet_scrubber');")
        onb = e.get("/api/v1/onboarding?district=310113")
        rows = sheet(e.raw("/api/v1/statistics/export?format=xlsx&table=laggards&district=310113")[0], "未接入企业")
        assert "district=310113" in rows[0][0] and rows[2][3] == "企业编码", rows[:3]
        want = [(c["name"], x["name"], g["code"], g["name"]) for c in onb["cohorts"] for x in c["streets"]
                for g in x["laggards"]]
        assert want and [r[0:1] + r[2:5] for r in rows[3:]] == want, (rows, want)

        conf = e.get("/api/v1/onboarding/conformance?district=310113")
        wet = [x for x in conf["nonconforming"] if x["system"]["code"] == "09"]
        assert len(wet) == 1 and wet[0]["missing"] == [k["code"] for k in wet[0]["missing_kinds"]], wet
        rows = sheet(e.raw("/api/v1/statistics/export?format=xlsx&table=conformance&district=310113")[0], "必接点位")
        assert "district=310113" in rows[0][0] and rows[2][0] == "企业编码", rows[:3]
        assert [(r[0], r[2], r[5]) for r in rows[3:]] == [
            (x["enterprise"]["code"], x["system"]["code"], "、".join(k["name_zh"] for k in x["missing_kinds"]))
            for x in conf["nonconforming"]], rows
        assert all("_" not in r[5] for r in rows[3:]), rows
        assert {r[4] for r in rows[3:]} == {"干式", "湿式"}, rows
        data, _ = e.raw("/api/v1/statistics/export?format=csv&table=conformance&district=310114")
        assert all(r[0] != e.a1["code"] for r in list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[2:])

        at = (e.month + timedelta(days=6, hours=2)).isoformat()
        e.db.sql(f"SELECT set_config('dw.scope', 'system', false); INSERT INTO alarms (enterprise_id, point_id, "
                 f"source, channel, kind, level, max_level, raised_at, cleared_at, ack_deadline, handle_deadline) "
                 f"VALUES ({e.a2['id']}, {e.a2['points']['pressure_diff'][1]}, 'rule', 'offline', 'offline', 0, 0, "
                 f"'{at}', '{at}'::timestamptz + interval '3 hours', '{at}', '{at}');")
        q = f"period=month&date={e.month.date().isoformat()}"
        dq = e.get(f"/api/v1/data-quality?{q}")
        rows = sheet(e.raw(f"/api/v1/statistics/export?format=xlsx&table=quality&{q}")[0], "数据质量")
        assert rows[2][0] == "企业编码", rows[:3]
        assert [(r[0], r[2], float(r[3])) for r in rows[3:]] == [
            (x["code"], x["interruptions"], float(x["interruption_hours"])) for x in dq["enterprises"]], rows
        assert (e.a2["code"], 1, 3.0) in [(r[0], r[2], float(r[3])) for r in rows[3:]], rows
        data, _ = e.raw(f"/api/v1/statistics/export?format=csv&table=quality&{q}&district=310114")
        assert all(r[0] != e.a2["code"] for r in list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[2:])
        err = e.get("/api/v1/statistics/export?table=conformance&street=12", status=400)
        assert err["code"] == "bad_request" and "street" in err["detail"], err
    finally:
        e.close()


def test_survey_export_honours_filters_and_lists_dust_systems():
    """The survey-table export (附件4) holds exactly what the enterprise page's filters select (it
    exported the whole scope whatever the filters) and the dust-system columns."""
    e = Env()
    try:
        e.db.sql(f"""UPDATE dust_systems SET has_venting = true, has_airlock = true WHERE enterprise_id = {e.b1['id']};
                     INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type, has_airlock)
                       VALUES ({e.b1['id']}, '02', '2号', true, 'wet_scrubber', false);
                     INSERT INTO cleaning_areas (enterprise_id, name, frequency) VALUES ({e.b1['id']}, '车间', 'per_shift');
                     UPDATE enterprises SET industry_code = 'C1310', connection_status = 'suspended'
                       WHERE id = {e.b1['id']};""")

        def export(query=""):
            data, hdr = e.raw("/api/v1/enterprises/export.csv" + query)
            return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        rows = export()
        assert rows[0][-7:] == ["街道代码", "区代码", "除尘方式", "防爆措施", "锁气卸灰", "火花探测", "清灰"], rows[0]
        assert len(rows) == 4
        for query, codes in [("?street=310114102", [e.b1["code"]]), ("?district=310113", [e.a1["code"], e.a2["code"]]),
                             ("?industry=C1310", [e.b1["code"]]), ("?connection_status=suspended", [e.b1["code"]]),
                             ("?q=" + urllib.parse.quote("罗店"), [e.a2["code"]]), ("?dust_kind=wood", [])]:
            got = [r[1] for r in export(query)[1:]]
            assert sorted(got) == sorted(codes), (query, got)
        b1 = export("?street=310114102")[1]
        assert b1[-5:] == ["干式-袋式除尘器|湿式-湿式洗涤器", "泄爆", "部分", "否", "每班"], b1[-5:]
        a1 = export("?district=310113")[1]
        assert a1[-5:] == ["干式-袋式除尘器", "", "否", "否", ""], a1[-5:]
        st, _, err = e.call("GET", "/api/v1/enterprises/export.csv?grade=pink")
        assert st == 400 and err["code"] == "bad_request", err
    finally:
        e.close()


def test_alarm_trend_counts_every_alarm():
    """The overview's 7-day trend counted at most 500 alarms per level (one list page each); the
    server counts them per city day and level."""
    e = Env()
    try:
        today = datetime.now(CITY).replace(hour=0, minute=0, second=0, microsecond=0)
        e.db.sql(f"""
          INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at,
                              cleared_at, ack_deadline, handle_deadline)
          SELECT {e.a1['id']}, {e.a1['points']['hopper_temp'][1]}, 'rule', 'limit', 'high', 1, 1, ts, ts, ts, ts
            FROM (SELECT '{today.isoformat()}'::timestamptz + g * interval '1 second' AS ts
                  FROM generate_series(0, 599) g) x;
          INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at,
                              cleared_at, ack_deadline, handle_deadline)
          SELECT {e.b1['id']}, {e.b1['points']['hopper_temp'][1]}, 'rule', 'limit', 'high', 2, 2, ts, ts, ts, ts
            FROM (SELECT '{(today - timedelta(days=6)).isoformat()}'::timestamptz + g * interval '1 second' AS ts
                  FROM generate_series(0, 2) g) x;""")
        tr = e.get("/api/v1/statistics/alarm-trend?days=7")
        days = tr["days"]
        assert [d["date"] for d in days] == [(today - timedelta(days=6 - i)).strftime("%Y-%m-%d") for i in range(7)]
        assert days[-1]["levels"] == {"0": 0, "1": 600, "2": 0}, days[-1]
        assert days[0]["levels"]["2"] == 3 and sum(d["levels"]["1"] for d in days) == 600, days
        mine = e.get("/api/v1/statistics/alarm-trend", "baoshan.admin")["days"]
        assert mine[-1]["levels"]["1"] == 600 and mine[0]["levels"]["2"] == 0
        assert e.get("/api/v1/statistics/alarm-trend?days=0", status=400)["code"] == "bad_request"
    finally:
        e.close()


def test_report_made_on_demand_while_the_schedule_stores_one_stays():
    # The schedule finds the regions without a report of last month, builds each one and then
    # stored it whatever was there by then: a report generated on demand meanwhile (manual, by
    # whom) was replaced by the scheduled one.  Here a street's report is removed, so the
    # schedule makes it again, and a session stores a manual one (as POST /reports does) and
    # keeps it uncommitted until the schedule's INSERT waits for it; then commits.
    e = Env()
    lock = None
    try:
        t.wait_for(lambda: e.get("/api/v1/reports")["total"] == 5, timeout=30, what="scheduled reports")
        street = e.db.scalar("SELECT id FROM regions WHERE code = '310113103'")
        who = e.db.scalar("SELECT id FROM accounts WHERE username = 'baoshan.admin'")
        mon = e.month.strftime("%Y-%m-01")
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                   "wait_event_type = 'Lock' AND query LIKE '%INSERT INTO reports%'")
        lock = t.psql_session(e.db.name, "ondemand")
        lock.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                         f"DELETE FROM reports WHERE region_id = {street} AND month = '{mon}';\n"
                         "BEGIN;\n"
                         "INSERT INTO reports (region_id, month, trigger, generated_by, content, xlsx) VALUES "
                         f"({street}, '{mon}', 'manual', {who}, '{{\"by\": \"hand\"}}', '\\x01') "
                         "ON CONFLICT (region_id, month) DO UPDATE SET trigger = EXCLUDED.trigger, generated_by = "
                         "EXCLUDED.generated_by, generated_at = now(), content = EXCLUDED.content, xlsx = EXCLUDED.xlsx;\n")
        lock.stdin.flush()
        t.wait_for(lambda: e.db.scalar(waiting) == "1", timeout=30, what="the schedule's store waiting for the manual one")
        lock.stdin.write("COMMIT;\n")
        lock.stdin.close()
        assert lock.wait(10) == 0, lock.stderr.read()
        lock = None
        t.wait_for(lambda: e.db.scalar(waiting) == "0", what="the schedule's store done")
        time.sleep(1)  # several more worker ticks (every 200 ms)
        row = e.db.sql(f"SELECT trigger, generated_by, content->>'by' FROM reports WHERE region_id = {street} "
                       f"AND month = '{mon}'")
        assert row == [["manual", who, "hand"]], row
        assert e.get("/api/v1/reports")["total"] == 5
    finally:
        if lock:
            lock.kill()
        e.close()


def onboarding_at_oracle(db, ents, at, window_h=24, lookback_days=92):
    """Each enterprise's connected / online / last data at moment at (whole hours), from the rows
    the database holds (rollup_hour, point_latest), as the report defines them: a point's last
    data is the hour of its latest reading when that is older than at, else its last hour in
    the rollups before at (within the look-back); connected: every mandatory point since at less
    the window; online: a point in the hour before at."""
    def ts(v):
        return datetime.fromisoformat(v) if v else None
    sysq = "SELECT set_config('dw.scope', 'system', false) \\g /dev/null\n"
    recent = at - timedelta(hours=window_h)
    out = {}
    for ent in ents:
        lasts, mandatory = [], []
        for pid, klass in db.sql(sysq + f"SELECT id, param_class FROM points WHERE enterprise_id = {ent['id']} "
                                 "AND enabled ORDER BY id"):
            latest = ts(db.scalar(sysq + f"SELECT collected_at FROM point_latest WHERE point_id = {pid}"))
            if latest is not None and latest < at:
                last = latest.replace(minute=0, second=0, microsecond=0)
            else:
                last = ts(db.scalar(sysq + f"SELECT max(bucket) FROM rollup_hour WHERE point_id = {pid} AND "
                                    f"bucket < '{at.isoformat()}' AND bucket >= "
                                    f"'{(recent - timedelta(days=lookback_days)).isoformat()}'"))
            lasts.append(last)
            if klass == "mandatory":
                mandatory.append(last)
        out[ent["code"]] = dict(
            connected=bool(mandatory) and all(x is not None and x >= recent for x in mandatory),
            online=any(x is not None and x >= at - timedelta(hours=1) for x in lasts),
            last=max((x for x in lasts if x is not None), default=None))
    return out


def test_onboarding_and_risks_of_an_ended_month_are_those_of_its_end():
    # A report of an ended month gave onboarding, laggards and the riskiest enterprises as they
    # were when it was made: one made again weeks later passed today's state for that month's.
    # Now they are those at the month's end, read back from the hourly rollups and the risk
    # scores; GET /onboarding?at=<day> gives the same for the end of any ended day.  Here the
    # state at the month's end and now differ for every enterprise: a1 connected then, silent
    # now; a2 the reverse; b1 registered only now.
    e = Env()
    try:
        end = month_end(e.month)
        h = lambda n: (end - timedelta(hours=n)).isoformat()
        a1, a2, b1 = e.a1, e.a2, e.b1
        ids = lambda ent: [ent["points"][k][1] for k in ("hopper_temp", "pressure_diff", "spark_detected")]
        sql = ["SELECT set_config('dw.scope', 'system', false);",
               f"SELECT dw_ensure_rollup_partition('hour', '{e.month.date()}');",
               f"SELECT dw_ensure_rollup_partition('hour', '{(e.month - timedelta(days=1)).date()}');"]
        rollup = lambda ent, pid, hours_before: sql.append(
            f"INSERT INTO rollup_hour (point_id, bucket, enterprise_id, n, vmin, vmax, vsum) "
            f"VALUES ({pid}, '{h(hours_before)}', {ent['id']}, 6, 1, 2, 9);")
        latest = lambda ent, pid, at: sql.append(
            f"INSERT INTO point_latest (point_id, enterprise_id, collected_at, value, quality, online_s, mandatory) "
            f"VALUES ({pid}, {ent['id']}, {at}, 1, 0, 30, true);")
        # a1: every mandatory point in the day before the end, one in its last hour: connected
        # and online then; silent since (its latest readings are those): neither now
        for n, pid in enumerate(ids(a1)):
            rollup(a1, pid, 1 + n)
            rollup(a1, pid, 40)
            latest(a1, pid, f"'{h(1 + n)}'::timestamptz + interval '10 minutes'")
        # a2: two points hours before the end, the third a day and a half before (outside the
        # 24 h window: a laggard then, its last data 3 h before); all three report now
        rollup(a2, ids(a2)[0], 3)
        rollup(a2, ids(a2)[1], 5)
        rollup(a2, ids(a2)[2], 36)
        for pid in ids(a2):
            latest(a2, pid, "now()")
        # b1: registered now (after the end); its one point last heard 40 days before the end
        latest(b1, ids(b1)[0], f"'{h(40 * 24)}'::timestamptz + interval '17 minutes'")
        sql.append(f"UPDATE enterprises SET created_at = now() WHERE id = {b1['id']};")
        # the riskiest then: each one's last score before the end
        score = lambda ent, grade, r, at: (
            f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
            f"grade_by_score, override, rules, inputs, trigger) VALUES ({ent['id']}, {at}, 't', {r}, 0, 0, 0, 0, "
            f"'{grade}', '{grade}', false, '[]', '{{}}', 'manual') RETURNING id")
        e.db.sql("\n".join(sql))
        sysq = "SELECT set_config('dw.scope', 'system', false) \\g /dev/null\n"
        # (the worker scores every enterprise now, a1 and a2 blue: the current ranking differs)
        e.db.scalar(sysq + score(a1, "red", 80, f"'{h(6)}'"))
        e.db.scalar(sysq + score(a1, "yellow", 40, f"'{h(30)}'"))
        e.db.scalar(sysq + score(a2, "orange", 60, f"'{h(24 * 10)}'"))

        want = onboarding_at_oracle(e.db, (a1, a2), end)
        assert {k: (v["connected"], v["online"]) for k, v in want.items()} == {
            a1["code"]: (True, True), a2["code"]: (False, False)}, want
        assert want[a2["code"]]["last"] == end - timedelta(hours=3), want
        now = onboarding_at_oracle(e.db, (a1, a2, b1), datetime.now(timezone.utc))

        def got(body, cohort="y2025_all"):
            co = {c["code"]: c for c in body["cohorts"]}[cohort]
            lag = {g["code"]: g["last_data_at"] for s in co["streets"] for g in s["laggards"]}
            return co, lag

        last_day = (end - timedelta(days=1)).date().isoformat()
        # the city (b1, registered after the end, is not counted then) and the district
        for q, ents, ents_now in (("", (a1, a2), (a1, a2, b1)), ("&district=310113", (a1, a2), (a1, a2))):
            body = e.get(f"/api/v1/onboarding?at={last_day}{q}")
            assert datetime.fromisoformat(body["as_of"]) == end, body["as_of"]
            co, lag = got(body)
            assert co["in_scope"] == len(ents), co
            assert co["connected"] == sum(want[x["code"]]["connected"] for x in ents), (co, want)
            assert co["online"] == sum(want[x["code"]]["online"] for x in ents), (co, want)
            assert {k: v and datetime.fromisoformat(v) for k, v in lag.items()} == {
                x["code"]: want[x["code"]]["last"] for x in ents if not want[x["code"]]["connected"]}, (lag, want)
            # and now, which differs: a2 connected, a1 silent, b1 counted
            co_now, lag_now = got(e.get(f"/api/v1/onboarding?cohort=y2025_all{q}"))
            assert co_now["in_scope"] == len(ents_now), co_now
            assert co_now["connected"] == sum(now[x["code"]]["connected"] for x in ents_now), co_now
            assert set(lag_now) == {x["code"] for x in ents_now if not now[x["code"]]["connected"]} != set(lag), lag_now
        # a milestone is due once its day has ended at the moment asked about
        due = {c["code"]: c["due"] for c in e.get("/api/v1/onboarding?at=2025-06-30")["cohorts"]}
        assert due == {"y2023_metal_wood_30": True, "y2024_metal_wood": True, "y2025_all": False}, due
        assert now[a2["code"]]["connected"] and not now[a1["code"]]["connected"], now
        # the same in the export with the filter, which names it
        rows = list(openpyxl.load_workbook(io.BytesIO(e.raw(
            f"/api/v1/statistics/export?format=xlsx&table=laggards&district=310113&at={last_day}")[0]))
            ["未接入企业"].iter_rows(values_only=True))
        assert f"at={last_day}" in rows[0][0], rows[0]
        assert {r[3] for r in rows[3:] if r[0] == ALL_COHORT} == {a2["code"]}, rows

        # the report made again: its sheets are those of the end, and say so
        st, _, rep = e.call("POST", "/api/v1/reports", {"region": "310113", "month": e.month.strftime("%Y-%m")},
                            "baoshan.admin")
        assert st == 201, rep
        c = rep["content"]
        assert c["state_from_rollups"] and c["state_as_of"] == f"{end:%Y-%m-%d %H:%M}", c["state_as_of"]
        assert [(x["code"], x["grade"], float(x["r"])) for x in c["top_risks"]] == [
            (a1["code"], "red", 80.0), (a2["code"], "orange", 60.0)], c["top_risks"]
        assert got(c["onboarding"]) == got(e.get(f"/api/v1/onboarding?at={last_day}&district=310113")), c["onboarding"]
        wb = openpyxl.load_workbook(io.BytesIO(e.raw(f"/api/v1/reports/{rep['id']}/xlsx", "baoshan.admin")[0]))
        assert [r[:4] for r in wb["风险排名"].iter_rows(min_row=4, values_only=True)] == [
            (a1["code"], a1["name"], "罗店镇", "red"), (a2["code"], a2["name"], "罗店镇", "orange")]
        lag = [r for r in wb["落后企业"].iter_rows(min_row=4, values_only=True) if r[0] == ALL_COHORT]
        assert [(r[2], datetime.fromisoformat(r[4])) for r in lag] == [(a2["code"], end - timedelta(hours=3))], lag
        assert datetime.fromisoformat(c["onboarding"]["as_of"]) == end, c["onboarding"]["as_of"]

        # bad or not yet answerable days
        today = datetime.now(CITY).date()
        for at, status, word in (("2026-02-30", 400, "calendar day"), ("yesterday", 400, "calendar day"),
                                 (today.isoformat(), 422, "ended"),
                                 ((today + timedelta(days=3)).isoformat(), 422, "ended"),
                                 ("2001-01-01", 422, "rollups kept")):
            err = e.get(f"/api/v1/onboarding?at={at}", status=status)
            code = "bad_request" if status == 400 else "unprocessable"
            assert err["code"] == code and word in err["detail"] and err["hint"], err
        # the rollups not yet at the day's end: held back, with no worker to move them on
        assert e.srv.stop() == 0, e.srv.logtext()
        e.db.sql(sysq + f"UPDATE rollup_state SET rolled_to = '{h(2)}'")
        e.srv = t.Server(e.db, roles="api")
        st, _, body = e.srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
        assert st == 200, body
        e.tokens["city.admin"] = body["token"]
        err = e.get(f"/api/v1/onboarding?at={last_day}", status=422)
        assert err["code"] == "unprocessable" and "rollups reach" in err["detail"], err
    finally:
        e.close()


if __name__ == "__main__":
    t.run([test_monthly_reports_and_exports, test_laggard_conformance_and_quality_exports_list_what_the_api_lists,
           test_survey_export_honours_filters_and_lists_dust_systems,
           test_alarm_trend_counts_every_alarm, test_report_made_on_demand_while_the_schedule_stores_one_stays,
           test_onboarding_and_risks_of_an_ended_month_are_those_of_its_end])
