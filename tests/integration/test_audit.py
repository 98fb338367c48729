"""The audit trail (issue 12 item 8): a keyed hash chain whose check does not
depend on any time zone, `dustwatch audit verify` (exit non-zero at the first
broken link, naming the row), `dustwatch audit export` for a time range, old
unkeyed rows still checked after migration 0032, and an audited action that
commits or rolls back together with its audit row."""
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile

import dwtest as t
import fixtures
from test_api import PW, admin


def audit_cli(db, *args, **env):
    return subprocess.run([t.BIN, "audit", *args], env=db.env(**env), capture_output=True,
                          text=True, timeout=120)


def verify_ok(db, **env):
    r = audit_cli(db, "verify", **env)
    assert r.returncode == 0, (env, r.returncode, r.stdout, r.stderr)
    assert "audit chain intact" in r.stdout, r.stdout
    return r.stdout


def broken_at(db, row_id, *words, **env):
    r = audit_cli(db, "verify", **env)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert f"chain broken at row {row_id} " in r.stderr, (row_id, r.stderr)
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def some_admin_actions(db, prefix):
    for i in range(3):
        admin(db, "create-account", "--username", f"{prefix}.{i}", "--role", "street_staff",
              "--region", "310113103")
    admin(db, "reset-password", "--username", f"{prefix}.0")


def legacy_database():
    """A database migrated to just before 0032 (the trigger-hashed chain),
    with rows written by sessions in several time zones, then migrated fully."""
    db = t.Database(migrate=False)
    old = tempfile.mkdtemp(prefix="dw-mig-")
    src = os.path.join(t.SRC, "migrations")
    for f in os.listdir(src):
        if f.endswith(".sql") and f < "0032":
            shutil.copy(os.path.join(src, f), old)
    r = db.migrate("--dir", old)
    shutil.rmtree(old)
    assert r.returncode == 0, r.stderr
    # quarter-hour and negative offsets too: the verifier finds each row's offset
    for zone, n in (("Asia/Shanghai", 3), ("Asia/Kathmandu", 1), ("America/St_Johns", 1), ("UTC", 1),
                    ("Asia/Shanghai", 1)):
        sql = f"SET TimeZone = '{zone}';\n" + "".join(
            f"INSERT INTO audit_log (username, action, object, result, detail) VALUES "
            f"('legacy', 'login', 'x{i}', 'ok', '旧记录 {zone} {i}');\n" for i in range(n))
        db.sql(sql)
    r = db.migrate()
    assert r.returncode == 0, r.stderr
    return db


def test_verify_independent_of_time_zone():
    db = legacy_database()
    try:
        fixtures.make_city(db)
        some_admin_actions(db, "tz")
        rows = db.sql("SELECT chain, action FROM audit_log ORDER BY id")
        assert [r[0] for r in rows] == ["0"] * 7 + ["1"] * 5, rows
        assert rows[7][1] == "audit_chain_keyed", rows  # the epoch marker links both parts
        assert db.scalar("SELECT count(*) FROM audit_log a JOIN audit_log b ON b.id = "
                         "(SELECT max(id) FROM audit_log WHERE id < a.id) WHERE a.prev_hash = b.hash") == "11"
        for env in ({"PGTZ": "Asia/Shanghai"}, {"PGTZ": "UTC"}, {"PGTZ": "America/New_York", "TZ": "Asia/Kolkata"}):
            out = verify_ok(db, **env)
            assert "12 rows" in out and "5 keyed" in out and "7 legacy" in out, out
        # the keyed rows need the master key that wrote them
        other = tempfile.NamedTemporaryFile("w", delete=False, suffix=".key")
        other.write("ab" * 32)
        other.close()
        first_keyed = db.scalar("SELECT min(id) FROM audit_log WHERE chain = 1")
        broken_at(db, first_keyed, "master key", DUSTWATCH_MASTER_KEY_FILE=other.name)
        os.unlink(other.name)
        r = audit_cli(db, "verify", DUSTWATCH_MASTER_KEY_FILE="")
        assert r.returncode == 3 and "master_key_file" in r.stderr, (r.returncode, r.stderr)
    finally:
        db.drop()


