"""The day simulator (``omnifill bench``): simulated orders per second, and the policies on Shanghai.

**Speed.** The Shanghai day (the 613 real shops and a warehouse, the 3,417 real O2O orders
at their pickup times; ``scenarios.shanghai_day``) and a generated 10,000-store city's day
(``--city-orders`` orders; ``scenarios.synthetic_day``) are simulated under each policy.
Prints simulated orders per second, and side by side in the same run the peer: the same
orders routed and completed by a bare ``Router`` loop in arrival order (what any simulator
must at least do under ``online``), so the ratio is the simulator's own overhead; and how
many times faster than the real day the simulation runs.

**Policies on Shanghai.** ``online``, ``online+reroute`` and ``hold`` on the same day, and
the hindsight plan: the planner given the whole day's orders at once, against the morning's
stock, with no waiting (``--hindsight-limit`` seconds), with its proven lower bound. Prints
the KPI table and, set against the literature the planner issue quotes:

- Xu, Allgor and Graves (2009): re-evaluating the backlog in batch removes 40-50% of the
  extra shipments one-at-a-time decisions create. Here: the share of ``online``'s packages
  beyond one per order that the policy removes.
- Xie, Ma and Xin (JD.com): holding orders briefly shrinks the gap to the best possible
  plan from 7.4% to under 4%. Here: each policy's cost above the hindsight plan's (and
  above its lower bound, a gap no plan can beat).

``--shanghai-orders N`` adds a denser Shanghai day (N orders drawn over the real customer
points and times), where orders compete for stock; ``--stock-factor F ...`` adds the real
day with every shop's stock times F (the ``stock:xF`` what-if), thin stock; ``--capacity N
...`` the real day with every shop sending at most N packages an hour (``capacity:N``). With
a capacity the hindsight plan pools each shop's capacity over the day's clock hours (the
planner has one capacity per batch): a relaxation, so the gaps to it are upper bounds.

Run:  python benchmarks/bench_simulation.py [--data ../shared/data] [--city-orders 100000]
          [--parts speed policies] [--time-limit 2] [--hindsight-limit 60] [--shanghai-orders 20000]
          [--stock-factor 0.1] [--capacity 1 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

import omnifill
from omnifill import bench
from omnifill.model import Order
from omnifill.planner import plan
from omnifill.router import Router
from omnifill.scenarios import shanghai_day, synthetic_day

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# the 10,000-store city: 80 demand clusters in 40 km; each store stocks a tenth of 5,000 SKUs
# the policies a day can run without rejections (online+accept is online then; hindsight is
# planned below, with its own limit)
DAY_POLICIES = ("online", "online+reroute", "hold")
BIG_CITY = {"n_stores": 10_000, "n_skus": 5000, "n_clusters": 80, "radius_m": 40_000.0, "assortment": 0.1}


def bare_router_loop(net, batch, arrival) -> float:
    """Seconds for a Router to route and complete every order in arrival order: the peer."""
    orders = [Order.from_batch(batch, i, net.store_ids) for i in range(len(batch))]
    seq = np.lexsort((np.arange(len(batch)), arrival)).tolist()
    router = Router(net)
    t0 = time.perf_counter()
    for i in seq:
        router.route(orders[i])
        router.complete(orders[i].order_id)
    return time.perf_counter() - t0


def speed(name, sc, policies, args) -> None:
    t0 = time.perf_counter()
    net = bench.network_of(sc)
    batch, arrival = bench.day_orders(sc, net)
    load = time.perf_counter() - t0
    span_s = (arrival.max() - arrival.min()) * 60.0
    print(f"\n## {name}: {len(net):,} stores and warehouses, {len(batch):,} orders, {batch.n_lines:,} lines, "
          f"arriving over {span_s / 3600:.1f} h (network and orders built in {load:.1f} s)", flush=True)
    bare = bare_router_loop(net, batch, arrival)
    print("| run | wall s | orders/s | vs bare Router loop | faster than real time |\n|---|---:|---:|---:|---:|")
    print(f"| bare Router loop (peer) | {bare:.2f} | {len(batch) / bare:,.0f} | 1.00 | {span_s / bare:,.0f}x |",
          flush=True)
    for pol in policies:
        r = bench.simulate(net, batch, arrival, policy=pol, time_limit_s=args.time_limit)
        k = r.kpis()
        print(f"| simulate {pol} | {r.wall_s:.2f} | {k['orders_per_second']:,.0f} | "
              f"{r.wall_s / bare:.2f}x the time | {span_s / r.wall_s:,.0f}x |", flush=True)


def _num(x) -> str:
    return "none" if x is None else f"{x:,.0f}"


def pct(x, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}%"


def policies_table(name, sc, args) -> None:
    net = bench.network_of(sc)
    batch, arrival = bench.day_orders(sc, net)
    cap = np.asarray(net.capacity, np.float64)
    print(f"\n## Policies on {name}: {len(batch):,} orders, {batch.n_lines:,} lines, {len(net):,} stores; "
          f"store capacity {'unlimited' if not np.isfinite(cap).any() else 'per the stores file'}; "
          f"re-plan every {args.reroute_every:g} min, hold {args.hold:g} min, planner limit {args.time_limit:g} s "
          f"per re-plan or batch", flush=True)
    runs = {}
    for pol in DAY_POLICIES:
        runs[pol] = bench.simulate(net, batch, arrival, policy=pol, reroute_every=args.reroute_every,
                                   hold_min=args.hold, time_limit_s=args.time_limit)
        print(f"({pol}: {runs[pol].wall_s:.1f} s, {runs[pol].n_replans} plans)", flush=True)
    hours = runs["online"].hours  # the clock hours, each renewing a store's capacity
    pooled = net
    if np.isfinite(cap).any():
        pooled = bench.network_of(bench.Scenario(sc.name, {**sc.stores, "capacity": [
            None if c is None else int(c) * int(hours) for c in sc.stores["capacity"]]}, sc.inventory, sc.orders))
        print(f"(hindsight: each shop's capacity pooled over the {hours:g} clock hours)", flush=True)
    t0 = time.perf_counter()
    p = plan(pooled, batch, time_limit_s=args.hindsight_limit, seed=0)
    hind = bench.plan_result(pooled, batch, p.rows, label="hindsight", wall_s=time.perf_counter() - t0)
    # the tighter bound: the model's (over the listed options; the optimum when the solver
    # proved it) where there is one, else the bound over every option (module docstring of planner)
    bound = p.summary.get("model_lower_bound") or p.summary.get("lower_bound")
    print(f"(hindsight plan: {hind.wall_s:.1f} s, objective {p.summary['objective']:,.0f}, lower bound over "
          f"every option {_num(p.summary.get('lower_bound'))}, over the listed options "
          f"{_num(p.summary.get('model_lower_bound'))}, solver status {p.summary.get('solver_status')}; "
          f"the day's cost formula gives {hind.cost.sum():,.0f})",
          flush=True)
    runs["hindsight plan"] = hind
    k = {n: r.kpis() for n, r in runs.items()}
    tiers = sorted({t for v in k.values() for t in v["on_time_rate_by_tier"]}, key=float)
    cols = ["on time"] + [f"on time {t} min" for t in tiers] + [
        "ETA mean", "ETA p90", "packages/order", "transfers", "parcels", "unfilled lines", "moved", "cost"]
    print("\n| run | " + " | ".join(cols) + " |\n|---|" + "---:|" * len(cols))
    for n, v in k.items():
        cells = [pct(v["on_time_rate"])] + [pct(v["on_time_rate_by_tier"].get(t)) for t in tiers] + [
            f"{v['eta_mean_min']:.1f}", f"{v['eta_p90_min']:.1f}", f"{v['packages_per_order']:.3f}",
            f"{v['transfers']:,}", f"{v['parcels']:,}", f"{v['unfilled_lines']:,}", f"{v['moved']:,}",
            f"{v['total_cost']:,.0f}"]
        print(f"| {n} | " + " | ".join(cells) + " |")
    on = k["online"]
    extra_on = on["packages"] - on["orders"]
    late_on = round((1 - on["on_time_rate"]) * on["orders"])
    hc = k["hindsight plan"]["total_cost"]
    print("\n| run | cost vs online | extra packages removed (Xu: 40-50%) | late orders removed | "
          "gap to the hindsight plan (Xie: 7.4% -> under 4%) | gap to the hindsight bound |\n"
          "|---|---:|---:|---:|---:|---:|")
    for n, v in k.items():
        late = round((1 - v["on_time_rate"]) * v["orders"])
        removed = (extra_on - (v["packages"] - v["orders"])) / extra_on if extra_on else None
        late_removed = (late_on - late) / late_on if late_on else None
        gap_b = (v["total_cost"] - bound) / bound if bound else None
        print(f"| {n} | {pct(v['total_cost'] / on['total_cost'] - 1, 3)} | {pct(removed)} | {pct(late_removed)} | "
              f"{pct(v['total_cost'] / hc - 1, 3)} | {pct(gap_b, 3)} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--parts", nargs="+", default=["speed", "policies"], choices=["speed", "policies"])
    ap.add_argument("--city-orders", type=int, default=100_000)
    ap.add_argument("--city-policies", nargs="+", default=list(DAY_POLICIES), choices=bench.POLICIES)
    ap.add_argument("--time-limit", type=float, default=2.0, help="the planner's limit per re-plan or batch")
    ap.add_argument("--hindsight-limit", type=float, default=60.0)
    ap.add_argument("--reroute-every", type=float, default=15.0)
    ap.add_argument("--hold", type=float, default=5.0)
    ap.add_argument("--shanghai-orders", type=int, default=None, help="also a denser Shanghai day of N orders")
    ap.add_argument("--stock-factor", type=float, nargs="*", default=[], metavar="F",
                    help="also the real day with every shop's stock times F")
    ap.add_argument("--capacity", type=int, nargs="*", default=[], metavar="N",
                    help="also the real day with every shop's capacity N packages an hour")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (Path(args.data) / "shanghai_cainiao_lastmile_2016").is_dir():
        print(f"bench_simulation: {args.data} holds no shanghai_cainiao_lastmile_2016; give --data DIR",
              file=sys.stderr)
        return 2
    print(f"# omnifill {omnifill.__version__}; {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; seed {args.seed}", flush=True)
    sh = bench.Scenario("shanghai", *_tables(shanghai_day(args.data, seed=args.seed)))
    if "speed" in args.parts:
        speed("Shanghai day", sh, DAY_POLICIES, args)
        t0 = time.perf_counter()
        city = synthetic_day(seed=args.seed, n_orders=args.city_orders, city="big", **BIG_CITY)
        print(f"\n(the 10,000-store city generated in {time.perf_counter() - t0:.1f} s)", flush=True)
        speed("10,000-store city", bench.Scenario("big", *_tables(city)), args.city_policies, args)
        del city
    if "policies" in args.parts:
        policies_table("the Shanghai day", sh, args)
        if args.shanghai_orders:
            dense = shanghai_day(args.data, seed=args.seed, n_orders=args.shanghai_orders)
            policies_table(f"a Shanghai day of {args.shanghai_orders:,} orders",
                           bench.Scenario("shanghai-dense", *_tables(dense)), args)
        for f in args.stock_factor:
            policies_table(f"the Shanghai day with stock x{f:g}",
                           bench.apply_what_if(sh, bench.parse_what_if(f"stock:x{f:g}")), args)
        for c in args.capacity:
            policies_table(f"the Shanghai day with capacity {c} an hour",
                           bench.apply_what_if(sh, bench.parse_what_if(f"capacity:{c}")), args)
    print(f"\n(peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)")
    return 0


def _tables(city):
    return city.stores, city.inventory, city.orders


if __name__ == "__main__":
    sys.exit(main())
