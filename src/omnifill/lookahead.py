"""Look-ahead routing: shadow prices for the stock and capacity that orders still to come
will want, from the planner's LP over a forecast of them (docs/lookahead.md).

The online router is the exact optimum of each order given the stock left, and myopic: it
spends a unit a later order will need although the order now had a good alternative. A
*shadow price* says what a unit of a (store, SKU) row, or a unit of a store's capacity, is
worth to the orders forecast to come: the dual price of its constraint in the LP relaxation
of planning those orders against what is left (the column-generation master of
``colgen``: each order's options sum to 1, what they take is at most what there is). The
router then minimises, per order, its cost plus the prices of the units and capacity it uses
(``Router(prices=...)``, exact under the priced costs); Acimovic and Graves (2015) route so.

- ``ShadowPrices``: the prices, keyed by store and SKU (not by stock row, so they outlive a
  change of the rows), with what the LP found.
- ``Pricer``: the LP over a forecast, re-solved as the day goes on (``prices``). It keeps the
  columns it has generated per forecast order, so a re-solve starts from them: columns never
  go stale (an option's cost does not depend on the stock; what is left is the LP's bound).
- ``forecast_day``: a forecast of a day's orders drawn from its arrival profile, its SKU
  popularity and where its customers are; never its orders themselves.

This module reads no files and never changes a router's stock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .choices import rows_of_keys, stock_keys
from .colgen import TOL_ABS, TOL_REL, Columns, _priced_search, _take, bulk_lines, priced_columns, solve_master
from .model import Order

_I64 = np.int64


@dataclass
class ShadowPrices:
    """Per (store, SKU) the price of one unit (``unit_store``, ``unit_sku``, ``unit_price``:
    the rows with a positive price) and per store the price of one unit of its capacity
    (``capacity_price``, one per store of the network, 0 where it is not scarce). ``orders``:
    the forecast orders the LP priced for; ``lp_value``: the LP's cost of them; ``converged``:
    column generation found no option left that could lower the LP (else the prices are those
    of the LP over the options found so far); ``rounds`` and ``seconds``: what it took."""

    unit_store: np.ndarray
    unit_sku: np.ndarray
    unit_price: np.ndarray
    capacity_price: np.ndarray
    orders: int = 0
    lp_value: float = 0.0
    converged: bool = True
    rounds: int = 0
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    @classmethod
    def none(cls, n_stores: int) -> ShadowPrices:
        """No prices (every unit and capacity free): the myopic router."""
        return cls(np.zeros(0, _I64), np.zeros(0, object), np.zeros(0), np.zeros(n_stores))

    def __post_init__(self) -> None:
        self.unit_store = np.asarray(self.unit_store, _I64)
        self.unit_sku = np.asarray(self.unit_sku, object)
        self.unit_price = np.asarray(self.unit_price, np.float64)
        self.capacity_price = np.asarray(self.capacity_price, np.float64)
        if not (len(self.unit_store) == len(self.unit_sku) == len(self.unit_price)):
            raise ValueError("unit_store, unit_sku and unit_price must have one entry per priced row")
        for name, v in (("unit_price", self.unit_price), ("capacity_price", self.capacity_price)):
            if len(v) and not (np.isfinite(v).all() and (v >= 0).all()):
                raise ValueError(f"{name} must be finite prices >= 0")

    def __len__(self) -> int:
        return len(self.unit_price)

    def unit(self, store: int, sku: str) -> float:
        """The price of one unit of ``sku`` at store index ``store`` (0 where none)."""
        d = self.notes.get("_unit")
        if d is None:
            d = self.notes["_unit"] = dict(zip(zip(self.unit_store.tolist(), self.unit_sku.tolist()),
                                               self.unit_price.tolist()))
        return d.get((store, sku), 0.0)

    def price_of(self, option, skus, qty) -> float:
        """What these prices add to an ``options.Option`` of an order whose merged lines are
        ``skus`` and ``qty``: its units at their sources and a capacity unit per store
        taking part."""
        return (sum(self.unit(s, skus[j]) * int(qty[j]) for s, j in option.sources())
                + float(sum(self.capacity_price[s] for s in option.stores())))

    def table(self, store_ids) -> dict[str, list]:
        """The unit prices as columns (store_id, sku, price), for a file or a look."""
        return {"store_id": [str(store_ids[s]) for s in self.unit_store.tolist()],
                "sku": [str(s) for s in self.unit_sku.tolist()], "price": self.unit_price.tolist()}

    def row_prices(self, indptr: np.ndarray, sku_code: np.ndarray, code_of: dict) -> np.ndarray:
        """Per row of a stock CSR (``Router.stock_rows``), its unit's price (0 where none)."""
        out = np.zeros(len(sku_code))
        if not len(self.unit_price):
            return out
        n_codes = int(sku_code.max()) + 1 if len(sku_code) else 0
        code = np.array([code_of.get(s, -1) for s in self.unit_sku.tolist()], _I64)
        ok = (code >= 0) & (code < n_codes) & (self.unit_store < len(indptr) - 1)
        row = rows_of_keys(stock_keys(indptr, sku_code, n_codes), self.unit_store[ok], code[ok], n_codes)
        out[row[row >= 0]] = self.unit_price[ok][row >= 0]
        return out


