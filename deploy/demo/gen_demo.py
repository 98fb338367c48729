#!/usr/bin/env python3
"""Describes the demo city for dustwatch: Shanghai, with Baoshan district
(宝山区) in detail and three neighbouring districts, about 100 dust-explosion-
prone enterprises, their dust-removal systems, monitoring points, gateways and
which kind of ingest credential each gateway speaks.

    gen_demo.py [--seed S] [--summary] > city.json
    dustwatch demo seed --city city.json --fleet DIR/fleet.json

stdout: the city as JSON (regions, enterprises with their archive facts,
        systems, points with limits and the simulator's normal values,
        gateways, credential kind and label, fault scenarios).  No SQL and no
        secrets: `dustwatch demo seed` writes the tables through the server's
        database layer and mints every credential with the server's own
        generator (server/core/srv_cred.c), then writes the simulator's fleet
        file with the secrets.

Python 3 standard library only.  Output is a pure function of --seed: the same
seed always gives the same city and codes.

Region codes of Baoshan's streets/towns/park are the national statistics
division codes; the other districts' township codes are plausible, not checked.
"""
import argparse
import json
import random
import sys

DEFAULT_SEED = "dustwatch-demo-2023"

CITY = ("310000", "上海市")

# district code, name, bbox (lat_min, lat_max, lon_min, lon_max)
DISTRICTS = [
    ("310113", "宝山区", (31.30, 31.50, 121.35, 121.52)),
    ("310114", "嘉定区", (31.23, 31.45, 121.12, 121.35)),
    ("310115", "浦东新区", (30.90, 31.40, 121.45, 121.95)),
    ("310117", "松江区", (30.95, 31.15, 121.10, 121.40)),
]

# district, code, name, kind, centre lat, centre lon, enterprises, roads
STREETS = [
    ("310113", "310113003", "友谊路街道", "street", 31.405, 121.488, 1, ["牡丹江路", "密山路", "盘古路"]),
    ("310113", "310113007", "吴淞街道", "street", 31.382, 121.498, 2, ["淞滨路", "同济路", "宝杨路"]),
    ("310113", "310113008", "张庙街道", "street", 31.338, 121.447, 2, ["通河路", "呼玛路", "长江西路"]),
    ("310113", "310113101", "罗店镇", "town", 31.415, 121.368, 7, ["罗新路", "罗北路", "美文路", "月罗路", "沪太路"]),
    ("310113", "310113102", "大场镇", "town", 31.312, 121.412, 6, ["场中路", "汶水路", "锦秋路", "南大路", "真大路"]),
    ("310113", "310113103", "杨行镇", "town", 31.385, 121.432, 7, ["杨北路", "松兰路", "富杨路", "杨鑫路", "水产路"]),
    ("310113", "310113104", "月浦镇", "town", 31.432, 121.420, 6, ["月川路", "德都路", "春雷路", "塘祁路"]),
    ("310113", "310113106", "罗泾镇", "town", 31.472, 121.392, 6, ["陈川路", "潘泾路", "罗东路", "沪太路"]),
    ("310113", "310113109", "顾村镇", "town", 31.356, 121.388, 7, ["陆翔路", "富联路", "泰和西路", "宝安公路"]),
    ("310113", "310113111", "高境镇", "town", 31.322, 121.482, 3, ["殷高西路", "江杨南路", "逸仙路"]),
    ("310113", "310113112", "庙行镇", "town", 31.328, 121.438, 3, ["共康路", "场北路", "长江西路"]),
    ("310113", "310113113", "淞南镇", "town", 31.346, 121.490, 4, ["淞南路", "淞发路", "双城路", "长江路"]),
    ("310113", "310113501", "宝山城市工业园区", "park", 31.396, 121.392, 8, ["城银路", "山连路", "丰翔路", "城工路", "山江路"]),
    ("310114", "310114102", "南翔镇", "town", 31.298, 121.316, 3, ["沪宜公路", "德园路", "嘉美路"]),
    ("310114", "310114103", "安亭镇", "town", 31.298, 121.168, 3, ["墨玉路", "园国路", "昌吉路"]),
    ("310114", "310114106", "马陆镇", "town", 31.335, 121.272, 3, ["宝安公路", "嘉新公路", "马陆路"]),
    ("310114", "310114109", "徐行镇", "town", 31.412, 121.268, 2, ["新建一路", "前曹公路"]),
    ("310114", "310114118", "江桥镇", "town", 31.252, 121.322, 3, ["华江路", "金沙江西路", "曹安公路"]),
    ("310114", "310114114", "外冈镇", "town", 31.368, 121.172, 2, ["恒定路", "沪宜公路"]),
    ("310115", "310115103", "高桥镇", "town", 31.348, 121.572, 2, ["港城路", "季景路"]),
    ("310115", "310115107", "曹路镇", "town", 31.276, 121.668, 3, ["金海路", "川大路", "龚路路"]),
    ("310115", "310115118", "康桥镇", "town", 31.142, 121.572, 3, ["康桥东路", "秀浦路", "苗圃路"]),
    ("310115", "310115121", "祝桥镇", "town", 31.116, 121.742, 2, ["施新路", "东胜路"]),
    ("310115", "310115113", "惠南镇", "town", 31.042, 121.758, 2, ["沪南公路", "南门大街"]),
    ("310115", "310115114", "周浦镇", "town", 31.116, 121.582, 2, ["年家浜路", "周邓公路"]),
    ("310117", "310117103", "车墩镇", "town", 30.992, 121.312, 3, ["北松公路", "联营路", "车峰路"]),
    ("310117", "310117104", "新桥镇", "town", 31.062, 121.322, 3, ["民益路", "新茸路", "申港路"]),
    ("310117", "310117106", "九亭镇", "town", 31.126, 121.326, 2, ["九干路", "久富路"]),
    ("310117", "310117105", "洞泾镇", "town", 31.092, 121.252, 2, ["洞厍路", "长兴东路"]),
]

