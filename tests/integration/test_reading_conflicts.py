"""Conflicting readings (issue 11 item 1): two readings for the same point
and instant with different values, in one request or in two, are both
acknowledged, so neither may vanish.  readings keeps the first value; every
other value is stored in reading_conflicts with the value it collided with
and the batch it came in, counted in the point's data_quality, reported per
item in the JSON answers and logged for every dialect (a Hebei answer cannot
carry it).  The same value again stays an idempotent no-op."""
import datetime as dt
import hashlib
import json

import dialects
import dwtest as t
from test_api import City

BJ = dt.timezone(dt.timedelta(hours=8))


def now():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(d):
    return d.isoformat()


def native(c, ent, items):
    body = {"readings": items}
    st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": ent["api_key"]})
    assert st == 200, (st, r)
    return r, hashlib.sha256(json.dumps(body).encode()).hexdigest()


def hebei(c, ent, rts):
    inner = {"qybm": ent["code"], "data": {"rts": rts}}
    st, _, raw = c.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                              dialects.hebei_body(ent["code"], inner, ent["des_key"]))
    assert st == 200, (st, raw)
    return raw


def mem(c, ent, items):
    body = dialects.mem_body(ent["appid"], {"readings": items}, ent["sm4_key"], ent["sm4_iv"])
    st, _, r = c.srv.ingest("POST", "/mem/v1/readings", body, {"appsecret": ent["appsecret"]})
    assert st == 200, (st, r)
    return r


def stored(c, pid, at):
    return c.db.sql(f"SELECT value FROM readings WHERE point_id = {pid} AND collected_at = '{iso(at)}'")


def conflicts(c, pid, at):
    return c.db.sql(f"SELECT value, stored_value, source, item_index FROM reading_conflicts "
                    f"WHERE point_id = {pid} AND collected_at = '{iso(at)}' ORDER BY id")


def quality(c, user, pid):
    st, _, p = c.call(user, "GET", f"/api/v1/points/{pid}")
    assert st == 200, (st, p)
    return p["data_quality"]


def log(c):
    with open(c.srv.log.name, errors="replace") as f:
        return [line for line in f if "conflicting readings kept apart" in line]


def test_native_one_request_and_two():
    c = SHARED
    code, pid = c.a1["points"]["hopper_temp"]
    at = now() - dt.timedelta(minutes=2)
    r, sha = native(c, c.a1, [{"point": code, "ts": iso(at), "value": 40},
                              {"point": code, "ts": iso(at), "value": 41},
                              {"point": code, "ts": iso(at.astimezone(BJ)), "value": 40}])
    assert r["accepted"] == 1 and r["duplicate"] == 1 and r["rejected"] == 0 and r["errors"] == [], r
    assert r["conflicting"] == 1, r
    assert [(k["index"], k["ref"], k["code"], k["value"], k["stored_value"]) for k in r["conflicts"]] == \
        [(1, code, "conflicting_value", 41, 40)], r
    assert stored(c, pid, at) == [["40"]]
    assert conflicts(c, pid, at) == [["41", "40", "native", "1"]]
    assert c.db.scalar(f"SELECT encode(batch_sha256, 'hex') FROM reading_conflicts WHERE point_id = {pid}") == sha
    # a second request for the same instant with yet another value
    r, _ = native(c, c.a1, [{"point": code, "ts": iso(at), "value": 42.5}])
    assert r["accepted"] == 0 and r["duplicate"] == 0 and r["conflicting"] == 1, r
    assert r["conflicts"][0]["index"] == 0 and r["conflicts"][0]["stored_value"] == 40, r
    # the same value again is a no-op, also for a conflicting value already kept
    r, _ = native(c, c.a1, [{"point": code, "ts": iso(at), "value": 40}])
    assert r == {"accepted": 0, "duplicate": 1, "rejected": 0, "errors": []}, r
    r, _ = native(c, c.a1, [{"point": code, "ts": iso(at), "value": 41}])
    assert r["conflicting"] == 1, r
    assert stored(c, pid, at) == [["40"]]
    assert [x[0] for x in conflicts(c, pid, at)] == ["41", "42.5"]
    # the stored value stays the latest one; the conflicting ones raise nothing
    assert c.db.scalar(f"SELECT value FROM point_latest WHERE point_id = {pid}") == "40"
    dq = quality(c, "a1.manager", pid)
    assert dq["conflicts"] == 2 and dq["last_conflict_at"], dq
    assert quality(c, "a1.manager", c.a1["points"]["pressure_diff"][1])["conflicts"] == 0
    lines = [x for x in log(c) if "source=native" in x]
    assert len(lines) == 3 and f"point={code}" in lines[0], lines


