"""Type stubs for the compiled kernel (see _core.pyx for the data layout and error policy)."""

import numpy as np
import numpy.typing as npt

EARTH_RADIUS: float
ETA_TOLERANCE_MIN: float

def unit_vectors(lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
def chord_radius(dist_m: float) -> float: ...
def sku_major(
    inv_indptr: npt.ArrayLike, inv_sku: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]: ...

class GridIndex:
    n_stores: int
    n_network: int
    ncols: int
    nrows: int
    cell: float
    u0: float
    v0: float
    min_handling: float
    reach: float
    def __init__(
        self,
        lat: npt.ArrayLike,
        lon: npt.ArrayLike,
        handling_min: npt.ArrayLike,
        store_index: npt.ArrayLike,
        zone_bits: npt.ArrayLike,
        n_network: int,
        all_lat: npt.ArrayLike,
        all_lon: npt.ArrayLike,
        all_handling_min: npt.ArrayLike,
        cell: float,
        centre: tuple[float, float] | None = ...,
    ) -> None: ...
    def query(
        self,
        lat: npt.ArrayLike,
        lon: npt.ArrayLike,
        max_eta_min: npt.ArrayLike,
        *,
        circuity: float,
        courier_m_per_min: float,
        tier_bits: npt.ArrayLike | None = ...,
        zone_indptr: npt.ArrayLike | None = ...,
        zone_store: npt.ArrayLike | None = ...,
        max_candidates: int = ...,
        start: int = ...,
        stop: int = ...,
        expected_per_order: float = ...,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]: ...
    def query_one(
        self,
        lat: float,
        lon: float,
        max_eta_min: float,
        *,
        circuity: float,
        courier_m_per_min: float,
        max_candidates: int = ...,
        tier_bit: int = ...,
        zone_store: npt.ArrayLike | None = ...,
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]: ...
    def set_zone_bits(self, store: int, bits: int) -> None: ...

def coverage(
    cand_indptr: npt.ArrayLike,
    cand_store: npt.ArrayLike,
    line_indptr: npt.ArrayLike,
    line_sku: npt.ArrayLike,
    line_qty: npt.ArrayLike,
    inv_indptr: npt.ArrayLike,
    inv_sku: npt.ArrayLike,
    inv_avail: npt.ArrayLike,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.bool_]]: ...
