#!/usr/bin/env python3
"""Builds schema/openapi.json (the REST API, served at GET /api/v1/openapi.json)
and schema/openapi-ingest.json (the ingest listener).  Python standard
library only.

    python3 schema/openapi_build.py [--dustwatch BIN]           # rewrite both files
    python3 schema/openapi_build.py --check [--dustwatch BIN]   # exit 1 if one is stale

The route table in api/routes.c is the source of the REST API's paths: this
script reads it from the built binary (`BIN routes --json`, the JSON GET
/api/v1/routes answers; BIN defaults to $DW_BIN, else build/dustwatch; or
--routes FILE holding that JSON) and takes method, path, roles, admin_only,
public, before_password_change and max_body from it.  What the table cannot
say (summary, description, parameters, bodies, responses) is written below in
OPERATIONS, keyed by each route's operation id; a route without an entry there,
or an entry without a route, stops the build.  The descriptions were read from
the handlers (api/resources/*.c) and the SQL that builds their JSON.

Also read, not copied: the statistics' rankings (DB_STATS_SORT_KEYS in server/db/db_stats.h),
the error registries api/core/errors.def and
server/ingest/ing_errors.def (codes, statuses, hints) and the ingest payload schemas schema/ingest-*.schema.json
(inlined).  The unit test openapi-fresh runs --check against the built
binary; tests/integration/test_openapi.py holds the served document against a
running server and lints both documents with @redocly/cli.
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
API_OUT = os.path.join(HERE, "openapi.json")
INGEST_OUT = os.path.join(HERE, "openapi-ingest.json")

# ---------------------------------------------------------------------------
# small helpers


def ref(name):
    return {"$ref": "#/components/schemas/" + name}


def nullable(s):
    """Schema s or null (OpenAPI 3.1: JSON Schema 2020-12)."""
    s = copy.deepcopy(s)
    if "$ref" in s or "type" not in s:
        return {"anyOf": [s, {"type": "null"}]}
    t = s["type"]
    s["type"] = (t if isinstance(t, list) else [t]) + ["null"]
    if "enum" in s:
        s["enum"] = s["enum"] + [None]
    return s


def obj(props, required=None, strict=False, desc=None, title=None):
    o = {"type": "object"}
    if title:
        o["title"] = title
    if desc:
        o["description"] = desc
    if required:
        o["required"] = list(required)
    o["properties"] = props
    if strict:
        o["additionalProperties"] = False
    return o


def arr(items, desc=None, **kw):
    a = {"type": "array", "items": items}
    if desc:
        a["description"] = desc
    a.update(kw)
    return a


def s(t, desc=None, **kw):
    o = {"type": t}
    if desc:
        o["description"] = desc
    o.update(kw)
    return o


def enum(values, desc=None):
    return s("string", desc, enum=list(values))


ID = s("integer", format="int64", minimum=1)
TS = s("string", format="date-time")
COUNT = s("integer", minimum=0)
N_TS = nullable(TS)
N_STR = nullable(s("string"))
N_NUM = nullable(s("number"))
N_ID = nullable(ID)

GRADES = ["blue", "yellow", "orange", "red"]
LEVELS = ["enterprise", "street", "district", "city"]
ALARM_KINDS = ["high", "high_high", "low", "low_low", "rate_of_rise", "digital_fault", "frozen",
               "out_of_range", "offline", "gateway_fault", "video", "gateway_offline", "spark",
               "enterprise_offline"]
ALARM_STATES = ["active", "acknowledged", "handled", "closed"]
ALARM_SOURCES = ["rule", "gateway", "video"]
WARN_STATUSES = ["issued", "signed", "feedback", "clearance_requested", "cleared", "returned"]
ROLES = ["city_admin", "city_staff", "district_admin", "district_staff", "street_staff",
         "enterprise_manager", "enterprise_staff"]

# ---------------------------------------------------------------------------
# the error registry


def read_registry(rel):
    """(NAME, code, status, hint) of every X(...) line of an error registry."""
    pat = re.compile(r'^X\((\w+),\s*"([a-z_]+)",\s*(\d+),\s*"((?:[^"\\]|\\.)*)"\)')
    out = []
    with open(os.path.join(ROOT, *rel.split("/")), encoding="utf-8") as f:
        for line in f:
            m = pat.match(line)
            if m:
                out.append((m.group(1), m.group(2), int(m.group(3)), m.group(4)))
    if not out:
        raise SystemExit(f"{rel}: no X(...) entries found")
    return out


def read_errors(rel):
    """(code, status, hint) of every X(...) line of an error registry."""
    return [(c, st, h) for _, c, st, h in read_registry(rel)]


def read_stat_sorts(rel):
    """The names of DB_STATS_SORT_KEYS (the rankings GET /statistics can sort by)."""
    with open(os.path.join(ROOT, *rel.split("/")), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"#define DB_STATS_SORT_KEYS\(X\)((?:[^\n]*\\\n)+[^\n]*)", text)
    names = re.findall(r"X\((\w+),", m.group(1)) if m else []
    if not names:
        raise SystemExit(f"{rel}: no DB_STATS_SORT_KEYS entries found")
    return names


STAT_SORTS = read_stat_sorts("server/db/db_stats.h")
ERRORS = read_errors("api/core/errors.def")
ERROR_CODE = {n: c for n, c, _, _ in read_registry("api/core/errors.def")}
INGEST_ERRORS = read_errors("server/ingest/ing_errors.def")
# Codes whose body carries more than {code, hint, detail}: their routes
# describe them with their own schema, not in the shared responses.
IMPORT_REFUSED = ERROR_CODE["IMPORT_REFUSED"]
OWN_BODY_CODES = {IMPORT_REFUSED}

ERROR_RESPONSES = {
    400: ("BadRequest", "Bad request: malformed JSON (bad_json), a wrong field or query "
          "parameter (bad_request) or a field the resource does not have (unknown_field). "
          "请求格式或参数错误。"),
    401: ("Unauthenticated", "No valid session or API key (unauthenticated); on login and "
          "password change also a wrong password (login_failed). 未登录或凭证无效。"),
    403: ("Forbidden", "The caller's role may not use this route or this object "
          "(forbidden); refused before any object lookup. Also every route but {before_pw} "
          "(x-before-password-change) while the account must change its password (set by "
          "someone else, or older than password_max_age_days). A write (not GET/HEAD/OPTIONS) "
          "authenticated by the dw_session cookie whose Origin (or, without Origin, "
          "Sec-Fetch-Site) is not this server's own origin, or that sends neither, answers "
          "csrf_refused; bearer tokens and API keys are not checked. 无权限或须先修改密码。"),
    404: ("NotFound", "No such object in the caller's scope (not_found): objects of other "
          "tenants look missing too. 对象不存在或不在管辖范围内。"),
    409: ("Conflict", "The object changed or already exists (conflict), its state does not "
          "allow the action (invalid_transition), or stored data still refers to it (in_use). "
          "冲突、状态不允许此操作或仍被引用。"),
    413: ("PayloadTooLarge", "The body exceeds the route's limit (body_too_large, see "
          "x-max-body). 请求体过大。"),
    415: ("UnsupportedMediaType", "Writes must send Content-Type: application/json (or "
          "text/csv / the XLSX type where documented) (unsupported_media_type); an import whose "
          "file is neither UTF-8 CSV nor an XLSX workbook (file_format). 不支持的内容类型或文件格式。"),
    422: ("Unprocessable", "Well-formed but breaks a rule (unprocessable, password_policy, "
          "password_reused, photo_invalid). 违反业务规则。"),
    429: ("TooManyRequests", "Slow down (too_many_requests); Retry-After says when. "
          "Reserved in the registry; no route answers it today. 请求过于频繁。"),
    503: ("ServiceUnavailable", "The database is unreachable (db_unavailable) or the server is "
          "busy (overloaded); Retry-After says when to retry. 服务暂不可用。"),
}


def error_codes_for(status):
    return [c for c, st, _ in ERRORS if st == status and c not in OWN_BODY_CODES]


# ---------------------------------------------------------------------------
# component schemas (the JSON the handlers and their SQL build)

REGION_REF = obj({"id": ID, "code": s("string"), "name": s("string")}, ["id", "code", "name"])
ENT_REF = obj({"id": ID, "code": s("string"), "name": s("string"), "district_id": ID,
               "street_id": N_ID}, ["id", "code", "name", "district_id", "street_id"],
              desc="The enterprise an object belongs to.")
GRADE_COUNTS = obj({g: COUNT for g in GRADES + ["unscored"]}, GRADES + ["unscored"],
                   desc="Enterprises per current risk grade; unscored: no score yet.")

ENT_FIELDS = {
    "code": s("string", "Enterprise code (企业编码).", maxLength=500),
    "uscc": s("string", "Unified social credit code (统一社会信用代码).", maxLength=500),
    "name": s("string", "Name (企业名称).", maxLength=500),
    "address": s("string", "Address (地址).", maxLength=500),
    "longitude": nullable(s("number", "Longitude (经度), WGS-84.")),
    "latitude": nullable(s("number", "Latitude (纬度), WGS-84.")),
    "industry_code": s("string", "Industry code (行业代码).", maxLength=500),
    "status": enum(["producing", "stopped", "overhaul"], "Operating status (企业状态)."),
    "connection_status": enum(["not_connected", "connected", "suspended"],
                              "Connection to the monitoring system (接入状态): connected / not_connected "
                              "derived from data by the worker (every mandatory point sent data within "
                              "connected_window_h). A write may set suspended, or not_connected to end a "
                              "suspension; connected is refused (400), and not_connected on an enterprise "
                              "that is not suspended changes nothing."),
    "principal_name": s("string", "Principal (主要负责人).", maxLength=500),
    "principal_phone": s("string", "Principal's phone.", maxLength=500),
    "safety_manager_name": s("string", "Safety manager (安全负责人).", maxLength=500),
    "safety_manager_phone": s("string", "Safety manager's phone.", maxLength=500),
    "dust_kinds": arr(s("string", maxLength=40), "Dust kind codes (粉尘种类).", maxItems=50),
    "dust_workers": nullable(s("integer", "People in dust-exposed work (涉粉作业人数).",
                               minimum=0, maximum=1000000)),
    "zone20_count": s("integer", "Zone 20 areas (20区数量).", minimum=0, maximum=1000000),
    "zone21_count": s("integer", "Zone 21 areas (21区数量).", minimum=0, maximum=1000000),
    "zone22_count": s("integer", "Zone 22 areas (22区数量).", minimum=0, maximum=1000000),
    "building_storeys": enum(["single", "multi"], "Single- or multi-storey (建筑层数)."),
    "building_frame": enum(["frame", "non_frame"], "Frame structure (建筑结构)."),
    "gathering_rooms": s("integer", "People-gathering rooms (人员聚集场所数).", minimum=0,
                         maximum=1000000),
    "explosibility": nullable(s("object", "Tested explosion data, e.g. kst, pmax, mie_mj, "
                                "mec_g_m3.")),
}
CONTACT_FIELDS = ["principal_name", "principal_phone", "safety_manager_name",
                  "safety_manager_phone"]

ENTERPRISE = obj(dict(
    id=ID, code=s("string"), uscc=s("string"), name=s("string"),
    district=REGION_REF,
    street=nullable(obj({"id": ID, "code": s("string"), "name": s("string"),
                         "kind": enum(["street", "town", "park"])})),
    address=s("string"), longitude=N_NUM, latitude=N_NUM, industry_code=s("string"),
    status=ENT_FIELDS["status"], connection_status=ENT_FIELDS["connection_status"],
    dust_kinds=arr(s("string")), principal_name=s("string"), principal_phone=s("string"),
    safety_manager_name=s("string"), safety_manager_phone=s("string"),
    dust_workers=nullable(s("integer")), explosibility=nullable(s("object")),
    zone20_count=COUNT, zone21_count=COUNT, zone22_count=COUNT,
    building_storeys=ENT_FIELDS["building_storeys"], building_frame=ENT_FIELDS["building_frame"],
    gathering_rooms=COUNT, updated_at=TS),
    ["id", "code", "uscc", "name", "district", "street", "status", "connection_status",
     "updated_at"], title="Enterprise", desc="One enterprise's archive (一企一档).")

PROTECTION = obj({k: s("boolean") for k in ["venting", "isolation", "suppression", "inerting",
                                             "airlock", "spark_detection"]})
DUST_SYSTEM = obj(dict(id=ID, code=s("string"), name=s("string"), workshop=N_STR,
                       wet=s("boolean"), collector_type=N_STR, central=nullable(s("boolean")),
                       airflow_m3h=N_NUM, positive_pressure=nullable(s("boolean")),
                       indoor=nullable(s("boolean")), protection=PROTECTION, points=COUNT),
                  ["id", "code", "name"], desc="A dust removal system (除尘系统).")

POINT = obj(dict(
    id=ID, code=s("string", "Point code (测点编码)."), enterprise_id=ID, system_id=N_ID,
    kind=s("string", "Indicator kind code."), kind_name=s("string", "Indicator name (zh)."),
    value_type=enum(["analog", "digital"]), name=s("string"), unit=N_STR,
    range_min=N_NUM, range_max=N_NUM,
    param_class=enum(["mandatory", "conditional", "optional"]),
    limits=obj(dict(high=N_NUM, high_high=N_NUM, low=N_NUM, low_low=N_NUM, deadband=N_NUM,
                    min_duration_s=nullable(s("integer")), rate_limit=N_NUM,
                    rate_window_s=nullable(s("integer")))),
    expected_interval_s=s("integer"), enabled=s("boolean"),
    latest=nullable(obj({"ts": s("string", "UTC, microseconds (2026-11-29T04:22:49.123456Z); the "
                                     "same text whether read from Redis or PostgreSQL.",
                                     format="date-time"),
                         "value": s("number"),
                         "quality": s("integer", "0 good, 1 suspect, 2 bad.", minimum=0, maximum=2)})),
    online=s("boolean", "A reading arrived within 3 expected intervals."),
    data_quality=obj({"conflicts": s("integer", "Readings kept apart because their instant "
                                     "already held another value (reading_conflicts).",
                                     minimum=0),
                      "last_conflict_at": nullable(s("string", "When the last one arrived; null "
                                                     "without any.", format="date-time")),
                      "quarantined_hours": arr(obj({"hour": s("string", "Start of the UTC hour.",
                                                              format="date-time"),
                                                    "reason": s("string", "Why its readings "
                                                                "could not be aggregated.")}),
                                               "Hours without rollups because their readings "
                                               "cannot be aggregated (rollup_quarantine); the "
                                               "series reads their raw readings.")},
                     desc="Only in the answer for one point (GET /api/v1/points/{id}).")),
    ["id", "code", "enterprise_id", "kind", "name", "limits", "enabled", "latest", "online"],
    title="Point", desc="A monitoring point (监测点) with its limits and latest value.")

ALARM = obj(dict(
    id=ID, enterprise=ENT_REF,
    point=nullable(obj({"id": ID, "code": s("string"), "name": s("string"),
                        "kind": s("string"), "unit": N_STR, "system_id": N_ID})),
    source=enum(ALARM_SOURCES), channel=enum(["limit", "rate", "frozen", "range", "offline",
                                              "gateway", "video", "gateway_offline",
                                              "enterprise_offline"]),
    kind=enum(ALARM_KINDS), level=s("integer", "0 notice, 1 first-level, 2 second-level.",
                                    minimum=0, maximum=2),
    max_level=s("integer", minimum=0, maximum=2), reason=N_STR, value=N_NUM, threshold=N_NUM,
    raised_at=TS, escalated_at=N_TS, cleared_at=N_TS, clear_reason=N_STR,
    back_to_normal=s("boolean"), state=enum(ALARM_STATES), ack_deadline=N_TS,
    handle_deadline=N_TS, ack_overdue=s("boolean"), handle_overdue=s("boolean"),
    overdue=s("boolean", "Unfinished past a deadline now."),
    acknowledged=nullable(obj({"at": TS, "by": N_ID, "verdict": N_STR, "note": N_STR})),
    handled=nullable(obj({"at": TS, "by": N_ID, "cause_category": N_STR, "measures": N_STR})),
    closed=nullable(obj({"at": TS, "by": N_ID, "automatic": s("boolean")})),
    camera_code=N_STR,
    snapshot=nullable(obj({"href": s("string", "GET it for the image (getAlarmSnapshot)."),
                           "bytes": s("integer")},
                          desc="The image a video alarm came with; null without one.")),
    label=nullable(s("string", "Video alarms: the type's label from the catalogue of video alarm "
                               "types (e.g. 烟火识别 for SJ02001), else the type code; null "
                               "for other alarms.")),
    gateway=nullable(obj({"id": N_ID, "code": s("string")}, ["code"],
                         desc="Gateway-offline alarms: the silent gateway (id null once deleted); "
                              "null for other alarms.")),
    created_at=TS,
    episode=obj({"count": s("integer", "Triggers folded into this alarm (1: the raise only).",
                            minimum=1),
                 "first_at": TS, "last_at": TS, "peak_value": N_NUM},
                ["count", "first_at", "last_at"],
                desc="Repeats of the same point channel within alarm_episode_window_s after it "
                     "cleared reopen the alarm instead of raising a new one (the risk score counts "
                     "the episode once)."),
    value_text=nullable(obj({"zh": s("string"), "en": s("string")}, ["zh", "en"],
                            desc="Digital points: the state the value means (检测到火花 / spark "
                                 "detected) instead of 1 / 1; null for analog points.")),
    folded_into=nullable(s("integer", "A point offline alarm folded into this enterprise-offline "
                                      "alarm (then closed).")),
    points=nullable(arr(obj({"id": ID, "code": s("string"), "name": s("string"),
                             "kind": s("string"), "last_data_at": N_TS, "joined_at": TS,
                             "back_at": N_TS}, ["id", "code"]),
                        "Enterprise-offline alarms: the points offline together (back_at set "
                        "once a point reports again); null for other alarms.")),
    shelved=nullable(obj({"at": TS, "until": TS, "by": N_ID, "reason": s("string")},
                         ["at", "until", "reason"],
                         desc="Shelved (搁置) until then: repeats fold in silently; null when "
                              "not shelved or expired."))),
    ["id", "enterprise", "point", "source", "kind", "level", "raised_at", "state"],
    title="Alarm", desc="A point alarm (报警): active → acknowledged → handled → closed.")

WARNING = obj(dict(
    id=ID, enterprise=ENT_REF,
    cause=s("string", "grade, or an override rule id (O.…).", pattern=r"^(grade|O\.[A-Z_.]+)$"),
    grade=enum(GRADES), score_id=ID, issued_at=TS, sign_by=N_TS, clear_by=N_TS,
    supervisor=enum(LEVELS), current_level=enum(LEVELS), inform_city=s("boolean"),
    status=enum(WARN_STATUSES), signed_at=N_TS, signed_by=N_ID, feedback_at=N_TS,
    feedback=N_STR, clear_requested_at=N_TS, cleared_at=N_TS, cleared_by=N_ID,
    escalations_done=COUNT,
    upgraded_at=nullable(s("string", "Last time a grade rise upgraded this open warning in place "
                                     "(new grade, its deadlines counted from here, signed again); "
                                     "null when never.", format="date-time")),
    sign_overdue=s("boolean"), clear_overdue=s("boolean"),
    overdue=s("boolean")),
    ["id", "enterprise", "cause", "grade", "issued_at", "current_level", "status"],
    title="Warning", desc="An early warning (预警) issued by the risk engine.")

SCORE_PROPS = dict(
    id=ID, computed_at=TS, model_version=s("string"), r=s("number", "Risk value R."),
    grade=enum(GRADES), grade_by_score=enum(GRADES), override=nullable(s("string")),
    override_reason=N_STR,
    parts=obj({"i": s("number"), "a": s("number"), "h": s("number"), "s": s("number")},
              desc="Inherent, alarm, handling and safety-management parts."),
    trigger=enum(["change", "periodic", "manual"]))
RISK_SCORE = obj(SCORE_PROPS, ["id", "computed_at", "r", "grade"], title="RiskScore",
                 desc="One stored risk score (风险评分).")

CHECKIN = obj(dict(
    id=ID, area_id=ID, area=s("string"), enterprise_id=ID, person=s("string"),
    account_id=N_ID, checked_at=TS, method=enum(["vacuum", "wet_wipe", "sweep", "other"]),
    note=N_STR,
    photo=nullable(obj({"type": enum(["image/jpeg", "image/png"]), "bytes": COUNT,
                        "href": s("string", "GET this path for the image.")})),
    created_at=TS, late_entry=s("boolean", "Recorded more than 1 hour after checked_at.")),
    ["id", "area_id", "enterprise_id", "person", "checked_at", "method", "photo"],
    title="Checkin", desc="A cleaning check-in (清理打卡).")

AREA = obj(dict(id=ID, enterprise_id=ID, name=s("string"),
                frequency=enum(["per_shift", "daily", "weekly"]), active=s("boolean"),
                created_at=TS, last_checkin_at=N_TS),
           ["id", "enterprise_id", "name", "frequency", "active"], title="CleaningArea",
           desc="A cleaning area (清理区域) with its required frequency.")

COLLECTOR_TYPES = ["bag", "cartridge", "cyclone", "settling", "wet_scrubber", "water_curtain",
                   "other"]
PROTECTION_KEYS = ["venting", "isolation", "suppression", "inerting", "airlock", "spark_detection"]
SYSTEM_FIELDS = dict(
    code=s("string", "System code (系统编号), unique in the enterprise: 1 to 32 of 0-9 A-Z a-z _ - "
           "(422 otherwise).", minLength=1, maxLength=32),
    name=s("string", "Name (系统名称).", minLength=1, maxLength=100),
    workshop=s("string", "Workshop (所在车间).", maxLength=100),
    wet=s("boolean", "Wet (湿式) or dry (干式) collection. Default false."),
    collector_type=enum(COLLECTOR_TYPES, "Collector type (除尘器类型). Default bag."),
    central=s("boolean", "Central collection (中央集尘) or one collector per station (工位独立). "
              "Default true."),
    airflow_m3h=nullable(s("integer", "Design airflow (风量), m³/h.", minimum=1,
                           maximum=2147483647)),
    positive_pressure=s("boolean", "Positive-pressure conveying (正压吹送). Default false."),
    indoor=s("boolean", "Collector indoors (室内). Default false."),
    protection=obj({k: s("boolean") for k in PROTECTION_KEYS}, strict=True,
                   desc="Protection measures (泄爆, 隔爆, 抑爆, 惰化, 锁气卸灰, 火花探测); each "
                        "named flag is set, the others keep their value (false on create)."),
)
SYSTEM = obj(dict(id=ID, enterprise_id=ID, code=s("string"), name=s("string"),
                  workshop=s("string"), wet=s("boolean"), collector_type=enum(COLLECTOR_TYPES),
                  central=s("boolean"), airflow_m3h=nullable(s("integer")),
                  positive_pressure=s("boolean"), indoor=s("boolean"), protection=PROTECTION,
                  points=COUNT, cameras=COUNT, created_at=TS),
             ["id", "enterprise_id", "code", "name", "wet", "collector_type", "central",
              "protection", "points", "cameras", "created_at"], title="DustSystem",
             desc="A dust-removal system (除尘系统).")
POINT_CREATE_FIELDS = dict(
    code=s("string", "Point code (测点编码) the gateways send: 4 to 40 of 0-9 A-Z a-z _ -; "
           "unique in the city (409). Cannot change later.", minLength=4, maxLength=40),
    kind=s("string", "Indicator kind code from the catalogue (422 when unknown).", maxLength=41),
    system_id=nullable(s("integer", "The dust-removal system, of the same enterprise (422 "
                         "otherwise, also for another enterprise's system).", format="int64",
                         minimum=1)),
    name=s("string", maxLength=100), unit=s("string", "Default: the kind's unit.", maxLength=20),
    range_min=N_NUM, range_max=N_NUM,
    param_class=enum(["mandatory", "conditional", "optional"], "Default mandatory."),
    limit_high=N_NUM, limit_high_high=N_NUM, limit_low=N_NUM, limit_low_low=N_NUM,
    deadband=s("number", "Default 0."),
    min_duration_s=s("integer", "Default 0.", minimum=0, maximum=2147483647),
    rate_limit=N_NUM,
    rate_window_s=s("integer", "Default 600.", minimum=1, maximum=2147483647),
    expected_interval_s=s("integer", "Default 60.", minimum=1, maximum=86400),
    enabled=s("boolean", "Default true."),
)
POINT_STORED = obj(dict(
    id=ID, code=s("string"), enterprise_id=ID, system_id=N_ID, kind=s("string"),
    name=s("string"), unit=s("string"), range_min=N_NUM, range_max=N_NUM,
    param_class=s("string"), limit_high=N_NUM, limit_high_high=N_NUM, limit_low=N_NUM,
    limit_low_low=N_NUM, deadband=s("number"), min_duration_s=s("integer"), rate_limit=N_NUM,
    rate_window_s=s("integer"), expected_interval_s=s("integer"), enabled=s("boolean"),
    created_at=TS), ["id", "code", "enterprise_id", "kind", "enabled"], title="PointStored",
    desc="The stored row of a new point, in the field names of the create body; GET "
         "/api/v1/points/{id} answers the Point view with limits and the latest value.")
CAMERA_FIELDS = dict(
    code=s("string", "Camera code (摄像头编码) as gateways send it in video alarms (camera / "
           "videoCode); unique in the enterprise (409); cannot change later (400).",
           minLength=1, maxLength=64),
    name=s("string", minLength=1, maxLength=100),
    system_id=nullable(s("integer", "The dust-removal system it watches, of the same "
                         "enterprise (422 otherwise).", format="int64", minimum=1)),
    location=s("string", "Workshop, position (安装位置).", maxLength=200),
    stream_url=nullable(s("string", "Live stream: rtsp://, rtmp://, http:// or https:// (422 "
                          "otherwise).", minLength=1, maxLength=500)),
    enabled=s("boolean", "Default true; false retires a camera whose alarms must stay "
              "attributable."),
)
CAMERA = obj(dict(id=ID, enterprise_id=ID, code=s("string"), name=s("string"),
                  system_id=N_ID, location=s("string"), stream_url=N_STR,
                  enabled=s("boolean"), created_at=TS, updated_at=TS,
                  last_alarm_at=nullable(TS), last_video_at=nullable(TS),
                  status=s("string", "From its last video and camera_offline_after_s: online, "
                           "offline, disabled, unknown (new and silent, or the check is off).",
                           enum=["online", "offline", "disabled", "unknown"])),
             ["id", "enterprise_id", "code", "name", "system_id", "enabled", "last_alarm_at"],
             title="Camera", desc="A video camera (视频监控点), its latest video alarm and status. "
             "stream_url is the playback/live link the dashboard opens (an HLS or vendor web URL).")
DIALECTS = ["native", "hebei", "mem"]
GATEWAY_FIELDS = dict(
    code=s("string", "Gateway code (网关编码, Hebei wgbm): 2 to 40 of 0-9 A-Z a-z _ -; unique in "
           "the city (409).", minLength=2, maxLength=40),
    name=s("string", maxLength=100),
    dialect=enum(DIALECTS, "What it speaks. Default native."),
)
GATEWAY = obj(dict(id=ID, enterprise_id=ID, code=s("string"), name=s("string"),
                   dialect=enum(DIALECTS), last_seen_at=N_TS, created_at=TS),
              ["id", "enterprise_id", "code", "name", "dialect", "last_seen_at", "created_at"],
              title="Gateway", desc="A data-collection gateway (数采网关).")
CRED_KINDS = ["api_key", "hebei_des", "mem_sm4"]
CREDENTIAL = obj(dict(
    id=ID, enterprise_id=ID, kind=enum(CRED_KINDS), label=s("string"),
    prefix=nullable(s("string", "api_key: the key's first 12 characters.")),
    appid=nullable(s("string", "mem_sm4: the appid.")), created_at=TS, revoked_at=N_TS,
    active=s("boolean", "Not revoked.")),
    ["id", "enterprise_id", "kind", "label", "prefix", "appid", "created_at", "revoked_at",
     "active"], title="IngestCredential",
    desc="An ingest credential (接入凭证): never its secret.")
DELETED = obj({"deleted": s("boolean", const=True), "id": ID}, ["deleted", "id"])

SUMS = dict(required=COUNT, done=COUNT, missed=COUNT, late=COUNT,
            rate=nullable(s("number", "done / required, 4 decimals; null when nothing was "
                            "required.")))


def paged(item):
    return obj({"total": COUNT, "limit": s("integer"), "offset": s("integer"),
                "items": arr(item)}, ["total", "limit", "offset", "items"])


def items_of(item):
    return obj({"items": arr(item)}, ["items"])


SCHEMAS = {
    "Error": obj({
        "code": ref("ErrorCode"),
        "hint": s("string", "Fixed advice for the code."),
        "detail": s("string", "The facts of this occurrence."),
    }, ["code", "hint", "detail"], title="Error",
        desc="Every error body (错误响应). Clients switch on code; codes are never reused or "
             "renamed."),
    "ErrorCode": {"type": "string", "enum": [c for c, _, _ in ERRORS],
                  "description": "From api/core/errors.def: " +
                  "; ".join(f"{c} ({st}): {h}" for c, st, h in ERRORS)},
    "ImportRefused": obj({
        "code": enum([IMPORT_REFUSED]), "hint": s("string"), "detail": s("string"),
        "imported": s("integer", const=0),
        "errors": arr(obj({"row": s("integer", "Spreadsheet row (header is 1)."),
                           "code": enum(["row_invalid", "row_rejected", "duplicate_in_scope",
                                         "too_many_rows"],
                                        "row_invalid: a cell breaks a documented rule (message "
                                        "says which); row_rejected: the archive's rules refused "
                                        "the value of field (message fixed per field: the same "
                                        "for a malformed value and for one held by an enterprise "
                                        "outside your scope, which is never confirmed); "
                                        "duplicate_in_scope: an enterprise you can see already "
                                        "holds this code or USCC (message names its id); "
                                        "too_many_rows: more than 5000 rows."),
                           "field": s("string", "The field the refusal is about, or empty."),
                           "message": s("string")},
                          ["row", "code", "field", "message"])),
    }, ["code", "hint", "detail", "imported", "errors"],
        desc="Import refused: nothing was stored; fix the rows and import the whole table."),
    "Version": obj({"name": s("string", const="dustwatch"), "version": s("string")},
                   ["name", "version"], strict=True),
    "RouteTable": obj({"items": arr(obj({
        "method": enum(["GET", "POST", "PATCH", "PUT", "DELETE"]),
        "path": s("string", "Pattern; {name} matches one segment."),
        "operation_id": s("string", "The operationId this document lists the route under."),
        "public": s("boolean"), "admin_only": s("boolean"),
        "before_password_change": s("boolean", "Answers while the account must change its "
                                    "password (x-before-password-change)."),
        "read_replica": s("boolean", "May be answered from a streaming replica up to "
                          "db_read_max_lag_ms behind (x-read-replica)."),
        "roles": arr(enum(["city", "district", "street", "enterprise"])),
        "max_body": s("integer", "Largest accepted body in bytes; 0: none.", minimum=0),
    }, ["method", "path", "operation_id", "public", "admin_only", "before_password_change",
        "read_replica", "roles", "max_body"], strict=True))},
        ["items"], strict=True),
    "Health": obj({"status": enum(["alive"])}, ["status"]),
    "Ready": obj({
        "status": enum(["ready", "not_ready"]),
        "postgres": obj({"ok": s("boolean"), "detail": s("string")}, ["ok"]),
        "migrations": obj({"ok": s("boolean"), "detail": s("string")}, ["ok"]),
        "redis": obj({"ok": s("boolean")}, ["ok"]),
        "durability": enum(["ok", "degraded"]),
        "durability_detail": s("string"),
    }, ["status", "postgres", "migrations", "redis", "durability"]),
    "LoginRequest": obj({"username": s("string", maxLength=64),
                         "password": s("string", maxLength=256, format="password"),
                         "totp_code": s("string", "The authenticator app's current 6 digits, "
                                        "for an account with a second factor (otherwise 401 "
                                        "totp_required once the password is right).",
                                        pattern="^[0-9]{6}$")},
                        ["username", "password"], strict=True),
    "LoginResponse": obj({
        "token": s("string", "Session token (dws_…); also set as the dw_session cookie."),
        "expires_at": s("string"), "role": enum(ROLES),
        "must_change_password": s("boolean"), "password_expired": s("boolean"),
    }, ["token", "expires_at", "role", "must_change_password", "password_expired"]),
    "Me": obj({
        "id": ID, "username": s("string"), "display_name": s("string"), "role": enum(ROLES),
        "scope": obj({"kind": enum(["city", "district", "street", "enterprise"]), "id": ID,
                      "name": s("string"), "code": s("string")}, ["kind", "id"]),
        "must_change_password": s("boolean"),
        "totp_enabled": s("boolean", "The account has a confirmed TOTP second factor."),
    }, ["username", "role", "scope"],
        desc="The caller. For an API key: username apikey:<prefix>, role enterprise_staff, "
             "scope {kind: enterprise, id}."),
    "PasswordChange": obj({"current_password": s("string", format="password"),
                           "new_password": s("string", maxLength=256, format="password")},
                          ["current_password", "new_password"], strict=True),
    "Region": obj({"id": ID, "code": s("string", pattern="^[0-9]{6}([0-9]{3}([0-9]{3})?)?$"),
                   "name": s("string"), "level": enum(["city", "district", "street"]),
                   "kind": enum(["city", "district", "street", "town", "park"]),
                   "parent_id": N_ID, "enterprises": COUNT,
                   "disabled": s("boolean", "disabled by an administrator: takes no new enterprise")},
                  ["id", "code", "name", "level", "kind", "parent_id", "enterprises", "disabled"]),
    "AttachmentKind": obj({"code": s("string"), "label_zh": s("string"), "label_en": s("string")},
                          ["code", "label_zh", "label_en"]),
    "Attachment": obj({"id": ID, "enterprise_id": ID, "kind": s("string"),
                       "filename": s("string"),
                       "content_type": enum(["application/pdf", "image/jpeg", "image/png"]),
                       "bytes": COUNT, "sha256": s("string", pattern="^[0-9a-f]{64}$"),
                       "note": s("string"), "uploaded_by": s("string"), "created_at": TS,
                       "href": s("string")},
                      ["id", "enterprise_id", "kind", "filename", "content_type", "bytes",
                       "sha256", "created_at", "href"]),
    "AttachmentUpload": obj({"kind": s("string", "a code of GET /api/v1/attachment-kinds"),
                             "filename": s("string", "the name without a path", minLength=1,
                                           maxLength=200),
                             "data": s("string", "the file as base64 or a data: URL; a PDF, "
                                       "JPEG or PNG by its first bytes, at most 8 MB"),
                             "note": s("string", maxLength=500)},
                            ["kind", "filename", "data"], strict=True),
    "Proposal": obj({"id": ID, "kind": enum(["create", "update"]),
                     "status": enum(["pending", "confirmed", "returned", "withdrawn"]),
                     "enterprise_id": N_ID, "name": N_STR,
                     "street": obj({"id": ID, "code": s("string"), "name": s("string")}),
                     "district": obj({"id": ID, "code": s("string"), "name": s("string")}),
                     "record": s("object", "create: the proposed archive record; update: the "
                                 "changed fields"),
                     "before": nullable(s("object", "update: the current values of the changed "
                                          "fields")),
                     "reason": N_STR, "proposed_by": s("string"), "proposed_at": TS,
                     "decided_by": N_STR, "decided_at": N_TS},
                    ["id", "kind", "status", "record", "proposed_at"]),
    "ProposalSubmit": obj({"enterprise_id": s("integer", "the enterprise to change (absent: a new "
                                              "enterprise of the caller's street)", minimum=1),
                           "record": s("object", "archive fields as PATCH/POST "
                                       "/api/v1/enterprises take them, without district and "
                                       "street")},
                          ["record"], strict=True),
    "ProposalEdit": obj({"record": s("object")}, ["record"], strict=True),
    "ProposalStep": obj({"id": ID, "status": enum(["pending", "confirmed", "returned"]),
                         "enterprise_id": ID}, ["id", "status"]),
    "ProposalReturn": obj({"reason": s("string", minLength=1, maxLength=500)}, ["reason"],
                          strict=True),
    "RegionManaged": obj({"id": ID, "code": s("string", pattern="^[0-9]{9}([0-9]{3})?$"),
                          "name": s("string"), "level": enum(["street"]),
                          "kind": enum(["street", "town", "park"]), "parent_id": ID,
                          "disabled": s("boolean"), "disabled_at": N_TS,
                          "enterprises": COUNT},
                         ["id", "code", "name", "level", "kind", "parent_id", "disabled",
                          "enterprises"]),
    "RegionCreate": obj({"code": s("string", pattern="^[0-9]{9}([0-9]{3})?$"),
                         "name": s("string", minLength=1, maxLength=100),
                         "kind": enum(["street", "town", "park"]),
                         "parent_id": s("integer", "the district", minimum=1)},
                        ["code", "name", "kind", "parent_id"], strict=True),
    "RegionUpdate": obj({"name": s("string", minLength=1, maxLength=100),
                         "kind": enum(["street", "town", "park"]),
                         "parent_id": s("integer", "another district (city administrators)",
                                        minimum=1),
                         "disabled": s("boolean")},
                        strict=True, desc="At least one field."),
    "Overview": obj({
        "enterprises": COUNT, "connected": COUNT, "online": COUNT, "points": COUNT,
        "points_online": COUNT, "mandatory_online_rate": N_NUM,
        "points_filed": s("integer", "Points silent now under an approved 停产/检修 filing: not counted "
                          "against mandatory_online_rate.", minimum=0),
        "by_status": s("object", additionalProperties=COUNT),
        "by_dust_kind": s("object", additionalProperties=COUNT),
        "by_street": arr(obj({"id": ID, "code": s("string"), "name": s("string"),
                              "enterprises": COUNT})),
        "by_district": arr(obj({"id": ID, "code": s("string"), "name": s("string"),
                                "enterprises": COUNT})),
        "generated_at": TS,
        "alarms": obj({"open": COUNT, "active": COUNT, "overdue": COUNT,
                       "by_state": obj({k: COUNT for k in ALARM_STATES[:3]}),
                       "by_level": obj({k: COUNT for k in ["0", "1", "2"]})}),
        "warnings": obj({"open": COUNT, "overdue": COUNT,
                         "by_grade": obj({g: COUNT for g in GRADES}),
                         "clearance_requested": COUNT}),
        "risk_grades": ref("GradeCounts"),
        "cleaning": nullable(obj(dict(window_days=s("integer"), areas=COUNT,
                                      enterprises=COUNT, **SUMS))),
    }, ["enterprises", "points", "generated_at", "alarms", "warnings", "risk_grades"],
        desc="Counts for the caller's scope (总览)."),
    "GradeCounts": GRADE_COUNTS,
    "Enterprise": ENTERPRISE,
    "EnterpriseList": paged(ref("Enterprise")),
    "EnterpriseDetail": obj({"enterprise": ref("Enterprise"), "systems": arr(DUST_SYSTEM),
                             "points_total": COUNT, "points_online": COUNT},
                            ["enterprise", "systems", "points_total", "points_online"]),
    "EnterpriseCreate": obj(dict(
        district=s("string", "District code (区代码); a district account may omit it."),
        street=nullable(s("string", "Street/town/park code in that district.")),
        **ENT_FIELDS), ["code", "uscc", "name"], strict=True,
        desc="district is required for city accounts. Unknown fields: 400 unknown_field."),
    "EnterpriseUpdate": obj(dict(
        street=nullable(s("string", "Street/town/park code; null detaches.")), **ENT_FIELDS),
        strict=True, desc="At least one field. Enterprise accounts may change the contacts "
        "only (" + ", ".join(CONTACT_FIELDS) + "); other fields answer 403. Sending district "
        "answers 422 (an enterprise cannot move to another district); unknown fields 400."),
    "Created": obj({"id": ID}, ["id"]),
    "ImportResult": obj({"created": COUNT, "updated": COUNT, "errors": arr(s("object"),
                                                                             maxItems=0)},
                        ["created", "updated", "errors"]),
    "Point": POINT,
    "PointList": items_of(ref("Point")),
    "PointUpdate": obj(dict(
        name=s("string", maxLength=100), param_class=s("string", maxLength=100),
        limit_high=N_NUM, limit_high_high=N_NUM, limit_low=N_NUM, limit_low_low=N_NUM,
        deadband=s("number"), min_duration_s=s("integer"), rate_limit=N_NUM,
        rate_window_s=s("integer"), range_min=N_NUM, range_max=N_NUM,
        expected_interval_s=s("integer"), enabled=s("boolean")), strict=True,
        desc="Limit changes (audited with before and after). At least one field; *_s are "
             "whole seconds; deadband and *_s cannot be null."),
    "Series": obj({
        "point_id": ID, "bucket_s": s("integer", "0: raw readings."),
        "items": arr(arr({"type": ["number", "string", "null"]}),
                     "Raw: [epoch_ms, value, quality]; bucketed: [epoch_ms, min, max, avg, n]."),
        "point": ref("Point"), "from": TS, "to": TS,
        "filings": arr(obj({"id": ID, "type": enum(["stop", "maintenance", "disable"]),
                            "state": enum(["approved", "ended", "expired"]), "starts_at": TS,
                            "ends_at": s("string", "The effective end: ended_at after a 复产 "
                                         "report, else the end filed.", format="date-time")},
                           ["id", "type", "state", "starts_at", "ends_at"]),
                       "Approved filings covering the point that overlap the range (the chart shades "
                       "them): alarms there were suppressed and clocks stood still."),
    }, ["point_id", "bucket_s", "items", "point", "from", "to", "filings"]),
    "ApiKey": obj({"id": ID, "label": s("string"), "prefix": s("string"),
                   "created_at": TS, "last_used_at": N_TS, "revoked_at": N_TS},
                  ["id", "label", "prefix", "created_at", "last_used_at", "revoked_at"]),
    "ApiKeyList": items_of(ref("ApiKey")),
    "ApiKeyCreate": obj({"label": s("string", maxLength=100)}, strict=True),
    "ApiKeyCreated": obj({"id": ID, "key": s("string", "The REST API key (dwa_…): shown once, send it "
                                             "as X-Api-Key to /api/v1 (not an ingest credential)."),
                          "prefix": s("string")}, ["id", "key", "prefix"]),
    "Account": obj({"id": ID, "username": s("string"), "display_name": s("string"),
                    "role": enum(ROLES), "region": N_STR, "region_name": N_STR,
                    "enterprise_id": N_ID, "enterprise_name": N_STR, "disabled": s("boolean"),
                    "locked": s("boolean"), "totp_enabled": s("boolean"), "last_login_at": N_TS,
                    "created_at": TS},
                   ["id", "username", "role", "disabled", "locked"]),
    "AccountList": items_of(ref("Account")),
    "AccountCreate": obj({
        "username": s("string"), "display_name": s("string"), "role": enum(ROLES),
        "region": {"type": ["string", "integer"], "description": "Region code for government "
                   "roles (a district admin's own district may be omitted)."},
        "enterprise": {"type": ["string", "integer"], "description": "Enterprise id or code "
                       "for enterprise roles (an enterprise manager's own may be omitted)."},
        "password": s("string", "Initial password; omitted: one is generated and returned.",
                      format="password"),
    }, ["username", "role"], strict=True,
        desc="City admins create city and district accounts; district admins district staff, "
             "street and enterprise accounts; enterprise managers enterprise staff. Others: "
             "403."),
    "AccountCreated": obj({"id": ID, "username": s("string"), "role": enum(ROLES),
                           "initial_password": s("string", "Only when generated.")},
                          ["id", "username", "role"]),
    "AccountUpdate": obj({
        "username": s("string", pattern="^[a-z0-9][a-z0-9._-]{2,63}$"),
        "display_name": s("string", maxLength=200), "role": enum(ROLES),
        "region": {"type": ["string", "integer"], "description": "Region code or id for "
                   "government roles (omitted: the account's own, or the caller's for its level)."},
        "enterprise": {"type": ["string", "integer"], "description": "Enterprise id or code for "
                       "enterprise roles (omitted: the account's own)."},
    }, strict=True, desc="At least one field."),
    "AccountPasswordReset": obj({
        "password": s("string", "The new password; omitted: one is generated and returned.",
                      format="password")}, strict=True),
    "AccountChanged": obj({"id": ID, "sessions_ended": s("integer", "Sessions of the account "
                                                        "that this ended."),
                           "username": s("string"), "role": enum(ROLES),
                           "disabled": s("boolean"), "locked": s("boolean"),
                           "must_change_password": s("boolean"), "totp_enabled": s("boolean"),
                           "initial_password": s("string", "Only when generated; shown once.")},
                          ["id", "sessions_ended"]),
    "AuditList": items_of(obj({"id": ID, "at": TS, "username": s("string"),
                               "source_ip": N_STR, "action": s("string"), "object": s("string"),
                               "result": enum(["ok", "failed", "denied", "locked"]),
                               "detail": s("string")},
                              ["id", "at", "action", "result"])),
    "Alarm": ALARM,
    "AlarmList": paged(ref("Alarm")),
    "AlarmDetail": obj({
        "alarm": ref("Alarm"),
        "events": arr(obj({"id": ID, "at": TS, "recorded_at": N_TS, "action": s("string"),
                           "kind": N_STR, "level": nullable(s("integer")), "value": N_NUM,
                           "threshold": N_NUM, "reason": N_STR, "actor": N_STR,
                           "actor_id": N_ID, "note": N_STR}, ["id", "at", "action"])),
        "readings": obj({"from": TS, "to": TS,
                         "items": arr(arr({"type": ["number", "string", "null"]}),
                                      "[epoch_ms, value, quality], ±30 minutes around the "
                                      "raise, at most 5000.")}, ["from", "to", "items"]),
    }, ["alarm", "events", "readings"]),
    "AlarmAcknowledge": obj({"verdict": enum(["real_hazard", "device_fault", "unknown"]),
                             "note": s("string", maxLength=4000)}, ["verdict"], strict=True),
    "AlarmHandle": obj({"cause_category": enum(["process_abnormal", "equipment_fault",
                                                "sensor_fault", "false_alarm", "other"]),
                        "measures": s("string", minLength=1, maxLength=4000)},
                       ["cause_category", "measures"], strict=True),
    "AlarmClose": obj({"note": nullable(s("string", maxLength=4000))}, strict=True),
    "AlarmShelve": obj({"reason": s("string", minLength=1, maxLength=1000),
                        "until": s("string", "RFC 3339 time in the next 7 days.",
                                   format="date-time")}, ["reason", "until"], strict=True),
    "AlarmUnshelve": obj({"note": nullable(s("string", maxLength=4000))}, strict=True),
    "AlarmBatchAcknowledge": obj({"ids": arr(ID, "1..100 alarm ids."),
                                  "verdict": enum(["real_hazard", "device_fault", "unknown"]),
                                  "note": s("string", maxLength=4000)}, ["ids", "verdict"],
                                 strict=True),
    "Labels": obj({"domains": s("object", "domain → code → {zh, en}: alarm_kind, alarm_reason, "
                                          "alarm_action, risk_rule, grade, warning_status, "
                                          "escalation, enterprise_status, collector_type, "
                                          "industry, dust_kind, indicator_kind, ...")},
                  ["domains"]),
    "AlarmBatchResult": obj({"acknowledged": s("integer"), "refused": s("integer"),
                             "results": arr(obj({"id": ID, "status": s("integer"),
                                                 "state": N_STR, "code": N_STR,
                                                 "detail": N_STR}, ["id", "status"]))},
                            ["acknowledged", "refused", "results"]),
    "Warning": WARNING,
    "WarningList": paged(ref("Warning")),
    "WarningDetail": obj({
        "warning": ref("Warning"),
        "score": nullable(obj(dict(rules=s("array"), **SCORE_PROPS))),
        "events": arr(obj({"id": ID, "at": TS, "action": s("string"), "from_status": N_STR,
                           "to_status": N_STR, "step": nullable(s("integer")),
                           "level": N_STR, "actor": N_STR, "actor_id": N_ID, "note": N_STR,
                           "from_grade": nullable(enum(GRADES)), "to_grade": nullable(enum(GRADES))},
                          ["id", "at", "action"])),
        "escalations": arr(obj({"step": nullable(s("integer")), "at": TS, "level": N_STR,
                                "note": N_STR})),
        "supervisions": arr(obj({"id": ID, "step": s("integer"),
                                 "level": enum(["street", "district", "city"]),
                                 "created_at": TS, "status": enum(["open", "closed"]),
                                 "closed_at": N_TS, "note": N_STR})),
        "enforcement_referrals": arr(obj({"id": ID, "step": s("integer"), "created_at": TS,
                                          "status": enum(["open", "accepted", "closed"]),
                                          "note": N_STR})),
        "current_risk": nullable(obj({"r": s("number"), "grade": enum(GRADES),
                                      "override": N_STR, "computed_at": TS, "score_id": ID})),
    }, ["warning", "score", "events", "escalations", "supervisions", "enforcement_referrals",
        "current_risk"]),
    "WarningNote": obj({"note": nullable(s("string", maxLength=4000))}, strict=True),
    "WarningFeedback": obj({"feedback": s("string", minLength=1, maxLength=4000)},
                           ["feedback"], strict=True),
    "WarningReturn": obj({"reason": s("string", minLength=1, maxLength=4000)}, ["reason"],
                         strict=True),
    "RiskScore": RISK_SCORE,
    "RiskCurrent": obj({
        "enterprise_id": ID,
        "current": nullable(obj(dict(rules=s("array", "Fired rules."),
                                     inputs=s("object", "The engine's inputs."),
                                     **SCORE_PROPS))),
        "open_warnings": arr(obj({"id": ID, "cause": s("string"), "grade": enum(GRADES),
                                  "status": enum(WARN_STATUSES), "issued_at": TS,
                                  "current_level": enum(LEVELS)})),
        "open_alarms": COUNT,
    }, ["enterprise_id", "current", "open_warnings", "open_alarms"]),
    "RiskHistory": obj({"enterprise_id": ID, "items": arr(ref("RiskScore"))},
                       ["enterprise_id", "items"]),
    "RiskDistribution": obj({
        "enterprises": COUNT, "by_grade": ref("GradeCounts"),
        "by_district": arr(obj({"id": ID, "code": s("string"), "name": s("string"),
                                "by_grade": ref("GradeCounts")})),
        "by_street": arr(obj({"id": ID, "code": s("string"), "name": s("string"),
                              "by_grade": ref("GradeCounts")})),
        "generated_at": TS,
    }, ["enterprises", "by_grade", "by_district", "by_street", "generated_at"]),
    "RiskRanking": paged(obj({"rank": s("integer", minimum=1), "enterprise": ENT_REF,
                                 "r": s("number"), "grade": enum(GRADES), "override": N_STR,
                                 "computed_at": TS, "open_warnings": COUNT},
                                ["rank", "enterprise", "r", "grade"])),
    # risk model versions and backtest (api/resources/backtest.c)
    "RiskModelInfo": obj({"in_force": obj({"version": s("string"),
                                           "source": enum(["file", "database"]),
                                           "file": s("string", "The model file (source file)."),
                                           "activated_at": nullable(TS),
                                           "parameters": s("object", "The model JSON "
                                                           "(schema/risk-model.schema.json).")},
                                          ["version", "source", "parameters"]),
                          "versions": arr(obj({"id": ID, "version": s("string"),
                                               "created_by": s("string"), "created_at": TS,
                                               "active": s("boolean"),
                                               "activated_at": nullable(TS)}))},
                         ["in_force", "versions"]),
    "RiskModelCreate": obj({"model": s("object", "A risk model (schema/risk-model.schema.json), "
                                                 "checked by the strict loader."),
                            "activate": s("boolean", "Put it in force (the worker loads it at its "
                                                     "next tick, no restart).")},
                           ["model"], strict=True),
    "RiskModelStored": obj({"id": ID, "version": s("string"), "active": s("boolean")},
                           ["id", "version", "active"]),
    "RiskBacktestRequest": obj({"model": s("object", "Candidate model; absent = the model in "
                                                     "force."),
                                "from": s("string", format="date-time"),
                                "to": s("string", "After from, at most 400 days later.",
                                        format="date-time")}, ["from", "to"], strict=True),
    "RiskBacktest": obj({"from": TS, "to": TS, "model_version": s("string"),
                         "enterprises": COUNT, "stored_versions": arr(s("string")),
                         "stored": s("object", "grade → enterprises, stored grades."),
                         "candidate": s("object", "grade → enterprises, candidate model."),
                         "changed": arr(obj({"enterprise_id": ID, "code": s("string"),
                                             "name": s("string"), "from": enum(GRADES),
                                             "r_from": s("string"), "to": enum(GRADES),
                                             "r_to": s("number"),
                                             "override_reason": N_STR})),
                         "unreadable": COUNT},
                        ["model_version", "stored", "candidate", "changed"]),
    # notifications (api/resources/notify.c)
    "Subscription": obj({"id": ID, "name": s("string"), "scope_kind": enum(["city", "district", "street", "enterprise"]),
                         "scope_id": ID, "channel": enum(["webhook", "sms", "inapp"]), "url": N_STR, "phone": N_STR,
                         "to_duty": s("boolean"), "to_watch": s("boolean"), "events": arr(enum(["warning", "alarm", "warning_action", "overdue", "filing", "cleaning_due"])),
                         "levels": arr(enum(["1", "2", "blue", "yellow", "orange", "red"])),
                         "enabled": s("boolean"), "created_by": s("string"), "created_at": TS},
                        ["id", "scope_kind", "scope_id", "channel", "events", "levels", "enabled"]),
    "SubscriptionList": items_of(ref("Subscription")),
    "SubscriptionCreate": obj({"name": s("string", maxLength=100), "channel": enum(["webhook", "sms", "inapp"]),
                               "url": s("string", "webhook: http(s) URL.", maxLength=2000),
                               "phone": s("string", "sms: one phone.", pattern="^\\+?[0-9]{5,20}$"),
                               "to_duty": s("boolean", "sms: the duty roster of the event's enterprise."),
                               "to_watch": s("boolean", "sms or inapp (required there): the person on watch of the "
                                             "event enterprise's district at the time (duty shifts)."),
                               "events": arr(enum(["warning", "alarm", "warning_action", "overdue", "filing", "cleaning_due"]), "1..8 families."),
                               "levels": arr(enum(["1", "2", "blue", "yellow", "orange", "red"]), "Empty: all."),
                               "scope_kind": enum(["city", "district", "street", "enterprise"]),
                               "scope_id": ID}, ["channel", "events"], strict=True),
    "SubscriptionCreated": obj({"id": ID, "scope_kind": s("string"), "scope_id": ID, "channel": s("string"),
                                "secret": s("string", "webhook: the HMAC-SHA256 key, hex, shown only here.")},
                               ["id", "secret"]),
    "SubscriptionUpdate": obj({"name": s("string", maxLength=100), "enabled": s("boolean"),
                               "events": arr(enum(["warning", "alarm", "warning_action", "overdue", "filing", "cleaning_due"])),
                               "levels": arr(enum(["1", "2", "blue", "yellow", "orange", "red"]))}, strict=True),
    "IdOnly": obj({"id": ID}, ["id"]),
    "DeliveryLog": items_of(obj({"id": ID, "subscription_id": ID, "dedup_key": s("string"), "event": s("string"),
                                 "channel": s("string"), "target": s("string"), "enterprise_id": ID,
                                 "account_id": nullable(ID), "read_at": nullable(TS),
                                 "status": enum(["pending", "retrying", "sent", "failed", "read"]), "attempts": COUNT,
                                 "created_at": TS, "delivered_at": nullable(TS), "last_error": s("string"),
                                 "next_attempt_at": TS,
                                 "deliveries": arr(obj({"attempt": COUNT, "at": TS, "result": enum(["sent", "failed", "delivered", "read"]),
                                                        "http_status": nullable(s("integer")), "detail": s("string"),
                                                        "duration_ms": COUNT}))},
                                ["id", "dedup_key", "status", "deliveries"])),
    "DutyRoster": obj({"enterprise_id": ID, "items": arr(obj({"id": ID, "system_id": nullable(ID), "name": s("string"),
                                                             "phone": s("string"),
                                                             "duty": enum(["duty", "safety_manager", "principal"]),
                                                             "active": s("boolean")}))}, ["enterprise_id", "items"]),
    "DutyRosterAdd": obj({"name": s("string", minLength=1, maxLength=100), "phone": s("string"),
                          "duty": enum(["duty", "safety_manager", "principal"]), "system_id": ID},
                         ["name", "phone"], strict=True),
    "CleaningArea": AREA,
    "CleaningAreaList": items_of(ref("CleaningArea")),
    "CleaningAreaCreate": obj({"name": s("string", minLength=1, maxLength=100),
                               "frequency": enum(["per_shift", "daily", "weekly"]),
                               "active": s("boolean")}, ["name", "frequency"], strict=True),
    "CleaningAreaUpdate": obj({"name": s("string", minLength=1, maxLength=100),
                               "frequency": enum(["per_shift", "daily", "weekly"]),
                               "active": s("boolean")}, strict=True,
                              desc="At least one field."),
    "Checkin": CHECKIN,
    "CheckinList": paged(ref("Checkin")),
    "CheckinCreate": obj({
        "person": s("string", minLength=1, maxLength=100),
        "method": enum(["vacuum", "wet_wipe", "sweep", "other"]),
        "note": nullable(s("string", maxLength=2000)),
        "checked_at": nullable(s("string", "RFC 3339 with offset or epoch ms; within the last "
                                 "30 days and not in the future (422); default now.")),
        "photo": nullable(s("string", "Base64 JPEG or PNG (a data: URL prefix is accepted), at "
                            "most 2 MB decoded; else 422 photo_invalid.",
                            contentEncoding="base64")),
    }, ["person", "method"], strict=True),
    "Compliance": obj({
        "from": TS, "to": TS,
        "totals": obj(dict(areas=COUNT, enterprises=COUNT, **SUMS)),
        "enterprises": arr(obj(dict(id=ID, code=s("string"), name=s("string"),
                                    district_id=ID, street_id=N_ID, **SUMS,
                                    areas=arr(obj(dict(id=ID, name=s("string"),
                                                       frequency=s("string"),
                                                       required=COUNT, done=COUNT,
                                                       missed=COUNT, late=COUNT)))))),
        "streets": arr(obj(dict(id=ID, code=s("string"), name=s("string"),
                                enterprises=COUNT, **SUMS))),
    }, ["from", "to", "totals", "enterprises", "streets"],
        desc="Cleaning compliance (清理合规): complete periods in [from, to) after each area "
             "was created; late = done periods first recorded after the period ended."),
    "DustSystem": SYSTEM,
    "DustSystemList": items_of(ref("DustSystem")),
    "DustSystemCreate": obj(SYSTEM_FIELDS, ["code", "name"], strict=True),
    "DustSystemUpdate": obj(SYSTEM_FIELDS, strict=True, desc="At least one field."),
    "PointCreate": obj(POINT_CREATE_FIELDS, ["code", "kind"], strict=True,
                       desc="The names and rules of PointUpdate, plus identity. Types and whole "
                            "seconds: 400; the limit order, ranges and catalogue: 422."),
    "PointStored": POINT_STORED,
    "Camera": CAMERA,
    "CameraList": items_of(ref("Camera")),
    "CameraCreate": obj(CAMERA_FIELDS, ["code", "name"], strict=True),
    "CameraUpdate": obj({k: v for k, v in CAMERA_FIELDS.items() if k != "code"}, strict=True,
                        desc="At least one field; code cannot change (400)."),
    "Gateway": GATEWAY,
    "GatewayList": items_of(ref("Gateway")),
    "GatewayCreate": obj(GATEWAY_FIELDS, ["code"], strict=True),
    "GatewayUpdate": obj(GATEWAY_FIELDS, strict=True, desc="At least one field."),
    "Deleted": DELETED,
    "IngestCredential": CREDENTIAL,
    "IngestCredentialList": items_of(ref("IngestCredential")),
    "IngestCredentialCreate": obj({
        "kind": enum(CRED_KINDS, "api_key: X-Api-Key for /ingest/v1; hebei_des: the Hebei V1.1 "
                     "DES key (one active per enterprise, 409); mem_sm4: MEM appid, appsecret "
                     "and SM4 key/IV."),
        "label": s("string", "What the credential is for, e.g. the gateway.", maxLength=100),
        "appid": s("string", "mem_sm4 only: a given appid (1 to 64 of A-Z a-z 0-9 . _ -; 409 "
                   "when taken); default: generated.", maxLength=64),
    }, ["kind"], strict=True),
    "IngestCredentialIssued": {"allOf": [ref("IngestCredential"), obj({
        "secret": obj({
            "api_key": s("string", "api_key: dwk_… (47 characters)."),
            "header": s("string", "api_key: the header to send it in (X-Api-Key)."),
            "des_key": s("string", "hebei_des: 8 letters and digits."),
            "des_iv": s("string", "hebei_des: the deployment's DES-CBC IV."),
            "appid": s("string"), "appsecret": s("string", "mem_sm4: the appsecret header."),
            "sm4_key": s("string", "mem_sm4: 32 hex digits."),
            "sm4_iv": s("string", "mem_sm4: 32 hex digits."),
        }, desc="Shown only in this answer: the server keeps hashes (api_key, appsecret) or the "
                "cipher keys it decrypts with, and never answers them again."),
    }, ["secret"])]},
    # --- upward forwarding (issue 18)
    "ForwardTarget": obj({
        "id": ID, "name": s("string"), "url": s("string"), "dialect": enum(["hebei", "mem"]),
        "appid": N_STR, "owner_district": N_ID, "district_ids": arr(ID), "enterprise_ids": arr(ID),
        "kinds": arr(enum(["readings", "events", "videos", "alarms"])), "rate_per_s": s("integer"),
        "batch_max": s("integer"), "enabled": s("boolean"), "last_ok_at": N_TS,
        "last_error": N_STR, "last_error_at": N_TS, "created_at": TS, "updated_at": TS,
    }, ["id", "name", "url", "dialect"], desc="An upstream platform; its credentials are never answered."),
    "ForwardTargetList": items_of(ref("ForwardTarget")),
    "ForwardTargetWrite": obj({
        "name": s("string", minLength=1, maxLength=100),
        "url": s("string", "Base URL, http(s), no trailing slash: hebei …/rabbitmqfcsb, mem …/mem/v1.",
                 maxLength=500),
        "dialect": enum(["hebei", "mem"], "Create only."),
        "appid": s("string", "mem: the appid the upstream issued.", maxLength=64),
        "credentials": obj({"des_key": s("string", "hebei: 8 characters."),
                            "des_iv": s("string", "hebei: 8 characters (default 12345678)."),
                            "appsecret": s("string", "mem: 1 to 64 characters."),
                            "sm4_key": s("string", "mem: 32 hex digits."),
                            "sm4_iv": s("string", "mem: 32 hex digits.")},
                           desc="Sealed with the master key; required on create."),
        "district_ids": arr(ID, "Empty: every district (a district administrator's: its own)."),
        "enterprise_ids": arr(ID, "Empty: every enterprise of the districts."),
        "kinds": arr(enum(["readings", "events", "videos", "alarms"])),
        "rate_per_s": s("integer", minimum=1, maximum=1000),
        "batch_max": s("integer", minimum=1, maximum=5000),
        "enabled": s("boolean"),
    }, strict=True, desc="Create: name, url, dialect, credentials (and appid for mem) required."),
    "ForwardCodeList": items_of(obj({"object": enum(["enterprise", "gateway", "point"]),
                                     "local_code": s("string"), "upstream_code": s("string"),
                                     "updated_at": TS})),
    "ForwardCodeSet": obj({"object": enum(["enterprise", "gateway", "point"]),
                           "local_code": s("string", maxLength=64),
                           "upstream_code": nullable(s("string", "1 to 64 of A-Z a-z 0-9 . _ -; "
                                                       "null removes the mapping."))},
                          ["object", "local_code", "upstream_code"], strict=True),
    "ForwardDeadLetter": obj({
        "id": ID, "target_id": ID, "enterprise_id": ID, "enterprise_code": s("string"),
        "kind": enum(["readings", "events", "videos", "alarms"]), "items": COUNT,
        "http_status": nullable(s("integer")), "upstream_code": nullable(s("integer")),
        "reason": s("string"), "created_at": TS, "resend_requested_at": N_TS,
        "resends": COUNT, "resolved_at": N_TS}),
    "ForwardDeadLetterList": items_of(ref("ForwardDeadLetter")),
    "ForwardResend": obj({"id": ID, "target_id": ID, "kind": s("string"), "items": COUNT,
                          "reason": s("string"), "resolved_at": N_TS,
                          "resend_requested": s("boolean")}),
    "ForwardReport": obj({
        "target_id": ID, "from": s("string", format="date"), "to": s("string", format="date"),
        "days": arr(obj({"day": s("string", format="date"), "kind": s("string"), "sent": COUNT,
                         "acked": COUNT, "refused": COUNT, "resent_acked": COUNT,
                         "requests": COUNT, "failures": COUNT})),
        "totals": obj({"sent": COUNT, "acked": COUNT, "refused": COUNT, "resent_acked": COUNT,
                       "requests": COUNT, "failures": COUNT}),
        "outbox_pending": COUNT, "lag_s": s("number"), "dead_letters_open": COUNT,
        "last_ok_at": N_TS, "last_error": N_STR, "last_error_at": N_TS,
    }, desc="Reconciliation per UTC day of sending and kind: sent = acked + refused (each item "
            "once); failures are transport failures retried."),
    "LiveEvent": obj({
        "type": s("string", "Also the SSE event name, e.g. alarm, warning."),
        "action": s("string"), "id": ID, "enterprise_id": ID, "district_id": ID,
        "street_id": N_ID, "state": s("string"), "ts": s("integer", "Epoch milliseconds."),
    }, ["type"], desc="The JSON in an SSE data: line; other types may appear."),
    "Statistics": obj({
        "from": TS, "to": TS,
        "computed_to": s("string", "min(to, the moment the figures were counted): where the "
                         "online rate's period ends. For the city's today, this week, this month "
                         "and last month the figures may be summed from the worker's snapshot "
                         "(stats_snapshot_s, at most 3 x that old, never older than the caller's "
                         "own last write); computed_to is then when it was counted.",
                         format="date-time"),
        "points_now_as_of": s("string", "When the figures of now (points, points_online, "
                              "connected) were counted: for an answer summed from a snapshot, when "
                              "it was counted; for any other, the newest snapshot's time when one "
                              "may answer (as above: the points now are the same for every "
                              "period), else the moment of the request.", format="date-time"),
        "group": s("string"), "connected_window_s": COUNT,
        "filters": obj({}),
        "totals": ref("StatFigures"),
        "spot_checks": obj(dict(checks=COUNT, findings=COUNT, hazards=COUNT, closed=COUNT),
                           desc="在线抽查: checks done in the period on enterprises of the scope (district, "
                                "street and enterprise filters), their findings, those reported as hazards, "
                                "and those closed by now"),
        "rows": arr({"allOf": [obj(dict(key=s("string"), code=s("string"), name=N_STR)),
                               ref("StatFigures")]}),
        "rows_total": s("integer", "Group rows in all (rows holds a page of them).", minimum=0),
        "offset": COUNT, "limit": COUNT,
        "sort": nullable(s("string", "The ranking asked for, or null (by key).")),
    }, ["from", "to", "totals", "rows", "rows_total", "offset", "limit"]),
    "StatFigures": obj(dict(
        enterprises=COUNT,
        connected=s("integer", "Every enabled mandatory point sent data within "
                    "connected_window_h (now).", minimum=0),
        points=COUNT, points_online=COUNT,
        point_hours=s("integer", "Enabled points x hours of the period, less the point-hours under "
                      "an approved filing (停产/检修/停用 while in force).", minimum=0),
        point_hours_with_data=s("integer", "Of point_hours, those with at least one reading.",
                                minimum=0),
        online_rate=nullable(s("number", "Point-hours with data / point-hours of the period.")),
        interruptions=obj(dict(count=COUNT, hours=s("number"))),
        alarms=obj({}), warnings=obj({}), cleaning=obj({}),
        hazards=obj(dict(found=COUNT, found_major=COUNT, closed=COUNT,
                         closed_rate=nullable(s("number")), open=COUNT, open_major=COUNT,
                         overdue=COUNT, overdue_major=COUNT),
                    desc="Hazards (隐患): confirmed ones found in the period (major; closed of "
                         "them, and the rate); open and past their deadline now."),
        links=obj({}, desc="Drill-down: list routes with the filters of this figure."),
    )),
}

# ---------------------------------------------------------------------------
# parameters

PARAMS = {
    "id": {"name": "id", "in": "path", "required": True,
           "description": "Object id (a positive integer); ids outside the caller's scope "
                          "answer 404.",
           "schema": ID},
    "limit50": {"name": "limit", "in": "query", "description": "Page size (default 50).",
                "schema": s("integer", minimum=1, maximum=500, default=50)},
    "offset": {"name": "offset", "in": "query", "description": "Items to skip (default 0).",
               "schema": s("integer", minimum=0, maximum=1000000, default=0)},
    "district": {"name": "district", "in": "query", "description": "District code.",
                 "schema": s("string")},
    "street": {"name": "street", "in": "query", "description": "Street/town/park code.",
               "schema": s("string")},
    "enterprise": {"name": "enterprise", "in": "query", "description": "Enterprise id.",
                   "schema": ID},
    "from": {"name": "from", "in": "query",
             "description": "Start (inclusive): RFC 3339 with offset, or epoch milliseconds.",
             "schema": s("string")},
    "to": {"name": "to", "in": "query",
           "description": "End (exclusive): RFC 3339 with offset, or epoch milliseconds.",
           "schema": s("string")},
    "overdue": {"name": "overdue", "in": "query",
                "description": "true/1 or false/0: only (not) overdue.",
                "schema": enum(["true", "false", "1", "0"])},
    "open": {"name": "open", "in": "query",
             "description": "true/1 or false/0: only open (not closed/cleared) or only finished.",
             "schema": enum(["true", "false", "1", "0"])},
}


def csv_param(name, values, desc):
    return {"name": name, "in": "query", "style": "form", "explode": False,
            "description": desc + " Comma-separated; each one of: " + ", ".join(values) + ".",
            "schema": arr(enum(values))}


def P(name):
    return {"$ref": "#/components/parameters/" + name}


XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def Q(name, schema, desc):
    """An inline query parameter of one route."""
    return {"name": name, "in": "query", "description": desc, "schema": schema}


def ent_class(grade):
    """The statistics' classes of an enterprise as a list's filters (their figures link there);
    grade: the name of the risk grade's parameter (risk_grade where the list has its own)."""
    return [Q("industry", s("string"), "The enterprise's GB/T 4754 industry code, e.g. C3360; "
              "none: enterprises without one."),
            Q("dust_kind", s("string"), "One of the enterprise's dust kind codes, e.g. aluminium; "
              "none: enterprises with no dust kind recorded."),
            Q(grade, enum(GRADES + ["none"]),
              "The enterprise's current risk grade (none: not scored yet).")]


