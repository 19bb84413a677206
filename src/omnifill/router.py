"""The online Router: route one order at a time, reserve its stock, explain the decision.

An order service keeps one Router per network and calls ``route`` from as many threads as it
likes. Each decision is the minimum-cost option of the omnifill cost model (options.py) given the
stock and store capacity left at that moment, found by the exact search in ``_core``.

The router composes three rooms: ``stock.Stock`` (the stock, capacity and reservations, with
their lock and the kernel's search over them), the preparation of an order for the search
(``Router.prepare``: store references, lines merged by SKU, the candidates, outside the
lock) and ``decision`` (the Decision and its explanation). Reservation life cycle
(docs/getting-started.md, "The router"):

    route(order)            -> reserved: the lines' units leave `available` (on_hand stays)
    route(same order_id)    -> the same Decision again; nothing is reserved twice
    release(order_id)       -> cancelled: the units and the capacity come back
    complete(order_id)      -> fulfilled: the units leave on_hand too; capacity stays used
    update_stock(store, sku, on_hand)  the store's count; available = on_hand - safety - reserved
    close_store / open_store           a closed store takes part in no new decision
    reject(order_id, store, skus, reason)  the store refused lines: they are given back, the
                            reason's effect on stock applied, and re-routed at once with the
                            order's other packages kept (docs/rejections.md)

Concurrency: the search and the reservation of its answer happen under one lock, so two
threads never both take the last unit; the candidate search before it runs outside the lock
(it reads only the network's immutable grids). The Router never changes the Network.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from .config import Config
from .csr import csr_take, indptr_of
from .decision import Decision, DecisionRecord, RerouteRecord
from .errors import InputError, Problem
from .model import Network, Order
from .options import (
    MAX_EXACT_LINES,
    REASONS,
    Option,
    all_unfilled,
    delivery_reach,
    greedy_option,
    is_on_time,
    merge_lines,
    option_from_search,
)
from .rejections import Rejection, RejectionError, check_rejection, combined_option, kept_option, lines_given
from .stock import Held, Stock

if TYPE_CHECKING:
    from .lookahead import ShadowPrices

# an option as the kernel gives it: (cost, eta, elements)
Found = tuple[float, float, list[tuple[str, int, int, float, int, int, int, int]]]
# the minutes a rejection is assumed to come after the decision, in the default expected cost
# of re-routing a rejected line (Router's reject_cost): the simulator's default --reject-delay
REJECT_DELAY_MIN = 10.0
# a router with shadow prices: the priced search's budget per order, in search nodes (an
# order needing more is decided by the cost model alone): about 10 ms on this machine
PRICE_NODE_LIMIT = 20_000
_INF = float("inf")
# options_bulk searches at most this many orders a kernel call, finding their candidates just
# before: on the dense city (600 stores within an order's reach) a whole 100,000-order
# backlog's candidates took 1-2 GB, and their copies as much again
BULK_CHUNK = 4096


class PreparedOrder(NamedTuple):
    """An order made ready for the option search (``Router.prepare``)."""

    pickup: int  # the pickup store's index, -1 for a delivery
    home: int  # the home store's index, -1 none
    skus: list[str]  # the lines merged by SKU
    qtys: list[int]
    line_of: Sequence[int]  # per input line: its merged line
    cand_idx: np.ndarray  # the delivery candidates (store indices), by ETA
    cand_eta: np.ndarray
    warehouses: np.ndarray  # the warehouses that may ship it a parcel
    tgrid: _core.GridIndex | None  # the grid of the stores that may send it transfers
    qty: np.ndarray  # qtys as int64


def _unfilled(elements: list[Any] | Option, n_lines: int) -> int:
    """How many of an order's lines an answer leaves unfilled: the kernel's element list
    (each element's lines from a and from b, bit masks), or an Option (the greedy path).
    Plain integer work: a numpy call per decision costs more than the whole count."""
    if isinstance(elements, Option):
        return len(elements.unfilled)
    covered = 0
    for el in elements:
        covered |= el[4] | el[5]
    return n_lines - bin(covered).count("1")


def _stores_of(elements: list[Any] | Option) -> list[int]:
    """The stores an option uses, one capacity unit each: every package's store (deliverer,
    pickup store, warehouse) and every transfer's source."""
    if isinstance(elements, Option):
        return elements.stores()
    out: list[int] = []
    for _, a, b, *_ in elements:
        if a >= 0:
            out.append(a)
        if b >= 0:
            out.append(b)
    return out


def _monotonic_min() -> float:
    return time.monotonic() / 60.0


