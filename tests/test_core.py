"""The candidate and coverage kernels against their numpy references (the oracle)."""

import threading

import numpy as np
import pytest
import shapely
from conftest import DATA, assert_same_candidates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnifill
from omnifill import _core
from omnifill.geo import destination, haversine_m
from omnifill.reference import candidates_reference, coverage_reference

CIRC, SPEED = 1.3, 250.0


def disc(rng, lat0, lon0, n, radius_m):
    """n points uniform in the disc of radius_m (metres of great circle) around (lat0, lon0)."""
    return destination(lat0, lon0, rng.uniform(0, 360, n), radius_m * np.sqrt(rng.uniform(0, 1, n)))


def net_of(lat, lon, handling=10.0, **kw):
    n = len(lat)
    return omnifill.Network.from_arrays([f"S{i}" for i in range(n)], lat, lon, handling_min=handling, **kw)


def ref_of(net, olat, olon, limit, k=None, zone_pairs=None):
    return candidates_reference(net.lat, net.lon, net.handling_min, net.eligible, olat, olon, limit,
                                circuity=CIRC, courier_m_per_min=SPEED, max_candidates=k,
                                zone_bits=net.zones.store_bits(len(net)),
                                tier_bits=omnifill.geo.tier_bits(np.broadcast_to(limit, np.shape(olat))),
                                zone_pairs=zone_pairs)


def triple(c):
    return c.indptr, c.store_index, c.eta_min


def identical(a, b):
    """Two CSR triples equal to the bit (same code path, or a split of the same work)."""
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# --- the tiny city with answers worked out by hand ----------------------------------------


def test_tiny_city_known_answer():
    net = omnifill.Network.from_files(DATA / "tiny_stores.csv", DATA / "tiny_inventory.csv")
    orders = omnifill.OrderBatch.from_file(DATA / "tiny_orders.csv", net)
    c = net.candidates(orders.lat, orders.lon, orders.promise_min)
    ids = lambda i: [net.store_ids[s] for s in c.of(i)[0]]
    assert ids(0) == ["near", "mid"]  # far is 67.8 min away; the warehouse and non-deliverer never count
    assert ids(1) == ["far"]
    assert ids(2) == []
    assert np.allclose(c.of(0)[1], [10.989, 13.900], atol=0.01)
    assert np.allclose(c.of(1)[1], [10.578], atol=0.01)
    cov = net.coverage(c, orders)
    assert [cov.mask(0, 0), cov.mask(0, 1)] == [0b01, 0b10]  # near: milk only (bread all safety stock)
    assert cov.mask(1, 0) == 0b1
    assert cov.full.tolist() == [False, True, False]


# --- random cities (hypothesis) --------------------------------------------------------------


@st.composite
def cities(draw):
    lat0 = draw(st.floats(-85, 85))
    lon0 = draw(st.floats(-180, 180))
    n = draw(st.integers(1, 120))
    m = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    spread = draw(st.sampled_from([300.0, 3_000.0, 15_000.0, 40_000.0]))
    rng = np.random.default_rng(seed)
    slat, slon = disc(rng, lat0, lon0, n, spread)
    olat, olon = disc(rng, lat0, lon0, m, 1.3 * spread)
    if draw(st.booleans()):  # duplicate coordinates
        k = rng.integers(0, n, size=n // 3)
        slat[: len(k)], slon[: len(k)] = slat[k], slon[k]
    handling = rng.choice([5.0, 10.0, 12.5], n)
    limit = rng.choice([20.0, 30.0, 45.0, 60.0, 90.0], m)
    k = draw(st.one_of(st.none(), st.integers(0, 8)))
    return slat, slon, handling, olat, olon, limit, k


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cities())
def test_candidates_match_reference_on_random_cities(city):
    slat, slon, handling, olat, olon, limit, k = city
    net = net_of(slat, slon, handling)
    got = net.candidates(olat, olon, limit, max_candidates=k)
    assert_same_candidates(triple(got), ref_of(net, olat, olon, limit, k))


