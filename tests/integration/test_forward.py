"""Upward forwarding (issue 18): `serve --roles forward`.

* Hebei V1.1 to a mock upstream that decrypts with openssl (upstream_mock.py):
  only the selected enterprise is forwarded, in the upstream's codes (mapping);
  while the upstream is down ingest goes on, and once it is back readings,
  events and video alarms (with the snapshot) arrive exactly once and in
  order; a refused request lands in the dead-letter list with the upstream's
  reason, the resend action delivers it, and the reconciliation report's
  numbers are what the mock counted.
* MEM (SM4 envelope, appsecret header) to the mock: the selected kinds only,
  batches of batch_max, the keys sealed at rest and never answered.
* Cascade: a second dustwatch instance (its own database) is the upstream in
  the Hebei dialect; every forwarded reading lands there once, also across an
  outage of the upstream.
* The API: scope (a district administrator's target forwards its district
  only; other districts' targets look missing), validation of bodies and
  mappings."""
import base64
import os
import secrets
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures
from test_api import City
from upstream_mock import Upstream

BJ = timezone(timedelta(hours=8))
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(200) + b"\xff\xd9"
FAST = dict(roles="ingest,api,worker,forward", forward_poll_ms=100, forward_retry_min_ms=100,
            forward_retry_max_ms=400)


def iso(d):
    return d.isoformat()


def bj(d):
    return d.astimezone(BJ).strftime("%Y-%m-%d %H:%M:%S")


def readings(c, ent, items):
    st, _, r = c.srv.ingest("POST", "/ingest/v1/readings", {"readings": items}, {"X-Api-Key": ent["api_key"]})
    assert st == 200 and r["rejected"] == 0, (st, r)


def series(ent, start, n, kinds=("hopper_temp", "pressure_diff")):
    """n readings per kind, one a second from start (whole seconds)."""
    out = []
    for i in range(n):
        for k in kinds:
            out.append({"point": ent["points"][k][0], "ts": iso(start + timedelta(seconds=i)),
                        "value": 40.0 + i if k == "hopper_temp" else 800.0 + i})
    return out


def report(c, user, tid):
    st, _, r = c.call(user, "GET", f"/api/v1/forward/targets/{tid}/report")
    assert st == 200, r
    return r