BRANDS = [
    "鑫达", "恒通", "华丰", "宏利", "永盛", "金泰", "瑞祥", "德隆", "联和", "佳美", "新亚", "浦江", "嘉诚", "盛源",
    "腾飞", "利达", "万顺", "兴业", "福临", "长青", "天成", "国鼎", "协力", "正大", "和信", "宝丰", "申龙", "泰康",
    "中恒", "银河", "明辉", "同创", "荣昌", "顺发", "汇金", "广源", "博远", "华迅", "伟业", "东升", "凯旋", "启航",
    "百川", "锦程", "润泽", "晟泰", "鸿运", "立信", "精诚", "航达", "科邦", "耀华", "久隆", "友发", "沪联", "益民",
    "安泰", "昌盛", "金桥", "建丰", "富源", "三星", "龙腾", "海鸥", "环宇", "恒达", "新光", "永固", "信达", "德力",
]

# industry profiles: (name word, GB/T 4754-2017 industry code) pairs, workshops, weight
PROFILES = {
    "almg": ([("金属制品", "C3360"), ("五金制品", "C3389"), ("铝制品", "C3360"), ("精密机械", "C3399"),
              ("汽车零部件", "C3670"), ("铝镁抛光", "C3360")],
             ["抛光车间", "打磨车间", "喷砂车间", "精加工车间"], 28),
    "wood": ([("木业", "C2021"), ("家具", "C2110"), ("木制品", "C2039"), ("门业", "C2032"), ("装饰材料", "C2029")],
             ["开料车间", "砂光车间", "雕刻车间", "木工车间"], 25),
    "grain": ([("粮油", "C1310"), ("米业", "C1310"), ("面粉", "C1312")], ["清理车间", "制粉车间", "输送仓储"], 6),
    "feed": ([("饲料", "C1329")], ["粉碎车间", "配料车间", "制粒车间"], 5),
    "starch": ([("淀粉", "C1391"), ("食品配料", "C1391")], ["干燥车间", "包装车间"], 4),
    "plastic": ([("塑料制品", "C2929"), ("塑胶", "C2929"), ("新材料", "C2922")], ["粉碎车间", "混料车间", "打磨车间"], 12),
    "paper": ([("纸制品", "C2239"), ("包装材料", "C2231"), ("纸业", "C2239")], ["分切车间", "模切车间"], 8),
    "coating": ([("粉末涂料", "C2641"), ("涂料", "C2641"), ("化工科技", "C2641")], ["粉碎车间", "筛分车间"], 6),
    "textile": ([("纺织", "C1711"), ("化纤制品", "C1751")], ["梳棉车间", "开清车间"], 6),
}

