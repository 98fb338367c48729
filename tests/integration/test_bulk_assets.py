"""Bulk tables of monitoring assets (api/resources/bulk.c, issue 17 item 8): dust-removal
systems, points and cameras exported as CSV/XLSX and imported from CSV or XLSX all or nothing —
one refused row among many stores nothing and the report lists every refused row with its
row, line, column and code; importing an export changes nothing; the caller's scope bounds
which enterprises a file may name; duplicate codes, oversized files and files that are
neither UTF-8 CSV nor an XLSX workbook are refused with a clear error.  Workbooks: our own
export (libxlsxwriter) and one written by openpyxl as a person would fill it (numbers,
booleans, blank cells skipped, inline strings) import like their CSV; a refused row names the
sheet's row; archives that are not workbooks, damaged ones, a DTD (entity expansion) and too
many rows are refused and store nothing."""
import csv
import io
import json
import re
import socket
import sys
import zipfile

try:
    import openpyxl
except ImportError:  # the test runner's Python may not be Debian's: use python3-openpyxl
    sys.path.append("/usr/lib/python3/dist-packages")
    import openpyxl

import dwtest as t
from test_api import City

SYS = "/api/v1/bulk/systems"
PTS = "/api/v1/bulk/points"
CAM = "/api/v1/bulk/cameras"


def table(raw):
    assert raw[:3] == b"\xef\xbb\xbf", raw[:20]
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def as_csv(rows, bom=True):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def upload(user, path, data, query=""):
    return C.call(user, "POST", path + "/import" + query, data, {"Content-Type": "text/csv"})