class Pricer:
    """The shadow prices of a forecast's orders, re-solved as the day goes on.

    forecast: the orders to come (``Order``), with ``when`` the minute each is expected;
    ``prices(router, now, capacity)`` prices the stock the router has left for the forecast
    orders expected from ``now`` on, with ``capacity`` per store what they may spend of it
    (default the router's capacity left). rounds: column generation's rounds per solve at
    most (the first solve may take ``first_rounds``); node_limit: the priced search's budget
    per order; time_limit_s: what one solve's rounds may take (the round under way finishes).
    """

    def __init__(self, forecast: list[Order], when: np.ndarray, *, k: int = 8, rounds: int = 3,
                 first_rounds: int = 8, node_limit: int = 20_000, time_limit_s: float = 30.0, threads: int = 1):
        self.forecast = list(forecast)
        self.when = np.asarray(when, np.float64)
        if len(self.when) != len(self.forecast):
            raise ValueError("the forecast needs one expected minute per order")
        self.k, self.rounds, self.first_rounds = int(k), int(rounds), int(first_rounds)
        self.node_limit, self.time_limit_s, self.threads = int(node_limit), float(time_limit_s), int(threads)
        self._cols: Columns | None = None  # every column so far, numbered by forecast order
        self._seen: set = set()
        self._listed = np.zeros(len(self.forecast), bool)  # the orders whose k cheapest are in
        self.solves = 0

    def prices(self, router, now: float = -math.inf, capacity: np.ndarray | None = None) -> ShadowPrices:
        t0 = time.perf_counter()
        cfg = router.config
        todo = np.flatnonzero(self.when >= now)
        n_st = len(router.network)
        indptr, sku, avail = router.stock_rows()
        indptr, sku = np.asarray(indptr), np.asarray(sku)
        if not len(todo):
            return ShadowPrices.none(n_st)
        n_rows = len(sku)
        keys = stock_keys(indptr, sku, router.n_skus)
        stock = np.r_[np.maximum(np.asarray(avail, np.float64), 0.0), 0.0]
        cap = np.asarray(router.capacity_left_all() if capacity is None else capacity, np.float64)
        orders = [self.forecast[int(i)] for i in todo]
        # the orders not listed yet: their k cheapest options now, and the option filling
        # nothing (always feasible), as columns numbered by forecast order
        new = np.flatnonzero(~self._listed[todo])
        if len(new):
            self._add(self._listed_columns(router, [orders[int(j)] for j in new], todo[new], keys, n_rows, n_st))
            self._listed[todo[new]] = True
        assert self._cols is not None
        # the master over the orders to come: their columns, renumbered 0..len(todo)-1
        local = np.full(len(self.forecast), -1, _I64)
        local[todo] = np.arange(len(todo))
        floor = np.zeros(len(todo))
        current = np.full(len(todo), -1, _I64)
        rounds = self.first_rounds if self.solves == 0 else self.rounds
        converged, done, sol = False, 0, None
        rp, sp = np.zeros(n_rows + 1), np.zeros(n_st)
        for rnd in range(rounds + 1):
            sel = np.flatnonzero(local[self._cols.order] >= 0)
            cols = _take(self._cols, sel, local[self._cols.order[sel]])
            sol = solve_master(cols, len(todo), stock, cap, max(1.0, self.time_limit_s))
            if sol.status != "OPTIMAL":
                break
            done = rnd + 1
            rp, sp = np.zeros(n_rows + 1), np.zeros(n_st)
            rp[sol.rows] = sol.row_price
            sp[sol.stores] = sol.store_price
            if rnd == rounds or time.perf_counter() - t0 > self.time_limit_s:
                break
            # the options cheapest at these prices; those of negative reduced cost join
            got = _priced_search(router, orders, np.arange(len(todo), dtype=_I64), rp[:n_rows], sp, self.threads,
                                 self.node_limit, cfg.cost.unfilled_per_line, floor, keys, router.n_skus, n_rows,
                                 current, 0.0)
            c, g = got.cols, got.col_order
            pi = sol.order_dual[g]
            neg = np.flatnonzero(c.priced(rp, sp) < pi - (TOL_ABS + TOL_REL * np.abs(pi)))
            if not self._add(_take(c, neg, todo[g[neg]])):
                converged = bool(got.exact.all())
                break
        self.solves += 1
        if sol is None or sol.status != "OPTIMAL":
            return ShadowPrices.none(n_st)
        pos = np.flatnonzero(rp[:n_rows] > 0)
        st_of_row = np.repeat(np.arange(len(indptr) - 1, dtype=_I64), np.diff(indptr))
        skus = router.stock.skus
        return ShadowPrices(st_of_row[pos], np.array([skus[int(c)] for c in sku[pos]], object), rp[pos], sp,
                            orders=len(todo), lp_value=float(sol.value), converged=converged, rounds=done,
                            seconds=time.perf_counter() - t0)

    def _add(self, cols: Columns) -> bool:
        # the columns not seen before join the pool; whether any did
        fresh = np.array([j for j, key in enumerate(cols.keys()) if key not in self._seen], _I64)
        if not len(fresh):
            return False
        cols = _take(cols, fresh, cols.order[fresh])
        self._seen.update(cols.keys())
        self._cols = cols if self._cols is None else self._cols.extend(cols)
        return True

    def _listed_columns(self, router, orders: list[Order], number: np.ndarray, keys, n_rows: int,
                        n_st: int) -> Columns:
        bulk = router.options_bulk(orders, k=self.k, threads=self.threads)
        flat = bulk.flat(self.k)
        m = len(orders)
        n_lines, line_ptr, lc, lq = bulk_lines(bulk, m)
        cols = priced_columns(flat, np.arange(m, dtype=_I64), line_ptr, lc, lq, keys, router.n_skus, n_rows,
                              np.zeros(n_rows + 1), np.zeros(n_st), np.full(m, -1, _I64), 0.0)
        cols.order = number[cols.order]
        # (an order not searched fills nothing: its lines as given)
        n_lines = np.where(bulk.searched, n_lines, [len(o.lines) for o in orders])
        z = np.zeros(m + 1, _I64)
        unfilled = Columns(np.asarray(number, _I64), n_lines * float(router.config.cost.unfilled_per_line), z,
                           np.zeros(0, _I64), np.zeros(0, _I64), z.copy(), np.zeros(0, _I64))
        return cols.extend(unfilled)