# ---------------------------------------------------------------------------
# what each route's operation is, keyed by its operation id in api/routes.c
# (method, path, roles and limits come from the table, not from here)


def json_body(schema, required=True, desc=None):
    b = {"required": required, "content": {"application/json": {"schema": schema}}}
    if desc:
        b["description"] = desc
    return b


def ok(schema, desc="OK", status=200, media="application/json"):
    return {str(status): {"description": desc, "content": {media: {"schema": schema}}}}


OPERATIONS = {
    # --- meta
    "getVersion": dict(tag="meta",
         zh="服务版本", en="Server name and version",
         resp=ok(ref("Version"))),
    "listRoutes": dict(tag="meta",
         zh="路由表", en="The route table",
         desc="The dispatcher's route table as data: method, path pattern, operation id, "
              "whether public, admin-only or open before a required password change, the roles "
              "admitted and the body limit. This document is generated from it (`dustwatch "
              "routes --json` prints the same table).",
         resp=ok(ref("RouteTable"))),
    "getOpenApi": dict(tag="meta",
         zh="OpenAPI 文档", en="This OpenAPI document",
         desc="schema/openapi.json (config key openapi_file), read per request; 404 when not "
              "installed.",
         resp=ok(s("object"), "The OpenAPI 3.1 document."), err=[404]),
    # --- auth
    "login": dict(tag="auth",
         zh="登录", en="Log in",
         desc="Verifies the password and opens a session: the token comes back in the body and "
              "as the HttpOnly cookie dw_session. Unknown user, wrong password, disabled or "
              "locked account all answer 401 login_failed (the same argon2id verification and "
              "failed-login transaction); repeated failures lock the account. Each client "
              "address (behind a trusted proxy, the one it forwarded for) has a budget of "
              "failed logins (login_ip_burst, earned back at login_ip_per_minute; a successful "
              "login gives its attempt back): beyond it 429 too_many_requests with Retry-After, "
              "before any hashing. An account with a confirmed TOTP second factor needs "
              "totp_code: without it (and only after the right password) 401 totp_required; a "
              "wrong or already used code is a failed login. 503 overloaded when too many "
              "logins hash at once.",
         body=json_body(ref("LoginRequest")),
         resp={"200": {"description": "Logged in.",
                       "headers": {"Set-Cookie": {"description": "dw_session=<token>; Path=/; "
                                                  "HttpOnly; SameSite=Strict; Max-Age=…; "
                                                  "Secure when public_url is https (or "
                                                  "cookie_secure = 1)",
                                                  "schema": s("string")}},
                       "content": {"application/json": {"schema": ref("LoginResponse")}}}},
         err=[400, 401, 429, 503]),
    "logout": dict(tag="auth",
         zh="退出登录", en="Log out",
         desc="Revokes the caller's session and clears the cookie. No body needed.",
         resp={"200": {"description": "Logged out.",
                       "headers": {"Set-Cookie": {"description": "Clears dw_session.",
                                                  "schema": s("string")}},
                       "content": {"application/json": {"schema": obj(
                           {"logged_out": s("boolean", const=True)}, ["logged_out"])}}}}),
    "getMe": dict(tag="auth",
         zh="当前用户", en="The caller's account and scope",
         resp=ok(ref("Me")), err=[404]),
    "enrolTotp": dict(tag="auth",
         zh="启用双因素认证", en="Enrol a TOTP second factor (administrators)",
         desc="Generates a secret (RFC 6238: HMAC-SHA1, 30 s, 6 digits) and answers it once, as "
              "base32 and as an otpauth:// URI for the authenticator app. It is stored sealed "
              "under the server's totp_key (never in the database) and unconfirmed: login asks "
              "for codes only after confirmTotp. Enrolling again before confirming replaces it; "
              "409 once confirmed (an administrator resets it: resetAccountTotp). 422 when the "
              "server has no totp_key. Audited without the secret.",
         resp=ok(obj({"secret": s("string", "Base32, shown once."),
                      "otpauth_uri": s("string", "otpauth://totp/dustwatch:<user>?secret=…"),
                      "totp_enabled": s("boolean", const=False)},
                     ["secret", "otpauth_uri", "totp_enabled"])), err=[409, 422]),
    "confirmTotp": dict(tag="auth",
         zh="确认双因素认证", en="Confirm the TOTP enrolment with a code",
         desc="A current code of the enrolled secret enables the second factor (422 "
              "totp_invalid otherwise; 409 invalid_transition without an enrolment, conflict "
              "when enabled already). Audited.",
         body=json_body(obj({"code": s("string", pattern="^[0-9]{6}$")}, ["code"], strict=True)),
         resp=ok(obj({"totp_enabled": s("boolean", const=True)}, ["totp_enabled"])),
         err=[400, 409, 422]),
    "changePassword": dict(tag="auth",
         zh="修改密码", en="Change the caller's password",
         desc="Checks the policy (422 password_policy; a published demo password is refused "
              "too) and the current password (401 login_failed); the new password must differ "
              "from the current one and the last password_history ones (422 password_reused), "
              "also during a forced change. Then stores it, keeps the replaced one's hash in the "
              "history and revokes the account's other sessions. API keys have no password (403).",
         body=json_body(ref("PasswordChange")),
         resp=ok(obj({"changed": s("boolean", const=True)}, ["changed"])), err=[400, 422]),
    # --- regions, overview, events
    "listRegions": dict(tag="regions",
         zh="行政区划", en="Regions in scope",
         desc="The city → district → street/town/park tree as far as the caller's scope "
              "reaches, with enterprise counts.",
         resp=ok(items_of(ref("Region")))),
    "createRegion": dict(tag="regions",
         zh="新建街道/镇/园区", en="Create a street, town or park",
         desc="City administrators under any district, district administrators under their own. "
              "409 conflict when the code exists, 422 when parent_id is no district of the "
              "caller's scope. Audited (region_create).",
         body=json_body(ref("RegionCreate")),
         resp=ok(ref("RegionManaged"), "Created.", 201), err=[400, 409, 422]),
    "updateRegion": dict(tag="regions",
         zh="修改街道/镇/园区", en="Rename, re-kind, move or disable a street, town or park",
         desc="Named fields change. A new parent_id moves the region and its enterprises to "
              "that district (city administrators; a district administrator only keeps its "
              "own, else 422); live-event streams follow at once. disabled: true keeps the "
              "region's enterprises and accounts but refuses new enterprises in it. Audited with "
              "the row before (region_update).",
         body=json_body(ref("RegionUpdate")),
         resp=ok(ref("RegionManaged")), err=[400, 409, 422]),
    "deleteRegion": dict(tag="regions",
         zh="删除街道/镇/园区", en="Delete a disabled street, town or park",
         desc="409 invalid_transition unless disabled first; 409 in_use while enterprises, "
              "accounts or reports refer to it. Audited with the deleted row (region_delete).",
         resp=ok(ref("Deleted")), err=[409]),
    "getOverview": dict(tag="overview",
         zh="总览", en="Overview counts for the caller's scope",
         desc="Enterprises, connection and online points, status and dust-kind counts, open and "
              "overdue alarms, warnings by grade, risk grades and 7-day cleaning compliance.",
         resp=ok(ref("Overview"))),
    "streamEvents": dict(tag="events",
         zh="实时事件流 (SSE)", en="Live events (Server-Sent Events)",
         desc="A text/event-stream of changes in the caller's scope (alarm, warning, … as the "
              "event name; data is one LiveEvent JSON). Starts with `retry: 2000`; keep-alive "
              "comments every 15 s. Reconnect with Last-Event-ID to get what was missed as far "
              "as the server's ring (1024 events) holds it. The stream ends with its credential: "
              "when the session is logged out, revoked, expired or idle, its account disabled or "
              "locked, or the API key revoked (checked every event_stream_check_s, default 5 s, "
              "and at once for revocations made through this server), a last message "
              "`event: end` with data `{\"reason\":\"session_ended\"}` or "
              "`{\"reason\":\"key_revoked\"}` is sent and the response ends; reconnecting is "
              "refused 401. An open stream counts as activity of its session "
              "(session_idle_timeout_s). 503 overloaded while shutting down.",
         params=[{"name": "Last-Event-ID", "in": "header", "required": False,
                  "description": "The last id received; the stream resumes after it.",
                  "schema": s("string", pattern="^[0-9]+$")}],
         resp={"200": {"description": "The event stream.",
                       "content": {"text/event-stream": {
                           "schema": s("string", "id: <seq>\\nevent: <type>\\ndata: "
                                       "<LiveEvent JSON>\\n\\n"),
                           "example": "retry: 2000\n: connected\n\nid: 7\nevent: alarm\n"
                                      "data: {\"type\":\"alarm\",\"action\":\"acknowledge\","
                                      "\"id\":3,\"enterprise_id\":1,\"district_id\":2,"
                                      "\"street_id\":5,\"state\":\"acknowledged\","
                                      "\"ts\":1767225600000}\n\n"}}}},
         extra={"x-event-schema": ref("LiveEvent")}),
    # --- enterprises
    "listEnterprises": dict(tag="enterprises",
         zh="企业列表", en="List enterprises in scope",
         desc="Ordered by name. Filters combine with AND.",
         params=[P("district"), P("street"),
                 {"name": "status", "in": "query", "description": "Operating status.",
                  "schema": enum(["producing", "stopped", "overhaul"])},
                 {"name": "q", "in": "query", "description": "Name substring, or exact code or "
                  "USCC.", "schema": s("string")},
                 *ent_class("grade"), P("limit50"), P("offset")],
         resp=ok(ref("EnterpriseList")), err=[400]),
    "createEnterprise": dict(tag="enterprises",
         zh="新建企业档案", en="Create an enterprise",
         desc="City accounts name the district; district accounts create in their own. 409 when "
              "code or USCC is held by an enterprise in your scope (detail names it); 422 when a "
              "rule of the archive is broken (e.g. unknown street or dust kind) or a value is "
              "refused: a malformed code or USCC and one held outside your scope get the same "
              "fixed detail (\"code was refused: malformed, or not available\").",
         body=json_body(ref("EnterpriseCreate")),
         resp=ok(ref("Created"), "Created.", 201), err=[400, 409, 422]),
    "exportEnterprises": dict(tag="enterprises",
         zh="导出企业基础情况表 (CSV)", en="Export the survey table as CSV",
         desc="粉尘涉爆企业基础情况表: UTF-8 with BOM, CRLF, Chinese headers; 街道代码 and 区代码 "
              "make the file importable again; then the dust systems' columns (附件4: 除尘方式, "
              "防爆措施, 锁气卸灰, 火花探测, 清灰; the import ignores them). Only the enterprises "
              "the filters select (those of the list, and industry, connection_status, grade). "
              "Cells starting with = + - @ are neutralised. Audited.",
         params=[P("district"), P("street"), Q("status", s("string"), "Enterprise status."),
                 Q("q", s("string"), "Part of the name, or the whole code or credit code."),
                 Q("dust_kind", s("string"), "Dust kind code."),
                 Q("industry", s("string"), "Industry code."),
                 Q("connection_status", enum(["not_connected", "connected", "suspended"]),
                   "Connection status."),
                 Q("grade", enum(GRADES), "Current risk grade.")],
         resp={"200": {"description": "The table.",
                       "headers": {"Content-Disposition": {"description": "attachment; "
                                   "filename=\"enterprises.csv\"", "schema": s("string")}},
                       "content": {"text/csv": {"schema": s("string")}}}}),
    "importEnterprises": dict(tag="enterprises",
         zh="导入企业基础情况表 (Excel/CSV)",
         en="Import the survey table (XLSX or CSV)",
         desc="The export's header (columns matched by name; 统一社会信用代码, 企业编码, 企业名称 and "
              "区代码 required). Rows are matched by USCC: existing ones are updated, others "
              f"created. All or nothing: any bad row answers 422 {IMPORT_REFUSED} with the rows "
              "listed by their line in the file (a workbook: the sheet's row number, blank rows "
              "counted); at most 5000 rows. An XLSX workbook (its first sheet, recognised by its "
              "bytes) or UTF-8 CSV; GBK/UTF-16 text or a damaged workbook answers 415 file_format.",
         body={"required": True, "content": {"text/csv": {"schema": s("string")},
                                             XLSX_MEDIA: {"schema": s("string", format="binary")}}},
         resp=ok(ref("ImportResult")),
         err=[400, 415],
         err422={"description": f"Import refused ({IMPORT_REFUSED}, rows listed) or the header "
                                "lacks a required column (unprocessable).",
                 "content": {"application/json": {"schema": {
                     "oneOf": [ref("ImportRefused"), ref("Error")]}}}}),
    "getEnterprise": dict(tag="enterprises",
         zh="企业档案", en="One enterprise with its dust systems",
         resp=ok(ref("EnterpriseDetail"))),
    "updateEnterprise": dict(tag="enterprises",
         zh="修改企业档案", en="Update an enterprise",
         desc="Districts (and the city) edit the archive; enterprise accounts edit their "
              "contacts only; street accounts review (403). Answers the updated enterprise. "
              "409 and 422 as for create: a code or USCC held in your scope is named, one held "
              "outside it reads like a malformed one.",
         body=json_body(ref("EnterpriseUpdate")),
         resp=ok(ref("EnterpriseDetail")), err=[400, 409, 422]),
    "listEnterprisePoints": dict(tag="points",
         zh="企业监测点", en="An enterprise's points with latest values",
         desc="Latest values come from Redis when it holds a complete copy of the "
              "enterprise's values, from PostgreSQL otherwise (the answer is the same).",
         params=[{"name": "system_id", "in": "query",
                  "description": "Only the points of this dust-removal system.",
                  "schema": s("integer", minimum=1)}],
         resp=ok(ref("PointList")), err=[400]),
    "listApiKeys": dict(tag="api-keys",
         zh="企业 API 密钥", en="An enterprise's API keys",
         desc="Prefixes only; keys are stored as SHA-256.",
         resp=ok(ref("ApiKeyList"))),
    "createApiKey": dict(tag="api-keys",
         zh="签发 API 密钥", en="Issue an API key",
         desc="District admins and enterprise managers. The key is answered once; send it as "
              "X-Api-Key (REST, ingest) — it acts as enterprise_staff.",
         body=json_body(ref("ApiKeyCreate")),
         resp=ok(ref("ApiKeyCreated"), "Created.", 201), err=[400]),
    "revokeApiKey": dict(tag="api-keys",
         zh="吊销 API 密钥", en="Revoke an API key",
         resp=ok(obj({"revoked": s("boolean", const=True)}, ["revoked"]))),
    "getPoint": dict(tag="points",
         zh="监测点详情", en="One point", resp=ok(ref("Point"))),
    "updatePoint": dict(tag="points",
         zh="修改报警阈值", en="Change a point's limits",
         desc="Alarm limits are set by the district (or the city); audited with before and "
              "after. Answers the updated point. 422 when the database refuses the values.",
         body=json_body(ref("PointUpdate")),
         resp=ok(ref("Point")), err=[400, 422]),
    "getPointSeries": dict(tag="points",
         zh="监测数据曲线", en="A point's time series",
         desc="Default range: the last 24 hours; at most 400 days. Without bucket, ranges over "
              "6 hours are downsampled to at most about 300 buckets of 1 min .. 1 day (min, max, "
              "avg, n); day buckets start at Beijing midnight. Whole-hour buckets are answered "
              "from hourly rollups, whole-minute buckets from minute rollups (ranges over 3 "
              "hours), both completed with raw readings where the rollups are not yet "
              "up to date, so every answer equals aggregating the raw readings.",
         params=[P("from"), P("to"),
                 {"name": "bucket", "in": "query", "description": "Bucket seconds; 0: raw.",
                  "schema": s("integer", minimum=0, maximum=604800)}],
         resp=ok(ref("Series")), err=[400]),
    # --- monitoring assets (api/resources/assets.c, api/resources/credentials.c)
    "listDustSystems": dict(tag="assets",
         zh="除尘系统列表", en="An enterprise's dust-removal systems",
         desc="Ordered by code, with the number of points and cameras of each.",
         resp=ok(ref("DustSystemList"))),
    "createDustSystem": dict(tag="assets",
         zh="新建除尘系统", en="Add a dust-removal system",
         desc="Systems feed the risk score, so the city and the district write them, not the "
              "enterprise. 409 when the enterprise has the code; 422 when the table refuses a "
              "value. Audited; asks the worker to score the enterprise again.",
         body=json_body(ref("DustSystemCreate")),
         resp=ok(ref("DustSystem"), "Created.", 201), err=[400, 409, 422]),
    "getDustSystem": dict(tag="assets",
         zh="除尘系统详情", en="One dust-removal system", resp=ok(ref("DustSystem"))),
    "updateDustSystem": dict(tag="assets",
         zh="修改除尘系统", en="Change a dust-removal system",
         desc="Named fields change, others stay; null clears airflow_m3h. Audited with the row "
              "before.",
         body=json_body(ref("DustSystemUpdate")),
         resp=ok(ref("DustSystem")), err=[400, 409, 422]),
    "deleteDustSystem": dict(tag="assets",
         zh="删除除尘系统", en="Delete a dust-removal system",
         desc="409 in_use while points belong to it or cameras watch it. Audited with the "
              "deleted row.",
         resp=ok(ref("Deleted")), err=[409]),
    "createPoint": dict(tag="points",
         zh="新建监测点", en="Add a monitoring point",
         desc="With its limits, checked like PATCH /api/v1/points/{id}. 409 when the code "
              "exists anywhere in the city (gateways send codes, not ids); 422 for an unknown "
              "kind, a system of no or another enterprise, or limits out of order. Audited.",
         body=json_body(ref("PointCreate")),
         resp=ok(ref("PointStored"), "Created.", 201), err=[400, 409, 422]),
    "deletePoint": dict(tag="points",
         zh="删除监测点", en="Delete a monitoring point",
         desc="Only a point without stored data (readings, a latest value, gateway events, "
              "alarms) is removed; otherwise 409 in_use: disable it with PATCH "
              "/api/v1/points/{id} {\"enabled\": false} instead (ingest then refuses its "
              "readings, the alarm rules skip it, and its history stays). Audited with the "
              "deleted row.",
         resp=ok(ref("Deleted")), err=[409]),
    "listCameras": dict(tag="assets",
         zh="视频监控点列表", en="An enterprise's cameras",
         resp=ok(ref("CameraList"))),
    "createCamera": dict(tag="assets",
         zh="新建视频监控点", en="Add a camera",
         desc="The enterprise maintains its own cameras; so do the district and the city. "
              "Audited.",
         body=json_body(ref("CameraCreate")),
         resp=ok(ref("Camera"), "Created.", 201), err=[400, 409, 422]),
    "getCamera": dict(tag="assets",
         zh="视频监控点详情", en="One camera", resp=ok(ref("Camera"))),
    "updateCamera": dict(tag="assets",
         zh="修改视频监控点", en="Change a camera",
         body=json_body(ref("CameraUpdate")),
         resp=ok(ref("Camera")), err=[400, 422]),
    "deleteCamera": dict(tag="assets",
         zh="删除视频监控点", en="Delete a camera",
         desc="409 in_use while video alarms name it: set enabled false instead.",
         resp=ok(ref("Deleted")), err=[409]),
    "listGateways": dict(tag="assets",
         zh="数采网关列表", en="An enterprise's gateways",
         resp=ok(ref("GatewayList"))),
    "createGateway": dict(tag="assets",
         zh="新建数采网关", en="Register a gateway",
         desc="The enterprise maintains its own gateways; so do the district and the city. "
              "Audited.",
         body=json_body(ref("GatewayCreate")),
         resp=ok(ref("Gateway"), "Created.", 201), err=[400, 409, 422]),
    "getGateway": dict(tag="assets",
         zh="数采网关详情", en="One gateway", resp=ok(ref("Gateway"))),
    "updateGateway": dict(tag="assets",
         zh="修改数采网关", en="Change a gateway",
         body=json_body(ref("GatewayUpdate")),
         resp=ok(ref("Gateway")), err=[400, 409, 422]),
    "deleteGateway": dict(tag="assets",
         zh="删除数采网关", en="Delete a gateway",
         desc="No stored data refers to a gateway; the audit record keeps the deleted row.",
         resp=ok(ref("Deleted"))),
    "listIngestCredentials": dict(tag="ingest-credentials",
         zh="接入凭证列表",
         en="An enterprise's ingest credentials",
         desc="Kind, label, key prefix or appid and dates; never a secret.",
         resp=ok(ref("IngestCredentialList"))),
    "createIngestCredential": dict(tag="ingest-credentials",
         zh="签发接入凭证", en="Issue an ingest credential",
         desc="Generated server-side from libsodium's random source and answered once, in this "
              "response. 409 for a second active hebei_des key or a taken appid. Audited "
              "without the secret.",
         body=json_body(ref("IngestCredentialCreate")),
         resp=ok(ref("IngestCredentialIssued"), "Issued.", 201), err=[400, 409]),
    "revokeIngestCredential": dict(tag="ingest-credentials",
         zh="吊销接入凭证",
         en="Revoke an ingest credential",
         desc="The ingest listener looks credentials up per request, so the next request with "
              "it is refused (401). The row stays, revoked; 409 invalid_transition when it "
              "already was. Answers the revoked credential.",
         resp=ok(ref("IngestCredential")), err=[409]),
    # --- accounts, audit
    "listAccounts": dict(tag="accounts",
         zh="账号列表", en="Accounts in scope", resp=ok(ref("AccountList"))),
    "createAccount": dict(tag="accounts",
         zh="分配账号", en="Create an account",
         desc="The account must change its password at first login. 409 when the user name is "
              "taken; 422 when the target region or enterprise is not in scope or the password "
              "breaks the policy.",
         body=json_body(ref("AccountCreate")),
         resp=ok(ref("AccountCreated"), "Created.", 201), err=[400, 409, 422]),
    "updateAccount": dict(tag="accounts",
         zh="修改账号", en="Rename an account, change its role or scope",
         desc="An administrator manages the accounts of its scope whose role it could create "
              "(a city administrator every account): 404 outside the scope, 403 above the "
              "caller or for a role it may not give. A new role or scope (region code, or "
              "enterprise id or code) must be in the caller's scope (422 otherwise) and ends "
              "the account's sessions; an administrator cannot change its own role or scope "
              "(422). 409 when the new user name is taken. Audited.",
         body=json_body(ref("AccountUpdate")),
         resp=ok(ref("AccountChanged")), err=[400, 409, 422]),
    "disableAccount": dict(tag="accounts",
         zh="停用账号", en="Disable an account",
         desc="The account can no longer log in and its sessions end. Scope rules as "
              "updateAccount; not one's own account (422). Audited.",
         resp=ok(ref("AccountChanged")), err=[422]),
    "enableAccount": dict(tag="accounts",
         zh="启用账号", en="Enable an account",
         desc="Scope rules as updateAccount. Audited.",
         resp=ok(ref("AccountChanged")), err=[422]),
    "unlockAccount": dict(tag="accounts",
         zh="解锁账号", en="Clear an account's lockout",
         desc="Clears the lockout after failed logins and the failure count. Scope rules as "
              "updateAccount. Audited.",
         resp=ok(ref("AccountChanged")), err=[422]),
    "resetAccountPassword": dict(tag="accounts",
         zh="重置密码", en="Reset an account's password",
         desc="Sets the given password, or generates one and returns it once; the account must "
              "change it at the next login, its lockout is cleared and its sessions end. The "
              "replaced hash joins the password history. Scope rules as updateAccount. Audited "
              "without the password.",
         body=json_body(ref("AccountPasswordReset"), required=False),
         resp=ok(ref("AccountChanged")), err=[400, 422]),
    "resetAccountTotp": dict(tag="accounts",
         zh="重置双因素认证", en="Remove an account's TOTP second factor",
         desc="For a lost or leaked device: the secret is deleted, the account logs in with its "
              "password alone (and may enrol again), its sessions end. Scope rules as "
              "updateAccount. Audited.",
         resp=ok(ref("AccountChanged")), err=[422]),
    "listAudit": dict(tag="audit",
         zh="审计日志", en="The audit trail",
         desc="Newest first; the city sees all, a district its own accounts'. Reading is "
              "audited.",
         params=[{"name": "action", "in": "query", "description": "Only this action.",
                  "schema": s("string")},
                 {"name": "limit", "in": "query", "description": "Page size (default 100).",
                  "schema": s("integer", minimum=1, maximum=1000, default=100)},
                 {"name": "offset", "in": "query", "description": "Items to skip.",
                  "schema": s("integer", minimum=0, default=0)}],
         resp=ok(ref("AuditList")), err=[400]),
    # --- alarms
    "listAlarms": dict(tag="alarms",
         zh="报警列表", en="List alarms",
         desc="Newest raise first. Filters combine with AND.",
         params=[P("district"), P("street"), P("enterprise"),
                 {"name": "point", "in": "query", "description": "Point id.", "schema": ID},
                 csv_param("kind", ALARM_KINDS, "Alarm kinds."),
                 csv_param("level", ["0", "1", "2"], "Levels."),
                 csv_param("state", ALARM_STATES, "States."),
                 csv_param("source", ALARM_SOURCES, "Sources."),
                 P("overdue"), P("open"), P("from"), P("to"),
                 Q("during", s("boolean"), "true: from and to list the alarms open at any time in "
                   "[from, to), leaving out point alarms folded into an enterprise alarm (what a "
                   "statistic's interruptions count), instead of those raised in it."),
                 *ent_class("risk_grade"), P("limit50"), P("offset")],
         resp=ok(ref("AlarmList")), err=[400]),
    "getAlarm": dict(tag="alarms",
         zh="报警详情", en="One alarm with its events and the readings around it",
         resp=ok(ref("AlarmDetail"))),
    "getAlarmSnapshot": dict(tag="alarms",
         zh="视频报警抓拍图", en="The snapshot a video alarm came with",
         desc="The image stored with the video alarm (JPEG or PNG by its signature; other bytes "
              "as an attachment). 404 when the alarm is not in scope, not a video alarm or came "
              "without an image. The alarm's `snapshot.href` points here.",
         resp={"200": {"description": "The image.", "content": {
             "image/jpeg": {"schema": s("string", contentMediaType="image/jpeg")},
             "image/png": {"schema": s("string", contentMediaType="image/png")}}}}),
    "acknowledgeAlarm": dict(tag="alarms",
         zh="报警确认", en="Acknowledge an alarm",
         desc="active → acknowledged, by the enterprise. 409 invalid_transition in any other "
              "state. Answers the alarm detail.",
         body=json_body(ref("AlarmAcknowledge")),
         resp=ok(ref("AlarmDetail")), err=[400, 409]),
    "handleAlarm": dict(tag="alarms",
         zh="报警处置", en="Record an alarm's handling",
         desc="acknowledged → handled, by the enterprise. 409 invalid_transition otherwise.",
         body=json_body(ref("AlarmHandle")),
         resp=ok(ref("AlarmDetail")), err=[400, 409]),
    "closeAlarm": dict(tag="alarms",
         zh="报警关闭", en="Close an alarm",
         desc="handled → closed, only once the value is back to normal (409 "
              "invalid_transition otherwise). The body is optional.",
         body=json_body(ref("AlarmClose"), required=False),
         resp=ok(ref("AlarmDetail")), err=[400, 409]),
    "shelveAlarm": dict(tag="alarms",
         zh="报警搁置", en="Shelve an alarm",
         desc="An alarm not closed is shelved (搁置) with a reason until an expiry (at most 7 "
              "days): its repeats fold into it silently, no new alarm and no live event. "
              "Shelving again replaces reason and expiry. An alarm event and an audit row.",
         body=json_body(ref("AlarmShelve")),
         resp=ok(ref("AlarmDetail")), err=[400, 409]),
    "unshelveAlarm": dict(tag="alarms",
         zh="取消搁置", en="Unshelve an alarm",
         desc="Ends a shelving before its expiry; 409 invalid_transition when not shelved.",
         body=json_body(ref("AlarmUnshelve"), required=False),
         resp=ok(ref("AlarmDetail")), err=[400, 409]),
    "listLabels": dict(tag="alarms",
         zh="显示标签", en="The label catalogue",
         desc="One catalogue of zh-CN and English labels for the codes the API answers with "
              "(alarm kinds, reasons and actions, risk rule codes, grades, warning statuses, "
              "escalations, enum values, industry codes, dust and indicator kinds, video alarm "
              "types). The same for every caller.",
         resp=ok(ref("Labels"))),
    "acknowledgeAlarms": dict(tag="alarms",
         zh="批量确认", en="Acknowledge many alarms",
         desc="Each id as POST /alarms/{id}/acknowledge, in its own transaction; the answer "
              "is 200 with a result per id: status 200 and the state, 404 not_found (not in "
              "your scope), 409 invalid_transition (not active).",
         body=json_body(ref("AlarmBatchAcknowledge")),
         resp=ok(ref("AlarmBatchResult")), err=[400]),
    # --- warnings
    "listWarnings": dict(tag="warnings",
         zh="预警列表", en="List early warnings",
         desc="Newest issue first. Filters combine with AND.",
         params=[P("district"), P("street"), P("enterprise"),
                 csv_param("grade", GRADES, "Grades."),
                 csv_param("status", WARN_STATUSES, "Statuses."),
                 csv_param("level", LEVELS, "Current supervising levels."),
                 {"name": "cause", "in": "query", "description": "grade or an override rule id.",
                  "schema": s("string")},
                 P("overdue"), P("open"), P("from"), P("to"), *ent_class("risk_grade"),
                 P("limit50"), P("offset")],
         resp=ok(ref("WarningList")), err=[400]),
    "getWarning": dict(tag="warnings",
         zh="预警详情", en="One warning with its score, history and supervision",
         resp=ok(ref("WarningDetail"))),
    "signWarning": dict(tag="warnings",
         zh="预警签收", en="Sign a warning",
         desc="issued → signed, by the enterprise. Body optional. 409 invalid_transition "
              "otherwise. Answers the warning detail.",
         body=json_body(ref("WarningNote"), required=False),
         resp=ok(ref("WarningDetail")), err=[400, 409]),
    "feedbackWarning": dict(tag="warnings",
         zh="处置反馈", en="Report handling feedback",
         desc="signed / feedback / returned → feedback, by the enterprise.",
         body=json_body(ref("WarningFeedback")),
         resp=ok(ref("WarningDetail")), err=[400, 409]),
    "requestWarningClearance": dict(tag="warnings",
         zh="申请消警",
         en="Request clearance",
         desc="feedback → clearance_requested, by the enterprise. Body optional.",
         body=json_body(ref("WarningNote"), required=False),
         resp=ok(ref("WarningDetail")), err=[400, 409]),
    "approveWarning": dict(tag="warnings",
         zh="消警审批", en="Approve clearance",
         desc="clearance_requested → cleared, by the supervising level (current_level or "
              "above; a blue warning by the street; the city on red or escalated-to-city "
              "warnings). Lower levels: 403. Closes open supervision orders. Body optional.",
         body=json_body(ref("WarningNote"), required=False),
         resp=ok(ref("WarningDetail")), err=[400, 409]),
    "returnWarning": dict(tag="warnings",
         zh="退回", en="Return a clearance request",
         desc="clearance_requested → returned, by the supervising level (as approve).",
         body=json_body(ref("WarningReturn")),
         resp=ok(ref("WarningDetail")), err=[400, 409]),
    # --- risk
    "getEnterpriseRisk": dict(tag="risk",
         zh="企业当前风险", en="An enterprise's current risk",
         desc="The current score with its breakdown, fired rules and inputs (null before the "
              "first score), open warnings and the open alarm count.",
         resp=ok(ref("RiskCurrent"))),
    "getEnterpriseRiskHistory": dict(tag="risk",
         zh="风险历史", en="An enterprise's scores",
         params=[P("from"), P("to"),
                 {"name": "limit", "in": "query", "description": "At most (default 200).",
                  "schema": s("integer", minimum=1, maximum=5000, default=200)},
                 {"name": "grade_changes", "in": "query", "description": "Only scores whose "
                  "grade differs from the previous one.",
                  "schema": enum(["true", "false", "1", "0"])}],
         resp=ok(ref("RiskHistory")), err=[400]),
    "getRiskDistribution": dict(tag="risk",
         zh="风险分布", en="Enterprises per risk grade",
         params=[P("district"), P("street")],
         resp=ok(ref("RiskDistribution"))),
    "getRiskRanking": dict(tag="risk",
         zh="风险排名", en="Enterprises ranked by risk",
         desc="By grade first (an override makes an enterprise red whatever its R), then R; "
              "a page of it (limit, offset) and the count of every ranked enterprise (total).",
         params=[{"name": "limit", "in": "query", "description": "At most (default 10).",
                  "schema": s("integer", minimum=1, maximum=500, default=10)},
                 P("offset"), csv_param("grade", GRADES, "Grades."), P("district"), P("street")],
         resp=ok(ref("RiskRanking")), err=[400]),
    "getRiskModel": dict(tag="risk",
         zh="风险模型", en="The risk model in force",
         desc="Version, source (the model file, or a version stored and activated in the "
              "database) and parameters, and the versions stored.",
         resp=ok(ref("RiskModelInfo"))),
    "createRiskModel": dict(tag="risk",
         zh="新增模型版本", en="Store (and activate) a risk model version",
         desc="City administrators. The strict loader checks the model (422 naming the path "
              "otherwise). With activate it is put in force: the worker loads it at its next "
              "tick and rescores every enterprise, without a restart. 409 when the version is "
              "stored with other parameters. An audit row.",
         body=json_body(ref("RiskModelCreate")),
         resp={**ok(ref("RiskModelStored"), "Stored and activated."),
               **ok(ref("RiskModelStored"), "Stored.", 201)}, err=[400, 409, 422]),
    "runRiskBacktest": dict(tag="risk",
         zh="模型回测", en="Backtest a candidate model",
         desc="The latest stored score of every enterprise in [from, to) scored again under the "
              "candidate: grade counts stored vs candidate, the enterprises whose grade changes. "
              "The same computation as `dustwatch risk backtest`.",
         body=json_body(ref("RiskBacktestRequest")),
         resp=ok(ref("RiskBacktest")), err=[400, 422]),
    # --- notifications
    "listSubscriptions": dict(tag="notify",
         zh="通知订阅", en="Notification subscriptions of your scope",
         resp=ok(ref("SubscriptionList"))),
    "createSubscription": dict(tag="notify",
         zh="新建订阅", en="Subscribe a webhook or phones to events",
         desc="Events of enterprises inside the scope (yours; the city may name any) are sent "
              "at least once: webhook = signed JSON POST (X-Dustwatch-Signature, "
              "X-Dustwatch-Delivery dedup key) over http or verified https; sms = through the "
              "SMS gateway adapter to one phone or the enterprise's duty roster. The webhook "
              "secret is answered only here.",
         body=json_body(ref("SubscriptionCreate")),
         resp=ok(ref("SubscriptionCreated"), "Created.", 201), err=[400, 422]),
    "updateSubscription": dict(tag="notify",
         zh="修改订阅", en="Enable, disable or change a subscription",
         body=json_body(ref("SubscriptionUpdate")), resp=ok(ref("IdOnly")), err=[400]),
    "deleteSubscription": dict(tag="notify",
         zh="删除订阅", en="Delete a subscription",
         desc="409 in_use once messages of it are in the delivery log: disable it instead.",
         resp=ok(ref("IdOnly")), err=[409]),
    "listDeliveries": dict(tag="notify",
         zh="发送记录", en="Delivery log",
         desc="Every message (newest first) with its status and each attempt (sent, failed "
              "with the HTTP status or the transport/TLS error).",
         params=[{"name": "subscription", "in": "query", "description": "One subscription.",
                  "schema": ID},
                 {"name": "limit", "in": "query", "description": "At most (default 100).",
                  "schema": s("integer", minimum=1, maximum=500, default=100)}],
         resp=ok(ref("DeliveryLog")), err=[400]),
    "getDutyRoster": dict(tag="notify",
         zh="值班人员", en="An enterprise's duty roster", resp=ok(ref("DutyRoster"))),
    "addDutyRosterEntry": dict(tag="notify",
         zh="添加值班人员", en="Add a person on duty",
         desc="For the whole enterprise or one dust-removal system (system_id).",
         body=json_body(ref("DutyRosterAdd")), resp=ok(ref("IdOnly"), "Created.", 201),
         err=[400]),
    "deleteDutyRosterEntry": dict(tag="notify",
         zh="移除值班人员", en="Remove a person on duty", resp=ok(ref("IdOnly"))),
    # --- cleaning
    "listCleaningAreas": dict(tag="cleaning",
         zh="清理区域", en="An enterprise's cleaning areas",
         resp=ok(ref("CleaningAreaList"))),
    "createCleaningArea": dict(tag="cleaning",
         zh="新建清理区域",
         en="Create a cleaning area", desc="409 when the enterprise has an area of this name.",
         body=json_body(ref("CleaningAreaCreate")),
         resp=ok(ref("CleaningArea"), "Created.", 201), err=[400, 409]),
    "updateCleaningArea": dict(tag="cleaning",
         zh="修改清理区域", en="Change a cleaning area",
         body=json_body(ref("CleaningAreaUpdate")),
         resp=ok(ref("CleaningArea")), err=[400, 409]),
    "createCheckin": dict(tag="cleaning",
         zh="清理打卡", en="Check in a cleaning",
         desc="By enterprise accounts, with an optional photo. 409 when the area is inactive.",
         body=json_body(ref("CheckinCreate")),
         resp=ok(ref("Checkin"), "Created.", 201), err=[400, 409, 422]),
    "listCheckins": dict(tag="cleaning",
         zh="打卡记录", en="An enterprise's check-ins",
         desc="Newest first.",
         params=[P("from"), P("to"),
                 {"name": "area", "in": "query", "description": "Area id.", "schema": ID},
                 P("limit50"), P("offset")],
         resp=ok(ref("CheckinList")), err=[400]),
    "getCheckinPhoto": dict(tag="cleaning",
         zh="打卡照片", en="A check-in's photo",
         desc="404 when the check-in has no photo.",
         resp={"200": {"description": "The image.", "content": {
             "image/jpeg": {"schema": s("string", contentMediaType="image/jpeg")},
             "image/png": {"schema": s("string", contentMediaType="image/png")}}}}),
    "getCleaningCompliance": dict(tag="cleaning",
         zh="清理合规统计", en="Cleaning compliance",
         desc="Default window: the last 7 days; at most 400 days. Per enterprise (most missed "
              "first) with its areas, and per street.",
         params=[P("from"), P("to"), P("enterprise"), P("district"), P("street"),
                 *ent_class("risk_grade")],
         resp=ok(ref("Compliance")), err=[400]),
    # --- upward forwarding (issue 18)
    "listForwardTargets": dict(tag="forward", zh="上报目标", en="Upstream forwarding targets",
         resp=ok(ref("ForwardTargetList"))),
    "createForwardTarget": dict(tag="forward", zh="新建上报目标", en="Create a forwarding target",
         desc="A district administrator's target forwards its district only. 409: the name is "
              "taken; 422: a district or enterprise outside the scope.",
         body=json_body(ref("ForwardTargetWrite")),
         resp=ok(ref("ForwardTarget"), "Created.", 201), err=[400, 409, 422]),
    "getForwardTarget": dict(tag="forward", zh="上报目标详情", en="A forwarding target",
         resp=ok(ref("ForwardTarget"))),
    "updateForwardTarget": dict(tag="forward", zh="修改上报目标", en="Change a forwarding target",
         desc="Any field but dialect; credentials replace the stored ones.",
         body=json_body(ref("ForwardTargetWrite")),
         resp=ok(ref("ForwardTarget")), err=[400, 409, 422]),
    "deleteForwardTarget": dict(tag="forward", zh="删除上报目标", en="Delete a forwarding target",
         resp=ok(ref("Deleted"))),
    "listForwardCodes": dict(tag="forward", zh="编码映射", en="A target's code mapping",
         resp=ok(ref("ForwardCodeList"))),
    "setForwardCode": dict(tag="forward", zh="设置编码映射", en="Map one code",
         desc="The local code must name an enterprise, gateway or point of the caller's scope "
              "(422); an upstream code maps from one local code at most (409).",
         body=json_body(ref("ForwardCodeSet")),
         resp=ok(ref("ForwardCodeList")), err=[400, 409, 422]),
    "listForwardDeadLetters": dict(tag="forward", zh="上报失败队列", en="Refused requests",
         params=[P("open"), {"name": "limit", "in": "query", "description": "At most (default 100).",
                             "schema": s("integer", minimum=1, maximum=1000, default=100)}],
         resp=ok(ref("ForwardDeadLetterList")), err=[400]),
    "getForwardReport": dict(tag="forward", zh="上报对账", en="Reconciliation report",
         params=[{"name": "from", "in": "query", "description": "First day, YYYY-MM-DD (default: 6 days ago).",
                  "schema": s("string", format="date")},
                 {"name": "to", "in": "query", "description": "Last day, YYYY-MM-DD (default: today, UTC).",
                  "schema": s("string", format="date")}],
         resp=ok(ref("ForwardReport")), err=[400]),
    "resendForwardDeadLetter": dict(tag="forward", zh="重新上报", en="Resend a refused request",
         desc="The forwarder sends it again, re-encrypted with the target's current keys. 409: "
              "resent and acknowledged already.",
         resp=ok(ref("ForwardResend"), "Accepted.", 202), err=[409]),
    # statistics, onboarding, reports (issue 15)
    "getStatistics": dict(tag="statistics",
         zh="统计分析", en="Statistics",
         desc="The figures of a period for the caller's scope, in total and per group, computed "
              "in PostgreSQL over the hourly rollups (raw readings for what is not rolled up), "
              "alarms, warnings and cleaning records. Periods follow the city's calendar (UTC+8). "
              "Each figures object carries links: the list routes (with the same filters) that "
              "list what it counts.",
         params=[Q("period", enum(["day", "week", "month", "custom"]),
                   "day, week (from Monday), month (default) containing date, or custom from/to "
                   "(widened to whole hours: from to the start of its hour, to to the end of its "
                   "hour, what the hourly rollups count; the answer's from and to say so)."),
                 Q("date", s("string", format="date"), "A day of the period (default: today)."),
                 P("from"), P("to"),
                 Q("group", enum(["district", "street", "enterprise", "industry", "dust_kind", "grade", "none"]),
                   "Rows per district, street, industry code, dust kind (an enterprise of several "
                   "kinds is in each row) or current risk grade (none: not scored yet)."),
                 P("district"), P("street"), P("enterprise"),
                 Q("industry", s("string"), "GB/T 4754 industry code, e.g. C3360; none: "
                   "enterprises without one (the industry row of those links with it)."),
                 Q("dust_kind", s("string"), "Dust kind code, e.g. aluminium; none: enterprises "
                   "with no dust kind recorded."),
                 Q("grade", enum(GRADES + ["none"]), "Current risk grade."),
                 Q("sort", enum(STAT_SORTS),
                   "Rank the rows by one figure instead of by key: counts the most first (alarms = "
                   "alarms.total, alarms_overdue = alarms.overdue, hazards_open = hazards.open), "
                   "rates the lowest first, rows without a rate last; ties in key order."),
                 Q("limit", s("integer", minimum=1, maximum=5000, default=100),
                   "Rows per page (the totals are always the whole scope's)."),
                 Q("offset", s("integer", minimum=0, default=0), "Rows skipped.")],
         resp=ok(ref("Statistics")), err=[400]),
    "getDataQuality": dict(tag="statistics",
         zh="数据质量", en="Data quality",
         desc="For the period and filters of getStatistics: interruption records (offline, "
              "enterprise-offline and gateway-offline alarms overlapping the period: start, end, "
              "hours in the period, cause and measures if filed; the latest limit), gateways "
              "offline now / episodes / never heard from, frozen and out-of-range alarms, "
              "conflicting readings (reading_conflicts), per enterprise the same counts, and the "
              "online-rate ranking per enterprise and per street (lowest first).",
         params=[Q("period", enum(["day", "week", "month", "custom"]), "As getStatistics."),
                 Q("date", s("string", format="date"), "As getStatistics."),
                 P("from"), P("to"), P("district"), P("street"), P("enterprise"),
                 Q("industry", s("string"), "As getStatistics."),
                 Q("dust_kind", s("string"), "As getStatistics."),
                 Q("grade", enum(GRADES + ["none"]), "As getStatistics."),
                 Q("limit", s("integer", minimum=1, maximum=500, default=100),
                   "Interruption records listed (the latest).")],
         resp=ok(obj({"interruptions": obj({}), "gateways": obj({}), "frozen": COUNT,
                      "out_of_range": COUNT, "conflicts": COUNT, "enterprises": arr(obj({})),
                      "online": obj({})})), err=[400]),
    "getAlarmTrend": dict(tag="statistics",
         zh="报警趋势", en="Alarm trend",
         desc="Alarms raised per day of the city's calendar (UTC+8) and level over the last days "
              "(today included), counted in PostgreSQL for the caller's scope (the overview's "
              "chart).",
         params=[Q("days", s("integer", minimum=1, maximum=92, default=7), "Days, default 7.")],
         resp=ok(obj({"days": arr(obj({"date": s("string", format="date"), "from": TS,
                                       "levels": obj({"0": COUNT, "1": COUNT, "2": COUNT})}))})),
         err=[400]),
    "exportStatistics": dict(tag="statistics",
         zh="导出统计表", en="Export the statistics table",
         desc="GET /statistics with the same period, group and filters as a file: a title line "
              "naming the period and every active filter, a header, a totals row (合计) and one "
              "row per group. CSV is UTF-8 with a BOM; cells starting with = + - @ are "
              "neutralised.",
         params=[Q("format", enum(["csv", "xlsx"]), "csv (default) or xlsx."),
                 Q("table", enum(["statistics", "onboarding", "laggards", "conformance",
                                  "interruptions", "quality", "online"]),
                   "statistics (default): the table above; onboarding: getOnboarding per cohort "
                   "(合计) and street with its laggard count; laggards: every laggard enterprise of "
                   "every cohort with its street and last data (both: filters district, street, "
                   "cohort); conformance: getOnboardingConformance's non-conforming systems with "
                   "the kinds they lack by name (filters district, street); interruptions: "
                   "getDataQuality's interruption records (every one of the period, at most "
                   "100,000, latest first); quality: getDataQuality's counts per enterprise "
                   "(interruptions, hours, frozen, out of range, conflicts; those with any); "
                   "online: the online-rate ranking per enterprise (lowest first). The last three "
                   "take the statistics' period and filters."),
                 Q("cohort", s("string"), "table=onboarding: one cohort's code."),
                 Q("at", s("string", format="date"),
                   "table=onboarding, laggards: as getOnboarding's at."),
                 Q("period", enum(["day", "week", "month", "custom"]), "As getStatistics."),
                 Q("date", s("string", format="date"), "As getStatistics."),
                 P("from"), P("to"), Q("group", s("string"), "As getStatistics."),
                 P("district"), P("street"), P("enterprise"),
                 Q("industry", s("string"), "As getStatistics."),
                 Q("dust_kind", s("string"), "As getStatistics."),
                 Q("grade", enum(GRADES + ["none"]), "As getStatistics."),
                 Q("sort", enum(STAT_SORTS), "As getStatistics; every row is exported.")],
         resp={"200": {"description": "The table.",
                       "content": {"text/csv": {"schema": s("string")},
                                   XLSX_MEDIA: {"schema": s("string", format="binary")}}}},
         err=[400]),
    "listReports": dict(tag="statistics",
         zh="月报列表", en="List monthly reports",
         desc="Reports of the regions in the caller's scope (the city, districts, streets), newest "
              "month first. The worker generates each region's report for the month that ended "
              "(reports_monthly).",
         params=[Q("region", s("string"), "Only this region code."), P("limit50"), P("offset")],
         resp=ok(obj({"total": COUNT, "items": arr(obj({}))}))),
    "createReport": dict(tag="statistics",
         zh="生成月报", en="Generate a monthly report",
         desc="Generates (again) the report of a region in scope for a month and stores it, "
              "replacing a stored one. Default region: the caller's; default month: the one that "
              "ended. A month that has not begun is 422. Audited.",
         body=json_body(obj({"region": s("string", "Region code."),
                             "month": s("string", "YYYY-MM")}, strict=True), required=False),
         resp=ok(obj({}), status=201), err=[400, 404, 422]),
    "getReport": dict(tag="statistics",
         zh="月报内容", en="Get a monthly report",
         desc="The stored figures: statistics, onboarding, data quality, top risks, and what is not "
              "counted yet (spot checks, hazards). Onboarding, laggards and top risks are a "
              "state: state_as_of says of when (city time), state_from_rollups whether it was "
              "read back at the month's end (getOnboarding's at; each enterprise's last risk "
              "score before it) or read when the report was made. The dashboard prints it "
              "(print CSS).",
         resp=ok(obj({}))),
    "getReportXlsx": dict(tag="statistics",
         zh="下载月报 (XLSX)", en="Download a monthly report (XLSX)",
         desc="Sheets 概况, 分组统计, 应接尽接, 落后企业, 风险排名, 数据质量.",
         resp={"200": {"description": "The workbook.",
                       "content": {XLSX_MEDIA: {"schema": s("string", format="binary")}}}}),
    "getOnboarding": dict(tag="statistics",
         zh="应接尽接进度", en="Onboarding progress",
         desc="Each onboarding cohort (table onboarding_cohorts: milestone, dust categories, "
              "minimum dust workers) with its enterprises in the caller's scope, connected "
              "(every enabled mandatory point sent data within connected_window_h), online (a "
              "point reported within 3 expected intervals), and per street the same with its "
              "laggards (in the cohort, not connected).",
         params=[Q("cohort", s("string"), "Only this cohort code."), P("district"), P("street"),
                 Q("at", s("string", format="date"),
                   "A city day (UTC+8) that has ended: the state at its end, read back from the "
                   "hourly rollups for the enterprises registered by then (their points and "
                   "cohort attributes as they are now): connected = every enabled mandatory point "
                   "had an hour with a reading in the connected_window_h whole hours before; "
                   "online = a reading in the last hour; a laggard's last_data_at the start of "
                   "the hour of its last reading. 422 for a day not ended, one the rollups do not "
                   "reach yet, or one older than the hourly rollups kept.")],
         resp=ok(obj({"connected_window_s": COUNT,
                      "as_of": s("string", "The moment the state is of (now without at).",
                                 format="date-time"),
                      "cohorts": arr(obj({}))})), err=[400, 422]),
    "getOnboardingConformance": dict(tag="statistics",
         zh="必接点位符合性", en="Mandatory-point conformance",
         desc="Every dust-removal system in scope against the point kinds its type requires "
              "(table mandatory_point_kinds): dry (hopper temperature, pressure difference, "
              "air-lock), wet (water level, flow), wet_al_mg (wet, and the enterprise has "
              "aluminium/magnesium dust: hydrogen too); the non-conforming systems with the "
              "kinds they lack (no enabled point of that kind).",
         params=[P("district"), P("street")],
         resp=ok(obj({"systems": COUNT, "conforming": COUNT,
                      "enterprises_nonconforming": COUNT,
                      "nonconforming": arr(obj({
                          "enterprise": obj({}),
                          "system": obj({"type": enum(["dry", "wet", "wet_al_mg"]),
                                         "type_label": obj({"zh": s("string"),
                                                            "en": s("string")})}),
                          "missing": arr(s("string")),
                          "missing_kinds": arr(obj({"code": s("string"), "name_zh": s("string"),
                                                    "name_en": s("string")}))}))})),
         err=[400]),
    "listEquipmentNotices": dict(tag="cleaning",
         zh="企业自行变更通知", en="Notices of enterprises changing their own monitoring",
         desc="An enterprise account deleting one of its gateways (gateway_deleted) or revoking "
              "one of its ingest credentials (credential_revoked) leaves a notice for its district "
              "(also a live event of type notice, and the audit record). Newest first; open=true: "
              "not seen yet; `open` counts those in scope.",
         params=[{"name": "open", "in": "query", "schema": {"type": "boolean"}},
                 {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                             "maximum": 500}}],
         resp=ok(obj({"open": s("integer"), "items": arr(obj({
             "id": ID, "enterprise": obj({}), "kind": s("string", enum=["gateway_deleted",
                                                                     "credential_revoked"]),
             "object": s("string"), "detail": s("string"), "actor": s("string"),
             "created_at": TS, "seen_at": nullable(TS), "seen_by": nullable(s("string"))}))})),
         err=[400]),
    "markEquipmentNoticeSeen": dict(tag="cleaning",
         zh="通知已知悉", en="Mark a notice seen",
         desc="Once: the first seen time and account stay. 404 outside the scope.",
         body=json_body(obj({}, strict=True), required=False, desc="Nothing (an empty object)."),
         resp=ok(obj({"id": ID, "seen": s("boolean")}))),
}

