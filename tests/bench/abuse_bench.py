#!/usr/bin/env python3
"""Abuse figures (issue 11, items 6-7), not a test: prints numbers.

    PYTHONPATH=tests/integration DW_BIN=build/dustwatch \\
        python3 tests/bench/abuse_bench.py          # with the services' env loaded

Default configuration of the server (header deadline 10 s, body 30 s), roles
ingest,api, clients on 127.0.x.y loopback addresses (the per-IP caps apply per
address):
  1. 500 slowloris clients (a header line every second) and 200 slow-body clients
     (a byte every second) on each listener: how many are still open 2 s after
     their deadline (aim 0).
  2. a legitimate client's latency (fresh connection + GET /healthz on the ingest
     listener, 400 samples, p50/p99): quiet, then during 500 slowloris + 2,000 idle
     connections (aim p99 <= 2x quiet).
  3. descriptor exhaustion: the limit of the running server lowered to 100
     (prlimit), 150 clients on each listener for 5 s: log lines per second per
     message (aim <= 1), CPU seconds used.
"""
import collections
import os
import re
import socket
import subprocess
import sys
import time

import dwtest as t


def connect(port, source):
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def is_closed(s):
    s.setblocking(False)
    try:
        return s.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def addr(i, net=5, per=25):
    return f"127.0.{net}.{i // per + 1}"


def open_slow(port, n, body, net):
    socks = []
    for i in range(n):
        s = connect(port, addr(i, net))
        head = "POST /ingest/v1/readings HTTP/1.1\r\nHost: x\r\n"
        if body:
            head += "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        s.sendall(head.encode())
        socks.append(s)
    return socks


def still_open_after(socks, piece, seconds):
    end = time.time() + seconds
    open_ = list(socks)
    while time.time() < end:
        nxt = []
        for s in open_:
            try:
                s.send(piece)
                if not is_closed(s):
                    nxt.append(s)
            except OSError:
                pass
        open_ = nxt
        time.sleep(1)
    return len(open_)


def latency(port, n=400):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        s = connect(port, "127.0.0.1")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        s.close()
        assert data.startswith(b"HTTP/1.1 200"), data[:80]
        out.append((time.perf_counter() - t0) * 1000)
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99) - 1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    db = t.Database()
    srv = t.Server(db, roles="ingest,api")
    try:
        hd = 10
        print(f"1. slow clients (header deadline {hd} s, body deadline 30 s)")
        for name, port in (("ingest", srv.ingest_port), ("api", srv.api_port)):
            heads = open_slow(port, 500, False, 5)
            left = still_open_after(heads, b"X-a: b\r\n", hd + 2)
            print(f"   {name}: 500 slowloris, still open at {hd + 2} s: {left}")
            for s in heads:
                s.close()
            bodies = open_slow(port, 200, True, 6)
            left = still_open_after(bodies, b" ", hd + 30 + 2)
            print(f"   {name}: 200 slow bodies, still open at {hd + 32} s: {left}")
            for s in bodies:
                s.close()
        time.sleep(1)
        print("2. legitimate client, fresh connection + GET /healthz on the ingest listener")
        q50, q99 = latency(srv.ingest_port)
        print(f"   quiet:                      p50 {q50:.2f} ms  p99 {q99:.2f} ms")
        slow = open_slow(srv.ingest_port, 500, False, 7)
        idle = [connect(srv.ingest_port, addr(i, 8, 50)) for i in range(2000)]
        l50, l99 = latency(srv.ingest_port)
        print(f"   500 slow + 2,000 idle open: p50 {l50:.2f} ms  p99 {l99:.2f} ms"
              f"  (p99 ratio {l99 / q99:.2f})")
        for s in slow + idle:
            s.close()
        time.sleep(1)
        print("3. descriptor exhaustion (prlimit --nofile=100 on the running server)")
        pid = srv.proc.pid
        subprocess.run(["prlimit", f"--pid={pid}", "--nofile=100:100"], check=True)
        log_from = os.path.getsize(srv.log.name)
        cpu0, t0 = cpu_seconds(pid), time.time()
        socks = [connect(p, addr(i, 9, 10)) for p in (srv.ingest_port, srv.api_port) for i in range(150)]
        time.sleep(5)
        cpu, wall = cpu_seconds(pid) - cpu0, time.time() - t0
        with open(srv.log.name, errors="replace") as f:
            f.seek(log_from)
            text = f.read()
        per = collections.Counter()
        for ln in text.splitlines():
            m = re.match(r'ts=(\S+?)\.\d+Z level=\S+ msg=("[^"]*"|\S+)', ln)
            per[(m.group(1), m.group(2)) if m else ("-", ln[:60])] += 1
        msgs = collections.Counter(k[1] for k in per)
        print(f"   {len(text.splitlines())} log lines in {wall:.1f} s; most per second for one message:"
              f" {max(per.values(), default=0)}; CPU {cpu:.2f} s in {wall:.1f} s")
        for m, n in msgs.most_common(5):
            print(f"     {m}: {n} lines")
        for s in socks:
            s.close()
        ok = all(t.wait_for(lambda p=p: t.request(p, "GET", "/healthz")[0] == 200, 20)
                 for p in (srv.ingest_port, srv.api_port))
        print(f"   both listeners answer again after the clients left: {ok}")
    finally:
        srv.stop()
        db.drop()


if __name__ == "__main__":
    sys.exit(main())