# simulator kind names (server/sim/sim_signal.c) -> catalogue kinds (indicator_kinds)
SIM_KIND = {"spark_detected": "spark"}
HEBEI_CODE = {"hopper_temp": "01", "pressure_diff": "02", "airlock_fault": "03", "spark_detected": "04",
              "fan_running": "05", "water_level": "06", "water_flow": "07", "hydrogen_lel": "08",
              "oxygen": "09", "bearing_temp": "10", "dust_conc": "11"}
KIND_ZH = {"hopper_temp": "灰斗温度", "pressure_diff": "进出口压差", "airlock_fault": "锁气卸灰故障",
           "spark_detected": "火花探测", "fan_running": "风机运行", "water_level": "水箱水位",
           "water_flow": "循环水流量", "hydrogen_lel": "氢气浓度", "oxygen": "氧含量",
           "bearing_temp": "风机轴承温度", "dust_conc": "粉尘浓度"}
UNIT = {"hopper_temp": "℃", "pressure_diff": "Pa", "airlock_fault": "", "spark_detected": "", "fan_running": "",
        "water_level": "mm", "water_flow": "m³/h", "hydrogen_lel": "%LEL", "oxygen": "%vol", "bearing_temp": "℃",
        "dust_conc": "mg/m³"}
DIGITAL = {"airlock_fault", "spark_detected", "fan_running"}

SCENARIO_NEEDS = {
    "hopper_temp_climb": "hopper_temp", "bag_break": "pressure_diff", "airlock_fault": "airlock_fault",
    "spark_burst": "spark_detected", "water_loss": "water_level", "hydrogen_rise": "hydrogen_lel",
    "outage_backfill": None,
}

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]


def org_code_check(body8):
    """GB 11714 check character of an 8-character organisation code body."""
    s = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, ORG_WEIGHTS))
    c = 11 - s % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def uscc_check(first17):
    """GB 32100 check character of the first 17 characters."""
    s = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_CHARS[(31 - s % 31) % 31]


def make_uscc(rng, district_code, used):
    while True:
        if rng.random() < 0.55:  # registered after 2015: "MA" organisation codes
            body = "MA1" + "".join(rng.choice(USCC_CHARS) for _ in range(5))
        else:
            body = "".join(rng.choice("0123456789") for _ in range(8))
        head = "91" + district_code + body + org_code_check(body)
        code = head + uscc_check(head)
        if code not in used:
            used.add(code)
            return code


def point_spec(rng, kind, ctx):
    """Limits, range, class and simulator normal/noise for one point."""
    p = {"kind": kind, "ll": None, "l": None, "h": None, "hh": None, "rate": None, "deadband": 0.0,
         "min_dur": 0}
    if kind == "hopper_temp":
        normal = round(rng.uniform(28, 40), 1)
        p.update(rmin=0.0, rmax=200.0, cls="mandatory", h=rng.choice([60.0, 65.0, 70.0, 70.0, 70.0]), hh=80.0,
                 rate=10.0, deadband=2.0, min_dur=30, normal=normal, noise=0.5)
    elif kind == "pressure_diff":
        normal = float(rng.randrange(850, 1400, 10))
        p.update(rmin=0.0, rmax=5000.0, cls="mandatory", ll=300.0, l=500.0,
                 h=float(rng.choice([1800, 2000])), hh=2500.0, deadband=50.0, min_dur=60, normal=normal,
                 noise=round(normal * 0.03, 1))
    elif kind == "water_level":
        normal = float(rng.randrange(800, 1300, 10))
        p.update(rmin=0.0, rmax=2000.0, cls="mandatory", l=round(normal * 0.45, -1), ll=round(normal * 0.3, -1),
                 deadband=20.0, min_dur=60, normal=normal, noise=8.0)
    elif kind == "water_flow":
        normal = round(rng.uniform(10, 30), 1)
        p.update(rmin=0.0, rmax=60.0, cls="mandatory", l=round(normal * 0.5, 1), ll=round(normal * 0.3, 1),
                 deadband=round(normal * 0.05, 1), min_dur=60, normal=normal, noise=round(normal * 0.02, 2))
    elif kind == "hydrogen_lel":
        p.update(rmin=0.0, rmax=100.0, cls="mandatory", h=10.0, hh=25.0, deadband=1.0, min_dur=10,
                 normal=round(rng.uniform(1.0, 3.0), 1), noise=0.3)
    elif kind == "oxygen":
        p.update(rmin=0.0, rmax=25.0, cls="conditional", h=10.0, hh=12.0, deadband=0.3, min_dur=10,
                 normal=round(rng.uniform(7.0, 8.5), 1), noise=0.1)
    elif kind == "bearing_temp":
        p.update(rmin=0.0, rmax=150.0, cls="optional", h=75.0, hh=90.0, rate=15.0, deadband=2.0, min_dur=60,
                 normal=round(rng.uniform(40, 52), 1), noise=0.4)
    elif kind == "dust_conc":
        p.update(rmin=0.0, rmax=100.0, cls="optional", h=10.0, hh=20.0, deadband=1.0, min_dur=120,
                 normal=round(rng.uniform(1.5, 4.5), 1), noise=0.3)
    elif kind == "airlock_fault":
        p.update(rmin=0.0, rmax=1.0, cls="mandatory", normal=0.0, noise=0.0, min_dur=rng.choice([0, 10, 30]))
    elif kind == "spark_detected":
        p.update(rmin=0.0, rmax=1.0, cls="conditional", normal=0.0, noise=0.0)
    elif kind == "fan_running":
        p.update(rmin=0.0, rmax=1.0, cls="conditional", normal=1.0, noise=0.0)
    else:
        raise ValueError(kind)
    return p


