"""The online router: exact decisions (against a brute force written from the cost model's text), stock and
capacity never oversold, the reservation life cycle, explanations, threads."""

import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import patch

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnifill import Config, InputError, Network, Order
from omnifill import stock as stock_module
from omnifill.geo import destination, haversine_m
from omnifill.options import option_from_search
from omnifill.router import Router

LAT0, LON0 = 31.23, 121.47


# ---------------------------------------------------------------------------------------------
# The brute force: every assignment of lines to sources, checked and costed from the cost
# model's text (docs/cost-model.md)


def brute_force(stores, stock, order, cfg: Config, usable, legs=None):
    """The minimum cost over all options, by enumeration (see assignments)."""
    return min(cost for cost, *_ in assignments(stores, stock, order, cfg, usable, legs))


def assignments(stores, stock, order, cfg: Config, usable, legs=None, after=None):
    """Every valid assignment of the order's lines to sources, from the cost model's text, as
    (cost, {(store, sku): qty}, [stores spending a capacity unit], {stores sending a package}).

    stores: list of dicts (id, lat, lon, kind, handling, delivers, pickup, transfers_out);
    stock: {(store, sku): available}; order: dict with lat, lon, promise, lines [(sku, qty)]
    (distinct SKUs), mode, pickup (store position or None); usable[s]: open and capacity left.
    legs: (courier(s, lat, lon), transfer(b, a)) minutes of another travel model (roads);
    default the great circle as the cost model writes it.
    after: a re-route after a rejection (docs/rejections.md), (elapsed, kept_eta, pickup_kept):
    the new packages leave ``elapsed`` minutes after the order, whose other packages arrive
    at ``kept_eta`` (None: it kept none), so the order's ETA is the later of the two, counted
    from the order; pickup_kept: the pickup package is kept (its package is paid already).
    The costs are then the order's cost less the kept packages' own package, parcel and
    transfer terms.
    """
    t, c, lim = cfg.travel, cfg.cost, cfg.limits
    n = len(stores)
    P = order["promise"]
    elapsed, kept_eta, pickup_kept = after if after is not None else (0.0, None, False)

    def time_cost(eta):  # per minute and late, on the order's clock
        E = eta + elapsed if kept_eta is None else max(eta + elapsed, kept_eta)
        return c.per_minute * E + c.late_per_minute * max(0.0, E - P)

    def leg(s):  # courier minutes from store s to the customer
        if legs is not None:
            return legs[0](s, order["lat"], order["lon"])
        d = haversine_m(stores[s]["lat"], stores[s]["lon"], order["lat"], order["lon"])
        return t.circuity * d / t.courier_m_per_min

    def direct(s):
        return stores[s]["handling"] + leg(s)

    def arrival(b, a):  # b's lines ready at a
        if legs is not None:
            return stores[b]["handling"] + t.transfer_handling_min + legs[1](b, a)
        d = haversine_m(stores[b]["lat"], stores[b]["lon"], stores[a]["lat"], stores[a]["lon"])
        return stores[b]["handling"] + t.transfer_handling_min + t.circuity * d / t.transfer_m_per_min

    # who may do what (the cost model's rules): deliverers are the stores whose delivery area
    # holds the customer (delivery_area below); transfer sources are stores with
    # transfers_out; parcels come from warehouses that deliver
    deliverers = [s for s in range(n) if usable[s] and delivery_area(stores[s], order, cfg, direct(s))]
    sources = [s for s in range(n) if stores[s]["kind"] == "store" and stores[s]["transfers_out"] and usable[s]]
    warehouses = [s for s in range(n) if stores[s]["kind"] == "warehouse" and stores[s]["delivers"] and usable[s]]
    lines = order["lines"]
    L = len(lines)
    # nothing filled (the kept packages, if any, still arrive when they do)
    out = [(c.unfilled_per_line * L + (0.0 if kept_eta is None else time_cost(-math.inf)), {}, [], frozenset())]
    if order["mode"] == "pickup":
        p = order["pickup"]
        if not (usable[p] and stores[p]["pickup"]):
            return out
        choices = [("none",), ("own", p)] + [("into", b) for b in sources if b != p]
    else:
        choices = [("none",)] + [("deliver", a) for a in deliverers] + [("parcel", w) for w in warehouses]
        choices += [("transfer", b, a) for a in deliverers for b in sources if b != a]
    for assign in itertools.product(choices, repeat=L):
        if all(ch[0] == "none" for ch in assign):
            continue
        # stock: each line from one source, the source must hold the qty
        use = {}
        for (sku, q), ch in zip(lines, assign):
            if ch[0] != "none":
                use[(ch[1], sku)] = use.get((ch[1], sku), 0) + q
        if any(stock.get(k, 0) < q for k, q in use.items()):
            continue
        unfilled = sum(ch[0] == "none" for ch in assign)
        if order["mode"] == "pickup":
            into = sorted({ch[1] for ch in assign if ch[0] == "into"})
            if len(into) > lim.max_transfers:
                continue
            eta = max([stores[p]["handling"]] + [arrival(b, p) for b in into])
            cost = (time_cost(eta) + (0.0 if pickup_kept else c.per_package) + c.per_transfer * len(into)
                    + c.unfilled_per_line * unfilled)
            out.append((cost, use, [p] + into, frozenset([p])))
            continue
        delivering = {ch[1] for ch in assign if ch[0] == "deliver"} | {ch[2] for ch in assign if ch[0] == "transfer"}
        transfers = {(ch[1], ch[2]) for ch in assign if ch[0] == "transfer"}
        parcels = {ch[1] for ch in assign if ch[0] == "parcel"}
        senders = [b for b, _ in transfers]
        receivers = [a for _, a in transfers]
        # one transfer into a package; a store plays one part in an order
        if len(set(receivers)) != len(receivers) or len(set(senders)) != len(senders):
            continue
        if set(senders) & delivering:
            continue
        packages = len(delivering) + len(parcels)
        if packages > lim.max_packages or len(transfers) > lim.max_transfers:
            continue
        etas = []
        for a in delivering:
            ins = [b for b, r in transfers if r == a]
            ready = max([stores[a]["handling"]] + [arrival(b, a) for b in ins])
            etas.append(ready + leg(a))
        etas += [t.parcel_lead_min] * len(parcels)
        eta = max(etas)
        cost = (time_cost(eta) + c.per_package * packages + c.per_parcel * len(parcels)
                + c.per_transfer * len(transfers) + c.unfilled_per_line * unfilled)
        out.append((cost, use, sorted(delivering) + sorted(parcels) + senders, frozenset(delivering | parcels)))
    return out


