"""Plain numpy references for the kernels in ``_core``: the test oracle and benchmark baseline.

Each function computes, the slow and obvious way, what a kernel computes fast: haversine from
every order to every store, a mask, a lexsort. They must stay obviously correct rather than
fast; they never call ``_core``, nor the travel model (``travel.py``): an oracle that shared
the code it checks would check nothing, so the great-circle ETA is written out here again,
on purpose, the one copy outside the travel model.
"""

from __future__ import annotations

import numpy as np

from .geo import EARTH_RADIUS_M, haversine_m

ETA_TOLERANCE_MIN = 1e-9  # the kernel's documented tolerance at the ETA limit


def candidates_reference(
    store_lat,
    store_lon,
    handling_min,
    eligible,
    order_lat,
    order_lon,
    max_eta_min,
    *,
    circuity: float,
    courier_m_per_min: float,
    zone_bits=None,
    tier_bits=None,
    zone_pairs=None,
    max_candidates: int | None = None,
    chunk: int = 256,
):
    """CSR (indptr, store_index, eta_min) of every order's candidate stores.

    A store is a candidate when it is eligible and ``handling + circuity * haversine / speed
    <= max_eta`` (within ETA_TOLERANCE_MIN), unless the store has a zone for the order's tier
    (``zone_bits & tier_bits``), in which case it is a candidate only when ``zone_pairs`` (a
    set of (order, store)) says the order lies in that zone. Sorted by ETA, then store index.
    """
    store_lat = np.asarray(store_lat, dtype=np.float64)
    store_lon = np.asarray(store_lon, dtype=np.float64)
    h = np.asarray(handling_min, dtype=np.float64)
    eligible = np.asarray(eligible, dtype=bool)
    order_lat = np.asarray(order_lat, dtype=np.float64)
    order_lon = np.asarray(order_lon, dtype=np.float64)
    n = order_lat.shape[0]
    limit = np.broadcast_to(np.asarray(max_eta_min, dtype=np.float64), (n,))
    zb = np.zeros(store_lat.shape[0], np.uint8) if zone_bits is None else np.asarray(zone_bits, np.uint8)
    tb = np.zeros(n, np.uint8) if tier_bits is None else np.asarray(tier_bits, np.uint8)
    forced: dict[int, set[int]] = {}
    for o, s in zone_pairs or ():
        forced.setdefault(int(o), set()).add(int(s))
    indptr = [0]
    idx_out, eta_out = [], []
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        d = haversine_m(order_lat[a:b, None], order_lon[a:b, None], store_lat[None, :], store_lon[None, :])
        eta = h[None, :] + circuity * d / courier_m_per_min
        zoned = (zb[None, :] & tb[a:b, None]) != 0
        ok = eligible[None, :] & ~zoned & (eta <= limit[a:b, None] + ETA_TOLERANCE_MIN)
        for r in range(b - a):
            sel = np.flatnonzero(ok[r])
            extra = forced.get(a + r)
            if extra:
                sel = np.union1d(sel, np.fromiter(extra, dtype=np.int64))
            e = eta[r, sel]
            order = np.lexsort((sel, e))
            if max_candidates is not None:
                order = order[:max_candidates]
            idx_out.append(sel[order])
            eta_out.append(e[order])
            indptr.append(indptr[-1] + order.shape[0])
    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return np.asarray(indptr, np.int64), cat(idx_out, np.int32), cat(eta_out, np.float64)


def coverage_reference(cand_indptr, cand_store, line_indptr, line_sku, line_qty, stock):
    """Per (order, candidate) Python-int mask of fillable lines, and per order ``full``.

    ``stock`` is a dict {(store, sku_code): available}. Bit j is line j of the order.
    """
    masks, full = [], []
    for i in range(len(cand_indptr) - 1):
        lines = range(line_indptr[i], line_indptr[i + 1])
        want = (1 << len(lines)) - 1
        any_full = len(lines) == 0
        for p in range(cand_indptr[i], cand_indptr[i + 1]):
            s = int(cand_store[p])
            m = 0
            for j, li in enumerate(lines):
                if line_sku[li] >= 0 and stock.get((s, int(line_sku[li])), 0) >= line_qty[li]:
                    m |= 1 << j
            masks.append(m)
            any_full |= m == want
        full.append(any_full)
    return masks, np.asarray(full, dtype=bool)


__all__ = ["EARTH_RADIUS_M", "candidates_reference", "coverage_reference"]
