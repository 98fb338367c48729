#!/usr/bin/env python3
"""Writes tests/risk/cases/*.json: golden cases for the enterprise score.

Expected values come from this independent re-implementation of the default model
(risk/README.md), not from the C code, so test_golden.c compares two implementations.
Re-run after changing a case spec below; review the diff of cases/ before committing.
"""
import json
import os
import sys

NOW = 1772330400  # 2026-03-01T02:00:00Z

DUST = {"metal_al_mg": 25, "metal_other": 15, "wood": 15}
ST = {"unknown": 12, "st1": 5, "st2": 12, "st3": 18}
WORKERS = [(100, 15), (50, 10), (30, 6), (0, 2)]
REMOVAL = {"none": 0, "dry_central": 10, "dry_per_station": 6, "wet": 2}
COLLECTORS = [(5, 8), (2, 4), (1, 2)]


def band(table, v):
    for lo, pts in table:
        if v >= lo:
            return pts
    return 0


def inherent(a):
    rules, total = [], 0
    if a["dust_class"] in DUST:
        p = DUST[a["dust_class"]]
        rules.append("I.DUST." + a["dust_class"].upper())
    else:
        p = ST[a["st_class"]]
        rules.append("I.DUST." + ("ST_UNKNOWN" if a["st_class"] == "unknown" else a["st_class"].upper()))
    total += p
    w = band(WORKERS, a["dust_workers"])
    total += w
    rules.append("I.WORKERS")
    r = REMOVAL[a["removal"]]
    if r:
        total += r
        rules.append("I.REMOVAL." + a["removal"].upper())
    for key, pts, code in (("positive_pressure_conveying", 8, "I.POSITIVE_PRESSURE"),
                           ("collector_indoors", 8, "I.COLLECTOR_INDOORS"),
                           ("multi_storey", 5, "I.MULTI_STOREY")):
        if a.get(key):
            total += pts
            rules.append(code)
    c = band(COLLECTORS, a["dry_collectors"])
    if c:
        total += c
        rules.append("I.DRY_COLLECTORS")
    return min(total, 100), rules


def term(x, share, sat):
    return 0.0 if x <= 0 else min(1.0, x / sat) * share


def counts(h, key):
    c = h.get(key, {})
    m, o = c.get("mandatory", {}), c.get("other", {})
    return (m.get("level1", 0) + 3 * m.get("level2", 0)
            + 0.5 * (o.get("level1", 0) + 3 * o.get("level2", 0)))


def score(case):
    a, h = case["archive"], case["history"]
    I, rules = inherent(a)
    A_terms = [("A.COUNT_24H", term(counts(h, "alarms_24h"), 0.4, 10)),
               ("A.COUNT_7D", term(counts(h, "alarms_7d"), 0.3, 30)),
               ("A.DURATION_24H", term(h.get("alarm_seconds_24h_mandatory", 0), 0.3, 14400))]
    req, missed = h.get("cleaning_required", 0), h.get("cleaning_missed", 0)
    H_terms = [("H.OVERDUE_UNACKED", term(h.get("overdue_unacked", 0), 0.4, 3)),
               ("H.OVERDUE_UNHANDLED", term(h.get("overdue_unhandled", 0), 0.3, 3)),
               ("H.REPEAT_AFTER_HANDLED", term(h.get("repeat_after_handled", 0), 0.3, 3))]
    S_terms = [("S.MISSED_CLEANING", term(missed / req if req else 0, 0.3, 1)),
               ("S.ONLINE_DEFICIT", term(1 - h.get("online_rate_mandatory", 1.0), 0.3, 0.5)),
               ("S.VIDEO_OFFLINE", term(h.get("video_offline", 0), 0.1, 2)),
               ("S.OPEN_HAZARDS", term(h.get("open_hazards", 0), 0.3, 5))]
    A = sum(v for _, v in A_terms)
    H = sum(v for _, v in H_terms)
    S = sum(v for _, v in S_terms)
    rules += [c for c, v in A_terms + H_terms + S_terms if v > 0]
    R = I * (1 + 0.5 * A + 0.3 * H + 0.2 * S)
    if R > 100:
        R = 100
        rules.append("R.CAP_100")
    R = round(R * 100 + 1e-9) / 100  # half-up for positive values, like risk_score_round
    grade = "red" if R >= 75 else "orange" if R >= 55 else "yellow" if R >= 35 else "blue"
    override = False
    if h.get("major_hazard_items"):
        override = True
        rules += ["O.MAJOR_HAZARD"] * len(h["major_hazard_items"])
    for s in h.get("systems", []):
        if s.get("hopper_temp_high_high") and s.get("spark_detected"):
            override = True
            rules.append("O.PRECURSOR.HOT_SPARK")
        if s.get("dp_collapse") and s.get("fan_running"):
            override = True
            rules.append("O.PRECURSOR.DP_COLLAPSE_FAN")
    if override:
        grade = "red"
    return {"score": R, "grade": grade, "override": override, "rules": sorted(rules)}


