"""Synthetic cities: clustered stores and demand, Zipf SKU popularity, per-store assortments.

Every parameter is an argument with a documented default, and every draw comes from one
``numpy.random.Generator`` seeded by ``seed``, so a city is a pure function of its arguments.
The bundled demo city (``omnifill/data/demo``) is ``synthetic_city(**DEMO)`` written to files;
``python -m omnifill.scenarios DIR`` writes it again. This module makes data; it never routes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geo import EARTH_RADIUS_M
from .io import write_csv


@dataclass
class City:
    stores: dict[str, list]  # DESIGN stores columns
    inventory: dict[str, list]  # DESIGN inventory columns
    orders: dict[str, list]  # DESIGN orders columns, one row per line


def clustered_points(rng, n, centre, radius_m, n_clusters, cluster_sd_m, spread=0.25):
    """n points around ``centre`` (lat, lon): ``1 - spread`` of them in Gaussian clusters
    (centres uniform in the disc of ``radius_m``), the rest uniform in the disc."""
    lat0, lon0 = centre
    n_cl = rng.binomial(n, 1.0 - spread)
    ang = rng.uniform(0, 2 * np.pi, n_clusters)
    rad = radius_m * np.sqrt(rng.uniform(0, 1, n_clusters))
    cx, cy = rad * np.cos(ang), rad * np.sin(ang)
    weight = rng.pareto(1.5, n_clusters) + 1.0
    which = rng.choice(n_clusters, size=n_cl, p=weight / weight.sum())
    n_un = n - n_cl
    t = rng.uniform(0, 2 * np.pi, n_un)
    r = radius_m * np.sqrt(rng.uniform(0, 1, n_un))
    x = np.concatenate([cx[which] + rng.normal(0, cluster_sd_m, n_cl), r * np.cos(t)])
    y = np.concatenate([cy[which] + rng.normal(0, cluster_sd_m, n_cl), r * np.sin(t)])
    perm = rng.permutation(n)
    x, y = x[perm], y[perm]
    lat = lat0 + np.degrees(y / EARTH_RADIUS_M)
    lon = lon0 + np.degrees(x / (EARTH_RADIUS_M * np.cos(np.radians(lat0))))
    return lat, lon


def synthetic_city(
    *,
    seed: int = 0,
    n_stores: int = 60,
    n_orders: int = 2000,
    n_skus: int = 800,
    centre: tuple[float, float] = (31.2304, 121.4737),
    radius_m: float = 15_000.0,
    n_clusters: int = 12,
    cluster_sd_m: float = 2_500.0,
    n_warehouses: int = 1,
    zipf_a: float = 1.1,
    assortment: float = 0.35,
    mean_stock: float = 6.0,
    mean_lines: float = 2.5,
    promise_mix: tuple[float, float] = (0.4, 0.6),
    city: str = "demo",
) -> City:
    """A city of ``n_stores`` stores (plus ``n_warehouses`` warehouses holding every SKU) and
    ``n_orders`` orders.

    Stores and customers cluster around the same ``n_clusters`` centres (Gaussian, sd
    ``cluster_sd_m``) within ``radius_m`` of ``centre``. SKU popularity is Zipf(``zipf_a``);
    each store stocks a popularity-weighted ``assortment`` share of the SKUs with Poisson
    (``mean_stock`` scaled by popularity) units. Orders have 1 + Poisson(``mean_lines`` - 1)
    distinct lines of popularity-drawn SKUs, qty mostly 1; ``promise_mix`` is the share of
    30- and 60-minute promises.
    """
    rng = np.random.default_rng(seed)
    slat, slon = clustered_points(rng, n_stores, centre, radius_m, n_clusters, cluster_sd_m)
    ids = [f"S{i:05d}" for i in range(n_stores)] + [f"W{i:02d}" for i in range(n_warehouses)]
    wlat = np.full(n_warehouses, centre[0] + 0.15)
    wlon = np.full(n_warehouses, centre[1] - 0.15)
    stores = {
        "store_id": ids,
        "lat": [round(v, 6) for v in np.concatenate([slat, wlat])],
        "lon": [round(v, 6) for v in np.concatenate([slon, wlon])],
        "city": [city] * len(ids),
        "kind": ["store"] * n_stores + ["warehouse"] * n_warehouses,
        "handling_min": [int(v) for v in rng.choice([8, 10, 10, 10, 12], n_stores)] + [30] * n_warehouses,
    }
    skus = [f"SKU{i:05d}" for i in range(n_skus)]
    pop = 1.0 / np.arange(1, n_skus + 1) ** zipf_a
    pop /= pop.sum()
    inv = {"store_id": [], "sku": [], "on_hand": [], "safety_stock": []}
    k = max(1, int(assortment * n_skus))
    for s in range(n_stores):
        chosen = np.sort(rng.choice(n_skus, size=k, replace=False, p=pop))
        depth = rng.poisson(mean_stock * (0.5 + n_skus * pop[chosen] / 4).clip(max=5))
        for c, d in zip(chosen, depth):
            inv["store_id"].append(ids[s])
            inv["sku"].append(skus[c])
            inv["on_hand"].append(int(d))
            inv["safety_stock"].append(int(d > 4))
    for w in range(n_warehouses):
        for c in range(n_skus):
            inv["store_id"].append(ids[n_stores + w])
            inv["sku"].append(skus[c])
            inv["on_hand"].append(500)
            inv["safety_stock"].append(0)
    olat, olon = clustered_points(rng, n_orders, centre, radius_m * 1.1, n_clusters, cluster_sd_m * 1.2)
    orders = {"order_id": [], "lat": [], "lon": [], "sku": [], "qty": [], "promise_min": []}
    promise = rng.choice([30, 60], size=n_orders, p=np.asarray(promise_mix) / sum(promise_mix))
    for o in range(n_orders):
        nl = min(n_skus, 1 + rng.poisson(mean_lines - 1))
        lines = rng.choice(n_skus, size=nl, replace=False, p=pop)
        for c in lines:
            orders["order_id"].append(f"O{o:06d}")
            orders["lat"].append(round(float(olat[o]), 6))
            orders["lon"].append(round(float(olon[o]), 6))
            orders["sku"].append(skus[c])
            orders["qty"].append(int(1 + rng.poisson(0.3)))
            orders["promise_min"].append(int(promise[o]))
    return City(stores, inventory=inv, orders=orders)


def write_city(city: City, out_dir) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("stores", "inventory", "orders")}
    for name, p in paths.items():
        write_csv(p, getattr(city, name))
    return paths


DEMO = dict(seed=20261123, n_stores=60, n_orders=2000, n_skus=800, city="demo")
DEMO_DIR = Path(__file__).parent / "data" / "demo"


def demo_paths() -> dict[str, Path]:
    return {name: DEMO_DIR / f"{name}.csv" for name in ("stores", "inventory", "orders")}


if __name__ == "__main__":  # python -m omnifill.scenarios [DIR]: write the demo city
    write_city(synthetic_city(**DEMO), sys.argv[1] if len(sys.argv) > 1 else DEMO_DIR)
