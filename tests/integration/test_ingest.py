"""Ingest: the three dialects end to end, per-item rejections, idempotency,
tenant safety, hostile bodies, and durability under crashes."""
import base64
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import dialects
import dwtest as t
import fault_lib as f
import fixtures

BJ = timezone(timedelta(hours=8))


def iso(dt):
    return dt.isoformat()


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


class Env:
    def __init__(self, cluster=None, **cfg):
        self.db = cluster.database() if cluster else t.Database()
        self.ents = fixtures.make_city(self.db)
        self.srv = t.Server(self.db, **cfg)
        codes = list(self.ents)
        self.a = self.ents[codes[0]]
        self.b = self.ents[codes[1]]
        self.c = self.ents[codes[2]]

    def post(self, ent, body, kind="readings", key=None, headers=None):
        h = {"X-Api-Key": ent["api_key"] if ent else "", **(headers or {})}
        if key:
            h["Idempotency-Key"] = key
        return self.srv.ingest("POST", "/ingest/v1/" + kind, body, h)

    def count(self, where="true"):
        return int(self.db.scalar(f"SELECT count(*) FROM readings WHERE {where}"))

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def readings(ent, n, start=None, step=1, kind="hopper_temp", value=lambda i: 30.0 + i % 7):
    start = start or now_utc() - timedelta(hours=1)
    code = ent["points"][kind][0]
    return {"readings": [{"point": code, "ts": iso(start + timedelta(seconds=i * step)), "value": value(i)}
                         for i in range(n)]}


def test_native_accepts_and_stores_exactly():
    e = Env()
    try:
        ts = now_utc() - timedelta(minutes=5)
        body = {"gateway": "gw1", "readings": [
            {"point": e.a["points"]["hopper_temp"][0], "ts": iso(ts.astimezone(BJ)), "value": 41.25},
            {"point": e.a["points"]["pressure_diff"][0], "ts": iso(ts), "value": 880, "quality": "suspect"}]}
        st, _, r = e.post(e.a, body)
        assert st == 200 and r == {"accepted": 2, "duplicate": 0, "rejected": 0, "errors": []}, (st, r)
        rows = e.db.sql("SELECT p.code, r.collected_at = '%s'::timestamptz, r.value, r.quality, r.enterprise_id "
                        "FROM readings r JOIN points p ON p.id = r.point_id ORDER BY p.code" % iso(ts))
        assert rows == [[e.a["points"]["hopper_temp"][0], "t", "41.25", "0", str(e.a["id"])],
                        [e.a["points"]["pressure_diff"][0], "t", "880", "1", str(e.a["id"])]], rows
        latest = e.db.scalar(f"SELECT value FROM point_latest WHERE point_id = {e.a['points']['hopper_temp'][1]}")
        assert latest == "41.25"
    finally:
        e.close()


def test_per_item_rejections_store_nothing_of_rejected():
    e = Env()
    try:
        ts = now_utc() - timedelta(minutes=1)
        good = e.a["points"]["hopper_temp"][0]
        items = [
            {"point": good, "ts": iso(ts), "value": 50},                                  # ok
            {"point": "NOSUCHPOINT01", "ts": iso(ts), "value": 1},                        # unknown_point
            {"point": e.b["points"]["hopper_temp"][0], "ts": iso(ts), "value": 1},        # foreign_point
            {"point": good, "ts": iso(ts + timedelta(seconds=1)), "value": "hot"},        # non_numeric
            {"point": good, "ts": iso(ts + timedelta(seconds=2)), "value": 999},          # out_of_range
            {"point": good, "ts": iso(now_utc() + timedelta(minutes=10)), "value": 40},   # future_timestamp
            {"point": good, "ts": "2026-11-29 10:00:00", "value": 40},                    # bad_timestamp (no offset)
            {"point": good, "ts": iso(ts), "value": 51},                                  # conflicting, kept apart
        ]
        st, _, r = e.post(e.a, {"readings": items})
        assert st == 200, (st, r)
        assert r["accepted"] == 1 and r["rejected"] == 6 and r["conflicting"] == 1, r
        got = {x["index"]: x["code"] for x in r["errors"]}
        assert got == {1: "unknown_point", 2: "foreign_point", 3: "non_numeric", 4: "out_of_range",
                       5: "future_timestamp", 6: "bad_timestamp"}, got
        assert [(x["index"], x["code"]) for x in r["conflicts"]] == [(7, "conflicting_value")], r
        assert all(set(x) == {"index", "ref", "code", "message"} for x in r["errors"])
        assert e.count() == 1
        assert e.count(f"enterprise_id = {e.b['id']}") == 0, "a foreign point must never be written"
    finally:
        e.close()


