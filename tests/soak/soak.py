"""T24 soak / leak run, bounded (see run.sh for what it does and asserts)."""
import argparse
import http.client
import json
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import dwtest as t
import fault_lib as f
from test_api import PW, admin
from test_series import PrivateRedis

ENTERPRISES = 10
BATCH = 100
SAMPLE_S = 15


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ingest_ms = []
        self.acked = 0
        self.statuses = {}
        self.api_ok = self.api_bad = 0
        self.sse_bytes = self.sse_reconnects = 0

    def status(self, st):
        with self.lock:
            self.statuses[st] = self.statuses.get(st, 0) + 1


def ingester(srv, ent, per_s, t0, stop, stats, rng):
    """Batches of BATCH readings whose timestamps follow real time (one
    reading every 1/per_s s), sent at that pace; each retried with its key."""
    k = 0
    period = BATCH / per_s
    next_at = time.monotonic()
    while not stop.is_set():
        body = json.dumps({"readings": [
            {"point": ent["point"], "ts": (t0 + timedelta(seconds=(k + i) / per_s)).isoformat(),
             "value": 75.0 if (k // BATCH) % 97 == 0 and i == 0 else 30.0 + (k + i) % 20}
            for i in range(BATCH)]}).encode()
        key = f"soak-{ent['code']}-{k}"
        delay = 0.1
        while not stop.is_set():
            a = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", srv.ingest_port, timeout=10)
                c.request("POST", "/ingest/v1/readings", body=body,
                          headers={"Content-Type": "application/json", "X-Api-Key": ent["api_key"],
                                   "Idempotency-Key": key})
                st = c.getresponse().status
                c.close()
            except OSError as e:
                st = type(e).__name__
            stats.status(st)
            if st == 200:
                with stats.lock:
                    stats.ingest_ms.append((time.monotonic() - a) * 1000)
                    stats.acked += BATCH
                break
            time.sleep(min(5.0, delay) * rng.uniform(0.5, 1.0))
            delay *= 2
        k += BATCH
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))


def reader(srv, token, ents, stop, stats):
    h = {"Authorization": "Bearer " + token}
    i = 0
    while not stop.is_set():
        e = ents[i % len(ents)]
        for path in ("/api/v1/enterprises", f"/api/v1/enterprises/{e['id']}/points", "/api/v1/alarms"):
            try:
                st, _, _ = t.request(srv.api_port, "GET", path, None, h, timeout=10)
            except OSError:
                st = 0
            with stats.lock:
                if st == 200:
                    stats.api_ok += 1
                else:
                    stats.api_bad += 1
        i += 1
        stop.wait(0.5)


