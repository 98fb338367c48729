"""Upgrades (docs/reliability.md, recovery; deploy/README.md "Upgrade and
rollback").

* A database migrated by an older build (only the first N-10 migration files:
  migrations are append-only, so those files are byte for byte what that
  build shipped), populated, is migrated by this build: `migrate` applies the
  rest, `migrate --check` says current, the data is all there and the server
  serves it.
* A database that records a migration this build does not have (a newer
  build migrated it, then the binary was rolled back) makes `dustwatch serve`
  refuse to start with a clear error, and `migrate --check` / `migrate` refuse
  too; nothing is changed."""
import glob
import os
import shutil
import subprocess
import tempfile
import time

import dwtest as t
import fixtures

BACK = 10


def migration_files():
    return sorted(glob.glob(os.path.join(t.SRC, "migrations", "[0-9][0-9][0-9][0-9]_*.sql")))


def test_database_of_an_older_build_is_migrated_and_served():
    files = migration_files()
    assert len(files) > BACK + 5, files
    old = tempfile.mkdtemp(prefix="dw-old-migrations-")
    db = t.Database(migrate=False)
    srv = None
    try:
        for p in files[:-BACK]:
            shutil.copy(p, old)
        r = db.migrate("--dir", old)
        assert r.returncode == 0, r.stderr
        assert db.scalar("SELECT count(*) FROM schema_migrations") == str(len(files) - BACK)
        r = db.migrate("--check")
        assert r.returncode == 1 and f"{len(files) - BACK} of {len(files)} migrations applied" in r.stdout + r.stderr, \
            (r.returncode, r.stdout, r.stderr)
        # populate through the old schema
        ents = fixtures.make_city(db)
        a1 = next(iter(ents.values()))
        pid = a1["points"]["hopper_temp"][1]
        db.sql(f"""SELECT dw_ensure_readings_partition((now() AT TIME ZONE 'UTC')::date);
                   INSERT INTO readings (point_id, collected_at, value, quality, enterprise_id)
                   SELECT {pid}, now() - make_interval(secs => g), 30 + g % 5, 0, {a1['id']}
                   FROM generate_series(1, 100) g""")
        before = {tbl: db.scalar(f"SELECT count(*) FROM {tbl}")
                  for tbl in ("enterprises", "points", "readings", "ingest_credentials")}

        # the server of this build does not serve the old schema (not ready), then migrate
        r = db.migrate()
        assert r.returncode == 0, r.stderr
        assert db.migrate("--check").returncode == 0
        assert db.scalar("SELECT count(*) FROM schema_migrations") == str(len(files))
        after = {tbl: db.scalar(f"SELECT count(*) FROM {tbl}") for tbl in before}
        assert after == before, (before, after)
        srv = t.Server(db)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5))
        st, _, body = srv.ingest("POST", "/ingest/v1/readings",
                                 {"readings": [{"point": a1["points"]["hopper_temp"][0], "ts": now, "value": 33}]},
                                 {"X-Api-Key": a1["api_key"]})
        assert st == 200 and body["accepted"] == 1, (st, body)
        assert db.scalar(f"SELECT count(*) FROM readings WHERE point_id = {pid}") == "101"
    finally:
        if srv:
            srv.stop()
        db.drop()
        shutil.rmtree(old, ignore_errors=True)


def test_server_refuses_a_schema_newer_than_it_knows():
    db = t.Database()
    try:
        fixtures.make_city(db)
        db.sql("INSERT INTO schema_migrations (name, checksum) VALUES ('9999_from_a_newer_build.sql', 'abc')")
        srv = t.Server(db, wait_ready=False)
        try:
            rc = srv.proc.wait(30)
        except subprocess.TimeoutExpired:
            srv.stop()
            raise AssertionError("the server started on a schema it does not know:\n" + srv.logtext())
        log = srv.logtext()
        assert rc != 0, rc
        assert '9999_from_a_newer_build.sql' in log and "does not know" in log, log
        r = db.migrate("--check")
        assert r.returncode == 1 and "does not know" in r.stdout + r.stderr, (r.stdout, r.stderr)
        r = db.migrate()
        assert r.returncode != 0 and "does not know" in r.stderr, r.stderr
        assert db.scalar("SELECT count(*) FROM schema_migrations WHERE name LIKE '9999%'") == "1"
    finally:
        db.drop()


if __name__ == "__main__":
    t.run([test_database_of_an_older_build_is_migrated_and_served,
           test_server_refuses_a_schema_newer_than_it_knows])