def test_authentication():
    e = Env()
    try:
        body = readings(e.a, 3)
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", body)
        assert st == 401 and r["code"] == "unauthenticated", r
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", body, {"X-Api-Key": "dwk_wrong"})
        assert st == 401 and set(r) == {"code", "hint", "detail"}, r
        e.db.sql(f"UPDATE ingest_credentials SET revoked_at = now() WHERE enterprise_id = {e.a['id']} AND kind = 'api_key'")
        st, _, r = e.post(e.a, body)
        assert st == 401, "a revoked key is refused at once"
        assert e.count() == 0
        st, hdr, r = e.srv.ingest("GET", "/ingest/v1/readings")
        assert st == 405 and hdr.get("allow") == "POST"
    finally:
        e.close()


def test_idempotency_key_contract():
    e = Env()
    try:
        body = readings(e.a, 50)
        key = str(uuid.uuid4())
        first = e.post(e.a, body, key=key)
        assert first[0] == 200 and first[2]["accepted"] == 50, first
        for _ in range(5):
            again = e.post(e.a, body, key=key)
            assert again[0] == 200 and again[2] == first[2], again
            assert again[1].get("idempotent-replayed") == "true"
        assert e.count() == 50
        changed = readings(e.a, 50, value=lambda i: 99.0)
        st, _, r = e.post(e.a, changed, key=key)
        assert st == 422 and r["code"] == "idempotency_key_reused", (st, r)
        assert e.count() == 50
        # (d) the same key string from another enterprise is a different key
        st, _, r = e.post(e.b, readings(e.b, 10), key=key)
        assert st == 200 and r["accepted"] == 10, r
        # (e) expired key: processed afresh, natural key still dedups
        e.db.sql(f"UPDATE ingest_batches SET created_at = now() - interval '73 hours', "
                 f"expires_at = now() - interval '1 hour' WHERE enterprise_id = {e.a['id']}")
        st, _, r = e.post(e.a, body, key=key)
        assert st == 200 and r["accepted"] == 0 and r["duplicate"] == 50, r
        assert e.count() == 60
    finally:
        e.close()


def test_concurrent_same_key_never_double_inserts():
    e = Env()
    try:
        for round_ in range(5):
            body = readings(e.a, 200, start=now_utc() - timedelta(hours=2, minutes=round_ * 5))
            key = str(uuid.uuid4())
            results = []
            def go():
                results.append(e.post(e.a, body, key=key))
            ths = [threading.Thread(target=go) for _ in range(4)]
            [x.start() for x in ths]
            [x.join() for x in ths]
            oks = [r for r in results if r[0] == 200]
            assert oks and all(r[0] in (200, 409) for r in results), [r[0] for r in results]
            assert all(r[2] == oks[0][2] for r in oks), "replays must be identical"
            assert oks[0][2]["accepted"] == 200
        assert e.count() == 1000
    finally:
        e.close()


def test_natural_key_dedup_without_header():
    e = Env()
    try:
        body = readings(e.a, 2000, step=2, start=now_utc() - timedelta(hours=3))
        st, _, r = e.post(e.a, body)
        assert r["accepted"] == 2000
        half1 = {"readings": body["readings"][:1000]}
        half2 = {"readings": body["readings"][1000:]}
        for h in (half1, half2):
            st, _, r = e.post(e.a, h)
            assert st == 200 and r["accepted"] == 0 and r["duplicate"] == 1000, r
        assert e.count() == 2000
    finally:
        e.close()


def test_backfill_does_not_move_latest_backwards():
    e = Env()
    try:
        now = now_utc()
        pid = e.a["points"]["hopper_temp"][1]
        e.post(e.a, readings(e.a, 1, start=now - timedelta(minutes=1), value=lambda i: 42.0))
        # a gateway's store-and-forward buffer from three days ago (another partition)
        old = readings(e.a, 100, start=now - timedelta(days=3), step=60, value=lambda i: 20.0)
        st, _, r = e.post(e.a, old)
        assert st == 200 and r["accepted"] == 100, r
        assert e.db.scalar(f"SELECT value FROM point_latest WHERE point_id = {pid}") == "42"
        # 100 minutes from three days ago may straddle midnight: every day touched got its partition
        start = now - timedelta(days=3)
        days = {(start + timedelta(minutes=i)).strftime("%Y%m%d") for i in range(100)}
        per_day = sum(int(e.db.scalar(f"SELECT count(*) FROM readings_{d}")) for d in days)
        assert per_day == 100, (days, per_day)
        too_old = readings(e.a, 1, start=now - timedelta(days=800))
        st, _, r = e.post(e.a, too_old)
        assert r["rejected"] == 1 and r["errors"][0]["code"] == "too_old", r
    finally:
        e.close()


