"""The online Router: route one order at a time, reserve its stock, explain the decision.

An order service keeps one Router per network and calls ``route`` from as many threads as it
likes. Each decision is the minimum-cost option of the omnifill cost model (options.py) given the
stock and store capacity left at that moment, found by the exact search in ``_core``.

Reservation life cycle (README, "The router"):

    route(order)            -> reserved: the lines' units leave `available` (on_hand stays)
    route(same order_id)    -> the same Decision again; nothing is reserved twice
    release(order_id)       -> cancelled: the units and the capacity come back
    complete(order_id)      -> fulfilled: the units leave on_hand too; capacity stays used
    update_stock(store, sku, on_hand)  the store's count; available = on_hand - safety - reserved
    close_store / open_store           a closed store takes part in no new decision

Concurrency: the search and the reservation of its answer happen under one lock, so two
threads never both take the last unit; the candidate search before it runs outside the lock
(it reads only the network's immutable grids). The Router never changes the Network.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np

from . import _core
from .choices import csr_take, indptr_of
from .config import Config
from .errors import InputError, Problem
from .model import Decision, Network, Order
from .options import (
    MAX_EXACT_LINES,
    REASONS,
    Option,
    cost_breakdown,
    delivery_reach,
    greedy_option,
    is_on_time,
    line_holds,
    merge_lines,
    option_from_search,
    plan_rows,
    row_packages,
    unfilled_reasons,
)

# A decision keeps its candidates' status for its explanation: the whole network's status
# bytes up to this many stores, the candidates' entries beyond (Router._status_now)
STATUS_BYTES_MAX = 8192


@dataclass
class _Held:
    decision: Decision
    src: np.ndarray  # per (merged) line: the store its units are reserved at, -1 none
    codes: np.ndarray  # per line: SKU code
    qty: np.ndarray
    stores: list  # one capacity unit each

    def stock(self):
        """(store, sku code, qty) for every reserved line."""
        return [(int(s), int(k), int(q)) for s, k, q in zip(self.src, self.codes, self.qty) if s >= 0]


def _unfilled(elements, n_lines: int) -> int:
    """How many of an order's lines an answer leaves unfilled: the kernel's element list
    (each element's lines from a and from b, bit masks), or an Option (the greedy path).
    Plain integer work: a numpy call per decision costs more than the whole count."""
    if isinstance(elements, Option):
        return len(elements.unfilled)
    covered = 0
    for el in elements:
        covered |= el[4] | el[5]
    return n_lines - bin(covered).count("1")


def _stores_of(elements) -> list[int]:
    """The stores an option uses, one capacity unit each: every package's store (deliverer,
    pickup store, warehouse) and every transfer's source."""
    if isinstance(elements, Option):
        return elements.stores()
    out = []
    for _, a, b, *_ in elements:
        if a >= 0:
            out.append(a)
        if b >= 0:
            out.append(b)
    return out


