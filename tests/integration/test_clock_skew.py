"""Clock skew (issue 11 item 12).  An item whose timestamp is further ahead of
the server clock than ingest allows (5 min) is rejected per item in the answer
(future_timestamp) with how far ahead it was, and counted in
ingest_clock_skew per enterprise, UTC day, dialect and gateway code, once per
batch (an Idempotency-Key replay does not count again)."""
import re
from datetime import datetime, timedelta, timezone

import dialects
import dwtest as t
import fixtures

BJ = timezone(timedelta(hours=8))


def iso(d):
    return d.replace(microsecond=0).isoformat()


def ahead_s(message):
    m = re.search(r"(-?\d+) s ahead of the server clock, at most 300 s", message)
    assert m, message
    return int(m.group(1))


def test_future_items_visible_and_counted():
    db = t.Database()
    srv = None
    try:
        ents = fixtures.make_city(db)
        a = next(iter(ents.values()))
        srv = t.Server(db, roles="ingest")
        pt = a["points"]["hopper_temp"][0]
        now = datetime.now(timezone.utc)
        body = {"gateway": "GW-SKEW", "readings": [
            {"point": pt, "ts": iso(now - timedelta(minutes=1)), "value": 30},
            {"point": pt, "ts": iso(now + timedelta(hours=1)), "value": 31},
            {"point": pt, "ts": iso(now + timedelta(hours=2)), "value": 32}]}
        hdr = {"X-Api-Key": a["api_key"], "Idempotency-Key": "skew-1"}
        st, _, r = srv.ingest("POST", "/ingest/v1/readings", body, hdr)
        assert st == 200 and r["accepted"] == 1 and r["rejected"] == 2, r
        e1, e2 = r["errors"]
        assert (e1["index"], e1["code"], e2["index"], e2["code"]) == (1, "future_timestamp", 2, "future_timestamp"), r
        assert 3500 <= ahead_s(e1["message"]) <= 3600 and 7100 <= ahead_s(e2["message"]) <= 7200, r
        rows = db.sql("SELECT source, gateway_code, rejected, max_ahead_s BETWEEN 7100 AND 7200, "
                      "day = (now() AT TIME ZONE 'UTC')::date FROM ingest_clock_skew")
        assert rows == [["native", "GW-SKEW", "2", "t", "t"]], rows
        # the replay answers the same and counts nothing
        st, h, r2 = srv.ingest("POST", "/ingest/v1/readings", body, hdr)
        assert st == 200 and h.get("idempotent-replayed") == "true" and r2 == r, (h, r2)
        assert db.scalar("SELECT sum(rejected) FROM ingest_clock_skew") == "2"
        # Hebei: counted under its dialect and wgbm
        bj = (now + timedelta(hours=1)).astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
        inner = {"qybm": a["code"], "data": {"rts": [{"tnm": pt, "ts": bj, "val": "33"}]}}
        st, _, raw = srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                                dialects.hebei_body(a["code"], inner, a["des_key"], wgbm="WG-01"))
        assert raw["code"] == 422 and "future_timestamp" in raw["msg"], raw
        rows = db.sql("SELECT source, gateway_code, rejected FROM ingest_clock_skew ORDER BY source")
        assert rows == [["hebei", "WG-01", "1"], ["native", "GW-SKEW", "2"]], rows
        assert db.scalar("SELECT count(*) FROM readings") == "1"
    finally:
        if srv:
            srv.stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_future_items_visible_and_counted])