def test_events_and_videos_native():
    e = Env()
    try:
        ts = now_utc() - timedelta(minutes=2)
        ev = {"events": [{"point": e.a["points"]["hopper_temp"][0], "ts": iso(ts), "level": "high_high",
                          "value": 85.5, "threshold": 80, "content": "灰斗温度超上上限"},
                         {"point": e.a["points"]["hopper_temp"][0], "ts": iso(ts + timedelta(minutes=1)),
                          "level": "cleared"}]}
        st, _, r = e.post(e.a, ev, kind="events")
        assert st == 200 and r["accepted"] == 2, r
        st, _, r = e.post(e.a, ev, kind="events")
        assert r["duplicate"] == 2 and r["accepted"] == 0, r
        rows = e.db.sql("SELECT level, value, threshold, content, source FROM gateway_events ORDER BY occurred_at")
        assert rows == [["high_high", "85.5", "80", "灰斗温度超上上限", "native"], ["cleared", "", "", "", "native"]], rows
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(2000) + b"\xff\xd9"
        fixtures.add_camera(e.db, e.a, "CAM01")
        vid = {"videos": [{"camera": "CAM01", "ts": iso(ts), "alarm_type": "SJ02001", "content": "烟火识别",
                           "image_base64": base64.b64encode(jpeg).decode()}]}
        st, _, r = e.post(e.a, vid, kind="videos")
        assert st == 200 and r["accepted"] == 1, r
        assert e.db.scalar("SELECT encode(image, 'hex') FROM video_alarms") == jpeg.hex()
    finally:
        e.close()


def test_hebei_dialect_end_to_end():
    e = Env()
    try:
        ts = (now_utc() - timedelta(minutes=3)).astimezone(BJ)
        bj = ts.strftime("%Y-%m-%d %H:%M:%S")
        inner = {"qybm": e.a["code"], "data": {"rts": [
            {"tnm": e.a["points"]["hopper_temp"][0], "ts": bj, "val": "27.20"},
            {"tnm": e.a["points"]["pressure_diff"][0], "ts": bj, "val": "950.5"}]}}
        body = dialects.hebei_body(e.a["code"], inner, e.a["des_key"], wgbm=e.a["code"] + "01")
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData", body)
        assert st == 200 and raw == {"code": 200, "msg": "操作成功", "data": None}, (st, raw)
        rows = e.db.sql("SELECT value, collected_at = '%s'::timestamptz FROM readings ORDER BY value" % ts.isoformat())
        assert rows == [["27.2", "t"], ["950.5", "t"]], rows
        # the exact bytes of the success answer
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", e.srv.ingest_port)
        c.request("POST", "/rabbitmqfcsb/api/rtsData", json.dumps(body), {"Content-Type": "application/json"})
        assert c.getresponse().read().decode() == '{"code":200,"msg":"操作成功","data":null}'
        # events: scd 4 = above high-high, 0 = cleared
        ev = {"qybm": e.a["code"], "data": {"events": [
            {"ts": bj, "oname": e.a["points"]["hopper_temp"][0], "avx": "126.8000", "scd": 4,
             "threshold": 100, "content": "灰斗温度超上上限报警"}]}}
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/eventsData",
                                  dialects.hebei_body(e.a["code"], ev, e.a["des_key"]))
        assert raw["code"] == 200, raw
        assert e.db.sql("SELECT level, value, source FROM gateway_events") == [["high_high", "126.8", "hebei"]]
        # video with snapshot, from a registered camera
        fixtures.add_camera(e.db, e.a, "31011300000000000001")
        jpeg = b"\xff\xd8\xff\xe0" + os.urandom(500) + b"\xff\xd9"
        vid = {"ts": bj, "videoCode": "31011300000000000001", "alarmType": "SJ02001", "content": "烟火识别"}
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/videosData",
                                  dialects.hebei_body(e.a["code"], vid, e.a["des_key"],
                                                      img=base64.b64encode(jpeg).decode()))
        assert raw["code"] == 200, raw
        assert e.db.scalar("SELECT octet_length(image) FROM video_alarms") == str(len(jpeg))
        # wrong key, unknown enterprise, mismatched inner qybm: non-200 code, clear msg, nothing stored
        n = e.count()
        bad = dialects.hebei_body(e.a["code"], inner, "wrongkey")
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData", bad)
        assert raw["code"] != 200 and raw["msg"] and raw["data"] is None, raw
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                                  dialects.hebei_body("999999999999", inner, e.a["des_key"]))
        assert raw["code"] == 401, raw
        other = dict(inner, qybm=e.b["code"])
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                                  dialects.hebei_body(e.a["code"], other, e.a["des_key"]))
        assert raw["code"] != 200, raw
        # a point of enterprise B smuggled into A's batch is rejected, the rest stored
        smuggle = {"qybm": e.a["code"], "data": {"rts": [
            {"tnm": e.b["points"]["hopper_temp"][0], "ts": bj, "val": "30"},
            {"tnm": e.a["points"]["hopper_temp"][0], "ts": (ts + timedelta(seconds=5)).strftime("%Y-%m-%d %H:%M:%S"), "val": "31"}]}}
        st, _, raw = e.srv.ingest("POST", "/rabbitmqfcsb/api/rtsData",
                                  dialects.hebei_body(e.a["code"], smuggle, e.a["des_key"]))
        assert raw["code"] != 200 and "foreign_point" in raw["msg"], raw
        assert e.count() == n + 1 and e.count(f"enterprise_id = {e.b['id']}") == 0
    finally:
        e.close()


