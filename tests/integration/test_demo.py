"""Demo city: deploy/demo/gen_demo.py (the description), `dustwatch demo seed`
(loads it, mints the credentials, writes the fleet file) and deploy/demo-seed.sh.

Every test uses its own fresh database, so the file can run in parallel with
other integration tests.
"""
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import dwtest as t

GEN = os.path.join(t.SRC, "deploy", "demo", "gen_demo.py")
SEED = os.path.join(t.SRC, "deploy", "demo-seed.sh")

BAOSHAN_STREETS = ["友谊路街道", "吴淞街道", "张庙街道", "罗店镇", "大场镇", "杨行镇", "月浦镇", "罗泾镇", "顾村镇",
                   "高境镇", "庙行镇", "淞南镇", "宝山城市工业园区"]
SIM_TO_CATALOGUE = {"spark": "spark_detected"}
DIGITAL = {"airlock_fault", "spark_detected", "fan_running", "power_on"}

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def uscc_valid(u):
    """GB 32100 check character (independent of the generator's code)."""
    if not re.fullmatch(r"[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}", u):
        return False
    w = [pow(3, i, 31) for i in range(17)]
    s = sum(USCC_CHARS.index(c) * wi for c, wi in zip(u[:17], w))
    return USCC_CHARS[(31 - s % 31) % 31] == u[17]


SECRET_FIELDS = {"api_key", "des_key", "des_iv", "appid", "appsecret", "sm4_key_hex", "sm4_iv_hex"}


