"""Road graphs: a city's directed road network with fixed or hourly edge minutes, points
snapped to its nodes, and shortest-path tables from (or to) a set of nodes.

``RoadGraph`` is built from the checked node and edge tables (``io.roads``). Shortest paths
are scipy's ``csgraph.dijkstra`` on the hour's sparse matrix (one search per source node,
all nodes as targets: a store-by-node table of float32, 4 bytes per store and node). A
point is snapped to its nearest node by great-circle distance, ties to the lower node
position (file order). ``RoadTravel`` composes them into the travel contract of
docs/cost-model.md ("Road travel"): a leg from p to q takes access(p) + path(node(p),
node(q), hour) + access(q), the access legs at the courier's speed and circuity.

``RoadTravel`` is the ``[travel] provider = "road"`` model (``travel.MODELS``): its
``kernel`` is the compiled searches' road legs (``_core.road_legs``: the nearest-node search
and a node-by-store table of path minutes at the config's hour), so the router, the planner
and the simulator search exactly over road ETAs. ``road_model`` builds it from a config,
reading a graph once per set of files.

This module never reads files (``io.roads`` does) and never decides who ships what.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import shapely
import shapely.affinity
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from . import _core
from .config import Travel
from .geo import EARTH_RADIUS_M, haversine_m
from .io.roads import HOURS, RoadTables, load_road_tables


class RoadGraph:
    """A directed road graph: nodes with places, edges with minutes (one value, or one per
    hour of the day). Parallel edges keep the fastest; an edge of 0 minutes is an edge."""

    def __init__(self, tables: RoadTables):
        self.tables = tables
        self.node_id = tables.node_id
        self.lat = np.asarray(tables.lat, np.float64)
        self.lon = np.asarray(tables.lon, np.float64)
        n = len(self.node_id)
        src, dst, minutes = tables.src, tables.dst, tables.minutes
        # parallel edges: the fastest of them, hour by hour
        key = src * n + dst
        order = np.lexsort((key,))
        key_s = key[order]
        first = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]]) if len(key_s) else np.zeros(0, np.int64)
        best = np.minimum.reduceat(minutes[order], first, axis=0) if len(first) else minutes[:0]
        self.src = src[order][first]
        self.dst = dst[order][first]
        self.minutes = best  # (n_edges, 1 or 24), float64
        self.hourly = self.minutes.shape[1] == HOURS
        self._matrices: dict[int, sp.csr_matrix] = {}
        self._snappers: dict[bool, _core.NodeSnap] = {}
        self._components: tuple[int, np.ndarray] | None = None

    @classmethod
    def from_files(cls, nodes: Any, edges: Any, *, max_errors: int = 100) -> RoadGraph:
        """From a node and an edge table (paths or in-memory tables; ``io.roads``)."""
        return cls(load_road_tables(nodes, edges, max_errors=max_errors))

    @classmethod
    def from_osm(cls, path: Any) -> RoadGraph:
        """From an OpenStreetMap extract (``.osm``, ``.osm.pbf``): its drivable ways (``io.osm``)."""
        from .io.osm import load_osm

        return cls(load_osm(path))

    def __len__(self) -> int:
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        return len(self.src)

    def hour_of(self, hour: float) -> int:
        """The column of the edge minutes for an hour of the day (a clock in hours, wrapped
        to 0-23); 0 for a graph with one time per edge."""
        return int(np.floor(hour)) % HOURS if self.hourly else 0

    def matrix(self, hour: float = 0) -> sp.csr_matrix:
        """The hour's graph as a sparse matrix of minutes (row: from, column: to)."""
        h = self.hour_of(hour)
        m = self._matrices.get(h)
        if m is None:
            n = len(self)
            m = sp.csr_matrix((self.minutes[:, h], (self.src, self.dst)), shape=(n, n))
            self._matrices[h] = m
        return m

    def times_from(self, nodes: ArrayLike, hour: float = 0, *, limit: float = np.inf) -> NDArray[np.float32]:
        """Shortest-path minutes from each of ``nodes`` to every node (inf: unreachable, or
        beyond ``limit``), as a (len(nodes), n_nodes) float32 table."""
        idx = np.asarray(nodes, np.int64).ravel()
        if not len(idx):
            return np.zeros((0, len(self)), np.float32)
        return dijkstra(self.matrix(hour), directed=True, indices=idx, limit=limit).astype(np.float32)

    def times_to(self, nodes: ArrayLike, hour: float = 0, *, limit: float = np.inf) -> NDArray[np.float32]:
        """Shortest-path minutes from every node to each of ``nodes``: (len(nodes), n_nodes)."""
        idx = np.asarray(nodes, np.int64).ravel()
        if not len(idx):
            return np.zeros((0, len(self)), np.float32)
        return dijkstra(self.matrix(hour).T.tocsr(), directed=True, indices=idx, limit=limit).astype(np.float32)

    def snapper(self, main_only: bool = False) -> _core.NodeSnap:
        """The kernel's nearest-node search over every node, or over the main component's."""
        key = bool(main_only)
        sn = self._snappers.get(key)
        if sn is None:
            sn = _core.NodeSnap(self.lat, self.lon, self.main_component() if main_only else None)
            self._snappers[key] = sn
        return sn

    def snap(self, lat: ArrayLike, lon: ArrayLike, *,
             main_only: bool = False) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each point's nearest node by great-circle distance (ties: the lower node position)
        and the distance to it in metres; main_only: among the main component's nodes."""
        la = np.atleast_1d(np.asarray(lat, np.float64))
        lo = np.atleast_1d(np.asarray(lon, np.float64))
        node, _ = self.snapper(main_only).snap(la, lo)
        return node, haversine_m(la, lo, self.lat[node], self.lon[node])

    def strong_components(self) -> tuple[int, NDArray[np.int32]]:
        """(count, label per node) of the strongly connected components, over the edges of
        any hour (an edge exists at every hour; only its minutes change)."""
        if self._components is None:
            self._components = connected_components(self.matrix(0), directed=True, connection="strong")
        return self._components

    def main_component(self) -> NDArray[np.bool_]:
        """Per node: in the largest strongly connected component (where customers are served
        from: every node of it reaches every other)."""
        _, labels = self.strong_components()
        return labels == np.bincount(labels).argmax()

    @property
    def fastest_m_per_min(self) -> float:
        """The greatest great-circle metres an edge covers a minute: no path gets farther in
        t minutes than t times this (inf when an edge between two places takes 0 minutes)."""
        if not self.n_edges:
            return 0.0
        d = haversine_m(self.lat[self.src], self.lon[self.src], self.lat[self.dst], self.lon[self.dst])
        fastest = self.minutes.min(axis=1)
        moving = d > 0
        if (fastest[moving] <= 0).any():
            return float("inf")
        return float((d[moving] / fastest[moving]).max()) if moving.any() else 0.0

    def table_bytes(self, n_sources: int) -> int:
        """The memory of a (n_sources, n_nodes) float32 table of times."""
        return 4 * int(n_sources) * len(self)


