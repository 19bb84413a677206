"""Stock and reservations: what a router may still sell, and who holds what.

One ``Stock`` per Router. It owns the stock arrays (on hand, safety stock, reserved,
available, per (store, SKU) row), each store's capacity left and open/closed state, the
orders holding a reservation, the lock that makes them consistent, and the kernel's option
search over them (the search keeps its own dense copy of available stock, so every change
goes through it: ``take``, ``spend``, ``refresh``).

Reservation life cycle (docs/getting-started.md, "The router"):

    reserve(order_id, ...)   reserved: the lines' units leave `available` (on_hand stays)
    release(order_id)        cancelled: the units and the capacity come back
    complete(order_id)       fulfilled: the units leave on_hand too; capacity stays used
    update(store, sku, n)    the store's count; available = on_hand - safety - reserved
    sell(rows)               a batch plan's lines leave on_hand for good
    close(store) / open(store)
    apply_rejection(...)     a store refused lines (docs/rejections.md): the reason's effect on
                             its count; a not_in_stock (store, SKU) is *excluded*: nothing of it
                             is available until its window ends (lift_expired) or update()

This module never searches for candidates, never builds an option and never explains.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from .config import Config
from .options import Option, line_holds, row_packages

if TYPE_CHECKING:
    from .decision import Decision
    from .lookahead import ShadowPrices
    from .model import Inventory, Network

# the SKU-major index of stock rows (_core.sku_major)
SkuIndex = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# A decision keeps its candidates' status for its explanation: the whole network's status
# bytes up to this many stores, the candidates' entries beyond (Stock.status_now)
STATUS_BYTES_MAX = 8192


@dataclass
class Held:
    """One order's reservation: what ``release`` gives back and ``complete`` sells."""

    decision: Decision  # the Decision that made it (route returns it again for the same order_id)
    src: np.ndarray  # per (merged) line: the store its units are reserved at, -1 none
    codes: np.ndarray | Sequence[int]  # per line: SKU code
    qty: np.ndarray | Sequence[int]
    stores: Sequence[int]  # one capacity unit each
    # (store, SKU code) pairs this order may not use again: the lines stores rejected
    excluded: frozenset[tuple[int, int]] = frozenset()

    def stock(self) -> list[tuple[int, int, int]]:
        """(store, sku code, qty) for every reserved line."""
        return [(int(s), int(k), int(q)) for s, k, q in zip(self.src, self.codes, self.qty) if s >= 0]