# --- edge cases --------------------------------------------------------------------------------


def test_store_exactly_at_the_limit_is_in_and_just_beyond_is_out():
    lat0, lon0 = 31.23, 121.47
    reach = (30.0 - 10.0) * SPEED / CIRC  # metres of great circle for a 30-minute ETA
    bearings = np.arange(0, 360, 15.0)
    in_lat, in_lon = destination(lat0, lon0, bearings, reach)
    out_lat, out_lon = destination(lat0, lon0, bearings, reach + 0.05)  # 0.26 ms of ETA beyond
    net = net_of(np.concatenate([in_lat, out_lat]), np.concatenate([in_lon, out_lon]))
    c = net.candidates([lat0], [lon0], 30.0)
    assert sorted(c.store_index.tolist()) == list(range(len(bearings)))
    assert np.allclose(c.eta_min, 30.0, atol=1e-9)
    assert_same_candidates(triple(c), ref_of(net, [lat0], [lon0], 30.0))


def test_duplicate_coordinates_tie_on_store_index():
    net = net_of([31.2] * 5 + [31.2001], [121.4] * 5 + [121.4])
    c = net.candidates([31.2005], [121.4], 30.0)
    assert c.store_index.tolist() == [5, 0, 1, 2, 3, 4]
    assert len(set(c.eta_min[1:].tolist())) == 1


def test_orders_far_from_every_store_get_nothing():
    net = net_of([31.2, 31.21], [121.4, 121.41])
    c = net.candidates([40.0, -31.2, 31.2], [121.4, -58.6, 121.4], 60.0)
    assert c.counts.tolist() == [0, 0, 2]


@pytest.mark.parametrize("lat0,lon0", [(89.95, 0.0), (-89.9, 45.0), (78.2, 15.6), (0.0, 179.999), (-16.5, -179.99),
                                       (65.0, 180.0), (0.0, 0.0)])
def test_high_latitudes_poles_and_the_antimeridian(lat0, lon0):
    rng = np.random.default_rng(7)
    slat, slon = disc(rng, lat0, lon0, 300, 12_000)
    olat, olon = disc(rng, lat0, lon0, 200, 12_000)
    net = net_of(slat, slon)
    for limit in (30.0, 60.0):
        got = triple(net.candidates(olat, olon, limit))
        ref = ref_of(net, olat, olon, limit)
        assert got[0][-1] > 0
        assert_same_candidates(got, ref)


def test_antimeridian_neighbours_are_found():
    net = net_of([0.0, 0.0, 0.0], [179.995, -179.995, 170.0])
    c = net.candidates([0.0], [180.0], 30.0)
    assert sorted(c.store_index.tolist()) == [0, 1]


def test_max_candidates_keeps_the_nearest():
    rng = np.random.default_rng(3)
    slat, slon = disc(rng, 31.2, 121.4, 500, 5000)
    net = net_of(slat, slon)
    full = net.candidates([31.2], [121.4], 30.0)
    top = net.candidates([31.2], [121.4], 30.0, max_candidates=7)
    assert top.store_index.tolist() == full.store_index[:7].tolist()
    assert net.candidates([31.2], [121.4], 30.0, max_candidates=0).counts.tolist() == [0]


def test_per_order_limits_and_an_empty_batch():
    net = net_of([31.2, 31.25], [121.4, 121.4])
    c = net.candidates([31.2, 31.2], [121.4, 121.4], [15.0, 60.0])
    assert c.counts.tolist() == [1, 2]
    e = net.candidates([], [], 30.0)
    assert len(e) == 0 and e.indptr.tolist() == [0]


def test_bad_query_arguments_are_named():
    net = net_of([31.2], [121.4])
    with pytest.raises(ValueError, match="lat"):
        net.candidates([np.nan], [121.4], 30.0)
    with pytest.raises(ValueError, match="lon"):
        net.candidates([31.2], [200.0], 30.0)
    with pytest.raises(ValueError, match="max_eta_min"):
        net.candidates([31.2], [121.4], np.nan)
    with pytest.raises(ValueError, match="max_candidates"):
        net.candidates([31.2], [121.4], 30.0, max_candidates=-1)


