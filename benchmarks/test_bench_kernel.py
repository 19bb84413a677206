"""pytest-benchmark suite for the candidate kernel (run on demand, not in the default tests):

    python -m pytest benchmarks/test_bench_kernel.py --benchmark-only

Smaller fixtures than bench_candidates.py (20,000 orders, 2,000 stores) so a change can be
compared quickly with --benchmark-compare; the peer is scipy's cKDTree with the same exact
filter and sort, and both must give the same CSR.
"""

import numpy as np
import pytest
from bench_candidates import LIMIT, make_city, make_network, run_ckdtree, run_omnifill, same


@pytest.fixture(scope="module")
def city():
    slat, slon, olat, olon = make_city(2_000, 20_000, seed=3)
    net = make_network(slat, slon)
    run_omnifill(net, olat[:10], olon[:10])
    return slat, slon, olat, olon, net


def test_omnifill_candidates(benchmark, city):
    slat, slon, olat, olon, net = city
    out = benchmark(run_omnifill, net, olat, olon)
    assert out[0][-1] > 0


def test_ckdtree_candidates(benchmark, city):
    slat, slon, olat, olon, net = city
    out = benchmark.pedantic(run_ckdtree, args=(slat, slon, olat, olon), rounds=3)
    assert same(out, run_omnifill(net, olat, olon))


def test_coverage(benchmark, city):
    slat, slon, olat, olon, net = city
    c = net.candidates(olat, olon, LIMIT)
    from omnifill import _core

    rng = np.random.default_rng(0)
    n_skus = 5000
    lines = rng.integers(1, 6, len(olat))
    line_indptr = np.concatenate([[0], np.cumsum(lines)])
    line_sku = rng.integers(0, n_skus, line_indptr[-1]).astype(np.int32)
    line_qty = np.ones(line_indptr[-1], np.int64)
    per_store = 1500
    inv_sku = np.sort(rng.integers(0, n_skus, (len(slat), per_store)), axis=1).astype(np.int32)
    inv_sku = np.array([np.unique(r)[:1000] for r in inv_sku]).reshape(-1).astype(np.int32)
    inv_indptr = np.arange(0, len(slat) * 1000 + 1, 1000, dtype=np.int64)
    avail = rng.integers(0, 4, inv_sku.shape[0]).astype(np.int64)
    benchmark(_core.coverage, c.indptr, c.store_index, line_indptr, line_sku, line_qty, inv_indptr, inv_sku, avail)
