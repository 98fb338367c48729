#!/usr/bin/env python3
"""Writes web-static/geo/boundaries.geojson: SCHEMATIC district and street/town
boundaries of the demo city (Shanghai: 宝山区 310113, 嘉定区 310114, 浦东新区
310115, 松江区 310117), drawn offline from the demo's own geography
(deploy/demo/gen_demo.py: a rough box per district, a centre per street).
They are not survey boundaries: a district is its box with bevelled corners,
a street is the Voronoi cell of its centre inside its district.  Every
feature says so (properties.schematic = true) and the map labels them
示意边界.  A city with real boundaries replaces this file with its own
GeoJSON of the same shape: FeatureCollection of Polygons with properties
code (region code), name, level (district | street).

    python3 web-static/geo/make_schematic.py   # rewrites boundaries.geojson
"""
import importlib.util
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "gen_demo", os.path.join(HERE, "..", "..", "deploy", "demo", "gen_demo.py"))
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


def box(lat0, lat1, lon0, lon1, bevel=0.18):
    """the box with its corners cut: reads as a drawn area, not a tile"""
    dx, dy = (lon1 - lon0) * bevel, (lat1 - lat0) * bevel
    return [(lon0 + dx, lat0), (lon1 - dx, lat0), (lon1, lat0 + dy), (lon1, lat1 - dy),
            (lon1 - dx, lat1), (lon0 + dx, lat1), (lon0, lat1 - dy), (lon0, lat0 + dy)]


def clip(poly, a, b, c):
    """Sutherland-Hodgman: the part of poly where a*x + b*y <= c"""
    out = []
    for i, p in enumerate(poly):
        q = poly[(i + 1) % len(poly)]
        fp, fq = a * p[0] + b * p[1] - c, a * q[0] + b * q[1] - c
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def ring(poly):
    pts = [[round(x, 5), round(y, 5)] for x, y in poly]
    return [pts + [pts[0]]]


def main():
    feats = []
    for code, name, (lat0, lat1, lon0, lon1) in demo.DISTRICTS:
        outline = box(lat0, lat1, lon0, lon1)
        feats.append({"type": "Feature", "properties": {"code": code, "name": name, "level": "district",
                                                        "schematic": True},
                      "geometry": {"type": "Polygon", "coordinates": ring(outline)}})
        streets = [s for s in demo.STREETS if s[0] == code]
        for s in streets:
            cell = outline
            for o in streets:
                if o is s:
                    continue
                # half-plane of points nearer s than o (lon, lat as plane coordinates)
                x1, y1, x2, y2 = s[5], s[4], o[5], o[4]
                a, b = x2 - x1, y2 - y1
                c = (x2 * x2 + y2 * y2 - x1 * x1 - y1 * y1) / 2
                cell = clip(cell, a, b, c)
            if len(cell) >= 3:
                feats.append({"type": "Feature", "properties": {"code": s[1], "name": s[2], "level": "street",
                                                                "district": code, "schematic": True},
                              "geometry": {"type": "Polygon", "coordinates": ring(cell)}})
    doc = {"type": "FeatureCollection",
           "name": "demo city schematic boundaries (示意边界, not survey data)", "features": feats}
    with open(os.path.join(HERE, "boundaries.geojson"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{len(feats)} features")


if __name__ == "__main__":
    main()
