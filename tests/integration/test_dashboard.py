"""What the dashboard shows (issue 17).

* Units on every value: an alarm names its point's unit, and a point stored
  without one (points.unit '') gets its kind's unit (indicator_kinds.unit), as
  the point list already does: a hopper temperature alarm reads "95 / 80 ℃",
  not a bare "95 / 80".
* Cleaning compliance counts the period a check-in falls in even while that
  period (today, for a daily area) is still running: an area created today
  with two check-ins is 1 of 1, not "—"; enterprises in scope without an
  active cleaning area are listed (without_areas) instead of left out."""
from datetime import datetime, timedelta, timezone

import dwtest as t
from test_api import City


def iso(d):
    return d.replace(microsecond=0).isoformat()


def test_alarm_point_unit_falls_back_to_kind():
    c = City(worker_interval_ms=300)
    try:
        a1 = c.a1
        assert c.db.scalar(f"SELECT unit FROM points WHERE id = {a1['points']['hopper_temp'][1]}") in ("", None)
        ts = datetime.now(timezone.utc) - timedelta(seconds=20)
        st, _, r = c.srv.ingest("POST", "/ingest/v1/readings",
                                {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": iso(ts), "value": 95}]},
                                {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r

        def alarm():
            st, _, b = c.call("a1.manager", "GET", "/api/v1/alarms?limit=10")
            assert st == 200, b
            return next((a for a in b["items"] if a["point"] and a["point"]["kind"] == "hopper_temp"), None)
        a = t.wait_for(alarm, what="hopper temperature alarm")
        assert a["point"]["unit"] == "℃", a["point"]
        st, _, one = c.call("a1.manager", "GET", f"/api/v1/alarms/{a['id']}")
        assert st == 200 and one["alarm"]["point"]["unit"] == "℃", one
        # a point's own unit wins over its kind's
        c.db.sql(f"UPDATE points SET unit = 'K' WHERE id = {a1['points']['hopper_temp'][1]}")
        st, _, one = c.call("a1.manager", "GET", f"/api/v1/alarms/{a['id']}")
        assert one["alarm"]["point"]["unit"] == "K", one["alarm"]["point"]
    finally:
        c.close()


def test_compliance_counts_todays_checkins_and_lists_enterprises_without_areas():
    c = City()
    try:
        e = c.a1["id"]
        st, _, area = c.call("a1.manager", "POST", f"/api/v1/enterprises/{e}/cleaning-areas",
                             {"name": "抛光车间", "frequency": "daily"})
        assert st == 201, area
        for who in ("王师傅", "李师傅"):
            st, _, ck = c.call("a1.manager", "POST", f"/api/v1/cleaning-areas/{area['id']}/checkins",
                               {"person": who, "method": "vacuum"})
            assert st == 201, ck
        st, _, comp = c.call("luodian.staff", "GET", "/api/v1/cleaning/compliance")
        assert st == 200, comp
        ent = [x for x in comp["enterprises"] if x["id"] == e]
        assert len(ent) == 1, comp
        a = ent[0]["areas"][0]
        assert (a["required"], a["done"], a["missed"]) == (1, 1, 0), a
        assert ent[0]["rate"] == 1.0, ent[0]
        assert comp["totals"]["rate"] == 1.0 and comp["totals"]["without_areas"] == 1, comp["totals"]
        assert [x["id"] for x in comp["without_areas"]] == [c.a2["id"]], comp["without_areas"]
        # the city sees both enterprises without areas; a filter narrows the list
        st, _, comp = c.call("city.admin", "GET", "/api/v1/cleaning/compliance")
        assert {x["id"] for x in comp["without_areas"]} == {c.a2["id"], c.b1["id"]}, comp["without_areas"]
        st, _, comp = c.call("city.admin", "GET", "/api/v1/cleaning/compliance?district=310114")
        assert [x["id"] for x in comp["without_areas"]] == [c.b1["id"]] and comp["enterprises"] == [], comp
        # a window that ended before the check-ins does not count them
        st, _, comp = c.call("city.admin", "GET", "/api/v1/cleaning/compliance?from=2026-01-01T00:00:00Z"
                             "&to=2026-01-05T00:00:00Z")
        assert st == 200 and all(x["done"] == 0 for x in comp["enterprises"]), comp
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_alarm_point_unit_falls_back_to_kind,
           test_compliance_counts_todays_checkins_and_lists_enterprises_without_areas])
