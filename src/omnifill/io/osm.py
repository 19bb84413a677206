"""OpenStreetMap extracts (``.osm`` XML, ``.osm.pbf``) as road tables: the drivable ways,
one-way streets respected, each edge's minutes from its length and speed (``maxspeed``, or
the highway type's default), read with pyosmium (``pip install omnifill[roads]``).

Why pyosmium: it is the OpenStreetMap project's own C++ reader (libosmium) with Python
bindings, reads both formats, streams a file in one pass with node locations attached to
ways, and installs as a wheel; osmnx reads XML only and needs geopandas, and pyrosm needs
geopandas too. The rules below are the ones osmnx uses for its "drive" network, written out
here so that they are one list a reader can check:

- drivable: the ``highway`` types of ``DRIVABLE``, not ``area=yes``, not ``access`` or
  ``motor_vehicle`` = no / private, not ``service`` = parking_aisle / driveway / private;
- one way: ``oneway`` = yes / true / 1 (forward), -1 / reverse (backward), or implied by
  ``junction=roundabout`` and ``highway=motorway``; every other way runs both ways;
- speed: ``maxspeed`` in km/h (``"50"``, ``"50 km/h"``), mph (``"30 mph"``), the first of
  several (``"50;30"``); otherwise, or when unreadable, the type's default
  (``DEFAULT_KMH``);
- an edge between consecutive nodes of a way, its great-circle length at that speed.

This module never builds a graph (``roads`` does) and never searches one.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import InputError, Problem
from ..geo import haversine_m
from .roads import RoadTables

# highway types a car (a courier's scooter) may use, and their default speeds, km/h
DEFAULT_KMH = {
    "motorway": 100.0, "motorway_link": 60.0, "trunk": 80.0, "trunk_link": 50.0,
    "primary": 60.0, "primary_link": 40.0, "secondary": 50.0, "secondary_link": 40.0,
    "tertiary": 40.0, "tertiary_link": 30.0, "unclassified": 30.0, "residential": 30.0,
    "living_street": 10.0, "service": 20.0, "road": 30.0,
}
DRIVABLE = frozenset(DEFAULT_KMH)
_NO = {"no", "private"}
_SPEED = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(km/h|kmh|kph|mph)?\s*$")


def speed_kmh(maxspeed: str | None, highway: str) -> float:
    """A way's speed: its ``maxspeed`` when readable and positive, else its type's default."""
    if maxspeed:
        m = _SPEED.match(maxspeed.split(";")[0])
        if m:
            v = float(m.group(1)) * (1.609344 if m.group(2) == "mph" else 1.0)
            if v > 0:
                return v
    return DEFAULT_KMH[highway]


def direction(tags) -> int:
    """1: one way forward, -1: one way backward, 0: both ways."""
    ow = (tags.get("oneway") or "").lower()
    if ow in ("yes", "true", "1"):
        return 1
    if ow in ("-1", "reverse"):
        return -1
    if ow in ("no", "false", "0"):
        return 0
    if tags.get("junction") == "roundabout" or tags.get("highway") == "motorway":
        return 1
    return 0


def drivable(tags) -> bool:
    h = tags.get("highway")
    if h not in DRIVABLE or tags.get("area") == "yes":
        return False
    if (tags.get("access") or "") in _NO or (tags.get("motor_vehicle") or "") in _NO:
        return False
    return tags.get("service") not in ("parking_aisle", "driveway", "private")


def load_osm(path) -> RoadTables:
    """An OpenStreetMap extract's drivable road network as road tables (node ids are the
    OSM node ids; edge minutes fixed, not hourly). InputError when the file cannot be read
    or holds no drivable way."""
    p = str(path)
    try:
        import osmium
    except ImportError:
        raise InputError([Problem(p, None, None, None, "reading OpenStreetMap extracts needs pyosmium: "
                                                       "pip install 'omnifill[roads]'")]) from None
    ids: dict[int, int] = {}
    lat: list[float] = []
    lon: list[float] = []
    src: list[int] = []
    dst: list[int] = []
    kmh: list[float] = []
    try:
        fp = osmium.FileProcessor(p).with_locations().with_filter(osmium.filter.KeyFilter("highway"))
        for obj in fp:
            if not isinstance(obj, osmium.osm.Way) or not drivable(obj.tags):
                continue
            way_dir = direction(obj.tags)
            v = speed_kmh(obj.tags.get("maxspeed"), str(obj.tags.get("highway")))
            prev = -1
            for nd in obj.nodes:
                if not nd.location.valid():
                    prev = -1
                    continue
                k = ids.get(nd.ref)
                if k is None:
                    k = ids[nd.ref] = len(lat)
                    lat.append(nd.location.lat)
                    lon.append(nd.location.lon)
                if prev >= 0 and prev != k:
                    if way_dir >= 0:
                        src.append(prev)
                        dst.append(k)
                        kmh.append(v)
                    if way_dir <= 0:
                        src.append(k)
                        dst.append(prev)
                        kmh.append(v)
                prev = k
    except (RuntimeError, OSError) as e:
        raise InputError([Problem(p, None, None, None, f"not a readable OpenStreetMap extract: {e}")]) from None
    if not src:
        raise InputError([Problem(p, None, None, None, "holds no drivable way (highway types: "
                                                       + ", ".join(sorted(DRIVABLE)) + ")")])
    la, lo = np.array(lat), np.array(lon)
    a, b = np.array(src, np.int64), np.array(dst, np.int64)
    minutes = haversine_m(la[a], lo[a], la[b], lo[b]) / (np.array(kmh) * 1000.0 / 60.0)
    node_id = np.array([str(x) for x in ids], dtype=object)
    return RoadTables(node_id, la, lo, a, b, minutes[:, None], p, p)


__all__ = ["DEFAULT_KMH", "DRIVABLE", "direction", "drivable", "load_osm", "speed_kmh"]
