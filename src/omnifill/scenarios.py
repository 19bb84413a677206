"""Synthetic cities: clustered stores and demand, Zipf SKU popularity, per-store assortments.

Every parameter is an argument with a documented default, and every draw comes from one
``numpy.random.Generator`` seeded by ``seed``, so a city is a pure function of its arguments.
The bundled demo city (``omnifill/data/demo``) is ``synthetic_city(**DEMO)`` written to files;
``python -m omnifill.scenarios DIR`` writes it again. This module makes data; it never routes.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .geo import EARTH_RADIUS_M
from .io import new_directory, write_csv


@dataclass
class City:
    stores: dict[str, list]  # the stores file's columns
    inventory: dict[str, list]  # the inventory file's columns
    orders: dict[str, list]  # the orders file's columns, one row per line


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
    inv: dict[str, list] = {"store_id": [], "sku": [], "on_hand": [], "safety_stock": []}
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
    orders: dict[str, list] = {"order_id": [], "lat": [], "lon": [], "sku": [], "qty": [], "promise_min": []}
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


SHANGHAI_DIR = "shanghai_cainiao_lastmile_2016"
BASKETS_DIR = "completejourney_baskets"


def read_shanghai(data_dir) -> dict[str, np.ndarray]:
    """The real Shanghai shops and customer points (Cainiao, ``data_dir/shanghai_cainiao_lastmile_2016``):
    shop_id, shop_lat, shop_lon, spot_lat, spot_lon."""
    import csv

    d = Path(data_dir) / SHANGHAI_DIR
    with open(d / "new_3.csv", newline="") as fh:
        shops = list(csv.DictReader(fh))
    with open(d / "new_2.csv", newline="") as fh:
        spots = list(csv.DictReader(fh))
    return {"shop_id": np.array([r["Shop_id"] for r in shops], dtype=object),
            "shop_lat": np.array([float(r["Lat"]) for r in shops]),
            "shop_lon": np.array([float(r["Lng"]) for r in shops]),
            "spot_lat": np.array([float(r["Lat"]) for r in spots]),
            "spot_lon": np.array([float(r["Lng"]) for r in spots])}


def read_baskets(data_dir) -> tuple[np.ndarray, np.ndarray]:
    """From the Complete Journey baskets (``data_dir/completejourney_baskets``): the number of
    distinct products per basket, and the line count of every product, most popular first
    (fuel, whose quantities are litres, left out)."""
    import csv
    import gzip

    d = Path(data_dir) / BASKETS_DIR
    with gzip.open(d / "products_weeks1-2.csv.gz", "rt", newline="") as fh:
        fuel = {r["product_id"] for r in csv.DictReader(fh) if r["department"] in ("KIOSK-GAS", "MISC SALES TRAN")}
    baskets: dict[str, set] = {}
    counts: dict[str, int] = {}
    with gzip.open(d / "transactions_weeks1-2.csv.gz", "rt", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["product_id"] in fuel:
                continue
            baskets.setdefault(r["basket_id"], set()).add(r["product_id"])
            counts[r["product_id"]] = counts.get(r["product_id"], 0) + 1
    sizes = np.array([len(v) for v in baskets.values()], dtype=np.int64)
    return sizes, np.array(sorted(counts.values(), reverse=True), dtype=np.int64)


def _shanghai_network(sh: dict, counts: np.ndarray, rng, *, n_skus: int = 5000, assortment: float = 0.5,
                      min_share: float = 0.05, mean_stock: float = 4.0,
                      warehouse: bool = True) -> tuple[dict, dict, np.ndarray, np.ndarray]:
    """``shanghai_city``'s stores and inventory (its docstring) from the shops ``sh`` and the
    product line counts ``counts``: (stores, inventory, SKU names, SKU popularity)."""
    n_skus = min(n_skus, len(counts))
    pop = counts[:n_skus].astype(np.float64)
    pop /= pop.sum()
    n_st = len(sh["shop_id"])
    ids = [str(x) for x in sh["shop_id"]]
    lat, lon = list(np.round(sh["shop_lat"], 6)), list(np.round(sh["shop_lon"], 6))
    kinds = ["store"] * n_st
    handling = [int(v) for v in rng.choice([8, 10, 10, 10, 12], n_st)]
    if warehouse:
        ids.append("WH-SH")
        lat.append(round(float(sh["shop_lat"].mean()), 6))
        lon.append(round(float(sh["shop_lon"].mean()), 6))
        kinds.append("warehouse")
        handling.append(30)
    stores = {"store_id": ids, "lat": lat, "lon": lon, "city": ["shanghai"] * len(ids), "kind": kinds,
              "handling_min": handling}
    skus = np.array([f"CJ{i:05d}" for i in range(n_skus)], dtype=object)
    root = np.sqrt(pop)
    lo_c, hi_c = 0.0, 1.0 / root.min()
    for _ in range(60):  # c such that the mean share is the assortment
        c = 0.5 * (lo_c + hi_c)
        lo_c, hi_c = (c, hi_c) if np.clip(c * root, min_share, 0.98).mean() < assortment else (lo_c, c)
    share = np.clip(c * root, min_share, 0.98)
    held = rng.random((n_st, n_skus)) < share
    st_i, sku_i = np.nonzero(held)
    depth = 1 + rng.poisson(mean_stock * np.clip(0.5 + n_skus * pop[sku_i] / 4, None, 6.0))
    inv = {"store_id": [ids[k] for k in st_i], "sku": skus[sku_i].tolist(), "on_hand": depth.tolist(),
           "safety_stock": [0] * len(st_i)}
    if warehouse:
        inv["store_id"] += ["WH-SH"] * n_skus
        inv["sku"] += skus.tolist()
        inv["on_hand"] += [10_000] * n_skus
        inv["safety_stock"] += [0] * n_skus
    return stores, inv, skus, pop


def shanghai_city(data_dir, *, seed: int = 0, n_skus: int = 5000, n_orders: int = 20_000,
                  assortment: float = 0.5, min_share: float = 0.05, mean_stock: float = 4.0,
                  promise_mix: tuple[float, float] = (0.3, 0.7), warehouse: bool = True,
                  lines: int | None = None) -> City:
    """The real Shanghai network: the 613 Cainiao shops as stores (handling 8-12 minutes),
    plus one warehouse at their centroid holding every SKU when ``warehouse``; ``n_orders``
    orders at the real customer points (drawn with replacement), promises 30 / 60 minutes
    in ``promise_mix``.

    SKU popularity is the line count of the ``n_skus`` most sold Complete Journey products
    (fuel left out); basket sizes are drawn from its baskets (distinct products per basket).
    A store stocks SKU k with probability c * sqrt(popularity), clipped to [``min_share``,
    0.98], with c set so that a store carries ``assortment`` of the SKUs on average: the
    popular ones nearly everywhere, every SKU in about ``min_share`` of the stores at least.
    Units: 1 + Poisson(``mean_stock`` x a popularity factor of 0.5 to 6). ``lines``: every
    basket that many distinct SKUs instead of the Complete Journey sizes.
    """
    rng = np.random.default_rng(seed)
    sh = read_shanghai(data_dir)
    sizes, counts = read_baskets(data_dir)
    stores, inv, skus, pop = _shanghai_network(sh, counts, rng, n_skus=n_skus, assortment=assortment,
                                               min_share=min_share, mean_stock=mean_stock, warehouse=warehouse)
    n_skus = len(skus)
    spot = rng.integers(0, len(sh["spot_lat"]), n_orders)
    promise = rng.choice([30, 60], size=n_orders, p=np.asarray(promise_mix) / sum(promise_mix))
    nl = np.minimum(rng.choice(sizes, n_orders) if lines is None else np.full(n_orders, lines), n_skus)
    where = [(sh["spot_lat"][i], sh["spot_lon"][i]) for i in spot]
    return City(stores, inventory=inv, orders=_basket_orders(rng, where, promise, nl, pop, skus, 6))


def dense_city(data_dir, *, seed: int = 0, n_stores: int = 2000, n_skus: int = 5000, n_orders: int = 100_000,
               jitter_m: float = 800.0, assortment: float = 0.2, max_stock: int = 5, warehouse_stock: int = 200,
               order_sd_m: float = 2500.0, mean_lines: float = 2.5,
               promise_mix: tuple[float, float] = (0.5, 0.5)) -> City:
    """A dense city built from the real Shanghai shop locations: ``n_stores`` stores, each at
    a real Cainiao shop (drawn with replacement) moved by a Gaussian ``jitter_m`` metres in
    each direction, so a customer has hundreds of stores within the 60-minute reach; one
    warehouse at their centroid with ``warehouse_stock`` units of every SKU.

    Every store stocks ``assortment`` of the ``n_skus`` SKUs, drawn by popularity (the line
    counts of the Complete Journey products, as ``shanghai_city``), with 0 to ``max_stock``
    units each (uniform). Orders: at a random store's location moved by a Gaussian
    ``order_sd_m``, with 1 + Poisson(``mean_lines`` - 1) distinct SKUs by popularity, qty
    1 + Poisson(0.3), 30- and 60-minute promises in ``promise_mix``. Every draw comes from
    ``seed``; the result is the same on every machine.
    """
    rng = np.random.default_rng(seed)
    sh = read_shanghai(data_dir)
    _, counts = read_baskets(data_dir)
    n_skus = min(n_skus, len(counts))
    pop = counts[:n_skus].astype(np.float64)
    pop /= pop.sum()
    pick = rng.integers(0, len(sh["shop_lat"]), n_stores)
    lat0, lon0 = sh["shop_lat"][pick], sh["shop_lon"][pick]
    m_per_deg = EARTH_RADIUS_M * np.pi / 180.0
    slat = lat0 + rng.normal(0.0, jitter_m, n_stores) / m_per_deg
    slon = lon0 + rng.normal(0.0, jitter_m, n_stores) / (m_per_deg * np.cos(np.radians(lat0)))
    ids = [f"D{i:05d}" for i in range(n_stores)] + ["WH-D"]
    stores: dict[str, list] = {"store_id": ids,
              "lat": [round(float(v), 6) for v in slat] + [round(float(slat.mean()), 6)],
              "lon": [round(float(v), 6) for v in slon] + [round(float(slon.mean()), 6)],
              "city": ["dense"] * len(ids),
              "kind": ["store"] * n_stores + ["warehouse"],
              "handling_min": [int(v) for v in rng.choice([8, 10, 10, 10, 12], n_stores)] + [30]}
    skus = np.array([f"CJ{i:05d}" for i in range(n_skus)], dtype=object)
    k = max(1, int(round(assortment * n_skus)))
    st_rows, sku_rows = [], []
    for s_ in range(n_stores):
        chosen = np.sort(rng.choice(n_skus, size=k, replace=False, p=pop))
        st_rows.append(np.full(k, s_, np.int64))
        sku_rows.append(chosen)
    st_i = np.concatenate(st_rows)
    sku_i = np.concatenate(sku_rows)
    units = rng.integers(0, max_stock + 1, len(st_i))
    inv: dict[str, list] = {"store_id": [ids[j] for j in st_i.tolist()] + ["WH-D"] * n_skus,
           "sku": skus[sku_i].tolist() + skus.tolist(),
           "on_hand": units.tolist() + [int(warehouse_stock)] * n_skus,
           "safety_stock": [0] * (len(st_i) + n_skus)}
    near = rng.integers(0, n_stores, n_orders)
    olat = slat[near] + rng.normal(0.0, order_sd_m, n_orders) / m_per_deg
    olon = slon[near] + rng.normal(0.0, order_sd_m, n_orders) / (m_per_deg * np.cos(np.radians(slat[near])))
    promise = rng.choice([30, 60], size=n_orders, p=np.asarray(promise_mix) / sum(promise_mix))
    nl = np.minimum(1 + rng.poisson(mean_lines - 1.0, n_orders), n_skus)
    where = list(zip(olat.tolist(), olon.tolist()))
    orders = _basket_orders(rng, where, promise, nl, pop, skus, 6)
    orders["order_id"] = [f"DN{x[2:]}" for x in orders["order_id"]]
    return City(stores, inventory=inv, orders=orders)


CHAIN_POIS = "shanghai_chain_pois_genesis/shanghai_chain_pois.csv"


def chain_city(data_dir, *, brand: str = "屈臣氏", seed: int = 0, n_orders: int = 300, n_skus: int = 60,
               assortment: float = 0.3, max_stock: int = 3, order_sd_m: float = 2000.0, mean_lines: float = 3.0,
               promise_mix: tuple[float, float] = (0.5, 0.5)) -> City:
    """A contended backlog on a real chain's store network: the stores are one brand's
    Shanghai locations in the Genesis POI set (Watsons, 40 of them, by default; the set's
    own datum, consistent within it), with no warehouse; every store stocks ``assortment``
    of the ``n_skus`` SKUs (the most sold Complete Journey products, drawn by popularity)
    with 0 to ``max_stock`` units each (uniform), so that stock is thin and orders compete
    for it. Orders: at a random store's location moved by a Gaussian ``order_sd_m``, with
    1 + Poisson(``mean_lines`` - 1) distinct SKUs by popularity, qty 1 + Poisson(0.3),
    30- and 60-minute promises in ``promise_mix``. Seeded: the same on every machine.
    """
    import csv

    path = Path(data_dir) / CHAIN_POIS
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["brand"] == brand]
    if not rows:
        raise ValueError(f"{path}: no row has brand {brand!r}")
    rng = np.random.default_rng(seed)
    _, counts = read_baskets(data_dir)
    n_skus = min(n_skus, len(counts))
    pop = counts[:n_skus].astype(np.float64)
    pop /= pop.sum()
    slat = np.array([float(r["lat"]) for r in rows])
    slon = np.array([float(r["lng"]) for r in rows])
    n_st = len(rows)
    ids = [f"C{i:03d}" for i in range(n_st)]
    stores: dict[str, list] = {"store_id": ids, "lat": [round(float(v), 6) for v in slat],
                               "lon": [round(float(v), 6) for v in slon], "city": ["chain"] * n_st,
                               "kind": ["store"] * n_st,
                               "handling_min": [int(v) for v in rng.choice([8, 10, 10, 10, 12], n_st)]}
    skus = np.array([f"CJ{i:05d}" for i in range(n_skus)], dtype=object)
    k = max(1, int(round(assortment * n_skus)))
    chosen = [np.sort(rng.choice(n_skus, size=k, replace=False, p=pop)) for _ in range(n_st)]
    st_i = np.repeat(np.arange(n_st), k)
    sku_i = np.concatenate(chosen)
    units = rng.integers(0, max_stock + 1, len(st_i))
    inv: dict[str, list] = {"store_id": [ids[j] for j in st_i.tolist()], "sku": skus[sku_i].tolist(),
                            "on_hand": units.tolist(), "safety_stock": [0] * len(st_i)}
    m_per_deg = EARTH_RADIUS_M * np.pi / 180.0
    near = rng.integers(0, n_st, n_orders)
    olat = slat[near] + rng.normal(0.0, order_sd_m, n_orders) / m_per_deg
    olon = slon[near] + rng.normal(0.0, order_sd_m, n_orders) / (m_per_deg * np.cos(np.radians(slat[near])))
    promise = rng.choice([30, 60], size=n_orders, p=np.asarray(promise_mix) / sum(promise_mix))
    nl = np.minimum(1 + rng.poisson(mean_lines - 1.0, n_orders), n_skus)
    orders = _basket_orders(rng, list(zip(olat.tolist(), olon.tolist())), promise, nl, pop, skus, 5)
    orders["order_id"] = [f"CH{x[2:]}" for x in orders["order_id"]]
    return City(stores, inventory=inv, orders=orders)


def _basket_orders(rng, where, promise, n_lines, pop, names, id_width: int, arrival=None) -> dict:
    """The orders table of the Shanghai scenarios: order o at ``where[o]`` (lat, lon), with
    ``n_lines[o]`` distinct SKUs drawn by popularity ``pop`` (named ``names``), each qty
    1 + Poisson(0.3), promise ``promise[o]``, id SH and o padded to ``id_width`` digits; with
    ``arrival``, its arrival_min on every line. Draws per order: its SKUs, then their qty."""
    cols = ["order_id", "lat", "lon", "sku", "qty", "promise_min"] + ([] if arrival is None else ["arrival_min"])
    orders: dict[str, list] = {c: [] for c in cols}
    for o in range(len(where)):
        lines = rng.choice(len(names), size=int(n_lines[o]), replace=False, p=pop)
        m = len(lines)
        orders["order_id"] += [f"SH{o:0{id_width}d}"] * m
        orders["lat"] += [round(float(where[o][0]), 6)] * m
        orders["lon"] += [round(float(where[o][1]), 6)] * m
        orders["sku"] += names[lines].tolist()
        orders["qty"] += (1 + rng.poisson(0.3, m)).tolist()
        orders["promise_min"] += [int(promise[o])] * m
        if arrival is not None:
            orders["arrival_min"] += [float(arrival[o])] * m
    return orders


# --- a day of orders (omnifill bench) -----------------------------------------------------------

# The share of a day's online orders arriving in each hour (0-23): quiet at night, a lunch
# peak (11-13) and a larger evening peak (18-21), the shape of instant-retail order curves.
DAY_PROFILE = np.array([0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.6, 1.6, 3.0, 4.2, 5.0, 6.8,
                        7.4, 6.0, 4.6, 4.4, 5.0, 6.0, 7.6, 8.8, 8.4, 6.6, 4.2, 2.0])
DAY_PROFILE = DAY_PROFILE / DAY_PROFILE.sum()


def day_arrivals(rng, n: int, profile=DAY_PROFILE) -> np.ndarray:
    """n arrival minutes in [0, 1440): an hour drawn from ``profile`` (a share per hour),
    uniform within it; rounded to 0.1 minute."""
    p = np.asarray(profile, np.float64)
    hour = rng.choice(len(p), size=n, p=p / p.sum())
    return np.round((hour + rng.random(n)) * (1440.0 / len(p)), 1).clip(0, 1439.9)


def with_arrivals(city: City, seed: int, profile=DAY_PROFILE) -> City:
    """``city`` with an ``arrival_min`` per order line (the same for every line of an order),
    drawn by ``day_arrivals`` from their own stream of ``seed`` (so the city's other draws
    are those of ``synthetic_city`` with the same seed)."""
    oid = city.orders["order_id"]
    first = dict.fromkeys(oid)
    t = day_arrivals(np.random.default_rng([seed, 1]), len(first), profile)
    at = dict(zip(first, t.tolist()))
    orders = dict(city.orders)
    orders["arrival_min"] = [at[o] for o in oid]
    return City(city.stores, city.inventory, orders)


def synthetic_day(*, seed: int = 0, profile=DAY_PROFILE, **city) -> City:
    """``synthetic_city(seed=seed, **city)`` as a day: its orders arrive over the day by
    ``profile`` (``with_arrivals``). ``omnifill generate city`` writes one."""
    return with_arrivals(synthetic_city(seed=seed, **city), seed, profile)


def shanghai_day(data_dir, *, seed: int = 0, n_orders: int | None = None, **city) -> City:
    """The Shanghai scenario of ``omnifill bench``: ``shanghai_city``'s stores (the 613 real
    shops and a warehouse) and stock, and a day of demand from the real O2O orders
    (``new_5.csv``): with ``n_orders`` None, the 3,417 orders at their real customer points,
    arriving at their real pickup times (11:30-18:29); with ``n_orders``, that many at
    customer points drawn from all 9,214, at times drawn from the real ones (plus up to a
    minute of jitter). Baskets and SKU popularity as in ``shanghai_city``."""
    import csv

    sizes, counts = read_baskets(data_dir)
    stores, inv, names, pop = _shanghai_network(read_shanghai(data_dir), counts, np.random.default_rng(seed),
                                                **{k: v for k, v in city.items() if k != "promise_mix"})
    n_skus = len(names)
    d = Path(data_dir) / SHANGHAI_DIR
    with open(d / "new_2.csv", newline="") as fh:
        spots = {r["Spot_id"]: (float(r["Lat"]), float(r["Lng"])) for r in csv.DictReader(fh)}
    with open(d / "new_5.csv", newline="") as fh:
        real = list(csv.DictReader(fh))
    rng = np.random.default_rng([seed, 2])
    times = np.array([int(r["Pickup_time"][:2]) * 60 + int(r["Pickup_time"][3:5]) for r in real], np.float64)
    if n_orders is None:
        where = [spots[r["Spot_id"]] for r in real]
        at = times
    else:
        pts = list(spots.values())
        where = [pts[i] for i in rng.integers(0, len(pts), n_orders)]
        at = np.round(rng.choice(times, n_orders) + rng.random(n_orders), 1)
    mix = np.asarray(city.get("promise_mix", (0.3, 0.7)), np.float64)
    n = len(where)
    promise = rng.choice([30, 60], size=n, p=mix / mix.sum())
    nl = np.minimum(rng.choice(sizes, n), n_skus)
    return City(stores, inv, _basket_orders(rng, where, promise, nl, pop, names, 5, arrival=at))


def write_city(city: City, out_dir) -> dict[str, Path]:
    """The city's stores, inventory and orders as CSV files in ``out_dir`` (each written
    atomically; the directory may exist)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("stores", "inventory", "orders")}
    for name, p in paths.items():
        write_csv(p, getattr(city, name))
    return paths


