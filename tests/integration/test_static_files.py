"""The dashboard's static files (issue 17 item 9): the 662 KB chart library was
sent uncompressed and downloaded again every 5 minutes.

* web-static/compress.sh (run by the build) writes name.gz and, with Debian's
  brotli tool, name.br beside each text file over 1 KB; the server sends the
  best sibling the client accepts (br, then gzip; q=0 refuses) with
  Content-Encoding and Vary: Accept-Encoding, and the file itself otherwise.
* A sibling older than its file (the file was edited after the build) is
  never sent: the current file goes out uncompressed.
* Every file has an ETag per representation; If-None-Match with it (also weak,
  also in a list) is a 304 without a body.
* vendor/ files and content-hashed names (app.0123abcd.js) are
  Cache-Control immutable for a year; the rest (index.html, the app's
  modules) no-cache, i.e. revalidated each time for a cheap 304.
* A .gz/.br path itself is not a file of the dashboard (404)."""
import gzip
import os
import shutil
import subprocess
import tempfile
import time

import dwtest as t

BIG_JS = ("// the library\n" + "function f(a) { return a * 2 + 1; }\n" * 400).encode()
APP_JS = ("export const x = 1;\n" * 200).encode()


def write(root, rel, data):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    return p


def test_precompressed_siblings_etags_and_caching():
    root = tempfile.mkdtemp(prefix="dw-web-")
    db = t.Database()
    srv = None
    try:
        write(root, "index.html", b"<!doctype html><title>x</title>" + b" " * 2000)
        write(root, "vendor/lib.js", BIG_JS)
        write(root, "js/app.js", APP_JS)
        write(root, "js/app.0123abcd.js", APP_JS)
        write(root, "img/logo.png", b"\x89PNG\r\n\x1a\n" + os.urandom(3000))
        subprocess.run([os.path.join(t.SRC, "web-static", "compress.sh"), root], check=True)
        have_br = shutil.which("brotli") is not None
        assert os.path.exists(os.path.join(root, "vendor/lib.js.gz"))
        assert os.path.exists(os.path.join(root, "vendor/lib.js.br")) == have_br
        assert not os.path.exists(os.path.join(root, "img/logo.png.gz")), "a PNG is not compressed again"
        srv = t.Server(db, web_root=root)

        # gzip: the sibling, decompressing to the file
        st, h, body = srv.api("GET", "/vendor/lib.js", headers={"Accept-Encoding": "gzip, deflate"})
        assert st == 200 and h.get("content-encoding") == "gzip", h
        assert gzip.decompress(body) == BIG_JS and len(body) < len(BIG_JS) / 5
        assert "accept-encoding" in h.get("vary", "").lower(), h
        assert h["content-type"].startswith("text/javascript"), h
        assert "immutable" in h["cache-control"] and "max-age=31536000" in h["cache-control"], h
        etag_gz = h["etag"]
        # brotli preferred when accepted (and built)
        st, h, body = srv.api("GET", "/vendor/lib.js", headers={"Accept-Encoding": "gzip, br"})
        if have_br:
            assert h.get("content-encoding") == "br" and body == open(os.path.join(root, "vendor/lib.js.br"), "rb").read(), h
            assert h["etag"] != etag_gz
        # q=0 refuses a coding; none accepted: the file itself
        for ae in ("gzip;q=0, br;q=0", "identity", None):
            st, h, body = srv.api("GET", "/vendor/lib.js", headers={"Accept-Encoding": ae} if ae else {})
            assert st == 200 and "content-encoding" not in h and body == BIG_JS, (ae, h)
            etag_id = h["etag"]
        st, h, _ = srv.api("GET", "/vendor/lib.js", headers={"Accept-Encoding": "*"})
        assert h.get("content-encoding") in ("br", "gzip"), h
        assert len({etag_gz, etag_id}) == 2, "one ETag per representation"

        # validators: 304 without a body, also weak and in a list
        for inm in (etag_gz, "W/" + etag_gz, '"nope", ' + etag_gz):
            st, h, body = srv.api("GET", "/vendor/lib.js", headers={"Accept-Encoding": "gzip", "If-None-Match": inm})
            assert st == 304 and body == b"" and h["etag"] == etag_gz, (inm, st, h)
        st, _, body = srv.api("GET", "/vendor/lib.js", headers={"Accept-Encoding": "gzip", "If-None-Match": '"other"'})
        assert st == 200 and gzip.decompress(body) == BIG_JS
        # the gzip tag does not validate the identity representation
        st, _, body = srv.api("GET", "/vendor/lib.js", headers={"If-None-Match": etag_gz})
        assert st == 200 and body == BIG_JS

        # caching per kind of file
        st, h, body = srv.api("GET", "/", headers={"Accept-Encoding": "gzip"})
        assert st == 200 and h["cache-control"] == "no-cache" and h.get("content-encoding") == "gzip", h
        st, h, _ = srv.api("GET", "/", headers={"Accept-Encoding": "gzip", "If-None-Match": h["etag"]})
        assert st == 304, st
        st, h, _ = srv.api("GET", "/js/app.js")
        assert st == 200 and h["cache-control"] == "no-cache" and "etag" in h, h
        st, h, _ = srv.api("GET", "/js/app.0123abcd.js")
        assert st == 200 and "immutable" in h["cache-control"], h
        st, h, body = srv.api("GET", "/img/logo.png", headers={"Accept-Encoding": "gzip"})
        assert st == 200 and "content-encoding" not in h and h["content-type"] == "image/png" and "etag" in h, h
        for p in ("/vendor/lib.js.gz", "/vendor/lib.js.br"):
            assert srv.api("GET", p)[0] == 404, p

        # an edit after the build: the stale sibling is not sent, the ETag changes
        st, h, _ = srv.api("GET", "/js/app.js", headers={"Accept-Encoding": "gzip"})
        assert h.get("content-encoding") == "gzip", h
        old_tag = h["etag"]
        time.sleep(0.02)
        write(root, "js/app.js", APP_JS + b"export const y = 2;\n")
        st, h, body = srv.api("GET", "/js/app.js", headers={"Accept-Encoding": "gzip, br", "If-None-Match": old_tag})
        assert st == 200 and "content-encoding" not in h and body.endswith(b"y = 2;\n"), (st, h)
        # the next build compresses it again
        subprocess.run([os.path.join(t.SRC, "web-static", "compress.sh"), root], check=True)
        st, h, body = srv.api("GET", "/js/app.js", headers={"Accept-Encoding": "gzip"})
        assert h.get("content-encoding") == "gzip" and gzip.decompress(body).endswith(b"y = 2;\n"), h
        assert srv.stop() == 0, srv.logtext()
        srv = None
    finally:
        if srv:
            srv.stop()
        db.drop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    t.run([test_precompressed_siblings_etags_and_caching])
