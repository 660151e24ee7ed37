"""Hostile geometry input, for tests that feed it to every entry point.

A fixed list of known troublemakers plus a seeded random generator of more
(hypothesis is not a dependency): the same seed gives the same payloads, so
a failure can be replayed from the test's id.
"""

import json
import random

from clusters.geo import GEOMETRY_TYPES

HUGE_INT = 10**400
RING = [[114, 30], [115, 30], [115, 31], [114, 30]]
HOLE = [[114.5, 30.2], [114.6, 30.2], [114.6, 30.3], [114.5, 30.2]]


def gc_wkt(depth):
    return "GEOMETRYCOLLECTION (" * depth + "POINT (114 30)" + ")" * depth


def gc_geojson(depth):
    geometry = {"type": "Point", "coordinates": [114, 30]}
    for _ in range(depth):
        geometry = {"type": "GeometryCollection", "geometries": [geometry]}
    return geometry


FIXED = {
    # Empty geometries and empty parts
    "wkt-multipolygon-empty-part": "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)), EMPTY)",
    "wkt-multipolygon-empty-first": "MULTIPOLYGON (EMPTY, ((114 30, 115 30, 115 31, 114 30)))",
    "wkt-polygon-empty": "POLYGON EMPTY",
    "wkt-polygon-empty-hole": "POLYGON ((114 30, 115 30, 115 31, 114 30), EMPTY)",
    "wkt-multipoint-empty-point": "MULTIPOINT ((114 30), EMPTY)",
    "wkt-multilinestring-empty-line": "MULTILINESTRING ((114 30, 115 31), EMPTY)",
    "wkt-collection-empty-member": "GEOMETRYCOLLECTION (POINT (114 30), POINT EMPTY)",
    "wkt-empty-lowercase": "multipolygon (((114 30, 115 30, 115 31, 114 30)), empty)",
    "geojson-multipolygon-empty-polygon": {"type": "MultiPolygon", "coordinates": [[]]},
    "geojson-multipolygon-empty-second": {"type": "MultiPolygon", "coordinates": [[RING], []]},
    "geojson-multipolygon-empty-ring": {"type": "MultiPolygon", "coordinates": [[RING], [[]]]},
    "geojson-polygon-empty-hole": {"type": "Polygon", "coordinates": [RING, []]},
    "geojson-multipoint-empty-point": {"type": "MultiPoint", "coordinates": [[114, 30], []]},
    "geojson-collection-empty": {"type": "GeometryCollection", "geometries": []},
    "geojson-collection-empty-member": {
        "type": "GeometryCollection",
        "geometries": [{"type": "Point", "coordinates": [114, 30]}, {"type": "Point", "coordinates": []}],
    },
    "geojson-collection-empty-collection": {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "Point", "coordinates": [114, 30]},
            {"type": "GeometryCollection", "geometries": []},
        ],
    },
    # Degenerate lines and rings
    "geojson-line-one-position": {"type": "LineString", "coordinates": [[114, 30]]},
    "geojson-ring-three-positions": {"type": "Polygon", "coordinates": [[[114, 30], [115, 30], [114, 30]]]},
    "geojson-ring-unclosed": {
        "type": "Polygon",
        "coordinates": [[[114, 30], [115, 30], [115, 31], [114, 31]]],
    },
    "wkt-ring-one-point-repeated": "POLYGON ((114 30, 114 30, 114 30, 114 30))",
    "wkt-ring-flat": "POLYGON ((114 30, 115 30, 116 30, 114 30))",
    # Wrong nesting for the type
    "geojson-point-nested": {"type": "Point", "coordinates": [[114, 30]]},
    "geojson-polygon-shallow": {"type": "Polygon", "coordinates": [[114, 30], [115, 30]]},
    "geojson-multipolygon-flat": {"type": "MultiPolygon", "coordinates": [114, 30]},
    "geojson-polygon-hole-is-a-position": {"type": "Polygon", "coordinates": [RING, [114, 30]]},
    # Text after the geometry
    "wkt-trailing-word": "POINT (114 30) garbage",
    "wkt-trailing-parenthesis": "POINT (114 30))",
    "wkt-trailing-geometry": "POINT (114 30), POINT (115 31)",
    "wkt-multipolygon-trailing-parenthesis": "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30))))",
    "wkt-trailing-semicolon": "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)));",
    "wkt-unbalanced": "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)",
    "geojson-text-trailing-junk": '{"type": "Point", "coordinates": [114, 30]} junk',
    # Numbers too large for a float
    "geojson-huge-int": {"type": "Point", "coordinates": [HUGE_INT, 30]},
    "geojson-huge-negative-int": {
        "type": "Polygon",
        "coordinates": [[[114, 30], [115, -HUGE_INT], [115, 31], [114, 30]]],
    },
    "geojson-text-huge-int": f'{{"type": "Point", "coordinates": [114, {HUGE_INT}]}}',
    "wkt-huge-int": f"POINT ({HUGE_INT} 30)",
    "wkt-huge-negative-int": f"MULTIPOLYGON (((114 30, {-HUGE_INT} 30, 115 31, 114 30)))",
    # Types that are not type names
    "geojson-type-object": {"type": {"name": "Point"}, "coordinates": [114, 30]},
    "geojson-type-list": {"type": ["Point"], "coordinates": [114, 30]},
    "geojson-type-number": {"type": 7, "coordinates": [114, 30]},
    "geojson-type-long-text": {"type": "Point" * 10_000, "coordinates": [114, 30]},
    "geojson-text-type-object": '{"type": {"a": 1}, "coordinates": [114, 30]}',
    "geojson-member-type-list": {
        "type": "GeometryCollection",
        "geometries": [{"type": [], "coordinates": []}],
    },
    # Nested too deeply
    "wkt-collection-9-deep": gc_wkt(9),
    "wkt-collection-100-deep": gc_wkt(100),
    "wkt-collection-10000-deep": gc_wkt(10_000),
    "geojson-collection-100-deep": gc_geojson(100),
    "wkt-parentheses-100000-deep": "POINT " + "(" * 100_000 + "114 30" + ")" * 100_000,
    # Long and odd text
    "wkt-long-number": "POINT (114." + "1" * 100_000 + " 30)",
    "wkt-arabic-indic-digits": "POINT (\u0661\u0661\u0664 \u0663\u0660)",
    "wkt-fullwidth-letters": "\uff30\uff2f\uff29\uff2e\uff34 (114 30)",
    "text-over-the-size-limit": "POINT (" + "1" * 3_000_000 + " 30)",
}

