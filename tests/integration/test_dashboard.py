"""What the dashboard shows (issue 17).

* Units on every value: an alarm names its point's unit, and a point stored
  without one (points.unit '') gets its kind's unit (indicator_kinds.unit), as
  the point list already does: a hopper temperature alarm reads "95 / 80 ℃",
  not a bare "95 / 80"."""
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


if __name__ == "__main__":
    t.run([test_alarm_point_unit_falls_back_to_kind])