def generate(tmp, seed=None):
    """The description on stdout, written to tmp/city.json too."""
    r = subprocess.run(["python3", GEN] + (["--seed", seed] if seed else []), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    city = os.path.join(tmp, "city.json")
    with open(city, "w") as fh:
        fh.write(r.stdout)
    return r.stdout, city


def demo_seed(db, city, fleet):
    return subprocess.run([t.BIN, "demo", "seed", "--city", city, "--fleet", fleet], env=seed_env(db),
                          capture_output=True, text=True, timeout=180)


def seed_env(db):
    e = db.env()
    e["DW_PGBIN"] = t.PGBIN
    e.pop("DUSTWATCH_INGEST_LISTEN", None)
    e.pop("DW_DEMO_SEED", None)
    return e


def check_database(db):
    """Content checks shared by the generator and the demo-seed.sh paths."""
    assert db.scalar("SELECT count(*) FROM regions WHERE level = 'city' AND code = '310000' AND name = '上海市'") == "1"
    assert int(db.scalar("SELECT count(*) FROM regions WHERE level = 'district'")) >= 3
    assert db.scalar("SELECT name FROM regions WHERE code = '310113' AND level = 'district'") == "宝山区"
    rows = db.sql("SELECT s.name, s.kind, s.code FROM regions s JOIN regions d ON d.id = s.parent_id "
                  "WHERE d.code = '310113'")
    names = {r[0]: (r[1], r[2]) for r in rows}
    assert sorted(names) == sorted(BAOSHAN_STREETS), sorted(names)
    for n, (kind, code) in names.items():
        want = "park" if n.endswith("园区") else "town" if n.endswith("镇") else "street"
        assert kind == want, (n, kind)
        assert re.fullmatch(r"310113[0-9]{3}", code), (n, code)
    # every other district has towns too
    assert db.scalar("SELECT count(*) FROM regions d WHERE d.level = 'district' AND NOT EXISTS "
                     "(SELECT FROM regions s WHERE s.parent_id = d.id)") == "0"

    n_ent = int(db.scalar("SELECT count(*) FROM enterprises"))
    n_bs = int(db.scalar("SELECT count(*) FROM enterprises e JOIN regions d ON d.id = e.district_id "
                         "WHERE d.code = '310113'"))
    assert n_ent >= 100 and n_bs >= 60, (n_ent, n_bs)
    assert int(db.scalar("SELECT count(DISTINCT district_id) FROM enterprises")) >= 3
    assert db.scalar("SELECT count(*) FROM enterprises WHERE street_id IS NULL") == "0"
    # every Baoshan street has at least one enterprise
    assert db.scalar("SELECT count(*) FROM regions s JOIN regions d ON d.id = s.parent_id WHERE d.code = '310113' "
                     "AND NOT EXISTS (SELECT FROM enterprises e WHERE e.street_id = s.id)") == "0"
    ents = db.sql("SELECT e.code, e.uscc, e.name, d.code, e.latitude, e.longitude, e.industry_code, e.status, "
                  "e.address, d.name FROM enterprises e JOIN regions d ON d.id = e.district_id")
    statuses = {}
    for code, uscc, name, dcode, lat, lon, ind, status, addr, dname in ents:
        assert re.fullmatch(dcode + r"0[0-9]{5}", code), code
        assert uscc_valid(uscc), (name, uscc)
        assert uscc[2:8] == dcode, (uscc, dcode)
        assert name.endswith("有限公司"), name
        assert re.fullmatch(r"C[0-9]{4}", ind), ind
        assert addr.startswith("上海市" + dname), addr
        lat, lon = float(lat), float(lon)
        if dcode == "310113":
            assert 31.30 <= lat <= 31.50 and 121.35 <= lon <= 121.52, (name, lat, lon)
        else:
            assert 30.7 <= lat <= 31.9 and 120.9 <= lon <= 122.1, (name, lat, lon)
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses.get("producing", 0) > 0.8 * n_ent, statuses

    # systems: 1-4 per enterprise, dry ones watch the hopper and the filter, wet ones the water
    assert db.scalar("SELECT count(*) FROM enterprises e WHERE (SELECT count(*) FROM dust_systems s "
                     "WHERE s.enterprise_id = e.id) NOT BETWEEN 1 AND 4") == "0"
    assert db.scalar("SELECT count(*) FROM dust_systems s WHERE NOT s.wet AND NOT EXISTS (SELECT FROM points p "
                     "WHERE p.system_id = s.id AND p.kind = 'hopper_temp')") == "0"
    assert db.scalar("SELECT count(*) FROM dust_systems s WHERE s.wet AND (SELECT count(DISTINCT kind) FROM points p "
                     "WHERE p.system_id = s.id AND p.kind IN ('water_level', 'water_flow')) < 2") == "0"
    assert db.scalar("SELECT count(*) FROM dust_systems s WHERE s.has_airlock <> EXISTS (SELECT FROM points p "
                     "WHERE p.system_id = s.id AND p.kind = 'airlock_fault')") == "0"
    assert db.scalar("SELECT count(*) FROM dust_systems WHERE wet") != "0"
    assert db.scalar("SELECT count(*) FROM dust_systems WHERE NOT wet") != "0"

    # point codes: qybm(12) + system(2) + indicator(2) + sequence(3), consistent with their rows
    bad = db.sql("SELECT p.code, e.code, s.code, k.hebei_code FROM points p JOIN enterprises e ON e.id = p.enterprise_id "
                 "JOIN dust_systems s ON s.id = p.system_id JOIN indicator_kinds k ON k.code = p.kind "
                 "WHERE p.code !~ '^[0-9]{19}$' OR left(p.code, 12) <> e.code OR substr(p.code, 13, 2) <> s.code "
                 "OR substr(p.code, 15, 2) <> k.hebei_code OR substr(p.code, 17, 3) = '000'")
    assert bad == [], bad[:5]
    assert db.scalar("SELECT count(*) FROM points WHERE system_id IS NULL") == "0"
    # limits and ranges
    pts = db.sql("SELECT p.code, p.kind, k.value_type, p.range_min, p.range_max, p.limit_low_low, p.limit_low, "
                 "p.limit_high, p.limit_high_high, p.expected_interval_s, p.unit, k.unit, p.deadband, p.param_class "
                 "FROM points p JOIN indicator_kinds k ON k.code = p.kind")
    assert len(pts) >= 300, len(pts)

    def f(x):
        return None if x == "" else float(x)

    for code, kind, vt, rmin, rmax, ll, lo, hi, hh, ivl, unit, kunit, db_, cls in pts:
        rmin, rmax, ll, lo, hi, hh = map(f, (rmin, rmax, ll, lo, hi, hh))
        assert rmin is not None and rmax is not None and rmin < rmax, code
        assert 10 <= int(ivl) <= 60, (code, ivl)
        assert unit == kunit, (code, unit, kunit)
        if vt == "digital":
            assert (rmin, rmax) == (0, 1), code
            continue
        lims = [x for x in (ll, lo, hi, hh) if x is not None]
        assert lims, f"analog point {code} has no limit"
        assert lims == sorted(lims) and len(set(lims)) == len(lims), (code, lims)
        assert all(rmin < x < rmax for x in lims), (code, rmin, rmax, lims)
        assert float(db_) < (max(lims) - min(lims) if len(lims) > 1 else max(lims)), (code, db_)
        if kind in ("hopper_temp", "hydrogen_lel"):
            assert hi is not None and hh is not None and cls == "mandatory", code
        if kind in ("water_level", "water_flow"):
            assert lo is not None and cls == "mandatory", code
        if kind == "pressure_diff":
            assert lo is not None and hi is not None and lo < 800 and hi > 1500, (code, lo, hi)
    hop = db.sql("SELECT DISTINCT limit_high_high FROM points WHERE kind = 'hopper_temp'")
    assert hop == [["80"]], hop

    # one gateway per enterprise, one live credential matching its dialect
    assert db.scalar("SELECT count(*) FROM enterprises e WHERE (SELECT count(*) FROM gateways g "
                     "WHERE g.enterprise_id = e.id) <> 1") == "0"
    assert db.scalar("SELECT count(*) FROM enterprises e WHERE (SELECT count(*) FROM ingest_credentials c "
                     "WHERE c.enterprise_id = e.id AND c.revoked_at IS NULL) <> 1") == "0"
    assert db.scalar("SELECT count(*) FROM gateways g JOIN ingest_credentials c ON c.enterprise_id = g.enterprise_id "
                     "WHERE c.kind <> CASE g.dialect WHEN 'native' THEN 'api_key' WHEN 'hebei' THEN 'hebei_des' "
                     "ELSE 'mem_sm4' END") == "0"
    mix = dict(db.sql("SELECT kind, count(*) FROM ingest_credentials WHERE revoked_at IS NULL GROUP BY kind"))
    assert 0.6 * n_ent <= int(mix.get("api_key", 0)) <= 0.8 * n_ent, mix
    assert 0.1 * n_ent <= int(mix.get("hebei_des", 0)) <= 0.3 * n_ent, mix
    assert 0.05 * n_ent <= int(mix.get("mem_sm4", 0)) <= 0.15 * n_ent, mix
    assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE kind = 'api_key' "
                     "AND (key_prefix !~ '^dwk_[A-Za-z0-9_-]{8}$')") == "0"
    return n_ent


