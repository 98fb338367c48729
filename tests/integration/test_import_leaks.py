"""Refusals of the survey-table import and of enterprise create/update must
not tell one district whether a code or credit code (统一社会信用代码) exists
in another (issue 12 item 6): no PostgreSQL text, no constraint names, no
values of the other row, and a value taken outside the caller's scope reads
exactly like a value refused for any other reason.  A duplicate inside the
caller's own scope may be named precisely."""
import csv
import io
import subprocess

import dwtest as t
import fixtures

PW = "Hopper-Spark-7319#"
# district 310114's enterprise (fixtures.make_city); the callers are district 310113
FOREIGN_CODE, FOREIGN_USCC, FOREIGN_NAME = "310114000001", "91310114MA1H000013", "上海南翔粮油有限公司"
LEAKS = ["duplicate key", "violates", "Key (", "constraint", "enterprises_", "_key", "_check", "unique",
         FOREIGN_NAME, "南翔", "嘉定"]


def admin(db, *args, password=None):
    extra = ["--password-stdin"] if password else []
    r = subprocess.run([t.BIN, "admin", *args, *extra], input=(password or "") + "\n",
                       env=db.env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


class Env:
    def __init__(self):
        self.db = t.Database()
        self.ents = fixtures.make_city(self.db)
        admin(self.db, "create-account", "--username", "baoshan.admin", "--role", "district_admin",
              "--region", "310113", password=PW)
        self.srv = t.Server(self.db)
        st, _, b = self.srv.api("POST", "/api/v1/auth/login", {"username": "baoshan.admin", "password": PW})
        assert st == 200, (st, b)
        self.token = b["token"]

    def call(self, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer " + self.token}
        h.update(headers or {})
        return self.srv.api(method, path, body, h)

    def close(self):
        try:
            assert self.srv.stop() == 0, self.srv.logtext()
        finally:
            self.db.drop()


def no_leak(raw):
    text = raw if isinstance(raw, str) else str(raw)
    for w in LEAKS:
        assert w not in text, (w, text)


def import_rows(changes):
    """Exports district 310113's table, appends one new row per entry of
    changes ({column index: value}) and imports the whole; returns (status, body)."""
    st, _, raw = E.call("GET", "/api/v1/enterprises/export.csv")
    assert st == 200, st
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    for n, ch in enumerate(changes):
        new = list(rows[1])
        new[0], new[1], new[2] = "91310113MA1G0001%02d" % n, "3101130001%02d" % n, "上海导入泄露测试%d有限公司" % n
        for k, v in ch.items():
            new[k] = v
        rows.append(new)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    st, _, b = E.call("POST", "/api/v1/enterprises/import", ("\ufeff" + out.getvalue()).encode(),
                      {"Content-Type": "text/csv"})
    return st, b, len(rows) - len(changes) + 1


def shape(e):
    return {k: v for k, v in e.items() if k != "row"}


def test_import_foreign_uscc_reads_like_a_malformed_one():
    before = E.db.scalar("SELECT count(*) FROM enterprises")
    # a credit code of district 310114; one that exists nowhere and breaks the format (I is not allowed)
    st, b, first = import_rows([{0: FOREIGN_USCC}, {0: "91310113MA1G0000I1"}])
    assert st == 422 and b["code"] == "import_refused" and b["imported"] == 0, (st, b)
    no_leak(b)
    errs = {e["row"]: e for e in b["errors"]}
    assert set(errs) == {first, first + 1}, b
    assert shape(errs[first]) == shape(errs[first + 1]), b
    assert errs[first]["code"] == "row_rejected" and errs[first]["field"] == "uscc", b
    assert E.db.scalar("SELECT count(*) FROM enterprises") == before


def test_import_foreign_code_reads_like_a_malformed_one():
    st, b, first = import_rows([{1: FOREIGN_CODE}, {1: "bad code!"}])
    assert st == 422 and b["code"] == "import_refused", (st, b)
    no_leak(b)
    errs = {e["row"]: e for e in b["errors"]}
    assert set(errs) == {first, first + 1}, b
    assert shape(errs[first]) == shape(errs[first + 1]), b
    assert errs[first]["code"] == "row_rejected" and errs[first]["field"] == "code", b


def test_import_duplicate_in_own_scope_is_named():
    own = E.ents["310113000002"]
    st, b, first = import_rows([{1: "310113000002"}])
    assert st == 422 and b["code"] == "import_refused", (st, b)
    no_leak(b)
    [e] = b["errors"]
    assert e["row"] == first and e["code"] == "duplicate_in_scope" and e["field"] == "code", b
    assert str(own["id"]) in e["message"], b


def test_import_bad_cell_is_listed_not_answered_alone():
    # a cell the field check refuses (status) is one listed row of import_refused like any other
    st, b, first = import_rows([{9: "closed"}, {1: FOREIGN_CODE}])
    assert st == 422 and b.get("code") == "import_refused", (st, b)
    errs = {e["row"]: e for e in b["errors"]}
    assert errs[first]["code"] == "row_invalid" and "status" in errs[first]["message"], b
    assert errs[first + 1]["code"] == "row_rejected", b


def test_create_and_update_do_not_confirm_foreign_codes():
    base = {"code": "310113000201", "uscc": "91310113MA1G000201", "name": "上海单建泄露测试有限公司"}
    replies = []
    for patch in ({"uscc": FOREIGN_USCC}, {"uscc": "91310113MA1G0002I1"},
                  {"code": FOREIGN_CODE}, {"code": "bad code!"}):
        st, _, b = E.call("POST", "/api/v1/enterprises", dict(base, **patch))
        no_leak(b)
        replies.append((st, b))
    assert replies[0] == (replies[1][0], dict(replies[1][1])), replies
    assert replies[0][0] == 422 and replies[0][1]["code"] == "unprocessable", replies
    assert replies[0][1]["detail"] == replies[1][1]["detail"], replies
    assert replies[2][0] == replies[3][0] and replies[2][1] == replies[3][1], replies
    a1 = E.ents["310113000001"]["id"]
    upd = []
    for patch in ({"code": FOREIGN_CODE}, {"code": "bad code!"}, {"uscc": FOREIGN_USCC},
                  {"uscc": "91310113MA1G0002I1"}):
        st, _, b = E.call("PATCH", f"/api/v1/enterprises/{a1}", patch)
        no_leak(b)
        upd.append((st, b))
    assert upd[0] == upd[1] and upd[2] == upd[3], upd
    assert upd[0][0] == 422 and upd[0][1]["code"] == "unprocessable", upd
    # a code used inside the caller's own district is named, with the row it collides with
    own = E.ents["310113000002"]["id"]
    st, _, b = E.call("PATCH", f"/api/v1/enterprises/{a1}", {"code": "310113000002"})
    assert st == 409 and b["code"] == "conflict" and str(own) in b["detail"], (st, b)
    no_leak(b)
    assert E.db.scalar(f"SELECT code FROM enterprises WHERE id = {a1}") == "310113000001"


if __name__ == "__main__":
    E = Env()
    t.run([
        test_import_foreign_uscc_reads_like_a_malformed_one,
        test_import_foreign_code_reads_like_a_malformed_one,
        test_import_duplicate_in_own_scope_is_named,
        test_import_bad_cell_is_listed_not_answered_alone,
        test_create_and_update_do_not_confirm_foreign_codes,
    ], cleanup=E.close)
