"""Abuse and fairness on both listeners: slow clients (total deadlines for headers and
body, connection caps), descriptor exhaustion, rate limits and a fair writer queue.
The clients speak raw sockets: http.client cannot trickle a request."""
import collections
import os
import re
import socket
import subprocess
import threading
import time
import http.client
import json
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures

# short deadlines, long idle timeouts: only a total deadline can close a trickler
DEADLINES = dict(ingest_header_timeout_s=2, ingest_body_timeout_s=3, ingest_timeout_s=60,
                 api_header_timeout_s=2, api_body_timeout_s=3, api_connection_timeout_s=60)


def connect(port, source="127.0.0.1", timeout=5.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0))


def closed_by_server(s):
    """True once the server closed s (EOF or reset); never blocks."""
    s.setblocking(False)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def trickle(socks, piece, seconds):
    """Sends piece on every open socket every 0.25 s for at most seconds; returns
    how many the server closed."""
    open_ = list(socks)
    deadline = time.time() + seconds
    while open_ and time.time() < deadline:
        still = []
        for s in open_:
            try:
                s.send(piece)
                if not closed_by_server(s):
                    still.append(s)
            except OSError:
                pass
        open_ = still
        time.sleep(0.25)
    return len(socks) - len(open_)


def get_ok(port, path="/healthz", source="127.0.0.1"):
    """True when a fresh connection is answered 200 (False when it is refused)."""
    try:
        s = connect(port, source)
    except OSError:
        return False
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


class Env:
    def __init__(self, roles="ingest,api", city=False, **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db) if city else {}
        self.srv = t.Server(self.db, roles=roles, **cfg)

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def slow_clients(port, n, headers_done):
    socks = []
    for _ in range(n):
        s = connect(port)
        head = "POST /ingest/v1/readings HTTP/1.1\r\nHost: x\r\n"
        if headers_done:
            head += "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        s.sendall(head.encode())
        socks.append(s)
    return socks


def test_slow_headers_and_bodies_are_cut_at_the_deadline():
    """A client that trickles its headers (slowloris) or its body one piece at a time
    never lets the idle timeout (60 s here) expire; the total deadlines (2 s for headers,
    3 s for the body) close it anyway, on both listeners, and a normal request is still
    answered."""
    e = Env(**DEADLINES)
    try:
        for port in (e.srv.ingest_port, e.srv.api_port):
            heads = slow_clients(port, 20, headers_done=False)
            n = trickle(heads, b"X-a: b\r\n", 20)
            assert n == 20, f"port {port}: {n} of 20 header tricklers closed"
            bodies = slow_clients(port, 20, headers_done=True)
            n = trickle(bodies, b" ", 20)
            assert n == 20, f"port {port}: {n} of 20 body tricklers closed"
            for s in heads + bodies:
                s.close()
            assert get_ok(port)
        log = e.srv.logtext()
        assert "header_deadline" in log and "body_deadline" in log, log
    finally:
        e.close()


def test_a_keep_alive_connection_serves_requests_within_the_deadlines():
    """The header deadline starts again with every request: a client sending complete
    requests on one connection keeps it for longer than one deadline."""
    e = Env(**DEADLINES)
    try:
        for port in (e.srv.ingest_port, e.srv.api_port):
            s = connect(port)
            t0 = time.time()
            while time.time() - t0 < 3.5:  # longer than one 2 s header deadline
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                data = s.recv(65536)
                assert data.startswith(b"HTTP/1.1 200"), data
                time.sleep(0.5)
            s.close()
    finally:
        e.close()


