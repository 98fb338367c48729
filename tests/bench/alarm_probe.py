#!/usr/bin/env python3
"""Alarm latency probe of tests/bench/alarm_bench.sh.

One dedicated enterprise and hopper-temperature point (limits high 70, high-high 80,
no deadband, no minimum duration, offline timer off).  Every cycle:

  t = 0        POST /ingest/v1/readings with one reading above high-high (a distinct
               value per cycle, ts = BASE + 2k); the moment the 200 arrives is t_ack
  t_ack ..     GET /api/v1/alarms?enterprise=<id>&open=true&limit=5 every POLL_MS
               (keep-alive, Bearer token) until an item with this cycle's value shows
               up: t_api = when that response was read
               meanwhile a second thread reads GET /api/v1/events (SSE, same token) and
               stamps every `alarm` event of the enterprise with action "raise" and
               this cycle's ts: t_sse (may precede t_ack: the writer publishes right
               after COMMIT, before the acknowledgement goes out)
  t = PERIOD   a normal reading (ts = BASE + 2k + 1) clears the alarm
  t = 2*PERIOD next cycle

Latency = t_api - t_ack and t_sse - t_ack.  Bounded: TIMEOUT_S per cycle, COUNT
cycles (+ WARMUP not counted).  Everything on 127.0.0.1.  Prints key=value lines;
per-cycle rows go to --rows.
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import time
from datetime import datetime, timezone


def iso(ts):
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Sse(threading.Thread):
    """Minimal SSE reader (HTTP/1.1, chunked or not)."""

    def __init__(self, port, token, enterprise):
        super().__init__(daemon=True)
        self.port, self.token, self.enterprise = port, token, enterprise
        self.cv = threading.Condition()
        self.raised = {}  # sample ts -> monotonic receive time
        self.events = 0
        self.alarm_events = 0
        self.error = None
        self.connected = threading.Event()
        self.stop = False

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the main thread
            self.error = repr(e)
            self.connected.set()

    def _run(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall((f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                   f"Authorization: Bearer {self.token}\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                raise RuntimeError("SSE: connection closed in headers")
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n")[0]
        if b" 200" not in status:
            raise RuntimeError(f"SSE: {status!r}")
        chunked = b"transfer-encoding: chunked" in head.lower()
        self.connected.set()
        raw = buf  # undecoded bytes
        text = b""  # decoded stream
        while not self.stop:
            # decode what we have
            if chunked:
                while True:
                    i = raw.find(b"\r\n")
                    if i < 0:
                        break
                    size = int(raw[:i].split(b";")[0] or b"0", 16)
                    if len(raw) < i + 2 + size + 2:
                        break
                    text += raw[i + 2:i + 2 + size]
                    raw = raw[i + 2 + size + 2:]
                    if size == 0:
                        return
            else:
                text += raw
                raw = b""
            while b"\n\n" in text:
                block, text = text.split(b"\n\n", 1)
                self._event(block, time.monotonic())
            d = s.recv(65536)
            if not d:
                return
            raw += d

    def _event(self, block, t):
        ev, data = "message", []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                ev = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        self.events += 1
        if ev != "alarm" or not data:
            return
        try:
            o = json.loads(b"\n".join(data))
        except ValueError:
            return
        if o.get("enterprise_id") != self.enterprise or o.get("action") != "raise":
            return
        ts = o.get("ts")
        if isinstance(ts, int) and ts > 10**11:  # the envelope's ts is in ms (9c7e85a)
            ts //= 1000
        with self.cv:
            self.alarm_events += 1
            self.raised.setdefault(ts, t)
            self.cv.notify_all()


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[int(p * (len(xs) - 1) + 0.5)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingest-port", type=int, required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--point", required=True)
    ap.add_argument("--enterprise", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--base-ts", type=int, required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--period-ms", type=float, default=200)
    ap.add_argument("--poll-ms", type=float, default=5)
    ap.add_argument("--timeout-s", type=float, default=5)
    ap.add_argument("--rows", default="/dev/null")
    a = ap.parse_args()

    sse = Sse(a.api_port, a.token, a.enterprise)
    sse.start()
    if not sse.connected.wait(10) or sse.error:
        print(f"alarm_probe: SSE did not connect: {sse.error}", file=sys.stderr)
        return 1
    time.sleep(0.3)  # the hub resumes the stream once; let the hello pass

    ing = http.client.HTTPConnection("127.0.0.1", a.ingest_port, timeout=30)
    api = http.client.HTTPConnection("127.0.0.1", a.api_port, timeout=30)
    ihdr = {"Content-Type": "application/json", "X-Api-Key": a.key}
    ahdr = {"Authorization": f"Bearer {a.token}"}

    def post(ts, value, tag):
        body = json.dumps({"readings": [{"point": a.point, "ts": iso(ts), "value": value}]})
        h = dict(ihdr)
        h["Idempotency-Key"] = f"probe-{a.base_ts}-{tag}"
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
                j = json.loads(data)
                if j.get("accepted") != 1:
                    raise RuntimeError(f"probe reading not accepted: {data[:300]!r}")
                return t0, t1
            if r.status in (429, 503):
                time.sleep(0.1)
                continue
            raise RuntimeError(f"probe POST: HTTP {r.status}: {data[:300]!r}")
        raise RuntimeError("probe POST: no 200 after 20 attempts")

    path = f"/api/v1/alarms?enterprise={a.enterprise}&open=true&limit=5"

    def poll(value):
        t0 = time.monotonic()
        try:
            api.request("GET", path, headers=ahdr)
            r = api.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            api.close()
            return False, t0, time.monotonic()
        t1 = time.monotonic()
        if r.status != 200:
            raise RuntimeError(f"alarm list: HTTP {r.status}: {data[:300]!r}")
        for it in json.loads(data).get("items", []):
            v = it.get("value")
            if v is not None and abs(v - value) < 1e-6 and (it.get("point") or {}).get("code") == a.point:
                return True, t0, t1
        return False, t0, t1

    rows = open(a.rows, "w")
    rows.write("cycle\tts\tvalue\tack_ms\tapi_ms\tsse_ms\tpolls\n")
    api_lat, sse_lat, ack_lat, poll_ms = [], [], [], []
    api_miss = sse_miss = 0
    period = a.period_ms / 1000.0
    t_next = time.monotonic()
    for k in range(a.warmup + a.count):
        now = time.monotonic()
        if t_next > now:
            time.sleep(t_next - now)
        t_cycle = time.monotonic()
        ts = a.base_ts + 2 * k
        value = round(90 + (k % 1000) / 10.0, 1)
        t_send, t_ack = post(ts, value, f"h{k}")
        t_api = t_sse = None
        polls = 0
        deadline = t_ack + a.timeout_s
        next_poll = t_ack
        while (t_api is None or t_sse is None) and time.monotonic() < deadline:
            if t_api is None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + a.poll_ms / 1000.0
                found, q0, q1 = poll(value)
                polls += 1
                poll_ms.append((q1 - q0) * 1000)
                if found:
                    t_api = q1
            with sse.cv:
                t_sse = sse.raised.get(ts)
                if t_sse is None:
                    wait = max(0.0, next_poll - time.monotonic()) if t_api is None else \
                        max(0.0, deadline - time.monotonic())
                    sse.cv.wait(min(wait, 0.05))
                    t_sse = sse.raised.get(ts)
        if sse.error:
            print(f"alarm_probe: SSE failed: {sse.error}", file=sys.stderr)
            return 1
        # clear: a normal reading PERIOD after the raise (or at once if that has passed)
        now = time.monotonic()
        if t_cycle + period > now:
            time.sleep(t_cycle + period - now)
        post(ts + 1, 50.0, f"n{k}")
        t_next = t_cycle + 2 * period
        ams = (t_api - t_ack) * 1000 if t_api is not None else None
        sms = (t_sse - t_ack) * 1000 if t_sse is not None else None
        rows.write(f"{k}\t{ts}\t{value}\t{(t_ack - t_send) * 1000:.1f}\t"
                   f"{'' if ams is None else f'{ams:.1f}'}\t{'' if sms is None else f'{sms:.1f}'}\t{polls}\n")
        if k < a.warmup:
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
    sse.stop = True
    rows.close()

    def out(k, v):
        print(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}")

    out("alarms", a.count)
    out("api_seen", len(api_lat))
    out("api_missed", api_miss)
    out("api_p50_ms", pct(api_lat, 0.5))
    out("api_p90_ms", pct(api_lat, 0.9))
    out("api_p99_ms", pct(api_lat, 0.99))
    out("api_max_ms", max(api_lat) if api_lat else float("nan"))
    out("sse_seen", len(sse_lat))
    out("sse_missed", sse_miss)
    out("sse_before_ack", sum(1 for x in sse_lat if x < 0))
    out("sse_p50_ms", pct(sse_lat, 0.5))
    out("sse_p90_ms", pct(sse_lat, 0.9))
    out("sse_p99_ms", pct(sse_lat, 0.99))
    out("sse_max_ms", max(sse_lat) if sse_lat else float("nan"))
    out("probe_ack_p50_ms", pct(ack_lat, 0.5))
    out("probe_ack_p99_ms", pct(ack_lat, 0.99))
    out("list_request_p50_ms", pct(poll_ms, 0.5))
    out("list_request_p99_ms", pct(poll_ms, 0.99))
    out("sse_events_total", sse.events)
    return 0


if __name__ == "__main__":
    sys.exit(main())
