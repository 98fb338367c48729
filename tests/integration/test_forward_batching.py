"""Upward forwarding, second part (issue 18): `serve --roles forward` against the
mock upstream (upstream_mock.py, decrypting with openssl, not the server's code).

* Our own rule alarms (the alarm engine's raise, escalation and clear on a point)
  go upward as events (Hebei eventsData, scd 0 for the clear), in the upstream's
  codes, exactly once; a target that selects only them gets none of the
  gateways' own events.
* Batching: several ingest batches of an enterprise go up in one request of at
  most batch_max items, every point's readings in order, each exactly once,
  every request under its own Idempotency-Key; a request whose answer is lost is
  sent again under the same key with the same body; a page whose delivery was
  interrupted is read again up to the same end after a restart (inflight_*),
  and starts over when the target's batch size changed meanwhile (nothing lost).
* A 24-hour upstream outage (backdated readings of two enterprises, one
  batch per enterprise every 2 minutes for 24 h, ingested while the upstream is down)
  catches up in order without loss once it returns; the catch-up time is
  printed.  tests/soak/forward_outage.sh runs the same at the demo rate
  (one batch every 10 s, three enterprises).
"""
import http.client
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import dwtest as t
from test_api import City
from upstream_mock import Upstream

BJ = timezone(timedelta(hours=8))
FAST = dict(roles="ingest,api,worker,forward", forward_poll_ms=100, forward_retry_min_ms=100,
            forward_retry_max_ms=400, ingest_rate_credential_per_s=0)


def bj(d):
    return d.astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")


def report(c, tid):
    st, _, r = c.call("city.admin", "GET", f"/api/v1/forward/targets/{tid}/report")
    assert st == 200, r
    return r


def target(c, mock, name, **kw):
    body = {"name": name, "url": mock.url + "/rabbitmqfcsb", "dialect": "hebei",
            "credentials": {"des_key": mock.des_key.decode()}, "rate_per_s": 1000}
    body.update(kw)
    st, _, tgt = c.call("city.admin", "POST", "/api/v1/forward/targets", body)
    assert st == 201, tgt
    return tgt["id"]


class Gateway:
    """One enterprise's native-format gateway on a kept-alive connection."""

    def __init__(self, srv, ent):
        self.port, self.ent = srv.ingest_port, ent
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def post(self, kind, items):
        body = json.dumps({kind: items})
        for attempt in range(3):
            try:
                self.conn.request("POST", f"/ingest/v1/{kind}", body=body,
                                  headers={"X-Api-Key": self.ent["api_key"], "Content-Type": "application/json"})
                r = self.conn.getresponse()
                data = json.loads(r.read())
                assert r.status == 200 and data["rejected"] == 0, (r.status, data)
                return data
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        raise AssertionError("ingest unreachable")

    def close(self):
        self.conn.close()