TAGS = [
    ("meta", "Server metadata (元数据): version, route table, this document."),
    ("health", "Liveness and readiness (健康检查); also on the ingest listener."),
    ("auth", "Login, logout, the caller, password (认证)."),
    ("regions", "Administrative regions (行政区划)."),
    ("overview", "Scope overview (总览)."),
    ("events", "Live updates over Server-Sent Events (实时推送)."),
    ("enterprises", "Enterprise archive (企业档案, 一企一档) and the survey table CSV."),
    ("points", "Monitoring points (监测点), limits and time series."),
    ("api-keys", "Enterprise REST/ingest API keys (API 密钥)."),
    ("assets", "Dust-removal systems, cameras and gateways of an enterprise (除尘系统, 视频监控点, "
               "数采网关)."),
    ("ingest-credentials", "Credentials gateways push data with (接入凭证): API keys, Hebei DES "
                           "keys, MEM SM4 keys."),
    ("accounts", "Account allocation (账号分配)."),
    ("audit", "Audit trail (审计日志)."),
    ("alarms", "Point alarms (报警) and their handling."),
    ("warnings", "Early warnings (预警): sign, feedback, clearance, review."),
    ("risk", "Risk scores (风险评估), distribution and ranking."),
    ("cleaning", "Dust cleaning areas, check-ins and compliance (粉尘清理)."),
    ("forward", "Upward forwarding (数据上报, 五级联网): upstream targets, code mapping, refused "
                "requests and reconciliation."),
    ("statistics", "Statistics, onboarding and reports (统计分析, 应接尽接, 月报)."),
    ("notify", "Notification subscriptions, delivery log and duty roster (通知订阅, 值班人员)."),
]


