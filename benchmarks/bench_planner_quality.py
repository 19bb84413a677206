"""The batch planner's quality on contended backlogs: against greedy, its bounds, and an exact MIP.

Contended instances: few stores, thin stock, clustered demand, so orders compete for the same
units. For each, in one run:

- greedy: the router in file order (the myopic baseline);
- the plan: ``omnifill.plan`` with ``--time-limit`` seconds;
- the reference: the same model (``omnifill.planner.export_model``: the same options, every
  line's source free where stock is short) solved whole by HiGHS (scipy.optimize.milp), an
  independent MIP solver, with ten times the time. Its best solution and its dual bound.

Prints the plan against the reference (goal: within 1%), against its reported lower bound
(over every option of the cost model) and model bound (the LP of the listed options), and
against greedy; and in Xu, Allgor and Graves' terms the share of greedy's extra packages
(beyond one per order) and of its late orders that the plan removes (literature: 40-50%).

Instances: ``generated`` and ``generated-deep`` (the project's generator), ``shanghai`` (the
real shops and customer points), ``chain-300`` and ``chain-500`` (a real chain's 40 stores
from the Genesis POIs, 60 SKUs at 30% assortment and 0-3 units, transfers off, 2 packages:
``omnifill.scenarios.chain_city``). The real-data ones skip when ../shared/data is absent.

Run:  python benchmarks/bench_planner_quality.py [--time-limit 60] [--instances generated shanghai]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

import omnifill
from omnifill.planner import export_model, plan
from omnifill.scenarios import chain_city, shanghai_city, synthetic_city

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_planner import DATA, kpis  # Xu's measures: one definition


def instance(name: str, data: str):
    if name == "generated":  # 40 clustered stores, 200 SKUs, about half a unit per stocked SKU
        city = synthetic_city(seed=3, n_stores=40, n_orders=300, n_skus=200, mean_stock=0.5, n_warehouses=1,
                              mean_lines=3.0, radius_m=8000, n_clusters=5, assortment=0.3)
    elif name == "generated-deep":  # the same city, one unit per stocked SKU on average
        city = synthetic_city(seed=3, n_stores=20, n_orders=300, n_skus=200, mean_stock=1.0, n_warehouses=1,
                              mean_lines=3.0, radius_m=8000, n_clusters=5, assortment=0.3)
    elif name in ("chain-300", "chain-500"):  # a real chain's 40 stores, 60 SKUs, 0-3 units, no transfers
        if not (Path(data) / "shanghai_chain_pois_genesis").is_dir():
            return None
        n = int(name.split("-")[1])
        city = chain_city(data, n_orders=n, seed=1 if n == 300 else 2)
        cfg = omnifill.Config().with_(limits={"max_transfers": 0, "max_packages": 2})
        net = omnifill.Network.from_tables(city.stores, city.inventory, config=cfg)
        return net, omnifill.OrderBatch.from_tables(city.orders, net)
    elif name == "shanghai":  # the real shops and customer points, baskets, thin stock
        if not (Path(data) / "shanghai_cainiao_lastmile_2016").is_dir():
            return None
        city = shanghai_city(data, n_orders=300, mean_stock=0.3, seed=2)
    else:
        raise SystemExit(f"unknown instance {name!r}")
    net = omnifill.Network.from_tables(city.stores, city.inventory)
    return net, omnifill.OrderBatch.from_tables(city.orders, net)


def reference(net, batch, time_limit: float):
    """The exact MIP of the same model with HiGHS: (best objective, dual bound, status)."""
    lm, fixed_cost = export_model(net, batch)
    n = lm.n_cols
    if n == 0:
        return fixed_cost, fixed_cost, "no order competes"
    A, lo, hi = lm.A, lm.lo, lm.hi
    res = milp(np.array(lm.cost), integrality=np.ones(n), bounds=Bounds(0, 1),
               constraints=LinearConstraint(A, lo, hi),
               options={"time_limit": time_limit, "mip_rel_gap": 0.0, "disp": False})
    best = fixed_cost + res.fun if res.x is not None else float("nan")
    bound = fixed_cost + getattr(res, "mip_dual_bound", float("nan"))
    return best, bound, res.message.split(".")[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--instances", nargs="+",
                    default=["generated", "generated-deep", "shanghai", "chain-300", "chain-500"])
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args(argv)
    print(f"# omnifill {omnifill.__version__}; {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}; plan: {args.time_limit:g} s, one worker; "
          f"reference: HiGHS MIP, {10 * args.time_limit:g} s", flush=True)
    for name in args.instances:
        got = instance(name, args.data)
        if got is None:
            print(f"\n## {name}: skipped, the real data folder {args.data} is absent")
            continue
        net, batch = got
        g = plan(net, batch, policy="greedy")
        t = time.perf_counter()
        o = plan(net, batch, time_limit_s=args.time_limit, seed=0)
        wall = time.perf_counter() - t
        t = time.perf_counter()
        ref, ref_bound, ref_status = reference(net, batch, 10 * args.time_limit)
        ref_wall = time.perf_counter() - t
        s, gs = o.summary, g.summary
        g_extra, g_late = kpis(g)
        o_extra, o_late = kpis(o)
        print(f"\n## {name}: {len(net)} stores, {len(batch)} orders, {batch.n_lines} lines")
        print(f"greedy {gs['objective']:,.0f}; plan {s['objective']:,.0f} ({1 - s['objective'] / gs['objective']:.2%} "
              f"cheaper, {wall:.1f} s wall, {s['orders_in_solver']} orders in the solver, status "
              f"{s['solver_status']})")
        print(f"reference (HiGHS, {ref_wall:.0f} s, {ref_status}): {ref:,.0f}, its bound {ref_bound:,.0f}; "
              f"plan vs reference {s['objective'] / ref - 1:+.2%}; "
              f"greedy vs reference {gs['objective'] / ref - 1:+.2%}")
        print(f"plan's lower bound {s['lower_bound']:,.0f} ({s['lower_bound_kind']}, gap {s['gap']:.2%}, "
              f"{s['timings_s']['bound']:.1f} s); model bound "
              f"{s['model_lower_bound']:,.0f} (model gap {s['model_gap']:.2%})")
        print(f"extra packages beyond one per order: greedy {g_extra}, plan {o_extra} "
              f"({(g_extra - o_extra) / max(1, g_extra):.0%} removed); late orders: greedy {g_late}, plan {o_late} "
              f"({(g_late - o_late) / max(1, g_late):.0%} removed); parcels {gs['parcels']} -> {s['parcels']}; "
              f"unfilled lines {gs['unfilled_lines']} -> {s['unfilled_lines']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
