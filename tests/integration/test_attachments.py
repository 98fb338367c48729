"""Archive attachments (issue 17 item 8): safety assessment, zoning drawing,
licences ... beside an enterprise's archive.

* Upload (PDF, JPEG, PNG by their first bytes; base64 or a data: URL), list,
  download with the stored type and Content-Disposition (the uploaded name,
  RFC 6266 filename*), delete.  Scoped like the archive: the street and the
  enterprise itself read, another enterprise or district gets 404; streets
  may not write (403).
* Bad input — another file type whatever its name, bad base64, an unknown
  kind, a path in the name, too large a file or body — is refused with
  {code, hint, detail} and stores nothing.
* Kinds are data: a row added to attachment_kinds is listed and accepted.
* Uploads, deletions and refusals leave audit rows; retention never prunes
  attachments."""
import base64
import hashlib
import json
import socket

import dwtest as t
from test_api import City

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64) + b"\xff\xd9"


def b64(data):
    return base64.b64encode(data).decode()


def err(res, status, code):
    st, _, b = res
    assert st == status and isinstance(b, dict) and b.get("code") == code and b.get("hint") and b.get("detail"), res[0::2]
    return b


def declared_only(c, user, path, length):
    """Sends only the headers of a POST declaring length bytes; the answer (status, JSON)."""
    with socket.create_connection(("127.0.0.1", c.srv.api_port), timeout=20) as so:
        so.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {c.tokens[user]}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = so.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body[body.index(b"{"):body.rindex(b"}") + 1])


def count(c, q):
    return int(c.db.scalar(q))


def test_upload_list_download_delete_and_scope():
    c = City()
    try:
        a1 = c.a1["id"]
        kinds = c.call("luodian.staff", "GET", "/api/v1/attachment-kinds")[2]["items"]
        assert {"safety_assessment", "zoning_drawing", "business_licence"} <= {k["code"] for k in kinds}, kinds
        assert [k["label_zh"] for k in kinds if k["code"] == "zoning_drawing"] == ["爆炸危险区域划分图"]
        # the enterprise uploads its licence (a data: URL), the district the assessment
        st, _, lic = c.call("a1.manager", "POST", f"/api/v1/enterprises/{a1}/attachments",
                            {"kind": "business_licence", "filename": "营业执照 2026.jpg",
                             "data": "data:image/jpeg;base64," + b64(JPEG), "note": "正本"})
        assert st == 201 and lic["content_type"] == "image/jpeg" and lic["bytes"] == len(JPEG), lic
        assert lic["sha256"] == hashlib.sha256(JPEG).hexdigest() and lic["uploaded_by"] == "a1.manager", lic
        st, _, rep = c.call("baoshan.admin", "POST", f"/api/v1/enterprises/{a1}/attachments",
                            {"kind": "safety_assessment", "filename": "安全评价报告.pdf", "data": b64(PDF)})
        assert st == 201 and rep["content_type"] == "application/pdf", rep
        # the type is the file's, not the name's
        st, _, drw = c.call("city.admin", "POST", f"/api/v1/enterprises/{a1}/attachments",
                            {"kind": "zoning_drawing", "filename": "zoning.pdf", "data": b64(PNG)})
        assert st == 201 and drw["content_type"] == "image/png", drw
        # listed to everyone who sees a1, in the kinds' order
        for user in ("a1.manager", "luodian.staff", "baoshan.staff", "city.admin"):
            st, _, b = c.call(user, "GET", f"/api/v1/enterprises/{a1}/attachments")
            assert st == 200 and [x["kind"] for x in b["items"]] == ["safety_assessment", "zoning_drawing", "business_licence"], (user, b)
            assert "data" not in b["items"][0]
        # download: stored type, the uploaded name, the same bytes
        st, h, body = c.call("luodian.staff", "GET", f"/api/v1/attachments/{rep['id']}")
        assert st == 200 and h["content-type"] == "application/pdf" and body == PDF, (st, h)
        disp = h["content-disposition"]
        assert disp.startswith("attachment;") and "filename*=UTF-8''%E5%AE%89%E5%85%A8" in disp and disp.endswith(".pdf"), disp
        assert h.get("x-content-type-options") == "nosniff"
        st, h, body = c.call("a1.manager", "GET", f"/api/v1/attachments/{lic['id']}")
        assert st == 200 and h["content-type"] == "image/jpeg" and body == JPEG and "%202026.jpg" in h["content-disposition"], h
        # outside the scope: missing
        for user in ("a2.manager", "jiading.admin", "nanxiang.staff", "b1.manager"):
            err(c.call(user, "GET", f"/api/v1/enterprises/{a1}/attachments"), 404, "not_found")
            err(c.call(user, "GET", f"/api/v1/attachments/{rep['id']}"), 404, "not_found")
        for user in ("a2.manager", "jiading.admin"):
            err(c.call(user, "DELETE", f"/api/v1/attachments/{rep['id']}"), 404, "not_found")
            err(c.call(user, "POST", f"/api/v1/enterprises/{a1}/attachments",
                       {"kind": "other", "filename": "x.pdf", "data": b64(PDF)}), 404, "not_found")
        # streets read, never write
        err(c.call("luodian.staff", "POST", f"/api/v1/enterprises/{a1}/attachments",
                   {"kind": "other", "filename": "x.pdf", "data": b64(PDF)}), 403, "forbidden")
        err(c.call("luodian.staff", "DELETE", f"/api/v1/attachments/{rep['id']}"), 403, "forbidden")
        assert count(c, "SELECT count(*) FROM enterprise_attachments") == 3
        # retention leaves attachments alone, however old
        c.db.sql("UPDATE enterprise_attachments SET created_at = now() - interval '20 years'")
        c.db.sql("SELECT * FROM dw_prune_media(now(), now(), 1000)")
        assert count(c, "SELECT count(*) FROM enterprise_attachments WHERE octet_length(data) = bytes") == 3
        # delete, audited with what was deleted
        st, _, b = c.call("a1.manager", "DELETE", f"/api/v1/attachments/{lic['id']}")
        assert st == 200 and b == {"id": lic["id"], "deleted": True}, b
        err(c.call("a1.manager", "GET", f"/api/v1/attachments/{lic['id']}"), 404, "not_found")
        rows = c.db.sql("SELECT action, object, result, username, detail FROM audit_log "
                        "WHERE action LIKE 'attachment_%' ORDER BY id")
        ok = [r for r in rows if r[2] == "ok"]
        assert [r[0] for r in ok] == ["attachment_create"] * 3 + ["attachment_delete"], rows
        assert ok[3][1] == f"attachment:{lic['id']}" and ok[3][3] == "a1.manager" and "营业执照 2026.jpg" in ok[3][4], ok[3]
        assert hashlib.sha256(JPEG).hexdigest() in ok[3][4]
        denied = [r for r in rows if r[2] == "denied"]
        assert len(denied) == 4, rows  # two deletes and two uploads out of scope
    finally:
        c.close()