# --- supervision workflows (api/resources/filings.c): appended as one block
FILING = obj(dict(
    id=s("integer"), enterprise=obj(dict(id=s("integer"), code=s("string"), name=s("string"),
                                         district_id=s("integer"), street_id=nullable(s("integer")))),
    type=enum(["stop", "maintenance", "disable"]), starts_at=s("string", format="date-time"),
    ends_at=s("string", format="date-time"), system_ids=arr(s("integer")), point_ids=arr(s("integer")),
    whole_enterprise=s("boolean"), reason=s("string"), evidence=nullable(obj({})),
    status=enum(["submitted", "approved", "returned", "withdrawn", "ended"]),
    state=enum(["submitted", "approved", "returned", "withdrawn", "ended", "expired"]),
    active=s("boolean", description="approved and valid now"),
    approval_level=enum(["street", "district"]), filed_by=nullable(s("integer")),
    filed_at=s("string", format="date-time"), reviewed_by=nullable(s("integer")),
    reviewed_at=nullable(s("string", format="date-time")), review_note=s("string"),
    ended_at=nullable(s("string", format="date-time")), end_note=s("string"),
    production_alarm_id=nullable(s("integer")), suppressed=s("integer")),
    title="Filing", desc="A production-stop / maintenance / disable filing (停产/检修/停用 报备).")
