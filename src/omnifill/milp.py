"""The planner's 0-1 program for a set of orders, built from arrays, and its OR-Tools solvers.

``linear_model(table, ...)`` turns an ``OptionTable`` (choices.py) into one sparse program:

- a column per option (``x``, its cost); with ``flex``, for every line of an option that
  could come from a short (store, SKU), a column per store of the option holding the line
  (``y``, cost 0) and one for "unfilled" (cost ``unfilled_per_line``);
- per order, its options sum to 1 (and, for the bound, an "any other option" column at a
  cost no unlisted option undercuts);
- per flexible line, its sources (or unfilled) sum to its option;
- per package and transfer whose stores fill no line of their own for sure, the lines its
  stores supply cover it (at least the option);
- per (store, SKU) and per store where the options could ask more than there is, the stock
  and the capacity.

The same arrays go to every solver through OR-Tools' model builder
(``fill_model_from_sparse_data``: one call, no Python object per row or column): CP-SAT
(``sat``), HiGHS (``highs``) and, with the columns continuous, GLOP (``glop``) for the LP
bound. Costs are given to the solvers in thousandths (integers, for CP-SAT); plans are
costed again from the table, and bounds lose the rounding (half a thousandth per column that
can be 1 and has a cost).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from .choices import OptionTable
from .csr import csr_take

COST_SCALE = 1000
# CP-SAT's limit is its deterministic time, so that one worker and a seed give the same plan
# on every run; a time limit in seconds is this many deterministic units per second. How long
# a unit takes on the clock depends on the model: 1.2 s to 8 s on the CI machine (most for
# the small, LP-heavy blocks of a large component). On the 100,000-order scale benchmark with
# a 60 s limit: at 1.0, 115 s of solving and 6.3% cheaper than greedy; at 0.5, 102 s and
# 5.6%; at 0.25, 67 s and 0.7% (blocks need a minimum of search to improve at all)
DET_PER_SECOND = 0.5
_I64 = np.int64


@dataclass
class LinearModel:
    """minimise ``cost . v`` subject to ``lo <= A v <= hi``, v in {0, 1} (or [0, 1]).
    Columns 0..n_x-1 are the table's option rows; ``y_hold`` per y column the holder it
    takes the line from (-1: unfilled); ``free``: per slot, whether its source is free."""

    cost: np.ndarray
    A: csr_matrix
    lo: np.ndarray
    hi: np.ndarray
    n_x: int
    y_slot: np.ndarray
    y_hold: np.ndarray
    free: np.ndarray
    n_costed: int  # columns with a cost that can be 1 together: orders + free slots

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    def decode(self, t: OptionTable, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(option row per order, source holder per slot: -1 unfilled, -2 option not taken)."""
        x = np.asarray(values[:self.n_x], np.float64)
        srt = np.lexsort((-x, t.opt_order()))
        pick = srt[t.opt_ptr[:-1]]
        srcs = np.full(len(t.l_line), -2, _I64)
        sl = csr_take(t.l_ptr, pick)
        srcs[sl] = np.where(self.free[sl], -1, t.l_own_holder[sl])
        yv = np.asarray(values[self.n_x:self.n_x + len(self.y_slot)]) > 0.5
        took = yv & (self.y_hold >= 0)
        taken_slot = self.y_slot[took]
        on = srcs[taken_slot] != -2
        srcs[taken_slot[on]] = self.y_hold[took][on]
        return pick.astype(_I64), srcs

    def hint_columns(self, t: OptionTable, pick: np.ndarray, srcs: np.ndarray) -> np.ndarray:
        """The columns that are 1 in a plan (its options, and its free lines' sources)."""
        cols = [np.asarray(pick, _I64)]
        ys = np.flatnonzero(srcs[self.y_slot] != -2)  # y columns of taken options' free slots
        want = srcs[self.y_slot[ys]]
        cols.append(self.n_x + ys[self.y_hold[ys] == want])
        return np.concatenate(cols)


