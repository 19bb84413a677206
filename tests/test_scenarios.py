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