def delivery_area(store, order, cfg: Config, eta: float) -> bool:
    """Whether a store may deliver the order by courier, from the rules as written: a store
    that delivers; the order's tier is its promise (30-minute tier up to 30, else the
    60-minute tier); a zone of that tier replaces the radius rule (the zone must hold the
    customer, whatever the ETA); without one, the direct ETA must be within max(promise,
    max_courier_min); a 30-minute order may also go to a store whose 60-minute zone holds
    the customer (a late delivery as a 60-minute store)."""
    if store["kind"] != "store" or not store["delivers"]:
        return False
    P = order["promise"]
    zones = store.get("zones", {})
    pt = shapely.Point(order["lon"], order["lat"])
    tier = 30 if P <= 30 else 60
    if tier in zones:
        ok = zones[tier].intersects(pt)
    else:
        ok = eta <= max(P, cfg.limits.max_courier_min) + 1e-9
    return ok or (tier == 30 and 60 in zones and zones[60].intersects(pt))


def rows_cost(rows, order, cfg: Config):
    """An order's cost recomputed from its plan rows and the inputs alone (the cost model)."""
    c = cfg.cost
    filled = [r for r in rows if r["mode"] != "unfilled"]
    packages = {r["package"] for r in filled}
    parcels = {r["package"] for r in filled if r["mode"] == "parcel"}
    transfers = {(r["source_id"], r["via_id"]) for r in filled if r["mode"] == "transfer"}
    eta = max((r["eta_min"] for r in filled), default=0.0)
    unfilled = sum(r["mode"] == "unfilled" for r in rows)
    return (c.per_minute * eta + c.per_package * len(packages) + c.per_parcel * len(parcels)
            + c.per_transfer * len(transfers)
            + c.late_per_minute * (max(0.0, eta - order["promise"]) if packages else 0)
            + c.unfilled_per_line * unfilled)


# ---------------------------------------------------------------------------------------------
# Random small instances

@st.composite
def zone_sets(draw):
    """A store's zones, {tier: polygon}: none, or boxes of a few km somewhere in the city
    (the customers lie within 7 km of the centre, so a box may hold them or not)."""
    out = {}
    for tier in (30, 60):
        if draw(st.integers(0, 3)) == 0:
            clat, clon = destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, 8000)))
            half = draw(st.floats(0.005, 0.06))  # degrees: about 0.5 to 6 km
            out[tier] = shapely.box(clon - half, clat - half, clon + half, clat + half)
    return out


@st.composite
def instances(draw):
    n = draw(st.integers(2, 5))
    stores = []
    for i in range(n):
        kind = "warehouse" if i == n - 1 and draw(st.booleans()) else "store"
        # up to 20 km: direct ETAs up to two hours, across the 30, 60 and 90 minute limits
        dist = draw(st.sampled_from([9000.0, 20000.0]))
        lat, lon = destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, dist)))
        stores.append({"id": f"S{i}", "lat": float(lat), "lon": float(lon), "kind": kind,
                       "handling": draw(st.sampled_from([5.0, 10.0, 15.0])),
                       "delivers": draw(st.booleans()) or kind == "warehouse" and draw(st.booleans()),
                       "pickup": draw(st.booleans()), "transfers_out": draw(st.booleans()),
                       "capacity": draw(st.sampled_from([math.inf, math.inf, 1.0, 2.0, 0.0])),
                       "zones": draw(zone_sets())})
    skus = ["A", "B", "C", "D"]
    stock = {}
    for s in range(n):
        for k in skus:
            v = draw(st.integers(0, 3))
            if v:
                stock[(s, k)] = v
    n_orders = draw(st.integers(1, 3))
    orders = []
    for k in range(n_orders):
        chosen = draw(st.lists(st.sampled_from(skus + ["ZZ"]), min_size=1, max_size=3, unique=True))
        lat, lon = destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, 7000)))
        mode = draw(st.sampled_from(["deliver", "deliver", "pickup"]))
        orders.append({"order_id": f"O{k}", "lat": float(lat), "lon": float(lon),
                       "promise": draw(st.sampled_from([30.0, 60.0, 45.0])),
                       "lines": [(s, draw(st.integers(1, 2))) for s in chosen], "mode": mode,
                       "pickup": draw(st.integers(0, n - 1)) if mode == "pickup" else None,
                       "home": draw(st.none() | st.integers(0, n - 1))})
    cfg = Config().with_(
        limits={"max_packages": draw(st.integers(1, 3)), "max_transfers": draw(st.integers(0, 2))},
        cost={"per_minute": draw(st.sampled_from([1.0, 0.5, 0.0])),
              "per_package": draw(st.sampled_from([20.0, 5.0, 0.0])),
              "per_transfer": draw(st.sampled_from([30.0, 2.0, 0.0])),
              "late_per_minute": draw(st.sampled_from([10.0, 0.0, 1.0])),
              "unfilled_per_line": draw(st.sampled_from([100000.0, 25.0, 60.0]))},
        travel={"parcel_lead_min": draw(st.sampled_from([1440.0, 50.0]))})
    cfg = cfg.with_(limits={"max_courier_min": draw(st.sampled_from([90.0, 90.0, 60.0, 40.0]))})
    closed = [draw(st.booleans()) and draw(st.booleans()) for _ in range(n)]
    return stores, stock, orders, cfg, closed


def build(stores, stock, cfg):
    inv = {"store_id": [], "sku": [], "on_hand": []}
    for (s, k), v in stock.items():
        inv["store_id"].append(stores[s]["id"])
        inv["sku"].append(k)
        inv["on_hand"].append(v)
    zones = [(s["id"], tier, geom) for s in stores for tier, geom in s.get("zones", {}).items()]
    return Network.from_arrays(
        [s["id"] for s in stores], [s["lat"] for s in stores], [s["lon"] for s in stores], zones=zones or None,
        kind=[s["kind"] for s in stores], handling_min=[s["handling"] for s in stores],
        capacity=[None if math.isinf(s["capacity"]) else s["capacity"] for s in stores],
        delivers=[s["delivers"] for s in stores],
        pickup=[s["pickup"] for s in stores], transfers_out=[s["transfers_out"] for s in stores],
        inventory=inv if inv["sku"] else None, config=cfg)