def make_systems(rng, profile, workshops):
    """1-4 dust-removal systems, each with its point kinds (in order)."""
    n = rng.choices([1, 2, 3, 4], weights=[45, 30, 17, 8])[0]
    systems = []
    for i in range(n):
        s = {"no": i + 1, "workshop": workshops[i % len(workshops)], "positive_pressure": False,
             "indoor": False, "venting": False, "isolation": False, "suppression": False, "inerting": False,
             "airlock": False, "spark": False}
        wet = profile == "almg" and rng.random() < 0.7
        if wet:
            s.update(wet=True, type=rng.choice(["wet_scrubber", "wet_scrubber", "water_curtain"]),
                     central=rng.random() < 0.3, airflow=rng.randrange(3000, 12001, 500), indoor=rng.random() < 0.6)
            kinds = ["water_level", "water_flow", "hydrogen_lel", "fan_running"]
        else:
            if profile in ("grain", "feed", "starch"):
                ctype = rng.choice(["cyclone", "bag", "bag"])
            elif profile in ("almg", "plastic", "coating"):
                ctype = rng.choice(["cartridge", "cartridge", "bag"])
            else:
                ctype = "bag"
            s.update(wet=False, type=ctype, central=rng.random() < 0.8,
                     airflow=rng.randrange(8000, 60001, 1000) if ctype != "cyclone" else rng.randrange(5000, 20001, 1000),
                     indoor=rng.random() < 0.12, positive_pressure=profile == "wood" and rng.random() < 0.2,
                     venting=rng.random() < 0.8, isolation=rng.random() < 0.5, suppression=rng.random() < 0.15,
                     airlock=rng.random() < 0.85,
                     spark=rng.random() < {"wood": 0.75, "paper": 0.5, "textile": 0.5, "almg": 0.4}.get(profile, 0.25),
                     inerting=profile == "coating" and rng.random() < 0.5)
            if s["positive_pressure"]:
                s["spark"] = True  # mandatory for positive-pressure conveying
            kinds = ["hopper_temp"]
            if s["airflow"] >= 40000:
                kinds.append("hopper_temp")  # a second hopper
            kinds.append("pressure_diff")
            if s["airlock"]:
                kinds.append("airlock_fault")
            if s["spark"]:
                kinds.append("spark_detected")
            kinds.append("fan_running")
            if s["inerting"]:
                kinds.append("oxygen")
            if profile in ("grain", "feed", "starch") and rng.random() < 0.6:
                kinds.append("bearing_temp")
            if rng.random() < 0.25:
                kinds.append("dust_conc")
        s["kinds"] = kinds
        label = {"wet_scrubber": "湿式除尘器", "water_curtain": "水幕除尘器", "cartridge": "滤筒除尘器",
                 "bag": "布袋除尘器", "cyclone": "旋风除尘器"}[s["type"]]
        s["name"] = f"{i + 1}号{label}（{s['workshop']}）"
        systems.append(s)
    return systems


