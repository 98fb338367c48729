"""Live-event streams follow scope changes (issue 12 items 3b and 4).

Item 4: the hub fills an event's district and street from the enterprise and
caches that per enterprise.  After an enterprise moved to another street the
old street kept its events for up to 10 minutes and the new street got none.
Now the move is broadcast on dw:events (published before the API answers, so
it is ordered before every later event on every node) and drops the entry in
every process; a move made elsewhere (psql, Redis down) bumps
enterprise_region_epoch in the same transaction, which every hub checks every
event_stream_check_s.

Item 3b: a stream whose account's scope changed ends with reason
scope_changed (EventSource reconnects and gets the new scope)."""
import json
import socket
import subprocess
import time

import dwtest as t
from test_api import City, admin
from test_event_streams import Stream, ends_after


def publish(marker, ent):
    """An event that names only the enterprise, as the worker's and the ingest writer's do."""
    msg = {"type": "alarm", "action": "raise", "id": marker, "enterprise_id": ent["id"],
           "district_id": None, "street_id": None, "ts": int(time.time() * 1000), "kind": "high"}
    subprocess.run(["redis-cli", "-p", t.REDIS_PORT, "PUBLISH", "dw:events", json.dumps(msg)],
                   check=True, capture_output=True)


def end(*streams):
    """Closes streams at once (a plain close waits for the reader thread's read)."""
    for s in streams:
        for sock in (getattr(s.conn, "sock", None), getattr(getattr(s.resp.fp, "raw", None), "_sock", None)):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
        s.close()


def mark(n):
    return '"id": %d' % n


def delivered(s, n, timeout=5):
    t.wait_for(lambda: s.has(mark(n)), timeout=timeout, step=0.02, what=f"event {n}")


def login(srv, user):
    st, _, b = srv.api("POST", "/api/v1/auth/login", {"username": user, "password": "Hopper-Spark-7319#"})
    assert st == 200, b
    return b["token"]


def second_street(c):
    """月浦镇, a second street of 宝山区, with a street account."""
    c.db.sql("INSERT INTO regions (code, name, level, kind, parent_id) "
             "SELECT '310113104', '月浦镇', 'street', 'town', id FROM regions WHERE code = '310113'")
    admin(c.db, "create-account", "--username", "yuepu.staff", "--role", "street_staff", "--region", "310113104")


def test_move_reaches_streams_on_another_node_at_once():
    # the periodic epoch check at its longest: what this test sees comes from the broadcast
    c = City(event_stream_check_s=14)
    other = None
    try:
        second_street(c)
        other = t.Server(c.db, roles="api", event_stream_check_s=14)
        a_stream = Stream(other.api_port, {"Authorization": "Bearer " + login(other, "luodian.staff")})
        b_stream = Stream(other.api_port, {"Authorization": "Bearer " + login(other, "yuepu.staff")})
        # the hub of the other node caches a1 in 罗店镇
        publish(100, c.a1)
        delivered(a_stream, 100)
        st, _, b = c.call("baoshan.admin", "PATCH", f"/api/v1/enterprises/{c.a1['id']}", {"street": "310113104"})
        assert st == 200, b
        # at once, on the other node: 月浦镇 gets a1's events, 罗店镇 no longer
        publish(101, c.a1)
        delivered(b_stream, 101, timeout=5)
        publish(102, c.a2)  # a2 stays in 罗店镇: once 罗店镇 has it, it had its chance at 101
        delivered(a_stream, 102)
        assert not a_stream.has(mark(101)), a_stream.text[-500:]
        assert not b_stream.has(mark(100)) and not b_stream.has(mark(102)), b_stream.text[-500:]
        # the node that made the move too, and it stays that way
        a_here = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["luodian.staff"]})
        b_here = Stream(c.srv.api_port, {"Authorization": "Bearer " + login(c.srv, "yuepu.staff")})
        publish(103, c.a1)
        publish(104, c.a2)
        delivered(b_here, 103)
        delivered(a_here, 104)
        delivered(a_stream, 104)
        assert not a_here.has(mark(103)) and not a_stream.has(mark(103))
        # the REST API agrees: 罗店镇 no longer sees a1
        assert c.call("luodian.staff", "GET", f"/api/v1/enterprises/{c.a1['id']}")[0] == 404
        end(a_stream, b_stream, a_here, b_here)
    finally:
        if other:
            other.stop()
        c.close()


