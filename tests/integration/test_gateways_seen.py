"""Gateway last_seen_at (issue 11 item 4): maintained by the ingest writer from
every authenticated batch and shown by the gateway API.  A batch naming a
gateway code (native "gateway", Hebei wgbm) counts for that gateway of the
enterprise; a batch naming none counts for the enterprise's gateway when it
has exactly one; another enterprise's gateway is never touched; the time
never moves backwards (server/README.md, "Ingest")."""
import datetime as dt

import dialects
import dwtest as t
from test_api import City


def now():
    return dt.datetime.now(dt.timezone.utc)


def iso(d):
    return d.replace(microsecond=0).isoformat()


def reading(ent, at, gateway=None, value=31.5):
    body = {"readings": [{"point": ent["points"]["hopper_temp"][0], "ts": iso(at), "value": value}]}
    if gateway:
        body["gateway"] = gateway
    return body


def push(c, ent, body):
    st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": ent["api_key"]})
    assert st == 200 and r["accepted"] + r["duplicate"] == 1, (st, r)


def seen(c, user, gid):
    st, _, g = c.call(user, "GET", f"/api/v1/gateways/{gid}")
    assert st == 200, (st, g)
    return None if g["last_seen_at"] is None else dt.datetime.fromisoformat(g["last_seen_at"])


def gateway(c, user, ent, code, dialect="native"):
    st, _, g = c.call(user, "POST", f"/api/v1/enterprises/{ent['id']}/gateways",
                      {"code": code, "name": code, "dialect": dialect})
    assert st == 201 and g["last_seen_at"] is None, (st, g)
    return g["id"]


def near_now(ts):
    return ts is not None and abs((now() - ts).total_seconds()) < 30


def test_named_gateway_is_seen_and_never_goes_back():
    c = SHARED
    g1 = gateway(c, "a1.manager", c.a1, "GW-A1-01")
    g2 = gateway(c, "a1.manager", c.a1, "GW-A1-02", "hebei")
    gb = gateway(c, "b1.manager", c.b1, "GW-B1-01")
    push(c, c.a1, reading(c.a1, now() - dt.timedelta(minutes=1), gateway="GW-A1-01"))
    t1 = seen(c, "a1.manager", g1)
    assert near_now(t1), t1
    assert seen(c, "a1.manager", g2) is None
    # the list answers it too
    items = {g["code"]: g for g in c.call("a1.manager", "GET", f"/api/v1/enterprises/{c.a1['id']}/gateways")[2]["items"]}
    assert dt.datetime.fromisoformat(items["GW-A1-01"]["last_seen_at"]) == t1, items
    # a back-filled batch from three days ago is still a sign of life now, never a step back
    push(c, c.a1, reading(c.a1, now() - dt.timedelta(days=3), gateway="GW-A1-01", value=20.0))
    t2 = seen(c, "a1.manager", g1)
    assert t2 >= t1 and near_now(t2), (t1, t2)
    # a later time already stored (a writer that committed after us) is kept
    later = c.db.scalar(f"UPDATE gateways SET last_seen_at = now() + interval '1 hour' WHERE id = {g1} "
                        "RETURNING last_seen_at")
    push(c, c.a1, reading(c.a1, now() - dt.timedelta(seconds=20), gateway="GW-A1-01", value=33.0))
    assert c.db.scalar(f"SELECT last_seen_at = '{later}'::timestamptz FROM gateways WHERE id = {g1}") == "t"
    # another enterprise's gateway code in A1's batch touches nothing of B1
    push(c, c.a1, reading(c.a1, now() - dt.timedelta(seconds=40), gateway="GW-B1-01", value=34.0))
    assert seen(c, "b1.manager", gb) is None
    # two gateways and no code: nobody can tell which one spoke
    push(c, c.a1, reading(c.a1, now() - dt.timedelta(seconds=50), value=35.0))
    assert seen(c, "a1.manager", g2) is None
    # Hebei wgbm names the gateway
    ts = (now() - dt.timedelta(seconds=30)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    inner = {"qybm": c.a1["code"], "data": {"rts": [
        {"tnm": c.a1["points"]["hopper_temp"][0], "ts": ts.strftime("%Y-%m-%d %H:%M:%S"), "val": "27.20"}]}}
    st, _, raw = c.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                              dialects.hebei_body(c.a1["code"], inner, c.a1["des_key"], wgbm="GW-A1-02"))
    assert st == 200 and raw["code"] == 200, (st, raw)
    assert near_now(seen(c, "a1.manager", g2))
    assert seen(c, "b1.manager", gb) is None


def test_only_gateway_of_enterprise_without_code():
    c = SHARED
    g = gateway(c, "a2.manager", c.a2, "GW-A2-01")
    push(c, c.a2, reading(c.a2, now() - dt.timedelta(minutes=2)))
    assert near_now(seen(c, "a2.manager", g))
    # a refused credential is no sign of life
    c.db.sql(f"UPDATE gateways SET last_seen_at = NULL WHERE id = {g}")
    st, _, _ = c.srv.ingest("POST", "/ingest/v1/readings", reading(c.a2, now()), {"X-Api-Key": "dw_nope"})
    assert st == 401, st
    assert seen(c, "a2.manager", g) is None


SHARED = None

if __name__ == "__main__":
    SHARED = City(roles="ingest,api")
    t.run([
        test_named_gateway_is_seen_and_never_goes_back,
        test_only_gateway_of_enterprise_without_code,
    ], cleanup=SHARED.close)