def test_rule_alarms_go_up_as_events():
    mock = Upstream(des_key=b"alarmKy1")
    c = City(**FAST)
    try:
        a1 = c.a1
        hop = a1["points"]["hopper_temp"][0]
        tid = target(c, mock, "alarms", enterprise_ids=[a1["id"]], kinds=["alarms"])
        st, _, r = c.call("city.admin", "POST", f"/api/v1/forward/targets/{tid}/codes",
                          {"object": "point", "local_code": hop, "upstream_code": "UP-HOP"})
        assert st == 200, r
        gw = Gateway(c.srv, a1)
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
        # limit_high 70, high_high 80: raise, escalate, clear
        for i, v in enumerate((60.0, 75.0, 85.0, 50.0)):
            gw.post("readings", [{"point": hop, "ts": (t0 + timedelta(minutes=i)).isoformat(), "value": v}])
        # a gateway's own event: not selected (kind events)
        gw.post("events", [{"point": hop, "ts": (t0 + timedelta(minutes=5)).isoformat(), "level": "high",
                            "value": 77, "content": "网关自报"}])
        gw.close()
        want = int(c.db.scalar(
            "SELECT count(*) FROM alarm_events ae JOIN alarms a ON a.id = ae.alarm_id WHERE a.source = 'rule' "
            "AND a.point_id IS NOT NULL AND ae.action IN ('raise', 'escalate', 'deescalate', 'clear')"))
        assert want >= 3, want
        t.wait_for(lambda: report(c, tid)["outbox_pending"] == 0 and len(mock.received("events")) >= want,
                   timeout=30, what="the rule alarms upstream")
        got = [it for _, it in mock.received("events")]
        assert len(got) == want, got                                   # exactly once
        assert all("网关自报" not in it["content"] and "dustwatch" in it["content"] for it in got), got
        hop_ev = [(it["ts"], it["scd"], it.get("threshold")) for it in got if it["oname"] == "UP-HOP"]
        assert (bj(t0 + timedelta(minutes=1)), 1, 70) in hop_ev, hop_ev       # 超上限
        assert (bj(t0 + timedelta(minutes=2)), 4, 80) in hop_ev, hop_ev       # escalated: 超上上限
        clears = [e for e in hop_ev if e[1] == 0]
        assert clears and clears[-1][0] == bj(t0 + timedelta(minutes=3)), hop_ev  # 消警
        assert all(rec["inner"]["qybm"] == a1["code"] for rec, _ in mock.received("events"))
        by_kind = {d["kind"]: d["acked"] for d in report(c, tid)["days"]}
        assert by_kind == {"alarms": want}, by_kind
        assert mock.errors == [], mock.errors
    finally:
        mock.down()
        c.close()