def sse_client(srv, token, stop, stats):
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", srv.api_port, timeout=30)
            c.request("GET", "/api/v1/events", headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            while not stop.is_set():
                chunk = r.read1(65536)
                if not chunk:
                    break
                with stats.lock:
                    stats.sse_bytes += len(chunk)
            c.close()
        except (OSError, http.client.HTTPException):
            pass
        with stats.lock:
            stats.sse_reconnects += 1
        stop.wait(1)


def redis_used(rd):
    for line in rd.cli("INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--rate", type=int, default=1000, help="readings per second, all enterprises")
    a = ap.parse_args()
    run_s = a.minutes * 60
    warm_s = max(60.0, run_s / 4)
    rd = PrivateRedis()
    db = t.Database()
    srv = None
    stop = threading.Event()
    failures = []
    try:
        ents = f.make_enterprises(db, ENTERPRISES)
        admin(db, "create-account", "--username", "soak.admin", "--role", "city_admin", "--region", "310000")
        srv = t.Server(db, redis_url=rd.url, log_level="warn")
        token = srv.api("POST", "/api/v1/auth/login", {"username": "soak.admin", "password": PW})[2]["token"]
        stats = Stats()
        rng = random.Random(24)
        t0 = datetime.now(timezone.utc) - timedelta(seconds=2)
        threads = [threading.Thread(target=ingester, args=(srv, e, a.rate / ENTERPRISES, t0, stop, stats,
                                                           random.Random(rng.random()))) for e in ents]
        threads += [threading.Thread(target=reader, args=(srv, token, ents, stop, stats)) for _ in range(2)]
        threads += [threading.Thread(target=sse_client, args=(srv, token, stop, stats), daemon=True)
                    for _ in range(3)]
        for th in threads:
            th.start()
        samples = []  # (elapsed s, rss KiB, fds, pg conns, redis bytes)
        start = time.monotonic()
        print(f"soak: {a.minutes:g} min at {a.rate} readings/s, warm-up {warm_s:.0f} s", flush=True)
        print(f"{'t_s':>6} {'rss_kib':>8} {'fds':>4} {'pg':>3} {'redis_b':>9} {'acked':>9}", flush=True)
        while time.monotonic() - start < run_s:
            time.sleep(min(SAMPLE_S, max(0.0, run_s - (time.monotonic() - start))))
            if srv.proc.poll() is not None:
                failures.append(f"server exited with {srv.proc.returncode}")
                break
            s = (time.monotonic() - start, f.rss_kib(srv.proc.pid), f.fd_count(srv.proc.pid),
                 int(t.scalar(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db.name}' "
                              "AND application_name LIKE 'dustwatch%'", db="postgres")), redis_used(rd))
            samples.append(s)
            print(f"{s[0]:6.0f} {s[1]:8d} {s[2]:4d} {s[3]:3d} {s[4]:9d} {stats.acked:9d}", flush=True)
        stop.set()
        for th in threads[:ENTERPRISES + 2]:
            th.join(30)
        time.sleep(1)

        after = [s for s in samples if s[0] >= warm_s]
        if len(after) < 4:
            failures.append(f"too few samples after the warm-up ({len(after)}): run longer")
        else:
            n = max(2, len(after) // 4)
            first, last = after[:n], after[-n:]

            def med(xs, i):
                return statistics.median(x[i] for x in xs)
            rss0, rss1 = med(first, 1), med(last, 1)
            fds = [x[2] for x in after]
            pgs = [x[3] for x in after]
            red0, red1 = med(first, 4), med(last, 4)
            p = sorted(stats.ingest_ms)
            p99 = p[int(len(p) * 0.99) - 1] if p else 0
            stored = int(db.scalar("SELECT count(*) FROM readings"))
            dups = int(db.scalar("SELECT count(*) FROM (SELECT point_id, collected_at FROM readings "
                                 "GROUP BY 1, 2 HAVING count(*) > 1) d"))
            print("\nsoak figures (after the warm-up; medians of the first and last quarter):", flush=True)
            print(f"  RSS            {rss0:.0f} -> {rss1:.0f} KiB ({(rss1 - rss0) / rss0 * 100:+.1f} %)")
            print(f"  descriptors    min {min(fds)} max {max(fds)} (medians {med(first, 2):.0f} -> {med(last, 2):.0f})")
            print(f"  PG connections min {min(pgs)} max {max(pgs)}")
            print(f"  Redis memory   {red0:.0f} -> {red1:.0f} B ({(red1 - red0) / max(red0, 1) * 100:+.1f} %)")
            print(f"  ingest         {stats.acked} readings acked, stored {stored}, duplicates {dups}, "
                  f"p50 {statistics.median(p) if p else 0:.0f} ms, p99 {p99:.0f} ms, statuses {stats.statuses}")
            print(f"  API reads      {stats.api_ok} x 200, {stats.api_bad} other")
            print(f"  SSE            {stats.sse_bytes} bytes, {stats.sse_reconnects} (re)connects", flush=True)
            if rss1 > rss0 * 1.05 + 2048:
                failures.append(f"RSS grew {rss0:.0f} -> {rss1:.0f} KiB")
            # a sample also counts the sockets of requests in flight (15 clients): compare the
            # quarters' medians for a trend, and bound every sample by baseline + clients
            fd0, fd1, pg0, pg1 = med(first, 2), med(last, 2), med(first, 3), med(last, 3)
            if fd1 > fd0 + max(2, 0.05 * fd0) or max(fds) > fd0 + 15 + 0.05 * fd0:
                failures.append(f"descriptors not flat: median {fd0:.0f} -> {fd1:.0f}, range {min(fds)}..{max(fds)}")
            if pg1 > pg0 + max(2, 0.05 * pg0) or max(pgs) - min(pgs) > max(2, 0.05 * min(pgs)):
                failures.append(f"PostgreSQL connections not flat: {min(pgs)}..{max(pgs)}")
            if red1 > red0 * 1.05 + 512 * 1024:
                failures.append(f"Redis memory grew {red0:.0f} -> {red1:.0f} B")
            if p99 >= 500:
                failures.append(f"ingest p99 {p99:.0f} ms >= 500 ms")
            if stored != stats.acked or dups:
                failures.append(f"reconcile: stored {stored}, acked {stats.acked}, duplicates {dups}")
            bad = {k: v for k, v in stats.statuses.items() if k not in (200, 429, 503)}
            if bad:
                failures.append(f"answers other than 200/429/503: {bad}")
            if stats.api_bad:
                failures.append(f"{stats.api_bad} API reads failed")
    finally:
        stop.set()
        if srv:
            srv.stop()
        db.drop()
        rd.stop()
    print("\nsoak: " + ("PASS" if not failures else "FAIL\n  " + "\n  ".join(failures)), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
