"""Gateway-offline alarms (issue 11 item 4).  A gateway heard from before
(last_seen_at) and silent longer than gateway_offline_after_s gets one alarm
(source rule, kind gateway_offline, level 0, no point, the gateway named),
raised when it became overdue; it is cleared when the gateway is heard from
again.  A gateway never heard from gets none; another enterprise's gateway is
not touched.  The threshold is short here (2 s) and the worker ticks often."""
import datetime as dt

import dwtest as t
from test_api import City
from test_gateways_seen import gateway, push, reading, seen

THRESHOLD_S = 2


def now():
    return dt.datetime.now(dt.timezone.utc)


def gw_alarms(c, user="city.admin"):
    st, _, b = c.call(user, "GET", "/api/v1/alarms?kind=gateway_offline&limit=100")
    assert st == 200, b
    return b["items"]


def test_silent_gateway_raises_and_clears():
    c = City(gateway_offline_after_s=THRESHOLD_S, worker_interval_ms=250)
    try:
        g1 = gateway(c, "a1.manager", c.a1, "GW-A1-01")
        gateway(c, "a1.manager", c.a1, "GW-A1-02")  # never heard from
        push(c, c.a1, reading(c.a1, now() - dt.timedelta(minutes=1), gateway="GW-A1-01"))
        last_seen = seen(c, "a1.manager", g1)
        assert last_seen is not None

        items = t.wait_for(lambda: gw_alarms(c), timeout=30, what="a gateway-offline alarm")
        assert len(items) == 1, items
        a = items[0]
        assert a["kind"] == "gateway_offline" and a["source"] == "rule" and a["level"] == 0, a
        assert a["point"] is None and a["gateway"] == {"id": g1, "code": "GW-A1-01"}, a
        assert a["enterprise"]["id"] == c.a1["id"] and a["cleared_at"] is None, a
        raised = dt.datetime.fromisoformat(a["raised_at"])
        assert abs((raised - last_seen).total_seconds() - THRESHOLD_S) < 1.5, (raised, last_seen)
        # the enterprise sees it, another enterprise does not
        assert [x["id"] for x in gw_alarms(c, "a1.manager")] == [a["id"]]
        assert gw_alarms(c, "a2.manager") == []

        # heard from again: cleared, and not raised twice in the meantime
        push(c, c.a1, reading(c.a1, now() - dt.timedelta(seconds=30), gateway="GW-A1-01", value=33.0))
        st, _, cleared = t.wait_for(
            lambda: (lambda r: r if r[2]["alarm"]["cleared_at"] else None)(c.call("city.admin", "GET", f"/api/v1/alarms/{a['id']}")),
            timeout=30, what="the gateway-offline alarm cleared")
        assert cleared["alarm"]["clear_reason"] == "gateway_heard", cleared
        actions = [e["action"] for e in cleared["events"]]
        assert actions[:2] == ["raise", "clear"], actions
        assert c.db.scalar("SELECT count(*) FROM alarms WHERE channel = 'gateway_offline' AND gateway_id = "
                           f"{g1} AND raised_at = '{a['raised_at']}'") == "1"
        # the never-seen gateway got none
        assert c.db.scalar("SELECT count(*) FROM alarms a JOIN gateways g ON g.id = a.gateway_id "
                           "WHERE g.code = 'GW-A1-02'") == "0"
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_silent_gateway_raises_and_clears])