def check_fleet(db, fleet_path):
    st = os.stat(fleet_path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    with open(fleet_path) as fh:
        fleet = json.load(fh)
    assert fleet["ingest_url"].startswith("http://")
    ents = fleet["enterprises"]
    assert len(ents) == int(db.scalar("SELECT count(*) FROM enterprises")), len(ents)
    points = {}
    for r in db.sql("SELECT e.code, p.code, p.kind, p.limit_low, p.limit_high, p.range_min, p.range_max, "
                    "p.expected_interval_s FROM points p JOIN enterprises e ON e.id = p.enterprise_id"):
        points[r[1]] = r
    creds = {r[0]: r[1:] for r in db.sql(
        "SELECT e.code, c.kind, encode(c.key_hash, 'hex'), c.key_prefix, encode(c.des_key, 'hex'), c.appid, "
        "encode(c.appsecret_hash, 'hex'), encode(c.sm4_key, 'hex'), encode(c.sm4_iv, 'hex'), g.dialect, g.code "
        "FROM ingest_credentials c JOIN enterprises e ON e.id = c.enterprise_id "
        "JOIN gateways g ON g.enterprise_id = e.id WHERE c.revoked_at IS NULL")}
    scenarios = {}
    seen_points = 0
    for e in ents:
        code = e["code"]
        assert code in creds, code
        kind, khash, kprefix, des, appid, sechash, sm4k, sm4iv, gdialect, gcode = creds[code]
        assert e["dialect"] == gdialect, (code, e["dialect"], gdialect)
        assert e.get("gateway", code + "01") == gcode, code
        # the shapes server/core/srv_cred.c mints, as the API and `dustwatch admin` issue them
        if e["dialect"] == "native":
            k = e["api_key"]
            assert re.fullmatch(r"dwk_[A-Za-z0-9_-]{43}", k), k
            assert kind == "api_key" and hashlib.sha256(k.encode()).hexdigest() == khash, code
            assert k[:12] == kprefix, code
        elif e["dialect"] == "hebei":
            assert kind == "hebei_des" and re.fullmatch(r"[A-Za-z0-9]{8}", e["des_key"]), code
            # sealed with the master key (migration 0033): no plaintext column
            assert des == "", code
            assert len(e["des_iv"]) == 8, code
        else:
            assert kind == "mem_sm4" and e["appid"] == appid and re.fullmatch(r"dw[0-9a-f]{16}", appid), code
            assert re.fullmatch(r"[A-Za-z0-9_-]{43}", e["appsecret"]), code
            assert hashlib.sha256(e["appsecret"].encode()).hexdigest() == sechash, code
            assert re.fullmatch(r"[0-9a-f]{32}", e["sm4_key_hex"].lower()), code
            assert re.fullmatch(r"[0-9a-f]{32}", e["sm4_iv_hex"].lower()), code
            assert sm4k == "" and sm4iv == "", code  # sealed (migration 0033)
        kinds = set()
        for p in e["points"]:
            assert p["code"] in points, p["code"]
            ent, pcode, pkind, lo, hi, rmin, rmax, ivl = points[p["code"]]
            assert ent == code, (p["code"], ent, code)
            assert SIM_TO_CATALOGUE.get(p["kind"], p["kind"]) == pkind, (p["code"], p["kind"], pkind)
            assert p["interval_s"] == int(ivl), p["code"]
            n = p["normal"]
            assert float(rmin) <= n <= float(rmax), (p["code"], n)
            if lo:
                assert n > float(lo), (p["code"], n, lo)
            if hi:
                assert n < float(hi), (p["code"], n, hi)
            if pkind in DIGITAL:
                assert n in (0, 1) and p.get("noise", 0) == 0, p
            kinds.add(pkind)
            seen_points += 1
        sc = e.get("scenario", "none")
        scenarios[sc] = scenarios.get(sc, 0) + 1
        need = {"hopper_temp_climb": "hopper_temp", "bag_break": "pressure_diff", "airlock_fault": "airlock_fault",
                "spark_burst": "spark_detected", "water_loss": "water_level", "hydrogen_rise": "hydrogen_lel",
                "outage_backfill": None, "none": None}[sc]
        assert need is None or need in kinds, (code, sc, kinds)
    assert seen_points == len(points), (seen_points, len(points))
    assert scenarios["none"] >= 0.8 * len(ents), scenarios
    assert {"hopper_temp_climb", "bag_break", "airlock_fault", "spark_burst", "water_loss", "hydrogen_rise",
            "outage_backfill"} <= set(scenarios), scenarios


def counts(db):
    """Everything the seeder writes, the live credentials among them."""
    return db.sql("SELECT (SELECT count(*) FROM regions), (SELECT count(*) FROM enterprises), "
                  "(SELECT count(*) FROM dust_systems), (SELECT count(*) FROM points), "
                  "(SELECT count(*) FROM gateways), "
                  "(SELECT count(*) FROM ingest_credentials WHERE revoked_at IS NULL), "
                  "(SELECT max(id) FROM points), (SELECT max(updated_at) FROM enterprises)")[0]


def without_secrets(fleet_text):
    fleet = json.loads(fleet_text)
    for e in fleet["enterprises"]:
        for k in SECRET_FIELDS:
            e.pop(k, None)
    return fleet


def test_demo_seed_loads_fresh_database():
    db = t.Database()
    tmp = tempfile.mkdtemp(prefix="dwdemo-")
    try:
        _, city = generate(tmp)
        fleet = os.path.join(tmp, "fleet.json")
        r = demo_seed(db, city, fleet)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("demo-seed: loaded 上海市") and len(r.stdout.splitlines()) == 1, r.stdout
        check_database(db)
        check_fleet(db, fleet)
        # a spot-check campaign (issue 14 item 3): checks done and pending, a hazard and requests
        assert db.sql("SELECT status, count(*) FROM spot_checks GROUP BY status ORDER BY status") == [
            ["done", "3"], ["pending", "2"]]
        assert db.sql("SELECT f.status, h.found_how FROM spot_findings f LEFT JOIN hazards h ON h.id = f.hazard_id "
                      "ORDER BY f.id") == [["hazard", "spot_check"], ["replied", ""], ["closed", ""]]
        # the archive facts reached the risk engine's profile
        assert db.scalar("SELECT count(*) FROM enterprises WHERE cardinality(dust_kinds) = 0") == "0"
        assert db.scalar("SELECT count(*) FROM enterprise_profiles") == db.scalar("SELECT count(*) FROM enterprises")
        # one audit line, no secret in it
        audit = db.sql("SELECT action, username, detail FROM audit_log")
        assert [a[:2] for a in audit] == [["demo.seed", "admin-cli"]], audit
        with open(fleet) as fh:
            first = fh.read()
        key = next(e["api_key"] for e in json.loads(first)["enterprises"] if "api_key" in e)
        assert key[4:] not in audit[0][2]

        # the same again changes nothing and keeps the fleet file
        before = counts(db)
        r = demo_seed(db, city, fleet)
        assert r.returncode == 0 and "already loaded" in r.stdout and "fleet kept" in r.stdout, r.stdout + r.stderr
        assert counts(db) == before
        with open(fleet) as fh:
            assert fh.read() == first

        # a broken description is refused before anything is written
        db2 = t.Database()
        try:
            with open(city) as fh:
                desc = json.load(fh)
            del desc["enterprises"][5]["points"][0]["kind"]
            bad = os.path.join(tmp, "bad.json")
            with open(bad, "w") as fh:
                json.dump(desc, fh)
            r = demo_seed(db2, bad, os.path.join(tmp, "fleet2.json"))
            assert r.returncode == 1 and '"kind" is missing' in r.stderr, r.stdout + r.stderr
            assert db2.scalar("SELECT count(*) FROM regions") == "0"
            assert not os.path.exists(os.path.join(tmp, "fleet2.json"))
            assert [f for f in os.listdir(tmp) if f.startswith(".fleet-")] == []
        finally:
            db2.drop()
    finally:
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_generator_is_deterministic_and_holds_no_secrets():
    tmp = tempfile.mkdtemp(prefix="dwdemo-")
    try:
        a, _ = generate(tmp)
        b, _ = generate(tmp)
        assert a == b
        c, _ = generate(tmp, seed="something-else")
        assert c != a
        city = json.loads(a)
        assert city["districts"][0]["code"] == "310113"  # the demo's marker region
        for e in city["enterprises"]:
            assert not SECRET_FIELDS & set(e), e["code"]
            assert e["credential"]["kind"] in ("api_key", "hebei_des", "mem_sm4")
            assert e["credential"]["label"].startswith("demo ")
        assert "INSERT" not in a and "dwk_" not in a
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_demo_seed_script_is_idempotent():
    db = t.Database()
    tmp = tempfile.mkdtemp(prefix="dwdemo-")
    local = os.path.join(tmp, "local")
    try:
        r = subprocess.run([SEED, t.BIN, local], env=seed_env(db), capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 1 and "enterprises" in lines[0], r.stdout
        fleet = os.path.join(local, "fleet.json")
        check_database(db)
        check_fleet(db, fleet)
        with open(fleet) as fh:
            first = fh.read()
        before = counts(db)
        with open(os.path.join(local, "demo-accounts.txt")) as fh:
            accounts = fh.read()
        assert "NOT created" not in accounts and "ent.manager" in accounts, accounts
        assert db.scalar("SELECT count(*) FROM accounts") == "7"

        # second run: nothing changes
        r = subprocess.run([SEED, t.BIN, local], env=seed_env(db), capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "already loaded" in r.stdout and len(r.stdout.strip().splitlines()) == 1, r.stdout
        assert counts(db) == before
        with open(fleet) as fh:
            assert fh.read() == first

        # a lost fleet file is rebuilt: the secrets are stored hashed only, so
        # the demo gateways get new credentials and the old ones are revoked
        old_keys = [e["api_key"] for e in json.loads(first)["enterprises"] if "api_key" in e]
        os.unlink(fleet)
        r = subprocess.run([SEED, t.BIN, local], env=seed_env(db), capture_output=True, text=True, timeout=180)
        assert r.returncode == 0 and "regenerated" in r.stdout, r.stdout + r.stderr
        assert len(r.stdout.strip().splitlines()) == 1, r.stdout
        assert counts(db) == before
        check_fleet(db, fleet)
        with open(fleet) as fh:
            second = fh.read()
        assert without_secrets(second) == without_secrets(first)
        assert second != first
        hashes = ",".join("'" + hashlib.sha256(k.encode()).hexdigest() + "'" for k in old_keys)
        assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE revoked_at IS NULL AND "
                         f"encode(key_hash, 'hex') IN ({hashes})") == "0"
        n_ent = int(before[1])
        assert db.scalar("SELECT count(*) FROM ingest_credentials WHERE revoked_at IS NOT NULL") == str(n_ent)
        assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'demo.credentials_reissue'") == "1"
        assert stat.S_IMODE(os.stat(fleet).st_mode) == 0o600
        # demo accounts are made only with the city, not again
        assert db.scalar("SELECT count(*) FROM accounts") == "7"

        # ... but not from a generator that no longer matches the database
        os.unlink(fleet)
        env = seed_env(db)
        env["DW_DEMO_SEED"] = "something-else"
        r = subprocess.run([SEED, t.BIN, local], env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0 and "NOT written" in r.stdout, r.stdout + r.stderr
        assert not os.path.exists(fleet)
        assert counts(db) == before
        assert [f for f in os.listdir(local) if f != "demo-accounts.txt"] == [], os.listdir(local)
    finally:
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_demo_seed_leaves_another_city_alone():
    db = t.Database()
    tmp = tempfile.mkdtemp(prefix="dwdemo-")
    try:
        db.sql("INSERT INTO regions (code, name, level, kind) VALUES ('130100', '石家庄市', 'city', 'city')")
        r = subprocess.run([SEED, t.BIN, tmp], env=seed_env(db), capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "another city" in r.stdout, r.stdout
        assert db.scalar("SELECT count(*) FROM regions") == "1"
        assert db.scalar("SELECT count(*) FROM enterprises") == "0"
        assert not os.path.exists(os.path.join(tmp, "fleet.json"))
    finally:
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_demo_seed_refuses_unmigrated_database():
    db = t.Database(migrate=False)
    tmp = tempfile.mkdtemp(prefix="dwdemo-")
    try:
        r = subprocess.run([SEED, t.BIN, tmp], env=seed_env(db), capture_output=True, text=True, timeout=180)
        assert r.returncode != 0, r.stdout
        assert not os.path.exists(os.path.join(tmp, "fleet.json"))
    finally:
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t.run([
        test_generator_is_deterministic_and_holds_no_secrets,
        test_demo_seed_loads_fresh_database,
        test_demo_seed_script_is_idempotent,
        test_demo_seed_leaves_another_city_alone,
        test_demo_seed_refuses_unmigrated_database,
    ])