def linear_model(t: OptionTable, avail: np.ndarray, cap: np.ndarray, hot: np.ndarray, flex: bool, c_unf: float,
                 other: bool = False) -> LinearModel:
    """The program of every order of ``t``: ``avail`` per resource, ``cap`` per store (the
    network's numbering), ``hot`` per resource (where sources are free, with ``flex``);
    ``other``: the "any other option" columns (for the bound over all options)."""
    m = len(t.cost)
    S = len(t.l_line)
    n_st = len(cap)
    so = t.slot_opt()
    hcount = np.diff(t.h_ptr)
    hslot = np.repeat(np.arange(S, dtype=_I64), hcount)
    if flex and S:
        free = np.bincount(hslot, weights=hot[t.h_res], minlength=S) > 0
    else:
        free = np.zeros(S, bool)
    hsel = np.flatnonzero(free[hslot])
    fs = np.flatnonzero(free)
    ny, nu = len(hsel), len(fs)
    y0, u0 = m, m + ny
    rows, cols, vals, lo, hi = [], [], [], [], []
    nrow = 0

    def add(r, c, v):
        rows.append(np.asarray(r, _I64))
        cols.append(np.asarray(c, _I64))
        vals.append(np.broadcast_to(np.asarray(v, np.float64), np.shape(r)))

    # per order: its options (and "any other") sum to 1
    order = t.opt_order()
    add(order, np.arange(m), 1.0)
    n_ord = t.n
    lo.append(np.ones(n_ord))
    hi.append(np.ones(n_ord))
    o_cols = np.zeros(0, _I64)
    o_cost = np.zeros(0)
    if other:
        fin = np.flatnonzero(np.isfinite(t.other))
        o_cols = u0 + nu + np.arange(len(fin))
        o_cost = t.other[fin]
        add(fin, o_cols, 1.0)
    nrow += n_ord
    # per free slot: its sources and "unfilled" sum to its option
    slot_row = np.full(S, -1, _I64)
    slot_row[fs] = nrow + np.arange(nu)
    add(slot_row[hslot[hsel]], y0 + np.arange(ny), 1.0)
    add(slot_row[fs], u0 + np.arange(nu), 1.0)
    add(slot_row[fs], so[fs], -1.0)
    lo.append(np.zeros(nu))
    hi.append(np.zeros(nu))
    nrow += nu
    # groups whose stores fill no line for sure: their stores' sources cover the option
    G = len(t.group_store_ptr) - 1
    if flex and G and nu:
        nf = np.flatnonzero(~free)
        fixed_keys = np.unique(so[nf] * n_st + t.h_store[t.l_own_holder[nf]])
        g_opt = np.repeat(np.arange(m, dtype=_I64), np.diff(t.g_ptr))
        ge_group = np.repeat(np.arange(G, dtype=_I64), np.diff(t.group_store_ptr))
        ge_key = g_opt[ge_group] * n_st + t.group_store
        kept = np.bincount(ge_group, weights=np.isin(ge_key, fixed_keys), minlength=G) > 0
        todo = np.flatnonzero(~kept)
        if len(todo):
            g_row = np.full(G, -1, _I64)
            g_row[todo] = nrow + np.arange(len(todo))
            yk = so[hslot[hsel]] * n_st + t.h_store[hsel]
            y_ord = np.argsort(yk, kind="stable")
            yk_s = yk[y_ord]
            ent = np.flatnonzero(~kept[ge_group])
            a = np.searchsorted(yk_s, ge_key[ent], "left")
            b = np.searchsorted(yk_s, ge_key[ent], "right")
            cnt = b - a
            tot = int(cnt.sum())
            if tot:
                pos = np.repeat(a - np.cumsum(cnt) + cnt, cnt) + np.arange(tot)
                add(np.repeat(g_row[ge_group[ent]], cnt), y0 + y_ord[pos], 1.0)
            add(g_row[todo], g_opt[todo], -1.0)
            lo.append(np.zeros(len(todo)))
            hi.append(np.full(len(todo), np.inf))
            nrow += len(todo)
    # stock: per resource that could run short here
    nf = np.flatnonzero(~free)
    own_res = t.h_res[t.l_own_holder[nf]]
    fx = nf[hot[own_res]] if len(nf) else nf
    r_res = np.concatenate([t.h_res[hsel], t.h_res[t.l_own_holder[fx]]])
    r_qty = np.concatenate([t.l_qty[hslot[hsel]], t.l_qty[fx]]).astype(np.float64)
    r_col = np.concatenate([y0 + np.arange(ny), so[fx]])
    # a row where the orders together could ask more than there is (each order once: its
    # line's quantity, however many of its options hold the resource), so that a resource
    # or store short nowhere in the component never gets a row, whatever the others use
    r_ord = order[np.concatenate([so[hslot[hsel]], so[fx]])]
    _, once = np.unique(r_ord * max(1, t.n_res) + r_res, return_index=True)
    want = np.bincount(r_res[once], weights=r_qty[once], minlength=t.n_res)
    a_ = np.maximum(0, np.asarray(avail, np.float64))
    short = np.flatnonzero(want > a_)
    if len(short):
        res_row = np.full(t.n_res, -1, _I64)
        res_row[short] = nrow + np.arange(len(short))
        on = res_row[r_res] >= 0
        add(res_row[r_res[on]], r_col[on], r_qty[on])
        lo.append(np.full(len(short), -np.inf))
        hi.append(a_[short])
        nrow += len(short)
    # capacity: per store the options could ask more of than it has
    c_opt = np.repeat(np.arange(m, dtype=_I64), np.diff(t.c_ptr))
    cdem = np.bincount(np.unique(order[c_opt] * n_st + t.c_store) % n_st, minlength=n_st)
    capf = np.asarray(cap, np.float64)
    tight = np.flatnonzero((cdem > capf) & np.isfinite(capf))
    if len(tight):
        st_row = np.full(n_st, -1, _I64)
        st_row[tight] = nrow + np.arange(len(tight))
        on = st_row[t.c_store] >= 0
        add(st_row[t.c_store[on]], c_opt[on], 1.0)
        lo.append(np.full(len(tight), -np.inf))
        hi.append(np.floor(np.maximum(0, capf[tight])))
        nrow += len(tight)
    ncol = u0 + nu + len(o_cols)
    A = csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nrow, ncol))
    cost = np.concatenate([t.cost, np.zeros(ny), np.full(nu, float(c_unf)), o_cost])
    y_slot = np.concatenate([hslot[hsel], fs])
    y_hold = np.concatenate([hsel, np.full(nu, -1, _I64)])
    return LinearModel(cost, A, np.concatenate(lo), np.concatenate(hi), m, y_slot, y_hold, free, n_ord + nu)


