"""The batch planner at scale: a large backlog on a generated city with contended stock.

``omnifill.scenarios.synthetic_city`` with ``--stores`` stores (clustered), 5,000 SKUs (Zipf
popularity), thin stock and ``--orders`` orders, planned twice in one run:
greedy (the router in file order, the peer) and optimal (``--time-limit`` seconds). Prints the
saving over greedy, the gap, time per stage, wall time and
the process's peak memory.

Stock scales with the backlog (``--stock``, default: 1 unit per stocked SKU, on average, per
10,000 orders), so that every size sees the same contention: at 10,000 orders the most
popular SKUs are short around the busiest clusters, not gone everywhere. (With 1 unit at
100,000 orders, the backlog asks for about six times the city's whole stock of the most
popular SKU, which is gone after a sixth of it: the rest of the backlog has little to plan.)

``--city dense``: the dense city built from the real Shanghai shop locations instead
(``omnifill.scenarios.dense_city``: 2,000 stores, hundreds within an order's reach, 5,000
SKUs at a fifth each, 0-5 units; ``omnifill generate dense`` writes the same city), read from
``--data`` (../shared/data); skipped cleanly when it is absent. Note the peak memory is the
process's, and includes building the city in Python.

Run:  python benchmarks/bench_planner_scale.py [--orders 10000 100000] [--stores 2000] [--time-limit 60]
      python benchmarks/bench_planner_scale.py --city dense --orders 100000 --time-limit 60
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import sys
import time

import omnifill
from omnifill.planner import plan
from omnifill.scenarios import dense_city, synthetic_city

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, nargs="+", default=[10000, 100000])
    ap.add_argument("--stores", type=int, default=2000)
    ap.add_argument("--skus", type=int, default=5000)
    ap.add_argument("--stock", type=float, default=None,
                    help="mean units per stocked SKU (default: orders / 10,000)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=1, help="CP-SAT workers per component")
    ap.add_argument("--threads", type=int, default=2, help="threads for the option search")
    ap.add_argument("--city", choices=["generated", "dense"], default="generated")
    ap.add_argument("--data", default=DATA, help="the shared data folder (--city dense)")
    args = ap.parse_args(argv)
    if args.city == "dense" and not os.path.isdir(os.path.join(args.data, "shanghai_cainiao_lastmile_2016")):
        print(f"skipped: the real data folder {args.data} is absent (--city dense)")
        return 0
    stock = ("0-5 units" if args.city == "dense" else "orders / 10,000" if args.stock is None
             else format(args.stock, "g"))
    print(f"# omnifill {omnifill.__version__}; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; {args.city} city, {args.stores:,} stores, {args.skus:,} SKUs, "
          f"mean stock {stock}; "
          f"time limit {args.time_limit:g} s", flush=True)
    for n in args.orders:
        t0 = time.perf_counter()
        if args.city == "dense":
            city = dense_city(args.data, seed=0, n_stores=args.stores, n_orders=n, n_skus=args.skus)
        else:
            city = synthetic_city(seed=1, n_stores=args.stores, n_orders=n, n_skus=args.skus,
                                  mean_stock=n / 10_000 if args.stock is None else args.stock,
                                  radius_m=25_000, n_clusters=40, mean_lines=3.0)
        net = omnifill.Network.from_tables(city.stores, city.inventory)
        batch = omnifill.OrderBatch.from_tables(city.orders, net)
        del city
        load = time.perf_counter() - t0
        t1 = time.perf_counter()
        g = plan(net, batch, policy="greedy")
        g_wall = time.perf_counter() - t1
        print(f"\n(greedy: {g.summary['objective']:,.0f} in {g_wall:.1f} s)", flush=True)
        t1 = time.perf_counter()
        o = plan(net, batch, time_limit_s=args.time_limit, seed=0, workers=args.workers,
                 search_threads=args.threads)
        wall = time.perf_counter() - t1
        s, gs = o.summary, g.summary
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\n## {n:,} orders, {batch.n_lines:,} lines (generated and loaded in {load:.1f} s)")
        num = (lambda v, f: "n/a" if v is None or math.isnan(v) else format(v, f))
        print(f"greedy {gs['objective']:,.0f} in {g_wall:.1f} s; optimal {s['objective']:,.0f} "
              f"({1 - s['objective'] / gs['objective']:.2%} cheaper) in {wall:.1f} s wall; lower bound "
              f"{num(s['lower_bound'], ',.0f')} (gap {num(s['gap'], '.2%')}), model bound "
              f"{num(s['model_lower_bound'], ',.0f')} (model gap {num(s['model_gap'], '.2%')}); status "
              f"{s['solver_status']}; {s['orders_in_solver']:,} orders in {s['components']} components, the "
              f"largest {s.get('largest_component', 0):,}")
        print("time per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings_s"].items())
              + f"; peak memory (process) {peak:,.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
