"""The ``omnifill`` command: argument parsing, exit codes and printing; no logic of its own.

Exit codes: 0 done, 1 internal error (a bug: the traceback is printed), 2 invalid input (every
problem is listed, naming file, row, column and value; nothing is written), 3 done with
unfilled lines (reroute --fail-on-unfilled), 4 done but a city's task failed twice (reroute of
a partitioned backlog: its lines come out unfilled, reason partition_failed), 130 interrupted.
Nothing imports this module.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np

from . import __version__
from .config import Config
from .errors import InputError
from .io import (
    DEFAULT_MAX_ERRORS,
    Problems,
    check_output_path,
    file_format,
    json_default,
    load_inventory,
    load_orders,
    load_stores,
    load_zones,
    write_text,
    written_together,
)
from .scenarios import CITY

EXIT_OK, EXIT_INTERNAL, EXIT_INVALID, EXIT_UNFILLED, EXIT_PARTITION_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def _seconds(text: str) -> float:
    """A flag's time in seconds (or minutes): a finite number >= 0; argparse names the flag."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return v


_minutes = _seconds  # (the same rule: a finite number >= 0)


def _share(text: str) -> float:
    """A flag's share: a number from 0 to 1."""
    v = _seconds(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a share from 0 to 1")
    return v


def _positive(text: str) -> float:
    v = _seconds(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return v


def _count(text: str) -> int:
    """A flag's count: a whole number >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="omnifill", description="Route a retail chain's online orders to its stores.")
    p.add_argument("--version", action="version", version=f"omnifill {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_demo(sub)
    _add_validate(sub)
    _add_route(sub)
    _add_reroute(sub)
    _add_bench(sub)
    _add_generate(sub)
    _add_zones(sub)
    return p


def _add_demo(sub) -> None:
    # omnifill demo: the demo city, end to end
    d = sub.add_parser("demo", help="load the bundled demo city, route every order, re-plan the backlog",
                       description="Load the bundled demo city (60 stores, 2,000 orders), find each order's "
                                   "candidate stores within its promise, route the orders one at a time with "
                                   "the online router, re-plan them as one backlog with OR-Tools, and print a "
                                   "summary.")
    d.add_argument("--max-candidates", type=int, default=None, metavar="K", help="keep the nearest K stores")
    d.add_argument("--time-limit", type=_seconds, default=5.0, metavar="SECONDS",
                   help="the re-plan's solver time limit (default 5)")
    d.set_defaults(func=cmd_demo)


def _add_validate(sub) -> None:
    # omnifill validate: check files against the file formats
    v = sub.add_parser("validate", help="check input files against the omnifill contracts",
                       description="Check stores, inventory, orders, zones and config files. Lists every "
                                   "problem found (up to --max-errors); exit 2 when any, 0 when valid.")
    _input_files(v, orders=True)
    _max_errors(v)
    v.set_defaults(func=cmd_validate)


def _add_route(sub) -> None:
    # omnifill route: route orders one at a time
    r = sub.add_parser("route", help="route orders one at a time, as the online router does; decisions as JSON Lines",
                       description="Route each order of ORDERS with the online router and print one decision "
                                   "per order as JSON Lines on stdout, in input order. By default orders are "
                                   "routed in file order, each seeing the stock the earlier ones reserved; with "
                                   "--no-reserve each is routed against the initial stock. A JSON Lines file may "
                                   "also hold events (reject, cancel, ship, stock), applied in file order; each "
                                   "reject prints the order's new decision. A summary goes to stderr. Invalid "
                                   "input: exit 2, every problem listed, nothing printed.")
    r.add_argument("orders", metavar="ORDERS",
                   help="JSON Lines, one order per line ({order_id, lat, lon, promise_min, lines: [{sku, qty}], "
                        "mode, pickup_store, home_store}) or event per line ({event: reject|cancel|ship|stock, "
                        "...}), or the orders CSV / Parquet")
    _input_files(r, orders=False)
    r.add_argument("--no-reserve", action="store_true", help="route every order against the initial stock")
    r.add_argument("--no-explain", action="store_true", help="leave the explanation out of each decision")
    _max_errors(r)
    r.set_defaults(func=cmd_route)


def _add_reroute(sub) -> None:
    # omnifill reroute: re-plan a backlog
    rr = sub.add_parser("reroute", help="re-plan a backlog of open orders with OR-Tools; write the plan",
                        description="Re-plan a backlog: one option per order (the router's options), subject to "
                                    "stock and store capacity, minimising the omnifill cost model's cost with "
                                    "CP-SAT from the "
                                    "greedy plan; never worse than greedy. Writes the plan (CSV, Parquet or JSON "
                                    "Lines by extension) and optionally the summary JSON. --orders may be a "
                                    "directory partitioned by city (one folder city=NAME of Parquet or CSV files "
                                    "a city): each city is then planned "
                                    "as its own task, in-process or on Dask (--scheduler), without the whole "
                                    "backlog ever in memory. Exit 0 done, 2 invalid input (nothing written), 1 "
                                    "internal error, 3 done with unfilled lines when --fail-on-unfilled, 4 done but "
                                    "a city's task failed twice (its lines unfilled, reason partition_failed; "
                                    "repeat with --resume to retry it).")
    _input_files(rr, orders=True)
    outs = rr.add_argument_group("outputs")
    outs.add_argument("--out", required=True, metavar="PLAN", help="the plan: .csv, .parquet or .jsonl")
    outs.add_argument("--summary", metavar="SUMMARY.json", help="the summary as JSON")
    outs.add_argument("--report", metavar="REPORT.html",
                      help="a self-contained HTML report of the plan (map, ETA histogram, on-time per tier, KPIs); "
                           "one orders file only")
    solve = rr.add_argument_group("solver")
    solve.add_argument("--time-limit", type=_seconds, default=60.0, metavar="SECONDS", help="default 60")
    solve.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    solve.add_argument("--policy", choices=("optimal", "greedy"), default="optimal")
    solve.add_argument("--workers", type=_count, default=1, metavar="N",
                       help="threads searching options and processes solving independent components at once "
                            "(default 1); each runs CP-SAT with one worker, so the same seed gives the same plan")
    par = rr.add_argument_group("parallel and national runs")
    par.add_argument("--scheduler", default="none", metavar="none|local|tcp://HOST:PORT",
                     help="where tasks run: none (in-process, default), local (a Dask LocalCluster, one worker per "
                          "core, or --workers), or the address of a running Dask scheduler")
    par.add_argument("--scheduler-file", metavar="FILE",
                     help="connect to the Dask scheduler that wrote FILE (dask scheduler --scheduler-file FILE)")
    par.add_argument("--resume", metavar="DIR",
                     help="keep each finished city's plan in DIR and skip it when the run is repeated "
                          "(partitioned --orders only)")
    rr.add_argument("--fail-on-unfilled", action="store_true", help="exit 3 when any line is unfilled")
    _max_errors(rr)
    rr.set_defaults(func=cmd_reroute)


def _add_bench(sub) -> None:
    # omnifill bench: simulate a day
    b = sub.add_parser("bench", help="simulate a city's day under policies and what-if variants; KPIs and a report",
                       description="Simulate a day of orders arriving over time (omnifill.bench): the baseline "
                                   "and each --what-if variant, each under each --policy, on the same orders "
                                   "with the same seed. Writes OUT/kpis.json and OUT/report.html (a "
                                   "self-contained HTML page). Exit 2 on invalid input or a bad spec, with "
                                   "nothing written.")
    b.add_argument("--scenario", required=True, metavar="NAME|DIR",
                   help="demo, city (2,000 generated stores, 20,000 orders), shanghai (needs --data), or a "
                        "directory with stores, inventory and orders files (orders may carry arrival_min)")
    b.add_argument("--data", metavar="DIR", help="the shared data folder (for --scenario shanghai)")
    b.add_argument("--policy", nargs="+", default=["online"],
                   choices=["online", "online+reroute", "hold", "online+accept", "online+prices", "hindsight"],
                   metavar="P",
                   help="online, online+reroute, hold, online+accept (online expecting the stores' rejections), "
                        "online+prices (online with shadow prices from a forecast of the orders to come), "
                        "hindsight (the whole day planned at once, the yardstick: every run then reports its "
                        "gap_to_hindsight) (default online)")
    b.add_argument("--what-if", nargs="+", default=[], metavar="SPEC",
                   help="close:ID,...  open:LAT,LON[;LAT,LON]  stock:xF[:topN]  handling:MIN  capacity:N  accept:P")
    b.add_argument("--out", required=True, metavar="DIR")
    b.add_argument("--config", metavar="C", help="omnifill.toml")
    b.add_argument("--seed", type=int, default=0, metavar="N")
    b.add_argument("--reroute-every", type=_positive, default=15.0, metavar="MIN", help="default 15")
    b.add_argument("--hold", type=_positive, default=5.0, metavar="MIN", help="default 5")
    b.add_argument("--time-limit", type=_seconds, default=2.0, metavar="SECONDS",
                   help="the planner's limit per re-plan or batch (default 2)")
    b.add_argument("--hindsight-limit", type=_positive, default=60.0, metavar="SECONDS",
                   help="the planner's limit for the hindsight plan of the whole day (default 60)")
    b.add_argument("--accept", type=_share, default=1.0, metavar="P",
                   help="the share of the lines it is given that a store accepts, for stores whose row has no "
                        "accept_rate (default 1: none rejected); the others are rejected and re-routed "
                        "(policy online only)")
    b.add_argument("--reject-delay", type=_minutes, default=10.0, metavar="MIN",
                   help="minutes from a decision to a store's rejection of its lines, when they are re-routed "
                        "(default 10)")
    b.add_argument("--reject-cost", type=_seconds, default=None, metavar="COST",
                   help="online+accept: the expected cost of re-routing a rejected line (default per_package + "
                        "(per_minute + late_per_minute) x --reject-delay)")
    b.add_argument("--reprice-every", type=_positive, default=60.0, metavar="MIN",
                   help="online+prices: minutes between re-solves of the LP over the forecast (default 60)")
    b.add_argument("--forecast-scale", type=_seconds, default=1.0, metavar="F",
                   help="online+prices: the forecast's orders per hour, as a share of the day's (default 1; "
                        "0.8 or 1.2: a forecast 20%% wrong)")
    b.add_argument("--price-limit", type=_positive, default=30.0, metavar="SECONDS",
                   help="online+prices: the seconds one re-solve's column generation may take (default 30)")
    _max_errors(b)
    b.set_defaults(func=cmd_bench)


def _add_shared_data_args(g) -> None:
    # the generators that read the shared data folder: where it is, where to write, the seed
    g.add_argument("--data", required=True, metavar="DIR",
                   help="the shared data folder (holding shanghai_cainiao_lastmile_2016 and completejourney_baskets)")
    g.add_argument("--out", required=True, metavar="DIR", help="a new directory")
    g.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")


def _add_generate(sub) -> None:
    # omnifill generate: write a scenario
    g = sub.add_parser("generate", help="write a scenario: a city's day, the Shanghai day, a dense city, or a "
                                        "national backlog",
                       description="Write a scenario in omnifill's file formats, into a new directory written "
                                   "whole or not at all. city: a synthetic city's day (CSV, orders with "
                                   "arrival_min; the defaults are bench's built-in `city`). shanghai: the real "
                                   "Shanghai day from the shared data. dense: a backlog on a dense city built "
                                   "from the real shop locations. national: hundreds of cities (a few "
                                   "megacities of 1,000-2,000 stores, a long tail of 5-50), one million orders "
                                   "by default, as Parquet partitioned by city (see omnifill.national). city and "
                                   "shanghai write scenario.json with every parameter; `omnifill bench "
                                   "--scenario DIR` runs the result.")
    gk = g.add_subparsers(dest="kind", required=True, metavar="KIND")
    gc = gk.add_parser("city", help="a synthetic city's day (omnifill.scenarios.synthetic_day)",
                       description="Stores and customers cluster around the same centres; SKU popularity is "
                                   "Zipf; each store stocks a popularity-weighted share of the SKUs; orders "
                                   "arrive over the day by scenarios.DAY_PROFILE (lunch and evening peaks). "
                                   "Every draw comes from --seed.")
    gc.add_argument("--out", required=True, metavar="DIR", help="a new directory")
    gc.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    gc.add_argument("--stores", type=int, default=CITY["n_stores"], metavar="N",
                    help=f"stores, besides the warehouses (default {CITY['n_stores']:,})")
    gc.add_argument("--orders", type=int, default=CITY["n_orders"], metavar="N",
                    help=f"orders in the day (default {CITY['n_orders']:,})")
    gc.add_argument("--skus", type=int, default=CITY["n_skus"], metavar="N", help=f"default {CITY['n_skus']:,}")
    gc.add_argument("--warehouses", type=int, default=1, metavar="N",
                    help="warehouses holding every SKU, 500 units each, 30 min handling (default 1)")
    gc.add_argument("--centre", type=_lat_lon, default=(31.2304, 121.4737), metavar="LAT,LON",
                    help="the city's centre (default 31.2304,121.4737, Shanghai)")
    gc.add_argument("--radius-km", type=float, default=CITY["radius_m"] / 1000, metavar="KM",
                    help="stores within this radius, customers within 1.1 times it "
                         f"(default {CITY['radius_m'] / 1000:g})")
    gc.add_argument("--clusters", type=int, default=CITY["n_clusters"], metavar="N",
                    help=f"demand and store centres (default {CITY['n_clusters']})")
    gc.add_argument("--cluster-sd-m", type=float, default=2500.0, metavar="M",
                    help="each cluster's standard deviation in metres (default 2,500)")
    gc.add_argument("--zipf", type=float, default=1.1, metavar="A", help="SKU popularity exponent (default 1.1)")
    gc.add_argument("--assortment", type=float, default=CITY["assortment"], metavar="SHARE",
                    help=f"share of the SKUs each store stocks (default {CITY['assortment']})")
    gc.add_argument("--mean-stock", type=float, default=6.0, metavar="UNITS",
                    help="mean units of a stocked SKU, scaled by its popularity (default 6)")
    gc.add_argument("--mean-lines", type=float, default=2.5, metavar="N", help="mean lines per order (default 2.5)")
    gc.add_argument("--promise-mix", type=_shares, default=(0.4, 0.6), metavar="P30,P60",
                    help="shares of 30- and 60-minute promises (default 0.4,0.6)")
    gc.add_argument("--name", default="city", help="the stores' city column (default city)")
    gs = gk.add_parser("shanghai", help="the real Shanghai day (omnifill.scenarios.shanghai_day)",
                       description="The 613 real Cainiao shops as stores and one warehouse; the 3,417 real O2O "
                                   "orders at their customer points and pickup times (or --orders N drawn from "
                                   "the 9,214 points and the real times); baskets and SKU popularity from the "
                                   "Complete Journey data. Read from --data, which is not copied beyond the "
                                   "generated files.")
    _add_shared_data_args(gs)
    gs.add_argument("--orders", type=int, default=None, metavar="N",
                    help="draw N orders instead of the 3,417 real ones")
    gs.add_argument("--skus", type=int, default=5000, metavar="N", help="the most sold products kept (default 5,000)")
    gs.add_argument("--assortment", type=float, default=0.5, metavar="SHARE",
                    help="mean share of the SKUs a shop stocks (default 0.5)")
    gs.add_argument("--mean-stock", type=float, default=4.0, metavar="UNITS", help="default 4")
    gs.add_argument("--promise-mix", type=_shares, default=(0.3, 0.7), metavar="P30,P60", help="default 0.3,0.7")
    gd = gk.add_parser("dense", help="a dense city from the real shop locations (omnifill.scenarios.dense_city)",
                       description="Stores placed at the real Shanghai Cainiao shop locations (drawn with "
                                   "replacement) and moved by a Gaussian --jitter-m, so a customer has hundreds "
                                   "of stores within reach; one warehouse with --warehouse-stock units of every "
                                   "SKU; each store stocks --assortment of the SKUs (by the Complete Journey "
                                   "popularity) with 0 to --max-stock units; orders around random stores "
                                   "(--order-sd-m), a backlog without arrival times (for `omnifill reroute`). "
                                   "Read from --data; every draw comes from --seed.")
    _add_shared_data_args(gd)
    gd.add_argument("--stores", type=int, default=2000, metavar="N", help="default 2,000")
    gd.add_argument("--skus", type=int, default=5000, metavar="N", help="default 5,000")
    gd.add_argument("--orders", type=int, default=100_000, metavar="N", help="default 100,000")
    gd.add_argument("--jitter-m", type=float, default=800.0, metavar="M", help="default 800")
    gd.add_argument("--assortment", type=float, default=0.2, metavar="SHARE", help="default 0.2")
    gd.add_argument("--max-stock", type=int, default=5, metavar="UNITS", help="default 5")
    gd.add_argument("--warehouse-stock", type=int, default=200, metavar="UNITS", help="default 200")
    gd.add_argument("--order-sd-m", type=float, default=2500.0, metavar="M", help="default 2,500")
    gd.add_argument("--mean-lines", type=float, default=2.5, metavar="N", help="default 2.5")
    gd.add_argument("--promise-mix", type=_shares, default=(0.5, 0.5), metavar="P30,P60", help="default 0.5,0.5")
    gn = gk.add_parser("national", help="a national backlog, partitioned Parquet")
    gn.add_argument("--out", required=True, metavar="DIR", help="a new directory")
    gn.add_argument("--cities", type=int, default=480, metavar="N", help="default 480")
    gn.add_argument("--orders", type=int, default=1_000_000, metavar="N", help="default 1,000,000")
    gn.add_argument("--skus", type=int, default=5000, metavar="N", help="default 5,000")
    gn.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    g.set_defaults(func=cmd_generate)


def _add_zones(sub) -> None:
    # omnifill zones: stores' reach by road, written as delivery zones
    z = sub.add_parser("zones", help="write each store's 30- and 60-minute reach by road as delivery zones "
                                     "(GeoJSON)",
                       description="Each store's reach by road within 30 and 60 minutes (handling, the access "
                                   "legs to and from the nearest road nodes, the shortest path at --hour), as "
                                   "polygons in the zones contract: look at them, edit them, and give them back to "
                                   "route, reroute and bench with --zones. Warehouses get none.")
    z.add_argument("--stores", required=True, metavar="S", help="the stores file (CSV or Parquet)")
    z.add_argument("--road-nodes", metavar="N", help="node_id, lat, lon (CSV or Parquet)")
    z.add_argument("--road-edges", metavar="E",
                   help="from_node, to_node, minutes or minutes_h0 .. minutes_h23 (CSV or Parquet)")
    z.add_argument("--roads", metavar="OSM", help="instead of the two tables: an OpenStreetMap extract (.osm, "
                                                  ".osm.pbf; its drivable ways; needs the roads extra)")
    z.add_argument("--config", metavar="C", help="omnifill.toml: [travel] circuity, courier_m_per_min and "
                                                  "handling_min for the access legs and handling")
    z.add_argument("--hour", type=float, default=12.0, metavar="H",
                   help="hour of the day for hourly edge times, 0 <= H < 24 (default 12)")
    z.add_argument("--minutes", type=int, nargs="+", choices=(30, 60), default=[30, 60], metavar="M",
                   help="the tiers to write: 30, 60 or both (the zones contract's promise tiers; default both)")
    z.add_argument("--out", required=True, metavar="ZONES", help="the GeoJSON file to write")
    _max_errors(z)
    z.set_defaults(func=cmd_zones)


def _input_files(parser, *, orders: bool) -> None:
    # the files every command reads: the network's, and the orders where they are a flag
    files = parser.add_argument_group("input files (CSV or Parquet; orders also JSON Lines)" if orders
                                      else "network files (CSV or Parquet)")
    files.add_argument("--stores", required=True, metavar="S")
    files.add_argument("--inventory", required=True, metavar="I")
    if orders:
        files.add_argument("--orders", required=True, metavar="O")
    files.add_argument("--zones", metavar="Z", help="GeoJSON FeatureCollection of delivery zones")
    files.add_argument("--config", metavar="C", help="omnifill.toml")


def _max_errors(parser) -> None:
    parser.add_argument("--max-errors", type=_count, default=DEFAULT_MAX_ERRORS, metavar="N",
                        help=f"stop listing after N problems (default {DEFAULT_MAX_ERRORS})")


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
    cfg = None
    if args.config:
        try:
            cfg = Config.from_toml(args.config)
        except InputError as e:
            probs.extend(e.problems)
    index = None
    counts: dict[str, int] = {}
    try:
        st = load_stores(args.stores, probs=probs)
        index = st.index()
        counts["stores"] = len(st.store_id)
    except InputError as e:
        probs.extend(e.problems)
    if cfg is not None and cfg.travel.provider == "road" and index is not None:
        # the config's road graph: its files, and every store against its main component
        from .travel import model_of

        try:
            road: Any = model_of(cfg.travel, st)
            counts["road nodes"] = len(road.graph)
        except InputError as e:
            probs.extend(e.problems)
            cfg = None  # (the network below would read the graph again)
    # a stores file too broken to index still lets the other files be checked on their own
    loaded: dict[str, Any] = {}
    for name, fn in (("inventory", load_inventory), ("orders", load_orders), ("zones", load_zones)):
        path = getattr(args, name)
        if path is None:
            continue
        try:
            t: Any = fn(path, index, probs=probs)
            loaded[name] = t
            counts[name] = len(t) if isinstance(t, list) else (len(t.order_id) if name == "orders" else len(t.sku))
        except InputError as e:
            probs.extend(e.problems)
    if not probs and "orders" in loaded:
        # what reroute checks before planning: every order's city, every current store (on
        # the tables just read, not read again)
        from .model import Network, OrderBatch
        from .planner import backlog_problems

        net = Network.from_loaded(st, loaded.get("inventory"), loaded.get("zones"), cfg)
        probs.extend(backlog_problems(net, OrderBatch.from_table(loaded["orders"])))
    if probs:
        _print_problems(InputError(probs.sorted(), truncated=probs.truncated))
        return EXIT_INVALID
    print("valid: " + ", ".join(f"{v:,} {k if k != 'inventory' else 'inventory rows'}" for k, v in counts.items()))
    return EXIT_OK


def cmd_zones(args) -> int:
    import json

    import shapely

    from .errors import Problem
    from .roads import RoadGraph, RoadTravel, isochrones

    t0 = time.perf_counter()
    if not (0.0 <= args.hour < 24.0):
        raise InputError([Problem("--hour", None, None, args.hour, "must be in 0 .. 24 (hours of the day)")])
    tables = [a for a in (args.road_nodes, args.road_edges) if a is not None]
    if not ((args.roads is None and len(tables) == 2) or (args.roads is not None and not tables)):
        flag = "--roads" if args.roads is not None else ("--road-edges" if args.road_nodes else "--road-nodes")
        raise InputError([Problem(flag, None, None, None, "the road graph is --road-nodes with --road-edges, "
                                                          "or --roads (an OpenStreetMap extract): one of the two")])
    check_output_path(args.out, "--out")
    cfg = Config.from_toml(args.config) if args.config else Config()
    probs = Problems(max(1, args.max_errors))
    st = load_stores(args.stores, probs=probs)
    probs.raise_if_any()
    graph = (RoadGraph.from_osm(args.roads) if args.roads is not None
             else RoadGraph.from_files(args.road_nodes, args.road_edges, max_errors=max(1, args.max_errors)))
    sel = np.flatnonzero(st.kind == "store")
    road = RoadTravel(cfg.travel, graph, hour=args.hour, store_lat=st.lat[sel], store_lon=st.lon[sel])
    probs.extend(road.check_stores(st.store_id[sel], st.path, rows=sel + 1))
    probs.raise_if_any()
    t1 = time.perf_counter()
    handling = np.where(np.isnan(st.handling_min[sel]), cfg.travel.handling_min, st.handling_min[sel])
    iso = isochrones(road, st.lat[sel], st.lon[sel], handling, sorted(set(args.minutes)))
    features = []
    empty = 0
    for z in iso:
        if z.geometry.is_empty:
            empty += 1
            continue
        features.append({"type": "Feature",
                         "properties": {"store_id": str(st.store_id[sel[z.store]]), "promise_min": int(z.minutes)},
                         "geometry": _rounded(json.loads(shapely.to_geojson(z.geometry)))})
    write_text(args.out, json.dumps({"type": "FeatureCollection", "features": features}) + "\n")
    t2 = time.perf_counter()
    print(f"omnifill zones: {len(features):,} zones for {len(sel):,} stores ({empty:,} reach nothing in their tier) "
          f"on a road graph of {len(graph):,} nodes and {graph.n_edges:,} edges at hour {args.hour:g}; "
          f"load {t1 - t0:.2f} s, zones {t2 - t1:.2f} s", file=sys.stderr)
    return EXIT_OK


def _rounded(geom: dict) -> dict:
    # a GeoJSON geometry's coordinates to 9 decimals (the polygons' vertices lie on that grid)
    def r(c):
        return [r(x) for x in c] if isinstance(c, list) else round(c, 9)

    return {**geom, "coordinates": r(geom["coordinates"])}


def cmd_route(args) -> int:
    import json

    from .events import Event, read_stream, replay
    from .model import Network, Order, read_orders
    from .router import Router

    t0 = time.perf_counter()
    cfg = Config.from_toml(args.config) if args.config else None
    net = Network.from_files(args.stores, args.inventory, args.zones, cfg, max_errors=max(1, args.max_errors))
    if file_format(args.orders) in ("jsonl", "json"):
        items, n_events = read_stream(args.orders, net, max_errors=max(1, args.max_errors))
    else:
        items, n_events = list[Order | Event](read_orders(args.orders, net, max_errors=max(1, args.max_errors))), 0
    if n_events and args.no_reserve:
        print("omnifill: --no-reserve routes every order against the initial stock, so it cannot replay events "
              f"(a reject needs the order's reservation); {args.orders} has {n_events:,}", file=sys.stderr)
        return EXIT_INVALID
    router = Router(net)
    t1 = time.perf_counter()
    out = sys.stdout
    n_lines = unfilled = on_time = 0

    def line(kind: str, d) -> str:
        rec = d.to_dict()
        if args.no_explain:
            del rec["explanation"]
        if kind != "order":
            rec = {"event": kind, **rec}
        return json.dumps(rec, default=json_default, separators=(",", ":")) + "\n"

    if n_events:
        # the whole stream first: an event only the replay can find wrong prints nothing
        done = replay(router, items, args.orders)
        text = [line(kind, d) for kind, d in done.records]
        out.write("".join(text))
        final = {d.order_id: d for _, d in done.records}
        decisions = list(final.values())
    else:
        decisions = []
        for o in items:
            assert isinstance(o, Order)  # (a stream without events holds orders only)
            d = router.route(o, reserve=not args.no_reserve)
            out.write(line("order", d))
            decisions.append(d)
    for d in decisions:
        n_lines += len(d.rows)
        unfilled += sum(r["mode"] == "unfilled" for r in d.rows)
        on_time += d.on_time
    out.flush()
    t2 = time.perf_counter()
    n = len(decisions)
    ev = ""
    if n_events:
        c = done.counts
        ev = (f"; events: {c['reject']:,} rejections re-routed, {c['cancel']:,} cancelled, {c['ship']:,} shipped, "
              f"{c['stock']:,} stock counts (orders as they stand at the end)")
    print(f"omnifill route: {n:,} orders, {n_lines:,} lines; on time {on_time / max(n, 1):.1%}, "
          f"{unfilled:,} lines unfilled{ev}; load {t1 - t0:.2f} s, route {t2 - t1:.2f} s "
          f"({n / max(t2 - t1, 1e-9):,.0f} orders/s)", file=sys.stderr)
    return EXIT_OK


def cmd_reroute(args) -> int:
    import json
    import os

    from .parallel import SchedulerError, executor_for
    from .planner import check_plan_path

    # every output and the config before any work: a mistake there must not cost a re-plan
    check_plan_path(args.out)
    for flag, path in (("--out", args.out), ("--summary", args.summary), ("--report", args.report)):
        if path is not None:
            check_output_path(path, flag)
    cfg = Config.from_toml(args.config) if args.config else None
    partitioned = os.path.isdir(args.orders)
    if args.report and partitioned:
        print("omnifill: --report needs one orders file, not a directory partitioned by city", file=sys.stderr)
        return EXIT_INVALID
    if args.resume and not partitioned:
        print("omnifill: --resume needs --orders to be a directory partitioned by city (city=NAME/...)",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        # the plan, the summary and the report appear together, or none of them
        with written_together(args.out, args.summary, args.report), _progress_bar() as progress, executor_for(
                args.scheduler, args.scheduler_file,
                args.workers if args.workers > 1 else None) as ex:
            if partitioned:
                summary = _reroute_partitioned(args, cfg, ex, progress)
            else:
                summary = _reroute_file(args, cfg, ex, progress)
            if args.summary:
                write_text(args.summary, json.dumps(summary, indent=2, default=json_default) + "\n")
    except SchedulerError as e:
        print(f"omnifill: {e}", file=sys.stderr)
        return EXIT_INVALID
    _print_summary(summary)
    if summary.get("partitions", {}).get("failed"):
        for f in summary["partitions"]["failed"]:
            print(f"omnifill: city {f['city']} failed twice ({f['error']}); its {f['lines']:,} lines are unfilled "
                  "with reason partition_failed", file=sys.stderr)
        return EXIT_PARTITION_FAILED
    if args.fail_on_unfilled and summary["unfilled_lines"]:
        return EXIT_UNFILLED
    return EXIT_OK


def _reroute_file(args, cfg, ex, progress) -> dict:
    """One orders file: the whole backlog in memory, its components on the executor."""
    from .model import Network, OrderBatch
    from .planner import plan

    net = Network.from_files(args.stores, args.inventory, args.zones, cfg, max_errors=max(1, args.max_errors))
    orders = OrderBatch.from_file(args.orders, net)
    print(f"omnifill reroute: {len(orders):,} orders, {orders.n_lines:,} lines, {len(net):,} stores; "
          f"policy {args.policy}, time limit {args.time_limit:g} s", file=sys.stderr)
    kw = {"time_limit_s": args.time_limit, "seed": args.seed, "policy": args.policy, "progress": progress,
          "search_threads": max(1, args.workers)}
    if ex is None and args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers) as pool:
            p = plan(net, orders, cfg, executor=pool, **kw)
    else:
        p = plan(net, orders, cfg, executor=ex, **kw)
    p.write(args.out)
    if args.report:
        from .bench import plan_result
        from .report import plan_report

        write_text(args.report, plan_report(plan_result(net, orders, p.rows, cfg), p.summary,
                                            config=cfg or net.config, zones=net.zones.items()))
    return p.summary


def _reroute_partitioned(args, cfg, ex, progress) -> dict:
    """A directory partitioned by city: one task per city (omnifill.partitions)."""
    from .partitions import discover, plan_partitioned

    parts = discover(args.orders)
    print(f"omnifill reroute: {len(parts):,} cities, {sum(p.lines for p in parts):,} lines; policy {args.policy}, "
          f"time limit {args.time_limit:g} s over all cities", file=sys.stderr)
    return plan_partitioned(args.stores, args.inventory, args.orders, args.out, zones=args.zones, config=cfg,
                            time_limit_s=args.time_limit, seed=args.seed, policy=args.policy, executor=ex,
                            resume=args.resume, progress=progress, max_errors=max(1, args.max_errors))


def _progress_bar():
    """A progress bar on stderr over the stages, components or cities (transient: the
    summary table stays); rich draws nothing when stderr is not a terminal."""
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    @contextmanager
    def bar():
        with Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as pb:
            tasks: dict = {}

            def progress(stage, done, total):
                if stage not in tasks:
                    tasks[stage] = pb.add_task(stage, total=max(1, total))
                pb.update(tasks[stage], completed=done, total=max(1, total))

            yield progress

    return bar()


def cmd_bench(args) -> int:
    from .bench import load_scenario, parse_what_if, run_bench

    cfg = Config.from_toml(args.config) if args.config else None
    try:
        specs = [parse_what_if(w) for w in args.what_if]
        if args.reroute_every <= 0 or args.hold <= 0 or args.time_limit <= 0:
            raise ValueError("--reroute-every, --hold and --time-limit must be above 0")
        sc = load_scenario(args.scenario, data=args.data, seed=args.seed, max_errors=max(1, args.max_errors))
        t0 = time.perf_counter()
        with _progress_bar() as progress:
            doc = run_bench(sc, args.out, policies=tuple(args.policy), what_ifs=specs, config=cfg, seed=args.seed,
                            reroute_every=args.reroute_every, hold_min=args.hold, time_limit_s=args.time_limit,
                            max_errors=max(1, args.max_errors), accept=args.accept, reject_delay=args.reject_delay,
                            reject_cost=args.reject_cost, hindsight_limit_s=args.hindsight_limit,
                            reprice_every=args.reprice_every, forecast_scale=args.forecast_scale,
                            price_limit_s=args.price_limit,
                            log=lambda m: print(f"omnifill bench: {m}", file=sys.stderr),
                            progress=lambda name, d, n: progress(name, d, n))
    except InputError as e:  # every problem of the files, one a line
        _print_problems(e)
        return EXIT_INVALID
    except ValueError as e:  # a bad spec or option
        print(f"omnifill: {e}", file=sys.stderr)
        return EXIT_INVALID
    for r in doc["runs"]:
        k = r["kpis"]
        print(f"{r['variant']:>20} {r['policy']:>15}: on time {k['on_time_rate']:.1%}, packages/order "
              f"{k['packages_per_order']:.3f}, transfers {k['transfers']:,}, parcels {k['parcels']:,}, "
              f"unfilled lines {k['unfilled_lines']:,}, cost {k['total_cost']:,.0f}", file=sys.stderr)
    print(f"omnifill bench: {args.out}/kpis.json and {args.out}/report.html in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return EXIT_OK


def cmd_generate(args) -> int:
    if os.path.exists(args.out):
        print(f"omnifill: {args.out} exists; generate writes a new directory", file=sys.stderr)
        return EXIT_INVALID
    if args.kind == "national":
        return _generate_national(args)
    from .scenarios import dense_city, shanghai_day, synthetic_day, write_scenario

    t0 = time.perf_counter()
    if args.kind == "city":
        params = {"seed": args.seed, "n_stores": args.stores, "n_orders": args.orders, "n_skus": args.skus,
                  "centre": args.centre, "radius_m": args.radius_km * 1000, "n_clusters": args.clusters,
                  "cluster_sd_m": args.cluster_sd_m, "n_warehouses": args.warehouses, "zipf_a": args.zipf,
                  "assortment": args.assortment, "mean_stock": args.mean_stock, "mean_lines": args.mean_lines,
                  "promise_mix": args.promise_mix, "city": args.name}
        bad = _bad_city_params(params)
        if bad:
            print(f"omnifill generate city: {bad}", file=sys.stderr)
            return EXIT_INVALID
        city = synthetic_day(**params)
        made_by = {"generator": "omnifill.scenarios.synthetic_day"} | params
    elif args.kind == "dense":
        if (args.stores < 1 or args.skus < 1 or args.orders < 0 or not (0 < args.assortment <= 1)
                or args.max_stock < 0 or args.warehouse_stock < 0 or args.jitter_m < 0 or args.order_sd_m < 0
                or args.mean_lines < 1):
            print("omnifill generate dense: --stores and --skus at least 1, --assortment in (0, 1], --orders, "
                  "--max-stock, --warehouse-stock, --jitter-m and --order-sd-m at least 0, --mean-lines at least 1",
                  file=sys.stderr)
            return EXIT_INVALID
        params = {"seed": args.seed, "n_stores": args.stores, "n_skus": args.skus, "n_orders": args.orders,
                  "jitter_m": args.jitter_m, "assortment": args.assortment, "max_stock": args.max_stock,
                  "warehouse_stock": args.warehouse_stock, "order_sd_m": args.order_sd_m,
                  "mean_lines": args.mean_lines, "promise_mix": args.promise_mix}
        city = _from_shared_data("dense", dense_city, args.data, params)
        if city is None:
            return EXIT_INVALID
        made_by = {"generator": "omnifill.scenarios.dense_city", "data": os.path.abspath(args.data)} | params
    else:
        if args.skus < 1 or not (0 < args.assortment <= 1) or args.mean_stock < 0 or (
                args.orders is not None and args.orders < 0):
            print("omnifill generate shanghai: --skus at least 1, --assortment in (0, 1], --mean-stock and "
                  "--orders at least 0", file=sys.stderr)
            return EXIT_INVALID
        params = {"seed": args.seed, "n_orders": args.orders, "n_skus": args.skus, "assortment": args.assortment,
                  "mean_stock": args.mean_stock, "promise_mix": args.promise_mix}
        city = _from_shared_data("shanghai", shanghai_day, args.data, params)
        if city is None:
            return EXIT_INVALID
        made_by = {"generator": "omnifill.scenarios.shanghai_day", "data": os.path.abspath(args.data)} | params
    paths = write_scenario(city, args.out, made_by)
    n_orders = len(set(city.orders["order_id"]))
    print(f"omnifill generate {args.kind}: {len(city.stores['store_id']):,} stores and warehouses, "
          f"{len(city.inventory['store_id']):,} inventory rows, {n_orders:,} orders "
          f"({len(city.orders['order_id']):,} lines) in {time.perf_counter() - t0:.1f} s: "
          f"{paths['stores'].parent}/", file=sys.stderr)
    return EXIT_OK


def _from_shared_data(kind: str, make, data: str, params: dict):
    # a scenario built from the shared data folder, or None (said on stderr) when a file is missing
    try:
        return make(data, **params)
    except FileNotFoundError as e:
        print(f"omnifill generate {kind}: {e.filename}: not found (is --data the shared data folder?)",
              file=sys.stderr)
        return None


def _bad_city_params(p: dict) -> str | None:
    if p["n_stores"] < 1 or p["n_skus"] < 1 or p["n_orders"] < 0 or p["n_warehouses"] < 0:
        return "--stores and --skus must be at least 1, --orders and --warehouses at least 0"
    if p["radius_m"] <= 0 or p["cluster_sd_m"] < 0 or p["n_clusters"] < 1:
        return "--radius-km must be above 0, --cluster-sd-m at least 0, --clusters at least 1"
    if not (0 < p["assortment"] <= 1):
        return f"--assortment {p['assortment']} is not a share in (0, 1]"
    if p["zipf_a"] < 0 or p["mean_stock"] < 0 or p["mean_lines"] < 1:
        return "--zipf and --mean-stock must be at least 0, --mean-lines at least 1"
    return None


def _lat_lon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LAT,LON") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"{text!r} is outside WGS84 degrees")
    return lat, lon


def _shares(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two shares P30,P60") from None
    if a < 0 or b < 0 or a + b <= 0 or not (math.isfinite(a) and math.isfinite(b)):
        raise argparse.ArgumentTypeError(f"{text!r}: shares must be at least 0 and not both 0")
    return a, b


def _generate_national(args) -> int:
    from .national import NationalSpec, write_national

    spec = NationalSpec(n_cities=args.cities, n_orders=args.orders, n_skus=args.skus, seed=args.seed)
    if args.cities < 1 or args.orders < 0 or args.skus < 1:
        print("omnifill: --cities and --skus must be at least 1, --orders at least 0", file=sys.stderr)
        return EXIT_INVALID
    t0 = time.perf_counter()
    with _progress_bar() as progress:
        paths = write_national(args.out, spec, progress=lambda d, n: progress("cities", d, n))
    print(f"omnifill generate: {args.cities:,} cities, {args.orders:,} orders in {time.perf_counter() - t0:.1f} s: "
          f"{paths['stores']}, {paths['inventory']}/, {paths['orders']}/", file=sys.stderr)
    return EXIT_OK


def _print_summary(s: dict) -> None:
    gap = "n/a" if s["gap"] is None else f"{s['gap']:.2%}"
    mgap = "n/a" if s.get("model_gap") is None else f"{s['model_gap']:.2%}"
    lines = [
        ("objective", f"{s['objective']:,.1f}"),
        ("greedy objective", f"{s['greedy_objective']:,.1f}"),
        ("lower bound / gap", f"{s['lower_bound'] or float('nan'):,.1f} / {gap}"
                              + (f" ({s['lower_bound_kind']})" if s.get("lower_bound_kind") else "")),
        ("model bound / gap", f"{s.get('model_lower_bound') or float('nan'):,.1f} / {mgap}"),
        ("solver status", str(s["solver_status"])),
        ("orders / lines", f"{s['orders_out']:,} / {s['lines_out']:,}"),
        ("on time", ", ".join(f"{k} min {v:.1%}" for k, v in s["on_time_rate"].items())),
        ("packages per order", f"{s['packages_per_order']:.3f}"),
        ("transfers / parcels", f"{s['transfers']:,} / {s['parcels']:,}"),
        ("unfilled lines / moved", f"{s['unfilled_lines']:,} / {s['moved']:,}"),
        ("time", ", ".join(f"{k} {v:.2f} s" for k, v in s["timings_s"].items())),
    ]
    if "partitions" in s:
        pt = s["partitions"]
        lines.append(("cities", (f"{pt['count']:,}: {pt['planned'] - pt['resumed']:,} planned, {pt['resumed']:,} "
                                f"resumed, {len(pt['failed']):,} failed")))
        lines.append(("time in cities", ", ".join(f"{k} {v:.1f} s" for k, v in s["city_timings_s"].items())))
    w = max(len(k) for k, _ in lines)
    for k, v in lines:
        print(f"  {k:<{w}}  {v}", file=sys.stderr)


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
        print(f"  {int(tier):>3}-minute promise: {sel.sum():>5,} orders; stores in time per order: "
              f"mean {c.mean():.1f}, "
              f"median {np.median(c):.0f}, p90 {np.percentile(c, 90):.0f}; "
              f"{(c > 0).mean():.1%} have at least one; {cov.full[sel].mean():.1%} have one store holding every line")
    first = cand.eta_min[cand.indptr[:-1][cnt > 0]]
    print(f"  nearest store's ETA: median {np.median(first):.1f} min, p90 {np.percentile(first, 90):.1f} min")
    print(f"  timings: load {t1 - t0:.3f} s, candidates {t2 - t1:.4f} s ({cnt.sum():,} pairs), "
          f"coverage {t3 - t2:.4f} s")
    # the online router over the same orders, one at a time, reserving as it goes
    from .model import Order
    from .router import Router

    router = Router(net)
    todo = [Order.from_batch(orders, i, net.store_ids) for i in range(n)]
    lat = np.empty(n)
    decisions = []
    for i, o in enumerate(todo):
        s = time.perf_counter()
        decisions.append(router.route(o))
        lat[i] = time.perf_counter() - s
    modes: dict[str, int] = {}
    for d in decisions:
        kinds = "+".join(sorted({r["mode"] for r in d.rows}))
        modes[kinds] = modes.get(kinds, 0) + 1
    late = [d for d in decisions if not d.on_time]
    print(f"  routed one at a time, reserving stock: on time {1 - len(late) / n:.1%}; "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(modes.items(), key=lambda kv: -kv[1])))
    print(f"  decision latency: p50 {np.percentile(lat, 50) * 1e6:.0f} us, p99 {np.percentile(lat, 99) * 1e6:.0f} us; "
          f"{sum(d.proven for d in decisions):,} of {n:,} proven optimal")
    ex = decisions[0].explanation
    print(f"  order {decisions[0].order_id}: {ex['chosen']}, cost {decisions[0].cost:.1f}"
          + (f"; runner-up {ex['runner_up']['option']} (+{ex['runner_up']['cost_difference']:.1f})"
             if ex["runner_up"] else ""))
    # the same orders as a backlog, re-planned together with OR-Tools
    from .planner import plan

    p = plan(net, orders, time_limit_s=args.time_limit)
    summary = p.summary
    print(f"  re-planned as one backlog (OR-Tools, {args.time_limit:g} s limit): "
          f"objective {summary['objective']:,.0f} against "
          f"greedy {summary['greedy_objective']:,.0f} "
          f"({1 - summary['objective'] / summary['greedy_objective']:.1%} cheaper); "
          f"lower bound {summary['lower_bound']:,.0f} (gap {summary['gap']:.1%}); on time "
          + ", ".join(f"{k} min {v:.1%}" for k, v in summary["on_time_rate"].items())
          + f"; transfers {summary['transfers']}, parcels {summary['parcels']}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
