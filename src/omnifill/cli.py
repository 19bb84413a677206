"""The ``omnifill`` command: argument parsing, exit codes and printing; no logic of its own.

Exit codes: 0 done, 1 internal error (a bug: the traceback is printed), 2 invalid input (every
problem is listed, naming file, row, column and value; nothing is written), 130 interrupted.
Nothing imports this module.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from . import __version__
from .config import Config
from .errors import InputError
from .io import DEFAULT_MAX_ERRORS, Problems, load_inventory, load_orders, load_stores, load_zones

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="omnifill", description="Route a retail chain's online orders to its stores.")
    p.add_argument("--version", action="version", version=f"omnifill {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="load the bundled demo city and find every order's candidate stores",
                       description="Load the bundled demo city (60 stores, 2,000 orders), find each order's "
                                   "candidate stores within its promise, and print a summary.")
    d.add_argument("--max-candidates", type=int, default=None, metavar="K", help="keep the nearest K stores")
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("validate", help="check input files against the omnifill contracts",
                       description="Check stores, inventory, orders, zones and config files. Lists every "
                                   "problem found (up to --max-errors); exit 2 when any, 0 when valid.")
    files = v.add_argument_group("input files (CSV or Parquet; orders also JSON Lines)")
    files.add_argument("--stores", required=True, metavar="S")
    files.add_argument("--inventory", required=True, metavar="I")
    files.add_argument("--orders", required=True, metavar="O")
    files.add_argument("--zones", metavar="Z", help="GeoJSON FeatureCollection of delivery zones")
    files.add_argument("--config", metavar="C", help="omnifill.toml")
    v.add_argument("--max-errors", type=int, default=DEFAULT_MAX_ERRORS, metavar="N",
                   help=f"stop listing after N problems (default {DEFAULT_MAX_ERRORS})")
    v.set_defaults(func=cmd_validate)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except InputError as e:
        _print_problems(e)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("omnifill: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _print_problems(e: InputError) -> None:
    n = len(e.problems)
    print(f"omnifill: invalid input: {n}{'+' if e.truncated else ''} problem{'s' if n != 1 else ''}",
          file=sys.stderr)
    for p in e.problems:
        print(f"  {p}", file=sys.stderr)
    if e.truncated:
        print("  ... more problems not shown (raise --max-errors to see them)", file=sys.stderr)


def cmd_validate(args) -> int:
    probs = Problems(max(1, args.max_errors))
    if args.config:
        try:
            Config.from_toml(args.config)
        except InputError as e:
            probs.extend(e.problems)
    index = None
    counts = {}
    try:
        st = load_stores(args.stores, probs=probs)
        index = st.index()
        counts["stores"] = len(st.store_id)
    except InputError as e:
        probs.extend(e.problems)
    # a stores file too broken to index still lets the other files be checked on their own
    for name, fn in (("inventory", load_inventory), ("orders", load_orders), ("zones", load_zones)):
        path = getattr(args, name)
        if path is None:
            continue
        try:
            t = fn(path, index, probs=probs)
            counts[name] = len(t) if isinstance(t, list) else (len(t.order_id) if name == "orders" else len(t.sku))
        except InputError as e:
            probs.extend(e.problems)
    if probs:
        _print_problems(InputError(probs.sorted(), truncated=probs.truncated))
        return EXIT_INVALID
    print("valid: " + ", ".join(f"{v:,} {k if k != 'inventory' else 'inventory rows'}" for k, v in counts.items()))
    return EXIT_OK


def cmd_demo(args) -> int:
    from .model import Network, OrderBatch
    from .scenarios import demo_paths

    paths = demo_paths()
    t0 = time.perf_counter()
    net = Network.from_files(paths["stores"], paths["inventory"])
    orders = OrderBatch.from_file(paths["orders"], net)
    t1 = time.perf_counter()
    cand = net.candidates(orders.lat, orders.lon, orders.promise_min, args.max_candidates)
    t2 = time.perf_counter()
    cov = net.coverage(cand, orders)
    t3 = time.perf_counter()
    n = len(orders)
    cnt = cand.counts
    stores = int(((net.kind == "store")).sum())
    print(f"omnifill {__version__} demo city: {stores} stores, {len(net) - stores} warehouse(s), "
          f"{len(net.inventory.skus):,} SKUs stocked, {n:,} orders with {orders.n_lines:,} lines")
    for tier in np.unique(orders.promise_min):
        sel = orders.promise_min == tier
        c = cnt[sel]
        print(f"  {int(tier):>3}-minute promise: {sel.sum():>5,} orders; stores in time per order: mean {c.mean():.1f}, "
              f"median {np.median(c):.0f}, p90 {np.percentile(c, 90):.0f}; "
              f"{(c > 0).mean():.1%} have at least one; {cov.full[sel].mean():.1%} have one store holding every line")
    first = cand.eta_min[cand.indptr[:-1][cnt > 0]]
    print(f"  nearest store's ETA: median {np.median(first):.1f} min, p90 {np.percentile(first, 90):.1f} min")
    print(f"  timings: load {t1 - t0:.3f} s, candidates {t2 - t1:.4f} s ({cnt.sum():,} pairs), "
          f"coverage {t3 - t2:.4f} s")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