SCHEMAS.update({
    "Filing": FILING,
    "FilingList": paged(ref("Filing")),
    "FilingDetail": obj(dict(filing=ref("Filing"), points=arr(obj({})), suppressions=arr(obj({
        "point_id": N_ID, "point": N_STR, "gateway_id": N_ID, "gateway": N_STR,
        "channel": s("string", "offline, limit or gateway_offline"), "kind": s("string"),
        "level": s("integer"), "first_at": TS, "last_at": TS, "count": s("integer")},
        ["channel", "kind", "count"], desc="An alarm not raised because the filing covered its point "
        "(point_id) or, for a whole-enterprise filing, its gateway (gateway_id).")))),
    "FilingCreate": obj(dict(
        type=enum(["stop", "maintenance", "disable"]), starts_at=s("string", format="date-time"),
        ends_at=s("string", format="date-time"), reason=s("string", minLength=1, maxLength=2000),
        system_ids=arr(s("integer", minimum=1)), point_ids=arr(s("integer", minimum=1)),
        evidence=nullable(s("string", description="base64 JPEG, PNG or PDF, at most 2 MB"))),
        ["type", "starts_at", "ends_at", "reason"], strict=True),
    "FilingNote": obj({"note": nullable(s("string", maxLength=2000))}, strict=True),
    "FilingReturn": obj({"reason": s("string", minLength=1, maxLength=2000)}, ["reason"], strict=True),
    "FilingSettings": obj(dict(district_id=s("integer", minimum=1),
                               approval_level=enum(["street", "district"])), ["approval_level"],
                          strict=True),
})
OPERATIONS.update({
    "listFilings": dict(tag="filings", zh="报备列表", en="Filings in scope",
         desc="Newest first. active=true: approved and valid now.",
         params=[csv_param("state", ["submitted", "approved", "returned", "withdrawn", "ended",
                                     "expired"], "States."),
                 csv_param("type", ["stop", "maintenance", "disable"], "Types."),
                 {"name": "active", "in": "query", "description": "Valid now.",
                  "schema": enum(["true", "false", "1", "0"])},
                 P("from"), P("to"), P("district"), P("street"), P("enterprise"), P("limit50"),
                 P("offset")],
         resp=ok(ref("FilingList")), err=[400]),
    "createFiling": dict(tag="filings", zh="提交报备", en="File a stop, maintenance or disable period",
         desc="By the enterprise. system_ids and point_ids empty: the whole enterprise. The "
              "reviewing level comes from the district's setting. 422 filing_invalid / "
              "evidence_invalid.",
         body=json_body(ref("FilingCreate")),
         resp=ok(ref("FilingDetail"), "Created.", 201), err=[400, 422]),
    "getFiling": dict(tag="filings", zh="报备详情", en="One filing with its points and suppressed alarms",
         resp=ok(ref("FilingDetail"))),
    "getFilingEvidence": dict(tag="filings", zh="报备附件", en="A filing's evidence",
         desc="404 when it has none.",
         resp={"200": {"description": "The attachment.", "content": {
             "image/jpeg": {"schema": s("string", contentMediaType="image/jpeg")},
             "image/png": {"schema": s("string", contentMediaType="image/png")},
             "application/pdf": {"schema": s("string", contentMediaType="application/pdf")}}}}),
    "listAttachmentKinds": dict(tag="attachments", zh="附件类型", en="Attachment kinds",
         desc="The kinds an archive attachment may have (data: attachment_kinds).",
         resp=ok(items_of(ref("AttachmentKind")))),
    "listAttachments": dict(tag="attachments", zh="档案附件", en="An enterprise's attachments",
         desc="Metadata only, by kind; whoever sees the enterprise sees them. 404 for an "
              "enterprise outside the caller's scope.",
         resp=ok(items_of(ref("Attachment"))), err=[404]),
    "uploadAttachment": dict(tag="attachments", zh="上传档案附件", en="Upload an attachment",
         desc="Safety assessment, zoning drawing, licences …: the type is read from the file's "
              "first bytes (PDF, JPEG, PNG; anything else 422 attachment_invalid), at most 8 MB "
              "(a larger body 413). Never pruned by retention. Audited (attachment_create).",
         body=json_body(ref("AttachmentUpload")),
         resp=ok(ref("Attachment"), "Stored.", 201), err=[400, 404, 413, 422]),
    "getAttachment": dict(tag="attachments", zh="下载档案附件", en="Download an attachment",
         desc="The file with its type and Content-Disposition: attachment (the uploaded name, "
              "RFC 6266 filename*). 404 outside the caller's scope.",
         resp={"200": {"description": "The file.", "content": {
             "image/jpeg": {"schema": s("string", contentMediaType="image/jpeg")},
             "image/png": {"schema": s("string", contentMediaType="image/png")},
             "application/pdf": {"schema": s("string", contentMediaType="application/pdf")}}}},
         err=[404]),
    "deleteAttachment": dict(tag="attachments", zh="删除档案附件", en="Delete an attachment",
         desc="Audited with its metadata (attachment_delete).",
         resp=ok(ref("Deleted")), err=[404]),
    "listProposals": dict(tag="survey", zh="摸排待确认", en="摸排 proposals",
         desc="A street's proposed enterprises and archive changes: the street sees its own, a "
              "district its streets', the city all; newest first. An update carries `before`, "
              "the current values of the fields it changes. Pending proposals are not "
              "enterprises: no statistic counts them.",
         params=[{"name": "status", "in": "query", "required": False,
                  "schema": enum(["pending", "confirmed", "returned"])}],
         resp=ok(items_of(ref("Proposal"))), err=[400]),
    "submitProposal": dict(tag="survey", zh="提交摸排结果", en="Propose an enterprise or a change",
         desc="Street accounts: a new enterprise of their street (record as POST "
              "/api/v1/enterprises, without district/street; 422 when the street is disabled) or "
              "a change of one of its enterprises (404 outside the street; 409 while another "
              "change of it is pending). Checked as the archive checks; audited "
              "(proposal_submit).",
         body=json_body(ref("ProposalSubmit")),
         resp=ok(ref("ProposalStep"), "Pending.", 201), err=[400, 404, 409, 422]),
    "editProposal": dict(tag="survey", zh="修改摸排结果", en="Edit a pending or returned proposal",
         desc="The street replaces the record; the proposal is pending again (409 "
              "invalid_transition once confirmed). Audited (proposal_edit).",
         body=json_body(ref("ProposalEdit")),
         resp=ok(ref("ProposalStep")), err=[400, 404, 409]),
    "confirmProposal": dict(tag="survey", zh="确认摸排结果", en="Confirm a proposal",
         desc="District (its streets') or city: the enterprise is created or changed as the "
              "archive routes would, in the same transaction (audited enterprise_create/update "
              "and proposal_confirm); 409/422 with the archive's reason when it cannot be "
              "applied (return it instead).",
         body=json_body(obj({}, strict=True), required=False, desc="Empty or absent."),
         resp=ok(ref("ProposalStep")), err=[400, 404, 409, 422]),
    "returnProposal": dict(tag="survey", zh="退回摸排结果", en="Return a proposal with a reason",
         desc="The street sees the reason and may edit and resubmit. Audited (proposal_return).",
         body=json_body(ref("ProposalReturn")),
         resp=ok(ref("ProposalStep")), err=[400, 404, 409]),
    "approveFiling": dict(tag="filings", zh="报备审批", en="Approve a filing",
         desc="submitted → approved, by the filing's approval level or above (a street account "
              "on a district-level filing: 403).",
         body=json_body(ref("FilingNote"), required=False),
         resp=ok(ref("FilingDetail")), err=[400, 409]),
    "returnFiling": dict(tag="filings", zh="报备退回", en="Return a filing",
         desc="submitted → returned, by the reviewing level (as approve).",
         body=json_body(ref("FilingReturn")), resp=ok(ref("FilingDetail")), err=[400, 409]),
    "withdrawFiling": dict(tag="filings", zh="撤回报备", en="Withdraw a filing",
         desc="submitted → withdrawn, by the enterprise.",
         body=json_body(ref("FilingNote"), required=False),
         resp=ok(ref("FilingDetail")), err=[400, 409]),
    "endFiling": dict(tag="filings", zh="复产报告", en="Report resumption (end a filing early)",
         desc="approved (not expired) → ended, by the enterprise; the covered points' offline "
              "timers run again at once.",
         body=json_body(ref("FilingNote"), required=False),
         resp=ok(ref("FilingDetail")), err=[400, 409]),
    "setFilingSettings": dict(tag="filings", zh="报备审批层级", en="Who reviews a district's filings",
         desc="District administrators set their own district; the city names district_id.",
         body=json_body(ref("FilingSettings")),
         resp=ok(ref("FilingSettings")), err=[400]),
})
TAGS.append(("filings", "Production-stop, maintenance and disable filings (停产/检修/停用 报备)."))


