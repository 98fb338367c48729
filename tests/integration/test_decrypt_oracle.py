"""The Hebei padding oracle (issue 11 item 10).  A request whose encrypted
data the credential's key does not turn into a valid batch is answered one
fixed way whatever failed (padding, JSON, shape), quotes nothing decrypted,
is counted per credential and source address, and after
ingest_decrypt_fail_max failures the pair is locked out (429 decrypt_locked,
an audit_log row); another address is not locked out."""
import base64
import http.client
import json
import subprocess
from datetime import datetime, timedelta, timezone

import dialects
import dwtest as t
import fixtures

BJ = timezone(timedelta(hours=8))
FRAGMENT = "ZQXJFRAGMENT"  # plaintext that must never come back


def des(key, data, pad=True):
    args = ["openssl", "enc", "-des-cbc", "-K", key.encode().hex(), "-iv", b"12345678".hex(),
            "-nosalt", "-provider", "legacy", "-provider", "default"]
    if not pad:
        args.append("-nopad")
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout


def outer(qybm, cipher):
    return {"qybm": qybm, "data": base64.b64encode(cipher).hex().upper()}


def post(port, body, source="127.0.0.1"):
    """Raw bytes of the answer, from a chosen source address."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    c.request("POST", "/rabbitmqfcsb/api/rtsData", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def valid_body(ent):
    bj = (datetime.now(timezone.utc) - timedelta(minutes=2)).astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")
    inner = {"qybm": ent["code"], "data": {"rts": [{"tnm": ent["points"]["hopper_temp"][0], "ts": bj, "val": "25"}]}}
    return dialects.hebei_body(ent["code"], inner, ent["des_key"])


def test_failures_identical_counted_and_locked_out():
    db = t.Database()
    srv = None
    try:
        ents = fixtures.make_city(db)
        a = ents["310113000001"]
        srv = t.Server(db, roles="ingest", ingest_decrypt_fail_max=4, ingest_decrypt_lockout_s=600)
        port = srv.ingest_port
        # 16 bytes without padding: the last decrypted byte is "0", no valid PKCS#5 padding
        bad_padding = outer(a["code"], des(a["des_key"], (FRAGMENT + "0000").encode()[:16], pad=False))
        # valid padding, not JSON, and a fragment jansson would quote ("near '...'")
        bad_json = outer(a["code"], des(a["des_key"], ("{" + FRAGMENT + " x}").encode()))
        # valid JSON of the wrong shape
        bad_shape = outer(a["code"], des(a["des_key"], json.dumps({"qybm": a["code"], "x": FRAGMENT}).encode()))
        answers = [post(port, b) for b in (bad_padding, bad_json, bad_shape)]
        for st, _, raw in answers:
            assert FRAGMENT.encode() not in raw and FRAGMENT.lower().encode() not in raw.lower(), raw
        assert answers[0][2] == answers[1][2] == answers[2][2], answers
        assert answers[0][0] == answers[1][0] == answers[2][0], answers
        r = json.loads(answers[0][2])
        assert r["code"] == 400 and r["msg"].startswith("decrypt_failed:"), r
        assert db.scalar("SELECT count(*) FROM readings") == "0"
        rows = db.sql("SELECT credential, source, failures, locked_until IS NULL FROM ingest_decrypt_failures")
        assert rows == [[f"hebei_des:{a['code']}", "127.0.0.1", "3", "t"]], rows
        assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'ingest_decrypt_lockout'") == "0"
        # the fourth failure locks the pair out: 429 with the registry code and a Retry-After
        st, h, raw = post(port, bad_padding)
        r = json.loads(raw)
        assert st == 429 and r["code"] == 429 and r["msg"].startswith("decrypt_locked:"), (st, raw)
        assert 500 <= int(h["retry-after"]) <= 600, h
        audit = db.sql("SELECT username, source_ip, object, result FROM audit_log "
                       "WHERE action = 'ingest_decrypt_lockout'")
        assert audit == [["ingest", "127.0.0.1", f"hebei_des:{a['code']}", "locked"]], audit
        # locked means locked: a valid body from that address is refused before decryption,
        # and a bad one no longer reaches the decoder either (no new audit row)
        st, _, raw = post(port, valid_body(a))
        assert st == 429 and json.loads(raw)["msg"].startswith("decrypt_locked:"), (st, raw)
        st, _, raw = post(port, bad_json)
        assert st == 429, (st, raw)
        assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'ingest_decrypt_lockout'") == "1"
        assert db.scalar("SELECT count(*) FROM readings") == "0"
        # per source: the gateway at another address still delivers
        st, _, raw = post(port, valid_body(a), source="127.0.0.2")
        assert st == 200 and json.loads(raw)["code"] == 200, (st, raw)
        assert db.scalar("SELECT count(*) FROM readings") == "1"
        # per credential: another enterprise from the locked address is not locked out
        b = ents["310113000002"]
        st, _, raw = post(port, valid_body(b))
        assert st == 200 and json.loads(raw)["code"] == 200, (st, raw)
        # the log names the stage for operators, never the decrypted text
        log = srv.logtext()
        assert "reason=bad_json" in log and "reason=decrypt_failed" in log and FRAGMENT not in log, log
    finally:
        if srv:
            srv.stop()
        db.drop()


def test_mem_failures_identical():
    db = t.Database()
    srv = None
    try:
        ents = fixtures.make_city(db)
        a = ents["310113000001"]
        srv = t.Server(db, roles="ingest")

        def sm4(data, pad=True):
            args = ["openssl", "enc", "-sm4-cbc", "-K", a["sm4_key"], "-iv", a["sm4_iv"], "-nosalt"]
            if not pad:
                args.append("-nopad")
            return subprocess.run(args, input=data, capture_output=True, check=True).stdout

        def send(cipher):
            return t.request(srv.ingest_port, "POST", "/mem/v1/readings",
                             {"appid": a["appid"], "data": cipher.hex()}, {"appsecret": a["appsecret"]})

        s1 = send(sm4((FRAGMENT + "00000000000000000000")[:32].encode(), pad=False))
        s2 = send(sm4(("{" + FRAGMENT + " x}").encode()))
        assert s1[0] == s2[0] == 400 and s1[2] == s2[2], (s1, s2)
        assert s1[2]["code"] == "decrypt_failed" and FRAGMENT not in json.dumps(s1[2]), s1
    finally:
        if srv:
            srv.stop()
        db.drop()


if __name__ == "__main__":
    t.run([test_failures_identical_counted_and_locked_out, test_mem_failures_identical])
