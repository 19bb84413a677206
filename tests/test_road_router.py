"""The router and the candidate search on road travel times (``[travel] provider = "road"``):
exact against the brute force of test_router with road legs from an independent oracle
(a textbook heap Dijkstra over the edge list, and snapping by a haversine argmin over the
nodes of the main component), for every feature the router has: zones, pickups, transfers,
capacity, closed stores, hourly times, a graph with cut-off nodes. And the config's errors."""

import itertools
import math
import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_planner import joint_best
from test_roads import oracle
from test_router import LAT0, LON0, as_order, brute_force, build, instances, rows_cost, take

from omnifill import Config, InputError
from omnifill.geo import destination, haversine_m
from omnifill.planner import plan
from omnifill.reference import ETA_TOLERANCE_MIN
from omnifill.router import Router


@st.composite
def road_graphs(draw):
    """A road graph around the test city: a strongly connected core (a two-way ring, with
    chords), and a few more nodes with one-way edges (some of them cut off: they reach the
    core but cannot be reached, or the other way round). Minutes are the great circle's at
    a drawn speed, so ETAs cross the 30, 60 and 90 minute limits like the instances'."""
    core = draw(st.integers(3, 7))
    extra = draw(st.integers(0, core - 1))  # fewer than the core: the core is the main component
    n = core + extra
    places = [destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, 12000))) for _ in range(n)]
    hourly = draw(st.booleans())

    def minutes(a, b):
        d = float(haversine_m(places[a][0], places[a][1], places[b][0], places[b][1]))
        if hourly:
            return [d / draw(st.sampled_from([150.0, 300.0, 600.0, 1e9])) for _ in range(24)]
        return d / draw(st.sampled_from([150.0, 300.0, 600.0, 1e9]))  # 1e9: a 0-minute edge, in effect

    edges = []
    for k in range(core):
        a, b = k, (k + 1) % core
        edges += [(a, b, minutes(a, b)), (b, a, minutes(b, a))]
    for _ in range(draw(st.integers(0, core))):
        a, b = draw(st.integers(0, core - 1)), draw(st.integers(0, core - 1))
        if a != b:
            edges.append((a, b, minutes(a, b)))
    for x in range(core, n):
        a = draw(st.integers(0, n - 1))
        if draw(st.booleans()):
            edges.append((x, a, minutes(x, a)))
        else:
            edges.append((a, x, minutes(a, x)))
    return places, edges


def write_graph(tmp, places, edges):
    tag = uuid.uuid4().hex  # a new name each time: the model keeps the last graph it read
    nodes, ed = tmp / f"nodes-{tag}.csv", tmp / f"edges-{tag}.csv"
    nodes.write_text("node_id,lat,lon\n"
                     + "".join(f"N{i},{float(la)!r},{float(lo)!r}\n" for i, (la, lo) in enumerate(places)))
    hourly = any(isinstance(m, list) for _, _, m in edges)
    cols = [f"minutes_h{h}" for h in range(24)] if hourly else ["minutes"]
    rows = "".join(f"N{a},N{b}," + ",".join(repr(float(v)) for v in (m if hourly else [m])) + "\n" for a, b, m in edges)
    ed.write_text("from_node,to_node," + ",".join(cols) + "\n" + rows)
    return nodes, ed