def router_of(stores, stock, cfg, closed):
    # a router on the instance's network, its closed stores closed
    router = Router(build(stores, stock, cfg), cfg)
    for s, cl in enumerate(closed):
        if cl:
            router.close_store(stores[s]["id"])
    return router


def as_order(o, stores):
    d = {"order_id": o["order_id"], "lat": o["lat"], "lon": o["lon"], "promise_min": o["promise"],
         "lines": [{"sku": s, "qty": q} for s, q in o["lines"]], "mode": o["mode"]}
    if o["pickup"] is not None:
        d["pickup_store"] = stores[o["pickup"]]["id"]
    if o["home"] is not None:
        d["home_store"] = stores[o["home"]]["id"]
    return d


def take(d, stock, cap, by_id):
    """Take a decision's units from ``stock`` and a capacity unit from each store it uses."""
    used = set()
    for r in d.rows:
        if r["mode"] == "unfilled":
            continue
        s = by_id[r["source_id"]]
        stock[(s, r["sku"])] -= r["qty"]
        assert stock[(s, r["sku"])] >= 0
        used.add(s)
        if r["via_id"] is not None:
            used.add(by_id[r["via_id"]])
    for s in used:
        cap[s] -= 1


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_every_decision_is_the_brute_force_minimum(inst):
    stores, stock, orders, cfg, closed = inst
    router = router_of(stores, stock, cfg, closed)
    stock = dict(stock)
    cap = [s["capacity"] for s in stores]
    by_id = {s["id"]: k for k, s in enumerate(stores)}
    for o in orders:
        usable = [cap[s] >= 1 and not closed[s] for s in range(len(stores))]
        want = brute_force(stores, stock, o, cfg, usable)
        # the k cheapest options, before routing takes the best: sorted, the first is the
        # minimum, each within the stock and capacity left, none twice
        opts = router.options(as_order(o, stores), k=6)
        costs = [x.cost for x in opts]
        # sorted, up to the kernel's cost tolerance (1e-9): options tied within it follow the
        # tie rule (the home store first, then store index), not the last bits of the cost
        assert all(a <= b + 1e-9 for a, b in zip(costs, costs[1:])), costs
        assert costs[0] == pytest.approx(want, rel=1e-9, abs=1e-6)
        seen = set()
        for x in opts:
            key = tuple(sorted((p.kind, p.store, p.transfers) for p in x.packages))
            assert key not in seen
            seen.add(key)
            assert all(usable[sid] for sid in x.stores()) and len(set(x.stores())) == len(x.stores())
            skus = [sk for sk, _ in o["lines"]]
            for sid, j in x.sources():
                assert stock.get((sid, skus[j]), 0) >= o["lines"][j][1]
        d = router.route(as_order(o, stores))
        assert d.proven
        assert d.cost == pytest.approx(want, rel=1e-9, abs=1e-6), (d.explanation, want)
        # the kernel's arithmetic and options.py's term-by-term breakdown agree
        assert d.breakdown["total"] == pytest.approx(d.cost, rel=1e-12, abs=1e-9)
        # the rows say the same thing, and cost what the decision says
        assert len(d.rows) == len(o["lines"])
        assert rows_cost(d.rows, o, cfg) == pytest.approx(d.cost, rel=1e-9, abs=1e-6)
        # the world the next order sees: stock and capacity taken by this one
        take(d, stock, cap, by_id)
        for (s, k), v in stock.items():
            assert router.available(stores[s]["id"], k) == v


@st.composite
def wide_cities(draw):
    """More stores than instances() (3-24, up to 25 km out), so that an order's nearest
    candidates are a real prefix of those in reach, and a cost model whose terms may be 0:
    where the one-call route's first radius ends, and whether it must search again."""
    n = draw(st.integers(3, 24))
    stores = []
    for i in range(n):
        kind = "warehouse" if i == n - 1 and draw(st.booleans()) else "store"
        lat, lon = destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, 25000)))
        stores.append({"id": f"S{i}", "lat": float(lat), "lon": float(lon), "kind": kind,
                       "handling": draw(st.sampled_from([5.0, 10.0])), "delivers": True,
                       "pickup": False, "transfers_out": draw(st.booleans()),
                       "capacity": draw(st.sampled_from([math.inf, math.inf, 1.0, 2.0]))})
    skus = ["A", "B", "C", "D"]
    stock = {(s, k): v for s in range(n) for k in skus if (v := draw(st.integers(0, 2)))}
    orders = []
    for k in range(draw(st.integers(1, 6))):
        chosen = draw(st.lists(st.sampled_from(skus + ["ZZ"]), min_size=1, max_size=4, unique=True))
        lat, lon = destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, 10000)))
        orders.append({"order_id": f"O{k}", "lat": float(lat), "lon": float(lon),
                       "promise_min": draw(st.sampled_from([30.0, 60.0, 45.0])),
                       "lines": [{"sku": sk, "qty": draw(st.integers(1, 2))} for sk in chosen],
                       **({"home_store": f"S{draw(st.integers(0, n - 1))}"} if draw(st.booleans()) else {})})
    cfg = Config().with_(
        limits={"max_packages": draw(st.integers(1, 3)), "max_transfers": draw(st.integers(0, 1)),
                "max_courier_min": draw(st.sampled_from([90.0, 60.0, 40.0]))},
        cost={"per_minute": draw(st.sampled_from([1.0, 0.0])),
              "per_package": draw(st.sampled_from([20.0, 0.0])),
              "late_per_minute": draw(st.sampled_from([10.0, 0.0])),
              "unfilled_per_line": draw(st.sampled_from([100000.0, 25.0]))},
        travel={"parcel_lead_min": draw(st.sampled_from([1440.0, 50.0]))})
    closed = [draw(st.booleans()) and draw(st.booleans()) for _ in range(n)]
    return stores, stock, orders, cfg, closed


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wide_cities(), st.booleans())
def test_the_one_call_route_decides_as_the_search_over_every_candidate_in_reach(inst, per_candidate):
    # Router.route's one kernel call (OptionSearch.route: the nearest candidates first, more
    # only when the cost bound asks) against the same router's path over every candidate in
    # reach (an order that names its city takes it): the same decision, rows, explanation
    # and stock, order after order. per_candidate: as on a network too large to keep the
    # whole status bytes per decision (the candidates' entries, and Stock.reserve after)
    with patch.object(stock_module, "STATUS_BYTES_MAX", 0 if per_candidate else stock_module.STATUS_BYTES_MAX):
        check_one_call_route(*inst, per_candidate)