def test_mem_dialect_end_to_end():
    e = Env()
    try:
        ts = now_utc() - timedelta(minutes=1)
        inner = readings(e.c, 5, start=ts)
        body = dialects.mem_body(e.c["appid"], inner, e.c["sm4_key"], e.c["sm4_iv"])
        st, _, r = e.srv.ingest("POST", "/mem/v1/readings", body, {"appsecret": e.c["appsecret"]})
        assert st == 200 and r["accepted"] == 5, (st, r)
        assert e.count(f"enterprise_id = {e.c['id']}") == 5
        st, _, r = e.srv.ingest("POST", "/mem/v1/readings", body, {"appsecret": "nope"})
        assert st == 401, (st, r)
        wrongkey = dialects.mem_body(e.c["appid"], inner, "00" * 16, e.c["sm4_iv"])
        st, _, r = e.srv.ingest("POST", "/mem/v1/readings", wrongkey, {"appsecret": e.c["appsecret"]})
        assert st == 400 and r["code"] == "decrypt_failed", (st, r)
    finally:
        e.close()


def test_hostile_bodies_get_4xx_never_5xx():
    e = Env(ingest_max_body=1048576)
    try:
        code = e.a["points"]["hopper_temp"][0]
        ts = iso(now_utc())
        bodies = [
            b"",
            b"[" * 10000 + b"]" * 10000,
            b'{"readings": [' + b",".join([b"1"] * 200000) + b"]}",
            b'{"readings": [], "readings": []}',
            b'{"readings": [{"point": "%s", "ts": "%s", "value": 1e999}]}' % (code.encode(), ts.encode()),
            b'{"readings": [{"point": "%s", "ts": "%s", "value": 18446744073709551616}]}' % (code.encode(), ts.encode()),
            b'{"readings": [{"point": "\xff\xfe", "ts": "x", "value": 1}]}',
            b'{"readings": [{"point": "a\\u0000b", "ts": "x", "value": 1}]}',
            b'{"readings": "nope"}',
            b'{"unknown": 1, "readings": []}',
            b'not json at all',
            b'{' + b",".join(b'"k%d": 1' % i for i in range(60000)) + b'}',
        ]
        for b in bodies:
            st, _, r = e.post(e.a, b)
            assert 400 <= st < 500, (st, r, b[:80])
            assert e.srv.proc.poll() is None
        # declared too large: answered 413 from the headers, before any body byte
        import socket
        s = socket.create_connection(("127.0.0.1", e.srv.ingest_port), timeout=10)
        s.sendall(b"POST /ingest/v1/readings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 10485760\r\n\r\n")
        reply = s.recv(4096)
        s.close()
        assert reply.startswith(b"HTTP/1.1 413"), reply[:100]
        many = readings(e.a, 10001)
        st, _, r = e.post(e.a, many)
        assert st == 413 and r["code"] == "too_many_items", (st, r)
        assert e.count() == 0
        st, _, r = e.srv.ingest("GET", "/readyz")
        assert st == 200
    finally:
        e.close()