class Stock:
    """A network's stock, capacity and reservations as one router sees them."""

    def __init__(self, network: Network, config: Config, *, runner_up_window: float | None = None,
                 release_gil: bool = True):
        self.network = network
        self.config = config
        inv = network.inventory
        self.skus = [str(s) for s in inv.skus]
        self.sku_code = {s: k for k, s in enumerate(self.skus)}
        self.indptr: np.ndarray = inv.indptr.astype(np.int64, copy=True)
        self.sku: np.ndarray = inv.sku_code.astype(np.int32, copy=True)
        self.on_hand: np.ndarray = inv.on_hand.astype(np.int64, copy=True)
        self.safety: np.ndarray = inv.safety_stock.astype(np.int64, copy=True)
        # np.full, not np.zeros: write every page now, so no order pays a first-touch fault
        self.reserved_units: np.ndarray = np.full(self.on_hand.shape, 0, np.int64)
        # available = max(0, on_hand - safety_stock) - reserved: safety stock above on-hand
        # leaves nothing to sell, never a negative count
        self.avail: np.ndarray = np.maximum(self.on_hand - self.safety, 0)
        n = len(network)
        self.cap_left = np.asarray(network.capacity, dtype=np.float64).copy()
        self.closed = np.zeros(n, dtype=bool)
        self.closed_u8 = self.closed.view(np.uint8)
        self.usable = (self.cap_left >= 1).astype(np.uint8)
        # per store: 0 usable, 1 closed, 2 at capacity (what an explanation says)
        self.status = np.where(self.cap_left >= 1, 0, 2).astype(np.uint8)
        self.lock = threading.RLock()
        self.held: dict[str, Held] = {}
        # (store, SKU code) -> the router's clock (minutes) when its exclusion ends: while
        # excluded, the row's available is held at min(0, what it would be); the ends in a
        # heap (an entry whose pair was excluded again, or counted, is stale and skipped)
        self.excluded: dict[tuple[int, int], float] = {}
        self._ends: list[tuple[float, int, int]] = []
        self.next_end = math.inf  # the earliest end in the heap (route's one check)
        self.store_ids = network.store_ids
        self._runner_up_window = runner_up_window
        self._sku_index: SkuIndex | None = inv.sku_index()  # shared with every search over these rows
        self.search = self.make_search()
        self.search.release_gil = bool(release_gil)
        # per store, the price of its taking part in an option (None: unpriced): what its
        # rejecting is expected to cost (Router's accept_rates); applied again after a new
        # row (set_inventory clears a search's prices)
        self.reject_price: np.ndarray | None = None
        # the shadow prices of stock and capacity (Router(prices=...)); None: none
        self.shadow: ShadowPrices | None = None
        self._bind()

    # --- the option search over these arrays ---------------------------------------------------
    def make_search(self) -> _core.OptionSearch:
        """An option search over the stock arrays (read in place; a fresh one copies the
        stock into its own tables when built)."""
        net, cfg = self.network, self.config
        t, c, lim = cfg.travel, cfg.cost, cfg.limits
        w = self._runner_up_window
        return _core.OptionSearch(
            self.indptr, self.sku, self.avail, self.usable, net.handling_min, net.lat, net.lon,
            travel=net.travel.kernel, parcel_lead_min=t.parcel_lead_min,
            per_minute=c.per_minute, per_package=c.per_package, per_parcel=c.per_parcel,
            per_transfer=c.per_transfer, late_per_minute=c.late_per_minute,
            unfilled_per_line=c.unfilled_per_line, max_packages=lim.max_packages, max_transfers=lim.max_transfers,
            runner_up_window=-1.0 if w is None else float(w), sku_index=self.sku_index())

    def _bind(self) -> None:
        # the router's one-call path (route_one) reserves into these arrays from the kernel
        self.search.bind_owner(self.reserved_units, self.cap_left, self.closed_u8, self.status)
        self.apply_prices()

    def apply_prices(self) -> None:
        """Price the search with ``reject_price`` per store taking part, plus the shadow
        prices (``shadow``): per unit of a (store, SKU) row, mapped onto the rows as they are
        now, and per capacity unit of a store."""
        row, store = None, self.reject_price
        if self.shadow is not None:
            if len(self.shadow):
                row = self.shadow.row_prices(self.indptr, self.sku, self.sku_code)
            cp = self.shadow.capacity_price
            if cp.any():
                store = cp if store is None else store + cp
        self.search.set_prices(row, store)

    def sku_index(self) -> SkuIndex:
        """The SKU-major index of the rows (rebuilt once after a row was inserted)."""
        if self._sku_index is None:
            self._sku_index = _core.sku_major(self.indptr, self.sku)
        return self._sku_index

    # --- reading ---------------------------------------------------------------------------------
    def codes_of(self, skus: Sequence[str]) -> np.ndarray:
        """The SKU codes of an order's (merged) SKUs; -1 for a SKU nobody stocks."""
        get = self.sku_code.get
        return np.array([get(s, -1) for s in skus], dtype=np.int32)

    @property
    def status_per_candidate(self) -> bool:
        """A decision keeps its candidates' own status entries (a network of more than
        STATUS_BYTES_MAX stores), not the whole network's bytes."""
        return len(self.status) > STATUS_BYTES_MAX

    def status_now(self, cand_idx: np.ndarray | None) -> bytes | np.ndarray:
        """The candidates' status (0 usable, 1 closed, 2 full) as a decision sees it: the
        whole status bytes for a network of a few thousand stores (a copy of 0.05 us against
        0.8 us for indexing the candidates out of it), else the candidates' own entries
        (``cand_idx`` may be None only for the former)."""
        if len(self.status) <= STATUS_BYTES_MAX:
            return self.status.tobytes()
        assert cand_idx is not None
        return np.asarray(self.status.take(cand_idx))

    def pickup_state(self, store: int) -> tuple[bool, bool, float]:
        """A pickup store's (offers pickup, closed, capacity left)."""
        return bool(self.network.pickup[store]), bool(self.closed[store]), float(self.cap_left[store])

    def position(self, store: int, code: int) -> int:
        """The row of (store, SKU code), or -1 when the store has none."""
        return self.search.stock_position(store, code)

    def line_holds(self, store: int, codes: ArrayLike, qty: ArrayLike) -> np.ndarray:
        """Per line: whether ``store`` can fill it whole from the stock available now."""
        with self.lock:
            holds = line_holds(self.search, [int(store)], np.asarray(codes, np.int32), np.asarray(qty, np.int64))
            return np.asarray(holds[0])

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indptr per store, SKU code per row, available units per row), read-only views."""
        views = []
        for a in (self.indptr, self.sku, self.avail):
            v = a.view()
            v.flags.writeable = False
            views.append(v)
        return views[0], views[1], views[2]

    def available(self, store: int, sku: str) -> int:
        with self.lock:
            code = self.sku_code.get(str(sku))
            pos = -1 if code is None else self.position(store, code)
            return 0 if pos < 0 else int(self.avail[pos])

    def reserved(self) -> dict[tuple[str, str], int]:
        """Units reserved per (store_id, sku), summed over the orders holding reservations."""
        out: dict[tuple[str, str], int] = {}
        with self.lock:
            for h in self.held.values():
                for store, code, q in h.stock():
                    k = (str(self.store_ids[store]), self.skus[code])
                    out[k] = out.get(k, 0) + q
        return out

    def table(self) -> dict[str, np.ndarray]:
        """One entry per (store, sku) row: store_id, sku, on_hand, safety_stock, reserved, available."""
        with self.lock:
            store = np.repeat(np.arange(len(self.network)), np.diff(self.indptr))
            return {"store_id": self.store_ids[store], "sku": np.asarray(self.skus, object)[self.sku],
                    "on_hand": self.on_hand.copy(), "safety_stock": self.safety.copy(),
                    "reserved": self.reserved_units.copy(), "available": self.avail.copy()}

    def inventory_now(self) -> tuple[Inventory, np.ndarray]:
        """The stock as the next decision sees it as an Inventory (on_hand less what is
        reserved), with the capacity left."""
        from .model import Inventory as Inv

        with self.lock:
            inv = Inv(np.asarray(self.skus, object), self.indptr.copy(), self.sku.copy(),
                            self.on_hand - self.reserved_units, self.safety.copy())
            inv.share_sku_index(self.sku_index())  # the same rows: not sorted again
            return inv, self.cap_left.copy()

    # --- reservations ----------------------------------------------------------------------------
    def reserve(self, order_id: str, decision: Decision, src: np.ndarray, codes: np.ndarray, qty: np.ndarray,
                stores: Sequence[int]) -> None:
        """Hold an order's lines (``src``: each line's store, -1 none) and one capacity unit
        per store in ``stores``. The caller holds the lock."""
        self.take_lines(src, codes, qty)
        self.spend(stores, 1)
        self.held[order_id] = Held(decision, src, codes, qty, stores)

    def hold(self, order_id: str, decision: Decision, res: _core.SearchResult, codes: Sequence[int],
             qty: Sequence[int]) -> None:
        """Record an order whose units and capacity ``OptionSearch.route(reserve=True)``
        took as held. The caller holds the lock."""
        self.held[order_id] = Held(decision, res.line_src, codes, qty, res.stores)

    def take_option(self, option: Option, codes: ArrayLike, qty: ArrayLike) -> None:
        """Reserve an option chosen elsewhere, not recorded as held (the caller owns it)."""
        code_a = np.asarray(codes, np.int32)
        src = np.full(len(code_a), -1, np.int32)
        for store, j in option.sources():
            src[j] = store
        with self.lock:
            self.take_lines(src, code_a, np.asarray(qty, np.int64))
            self.spend(option.stores(), 1)

    def release(self, order_id: str, *, capacity: bool = True) -> bool:
        with self.lock:
            held = self.held.pop(str(order_id), None)
            if held is None:
                return False
            self.search.take(held.src, held.codes, held.qty, self.reserved_units, -1)
            if self.excluded:
                for store, code, _ in held.stock():
                    self._enforce(store, code)
            if capacity:
                self.spend(held.stores, -1)
            return True

    def complete(self, order_id: str) -> bool:
        with self.lock:
            held = self.held.pop(str(order_id), None)
            if held is None:
                return False
            for store, code, q in held.stock():
                pos = self.position(store, code)
                self.on_hand[pos] -= q
                self.reserved_units[pos] -= q
            return True

    def holding(self) -> list[str]:
        with self.lock:
            return list(self.held)

    @contextlib.contextmanager
    def withholding(self, pairs: Iterable[tuple[int, int]]) -> Iterator[None]:
        """Inside the block, the (store index, SKU code) pairs have nothing available; their
        stock comes back when the block ends, however it ends. Holds the lock."""
        saved = []
        with self.lock:
            for store, code in pairs:
                pos = self.position(int(store), int(code))
                if pos >= 0:
                    saved.append((int(store), pos, int(self.avail[pos])))
                    self.avail[pos] = 0
                    self.search.refresh(int(store), pos)
            try:
                yield
            finally:
                for store, pos, v in saved:
                    self.avail[pos] = v
                    self.search.refresh(store, pos)

    # --- changing the stock ------------------------------------------------------------------------
    def update(self, store: int, sku: str, on_hand: int) -> int:
        """Set a store's on-hand count of a SKU (new SKUs and rows are added); the units now
        available (negative when fewer than already promised)."""
        with self.lock:
            code = self.sku_code.get(sku)
            if code is None:
                code = self.sku_code[sku] = len(self.skus)
                self.skus.append(sku)
            pos = self.position(store, code)
            if pos < 0:
                pos = self._insert(store, code)
            self.excluded.pop((store, code), None)  # a count ends a not_in_stock exclusion
            self._set_on_hand(store, pos, int(on_hand))
            return int(self.avail[pos])

    def _set_on_hand(self, store: int, pos: int, on_hand: int) -> None:
        # the row's count, and its available as the count and the reservations make it
        self.on_hand[pos] = on_hand
        self.avail[pos] = max(0, self.on_hand[pos] - self.safety[pos]) - self.reserved_units[pos]
        self.search.refresh(store, pos)

    # --- rejections ------------------------------------------------------------------------------
    def unreserve(self, store: int, codes: np.ndarray, qty: np.ndarray) -> None:
        """Give back the units of lines reserved at ``store`` (a rejection: the held order's
        record is the caller's to change). The caller holds the lock."""
        self.search.take(np.full(len(codes), store, np.int32), np.asarray(codes, np.int32),
                         np.asarray(qty, np.int64), self.reserved_units, -1)

    def take_lines(self, src: np.ndarray, codes: np.ndarray, qty: np.ndarray) -> None:
        """Reserve lines at their sources (``src``: a store per line, -1 none). The caller
        holds the lock and records them in a held order."""
        self.search.take(src, codes, qty, self.reserved_units, 1)

    def spend(self, stores: Sequence[int], sign: int) -> None:
        """One capacity unit per store of ``stores`` spent (sign 1) or given back (-1)."""
        if len(stores):
            self.search.spend(stores, self.cap_left, self.closed_u8, self.status, sign)

    def apply_rejection(self, store: int, code: int, qty: int, reason: str, found: int | None,
                        until: float) -> None:
        """A rejection's effect on ``store``'s row of ``code`` (its units already given
        back): not_in_stock lowers on-hand to what is still reserved there plus safety stock
        (available 0) and excludes the row until ``until``; mismatch sets on-hand to
        ``found`` (a count, which ends an exclusion); damaged lowers on-hand by ``qty``.
        The caller holds the lock."""
        pos = self.position(store, code)
        if pos < 0:  # (a line is reserved only where the store has a row)
            return
        if reason == "not_in_stock":
            self._set_on_hand(store, pos, int(min(self.on_hand[pos], self.safety[pos] + self.reserved_units[pos])))
            self.excluded[(store, code)] = until
            heapq.heappush(self._ends, (until, store, code))
            self.next_end = self._ends[0][0]
        elif reason == "mismatch":
            assert found is not None
            self.excluded.pop((store, code), None)
            self._set_on_hand(store, pos, int(found))
        elif reason == "damaged":
            self._set_on_hand(store, pos, int(max(0, self.on_hand[pos] - qty)))
        self._enforce(store, code)

    def _enforce(self, store: int, code: int) -> None:
        # an excluded row has nothing available (units given back to it stay unsold)
        if (store, code) not in self.excluded:
            return
        pos = self.position(store, code)
        if pos >= 0 and self.avail[pos] > 0:
            self.avail[pos] = 0
            self.search.refresh(store, pos)

    def lift_expired(self, now: float) -> None:
        """End the exclusions whose window has passed at ``now`` (the router's clock): the
        row's available is again on_hand - safety - reserved."""
        with self.lock:
            ends = self._ends
            while ends and ends[0][0] <= now:
                until, store, code = heapq.heappop(ends)
                if self.excluded.get((store, code)) != until:
                    continue  # excluded again since (a later end), or counted
                del self.excluded[(store, code)]
                pos = self.position(store, code)
                if pos >= 0:
                    self._set_on_hand(store, pos, int(self.on_hand[pos]))
            self.next_end = ends[0][0] if ends else math.inf

    def _insert(self, s: int, code: int) -> int:
        # a new (store, sku) row: O(stock rows), rare; the search is pointed at the new arrays
        a, b = self.indptr[s], self.indptr[s + 1]
        pos = int(a + np.searchsorted(self.sku[a:b], code))
        self.sku = np.insert(self.sku, pos, np.int32(code))
        self.on_hand = np.insert(self.on_hand, pos, 0)
        self.safety = np.insert(self.safety, pos, 0)
        self.reserved_units = np.insert(self.reserved_units, pos, 0)
        self.avail = np.insert(self.avail, pos, 0)
        self.indptr[s + 1:] += 1
        self._sku_index = None
        self.search.set_inventory(self.indptr, self.sku, self.avail, self.sku_index())
        self._bind()
        return pos

    def sell(self, rows: list[dict[str, Any]]) -> None:
        """Take a batch plan's filled lines out of stock for good (checked first: nothing
        changes when one asks for more than is available)."""
        idx = self.network.store_index_map()
        take: dict[int, int] = {}
        where: dict[int, tuple[int, int]] = {}
        # capacity: a package spends its delivering (or preparing) store's, a transfer its sender's
        packages, transfers = row_packages(rows, idx)
        stores = [s for s, _ in packages.values()] + [s for _, _, s, _ in transfers]
        with self.lock:
            for r in rows:
                if r["mode"] == "unfilled":
                    continue
                s = idx[str(r["source_id"])]
                code = self.sku_code.get(str(r["sku"]), -1)
                pos = -1 if code < 0 else self.position(s, code)
                if pos < 0:
                    raise ValueError(f"order {r['order_id']}: store {r['source_id']} holds no {r['sku']}")
                take[pos] = take.get(pos, 0) + int(r["qty"])
                where[pos] = (s, code)
            pos_a = np.fromiter(take.keys(), np.int64, len(take))
            q = np.fromiter(take.values(), np.int64, len(take))
            short = np.flatnonzero(q > self.avail[pos_a])
            if len(short):
                p = int(pos_a[short[0]])
                s = int(np.searchsorted(self.indptr, p, side="right") - 1)
                raise ValueError(f"the plan takes {int(q[short[0]])} of {self.skus[self.sku[p]]} at "
                                 f"{self.store_ids[s]}, which has {int(self.avail[p])} available")
            # as route then complete: the kernel's take (which keeps its own dense copy of
            # avail in step), then the units leave on_hand and the reservation
            st = np.array([where[p][0] for p in take], np.int32)
            codes = np.array([where[p][1] for p in take], np.int32)
            self.take_lines(st, codes, q)
            self.on_hand[pos_a] -= q
            self.reserved_units[pos_a] -= q
            self.spend(stores, 1)

    # --- stores ----------------------------------------------------------------------------------
    def _set_usable(self, s: int) -> None:
        # a store takes part when open and below capacity; status says why not (explanations)
        closed, full = bool(self.closed[s]), bool(self.cap_left[s] < 1)
        self.usable[s] = not (closed or full)
        self.status[s] = 1 if closed else (2 if full else 0)

    def close(self, store: int) -> list[str]:
        with self.lock:
            self.closed[store] = True
            self._set_usable(store)
            return [oid for oid, h in self.held.items() if store in h.stores]

    def open(self, store: int) -> None:
        with self.lock:
            self.closed[store] = False
            self._set_usable(store)

    def capacity_left(self, store: int) -> float:
        with self.lock:
            return float(self.cap_left[store])

    def capacity_left_all(self) -> np.ndarray:
        with self.lock:
            return self.cap_left.astype(np.float64, copy=True)

    def reset_capacity(self, capacity: ArrayLike | None = None) -> None:
        cap = np.broadcast_to(np.asarray(self.network.capacity if capacity is None else capacity, np.float64),
                              self.cap_left.shape)
        with self.lock:
            self.cap_left[:] = cap
            for s in range(len(cap)):
                self._set_usable(s)


__all__ = ["STATUS_BYTES_MAX", "Held", "Stock"]