# --- zones ---------------------------------------------------------------------------------------


def test_zone_replaces_the_radius_for_its_tier_only():
    # store 0 has a 30-minute zone: a box far to the north (ETA there > 30) not covering the
    # store's own surroundings; store 1 has no zone
    net = net_of([31.20, 31.20], [121.40, 121.41])
    box = shapely.box(121.39, 31.30, 121.42, 31.33)
    net.set_zone("S0", 30, box)
    olat = np.array([31.31, 31.20, 31.20, 31.31])
    olon = np.array([121.40, 121.40, 121.40, 121.40])
    limit = np.array([30.0, 30.0, 60.0, 60.0])
    c = net.candidates(olat, olon, limit)
    assert c.of(0)[0].tolist() == [0]  # in the zone: in, though its ETA is over 30
    assert c.of(0)[1][0] > 30.0
    assert c.of(1)[0].tolist() == [1]  # 30-minute order outside the zone: store 0 is out
    assert sorted(c.of(2)[0].tolist()) == [0, 1]  # 60-minute order: radius rule for both
    pairs = [(0, 0)]
    assert_same_candidates(triple(c), ref_of(net, olat, olon, limit, zone_pairs=pairs))
    assert net.remove_zone("S0", 30)
    assert sorted(net.candidates(olat[1:2], olon[1:2], 30.0).store_index.tolist()) == [0, 1]


def test_zone_index_updates_one_store_without_rebuild():
    from omnifill.geo import ZoneIndex

    z = ZoneIndex()
    z.set_zone(3, 30, shapely.box(0, 0, 1, 1))
    z.set_zone(5, 60, shapely.box(0, 0, 2, 2))
    o, s = z.containing([0.5, 1.5], [0.5, 1.5], [1, 2])
    assert list(zip(o.tolist(), s.tolist())) == [(0, 3), (1, 5)]
    z.set_zone(3, 30, shapely.box(10, 10, 11, 11))  # replace
    o, s = z.containing([0.5], [0.5], [1])
    assert o.size == 0
    assert z.remove_zone(5, 60) and not z.remove_zone(5, 60)
    assert len(z) == 1


def test_zone_files_load_and_apply(tmp_path):
    import json

    net0 = net_of([31.20, 31.20], [121.40, 121.41])
    stores = tmp_path / "stores.csv"
    stores.write_text("store_id,lat,lon\nS0,31.20,121.40\nS1,31.20,121.41\n")
    zones = tmp_path / "zones.geojson"
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"store_id": "S0", "promise_min": 30},
         "geometry": shapely.geometry.mapping(shapely.box(121.39, 31.30, 121.42, 31.33))}]}))
    net = omnifill.Network.from_files(stores, None, zones)
    assert net.candidates([31.31], [121.40], 30.0).store_index.tolist() == [0]
    assert net0.candidates([31.31], [121.40], 30.0).store_index.tolist() == []


# --- threads, multiple cities ------------------------------------------------------------------


def test_two_threads_share_one_network():
    rng = np.random.default_rng(11)
    slat, slon = disc(rng, 31.2, 121.4, 2000, 15000)
    olat, olon = disc(rng, 31.2, 121.4, 20000, 15000)
    net = net_of(slat, slon)
    want = net.candidates(olat, olon, 30.0)
    out = {}

    def work(k):
        out[k] = net.candidates(olat, olon, 30.0)

    ts = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for k in range(2):
        assert identical(triple(out[k]), triple(want))