class RoadOracle:
    """Road legs from the text of docs/cost-model.md ("Road travel"), computed without omnifill:
    snap to the nearest node of the main component (the nodes every other core node reaches
    and is reached from), access legs at the courier's speed and circuity, a heap Dijkstra
    (its minutes rounded to float32, as the model's tables keep them)."""

    def __init__(self, places, edges, cfg, hour):
        n = len(places)
        self.places, self.t = places, cfg.travel
        self.dist = [oracle(n, edges, s, hour) for s in range(n)]
        self.main = [v for v in range(n) if self.dist[0][v] < math.inf and self.dist[v][0] < math.inf]

    def nearest(self, lat, lon, among):
        d = [float(haversine_m(lat, lon, self.places[v][0], self.places[v][1])) for v in among]
        k = int(np.argmin(d))
        return among[k], d[k]

    def access(self, dist_m):
        return self.t.circuity * dist_m / self.t.courier_m_per_min

    def leg(self, la1, lo1, la2, lo2):
        a, da = self.nearest(la1, lo1, self.main)
        b, db = self.nearest(la2, lo2, self.main)
        # the path's minutes as the model keeps them: float32 (docs/cost-model.md)
        return self.access(da) + float(np.float32(self.dist[a][b])) + self.access(db)

    def cut_off(self, lat, lon):
        # a point whose nearest node of all is outside the main component
        return self.nearest(lat, lon, list(range(len(self.places))))[0] not in self.main


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(instances(), road_graphs(), st.integers(0, 23))
def test_every_decision_on_road_times_is_the_brute_force_minimum(tmp_path, inst, graph, hour):
    stores, stock, orders, cfg, closed = inst
    places, edges = graph
    nodes, ed = write_graph(tmp_path, places, edges)
    cfg = cfg.with_(travel={"provider": "road", "road_nodes": str(nodes), "road_edges": str(ed), "hour": float(hour)})
    road = RoadOracle(places, edges, cfg, hour)
    if any(road.cut_off(s["lat"], s["lon"]) for s in stores):
        # a store cut off from the main component is an input error naming its row
        with pytest.raises(InputError, match="cannot reach"):
            build(stores, stock, cfg)
        return
    router = Router(build(stores, stock, cfg), cfg)
    for s, cl in enumerate(closed):
        if cl:
            router.close_store(stores[s]["id"])
    legs = (lambda s, la, lo: road.leg(stores[s]["lat"], stores[s]["lon"], la, lo),
            lambda b, a: road.leg(stores[b]["lat"], stores[b]["lon"], stores[a]["lat"], stores[a]["lon"]))
    stock = dict(stock)
    cap = [s["capacity"] for s in stores]
    by_id = {s["id"]: k for k, s in enumerate(stores)}
    for o in orders:
        usable = [cap[s] >= 1 and not closed[s] for s in range(len(stores))]
        want = brute_force(stores, stock, o, cfg, usable, legs)
        d = router.route(as_order(o, stores))
        assert d.proven
        assert d.cost == pytest.approx(want, rel=1e-9, abs=1e-6), (d.explanation, want)
        assert d.breakdown["total"] == pytest.approx(d.cost, rel=1e-12, abs=1e-9)
        assert rows_cost(d.rows, o, cfg) == pytest.approx(d.cost, rel=1e-9, abs=1e-6)
        assert d.explanation["travel"]["model"] == "road"
        relayed = {r["package"] for r in d.rows if r["mode"] == "transfer"}
        for r in d.rows:  # a direct package's ETA is the road model's
            if r["mode"] == "deliver" and r["package"] not in relayed:
                s = by_id[r["source_id"]]
                assert r["eta_min"] == pytest.approx(stores[s]["handling"] + legs[0](s, o["lat"], o["lon"]),
                                                     rel=1e-9, abs=1e-6)
        take(d, stock, cap, by_id)
        for (s, k), v in stock.items():
            assert router.available(stores[s]["id"], k) == v


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                                 HealthCheck.function_scoped_fixture])
@given(instances(), road_graphs(), st.integers(0, 23))
def test_a_backlog_planned_on_road_times_is_the_joint_brute_force_minimum(tmp_path, inst, graph, hour):
    # the planner (reroute) on road times: its objective is the cheapest joint assignment of
    # every order under road legs, and its lower bound is at or below it
    stores, stock, orders, cfg, _ = inst
    assume(sum(len(o["lines"]) for o in orders) <= 4)
    places, edges = graph
    nodes, ed = write_graph(tmp_path, places, edges)
    cfg = cfg.with_(travel={"provider": "road", "road_nodes": str(nodes), "road_edges": str(ed), "hour": float(hour)})
    road = RoadOracle(places, edges, cfg, hour)
    assume(not any(road.cut_off(s["lat"], s["lon"]) for s in stores))
    legs = (lambda s, la, lo: road.leg(stores[s]["lat"], stores[s]["lon"], la, lo),
            lambda b, a: road.leg(stores[b]["lat"], stores[b]["lon"], stores[a]["lat"], stores[a]["lon"]))
    p = plan(build(stores, stock, cfg), [as_order(o, stores) for o in orders], cfg, time_limit_s=10, k=256)
    best = joint_best(stores, stock, orders, cfg, legs)
    assert p.summary["objective"] == pytest.approx(best, rel=1e-9, abs=1e-6)
    assert p.summary["lower_bound"] <= best + 1e-6


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(road_graphs(), st.lists(st.tuples(st.floats(0, 360), st.floats(0, 15000)), min_size=1, max_size=6),
       st.lists(st.tuples(st.floats(0, 360), st.floats(0, 15000)), min_size=1, max_size=20),
       st.sampled_from([20.0, 45.0, 90.0, 1e6]))