def generate(seed):
    rng = random.Random(seed + "/structure")
    used_names, used_uscc = set(), set()
    districts = {d[0]: d for d in DISTRICTS}
    prof_names = list(PROFILES)
    prof_weights = [PROFILES[p][2] for p in prof_names]
    serial = {d[0]: 0 for d in DISTRICTS}
    ents = []
    for (dcode, scode, sname, skind, clat, clon, count, roads) in STREETS:
        dname, bbox = districts[dcode][1], districts[dcode][2]
        for _ in range(count):
            profile = rng.choices(prof_names, weights=prof_weights)[0]
            words, workshops, _w = PROFILES[profile]
            while True:
                brand = rng.choice(BRANDS)
                prefix = sname[:2] if (skind == "town" and rng.random() < 0.2) else ""
                word, industry = rng.choice(words)
                name = f"上海{prefix}{brand}{word}有限公司"
                if name not in used_names:
                    used_names.add(name)
                    break
            serial[dcode] += 1
            code = dcode + "0" + f"{serial[dcode]:05d}"
            lat = min(max(clat + rng.uniform(-0.012, 0.012), bbox[0] + 0.002), bbox[1] - 0.002)
            lon = min(max(clon + rng.uniform(-0.012, 0.012), bbox[2] + 0.002), bbox[3] - 0.002)
            road = rng.choice(roads)
            num = rng.randrange(8, 2000)
            where = sname if skind == "town" else ""
            addr = f"上海市{dname}{where}{road}{num}号"
            if rng.random() < 0.25:
                addr += f"{rng.randrange(1, 9)}幢"
            status = rng.choices(["producing", "overhaul", "stopped"], weights=[90, 6, 4])[0]
            ents.append({
                "code": code, "uscc": make_uscc(rng, dcode, used_uscc), "name": name, "district": dcode,
                "street": scode, "address": addr, "lat": round(lat, 6), "lon": round(lon, 6),
                "industry": industry, "status": status, "profile": profile,
                "systems": make_systems(rng, profile, workshops),
                "interval": rng.choice([10, 15, 20, 30, 30, 60]), "scenario": "none",
            })

    # points: code = qybm + system no. + indicator + sequence
    for e in ents:
        e["points"] = []
        for s in e["systems"]:
            seq = {}
            for kind in s["kinds"]:
                seq[kind] = seq.get(kind, 0) + 1
                p = point_spec(rng, kind, s)
                p["code"] = f"{e['code']}{s['no']:02d}{HEBEI_CODE[kind]}{seq[kind]:03d}"
                p["system"] = f"{s['no']:02d}"
                suffix = f"#{seq[kind]}" if seq[kind] > 1 or s["kinds"].count(kind) > 1 else ""
                p["name"] = f"{s['no']}号除尘系统{KIND_ZH[kind]}{suffix}"
                # analogue temperatures and safety signals fast, the rest at the gateway cadence
                p["interval"] = e["interval"] if kind not in ("hopper_temp", "hydrogen_lel", "spark_detected") \
                    else min(e["interval"], 15)
                e["points"].append(p)

    # credential kinds: 70 % native API key, 20 % Hebei DES, 10 % MEM SM4 (the secrets
    # themselves are minted by `dustwatch demo seed`, like every other credential)
    order = list(range(len(ents)))
    rng.shuffle(order)
    n = len(ents)
    n_hebei, n_mem = round(n * 0.2), round(n * 0.1)
    for rank, idx in enumerate(order):
        e = ents[idx]
        e["dialect"] = "hebei" if rank < n_hebei else "mem" if rank < n_hebei + n_mem else "native"

    # a handful of fault scenarios, on producing enterprises that have the signal
    plan = ["hopper_temp_climb", "bag_break", "airlock_fault", "spark_burst", "water_loss", "hydrogen_rise",
            "outage_backfill", "hopper_temp_climb"]
    delay = 120
    for i, sc in enumerate(plan):
        need = SCENARIO_NEEDS[sc]
        in_baoshan = i < 7
        cands = [e for e in ents if e["status"] == "producing" and e["scenario"] == "none"
                 and (e["district"] == "310113") == in_baoshan
                 and (need is None or any(p["kind"] == need for p in e["points"]))]
        if not cands:
            continue
        e = rng.choice(cands)
        e["scenario"] = sc
        e["scenario_delay_s"] = delay
        delay += 180
    return ents


CREDENTIAL = {"native": ("api_key", "demo gateway API key"), "hebei": ("hebei_des", "demo Hebei V1.1 DES key"),
              "mem": ("mem_sm4", "demo MEM appid")}