def forecast_day(lat: np.ndarray, lon: np.ndarray, promise_min: np.ndarray, n_lines: np.ndarray,
                 sku: np.ndarray, qty: np.ndarray, arrival: np.ndarray, *, scale: float = 1.0, seed: int = 0,
                 start: float = 0.0, prefix: str = "F") -> tuple[list[Order], np.ndarray]:
    """A forecast of a day's delivery orders from what a history of such days says, never the
    orders themselves: the number per hour is ``scale`` times the arrivals per clock hour
    (``arrival``, minutes), each at a uniform minute of its hour (from ``start`` on); each
    order's place and promise are those of a random one of the history's orders (``lat``,
    ``lon``, ``promise_min``), its number of lines another's (``n_lines``), and its lines
    distinct SKUs drawn by their share of the history's lines (``sku``), each with the
    quantity of a random line of that SKU (``qty``). Returns the orders and their minutes."""
    if not (math.isfinite(scale) and scale >= 0):
        raise ValueError(f"the forecast's scale must be a number >= 0, got {scale!r}")
    rng = np.random.default_rng([seed, 21])
    arrival = np.asarray(arrival, np.float64)
    hours = np.floor(arrival / 60).astype(_I64)
    per_hour = np.bincount(hours - hours.min(), minlength=1) if len(hours) else np.zeros(0, _I64)
    lo = int(hours.min()) if len(hours) else 0
    sku = np.asarray(sku, object)
    u_sku, sku_inv = np.unique(sku.astype(str), return_inverse=True)
    share = np.bincount(sku_inv, minlength=len(u_sku)).astype(np.float64)
    share /= share.sum() if share.sum() else 1.0
    qty = np.asarray(qty, _I64)
    by_sku = np.argsort(sku_inv, kind="stable")
    sku_ptr = np.r_[0, np.cumsum(np.bincount(sku_inv, minlength=len(u_sku)))]
    out: list[Order] = []
    when: list[float] = []
    for h, n_h in enumerate(per_hour.tolist()):
        m = int(round(n_h * scale))
        t0 = (lo + h) * 60.0
        for t in np.sort(rng.uniform(t0, t0 + 60.0, m)).tolist():
            if t < start:
                continue
            i = int(rng.integers(len(lat)))
            k = int(min(len(u_sku), max(1, n_lines[int(rng.integers(len(n_lines)))])))
            picks = rng.choice(len(u_sku), size=k, replace=False, p=share)
            lines = []
            for s in picks.tolist():
                q = int(qty[by_sku[sku_ptr[s] + int(rng.integers(sku_ptr[s + 1] - sku_ptr[s]))]])
                lines.append((str(u_sku[s]), max(1, q)))
            out.append(Order(f"{prefix}{len(out)}", float(lat[i]), float(lon[i]), tuple(lines),
                             float(promise_min[i])))
            when.append(t)
    return out, np.array(when, np.float64)


__all__ = ["Pricer", "ShadowPrices", "forecast_day"]