def test_redis_down_does_not_stop_ingest():
    # a Redis of this test's own: the shared one serves the tests running beside it
    rd = t.PrivateRedis()
    e = Env(redis_url=rd.url)
    try:
        t.wait_for(lambda: t.request(e.srv.ingest_port, "GET", "/readyz")[2]["redis"]["ok"], what="redis up")
        rd.stop()
        try:
            for i in range(5):
                st, _, r = e.post(e.a, readings(e.a, 20, start=now_utc() - timedelta(minutes=30 - i)))
                assert st == 200, (st, r)
            st, _, body = e.srv.ingest("GET", "/readyz")
            assert st == 200
            t.wait_for(lambda: t.request(e.srv.ingest_port, "GET", "/readyz")[2]["redis"]["ok"] is False,
                       what="redis reported down")
        finally:
            rd.start()
        t.wait_for(lambda: t.request(e.srv.ingest_port, "GET", "/readyz")[2]["redis"]["ok"], timeout=20,
                   what="redis back")
        assert e.count() == 100
    finally:
        try:
            e.close()
        finally:
            rd.stop()


class RetryingClient:
    """Sends distinct batches, each retried with its Idempotency-Key until
    acknowledged; records exactly what was acknowledged."""

    def __init__(self, env, ent, batches, size, base):
        self.env, self.ent, self.batches, self.size, self.base = env, ent, batches, size, base
        self.acked = 0
        self.statuses = []
        self.port = lambda: env.srv.ingest_port

    def run(self, deadline):
        for b in range(self.batches):
            body = readings(self.ent, self.size, start=self.base + timedelta(seconds=b * self.size))
            key = f"batch-{b}"
            while time.time() < deadline:
                try:
                    st, hdr, r = t.request(self.port(), "POST", "/ingest/v1/readings", body,
                                           {"X-Api-Key": self.ent["api_key"], "Idempotency-Key": key}, timeout=10)
                except OSError:
                    time.sleep(0.05)
                    continue
                self.statuses.append(st)
                if st == 200:
                    self.acked += self.size
                    break
                assert st in (503, 429), (st, r)
                assert "retry-after" in hdr, hdr
                time.sleep(0.05)


def test_kill_9_mid_ingest_loses_nothing_acknowledged():
    e = Env()
    try:
        base = now_utc() - timedelta(hours=5)
        client = RetryingClient(e, e.a, 150, 100, base)
        th = threading.Thread(target=client.run, args=(time.time() + 120,))
        th.start()
        for _ in range(3):
            time.sleep(random.uniform(0.3, 0.8))
            e.srv.proc.send_signal(signal.SIGKILL)
            e.srv.proc.wait()
            e.srv = t.Server(e.db)
        th.join()
        assert client.acked == 15000, client.acked
        assert e.count() == 15000
        dups = e.db.scalar("SELECT count(*) FROM (SELECT point_id, collected_at FROM readings "
                           "GROUP BY 1, 2 HAVING count(*) > 1) d")
        assert dups == "0"
    finally:
        e.close()


def test_postgres_restart_mid_ingest_only_503s():
    # a cluster of this test alone: stopping the shared one would fail the tests beside it
    cl = f.Cluster()
    e = None
    try:
        e = Env(cluster=cl)
        base = now_utc() - timedelta(hours=8)
        client = RetryingClient(e, e.a, 120, 100, base)
        th = threading.Thread(target=client.run, args=(time.time() + 120,))
        th.start()
        time.sleep(0.5)
        cl.stop(mode="immediate")
        time.sleep(2)
        cl.start()
        th.join()
        assert e.srv.proc.poll() is None, "the server must ride out the outage"
        assert set(client.statuses) <= {200, 503, 429}, set(client.statuses)
        assert client.acked == 12000
        assert e.count() == 12000
        t.wait_for(lambda: t.request(e.srv.ingest_port, "GET", "/readyz")[0] == 200, what="ready again")
    finally:
        if e:
            e.close()
        cl.close()


if __name__ == "__main__":
    t.run([
        test_native_accepts_and_stores_exactly,
        test_per_item_rejections_store_nothing_of_rejected,
        test_authentication,
        test_idempotency_key_contract,
        test_concurrent_same_key_never_double_inserts,
        test_natural_key_dedup_without_header,
        test_backfill_does_not_move_latest_backwards,
        test_events_and_videos_native,
        test_hebei_dialect_end_to_end,
        test_mem_dialect_end_to_end,
        test_hostile_bodies_get_4xx_never_5xx,
        test_redis_down_does_not_stop_ingest,
        test_kill_9_mid_ingest_loses_nothing_acknowledged,
        test_postgres_restart_mid_ingest_only_503s,
    ])