def test_connection_caps_per_ip_and_in_total():
    """Above the per-IP cap a new connection of that IP is closed at once, other IPs are
    still served; above the total cap every new connection is closed at once.  The
    ingest listener had neither cap; libmicrohttpd (the API) left a connection above
    its total cap waiting unanswered in the kernel's backlog."""
    e = Env(ingest_per_ip_limit=5, ingest_max_connections=12, api_per_ip_limit=5,
            api_connection_limit=12)
    try:
        for port in (e.srv.ingest_port, e.srv.api_port):
            mine = [connect(port) for _ in range(8)]
            t.wait_for(lambda: sum(closed_by_server(s) for s in mine) >= 3, 10,
                       what="connections above the per-IP cap closed")
            time.sleep(0.5)
            assert sum(closed_by_server(s) for s in mine) == 3, port
            assert get_ok(port, source="127.0.0.2")
            # the server forgets that connection in its own time after closing it (the API's
            # completion callback, libevent's free): give it that before filling the cap exactly
            time.sleep(1.0)
            others = [connect(port, source=f"127.0.1.{i // 4 + 1}") for i in range(7)]
            late = connect(port, source="127.0.2.1")
            t.wait_for(lambda: closed_by_server(late), 10,
                       what=f"port {port}: a connection above the total cap closed")
            assert not any(closed_by_server(s) for s in others), port
            others.pop().close()
            t.wait_for(lambda: get_ok(port, source="127.0.2.1"), 10,
                       what=f"port {port}: a connection below the total cap again served")
            for s in mine + others + [late]:
                s.close()
        assert "ingest_per_ip_limit" in e.srv.logtext()
    finally:
        e.close()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worst_lines_per_second(text):
    """The most lines one message wrote within one second (lines that are not ours
    count under their first 60 characters, all in one second)."""
    counts = collections.Counter()
    for ln in text.splitlines():
        m = re.match(r'ts=(\S+?)\.\d+Z level=\S+ msg=("[^"]*"|\S+)', ln)
        counts[(m.group(1), m.group(2)) if m else ("-", ln[:60])] += 1
    return max(counts.values(), default=0), counts.most_common(3)


def test_descriptor_exhaustion_backs_off_and_recovers():
    """With the descriptor limit lowered under a running server (prlimit) and more
    clients than descriptors on both listeners, the process neither spins nor floods
    its log (at most ~1 line per second per message), a waiting ingest client is told
    503 through the reserve descriptor, and once the clients leave both listeners
    answer again."""
    e = Env(ingest_per_ip_limit=100000, api_per_ip_limit=100000)
    socks = []
    try:
        pid = e.srv.proc.pid
        subprocess.run(["prlimit", f"--pid={pid}", "--nofile=100:100"], check=True)
        log_from = os.path.getsize(e.srv.log.name)
        cpu0, t0 = cpu_seconds(pid), time.time()
        for port in (e.srv.ingest_port, e.srv.api_port):
            for i in range(150):
                socks.append(connect(port, source=f"127.0.4.{i % 50 + 1}"))
        time.sleep(3)
        cpu, wall = cpu_seconds(pid) - cpu0, time.time() - t0
        with open(e.srv.log.name, errors="replace") as f:
            f.seek(log_from)
            text = f.read()
        worst, common = worst_lines_per_second(text)
        assert worst <= 2, (worst, common)
        assert "ingest accept failed" in text and "api accept failed" in text, text[-2000:]
        assert cpu < 0.5 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s"
        told = b""
        for s in socks[:150]:
            s.setblocking(False)
            try:
                told += s.recv(65536)
            except OSError:
                pass
        assert b"HTTP/1.1 503" in told and b"Retry-After: 1" in told and b"overloaded" in told
        for s in socks:
            s.close()
        socks = []
        for port in (e.srv.ingest_port, e.srv.api_port):
            t.wait_for(lambda: get_ok(port), 15, what=f"port {port} answering again")
    finally:
        for s in socks:
            s.close()
        e.close()


def readings(ent, n, start, step=1):
    code = ent["points"]["hopper_temp"][0]
    return {"readings": [{"point": code, "ts": (start + timedelta(seconds=i * step)).isoformat(),
                          "value": 30.0 + i % 7} for i in range(n)]}


