"""Look-ahead routing (docs/lookahead.md): the share of the online router's gap to hindsight
that shadow prices close, how fast the priced router decides, and what a forecast 20% wrong
does.

Days of different shapes, each simulated under ``online``, ``online+prices`` and
``hindsight`` on the same orders (``bench.simulate``):

- ``scarce``: the issue's day, 300 generated stores, 8,000 orders, 2,000 SKUs, 1.5 units a
  row (``omnifill generate city --stores 300 --orders 8000 --skus 2000 --clusters 12
  --radius-km 12 --mean-stock 1.5 --assortment 0.3 --zipf 0.8``);
- ``ample``: the same city with 12 units a row (prices should do nothing there);
- ``shanghai-scarce``: the 613 real shops and the 3,417 real orders with a mean stock of
  0.6 units a row (``scenarios.shanghai_day``; skipped without ``--data``).

Printed per day: each policy's cost and gap to the hindsight plan, the share of online's
gap that ``online+prices`` closes, orders per second (the whole policy, the LP solves
included, and routing alone), the priced decisions' p50/p99, and the decisions a price
changed. With ``--scales``, ``online+prices`` again with the forecast's volume scaled.

Run:  python benchmarks/bench_lookahead.py [--data ../shared/data] [--days scarce ample shanghai-scarce]
          [--scales 0.8 1.2] [--reprice-every 60] [--price-limit 30] [--hindsight-limit 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench_roads import machine

from omnifill import bench
from omnifill.scenarios import shanghai_day, synthetic_day

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCARCE = dict(n_stores=300, n_orders=8000, n_skus=2000, n_clusters=12, radius_m=12000.0, mean_stock=1.5,
              assortment=0.3, zipf_a=0.8)


def day(name: str, data: str, seed: int):
    if name == "scarce":
        return bench._from_city(name, synthetic_day(seed=seed, city="city", **SCARCE), None)
    if name == "ample":
        return bench._from_city(name, synthetic_day(seed=seed, city="city", **(SCARCE | {"mean_stock": 12.0})), None)
    if name == "shanghai-scarce":
        if not os.path.isdir(data):
            return None
        return bench._from_city(name, shanghai_day(data, seed=seed, mean_stock=0.6), None)
    raise SystemExit(f"unknown day {name!r}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--days", nargs="+", default=["scarce", "ample", "shanghai-scarce"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scales", nargs="*", type=float, default=[0.8, 1.2])
    ap.add_argument("--reprice-every", type=float, default=60.0)
    ap.add_argument("--price-limit", type=float, default=30.0)
    ap.add_argument("--hindsight-limit", type=float, default=60.0)
    a = ap.parse_args(argv)
    print(machine())
    print("| day | orders | online gap | online+prices gap | share of the gap closed | prices vs online | "
          "orders/s online | orders/s prices (routing alone) | priced p50 / p99 us | decisions a price changed | "
          "decided unpriced |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in a.days:
        sc = day(name, a.data, a.seed)
        if sc is None:
            print(f"(day {name} skipped: no {a.data})", file=sys.stderr)
            continue
        net = bench.network_of(sc)
        batch, arrival = bench.day_orders(sc, net)
        runs = {}
        t0 = time.perf_counter()
        hind = bench.simulate(net, batch, arrival, policy="hindsight", hindsight_limit_s=a.hindsight_limit,
                              seed=a.seed).kpis()
        for label, pol, scale in [("online", "online", 1.0), ("prices", "online+prices", 1.0)] + [
                (f"prices x{s:g}", "online+prices", s) for s in a.scales if name != "ample"]:
            runs[label] = bench.simulate(net, batch, arrival, policy=pol, seed=a.seed, reprice_every=a.reprice_every,
                                         forecast_scale=scale, price_limit_s=a.price_limit).kpis()
        h = hind["total_cost"]
        gap = {k: v["total_cost"] / h - 1 for k, v in runs.items()}
        on, pr = runs["online"], runs["prices"]
        for label in [k for k in runs if k != "online"]:
            k = runs[label]
            closed = (gap["online"] - gap[label]) / gap["online"] if gap["online"] > 0 else float("nan")
            route_s = k["wall_s"] - k["price_seconds"]
            print(f"| {name}{'' if label == 'prices' else ' (forecast ' + label.split()[1] + ')'} | {k['orders']:,} "
                  f"| {gap['online']:.2%} | {gap[label]:.2%} | {closed:.0%} "
                  f"| {k['total_cost'] / on['total_cost'] - 1:+.2%} | {on['orders_per_second']:,.0f} "
                  f"| {k['orders_per_second']:,.0f} ({k['orders'] / route_s:,.0f}) "
                  f"| {k['route_p50_us']:.0f} / {k['route_p99_us']:.0f} | {k['price_changed_orders']:,} "
                  f"| {k['price_unpriced_orders']:,} |", flush=True)
        print(f"({name}: hindsight {h:,.0f}, its bound {hind.get('hindsight_lower_bound') or float('nan'):,.0f}; "
              f"online {on['total_cost']:,.0f}; prices {pr['total_cost']:,.0f}, {pr['reprices']} solves in "
              f"{pr['price_seconds']:.0f} s, {pr['price_lp_converged']} converged, "
              f"{pr['priced_units_mean']:,.0f} rows priced on average; {time.perf_counter() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
