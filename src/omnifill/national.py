"""A national scenario: hundreds of cities, a million orders, written as partitioned Parquet.

The layout is the one ``omnifill reroute`` reads city by city (``omnifill.partitions``)::

    DIR/stores.parquet                         every store, with its ``city``
    DIR/inventory/city=NAME/part-0.parquet     that city's stock (no ``city`` column inside:
    DIR/orders/city=NAME/part-0.parquet        the directory names it, Hive style)

City sizes follow what a national chain looks like (Watsons: about 4,000 stores in 500
Chinese cities, most of them in a few large ones): ``megacities`` cities of 1,000 to 2,000
stores, then a power-law tail (``tail_top`` stores at the top, exponent ``tail_exp``) that
reaches 5 stores within a few hundred cities; every city size is at least ``min_stores``.
Orders go to cities in proportion to their stores (multinomial), so every city sees about
the same orders per store. Each city is one ``synthetic_city``-like draw, vectorised: stores
and customers clustered around the same centres within a radius that grows with the square
root of the store count (constant density: 25 km for 2,000 stores), one warehouse holding
every SKU, Zipf SKU popularity over a national assortment, per-store assortments drawn by
popularity (Gumbel top-k), Poisson stock whose mean grows with the orders per store
(``stock_per_order``), orders of 1 + Poisson(``mean_lines`` - 1) lines (repeated SKUs
merged), promises 30 / 60 minutes in ``promise_mix``.

Every draw comes from generators seeded by ``seed`` and the city's rank, so one city can be
regenerated alone and the output does not depend on the order cities are written in.
Writing needs pyarrow (``omnifill[io]``). This module makes data; it never routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import new_directory
from .scenarios import clustered_points


@dataclass(frozen=True)
class NationalSpec:
    n_cities: int = 480
    n_orders: int = 1_000_000
    n_skus: int = 5_000
    megacities: tuple[int, ...] = (2000, 1600, 1300, 1000)
    tail_top: int = 400
    tail_exp: float = 0.9
    min_stores: int = 5
    assortment: float = 0.2
    zipf_a: float = 1.1
    stock_per_order: float = 0.2
    mean_lines: float = 3.0
    promise_mix: tuple[float, float] = (0.4, 0.6)
    seed: int = 0


def city_sizes(spec: NationalSpec) -> np.ndarray:
    """Stores per city, largest first: the megacities, then the power-law tail with a
    little noise (seeded), never below ``min_stores``."""
    rng = np.random.default_rng([spec.seed, 0])
    mega = np.asarray(spec.megacities[: spec.n_cities], dtype=np.int64)
    n_tail = spec.n_cities - len(mega)
    rank = np.arange(1, n_tail + 1, dtype=np.float64)
    tail = spec.tail_top * rank ** -spec.tail_exp * rng.lognormal(0.0, 0.15, n_tail)
    tail = np.maximum(np.round(tail), spec.min_stores).astype(np.int64)
    return np.concatenate([mega, -np.sort(-tail)])


def city_names(n: int) -> list[str]:
    return [f"c{i:03d}" for i in range(n)]


def orders_per_city(spec: NationalSpec, sizes: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, 1])
    return rng.multinomial(spec.n_orders, sizes / sizes.sum())


def city_centres(spec: NationalSpec) -> tuple[np.ndarray, np.ndarray]:
    """City centres over eastern China's latitudes and longitudes (they never overlap in
    effect: cities are planned apart, and a 25 km city is small against the box)."""
    rng = np.random.default_rng([spec.seed, 2])
    return rng.uniform(22.0, 42.0, spec.n_cities), rng.uniform(102.0, 122.0, spec.n_cities)


def popularity(spec: NationalSpec) -> np.ndarray:
    pop = 1.0 / np.arange(1, spec.n_skus + 1) ** spec.zipf_a
    return pop / pop.sum()


def sku_names(n: int) -> np.ndarray:
    return np.array([f"SKU{i:05d}" for i in range(n)], dtype=object)


def generate_city(spec: NationalSpec, rank: int, name: str, n_stores: int, n_orders: int,
                  centre: tuple[float, float]) -> dict:
    """One city's columns as numpy arrays: ``stores``, ``inventory`` (store position, SKU
    code, on hand) and ``orders`` (one row per line: order number, lat, lon, SKU code, qty,
    promise)."""
    rng = np.random.default_rng([spec.seed, 100 + rank])
    pop = popularity(spec)
    radius = max(3_000.0, 25_000.0 * np.sqrt(n_stores / 2000.0))
    n_clusters = int(np.clip(round(n_stores / 50), 2, 40))
    sd = radius / 10.0
    slat, slon = clustered_points(rng, n_stores, centre, radius, n_clusters, sd)
    # the warehouse sits outside the city, like a regional distribution centre
    lat = np.concatenate([slat, [centre[0] + radius / 111_000.0]])
    lon = np.concatenate([slon, [centre[1] - radius / 111_000.0]])
    handling = np.concatenate([rng.choice([8, 10, 10, 10, 12], n_stores), [30]])
    kind = np.array(["store"] * n_stores + ["warehouse"], dtype=object)
    ids = np.array([f"{name}-S{i:04d}" for i in range(n_stores)] + [f"{name}-W"], dtype=object)
    # assortments: the top ``k`` of log(popularity) + Gumbel noise is a popularity-weighted
    # draw without replacement, for every store at once
    k = max(1, int(spec.assortment * spec.n_skus))
    st_parts, sku_parts = [], []
    logp = np.log(pop)
    for lo in range(0, n_stores, 256):  # in slices: a 2,000 x 5,000 matrix of keys is 80 MB
        m = min(256, n_stores - lo)
        keys = logp[None, :] + rng.gumbel(size=(m, spec.n_skus))
        top = np.sort(np.argpartition(-keys, k - 1, axis=1)[:, :k], axis=1)
        st_parts.append(np.repeat(np.arange(lo, lo + m), k))
        sku_parts.append(top.ravel())
    inv_store = np.concatenate(st_parts + [np.full(spec.n_skus, n_stores)])
    inv_sku = np.concatenate(sku_parts + [np.arange(spec.n_skus)])
    per_store = n_orders / max(1, n_stores)
    mean_stock = spec.stock_per_order * per_store
    depth = rng.poisson(mean_stock * np.clip(0.5 + spec.n_skus * pop[inv_sku[:-spec.n_skus]] / 4, None, 5.0))
    on_hand = np.concatenate([depth, np.full(spec.n_skus, max(500, int(20 * per_store)))])
    # orders: clustered like the stores; lines drawn by popularity, a repeated SKU merged
    olat, olon = clustered_points(rng, n_orders, centre, radius * 1.1, n_clusters, sd * 1.2)
    n_lines = 1 + rng.poisson(spec.mean_lines - 1.0, n_orders)
    order_of_line = np.repeat(np.arange(n_orders), n_lines)
    sku = rng.choice(spec.n_skus, size=len(order_of_line), p=pop)
    key = np.unique(order_of_line.astype(np.int64) * spec.n_skus + sku)
    order_of_line, sku = key // spec.n_skus, key % spec.n_skus
    qty = 1 + rng.poisson(0.3, len(sku))
    promise = rng.choice([30, 60], size=n_orders, p=np.asarray(spec.promise_mix) / sum(spec.promise_mix))
    return {
        "stores": {"store_id": ids, "lat": np.round(lat, 6), "lon": np.round(lon, 6), "kind": kind,
                   "handling_min": handling},
        "inventory": (inv_store, inv_sku, on_hand),
        "orders": (order_of_line, np.round(olat, 6), np.round(olon, 6), sku, qty, promise),
    }


def write_national(out_dir, spec: NationalSpec | None = None, *, progress=None) -> dict[str, Path]:
    """Write the national scenario under ``out_dir`` (see the module's docstring), into a
    temporary directory beside it that is renamed at the end: an interrupted run leaves no
    half-written scenario. Returns the paths of stores, inventory and orders."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = spec or NationalSpec()
    out = Path(out_dir)
    with new_directory(out) as tmp:  # FileExistsError when out exists
        sizes = city_sizes(spec)
        n_ord = orders_per_city(spec, sizes)
        clat, clon = city_centres(spec)
        names = city_names(spec.n_cities)
        skus = pa.array(sku_names(spec.n_skus), pa.string())
        stores = []
        for r, name in enumerate(names):
            c = generate_city(spec, r, name, int(sizes[r]), int(n_ord[r]), (float(clat[r]), float(clon[r])))
            st = c["stores"]
            stores.append(pa.table({"store_id": pa.array(st["store_id"], pa.string()), "lat": st["lat"],
                                    "lon": st["lon"], "city": pa.array([name] * len(st["lat"]), pa.string()),
                                    "kind": pa.array(st["kind"], pa.string()),
                                    "handling_min": st["handling_min"].astype(np.int64)}))
            ids = stores[-1].column("store_id").combine_chunks()
            s_i, k_i, oh = c["inventory"]
            inv = pa.table({"store_id": pa.DictionaryArray.from_arrays(pa.array(s_i.astype(np.int32)), ids),
                            "sku": pa.DictionaryArray.from_arrays(pa.array(k_i.astype(np.int32)), skus),
                            "on_hand": oh.astype(np.int64)})
            (tmp / "inventory" / f"city={name}").mkdir(parents=True)
            pq.write_table(inv, tmp / "inventory" / f"city={name}" / "part-0.parquet")
            o_i, olat, olon, k_o, qty, promise = c["orders"]
            oid = np.array([f"{name}-{i:07d}" for i in range(int(n_ord[r]))], dtype=object)
            orders = pa.table({"order_id": pa.DictionaryArray.from_arrays(pa.array(o_i.astype(np.int32)),
                                                                         pa.array(oid, pa.string())),
                               "lat": olat[o_i], "lon": olon[o_i],
                               "sku": pa.DictionaryArray.from_arrays(pa.array(k_o.astype(np.int32)), skus),
                               "qty": qty.astype(np.int64), "promise_min": promise[o_i].astype(np.int64)})
            (tmp / "orders" / f"city={name}").mkdir(parents=True)
            pq.write_table(orders, tmp / "orders" / f"city={name}" / "part-0.parquet")
            if progress:
                progress(r + 1, spec.n_cities)
        pq.write_table(pa.concat_tables(stores), tmp / "stores.parquet")
    return {"stores": out / "stores.parquet", "inventory": out / "inventory", "orders": out / "orders"}