def test_orders_see_only_their_own_citys_stores():
    net = omnifill.Network.from_arrays(["a1", "a2", "b1"], [31.2, 31.21, 31.205], [121.4, 121.4, 121.4],
                                       city=["A", "A", "B"])
    c = net.candidates([31.2, 31.2, 31.2], [121.4, 121.4, 121.4], 30.0, city=["A", "B", None])
    assert c.of(0)[0].tolist() == [0, 1]
    assert c.of(1)[0].tolist() == [2]
    assert c.of(2)[0].tolist() == [0, 1]  # nearest store a1 is in city A
    with pytest.raises(ValueError, match="no stores"):
        net.candidates([31.2], [121.4], 30.0, city=["C"])


# --- coverage ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 64, 65, 130]))
def test_coverage_matches_reference(seed, max_lines):
    rng = np.random.default_rng(seed)
    n_stores, n_skus, n_orders = 12, 40, 15
    inv_rows = [(s, k, int(rng.integers(0, 4)), int(rng.integers(0, 2)))
                for s in range(n_stores) for k in range(n_skus) if rng.random() < 0.6]
    net = omnifill.Network.from_arrays(
        [f"S{i}" for i in range(n_stores)], 31.2 + rng.uniform(0, 0.01, n_stores),
        121.4 + rng.uniform(0, 0.01, n_stores),
        inventory={"store_id": [f"S{r[0]}" for r in inv_rows], "sku": [f"K{r[1]}" for r in inv_rows],
                   "on_hand": [r[2] for r in inv_rows], "safety_stock": [r[3] for r in inv_rows]})
    nl = rng.integers(1, max_lines + 1, n_orders)
    skus = [f"K{k}" if k < n_skus else "UNKNOWN" for k in rng.integers(0, n_skus + 2, nl.sum())]
    qty = rng.integers(1, 3, nl.sum())
    cols = {"order_id": np.repeat([f"o{i}" for i in range(n_orders)], nl).tolist(),
            "lat": [31.205] * int(nl.sum()), "lon": [121.405] * int(nl.sum()), "sku": skus, "qty": qty.tolist()}
    import omnifill.io as io
    from omnifill.io import OrdersTable, Problems, Table, load_orders  # noqa: F401

    t = io.Table("<orders>", {k: list(map(str, v)) for k, v in cols.items()}, int(nl.sum()))
    probs = io.Problems()
    orders = omnifill.OrderBatch.from_table(io.load_orders_table(t, net.store_index_map(), probs))
    assert not probs
    cand = net.candidates(orders.lat, orders.lon, 60.0)
    cov = net.coverage(cand, orders)
    codes = net.inventory.codes(orders.line_sku)
    avail = net.inventory.available
    stock = {}
    for s in range(n_stores):
        for j in range(net.inventory.indptr[s], net.inventory.indptr[s + 1]):
            stock[(s, int(net.inventory.sku_code[j]))] = int(avail[j])
    masks, full = coverage_reference(cand.indptr, cand.store_index, orders.line_indptr, codes, orders.line_qty, stock)
    got = [cov.mask(i, k) for i in range(len(orders)) for k in range(cand.counts[i])]
    assert got == masks
    assert cov.full.tolist() == full.tolist()
    if max_lines <= 64:
        assert cov.first_words().tolist() == masks


def test_kernel_checks_its_arguments():
    with pytest.raises(ValueError, match="cell"):
        _core.GridIndex([0.0], [0.0], [10.0], [0], [0], 1, [0.0], [0.0], [10.0], -1.0)
    with pytest.raises(ValueError, match="store_index"):
        _core.GridIndex([0.0], [0.0], [10.0], [3], [0], 1, [0.0], [0.0], [10.0], 0.001)
    with pytest.raises(ValueError, match="cand_indptr"):
        _core.coverage([0, 0], [], [0], [], [], [0, 0], [], [])


