"""A mock upstream platform for the forwarding tests (issue 18).

It speaks both dialects the forwarder sends, decrypting with code of its own
(the openssl command line tool, as dialects.py encrypts), never the server's:

* Hebei V1.1: POST <base>/rabbitmqfcsb/api/{rtsData,eventsData,videosData},
  {"qybm", "wgbm"?, "data": HEX(Base64(DES-CBC(inner))), "img"?};
  answers {"code": 200, "msg": "操作成功", "data": null}.
* MEM: POST <base>/mem/v1/{readings,events,videos} with the appsecret header,
  {"appid", "data": HEX(SM4-CBC(inner))}; answers our format's
  {"accepted": n, "duplicate": 0, "rejected": 0, "errors": []}.

Everything it acknowledges is recorded (self.got: dicts with dialect, kind,
outer, inner, img, key).  It can refuse (answer code 400 with a message: the
next N requests, or every request naming a refused code), fail (HTTP 503),
process a request and lose the answer (the connection closed without a
reply), and go down (the listening socket closed: connections are refused)
and come back on the same port.  Like dustwatch, it keeps the answer of every
Idempotency-Key it processed and replays it for a request with the same key
(a different body under a key it knows is an error the test sees)."""
import base64
import binascii
import json
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEBEI_KINDS = {"/rabbitmqfcsb/api/rtsData": "readings", "/rabbitmqfcsb/api/eventsData": "events",
               "/rabbitmqfcsb/api/videosData": "videos"}
MEM_KINDS = {"/mem/v1/readings": "readings", "/mem/v1/events": "events", "/mem/v1/videos": "videos"}


def decrypt(cipher, key_hex, iv_hex, data, legacy=False):
    args = ["openssl", "enc", "-d", "-" + cipher, "-K", key_hex, "-iv", iv_hex, "-nosalt"]
    if legacy:
        args += ["-provider", "legacy", "-provider", "default"]
    r = subprocess.run(args, input=data, capture_output=True)
    if r.returncode != 0:
        raise ValueError("decryption failed: " + r.stderr.decode(errors="replace")[:200])
    return r.stdout


class Upstream:
    def __init__(self, des_key=None, des_iv=b"12345678", appid=None, appsecret=None, sm4_key=None,
                 sm4_iv=None):
        self.des_key, self.des_iv = des_key, des_iv
        self.appid, self.appsecret, self.sm4_key, self.sm4_iv = appid, appsecret, sm4_key, sm4_iv
        self.lock = threading.Lock()
        self.got = []           # acknowledged requests, in arrival order
        self.refused = []       # refused requests
        self.failures = 0       # requests answered 503
        self.refuse_next = 0    # refuse this many more requests
        self.refuse_codes = set()  # refuse a request naming any of these point codes
        self.fail_next = 0      # answer 503 to this many more requests
        self.fail_after = None  # answer this many more requests, then 503 to every one (None: off)
        self.errors = []        # requests that could not be decrypted or parsed
        self.drop_next = 0      # process this many more requests, then close without answering
        self.answers = {}       # Idempotency-Key -> (body, status, answer)
        self.replays = 0        # requests answered from a stored key
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.httpd = None
        self.up()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def up(self):
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status, answer = mock.handle(self.path, self.headers, body)
                if status is None:  # processed, the answer lost on the way
                    self.close_connection = True
                    return
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def down(self):
        """Closes the listening socket: new connections are refused."""
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    # ---- one request ------------------------------------------------------------------

    def decode(self, path, headers, body):
        outer = json.loads(body)
        if path in HEBEI_KINDS:
            raw = base64.b64decode(binascii.unhexlify(outer["data"]), validate=True)
            inner = json.loads(decrypt("des-cbc", self.des_key.hex(), self.des_iv.hex(), raw, legacy=True))
            return "hebei", HEBEI_KINDS[path], outer, inner
        if path in MEM_KINDS:
            if headers.get("appsecret") != self.appsecret or outer.get("appid") != self.appid:
                raise PermissionError("wrong appid or appsecret")
            raw = binascii.unhexlify(outer["data"])
            inner = json.loads(decrypt("sm4-cbc", self.sm4_key, self.sm4_iv, raw))
            return "mem", MEM_KINDS[path], outer, inner
        raise LookupError("no such path " + path)

    @staticmethod
    def codes(dialect, kind, inner):
        """The point / camera codes a request names."""
        if dialect == "hebei":
            if kind == "readings":
                return [x["tnm"] for x in inner["data"]["rts"]]
            if kind == "events":
                return [x["oname"] for x in inner["data"]["events"]]
            return [inner["videoCode"]]
        if kind == "videos":
            return [x["camera"] for x in inner["videos"]]
        return [x["point"] for x in inner[kind]]

    @staticmethod
    def items(dialect, kind, inner):
        if dialect == "hebei":
            return inner["data"]["rts"] if kind == "readings" else (
                inner["data"]["events"] if kind == "events" else [inner])
        return inner[kind]

    def handle(self, path, headers, body):
        key = headers.get("Idempotency-Key")
        with self.lock:
            if key in self.answers:
                first, status, answer = self.answers[key]
                if first != body:
                    self.errors.append(f"Idempotency-Key {key} sent again with another body")
                self.replays += 1
                return status, answer
        status, answer = self.process(path, headers, body, key)
        with self.lock:
            if key and status < 500:
                self.answers[key] = (body, status, answer)
            if status < 500 and self.drop_next > 0:
                self.drop_next -= 1
                return None, None
        return status, answer

    def process(self, path, headers, body, key):
        try:
            dialect, kind, outer, inner = self.decode(path, headers, body)
        except PermissionError as e:
            with self.lock:
                self.errors.append(str(e))
            return 401, {"code": 401, "msg": str(e), "data": None}
        except Exception as e:  # what the forwarder sent is wrong: the test fails on errors
            with self.lock:
                self.errors.append(f"{path}: {e!r}")
            return 400, {"code": 400, "msg": "undecodable: " + str(e)[:100], "data": None}
        rec = {"dialect": dialect, "kind": kind, "outer": outer, "inner": inner, "img": outer.get("img"),
               "key": key}
        with self.lock:
            if self.fail_after is not None and self.fail_after == 0:
                self.failures += 1
                return 503, {"code": 503, "msg": "busy", "data": None}
            if self.fail_after is not None:
                self.fail_after -= 1
            if self.fail_next > 0:
                self.fail_next -= 1
                self.failures += 1
                return 503, {"code": 503, "msg": "busy", "data": None}
            codes = set(self.codes(dialect, kind, inner))
            if self.refuse_next > 0 or codes & self.refuse_codes:
                self.refuse_next = max(0, self.refuse_next - 1)
                self.refused.append(rec)
                return 200, {"code": 400, "msg": "测试拒绝 refused by the mock", "data": None}
            self.got.append(rec)
        n = len(self.items(dialect, kind, inner))
        if dialect == "hebei":
            return 200, {"code": 200, "msg": "操作成功", "data": None}
        return 200, {"accepted": n, "duplicate": 0, "rejected": 0, "errors": []}

    # ---- what it got -------------------------------------------------------------------

    def received(self, kind=None, refused=False):
        """(dialect, kind, item) of every acknowledged (or refused) item, in arrival order."""
        with self.lock:
            recs = list(self.refused if refused else self.got)
        out = []
        for r in recs:
            if kind and r["kind"] != kind:
                continue
            for it in self.items(r["dialect"], r["kind"], r["inner"]):
                out.append((r, it))
        return out