# --- hazards (api/resources/hazards.c)
HAZARD_STATUSES = ["proposed", "reported", "planned", "rectified", "rejected", "closed", "dismissed"]
HAZARD = obj(dict(
    id=s("integer"), enterprise=obj({}), kind=enum(["major", "ordinary"]),
    major_item=nullable(s("integer", minimum=1, maximum=10)), title=s("string"), description=s("string"),
    found_by=s("string"), found_at=s("string", format="date-time"),
    found_how=enum(["spot_check", "inspection", "warning", "self_check", "derived"]),
    derived_rule=nullable(s("string")), warning_id=nullable(s("integer")), photo=nullable(obj({})),
    status=enum(HAZARD_STATUSES), open=s("boolean"), deadline=nullable(s("string", format="date-time")),
    overdue=s("boolean"), age_days=s("integer"), plan=s("string"), report=s("string"),
    verify_note=s("string"), closed_at=nullable(s("string", format="date-time"))),
    title="Hazard", desc="A hazard (隐患): major (one of the ten dust items) or ordinary.")
SCHEMAS.update({
    "Hazard": HAZARD,
    "HazardList": paged(ref("Hazard")),
    "HazardDetail": obj(dict(hazard=ref("Hazard"), events=arr(obj({})))),
    "HazardCreate": obj(dict(
        kind=enum(["major", "ordinary"]), major_item=nullable(s("integer", minimum=1, maximum=10)),
        title=s("string", minLength=1, maxLength=200), description=s("string", maxLength=4000),
        found_by=s("string", maxLength=100), found_at=s("string", format="date-time"),
        found_how=enum(["spot_check", "inspection", "warning", "self_check"]),
        deadline=s("string", format="date-time"), warning_id=nullable(s("integer", minimum=1)),
        photo=nullable(s("string", description="base64 JPEG or PNG, at most 2 MB"))),
        ["kind", "title"], strict=True),
    "HazardNote": obj({"note": nullable(s("string", maxLength=4000))}, strict=True),
    "HazardReason": obj({"reason": s("string", minLength=1, maxLength=4000)}, ["reason"], strict=True),
    "HazardPlan": obj({"plan": s("string", minLength=1, maxLength=4000)}, ["plan"], strict=True),
    "HazardReport": obj({"report": s("string", minLength=1, maxLength=4000)}, ["report"], strict=True),
    "HazardAgeing": obj(dict(items=arr(obj({})))),
    "HazardDerive": obj({"enterprise_id": s("integer", minimum=1)}, strict=True),
    "HazardDerived": obj({"proposed": s("integer")}),
})
OPERATIONS.update({
    "listHazards": dict(tag="hazards", zh="隐患列表", en="Hazards in scope",
         desc="Oldest first (a work queue). open=true: reported, planned, rectified or rejected.",
         params=[csv_param("status", HAZARD_STATUSES, "Statuses."),
                 csv_param("kind", ["major", "ordinary"], "Kinds."),
                 csv_param("found_how", ["spot_check", "inspection", "warning", "self_check", "derived"],
                           "How found."),
                 P("from"), P("to"), P("district"), P("street"), P("enterprise"), P("overdue"), P("open"),
                 *ent_class("risk_grade"), P("limit50"), P("offset")],
         resp=ok(ref("HazardList")), err=[400]),
    "getHazardAgeing": dict(tag="hazards", zh="隐患账龄", en="Open hazards per street with ageing",
         resp=ok(ref("HazardAgeing"))),
    "deriveHazards": dict(tag="hazards", zh="隐患推导", en="Propose major hazards from the archive",
         desc="Non-frame multi-storey building or gathering rooms (item 1), dry system without "
              "explosion protection (3), positive pressure without spark detection (4), settling "
              "chamber (5), no airlock on Al/Mg or wood dust (6): proposals a person confirms or "
              "dismisses. Body optional.",
         body=json_body(ref("HazardDerive"), required=False), resp=ok(ref("HazardDerived")), err=[400]),
    "reportHazard": dict(tag="hazards", zh="上报隐患", en="Report a hazard",
         desc="Default deadline 60 days (major) or 30 (ordinary). Enterprises report self-checks.",
         body=json_body(ref("HazardCreate")), resp=ok(ref("HazardDetail"), "Created.", 201),
         err=[400, 422]),
    "getHazard": dict(tag="hazards", zh="隐患详情", en="One hazard with its history",
         resp=ok(ref("HazardDetail"))),
    "getHazardPhoto": dict(tag="hazards", zh="隐患照片", en="A hazard's photo",
         desc="404 when it has none.",
         resp={"200": {"description": "The image.", "content": {
             "image/jpeg": {"schema": s("string", contentMediaType="image/jpeg")},
             "image/png": {"schema": s("string", contentMediaType="image/png")}}}}),
    "confirmHazard": dict(tag="hazards", zh="确认隐患", en="Confirm a derived proposal",
         desc="proposed → reported.", body=json_body(ref("HazardNote"), required=False),
         resp=ok(ref("HazardDetail")), err=[400, 409]),
    "dismissHazard": dict(tag="hazards", zh="驳回推导", en="Dismiss a derived proposal",
         desc="proposed → dismissed; not proposed again.", body=json_body(ref("HazardReason")),
         resp=ok(ref("HazardDetail")), err=[400, 409]),
    "planHazard": dict(tag="hazards", zh="整改方案", en="File the rectification plan",
         desc="reported → planned, by the enterprise.", body=json_body(ref("HazardPlan")),
         resp=ok(ref("HazardDetail")), err=[400, 409]),
    "rectifyHazard": dict(tag="hazards", zh="整改报告", en="Report the rectification",
         desc="planned / rejected → rectified, by the enterprise.", body=json_body(ref("HazardReport")),
         resp=ok(ref("HazardDetail")), err=[400, 409]),
    "verifyHazard": dict(tag="hazards", zh="验收销号", en="Verify and close",
         desc="rectified → closed, by a government account.",
         body=json_body(ref("HazardNote"), required=False), resp=ok(ref("HazardDetail")), err=[400, 409]),
    "rejectHazard": dict(tag="hazards", zh="验收不通过", en="Reject the rectification",
         desc="rectified → rejected.", body=json_body(ref("HazardReason")),
         resp=ok(ref("HazardDetail")), err=[400, 409]),
})
TAGS.append(("hazards", "Hazards (隐患) and their rectification loop (整改闭环)."))