@dataclass
class RoadTravel:
    """The road travel model: access legs to and from the nearest node of the graph's main
    component at the courier's speed times ``circuity``, shortest paths on the graph at
    ``hour`` between them.

    Points snap to the main component (the largest strongly connected one, where every node
    reaches every other), so a customer standing by a cut-off stretch of road is served from
    the nearest node that is connected; a store whose nearest node of all is cut off is an
    input error (``check_stores``). ``store_lat``/``store_lon``: the network's stores, for
    the kernel's store-by-node table (``kernel``)."""

    travel: Travel
    graph: RoadGraph
    hour: float = 12.0
    store_lat: NDArray[np.float64] | None = None
    store_lon: NDArray[np.float64] | None = None
    source: str = ""  # where the graph came from, for explanations
    name: str = "road"
    _rows: dict[tuple[int, int], NDArray[np.float32]] = field(default_factory=dict, repr=False)
    _kernel: Any = field(default=None, repr=False)
    _hours: dict[int, RoadTravel] = field(default_factory=dict, repr=False)  # at_hour's, shared

    def __post_init__(self) -> None:
        self._hours.setdefault(self.graph.hour_of(self.hour), self)

    def access_min(self, dist_m: ArrayLike) -> NDArray[np.float64]:
        t = self.travel
        return t.circuity * np.asarray(dist_m, np.float64) / t.courier_m_per_min

    def path_min(self, from_node: ArrayLike, to_node: ArrayLike) -> NDArray[np.float64]:
        """Shortest-path minutes between nodes (arrays broadcast), from per-source tables
        computed once per (node, hour) and kept."""
        a, b = np.broadcast_arrays(np.asarray(from_node, np.int64), np.asarray(to_node, np.int64))
        h = self.graph.hour_of(self.hour)
        need = [int(x) for x in np.unique(a) if (int(x), h) not in self._rows]
        if need:
            for x, row in zip(need, self.graph.times_from(need, h)):
                self._rows[(x, h)] = row
        out = np.empty(a.shape, np.float64)
        for x in np.unique(a):
            m = a == x
            out[m] = self._rows[(int(x), h)][b[m]]
        return out

    def snap(self, lat: ArrayLike, lon: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Each point's node (of the main component) and the metres to it."""
        return self.graph.snap(lat, lon, main_only=True)

    def leg_min(self, from_lat: ArrayLike, from_lon: ArrayLike, to_lat: ArrayLike,
                to_lon: ArrayLike) -> NDArray[np.float64]:
        """access + path + access from one point to another (arrays broadcast)."""
        fa, fo, ta, to = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (from_lat, from_lon, to_lat, to_lon)))
        shape = fa.shape
        nf, df = self.snap(fa.ravel(), fo.ravel())
        nt, dt = self.snap(ta.ravel(), to.ravel())
        return (self.access_min(df) + self.path_min(nf, nt) + self.access_min(dt)).reshape(shape)

    def direct_eta(self, handling_min: ArrayLike, store_lat: ArrayLike, store_lon: ArrayLike, lat: ArrayLike,
                   lon: ArrayLike) -> NDArray[np.float64]:
        return np.asarray(handling_min, np.float64) + self.leg_min(store_lat, store_lon, lat, lon)

    def transfer_minutes(self, from_lat: ArrayLike, from_lon: ArrayLike, to_lat: ArrayLike,
                         to_lon: ArrayLike) -> NDArray[np.float64]:
        return self.travel.transfer_handling_min + self.leg_min(from_lat, from_lon, to_lat, to_lon)

    @property
    def reach_m_per_min(self) -> float:
        """Great-circle metres a minute no leg exceeds: the access legs and the edges each
        cover at most their speed's metres a minute (inf when an edge takes 0 minutes)."""
        t = self.travel
        return max(self.graph.fastest_m_per_min, t.courier_m_per_min / t.circuity)

    def reach_m(self, minutes: ArrayLike) -> NDArray[np.float64]:
        """A great-circle distance no leg of ``minutes`` exceeds."""
        return np.asarray(minutes, np.float64) * self.reach_m_per_min

    def check_stores(self, store_id: ArrayLike, source: str = "<stores>", rows: ArrayLike | None = None) -> list[Any]:
        """Problems for the stores (of ``store_lat``/``store_lon``) whose nearest node of all
        cannot reach, or be reached from, the main component; rows: their file rows (default
        1, 2, ...)."""
        from .errors import Problem

        if self.store_lat is None or self.store_lon is None or not len(self.store_lat):
            return []
        node, _ = self.graph.snap(self.store_lat, self.store_lon)
        main_c = self.graph.main_component()
        ids = np.asarray(store_id, dtype=object)
        rws = np.arange(1, len(ids) + 1) if rows is None else np.asarray(rows)
        return [Problem(source, int(rws[i]), "store_id", ids[i],
                        f"snaps to road node {self.graph.node_id[k]!r}, which cannot reach (or be reached from) "
                        f"the graph's main component ({int(main_c.sum()):,} of {len(self.graph):,} nodes)")
                for i, k in enumerate(node) if not main_c[k]]

    @property
    def table_bytes(self) -> int:
        """The kernel table's memory: 4 bytes a (node, store)."""
        return self.graph.table_bytes(0 if self.store_lat is None else len(self.store_lat))

    def at_hour(self, hour: float) -> RoadTravel:
        """The same model at another hour of the day (itself when the graph's minutes do not
        change by the hour); the models of one graph and stores share their tables."""
        h = self.graph.hour_of(hour)
        other = self._hours.get(h)
        if other is None:
            other = RoadTravel(self.travel, self.graph, hour=float(h), store_lat=self.store_lat,
                               store_lon=self.store_lon, source=self.source, _rows=self._rows, _hours=self._hours)
            self._hours[h] = other
        return other

    @property
    def kernel(self) -> _core.Legs:
        """The model as the compiled searches take it: road legs over the network's stores,
        with one shortest-path search per store at the model's hour (built on first use)."""
        if self._kernel is None:
            if self.store_lat is None or self.store_lon is None:
                raise ValueError("the road model's kernel needs the network's stores (store_lat, store_lon)")
            t = self.travel
            snapper = self.graph.snapper(main_only=True)
            node, _ = snapper.snap(self.store_lat, self.store_lon)
            table = np.ascontiguousarray(self.graph.times_from(node, self.hour).T)
            self._kernel = _core.road_legs(t.circuity, t.courier_m_per_min, t.transfer_handling_min, snapper,
                                           self.store_lat, self.store_lon, table, self.reach_m_per_min)
        return self._kernel