def check_one_call_route(stores, stock, orders, cfg, closed, per_candidate):
    one, full = router_of(stores, stock, cfg, closed), router_of(stores, stock, cfg, closed)
    city = one.network.cities[0]
    for o in orders:
        a = one.route(o)
        b = full.route({**o, "city": city})
        assert (a.cost, a.eta_min, a.proven, a.on_time) == (b.cost, b.eta_min, b.proven, b.on_time)
        assert a.rows == b.rows
        ea, eb = a.explanation, b.explanation
        radius = ea.pop("searched_within_min")
        assert radius <= eb.pop("searched_within_min")
        if per_candidate:
            # the candidates beyond the radius the search needed have no status kept: closed or
            # full ones among them are counted as not examined, and not named in bound_by
            far = [c for c in eb["candidates"] if c["eta_min"] > radius + 1e-3 and c["status"] != "examined"]
            assert ea["candidates"] == [c for c in eb["candidates"] if c not in far]
            assert ea["candidates_not_examined"]["count"] == eb["candidates_not_examined"]["count"] + len(far)
            # (and the line on whether a single store holds everything counts them as unexamined)
            named = [c["store_id"] + " " for c in far] + ["no single store within reach", "no store examined holds"]
            assert ([x for x in ea["bound_by"] if not any(x.startswith(n) for n in named)]
                    == [x for x in eb["bound_by"] if not any(x.startswith(n) for n in named)])
            for key in ("candidates", "candidates_not_examined", "bound_by"):
                ea.pop(key), eb.pop(key)
        assert ea == eb
        res_a, res_b = a._snap.res, b._snap.res
        assert res_a.options == res_b.options and res_a.nodes == res_b.nodes
        assert res_a.examined_store.tolist() == res_b.examined_store.tolist()
        assert (one.stock_table()["available"] == full.stock_table()["available"]).all()
        assert (one.capacity_left_all() == full.capacity_left_all()).all()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.booleans(), st.sampled_from([1, 3, 8]), st.sampled_from([1, 2]))
def test_bulk_options_are_the_per_order_options(inst, all_subsets, k, threads):
    # the planner's one-call path gives, per order, exactly what options() gives one by one,
    # on one thread or several
    stores, stock, orders, cfg, closed = inst
    router = router_of(stores, stock, cfg, closed)
    todo = [as_order(o, stores) for o in orders]
    router.route(todo[0])  # the searches must see the stock the first order reserved
    bulk = router.options_bulk(todo, k, all_subsets=all_subsets, threads=threads)
    for i, o in enumerate(todo):
        one = router.options(o, k, all_subsets=all_subsets)
        if not bulk.searched[i]:  # a pickup at a store that offers none
            assert o["mode"] == "pickup" and not stores[orders[i]["pickup"]]["pickup"]
            continue
        got = [option_from_search(f, len(bulk.codes(i)), int(bulk.pickup[i]), cfg, o["promise_min"])
               for f in bulk.found(i)][:k]
        assert [(x.packages, x.unfilled) for x in got] == [(x.packages, x.unfilled) for x in one]
        assert [x.cost for x in got] == pytest.approx([x.cost for x in one], rel=1e-12, abs=1e-9)
        assert bool(bulk.proven[i]) == one.proven


# ---------------------------------------------------------------------------------------------
# Known answers on a small named city

def city(cfg=None, **over):
    # S1 near the customer holds A and B; S2 a little further holds A, B and C; S3 far away
    # holds D (transfer source); W is a warehouse with everything
    ids = ["S1", "S2", "S3", "W"]
    pts = [destination(LAT0, LON0, 90, d) for d in (1000, 2500, 12000, 20000)]
    inv = {"store_id": ["S1", "S1", "S2", "S2", "S2", "S3", "W", "W", "W", "W"],
           "sku": ["A", "B", "A", "B", "C", "D", "A", "B", "C", "D"],
           "on_hand": [2, 1, 5, 5, 5, 5, 9, 9, 9, 9]}
    kw = {"kind": ["store", "store", "store", "warehouse"], "handling_min": 10.0}
    kw.update(over)
    return Network.from_arrays(ids, [p[0] for p in pts], [p[1] for p in pts], inventory=inv, config=cfg, **kw)


def order(oid="O1", lines=(("A", 1),), **kw):
    d = {"order_id": oid, "lat": LAT0, "lon": LON0, "lines": [{"sku": s, "qty": q} for s, q in lines]}
    d.update(kw)
    return d


def test_nearest_store_that_holds_everything_wins_and_the_runner_up_is_named():
    r = Router(city())
    d = r.route(order(lines=[("A", 1), ("B", 1)]))
    assert [(x["source_id"], x["mode"], x["package"]) for x in d.rows] == [("S1", "deliver", 1), ("S1", "deliver", 1)]
    assert d.on_time and d.proven
    ex = d.explanation
    assert ex["runner_up"]["option"].startswith("deliver from S2")
    assert ex["runner_up"]["cost_difference"] > 0
    assert ex["candidates"][0]["store_id"] == "S1" and ex["candidates"][0]["can_fill"] == ["A", "B"]


def test_a_line_the_nearest_store_lacks_goes_to_the_next_store_whole():
    d = Router(city()).route(order(lines=[("A", 1), ("C", 1)]))
    # one package from S2 (both lines) beats a split S1 + S2
    assert {x["source_id"] for x in d.rows} == {"S2"}
    assert any("S1" in b and "lacks C" in b for b in d.explanation["bound_by"])


def test_split_when_no_single_store_can_and_max_packages_allows_it():
    net = city()
    r = Router(net)
    r.update_stock("S2", "A", 0)
    d = r.route(order(lines=[("A", 2), ("C", 1)]))  # S1 has A x2, only S2 has C
    assert {(x["sku"], x["source_id"], x["package"]) for x in d.rows} == {("A", "S1", 1), ("C", "S2", 2)}
    assert d.breakdown["packages"] == 40.0
    # S3 (72 min away, inside the 90-minute delivery area) was not examined: the search
    # stopped before it, so the explanation claims nothing about it
    assert ("no store examined holds every line (the 1 not examined are too far to beat the chosen option)"
            in d.explanation["bound_by"])
    assert d.explanation["candidates_not_examined"]["count"] == 1
    one = Router(city(Config().with_(limits={"max_packages": 1})))
    one.update_stock("S2", "A", 0)
    d1 = one.route(order(lines=[("A", 2), ("C", 1)]))
    # one package only: S2 takes C by delivery and A by transfer from S1, or a line is unfilled
    assert len({x["package"] for x in d1.rows if x["package"]}) == 1


