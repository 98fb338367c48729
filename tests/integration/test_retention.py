"""Retention (job_retention.c, migration 0105): with short configured ages the
worker drops old video alarm images and check-in photos (the rows stay), thins
old risk scores to the daily points, the grade/override changes and the rows a
warning refers to, and leaves everything younger alone.  The audit log is
exported before anything of it is deleted (deploy/audit-archive.sh)."""
import json
import os
import subprocess
import tempfile
from datetime import datetime, timedelta, timezone

import dwtest as t
import fixtures

NOW = datetime.now(timezone.utc).replace(microsecond=0)
IMG = "\\\\x89504e470d0a1a0a"


def ts(dt):
    return dt.isoformat()


def seed(db, ents):
    a = ents[list(ents)[0]]
    e = a["id"]
    # video alarms: stored 3 days ago (image goes) and 1 day ago (image stays)
    for days, code in ((3, "OLD"), (1, "NEW")):
        db.sql(f"INSERT INTO video_alarms (enterprise_id, camera_code, occurred_at, alarm_type, image, "
               f"source, received_at) VALUES ({e}, 'CAM-{code}', '{ts(NOW - timedelta(days=days))}', "
               f"'smoke', E'{IMG}', 'native', '{ts(NOW - timedelta(days=days))}')")
    # a video alarm whose gateway claims an old time but that arrived now: its age is
    # the server's storage time, so it keeps its image
    db.sql(f"INSERT INTO video_alarms (enterprise_id, camera_code, occurred_at, alarm_type, image, source) "
           f"VALUES ({e}, 'CAM-CLAIMS-OLD', '{ts(NOW - timedelta(days=30))}', 'smoke', E'{IMG}', 'native')")
    area = db.scalar(f"INSERT INTO cleaning_areas (enterprise_id, name, frequency) VALUES ({e}, 'probe', "
                     f"'daily') RETURNING id")
    for days, person in ((4, "old"), (2, "new")):
        at = ts(NOW - timedelta(days=days))
        db.sql(f"INSERT INTO cleaning_checkins (area_id, enterprise_id, person, checked_at, method, photo, "
               f"photo_type, created_at) VALUES ({area}, {e}, '{person}', '{at}', 'vacuum', E'{IMG}', "
               f"'image/png', '{at}')")
    # risk scores: days 10..6 ago (older than the 5-day detail age) four a day at 01, 07,
    # 13, 19 h UTC, grades changing now and then; two days ago four more (young)
    grades = {10: ["blue", "blue", "blue", "blue"], 9: ["blue", "yellow", "yellow", "blue"],
              8: ["blue", "blue", "orange", "orange"], 7: ["orange", "orange", "orange", "orange"],
              6: ["orange", "blue", "blue", "blue"], 2: ["blue", "blue", "blue", "blue"]}
    rows = []  # (id, computed_at, grade, override_reason)
    for days in sorted(grades, reverse=True):
        day = (NOW - timedelta(days=days)).replace(hour=0, minute=0, second=0)
        for k, g in enumerate(grades[days]):
            at = day + timedelta(hours=1 + 6 * k)
            override = "'O.MAJOR_HAZARD'" if (days == 8 and k == 1) else "NULL"
            sid = int(db.scalar(
                f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
                f"grade_by_score, override, override_reason, rules, inputs, trigger) VALUES ({e}, '{ts(at)}', "
                f"'probe', 10, 10, 0, 0, 0, '{g}', '{g}', {override != 'NULL'}, {override}, '[]', '{{}}', "
                f"'periodic') RETURNING id"))
            rows.append((sid, at, g, None if override == "NULL" else "O.MAJOR_HAZARD"))
    # a warning refers to a mid-day row that would otherwise go (day 7, third row)
    referenced = [r for r in rows if r[1].date() == (NOW - timedelta(days=7)).date()][2][0]
    db.sql(f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, "
           f"supervisor, current_level) VALUES ({e}, 'O.RETENTION_PROBE', 'orange', {referenced}, "
           f"now(), now() + interval '1 hour', now() + interval '4 hours', 'district', 'district')")
    # expected survivors: young rows, the first of each UTC day, changes, the referenced one
    keep = set()
    prev = None
    cutoff = NOW - timedelta(days=5)
    seen_days = set()
    for sid, at, g, o in rows:
        first = at.date() not in seen_days
        seen_days.add(at.date())
        change = prev is None or prev[0] != g or prev[1] != o
        if at >= cutoff or first or change or sid == referenced:
            keep.add(sid)
        prev = (g, o)
    return e, keep, len(rows)


