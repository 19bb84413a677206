"""Candidate search: omnifill's grid kernel against the spatial libraries a Python user would use.

For 100,000 orders against clustered cities of 2,000 and 10,000 stores at the 30-minute
tier, every method produces the same CSR result (indptr, store_index, eta_min; each order's
stores by ETA then store index), checked here. The peers:

  ckdtree     scipy cKDTree.query_ball_point on unit vectors (chord radius: exact), then the
              exact ETA filter and the sort
  strtree     shapely STRtree.query on the orders' bounding boxes (planar, tangent-plane
              metres), then a numpy circle filter (exact ETA) and the sort
  dwithin     shapely STRtree.query(predicate="dwithin"), then the same filter and sort
  rtree       rtree Index.intersection_v on the bounding boxes, then the same filter and sort
  omnifill    Network.candidates: one thread; workers=2 (the batch split over both cores);
              and two caller threads each asking for half of the orders at once
  floor       np.empty + fill of arrays of the output's size: fresh pages, and reused ones

The planar peers search the orthographic tangent plane with the chord radius, which never
misses a store (the projection is a contraction), then filter with exact haversine ETAs.

Run:  python benchmarks/bench_candidates.py [--orders 100000] [--stores 2000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import threading
import time

import numpy as np

import omnifill
from omnifill import _core
from omnifill.geo import EARTH_RADIUS_M, LocalProjection, haversine_m
from omnifill.scenarios import clustered_points

CIRCUITY, SPEED, HANDLING, LIMIT = 1.3, 250.0, 10.0, 30.0
TOL = 1e-9
QUERY_TIME: dict[str, float] = {}  # best time of each peer's bare library query (pairs out)


def _query_done(name, t0):
    t = time.perf_counter() - t0
    QUERY_TIME[name] = min(t, QUERY_TIME.get(name, float("inf")))


def make_city(n_stores, n_orders, seed):
    """Clustered stores and orders; the radius is chosen so the 10,000-store city puts about
    200 stores within 30 minutes of an order."""
    rng = np.random.default_rng(seed)
    radius = 25_000.0 * np.sqrt(n_stores / 10_000)
    slat, slon = clustered_points(rng, n_stores, (31.23, 121.47), radius, 40, 4_000.0, spread=0.3)
    olat, olon = clustered_points(rng, n_orders, (31.23, 121.47), radius, 40, 4_000.0, spread=0.3)
    return slat, slon, olat, olon


def finish(order, store, olat, olon, slat, slon, n):
    """The peers' common tail: exact ETA, filter, sort by (order, ETA, store), CSR."""
    eta = HANDLING + CIRCUITY * haversine_m(olat[order], olon[order], slat[store], slon[store]) / SPEED
    keep = eta <= LIMIT + TOL
    order, store, eta = order[keep], store[keep], eta[keep]
    srt = np.lexsort((store, eta, order))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(order, minlength=n), out=indptr[1:])
    return indptr, store[srt].astype(np.int32), eta[srt]


def chord_m():
    return _core.chord_radius((LIMIT - HANDLING) * SPEED / CIRCUITY) * (1 + 1e-9)


def run_ckdtree(slat, slon, olat, olon):
    from scipy.spatial import cKDTree

    t0 = time.perf_counter()
    tree = cKDTree(_core.unit_vectors(slat, slon))
    lists = tree.query_ball_point(_core.unit_vectors(olat, olon), chord_m())
    counts = np.fromiter((len(x) for x in lists), np.int64, len(lists))
    store = np.fromiter((s for x in lists for s in x), np.int64, int(counts.sum()))
    order = np.repeat(np.arange(len(lists)), counts)
    _query_done("ckdtree", t0)
    return finish(order, store, olat, olon, slat, slon, len(olat))


def _planar(slat, slon, olat, olon):
    proj = LocalProjection.around(slat, slon)
    sx, sy = proj.to_xy(slat, slon)
    ox, oy = proj.to_xy(olat, olon)
    return sx, sy, ox, oy, chord_m() * EARTH_RADIUS_M


def run_strtree(slat, slon, olat, olon):
    import shapely

    sx, sy, ox, oy, r = _planar(slat, slon, olat, olon)
    t0 = time.perf_counter()
    tree = shapely.STRtree(shapely.points(sx, sy))
    boxes = shapely.box(ox - r, oy - r, ox + r, oy + r)
    order, store = tree.query(boxes)
    _query_done("strtree", t0)
    inside = (sx[store] - ox[order]) ** 2 + (sy[store] - oy[order]) ** 2 <= r * r
    return finish(order[inside], store[inside], olat, olon, slat, slon, len(olat))


def run_dwithin(slat, slon, olat, olon):
    import shapely

    sx, sy, ox, oy, r = _planar(slat, slon, olat, olon)
    t0 = time.perf_counter()
    tree = shapely.STRtree(shapely.points(sx, sy))
    order, store = tree.query(shapely.points(ox, oy), predicate="dwithin", distance=r)
    _query_done("dwithin", t0)
    return finish(order, store, olat, olon, slat, slon, len(olat))