def test_transfer_brings_a_far_stores_line_to_the_delivering_store():
    d = Router(city()).route(order(lines=[("A", 1), ("D", 1)], promise_min=60))
    modes = {x["sku"]: (x["mode"], x["source_id"], x["via_id"]) for x in d.rows}
    assert modes["D"][0] == "transfer" and modes["D"][1] == "S3"
    assert modes["A"] == ("deliver", modes["D"][2], None)
    assert d.breakdown["transfers"] == 30.0


def test_parcel_when_no_store_can_and_unfilled_when_nobody_can():
    # S3, the only store with D, is 72.4 minutes away: beyond a 60-minute delivery area
    r = Router(city(Config().with_(limits={"max_transfers": 0, "max_courier_min": 60.0})))
    d = r.route(order(lines=[("D", 1), ("Q", 1)]))
    by = {x["sku"]: x for x in d.rows}
    assert by["D"]["mode"] == "parcel" and by["D"]["source_id"] == "W"
    assert by["Q"]["mode"] == "unfilled" and by["Q"]["reason"] == "sku_not_stocked"
    assert by["Q"]["package"] is None and by["Q"]["source_id"] is None
    assert not d.on_time


def test_a_store_inside_the_delivery_area_delivers_late_rather_than_a_parcel_tomorrow():
    # the default area is 90 minutes: S3 (72.4 min) delivers D 12.4 minutes late for a
    # 60-minute promise, at 72.4 + 20 + 10 x 12.4 = 216.4, not by tomorrow's parcel (1,470)
    r = Router(city(Config().with_(limits={"max_transfers": 0})))
    d = r.route(order(lines=[("D", 1)], promise_min=60))
    assert [(x["source_id"], x["mode"]) for x in d.rows] == [("S3", "deliver")]
    assert d.eta_min == pytest.approx(72.4, abs=0.05) and not d.on_time
    assert d.cost == pytest.approx(d.eta_min + 20 + 10 * (d.eta_min - 60))
    # a 30-minute order's area is 90 minutes too (max(promise, max_courier_min))
    assert Router(city(Config().with_(limits={"max_transfers": 0}))).route(
        order(lines=[("D", 1)], promise_min=30)).rows[0]["source_id"] == "S3"
    # beyond the area: the parcel
    r = Router(city(Config().with_(limits={"max_transfers": 0, "max_courier_min": 70.0})))
    assert r.route(order(lines=[("D", 1)], promise_min=60)).rows[0]["mode"] == "parcel"


def test_pickup_ready_after_handling_with_missing_lines_by_transfer():
    r = Router(city())
    d = r.route(order(lines=[("A", 1), ("D", 1)], mode="pickup", pickup_store="S1"))
    by = {x["sku"]: x for x in d.rows}
    assert by["A"]["mode"] == "pickup" and by["A"]["source_id"] == "S1"
    assert by["D"]["mode"] == "transfer" and by["D"]["source_id"] == "S3" and by["D"]["via_id"] == "S1"
    assert by["A"]["package"] == by["D"]["package"] == 1
    arrival = r.stock.search.transfer_arrival(2, 0)
    assert d.eta_min == pytest.approx(max(10.0, arrival))


def test_pickup_store_that_does_not_offer_pickup_or_is_closed_leaves_lines_unfilled_with_a_reason():
    r = Router(city(pickup=[False, True, True, True]))
    d = r.route(order(lines=[("A", 1)], mode="pickup", pickup_store="S1"))
    assert d.rows[0]["reason"] == "pickup_not_offered"
    assert d.explanation["bound_by"][0] == "S1 does not offer pickup" and d.explanation["proven_optimal"]
    r.close_store("S2")
    d2 = r.route(order("O2", lines=[("A", 1)], mode="pickup", pickup_store="S2"))
    assert d2.rows[0]["reason"] == "pickup_store_closed"
    assert any("closed" in b for b in d2.explanation["bound_by"])


def test_ties_go_to_the_home_store_then_the_lower_index():
    pts = [destination(LAT0, LON0, b, 1500) for b in (0, 90, 180)]
    inv = {"store_id": ["S0", "S1", "S2"], "sku": ["A"] * 3, "on_hand": [1, 1, 1]}
    net = Network.from_arrays(["S0", "S1", "S2"], [p[0] for p in pts], [p[1] for p in pts], inventory=inv)
    r = Router(net)
    assert r.route(order("a"), reserve=False).rows[0]["source_id"] == "S0"
    d = r.route(order("b", home_store="S2"), reserve=False)
    assert d.rows[0]["source_id"] == "S2" and d.rows[0]["home_store"] == "S2"


def test_closed_and_full_stores_are_skipped_and_named():
    r = Router(city(capacity=[1, None, None, None]))
    r.route(order("a"))  # S1's one package
    d = r.route(order("b"))
    assert d.rows[0]["source_id"] == "S2"
    assert any("S1" in b and "at capacity" in b for b in d.explanation["bound_by"])
    assert r.close_store("S2") == ["b"]
    d = r.route(order("c"))
    assert d.rows[0]["source_id"] not in ("S1", "S2")
    r.open_store("S2")
    assert r.route(order("d")).rows[0]["source_id"] == "S2"


# ---------------------------------------------------------------------------------------------
# The reservation life cycle

def test_same_order_id_returns_the_existing_reservation():
    r = Router(city())
    d1 = r.route(order(lines=[("A", 2)]))
    d2 = r.route(order(lines=[("A", 2)]))
    assert d2 is d1
    assert r.reserved() == {("S1", "A"): 2}


