"""The kernel on the real Shanghai shops (../shared/data; skipped cleanly when absent)."""

import csv

import numpy as np

import omnifill
from omnifill.reference import candidates_reference


def read(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def test_shanghai_shops_match_the_reference_exactly(shared_data):
    d = shared_data / "shanghai_cainiao_lastmile_2016"
    shops = read(d / "new_3.csv")
    spots = read(d / "new_2.csv")
    net = omnifill.Network.from_arrays([r["Shop_id"] for r in shops], [float(r["Lat"]) for r in shops],
                                       [float(r["Lng"]) for r in shops], city="shanghai")
    olat = np.array([float(r["Lat"]) for r in spots])
    olon = np.array([float(r["Lng"]) for r in spots])
    limit = np.where(np.arange(len(spots)) % 2 == 0, 30.0, 60.0)
    t = net.config.travel
    for k in (None, 5):
        got = net.candidates(olat, olon, limit, max_candidates=k)
        ref = candidates_reference(net.lat, net.lon, net.handling_min, net.eligible, olat, olon, limit,
                                   circuity=t.circuity, courier_m_per_min=t.courier_m_per_min, max_candidates=k)
        assert np.array_equal(got.indptr, ref[0])
        assert np.array_equal(got.store_index, ref[1])
        assert np.allclose(got.eta_min, ref[2], rtol=0, atol=1e-9)
    assert got.indptr[-1] > 10_000  # the real city is dense: thousands of (order, shop) pairs
