"""The batch planner on contended Shanghai backlogs: quality against greedy and the bound.

A backlog of N orders on the real Shanghai network (``omnifill.scenarios.shanghai_city`` from
../shared/data) with scarce stock (``--stock``: mean units per stocked SKU, low so orders
compete), planned twice in one run: greedy (the router in file order) and optimal (CP-SAT from
the greedy hint, ``--time-limit`` seconds). Prints objective,
lower bound, gap, the saving over greedy, and in Xu, Allgor and Graves' terms the share of
greedy's extra packages (beyond one per order) and of its late orders that the plan removes;
time per stage and the process's peak memory.

Needs ../shared/data (skips with a message when it is absent).

Run:  python benchmarks/bench_planner.py [--orders 1000 10000] [--time-limit 60] [--stock 1.0]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import omnifill
from omnifill.planner import plan
from omnifill.scenarios import shanghai_city

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def kpis(p):
    rows = p.rows
    orders: dict = {}
    for r in rows:
        orders.setdefault(r["order_id"], []).append(r)
    extra = late = 0
    for rs in orders.values():
        filled = [r for r in rs if r["mode"] != "unfilled"]
        extra += max(0, len({r["package"] for r in filled}) - 1)
        late += any(not r["on_time"] for r in filled)
    return extra, late


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--stock", type=float, default=1.0, help="mean units per stocked SKU (scarce: about 1)")
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    if not (Path(args.data) / "shanghai_cainiao_lastmile_2016").is_dir():
        print(f"skipped: the real data folder {args.data} is absent")
        return 0
    print(f"# omnifill {omnifill.__version__}; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; time limit {args.time_limit:g} s, "
          f"mean stock {args.stock:g}")
    for n in args.orders:
        t0 = time.perf_counter()
        city = shanghai_city(args.data, n_orders=n, mean_stock=args.stock, seed=1)
        net = omnifill.Network.from_tables(city.stores, city.inventory)
        batch = omnifill.OrderBatch.from_tables(city.orders, net)
        load = time.perf_counter() - t0
        g = plan(net, batch, policy="greedy")
        t1 = time.perf_counter()
        o = plan(net, batch, time_limit_s=args.time_limit, seed=0)
        wall = time.perf_counter() - t1
        s, gs = o.summary, g.summary
        g_extra, g_late = kpis(g)
        o_extra, o_late = kpis(o)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\n## {n:,} orders, {batch.n_lines:,} lines (load {load:.1f} s)")
        print(f"greedy objective {gs['objective']:,.0f}; optimal {s['objective']:,.0f} "
              f"({1 - s['objective'] / gs['objective']:.2%} cheaper); lower bound {s['lower_bound']:,.0f}, "
              f"gap {s['gap']:.2%}; status {s['solver_status']}; {s['orders_in_solver']:,} orders in "
              f"{s['components']} components")
        print(f"extra packages beyond one per order: greedy {g_extra:,}, plan {o_extra:,} "
              f"({(g_extra - o_extra) / max(1, g_extra):.0%} removed); late orders: greedy {g_late:,}, "
              f"plan {o_late:,} ({(g_late - o_late) / max(1, g_late):.0%} removed); unfilled lines: greedy "
              f"{gs['unfilled_lines']:,}, plan {s['unfilled_lines']:,}")
        print("time: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["timings_s"].items())
              + f"; wall {wall:.1f} s; peak memory {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
