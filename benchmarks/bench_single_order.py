"""One order at a time: the latency an order service sees for candidate search.

Per order, side by side on the same stores: omnifill's Network.candidates_one (the order
service's path) and Network.candidates with a batch of one (validated, sorted, exact ETAs),
the kernel's GridIndex.query alone, and a bare scipy
cKDTree.query_ball_point radius lookup (unsorted indices, no ETAs). Uses the 613 real
Shanghai shops and 9,214 customer points from ../shared/data when present, else a synthetic
city of the same size.

Run:  python benchmarks/bench_single_order.py [--orders 5000]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import omnifill
from omnifill import _core
from omnifill.scenarios import clustered_points

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "shanghai_cainiao_lastmile_2016"


def load():
    if DATA.is_dir():
        with open(DATA / "new_3.csv") as fh:
            shops = list(csv.DictReader(fh))
        with open(DATA / "new_2.csv") as fh:
            spots = list(csv.DictReader(fh))
        return ("real Shanghai shops (613) and customer points",
                [r["Shop_id"] for r in shops], np.array([float(r["Lat"]) for r in shops]),
                np.array([float(r["Lng"]) for r in shops]), np.array([float(r["Lat"]) for r in spots]),
                np.array([float(r["Lng"]) for r in spots]))
    rng = np.random.default_rng(0)
    slat, slon = clustered_points(rng, 613, (31.23, 121.47), 30_000, 20, 4_000)
    olat, olon = clustered_points(rng, 9214, (31.23, 121.47), 30_000, 20, 4_000)
    return "synthetic city (613 stores)", [f"S{i}" for i in range(613)], slat, slon, olat, olon


def per_call(fn, n):
    lat = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        lat[i] = time.perf_counter() - t
    return lat * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=5000)
    args = ap.parse_args(argv)
    name, ids, slat, slon, olat, olon = load()
    n = min(args.orders, len(olat))
    net = omnifill.Network.from_arrays(ids, slat, slon)
    t = net.config.travel
    g = net.grid(net.cities[0])
    tree = cKDTree(_core.unit_vectors(slat, slon))
    r = _core.chord_radius((30.0 - 10.0) * t.courier_m_per_min / t.circuity)
    me = np.array([30.0])
    runs = {
        "omnifill Network.candidates_one": lambda i: net.candidates_one(olat[i], olon[i], 30.0),
        "omnifill Network.candidates": lambda i: net.candidates(olat[i:i + 1], olon[i:i + 1], 30.0),
        "omnifill GridIndex.query": lambda i: g.query(olat[i:i + 1], olon[i:i + 1], me,
                                                      travel=net.travel.kernel),
        "cKDTree.query_ball_point (bare)": lambda i: tree.query_ball_point(_core.unit_vectors(olat[i], olon[i]), r),
    }
    for fn in runs.values():  # warm up
        per_call(fn, 50)
    print(f"# {name}; {n:,} orders one at a time, 30-minute tier")
    res = {k: per_call(fn, n) for k, fn in runs.items()}
    base = np.percentile(res["cKDTree.query_ball_point (bare)"], 50)
    print(f"{'method':<34}{'p50 us':>9}{'p99 us':>9}{'p50 / cKDTree p50':>20}")
    for k, v in res.items():
        p50, p99 = np.percentile(v, [50, 99])
        print(f"{k:<34}{p50:>9.1f}{p99:>9.1f}{p50 / base:>19.2f}x")


if __name__ == "__main__":
    main()