def test_release_returns_the_stock_and_complete_consumes_it():
    r = Router(city())
    r.route(order("a", lines=[("A", 2)]))
    assert r.available("S1", "A") == 0
    assert r.release("a") and not r.release("a")
    assert r.available("S1", "A") == 2
    r.route(order("b", lines=[("A", 2)]))
    assert r.complete("b")
    assert r.available("S1", "A") == 0 and r.reserved() == {}
    tab = r.stock_table()
    k = next(i for i in range(len(tab["sku"])) if tab["store_id"][i] == "S1" and tab["sku"][i] == "A")
    assert tab["on_hand"][k] == 0


def test_no_reserve_routes_against_the_stock_without_taking_it():
    r = Router(city())
    for i in range(3):
        d = r.route(order(f"o{i}", lines=[("A", 2)]), reserve=False)
        assert d.rows[0]["source_id"] == "S1" and not d.reserved
    assert r.reserved() == {} and r.holding() == []


def test_update_stock_adds_new_skus_and_pairs_and_counts_reservations():
    r = Router(city())
    r.route(order("a", lines=[("A", 2)]))
    assert r.update_stock("S1", "A", 3) == 1  # 3 on hand, 2 promised
    assert r.update_stock("S1", "A", 1) == -1  # fewer than promised: nothing more sold there
    assert r.route(order("b", lines=[("A", 1)])).rows[0]["source_id"] == "S2"
    assert r.update_stock("S1", "NEW", 4) == 4
    d = r.route(order("c", lines=[("NEW", 1), ("B", 1)]))
    assert {x["source_id"] for x in d.rows} == {"S1"}
    with pytest.raises(ValueError):
        r.update_stock("S1", "A", -1)
    with pytest.raises(KeyError):
        r.update_stock("nope", "A", 1)


def test_bad_orders_name_the_field():
    r = Router(city())
    with pytest.raises(InputError, match="lines"):
        r.route({"order_id": "x", "lat": 1, "lon": 2, "lines": []})
    with pytest.raises(InputError, match="lat"):
        r.route({"order_id": "x", "lat": 91, "lon": 2, "lines": [{"sku": "A", "qty": 1}]})
    with pytest.raises(InputError, match=r"lines\[0\]\.qty"):
        r.route({"order_id": "x", "lat": 1, "lon": 2, "lines": [{"sku": "A", "qty": 0}]})
    with pytest.raises(InputError, match="pickup_store"):
        r.route(order(mode="pickup"))
    with pytest.raises(InputError, match="unknown store"):
        r.route(order(mode="pickup", pickup_store="nope"))
    with pytest.raises(InputError, match="unknown field"):
        r.route({**order(), "colour": "red"})


def test_duplicate_skus_in_one_order_come_from_one_source_with_their_total():
    r = Router(city())
    d = r.route(order(lines=[("A", 1), ("A", 1), ("B", 1)]))
    assert len(d.rows) == 3 and {x["source_id"] for x in d.rows} == {"S1"}
    assert r.reserved() == {("S1", "A"): 2, ("S1", "B"): 1}
    d = r.route(order("o2", lines=[("A", 3), ("A", 3)]))  # 6 > anyone's 5 (S2) or 9 (W, parcel)
    assert {x["source_id"] for x in d.rows} == {"W"}


def test_orders_beyond_64_skus_get_a_feasible_greedy_decision():
    skus = [f"K{i}" for i in range(70)]
    pts = [destination(LAT0, LON0, 90, d) for d in (1000, 2000)]
    inv = {"store_id": ["S0"] * 40 + ["S1"] * 70, "sku": skus[:40] + skus, "on_hand": [1] * 110}
    net = Network.from_arrays(["S0", "S1"], [p[0] for p in pts], [p[1] for p in pts], inventory=inv)
    r = Router(net)
    d = r.route(order("big", lines=[(s, 1) for s in skus]))
    assert not d.proven
    assert len(d.rows) == 70 and all(x["mode"] == "deliver" for x in d.rows)
    assert sum(r.reserved().values()) == 70


def test_a_big_basket_the_stores_cannot_complete_goes_by_parcel_rather_than_unfilled():
    # 70 SKUs; each of four stores holds a different 20 of the first 60 (so three delivery
    # packages fill at most 60 and leave 10 unfilled); the warehouse holds all 70
    skus = [f"K{i}" for i in range(70)]
    pts = [destination(LAT0, LON0, 90, d) for d in (1000, 2000, 3000, 4000, 30_000)]
    inv = {"store_id": [], "sku": [], "on_hand": []}
    for s in range(4):
        for k in skus[(s % 3) * 20:(s % 3) * 20 + 20]:
            inv["store_id"].append(f"S{s}")
            inv["sku"].append(k)
            inv["on_hand"].append(1)
    inv["store_id"] += ["W"] * 70
    inv["sku"] += skus
    inv["on_hand"] += [9] * 70
    net = Network.from_arrays(["S0", "S1", "S2", "S3", "W"], [p[0] for p in pts], [p[1] for p in pts],
                              kind=["store"] * 4 + ["warehouse"], inventory=inv)
    d = Router(net).route(order("big", lines=[(s, 1) for s in skus]))
    assert not d.proven
    assert not [x for x in d.rows if x["mode"] == "unfilled"]
    assert len({x["package"] for x in d.rows}) <= net.config.limits.max_packages


def test_a_big_basket_at_a_closed_or_full_pickup_store_is_not_prepared_there():
    skus = [f"K{i}" for i in range(70)]
    inv = {"store_id": ["P"] * 70, "sku": skus, "on_hand": [9] * 70}
    net = Network.from_arrays(["P"], [LAT0], [LON0], capacity=[1], inventory=inv)
    big = [(s, 1) for s in skus]
    r = Router(net)
    first = r.route(order("b1", lines=big, mode="pickup", pickup_store="P"))
    assert all(x["mode"] == "pickup" for x in first.rows) and first.on_time
    for oid in ("b2", "b3"):  # the store's one package is spent: nothing more there
        d = r.route(order(oid, lines=big, mode="pickup", pickup_store="P"))
        assert {x["reason"] for x in d.rows} == {"pickup_store_at_capacity"}
        assert not d.on_time  # nothing filled is never on time
    assert r.capacity_left("P") == 0
    r.open_store("P")
    r.close_store("P")
    r.release("b1")
    d = r.route(order("b4", lines=big, mode="pickup", pickup_store="P"))
    assert {x["reason"] for x in d.rows} == {"pickup_store_closed"} and not d.on_time
    assert sum(r.reserved().values()) == 0


