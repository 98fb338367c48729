#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<harness>/ from schema/ examples
and bodies the integration tests send.  Re-run after changing a format, then
commit the corpus (files are named by content hash, so re-running is
idempotent).  Harness input layouts are described in each fuzz_*.c."""
import hashlib
import json
import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fuzz" / "corpus"
EX = ROOT / "schema" / "examples"


def put(name, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def ex(name):
    return (EX / name).read_bytes()


KINDS = {"readings": 0, "events": 1, "videos": 2}
native = {k: ex("ingest-%s.json" % k) for k in KINDS}
hebei = {"readings": ex("hebei-rtsData-inner.json"), "events": ex("hebei-eventsData-inner.json"),
         "videos": ex("hebei-videosData-inner.json")}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
extra_native = {
    "readings": [b'{"readings":[]}', b'{"readings":[{"point":"P1","ts":"2026-01-01T00:00:00Z","value":1e308}]}',
                 b'{"readings":[{"point":"P1","ts":"2026-01-01t00:00:00.123456789-23:59","value":-0.0,"quality":"suspect"},'
                 b'{"point":"P1","ts":"2026-01-01T00:00:00Z","value":1}],"gateway":"G"}'],
    "events": [b'{"events":[{"point":"P1","ts":"2026-01-01 00:00:00+08:00","level":"high_high","value":2,"threshold":1,"content":"x"}]}'],
    "videos": [('{"videos":[{"camera":"C1","ts":"2026-01-01T00:00:00Z","alarm_type":"fire","image_base64":"data:image/png;base64,%s"}]}' % PNG).encode()],
}

for k, i in KINDS.items():
    for body in [native[k]] + extra_native[k]:
        put("fuzz_native", bytes([i]) + body)
    # hebei: mode 1 (encrypted round trip) and 3 (inner only)
    for mode in (1, 3):
        put("fuzz_hebei", bytes([i + 3 * mode]) + hebei[k])
    # mode 0 (outer body) and 2 (raw ciphertext): decryption failures
    put("fuzz_hebei", bytes([i]) + b'{"qybm":"QY0001","wgbm":"GW01","data":"41424344","img":"%s"}' % PNG.encode())
    put("fuzz_hebei", bytes([i + 6]) + bytes(range(16)))
    # mem: b0 = kind + 3*inner(0 native, 1 hebei) + 6*mode
    put("fuzz_mem", bytes([i + 6]) + native[k])
    put("fuzz_mem", bytes([i + 3 + 6]) + hebei[k])
    put("fuzz_mem", bytes([i]) + b'{"appid":"APP0001","data":"00112233445566778899aabbccddeeff"}')
    put("fuzz_mem", bytes([i + 12]) + bytes(range(32)))

HEADER = ["统一社会信用代码", "企业编码", "企业名称", "所属区", "街道/镇/园区", "地址", "经度", "纬度",
          "行业代码", "企业状态", "主要负责人", "主要负责人电话", "安全负责人", "安全负责人电话", "粉尘种类",
          "涉粉作业人数", "20区数量", "21区数量", "22区数量", "建筑层数", "建筑结构", "人员聚集场所数",
          "街道代码", "区代码"]
ROW = ["91310113MA1G000077", "310113000077", "上海导入测试木业有限公司", "宝山区", "罗店镇",
       "\"沪太路 1 号, 2 栋\"", "121.35", "31.41", "C2021", "在产", "王五", "13800000000", "赵六",
       "13900000000", "木粉|铝粉", "12", "1", "2", "0", "多层", "框架", "1", "310113103", "310113"]
put("fuzz_csv_import", "\ufeff" + ",".join(HEADER) + "\r\n" + ",".join(ROW) + "\r\n")
bad = list(ROW)
bad[15], bad[6], bad[1] = "many", "east", "'=cmd"
put("fuzz_csv_import", ",".join(HEADER) + "\n" + ",".join(bad) + "\n\n" + ",".join(ROW))
put("fuzz_csv_import", ",".join(HEADER[:3]) + "\n1,2,3\n")

conf = (ROOT / "deploy" / "dustwatch.conf.example").read_bytes()
put("fuzz_config", conf)
put("fuzz_config", b'api_listen = "[::1]:8080"\ningest_listen=0.0.0.0:0\ningest_max_body = 1M\n; c\n# c\n')
put("fuzz_config", b"db_pool_size = 4k\nunknown_key = 1\n")

for body in [{"username": "baoshan.admin", "password": "correct horse"},
             {"name": "上海导入测试木业有限公司", "uscc": "91310113MA1G000077", "longitude": 121.35,
              "dust_kinds": ["wood"], "street": None, "status": "producing"},
             {"note": "ack", "nested": {"a": [1, 2.5, True, False, None, "\u00e9\U0001F600"]}}]:
    put("fuzz_request_json", json.dumps(body, ensure_ascii=False))
put("fuzz_request_json", '{"a":1,"a":2}')
put("fuzz_request_json", '[' * 33 + ']' * 33)

put("fuzz_risk_model", (ROOT / "schema" / "risk-model.default.json").read_bytes())

# fuzz_xlsx: a part selector byte (0 worksheet, 1 shared strings, 2 workbook, 3 relationships)
# and the part
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
put("fuzz_xlsx", b"\x00" + ('<worksheet xmlns="%s"><sheetData><row r="1"><c r="A1" t="s"><v>1</v></c>'
                            '<c r="C1" t="inlineStr"><is><t>x&amp;y</t></is></c><c r="D1" t="b"><v>1</v></c>'
                            '</row><row r="3"><c r="B3"><f>1+1</f><v>2</v></c><c r="C3" t="e"><v>#N/A</v></c>'
                            '</row></sheetData></worksheet>' % NS).encode())
put("fuzz_xlsx", b"\x01" + ('<sst xmlns="%s"><si><t>one</t></si><si><r><t>ri</t></r><r><t>ch</t></r>'
                            '<rPh><t>ph</t></rPh></si></sst>' % NS).encode())
put("fuzz_xlsx", b"\x02" + ('<x:workbook xmlns:x="%s" xmlns:q="http://schemas.openxmlformats.org/officeDocument/'
                            '2006/relationships"><x:sheets><x:sheet q:id="rId1"/></x:sheets></x:workbook>' % NS).encode())
put("fuzz_xlsx", b"\x03" + b'<Relationships><Relationship Id="rId1" Target="/xl/worksheets/sheet1.xml"/></Relationships>')
