"""CSR helpers: rows of a compressed sparse row layout (indptr + flat entries), taken
together. Shared by the router's bulk options, the planner's option table and its model.

This module holds nothing but these array functions.
"""

from __future__ import annotations

import numpy as np

_I64 = np.int64


def csr_take(indptr: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """The positions of rows ``sel``'s entries in a CSR, in order."""
    sel = np.asarray(sel, _I64)
    n = indptr[sel + 1] - indptr[sel]
    tot = int(n.sum())
    if not tot:
        return np.zeros(0, _I64)
    starts = np.repeat(indptr[sel] - np.cumsum(n) + n, n)
    return starts + np.arange(tot, dtype=_I64)


def indptr_of(indptr: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """The indptr of rows ``sel`` of a CSR taken together."""
    out = np.zeros(len(sel) + 1, _I64)
    np.cumsum(indptr[np.asarray(sel, _I64) + 1] - indptr[np.asarray(sel, _I64)], out=out[1:])
    return out


def ptr_from_counts(counts) -> np.ndarray:
    out = np.zeros(len(counts) + 1, _I64)
    np.cumsum(counts, out=out[1:])
    return out


__all__ = ["csr_take", "indptr_of", "ptr_from_counts"]