def test_a_thirty_minute_zone_holding_the_customer_is_used_whatever_the_eta():
    # the only store with the SKU is 20 km away (ETA 114 min, beyond the 90-minute area)
    # but its 30-minute zone holds the customer: it delivers, late, at 114 + 20 + 10 x 84
    far = destination(LAT0, LON0, 90, 20_000)
    zone = shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)
    net = Network.from_arrays(["F"], [far[0]], [far[1]], inventory={"store_id": ["F"], "sku": ["A"], "on_hand": [1]},
                              zones=[("F", 30, zone)])
    d = Router(net).route(order(lines=[("A", 1)], promise_min=30))
    assert d.rows[0]["source_id"] == "F" and d.rows[0]["mode"] == "deliver"
    assert d.cost == pytest.approx(d.eta_min + 20 + 10 * (d.eta_min - 30)) and d.eta_min > 110
    # a 60-minute order is in the 60-minute tier: F has no zone there, and 114 minutes is
    # beyond its area, so nobody can deliver it
    d60 = Router(net).route(order(lines=[("A", 1)], promise_min=60))
    assert d60.rows[0]["mode"] == "unfilled" and d60.rows[0]["reason"] == "no_store_in_reach"
    # a zone that excludes the customer: F is no 30-minute store for it, not even nearby
    net.set_zone("F", 30, shapely.box(far[1] - 0.01, far[0] - 0.01, far[1] + 0.01, far[0] + 0.01))
    near = destination(far[0], far[1], 0, 5000)  # 5 km from F, outside its zone
    d = Router(net).route(order(lines=[("A", 1)], promise_min=30, lat=float(near[0]), lon=float(near[1])))
    assert d.rows[0]["mode"] == "unfilled"
    # ... but it may still deliver late as a 60-minute store whose 60-minute zone holds it
    net.set_zone("F", 60, shapely.box(near[1] - 0.01, near[0] - 0.01, near[1] + 0.01, near[0] + 0.01))
    d = Router(net).route(order(lines=[("A", 1)], promise_min=30, lat=float(near[0]), lon=float(near[1])))
    assert d.rows[0]["source_id"] == "F"


def test_safety_stock_above_on_hand_leaves_nothing_available_never_less():
    net = Network.from_arrays(["S"], [LAT0], [LON0], inventory={"store_id": ["S"], "sku": ["A"], "on_hand": [1],
                                                               "safety_stock": [3]})
    r = Router(net)
    assert r.available("S", "A") == 0
    assert r.update_stock("S", "A", 2) == 0
    assert r.update_stock("S", "A", 5) == 2


# ---------------------------------------------------------------------------------------------
# Threads

def test_eight_threads_on_scarce_stock_never_oversell():
    rng = np.random.default_rng(7)
    n_st, n_sku = 30, 40
    lat, lon = destination(LAT0, LON0, rng.uniform(0, 360, n_st), rng.uniform(0, 6000, n_st))
    ids = [f"S{i}" for i in range(n_st)]
    inv = {"store_id": [], "sku": [], "on_hand": [], "safety_stock": []}
    for s in range(n_st):
        for k in rng.choice(n_sku, 15, replace=False):
            inv["store_id"].append(ids[s])
            inv["sku"].append(f"K{k}")
            inv["on_hand"].append(int(rng.integers(1, 4)))
            inv["safety_stock"].append(int(rng.integers(0, 2)))
    caps = [None if c < 0 else int(c) for c in rng.choice([5, 20, -1], n_st)]
    net = Network.from_arrays(ids, lat, lon, capacity=caps, inventory=inv)
    r = Router(net)
    start = r.stock_table()
    olat, olon = destination(LAT0, LON0, rng.uniform(0, 360, 3000), rng.uniform(0, 6000, 3000))
    orders = [order(f"o{i}", lines=[(f"K{k}", int(rng.integers(1, 3))) for k in rng.choice(n_sku, rng.integers(1, 5),
                                                                                        replace=False)])
              | {"lat": float(olat[i]), "lon": float(olon[i])} for i in range(3000)]
    orders += orders[:500]  # the same order ids again, from other threads

    cancelled = set()

    def work(o):
        d = r.route(o)
        if hash(o["order_id"]) % 7 == 0 and r.release(o["order_id"]):
            cancelled.add(o["order_id"])
        return d

    with ThreadPoolExecutor(8) as ex:
        decisions = list(ex.map(work, orders))
    tab = r.stock_table()
    assert (tab["available"] >= 0).all()
    assert (tab["reserved"] >= 0).all()
    # what is reserved is exactly what the held decisions' rows say
    held = {}
    for d in decisions:
        if d.order_id in r.holding():
            held[d.order_id] = d
    want: dict = {}
    for d in held.values():
        for x in d.rows:
            if x["mode"] != "unfilled":
                k = (x["source_id"], x["sku"])
                want[k] = want.get(k, 0) + x["qty"]
    assert r.reserved() == want
    assert np.array_equal(tab["available"] + tab["reserved"], start["available"])
    # capacity never below zero, and every held order is one decision object
    for s in ids:
        assert r.capacity_left(s) >= 0
    # an order routed twice and never cancelled got the one reservation back, not a second
    seen: dict = {}
    for d in decisions:
        if d.order_id not in cancelled:
            seen.setdefault(d.order_id, set()).add(id(d))
    assert len(seen) > 2000
    assert all(len(v) == 1 for v in seen.values())


def test_router_and_threads_agree_with_one_thread_when_stock_is_plenty():
    net = city()
    orders = [order(f"o{i}", lines=[("A", 1)]) for i in range(200)]
    r1 = Router(net)
    r1.update_stock("S1", "A", 10_000)
    one = [r1.route(o).rows[0]["source_id"] for o in orders]
    r8 = Router(net)
    r8.update_stock("S1", "A", 10_000)
    threads = set()

    def route(o):
        threads.add(threading.get_ident())
        return r8.route(o)

    with ThreadPoolExecutor(8) as ex:
        many = [d.rows[0]["source_id"] for d in ex.map(route, orders)]
    assert one == many == ["S1"] * 200
    assert len(threads) > 1  # the routes really ran on several threads


