#!/usr/bin/env python3
"""Warning latency probe of tests/bench/alarm_bench.sh (issue 20).

Targets: enterprises set up by the bench to be blue (wet collection, St1 grain dust,
scored once by the worker's first tick), each with a hopper-temperature point (high-high
80) and a spark-detection point on one system.  Cycle k, started at T0 + k * PERIOD
whatever the earlier cycles are doing (so the cycles fall on every phase of the worker's
tick, not just after it):

  POST /ingest/v1/readings, target k: hopper temperature 85 and a spark at the same
  instant (the hot-spark precursor overrides the grade to red); t_ack = the 200
  then the target's red warning is awaited
    on the API: GET /api/v1/warnings?open=true&limit=100 every POLL_MS (one list for all
                targets still waiting): t_api = when the response listing it was read
    on SSE:     a `warning` event with action "issue" for the target: t_sse

Latency = t_api - t_ack and t_sse - t_ack; a target not seen within TIMEOUT_S is missed.
Each target is used once (an enterprise has one open warning per cause).  Prints
key=value lines; per-cycle rows go to --rows.
"""
import argparse
import http.client
import json
import sys
import time

from alarm_probe import Sse, iso, pct


class WarningSse(Sse):
    """The alarm probe's SSE reader, stamping warning issues by enterprise instead."""

    def _event(self, block, t):
        ev, data = "message", []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                ev = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        self.events += 1
        if ev != "warning" or not data:
            return
        try:
            o = json.loads(b"\n".join(data))
        except ValueError:
            return
        if o.get("action") != "issue":
            return
        with self.cv:
            self.raised.setdefault(o.get("enterprise_id"), t)
            self.cv.notify_all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingest-port", type=int, required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--targets", required=True, help="enterprise_id, api_key, hopper point, spark point (TSV)")
    ap.add_argument("--base-ts", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--period-ms", type=float, default=700)
    ap.add_argument("--poll-ms", type=float, default=20)
    ap.add_argument("--timeout-s", type=float, default=15)
    ap.add_argument("--rows", default="/dev/null")
    a = ap.parse_args()
    targets = [line.rstrip("\n").split("\t") for line in open(a.targets) if line.strip()]
    if len(targets) <= a.warmup:
        print("warning_probe: fewer targets than warm-up cycles", file=sys.stderr)
        return 1

    sse = WarningSse(a.api_port, a.token, None)
    sse.start()
    if not sse.connected.wait(10) or sse.error:
        print(f"warning_probe: SSE did not connect: {sse.error}", file=sys.stderr)
        return 1
    time.sleep(0.3)

    ing = http.client.HTTPConnection("127.0.0.1", a.ingest_port, timeout=30)
    api = http.client.HTTPConnection("127.0.0.1", a.api_port, timeout=30)
    ahdr = {"Authorization": f"Bearer {a.token}"}

    def post(k):
        eid, key, hopper, spark = targets[k]
        ts = iso(a.base_ts + k)
        body = json.dumps({"readings": [{"point": hopper, "ts": ts, "value": 85},
                                        {"point": spark, "ts": ts, "value": 1}]})
        h = {"Content-Type": "application/json", "X-Api-Key": key, "Idempotency-Key": f"warn-{a.base_ts}-{k}"}
        for _ in range(20):
            t0 = time.monotonic()
            try:
                ing.request("POST", "/ingest/v1/readings", body, h)
                r = ing.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                ing.close()
                time.sleep(0.05)
                continue
            t1 = time.monotonic()
            if r.status == 200:
                if json.loads(data).get("accepted") != 2:
                    raise RuntimeError(f"warning probe readings not accepted: {data[:300]!r}")
                return t0, t1
            if r.status in (429, 503):
                time.sleep(0.1)
                continue
            raise RuntimeError(f"warning probe POST: HTTP {r.status}: {data[:300]!r}")
        raise RuntimeError("warning probe POST: no 200 after 20 attempts")

    def listed():
        try:
            api.request("GET", "/api/v1/warnings?open=true&limit=100", headers=ahdr)
            r = api.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            api.close()
            return set(), time.monotonic()
        t1 = time.monotonic()
        if r.status != 200:
            raise RuntimeError(f"warning list: HTTP {r.status}: {data[:300]!r}")
        return {(it.get("enterprise") or {}).get("id") for it in json.loads(data).get("items", [])
                if it.get("grade") == "red"}, t1

    n = len(targets)
    ack = {}  # cycle -> (t_send, t_ack)
    t_api = {}
    period = a.period_ms / 1000.0
    t0 = time.monotonic()
    k = 0
    next_poll = t0
    while True:
        now = time.monotonic()
        if k < n and now >= t0 + k * period:
            ack[k] = post(k)
            k += 1
            continue
        waiting = [c for c in ack if c not in t_api and time.monotonic() - ack[c][1] < a.timeout_s]
        if k >= n and not waiting:
            break
        if waiting and now >= next_poll:
            next_poll = now + a.poll_ms / 1000.0
            seen, t1 = listed()
            for c in waiting:
                if int(targets[c][0]) in seen:
                    t_api[c] = t1
        time.sleep(max(0.0, min(next_poll, t0 + k * period if k < n else next_poll) - time.monotonic()))
    time.sleep(0.2)
    sse.stop = True
    if sse.error:
        print(f"warning_probe: SSE failed: {sse.error}", file=sys.stderr)
        return 1

    api_lat, sse_lat, ack_lat = [], [], []
    api_miss = sse_miss = 0
    with open(a.rows, "w") as rows:
        rows.write("cycle\tenterprise\tack_ms\tapi_ms\tsse_ms\n")
        for c in range(n):
            t_send, t_ack = ack[c]
            eid = int(targets[c][0])
            ams = (t_api[c] - t_ack) * 1000 if c in t_api else None
            ts = sse.raised.get(eid)
            sms = (ts - t_ack) * 1000 if ts is not None and ts - t_ack < a.timeout_s else None
            rows.write(f"{c}\t{eid}\t{(t_ack - t_send) * 1000:.1f}\t{'' if ams is None else f'{ams:.1f}'}\t"
                       f"{'' if sms is None else f'{sms:.1f}'}\n")
            if c < a.warmup:
                continue
            ack_lat.append((t_ack - t_send) * 1000)
            if ams is None:
                api_miss += 1
            else:
                api_lat.append(ams)
            if sms is None:
                sse_miss += 1
            else:
                sse_lat.append(sms)

    def out(key, v):
        print(f"{key}={v:.1f}" if isinstance(v, float) else f"{key}={v}")

    out("warnings", n - a.warmup)
    for name, xs, miss in (("api", api_lat, api_miss), ("sse", sse_lat, sse_miss)):
        out(f"{name}_seen", len(xs))
        out(f"{name}_missed", miss)
        out(f"{name}_p50_ms", pct(xs, 0.5))
        out(f"{name}_p90_ms", pct(xs, 0.9))
        out(f"{name}_p99_ms", pct(xs, 0.99))
        out(f"{name}_max_ms", max(xs) if xs else float("nan"))
    out("probe_ack_p50_ms", pct(ack_lat, 0.5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