# the circle around a node is a polygon of 4 x this many sides, inscribed: its radius is at
# least cos(pi / (4 x 16)) = 99.88% of the exact one
QUAD_SEGS = 16
# the smallest radius drawn around a reachable node (so a node reached with no time to spare
# is still inside its store's zone), metres
MIN_RADIUS_M = 0.5
# the zones' vertices lie on this grid of degrees (about 0.1 mm)
LONLAT_GRID = 1e-9


@dataclass(frozen=True)
class Isochrone:
    """The area a store reaches within ``minutes`` by road: lon/lat (Multi)Polygon."""

    store: int  # position among the stores given
    minutes: float
    geometry: Any  # shapely geometry in lon/lat degrees; empty when the store reaches nothing


def _lonlat_polygon(area_xy: Any, lat0: float, lon0: float, kx: float, ky: float) -> Any:
    # the plane is lon/lat scaled (an affine map), so the polygon maps edge for edge; its
    # vertices then on a 1e-9 degree grid (about 0.1 mm): shorter numbers in the file, and a
    # valid polygon whatever rounding did to near-touching parts
    area = shapely.affinity.affine_transform(area_xy, [1.0 / kx, 0.0, 0.0, 1.0 / ky, lon0, lat0])
    if not shapely.is_valid(area):
        fixed = shapely.make_valid(area)
        polys = [g for g in shapely.get_parts(fixed) if g.geom_type in ("Polygon", "MultiPolygon")]
        area = shapely.union_all(polys) if polys else shapely.Polygon()
    return shapely.set_precision(area, LONLAT_GRID)