def test_move_made_elsewhere_reaches_streams_within_the_check_period():
    """A move no server process saw (psql): the epoch check catches it."""
    c = City(event_stream_check_s=2)
    try:
        second_street(c)
        a_stream = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["luodian.staff"]})
        b_stream = Stream(c.srv.api_port, {"Authorization": "Bearer " + login(c.srv, "yuepu.staff")})
        publish(200, c.a1)
        delivered(a_stream, 200)
        c.db.sql(f"UPDATE enterprises SET street_id = (SELECT id FROM regions WHERE code = '310113104') "
                 f"WHERE id = {c.a1['id']}")
        moved = time.monotonic()
        n = 201
        while not b_stream.has(mark(n - 1)) and time.monotonic() - moved < 2 + 4:
            publish(n, c.a1)
            n += 1
            time.sleep(0.2)
        first = next((k for k in range(201, n) if b_stream.has(mark(k))), None)
        assert first is not None, f"月浦镇 got none of a1's events within 6 s:\n{b_stream.text[-400:]}"
        publish(n, c.a1)
        publish(n + 1, c.a2)
        delivered(b_stream, n)
        delivered(a_stream, n + 1)
        late = [k for k in range(first, n + 1) if a_stream.has(mark(k))]
        assert not late, f"罗店镇 still got a1's events {late} after 月浦镇 had them"
        end(a_stream, b_stream)
    finally:
        c.close()


def test_streams_end_when_the_account_gets_another_scope():
    """No API or CLI command changes an account's scope yet: an administrator's change is
    made in the database, as another node would; the periodic check catches it."""
    c = City(event_stream_check_s=2)
    try:
        # a street account moved to another street: its stream ends, the reconnect follows
        token = c.tokens["luodian.staff"]
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        move = lambda: c.db.sql("UPDATE accounts SET region_id = (SELECT id FROM regions WHERE code = '310114102') "
                                "WHERE username = 'luodian.staff'")
        text = ends_after(c, s, move, 300, budget=2 + 2, grace=2 + 0.5, enterprise=c.a1)
        assert '"reason":"scope_changed"' in text, text[-300:]
        end(s)
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        publish(310, c.a1)
        publish(311, c.b1)
        delivered(s, 311)
        assert not s.has(mark(310)), s.text[-400:]
        end(s)
        # an enterprise account moved to another enterprise
        token = c.tokens["a1.manager"]
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        move = lambda: c.db.sql(f"UPDATE accounts SET enterprise_id = {c.a2['id']} WHERE username = 'a1.manager'")
        text = ends_after(c, s, move, 400, budget=2 + 2, grace=2 + 0.5, enterprise=c.a1)
        assert '"reason":"scope_changed"' in text, text[-300:]
        end(s)
        s = Stream(c.srv.api_port, {"Authorization": "Bearer " + token})
        publish(410, c.a1)
        publish(411, c.a2)
        delivered(s, 411)
        assert not s.has(mark(410)), s.text[-400:]
        # a stream whose scope did not change goes on
        other = Stream(c.srv.api_port, {"Authorization": "Bearer " + c.tokens["baoshan.staff"]})
        time.sleep(2 + 1)
        publish(420, c.a1)
        delivered(other, 420)
        assert other.ended_at is None
        end(s, other)
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_move_reaches_streams_on_another_node_at_once,
           test_move_made_elsewhere_reaches_streams_within_the_check_period,
           test_streams_end_when_the_account_gets_another_scope])
