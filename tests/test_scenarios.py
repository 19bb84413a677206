"""The bundled demo city is exactly what the seeded generator makes; `omnifill generate`
writes the day bench would build, whole or not at all."""

import filecmp
import json

import numpy as np
import pytest

from omnifill import bench
from omnifill.cli import main
from omnifill.io import new_directory
from omnifill.scenarios import (
    DEMO,
    demo_paths,
    synthetic_city,
    synthetic_day,
    write_city,
)


def test_bundled_demo_city_regenerates_identically(tmp_path):
    written = write_city(synthetic_city(**DEMO), tmp_path)
    for name, path in demo_paths().items():
        assert filecmp.cmp(written[name], path, shallow=False), f"{name} differs from the generator's output"


def test_generator_is_seeded():
    a = synthetic_city(seed=3, n_stores=10, n_orders=20, n_skus=30)
    b = synthetic_city(seed=3, n_stores=10, n_orders=20, n_skus=30)
    c = synthetic_city(seed=4, n_stores=10, n_orders=20, n_skus=30)
    assert a.orders == b.orders and a.stores == b.stores
    assert a.orders != c.orders


# --- omnifill generate city | shanghai -----------------------------------------------------------

SMALL = ["--stores", "40", "--orders", "250", "--skus", "150", "--seed", "5"]


def _day_kpis(sc):
    net = bench.network_of(sc)
    batch, arrival = bench.day_orders(sc, net)
    k = bench.simulate(net, batch, arrival, policy="online").kpis()
    k.pop("orders_per_second", None)
    k.pop("wall_s", None)
    return k


def test_generate_city_writes_the_day_bench_would_have_built(tmp_path):
    out = tmp_path / "city"
    assert main(["generate", "city", "--out", str(out), *SMALL]) == 0
    made = json.loads((out / "scenario.json").read_text())
    assert made["made_by"]["seed"] == 5 and made["stores"] == 40 and made["orders"] == 250
    from_files = bench.load_scenario(str(out))
    in_memory = synthetic_day(seed=5, n_stores=40, n_orders=250, n_skus=150, city="city",
                              **{k: v for k, v in bench.CITY.items() if k not in ("n_stores", "n_orders", "n_skus")})
    assert from_files.orders["order_id"] == in_memory.orders["order_id"]
    assert np.allclose(from_files.orders["arrival_min"], in_memory.orders["arrival_min"])
    assert _day_kpis(from_files) == _day_kpis(bench._from_city("city", in_memory, None))


@pytest.mark.parametrize("bad", [["--assortment", "0"], ["--stores", "0"], ["--promise-mix", "0,0"],
                                 ["--centre", "31.2"], ["--mean-lines", "0.5"]])
def test_generate_city_refuses_bad_parameters_and_writes_nothing(tmp_path, bad):
    out = tmp_path / "city"
    try:
        rc = main(["generate", "city", "--out", str(out), *SMALL, *bad])
    except SystemExit as e:  # argparse's own refusal
        rc = e.code
    assert rc == 2
    assert list(tmp_path.iterdir()) == []


def test_generate_refuses_an_existing_directory_and_leaves_it_alone(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["generate", "city", "--out", str(tmp_path), *SMALL]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_a_writer_that_fails_leaves_no_directory(tmp_path):
    with pytest.raises(RuntimeError), new_directory(tmp_path / "out") as d:
        (d / "half.csv").write_text("a,b\n")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_generate_shanghai_writes_the_real_day(tmp_path, shared_data):
    out = tmp_path / "sh"
    assert main(["generate", "shanghai", "--data", str(shared_data), "--out", str(out), "--skus", "500"]) == 0
    sc = bench.load_scenario(str(out))
    assert len(set(sc.orders["order_id"])) == 3417  # the real O2O orders
    assert sum(k == "store" for k in sc.stores["kind"]) == 613  # the real shops
    at = np.asarray(sc.orders["arrival_min"])
    assert at.min() >= 11 * 60 + 30 and at.max() < 18 * 60 + 30  # their real pickup times


def test_the_dense_city_sits_on_the_real_shops_and_is_dense(tmp_path, shared_data):
    from omnifill import Network
    from omnifill.scenarios import dense_city, read_shanghai

    kw = dict(seed=3, n_stores=400, n_skus=300, n_orders=500, assortment=0.2)
    a, b = dense_city(shared_data, **kw), dense_city(shared_data, **kw)
    assert a.orders == b.orders and a.inventory == b.inventory  # seeded
    kinds = a.stores["kind"]
    assert kinds.count("store") == 400 and kinds.count("warehouse") == 1
    # every store within a few jitters of a real shop
    sh = read_shanghai(shared_data)
    from omnifill.geo import haversine_m

    slat, slon = np.asarray(a.stores["lat"][:400]), np.asarray(a.stores["lon"][:400])
    d = haversine_m(slat[:, None], slon[:, None], sh["shop_lat"][None, :], sh["shop_lon"][None, :]).min(axis=1)
    assert np.median(d) < 1500 and d.max() < 6 * 800
    # each store stocks a fifth of the SKUs, 0-5 units; the warehouse every SKU, 200 units
    inv_st = np.asarray(a.inventory["store_id"])
    assert (inv_st == "D00000").sum() == 60 and (inv_st == "WH-D").sum() == 300
    units = np.asarray(a.inventory["on_hand"])[inv_st != "WH-D"]
    assert units.min() == 0 and units.max() == 5
    # dense: a typical order has many stores within its reach
    out = tmp_path / "dense"
    assert main(["generate", "dense", "--data", str(shared_data), "--out", str(out), "--stores", "400",
                 "--skus", "300", "--orders", "500", "--seed", "3"]) == 0
    net = Network.from_files(out / "stores.csv", out / "inventory.csv")
    import csv

    with open(out / "orders.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    olat = np.array([float(r["lat"]) for r in rows])
    olon = np.array([float(r["lon"]) for r in rows])
    counts = net.candidates(olat, olon, 60.0).counts
    assert np.median(counts) > 100


def test_the_chain_backlog_is_a_real_chain_with_thin_contended_stock(shared_data):
    from omnifill import Config, Network, OrderBatch
    from omnifill.planner import plan
    from omnifill.scenarios import chain_city

    a, b = chain_city(shared_data, n_orders=120, seed=4), chain_city(shared_data, n_orders=120, seed=4)
    assert a.orders == b.orders and a.inventory == b.inventory  # seeded
    assert len(a.stores["store_id"]) == 40 and set(a.stores["kind"]) == {"store"}  # Watsons' 40, no warehouse
    inv_st = np.asarray(a.inventory["store_id"])
    assert (inv_st == "C000").sum() == 18  # 30% of 60 SKUs
    units = np.asarray(a.inventory["on_hand"])
    assert units.min() == 0 and units.max() == 3
    with pytest.raises(ValueError, match="no row has brand"):
        chain_city(shared_data, brand="no such brand")
    # contended: the orders compete, so the plan has components to solve
    cfg = Config().with_(limits={"max_transfers": 0, "max_packages": 2})
    net = Network.from_tables(a.stores, a.inventory, config=cfg)
    p = plan(net, OrderBatch.from_tables(a.orders, net), cfg, time_limit_s=2)
    assert p.summary["components"] >= 1 and p.summary["orders_in_solver"] >= 30