def run_rtree(slat, slon, olat, olon):
    import rtree

    sx, sy, ox, oy, r = _planar(slat, slon, olat, olon)
    t0 = time.perf_counter()
    pts = np.column_stack([sx, sy])
    idx = rtree.index.Index(((i, (x, y, x, y), None) for i, (x, y) in enumerate(pts)), interleaved=True)
    ids, counts = idx.intersection_v(np.column_stack([ox - r, oy - r]), np.column_stack([ox + r, oy + r]))
    order = np.repeat(np.arange(len(olat)), counts.astype(np.int64))
    store = ids.astype(np.int64)
    _query_done("rtree", t0)
    inside = (sx[store] - ox[order]) ** 2 + (sy[store] - oy[order]) ** 2 <= r * r
    return finish(order[inside], store[inside], olat, olon, slat, slon, len(olat))


def make_network(slat, slon):
    n = len(slat)
    return omnifill.Network.from_arrays([f"S{i}" for i in range(n)], slat, slon, handling_min=HANDLING)


def run_omnifill(net, olat, olon, workers=1):
    c = net.candidates(olat, olon, LIMIT, workers=workers)
    return c.indptr, c.store_index, c.eta_min


def run_omnifill_2threads(net, olat, olon):
    half = len(olat) // 2
    out = [None, None]

    def work(k, a, b):
        out[k] = net.candidates(olat[a:b], olon[a:b], LIMIT)

    ts = [threading.Thread(target=work, args=(0, 0, half)), threading.Thread(target=work, args=(1, half, len(olat)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    a, b = out
    return (np.concatenate([a.indptr, b.indptr[1:] + a.indptr[-1]]), np.concatenate([a.store_index, b.store_index]),
            np.concatenate([a.eta_min, b.eta_min]))


def floor_fill(n, m, reuse=None):
    if reuse is None:
        ip, si, eta = np.empty(n + 1, np.int64), np.empty(m, np.int32), np.empty(m, np.float64)
    else:
        ip, si, eta = reuse
    ip.fill(1)
    si.fill(1)
    eta.fill(1.0)
    return ip, si, eta


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def same(a, b):
    return (np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
            and np.allclose(a[2], b[2], rtol=0, atol=1e-9))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--stores", type=int, nargs="+", default=[2_000, 10_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], help="peers to leave out")
    args = ap.parse_args(argv)
    print(f"# machine: {platform.machine()}, {platform.processor() or '?'}, python {platform.python_version()}, "
          f"numpy {np.__version__}, omnifill {omnifill.__version__}")
    for n_stores in args.stores:
        slat, slon, olat, olon = make_city(n_stores, args.orders, args.seed)
        net = make_network(slat, slon)
        run_omnifill(net, olat[:100], olon[:100])  # build the grid outside the timing
        t_omni, ref = best_of(lambda: run_omnifill(net, olat, olon), args.repeat)
        n_out = ref[0][-1]
        print(f"\n## {n_stores:,} stores, {args.orders:,} orders, 30-minute tier: "
              f"{n_out:,} (order, store) pairs, {n_out / args.orders:.1f} stores per order")
        rows = [("omnifill (1 thread)", t_omni, True)]
        t2, out2 = best_of(lambda: run_omnifill(net, olat, olon, workers=2), args.repeat)
        rows.append(("omnifill (workers=2)", t2, same(out2, ref)))
        t3, out3 = best_of(lambda: run_omnifill_2threads(net, olat, olon), args.repeat)
        rows.append(("omnifill (2 callers)", t3, same(out3, ref)))
        QUERY_TIME.clear()
        peers = {"ckdtree": run_ckdtree, "strtree": run_strtree, "dwithin": run_dwithin, "rtree": run_rtree}
        peer_t = {}
        for name, fn in peers.items():
            if name in args.skip:
                continue
            t, out = best_of(lambda: fn(slat, slon, olat, olon), max(1, args.repeat - 1))
            peer_t[name] = t
            rows.append((name, t, same(out, ref)))
        t_fresh, _ = best_of(lambda: floor_fill(args.orders, n_out), args.repeat)
        bufs = floor_fill(args.orders, n_out)
        t_reuse, _ = best_of(lambda: floor_fill(args.orders, n_out, bufs), args.repeat)
        print(f"{'method':<22}{'seconds':>10}{'vs omnifill':>14}  same CSR  {'library query alone':>20}")
        for name, t, ok in rows:
            q = QUERY_TIME.get(name)
            qs = f"{q:>10.4f} s ({q / t_omni:.1f}x)" if q is not None else ""
            print(f"{name:<22}{t:>10.4f}{t / t_omni:>13.1f}x  {'yes' if ok else 'NO':<8}  {qs:>20}")
        print(f"{'floor (fresh pages)':<22}{t_fresh:>10.4f}{t_fresh / t_omni:>13.2f}x")
        print(f"{'floor (reused pages)':<22}{t_reuse:>10.4f}{t_reuse / t_omni:>13.2f}x")
        if peer_t:
            fastest = min(peer_t, key=peer_t.get)
            print(f"fastest peer: {fastest}; omnifill is {peer_t[fastest] / t_omni:.1f}x faster "
                  f"(goal >= 10x); omnifill / floor (fresh) = {t_omni / t_fresh:.2f}x (goal <= 5x); "
                  f"with workers=2: {t2 / t_fresh:.2f}x")
        if not all(ok for _, _, ok in rows):
            raise SystemExit("a method produced a different CSR")


if __name__ == "__main__":
    main()