def test_searches_over_the_same_rows_share_one_sku_index_and_a_new_row_rebuilds_it():
    from omnifill import _core

    net = city()
    r = Router(net)
    now = r.network_now()
    assert now.inventory.sku_index() is net.inventory.sku_index()  # the stock left: not sorted again
    Router(now).route(order())
    r.update_stock("S1", "C", 4)  # a (store, SKU) row S1 did not have
    fresh = _core.sku_major(r.stock.indptr, r.stock.sku)
    after = r.network_now().inventory.sku_index()
    assert after is not net.inventory.sku_index()
    for a, b in zip(after, fresh):
        np.testing.assert_array_equal(a, b)
    d = r.route(order("o2", lines=[("C", 4)]))
    assert {x["source_id"] for x in d.rows} == {"S1"}  # the search sees the new row
    with pytest.raises(ValueError, match="sku_index"):
        r.stock.search.set_inventory(r.stock.indptr, r.stock.sku, r.stock.avail, net.inventory.sku_index())


def test_the_kernels_element_kinds_are_the_python_enum():
    # one spelling of the element kinds: each element the kernel returns carries the number
    # ElementKind gives its shape (who sends, who delivers), and _core.ELEMENT_KINDS names
    # the numbers in ElementKind's order
    from omnifill import _core
    from omnifill.options import ElementKind as K

    assert tuple(k.label for k in K) == _core.ELEMENT_KINDS
    net = city()
    wh = set(np.flatnonzero(net.kind == "warehouse").tolist())
    cases = [order(lines=[("A", 1)]), order(lines=[("A", 1), ("D", 1)]),
             order(lines=[("A", 1)], mode="pickup", pickup_store="S1"),
             order(lines=[("A", 1), ("D", 1)], mode="pickup", pickup_store="S1")]
    flat = Router(net).options_bulk(cases, k=16, all_subsets=True).flat(16)
    seen = set()
    for kind, a, b in zip(flat["kind"].tolist(), flat["a"].tolist(), flat["b"].tolist()):
        k = K(kind)
        seen.add(k)
        if k is K.DELIVER:
            assert a >= 0 and b < 0 and a not in wh
        elif k is K.PARCEL:
            assert a in wh and b < 0
        elif k is K.TRANSFER:
            assert a >= 0 and b >= 0
        elif k is K.INTO_PICKUP:
            assert a < 0 and b >= 0
        else:
            assert k is K.PICKUP and a == net.index_of("S1") and b < 0
    assert seen == set(K)


def test_the_single_and_the_bulk_search_answer_in_one_typed_layout():
    # one order's SearchResult and many orders' SearchBatch hold their options the same way
    # (cost, eta, el_indptr into ELEMENT_DTYPE rows), read-only, and agree option for option
    from omnifill import _core
    from omnifill.options import ElementKind as K

    assert _core.ELEMENT_FIELDS == ("kind", "a", "b", "eta", "from_a", "from_b", "a_holds", "b_holds")
    net = city()
    r = Router(net)
    cases = [order(lines=[("A", 1), ("D", 1)]), order(lines=[("A", 1)], mode="pickup", pickup_store="S1")]
    bulk = r.options_bulk(cases, k=16, all_subsets=True)
    batch = bulk._parts[0]
    assert isinstance(batch, _core.SearchBatch) and batch.elements.dtype == _core.ELEMENT_DTYPE
    assert set(batch.elements["kind"].tolist()) <= {int(k) for k in K}
    for i, o in enumerate(cases):
        single = r.options(o, k=16, window=float("inf"), all_subsets=True)
        assert [round(opt.cost, 9) for opt in single] == [round(f[0], 9) for f in bulk.found(i)][:len(single)]
    res = r.stock.search.search(np.array([r.line_codes(["A"])[0]], np.int32), np.array([1]), 60.0,
                           *net.candidates_one(31.2, 121.45, 60.0), net.warehouses(net.cities[0]),
                           lat=31.2, lon=121.45)
    assert isinstance(res, _core.SearchResult) and res.best == res.option(0)
    assert res.elements.dtype == _core.ELEMENT_DTYPE and res.el_indptr[-1] == len(res.elements)
    for name in ("cost", "proven", "elements"):
        with pytest.raises(AttributeError):
            setattr(res, name, None)
    with pytest.raises(TypeError):
        _core.SearchResult()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_a_priced_search_finds_the_brute_force_minimum_of_the_priced_costs(inst, data):
    # prices on stock rows (a unit taken there) and on stores (a capacity unit spent there)
    # add to each option's cost; the kernel's priced best must be the minimum over every
    # assignment of the cost plus the prices of what it uses (the brute force's own account)
    stores, stock, orders, cfg, closed = inst
    router = router_of(stores, stock, cfg, closed)
    indptr, sku_code, _ = router.stock_rows()
    skus = list(router.stock.skus)
    row_price = np.array([data.draw(st.sampled_from([0.0, 0.0, 3.0, 40.0, 250.0])) for _ in range(len(sku_code))])
    store_price = np.array([data.draw(st.sampled_from([0.0, 5.0, 70.0])) for _ in stores])
    price_of = {}
    for s in range(len(stores)):
        for r in range(int(indptr[s]), int(indptr[s + 1])):
            price_of[(s, skus[int(sku_code[r])])] = float(row_price[r])
    search = router.stock.search
    cap = [s["capacity"] for s in stores]
    usable = [cap[s] >= 1 and not closed[s] for s in range(len(stores))]
    for o in orders:
        want = min(cost + sum(price_of.get(k, 0.0) * q for k, q in use.items()) + sum(store_price[s] for s in spend)
                   for cost, use, spend, _ in assignments(stores, stock, o, cfg, usable))
        if o["mode"] == "pickup" and not stores[o["pickup"]]["pickup"]:
            continue  # no search: nothing is prepared there (the router's rule)
        prep = router.prepare(Order.from_dict(as_order(o, stores)))
        search.set_prices(row_price, store_price)
        try:
            res = search.search(router.line_codes(prep.skus), prep.qty, o["promise"], prep.cand_idx, prep.cand_eta,
                                prep.warehouses, lat=o["lat"], lon=o["lon"], tgrid=prep.tgrid, pickup=prep.pickup,
                                home=prep.home, k=3)
        finally:
            search.set_prices(None, None)
        assert res.proven
        assert res.best[0] == pytest.approx(want, rel=1e-9, abs=1e-6)
    if len(sku_code):
        with pytest.raises(ValueError, match="row_price"):
            search.set_prices(np.full(len(sku_code), -1.0), None)
    with pytest.raises(ValueError, match="store_price"):
        search.set_prices(None, np.full(len(stores), np.nan))
