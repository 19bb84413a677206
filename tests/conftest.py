"""Shared fixtures: the real data folder beside the repo (tests skip cleanly without it)."""

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DATA = Path(__file__).parent / "data"


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


def assert_same_candidates(got, ref, tol=1e-9):
    """got and ref are CSR triples. Same stores per order, ETAs within tol, and got's order is
    (ETA, store index) by its own ETAs and never disagrees with ref's beyond tol."""
    gi, gs, ge = got
    ri, rs, re_ = ref
    assert np.array_equal(gi, ri), "different candidate counts"
    for i in range(len(gi) - 1):
        a, b = gi[i], gi[i + 1]
        s_got, e_got = gs[a:b], ge[a:b]
        s_ref, e_ref = rs[a:b], re_[a:b]
        assert set(s_got.tolist()) == set(s_ref.tolist()), f"order {i}: different stores"
        by_store = dict(zip(s_ref.tolist(), e_ref.tolist()))
        ref_in_got_order = np.array([by_store[s] for s in s_got.tolist()])
        assert np.allclose(e_got, ref_in_got_order, rtol=0, atol=tol), f"order {i}: ETAs differ"
        keys = list(zip(e_got.tolist(), s_got.tolist()))
        assert keys == sorted(keys), f"order {i}: not sorted by (ETA, store)"
        assert (np.diff(ref_in_got_order) >= -tol).all(), f"order {i}: order disagrees with reference"
