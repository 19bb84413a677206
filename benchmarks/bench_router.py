"""The online router: decision latency and throughput on the real Shanghai network.

Routes 20,000 orders one at a time, reserving as they go, on the 613 real Shanghai shops
(plus one warehouse), 5,000 SKUs and baskets sized like the Complete Journey data
(``omnifill.scenarios.shanghai_city``), with one thread and with two. Side by side in the
same run it times a bare ``cKDTree.query_ball_point`` radius lookup per order on the same
stores (the order's promise radius, unit vectors, no ETAs, no sorting, no stock). Prints
p50 / p99 decision latency, throughput, and the ratio of p50 decision to p50 bare lookup.

Needs ../shared/data (skips with a message when it is absent).

Run:  python benchmarks/bench_router.py [--orders 20000] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

import omnifill
from omnifill import _core
from omnifill.model import Order
from omnifill.router import Router
from omnifill.scenarios import shanghai_city

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def orders_of(city) -> list[Order]:
    o = city.orders
    out, cur, lines = [], None, []
    for i, oid in enumerate(o["order_id"]):
        if oid != cur:
            if cur is not None:
                out.append(Order(cur, o["lat"][i - 1], o["lon"][i - 1], tuple(lines), float(o["promise_min"][i - 1])))
            cur, lines = oid, []
        lines.append((o["sku"][i], int(o["qty"][i])))
    n = len(o["order_id"])
    out.append(Order(cur, o["lat"][n - 1], o["lon"][n - 1], tuple(lines), float(o["promise_min"][n - 1])))
    return out


def timed_route(router, orders):
    lat = np.empty(len(orders))
    for k, o in enumerate(orders):
        t = time.perf_counter()
        router.route(o)
        lat[k] = time.perf_counter() - t
    return lat * 1e6


def timed_bare(tree, xyz, radius):
    lat = np.empty(len(xyz))
    for k in range(len(xyz)):
        t = time.perf_counter()
        tree.query_ball_point(xyz[k], radius[k])
        lat[k] = time.perf_counter() - t
    return lat * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    if not (Path(args.data) / "shanghai_cainiao_lastmile_2016").is_dir():
        print(f"skipped: the real data folder {args.data} is absent")
        return 0
    t0 = time.perf_counter()
    city = shanghai_city(args.data, n_orders=args.orders)
    net = omnifill.Network.from_tables(city.stores, city.inventory)
    orders = orders_of(city)
    print(f"# omnifill {omnifill.__version__}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    sizes = np.array([len(o.lines) for o in orders])
    print(f"# Shanghai: {int((net.kind == 'store').sum())} shops + 1 warehouse, {len(net.inventory.skus):,} SKUs, "
          f"{len(net.inventory.sku_code):,} stock rows; {len(orders):,} orders, lines per order mean "
          f"{sizes.mean():.1f}, median {np.median(sizes):.0f}, max {sizes.max()}; set-up {time.perf_counter() - t0:.1f} s")

    t = net.config.travel
    stores = net.kind == "store"
    tree = cKDTree(_core.unit_vectors(net.lat[stores], net.lon[stores]))
    xyz = _core.unit_vectors([o.lat for o in orders], [o.lon for o in orders])
    radius = np.array([_core.chord_radius((o.promise_min - 8.0) * t.courier_m_per_min / t.circuity) for o in orders])

    # warm up both (grids built, caches warm) on a throw-away router
    warm = Router(net)
    timed_route(warm, orders[:300])
    timed_bare(tree, xyz[:300], radius[:300])

    bare = timed_bare(tree, xyz, radius)
    router = Router(net)
    t1 = time.perf_counter()
    one = timed_route(router, orders)
    wall1 = time.perf_counter() - t1
    decisions = [router.route(o) for o in orders]  # held: the same decisions back
    modes = {}
    for d in decisions:
        kinds = tuple(sorted({r["mode"] for r in d.rows}))
        modes[kinds] = modes.get(kinds, 0) + 1
    proven = sum(d.proven for d in decisions)

    # two threads, a fresh router, the same orders split round-robin
    router2 = Router(net)
    parts = [orders[k::2] for k in range(2)]
    lat2 = [None, None]
    barrier = threading.Barrier(2)

    def run(k):
        barrier.wait()
        lat2[k] = timed_route(router2, parts[k])

    t2 = time.perf_counter()
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(run, range(2)))
    wall2 = time.perf_counter() - t2
    two = np.concatenate(lat2)

    # what materialising rows and explanation adds (lazy on the Decision)
    r3 = Router(net)
    extra = np.empty(2000)
    for k, o in enumerate(orders[:2000]):
        d = r3.route(o)
        s = time.perf_counter()
        _ = d.rows, d.explanation
        extra[k] = (time.perf_counter() - s) * 1e6

    b50 = np.percentile(bare, 50)
    print(f"{'':<44}{'p50 us':>9}{'p99 us':>9}{'orders/s':>11}{'p50 / bare p50':>16}")
    print(f"{'bare cKDTree.query_ball_point':<44}{b50:>9.1f}{np.percentile(bare, 99):>9.1f}"
          f"{len(bare) / (bare.sum() / 1e6):>11,.0f}{1.0:>16.2f}")
    for name, lat, wall in (("omnifill Router.route, 1 thread", one, wall1),
                            ("omnifill Router.route, 2 threads", two, wall2)):
        print(f"{name:<44}{np.percentile(lat, 50):>9.1f}{np.percentile(lat, 99):>9.1f}"
              f"{len(lat) / wall:>11,.0f}{np.percentile(lat, 50) / b50:>16.2f}")
    print(f"{'  + rows and explanation on first access':<44}{np.percentile(extra, 50):>9.1f}"
          f"{np.percentile(extra, 99):>9.1f}")
    print(f"# decisions: {proven:,} of {len(decisions):,} proven optimal; by row modes: "
          + ", ".join(f"{'+'.join(k)} {v:,}" for k, v in sorted(modes.items(), key=lambda kv: -kv[1])))
    print(f"# p50 decision = {np.percentile(one, 50) / b50:.2f} bare lookups (goal <= 2); "
          f"p99 {np.percentile(one, 99):.0f} us (goal < 1000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