def test_batches_are_combined_in_order_under_stable_keys():
    mock = Upstream(des_key=b"batchKy1")
    c = City(**FAST)
    try:
        a1, a2 = c.a1, c.a2
        tid = target(c, mock, "batched", enterprise_ids=[a1["id"], a2["id"]], kinds=["readings"], batch_max=5,
                     enabled=False)
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        sent = []
        gws = {e["code"]: Gateway(c.srv, e) for e in (a1, a2)}
        for b in range(6):  # 6 ingest batches of 2 readings per enterprise, interleaved
            for e in (a1, a2):
                items = [{"point": e["points"][k][0], "ts": (t0 + timedelta(seconds=10 * b)).isoformat(),
                          "value": 40.0 + b if k == "hopper_temp" else 800.0 + b}
                         for k in ("hopper_temp", "pressure_diff")]
                gws[e["code"]].post("readings", items)
                sent += items
        # the forwarder reads only outbox rows older than every open transaction of the cluster
        # (fwd_next: pg_snapshot_xmin), so that it never skips one that commits later; with other
        # tests' transactions open it saw the 12 rows a few at a time and sent [5, 1, 4, 5, 3, 5, 1].
        # Enabled once all 12 are below that horizon, it sees them at once.
        t.wait_for(lambda: c.db.scalar("SELECT count(*) >= 12 AND bool_and(xid < pg_snapshot_xmin("
                                       "pg_current_snapshot())) FROM forward_outbox") == "t",
                   timeout=30, what="the outbox rows below every open transaction")
        assert c.call("city.admin", "PATCH", f"/api/v1/forward/targets/{tid}", {"enabled": True})[0] == 200
        t.wait_for(lambda: report(c, tid)["outbox_pending"] == 0, timeout=30, what="forwarded")
        recs = [r for r in mock.got if r["kind"] == "readings"]
        sizes = [len(r["inner"]["data"]["rts"]) for r in recs]
        # 12 ingest batches of 2 became 3 requests per enterprise: 5 + 5 + 2
        assert sorted(sizes) == [2, 2, 5, 5, 5, 5], sizes
        keys = [r["key"] for r in recs]
        assert len(set(keys)) == len(keys) and all(k.startswith("dustwatch-fwd-") for k in keys), keys
        got = [(it["tnm"], it["ts"], float(it["val"])) for _, it in mock.received("readings")]
        assert sorted(got) == sorted((x["point"], bj(datetime.fromisoformat(x["ts"])), x["value"]) for x in sent)
        assert len(set((p, ts) for p, ts, _ in got)) == len(got) == 24   # exactly once
        for p in {p for p, _, _ in got}:                                  # in order per point
            seq = [ts for q, ts, _ in got if q == p]
            assert seq == sorted(seq), (p, seq)
        tot = report(c, tid)["totals"]
        assert tot["acked"] == 24 and tot["requests"] == 6, tot

        # a combined request whose answer is lost is sent again: same key, same body
        mock.drop_next = 1
        assert c.call("city.admin", "PATCH", f"/api/v1/forward/targets/{tid}", {"enabled": False})[0] == 200
        t1 = t0 + timedelta(minutes=10)
        for b in range(3):
            gws[a1["code"]].post("readings", [{"point": a1["points"]["hopper_temp"][0],
                                               "ts": (t1 + timedelta(seconds=10 * b)).isoformat(), "value": 50.0}])
        assert c.call("city.admin", "PATCH", f"/api/v1/forward/targets/{tid}", {"enabled": True})[0] == 200
        t.wait_for(lambda: report(c, tid)["outbox_pending"] == 0, timeout=30, what="after the lost answer")
        assert mock.replays == 1 and mock.errors == [], (mock.replays, mock.errors)
        last = [r for r in mock.got if r["kind"] == "readings"][-1]
        assert len(last["inner"]["data"]["rts"]) == 3, last      # three ingest batches, one request
        assert len(mock.received("readings")) == 27

        # a page interrupted by an outage is read again up to the same end after a
        # restart: rows ingested meanwhile go in a later request
        mock.down()
        gws[a2["code"]].post("readings", [{"point": a2["points"]["hopper_temp"][0],
                                           "ts": (t1 + timedelta(minutes=1)).isoformat(), "value": 41.0}])
        t.wait_for(lambda: c.db.scalar(f"SELECT inflight_id IS NOT NULL FROM forward_targets WHERE id = {tid}") == "t",
                   timeout=30, what="the page in flight recorded")
        assert c.srv.stop() == 0
        c.srv = t.Server(c.db, **FAST)
        for g in gws.values():
            g.close()
        gw = Gateway(c.srv, a2)
        gw.post("readings", [{"point": a2["points"]["hopper_temp"][0],
                              "ts": (t1 + timedelta(minutes=2)).isoformat(), "value": 42.0}])
        gw.close()
        mock.up()
        t.wait_for(lambda: report(c, tid)["outbox_pending"] == 0, timeout=30, what="after the restart")
        tail = [r for r in mock.got if r["kind"] == "readings"][-2:]
        assert [[it["ts"] for it in r["inner"]["data"]["rts"]] for r in tail] == [
            [bj(t1 + timedelta(minutes=1))], [bj(t1 + timedelta(minutes=2))]], tail
        assert c.db.scalar(f"SELECT inflight_id IS NULL FROM forward_targets WHERE id = {tid}") == "t"
        assert mock.errors == [], mock.errors

        # the target's batch size changed while a page was half delivered: the page
        # starts over (nothing skipped), no key is reused for another body
        assert c.call("city.admin", "PATCH", f"/api/v1/forward/targets/{tid}",
                      {"enabled": False, "batch_max": 2})[0] == 200
        t2 = t1 + timedelta(minutes=5)
        gw = Gateway(c.srv, a1)
        late = []
        for b in range(4):
            items = [{"point": a1["points"][k][0], "ts": (t2 + timedelta(seconds=10 * b)).isoformat(), "value": 45.0}
                     for k in ("hopper_temp", "pressure_diff")]
            gw.post("readings", items)
            late += items
        gw.close()
        before = len(mock.received("readings"))
        mock.fail_after = 1  # the first request of the page answered, then 503
        assert c.call("city.admin", "PATCH", f"/api/v1/forward/targets/{tid}", {"enabled": True})[0] == 200
        t.wait_for(lambda: mock.failures >= 1, timeout=30, what="the page interrupted")
        assert c.call("city.admin", "PATCH", f"/api/v1/forward/targets/{tid}", {"batch_max": 5})[0] == 200
        mock.fail_after = None
        t.wait_for(lambda: report(c, tid)["outbox_pending"] == 0, timeout=30, what="after the edit")
        arrived = {(it["tnm"], it["ts"]) for _, it in mock.received("readings")[before:]}
        assert arrived == {(x["point"], bj(datetime.fromisoformat(x["ts"]))) for x in late}, arrived
        assert mock.errors == [], mock.errors
    finally:
        mock.down()
        c.close()


