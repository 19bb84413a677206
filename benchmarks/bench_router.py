"""The online router: decision latency and throughput on the real Shanghai network.

Routes 20,000 orders one at a time, reserving as they go, on the 613 real Shanghai shops
(plus one warehouse), 5,000 SKUs and baskets sized like the Complete Journey data
(``omnifill.scenarios.shanghai_city``), with one thread and with two. Side by side in the
same run it times a bare ``cKDTree.query_ball_point`` radius lookup per order on the same
stores (the order's promise radius, unit vectors, no ETAs, no sorting, no stock): back to
back with each decision (same cache conditions), and alone in a tight loop. Prints p50 /
p99 decision latency, throughput, and the ratio of p50 decision to p50 bare lookup.

Needs ../shared/data (skips with a message when it is absent).

Run:  python benchmarks/bench_router.py [--orders 20000] [--data ../shared/data] [--max-courier-min 60]
          [--assortment 0.3] [--lines 3] [--city shanghai|dense]
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


def orders_of(city, net) -> list[Order]:
    batch = omnifill.OrderBatch.from_tables(city.orders, net)
    return [Order.from_batch(batch, i, net.store_ids) for i in range(len(batch))]


def side_by_side(router, orders, tree, xyz, radius):
    """Per order, a bare lookup then a decision, timed back to back (same conditions)."""
    bare = np.empty(len(orders))
    route = np.empty(len(orders))
    for k, o in enumerate(orders):
        t = time.perf_counter()
        tree.query_ball_point(xyz[k], radius[k])
        t1 = time.perf_counter()
        router.route(o)
        route[k] = time.perf_counter() - t1
        bare[k] = t1 - t
    return bare * 1e6, route * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--max-courier-min", type=float, default=None,
                    help="the delivery area's [limits] max_courier_min (default the config's, 90)")
    ap.add_argument("--assortment", type=float, default=0.5, help="mean share of the SKUs a shop stocks (0.5)")
    ap.add_argument("--lines", type=int, default=None,
                    help="every basket this many SKUs (default: the Complete Journey basket sizes)")
    ap.add_argument("--city", choices=("shanghai", "dense"), default="shanghai",
                    help="shanghai: the 613 real shops; dense: scenarios.dense_city (2,000 stores at the real "
                         "shop locations, moved 800 m)")
    args = ap.parse_args(argv)
    if not (Path(args.data) / "shanghai_cainiao_lastmile_2016").is_dir():
        print(f"skipped: the real data folder {args.data} is absent")
        return 0
    t0 = time.perf_counter()
    if args.city == "dense":
        from omnifill.scenarios import dense_city

        city = dense_city(args.data, n_orders=args.orders, **({} if args.lines is None else {"mean_lines": args.lines}))
    else:
        city = shanghai_city(args.data, n_orders=args.orders, assortment=args.assortment, lines=args.lines)
    cfg = omnifill.Config()
    if args.max_courier_min is not None:
        cfg = cfg.with_(limits={"max_courier_min": args.max_courier_min})
    net = omnifill.Network.from_tables(city.stores, city.inventory, config=cfg)
    orders = orders_of(city, net)
    print(f"# omnifill {omnifill.__version__}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    sizes = np.array([len(o.lines) for o in orders])
    print(f"# {args.city}: {int((net.kind == 'store').sum())} stores + 1 warehouse, {len(net.inventory.skus):,} SKUs, "
          f"{len(net.inventory.sku_code):,} stock rows; {len(orders):,} orders, lines per order mean "
          f"{sizes.mean():.1f}, median {np.median(sizes):.0f}, max {sizes.max()}; "
          f"set-up {time.perf_counter() - t0:.1f} s")

    t = net.config.travel
    stores = net.kind == "store"
    tree = cKDTree(_core.unit_vectors(net.lat[stores], net.lon[stores]))
    xyz = _core.unit_vectors([o.lat for o in orders], [o.lon for o in orders])
    radius = np.array([_core.chord_radius((o.promise_min - 8.0) * t.courier_m_per_min / t.circuity) for o in orders])

    # warm up both (grids built, caches warm) on a throw-away router
    side_by_side(Router(net), orders[:300], tree, xyz[:300], radius[:300])

    # the bare lookups alone, in a tight loop (warm caches: the lookup at its best)
    alone = np.empty(len(orders))
    for k in range(len(orders)):
        t = time.perf_counter()
        tree.query_ball_point(xyz[k], radius[k])
        alone[k] = time.perf_counter() - t
    alone *= 1e6

    router = Router(net)
    t1 = time.perf_counter()
    bare, one = side_by_side(router, orders, tree, xyz, radius)
    wall1 = time.perf_counter() - t1
    decisions = [router.route(o) for o in orders]  # held: the same decisions back
    modes = {}
    for d in decisions:
        kinds = tuple(sorted({r["mode"] for r in d.rows}))
        modes[kinds] = modes.get(kinds, 0) + 1
    proven = sum(d.proven for d in decisions)

    # two threads on one router, the orders split round-robin, each timing side by side
    res2 = {}
    for release in (False, True):
        router2 = Router(net, release_gil=release)
        parts = [np.arange(k, len(orders), 2) for k in range(2)]
        out = [None, None]
        barrier = threading.Barrier(2)

        def run(k, router2=router2, parts=parts, out=out, barrier=barrier):
            idx = parts[k]
            barrier.wait()
            out[k] = side_by_side(router2, [orders[i] for i in idx], tree, xyz[idx], radius[idx])

        t2 = time.perf_counter()
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(run, range(2)))
        res2[release] = (np.concatenate([out[0][0], out[1][0]]), np.concatenate([out[0][1], out[1][1]]),
                         time.perf_counter() - t2)

    # what materialising rows and explanation adds (lazy on the Decision)
    r3 = Router(net)
    extra = np.empty(min(2000, len(orders)))
    for k, o in enumerate(orders[:2000]):
        d = r3.route(o)
        s = time.perf_counter()
        _ = d.rows, d.explanation
        extra[k] = (time.perf_counter() - s) * 1e6

    b50 = np.percentile(bare, 50)
    print(f"{'':<48}{'p50 us':>9}{'p99 us':>9}{'orders/s':>11}{'p50 / bare p50':>16}")
    rows = [("bare cKDTree lookup alone, tight loop", alone, None, b50),
            ("bare cKDTree.query_ball_point, 1 thread", bare, None, b50),
            ("omnifill Router.route, 1 thread", one, wall1, b50)]
    for release, (b2, r2, wall2) in res2.items():
        tag = ", GIL released in search" if release else ""
        rows.append((f"bare cKDTree lookup, 2 threads{tag}", b2, None, np.percentile(b2, 50)))
        rows.append((f"omnifill Router.route, 2 threads{tag}", r2, wall2, np.percentile(b2, 50)))
    for name, lat, wall, base in rows:
        rate = len(lat) / wall if wall else len(lat) / (lat.sum() / 1e6)
        print(f"{name:<48}{np.percentile(lat, 50):>9.1f}{np.percentile(lat, 99):>9.1f}{rate:>11,.0f}"
              f"{np.percentile(lat, 50) / base:>16.2f}")
    print(f"{'  + rows and explanation on first access':<48}{np.percentile(extra, 50):>9.1f}"
          f"{np.percentile(extra, 99):>9.1f}")
    print("# orders/s: decisions per second of wall time (threads together); for bare lookups, per second of "
          "lookup time")
    print(f"# decisions: {proven:,} of {len(decisions):,} proven optimal; by row modes: "
          + ", ".join(f"{'+'.join(k)} {v:,}" for k, v in sorted(modes.items(), key=lambda kv: -kv[1])))
    print(f"# p50 decision = {np.percentile(one, 50) / b50:.2f} bare lookups timed beside it, "
          f"{np.percentile(one, 50) / np.percentile(alone, 50):.2f} lookups timed alone (goal <= 2); "
          f"p99 {np.percentile(one, 99):.0f} us (goal < 1000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
