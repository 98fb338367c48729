"""Ingest and API listeners against hostile framing (RFC 9112 §6.3: request smuggling) and
video snapshots in every common image format.  Framing tests speak raw sockets: http.client
would never send two Content-Length headers."""
import base64
import json
import os
import socket
import time
from datetime import datetime, timedelta, timezone

import dialects
import dwtest as t
import fixtures

BJ = timezone(timedelta(hours=8))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + os.urandom(300)
WEBP = b"RIFF" + (4 + 300).to_bytes(4, "little") + b"WEBPVP8 " + os.urandom(300)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(300) + b"\xff\xd9"

SMUGGLED = b"GET /smuggled-marker HTTP/1.1\r\nHost: x\r\n\r\n"


class Env:
    def __init__(self, **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.srv = t.Server(self.db, **cfg)
        self.a = self.ents[list(self.ents)[0]]

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def exchange(port, raw, timeout=5.0):
    """Sends raw bytes, reads until the server closes (or the timeout) and returns
    (everything read, closed_by_server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        data = b""
        deadline = time.time() + timeout
        while time.time() < deadline:
            s.settimeout(max(0.05, deadline - time.time()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return data, False
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False
    finally:
        s.close()


def responses(data):
    """Splits a byte stream into (status, headers, body) responses (Content-Length framed)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def ingest_post(e, headers, body):
    head = ["POST /ingest/v1/readings HTTP/1.1", "Host: 127.0.0.1",
            "X-Api-Key: " + e.a["api_key"], "Content-Type: application/json"] + headers
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def one_reading(e, value=30.0):
    ts = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(microsecond=0)
    return json.dumps({"readings": [{"point": e.a["points"]["hopper_temp"][0], "ts": ts.isoformat(),
                                     "value": value}]}).encode()


def assert_refused(data, closed, what, code="bad_framing", statuses=(400,)):
    rs = responses(data)
    assert closed, f"{what}: the connection stayed open: {data!r}"
    assert len(rs) == 1, f"{what}: expected exactly one answer, got {len(rs)}: {data!r}"
    st, hdrs, body = rs[0]
    assert st in statuses, f"{what}: {st} {body!r}"
    if code == "either":
        # refused by the HTTP library before our handler runs (its own 400 page), or by our check
        code = None if hdrs.get("content-type", "").startswith("text/html") else "bad_framing"
    if code:
        assert hdrs.get("content-type", "").startswith("application/json"), (what, data)
        j = json.loads(body)
        assert j["code"] == code and j["hint"] and j["detail"], (what, j)
    assert b"smuggled-marker" not in data


def test_ingest_refuses_ambiguous_framing():
    e = Env()
    try:
        body = one_reading(e)
        cases = {
            "two different Content-Length": [f"Content-Length: {len(body)}",
                                             f"Content-Length: {len(body) + len(SMUGGLED)}"],
            "two equal Content-Length": [f"Content-Length: {len(body)}", f"Content-Length: {len(body)}"],
            "a signed Content-Length": [f"Content-Length: +{len(body)}"],
        }
        for what, hs in cases.items():
            data, closed = exchange(e.srv.ingest_port, ingest_post(e, hs, body + SMUGGLED))
            assert_refused(data, closed, what)
        # evhttp refuses a Content-Length it cannot read as one number itself, before our handler
        # runs (its own 400 page, connection closed): libevent 2.1 has no hook to answer in our shape
        data, closed = exchange(e.srv.ingest_port, ingest_post(
            e, [f"Content-Length: {len(body)}, {len(body)}"], body + SMUGGLED))
        assert_refused(data, closed, "a Content-Length list", code=None)
        # Content-Length with Transfer-Encoding: the chunked body hides a request after its last chunk
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        for te in ("chunked", "Chunked", "gzip, chunked", "identity"):
            data, closed = exchange(e.srv.ingest_port, ingest_post(
                e, [f"Content-Length: {len(chunked)}", "Transfer-Encoding: " + te], chunked + SMUGGLED))
            assert_refused(data, closed, "Content-Length with Transfer-Encoding: " + te, code="either")
        # a Transfer-Encoding evhttp would not decode as chunked is refused too, not read by Content-Length
        data, closed = exchange(e.srv.ingest_port, ingest_post(e, ["Transfer-Encoding: gzip"], b""))
        assert_refused(data, closed, "Transfer-Encoding: gzip")
        assert e.db.scalar("SELECT count(*) FROM readings") == "0"
        # malformed chunk sizes: evhttp refuses them itself (libevent 2.1 answers any corrupt chunk
        # framing 413, its own page), closes the connection and answers nothing after them
        for size in (b"zz", b"-5", b"5;ext=1"):
            data, closed = exchange(e.srv.ingest_port, ingest_post(
                e, ["Transfer-Encoding: chunked"], size + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED))
            assert_refused(data, closed, "chunk size " + size.decode(), code=None, statuses=(400, 413))
        assert e.db.scalar("SELECT count(*) FROM readings") == "0"
        # the well-formed forms still work, keep-alive included
        data, closed = exchange(e.srv.ingest_port, ingest_post(e, [f"Content-Length: {len(body)}"], body) +
                                ingest_post(e, ["Transfer-Encoding: chunked"], chunked), timeout=3)
        rs = responses(data)
        assert [r[0] for r in rs] == [200, 200], data
        assert json.loads(rs[0][2])["accepted"] == 1 and json.loads(rs[1][2])["duplicate"] == 1, data
    finally:
        e.close()


def test_api_refuses_ambiguous_framing():
    e = Env()
    try:
        body = b'{"username":"nobody","password":"wrong-password-1"}'

        def post(hs, payload):
            head = ["POST /api/v1/auth/login HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"] + hs
            return ("\r\n".join(head) + "\r\n\r\n").encode() + payload

        cases = {
            "two different Content-Length": [f"Content-Length: {len(body)}",
                                             f"Content-Length: {len(body) + len(SMUGGLED)}"],
            "two equal Content-Length": [f"Content-Length: {len(body)}", f"Content-Length: {len(body)}"],
        }
        for what, hs in cases.items():
            data, closed = exchange(e.srv.api_port, post(hs, body + SMUGGLED))
            assert_refused(data, closed, "api: " + what, code="bad_request")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        data, closed = exchange(e.srv.api_port, post(
            [f"Content-Length: {len(chunked)}", "Transfer-Encoding: chunked"], chunked + SMUGGLED))
        assert_refused(data, closed, "api: Content-Length with Transfer-Encoding", code="bad_request")
        # a well-formed request still gets its ordinary answer
        data, _ = exchange(e.srv.api_port, post([f"Content-Length: {len(body)}", "Connection: close"], body))
        rs = responses(data)
        assert len(rs) == 1 and rs[0][0] == 401, data
    finally:
        e.close()


def test_video_snapshots_jpeg_png_webp_in_every_dialect():
    e = Env()
    try:
        a, c = e.a, e.ents[list(e.ents)[2]]
        base = (datetime.now(timezone.utc) - timedelta(minutes=5)).replace(microsecond=0)
        images = {"png": PNG, "webp": WEBP, "jpeg": JPEG}

        for cam in ("CAM-png", "CAM-webp", "CAM-jpeg", "CAM-gif", "CAM-riff", "CAM-big", "HB-png", "HB-webp"):
            fixtures.add_camera(e.db, a, cam)
        for cam in ("MEM-png", "MEM-webp"):
            fixtures.add_camera(e.db, c, cam)

        def stored(camera):
            return e.db.sql(f"SELECT encode(image, 'hex') FROM video_alarms WHERE camera_code = '{camera}'")

        # our JSON dialect: one item per format, and formats that are not images are still bad_image
        vids = [{"camera": "CAM-" + k, "ts": base.isoformat(), "alarm_type": "SJ02001",
                 "image_base64": base64.b64encode(v).decode()} for k, v in images.items()]
        vids += [{"camera": "CAM-gif", "ts": base.isoformat(), "alarm_type": "SJ02001",
                  "image_base64": base64.b64encode(b"GIF89a" + os.urandom(50)).decode()},
                 {"camera": "CAM-riff", "ts": base.isoformat(), "alarm_type": "SJ02001",
                  "image_base64": base64.b64encode(b"RIFF\x10\x00\x00\x00WAVEfmt " + os.urandom(20)).decode()}]
        st, _, r = t.request(e.srv.ingest_port, "POST", "/ingest/v1/videos", {"videos": vids},
                             {"X-Api-Key": a["api_key"]})
        assert st == 200 and r["accepted"] == 3 and r["rejected"] == 2, r
        assert {x["index"]: x["code"] for x in r["errors"]} == {3: "bad_image", 4: "bad_image"}, r
        for k, v in images.items():
            assert stored("CAM-" + k) == [[v.hex()]], k
        # the size limit holds for every format
        big = b"\x89PNG\r\n\x1a\n" + os.urandom(600 * 1024)
        st, _, r = t.request(e.srv.ingest_port, "POST", "/ingest/v1/videos", {"videos": [
            {"camera": "CAM-big", "ts": base.isoformat(), "alarm_type": "SJ02001",
             "image_base64": base64.b64encode(big).decode()}]}, {"X-Api-Key": a["api_key"]})
        assert st == 413 and r["code"] == "image_too_large", (st, r)
        # Hebei: the outer img
        for i, (k, v) in enumerate((("png", PNG), ("webp", WEBP))):
            bj = (base + timedelta(seconds=i + 1)).astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
            vid = {"ts": bj, "videoCode": "HB-" + k, "alarmType": "SJ02001", "content": "烟火识别"}
            st, _, raw = t.request(e.srv.ingest_port, "POST", "/rabbitmqfcsb/api/videosData",
                                   dialects.hebei_body(a["code"], vid, a["des_key"],
                                                       img=base64.b64encode(v).decode()))
            assert raw["code"] == 200, (k, raw)
            assert stored("HB-" + k) == [[v.hex()]], k
        # MEM: our JSON inside SM4
        inner = {"videos": [{"camera": "MEM-" + k, "ts": base.isoformat(), "alarm_type": "SJ02001",
                             "image_base64": base64.b64encode(v).decode()} for k, v in (("png", PNG), ("webp", WEBP))]}
        st, _, r = t.request(e.srv.ingest_port, "POST", "/mem/v1/videos",
                             dialects.mem_body(c["appid"], inner, c["sm4_key"], c["sm4_iv"]),
                             {"appsecret": c["appsecret"]})
        assert st == 200, (st, r)
        for k, v in (("png", PNG), ("webp", WEBP)):
            assert stored("MEM-" + k) == [[v.hex()]], (k, r)
    finally:
        e.close()


if __name__ == "__main__":
    t.run([
        test_ingest_refuses_ambiguous_framing,
        test_api_refuses_ambiguous_framing,
        test_video_snapshots_jpeg_png_webp_in_every_dialect,
    ])