# archive facts the risk engine reads (dust kinds, workers, building)
DUST_KINDS = {"almg": [["aluminium"], ["aluminium", "magnesium"], ["al_mg_alloy"], ["iron"]],
              "wood": [["wood"]], "grain": [["flour"], ["starch"]], "feed": [["feed"]], "starch": [["starch"]],
              "plastic": [["plastic"], ["resin"]], "paper": [["paper"]], "coating": [["pigment"], ["resin"]],
              "textile": [["cotton"], ["polyester"]]}


def num(v):
    """Stored numbers keep four decimals, as the database always got them."""
    return None if v is None else round(float(v), 4)


def build_city(ents, seed):
    """The description `dustwatch demo seed --city` loads: plain data, no SQL, no secrets."""
    # their own generator so the structure above stays as it was
    arng = random.Random(7310113)
    out = []
    for e in ents:
        kinds = arng.choice(DUST_KINDS[e["profile"]])
        workers = arng.choice([8, 12, 18, 25, 36, 45, 60, 85, 120])
        storeys = "multi" if arng.random() < 0.15 else "single"
        systems = [{"code": f"{s['no']:02d}", "name": s["name"], "workshop": s["workshop"], "wet": s["wet"],
                    "collector_type": s["type"], "central": s["central"], "airflow_m3h": s["airflow"],
                    "positive_pressure": s["positive_pressure"], "indoor": s["indoor"],
                    "has_venting": s["venting"], "has_isolation": s["isolation"],
                    "has_suppression": s["suppression"], "has_inerting": s["inerting"],
                    "has_airlock": s["airlock"], "has_spark_detection": s["spark"]} for s in e["systems"]]
        points = [{"code": p["code"], "system": p["system"], "kind": p["kind"], "name": p["name"],
                   "unit": UNIT[p["kind"]], "range_min": num(p["rmin"]), "range_max": num(p["rmax"]), "param_class": p["cls"],
                   "limit_high": num(p["h"]), "limit_high_high": num(p["hh"]), "limit_low": num(p["l"]),
                   "limit_low_low": num(p["ll"]),
                   "deadband": num(p["deadband"]), "min_duration_s": p["min_dur"], "rate_limit": num(p["rate"]),
                   "expected_interval_s": p["interval"],
                   "sim": {"kind": SIM_KIND.get(p["kind"], p["kind"]), "normal": p["normal"], "noise": p["noise"]}}
                  for p in e["points"]]
        kind, label = CREDENTIAL[e["dialect"]]
        sim = {"scenario": e["scenario"]}
        if e["scenario"] != "none":
            sim["scenario_delay_s"] = e["scenario_delay_s"]
        out.append({"code": e["code"], "uscc": e["uscc"], "name": e["name"], "district": e["district"],
                    "street": e["street"], "address": e["address"], "longitude": num(e["lon"]), "latitude": num(e["lat"]),
                    "industry_code": e["industry"], "status": e["status"], "dust_kinds": kinds,
                    "dust_workers": workers, "building_storeys": storeys, "systems": systems, "points": points,
                    "gateway": {"code": e["code"] + "01", "name": "数采网关", "dialect": e["dialect"]},
                    "credential": {"kind": kind, "label": label}, "sim": sim})
    return {"generator": "deploy/demo/gen_demo.py", "seed": seed,
            "city": {"code": CITY[0], "name": CITY[1]},
            "districts": [{"code": c, "name": n} for c, n, _b in DISTRICTS],
            "streets": [{"code": s[1], "name": s[2], "kind": s[3], "district": s[0]} for s in STREETS],
            "enterprises": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", default=DEFAULT_SEED)
    ap.add_argument("--summary", action="store_true", help="print counts to stderr")
    a = ap.parse_args()
    ents = generate(a.seed)
    sys.stdout.write(json.dumps(build_city(ents, a.seed), ensure_ascii=False, indent=1) + "\n")
    if a.summary:
        d = {}
        for e in ents:
            d[e["dialect"]] = d.get(e["dialect"], 0) + 1
        print(f"enterprises={len(ents)} baoshan={sum(e['district'] == '310113' for e in ents)} "
              f"systems={sum(len(e['systems']) for e in ents)} points={sum(len(e['points']) for e in ents)} "
              f"dialects={d} scenarios={[e['code'] + ':' + e['scenario'] for e in ents if e['scenario'] != 'none']}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