# Accepted: every entry point stores these exactly.
VALID_AREAS = {
    "wkt-multipolygon-two-parts": (
        "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)), ((116 30, 117 30, 117 31, 116 30)))"
    ),
    "geojson-polygon-with-hole": {"type": "Polygon", "coordinates": [RING, HOLE]},
    "wkt-precise": (
        "POLYGON ((114.123456789012 30.987654321098, 115.5 30.1, 115.5 31.2, "
        "114.123456789012 30.987654321098))"
    ),
    "wkt-trailing-whitespace": "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)))\n  ",
}

NUMBERS = [
    114.3,
    30.6,
    0,
    -0.0,
    180,
    -180.0000001,
    90.5,
    1e146,
    -1e308,
    5e-324,
    HUGE_INT,
    -HUGE_INT,
    2**63,
    float("nan"),
    float("inf"),
    True,
    None,
    "114",
    "\u0661",
    [],
    {},
]
TYPE_NAMES = [*sorted(GEOMETRY_TYPES), "point", "Feature", "", "\uff30oint", None, 5, [], {}, ["Point"]]
WKT_TOKENS = [
    "(",
    ")",
    ",",
    " ",
    "114",
    "30.5",
    "-1e400",
    str(HUGE_INT),
    "EMPTY",
    "nan",
    "Z",
    "M",
    ";",
    "é",
    "\u202e",
]


def random_coordinates(rng, depth):
    """Arrays nested about `depth` deep, sometimes wrongly."""
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(NUMBERS)
    if depth <= 0 or roll < 0.2:
        return [
            rng.choice(NUMBERS) if rng.random() < 0.3 else rng.uniform(100, 125)
            for _ in range(rng.choice([0, 1, 2, 2, 2, 3]))
        ]
    return [random_coordinates(rng, depth - 1) for _ in range(rng.choice([0, 1, 1, 2, 4]))]


def random_geojson(rng, depth=0):
    kind = rng.choice(TYPE_NAMES)
    if kind == "GeometryCollection" and depth < 12:
        members = [random_geojson(rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3]))]
        return {"type": kind, "geometries": members}
    geometry = {"type": kind, "coordinates": random_coordinates(rng, rng.randint(0, 5))}
    if rng.random() < 0.05:
        geometry["crs"] = {"type": "name", "properties": {"name": rng.choice(["EPSG:4326", "/etc/passwd"])}}
    return geometry


def random_wkt(rng):
    if rng.random() < 0.5:
        # A well-formed start, then tokens at random.
        head = rng.choice(sorted(GEOMETRY_TYPES)).upper() + " " + "(" * rng.randint(1, 4)
        return head + "".join(rng.choice(WKT_TOKENS) for _ in range(rng.randint(0, 40)))
    # A valid outline with one thing broken.
    wkt = "MULTIPOLYGON (((114 30, 115 30, 115 31, 114 30)), ((116 30, 117 30, 117 31, 116 30)))"
    position = rng.randrange(len(wkt))
    return wkt[:position] + rng.choice(WKT_TOKENS) + wkt[position + rng.randint(0, 3) :]


def random_payloads(seed, count):
    """`count` (id, payload) pairs: GeoJSON objects, GeoJSON text and WKT."""
    rng = random.Random(seed)
    payloads = []
    for index in range(count):
        roll = rng.random()
        if roll < 0.45:
            payload = random_geojson(rng)
        elif roll < 0.6:
            payload = json.dumps(random_geojson(rng))
        else:
            payload = random_wkt(rng)
        payloads.append((f"random-{seed}-{index}", payload))
    return payloads


def all_payloads(seed, count):
    return [*FIXED.items(), *random_payloads(seed, count)]
