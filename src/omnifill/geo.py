"""Geography: great-circle distance, local projections, zone tiers, delivery zones.

Everything here works on arrays. Travel times are not here: the travel model lives in
travel.py (it uses this module's haversine); the zone index keeps one store's zone
replaceable without a rebuild. This module never reads files (io does) and never decides
who ships what (options and the router do).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import rtree
import shapely
from numpy.typing import ArrayLike, NDArray

EARTH_RADIUS_M = 6_371_008.8
ZONE_TIERS = (30, 60)  # promise tiers a zone can stand for; bit 1 << k in zone bit sets


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> NDArray[np.float64]:
    """Great-circle distance in metres (haversine, R = 6,371,008.8 m), broadcasting."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2) - np.radians(lon1)
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def destination(lat, lon, bearing_deg, dist_m):
    """The point dist_m along a great circle from (lat, lon) at a bearing (degrees from north)."""
    p1, l1 = np.radians(lat), np.radians(lon)
    b = np.radians(bearing_deg)
    a = np.asarray(dist_m, dtype=np.float64) / EARTH_RADIUS_M
    p2 = np.arcsin(np.sin(p1) * np.cos(a) + np.cos(p1) * np.sin(a) * np.cos(b))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(a) * np.cos(p1), np.cos(a) - np.sin(p1) * np.sin(p2))
    lon2 = (np.degrees(l2) + 540.0) % 360.0 - 180.0
    return np.degrees(p2), lon2


def morton_keys(lat, lon) -> np.ndarray:
    """A z-order (Morton) key per point: latitude and longitude scaled to 16 bits each over
    the points' bounding box, their bits interleaved. Sorting by it puts neighbours mostly
    together (the planner's blocks of neighbouring orders)."""
    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    if not len(lat):
        return np.zeros(0, np.uint64)

    def q(v):
        span = float(np.ptp(v)) or 1.0
        return np.clip((v - v.min()) / span * 65535.0, 0, 65535).astype(np.uint64)

    def spread(v):
        out = np.zeros_like(v)
        for b in range(16):
            out |= ((v >> np.uint64(b)) & np.uint64(1)) << np.uint64(2 * b)
        return out

    return spread(q(lat)) | (spread(q(lon)) << np.uint64(1))


def tier_bits(promise_min):
    """The tier of each order, as the bit of the zones that replace the radius rule for it:
    1 (the 30-minute tier) for a promise <= 30 minutes, 2 (the 60-minute tier) above.

    The tier comes from the promise, never from the delivery area an order is searched in.
    A store with a zone for the order's tier is a candidate only where that zone holds the
    customer; a store without one is a candidate by the radius rule (direct ETA within the
    delivery area). Promises above 60 minutes take the 60-minute tier's rule: a store's
    60-minute zone bounds where it delivers by courier.
    """
    m = np.asarray(promise_min, dtype=np.float64)
    return np.where(m <= ZONE_TIERS[0], 1, 2).astype(np.uint8)


def zone_tier_bits(promise_min):
    """The tiers whose zones make a store a candidate for each order wherever its ETA: both
    (bits 1 | 2) for a promise <= 30 minutes, since a store that is no 30-minute store for a
    customer may still deliver the order late as a 60-minute store whose 60-minute zone holds
    the customer; the 60-minute tier (bit 2) alone above."""
    m = np.asarray(promise_min, dtype=np.float64)
    return np.where(m <= ZONE_TIERS[0], 3, 2).astype(np.uint8)