def arch(dust="grain", st="st1", workers=10, removal="none", pp=False, indoors=False,
         collectors=0, storey=False):
    return {"dust_class": dust, "st_class": st, "dust_workers": workers, "removal": removal,
            "positive_pressure_conveying": pp, "collector_indoors": indoors,
            "dry_collectors": collectors, "multi_storey": storey}


# I = 31: wood 15 + workers 30-49 6 + dry central 10.
I31 = dict(dust="wood", workers=30, removal="dry_central")


CASES = [
    ("01_quiet_small_grain", "St1 grain shop, 10 workers, no extraction, nothing happening",
     arch(), {}),
    ("02_almg_exactly_35", "Al/Mg with 50 workers and no collector: I = 35 exactly ⇒ yellow",
     arch(dust="metal_al_mg", workers=50), {}),
    ("03_boundary_34_99", "I = 31, alarm duration puts R at 34.99 ⇒ blue", None, None),
    ("04_boundary_35_00", "I = 31, alarm duration puts R at 35.00 ⇒ yellow", None, None),
    ("05_boundary_54_99", "I = 49, alarm duration puts R at 54.99 ⇒ yellow", None, None),
    ("06_boundary_55_00", "I = 55 exactly ⇒ orange",
     arch(dust="metal_al_mg", workers=50, removal="dry_central", indoors=True, collectors=1), {}),
    ("07_boundary_74_99", "I = 70, alarm duration puts R at 74.99 ⇒ orange", None, None),
    ("08_boundary_75_00", "I = 70, alarm duration puts R at 75.00 ⇒ red", None, None),
    ("09_wood_factory_typical", "Wood furniture, 60 workers, central dry system indoors, 3 collectors",
     arch(dust="wood", workers=60, removal="dry_central", indoors=True, collectors=3),
     {"alarms_24h": {"mandatory": {"level1": 2}}, "alarms_7d": {"mandatory": {"level1": 6}},
      "alarm_seconds_24h_mandatory": 1800}),
    ("10_major_hazard_item1", "Non-frame multi-storey dust area (item 1) ⇒ red by override",
     arch(), {"major_hazard_items": [1]}),
    ("11_major_hazard_item10", "Cleaning regime not implemented (item 10) ⇒ red",
     arch(dust="wood", workers=35, removal="dry_per_station", collectors=2),
     {"major_hazard_items": [10], "cleaning_required": 14, "cleaning_missed": 9}),
    ("12_major_hazard_several", "Items 3, 4 and 6 open at once: one rule per item",
     arch(dust="metal_al_mg", workers=40, removal="dry_central", pp=True, collectors=2),
     {"major_hazard_items": [3, 4, 6]}),
    ("13_precursor_hot_spark", "Hopper temperature HH and spark on the same collector ⇒ red",
     arch(dust="wood", workers=45, removal="dry_central", collectors=2),
     {"systems": [{"id": 3, "hopper_temp_high_high": True, "spark_detected": True}],
      "alarms_24h": {"mandatory": {"level2": 2}}}),
    ("14_precursor_dp_collapse_fan", "ΔP collapse while the fan runs ⇒ red",
     arch(dust="grain", st="st2", workers=80, removal="dry_central", collectors=5),
     {"systems": [{"id": 1, "dp_collapse": True, "fan_running": True}]}),
    ("15_precursors_on_different_systems", "HH on one collector and spark on another: no override",
     arch(dust="wood", workers=45, removal="dry_central", collectors=2),
     {"systems": [{"id": 1, "hopper_temp_high_high": True}, {"id": 2, "spark_detected": True}],
      "alarms_24h": {"mandatory": {"level2": 2}}}),
    ("16_dp_collapse_fan_stopped", "ΔP collapse with the fan stopped is not the precursor",
     arch(dust="grain", st="st2", workers=80, removal="dry_central", collectors=5),
     {"systems": [{"id": 1, "dp_collapse": True, "fan_running": False}]}),
    ("17_alarm_storm_saturates_A", "Many alarms: A saturates at 1",
     arch(dust="wood", workers=30, removal="dry_per_station", collectors=2),
     {"alarms_24h": {"mandatory": {"level1": 20, "level2": 5}},
      "alarms_7d": {"mandatory": {"level1": 60, "level2": 10}},
      "alarm_seconds_24h_mandatory": 30000}),
    ("18_other_points_count_half", "Alarms on optional points count half",
     arch(dust="plastic", st="st2", workers=55, removal="dry_per_station", collectors=2),
     {"alarms_24h": {"other": {"level1": 4, "level2": 2}}}),
    ("19_handling_overdue", "Unacknowledged and unhandled alarms past deadline",
     arch(dust="wood", workers=70, removal="dry_central", collectors=4),
     {"overdue_unacked": 2, "overdue_unhandled": 1, "repeat_after_handled": 1}),
    ("20_handling_saturated", "H saturates at 1",
     arch(dust="wood", workers=70, removal="dry_central", collectors=4),
     {"overdue_unacked": 9, "overdue_unhandled": 9, "repeat_after_handled": 9}),
    ("21_site_management_poor", "Missed cleaning, offline points, video down, open hazards",
     arch(dust="grain", st="st3", workers=120, removal="dry_central", indoors=True, collectors=6),
     {"cleaning_required": 21, "cleaning_missed": 7, "online_rate_mandatory": 0.75,
      "video_offline": 1, "open_hazards": 3}),
    ("22_site_saturated", "S saturates at 1",
     arch(dust="grain", st="st3", workers=120, removal="dry_central", indoors=True, collectors=6),
     {"cleaning_required": 7, "cleaning_missed": 7, "online_rate_mandatory": 0.0,
      "video_offline": 5, "open_hazards": 10}),
    ("23_cap_at_100", "Worst inherent risk and everything saturated: R capped at 100",
     arch(dust="metal_al_mg", workers=300, removal="dry_central", pp=True, indoors=True,
          collectors=8, storey=True),
     {"alarms_24h": {"mandatory": {"level2": 10}}, "overdue_unacked": 5, "open_hazards": 9}),
    ("24_wet_almg", "Al/Mg with wet collection, moderate alarms",
     arch(dust="metal_al_mg", workers=90, removal="wet", collectors=0),
     {"alarms_24h": {"mandatory": {"level1": 3}}, "alarms_7d": {"mandatory": {"level1": 9}}}),
    ("25_unknown_st_scored_as_st2", "Other dust with unknown St class scores as St2",
     arch(dust="other", st="unknown", workers=30, removal="dry_per_station", collectors=1), {}),
    ("26_st3_other", "St3 dust scores 18, between other metal (15) and Al/Mg (25)",
     arch(dust="other", st="st3", workers=30, removal="dry_per_station", collectors=1), {}),
    ("27_workers_100_boundary", "100 workers is the top band",
     arch(dust="grain", st="st1", workers=100, removal="dry_central", collectors=5, storey=True),
     {}),
    ("28_workers_99_boundary", "99 workers is one band lower",
     arch(dust="grain", st="st1", workers=99, removal="dry_central", collectors=5, storey=True),
     {}),
    ("29_collectors_4_vs_5", "4 dry collectors score 4, not 8",
     arch(dust="wood", workers=50, removal="dry_central", collectors=4), {}),
    ("30_positive_pressure_metal", "Positive-pressure conveying of metal dust, indoors",
     arch(dust="metal_other", workers=45, removal="dry_per_station", pp=True, indoors=True,
          collectors=2),
     {"alarms_24h": {"mandatory": {"level1": 1}}}),
    ("31_override_beats_low_score", "Override on an otherwise blue enterprise with both precursors",
     arch(), {"systems": [{"id": 1, "hopper_temp_high_high": True, "spark_detected": True,
                           "dp_collapse": True, "fan_running": True}]}),
    ("32_everything_moderate", "A, H and S all partly active",
     arch(dust="wood", workers=40, removal="dry_central", indoors=True, collectors=3),
     {"alarms_24h": {"mandatory": {"level1": 2, "level2": 1}, "other": {"level1": 2}},
      "alarms_7d": {"mandatory": {"level1": 10, "level2": 2}},
      "alarm_seconds_24h_mandatory": 3600, "overdue_unacked": 1, "repeat_after_handled": 2,
      "cleaning_required": 14, "cleaning_missed": 2, "online_rate_mandatory": 0.95,
      "video_offline": 1, "open_hazards": 1}),
 ("33_inherent_exactly_75", "I = 75 exactly from the archive alone ⇒ red without override",
     arch(dust="metal_al_mg", workers=100, removal="dry_central", pp=True, indoors=True,
          collectors=2, storey=True), {}),
    ("34_inherent_54_no_dynamic", "I = 54 (Al/Mg 25 + 10 + 10 + 4 + 5) stays yellow",
     arch(dust="metal_al_mg", workers=50, removal="dry_central", collectors=2, storey=True), {}),
]


