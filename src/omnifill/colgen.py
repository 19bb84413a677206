"""The planner's lower bound over every option, listed or not: column generation and the
Lagrangian bound.

Every plan of a backlog costs at least

    L(lam, mu) = sum over orders of min over *all* its options of
                     (cost + lam . units it takes + mu . capacity it spends)
                 - lam . stock - mu . capacity,

for any prices ``lam >= 0`` per unit of a (store, SKU) and ``mu >= 0`` per unit of a store's
capacity, because a plan takes no more than there is. The inner minimum is the exact option
search with the prices added to its costs (``OptionSearch.set_prices``: a change of costs,
not a new search), so L is a bound over the whole option space, not only the listed options.

Column generation finds good prices: per component of the plan's decomposition, a
*master* LP (each order's columns sum to 1; the columns are options with a fixed sourcing,
each with the units and capacity it takes) gives its duals as prices; the priced search then
gives every order its cheapest option at those prices, whose reduced cost (priced cost less
the dual of the order's row) is negative exactly when adding it can lower the master; those
are added and the master solved again. At convergence no option has a negative reduced
cost, so the master's value is the LP relaxation of every option, and L equals it. L is
valid at every round; the best round's is the bound.

A component too large for an LP (``lp_max_orders``) has no master: its units and capacity
are priced 0, which keeps the bound valid (its orders still count their cheapest options).
Prices from the LPs of its blocks, each with its share of the stock, were tried: they gave
less than no prices at all on the benchmarks (``benchmarks/README.md``).

Per order, the term is the priced search's minimum when the search finished, else a floor
known to be below every option of the order (``floor``: the planner's cheapest-option bound,
which holds priced too, since prices only add).

This module never changes the router's stock (a priced search is a search) and never reads
files.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .choices import OptionTable, line_bits, rows_of_keys, stock_keys, stock_rows_of
from .csr import csr_take
from .options import ElementKind

_I64 = np.int64
# a column enters the master when its reduced cost is below -(TOL_ABS + TOL_REL * |dual|)
TOL_ABS = 1e-6
TOL_REL = 1e-9
# a round's priced search runs in chunks, so that it stops near its budget: the first of
# FIRST_CHUNK orders, then as many as the budget has left at the nodes an order took so far,
# at most SEARCH_CHUNK
FIRST_CHUNK = 64
SEARCH_CHUNK = 4096
# Wentges smoothing's weight on the best prices so far (0: the master's duals alone)
SMOOTHING = 0.5


@dataclass
class Columns:
    """A master's columns: per column its order (0..n-1 of the master), cost, and CSRs of
    the stock rows it takes (``r_ptr``, ``r_row``, ``r_qty``) and the stores whose capacity
    it spends (``s_ptr``, ``s_store``, one entry per unit)."""

    order: np.ndarray
    cost: np.ndarray
    r_ptr: np.ndarray
    r_row: np.ndarray
    r_qty: np.ndarray
    s_ptr: np.ndarray
    s_store: np.ndarray

    @property
    def n(self) -> int:
        return len(self.order)

    def extend(self, other: Columns) -> Columns:
        return Columns(np.concatenate([self.order, other.order]), np.concatenate([self.cost, other.cost]),
                       np.concatenate([self.r_ptr, other.r_ptr[1:] + self.r_ptr[-1]]),
                       np.concatenate([self.r_row, other.r_row]), np.concatenate([self.r_qty, other.r_qty]),
                       np.concatenate([self.s_ptr, other.s_ptr[1:] + self.s_ptr[-1]]),
                       np.concatenate([self.s_store, other.s_store]))

    def priced(self, row_price: np.ndarray, store_price: np.ndarray) -> np.ndarray:
        """Per column, its cost plus the prices of the units and capacity it takes."""
        return (self.cost + np.bincount(np.repeat(np.arange(self.n), np.diff(self.r_ptr)),
                                        weights=row_price[self.r_row] * self.r_qty, minlength=self.n)
                + np.bincount(np.repeat(np.arange(self.n), np.diff(self.s_ptr)), weights=store_price[self.s_store],
                              minlength=self.n))

    def keys(self) -> list[tuple]:
        """An identity per column (its order, units and stores), to add nothing twice."""
        out = []
        for j in range(self.n):
            a, b = int(self.r_ptr[j]), int(self.r_ptr[j + 1])
            c, d = int(self.s_ptr[j]), int(self.s_ptr[j + 1])
            rr = sorted(zip(self.r_row[a:b].tolist(), self.r_qty[a:b].tolist()))
            out.append((int(self.order[j]), round(float(self.cost[j]), 6), tuple(rr),
                        tuple(sorted(self.s_store[c:d].tolist()))))
        return out


def listed_columns(tb: OptionTable, orders: np.ndarray, res_row: np.ndarray, none_row: int) -> Columns:
    """The table's options of ``orders`` as columns of a master over those orders (numbered
    0..len(orders)-1), each with its own sourcing (``option_columns``)."""
    orders = np.asarray(orders, _I64)
    cols = option_columns(tb, csr_take(tb.opt_ptr, orders), res_row, none_row)
    cols.order = np.repeat(np.arange(len(orders), dtype=_I64), np.diff(tb.opt_ptr)[orders])
    return cols


def option_columns(tb: OptionTable, rows: np.ndarray, res_row: np.ndarray, none_row: int) -> Columns:
    """Table rows as columns (column j is ``rows[j]``, its order j), each with its own
    sourcing: the units at each line's own holder; ``res_row`` per table resource its stock
    row (``none_row`` where the store has none: a row with no units)."""
    rows = np.asarray(rows, _I64)
    sl = csr_take(tb.l_ptr, rows)
    r = res_row[tb.h_res[tb.l_own_holder[sl]]]
    r_ptr = np.zeros(len(rows) + 1, _I64)
    np.cumsum(np.diff(tb.l_ptr)[rows], out=r_ptr[1:])
    cs = csr_take(tb.c_ptr, rows)
    s_ptr = np.zeros(len(rows) + 1, _I64)
    np.cumsum(np.diff(tb.c_ptr)[rows], out=s_ptr[1:])
    return Columns(np.arange(len(rows), dtype=_I64), tb.cost[rows].astype(np.float64), r_ptr,
                   np.where(r >= 0, r, none_row).astype(_I64), tb.l_qty[sl].astype(_I64), s_ptr,
                   tb.c_store[cs].astype(_I64))


def priced_columns(flat: dict, order_of: np.ndarray, line_ptr: np.ndarray, line_code: np.ndarray,
                   line_qty: np.ndarray, keys: np.ndarray, n_codes: int, none_row: int, row_price: np.ndarray,
                   store_price: np.ndarray, current: np.ndarray, move_penalty: float) -> Columns:
    """A priced search's options (``BulkOptions.flat``; option t of ``order_of[flat order]``)
    as columns: the sourcing the priced search chose (each line from the cheapest store of
    the option holding it, or unfilled), and the cost model's cost of that sourcing: the
    priced cost less the prices of the units and capacity it takes, plus the move penalty
    when it moves the order off its current store (the search does not add that).
    ``line_*``: per order of the search (CSR), its merged lines' codes and quantities;
    ``keys``: the stock rows' ``choices.stock_keys``. Each column's order is its search
    order."""
    m = len(flat["order"])
    eip = flat["el_indptr"]
    eo = np.repeat(np.arange(m, dtype=_I64), np.diff(eip))
    a, b = flat["a"].astype(_I64), flat["b"].astype(_I64)
    fa, fb = flat["from_a"].astype(np.uint64), flat["from_b"].astype(np.uint64)
    sorder = flat["order"].astype(_I64)  # the search's order numbering
    ia, ib = np.flatnonzero(a >= 0), np.flatnonzero(b >= 0)
    o1, l1, s1 = line_bits(eo[ia], a[ia], fa[ia], 64)
    o2, l2, s2 = line_bits(eo[ib], b[ib], fb[ib], 64)
    uo = np.concatenate([o1, o2])
    ul = np.concatenate([l1, l2]).astype(_I64)
    us = np.concatenate([s1, s2]).astype(_I64)
    srt = np.argsort(uo, kind="stable")
    uo, ul, us = uo[srt], ul[srt], us[srt]
    at = np.asarray(line_ptr, _I64)[sorder[uo]] + ul
    code = np.asarray(line_code, _I64)[at]
    qty = np.asarray(line_qty, _I64)[at]
    row = rows_of_keys(keys, us, code, n_codes)
    unit_price = np.where(row >= 0, row_price[np.maximum(row, 0)], 0.0) * qty
    cap_stores = np.concatenate([a[ia], b[ib]])
    cap_o = np.concatenate([eo[ia], eo[ib]])
    c_srt = np.argsort(cap_o, kind="stable")
    cap_o, cap_stores = cap_o[c_srt], cap_stores[c_srt]
    cost = (flat["cost"].astype(np.float64) - np.bincount(uo, weights=unit_price, minlength=m)
            - np.bincount(cap_o, weights=store_price[cap_stores], minlength=m))
    # the move penalty: the order has a current store and the option is not its one package there
    kind = flat["kind"].astype(_I64)
    pk_el = np.flatnonzero(kind != int(ElementKind.INTO_PICKUP))  # the elements that are packages
    cur = np.asarray(current, _I64)[np.asarray(order_of, _I64)[sorder]] if m else np.zeros(0, _I64)
    n_pk = np.bincount(eo[pk_el], minlength=m)
    off = np.bincount(eo[pk_el], weights=(a[pk_el] != cur[eo[pk_el]]), minlength=m)
    moved = (cur >= 0) & (n_pk > 0) & ~((n_pk == 1) & (off == 0))
    r_ptr = np.zeros(m + 1, _I64)
    np.cumsum(np.bincount(uo, minlength=m), out=r_ptr[1:])
    s_ptr = np.zeros(m + 1, _I64)
    np.cumsum(np.bincount(cap_o, minlength=m), out=s_ptr[1:])
    return Columns(sorder, cost + np.where(moved, move_penalty, 0.0), r_ptr,
                   np.where(row >= 0, row, none_row).astype(_I64), qty, s_ptr, cap_stores)


@dataclass
class MasterSolution:
    status: str
    value: float
    order_dual: np.ndarray  # per order of the master
    rows: np.ndarray  # the stock rows with a constraint, and their prices (>= 0)
    row_price: np.ndarray
    stores: np.ndarray  # the stores with a constraint, and their prices (>= 0)
    store_price: np.ndarray


def solve_master(cols: Columns, n_orders: int, avail: np.ndarray, cap: np.ndarray,
                 time_limit: float) -> MasterSolution:
    """GLOP on the master LP: each order's columns sum to 1; per stock row and per store
    whose columns could ask more than ``avail`` or ``cap``, what the columns take is at most
    that. A row no combination of the columns can exceed
    is left out (its dual would be 0)."""
    from ortools.linear_solver.python import model_builder_helper as mbh
    from scipy.sparse import csr_matrix

    m = cols.n
    empty = MasterSolution("OPTIMAL", 0.0, np.zeros(n_orders), np.zeros(0, _I64), np.zeros(0), np.zeros(0, _I64),
                           np.zeros(0))
    if m == 0:
        return empty
    r_col = np.repeat(np.arange(m, dtype=_I64), np.diff(cols.r_ptr))
    s_col = np.repeat(np.arange(m, dtype=_I64), np.diff(cols.s_ptr))
    # (in the rows and stores the columns touch only: the stock has millions of rows)
    rows_used, r_loc = np.unique(cols.r_row, return_inverse=True)
    stores_used, s_loc = np.unique(cols.s_store, return_inverse=True)
    nr, ns = len(rows_used), len(stores_used)
    # what the orders together could ask of each row (each order its most over its columns)
    want_r = _most_per_order(cols.order[r_col], r_loc, cols.r_qty.astype(np.float64), nr)
    # (a column spending a store twice counts twice: the units per column, summed first)
    sk, s_inv = np.unique(s_col * (ns + 1) + s_loc, return_inverse=True)
    per_col = np.bincount(s_inv, minlength=len(sk)).astype(np.float64)
    want_s = _most_per_order(cols.order[sk // (ns + 1)], sk % (ns + 1), per_col, ns)
    a_ = np.maximum(0.0, np.asarray(avail, np.float64)[rows_used])
    c_ = np.maximum(0.0, np.asarray(cap, np.float64)[stores_used])
    short = np.flatnonzero(want_r > a_ + 1e-9)
    tight = np.flatnonzero((want_s > c_ + 1e-9) & np.isfinite(c_))
    row_of = np.full(nr, -1, _I64)
    row_of[short] = n_orders + np.arange(len(short))
    st_of = np.full(ns, -1, _I64)
    st_of[tight] = n_orders + len(short) + np.arange(len(tight))
    on_r = row_of[r_loc] >= 0
    on_s = st_of[s_loc] >= 0
    rr = np.concatenate([cols.order, row_of[r_loc[on_r]], st_of[s_loc[on_s]]])
    cc = np.concatenate([np.arange(m, dtype=_I64), r_col[on_r], s_col[on_s]])
    vv = np.concatenate([np.ones(m), cols.r_qty[on_r].astype(np.float64), np.ones(int(on_s.sum()))])
    n_rows = n_orders + len(short) + len(tight)
    A = csr_matrix((vv, (rr, cc)), shape=(n_rows, m))
    lo = np.concatenate([np.ones(n_orders), np.full(len(short) + len(tight), -np.inf)])
    hi = np.concatenate([np.ones(n_orders), a_[short], np.floor(c_[tight])])
    short, tight = rows_used[short], stores_used[tight]
    h = mbh.ModelBuilderHelper()
    h.fill_model_from_sparse_data(np.zeros(m), np.ones(m), cols.cost.astype(np.float64),  # type: ignore[arg-type]
                                  lo, hi, A)  # type: ignore[arg-type]
    s = mbh.ModelSolverHelper("glop")
    if math.isfinite(time_limit):
        s.set_time_limit_in_seconds(max(0.1, float(time_limit)))
    s.solve(h)
    st = s.status().name
    if st != "OPTIMAL":
        return MasterSolution(st, -math.inf, np.zeros(n_orders), np.zeros(0, _I64), np.zeros(0), np.zeros(0, _I64),
                              np.zeros(0))
    duals = np.asarray(s.dual_values(), np.float64)
    return MasterSolution(st, float(s.objective_value()), duals[:n_orders], short.astype(_I64),
                          np.maximum(0.0, -duals[n_orders:n_orders + len(short)]), tight.astype(_I64),
                          np.maximum(0.0, -duals[n_orders + len(short):]))


def _most_per_order(order: np.ndarray, key: np.ndarray, amount: np.ndarray, n_keys: int) -> np.ndarray:
    # per key: the sum over orders of the order's largest amount of it over its columns
    if not len(order):
        return np.zeros(n_keys)
    ok = order.astype(_I64) * (n_keys + 1) + key
    u, inv = np.unique(ok, return_inverse=True)
    most = np.zeros(len(u))
    np.maximum.at(most, inv, amount)
    return np.bincount(u % (n_keys + 1), weights=most, minlength=n_keys + 1)[:n_keys]


@dataclass
class ColumnBound:
    """What ``column_bound`` found: the bound, whether column generation converged on every
    component it ran on (then the bound is the LP relaxation of every option), the rounds
    and the columns it added."""

    value: float
    converged: bool
    rounds: int
    added: int
    seconds: float


def column_bound(full, tb: OptionTable, comps: list, fixed: np.ndarray, orders: list, floor: np.ndarray,
                 proven: np.ndarray, *,
                 c_unf: float, move_penalty: float, current: np.ndarray, lp_max_orders: int,
                 rounds: int, node_budget: int, time_budget_s: float, threads: int,
                 node_limit: int) -> ColumnBound:
    """The Lagrangian bound of a decomposed backlog over every option (the module's
    docstring), its prices improved by column generation for up to ``rounds`` rounds, until
    nothing is added, or until the priced searches have taken ``node_budget`` search nodes
    (a measure of work, not of time, so that the bound does not depend on the machine's
    load); ``time_budget_s`` caps the master LPs' time, and the whole on a loaded machine
    at four times it. ``full``: the router over the full stock the table was
    searched with; ``tb``: the table; ``comps``, ``fixed``: the decomposition (locked orders
    are fixed and pay their one option); ``orders``: every order; ``floor``: per order, a
    bound below every option of it; ``proven``: per order, whether its search finished (its
    best listed option is then known to be its cheapest when ``tb.other`` is not below it);
    a component of more than ``lp_max_orders`` orders gets no master (its prices stay 0)."""
    t0 = time.perf_counter()
    indptr, sku, rows_avail = full.stock_rows()
    n_codes = full.n_skus
    n_rows = len(sku)
    none_row = n_rows  # a row with no units, for a holder the stock has no entry for
    keys = stock_keys(indptr, sku, n_codes)
    res_row = stock_rows_of(tb, indptr, sku, n_codes)
    best = tb.opt_ptr[:-1]
    cap0 = np.asarray(full.capacity_left_all(), np.float64)
    n_st = len(cap0)
    stock0 = np.r_[np.asarray(rows_avail, np.float64), 0.0]

    def left(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # the stock per row and the capacity per store the given table rows leave
        c = option_columns(tb, rows, res_row, none_row)
        r = np.bincount(c.r_row, weights=c.r_qty, minlength=n_rows + 1)
        s = np.bincount(c.s_store, minlength=n_st).astype(np.float64)
        return np.maximum(stock0 - r, 0.0), np.maximum(cap0 - s, 0.0)

    locked = np.flatnonzero(tb.locked)
    stock_lk, cap_lk = left(best[locked])  # what every plan's other orders share
    stock_fx, cap_fx = left(best[fixed])   # what the components get in the decomposition
    locked_cost = float(tb.cost[best[locked]].sum())
    # every order not locked: those whose search finished (``proven``) and whose best listed
    # option is their cheapest of all (``other``, the bound on the unlisted ones, is not
    # below it) are settled in a round where that option takes nothing priced: their priced
    # minimum is its cost. The others whose search finished are searched priced; the rest
    # count their floor
    free_all = np.setdiff1d(np.arange(tb.n, dtype=_I64), locked)
    best_cols = option_columns(tb, best[free_all], res_row, none_row)
    # (per entry of best_cols, its order's position in free_all)
    best_r_of = np.repeat(np.arange(len(free_all)), np.diff(best_cols.r_ptr))
    best_s_of = np.repeat(np.arange(len(free_all)), np.diff(best_cols.s_ptr))
    listed_gap = tb.cost[best[free_all]] - np.minimum(tb.other[free_all], tb.cost[best[free_all]])
    fin_proven = np.asarray(proven, bool)[free_all]
    known = fin_proven & (tb.other[free_all] >= tb.cost[best[free_all]])
    in_comp = np.zeros(tb.n, bool)
    in_small = np.zeros(tb.n, bool)
    for comp in comps:
        in_comp[np.asarray(comp, _I64)] = True
        in_small[np.asarray(comp, _I64)] = len(comp) <= lp_max_orders

    small = [c for c in range(len(comps)) if len(comps[c]) <= lp_max_orders]
    large = [c for c in range(len(comps)) if len(comps[c]) > lp_max_orders]
    masters = {c: listed_columns(tb, comps[c], res_row, none_row) for c in small}
    seen = {c: set(masters[c].keys()) for c in small}
    duals: dict[int, np.ndarray] = {}

    def remaining() -> float:
        # a master LP may take what is left of the time (at least GLOP's minimum)
        return max(0.1, time_budget_s - (time.perf_counter() - t0))

    nodes = 0

    def spent() -> bool:
        return nodes >= node_budget or time.perf_counter() - t0 > 4 * time_budget_s

    def prices() -> tuple[np.ndarray, np.ndarray]:
        # the small components' masters solved: their prices (the largest where two price
        # one row)
        row_price, store_price = np.zeros(n_rows + 1), np.zeros(n_st)
        for c in small:
            sol = solve_master(masters[c], len(comps[c]), stock_fx, cap_fx, remaining())
            if sol.status != "OPTIMAL":
                duals.pop(c, None)  # (its columns stay as they are; the bound stays valid)
                continue
            duals[c] = sol.order_dual
            np.maximum.at(row_price, sol.rows, sol.row_price)
            np.maximum.at(store_price, sol.stores, sol.store_price)
        return row_price, store_price

    fin = np.isfinite(cap_lk)

    def evaluate(row_price: np.ndarray, store_price: np.ndarray):
        # the Lagrangian bound at these prices: (its value, the chunks searched, whether
        # every order that needed a search got one, whether those in components finished)
        rp, sp = row_price[:n_rows].copy(), store_price
        nonlocal nodes
        touched = np.zeros(len(free_all), bool)
        touched[best_r_of[row_price[best_cols.r_row] > 0]] = True
        touched[best_s_of[sp[best_cols.s_store] > 0]] = True
        settled = known & ~touched
        # the others, most promising first (what pricing adds to their best option, and how
        # far their best listed may be above their cheapest; the small components' orders
        # before the rest: their columns drive the masters), searched in chunks while the
        # budget lasts; an order left unsearched counts its floor (its cheapest unpriced
        # option), which is still a bound
        pos = np.flatnonzero(fin_proven & ~settled)
        gain = (np.bincount(best_r_of, weights=row_price[best_cols.r_row] * best_cols.r_qty, minlength=len(free_all))
                + np.bincount(best_s_of, weights=sp[best_cols.s_store], minlength=len(free_all)) + listed_gap)[pos]
        who_all = free_all[pos[np.lexsort((-gain, ~in_small[free_all[pos]]))]]
        term_all = floor[who_all].astype(np.float64).copy()
        found: list[_Chunk] = []
        at, size = 0, FIRST_CHUNK
        while at < len(who_all) and not spent():
            who = who_all[at:at + size]
            got = _priced_search(full, orders, who, rp, sp, threads, node_limit, c_unf, floor, keys, n_codes,
                                 none_row, current, move_penalty)
            term_all[at:at + len(who)] = got.term
            nodes += got.nodes
            found.append(got)
            at += len(who)
            # the next chunk: what the budget has left at the nodes an order took so far
            per_order = max(1.0, nodes / max(1, at))
            size = int(min(SEARCH_CHUNK, max(FIRST_CHUNK, (node_budget - nodes) / per_order)))
        complete = at >= len(who_all)
        exact = (complete and all(bool(g.exact[in_comp[g.who]].all()) for g in found)
                 and bool(fin_proven[in_comp[free_all]].all()))
        value = (locked_cost + float(tb.cost[best[free_all[settled]]].sum())
                 + float(floor[free_all[~fin_proven]].sum()) + float(term_all.sum())
                 - float(rp @ stock_lk[:n_rows]) - float(sp[fin] @ cap_lk[fin]))
        return value, found, complete, exact

    comp_of = np.full(tb.n, -1, _I64)
    local_of = np.full(tb.n, -1, _I64)
    for c, comp in enumerate(comps):
        comp_of[np.asarray(comp, _I64)] = c
        local_of[np.asarray(comp, _I64)] = np.arange(len(comp))
    best_value, converged, added, done = -math.inf, False, 0, 0
    all_exact = True
    # Wentges smoothing: the search prices a point between the best prices so far (the
    # centre; at first none) and the master's duals, which alone swing from round to round
    centre_r, centre_s = np.zeros(n_rows + 1), np.zeros(n_st)
    alpha = SMOOTHING
    lp_r, lp_s = prices()
    for rnd in range(rounds + 1):
        done = rnd + 1
        a = alpha if rnd else 0.0  # (no centre yet in the first round: the duals themselves)
        row_price = a * centre_r + (1 - a) * lp_r
        store_price = a * centre_s + (1 - a) * lp_s
        value, found, complete, all_exact = evaluate(row_price, store_price)
        if value > best_value:
            best_value, centre_r, centre_s = value, row_price, store_price
        if rnd == rounds or not small or spent() or not found:
            break
        # the columns found, with their reduced costs at the master's duals
        cols = found[0].cols
        for g_ in found[1:]:
            cols = cols.extend(g_.cols)
        g = np.concatenate([g_.col_order for g_ in found])  # per column its order
        ok = np.concatenate([g_.col_exact for g_ in found])  # per column: its search finished
        at_lp = cols.priced(lp_r, lp_s)
        any_new = False
        for c in small:
            if c not in duals:
                continue
            sel = np.flatnonzero(ok & (comp_of[g] == c))
            pi = duals[c][local_of[g[sel]]]
            sel = sel[at_lp[sel] < pi - (TOL_ABS + TOL_REL * np.abs(pi))]
            if not len(sel):
                continue
            new = _take(cols, sel, local_of[g[sel]])
            fresh = np.array([j for j, key in enumerate(new.keys()) if key not in seen[c]], _I64)
            if not len(fresh):
                continue
            new = _take(new, fresh, new.order[fresh])
            seen[c].update(new.keys())
            masters[c] = masters[c].extend(new)
            added += new.n
            any_new = True
        if not any_new:
            if not complete:
                break  # (out of budget: the rest of the round was not searched)
            if a == 0.0:
                converged = True
                break
            alpha = 0.0  # (a smoothed point found nothing: the duals themselves next)
            continue
        lp_r, lp_s = prices()
    return ColumnBound(best_value, converged and all_exact and not large and len(duals) == len(small), done, added,
                       time.perf_counter() - t0)


@dataclass
class _Chunk:
    """One chunk of a round's priced search."""

    who: np.ndarray  # its orders
    term: np.ndarray  # per order: its priced minimum where its search finished, else its floor
    exact: np.ndarray  # per order: its search finished
    cols: Columns  # per option found: its column,
    col_order: np.ndarray  # its order,
    col_exact: np.ndarray  # and whether that order's search finished
    nodes: int  # the search nodes it took