def isochrones(road: RoadTravel, store_lat: ArrayLike, store_lon: ArrayLike, handling_min: ArrayLike,
               minutes: ArrayLike = (30.0, 60.0)) -> list[Isochrone]:
    """Each store's reach by road within each of ``minutes``: where a customer's direct ETA
    (handling, the store's access leg, the path at ``road.hour``, the customer's access leg)
    is within the minutes.

    A customer's access leg is to the node it snaps to, the nearest. So a store's reach is
    the union, over the nodes it reaches with time to spare, of the node's nearest-node cell
    (a Voronoi cell in the city's plane) and the disc its spare minutes cover at the
    courier's speed and circuity. Every node a customer standing on it would reach in time
    is inside; every other node is outside. The plane is lon/lat scaled to metres at the
    city's middle latitude (so the polygons are exact in the zones file's lon/lat, and a
    distance east-west is off by the cosine's change: 0.2% at 10 km north or south of the
    middle at 40 degrees); the discs are polygons of 64 sides inscribed in their circles (at
    least 99.88% of the radius, and at least 0.5 m); the union is snapped to a centimetre
    grid, so a node within a centimetre or two of another node's place may fall on the wrong
    side of the cell edge between them; near a cell's edge the plane's nearest node may
    differ from the great circle's."""
    graph = road.graph
    t = road.travel
    slat = np.atleast_1d(np.asarray(store_lat, np.float64))
    slon = np.atleast_1d(np.asarray(store_lon, np.float64))
    h = np.broadcast_to(np.asarray(handling_min, np.float64), slat.shape)
    mins = [float(m) for m in np.atleast_1d(np.asarray(minutes, np.float64))]
    # the city's plane: metres east and north of its middle, lon/lat scaled at the middle's
    # latitude (linear, so a straight edge here is a straight edge in the zones file)
    lat0 = float((graph.lat.min() + graph.lat.max()) / 2)
    lon0 = float((graph.lon.min() + graph.lon.max()) / 2)
    ky = EARTH_RADIUS_M * np.pi / 180.0
    kx = ky * float(np.cos(np.radians(lat0)))
    x, y = (graph.lon - lon0) * kx, (graph.lat - lat0) * ky
    # one Voronoi generator per place, nodes chained within a millimetre of each other
    # counting as one (GEOS cannot build cells nanometres wide): the first node there, as
    # snapping's tie rule has it
    elig = np.flatnonzero(graph.main_component())  # the nodes a point snaps to
    close = cKDTree(np.column_stack([x[elig], y[elig]])).query_pairs(1e-3, output_type="ndarray")
    if len(close):
        m = sp.coo_matrix((np.ones(len(close)), (close[:, 0], close[:, 1])), shape=(len(elig), len(elig)))
        _, place = connected_components(m, directed=False)
        _, first = np.unique(place, return_index=True)
        gen = elig[np.sort(first)]
    else:
        gen = elig
    pts = shapely.points(x[gen], y[gen])
    span = float(max(np.ptp(x), np.ptp(y), 1.0))
    frame = shapely.box(x.min() - 10 * span - 1e5, y.min() - 10 * span - 1e5,
                        x.max() + 10 * span + 1e5, y.max() + 10 * span + 1e5)
    if len(gen) > 1:
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame, ordered=True))
    else:
        cells = np.array([frame])
    # a cell whose farthest corner its disc covers is taken whole (no arc to cut)
    corner_m = shapely.hausdorff_distance(pts, cells)
    snode, sdist = road.snap(slat, slon)
    spare_from = h + road.access_min(sdist)
    hour = graph.hour_of(road.hour)
    table = graph.times_from(snode, hour)[:, gen].astype(np.float64)
    m_per_min = t.courier_m_per_min / t.circuity

    out = []
    done: dict[tuple[int, float, float], Any] = {}  # stores at one node with the same time to spare
    for s in range(len(slat)):
        for m in mins:
            key = (int(snode[s]), float(spare_from[s]), m)
            area = done.get(key)
            if area is None:
                spare = m - spare_from[s] - table[s]
                ok = np.flatnonzero(spare >= 0)
                if not len(ok):
                    area = shapely.Polygon()
                else:
                    radius = np.maximum(spare[ok] * m_per_min, MIN_RADIUS_M)
                    whole = radius >= corner_m[ok]
                    cut = ok[~whole]
                    discs = shapely.buffer(pts[cut], radius[~whole], quad_segs=QUAD_SEGS)
                    parts = np.concatenate([cells[ok[whole]], shapely.intersection(cells[cut], discs)])
                    # (snap-rounded to a centimetre: GEOS 3.14's plain unary union dropped one
                    # of three touching pieces in a test, the snap-rounding overlay did not)
                    area = _lonlat_polygon(shapely.union_all(parts, grid_size=0.01), lat0, lon0, kx, ky)
                done[key] = area
            out.append(Isochrone(s, m, area))
    return out


