"""Live-event streams (GET /api/v1/events) end with their credential (issue 12 item 3).

An open stream re-checks its session or API key every event_stream_check_s
(and at once when this process logs out, changes a password or revokes a
key); a stream whose credential is no longer valid gets a final
`event: end` with the reason and is closed.  Revocations made elsewhere
(another server process, an operator in psql) are caught by the periodic
check.  An open stream counts as activity of its session: session_idle_timeout_s
does not end a dashboard that is watching."""
import http.client
import json
import subprocess
import threading
import time

import dwtest as t
from test_api import PW, City

CHECK_S = 2  # event_stream_check_s for these tests (default 5)


class Stream:
    """Reads an SSE stream in a thread; records (arrival time, text)."""

    def __init__(self, port, headers):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/v1/events", headers=headers)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, (self.resp.status, self.resp.read()[:300])
        self.text, self.ended_at, self.lock = "", None, threading.Lock()
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        while True:
            try:
                chunk = self.resp.read1(65536)  # decodes the chunks: b"" at the end of the response
            except (OSError, ValueError, AttributeError, http.client.HTTPException):
                chunk = b""
            if not chunk:
                self.ended_at = time.monotonic()
                return
            with self.lock:
                self.text += chunk.decode()

    def has(self, marker):
        with self.lock:
            return marker in self.text

    def close(self):
        self.conn.close()


def publish(c, marker, enterprise):
    msg = {"type": "alarm", "action": "raise", "id": marker, "enterprise_id": enterprise["id"],
           "district_id": None, "street_id": None, "ts": int(time.time() * 1000), "kind": "high"}
    subprocess.run(["redis-cli", "-p", t.REDIS_PORT, "PUBLISH", "dw:events", json.dumps(msg)],
                   check=True, capture_output=True)


def ends_after(c, s, revoke, base, budget, grace=1.0, enterprise=None):
    """Proves the stream live, revokes, then publishes until the stream ends:
    it must end within budget seconds and carry nothing published after
    revoke + grace."""
    enterprise = enterprise or c.a1
    publish(c, base, enterprise)
    t.wait_for(lambda: s.has('"id": %d' % base), timeout=3, step=0.02, what="stream delivers")
    revoked = time.monotonic()
    revoke()
    late = []
    n = base + 1
    while s.ended_at is None and time.monotonic() - revoked < budget + 3:
        time.sleep(0.2)
        if time.monotonic() - revoked > grace:
            publish(c, n, enterprise)
            late.append(n)
            n += 1
    assert s.ended_at is not None, f"the stream was still open {budget + 3} s after the revocation:\n{s.text[-400:]}"
    took = s.ended_at - revoked
    assert took < budget, f"the stream ended {took:.2f} s after the revocation (budget {budget} s)"
    for m in late:
        assert '"id": %d' % m not in s.text, f"event {m} published after the revocation was delivered:\n{s.text[-600:]}"
    assert "event: end" in s.text, s.text[-300:]
    return s.text


def test_logout_ends_the_stream():
    c = City(event_stream_check_s=CHECK_S)
    try:
        # bearer token, logged out from another connection: ends at once (generation bump)
        token = c.login("a1.manager")
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        logout = lambda: c.srv.api("POST", "/api/v1/auth/logout", headers={"Authorization": "Bearer " + token})
        text = ends_after(c, s, lambda: assert_ok(logout()), 1000, budget=CHECK_S + 2)
        assert "session_ended" in text, text[-300:]
        s.close()
        # the session cookie, as the dashboard sends it
        token = c.login("a1.manager")
        s = Stream(c.srv.api_port, {"Cookie": "dw_session=" + token})
        ends_after(c, s, lambda: assert_ok(c.srv.api("POST", "/api/v1/auth/logout",
                                                     headers={"Authorization": "Bearer " + token})),
                   1100, budget=CHECK_S + 2)
        s.close()
        # a password change revokes the account's other sessions: their streams end too
        other = c.login("a2.manager")
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + other})
        pw = lambda: assert_ok(c.call("a2.manager", "POST", "/api/v1/auth/password",
                                      {"current_password": PW,
                                       "new_password": "Another-Stream-Pass-2026#"}))
        publish(c, 1150, c.a2)
        t.wait_for(lambda: s.has('"id": 1150'), timeout=3, step=0.02, what="stream delivers")
        t0 = time.monotonic()
        pw()
        t.wait_for(lambda: s.ended_at is not None, timeout=CHECK_S + 2, step=0.05, what="stream ends")
        assert s.ended_at - t0 < CHECK_S + 2
        s.close()
    finally:
        c.close()


