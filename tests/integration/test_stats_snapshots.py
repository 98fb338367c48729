"""Statistics snapshots (issue 15, migration 0152): the worker counts the dashboard's periods
(the city's today, this week, this month, last month) for every enterprise every
stats_snapshot_s, and a statistic of one of those periods is summed from the stored figures of
its caller's enterprises.  The answers equal the live ones (counted by a server with snapshots
off, on the same database) for every period, group, filter and scope, computed_to being when
the snapshot was counted; a snapshot too old, of other bounds (the period moved on) or older
than the caller's own last write is not used; the worker refreshes them; bad settings are
refused."""
import json
import random
import subprocess
import time
from datetime import datetime, timedelta, timezone

import dwtest as t
from test_api import PW
from test_statistics import CITY, Env, ingest_readings, make_events, prev_month
from test_statistics import stats_reads as reads

GROUPS = ("none", "district", "street", "enterprise", "industry", "dust_kind", "grade")


def periods(now):
    """(name, query) of the four snapshot periods, as the dashboard asks for them."""
    last = prev_month(now.astimezone(CITY)).strftime("%Y-%m-%d")
    return [("day", "period=day"), ("week", "period=week"), ("month", "period=month"),
            ("last_month", f"period=month&date={last}")]


def get(srv, token, query):
    st, _, body = srv.api("GET", "/api/v1/statistics?" + query, headers={"Authorization": "Bearer " + token})
    assert st == 200, (query, st, body)
    return body


def login(srv, user):
    st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": user, "password": PW})
    assert st == 200, body
    return body["token"]


def refresh(e):
    r = subprocess.run([t.BIN, "admin", "refresh-statistics"], env=e.db.env(DUSTWATCH_STATS_SNAPSHOT_S="600"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "4 periods" in r.stdout, (r.returncode, r.stdout, r.stderr)


def counted_at(e):
    """computed_at of each period's snapshot, as the API writes times"""
    rows = e.system("SELECT period, to_char(computed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
                    "FROM stats_snapshots")
    return {p: datetime.fromisoformat(at).replace(tzinfo=timezone.utc) for p, at in rows}


def when(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def diff(a, b, path=""):
    """where two answers differ (the first few places)"""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k), b.get(k), f"{path}.{k}")][:5]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")][:5]
    return [] if a == b else [(path, a, b)]


def same_answers(e, snap, live, queries, users, want_snapshot=True, now_from_snapshot=False):
    """Each query by each user: the same answer from both servers but computed_to, which is the
    snapshot's time on snap (want_snapshot) or the time of the request on both, and
    points_now_as_of, the time of the newest snapshot on snap when it was counted live but took
    the points now from one (now_from_snapshot)."""
    at = counted_at(e)
    before = reads(snap).get("snapshot", 0)
    n = 0
    for user in users:
        for name, query in queries:
            a, b = get(snap, e.tokens[user], query), get(live, e.tokens[user], query)
            ca, cb = a.pop("computed_to"), b.pop("computed_to")
            # the points now: live when the request was counted, else as old as their snapshot
            # (the answer's own, or for another period the newest one)
            na, nb = when(a.pop("points_now_as_of")), when(b.pop("points_now_as_of"))
            assert nb >= when(cb), (user, query, nb, cb)
            newest = max(at.values(), default=None)
            if want_snapshot and name:
                assert na == at[name], (user, query, na, at)
            elif now_from_snapshot:
                assert na == newest, (user, query, na, at)
            else:
                assert na >= when(ca), (user, query, na, ca)
            # an interruption still open lasts until computed_to: its hours may differ by the
            # seconds between the two counts
            lag_h = abs((when(cb) - when(ca)).total_seconds()) / 3600
            for x, y in [(a["totals"], b["totals"])] + list(zip(a["rows"], b["rows"])):
                hx, hy = x["interruptions"].pop("hours"), y["interruptions"].pop("hours")
                assert abs(hx - hy) <= lag_h * x["interruptions"]["count"] + 0.011, (user, query, hx, hy, lag_h)
            assert a == b, (user, query, diff(a, b))
            if want_snapshot and name:
                assert abs((when(ca) - at[name]).total_seconds()) < 0.001 or when(ca) == when(a["to"]), \
                    (user, query, ca, at[name])
            else:
                assert when(ca) > max(at.values(), default=datetime.min.replace(tzinfo=timezone.utc)) \
                    or when(ca) == when(a["to"]), (user, query, ca)
            n += 1 if name else 0
    got = reads(snap).get("snapshot", 0) - before
    assert got == (n if want_snapshot else 0), (got, n)
    return n