def test_tampering_is_named():
    db = legacy_database()
    try:
        fixtures.make_city(db)
        some_admin_actions(db, "tamper")
        verify_ok(db)
        ids = [int(r[0]) for r in db.sql("SELECT id FROM audit_log ORDER BY id")]
        keyed = [int(r[0]) for r in db.sql("SELECT id FROM audit_log WHERE chain = 1 ORDER BY id")]
        # a changed keyed row, even with its hash recomputed the old (unkeyed) way
        victim = keyed[2]
        db.sql(f"UPDATE audit_log SET detail = detail || ' (edited)' WHERE id = {victim}")
        broken_at(db, victim, "hash does not match", PGTZ="Asia/Shanghai")
        db.sql(f"UPDATE audit_log SET detail = replace(detail, ' (edited)', '') WHERE id = {victim}")
        verify_ok(db, PGTZ="Asia/Shanghai")
        db.sql(f"UPDATE audit_log SET result = 'failed' WHERE id = {victim}")
        broken_at(db, victim, "hash does not match")
        db.sql(f"UPDATE audit_log SET result = 'ok' WHERE id = {victim}")
        # a changed legacy row
        db.sql(f"UPDATE audit_log SET username = 'someone' WHERE id = {ids[1]}")
        broken_at(db, ids[1], "legacy", PGTZ="UTC")
        db.sql(f"UPDATE audit_log SET username = 'legacy' WHERE id = {ids[1]}")
        verify_ok(db)
        # a removed row: the next one's link no longer fits
        db.sql(f"DELETE FROM audit_log WHERE id = {keyed[1]}")
        broken_at(db, keyed[2], f"row {keyed[0]} before it")
    finally:
        db.drop()


def test_removed_tail_is_noticed():
    db = t.Database()
    try:
        fixtures.make_city(db)
        some_admin_actions(db, "tail")
        verify_ok(db)
        last = int(db.scalar("SELECT max(id) FROM audit_log"))
        db.sql(f"DELETE FROM audit_log WHERE id = {last}")
        broken_at(db, last, "missing")
    finally:
        db.drop()


def test_export_time_range():
    db = legacy_database()
    try:
        fixtures.make_city(db)
        some_admin_actions(db, "exp")
        # the range: from the 4th row's instant (inclusive) to the 10th's (exclusive)
        rows = db.sql("SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
                      "coalesce(account_id::text, ''), username, source_ip, action, object, result, detail, "
                      "chain, coalesce(encode(prev_hash, 'hex'), ''), encode(hash, 'hex') FROM audit_log ORDER BY id")
        lo, hi = rows[3][1], rows[9][1]
        want = [r for r in rows if lo <= r[1] < hi]
        assert len(want) == 6, want
        # +08:00 for the lower bound: the same instant
        lo_bj = db.scalar(f"SELECT to_char(timestamptz '{lo}' AT TIME ZONE 'Asia/Shanghai', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+08:00'")
        r = audit_cli(db, "export", "--from", lo_bj, "--to", hi, PGTZ="Asia/Shanghai")
        assert r.returncode == 0, r.stderr
        got = [json.loads(line) for line in r.stdout.splitlines()]
        as_rows = [[str(g["id"]), g["at"], "" if g["account_id"] is None else str(g["account_id"]),
                    g["username"], g["source_ip"], g["action"], g["object"], g["result"], g["detail"],
                    str(g["chain"]), g["prev_hash"] or "", g["hash"]] for g in got]
        assert as_rows == want, (as_rows, want)
        r = audit_cli(db, "export", "--format", "csv", "--from", lo, "--to", hi)
        assert r.returncode == 0, r.stderr
        table = list(csv.reader(io.StringIO(r.stdout)))
        assert table[0][:3] == ["id", "at", "account_id"] and table[1:] == want, table
        # open-ended: everything
        r = audit_cli(db, "export")
        assert r.returncode == 0 and len(r.stdout.splitlines()) == len(rows), r.stderr
        for bad in (["--from", "yesterday"], ["--format", "xml"], ["--from", hi, "--to", lo]):
            r = audit_cli(db, "export", *bad)
            assert r.returncode == 2 and r.stderr, (bad, r.returncode, r.stderr)
    finally:
        db.drop()