_GRAPHS: dict[tuple[Any, ...], RoadGraph] = {}  # by the files and their sizes and times
_GRAPHS_LOCK = threading.Lock()


def graph_of(travel: Travel) -> tuple[RoadGraph, str]:
    """The road graph a config names (``road_nodes``/``road_edges`` or ``roads``), read once
    per set of files (a file changed on disk is read again), and a short name for it."""
    paths = [travel.roads] if travel.roads else [travel.road_nodes, travel.road_edges]
    try:
        key: tuple[Any, ...] = tuple((p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths)
    except OSError:
        key = tuple((p, None, None) for p in paths)  # the reader names the missing file
    with _GRAPHS_LOCK:
        g = _GRAPHS.get(key)
        if g is None:
            g = (RoadGraph.from_osm(travel.roads) if travel.roads
                 else RoadGraph.from_files(travel.road_nodes, travel.road_edges))
            _GRAPHS.clear()  # one graph kept: a planner changing graphs does not pile them up
            _GRAPHS[key] = g
    return g, " + ".join(os.path.basename(p) for p in paths)


def road_model(travel: Travel, stores: Any = None) -> RoadTravel:
    """``provider = "road"``: the config's graph at its hour, over the network's stores
    (a ``StoresTable``, or None); a store cut off from the main component is an input error
    naming the stores file and its row."""
    from .errors import InputError

    graph, name = graph_of(travel)
    if stores is None:
        return RoadTravel(travel, graph, hour=travel.hour, source=name)
    road = RoadTravel(travel, graph, hour=travel.hour, store_lat=np.asarray(stores.lat, np.float64),
                      store_lon=np.asarray(stores.lon, np.float64), source=name)
    problems = road.check_stores(stores.store_id, getattr(stores, "path", "<stores>"))
    if problems:
        raise InputError(problems[:100])
    return road


__all__ = ["Isochrone", "RoadGraph", "RoadTravel", "graph_of", "isochrones", "road_model"]