def write_scenario(city: City, out_dir, made_by: dict) -> dict[str, Path]:
    """``write_city`` into a new directory, written whole or not at all (``io.new_directory``),
    with ``scenario.json``: ``made_by`` (the generator and every parameter, seed included,
    so the files can be made again) and the counts of stores, SKU rows, orders and lines."""
    out = Path(out_dir)
    oid = city.orders["order_id"]
    doc = {"made_by": made_by,
           "stores": sum(k == "store" for k in city.stores.get("kind", ["store"] * len(city.stores["store_id"]))),
           "warehouses": sum(k == "warehouse" for k in city.stores.get("kind", [])),
           "inventory_rows": len(city.inventory["store_id"]), "orders": len(set(oid)), "order_lines": len(oid)}
    with new_directory(out) as tmp:
        write_city(city, tmp)
        with open(tmp / "scenario.json", "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    return {name: out / f"{name}.csv" for name in ("stores", "inventory", "orders")} | {
        "scenario": out / "scenario.json"}


# the generated city of ``omnifill bench --scenario city`` and the defaults of ``omnifill
# generate city``: 2,000 stores, a day of 20,000 orders (``synthetic_day(city="city", **CITY)``)
CITY = {"n_stores": 2000, "n_orders": 20_000, "n_skus": 5000, "n_clusters": 40, "radius_m": 25_000.0, "assortment": 0.2}
DEMO: dict[str, Any] = dict(seed=20261123, n_stores=60, n_orders=2000, n_skus=800, city="demo")
DEMO_DIR = Path(__file__).parent / "data" / "demo"


def demo_paths() -> dict[str, Path]:
    return {name: DEMO_DIR / f"{name}.csv" for name in ("stores", "inventory", "orders")}


if __name__ == "__main__":  # python -m omnifill.scenarios [DIR]: write the demo city
    write_city(synthetic_city(**DEMO), sys.argv[1] if len(sys.argv) > 1 else DEMO_DIR)