# --- 督办 / 执法 / 通报 (api/resources/supervision.c)
NOTE_BODY = lambda field, req: obj({field: s("string", minLength=1 if req else 0, maxLength=4000)},
                                   [field] if req else None, strict=True)
SCHEMAS.update({
    "Supervision": obj({}, title="Supervision", desc="A supervision order (督办) with its warning, assignee, answer and result."),
    "SupervisionList": paged(ref("Supervision")),
    "SupervisionAssign": obj({"account_id": s("integer", minimum=1), "note": s("string", maxLength=4000)},
                             ["account_id"], strict=True),
    "SupervisionRespond": NOTE_BODY("response", True),
    "SupervisionClose": NOTE_BODY("result", True),
    "Referral": obj({}, title="Referral", desc="An enforcement referral (执法移交) with its review and outcome."),
    "ReferralList": paged(ref("Referral")),
    "ReferralNote": NOTE_BODY("note", False),
    "ReferralReject": NOTE_BODY("reason", True),
    "ReferralClose": obj(dict(outcome=s("string", minLength=1, maxLength=4000),
                              decision_no=s("string", maxLength=100),
                              penalty_amount=nullable(s("number", minimum=0)),
                              decided_on=s("string", format="date")), ["outcome", "decided_on"], strict=True),
    "Notice": obj({}, title="Notice", desc="A public notice (警示通报): draft, approved or published."),
    "NoticeList": paged(ref("Notice")),
    "NoticeDraft": obj(dict(enterprise_id=s("integer", minimum=1), warning_id=s("integer", minimum=1),
                            hazard_id=s("integer", minimum=1), title=s("string", maxLength=200),
                            body=s("string", maxLength=20000)), ["enterprise_id"], strict=True),
    "NoticeCandidates": obj(dict(warnings=arr(obj({})), hazards=arr(obj({})))),
})
LIST_PARAMS = [P("district"), P("street"), P("enterprise"), P("open"), P("limit50"), P("offset")]
OPERATIONS.update({
    "listSupervisions": dict(tag="supervision", zh="督办列表", en="Supervision orders",
         desc="Oldest first. mine=true: assigned to the caller.",
         params=[csv_param("level", ["street", "district", "city"], "Levels."),
                 csv_param("status", ["open", "assigned", "responded", "closed"], "Statuses."),
                 {"name": "mine", "in": "query", "description": "Assigned to me.",
                  "schema": enum(["true", "false", "1", "0"])}] + LIST_PARAMS,
         resp=ok(ref("SupervisionList")), err=[400]),
    "getSupervision": dict(tag="supervision", zh="督办详情", en="One supervision order", resp=ok(ref("Supervision"))),
    "assignSupervision": dict(tag="supervision", zh="交办", en="Assign to a person",
         desc="open / assigned → assigned, by the order's level or above; the assignee is an enabled "
              "government account of the caller's scope (422 assignee_invalid).",
         body=json_body(ref("SupervisionAssign")), resp=ok(ref("Supervision")), err=[400, 409, 422]),
    "respondSupervision": dict(tag="supervision", zh="督办回复", en="Answer",
         desc="open / assigned → responded, by the enterprise or the assignee.",
         body=json_body(ref("SupervisionRespond")), resp=ok(ref("Supervision")), err=[400, 409]),
    "closeSupervision": dict(tag="supervision", zh="办结", en="Close with a result",
         desc="→ closed, by the order's level or above.",
         body=json_body(ref("SupervisionClose")), resp=ok(ref("Supervision")), err=[400, 409]),
    "listReferrals": dict(tag="supervision", zh="执法移交列表", en="Enforcement referrals",
         params=[csv_param("status", ["open", "accepted", "rejected", "closed"], "Statuses.")] + LIST_PARAMS,
         resp=ok(ref("ReferralList")), err=[400]),
    "getReferral": dict(tag="supervision", zh="执法移交详情", en="One referral", resp=ok(ref("Referral"))),
    "acceptReferral": dict(tag="supervision", zh="受理", en="Accept a referral", desc="open → accepted.",
         body=json_body(ref("ReferralNote"), required=False), resp=ok(ref("Referral")), err=[400, 409]),
    "rejectReferral": dict(tag="supervision", zh="不予受理", en="Reject a referral", desc="open → rejected.",
         body=json_body(ref("ReferralReject")), resp=ok(ref("Referral")), err=[400, 409]),
    "closeReferral": dict(tag="supervision", zh="结案", en="Close with the outcome",
         desc="accepted → closed with the decision (number, amount in yuan, date). 422 outcome_invalid.",
         body=json_body(ref("ReferralClose")), resp=ok(ref("Referral")), err=[400, 409, 422]),
    "listNotices": dict(tag="supervision", zh="警示通报", en="Public notices",
         desc="Government: the notices about its enterprises, drafts included; enterprises: the published "
              "notices of their district, street and city.",
         params=[csv_param("status", ["draft", "approved", "published"], "Statuses.")] + LIST_PARAMS,
         resp=ok(ref("NoticeList")), err=[400]),
    "listNoticeCandidates": dict(tag="supervision", zh="可通报事项", en="Overdue warnings and hazards without a notice",
         resp=ok(ref("NoticeCandidates"))),
    "draftNotice": dict(tag="supervision", zh="起草通报", en="Draft a notice",
         desc="From a warning or hazard of the enterprise (text drafted from its facts) or with a title and body.",
         body=json_body(ref("NoticeDraft")), resp=ok(ref("Notice"), "Created.", 201), err=[400, 422]),
    "getNotice": dict(tag="supervision", zh="通报详情", en="One notice", resp=ok(ref("Notice"))),
    "exportNotice": dict(tag="supervision", zh="导出通报", en="A notice as text",
         resp={"200": {"description": "Plain text.", "content": {"text/plain": {"schema": s("string")}}}}),
    "approveNotice": dict(tag="supervision", zh="审核通报", en="Approve a draft", desc="draft → approved.",
         resp=ok(ref("Notice")), err=[409]),
    "publishNotice": dict(tag="supervision", zh="发布通报", en="Publish", desc="approved → published.",
         resp=ok(ref("Notice")), err=[409]),
})
TAGS.append(("supervision", "Supervision orders (督办), enforcement referrals (执法移交) and public notices (警示通报)."))


# --- 系统值守 (api/resources/duty.c)
SCHEMAS.update({
    "DutyQueue": obj(dict(now=s("string", format="date-time"), total=s("integer"), counts=obj({}),
                          items=arr(obj(dict(kind=enum(["warning_unsigned", "clearance_request", "warning_overdue",
                                                        "alarm_overdue", "hazard_due", "filing_to_approve",
                                                        "supervision_open"]),
                                             id=s("integer"), enterprise=obj({}),
                                             since=s("string", format="date-time"),
                                             deadline=nullable(s("string", format="date-time")),
                                             overdue=s("boolean"), detail=nullable(s("string"))))))),
    "EnterpriseTodo": obj(dict(enterprise=obj({}), now=s("string", format="date-time"), total=s("integer"),
                               items=arr(obj({})))),
    "DutyShifts": obj(dict(items=arr(obj({})))),
    "DutyShift": obj(dict(district_id=s("integer", minimum=1), account_id=s("integer", minimum=1),
                          starts_at=s("string", format="date-time"), ends_at=s("string", format="date-time"),
                          note=s("string", maxLength=1000),
                          phone=s("string", "The SMS of to_watch subscriptions goes here.", pattern="^\\+?[0-9]{5,20}$")),
                          ["account_id", "starts_at", "ends_at"], strict=True),
    "DutyShiftCreated": obj({}),
    "Handovers": obj(dict(items=arr(obj({})))),
    "HandoverCreate": obj(dict(district_id=s("integer", minimum=1), note=s("string", minLength=1, maxLength=4000)),
                          ["note"], strict=True),
})
OPERATIONS.update({
    "getDutyQueue": dict(tag="duty", zh="处理队列", en="The work queue of the person on watch",
         desc="Unsigned red/orange warnings, clearance requests, overdue warnings and alarms, hazards due "
              "within 7 days, filings the caller may review and open supervision orders; oldest first, each "
              "with its deadline (at most 500).", resp=ok(ref("DutyQueue"))),
    "listDutyShifts": dict(tag="duty", zh="值班表", en="Duty shifts",
         desc="Shifts overlapping from..to (default: the next 7 days).", params=[P("from"), P("to")],
         resp=ok(ref("DutyShifts")), err=[400]),
    "addDutyShift": dict(tag="duty", zh="排班", en="Add a shift",
         desc="By a district administrator for its district (the city names district_id); the account is a "
              "government account of the district or its streets (422 assignee_invalid).",
         body=json_body(ref("DutyShift")), resp=ok(ref("DutyShiftCreated"), "Created.", 201), err=[400, 422]),
    "listHandovers": dict(tag="duty", zh="交接班记录", en="Shift handover notes", resp=ok(ref("Handovers"))),
    "addHandover": dict(tag="duty", zh="交接班", en="Write a handover note",
         desc="Records the queue's current size with it. Answers the notes.",
         body=json_body(ref("HandoverCreate")), resp=ok(ref("Handovers")), err=[400]),
    "getEnterpriseTodo": dict(tag="duty", zh="企业待办", en="An enterprise's to-do list",
         desc="Alarms to acknowledge or handle, warnings to sign or clear, cleaning due this period, hazards "
              "to plan or rectify, supervision orders to answer, returned filings, spot-check findings to answer; "
              "oldest first.",
         resp=ok(ref("EnterpriseTodo"))),
})
TAGS.append(("duty", "Duty watch (系统值守): the work queue, roster, handovers, and the enterprise's to-do."))
TAGS.append(("survey", "摸排 entry: streets propose enterprises and changes, districts confirm or return them."))
TAGS.append(("attachments", "Archive attachments (档案附件): safety assessment, zoning drawing, licences."))

# --- the district's watch: roster removal, the inbox, SMS delivery reports (migration 0118)
SCHEMAS.update({
    "NotifyInbox": obj({"unread": COUNT,
                        "items": arr(obj({"id": ID, "dedup_key": s("string"), "event": s("string"),
                                          "payload": obj({}), "created_at": TS, "read_at": nullable(TS),
                                          "enterprise_id": ID}))}, ["unread", "items"]),
    "InboxRead": obj({"id": ID, "read": s("boolean")}, ["id", "read"]),
    "SmsReport": obj({"ref": s("string", "The ref the adapter sent (<dedup key>:<phone>).", maxLength=400),
                      "status": enum(["delivered", "failed", "read"]),
                      "detail": s("string", maxLength=200)}, ["ref", "status"], strict=True),
    "SmsReportResult": obj({"matched": COUNT}, ["matched"]),
})
OPERATIONS.update({
    "deleteDutyShift": dict(tag="duty", zh="删除排班", en="Remove a shift",
         desc="A shift of the caller's district (the city: any); another district's is a 404.",
         resp=ok(ref("IdOnly"))),
    "getNotifyInbox": dict(tag="notify", zh="站内通知", en="The inbox of the signed-in person",
         desc="inapp messages of to_watch subscriptions that reached the caller while on watch, newest "
              "first, with the unread count.",
         params=[{"name": "limit", "in": "query", "description": "At most (default 50).",
                  "schema": s("integer", minimum=1, maximum=200, default=50)}],
         resp=ok(ref("NotifyInbox")), err=[400]),
    "readNotifyInboxItem": dict(tag="notify", zh="标记已读", en="Open an inbox message (read receipt)",
         desc="Marks it read once and logs the receipt (delivery log result read); another person's is a 404.",
         resp=ok(ref("InboxRead"))),
    "reportSmsDelivery": dict(tag="notify", zh="短信回执", en="SMS gateway delivery report",
         desc="Called by the SMS gateway with Authorization: Bearer <sms_report_token> (401 otherwise): "
              "delivered and read are logged as receipts (read marks the message read); failed is logged "
              "and the message is sent again. 404 when no SMS was sent under ref.",
         body=json_body(ref("SmsReport")), resp=ok(ref("SmsReportResult")), err=[400, 401]),
})


# --- bulk tables of systems, points and cameras (api/resources/bulk.c)
SCHEMAS.update({
    "BulkImportResult": obj({"imported": COUNT, "created": COUNT, "updated": COUNT, "unchanged": COUNT,
                             "errors": arr(s("object"), maxItems=0)},
                            ["imported", "created", "updated", "unchanged", "errors"]),
    "BulkImportRefused": obj({
        "code": enum([IMPORT_REFUSED]), "hint": s("string"), "detail": s("string"),
        "imported": s("integer", const=0),
        "errors": arr(obj({"row": s("integer", "Spreadsheet row (header is 1)."),
                           "line": s("integer", "The file's line the row starts on."),
                           "column": s("string", "The column's header, as exported (\"\": the row)."),
                           "field": s("string", "The column's name."),
                           "code": enum(["row_invalid", "row_rejected", "duplicate_in_file", "duplicate",
                                         "too_many_rows", "enterprise_not_in_scope",
                                         "enterprise_mismatch", "system_unknown", "code_taken",
                                         "identity_changed"]),
                           "message": s("string")}, ["row", "line", "column", "code", "message"]))},
        ["code", "hint", "detail", "imported", "errors"]),
})
BULK_EXPORT_PARAMS = [Q("format", enum(["csv", "xlsx"]), "csv (default) or xlsx."),
                      Q("enterprise", s("integer", minimum=1), "Only this enterprise."),
                      Q("template", enum(["1", "true"]), "The header alone: the file to fill in.")]


def bulk_ops(what, zh, op_export, op_import, who):
    return {
        op_export: dict(tag="assets", zh=f"导出{zh}表", en=f"Export the {what} table",
            desc=f"Every {what[:-1] if what.endswith('s') else what} of the caller's scope (or of one "
                 "enterprise) in the import's column layout: importing the file changes nothing. CSV is "
                 "UTF-8 with a BOM; text cells starting with = + - @ (or tab, CR) are quoted with an "
                 "apostrophe, which the import takes off. Audited.",
            params=BULK_EXPORT_PARAMS,
            resp={"200": {"description": "The table.",
                          "content": {"text/csv": {"schema": s("string")},
                                      XLSX_MEDIA: {"schema": s("string", format="binary")}}}},
            err=[400]),
        op_import: dict(tag="assets", zh=f"导入{zh}表 (CSV/Excel)", en=f"Import the {what} table (CSV or XLSX)",
            desc=f"{who} The export's header (columns matched by header or column name; unknown "
                 "columns refuse the file). Rows are matched by their natural key (enterprise code + "
                 "code; points: the code, unique in the city): existing ones are updated, equal ones "
                 "counted unchanged, others created. A blank cell stores NULL where the column may be "
                 "empty, else its default; a column left out keeps the stored values. All or nothing: "
                 f"any refused row answers 422 {IMPORT_REFUSED} listing every refused row with its "
                 "row, line and column, and nothing is stored; at most 5000 rows and 4 MiB. CSV "
                 "(UTF-8, BOM optional; GBK and UTF-16 answer 415 file_format) or an XLSX workbook "
                 "(recognised by its bytes; its first sheet; a row's line is the sheet's row number; "
                 "numbers keep the workbook's 16 significant digits; a damaged workbook, one with a "
                 "DTD or a part over 64 MB answers 415 file_format). "
                 "enterprise=<id>: every row must name that enterprise. One audit record per import.",
            params=[Q("enterprise", s("integer", minimum=1), "Rows must name this enterprise.")],
            body={"required": True, "content": {"text/csv": {"schema": s("string")},
                                                XLSX_MEDIA: {"schema": s("string", format="binary")}}},
            resp=ok(ref("BulkImportResult")),
            err=[400, 415],
            err422={"description": f"Import refused ({IMPORT_REFUSED}, rows listed) or the header "
                                   "is unusable (unprocessable).",
                    "content": {"application/json": {"schema": {
                        "anyOf": [ref("BulkImportRefused"), ref("Error")]}}}}),
    }


OPERATIONS.update(bulk_ops("dust-removal systems", "除尘系统", "exportDustSystems", "importDustSystems",
                           "City and district (a risk input)."))
OPERATIONS.update(bulk_ops("monitoring points", "监测点", "exportPoints", "importPoints",
                           "City and district (a risk input). An existing point keeps its kind and "
                           "system (identity_changed)."))
OPERATIONS.update(bulk_ops("cameras", "摄像头", "exportCameras", "importCameras",
                           "City, district and the enterprise itself."))


# --- 在线抽查 (api/resources/spotchecks.c)
SPOT_RULES = ["random", "grade", "street", "stale", "list"]
SPOT_FINDING_STATUSES = ["hazard", "requested", "replied", "rejected", "closed"]
SCHEMAS.update({
    "SpotChecklist": obj(dict(items=arr(obj(dict(code=s("string"), zh=s("string"), en=s("string"),
                                                 major_item=nullable(s("integer"))))))),
    "SpotCampaign": obj(dict(
        id=s("integer"), title=s("string"), district_id=nullable(s("integer")), street_id=nullable(s("integer")),
        period_from=s("string", format="date-time"), period_to=s("string", format="date-time"),
        rule=enum(SPOT_RULES), params=obj({}), status=enum(["open", "closed"]), creator=s("string"),
        checks=s("integer"), done=s("integer"), findings=s("integer")),
        title="SpotCampaign", desc="A spot-check campaign (抽查批次) and how its enterprises were picked."),
    "SpotCampaignList": paged(ref("SpotCampaign")),
    "SpotCampaignDetail": obj(dict(campaign=ref("SpotCampaign"), checks=arr(obj({})))),
    "SpotCampaignCreate": obj(dict(
        title=s("string", minLength=1, maxLength=200), rule=enum(SPOT_RULES),
        n=s("integer", minimum=1, maximum=200, description="at most this many, picked at random (default 10)"),
        grades=arr(enum(["blue", "yellow", "orange", "red", "none"]), description="rule grade"),
        street_code=s("string", description="rule street"),
        stale_days=s("integer", minimum=1, maximum=366, description="rule stale: not checked for this many days "
                                                                       "(default 30)"),
        enterprise_ids=arr(s("integer", minimum=1), description="rule list"),
        period_from=s("string", format="date-time", description="default: 30 days before period_to"),
        period_to=s("string", format="date-time", description="default: now")),
        ["title", "rule"], strict=True),
    "SpotCheckDetail": obj(dict(check=obj({}), campaign=ref("SpotCampaign"), checklist=arr(obj({})),
                                findings=arr(ref("SpotFinding")))),
    "SpotDossier": obj(dict(check=ref("SpotCheckDetail"), period=obj({}), alarms=obj({}), video_alarms=obj({}),
                            cleaning=obj({}), online=obj({}), interruptions=obj({}), filings=arr(obj({})),
                            hazards=obj({}))),
    "SpotRecord": obj(dict(
        answers=obj({}, desc="every active checklist item code: ok, finding or na"),
        note=s("string", maxLength=4000),
        findings=arr(obj(dict(item_code=s("string"), title=s("string", minLength=1, maxLength=200),
                              description=s("string", maxLength=4000), action=enum(["hazard", "rectification"]),
                              kind=enum(["major", "ordinary"]), major_item=s("integer", minimum=1, maximum=10),
                              deadline=s("string", format="date-time")), ["title", "action"], strict=True),
                     maxItems=20)), ["answers"], strict=True),
    "SpotFinding": obj(dict(
        id=s("integer"), check_id=s("integer"), campaign_id=nullable(s("integer")), enterprise=obj({}),
        item_code=nullable(s("string")), title=s("string"), description=s("string"),
        action=enum(["hazard", "rectification"]), hazard=nullable(obj({})),
        deadline=s("string", format="date-time"), status=enum(SPOT_FINDING_STATUSES), closed=s("boolean"),
        overdue=s("boolean"), reply=s("string"), verify_note=s("string")),
        title="SpotFinding", desc="A finding: a hazard (its loop is the hazard's) or a rectification request."),
    "SpotFindingList": paged(ref("SpotFinding")),
    "SpotFindingDetail": obj(dict(finding=ref("SpotFinding"))),
    "SpotReply": obj({"reply": s("string", minLength=1, maxLength=4000)}, ["reply"], strict=True),
    "SpotCounts": obj({"from": s("string", format="date-time"), "to": s("string", format="date-time"),
                       "totals": obj({}), "items": arr(obj(dict(
                               inspector_id=nullable(s("integer")), inspector=s("string"), checks=s("integer"),
                               findings=s("integer"), hazards=s("integer"), rectifications=s("integer"),
                               closed=s("integer"))))}),
})
OPERATIONS.update({
    "getSpotChecklist": dict(tag="spotchecks", zh="抽查检查表", en="The spot-check checklist",
         resp=ok(ref("SpotChecklist"))),
    "listSpotCampaigns": dict(tag="spotchecks", zh="抽查批次", en="Spot-check campaigns",
         desc="The caller's own: its district's (or street's) and, for the city, all; newest first.",
         params=[csv_param("status", ["open", "closed"], "Statuses."), P("limit50"), P("offset")],
         resp=ok(ref("SpotCampaignList")), err=[400]),
    "createSpotCampaign": dict(tag="spotchecks", zh="发起抽查", en="Start a campaign",
         desc="Picks enterprises of the caller's scope: random N, by risk grade, by street, not checked for "
              "stale_days, or a list (404 when one is not in scope); 422 spot_invalid when nothing matches.",
         body=json_body(ref("SpotCampaignCreate")), resp=ok(ref("SpotCampaignDetail"), "Created.", 201),
         err=[400, 404, 422]),
    "getSpotCampaign": dict(tag="spotchecks", zh="抽查批次详情", en="A campaign with its checks",
         resp=ok(ref("SpotCampaignDetail"))),
    "closeSpotCampaign": dict(tag="spotchecks", zh="结束抽查", en="Close a campaign", desc="open → closed.",
         resp=ok(ref("SpotCampaignDetail")), err=[409]),
    "getSpotCheckCounts": dict(tag="spotchecks", zh="抽查统计", en="Checks per inspector",
         desc="Checks done in from..to (default: the last 30 days) per inspector, with findings, hazards, "
              "rectification requests and closed findings.",
         params=[P("from"), P("to")], resp=ok(ref("SpotCounts")), err=[400]),
    "getSpotCheck": dict(tag="spotchecks", zh="抽查详情", en="A check with its checklist and findings",
         resp=ok(ref("SpotCheckDetail"))),
    "getSpotCheckDossier": dict(tag="spotchecks", zh="抽查一企一档", en="The check's dossier",
         desc="The enterprise over the campaign's period in one answer: alarms and their handling, video "
              "alarms, cleaning check-ins, data online and interruptions, filings, open hazards.",
         resp=ok(ref("SpotDossier"))),
    "recordSpotCheck": dict(tag="spotchecks", zh="记录抽查结果", en="Record the check",
         desc="pending → done, once, while the campaign is open. A finding with action hazard becomes a hazard "
              "(found_how spot_check; default kind from the checklist item); one with action rectification is "
              "a request the enterprise answers (default deadline 15 days).",
         body=json_body(ref("SpotRecord")), resp=ok(ref("SpotCheckDetail")), err=[400, 409, 422]),
    "listSpotFindings": dict(tag="spotchecks", zh="抽查问题", en="Spot-check findings",
         desc="Deadline first. Enterprises see their own.",
         params=[csv_param("status", SPOT_FINDING_STATUSES, "Statuses."), P("enterprise"), P("open"),
                 P("limit50"), P("offset")],
         resp=ok(ref("SpotFindingList")), err=[400]),
    "getSpotFinding": dict(tag="spotchecks", zh="抽查问题详情", en="A finding", resp=ok(ref("SpotFindingDetail"))),
    "replySpotFinding": dict(tag="spotchecks", zh="整改回复", en="Answer a rectification request",
         desc="requested or rejected → replied, by the enterprise.", body=json_body(ref("SpotReply")),
         resp=ok(ref("SpotFindingDetail")), err=[400, 409]),
    "verifySpotFinding": dict(tag="spotchecks", zh="核验通过", en="Verify the answer", desc="replied → closed.",
         body=json_body(ref("HazardNote"), required=False), resp=ok(ref("SpotFindingDetail")), err=[400, 409]),
    "rejectSpotFinding": dict(tag="spotchecks", zh="核验不通过", en="Reject the answer", desc="replied → rejected.",
         body=json_body(ref("HazardReason")), resp=ok(ref("SpotFindingDetail")), err=[400, 409]),
})
TAGS.append(("spotchecks", "Online spot checks (在线抽查): campaigns, dossiers, checklists and findings."))