def post(port, key, body, source="127.0.0.1", sent=None):
    """POST /ingest/v1/readings from source; (status, headers, parsed body).  sent (an
    Event) is set once the whole request is written."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    try:
        c.request("POST", "/ingest/v1/readings",
                  body if isinstance(body, bytes) else json.dumps(body).encode(),
                  {"Content-Type": "application/json", "X-Api-Key": key})
        if sent:
            sent.set()
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data)
    finally:
        c.close()


def at_once(fn, args_list):
    """Runs fn(*args) for every args on its own thread at the same time; the results
    in order.  Rates here are 1 token a second: requests sent together outrun them
    however slow the machine is."""
    out = [None] * len(args_list)

    def one(i, args):
        out[i] = fn(*args)

    ths = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(args_list)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(120)
    return out


def test_rate_limits_answer_429_with_retry_after():
    """Per credential and per client IP, a request above the rate gets 429 rate_limited
    with Retry-After before any work (nothing of it is stored); another credential, or
    the same credential from another address within its own rate, is still served."""
    e = Env(city=True, ingest_rate_credential_per_s=1, ingest_rate_credential_burst=3,
            ingest_rate_ip_per_s=1, ingest_rate_ip_burst=30)
    try:
        a, b = list(e.ents.values())[:2]
        port = e.srv.ingest_port
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        got = at_once(post, [(port, a["api_key"], readings(a, 1, start + timedelta(seconds=i)))
                             for i in range(12)])
        ok = [g for g in got if g[0] == 200]
        limited = [g for g in got if g[0] == 429]
        assert len(ok) >= 3 and limited and len(ok) + len(limited) == 12, [g[0] for g in got]
        for st, h, body in limited:
            assert body["code"] == "rate_limited" and int(h["retry-after"]) >= 1, (h, body)
            assert "credential" in body["detail"], body
        assert int(e.db.scalar("SELECT count(*) FROM readings")) == len(ok)
        st, _, _ = post(port, b["api_key"], readings(b, 1, start), source="127.0.0.3")
        assert st == 200, st
        # the address: whatever the keys (unknown ones are 401), 429 once its bucket is empty
        sts = at_once(post, [(port, fixtures.api_key(), readings(a, 1, start), "127.0.0.2")
                             for _ in range(45)])
        by_ip = [g for g in sts if g[0] == 429]
        assert by_ip and all("address" in g[2]["detail"] for g in by_ip), [g[0] for g in sts]
        assert {g[0] for g in sts} <= {401, 429}, [g[0] for g in sts]
    finally:
        e.close()


def api_get(port, token):
    return t.request(port, "GET", "/api/v1/enterprises", headers={"Authorization": "Bearer " + token})


def head_only_post(port, token):
    """Sends a POST's headers (Content-Length 5000) and no body; what comes back within
    5 s (b"" when nothing: the server waits for the body)."""
    s = connect(port)
    try:
        s.sendall(b"POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 5000\r\n\r\n")
        s.settimeout(5)
        try:
            return s.recv(65536)
        except socket.timeout:
            return b""
    finally:
        s.close()


def test_api_rate_limits_answer_429_before_the_body():
    """The API's too_many_requests (in the registry, never sent before): per credential
    (whatever it is worth) and per address, with Retry-After, decided on the headers:
    a limited client's body is never waited for."""
    e = Env(api_rate_credential_per_s=1, api_rate_credential_burst=3, api_rate_ip_per_s=1,
            api_rate_ip_burst=30, api_body_timeout_s=3)
    try:
        port = e.srv.api_port
        got = at_once(api_get, [(port, "same-token")] * 12)
        limited = [g for g in got if g[0] == 429]
        assert limited and {g[0] for g in got} <= {401, 429}, [g[0] for g in got]
        for st, h, body in limited:
            assert body["code"] == "too_many_requests" and int(h["retry-after"]) >= 1, (h, body)
            assert "credential" in body["detail"], body
        heads = at_once(head_only_post, [(port, "other-token")] * 12)
        assert any(h.startswith(b"HTTP/1.1 429") for h in heads), heads
        sts = at_once(api_get, [(port, f"token-{i}") for i in range(45)])
        assert 429 in [g[0] for g in sts], [g[0] for g in sts]
        assert get_ok(port, source="127.0.0.2")
    finally:
        e.close()