def seconds_for(a, target):
    """Integer alarm seconds (A duration term: R = I x (1 + 0.15 x s/14400)) that make the
    rounded R equal target; asserts so a case never silently misses its boundary."""
    i, _ = inherent(a)
    s = round((target / i - 1) / 0.15 * 14400)
    for cand in (s, s - 1, s + 1, s - 2, s + 2):
        h = {"alarm_seconds_24h_mandatory": cand}
        if score({"archive": a, "history": h})["score"] == target:
            return h
    raise SystemExit(f"cannot land on {target} with I={i}")


BOUNDARY = {
    "03_boundary_34_99": (arch(**I31), 34.99),
    "04_boundary_35_00": (arch(**I31), 35.0),
    "05_boundary_54_99": (arch(dust="metal_al_mg", workers=50, removal="dry_central", collectors=2), 54.99),
    "07_boundary_74_99": (arch(dust="metal_al_mg", workers=100, removal="dry_central", collectors=2,
                               pp=True, indoors=True), 74.99),
    "08_boundary_75_00": (arch(dust="metal_al_mg", workers=100, removal="dry_central", collectors=2,
                               pp=True, indoors=True), 75.0),
}


def fill_boundaries():
    out = []
    for name, desc, a, h in CASES:
        if name in BOUNDARY:
            a, target = BOUNDARY[name]
            h = seconds_for(a, target)
        out.append((name, desc, a, h))
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "cases")
    os.makedirs(outdir, exist_ok=True)
    for name, desc, a, h in fill_boundaries():
        case = {"name": name, "description": desc, "now": NOW, "archive": a, "history": h}
        case["expect"] = score(case)
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            json.dump(case, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"{name}: R={case['expect']['score']} {case['expect']['grade']}")


if __name__ == "__main__":
    main()
