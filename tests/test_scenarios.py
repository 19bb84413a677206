"""The bundled demo city is exactly what the seeded generator makes."""

import filecmp

from omnifill.scenarios import DEMO, demo_paths, synthetic_city, write_city


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
