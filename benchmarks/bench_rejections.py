"""Stores that reject lines: what rejections cost a day, what routing that expects them saves,
and how fast ``Router.reject`` re-brokers.

**Days with rejections.** Two cities of different shapes:

- ``city``: bench's generated city (2,000 stores, 20,000 orders; ``scenarios.CITY``);
- ``shanghai``: the 613 real shops and the 3,417 real orders (``scenarios.shanghai_day``;
  skipped without ``--data``).

Each city gets two acceptance profiles, drawn per store with the seed (warehouses accept
everything):

- ``uniform``: every store's rate uniform in 0.85-0.95;
- ``mixed``: most stores 0.97, one in five 0.70 (a few stores with bad stock records).

Each day is simulated three ways on the same orders, per seed (``--seeds``):

- ``online`` with every store accepting everything, the reference;
- ``online`` with the stores rejecting;
- ``online+accept``, the router expecting the rejections (``Router(accept_rates=...)``: each
  store an option uses adds its chance of rejecting times the expected cost of a re-route).

Rejection draws depend on the lines given, so the two policies see different draws; the
figures are means over the seeds. Printed per (city, profile):

- each policy's cost, on-time rate, lines rejected and orders simulated a second;
- what the rejections cost (``online`` with them less without);
- the share of that ``online+accept`` saves.

**Reject latency.** On each city: 2,000 orders routed, then one line of each rejected
(``not_in_stock``) at the store it went to, timing ``Router.reject`` against ``Router.route``
of the same orders. These are measured side by side in one run: the ratio is the cost of a
re-brokering against a decision.

Run:  python benchmarks/bench_rejections.py [--data ../shared/data] [--seeds 3] [--parts days latency]
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
from omnifill import bench
from omnifill.model import Order
from omnifill.router import Router
from omnifill.scenarios import CITY, shanghai_day, synthetic_day

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def cities(data: str | None):
    out = [("city", bench._from_city("city", synthetic_day(seed=0, city="city", **CITY), None))]
    if data and os.path.isdir(data):
        try:
            out.append(("shanghai", bench._from_city("shanghai", shanghai_day(data, seed=0), None)))
        except (FileNotFoundError, ValueError) as e:
            print(f"(shanghai skipped: {e})", file=sys.stderr)
    return out


def rates_for(net, profile: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 77])
    n = len(net)
    if profile == "uniform":
        r = rng.uniform(0.85, 0.95, n)
    else:
        r = np.where(rng.random(n) < 0.2, 0.70, 0.97)
    return np.where(net.kind == "store", r, 1.0)


def days(name, sc, seeds: int, delay: float) -> None:
    net = bench.network_of(sc)
    batch, arrival = bench.day_orders(sc, net)
    print(f"\n{name}: {len(net):,} stores, {len(batch):,} orders, {batch.n_lines:,} lines; rejected lines come back "
          f"{delay:g} min later")
    print(f"{'profile':>8} {'policy':>22} {'cost':>14} {'on time':>8} {'rejected':>9} {'extra cost':>12} "
          f"{'orders/s':>9}")
    for profile in ("uniform", "mixed"):
        acc: dict[str, list[dict]] = {"online, all accept": [], "online": [], "online+accept": []}
        for seed in range(seeds):
            rates = rates_for(net, profile, seed)
            for label, pol, rr in (("online, all accept", "online", None), ("online", "online", rates),
                                   ("online+accept", "online+accept", rates)):
                r = bench.simulate(net, batch, arrival, policy=pol, seed=seed, accept=rr, reject_delay=delay)
                acc[label].append(r.kpis())
        mean = {label: {k: float(np.mean([x.get(k) or 0.0 for x in runs]))
                        for k in ("total_cost", "on_time_rate", "rejected_lines", "rejection_extra_cost",
                                  "orders_per_second")} for label, runs in acc.items()}
        for label, m in mean.items():
            print(f"{profile:>8} {label:>22} {m['total_cost']:>14,.0f} {m['on_time_rate']:>8.1%} "
                  f"{m['rejected_lines']:>9,.0f} {m['rejection_extra_cost']:>12,.0f} {m['orders_per_second']:>9,.0f}")
        base, hit, aware = (mean[k]["total_cost"] for k in ("online, all accept", "online", "online+accept"))
        lost = hit - base
        per_seed = [(a["total_cost"] - b["total_cost"]) / max(1e-9, a["total_cost"] - c["total_cost"])
                    for a, b, c in zip(acc["online"], acc["online+accept"], acc["online, all accept"])]
        speed = mean["online+accept"]["orders_per_second"] / mean["online"]["orders_per_second"]
        print(f"{profile:>8} rejections cost {lost:,.0f} ({lost / base:.2%} of the day); online+accept saves "
              f"{hit - aware:,.0f} ({(hit - aware) / hit:.2%} of online's cost, {(hit - aware) / max(lost, 1e-9):.1%} "
              f"of what rejections cost; per seed {', '.join(f'{x:.1%}' for x in per_seed)}); speed "
              f"online+accept / online {speed:.2f}")


def latency(name, sc, n: int = 2000) -> None:
    net = bench.network_of(sc)
    batch, _ = bench.day_orders(sc, net)
    orders = [Order.from_batch(batch, i, net.store_ids) for i in range(min(n, len(batch)))]
    rng = np.random.default_rng(3)
    router = Router(net, clock=lambda: 0.0)
    t_route, t_reject = [], []
    for o in orders:
        t0 = time.perf_counter()
        d = router.route(o)
        t_route.append(time.perf_counter() - t0)
        filled = [r for r in d.rows if r["mode"] != "unfilled"]
        if not filled:
            continue
        r = filled[int(rng.integers(len(filled)))]
        t0 = time.perf_counter()
        router.reject(o.order_id, r["source_id"], [r["sku"]], reason="not_in_stock", elapsed_min=5.0)
        t_reject.append(time.perf_counter() - t0)
    a, b = np.asarray(t_route) * 1e6, np.asarray(t_reject) * 1e6
    print(f"{name}: route p50 {np.median(a):.1f} us, p99 {np.percentile(a, 99):.1f} us; reject p50 {np.median(b):.1f} "
          f"us, p99 {np.percentile(b, 99):.1f} us over {len(b):,} rejections; reject / route at p50 "
          f"{np.median(b) / np.median(a):.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--reject-delay", type=float, default=10.0)
    ap.add_argument("--parts", nargs="+", default=["days", "latency"], choices=["days", "latency"])
    args = ap.parse_args(argv)
    print(f"omnifill {omnifill.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    todo = cities(args.data)
    if "latency" in args.parts:
        print("\nReject latency (Router.reject against Router.route, side by side):")
        for name, sc in todo:
            latency(name, sc)
    if "days" in args.parts:
        for name, sc in todo:
            days(name, sc, args.seeds, args.reject_delay)


if __name__ == "__main__":
    main()