def _priced_search(full, orders: list, who: np.ndarray, rp: np.ndarray, sp: np.ndarray, threads: int,
                   node_limit: int, c_unf: float, floor: np.ndarray, keys: np.ndarray, n_codes: int, none_row: int,
                   current: np.ndarray, move_penalty: float) -> _Chunk:
    """One chunk of a round's priced search (``_Chunk``): an order's term is its priced
    minimum where the search finished (the option filling nothing, n_lines * c_unf, is
    always there), never below its floor."""
    bulk = full.options_bulk([orders[int(i)] for i in who], k=1, all_subsets=True, threads=threads,
                             node_limit=node_limit, prices=(rp, sp))
    flat = bulk.flat(1)
    fo = flat["order"].astype(_I64)
    n_lines, line_ptr, line_code, line_qty = bulk_lines(bulk, len(who))
    exact = bulk.searched & bulk.proven
    term = np.where(exact, n_lines * float(c_unf), -np.inf)
    ok = exact[fo]
    np.minimum.at(term, fo[ok], flat["cost"][ok])
    term = np.maximum(term, floor[who])
    cols = priced_columns(flat, who, line_ptr, line_code, line_qty, keys, n_codes, none_row, rp, sp, current,
                          move_penalty)
    return _Chunk(who, term, exact, cols, who[fo], ok, bulk.nodes)