@dataclass(frozen=True)
class LocalProjection:
    """A city's planar metres: orthographic projection on the plane tangent at the centre.

    x grows east and y north of the centre. Used for maps, plots and planar summaries; the
    candidate kernel measures exact great-circle distances itself.
    """

    lat0: float
    lon0: float

    @classmethod
    def around(cls, lat, lon) -> LocalProjection:
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        if lat.size == 0:
            return cls(0.0, 0.0)
        v = _unit(lat, lon).sum(axis=0)
        n = np.linalg.norm(v)
        if n < 1e-12:
            return cls(float(lat[0]), float(lon[0]))
        v /= n
        return cls(float(np.degrees(np.arcsin(v[2]))), float(np.degrees(np.arctan2(v[1], v[0]))))

    def to_xy(self, lat, lon):
        c = _unit(np.array([self.lat0]), np.array([self.lon0]))[0]
        east = np.array([-c[1], c[0], 0.0])
        if np.linalg.norm(east) < 1e-12:
            east = np.array([0.0, 1.0, 0.0])
        east /= np.linalg.norm(east)
        north = np.cross(c, east)
        p = _unit(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        return EARTH_RADIUS_M * (p @ east), EARTH_RADIUS_M * (p @ north)


def _unit(lat, lon):
    la, lo = np.radians(lat), np.radians(lon)
    cl = np.cos(la)
    return np.stack([cl * np.cos(lo), cl * np.sin(lo), np.sin(la)], axis=-1)


class ZoneIndex:
    """Delivery zones: an rtree over zone polygons, shapely for the exact point test.

    Each zone is (store index, tier, polygon in lon/lat degrees). ``set_zone`` and
    ``remove_zone`` change one store's zone in place (rtree insert/delete), no rebuild.
    Polygons are tested in lon/lat as GeoJSON states them; a polygon crossing the antimeridian
    must be split into parts on either side, as RFC 7946 asks.

    Thread-safe: neither libspatialindex's tree nor GEOS's prepared polygons (which build
    their point-in-polygon index on first use) are safe to use from two threads at once:
    two threads in ``containing`` corrupted the heap and crashed the process (a reroute
    whose option search runs beside its greedy pass, with zones that hold many points). So
    every use of the tree and of the polygons takes the index's lock.
    """

    def __init__(self):
        self._index = rtree.index.Index(interleaved=True)
        self._lock = threading.Lock()
        self._zones: dict[int, tuple[int, int, object]] = {}  # zone id -> (store, tier, geom)
        self._by_key: dict[tuple[int, int], int] = {}  # (store, tier) -> zone id
        self._next = 0

    def __getstate__(self) -> dict:
        # the zones only: neither a lock nor an rtree (whose pickle comes back empty) is sent
        state = dict(self.__dict__)
        del state["_lock"], state["_index"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._index = rtree.index.Index(interleaved=True)
        for zid, (_, _, geom) in self._zones.items():
            shapely.prepare(geom)
            self._index.insert(zid, shapely.bounds(geom).tolist())

    def __len__(self) -> int:
        return len(self._zones)

    def set_zone(self, store: int, tier: int, geometry) -> None:
        """Give ``store`` this zone for ``tier`` (30 or 60), replacing any it had."""
        if tier not in ZONE_TIERS:
            raise ValueError(f"zone tier must be one of {ZONE_TIERS}, got {tier!r}")
        self.remove_zone(store, tier)
        shapely.prepare(geometry)
        zid = self._next
        self._next += 1
        self._zones[zid] = (int(store), int(tier), geometry)
        self._by_key[(int(store), int(tier))] = zid
        with self._lock:
            self._index.insert(zid, shapely.bounds(geometry).tolist())

    def remove_zone(self, store: int, tier: int) -> bool:
        zid = self._by_key.pop((int(store), int(tier)), None)
        if zid is None:
            return False
        _, _, geom = self._zones.pop(zid)
        with self._lock:
            self._index.delete(zid, shapely.bounds(geom).tolist())
        return True

    def zone_of(self, store: int, tier: int):
        zid = self._by_key.get((int(store), int(tier)))
        return None if zid is None else self._zones[zid][2]

    def items(self) -> list[tuple[int, int, object]]:
        """Every zone as (store index, tier, geometry), in the order they were set."""
        return [self._zones[z] for z in sorted(self._zones)]

    def store_bits(self, n_stores: int) -> np.ndarray:
        """Per store, the tier bits of the zones it has (bit 1: 30 minutes, bit 2: 60)."""
        bits = np.zeros(n_stores, dtype=np.uint8)
        for store, tier, _ in self._zones.values():
            bits[store] |= 1 << ZONE_TIERS.index(tier)
        return bits

    def bits_of(self, store: int) -> int:
        """The tier bits of one store's zones."""
        return sum(1 << k for k, t in enumerate(ZONE_TIERS) if (int(store), t) in self._by_key)

    def containing(self, lat, lon, order_tier_bits):
        """(order, store) pairs where the order lies in the store's zone for the order's tier.

        Bulk: one rtree ``intersection_v`` over all points, one vectorised shapely test.
        Returns two int64 arrays sorted by order then store.
        """
        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        tb = np.asarray(order_tier_bits, dtype=np.uint8)
        if not self._zones or lat.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        with self._lock:
            return self._containing(lat, lon, tb)

    def _containing(self, lat, lon, tb):
        # containing(), under the index's lock
        pts = np.column_stack([lon, lat])
        ids, counts = self._index.intersection_v(pts, pts)
        order = np.repeat(np.arange(lat.size, dtype=np.int64), counts.astype(np.int64))
        ids = ids.astype(np.int64)
        meta = np.array([(zid, s, ZONE_TIERS.index(t)) for zid, (s, t, _) in self._zones.items()],
                        dtype=np.int64)
        pos = np.searchsorted(meta[:, 0], ids)
        zone_store, zone_bit = meta[pos, 1], (1 << meta[pos, 2]).astype(np.uint8)
        keep = (zone_bit & tb[order]) != 0
        order, ids, zone_store = order[keep], ids[keep], zone_store[keep]
        geoms = np.empty(ids.size, dtype=object)
        geoms[:] = [self._zones[int(z)][2] for z in ids]
        # a point on the zone's edge is in the zone (intersects, not contains)
        inside = shapely.intersects_xy(geoms, lon[order], lat[order])
        order, zone_store = order[inside], zone_store[inside]
        pairs = np.unique(np.column_stack([order, zone_store]), axis=0) if order.size else np.zeros((0, 2), np.int64)
        return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