def test_haversine_reference_agrees_with_kernel_distance():
    rng = np.random.default_rng(5)
    lat1, lon1 = rng.uniform(-80, 80, 1000), rng.uniform(-180, 180, 1000)
    lat2, lon2 = destination(lat1, lon1, rng.uniform(0, 360, 1000), rng.uniform(0, 50_000, 1000))
    u, v = _core.unit_vectors(lat1, lon1), _core.unit_vectors(lat2, lon2)
    chord = np.linalg.norm(u - v, axis=1)
    d_chord = 2 * omnifill.geo.EARTH_RADIUS_M * np.arcsin(chord / 2)
    assert np.allclose(d_chord, haversine_m(lat1, lon1, lat2, lon2), rtol=0, atol=1e-6)


def test_continental_network_and_long_limits_use_exact_distances():
    # chords beyond 255 km leave the polynomial asin's range: the kernel takes libm's asin there
    rng = np.random.default_rng(2)
    slat, slon = disc(rng, 40.0, 100.0, 400, 2_500_000)
    olat, olon = disc(rng, 40.0, 100.0, 60, 2_500_000)
    net = net_of(slat, slon)
    limit = rng.choice([60.0, 2_000.0, 20_000.0, 200_000.0], 60)
    got = triple(net.candidates(olat, olon, limit))
    assert (np.diff(got[0]) == 400).any()  # some limits reach every store
    assert_same_candidates(got, ref_of(net, olat, olon, limit))


def test_zone_changes_apply_to_a_grid_already_built():
    net = net_of([31.20, 31.20], [121.40, 121.41])
    assert sorted(net.candidates([31.20], [121.40], 30.0).store_index.tolist()) == [0, 1]  # grid built
    grids = dict(net._grids)
    net.set_zone("S1", 30, shapely.box(121.5, 31.5, 121.6, 31.6))  # S1's 30-minute zone is elsewhere
    assert net.candidates([31.20], [121.40], 30.0).store_index.tolist() == [0]
    assert net.candidates([31.55], [121.55], 30.0).store_index.tolist() == [1]
    assert sorted(net.candidates([31.20], [121.40], 60.0).store_index.tolist()) == [0, 1]  # other tier
    net.remove_zone("S1", 30)
    assert sorted(net.candidates([31.20], [121.40], 30.0).store_index.tolist()) == [0, 1]
    assert all(net._grids[k] is g for k, g in grids.items())  # updated in place, not rebuilt


def test_workers_split_a_batch_without_changing_the_answer():
    rng = np.random.default_rng(12)
    slat, slon = disc(rng, 31.2, 121.4, 1500, 12000)
    olat, olon = disc(rng, 31.2, 121.4, 20000, 12000)
    net = net_of(slat, slon)
    one = net.candidates(olat, olon, 30.0)
    for w in (2, 3, -1):
        many = net.candidates(olat, olon, 30.0, workers=w)
        assert identical(triple(one), triple(many))
    with pytest.raises(ValueError, match="workers"):
        net.candidates(olat, olon, 30.0, workers=0)


@pytest.mark.parametrize("expected", [0.0, 1.0, 5000.0])
def test_output_grows_from_heap_to_mapped_pages_without_loss(expected):
    # the first reservation follows expected_per_order; a bad guess only costs regrowth
    rng = np.random.default_rng(8)
    slat, slon = disc(rng, 31.2, 121.4, 3000, 8000)
    olat, olon = disc(rng, 31.2, 121.4, 4000, 8000)
    net = net_of(slat, slon)
    want = net.candidates(olat, olon, 30.0)
    assert want.indptr[-1] * 8 > 2 * (1 << 21)  # the ETA output leaves the heap
    g = net.grid(net.cities[0])
    ip, si, eta = g.query(olat, olon, np.full(len(olat), 30.0), travel=net.travel.kernel,
                          expected_per_order=expected)
    assert identical((ip, si, eta), triple(want))