def test_action_and_audit_row_commit_together():
    db = t.Database()
    srv = None
    try:
        ents = fixtures.make_city(db)
        a = ents[sorted(ents)[0]]
        admin(db, "create-account", "--username", "city.admin", "--role", "city_admin", "--region", "310000")
        admin(db, "create-account", "--username", "a.manager", "--role", "enterprise_manager",
              "--enterprise", a["code"])
        admin(db, "create-account", "--username", "a.street", "--role", "street_staff", "--region", "310113103")
        victim = db.scalar("SELECT id FROM accounts WHERE username = 'a.street'")
        score = db.scalar(
            f"INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, "
            f"grade_by_score, override, rules, inputs, trigger) VALUES ({a['id']}, now(), 'probe', 80, 80, 0, 0, "
            f"0, 'red', 'red', false, '[]', '{{}}', 'manual') RETURNING id")
        wid = db.scalar(
            f"INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, "
            f"supervisor, current_level) VALUES ({a['id']}, 'O.AUDIT_PROBE', 'red', {score}, now(), "
            f"now() + interval '1 hour', now() + interval '4 hours', 'district', 'district') RETURNING id")
        srv = t.Server(db, roles="api")
        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "city.admin", "password": PW})
        assert st == 200, body
        h = {"Authorization": "Bearer " + body["token"]}
        st, _, body = srv.api("POST", "/api/v1/auth/login", {"username": "a.manager", "password": PW})
        assert st == 200, body
        hm = {"Authorization": "Bearer " + body["token"]}
        old_hash = db.scalar("SELECT password_hash FROM accounts WHERE username = 'a.manager'")
        new_pw = "Audit-Chain-Tx-4826#"
        url = f"/api/v1/enterprises/{a['id']}/ingest-credentials"
        st, _, k1 = srv.api("POST", url, {"kind": "api_key", "label": "one"}, h)
        assert st == 201, k1
        st, _, k2 = srv.api("POST", url, {"kind": "api_key", "label": "two"}, h)
        assert st == 201, k2

        def audit(action):
            return db.sql(f"SELECT object, result FROM audit_log WHERE action = '{action}' ORDER BY id")

        # the audit row cannot be written: the revocation must not happen either
        db.sql("REVOKE UPDATE ON audit_chain_head FROM dustwatch_app")
        st, _, b = srv.api("DELETE", f"/api/v1/ingest-credentials/{k1['id']}", None, h)
        assert st == 503, (st, b)
        assert db.scalar(f"SELECT revoked_at IS NULL FROM ingest_credentials WHERE id = {k1['id']}") == "t"
        st, _, b = srv.api("POST", url, {"kind": "api_key", "label": "three"}, h)
        assert st == 503, (st, b)
        assert db.scalar(f"SELECT count(*) FROM ingest_credentials WHERE label = 'three'") == "0"
        assert [r for r in audit("ingest_credential_revoke") if r[1] == "ok"] == []
        st, _, b = srv.api("PATCH", f"/api/v1/enterprises/{a['id']}", {"address": "审计路9号"}, h)
        assert st == 503, (st, b)
        assert db.scalar(f"SELECT address FROM enterprises WHERE id = {a['id']}") == "测试路1号"
        # a warning signed, an account disabled, a password changed: none without its record
        st, _, b = srv.api("POST", f"/api/v1/warnings/{wid}/sign", {"note": "已签收"}, hm)
        assert st == 503, (st, b)
        assert db.scalar(f"SELECT status FROM warnings WHERE id = {wid}") == "issued"
        st, _, b = srv.api("POST", f"/api/v1/accounts/{victim}/disable", None, h)
        assert st == 503, (st, b)
        assert db.scalar(f"SELECT disabled FROM accounts WHERE id = {victim}") == "f"
        st, _, b = srv.api("POST", "/api/v1/auth/password", {"current_password": PW, "new_password": new_pw}, hm)
        assert st == 503, (st, b)
        assert db.scalar("SELECT password_hash FROM accounts WHERE username = 'a.manager'") == old_hash
        # with the grant back, each commits with its record
        db.sql("GRANT UPDATE ON audit_chain_head TO dustwatch_app")
        st, _, b = srv.api("DELETE", f"/api/v1/ingest-credentials/{k1['id']}", None, h)
        assert st == 200 and b["active"] is False, (st, b)
        assert audit("ingest_credential_revoke") == [[f"ingest_credential:{k1['id']}", "ok"]]
        st, _, b = srv.api("PATCH", f"/api/v1/enterprises/{a['id']}", {"address": "审计路9号"}, h)
        assert st == 200 and b["enterprise"]["address"] == "审计路9号", (st, b)
        # (the refusals above could not be recorded either: same chain, same grant)
        assert audit("enterprise_update") == [[f"enterprise:{a['id']}", "ok"]], audit("enterprise_update")
        st, _, b = srv.api("POST", f"/api/v1/warnings/{wid}/sign", {"note": "已签收"}, hm)
        assert st == 200 and b["warning"]["status"] == "signed", (st, b)
        assert audit("warning_sign") == [[f"warning:{wid}", "ok"]], audit("warning_sign")
        st, _, b = srv.api("POST", f"/api/v1/accounts/{victim}/disable", None, h)
        assert st == 200, (st, b)
        assert db.scalar(f"SELECT disabled FROM accounts WHERE id = {victim}") == "t"
        assert audit("account_disable") == [[f"account:{victim}", "ok"]], audit("account_disable")
        st, _, b = srv.api("POST", "/api/v1/auth/password", {"current_password": PW, "new_password": new_pw}, hm)
        assert st == 200, (st, b)
        assert db.scalar("SELECT password_hash FROM accounts WHERE username = 'a.manager'") != old_hash
        assert audit("password_change") == [["a.manager", "ok"]], audit("password_change")
        creates = audit("ingest_credential_create")
        assert creates == [[f"ingest_credential:{k1['id']}", "ok"], [f"ingest_credential:{k2['id']}", "ok"]], creates
        verify_ok(db)
    finally:
        if srv:
            assert srv.stop() == 0, srv.logtext()
        db.drop()


if __name__ == "__main__":
    t.run([test_verify_independent_of_time_zone, test_tampering_is_named, test_removed_tail_is_noticed,
           test_export_time_range, test_action_and_audit_row_commit_together])