def bulk_lines(bulk, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A bulk search's merged lines (``Router.options_bulk``) per order of it, as
    ``priced_columns`` takes them: per order its count (0 where it was not searched), and
    as a CSR their pointers, codes and quantities."""
    n_lines = np.array([len(bulk.codes(j)) if bulk.searched[j] else 0 for j in range(n)], _I64)
    line_ptr = np.zeros(n + 1, _I64)
    np.cumsum(n_lines, out=line_ptr[1:])
    srch = np.flatnonzero(bulk.searched)
    line_code = np.concatenate([bulk.codes(int(j)) for j in srch]).astype(_I64) if len(srch) else np.zeros(0, _I64)
    line_qty = np.concatenate([bulk.qty(int(j)) for j in srch]).astype(_I64) if len(srch) else np.zeros(0, _I64)
    return n_lines, line_ptr, line_code, line_qty


def option_floor(codes: list, qty: list, indptr: np.ndarray, sku: np.ndarray, avail: np.ndarray, max_stores: int,
                 c_unf: float, c_pkg: float) -> np.ndarray:
    """Per order (its merged lines' codes and quantities), a cost no option of it can beat,
    whatever its search found: a line no store can fill whole is unfilled in every option;
    an option has at most ``max_stores`` stores (packages and transfers), so it leaves at
    least the lines its best ``max_stores`` stores together could not cover unfilled (at most
    the sum of the lines each fills); and an option with a package pays ``c_pkg`` for it
    (one with none leaves every line unfilled). For the orders whose exact search could not
    finish (too many lines, or its node budget), where nothing else is known."""
    st_of_row = np.repeat(np.arange(len(indptr) - 1, dtype=_I64), np.diff(indptr))
    by = np.argsort(sku, kind="stable")
    sku_s = np.asarray(sku, _I64)[by]
    out = np.zeros(len(codes))
    for i, (c, q) in enumerate(zip(codes, qty)):
        c = np.asarray(c, _I64)
        q = np.asarray(q, _I64)
        lo, hi = np.searchsorted(sku_s, c, "left"), np.searchsorted(sku_s, c, "right")
        cnt = hi - lo
        pos = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
        rows = by[pos]
        line = np.repeat(np.arange(len(c)), cnt)
        ok = np.asarray(avail, _I64)[rows] >= q[line]
        fillable = np.zeros(len(c), bool)
        fillable[line[ok]] = True
        per_store = np.bincount(st_of_row[rows[ok]]) if ok.any() else np.zeros(0, _I64)
        cover = int(np.sort(per_store)[::-1][:max_stores].sum())
        n_fill = int(fillable.sum())
        surely = (len(c) - n_fill) + max(0, n_fill - cover)
        out[i] = c_unf * surely + min(c_unf * (len(c) - surely), c_pkg)
    return out


def _take(cols: Columns, sel: np.ndarray, order: np.ndarray) -> Columns:
    # the columns sel, renumbered to the orders given
    rsl = csr_take(cols.r_ptr, sel)
    ssl = csr_take(cols.s_ptr, sel)
    r_ptr = np.zeros(len(sel) + 1, _I64)
    np.cumsum(np.diff(cols.r_ptr)[sel], out=r_ptr[1:])
    s_ptr = np.zeros(len(sel) + 1, _I64)
    np.cumsum(np.diff(cols.s_ptr)[sel], out=s_ptr[1:])
    return Columns(np.asarray(order, _I64), cols.cost[sel], r_ptr, cols.r_row[rsl], cols.r_qty[rsl], s_ptr,
                   cols.s_store[ssl])


__all__ = ["ColumnBound", "Columns", "MasterSolution", "bulk_lines", "column_bound", "listed_columns", "option_columns",
           "option_floor", "priced_columns", "solve_master"]