def test_candidates_one_is_the_batch_answer_for_one_order():
    rng = np.random.default_rng(21)
    slat, slon = disc(rng, 31.2, 121.4, 800, 10000)
    olat, olon = disc(rng, 31.2, 121.4, 300, 11000)
    net = net_of(slat, slon, rng.choice([8.0, 10.0], 800))
    limits = rng.choice([20.0, 30.0, 60.0], 300)
    batch = net.candidates(olat, olon, limits, max_candidates=None)
    for i in range(300):
        s, e = net.candidates_one(olat[i], olon[i], limits[i])
        assert identical((s, e), batch.of(i))
    s, _ = net.candidates_one(olat[0], olon[0], 60.0, max_candidates=3)
    assert s.tolist() == net.candidates(olat[:1], olon[:1], 60.0).store_index[:3].tolist()
    with pytest.raises(ValueError, match="coordinate"):
        net.candidates_one(95.0, 0.0, 30.0)
    with pytest.raises(ValueError, match="NaN"):
        net.candidates_one(31.2, 121.4, np.nan)
    # with zones it takes the batch path, and agrees with it
    net.set_zone("S0", 30, shapely.box(121.3, 31.1, 121.5, 31.3))
    s, e = net.candidates_one(olat[5], olon[5], 30.0)
    b = net.candidates(olat[5:6], olon[5:6], 30.0)
    assert identical((s, e), (b.store_index, b.eta_min))


def test_zones_follow_the_city_the_order_names():
    # the order stands nearest to city A's store but says it belongs to city B, whose store
    # b1 has a 30-minute zone over it: b1 is its candidate, A's store is not
    net = omnifill.Network.from_arrays(["a1", "b1"], [31.20, 31.40], [121.40, 121.40], city=["A", "B"])
    net.set_zone("b1", 30, shapely.box(121.35, 31.15, 121.45, 31.25))
    c = net.candidates([31.20, 31.20], [121.40, 121.40], 30.0, city=["B", None])
    assert c.of(0)[0].tolist() == [1]
    assert c.of(1)[0].tolist() == [0]  # nearest city A: the zone of B's store does not apply


def test_the_stubs_cover_every_public_kernel_function_and_method():
    # _core.pyi is the kernel's typed surface: a def added to _core.pyx without its stub fails
    from pathlib import Path

    from omnifill import _core

    stub = (Path(_core.__file__).parent / "_core.pyi").read_text()
    for name in dir(_core):
        obj = getattr(_core, name)
        if name.startswith("_") or name in ("np",) or getattr(obj, "__module__", "omnifill._core") != "omnifill._core":
            continue
        if isinstance(obj, type):
            assert f"class {name}" in stub, name
            for m in dir(obj):
                if not m.startswith("_") and callable(getattr(obj, m)):
                    assert f"def {m}(" in stub, f"{name}.{m}"
        elif callable(obj):
            assert f"def {name}(" in stub, name


def test_zone_lookups_from_many_threads_and_a_pickled_index_answer_as_one_thread():
    # libspatialindex's tree is not safe to query from two threads at once (a reroute with
    # zones holding many points crashed when the tree was freed); big overlapping zones and
    # four threads querying together must give one thread's answer and leave the tree whole
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    import shapely

    from omnifill.geo import ZoneIndex

    rng = np.random.default_rng(3)
    zi = ZoneIndex()
    for s in range(60):
        for tier in (30, 60):
            c = rng.uniform([121.3, 31.1], [121.6, 31.3])
            zi.set_zone(s, tier, shapely.Point(*c).buffer(0.05 if tier == 30 else 0.15, quad_segs=32))
    lat = rng.uniform(31.0, 31.4, 4000)
    lon = rng.uniform(121.2, 121.7, 4000)
    tb = np.full(4000, 3, np.uint8)
    again = pickle.loads(pickle.dumps(zi))  # its own tree and polygons, never used yet
    # the first look-ups from four threads at once (the polygons' point-in-polygon indexes
    # are built on first use), then one thread on the pickled copy
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda _, z=zi: z.containing(lat, lon, tb), range(16)))
    want = again.containing(lat, lon, tb)
    assert len(want[0]) > 50_000  # many zones hold each point
    for o, s in got:
        assert o.tolist() == want[0].tolist() and s.tolist() == want[1].tolist()
    del zi, again  # freeing the trees must not crash