def test_snapshots_answer_as_live_and_follow_writes():
    # The online figures count whole hours up to now: a snapshot counted before the top of an
    # hour and a live answer after it differ by that hour (a run that crossed 22:00 did).  The
    # comparisons take well under two minutes, so a run this close to the hour waits it out.
    to_hour = 3600 - time.time() % 3600
    if to_hour < 150:
        time.sleep(to_hour + 2)
    e = Env()
    try:
        now = datetime.now(timezone.utc)
        # the fixture's days (its boundary less 3 days, 6 days and a bit on) end more than half a
        # day ago: this week, this month and maybe last month
        e.m1 = now - timedelta(days=4, hours=12)
        # answers not reused (stats_cache_ms): each request reads a snapshot or counts
        e.start("ingest,api", stats_snapshot_s=0, connected_window_h=24, stats_cache_ms=0)
        live = e.srv
        rng = random.Random(152)
        ingest_readings(e, rng)
        make_events(e, rng)
        # and alarms of today, one of A2 active and past its acknowledgement deadline
        recent = now - timedelta(minutes=5)
        e.system("\n".join(
            f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, "
            f"state, ack_deadline, handle_deadline) VALUES ({ent['id']}, {ent['points']['hopper_temp'][1]}, "
            f"'rule', 'limit', 'high', 1, 1, '{recent.isoformat()}', 'active', "
            f"'{(recent + timedelta(minutes=1)).isoformat()}', '{(recent + timedelta(hours=2)).isoformat()}');"
            for ent in (e.a1, e.a2, e.b1)))
        snap = t.Server(e.db, roles="api", stats_snapshot_s=600, connected_window_h=24, stats_cache_ms=0)
        try:
            qs = [(name, f"{q}&group={g}") for name, q in periods(now) for g in GROUPS]
            # no snapshot yet: live
            assert same_answers(e, snap, live, qs[:7], ["city.admin"], want_snapshot=False) == 7
            refresh(e)
            assert e.system("SELECT period, count(*) FROM stats_snapshot_rows GROUP BY 1 ORDER BY 1") == [
                ["day", "3"], ["last_month", "3"], ["month", "3"], ["week", "3"]]
            # every period and group for the city; a district's and an enterprise's scope; filters
            n = same_answers(e, snap, live, qs, ["city.admin"])
            n += same_answers(e, snap, live, [(p, q) for p, q in qs if q.endswith(("=street", "=none", "=grade"))],
                              ["baoshan.admin", "a2.manager"])
            week = [(p, q) for p, q in qs if p == "week"]
            for extra in ("district=310113", "street=310114102", "industry=C3360", "dust_kind=wood",
                          "grade=red", "grade=none", f"enterprise={e.a2['id']}", "sort=alarms"):
                n += same_answers(e, snap, live, [(p, q + "&" + extra) for p, q in week[1::2]], ["city.admin"])
            assert n == 4 * 7 + 2 * 4 * 3 + 8 * 3, n
            body = get(snap, e.tokens["city.admin"], "period=week&group=enterprise")
            assert body["totals"]["alarms"]["total"] > 0 and body["totals"]["points_online"] > 0, body["totals"]
            # a custom range is counted live (no snapshot has its bounds) but for the points now,
            # which are the same for every period: the newest snapshot's
            f = (now - timedelta(days=2)).replace(minute=0, second=0, microsecond=0).isoformat()
            custom = f"period=custom&from={f.replace('+', '%2B')}&to={now.isoformat().replace('+', '%2B')}"
            same_answers(e, snap, live, [(None, custom + "&group=district")], ["city.admin"], want_snapshot=False,
                         now_from_snapshot=True)
            # a point gone silent behind the API's back: offline at once when counted live, in
            # the snapshot's points now at its next count
            tok = e.tokens["city.admin"]
            online = get(live, tok, custom)["totals"]["points_online"]
            e.system(f"UPDATE point_latest SET collected_at = collected_at - interval '30 days' "
                     f"WHERE point_id = {e.a1['points']['hopper_temp'][1]}")
            assert get(live, tok, custom)["totals"]["points_online"] == online - 1
            assert get(snap, tok, custom)["totals"]["points_online"] == online
            before = max(counted_at(e).values())
            time.sleep(0.01)
            refresh(e)
            fresh = get(snap, tok, custom)
            assert fresh["totals"]["points_online"] == online - 1
            assert when(fresh["points_now_as_of"]) == max(counted_at(e).values()) > before
            assert when(get(live, tok, custom)["points_now_as_of"]) > max(counted_at(e).values())

            # a change behind the API's back shows at the next count: until then the snapshot
            # says when it was counted
            e.system(f"INSERT INTO alarms (enterprise_id, source, channel, kind, level, max_level, raised_at, "
                     f"ack_deadline, handle_deadline, state, cleared_at, closed_at, acked_at, handled_at, "
                     f"cause_category) VALUES ({e.b1['id']}, 'rule', 'enterprise_offline', 'enterprise_offline', "
                     f"0, 0, now() - interval '2 minutes', now(), now(), 'closed', now(), now(), now(), now(), 'other')")
            q = "period=week&group=district"
            old, fresh = get(snap, e.tokens["city.admin"], q), get(live, e.tokens["city.admin"], q)
            assert fresh["totals"]["alarms"]["total"] == old["totals"]["alarms"]["total"] + 1
            assert when(old["computed_to"]) < when(fresh["computed_to"])

            # the caller's own write through the API shows at once: A2's manager acknowledges
            # its overdue alarm; its statistics are counted live, the city's still summed
            aid = e.system(f"SELECT id FROM alarms WHERE enterprise_id = {e.a2['id']} AND state = 'active' "
                           f"AND raised_at > now() - interval '1 hour'")[0][0]
            mine = "period=week&group=none"
            before = get(snap, e.tokens["a2.manager"], mine)["totals"]["alarms"]["overdue"]
            city_before = get(snap, e.tokens["city.admin"], mine)["totals"]["alarms"]["overdue"]
            st, _, r = snap.api("POST", f"/api/v1/alarms/{aid}/acknowledge", {"verdict": "real_hazard", "note": "ack"},
                                headers={"Authorization": "Bearer " + e.tokens["a2.manager"]})
            assert st == 200, (st, r)
            k = reads(snap).get("snapshot", 0)
            assert get(snap, e.tokens["a2.manager"], mine)["totals"]["alarms"]["overdue"] == before - 1
            assert reads(snap).get("snapshot", 0) == k  # counted live
            assert get(snap, e.tokens["city.admin"], mine)["totals"]["alarms"]["overdue"] == city_before
            assert reads(snap).get("snapshot", 0) == k + 1
            # counted again (after that second): everyone sees both changes from the snapshot
            time.sleep(1.1)
            refresh(e)
            assert same_answers(e, snap, live, [("week", q), ("week", mine)], ["city.admin", "a2.manager"]) == 4
            assert get(snap, e.tokens["a2.manager"], mine)["totals"]["alarms"]["overdue"] == before - 1

            # the answer cache (shared by the sessions of a scope) does not keep a snapshot's
            # answer: another session's would hide the writer's own change from it
            cached = t.Server(e.db, roles="api", stats_snapshot_s=600, connected_window_h=24)
            try:
                x, y = (login(cached, "a2.manager") for _ in range(2))
                e.system(f"INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, "
                         f"raised_at, state, ack_deadline, handle_deadline) VALUES ({e.a2['id']}, "
                         f"{e.a2['points']['pressure_diff'][1]}, 'rule', 'rate', 'rate_of_rise', 1, 1, now() - interval '2 minutes', "
                         f"'active', now() - interval '1 minute', now() + interval '2 hours')")
                refresh(e)
                seen = get(cached, x, mine)["totals"]["alarms"]["overdue"]
                aid = e.system(f"SELECT id FROM alarms WHERE point_id = {e.a2['points']['pressure_diff'][1]} "
                               f"AND channel = 'rate' AND state = 'active'")[0][0]
                time.sleep(1.1)  # a write in a later second than the snapshot
                st, _, r = cached.api("POST", f"/api/v1/alarms/{aid}/acknowledge",
                                      {"verdict": "real_hazard", "note": "ack"}, headers={"Authorization": "Bearer " + x})
                assert st == 200, (st, r)
                assert get(cached, y, mine)["totals"]["alarms"]["overdue"] == seen  # the snapshot's
                assert get(cached, x, mine)["totals"]["alarms"]["overdue"] == seen - 1  # its own write
                assert cached.stop() == 0, cached.logtext()
            finally:
                if cached.proc.poll() is None:
                    cached.stop()

            # a snapshot older than 3 x stats_snapshot_s, or of other bounds, is not used (the
            # points now may come from another period's)
            e.system("UPDATE stats_snapshots SET computed_at = now() - interval '1801 seconds' WHERE period = 'week'")
            same_answers(e, snap, live, [(None, q)], ["city.admin"], want_snapshot=False, now_from_snapshot=True)
            # none young enough: the points now are counted too
            e.system("UPDATE stats_snapshots SET computed_at = now() - interval '1801 seconds'")
            same_answers(e, snap, live, [(None, custom)], ["city.admin"], want_snapshot=False)
            e.system("UPDATE stats_snapshots SET computed_at = now()")
            e.system("UPDATE stats_snapshots SET computed_at = now(), period_from = period_from - interval '1 day', "
                     "period_to = period_to - interval '1 day' WHERE period = 'day'")
            same_answers(e, snap, live, [(None, "period=day&group=street")], ["city.admin"], want_snapshot=False,
                         now_from_snapshot=True)
            assert snap.stop() == 0, snap.logtext()
        finally:
            if snap.proc.poll() is None:
                snap.stop()
    finally:
        e.close()


