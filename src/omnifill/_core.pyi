"""Type stubs for the compiled kernel (see _core.pyx for the data layout and error policy)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

EARTH_RADIUS: float
ETA_TOLERANCE_MIN: float

def unit_vectors(lat: npt.ArrayLike, lon: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
def chord_radius(dist_m: float) -> float: ...
def sku_major(
    inv_indptr: npt.ArrayLike, inv_sku: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]: ...

class Legs:
    circuity: float
    courier_m_per_min: float
    transfer_m_per_min: float
    transfer_handling_min: float
    def __init__(
        self, circuity: float, courier_m_per_min: float, transfer_m_per_min: float = ...,
        transfer_handling_min: float = ...
    ) -> None: ...
    def courier_minutes(self, chord: float) -> float: ...
    def transfer_minutes(self, handling: float, chord: float) -> float: ...
    def reach_chord(self, minutes: float) -> float: ...
    road: bool
    reach_m_per_min: float
    n_network: int
    n_nodes: int
    snapper: NodeSnap | None
    def store_node(self) -> npt.NDArray[np.int32] | None: ...
    def store_access(self) -> npt.NDArray[np.float64] | None: ...
    def locate(self, lat: float, lon: float) -> tuple[int, float]: ...

class NodeSnap:
    n_nodes: int
    n_eligible: int
    def __init__(self, lat: npt.ArrayLike, lon: npt.ArrayLike, eligible: npt.ArrayLike | None = ...) -> None: ...
    def snap(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

def road_legs(
    circuity: float, courier_m_per_min: float, transfer_handling_min: float, snapper: NodeSnap,
    store_lat: npt.ArrayLike, store_lon: npt.ArrayLike, table: npt.NDArray[np.float32], reach_m_per_min: float
) -> Legs: ...

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
        travel: Legs,
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
        travel: Legs,
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

ELEMENT_KINDS: tuple[str, ...]
MAX_LINES: int
DENSE_MAX_BYTES: int

# one element of an option, as ``SearchResult.option`` gives it: (kind label, a, b, eta,
# lines from a, lines from b, lines a holds, lines b holds)
_Element = tuple[str, int, int, float, int, int, int, int]
# an option: (cost, eta, elements)
_Found = tuple[float, float, list[_Element]]

# the element rows of every option, built from the kernel's C struct: kind (an ElementKind),
# a, b, eta, from_a, from_b, a_holds, b_holds
ELEMENT_DTYPE: np.dtype
ELEMENT_FIELDS: tuple[str, ...]

class SearchResult:
    cost: npt.NDArray[np.float64]
    eta: npt.NDArray[np.float64]
    el_indptr: npt.NDArray[np.int64]
    elements: npt.NDArray[np.void]
    line_src: npt.NDArray[np.int32]
    stores: tuple[int, ...]
    examined_store: npt.NDArray[np.int32]
    examined_mask: npt.NDArray[np.uint64]
    runner_up_exact: bool
    proven: bool
    window: float
    nodes: int
    searched_min: float
    passes: int
    @property
    def cand_idx(self) -> npt.NDArray[np.int32] | None: ...
    @property
    def cand_eta(self) -> npt.NDArray[np.float64] | None: ...
    def option(self, i: int) -> _Found: ...
    @property
    def n_options(self) -> int: ...
    @property
    def best(self) -> _Found: ...
    @property
    def runner_up(self) -> _Found | None: ...
    @property
    def options(self) -> list[_Found]: ...

class SearchBatch:
    opt_indptr: npt.NDArray[np.int64]
    cost: npt.NDArray[np.float64]
    eta: npt.NDArray[np.float64]
    el_indptr: npt.NDArray[np.int64]
    elements: npt.NDArray[np.void]
    proven: npt.NDArray[np.bool_]
    nodes: int
    def option(self, i: int) -> _Found: ...

class OptionSearch:
    travel: Legs
    transfer_handling: float
    parcel_lead: float
    c_min: float
    c_pkg: float
    c_parcel: float
    c_tr: float
    c_late: float
    c_unf: float
    max_pk: int
    max_tr: int
    h_lo: float
    h_hi: float
    node_limit: int
    runner_up_window: float
    release_gil: bool
    def __init__(
        self,
        inv_indptr: npt.ArrayLike,
        inv_sku: npt.ArrayLike,
        avail: npt.NDArray[np.int64],
        usable: npt.NDArray[np.uint8],
        handling_min: npt.ArrayLike,
        lat: npt.ArrayLike,
        lon: npt.ArrayLike,
        *,
        travel: Legs,
        parcel_lead_min: float,
        per_minute: float,
        per_package: float,
        per_parcel: float,
        per_transfer: float,
        late_per_minute: float,
        unfilled_per_line: float,
        max_packages: int,
        max_transfers: int,
        node_limit: int = ...,
        runner_up_window: float = ...,
        sku_index: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]
        | None = ...,
    ) -> None: ...
    def set_travel(self, travel: Legs) -> None: ...
    def set_inventory(
        self,
        inv_indptr: npt.ArrayLike,
        inv_sku: npt.ArrayLike,
        avail: npt.NDArray[np.int64],
        sku_index: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]
        | None = ...,
    ) -> None: ...
    def take(
        self,
        line_src: npt.ArrayLike,
        line_sku: npt.ArrayLike,
        line_qty: npt.ArrayLike,
        reserved: npt.NDArray[np.int64],
        sign: int = ...,
    ) -> None: ...
    def spend(
        self,
        stores: list[int] | npt.ArrayLike,
        cap_left: npt.NDArray[np.float64],
        closed: npt.NDArray[np.uint8],
        status: npt.NDArray[np.uint8],
        sign: int = ...,
    ) -> None: ...
    def refresh(self, store: int, pos: int) -> None: ...
    def bind_owner(
        self,
        reserved: npt.NDArray[np.int64],
        cap_left: npt.NDArray[np.float64],
        closed: npt.NDArray[np.uint8],
        status: npt.NDArray[np.uint8],
    ) -> None: ...
    def route(
        self,
        grid: GridIndex,
        line_sku: Sequence[int] | npt.ArrayLike,
        line_qty: Sequence[int] | npt.ArrayLike,
        promise_min: float,
        reach_min: float,
        w_store: npt.ArrayLike,
        *,
        lat: float,
        lon: float,
        tgrid: GridIndex | None = ...,
        home: int = ...,
        reserve: bool = ...,
    ) -> SearchResult: ...
    def search(
        self,
        line_sku: npt.ArrayLike,
        line_qty: npt.ArrayLike,
        promise_min: float,
        d_store: npt.ArrayLike,
        d_eta: npt.ArrayLike,
        w_store: npt.ArrayLike,
        *,
        lat: float,
        lon: float,
        tgrid: GridIndex | None = ...,
        pickup: int = ...,
        home: int = ...,
        k: int = ...,
        window: float | None = ...,
        all_subsets: bool = ...,
        eta_offset: float = ...,
        eta_floor: float | None = ...,
        pickup_paid: bool = ...,
    ) -> SearchResult: ...
    def search_many(
        self,
        line_indptr: npt.ArrayLike,
        line_sku: npt.ArrayLike,
        line_qty: npt.ArrayLike,
        promise_min: npt.ArrayLike,
        lat: npt.ArrayLike,
        lon: npt.ArrayLike,
        pickup: npt.ArrayLike,
        home: npt.ArrayLike,
        cand_indptr: npt.ArrayLike,
        cand_store: npt.ArrayLike,
        cand_eta: npt.ArrayLike,
        w_store: npt.ArrayLike,
        tgrid: GridIndex | None = ...,
        *,
        k: int = ...,
        window: float = ...,
        all_subsets: bool = ...,
        chunk: int = ...,
    ) -> SearchBatch: ...
    def set_prices(
        self, row_price: npt.ArrayLike | None = ..., store_price: npt.ArrayLike | None = ...
    ) -> None: ...
    def set_prices_active(self, active: bool) -> None: ...
    def line_masks(
        self, stores: list[int] | npt.ArrayLike, line_sku: npt.ArrayLike, line_qty: npt.ArrayLike
    ) -> npt.NDArray[np.uint64]: ...
    def is_usable(self, store: int) -> bool: ...
    def handling_of(self, store: int) -> float: ...
    def stock_position(self, store: int, sku: int) -> int: ...
    def transfer_arrival(self, b: int, a: int) -> float: ...