class Router:
    """Route orders one at a time against a network's stock, reserving as it decides."""

    def __init__(self, network: Network, config: Config | None = None, *, runner_up_window: float | None = None,
                 release_gil: bool = True):
        """config: the cost model (default the network's; its travel section must be the
        network's). runner_up_window: how far above the chosen option's cost the runner-up
        is searched exactly (default ``cost.per_package``, one more package's worth).
        release_gil: let other threads run Python while a search runs (they still wait for
        the router's lock to route). Measured with two routing threads on the Shanghai
        benchmark, releasing it was as fast or faster (benchmarks/README.md)."""
        self.network = network
        self.config = cfg = config or network.config
        inv = network.inventory
        self._skus = [str(s) for s in inv.skus]
        self._sku_code = {s: k for k, s in enumerate(self._skus)}
        self._indptr = inv.indptr.astype(np.int64, copy=True)
        self._sku = inv.sku_code.astype(np.int32, copy=True)
        self._on_hand = inv.on_hand.astype(np.int64, copy=True)
        self._safety = inv.safety_stock.astype(np.int64, copy=True)
        # np.full, not np.zeros: write every page now, so no order pays a first-touch fault
        self._reserved = np.full(self._on_hand.shape, 0, np.int64)
        # available = max(0, on_hand - safety_stock) - reserved: safety stock above on-hand
        # leaves nothing to sell, never a negative count
        self._avail = np.maximum(self._on_hand - self._safety, 0)
        n = len(network)
        self._cap_left = np.asarray(network.capacity, dtype=np.float64).copy()
        self._closed = np.zeros(n, dtype=bool)
        self._closed_u8 = self._closed.view(np.uint8)
        self._usable = (self._cap_left >= 1).astype(np.uint8)
        t, lim = cfg.travel, cfg.limits
        if t != network.config.travel:
            raise ValueError("the router's travel model must be the network's (candidates are searched with it)")
        self._runner_up_window = runner_up_window
        self._sku_index = inv.sku_index()  # shared with every search over these rows
        self._search = self._make_search()
        self._search.release_gil = bool(release_gil)
        self._single_city = network.cities[0] if len(network.cities) == 1 else None
        self._grid_one = network.grid(self._single_city).query_one if self._single_city is not None else None
        self._kernel_travel = network.travel.kernel
        self._max_transfers = lim.max_transfers
        self._area_min = lim.max_courier_min
        self._tgrids: dict = {}
        self._status = np.where(self._usable == 1, 0, 2).astype(np.uint8)  # 0 usable, 1 closed, 2 full
        self._no_stores = np.zeros(0, np.int32)
        self._no_etas = np.zeros(0, np.float64)
        self._warehouses = {city: network.warehouses(city) for city in network.cities}
        self._lock = threading.RLock()
        self._held: dict[str, _Held] = {}
        self._store_ids = network.store_ids

    def _make_search(self) -> _core.OptionSearch:
        # an option search over the router's stock arrays (read in place)
        net, cfg = self.network, self.config
        t, c, lim = cfg.travel, cfg.cost, cfg.limits
        w = self._runner_up_window
        return _core.OptionSearch(
            self._indptr, self._sku, self._avail, self._usable, net.handling_min, net.lat, net.lon,
            travel=net.travel.kernel, parcel_lead_min=t.parcel_lead_min,
            per_minute=c.per_minute, per_package=c.per_package, per_parcel=c.per_parcel,
            per_transfer=c.per_transfer, late_per_minute=c.late_per_minute,
            unfilled_per_line=c.unfilled_per_line, max_packages=lim.max_packages, max_transfers=lim.max_transfers,
            runner_up_window=-1.0 if w is None else float(w), sku_index=self._current_sku_index())

    def _current_sku_index(self) -> tuple:
        # the SKU-major index of the router's rows (rebuilt once after a row was inserted)
        if self._sku_index is None:
            self._sku_index = _core.sku_major(self._indptr, self._sku)
        return self._sku_index

    # --- routing -------------------------------------------------------------------------------
    def route(self, order: Order | dict, *, reserve: bool = True) -> Decision:
        """The minimum-cost decision for one order given the stock left; reserve it unless
        ``reserve=False``. An order_id already holding a reservation gets that decision back."""
        o = order if isinstance(order, Order) else Order.from_dict(order)
        held = self._held.get(o.order_id)
        if held is not None:
            return held.decision
        net = self.network
        pickup, home, skus, _, line_of, cand_idx, cand_eta, wh, tgrid, qty = self._inputs(o)
        with self._lock:
            held = self._held.get(o.order_id)
            if held is not None:
                return held.decision
            get = self._sku_code.get
            codes = np.array([get(s, -1) for s in skus], dtype=np.int32)
            res = None
            if pickup >= 0 and not net.pickup[pickup]:
                src = np.full(len(skus), -1, np.int32)
                cost, eta, elements, proven = self.config.cost.unfilled_per_line * len(skus), 0.0, [], True
            elif len(skus) <= MAX_EXACT_LINES:
                res = self._search.search(codes, qty, o.promise_min, cand_idx, cand_eta, wh, lat=o.lat, lon=o.lon,
                                          tgrid=tgrid, pickup=pickup, home=home)
                src = res.line_src
                cost, eta, elements = res.best
                proven = res.proven
            else:
                g = greedy_option(self._search, self.config, o.promise_min, codes, qty, cand_idx, cand_eta, wh,
                                  pickup)
                src = np.full(len(skus), -1, np.int32)
                for store, j in g.sources():
                    src[j] = store
                cost, eta, elements, proven = g.cost, g.eta_min, g, False
            # what rows and explanation need, as it was when the decision was made
            snap = _Snapshot(o, skus, line_of, codes, pickup, cand_idx, cand_eta, self._status_now(cand_idx),
                             None if pickup < 0 else (bool(net.pickup[pickup]), bool(self._closed[pickup]),
                                                     float(self._cap_left[pickup])),
                             res, elements, eta, self.config, self._store_ids, len(wh) > 0)
            decision = Decision._made(o.order_id, cost, eta, is_on_time(bool(elements), _unfilled(elements, len(skus)),
                                                                  eta, o.promise_min), bool(proven), reserve, snap)
            if reserve:
                self._search.take(src, codes, qty, self._reserved, 1)
                stores = res.stores if res is not None else _stores_of(elements)
                self._search.spend(stores, self._cap_left, self._closed_u8, self._status, 1)
                self._held[o.order_id] = _Held(decision, src, codes, qty, stores)
        return decision

    def _status_now(self, cand_idx):
        # the candidates' status (0 usable, 1 closed, 2 full) as the decision sees it, for its
        # explanation: the whole status bytes for a network of a few thousand stores (a copy
        # of 0.05 us against 0.8 us for indexing the candidates out of it), else the
        # candidates' own entries
        if len(self._status) <= STATUS_BYTES_MAX:
            return self._status.tobytes()
        return self._status.take(cand_idx)

    def _set_usable(self, s: int) -> None:
        # a store takes part when open and below capacity; _status says why not (explanations)
        closed, full = bool(self._closed[s]), bool(self._cap_left[s] < 1)
        self._usable[s] = not (closed or full)
        self._status[s] = 1 if closed else (2 if full else 0)

    def _inputs(self, o: Order):
        # what a search of this order needs, found outside the lock (reads only immutable
        # network state): store references, the lines merged by SKU, the candidates
        net = self.network
        pickup = self._store_ref(o, "pickup_store") if o.mode == "pickup" else -1
        home = -1 if o.home_store is None else self._store_ref(o, "home_store")
        lines = o.lines
        skus = [ln[0] for ln in lines]
        if len(set(skus)) == len(skus):  # the usual case: one line per SKU
            qtys, line_of = [ln[1] for ln in lines], range(len(skus))
        else:
            skus, qtys, line_of = merge_lines(skus, [ln[1] for ln in lines])
        city = self._single_city if (self._single_city is not None and o.city is None) else self._city_of(o, pickup)
        reach = delivery_reach(o.promise_min, self._area_min)
        if pickup >= 0:
            cand_idx, cand_eta, wh = self._no_stores, self._no_etas, self._no_stores
        elif self._single_city is not None and not len(net.zones):
            # the network's own short path, without its checks (the Order checked lat and lon)
            cand_idx, cand_eta = self._grid_one(o.lat, o.lon, reach, travel=self._kernel_travel)
            wh = self._warehouses[city]
        else:
            cand_idx, cand_eta = net.candidates_one(o.lat, o.lon, reach,
                                                    city=None if self._single_city is not None else city,
                                                    promise_min=o.promise_min)
            wh = self._warehouses[city]
        tgrid = self._tgrids.get(city) if self._max_transfers else None
        if tgrid is None and self._max_transfers:
            tgrid = self._tgrids[city] = net.transfer_grid(city)
        return pickup, home, skus, qtys, line_of, cand_idx, cand_eta, wh, tgrid, np.array(qtys, dtype=np.int64)

    def options(self, order: Order | dict, k: int = 10, *, window: float = float("inf"),
                all_subsets: bool = False) -> OptionList:
        """The k cheapest options of an order given the stock left (nothing is reserved),
        cheapest first; options[0] is what ``route`` would choose. window: keep only options
        within this much of the cheapest. all_subsets: also options in which a store's lines
        are all held by other stores of the option too (the planner's lists: under contention
        either store's units may be the ones left). Each Option carries its ETA, its cost by
        cost model term, and the stock (``sources``, ``holds``) and capacity (``stores``) it uses."""
        o = order if isinstance(order, Order) else Order.from_dict(order)
        pickup, home, skus, _, _, cand_idx, cand_eta, wh, tgrid, qty = self._inputs(o)
        if len(skus) > MAX_EXACT_LINES:
            raise ValueError(f"options are searched exactly for orders of up to {MAX_EXACT_LINES} SKUs")
        with self._lock:
            get = self._sku_code.get
            codes = np.array([get(s, -1) for s in skus], dtype=np.int32)
            if pickup >= 0 and not self.network.pickup[pickup]:
                return OptionList([_nothing(self.config, o.promise_min, len(skus))])
            res = self._search.search(codes, qty, o.promise_min, cand_idx, cand_eta, wh, lat=o.lat, lon=o.lon,
                                      tgrid=tgrid, pickup=pickup, home=home, k=max(int(k), 3), window=window,
                                      all_subsets=all_subsets)
        found = res.options[:k]
        out = OptionList(option_from_search(f, len(skus), pickup, self.config, o.promise_min) if f[2]
                         else _nothing(self.config, o.promise_min, len(skus)) for f in found)
        out.proven = bool(res.proven)
        return out

    def options_bulk(self, orders, k: int = 8, *, all_subsets: bool = False, threads: int = 1,
                     node_limit: int | None = None) -> BulkOptions:
        """``options(o, k)`` for many orders in one kernel call per city, as arrays (the
        planner's path: no Python object per option). Every order sees the stock as it is now;
        nothing is reserved. Orders of more than 64 SKUs, and pickups at a store that does not
        offer pickup, are not searched (``searched`` is False for them). threads: the orders
        are split between this many searches running at once (the kernel releases the GIL;
        each thread has its own search state); the answer does not depend on it. node_limit:
        the search budget per order for this call (default: the search's own, 2,000,000 nodes);
        an order whose search ran out of it has ``proven`` False and the options found."""
        orders = [o if isinstance(o, Order) else Order.from_dict(o) for o in orders]
        net = self.network
        n = len(orders)
        get = self._sku_code.get
        lip = np.zeros(n + 1, np.int64)
        codes, qtys = [], []
        pickup = np.full(n, -1, np.int32)
        home = np.full(n, -1, np.int32)
        searched = np.ones(n, bool)
        for i, o in enumerate(orders):
            skus = [ln[0] for ln in o.lines]
            if len(set(skus)) == len(skus):
                q = [ln[1] for ln in o.lines]
            else:
                skus, q, _ = merge_lines(skus, [ln[1] for ln in o.lines])
            if o.mode == "pickup":
                pickup[i] = self._store_ref(o, "pickup_store")
                if not net.pickup[pickup[i]]:
                    searched[i] = False
            if o.home_store is not None:
                home[i] = self._store_ref(o, "home_store")
            if len(skus) > MAX_EXACT_LINES:
                searched[i] = False
            if searched[i]:
                codes.extend(get(s, -1) for s in skus)
                qtys.extend(q)
                lip[i + 1] = len(skus)
        np.cumsum(lip, out=lip)
        lat = np.array([o.lat for o in orders], np.float64)
        lon = np.array([o.lon for o in orders], np.float64)
        promise = np.array([o.promise_min for o in orders], np.float64)
        # each order's city: the pickup store's, else the given one or the nearest store's
        city = net.order_cities(lat, lon, None if len(net.cities) == 1 else [o.city for o in orders])
        city[pickup >= 0] = net.city_code[pickup[pickup >= 0]]
        deliver = pickup < 0
        cand = net.candidates(lat, lon, delivery_reach(promise, self._area_min), promise_min=promise,
                              city=None if len(net.cities) == 1 else [net.cities[c] for c in city])
        counts = np.where(deliver, np.diff(cand.indptr), 0)
        keep = np.repeat(deliver, np.diff(cand.indptr))
        cip = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=cip[1:])
        cs, ce = cand.store_index[keep], cand.eta_min[keep]
        codes_a = np.array(codes, np.int32)
        qty_a = np.array(qtys, np.int64)
        threads = max(1, int(threads))
        jobs = []
        for c in np.unique(city):
            sel = np.flatnonzero((city == c) & searched)
            if not len(sel):
                continue
            name = net.cities[int(c)]
            tgrid = None
            if self._max_transfers:
                tgrid = self._tgrids.get(name)
                if tgrid is None:
                    tgrid = self._tgrids[name] = net.transfer_grid(name)
            # interleaved shares, so that each thread gets a like mix of easy and hard orders
            jobs += [(part, name, tgrid) for part in (sel[t::threads] for t in range(threads)) if len(part)]

        def run(search, part, name, tgrid):
            l_sel = csr_take(lip, part)
            c_sel = csr_take(cip, part)
            return part, search.search_many(
                indptr_of(lip, part), codes_a[l_sel], qty_a[l_sel], promise[part], lat[part], lon[part],
                pickup[part], home[part], indptr_of(cip, part), cs[c_sel], ce[c_sel], self._warehouses[name],
                tgrid, k=max(1, int(k)), all_subsets=all_subsets)

        with self._lock:
            # fresh searches for the other threads: each copies the stock into its own tables
            # when built, so one kept from an earlier call could be stale
            searches = [self._search] + [self._make_search() for _ in range(threads - 1)]
            budget = self._search.node_limit
            for srch in searches:
                srch.node_limit = budget if node_limit is None else int(node_limit)
            try:
                if threads == 1:
                    per_city = [run(self._search, *job) for job in jobs]
                else:
                    from concurrent.futures import ThreadPoolExecutor

                    per_city = []
                    with ThreadPoolExecutor(threads) as ex:
                        for at in range(0, len(jobs), threads):  # one job per search at a time
                            futs = [ex.submit(run, searches[t], *job)
                                    for t, job in enumerate(jobs[at:at + threads])]
                            per_city += [f.result() for f in futs]
            finally:
                self._search.node_limit = budget
        return BulkOptions(n, lip, codes_a, qty_a, pickup, searched, per_city)

    def route_many(self, orders, *, reserve: bool = True) -> list[Decision]:
        """Route orders one after the other, in order (each sees what the earlier ones took)."""
        return [self.route(o, reserve=reserve) for o in orders]

    def _store_ref(self, o: Order, col: str) -> int:
        sid = getattr(o, col)
        if sid is None:
            return -1
        try:
            return self.network.index_of(sid)
        except KeyError:
            raise InputError([Problem("<order>", None, col, sid, f"unknown store (order {o.order_id!r})")]) from None

    def _city_of(self, o: Order, pickup: int) -> str:
        net = self.network
        if pickup >= 0:
            return str(net.city[pickup])
        if len(net.cities) == 1:
            if o.city is not None and o.city != net.cities[0]:
                raise InputError([Problem("<order>", None, "city", o.city,
                                          f"no stores in this city (order {o.order_id!r})")])
            return net.cities[0]
        try:
            code = net.order_cities([o.lat], [o.lon], None if o.city is None else [o.city])[0]
        except ValueError:
            raise InputError([Problem("<order>", None, "city", o.city,
                                      f"no stores in this city (order {o.order_id!r})")]) from None
        return net.cities[int(code)]

    def line_codes(self, skus) -> np.ndarray:
        """The router's SKU codes of an order's (merged) SKUs; -1 for a SKU nobody stocks."""
        get = self._sku_code.get
        return np.array([get(str(s), -1) for s in skus], dtype=np.int32)

    def line_holds(self, store: int, codes, qty) -> np.ndarray:
        """Per line (codes and quantities, any number of lines): whether ``store`` can fill it
        whole from the stock available now."""
        with self._lock:
            return line_holds(self._search, [int(store)], np.asarray(codes, np.int32), np.asarray(qty, np.int64))[0]

    @property
    def n_skus(self) -> int:
        """How many SKU codes the router knows (the inventory's, and those update_stock added)."""
        return len(self._skus)

    def stock_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stock as the next decision sees it, read-only: (indptr per store, SKU code per
        row, available units per row) (the planner reads its model's stock from them)."""
        views = []
        for a in (self._indptr, self._sku, self._avail):
            v = a.view()
            v.flags.writeable = False
            views.append(v)
        return views[0], views[1], views[2]

    def capacity_left_all(self) -> np.ndarray:
        """Every store's capacity left (a copy; inf: unlimited)."""
        with self._lock:
            return self._cap_left.astype(np.float64, copy=True)

    @contextlib.contextmanager
    def withholding(self, pairs):
        """Inside the block, the (store index, SKU code) ``pairs`` have nothing available to
        any search of this router (the planner's search for the ways around short stock);
        their stock comes back when the block ends, however it ends. Holds the lock."""
        saved = []
        with self._lock:
            for store, code in pairs:
                pos = self._search.stock_position(int(store), int(code))
                if pos >= 0:
                    saved.append((int(store), pos, int(self._avail[pos])))
                    self._avail[pos] = 0
                    self._search.refresh(int(store), pos)
            try:
                yield
            finally:
                for store, pos, v in saved:
                    self._avail[pos] = v
                    self._search.refresh(store, pos)

    def take_option(self, option: Option, codes, qty) -> None:
        """Reserve an option chosen elsewhere (a locked order's stay option): its lines'
        units at their sources and one capacity unit per store taking part, even beyond the
        store's capacity (it then has none left for anyone else). Not recorded as a held
        order: the caller owns what it took. ``codes``, ``qty``: the option's merged lines."""
        src = np.full(len(codes), -1, np.int32)
        for store, j in option.sources():
            src[j] = store
        with self._lock:
            self._search.take(src, np.asarray(codes, np.int32), np.asarray(qty, np.int64), self._reserved, 1)
            self._search.spend(option.stores(), self._cap_left, self._closed_u8, self._status, 1)

    # --- the reservation life cycle ----------------------------------------------------------------
    def release(self, order_id: str, *, capacity: bool = True) -> bool:
        """Cancel an order's reservation: its units and capacity come back. False when the
        order holds none (already released, completed, or never reserved). capacity=False:
        the units come back, the capacity not (it belonged to a planning window that has
        ended since: ``reset_capacity`` gave the stores a fresh one)."""
        with self._lock:
            held = self._held.pop(str(order_id), None)
            if held is None:
                return False
            self._search.take(held.src, held.codes, held.qty, self._reserved, -1)
            if capacity:
                self._search.spend(held.stores, self._cap_left, self._closed_u8, self._status, -1)
            return True

    def complete(self, order_id: str) -> bool:
        """The order was picked and sent: its reserved units leave on_hand (available is
        unchanged) and its capacity stays used. False when the order holds no reservation."""
        with self._lock:
            held = self._held.pop(str(order_id), None)
            if held is None:
                return False
            for store, code, q in held.stock():
                pos = self._search.stock_position(store, code)
                self._on_hand[pos] -= q
                self._reserved[pos] -= q
            return True

    def update_stock(self, store_id, sku: str, on_hand: int) -> int:
        """Set a store's on-hand count of a SKU (new SKUs and new store-SKU pairs are added).
        Returns the units now available: on_hand - safety_stock - reserved, which is negative
        when the store now holds fewer units than it has promised (nothing more is sold there;
        the reservations stay until released)."""
        s = self.network.index_of(store_id)
        if isinstance(on_hand, bool) or not isinstance(on_hand, (int, np.integer)) or on_hand < 0:
            raise ValueError(f"on_hand must be a whole number >= 0, got {on_hand!r}")
        sku = str(sku)
        with self._lock:
            code = self._sku_code.get(sku)
            if code is None:
                code = self._sku_code[sku] = len(self._skus)
                self._skus.append(sku)
            pos = self._search.stock_position(s, code)
            if pos < 0:
                pos = self._insert(s, code)
            self._on_hand[pos] = int(on_hand)
            self._avail[pos] = max(0, self._on_hand[pos] - self._safety[pos]) - self._reserved[pos]
            self._search.refresh(s, pos)
            return int(self._avail[pos])

    def _insert(self, s: int, code: int) -> int:
        # a new (store, sku) row: O(stock rows), rare; the search is pointed at the new arrays
        a, b = self._indptr[s], self._indptr[s + 1]
        pos = int(a + np.searchsorted(self._sku[a:b], code))
        self._sku = np.insert(self._sku, pos, np.int32(code))
        self._on_hand = np.insert(self._on_hand, pos, 0)
        self._safety = np.insert(self._safety, pos, 0)
        self._reserved = np.insert(self._reserved, pos, 0)
        self._avail = np.insert(self._avail, pos, 0)
        self._indptr[s + 1:] += 1
        self._sku_index = None
        self._search.set_inventory(self._indptr, self._sku, self._avail, self._current_sku_index())
        return pos

    def close_store(self, store_id) -> list[str]:
        """Take a store out of every new decision. Returns the orders holding a reservation
        that involves it (the caller may release and re-route them)."""
        s = self.network.index_of(store_id)
        with self._lock:
            self._closed[s] = True
            self._set_usable(s)
            return [oid for oid, h in self._held.items() if s in h.stores]

    def open_store(self, store_id) -> None:
        """Let a closed store take part again (capacity permitting)."""
        s = self.network.index_of(store_id)
        with self._lock:
            self._closed[s] = False
            self._set_usable(s)

    # --- inspection ----------------------------------------------------------------------------
    def available(self, store_id, sku: str) -> int:
        """Units a new order could take: max(0, on_hand - safety_stock) - reserved; negative
        only when ``update_stock`` lowered on_hand below what is already reserved."""
        s = self.network.index_of(store_id)
        with self._lock:
            code = self._sku_code.get(str(sku))
            pos = -1 if code is None else self._search.stock_position(s, code)
            return 0 if pos < 0 else int(self._avail[pos])

    def reserved(self) -> dict[tuple[str, str], int]:
        """Units reserved per (store_id, sku), summed over the orders holding reservations."""
        out: dict[tuple[str, str], int] = {}
        with self._lock:
            for h in self._held.values():
                for store, code, q in h.stock():
                    k = (str(self._store_ids[store]), self._skus[code])
                    out[k] = out.get(k, 0) + q
        return out

    def capacity_left(self, store_id) -> float:
        with self._lock:
            return float(self._cap_left[self.network.index_of(store_id)])

    def holding(self) -> list[str]:
        """The order ids holding a reservation."""
        with self._lock:
            return list(self._held)

    def sell(self, rows) -> None:
        """Take a batch plan's filled lines out of stock for good (what ``complete`` does for
        a routed order): each line's units leave on_hand at its source, and each store spends
        one unit of capacity per package it delivers or prepares and per transfer it sends.
        ``rows``: plan rows (the plan format) of orders holding no reservation here.
        Checks every line first and changes nothing when one asks for more than is available
        (ValueError naming the order, store and SKU): stock is never sold twice."""
        idx = self.network.store_index_map()
        take: dict[int, int] = {}
        where: dict[int, tuple[int, int]] = {}
        # capacity: a package spends its delivering (or preparing) store's, a transfer its sender's
        packages, transfers = row_packages(rows, idx)
        stores = [s for s, _ in packages.values()] + [s for _, s, _ in transfers]
        with self._lock:
            for r in rows:
                if r["mode"] == "unfilled":
                    continue
                s = idx[str(r["source_id"])]
                code = self._sku_code.get(str(r["sku"]), -1)
                pos = -1 if code < 0 else self._search.stock_position(s, code)
                if pos < 0:
                    raise ValueError(f"order {r['order_id']}: store {r['source_id']} holds no {r['sku']}")
                take[pos] = take.get(pos, 0) + int(r["qty"])
                where[pos] = (s, code)
            pos = np.fromiter(take.keys(), np.int64, len(take))
            q = np.fromiter(take.values(), np.int64, len(take))
            short = np.flatnonzero(q > self._avail[pos])
            if len(short):
                p = int(pos[short[0]])
                s = int(np.searchsorted(self._indptr, p, side="right") - 1)
                raise ValueError(f"the plan takes {int(q[short[0]])} of {self._skus[self._sku[p]]} at "
                                 f"{self._store_ids[s]}, which has {int(self._avail[p])} available")
            # as route then complete: the kernel's take (which keeps its own dense copy of
            # avail in step), then the units leave on_hand and the reservation
            st = np.array([where[p][0] for p in take], np.int32)
            codes = np.array([where[p][1] for p in take], np.int32)
            self._search.take(st, codes, q, self._reserved, 1)
            self._on_hand[pos] -= q
            self._reserved[pos] -= q
            self._search.spend(stores, self._cap_left, self._closed_u8, self._status, 1)

    def reset_capacity(self, capacity=None) -> None:
        """A new planning window (an hour of a simulated day): every store's capacity left
        becomes ``capacity`` (one value per store, or one for all; default the network's)."""
        cap = np.broadcast_to(np.asarray(self.network.capacity if capacity is None else capacity, np.float64),
                              self._cap_left.shape)
        with self._lock:
            self._cap_left[:] = cap
            for s in range(len(cap)):
                self._set_usable(s)

    def network_now(self) -> Network:
        """The network as the next decision sees it: on_hand less what is reserved (and
        sold), capacity as it is left, the same stores, zones and grids (``Network.with_stock``);
        for planning a batch against the stock the day has left."""
        from .model import Inventory

        with self._lock:
            inv = Inventory(np.asarray(self._skus, object), self._indptr.copy(), self._sku.copy(),
                            self._on_hand - self._reserved, self._safety.copy())
            inv.share_sku_index(self._current_sku_index())  # the same rows: not sorted again
            return self.network.with_stock(inv, self._cap_left.copy())

    def stock_table(self) -> dict[str, np.ndarray]:
        """The stock now, one entry per (store, sku) row: store_id, sku, on_hand, safety_stock,
        reserved, available."""
        with self._lock:
            store = np.repeat(np.arange(len(self.network)), np.diff(self._indptr))
            return {"store_id": self._store_ids[store], "sku": np.asarray(self._skus, object)[self._sku],
                    "on_hand": self._on_hand.copy(), "safety_stock": self._safety.copy(),
                    "reserved": self._reserved.copy(), "available": self._avail.copy()}

class BulkOptions:
    """``Router.options_bulk``'s answer: per order, its options as the kernel's arrays.

    ``found(i)`` gives order i's options as (cost, eta, elements) tuples, the form of
    ``OptionSearch.search`` (``option_from_search`` turns one into an ``Option``);
    ``proven[i]``: the search finished; ``codes(i)``, ``qty(i)``: its merged lines."""

    def __init__(self, n, line_indptr, codes, qty, pickup, searched, per_city):
        self.n = n
        self._lip, self._codes, self._qty = line_indptr, codes, qty
        self.pickup = pickup
        self.searched = searched
        self.proven = np.zeros(n, bool)
        self._where = np.full((n, 2), -1, np.int64)  # per order: (part, position in part)
        self._parts = []
        for p, (sel, res) in enumerate(per_city):
            self.proven[sel] = res.proven
            self._where[sel, 0] = p
            self._where[sel, 1] = np.arange(len(sel))
            self._parts.append(res)

    def codes(self, i: int) -> np.ndarray:
        return self._codes[self._lip[i]:self._lip[i + 1]]

    def qty(self, i: int) -> np.ndarray:
        return self._qty[self._lip[i]:self._lip[i + 1]]

    def flat(self, k: int) -> dict:
        """The first k options of every order as one set of arrays: per option ``order``,
        ``rank`` (0 the cheapest), ``cost``, ``ref`` (for ``found_one``) and ``el_indptr``;
        per element ``kind``, ``a``, ``b``, ``from_a``, ``from_b``, ``a_holds``, ``b_holds``
        (the kernel's); per order ``kth_cost``, the k-th option's cost (inf when fewer)."""
        cols = ("kind", "a", "b", "from_a", "from_b", "a_holds", "b_holds")
        out = {c: [] for c in ("order", "rank", "cost", "ref", "n_el") + cols}
        kth = np.full(self.n, np.inf)
        for p, res in enumerate(self._parts):
            sel = np.flatnonzero(self._where[:, 0] == p)
            sel = sel[np.argsort(self._where[sel, 1])]  # the part's orders, in its order
            oip = res.opt_indptr
            cnt = np.minimum(np.diff(oip), k)
            keep = csr_take(oip, np.arange(len(sel)))
            rank = keep - np.repeat(oip[:-1], np.diff(oip))
            keep = keep[rank < k]
            rank = rank[rank < k]
            out["order"].append(np.repeat(sel, cnt))
            out["rank"].append(rank)
            out["cost"].append(res.cost[keep])
            out["ref"].append((np.int64(p) << 40) | keep)
            eip = res.el_indptr
            out["n_el"].append(eip[keep + 1] - eip[keep])
            els = res.elements[csr_take(eip, keep)]
            for c in cols:
                out[c].append(np.ascontiguousarray(els[c]))
            full = np.diff(oip) >= k
            kth[sel[full]] = res.cost[oip[:-1][full] + k - 1]
        flat = {c: (np.concatenate(v) if v else np.zeros(0)) for c, v in out.items()}
        el_indptr = np.zeros(len(flat["order"]) + 1, np.int64)
        np.cumsum(flat.pop("n_el"), out=el_indptr[1:])
        flat["el_indptr"] = el_indptr
        flat["kth_cost"] = kth
        return flat

    def found_one(self, ref: int) -> tuple:
        """The option ``ref`` (from ``flat``) as ``found`` gives it: (cost, eta, elements)."""
        return self._parts[int(ref) >> 40].option(int(ref) & ((1 << 40) - 1))

    def found(self, i: int) -> list[tuple]:
        """Order i's options, cheapest first, as (cost, eta, elements) tuples."""
        p, r = self._where[i]
        if p < 0:
            return []
        oip = self._parts[p].opt_indptr
        return [self.found_one((int(p) << 40) | o) for o in range(int(oip[r]), int(oip[r + 1]))]


class OptionList(list):
    """A list of options; ``proven``: the search finished, so any option not in the list
    costs at least as much as the last one."""

    proven = True


def _nothing(config: Config, promise: float, n_lines: int) -> Option:
    br = cost_breakdown(config, promise, 0.0, 0, 0, 0, n_lines)
    return Option(br["total"], 0.0, (), tuple(range(n_lines)), br)


class _Snapshot:
    """What rows and the explanation need, taken when the decision was made (stock changes
    after); they are built from it on first access."""

    __slots__ = (
        "_examined",
        "_opt",
        "cand_eta",
        "cand_idx",
        "cand_status",
        "codes",
        "config",
        "elements",
        "eta",
        "has_warehouse",
        "line_of",
        "order",
        "pickup",
        "pickup_state",
        "res",
        "skus",
        "store_ids",
    )

    def __init__(self, order, skus, line_of, codes, pickup, cand_idx, cand_eta, cand_status, pickup_state, res,
                 elements, eta, config, store_ids, has_warehouse=True):
        self.order, self.skus, self.line_of, self.codes, self.pickup = order, skus, line_of, codes, pickup
        self.cand_idx, self.cand_eta, self.cand_status = cand_idx, cand_eta, cand_status
        self.pickup_state = pickup_state  # (offers pickup, closed, capacity left)
        self.res = res  # the search's answer (None: greedy, or a pickup store that offers none)
        self.elements = elements  # the search's element list, or an Option (greedy)
        self.eta, self.config, self.store_ids = eta, config, store_ids
        self.has_warehouse = has_warehouse  # the order's city has a warehouse shipping parcels
        self._opt = None
        self._examined = None

    @property
    def opt(self) -> Option:
        if self._opt is None:
            o = self.order
            if isinstance(self.elements, Option):
                self._opt = self.elements
            elif not self.elements:
                self._opt = _nothing(self.config, o.promise_min, len(self.skus))
            else:
                self._opt = option_from_search((None, self.eta, self.elements), len(self.skus), self.pickup,
                                               self.config, o.promise_min)
        return self._opt

    def option(self) -> Option:
        return self.opt

    def rows(self) -> list[dict]:
        o = self.order
        return plan_rows(self.opt, o.order_id, [s for s, _ in o.lines], [q for _, q in o.lines], self.line_of,
                         o.promise_min, self.store_ids, o.home_store, self.reasons())

    @property
    def examined(self) -> dict[int, int]:
        """{store: mask} for every store whose stock the search read."""
        if self._examined is None:
            st, m = (self.res.examined_store, self.res.examined_mask) if self.res is not None else (np.zeros(0), np.zeros(0))
            self._examined = dict(zip(st.tolist(), m.tolist()))
        return self._examined

    def examined_lines(self) -> int:
        seen = 0
        for m in self.examined.values():
            seen |= int(m)
        return seen

    def reasons(self) -> dict[int, str]:
        """Why each unfilled (merged) line is unfilled (``options.unfilled_reasons``)."""
        examined = self.examined
        seen = self.examined_lines()
        in_reach = self.pickup >= 0 or len(self.cand_idx) > 0 or bool(examined) or self.has_warehouse
        return unfilled_reasons(self.opt.unfilled, self.codes,
                                pickup_state=self.pickup_state if self.pickup >= 0 else None,
                                in_reach=in_reach, seen=seen)

    def explain(self) -> dict:
        ids, config = self.store_ids, self.config
        o, opt = self.order, self.opt
        examined = self.examined
        sku_of = self.skus

        def lines(mask):
            return [sku_of[j] for j, bit in enumerate(reversed(bin(mask)[2:])) if bit == "1"]

        # the candidates the search looked at (and those it could not use); the rest, farther
        # than any option that could still win, are counted
        cands = []
        cand_store = []  # the store index of each entry of cands
        skipped = []
        cand_list = self.cand_idx.tolist()
        seen_status = self.cand_status  # per store (bytes of the whole network), or per candidate
        status_of = ([seen_status[s] for s in cand_list] if isinstance(seen_status, bytes)
                     else seen_status.tolist())
        for k, (s, e) in enumerate(zip(cand_list, self.cand_eta.tolist())):
            if status_of[k] == 1:
                status = "closed"
            elif status_of[k] == 2:
                status = "at_capacity"
            elif s in examined:
                status = "examined"
            else:
                skipped.append(e)
                continue
            entry = {"store_id": str(ids[s]), "eta_min": round(e, 3), "status": status}
            if s in examined:
                entry["can_fill"] = lines(examined[s])
            cands.append(entry)
            cand_store.append(s)
        bound = []
        chosen_stores = set(opt.stores())
        if o.mode == "pickup":
            offers, closed, cap = self.pickup_state
            if not offers:
                bound.append(f"{o.pickup_store} does not offer pickup")
            elif closed:
                bound.append(f"{o.pickup_store} is closed")
            elif cap < 1:
                bound.append(f"{o.pickup_store} has no capacity left")
        elif not len(self.cand_idx):
            bound.append(f"no store reaches the customer within "
                         f"{delivery_reach(o.promise_min, config.limits.max_courier_min):g} minutes")
        else:
            for c, s in zip(cands, cand_store):
                if s in chosen_stores or c["eta_min"] > opt.eta_min:
                    break
                if c["status"] in ("closed", "at_capacity"):
                    bound.append(f"{c['store_id']} ({c['eta_min']:.1f} min) is nearer but "
                                 f"{'closed' if c['status'] == 'closed' else 'at capacity'}")
                else:
                    lack = [x for x in sku_of if x not in set(c["can_fill"])]
                    if lack:
                        bound.append(f"{c['store_id']} ({c['eta_min']:.1f} min) is nearer but lacks "
                                     f"{', '.join(lack[:5])}{' ...' if len(lack) > 5 else ''}")
                if len(bound) >= 5:
                    break
            # what the search read says nothing of the candidates it did not examine (it
            # stopped before them: farther than any option that could still win), so a claim
            # about every store in reach is made only when it examined them all
            full = (1 << len(sku_of)) - 1
            if len(opt.packages) > 1 and not any(examined.get(s, 0) == full for s in cand_list):
                bound.append("no single store within reach holds every line" if not skipped else
                             f"no store examined holds every line (the {len(skipped)} not examined are too far "
                             "to beat the chosen option)")
        if opt.packages and opt.eta_min > o.promise_min + 1e-9:
            full = (1 << len(sku_of)) - 1
            in_time = [k for k, e in enumerate(self.cand_eta.tolist()) if e <= o.promise_min + 1e-9]
            if o.mode != "pickup" and not any(examined.get(cand_list[k], 0) == full for k in in_time):
                unexamined = sum(status_of[k] == 0 and cand_list[k] not in examined for k in in_time)
                bound.append(f"no store within {o.promise_min:g} minutes holds every line" if not unexamined else
                             f"no store examined within {o.promise_min:g} minutes holds every line")
            bound.append(f"late by {opt.eta_min - o.promise_min:.1f} min: no option within the promise costs less")
        reasons = self.reasons()
        for j, r in reasons.items():
            bound.append(f"line {sku_of[j]}: {REASONS[r]}")
        runner = None
        if self.res is not None and self.res.runner_up is not None:
            ru = option_from_search(self.res.runner_up, len(sku_of), self.pickup, config, o.promise_min)
            runner = {"option": ru.describe(ids), "cost": round(ru.cost, 6),
                      "cost_difference": round(ru.cost - opt.cost, 6), "exact": bool(self.res.runner_up_exact)}
            if not self.res.runner_up_exact:
                runner["note"] = (f"every other option costs more than {self.res.window:g} above the chosen one; "
                                  "this is the cheapest of those the search met")
        return {
            "chosen": opt.describe(ids),
            "cost": round(opt.cost, 6),
            "candidates": cands,
            "candidates_not_examined": {"count": len(skipped),
                                        "eta_min": ([round(min(skipped), 3), round(max(skipped), 3)] if skipped
                                                    else None)},
            "transfer_sources_examined": len(set(examined) - set(cand_list)),
            "runner_up": runner,
            "bound_by": bound,
            "proven_optimal": (bool(self.res.proven) if self.res is not None
                               else not isinstance(self.elements, Option)),
            "search_nodes": int(self.res.nodes) if self.res is not None else 0,
        }


__all__ = ["REASONS", "Router"]
