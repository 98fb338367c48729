"""Prometheus /metrics on both listeners: the text format parsed strictly,
counters that move by exactly what was sent, access control, and the
operator files in deploy/ (Grafana dashboard JSON, Prometheus alert rules)."""
import json
import math
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
SAMPLE = re.compile(rf"^({NAME})(\{{(?:{LABEL})(?:,{LABEL})*\}})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')


def parse(text):
    """Strict parse of the text exposition format 0.0.4 as we write it: every
    line is a HELP, a TYPE or a sample; every sample's family has HELP and TYPE
    before it; a family appears in one block; histogram buckets are cumulative
    and end with +Inf equal to _count.  Returns {(name, frozenset(labels)): value}
    and {family: type}."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    helps, types, samples, seen_done = {}, {}, {}, set()
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        assert line, f"line {n}: empty line"
        if line.startswith("# HELP "):
            m = re.match(rf"^# HELP ({NAME}) (.*)$", line)
            assert m, f"line {n}: bad HELP: {line!r}"
            fam = m.group(1)
            assert fam not in helps, f"line {n}: second HELP for {fam}"
            assert m.group(2).strip(), f"line {n}: empty help for {fam}"
            helps[fam] = m.group(2)
            if current and current != fam:
                seen_done.add(current)
            assert fam not in seen_done, f"line {n}: family {fam} split"
            current = fam
            continue
        if line.startswith("# TYPE "):
            m = re.match(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$", line)
            assert m, f"line {n}: bad TYPE: {line!r}"
            assert m.group(1) == current and m.group(1) not in types, f"line {n}: TYPE out of place"
            types[m.group(1)] = m.group(2)
            continue
        assert not line.startswith("#"), f"line {n}: stray comment {line!r}"
        m = SAMPLE.match(line)
        assert m, f"line {n}: not a sample: {line!r}"
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        fam = name
        if types.get(current) == "histogram":
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
        assert fam == current and fam in types and fam in helps, \
            f"line {n}: sample {name} outside its family's block (current {current})"
        if value in ("+Inf", "-Inf", "NaN"):
            v = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}[value]
        else:
            assert re.match(r"^-?[0-9.]+(e[+-]?[0-9]+)?$", value), f"line {n}: bad value {value!r}"
            v = float(value)
        lab = frozenset(LABEL_RE.findall(labels))
        key = (name, lab)
        assert key not in samples, f"line {n}: duplicate sample {line!r}"
        if types[fam] == "counter":
            assert v >= 0, f"line {n}: negative counter"
        samples[key] = v
    # histograms: cumulative buckets, +Inf == _count
    for fam, typ in types.items():
        if typ != "histogram":
            continue
        series = {}
        for (name, lab), v in samples.items():
            if name == fam + "_bucket":
                d = dict(lab)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append(
                    (math.inf if le == "+Inf" else float(le), v))
        for lab, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), f"{fam}{dict(lab)}: buckets not cumulative"
            assert buckets[-1][0] == math.inf, f"{fam}: no +Inf bucket"
            assert samples[(fam + "_count", lab)] == buckets[-1][1], f"{fam}: +Inf != _count"
            assert (fam + "_sum", lab) in samples
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(port, headers=None):
    st, h, body = t.request(port, "GET", "/metrics", headers=headers)
    assert st == 200, (st, body)
    assert h["content-type"].startswith("text/plain; version=0.0.4"), h
    text = body.decode() if isinstance(body, bytes) else body
    return text, parse(text)


def promtool_lint(text):
    """promtool check metrics when it is installed (Debian prometheus): its
    lint must not find a problem."""
    if not shutil.which("promtool"):
        return
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


class Env:
    def __init__(self, **cfg):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        self.srv = t.Server(self.db, worker_interval_ms=300, **cfg)
        self.a = self.ents[list(self.ents)[0]]

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def iso(dt):
    return dt.isoformat()


def test_both_listeners_parse_strictly():
    e = Env()
    try:
        for port in (e.srv.ingest_port, e.srv.api_port):
            text, (samples, types) = scrape(port)
            promtool_lint(text)
            for fam in ("dustwatch_ingest_requests_total", "dustwatch_ingest_items_total",
                        "dustwatch_ingest_rejections_total", "dustwatch_ingest_ack_seconds",
                        "dustwatch_ingest_queue_depth", "dustwatch_ingest_commit_batch_items",
                        "dustwatch_db_errors_total", "dustwatch_db_pool_in_use",
                        "dustwatch_redis_up", "dustwatch_api_requests_total",
                        "dustwatch_api_request_seconds", "dustwatch_sse_clients",
                        "dustwatch_worker_job_seconds", "dustwatch_rollup_lag_seconds",
                        "dustwatch_risk_recompute_queue", "dustwatch_worker_escalations_total",
                        "process_resident_memory_bytes", "process_open_fds"):
                assert fam in types, f"{fam} missing on port {port}"
            assert types["dustwatch_ingest_ack_seconds"] == "histogram"
            assert types["dustwatch_ingest_items_total"] == "counter"
            assert value(samples, "process_resident_memory_bytes") > 1e6
            assert value(samples, "process_open_fds") >= 3
            assert value(samples, "dustwatch_db_pool_size") >= 1
        # the worker's figures arrive with its first ticks
        def worker_ticked():
            s = scrape(e.srv.api_port)[1][0]
            return (value(s, "dustwatch_worker_last_tick_timestamp_seconds") > 0 and
                    value(s, "dustwatch_worker_job_seconds_count", job="rollup") >= 1 and
                    value(s, "dustwatch_redis_up") == 1)
        t.wait_for(worker_ticked, timeout=20, what="worker figures and Redis up")
        # /metrics answers GET only
        st, h, body = t.request(e.srv.ingest_port, "POST", "/metrics", body="")
        assert st == 405 and body["code"] == "method_not_allowed", (st, body)
        st, h, body = t.request(e.srv.api_port, "POST", "/metrics", body="")
        assert st == 405, (st, body)
    finally:
        e.close()


def test_counters_move_by_exactly_what_was_sent():
    e = Env()
    try:
        ip, ap = e.srv.ingest_port, e.srv.api_port
        before = scrape(ip)[1][0]
        before_api = scrape(ap)[1][0]
        good = e.a["points"]["hopper_temp"][0]
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        five = [{"point": good, "ts": iso(start + timedelta(seconds=i)), "value": 30 + i}
                for i in range(5)]
        h = {"X-Api-Key": e.a["api_key"]}
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": five}, h)
        assert st == 200 and r["accepted"] == 5, (st, r)
        # the same five again (duplicates) and two of an unknown point
        again = five + [{"point": "NOSUCHPOINT01", "ts": iso(start), "value": 1},
                        {"point": "NOSUCHPOINT02", "ts": iso(start), "value": 1}]
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": again}, h)
        assert st == 200 and r["duplicate"] == 5 and r["rejected"] == 2, (st, r)
        # a wrong key: refused by the writer as a whole request
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": five},
                                {"X-Api-Key": "dw_wrong_key_000000000000"})
        assert st == 401 and r["code"] == "unauthenticated", (st, r)
        # no key at all: refused on the headers, before the body is read
        st, _, r = e.srv.ingest("POST", "/ingest/v1/readings", {"readings": five})
        assert st == 401, (st, r)
        # a path no dialect serves
        st, _, r = e.srv.ingest("GET", "/nowhere")
        assert st == 404, (st, r)
        for _ in range(3):
            assert e.srv.api("GET", "/healthz")[0] == 200

        after = scrape(ip)[1][0]

        def d(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        assert d("dustwatch_ingest_items_total", dialect="native", outcome="accepted") == 5
        assert d("dustwatch_ingest_items_total", dialect="native", outcome="duplicate") == 5
        assert d("dustwatch_ingest_items_total", dialect="native", outcome="rejected") == 2
        assert d("dustwatch_ingest_items_total", dialect="native", outcome="conflicting") == 0
        assert d("dustwatch_ingest_rejections_total", dialect="native", scope="item",
                 reason="unknown_point") == 2
        assert d("dustwatch_ingest_rejections_total", dialect="native", scope="request",
                 reason="unauthenticated") == 2
        assert d("dustwatch_ingest_rejections_total", dialect="none", scope="request",
                 reason="not_found") == 1
        assert d("dustwatch_ingest_requests_total", dialect="native", status="200") == 2
        assert d("dustwatch_ingest_requests_total", dialect="native", status="401") == 2
        assert d("dustwatch_ingest_requests_total", dialect="none", status="404") == 1
        # three requests reached a writer and were answered after it
        assert d("dustwatch_ingest_ack_seconds_count", dialect="native") == 3
        assert d("dustwatch_ingest_commits_total", result="ok") >= 1
        assert d("dustwatch_ingest_commit_batch_items_sum") == 12
        assert value(after, "dustwatch_ingest_queue_depth") == 0

        after_api = scrape(ap)[1][0]
        assert (value(after_api, "dustwatch_api_requests_total", route="/healthz", method="GET",
                      status="200") -
                value(before_api, "dustwatch_api_requests_total", route="/healthz", method="GET",
                      status="200")) == 3
        # the first scrape of the API listener is counted once its answer went out
        assert value(after_api, "dustwatch_api_requests_total", route="/metrics", method="GET",
                     status="200") >= 1
    finally:
        e.close()


def test_access_control():
    token = "metrics-test-token-0123456789"
    e = Env(metrics_allow="192.0.2.0/24", metrics_token=token)
    try:
        for port in (e.srv.ingest_port, e.srv.api_port):
            st, _, body = t.request(port, "GET", "/metrics")
            assert st == 403 and body["code"] == "metrics_forbidden", (port, st, body)
            assert "127.0.0.1" in body["detail"], body
            st, _, body = t.request(port, "GET", "/metrics",
                                    headers={"Authorization": "Bearer " + token[:-1] + "x"})
            assert st == 403, (port, st)
            scrape(port, headers={"Authorization": "Bearer " + token})
    finally:
        e.close()
    # a list that is not one is refused at start
    db = t.Database()
    try:
        srv = t.Server(db, wait_ready=False, metrics_allow="not-a-network")
        assert srv.proc.wait(20) != 0
        assert "metrics_allow" in srv.logtext(), srv.logtext()
    finally:
        db.drop()


def test_deploy_files_are_valid():
    root = t.SRC
    with open(os.path.join(root, "deploy/grafana-dashboard.json")) as f:
        dash = json.load(f)
    exprs = [tg["expr"] for p in dash["panels"] for tg in p.get("targets", [])]
    assert len(exprs) >= 8, "the dashboard charts the main figures"
    rules_file = os.path.join(root, "deploy/prometheus-alerts.yml")
    with open(rules_file) as f:
        rules = f.read()
    # every metric a panel or rule names is one the server exports
    e = Env()
    try:
        _, (samples, types) = scrape(e.srv.api_port)
    finally:
        e.close()
    known = set(types)
    for text in exprs + re.findall(r"expr:\s*(.+)", rules):
        for name in re.findall(r"\b((?:dustwatch|process)_[a-z_]+)", text):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in known or base in known, f"unknown metric {name} in {text}"
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "rules", rules_file], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    else:
        assert "groups:" in rules and "alert:" in rules


ROLLUP_LOCK = 7310312016119213  # dw_rollup_fill's: while another session holds it, the step skips


def test_late_backlog_counts_point_hours_not_queue_rows():
    """dustwatch_rollup_late_backlog counts late point-hours: since migration 0143 a point-hour
    is queued once per late statement (rollup_dirty has no unique key), so two statements of one
    point-hour and one of another are three rows and two point-hours.  The rollup lock is held
    meanwhile: the worker's step skips and leaves the queue as written."""
    e = Env()
    lock = None
    try:
        lock = t.psql_session(e.db.name, "rollup_lock")
        lock.stdin.write(f"SELECT pg_advisory_lock({ROLLUP_LOCK});\n")
        lock.stdin.flush()
        t.wait_for(lambda: e.db.scalar(
            f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
            f"classid = {ROLLUP_LOCK >> 32} AND objid = {ROLLUP_LOCK & 0xffffffff}") == "1",
            what="rollup lock held")
        p1, p2 = e.a["points"]["hopper_temp"][1], e.a["points"]["pressure_diff"][1]
        ins = ("INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id) VALUES "
               f"(%s, date_bin('1 hour', now(), timestamptz '2000-01-01') - interval '2 hours' "
               f"+ interval '%s minutes', 1, 0, {e.a['id']});")
        e.db.sql("SELECT set_config('dw.scope', 'system', false);"
                 "SELECT dw_ensure_readings_partition(current_date), dw_ensure_readings_partition(current_date - 1);"
                 "BEGIN;" + ins % (p1, 1) + ins % (p1, 2) + ins % (p2, 1) + "COMMIT;")
        assert e.db.scalar("SELECT count(*) FROM rollup_dirty") == "3"
        backlog = t.wait_for(lambda: value(scrape(e.srv.api_port)[1][0], "dustwatch_rollup_late_backlog"),
                             what="the backlog read by a tick")
        assert backlog == 2, backlog
    finally:
        if lock:
            lock.kill()
        e.close()


if __name__ == "__main__":
    t.run([test_both_listeners_parse_strictly, test_counters_move_by_exactly_what_was_sent,
           test_access_control, test_deploy_files_are_valid,
           test_late_backlog_counts_point_hours_not_queue_rows])