def backlog_catch_up(hours=24, interval_s=60, n_ents=2, page_rows=500, batch_max=500, quiet=False):
    """A `hours` upstream outage: readings of n_ents enterprises (two points, one
    batch per enterprise every interval_s, backdated to cover `hours`) ingested
    while the mock upstream is down; then it comes back.  Checks every
    acknowledged reading arrives exactly once and in order per point, and the
    reconciliation; returns the figures."""
    mock = Upstream(des_key=b"dayLong1")
    c = City(**dict(FAST, forward_page_rows=page_rows, log_level="warn"))
    try:
        ents = list(c.ents.values())[:n_ents]
        tid = target(c, mock, "day", enterprise_ids=[e["id"] for e in ents], kinds=["readings"],
                     batch_max=batch_max)
        mock.down()
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=1)
        start = end - timedelta(hours=hours)
        steps = int(hours * 3600 // interval_s)
        gws = [Gateway(c.srv, e) for e in ents]
        want = {}
        t_ingest = time.monotonic()
        for i in range(steps):
            ts = start + timedelta(seconds=i * interval_s)
            for e, gw in zip(ents, gws):
                items = [{"point": e["points"][k][0], "ts": ts.isoformat(),
                          "value": round(40.0 + (i % 97) * 0.1, 1) if k == "hopper_temp" else 800.0 + i % 101}
                         for k in ("hopper_temp", "pressure_diff")]
                gw.post("readings", items)
                for x in items:
                    want.setdefault(x["point"], []).append((bj(ts), x["value"]))
        for gw in gws:
            gw.close()
        t_ingest = time.monotonic() - t_ingest
        total = sum(len(v) for v in want.values())
        t.wait_for(lambda: report(c, tid)["totals"]["failures"] >= 1, timeout=30, what="the outage noticed")
        pending = report(c, tid)["outbox_pending"]
        assert pending >= steps * n_ents, (pending, steps * n_ents)  # (and the rule engine's rows)
        t_up = time.monotonic()
        mock.up()
        t.wait_for(lambda: report(c, tid)["outbox_pending"] == 0, timeout=max(120, total / 100), step=0.5,
                   what="the catch-up")
        catch_up_s = time.monotonic() - t_up
        got = {}
        for _, it in mock.received("readings"):
            got.setdefault(it["tnm"], []).append((it["ts"], float(it["val"])))
        assert set(got) == set(want), (set(got), set(want))
        for p in want:
            assert got[p] == want[p], (p, len(got[p]), len(want[p]))   # every item, once, in order
        rep = report(c, tid)
        assert rep["totals"]["acked"] == total and rep["totals"]["refused"] == 0, rep
        assert rep["dead_letters_open"] == 0 and mock.errors == [], (rep, mock.errors)
        requests = len([r for r in mock.got if r["kind"] == "readings"])
        assert requests == rep["totals"]["requests"], (requests, rep["totals"])
        figures = dict(hours=hours, interval_s=interval_s, enterprises=n_ents, batches=steps * n_ents,
                       readings=total, requests=requests, ingest_s=round(t_ingest, 1),
                       catch_up_s=round(catch_up_s, 1), readings_per_s=round(total / catch_up_s))
        if not quiet:
            print("24-hour outage catch-up:", json.dumps(figures), file=sys.stderr)
        return figures
    finally:
        mock.down()
        c.close()


def test_a_day_long_outage_catches_up_in_order():
    # one batch per enterprise every 2 min keeps it near a minute on a loaded
    # 2-core machine; the demo rate (10 s, 3 enterprises) is tests/soak/forward_outage.sh
    backlog_catch_up(hours=24, interval_s=120)


if __name__ == "__main__":
    t.run([test_rule_alarms_go_up_as_events, test_batches_are_combined_in_order_under_stable_keys,
           test_a_day_long_outage_catches_up_in_order])
