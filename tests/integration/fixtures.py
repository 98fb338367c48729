"""A small city for integration tests, created with SQL as the owner role.

Two districts, three enterprises, points with limits and every kind of
ingest credential.  Secrets are generated here and returned to the test;
the database keeps only what the server keeps (hashes, cipher keys)."""
import hashlib
import secrets

import dwtest as t


def api_key():
    return "dwk_" + secrets.token_urlsafe(32)


def make_city(db):
    db.sql("""
    INSERT INTO regions (code, name, level, kind) VALUES ('310000', '上海市', 'city', 'city');
    INSERT INTO regions (code, name, level, kind, parent_id)
      SELECT '310113', '宝山区', 'district', 'district', id FROM regions WHERE code = '310000';
    INSERT INTO regions (code, name, level, kind, parent_id)
      SELECT '310114', '嘉定区', 'district', 'district', id FROM regions WHERE code = '310000';
    INSERT INTO regions (code, name, level, kind, parent_id)
      SELECT '310113103', '罗店镇', 'street', 'town', id FROM regions WHERE code = '310113';
    INSERT INTO regions (code, name, level, kind, parent_id)
      SELECT '310114102', '南翔镇', 'street', 'town', id FROM regions WHERE code = '310114';
    """)
    ents = {}
    specs = [("310113000001", "91310113MA1G000011", "上海宝罗金属制品有限公司", "310113", "310113103"),
             ("310113000002", "91310113MA1G000022", "上海罗店木业有限公司", "310113", "310113103"),
             ("310114000001", "91310114MA1H000013", "上海南翔粮油有限公司", "310114", "310114102")]
    for code, uscc, name, district, street in specs:
        eid = db.scalar(f"""
          INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude, industry_code)
          SELECT '{code}', '{uscc}', '{name}', d.id, s.id, '测试路1号', 121.4, 31.4, 'C3360'
          FROM regions d, regions s WHERE d.code = '{district}' AND s.code = '{street}' RETURNING id""")
        sys_id = db.scalar(f"""INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type)
                               VALUES ({eid}, '01', '1号除尘系统', false, 'bag') RETURNING id""")
        points = {}
        for kind, ind, lo, hi, hh, rmin, rmax in [
                ("hopper_temp", "01", None, 70, 80, -40, 200),
                ("pressure_diff", "02", 300, 2000, None, 0, 5000),
                ("spark_detected", "04", None, None, None, 0, 1)]:
            pcode = f"{code}01{ind}001"
            def n(v):
                return "NULL" if v is None else str(v)
            pid = db.scalar(f"""INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max,
                                  limit_low, limit_high, limit_high_high, expected_interval_s)
                                VALUES ('{pcode}', {eid}, {sys_id}, '{kind}', '{kind}', {rmin}, {rmax},
                                        {n(lo)}, {n(hi)}, {n(hh)}, 10) RETURNING id""")
            points[kind] = (pcode, int(pid))
        key = api_key()
        h = hashlib.sha256(key.encode()).hexdigest()
        db.sql(f"""INSERT INTO ingest_credentials (enterprise_id, kind, key_prefix, key_hash)
                   VALUES ({eid}, 'api_key', '{key[:12]}', '\\x{h}')""")
        des = secrets.token_hex(4)  # 8 ASCII characters
        db.sql(f"""INSERT INTO ingest_credentials (enterprise_id, kind, des_key)
                   VALUES ({eid}, 'hebei_des', convert_to('{des}', 'UTF8'))""")
        appid = "app" + code
        appsecret = secrets.token_urlsafe(24)
        sm4k, sm4iv = secrets.token_hex(16), secrets.token_hex(16)
        db.sql(f"""INSERT INTO ingest_credentials (enterprise_id, kind, appid, appsecret_hash, sm4_key, sm4_iv)
                   VALUES ({eid}, 'mem_sm4', '{appid}', '\\x{hashlib.sha256(appsecret.encode()).hexdigest()}',
                           '\\x{sm4k}', '\\x{sm4iv}')""")
        ents[code] = dict(id=int(eid), code=code, name=name, api_key=key, des_key=des, appid=appid,
                          appsecret=appsecret, sm4_key=sm4k, sm4_iv=sm4iv, points=points, system_id=int(sys_id))
    return ents


def add_camera(db, ent, code, enabled=True):
    """Registers a camera of the enterprise: video alarms must name one (unknown_camera)."""
    return int(db.scalar(f"INSERT INTO cameras (enterprise_id, code, name, enabled) VALUES "
                         f"({ent['id']}, '{code}', '摄像头 {code}', {'true' if enabled else 'false'}) RETURNING id"))