def too_big(user, path, length):
    """The answer to an upload that declares length bytes and sends none of them."""
    with socket.create_connection(("127.0.0.1", C.srv.api_port), timeout=30) as s:
        s.sendall((f"POST {path}/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {C.tokens[user]}\r\n"
                   f"Content-Type: text/csv\r\nContent-Length: {length}\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10 or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def export(user, path, query=""):
    st, hdr, raw = C.call(user, "GET", path + "/export" + query)
    assert st == 200, (st, raw)
    return table(raw)


def snapshot():
    return C.db.sql("SELECT 's', id::text, row_to_json(d)::text FROM dust_systems d UNION ALL "
                    "SELECT 'p', id::text, row_to_json(p)::text FROM points p UNION ALL "
                    "SELECT 'c', id::text, row_to_json(c)::text FROM cameras c ORDER BY 1, 2")


def test_round_trip_changes_nothing():
    a1 = C.a1["id"]
    # values that a careless writer or reader would change: decimals, negatives, a formula-like
    # name, commas, quotes and a line break, NULLs
    C.db.sql(f"UPDATE points SET limit_low = -12.345678901234567, name = '=HYPERLINK(\"x\")', "
             f"unit = '℃' WHERE code = '{C.a1['points']['hopper_temp'][0]}'")
    C.db.sql(f"INSERT INTO cameras (enterprise_id, code, name, system_id, location, stream_url) VALUES "
             f"({a1}, 'CAM-01', '卸灰口, \"东\"', {C.a1['system_id']}, E'二楼\\n东侧', "
             f"'rtsp://cam.example/live'), ({a1}, 'CAM-02', '-1+2', NULL, '@home', NULL)")
    C.db.sql(f"UPDATE dust_systems SET airflow_m3h = 12000, workshop = '+抛光' WHERE enterprise_id = {a1}")
    before = snapshot()
    audits = int(C.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'import'"))
    for path, n in ((SYS, 3), (PTS, 9), (CAM, 2)):
        rows = export("city.admin", path)
        assert len(rows) == n + 1, (path, rows)
        st, _, b = upload("city.admin", path, as_csv(rows))
        assert st == 200, (path, st, b)
        assert (b["created"], b["updated"], b["unchanged"], b["errors"]) == (0, 0, n, []), (path, b)
    assert snapshot() == before
    # one audit row per import, with its counts
    rows = C.db.sql("SELECT object, result, detail FROM audit_log WHERE action = 'import' ORDER BY id")
    assert len(rows) == audits + 3, rows
    assert rows[-1] == ["cameras.csv", "ok", "created=0 updated=0 unchanged=2 enterprises=0"], rows
    # formula-like text is neutralised in the file and read back as it was
    _, _, raw = C.call("city.admin", "GET", PTS + "/export")
    assert b'"\'=HYPERLINK(""x"")"' in raw, raw
    _, _, raw = C.call("city.admin", "GET", CAM + "/export")
    assert b'"\'-1+2"' in raw and b'"\'@home"' in raw, raw
    assert b'"\'+\xe6\x8a\x9b\xe5\x85\x89"' in C.call("city.admin", "GET", SYS + "/export")[2]
    # numbers are not text: a negative one stays as it is
    assert b",-40," in C.call("city.admin", "GET", PTS + "/export")[2]
    # XLSX: a workbook of the same table; the template is the header alone
    st, hdr, x = C.call("city.admin", "GET", PTS + "/export?format=xlsx")
    assert st == 200 and x[:4] == b"PK\x03\x04" and "spreadsheetml" in hdr["content-type"], (st, hdr)
    sheet = openpyxl.load_workbook(io.BytesIO(x)).worksheets[0]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    as_text = [r[:] for r in export("city.admin", PTS)]
    assert sheet.title == "监测点" and cells[0] == as_text[0], cells[0]
    for got, want in zip(cells[1:], as_text[1:]):
        # the same values; numbers are numbers, the flags 是/否, and formula-like text plain text
        for g, w in zip(got, want):
            if isinstance(g, (int, float)):  # XLSX keeps Excel's 15-16 significant digits
                assert abs(g - float(w)) <= 1e-14 * max(1.0, abs(g)), (g, w)
            else:
                assert (g or "") == (w[1:] if w[:1] == "'" and w[1:2] in "=+-@" else w), (g, w)
    assert len(cells) == len(as_text)
    tmpl = export("a1.manager", CAM, "?template=1")
    assert tmpl == [export("city.admin", CAM)[0]] and tmpl[0][:3] == ["企业编码", "摄像头编码", "名称"], tmpl
    # the scope bounds the export: a1's manager sees a1's rows only
    mine = export("a1.manager", PTS)
    assert {r[0] for r in mine[1:]} == {C.a1["code"]} and len(mine) == 4, mine


def new_points(n, bad=None):
    head = export("baoshan.admin", PTS, "?template=1")[0]
    rows = [head]
    for i in range(n):
        r = dict(zip(head, [""] * len(head)))
        r.update({"企业编码": C.a2["code"], "测点编码": "BULK%04d" % i, "指标": "hopper_temp",
                  "除尘系统编码": "01", "名称": "灰斗温度%d" % i, "单位": "℃", "量程下限": "-40",
                  "量程上限": "200", "高报": "70", "高高报": "80", "上报间隔(s)": "30"})
        if bad and i in bad:
            r.update(bad[i])
        rows.append([r[h] for h in head])
    return rows


def test_one_bad_row_among_many_stores_nothing():
    count = f"SELECT count(*) FROM points WHERE enterprise_id = {C.a2['id']}"
    n0 = int(C.db.scalar(count))
    # row 52: a cell the file check refuses; row 151: values the table refuses (low above high)
    rows = new_points(200, {50: {"变化率窗口(s)": "abc"}, 149: {"低报": "75"}})
    st, _, b = upload("baoshan.admin", PTS, as_csv(rows))
    assert st == 422 and b["code"] == "import_refused" and b["imported"] == 0, (st, b)
    errs = [(e["row"], e["line"], e["column"], e["code"]) for e in b["errors"]]
    assert errs == [(52, 52, "变化率窗口(s)", "row_invalid"), (151, 151, "低报", "row_rejected")], b
    assert "whole number" in b["errors"][0]["message"] and "below" in b["errors"][1]["message"], b
    assert int(C.db.scalar(count)) == n0, "nothing stored"
    assert C.db.sql("SELECT result, detail FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1") \
        == [["failed", "2 rows refused"]]
    # the fixed file: every row created, once; the same file again changes nothing
    rows = new_points(200)
    st, _, b = upload("baoshan.admin", PTS, as_csv(rows, bom=False))
    assert st == 200 and (b["created"], b["updated"], b["unchanged"]) == (200, 0, 0), (st, b)
    assert int(C.db.scalar(count)) == n0 + 200
    st, _, b = upload("baoshan.admin", PTS, as_csv(rows))
    assert st == 200 and (b["created"], b["updated"], b["unchanged"]) == (0, 0, 200), (st, b)
    # one changed row is one update; a point's kind is its identity
    rows[7][rows[0].index("高报")] = "65"
    st, _, b = upload("baoshan.admin", PTS, as_csv(rows))
    assert st == 200 and (b["created"], b["updated"], b["unchanged"]) == (0, 1, 199), (st, b)
    assert C.db.scalar("SELECT limit_high FROM points WHERE code = 'BULK0006'") == "65"
    # the audit trail: every created row, and the changed columns of an updated one, before and after
    assert int(C.db.scalar("SELECT count(*) FROM audit_log WHERE action = 'point_create' "
                           "AND detail LIKE '%\"import\":\"points.csv\"%'")) == 200
    obj, detail = C.db.sql("SELECT object, detail FROM audit_log WHERE action = 'point_limits_update' "
                           "ORDER BY id DESC LIMIT 1")[0]
    pid = C.db.scalar("SELECT id FROM points WHERE code = 'BULK0006'")
    assert obj == f"point:{pid}" and json.loads(detail) == {
        "import": "points.csv", "code": "BULK0006", "before": {"limit_high": 70}, "change": {"limit_high": 65}}, detail
    rows[8][rows[0].index("指标")] = "pressure_diff"
    st, _, b = upload("baoshan.admin", PTS, as_csv(rows))
    assert st == 422 and [(e["row"], e["code"]) for e in b["errors"]] == [(9, "identity_changed")], b
    # a quoted cell spanning lines: row and line part
    rows = new_points(3)
    rows[1][rows[0].index("名称")] = "两行\n名称"
    rows[3][rows[0].index("量程上限")] = "-50"
    st, _, b = upload("baoshan.admin", PTS, as_csv(rows))
    assert st == 422 and [(e["row"], e["line"], e["column"]) for e in b["errors"]] == [(4, 5, "量程下限")], b


def test_scope_bounds_the_enterprises_a_file_may_name():
    a1, b1 = C.a1["code"], C.b1["code"]
    head = export("a1.manager", CAM, "?template=1")[0]
    before = snapshot()
    # an enterprise imports its own cameras, never another's: the foreign row refuses the file
    mixed = [head, [a1, "E-CAM-1", "东门", "", "", "rtsp://admin:s3cret@cam.example/1", "是"],
             [b1, "E-CAM-2", "别家", "", "", "", "是"]]
    st, _, b = upload("a1.manager", CAM, as_csv(mixed))
    assert st == 422 and [(e["row"], e["column"], e["code"]) for e in b["errors"]] == \
        [(3, "企业编码", "enterprise_not_in_scope")], b
    # another district's enterprise reads exactly like one that does not exist
    mixed[2][0] = "999999999999"
    st2, _, b2 = upload("a1.manager", CAM, as_csv(mixed))
    assert (st2, b2["errors"][0]["message"]) == (st, b["errors"][0]["message"]), (b, b2)
    assert snapshot() == before
    # a district admin may not reach outside its district
    sys_head = export("baoshan.admin", SYS, "?template=1")[0]
    rows = [sys_head, [a1] + ["B-01", "宝山系统"] + [""] * 13, [b1, "B-02", "嘉定系统"] + [""] * 13]
    st, _, b = upload("baoshan.admin", SYS, as_csv(rows))
    assert st == 422 and [(e["row"], e["code"]) for e in b["errors"]] == [(3, "enterprise_not_in_scope")], b
    assert snapshot() == before
    # roles: systems and points feed the risk score (city and district only); streets read
    for user, path in (("a1.manager", SYS), ("a1.manager", PTS), ("luodian.staff", CAM)):
        st, _, b = upload(user, path, as_csv(rows))
        assert st == 403, (user, path, st, b)
    # ?enterprise=: an import for one enterprise refuses rows of another, even in scope
    rows = [sys_head, [a1, "B-01", "宝山系统"] + [""] * 13, [C.a2["code"], "B-02", "罗店系统"] + [""] * 13]
    st, _, b = upload("baoshan.admin", SYS, as_csv(rows), f"?enterprise={C.a1['id']}")
    assert st == 422 and [(e["row"], e["code"]) for e in b["errors"]] == [(3, "enterprise_mismatch")], b
    # the own rows alone are stored, the systems' risk input asks for a new score
    st, _, b = upload("baoshan.admin", SYS, as_csv(rows))
    assert st == 200 and b["created"] == 2, (st, b)
    assert C.db.scalar(f"SELECT reason FROM risk_recompute_requests WHERE enterprise_id = {C.a1['id']}") \
        == "dust_system"
    st, _, b = upload("a1.manager", CAM, as_csv(mixed[:2]))
    assert st == 200 and b["created"] == 1, (st, b)
    detail = C.db.scalar("SELECT detail FROM audit_log WHERE action = 'camera_create' ORDER BY id DESC LIMIT 1")
    assert "E-CAM-1" in detail and "s3cret" not in detail and "rtsp://***@cam.example/1" in detail, detail
    # a camera naming a system its enterprise does not have
    st, _, b = upload("a1.manager", CAM, as_csv([head, [a1, "E-CAM-3", "西门", "NOPE", "", "", "是"]]))
    assert st == 422 and [(e["column"], e["code"]) for e in b["errors"]] == [("除尘系统编码", "system_unknown")], b


def test_duplicates_and_bad_cells_are_listed():
    head = export("baoshan.admin", SYS, "?template=1")[0]
    a1 = C.a1["code"]
    rows = [head, [a1, "D-1", "一"] + [""] * 13, [a1, "D-2", "二"] + [""] * 13, [a1, "D-1", "三"] + [""] * 13,
            [a1, "D 3", "四"] + [""] * 13, [a1, "D-4", "五", "", "magic"] + [""] * 11,
            [a1, "D-5", "", "", "", "也许"] + [""] * 10]
    st, _, b = upload("baoshan.admin", SYS, as_csv(rows))
    assert st == 422, (st, b)
    got = [(e["row"], e["column"], e["code"]) for e in b["errors"]]
    assert got == [(4, "系统编码", "duplicate_in_file"), (5, "系统编码", "row_invalid"),
                   (6, "除尘器类型", "row_invalid"), (7, "系统名称", "row_invalid"),
                   (7, "湿式除尘", "row_invalid")], got
    assert "row 2" in b["errors"][0]["message"], b
    assert int(C.db.scalar("SELECT count(*) FROM dust_systems WHERE code LIKE 'D%'")) == 0
    # point codes are unique in the city: a code of another enterprise is refused, not moved
    pts = new_points(1)
    pts[1][1] = C.b1["points"]["hopper_temp"][0]
    st, _, b = upload("city.admin", PTS, as_csv(pts))
    assert st == 422 and [(e["column"], e["code"]) for e in b["errors"]] == [("测点编码", "code_taken")], b
    # ... in the same words whether the caller sees the other enterprise (city) or not (district)
    pts[1][0] = C.a1["code"]
    st2, _, b2 = upload("baoshan.admin", PTS, as_csv(pts))
    assert st2 == 422 and b2["errors"] == b["errors"], (b, b2)
    assert int(C.db.scalar(f"SELECT count(*) FROM points WHERE code = '{pts[1][1]}'")) == 1
    # the header: unknown and missing columns refuse the file as a whole
    st, _, b = upload("baoshan.admin", SYS, as_csv([head + ["备注"], [a1, "X", "x"] + [""] * 14]))
    assert st == 422 and b["code"] == "unprocessable" and "备注" in b["detail"], (st, b)
    st, _, b = upload("baoshan.admin", SYS, as_csv([head[1:], ["X", "x"] + [""] * 13]))
    assert st == 422 and "企业编码" in b["detail"], (st, b)


def test_size_encoding_and_row_limits():
    head = export("baoshan.admin", SYS, "?template=1")[0]
    a1 = C.a1["code"]
    # over the route's 4 MiB: refused on the headers, before the body is read
    st, b = too_big("baoshan.admin", SYS, 4 * 1024 * 1024 + 1)
    assert st == 413 and b["code"] == "body_too_large", (st, b)
    # more than 5000 rows: refused as a whole, the database is not asked
    many = as_csv([head] + [[a1, "S%05d" % i, "x"] + [""] * 13 for i in range(5001)])
    st, _, b = upload("baoshan.admin", SYS, many)
    assert st == 422 and [e["code"] for e in b["errors"]] == ["too_many_rows"], (st, b)
    # GBK (Excel's default CSV on a Chinese Windows) and UTF-16
    gbk = io.StringIO()
    csv.writer(gbk).writerows([head, [a1, "G-1", "国标编码系统"] + [""] * 13])
    st, _, b = upload("baoshan.admin", SYS, gbk.getvalue().encode("gbk"))
    assert st == 415 and b["code"] == "file_format" and "GBK" in b["detail"], (st, b)
    st, _, b = upload("baoshan.admin", SYS, gbk.getvalue().encode("utf-16"))
    assert st == 415 and "UTF-16" in b["detail"], (st, b)
    st, _, b = upload("baoshan.admin", SYS, b"")
    assert st == 400, (st, b)
    assert int(C.db.scalar("SELECT count(*) FROM dust_systems WHERE code LIKE 'G-%' OR code LIKE 'S0%'")) == 0
    # the same rows in UTF-8 with CRLF line ends and no BOM are fine
    st, _, b = upload("baoshan.admin", SYS, gbk.getvalue().encode())
    assert st == 200 and b["created"] == 1, (st, b)


def workbook(rows, title="Sheet1"):
    """rows as an openpyxl workbook: numbers typed as numbers, booleans as booleans"""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def rezip(x, replace):
    """the workbook x with some parts replaced (name -> bytes)"""
    src, out = zipfile.ZipFile(io.BytesIO(x)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n in src.namelist():
            z.writestr(n, replace.get(n, src.read(n)))
    return out.getvalue()


def test_xlsx_import():
    # our own export imports unchanged, for every kind
    for path in (SYS, CAM):
        _, _, x = C.call("city.admin", "GET", path + "/export?format=xlsx")
        before = snapshot()
        st, _, b = upload("city.admin", path, x)
        assert st == 200 and b["created"] == b["updated"] == 0 and b["errors"] == [], (path, st, b)
        assert snapshot() == before, path
    # ... but for a value of 17 significant digits (the round-trip test's limit): a workbook
    # holds 16, so that point is updated to the 16-digit value and nothing else changes
    _, _, x = C.call("city.admin", "GET", PTS + "/export?format=xlsx")
    st, _, b = upload("city.admin", PTS, x)
    assert st == 200 and b["updated"] == 1 and b["created"] == 0 and b["unchanged"] > 0, (st, b)
    low = float(C.db.scalar(f"SELECT limit_low FROM points WHERE code = '{C.a1['points']['hopper_temp'][0]}'"))
    assert low != -12.345678901234567 and abs(low + 12.345678901234567) < 1e-14, low
    st, _, b = upload("city.admin", PTS, C.call("city.admin", "GET", PTS + "/export?format=xlsx")[2])
    assert st == 200 and b["updated"] == 0 and b["created"] == 0, (st, b)
    assert C.db.scalar("SELECT object FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1") \
        == "points.xlsx"
    # a workbook as a person fills it: numbers as numbers, a boolean, cells left empty
    head = export("baoshan.admin", PTS, "?template=1")[0]
    rows = [head]
    for i in range(3):
        r = dict(zip(head, [None] * len(head)))
        r.update({"企业编码": C.a2["code"], "测点编码": "XL%02d" % i, "指标": "hopper_temp", "除尘系统编码": "01",
                  "名称": "灰斗温度 %d" % i, "单位": "℃", "量程下限": -40, "量程上限": 200.0, "高报": 70.5,
                  "高高报": 80, "上报间隔(s)": 30})
        rows.append([r[h] for h in head])
    count = "SELECT count(*) FROM points WHERE code LIKE 'XL%'"
    bad = [list(r) for r in rows]
    bad[3][head.index("高报")] = 90.25  # above high-high: refused by the table, named by sheet row 4
    st, _, b = upload("baoshan.admin", PTS, workbook(bad))
    assert st == 422 and [(e["row"], e["line"], e["column"]) for e in b["errors"]] == [(4, 4, "高报")], b
    assert C.db.scalar(count) == "0", "nothing stored"
    # an empty row in the sheet is skipped; the line is still the sheet's row
    spaced = rows[:2] + [[None] * len(head)] + rows[2:]
    spaced[4] = list(spaced[4])
    spaced[4][head.index("上报间隔(s)")] = "半分钟"
    st, _, b = upload("baoshan.admin", PTS, workbook(spaced))
    assert st == 422 and [(e["row"], e["line"]) for e in b["errors"]] == [(4, 5)], b
    st, _, b = upload("baoshan.admin", PTS, workbook(rows))
    assert st == 200 and b["created"] == 3, (st, b)
    got = C.db.sql("SELECT code, name, unit, range_min, range_max, limit_high, limit_high_high, "
                   "expected_interval_s FROM points WHERE code LIKE 'XL%' ORDER BY code")
    assert got[0] == ["XL00", "灰斗温度 0", "℃", "-40", "200", "70.5", "80", "30"], got
    # the flags of a system as booleans: 是/否 and TRUE/FALSE both read
    shead = export("baoshan.admin", SYS, "?template=1")[0]
    r = dict(zip(shead, [None] * len(shead)))
    r.update({"企业编码": C.a2["code"], "系统编码": "XLS1", "系统名称": "抛光除尘", "湿式除尘": True, "泄爆": "是",
              "风量(m3/h)": 12000})
    st, _, b = upload("baoshan.admin", SYS, workbook([shead, [r[h] for h in shead]]))
    assert st == 200 and b["created"] == 1, (st, b)
    assert C.db.sql("SELECT wet, has_venting, airflow_m3h FROM dust_systems WHERE code = 'XLS1'") == [["t", "t", "12000"]]
    # both ways of storing text: openpyxl writes inline strings, libxlsxwriter a shared table
    x = workbook([shead, [C.a2["code"], "XLS2", "湿式"] + [None] * (len(shead) - 3)])
    assert b"inlineStr" in zipfile.ZipFile(io.BytesIO(x)).read("xl/worksheets/sheet1.xml")
    st, _, b = upload("baoshan.admin", SYS, x)
    assert st == 200 and b["created"] == 1 and C.db.scalar("SELECT name FROM dust_systems WHERE code = 'XLS2'") == "湿式"
    _, _, x = C.call("baoshan.admin", "GET", SYS + "/export?format=xlsx")
    sheet = zipfile.ZipFile(io.BytesIO(x)).read("xl/worksheets/sheet1.xml").decode()
    assert 't="s"' in sheet and "inlineStr" not in sheet
    n = int(C.db.scalar("SELECT count(*) FROM dust_systems"))
    # refused as files: a ZIP that is no workbook, a cut-off one, entity expansion, a string
    # index out of range; more than 5000 rows
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("readme.txt", "hello")
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is></c></row></sheetData></worksheet>')
    for data, words in ((plain.getvalue(), "not an XLSX workbook"), (x[:len(x) // 2], "ZIP"),
                        (rezip(x, {"xl/worksheets/sheet1.xml": bomb.encode()}), "document type"),
                        (rezip(x, {"xl/worksheets/sheet1.xml": re.sub(r'(t="s"><v>)\d+', r"\g<1>99999", sheet, 1).encode()}),
                         "shared string"),
                        (rezip(x, {"xl/workbook.xml": b"<workbook"}), "not well-formed")):
        st, _, b = upload("baoshan.admin", SYS, data)
        assert st == 415 and b["code"] == "file_format" and words in b["detail"], (words, st, b)
    many = workbook([shead] + [[C.a2["code"], "M%05d" % i, "x"] for i in range(5001)])
    st, _, b = upload("baoshan.admin", SYS, many)
    assert st == 422 and [e["code"] for e in b["errors"]] == ["too_many_rows"], (st, b)
    assert int(C.db.scalar("SELECT count(*) FROM dust_systems")) == n


def test_survey_table_as_xlsx():
    """the district's survey table (enterprises import) takes a workbook too, and GBK is refused"""
    st, _, raw = C.call("baoshan.admin", "GET", "/api/v1/enterprises/export.csv")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    n = len(rows) - 1
    rows[1][10] = "钱七"
    new = list(rows[1])
    new[0], new[1], new[2] = "91310113MA1G000088", "310113000088", "上海表格导入机械有限公司"
    before = snapshot()
    count = "SELECT count(*) FROM enterprises"
    n_ents = C.db.scalar(count)
    # a bad row in a sheet with a blank row above it: numbered as the sheet shows it (row 4)
    bad = [list(r) for r in rows[:2]] + [[None] * len(rows[0])] + [list(new)]
    bad[3][1] = "bad code!"
    st, _, b = C.call("baoshan.admin", "POST", "/api/v1/enterprises/import", workbook(bad), {"Content-Type": XLSX})
    assert st == 422 and [e["row"] for e in b["errors"]] == [4], (st, b)
    assert C.db.scalar(count) == n_ents and snapshot() == before
    st, _, b = C.call("baoshan.admin", "POST", "/api/v1/enterprises/import", workbook(rows + [new]),
                      {"Content-Type": XLSX})
    assert st == 200 and b["created"] == 1 and b["updated"] == n, (st, b)
    assert C.db.scalar("SELECT principal_name FROM enterprises WHERE uscc = '%s'" % rows[1][0]) == "钱七"
    assert C.db.scalar("SELECT object FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1") \
        == "enterprises.xlsx"
    # Excel's plain "CSV" on a Chinese Windows is GBK: refused with advice, not stored as mojibake
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    st, _, b = C.call("baoshan.admin", "POST", "/api/v1/enterprises/import", out.getvalue().encode("gbk"),
                      {"Content-Type": "text/csv"})
    assert st == 415 and b["code"] == "file_format" and "GBK" in b["detail"], (st, b)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


if __name__ == "__main__":
    C = City(roles="api")  # no worker: the risk recompute requests stay visible
    t.run([
        test_round_trip_changes_nothing,
        test_one_bad_row_among_many_stores_nothing,
        test_scope_bounds_the_enterprises_a_file_may_name,
        test_duplicates_and_bad_cells_are_listed,
        test_size_encoding_and_row_limits,
        test_xlsx_import,
        test_survey_table_as_xlsx,
    ], cleanup=C.close)