def test_candidates_on_road_times_are_every_store_within_the_limit(tmp_path, graph, where, customers, limit):
    places, edges = graph
    nodes, ed = write_graph(tmp_path, places, edges)
    cfg = Config().with_(travel={"provider": "road", "road_nodes": str(nodes), "road_edges": str(ed), "hour": 3.0})
    road = RoadOracle(places, edges, cfg, 3)
    spots = [destination(LAT0, LON0, b, d) for b, d in where]
    if any(road.cut_off(la, lo) for la, lo in spots):
        return
    n = len(spots)
    from omnifill import Network

    net = Network.from_arrays([f"S{i}" for i in range(n)], [p[0] for p in spots], [p[1] for p in spots],
                              handling_min=[5.0 + i for i in range(n)], config=cfg)
    clat = [destination(LAT0, LON0, b, d)[0] for b, d in customers]
    clon = [destination(LAT0, LON0, b, d)[1] for b, d in customers]
    c = net.candidates(clat, clon, limit)
    for i, (la, lo) in enumerate(zip(clat, clon)):
        eta = [5.0 + s + road.leg(spots[s][0], spots[s][1], la, lo) for s in range(n)]
        want = sorted((e, s) for s, e in enumerate(eta) if e <= limit + ETA_TOLERANCE_MIN)
        got_idx, got_eta = c.store_index[c.indptr[i]:c.indptr[i + 1]], c.eta_min[c.indptr[i]:c.indptr[i + 1]]
        # the same stores (a store within 1e-6 of the limit may fall either side of float32)
        assert {s for e, s in want if e < limit - 1e-5} <= set(got_idx.tolist()) <= {
            s for s, e in enumerate(eta) if e <= limit + 1e-5}
        for s, e in zip(got_idx, got_eta):
            assert e == pytest.approx(eta[s], rel=1e-6, abs=1e-5)
        one_idx, one_eta = net.candidates_one(la, lo, limit)
        assert one_idx.tolist() == got_idx.tolist() and one_eta.tolist() == got_eta.tolist()


def test_the_config_names_a_road_graph_or_says_what_is_missing(tmp_path):
    conf = tmp_path / "omnifill.toml"
    for text, match in [('provider = "road"\nroad_nodes = "nodes.csv"\n', "road_edges"),
                        ('provider = "roads"\n', "unknown travel model"),
                        ('roads = "city.osm.pbf"\n', 'provider = "road"'),
                        ('provider = "road"\nroads = "city.osm"\nhour = 24\n', "hour of the day")]:
        conf.write_text("[travel]\n" + text)
        with pytest.raises(InputError, match=match):
            Config.from_toml(conf)
    conf.write_text('[travel]\nprovider = "road"\nroad_nodes = "n.csv"\nroad_edges = "sub/e.csv"\nhour = 8\n')
    cfg = Config.from_toml(conf)  # paths relative to the config file
    assert cfg.travel.road_nodes == str(tmp_path / "n.csv") and cfg.travel.road_edges == str(tmp_path / "sub" / "e.csv")