def test_hebei_answers_success_and_keeps_both():
    c = SHARED
    code, pid = c.a2["points"]["hopper_temp"]
    at = now() - dt.timedelta(minutes=3)
    bj = at.astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
    before = len([x for x in log(c) if "source=hebei" in x])
    raw = hebei(c, c.a2, [{"tnm": code, "ts": bj, "val": "30.00"}])
    assert raw["code"] == 200 and raw["msg"] == "操作成功", raw
    raw = hebei(c, c.a2, [{"tnm": code, "ts": bj, "val": "31.00"}])
    assert raw["code"] == 200 and raw["msg"] == "操作成功", raw
    # both in one request (a timer and a manual trigger in the same second)
    at2 = at + dt.timedelta(seconds=1)
    bj2 = at2.astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
    raw = hebei(c, c.a2, [{"tnm": code, "ts": bj2, "val": "32.00"}, {"tnm": code, "ts": bj2, "val": "33.00"}])
    assert raw["code"] == 200 and raw["msg"] == "操作成功", raw
    assert stored(c, pid, at) == [["30"]] and stored(c, pid, at2) == [["32"]]
    assert conflicts(c, pid, at) == [["31", "30", "hebei", "0"]]
    assert conflicts(c, pid, at2) == [["33", "32", "hebei", "1"]]
    assert quality(c, "a2.manager", pid)["conflicts"] == 2
    lines = [x for x in log(c) if "source=hebei" in x]
    assert len(lines) == before + 2, lines
    assert f"point={code}" in lines[-1] and "conflicts=1" in lines[-1] and "stored_value=32" in lines[-1], lines
    # the identical value again: no conflict, no line
    raw = hebei(c, c.a2, [{"tnm": code, "ts": bj, "val": "30.00"}])
    assert raw["code"] == 200 and len(conflicts(c, pid, at)) == 1
    assert len([x for x in log(c) if "source=hebei" in x]) == before + 2


def test_mem_keeps_both():
    c = SHARED
    code, pid = c.b1["points"]["pressure_diff"]
    at = now() - dt.timedelta(minutes=4)
    r = mem(c, c.b1, [{"point": code, "ts": iso(at), "value": 800}])
    assert r["accepted"] == 1, r
    r = mem(c, c.b1, [{"point": code, "ts": iso(at), "value": 900}, {"point": code, "ts": iso(at), "value": 800}])
    assert r["accepted"] == 0 and r["duplicate"] == 1 and r["conflicting"] == 1, r
    assert stored(c, pid, at) == [["800"]]
    assert conflicts(c, pid, at) == [["900", "800", "mem", "0"]]
    assert quality(c, "b1.manager", pid)["conflicts"] == 1
    lines = [x for x in log(c) if "source=mem" in x]
    assert len(lines) == 1 and f"point={code}" in lines[0] and "value=900" in lines[0], lines


def test_conflicts_stay_in_scope():
    c = SHARED
    # another enterprise's manager sees no conflicts of a1 (row-level security)
    assert c.db.scalar("SELECT count(*) FROM reading_conflicts") != "0"
    st, _, _ = c.call("b1.manager", "GET", f"/api/v1/points/{c.a1['points']['hopper_temp'][1]}")
    assert st == 404, st


SHARED = None

if __name__ == "__main__":
    SHARED = City(roles="ingest,api")
    t.run([
        test_native_one_request_and_two,
        test_hebei_answers_success_and_keeps_both,
        test_mem_keeps_both,
        test_conflicts_stay_in_scope,
    ], cleanup=SHARED.close)