def error_response(status, name, desc):
    codes = error_codes_for(status)
    schema = {"allOf": [ref("Error"),
                        {"properties": {"code": {"enum": codes}}}]} if codes else ref("Error")
    r = {"description": desc, "content": {"application/json": {"schema": schema}}}
    if status in (429, 503):
        r["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                        "schema": s("integer", minimum=1)}}
    return name, r


def build_operation(rt, d):
    """rt: the route as `dustwatch routes --json` prints it; d: its OPERATIONS entry."""
    public = rt["public"]
    roles = [] if public else rt["roles"]
    max_body = rt["max_body"]
    has_id = "{id}" in rt["path"]
    desc = f"{d['zh']}。"
    if d.get("desc"):
        desc += "\n\n" + d["desc"]
    if public:
        desc += "\n\nPublic: no login."
    else:
        who = ", ".join(roles)
        desc += f"\n\nRoles: {who}" + (" (administrators only: city_admin, district_admin, "
                                       "enterprise_manager)" if rt["admin_only"] else "")
        if rt["before_password_change"]:
            desc += "; also while the account must change its password"
        desc += "."
    op = {"tags": [d["tag"]], "operationId": rt["operation_id"], "summary": d["en"],
          "description": desc}
    params = []
    if has_id:
        params.append(P("id"))
    params += d.get("params", [])
    if params:
        op["parameters"] = params
    if d.get("body"):
        op["requestBody"] = d["body"]
    responses = dict(d["resp"])
    errs = set(d.get("err", []))
    if not public:
        errs |= {401, 403, 503}
    if has_id:
        errs.add(404)
    if max_body > 0:
        errs.add(413)
        if not public:
            errs |= {400, 415}
    if d.get("err422"):
        responses["422"] = d["err422"]
        errs.discard(422)
    for st in sorted(errs):
        responses[str(st)] = {"$ref": "#/components/responses/" + ERROR_RESPONSES[st][0]}
    op["responses"] = dict(sorted(responses.items()))
    if public:
        op["security"] = []
    else:
        sec = [{"cookieSession": []}, {"bearerToken": []}]
        if "enterprise" in roles and not rt["admin_only"]:
            sec.append({"enterpriseApiKey": []})
        op["security"] = sec
    op["x-roles"] = roles
    op["x-admin-only"] = rt["admin_only"]
    op["x-before-password-change"] = rt["before_password_change"]
    if rt.get("read_replica"):
        op["x-read-replica"] = True
    op["x-max-body"] = max_body
    op.update(d.get("extra", {}))
    return op


def health_paths(listener):
    out = {}
    for path, op_id, zh, en, schema, desc in [
        ("/healthz", "healthz", "存活检查", "Liveness", "Health",
         "Always 200 while the process serves requests."),
        ("/readyz", "readyz", "就绪检查", "Readiness", "Ready",
         "200 when PostgreSQL answers and the migrations are applied, else 503 with the same "
         "body. Redis and durability are reported, not required."),
    ]:
        responses = {"200": {"description": "OK", "content": {"application/json": {
            "schema": ref(schema)}}}}
        if path == "/readyz":
            responses["503"] = {"description": "Not ready.", "content": {"application/json": {
                "schema": ref(schema)}}}
        responses["405"] = {"description": "Only GET and HEAD (method_not_allowed).",
                            "headers": {"Allow": {"schema": s("string"),
                                                  "description": "GET, HEAD"}},
                            "content": {"application/json": {"schema": ref("Error")}}}
        out[path] = {"get": {
            "tags": ["health"], "operationId": op_id + ("" if listener == "api" else "Ingest"),
            "summary": en, "description": f"{zh}。\n\n{desc} Public; not in the route table "
            f"(answered before dispatch). Also answers HEAD.",
            "security": [], "responses": responses,
            "x-roles": [], "x-admin-only": False, "x-max-body": 0}}
        if listener == "api":
            out[path]["get"]["x-before-password-change"] = False
    return out


def build_api(routes):
    """routes: the checked route table (see check_routes), in its order."""
    paths = health_paths("api")
    for rt in routes:
        paths.setdefault(rt["path"], {})[rt["method"].lower()] = build_operation(
            rt, OPERATIONS[rt["operation_id"]])
    before_pw = [rt["path"].removeprefix("/api/v1") for rt in routes
                 if rt["before_password_change"]]
    before_pw = (", ".join(before_pw[:-1]) + " and " + before_pw[-1] if len(before_pw) > 1
                 else "".join(before_pw))
    responses = {}
    for st in sorted(ERROR_RESPONSES):
        name, desc = ERROR_RESPONSES[st]
        name, r = error_response(st, name, desc.replace("{before_pw}", before_pw))
        responses[name] = r
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dustwatch REST API",
            "version": "1",
            "summary": "粉尘涉爆企业监测预警 — dust-explosion monitoring for district emergency "
                       "bureaus",
            "description": (
                "粉尘涉爆企业监测预警系统 REST API：企业档案、监测点、报警、预警、风险、清理打卡与账号管理。\n\n"
                "The REST API of dustwatch, for city, district and street emergency bureaus and "
                "the enterprises they supervise.\n\n"
                "**Authentication.** POST /api/v1/auth/login sets the HttpOnly cookie "
                "`dw_session` and returns the same token; send either the cookie or "
                "`Authorization: Bearer <token>`. Enterprise REST API keys (dwa_…; older keys dwk_…) go in `X-Api-Key` "
                "(or as the bearer token) and act as enterprise_staff.\n\n"
                "**Roles.** Every operation lists the scope kinds it admits in `x-roles` (city, "
                "district, street, enterprise) and whether only administrators (city_admin, "
                "district_admin, enterprise_manager) may use it in `x-admin-only`; other "
                "callers get 403 before any object lookup. Objects outside the caller's scope "
                "answer 404. `x-before-password-change` marks the operations that still answer "
                "while the account must change its password (403 on every other). `x-max-body` "
                "is the route's body limit in bytes (413 above). "
                "`GET /api/v1/routes` answers the same table at runtime.\n\n"
                "**Requests.** Bodies are one JSON object in UTF-8 without duplicate keys and "
                "at most 32 levels deep; unknown fields answer 400 unknown_field "
                "(additionalProperties: false). Writes with a body must send Content-Type: "
                "application/json (415 otherwise).\n\n"
                "**Errors.** Every error body is {code, hint, detail} (schema Error); codes come "
                "from api/core/errors.def and are never renamed. 503 and 429 carry Retry-After. "
                "Paths without a route answer 404 and known paths with another method 405 with "
                "Allow; OPTIONS answers the Allow list."),
            "license": {"name": "Proprietary", "identifier": "LicenseRef-dustwatch"},
        },
        "servers": [{"url": "/", "description": "The API listener (config key api_listen)."}],
        "tags": [{"name": n, "description": d} for n, d in TAGS],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "cookieSession": {"type": "apiKey", "in": "cookie", "name": "dw_session",
                                  "description": "Session cookie set by POST /api/v1/auth/login "
                                                 "(HttpOnly, SameSite=Strict)."},
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "Authorization: Bearer <session token dws_… or "
                                               "REST API key dwa_…>."},
                "enterpriseApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                                     "description": "Enterprise REST API key (dwa_…); acts as "
                                                    "enterprise_staff of its enterprise."},
            },
            "parameters": PARAMS,
            "responses": responses,
            "schemas": SCHEMAS,
        },
    }


# ---------------------------------------------------------------------------
# the ingest listener (server/ingest/ing_http.c)


def ingest_schema(kind):
    with open(os.path.join(HERE, f"ingest-{kind}.schema.json"), encoding="utf-8") as f:
        sch = json.load(f)
    sch.pop("$schema", None)
    sch.pop("$id", None)
    return sch


def build_ingest():
    kinds = [("readings", "rtsData", "监测数据", "Readings"),
             ("events", "eventsData", "报警事件", "Alarm events"),
             ("videos", "videosData", "视频报警", "Video alarms")]
    schemas = {
        "Error": obj({"code": ref("ErrorCode"), "hint": s("string"), "detail": s("string")},
                     ["code", "hint", "detail"]),
        "ErrorCode": {"type": "string", "enum": [c for c, _, _ in INGEST_ERRORS],
                      "description": "From server/ingest/ing_errors.def: " +
                      "; ".join(f"{c} ({st}): {h}" for c, st, h in INGEST_ERRORS)},
        "BatchResult": obj({
            "accepted": COUNT, "duplicate": s("integer", "Already stored (same key, same "
                                              "value and quality).", minimum=0),
            "rejected": COUNT,
            "conflicting": s("integer", "Readings whose (point, instant) already holds another "
                             "value or quality: kept apart, not lost (the point's data_quality). "
                             "Present only when not 0.", minimum=1),
            "conflicts": arr(obj({"index": s("integer", minimum=0), "ref": N_STR,
                                  "code": enum(["conflicting_value"]), "message": s("string"),
                                  "value": s("number", "The value sent."),
                                  "stored_value": s("number", "The value the instant holds.")},
                                 ["index", "code", "message", "value", "stored_value"]),
                             "Present only with conflicting; at most 1000 listed."),
            "errors": arr(obj({"index": s("integer", minimum=0), "ref": N_STR,
                               "code": s("string", "missing_field, bad_timestamp, "
                                         "future_timestamp, non_numeric, bad_quality, "
                                         "bad_level, bad_image, duplicate_in_batch, "
                                         "unknown_point, foreign_point, out_of_range, "
                                         "point_disabled, implausible, too_old, day_packed, …"),
                               "message": s("string")}, ["index", "code", "message"]),
                          "At most 1000 listed.")},
            ["accepted", "duplicate", "rejected", "errors"],
            desc="Per-item problems do not fail the batch."),
        "HebeiEnvelope": obj({
            "qybm": s("string", "Enterprise code (企业编码)."),
            "wgbm": s("string", "Gateway code (网关编码), optional."),
            "data": s("string", "UPPER-case hex of Base64 of DES-CBC-PKCS5(UTF-8 JSON), key per "
                      "enterprise, IV 12345678 unless configured."),
            "img": s("string", "Base64 JPEG, PNG or WebP image attached to every video item.",
                     contentEncoding="base64"),
        }, ["qybm", "data"], desc="Hebei V1.1 outer body (河北省数据上传接口 V1.1). Unknown fields "
                                  "are ignored in this dialect. Inner payloads: readings "
                                  "{qybm, data: {rts: [{tnm, ts, val}]}}, events {qybm, data: "
                                  "{events: [{ts, oname, avx, scd, threshold, content}]}}, "
                                  "videos {ts, videoCode, alarmType, content}; ts is Beijing "
                                  "time yyyy-MM-dd HH:mm:ss."),
        "HebeiReply": obj({"code": s("integer", "200 success; 422 some items rejected (listed "
                                     "in msg); otherwise the failure's HTTP-like status."),
                           "msg": s("string"), "data": s("null")}, ["code", "msg", "data"]),
        "MemEnvelope": obj({
            "appid": s("string", minLength=1),
            "data": s("string", "Hex of SM4-CBC-PKCS5(JSON payload); key and IV per appid. "
                      "The plaintext is decoded by the appid's inner decoder: native (our v1 "
                      "format) or hebei (the Hebei inner shape, unencrypted).", minLength=1),
        }, ["appid", "data"], desc="MEM national envelope (应急管理部). Unknown outer fields are "
                                   "ignored."),
    }
    for kind, _, _, en in kinds:
        schemas["Ingest" + kind.capitalize()] = ingest_schema(kind)

    def err_ref(name):
        return {"$ref": "#/components/responses/" + name}

    responses = {
        "BadRequest": {"description": "Whole-batch error (bad_json, bad_envelope, unknown_field, "
                       "bad_encoding, decrypt_failed, bad_idempotency_key, …).",
                       "content": {"application/json": {"schema": ref("Error")}}},
        "Unauthenticated": {"description": "Missing or wrong credential (unauthenticated).",
                            "content": {"application/json": {"schema": ref("Error")}}},
        "Conflict": {"description": "The Idempotency-Key is being processed by another request "
                     "(idempotency_key_in_use).",
                     "content": {"application/json": {"schema": ref("Error")}}},
        "PayloadTooLarge": {"description": "Body above ingest_max_body, more than 10000 items "
                            "(too_many_items) or an image too large (image_too_large).",
                            "content": {"application/json": {"schema": ref("Error")}}},
        "UnsupportedMediaType": {"description": "Content-Type other than application/json or "
                                 "text/plain (unsupported_media_type).",
                                 "content": {"application/json": {"schema": ref("Error")}}},
        "Unprocessable": {"description": "The Idempotency-Key was used with a different body "
                          "(idempotency_key_reused), or the batch breaks a database rule "
                          "(unprocessable).",
                          "content": {"application/json": {"schema": ref("Error")}}},
        "ServiceUnavailable": {"description": "Queue full (overloaded) or database unreachable "
                               "(db_unavailable); nothing stored. Retry after Retry-After with "
                               "the same Idempotency-Key.",
                               "headers": {"Retry-After": {"schema": s("integer", minimum=1),
                                                           "description": "Seconds."}},
                               "content": {"application/json": {"schema": ref("Error")}}},
    }
    idem = {"name": "Idempotency-Key", "in": "header", "required": False,
            "description": "1..255 characters (e.g. a UUID). A retry with the same key and "
                           "body replays the stored answer (header Idempotent-Replayed: true).",
            "schema": s("string", minLength=1, maxLength=255)}
    replayed = {"Idempotent-Replayed": {"description": "true when this answer is a replay.",
                                        "schema": enum(["true"])}}
    paths = health_paths("ingest")
    for kind, hebei, zh, en in kinds:
        paths[f"/ingest/v1/{kind}"] = {"post": {
            "tags": ["native"], "operationId": f"ingestNative{kind.capitalize()}",
            "summary": f"{en} (our format v1)",
            "description": f"{zh}上传（本系统格式 v1）。\n\nStrict JSON: unknown fields anywhere "
                           "answer 400. Credential: the enterprise's API key in X-Api-Key.",
            "security": [{"enterpriseApiKey": []}],
            "parameters": [idem],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": ref("Ingest" + kind.capitalize())}}},
            "responses": {
                "200": {"description": "Processed; per-item rejects are listed.",
                        "headers": replayed,
                        "content": {"application/json": {"schema": ref("BatchResult")}}},
                "400": err_ref("BadRequest"), "401": err_ref("Unauthenticated"),
                "409": err_ref("Conflict"), "413": err_ref("PayloadTooLarge"),
                "415": err_ref("UnsupportedMediaType"), "422": err_ref("Unprocessable"),
                "503": err_ref("ServiceUnavailable")}}}
        paths[f"/rabbitmqfcsb/api/{hebei}"] = {"post": {
            "tags": ["hebei"], "operationId": f"ingestHebei{kind.capitalize()}",
            "summary": f"{en} (Hebei V1.1 dialect)",
            "description": f"{zh}上传（河北省接口 V1.1，DES 加密）。\n\nThe verdict travels in the "
                           "body's code; the HTTP status stays 200 except 401, 413 and 503 "
                           "(back off). The enterprise is found by qybm; its DES key decrypts "
                           "data.",
            "security": [],
            "parameters": [idem],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": ref("HebeiEnvelope")}}},
            "responses": {
                "200": {"description": "Verdict in code (200 ok, 422 items rejected, 400 …).",
                        "headers": replayed,
                        "content": {"application/json": {"schema": ref("HebeiReply")}}},
                "400": err_ref("BadRequest"),
                "401": {"description": "No active DES key for this qybm.",
                        "content": {"application/json": {"schema": ref("HebeiReply")}}},
                "413": {"description": "Too large.",
                        "content": {"application/json": {"schema": ref("HebeiReply")}}},
                "415": err_ref("UnsupportedMediaType"),
                "503": {"description": "Busy or database unreachable; retry after Retry-After.",
                        "headers": {"Retry-After": {"schema": s("integer", minimum=1),
                                                    "description": "Seconds."}},
                        "content": {"application/json": {"schema": ref("HebeiReply")}}}}}}
        paths[f"/mem/v1/{kind}"] = {"post": {
            "tags": ["mem"], "operationId": f"ingestMem{kind.capitalize()}",
            "summary": f"{en} (MEM national dialect)",
            "description": f"{zh}上传（应急管理部格式，SM4 加密）。\n\nCredential: the appid's "
                           "secret in the appsecret header.",
            "security": [{"memAppSecret": []}],
            "parameters": [idem],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": ref("MemEnvelope")}}},
            "responses": {
                "200": {"description": "Processed; per-item rejects are listed.",
                        "headers": replayed,
                        "content": {"application/json": {"schema": ref("BatchResult")}}},
                "400": err_ref("BadRequest"), "401": err_ref("Unauthenticated"),
                "409": err_ref("Conflict"), "413": err_ref("PayloadTooLarge"),
                "415": err_ref("UnsupportedMediaType"), "422": err_ref("Unprocessable"),
                "503": err_ref("ServiceUnavailable")}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dustwatch ingest API",
            "version": "1",
            "summary": "数据接入 — readings, alarm events and video alarms from enterprise "
                       "gateways",
            "description": (
                "数据接入接口：本系统格式 v1、河北省 V1.1（DES）与应急管理部格式（SM4）。\n\n"
                "The ingest listener (config key ingest_listen, separate from the REST API). "
                "All endpoints take POST with one JSON body (Content-Type application/json or "
                "text/plain); other methods answer 405 with Allow: POST and unknown paths 404. "
                "Batches are written whole or not at all; per-item problems are reported per "
                "item. Idempotency-Key makes retries safe."),
            "license": {"name": "Proprietary", "identifier": "LicenseRef-dustwatch"},
        },
        "servers": [{"url": "/", "description": "The ingest listener (config key "
                                                "ingest_listen)."}],
        "tags": [{"name": "health", "description": "Liveness and readiness (健康检查)."},
                 {"name": "native", "description": "Our format v1 (本系统格式), strict."},
                 {"name": "hebei", "description": "Hebei V1.1 dialect (河北省接口), DES."},
                 {"name": "mem", "description": "MEM national dialect (应急管理部), SM4."}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "enterpriseApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                                     "description": "The enterprise's ingest credential (dwk_…); a REST API key (dwa_…) is refused."},
                "memAppSecret": {"type": "apiKey", "in": "header", "name": "appsecret",
                                 "description": "The secret issued per appid."},
            },
            "responses": responses,
            "schemas": dict(schemas, Health=SCHEMAS["Health"], Ready=SCHEMAS["Ready"]),
        },
    }


# ---------------------------------------------------------------------------
# the route table (`dustwatch routes --json`) and its check against OPERATIONS

ROUTE_KEYS = {"method": str, "path": str, "operation_id": str, "public": bool,
              "admin_only": bool, "before_password_change": bool, "roles": list,
              "max_body": int}


def default_binary():
    return os.environ.get("DW_BIN") or os.path.join(ROOT, "build", "dustwatch")


def read_routes(binary=None, routes_file=None):
    """The route table as GET /api/v1/routes answers it ({"items": [...]})."""
    if routes_file:
        with open(routes_file, encoding="utf-8") as f:
            return json.load(f)["items"]
    binary = binary or default_binary()
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"openapi_build: no dustwatch binary at {binary}: build it first "
                         "(ninja -C build) or name it with --dustwatch PATH")
    r = subprocess.run([binary, "routes", "--json"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"openapi_build: `{binary} routes --json` failed (exit "
                         f"{r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout)["items"]


def check_routes(routes):
    """Every route has a well-formed entry and a description in OPERATIONS and
    every description a route; anything else stops the build with the list."""
    problems = []
    seen = {}
    for i, rt in enumerate(routes):
        where = f"route {i} ({rt.get('method')} {rt.get('path')})"
        for k, typ in ROUTE_KEYS.items():
            if k != "operation_id" and not isinstance(rt.get(k), typ):
                problems.append(f"{where}: \"{k}\" missing or not a {typ.__name__}")
        op = rt.get("operation_id")
        if not isinstance(op, str) or not op:
            problems.append(f"{where}: no operation id in api/routes.c")
            continue
        if op in seen:
            problems.append(f"{where}: operation id \"{op}\" is also route {seen[op]}'s")
        seen[op] = i
        if op not in OPERATIONS:
            problems.append(f"{where}: operation id \"{op}\" has no description in OPERATIONS "
                            "(schema/openapi_build.py)")
    for op in OPERATIONS:
        if op not in seen:
            problems.append(f"OPERATIONS[\"{op}\"] describes no route: api/routes.c has no "
                            "route with this operation id")
    if problems:
        raise SystemExit("openapi_build: the route table and the descriptions disagree:\n  " +
                         "\n  ".join(problems))
    return routes


def render(doc):
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def outputs(routes):
    return {API_OUT: render(build_api(check_routes(routes))), INGEST_OUT: render(build_ingest())}


def main(argv):
    ap = argparse.ArgumentParser(description="Builds schema/openapi.json and "
                                 "schema/openapi-ingest.json from the route table.")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 when a committed document differs")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--dustwatch", metavar="BIN",
                     help="the built binary to read the route table from (default: $DW_BIN, "
                          "else build/dustwatch)")
    src.add_argument("--routes", metavar="FILE",
                     help="the route table as JSON (what `dustwatch routes --json` prints)")
    args = ap.parse_args(argv)
    bad = 0
    for path, text in outputs(read_routes(args.dustwatch, args.routes)).items():
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                print(f"{os.path.relpath(path, ROOT)} is stale: run python3 "
                      "schema/openapi_build.py --dustwatch build/dustwatch", file=sys.stderr)
                bad = 1
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