class Router:
    """Route orders one at a time against a network's stock, reserving as it decides."""

    def __init__(self, network: Network, config: Config | None = None, *, runner_up_window: float | None = None,
                 release_gil: bool = True, clock: Callable[[], float] | None = None,
                 accept_rates: ArrayLike | None = None, reject_cost: float | None = None,
                 prices: ShadowPrices | None = None, price_node_limit: int = PRICE_NODE_LIMIT):
        """config: the cost model (default the network's; its travel section must be the
        network's). runner_up_window: how far above the chosen option's cost the runner-up
        is searched exactly (default ``cost.per_package``, one more package's worth).
        release_gil: let other threads run Python while a search runs (they still wait for
        the router's lock to route). Measured with two routing threads on the Shanghai
        benchmark, releasing it was as fast or faster (benchmarks/README.md).
        clock: the time in minutes, for the windows of rejections (a not_in_stock (store,
        SKU) takes no order for ``rejections.exclude_min`` of it); default the monotonic
        clock. The simulator passes its own; ``clock`` may be set later.
        accept_rates: per store, the share of the lines it is given that it accepts (the
        rest it rejects): each option's cost then adds, per store taking part (a package it
        sends or prepares, a transfer it sends), the chance it rejects, ``1 - rate``, times
        ``reject_cost``, the expected cost of re-routing what it was given (default
        ``per_package + (per_minute + late_per_minute) * 10``: a new package, and ten
        minutes late); the search finds the minimum of those costs exactly, and a decision
        says both (``cost``, the cost model's; ``priced_cost``, with the expected rejections).
        docs/rejections.md, "Routing that expects rejections".
        prices: shadow prices of stock and capacity for the orders still to come
        (``lookahead.Pricer``; ``set_prices`` changes them): each option's cost adds the
        prices of the units it takes and the capacity it spends, and the search finds the
        minimum of those costs exactly within ``price_node_limit`` search nodes; an order
        whose priced search needs more gets the cost model's own best (its decision's
        ``priced_cost`` is then None). A decision says both costs, and its explanation says
        when a price changed the choice (the cost model's best, and what it would have
        cost in prices). docs/lookahead.md."""
        self.network = network
        self.clock: Callable[[], float] = clock or _monotonic_min
        self.config = cfg = config or network.config
        if cfg.travel != network.config.travel:
            raise ValueError("the router's travel model must be the network's (candidates are searched with it)")
        self.stock = Stock(network, cfg, runner_up_window=runner_up_window, release_gil=release_gil)
        # the lock and the search object never change (a new stock row re-points the search)
        self._lock = self.stock.lock
        self._search = self.stock.search
        self._single_city = network.cities[0] if len(network.cities) == 1 else None
        self._grid = network.grid(self._single_city) if self._single_city is not None else None
        self._grid_one = self._grid.query_one if self._grid is not None else None
        # a record's way to the candidates in the whole reach (DecisionRecord.in_reach)
        self._in_reach = (functools.partial(self._grid.query_one, travel=network.travel.kernel)
                          if self._grid is not None else None)
        self._kernel_travel = network.travel.kernel
        self._max_transfers = cfg.limits.max_transfers
        self._area_min = cfg.limits.max_courier_min
        self._tgrids: dict[str, _core.GridIndex] = {}
        self._no_stores = np.zeros(0, np.int32)
        self._no_etas = np.zeros(0, np.float64)
        self._warehouses = {city: network.warehouses(city) for city in network.cities}
        self._store_ids = network.store_ids
        self._priced = False
        self._shadow = False
        self._price_node_limit = int(price_node_limit)
        if accept_rates is not None:
            self.expect_rejections(accept_rates, reject_cost)
        if prices is not None:
            self.set_prices(prices)

    def set_prices(self, prices: ShadowPrices | None) -> None:
        """Price every decision from now on with these shadow prices (``prices`` in the
        constructor); None: route myopically again. Reservations are kept."""
        if prices is not None and len(prices.capacity_price) != len(self.network):
            raise ValueError(f"prices need one capacity price per store ({len(self.network)}), "
                             f"got {len(prices.capacity_price)}")
        with self._lock:
            self.stock.shadow = prices
            self.stock.apply_prices()
            self._shadow = prices is not None and (len(prices) > 0 or bool(prices.capacity_price.any()))

    def expect_rejections(self, accept_rates: ArrayLike | None, reject_cost: float | None = None) -> None:
        """Price every decision from now on with the stores' expected rejections (see
        ``accept_rates`` in the constructor); None: stop pricing them."""
        if accept_rates is None:
            with self._lock:
                self.stock.reject_price = None
                self.stock.apply_prices()
                self._priced = False
            return
        rates = np.asarray(accept_rates, np.float64)
        if rates.shape != (len(self.network),) or not ((rates >= 0) & (rates <= 1)).all():
            raise ValueError(f"accept_rates needs one share from 0 to 1 per store ({len(self.network)})")
        c = self.config.cost
        cost = (c.per_package + (c.per_minute + c.late_per_minute) * REJECT_DELAY_MIN if reject_cost is None
                else float(reject_cost))
        if not (np.isfinite(cost) and cost >= 0):
            raise ValueError(f"reject_cost must be a finite cost >= 0, got {reject_cost!r}")
        with self._lock:
            self.stock.reject_price = (1.0 - rates) * cost
            self.stock.apply_prices()
            self._priced = bool((self.stock.reject_price > 0).any())

    # --- routing -------------------------------------------------------------------------------
    def set_hour(self, hour: float) -> None:
        """Route with the travel model at this hour of the day from now on (road times by the
        hour; nothing changes for a model whose times do not). The simulator calls it as its
        clock turns; an order service may call it each hour. Reservations are kept."""
        net = self.network.at_hour(hour)
        if net is self.network:
            return
        kernel = net.travel.kernel
        with self._lock:
            self.network = self.stock.network = net
            self._kernel_travel = kernel
            if self._grid is not None:
                self._in_reach = functools.partial(self._grid.query_one, travel=kernel)
            self._search.set_travel(kernel)

    def route(self, order: Order | dict[str, Any], *, reserve: bool = True) -> Decision:
        """The minimum-cost decision for one order given the stock left; reserve it unless
        ``reserve=False``. An order_id already holding a reservation gets that decision back."""
        o = order if isinstance(order, Order) else Order.from_dict(order)
        stock = self.stock
        held = stock.held.get(o.order_id)
        if held is not None:
            return held.decision
        if stock.next_end != _INF and stock.next_end <= self.clock():
            stock.lift_expired(self.clock())  # rejections' windows that have ended give their rows back
        net = self.network
        if (self._grid is not None and o.mode != "pickup" and o.city is None and len(o.lines) <= MAX_EXACT_LINES
                and not len(net.zones) and not self._shadow):
            return self._route_one(o, reserve)
        p = self.prepare(o)
        pickup, skus = p.pickup, p.skus
        with self._lock:
            held = stock.held.get(o.order_id)
            if held is not None:
                return held.decision
            codes = stock.codes_of(skus)
            res: _core.SearchResult | None = None
            myopic: _core.SearchResult | None = None
            elements: list[Any] | Option
            if pickup >= 0 and not net.pickup[pickup]:
                src = np.full(len(skus), -1, np.int32)
                cost, eta, elements, proven = self.config.cost.unfilled_per_line * len(skus), 0.0, [], True
            elif len(skus) <= MAX_EXACT_LINES:
                def search() -> _core.SearchResult:
                    return self._search.search(codes, p.qty, o.promise_min, p.cand_idx, p.cand_eta, p.warehouses,
                                               lat=o.lat, lon=o.lon, tgrid=p.tgrid, pickup=pickup, home=p.home)

                if self._shadow:
                    res, myopic = self._shadow_search(search)
                else:
                    res = search()
                src = res.line_src
                cost, eta, elements = res.best
                proven = res.proven
            else:
                g = greedy_option(self._search, self.config, o.promise_min, codes, p.qty, p.cand_idx, p.cand_eta,
                                  p.warehouses, pickup)
                src = np.full(len(skus), -1, np.int32)
                for store, j in g.sources():
                    src[j] = store
                cost, eta, elements, proven = g.cost, g.eta_min, g, False
            # what rows and explanation need, as it was when the decision was made
            record = DecisionRecord(o, skus, p.line_of, codes, pickup, p.cand_idx, p.cand_eta,
                                    stock.status_now(p.cand_idx), None if pickup < 0 else stock.pickup_state(pickup),
                                    res, elements, eta, self.config, self._store_ids, len(p.warehouses) > 0)
            priced = None
            if self._shadow and res is not None and myopic is not res:  # (res is myopic: out of budget)
                priced, cost = cost, record.opt.cost
                record.priced_cost = priced
                record.price_note = "shadow" if not self._priced else "both"
                if myopic is not None and myopic.best[0] < cost - 1e-9:
                    record.myopic = myopic.best
                    record.shadow = stock.shadow
            elif self._priced and res is not None:  # the cost model's cost, and the priced one
                priced, cost = cost, record.opt.cost
                record.priced_cost = priced
            decision = Decision._made(o.order_id, cost, eta, is_on_time(bool(elements), _unfilled(elements, len(skus)),
                                                                  eta, o.promise_min), bool(proven), reserve, record,
                                      priced)
            if reserve:
                stock.reserve(o.order_id, decision, src, codes, p.qty,
                              res.stores if res is not None else _stores_of(elements))
        return decision

    def _shadow_search(self, run: Callable[[], _core.SearchResult]) -> tuple[_core.SearchResult, _core.SearchResult]:
        # the priced search within the price node limit, and the cost model's own (the
        # prices set aside): (the one decided by, the cost model's); when the priced one ran
        # out of nodes, the cost model's decides (both are it)
        search = self._search
        limit = search.node_limit
        search.node_limit = min(limit, self._price_node_limit)
        try:
            res = run()
        finally:
            search.node_limit = limit
        search.set_prices_active(False)
        try:
            myopic = run()
        finally:
            search.set_prices_active(True)
        return (res if res.proven else myopic), myopic

    def _route_one(self, o: Order, reserve: bool) -> Decision:
        # the order service's path, one kernel call: a delivery order of a one-city network
        # without zones. Its candidates, its search (over the nearest candidates first, as
        # far as the cost bound asks) and its reservation are OptionSearch.route's; here
        # only the lines, the SKU codes and the decision's record
        stock = self.stock
        lines = o.lines
        skus = [ln[0] for ln in lines]
        line_of: Sequence[int]
        if len(set(skus)) == len(skus):
            qtys, line_of = [ln[1] for ln in lines], range(len(skus))
        else:
            skus, qtys, line_of = merge_lines(skus, [ln[1] for ln in lines])
        home = -1 if o.home_store is None else self._store_ref(o, "home_store")
        get = stock.sku_code.get
        codes = [get(sk, -1) for sk in skus]
        city, grid = self._single_city, self._grid
        assert city is not None and grid is not None  # (route sends only such orders here)
        tgrid = None
        if self._max_transfers:
            tgrid = self._tgrids.get(city)
            if tgrid is None:
                tgrid = self._tgrids[city] = self.network.transfer_grid(city)
        wh = self._warehouses[city]
        reach = o.promise_min if o.promise_min > self._area_min else self._area_min
        with self._lock:
            held = stock.held.get(o.order_id)
            if held is not None:
                return held.decision
            # the status the decision saw, before its own reservation spends capacity: the whole
            # network's bytes, taken first; or the candidates' entries, once the search has
            # found them (then the kernel does not reserve, and Stock.reserve does after)
            per_cand = stock.status_per_candidate
            status = None if per_cand else stock.status_now(None)
            res = self._search.route(grid, codes, qtys, o.promise_min, reach, wh, lat=o.lat, lon=o.lon,
                                     tgrid=tgrid, home=home, reserve=reserve and not per_cand)
            if status is None:
                status = stock.status_now(res.cand_idx)
            cost, eta, elements = res.best
            # (the record reads the best option's elements from res again when it needs them)
            record = DecisionRecord(o, skus, line_of, codes, -1, None, None, status, None, res, None, eta,
                                    self.config, self._store_ids, len(wh) > 0, self._in_reach)
            on_time = is_on_time(bool(elements), _unfilled(elements, len(skus)), eta, o.promise_min)
            priced = None
            if self._priced:  # the cost model's cost, and the priced one
                priced, cost = cost, record.opt.cost
                record.priced_cost = priced
            decision = Decision._made(o.order_id, cost, eta, on_time, bool(res.proven), reserve, record, priced)
            if reserve and per_cand:
                stock.reserve(o.order_id, decision, res.line_src, np.asarray(codes, np.int32),
                              np.asarray(qtys, np.int64), res.stores)
            elif reserve:
                stock.hold(o.order_id, decision, res, codes, qtys)
        return decision

    def prepare(self, o: Order) -> PreparedOrder:
        """What a search of this order needs, found outside the lock (reads only immutable
        network state): store references, the lines merged by SKU, the candidates."""
        net = self.network
        pickup = self._store_ref(o, "pickup_store") if o.mode == "pickup" else -1
        home = -1 if o.home_store is None else self._store_ref(o, "home_store")
        lines = o.lines
        skus = [ln[0] for ln in lines]
        line_of: Sequence[int]
        if len(set(skus)) == len(skus):  # the usual case: one line per SKU
            qtys, line_of = [ln[1] for ln in lines], range(len(skus))
        else:
            skus, qtys, line_of = merge_lines(skus, [ln[1] for ln in lines])
        city = self._single_city if (self._single_city is not None and o.city is None) else self._city_of(o, pickup)
        reach = delivery_reach(o.promise_min, self._area_min)
        if pickup >= 0:
            cand_idx, cand_eta, wh = self._no_stores, self._no_etas, self._no_stores
        elif self._grid_one is not None and not len(net.zones):
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
        # (tuple.__new__: the named tuple's own __new__ costs 0.1 us more, on every decision)
        return tuple.__new__(PreparedOrder, (pickup, home, skus, qtys, line_of, cand_idx, cand_eta, wh, tgrid,
                                             np.array(qtys, dtype=np.int64)))

    def options(self, order: Order | dict[str, Any], k: int = 10, *, window: float = float("inf"),
                all_subsets: bool = False) -> OptionList:
        """The k cheapest options of an order given the stock left (nothing is reserved),
        cheapest first; options[0] is what ``route`` would choose. window: keep only options
        within this much of the cheapest. all_subsets: also options in which a store's lines
        are all held by other stores of the option too (the planner's lists: under contention
        either store's units may be the ones left). Each Option carries its ETA, its cost by
        cost model term, and the stock (``sources``, ``holds``) and capacity (``stores``) it uses."""
        o = order if isinstance(order, Order) else Order.from_dict(order)
        p = self.prepare(o)
        pickup, skus = p.pickup, p.skus
        if len(skus) > MAX_EXACT_LINES:
            raise ValueError(f"options are searched exactly for orders of up to {MAX_EXACT_LINES} SKUs")
        with self._lock:
            codes = self.stock.codes_of(skus)
            if pickup >= 0 and not self.network.pickup[pickup]:
                return OptionList([all_unfilled(self.config, o.promise_min, len(skus))])
            res = self._search.search(codes, p.qty, o.promise_min, p.cand_idx, p.cand_eta, p.warehouses,
                                      lat=o.lat, lon=o.lon, tgrid=p.tgrid, pickup=pickup, home=p.home,
                                      k=max(int(k), 3), window=window, all_subsets=all_subsets)
        found = res.options[:k]
        out = OptionList(option_from_search(f, len(skus), pickup, self.config, o.promise_min) if f[2]
                         else all_unfilled(self.config, o.promise_min, len(skus)) for f in found)
        out.proven = bool(res.proven)
        return out

    def options_bulk(self, orders: Iterable[Order | dict[str, Any]], k: int = 8, *, all_subsets: bool = False,
                     threads: int = 1, node_limit: int | None = None,
                     prices: tuple[ArrayLike | None, ArrayLike | None] | None = None) -> BulkOptions:
        """``options(o, k)`` for many orders in one kernel call per city, as arrays (the
        planner's path: no Python object per option). Every order sees the stock as it is now;
        nothing is reserved. Orders of more than 64 SKUs, and pickups at a store that does not
        offer pickup, are not searched (``searched`` is False for them). threads: the orders
        are split between this many searches running at once (the kernel releases the GIL;
        each thread has its own search state); the answer does not depend on it. node_limit:
        the search budget per order for this call (default: the search's own, 2,000,000 nodes);
        an order whose search ran out of it has ``proven`` False and the options found.
        prices: (per stock row of ``stock_rows()``, per store) the prices of a unit and of a
        capacity unit, added to every option's cost for this call (``OptionSearch.set_prices``;
        the planner's Lagrangian bound); the options' costs are then the priced ones."""
        todo: list[Order] = [o if isinstance(o, Order) else Order.from_dict(o) for o in orders]
        net = self.network
        n = len(todo)
        get = self.stock.sku_code.get
        line_ptr = np.zeros(n + 1, np.int64)
        codes: list[int] = []
        qtys: list[int] = []
        pickup = np.full(n, -1, np.int32)
        home = np.full(n, -1, np.int32)
        searched = np.ones(n, bool)
        for i, o in enumerate(todo):
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
                line_ptr[i + 1] = len(skus)
        np.cumsum(line_ptr, out=line_ptr)
        lat = np.array([o.lat for o in todo], np.float64)
        lon = np.array([o.lon for o in todo], np.float64)
        promise = np.array([o.promise_min for o in todo], np.float64)
        # each order's city: the pickup store's, else the given one or the nearest store's
        city = net.order_cities(lat, lon, None if len(net.cities) == 1 else [o.city for o in todo])
        city[pickup >= 0] = net.city_code[pickup[pickup >= 0]]
        reach = delivery_reach(promise, self._area_min)
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
            # interleaved shares, so that each thread gets a like mix of easy and hard orders,
            # each in chunks (a chunk's candidates are found when it is searched: on a dense
            # network a whole backlog's would take gigabytes)
            jobs += [(part[at:at + BULK_CHUNK], name, tgrid)
                     for part in (sel[t::threads] for t in range(threads)) for at in range(0, len(part), BULK_CHUNK)]

        def run(search: _core.OptionSearch, part: np.ndarray, name: str,
                tgrid: _core.GridIndex | None) -> tuple[np.ndarray, _core.SearchBatch]:
            cand = net.candidates(lat[part], lon[part], reach[part], promise_min=promise[part],
                                  city=None if len(net.cities) == 1 else [name] * len(part))
            # a pickup order's candidates are its pickup store's business, not the reach's
            counts = np.where(pickup[part] < 0, np.diff(cand.indptr), 0)
            keep = np.repeat(pickup[part] < 0, np.diff(cand.indptr))
            cand_ptr = np.zeros(len(part) + 1, np.int64)
            np.cumsum(counts, out=cand_ptr[1:])
            l_sel = csr_take(line_ptr, part)
            return part, search.search_many(
                indptr_of(line_ptr, part), codes_a[l_sel], qty_a[l_sel], promise[part], lat[part], lon[part],
                pickup[part], home[part], cand_ptr, cand.store_index[keep], cand.eta_min[keep],
                self._warehouses[name], tgrid, k=max(1, int(k)), all_subsets=all_subsets)

        with self._lock:
            # fresh searches for the other threads: each copies the stock into its own tables
            # when built, so one kept from an earlier call could be stale
            searches = [self._search] + [self.stock.make_search() for _ in range(threads - 1)]
            budget = self._search.node_limit
            for srch in searches:
                srch.node_limit = budget if node_limit is None else int(node_limit)
                # the call's prices, or none (a router expecting rejections prices its own
                # decisions only: the planner's options are the cost model's)
                if prices is not None:
                    srch.set_prices(*prices)
                elif self._priced or self._shadow:
                    srch.set_prices(None, None)
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
                if prices is not None or self._priced or self._shadow:
                    self.stock.apply_prices()
        return BulkOptions(n, line_ptr, codes_a, qty_a, pickup, searched, per_city)

    def route_many(self, orders: Iterable[Order | dict[str, Any]], *, reserve: bool = True) -> list[Decision]:
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
            return str(net.cities[0])
        try:
            code = net.order_cities([o.lat], [o.lon], None if o.city is None else [o.city])[0]
        except ValueError:
            raise InputError([Problem("<order>", None, "city", o.city,
                                      f"no stores in this city (order {o.order_id!r})")]) from None
        return str(net.cities[int(code)])

    # --- the stock, for the planner and the simulator ------------------------------------------
    def line_codes(self, skus: Iterable[object]) -> np.ndarray:
        """The router's SKU codes of an order's (merged) SKUs; -1 for a SKU nobody stocks."""
        return self.stock.codes_of([str(s) for s in skus])

    def line_holds(self, store: int, codes: ArrayLike, qty: ArrayLike) -> np.ndarray:
        """Per line (codes and quantities, any number of lines): whether ``store`` can fill it
        whole from the stock available now."""
        return self.stock.line_holds(store, codes, qty)

    @property
    def n_skus(self) -> int:
        """How many SKU codes the router knows (the inventory's, and those update_stock added)."""
        return len(self.stock.skus)

    def stock_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The stock as the next decision sees it, read-only: (indptr per store, SKU code per
        row, available units per row) (the planner reads its model's stock from them)."""
        return self.stock.rows()

    def capacity_left_all(self) -> np.ndarray:
        """Every store's capacity left (a copy; inf: unlimited)."""
        return self.stock.capacity_left_all()

    @contextlib.contextmanager
    def withholding(self, pairs: Iterable[tuple[int, int]]) -> Iterator[None]:
        """Inside the block, the (store index, SKU code) ``pairs`` have nothing available to
        any search of this router (the planner's search for the ways around short stock);
        their stock comes back when the block ends, however it ends. Holds the lock."""
        with self.stock.withholding(pairs):
            yield

    def take_option(self, option: Option, codes: ArrayLike, qty: ArrayLike) -> None:
        """Reserve an option chosen elsewhere (a locked order's stay option): its lines'
        units at their sources and one capacity unit per store taking part, even beyond the
        store's capacity (it then has none left for anyone else). Not recorded as a held
        order: the caller owns what it took. ``codes``, ``qty``: the option's merged lines."""
        self.stock.take_option(option, codes, qty)

    # --- the reservation life cycle ----------------------------------------------------------------
    def release(self, order_id: str, *, capacity: bool = True) -> bool:
        """Cancel an order's reservation: its units and capacity come back. False when the
        order holds none (already released, completed, or never reserved). capacity=False:
        the units come back, the capacity not (it belonged to a planning window that has
        ended since: ``reset_capacity`` gave the stores a fresh one)."""
        return self.stock.release(order_id, capacity=capacity)

    def complete(self, order_id: str) -> bool:
        """The order was picked and sent: its reserved units leave on_hand (available is
        unchanged) and its capacity stays used. False when the order holds no reservation."""
        return self.stock.complete(order_id)

    def reject(self, order_id: str, store_id: object, skus: Iterable[str] | None = None,
               reason: str = "not_in_stock", found: int | dict[str, int] | None = None,
               elapsed_min: float = 0.0, *, capacity: bool = True) -> Decision:
        """A store refused lines it was given: re-broker them (docs/rejections.md).

        ``skus``: the rejected SKUs (default every line the store was given in the order);
        ``reason``: one of ``rejections.REJECT_REASONS``; ``found``: for ``mismatch``, the
        count the store made (an int for one SKU, else {sku: count}); ``elapsed_min``: the
        minutes since the order (its promise counts from the order).

        The store's reservation of those lines is given back and the reason's effect on its
        stock applied; the order may not use those (store, SKU) pairs again; a
        ``not_in_stock`` pair takes no order for ``rejections.exclude_min`` minutes of the
        router's clock (or until ``update_stock`` counts it). The lines are then re-routed at
        once: the exact minimum of the whole order's cost, with the order's other packages
        kept as they are (their stock and capacity stay held, their ETAs stand) and the new
        packages leaving ``elapsed_min`` after the order. A store the order no longer needs
        gets its capacity unit back, unless ``capacity=False`` (the unit was spent in a
        planning window that has ended, or the attempt spent it: the simulator's choice, as
        ``release(capacity=False)``). Returns the new decision of the
        whole order (its explanation names the rejection); ``route`` of the same order_id
        returns it from now on. ``rejections.RejectionError`` (a ValueError naming the
        argument at fault), changing nothing, for an order holding no reservation, an
        unknown store, a SKU the store was not given, or a bad argument."""
        oid = str(order_id)
        with self._lock:
            stock = self.stock
            held = stock.held.get(oid)
            if held is None:
                raise RejectionError("order_id", f"order {oid!r} holds no reservation here (never routed with reserve, "
                                 "or cancelled or shipped since)")
            try:
                s = self.network.index_of(store_id)
            except KeyError:
                raise RejectionError("store_id", f"unknown store {store_id!r}") from None
            before = held.decision
            rec = before._snap
            m_skus = list(rec.skus)
            opt = before.option
            given = lines_given(opt, s)
            if skus is None:
                lines = given
                if not lines:
                    raise RejectionError("store_id", f"store {store_id!r} was given no line of order {oid!r}")
            else:
                want = [str(x) for x in ([skus] if isinstance(skus, str) else skus)]
                at = {m_skus[j]: j for j in given}
                for x in want:
                    if x not in at:
                        raise RejectionError("skus", f"store {store_id!r} was not given SKU {x!r} of order {oid!r}"
                                         + (f" (it was given {', '.join(m_skus[j] for j in given)})" if given
                                            else " (it was given no line of it)"))
                if not want:
                    raise RejectionError("skus", "skus is empty: name the rejected SKUs, or pass None for all "
                                                 "the store was given")
                lines = sorted({at[x] for x in want})
            r_skus = [m_skus[j] for j in lines]
            reason, counts, elapsed = check_rejection(reason, found, elapsed_min, r_skus)
            now = float(self.clock())
            codes = np.asarray(held.codes, np.int32)
            qty = np.asarray(held.qty, np.int64)
            sel = np.asarray(lines, np.int64)
            # 1. the store's units of those lines back, and the reason's effect on its count
            stock.unreserve(s, codes[sel], qty[sel])
            until = now + self.config.rejections.exclude_min
            for j in lines:
                stock.apply_rejection(s, int(codes[j]), int(qty[j]), reason,
                                      None if counts is None else counts[m_skus[j]], until)
            if reason == "closed":
                stock.close(s)
            # 2. what the order keeps; the capacity of the stores it no longer needs comes
            # back (a pickup store's too, for the search to see: its package is re-costed
            # as already paid, and its unit taken again below)
            kept = kept_option(opt, s, lines)
            pickup = rec.pickup
            kept_pickup = pickup >= 0 and any(p.store == pickup for p in kept.packages)
            search_view = kept.stores()
            if kept_pickup:
                search_view.remove(pickup)
            stock.spend(_less(held.stores, search_view) if capacity else ([pickup] if kept_pickup else []), -1)
            excluded = held.excluded | {(s, int(codes[j])) for j in lines if codes[j] >= 0}
            # 3. the re-route: the rejected lines as an order placed `elapsed` after this one
            o = rec.order
            sub = Order(o.order_id, o.lat, o.lon, tuple((m_skus[j], int(qty[j])) for j in lines), o.promise_min,
                        o.mode, o.pickup_store, o.home_store, o.city)
            floor = max((p.eta_min for p in kept.packages), default=None)
            # a pickup order's one package cannot show two transfers from one store (its
            # rows name the sender and the pickup store only), so a store already sending
            # one into it supplies none of the re-routed lines
            senders = {b for p in kept.packages if p.kind == "pickup" for b, _ in p.transfers}
            no_use = excluded | {(b, int(codes[j])) for b in senders for j in lines if codes[j] >= 0}
            with stock.withholding(no_use):
                sub_rec, sub_opt, res, proven = self._reroute_search(
                    sub, elapsed, None if floor is None else floor - elapsed, kept_pickup)
            whole = combined_option(kept, sub_opt, lines, elapsed, self.config, o.promise_min)
            # 4. the re-routed lines' units and the new stores' capacity
            taken = np.full(len(codes), -1, np.int32)
            for store, k in sub_opt.sources():
                taken[lines[k]] = store
            stock.take_lines(taken, codes, qty)
            src = np.asarray(held.src, np.int32).copy()
            src[sel] = taken[sel]
            new_stores = whole.stores()
            stock.spend(_less(new_stores, search_view), 1)
            rejection = Rejection(s, str(self._store_ids[s]), tuple(r_skus), tuple(lines), reason, counts, elapsed, now)
            history = tuple(getattr(rec, "rejections", ())) + (rejection,)
            record = RerouteRecord(rec, kept, whole, sub_rec, lines, history, res, self.config, self._store_ids)
            on_time = is_on_time(bool(whole.packages), len(whole.unfilled), whole.eta_min, o.promise_min)
            decision = Decision._made(oid, whole.cost, whole.eta_min, on_time, proven, True, record)
            stock.held[oid] = Held(decision, src, codes, qty, new_stores, excluded)
            return decision

    def _reroute_search(self, sub: Order, elapsed: float, floor: float | None,
                        pickup_paid: bool) -> tuple[DecisionRecord, Option, _core.SearchResult | None, bool]:
        # the re-route's search, under the lock: the exact search on the order's clock
        # (offset, floor: OptionSearch.search), or greedy beyond 64 SKUs (not proven)
        p = self.prepare(sub)
        stock = self.stock
        codes = stock.codes_of(p.skus)
        n = len(p.skus)
        res: _core.SearchResult | None = None
        elements: list[Any] | Option
        if p.pickup >= 0 and not self.network.pickup[p.pickup]:
            opt, eta, elements, proven = all_unfilled(self.config, sub.promise_min, n), 0.0, [], True
        elif n <= MAX_EXACT_LINES:
            res = self._search.search(codes, p.qty, sub.promise_min, p.cand_idx, p.cand_eta, p.warehouses,
                                      lat=sub.lat, lon=sub.lon, tgrid=p.tgrid, pickup=p.pickup, home=p.home,
                                      eta_offset=elapsed, eta_floor=floor, pickup_paid=pickup_paid)
            _, eta, elements = res.best
            opt = (option_from_search(res.best, n, p.pickup, self.config, sub.promise_min) if elements
                   else all_unfilled(self.config, sub.promise_min, n))
            proven = bool(res.proven)
        else:
            opt = greedy_option(self._search, self.config, sub.promise_min - elapsed, codes, p.qty, p.cand_idx,
                                p.cand_eta, p.warehouses, p.pickup)
            eta, elements, proven = opt.eta_min, opt, False
        rec = DecisionRecord(sub, p.skus, p.line_of, codes, p.pickup, p.cand_idx, p.cand_eta,
                             stock.status_now(p.cand_idx), None if p.pickup < 0 else stock.pickup_state(p.pickup),
                             res, elements, eta, self.config, self._store_ids, len(p.warehouses) > 0)
        return rec, opt, res, proven

    def update_stock(self, store_id: object, sku: str, on_hand: int) -> int:
        """Set a store's on-hand count of a SKU (new SKUs and new store-SKU pairs are added).
        Returns the units now available: on_hand - safety_stock - reserved, which is negative
        when the store now holds fewer units than it has promised (nothing more is sold there;
        the reservations stay until released)."""
        s = self.network.index_of(store_id)
        if isinstance(on_hand, bool) or not isinstance(on_hand, (int, np.integer)) or on_hand < 0:
            raise ValueError(f"on_hand must be a whole number >= 0, got {on_hand!r}")
        return self.stock.update(s, str(sku), int(on_hand))

    def close_store(self, store_id: object) -> list[str]:
        """Take a store out of every new decision. Returns the orders holding a reservation
        that involves it (the caller may release and re-route them)."""
        return self.stock.close(self.network.index_of(store_id))

    def open_store(self, store_id: object) -> None:
        """Let a closed store take part again (capacity permitting)."""
        self.stock.open(self.network.index_of(store_id))

    # --- inspection ----------------------------------------------------------------------------
    def available(self, store_id: object, sku: str) -> int:
        """Units a new order could take: max(0, on_hand - safety_stock) - reserved; negative
        only when ``update_stock`` lowered on_hand below what is already reserved."""
        return self.stock.available(self.network.index_of(store_id), sku)

    def reserved(self) -> dict[tuple[str, str], int]:
        """Units reserved per (store_id, sku), summed over the orders holding reservations."""
        return self.stock.reserved()

    def capacity_left(self, store_id: object) -> float:
        return self.stock.capacity_left(self.network.index_of(store_id))

    def holding(self) -> list[str]:
        """The order ids holding a reservation."""
        return self.stock.holding()

    def sell(self, rows: list[dict[str, Any]]) -> None:
        """Take a batch plan's filled lines out of stock for good (what ``complete`` does for
        a routed order): each line's units leave on_hand at its source, and each store spends
        one unit of capacity per package it delivers or prepares and per transfer it sends.
        ``rows``: plan rows (the plan format) of orders holding no reservation here.
        Checks every line first and changes nothing when one asks for more than is available
        (ValueError naming the order, store and SKU): stock is never sold twice."""
        self.stock.sell(rows)

    def reset_capacity(self, capacity: ArrayLike | None = None) -> None:
        """A new planning window (an hour of a simulated day): every store's capacity left
        becomes ``capacity`` (one value per store, or one for all; default the network's)."""
        self.stock.reset_capacity(capacity)

    def network_now(self) -> Network:
        """The network as the next decision sees it: on_hand less what is reserved (and
        sold), capacity as it is left, the same stores, zones and grids (``Network.with_stock``);
        for planning a batch against the stock the day has left."""
        inv, cap = self.stock.inventory_now()
        return self.network.with_stock(inv, cap)

    def stock_table(self) -> dict[str, np.ndarray]:
        """The stock now, one entry per (store, sku) row: store_id, sku, on_hand, safety_stock,
        reserved, available."""
        return self.stock.table()


def _less(stores: Sequence[int], minus: Sequence[int]) -> list[int]:
    # the multiset difference: ``stores`` without one of each entry of ``minus``
    out = list(stores)
    for x in minus:
        if x in out:
            out.remove(x)
    return out


class BulkOptions:
    """``Router.options_bulk``'s answer: per order, its options as the kernel's arrays.

    ``found(i)`` gives order i's options as (cost, eta, elements) tuples, the form of
    ``SearchResult.option`` (``option_from_search`` turns one into an ``Option``);
    ``proven[i]``: the search finished; ``codes(i)``, ``qty(i)``: its merged lines."""

    def __init__(self, n: int, line_indptr: np.ndarray, codes: np.ndarray, qty: np.ndarray, pickup: np.ndarray,
                 searched: np.ndarray, per_city: list[tuple[np.ndarray, _core.SearchBatch]]) -> None:
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

    @property
    def nodes(self) -> int:
        """The search nodes the call took, over every order (a measure of its work that does
        not depend on the machine)."""
        return int(sum(res.nodes for res in self._parts))

    def codes(self, i: int) -> np.ndarray:
        return np.asarray(self._codes[self._lip[i]:self._lip[i + 1]])

    def qty(self, i: int) -> np.ndarray:
        return np.asarray(self._qty[self._lip[i]:self._lip[i + 1]])

    def flat(self, k: int) -> dict[str, np.ndarray]:
        """The first k options of every order as one set of arrays: per option ``order``,
        ``rank`` (0 the cheapest), ``cost``, ``ref`` (for ``found_one``) and ``el_indptr``;
        per element ``kind``, ``a``, ``b``, ``from_a``, ``from_b``, ``a_holds``, ``b_holds``
        (the kernel's); per order ``kth_cost``, the k-th option's cost (inf when fewer)."""
        cols = ("kind", "a", "b", "from_a", "from_b", "a_holds", "b_holds")
        out: dict[str, list[np.ndarray]] = {c: [] for c in ("order", "rank", "cost", "ref", "n_el") + cols}
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

    def found_one(self, ref: int) -> Found:
        """The option ``ref`` (from ``flat``) as ``found`` gives it: (cost, eta, elements)."""
        return self._parts[int(ref) >> 40].option(int(ref) & ((1 << 40) - 1))

    def found(self, i: int) -> list[Found]:
        """Order i's options, cheapest first, as (cost, eta, elements) tuples."""
        p, r = self._where[i]
        if p < 0:
            return []
        oip = self._parts[p].opt_indptr
        return [self.found_one((int(p) << 40) | o) for o in range(int(oip[r]), int(oip[r + 1]))]


class OptionList(list[Option]):
    """A list of options; ``proven``: the search finished, so any option not in the list
    costs at least as much as the last one."""

    proven = True


__all__ = ["REASONS", "BulkOptions", "OptionList", "PreparedOrder", "Router"]
