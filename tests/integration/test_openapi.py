"""The OpenAPI documents (schema/openapi.json, served at /api/v1/openapi.json,
and schema/openapi-ingest.json): served as committed, equal to the route
table the running server answers (paths, methods, roles, admin_only, public,
before_password_change, body limits), pointing only at ingest endpoints that
exist, and clean under @redocly/cli lint (pinned in tests/tools/openapi-lint,
installed with npm ci on first use and cached in its node_modules).  That the
committed files are schema/openapi_build.py's output for the built route
table is the unit test openapi-fresh (no services needed)."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import dwtest as t

SCHEMA = os.path.join(t.SRC, "schema")
API_DOC = os.path.join(SCHEMA, "openapi.json")
INGEST_DOC = os.path.join(SCHEMA, "openapi-ingest.json")
LINT_DIR = os.path.join(t.SRC, "tests", "tools", "openapi-lint")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# answered before dispatch, so not in the route table
HEALTH = {("GET", "/healthz"), ("GET", "/readyz")}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def norm(path):
    return re.sub(r"\{[^}/]+\}", "{}", path)


def operations(doc):
    """(METHOD, normalised path) -> operation object."""
    ops = {}
    for path, item in doc["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                key = (m.upper(), norm(path))
                assert key not in ops, f"{key} documented twice"
                ops[key] = op
    return ops


def test_documents_parse():
    for path in (API_DOC, INGEST_DOC):
        doc = load(path)
        assert re.fullmatch(r"3\.1\.\d+", doc.get("openapi", "")), (path, doc.get("openapi"))
        assert doc["info"]["title"] and doc["info"]["version"], path
        assert doc["paths"], path
        for (m, p), op in operations(doc).items():
            assert op.get("operationId"), (path, m, p)
            assert op.get("summary") and op.get("description"), (path, m, p, "summary")
            assert "security" in op, (path, m, p, "security")
    # the error body's codes are the registry's
    codes = set(re.findall(r'^X\(\w+,\s*"([a-z_]+)"',
                           open(os.path.join(t.SRC, "api", "core", "errors.def"), encoding="utf-8").read(),
                           re.M))
    assert codes and set(load(API_DOC)["components"]["schemas"]["ErrorCode"]["enum"]) == codes


def check_against_table(table, doc):
    """Every route of the table is documented with its roles and vice versa."""
    ops = operations(doc)
    routes = {}
    for rt in table:
        key = (rt["method"], norm(rt["path"]))
        assert key not in routes, f"route table lists {key} twice"
        routes[key] = rt
    missing = sorted(set(routes) - set(ops))
    extra = sorted(set(ops) - set(routes) - HEALTH)
    assert not missing, f"routes without an operation in schema/openapi.json: {missing}"
    assert not extra, f"operations without a route in api/routes.c: {extra}"
    assert HEALTH <= set(ops), "document /healthz and /readyz"
    for key, rt in routes.items():
        op = ops[key]
        where = f"{key[0]} {rt['path']}"
        assert sorted(op.get("x-roles", [])) == sorted(rt["roles"]), \
            f"{where}: x-roles {op.get('x-roles')} but the table says {rt['roles']}"
        assert op.get("x-admin-only") is rt["admin_only"], \
            f"{where}: x-admin-only {op.get('x-admin-only')} but the table says {rt['admin_only']}"
        assert op.get("x-before-password-change") is rt["before_password_change"], \
            f"{where}: x-before-password-change {op.get('x-before-password-change')} but the " \
            f"table says {rt['before_password_change']}"
        assert op.get("operationId") == rt["operation_id"], \
            f"{where}: operationId {op.get('operationId')} but the table says {rt['operation_id']}"
        assert (op.get("security") == []) is rt["public"], \
            f"{where}: security {op.get('security')} but public is {rt['public']}"
        assert op.get("x-max-body") == rt["max_body"], \
            f"{where}: x-max-body {op.get('x-max-body')} but the table says {rt['max_body']}"
        has_body = "requestBody" in op
        assert has_body == (rt["max_body"] > 0) or key == ("POST", "/api/v1/auth/logout"), \
            f"{where}: requestBody documented: {has_body}, max_body {rt['max_body']}"
        if rt["max_body"] > 0:
            assert "413" in op["responses"], f"{where}: document 413"
        if not rt["public"]:
            for st in ("401", "403"):
                assert st in op["responses"], f"{where}: document {st}"
        if "{}" in key[1]:
            assert "404" in op["responses"], f"{where}: document 404"
    return len(routes)


def test_document_matches_route_table():
    db = t.Database()
    srv = None
    try:
        srv = t.Server(db, openapi_file=API_DOC)
        st, _, body = srv.api("GET", "/api/v1/routes")
        assert st == 200, (st, body)
        table = body["items"]
        # `dustwatch routes --json` (what the generator reads) is the served table
        r = subprocess.run([t.BIN, "routes", "--json"], capture_output=True, text=True,
                           timeout=30, env={"PATH": os.environ.get("PATH", "")})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["items"] == table, "`dustwatch routes --json` differs"
        # the way out of a forced password change, and nothing else
        assert {(rt["method"], rt["path"]) for rt in table if rt["before_password_change"]} == {
            ("POST", "/api/v1/auth/logout"), ("GET", "/api/v1/auth/me"),
            ("POST", "/api/v1/auth/password")}, table
        st, hdrs, served = srv.api("GET", "/api/v1/openapi.json")
        assert st == 200, (st, served)
        assert "json" in hdrs.get("content-type", ""), hdrs
        assert served == load(API_DOC), "the server serves another document than schema/openapi.json"
        n = check_against_table(table, served)
        assert n == len(table) and n > 0
        # the health endpoints answer as documented, on both listeners
        for call in (srv.api, srv.ingest):
            st, _, body = call("GET", "/healthz")
            assert st == 200 and body == {"status": "alive"}, (st, body)
            st, _, body = call("GET", "/readyz")
            assert st == 200 and body["status"] == "ready", (st, body)
        # every documented ingest endpoint exists on the ingest listener
        ingest = load(INGEST_DOC)
        for (m, p) in operations(ingest):
            if (m, p) in HEALTH:
                continue
            assert m == "POST", (m, p)
            st, hdrs, body = srv.ingest("POST", p, body={}, headers={"X-Api-Key": "dwk_nope"})
            assert st != 404, f"documented ingest endpoint {p} answers 404: {body}"
            st, hdrs, body = srv.ingest("GET", p)
            assert st == 405 and hdrs.get("allow") == "POST", (p, st, hdrs)
        st, _, _ = srv.ingest("POST", "/ingest/v1/nonesuch", body={})
        assert st == 404, st
        # a strict body: unknown fields answer 400 unknown_field
        st, _, body = srv.api("POST", "/api/v1/auth/login",
                              body={"username": "u", "password": "p", "role": "city_admin"})
        assert st == 400 and body["code"] == "unknown_field", (st, body)
        assert ingest["components"]["schemas"]["IngestReadings"].get(
            "additionalProperties") is False
    finally:
        if srv:
            srv.stop()
        db.drop()


def test_installed_binary_finds_its_files():
    """`meson install` puts the dashboard, migrations, OpenAPI document and risk
    model under <prefix>/share/dustwatch, and the installed binary finds them
    with no path in its configuration (as in the image and the systemd unit):
    only the database and Redis come from the environment."""
    meson = shutil.which("meson")
    assert meson, "meson is not on PATH"
    build = os.path.dirname(os.path.abspath(t.BIN))
    r = subprocess.run([meson, "introspect", build, "--installed"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    installed = json.loads(r.stdout)
    dest = tempfile.mkdtemp(prefix="dwinstall-")
    log = os.path.join(dest, "server.log")
    db = t.Database(migrate=False)
    proc = None
    try:
        r = subprocess.run([meson, "install", "-C", build, "--destdir", dest, "--no-rebuild",
                            "--tags", "runtime"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        exe = dest + installed[os.path.abspath(t.BIN)]
        share = os.path.join(os.path.dirname(os.path.dirname(exe)), "share", "dustwatch")
        for f in ("web-static/index.html", "migrations/0001_base.sql", "schema/openapi.json",
                  "schema/risk-model.default.json"):
            assert os.path.isfile(os.path.join(share, f)), f"not installed: {f}"
        assert not os.path.exists(os.path.join(share, "web-static", "package.json"))
        # markers prove the installed copies are read, not the source tree
        doc = load(API_DOC)
        doc["x-installed-copy"] = True
        with open(os.path.join(share, "schema", "openapi.json"), "w", encoding="utf-8") as f:
            json.dump(doc, f)
        with open(os.path.join(share, "web-static", "installed-marker.txt"), "w") as f:
            f.write("installed\n")
        port = t.free_port()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "DUSTWATCH_DATABASE_URL": db.app_url,
               "DUSTWATCH_MIGRATE_DATABASE_URL": db.owner_url,
               "DUSTWATCH_REDIS_URL": os.environ.get("DUSTWATCH_REDIS_URL", ""),
               "DUSTWATCH_MASTER_KEY_FILE": os.environ.get("DUSTWATCH_MASTER_KEY_FILE", ""),
               "DUSTWATCH_API_LISTEN": f"127.0.0.1:{port}"}
        r = subprocess.run([exe, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"installed migrate failed:\n{r.stdout}{r.stderr}"
        # the worker loads the risk model at start: a missing file would stop it
        with open(log, "wb") as out:
            proc = subprocess.Popen([exe, "serve", "--roles", "api,worker"], env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            assert proc.poll() is None, f"installed server exited:\n{open(log).read()}"
            try:
                if t.request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, f"installed server not ready:\n{open(log).read()}"
            time.sleep(0.1)
        st, hdrs, served = t.request(port, "GET", "/api/v1/openapi.json")
        assert st == 200 and served == doc, (st, str(served)[:300])
        st, hdrs, page = t.request(port, "GET", "/")
        with open(os.path.join(t.SRC, "web-static", "index.html"), "rb") as f:
            assert st == 200 and hdrs["content-type"].startswith("text/html") and \
                page == f.read(), (st, hdrs)
        st, _, marker = t.request(port, "GET", "/installed-marker.txt")
        assert st == 200 and marker == b"installed\n", (st, marker)
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        db.drop()
        shutil.rmtree(dest, ignore_errors=True)


def test_negative_cross_check():
    """The comparison itself catches a missing route, an extra operation and
    wrong roles (so a passing run means something)."""
    doc = load(API_DOC)
    table = [{"method": "GET", "path": "/api/v1/version", "public": True, "admin_only": False,
              "before_password_change": False, "operation_id": "getVersion", "roles": [],
              "max_body": 0}]
    try:
        check_against_table(table, doc)
        raise RuntimeError("extra operations went unnoticed")
    except AssertionError as e:
        assert "without a route" in str(e), e
    table.append({"method": "GET", "path": "/api/v1/nonesuch/{x}", "public": False,
                  "admin_only": False, "before_password_change": False,
                  "operation_id": "getNonesuch", "roles": ["city"], "max_body": 0})
    try:
        check_against_table(table, doc)
        raise RuntimeError("a missing operation went unnoticed")
    except AssertionError as e:
        assert "without an operation" in str(e), e
    mini = {"paths": {"/healthz": doc["paths"]["/healthz"], "/readyz": doc["paths"]["/readyz"],
                      "/api/v1/regions": {"get": json.loads(json.dumps(doc["paths"]["/api/v1/regions"]["get"]))}}}
    mini["paths"]["/api/v1/regions"]["get"]["x-roles"] = ["city"]
    try:
        check_against_table([{"method": "GET", "path": "/api/v1/regions", "public": False,
                              "admin_only": False, "before_password_change": False,
                              "operation_id": "listRegions",
                              "roles": ["city", "district", "street", "enterprise"],
                              "max_body": 0}], mini)
        raise RuntimeError("wrong roles went unnoticed")
    except AssertionError as e:
        assert "x-roles" in str(e), e


def npm_env():
    env = dict(os.environ)
    env.update(REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
               NO_UPDATE_NOTIFIER="1", npm_config_update_notifier="false")
    return env


def installed_version():
    try:
        return load(os.path.join(LINT_DIR, "node_modules", "@redocly", "cli", "package.json"))[
            "version"]
    except (OSError, ValueError, KeyError):
        return None


def test_lint():
    for tool in ("node", "npm", "npx"):
        if not shutil.which(tool):
            raise AssertionError(f"{tool} is not installed: the OpenAPI lint needs Node.js and npm "
                                 "(deploy/install-deps.sh --test installs them)")
    pinned = load(os.path.join(LINT_DIR, "package-lock.json"))["packages"][
        "node_modules/@redocly/cli"]["version"]
    if installed_version() != pinned:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=LINT_DIR, env=npm_env(), capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"npm ci in {LINT_DIR} failed:\n{r.stdout}\n{r.stderr}"
        assert installed_version() == pinned, installed_version()
    errors, warnings = [], []
    for doc in (API_DOC, INGEST_DOC):
        r = subprocess.run(["npx", "--no-install", "redocly", "lint", "--config", "redocly.yaml",
                            "--format", "json", doc],
                           cwd=LINT_DIR, env=npm_env(), capture_output=True, text=True,
                           timeout=300)
        try:
            report, _ = json.JSONDecoder().raw_decode(r.stdout[r.stdout.index("{"):])
        except ValueError:
            raise AssertionError(f"redocly lint gave no JSON report for {doc} (exit "
                                 f"{r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        name = os.path.basename(doc)
        for p in report.get("problems", []):
            locs = ", ".join(loc.get("pointer", "") for loc in p.get("location", []))
            line = f"{name}: {p.get('ruleId')}: {p.get('message')} at {locs}"
            (errors if p.get("severity") == "error" else warnings).append(line)
        assert r.returncode == 0 or errors, f"redocly lint failed on {doc}:\n{r.stderr[-3000:]}"
    for w in warnings:
        print("     lint warning " + w)
    assert not errors, "redocly lint errors:\n" + "\n".join(errors)
    # keep warnings few: new ones should be fixed, not accumulated
    assert len(warnings) <= 5, f"{len(warnings)} lint warnings; fix the new ones"


if __name__ == "__main__":
    t.run([test_documents_parse, test_negative_cross_check,
           test_document_matches_route_table, test_installed_binary_finds_its_files, test_lint])