def test_writer_queue_is_fair_between_enterprises():
    """Enterprise A sends four 10,000-reading batches at once, then B one reading: B's
    answer comes before A's second batch is committed (the old queue took A's batches
    first, in groups, on both writers, and B waited behind them)."""
    e = Env(city=True, ingest_writers=2)
    try:
        a, b = list(e.ents.values())[:2]
        port = e.srv.ingest_port
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
        order, lock, results = [], threading.Lock(), []

        def send(name, ent, body, sent=None):
            st, _, r = post(port, ent["api_key"], body, sent=sent)
            with lock:
                order.append(name)
                results.append((name, st, r))

        bodies = [json.dumps(readings(a, 10000, start + timedelta(hours=3 * i))).encode()
                  for i in range(4)]
        sent = [threading.Event() for _ in bodies]
        big = [threading.Thread(target=send, args=(f"A{i}", a, bodies[i], sent[i]))
               for i in range(4)]
        for th in big:
            th.start()
        for ev in sent:
            assert ev.wait(60)
        time.sleep(0.05)  # the loop has read the last body (no assert depends on it)
        small = threading.Thread(target=send, args=("B", b, readings(b, 1, start)))
        small.start()
        for th in big + [small]:
            th.join(300)
        assert all(st == 200 for _, st, _ in results), results
        assert order.index("B") <= 1, order
    finally:
        e.close()


if __name__ == "__main__":
    t.run([
        test_slow_headers_and_bodies_are_cut_at_the_deadline,
        test_a_keep_alive_connection_serves_requests_within_the_deadlines,
        test_connection_caps_per_ip_and_in_total,
        test_descriptor_exhaustion_backs_off_and_recovers,
        test_rate_limits_answer_429_with_retry_after,
        test_api_rate_limits_answer_429_before_the_body,
        test_writer_queue_is_fair_between_enterprises,
    ])


def reply_complete(data):
    """True once data holds a reply's headers and its whole Content-Length body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    return bool(sep) and m is not None and len(body) >= int(m.group(1))


def head_only_ingest(port, headers, length=50000000, path="/ingest/v1/readings"):
    """Sends an ingest POST's headers (Content-Length length) and no body byte; the
    status and JSON body of what comes back within 10 s ((None, None): nothing, the
    server waits for the body)."""
    s = connect(port, timeout=10)
    try:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"{headers}Content-Length: {length}\r\n\r\n".encode())
        data = b""
        try:
            while not reply_complete(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        if not data.startswith(b"HTTP/1.1 "):
            return None, None
        head, _, body = data.partition(b"\r\n\r\n")
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = body[:200]
        return int(head[9:12]), parsed
    finally:
        s.close()


def test_ingest_refuses_on_the_headers_before_the_body():
    """The ingest listener decides what it can without the database on the headers:
    no credential (401 unauthenticated), a declared body above ingest_max_body
    (413 body_too_large), a credential or address over its rate (429 rate_limited),
    each in the registry's shape, without waiting for (or reading) the body.  The
    body deadline (60 s) is far beyond the 10 s the client waits."""
    e = Env(city=True, ingest_max_body=1048576, ingest_body_timeout_s=60,
            ingest_rate_credential_per_s=1, ingest_rate_credential_burst=3,
            ingest_rate_ip_per_s=1, ingest_rate_ip_burst=1000)
    try:
        a = list(e.ents.values())[0]
        port = e.srv.ingest_port
        st, body = head_only_ingest(port, "")
        assert st in (401, 413) and isinstance(body, dict), (st, body)
        assert body["code"] == ("unauthenticated" if st == 401 else "body_too_large"), body
        st, body = head_only_ingest(port, "", length=5000)
        assert st == 401 and body["code"] == "unauthenticated", (st, body)
        assert "X-Api-Key" in body["detail"] and body["hint"], body
        st, body = head_only_ingest(port, "X-Api-Key: " + a["api_key"] + "\r\n")
        assert st == 413 and body["code"] == "body_too_large", (st, body)
        assert "1048576" in body["detail"], body
        # MEM: its appsecret header, its shape (ours)
        st, body = head_only_ingest(port, "", length=5000, path="/mem/v1/readings")
        assert st == 401 and body["code"] == "unauthenticated", (st, body)
        # a credential over its rate: 429 on the headers; within it, the body is awaited
        got = at_once(head_only_ingest, [(port, "X-Api-Key: " + a["api_key"] + "\r\n", 5000)] * 12)
        limited = [g for g in got if g[0] == 429]
        assert limited and all(g[0] in (None, 429) for g in got), got
        for st, body in limited:
            assert body["code"] == "rate_limited" and "credential" in body["detail"], body
        assert int(e.db.scalar("SELECT count(*) FROM readings")) == 0
        assert get_ok(port)
    finally:
        e.close()