def solve(lm: LinearModel, how: str, time_limit: float, *, seed: int = 0, workers: int = 1, hint=None,
          presolve: bool = True):
    """Solve ``lm`` with ``how``: "sat", CP-SAT, ``DET_PER_SECOND * time_limit`` of
    deterministic time, with a wall-clock cap of six times the limit plus two seconds that
    only a loaded machine reaches (a unit of deterministic time took up to 8 s here, and a
    cap of twice the limit made the same seed give another plan when two solves shared the
    cores); "highs", HiGHS, wall time; "glop", GLOP on the
    LP relaxation. ``presolve`` False: CP-SAT searches from the hint at once (for small
    budgets, where presolve cost more than it gave). Returns (column values or None, status
    name, bound on the objective, -inf when none)."""
    from ortools.linear_solver.python import model_builder_helper as mbh

    n = lm.n_cols
    if n == 0:
        return np.zeros(0), "OPTIMAL", 0.0
    h = mbh.ModelBuilderHelper()
    # CP-SAT needs integers: costs in thousandths; HiGHS and GLOP take them as they are
    scale = COST_SCALE if how == "sat" else 1.0
    obj = np.round(lm.cost * COST_SCALE) / COST_SCALE * scale
    # (OR-Tools' stubs spell the array type ndarray[float64, ...], which no array matches)
    h.fill_model_from_sparse_data(np.zeros(n), np.ones(n), obj, lm.lo.astype(np.float64),  # type: ignore[arg-type]
                                  lm.hi.astype(np.float64), lm.A)  # type: ignore[arg-type]
    if how != "glop":
        for v in range(n):
            h.set_var_integrality(v, True)
    s = mbh.ModelSolverHelper({"sat": "sat", "highs": "highs", "glop": "glop"}[how])
    if how == "sat":
        if hint is not None:
            # a complete hint (every column; CP-SAT checks it and starts from it)
            x = np.zeros(n)
            x[np.asarray(hint, _I64)] = 1.0
            for c, val in enumerate(x.tolist()):
                h.add_hint(c, val)
        s.set_solver_specific_parameters(
            f"random_seed:{int(seed)} num_workers:{int(max(1, workers))} "
            f"max_deterministic_time:{max(0.02, DET_PER_SECOND * time_limit):.6g} "
            f"max_time_in_seconds:{6 * max(0.05, time_limit) + 2:.6g}"
            + ("" if presolve else " cp_model_presolve:false"))
    elif how == "highs":
        # (no hint: OR-Tools 9.15's HiGHS interface crashes on one). mip_rel_gap 0: HiGHS's
        # default 1e-4 calls a plan "optimal" within 20 of the optimum when an unfilled line
        # costs 100,000, and reports a bound above the optimum; the planner takes OPTIMAL as
        # a proof (it ends the component's stages) and the bound as a bound
        s.set_solver_specific_parameters("output_flag=false\nmip_rel_gap=0")
        s.set_time_limit_in_seconds(max(0.1, float(time_limit)))
    else:
        if math.isfinite(time_limit):
            s.set_time_limit_in_seconds(max(0.1, float(time_limit)))
    s.solve(h)
    st = s.status().name
    slack = 0.0005 * lm.n_costed
    if how == "glop":
        if st != "OPTIMAL":
            return None, st, -math.inf
        return s.variable_values(), st, s.objective_value() / scale - slack
    if not s.has_solution():
        return None, st if st != "NOT_SOLVED" else "UNKNOWN", -math.inf
    bound = s.best_objective_bound() / scale - slack
    return s.variable_values(), st, bound if math.isfinite(bound) else -math.inf


__all__ = ["COST_SCALE", "LinearModel", "linear_model", "solve"]

