"""schema/schema.sql is current: a scratch database migrated by the real
binary from migrations/ dumps (pg_dump + the normalisation of
schema/dump_schema.sh --dump) to exactly the committed file.  The script's own
--check passes on the committed file, fails with a diff and the regeneration
hint on a stale one, and leaves no scratch database behind."""
import contextlib
import difflib
import os
import re
import shutil
import subprocess
import tempfile
import uuid

import dwtest as t

SCRIPT = os.path.join(t.SRC, "schema", "dump_schema.sh")
SCHEMA_SQL = os.path.join(t.SRC, "schema", "schema.sql")
MIGRATIONS = os.path.join(t.SRC, "migrations")
REGENERATE = ("regenerate it: deploy/services.sh start DIR; set -a; . DIR/env; set +a; "
              "schema/dump_schema.sh --write (then commit schema/schema.sql with the migration)")


def script_env():
    e = dict(os.environ)
    e["DW_BIN"] = t.BIN
    e["DW_PGBIN"] = t.PGBIN
    e["DUSTWATCH_MIGRATE_DATABASE_URL"] = f"postgresql://dwadmin@127.0.0.1:{t.PG_PORT}/dustwatch"
    return e


def scratch_databases():
    return t.psql("SELECT datname FROM pg_database WHERE datname LIKE 'dw\\_schema\\_%' ORDER BY 1",
                  db="postgres")


@contextlib.contextmanager
def migrated_database():
    """a scratch database migrated by the real binary (its name); dropped afterwards"""
    name = "t_" + uuid.uuid4().hex[:12]
    url = f"postgresql://dwadmin@127.0.0.1:{t.PG_PORT}/{name}"
    t.psql(f"CREATE DATABASE {name} TEMPLATE template0", db="postgres")
    try:
        env = dict(os.environ, DUSTWATCH_MIGRATE_DATABASE_URL=url, DUSTWATCH_DATABASE_URL=url)
        r = subprocess.run([t.BIN, "migrate", "--dir", MIGRATIONS], env=env, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        yield name
    finally:
        t.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", db="postgres", check=False)


def test_schema_sql_is_current():
    # template0 like the script: nothing but what the migrations create
    with migrated_database() as name:
        url = f"postgresql://dwadmin@127.0.0.1:{t.PG_PORT}/{name}"
        d = subprocess.run([SCRIPT, "--dump", url], env=script_env(), capture_output=True,
                           timeout=120)
        assert d.returncode == 0, d.stderr.decode(errors="replace")
        dumped = d.stdout.decode("utf-8")
    with open(SCHEMA_SQL, encoding="utf-8") as f:
        committed = f.read()
    if dumped != committed:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), dumped.splitlines(True),
                                            "schema/schema.sql (committed)",
                                            "migrated from migrations/"))
        raise AssertionError("schema/schema.sql is not the schema migrations/ produce; "
                             f"{REGENERATE}\n{diff[:8000]}")


def test_script_check():
    before = scratch_databases()
    r = subprocess.run([SCRIPT, "--check"], env=script_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{REGENERATE}"
    tmp = tempfile.mkdtemp()
    try:
        stale = os.path.join(tmp, "schema.sql")
        with open(SCHEMA_SQL, encoding="utf-8") as f:
            text = f.read()
        assert "CREATE TABLE public.schema_migrations (" in text
        with open(stale, "w", encoding="utf-8") as f:
            f.write(text.replace("CREATE TABLE public.schema_migrations (",
                                 "CREATE TABLE public.schema_migrations_old (", 1))
        r = subprocess.run([SCRIPT, "--check", "--file", stale], env=script_env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        assert "-CREATE TABLE public.schema_migrations_old (" in r.stdout, r.stdout
        assert "+CREATE TABLE public.schema_migrations (" in r.stdout, r.stdout
        assert "is stale" in r.stderr and "dump_schema.sh --write" in r.stderr, r.stderr
    finally:
        shutil.rmtree(tmp)
    assert scratch_databases() == before, "dump_schema.sh left its scratch database behind"



def test_policies_read_the_scope_once_per_query():
    # migration 0138: a policy arm that calls current_setting('dw.scope') outside a
    # sub-select runs for every row the policy filters (a city's 40,000 points: 11.6 ms
    # against 7.3 ms); a new policy written in the old shape would bring that back
    with migrated_database() as db:
        rows = t.psql(
            "SELECT c.relname || '.' || p.polname, replace(e, E'\\n', ' ') FROM pg_policy p "
            "JOIN pg_class c ON c.oid = p.polrelid, "
            "LATERAL (VALUES (pg_get_expr(p.polqual, p.polrelid)), "
            "(pg_get_expr(p.polwithcheck, p.polrelid))) x(e) "
            "WHERE e LIKE '%current_setting(''dw.scope''%'", db=db)
    assert rows, "no policy reads dw.scope: the query above no longer finds them"
    per_row = [r for r in rows
               if r[1].count("current_setting('dw.scope'")
               != r[1].count("SELECT (current_setting('dw.scope'")
               + r[1].count("SELECT ((current_setting('dw.scope'")]
    assert not per_row, ("policies read dw.scope per row; write the arm as "
                         "(SELECT current_setting('dw.scope', true) = 'system'): "
                         + ", ".join(r[0] for r in per_row))


def test_statistics_count_every_alarm_kind():
    # server/db/db_stats.c counts the alarms of each kind in a column of its own (ALARM_KINDS);
    # a kind the schema allows but the list lacks would be counted in the totals and missing
    # from by_kind
    with migrated_database() as db:
        check = t.psql("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conname = 'alarms_kind_check'", db=db)
        # and the alarms' running totals per day (migration 0155) a column each
        day_cols = [r[0][2:] for r in t.psql("SELECT attname FROM pg_attribute WHERE attrelid = "
                                             "'stats_alarm_day'::regclass AND attname LIKE 'k\\_%' "
                                             "AND NOT attisdropped ORDER BY attname", db=db)]
    assert check, "alarms_kind_check not found"
    allowed = sorted(re.findall(r"'([a-z_]+)'::text", check[0][0]))
    with open(os.path.join(t.SRC, "server", "db", "db_stats.c"), encoding="utf-8") as f:
        src = f.read()
    m = re.search(r"#define ALARM_KINDS\(X\)(.*?)\n#", src, re.S)
    assert m, "ALARM_KINDS not found in db_stats.c"
    listed = re.findall(r"X\(([a-z_]+)\)", m.group(0))
    assert listed == sorted(listed), f"ALARM_KINDS is not in alphabetical order: {listed}"
    assert listed == allowed, f"ALARM_KINDS {listed} differs from alarms_kind_check {allowed}"
    assert day_cols == allowed, f"stats_alarm_day's k_ columns {day_cols} differ from alarms_kind_check {allowed}"


if __name__ == "__main__":
    t.run([
        test_schema_sql_is_current,
        test_script_check,
        test_policies_read_the_scope_once_per_query,
        test_statistics_count_every_alarm_kind,
    ])