def assert_ok(r):
    assert r[0] == 200, r
    return r


def test_revoked_api_key_ends_the_stream():
    c = City(event_stream_check_s=CHECK_S)
    try:
        a1 = c.a1["id"]
        st, _, key = c.call("a1.manager", "POST", f"/api/v1/enterprises/{a1}/api-keys", {"label": "stream"})
        assert st == 201, key
        s = Stream(c.srv.api_port, {"X-Api-Key": key["key"]})
        text = ends_after(c, s, lambda: assert_ok(c.call("a1.manager", "DELETE", f"/api/v1/api-keys/{key['id']}")),
                          2000, budget=CHECK_S + 2)
        assert "key_revoked" in text, text[-300:]
        s.close()
        # a stream of another, live key is untouched
        st, _, key2 = c.call("a1.manager", "POST", f"/api/v1/enterprises/{a1}/api-keys", {"label": "stream2"})
        assert st == 201, key2
        s2 = Stream(c.srv.api_port, {"X-Api-Key": key2["key"]})
        time.sleep(CHECK_S + 1)
        publish(c, 2500, c.a1)
        t.wait_for(lambda: s2.has('"id": 2500'), timeout=3, step=0.02, what="a live key's stream delivers")
        assert s2.ended_at is None
        s2.close()
    finally:
        c.close()


def test_revocation_elsewhere_is_caught_by_the_periodic_check():
    c = City(event_stream_check_s=CHECK_S)
    try:
        token = c.login("a1.manager")
        sid = c.db.scalar("SELECT max(id) FROM sessions WHERE account_id = "
                          "(SELECT id FROM accounts WHERE username = 'a1.manager')")
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        # another node's logout: the row changes, this process hears nothing
        ends_after(c, s, lambda: c.db.sql(f"UPDATE sessions SET revoked_at = now() WHERE id = {sid}"),
                   3000, budget=CHECK_S + 2, grace=CHECK_S + 0.5)
        s.close()
        # an API key revoked in the database
        a1 = c.a1["id"]
        st, _, key = c.call("a1.manager", "POST", f"/api/v1/enterprises/{a1}/api-keys", {"label": "psql"})
        assert st == 201, key
        s = Stream(c.srv.api_port, {"X-Api-Key": key["key"]})
        ends_after(c, s, lambda: c.db.sql(f"UPDATE api_keys SET revoked_at = now() WHERE id = {key['id']}"),
                   3100, budget=CHECK_S + 2, grace=CHECK_S + 0.5)
        s.close()
        # an account disabled by an operator
        token = c.login("a2.manager")
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        ends_after(c, s, lambda: c.db.sql("UPDATE accounts SET disabled = true WHERE username = 'a2.manager'"),
                   3200, budget=CHECK_S + 2, grace=CHECK_S + 0.5, enterprise=c.a2)
        s.close()
    finally:
        c.close()


def test_an_open_stream_keeps_its_session_alive():
    """A watching dashboard is in use: the stream counts as activity of its
    session, so session_idle_timeout_s ends neither the stream nor the session."""
    c = City(event_stream_check_s=1, session_idle_timeout_s=3)
    try:
        token = c.login("a1.manager")
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        time.sleep(5)
        publish(c, 4000, c.a1)
        t.wait_for(lambda: s.has('"id": 4000'), timeout=3, step=0.02, what="stream still delivers")
        assert s.ended_at is None
        assert c.srv.api("GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + token})[0] == 200
        s.close()
        # without a stream the idle timeout still applies
        other = c.login("a2.manager")
        time.sleep(3.5)
        assert c.srv.api("GET", "/api/v1/auth/me", headers={"Authorization": "Bearer " + other})[0] == 401
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_logout_ends_the_stream, test_revoked_api_key_ends_the_stream,
           test_revocation_elsewhere_is_caught_by_the_periodic_check,
           test_an_open_stream_keeps_its_session_alive])