def test_worker_refreshes_snapshots():
    """The worker counts the four periods at once and every stats_snapshot_s after; another
    connected window is another snapshot's business (read live)."""
    e = Env()
    try:
        e.start("api,worker", stats_snapshot_s=5, worker_interval_ms=200, connected_window_h=24)
        t.wait_for(lambda: len(counted_at(e)) == 4, timeout=30, what="four periods counted")
        first = counted_at(e)
        t.wait_for(lambda: all(counted_at(e)[p] > first[p] for p in first), timeout=30, what="counted again")
        body = get(e.srv, e.tokens["city.admin"], "period=month&group=district")
        assert when(body["computed_to"]) in set(counted_at(e).values()) | set(first.values()), body["computed_to"]
        assert reads(e.srv).get("snapshot", 0) >= 1
        assert e.system("SELECT DISTINCT connected_window_s FROM stats_snapshots") == [["86400"]]
        e.stop()
        e.start("api", stats_snapshot_s=5, connected_window_h=12, stats_cache_ms=0)
        get(e.srv, e.tokens["city.admin"], "period=month&group=district")
        assert reads(e.srv).get("snapshot", 0) == 0
    finally:
        e.close()


def test_bad_setting_refused():
    db = t.Database()
    try:
        for bad in ("3", "-1", "86401"):
            r = subprocess.run([t.BIN, "serve", "--roles", "api"], env=db.env(DUSTWATCH_STATS_SNAPSHOT_S=bad),
                               capture_output=True, text=True, timeout=30)
            assert r.returncode != 0 and "stats_snapshot_s" in r.stderr, (bad, r.stderr)
            assert bad == "-1" or "stats_snapshot_s must be 0 or 5..86400" in r.stderr, (bad, r.stderr)
    finally:
        db.drop()


if __name__ == "__main__":
    t.run([test_snapshots_answer_as_live_and_follow_writes, test_worker_refreshes_snapshots,
           test_bad_setting_refused])