def test_bad_input_stores_nothing():
    c = City()
    try:
        a1 = c.a1["id"]
        url = f"/api/v1/enterprises/{a1}/attachments"
        ok = {"kind": "safety_assessment", "filename": "report.pdf", "data": b64(PDF)}
        cases = [
            (dict(ok, data=b64(b"GIF89a" + bytes(20))), 422, "attachment_invalid"),
            (dict(ok, data=b64(b"MZ\x90\x00" + bytes(60))), 422, "attachment_invalid"),
            (dict(ok, data=b64(b"just text, named .pdf")), 422, "attachment_invalid"),
            (dict(ok, data="%%%not base64%%%"), 422, "attachment_invalid"),
            (dict(ok, data="data:application/pdf,%PDF-1.4"), 422, "attachment_invalid"),
            (dict(ok, data=""), 422, "attachment_invalid"),
            (dict(ok, data=12), 400, "bad_request"),
            ({"kind": "safety_assessment", "filename": "report.pdf"}, 400, "bad_request"),
            (dict(ok, kind="tax_return"), 422, "attachment_invalid"),
            (dict(ok, kind=""), 400, "bad_request"),
            (dict(ok, filename="../../etc/report.pdf"), 422, "attachment_invalid"),
            (dict(ok, filename="a\\b.pdf"), 422, "attachment_invalid"),
            (dict(ok, filename="bad\nname.pdf"), 422, "attachment_invalid"),
            (dict(ok, filename=""), 400, "bad_request"),
            (dict(ok, filename="长" * 201 + ".pdf"), 400, "bad_request"),
            (dict(ok, note="x" * 501), 400, "bad_request"),
            (dict(ok, content_type="application/pdf"), 400, "unknown_field"),
            # one byte over 8 MB: refused after decoding
            (dict(ok, data=b64(PDF + bytes(8 * 1024 * 1024 + 1 - len(PDF)))), 422, "attachment_invalid"),
        ]
        for body, status, code in cases:
            b = err(c.call("a1.manager", "POST", url, body), status, code)
            assert len(b["detail"]) < 300
        # a body over the route's cap: 413 before anything is decoded
        st, b = declared_only(c, "a1.manager", url, 13 * 1024 * 1024)
        assert st == 413 and b["code"] == "body_too_large" and b["hint"] and b["detail"], (st, b)
        assert count(c, "SELECT count(*) FROM enterprise_attachments") == 0
        assert count(c, "SELECT count(*) FROM audit_log WHERE action = 'attachment_create' AND result = 'ok'") == 0
        # the unknown kind is recorded as a failed upload
        assert count(c, "SELECT count(*) FROM audit_log WHERE action = 'attachment_create' AND result = 'failed'") == 1
        # exactly 8 MB is accepted
        big = PDF + bytes(8 * 1024 * 1024 - len(PDF))
        st, _, b = c.call("a1.manager", "POST", url, dict(ok, data=b64(big)))
        assert st == 201 and b["bytes"] == 8 * 1024 * 1024, b
        st, _, body = c.call("a1.manager", "GET", f"/api/v1/attachments/{b['id']}")
        assert st == 200 and body == big
        # kinds are data: a new row is listed and accepted at once
        c.db.sql("INSERT INTO attachment_kinds (code, label_zh, label_en, sort) VALUES ('fire_acceptance', '消防验收意见书', 'Fire acceptance', 60)")
        assert "fire_acceptance" in [k["code"] for k in c.call("a1.manager", "GET", "/api/v1/attachment-kinds")[2]["items"]]
        st, _, b = c.call("a1.manager", "POST", url, dict(ok, kind="fire_acceptance", data=b64(PNG), filename="消防.png"))
        assert st == 201 and b["kind"] == "fire_acceptance", b
    finally:
        c.close()


if __name__ == "__main__":
    t.run([test_upload_list_download_delete_and_scope, test_bad_input_stores_nothing])