def test_a_missing_graph_file_is_an_input_error_naming_it(tmp_path):
    cfg = Config().with_(travel={"provider": "road", "road_nodes": str(tmp_path / "nope.csv"),
                                 "road_edges": str(tmp_path / "edges.csv")})
    from omnifill import Network

    with pytest.raises(InputError, match="nope.csv"):
        Network.from_arrays(["S0"], [LAT0], [LON0], config=cfg)


def test_pickled_road_legs_search_the_same():
    import pickle

    from omnifill import _core

    places = [destination(LAT0, LON0, 45.0 * k, 800.0 * k) for k in range(6)]
    snap = _core.NodeSnap([p[0] for p in places], [p[1] for p in places])
    table = np.arange(6 * 2, dtype=np.float32).reshape(6, 2)
    legs = _core.road_legs(1.3, 250.0, 15.0, snap, [places[1][0], places[4][0]], [places[1][1], places[4][1]],
                           table, 600.0)
    again = pickle.loads(pickle.dumps(legs))
    assert again.road and again.store_node().tolist() == legs.store_node().tolist() == [1, 4]
    for p in itertools.islice(places, 6):
        assert again.locate(*p) == legs.locate(*p)


def test_a_router_set_to_an_hour_decides_as_one_built_at_that_hour(tmp_path):
    # an hourly graph whose fast street is fast at night and slow at 8; the router built at
    # 3 o'clock and set to 8 decides every order as one built at 8, and back at 3 as at 3
    rng = np.random.default_rng(5)
    places = [destination(LAT0, LON0, float(b), float(d)) for b, d in zip(rng.uniform(0, 360, 30),
                                                                          rng.uniform(0, 6000, 30))]
    edges = []
    for a in range(30):
        for b in (int(x) for x in rng.choice(30, 3, replace=False)):
            if a != b:
                d = float(haversine_m(places[a][0], places[a][1], places[b][0], places[b][1]))
                by_hour = [d / (600.0 if h != 8 else 120.0) * float(rng.uniform(0.8, 1.2)) for h in range(24)]
                edges += [(a, b, by_hour), (b, a, by_hour)]
    nodes, ed = write_graph(tmp_path, places, edges)
    stores = [destination(LAT0, LON0, 60.0 * k, 1500.0 + 400 * k) for k in range(6)]
    inv = {"store_id": [f"S{k}" for k in range(6) for _ in "AB"], "sku": ["A", "B"] * 6, "on_hand": [3] * 12}

    def router_at(hour):
        cfg = Config().with_(travel={"provider": "road", "road_nodes": str(nodes), "road_edges": str(ed),
                                     "hour": float(hour)})
        from omnifill import Network

        return Router(Network.from_arrays([f"S{k}" for k in range(6)], [p[0] for p in stores],
                                          [p[1] for p in stores], inventory=inv, config=cfg))

    orders = [{"order_id": f"O{j}", "lat": p[0], "lon": p[1], "promise_min": 30,
               "lines": [{"sku": "A", "qty": 1}] + ([{"sku": "B", "qty": 1}] if j % 2 else [])}
              for j, p in enumerate(destination(LAT0, LON0, float(b), float(d))
                                    for b, d in zip(rng.uniform(0, 360, 25), rng.uniform(0, 6000, 25)))]
    moving = router_at(3)
    at3, at8 = router_at(3), router_at(8)
    differs = 0
    for hour, fixed in ((8, at8), (3, at3), (8, at8)):
        moving.set_hour(hour)
        for o in orders:
            got, want = moving.route(o, reserve=False), fixed.route(o, reserve=False)
            assert got.cost == want.cost and got.rows == want.rows
            differs += hour == 8 and got.cost != at3.route(o, reserve=False).cost
    assert differs > 0  # the hours' times differ where it matters