def test_hebei_outage_refusal_resend_and_reconciliation():
    mock = Upstream(des_key=b"fwdKey01")
    c = City(**FAST)
    try:
        a1, b1 = c.a1, c.b1
        fixtures.add_camera(c.db, a1, "CAM01")
        body = {"name": "province", "url": mock.url + "/rabbitmqfcsb", "dialect": "hebei",
                "credentials": {"des_key": "fwdKey01"}, "enterprise_ids": [a1["id"]], "batch_max": 4,
                "rate_per_s": 200, "kinds": ["readings", "events", "videos"]}
        # a district administrator may not forward another district's enterprise
        st, _, r = c.call("baoshan.admin", "POST", "/api/v1/forward/targets", dict(body, enterprise_ids=[b1["id"]]))
        assert st == 422 and r["code"] == "unprocessable", r
        st, _, tgt = c.call("baoshan.admin", "POST", "/api/v1/forward/targets", body)
        assert st == 201, tgt
        tid = tgt["id"]
        assert "credentials" not in tgt and "sealed_keys" not in tgt, tgt
        assert tgt["owner_district"] is not None and tgt["district_ids"] == [tgt["owner_district"]], tgt
        assert c.call("jiading.admin", "GET", f"/api/v1/forward/targets/{tid}")[0] == 404
        assert c.call("baoshan.staff", "GET", "/api/v1/forward/targets")[0] == 403
        # the mapping: validated against the caller's scope
        hop, pd = a1["points"]["hopper_temp"][0], a1["points"]["pressure_diff"][0]
        for obj, local, up in (("enterprise", a1["code"], "QY-UP-1"), ("point", hop, "UP-T1")):
            st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/forward/targets/{tid}/codes",
                              {"object": obj, "local_code": local, "upstream_code": up})
            assert st == 200, r
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/forward/targets/{tid}/codes",
                          {"object": "point", "local_code": b1["points"]["hopper_temp"][0], "upstream_code": "X1"})
        assert st == 422 and "in your scope" in r["detail"], r
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/forward/targets/{tid}/codes",
                          {"object": "point", "local_code": pd, "upstream_code": "UP-T1"})
        assert st == 409, r
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/forward/targets/{tid}/codes",
                          {"object": "point", "local_code": pd, "upstream_code": "bad code!"})
        assert st == 400 and r["code"] == "bad_request", r

        # batch A: a1 (forwarded) and b1 (not selected)
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
        batch_a = series(a1, t0, 3)
        readings(c, a1, batch_a)
        readings(c, b1, series(b1, t0, 3))
        t.wait_for(lambda: len(mock.received("readings")) == 6, timeout=30, what="batch A upstream")
        got = mock.received("readings")
        assert all(rec["outer"]["qybm"] == "QY-UP-1" and rec["inner"]["qybm"] == "QY-UP-1" for rec, _ in got)
        assert all(len(rec["inner"]["data"]["rts"]) <= 4 for rec, _ in got)
        sent = {(x["point"] if x["point"] != hop else "UP-T1", bj(datetime.fromisoformat(x["ts"])), x["value"])
                for x in batch_a}
        assert {(it["tnm"], it["ts"], it["val"]) for _, it in got} == sent

        # the upstream goes down; ingest goes on: readings, an event, a video alarm
        mock.down()
        batch_b = series(a1, t0 + timedelta(minutes=1), 3)
        readings(c, a1, batch_b)
        ev_ts = t0 + timedelta(minutes=2)
        st, _, r = c.srv.ingest("POST", "/ingest/v1/events", {"events": [
            {"point": hop, "ts": iso(ev_ts), "level": "high", "value": 75.5, "threshold": 70, "content": "温度高"}]},
            {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        st, _, r = c.srv.ingest("POST", "/ingest/v1/videos", {"videos": [
            {"camera": "CAM01", "ts": iso(ev_ts), "alarm_type": "SJ02001", "content": "烟火识别",
             "image_base64": base64.b64encode(JPEG).decode()}]}, {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        t.wait_for(lambda: report(c, "baoshan.admin", tid)["totals"]["failures"] >= 2, timeout=30,
                   what="failed attempts while down")
        rep = report(c, "baoshan.admin", tid)
        assert rep["last_error"] and rep["outbox_pending"] >= 3, rep

        mock.up()
        t.wait_for(lambda: len(mock.received()) == 6 + 6 + 1 + 1, timeout=30, what="catch-up")
        got = mock.received("readings")
        keys = [(it["tnm"], it["ts"]) for _, it in got]
        assert len(keys) == len(set(keys)) == 12, keys          # exactly once
        assert [it["ts"] for _, it in got][:6] == sorted(it["ts"] for _, it in got[:6])
        assert max(it["ts"] for _, it in got[:6]) < min(it["ts"] for _, it in got[6:])  # in order
        (erec, ev), = mock.received("events")
        assert ev["oname"] == "UP-T1" and ev["scd"] == 1 and ev["avx"] == 75.5 and ev["threshold"] == 70
        assert ev["ts"] == bj(ev_ts) and ev["content"] == "温度高" and erec["inner"]["qybm"] == "QY-UP-1"
        (vrec, vid), = mock.received("videos")
        assert vid["videoCode"] == "CAM01" and vid["alarmType"] == "SJ02001" and vid["ts"] == bj(ev_ts)
        assert base64.b64decode(vrec["img"]) == JPEG and vrec["outer"]["qybm"] == "QY-UP-1"

        # a refusal: dead-lettered with the upstream's reason, the watermark moves on
        mock.refuse_codes = {"UP-T1"}
        readings(c, a1, series(a1, t0 + timedelta(minutes=3), 2, kinds=("hopper_temp",)))
        # (the next batch only once this one was refused: batches pending together go up in one request)
        t.wait_for(lambda: len(mock.received(refused=True)) == 2, timeout=30, what="the refusal")
        readings(c, a1, series(a1, t0 + timedelta(minutes=4), 1, kinds=("pressure_diff",)))
        t.wait_for(lambda: len(mock.received("readings")) == 13, timeout=30, what="after the refusal")
        st, _, dl = c.call("baoshan.admin", "GET", f"/api/v1/forward/targets/{tid}/dead-letters")
        assert st == 200 and len(dl["items"]) == 1, dl
        letter = dl["items"][0]
        assert letter["items"] == 2 and letter["upstream_code"] == 400 and "refused by the mock" in letter["reason"]
        assert letter["enterprise_code"] == a1["code"] and letter["resolved_at"] is None, letter
        assert c.call("jiading.admin", "POST", f"/api/v1/forward/dead-letters/{letter['id']}/resend")[0] == 404
        mock.refuse_codes = set()
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/forward/dead-letters/{letter['id']}/resend")
        assert st == 202 and r["resend_requested"] is True, r
        t.wait_for(lambda: c.call("baoshan.admin", "GET", f"/api/v1/forward/targets/{tid}/dead-letters?open=true")[2]
                   ["items"] == [], timeout=30, what="resend acknowledged")
        st, _, r = c.call("baoshan.admin", "POST", f"/api/v1/forward/dead-letters/{letter['id']}/resend")
        assert st == 409 and r["code"] == "invalid_transition", r

        # reconciliation: the report says what the mock counted
        t.wait_for(lambda: report(c, "baoshan.admin", tid)["outbox_pending"] == 0, timeout=30, what="caught up")
        rep = report(c, "baoshan.admin", tid)
        tot = rep["totals"]
        acked_items = len(mock.received())
        refused_items = len(mock.received(refused=True))
        assert refused_items == 2 and acked_items == 6 + 6 + 1 + 1 + 1 + 2, (acked_items, refused_items)
        assert tot["acked"] + tot["resent_acked"] == acked_items, rep
        assert tot["refused"] == refused_items and tot["resent_acked"] == 2, rep
        assert tot["sent"] == tot["acked"] + tot["refused"], rep
        assert tot["failures"] >= 2 and rep["dead_letters_open"] == 0 and rep["lag_s"] == 0, rep
        by_kind = {}
        for d in rep["days"]:
            by_kind[d["kind"]] = by_kind.get(d["kind"], 0) + d["acked"]
        assert by_kind == {"readings": 13, "events": 1, "videos": 1}, rep
        assert mock.errors == [], mock.errors
        # /metrics says the same (this process was the only forwarder)
        st, _, body = t.request(c.srv.api_port, "GET", "/metrics")
        assert st == 200, st
        text = body.decode() if isinstance(body, bytes) else body
        m = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
             if ln.startswith("dustwatch_forward_")}
        assert m['dustwatch_forward_items_total{outcome="acked"}'] + \
            m['dustwatch_forward_items_total{outcome="resent"}'] == acked_items, m
        assert m['dustwatch_forward_items_total{outcome="refused"}'] == refused_items, m
        assert m['dustwatch_forward_requests_total{result="failed"}'] >= 2, m
        assert m["dustwatch_forward_lag_seconds"] == 0 and m["dustwatch_forward_targets"] == 1, m
        # the b1 rows passed the watermark without a request: nothing of b1 went up
        assert all(it["tnm"] not in {p for p, _ in b1["points"].values()} for _, it in mock.received("readings"))
    finally:
        mock.down()
        c.close()


def test_mem_selected_kinds_and_sealed_keys():
    appsecret = secrets.token_urlsafe(24)
    key, iv = secrets.token_hex(16), secrets.token_hex(16)
    mock = Upstream(appid="up-app-1", appsecret=appsecret, sm4_key=key, sm4_iv=iv)
    c = City(**FAST)
    try:
        b1 = c.b1
        fixtures.add_camera(c.db, b1, "CAM-B")
        body = {"name": "ministry", "url": mock.url + "/mem/v1", "dialect": "mem", "appid": "up-app-1",
                "credentials": {"appsecret": appsecret, "sm4_key": key, "sm4_iv": iv},
                "enterprise_ids": [b1["id"]], "kinds": ["readings", "videos"], "batch_max": 2}
        for bad, why in ((dict(body, appid=None), "appid"), (dict(body, credentials={"appsecret": "x"}), "sm4_key"),
                         (dict(body, url="ftp://x/y"), "url"), (dict(body, kinds=["readings", "sounds"]), "kinds"),
                         (dict(body, batch_max=0), "batch_max")):
            bad = {k: v for k, v in bad.items() if v is not None}
            st, _, r = c.call("city.admin", "POST", "/api/v1/forward/targets", bad)
            assert st == 400 and why in r["detail"], (why, st, r)
        st, _, tgt = c.call("city.admin", "POST", "/api/v1/forward/targets", body)
        assert st == 201 and tgt["owner_district"] is None, tgt
        st, _, r = c.call("city.admin", "POST", "/api/v1/forward/targets", body)
        assert st == 409, r
        # sealed at rest: neither the appsecret nor the SM4 key is in the row
        row = c.db.sql(f"SELECT position(convert_to('{appsecret}', 'UTF8') IN sealed_keys), "
                       f"position('\\x{key}'::bytea IN sealed_keys) FROM forward_targets WHERE id = {tgt['id']}")
        assert row == [["0", "0"]], row

        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
        readings(c, b1, series(b1, t0, 3, kinds=("hopper_temp",)))
        st, _, r = c.srv.ingest("POST", "/ingest/v1/events", {"events": [
            {"point": b1["points"]["hopper_temp"][0], "ts": iso(t0), "level": "high", "value": 90}]},
            {"X-Api-Key": b1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        st, _, r = c.srv.ingest("POST", "/ingest/v1/videos", {"videos": [
            {"camera": "CAM-B", "ts": iso(t0), "alarm_type": "smoke", "image_base64": base64.b64encode(JPEG).decode()}]},
            {"X-Api-Key": b1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        t.wait_for(lambda: len(mock.received()) == 4, timeout=30, what="mem upstream")
        t.wait_for(lambda: report(c, "city.admin", tgt["id"])["outbox_pending"] == 0, timeout=30, what="caught up")
        got = mock.received("readings")
        assert [len(rec["inner"]["readings"]) for rec in {id(r): r for r, _ in got}.values()] == [2, 1]
        assert [(it["point"], it["ts"], it["value"], it["quality"]) for _, it in got] == [
            (b1["points"]["hopper_temp"][0], (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
             40.0 + i, "good") for i in range(3)]
        (vrec, vid), = mock.received("videos")
        assert vid["camera"] == "CAM-B" and base64.b64decode(vid["image_base64"]) == JPEG
        assert mock.received("events") == [] and mock.errors == [], mock.errors
        # no answer carries a secret
        st, _, lst = c.call("city.admin", "GET", "/api/v1/forward/targets")
        assert st == 200 and appsecret not in str(lst) and key not in str(lst)
        assert report(c, "city.admin", tgt["id"])["totals"]["acked"] == 4
    finally:
        mock.down()
        c.close()


def test_cascade_into_a_second_dustwatch():
    up_db = t.Database()
    up_ents = fixtures.make_city(up_db)
    up_port = t.free_port()
    up = t.Server(up_db, roles="ingest,api", ingest_listen=f"127.0.0.1:{up_port}")
    c = City(**FAST)
    try:
        a1, ua1 = c.a1, up_ents[c.a1["code"]]
        st, _, tgt = c.call("city.admin", "POST", "/api/v1/forward/targets", {
            "name": "city", "url": f"http://127.0.0.1:{up_port}/rabbitmqfcsb", "dialect": "hebei",
            "credentials": {"des_key": ua1["des_key"]}, "enterprise_ids": [a1["id"]], "batch_max": 7,
            "kinds": ["readings", "events", "videos"]})
        assert st == 201, tgt
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        sent = []
        for b in range(4):
            if b == 2:  # the upstream goes away for two batches
                t.wait_for(lambda: up_count(up_db) == len(sent), timeout=30, what="before the outage")
                assert up.stop() == 0
            items = series(a1, t0 + timedelta(minutes=b), 5)
            readings(c, a1, items)
            sent += items
        # the forwarder found the upstream gone before it comes back
        t.wait_for(lambda: report(c, "city.admin", tgt["id"])["totals"]["failures"] >= 1, timeout=30,
                   what="a failed attempt during the outage")
        up = t.Server(up_db, roles="ingest,api", ingest_listen=f"127.0.0.1:{up_port}")
        t.wait_for(lambda: up_count(up_db) == len(sent), timeout=60, what="cascade catch-up")
        rows = up_db.sql("SELECT p.code, extract(epoch FROM r.collected_at)::bigint, r.value FROM readings r "
                         "JOIN points p ON p.id = r.point_id ORDER BY 1, 2")
        want = sorted((x["point"], str(int(datetime.fromisoformat(x["ts"]).timestamp())), x["value"]) for x in sent)
        assert [(p, e, float(v)) for p, e, v in rows] == want
        assert up_db.scalar("SELECT count(*) FROM reading_conflicts") == "0"
        t.wait_for(lambda: report(c, "city.admin", tgt["id"])["outbox_pending"] == 0, timeout=30, what="caught up")
        tot = report(c, "city.admin", tgt["id"])["totals"]
        assert tot["acked"] == len(sent) == 40 and tot["refused"] == 0 and tot["failures"] >= 1, tot
    finally:
        up.stop()
        c.close()
        up_db.drop()


def test_two_forwarders_one_delivery():
    """Any number of processes may run the forward role: one advisory lock per
    target makes one of them forward it, so nothing goes up twice."""
    mock = Upstream(des_key=b"twoKeys1")
    c = City(**FAST)
    fwd2 = t.Server(c.db, roles="api,forward", forward_poll_ms=50, forward_retry_min_ms=100,
                    forward_retry_max_ms=400)
    try:
        a1 = c.a1
        st, _, tgt = c.call("city.admin", "POST", "/api/v1/forward/targets", {
            "name": "two", "url": mock.url + "/rabbitmqfcsb", "dialect": "hebei",
            "credentials": {"des_key": "twoKeys1"}, "enterprise_ids": [a1["id"]], "rate_per_s": 500,
            "kinds": ["readings", "events", "videos"]})
        assert st == 201, tgt
        t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=20)
        for b in range(10):
            readings(c, a1, series(a1, t0 + timedelta(minutes=b), 2))
        t.wait_for(lambda: len(mock.received("readings")) >= 40, timeout=30, what="all forwarded")
        t.wait_for(lambda: report(c, "city.admin", tgt["id"])["outbox_pending"] == 0, timeout=30, what="caught up")
        keys = [(it["tnm"], it["ts"]) for _, it in mock.received("readings")]
        assert len(keys) == len(set(keys)) == 40, len(keys)
        tot = report(c, "city.admin", tgt["id"])["totals"]
        assert tot["acked"] == tot["sent"] == 40, tot
    finally:
        mock.down()
        assert fwd2.stop() == 0, fwd2.logtext()
        c.close()


def test_lost_answer_is_sent_again_under_the_same_key():
    """An upstream that processed a request but whose answer was lost gets it
    again with the same Idempotency-Key and the same body, so it can answer
    from what it stored: an event or a video alarm (no natural key) is not
    stored twice; a dead letter's resend takes a key of its own (the refused
    request's key would replay the refusal)."""
    mock = Upstream(des_key=b"lostAns1")
    c = City(**FAST)
    try:
        a1 = c.a1
        fixtures.add_camera(c.db, a1, "CAM01")
        st, _, tgt = c.call("city.admin", "POST", "/api/v1/forward/targets", {
            "name": "lost", "url": mock.url + "/rabbitmqfcsb", "dialect": "hebei",
            "credentials": {"des_key": "lostAns1"}, "enterprise_ids": [a1["id"]]})
        assert st == 201, tgt
        ts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
        mock.drop_next = 2
        st, _, r = c.srv.ingest("POST", "/ingest/v1/events", {"events": [
            {"point": a1["points"]["hopper_temp"][0], "ts": iso(ts), "level": "high", "value": 81}]},
            {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        st, _, r = c.srv.ingest("POST", "/ingest/v1/videos", {"videos": [
            {"camera": "CAM01", "ts": iso(ts), "alarm_type": "SJ02001", "image_base64": base64.b64encode(JPEG).decode()}]},
            {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        t.wait_for(lambda: report(c, "city.admin", tgt["id"])["outbox_pending"] == 0, timeout=30, what="delivered")
        assert mock.replays == 2 and mock.errors == [], (mock.replays, mock.errors)
        assert len(mock.received("events")) == 1 and len(mock.received("videos")) == 1
        assert all(rec["key"] and rec["key"].startswith("dustwatch-fwd-") for rec, _ in mock.received())
        # a refusal, then a resend: a new key (the old one would replay the refusal)
        mock.refuse_next = 1
        st, _, r = c.srv.ingest("POST", "/ingest/v1/events", {"events": [
            {"point": a1["points"]["hopper_temp"][0], "ts": iso(ts + timedelta(seconds=30)), "level": "cleared"}]},
            {"X-Api-Key": a1["api_key"]})
        assert st == 200, r
        dl = t.wait_for(lambda: c.call("city.admin", "GET", f"/api/v1/forward/targets/{tgt['id']}/dead-letters")[2]
                        ["items"], timeout=30, what="the refusal dead-lettered")
        assert c.call("city.admin", "POST", f"/api/v1/forward/dead-letters/{dl[0]['id']}/resend")[0] == 202
        t.wait_for(lambda: len(mock.received("events")) == 2, timeout=30, what="the resend")
        (rec, ev) = mock.received("events")[1]
        assert ev["scd"] == 0 and rec["key"] != mock.refused[0]["key"], (rec["key"], mock.refused[0]["key"])
    finally:
        mock.down()
        c.close()


def test_resend_requested_while_a_resend_is_in_flight_is_kept():
    """A resend requested while the worker's retry of the same dead letter is in
    flight is not lost when that retry fails: the worker clears only the request
    it took.  Here the letter row is locked by a session while the worker wants
    to record the refused retry; the session requests the resend again and
    commits; the second request must be honoured (one more attempt, acked)."""
    mock = Upstream(des_key=b"reResend")
    c = City(**FAST)
    lock = None
    try:
        a1 = c.a1
        st, _, tgt = c.call("city.admin", "POST", "/api/v1/forward/targets", {
            "name": "again", "url": mock.url + "/rabbitmqfcsb", "dialect": "hebei",
            "credentials": {"des_key": "reResend"}, "enterprise_ids": [a1["id"]]})
        assert st == 201, tgt
        ts = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
        mock.refuse_next = 3  # the first delivery and the next two resends
        st, _, r = c.srv.ingest("POST", "/ingest/v1/events", {"events": [
            {"point": a1["points"]["hopper_temp"][0], "ts": iso(ts), "level": "high", "value": 81}]},
            {"X-Api-Key": a1["api_key"]})
        assert st == 200 and r["accepted"] == 1, r
        dl = t.wait_for(lambda: c.call("city.admin", "GET", f"/api/v1/forward/targets/{tgt['id']}/dead-letters")[2]
                        ["items"], timeout=30, what="the refusal dead-lettered")
        lid = dl[0]["id"]
        # a refused resend with no newer request clears the one it served (no endless resends)
        assert c.call("city.admin", "POST", f"/api/v1/forward/dead-letters/{lid}/resend")[0] == 202
        state = f"SELECT resends, resend_requested_at IS NULL FROM forward_dead_letters WHERE id = {lid}"
        t.wait_for(lambda: c.db.sql(state) == [["1", "t"]], timeout=30, what="the refused resend recorded")
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                   "wait_event_type = 'Lock' AND query LIKE '%UPDATE forward_dead_letters SET resends%'")
        lock = t.psql_session(c.db.name, "resender")
        # the first request (what POST .../resend does), then the letter locked: the worker
        # sends the resend, is refused and waits to record that
        lock.stdin.write("SELECT set_config('dw.scope', 'system', false);\n"
                         f"UPDATE forward_dead_letters SET resend_requested_at = now() WHERE id = {lid};\n"
                         f"BEGIN; SELECT 1 FROM forward_dead_letters WHERE id = {lid} FOR UPDATE;\n")
        lock.stdin.flush()
        t.wait_for(lambda: c.db.scalar(waiting) == "1", timeout=30, what="the refused resend waiting for the letter")
        assert len(mock.refused) == 3, mock.refused
        # the person asks again while the first resend is in flight
        lock.stdin.write(f"UPDATE forward_dead_letters SET resend_requested_at = now() WHERE id = {lid};\nCOMMIT;\n")
        lock.stdin.close()
        assert lock.wait(10) == 0, lock.stderr.read()
        lock = None
        t.wait_for(lambda: c.db.scalar(waiting) == "0", what="the refused resend recorded")
        t.wait_for(lambda: c.db.scalar(f"SELECT resolved_at IS NOT NULL FROM forward_dead_letters WHERE id = {lid}") == "t",
                   timeout=10, what="the second request honoured (the letter resent and acknowledged)")
        assert c.db.scalar(f"SELECT resends FROM forward_dead_letters WHERE id = {lid}") == "3"
        assert len(mock.received("events")) == 1
    finally:
        if lock:
            lock.kill()
        mock.down()
        c.close()


def up_count(db):
    return int(db.scalar("SELECT count(*) FROM readings"))


if __name__ == "__main__":
    t.run([test_hebei_outage_refusal_resend_and_reconciliation, test_mem_selected_kinds_and_sealed_keys,
           test_cascade_into_a_second_dustwatch, test_two_forwarders_one_delivery,
           test_lost_answer_is_sent_again_under_the_same_key,
           test_resend_requested_while_a_resend_is_in_flight_is_kept])