def test_media_and_risk_history_pruned():
    db = t.Database()
    try:
        ents = fixtures.make_city(db)
        e, keep, n_rows = seed(db, ents)
        assert len(keep) < n_rows - 5, "the fixture has rows to thin"
        srv = t.Server(db, video_image_retention_days=2, checkin_photo_retention_days=3,
                       risk_score_detail_days=5, worker_interval_ms=300,
                       risk_recompute_all_s=86400)
        try:
            t.wait_for(lambda: db.scalar("SELECT count(*) FROM video_alarms WHERE image IS NULL") == "1",
                       timeout=30, what="the old video image dropped")
            t.wait_for(lambda: "retention done" in srv.logtext(), timeout=30, what="retention log")
            vids = dict(db.sql("SELECT camera_code, (image IS NOT NULL)::text FROM video_alarms"))
            assert vids == {"CAM-OLD": "false", "CAM-NEW": "true", "CAM-CLAIMS-OLD": "true"}, vids
            photos = dict(db.sql("SELECT person, (photo IS NOT NULL AND photo_type IS NOT NULL)::text "
                                 "FROM cleaning_checkins"))
            assert photos == {"old": "false", "new": "true"}, photos
            got = {int(r[0]) for r in db.sql(
                f"SELECT id FROM risk_scores WHERE enterprise_id = {e} AND model_version = 'probe'")}
            assert got == keep, (sorted(got), sorted(keep))
            # the metrics say what was removed
            st, _, body = t.request(srv.api_port, "GET", "/metrics")
            assert st == 200
            text = body.decode()
            assert 'dustwatch_retention_pruned_total{kind="video_image"} 1\n' in text
            assert 'dustwatch_retention_pruned_total{kind="checkin_photo"} 1\n' in text
            assert f'dustwatch_retention_pruned_total{{kind="risk_score"}} {n_rows - len(keep)}\n' in text
        finally:
            assert srv.stop() == 0, srv.logtext()
    finally:
        db.drop()


def test_nothing_pruned_when_ages_are_zero():
    db = t.Database()
    try:
        ents = fixtures.make_city(db)
        e, keep, n_rows = seed(db, ents)
        srv = t.Server(db, video_image_retention_days=0, checkin_photo_retention_days=0,
                       risk_score_detail_days=0, worker_interval_ms=300, risk_recompute_all_s=86400)
        try:
            # maintenance (and with it retention) has run once the worker's first tick ended
            def ticked():
                st, _, body = t.request(srv.api_port, "GET", "/metrics")
                return st == 200 and 'dustwatch_worker_job_seconds_count{job="maintenance"} 1' in body.decode()
            t.wait_for(ticked, timeout=30, what="maintenance ran")
            assert db.scalar("SELECT count(*) FROM video_alarms WHERE image IS NULL") == "0"
            assert db.scalar("SELECT count(*) FROM cleaning_checkins WHERE photo IS NULL") == "0"
            assert db.scalar(f"SELECT count(*) FROM risk_scores WHERE model_version = 'probe'") == str(n_rows)
        finally:
            assert srv.stop() == 0, srv.logtext()
    finally:
        db.drop()


def test_audit_archive_exports_before_deleting():
    from test_api import admin
    db = t.Database()
    out = tempfile.mkdtemp(prefix="dw-audit-archive-")
    try:
        fixtures.make_city(db)
        for i in range(3):
            admin(db, "create-account", "--username", f"arch.{i}", "--role", "street_staff",
                  "--region", "310113103")
        n_before = int(db.scalar("SELECT count(*) FROM audit_log"))
        assert n_before >= 3
        import time
        time.sleep(1.2)  # the bound is whole seconds: every row so far is before it
        bound = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        time.sleep(1.2)
        script = os.path.join(t.SRC, "deploy/audit-archive.sh")
        env = db.env(DUSTWATCH_BIN=os.path.abspath(t.BIN))
        # too young for the default six months: refused, nothing exported or deleted
        r = subprocess.run([script, "--before", bound, "--out", out], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and "days ago" in r.stderr, (r.returncode, r.stderr)
        assert os.listdir(out) == [] and int(db.scalar("SELECT count(*) FROM audit_log")) == n_before
        admin(db, "create-account", "--username", "arch.after", "--role", "street_staff",
              "--region", "310113103")
        n_total = int(db.scalar("SELECT count(*) FROM audit_log"))
        assert n_total > n_before
        r = subprocess.run([script, "--before", bound, "--out", out, "--min-age-days", "0"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (r.stdout, r.stderr)
        files = sorted(os.listdir(out))
        assert len(files) == 2 and files[1] == files[0] + ".sha256", files
        with open(os.path.join(out, files[0])) as f:
            lines = [json.loads(x) for x in f]
        # exactly the rows deleted are in the file, the later one stays in the table
        assert len(lines) == n_before, (len(lines), n_before)
        assert f"deleted {n_before} rows" in r.stdout, r.stdout
        assert int(db.scalar("SELECT count(*) FROM audit_log")) == n_total - n_before
        assert not any("arch.after" in json.dumps(x) for x in lines)
        chk = subprocess.run(["sha256sum", "-c", files[1]], cwd=out, capture_output=True, text=True)
        assert chk.returncode == 0, chk.stdout + chk.stderr
        v = subprocess.run([t.BIN, "audit", "verify"], env=db.env(), capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
        # a second run for the same bound refuses to overwrite the export
        r = subprocess.run([script, "--before", bound, "--out", out, "--min-age-days", "0"], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "exists already" in r.stderr, r.stderr
    finally:
        subprocess.run(["rm", "-rf", out])
        db.drop()


if __name__ == "__main__":
    t.run([test_media_and_risk_history_pruned, test_nothing_pruned_when_ages_are_zero,
           test_audit_archive_exports_before_deleting])
